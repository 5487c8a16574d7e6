/* xoshiro256** (Blackman and Vigna), a small, fast generator with a 2^256 period. */
#include "util/fr_rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void fr_rng_seed(fr_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t fr_rng_u64(fr_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

uint64_t fr_rng_below(fr_rng *r, uint64_t n)
{
    /* Rejection keeps every value equally likely when n does not divide 2^64. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
        x = fr_rng_u64(r);
    } while (x >= limit);
    return x % n;
}

double fr_rng_uniform(fr_rng *r)
{
    return (double)(fr_rng_u64(r) >> 11) * 0x1.0p-53;
}

double fr_rng_normal(fr_rng *r)
{
    double u1 = fr_rng_uniform(r), u2 = fr_rng_uniform(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void fr_rng_shuffle_i32(fr_rng *r, int32_t *v, long n)
{
    for (long i = n - 1; i > 0; i--) {
        long j = (long)fr_rng_below(r, (uint64_t)i + 1);
        int32_t t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}
