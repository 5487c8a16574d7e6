/* fedrecall-coordinator catalogue add|update|retire|diff|show: the operator changes
 * the federation's item catalogue while it runs (docs/catalogue.md). add, update,
 * retire and diff write
 * the next catalogue version, signed with the coordinator's key, into the state
 * folder; the serving coordinator publishes it with its next model. Added items take
 * the retired rows that every node has let go of first (the nodes' confirmations are
 * in the store). Each refusal is one line naming the reason, and writes nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fr_coord_catalogue.h"
#include "fed/fr_catdiff.h"
#include "fr_coord_cmd.h"
#include "fr_store.h"
#include "data/fr_items.h"
#include "nn/fr_modelfile.h"
#include "util/fr_opts.h"

typedef struct cat_args {
    const char *state_dir, *items, *format, *ids, *signing_key;
    int help;
} cat_args;

/* The highest catalogue version every node of the store has confirmed, with a round
 * aggregated since (fr_catver_confirmed_floor); *nodes: how many nodes. */
static fr_status confirmed_floor(fr_store *s, long *floor, int *nodes, fr_err *err)
{
    fr_confirm_row *rows = NULL;
    long last = 0;
    int n = 0;
    *floor = 0;
    fr_status st = fr_store_last_published_round(s, &last, err);
    if (st == FR_OK)
        st = fr_store_catalogue_confirms(s, &rows, &n, err);
    fr_catver_confirm *c = n > 0 ? malloc((size_t)n * sizeof *c) : NULL;
    if (st == FR_OK && n > 0 && !c)
        st = fr_fail(err, FR_ENOMEM, "out of memory for %d nodes", n);
    for (int i = 0; st == FR_OK && i < n; i++)
        c[i] = (fr_catver_confirm){rows[i].version, rows[i].round};
    if (st == FR_OK)
        *floor = fr_catver_confirmed_floor(c, n, last);
    *nodes = n;
    free(c);
    free(rows);
    return st;
}

/* The catalogue now: the newest signed version of the folder, or the latest published
 * model's; *published is that model's catalogue version, *floor and *nodes what the
 * nodes have confirmed (confirmed_floor). */
static fr_status current(const char *state_dir, const uint8_t pub[FR_SIGN_PUBLIC_BYTES],
                         fr_catver *cv, long *published, long *floor, int *nodes, fr_err *err)
{
    fr_store s = {0};
    fr_model_row row;
    fr_model m = {0};
    int found = 0;
    fr_status st = fr_store_open(&s, state_dir, err);
    if (st == FR_OK)
        st = fr_store_model_latest(&s, &row, &found, err);
    if (st == FR_OK)
        st = confirmed_floor(&s, floor, nodes, err);
    fr_store_close(&s);
    if (st != FR_OK)
        return st;
    if (!found)
        return fr_fail(err, FR_EINVAL,
                       "%s holds no model yet: start the coordinator once (its initial model "
                       "is catalogue version 0)",
                       state_dir);
    if ((st = fr_modelfile_load(&m, fr_backend_cpu(), row.path, err)) != FR_OK)
        return st;
    *published = m.catalogue_version;
    if ((st = fr_coord_catalogue_read(state_dir, pub, cv, &found, err)) == FR_OK && !found)
        st = fr_catver_from_model(cv, &m, err);
    else if (st == FR_OK && cv->version < m.catalogue_version)
        st = fr_fail(err, FR_EINVAL,
                     "%s: the newest catalogue version %ld is older than the version %ld "
                     "published (rolled back)",
                     state_dir, cv->version, m.catalogue_version);
    fr_model_free(&m);
    return st;
}

/* The ids to retire: an item file's, or one per line of a text file. */
static fr_status read_ids(const cat_args *a, const fr_catver *cv, char ***out, int *n, fr_items *it,
                          fr_err *err)
{
    if (a->items) {
        fr_status st = fr_items_load(it, a->items, a->format, cv->num_tokens, cv->token_vocab, err);
        if (st != FR_OK)
            return st;
        *out = it->item_keys + 1;
        *n = it->num_items - 1;
        return FR_OK;
    }
    FILE *f = fopen(a->ids, "r");
    if (!f)
        return fr_fail(err, FR_EIO, "%s: cannot open", a->ids);
    char line[FR_MODEL_MAX_KEY + 8];
    char **v = NULL;
    int cnt = 0;
    fr_status st = FR_OK;
    for (long ln = 1; st == FR_OK && fgets(line, sizeof line, f); ln++) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0])
            continue;
        char **g = realloc(v, (size_t)(cnt + 1) * sizeof *v);
        if (!g || !(g[cnt] = strdup(line))) {
            v = g ? g : v;
            st = fr_fail(err, FR_ENOMEM, "%s:%ld: out of memory", a->ids, ln);
            break;
        }
        v = g;
        cnt++;
    }
    fclose(f);
    *out = v;
    *n = cnt;
    return st;
}

/* A diff, its add and update rows split out in a private folder of TMPDIR. */
static fr_status apply_diff(const cat_args *a, fr_catver *cv, long floor, fr_catdiff_counts *dc,
                            fr_err *err)
{
    char work[4200];
    const char *tmp = getenv("TMPDIR");
    snprintf(work, sizeof work, "%.4000s/fedrecall-diff-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(work))
        return fr_fail(err, FR_EIO, "%s: cannot make a work folder", work);
    fr_status st = fr_catdiff_apply(cv, a->items, a->format, work, floor, dc, err);
    rmdir(work);
    return st;
}

/* show's rows: the retired ones that added items would take now, and those reused. */
static void show_rows(const fr_catver *cv, long floor, int nodes)
{
    int retired = cv->num_items - 1 - fr_catver_live(cv);
    if (!retired && !cv->n_reused)
        return;
    char why[160];
    if (floor > 0)
        snprintf(why, sizeof why,
                 "%d nodes; every one has confirmed catalogue version %ld with a round "
                 "aggregated since",
                 nodes, floor);
    else
        snprintf(why, sizeof why, "%d nodes; not every one has confirmed a catalogue version yet",
                 nodes);
    printf("%d retired rows, %d of them reclaimable (%s); %d rows reused\n", retired,
           fr_catver_count_reclaimable(cv, floor), why, cv->n_reused);
    for (int r = 1; r < cv->num_items; r++)
        if (fr_catver_reclaimable(cv, r, floor))
            printf("row %d: item '%s' retired in version %ld: reclaimable\n", r, cv->keys[r],
                   cv->retired_in[r]);
    for (int i = 0; i < cv->n_reused; i++) {
        /* the item that took the row: the row's now, or the one a later reuse retired */
        const char *took = cv->keys[cv->reused[i].row];
        for (int j = cv->n_reused - 1; j > i; j--)
            if (cv->reused[j].row == cv->reused[i].row)
                took = cv->reused[j].old_key;
        printf("row %d: reused in version %ld for item '%s' (retired item '%s' before)\n",
               (int)cv->reused[i].row, cv->reused[i].version, took, cv->reused[i].old_key);
    }
}

static int run(const char *verb, cat_args *a)
{
    fr_err err = {{0}};
    fr_catver cv = {0};
    fr_items it = {0};
    fr_sign_key key = {0};
    char **ids = NULL;
    int n = 0, rc = 1, nodes = 0, reused = 0;
    long published = 0, floor = 0;
    uint8_t pub[FR_SIGN_PUBLIC_BYTES];
    char pk[4300], sk[4300];
    snprintf(pk, sizeof pk, "%s/signing.pub", a->state_dir);
    if (a->signing_key)
        snprintf(sk, sizeof sk, "%s", a->signing_key);
    else
        snprintf(sk, sizeof sk, "%s/signing.key", a->state_dir);
    fr_status st = fr_sign_public_load(pk, pub, &err);
    if (st == FR_OK)
        st = current(a->state_dir, pub, &cv, &published, &floor, &nodes, &err);
    if (st != FR_OK)
        goto out;
    if (!strcmp(verb, "show")) {
        printf("catalogue version %ld: %d items, %d live, %d retired; %s\n", cv.version,
               cv.num_items - 1, fr_catver_live(&cv), cv.num_items - 1 - fr_catver_live(&cv),
               cv.version == published ? "published"
                                       : "pending: the next published model carries it");
        show_rows(&cv, floor, nodes);
        rc = 0;
        goto out;
    }
    if (access(sk, R_OK) != 0) {
        st = fr_fail(&err, FR_EINVAL,
                     "%s: no signing key (the coordinator's, made at its first "
                     "start; --signing-key names another)",
                     sk);
        goto out;
    }
    if ((st = fr_sign_key_load_or_create(&key, sk, pk, &err)) != FR_OK)
        goto out;
    long before = cv.num_items - 1;
    fr_catdiff_counts dc = {0};
    if (!strcmp(verb, "add") || !strcmp(verb, "update")) {
        if ((st = fr_items_load(&it, a->items, a->format, cv.num_tokens, cv.token_vocab, &err)) ==
            FR_OK)
            st = !strcmp(verb, "add")
                     ? fr_catver_add_reclaiming(&cv, &it, it.file, floor, &reused, &err)
                     : fr_catver_update(&cv, &it, it.file, &err);
    } else if (!strcmp(verb, "diff")) {
        st = apply_diff(a, &cv, floor, &dc, &err);
    } else if ((st = read_ids(a, &cv, &ids, &n, &it, &err)) == FR_OK) {
        st = fr_catver_retire(&cv, (const char *const *)ids, n, &err);
    }
    if (st != FR_OK)
        goto out;
    cv.version++;
    if ((st = fr_coord_catalogue_write(a->state_dir, &key, &cv, &err)) != FR_OK)
        goto out;
    if (!strcmp(verb, "add") && reused)
        printf("catalogue version %ld: %d items added (%d into reclaimed rows, %ld new rows), %d "
               "items\n",
               cv.version, it.num_items - 1, reused, cv.num_items - 1 - before, cv.num_items - 1);
    else if (!strcmp(verb, "add"))
        printf("catalogue version %ld: %ld items added (rows %ld to %d), %d items\n", cv.version,
               cv.num_items - 1 - before, before + 1, cv.num_items - 1, cv.num_items - 1);
    else if (!strcmp(verb, "update"))
        printf("catalogue version %ld: %d items updated (new content, rows kept)\n", cv.version,
               it.num_items - 1);
    else if (!strcmp(verb, "diff"))
        printf("catalogue version %ld: %d items added, %d updated, %d retired; %d items, %d "
               "live%s\n",
               cv.version, dc.added, dc.updated, dc.retired, cv.num_items - 1, fr_catver_live(&cv),
               dc.reused ? "; the added took reclaimed rows first" : "");
    else
        printf("catalogue version %ld: %d items retired, %d live\n", cv.version, n,
               fr_catver_live(&cv));
    rc = 0;
out:
    if (st != FR_OK) {
        fprintf(stderr, "fedrecall-coordinator catalogue %s: refused: %s\n", verb, err.msg);
        rc = st == FR_EINVAL || st == FR_EFORMAT ? 2 : 1;
    }
    if (ids && !a->items) {
        for (int i = 0; i < n; i++)
            free(ids[i]);
        free(ids);
    }
    fr_items_free(&it);
    fr_catver_free(&cv);
    fr_sign_key_free(&key);
    return rc;
}

int fr_coord_cmd_catalogue(int argc, char **argv)
{
    cat_args a = {.state_dir = "coordinator-state", .format = "movielens-csv"};
    const char *verb = argc > 0 ? argv[0] : "";
    fr_opt opts[] = {
        {"state-dir", FR_OPT_STR, &a.state_dir, 0, 0, "the coordinator's state folder", 0, 0},
        {"items", FR_OPT_STR, &a.items, 0, 0,
         "a data folder whose item file holds the items to add, update or retire, or the diff", 0,
         0},
        {"format", FR_OPT_STR, &a.format, 0, 0,
         "its format: movielens-csv, movielens-100k or events-csv", 0, 0},
        {"ids", FR_OPT_STR, &a.ids, 0, 0, "retire: a text file of item ids, one a line", 0, 0},
        {"signing-key", FR_OPT_STR, &a.signing_key, 0, 0,
         "the coordinator's signing key (default STATE/signing.key)", 0, 0},
        {"help", FR_OPT_FLAG, &a.help, 0, 0, "show this help", 0, 0},
        {0},
    };
    const char *usage = "fedrecall-coordinator catalogue add|update|retire|diff|show --state-dir "
                        "DIR [--items DIR --format FMT | --ids FILE]";
    int needs_items = !strcmp(verb, "add") || !strcmp(verb, "update") || !strcmp(verb, "diff");
    int valid = needs_items || !strcmp(verb, "retire") || !strcmp(verb, "show");
    if (fr_opts_handle_help(valid ? argc - 1 : argc, valid ? argv + 1 : argv, usage, opts,
                            "fedrecall-coordinator catalogue add --state-dir /var/lib/fedrecall "
                            "--items new-items --format movielens-csv"))
        return 0;
    fr_err err = {{0}};
    if (!valid) {
        fprintf(stderr,
                "fedrecall-coordinator catalogue: say add, update, retire, diff or show\nusage: "
                "%s\n",
                usage);
        return 2;
    }
    if (fr_opts_parse(opts, argc - 1, argv + 1, &err) != FR_OK) {
        fprintf(stderr, "fedrecall-coordinator catalogue: %s\n", err.msg);
        return 2;
    }
    if ((needs_items && !a.items) || (!strcmp(verb, "retire") && !a.items == !a.ids)) {
        fprintf(stderr, "fedrecall-coordinator catalogue %s: give %s\n", verb,
                needs_items ? "--items DIR" : "--items DIR or --ids FILE, one of them");
        return 2;
    }
    return run(verb, &a);
}
