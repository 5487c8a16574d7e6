/* Cold-start evaluation (docs/catalogue.md, docs/benchmarks.md): how well a model
 * recalls items that are new to it, scored from their content. Over the evaluation
 * users whose test item is one of the cold items: Recall@10 and @50 of the test item
 * in the full ranking (every item the user has not had competes), and in the cold
 * channel's ranking (only the cold items compete, as `recall --cold-start` ranks). */
#ifndef FR_EVAL_COLD_H
#define FR_EVAL_COLD_H

#include <stdint.h>

#include "eval/fr_eval.h"
#include "nn/fr_nn.h"
#include "util/fr_status.h"

typedef struct fr_cold_metrics {
    int cold_items;                      /* rows flagged cold */
    long users;                          /* evaluation users whose test item is cold */
    double recall10, recall50;           /* full ranking */
    double cold_recall10, cold_recall50; /* among the cold items only */
} fr_cold_metrics;

/* cold: V flags over ev's catalogue (net's model rows). Retired items never compete. */
FR_MUST fr_status fr_eval_cold(const fr_evaluator *ev, fr_nn *net, const uint8_t *cold,
                               fr_cold_metrics *out, fr_err *err);

#endif
