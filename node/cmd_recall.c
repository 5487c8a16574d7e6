/* fedrecall-node recall: top-K items for one of the site's users (--user) or for a list
 * of them (--users), by the model, item-to-item co-occurrence, recent popularity or a
 * mix of the three (common/recall/fr_recall.h). One line per item, best first:
 *   single   item_id <TAB> score <TAB> source
 *   batch    user_id <TAB> item_id <TAB> score <TAB> source
 * An unknown user id is an error (exit 2) naming the id. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/fr_backend.h"
#include "backend/fr_backend_select.h"
#include "fr_catalogue.h"
#include "data/fr_items.h"
#include "fr_cmd.h"
#include "data/fr_data.h"
#include "fr_data_cli.h"
#include "nn/fr_modelfile.h"
#include "util/fr_opts.h"
#include "recall/fr_recall.h"

/* Users scored per fr_recall_users call in batch mode: their vectors come from one
 * forward pass and share the matrix products over the catalogue. */
#define BATCH_USERS 1024

/* External ids meet rows only here: the text of an item's id, and the row of a user's. */
static const char *item_id(const fr_dataset *ds, int32_t row)
{
    return fr_dataset_item_key(ds, row);
}

static int32_t user_row(const fr_dataset *ds, const char *id)
{
    return fr_dataset_find_user(ds, id);
}

/* The user ids of a batch: one per line, surrounding blanks dropped, blank lines
 * skipped. Every id must be known before anything is printed. */
typedef struct id_list {
    char **ids;
    int32_t *rows;
    int n, cap;
} id_list;

static void id_list_free(id_list *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->ids[i]);
    free(l->ids);
    free(l->rows);
    memset(l, 0, sizeof *l);
}

static fr_status id_list_add(id_list *l, const char *id, int32_t row, fr_err *err)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        char **ids = realloc(l->ids, (size_t)cap * sizeof *ids);
        if (ids)
            l->ids = ids;
        int32_t *rows = realloc(l->rows, (size_t)cap * sizeof *rows);
        if (rows)
            l->rows = rows;
        if (!ids || !rows)
            return fr_fail(err, FR_ENOMEM, "cannot hold %d user ids", cap);
        l->cap = cap;
    }
    size_t len = strlen(id);
    if (!(l->ids[l->n] = malloc(len + 1)))
        return fr_fail(err, FR_ENOMEM, "cannot hold %d user ids", l->n + 1);
    memcpy(l->ids[l->n], id, len + 1);
    l->rows[l->n++] = row;
    return FR_OK;
}

static fr_status read_users(const char *path, const fr_dataset *ds, id_list *l, fr_err *err)
{
    fr_status st = FR_OK;
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return fr_fail(err, FR_EIO, "%s: cannot open the user list", path);
    for (ssize_t len; (len = getline(&line, &cap, f)) >= 0;) {
        lineno++;
        char *s = line, *e = line + len;
        while (s < e && isspace((unsigned char)*s))
            s++;
        while (e > s && isspace((unsigned char)e[-1]))
            e--;
        if (s == e)
            continue;
        *e = 0;
        int32_t row = user_row(ds, s);
        if (row < 0) {
            st = fr_fail(err, FR_EINVAL, "%s:%ld: unknown user id '%.80s'", path, lineno, s);
            goto out;
        }
        if ((st = id_list_add(l, s, row, err)) != FR_OK)
            goto out;
    }
    if (ferror(f)) {
        st = fr_fail(err, FR_EIO, "%s: read error", path);
        goto out;
    }
    if (l->n == 0)
        st = fr_fail(err, FR_ENODATA, "%s: no user ids", path);
out:
    free(line);
    fclose(f);
    return st;
}

/* Score the listed users in batches and print their lines; batch adds the user column. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* search_s: the time spent in fr_recall_users, written out lists excluded */
static fr_status print_recall(fr_recall *r, const fr_dataset *ds, const id_list *l, int batch,
                              double *search_s, fr_err *err)
{
    fr_status st = FR_OK;
    int K = r->cfg.k, chunk = l->n < BATCH_USERS ? l->n : BATCH_USERS;
    fr_recall_hit *hits = malloc((size_t)chunk * K * sizeof *hits);
    int *count = malloc((size_t)chunk * sizeof *count);
    if (!hits || !count) {
        st = fr_fail(err, FR_ENOMEM, "cannot allocate results for %d users", chunk);
        goto out;
    }
    for (int u0 = 0; u0 < l->n; u0 += chunk) {
        int n = l->n - u0 < chunk ? l->n - u0 : chunk;
        double t0 = now_s();
        if ((st = fr_recall_users(r, l->rows + u0, n, hits, count, err)) != FR_OK)
            goto out;
        *search_s += now_s() - t0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < count[i]; j++) {
                const fr_recall_hit *h = hits + (size_t)i * K + j;
                if (batch)
                    printf("%s\t", l->ids[u0 + i]);
                printf("%s\t%.6g\t%s\n", item_id(ds, h->row), (double)h->score,
                       fr_recall_source_name(h->source));
            }
    }
    if (fflush(stdout) != 0 || ferror(stdout))
        st = fr_fail(err, FR_EIO, "cannot write the results");
out:
    free(hits);
    free(count);
    return st;
}

int fr_cmd_recall(int argc, char **argv)
{
    const char *model_path = NULL, *data = NULL, *format = NULL, *user = NULL, *users = NULL;
    const char *strategy = "model", *device = "cpu";
    int k = 10, seq_len = 50, threads = 2, include_seen = 0, cold_start = 0, help = 0,
        model_catalogue = 0;
    int timing = 0;
    int cf_window = 5, cf_neighbours = 50, cf_recent = 20;
    float half_life = 20.0f;
    double threshold = NAN; /* not given: no threshold */
    fr_data_cli dc;
    fr_data_cli_init(&dc);
    fr_opt opts[] = {
        {"model", FR_OPT_STR, &model_path, 0, 0, "model file (strategies model and mix)", 0, 0},
        {"data", FR_OPT_STR, &data, 0, 0, "data folder or file", 1, 0},
        {"format", FR_OPT_STR, &format, 0, 0, FR_DATA_FORMAT_HELP, 1, 0},
        {"user", FR_OPT_STR, &user, 0, 0, "external id of the user", 0, 0},
        {"users", FR_OPT_STR, &users, 0, 0, "file of user ids, one a line (batch mode)", 0, 0},
        {"k", FR_OPT_INT, &k, 1, 100000, "items per user", 0, 0},
        {"threshold", FR_OPT_DOUBLE, &threshold, -1e30, 1e30,
         "only items scoring above this (at most k; not with mix)", 0, 0},
        {"strategy", FR_OPT_STR, &strategy, 0, 0, "model, itemcf, popular or mix", 0, 0},
        {"include-seen", FR_OPT_FLAG, &include_seen, 0, 0, "also return items the user had", 0, 0},
        {"cold-start", FR_OPT_FLAG, &cold_start, 0, 0,
         "the model channel recalls only items no user of the data has touched (new items, "
         "scored from their content)",
         0, 0},
        {"model-catalogue", FR_OPT_FLAG, &model_catalogue, 0, 0,
         "map the data onto the model's items (a federation's model); other items are skipped", 0,
         0},
        {"seq-len", FR_OPT_INT, &seq_len, 1, 65536, "latest items the model reads (L)", 0, 0},
        {"threads", FR_OPT_INT, &threads, 1, 1024, "CPU threads", 0, 0},
        {"device", FR_OPT_STR, &device, 0, 0, FR_DEVICE_HELP, 0, 0},
        {"cf-window", FR_OPT_INT, &cf_window, 1, 1000, "itemcf: pairs at most this far apart", 0,
         0},
        {"cf-neighbours", FR_OPT_INT, &cf_neighbours, 1, 100000, "itemcf: neighbours per item", 0,
         0},
        {"cf-recent", FR_OPT_INT, &cf_recent, 1, 100000, "itemcf: latest events that vote", 0, 0},
        {"half-life", FR_OPT_FLOAT, &half_life, 1e-6, 1e12,
         "popular: half-life in a user's own events", 0, 0},
        FR_DATA_CLI_OPTS(dc),
        {"timing", FR_OPT_FLAG, &timing, 0, 0,
         "print the time to prepare (item vectors, histories) and to search on stderr", 0, 0},
        {"help", FR_OPT_FLAG, &help, 0, 0, "show this help", 0, 0},
        {0},
    };
    if (fr_opts_handle_help(
            argc, argv,
            "fedrecall-node recall --data PATH --format FMT (--user ID | --users FILE) "
            "[--model FILE] [-k K] [--strategy model|itemcf|popular|mix] [OPTIONS]",
            opts,
            "fedrecall-node recall --model model.frm --data ml-latest-small --format "
            "movielens-csv --user 42 -k 20 --strategy mix"))
        return 0;
    fr_err err = {{0}};
    fr_status st = fr_opts_parse(opts, argc, argv, &err);
    if (st)
        return fr_cmd_fail("recall", st, err.msg);
    fr_data_cli_finish(&dc);
    fr_recall_config cfg;
    fr_recall_config_default(&cfg);
    cfg.k = k;
    cfg.use_threshold = !isnan(threshold);
    cfg.threshold = cfg.use_threshold ? (float)threshold : 0.0f;
    cfg.include_seen = include_seen;
    cfg.cold_start = cold_start;
    cfg.seq_len = seq_len;
    cfg.threads = threads;
    cfg.cf_window = cf_window;
    cfg.cf_neighbours = cf_neighbours;
    cfg.cf_recent = cf_recent;
    cfg.pop_half_life = half_life;
    if ((st = fr_recall_strategy_parse(strategy, &cfg.strategy, &err)) != FR_OK)
        return fr_cmd_fail("recall", st, err.msg);
    if (!user == !users)
        return fr_cmd_fail("recall", FR_EINVAL, "give one of --user ID and --users FILE");
    int need_model = cfg.strategy == FR_RECALL_MODEL || cfg.strategy == FR_RECALL_MIX;
    if (need_model && !model_path)
        return fr_cmd_fail("recall", FR_EINVAL, "--model is required for this strategy");

    const fr_backend *be = NULL;
    fr_model model = {0};
    fr_dataset ds = {0};
    fr_nn net = {0};
    fr_recall rec = {0};
    id_list ids = {0};
    int rc = 1;
    /* The content tokens matter only to the model; without one any sizes do. */
    int tokens = 8, vocab = 4096;
    if ((st = fr_backend_select(device, &be, &err)) != FR_OK)
        goto fail;
    be->set_threads(threads);
    if (model_path) {
        if ((st = fr_modelfile_load(&model, be, model_path, &err)) != FR_OK)
            goto fail;
        tokens = model.cfg.num_tokens;
        vocab = model.cfg.token_vocab;
    }
    fr_data_catalogue cat;
    if (model_catalogue && model_path) {
        fr_data_catalogue_from_model(&cat, &model);
        dc.opt.catalogue = &cat;
    }
    if ((st = fr_dataset_load(&ds, data, format, tokens, vocab, &dc.opt, &err)) != FR_OK)
        goto fail;
    if (model_path) {
        if ((st = fr_node_same_catalogue(&model, &ds, model_path, data, &err)) != FR_OK)
            goto fail;
        if ((st = fr_nn_init(&net, &model, 256, seq_len, 1, &err)) != FR_OK)
            goto fail;
    }
    if (user) {
        int32_t row = user_row(&ds, user);
        if (row < 0) {
            st = fr_fail(&err, FR_EINVAL, "unknown user id '%.80s'", user);
            goto fail;
        }
        if ((st = id_list_add(&ids, user, row, &err)) != FR_OK)
            goto fail;
    } else if ((st = read_users(users, &ds, &ids, &err)) != FR_OK) {
        goto fail;
    }
    double t0 = now_s(), search_s = 0;
    if ((st = fr_recall_init(&rec, &ds, model_path ? &net : NULL, &cfg, &err)) != FR_OK)
        goto fail;
    double prep_s = now_s() - t0;
    if ((st = print_recall(&rec, &ds, &ids, users != NULL, &search_s, &err)) != FR_OK)
        goto fail;
    if (timing)
        fprintf(stderr,
                "recall: %d users, k %d, on %s: prepared in %.3f s, searched in %.3f s "
                "(%.0f lists/s)\n",
                ids.n, k, be->name, prep_s, search_s, search_s > 0 ? ids.n / search_s : 0.0);
    rc = 0;
    goto out;
fail:
    rc = fr_cmd_fail("recall", st, err.msg);
out:
    fr_recall_free(&rec);
    id_list_free(&ids);
    fr_nn_free(&net);
    fr_dataset_free(&ds);
    fr_model_free(&model);
    return rc;
}
