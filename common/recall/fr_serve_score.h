/* Scoring for the recall server: the strategies of fr_recall (same channels, same
 * merge, same fallback, so a user gets the list `fedrecall-node recall` gives for the
 * same model and data), for a batch of queries that may each ask for another strategy,
 * k and threshold, with each user's history extended by the events that arrived after
 * the data was loaded, and with the model of a snapshot (fr_serve_model).
 *
 * The users of a batch that need the model go through one forward pass and one
 * blocked search of the catalogue, so the item vectors are read once per batch rather
 * than once per request: that is what lets a server on two cores answer thousands of
 * requests a second over a large catalogue. */
#ifndef FR_SERVE_SCORE_H
#define FR_SERVE_SCORE_H

#include <stdint.h>

#include "nn/fr_nn.h"
#include "recall/fr_recall.h"
#include "recall/fr_serve_model.h"

typedef struct fr_serve_query {
    int32_t user;          /* row of the served data, or -1 for a user it does not hold */
    const int32_t *recent; /* item rows of newer events, oldest first */
    int n_recent;
    fr_recall_strategy strategy;
    int k;             /* >= 1 */
    int use_threshold; /* not with mix */
    float threshold;
    int exact;  /* 1: the float scan of every item, whatever the snapshot has */
    int nprobe; /* lists the index reads; 0: the index's default */
} fr_serve_query;

/* What one scoring thread owns: a network bound to one snapshot (re-bound when the
 * snapshot changes, holding a reference meanwhile) and the itemcf and mix scratch. */
typedef struct fr_serve_worker {
    fr_serve_model *bound;
    fr_nn net;
    fr_itemcf_scratch cf;
    uint8_t *mark; /* mark_n >= V of the bound model, zero between calls */
    int mark_n;
    int threads; /* threads that share the catalogue scan of a batch */
    int rerank;  /* int8 scan: candidates re-ranked exactly (0: fr_topk_q8's default) */
} fr_serve_worker;

FR_MUST fr_status fr_serve_worker_init(fr_serve_worker *w, const fr_recall *base, int threads,
                                       fr_err *err);
void fr_serve_worker_free(fr_serve_worker *w);

/* Results of n queries: query i's lie at out + (k_0 + ... + k_{i-1}), count[i] of
 * them, best first. base: an fr_recall over the served data, built with its itemcf
 * (strategy itemcf or mix) and without a network; it gives the histories, the
 * popular ranking, the item similarities and the channel settings. m may be NULL
 * when no query needs the model (else FR_EINVAL). */
FR_MUST fr_status fr_serve_score(const fr_recall *base, fr_serve_model *m, fr_serve_worker *w,
                                 const fr_serve_query *q, int n, fr_recall_hit *out, int *count,
                                 fr_err *err);

#endif
