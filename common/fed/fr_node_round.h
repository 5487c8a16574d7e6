/* The decisions a node makes in each round of the federation, without I/O: whether
 * to join again, whether to take part in the round a task announces (and how, plain
 * or secure) or to wait, sit it out or stop; before training, whether its data and
 * its privacy budget allow the round and with what noise (the DP planner,
 * privacy/fr_dp_plan.h); after training, the update cut to the round's norm bound
 * (privacy/fr_clip.h) and its head. node/ does the sockets, the files and the
 * training around these calls; tests drive them with a fake clock
 * (tests/test_round_node.c).
 *
 * Every decision that does not take part says why with an fr_node_reason. */
#ifndef FR_NODE_ROUND_H
#define FR_NODE_ROUND_H

#include <stddef.h>

#include "fed/fr_proto.h"
#include "privacy/fr_dp_ledger.h"
#include "privacy/fr_dp_plan.h"
#include "util/fr_status.h"

/* Seconds between joins when the coordinator names no heartbeat. */
#define FR_NODE_HEARTBEAT_DEFAULT 30
/* A secure round is given up this long after its deadline: the coordinator answers
 * 409 once the round is over, and the margin covers its key-exchange and unmasking
 * steps when it cannot be reached at all. */
#define FR_NODE_SECURE_MARGIN_S 600.0

/* Seconds on some clock; `now` is called with ctx. */
typedef struct fr_node_clock {
    double (*now)(void *ctx);
    void *ctx;
} fr_node_clock;

/* The monotonic clock and the wall clock of the machine (ctx unused). */
double fr_node_clock_monotonic(void *ctx);
double fr_node_clock_wall(void *ctx);

typedef enum fr_node_action {
    FR_NODE_WAIT = 0,     /* nothing to do now: poll again (fr_node_round_wait_s) */
    FR_NODE_TRAIN_PLAIN,  /* take part: train and upload the update */
    FR_NODE_TRAIN_SECURE, /* take part in the secure round (masked update) */
    FR_NODE_SIT_OUT,      /* count the round as taken part in without sending anything */
    FR_NODE_STOP,         /* leave the federation */
} fr_node_action;

typedef enum fr_node_reason {
    FR_NODE_GO = 0,             /* take part */
    FR_NODE_SKIP_NOT_OPEN,      /* no round is open */
    FR_NODE_SKIP_TAKEN,         /* this node already took part in (or sat out) the round */
    FR_NODE_SKIP_VERSION,       /* the round trains from a version this node does not hold */
    FR_NODE_SKIP_MAX_ROUNDS,    /* max-rounds taken; waiting to report the last version */
    FR_NODE_SKIP_PLAIN_REFUSED, /* a plain round and require-secure-aggregation is set */
    FR_NODE_SKIP_NO_DATA,       /* no training window in the local data */
    FR_NODE_SKIP_BUDGET_SPENT,  /* the privacy budget cannot pay for the round */
    FR_NODE_STOP_MAX_ROUNDS,    /* took part in max-rounds rounds, the last reported */
    FR_NODE_STOP_DONE,          /* the federation has finished */
    FR_NODE_SKIP_FDP_PLAIN,     /* federation-wide DP asked of a plain round */
} fr_node_reason;

/* The reason in a few words ("budget spent", ...). */
const char *fr_node_reason_str(fr_node_reason r);

/* The node's progress, as the decisions see it. */
typedef struct fr_node_view {
    long version;       /* the global model held, -1 with none */
    long last_round;    /* the last round taken part in or sat out */
    long last_reported; /* the last version whose metrics were reported */
    long trained_from;  /* the version the node last trained a round from */
    int rounds_done;    /* rounds whose update was delivered */
    int max_rounds;     /* 0: no limit */
    int require_secagg; /* take part in secure rounds only */
} fr_node_view;

/* Whether to join again: never joined (last_join < 0), or a heartbeat (heartbeat_s,
 * FR_NODE_HEARTBEAT_DEFAULT when <= 0) has passed since last_join on clock c. */
int fr_node_round_join_due(const fr_node_clock *c, double last_join, int heartbeat_s);

/* What to do with task t (held model version current, metrics reported as the node
 * does before deciding); *why says why when the action is not a TRAIN one. After its
 * last round a node stays for the version that round produced, so that its metrics
 * are reported too. */
fr_node_action fr_node_round_decide(const fr_node_view *v, const fr_proto_task *t,
                                    fr_node_reason *why);

/* Seconds to wait before polling again: the task's retry_s, else poll. */
double fr_node_round_wait_s(const fr_proto_task *t, int poll);

/* When a node gives up a secure round that it starts now, on clock c. */
double fr_node_round_give_up(const fr_node_clock *c, const fr_proto_task *t);

/* The privacy budget a node records when DP is on (the default) and its own
 * configuration names neither a budget nor a noise multiplier, and its ledger holds
 * no budget yet (docs/privacy.md). */
#define FR_NODE_DP_EPSILON_DEFAULT 8.0

/* Differential privacy of a node's rounds (docs/privacy.md). */
typedef struct fr_node_dp_config {
    int dp;         /* train privately */
    int site;       /* site level (DP-FedAvg) rather than user level (DP-SGD) */
    double q;       /* user sampling rate; 0: batch / users */
    double noise;   /* noise multiplier; 0: from the budget */
    double eps_max; /* budget to record; 0: the ledger's */
    double delta;   /* 0: the default (fr_dp_plan.h) */
} fr_node_dp_config;

/* What a round will train with. */
typedef struct fr_node_prep {
    int dp, site;    /* as configured */
    double q;        /* user level: the sampling rate; site level: 1 */
    long steps;      /* DP steps of the round (site level: 1) */
    fr_dp_plan plan; /* when dp: noise multiplier and the delta accounted */
} fr_node_prep;

/* Before training round t on `windows` training windows of `users` users: refuse
 * without data (FR_ENODATA, *why FR_NODE_SKIP_NO_DATA); with dp, plan the round's
 * noise from the ledger (recording c->eps_max as the budget when record_budget, or
 * FR_NODE_DP_EPSILON_DEFAULT when neither a budget, a noise multiplier nor a budget
 * in the ledger is there) for
 * the rounds left of max_rounds, and set *why to FR_NODE_SKIP_BUDGET_SPENT when the
 * budget cannot pay for it (p->plan.why says what is spent and what it would cost).
 * *why is FR_NODE_GO when the round can be trained. */
FR_MUST fr_status fr_node_round_prepare(fr_dp_ledger *l, const fr_node_dp_config *c,
                                        int record_budget, const fr_node_view *v,
                                        const fr_proto_task *t, long windows, int users,
                                        fr_node_prep *p, fr_node_reason *why, fr_err *err);

/* After training: FR_EINVAL when the local loss diverged (not finite), before any
 * noise is charged or the update leaves. */
FR_MUST fr_status fr_node_round_check_loss(double loss, fr_err *err);

/* Cut delta[0..n) to just under the task's norm bound (the coordinator refuses larger
 * updates; scaling keeps the direction). Returns whether it was cut; *norm receives
 * the norm before. */
int fr_node_round_clip(const fr_proto_task *t, float *delta, size_t n, double *norm);

/* A node's own FedAvg weight: its users, or its windows when weight_windows, at least
 * 1 and cut to max_weight when that is > 0. No one else can check it: the cap, the same
 * for every node, bounds how far one node can pull the average (docs/security.md). */
double fr_node_round_weight(int weight_windows, double max_weight, int users, long windows);
/* What of a node's evaluation of a global version leaves it in the clear (POST
 * /v1/metrics): the version and the epsilon it has spent. A node that requires secure
 * aggregation (require_secagg) sends no quality figure: its HR@10, NDCG@10 and
 * recall@10 travel only inside the masked sum of the next secure round (clear 0); one
 * that opted out, whose updates go in the clear anyway, adds them (clear 1). Its user
 * count and its training loss are always zeroed (docs/privacy.md). */
void fr_node_round_metrics_public(const fr_proto_metrics *local, int require_secagg,
                                  fr_proto_metrics *out);

/* The seed of a round's local training (its shuffling and sampled negatives): fresh
 * secret randomness each round, so that the item rows a round touches cannot be told
 * from the seed (with DP off, the sum of the updates would show them); a fixed seed
 * (the node's own `seed` setting, for tests and reproduction) gives seed + round. */
uint64_t fr_node_round_train_seed(int fixed, uint64_t seed, int64_t round);

/* The head of a plain round's update from this node: its FedAvg weight is its users or
 * its windows as the task says, at least 1, cut to the task's max_weight. */
void fr_node_round_update_head(const fr_node_view *v, const fr_proto_task *t, int users,
                               long windows, double loss, size_t n, fr_proto_update *u);

#endif
