/* How many refused requests the coordinator records, per node: a token bucket for each
 * certificate name, so that a certificate holder sending bad requests in a loop cannot
 * turn each one into a synced row of the store (and a log line). Logic only: the caller
 * passes the clock (seconds) and does the recording. What is not recorded is counted,
 * in total and per node, and the node's next recorded refusal says how many it hid.
 *
 * The table holds FR_REFUSAL_LIMIT_NODES names; a new name beyond that takes the slot
 * of the name refused longest ago (whose bucket has refilled by then, or nearly). */
#ifndef FR_REFUSAL_LIMIT_H
#define FR_REFUSAL_LIMIT_H

#include <stdint.h>

#define FR_REFUSAL_LIMIT_NODES 1024

typedef struct fr_refusal_bucket {
    char node[64]; /* "" = free slot */
    double tokens, last;
    uint64_t hidden; /* refusals not recorded since this node's last recorded one */
} fr_refusal_bucket;

typedef struct fr_refusal_limit {
    double burst, per_s;
    uint64_t recorded, hidden; /* totals */
    fr_refusal_bucket b[FR_REFUSAL_LIMIT_NODES];
} fr_refusal_limit;

/* burst refusals of a node recorded at once, then per_s a second. */
void fr_refusal_limit_init(fr_refusal_limit *l, double burst, double per_s);

/* A refusal of node (NULL or "" for a request without a name) at now: 1 when it is to
 * be recorded, with *hidden the node's refusals not recorded before it; 0 when not. */
int fr_refusal_limit_take(fr_refusal_limit *l, const char *node, double now, uint64_t *hidden);

#endif
