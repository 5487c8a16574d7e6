/* fedrecall-node train: load local data, train the recall model, evaluate it, and
 * write the model file and a metrics JSON. Defaults are the spec's benchmark
 * configuration. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "backend/fr_backend.h"
#include "backend/fr_backend_select.h"
#include "fr_cmd.h"
#include "data/fr_data.h"
#include "privacy/fr_dp_fdp.h"
#include "privacy/fr_dp_ledger.h"
#include "privacy/fr_dp_plan.h"
#include "privacy/fr_dp_sgd.h"
#include "fr_data_cli.h"
#include "fr_train_dp.h"
#include "eval/fr_eval.h"
#include "eval/fr_eval_model.h"
#include "nn/fr_model.h"
#include "nn/fr_modelfile.h"
#include "util/fr_opts.h"
#include "eval/fr_report.h"
#include "nn/fr_train.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void progress_bar(void *ctx, long done, long total)
{
    int epoch = *(int *)ctx, width = 30, filled = (int)(width * done / (total ? total : 1));
    char bar[31];
    memset(bar, '#', (size_t)filled);
    memset(bar + filled, ' ', (size_t)(width - filled));
    bar[width] = 0;
    fprintf(stderr, "\r  epoch %d [%s] %3ld%%", epoch, bar, 100 * done / (total ? total : 1));
    if (done == total)
        fprintf(stderr, "\r%*s\r", width + 24, "");
    fflush(stderr);
}

static void print_metrics(const char *label, const fr_metrics *m)
{
    printf("    %-6s hr@10 %.4f  ndcg@10 %.4f  recall@10 %.4f  ndcg_full@10 %.4f  recall@50 %.4f"
           "  mrr %.4f  coverage@10 %.4f\n",
           label, m->hr10, m->ndcg10, m->recall10, m->ndcg_full10, m->recall50, m->mrr,
           m->coverage10);
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The command's settings, as parsed from its options. */
typedef struct train_opts {
    const char *data, *format, *model_out, *metrics_out, *device, *recipe;
    int epochs, dim, filters, tokens, vocab, seq_len, negatives, batch, threads, eval_every;
    int time_only, eval_users, help;
    float lr, warmup, lr_final, weight_decay, pop_alpha, dropout, item_dropout;
    uint64_t seed;
    int dp;
    fr_train_dp_args dpa;
    fr_data_cli dc;
} train_opts;

/* What a training run holds; train_free releases it all, set up or not. */
typedef struct train_run {
    const fr_backend *be;
    fr_dataset ds;
    fr_model model;
    fr_trainer tr;
    fr_dp_trainer dtr;
    fr_dp_ledger ledger;
    fr_dp_rows rows;    /* --dp: the ID rows it trains (fr_dp_rows.h) */
    fr_skellam sk;      /* --dp-sites: the federation's mechanism */
    fr_dp_rng fdp_rng;  /* --dp-sites: the sites' sampling, rounding and noise */
    size_t fdp_clamped; /* --dp-sites: coordinates the sites' clamps cut */
    fr_evaluator ev;
    int have_ev;
    int32_t *windows;
    long n_windows, n_positions;
    double dp_delta; /* the delta accounted, with --dp */
    json_t *jepochs, *jevals;
    double *epoch_secs; /* epochs */
    double t_start, t_data, eval_s;
    fr_metrics last[2]; /* valid, test of the last evaluation */
    int last_epoch;     /* -1 before any */
} train_run;

static void train_free(train_run *r)
{
    json_decref(r->jepochs);
    json_decref(r->jevals);
    free(r->epoch_secs);
    free(r->windows);
    if (r->have_ev)
        fr_eval_free(&r->ev);
    fr_trainer_free(&r->tr);
    fr_dp_trainer_free(&r->dtr);
    fr_dp_rows_free(&r->rows);
    fr_dp_rng_free(&r->fdp_rng);
    fr_dp_ledger_close(&r->ledger);
    fr_model_free(&r->model);
    fr_dataset_free(&r->ds);
}

/* Backend, data, windows, model, trainer (DP with --dp) and evaluator; prints what
 * the data holds. */
static fr_status train_setup(train_run *r, const train_opts *o, fr_err *err)
{
    fr_status st;
    if ((st = fr_backend_select(o->device, &r->be, err)) != FR_OK)
        return st;
    r->be->set_threads(o->threads);
    if ((st = fr_dataset_load(&r->ds, o->data, o->format, o->tokens, o->vocab, &o->dc.opt, err)) !=
        FR_OK) {
        fr_data_report_print(&r->ds.report, "  ", stdout); /* why nothing was left */
        return st;
    }
    if ((st = fr_dataset_windows(&r->ds, o->seq_len, &r->windows, &r->n_windows, &r->n_positions,
                                 err)) != FR_OK)
        return st;
    fr_model_config mc = {.num_items = r->ds.num_items,
                          .token_vocab = o->vocab,
                          .num_tokens = o->tokens,
                          .dim = o->dim,
                          .filters = o->filters};
    if ((st = fr_model_init(&r->model, &mc, r->be, r->ds.tokens, r->ds.item_ids, err)) != FR_OK)
        return st;
    if (!r->ds.item_ids_numeric &&
        (st = fr_model_set_item_keys(&r->model, (const char *const *)r->ds.item_keys, err)) !=
            FR_OK)
        return st;
    fr_model_init_params(&r->model, o->seed);
    fr_train_config tc = {.batch = o->batch,
                          .seq_len = o->seq_len,
                          .negatives = o->negatives,
                          .lr = o->lr,
                          .seed = o->seed,
                          .epochs = o->epochs,
                          .warmup = o->warmup,
                          .lr_final = o->lr_final,
                          .weight_decay = o->weight_decay,
                          .pop_alpha = o->pop_alpha,
                          .dropout = o->dropout,
                          .item_dropout = o->item_dropout};
    if ((st = fr_trainer_init(&r->tr, &r->model, &tc, r->windows, r->n_windows, err)) != FR_OK)
        return st;
    if (o->dp && (st = fr_train_dp_setup(&r->dtr, &r->ledger, &r->rows, &r->model, &tc, &r->ds,
                                         r->windows, r->n_windows, o->epochs, o->threads, &o->dpa,
                                         &r->sk, &r->dp_delta, err)) != FR_OK)
        return st;
    if (o->dp && o->dpa.sites > 0 &&
        (st = fr_dp_rng_init(&r->fdp_rng, o->dpa.seed, o->dpa.seed ? strlen(o->dpa.seed) : 0,
                             err)) != FR_OK)
        return st;
    if (o->dp && (o->weight_decay > 0 || o->pop_alpha > 0 || o->dropout > 0 || o->item_dropout > 0))
        printf("dp: the DP-SGD step draws uniform negatives; the recipe's weight decay, popularity "
               "sampler and dropout do not apply (its warm-up and decay do)\n");
    if (!o->time_only && r->ds.num_eval_users > 0) {
        if ((st = fr_eval_init(&r->ev, &r->ds, o->seq_len, o->seed, o->eval_users, err)) != FR_OK)
            return st;
        r->have_ev = 1;
    } else if (!o->time_only) {
        printf("note: no user has 3 interactions; nothing to evaluate\n");
    }
    r->t_data = now_s() - r->t_start;
    printf("data: %d users, %d items, %ld interactions (%ld rows read, %ld skipped), %ld training "
           "sequences, %ld positions, %d evaluation users; loaded in %.2f s\n",
           r->ds.num_users, r->ds.num_items - 1, r->ds.interactions, r->ds.report.rows_read,
           r->ds.report.rows_skipped, r->n_windows, r->n_positions, r->ds.num_eval_users,
           r->t_data);
    fr_data_report_print(&r->ds.report, "  ", stdout);
    fflush(stdout);
    return FR_OK;
}

/* Evaluate the model after epoch e on the validation and test splits, print and keep
 * the metrics. */
static fr_status train_evaluate(train_run *r, const train_opts *o, int e, fr_err *err)
{
    double t0 = now_s();
    fr_status st = fr_eval_model(&r->ev, &r->tr.net, o->threads, &r->last[0], &r->last[1], err);
    if (st != FR_OK)
        return st;
    double secs = now_s() - t0;
    r->eval_s += secs;
    r->last_epoch = e;
    printf("  eval epoch %d (%.1f s)\n", e, secs);
    print_metrics("valid", &r->last[0]);
    print_metrics("test", &r->last[1]);
    json_array_append_new(r->jevals, json_pack("{s:i, s:o, s:o, s:f}", "epoch", e, "valid",
                                               fr_report_metrics(&r->last[0]), "test",
                                               fr_report_metrics(&r->last[1]), "seconds", secs));
    return FR_OK;
}

/* The epochs, plain or DP, each printed and evaluated every --eval-every and at the
 * end; with --epochs 0 the initial model is evaluated. */
static fr_status train_epochs(train_run *r, const train_opts *o, fr_err *err)
{
    fr_status st;
    int tty = isatty(2);
    for (int e = 1; e <= o->epochs; e++) {
        fr_epoch_stats es;
        if (o->dp && o->dpa.sites > 0)
            st = fr_dp_fdp_sim_epoch(&r->dtr, &r->sk, r->dtr.cfg.sampling_rate, &r->ledger,
                                     &r->fdp_rng, &es, &r->fdp_clamped, err);
        else if (o->dp)
            st = fr_dp_trainer_epoch(&r->dtr, &r->ledger, &es, tty ? progress_bar : NULL, &e, err);
        else
            st = fr_trainer_epoch(&r->tr, &es, tty ? progress_bar : NULL, &e, err);
        if (st != FR_OK)
            return st;
        if (!isfinite(es.loss))
            return fr_fail(err, FR_EINVAL, "training diverged at epoch %d (loss %g); lower --lr", e,
                           es.loss);
        r->epoch_secs[e - 1] = es.seconds;
        printf("epoch %3d  loss %.4f  %7.2f s  %8.1f seq/s  %9.0f pos/s\n", e, es.loss, es.seconds,
               es.sequences_per_s, es.positions_per_s);
        fflush(stdout);
        json_array_append_new(r->jepochs,
                              json_pack("{s:i, s:f, s:f, s:f, s:f, s:f}", "epoch", e, "loss",
                                        es.loss, "seconds", es.seconds, "sequences_per_s",
                                        es.sequences_per_s, "positions_per_s", es.positions_per_s,
                                        "gemm_gflop", es.gemm_flops / 1e9));
        if (r->have_ev && ((o->eval_every && e % o->eval_every == 0) || e == o->epochs) &&
            (st = train_evaluate(r, o, e, err)) != FR_OK)
            return st;
    }
    if (r->have_ev && r->last_epoch < 0) { /* --epochs 0: evaluate the initial model */
        if ((st = fr_eval_model(&r->ev, &r->tr.net, o->threads, &r->last[0], &r->last[1], err)) !=
            FR_OK)
            return st;
        r->last_epoch = 0;
        print_metrics("valid", &r->last[0]);
        print_metrics("test", &r->last[1]);
    }
    return FR_OK;
}

/* With --dp: the epsilon spent, printed and added to the metrics under "privacy". */
static fr_status train_privacy(train_run *r, json_t *root, fr_err *err)
{
    double spent = 0;
    fr_status st = fr_dp_ledger_spent(&r->ledger, r->dp_delta, &spent, err);
    if (st != FR_OK)
        return st;
    const fr_dp_trainer *d = &r->dtr;
    printf("privacy: epsilon %.4g spent at delta %g (%ld steps in this run, %ld in the ledger "
           "%s; q=%g, sigma=%.4g, C=%g)\n",
           spent, r->dp_delta, d->steps, r->ledger.steps, r->ledger.path, d->cfg.sampling_rate,
           d->cfg.noise_multiplier, (double)d->cfg.clip);
    if (r->sk.nodes > 0)
        printf("privacy: federation-wide over %d sites with distributed noise; %zu coordinates "
               "clamped\n",
               r->sk.nodes, r->fdp_clamped);
    json_object_set_new(root, "privacy",
                        json_pack("{s:f, s:f, s:f, s:f, s:f, s:I, s:I, s:i, s:i}", "epsilon", spent,
                                  "delta", r->dp_delta, "sampling_rate", d->cfg.sampling_rate,
                                  "noise_multiplier", d->cfg.noise_multiplier, "clip",
                                  (double)d->cfg.clip, "steps", (json_int_t)d->steps,
                                  "ledger_steps", (json_int_t)r->ledger.steps, "users", d->n_users,
                                  "sites", r->sk.nodes));
    return FR_OK;
}

/* The median of the epochs' seconds (sorts them). */
static double median_epoch(double *secs, int epochs)
{
    if (!epochs)
        return 0.0;
    qsort(secs, (size_t)epochs, sizeof(double), cmp_double);
    return epochs % 2 ? secs[epochs / 2] : 0.5 * (secs[epochs / 2 - 1] + secs[epochs / 2]);
}

/* The metrics JSON (--metrics-out): configuration, data, epochs, evaluations, the
 * popularity baseline, timing and memory. */
static fr_status train_write_metrics(train_run *r, const train_opts *o, json_t *root,
                                     double train_s, double median, fr_err *err)
{
    fr_status st;
    json_object_set_new(root, "implementation",
                        json_string(strcmp(r->be->name, "cuda") ? "fedrecall (C, CPU backend)"
                                                                : "fedrecall (C, CUDA backend)"));
    json_object_set_new(
        root, "config",
        json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:i, s:I, s:i, s:b}",
                  "data", o->data, "format", o->format, "epochs", o->epochs, "dim", o->dim,
                  "filters", o->filters, "tokens", o->tokens, "token_vocab", o->vocab, "seq_len",
                  o->seq_len, "negatives", o->negatives, "batch", o->batch, "lr", (double)o->lr,
                  "threads", o->threads, "seed", (json_int_t)o->seed, "eval_every", o->eval_every,
                  "time_only", o->time_only));
    json_object_set_new(json_object_get(root, "config"), "recipe",
                        json_pack("{s:s, s:f, s:f, s:f, s:f, s:f, s:f}", "name", o->recipe,
                                  "warmup", (double)o->warmup, "lr_final", (double)o->lr_final,
                                  "weight_decay", (double)o->weight_decay, "pop_alpha",
                                  (double)o->pop_alpha, "dropout", (double)o->dropout,
                                  "item_dropout", (double)o->item_dropout));
    json_object_set_new(root, "data", fr_report_data(&r->ds, r->n_windows, r->n_positions));
    json_object_set_new(root, "epochs", r->jepochs);
    json_object_set_new(root, "evals", r->jevals);
    r->jepochs = r->jevals = NULL;
    if (r->last_epoch >= 0) {
        json_object_set_new(root, "valid", fr_report_metrics(&r->last[0]));
        json_object_set_new(root, "test", fr_report_metrics(&r->last[1]));
        fr_metrics pop[2];
        if ((st = fr_eval_popularity(&r->ev, o->threads, &pop[0], &pop[1], err)) != FR_OK)
            return st;
        json_object_set_new(root, "popularity",
                            json_pack("{s:o, s:o}", "valid", fr_report_metrics(&pop[0]), "test",
                                      fr_report_metrics(&pop[1])));
    }
    json_object_set_new(root, "timing",
                        json_pack("{s:f, s:f, s:f, s:f, s:f}", "data_s", r->t_data, "train_s",
                                  train_s, "eval_s", r->eval_s, "epoch_s_median", median, "total_s",
                                  now_s() - r->t_start));
    json_object_set_new(root, "peak_rss_mib", json_real(peak_rss_mib()));
    return fr_report_write(root, o->metrics_out, err);
}

/* The --recipe named on the command line (its last mention), before the options are
 * parsed, so that the recipe's settings are the defaults that other options override.
 * Without one, --dp starts from "dp": the DP-SGD step has no dropout or popularity
 * sampler, its per-user batches pay for every negative, and its few noisy steps want a
 * larger rate (docs/model.md). */
static const char *recipe_arg(int argc, char **argv)
{
    const char *name = NULL;
    int dp = 0;
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "--recipe=", 9))
            name = argv[i] + 9;
        else if (!strcmp(argv[i], "--recipe") && i + 1 < argc)
            name = argv[++i];
        else if (!strcmp(argv[i], "--dp"))
            dp = 1;
        else if (!strcmp(argv[i], "--"))
            break;
    }
    return name ? name : dp ? "dp" : FR_RECIPE_DEFAULT;
}

static void recipe_defaults(train_opts *o, const fr_recipe *rc)
{
    o->recipe = rc->name;
    o->negatives = rc->negatives;
    o->lr = rc->lr;
    o->warmup = rc->warmup;
    o->lr_final = rc->lr_final;
    o->weight_decay = rc->weight_decay;
    o->pop_alpha = rc->pop_alpha;
    o->dropout = rc->dropout;
    o->item_dropout = rc->item_dropout;
}

int fr_cmd_train(int argc, char **argv)
{
    train_opts o = {.epochs = 20,
                    .dim = 64,
                    .filters = 64,
                    .tokens = 8,
                    .vocab = 4096,
                    .seq_len = 50,
                    .negatives = 128,
                    .batch = 128,
                    .threads = 2,
                    .eval_users = FR_EVAL_MAX_USERS,
                    .lr = 1e-3f,
                    .lr_final = 1.0f,
                    .seed = 1,
                    .device = "cpu",
                    /* user-level DP-SGD */
                    .dpa = {.clip = 1.0f,
                            .max_windows = 32,
                            .state_dir = "fedrecall-state",
                            .rows_z = FR_DP_ROWS_Z}};
    fr_data_cli_init(&o.dc);
    const fr_recipe *recipe = fr_recipe_find(recipe_arg(argc, argv));
    if (!recipe) {
        fr_err rerr = {{0}};
        (void)fr_fail(&rerr, FR_EINVAL, "--recipe: '%s' is not " FR_RECIPE_NAMES,
                      recipe_arg(argc, argv));
        return fr_cmd_fail("train", FR_EINVAL, rerr.msg);
    }
    recipe_defaults(&o, recipe);
    fr_opt opts[] = {
        {"data", FR_OPT_STR, &o.data, 0, 0, "data folder or file", 1, 0},
        {"format", FR_OPT_STR, &o.format, 0, 0, FR_DATA_FORMAT_HELP, 1, 0},
        {"epochs", FR_OPT_INT, &o.epochs, 0, 100000, "training epochs", 0, 0},
        {"dim", FR_OPT_INT, &o.dim, 1, 4096, "embedding and GRU size d", 0, 0},
        {"filters", FR_OPT_INT, &o.filters, 1, 4096, "conv filters F", 0, 0},
        {"tokens", FR_OPT_INT, &o.tokens, 1, 1024, "content tokens per item T", 0, 0},
        {"token-vocab", FR_OPT_INT, &o.vocab, 2, 1 << 24, "hashed token rows Vt", 0, 0},
        {"seq-len", FR_OPT_INT, &o.seq_len, 1, 65536, "sequence length L", 0, 0},
        {"negatives", FR_OPT_INT, &o.negatives, 1, 1 << 20, "shared negatives per batch K", 0, 0},
        {"batch", FR_OPT_INT, &o.batch, 1, 1 << 20, "sequences per batch", 0, 0},
        {"lr", FR_OPT_FLOAT, &o.lr, 1e-12, 1e3, "Adam learning rate", 0, 0},
        {"recipe", FR_OPT_STR, &o.recipe, 0, 0,
         "training recipe: " FR_RECIPE_NAMES "; the options below override it", 0, 0},
        {"warmup", FR_OPT_FLOAT, &o.warmup, 0, 0.99, "fraction of steps with lr ramping up", 0, 0},
        {"lr-final", FR_OPT_FLOAT, &o.lr_final, 0, 1, "last step's lr / lr (cosine decay)", 0, 0},
        {"weight-decay", FR_OPT_FLOAT, &o.weight_decay, 0, 1e3, "decoupled weight decay", 0, 0},
        {"pop-alpha", FR_OPT_FLOAT, &o.pop_alpha, 0, 4,
         "negatives ~ count^alpha with logQ correction (0: uniform)", 0, 0},
        {"dropout", FR_OPT_FLOAT, &o.dropout, 0, 0.95, "dropout on the user vectors", 0, 0},
        {"item-dropout", FR_OPT_FLOAT, &o.item_dropout, 0, 0.95,
         "share of input items read as padding while training", 0, 0},
        {"threads", FR_OPT_INT, &o.threads, 1, 1024, "CPU threads", 0, 0},
        {"device", FR_OPT_STR, &o.device, 0, 0, FR_DEVICE_HELP, 0, 0},
        {"seed", FR_OPT_U64, &o.seed, 0, 0, "random seed", 0, 0},
        {"eval-every", FR_OPT_INT, &o.eval_every, 0, 100000, "also evaluate every N epochs", 0, 0},
        {"eval-users", FR_OPT_INT, &o.eval_users, 1, 1 << 30, "users for the sampled metric", 0, 0},
        {"model-out", FR_OPT_STR, &o.model_out, 0, 0, "write the trained model here", 0, 0},
        {"metrics-out", FR_OPT_STR, &o.metrics_out, 0, 0, "write metrics JSON here", 0, 0},
        {"time-only", FR_OPT_FLAG, &o.time_only, 0, 0, "train only; no evaluation", 0, 0},
        FR_DATA_CLI_OPTS(o.dc),
        {"dp", FR_OPT_FLAG, &o.dp, 0, 0, "train with user-level DP-SGD (docs/privacy.md)", 0, 0},
        {"dp-sampling-rate", FR_OPT_DOUBLE, &o.dpa.q, 1e-9, 1,
         "DP: user sampling rate q (default: the recipe from the budget, docs/privacy.md; "
         "batch / users when the noise is given)",
         0, 0},
        {"dp-noise", FR_OPT_DOUBLE, &o.dpa.sigma, 1e-6, 1e9,
         "DP: noise multiplier sigma "
         "(default: the smallest that fits the budget)",
         0, 0},
        {"dp-clip", FR_OPT_FLOAT, &o.dpa.clip, 1e-9, 1e9, "DP: per-user clip norm C", 0, 0},
        {"dp-max-windows", FR_OPT_INT, &o.dpa.max_windows, 1, 1 << 16,
         "DP: newest windows that "
         "count per user",
         0, 0},
        {"dp-epsilon-max", FR_OPT_DOUBLE, &o.dpa.eps_max, 1e-6, 1e6, "DP: privacy budget epsilon",
         0, 0},
        {"dp-delta", FR_OPT_DOUBLE, &o.dpa.delta, 1e-300, 0.5, "DP: delta (default 1/(10 users))",
         0, 0},
        {"dp-per-user", FR_OPT_FLAG, &o.dpa.per_user, 0, 0,
         "DP: each sampled user's gradient in a pass of its own (the reference path; "
         "default: a step's users in one batch)",
         0, 0},
        {"dp-seed", FR_OPT_STR, &o.dpa.seed, 0, 0,
         "DP: fixed noise seed, for tests only (voids "
         "the guarantee)",
         0, 0},
        {"state-dir", FR_OPT_STR, &o.dpa.state_dir, 0, 0, "folder of the node's privacy ledger", 0,
         0},
        {"dp-rows-share", FR_OPT_DOUBLE, &o.dpa.rows_share, 0, 0.9,
         "DP: share of the budget's epsilon spent selecting the item rows to train (0: train "
         "every row; docs/privacy.md)",
         0, 0},
        {"dp-rows-noise", FR_OPT_DOUBLE, &o.dpa.rows_noise, 0, 1e9,
         "DP: the row selection's noise multiplier (instead of a share)", 0, 0},
        {"dp-rows-z", FR_OPT_DOUBLE, &o.dpa.rows_z, -1e3, 1e3,
         "DP: the row selection's threshold, in units of its noise", 0, 0},
        {"dp-sites", FR_OPT_INT, &o.dpa.sites, 3, 255,
         "DP: train as the federation of this many sites would, with federation-wide DP and "
         "distributed Skellam noise (docs/privacy.md)",
         0, 0},
        {"help", FR_OPT_FLAG, &o.help, 0, 0, "show this help", 0, 0},
        {0},
    };
    if (fr_opts_handle_help(argc, argv, "fedrecall-node train --data PATH --format FMT [OPTIONS]",
                            opts,
                            "fedrecall-node train --data ml-latest-small --format movielens-csv "
                            "--epochs 10 --model-out model.frm --metrics-out metrics.json"))
        return 0;
    fr_err err = {{0}};
    fr_status st = fr_opts_parse(opts, argc, argv, &err);
    if (st)
        return fr_cmd_fail("train", st, err.msg);
    fr_data_cli_finish(&o.dc);

    int rc = 1;
    train_run r = {.ledger = {.fd = -1},
                   .last_epoch = -1,
                   .t_start = now_s(),
                   .jepochs = json_array(),
                   .jevals = json_array(),
                   .epoch_secs = calloc((size_t)(o.epochs > 0 ? o.epochs : 1), sizeof(double))};
    json_t *root = json_object();
    if ((st = train_setup(&r, &o, &err)) != FR_OK || (st = train_epochs(&r, &o, &err)) != FR_OK ||
        (o.dp && (st = train_privacy(&r, root, &err)) != FR_OK))
        goto fail;
    if (o.model_out) {
        if ((st = fr_modelfile_save(&r.model, o.model_out, 0, &err)) != FR_OK)
            goto fail;
        printf("model: %s\n", o.model_out);
    }
    double train_s = 0.0;
    for (int e = 0; e < o.epochs; e++)
        train_s += r.epoch_secs[e];
    double median = median_epoch(r.epoch_secs, o.epochs);
    printf("total %.1f s, median epoch %.3f s, peak RSS %.0f MiB\n", now_s() - r.t_start, median,
           peak_rss_mib());
    if (o.metrics_out && (st = train_write_metrics(&r, &o, root, train_s, median, &err)) != FR_OK)
        goto fail;
    rc = 0;
    goto out;
fail:
    rc = fr_cmd_fail("train", st, err.msg);
out:
    json_decref(root);
    train_free(&r);
    return rc;
}
