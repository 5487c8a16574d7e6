/* The training recipe's pieces: the learning-rate schedule's values, decoupled weight
 * decay on a step with zero gradients, the popularity sampler's frequencies and its
 * -log Q table, and a batch's loss under the logQ correction against the same loss
 * computed on the host from the model's item and user vectors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fr_test.h"
#include "backend/fr_backend.h"
#include "nn/fr_model.h"
#include "nn/fr_nn.h"
#include "nn/fr_train.h"
#include "util/fr_rng.h"

static void test_schedule(void)
{
    fr_train_config c = {.lr = 2e-3f, .warmup = 0.1f, .lr_final = 0.05f};
    CHECK(fr_train_lr_at(&c, 7, 0) == 2e-3f, "no schedule: the constant lr");
    /* 100 steps: 10 of warm-up (lr/10, 2lr/10, ...), then cosine from lr to lr/20 */
    CHECK(fabsf(fr_train_lr_at(&c, 0, 100) - 2e-4f) < 1e-9f, "first step %g",
          (double)fr_train_lr_at(&c, 0, 100));
    CHECK(fabsf(fr_train_lr_at(&c, 9, 100) - 2e-3f) < 1e-9f, "end of warm-up %g",
          (double)fr_train_lr_at(&c, 9, 100));
    CHECK(fabsf(fr_train_lr_at(&c, 10, 100) - 2e-3f) < 1e-9f, "peak %g",
          (double)fr_train_lr_at(&c, 10, 100));
    CHECK(fabsf(fr_train_lr_at(&c, 99, 100) - 1e-4f) < 1e-9f, "last step %g",
          (double)fr_train_lr_at(&c, 99, 100));
    /* half-way through the decay (step 10 + 44.5): the mean of peak and floor */
    double mid = fr_train_lr_at(&c, 54, 100),
           want = 1e-4 + 1.9e-3 * 0.5 * (1 + cos(M_PI * 44 / 89.0));
    CHECK(fabs(mid - want) < 1e-8, "mid-decay %g want %g", mid, want);
    float prev = 1.0f;
    for (long s = 10; s < 100; s++) {
        float lr = fr_train_lr_at(&c, s, 100);
        CHECK(lr <= prev, "decay not monotone at %ld", s);
        prev = lr;
    }
    CHECK(fr_train_lr_at(&c, 500, 100) == fr_train_lr_at(&c, 99, 100), "past the end: last lr");
}

static void test_adamw_decay(void)
{
    const fr_backend *be = fr_backend_cpu();
    fr_model_config mc = {
        .num_items = 5, .token_vocab = 4, .num_tokens = 2, .dim = 4, .filters = 3};
    int32_t tok[10] = {0};
    int64_t ids[5] = {0, 1, 2, 3, 4};
    fr_model m;
    fr_err err = {{0}};
    CHECK(fr_model_init(&m, &mc, be, tok, ids, &err) == FR_OK, "%s", err.msg);
    fr_model_init_params(&m, 3);
    float *before = malloc(m.n * sizeof(float)), *after = malloc(m.n * sizeof(float));
    fr_model_get_params(&m, before);
    be->zero(m.grads, m.n);
    fr_train_adamw_step(&m, 0.01f, 0.5f); /* zero gradients: Adam moves nothing */
    fr_model_get_params(&m, after);
    int bad = 0;
    for (size_t i = 0; i < m.n; i++)
        bad += fabsf(after[i] - before[i] * 0.995f) > 1e-7f;
    CHECK(bad == 0, "%d parameters not decayed by 1 - lr wd", bad);
    fr_train_adamw_step(&m, 0.01f, 0.0f);
    fr_model_get_params(&m, before);
    CHECK(memcmp(before, after, m.n * sizeof(float)) == 0, "wd 0 decays nothing");
    free(before);
    free(after);
    fr_model_free(&m);
}

static void test_negsampler(void)
{
    enum { V = 6, W = 4, NW = 3, DRAWS = 200000 };
    /* item 1 x5, item 2 x3, item 3 x1, items 4 and 5 absent; padding ignored */
    int32_t win[NW * W] = {0, 1, 1, 2, 1, 2, 3, 1, 0, 0, 1, 2};
    fr_negsampler ns;
    fr_err err = {{0}};
    CHECK(fr_negsampler_init(&ns, win, NW, W, V, 0.0f, &err) == FR_EINVAL, "alpha 0 refused");
    CHECK(fr_negsampler_init(&ns, win, NW, W, V, 1.0f, &err) == FR_OK, "%s", err.msg);
    double w[V] = {0, 6, 4, 2, 1, 1}, tot = 14; /* count + 1 */
    for (int j = 1; j < V; j++)
        CHECK(fabs(ns.nlogq[j] + log(w[j] / tot)) < 1e-5, "-log Q(%d) = %g", j,
              (double)ns.nlogq[j]);
    fr_rng r;
    fr_rng_seed(&r, 9);
    int32_t *out = malloc(DRAWS * sizeof(int32_t));
    long cnt[V] = {0};
    fr_negsampler_draw(&ns, &r, out, DRAWS);
    for (int i = 0; i < DRAWS; i++) {
        CHECK(out[i] >= 1 && out[i] < V, "draw %d outside [1, V)", out[i]);
        if (out[i] >= 1 && out[i] < V)
            cnt[out[i]]++;
    }
    for (int j = 1; j < V; j++) { /* within 5 standard deviations */
        double p = w[j] / tot, sd = sqrt(DRAWS * p * (1 - p));
        CHECK(fabs(cnt[j] - DRAWS * p) < 5 * sd, "item %d drawn %ld times, expected %.0f", j,
              cnt[j], DRAWS * p);
    }
    fr_negsampler_free(&ns);
    /* alpha 0.5 flattens: Q proportional to sqrt(count + 1) */
    CHECK(fr_negsampler_init(&ns, win, NW, W, V, 0.5f, &err) == FR_OK, "%s", err.msg);
    CHECK(fabs((ns.nlogq[4] - ns.nlogq[1]) - 0.5 * log(6.0)) < 1e-5, "alpha 0.5 ratio");
    fr_negsampler_free(&ns);
    free(out);
}

/* One window whose only trained position is the last: its user vector is that of the
 * sequence of its inputs, so the loss can be computed on the host. */
static void test_logq_loss(void)
{
    enum { V = 9, L = 4, K = 5, D = 8 };
    const fr_backend *be = fr_backend_cpu();
    be->set_threads(1);
    fr_model_config mc = {
        .num_items = V, .token_vocab = 7, .num_tokens = 3, .dim = D, .filters = 5};
    int32_t tok[V * 3];
    int64_t ids[V];
    fr_rng r;
    fr_rng_seed(&r, 4);
    for (int i = 0; i < V; i++) {
        ids[i] = i;
        for (int t = 0; t < 3; t++)
            tok[i * 3 + t] = i ? (int32_t)fr_rng_below(&r, 7) : 0;
    }
    fr_model m;
    fr_nn net, ev;
    fr_err err = {{0}};
    CHECK(fr_model_init(&m, &mc, be, tok, ids, &err) == FR_OK, "%s", err.msg);
    fr_model_init_params(&m, 5);
    CHECK(fr_nn_init(&net, &m, 1, L, K, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_nn_init(&ev, &m, 1, L, K, &err) == FR_OK, "%s", err.msg);
    int32_t win[L + 1] = {0, 0, 3, 7, 2}; /* inputs 3, 7; targets 7, 2 */
    int32_t neg[K] = {1, 2, 5, 5, 8};     /* 2 equals a target: masked at that position */
    float nlogq[V];
    for (int j = 0; j < V; j++)
        nlogq[j] = (float)(0.3 * j - 1.0);
    CHECK(fr_nn_set_logq(&net, nlogq, &err) == FR_OK, "%s", err.msg);
    double got = 0; /* the summed cross-entropy of the batch's positions */
    long np = 0;
    be->zero(m.grads, m.n);
    CHECK(fr_nn_batch(&net, win, 1, neg, 0, &got, &np, &err) == FR_OK, "%s", err.msg);
    CHECK(np == 2, "positions %ld", np);
    /* host: item vectors, and the user vectors after inputs (3) and (3, 7) */
    float *hv = malloc((size_t)V * D * sizeof(float)), q[2][D];
    int32_t seqs[2 * L] = {0, 0, 0, 3, 0, 0, 3, 7};
    CHECK(fr_nn_item_vectors(&ev, hv, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_nn_user_vectors(&ev, hv, seqs, 2, &q[0][0], &err) == FR_OK, "%s", err.msg);
    /* the window's positions run over the padding first, as these sequences do */
    double want = 0;
    int tgt[2] = {7, 2};
    for (int p = 0; p < 2; p++) {
        double s[K + 1], mx = -1e30;
        for (int j = 0; j <= K; j++) {
            int row = j == K ? tgt[p] : neg[j];
            double dot = 0;
            for (int k = 0; k < D; k++)
                dot += (double)q[p][k] * hv[row * D + k];
            s[j] = (j < K && neg[j] == tgt[p]) ? -INFINITY : dot + nlogq[row];
            mx = fmax(mx, s[j]);
        }
        double sum = 0;
        for (int j = 0; j <= K; j++)
            sum += exp(s[j] - mx);
        want += log(sum) + mx - s[K];
    }
    /* float against double, and the backend's vectorised exp */
    CHECK(fabs(got - want) < 1e-3 * fabs(want), "loss %g, host %g", got, want);
    /* a constant table shifts every logit alike: the plain loss */
    double plain = 0, shifted = 0;
    long n2 = 0;
    CHECK(fr_nn_batch(&ev, win, 1, neg, 0, &plain, &n2, &err) == FR_OK, "%s", err.msg);
    for (int j = 0; j < V; j++)
        nlogq[j] = 2.5f;
    CHECK(fr_nn_set_logq(&net, nlogq, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_nn_batch(&net, win, 1, neg, 0, &shifted, &n2, &err) == FR_OK, "%s", err.msg);
    CHECK(fabs(plain - shifted) < 1e-5, "constant shift changed the loss: %g vs %g", plain,
          shifted);
    CHECK(fabs(plain - got) > 1e-3, "the correction changed nothing");
    free(hv);
    fr_nn_free(&net);
    fr_nn_free(&ev);
    fr_model_free(&m);
}

/* Loss of one batch with the dropout stream reseeded, so that every call draws the
 * same mask; gradients into m->grads when backward. */
static float p_out = 0.4f, p_in = 0.0f;
static double drop_loss(fr_nn *net, const int32_t *win, int b, const int32_t *neg, int backward)
{
    fr_err err = {{0}};
    double loss = 0;
    long np = 0;
    CHECK(fr_nn_set_dropout(net, p_out, 77, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_nn_set_item_dropout(net, p_in, 78, &err) == FR_OK, "%s", err.msg);
    if (backward)
        net->model->be->zero(net->model->grads, net->model->n);
    CHECK(fr_nn_batch(net, win, b, neg, backward, &loss, &np, &err) == FR_OK, "%s", err.msg);
    return loss / (double)np;
}

/* Dropout (rates p_out, p_in): evaluation (no backward) never drops, training does,
 * and the gradient is that of the dropped network (central differences with the same
 * mask). */
static void dropout_case(void)
{
    enum { V = 12, L = 6, K = 7, D = 8, B = 3 };
    const fr_backend *be = fr_backend_cpu();
    be->set_threads(1);
    fr_model_config mc = {
        .num_items = V, .token_vocab = 9, .num_tokens = 3, .dim = D, .filters = 4};
    int32_t tok[V * 3];
    int64_t ids[V];
    fr_rng r;
    fr_rng_seed(&r, 8);
    for (int i = 0; i < V; i++) {
        ids[i] = i;
        for (int t = 0; t < 3; t++)
            tok[i * 3 + t] = i ? (int32_t)fr_rng_below(&r, 9) : 0;
    }
    int32_t win[B * (L + 1)], neg[K];
    for (int i = 0; i < B * (L + 1); i++)
        win[i] = 1 + (int32_t)fr_rng_below(&r, V - 1);
    for (int j = 0; j < K; j++)
        neg[j] = 1 + (int32_t)fr_rng_below(&r, V - 1);
    fr_model m;
    fr_nn net;
    fr_err err = {{0}};
    CHECK(fr_model_init(&m, &mc, be, tok, ids, &err) == FR_OK, "%s", err.msg);
    fr_model_init_params(&m, 6);
    CHECK(fr_nn_init(&net, &m, B, L, K, &err) == FR_OK, "%s", err.msg);
    double plain = 0, evald = 0;
    long np = 0;
    CHECK(fr_nn_batch(&net, win, B, neg, 0, &plain, &np, &err) == FR_OK, "%s", err.msg);
    double dropped = drop_loss(&net, win, B, neg, 1);
    CHECK(fr_nn_batch(&net, win, B, neg, 0, &evald, &np, &err) == FR_OK, "%s", err.msg);
    CHECK(plain == evald, "a forward-only batch dropped: %g vs %g", plain, evald);
    CHECK(fabs(dropped - plain / (B * L)) > 1e-4, "dropout changed nothing");
    float *g = malloc(m.n * sizeof(float)), *p = malloc(m.n * sizeof(float));
    fr_model_get_params(&m, p);
    drop_loss(&net, win, B, neg, 1);
    memcpy(g, m.grads, m.n * sizeof(float)); /* the CPU backend's memory is the host's */
    int idx[] = {FR_P_GRU_W_HH, FR_P_GRU_W_IH, FR_P_W_PROJ, FR_P_GRU_B_HH, FR_P_E_ID};
    double num2 = 0, diff2 = 0, h = 5e-3;
    for (size_t t = 0; t < sizeof idx / sizeof idx[0]; t++) {
        const fr_param *pp = &m.p[idx[t]];
        for (size_t k = 0; k < pp->size; k += 3) {
            size_t o = pp->offset + k;
            float keep = p[o];
            p[o] = keep + (float)h;
            fr_model_set_params(&m, p);
            double lp = drop_loss(&net, win, B, neg, 1);
            p[o] = keep - (float)h;
            fr_model_set_params(&m, p);
            double lm = drop_loss(&net, win, B, neg, 1);
            p[o] = keep;
            double num = (lp - lm) / (2 * h);
            num2 += num * num;
            diff2 += (num - g[o]) * (num - g[o]);
        }
    }
    fr_model_set_params(&m, p);
    CHECK(num2 > 1e-8, "no gradient to compare");
    CHECK(sqrt(diff2 / num2) < 2e-2, "gradient off the dropped network's by %.3g (relative)",
          sqrt(diff2 / num2));
    float x[4] = {1, 2, 3, 4}, y[4] = {0.5f, 0, -1, 2};
    be->mul(x, y, 4);
    CHECK(x[0] == 0.5f && x[1] == 0 && x[2] == -3 && x[3] == 8, "mul");
    free(g);
    free(p);
    fr_nn_free(&net);
    fr_model_free(&m);
}

static void test_dropout(void)
{
    p_out = 0.4f;
    p_in = 0.0f;
    dropout_case();
}

static void test_item_dropout(void)
{
    p_out = 0.0f;
    p_in = 0.5f;
    dropout_case();
    p_out = 0.3f; /* both */
    dropout_case();
}

int main(void)
{
    RUN(test_schedule);
    RUN(test_adamw_decay);
    RUN(test_negsampler);
    RUN(test_logq_loss);
    RUN(test_dropout);
    RUN(test_item_dropout);
    return fr_test_end();
}
