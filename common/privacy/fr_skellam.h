/* Distributed noise in the integer ring of secure aggregation: the Skellam mechanism
 * (Agarwal, Kairouz and Liu, NeurIPS 2021), for user-level DP-FedAvg across a
 * federation (docs/privacy.md, "Federation-wide user-level DP").
 *
 * Why Skellam rather than the distributed discrete Gaussian (Kairouz, Liu and Steinke,
 * ICML 2021): a sum of independent Skellam variables is exactly Skellam, so the noise
 * that any set of survivors adds up to has a known distribution and the RDP of the sum
 * is that of one Skellam mechanism (fr_rdp_skellam); a sum of discrete Gaussians is
 * only close to one, and its accounting carries an extra term that grows with the
 * number of parties. Its sampler needs only Poisson draws.
 *
 * One round, with every parameter from the round's signed task so that every node
 * derives the same values (fr_skellam_init):
 *  - each sampled user's contribution x (clipped to L2 norm C in real units) is
 *    scaled by s (a power of two) and rounded at random, coordinate by coordinate, to
 *    floor(s x + u), u uniform; the rounding is drawn again until the rounded vector's
 *    norm is at most l2 (conditional randomized rounding, Kairouz et al. 2021), so
 *    that one user moves the integer sum by at most l2 in L2 and l1 in L1 whatever the
 *    coins (fr_skellam_round_add);
 *  - a node sums its users' rounded vectors, cuts every coordinate of the sum to
 *    [-clamp, clamp] (a coordinate-wise clamp cannot increase the distance between two
 *    sums, so the sensitivities stand), and adds its noise share, Poisson(lambda) -
 *    Poisson(lambda) on every coordinate with lambda = mu / (2 t): any t shares sum to
 *    Skellam noise of variance mu = (s sigma C)^2, the integer image of central
 *    DP-SGD's N(0, sigma^2 C^2); more survivors only add noise (fr_skellam_share);
 *  - the node's vector is sent modulo 2^32 inside the masked vector; s and clamp are
 *    chosen so that n clamped sums plus the noise of n shares stay inside
 *    [-2^31, 2^31) except with probability below 2^-64 per coordinate (the noise's
 *    tail by Bernstein's inequality): the sum modulo 2^32 read as a signed integer is
 *    then the true sum (fr_skellam_decode). */
#ifndef FR_SKELLAM_H
#define FR_SKELLAM_H

#include <stddef.h>
#include <stdint.h>

#include "privacy/fr_dp_rng.h"
#include "util/fr_status.h"

/* Conditional rounding's beta (Kairouz et al.): a rounding is redrawn with probability
 * at most beta, so a few draws suffice; it only widens the norm bound l2. */
#define FR_SKELLAM_BETA 0.60653065971263342 /* e^-1/2 */
/* Draws of one user's rounding before giving up (each fails with probability <= beta). */
#define FR_SKELLAM_MAX_DRAWS 200

typedef struct fr_skellam {
    /* given: identical at every node (the round's task) */
    double clip;    /* C: L2 bound of one user's contribution, real units */
    double sigma;   /* noise multiplier: the sum carries noise of stddev sigma C */
    int nodes;      /* n: nodes whose vectors the sum may hold */
    int threshold;  /* t: the fewest vectors an unmasked sum holds (secure aggregation's) */
    size_t dim;     /* d: coordinates */
    long users_max; /* the most users all nodes of one round together sum */
    /* derived by fr_skellam_init */
    double scale;  /* s: integers per real unit, a power of two */
    double l2, l1; /* one user's L2 and L1 sensitivity in the ring */
    double mu;     /* noise variance per coordinate that any t shares carry */
    double lambda; /* each Poisson of a node's share: mu / (2 t) */
    int64_t clamp; /* a node's sum is cut to [-clamp, clamp] per coordinate */
} fr_skellam;

/* Check the given fields and derive the rest: the largest power of two s (<= 2^30) for
 * which users_max users at the rounded bound l2, plus the tail of n shares' noise, fit
 * in int32. FR_EINVAL naming the field when nothing fits or a field is out of range
 * (C, sigma finite > 0; 1 <= t <= n <= 255; 1 <= d <= 2^28; users_max >= 1). */
FR_MUST fr_status fr_skellam_init(fr_skellam *p, fr_err *err);

/* Round one user's contribution x[0..d) (L2 norm at most C; values beyond it are
 * refused, a norm above C by float rounding is cut to C) to integers with conditional randomized
 * rounding and add it to acc[0..d). scratch: d int32 of caller-owned memory. Zero coordinates stay
 * zero and cost no coins. FR_EINVAL for a non-finite value or a norm above C (1e-6 relative slack),
 * FR_EINVAL if FR_SKELLAM_MAX_DRAWS draws all exceed l2. */
FR_MUST fr_status fr_skellam_round_add(const fr_skellam *p, const float *x, fr_dp_rng *rng,
                                       int32_t *scratch, int64_t *acc, fr_err *err);

/* A node's vector: acc[0..d) cut to [-clamp, clamp] (*clamped receives how many
 * coordinates were cut; may be NULL), plus the node's Skellam share, written modulo
 * 2^32 into out[0..d). */
void fr_skellam_share(const fr_skellam *p, const int64_t *acc, fr_dp_rng *rng, uint32_t *out,
                      size_t *clamped);

/* The sum of nodes' vectors (modulo 2^32) in real units: each coordinate read as int32
 * and divided by s. */
void fr_skellam_decode(const fr_skellam *p, const uint32_t *sum, float *out);

/* One draw of Poisson(lambda), lambda >= 0 finite: inversion by multiplication below
 * 10, Hormann's transformed rejection (PTRS, 1993) above, its acceptance test on the
 * log-probability computed with Loader's saddle-point form so that it stays accurate
 * for lambda up to 2^62. */
int64_t fr_skellam_poisson(fr_dp_rng *rng, double lambda);

/* L2 bound after conditional rounding of a vector of L2 norm at most x (integer
 * units) with d coordinates: min(x + sqrt(d), sqrt(x^2 + d/4 + sqrt(2 ln(1/beta)) (x +
 * sqrt(d)/2))), Kairouz et al. 2021, Theorem 5. */
double fr_skellam_rounded_l2(double x, size_t d, double beta);

#endif
