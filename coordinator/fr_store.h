/* The coordinator's durable state: nodes, rounds, the updates received in each round,
 * the global model versions, the metrics nodes report and the requests refused, in
 * one SQLite database at STATE_DIR/coordinator.db. The database runs in WAL mode with
 * synchronous=FULL, so every function that writes has made its change durable before
 * it returns, unless it is called between fr_store_begin and fr_store_commit, where
 * the commit does. A coordinator killed at any moment restarts from the last commit.
 *
 * For the coordinator's single-threaded event loop: one fr_store is not to be used
 * from two threads. Strings (which may come from the network) are bound as SQL
 * parameters, never spliced into SQL, and are cut to the size of the row fields
 * below (at a UTF-8 character boundary), so a name longer than 63 bytes is stored as
 * its first 63. Every failure returns a status and one line naming the database file
 * and what failed: FR_EIO for the database itself, FR_EINVAL for a request that
 * breaks a rule (a duplicate update, a second open round), FR_EVERSION for a database
 * written by a newer schema. */
#ifndef FR_STORE_H
#define FR_STORE_H

#include <sqlite3.h>

#include "fed/fr_fdp_spent.h"
#include "util/fr_status.h"

#define FR_STORE_FILE "coordinator.db"
#define FR_STORE_SCHEMA_VERSION 1
/* Milliseconds a statement waits for a lock held by another process (an operator's
 * sqlite3 shell, a backup) before it fails. */
#define FR_STORE_BUSY_MS 5000

enum { FR_STORE_NSTMT = 40 };

typedef struct fr_store {
    sqlite3 *db;
    char path[4096];                  /* STATE_DIR/coordinator.db, for messages */
    sqlite3_stmt *st[FR_STORE_NSTMT]; /* prepared once, on first use */
    int in_txn;                       /* inside fr_store_begin / commit */
    long keep_refusals;               /* refusal rows kept, newest; 0: FR_STORE_KEEP_REFUSALS */
} fr_store;

#define FR_STORE_KEEP_REFUSALS 10000

/* Open (creating when absent; the folder with mode 0700, the file with 0600) the
 * database in state_dir and create its tables when they are missing. On failure s is
 * left closed (fr_store_close on it is harmless); a file that is not a database is
 * FR_EIO naming its path. */
FR_MUST fr_status fr_store_open(fr_store *s, const char *state_dir, fr_err *err);
/* Close s (rolling back a transaction left open) and zero it; accepts a zeroed struct. */
void fr_store_close(fr_store *s);
/* SQLite's PRAGMA quick_check over the whole file: FR_ECHECKSUM naming the file and
 * the first problem found when it is damaged. */
FR_MUST fr_status fr_store_quick_check(fr_store *s, fr_err *err);

/* A transaction around several writes that must land together (publishing closes
 * the round and adds the model version): nothing of it is visible after a crash or a
 * rollback unless fr_store_commit returned FR_OK. Transactions do not nest. */
FR_MUST fr_status fr_store_begin(fr_store *s, fr_err *err);
FR_MUST fr_status fr_store_commit(fr_store *s, fr_err *err);
/* Undo the open transaction; harmless when there is none. */
void fr_store_rollback(fr_store *s);

typedef struct fr_node_row {
    char name[64];
    double first_seen, last_seen; /* Unix seconds */
    long model_version;           /* the version the node last reported holding */
    long users, windows;
    double eps_spent, eps_budget;
    long updates_accepted, updates_refused;
    char last_refusal[256];
} fr_node_row;

/* Record that node n->name was seen: a new node is added with all of n's fields
 * (counters at 0); a known one keeps its first_seen, counters and last_refusal and
 * takes the rest from n. */
FR_MUST fr_status fr_store_node_seen(fr_store *s, const fr_node_row *n, fr_err *err);
/* Every node, by name, in a malloc'd array of *count rows (NULL when 0); free() it. */
FR_MUST fr_status fr_store_nodes(fr_store *s, fr_node_row **out, int *count, fr_err *err);
/* The row of node name into *n (zeroed, *found 0, when there is none). */
FR_MUST fr_status fr_store_node_get(fr_store *s, const char *name, fr_node_row *n, int *found,
                                    fr_err *err);
/* updates_accepted + 1 for node; FR_EINVAL when the node is not known. */
FR_MUST fr_status fr_store_node_accepted(fr_store *s, const char *node, fr_err *err);

typedef struct fr_round_row {
    long id;            /* > 0, chosen by the coordinator */
    long model_version; /* the version trained from */
    char status[16];    /* "open", "published", "aborted" */
    double opened_at, deadline, closed_at;
    int updates;
    double weight;
    double mean_loss;
    long new_version; /* the version published from it; 0 if none */
    int expected;     /* updates that close it, fixed when it opens */
    char note[256];
} fr_round_row;

/* Add round r->id as "open" with its model_version, opened_at, deadline and note
 * (the other fields start at 0). FR_EINVAL when the id exists, is not > 0, or another
 * round is still open: at most one round is open at a time. */
FR_MUST fr_status fr_store_round_open(fr_store *s, const fr_round_row *r, fr_err *err);
/* Round id into *r and *found = 1, or *found = 0 (r zeroed). */
FR_MUST fr_status fr_store_round_get(fr_store *s, long id, fr_round_row *r, int *found,
                                     fr_err *err);
/* The open round, as fr_store_round_get. */
FR_MUST fr_status fr_store_round_open_get(fr_store *s, fr_round_row *r, int *found, fr_err *err);
/* Close open round r->id: sets its status (r->status, "published" or "aborted"),
 * closed_at, updates, weight, mean_loss, new_version and note. FR_EINVAL for another
 * status or when the round is not open (closed already, or none of that id). */
FR_MUST fr_status fr_store_round_close(fr_store *s, const fr_round_row *r, fr_err *err);
/* The newest last_n rounds (all of them when last_n <= 0) in ascending id, as
 * fr_store_nodes returns rows. */
FR_MUST fr_status fr_store_rounds(fr_store *s, long last_n, fr_round_row **out, int *count,
                                  fr_err *err);
/* The highest round id, 0 when there is none. */
FR_MUST fr_status fr_store_last_round_id(fr_store *s, long *id, fr_err *err);
/* The highest id of a published round (aggregated), 0 when there is none. */
FR_MUST fr_status fr_store_last_published_round(fr_store *s, long *id, fr_err *err);

/* A node's confirmation of the catalogue version its data is mapped onto
 * (docs/catalogue.md, "Reclaiming retired rows"). */
typedef struct fr_confirm_row {
    char node[64];
    long version; /* 0: none, or not known */
    long round;   /* the highest round id when the node first reported this version */
} fr_confirm_row;

/* Record that node reports catalogue version `version` (0 when its join carries none),
 * with round, the highest round id now; a node that reports the version it reported
 * before keeps its round. */
FR_MUST fr_status fr_store_catalogue_confirm(fr_store *s, const char *node, long version,
                                             long round, fr_err *err);
/* Every node of the nodes table with its confirmation ({0, 0} for a node that has
 * none), by name, as fr_store_nodes returns rows. */
FR_MUST fr_status fr_store_catalogue_confirms(fr_store *s, fr_confirm_row **out, int *count,
                                              fr_err *err);

typedef struct fr_update_row {
    long round;
    char node[64];
    double weight, loss, norm;
    long users, windows;
    double received_at;
    char path[512]; /* where the delta is kept */
} fr_update_row;

/* Record an update: FR_EINVAL "duplicate update from NODE for round R" when that node
 * already has one in that round, and FR_EINVAL when the round does not exist. */
FR_MUST fr_status fr_store_update_add(fr_store *s, const fr_update_row *u, fr_err *err);
/* The updates of round, by arrival (received_at, then the order added), as
 * fr_store_nodes returns rows. */
FR_MUST fr_status fr_store_updates(fr_store *s, long round, fr_update_row **out, int *count,
                                   fr_err *err);
FR_MUST fr_status fr_store_update_exists(fr_store *s, long round, const char *node, int *exists,
                                         fr_err *err);

typedef struct fr_model_row {
    long version;
    long round; /* the round that produced it (0 for the initial model) */
    double created_at;
    char path[512];
    char sig_hex[129];
} fr_model_row;

/* Record model version m->version; FR_EINVAL when that version exists. */
FR_MUST fr_status fr_store_model_add(fr_store *s, const fr_model_row *m, fr_err *err);
/* The highest version into *m and *found = 1, or *found = 0 (m zeroed). */
FR_MUST fr_status fr_store_model_latest(fr_store *s, fr_model_row *m, int *found, fr_err *err);

typedef struct fr_metrics_row {
    long model_version;
    char node[64];
    double hr10, ndcg10, recall10, loss, eps_spent;
    long users;
    double at;
} fr_metrics_row;

/* Record a node's metrics for a version, replacing what it reported for that version
 * before. has_quality 0 (a node in secure mode, whose figures travel only in the
 * masked sum) stores hr10, ndcg10 and recall10 as NULL: the row then counts in no mean. */
FR_MUST fr_status fr_store_metrics_add(fr_store *s, const fr_metrics_row *m, int has_quality,
                                       fr_err *err);

/* A version's quality as the federation measured it: the eval-user-weighted means of
 * the members of the secure round that trained from it, decoded from its masked sum
 * (no node's own figures). */
typedef struct fr_eval_row {
    long model_version; /* the version evaluated */
    long round;         /* the secure round whose sum carried it */
    int nodes;          /* members in that sum */
    double users;       /* eval users summed over them (each cut to the weight cap) */
    double hr10, ndcg10, recall10;
} fr_eval_row;

/* Record (or replace) version e->model_version's federation figures; called by
 * fr_store_commit_publish. */
FR_MUST fr_status fr_store_eval_add(fr_store *s, const fr_eval_row *e, fr_err *err);
/* Version version's federation figures (version < 0: the newest version that has
 * some) into *e and *found = 1, or *found = 0. */
FR_MUST fr_status fr_store_eval_get(fr_store *s, long version, fr_eval_row *e, int *found,
                                    fr_err *err);
/* The mean hr10 and ndcg10 of version: the federation's (fr_eval_row, *nodes = the
 * members in that sum) when a secure round recorded them, else the users-weighted
 * mean over the nodes that reported figures in the clear (the plain mean when they
 * all report 0 users; *nodes = how many). The means are 0 and *nodes 0 when neither. */
FR_MUST fr_status fr_store_metrics_mean(fr_store *s, long version, double *hr10, double *ndcg10,
                                        int *nodes, fr_err *err);
/* All metrics, by version then node, as fr_store_nodes returns rows. */
FR_MUST fr_status fr_store_metrics(fr_store *s, fr_metrics_row **out, int *count, fr_err *err);

typedef struct fr_refusal_row {
    double at;
    char node[64];
    long round;
    char reason[256];
} fr_refusal_row;

/* Record a refused update or request (node may be "" when unknown); when node is a
 * known node, also its updates_refused + 1 and last_refusal = reason. Older rows beyond
 * the newest keep_refusals are deleted in the same write. */
FR_MUST fr_status fr_store_refusal_add(fr_store *s, double at, const char *node, long round,
                                       const char *reason, fr_err *err);
/* The newest last_n refusals (all when last_n <= 0), oldest first, newest last, as
 * fr_store_nodes returns rows. */
FR_MUST fr_status fr_store_refusals(fr_store *s, long last_n, fr_refusal_row **out, int *count,
                                    fr_err *err);

/* The mechanism of a published federation-wide DP round (fr_store_fdp.c): the fields
 * of its task, the model's size and the federation's delta, so that a restarted
 * coordinator composes the same epsilon as the members' ledgers (fed/fr_fdp_spent.h).
 * Recorded by fr_store_commit_publish_fdp; FR_EINVAL when round r->round has one. */
FR_MUST fr_status fr_store_fdp_add(fr_store *s, const fr_fdp_round *r, fr_err *err);
/* Every recorded round's mechanism, by round id, as fr_store_nodes returns rows. */
FR_MUST fr_status fr_store_fdp_rounds(fr_store *s, fr_fdp_round **out, int *count, fr_err *err);

/* ---- transitions of a round (fr_store_commit.c) ----
 * One function per change of the federation's state, each landing whole or not at
 * all, so that a coordinator killed between two of them restarts from a state it can
 * resume: the coordinator writes rounds only through these. */

/* A new round: r->id is set to the highest round id + 1 and r is added as "open"
 * (fr_store_round_open). */
FR_MUST fr_status fr_store_commit_open(fr_store *s, fr_round_row *r, fr_err *err);
/* An accepted update of the open round: its row, and its node's updates_accepted + 1. */
FR_MUST fr_status fr_store_commit_update(fr_store *s, const fr_update_row *u, fr_err *err);
/* The members of a secure round whose masked inputs are in its sum, one row each
 * (no file), and their nodes' updates_accepted + 1. */
FR_MUST fr_status fr_store_commit_members(fr_store *s, const fr_update_row *rows, int n,
                                          fr_err *err);
/* Round id aborted at closed_at with its updates and weight so far and note. */
FR_MUST fr_status fr_store_commit_abort(fr_store *s, long id, double closed_at, int updates,
                                        double weight, const char *note, fr_err *err);
/* Round r->id published (r as for fr_store_round_close, status "published") together
 * with the model version m it made and, when ev is not NULL, the federation's
 * evaluation of the version it trained from (a secure round's). */
FR_MUST fr_status fr_store_commit_publish(fr_store *s, const fr_round_row *r, const fr_model_row *m,
                                          const fr_eval_row *ev, fr_err *err);
/* The same, and when fdp is not NULL the round's federation-wide DP mechanism
 * (fr_store_fdp_add) in the same transaction: a round counts in the federation's
 * epsilon exactly when its version is published. */
FR_MUST fr_status fr_store_commit_publish_fdp(fr_store *s, const fr_round_row *r,
                                              const fr_model_row *m, const fr_eval_row *ev,
                                              const fr_fdp_round *fdp, fr_err *err);

#endif
