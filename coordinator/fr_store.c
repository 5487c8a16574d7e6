/* The coordinator's state in SQLite (see fr_store.h). */
#include "fr_store.h"

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
    " reason TEXT NOT NULL);";

enum {
    S_BEGIN, S_COMMIT, S_ROLLBACK, S_SAVEPOINT, S_RELEASE, S_ROLLBACK_TO,
    S_NODE_SEEN, S_NODES, S_NODE_GET, S_NODE_ACCEPTED,
    S_ROUND_OPEN, S_ROUND_GET, S_ROUND_OPEN_GET, S_ROUND_CLOSE, S_ROUNDS, S_LAST_ROUND,
    S_UPDATE_ADD, S_UPDATES, S_UPDATE_EXISTS,
    S_MODEL_ADD, S_MODEL_LATEST,
    S_METRICS_ADD, S_METRICS_MEAN, S_METRICS,
    S_REFUSAL_ADD, S_REFUSAL_NODE, S_REFUSALS,
    S_COUNT
};
_Static_assert((int)S_COUNT <= (int)FR_STORE_NSTMT, "FR_STORE_NSTMT too small");

#define ROUND_COLS "id, model_version, status, opened_at, deadline, closed_at, updates, " \
                   "weight, mean_loss, new_version, note, expected"

static const char *const sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SAVEPOINT] = "SAVEPOINT fr_store",
    [S_RELEASE] = "RELEASE fr_store",
    [S_ROLLBACK_TO] = "ROLLBACK TO fr_store",
    [S_NODE_SEEN] =
        "INSERT INTO nodes (name, first_seen, last_seen, model_version, users, windows,"
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
    [S_NODE_ACCEPTED] =
        "UPDATE nodes SET updates_accepted = updates_accepted + 1 WHERE name = ?1",
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
    [S_UPDATES] =
        "SELECT round, node, weight, loss, norm, users, windows, received_at, path"
        " FROM updates WHERE round = ?1 ORDER BY received_at, seq",
    [S_UPDATE_EXISTS] = "SELECT 1 FROM updates WHERE round = ?1 AND node = ?2",
    [S_MODEL_ADD] =
        "INSERT INTO models (version, round, created_at, path, sig_hex)"
        " VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_MODEL_LATEST] =
        "SELECT version, round, created_at, path, sig_hex FROM models"
        " ORDER BY version DESC LIMIT 1",
    [S_METRICS_ADD] =
        "INSERT OR REPLACE INTO metrics (model_version, node, hr10, ndcg10, recall10, loss,"
        " eps_spent, users, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [S_METRICS_MEAN] =
        "SELECT COUNT(*), TOTAL(MAX(users, 0)), TOTAL(hr10 * MAX(users, 0)),"
        " TOTAL(ndcg10 * MAX(users, 0)), TOTAL(hr10), TOTAL(ndcg10)"
        " FROM metrics WHERE model_version = ?1",
    [S_METRICS] =
        "SELECT model_version, node, hr10, ndcg10, recall10, loss, eps_spent, users, at"
        " FROM metrics ORDER BY model_version, node",
    [S_REFUSAL_ADD] = "INSERT INTO refusals (at, node, round, reason) VALUES (?1, ?2, ?3, ?4)",
    [S_REFUSAL_NODE] =
        "UPDATE nodes SET updates_refused = updates_refused + 1, last_refusal = ?2"
        " WHERE name = ?1",
    [S_REFUSALS] =
        "SELECT at, node, round, reason FROM (SELECT id, at, node, round, reason"
        " FROM refusals ORDER BY id DESC LIMIT ?1) ORDER BY id",
};

/* The size of field f of row type t, which a stored string is cut to fit. */
#define CAP(t, f) sizeof(((t *)0)->f)

static fr_status db_fail(fr_store *s, fr_err *err, const char *what)
{
    return fr_fail(err, FR_EIO, "%s: %s: %s", s->path, what,
                   s->db ? sqlite3_errmsg(s->db) : "not open");
}

/* The prepared statement id, ready to bind; after use, finish() it. */
static fr_status prep(fr_store *s, int id, sqlite3_stmt **q, fr_err *err)
{
    if (!s->db)
        return fr_fail(err, FR_EINVAL, "coordinator database is not open");
    if (!s->st[id] && sqlite3_prepare_v3(s->db, sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                         &s->st[id], NULL) != SQLITE_OK)
        return db_fail(s, err, "cannot prepare a statement");
    *q = s->st[id];
    return FR_OK;
}

static void finish(sqlite3_stmt *q)
{
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
}

/* Binds the first cap - 1 bytes of str at most, cut back to a UTF-8 character
 * boundary, so that a stored value fits its row field. */
static void bind_str(sqlite3_stmt *q, int i, const char *str, size_t cap)
{
    const char *v = str ? str : "";
    size_t len = strnlen(v, cap - 1);
    if (v[len] != '\0')
        while (len > 0 && ((unsigned char)v[len] & 0xC0) == 0x80)
            len--;
    sqlite3_bind_text(q, i, v, (int)len, SQLITE_TRANSIENT);
}

static void col_str(sqlite3_stmt *q, int i, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

/* A REAL column; NULL is how SQLite keeps a NaN. */
static double col_dbl(sqlite3_stmt *q, int i)
{
    return sqlite3_column_type(q, i) == SQLITE_NULL ? NAN : sqlite3_column_double(q, i);
}

static long col_long(sqlite3_stmt *q, int i)
{
    sqlite3_int64 v = sqlite3_column_int64(q, i);
    return v > LONG_MAX ? LONG_MAX : v < LONG_MIN ? LONG_MIN : (long)v;
}

/* s cut and with control bytes replaced, for quoting a name from the network. */
static const char *shown(char out[64], const char *s)
{
    size_t i = 0;
    for (; s && s[i] && i < 63; i++)
        out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    out[i] = '\0';
    return out;
}

/* Runs statement id (no parameters, no rows) to its end. */
static fr_status run_plain(fr_store *s, int id, const char *what, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    fr_status st = prep(s, id, &q, err);
    if (st != FR_OK)
        return st;
    if (sqlite3_step(q) != SQLITE_DONE)
        st = db_fail(s, err, what);
    finish(q);
    return st;
}

/* Steps a bound write statement to its end. */
static fr_status run_write(fr_store *s, sqlite3_stmt *q, const char *what, fr_err *err)
{
    fr_status st = sqlite3_step(q) == SQLITE_DONE ? FR_OK : db_fail(s, err, what);
    finish(q);
    return st;
}

/* Several statements that must land together, inside or outside fr_store_begin. */
static fr_status save_begin(fr_store *s, fr_err *err)
{
    return run_plain(s, S_SAVEPOINT, "cannot start a savepoint", err);
}

/* Ends the savepoint: kept when st is FR_OK, else undone (and st returned). */
static fr_status save_end(fr_store *s, fr_status st, fr_err *err)
{
    if (st == FR_OK)
        return run_plain(s, S_RELEASE, "cannot commit", err);
    fr_err ignored;
    /* ROLLBACK TO keeps the savepoint open; RELEASE then ends it. */
    if (run_plain(s, S_ROLLBACK_TO, "cannot roll back", &ignored) == FR_OK)
        (void)run_plain(s, S_RELEASE, "cannot roll back", &ignored);
    return st;
}

typedef void (*row_fn)(sqlite3_stmt *q, void *row);

/* All rows of the bound statement q, each read by fn into a malloc'd array of rows of
 * size bytes. */
static fr_status one_row(fr_store *s, sqlite3_stmt *q, size_t size, row_fn fn, void *row,
                         int *found, fr_err *err);

static fr_status collect(fr_store *s, sqlite3_stmt *q, size_t size, row_fn fn, void **out,
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
        st = db_fail(s, err, "cannot read");
out:
    finish(q);
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
                           NULL) != SQLITE_OK || sqlite3_step(q) != SQLITE_ROW) {
        st = db_fail(s, err, "cannot read the schema version");
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
        st = s->db ? db_fail(s, err, "cannot open the database")
                   : fr_fail(err, FR_ENOMEM, "%s: cannot allocate a database handle", s->path);
        goto out;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, FR_STORE_BUSY_MS);
    /* The first statement reads the file, so a file that is not a database fails here. */
    if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &q, NULL) != SQLITE_OK ||
        sqlite3_step(q) != SQLITE_ROW) {
        st = db_fail(s, err, "cannot open the database");
        goto out;
    }
    const unsigned char *mode = sqlite3_column_text(q, 0);
    if (!mode || strcmp((const char *)mode, "wal") != 0) {
        st = fr_fail(err, FR_EIO, "%s: cannot switch to write-ahead logging (journal mode "
                     "stays %s)", s->path, mode ? (const char *)mode : "unknown");
        goto out;
    }
    sqlite3_finalize(q);
    q = NULL;
    if (sqlite3_exec(s->db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", NULL, NULL,
                     NULL) != SQLITE_OK) {
        st = db_fail(s, err, "cannot set up the database");
        goto out;
    }
    st = setup_schema(s, err);
out:
    sqlite3_finalize(q);
    if (st != FR_OK)
        fr_store_close(s);
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
    fr_status st = run_plain(s, S_BEGIN, "cannot begin a transaction", err);
    if (st == FR_OK)
        s->in_txn = 1;
    return st;
}

fr_status fr_store_commit(fr_store *s, fr_err *err)
{
    if (!s->in_txn)
        return fr_fail(err, FR_EINVAL, "%s: commit without a transaction", s->path);
    fr_status st = run_plain(s, S_COMMIT, "cannot commit", err);
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
        run_plain(s, S_ROLLBACK, "cannot roll back", &ignored) != FR_OK)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->in_txn = 0;
}

fr_status fr_store_node_seen(fr_store *s, const fr_node_row *n, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    fr_status st = prep(s, S_NODE_SEEN, &q, err);
    if (st != FR_OK)
        return st;
    bind_str(q, 1, n->name, sizeof n->name);
    sqlite3_bind_double(q, 2, n->first_seen);
    sqlite3_bind_double(q, 3, n->last_seen);
    sqlite3_bind_int64(q, 4, n->model_version);
    sqlite3_bind_int64(q, 5, n->users);
    sqlite3_bind_int64(q, 6, n->windows);
    sqlite3_bind_double(q, 7, n->eps_spent);
    sqlite3_bind_double(q, 8, n->eps_budget);
    return run_write(s, q, "cannot record a node", err);
}

static void read_node(sqlite3_stmt *q, void *row)
{
    fr_node_row *n = row;
    col_str(q, 0, n->name, sizeof n->name);
    n->first_seen = col_dbl(q, 1);
    n->last_seen = col_dbl(q, 2);
    n->model_version = col_long(q, 3);
    n->users = col_long(q, 4);
    n->windows = col_long(q, 5);
    n->eps_spent = col_dbl(q, 6);
    n->eps_budget = col_dbl(q, 7);
    n->updates_accepted = col_long(q, 8);
    n->updates_refused = col_long(q, 9);
    col_str(q, 10, n->last_refusal, sizeof n->last_refusal);
}

fr_status fr_store_nodes(fr_store *s, fr_node_row **out, int *count, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    *out = NULL;
    *count = 0;
    fr_status st = prep(s, S_NODES, &q, err);
    if (st != FR_OK)
        return st;
    return collect(s, q, sizeof **out, read_node, (void **)out, count, err);
}

fr_status fr_store_node_get(fr_store *s, const char *name, fr_node_row *n, int *found, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    fr_status st = prep(s, S_NODE_GET, &q, err);
    if (st != FR_OK)
        return st;
    bind_str(q, 1, name, sizeof n->name);
    return one_row(s, q, sizeof *n, read_node, n, found, err);
}

fr_status fr_store_node_accepted(fr_store *s, const char *node, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    char name[64];
    fr_status st = prep(s, S_NODE_ACCEPTED, &q, err);
    if (st != FR_OK)
        return st;
    bind_str(q, 1, node, CAP(fr_node_row, name));
    if ((st = run_write(s, q, "cannot count an accepted update", err)) != FR_OK)
        return st;
    if (sqlite3_changes(s->db) == 0)
        return fr_fail(err, FR_EINVAL, "%s: node \"%s\" is not known", s->path,
                       shown(name, node));
    return FR_OK;
}

static void read_round(sqlite3_stmt *q, void *row)
{
    fr_round_row *r = row;
    r->id = col_long(q, 0);
    r->model_version = col_long(q, 1);
    col_str(q, 2, r->status, sizeof r->status);
    r->opened_at = col_dbl(q, 3);
    r->deadline = col_dbl(q, 4);
    r->closed_at = col_dbl(q, 5);
    r->updates = sqlite3_column_int(q, 6);
    r->weight = col_dbl(q, 7);
    r->mean_loss = col_dbl(q, 8);
    r->new_version = col_long(q, 9);
    col_str(q, 10, r->note, sizeof r->note);
    r->expected = sqlite3_column_int(q, 11);
}

/* The single row of bound statement q into row (zeroed when there is none). */
static fr_status one_row(fr_store *s, sqlite3_stmt *q, size_t size, row_fn fn, void *row,
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
        st = db_fail(s, err, "cannot read");
    }
    finish(q);
    return st;
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
    if ((st = prep(s, S_ROUND_OPEN, &q, err)) != FR_OK)
        return st;
    sqlite3_bind_int64(q, 1, r->id);
    sqlite3_bind_int64(q, 2, r->model_version);
    sqlite3_bind_double(q, 3, r->opened_at);
    sqlite3_bind_double(q, 4, r->deadline);
    bind_str(q, 5, r->note, sizeof r->note);
    sqlite3_bind_int(q, 6, r->expected);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_DONE)
        st = FR_OK;
    else if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        st = fr_fail(err, FR_EINVAL, "%s: round %ld exists", s->path, r->id);
    else
        st = db_fail(s, err, "cannot open a round");
    finish(q);
    return st;
}

fr_status fr_store_round_get(fr_store *s, long id, fr_round_row *r, int *found, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    fr_status st = prep(s, S_ROUND_GET, &q, err);
    if (st != FR_OK)
        return st;
    sqlite3_bind_int64(q, 1, id);
    return one_row(s, q, sizeof *r, read_round, r, found, err);
}

fr_status fr_store_round_open_get(fr_store *s, fr_round_row *r, int *found, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    fr_status st = prep(s, S_ROUND_OPEN_GET, &q, err);
    if (st != FR_OK)
        return st;
    return one_row(s, q, sizeof *r, read_round, r, found, err);
}

fr_status fr_store_round_close(fr_store *s, const fr_round_row *r, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    fr_round_row cur;
    int found;
    if (strcmp(r->status, "published") != 0 && strcmp(r->status, "aborted") != 0)
        return fr_fail(err, FR_EINVAL, "%s: round %ld: closing status \"%.15s\", expected "
                       "published or aborted", s->path, r->id, r->status);
    fr_status st = prep(s, S_ROUND_CLOSE, &q, err);
    if (st != FR_OK)
        return st;
    sqlite3_bind_int64(q, 1, r->id);
    bind_str(q, 2, r->status, sizeof r->status);
    sqlite3_bind_double(q, 3, r->closed_at);
    sqlite3_bind_int(q, 4, r->updates);
    sqlite3_bind_double(q, 5, r->weight);
    sqlite3_bind_double(q, 6, r->mean_loss);
    sqlite3_bind_int64(q, 7, r->new_version);
    bind_str(q, 8, r->note, sizeof r->note);
    if ((st = run_write(s, q, "cannot close a round", err)) != FR_OK)
        return st;
    if (sqlite3_changes(s->db) > 0)
        return FR_OK;
    if ((st = fr_store_round_get(s, r->id, &cur, &found, err)) != FR_OK)
        return st;
    if (!found)
        return fr_fail(err, FR_EINVAL, "%s: cannot close round %ld: no such round", s->path,
                       r->id);
    return fr_fail(err, FR_EINVAL, "%s: cannot close round %ld: it is %s already", s->path,
                   r->id, cur.status);
}

fr_status fr_store_rounds(fr_store *s, long last_n, fr_round_row **out, int *count, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    *out = NULL;
    *count = 0;
    fr_status st = prep(s, S_ROUNDS, &q, err);
    if (st != FR_OK)
        return st;
    sqlite3_bind_int64(q, 1, last_n > 0 ? last_n : -1);
    return collect(s, q, sizeof **out, read_round, (void **)out, count, err);
}

fr_status fr_store_last_round_id(fr_store *s, long *id, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    *id = 0;
    fr_status st = prep(s, S_LAST_ROUND, &q, err);
    if (st != FR_OK)
        return st;
    if (sqlite3_step(q) == SQLITE_ROW)
        *id = col_long(q, 0);
    else
        st = db_fail(s, err, "cannot read the last round");
    finish(q);
    return st;
}

fr_status fr_store_update_add(fr_store *s, const fr_update_row *u, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    char name[64];
    fr_status st = prep(s, S_UPDATE_ADD, &q, err);
    if (st != FR_OK)
        return st;
    sqlite3_bind_int64(q, 1, u->round);
    bind_str(q, 2, u->node, sizeof u->node);
    sqlite3_bind_double(q, 3, u->weight);
    sqlite3_bind_double(q, 4, u->loss);
    sqlite3_bind_double(q, 5, u->norm);
    sqlite3_bind_int64(q, 6, u->users);
    sqlite3_bind_int64(q, 7, u->windows);
    sqlite3_bind_double(q, 8, u->received_at);
    bind_str(q, 9, u->path, sizeof u->path);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_DONE)
        st = FR_OK;
    else if (rc == SQLITE_CONSTRAINT_UNIQUE)
        st = fr_fail(err, FR_EINVAL, "duplicate update from %s for round %ld",
                     shown(name, u->node), u->round);
    else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        st = fr_fail(err, FR_EINVAL, "%s: update from %s for round %ld: no such round",
                     s->path, shown(name, u->node), u->round);
    else
        st = db_fail(s, err, "cannot record an update");
    finish(q);
    return st;
}

static void read_update(sqlite3_stmt *q, void *row)
{
    fr_update_row *u = row;
    u->round = col_long(q, 0);
    col_str(q, 1, u->node, sizeof u->node);
    u->weight = col_dbl(q, 2);
    u->loss = col_dbl(q, 3);
    u->norm = col_dbl(q, 4);
    u->users = col_long(q, 5);
    u->windows = col_long(q, 6);
    u->received_at = col_dbl(q, 7);
    col_str(q, 8, u->path, sizeof u->path);
}

fr_status fr_store_updates(fr_store *s, long round, fr_update_row **out, int *count,
                           fr_err *err)
{
    sqlite3_stmt *q = NULL;
    *out = NULL;
    *count = 0;
    fr_status st = prep(s, S_UPDATES, &q, err);
    if (st != FR_OK)
        return st;
    sqlite3_bind_int64(q, 1, round);
    return collect(s, q, sizeof **out, read_update, (void **)out, count, err);
}

fr_status fr_store_update_exists(fr_store *s, long round, const char *node, int *exists,
                                 fr_err *err)
{
    sqlite3_stmt *q = NULL;
    *exists = 0;
    fr_status st = prep(s, S_UPDATE_EXISTS, &q, err);
    if (st != FR_OK)
        return st;
    sqlite3_bind_int64(q, 1, round);
    bind_str(q, 2, node, CAP(fr_update_row, node));
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *exists = 1;
    else if (rc != SQLITE_DONE)
        st = db_fail(s, err, "cannot look up an update");
    finish(q);
    return st;
}

fr_status fr_store_model_add(fr_store *s, const fr_model_row *m, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    fr_status st = prep(s, S_MODEL_ADD, &q, err);
    if (st != FR_OK)
        return st;
    sqlite3_bind_int64(q, 1, m->version);
    sqlite3_bind_int64(q, 2, m->round);
    sqlite3_bind_double(q, 3, m->created_at);
    bind_str(q, 4, m->path, sizeof m->path);
    bind_str(q, 5, m->sig_hex, sizeof m->sig_hex);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_DONE)
        st = FR_OK;
    else if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        st = fr_fail(err, FR_EINVAL, "%s: model version %ld exists", s->path, m->version);
    else
        st = db_fail(s, err, "cannot record a model version");
    finish(q);
    return st;
}

static void read_model(sqlite3_stmt *q, void *row)
{
    fr_model_row *m = row;
    m->version = col_long(q, 0);
    m->round = col_long(q, 1);
    m->created_at = col_dbl(q, 2);
    col_str(q, 3, m->path, sizeof m->path);
    col_str(q, 4, m->sig_hex, sizeof m->sig_hex);
}

fr_status fr_store_model_latest(fr_store *s, fr_model_row *m, int *found, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    fr_status st = prep(s, S_MODEL_LATEST, &q, err);
    if (st != FR_OK)
        return st;
    return one_row(s, q, sizeof *m, read_model, m, found, err);
}

fr_status fr_store_metrics_add(fr_store *s, const fr_metrics_row *m, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    fr_status st = prep(s, S_METRICS_ADD, &q, err);
    if (st != FR_OK)
        return st;
    sqlite3_bind_int64(q, 1, m->model_version);
    bind_str(q, 2, m->node, sizeof m->node);
    sqlite3_bind_double(q, 3, m->hr10);
    sqlite3_bind_double(q, 4, m->ndcg10);
    sqlite3_bind_double(q, 5, m->recall10);
    sqlite3_bind_double(q, 6, m->loss);
    sqlite3_bind_double(q, 7, m->eps_spent);
    sqlite3_bind_int64(q, 8, m->users);
    sqlite3_bind_double(q, 9, m->at);
    return run_write(s, q, "cannot record metrics", err);
}

fr_status fr_store_metrics_mean(fr_store *s, long version, double *hr10, double *ndcg10,
                                int *nodes, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    *hr10 = *ndcg10 = 0;
    *nodes = 0;
    fr_status st = prep(s, S_METRICS_MEAN, &q, err);
    if (st != FR_OK)
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
        st = db_fail(s, err, "cannot read metrics");
    }
    finish(q);
    return st;
}

static void read_metrics(sqlite3_stmt *q, void *row)
{
    fr_metrics_row *m = row;
    m->model_version = col_long(q, 0);
    col_str(q, 1, m->node, sizeof m->node);
    m->hr10 = col_dbl(q, 2);
    m->ndcg10 = col_dbl(q, 3);
    m->recall10 = col_dbl(q, 4);
    m->loss = col_dbl(q, 5);
    m->eps_spent = col_dbl(q, 6);
    m->users = col_long(q, 7);
    m->at = col_dbl(q, 8);
}

fr_status fr_store_metrics(fr_store *s, fr_metrics_row **out, int *count, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    *out = NULL;
    *count = 0;
    fr_status st = prep(s, S_METRICS, &q, err);
    if (st != FR_OK)
        return st;
    return collect(s, q, sizeof **out, read_metrics, (void **)out, count, err);
}

fr_status fr_store_refusal_add(fr_store *s, double at, const char *node, long round,
                               const char *reason, fr_err *err)
{
    sqlite3_stmt *q = NULL;
    fr_status st = save_begin(s, err);
    if (st != FR_OK)
        return st;
    if ((st = prep(s, S_REFUSAL_ADD, &q, err)) != FR_OK)
        goto out;
    sqlite3_bind_double(q, 1, at);
    bind_str(q, 2, node, CAP(fr_refusal_row, node));
    sqlite3_bind_int64(q, 3, round);
    bind_str(q, 4, reason, CAP(fr_refusal_row, reason));
    if ((st = run_write(s, q, "cannot record a refusal", err)) != FR_OK)
        goto out;
    if ((st = prep(s, S_REFUSAL_NODE, &q, err)) != FR_OK)
        goto out;
    bind_str(q, 1, node, CAP(fr_node_row, name));
    bind_str(q, 2, reason, CAP(fr_node_row, last_refusal));
    st = run_write(s, q, "cannot count a refusal", err);
out:
    return save_end(s, st, err);
}

static void read_refusal(sqlite3_stmt *q, void *row)
{
    fr_refusal_row *r = row;
    r->at = col_dbl(q, 0);
    col_str(q, 1, r->node, sizeof r->node);
    r->round = col_long(q, 2);
    col_str(q, 3, r->reason, sizeof r->reason);
}

fr_status fr_store_refusals(fr_store *s, long last_n, fr_refusal_row **out, int *count,
                            fr_err *err)
{
    sqlite3_stmt *q = NULL;
    *out = NULL;
    *count = 0;
    fr_status st = prep(s, S_REFUSALS, &q, err);
    if (st != FR_OK)
        return st;
    sqlite3_bind_int64(q, 1, last_n > 0 ? last_n : -1);
    return collect(s, q, sizeof **out, read_refusal, (void **)out, count, err);
}
