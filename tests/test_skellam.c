/* The distributed Skellam mechanism (privacy/fr_skellam.h) and its accounting:
 *  - the Poisson sampler against the exact probabilities (small lambda) and against
 *    the moments and the tail of the normal limit (lambda 1e6 to 2^40);
 *  - n nodes' shares summed modulo 2^32 have the Skellam distribution of variance mu
 *    (every probability within 5 standard errors, variance, excess kurtosis 1/mu, the
 *    tail P(|X| >= 4 sd)), and any t of them already carry the full variance;
 *  - conditional rounding: unbiased, never above the bound, zero stays zero;
 *  - the scale fits the ring, the clamp counts, a round's sum decodes to the users'
 *    sum plus noise of stddev sigma C;
 *  - the RDP of the Skellam mechanism and of its sampled form against an independent
 *    computation (plain sums in double precision, Python); the federation-wide epsilon
 *    against central DP-SGD's is in test_rdp_sampled.c;
 *  - the ledger's skellam records: replayed after a restart, and a budget enforced. */
#include <math.h>
#include <stdlib.h>

#include "fr_test.h"
#include "fr_test_ledger.h"
#include "privacy/fr_dp_accountant.h"
#include "privacy/fr_skellam.h"

static void rng_for(fr_dp_rng *r, const char *seed)
{
    fr_err err = {{0}};
    if (fr_dp_rng_init(r, seed, strlen(seed), &err) != FR_OK)
        fprintf(stderr, "rng: %s\n", err.msg);
}

static double pois_pmf(long k, double lam)
{
    return exp(k * log(lam) - lam - lgamma(k + 1.0));
}

/* P(Pois(lam) - Pois(lam) = k), by the convolution of the two. */
static double skellam_pmf(long k, double lam)
{
    long a = labs(k);
    double p = 0;
    for (long j = 0; j < 400; j++)
        p += pois_pmf(j + a, lam) * pois_pmf(j, lam);
    return p;
}

static void test_poisson_small(void)
{
    fr_dp_rng r;
    rng_for(&r, "poisson-small");
    double lams[] = {0.5, 3.0, 9.5, 12.0, 40.0};
    for (size_t li = 0; li < sizeof lams / sizeof lams[0]; li++) {
        double lam = lams[li];
        enum { N = 200000, K = 120 };
        static long count[K];
        memset(count, 0, sizeof count);
        for (int i = 0; i < N; i++) {
            int64_t k = fr_skellam_poisson(&r, lam);
            if (k >= 0 && k < K)
                count[k]++;
        }
        double worst = 0;
        for (int k = 0; k < K; k++) {
            double p = pois_pmf(k, lam), se = sqrt(p * (1 - p) / N) + 1e-12;
            double z = fabs((double)count[k] / N - p) / se;
            if (p > 1e-6 && z > worst)
                worst = z;
        }
        CHECK(worst < 5.0, "lambda %g: a probability %.2f standard errors off", lam, worst);
    }
    fr_dp_rng_free(&r);
}

static void test_poisson_large(void)
{
    fr_dp_rng r;
    rng_for(&r, "poisson-large");
    double lams[] = {1e6, 1.6e10, 0x1.0p40};
    for (size_t li = 0; li < sizeof lams / sizeof lams[0]; li++) {
        double lam = lams[li], sd = sqrt(lam);
        enum { N = 200000 };
        double s1 = 0, s2 = 0;
        long tail = 0;
        for (int i = 0; i < N; i++) {
            double z = ((double)fr_skellam_poisson(&r, lam) - lam) / sd;
            s1 += z;
            s2 += z * z;
            tail += fabs(z) >= 3.0;
        }
        double mean = s1 / N, var = s2 / N - mean * mean, pt = (double)tail / N;
        CHECK(fabs(mean) < 5.0 / sqrt(N), "lambda %g: mean off by %g sd", lam, mean);
        CHECK(fabs(var - 1) < 0.02, "lambda %g: variance %g of lambda", lam, var);
        /* P(|N(0,1)| >= 3) = 0.0027 */
        CHECK(fabs(pt - 0.0027) < 5 * sqrt(0.0027 / N), "lambda %g: tail %g", lam, pt);
    }
    fr_dp_rng_free(&r);
}

/* Shares of n nodes summed modulo 2^32 as secure aggregation does, read back signed. */
static void sum_shares(const fr_skellam *p, int shares, fr_dp_rng *r, int64_t *out)
{
    int64_t *acc = calloc(p->dim, sizeof *acc);
    uint32_t *one = malloc(p->dim * sizeof *one), *sum = calloc(p->dim, sizeof *sum);
    for (int s = 0; s < shares; s++) {
        fr_skellam_share(p, acc, r, one, NULL);
        for (size_t i = 0; i < p->dim; i++)
            sum[i] += one[i];
    }
    for (size_t i = 0; i < p->dim; i++)
        out[i] = sum[i] <= 0x7fffffffu ? (int64_t)sum[i] : (int64_t)sum[i] - 4294967296LL;
    free(acc);
    free(one);
    free(sum);
}

static void test_shares_sum_to_skellam(void)
{
    /* mu = 6 over t = 3 shares: each Poisson of a share has lambda 1, far from normal */
    fr_skellam p = {
        .dim = 300000, .threshold = 3, .nodes = 4, .mu = 6.0, .lambda = 1.0, .clamp = 1000};
    fr_dp_rng r;
    rng_for(&r, "shares");
    int64_t *x = malloc(p.dim * sizeof *x);
    sum_shares(&p, 3, &r, x);
    double n = (double)p.dim, s1 = 0, s2 = 0, s4 = 0;
    long count[41] = {0}, tail = 0;
    for (size_t i = 0; i < p.dim; i++) {
        double v = (double)x[i];
        s1 += v;
        s2 += v * v;
        s4 += v * v * v * v;
        if (labs(x[i]) <= 20)
            count[x[i] + 20]++;
        tail += fabs(v) >= 4 * sqrt(6.0);
    }
    double mean = s1 / n, var = s2 / n, kurt = s4 / n / (var * var) - 3;
    CHECK(fabs(mean) < 5 * sqrt(6.0 / n), "mean %g", mean);
    CHECK(fabs(var - 6.0) < 0.05, "variance %g, want 6", var);
    /* Skellam's excess kurtosis is 1 / variance; a normal's is 0 */
    CHECK(fabs(kurt - 1.0 / 6) < 0.03, "excess kurtosis %g, want %g", kurt, 1.0 / 6);
    double worst = 0, ptail = 0;
    for (long k = -20; k <= 20; k++) {
        double pk = skellam_pmf(k, 3.0), se = sqrt(pk * (1 - pk) / n) + 1e-12;
        double z = fabs(count[k + 20] / n - pk) / se;
        if (pk > 1e-6 && z > worst)
            worst = z;
    }
    for (long k = 10; k < 60; k++) /* 4 sd = 9.8: |X| >= 10 */
        ptail += 2 * skellam_pmf(k, 3.0);
    CHECK(worst < 5.0, "a probability of the sum %.2f standard errors off", worst);
    CHECK(fabs(tail / n - ptail) < 5 * sqrt(ptail / n), "tail %g, Skellam's %g", tail / n, ptail);
    free(x);
    fr_dp_rng_free(&r);
}

static void test_t_survivors_carry_the_noise(void)
{
    fr_skellam p = {
        .clip = 1, .sigma = 0.7, .nodes = 5, .threshold = 4, .dim = 200000, .users_max = 1000};
    fr_err err = {{0}};
    CHECK(fr_skellam_init(&p, &err) == FR_OK, "%s", err.msg);
    CHECK(fabs(p.lambda * 2 * 4 - p.mu) < 1e-6 * p.mu, "share lambda %g mu %g", p.lambda, p.mu);
    fr_dp_rng r;
    rng_for(&r, "survivors");
    int64_t *x = malloc(p.dim * sizeof *x);
    for (int shares = 4; shares <= 5; shares++) {
        sum_shares(&p, shares, &r, x);
        double s2 = 0;
        for (size_t i = 0; i < p.dim; i++)
            s2 += (double)x[i] * (double)x[i];
        double var = s2 / p.dim, want = p.mu * shares / 4;
        CHECK(fabs(var / want - 1) < 0.02, "%d of 5 shares: variance %g of %g (mu %g)", shares, var,
              want, p.mu);
        /* in real units the t survivors' noise is central DP-SGD's sigma C */
        if (shares == 4)
            CHECK(fabs(sqrt(var) / p.scale - 0.7) < 0.01, "stddev %g real units",
                  sqrt(var) / p.scale);
    }
    free(x);
    fr_dp_rng_free(&r);
}

static void test_rounding(void)
{
    enum { D = 64 };
    fr_skellam p = {.clip = 2, .sigma = 1, .nodes = 3, .threshold = 3, .dim = D, .users_max = 10};
    fr_err err = {{0}};
    CHECK(fr_skellam_init(&p, &err) == FR_OK, "%s", err.msg);
    p.scale = 4; /* coarse on purpose: the rounding error shows */
    p.l2 = fr_skellam_rounded_l2(p.scale * p.clip, D, FR_SKELLAM_BETA);
    float x[D] = {0};
    for (int i = 0; i < D; i += 2)
        x[i] = (float)(0.35 * sin(i + 1.0));
    double nx = 0;
    for (int i = 0; i < D; i++)
        nx += (double)x[i] * x[i];
    for (int i = 0; i < D; i++)
        x[i] = (float)(x[i] * 1.9 / sqrt(nx));
    fr_dp_rng r;
    rng_for(&r, "round");
    int32_t scratch[D];
    int64_t acc[D] = {0};
    enum { T = 20000 };
    int over = 0;
    for (int k = 0; k < T; k++) {
        int64_t one[D] = {0};
        CHECK(fr_skellam_round_add(&p, x, &r, scratch, one, &err) == FR_OK, "%s", err.msg);
        double n2 = 0;
        for (int i = 0; i < D; i++) {
            n2 += (double)one[i] * one[i];
            acc[i] += one[i];
            if (x[i] == 0 && one[i] != 0)
                over = 1;
        }
        if (sqrt(n2) > p.l2)
            over = 1;
    }
    CHECK(!over, "a rounding above the bound %g, or a zero that moved", p.l2);
    double worst = 0;
    for (int i = 0; i < D; i++) {
        double m = (double)acc[i] / T, want = p.scale * x[i];
        if (fabs(m - want) > worst)
            worst = fabs(m - want);
    }
    /* conditioning on the norm biases little; each mean's standard error is <= 0.0036 */
    CHECK(worst < 0.05, "rounded mean off by %g", worst);
    /* a float clip a few 1e-7 above C at a scale near 2^28: cut to C, not refused */
    fr_skellam fine = {
        .clip = 0.3, .sigma = 1e-4, .nodes = 3, .threshold = 3, .dim = D, .users_max = 4};
    CHECK(fr_skellam_init(&fine, &err) == FR_OK && fine.scale >= 0x1.0p27, "scale %g", fine.scale);
    float edge[D];
    for (int i = 0; i < D; i++)
        edge[i] = (float)(0.3 * (1 + 5e-7) / sqrt((double)D));
    int64_t eacc[D] = {0};
    CHECK(fr_skellam_round_add(&fine, edge, &r, scratch, eacc, &err) == FR_OK, "%s", err.msg);
    float big[D] = {0};
    big[3] = 2.5f;
    CHECK(fr_skellam_round_add(&p, big, &r, scratch, acc, &err) == FR_EINVAL &&
              strstr(err.msg, "above the clip"),
          "norm 2.5 over clip 2: %s", err.msg);
    big[3] = NAN;
    CHECK(fr_skellam_round_add(&p, big, &r, scratch, acc, &err) == FR_EINVAL, "NaN");
    fr_dp_rng_free(&r);
}

static void test_scale_and_refusals(void)
{
    fr_skellam p = {
        .clip = 1, .sigma = 0.6, .nodes = 4, .threshold = 3, .dim = 1000000, .users_max = 2500};
    fr_err err = {{0}};
    CHECK(fr_skellam_init(&p, &err) == FR_OK, "%s", err.msg);
    double margin = 45.05502692815519 / 3 + sqrt(45.05502692815519 * 45.05502692815519 / 9 +
                                                 2 * 45.05502692815519 * 4 * p.mu / 3);
    CHECK(p.users_max * p.l2 + margin <= 2147483647.0, "scale %g does not fit", p.scale);
    CHECK(p.clamp * 4 + margin <= 2147483647.0, "clamp %lld", (long long)p.clamp);
    double s2 = 2 * p.scale, l2 = fr_skellam_rounded_l2(s2, p.dim, FR_SKELLAM_BETA);
    CHECK(p.users_max * l2 > 2147483647.0 - 2 * margin, "scale %g is not the largest", p.scale);
    CHECK(p.l1 == p.l2 * 1000.0, "l1 %g", p.l1);
    fr_skellam bad = p;
    bad.threshold = 5;
    CHECK(fr_skellam_init(&bad, &err) == FR_EINVAL && strstr(err.msg, "threshold"), "t > n");
    bad = p;
    bad.sigma = 0;
    CHECK(fr_skellam_init(&bad, &err) == FR_EINVAL, "sigma 0");
    bad = p;
    bad.users_max = 0x7fffffffL;
    bad.clip = 1e9;
    CHECK(fr_skellam_init(&bad, &err) == FR_EINVAL && strstr(err.msg, "no scale"), "%s", err.msg);
}

/* 4 nodes, 30 users each: the decoded sum is the users' sum plus noise of sd sigma C
 * (every node survives here: sqrt(4/3) sigma C), clamped coordinates are counted. */
static void test_round_end_to_end(void)
{
    enum { D = 20000, USERS = 30, NODES = 4 };
    fr_skellam p = {.clip = 1,
                    .sigma = 0.5,
                    .nodes = NODES,
                    .threshold = 3,
                    .dim = D,
                    .users_max = NODES * USERS};
    fr_err err = {{0}};
    CHECK(fr_skellam_init(&p, &err) == FR_OK, "%s", err.msg);
    fr_dp_rng r;
    rng_for(&r, "round-e2e");
    float *x = malloc(D * sizeof *x), *out = malloc(D * sizeof *out);
    double *truth = calloc(D, sizeof *truth);
    int32_t *scratch = malloc(D * sizeof *scratch);
    int64_t *acc = malloc(D * sizeof *acc);
    uint32_t *one = malloc(D * sizeof *one), *sum = calloc(D, sizeof *sum);
    size_t clamped = 1;
    for (int node = 0; node < NODES; node++) {
        memset(acc, 0, D * sizeof *acc);
        for (int u = 0; u < USERS; u++) {
            double n2 = 0;
            for (int i = 0; i < D; i++) {
                x[i] = (float)((fr_dp_rng_uniform(&r) - 0.5) * (i % 7 == 0));
                n2 += (double)x[i] * x[i];
            }
            for (int i = 0; i < D; i++) {
                x[i] = (float)(x[i] / sqrt(n2) * 0.999);
                truth[i] += x[i];
            }
            CHECK(fr_skellam_round_add(&p, x, &r, scratch, acc, &err) == FR_OK, "%s", err.msg);
        }
        fr_skellam_share(&p, acc, &r, one, &clamped);
        CHECK(clamped == 0, "%zu coordinates clamped", clamped);
        for (int i = 0; i < D; i++)
            sum[i] += one[i];
    }
    fr_skellam_decode(&p, sum, out);
    double s1 = 0, s2 = 0;
    for (int i = 0; i < D; i++) {
        double e = out[i] - truth[i];
        s1 += e;
        s2 += e * e;
    }
    double sd = sqrt(s2 / D), want = 0.5 * sqrt(4.0 / 3);
    CHECK(fabs(s1 / D) < 5 * want / sqrt(D), "error mean %g", s1 / D);
    CHECK(fabs(sd / want - 1) < 0.03, "error sd %g, want %g", sd, want);
    /* a node whose sum runs past the clamp is cut there and says so */
    memset(acc, 0, D * sizeof *acc);
    acc[5] = p.clamp + 10;
    acc[6] = -p.clamp - 1;
    fr_skellam_share(&p, acc, &r, one, &clamped);
    CHECK(clamped == 2, "clamped %zu", clamped);
    int64_t v5 = (int32_t)one[5], v6 = (int32_t)one[6];
    CHECK(llabs(v5 - p.clamp) < 20 * sqrt(p.lambda * 2) + 20 &&
              llabs(v6 + p.clamp) < 20 * sqrt(p.lambda * 2) + 20,
          "clamped values %lld %lld, clamp %lld", (long long)v5, (long long)v6, (long long)p.clamp);
    free(x);
    free(out);
    free(truth);
    free(scratch);
    free(acc);
    free(one);
    free(sum);
    fr_dp_rng_free(&r);
}

static void test_accounting(void)
{
    /* independent values: Python, the bounds as plain sums (no logs) */
    CHECK(fabs(fr_rdp_skellam(100, 10, 150, 8) - 2.69) < 1e-12, "skellam rdp %.15g",
          fr_rdp_skellam(100, 10, 150, 8));
    CHECK(fabs(fr_rdp_sampled_skellam(0.01, 100, 10, 150, 8) - 0.00041980660303750448) < 1e-12,
          "sampled %.15g", fr_rdp_sampled_skellam(0.01, 100, 10, 150, 8));
    CHECK(fabs(fr_rdp_sampled_skellam(0.05, 2000, 40, 1600, 20) - 6.8538633424061857) < 1e-9,
          "sampled %.15g", fr_rdp_sampled_skellam(0.05, 2000, 40, 1600, 20));
    CHECK(fabs(fr_rdp_sampled_skellam(0.2, 50, 5, 30, 3) - 0.11736195452893011) < 1e-12,
          "sampled %.15g", fr_rdp_sampled_skellam(0.2, 50, 5, 30, 3));
    CHECK(fr_rdp_sampled_skellam(1.0, 100, 10, 150, 8) == fr_rdp_skellam(100, 10, 150, 8),
          "q = 1 is the mechanism itself");
    CHECK(fr_rdp_skellam(100, 10, 150, 7.2) == fr_rdp_skellam(100, 10, 150, 8), "next integer");

    fr_err err = {{0}};
    /* with sampling the bound is generic: never below the exact sampled Gaussian's
     * RDP at the same order, never above the unsampled mechanism's */
    fr_skellam p = {
        .clip = 1, .sigma = 0.8, .nodes = 4, .threshold = 3, .dim = 1000000, .users_max = 2000};
    CHECK(fr_skellam_init(&p, &err) == FR_OK, "%s", err.msg);
    for (int a = 2; a <= 64; a++) {
        double sg = fr_rdp_sampled_skellam(0.02, p.l1, p.l2, p.mu, a);
        double g = fr_rdp_sampled_gaussian(0.02, 0.8, a);
        CHECK(sg >= g * (1 - 1e-9) && sg <= fr_rdp_skellam(p.l1, p.l2, p.mu, a),
              "order %d: %g vs %g", a, sg, g);
    }
    fr_rdp a;
    fr_rdp_init(&a);
    CHECK(fr_rdp_compose_skellam(&a, 0.1, 1, 2, 10, 1, &err) == FR_EINVAL, "l1 < l2");
    CHECK(fr_rdp_compose_skellam(&a, 0, 2, 2, 10, 1, &err) == FR_EINVAL, "q 0");
    CHECK(fr_rdp_compose_skellam(&a, 0.1, 2, 2, 0, 1, &err) == FR_EINVAL, "mu 0");
}

static void test_ledger(void)
{
    tmp_ledger t;
    if (!open_tmp(&t, "skellam"))
        return;
    fr_err err = {{0}};
    fr_skellam p = {
        .clip = 1, .sigma = 0.9, .nodes = 4, .threshold = 3, .dim = 100000, .users_max = 2000};
    CHECK(fr_skellam_init(&p, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_dp_ledger_set_budget(&t.l, 4.0, 1e-6, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_dp_ledger_record_skellam(&t.l, 0.02, p.l1, p.l2, p.mu, 30, &err) == FR_OK, "%s",
          err.msg);
    CHECK(fr_dp_ledger_record(&t.l, 0.1, 2.0, 5, &err) == FR_OK, "%s", err.msg);
    double before = 0, after = 0, want = 0;
    CHECK(fr_dp_ledger_spent(&t.l, 1e-6, &before, &err) == FR_OK, "%s", err.msg);
    fr_rdp a;
    fr_rdp_init(&a);
    CHECK(fr_rdp_compose_skellam(&a, 0.02, p.l1, p.l2, p.mu, 30, &err) == FR_OK &&
              fr_rdp_compose(&a, 0.1, 2.0, 5, &err) == FR_OK &&
              fr_rdp_epsilon(&a, 1e-6, &want, NULL, &err) == FR_OK,
          "%s", err.msg);
    CHECK(before == want && before > 0, "spent %g, composed %g", before, want);
    fr_dp_ledger_close(&t.l);
    CHECK(fr_dp_ledger_open(&t.l, t.dir, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_dp_ledger_spent(&t.l, 1e-6, &after, &err) == FR_OK && after == before &&
              t.l.steps == 35,
          "after a restart %g (%ld steps), before %g", after, t.l.steps, before);
    /* the federation-wide rounds alone: the skellam records, not the node's own steps */
    double fdp = 0, fdp_want = 0;
    fr_rdp b;
    fr_rdp_init(&b);
    CHECK(fr_rdp_compose_skellam(&b, 0.02, p.l1, p.l2, p.mu, 30, &err) == FR_OK &&
              fr_rdp_epsilon(&b, 1e-6, &fdp_want, NULL, &err) == FR_OK &&
              fr_dp_ledger_fdp_spent(&t.l, 1e-6, &fdp, &err) == FR_OK,
          "%s", err.msg);
    CHECK(fdp == fdp_want && fdp < after && t.l.fdp_steps == 30, "federation-wide %g of %g (%ld)",
          fdp, after, t.l.fdp_steps);
    CHECK(fr_dp_ledger_check_skellam(&t.l, 0.02, p.l1, p.l2, p.mu, 1, &err) == FR_OK, "%s",
          err.msg);
    CHECK(fr_dp_ledger_check_skellam(&t.l, 0.02, p.l1, p.l2, p.mu, 100000, &err) == FR_EINVAL &&
              strstr(err.msg, "federation-wide rounds"),
          "%s", err.msg);
    close_tmp(&t);
}

int main(void)
{
    RUN(test_poisson_small);
    RUN(test_poisson_large);
    RUN(test_shares_sum_to_skellam);
    RUN(test_t_survivors_carry_the_noise);
    RUN(test_rounding);
    RUN(test_scale_and_refusals);
    RUN(test_round_end_to_end);
    RUN(test_accounting);
    RUN(test_ledger);
    return fr_test_end();
}
