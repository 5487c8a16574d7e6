/* Evaluate a model under the spec's protocol: all item vectors once, the user vector
 * of every evaluation user for each split, then the evaluator's metrics. */
#ifndef FR_EVAL_MODEL_H
#define FR_EVAL_MODEL_H

#include "eval/fr_eval.h"
#include "nn/fr_nn.h"
#include "util/fr_status.h"

/* valid and test may each be NULL to skip that split. */
FR_MUST fr_status fr_eval_model(const fr_evaluator *ev, fr_nn *net, int threads, fr_metrics *valid,
                                fr_metrics *test, fr_err *err);

/* The popularity baseline on both splits. */
FR_MUST fr_status fr_eval_popularity(const fr_evaluator *ev, int threads, fr_metrics *valid,
                                     fr_metrics *test, fr_err *err);

#endif
