/* The CPU backend's network layers (see fr_backend.h): the item tower's convolution
 * and max-pool, factored through the tokens, and the GRU recurrence, forward and
 * backward. Apart from the dense and element-wise ops (fr_backend_cpu.c) because they
 * carry their own blocking and threading choices (the DP step's tap products are in
 * fr_backend_cpu_tap.c); the same determinism rules hold:
 * column ranges per thread, rows added in order. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "backend/fr_backend_cpu_int.h"
#include "backend/fr_fastmath.h"

void fr_cpu_conv_pool_forward(float *m, int32_t *arg, const float *p, const int32_t *tok,
                              const float *bias, int nu, int T, int F)
{
#pragma omp parallel num_threads(fr_cpu_threads) if ((size_t)nu * T * F > FR_CPU_PAR_MIN)
    {
        float *c = malloc((size_t)F * sizeof(float));
#pragma omp for schedule(static)
        for (int i = 0; i < nu; i++) {
            const int32_t *ti = tok + (size_t)i * T;
            float *mi = m + (size_t)i * F;
            int32_t *ai = arg + (size_t)i * F;
            for (int t = 0; t < T; t++) {
                memcpy(c, bias, (size_t)F * sizeof(float));
                for (int k = 0; k < 3; k++) {
                    int pos = t + k - 1;
                    if (pos < 0 || pos >= T || ti[pos] < 0)
                        continue;
                    const float *pk = p + (size_t)ti[pos] * 3 * F + (size_t)k * F;
                    for (int f = 0; f < F; f++)
                        c[f] += pk[f];
                }
                /* ReLU then max: the pooled value is >= 0, and a filter that is never
                 * positive pools to 0 with no gradient (its arg is then irrelevant). */
                if (t == 0) {
                    for (int f = 0; f < F; f++) {
                        mi[f] = c[f] > 0.0f ? c[f] : 0.0f;
                        ai[f] = 0;
                    }
                } else {
                    for (int f = 0; f < F; f++)
                        if (c[f] > mi[f]) {
                            mi[f] = c[f];
                            ai[f] = t;
                        }
                }
            }
        }
        free(c);
    }
}

/* One item's filters lo..hi: the gradient of each filter's max goes to its bias and to
 * the three taps at the position that won, through the tokens there. */
static inline void item_pool_backward(float *gp, float *dbias, const float *gi, const float *mi,
                                      const int32_t *ai, const int32_t *ti, int T, int F, int lo,
                                      int hi)
{
    for (int f = lo; f < hi; f++) {
        if (!(mi[f] > 0.0f))
            continue;
        float g = gi[f];
        int t = ai[f];
        dbias[f] += g;
        for (int k = 0; k < 3; k++) {
            int pos = t + k - 1;
            if (pos < 0 || pos >= T || ti[pos] < 0)
                continue;
            gp[(size_t)ti[pos] * 3 * F + (size_t)k * F + f] += g;
        }
    }
}

void fr_cpu_conv_pool_backward(float *gp, float *dbias, const float *dm, const float *m,
                               const int32_t *arg, const int32_t *tok, int nu, int T, int F)
{
    /* Many items share a token, so each thread owns a range of filters for all items:
     * no two threads write the same gp entry, and the order of additions is fixed. */
    int nt = ((size_t)nu * F > FR_CPU_PAR_MIN / 4 && F >= 32) ? fr_cpu_threads : 1;
#pragma omp parallel num_threads(nt)
    {
        int lo, hi;
        fr_cpu_col_range(omp_get_thread_num(), omp_get_num_threads(), F, &lo, &hi);
        for (int i = 0; i < nu; i++)
            item_pool_backward(gp, dbias, dm + (size_t)i * F, m + (size_t)i * F,
                               arg + (size_t)i * F, tok + (size_t)i * T, T, F, lo, hi);
    }
}

/* One thread: DP-SGD calls it for one user at a time from each of its workers, over
 * every (user, item) pair of a step, so it is the per-user path's hot loop. The same
 * sums as item_pool_backward without its branches: each item's tap rows are looked up
 * once (a position off the item or a padding token points at a scratch row whose sums
 * are thrown away) and a filter that pooled 0 adds an exact 0. */
void fr_cpu_conv_pool_backward_rows(float *gp, float *dbias, const float *dm, const float *m,
                                    const int32_t *arg, const int32_t *rows, const int32_t *tok,
                                    int nu, int T, int F)
{
    if (T > FR_CPU_POOL_MAX_T || F > FR_CPU_POOL_MAX_F) {
        for (int i = 0; i < nu; i++)
            item_pool_backward(gp, dbias, dm + (size_t)i * F, m + (size_t)rows[i] * F,
                               arg + (size_t)rows[i] * F, tok + (size_t)i * T, T, F, 0, F);
        return;
    }
    float sink[FR_CPU_POOL_MAX_F] = {0}; /* the scratch row: its sums are thrown away */
    /* tap[k][t + 1]: the row that tap k of a window centred at position t writes */
    float *tap[3][FR_CPU_POOL_MAX_T + 2];
    for (int i = 0; i < nu; i++) {
        const float *gi = dm + (size_t)i * F, *mi = m + (size_t)rows[i] * F;
        const int32_t *ai = arg + (size_t)rows[i] * F, *ti = tok + (size_t)i * T;
        for (int k = 0; k < 3; k++)
            for (int t = -1; t <= T; t++) {
                int pos = t + k - 1;
                tap[k][t + 1] = pos < 0 || pos >= T || ti[pos] < 0
                                    ? sink
                                    : gp + (size_t)ti[pos] * 3 * F + (size_t)k * F;
            }
        /* the bias in vectors, apart from the scattered taps: in one loop the compiler
         * cannot tell the bias from a tap row, and it was a fourth of the scalar sums */
        float g[FR_CPU_POOL_MAX_F];
        for (int f = 0; f < F; f++)
            g[f] = mi[f] > 0.0f ? gi[f] : 0.0f;
        for (int f = 0; f < F; f++)
            dbias[f] += g[f];
        for (int f = 0; f < F; f++) {
            int t = ai[f] + 1;
            tap[0][t][f] += g[f];
            tap[1][t][f] += g[f];
            tap[2][t][f] += g[f];
        }
    }
}

void fr_cpu_conv_w_pack(float *wr, const float *w, int F, int d)
{
    for (int f = 0; f < F; f++)
        for (int c = 0; c < d; c++)
            for (int k = 0; k < 3; k++)
                wr[((size_t)k * F + f) * d + c] = w[((size_t)f * d + c) * 3 + k];
}

void fr_cpu_conv_w_unpack_add(float *dw, const float *dwr, int F, int d)
{
    for (int f = 0; f < F; f++)
        for (int c = 0; c < d; c++)
            for (int k = 0; k < 3; k++)
                dw[((size_t)f * d + c) * 3 + k] += dwr[((size_t)k * F + f) * d + c];
}

/* One GRU step over rows of one time step (see gru_forward). */
static void gru_step_rows(float *hout, float *gates, float *ghn, const float *gi, const float *gh,
                          const float *h, int n, int d)
{
    for (int i = 0; i < n; i++) {
        const float *xi = gi + (size_t)i * 3 * d, *hi = gh + (size_t)i * 3 * d;
        const float *hp = h + (size_t)i * d;
        float *g = gates + (size_t)i * 3 * d, *gn = ghn + (size_t)i * d, *o = hout + (size_t)i * d;
#pragma omp simd
        for (int j = 0; j < d; j++) {
            float r = fr_sigmoidf(xi[j] + hi[j]);
            float u = fr_sigmoidf(xi[d + j] + hi[d + j]);
            float nn = fr_tanhf(xi[2 * d + j] + r * hi[2 * d + j]);
            g[j] = r;
            g[d + j] = u;
            g[2 * d + j] = nn;
            gn[j] = hi[2 * d + j];
            o[j] = (1.0f - u) * nn + u * hp[j];
        }
    }
}

/* Backward of one step over n rows: dh = dL/dh_t on entry; writes dgi, dgh and
 * dhprev = u * dh (the direct path; the caller adds dgh W_hh). */
static void gru_step_back_rows(float *dgi, float *dgh, float *dhprev, const float *dh,
                               const float *gates, const float *ghn, const float *h, int n, int d)
{
    for (int i = 0; i < n; i++) {
        const float *g = gates + (size_t)i * 3 * d, *gn = ghn + (size_t)i * d;
        const float *hp = h + (size_t)i * d, *dz = dh + (size_t)i * d;
        float *dx = dgi + (size_t)i * 3 * d, *dhh = dgh + (size_t)i * 3 * d;
        float *dp = dhprev + (size_t)i * d;
#pragma omp simd
        for (int j = 0; j < d; j++) {
            float r = g[j], u = g[d + j], nn = g[2 * d + j];
            float dn = dz[j] * (1.0f - u);
            float du = dz[j] * (hp[j] - nn);
            float dan = dn * (1.0f - nn * nn);
            float dau = du * u * (1.0f - u);
            float dar = dan * gn[j] * r * (1.0f - r);
            dx[j] = dar;
            dx[d + j] = dau;
            dx[2 * d + j] = dan;
            dhh[j] = dar;
            dhh[d + j] = dau;
            dhh[2 * d + j] = dan * r;
            dp[j] = dz[j] * u;
        }
    }
}

/* The recurrence is independent across sequences, so each thread runs all L steps
 * for its own block of rows with single-threaded products: far better on small
 * batches than splitting each tiny per-step product across threads. */
static int gru_threads(int b, int d)
{
    return ((size_t)b * d >= 2048 && b >= 2 * fr_cpu_threads) ? fr_cpu_threads : 1;
}

/* Rows per thread up to which the recurrent products are plain loops: a product of a
 * few rows costs OpenBLAS more in packing W_hh at every step than in arithmetic, and
 * DP-SGD runs each user's handful of windows as its own batch. */
#define GRU_FEW_ROWS 8

/* out (n, k) += in (n, m) w (m, k) for few rows, row by row so that each row of w is
 * streamed once per row of in. */
static void few_rows_product(float *out, const float *in, const float *w, int n, int m, int k)
{
    for (int i = 0; i < n; i++) {
        float *o = out + (size_t)i * k;
        const float *x = in + (size_t)i * m;
        for (int c = 0; c < m; c++) {
            float a = x[c];
            const float *wr = w + (size_t)c * k;
#pragma omp simd
            for (int j = 0; j < k; j++)
                o[j] += a * wr[j];
        }
    }
}

/* gh (n, 3d) += h (n, d) W_hh^T for few rows, with wt (d, 3d) = W_hh^T. */
static void few_rows_hh(float *gh, const float *h, const float *wt, int n, int d)
{
    few_rows_product(gh, h, wt, n, d, 3 * d);
}

/* dh (n, d) += dgh (n, 3d) W_hh for few rows. */
static void few_rows_hh_back(float *dh, const float *dgh, const float *w_hh, int n, int d)
{
    few_rows_product(dh, dgh, w_hh, n, 3 * d, d);
}

void fr_cpu_gru_forward(float *z, float *gates, float *ghn, const float *gi, const float *w_hh,
                        const float *b_hh, int L, int b, int d)
{
    size_t bd = (size_t)b * d, b3d = (size_t)b * 3 * d;
    int nt = gru_threads(b, d);
    memset(z, 0, bd * sizeof(float));
    float *wt = NULL; /* W_hh^T, for blocks of few rows */
    if ((b + nt - 1) / nt <= GRU_FEW_ROWS && L > 1 &&
        (wt = malloc((size_t)3 * d * d * sizeof(float))))
        for (int j = 0; j < 3 * d; j++)
            for (int c = 0; c < d; c++)
                wt[(size_t)c * 3 * d + j] = w_hh[(size_t)j * d + c];
#pragma omp parallel num_threads(nt)
    {
        int th = omp_get_thread_num(), nth = omp_get_num_threads();
        int r0 = (int)((long)b * th / nth), r1 = (int)((long)b * (th + 1) / nth), n = r1 - r0;
        float *gh = malloc((size_t)(n > 0 ? n : 1) * 3 * d * sizeof(float));
        for (int t = 0; t < L && n > 0; t++) {
            for (int i = 0; i < n; i++)
                memcpy(gh + (size_t)i * 3 * d, b_hh, (size_t)3 * d * sizeof(float));
            if (t > 0 && wt && n <= GRU_FEW_ROWS) /* h_0 = 0 contributes nothing */
                few_rows_hh(gh, z + t * bd + (size_t)r0 * d, wt, n, d);
            else if (t > 0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, 3 * d, d, 1.0f,
                            z + t * bd + (size_t)r0 * d, d, w_hh, d, 1.0f, gh, 3 * d);
            gru_step_rows(z + (t + 1) * bd + (size_t)r0 * d, gates + t * b3d + (size_t)r0 * 3 * d,
                          ghn + t * bd + (size_t)r0 * d, gi + t * b3d + (size_t)r0 * 3 * d, gh,
                          z + t * bd + (size_t)r0 * d, n, d);
        }
        free(gh);
    }
    free(wt);
#pragma omp atomic
    fr_cpu_flops += 2.0 * (L - 1) * b * 3 * d * d;
}

void fr_cpu_gru_backward(float *dgi, float *dgh, const float *dz, const float *gates,
                         const float *ghn, const float *z, const float *w_hh, int L, int b, int d)
{
    size_t bd = (size_t)b * d, b3d = (size_t)b * 3 * d;
    int nt = gru_threads(b, d);
#pragma omp parallel num_threads(nt)
    {
        int th = omp_get_thread_num(), nth = omp_get_num_threads();
        int r0 = (int)((long)b * th / nth), r1 = (int)((long)b * (th + 1) / nth), n = r1 - r0;
        size_t nd = (size_t)(n > 0 ? n : 1) * d;
        float *dh = calloc(nd, sizeof(float)), *dhp = calloc(nd, sizeof(float));
        for (int t = L - 1; t >= 0 && n > 0; t--) {
            const float *dzt = dz + t * bd + (size_t)r0 * d;
            for (size_t i = 0; i < (size_t)n * d; i++)
                dh[i] += dzt[i];
            float *dgh_t = dgh + t * b3d + (size_t)r0 * 3 * d;
            gru_step_back_rows(dgi + t * b3d + (size_t)r0 * 3 * d, dgh_t, dhp, dh,
                               gates + t * b3d + (size_t)r0 * 3 * d, ghn + t * bd + (size_t)r0 * d,
                               z + t * bd + (size_t)r0 * d, n, d);
            if (t > 0 && n <= GRU_FEW_ROWS)
                few_rows_hh_back(dhp, dgh_t, w_hh, n, d);
            else if (t > 0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, d, 3 * d, 1.0f, dgh_t,
                            3 * d, w_hh, d, 1.0f, dhp, d);
            float *tmp = dh;
            dh = dhp;
            dhp = tmp;
        }
        free(dh);
        free(dhp);
    }
#pragma omp atomic
    fr_cpu_flops += 2.0 * (L - 1) * b * 3 * d * d;
}
