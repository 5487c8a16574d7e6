/* DP-SGD's batched step on the CUDA backend (`make test-cuda`): its ops (row_scale,
 * scatter_add_scaled_rows, seg_sum_rows, seg_sq_norm) against the CPU's, the clipped
 * sum of a step's users on the device against the CPU's per-user reference and against
 * the device's own per-user path, and whole seeded steps (the same noise, drawn from
 * the same streams of the key) against the CPU's. Without a usable GPU it says why and
 * reports zero cases. */
#include "fr_test_cuda.h"

#include "nn/fr_model.h"
#include "privacy/fr_dp_sgd.h"

static void test_ops(void)
{
    int n = 301, d = 67, nseg = 9;
    int32_t off[10] = {0, 3, 3, 40, 41, 100, 180, 181, 250, 301};
    float *x = rand_host((size_t)n * d, -1, 1), *s = rand_host((size_t)n, -2, 2);
    float *dx = dev(x, (size_t)n * d), *ds = dev(s, (size_t)n);
    int32_t *doff = dev_bytes(off, sizeof off);
    /* scaled rows into a gradient, some rows repeated and some left out */
    int nr = 50;
    int32_t rows[301];
    for (int i = 0; i < n; i++)
        rows[i] = i % 7 == 3 ? -1 : (i * 11) % nr;
    float *g = rand_host((size_t)nr * d, -1, 1), *dg = dev(g, (size_t)nr * d);
    int32_t *drows = dev_bytes(rows, sizeof rows);
    cpu->scatter_add_scaled_rows(g, x, rows, s, n, d);
    gpu->scatter_add_scaled_rows(dg, dx, drows, ds, n, d);
    EXPECT_CLOSE("scatter_add_scaled_rows", g, dg, (size_t)nr * d, 1e-5); /* frees dg */
    gpu->free(drows);
    free(g);
    cpu->row_scale(x, s, n, d);
    gpu->row_scale(dx, ds, n, d);
    EXPECT_CLOSE("row_scale", x, dx, (size_t)n * d, 1e-6);
    float *y = rand_host((size_t)n * d, -1, 1), *o = rand_host((size_t)nseg * d, -1, 1);
    float *dy = dev(y, (size_t)n * d), *dout = dev(o, (size_t)nseg * d);
    cpu->seg_sum_rows(o, y, off, nseg, d);
    gpu->seg_sum_rows(dout, dy, doff, nseg, d);
    EXPECT_CLOSE("seg_sum_rows", o, dout, (size_t)nseg * d, 1e-5);
    double hq[9], gq[9];
    for (int k = 0; k < nseg; k++)
        hq[k] = 0.5 * k;
    double *dq = dev_bytes(hq, sizeof hq);
    cpu->seg_sq_norm(hq, y, off, nseg, d);
    gpu->seg_sq_norm(dq, dy, doff, nseg, d);
    gpu->download(gq, dq, sizeof gq);
    for (int k = 0; k < nseg; k++)
        CHECK(fabs(hq[k] - gq[k]) <= 1e-9 * fmax(1.0, hq[k]), "seg_sq_norm %d: %.12g / %.12g", k,
              hq[k], gq[k]);
    CHECK(gq[1] == 0.5, "an empty segment changed: %g", gq[1]);
    gpu->free(dy);
    gpu->free(ds);
    gpu->free(doff);
    gpu->free(dq);
    free(x);
    free(s);
    free(y);
    free(o);
}

enum { V = 300, VT = 500, T = 8, D = 32, F = 16, L = 20, U = 40, K = 50 };
static int64_t train_off[U + 1];
static int32_t *items, *windows, tokens[V * T];
static long n_windows;

static void make_data(void)
{
    int W = L + 1;
    items = malloc((size_t)U * 200 * sizeof(int32_t));
    windows = calloc((size_t)U * 12 * W, sizeof(int32_t));
    long k = 0;
    for (int u = 0; u < U; u++) {
        int n = 2 + (int)fr_rng_below(&rng, 180);
        for (int i = 0; i < n; i++)
            items[k++] = 1 + (int32_t)fr_rng_below(&rng, V - 1);
        train_off[u + 1] = k;
    }
    for (int i = T; i < V * T; i++)
        tokens[i] = (i % 7 == 0) ? 0 : 1 + (int32_t)fr_rng_below(&rng, VT - 1);
    for (int u = 0; u < U; u++) {
        long n = train_off[u + 1] - train_off[u];
        const int32_t *s = items + train_off[u];
        int full = (int)(n / W), rem = (int)(n % W);
        if (rem >= 2) {
            for (int i = 0; i < rem; i++)
                windows[n_windows * W + (W - rem) + i] = s[i];
            n_windows++;
        }
        for (int f = 0; f < full; f++, n_windows++)
            memcpy(windows + n_windows * W, s + rem + f * W, sizeof(int32_t) * W);
    }
}

static int trainer_on(fr_model *m, fr_dp_trainer *tr, const fr_backend *be, int per_user, double q)
{
    fr_err err = {{0}};
    fr_model_config mc = {
        .num_items = V, .token_vocab = VT, .num_tokens = T, .dim = D, .filters = F};
    if (fr_model_init(m, &mc, be, tokens, NULL, &err) != FR_OK) {
        CHECK(0, "model on %s: %s", be->name, err.msg);
        return -1;
    }
    fr_model_init_params(m, 9);
    fr_train_config tc = {.batch = 32, .seq_len = L, .negatives = K, .lr = 1e-2f, .seed = 5};
    fr_dp_config dc = {.sampling_rate = q,
                       .noise_multiplier = 1.0,
                       .clip = 0.05f,
                       .max_windows = 6,
                       .per_user = per_user,
                       .seed = "cuda-batch",
                       .seed_len = 10};
    if (fr_dp_trainer_init(tr, m, &tc, &dc, train_off, U, windows, n_windows, &err) != FR_OK) {
        CHECK(0, "dp trainer on %s: %s", be->name, err.msg);
        fr_model_free(m);
        return -1;
    }
    CHECK((tr->batch != NULL) == !per_user, "%s: batched path %s", be->name,
          tr->batch ? "on" : "off");
    return 0;
}

/* The clipped sum of every user, on backend be and path per_user, into host out. */
static void clipped_sum(const fr_backend *be, int per_user, float *out, fr_dp_step_stats *st)
{
    fr_model m;
    fr_dp_trainer tr;
    fr_err err = {{0}};
    if (trainer_on(&m, &tr, be, per_user, 1.0))
        return;
    int32_t *users = malloc((size_t)tr.n_users * sizeof(int32_t));
    for (int u = 0; u < tr.n_users; u++)
        users[u] = u;
    fr_dp_draw_negatives(&tr);
    memset(st, 0, sizeof *st);
    be->zero(m.grads, m.n);
    CHECK(fr_dp_accumulate_users(&tr, users, tr.n_users, st, &err) == FR_OK, "%s", err.msg);
    be->download(out, m.grads, m.n * sizeof(float));
    free(users);
    fr_dp_trainer_free(&tr);
    fr_model_free(&m);
}

static void test_clipped_sum(void)
{
    fr_model m;
    fr_err err = {{0}};
    fr_model_config mc = {
        .num_items = V, .token_vocab = VT, .num_tokens = T, .dim = D, .filters = F};
    FR_ASSERT(fr_model_init(&m, &mc, cpu, tokens, NULL, &err) == FR_OK);
    size_t n = m.n;
    float *ref = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float));
    fr_dp_step_stats sr, sg;
    clipped_sum(cpu, 1, ref, &sr);
    for (int per_user = 0; per_user < 2; per_user++) {
        clipped_sum(gpu, per_user, got, &sg);
        CHECK(sr.clipped == sg.clipped && sr.clipped > 0 && sr.positions == sg.positions,
              "CUDA %s path: %d clipped (CPU %d)", per_user ? "per-user" : "batched", sg.clipped,
              sr.clipped);
        for (int p = 0; p < FR_NPARAMS; p++) {
            double e = rel_err(ref + m.p[p].offset, got + m.p[p].offset, m.p[p].size);
            CHECK(e <= 1e-4, "CUDA %s path, %s: relative error %g",
                  per_user ? "per-user" : "batched", m.p[p].name, e);
        }
    }
    free(ref);
    free(got);
    fr_model_free(&m);
}

static void test_seeded_steps(void)
{
    fr_model mc, mg;
    fr_dp_trainer tc, tg;
    fr_err err = {{0}};
    if (trainer_on(&mc, &tc, cpu, 1, 0.3))
        return;
    if (trainer_on(&mg, &tg, gpu, 0, 0.3)) {
        fr_dp_trainer_free(&tc);
        fr_model_free(&mc);
        return;
    }
    fr_dp_step_stats sc, sg;
    for (int s = 0; s < 3; s++) {
        CHECK(fr_dp_trainer_step(&tc, &sc, &err) == FR_OK, "%s", err.msg);
        CHECK(fr_dp_trainer_step(&tg, &sg, &err) == FR_OK, "%s", err.msg);
        CHECK(sc.sampled == sg.sampled && sc.clipped == sg.clipped,
              "step %d: sampled %d/%d, clipped %d/%d", s, sc.sampled, sg.sampled, sc.clipped,
              sg.clipped);
    }
    size_t n = mc.n;
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    fr_model_get_params(&mc, a);
    fr_model_get_params(&mg, b);
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs((double)a[i] - b[i]));
    CHECK(worst < 1e-4, "3 seeded steps, CPU per-user against CUDA batched: %g", worst);
    free(a);
    free(b);
    fr_dp_trainer_free(&tc);
    fr_dp_trainer_free(&tg);
    fr_model_free(&mc);
    fr_model_free(&mg);
}

int main(void)
{
    if (!cuda_test_open("test_cuda_dp_batch"))
        return fr_test_end();
    make_data();
    RUN(test_ops);
    RUN(test_clipped_sum);
    RUN(test_seeded_steps);
    free(items);
    free(windows);
    return fr_test_end();
}
