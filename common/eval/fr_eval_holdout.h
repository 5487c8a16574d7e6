/* Item cold start: items held out of training entirely, then recalled from their
 * content. A share of the items that have content becomes "cold": their events leave
 * every user's training part (validation and test items stay), so the model never
 * trains on them and their ID embeddings stay at their initial values; the test users
 * whose test item is cold then rank it, from their user vector, among the cold items
 * (what a site launching new items asks) and among the whole catalogue minus the
 * items they have seen. An ID-only model (all tokens 0) has nothing to tell cold items
 * apart: its figures are the floor that the content tower must beat. */
#ifndef FR_EVAL_HOLDOUT_H
#define FR_EVAL_HOLDOUT_H

#include <stdint.h>

#include "data/fr_data.h"
#include "eval/fr_eval.h"
#include "util/fr_status.h"

typedef struct fr_holdout_metrics {
    int users;                         /* test users whose test item is cold */
    int cold_items;                    /* candidates of the cold ranking */
    double recall10, recall50;         /* the test item among the cold items */
    double all_recall10, all_recall50; /* among the catalogue minus seen items */
} fr_holdout_metrics;

/* Mark cold[V] (1 = cold): each item row with at least one content token is cold with
 * probability frac, decided by a hash of (seed, row). Returns the number marked. */
int fr_holdout_pick(const fr_dataset *ds, double frac, uint64_t seed, uint8_t *cold);

/* Remove the cold items from every user's training part, in place (train_off,
 * train_items and train_values compacted). Validation and test items are kept. */
void fr_holdout_drop_train(fr_dataset *ds, const uint8_t *cold);

/* The metrics above over ev's test users, from item vectors (V x dim) and the test
 * split's user vectors (ev->n_users x dim, in eval_users order). rank = candidates
 * scoring strictly higher than the target; the user's validation item is not a
 * candidate, nor, for the whole catalogue, are their training items. */
FR_MUST fr_status fr_eval_holdout(const fr_evaluator *ev, const uint8_t *cold,
                                  const float *item_vecs, const float *user_vecs, int dim,
                                  fr_holdout_metrics *out, fr_err *err);

#endif
