/* The inverted-file index of the recall server (see fr_ivf.h). */
#include "recall/fr_ivf.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/fr_rng.h"

/* Rows per product when distances or centroid scores are computed: a (1024, nlist)
 * block of scores stays in the cache. */
#define CHUNK 1024

void fr_ivf_config_default(fr_ivf_config *c)
{
    c->nlist = 0;
    c->nprobe = 200;
    c->iters = 10;
    c->seed = 1;
}

/* For each of the m rows of x (m, d), the centroid of c with the least cnorm - 2 x.c:
 * with cnorm the centroids' squared norms, the nearest (|x|^2 is the same for every
 * centroid); with cnorm 0, the highest inner product. The lower list on a tie. buf
 * holds CHUNK x nlist floats. */
static void assign(const float *x, long m, int d, const float *c, const float *cnorm, int nlist,
                   int32_t *out, float *buf)
{
    for (long r0 = 0; r0 < m; r0 += CHUNK) {
        int cs = m - r0 < CHUNK ? (int)(m - r0) : CHUNK;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, cs, nlist, d, 1.0f, x + (size_t)r0 * d,
                    d, c, d, 0.0f, buf, nlist);
        for (int i = 0; i < cs; i++) {
            const float *s = buf + (size_t)i * nlist;
            int best = 0;
            float bd = cnorm[0] - 2.0f * s[0];
            for (int l = 1; l < nlist; l++) {
                float dl = cnorm[l] - 2.0f * s[l];
                if (dl < bd) {
                    bd = dl;
                    best = l;
                }
            }
            out[r0 + i] = best;
        }
    }
}

/* Scale each of the n rows of v (n, d) to unit length (a zero row stays zero). */
static void unit_rows(float *v, long n, int d)
{
    for (long r = 0; r < n; r++) {
        double s = 0;
        for (int k = 0; k < d; k++)
            s += (double)v[(size_t)r * d + k] * v[(size_t)r * d + k];
        if (s > 0)
            for (int k = 0; k < d; k++)
                v[(size_t)r * d + k] = (float)(v[(size_t)r * d + k] / sqrt(s));
    }
}

/* x (n, d) <- the items of rows[0..n) less mean, scaled to unit length. */
static void directions(const float *items, const int32_t *rows, long n, int d, const float *mean,
                       float *x)
{
    for (long r = 0; r < n; r++)
        for (int k = 0; k < d; k++)
            x[(size_t)r * d + k] = items[(size_t)rows[r] * d + k] - mean[k];
    unit_rows(x, n, d);
}

/* Spherical k-means: Lloyd's iterations over the unit rows x (m, d) from the first
 * nlist rows of x; an item joins the centroid of highest inner product (cnorm is set
 * to 0), a centroid is its items' mean scaled to unit length, an empty list keeps its
 * centroid. */
static void lloyd(const float *x, long m, int d, int nlist, int iters, float *c, float *cnorm,
                  int32_t *as, double *sum, long *cnt, float *buf)
{
    memcpy(c, x, (size_t)nlist * d * sizeof *c);
    memset(cnorm, 0, (size_t)nlist * sizeof *cnorm);
    for (int it = 0; it < iters; it++) {
        assign(x, m, d, c, cnorm, nlist, as, buf);
        memset(sum, 0, (size_t)nlist * d * sizeof *sum);
        memset(cnt, 0, (size_t)nlist * sizeof *cnt);
        for (long r = 0; r < m; r++) {
            cnt[as[r]]++;
            for (int k = 0; k < d; k++)
                sum[(size_t)as[r] * d + k] += x[(size_t)r * d + k];
        }
        for (int l = 0; l < nlist; l++)
            if (cnt[l] > 0)
                for (int k = 0; k < d; k++)
                    c[(size_t)l * d + k] = (float)(sum[(size_t)l * d + k] / (double)cnt[l]);
        unit_rows(c, nlist, d);
    }
}

fr_status fr_ivf_build(fr_ivf *ix, const float *items, int num_items, int dim,
                       const fr_ivf_config *cfg, fr_err *err)
{
    fr_status st = FR_OK;
    int32_t *perm = NULL, *as = NULL;
    float *x = NULL, *mean = NULL, *cnorm = NULL, *buf = NULL, *tmp = NULL;
    double *sum = NULL;
    long *cnt = NULL;
    memset(ix, 0, sizeof *ix);
    if (num_items < 1 || dim < 1 || cfg->nlist < 0 || cfg->nprobe < 1 || cfg->iters < 1) {
        st = fr_fail(err, FR_EINVAL,
                     "ivf: bad settings (items %d, dim %d, nlist %d, nprobe %d, "
                     "iterations %d)",
                     num_items, dim, cfg->nlist, cfg->nprobe, cfg->iters);
        goto out;
    }
    long m = num_items - 1; /* row 0 is padding */
    int nlist = cfg->nlist ? cfg->nlist : (int)lround(sqrt((double)m));
    if (nlist > m)
        nlist = (int)m;
    if (nlist < 1 && m > 0)
        nlist = 1;
    ix->num_items = num_items;
    ix->dim = dim;
    ix->nlist = nlist;
    ix->nprobe = cfg->nprobe < nlist ? cfg->nprobe : nlist;
    ix->off = calloc((size_t)nlist + 1, sizeof *ix->off);
    ix->rows = malloc((size_t)(m > 0 ? m : 1) * sizeof *ix->rows);
    ix->centroids = malloc((size_t)(nlist > 0 ? nlist : 1) * dim * sizeof *ix->centroids);
    ix->packed = calloc((size_t)(nlist > 0 ? nlist : 1), sizeof *ix->packed);
    if (!ix->off || !ix->rows || !ix->centroids || !ix->packed)
        goto nomem;
    if (m == 0)
        goto out;
    /* the training sample: the first s rows of a seeded shuffle, the first nlist of
     * them the initial centroids (distinct items) */
    long s = (long)nlist * FR_IVF_TRAIN_PER_LIST < m ? (long)nlist * FR_IVF_TRAIN_PER_LIST : m;
    perm = malloc((size_t)m * sizeof *perm);
    as = malloc((size_t)m * sizeof *as);
    x = malloc((size_t)(s > CHUNK ? s : CHUNK) * dim * sizeof *x);
    mean = malloc((size_t)dim * sizeof *mean);
    cnorm = malloc((size_t)nlist * sizeof *cnorm);
    buf = malloc((size_t)CHUNK * nlist * sizeof *buf);
    cnt = malloc((size_t)nlist * sizeof *cnt);
    sum = malloc((size_t)(nlist > 1 ? nlist : 1) * dim * sizeof *sum);
    if (!perm || !as || !x || !mean || !cnorm || !buf || !sum || !cnt)
        goto nomem;
    fr_rng rng;
    fr_rng_seed(&rng, cfg->seed);
    for (long r = 0; r < m; r++)
        perm[r] = (int32_t)(r + 1);
    for (long r = 0; r < s; r++) { /* partial Fisher-Yates: only s draws */
        long j = r + (long)fr_rng_below(&rng, (uint64_t)(m - r));
        int32_t t = perm[r];
        perm[r] = perm[j];
        perm[j] = t;
    }
    /* the catalogue's mean: every score of a user shares its inner product with the
     * mean, so only the items' offsets from it tell them apart */
    memset(sum, 0, (size_t)dim * sizeof *sum);
    for (long r = 1; r <= m; r++)
        for (int k = 0; k < dim; k++)
            sum[k] += items[(size_t)r * dim + k];
    for (int k = 0; k < dim; k++)
        mean[k] = (float)(sum[k] / (double)m);
    directions(items, perm, s, dim, mean, x);
    lloyd(x, s, dim, nlist, cfg->iters, ix->centroids, cnorm, as, sum, cnt, buf);
    /* every item to its list, in row order, so each list is ascending */
    for (long r0 = 0; r0 < m; r0 += CHUNK) {
        long cn = m - r0 < CHUNK ? m - r0 : CHUNK;
        for (long r = 0; r < cn; r++)
            perm[r] = (int32_t)(r0 + r + 1);
        directions(items, perm, cn, dim, mean, x);
        assign(x, cn, dim, ix->centroids, cnorm, nlist, as + r0, buf);
    }
    for (long r = 0; r < m; r++)
        ix->off[as[r] + 1]++;
    for (int l = 0; l < nlist; l++) {
        int len = ix->off[l + 1];
        ix->max_list = len > ix->max_list ? len : ix->max_list;
        ix->off[l + 1] += ix->off[l];
    }
    for (int l = 0; l < nlist; l++) /* the next free place of each list */
        cnt[l] = ix->off[l];
    for (long r = 0; r < m; r++)
        ix->rows[cnt[as[r]]++] = (int32_t)(r + 1);
    if (!(tmp = malloc((size_t)ix->max_list * dim * sizeof *tmp)))
        goto nomem;
    for (int l = 0; l < nlist; l++) {
        int len = ix->off[l + 1] - ix->off[l];
        if (len == 0)
            continue;
        for (int t = 0; t < len; t++)
            memcpy(tmp + (size_t)t * dim, items + (size_t)ix->rows[ix->off[l] + t] * dim,
                   (size_t)dim * sizeof *tmp);
        if ((st = fr_topk_pack(&ix->packed[l], tmp, len, dim, err)) != FR_OK)
            goto out;
    }
    goto out;
nomem:
    st = fr_fail(err, FR_ENOMEM, "ivf: out of memory for an index of %d items", num_items);
out:
    if (st != FR_OK)
        fr_ivf_free(ix);
    free(perm);
    free(as);
    free(x);
    free(mean);
    free(cnorm);
    free(buf);
    free(sum);
    free(cnt);
    free(tmp);
    return st;
}

void fr_ivf_free(fr_ivf *ix)
{
    for (int l = 0; ix->packed && l < ix->nlist; l++)
        fr_topk_packed_free(&ix->packed[l]);
    free(ix->packed);
    free(ix->centroids);
    free(ix->off);
    free(ix->rows);
    memset(ix, 0, sizeof *ix);
}

/* Offer user u's scores s of list l's items to its heap. */
static void offer_list(const fr_ivf *ix, int l, const float *s, fr_topk *h,
                       const fr_topk_excl *excl)
{
    const int32_t *rows = ix->rows + ix->off[l];
    int len = ix->off[l + 1] - ix->off[l];
    for (int t = 0; t < len; t++) {
        /* a pair below the bar cannot enter; NaN fails this test too */
        if (!(s[t] >= fr_topk_bar(h)))
            continue;
        if (excl && fr_topk_excl_has(excl, rows[t]))
            continue;
        fr_topk_push(h, s[t], rows[t]);
    }
}

fr_status fr_ivf_search(const fr_ivf *ix, const float *users, int n, const int *nprobe,
                        const fr_topk_excl *excl, fr_topk *tops, fr_err *err)
{
    fr_status st = FR_OK;
    float *cs = NULL, *ubuf = NULL, *sbuf = NULL;
    int32_t *poff = NULL, *plist = NULL, *loff = NULL, *who = NULL;
    fr_topk pick = {0};
    for (int i = 0; i < n; i++)
        if (tops[i].n != 0)
            return fr_fail(err, FR_EINVAL, "ivf: heap %d is not empty", i);
    if (n == 0 || ix->nlist == 0)
        return FR_OK;
    int nl = ix->nlist, d = ix->dim, maxp = 1;
    poff = malloc(((size_t)n + 1) * sizeof *poff);
    cs = malloc((size_t)(n < CHUNK ? n : CHUNK) * nl * sizeof *cs);
    if (!poff || !cs)
        goto nomem;
    poff[0] = 0;
    for (int i = 0; i < n; i++) {
        int np = nprobe && nprobe[i] > 0 ? nprobe[i] : ix->nprobe;
        np = np < nl ? np : nl;
        maxp = np > maxp ? np : maxp;
        poff[i + 1] = poff[i] + np;
    }
    /* each user's lists: the best centroid scores, in fr_topk's order */
    if (!(plist = malloc((size_t)poff[n] * sizeof *plist)))
        goto nomem;
    if ((st = fr_topk_init(&pick, maxp, err)) != FR_OK)
        goto out;
    for (int u0 = 0; u0 < n; u0 += CHUNK) {
        int un = n - u0 < CHUNK ? n - u0 : CHUNK;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, un, nl, d, 1.0f,
                    users + (size_t)u0 * d, d, ix->centroids, d, 0.0f, cs, nl);
        for (int i = 0; i < un; i++) {
            int u = u0 + i, np = poff[u + 1] - poff[u];
            /* the best maxp, sorted: their first np are the best np */
            fr_topk_reset(&pick, -INFINITY);
            for (int l = 0; l < nl; l++)
                fr_topk_push(&pick, cs[(size_t)i * nl + l], l);
            fr_topk_sort(&pick);
            /* a NaN vector picks no list, and so gets nothing, as in exact search */
            for (int j = 0; j < np; j++)
                plist[poff[u] + j] = j < pick.n ? pick.row[j] : -1;
        }
    }
    /* the users of each list, so that a list is read once for all its users */
    loff = calloc((size_t)nl + 1, sizeof *loff);
    who = malloc((size_t)poff[n] * sizeof *who);
    if (!loff || !who)
        goto nomem;
    for (int p = 0; p < poff[n]; p++)
        if (plist[p] >= 0)
            loff[plist[p] + 1]++;
    for (int l = 0; l < nl; l++)
        loff[l + 1] += loff[l];
    for (int u = 0; u < n; u++)
        for (int p = poff[u]; p < poff[u + 1]; p++)
            if (plist[p] >= 0)
                who[loff[plist[p]]++] = u;
    for (int l = nl; l > 0; l--) /* loff[l] moved to the end of list l: shift back */
        loff[l] = loff[l - 1];
    loff[0] = 0;
    int stride = (ix->max_list + 2 * FR_TOPK_PANEL - 1) / FR_TOPK_PANEL * FR_TOPK_PANEL + 64;
    ubuf = malloc((size_t)FR_TOPK_GROUP * d * sizeof *ubuf);
    sbuf = malloc((size_t)FR_TOPK_GROUP * stride * sizeof *sbuf);
    if (!ubuf || !sbuf)
        goto nomem;
    for (int l = 0; l < nl; l++) {
        if (ix->off[l + 1] == ix->off[l])
            continue;
        const fr_topk_packed *pk = &ix->packed[l];
        for (int a = loff[l]; a < loff[l + 1]; a += FR_TOPK_GROUP) {
            int g = loff[l + 1] - a < FR_TOPK_GROUP ? loff[l + 1] - a : FR_TOPK_GROUP;
            for (int i = 0; i < g; i++)
                memcpy(ubuf + (size_t)i * d, users + (size_t)who[a + i] * d,
                       (size_t)d * sizeof *ubuf);
            fr_topk_packed_scores(pk, ubuf, g, sbuf, stride);
            for (int i = 0; i < g; i++)
                offer_list(ix, l, sbuf + (size_t)i * stride, &tops[who[a + i]],
                           excl ? &excl[who[a + i]] : NULL);
        }
    }
    goto out;
nomem:
    st = fr_fail(err, FR_ENOMEM, "ivf: out of memory for a search of %d users", n);
out:
    fr_topk_free(&pick);
    free(cs);
    free(ubuf);
    free(sbuf);
    free(poff);
    free(plist);
    free(loff);
    free(who);
    return st;
}
