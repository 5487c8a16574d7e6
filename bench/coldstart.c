/* The cold-start table (docs/benchmarks.md): items held out of training entirely and
 * recalled from their content, by the CNN+RNN model against the same model with no
 * content (ID only), over seeds. One JSON line per training, then a Markdown table.
 * Usage: coldstart --data DIR [--format F] [--epochs N] [--seeds "1 2 3"]
 *                  [--frac 0.1] [--recipe tuned|peer] [--threads 2] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/fr_backend.h"
#include "data/fr_data.h"
#include "eval/fr_eval.h"
#include "eval/fr_eval_holdout.h"
#include "eval/fr_eval_model.h"
#include "nn/fr_model.h"
#include "nn/fr_nn.h"
#include "nn/fr_train.h"
#include "util/fr_opts.h"

enum { L = 50, T = 8, VT = 4096, D = 64, MAX_SEEDS = 16 };

typedef struct result {
    fr_holdout_metrics cold;
    fr_metrics test;
} result;

/* Train one model (content or ID only) on ds and measure it. */
static fr_status one(const fr_dataset *ds, const uint8_t *cold, const fr_evaluator *ev,
                     const fr_recipe *rc, int epochs, uint64_t seed, int id_only, result *res,
                     fr_err *err)
{
    const fr_backend *be = fr_backend_cpu();
    int V = ds->num_items;
    fr_model m = {0}, init = {0};
    fr_trainer tr = {0};
    int32_t *windows = NULL, *tokens = NULL;
    float *items = NULL, *users = NULL, *p0 = NULL, *p = NULL;
    long nw = 0, np = 0;
    fr_status st;
    fr_model_config mc = {
        .num_items = V, .token_vocab = VT, .num_tokens = T, .dim = D, .filters = D};
    tokens = id_only ? calloc((size_t)V * T, sizeof(int32_t)) : NULL;
    if (id_only && !tokens) {
        st = fr_fail(err, FR_ENOMEM, "cannot allocate tokens");
        goto out;
    }
    if ((st = fr_dataset_windows(ds, L, &windows, &nw, &np, err)) != FR_OK ||
        (st = fr_model_init(&m, &mc, be, id_only ? tokens : ds->tokens, ds->item_ids, err)) !=
            FR_OK ||
        (st = fr_model_init(&init, &mc, be, id_only ? tokens : ds->tokens, ds->item_ids, err)) !=
            FR_OK)
        goto out;
    fr_model_init_params(&m, seed);
    fr_model_init_params(&init, seed);
    fr_train_config tc = {.batch = 128,
                          .seq_len = L,
                          .negatives = rc->negatives,
                          .lr = rc->lr,
                          .seed = seed,
                          .epochs = epochs,
                          .warmup = rc->warmup,
                          .lr_final = rc->lr_final,
                          .weight_decay = rc->weight_decay,
                          .pop_alpha = rc->pop_alpha,
                          .dropout = rc->dropout,
                          .item_dropout = rc->item_dropout};
    if ((st = fr_trainer_init(&tr, &m, &tc, windows, nw, err)) != FR_OK)
        goto out;
    for (int e = 0; e < epochs; e++) {
        fr_epoch_stats es;
        if ((st = fr_trainer_epoch(&tr, &es, NULL, NULL, err)) != FR_OK)
            goto out;
    }
    /* Cold items may have been drawn as negatives; their ID rows go back to their
     * initial values, so that nothing learnt about them as items remains. */
    p0 = malloc(m.n * sizeof(float));
    p = malloc(m.n * sizeof(float));
    items = malloc((size_t)V * D * sizeof(float));
    users = malloc((size_t)(ev->n_users ? ev->n_users : 1) * D * sizeof(float));
    if (!p0 || !p || !items || !users) {
        st = fr_fail(err, FR_ENOMEM, "cannot allocate vectors");
        goto out;
    }
    fr_model_get_params(&init, p0);
    fr_model_get_params(&m, p);
    for (int i = 1; i < V; i++)
        if (cold[i])
            memcpy(p + m.p[FR_P_E_ID].offset + (size_t)i * D,
                   p0 + m.p[FR_P_E_ID].offset + (size_t)i * D, D * sizeof(float));
    fr_model_set_params(&m, p);
    if ((st = fr_eval_model(ev, &tr.net, 2, NULL, &res->test, err)) != FR_OK ||
        (st = fr_nn_item_vectors(&tr.net, items, err)) != FR_OK ||
        (st = fr_nn_user_vectors(&tr.net, items, ev->inputs[FR_SPLIT_TEST], ev->n_users, users,
                                 err)) != FR_OK ||
        (st = fr_eval_holdout(ev, cold, items, users, D, &res->cold, err)) != FR_OK)
        goto out;
out:
    fr_trainer_free(&tr);
    fr_model_free(&m);
    fr_model_free(&init);
    free(windows);
    free(tokens);
    free(items);
    free(users);
    free(p0);
    free(p);
    return st;
}

static void mean_sd(const double *x, int n, double *mean, double *sd)
{
    double s = 0, ss = 0;
    for (int i = 0; i < n; i++)
        s += x[i];
    *mean = s / n;
    for (int i = 0; i < n; i++)
        ss += (x[i] - *mean) * (x[i] - *mean);
    *sd = n > 1 ? sqrt(ss / (n - 1)) : 0.0;
}

int main(int argc, char **argv)
{
    /* passive OpenMP waiting, as fedrecall-node sets it (node/main.c): busy-waiting
     * costs several times the work on a loaded machine */
    if (!getenv("OMP_WAIT_POLICY")) {
        setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
        execv("/proc/self/exe", argv);
    }
    const char *data = NULL, *format = "movielens-csv", *seeds_s = "1 2 3", *recipe = "tuned";
    int epochs = 100, threads = 2, help = 0;
    double frac = 0.2;
    fr_opt opts[] = {
        {"data", FR_OPT_STR, &data, 0, 0, "data folder or file", 1, 0},
        {"format", FR_OPT_STR, &format, 0, 0, "data format", 0, 0},
        {"epochs", FR_OPT_INT, &epochs, 1, 100000, "training epochs", 0, 0},
        {"seeds", FR_OPT_STR, &seeds_s, 0, 0, "training seeds, space-separated", 0, 0},
        {"frac", FR_OPT_DOUBLE, &frac, 0.001, 0.9, "share of the items with content held out", 0,
         0},
        {"recipe", FR_OPT_STR, &recipe, 0, 0, "training recipe (tuned or peer)", 0, 0},
        {"threads", FR_OPT_INT, &threads, 1, 1024, "CPU threads", 0, 0},
        {"help", FR_OPT_FLAG, &help, 0, 0, "show this help", 0, 0},
        {0},
    };
    if (fr_opts_handle_help(argc - 1, argv + 1, "coldstart --data PATH [OPTIONS]", opts,
                            "coldstart --data ../shared/data/ml-latest-small --epochs 100"))
        return 0;
    fr_err err = {{0}};
    fr_dataset ds = {0};
    fr_evaluator ev = {0};
    uint8_t *cold = NULL;
    int rc = 1, have_ev = 0;
    const fr_recipe *rcp = fr_recipe_find(recipe);
    fr_status st = fr_opts_parse(opts, argc - 1, argv + 1, &err);
    if (st == FR_OK && !(rcp = fr_recipe_find(recipe)))
        st = fr_fail(&err, FR_EINVAL, "--recipe: '%s' is not " FR_RECIPE_NAMES, recipe);
    uint64_t seeds[MAX_SEEDS];
    int ns = 0;
    for (const char *s = seeds_s; st == FR_OK && *s;) {
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (end == s || ns == MAX_SEEDS) {
            st = fr_fail(&err, FR_EINVAL, "--seeds: '%s' is not up to %d integers", seeds_s,
                         MAX_SEEDS);
            break;
        }
        seeds[ns++] = v;
        s = end + strspn(end, " ,");
    }
    if (st == FR_OK && ns == 0)
        st = fr_fail(&err, FR_EINVAL, "--seeds: none given");
    if (st != FR_OK)
        goto out;
    fr_backend_cpu()->set_threads(threads);
    double f[2][6][MAX_SEEDS];
    for (int k = 0; k < ns; k++) {
        /* each seed holds out its own items, so that the seeds together cover more
         * test users than one cold set would */
        if (have_ev)
            fr_eval_free(&ev);
        have_ev = 0;
        fr_dataset_free(&ds);
        free(cold);
        cold = NULL;
        if ((st = fr_dataset_load(&ds, data, format, T, VT, NULL, &err)) != FR_OK)
            goto out;
        if (!(cold = malloc((size_t)ds.num_items))) {
            st = fr_fail(&err, FR_ENOMEM, "cannot allocate the cold set");
            goto out;
        }
        int n_cold = fr_holdout_pick(&ds, frac, seeds[k], cold);
        fr_holdout_drop_train(&ds, cold);
        if ((st = fr_eval_init(&ev, &ds, L, seeds[k], FR_EVAL_MAX_USERS, &err)) != FR_OK)
            goto out;
        have_ev = 1;
        printf("# seed %llu: %d of %ld items with content held out of training; recipe %s, %d "
               "epochs\n",
               (unsigned long long)seeds[k], n_cold, ds.items_with_content, rcp->name, epochs);
        for (int id_only = 0; id_only < 2; id_only++) {
            result r;
            if ((st = one(&ds, cold, &ev, rcp, epochs, seeds[k], id_only, &r, &err)) != FR_OK)
                goto out;
            double v[6] = {r.cold.recall10,     r.cold.recall50, r.cold.all_recall10,
                           r.cold.all_recall50, r.test.hr10,     r.test.recall10};
            for (int j = 0; j < 6; j++)
                f[id_only][j][k] = v[j];
            printf("{\"model\": \"%s\", \"seed\": %llu, \"cold_users\": %d, \"cold_items\": %d, "
                   "\"cold_recall@10\": %.4f, \"cold_recall@50\": %.4f, \"all_recall@10\": %.4f, "
                   "\"all_recall@50\": %.4f, \"test_hr@10\": %.4f, \"test_recall@10\": %.4f}\n",
                   id_only ? "id-only" : "content", (unsigned long long)seeds[k], r.cold.users,
                   r.cold.cold_items, v[0], v[1], v[2], v[3], v[4], v[5]);
            fflush(stdout);
        }
    }
    printf("\n| model | cold items: Recall@10 | Recall@50 | whole catalogue: Recall@10 | Recall@50 "
           "| all test users: HR@10 | Recall@10 |\n|---|---|---|---|---|---|---|\n");
    for (int id_only = 0; id_only < 2; id_only++) {
        printf("| %s |", id_only ? "ID only" : "content + ID");
        for (int j = 0; j < 6; j++) {
            double mean, sd;
            mean_sd(f[id_only][j], ns, &mean, &sd);
            printf(" %.4f ± %.4f |", mean, sd);
        }
        printf("\n");
    }
    rc = 0;
out:
    if (st != FR_OK)
        fprintf(stderr, "coldstart: %s\n", err.msg);
    if (have_ev)
        fr_eval_free(&ev);
    fr_dataset_free(&ds);
    free(cold);
    return rc;
}
