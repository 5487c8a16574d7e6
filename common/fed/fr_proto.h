/* The federation's wire messages (docs/protocol.md): one msgpack map per HTTP body,
 * protocol version "v" = FR_PROTO_VERSION, keys in any order, each at most once.
 *
 * Decoders read untrusted bodies from the network with the bounded cursor of
 * fr_mpread: nothing is allocated from the input, every integer and float is checked
 * against the range its field allows, strings against their buffer, and the body must
 * be exactly one map. A key the decoder does not know is refused (a new field means a
 * new protocol version), so that two ends never silently disagree. */
#ifndef FR_PROTO_H
#define FR_PROTO_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "util/fr_status.h"

#define FR_PROTO_VERSION 1
#define FR_PROTO_CONTENT_TYPE "application/msgpack"
#define FR_PROTO_NAME 64 /* bytes of a name field, NUL included */
/* floats in a model delta: its bytes must fit a msgpack bin (< 2^32) */
#define FR_PROTO_MAX_PARAMS ((1ull << 30) - 1)

/* A byte string inside a decoded body (or the caller's buffer, to encode); len 0 =
 * absent. */
typedef struct fr_proto_bin {
    const uint8_t *p;
    size_t len;
} fr_proto_bin;

#define FR_PROTO_MAX_CERT 8192 /* bytes of a DER certificate in a join */
#define FR_PROTO_MAX_ID_SIG 256

/* POST /v1/join: a node announces itself (and, sent again, is a heartbeat). */
typedef struct fr_proto_join {
    int64_t has_data;      /* 1: the node holds a training window; its counts stay there */
    int64_t model_version; /* the global version it holds, 0 = none */
    double eps_spent;      /* privacy spent so far (0 without DP) */
    double eps_budget;     /* its budget (0 = none) */
    char software[FR_PROTO_NAME];
    /* Optional, all three or none: the node's secure-aggregation identity (an Ed25519
     * public key), its certificate (DER) and the certificate key's signature binding
     * the two (fr_identity.h). Without them the node cannot take part in secure
     * rounds. */
    fr_proto_bin id_pk, id_cert, id_sig;
    /* Optional: item ids the node's data names that the catalogue lacks, with counts
     * (fed/fr_proposals.h, which parses it); sent only by a node that proposes. */
    fr_proto_bin unknown_items;
    /* Optional, 0 when absent: the catalogue version the node's data is mapped onto
     * (docs/catalogue.md). 0 (version 0, or a node of an older build that sends none)
     * confirms nothing, which keeps every retired row from being reclaimed. */
    int64_t catalogue_mapped;
} fr_proto_join;

/* Its answer: the identity the coordinator took from the node's certificate. */
typedef struct fr_proto_join_reply {
    char node[FR_PROTO_NAME];
    int64_t heartbeat_s; /* send a join at least this often */
} fr_proto_join_reply;

typedef enum fr_proto_task_state {
    FR_TASK_WAIT = 0, /* no round is open (or this node has sent its update): poll later */
    FR_TASK_OPEN = 1, /* round open: train from model_version and upload */
    FR_TASK_DONE = 2, /* the federation has finished its rounds: stop */
} fr_proto_task_state;

/* GET /v1/task: the current round and what to do in it. */
typedef struct fr_proto_task {
    int64_t state;         /* fr_proto_task_state */
    int64_t round;         /* 0 when none is open */
    int64_t model_version; /* the latest published global model */
    double deadline_s;     /* seconds left in the round */
    int64_t retry_s;       /* poll again after this long */
    int64_t local_epochs;  /* local training per round */
    int64_t batch, seq_len, negatives;
    double lr;
    double max_update_norm; /* updates with a larger L2 norm are refused */
    char weighting[16];     /* "users" or "windows": what the node's weight counts */
    int64_t secagg;         /* optional, 0 when absent: 1 = the round is a secure one
                             * (GET /v1/secagg/setup, docs/protocol.md) */
    double max_weight;      /* optional, 0 when absent: the cap on a node's weight */
    /* optional, 0 when absent: federation-wide user-level DP with distributed Skellam
     * noise (docs/privacy.md; privacy/fr_skellam.h). Each node samples its users at
     * rate fdp_q, clips each to fdp_clip and adds its noise share, sized so that any
     * fdp_t of fdp_nodes shares carry noise of stddev fdp_sigma * fdp_clip; the ring's
     * scale follows from fdp_users_max, the most users one round sums. */
    int64_t fdp;
    double fdp_q, fdp_sigma, fdp_clip;
    int64_t fdp_t, fdp_nodes, fdp_users_max;
    int64_t adam_carry; /* optional, 0 when absent: 1 = the node's local Adam goes on
                         * from the moments of its previous round (fed/fr_fedopt.h) */
    /* optional, "" when absent: the training recipe of the local epochs (nn/fr_train.h,
     * fed/fr_fed_recipe.h), absent = "peer", the task's negatives and constant lr alone
     * (what nodes before the key train); recipe_rounds: the federation's rounds, the
     * length of the recipe's learning-rate schedule (0: no end, a constant lr) */
    char recipe[16];
    int64_t recipe_rounds;
    /* optional, 0 when absent: FedProx's mu, the local objective's pull
     * (mu / 2) |w - w_global|^2 back to the round's global model (nn/fr_train.h) */
    double prox_mu;
} fr_proto_task;

/* POST /v1/update: one node's model delta for a round. The delta, n little-endian
 * float32 (the model's flat parameter layout), is the last key so that a node can
 * stream it after the head without a second copy. */
typedef struct fr_proto_update {
    int64_t round, model_version;
    int64_t users, windows;
    double weight;        /* the node's FedAvg weight (users or windows, cut to the cap) */
    double loss;          /* mean training loss of the local epochs */
    uint64_t n;           /* floats in delta */
    const uint8_t *delta; /* decode: points into the body, unaligned */
} fr_proto_update;

/* POST /v1/metrics: a node's evaluation of a global model on its own split. */
typedef struct fr_proto_metrics {
    int64_t model_version;
    int64_t users;                 /* users evaluated */
    double hr10, ndcg10, recall10; /* validation split */
    double loss;                   /* training loss of the node's last round */
    double eps_spent;
    /* optional: 1 when hr10, ndcg10 and recall10 are the node's own figures, sent in the
     * clear by a node outside secure aggregation; 0 (or absent): they are 0, the node's
     * figures travel only inside a secure round's masked sum */
    int64_t clear;
} fr_proto_metrics;

/* Encoders append one message to sb (msgpack_sbuffer_init'd by the caller). */
void fr_proto_join_encode(const fr_proto_join *m, msgpack_sbuffer *sb);
void fr_proto_join_reply_encode(const fr_proto_join_reply *m, msgpack_sbuffer *sb);
void fr_proto_task_encode(const fr_proto_task *m, msgpack_sbuffer *sb);
void fr_proto_metrics_encode(const fr_proto_metrics *m, msgpack_sbuffer *sb);
/* The update's head: every key, then "delta" with the bin header for 4n bytes; the
 * message is complete once 4n payload bytes follow. */
void fr_proto_update_head_encode(const fr_proto_update *m, msgpack_sbuffer *sb);

/* Decoders: FR_EFORMAT for a malformed body (naming the key or byte at fault),
 * FR_EVERSION for another protocol version. name names the body in messages. */
FR_MUST fr_status fr_proto_join_decode(const void *buf, size_t len, fr_proto_join *m, fr_err *err);
FR_MUST fr_status fr_proto_join_reply_decode(const void *buf, size_t len, fr_proto_join_reply *m,
                                             fr_err *err);
FR_MUST fr_status fr_proto_task_decode(const void *buf, size_t len, fr_proto_task *m, fr_err *err);
FR_MUST fr_status fr_proto_metrics_decode(const void *buf, size_t len, fr_proto_metrics *m,
                                          fr_err *err);
/* n must equal max_n, the receiver's model size: FR_EINVAL otherwise (a well-formed
 * update for another model). */
FR_MUST fr_status fr_proto_update_decode(const void *buf, size_t len, uint64_t max_n,
                                         fr_proto_update *m, fr_err *err);

#endif
