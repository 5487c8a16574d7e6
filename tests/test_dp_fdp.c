/* Federation-wide DP-SGD with distributed noise (privacy/fr_dp_fdp.h) on a small
 * model: a node's vector decodes to its users' clipped gradients (each rounded on its
 * own) plus its share; shares of 4 nodes give the noise of sd sigma C sqrt(4/3) (any 3
 * carry sigma C); the step leaves the padding rows alone; a simulated epoch charges
 * one Skellam step per round to the ledger. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/fr_backend.h"
#include "fr_test.h"
#include "fr_test_ledger.h"
#include "nn/fr_model.h"
#include "privacy/fr_dp_fdp.h"
#include "util/fr_rng.h"

#include "fr_test_dp_data.h"

static void make_data(void)
{
    make_data_seeded(77, 4);
}

static int setup(fr_model *m, fr_dp_trainer *tr, double q, double sigma, float clip)
{
    return setup_trainer(m, tr, q, sigma, clip, 0);
}

static fr_skellam mech(const fr_model *m, double sigma)
{
    fr_skellam sk = {
        .clip = 1, .sigma = sigma, .nodes = 4, .threshold = 3, .dim = m->n, .users_max = U};
    fr_err err = {{0}};
    CHECK(fr_skellam_init(&sk, &err) == FR_OK, "%s", err.msg);
    return sk;
}

static void test_node_vector_is_the_clipped_sum(void)
{
    fr_model m;
    fr_dp_trainer tr;
    if (setup(&m, &tr, 0.5, 1.0, 0.3f))
        return;
    fr_err err = {{0}};
    fr_skellam sk = mech(&m, 1e-4);
    sk.clip = 0.3;
    CHECK(fr_skellam_init(&sk, &err) == FR_OK, "%s", err.msg);
    int32_t users[U];
    for (int u = 0; u < U; u++)
        users[u] = u;
    fr_dp_draw_negatives(&tr);
    fr_dp_step_stats ss;
    m.be->zero(m.grads, m.n);
    CHECK(fr_dp_accumulate_users(&tr, users, U, &ss, &err) == FR_OK, "%s", err.msg);
    float *truth = malloc(m.n * sizeof *truth), *got = malloc(m.n * sizeof *got);
    m.be->download(truth, m.grads, m.n * sizeof *truth);
    uint32_t *v = malloc(m.n * sizeof *v);
    fr_dp_rng r;
    CHECK(fr_dp_rng_init(&r, "fdp", 3, &err) == FR_OK, "%s", err.msg);
    size_t clamped = 9;
    CHECK(fr_dp_fdp_node_vector(&tr, &sk, users, U, &r, v, &clamped, &ss, &err) == FR_OK, "%s",
          err.msg);
    CHECK(clamped == 0 && ss.sampled == U, "clamped %zu, users %d", clamped, ss.sampled);
    fr_skellam_decode(&sk, v, got);
    double worst = 0, tn = 0;
    for (size_t i = 0; i < m.n; i++) {
        tn += (double)truth[i] * truth[i];
        if (fabs(got[i] - truth[i]) > worst)
            worst = fabs(got[i] - truth[i]);
    }
    /* rounding moves each user's coordinate by less than 1/s; the noise is 1e-4 C */
    CHECK(tn > 0.01 && worst < U / sk.scale + 10 * 1e-4 * 0.3, "off by %g (scale %g)", worst,
          sk.scale);
    fr_skellam wrong = sk;
    wrong.dim = m.n - 1;
    CHECK(fr_dp_fdp_node_vector(&tr, &wrong, users, U, &r, v, NULL, &ss, &err) == FR_EINVAL,
          "a mechanism for another model");
    free(truth);
    free(got);
    free(v);
    fr_dp_rng_free(&r);
    fr_dp_trainer_free(&tr);
    fr_model_free(&m);
}

static void test_four_nodes_noise(void)
{
    fr_model m;
    fr_dp_trainer tr;
    if (setup(&m, &tr, 0.5, 1.0, 1.0f))
        return;
    fr_err err = {{0}};
    fr_skellam sk = mech(&m, 0.8);
    fr_dp_rng r;
    CHECK(fr_dp_rng_init(&r, "fdp-noise", 9, &err) == FR_OK, "%s", err.msg);
    uint32_t *v = malloc(m.n * sizeof *v), *sum = calloc(m.n, sizeof *sum);
    float *got = malloc(m.n * sizeof *got);
    fr_dp_step_stats ss;
    fr_dp_draw_negatives(&tr);
    double s2 = 0;
    long k = 0;
    for (int rep = 0; rep < 20; rep++) {
        memset(sum, 0, m.n * sizeof *sum);
        for (int node = 0; node < 4; node++) {
            CHECK(fr_dp_fdp_node_vector(&tr, &sk, NULL, 0, &r, v, NULL, &ss, &err) == FR_OK, "%s",
                  err.msg);
            for (size_t i = 0; i < m.n; i++)
                sum[i] += v[i];
        }
        fr_skellam_decode(&sk, sum, got);
        for (size_t i = 0; i < m.n; i++, k++)
            s2 += (double)got[i] * got[i];
    }
    double sd = sqrt(s2 / k), want = 0.8 * sqrt(4.0 / 3);
    CHECK(fabs(sd / want - 1) < 0.03, "noise sd %g, want %g (%ld values)", sd, want, k);
    free(v);
    free(sum);
    free(got);
    fr_dp_rng_free(&r);
    fr_dp_trainer_free(&tr);
    fr_model_free(&m);
}

static void test_sim_epoch_and_padding(void)
{
    fr_model m;
    fr_dp_trainer tr;
    if (setup(&m, &tr, 0.25, 1.0, 1.0f))
        return;
    tmp_ledger tl;
    if (!open_tmp(&tl, "dp_fdp"))
        return;
    fr_err err = {{0}};
    fr_skellam sk = mech(&m, 1.0);
    fr_dp_rng r;
    CHECK(fr_dp_rng_init(&r, "fdp-epoch", 9, &err) == FR_OK, "%s", err.msg);
    float *before = malloc(m.n * sizeof *before), *after = malloc(m.n * sizeof *after);
    fr_model_get_params(&m, before);
    fr_epoch_stats es;
    size_t clamped = 0;
    CHECK(fr_dp_fdp_sim_epoch(&tr, &sk, 0.25, &tl.l, &r, &es, &clamped, &err) == FR_OK, "%s",
          err.msg);
    fr_model_get_params(&m, after);
    CHECK(tl.l.fdp_steps == 4 && tr.steps == 4 && isfinite(es.loss) && clamped == 0,
          "%ld rounds charged, %ld steps, loss %g", tl.l.fdp_steps, tr.steps, es.loss);
    size_t pad[2] = {m.p[FR_P_E_ID].offset, m.p[FR_P_E_TOK].offset}, moved = 0, pad_moved = 0;
    for (size_t i = 0; i < m.n; i++)
        moved += after[i] != before[i];
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < D; j++)
            pad_moved += after[pad[k] + j] != 0.0f;
    CHECK(moved > m.n / 2 && pad_moved == 0, "%zu of %zu moved, %zu padding values", moved, m.n,
          pad_moved);
    free(before);
    free(after);
    fr_dp_rng_free(&r);
    close_tmp(&tl);
    fr_dp_trainer_free(&tr);
    fr_model_free(&m);
}

/* The coordinator's step from a ring sum: the decoded sum over q N, negated and times
 * the aggregate's weight (its mean is the model delta), padding rows zeroed; FedAvg at
 * server rate 1 then moves the parameters as fr_dp_fdp_apply's gradient would. */
static void test_round_delta(void)
{
    fr_model m;
    fr_dp_trainer tr;
    if (setup(&m, &tr, 0.5, 1.0, 1.0f))
        return;
    fr_skellam sk = mech(&m, 1.0);
    uint32_t *ring = malloc(m.n * sizeof *ring);
    double *sum = malloc(m.n * sizeof *sum);
    float *dec = malloc(m.n * sizeof *dec);
    for (size_t i = 0; i < m.n; i++)
        ring[i] = (uint32_t)(int32_t)(((long)(i * 7919) % 2001 - 1000) * 1000);
    fr_skellam_decode(&sk, ring, dec);
    for (size_t i = 0; i < m.n; i++) /* as the round keeps the ring sum */
        sum[i] = (double)(int32_t)ring[i];
    double q = 0.25, weight = 37;
    long pop = 120;
    fr_dp_fdp_round_delta(&m, &sk, q, pop, weight, sum);
    size_t pad[2] = {m.p[FR_P_E_ID].offset, m.p[FR_P_E_TOK].offset};
    int bad = 0, pad_bad = 0;
    for (size_t i = 0; i < m.n; i++) {
        int is_pad = (i >= pad[0] && i < pad[0] + D) || (i >= pad[1] && i < pad[1] + D);
        double want = is_pad ? 0 : -(double)dec[i] / (q * pop);
        if (is_pad)
            pad_bad += sum[i] != 0;
        else
            bad += fabs(sum[i] / weight - want) > 1e-6 * (fabs(want) + 1e-9);
    }
    CHECK(bad == 0 && pad_bad == 0, "%d coordinates off, %d padding values kept", bad, pad_bad);
    free(ring);
    free(sum);
    free(dec);
    fr_dp_trainer_free(&tr);
    fr_model_free(&m);
}

int main(void)
{
    make_data();
    RUN(test_node_vector_is_the_clipped_sum);
    RUN(test_four_nodes_noise);
    RUN(test_sim_epoch_and_padding);
    RUN(test_round_delta);
    free(windows);
    return fr_test_end();
}
