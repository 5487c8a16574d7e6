/* Cold-start evaluation (fr_eval_cold.h). A test item's rank is the number of
 * competing items scoring strictly higher; the user's own train and validation items
 * do not compete, as in the full-ranking metrics of fr_eval. */
#include <stdlib.h>
#include <string.h>

#include "eval/fr_eval_cold.h"

fr_status fr_eval_cold(const fr_evaluator *ev, fr_nn *net, const uint8_t *cold,
                       fr_cold_metrics *out, fr_err *err)
{
    const fr_dataset *ds = ev->ds;
    const fr_model *m = net->model;
    int V = m->cfg.num_items, d = m->cfg.dim;
    fr_status st = FR_OK;
    memset(out, 0, sizeof *out);
    if (V != ds->num_items)
        return fr_fail(err, FR_EINVAL, "cold evaluation: the model has %d rows, the data %d", V,
                       ds->num_items);
    for (int i = 1; i < V; i++)
        out->cold_items += cold[i] != 0;
    float *items = malloc((size_t)V * d * sizeof(float));
    float *users = malloc((size_t)(ev->n_users > 0 ? ev->n_users : 1) * d * sizeof(float));
    int *stamp = calloc((size_t)V, sizeof *stamp);
    if (!items || !users || !stamp) {
        st = fr_fail(err, FR_ENOMEM, "cannot allocate vectors for %d items", V);
        goto out;
    }
    if ((st = fr_nn_item_vectors(net, items, err)) != FR_OK ||
        (st = fr_nn_user_vectors(net, items, ev->inputs[FR_SPLIT_TEST], ev->n_users, users, err)) !=
            FR_OK)
        goto out;
    long hit[4] = {0};
    for (int i = 0; i < ev->n_users; i++) {
        int32_t target = ev->targets[FR_SPLIT_TEST][i], u = ds->eval_users[i];
        if (target <= 0 || !cold[target])
            continue;
        /* the user's own items do not compete: stamp them with the user's turn */
        for (int64_t k = ds->train_off[u]; k < ds->train_off[u + 1]; k++)
            stamp[ds->train_items[k]] = i + 1;
        if (ds->valid[u] > 0)
            stamp[ds->valid[u]] = i + 1;
        const float *q = users + (size_t)i * d;
        float ts = 0;
        for (int k = 0; k < d; k++)
            ts += q[k] * items[(size_t)target * d + k];
        long above = 0, above_cold = 0;
        for (int j = 1; j < V; j++) {
            if (j == target || stamp[j] == i + 1 || fr_model_retired(m, j))
                continue;
            float s = 0;
            const float *v = items + (size_t)j * d;
            for (int k = 0; k < d; k++)
                s += q[k] * v[k];
            if (s > ts) {
                above++;
                above_cold += cold[j] != 0;
            }
        }
        out->users++;
        hit[0] += above < 10;
        hit[1] += above < 50;
        hit[2] += above_cold < 10;
        hit[3] += above_cold < 50;
    }
    if (out->users) {
        out->recall10 = (double)hit[0] / (double)out->users;
        out->recall50 = (double)hit[1] / (double)out->users;
        out->cold_recall10 = (double)hit[2] / (double)out->users;
        out->cold_recall50 = (double)hit[3] / (double)out->users;
    }
out:
    free(items);
    free(users);
    free(stamp);
    return st;
}
