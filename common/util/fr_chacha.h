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

/* One pair of Marsaglia's polar method from two 64-bit words of the stream (53 bits of
 * each, x, y = 2u - 1 on a grid of 2^-52): 0 when the point falls outside the unit disc
 * or on its centre, else 1 and z0, z1 = stddev x sqrt(-2 ln s / s), its y twin. */
static inline FR_HD int fr_polar_pair(uint64_t a, uint64_t b, double stddev, float *z0, float *z1)
{
    double x = fr_chacha_mul_add((double)(a >> 11), 0x1.0p-52, -1.0);
    double y = fr_chacha_mul_add((double)(b >> 11), 0x1.0p-52, -1.0);
    double s = fr_chacha_mul_add(x, x, y * y);
    if (s >= 1.0 || s == 0.0)
        return 0;
    double f = stddev * sqrt(-2.0 * log(s) / s);
    *z0 = (float)(x * f);
    *z1 = (float)(y * f);
    return 1;
}

#endif
