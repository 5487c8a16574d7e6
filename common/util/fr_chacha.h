/* ChaCha20's block function (RFC 8439, the IETF variant: a 32-bit block counter and a
 * 96-bit nonce) and one pair of the polar method, written once for the host and the
 * device, so that a device draws DP-SGD's noise from the same keyed stream as the host
 * (privacy/fr_dp_rng.h). The host computes sixteen blocks side by side with the same
 * rounds (fr_dp_rng.c); tests/test_chacha.c holds this block function to libsodium's
 * bytes and the device's use of it to the host's noise, bit for bit. Header only: the
 * CUDA backend compiles it into its kernels. */
#ifndef FR_CHACHA_H
#define FR_CHACHA_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define FR_HD __host__ __device__
#else
#define FR_HD
#endif

static inline FR_HD uint32_t fr_chacha_rotl(uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

static inline FR_HD void fr_chacha_quarter(uint32_t *x, int a, int b, int c, int d)
{
    x[a] += x[b];
    x[d] = fr_chacha_rotl(x[d] ^ x[a], 16);
    x[c] += x[d];
    x[b] = fr_chacha_rotl(x[b] ^ x[c], 12);
    x[a] += x[b];
    x[d] = fr_chacha_rotl(x[d] ^ x[a], 8);
    x[c] += x[d];
    x[b] = fr_chacha_rotl(x[b] ^ x[c], 7);
}

/* Block `counter` of the stream of (key, nonce): 64 bytes as 16 little-endian words.
 * key: the 32 key bytes as 8 little-endian words; nonce: the 12 nonce bytes as 3. */
static inline FR_HD void fr_chacha20_block(uint32_t out[16], const uint32_t key[8],
                                           uint32_t counter, const uint32_t nonce[3])
{
    uint32_t s[16] = {0x61707865u, 0x3320646eu, 0x79622d32u, 0x6b206574u, key[0], key[1],
                      key[2],      key[3],      key[4],      key[5],      key[6], key[7],
                      counter,     nonce[0],    nonce[1],    nonce[2]};
    uint32_t x[16];
    for (int i = 0; i < 16; i++)
        x[i] = s[i];
    for (int r = 0; r < 10; r++) {
        fr_chacha_quarter(x, 0, 4, 8, 12);
        fr_chacha_quarter(x, 1, 5, 9, 13);
        fr_chacha_quarter(x, 2, 6, 10, 14);
        fr_chacha_quarter(x, 3, 7, 11, 15);
        fr_chacha_quarter(x, 0, 5, 10, 15);
        fr_chacha_quarter(x, 1, 6, 11, 12);
        fr_chacha_quarter(x, 2, 7, 8, 13);
        fr_chacha_quarter(x, 3, 4, 9, 14);
    }
    for (int i = 0; i < 16; i++)
        out[i] = x[i] + s[i];
}

/* a b + c rounded twice, as the host computes it: the device compiler would fuse the
 * two into one rounding and the noise would differ in its last bits. */
static inline FR_HD double fr_chacha_mul_add(double a, double b, double c)
{
#ifdef __CUDA_ARCH__
    return __dadd_rn(__dmul_rn(a, b), c);
#else
    return a * b + c;
#endif
}

/* The key's 32 bytes as the block function's 8 little-endian words. */
static inline FR_HD void fr_chacha_key_words(uint32_t w[8], const unsigned char key[32])
{
    for (int i = 0; i < 8; i++)
        w[i] = (uint32_t)key[4 * i] | (uint32_t)key[4 * i + 1] << 8 |
               (uint32_t)key[4 * i + 2] << 16 | (uint32_t)key[4 * i + 3] << 24;
}

/* Marsaglia's polar method in its steps, so that the host's passes over many pairs
 * (privacy/fr_dp_rng.c) and the device's pair at a time compute the same bits. The
 * point of two 64-bit words of the stream (53 bits of each, x, y = 2u - 1 on a grid of
 * 2^-52); returns s = x^2 + y^2. */
static inline FR_HD double fr_polar_point(uint64_t a, uint64_t b, double *x, double *y)
{
    *x = fr_chacha_mul_add((double)(a >> 11), 0x1.0p-52, -1.0);
    *y = fr_chacha_mul_add((double)(b >> 11), 0x1.0p-52, -1.0);
    return fr_chacha_mul_add(*x, *x, *y * *y);
}

/* A point is kept inside the unit disc and off its centre. */
static inline FR_HD int fr_polar_kept(double s)
{
    return !(s >= 1.0 || s == 0.0);
}

/* The kept point's factor from ln s: stddev sqrt(-2 ln s / s). */
static inline FR_HD double fr_polar_factor(double log_s, double s, double stddev)
{
    return stddev * sqrt(-2.0 * log_s / s);
}

/* One pair: 0 when the point is not kept, else 1 and z0, z1 = x and y times the
 * factor. */
static inline FR_HD int fr_polar_pair(uint64_t a, uint64_t b, double stddev, float *z0, float *z1)
{
    double x, y, s = fr_polar_point(a, b, &x, &y);
    if (!fr_polar_kept(s))
        return 0;
    double f = fr_polar_factor(log(s), s, stddev);
    *z0 = (float)(x * f);
    *z1 = (float)(y * f);
    return 1;
}

#endif
