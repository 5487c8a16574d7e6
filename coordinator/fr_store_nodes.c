/* The store's nodes and their catalogue confirmations, metrics and refusals (see fr_store.h). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fr_store_sql.h"

fr_status fr_store_node_seen(fr_store *s, const fr_node_row *n, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    fr_status st = fr_sql_prep(s, S_NODE_SEEN, &q, err);
    if (st != FR_OK)
        return st;
    fr_sql_bind_str(q, 1, n->name, sizeof n->name);
    sqlite3_bind_double(q, 2, n->first_seen);
    sqlite3_bind_double(q, 3, n->last_seen);
    sqlite3_bind_int64(q, 4, n->model_version);
    sqlite3_bind_int64(q, 5, n->users);
    sqlite3_bind_int64(q, 6, n->windows);
    sqlite3_bind_double(q, 7, n->eps_spent);
    sqlite3_bind_double(q, 8, n->eps_budget);
    return fr_sql_run_write(s, q, "cannot record a node", err);
}

static void read_node(sqlite3_stmt *q, void *row)
{
    fr_node_row *n = row;
    fr_sql_col_str(q, 0, n->name, sizeof n->name);
    n->first_seen = fr_sql_col_dbl(q, 1);
    n->last_seen = fr_sql_col_dbl(q, 2);
    n->model_version = fr_sql_col_long(q, 3);
    n->users = fr_sql_col_long(q, 4);
    n->windows = fr_sql_col_long(q, 5);
    n->eps_spent = fr_sql_col_dbl(q, 6);
    n->eps_budget = fr_sql_col_dbl(q, 7);
    n->updates_accepted = fr_sql_col_long(q, 8);
    n->updates_refused = fr_sql_col_long(q, 9);
    fr_sql_col_str(q, 10, n->last_refusal, sizeof n->last_refusal);
}

fr_status fr_store_nodes(fr_store *s, fr_node_row **out, int *count, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    *out = NULL;
    *count = 0;
    fr_status st = fr_sql_prep(s, S_NODES, &q, err);
    if (st != FR_OK)
        return st;
    return fr_sql_collect(s, q, sizeof **out, read_node, (void **)out, count, err);
}

fr_status fr_store_node_get(fr_store *s, const char *name, fr_node_row *n, int *found, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    fr_status st = fr_sql_prep(s, S_NODE_GET, &q, err);
    if (st != FR_OK)
        return st;
    fr_sql_bind_str(q, 1, name, sizeof n->name);
    return fr_sql_one_row(s, q, sizeof *n, read_node, n, found, err);
}

fr_status fr_store_node_accepted(fr_store *s, const char *node, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    char name[64];
    fr_status st = fr_sql_prep(s, S_NODE_ACCEPTED, &q, err);
    if (st != FR_OK)
        return st;
    fr_sql_bind_str(q, 1, node, CAP(fr_node_row, name));
    if ((st = fr_sql_run_write(s, q, "cannot count an accepted update", err)) != FR_OK)
        return st;
    if (sqlite3_changes(s->db) == 0)
        return fr_fail(err, FR_EINVAL, "%s: node \"%s\" is not known", s->path,
                       fr_sql_shown(name, node));
    return FR_OK;
}

fr_status fr_store_metrics_add(fr_store *s, const fr_metrics_row *m, int has_quality, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    fr_status st = fr_sql_prep(s, S_METRICS_ADD, &q, err);
    if (st != FR_OK)
        return st;
    sqlite3_bind_int64(q, 1, m->model_version);
    fr_sql_bind_str(q, 2, m->node, sizeof m->node);
    if (has_quality) {
        sqlite3_bind_double(q, 3, m->hr10);
        sqlite3_bind_double(q, 4, m->ndcg10);
        sqlite3_bind_double(q, 5, m->recall10);
    } else {
        for (int i = 3; i <= 5; i++)
            sqlite3_bind_null(q, i);
    }
    sqlite3_bind_double(q, 6, m->loss);
    sqlite3_bind_double(q, 7, m->eps_spent);
    sqlite3_bind_int64(q, 8, m->users);
    sqlite3_bind_double(q, 9, m->at);
    return fr_sql_run_write(s, q, "cannot record metrics", err);
}

fr_status fr_store_eval_add(fr_store *s, const fr_eval_row *e, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    fr_status st = fr_sql_prep(s, S_EVAL_ADD, &q, err);
    if (st != FR_OK)
        return st;
    sqlite3_bind_int64(q, 1, e->model_version);
    sqlite3_bind_int64(q, 2, e->round);
    sqlite3_bind_int(q, 3, e->nodes);
    sqlite3_bind_double(q, 4, e->users);
    sqlite3_bind_double(q, 5, e->hr10);
    sqlite3_bind_double(q, 6, e->ndcg10);
    sqlite3_bind_double(q, 7, e->recall10);
    return fr_sql_run_write(s, q, "cannot record the federation's evaluation", err);
}

fr_status fr_store_eval_get(fr_store *s, long version, fr_eval_row *e, int *found, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    memset(e, 0, sizeof *e);
    *found = 0;
    fr_status st = fr_sql_prep(s, version < 0 ? S_EVAL_LATEST : S_EVAL_GET, &q, err);
    if (st != FR_OK)
        return st;
    if (version >= 0)
        sqlite3_bind_int64(q, 1, version);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        e->model_version = fr_sql_col_long(q, 0);
        e->round = fr_sql_col_long(q, 1);
        e->nodes = (int)fr_sql_col_long(q, 2);
        e->users = fr_sql_col_dbl(q, 3);
        e->hr10 = fr_sql_col_dbl(q, 4);
        e->ndcg10 = fr_sql_col_dbl(q, 5);
        e->recall10 = fr_sql_col_dbl(q, 6);
        *found = 1;
    } else if (rc != SQLITE_DONE) {
        st = fr_sql_fail(s, err, "cannot read the federation's evaluation");
    }
    fr_sql_finish(q);
    return st;
}

fr_status fr_store_metrics_mean(fr_store *s, long version, double *hr10, double *ndcg10, int *nodes,
                                fr_err *err)
{
    sqlite3_stmt *q = NULL;
    *hr10 = *ndcg10 = 0;
    *nodes = 0;
    fr_eval_row e;
    int found = 0;
    fr_status st = fr_store_eval_get(s, version, &e, &found, err);
    if (st != FR_OK)
        return st;
    if (found) {
        /* the federation's own figures: no node's, and over every member of the sum */
        *hr10 = e.hr10;
        *ndcg10 = e.ndcg10;
        *nodes = e.nodes;
        return FR_OK;
    }
    if ((st = fr_sql_prep(s, S_METRICS_MEAN, &q, err)) != FR_OK)
        return st;
    sqlite3_bind_int64(q, 1, version);
    if (sqlite3_step(q) == SQLITE_ROW) {
        int n = sqlite3_column_int(q, 0);
        double users = sqlite3_column_double(q, 1);
        if (n > 0 && users > 0) {
            *hr10 = sqlite3_column_double(q, 2) / users;
            *ndcg10 = sqlite3_column_double(q, 3) / users;
        } else if (n > 0) {
            *hr10 = sqlite3_column_double(q, 4) / n;
            *ndcg10 = sqlite3_column_double(q, 5) / n;
        }
        *nodes = n;
    } else {
        st = fr_sql_fail(s, err, "cannot read metrics");
    }
    fr_sql_finish(q);
    return st;
}

static void read_metrics(sqlite3_stmt *q, void *row)
{
    fr_metrics_row *m = row;
    m->model_version = fr_sql_col_long(q, 0);
    fr_sql_col_str(q, 1, m->node, sizeof m->node);
    m->hr10 = fr_sql_col_dbl(q, 2);
    m->ndcg10 = fr_sql_col_dbl(q, 3);
    m->recall10 = fr_sql_col_dbl(q, 4);
    m->loss = fr_sql_col_dbl(q, 5);
    m->eps_spent = fr_sql_col_dbl(q, 6);
    m->users = fr_sql_col_long(q, 7);
    m->at = fr_sql_col_dbl(q, 8);
}

fr_status fr_store_metrics(fr_store *s, fr_metrics_row **out, int *count, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    *out = NULL;
    *count = 0;
    fr_status st = fr_sql_prep(s, S_METRICS, &q, err);
    if (st != FR_OK)
        return st;
    return fr_sql_collect(s, q, sizeof **out, read_metrics, (void **)out, count, err);
}

fr_status fr_store_refusal_add(fr_store *s, double at, const char *node, long round,
                               const char *reason, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    fr_status st = fr_sql_save_begin(s, err);
    if (st != FR_OK)
        return st;
    if ((st = fr_sql_prep(s, S_REFUSAL_ADD, &q, err)) != FR_OK)
        goto out;
    sqlite3_bind_double(q, 1, at);
    fr_sql_bind_str(q, 2, node, CAP(fr_refusal_row, node));
    sqlite3_bind_int64(q, 3, round);
    fr_sql_bind_str(q, 4, reason, CAP(fr_refusal_row, reason));
    if ((st = fr_sql_run_write(s, q, "cannot record a refusal", err)) != FR_OK)
        goto out;
    if ((st = fr_sql_prep(s, S_REFUSAL_NODE, &q, err)) != FR_OK)
        goto out;
    fr_sql_bind_str(q, 1, node, CAP(fr_node_row, name));
    fr_sql_bind_str(q, 2, reason, CAP(fr_node_row, last_refusal));
    if ((st = fr_sql_run_write(s, q, "cannot count a refusal", err)) != FR_OK)
        goto out;
    /* the table stays bounded: the newest rows are the ones worth reading */
    if ((st = fr_sql_prep(s, S_REFUSAL_PRUNE, &q, err)) != FR_OK)
        goto out;
    sqlite3_bind_int64(q, 1, s->keep_refusals > 0 ? s->keep_refusals : FR_STORE_KEEP_REFUSALS);
    st = fr_sql_run_write(s, q, "cannot prune the refusals", err);
out:
    return fr_sql_save_end(s, st, err);
}

static void read_refusal(sqlite3_stmt *q, void *row)
{
    fr_refusal_row *r = row;
    r->at = fr_sql_col_dbl(q, 0);
    fr_sql_col_str(q, 1, r->node, sizeof r->node);
    r->round = fr_sql_col_long(q, 2);
    fr_sql_col_str(q, 3, r->reason, sizeof r->reason);
}

fr_status fr_store_refusals(fr_store *s, long last_n, fr_refusal_row **out, int *count, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    *out = NULL;
    *count = 0;
    fr_status st = fr_sql_prep(s, S_REFUSALS, &q, err);
    if (st != FR_OK)
        return st;
    sqlite3_bind_int64(q, 1, last_n > 0 ? last_n : -1);
    return fr_sql_collect(s, q, sizeof **out, read_refusal, (void **)out, count, err);
}

fr_status fr_store_catalogue_confirm(fr_store *s, const char *node, long version, long round,
                                     fr_err *err)
{
    sqlite3_stmt *q = NULL;
    fr_status st = fr_sql_prep(s, S_CAT_CONFIRM, &q, err);
    if (st != FR_OK)
        return st;
    fr_sql_bind_str(q, 1, node, CAP(fr_confirm_row, node));
    sqlite3_bind_int64(q, 2, version);
    sqlite3_bind_int64(q, 3, round);
    return fr_sql_run_write(s, q, "cannot record a node's catalogue version", err);
}

static void read_confirm(sqlite3_stmt *q, void *row)
{
    fr_confirm_row *c = row;
    fr_sql_col_str(q, 0, c->node, sizeof c->node);
    c->version = fr_sql_col_long(q, 1);
    c->round = fr_sql_col_long(q, 2);
}

fr_status fr_store_catalogue_confirms(fr_store *s, fr_confirm_row **out, int *count, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    *out = NULL;
    *count = 0;
    fr_status st = fr_sql_prep(s, S_CAT_CONFIRMS, &q, err);
    if (st != FR_OK)
        return st;
    return fr_sql_collect(s, q, sizeof **out, read_confirm, (void **)out, count, err);
}
