/* The store's transitions of a round (see fr_store.h): each the writes of one change
 * of state, inside one savepoint, so that a crash leaves all of it or none. */
#include <stdio.h>
#include <string.h>

#include "fr_store_sql.h"

fr_status fr_store_commit_open(fr_store *s, fr_round_row *r, fr_err *err)
{
    long last = 0;
    fr_status st = fr_sql_save_begin(s, err);
    if (st != FR_OK)
        return st;
    if ((st = fr_store_last_round_id(s, &last, err)) == FR_OK) {
        r->id = last + 1;
        snprintf(r->status, sizeof r->status, "open");
        st = fr_store_round_open(s, r, err);
    }
    return fr_sql_save_end(s, st, err);
}

fr_status fr_store_commit_update(fr_store *s, const fr_update_row *u, fr_err *err)
{
    fr_status st = fr_sql_save_begin(s, err);
    if (st != FR_OK)
        return st;
    if ((st = fr_store_update_add(s, u, err)) == FR_OK)
        st = fr_store_node_accepted(s, u->node, err);
    return fr_sql_save_end(s, st, err);
}

fr_status fr_store_commit_members(fr_store *s, const fr_update_row *rows, int n, fr_err *err)
{
    fr_status st = fr_sql_save_begin(s, err);
    if (st != FR_OK)
        return st;
    for (int i = 0; i < n && st == FR_OK; i++)
        if ((st = fr_store_update_add(s, &rows[i], err)) == FR_OK)
            st = fr_store_node_accepted(s, rows[i].node, err);
    return fr_sql_save_end(s, st, err);
}

fr_status fr_store_commit_abort(fr_store *s, long id, double closed_at, int updates, double weight,
                                const char *note, fr_err *err)
{
    fr_round_row r;
    int found = 0;
    fr_status st = fr_sql_save_begin(s, err);
    if (st != FR_OK)
        return st;
    if ((st = fr_store_round_get(s, id, &r, &found, err)) == FR_OK && !found)
        st = fr_fail(err, FR_EINVAL, "%s: cannot abort round %ld: no such round", s->path, id);
    if (st == FR_OK) {
        snprintf(r.status, sizeof r.status, "aborted");
        r.closed_at = closed_at;
        r.updates = updates;
        r.weight = weight;
        snprintf(r.note, sizeof r.note, "%s", note ? note : "");
        st = fr_store_round_close(s, &r, err);
    }
    return fr_sql_save_end(s, st, err);
}

fr_status fr_store_commit_publish(fr_store *s, const fr_round_row *r, const fr_model_row *m,
                                  const fr_eval_row *ev, fr_err *err)
{
    return fr_store_commit_publish_fdp(s, r, m, ev, NULL, err);
}

fr_status fr_store_commit_publish_fdp(fr_store *s, const fr_round_row *r, const fr_model_row *m,
                                      const fr_eval_row *ev, const fr_fdp_round *fdp, fr_err *err)
{
    fr_status st = fr_sql_save_begin(s, err);
    if (st != FR_OK)
        return st;
    if ((st = fr_store_round_close(s, r, err)) == FR_OK)
        st = fr_store_model_add(s, m, err);
    if (st == FR_OK && ev)
        st = fr_store_eval_add(s, ev, err);
    if (st == FR_OK && fdp)
        st = fr_store_fdp_add(s, fdp, err);
    return fr_sql_save_end(s, st, err);
}
