/* Item-to-item co-occurrence similarity and its recall query (see fr_itemcf.h). */
#include "recall/fr_itemcf.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

void fr_itemcf_free(fr_itemcf *cf)
{
    free(cf->off);
    free(cf->nbr);
    free(cf->sim);
    memset(cf, 0, sizeof *cf);
}

static fr_status check_input(int V, const int32_t *items, const int64_t *off, int n_seq, int window,
                             int neighbours, fr_err *err)
{
    if (V < 1 || n_seq < 0)
        return fr_fail(err, FR_EINVAL, "itemcf: bad sizes (items %d, sequences %d)", V, n_seq);
    if (window < 1 || neighbours < 1)
        return fr_fail(err, FR_EINVAL, "itemcf: window %d and neighbours %d must be at least 1",
                       window, neighbours);
    if (n_seq > 0 && off[0] < 0)
        return fr_fail(err, FR_EINVAL, "itemcf: sequence 0 starts at %lld", (long long)off[0]);
    for (int s = 0; s < n_seq; s++) {
        if (off[s + 1] < off[s])
            return fr_fail(err, FR_EINVAL, "itemcf: sequence %d ends before it starts", s);
        for (int64_t p = off[s]; p < off[s + 1]; p++)
            if (items[p] < 1 || items[p] >= V)
                return fr_fail(err, FR_EINVAL,
                               "itemcf: sequence %d has item row %d outside [1, %d)", s, items[p],
                               V);
    }
    return FR_OK;
}

/* Scratch of the build shared by all items: where each item occurs. */
typedef struct occ_index {
    int64_t *count;  /* V: events per item */
    int64_t *start;  /* V + 1: item i occurs at pos[start[i] .. start[i+1]) */
    int64_t *pos;    /* positions into items, ascending per item */
    int32_t *seq_of; /* per position (from base), the sequence holding it */
    int64_t base;
} occ_index;

static void occ_free(occ_index *o)
{
    free(o->count);
    free(o->start);
    free(o->pos);
    free(o->seq_of);
}

static fr_status occ_build(occ_index *o, int V, const int32_t *items, const int64_t *off, int n_seq,
                           fr_err *err)
{
    int64_t base = n_seq > 0 ? off[0] : 0, end = n_seq > 0 ? off[n_seq] : 0, E = end - base;
    memset(o, 0, sizeof *o);
    o->base = base;
    o->count = calloc((size_t)V, sizeof *o->count);
    o->start = calloc((size_t)V + 1, sizeof *o->start);
    o->pos = malloc((size_t)(E > 0 ? E : 1) * sizeof *o->pos);
    o->seq_of = malloc((size_t)(E > 0 ? E : 1) * sizeof *o->seq_of);
    if (!o->count || !o->start || !o->pos || !o->seq_of)
        return fr_fail(err, FR_ENOMEM, "itemcf: cannot index %lld events", (long long)E);
    for (int s = 0; s < n_seq; s++)
        for (int64_t p = off[s]; p < off[s + 1]; p++) {
            o->count[items[p]]++;
            o->seq_of[p - base] = s;
        }
    for (int i = 0; i < V; i++)
        o->start[i + 1] = o->start[i] + o->count[i];
    /* Counting sort of positions by item; positions stay ascending within an item, so
     * every sum below runs in one fixed order. */
    int64_t *fill = o->count; /* reused as write cursors, then restored */
    for (int i = 0; i < V; i++)
        fill[i] = o->start[i];
    for (int64_t p = base; p < end; p++)
        o->pos[fill[items[p]]++] = p;
    for (int i = 0; i < V; i++)
        o->count[i] = o->start[i + 1] - o->start[i];
    return FR_OK;
}

/* The kept neighbours of item i into h (sorted best first); acc and touched are V-sized
 * scratch, acc zero on entry and on return. */
static void item_neighbours(const occ_index *o, const int32_t *items, const int64_t *off,
                            int window, int32_t i, float *acc, int32_t *touched, fr_topk *h)
{
    int nt = 0;
    for (int64_t k = o->start[i]; k < o->start[i + 1]; k++) {
        int64_t p = o->pos[k];
        int s = o->seq_of[p - o->base];
        int64_t lo = p - window > off[s] ? p - window : off[s];
        int64_t hi = p + window < off[s + 1] - 1 ? p + window : off[s + 1] - 1;
        for (int64_t q = lo; q <= hi; q++) {
            int32_t j = items[q];
            if (j == i)
                continue;
            if (acc[j] == 0.0f) /* weights are positive: zero means not yet touched */
                touched[nt++] = j;
            acc[j] += 1.0f / (float)(q > p ? q - p : p - q);
        }
    }
    fr_topk_reset(h, 0.0f);
    for (int t = 0; t < nt; t++) {
        int32_t j = touched[t];
        double norm = sqrt((double)o->count[i] * (double)o->count[j]);
        fr_topk_push(h, (float)(acc[j] / norm), j);
        acc[j] = 0.0f;
    }
    fr_topk_sort(h);
}

fr_status fr_itemcf_build(fr_itemcf *cf, int num_items, const int32_t *items, const int64_t *off,
                          int n_seq, int window, int neighbours, int threads, fr_err *err)
{
    fr_status st;
    int V = num_items, nt = threads < 1 ? 1 : threads;
    occ_index o = {0};
    float *acc = NULL;
    int32_t *touched = NULL, *cnt = NULL;
    fr_topk *heaps = NULL;
    memset(cf, 0, sizeof *cf);
    if ((st = check_input(V, items, off, n_seq, window, neighbours, err)) != FR_OK)
        return st;
    if (neighbours > V)
        neighbours = V;
    cf->num_items = V;
    cf->window = window;
    cf->neighbours = neighbours;
    if ((st = occ_build(&o, V, items, off, n_seq, err)) != FR_OK)
        goto out;
    size_t stride = (size_t)neighbours;
    cf->off = calloc((size_t)V + 1, sizeof *cf->off);
    cf->nbr = malloc((size_t)V * stride * sizeof *cf->nbr);
    cf->sim = malloc((size_t)V * stride * sizeof *cf->sim);
    cnt = calloc((size_t)V, sizeof *cnt);
    acc = calloc((size_t)nt * V, sizeof *acc);
    touched = malloc((size_t)nt * V * sizeof *touched);
    heaps = calloc((size_t)nt, sizeof *heaps);
    if (!cf->off || !cf->nbr || !cf->sim || !cnt || !acc || !touched || !heaps) {
        st = fr_fail(err, FR_ENOMEM, "itemcf: cannot allocate %d x %d neighbours", V, neighbours);
        goto out;
    }
    /* Items are independent: each thread fills whole items' rows of a fixed stride. */
    for (int t = 0; t < nt; t++)
        if ((st = fr_topk_init(&heaps[t], neighbours, err)) != FR_OK)
            goto out;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 64)
    for (int i = 1; i < V; i++) {
        int t = omp_get_thread_num();
        fr_topk *h = &heaps[t];
        item_neighbours(&o, items, off, window, i, acc + (size_t)t * V, touched + (size_t)t * V, h);
        memcpy(cf->nbr + (size_t)i * stride, h->row, (size_t)h->n * sizeof *h->row);
        memcpy(cf->sim + (size_t)i * stride, h->score, (size_t)h->n * sizeof *h->score);
        cnt[i] = h->n;
    }
    /* Compact the fixed-stride rows into CSR in place: every row moves towards the
     * front, never over one not yet moved. */
    for (int i = 0; i < V; i++) {
        cf->off[i + 1] = cf->off[i] + cnt[i];
        memmove(cf->nbr + cf->off[i], cf->nbr + (size_t)i * stride,
                (size_t)cnt[i] * sizeof(int32_t));
        memmove(cf->sim + cf->off[i], cf->sim + (size_t)i * stride, (size_t)cnt[i] * sizeof(float));
    }
    size_t total = (size_t)cf->off[V] > 0 ? (size_t)cf->off[V] : 1;
    int32_t *nbr = realloc(cf->nbr, total * sizeof *nbr);
    if (nbr)
        cf->nbr = nbr;
    float *sim = realloc(cf->sim, total * sizeof *sim);
    if (sim)
        cf->sim = sim;
out:
    for (int t = 0; heaps && t < nt; t++)
        fr_topk_free(&heaps[t]);
    free(heaps);
    free(acc);
    free(touched);
    free(cnt);
    occ_free(&o);
    if (st)
        fr_itemcf_free(cf);
    return st;
}

float fr_itemcf_sim(const fr_itemcf *cf, int32_t i, int32_t j)
{
    if (i < 1 || i >= cf->num_items)
        return 0.0f;
    for (int64_t k = cf->off[i]; k < cf->off[i + 1]; k++)
        if (cf->nbr[k] == j)
            return cf->sim[k];
    return 0.0f;
}

fr_status fr_itemcf_scratch_init(fr_itemcf_scratch *s, int num_items, fr_err *err)
{
    s->acc = calloc((size_t)(num_items > 0 ? num_items : 1), sizeof *s->acc);
    s->touched = malloc((size_t)(num_items > 0 ? num_items : 1) * sizeof *s->touched);
    if (!s->acc || !s->touched) {
        fr_itemcf_scratch_free(s);
        return fr_fail(err, FR_ENOMEM, "itemcf: cannot allocate query scratch for %d items",
                       num_items);
    }
    return FR_OK;
}

void fr_itemcf_scratch_free(fr_itemcf_scratch *s)
{
    free(s->acc);
    free(s->touched);
    memset(s, 0, sizeof *s);
}

void fr_itemcf_query(const fr_itemcf *cf, const int32_t *hist, long n, int recent,
                     const fr_topk_excl *excl, fr_itemcf_scratch *s, fr_topk *out)
{
    float *acc = s->acc;
    int32_t *touched = s->touched;
    int nt = 0;
    long first = n - recent > 0 ? n - recent : 0;
    for (long p = n - 1; p >= first; p--) {
        int32_t i = hist[p];
        if (i < 1 || i >= cf->num_items)
            continue;
        float w = 1.0f / (float)(n - p);
        for (int64_t k = cf->off[i]; k < cf->off[i + 1]; k++) {
            int32_t j = cf->nbr[k];
            if (acc[j] == 0.0f)
                touched[nt++] = j;
            acc[j] += w * cf->sim[k];
        }
    }
    for (int t = 0; t < nt; t++) {
        int32_t j = touched[t];
        if (!fr_topk_excl_has(excl, j))
            fr_topk_push(out, acc[j], j);
        acc[j] = 0.0f;
    }
}
