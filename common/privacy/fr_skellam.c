/* The distributed Skellam mechanism (see fr_skellam.h). */
#include "privacy/fr_skellam.h"

#include <math.h>
#include <string.h>

#define INT32_TOP 2147483647.0 /* 2^31 - 1 */
/* ln(2 / 2^-64): the noise of all n shares stays within the margin but for 2^-64 */
#define TAIL_LOG 45.05502692815519

double fr_skellam_rounded_l2(double x, size_t d, double beta)
{
    double sd = sqrt((double)d);
    double b1 = x + sd;
    if (!(beta > 0.0 && beta < 1.0))
        return b1;
    double b2 = sqrt(x * x + 0.25 * (double)d + sqrt(2.0 * log(1.0 / beta)) * (x + 0.5 * sd));
    return b2 < b1 ? b2 : b1;
}

/* Bernstein: a sum of Poisson differences of total variance v exceeds x in magnitude
 * with probability at most 2 exp(-x^2 / (2 (v + x / 3))); the x where that is 2^-64. */
static double noise_margin(double v)
{
    double l = TAIL_LOG;
    return l / 3.0 + sqrt(l * l / 9.0 + 2.0 * l * v);
}

fr_status fr_skellam_init(fr_skellam *p, fr_err *err)
{
    if (!(p->clip > 0) || isinf(p->clip))
        return fr_fail(err, FR_EINVAL, "skellam: clip %g must be finite and > 0", p->clip);
    if (!(p->sigma > 0) || isinf(p->sigma))
        return fr_fail(err, FR_EINVAL, "skellam: noise multiplier %g must be finite and > 0",
                       p->sigma);
    if (p->nodes < 1 || p->nodes > 255 || p->threshold < 1 || p->threshold > p->nodes)
        return fr_fail(err, FR_EINVAL, "skellam: threshold %d of %d nodes: need 1 <= t <= n <= 255",
                       p->threshold, p->nodes);
    if (p->dim < 1 || p->dim > ((size_t)1 << 28))
        return fr_fail(err, FR_EINVAL, "skellam: %zu coordinates, must be 1..2^28", p->dim);
    if (p->users_max < 1)
        return fr_fail(err, FR_EINVAL, "skellam: users_max %ld must be >= 1", p->users_max);
    for (int e = 30; e >= -30; e--) {
        double s = ldexp(1.0, e);
        double l2 = fr_skellam_rounded_l2(s * p->clip, p->dim, FR_SKELLAM_BETA);
        double mu = (s * p->sigma * p->clip) * (s * p->sigma * p->clip);
        double margin = noise_margin((double)p->nodes * mu / p->threshold);
        /* one user's coordinate is at most l2; l2^2 must fit the exact norm test */
        if ((double)p->users_max * l2 + margin > INT32_TOP || l2 * l2 > 0x1.0p62)
            continue;
        p->scale = s;
        p->l2 = l2;
        double sd = sqrt((double)p->dim);
        p->l1 = l2 * (sd < l2 ? sd : l2); /* an integer vector's L1 is at most its L2^2 */
        p->mu = mu;
        p->lambda = mu / (2.0 * p->threshold);
        p->clamp = (int64_t)floor((INT32_TOP - margin) / p->nodes);
        return FR_OK;
    }
    return fr_fail(err, FR_EINVAL,
                   "skellam: no scale fits %ld users of clip %g with noise multiplier %g over %d "
                   "nodes in 32 bits",
                   p->users_max, p->clip, p->sigma, p->nodes);
}

fr_status fr_skellam_round_add(const fr_skellam *p, const float *x, fr_dp_rng *rng,
                               int32_t *scratch, int64_t *acc, fr_err *err)
{
    double sq = 0;
    for (size_t i = 0; i < p->dim; i++) {
        if (!isfinite(x[i]))
            return fr_fail(err, FR_EINVAL, "skellam: coordinate %zu is %g", i, (double)x[i]);
        sq += (double)x[i] * x[i];
    }
    double norm = sqrt(sq);
    if (norm > p->clip * (1 + 1e-6))
        return fr_fail(err, FR_EINVAL,
                       "skellam: a user's contribution has norm %g above the clip %g", norm,
                       p->clip);
    /* a float clip may leave the norm a few 1e-7 above C: at s C near 2^28 that is more
     * than the rounding bound's slack, so the scaled vector is cut to s C exactly here */
    double f = (norm > p->clip ? p->clip / norm : 1.0) * p->scale;
    /* the exact test: the squared norm of an integer vector against floor(l2^2) */
    uint64_t bound2 = (uint64_t)floor(p->l2 * p->l2);
    for (int draw = 0; draw < FR_SKELLAM_MAX_DRAWS; draw++) {
        uint64_t n2 = 0;
        int over = 0;
        for (size_t i = 0; i < p->dim; i++) {
            if (x[i] == 0.0f) {
                scratch[i] = 0; /* floor(0 + u) = 0 for u in [0, 1): no coin needed */
                continue;
            }
            double v = floor((double)x[i] * f + fr_dp_rng_uniform(rng));
            int64_t r = (int64_t)v;
            scratch[i] = (int32_t)r;
            uint64_t r2 = (uint64_t)(r * r);
            if (!over && n2 + r2 <= bound2)
                n2 += r2;
            else
                over = 1; /* keep drawing the coins of the whole vector: same cost each try */
        }
        if (!over) {
            for (size_t i = 0; i < p->dim; i++)
                acc[i] += scratch[i];
            return FR_OK;
        }
    }
    return fr_fail(err, FR_EINVAL, "skellam: %d roundings of one user all exceeded the bound %g",
                   FR_SKELLAM_MAX_DRAWS, p->l2);
}

/* Loader's saddle-point pieces (Loader 2000, "Fast and accurate computation of binomial
 * probabilities"): log Poisson(k; lambda) = -stirlerr(k) - bd0(k, lambda) -
 * log(2 pi k) / 2, without the cancellation of k log(lambda) - lambda - lgamma(k + 1)
 * when both are near 2^40. */
static double stirlerr(double k)
{
    if (k < 16.0)
        return lgamma(k + 1.0) - (k + 0.5) * log(k) + k - 0.918938533204672742;
    double k2 = k * k;
    return (1.0 / 12 - (1.0 / 360 - (1.0 / 1260 - 1.0 / (1680 * k2)) / k2) / k2) / k;
}

static double bd0(double k, double np)
{
    if (fabs(k - np) < 0.1 * (k + np)) {
        double v = (k - np) / (k + np), s = (k - np) * v, ej = 2 * k * v;
        v *= v;
        for (int j = 1; j < 1000; j++) {
            ej *= v;
            double s1 = s + ej / (2 * j + 1);
            if (s1 == s)
                return s1;
            s = s1;
        }
        return s;
    }
    return k * log(k / np) + np - k;
}

static double log_poisson(double k, double lambda)
{
    if (k == 0)
        return -lambda;
    return -stirlerr(k) - bd0(k, lambda) - 0.5 * log(2.0 * M_PI * k);
}

int64_t fr_skellam_poisson(fr_dp_rng *rng, double lambda)
{
    if (!(lambda > 0))
        return 0;
    if (lambda < 10.0) {
        /* the number of uniforms whose running product stays above e^-lambda */
        double limit = exp(-lambda), prod = fr_dp_rng_uniform(rng);
        int64_t k = 0;
        while (prod > limit) {
            prod *= fr_dp_rng_uniform(rng);
            k++;
        }
        return k;
    }
    double slam = sqrt(lambda);
    double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
    double inv_alpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
        double u = fr_dp_rng_uniform(rng) - 0.5, v = fr_dp_rng_uniform(rng);
        double us = 0.5 - fabs(u);
        double k = floor((2 * a / us + b) * u + lambda + 0.43);
        if (us >= 0.07 && v <= vr)
            return (int64_t)k;
        if (k < 0 || (us < 0.013 && v > us))
            continue;
        if (log(v) + log(inv_alpha) - log(a / (us * us) + b) <= log_poisson(k, lambda))
            return (int64_t)k;
    }
}

void fr_skellam_share(const fr_skellam *p, const int64_t *acc, fr_dp_rng *rng, uint32_t *out,
                      size_t *clamped)
{
    size_t cut = 0;
    for (size_t i = 0; i < p->dim; i++) {
        int64_t v = acc[i];
        if (v > p->clamp || v < -p->clamp) {
            v = v > 0 ? p->clamp : -p->clamp;
            cut++;
        }
        v += fr_skellam_poisson(rng, p->lambda) - fr_skellam_poisson(rng, p->lambda);
        out[i] = (uint32_t)v; /* two's complement: modulo 2^32 */
    }
    if (clamped)
        *clamped = cut;
}

void fr_skellam_decode(const fr_skellam *p, const uint32_t *sum, float *out)
{
    for (size_t i = 0; i < p->dim; i++) {
        int64_t s = sum[i] <= 0x7fffffffu ? (int64_t)sum[i] : (int64_t)sum[i] - 4294967296LL;
        out[i] = (float)((double)s / p->scale);
    }
}
