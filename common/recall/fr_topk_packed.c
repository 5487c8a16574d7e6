/* Top-K over a pre-packed catalogue (see fr_topk_packed.h). The kernel is chosen when
 * the library is compiled (-march=native): AVX-512, AVX2 with FMA, or plain C. */
#include "recall/fr_topk_packed.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Panels per block: 64 x 16 items x d = 64 floats is 256 KiB, which stays in L2 while
 * every user group of the batch reads it. */
#define BLOCK_PANELS 64
/* Users scored together by one tile: their accumulators, the item vectors of the tile
 * and a broadcast value fill most of the vector registers. */
#define GROUP FR_TOPK_GROUP

/* tile(): the scores of g (<= GROUP, a constant where it is inlined) users u (g, d)
 * against TILE_PANELS panels from pd (consecutive, pstride floats apart): user i's
 * score of item t of the tile goes to out[i * ostride + t]. One version per instruction
 * set, the plain C one the reference. */
#if defined(__AVX512F__)
#include <immintrin.h>
#define TILE_PANELS 2
static inline __attribute__((always_inline)) void
tile(const float *pd, size_t pstride, int d, const float *u, int g, float *out, int ostride)
{
    __m512 acc[2][GROUP];
    for (int i = 0; i < g; i++)
        acc[0][i] = acc[1][i] = _mm512_setzero_ps();
    for (int k = 0; k < d; k++) {
        __m512 a0 = _mm512_load_ps(pd + k * FR_TOPK_PANEL);
        __m512 a1 = _mm512_load_ps(pd + pstride + k * FR_TOPK_PANEL);
        for (int i = 0; i < g; i++) {
            __m512 b = _mm512_set1_ps(u[(size_t)i * d + k]);
            acc[0][i] = _mm512_fmadd_ps(a0, b, acc[0][i]);
            acc[1][i] = _mm512_fmadd_ps(a1, b, acc[1][i]);
        }
    }
    for (int i = 0; i < g; i++) {
        _mm512_storeu_ps(out + (size_t)i * ostride, acc[0][i]);
        _mm512_storeu_ps(out + (size_t)i * ostride + FR_TOPK_PANEL, acc[1][i]);
    }
}
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define TILE_PANELS 1
static inline __attribute__((always_inline)) void
tile(const float *pd, size_t pstride, int d, const float *u, int g, float *out, int ostride)
{
    (void)pstride;
    __m256 acc[2][GROUP];
    for (int i = 0; i < g; i++)
        acc[0][i] = acc[1][i] = _mm256_setzero_ps();
    for (int k = 0; k < d; k++) {
        __m256 a0 = _mm256_load_ps(pd + k * FR_TOPK_PANEL);
        __m256 a1 = _mm256_load_ps(pd + k * FR_TOPK_PANEL + 8);
        for (int i = 0; i < g; i++) {
            __m256 b = _mm256_set1_ps(u[(size_t)i * d + k]);
            acc[0][i] = _mm256_fmadd_ps(a0, b, acc[0][i]);
            acc[1][i] = _mm256_fmadd_ps(a1, b, acc[1][i]);
        }
    }
    for (int i = 0; i < g; i++) {
        _mm256_storeu_ps(out + (size_t)i * ostride, acc[0][i]);
        _mm256_storeu_ps(out + (size_t)i * ostride + 8, acc[1][i]);
    }
}
#else
#define TILE_PANELS 1
static inline void tile(const float *pd, size_t pstride, int d, const float *u, int g, float *out,
                        int ostride)
{
    (void)pstride;
    for (int i = 0; i < g; i++)
        for (int t = 0; t < FR_TOPK_PANEL; t++) {
            float s = 0.0f;
            for (int k = 0; k < d; k++)
                s += pd[k * FR_TOPK_PANEL + t] * u[(size_t)i * d + k];
            out[(size_t)i * ostride + t] = s;
        }
}
#endif

/* Each kernel sums the dimensions in order, one fused multiply-add each (AVX-512,
 * AVX2) or a product then a sum (plain C: -std=c11 does not contract them). A sum is
 * one chain of dependent operations, so RESCORE_CHAINS rows run side by side. */
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#define MADD(a, b, s) fmaf((a), (b), (s))
#else
#define MADD(a, b, s) ((s) + (a) * (b))
#endif
#define RESCORE_CHAINS 8

void fr_topk_packed_rescore(const float *items, int dim, const float *u, const int32_t *rows, int n,
                            float *out)
{
    int j = 0;
    for (; j + RESCORE_CHAINS <= n; j += RESCORE_CHAINS) {
        const float *x[RESCORE_CHAINS];
        float s[RESCORE_CHAINS];
        for (int c = 0; c < RESCORE_CHAINS; c++) {
            x[c] = items + (size_t)rows[j + c] * dim;
            s[c] = 0.0f;
        }
        for (int k = 0; k < dim; k++)
            for (int c = 0; c < RESCORE_CHAINS; c++)
                s[c] = MADD(x[c][k], u[k], s[c]);
        for (int c = 0; c < RESCORE_CHAINS; c++)
            out[j + c] = s[c];
    }
    for (; j < n; j++) {
        const float *x = items + (size_t)rows[j] * dim;
        float s = 0.0f;
        for (int k = 0; k < dim; k++)
            s = MADD(x[k], u[k], s);
        out[j] = s;
    }
}

fr_status fr_topk_pack(fr_topk_packed *p, const float *items, int num_items, int dim, fr_err *err)
{
    memset(p, 0, sizeof *p);
    if (num_items < 1 || dim < 1)
        return fr_fail(err, FR_EINVAL, "top-k: bad sizes (items %d, dim %d)", num_items, dim);
    int panels = (num_items + FR_TOPK_PANEL - 1) / FR_TOPK_PANEL;
    panels = (panels + TILE_PANELS - 1) / TILE_PANELS * TILE_PANELS; /* whole tiles */
    size_t n = (size_t)panels * dim * FR_TOPK_PANEL;
    float *d = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    if (!d)
        return fr_fail(err, FR_ENOMEM, "top-k: cannot allocate a packed catalogue of %d items",
                       num_items);
    for (int q = 0; q < panels; q++)
        for (int k = 0; k < dim; k++)
            for (int t = 0; t < FR_TOPK_PANEL; t++) {
                long r = (long)q * FR_TOPK_PANEL + t;
                d[((size_t)q * dim + k) * FR_TOPK_PANEL + t] =
                    r < num_items ? items[(size_t)r * dim + k] : 0.0f;
            }
    p->num_items = num_items;
    p->dim = dim;
    p->panels = panels;
    p->data = d;
    return FR_OK;
}

void fr_topk_packed_free(fr_topk_packed *p)
{
    free(p->data);
    memset(p, 0, sizeof *p);
}

/* Scores of g users (rows of u) against panels [q0, q1) into out (user i's at
 * out + i * stride); the switch gives each group size its own unrolled copy. */
static void score_block(const fr_topk_packed *p, const float *u, int g, int q0, int q1, float *out,
                        int stride)
{
    size_t ps = (size_t)p->dim * FR_TOPK_PANEL;
    for (int q = q0; q < q1; q += TILE_PANELS) {
        const float *pd = p->data + (size_t)q * ps;
        float *o = out + (size_t)(q - q0) * FR_TOPK_PANEL;
        switch (g) {
        case 6: tile(pd, ps, p->dim, u, 6, o, stride); break;
        case 5: tile(pd, ps, p->dim, u, 5, o, stride); break;
        case 4: tile(pd, ps, p->dim, u, 4, o, stride); break;
        case 3: tile(pd, ps, p->dim, u, 3, o, stride); break;
        case 2: tile(pd, ps, p->dim, u, 2, o, stride); break;
        default: tile(pd, ps, p->dim, u, 1, o, stride); break;
        }
    }
}

void fr_topk_packed_scores(const fr_topk_packed *p, const float *users, int g, float *out,
                           int stride)
{
    score_block(p, users, g, 0, p->panels, out, stride);
}

/* Panels [q_lo, q_hi) for all n users into tops; buf holds GROUP block rows. */
static void search_range(const fr_topk_packed *p, const float *users, int n,
                         const fr_topk_excl *excl, fr_topk *tops, int q_lo, int q_hi, float *buf)
{
    int stride = BLOCK_PANELS * FR_TOPK_PANEL;
    for (int q0 = q_lo; q0 < q_hi; q0 += BLOCK_PANELS) {
        int q1 = q0 + BLOCK_PANELS < q_hi ? q0 + BLOCK_PANELS : q_hi;
        int r0 = q0 * FR_TOPK_PANEL;
        int r1 = q1 * FR_TOPK_PANEL < p->num_items ? q1 * FR_TOPK_PANEL : p->num_items;
        if (r1 <= r0)
            break;
        for (int u0 = 0; u0 < n; u0 += GROUP) {
            int g = n - u0 < GROUP ? n - u0 : GROUP;
            score_block(p, users + (size_t)u0 * p->dim, g, q0, q1, buf, stride);
            for (int i = 0; i < g; i++) {
                float *s = buf + (size_t)i * stride;
                int skip = r0 == 0; /* row 0 is padding: never offered */
                fr_topk_offer_block(&tops[u0 + i], s + skip, r0 + skip, r1 - r0 - skip,
                                    excl ? &excl[u0 + i] : NULL);
            }
        }
    }
}

fr_status fr_topk_search_packed(const fr_topk_packed *p, const float *users, int n,
                                const fr_topk_excl *excl, int threads, fr_topk *tops, fr_err *err)
{
    fr_status st = FR_OK;
    fr_topk *part = NULL;
    int nparts = 0;
    for (int i = 0; i < n; i++)
        if (tops[i].n != 0)
            return fr_fail(err, FR_EINVAL, "top-k: heap %d is not empty", i);
    if (n == 0 || p->num_items <= 1)
        return FR_OK;
    int nblocks = (p->panels + BLOCK_PANELS - 1) / BLOCK_PANELS;
    int nt = threads < 1 ? 1 : threads > nblocks ? nblocks : threads;
    size_t per = (size_t)GROUP * BLOCK_PANELS * FR_TOPK_PANEL;
    float *buf = malloc((size_t)nt * per * sizeof *buf);
    if (!buf)
        return fr_fail(err, FR_ENOMEM, "top-k: cannot allocate score blocks");
    if (nt == 1) {
        search_range(p, users, n, excl, tops, 0, p->panels, buf);
        goto out;
    }
    /* The catalogue split over threads, each keeping its own tops over whole blocks;
     * the parts then merge (the order being total, in any order). */
    if (!(part = calloc((size_t)nt * n, sizeof *part))) {
        st = fr_fail(err, FR_ENOMEM, "top-k: cannot allocate per-thread tops");
        goto out;
    }
    nparts = nt * n;
    for (int q = 0; q < nparts; q++) {
        if ((st = fr_topk_init(&part[q], tops[q % n].cap, err)) != FR_OK)
            goto out;
        fr_topk_reset(&part[q], tops[q % n].floor);
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++) {
        int b0 = (int)((long)nblocks * t / nt), b1 = (int)((long)nblocks * (t + 1) / nt);
        int q_hi = b1 * BLOCK_PANELS < p->panels ? b1 * BLOCK_PANELS : p->panels;
        search_range(p, users, n, excl, part + (size_t)t * n, b0 * BLOCK_PANELS, q_hi,
                     buf + (size_t)t * per);
    }
    for (int q = 0; q < nparts; q++) {
        fr_topk_sort(&part[q]);
        for (int i = 0; i < part[q].n; i++)
            fr_topk_push(&tops[q % n], part[q].score[i], part[q].row[i]);
    }
out:
    for (int q = 0; q < nparts; q++)
        fr_topk_free(&part[q]);
    free(part);
    free(buf);
    return st;
}
