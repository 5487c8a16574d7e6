/* The training recipe of a federated round (docs/model.md, "Training recipes"; the
 * task's `recipe` and `recipe_rounds`, docs/protocol.md): the local training settings a
 * node takes from its task, and where in the federation's learning-rate schedule its
 * round starts.
 *
 * The schedule spans the federation: recipe_rounds rounds of local_epochs epochs each.
 * The round that trains from published version v is step v of it (as the server's
 * learning-rate schedule counts), so a node's local epochs run the stretch
 * [v, v + 1) / recipe_rounds of the warm-up and cosine decay, whatever its number of
 * batches. Popularity negatives use the node's own item counts over its training
 * windows: they never leave it. */
#ifndef FR_FED_RECIPE_H
#define FR_FED_RECIPE_H

#include "fed/fr_proto.h"
#include "nn/fr_train.h"
#include "util/fr_status.h"

/* How the round's update is protected: the user-level DP-SGD step (per-user clipping
 * and noise, `--dp --dp-level user` or the task's fdp) trains the recipe's K and lr
 * alone, as `train --dp` does; site-level DP clips and noises the whole delta, so any
 * local training, the full recipe included, keeps its guarantee. */
typedef enum fr_fed_recipe_dp {
    FR_FED_RECIPE_PLAIN = 0,
    FR_FED_RECIPE_DP_SITE = 1,
    FR_FED_RECIPE_DP_USER = 2,
} fr_fed_recipe_dp;

/* The task's local training settings into *tc (seed given), *start the schedule's
 * first step for a node with n_windows training windows. FR_EINVAL for a recipe this
 * node does not know. */
FR_MUST fr_status fr_fed_recipe_config(const fr_proto_task *t, fr_fed_recipe_dp dp, uint64_t seed,
                                       long n_windows, fr_train_config *tc, long *start,
                                       fr_err *err);

/* The line a node logs for the round's recipe into buf. */
void fr_fed_recipe_describe(const fr_proto_task *t, const fr_train_config *tc, char *buf,
                            size_t size);

#endif
