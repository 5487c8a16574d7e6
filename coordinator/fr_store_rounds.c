/* The store's rounds, their updates and the model versions (see fr_store.h). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fr_store_sql.h"

static void read_round(sqlite3_stmt *q, void *row)
{
    fr_round_row *r = row;
    r->id = fr_sql_col_long(q, 0);
    r->model_version = fr_sql_col_long(q, 1);
    fr_sql_col_str(q, 2, r->status, sizeof r->status);
    r->opened_at = fr_sql_col_dbl(q, 3);
    r->deadline = fr_sql_col_dbl(q, 4);
    r->closed_at = fr_sql_col_dbl(q, 5);
    r->updates = sqlite3_column_int(q, 6);
    r->weight = fr_sql_col_dbl(q, 7);
    r->mean_loss = fr_sql_col_dbl(q, 8);
    r->new_version = fr_sql_col_long(q, 9);
    fr_sql_col_str(q, 10, r->note, sizeof r->note);
    r->expected = sqlite3_column_int(q, 11);
}

fr_status fr_store_round_open(fr_store *s, const fr_round_row *r, fr_err *err)
{
    fr_round_row open;
    int found;
    sqlite3_stmt *q = NULL;
    if (r->id <= 0)
        return fr_fail(err, FR_EINVAL, "%s: round id %ld: need a value > 0", s->path, r->id);
    fr_status st = fr_store_round_open_get(s, &open, &found, err);
    if (st != FR_OK)
        return st;
    if (found)
        return fr_fail(err, FR_EINVAL, "%s: cannot open round %ld: round %ld is still open",
                       s->path, r->id, open.id);
    if ((st = fr_sql_prep(s, S_ROUND_OPEN, &q, err)) != FR_OK)
        return st;
    sqlite3_bind_int64(q, 1, r->id);
    sqlite3_bind_int64(q, 2, r->model_version);
    sqlite3_bind_double(q, 3, r->opened_at);
    sqlite3_bind_double(q, 4, r->deadline);
    fr_sql_bind_str(q, 5, r->note, sizeof r->note);
    sqlite3_bind_int(q, 6, r->expected);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_DONE)
        st = FR_OK;
    else if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        st = fr_fail(err, FR_EINVAL, "%s: round %ld exists", s->path, r->id);
    else
        st = fr_sql_fail(s, err, "cannot open a round");
    fr_sql_finish(q);
    return st;
}

fr_status fr_store_round_get(fr_store *s, long id, fr_round_row *r, int *found, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    fr_status st = fr_sql_prep(s, S_ROUND_GET, &q, err);
    if (st != FR_OK)
        return st;
    sqlite3_bind_int64(q, 1, id);
    return fr_sql_one_row(s, q, sizeof *r, read_round, r, found, err);
}

fr_status fr_store_round_open_get(fr_store *s, fr_round_row *r, int *found, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    fr_status st = fr_sql_prep(s, S_ROUND_OPEN_GET, &q, err);
    if (st != FR_OK)
        return st;
    return fr_sql_one_row(s, q, sizeof *r, read_round, r, found, err);
}

fr_status fr_store_round_close(fr_store *s, const fr_round_row *r, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    fr_round_row cur;
    int found;
    if (strcmp(r->status, "published") != 0 && strcmp(r->status, "aborted") != 0)
        return fr_fail(err, FR_EINVAL,
                       "%s: round %ld: closing status \"%.15s\", expected "
                       "published or aborted",
                       s->path, r->id, r->status);
    fr_status st = fr_sql_prep(s, S_ROUND_CLOSE, &q, err);
    if (st != FR_OK)
        return st;
    sqlite3_bind_int64(q, 1, r->id);
    fr_sql_bind_str(q, 2, r->status, sizeof r->status);
    sqlite3_bind_double(q, 3, r->closed_at);
    sqlite3_bind_int(q, 4, r->updates);
    sqlite3_bind_double(q, 5, r->weight);
    sqlite3_bind_double(q, 6, r->mean_loss);
    sqlite3_bind_int64(q, 7, r->new_version);
    fr_sql_bind_str(q, 8, r->note, sizeof r->note);
    if ((st = fr_sql_run_write(s, q, "cannot close a round", err)) != FR_OK)
        return st;
    if (sqlite3_changes(s->db) > 0)
        return FR_OK;
    if ((st = fr_store_round_get(s, r->id, &cur, &found, err)) != FR_OK)
        return st;
    if (!found)
        return fr_fail(err, FR_EINVAL, "%s: cannot close round %ld: no such round", s->path, r->id);
    return fr_fail(err, FR_EINVAL, "%s: cannot close round %ld: it is %s already", s->path, r->id,
                   cur.status);
}

fr_status fr_store_rounds(fr_store *s, long last_n, fr_round_row **out, int *count, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    *out = NULL;
    *count = 0;
    fr_status st = fr_sql_prep(s, S_ROUNDS, &q, err);
    if (st != FR_OK)
        return st;
    sqlite3_bind_int64(q, 1, last_n > 0 ? last_n : -1);
    return fr_sql_collect(s, q, sizeof **out, read_round, (void **)out, count, err);
}

fr_status fr_store_last_round_id(fr_store *s, long *id, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    *id = 0;
    fr_status st = fr_sql_prep(s, S_LAST_ROUND, &q, err);
    if (st != FR_OK)
        return st;
    if (sqlite3_step(q) == SQLITE_ROW)
        *id = fr_sql_col_long(q, 0);
    else
        st = fr_sql_fail(s, err, "cannot read the last round");
    fr_sql_finish(q);
    return st;
}

fr_status fr_store_update_add(fr_store *s, const fr_update_row *u, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    char name[64];
    fr_status st = fr_sql_prep(s, S_UPDATE_ADD, &q, err);
    if (st != FR_OK)
        return st;
    sqlite3_bind_int64(q, 1, u->round);
    fr_sql_bind_str(q, 2, u->node, sizeof u->node);
    sqlite3_bind_double(q, 3, u->weight);
    sqlite3_bind_double(q, 4, u->loss);
    sqlite3_bind_double(q, 5, u->norm);
    sqlite3_bind_int64(q, 6, u->users);
    sqlite3_bind_int64(q, 7, u->windows);
    sqlite3_bind_double(q, 8, u->received_at);
    fr_sql_bind_str(q, 9, u->path, sizeof u->path);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_DONE)
        st = FR_OK;
    else if (rc == SQLITE_CONSTRAINT_UNIQUE)
        st = fr_fail(err, FR_EINVAL, "duplicate update from %s for round %ld",
                     fr_sql_shown(name, u->node), u->round);
    else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        st = fr_fail(err, FR_EINVAL, "%s: update from %s for round %ld: no such round", s->path,
                     fr_sql_shown(name, u->node), u->round);
    else
        st = fr_sql_fail(s, err, "cannot record an update");
    fr_sql_finish(q);
    return st;
}

static void read_update(sqlite3_stmt *q, void *row)
{
    fr_update_row *u = row;
    u->round = fr_sql_col_long(q, 0);
    fr_sql_col_str(q, 1, u->node, sizeof u->node);
    u->weight = fr_sql_col_dbl(q, 2);
    u->loss = fr_sql_col_dbl(q, 3);
    u->norm = fr_sql_col_dbl(q, 4);
    u->users = fr_sql_col_long(q, 5);
    u->windows = fr_sql_col_long(q, 6);
    u->received_at = fr_sql_col_dbl(q, 7);
    fr_sql_col_str(q, 8, u->path, sizeof u->path);
}

fr_status fr_store_updates(fr_store *s, long round, fr_update_row **out, int *count, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    *out = NULL;
    *count = 0;
    fr_status st = fr_sql_prep(s, S_UPDATES, &q, err);
    if (st != FR_OK)
        return st;
    sqlite3_bind_int64(q, 1, round);
    return fr_sql_collect(s, q, sizeof **out, read_update, (void **)out, count, err);
}

fr_status fr_store_update_exists(fr_store *s, long round, const char *node, int *exists,
                                 fr_err *err)
{
    sqlite3_stmt *q = NULL;
    *exists = 0;
    fr_status st = fr_sql_prep(s, S_UPDATE_EXISTS, &q, err);
    if (st != FR_OK)
        return st;
    sqlite3_bind_int64(q, 1, round);
    fr_sql_bind_str(q, 2, node, CAP(fr_update_row, node));
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *exists = 1;
    else if (rc != SQLITE_DONE)
        st = fr_sql_fail(s, err, "cannot look up an update");
    fr_sql_finish(q);
    return st;
}

fr_status fr_store_model_add(fr_store *s, const fr_model_row *m, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    fr_status st = fr_sql_prep(s, S_MODEL_ADD, &q, err);
    if (st != FR_OK)
        return st;
    sqlite3_bind_int64(q, 1, m->version);
    sqlite3_bind_int64(q, 2, m->round);
    sqlite3_bind_double(q, 3, m->created_at);
    fr_sql_bind_str(q, 4, m->path, sizeof m->path);
    fr_sql_bind_str(q, 5, m->sig_hex, sizeof m->sig_hex);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_DONE)
        st = FR_OK;
    else if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        st = fr_fail(err, FR_EINVAL, "%s: model version %ld exists", s->path, m->version);
    else
        st = fr_sql_fail(s, err, "cannot record a model version");
    fr_sql_finish(q);
    return st;
}

static void read_model(sqlite3_stmt *q, void *row)
{
    fr_model_row *m = row;
    m->version = fr_sql_col_long(q, 0);
    m->round = fr_sql_col_long(q, 1);
    m->created_at = fr_sql_col_dbl(q, 2);
    fr_sql_col_str(q, 3, m->path, sizeof m->path);
    fr_sql_col_str(q, 4, m->sig_hex, sizeof m->sig_hex);
}

fr_status fr_store_model_latest(fr_store *s, fr_model_row *m, int *found, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    fr_status st = fr_sql_prep(s, S_MODEL_LATEST, &q, err);
    if (st != FR_OK)
        return st;
    return fr_sql_one_row(s, q, sizeof *m, read_model, m, found, err);
}

fr_status fr_store_last_published_round(fr_store *s, long *id, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    *id = 0;
    fr_status st = fr_sql_prep(s, S_LAST_PUBLISHED, &q, err);
    if (st != FR_OK)
        return st;
    if (sqlite3_step(q) == SQLITE_ROW)
        *id = fr_sql_col_long(q, 0);
    else
        st = fr_sql_fail(s, err, "cannot read the last published round");
    fr_sql_finish(q);
    return st;
}
