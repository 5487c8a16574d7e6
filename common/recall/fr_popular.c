/* Recent popularity with exponential decay (see fr_popular.h). */
#include "recall/fr_popular.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct pop_pair {
    float score;
    int32_t row;
} pop_pair;

/* Score descending, then row ascending: qsort is not stable, so the row decides ties. */
static int by_score(const void *pa, const void *pb)
{
    const pop_pair *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return (a->row > b->row) - (a->row < b->row);
}

fr_status fr_popular_init(fr_popular *p, int num_items, const int32_t *items, const double *age,
                          long n, double half_life, fr_err *err)
{
    fr_status st = FR_OK;
    double *acc = NULL;
    pop_pair *pairs = NULL;
    memset(p, 0, sizeof *p);
    if (num_items < 1 || n < 0)
        return fr_fail(err, FR_EINVAL, "popular: bad sizes (items %d, events %ld)", num_items, n);
    if (!(half_life > 0.0) || !isfinite(half_life))
        return fr_fail(err, FR_EINVAL, "popular: half-life %g must be positive", half_life);
    p->num_items = num_items;
    p->half_life = half_life;
    p->score = calloc((size_t)num_items, sizeof *p->score);
    p->order = malloc((size_t)(num_items > 1 ? num_items - 1 : 1) * sizeof *p->order);
    acc = calloc((size_t)num_items, sizeof *acc);
    pairs = malloc((size_t)num_items * sizeof *pairs);
    if (!p->score || !p->order || !acc || !pairs) {
        st = fr_fail(err, FR_ENOMEM, "popular: cannot allocate scores for %d items", num_items);
        goto out;
    }
    for (long e = 0; e < n; e++) {
        if (items[e] < 1 || items[e] >= num_items) {
            st = fr_fail(err, FR_EINVAL, "popular: event %ld has item row %d outside [1, %d)", e,
                         items[e], num_items);
            goto out;
        }
        if (!(age[e] >= 0.0) || !isfinite(age[e])) {
            st = fr_fail(err, FR_EINVAL, "popular: event %ld has age %g", e, age[e]);
            goto out;
        }
        acc[items[e]] += exp2(-age[e] / half_life);
    }
    for (int j = 1; j < num_items; j++) {
        p->score[j] = (float)acc[j];
        pairs[j - 1] = (pop_pair){p->score[j], j};
    }
    /* Sorted once here, never per query. */
    qsort(pairs, (size_t)(num_items - 1), sizeof *pairs, by_score);
    for (int i = 0; i < num_items - 1; i++)
        p->order[i] = pairs[i].row;
out:
    free(acc);
    free(pairs);
    if (st)
        fr_popular_free(p);
    return st;
}

void fr_popular_free(fr_popular *p)
{
    free(p->score);
    free(p->order);
    memset(p, 0, sizeof *p);
}

int fr_popular_top(const fr_popular *p, const fr_topk_excl *excl, float floor, int k, int32_t *rows,
                   float *scores)
{
    int got = 0;
    for (int i = 0; i < p->num_items - 1 && got < k; i++) {
        int32_t j = p->order[i];
        if (!(p->score[j] > floor))
            break; /* the rest score lower still */
        if (fr_topk_excl_has(excl, j))
            continue;
        rows[got] = j;
        scores[got++] = p->score[j];
    }
    return got;
}
