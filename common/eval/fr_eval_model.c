/* Model evaluation glue between the network's forward passes and the evaluator. */
#include "eval/fr_eval_model.h"

#include <stdlib.h>

fr_status fr_eval_model(const fr_evaluator *ev, fr_nn *net, int threads, fr_metrics *valid,
                        fr_metrics *test, fr_err *err)
{
    const fr_model *m = net->model;
    int V = m->cfg.num_items, d = m->cfg.dim;
    fr_status st = FR_OK;
    if (net->seq_len != ev->seq_len)
        return fr_fail(err, FR_EINVAL, "evaluator sequence length %d differs from the network's %d",
                       ev->seq_len, net->seq_len);
    float *items = malloc((size_t)V * d * sizeof(float));
    float *users = malloc((size_t)(ev->n_users > 0 ? ev->n_users : 1) * d * sizeof(float));
    if (!items || !users) {
        st = fr_fail(err, FR_ENOMEM, "cannot allocate vectors for %d items", V);
        goto out;
    }
    if ((st = fr_nn_item_vectors(net, items, err)) != FR_OK)
        goto out;
    fr_metrics *outs[2] = {valid, test};
    for (int s = 0; s < 2; s++) {
        if (!outs[s])
            continue;
        if ((st = fr_nn_user_vectors(net, items, ev->inputs[s], ev->n_users, users, err)) != FR_OK)
            goto out;
        if ((st = fr_eval_score(ev, (fr_split)s, items, users, d, threads, outs[s], err)) != FR_OK)
            goto out;
    }
out:
    free(items);
    free(users);
    return st;
}

fr_status fr_eval_popularity(const fr_evaluator *ev, int threads, fr_metrics *valid,
                             fr_metrics *test, fr_err *err)
{
    fr_status st = FR_OK;
    float *items = malloc((size_t)ev->ds->num_items * sizeof(float));
    float *users = malloc((size_t)(ev->n_users > 0 ? ev->n_users : 1) * sizeof(float));
    if (!items || !users) {
        st = fr_fail(err, FR_ENOMEM, "cannot allocate popularity vectors");
        goto out;
    }
    fr_eval_popularity_vectors(ev, items, users);
    if (valid && (st = fr_eval_score(ev, FR_SPLIT_VALID, items, users, 1, threads, valid, err)))
        goto out;
    if (test && (st = fr_eval_score(ev, FR_SPLIT_TEST, items, users, 1, threads, test, err)))
        goto out;
out:
    free(items);
    free(users);
    return st;
}
