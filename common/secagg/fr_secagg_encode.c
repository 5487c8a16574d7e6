/* Fixed-point encoding of update vectors for secure aggregation (fr_secagg.h). Masks
 * live in Z/2^32, so a float vector becomes int32 values whose sum over every node
 * cannot wrap: the scale is chosen from the node count and the clip bound. Stochastic
 * rounding keeps each coordinate unbiased, so the quantisation error of a sum averages
 * out instead of drifting one way. */
#include "secagg/fr_secagg.h"

#include <math.h>
#include <sodium.h>
#include <string.h>

#define INT32_TOP 2147483647.0 /* 2^31 - 1 */

fr_status fr_secagg_encode_scale(int n, double clip, double *scale, fr_err *err)
{
    if (n < 1 || n > FR_SECAGG_MAX_NODES)
        return fr_fail(err, FR_EINVAL, "secagg encoding: n = %d nodes, must be 1..%d", n,
                       FR_SECAGG_MAX_NODES);
    if (!isfinite(clip) || clip <= 0)
        return fr_fail(err, FR_EINVAL, "secagg encoding: clip bound %g, must be finite and > 0",
                       clip);
    /* A power of two: scaling and unscaling are exact in binary floating point. Each
     * node's value is at most clip * S + 1 in magnitude (rounding up may add one). */
    for (int e = 30; e >= -60; e--) {
        double s = ldexp(1.0, e);
        if ((double)n * (clip * s + 1.0) <= INT32_TOP) {
            *scale = s;
            return FR_OK;
        }
    }
    return fr_fail(err, FR_EINVAL, "secagg encoding: clip bound %g is too large for %d nodes", clip,
                   n);
}

fr_status fr_secagg_encode(const float *v, size_t m, double clip, double scale, uint32_t *out,
                           int *clipped, fr_err *err)
{
    if (!isfinite(clip) || clip <= 0 || !isfinite(scale) || scale <= 0 ||
        clip * scale + 1.0 > INT32_TOP)
        return fr_fail(err, FR_EINVAL, "secagg encoding: clip %g at scale %g does not fit an int32",
                       clip, scale);
    double sq = 0;
    for (size_t i = 0; i < m; i++) {
        if (!isfinite(v[i]))
            return fr_fail(err, FR_EINVAL, "secagg encoding: coordinate %zu is %g", i,
                           (double)v[i]);
        sq += (double)v[i] * v[i];
    }
    double norm = sqrt(sq), factor = norm > clip ? clip / norm : 1.0;
    if (clipped)
        *clipped = norm > clip;
    /* The rounding coins: a ChaCha20 stream under a key from the operating system. They
     * are not secret after the round, but a predictable coin would let an observer of
     * the sum learn which way a node's values were rounded. */
    uint8_t key[crypto_stream_chacha20_ietf_KEYBYTES];
    uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {0};
    randombytes_buf(key, sizeof key);
    uint8_t coins[4096];
    uint32_t block = 0;
    size_t have = 0, pos = 0;
    for (size_t i = 0; i < m; i++) {
        if (pos == have) {
            memset(coins, 0, sizeof coins);
            crypto_stream_chacha20_ietf_xor_ic(coins, coins, sizeof coins, nonce, block, key);
            block += sizeof coins / 64;
            have = sizeof coins;
            pos = 0;
        }
        const uint8_t *c = coins + pos;
        pos += 4;
        uint32_t r =
            (uint32_t)c[0] | (uint32_t)c[1] << 8 | (uint32_t)c[2] << 16 | (uint32_t)c[3] << 24;
        double a = (double)v[i] * factor;
        a = a > clip ? clip : a < -clip ? -clip : a; /* the norm bounds it; rounding may not */
        double q = floor(a * scale + (double)r * 0x1.0p-32);
        out[i] = (uint32_t)(int64_t)q; /* two's complement: mod 2^32 */
    }
    sodium_memzero(key, sizeof key);
    sodium_memzero(coins, sizeof coins);
    return FR_OK;
}

void fr_secagg_decode(const uint32_t *sum, size_t m, double scale, float *out)
{
    for (size_t i = 0; i < m; i++) {
        int64_t s = sum[i] <= 0x7fffffffu ? (int64_t)sum[i] : (int64_t)sum[i] - 4294967296LL;
        out[i] = (float)((double)s / scale);
    }
}
