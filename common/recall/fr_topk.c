/* Bounded top-K heap and blocked catalogue scoring (see fr_topk.h). */
#include "recall/fr_topk.h"

#include <cblas.h>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

fr_status fr_topk_init(fr_topk *h, int k, fr_err *err)
{
    memset(h, 0, sizeof *h);
    if (k < 1 || k > (1 << 28))
        return fr_fail(err, FR_EINVAL, "top-k: k = %d outside [1, 2^28]", k);
    h->key = malloc((size_t)k * sizeof *h->key);
    h->score = malloc((size_t)k * sizeof *h->score);
    h->row = malloc((size_t)k * sizeof *h->row);
    if (!h->key || !h->score || !h->row) {
        fr_topk_free(h);
        return fr_fail(err, FR_ENOMEM, "top-k: cannot allocate a heap of %d", k);
    }
    h->cap = k;
    fr_topk_reset(h, -INFINITY);
    return FR_OK;
}

void fr_topk_free(fr_topk *h)
{
    free(h->key);
    free(h->score);
    free(h->row);
    memset(h, 0, sizeof *h);
}

void fr_topk_reset(fr_topk *h, float floor)
{
    h->n = 0;
    h->floor = floor;
    h->bar = floor;
}

/* Min-heap on keys: key[0] is the worst pair held. Moves x down from slot i. */
static void sift_down(uint64_t *key, int i, int n, uint64_t x)
{
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n)
            break;
        c += c + 1 < n && key[c + 1] < key[c];
        if (key[c] >= x)
            break;
        key[i] = key[c];
        i = c;
    }
    key[i] = x;
}

int fr_topk_push(fr_topk *h, float score, int32_t row)
{
    if (!(score > h->floor))
        return 0; /* also refuses NaN */
    uint64_t x = fr_topk_key(score, row);
    if (h->n < h->cap) {
        int i = h->n++;
        while (i > 0) {
            int p = (i - 1) / 2;
            if (h->key[p] <= x)
                break;
            h->key[i] = h->key[p];
            i = p;
        }
        h->key[i] = x;
    } else {
        if (x <= h->key[0])
            return 0;
        sift_down(h->key, 0, h->n, x);
    }
    if (h->n == h->cap)
        h->bar = fr_topk_key_score(h->key[0]);
    return 1;
}

void fr_topk_sort(fr_topk *h)
{
    /* Heap sort: the root is the worst pair, so moving it behind the shrinking heap
     * leaves the keys best first. */
    for (int end = h->n - 1; end > 0; end--) {
        uint64_t x = h->key[end];
        h->key[end] = h->key[0];
        sift_down(h->key, 0, end, x);
    }
    for (int i = 0; i < h->n; i++) {
        h->score[i] = fr_topk_key_score(h->key[i]);
        h->row[i] = fr_topk_key_row(h->key[i]);
    }
}

int fr_topk_excl_has(const fr_topk_excl *e, int32_t row)
{
    if (!e)
        return 0;
    long lo = 0, hi = e->n;
    while (lo < hi) {
        long mid = lo + (hi - lo) / 2;
        if (e->rows[mid] < row)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < e->n && e->rows[lo] == row;
}

typedef struct search_ctx {
    const float *items, *users;
    int dim;
    const fr_topk_excl *excl;
} search_ctx;

/* Excluded rows of user u that fall in [r0, r0 + nb) drop to -inf, which never passes
 * a heap's floor. */
static void mask_user(const search_ctx *c, int u, float *s, int r0, int nb)
{
    if (!c->excl)
        return;
    const int32_t *end = c->excl[u].rows + c->excl[u].n, *lo = c->excl[u].rows, *hi = end;
    while (lo < hi) { /* first row >= r0 */
        const int32_t *mid = lo + (hi - lo) / 2;
        if (*mid < r0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < end && *lo < r0 + nb; lo++)
        s[*lo - r0] = -INFINITY;
}

/* Bit t of the result is set when s[t] > bar, for the 64 scores at s (NaN: clear). */
#if defined(__AVX512F__)
static inline uint64_t above64(const float *s, float bar)
{
    __m512 b = _mm512_set1_ps(bar);
    uint64_t m0 = _mm512_cmp_ps_mask(_mm512_loadu_ps(s), b, _CMP_GT_OQ);
    uint64_t m1 = _mm512_cmp_ps_mask(_mm512_loadu_ps(s + 16), b, _CMP_GT_OQ);
    uint64_t m2 = _mm512_cmp_ps_mask(_mm512_loadu_ps(s + 32), b, _CMP_GT_OQ);
    uint64_t m3 = _mm512_cmp_ps_mask(_mm512_loadu_ps(s + 48), b, _CMP_GT_OQ);
    return m0 | m1 << 16 | m2 << 32 | m3 << 48;
}
#elif defined(__AVX2__)
static inline uint64_t above64(const float *s, float bar)
{
    __m256 b = _mm256_set1_ps(bar);
    uint64_t m = 0;
    for (int i = 0; i < 8; i++)
        m |= (uint64_t)(uint32_t)_mm256_movemask_ps(
                 _mm256_cmp_ps(_mm256_loadu_ps(s + 8 * i), b, _CMP_GT_OQ))
             << (8 * i);
    return m;
}
#else
static inline uint64_t above64(const float *s, float bar)
{
    uint64_t m = 0;
    for (int t = 0; t < 64; t++)
        m |= (uint64_t)(s[t] > bar) << t;
    return m;
}
#endif

/* Offer the scores of rows r0 .. r0+nb-1 in ascending order. Most scores fall below
 * the bar, so 64 at a time are compared at once and only those above it are read
 * one by one (the bar may rise on the way, so each is compared again). */
static void scan(fr_topk *h, const float *s, int r0, int nb)
{
    int j = 0;
    for (; j + 64 <= nb; j += 64)
        for (uint64_t m = above64(s + j, h->bar); m; m &= m - 1) {
            int t = j + __builtin_ctzll(m);
            if (s[t] > h->bar)
                fr_topk_push(h, s[t], r0 + t);
        }
    for (; j < nb; j++)
        if (s[j] > h->bar)
            fr_topk_push(h, s[j], r0 + j);
}

void fr_topk_offer_block(fr_topk *h, float *s, int r0, int nb, const fr_topk_excl *excl)
{
    search_ctx c = {NULL, NULL, 0, excl};
    mask_user(&c, 0, s, r0, nb);
    scan(h, s, r0, nb);
}

/* Users [u0, u1) against item rows [r_lo, r_hi); user u's heap is tops[u - u0].
 * buf holds FR_TOPK_USERS x FR_TOPK_BLOCK floats (and at least FR_TOPK_BLOCK_ONE).
 * Blocks are the outer loop so that a block of items is read from memory once for
 * all the users. */
static void score_range(const search_ctx *c, int u0, int u1, int r_lo, int r_hi, fr_topk *tops,
                        float *buf)
{
    int d = c->dim, block = u1 - u0 == 1 ? FR_TOPK_BLOCK_ONE : FR_TOPK_BLOCK;
    for (int r0 = r_lo; r0 < r_hi; r0 += block) {
        int nb = r_hi - r0 < block ? r_hi - r0 : block;
        const float *blk = c->items + (size_t)r0 * d;
        for (int c0 = u0; c0 < u1; c0 += FR_TOPK_USERS) {
            int mc = u1 - c0 < FR_TOPK_USERS ? u1 - c0 : FR_TOPK_USERS;
            if (mc == 1)
                cblas_sgemv(CblasRowMajor, CblasNoTrans, nb, d, 1.0f, blk, d,
                            c->users + (size_t)c0 * d, 1, 0.0f, buf, 1);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, mc, nb, d, 1.0f,
                            c->users + (size_t)c0 * d, d, blk, d, 0.0f, buf, nb);
            for (int i = 0; i < mc; i++) {
                float *s = buf + (size_t)i * nb;
                mask_user(c, c0 + i, s, r0, nb);
                scan(&tops[c0 + i - u0], s, r0, nb);
            }
        }
    }
}

fr_status fr_topk_search(const float *items, int num_items, int dim, const float *users, int n,
                         const fr_topk_excl *excl, int threads, fr_topk *tops, fr_err *err)
{
    fr_status st = FR_OK;
    float *bufs = NULL;
    fr_topk *part = NULL;
    int nparts = 0;
    if (dim < 1 || n < 0 || num_items < 0)
        return fr_fail(err, FR_EINVAL, "top-k: bad sizes (items %d, dim %d, users %d)", num_items,
                       dim, n);
    for (int i = 0; i < n; i++)
        if (tops[i].n != 0)
            return fr_fail(err, FR_EINVAL, "top-k: heap %d is not empty", i);
    if (n == 0 || num_items <= 1)
        return FR_OK;
    search_ctx c = {items, users, dim, excl};
    int nblocks = (num_items - 1 + FR_TOPK_BLOCK - 1) / FR_TOPK_BLOCK;
    int split_items = n < threads;
    int nt = threads < 1 ? 1 : threads;
    if (split_items && nt > nblocks)
        nt = nblocks;
    if (!split_items && nt > n)
        nt = n;
    size_t per = (size_t)(n < FR_TOPK_USERS ? n : FR_TOPK_USERS) * FR_TOPK_BLOCK;
    if (per < FR_TOPK_BLOCK_ONE)
        per = FR_TOPK_BLOCK_ONE;
    bufs = malloc((size_t)nt * per * sizeof(float));
    if (!bufs) {
        st = fr_fail(err, FR_ENOMEM, "top-k: cannot allocate %d score blocks", nt);
        goto out;
    }
    if (nt == 1) {
        score_range(&c, 0, n, 1, num_items, tops, bufs);
        goto out;
    }
    if (!split_items) {
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int t = 0; t < nt; t++)
            score_range(&c, (int)((long)n * t / nt), (int)((long)n * (t + 1) / nt), 1, num_items,
                        tops + (long)n * t / nt, bufs + (size_t)t * per);
        goto out;
    }
    /* Fewer users than threads: each thread keeps its own tops over a range of whole
     * blocks, then the parts merge; the order being total, the merge order is free. */
    part = calloc((size_t)nt * n, sizeof *part);
    if (!part) {
        st = fr_fail(err, FR_ENOMEM, "top-k: cannot allocate per-thread tops");
        goto out;
    }
    nparts = nt * n;
    for (int p = 0; p < nparts; p++) {
        if ((st = fr_topk_init(&part[p], tops[p % n].cap, err)) != FR_OK)
            goto out;
        fr_topk_reset(&part[p], tops[p % n].floor);
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++) {
        int b0 = (int)((long)nblocks * t / nt), b1 = (int)((long)nblocks * (t + 1) / nt);
        int r_lo = 1 + b0 * FR_TOPK_BLOCK;
        int r_hi = 1 + b1 * FR_TOPK_BLOCK < num_items ? 1 + b1 * FR_TOPK_BLOCK : num_items;
        score_range(&c, 0, n, r_lo, r_hi, part + (size_t)t * n, bufs + (size_t)t * per);
    }
    for (int p = 0; p < nparts; p++) {
        fr_topk_sort(&part[p]);
        for (int i = 0; i < part[p].n; i++)
            fr_topk_push(&tops[p % n], part[p].score[i], part[p].row[i]);
    }
out:
    for (int p = 0; p < nparts; p++)
        fr_topk_free(&part[p]);
    free(part);
    free(bufs);
    return st;
}
