/* The federated optimiser beyond FedAvg's step: FedAvgM takes two steps to values
 * worked out by hand, the cosine schedule's rates at its start, middle and end, the
 * server state (momentum, moments, the schedule's step) carried through a save and a
 * load continues exactly as an uninterrupted run (a coordinator restart), bad
 * settings are refused by name, auto local epochs follow the sites, and a node's
 * Adam moments go through the file into a fresh model unchanged, while moments that
 * would poison training are refused with the coordinate. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fr_test.h"
#include "fr_test_fixture.h"
#include "backend/fr_backend.h"
#include "fed/fr_fedagg.h"
#include "fed/fr_fedopt.h"
#include "nn/fr_model.h"
#include "nn/fr_train.h"

static char tmpdir[64];

static void test_parse(void)
{
    fr_err err = {{0}};
    fr_agg_kind k = FR_AGG_FEDAVG;
    CHECK(fr_agg_kind_parse("fedavgm", &k, &err) == FR_OK && k == FR_AGG_FEDAVGM, "%d", k);
    CHECK(strcmp(fr_agg_kind_name(FR_AGG_FEDAVGM), "fedavgm") == 0, "%s",
          fr_agg_kind_name(FR_AGG_FEDAVGM));
    fr_agg_schedule s = FR_AGG_LR_CONSTANT;
    CHECK(fr_agg_schedule_parse("cosine", &s, &err) == FR_OK && s == FR_AGG_LR_COSINE, "%d", s);
    CHECK(fr_agg_schedule_parse("linear", &s, &err) == FR_EINVAL && strstr(err.msg, "linear"), "%s",
          err.msg);
    fr_agg_config c = fr_agg_config_default();
    CHECK(c.schedule == FR_AGG_LR_CONSTANT && !fr_agg_keeps_state(&c), "plain FedAvg keeps none");
    c.schedule = FR_AGG_LR_COSINE;
    CHECK(fr_agg_keeps_state(&c), "a schedule keeps its step");
    CHECK(fr_agg_config_check(&c, &err) == FR_EINVAL && strstr(err.msg, "rounds"), "%s", err.msg);
    c.rounds = 10;
    CHECK(fr_agg_config_check(&c, &err) == FR_OK, "%s", err.msg);
    c.kind = FR_AGG_FEDAVGM;
    c.beta1 = 1.0;
    CHECK(fr_agg_config_check(&c, &err) == FR_EINVAL && strstr(err.msg, "beta1"), "%s", err.msg);
    c.beta1 = 0.9;
    c.beta2 = 7; /* not FedAvgM's: not checked */
    CHECK(fr_agg_config_check(&c, &err) == FR_OK, "%s", err.msg);
    c.schedule = (fr_agg_schedule)9;
    CHECK(fr_agg_config_check(&c, &err) == FR_EINVAL && strstr(err.msg, "schedule"), "%s", err.msg);
}

static void test_schedule(void)
{
    fr_agg_config c = fr_agg_config_default();
    c.server_lr = 2.0;
    CHECK(fr_agg_lr_at(&c, 0) == 2.0 && fr_agg_lr_at(&c, 1000) == 2.0, "constant");
    c.schedule = FR_AGG_LR_COSINE;
    c.rounds = 100;
    /* 2 (0.1 + 0.9 (1 + cos(pi x)) / 2): 2 at x = 0, 1.1 at x = 1/2, 0.2 at x >= 1 */
    CHECK(fr_agg_lr_at(&c, 0) == 2.0, "%.17g", fr_agg_lr_at(&c, 0));
    CHECK(fabs(fr_agg_lr_at(&c, 50) - 1.1) < 1e-12, "%.17g", fr_agg_lr_at(&c, 50));
    CHECK(fabs(fr_agg_lr_at(&c, 100) - 0.2) < 1e-12 && fabs(fr_agg_lr_at(&c, 500) - 0.2) < 1e-12,
          "%.17g %.17g", fr_agg_lr_at(&c, 100), fr_agg_lr_at(&c, 500));
    CHECK(fr_agg_lr_at(&c, 10) > fr_agg_lr_at(&c, 11), "decreasing");
}

static int close_to(double got, double want)
{
    return fr_rel_err(got, want) < 2e-7;
}

static void test_fedavgm(void)
{
    /* lr 0.5, beta 0.9 on p = {0.5, -0.25}. Round 1: Delta = ({1, -2} + 3 {3, 2}) / 4
     * = {2.5, 1}, m = {2.5, 1}, p = {1.75, 0.25}. Round 2: Delta = {-1, 0.5},
     * m = 0.9 {2.5, 1} + {-1, 0.5} = {1.25, 1.4}, p = {2.375, 0.95}. */
    fr_err err = {{0}};
    fr_agg a = {0};
    fr_server_opt o = {0};
    float p[2] = {0.5f, -0.25f};
    const float d1[2] = {1, -2}, d2[2] = {3, 2}, d3[2] = {-1, 0.5f};
    fr_agg_config c = fr_agg_config_default();
    c.kind = FR_AGG_FEDAVGM;
    c.server_lr = 0.5;
    if (fr_agg_init(&a, 2, &err) || fr_server_opt_init(&o, 2, &err)) {
        CHECK(0, "%s", err.msg);
        goto out;
    }
    fr_agg_add(&a, d1, 1);
    fr_agg_add(&a, d2, 3);
    CHECK(fr_agg_apply(&a, &c, &o, p, &err) == FR_OK, "%s", err.msg);
    CHECK(p[0] == 1.75f && p[1] == 0.25f && o.m[0] == 2.5f && o.m[1] == 1.0f, "%g %g m %g %g", p[0],
          p[1], o.m[0], o.m[1]);
    fr_agg_reset(&a);
    fr_agg_add(&a, d3, 2);
    CHECK(fr_agg_apply(&a, &c, &o, p, &err) == FR_OK, "%s", err.msg);
    CHECK(close_to(p[0], 2.375) && close_to(p[1], 0.95), "%.9g %.9g", p[0], p[1]);
    CHECK(close_to(o.m[0], 1.25) && close_to(o.m[1], 1.4) && o.v[0] == 0 && o.step == 2,
          "m %.9g %.9g v %g step %ld", o.m[0], o.m[1], o.v[0], o.step);
out:
    fr_agg_free(&a);
    fr_server_opt_free(&o);
}

/* Six rounds of kind k with a cosine schedule over 6 rounds, on deltas that change
 * each round: straight through, and with the state saved after round 3 and loaded
 * into a new struct, as a restarted coordinator does. The parameters, the moments
 * and the step must agree bit for bit. */
static void restart_case(fr_agg_kind k, double lr)
{
    enum { N = 7, R = 6, CUT = 3 };
    fr_err err = {{0}};
    fr_agg a = {0};
    fr_server_opt o1 = {0}, o2 = {0};
    float p1[N], p2[N], d[N + 1]; /* N + 1: the second node's delta reads d + 1 */
    char path[128];
    snprintf(path, sizeof path, "%s/opt-%s", tmpdir, fr_agg_kind_name(k));
    fr_agg_config c = fr_agg_config_default();
    c.kind = k;
    c.server_lr = lr;
    c.schedule = FR_AGG_LR_COSINE;
    c.rounds = R;
    if (fr_agg_init(&a, N, &err) || fr_server_opt_init(&o1, N, &err) ||
        fr_server_opt_init(&o2, N, &err)) {
        CHECK(0, "%s", err.msg);
        goto out;
    }
    for (int i = 0; i < N; i++)
        p1[i] = p2[i] = 0.1f * (float)i - 0.3f;
    for (int r = 0; r < R; r++) {
        for (int i = 0; i <= N; i++)
            d[i] = (float)sin(1.0 + r * N + i) * 0.05f;
        for (int pass = 0; pass < 2; pass++) {
            fr_agg_reset(&a);
            fr_agg_add(&a, d, 1.0 + r);
            fr_agg_add(&a, d + 1, 2.0); /* another node's delta: the same shifted by one */
            if (pass == 0) {
                CHECK(fr_agg_apply(&a, &c, &o1, p1, &err) == FR_OK, "%s", err.msg);
            } else {
                CHECK(fr_agg_apply(&a, &c, &o2, p2, &err) == FR_OK, "%s", err.msg);
            }
        }
        if (r == CUT - 1) {
            fr_server_opt back = {0};
            CHECK(fr_server_opt_save(&o2, path, &err) == FR_OK, "%s", err.msg);
            fr_server_opt_free(&o2);
            CHECK(fr_server_opt_load(&back, N, path, &err) == FR_OK, "%s", err.msg);
            o2 = back;
            CHECK(o2.step == CUT, "step %ld after the load", o2.step);
        }
    }
    CHECK(o1.step == R && o2.step == R, "%ld %ld", o1.step, o2.step);
    CHECK(memcmp(p1, p2, sizeof p1) == 0, "%s: parameters differ after the restart",
          fr_agg_kind_name(k));
    CHECK(o1.m && o2.m && memcmp(o1.m, o2.m, N * sizeof(float)) == 0 &&
              memcmp(o1.v, o2.v, N * sizeof(float)) == 0,
          "%s: moments differ", fr_agg_kind_name(k));
out:
    fr_agg_free(&a);
    fr_server_opt_free(&o1);
    fr_server_opt_free(&o2);
}

static void test_restart(void)
{
    restart_case(FR_AGG_FEDAVG, 1.0);
    restart_case(FR_AGG_FEDAVGM, 0.1);
    restart_case(FR_AGG_FEDADAM, 0.01);
    restart_case(FR_AGG_FEDYOGI, 0.01);
    /* and the state matters: a run that forgets it (fresh struct, step 0) at round 3
     * of a cosine FedAvgM ends elsewhere: checked by the rate it uses */
    fr_agg_config c = fr_agg_config_default();
    c.schedule = FR_AGG_LR_COSINE;
    c.rounds = 6;
    CHECK(fr_agg_lr_at(&c, 3) < fr_agg_lr_at(&c, 0), "the schedule moved");
}

static void test_local_epochs(void)
{
    CHECK(fr_fedopt_local_epochs(2, 5) == 2, "configured");
    CHECK(fr_fedopt_local_epochs(0, 3) == 3, "auto: one per site");
    CHECK(fr_fedopt_local_epochs(0, 4) == 4, "auto: one per site");
    CHECK(fr_fedopt_local_epochs(0, 1) == 1 && fr_fedopt_local_epochs(0, 0) == 1, "at least 1");
}

static void test_moments(void)
{
    const fr_backend *be = fr_backend_cpu();
    fr_model_config mc = {
        .num_items = 9, .token_vocab = 11, .num_tokens = 2, .dim = 4, .filters = 3};
    int32_t tokens[9 * 2] = {0};
    for (int i = 1; i < 9; i++)
        tokens[2 * i] = 1 + i % 10;
    fr_model a = {0}, b = {0};
    fr_server_opt o = {0}, back = {0};
    fr_err err = {{0}};
    char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, FR_FEDOPT_MOMENTS_FILE);
    if (fr_model_init(&a, &mc, be, tokens, NULL, &err) ||
        fr_model_init(&b, &mc, be, tokens, NULL, &err)) {
        CHECK(0, "%s", err.msg);
        goto out;
    }
    fr_model_init_params(&a, 3);
    fr_model_init_params(&b, 3);
    /* two Adam steps on made-up gradients give a its moments */
    for (int s = 0; s < 2; s++) {
        for (size_t i = 0; i < a.n; i++)
            a.grads[i] = (float)sin(0.3 * (double)i + s);
        fr_train_adam_step(&a, 1e-3f);
    }
    if (fr_server_opt_init(&o, a.n, &err)) {
        CHECK(0, "%s", err.msg);
        goto out;
    }
    CHECK(fr_fedopt_moments_get(&a, &o, &err) == FR_OK && o.step == 2, "%s", err.msg);
    CHECK(fr_server_opt_save(&o, path, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_server_opt_load(&back, b.n, path, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_fedopt_moments_put(&b, &back, &err) == FR_OK, "%s", err.msg);
    CHECK(b.adam_step == 2 && memcmp(b.adam_m, a.adam_m, a.n * sizeof(float)) == 0 &&
              memcmp(b.adam_v, a.adam_v, a.n * sizeof(float)) == 0,
          "moments differ after the file (step %ld)", b.adam_step);
    /* one more identical step on both: the same parameters */
    for (size_t i = 0; i < a.n; i++)
        a.grads[i] = b.grads[i] = 0.5f;
    fr_model_set_params(&b, a.params); /* the same start (CPU backend: host memory) */
    fr_train_adam_step(&a, 1e-3f);
    fr_train_adam_step(&b, 1e-3f);
    CHECK(memcmp(a.params, b.params, a.n * sizeof(float)) == 0, "carried Adam steps differ");
    /* refusals: a NaN, a negative second moment, another size */
    back.m[5] = NAN;
    CHECK(fr_fedopt_moments_put(&b, &back, &err) == FR_EINVAL && strstr(err.msg, "coordinate 5"),
          "%s", err.msg);
    back.m[5] = 0;
    back.v[7] = -1;
    CHECK(fr_fedopt_moments_put(&b, &back, &err) == FR_EINVAL && strstr(err.msg, "coordinate 7"),
          "%s", err.msg);
    CHECK(b.adam_step == 3, "a refused put leaves the model as it was (%ld)", b.adam_step);
    fr_server_opt_free(&back);
    CHECK(fr_server_opt_load(&back, b.n + 1, path, &err) == FR_EINVAL, "%s", err.msg);
out:
    fr_server_opt_free(&o);
    fr_server_opt_free(&back);
    fr_model_free(&a);
    fr_model_free(&b);
}

int main(void)
{
    if (!fixture_dir(tmpdir, sizeof tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_parse);
    RUN(test_schedule);
    RUN(test_fedavgm);
    RUN(test_restart);
    RUN(test_local_epochs);
    RUN(test_moments);
    fixture_rm(tmpdir);
    return fr_test_end();
}
