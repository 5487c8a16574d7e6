/* What the files of the store share (fr_store.c opens the database and holds the SQL
 * of every statement; fr_store_nodes.c, fr_store_rounds.c and fr_store_commit.c run
 * them): the statement ids and the helpers that prepare, bind, read and step them.
 * Private to the store; see fr_store.h for the interface. */
#ifndef FR_STORE_SQL_H
#define FR_STORE_SQL_H

#include <sqlite3.h>
#include <stddef.h>

#include "fr_store.h"

enum {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_SAVEPOINT,
    S_RELEASE,
    S_ROLLBACK_TO,
    S_NODE_SEEN,
    S_NODES,
    S_NODE_GET,
    S_NODE_ACCEPTED,
    S_ROUND_OPEN,
    S_ROUND_GET,
    S_ROUND_OPEN_GET,
    S_ROUND_CLOSE,
    S_ROUNDS,
    S_LAST_ROUND,
    S_UPDATE_ADD,
    S_UPDATES,
    S_UPDATE_EXISTS,
    S_MODEL_ADD,
    S_MODEL_LATEST,
    S_METRICS_ADD,
    S_METRICS_MEAN,
    S_METRICS,
    S_REFUSAL_ADD,
    S_REFUSAL_NODE,
    S_REFUSALS,
    S_REFUSAL_PRUNE,
    S_EVAL_ADD,
    S_EVAL_GET,
    S_EVAL_LATEST,
    S_CAT_CONFIRM,
    S_CAT_CONFIRMS,
    S_LAST_PUBLISHED,
    S_FDP_ADD,
    S_FDP_ROUNDS,
    S_COUNT
};
_Static_assert((int)S_COUNT <= (int)FR_STORE_NSTMT, "FR_STORE_NSTMT too small");

/* The size of field f of row type t, which a stored string is cut to fit. */
#define CAP(t, f) sizeof(((t *)0)->f)

typedef void (*fr_sql_row_fn)(sqlite3_stmt *q, void *row);

/* FR_EIO naming the database, what failed and SQLite's message. */
fr_status fr_sql_fail(fr_store *s, fr_err *err, const char *what);
/* The prepared statement id, ready to bind; after use, fr_sql_finish() it. */
fr_status fr_sql_prep(fr_store *s, int id, sqlite3_stmt **q, fr_err *err);
void fr_sql_finish(sqlite3_stmt *q);
/* Binds the first cap - 1 bytes of str at most, cut back to a UTF-8 character
 * boundary, so that a stored value fits its row field. */
void fr_sql_bind_str(sqlite3_stmt *q, int i, const char *str, size_t cap);
void fr_sql_col_str(sqlite3_stmt *q, int i, char *dst, size_t cap);
/* A REAL column; NULL is how SQLite keeps a NaN. */
double fr_sql_col_dbl(sqlite3_stmt *q, int i);
long fr_sql_col_long(sqlite3_stmt *q, int i);
/* s cut and with control bytes replaced, for quoting a name from the network. */
const char *fr_sql_shown(char out[64], const char *s);
/* Runs statement id (no parameters, no rows) to its end. */
fr_status fr_sql_run_plain(fr_store *s, int id, const char *what, fr_err *err);
/* Steps a bound write statement to its end. */
fr_status fr_sql_run_write(fr_store *s, sqlite3_stmt *q, const char *what, fr_err *err);
/* Several statements that must land together, inside or outside fr_store_begin;
 * fr_sql_save_end keeps them when st is FR_OK, else undoes them (and returns st). */
fr_status fr_sql_save_begin(fr_store *s, fr_err *err);
fr_status fr_sql_save_end(fr_store *s, fr_status st, fr_err *err);
/* All rows of the bound statement q, each read by fn into a malloc'd array of rows of
 * size bytes (NULL when none). */
fr_status fr_sql_collect(fr_store *s, sqlite3_stmt *q, size_t size, fr_sql_row_fn fn, void **out,
                         int *count, fr_err *err);
/* The single row of bound statement q into row (zeroed when there is none). */
fr_status fr_sql_one_row(fr_store *s, sqlite3_stmt *q, size_t size, fr_sql_row_fn fn, void *row,
                         int *found, fr_err *err);

#endif
