/* The coordinator's state in SQLite (see fr_store.h): opening the database and its
 * schema, transactions, the SQL of every statement and the helpers that run them
 * (fr_store_sql.h) for the files that read and write the tables. */
#include "fr_store.h"
#include "fr_store_sql.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Version 1. REAL value columns may hold NULL because SQLite stores a NaN as NULL
 * (a node may report a NaN loss); they read back as NaN. */
static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS nodes ("
    " name TEXT PRIMARY KEY, first_seen REAL, last_seen REAL,"
    " model_version INTEGER NOT NULL, users INTEGER NOT NULL, windows INTEGER NOT NULL,"
    " eps_spent REAL, eps_budget REAL,"
    " updates_accepted INTEGER NOT NULL DEFAULT 0, updates_refused INTEGER NOT NULL DEFAULT 0,"
    " last_refusal TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE IF NOT EXISTS rounds ("
    " id INTEGER PRIMARY KEY CHECK (id > 0), model_version INTEGER NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('open', 'published', 'aborted')),"
    " opened_at REAL, deadline REAL, closed_at REAL DEFAULT 0,"
    " updates INTEGER NOT NULL DEFAULT 0, weight REAL DEFAULT 0, mean_loss REAL DEFAULT 0,"
    " new_version INTEGER NOT NULL DEFAULT 0, note TEXT NOT NULL DEFAULT '',"
    " expected INTEGER NOT NULL DEFAULT 0);"
    "CREATE UNIQUE INDEX IF NOT EXISTS rounds_one_open ON rounds (status)"
    " WHERE status = 'open';"
    "CREATE TABLE IF NOT EXISTS updates ("
    " seq INTEGER PRIMARY KEY, round INTEGER NOT NULL REFERENCES rounds (id),"
    " node TEXT NOT NULL, weight REAL, loss REAL, norm REAL,"
    " users INTEGER NOT NULL, windows INTEGER NOT NULL, received_at REAL,"
    " path TEXT NOT NULL, UNIQUE (round, node));"
    "CREATE TABLE IF NOT EXISTS models ("
    " version INTEGER PRIMARY KEY, round INTEGER NOT NULL, created_at REAL,"
    " path TEXT NOT NULL, sig_hex TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS metrics ("
    " model_version INTEGER NOT NULL, node TEXT NOT NULL, hr10 REAL, ndcg10 REAL,"
    " recall10 REAL, loss REAL, eps_spent REAL, users INTEGER NOT NULL, at REAL,"
    " PRIMARY KEY (model_version, node));"
    "CREATE TABLE IF NOT EXISTS refusals ("
    " id INTEGER PRIMARY KEY, at REAL, node TEXT NOT NULL, round INTEGER NOT NULL,"
    " reason TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS version_eval ("
    " model_version INTEGER PRIMARY KEY, round INTEGER NOT NULL, nodes INTEGER NOT NULL,"
    " users REAL, hr10 REAL, ndcg10 REAL, recall10 REAL);"
    /* added beside version 1 (IF NOT EXISTS: an older database gains it at open) */
    "CREATE TABLE IF NOT EXISTS catalogue_confirm ("
    " node TEXT PRIMARY KEY, version INTEGER NOT NULL, round INTEGER NOT NULL);"
    /* added beside version 1: a federation-wide DP round's mechanism, from its task */
    "CREATE TABLE IF NOT EXISTS fdp_rounds ("
    " round INTEGER PRIMARY KEY REFERENCES rounds (id), q REAL NOT NULL, sigma REAL NOT NULL,"
    " clip REAL NOT NULL, nodes INTEGER NOT NULL, threshold INTEGER NOT NULL,"
    " users_max INTEGER NOT NULL, dim INTEGER NOT NULL, delta REAL NOT NULL);";

#define ROUND_COLS                                                                                 \
    "id, model_version, status, opened_at, deadline, closed_at, updates, "                         \
    "weight, mean_loss, new_version, note, expected"

static const char *const sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SAVEPOINT] = "SAVEPOINT fr_store",
    [S_RELEASE] = "RELEASE fr_store",
    [S_ROLLBACK_TO] = "ROLLBACK TO fr_store",
    [S_NODE_SEEN] = "INSERT INTO nodes (name, first_seen, last_seen, model_version, users, windows,"
                    " eps_spent, eps_budget) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                    " ON CONFLICT (name) DO UPDATE SET last_seen = excluded.last_seen,"
                    " model_version = excluded.model_version, users = excluded.users,"
                    " windows = excluded.windows, eps_spent = excluded.eps_spent,"
                    " eps_budget = excluded.eps_budget",
    [S_NODES] =
        "SELECT name, first_seen, last_seen, model_version, users, windows, eps_spent,"
        " eps_budget, updates_accepted, updates_refused, last_refusal FROM nodes ORDER BY name",
    [S_NODE_GET] =
        "SELECT name, first_seen, last_seen, model_version, users, windows, eps_spent,"
        " eps_budget, updates_accepted, updates_refused, last_refusal FROM nodes WHERE name = ?1",
    [S_NODE_ACCEPTED] = "UPDATE nodes SET updates_accepted = updates_accepted + 1 WHERE name = ?1",
    [S_ROUND_OPEN] =
        "INSERT INTO rounds (id, model_version, status, opened_at, deadline, note, expected)"
        " VALUES (?1, ?2, 'open', ?3, ?4, ?5, ?6)",
    [S_ROUND_GET] = "SELECT " ROUND_COLS " FROM rounds WHERE id = ?1",
    [S_ROUND_OPEN_GET] = "SELECT " ROUND_COLS " FROM rounds WHERE status = 'open'",
    [S_ROUND_CLOSE] =
        "UPDATE rounds SET status = ?2, closed_at = ?3, updates = ?4, weight = ?5,"
        " mean_loss = ?6, new_version = ?7, note = ?8 WHERE id = ?1 AND status = 'open'",
    [S_ROUNDS] = "SELECT * FROM (SELECT " ROUND_COLS " FROM rounds ORDER BY id DESC LIMIT ?1)"
                 " ORDER BY id",
    [S_LAST_ROUND] = "SELECT COALESCE(MAX(id), 0) FROM rounds",
    [S_UPDATE_ADD] =
        "INSERT INTO updates (round, node, weight, loss, norm, users, windows, received_at,"
        " path) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [S_UPDATES] = "SELECT round, node, weight, loss, norm, users, windows, received_at, path"
                  " FROM updates WHERE round = ?1 ORDER BY received_at, seq",
    [S_UPDATE_EXISTS] = "SELECT 1 FROM updates WHERE round = ?1 AND node = ?2",
    [S_MODEL_ADD] = "INSERT INTO models (version, round, created_at, path, sig_hex)"
                    " VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_MODEL_LATEST] = "SELECT version, round, created_at, path, sig_hex FROM models"
                       " ORDER BY version DESC LIMIT 1",
    [S_METRICS_ADD] =
        "INSERT OR REPLACE INTO metrics (model_version, node, hr10, ndcg10, recall10, loss,"
        " eps_spent, users, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [S_METRICS_MEAN] = "SELECT COUNT(*), TOTAL(MAX(users, 0)), TOTAL(hr10 * MAX(users, 0)),"
                       " TOTAL(ndcg10 * MAX(users, 0)), TOTAL(hr10), TOTAL(ndcg10)"
                       " FROM metrics WHERE model_version = ?1 AND hr10 IS NOT NULL",
    [S_METRICS] = "SELECT model_version, node, hr10, ndcg10, recall10, loss, eps_spent, users, at"
                  " FROM metrics ORDER BY model_version, node",
    [S_REFUSAL_ADD] = "INSERT INTO refusals (at, node, round, reason) VALUES (?1, ?2, ?3, ?4)",
    [S_REFUSAL_NODE] = "UPDATE nodes SET updates_refused = updates_refused + 1, last_refusal = ?2"
                       " WHERE name = ?1",
    [S_REFUSALS] = "SELECT at, node, round, reason FROM (SELECT id, at, node, round, reason"
                   " FROM refusals ORDER BY id DESC LIMIT ?1) ORDER BY id",
    [S_REFUSAL_PRUNE] = "DELETE FROM refusals WHERE id <= (SELECT MAX(id) FROM refusals) - ?1",
    [S_EVAL_ADD] = "INSERT OR REPLACE INTO version_eval (model_version, round, nodes, users, hr10,"
                   " ndcg10, recall10) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_EVAL_GET] = "SELECT model_version, round, nodes, users, hr10, ndcg10, recall10"
                   " FROM version_eval WHERE model_version = ?1",
    [S_EVAL_LATEST] = "SELECT model_version, round, nodes, users, hr10, ndcg10, recall10"
                      " FROM version_eval ORDER BY model_version DESC LIMIT 1",
    [S_CAT_CONFIRM] = "INSERT INTO catalogue_confirm (node, version, round) VALUES (?1, ?2, ?3)"
                      " ON CONFLICT (node) DO UPDATE SET version = excluded.version,"
                      " round = excluded.round WHERE version != excluded.version",
    [S_CAT_CONFIRMS] = "SELECT n.name, COALESCE(c.version, 0), COALESCE(c.round, 0) FROM nodes n"
                       " LEFT JOIN catalogue_confirm c ON c.node = n.name ORDER BY n.name",
    [S_LAST_PUBLISHED] = "SELECT COALESCE(MAX(id), 0) FROM rounds WHERE status = 'published'",
    [S_FDP_ADD] = "INSERT INTO fdp_rounds (round, q, sigma, clip, nodes, threshold, users_max,"
                  " dim, delta) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [S_FDP_ROUNDS] = "SELECT round, q, sigma, clip, nodes, threshold, users_max, dim, delta"
                     " FROM fdp_rounds ORDER BY round",
};

fr_status fr_sql_fail(fr_store *s, fr_err *err, const char *what)
{
    return fr_fail(err, FR_EIO, "%s: %s: %s", s->path, what,
                   s->db ? sqlite3_errmsg(s->db) : "not open");
}

/* The prepared statement id, ready to bind; after use, fr_sql_finish() it. */
fr_status fr_sql_prep(fr_store *s, int id, sqlite3_stmt **q, fr_err *err)
{
    if (!s->db)
        return fr_fail(err, FR_EINVAL, "coordinator database is not open");
    if (!s->st[id] && sqlite3_prepare_v3(s->db, sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->st[id],
                                         NULL) != SQLITE_OK)
        return fr_sql_fail(s, err, "cannot prepare a statement");
    *q = s->st[id];
    return FR_OK;
}

void fr_sql_finish(sqlite3_stmt *q)
{
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
}

/* Binds the first cap - 1 bytes of str at most, cut back to a UTF-8 character
 * boundary, so that a stored value fits its row field. */
void fr_sql_bind_str(sqlite3_stmt *q, int i, const char *str, size_t cap)
{
    const char *v = str ? str : "";
    size_t len = strnlen(v, cap - 1);
    if (v[len] != '\0')
        while (len > 0 && ((unsigned char)v[len] & 0xC0) == 0x80)
            len--;
    sqlite3_bind_text(q, i, v, (int)len, SQLITE_TRANSIENT);
}

void fr_sql_col_str(sqlite3_stmt *q, int i, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

/* A REAL column; NULL is how SQLite keeps a NaN. */
double fr_sql_col_dbl(sqlite3_stmt *q, int i)
{
    return sqlite3_column_type(q, i) == SQLITE_NULL ? NAN : sqlite3_column_double(q, i);
}

long fr_sql_col_long(sqlite3_stmt *q, int i)
{
    sqlite3_int64 v = sqlite3_column_int64(q, i);
    return v > LONG_MAX ? LONG_MAX : v < LONG_MIN ? LONG_MIN : (long)v;
}

/* s cut and with control bytes replaced, for quoting a name from the network. */
const char *fr_sql_shown(char out[64], const char *s)
{
    size_t i = 0;
    for (; s && s[i] && i < 63; i++)
        out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    out[i] = '\0';
    return out;
}

/* Runs statement id (no parameters, no rows) to its end. */
fr_status fr_sql_run_plain(fr_store *s, int id, const char *what, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    fr_status st = fr_sql_prep(s, id, &q, err);
    if (st != FR_OK)
        return st;
    if (sqlite3_step(q) != SQLITE_DONE)
        st = fr_sql_fail(s, err, what);
    fr_sql_finish(q);
    return st;
}

/* Steps a bound write statement to its end. */
fr_status fr_sql_run_write(fr_store *s, sqlite3_stmt *q, const char *what, fr_err *err)
{
    fr_status st = sqlite3_step(q) == SQLITE_DONE ? FR_OK : fr_sql_fail(s, err, what);
    fr_sql_finish(q);
    return st;
}

/* Several statements that must land together, inside or outside fr_store_begin. */
fr_status fr_sql_save_begin(fr_store *s, fr_err *err)
{
    return fr_sql_run_plain(s, S_SAVEPOINT, "cannot start a savepoint", err);
}

/* Ends the savepoint: kept when st is FR_OK, else undone (and st returned). */
fr_status fr_sql_save_end(fr_store *s, fr_status st, fr_err *err)
{
    if (st == FR_OK)
        return fr_sql_run_plain(s, S_RELEASE, "cannot commit", err);
    fr_err ignored;
    /* ROLLBACK TO keeps the savepoint open; RELEASE then ends it. */
    if (fr_sql_run_plain(s, S_ROLLBACK_TO, "cannot roll back", &ignored) == FR_OK)
        (void)fr_sql_run_plain(s, S_RELEASE, "cannot roll back", &ignored);
    return st;
}

/* All rows of the bound statement q, each read by fn into a malloc'd array of rows of
 * size bytes. */
fr_status fr_sql_collect(fr_store *s, sqlite3_stmt *q, size_t size, fr_sql_row_fn fn, void **out,
                         int *count, fr_err *err)
{
    fr_status st = FR_OK;
    char *rows = NULL;
    int n = 0, cap = 0, rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (n == cap) {
            if (cap > INT_MAX / 2) {
                st = fr_fail(err, FR_ENOMEM, "%s: too many rows", s->path);
                goto out;
            }
            int ncap = cap ? 2 * cap : 16;
            char *grown = realloc(rows, (size_t)ncap * size);
            if (!grown) {
                st = fr_fail(err, FR_ENOMEM, "%s: cannot allocate %d rows", s->path, ncap);
                goto out;
            }
            rows = grown;
            cap = ncap;
        }
        memset(rows + (size_t)n * size, 0, size);
        fn(q, rows + (size_t)n * size);
        n++;
    }
    if (rc != SQLITE_DONE)
        st = fr_sql_fail(s, err, "cannot read");
out:
    fr_sql_finish(q);
    if (st != FR_OK || n == 0) {
        free(rows);
        rows = NULL;
        n = 0;
    }
    *out = rows;
    *count = n;
    return st;
}

/* Reads the schema version, creating the tables of a new database. */
static fr_status setup_schema(fr_store *s, fr_err *err)
{
    fr_status st = FR_OK;
    sqlite3_stmt *q = NULL;
    char *msg = NULL;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(s->db, schema_sql, NULL, NULL, &msg) != SQLITE_OK) {
        st = fr_fail(err, FR_EIO, "%s: cannot create the tables: %s", s->path,
                     msg ? msg : sqlite3_errmsg(s->db));
        goto out;
    }
    if (sqlite3_prepare_v2(s->db, "SELECT MAX(version), COUNT(*) FROM schema_version", -1, &q,
                           NULL) != SQLITE_OK ||
        sqlite3_step(q) != SQLITE_ROW) {
        st = fr_sql_fail(s, err, "cannot read the schema version");
        goto out;
    }
    sqlite3_int64 version = sqlite3_column_int64(q, 0), rows = sqlite3_column_int64(q, 1);
    sqlite3_finalize(q); /* a statement still stepping would block the commit */
    q = NULL;
    if (rows == 0) {
        if (sqlite3_exec(s->db, "INSERT INTO schema_version (version) VALUES (1)", NULL, NULL,
                         &msg) != SQLITE_OK) {
            st = fr_fail(err, FR_EIO, "%s: cannot record the schema version: %s", s->path,
                         msg ? msg : sqlite3_errmsg(s->db));
            goto out;
        }
    } else if (version != FR_STORE_SCHEMA_VERSION) {
        st = fr_fail(err, FR_EVERSION, "%s: schema version %lld, this coordinator reads %d",
                     s->path, (long long)version, FR_STORE_SCHEMA_VERSION);
        goto out;
    }
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK)
        st = fr_fail(err, FR_EIO, "%s: cannot commit the tables: %s", s->path,
                     msg ? msg : sqlite3_errmsg(s->db));
out:
    sqlite3_finalize(q);
    sqlite3_free(msg);
    if (st != FR_OK && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return st;
}

fr_status fr_store_open(fr_store *s, const char *state_dir, fr_err *err)
{
    fr_status st = FR_OK;
    sqlite3_stmt *q = NULL;
    memset(s, 0, sizeof *s);
    if (mkdir(state_dir, 0700) != 0 && errno != EEXIST)
        return fr_fail(err, FR_EIO, "%s: cannot create the state folder: %s", state_dir,
                       strerror(errno));
    if ((size_t)snprintf(s->path, sizeof s->path, "%s/%s", state_dir, FR_STORE_FILE) >=
        sizeof s->path)
        return fr_fail(err, FR_EINVAL, "%s: state folder path too long", state_dir);
    /* Created here so that it gets mode 0600: it names every node. */
    int fd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        st = fr_fail(err, FR_EIO, "%s: cannot open: %s", s->path, strerror(errno));
        goto out;
    }
    close(fd);
    if (sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        st = s->db ? fr_sql_fail(s, err, "cannot open the database")
                   : fr_fail(err, FR_ENOMEM, "%s: cannot allocate a database handle", s->path);
        goto out;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, FR_STORE_BUSY_MS);
    /* The first statement reads the file, so a file that is not a database fails here. */
    if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &q, NULL) != SQLITE_OK ||
        sqlite3_step(q) != SQLITE_ROW) {
        st = fr_sql_fail(s, err, "cannot open the database");
        goto out;
    }
    const unsigned char *mode = sqlite3_column_text(q, 0);
    if (!mode || strcmp((const char *)mode, "wal") != 0) {
        st = fr_fail(err, FR_EIO,
                     "%s: cannot switch to write-ahead logging (journal mode "
                     "stays %s)",
                     s->path, mode ? (const char *)mode : "unknown");
        goto out;
    }
    sqlite3_finalize(q);
    q = NULL;
    if (sqlite3_exec(s->db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", NULL, NULL,
                     NULL) != SQLITE_OK) {
        st = fr_sql_fail(s, err, "cannot set up the database");
        goto out;
    }
    st = setup_schema(s, err);
out:
    sqlite3_finalize(q);
    if (st != FR_OK)
        fr_store_close(s);
    return st;
}

fr_status fr_store_quick_check(fr_store *s, fr_err *err)
{
    fr_status st = FR_OK;
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check(1)", -1, &q, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        st = fr_fail(err, FR_ECHECKSUM, "%s is damaged: %s", s->path, sqlite3_errmsg(s->db));
        goto out;
    }
    const unsigned char *r = sqlite3_column_text(q, 0);
    if (!r || strcmp((const char *)r, "ok") != 0) {
        char first[200];
        snprintf(first, sizeof first, "%s", r ? (const char *)r : "quick_check gave no answer");
        for (char *p = first; *p; p++) /* one line */
            if ((unsigned char)*p < 0x20)
                *p = ' ';
        st = fr_fail(err, FR_ECHECKSUM, "%s is damaged: %s", s->path, first);
    }
out:
    sqlite3_finalize(q);
    return st;
}

void fr_store_close(fr_store *s)
{
    for (int i = 0; i < FR_STORE_NSTMT; i++)
        sqlite3_finalize(s->st[i]);
    if (s->db) {
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(s->db);
    }
    memset(s, 0, sizeof *s);
}

fr_status fr_store_begin(fr_store *s, fr_err *err)
{
    if (s->in_txn)
        return fr_fail(err, FR_EINVAL, "%s: a transaction is already open", s->path);
    fr_status st = fr_sql_run_plain(s, S_BEGIN, "cannot begin a transaction", err);
    if (st == FR_OK)
        s->in_txn = 1;
    return st;
}

fr_status fr_store_commit(fr_store *s, fr_err *err)
{
    if (!s->in_txn)
        return fr_fail(err, FR_EINVAL, "%s: commit without a transaction", s->path);
    fr_status st = fr_sql_run_plain(s, S_COMMIT, "cannot commit", err);
    /* A failed commit leaves the transaction open; end it, so that the caller's view
     * (nothing of it happened) is the database's. */
    if (st != FR_OK)
        fr_store_rollback(s);
    s->in_txn = 0;
    return st;
}

void fr_store_rollback(fr_store *s)
{
    fr_err ignored;
    if (s->db && !sqlite3_get_autocommit(s->db) &&
        fr_sql_run_plain(s, S_ROLLBACK, "cannot roll back", &ignored) != FR_OK)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->in_txn = 0;
}

/* The single row of bound statement q into row (zeroed when there is none). */
fr_status fr_sql_one_row(fr_store *s, sqlite3_stmt *q, size_t size, fr_sql_row_fn fn, void *row,
                         int *found, fr_err *err)
{
    fr_status st = FR_OK;
    memset(row, 0, size);
    *found = 0;
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        fn(q, row);
        *found = 1;
    } else if (rc != SQLITE_DONE) {
        st = fr_sql_fail(s, err, "cannot read");
    }
    fr_sql_finish(q);
    return st;
}
