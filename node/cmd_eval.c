/* fedrecall-node eval: the metrics of a model file on local data (the spec's
 * protocol), beside the popularity baseline. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/fr_backend.h"
#include "backend/fr_backend_select.h"
#include "fr_catalogue.h"
#include "data/fr_items.h"
#include "fr_cmd.h"
#include "data/fr_data.h"
#include "fr_data_cli.h"
#include "eval/fr_eval_cold.h"
#include "eval/fr_eval_model.h"
#include "nn/fr_modelfile.h"
#include "util/fr_opts.h"
#include "eval/fr_report.h"

static void print_row(const char *label, const fr_metrics *m)
{
    printf("%-16s hr@10 %.4f  ndcg@10 %.4f  recall@10 %.4f  ndcg_full@10 %.4f  recall@50 %.4f  "
           "mrr %.4f  coverage@10 %.4f  novelty@10 %.3f\n",
           label, m->hr10, m->ndcg10, m->recall10, m->ndcg_full10, m->recall50, m->mrr,
           m->coverage10, m->novelty10);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* V flags: the rows of ds whose id is a line of path. */
static fr_status cold_flags(const char *path, const fr_dataset *ds, uint8_t **out, fr_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fr_fail(err, FR_EIO, "%s: cannot open", path);
    char line[1100], **ids = NULL;
    int n = 0;
    fr_status st = FR_OK;
    while (st == FR_OK && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char **g = line[0] ? realloc(ids, (size_t)(n + 1) * sizeof *ids) : ids;
        if (line[0] && (!g || !(g[n] = strdup(line))))
            st = fr_fail(err, FR_ENOMEM, "%s: out of memory", path);
        if (g)
            ids = g;
        n += line[0] && st == FR_OK;
    }
    fclose(f);
    uint8_t *cold = calloc((size_t)ds->num_items, 1);
    if (st == FR_OK && !cold)
        st = fr_fail(err, FR_ENOMEM, "out of memory");
    if (st == FR_OK && n)
        qsort(ids, (size_t)n, sizeof *ids, cmp_str);
    for (int r = 1; st == FR_OK && n && r < ds->num_items; r++) {
        const char *key = fr_dataset_item_key(ds, r);
        cold[r] = bsearch(&key, ids, (size_t)n, sizeof *ids, cmp_str) != NULL;
    }
    for (int i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    if (st != FR_OK)
        free(cold);
    else
        *out = cold;
    return st;
}

int fr_cmd_eval(int argc, char **argv)
{
    const char *model_path = NULL, *data = NULL, *format = NULL, *metrics_out = NULL;
    const char *device = "cpu", *cold_items = NULL;
    int seq_len = 50, threads = 2, eval_users = FR_EVAL_MAX_USERS, help = 0, model_catalogue = 0;
    uint64_t seed = 1;
    fr_data_cli dc;
    fr_data_cli_init(&dc);
    fr_opt opts[] = {
        {"model", FR_OPT_STR, &model_path, 0, 0, "model file", 1, 0},
        {"data", FR_OPT_STR, &data, 0, 0, "data folder or file", 1, 0},
        {"format", FR_OPT_STR, &format, 0, 0, FR_DATA_FORMAT_HELP, 1, 0},
        {"seq-len", FR_OPT_INT, &seq_len, 1, 65536, "sequence length L", 0, 0},
        {"threads", FR_OPT_INT, &threads, 1, 1024, "CPU threads", 0, 0},
        {"device", FR_OPT_STR, &device, 0, 0, FR_DEVICE_HELP, 0, 0},
        {"seed", FR_OPT_U64, &seed, 0, 0, "seed of the sampled metric's candidates", 0, 0},
        {"eval-users", FR_OPT_INT, &eval_users, 1, 1 << 30, "users for the sampled metric", 0, 0},
        {"metrics-out", FR_OPT_STR, &metrics_out, 0, 0, "write metrics JSON here", 0, 0},
        {"model-catalogue", FR_OPT_FLAG, &model_catalogue, 0, 0,
         "map the data onto the model's items (a federation's model); other items are skipped", 0,
         0},
        {"cold-items", FR_OPT_STR, &cold_items, 0, 0,
         "file of item ids, one a line: also report how users whose test item is one of them "
         "are recalled (cold start, docs/catalogue.md)",
         0, 0},
        FR_DATA_CLI_OPTS(dc),
        {"help", FR_OPT_FLAG, &help, 0, 0, "show this help", 0, 0},
        {0},
    };
    if (fr_opts_handle_help(
            argc, argv, "fedrecall-node eval --model FILE --data PATH --format FMT [OPTIONS]", opts,
            "fedrecall-node eval --model model.frm --data ml-latest-small --format movielens-csv "
            "--metrics-out eval.json"))
        return 0;
    fr_err err = {{0}};
    fr_status st = fr_opts_parse(opts, argc, argv, &err);
    if (st)
        return fr_cmd_fail("eval", st, err.msg);
    fr_data_cli_finish(&dc);
    const fr_backend *be = NULL;
    fr_model model = {0};
    fr_dataset ds = {0};
    fr_evaluator ev = {0};
    fr_nn net = {0};
    json_t *root = NULL;
    int rc = 1, have_ev = 0;
    if ((st = fr_backend_select(device, &be, &err)) != FR_OK)
        goto fail;
    be->set_threads(threads);
    if ((st = fr_modelfile_load(&model, be, model_path, &err)) != FR_OK)
        goto fail;
    fr_data_catalogue cat;
    if (model_catalogue) {
        fr_data_catalogue_from_model(&cat, &model);
        dc.opt.catalogue = &cat;
    }
    if ((st = fr_dataset_load(&ds, data, format, model.cfg.num_tokens, model.cfg.token_vocab,
                              &dc.opt, &err)) != FR_OK) {
        fr_data_report_print(&ds.report, "  ", stdout); /* why nothing was left */
        goto fail;
    }
    printf("data: %d users, %d items, %ld interactions (%ld rows read, %ld skipped), %d "
           "evaluation users\n",
           ds.num_users, ds.num_items - 1, ds.interactions, ds.report.rows_read,
           ds.report.rows_skipped, ds.num_eval_users);
    fr_data_report_print(&ds.report, "  ", stdout);
    if ((st = fr_node_same_catalogue(&model, &ds, model_path, data, &err)) != FR_OK)
        goto fail;
    if (ds.num_eval_users == 0) {
        st = fr_fail(&err, FR_ENODATA, "%s: no user has 3 interactions; nothing to evaluate", data);
        goto fail;
    }
    if ((st = fr_eval_init(&ev, &ds, seq_len, seed, eval_users, &err)) != FR_OK)
        goto fail;
    have_ev = 1;
    if ((st = fr_nn_init(&net, &model, 256, seq_len, 1, &err)) != FR_OK)
        goto fail;
    fr_metrics m[2], pop[2];
    if ((st = fr_eval_model(&ev, &net, threads, &m[0], &m[1], &err)) != FR_OK)
        goto fail;
    if ((st = fr_eval_popularity(&ev, threads, &pop[0], &pop[1], &err)) != FR_OK)
        goto fail;
    print_row("valid", &m[0]);
    print_row("test", &m[1]);
    print_row("popularity valid", &pop[0]);
    print_row("popularity test", &pop[1]);
    fr_cold_metrics cm = {0};
    if (cold_items) {
        uint8_t *cold = NULL;
        if ((st = cold_flags(cold_items, &ds, &cold, &err)) == FR_OK)
            st = fr_eval_cold(&ev, &net, cold, &cm, &err);
        free(cold);
        if (st != FR_OK)
            goto fail;
        printf("cold test        %d items, %ld users: recall@10 %.4f  recall@50 %.4f  "
               "cold-channel recall@10 %.4f  recall@50 %.4f\n",
               cm.cold_items, cm.users, cm.recall10, cm.recall50, cm.cold_recall10,
               cm.cold_recall50);
    }
    if (metrics_out) {
        root = json_pack("{s:s, s:o, s:o, s:o, s:{s:o, s:o}}", "model", model_path, "data",
                         fr_report_data(&ds, 0, 0), "valid", fr_report_metrics(&m[0]), "test",
                         fr_report_metrics(&m[1]), "popularity", "valid",
                         fr_report_metrics(&pop[0]), "test", fr_report_metrics(&pop[1]));
        if (cold_items)
            json_object_set_new(root, "cold",
                                json_pack("{s:i, s:I, s:f, s:f, s:f, s:f}", "items", cm.cold_items,
                                          "users", (json_int_t)cm.users, "recall10", cm.recall10,
                                          "recall50", cm.recall50, "cold_recall10",
                                          cm.cold_recall10, "cold_recall50", cm.cold_recall50));
        if ((st = fr_report_write(root, metrics_out, &err)) != FR_OK)
            goto fail;
    }
    rc = 0;
    goto out;
fail:
    rc = fr_cmd_fail("eval", st, err.msg);
out:
    json_decref(root);
    fr_nn_free(&net);
    if (have_ev)
        fr_eval_free(&ev);
    fr_dataset_free(&ds);
    fr_model_free(&model);
    return rc;
}
