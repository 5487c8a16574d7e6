/* A node's decisions in a round of federation-wide user-level DP (DP-FedAvg with
 * distributed noise, docs/privacy.md): from the round's task and its secure
 * aggregation setup, the Skellam mechanism the node will apply (privacy/fr_skellam.h),
 * and whether to take part at all. A node refuses a round whose noise would not be
 * private as announced: outside secure aggregation (the coordinator would see the
 * node's vector with its share alone), with shares sized for more survivors than the
 * secure round guarantees less the colluders the node guards against (the sum could be
 * unmasked with less than the full noise), with a ring sized for fewer nodes than the
 * round has (the sum could wrap), or when the round would take its ledger over its
 * budget. No I/O; tests/test_node_fdp.c drives it. */
#ifndef FR_NODE_FDP_H
#define FR_NODE_FDP_H

#include <stddef.h>

#include "fed/fr_proto.h"
#include "privacy/fr_dp_ledger.h"
#include "privacy/fr_skellam.h"
#include "util/fr_status.h"

typedef enum fr_node_fdp_verdict {
    FR_NODE_FDP_GO = 0,          /* take part */
    FR_NODE_FDP_NOT_SECURE,      /* the round is not a secure one */
    FR_NODE_FDP_SHARE_TOO_SMALL, /* shares sized for a threshold above the safe one */
    FR_NODE_FDP_RING_TOO_SMALL,  /* more members than the ring was sized for */
    FR_NODE_FDP_BUDGET,          /* the round would take the ledger over its budget */
} fr_node_fdp_verdict;

/* The verdict in a few words. */
const char *fr_node_fdp_verdict_str(fr_node_fdp_verdict v);

typedef struct fr_node_fdp {
    fr_skellam sk;    /* the round's mechanism (dim: the model's parameters) */
    double q;         /* the sampling rate each node applies to its users */
    double eps_after; /* the ledger's epsilon after this round, at delta */
    fr_node_fdp_verdict verdict;
    char why[FR_ERR_LEN]; /* when not GO: what falls short, in words */
} fr_node_fdp;

/* Decide on task t (t->fdp set) for a secure round of secagg_n members and threshold
 * secagg_t, a model of dim parameters, guarding against `colluders` members besides
 * the coordinator (0..n): the noise that any secagg_t survivors less the colluders'
 * own shares carry must still be the full noise, so fdp_t <= secagg_t - colluders.
 * delta: the delta at which eps_after is reported (the ledger's budget delta when it
 * has one). FR_EINVAL for a task whose parameters are malformed (naming the field);
 * FR_OK with out->verdict otherwise. */
FR_MUST fr_status fr_node_fdp_prepare(const fr_dp_ledger *l, const fr_proto_task *t, int secagg,
                                      int secagg_n, int secagg_t, size_t dim, int colluders,
                                      double delta, fr_node_fdp *out, fr_err *err);

/* Charge the round to the ledger (synced) before the node's vector leaves: one sampled
 * Skellam step at the round's (q, l1, l2, mu). */
FR_MUST fr_status fr_node_fdp_record(fr_dp_ledger *l, const fr_node_fdp *f, fr_err *err);

/* The noise that a sum of `survivors` shares carries once `colluders` of them are
 * known to the coordinator, as a multiple of the full variance mu: (survivors -
 * colluders) / fdp_t. A value below 1 means a weaker guarantee (docs/privacy.md). */
double fr_node_fdp_noise_left(const fr_node_fdp *f, int survivors, int colluders);

#endif
