/* Federated aggregation: the weighted mean is exact, deltas are read from any byte
 * address, a NaN, an infinity or a norm over the bound is refused by index or
 * number, FedAvg, FedAdam and FedYogi take two steps to values worked out by hand
 * from the update rules, a large aggregate (split over threads) agrees with a plain
 * loop, and the server optimiser file survives a round trip and refuses a flipped
 * byte, another size and a cut-off end. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fr_test.h"
#include "fr_test_files.h"
#include "fr_test_fixture.h"
#include "fed/fr_fedagg.h"
#include "privacy/fr_dp_recipe.h"

static char tmpdir[64];

/* n floats little-endian at buf + off. */
static void put_floats(uint8_t *buf, size_t off, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        for (int b = 0; b < 4; b++)
            buf[off + 4 * i + b] = (uint8_t)(u >> (8 * b));
    }
}

static void test_parse(void)
{
    fr_err err = {{0}};
    fr_agg_kind k = FR_AGG_FEDAVG;
    CHECK(fr_agg_kind_parse("fedyogi", &k, &err) == FR_OK && k == FR_AGG_FEDYOGI, "%d", k);
    CHECK(fr_agg_kind_parse("fedadam", &k, &err) == FR_OK && k == FR_AGG_FEDADAM, "%d", k);
    CHECK(fr_agg_kind_parse("fedavg", &k, &err) == FR_OK && k == FR_AGG_FEDAVG, "%d", k);
    CHECK(fr_agg_kind_parse("FedAvg", &k, &err) == FR_EINVAL && strstr(err.msg, "FedAvg"), "%s",
          err.msg);
    CHECK(strcmp(fr_agg_kind_name(FR_AGG_FEDADAM), "fedadam") == 0, "%s",
          fr_agg_kind_name(FR_AGG_FEDADAM));
    fr_agg_config c = fr_agg_config_default();
    CHECK(c.kind == FR_AGG_FEDAVG && c.server_lr == 1.0 && c.beta1 == 0.9 && c.beta2 == 0.99 &&
              c.tau == 1e-3,
          "defaults %g %g %g %g", c.server_lr, c.beta1, c.beta2, c.tau);
    CHECK(fr_agg_config_check(&c, &err) == FR_OK, "%s", err.msg);
    c.kind = FR_AGG_FEDADAM;
    c.beta2 = 1.0;
    CHECK(fr_agg_config_check(&c, &err) == FR_EINVAL && strstr(err.msg, "beta2"), "%s", err.msg);
}

/* The rate a coordinator takes when none is set. */
static void test_default_server_lr(void)
{
    CHECK(fr_agg_default_server_lr(FR_AGG_FEDAVG, 0, 100, 0.9) == 1.0, "%g",
          fr_agg_default_server_lr(FR_AGG_FEDAVG, 0, 100, 0.9));
    CHECK(fr_agg_default_server_lr(FR_AGG_FEDAVG, 1, 100, 0.9) == 1.0, "%g",
          fr_agg_default_server_lr(FR_AGG_FEDAVG, 1, 100, 0.9));
    CHECK(fabs(fr_agg_default_server_lr(FR_AGG_FEDAVGM, 0, 100, 0.8) - 0.2) < 1e-15, "%g",
          fr_agg_default_server_lr(FR_AGG_FEDAVGM, 0, 100, 0.8));
    CHECK(fr_agg_default_server_lr(FR_AGG_FEDADAM, 0, 100, 0.9) == 0.01, "%g",
          fr_agg_default_server_lr(FR_AGG_FEDADAM, 0, 100, 0.9));
    CHECK(fr_agg_default_server_lr(FR_AGG_FEDYOGI, 1, 40, 0.9) == fr_dp_recipe_server_lr(40), "%g",
          fr_agg_default_server_lr(FR_AGG_FEDYOGI, 1, 40, 0.9));
    CHECK(fr_agg_default_server_lr(FR_AGG_FEDADAM, 1, 20, 0.9) == 0.05, "%g",
          fr_agg_default_server_lr(FR_AGG_FEDADAM, 1, 20, 0.9));
}

/* k deltas of n = 4 coordinates, delta j = scale_j e_j (orthogonal) or all e_0
 * (agreeing), each with its weight and squared norm, into a fresh aggregate. */
static void agg_of(fr_agg *a, int k, const double *w, const double *scale, int agree)
{
    fr_err err = {{0}};
    CHECK(fr_agg_init(a, 4, &err) == FR_OK, "%s", err.msg);
    for (int j = 0; j < k; j++) {
        float d[4] = {0};
        d[agree ? 0 : j] = (float)scale[j];
        fr_agg_add(a, d, w[j]);
        fr_agg_add_sqnorm(a, w[j] * scale[j] * scale[j], 1);
    }
}

/* FedAvg's extrapolation: sum p_i |d_i|^2 / (2 |mean|^2), cut to [1, 2]. */
static void test_extrapolation(void)
{
    fr_agg_config c = fr_agg_config_default();
    c.extrapolate = 1;
    const double one[4] = {1, 1, 1, 1}, w3[3] = {2, 1, 1};
    fr_agg a;
    /* three equal orthogonal deltas: mean |.|^2 = 3 / 9, mean of |.|^2 = 1: 3 / 2 */
    agg_of(&a, 3, one, one, 0);
    CHECK(fabs(fr_agg_extrapolation(&a, &c) - 1.5) < 1e-12, "%g", fr_agg_extrapolation(&a, &c));
    /* the same step applied: params move by 1.5 x the mean, 0.5 each */
    fr_server_opt o = {0};
    fr_err err = {{0}};
    float p[4] = {0};
    CHECK(fr_server_opt_init(&o, 4, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_agg_apply(&a, &c, &o, p, &err) == FR_OK, "%s", err.msg);
    CHECK(fabsf(p[0] - 0.5f) < 1e-6f && fabsf(p[2] - 0.5f) < 1e-6f && p[3] == 0.0f, "%g %g %g %g",
          (double)p[0], (double)p[1], (double)p[2], (double)p[3]);
    CHECK(fabs(o.stretch - 1.5) < 1e-12, "the step's factor for the log: %g", o.stretch);
    /* off, or another kind: the mean itself */
    c.extrapolate = 0;
    CHECK(fr_agg_extrapolation(&a, &c) == 1.0, "%g", fr_agg_extrapolation(&a, &c));
    c.extrapolate = 1;
    c.kind = FR_AGG_FEDAVGM;
    CHECK(fr_agg_extrapolation(&a, &c) == 1.0, "%g", fr_agg_extrapolation(&a, &c));
    c.kind = FR_AGG_FEDAVG;
    /* one delta without its squared norm: no extrapolation */
    float d[4] = {0, 0, 0, 1};
    fr_agg_add(&a, d, 1);
    CHECK(fr_agg_extrapolation(&a, &c) == 1.0, "%g", fr_agg_extrapolation(&a, &c));
    fr_agg_free(&a);
    /* four orthogonal: 4 / 2 = 2, the cap; weighted 2, 1, 1 orthogonal: p = 1/2, 1/4,
     * 1/4, mean |.|^2 = 1/4 + 1/16 + 1/16 = 3/8, so 1 / (2 x 3/8) = 4/3 */
    agg_of(&a, 4, one, one, 0);
    CHECK(fr_agg_extrapolation(&a, &c) == FR_AGG_EXTRAP_MAX, "%g", fr_agg_extrapolation(&a, &c));
    fr_agg_free(&a);
    agg_of(&a, 3, w3, one, 0);
    CHECK(fabs(fr_agg_extrapolation(&a, &c) - 4.0 / 3.0) < 1e-12, "%g",
          fr_agg_extrapolation(&a, &c));
    fr_agg_free(&a);
    /* agreeing deltas: the ratio is 1, half of it under 1: no extrapolation; two
     * orthogonal: exactly 1 */
    agg_of(&a, 3, one, one, 1);
    CHECK(fr_agg_extrapolation(&a, &c) == 1.0, "%g", fr_agg_extrapolation(&a, &c));
    fr_agg_free(&a);
    agg_of(&a, 2, one, one, 0);
    CHECK(fabs(fr_agg_extrapolation(&a, &c) - 1.0) < 1e-12, "%g", fr_agg_extrapolation(&a, &c));
    fr_agg_free(&a);
    /* a node that overstates its norm a thousandfold moves the step to the cap, no
     * further; deltas that cancel (mean zero) give 1 */
    agg_of(&a, 3, one, one, 0);
    fr_agg_add_sqnorm(&a, 1000.0, 0);
    CHECK(fr_agg_extrapolation(&a, &c) == FR_AGG_EXTRAP_MAX, "%g", fr_agg_extrapolation(&a, &c));
    fr_agg_free(&a);
    CHECK(fr_agg_init(&a, 4, &err) == FR_OK, "%s", err.msg);
    float up[4] = {1, 0, 0, 0}, down[4] = {-1, 0, 0, 0};
    fr_agg_add(&a, up, 1);
    fr_agg_add(&a, down, 1);
    fr_agg_add_sqnorm(&a, 2, 2);
    CHECK(fr_agg_extrapolation(&a, &c) == 1.0, "%g", fr_agg_extrapolation(&a, &c));
    /* the next round starts without squared norms */
    fr_agg_reset(&a);
    CHECK(a.sqsum == 0 && a.sq_count == 0, "%g %d", a.sqsum, a.sq_count);
    fr_agg_free(&a);
    fr_server_opt_free(&o);
    /* the operator's setting */
    int on = -1;
    CHECK(fr_agg_extrapolation_parse("auto", FR_AGG_FEDAVG, 0, &on, &err) == FR_OK && on == 1, "%d",
          on);
    CHECK(fr_agg_extrapolation_parse("auto", FR_AGG_FEDAVG, 1, &on, &err) == FR_OK && on == 0, "%d",
          on);
    CHECK(fr_agg_extrapolation_parse("auto", FR_AGG_FEDADAM, 0, &on, &err) == FR_OK && on == 0,
          "%d", on);
    CHECK(fr_agg_extrapolation_parse("off", FR_AGG_FEDAVG, 0, &on, &err) == FR_OK && on == 0, "%d",
          on);
    CHECK(fr_agg_extrapolation_parse("on", FR_AGG_FEDYOGI, 0, &on, &err) == FR_EINVAL &&
              strstr(err.msg, "fedyogi"),
          "%s", err.msg);
    CHECK(fr_agg_extrapolation_parse("on", FR_AGG_FEDAVG, 1, &on, &err) == FR_EINVAL &&
              strstr(err.msg, "dp-federation"),
          "%s", err.msg);
    CHECK(fr_agg_extrapolation_parse("yes", FR_AGG_FEDAVG, 0, &on, &err) == FR_EINVAL &&
              strstr(err.msg, "'yes'"),
          "%s", err.msg);
}

static void test_weighted_mean(void)
{
    fr_err err = {{0}};
    fr_agg a = {0};
    fr_server_opt o = {0};
    if (fr_agg_init(&a, 3, &err) || fr_server_opt_init(&o, 3, &err)) {
        CHECK(0, "%s", err.msg);
        goto out;
    }
    const float d1[3] = {1, -2, 0.5f}, d2[3] = {3, 2, -0.5f};
    uint8_t buf[1 + 12];
    put_floats(buf, 1, d1, 3); /* at an odd address, as inside a msgpack bin */
    fr_agg_add_le(&a, buf + 1, 1.0);
    fr_agg_add(&a, d2, 3.0);
    CHECK(a.count == 2 && a.weight == 4.0, "count %d weight %g", a.count, a.weight);
    CHECK(a.sum[0] == 10 && a.sum[1] == 4 && a.sum[2] == -1, "sum %g %g %g", a.sum[0], a.sum[1],
          a.sum[2]);
    float p[3] = {0, 0, 0};
    fr_agg_config c = fr_agg_config_default();
    CHECK(fr_agg_apply(&a, &c, &o, p, &err) == FR_OK, "%s", err.msg);
    CHECK(p[0] == 2.5f && p[1] == 1.0f && p[2] == -0.25f, "mean %g %g %g", p[0], p[1], p[2]);
    CHECK(o.step == 1, "step %ld", o.step);
    fr_agg_reset(&a);
    CHECK(a.count == 0 && a.weight == 0 && a.sum[0] == 0, "reset %d %g", a.count, a.sum[0]);
    CHECK(fr_agg_apply(&a, &c, &o, p, &err) == FR_ENODATA, "%s", err.msg);
    CHECK(p[0] == 2.5f && o.step == 1, "unchanged on refusal %g %ld", p[0], o.step);
out:
    fr_agg_free(&a);
    fr_server_opt_free(&o);
}

static void test_unaligned_large(void)
{
    /* Large enough to be split over threads; every offset 0..3 must read the same. */
    enum { N = (1 << 20) + 3 };
    fr_err err = {{0}};
    float *d = malloc(sizeof(float) * N);
    uint8_t *buf = malloc(4 * (size_t)N + 4);
    fr_agg a[4] = {{0}};
    if (!d || !buf)
        goto out;
    for (size_t i = 0; i < N; i++)
        d[i] = (float)((double)(i % 97) - 48.5) / 16.0f;
    for (int off = 0; off < 4; off++) {
        if (fr_agg_init(&a[off], N, &err)) {
            CHECK(0, "%s", err.msg);
            goto out;
        }
        put_floats(buf, (size_t)off, d, N);
        fr_agg_add_le(&a[off], buf + off, 2.0);
        fr_agg_add_le(&a[off], buf + off, 0.5);
    }
    size_t bad = 0;
    for (size_t i = 0; i < N; i++) {
        double want = 2.5 * (double)d[i];
        for (int off = 0; off < 4; off++)
            bad += a[off].sum[i] != want;
    }
    CHECK(bad == 0, "%zu coordinates differ from 2.5 * delta", bad);
    double norm = 0, want = 0;
    for (size_t i = 0; i < N; i++)
        want += (double)d[i] * d[i];
    want = sqrt(want);
    CHECK(fr_agg_check_le(buf + 3, N, 0, &norm, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_rel_err(norm, want) < 1e-12, "norm %.17g want %.17g", norm, want);
out:
    for (int off = 0; off < 4; off++)
        fr_agg_free(&a[off]);
    free(d);
    free(buf);
}

static void test_check_refusals(void)
{
    fr_err err = {{0}};
    float x[21];
    uint8_t buf[1 + sizeof x];
    for (int i = 0; i < 21; i++)
        x[i] = 0;
    x[0] = 3;
    x[20] = 4; /* norm 5, the last coordinate in the scalar tail */
    double norm = -1;
    put_floats(buf, 1, x, 21);
    CHECK(fr_agg_check_le(buf + 1, 21, 5.0, &norm, &err) == FR_OK && norm == 5.0, "norm %g: %s",
          norm, err.msg);
    CHECK(fr_agg_check_le(buf + 1, 21, 5.0 * (1 + 1e-7), NULL, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_agg_check_le(buf + 1, 21, 4.99, &norm, &err) == FR_EINVAL &&
              strstr(err.msg, "norm 5 ") && strstr(err.msg, "4.99"),
          "%s", err.msg);
    x[13] = NAN;
    put_floats(buf, 1, x, 21);
    CHECK(fr_agg_check_le(buf + 1, 21, 0, &norm, &err) == FR_EINVAL &&
              strstr(err.msg, "coordinate 13 ") && strstr(err.msg, "NaN"),
          "%s", err.msg);
    x[13] = 1;
    x[19] = -INFINITY;
    x[20] = INFINITY;
    put_floats(buf, 1, x, 21);
    CHECK(fr_agg_check_le(buf + 1, 21, 0, &norm, &err) == FR_EINVAL &&
              strstr(err.msg, "coordinate 19 ") && strstr(err.msg, "infinite"),
          "%s", err.msg);
    /* The largest finite floats square to no overflow: finite, only too long. */
    x[19] = x[20] = 3.4e38f;
    put_floats(buf, 1, x, 21);
    CHECK(fr_agg_check_le(buf + 1, 21, 0, &norm, &err) == FR_OK && norm > 4.8e38, "%g: %s", norm,
          err.msg);
}

/* Two rounds on params {0.5, -0.25}: round 1 averages {1, -2} (weight 1) and {3, 2}
 * (weight 3) into Delta = {2.5, 1}, round 2 is {-1, 0.5} alone (weight 2). */
static int two_steps(fr_agg_kind kind, double lr, float p[2], fr_server_opt *o)
{
    fr_err err = {{0}};
    fr_agg a = {0};
    int rc = -1;
    fr_agg_config c = fr_agg_config_default();
    c.kind = kind;
    c.server_lr = lr;
    p[0] = 0.5f;
    p[1] = -0.25f;
    const float d1[2] = {1, -2}, d2[2] = {3, 2}, d3[2] = {-1, 0.5f};
    if (fr_agg_init(&a, 2, &err) || fr_server_opt_init(o, 2, &err))
        goto out;
    fr_agg_add(&a, d1, 1);
    fr_agg_add(&a, d2, 3);
    if (fr_agg_apply(&a, &c, o, p, &err))
        goto out;
    fr_agg_reset(&a);
    fr_agg_add(&a, d3, 2);
    if (fr_agg_apply(&a, &c, o, p, &err))
        goto out;
    rc = 0;
out:
    CHECK(rc == 0, "%s: %s", fr_agg_kind_name(kind), err.msg);
    fr_agg_free(&a);
    return rc;
}

static void test_fedavg(void)
{
    float p[2];
    fr_server_opt o = {0};
    if (two_steps(FR_AGG_FEDAVG, 0.5, p, &o) == 0) {
        /* 0.5 + 0.5 * 2.5 - 0.5 * 1 = 1.25; -0.25 + 0.5 * 1 + 0.5 * 0.5 = 0.5 */
        CHECK(p[0] == 1.25f && p[1] == 0.5f, "%g %g", p[0], p[1]);
        CHECK(o.step == 2 && o.m[0] == 0 && o.v[1] == 0, "step %ld m %g v %g", o.step, o.m[0],
              o.v[1]);
    }
    fr_server_opt_free(&o);
}

static int close_to(double got, double want)
{
    return fr_rel_err(got, want) < 2e-7;
}

static void test_fedadam(void)
{
    /* lr 0.1, beta1 0.9, beta2 0.99, tau 1e-3, v starting at tau^2 = 1e-6.
     * Step 1: m = 0.1 * {2.5, 1} = {0.25, 0.1};
     *         v = 0.99e-6 + 0.01 * {6.25, 1} = {0.06250099, 0.01000099};
     *         p += 0.1 m / (sqrt(v) + 1e-3) = {0.0996008, 0.0990050}.
     * Step 2: m = 0.9 m + 0.1 {-1, 0.5} = {0.125, 0.14};
     *         v = 0.99 v + 0.01 {1, 0.25} = {0.0718759801, 0.0124009801};
     *         p += {0.0464516, 0.1245999}. */
    float p[2];
    fr_server_opt o = {0};
    if (two_steps(FR_AGG_FEDADAM, 0.1, p, &o) == 0) {
        CHECK(close_to(p[0], 0.64605242) && close_to(p[1], -0.0263951067), "%.9g %.9g", p[0], p[1]);
        CHECK(close_to(o.m[0], 0.125) && close_to(o.m[1], 0.14), "m %.9g %.9g", o.m[0], o.m[1]);
        CHECK(close_to(o.v[0], 0.0718759801) && close_to(o.v[1], 0.0124009801), "v %.9g %.9g",
              o.v[0], o.v[1]);
        CHECK(o.step == 2, "%ld", o.step);
    }
    fr_server_opt_free(&o);
}

static void test_fedyogi(void)
{
    /* As FedAdam, but v = v - 0.01 Delta^2 sign(v - Delta^2), and every Delta^2 here
     * exceeds v, so v only grows by 0.01 Delta^2:
     * Step 1: v = 1e-6 + {0.0625, 0.01} = {0.062501, 0.010001}; p = {0.599600792,
     *         -0.150995001}.
     * Step 2: v = {0.072501, 0.012501}; p += 0.1 {0.125, 0.14} / (sqrt(v) + 1e-3)
     *         = {0.0462517, 0.1241048}. */
    float p[2];
    fr_server_opt o = {0};
    if (two_steps(FR_AGG_FEDYOGI, 0.1, p, &o) == 0) {
        CHECK(close_to(p[0], 0.645852506) && close_to(p[1], -0.0268901847), "%.9g %.9g", p[0],
              p[1]);
        CHECK(close_to(o.v[0], 0.072501) && close_to(o.v[1], 0.012501), "v %.9g %.9g", o.v[0],
              o.v[1]);
    }
    fr_server_opt_free(&o);
    /* Where v exceeds Delta^2, Yogi lowers v by (1 - beta2) Delta^2 where Adam would
     * decay it by beta2: a first Delta of 0 leaves v at tau^2 = 1e-6 (Adam: 0.99e-6),
     * then a Delta of 1e-4 (Delta^2 = 1e-8 < v) takes it to 1e-6 - 0.01 * 1e-8. */
    fr_err err = {{0}};
    fr_agg a = {0};
    float q[1] = {0};
    const float zero[1] = {0}, small[1] = {1e-4f};
    fr_agg_config c = fr_agg_config_default();
    c.kind = FR_AGG_FEDYOGI;
    if (fr_agg_init(&a, 1, &err) || fr_server_opt_init(&o, 1, &err)) {
        CHECK(0, "%s", err.msg);
        goto out;
    }
    fr_agg_add(&a, zero, 1);
    CHECK(fr_agg_apply(&a, &c, &o, q, &err) == FR_OK, "%s", err.msg);
    CHECK(close_to(o.v[0], 1e-6) && q[0] == 0, "v %.9g q %g", o.v[0], q[0]);
    fr_agg_reset(&a);
    fr_agg_add(&a, small, 1);
    CHECK(fr_agg_apply(&a, &c, &o, q, &err) == FR_OK, "%s", err.msg);
    CHECK(close_to(o.v[0], 1e-6 - 0.01 * (double)small[0] * small[0]), "v %.12g", o.v[0]);
out:
    fr_agg_free(&a);
    fr_server_opt_free(&o);
}

static void test_save_load(void)
{
    enum { N = 5000 }; /* more than one write piece */
    fr_err err = {{0}};
    fr_server_opt o = {0}, r = {0}, other = {0};
    char path[128], bad[160];
    uint8_t *img = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/server-opt", tmpdir);
    if (fr_server_opt_init(&o, N, &err) || fr_server_opt_init(&r, 3, &err)) {
        CHECK(0, "%s", err.msg);
        goto out;
    }
    for (size_t i = 0; i < N; i++) {
        o.m[i] = (float)i * 0.25f - 7.0f;
        o.v[i] = 1.0f / (float)(i + 1);
    }
    o.step = 42;
    CHECK(fr_server_opt_save(&o, path, &err) == FR_OK, "%s", err.msg);
    snprintf(bad, sizeof bad, "%s.tmp", path);
    CHECK(file_exists(path) && !file_exists(bad), "saved without a leftover %s", bad);
    /* r was initialised for another size: loading replaces its memory. */
    CHECK(fr_server_opt_load(&r, N, path, &err) == FR_OK, "%s", err.msg);
    CHECK(r.n == N && r.step == 42 && memcmp(r.m, o.m, sizeof(float) * N) == 0 &&
              memcmp(r.v, o.v, sizeof(float) * N) == 0,
          "roundtrip n %zu step %ld", r.n, r.step);
    img = read_all(path, &len);
    CHECK(img && len == 24 + 8 * (size_t)N + 4 && memcmp(img, "FRSOPT1\n", 8) == 0 &&
              img[8] == (N & 0xff) && img[16] == 42,
          "file of %zu bytes", len);
    if (!img || len < 100)
        goto out;

    CHECK(fr_server_opt_load(&other, N + 1, path, &err) == FR_EINVAL && strstr(err.msg, "5000") &&
              strstr(err.msg, path),
          "%s", err.msg);
    CHECK(other.m == NULL && other.n == 0, "left as it was");

    snprintf(bad, sizeof bad, "%s/flipped", tmpdir);
    img[24 + 4 * N + 7] ^= 0x10; /* a byte of v */
    write_all(bad, img, len);
    CHECK(fr_server_opt_load(&other, N, bad, &err) == FR_ECHECKSUM && strstr(err.msg, bad), "%s",
          err.msg);
    img[24 + 4 * N + 7] ^= 0x10;
    img[16] ^= 0x01; /* the step */
    write_all(bad, img, len);
    CHECK(fr_server_opt_load(&other, N, bad, &err) == FR_ECHECKSUM, "%s", err.msg);
    img[16] ^= 0x01;

    write_all(bad, img, len - 1);
    CHECK(fr_server_opt_load(&other, N, bad, &err) == FR_EFORMAT && strstr(err.msg, "truncated"),
          "%s", err.msg);
    write_all(bad, img, 20);
    CHECK(fr_server_opt_load(&other, N, bad, &err) == FR_EFORMAT && strstr(err.msg, "truncated"),
          "%s", err.msg);
    img[0] = 'X';
    write_all(bad, img, len);
    CHECK(fr_server_opt_load(&other, N, bad, &err) == FR_EFORMAT && strstr(err.msg, "magic"), "%s",
          err.msg);
    snprintf(bad, sizeof bad, "%s/missing", tmpdir);
    CHECK(fr_server_opt_load(&other, N, bad, &err) == FR_EIO && strstr(err.msg, bad), "%s",
          err.msg);
    CHECK(other.m == NULL, "untouched by failures");
    /* r still holds the good state after the failed loads into other. */
    CHECK(r.step == 42 && r.m[N - 1] == o.m[N - 1], "r %ld", r.step);
out:
    free(img);
    fr_server_opt_free(&o);
    fr_server_opt_free(&r);
    fr_server_opt_free(&other);
}

int main(void)
{
    if (!fixture_dir(tmpdir, sizeof tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_parse);
    RUN(test_default_server_lr);
    RUN(test_extrapolation);
    RUN(test_weighted_mean);
    RUN(test_unaligned_large);
    RUN(test_check_refusals);
    RUN(test_fedavg);
    RUN(test_fedadam);
    RUN(test_fedyogi);
    RUN(test_save_load);
    fixture_rm(tmpdir);
    return fr_test_end();
}
