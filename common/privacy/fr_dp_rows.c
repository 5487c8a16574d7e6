/* Private row selection (see fr_dp_rows.h). */
#include "privacy/fr_dp_rows.h"
#include "privacy/fr_dp_batch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The selection's noise stream: steps use streams (step << 24) | chunk, so a stream
 * with bit 62 set is never a step's for fewer than 2^38 steps. */
#define ROWS_STREAM ((uint64_t)1 << 62)

void fr_dp_rows_free(fr_dp_rows *r)
{
    free(r->trained);
    free(r->noisy);
    memset(r, 0, sizeof *r);
}

/* Each user's distinct items in the windows it trains on, 1/sqrt(count) each. */
static void add_users(const fr_dp_trainer *tr, double *sums, int32_t *mark, int32_t *items)
{
    int W = tr->tc.seq_len + 1, V = tr->model->cfg.num_items;
    for (int u = 0; u < tr->n_users; u++) {
        int k;
        const int32_t *w = fr_dp_user_windows(tr, u, &k); /* the windows DP-SGD counts */
        int n = 0;
        for (long i = 0; i < (long)k * W; i++) {
            int32_t j = w[i];
            if (j > 0 && j < V && mark[j] != u + 1) {
                mark[j] = u + 1;
                items[n++] = j;
            }
        }
        double wgt = n > 0 ? 1.0 / sqrt((double)n) : 0.0;
        for (int i = 0; i < n; i++)
            sums[items[i]] += wgt;
    }
}

fr_status fr_dp_rows_select(fr_dp_rows *r, fr_dp_trainer *tr, fr_dp_ledger *ledger,
                            double sigma_sel, double threshold, fr_err *err)
{
    memset(r, 0, sizeof *r);
    if (!(sigma_sel > 0.0) || !isfinite(sigma_sel) || !isfinite(threshold))
        return fr_fail(err, FR_EINVAL,
                       "dp rows: selection noise %g must be finite and > 0, threshold %g finite",
                       sigma_sel, threshold);
    int V = tr->model->cfg.num_items;
    fr_status st;
    /* Spent before it is spent, as a step is. */
    if (ledger && (st = fr_dp_ledger_record(ledger, 1.0, sigma_sel, 1, err)) != FR_OK)
        return st;
    double *sums = calloc((size_t)V, sizeof(double));
    int32_t *mark = calloc((size_t)V, sizeof(int32_t));
    int32_t *items = malloc((size_t)V * sizeof(int32_t));
    float *noise = malloc((size_t)V * sizeof(float));
    r->trained = calloc((size_t)V, 1);
    r->noisy = calloc((size_t)V, sizeof(float));
    if (!sums || !mark || !items || !noise || !r->trained || !r->noisy) {
        st = fr_fail(err, FR_ENOMEM, "dp rows: cannot allocate for %d rows", V);
        goto out;
    }
    add_users(tr, sums, mark, items);
    fr_dp_rng_normals_at(&tr->rng, ROWS_STREAM, noise, (size_t)V, sigma_sel);
    r->sigma = sigma_sel;
    r->threshold = threshold;
    for (int j = 1; j < V; j++) {
        r->noisy[j] = (float)(sums[j] + (double)noise[j]);
        r->trained[j] = r->noisy[j] > threshold;
        r->n_trained += r->trained[j];
    }
    st = FR_OK;
out:
    if (sums) /* the exact sums are the private data: gone with the memory */
        memset(sums, 0, (size_t)V * sizeof(double));
    free(sums);
    free(mark);
    free(items);
    free(noise);
    if (st != FR_OK)
        fr_dp_rows_free(r);
    return st;
}

fr_status fr_dp_trainer_set_rows(fr_dp_trainer *tr, const fr_dp_rows *r, fr_err *err)
{
    fr_model *m = tr->model;
    const fr_backend *be = m->be;
    int V = m->cfg.num_items, d = m->cfg.dim;
    if (r->n_trained < 1)
        return fr_fail(err, FR_EINVAL,
                       "dp rows: no item row passed the selection (threshold %.3g, noise %.3g); "
                       "lower the threshold or give more budget",
                       r->threshold, r->sigma);
    float *keep = malloc((size_t)V * sizeof(float));
    tr->row_keep = be->alloc((size_t)V * sizeof(float));
    if (!keep || !tr->row_keep) {
        free(keep);
        return fr_fail(err, FR_ENOMEM, "dp rows: cannot allocate for %d rows", V);
    }
    size_t off = m->p[FR_P_E_ID].offset;
    for (int j = 0; j < V; j++) {
        keep[j] = r->trained[j] ? 1.0f : 0.0f;
        if (!r->trained[j]) { /* scored from content alone, as a new item is; the moments
                               * too, so that nothing an earlier run left moves the row */
            be->zero(m->params + off + (size_t)j * d, (size_t)d);
            be->zero(m->adam_m + off + (size_t)j * d, (size_t)d);
            be->zero(m->adam_v + off + (size_t)j * d, (size_t)d);
        }
    }
    be->upload(tr->row_keep, keep, (size_t)V * sizeof(float));
    free(keep);
    tr->rows_trained = r->trained;
    return FR_OK;
}
