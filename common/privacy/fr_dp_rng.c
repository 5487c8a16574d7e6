/* Cryptographically secure randomness for DP (see fr_dp_rng.h). */
#include "privacy/fr_dp_rng.h"
#include "util/fr_chacha.h"

#ifdef __AVX512F__
#include <immintrin.h>
#endif
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

/* Blocks at a time: the keystream's blocks [counter, counter + FR_LANES) computed side
 * by side, word w of every block in one row, so that the compiler turns each quarter
 * round into vector operations; out gets them as the stream lays them out (block after
 * block, 16 little-endian words each). Same words as util/fr_chacha.h's block, which
 * tests/test_chacha.c holds to libsodium. */
#define FR_LANES 16

static void chacha_blocks(uint32_t out[FR_LANES * 16], const uint32_t key[8], uint32_t counter,
                          const uint32_t nonce[3])
{
    const uint32_t in[16] = {0x61707865u, 0x3320646eu, 0x79622d32u, 0x6b206574u, key[0], key[1],
                             key[2],      key[3],      key[4],      key[5],      key[6], key[7],
                             0,           nonce[0],    nonce[1],    nonce[2]};
    uint32_t x[16][FR_LANES], s[16][FR_LANES];
    for (int w = 0; w < 16; w++)
        for (int l = 0; l < FR_LANES; l++)
            s[w][l] = w == 12 ? counter + (uint32_t)l : in[w];
    memcpy(x, s, sizeof x);
#define QR(a, b, c, d)                                                                             \
    for (int l = 0; l < FR_LANES; l++) {                                                           \
        x[a][l] += x[b][l];                                                                        \
        x[d][l] = fr_chacha_rotl(x[d][l] ^ x[a][l], 16);                                           \
        x[c][l] += x[d][l];                                                                        \
        x[b][l] = fr_chacha_rotl(x[b][l] ^ x[c][l], 12);                                           \
        x[a][l] += x[b][l];                                                                        \
        x[d][l] = fr_chacha_rotl(x[d][l] ^ x[a][l], 8);                                            \
        x[c][l] += x[d][l];                                                                        \
        x[b][l] = fr_chacha_rotl(x[b][l] ^ x[c][l], 7);                                            \
    }
    for (int r = 0; r < 10; r++) {
        QR(0, 4, 8, 12)
        QR(1, 5, 9, 13)
        QR(2, 6, 10, 14)
        QR(3, 7, 11, 15)
        QR(0, 5, 10, 15)
        QR(1, 6, 11, 12)
        QR(2, 7, 8, 13)
        QR(3, 4, 9, 14)
    }
#undef QR
    for (int w = 0; w < 16; w++)
        for (int l = 0; l < FR_LANES; l++)
            out[l * 16 + w] = x[w][l] + s[w][l];
    sodium_memzero(x, sizeof x);
    sodium_memzero(s, sizeof s);
}

void fr_dp_rng_normals_at(const fr_dp_rng *r, uint64_t stream, float *out, size_t n, double stddev)
{
    uint64_t id = fr_dp_rng_stream_nonce(stream);
    uint32_t key[8], nonce[3] = {(uint32_t)id, (uint32_t)(id >> 32), 0};
    fr_chacha_key_words(key, r->key);
    enum { PAIRS = FR_LANES * 4 }; /* a block's 16 words are 4 pairs of 64-bit words */
    uint32_t words[FR_LANES * 16];
    double px[PAIRS], py[PAIRS], ps[PAIRS], x[PAIRS + 8], y[PAIRS + 8], s[PAIRS + 8], f[PAIRS];
    uint32_t block = 0;
    size_t i = 0;
    while (i < n) {
        chacha_blocks(words, key, block, nonce);
        block += FR_LANES;
        /* Marsaglia's polar method in util/fr_chacha.h's steps, the device's, so that
         * the values are the same bits: a point uniform in the
         * square, kept when it falls inside the unit disc (pi/4 of the time), gives two
         * independent normals with no sine or cosine. First every pair's point, kept
         * ones packed to the front without a branch, then the kept ones' factors. */
        for (int p = 0; p < PAIRS; p++) {
            uint64_t a = (uint64_t)words[4 * p] | (uint64_t)words[4 * p + 1] << 32;
            uint64_t b = (uint64_t)words[4 * p + 2] | (uint64_t)words[4 * p + 3] << 32;
            ps[p] = fr_polar_point(a, b, &px[p], &py[p]);
        }
        int k = 0;
#ifdef __AVX512F__
        /* fr_polar_kept eight at a time (s < 1 and s != 0: s is never NaN), compressed
         * in registers and stored whole: the next store overwrites the unkept tail (the
         * arrays have room for it) */
        for (int p = 0; p < PAIRS; p += 8) {
            __m512d vs = _mm512_loadu_pd(ps + p);
            __mmask8 kept = _mm512_cmp_pd_mask(vs, _mm512_set1_pd(1.0), _CMP_LT_OQ) &
                            _mm512_cmp_pd_mask(vs, _mm512_setzero_pd(), _CMP_NEQ_OQ);
            _mm512_storeu_pd(x + k, _mm512_maskz_compress_pd(kept, _mm512_loadu_pd(px + p)));
            _mm512_storeu_pd(y + k, _mm512_maskz_compress_pd(kept, _mm512_loadu_pd(py + p)));
            _mm512_storeu_pd(s + k, _mm512_maskz_compress_pd(kept, vs));
            k += __builtin_popcount((unsigned)kept);
        }
#else
        for (int p = 0; p < PAIRS; p++) {
            x[k] = px[p];
            y[k] = py[p];
            s[k] = ps[p];
            k += fr_polar_kept(ps[p]);
        }
#endif
        for (int j = 0; j < k; j++)
            f[j] = log(s[j]);
        /* sqrt of a positive number: the object is built without errno for it
         * (Makefile), so that this loop runs in vectors */
        for (int j = 0; j < k; j++)
            f[j] = fr_polar_factor(f[j], s[j], stddev);
        if (n - i >= 2 * (size_t)k) {
            float *o = out + i;
            for (int j = 0; j < k; j++) {
                o[2 * j] = (float)(x[j] * f[j]);
                o[2 * j + 1] = (float)(y[j] * f[j]);
            }
            i += 2 * (size_t)k;
        } else {
            for (int j = 0; j < k && i < n; j++) {
                out[i++] = (float)(x[j] * f[j]);
                if (i < n)
                    out[i++] = (float)(y[j] * f[j]);
            }
        }
    }
    sodium_memzero(words, sizeof words);
    sodium_memzero(key, sizeof key);
    sodium_memzero(px, sizeof px);
    sodium_memzero(py, sizeof py);
    sodium_memzero(x, sizeof x);
    sodium_memzero(y, sizeof y);
}
