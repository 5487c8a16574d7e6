/* Recall's model channel on an accelerator (see fr_recall_dev.h). */
#include "recall/fr_recall_dev.h"

#include <stdlib.h>
#include <string.h>

fr_status fr_recall_dev_init(fr_recall_dev *g, const fr_backend *be, const float *item_vecs,
                             int num_items, int dim, fr_err *err)
{
    memset(g, 0, sizeof *g);
    if (num_items < 1 || dim < 1)
        return fr_fail(err, FR_EINVAL, "recall on %s: bad catalogue (%d items, dim %d)", be->name,
                       num_items, dim);
    g->items = be->alloc((size_t)num_items * dim * sizeof(float));
    if (!g->items)
        return fr_fail(err, FR_ENOMEM, "recall on %s: cannot hold %d item vectors", be->name,
                       num_items);
    be->upload(g->items, item_vecs, (size_t)num_items * dim * sizeof(float));
    g->be = be;
    g->num_items = num_items;
    g->dim = dim;
    g->max_scores = FR_RECALL_DEV_SCORES;
    return FR_OK;
}

void fr_recall_dev_free(fr_recall_dev *g)
{
    if (g->be) {
        g->be->free(g->items);
        g->be->free(g->scores);
    }
    memset(g, 0, sizeof *g);
}

fr_status fr_recall_dev_search(fr_recall_dev *g, const float *users, int n,
                               const fr_topk_excl *excl, int k, float floor, int32_t *rows,
                               float *scores, fr_err *err)
{
    fr_status st = FR_OK;
    const fr_backend *be = g->be;
    int V = g->num_items, d = g->dim;
    if (n <= 0)
        return FR_OK;
    if (k < 1)
        return fr_fail(err, FR_EINVAL, "recall on %s: k = %d", be->name, k);
    long per = g->max_scores / V;
    int chunk = per < 1 ? 1 : per < n ? (int)per : n;
    long n_ex = 0;
    for (int i = 0; excl && i < n; i++)
        n_ex = excl[i].n > n_ex ? excl[i].n : n_ex;
    n_ex *= chunk; /* the most any chunk can list */
    float *du = be->alloc((size_t)chunk * d * sizeof(float));
    size_t need = (size_t)chunk * V;
    if (need > g->scores_cap) {
        be->free(g->scores);
        g->scores = be->alloc(need * sizeof(float));
        g->scores_cap = g->scores ? need : 0;
    }
    float *ds = g->scores;
    float *dout = be->alloc((size_t)chunk * k * sizeof(float));
    int32_t *drows = be->alloc((size_t)chunk * k * sizeof(int32_t));
    int32_t *doff = be->alloc((size_t)(chunk + 1) * sizeof(int32_t));
    int32_t *dex = be->alloc((size_t)(n_ex ? n_ex : 1) * sizeof(int32_t));
    int32_t *off = malloc((size_t)(chunk + 1) * sizeof *off);
    int32_t *ex = malloc((size_t)(n_ex ? n_ex : 1) * sizeof *ex);
    if (!du || !ds || !dout || !drows || !doff || !dex || !off || !ex) {
        st = fr_fail(err, FR_ENOMEM,
                     "recall on %s: cannot allocate the scores of %d users x %d items", be->name,
                     chunk, V);
        goto out;
    }
    if (n_ex > INT32_MAX) {
        st = fr_fail(err, FR_EINVAL, "recall on %s: %ld exclusions in one chunk", be->name, n_ex);
        goto out;
    }
    for (int u0 = 0; u0 < n; u0 += chunk) {
        int c = n - u0 < chunk ? n - u0 : chunk;
        off[0] = 0;
        for (int i = 0; i < c; i++) {
            long m = excl ? excl[u0 + i].n : 0;
            if (m)
                memcpy(ex + off[i], excl[u0 + i].rows, (size_t)m * sizeof *ex);
            off[i + 1] = off[i] + (int32_t)m;
        }
        be->upload(du, users + (size_t)u0 * d, (size_t)c * d * sizeof(float));
        be->upload(doff, off, (size_t)(c + 1) * sizeof *off);
        if (off[c])
            be->upload(dex, ex, (size_t)off[c] * sizeof *ex);
        be->gemm(0, 1, c, V, d, 1.0f, du, d, g->items, d, 0.0f, ds, V);
        be->topk_rows(drows, dout, ds, c, V, k, floor, doff, excl ? dex : NULL);
        be->download(rows + (size_t)u0 * k, drows, (size_t)c * k * sizeof(int32_t));
        be->download(scores + (size_t)u0 * k, dout, (size_t)c * k * sizeof(float));
    }
out:
    be->free(du);
    be->free(dout);
    be->free(drows);
    be->free(doff);
    be->free(dex);
    free(off);
    free(ex);
    return st;
}
