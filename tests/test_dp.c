/* User-level DP-SGD and the privacy ledger: clipping bounds every user's
 * contribution (even a user whose gradient is 1000 times larger), the sparse per-user
 * path gives the same sum as dense per-user gradients, a user's gradient read through
 * the step's shared item tower is that of its own batch, steps are reproducible with
 * several workers, the noise is Gaussian with the standard deviation sigma C / (qN),
 * is added in place on the CPU as each chunk's keyed stream, bit for bit, and comes
 * from an unpredictable source, and the ledger
 * remembers every step across reopenings, ignores a line cut short by a crash and
 * enforces the budget. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fr_test.h"
#include "backend/fr_backend.h"
#include "privacy/fr_dp_ledger.h"
#include "privacy/fr_dp_sgd.h"
#include "nn/fr_model.h"
#include "nn/fr_nn.h"
#include "util/fr_rng.h"

#include "fr_test_dp_data.h"

static void make_data(void)
{
    make_data_seeded(77, 4);
}

static int setup(fr_model *m, fr_dp_trainer *tr, double q, double sigma, float clip)
{
    return setup_trainer(m, tr, q, sigma, clip, 1); /* this file tests the reference path */
}

static double host_norm(const fr_model *m, const float *dev, float *host)
{
    m->be->download(host, dev, m->n * sizeof(float));
    double s = 0;
    for (size_t i = 0; i < m->n; i++)
        s += (double)host[i] * host[i];
    return sqrt(s);
}

static void test_clip_bounds_each_user(void)
{
    fr_model m;
    fr_dp_trainer tr;
    fr_err err = {{0}};
    if (setup(&m, &tr, 1.0, 1.0, 0.05f))
        return;
    float *host = malloc(m.n * sizeof(float));
    fr_dp_draw_negatives(&tr);
    /* A loud user: its items' ID embeddings scaled x1000 make its raw gradient huge. */
    int loud = 5;
    float *params = malloc(m.n * sizeof(float));
    fr_model_get_params(&m, params);
    for (long i = train_off[loud]; i < train_off[loud + 1]; i++)
        for (int j = 0; j < D; j++)
            params[m.p[FR_P_E_ID].offset + (size_t)train_items[i] * D + j] *= 1000.0f;
    fr_model_set_params(&m, params);
    for (int u = 0; u < tr.n_users; u++) {
        fr_dp_step_stats st = {0};
        m.be->zero(m.grads, m.n);
        CHECK(fr_dp_accumulate_user(&tr, u, &st, &err) == FR_OK, "%s", err.msg);
        double norm = host_norm(&m, m.grads, host);
        CHECK(norm <= 0.05 * (1 + 1e-5), "user %d contributes norm %g > C", u, norm);
        if (u == loud)
            CHECK(st.clipped == 1 && fabs(norm - 0.05) < 1e-5, "loud user: norm %g", norm);
        /* the per-user buffer is left clean for the next user */
        CHECK(host_norm(&m, tr.workers[0].user_grad, host) == 0.0, "user buffer not reset after %d",
              u);
    }
    free(params);
    free(host);
    fr_dp_trainer_free(&tr);
    fr_model_free(&m);
}

static void test_sparse_sum_equals_dense(void)
{
    fr_model m;
    fr_dp_trainer tr;
    fr_err err = {{0}};
    if (setup(&m, &tr, 1.0, 1.0, 1e6f)) /* no clipping */
        return;
    fr_dp_draw_negatives(&tr);
    m.be->zero(m.grads, m.n);
    fr_dp_step_stats st = {0};
    for (int u = 0; u < tr.n_users; u++)
        CHECK(fr_dp_accumulate_user(&tr, u, &st, &err) == FR_OK, "%s", err.msg);
    float *sum = malloc(m.n * sizeof(float)), *ref = calloc(m.n, sizeof(float));
    m.be->download(sum, m.grads, m.n * sizeof(float));
    /* dense reference: each user's gradient on its own into a zeroed buffer */
    fr_nn net;
    CHECK(fr_nn_init(&net, &m, 4, L, 10, &err) == FR_OK, "%s", err.msg);
    for (int u = 0; u < tr.n_users; u++) {
        m.be->zero(m.grads, m.n);
        int nw = tr.user_count[u] < 4 ? tr.user_count[u] : 4;
        double loss = 0;
        long np = 0;
        CHECK(fr_nn_batch(&net, windows + (tr.user_first[u] + tr.user_count[u] - nw) * (L + 1), nw,
                          tr.neg_buf, 1, &loss, &np, &err) == FR_OK,
              "%s", err.msg);
        for (size_t i = 0; i < m.n; i++)
            ref[i] += m.grads[i];
    }
    double worst = 0, scale = 0;
    for (size_t i = 0; i < m.n; i++) {
        worst = fmax(worst, fabs(sum[i] - ref[i]));
        scale = fmax(scale, fabs(ref[i]));
    }
    CHECK(scale > 0 && worst <= 1e-5 * scale, "sparse sum differs by %g (scale %g)", worst, scale);
    fr_nn_free(&net);
    free(sum);
    free(ref);
    fr_dp_trainer_free(&tr);
    fr_model_free(&m);
}

/* The step's shared item tower: every user's gradient read through a shared pass over
 * the items of all users and the negatives (rows in another order than the user's own
 * batch) equals the gradient of the user's batch computed on its own, over every
 * parameter. */
static void test_shared_equals_own_batch(void)
{
    fr_model m;
    fr_dp_trainer tr;
    fr_err err = {{0}};
    if (setup(&m, &tr, 1.0, 1.0, 1e6f))
        return;
    fr_dp_draw_negatives(&tr);
    int W = L + 1;
    int32_t *items = malloc(sizeof(int32_t) * (size_t)(n_windows * W + 10));
    int n = 0;
    for (int j = 9; j >= 0; j--) /* negatives first, reversed: not the batches' order */
        items[n++] = tr.neg_buf[j];
    for (long i = n_windows * W - 1; i >= 0; i--)
        if (windows[i] > 0)
            items[n++] = windows[i];
    fr_nn shared, own, plain;
    CHECK(fr_nn_init_shared(&shared, &m, 0, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_nn_init(&own, &m, 4, L, 10, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_nn_init(&plain, &m, 4, L, 10, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_nn_share_items(&shared, items, n, &err) == FR_OK, "%s", err.msg);
    own.shared = &shared;
    float *a = malloc(m.n * sizeof(float)), *b = malloc(m.n * sizeof(float));
    for (int u = 0; u < tr.n_users; u++) {
        int nw = tr.user_count[u] < 4 ? tr.user_count[u] : 4;
        const int32_t *w = windows + (tr.user_first[u] + tr.user_count[u] - nw) * W;
        double la = 0, lb = 0;
        long pa = 0, pb = 0;
        m.be->zero(m.grads, m.n);
        CHECK(fr_nn_batch(&own, w, nw, tr.neg_buf, 1, &la, &pa, &err) == FR_OK, "%s", err.msg);
        m.be->download(a, m.grads, m.n * sizeof(float));
        m.be->zero(m.grads, m.n);
        CHECK(fr_nn_batch(&plain, w, nw, tr.neg_buf, 1, &lb, &pb, &err) == FR_OK, "%s", err.msg);
        m.be->download(b, m.grads, m.n * sizeof(float));
        CHECK(pa == pb && fabs(la - lb) <= 1e-5 * fabs(lb), "user %d: loss %g vs %g", u, la, lb);
        for (int p = 0; p < FR_NPARAMS; p++) {
            double worst = 0, scale = 0;
            for (size_t i = m.p[p].offset; i < m.p[p].offset + m.p[p].size; i++) {
                worst = fmax(worst, fabs(a[i] - b[i]));
                scale = fmax(scale, fabs(b[i]));
            }
            CHECK(scale > 0 && worst <= 1e-5 * scale, "user %d, %s: differs by %g (scale %g)", u,
                  fr_model_param_name(p), worst, scale);
        }
    }
    /* an item outside the shared pass is refused, not read from another item's row */
    CHECK(fr_nn_share_items(&shared, items, 1, &err) == FR_OK, "%s", err.msg);
    double l0 = 0;
    long p0 = 0;
    CHECK(fr_nn_batch(&own, windows, 1, tr.neg_buf, 1, &l0, &p0, &err) == FR_EINVAL,
          "a batch beyond the shared items was accepted");
    free(a);
    free(b);
    free(items);
    fr_nn_free(&shared);
    fr_nn_free(&own);
    fr_nn_free(&plain);
    fr_dp_trainer_free(&tr);
    fr_model_free(&m);
}

/* The users of a step through one shared pass, and through the per-user path that
 * backends without sharing take: the same clipped sum. */
static void test_step_sum_both_paths(void)
{
    fr_model m;
    fr_dp_trainer tr;
    fr_err err = {{0}};
    if (setup(&m, &tr, 1.0, 1.0, 0.05f))
        return;
    fr_dp_draw_negatives(&tr);
    int32_t users[U];
    for (int u = 0; u < tr.n_users; u++)
        users[u] = u;
    float *a = malloc(m.n * sizeof(float)), *b = malloc(m.n * sizeof(float));
    fr_dp_step_stats sa = {0}, sb = {0};
    m.be->zero(m.grads, m.n);
    CHECK(tr.share == 1, "the CPU backend shares the item tower");
    CHECK(fr_dp_accumulate_users(&tr, users, tr.n_users, &sa, &err) == FR_OK, "%s", err.msg);
    m.be->download(a, m.grads, m.n * sizeof(float));
    tr.share = 0;
    m.be->zero(m.grads, m.n);
    CHECK(fr_dp_accumulate_users(&tr, users, tr.n_users, &sb, &err) == FR_OK, "%s", err.msg);
    m.be->download(b, m.grads, m.n * sizeof(float));
    CHECK(sa.sampled == tr.n_users && sa.sampled == sb.sampled && sa.clipped == sb.clipped &&
              sa.positions == sb.positions,
          "stats differ: %d/%d clipped", sa.clipped, sb.clipped);
    CHECK(sa.clipped > 0, "no user was clipped at C = 0.05");
    double worst = 0, scale = 0;
    for (size_t i = 0; i < m.n; i++) {
        worst = fmax(worst, fabs(a[i] - b[i]));
        scale = fmax(scale, fabs(b[i]));
    }
    CHECK(scale > 0 && worst <= 1e-5 * scale, "sums differ by %g (scale %g)", worst, scale);
    /* a step with more items than the shared pass holds runs each user on its own */
    tr.share = 1;
    int cap = tr.items.max_items;
    tr.items.max_items = 5;
    m.be->zero(m.grads, m.n);
    memset(&sb, 0, sizeof sb);
    CHECK(fr_dp_accumulate_users(&tr, users, tr.n_users, &sb, &err) == FR_OK, "%s", err.msg);
    CHECK(tr.workers[0].net.shared == NULL, "a step beyond the shared pass still shared it");
    tr.items.max_items = cap;
    m.be->download(b, m.grads, m.n * sizeof(float));
    worst = 0;
    for (size_t i = 0; i < m.n; i++)
        worst = fmax(worst, fabs(a[i] - b[i]));
    CHECK(worst <= 1e-5 * scale, "the fallback's sum differs by %g (scale %g)", worst, scale);
    free(a);
    free(b);
    fr_dp_trainer_free(&tr);
    fr_model_free(&m);
}

/* Whole steps with two workers: reproducible for a seed, and the same update as one
 * worker up to the order of the additions. */
static void test_step_workers(void)
{
    float *p[3] = {0};
    for (int run = 0; run < 3; run++) {
        fr_model m;
        fr_dp_trainer tr;
        fr_err err = {{0}};
        fr_model_config mc = {
            .num_items = V, .token_vocab = VT, .num_tokens = T, .dim = D, .filters = F};
        CHECK(fr_model_init(&m, &mc, fr_backend_cpu(), tokens, NULL, &err) == FR_OK, "%s", err.msg);
        fr_model_init_params(&m, 3);
        fr_train_config tc = {.batch = 8, .seq_len = L, .negatives = 10, .lr = 1e-2f, .seed = 5};
        fr_dp_config dc = {.sampling_rate = 0.5,
                           .noise_multiplier = 1.0,
                           .clip = 0.1f,
                           .max_windows = 4,
                           .workers = run < 2 ? 2 : 1,
                           .per_user = 1,
                           .seed = "w",
                           .seed_len = 1};
        CHECK(fr_dp_trainer_init(&tr, &m, &tc, &dc, train_off, U, windows, n_windows, &err) ==
                  FR_OK,
              "%s", err.msg);
        fr_dp_step_stats st;
        for (int s = 0; s < 3; s++)
            CHECK(fr_dp_trainer_step(&tr, &st, &err) == FR_OK, "%s", err.msg);
        p[run] = malloc(m.n * sizeof(float));
        fr_model_get_params(&m, p[run]);
        size_t n = m.n;
        fr_dp_trainer_free(&tr);
        fr_model_free(&m);
        if (run == 2) {
            CHECK(memcmp(p[0], p[1], n * sizeof(float)) == 0, "two runs with a seed differ");
            double worst = 0;
            for (size_t i = 0; i < n; i++)
                worst = fmax(worst, fabs(p[0][i] - p[2][i]));
            CHECK(worst < 1e-4, "two workers against one: %g", worst);
        }
    }
    for (int run = 0; run < 3; run++)
        free(p[run]);
}

/* A whole step puts noise on every trainable coordinate of a model larger than one
 * noise chunk (the workers draw the chunks), and none on the padding rows: with noise
 * far above the gradients, Adam's first step moves every parameter by about lr. */
/* A model whose 10,000 token rows (no item uses them) make 80,000 parameters, two
 * noise chunks, and a batched trainer on it with two workers (q 0.5, lr 1e-2); CHECK
 * fails and -1 comes back when either cannot be made. */
static int setup_two_chunks(fr_model *m, fr_dp_trainer *tr, double sigma, float clip,
                            const char *seed)
{
    fr_err err = {{0}};
    fr_model_config mc = {
        .num_items = V, .token_vocab = 10000, .num_tokens = T, .dim = D, .filters = F};
    if (fr_model_init(m, &mc, fr_backend_cpu(), tokens, NULL, &err)) {
        CHECK(0, "model: %s", err.msg);
        return -1;
    }
    fr_model_init_params(m, 3);
    fr_train_config tc = {.batch = 8, .seq_len = L, .negatives = 10, .lr = 1e-2f, .seed = 5};
    fr_dp_config dc = {.sampling_rate = 0.5,
                       .noise_multiplier = sigma,
                       .clip = clip,
                       .max_windows = 4,
                       .workers = 2,
                       .seed = seed,
                       .seed_len = strlen(seed)};
    if (fr_dp_trainer_init(tr, m, &tc, &dc, train_off, U, windows, n_windows, &err)) {
        CHECK(0, "dp trainer: %s", err.msg);
        fr_model_free(m);
        return -1;
    }
    return 0;
}

static void test_step_noise_everywhere(void)
{
    fr_model m;
    fr_dp_trainer tr;
    fr_err err = {{0}};
    float lr = 1e-2f;
    if (setup_two_chunks(&m, &tr, 1e3, 1.0f, "n"))
        return;
    CHECK(m.n > 65536, "model of %zu parameters fits one chunk", m.n);
    float *before = malloc(m.n * sizeof(float)), *after = malloc(m.n * sizeof(float));
    fr_model_get_params(&m, before);
    fr_dp_step_stats st;
    CHECK(fr_dp_trainer_step(&tr, &st, &err) == FR_OK, "%s", err.msg);
    fr_model_get_params(&m, after);
    size_t still = 0;
    for (int p = 0; p < FR_NPARAMS; p++)
        for (size_t i = 0; i < m.p[p].size; i++) {
            size_t o = m.p[p].offset + i;
            double moved = fabs((double)after[o] - before[o]);
            if (p <= FR_P_E_TOK && i < (size_t)D)
                CHECK(moved == 0, "%s padding row moved by %g", fr_model_param_name(p), moved);
            else
                still += moved < 0.5 * lr;
        }
    CHECK(still == 0, "%zu coordinates got no noise", still);
    free(before);
    free(after);
    fr_dp_trainer_free(&tr);
    fr_model_free(&m);
}

static void test_noise_std(void)
{
    fr_model m;
    fr_dp_trainer tr;
    double q = 0.25, sigma = 2.0;
    float clip = 0.5f;
    if (setup(&m, &tr, q, sigma, clip))
        return;
    m.be->zero(m.grads, m.n);
    fr_dp_add_noise(&tr);
    float *g = malloc(m.n * sizeof(float));
    m.be->download(g, m.grads, m.n * sizeof(float));
    double want = sigma * clip / (q * tr.n_users), s = 0, s2 = 0;
    size_t cnt = 0;
    for (int p = 0; p < FR_NPARAMS; p++) {
        size_t start = m.p[p].offset + (p <= FR_P_E_TOK ? D : 0); /* padding rows excluded */
        for (size_t i = start; i < m.p[p].offset + m.p[p].size; i++) {
            s += g[i];
            s2 += (double)g[i] * g[i];
            cnt++;
        }
    }
    double mean = s / cnt, sd = sqrt(s2 / cnt - mean * mean);
    CHECK(fabs(sd / want - 1) < 0.03, "noise stddev %g, want %g (%zu coordinates)", sd, want, cnt);
    CHECK(fabs(mean) < 4 * want / sqrt((double)cnt), "noise mean %g", mean);
    for (int j = 0; j < D; j++)
        CHECK(g[m.p[FR_P_E_ID].offset + j] == 0 && g[m.p[FR_P_E_TOK].offset + j] == 0,
              "padding row got noise");
    free(g);
    fr_dp_trainer_free(&tr);
    fr_model_free(&m);
}

/* The batched step on the CPU adds each chunk of noise where it is drawn (no copy of
 * the whole vector): the result must be, bit for bit, the gradients plus the keyed
 * stream of each chunk, padding rows left out, divided by qN, over two chunks drawn
 * by two threads. */
static void test_noise_in_place(void)
{
    fr_model m;
    fr_dp_trainer tr;
    const fr_backend *be = fr_backend_cpu();
    if (setup_two_chunks(&m, &tr, 1.3, 0.7f, "in place"))
        return;
    CHECK(m.n > 65536 && m.n < 2 * 65536, "the vector spans %zu coordinates, want two chunks", m.n);
    tr.steps = 3;
    float *g0 = malloc(m.n * sizeof(float)), *want = malloc(m.n * sizeof(float));
    fr_rng r;
    fr_rng_seed(&r, 11);
    for (size_t i = 0; i < m.n; i++)
        g0[i] = (float)fr_rng_below(&r, 2001) * 1e-3f - 1.0f;
    be->upload(m.grads, g0, m.n * sizeof(float));
    fr_dp_add_noise(&tr);
    for (size_t lo = 0, c = 0; lo < m.n; lo += 65536, c++) {
        size_t len = m.n - lo < 65536 ? m.n - lo : 65536;
        fr_dp_rng_normals_at(&tr.rng, ((uint64_t)3 << 24) | c, want + lo, len, 1.3 * 0.7f);
    }
    float inv = (float)(1.0 / (0.5 * tr.n_users));
    size_t pad_id = m.p[FR_P_E_ID].offset, pad_tok = m.p[FR_P_E_TOK].offset, bad = 0;
    for (size_t i = 0; i < m.n; i++) {
        int pad = (i >= pad_id && i < pad_id + D) || (i >= pad_tok && i < pad_tok + D);
        want[i] = (g0[i] + (pad ? 0.0f : want[i])) * inv;
        bad += memcmp(&want[i], &m.grads[i], sizeof(float)) != 0;
    }
    CHECK(bad == 0, "%zu of %zu coordinates differ from gradient + keyed noise, / qN", bad, m.n);
    free(g0);
    free(want);
    fr_dp_trainer_free(&tr);
    fr_model_free(&m);
}

/* The noise vectors' sampler gives a standard normal, not merely the right variance:
 * the tail masses beyond 1, 2 and 3 and the fourth moment, and streams that do not
 * repeat each other. */
static void test_noise_gaussian(void)
{
    fr_dp_rng r;
    fr_err err = {{0}};
    CHECK(fr_dp_rng_init(&r, "g", 1, &err) == FR_OK, "%s", err.msg);
    size_t n = (size_t)1 << 20;
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
    fr_dp_rng_normals_at(&r, 1, x, n, 1.0);
    fr_dp_rng_normals_at(&r, 2, y, n, 1.0);
    double s = 0, s2 = 0, s4 = 0, sxy = 0, t1 = 0, t2 = 0, t3 = 0;
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        s += v;
        s2 += v * v;
        s4 += v * v * v * v;
        sxy += v * y[i];
        t1 += fabs(v) > 1;
        t2 += fabs(v) > 2;
        t3 += fabs(v) > 3;
    }
    double dn = (double)n;
    /* bounds of about 5 standard errors each */
    CHECK(fabs(s / dn) < 0.005, "mean %g", s / dn);
    CHECK(fabs(s2 / dn - 1) < 0.007, "variance %g", s2 / dn);
    CHECK(fabs(s4 / dn - 3) < 0.04, "fourth moment %g, want 3", s4 / dn);
    CHECK(fabs(t1 / dn - 0.317311) < 0.0023, "P(|z| > 1) = %g", t1 / dn);
    CHECK(fabs(t2 / dn - 0.045500) < 0.0010, "P(|z| > 2) = %g", t2 / dn);
    CHECK(fabs(t3 / dn - 0.002700) < 0.00026, "P(|z| > 3) = %g", t3 / dn);
    CHECK(fabs(sxy / dn) < 0.005, "streams 1 and 2 correlate: %g", sxy / dn);
    /* a stream is a function of the key and its number alone */
    float *z = malloc(1000 * sizeof(float));
    fr_dp_rng_normals_at(&r, 1, z, 1000, 1.0);
    CHECK(memcmp(z, x, 1000 * sizeof(float)) == 0, "stream 1 drawn twice differs");
    free(z);
    free(x);
    free(y);
    fr_dp_rng_free(&r);
}

static void test_noise_source(void)
{
    fr_dp_rng a, b, c;
    fr_err err = {{0}};
    CHECK(fr_dp_rng_init(&a, NULL, 0, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_dp_rng_init(&b, NULL, 0, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_dp_rng_init(&c, "x", 1, &err) == FR_OK, "%s", err.msg);
    double xa = fr_dp_rng_normal(&a), xb = fr_dp_rng_normal(&b);
    CHECK(xa != xb, "two unseeded streams agree");
    fr_dp_rng_free(&b);
    CHECK(fr_dp_rng_init(&b, "x", 1, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_dp_rng_normal(&b) == fr_dp_rng_normal(&c), "seeded streams differ");
    fr_dp_rng_free(&a);
    fr_dp_rng_free(&b);
    fr_dp_rng_free(&c);
}

static void test_ledger(void)
{
    char dir[] = "/tmp/fr_test_ledger_XXXXXX";
    fr_err err = {{0}};
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    fr_dp_ledger l;
    double e1, e2;
    CHECK(fr_dp_ledger_open(&l, dir, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_dp_ledger_set_budget(&l, 2.0, 1e-5, &err) == FR_OK, "%s", err.msg);
    for (int i = 0; i < 100; i++)
        CHECK(fr_dp_ledger_record(&l, 0.01, 1.0, 1, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_dp_ledger_spent(&l, 1e-5, &e1, &err) == FR_OK && e1 > 0, "spent %g", e1);
    fr_dp_ledger_close(&l);
    /* a crash in the middle of a line: the torn record is ignored */
    char path[256];
    snprintf(path, sizeof path, "%s/privacy-ledger", dir);
    FILE *f = fopen(path, "a");
    fputs("steps q=0.01 sig", f);
    fclose(f);
    CHECK(fr_dp_ledger_open(&l, dir, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_dp_ledger_spent(&l, 1e-5, &e2, &err) == FR_OK && e2 == e1 && l.steps == 100,
          "after reopening: %g vs %g, %ld steps", e2, e1, l.steps);
    CHECK(l.budget_eps == 2.0, "budget %g", l.budget_eps);
    /* the budget: 200 more steps fit, 100000 do not */
    CHECK(fr_dp_ledger_check(&l, 0.01, 1.0, 200, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_dp_ledger_check(&l, 0.01, 1.0, 100000, &err) == FR_EINVAL &&
              strstr(err.msg, "spent") && strstr(err.msg, "remaining"),
          "over budget: %s", err.msg);
    fr_dp_ledger_close(&l);
    /* a corrupt complete line is an error, never a silent under-count */
    f = fopen(path, "w");
    fputs("steps q=0.01 sigma=1 n=5\ngarbage\n", f);
    fclose(f);
    CHECK(fr_dp_ledger_open(&l, dir, &err) == FR_EFORMAT && strstr(err.msg, ":2:"), "%s", err.msg);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    make_data();
    RUN(test_clip_bounds_each_user);
    RUN(test_sparse_sum_equals_dense);
    RUN(test_shared_equals_own_batch);
    RUN(test_step_sum_both_paths);
    RUN(test_step_workers);
    RUN(test_step_noise_everywhere);
    RUN(test_noise_std);
    RUN(test_noise_in_place);
    RUN(test_noise_gaussian);
    RUN(test_noise_source);
    RUN(test_ledger);
    free(windows);
    return fr_test_end();
}
