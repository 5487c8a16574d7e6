/* Training end to end on generated data with planted structure: the trained model
 * must beat a popularity ranking by a clear margin (an untrained or broken model does
 * not), training must be deterministic for a seed and thread count, and a model saved
 * and loaded must give the same metrics; FedProx's proximal term adds its exact gradient
 * and keeps training near its anchor. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fr_test.h"
#include "backend/fr_backend.h"
#include "data/fr_data.h"
#include "eval/fr_eval.h"
#include "eval/fr_eval_model.h"
#include "nn/fr_model.h"
#include "nn/fr_modelfile.h"
#include "data/fr_synth.h"
#include "nn/fr_train.h"

static char dir[] = "/tmp/fr_test_train_XXXXXX";
static fr_dataset ds;

enum { L = 20, EPOCHS = 6 };

typedef struct run {
    fr_model model;
    fr_trainer tr;
    fr_metrics valid, test;
    double last_loss;
} run;

static int32_t *windows;
static long n_windows, n_positions;

/* Train a small model for `epochs` epochs and evaluate it. */
static int train(run *r, int epochs, uint64_t seed, int threads, const fr_evaluator *ev)
{
    fr_err err = {{0}};
    const fr_backend *be = fr_backend_cpu();
    be->set_threads(threads);
    fr_model_config mc = {.num_items = ds.num_items,
                          .token_vocab = ds.token_vocab,
                          .num_tokens = ds.num_tokens,
                          .dim = 32,
                          .filters = 32};
    memset(r, 0, sizeof *r);
    if (fr_model_init(&r->model, &mc, be, ds.tokens, ds.item_ids, &err)) {
        CHECK(0, "model init: %s", err.msg);
        return -1;
    }
    fr_model_init_params(&r->model, seed);
    fr_train_config tc = {.batch = 64, .seq_len = L, .negatives = 64, .lr = 5e-3f, .seed = seed};
    if (fr_trainer_init(&r->tr, &r->model, &tc, windows, n_windows, &err)) {
        CHECK(0, "trainer init: %s", err.msg);
        return -1;
    }
    for (int e = 0; e < epochs; e++) {
        fr_epoch_stats es;
        if (fr_trainer_epoch(&r->tr, &es, NULL, NULL, &err)) {
            CHECK(0, "epoch: %s", err.msg);
            return -1;
        }
        r->last_loss = es.loss;
    }
    if (fr_eval_model(ev, &r->tr.net, threads, &r->valid, &r->test, &err)) {
        CHECK(0, "eval: %s", err.msg);
        return -1;
    }
    return 0;
}

static void run_free(run *r)
{
    fr_trainer_free(&r->tr);
    fr_model_free(&r->model);
}

static fr_evaluator ev;

static void test_beats_popularity(void)
{
    run trained, untrained;
    fr_metrics pv, pt;
    fr_err err = {{0}};
    CHECK(fr_eval_popularity(&ev, 2, &pv, &pt, &err) == FR_OK, "popularity: %s", err.msg);
    if (train(&untrained, 0, 5, 2, &ev) || train(&trained, EPOCHS, 5, 2, &ev))
        return;
    printf("  popularity test: hr@10 %.3f ndcg@10 %.3f recall@10 %.3f\n", pt.hr10, pt.ndcg10,
           pt.recall10);
    printf("  untrained  test: hr@10 %.3f ndcg@10 %.3f recall@10 %.3f\n", untrained.test.hr10,
           untrained.test.ndcg10, untrained.test.recall10);
    printf("  trained    test: hr@10 %.3f ndcg@10 %.3f recall@10 %.3f (loss %.3f)\n",
           trained.test.hr10, trained.test.ndcg10, trained.test.recall10, trained.last_loss);
    /* The planted habits make the next item predictable from the last few; a working
     * model must clearly beat popularity on the full ranking and the sampled metric. */
    CHECK(trained.test.recall10 > 1.5 * pt.recall10 && trained.test.recall10 > pt.recall10 + 0.1,
          "recall@10 %.3f vs popularity %.3f", trained.test.recall10, pt.recall10);
    CHECK(trained.test.ndcg10 > pt.ndcg10 + 0.1, "ndcg@10 %.3f vs popularity %.3f",
          trained.test.ndcg10, pt.ndcg10);
    CHECK(trained.valid.recall10 > 1.5 * pv.recall10, "valid recall@10 %.3f vs popularity %.3f",
          trained.valid.recall10, pv.recall10);
    /* ... which the margin above must not grant to an untrained model. */
    CHECK(!(untrained.test.recall10 > 1.5 * pt.recall10 &&
            untrained.test.recall10 > pt.recall10 + 0.1),
          "an untrained model passes the margin: recall@10 %.3f", untrained.test.recall10);
    run_free(&trained);
    run_free(&untrained);
}

static void test_deterministic(void)
{
    run a, b, c;
    if (train(&a, 2, 9, 2, &ev) || train(&b, 2, 9, 2, &ev) || train(&c, 2, 10, 2, &ev))
        return;
    size_t bytes = a.model.n * sizeof(float);
    CHECK(memcmp(a.model.params, b.model.params, bytes) == 0, "same seed, different parameters");
    CHECK(a.last_loss == b.last_loss, "same seed, loss %.9g vs %.9g", a.last_loss, b.last_loss);
    CHECK(memcmp(a.model.params, c.model.params, bytes) != 0, "another seed, same parameters");
    run_free(&a);
    run_free(&b);
    run_free(&c);
}

static void test_save_load_same_metrics(void)
{
    run a;
    fr_err err = {{0}};
    if (train(&a, 1, 11, 2, &ev))
        return;
    char path[64];
    snprintf(path, sizeof path, "%s/m.frm", dir);
    CHECK(fr_modelfile_save(&a.model, path, 0, &err) == FR_OK, "save: %s", err.msg);
    fr_model b;
    CHECK(fr_modelfile_load(&b, fr_backend_cpu(), path, &err) == FR_OK, "load: %s", err.msg);
    fr_nn net;
    CHECK(fr_nn_init(&net, &b, 100, L, 1, &err) == FR_OK, "net: %s", err.msg);
    fr_metrics v, t;
    CHECK(fr_eval_model(&ev, &net, 2, &v, &t, &err) == FR_OK, "eval: %s", err.msg);
    CHECK(t.recall10 == a.test.recall10 && t.mrr == a.test.mrr && v.ndcg10 == a.valid.ndcg10,
          "loaded model scores differently: mrr %.9g vs %.9g", t.mrr, a.test.mrr);
    fr_nn_free(&net);
    fr_model_free(&b);
    run_free(&a);
}

/* FedProx's term: the gradient gains exactly mu (params - anchor), and a trainer with
 * the term ends its epochs nearer the anchor (its start) than one without. */
static double distance_after(float mu, uint64_t seed)
{
    fr_err err = {{0}};
    const fr_backend *be = fr_backend_cpu();
    fr_model_config mc = {.num_items = ds.num_items,
                          .token_vocab = ds.token_vocab,
                          .num_tokens = ds.num_tokens,
                          .dim = 32,
                          .filters = 32};
    fr_model m;
    fr_trainer tr = {0};
    double d = -1;
    if (fr_model_init(&m, &mc, be, ds.tokens, ds.item_ids, &err)) {
        CHECK(0, "model init: %s", err.msg);
        return -1;
    }
    fr_model_init_params(&m, seed);
    float *start = be->alloc(m.n * sizeof(float));
    CHECK(start != NULL, "anchor");
    fr_train_config tc = {.batch = 64, .seq_len = L, .negatives = 64, .lr = 5e-3f, .seed = seed};
    if (start && fr_trainer_init(&tr, &m, &tc, windows, n_windows, &err) == FR_OK) {
        memcpy(start, m.params, m.n * sizeof(float));
        fr_trainer_set_prox(&tr, start, mu);
        fr_epoch_stats es;
        int ok = 1;
        for (int e = 0; e < 2 && ok; e++)
            ok = fr_trainer_epoch(&tr, &es, NULL, NULL, &err) == FR_OK;
        CHECK(ok, "epoch: %s", err.msg);
        d = 0;
        for (size_t i = 0; i < m.n; i++)
            d += ((double)m.params[i] - start[i]) * ((double)m.params[i] - start[i]);
        d = sqrt(d);
    }
    fr_trainer_free(&tr);
    be->free(start);
    fr_model_free(&m);
    return d;
}

static void test_prox(void)
{
    /* the gradient, coordinate by coordinate */
    run a;
    if (train(&a, 0, 13, 2, &ev))
        return;
    fr_model *m = &a.model;
    float *anchor = malloc(m->n * sizeof(float)), *want = malloc(m->n * sizeof(float));
    CHECK(anchor && want, "alloc");
    if (anchor && want) {
        for (size_t i = 0; i < m->n; i++) {
            m->grads[i] = (float)sin((double)i);
            anchor[i] = m->params[i] + 0.1f * (float)cos((double)i);
            want[i] = m->grads[i] + 0.5f * (m->params[i] - anchor[i]);
        }
        fr_train_prox_grad(m, anchor, 0.5f);
        size_t bad = 0;
        for (size_t i = 0; i < m->n; i++)
            bad += fabsf(m->grads[i] - want[i]) > 1e-6f * (1.0f + fabsf(want[i]));
        CHECK(bad == 0, "proximal gradient: %zu of %zu coordinates differ", bad, m->n);
    }
    free(anchor);
    free(want);
    run_free(&a);
    /* and in training: the pull keeps the model near where the round started */
    double free_d = distance_after(0.0f, 13), pulled_d = distance_after(10.0f, 13);
    printf("# distance from the start after 2 epochs: %.4f without the term, %.4f with mu 10\n",
           free_d, pulled_d);
    CHECK(free_d > 0 && pulled_d >= 0 && pulled_d < 0.5 * free_d,
          "proximal term: %.4f from the start with mu 10, %.4f without", pulled_d, free_d);
}

int main(void)
{
    fr_err err = {{0}};
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    fr_synth_config sc;
    fr_synth_config_default(&sc);
    sc.users = 400;
    sc.items = 200;
    sc.clusters = 6;
    sc.seed = 21;
    if (fr_synth_write(&sc, dir, &err) ||
        fr_dataset_load(&ds, dir, "movielens-csv", 8, 4096, NULL, &err) ||
        fr_dataset_windows(&ds, L, &windows, &n_windows, &n_positions, &err) ||
        fr_eval_init(&ev, &ds, L, 1, FR_EVAL_MAX_USERS, &err)) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    RUN(test_beats_popularity);
    RUN(test_deterministic);
    RUN(test_save_load_same_metrics);
    RUN(test_prox);
    fr_eval_free(&ev);
    free(windows);
    fr_dataset_free(&ds);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return fr_test_end();
}
