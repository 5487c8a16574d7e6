/* Item cold start measure (see fr_eval_holdout.h). */
#include "eval/fr_eval_holdout.h"

#include <stdlib.h>
#include <string.h>

/* splitmix64's finaliser: a fixed, seedable coin per row */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

int fr_holdout_pick(const fr_dataset *ds, double frac, uint64_t seed, uint8_t *cold)
{
    int n = 0, T = ds->num_tokens;
    uint64_t bar = frac >= 1.0 ? UINT64_MAX : (uint64_t)(frac * 18446744073709551616.0);
    memset(cold, 0, (size_t)ds->num_items);
    for (int i = 1; i < ds->num_items; i++) {
        int content = 0;
        for (int t = 0; t < T; t++)
            content |= ds->tokens[(size_t)i * T + t] != 0;
        if (content && mix(seed * 0x100000001b3ULL + (uint64_t)i) < bar) {
            cold[i] = 1;
            n++;
        }
    }
    return n;
}

void fr_holdout_drop_train(fr_dataset *ds, const uint8_t *cold)
{
    int64_t w = 0;
    for (int u = 0; u < ds->num_users; u++) {
        int64_t a = ds->train_off[u], b = ds->train_off[u + 1];
        ds->train_off[u] = w;
        for (int64_t k = a; k < b; k++) {
            if (cold[ds->train_items[k]])
                continue;
            if (ds->train_values)
                ds->train_values[w] = ds->train_values[k];
            ds->train_items[w++] = ds->train_items[k];
        }
    }
    ds->train_off[ds->num_users] = w;
}

/* Candidates of one ranking scoring strictly higher than the target. */
static long rank_of(const float *sc, const uint8_t *take, int V, int target)
{
    long r = 0;
    for (int j = 1; j < V; j++)
        r += take[j] && j != target && sc[j] > sc[target];
    return r;
}

fr_status fr_eval_holdout(const fr_evaluator *ev, const uint8_t *cold, const float *item_vecs,
                          const float *user_vecs, int dim, fr_holdout_metrics *out, fr_err *err)
{
    const fr_dataset *ds = ev->ds;
    int V = ds->num_items;
    memset(out, 0, sizeof *out);
    float *sc = malloc((size_t)V * sizeof(float));
    uint8_t *coldc = malloc((size_t)V), *allc = malloc((size_t)V);
    if (!sc || !coldc || !allc) {
        free(sc);
        free(coldc);
        free(allc);
        return fr_fail(err, FR_ENOMEM, "cold start: cannot allocate scores for %d items", V);
    }
    for (int j = 1; j < V; j++)
        out->cold_items += cold[j];
    for (int i = 0; i < ev->n_users; i++) {
        int u = ds->eval_users[i], target = ds->test[u];
        if (!cold[target])
            continue;
        const float *q = user_vecs + (size_t)i * dim;
        for (int j = 1; j < V; j++) {
            double s = 0;
            for (int k = 0; k < dim; k++)
                s += (double)q[k] * item_vecs[(size_t)j * dim + k];
            sc[j] = (float)s;
        }
        memcpy(coldc, cold, (size_t)V);
        memset(allc, 1, (size_t)V);
        for (int64_t k = ds->train_off[u]; k < ds->train_off[u + 1]; k++)
            allc[ds->train_items[k]] = 0;
        if (ds->valid[u] != target)
            coldc[ds->valid[u]] = allc[ds->valid[u]] = 0;
        long rc = rank_of(sc, coldc, V, target), ra = rank_of(sc, allc, V, target);
        out->users++;
        out->recall10 += rc < 10;
        out->recall50 += rc < 50;
        out->all_recall10 += ra < 10;
        out->all_recall50 += ra < 50;
    }
    if (out->users) {
        out->recall10 /= out->users;
        out->recall50 /= out->users;
        out->all_recall10 /= out->users;
        out->all_recall50 /= out->users;
    }
    free(sc);
    free(coldc);
    free(allc);
    return FR_OK;
}
