/* The federation-wide epsilon as the coordinator shows it (docs/privacy.md,
 * "Federation-wide user-level DP with distributed noise"): the rounds of federation-wide
 * DP-SGD published so far, each with the mechanism its signed task announced, composed
 * exactly as every member's ledger composes them (privacy/fr_dp_ledger.h: one sampled
 * Skellam step per round, at the (q, l1, l2, mu) that fr_skellam_init derives from the
 * task), so that the figure on the coordinator's dashboard, /v1/status, /metrics and
 * report is the one `fedrecall-node privacy status` prints on the members. No I/O: the
 * coordinator feeds it from its store; tests/test_fdp_spent.c drives it beside a ledger. */
#ifndef FR_FDP_SPENT_H
#define FR_FDP_SPENT_H

#include <stddef.h>

#include "privacy/fr_dp_accountant.h"
#include "privacy/fr_skellam.h"
#include "util/fr_status.h"

/* One round's mechanism, as its task carries it (fed/fr_proto.h, fdp_*) with the
 * model's parameter count that round: what a member needs to derive its Skellam
 * parameters, and so all the coordinator keeps of it. */
typedef struct fr_fdp_round {
    long round;     /* the round's id (0 for a planned round) */
    double q;       /* sampling rate of every user */
    double sigma;   /* noise multiplier */
    double clip;    /* C, one user's L2 bound */
    int nodes;      /* n: the secure round's members (the ring's size) */
    int threshold;  /* t: the shares that carry the full noise */
    long users_max; /* the most users the round sums */
    size_t dim;     /* the model's parameters that round */
    double delta;   /* the federation's delta when it ran (what the figure is shown at) */
} fr_fdp_round;

/* The mechanism of round r as a member derives it (fed/fr_node_fdp.c). FR_EINVAL naming
 * the round and the field when the parameters are malformed. */
FR_MUST fr_status fr_fdp_round_mechanism(const fr_fdp_round *r, fr_skellam *sk, fr_err *err);

typedef struct fr_fdp_spent {
    fr_rdp rdp;        /* the rounds so far, as a member's ledger composes them */
    long rounds;       /* rounds added */
    fr_fdp_round last; /* the latest round added (zeroed before any) */
} fr_fdp_spent;

/* No round yet, over the accountant's default orders (the ledger's). */
void fr_fdp_spent_init(fr_fdp_spent *s);

/* Add one published round: one sampled Skellam step at its mechanism. s is unchanged on
 * failure. */
FR_MUST fr_status fr_fdp_spent_add(fr_fdp_spent *s, const fr_fdp_round *r, fr_err *err);

/* Epsilon of the rounds so far at delta (0 without any). */
FR_MUST fr_status fr_fdp_spent_epsilon(const fr_fdp_spent *s, double delta, double *eps,
                                       fr_err *err);

/* Epsilon at delta once `more` (>= 0) further rounds at mechanism *next have followed
 * the rounds so far: what a federation will have spent when it has published all the
 * rounds it was started for. next may be NULL when more is 0. */
FR_MUST fr_status fr_fdp_spent_planned(const fr_fdp_spent *s, const fr_fdp_round *next, long more,
                                       double delta, double *eps, fr_err *err);

#endif
