/* A round's training settings from its task (fr_fed_recipe.h). */
#include "fed/fr_fed_recipe.h"

#include <stdio.h>
#include <string.h>

fr_status fr_fed_recipe_config(const fr_proto_task *t, fr_fed_recipe_dp dp, uint64_t seed,
                               long n_windows, fr_train_config *tc, long *start, fr_err *err)
{
    memset(tc, 0, sizeof *tc);
    *start = 0;
    tc->batch = (int)t->batch;
    tc->seq_len = (int)t->seq_len;
    tc->negatives = (int)t->negatives;
    tc->lr = (float)t->lr;
    tc->seed = seed;
    /* absent: the task's K and constant lr, as before the key */
    const char *name = t->recipe[0] ? t->recipe : "peer";
    const fr_recipe *rc = fr_recipe_find(name);
    if (!rc)
        return fr_fail(err, FR_EINVAL, "task: recipe '%s' is not one this node knows (%s)", name,
                       FR_RECIPE_NAMES);
    /* the DP-SGD step has no schedule, sampler or dropout (docs/privacy.md) */
    if (dp == FR_FED_RECIPE_DP_USER)
        return FR_OK;
    tc->weight_decay = rc->weight_decay;
    tc->pop_alpha = rc->pop_alpha;
    tc->dropout = rc->dropout;
    tc->item_dropout = rc->item_dropout;
    if (t->recipe_rounds > 0 && t->local_epochs > 0) {
        long per_epoch = (n_windows + tc->batch - 1) / tc->batch;
        long v = t->model_version < t->recipe_rounds ? (long)t->model_version
                                                     : (long)t->recipe_rounds - 1;
        tc->epochs = (int)(t->recipe_rounds * t->local_epochs);
        tc->warmup = rc->warmup;
        tc->lr_final = rc->lr_final;
        *start = v * (long)t->local_epochs * per_epoch;
    }
    return FR_OK;
}

void fr_fed_recipe_describe(const fr_proto_task *t, const fr_train_config *tc, char *buf,
                            size_t size)
{
    snprintf(buf, size,
             "recipe %s: K %d%s, lr %.3g%s, dropout %g, item dropout %g, weight decay %g",
             t->recipe[0] ? t->recipe : "peer", tc->negatives,
             tc->pop_alpha > 0 ? " popularity negatives with logQ (this node's counts)" : "",
             (double)tc->lr, tc->epochs > 0 ? " on the federation's warm-up and cosine decay" : "",
             (double)tc->dropout, (double)tc->item_dropout, (double)tc->weight_decay);
}
