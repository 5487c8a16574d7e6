/* From cleaned events to the dataset: dense rows for items and users, each user's
 * events in time order (a stable sort, so ties keep file order), the leave-one-out
 * split, the z-scores of the values, and the token table that content files fill. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/fr_data_int.h"

/* Stable bottom-up merge sort of event indices by timestamp: the right run's event
 * goes first only when strictly earlier, so equal times keep file order. */
static void sort_by_time(long *idx, long *tmp, long n, const fr_data_event *ev)
{
    for (long w = 1; w < n; w *= 2) {
        for (long lo = 0; lo < n; lo += 2 * w) {
            long mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            long i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = ev[idx[j]].ts < ev[idx[i]].ts ? idx[j++] : idx[i++];
            while (i < mid)
                tmp[k++] = idx[i++];
            while (j < hi)
                tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, (size_t)n * sizeof *idx);
    }
}

/* Mean and (population) standard deviation of the events' values, two passes for
 * accuracy. */
static void value_stats(fr_data_load *ld)
{
    fr_data_report *rep = &ld->ds->report;
    double sum = 0.0, sq = 0.0;
    long n = 0;
    for (long e = 0; e < ld->n; e++)
        if (!isnan(ld->ev[e].value)) {
            sum += ld->ev[e].value;
            n++;
        }
    rep->value_count = n;
    rep->value_mean = n ? sum / (double)n : 0.0;
    for (long e = 0; e < ld->n; e++)
        if (!isnan(ld->ev[e].value)) {
            double d = ld->ev[e].value - rep->value_mean;
            sq += d * d;
        }
    rep->value_std = n ? sqrt(sq / (double)n) : 0.0;
}

static float zscore(const fr_data_report *rep, double v)
{
    return isnan(v) || rep->value_std <= 0.0 ? 0.0f
                                             : (float)((v - rep->value_mean) / rep->value_std);
}

/* Rows of items and users; ld->item_row stays for the content files. */
static fr_status map_rows(fr_data_load *ld, int32_t **user_row)
{
    fr_dataset *ds = ld->ds;
    long *iuse = calloc((size_t)ld->items.n + 1, sizeof *iuse);
    long *uuse = calloc((size_t)ld->users.n + 1, sizeof *uuse);
    long ni = 0, nu = 0;
    fr_status st = FR_ENOMEM;
    ld->item_row = malloc(((size_t)ld->items.n + 1) * sizeof *ld->item_row);
    *user_row = malloc(((size_t)ld->users.n + 1) * sizeof **user_row);
    if (!iuse || !uuse || !ld->item_row || !*user_row)
        goto out;
    for (long e = 0; e < ld->n; e++) {
        iuse[ld->ev[e].item]++;
        uuse[ld->ev[e].user]++;
    }
    if (ld->cat) {
        /* The catalogue's rows, used or not: load_begin entered them in row order. */
        const fr_data_catalogue *c = ld->cat;
        ni = ld->items.n;
        for (long k = 0; k < ni; k++)
            ld->item_row[k] = (int32_t)(k + 1);
        if (fr_data_keys_block(&ld->items, 1, &ds->item_keys) != FR_OK)
            goto out;
        if (c->item_ids) {
            if (!(ds->item_ids = malloc((size_t)c->num_items * sizeof *ds->item_ids)))
                goto out;
            memcpy(ds->item_ids, c->item_ids, (size_t)c->num_items * sizeof *ds->item_ids);
            ds->item_ids[0] = 0;
        }
        ds->item_ids_numeric = c->item_ids != NULL;
    } else if (fr_data_keys_rows(&ld->items, iuse, 1, ld->item_row, &ds->item_keys, &ds->item_ids,
                                 &ds->item_ids_numeric, &ni) != FR_OK) {
        goto out;
    }
    if (fr_data_keys_rows(&ld->users, uuse, 0, *user_row, &ds->user_keys, &ds->user_ids,
                          &ds->user_ids_numeric, &nu) != FR_OK)
        goto out;
    ds->num_items = (int)ni + 1;
    ds->num_users = (int)nu;
    st = FR_OK;
out:
    free(iuse);
    free(uuse);
    return st;
}

static fr_status split(fr_data_load *ld, const int32_t *user_row)
{
    fr_dataset *ds = ld->ds;
    const fr_data_report *rep = &ds->report;
    long n = ld->n, nu = ds->num_users, *order, *tmp, *cur;
    int values = rep->value_count > 0;
    fr_status st = FR_ENOMEM;
    order = malloc((size_t)n * sizeof *order);
    tmp = malloc((size_t)n * sizeof *tmp);
    cur = calloc((size_t)nu + 1, sizeof *cur);
    ds->train_off = calloc((size_t)nu + 1, sizeof *ds->train_off);
    ds->train_items = malloc((size_t)n * sizeof *ds->train_items);
    ds->valid = calloc((size_t)nu, sizeof *ds->valid);
    ds->test = calloc((size_t)nu, sizeof *ds->test);
    ds->eval_users = malloc((size_t)nu * sizeof *ds->eval_users);
    if (values) {
        ds->train_values = malloc((size_t)n * sizeof *ds->train_values);
        ds->valid_values = calloc((size_t)nu, sizeof *ds->valid_values);
        ds->test_values = calloc((size_t)nu, sizeof *ds->test_values);
    }
    if (!order || !tmp || !cur || !ds->train_off || !ds->train_items || !ds->valid || !ds->test ||
        !ds->eval_users || (values && (!ds->train_values || !ds->valid_values || !ds->test_values)))
        goto out;
    /* Group events by user in file order (counting sort), then time-sort each group. */
    for (long e = 0; e < n; e++)
        cur[user_row[ld->ev[e].user] + 1]++;
    for (long u = 0; u < nu; u++)
        cur[u + 1] += cur[u];
    for (long e = 0; e < n; e++)
        order[cur[user_row[ld->ev[e].user]]++] = e;
    for (long u = nu; u > 0; u--)
        cur[u] = cur[u - 1];
    cur[0] = 0;
    for (long u = 0; u < nu; u++) {
        long *seq = order + cur[u], len = cur[u + 1] - cur[u];
        long ntrain = len < 3 ? len : len - 2;
        int64_t off = ds->train_off[u];
        sort_by_time(seq, tmp, len, ld->ev);
        for (long k = 0; k < ntrain; k++) {
            ds->train_items[off + k] = ld->item_row[ld->ev[seq[k]].item];
            if (values)
                ds->train_values[off + k] = zscore(rep, ld->ev[seq[k]].value);
        }
        ds->train_off[u + 1] = off + ntrain;
        if (len >= 3) {
            ds->valid[u] = ld->item_row[ld->ev[seq[len - 2]].item];
            ds->test[u] = ld->item_row[ld->ev[seq[len - 1]].item];
            if (values) {
                ds->valid_values[u] = zscore(rep, ld->ev[seq[len - 2]].value);
                ds->test_values[u] = zscore(rep, ld->ev[seq[len - 1]].value);
            }
            ds->eval_users[ds->num_eval_users++] = (int32_t)u;
        }
    }
    st = FR_OK;
out:
    free(order);
    free(tmp);
    free(cur);
    return st;
}

fr_status fr_data_build(fr_data_load *ld)
{
    fr_dataset *ds = ld->ds;
    const fr_data_report *rep = &ds->report;
    int32_t *user_row = NULL;
    fr_status st;
    if (ld->n == 0) {
        st = fr_fail(ld->err, FR_ENODATA, "%s: no interactions (%ld rows read, %ld skipped)",
                     rep->events_file, rep->rows_read, rep->rows_skipped);
        goto out;
    }
    if ((st = fr_clean_events(ld)) != FR_OK)
        goto out;
    if (ld->n == 0) {
        st = fr_fail(ld->err, FR_ENODATA,
                     "%s: no interaction is left after cleaning (%ld rows "
                     "read, %ld skipped)",
                     rep->events_file, rep->rows_read, rep->rows_skipped);
        goto out;
    }
    value_stats(ld);
    ds->interactions = ld->n;
    if ((st = map_rows(ld, &user_row)) != FR_OK || (st = split(ld, user_row)) != FR_OK) {
        st = fr_fail(ld->err, FR_ENOMEM, "%s: out of memory building rows for %ld interactions",
                     rep->events_file, ld->n);
        goto out;
    }
    /* The events are no longer needed: give their memory back before the tokens. */
    free(ld->ev);
    ld->ev = NULL;
    ld->n = ld->cap = 0;
    size_t T = (size_t)ds->num_tokens;
    if ((size_t)ds->num_items > SIZE_MAX / sizeof(int32_t) / T ||
        !(ds->tokens = calloc((size_t)ds->num_items * T, sizeof(int32_t))))
        st = fr_fail(ld->err, FR_ENOMEM, "%s: out of memory for %d x %zu tokens", rep->events_file,
                     ds->num_items, T);
    else if (ld->cat)
        memcpy(ds->tokens, ld->cat->tokens, (size_t)ds->num_items * T * sizeof(int32_t));
out:
    free(user_row);
    return st;
}

fr_status fr_data_collect_rows(fr_data_load *ld)
{
    fr_dataset *ds = ld->ds;
    size_t T = (size_t)ds->num_tokens;
    long *use = NULL, n = ld->items.n, used = 0;
    int32_t *row_of = NULL;
    fr_status st = ld->coll_st;
    if (st != FR_OK)
        goto out;
    if (n == 0) {
        st = fr_fail(ld->err, FR_ENODATA, "%s: no valid item row (%ld rows read, %ld skipped)",
                     ld->file ? ld->file : "item file", ds->report.content_rows,
                     ds->report.content_skipped);
        goto out;
    }
    use = malloc((size_t)n * sizeof *use);
    row_of = malloc((size_t)n * sizeof *row_of);
    if (!use || !row_of)
        goto fail;
    for (long k = 0; k < n; k++)
        use[k] = 1;
    if (fr_data_keys_rows(&ld->items, use, 1, row_of, &ds->item_keys, &ds->item_ids,
                          &ds->item_ids_numeric, &used) != FR_OK ||
        (size_t)(used + 1) > SIZE_MAX / sizeof *ds->tokens / T ||
        !(ds->tokens = calloc((size_t)(used + 1) * T, sizeof *ds->tokens)))
        goto fail;
    for (long k = 0; k < n; k++)
        memcpy(ds->tokens + (size_t)row_of[k] * T, ld->coll_tokens + (size_t)k * T,
               T * sizeof *ds->tokens);
    ds->num_items = (int)used + 1;
    st = FR_OK;
    goto out;
fail:
    st = fr_fail(ld->err, FR_ENOMEM, "%s: out of memory for the rows of %ld items", ld->file, n);
out:
    free(use);
    free(row_of);
    return st;
}
