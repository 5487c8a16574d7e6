/* DP-SGD's batched step against the per-user reference: for every parameter the
 * clipped sum of a step's users is the same on both paths (users of different
 * lengths, gradient norms below the bound, exactly at it and over 1000 times above
 * it); each user's norm is the same; the weighted backward pass is the gradient of
 * the weighted users' mean losses (finite differences); whole seeded steps, noise
 * included, give the same model on both paths; and a step larger than the batch
 * runs user by user with the same result, its per-user workers built for that step
 * alone. The batched step's backend ops against
 * plain loops, on one thread and two. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fr_test.h"
#include "backend/fr_backend.h"
#include "nn/fr_model.h"
#include "nn/fr_nn.h"
#include "nn/fr_nn_users.h"
#include "privacy/fr_dp_batch.h"
#include "privacy/fr_dp_sgd.h"
#include "util/fr_rng.h"

#include "fr_test_dp_data.h"

enum { K = 10 };

static void make_data(void)
{
    make_data_seeded(91, 5);
}

static fr_model_config model_cfg(void)
{
    fr_model_config mc = {
        .num_items = V, .token_vocab = VT, .num_tokens = T, .dim = D, .filters = F};
    return mc;
}

static const fr_train_config tc = {
    .batch = 8, .seq_len = L, .negatives = K, .lr = 1e-2f, .seed = 5};

static int trainer_w(fr_model *m, fr_dp_trainer *tr, const float *params, double q, float clip,
                     int per_user, int workers)
{
    fr_err err = {{0}};
    fr_model_config mc = model_cfg();
    if (fr_model_init(m, &mc, fr_backend_cpu(), tokens, NULL, &err)) {
        CHECK(0, "model: %s", err.msg);
        return -1;
    }
    fr_model_init_params(m, 3);
    if (params)
        fr_model_set_params(m, params);
    fr_dp_config dc = {.sampling_rate = q,
                       .noise_multiplier = 1.0,
                       .clip = clip,
                       .max_windows = 3,
                       .per_user = per_user,
                       .workers = workers,
                       .seed = "batch",
                       .seed_len = 5};
    if (fr_dp_trainer_init(tr, m, &tc, &dc, train_off, U, windows, n_windows, &err)) {
        CHECK(0, "dp trainer: %s", err.msg);
        fr_model_free(m);
        return -1;
    }
    CHECK((tr->batch != NULL) == !per_user, "batched path %s", tr->batch ? "on" : "off");
    return 0;
}

static int trainer(fr_model *m, fr_dp_trainer *tr, const float *params, double q, float clip,
                   int per_user)
{
    return trainer_w(m, tr, params, q, clip, per_user, 1);
}

/* The clipped sum of all users on one path, into host out; per-user norms into norms
 * (batched path) when given. */
static void clipped_sum(const float *params, float clip, int per_user, float *out, double *norms,
                        fr_dp_step_stats *st)
{
    fr_model m;
    fr_dp_trainer tr;
    fr_err err = {{0}};
    if (trainer(&m, &tr, params, 1.0, clip, per_user))
        return;
    int32_t users[U];
    for (int u = 0; u < tr.n_users; u++)
        users[u] = u;
    fr_dp_draw_negatives(&tr);
    memset(st, 0, sizeof *st);
    m.be->zero(m.grads, m.n);
    CHECK(fr_dp_accumulate_users(&tr, users, tr.n_users, st, &err) == FR_OK, "%s", err.msg);
    m.be->download(out, m.grads, m.n * sizeof(float));
    if (norms && tr.batch)
        for (int u = 0; u < tr.n_users; u++)
            norms[u] = sqrt(tr.batch->sq[u]);
    fr_dp_trainer_free(&tr);
    fr_model_free(&m);
}

/* Each user's unclipped gradient norm on the per-user path. */
static void reference_norms(const float *params, double *norms, int *n_users)
{
    fr_model m;
    fr_dp_trainer tr;
    fr_err err = {{0}};
    if (trainer(&m, &tr, params, 1.0, 1e30f, 1))
        return;
    float *g = malloc(m.n * sizeof(float));
    fr_dp_draw_negatives(&tr);
    for (int u = 0; u < tr.n_users; u++) {
        fr_dp_step_stats st = {0};
        m.be->zero(m.grads, m.n);
        CHECK(fr_dp_accumulate_user(&tr, u, &st, &err) == FR_OK, "%s", err.msg);
        m.be->download(g, m.grads, m.n * sizeof(float));
        double s = 0;
        for (size_t i = 0; i < m.n; i++)
            s += (double)g[i] * g[i];
        norms[u] = sqrt(s);
    }
    *n_users = tr.n_users;
    free(g);
    fr_dp_trainer_free(&tr);
    fr_model_free(&m);
}

static void test_clipped_sum_every_parameter(void)
{
    fr_model m;
    fr_err err = {{0}};
    fr_model_config mc = model_cfg();
    CHECK(fr_model_init(&m, &mc, fr_backend_cpu(), tokens, NULL, &err) == FR_OK, "%s", err.msg);
    fr_model_init_params(&m, 3);
    float *params = malloc(m.n * sizeof(float));
    fr_model_get_params(&m, params);
    /* a loud user: its own items' ID embeddings x1e5 make its gradient huge */
    int loud = 7;
    for (long i = train_off[loud]; i < train_off[loud + 1]; i++)
        for (int j = 0; j < D; j++)
            params[m.p[FR_P_E_ID].offset + (size_t)train_items[i] * D + j] *= 1e5f;
    double ref[U] = {0}, bat[U] = {0};
    int n_users = 0;
    reference_norms(params, ref, &n_users);
    CHECK(n_users == U, "%d users with windows", n_users);
    /* the bound: exactly the norm of the median user */
    double sorted[U];
    memcpy(sorted, ref, sizeof sorted);
    for (int i = 1; i < n_users; i++)
        for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            double t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    float clip = (float)sorted[n_users / 2];
    int below = 0, above1000 = 0;
    for (int u = 0; u < n_users; u++) {
        below += ref[u] < clip;
        above1000 += ref[u] > 1000.0 * clip;
    }
    CHECK(below >= 3 && above1000 >= 1, "%d users below C, %d 1000x above", below, above1000);
    float *a = malloc(m.n * sizeof(float)), *b = malloc(m.n * sizeof(float));
    fr_dp_step_stats sa, sb;
    clipped_sum(params, clip, 1, a, NULL, &sa);
    clipped_sum(params, clip, 0, b, bat, &sb);
    for (int u = 0; u < n_users; u++)
        CHECK(fabs(bat[u] - ref[u]) <= 1e-4 * ref[u], "user %d: norm %.9g batched, %.9g per user",
              u, bat[u], ref[u]);
    CHECK(sa.sampled == sb.sampled && sa.positions == sb.positions &&
              fabs(sa.loss_sum - sb.loss_sum) < 1e-4 * fabs(sa.loss_sum),
          "stats: %d/%d users, %ld/%ld positions, loss %g/%g", sa.sampled, sb.sampled, sa.positions,
          sb.positions, sa.loss_sum, sb.loss_sum);
    /* the user exactly at the bound may fall either side of it by rounding */
    CHECK(abs(sa.clipped - sb.clipped) <= 1 && sb.clipped >= above1000, "clipped %d / %d",
          sa.clipped, sb.clipped);
    for (int p = 0; p < FR_NPARAMS; p++) {
        double worst = 0, scale = 0;
        for (size_t i = m.p[p].offset; i < m.p[p].offset + m.p[p].size; i++) {
            worst = fmax(worst, fabs(a[i] - b[i]));
            scale = fmax(scale, fabs(a[i]));
        }
        CHECK(scale > 0, "%s: no gradient", m.p[p].name);
        CHECK(worst <= 1e-5 * scale + 1e-9, "%s: clipped sums differ by %g (largest %g)",
              m.p[p].name, worst, scale);
    }
    free(a);
    free(b);
    free(params);
    fr_model_free(&m);
}

/* The mean loss of the windows rows [r0, r1) of a batch, forward only. */
static double user_loss(fr_nn *net, const int32_t *w, int nw, const int32_t *neg)
{
    double loss = 0;
    long np = 0;
    fr_err err = {{0}};
    CHECK(fr_nn_batch(net, w, nw, neg, 0, &loss, &np, &err) == FR_OK, "%s", err.msg);
    return np ? loss / (double)np : 0.0;
}

/* The weighted backward pass is the gradient of sum_k w_k (mean loss of user k):
 * central differences on coordinates of every parameter. */
static void test_weighted_backward_finite_differences(void)
{
    fr_model m;
    fr_err err = {{0}};
    fr_model_config mc = model_cfg();
    CHECK(fr_model_init(&m, &mc, fr_backend_cpu(), tokens, NULL, &err) == FR_OK, "%s", err.msg);
    fr_model_init_params(&m, 4);
    fr_nn net, one;
    CHECK(fr_nn_init(&net, &m, 8, L, K, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_nn_init(&one, &m, 8, L, K, &err) == FR_OK, "%s", err.msg);
    fr_nn_users nu;
    CHECK(fr_nn_users_init(&nu, &m, &err) == FR_OK, "%s", err.msg);
    /* three users: windows 0 (one), 1-2 (two), 3-5 (three) of the data */
    int32_t off[4] = {0, 1, 3, 6};
    int W = L + 1;
    const int32_t *w = windows + (size_t)(n_windows - 6) * W;
    int32_t neg[K];
    for (int j = 0; j < K; j++)
        neg[j] = 1 + (j * 7) % (V - 1);
    float wt[3] = {0.3f, 1.7f, -0.8f};
    double loss = 0, sq[3];
    long np = 0, pos[3];
    m.be->zero(m.grads, m.n);
    CHECK(fr_nn_batch(&net, w, 6, neg, 0, &loss, &np, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_nn_users_norms(&nu, &net, off, 3, sq, pos, &err) == FR_OK, "%s", err.msg);
    fr_nn_users_backward(&nu, &net, wt);
    float *g = malloc(m.n * sizeof(float)), *p = malloc(m.n * sizeof(float));
    m.be->download(g, m.grads, m.n * sizeof(float));
    fr_model_get_params(&m, p);
    fr_rng r;
    fr_rng_seed(&r, 3);
    for (int k = 0; k < FR_NPARAMS; k++) {
        int checked = 0;
        for (int tries = 0; tries < 400 && checked < 4; tries++) {
            size_t i = m.p[k].offset + (size_t)fr_rng_below(&r, m.p[k].size);
            if (fabsf(g[i]) < 1e-3f)
                continue; /* rows the batch does not touch; a relative check needs size */
            double f[2];
            float orig = p[i], h = 1e-2f;
            for (int s = 0; s < 2; s++) {
                p[i] = orig + (s ? -h : h);
                fr_model_set_params(&m, p);
                f[s] = 0;
                for (int u = 0; u < 3; u++)
                    f[s] +=
                        wt[u] * user_loss(&one, w + (size_t)off[u] * W, off[u + 1] - off[u], neg);
            }
            p[i] = orig;
            fr_model_set_params(&m, p);
            double fd = (f[0] - f[1]) / (2.0 * h);
            CHECK(fabs(fd - g[i]) <= 2e-2 * fabs(g[i]) + 2e-4,
                  "%s[%zu]: backward %g, differences %g", m.p[k].name, i - m.p[k].offset,
                  (double)g[i], fd);
            checked++;
        }
        CHECK(checked > 0, "%s: no coordinate with a gradient", m.p[k].name);
    }
    free(g);
    free(p);
    fr_nn_users_free(&nu);
    fr_nn_free(&net);
    fr_nn_free(&one);
    fr_model_free(&m);
}

/* Whole seeded steps: the same sampling, negatives and noise on both paths, so the
 * same model to float rounding; and a step beyond the batch runs user by user. */
static void test_seeded_steps_both_paths(void)
{
    float *p[4] = {0};
    size_t n = 0;
    for (int run = 0; run < 4; run++) {
        fr_model m;
        fr_dp_trainer tr;
        fr_err err = {{0}};
        /* run 3: two threads taking users in turn */
        if (trainer_w(&m, &tr, NULL, 0.5, 0.05f, run == 0, run == 3 ? 2 : 1))
            return;
        if (run == 2)
            tr.batch->cap = 2; /* every step is larger: user by user */
        fr_dp_step_stats st;
        int clipped = 0;
        for (int s = 0; s < 4; s++) {
            CHECK(fr_dp_trainer_step(&tr, &st, &err) == FR_OK, "%s", err.msg);
            clipped += st.clipped;
        }
        CHECK(clipped > 0, "run %d: no user clipped", run);
        n = m.n;
        p[run] = malloc(n * sizeof(float));
        fr_model_get_params(&m, p[run]);
        fr_dp_trainer_free(&tr);
        fr_model_free(&m);
    }
    for (int run = 1; run < 4; run++) {
        double worst = 0;
        for (size_t i = 0; i < n; i++)
            worst = fmax(worst, fabs(p[0][i] - p[run][i]));
        CHECK(worst < 1e-4, "run %d against the per-user path: %g", run, worst);
    }
    CHECK(memcmp(p[1], p[3], n * sizeof(float)) == 0, "one thread and two differ");
    for (int run = 0; run < 4; run++)
        free(p[run]);
}

/* A catalogue without item tokens: no convolution shares are kept, the batched sum
 * is still the per-user path's, and the convolution's gradient is zero on both. */
static void test_no_tokens(void)
{
    static int32_t kept[sizeof tokens / sizeof tokens[0]];
    memcpy(kept, tokens, sizeof kept);
    memset(tokens, 0, sizeof kept); /* token 0 is padding */
    fr_model m;
    fr_err err = {{0}};
    fr_model_config mc = model_cfg();
    CHECK(fr_model_init(&m, &mc, fr_backend_cpu(), tokens, NULL, &err) == FR_OK, "%s", err.msg);
    float *a = malloc(m.n * sizeof(float)), *b = malloc(m.n * sizeof(float));
    fr_dp_step_stats sa, sb;
    clipped_sum(NULL, 0.05f, 1, a, NULL, &sa);
    clipped_sum(NULL, 0.05f, 0, b, NULL, &sb);
    CHECK(sa.clipped == sb.clipped && sb.clipped > 0, "clipped %d / %d", sa.clipped, sb.clipped);
    double worst = 0, scale = 0;
    for (size_t i = 0; i < m.n; i++) {
        worst = fmax(worst, fabs(a[i] - b[i]));
        scale = fmax(scale, fabs(a[i]));
    }
    CHECK(scale > 0 && worst <= 1e-5 * scale, "sums differ by %g (scale %g)", worst, scale);
    for (size_t i = m.p[FR_P_CONV_W].offset; i < m.p[FR_P_CONV_W].offset + m.p[FR_P_CONV_W].size;
         i++)
        CHECK(a[i] == 0.0f && b[i] == 0.0f, "conv_w[%zu]: %g / %g", i, (double)a[i], (double)b[i]);
    free(a);
    free(b);
    fr_model_free(&m);
    memcpy(tokens, kept, sizeof kept);
}

/* The GRU's per-user shares gathered a chunk of users at a time: any chunk size
 * gives the same norms and clipped sum, bit for bit. */
static void test_chunks_same_sum(void)
{
    float *g[2] = {0};
    double norms[2][U];
    size_t n = 0;
    for (int run = 0; run < 2; run++) {
        fr_model m;
        fr_dp_trainer tr;
        fr_err err = {{0}};
        if (trainer(&m, &tr, NULL, 1.0, 0.05f, 0))
            return;
        int32_t users[U];
        for (int u = 0; u < tr.n_users; u++)
            users[u] = u;
        if (run == 1)
            tr.batch->users.chunk = 2 * L + 1; /* one or two users' windows */
        fr_dp_draw_negatives(&tr);
        fr_dp_step_stats st = {0};
        m.be->zero(m.grads, m.n);
        CHECK(fr_dp_accumulate_users(&tr, users, tr.n_users, &st, &err) == FR_OK, "%s", err.msg);
        CHECK(run == 0 ? tr.batch->users.x.chunks == 1 : tr.batch->users.x.chunks > 3,
              "run %d: %d chunks", run, tr.batch->users.x.chunks);
        n = m.n;
        g[run] = malloc(n * sizeof(float));
        m.be->download(g[run], m.grads, n * sizeof(float));
        for (int u = 0; u < tr.n_users; u++)
            norms[run][u] = tr.batch->sq[u];
        fr_dp_trainer_free(&tr);
        fr_model_free(&m);
    }
    CHECK(memcmp(g[0], g[1], n * sizeof(float)) == 0, "the chunked sum differs");
    CHECK(memcmp(norms[0], norms[1], sizeof norms[0]) == 0, "the chunked norms differ");
    free(g[0]);
    free(g[1]);
}

/* A batched trainer whose steps sometimes hold more windows than its batch: those
 * steps run on the per-user path, whose workers (two here) are built for the step and
 * released after it, and the run is the per-user path's to float rounding; the
 * batch's net grows with the steps it runs, never past the batch. */
static void test_steps_fall_back_and_return(void)
{
    float *p[2] = {0};
    size_t n = 0;
    for (int run = 0; run < 2; run++) {
        fr_model m;
        fr_dp_trainer tr;
        fr_err err = {{0}};
        if (trainer_w(&m, &tr, NULL, 0.5, 0.05f, run == 0, 2))
            return;
        CHECK(tr.per_user_built == (run == 0), "run %d: per-user workers built %d at start", run,
              tr.per_user_built);
        if (run == 1) {
            long all = 0; /* about half of the windows are sampled in a step */
            for (int u = 0; u < tr.n_users; u++) {
                int nw;
                (void)fr_dp_user_windows(&tr, u, &nw);
                all += nw;
            }
            tr.batch->cap = (int)(all / 2);
        }
        int net_before = 0;
        for (int s = 0; s < 12; s++) {
            fr_dp_step_stats st;
            CHECK(fr_dp_trainer_step(&tr, &st, &err) == FR_OK, "run %d step %d: %s", run, s,
                  err.msg);
            if (run == 1) {
                CHECK(!tr.per_user_built && !tr.items.model && !tr.workers[1].user_grad &&
                          !tr.workers[1].sum && !tr.workers[0].net.model,
                      "step %d: the per-user workers outlived the step", s);
                CHECK(tr.workers[0].user_grad != NULL, "step %d: worker 0's buffer freed", s);
                CHECK(tr.batch->net_windows <= tr.batch->cap, "step %d: net of %d windows > %d", s,
                      tr.batch->net_windows, tr.batch->cap);
                CHECK(tr.batch->net_windows >= net_before, "step %d: the net shrank", s);
                net_before = tr.batch->net_windows;
            }
        }
        if (run == 1)
            CHECK(tr.fallback_steps > 0 && tr.fallback_steps < 12,
                  "%ld of 12 steps fell back: both kinds wanted", tr.fallback_steps);
        else
            CHECK(tr.fallback_steps == 0, "the per-user trainer counted %ld fallbacks",
                  tr.fallback_steps);
        n = m.n;
        p[run] = malloc(n * sizeof(float));
        fr_model_get_params(&m, p[run]);
        fr_dp_trainer_free(&tr);
        fr_model_free(&m);
    }
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(p[0][i] - p[1][i]));
    CHECK(worst < 1e-4, "mixed steps against the per-user path: %g", worst);
    free(p[0]);
    free(p[1]);
}

static void test_segment_ops(void)
{
    const fr_backend *be = fr_backend_cpu();
    enum { N = 3000, DD = 24, NSEG = 6 };
    int32_t off[NSEG + 1] = {0, 5, 5, 1200, 1201, 2999, N};
    float *x = malloc(sizeof(float) * N * DD), *y = malloc(sizeof(float) * N * DD);
    float s[N], sum[NSEG * DD], ref[NSEG * DD];
    fr_rng r;
    fr_rng_seed(&r, 12);
    for (int i = 0; i < N * DD; i++)
        x[i] = (float)fr_rng_uniform(&r) * 2.0f - 1.0f;
    for (int i = 0; i < N; i++)
        s[i] = (float)fr_rng_uniform(&r) * 4.0f - 2.0f;
    for (int threads = 1; threads <= 2; threads++) {
        be->set_threads(threads);
        memcpy(y, x, sizeof(float) * N * DD);
        be->row_scale(y, s, N, DD);
        int bad = 0;
        for (int i = 0; i < N * DD; i++)
            bad += y[i] != x[i] * s[i / DD];
        CHECK(bad == 0, "row_scale: %d entries wrong on %d threads", bad, threads);
        /* rows that repeat (each three times, so their sums have an order to keep) and
         * rows left out: the same bits as row_scale and then scatter_add_rows */
        enum { NR = N / 3 + 1 };
        int32_t rows[N];
        for (int i = 0; i < N; i++)
            rows[i] = i % 7 == 3 ? -1 : (i * 11) % NR;
        float *dst = malloc(sizeof(float) * NR * DD), *want = malloc(sizeof(float) * NR * DD);
        for (int i = 0; i < NR * DD; i++)
            dst[i] = want[i] = (float)(i % 5) - 2.0f;
        be->scatter_add_scaled_rows(dst, x, rows, s, N, DD);
        be->scatter_add_rows(want, y, rows, N, DD);
        bad = 0;
        for (int i = 0; i < NR * DD; i++)
            bad += dst[i] != want[i];
        CHECK(bad == 0, "scatter_add_scaled_rows: %d entries wrong on %d threads", bad, threads);
        free(dst);
        free(want);
        double sq[NSEG];
        for (int k = 0; k < NSEG; k++) {
            sq[k] = 1.0; /* the ops add to their outputs */
            for (int j = 0; j < DD; j++)
                sum[k * DD + j] = ref[k * DD + j] = 0.5f;
        }
        be->seg_sum_rows(sum, x, off, NSEG, DD);
        be->seg_sq_norm(sq, x, off, NSEG, DD);
        for (int k = 0; k < NSEG; k++) {
            double want = 1.0;
            for (int i = off[k]; i < off[k + 1]; i++)
                for (int j = 0; j < DD; j++) {
                    ref[k * DD + j] += x[i * DD + j];
                    want += (double)x[i * DD + j] * x[i * DD + j];
                }
            CHECK(fabs(sq[k] - want) <= 1e-12 * want, "seg_sq_norm %d: %.15g, want %.15g", k, sq[k],
                  want);
            for (int j = 0; j < DD; j++)
                CHECK(sum[k * DD + j] == ref[k * DD + j], "seg_sum_rows %d/%d: %g, want %g", k, j,
                      (double)sum[k * DD + j], (double)ref[k * DD + j]);
        }
    }
    free(x);
    free(y);
}

int main(void)
{
    make_data();
    RUN(test_segment_ops);
    fr_backend_cpu()->set_threads(2);
    RUN(test_clipped_sum_every_parameter);
    RUN(test_weighted_backward_finite_differences);
    RUN(test_seeded_steps_both_paths);
    RUN(test_steps_fall_back_and_return);
    RUN(test_chunks_same_sum);
    RUN(test_no_tokens);
    free(windows);
    return fr_test_end();
}
