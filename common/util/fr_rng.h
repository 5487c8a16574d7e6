/* Deterministic pseudo-random numbers (xoshiro256**, seeded through splitmix64).
 * Every random choice of training, sampling and data generation goes through one of
 * these streams, so that a run is reproducible from its --seed. Not for secrets. */
#ifndef FR_RNG_H
#define FR_RNG_H

#include <stdint.h>

typedef struct fr_rng {
    uint64_t s[4];
} fr_rng;

void fr_rng_seed(fr_rng *r, uint64_t seed);
uint64_t fr_rng_u64(fr_rng *r);
/* Uniform in [0, n), without modulo bias; n > 0. */
uint64_t fr_rng_below(fr_rng *r, uint64_t n);
/* Uniform double in [0, 1). */
double fr_rng_uniform(fr_rng *r);
/* Standard normal (Box-Muller, one value per call). */
double fr_rng_normal(fr_rng *r);
/* Fisher-Yates shuffle of n int32 values. */
void fr_rng_shuffle_i32(fr_rng *r, int32_t *v, long n);

#endif
