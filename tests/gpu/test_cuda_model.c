/* The model on the CUDA backend against the CPU reference (`make test-cuda`): a full
 * training step (gradients and the Adam update), recall on the device, three epochs of
 * training on generated data, and DP-SGD steps (clipping, the noise's statistics,
 * several workers feeding the device at once). Without a usable GPU (or in a build
 * without the backend) it says why, reports zero cases and exits 0. */
#include <unistd.h>

#include "fr_test_cuda.h"
#include "data/fr_data.h"
#include "data/fr_synth.h"
#include "nn/fr_model.h"
#include "nn/fr_nn.h"
#include "nn/fr_train.h"
#include "privacy/fr_dp_sgd.h"
#include "recall/fr_recall.h"

static char dir[] = "/tmp/fr_test_cuda_XXXXXX";
static fr_dataset ds;
static int32_t *windows;
static long n_windows, n_positions;
enum { SEQ = 20, DIM = 32, FILTERS = 32 };

static int model_on(fr_model *m, const fr_backend *be)
{
    fr_err err = {{0}};
    fr_model_config mc = {.num_items = ds.num_items,
                          .token_vocab = ds.token_vocab,
                          .num_tokens = ds.num_tokens,
                          .dim = DIM,
                          .filters = FILTERS};
    if (fr_model_init(m, &mc, be, ds.tokens, ds.item_ids, &err)) {
        CHECK(0, "model on %s: %s", be->name, err.msg);
        return -1;
    }
    fr_model_init_params(m, 7);
    return 0;
}

/* Adam divides each step by the gradient's own scale, so a coordinate whose gradient
 * is near zero (at eps) may move by a fraction of lr on one backend and not the other:
 * parameters after Adam steps are compared by counting the coordinates that differ
 * by more than a tenth of lr, which must be rare, and none may be NaN. */
static void compare_after_adam(const char *what, const float *a, const float *b, size_t n, float lr)
{
    size_t off = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        bad += !isfinite(b[i]);
        off += !(fabsf(a[i] - b[i]) <= 0.1f * lr);
    }
    CHECK(bad == 0 && off <= n / 200,
          "%s: %zu of %zu parameters differ by more than lr/10 "
          "(%zu not finite)",
          what, off, n, bad);
}

/* Parameter tensors of two models (host copies) compared one by one. */
static void compare_tensors(const char *what, const fr_model *m, const float *a, const float *b,
                            double tol)
{
    for (int i = 0; i < FR_NPARAMS; i++) {
        double e = rel_err(a + m->p[i].offset, b + m->p[i].offset, m->p[i].size);
        CHECK(e <= tol, "%s %s: relative error %g > %g", what, m->p[i].name, e, tol);
    }
}

static void test_training_step(void)
{
    fr_model mc, mg;
    fr_nn nc = {0}, ng = {0};
    fr_err err = {{0}};
    if (model_on(&mc, cpu) || model_on(&mg, gpu))
        return;
    int B = 64, K = 50;
    CHECK(fr_nn_init(&nc, &mc, B, SEQ, K, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_nn_init(&ng, &mg, B, SEQ, K, &err) == FR_OK, "%s", err.msg);
    int32_t *neg = malloc((size_t)K * sizeof(int32_t));
    for (int j = 0; j < K; j++)
        neg[j] = 1 + (int32_t)fr_rng_below(&rng, (uint64_t)(ds.num_items - 1));
    double lc = 0, lg = 0;
    long pc = 0, pg = 0;
    cpu->zero(mc.grads, mc.n);
    gpu->zero(mg.grads, mg.n);
    CHECK(fr_nn_batch(&nc, windows, B, neg, 1, &lc, &pc, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_nn_batch(&ng, windows, B, neg, 1, &lg, &pg, &err) == FR_OK, "%s", err.msg);
    CHECK(pc == pg && pc > 0 && fr_rel_err(lc, lg) < 1e-5, "loss %g vs %g", lc, lg);
    float *a = malloc(mc.n * sizeof(float)), *b = malloc(mc.n * sizeof(float));
    cpu->download(a, mc.grads, mc.n * sizeof(float));
    gpu->download(b, mg.grads, mg.n * sizeof(float));
    compare_tensors("gradient", &mc, a, b, 1e-4);
    fr_train_adam_step(&mc, 1e-3f);
    fr_train_adam_step(&mg, 1e-3f);
    fr_model_get_params(&mc, a);
    fr_model_get_params(&mg, b);
    compare_after_adam("after one step", a, b, mc.n, 1e-3f);
    free(a);
    free(b);
    free(neg);
    fr_nn_free(&nc);
    fr_nn_free(&ng);
    fr_model_free(&mc);
    fr_model_free(&mg);
}

/* Recall through the model on both backends: the device's search (one product per
 * chunk, topk_rows) against the CPU's blocked one, for every user of the data with a
 * floor and without. User vectors agree only within rounding, so two items whose
 * scores are that close may trade places: the lists must hold nearly the same items,
 * and each rank's score must match. */
static void test_recall_device(void)
{
    fr_model mc, mg;
    fr_nn nc = {0}, ng = {0};
    fr_err err = {{0}};
    if (model_on(&mc, cpu) || model_on(&mg, gpu))
        return;
    CHECK(fr_nn_init(&nc, &mc, 64, SEQ, 1, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_nn_init(&ng, &mg, 64, SEQ, 1, &err) == FR_OK, "%s", err.msg);
    int U = ds.num_users, K = 30;
    int32_t *users = malloc((size_t)U * sizeof *users);
    for (int u = 0; u < U; u++)
        users[u] = u;
    fr_recall_hit *hc = malloc((size_t)U * K * sizeof *hc),
                  *hg = malloc((size_t)U * K * sizeof *hg);
    int *cc = malloc((size_t)U * sizeof *cc), *cg = malloc((size_t)U * sizeof *cg);
    for (int variant = 0; variant < 2; variant++) {
        fr_recall_config c;
        fr_recall_config_default(&c);
        c.strategy = FR_RECALL_MODEL;
        c.k = K;
        c.seq_len = SEQ;
        c.threads = 2;
        c.use_threshold = variant;
        c.threshold = 0.0f;
        fr_recall rc, rg;
        CHECK(fr_recall_init(&rc, &ds, &nc, &c, &err) == FR_OK, "%s", err.msg);
        CHECK(fr_recall_init(&rg, &ds, &ng, &c, &err) == FR_OK, "%s", err.msg);
        CHECK(rg.dev.be == gpu && rc.dev.be == NULL, "device search on %s only", gpu->name);
        CHECK(fr_recall_users(&rc, users, U, hc, cc, &err) == FR_OK, "%s", err.msg);
        CHECK(fr_recall_users(&rg, users, U, hg, cg, &err) == FR_OK, "%s", err.msg);
        long same = 0, total = 0, off = 0, counts = 0;
        for (int u = 0; u < U; u++) {
            counts += abs(cc[u] - cg[u]) > 1;
            for (int i = 0; i < cc[u] && i < cg[u]; i++) {
                const fr_recall_hit *a = hc + (size_t)u * K + i, *b = hg + (size_t)u * K + i;
                off += !(fabsf(a->score - b->score) <= 1e-4f * (1.0f + fabsf(a->score)));
                for (int j = 0; j < cg[u]; j++)
                    if (hg[(size_t)u * K + j].row == a->row) {
                        same++;
                        break;
                    }
                total++;
            }
        }
        CHECK(total > 0 && same >= total * 99 / 100 && off == 0 && counts == 0,
              "threshold %d: %ld of %ld items shared, %ld scores off, %ld counts differ", variant,
              same, total, off, counts);
        fr_recall_free(&rc);
        fr_recall_free(&rg);
    }
    free(users);
    free(hc);
    free(hg);
    free(cc);
    free(cg);
    fr_nn_free(&nc);
    fr_nn_free(&ng);
    fr_model_free(&mc);
    fr_model_free(&mg);
}

/* Three epochs on both backends from the same start; the losses must agree. */
static void three_epochs(const fr_train_config *cfg_in)
{
    fr_model mc, mg;
    fr_trainer tc = {0}, tg = {0};
    fr_err err = {{0}};
    if (model_on(&mc, cpu) || model_on(&mg, gpu))
        return;
    fr_train_config cfg = *cfg_in;
    CHECK(fr_trainer_init(&tc, &mc, &cfg, windows, n_windows, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_trainer_init(&tg, &mg, &cfg, windows, n_windows, &err) == FR_OK, "%s", err.msg);
    double first = 0;
    for (int e = 0; e < 3; e++) {
        fr_epoch_stats sc, sg;
        CHECK(fr_trainer_epoch(&tc, &sc, NULL, NULL, &err) == FR_OK, "%s", err.msg);
        CHECK(fr_trainer_epoch(&tg, &sg, NULL, NULL, &err) == FR_OK, "%s", err.msg);
        printf("  epoch %d: loss cpu %.5f cuda %.5f (%.0f vs %.0f seq/s)\n", e + 1, sc.loss,
               sg.loss, sc.sequences_per_s, sg.sequences_per_s);
        CHECK(isfinite(sg.loss) && fr_rel_err(sc.loss, sg.loss) < 2e-2,
              "epoch %d: loss %g on the CPU, %g on CUDA", e + 1, sc.loss, sg.loss);
        if (e == 0)
            first = sg.loss;
        else if (e == 2)
            CHECK(sg.loss < first, "CUDA training does not learn: %g then %g", first, sg.loss);
    }
    fr_trainer_free(&tc);
    fr_trainer_free(&tg);
    fr_model_free(&mc);
    fr_model_free(&mg);
}

static void test_three_epochs(void)
{
    fr_train_config cfg = {.batch = 64, .seq_len = SEQ, .negatives = 64, .lr = 5e-3f, .seed = 3};
    three_epochs(&cfg);
}

/* The tuned recipe's pieces on the device: the logQ correction (gathers, add_bias,
 * axpy), the dropout mask (mul) and AdamW's decay (scale); masks and negatives come
 * from the host's streams, so both backends train on the same draws. */
static void test_recipe_epochs(void)
{
    fr_train_config cfg = {.batch = 64,
                           .seq_len = SEQ,
                           .negatives = 64,
                           .lr = 5e-3f,
                           .seed = 3,
                           .epochs = 3,
                           .warmup = 0.1f,
                           .lr_final = 0.0f,
                           .weight_decay = 0.1f,
                           .pop_alpha = 0.75f,
                           .dropout = 0.3f};
    three_epochs(&cfg);
}

/* DP-SGD on both backends from the same model and seed. */
static int dp_on(fr_model *m, fr_dp_trainer *tr, const fr_backend *be, int workers, float clip)
{
    fr_err err = {{0}};
    if (model_on(m, be))
        return -1;
    fr_train_config tc = {.batch = 32, .seq_len = SEQ, .negatives = 40, .lr = 1e-2f, .seed = 5};
    fr_dp_config dc = {.sampling_rate = 0.1,
                       .noise_multiplier = 1.0,
                       .clip = clip,
                       .max_windows = 4,
                       .workers = workers,
                       .seed = "cuda",
                       .seed_len = 4};
    if (fr_dp_trainer_init(tr, m, &tc, &dc, ds.train_off, ds.num_users, windows, n_windows, &err)) {
        CHECK(0, "dp trainer on %s: %s", be->name, err.msg);
        fr_model_free(m);
        return -1;
    }
    return 0;
}

static void test_dp(void)
{
    fr_model mc, mg;
    fr_dp_trainer tc, tg;
    fr_err err = {{0}};
    if (dp_on(&mc, &tc, cpu, 1, 0.05f))
        return;
    if (dp_on(&mg, &tg, gpu, 1, 0.05f)) {
        fr_dp_trainer_free(&tc);
        fr_model_free(&mc);
        return;
    }
    size_t n = mc.n;
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    /* clipping: the same users clipped, the same clipped sum */
    fr_dp_draw_negatives(&tc);
    fr_dp_draw_negatives(&tg);
    fr_dp_step_stats sc = {0}, sg = {0};
    for (int u = 0; u < 20 && u < tc.n_users; u++) {
        CHECK(fr_dp_accumulate_user(&tc, u, &sc, &err) == FR_OK, "%s", err.msg);
        CHECK(fr_dp_accumulate_user(&tg, u, &sg, &err) == FR_OK, "%s", err.msg);
    }
    CHECK(sc.clipped == sg.clipped && sc.clipped > 0, "clipped users: %d on the CPU, %d on CUDA",
          sc.clipped, sg.clipped);
    cpu->download(a, mc.grads, n * sizeof(float));
    gpu->download(b, mg.grads, n * sizeof(float));
    compare_tensors("clipped sum", &mc, a, b, 1e-4);
    /* noise alone: N(0, (sigma C)^2) / (qN) on every trainable coordinate */
    cpu->zero(mc.grads, n);
    gpu->zero(mg.grads, n);
    fr_dp_add_noise(&tc);
    fr_dp_add_noise(&tg);
    cpu->download(a, mc.grads, n * sizeof(float));
    gpu->download(b, mg.grads, n * sizeof(float));
    compare_tensors("noise", &mc, a, b, 1e-6);
    double s1 = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) {
        s1 += b[i];
        s2 += (double)b[i] * b[i];
    }
    double want = 1.0 * 0.05 / (0.1 * tg.n_users), mean = s1 / n, sd = sqrt(s2 / n - mean * mean);
    /* the alignment padding between tensors gets noise too (it is part of the buffer) */
    CHECK(fabs(sd / want - 1) < 0.05 && fabs(mean) < 5 * want / sqrt((double)n),
          "noise: mean %g, sd %g, expected sd %g", mean, sd, want);
    fr_dp_trainer_free(&tc);
    fr_dp_trainer_free(&tg);
    fr_model_free(&mc);
    fr_model_free(&mg);

    /* whole steps with two workers feeding the device from two threads */
    if (dp_on(&mc, &tc, cpu, 2, 1.0f))
        return;
    if (dp_on(&mg, &tg, gpu, 2, 1.0f)) {
        fr_dp_trainer_free(&tc);
        fr_model_free(&mc);
        return;
    }
    for (int s = 0; s < 3; s++) {
        CHECK(fr_dp_trainer_step(&tc, &sc, &err) == FR_OK, "%s", err.msg);
        CHECK(fr_dp_trainer_step(&tg, &sg, &err) == FR_OK, "%s", err.msg);
        CHECK(sc.sampled == sg.sampled && sc.clipped == sg.clipped,
              "step %d: sampled %d/%d, clipped %d/%d", s, sc.sampled, sg.sampled, sc.clipped,
              sg.clipped);
    }
    fr_model_get_params(&mc, a);
    fr_model_get_params(&mg, b);
    compare_after_adam("after 3 DP steps", a, b, n, 1e-2f);
    free(a);
    free(b);
    fr_dp_trainer_free(&tc);
    fr_dp_trainer_free(&tg);
    fr_model_free(&mc);
    fr_model_free(&mg);
}

static int load_data(void)
{
    fr_err err = {{0}};
    fr_synth_config sc;
    fr_synth_config_default(&sc);
    sc.users = 400;
    sc.items = 200;
    if (!mkdtemp(dir) || fr_synth_write(&sc, dir, &err) != FR_OK) {
        fprintf(stderr, "test_cuda_model: synth: %s\n", err.msg);
        return -1;
    }
    if (fr_dataset_load(&ds, dir, "movielens-csv", 4, 512, NULL, &err) != FR_OK ||
        fr_dataset_windows(&ds, SEQ, &windows, &n_windows, &n_positions, &err) != FR_OK) {
        fprintf(stderr, "test_cuda_model: data: %s\n", err.msg);
        return -1;
    }
    return 0;
}

int main(void)
{
    if (!cuda_test_open("test_cuda_model"))
        return fr_test_end();
    if (load_data() == 0) {
        RUN(test_training_step);
        RUN(test_recall_device);
        RUN(test_three_epochs);
        RUN(test_recipe_epochs);
        RUN(test_dp);
    } else {
        fr_t_failed++;
    }
    free(windows);
    fr_dataset_free(&ds);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_cuda_model: could not remove %s\n", dir);
    return fr_test_end();
}
