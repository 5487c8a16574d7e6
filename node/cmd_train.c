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
#include "privacy/fr_dp_ledger.h"
#include "privacy/fr_dp_plan.h"
#include "privacy/fr_dp_sgd.h"
#include "fr_data_cli.h"
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

typedef struct dp_args {
    double q, sigma;
    float clip;
    int max_windows;
    double eps_max, delta;
    const char *state_dir, *seed;
} dp_args;

/* Open the ledger, settle q, delta and sigma, refuse a run over the budget, and set up
 * the DP trainer. Prints one line saying what the run will spend. */
static fr_status dp_setup(fr_dp_trainer *dtr, fr_dp_ledger *ledger, fr_model *model,
                          const fr_train_config *tc, const fr_dataset *ds, const int32_t *windows,
                          long n_windows, int epochs, int threads, const dp_args *a,
                          double *delta_out, fr_err *err)
{
    fr_status st;
    int n = fr_dp_population(ds->train_off, ds->num_users, tc->seq_len);
    if (n < 1)
        return fr_fail(err, FR_ENODATA, "dp: no user has a training window");
    double q = a->q > 0 ? a->q : fr_dp_plan_default_q(tc->batch, n);
    long planned = (long)epochs * fr_dp_steps_per_epoch(q);
    if ((st = fr_dp_ledger_open(ledger, a->state_dir, err)) != FR_OK)
        return st;
    fr_dp_plan plan;
    fr_dp_plan_req req = {.eps_max = a->eps_max,
                          .delta = a->delta,
                          .noise = a->sigma,
                          .users = n,
                          .q = q,
                          .steps = planned,
                          .rounds = 1};
    if ((st = fr_dp_plan_make(ledger, &req, &plan, err)) != FR_OK)
        return st;
    if (plan.over_budget)
        return fr_fail(err, FR_EINVAL, "%s", plan.why);
    double sigma = plan.sigma, delta = plan.delta;
    fr_rdp after = ledger->rdp;
    double eps_after = 0;
    if ((st = fr_rdp_compose(&after, q, sigma, planned, err)) != FR_OK ||
        (st = fr_rdp_epsilon(&after, delta, &eps_after, NULL, err)) != FR_OK)
        return st;
    printf("dp: %d users, q=%g, sigma=%.4g, C=%g, %ld steps; epsilon at delta %g will be %.4g "
           "after this run%s\n",
           n, q, sigma, (double)a->clip, planned, delta, eps_after,
           ledger->budget_eps > 0 ? "" : " (no budget set)");
    if (a->seed)
        printf("dp: warning: --dp-seed fixes the noise; this run has no privacy guarantee\n");
    *delta_out = delta;
    fr_dp_config dc = {.sampling_rate = q,
                       .noise_multiplier = sigma,
                       .clip = a->clip,
                       .max_windows = a->max_windows,
                       .workers = threads,
                       .seed = a->seed,
                       .seed_len = a->seed ? strlen(a->seed) : 0};
    return fr_dp_trainer_init(dtr, model, tc, &dc, ds->train_off, ds->num_users, windows, n_windows,
                              err);
}

int fr_cmd_train(int argc, char **argv)
{
    const char *data = NULL, *format = NULL, *model_out = NULL, *metrics_out = NULL;
    int epochs = 20, dim = 64, filters = 64, tokens = 8, vocab = 4096, seq_len = 50;
    int negatives = 128, batch = 128, threads = 2, eval_every = 0, time_only = 0;
    int eval_users = FR_EVAL_MAX_USERS, help = 0;
    float lr = 1e-3f;
    uint64_t seed = 1;
    /* user-level DP-SGD */
    int dp = 0, dp_max_windows = 32;
    double dp_q = 0, dp_noise = 0, dp_eps_max = 0, dp_delta = 0;
    float dp_clip = 1.0f;
    const char *state_dir = "fedrecall-state", *dp_seed = NULL, *device = "cpu";
    fr_data_cli dc;
    fr_data_cli_init(&dc);
    fr_opt opts[] = {
        {"data", FR_OPT_STR, &data, 0, 0, "data folder or file", 1, 0},
        {"format", FR_OPT_STR, &format, 0, 0, FR_DATA_FORMAT_HELP, 1, 0},
        {"epochs", FR_OPT_INT, &epochs, 0, 100000, "training epochs", 0, 0},
        {"dim", FR_OPT_INT, &dim, 1, 4096, "embedding and GRU size d", 0, 0},
        {"filters", FR_OPT_INT, &filters, 1, 4096, "conv filters F", 0, 0},
        {"tokens", FR_OPT_INT, &tokens, 1, 1024, "content tokens per item T", 0, 0},
        {"token-vocab", FR_OPT_INT, &vocab, 2, 1 << 24, "hashed token rows Vt", 0, 0},
        {"seq-len", FR_OPT_INT, &seq_len, 1, 65536, "sequence length L", 0, 0},
        {"negatives", FR_OPT_INT, &negatives, 1, 1 << 20, "shared negatives per batch K", 0, 0},
        {"batch", FR_OPT_INT, &batch, 1, 1 << 20, "sequences per batch", 0, 0},
        {"lr", FR_OPT_FLOAT, &lr, 1e-12, 1e3, "Adam learning rate", 0, 0},
        {"threads", FR_OPT_INT, &threads, 1, 1024, "CPU threads", 0, 0},
        {"device", FR_OPT_STR, &device, 0, 0, FR_DEVICE_HELP, 0, 0},
        {"seed", FR_OPT_U64, &seed, 0, 0, "random seed", 0, 0},
        {"eval-every", FR_OPT_INT, &eval_every, 0, 100000, "also evaluate every N epochs", 0, 0},
        {"eval-users", FR_OPT_INT, &eval_users, 1, 1 << 30, "users for the sampled metric", 0, 0},
        {"model-out", FR_OPT_STR, &model_out, 0, 0, "write the trained model here", 0, 0},
        {"metrics-out", FR_OPT_STR, &metrics_out, 0, 0, "write metrics JSON here", 0, 0},
        {"time-only", FR_OPT_FLAG, &time_only, 0, 0, "train only; no evaluation", 0, 0},
        FR_DATA_CLI_OPTS(dc),
        {"dp", FR_OPT_FLAG, &dp, 0, 0, "train with user-level DP-SGD (docs/privacy.md)", 0, 0},
        {"dp-sampling-rate", FR_OPT_DOUBLE, &dp_q, 1e-9, 1,
         "DP: user sampling rate q "
         "(default batch / users)",
         0, 0},
        {"dp-noise", FR_OPT_DOUBLE, &dp_noise, 1e-6, 1e9,
         "DP: noise multiplier sigma "
         "(default: the smallest that fits the budget)",
         0, 0},
        {"dp-clip", FR_OPT_FLOAT, &dp_clip, 1e-9, 1e9, "DP: per-user clip norm C", 0, 0},
        {"dp-max-windows", FR_OPT_INT, &dp_max_windows, 1, 1 << 16,
         "DP: newest windows that "
         "count per user",
         0, 0},
        {"dp-epsilon-max", FR_OPT_DOUBLE, &dp_eps_max, 1e-6, 1e6, "DP: privacy budget epsilon", 0,
         0},
        {"dp-delta", FR_OPT_DOUBLE, &dp_delta, 1e-300, 0.5, "DP: delta (default 1/users^1.1)", 0,
         0},
        {"dp-seed", FR_OPT_STR, &dp_seed, 0, 0,
         "DP: fixed noise seed, for tests only (voids "
         "the guarantee)",
         0, 0},
        {"state-dir", FR_OPT_STR, &state_dir, 0, 0, "folder of the node's privacy ledger", 0, 0},
        {"help", FR_OPT_FLAG, &help, 0, 0, "show this help", 0, 0},
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
    fr_data_cli_finish(&dc);

    int rc = 1;
    double t_start = now_s();
    const fr_backend *be = NULL;
    fr_dataset ds = {0};
    fr_model model = {0};
    fr_trainer tr = {0};
    fr_dp_trainer dtr = {0};
    fr_dp_ledger ledger = {.fd = -1};
    fr_evaluator ev = {0};
    int have_ev = 0;
    int32_t *windows = NULL;
    long n_windows = 0, n_positions = 0;
    json_t *root = json_object(), *jepochs = json_array(), *jevals = json_array();
    double *epoch_secs = calloc((size_t)(epochs > 0 ? epochs : 1), sizeof(double));
    double eval_s = 0.0;

    if ((st = fr_backend_select(device, &be, &err)) != FR_OK)
        goto fail;
    be->set_threads(threads);
    if ((st = fr_dataset_load(&ds, data, format, tokens, vocab, &dc.opt, &err)) != FR_OK) {
        fr_data_report_print(&ds.report, "  ", stdout); /* why nothing was left */
        goto fail;
    }
    if ((st = fr_dataset_windows(&ds, seq_len, &windows, &n_windows, &n_positions, &err)) != FR_OK)
        goto fail;
    fr_model_config mc = {.num_items = ds.num_items,
                          .token_vocab = vocab,
                          .num_tokens = tokens,
                          .dim = dim,
                          .filters = filters};
    if ((st = fr_model_init(&model, &mc, be, ds.tokens, ds.item_ids, &err)) != FR_OK)
        goto fail;
    if (!ds.item_ids_numeric &&
        (st = fr_model_set_item_keys(&model, (const char *const *)ds.item_keys, &err)) != FR_OK)
        goto fail;
    fr_model_init_params(&model, seed);
    fr_train_config tc = {
        .batch = batch, .seq_len = seq_len, .negatives = negatives, .lr = lr, .seed = seed};
    if ((st = fr_trainer_init(&tr, &model, &tc, windows, n_windows, &err)) != FR_OK)
        goto fail;
    if (dp && (st = dp_setup(&dtr, &ledger, &model, &tc, &ds, windows, n_windows, epochs, threads,
                             &(dp_args){dp_q, dp_noise, dp_clip, dp_max_windows, dp_eps_max,
                                        dp_delta, state_dir, dp_seed},
                             &dp_delta, &err)) != FR_OK)
        goto fail;
    if (!time_only && ds.num_eval_users > 0) {
        if ((st = fr_eval_init(&ev, &ds, seq_len, seed, eval_users, &err)) != FR_OK)
            goto fail;
        have_ev = 1;
    } else if (!time_only) {
        printf("note: no user has 3 interactions; nothing to evaluate\n");
    }
    double t_data = now_s() - t_start;
    printf("data: %d users, %d items, %ld interactions (%ld rows read, %ld skipped), %ld training "
           "sequences, %ld positions, %d evaluation users; loaded in %.2f s\n",
           ds.num_users, ds.num_items - 1, ds.interactions, ds.report.rows_read,
           ds.report.rows_skipped, n_windows, n_positions, ds.num_eval_users, t_data);
    fr_data_report_print(&ds.report, "  ", stdout);
    fflush(stdout);

    int tty = isatty(2);
    fr_metrics last[2] = {0};
    int last_epoch = -1;
    for (int e = 1; e <= epochs; e++) {
        fr_epoch_stats es;
        if (dp)
            st = fr_dp_trainer_epoch(&dtr, &ledger, &es, tty ? progress_bar : NULL, &e, &err);
        else
            st = fr_trainer_epoch(&tr, &es, tty ? progress_bar : NULL, &e, &err);
        if (st != FR_OK)
            goto fail;
        if (!isfinite(es.loss)) {
            st = fr_fail(&err, FR_EINVAL, "training diverged at epoch %d (loss %g); lower --lr", e,
                         es.loss);
            goto fail;
        }
        epoch_secs[e - 1] = es.seconds;
        printf("epoch %3d  loss %.4f  %7.2f s  %8.1f seq/s  %9.0f pos/s\n", e, es.loss, es.seconds,
               es.sequences_per_s, es.positions_per_s);
        fflush(stdout);
        json_array_append_new(jepochs,
                              json_pack("{s:i, s:f, s:f, s:f, s:f, s:f}", "epoch", e, "loss",
                                        es.loss, "seconds", es.seconds, "sequences_per_s",
                                        es.sequences_per_s, "positions_per_s", es.positions_per_s,
                                        "gemm_gflop", es.gemm_flops / 1e9));
        if (have_ev && ((eval_every && e % eval_every == 0) || e == epochs)) {
            double t0 = now_s();
            if ((st = fr_eval_model(&ev, &tr.net, threads, &last[0], &last[1], &err)) != FR_OK)
                goto fail;
            double secs = now_s() - t0;
            eval_s += secs;
            last_epoch = e;
            printf("  eval epoch %d (%.1f s)\n", e, secs);
            print_metrics("valid", &last[0]);
            print_metrics("test", &last[1]);
            json_array_append_new(jevals, json_pack("{s:i, s:o, s:o, s:f}", "epoch", e, "valid",
                                                    fr_report_metrics(&last[0]), "test",
                                                    fr_report_metrics(&last[1]), "seconds", secs));
        }
    }
    if (have_ev && last_epoch < 0) { /* --epochs 0: evaluate the initial model */
        if ((st = fr_eval_model(&ev, &tr.net, threads, &last[0], &last[1], &err)) != FR_OK)
            goto fail;
        last_epoch = 0;
        print_metrics("valid", &last[0]);
        print_metrics("test", &last[1]);
    }
    double spent = 0;
    if (dp) {
        if ((st = fr_dp_ledger_spent(&ledger, dp_delta, &spent, &err)) != FR_OK)
            goto fail;
        printf("privacy: epsilon %.4g spent at delta %g (%ld steps in this run, %ld in the ledger "
               "%s; q=%g, sigma=%.4g, C=%g)\n",
               spent, dp_delta, dtr.steps, ledger.steps, ledger.path, dtr.cfg.sampling_rate,
               dtr.cfg.noise_multiplier, (double)dtr.cfg.clip);
        json_object_set_new(root, "privacy",
                            json_pack("{s:f, s:f, s:f, s:f, s:f, s:I, s:I, s:i}", "epsilon", spent,
                                      "delta", dp_delta, "sampling_rate", dtr.cfg.sampling_rate,
                                      "noise_multiplier", dtr.cfg.noise_multiplier, "clip",
                                      (double)dtr.cfg.clip, "steps", (json_int_t)dtr.steps,
                                      "ledger_steps", (json_int_t)ledger.steps, "users",
                                      dtr.n_users));
    }
    if (model_out) {
        if ((st = fr_modelfile_save(&model, model_out, 0, &err)) != FR_OK)
            goto fail;
        printf("model: %s\n", model_out);
    }
    double train_s = 0.0;
    for (int e = 0; e < epochs; e++)
        train_s += epoch_secs[e];
    qsort(epoch_secs, (size_t)epochs, sizeof(double), cmp_double);
    double median = epochs
                        ? (epochs % 2 ? epoch_secs[epochs / 2]
                                      : 0.5 * (epoch_secs[epochs / 2 - 1] + epoch_secs[epochs / 2]))
                        : 0.0;
    double total = now_s() - t_start;
    printf("total %.1f s, median epoch %.3f s, peak RSS %.0f MiB\n", total, median, peak_rss_mib());

    if (metrics_out) {
        json_object_set_new(root, "implementation",
                            json_string(strcmp(be->name, "cuda") ? "fedrecall (C, CPU backend)"
                                                                 : "fedrecall (C, CUDA backend)"));
        json_object_set_new(
            root, "config",
            json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:i, s:I, s:i, s:b}",
                      "data", data, "format", format, "epochs", epochs, "dim", dim, "filters",
                      filters, "tokens", tokens, "token_vocab", vocab, "seq_len", seq_len,
                      "negatives", negatives, "batch", batch, "lr", (double)lr, "threads", threads,
                      "seed", (json_int_t)seed, "eval_every", eval_every, "time_only", time_only));
        json_object_set_new(root, "data", fr_report_data(&ds, n_windows, n_positions));
        json_object_set_new(root, "epochs", jepochs);
        json_object_set_new(root, "evals", jevals);
        jepochs = jevals = NULL;
        if (last_epoch >= 0) {
            json_object_set_new(root, "valid", fr_report_metrics(&last[0]));
            json_object_set_new(root, "test", fr_report_metrics(&last[1]));
            fr_metrics pop[2];
            if ((st = fr_eval_popularity(&ev, threads, &pop[0], &pop[1], &err)) != FR_OK)
                goto fail;
            json_object_set_new(root, "popularity",
                                json_pack("{s:o, s:o}", "valid", fr_report_metrics(&pop[0]), "test",
                                          fr_report_metrics(&pop[1])));
        }
        json_object_set_new(root, "timing",
                            json_pack("{s:f, s:f, s:f, s:f, s:f}", "data_s", t_data, "train_s",
                                      train_s, "eval_s", eval_s, "epoch_s_median", median,
                                      "total_s", now_s() - t_start));
        json_object_set_new(root, "peak_rss_mib", json_real(peak_rss_mib()));
        if ((st = fr_report_write(root, metrics_out, &err)) != FR_OK)
            goto fail;
    }
    rc = 0;
    goto out;
fail:
    rc = fr_cmd_fail("train", st, err.msg);
out:
    json_decref(root);
    json_decref(jepochs);
    json_decref(jevals);
    free(epoch_secs);
    free(windows);
    if (have_ev)
        fr_eval_free(&ev);
    fr_trainer_free(&tr);
    fr_dp_trainer_free(&dtr);
    fr_dp_ledger_close(&ledger);
    fr_model_free(&model);
    fr_dataset_free(&ds);
    return rc;
}
