/* RDP accountant for the sampled Gaussian mechanism (see fr_dp_accountant.h).
 *
 * For q < 1 the RDP at order a is log(A_a) / (a - 1) with
 *   A_a = E_{z ~ N(0, s^2)} [((1 - q) + q exp((2z - 1) / (2 s^2)))^a].
 * Integer orders expand it by the binomial theorem into a finite sum; fractional
 * orders use the two-sided series of Mironov et al. (Section 3.3), whose terms carry
 * Gaussian tail probabilities (erfc) and alternate in sign, summed until they fall
 * below e^-30 of the total. */
#include "privacy/fr_dp_accountant.h"

#include <math.h>
#include <string.h>

static double log_add(double a, double b)
{
    if (a == -INFINITY)
        return b;
    if (b == -INFINITY)
        return a;
    double hi = a > b ? a : b, lo = a > b ? b : a;
    return hi + log1p(exp(lo - hi));
}

/* log(e^a - e^b) for a >= b; -inf when they are equal. */
static double log_sub(double a, double b)
{
    if (b == -INFINITY)
        return a;
    if (a <= b)
        return -INFINITY;
    return a + log1p(-exp(b - a));
}

/* log(erfc(x)) without underflow: erfc(x) falls below the smallest double near x = 27,
 * so far in the tail the asymptotic series of erfc takes over. */
static double log_erfc(double x)
{
    if (x < 25.0)
        return log(erfc(x));
    double x2 = x * x, inv = 1.0 / x2;
    return -x2 - log(x) - 0.5 * log(M_PI) +
           log1p(-0.5 * inv + 0.75 * inv * inv - 1.875 * inv * inv * inv);
}

static double log_a_int(double q, double sigma, int alpha)
{
    double log_a = -INFINITY, lq = log(q), l1q = log1p(-q), s2 = 2.0 * sigma * sigma;
    for (int i = 0; i <= alpha; i++) {
        double log_binom = lgamma(alpha + 1.0) - lgamma(i + 1.0) - lgamma(alpha - i + 1.0);
        double t = log_binom + i * lq + (alpha - i) * l1q + ((double)i * i - i) / s2;
        log_a = log_add(log_a, t);
    }
    return log_a;
}

static double log_a_frac(double q, double sigma, double alpha)
{
    double log_a0 = -INFINITY, log_a1 = -INFINITY;
    double lq = log(q), l1q = log1p(-q), s2 = 2.0 * sigma * sigma;
    double z0 = sigma * sigma * log(1.0 / q - 1.0) + 0.5;
    /* |binom(alpha, i)| and its sign, updated term by term */
    double log_coef = 0.0;
    int sign = 1;
    for (int i = 0; i < 100000; i++) {
        if (i > 0) {
            double f = (alpha - (i - 1)) / i;
            if (f == 0.0)
                break;
            if (f < 0)
                sign = -sign;
            log_coef += log(fabs(f));
        }
        double j = alpha - i;
        double log_t0 = log_coef + i * lq + j * l1q;
        double log_t1 = log_coef + j * lq + i * l1q;
        double log_e0 = log(0.5) + log_erfc((i - z0) / (M_SQRT2 * sigma));
        double log_e1 = log(0.5) + log_erfc((z0 - j) / (M_SQRT2 * sigma));
        double log_s0 = log_t0 + ((double)i * i - i) / s2 + log_e0;
        double log_s1 = log_t1 + (j * j - j) / s2 + log_e1;
        if (sign > 0) {
            log_a0 = log_add(log_a0, log_s0);
            log_a1 = log_add(log_a1, log_s1);
        } else {
            log_a0 = log_sub(log_a0, log_s0);
            log_a1 = log_sub(log_a1, log_s1);
        }
        if ((log_s0 > log_s1 ? log_s0 : log_s1) < -30.0)
            break;
    }
    return log_add(log_a0, log_a1);
}

double fr_rdp_sampled_gaussian(double q, double sigma, double alpha)
{
    if (q == 0.0)
        return 0.0;
    if (!(sigma > 0.0) || isinf(alpha))
        return INFINITY;
    if (q == 1.0)
        return alpha / (2.0 * sigma * sigma);
    double log_a = alpha == floor(alpha) && alpha < 1e6 ? log_a_int(q, sigma, (int)alpha)
                                                        : log_a_frac(q, sigma, alpha);
    return log_a / (alpha - 1.0);
}

double fr_rdp_skellam(double l1, double l2, double mu, double alpha)
{
    if (!(mu > 0.0) || isinf(alpha))
        return INFINITY;
    double a = ceil(alpha);
    double base = a * l2 * l2 / (2.0 * mu);
    double c1 = ((2.0 * a - 1.0) * l2 * l2 + 6.0 * l1) / (4.0 * mu * mu);
    double c2 = 3.0 * l1 / (2.0 * mu);
    return base + (c1 < c2 ? c1 : c2);
}

/* (1-q)^-m - 1 - m q = sum_{j>=2} C(m+j-1, j) q^j. For m q < 1/2 the series of positive
 * terms, summed until a term no longer moves the sum (the difference of the closed form
 * would cancel away its digits there); else the closed form. */
static double removal_k(double q, int m)
{
    if (m * q >= 0.5)
        return expm1(-m * log1p(-q)) - m * q;
    double t = 0.5 * m * (m + 1) * q * q, sum = 0;
    for (int j = 2; j < 10000 && sum + t != sum; j++) {
        sum += t;
        t *= q * (m + j) / (j + 1);
    }
    return sum;
}

/* Poisson sampling at rate q of a mechanism whose RDP at integer order l is e(l).
 * Joint convexity reduces it to one pair: Q the output without the user, P with it,
 * L = P/Q, and R = (1-q) Q + q P. Adding a user compares R with Q, removing one Q with
 * R, and both must be bounded at order a (an integer, >= 2):
 *  - D_a(R||Q) = log E_Q[(1 - q + q L)^a] / (a - 1), and the binomial theorem makes it
 *      sum_l C(a,l) (1-q)^(a-l) q^l E_Q[L^l],   E_Q[L^l] = e^((l-1) D_l(P||Q)),
 *    exactly: with e(l) for D_l this is the sampled Gaussian's own formula (log_a_int),
 *    so nothing is lost there;
 *  - D_a(Q||R) = log E_Q[f(L)] / (a - 1) with f(L) = (1 - q + q L)^-m, m = a - 1.
 *    f lies under the quadratic through f(1) = 1 with f's slope there, -m q, and
 *    curvature k = f(0) - 1 - m q = (1-q)^-m - 1 - m q: f(L) - 1 + m q (L - 1) is
 *    (L - 1)^2 times the integral over t in [0, 1] of (1 - t) f''(1 + t (L - 1)), and
 *    f'' falls as L grows, so that factor is largest at L = 0, where it is k. As
 *    E_Q[L] = 1 and E_Q[(L - 1)^2] = e^D_2(P||Q) - 1, E_Q[f(L)] <= 1 + k (e^e(2) - 1).
 *    For small q, k is about C(a,2) q^2.
 * Zhu and Wang's bound (ICML 2019, Theorem 6) covers both directions at once but pays a
 * factor 3 on every term l >= 3:
 *   log[(1-q)^(a-1) (a q - q + 1) + C(a,2) q^2 (1-q)^(a-2) e^e(2)
 *       + 3 sum_{l=3}^{a} C(a,l) q^l (1-q)^(a-l) e^((l-1) e(l))] / (a - 1).
 * All three are upper bounds, so the RDP is at most min(zw, max(add, remove)), and never
 * above the unsampled e(a). */
static double sampled_bound(double q, int a, double (*e)(const void *ctx, int l), const void *ctx,
                            double *add, double *remove, double *zw)
{
    double lq = log(q), l1q = log1p(-q), lga = lgamma(a + 1.0);
    double head = (a - 1) * l1q + log1p((a - 1) * q); /* the terms l = 0 and 1 together */
    double sum_add = head, sum_zw = head;
    for (int l = 2; l <= a; l++) {
        double t = lga - lgamma(l + 1.0) - lgamma(a - l + 1.0) + l * lq + (a - l) * l1q +
                   (l - 1) * e(ctx, l);
        sum_add = log_add(sum_add, t);
        sum_zw = log_add(sum_zw, l >= 3 ? t + log(3.0) : t);
    }
    double e2 = e(ctx, 2);
    double k = log(removal_k(q, a - 1));
    double rem = log1p(exp(k + (e2 > 700.0 ? e2 : log(expm1(e2)))));
    *add = sum_add / (a - 1);
    *remove = rem / (a - 1);
    *zw = sum_zw / (a - 1);
    double r = *add > *remove ? *add : *remove;
    return r < *zw ? r : *zw;
}

typedef struct skellam_ctx {
    double l1, l2, mu;
} skellam_ctx;

static double skellam_at(const void *ctx, int l)
{
    const skellam_ctx *c = ctx;
    return fr_rdp_skellam(c->l1, c->l2, c->mu, (double)l);
}

double fr_rdp_sampled_generic(double q, double alpha, double (*e)(const void *ctx, int l),
                              const void *ctx, double *add, double *remove, double *zw)
{
    int a = (int)ceil(alpha);
    if (a < 2)
        a = 2;
    double whole = e(ctx, a), ad = whole, re = whole, z = whole, r = whole;
    if (q == 0.0)
        ad = re = z = r = 0.0;
    else if (q < 1.0 && !isinf(whole)) {
        r = sampled_bound(q, a, e, ctx, &ad, &re, &z);
        if (r > whole)
            r = whole;
    }
    if (add)
        *add = ad;
    if (remove)
        *remove = re;
    if (zw)
        *zw = z;
    return r;
}

double fr_rdp_sampled_skellam(double q, double l1, double l2, double mu, double alpha)
{
    skellam_ctx c = {l1, l2, mu};
    return fr_rdp_sampled_generic(q, alpha, skellam_at, &c, NULL, NULL, NULL);
}

void fr_rdp_init(fr_rdp *a)
{
    memset(a, 0, sizeof *a);
    for (int x = 1; x <= 99; x++)
        a->orders[a->n_orders++] = 1.0 + x / 10.0;
    for (int x = 12; x <= 63; x++)
        a->orders[a->n_orders++] = x;
}

fr_status fr_rdp_init_orders(fr_rdp *a, const double *orders, int n, fr_err *err)
{
    memset(a, 0, sizeof *a);
    if (n < 1 || n > FR_DP_MAX_ORDERS)
        return fr_fail(err, FR_EINVAL, "accountant: %d orders, must be 1..%d", n, FR_DP_MAX_ORDERS);
    for (int i = 0; i < n; i++) {
        if (!(orders[i] > 1.0) || isinf(orders[i]))
            return fr_fail(err, FR_EINVAL, "accountant: order %g must be a finite number > 1",
                           orders[i]);
        a->orders[i] = orders[i];
    }
    a->n_orders = n;
    return FR_OK;
}

static fr_status check_q_sigma(double q, double sigma, fr_err *err)
{
    if (!(q > 0.0 && q <= 1.0))
        return fr_fail(err, FR_EINVAL, "sampling rate %g must be in (0, 1]", q);
    if (!(sigma > 0.0) || isinf(sigma))
        return fr_fail(err, FR_EINVAL, "noise multiplier %g must be a finite number > 0", sigma);
    return FR_OK;
}

fr_status fr_rdp_compose(fr_rdp *a, double q, double sigma, long steps, fr_err *err)
{
    fr_status st = check_q_sigma(q, sigma, err);
    if (st)
        return st;
    if (steps < 0)
        return fr_fail(err, FR_EINVAL, "steps %ld must be >= 0", steps);
    for (int i = 0; i < a->n_orders; i++)
        a->rdp[i] += (double)steps * fr_rdp_sampled_gaussian(q, sigma, a->orders[i]);
    return FR_OK;
}

fr_status fr_rdp_compose_skellam(fr_rdp *a, double q, double l1, double l2, double mu, long steps,
                                 fr_err *err)
{
    if (!(q > 0.0 && q <= 1.0))
        return fr_fail(err, FR_EINVAL, "sampling rate %g must be in (0, 1]", q);
    if (!(l2 > 0.0) || !(l1 >= l2) || isinf(l1) || !(mu > 0.0) || isinf(mu))
        return fr_fail(err, FR_EINVAL,
                       "skellam: sensitivities l1 %g, l2 %g and variance %g: need "
                       "0 < l2 <= l1 and a finite variance > 0",
                       l1, l2, mu);
    if (steps < 0)
        return fr_fail(err, FR_EINVAL, "steps %ld must be >= 0", steps);
    for (int i = 0; i < a->n_orders; i++)
        a->rdp[i] += (double)steps * fr_rdp_sampled_skellam(q, l1, l2, mu, a->orders[i]);
    return FR_OK;
}

fr_status fr_rdp_epsilon(const fr_rdp *a, double delta, double *eps, double *order, fr_err *err)
{
    if (!(delta > 0.0 && delta < 1.0))
        return fr_fail(err, FR_EINVAL, "delta %g must be in (0, 1)", delta);
    double best = INFINITY, best_order = a->n_orders ? a->orders[0] : 0.0;
    for (int i = 0; i < a->n_orders; i++) {
        double al = a->orders[i], r = a->rdp[i], e;
        if (delta * delta + expm1(-r) > 0.0)
            e = 0.0; /* the RDP is so small that it bounds the privacy loss outright */
        else if (al > 1.01)
            e = r + log1p(-1.0 / al) - log(delta * al) / (al - 1.0);
        else
            e = INFINITY;
        if (e < best) {
            best = e;
            best_order = al;
        }
    }
    *eps = best < 0.0 ? 0.0 : best;
    if (order)
        *order = best_order;
    return FR_OK;
}

fr_status fr_dp_epsilon(double q, double sigma, long steps, double delta, double *eps, fr_err *err)
{
    fr_rdp a;
    fr_rdp_init(&a);
    fr_status st = fr_rdp_compose(&a, q, sigma, steps, err);
    return st ? st : fr_rdp_epsilon(&a, delta, eps, NULL, err);
}

/* The smallest number with 3 significant digits that is >= x > 0. */
static double ceil3(double x)
{
    double scale = pow(10.0, floor(log10(x)) - 2.0);
    double r = ceil(x / scale - 1e-9) * scale;
    return r;
}

fr_status fr_dp_sigma(double q, double eps_target, long steps, double delta, double *sigma,
                      fr_err *err)
{
    fr_status st;
    double e;
    if (!(eps_target > 0.0) || isinf(eps_target))
        return fr_fail(err, FR_EINVAL, "target epsilon %g must be a finite number > 0", eps_target);
    if (steps < 1)
        return fr_fail(err, FR_EINVAL, "steps %ld must be >= 1", steps);
    if ((st = check_q_sigma(q, 1.0, err)) != FR_OK)
        return st;
    if (!(delta > 0.0 && delta < 1.0))
        return fr_fail(err, FR_EINVAL, "delta %g must be in (0, 1)", delta);
    /* epsilon falls as sigma grows: bracket the target, then bisect. */
    double lo = 1e-3, hi = 1.0;
    for (;;) {
        if ((st = fr_dp_epsilon(q, hi, steps, delta, &e, err)) != FR_OK)
            return st;
        if (e <= eps_target)
            break;
        lo = hi;
        hi *= 2.0;
        if (hi > 1e7)
            return fr_fail(err, FR_EINVAL,
                           "no noise multiplier up to 1e7 reaches epsilon %g in %ld steps",
                           eps_target, steps);
    }
    for (int it = 0; it < 200 && hi - lo > 1e-7 * hi; it++) {
        double mid = 0.5 * (lo + hi);
        if ((st = fr_dp_epsilon(q, mid, steps, delta, &e, err)) != FR_OK)
            return st;
        if (e <= eps_target)
            hi = mid;
        else
            lo = mid;
    }
    /* Round up to 3 significant digits; step up if the rounding fell short. */
    double s = ceil3(hi);
    for (int k = 0; k < 10; k++) {
        if ((st = fr_dp_epsilon(q, s, steps, delta, &e, err)) != FR_OK)
            return st;
        if (e <= eps_target)
            break;
        s = ceil3(s * (1.0 + 1e-3));
    }
    *sigma = s;
    return FR_OK;
}
