/* Shamir secret sharing of 32-byte secrets over GF(2^8), byte by byte (fr_secagg.h).
 * The field is small enough that a node id is an x coordinate, and a share is no larger
 * than the secret. Secret bytes only meet branch-free arithmetic: no table lookups and
 * no branches indexed by them, so timing does not depend on a key or seed. */
#include "secagg/fr_secagg.h"

#include <sodium.h>
#include <string.h>

/* a * b in GF(2^8) mod x^8 + x^4 + x^3 + x + 1, eight fixed steps. */
static uint8_t gf_mul(uint8_t a, uint8_t b)
{
    uint8_t r = 0;
    for (int i = 0; i < 8; i++) {
        r ^= (uint8_t)(-(b & 1) & a);
        b >>= 1;
        a = (uint8_t)((a << 1) ^ (-(a >> 7) & 0x1b));
    }
    return r;
}

/* a^254 = a^-1 for a != 0 (the multiplicative group has order 255). */
static uint8_t gf_inv(uint8_t a)
{
    uint8_t r = 1, p = a;
    for (int e = 254; e; e >>= 1) {
        if (e & 1)
            r = gf_mul(r, p);
        p = gf_mul(p, p);
    }
    return r;
}

static fr_status check_xs(const uint8_t *xs, int k, fr_err *err)
{
    uint8_t seen[256] = {0};
    for (int j = 0; j < k; j++) {
        if (xs[j] == 0)
            return fr_fail(err, FR_EINVAL, "secagg: share %d has x = 0, which is the secret", j);
        if (seen[xs[j]]++)
            return fr_fail(err, FR_EINVAL, "secagg: two shares have x = %d", xs[j]);
    }
    return FR_OK;
}

fr_status fr_secagg_shamir_split(const uint8_t secret[FR_SECAGG_SECRET_BYTES], int t,
                                 const uint8_t *xs, int k, uint8_t *shares, fr_err *err)
{
    if (k < 1 || k > FR_SECAGG_MAX_NODES || t < 1 || t > k)
        return fr_fail(err, FR_EINVAL, "secagg: a %d-of-%d sharing (need 1 <= t <= k <= %d)", t, k,
                       FR_SECAGG_MAX_NODES);
    fr_status st = check_xs(xs, k, err);
    if (st != FR_OK)
        return st;
    /* coef[d * 32 + i]: coefficient of x^d of byte i's polynomial; coef 0 is the secret */
    size_t bytes = (size_t)t * FR_SECAGG_SECRET_BYTES;
    uint8_t *coef = sodium_malloc(bytes);
    if (!coef)
        return fr_fail(err, FR_ENOMEM, "secagg: out of memory for a sharing");
    memcpy(coef, secret, FR_SECAGG_SECRET_BYTES);
    if (t > 1)
        randombytes_buf(coef + FR_SECAGG_SECRET_BYTES, bytes - FR_SECAGG_SECRET_BYTES);
    for (int j = 0; j < k; j++) {
        uint8_t *y = shares + (size_t)j * FR_SECAGG_SECRET_BYTES;
        for (int i = 0; i < FR_SECAGG_SECRET_BYTES; i++) { /* Horner from the top */
            uint8_t acc = 0;
            for (int d = t - 1; d >= 0; d--)
                acc = (uint8_t)(gf_mul(acc, xs[j]) ^ coef[(size_t)d * FR_SECAGG_SECRET_BYTES + i]);
            y[i] = acc;
        }
    }
    sodium_memzero(coef, bytes);
    sodium_free(coef);
    return FR_OK;
}

fr_status fr_secagg_shamir_combine(const uint8_t *xs, const uint8_t *const *shares, int k,
                                   uint8_t out[FR_SECAGG_SECRET_BYTES], fr_err *err)
{
    if (k < 1 || k > FR_SECAGG_MAX_NODES)
        return fr_fail(err, FR_EINVAL, "secagg: %d shares to combine (1..%d)", k,
                       FR_SECAGG_MAX_NODES);
    fr_status st = check_xs(xs, k, err);
    if (st != FR_OK)
        return st;
    uint8_t acc[FR_SECAGG_SECRET_BYTES] = {0};
    for (int j = 0; j < k; j++) {
        /* Lagrange basis at 0: prod over m != j of x_m / (x_m - x_j); minus is xor. The
         * xs are public, so this part need not be constant-time. */
        uint8_t num = 1, den = 1;
        for (int q = 0; q < k; q++)
            if (q != j) {
                num = gf_mul(num, xs[q]);
                den = gf_mul(den, (uint8_t)(xs[q] ^ xs[j]));
            }
        uint8_t l = gf_mul(num, gf_inv(den));
        for (int i = 0; i < FR_SECAGG_SECRET_BYTES; i++)
            acc[i] ^= gf_mul(l, shares[j][i]);
    }
    memcpy(out, acc, sizeof acc);
    sodium_memzero(acc, sizeof acc);
    return FR_OK;
}
