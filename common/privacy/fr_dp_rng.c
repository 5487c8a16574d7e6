/* Cryptographically secure randomness for DP (see fr_dp_rng.h). */
#include "privacy/fr_dp_rng.h"
#include "util/fr_chacha.h"

#include <math.h>
#include <sodium.h>
#include <string.h>

fr_status fr_dp_rng_init(fr_dp_rng *r, const void *seed, size_t seed_len, fr_err *err)
{
    memset(r, 0, sizeof *r);
    if (sodium_init() < 0)
        return fr_fail(err, FR_EINVAL, "dp: the cryptographic library failed to initialise");
    if (seed)
        crypto_generichash(r->key, sizeof r->key, seed, seed_len, NULL, 0);
    else
        randombytes_buf(r->key, sizeof r->key);
    r->pos = sizeof r->buf; /* empty: the first draw refills */
    return FR_OK;
}

void fr_dp_rng_free(fr_dp_rng *r)
{
    sodium_memzero(r, sizeof *r);
}

static void refill(fr_dp_rng *r)
{
    unsigned char nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {0};
    uint64_t n = r->refills++;
    memcpy(nonce, &n, sizeof n);
    crypto_stream_chacha20_ietf(r->buf, sizeof r->buf, nonce, r->key);
    r->pos = 0;
}

uint64_t fr_dp_rng_u64(fr_dp_rng *r)
{
    if (r->pos + 8 > sizeof r->buf)
        refill(r);
    uint64_t x;
    memcpy(&x, r->buf + r->pos, 8);
    r->pos += 8;
    return x;
}

double fr_dp_rng_uniform(fr_dp_rng *r)
{
    return (double)(fr_dp_rng_u64(r) >> 11) * 0x1.0p-53;
}

double fr_dp_rng_normal(fr_dp_rng *r)
{
    if (r->have_spare) {
        r->have_spare = 0;
        return r->spare;
    }
    double u1 = 1.0 - fr_dp_rng_uniform(r); /* (0, 1]: the logarithm stays finite */
    double u2 = fr_dp_rng_uniform(r);
    double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
    r->spare = rad * sin(th);
    r->have_spare = 1;
    return rad * cos(th);
}

void fr_dp_rng_normals(fr_dp_rng *r, float *out, size_t n, double stddev)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (float)(stddev * fr_dp_rng_normal(r));
}

/* Nonces with the top bit set are the streams of fr_dp_rng_normals_at; refill() counts
 * up from 0 and never reaches them. */
#define STREAM_BIT (UINT64_C(1) << 63)

uint64_t fr_dp_rng_stream_nonce(uint64_t stream)
{
    return stream | STREAM_BIT;
}

void fr_dp_rng_normals_at(const fr_dp_rng *r, uint64_t stream, float *out, size_t n, double stddev)
{
    unsigned char nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {0};
    uint64_t id = fr_dp_rng_stream_nonce(stream);
    memcpy(nonce, &id, sizeof id);
    uint64_t buf[256];
    size_t have = 0, pos = 0;
    uint32_t block = 0;
    for (size_t i = 0; i < n;) {
        if (pos + 2 > have) {
            memset(buf, 0, sizeof buf);
            crypto_stream_chacha20_ietf_xor_ic((unsigned char *)buf, (unsigned char *)buf,
                                               sizeof buf, nonce, block, r->key);
            block += sizeof buf / 64;
            have = sizeof buf / sizeof buf[0];
            pos = 0;
        }
        /* Marsaglia's polar method (util/fr_chacha.h, the device's copy of it): a point
         * uniform in the square, kept when it falls inside the unit disc (pi/4 of the
         * time), gives two independent normals with no sine or cosine to compute. */
        float z0, z1;
        int kept = fr_polar_pair(buf[pos], buf[pos + 1], stddev, &z0, &z1);
        pos += 2;
        if (!kept)
            continue;
        out[i++] = z0;
        if (i < n)
            out[i++] = z1;
    }
    sodium_memzero(buf, sizeof buf);
}
