/* The random numbers of differential privacy: which users a step samples and the
 * Gaussian noise it adds. They must be unpredictable to anyone who sees the model,
 * so they come from ChaCha20 keyed with 32 bytes from the operating system
 * (libsodium's randombytes_buf), never from the training RNG. A fixed seed may be
 * given for tests and reproduction only: it voids the privacy guarantee.
 *
 * Gaussian samplers: fr_dp_rng_normal is Box-Muller on two uniforms of 53 bits each,
 * u1 in (0, 1] and u2 in [0, 1): z = sqrt(-2 ln u1) cos(2 pi u2), and its sine twin is
 * used for the next draw; its tails are cut at |z| <= sqrt(-2 ln 2^-53) = 8.57
 * standard deviations. fr_dp_rng_normals_at, which draws the noise vectors, uses
 * Marsaglia's polar method on the same 53-bit uniforms (x, y = 2u - 1 on a grid of
 * 2^-52, kept when 0 < s = x^2 + y^2 < 1; z = x sqrt(-2 ln s / s) and its y twin),
 * which needs no sine or cosine: half the time per draw. Its tails reach
 * sqrt(-2 ln 2^-104) = 12.0 standard deviations. */
#ifndef FR_DP_RNG_H
#define FR_DP_RNG_H

#include <stddef.h>
#include <stdint.h>

#include "util/fr_status.h"

typedef struct fr_dp_rng {
    unsigned char key[32];
    uint64_t refills; /* nonce of the next block of stream */
    unsigned char buf[4096];
    size_t pos; /* next unread byte of buf */
    int have_spare;
    double spare;
} fr_dp_rng;

/* seed NULL: a fresh key from the operating system (the production path); otherwise
 * the key is BLAKE2b-256 of the seed bytes (tests, reproduction). */
FR_MUST fr_status fr_dp_rng_init(fr_dp_rng *r, const void *seed, size_t seed_len, fr_err *err);
/* Wipes the key and the buffered stream. */
void fr_dp_rng_free(fr_dp_rng *r);

uint64_t fr_dp_rng_u64(fr_dp_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double fr_dp_rng_uniform(fr_dp_rng *r);
double fr_dp_rng_normal(fr_dp_rng *r);
/* out[i] = stddev * N(0, 1), n values. */
void fr_dp_rng_normals(fr_dp_rng *r, float *out, size_t n, double stddev);

/* n Gaussian values from the independent stream number `stream` (< 2^63) of this key,
 * without touching r's own position: callers fill disjoint parts of a large noise
 * vector in parallel, each part from its own stream. */
void fr_dp_rng_normals_at(const fr_dp_rng *r, uint64_t stream, float *out, size_t n, double stddev);
/* The ChaCha20 nonce of that stream: its first 8 bytes the returned value, little-endian,
 * the last 4 zero; the words of 64 bits the polar method reads are the stream's bytes
 * from block 0 on, in pairs (a device that draws the same noise reads them so,
 * util/fr_chacha.h and the backend's dp_noise). */
uint64_t fr_dp_rng_stream_nonce(uint64_t stream);

#endif
