/* The coordinator's round as a state machine, without I/O: no socket, no event loop,
 * no database, no file and no clock of its own (the caller passes `now`, Unix
 * seconds). It opens a round, checks and takes updates (or, in a secure round, the
 * secure-aggregation messages, through fr_secagg_server), closes it at the quorum or
 * the deadline and says whether to publish or abort. The coordinator is the glue:
 * it records each transition in its store before acting on it, answers over HTTP
 * (mapping fr_round_refusal to a status code) and publishes the model.
 *
 * A round is rebuilt after a restart from what the store holds: its row
 * (fr_round_snapshot) and its accepted updates, replayed with fr_round_restore_update.
 * A secure round is not: its masks lived in memory only (docs/secagg.md).
 *
 * Nothing here writes to stderr: what happened comes back in a decision's note. */
#ifndef FR_ROUND_H
#define FR_ROUND_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "fed/fr_fedagg.h"
#include "fed/fr_proto.h"
#include "secagg/fr_secagg.h"
#include "secagg/fr_secagg_round.h"
#include "util/fr_status.h"

#define FR_ROUND_NAME 64
/* The cap on one node's weight when the configuration sets none (users or windows). */
#define FR_ROUND_MAX_WEIGHT_DEFAULT 1e4

/* Why an update or a secure-aggregation message was refused (FR_ROUND_OK: taken).
 * The coordinator's HTTP layer maps each to one status code. */
typedef enum fr_round_refusal {
    FR_ROUND_OK = 0,
    FR_ROUND_MALFORMED,    /* the body does not decode */
    FR_ROUND_WRONG_SIZE,   /* well formed, for another model or round size */
    FR_ROUND_NO_ROUND,     /* no round (no secure round) is open */
    FR_ROUND_SECURE_ONLY,  /* a plain update sent to a secure round */
    FR_ROUND_WRONG_ROUND,  /* for a round that is not the open one */
    FR_ROUND_STALE,        /* trained from another model version */
    FR_ROUND_LATE,         /* the open round is past its deadline or has its quorum */
    FR_ROUND_BAD_WEIGHT,   /* a weight not finite, below 1 or above the cap (max_weight) */
    FR_ROUND_NOT_MEMBER,   /* a node that has not joined, or not a member of the round */
    FR_ROUND_DUPLICATE,    /* a second update or message from the same node */
    FR_ROUND_TOO_LARGE,    /* a delta above the norm bound, or not finite */
    FR_ROUND_NOT_YET,      /* a secure step's broadcast asked for before the step closed */
    FR_ROUND_DROPPED,      /* a node asking for a step it dropped out before */
    FR_ROUND_OVER,         /* the secure aggregation is over (done or aborted) */
    FR_ROUND_WRONG_SENDER, /* a message naming another node than its sender */
    FR_ROUND_WRONG_STEP,   /* a secure message out of step */
    FR_ROUND_REJECTED,     /* a secure message the protocol refuses otherwise */
    FR_ROUND_INTERNAL,     /* the coordinator failed (out of memory, its store) */
    FR_ROUND_NREFUSALS
} fr_round_refusal;

/* A short name ("stale", "duplicate", ...); "unknown" out of range. */
const char *fr_round_refusal_str(fr_round_refusal r);

/* What the round asks its owner to do after a tick or a message. */
typedef enum fr_round_action {
    FR_ROUND_CONTINUE, /* nothing: still collecting (or no round open) */
    FR_ROUND_STEPPED,  /* a secure step closed (note says how it went) */
    FR_ROUND_PUBLISH,  /* publish the aggregate (agg, loss_sum), then fr_round_end */
    FR_ROUND_ABORT,    /* record the abort with note, then fr_round_end */
} fr_round_action;

typedef struct fr_round_decision {
    fr_round_action action;
    char note[FR_ERR_LEN]; /* for the log; an abort's reason as stored */
} fr_round_decision;

typedef struct fr_round_config {
    int quorum;                 /* updates that close a round; 0 = the nodes live at opening */
    int min_nodes;              /* the quorum of a resumed round that recorded none */
    int min_updates;            /* updates a round needs by its deadline to publish */
    double round_timeout;       /* seconds from opening to the deadline */
    double max_update_norm;     /* L2 bound of a delta; 0 = none */
    int weight_windows;         /* a node's weight is its windows (else its users) */
    double max_weight;          /* the cap on one node's weight, 1..1e9; 0 = the default */
    int secagg_threshold;       /* t; 0 = min_updates, raised to the smallest t > 2n/3 */
    double secagg_step_timeout; /* seconds each later secure step waits */
    /* rounds of federation-wide DP (docs/privacy.md): the sum's "delta" segment holds
     * the nodes' ring integers, kept as such in agg.sum (fr_secagg_round_ring_sum) for
     * the owner to turn into the round's step */
    int fdp;
} fr_round_config;

/* What the store holds of an open round: enough to rebuild it. */
typedef struct fr_round_snapshot {
    long id;
    long version; /* the model version it trains from */
    double opened_at, deadline;
    int expected; /* updates that close it, fixed when it opened */
} fr_round_snapshot;

/* An update that passed every check: the decoded message (its delta points into the
 * body) and the delta's norm, for the store. */
typedef struct fr_round_update {
    fr_proto_update u;
    double norm;
} fr_round_update;

/* The open secure round (docs/secagg.md, "In the federation"). */
typedef struct fr_round_secure {
    int on;
    fr_secagg_server sv;
    fr_secagg_setup setup; /* its byte fields point into blob */
    uint8_t *blob;
    msgpack_sbuffer setup_msg, adverts_msg, check_msg, unmask_msg;
    double step_deadline; /* of the current step */
} fr_round_secure;

typedef struct fr_round {
    fr_round_config cfg;
    size_t n; /* model parameters */
    long id;  /* the open round; 0 when none */
    long version;
    double opened_at, deadline;
    int expected;    /* updates that close it */
    fr_agg agg;      /* the sum of its updates */
    double loss_sum; /* weight-summed training loss of its updates */
    /* a finished secure round's evaluation of `version` by its members, from the masked
     * sum (users 0: none; a plain round has none) */
    fr_secagg_round_eval eval;
    char (*from)[FR_ROUND_NAME]; /* nodes whose update is in, n_from of cap_from */
    int n_from, cap_from;
    fr_round_secure sa;
} fr_round;

/* A round machine for a model of n (> 0) parameters; no round open. */
FR_MUST fr_status fr_round_init(fr_round *r, const fr_round_config *cfg, size_t n, fr_err *err);
/* Free r (wiping a secure round's secrets) and zero it; accepts a zeroed struct. */
void fr_round_free(fr_round *r);
/* The model now has n parameters (a catalogue version added rows, docs/catalogue.md):
 * updates of the next round have that size. Only between rounds: FR_EINVAL while a
 * round is open, whose updates have the old size. */
FR_MUST fr_status fr_round_resize(fr_round *r, size_t n, fr_err *err);

/* The row of the round that would open now on version with live nodes: opened_at,
 * deadline, expected (id 0: the store picks it). */
fr_round_snapshot fr_round_plan(const fr_round *r, long version, int live, double now);
/* Open round s (id > 0) with no update in; a round still open is ended first. */
void fr_round_open(fr_round *r, const fr_round_snapshot *s);
/* Reopen round s after a restart: a fresh deadline (the nodes lost time while the
 * coordinator was down), the quorum it opened with unless one is configured. Replay
 * its stored updates with fr_round_restore_update. A secure round cannot be rebuilt:
 * d says to abort it. */
void fr_round_resume(fr_round *r, const fr_round_snapshot *s, int secure, double now,
                     fr_round_decision *d);
/* No round open any more (after publishing or aborting); a secure round's secrets
 * are wiped. */
void fr_round_end(fr_round *r);

/* Check one update body from node, in the order the protocol documents: it decodes,
 * a round is open, it is plain, for the open round, from its version, on time, with
 * a weight in [1, max_weight], from a node that joined (joined: the store knows it), the
 * first from that node, and its delta finite and within the bound. FR_ROUND_OK fills
 * *out; else reason says why. Nothing changes in r: add it with fr_round_add_update
 * once it is recorded. */
FR_MUST fr_round_refusal fr_round_check_update(const fr_round *r, double now, const char *node,
                                               int joined, const uint8_t *body, size_t len,
                                               fr_round_update *out, char *reason, size_t cap);
/* Add a checked (and recorded) update; returns 1 when the round now has its quorum.
 * FR_ENOMEM when the node list cannot grow (nothing is added). */
FR_MUST fr_status fr_round_add_update(fr_round *r, const char *node, const fr_round_update *u,
                                      int *quorum, fr_err *err);
/* Add a stored update of the resumed round (as fr_round_add_update, no checks but the
 * size and finite values; the delta is n little-endian floats). */
FR_MUST fr_status fr_round_restore_update(fr_round *r, const char *node, const uint8_t *delta_le,
                                          size_t n, double weight, double loss, fr_err *err);
/* Whether node's update is in the open round. */
int fr_round_has_update(const fr_round *r, const char *node);

/* Close at the quorum or the deadline; in a secure round, close a step whose time is
 * up or whose every answer is in, and finish the round after the last one. */
void fr_round_tick(fr_round *r, double now, fr_round_decision *d);

/* ---- secure rounds (fr_round_secure.c) ---- */

/* The messages of a secure round: the broadcasts nodes GET, the steps they POST. */
typedef enum fr_round_msg {
    FR_ROUND_GET_SETUP,
    FR_ROUND_GET_ADVERTS,
    FR_ROUND_GET_RELAY,
    FR_ROUND_GET_CHECK, /* U3, for the consistency check */
    FR_ROUND_GET_UNMASK,
    FR_ROUND_POST_ADVERTISE, /* the first POST: GETs come before it */
    FR_ROUND_POST_SHARES,
    FR_ROUND_POST_MASKED,
    FR_ROUND_POST_CHECK, /* a node's signature over U3 */
    FR_ROUND_POST_UNMASK,
    FR_ROUND_NMSGS
} fr_round_msg;

/* The message's name in /v1/secagg/NAME ("setup", "advertise", ...); "" out of range. */
const char *fr_round_msg_name(fr_round_msg m);

/* Make the just-opened round a secure one over candidates (each with its name and
 * identity; ids are ignored): at most FR_SECAGG_MAX_NODES of them, at least 3,
 * made members 1..n in name order. Their byte fields are copied. The first step
 * lasts until the round's deadline (it spans training); the quorum becomes the
 * members (or the configured quorum), never below the threshold. */
FR_MUST fr_status fr_round_open_secure(fr_round *r, const fr_secagg_member *candidates, int n,
                                       fr_err *err);
/* Whether node is a member of the open secure round with its part still to do. */
int fr_round_secure_task_open(const fr_round *r, const char *node);
/* One message of the secure round from node. A GET (asked: the round it names)
 * appends the broadcast to out; FR_ROUND_NOT_YET means its step is still open, ask
 * again. A POST (body, len) is checked and added; it may close its step (d). */
FR_MUST fr_round_refusal fr_round_secure_message(fr_round *r, double now, const char *node,
                                                 fr_round_msg m, long asked, const uint8_t *body,
                                                 size_t len, msgpack_sbuffer *out,
                                                 fr_round_decision *d, char *reason, size_t cap);
/* Whether every survivor answered the unmasking step (the next tick finishes). */
int fr_round_secure_unmasked(const fr_round *r);
/* The members whose masked input is in the finished sum, into out (up to cap); their
 * number. */
int fr_round_secure_contributors(const fr_round *r, const fr_secagg_member **out, int cap);

/* Internal to the round files: close the secure round's current step at now. */
void fr_round_secure_close_step(fr_round *r, double now, fr_round_decision *d);
/* Internal: forget the secure round, wiping what it held. */
void fr_round_secure_end(fr_round *r);

#endif
