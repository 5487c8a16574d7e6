/* The 8-bit catalogue scan with an exact re-rank (see fr_topk_q8.h). The SIMD kernel
 * is compiled for AVX-512 VNNI whatever the build flags say and picked at run time,
 * so one binary runs on any x86-64; the plain C kernel is the reference and the
 * fallback. */
#include "recall/fr_topk_q8.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/fr_rng.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_VNNI_KERNEL 1
#else
#define HAVE_VNNI_KERNEL 0
#endif

/* Panels per block: 128 x 16 items x 64 bytes (d = 64) is 128 KiB, which stays in L2
 * while every user group of the batch reads it. */
#define BLOCK_PANELS 128
#define GROUP FR_TOPK_GROUP
#define PANEL_BYTES(groups) ((size_t)(groups)*FR_TOPK_PANEL * 4)
/* The products stay within int32: 255 x 127 x 4 x groups < 2^31. */
#define MAX_DIM 16384

fr_status fr_topk_q8_build(fr_topk_q8 *q, const float *items, int num_items, int dim, fr_err *err)
{
    fr_status st = FR_OK;
    double *sum = NULL;
    memset(q, 0, sizeof *q);
    if (num_items < 1 || dim < 1 || dim > MAX_DIM)
        return fr_fail(err, FR_EINVAL, "int8 scan: bad sizes (items %d, dim %d)", num_items, dim);
    int groups = (dim + 3) / 4, positions = num_items - 1;
    int panels = positions > 0 ? (positions + FR_TOPK_PANEL - 1) / FR_TOPK_PANEL : 1;
    size_t bytes = (size_t)panels * PANEL_BYTES(groups); /* a multiple of 64 */
    q->data = aligned_alloc(64, bytes);
    q->scale = calloc((size_t)panels * FR_TOPK_PANEL, sizeof *q->scale);
    q->mean = calloc((size_t)dim, sizeof *q->mean);
    sum = calloc((size_t)dim, sizeof *sum);
    q->row = malloc((size_t)(positions > 0 ? positions : 1) * sizeof *q->row);
    q->pos = malloc((size_t)num_items * sizeof *q->pos);
    if (!q->data || !q->scale || !q->mean || !sum || !q->row || !q->pos) {
        st = fr_fail(err, FR_ENOMEM, "int8 scan: cannot allocate a copy of %d items", num_items);
        goto out;
    }
    memset(q->data, 128, bytes); /* a zero residual: padding rows and dimensions */
    for (int r = 1; r < num_items; r++)
        for (int k = 0; k < dim; k++)
            sum[k] += items[(size_t)r * dim + k];
    for (int k = 0; num_items > 1 && k < dim; k++)
        q->mean[k] = (float)(sum[k] / (num_items - 1));
    /* a fixed order, so that a model gives the same copy each time it is loaded */
    fr_rng rng;
    fr_rng_seed(&rng, 0x71a8c0ffeeULL);
    for (int p = 0; p < positions; p++)
        q->row[p] = p + 1;
    fr_rng_shuffle_i32(&rng, q->row, positions);
    q->pos[0] = -1;
    for (int p = 0; p < positions; p++)
        q->pos[q->row[p]] = p;
    for (int p = 0; p < positions; p++) {
        const float *x = items + (size_t)q->row[p] * dim;
        float m = 0.0f;
        for (int k = 0; k < dim; k++)
            m = fmaxf(m, fabsf(x[k] - q->mean[k]));
        if (!(m > 0.0f) || !isfinite(m))
            continue; /* the mean itself, or not a number: approximate score 0 */
        float s = m / 127.0f, inv = 127.0f / m;
        q->scale[p] = s;
        uint8_t *panel = q->data + (size_t)(p / FR_TOPK_PANEL) * PANEL_BYTES(groups);
        int t = p % FR_TOPK_PANEL;
        for (int k = 0; k < dim; k++) {
            long v = lrintf((x[k] - q->mean[k]) * inv);
            v = v > 127 ? 127 : v < -127 ? -127 : v;
            panel[(size_t)(k / 4) * FR_TOPK_PANEL * 4 + t * 4 + k % 4] = (uint8_t)(v + 128);
        }
    }
    q->num_items = num_items;
    q->dim = dim;
    q->groups = groups;
    q->panels = panels;
    q->positions = positions;
out:
    free(sum);
    if (st != FR_OK)
        fr_topk_q8_free(q);
    return st;
}

void fr_topk_q8_free(fr_topk_q8 *q)
{
    free(q->data);
    free(q->scale);
    free(q->mean);
    free(q->row);
    free(q->pos);
    memset(q, 0, sizeof *q);
}

/* ------------------------------------------------------------ kernels */

/* What the search wants of a tile besides the products: user i's correction
 * corr[i] and bar bar[i], the scale of the tile's first position on, and where the
 * masks of scores above the bar go (user i's, panel j: mask[i * mstride + j]). */
typedef struct finish {
    const int32_t *corr;
    const float *bar;
    const float *scale;
    uint16_t *mask;
    int mstride;
} finish;

static void dots_portable(const fr_topk_q8 *q, const int8_t *uq, int g, int p0, int p1,
                          int32_t *out, int stride)
{
    int G = q->groups;
    for (int p = p0; p < p1; p++) {
        const uint8_t *pd = q->data + (size_t)p * PANEL_BYTES(G);
        for (int i = 0; i < g; i++)
            for (int t = 0; t < FR_TOPK_PANEL; t++) {
                int32_t s = 0;
                for (int k = 0; k < G; k++)
                    for (int b = 0; b < 4; b++)
                        s += (int32_t)pd[(size_t)k * FR_TOPK_PANEL * 4 + t * 4 + b] *
                             uq[(size_t)i * G * 4 + k * 4 + b];
                out[(size_t)i * stride + (size_t)(p - p0) * FR_TOPK_PANEL + t] = s;
            }
    }
}

#if HAVE_VNNI_KERNEL
#define VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))

/* np (1 or 2) panels from pd (pstride bytes apart) against g users u (g, G groups of
 * 4 signed bytes): one vpdpbusd per panel, user and group of 4 dimensions. */
VNNI static inline __attribute__((always_inline)) void tile_vnni(const uint8_t *pd, size_t pstride,
                                                                 int G, const int8_t *u, int g,
                                                                 int np, int32_t *out, int ostride,
                                                                 const finish *fin)
{
    __m512i acc[2][GROUP];
    for (int i = 0; i < g; i++)
        acc[0][i] = acc[1][i] = _mm512_setzero_si512();
    for (int k = 0; k < G; k++) {
        __m512i a0 = _mm512_load_si512((const void *)(pd + (size_t)k * 64));
        __m512i a1 = np > 1 ? _mm512_load_si512((const void *)(pd + pstride + (size_t)k * 64))
                            : _mm512_setzero_si512();
        /* the tile after next: the first user group of a batch reads it from memory */
        _mm_prefetch((const char *)(pd + 4 * pstride + (size_t)k * 64), _MM_HINT_T0);
        _mm_prefetch((const char *)(pd + 5 * pstride + (size_t)k * 64), _MM_HINT_T0);
        for (int i = 0; i < g; i++) {
            int32_t w;
            memcpy(&w, u + ((size_t)i * G + k) * 4, 4);
            __m512i b = _mm512_set1_epi32(w);
            acc[0][i] = _mm512_dpbusd_epi32(acc[0][i], a0, b);
            if (np > 1)
                acc[1][i] = _mm512_dpbusd_epi32(acc[1][i], a1, b);
        }
    }
    if (!fin) {
        for (int i = 0; i < g; i++) {
            _mm512_storeu_si512((void *)(out + (size_t)i * ostride), acc[0][i]);
            if (np > 1)
                _mm512_storeu_si512((void *)(out + (size_t)i * ostride + FR_TOPK_PANEL), acc[1][i]);
        }
        return;
    }
    /* the approximate scores s_i (product - correction), and which beat the bar */
    for (int j = 0; j < np; j++) {
        __m512 sc = _mm512_loadu_ps(fin->scale + j * FR_TOPK_PANEL);
        for (int i = 0; i < g; i++) {
            __m512i v = _mm512_sub_epi32(acc[j][i], _mm512_set1_epi32(fin->corr[i]));
            __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(v), sc);
            _mm512_storeu_ps((float *)out + (size_t)i * ostride + j * FR_TOPK_PANEL, f);
            fin->mask[(size_t)i * fin->mstride + j] =
                (uint16_t)_mm512_cmp_ps_mask(f, _mm512_set1_ps(fin->bar[i]), _CMP_GT_OQ);
        }
    }
}

#define TILE_CASES(NP, FIN)                                                                        \
    switch (g) {                                                                                   \
    case 6: tile_vnni(pd, ps, G, u, 6, NP, o, stride, FIN); break;                                 \
    case 5: tile_vnni(pd, ps, G, u, 5, NP, o, stride, FIN); break;                                 \
    case 4: tile_vnni(pd, ps, G, u, 4, NP, o, stride, FIN); break;                                 \
    case 3: tile_vnni(pd, ps, G, u, 3, NP, o, stride, FIN); break;                                 \
    case 2: tile_vnni(pd, ps, G, u, 2, NP, o, stride, FIN); break;                                 \
    default: tile_vnni(pd, ps, G, u, 1, NP, o, stride, FIN); break;                                \
    }

VNNI static void dots_vnni(const fr_topk_q8 *q, const int8_t *uq, int g, int p0, int p1,
                           int32_t *out, int stride)
{
    int G = q->groups;
    const int8_t *u = uq;
    size_t ps = PANEL_BYTES(G);
    for (int p = p0; p < p1; p += 2) {
        const uint8_t *pd = q->data + (size_t)p * ps;
        int32_t *o = out + (size_t)(p - p0) * FR_TOPK_PANEL;
        if (p + 1 < p1) {
            TILE_CASES(2, NULL)
        } else {
            TILE_CASES(1, NULL)
        }
    }
}

/* As dots_vnni, but what leaves the registers is the approximate scores (floats, in
 * out) and their bar masks (fin), not the raw products: one pass over the block. */
VNNI static void scores_vnni(const fr_topk_q8 *q, const int8_t *uq, int g, int p0, int p1,
                             float *out, int stride, finish fin)
{
    int G = q->groups;
    const int8_t *u = uq;
    size_t ps = PANEL_BYTES(G);
    uint16_t *mask = fin.mask;
    for (int p = p0; p < p1; p += 2) {
        const uint8_t *pd = q->data + (size_t)p * ps;
        int32_t *o = (int32_t *)(void *)(out + (size_t)(p - p0) * FR_TOPK_PANEL);
        fin.scale = q->scale + (size_t)p * FR_TOPK_PANEL;
        fin.mask = mask + (p - p0);
        if (p + 1 < p1) {
            TILE_CASES(2, &fin)
        } else {
            TILE_CASES(1, &fin)
        }
    }
}
#endif

/* The kernel fr_topk_q8_search uses (fr_topk_q8_use_kernel). */
static fr_q8_kernel search_kernel = FR_Q8_AUTO;

void fr_topk_q8_use_kernel(fr_q8_kernel kernel)
{
    search_kernel = kernel == FR_Q8_SIMD && !fr_topk_q8_simd_available() ? FR_Q8_AUTO : kernel;
}

int fr_topk_q8_simd_available(void)
{
#if HAVE_VNNI_KERNEL
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

const char *fr_topk_q8_kernel_name(void)
{
    return fr_topk_q8_simd_available() ? "AVX-512 VNNI" : "portable C";
}

void fr_topk_q8_dots(const fr_topk_q8 *q, const int8_t *uq, int g, int p0, int p1, int32_t *out,
                     int stride, fr_q8_kernel kernel)
{
#if HAVE_VNNI_KERNEL
    if (kernel == FR_Q8_SIMD || (kernel == FR_Q8_AUTO && fr_topk_q8_simd_available())) {
        dots_vnni(q, uq, g, p0, p1, out, stride);
        return;
    }
#endif
    (void)kernel;
    dots_portable(q, uq, g, p0, p1, out, stride);
}

/* ------------------------------------------------------------ candidates */

/* A user's candidates by approximate score: a buffer of up to 2 R + 16 pairs (score,
 * position in the scan), each one 64-bit key in fr_topk's order (score bits made
 * monotonic in the high half, the position inverted in the low half, so the lower
 * position of equal scores is the larger key). A pair enters when its score beats the
 * bar; when the buffer is full, linear-time selection keeps the best R and the bar
 * rises to the worst of them. Over 100,000 items this cost a fraction of a heap of R,
 * whose every insertion walks eight or nine levels. The kept set is the R best pairs,
 * except that a pair whose score only ties the bar may be left out. */
typedef struct cands {
    uint64_t *key;
    int n, keep, cap; /* cap = 2 keep + 16 */
    float bar;
} cands;

/* Reorder key[0..n) (distinct keys) so that its r largest come first: quickselect
 * with a branch-free partition (an unpredictable branch per key cost most of the
 * time here). Invariant: key[0..lo) beat every key after them, key[hi..n) lose to
 * every key before them. */
static void select_largest(uint64_t *key, int n, int r)
{
    int lo = 0, hi = n;
    while (lo < r && r < hi) {
        uint64_t a = key[lo], b = key[lo + (hi - lo) / 2], c = key[hi - 1];
        uint64_t pivot = a > b ? (b > c ? b : a > c ? c : a) : (a > c ? a : b > c ? c : b);
        int s = lo;
        for (int i = lo; i < hi; i++) { /* [lo, s) > pivot, [s, i] <= pivot */
            uint64_t x = key[i];
            key[i] = key[s];
            key[s] = x;
            s += x > pivot;
        }
        if (s == lo) { /* the pivot is the range's largest: it takes place lo */
            int m = lo;
            for (int i = lo + 1; i < hi; i++)
                m = key[i] > key[m] ? i : m;
            uint64_t t = key[lo];
            key[lo] = key[m];
            key[m] = t;
            lo++;
        } else if (s > r) {
            hi = s;
        } else {
            lo = s;
        }
    }
}

/* Keep the best keep pairs and raise the bar to the worst of them. */
static void cands_shrink(cands *c)
{
    if (c->n <= c->keep)
        return;
    select_largest(c->key, c->n, c->keep);
    c->n = c->keep;
    uint64_t worst = c->key[0];
    for (int i = 1; i < c->n; i++)
        worst = c->key[i] < worst ? c->key[i] : worst;
    c->bar = fr_topk_key_score(worst);
}

static inline void cands_add(cands *c, float s, int32_t row)
{
    if (c->n == c->cap) {
        cands_shrink(c);
        if (!(s > c->bar))
            return;
    }
    c->key[c->n++] = fr_topk_key(s, row);
}

/* Offer the panel of scores s[0..16) of positions base.., those of mask m only. */
#if defined(__AVX512F__)
/* The marked scores still above the bar are packed together in registers and their
 * keys appended: no branch per score (one per score cost more than the scan). */
static inline void offer_panel(cands *c, const float *s, uint32_t m, int base)
{
    __m512 v = _mm512_loadu_ps(s);
    m &= _mm512_cmp_ps_mask(v, _mm512_set1_ps(c->bar), _CMP_GT_OQ);
    if (!m)
        return;
    if (c->n + FR_TOPK_PANEL > c->cap) {
        cands_shrink(c);
        m &= _mm512_cmp_ps_mask(v, _mm512_set1_ps(c->bar), _CMP_GT_OQ);
        if (!m)
            return;
    }
    /* keys as cand_key builds them, 8 at a time (64-bit lanes) */
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    __m512i bits = _mm512_castps_si512(_mm512_add_ps(v, _mm512_setzero_ps())); /* -0 -> +0 */
    __m512i sign = _mm512_srai_epi32(bits, 31);
    bits = _mm512_xor_si512(bits, _mm512_or_si512(sign, _mm512_set1_epi32((int)0x80000000u)));
    __m512i pos = _mm512_add_epi32(iota, _mm512_set1_epi32(base));
    __m512i low = _mm512_xor_si512(pos, _mm512_set1_epi32(0x7fffffff)); /* ~(pos ^ 2^31) */
    __mmask16 k = (__mmask16)m;
    bits = _mm512_maskz_compress_epi32(k, bits);
    low = _mm512_maskz_compress_epi32(k, low);
    __m512i lo8 = _mm512_unpacklo_epi32(low, bits), hi8 = _mm512_unpackhi_epi32(low, bits);
    /* unpack works within 128-bit lanes: put the pairs back in order */
    __m512i k0 = _mm512_permutex2var_epi64(lo8, _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0), hi8);
    __m512i k1 = _mm512_permutex2var_epi64(lo8, _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4), hi8);
    _mm512_storeu_si512((void *)(c->key + c->n), k0);
    _mm512_storeu_si512((void *)(c->key + c->n + 8), k1);
    c->n += __builtin_popcount(m);
}
#else
static inline void offer_panel(cands *c, const float *s, uint32_t m, int base)
{
    for (; m; m &= m - 1) {
        int t = __builtin_ctz(m);
        if (s[t] > c->bar)
            cands_add(c, s[t], base + t);
    }
}
#endif

/* Offer the scores s[0..nb) of positions r0.. in order, where mask (a bit per
 * position, 16 a panel) marks those above the bar when the block was scored; the
 * bar may have risen since, so each marked score is compared again. Positions of e
 * (ascending) are skipped. */
static void cands_offer(cands *c, const float *s, uint16_t *mask, int r0, int nb,
                        const fr_topk_excl *e)
{
    long lo = 0, hi = e->n;
    while (lo < hi) { /* the first excluded position >= r0 */
        long mid = lo + (hi - lo) / 2;
        if (e->rows[mid] < r0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < e->n && e->rows[lo] < r0 + nb; lo++) {
        int t = e->rows[lo] - r0;
        mask[t / FR_TOPK_PANEL] &= (uint16_t) ~(1u << (t % FR_TOPK_PANEL));
    }
    int panels = (nb + FR_TOPK_PANEL - 1) / FR_TOPK_PANEL;
    for (int j0 = 0; j0 < panels; j0 += 4) {
        uint64_t any = 0; /* most masks are empty once the bar has risen: 4 at a time */
        int n4 = panels - j0 < 4 ? panels - j0 : 4;
        memcpy(&any, mask + j0, (size_t)n4 * sizeof *mask);
        if (!any)
            continue;
        for (int j = j0; j < j0 + n4; j++) {
            uint32_t m = mask[j];
            int left = nb - j * FR_TOPK_PANEL; /* positions of this panel in the block */
            if (left < FR_TOPK_PANEL)
                m &= (1u << left) - 1;
            if (m)
                offer_panel(c, s + j * FR_TOPK_PANEL, m, r0 + j * FR_TOPK_PANEL);
        }
    }
}

/* The portable kernel's scores and masks, as scores_vnni gives them. */
static void scores_portable(const fr_topk_q8 *q, const int8_t *uq, int g, int p0, int p1,
                            int32_t *ibuf, float *out, int stride, finish fin)
{
    dots_portable(q, uq, g, p0, p1, ibuf, stride);
    int n = (p1 - p0) * FR_TOPK_PANEL;
    const float *sc = q->scale + (size_t)p0 * FR_TOPK_PANEL;
    for (int i = 0; i < g; i++) {
        const int32_t *d = ibuf + (size_t)i * stride;
        float *o = out + (size_t)i * stride;
        for (int t = 0; t < n; t++)
            o[t] = sc[t] * (float)(d[t] - fin.corr[i]);
        for (int j = 0; j < p1 - p0; j++) {
            uint32_t m = 0;
            for (int t = 0; t < FR_TOPK_PANEL; t++)
                m |= (uint32_t)(o[j * FR_TOPK_PANEL + t] > fin.bar[i]) << t;
            fin.mask[(size_t)i * fin.mstride + j] = (uint16_t)m;
        }
    }
}

/* ------------------------------------------------------------ search */

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* User u (dim floats) as signed bytes (groups * 4, zero past dim); returns 128 times
 * their sum, the part of the products that the items' +128 offset adds. */
static int32_t quantise_user(const float *u, int dim, int groups, int8_t *out)
{
    float m = 0.0f;
    int32_t sum = 0;
    memset(out, 0, (size_t)groups * 4);
    for (int k = 0; k < dim; k++)
        m = fmaxf(m, fabsf(u[k]));
    if (!(m > 0.0f) || !isfinite(m))
        return 0; /* every approximate score 0: the re-rank decides among the first rows */
    float inv = 127.0f / m;
    for (int k = 0; k < dim; k++) {
        long v = lrintf(u[k] * inv);
        v = v > 127 ? 127 : v < -127 ? -127 : v;
        out[k] = (int8_t)v;
        sum += (int32_t)v;
    }
    return 128 * sum;
}

fr_status fr_topk_q8_search(const fr_topk_q8 *q, const float *items, const float *users, int n,
                            const fr_topk_excl *excl, int rerank, fr_topk *tops, fr_err *err)
{
    fr_status st = FR_OK;
    int8_t *uq = NULL;
    int32_t *corr = NULL, *ibuf = NULL, *rows = NULL;
    float *fbuf = NULL, *exact = NULL;
    uint64_t *keys = NULL;
    int32_t *xpos = NULL;
    uint16_t *mbuf = NULL;
    fr_topk_excl *xe = NULL;
    cands *cand = NULL;
    if (n < 0)
        return fr_fail(err, FR_EINVAL, "int8 scan: %d users", n);
    for (int i = 0; i < n; i++)
        if (tops[i].n != 0)
            return fr_fail(err, FR_EINVAL, "top-k: heap %d is not empty", i);
    if (n == 0 || q->positions < 1)
        return FR_OK;
    int G = q->groups, D = q->dim, stride = BLOCK_PANELS * FR_TOPK_PANEL;
    size_t total = 0;
    if (!(cand = calloc((size_t)n, sizeof *cand)))
        return fr_fail(err, FR_ENOMEM, "int8 scan: out of memory for %d users", n);
    for (int i = 0; i < n; i++) {
        long k = tops[i].cap;
        long r = rerank > 0                                          ? rerank
                 : k * FR_TOPK_Q8_RERANK_MUL > FR_TOPK_Q8_RERANK_MIN ? k * FR_TOPK_Q8_RERANK_MUL
                                                                     : FR_TOPK_Q8_RERANK_MIN;
        r = r < k ? k : r;
        r = r > q->positions ? q->positions : r; /* no more than there are items */
        /* room for a whole panel past the cap (offer_panel writes 16 keys) */
        cand[i] = (cands){NULL, 0, (int)r, (int)(2 * r) + FR_TOPK_PANEL, -INFINITY};
        total += (size_t)(2 * r) + FR_TOPK_PANEL;
    }
    uq = malloc((size_t)n * G * 4);
    corr = malloc((size_t)n * sizeof *corr);
    ibuf = malloc((size_t)GROUP * stride * sizeof *ibuf);
    fbuf = malloc((size_t)GROUP * stride * sizeof *fbuf);
    mbuf = malloc((size_t)GROUP * BLOCK_PANELS * sizeof *mbuf);
    keys = malloc(total * sizeof *keys);
    long nx = 0;
    for (int i = 0; excl && i < n; i++)
        nx += excl[i].n;
    xpos = malloc((size_t)(nx + 1) * sizeof *xpos);
    xe = malloc((size_t)n * sizeof *xe);
    if (!uq || !corr || !ibuf || !fbuf || !mbuf || !keys || !xpos || !xe) {
        st = fr_fail(err, FR_ENOMEM, "int8 scan: out of memory for %d users", n);
        goto out;
    }
    int max_keep = 0;
    for (int i = 0, off = 0; i < n; off += cand[i].cap, i++) {
        cand[i].key = keys + off;
        max_keep = cand[i].keep > max_keep ? cand[i].keep : max_keep;
        corr[i] = quantise_user(users + (size_t)i * D, D, G, uq + (size_t)i * G * 4);
    }
    /* each user's excluded rows as ascending positions, for the scan's order */
    for (int i = 0, off = 0; i < n; i++) {
        long m = 0;
        for (long j = 0; excl && j < excl[i].n; j++) {
            int32_t r = excl[i].rows[j];
            if (r >= 1 && r < q->num_items)
                xpos[off + m++] = q->pos[r];
        }
        qsort(xpos + off, (size_t)m, sizeof *xpos, cmp_i32);
        xe[i] = (fr_topk_excl){xpos + off, m};
        off += (int)m;
    }
    int simd =
        search_kernel == FR_Q8_SIMD || (search_kernel == FR_Q8_AUTO && fr_topk_q8_simd_available());
    (void)simd;
    for (int p0 = 0; p0 < q->panels; p0 += BLOCK_PANELS) {
        int p1 = p0 + BLOCK_PANELS < q->panels ? p0 + BLOCK_PANELS : q->panels;
        int r0 = p0 * FR_TOPK_PANEL; /* positions [r0, r1) */
        int r1 = p1 * FR_TOPK_PANEL < q->positions ? p1 * FR_TOPK_PANEL : q->positions;
        for (int u0 = 0; u0 < n; u0 += GROUP) {
            int g = n - u0 < GROUP ? n - u0 : GROUP;
            float bar[GROUP];
            for (int i = 0; i < g; i++)
                bar[i] = cand[u0 + i].bar;
            finish fin = {corr + u0, bar, NULL, mbuf, BLOCK_PANELS};
            const int8_t *u = uq + (size_t)u0 * G * 4;
#if HAVE_VNNI_KERNEL
            if (simd)
                scores_vnni(q, u, g, p0, p1, fbuf, stride, fin);
            else
#endif
                scores_portable(q, u, g, p0, p1, ibuf, fbuf, stride, fin);
            for (int i = 0; i < g; i++)
                cands_offer(&cand[u0 + i], fbuf + (size_t)i * stride,
                            mbuf + (size_t)i * BLOCK_PANELS, r0, r1 - r0, &xe[u0 + i]);
        }
    }
    /* the candidates again, exactly: the floor of tops (a threshold) sees exact scores */
    rows = malloc((size_t)max_keep * sizeof *rows);
    exact = malloc((size_t)max_keep * sizeof *exact);
    if (!rows || !exact) {
        st = fr_fail(err, FR_ENOMEM, "int8 scan: out of memory for %d candidates", max_keep);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        cands_shrink(&cand[i]);
        for (int j = 0; j < cand[i].n; j++)
            rows[j] = q->row[fr_topk_key_row(cand[i].key[j])];
        fr_topk_packed_rescore(items, D, users + (size_t)i * D, rows, cand[i].n, exact);
        for (int j = 0; j < cand[i].n; j++)
            fr_topk_push(&tops[i], exact[j], rows[j]);
    }
out:
    free(cand);
    free(xe);
    free(xpos);
    free(keys);
    free(rows);
    free(exact);
    free(fbuf);
    free(mbuf);
    free(ibuf);
    free(corr);
    free(uq);
    return st;
}
