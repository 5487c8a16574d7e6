/* The mechanisms of the published federation-wide DP rounds in the store (see
 * fr_store.h, fr_store_fdp_add): what the coordinator composes the federation's
 * epsilon from after a restart (fed/fr_fdp_spent.h). */

#include "fr_store_sql.h"

fr_status fr_store_fdp_add(fr_store *s, const fr_fdp_round *r, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    fr_status st = fr_sql_prep(s, S_FDP_ADD, &q, err);
    if (st != FR_OK)
        return st;
    sqlite3_bind_int64(q, 1, r->round);
    sqlite3_bind_double(q, 2, r->q);
    sqlite3_bind_double(q, 3, r->sigma);
    sqlite3_bind_double(q, 4, r->clip);
    sqlite3_bind_int(q, 5, r->nodes);
    sqlite3_bind_int(q, 6, r->threshold);
    sqlite3_bind_int64(q, 7, r->users_max);
    sqlite3_bind_int64(q, 8, (sqlite3_int64)r->dim);
    sqlite3_bind_double(q, 9, r->delta);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_DONE)
        st = FR_OK;
    else if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        st = fr_fail(err, FR_EINVAL, "%s: round %ld has a federation-wide DP mechanism already",
                     s->path, r->round);
    else
        st = fr_sql_fail(s, err, "cannot record a federation-wide DP round");
    fr_sql_finish(q);
    return st;
}

static void read_fdp(sqlite3_stmt *q, void *row)
{
    fr_fdp_round *r = row;
    r->round = fr_sql_col_long(q, 0);
    r->q = fr_sql_col_dbl(q, 1);
    r->sigma = fr_sql_col_dbl(q, 2);
    r->clip = fr_sql_col_dbl(q, 3);
    r->nodes = sqlite3_column_int(q, 4);
    r->threshold = sqlite3_column_int(q, 5);
    r->users_max = fr_sql_col_long(q, 6);
    sqlite3_int64 dim = sqlite3_column_int64(q, 7);
    r->dim = dim > 0 ? (size_t)dim : 0; /* 0 is refused by the mechanism, never used */
    r->delta = fr_sql_col_dbl(q, 8);
}

fr_status fr_store_fdp_rounds(fr_store *s, fr_fdp_round **out, int *count, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    fr_status st = fr_sql_prep(s, S_FDP_ROUNDS, &q, err);
    if (st != FR_OK)
        return st;
    return fr_sql_collect(s, q, sizeof(fr_fdp_round), read_fdp, (void **)out, count, err);
}
