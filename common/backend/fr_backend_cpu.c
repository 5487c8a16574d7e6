/* The CPU backend: matrix products through OpenBLAS cblas_sgemm, everything else in
 * plain C loops parallelised with OpenMP over at most --threads threads.
 *
 * Determinism: for a fixed thread count every op gives the same bits on every run.
 * Reductions never depend on scheduling: scatters and column sums split the work by
 * columns (each thread owns whole columns, rows are added in order), and the loss is
 * summed over a fixed number of chunks. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "backend/fr_backend.h"
#include "backend/fr_fastmath.h"

static int g_threads = 1;
/* Updated atomically: DP-SGD's workers call the backend from several threads. */
static double g_flops;

static double cpu_flop_count(void) { return g_flops; }

/* Page faults are expensive on virtual machines (tens of microseconds per 4 KiB page
 * seen here), so large buffers ask for transparent huge pages: a workspace of ~100 MiB
 * is then ready in a few milliseconds instead of most of a second. */
#define HUGE_PAGE ((size_t)2 << 20)

static void *cpu_alloc(size_t bytes)
{
    size_t n = (bytes + 63) & ~(size_t)63;
    if (n == 0)
        n = 64;
    void *p;
    if (n >= HUGE_PAGE) {
        n = (n + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
        p = aligned_alloc(HUGE_PAGE, n);
        if (p)
            madvise(p, n, MADV_HUGEPAGE); /* advice only: failure changes nothing */
    } else {
        p = aligned_alloc(64, n);
    }
    if (p)
        memset(p, 0, n);
    return p;
}

static void cpu_free(void *p) { free(p); }
static void cpu_copy(void *dst, const void *src, size_t bytes)
{
    if (bytes)
        memcpy(dst, src, bytes);
}

/* OpenBLAS always runs single-threaded here: the backend splits large products over
 * its own OpenMP threads (cpu_gemm), so one pool of threads serves every op. Two
 * pools (OpenBLAS's spinning between calls, OpenMP's between regions) on the same
 * cores took a fifth of an epoch in scheduler calls. */
static void cpu_set_threads(int threads)
{
    g_threads = threads < 1 ? 1 : threads;
    openblas_set_num_threads(1);
    omp_set_num_threads(g_threads);
}

/* Below this many elements a loop is not worth waking a second thread for. */
#define PAR_MIN 32768

static void cpu_zero(float *x, size_t n) { memset(x, 0, n * sizeof(float)); }

static void gemm1(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                  const float *b, int ldb, float beta, float *c, int ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m,
                n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* Products below this many multiply-adds run on one thread. */
#define GEMM_PAR_MIN 262144.0

static void cpu_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                     const float *b, int ldb, float beta, float *c, int ldc)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0) {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                c[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[(size_t)i * ldc + j];
        return;
    }
#pragma omp atomic
    g_flops += 2.0 * m * n * k;
    int nt = g_threads;
    if (nt == 1 || (double)m * n * k < GEMM_PAR_MIN) {
        gemm1(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    /* Split C into row blocks (or column blocks when it is wide), one per thread;
     * every element is still one full-length dot product, as on one thread. */
    int by_rows = m >= n;
    int len = by_rows ? m : n;
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), tn = omp_get_num_threads();
        int lo = (int)((long)len * t / tn) & ~7, hi = t == tn - 1 ? len : (int)((long)len * (t + 1) / tn) & ~7;
        if (hi > lo) {
            if (by_rows)
                gemm1(ta, tb, hi - lo, n, k, alpha, ta ? a + lo : a + (size_t)lo * lda, lda, b, ldb,
                      beta, c + (size_t)lo * ldc, ldc);
            else
                gemm1(ta, tb, m, hi - lo, k, alpha, a, lda, tb ? b + (size_t)lo * ldb : b + lo,
                      ldb, beta, c + lo, ldc);
        }
    }
}

static void cpu_gather_rows(float *out, const float *src, const int32_t *rows, int n, int d)
{
#pragma omp parallel for schedule(static) num_threads(g_threads) if ((size_t)n * d > PAR_MIN)
    for (int i = 0; i < n; i++) {
        float *o = out + (size_t)i * d;
        if (rows[i] < 0)
            memset(o, 0, (size_t)d * sizeof(float));
        else
            memcpy(o, src + (size_t)rows[i] * d, (size_t)d * sizeof(float));
    }
}

/* Column range of thread `t` of `nt` over d columns, in blocks of 16 floats. */
static void col_range(int t, int nt, int d, int *lo, int *hi)
{
    int blocks = (d + 15) / 16;
    int b0 = (int)((long)blocks * t / nt), b1 = (int)((long)blocks * (t + 1) / nt);
    *lo = b0 * 16;
    *hi = b1 * 16 < d ? b1 * 16 : d;
}

static void cpu_scatter_add_rows(float *dst, const float *src, const int32_t *rows, int n, int d)
{
    int nt = ((size_t)n * d > PAR_MIN && d >= 32) ? g_threads : 1;
#pragma omp parallel num_threads(nt)
    {
        int lo, hi;
        col_range(omp_get_thread_num(), omp_get_num_threads(), d, &lo, &hi);
        for (int i = 0; i < n; i++) {
            if (rows[i] < 0)
                continue;
            float *o = dst + (size_t)rows[i] * d;
            const float *s = src + (size_t)i * d;
            for (int j = lo; j < hi; j++)
                o[j] += s[j];
        }
    }
}

static void cpu_add_bias(float *x, const float *b, int n, int d)
{
#pragma omp parallel for schedule(static) num_threads(g_threads) if ((size_t)n * d > PAR_MIN)
    for (int i = 0; i < n; i++) {
        float *r = x + (size_t)i * d;
        for (int j = 0; j < d; j++)
            r[j] += b[j];
    }
}

static void cpu_axpy(float *y, float a, const float *x, size_t n)
{
#pragma omp parallel for schedule(static) num_threads(g_threads) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

static void cpu_scale(float *x, float a, size_t n)
{
#pragma omp parallel for schedule(static) num_threads(g_threads) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++)
        x[i] *= a;
}

/* Fixed chunking keeps the sum's order, and so its bits, independent of threads. */
#define NORM_CHUNKS 64

static double cpu_sq_norm(const float *x, size_t n)
{
    double part[NORM_CHUNKS] = {0};
#pragma omp parallel for schedule(static) num_threads(g_threads) if (n > PAR_MIN)
    for (int c = 0; c < NORM_CHUNKS; c++) {
        size_t i0 = n * c / NORM_CHUNKS, i1 = n * (c + 1) / NORM_CHUNKS;
        double acc = 0.0;
        for (size_t i = i0; i < i1; i++)
            acc += (double)x[i] * x[i];
        part[c] = acc;
    }
    double total = 0.0;
    for (int c = 0; c < NORM_CHUNKS; c++)
        total += part[c];
    return total;
}

static double cpu_rows_sq_norm(const float *x, const int32_t *rows, int n_rows, int d)
{
    double total = 0.0;
    for (int r = 0; r < n_rows; r++) {
        const float *row = x + (size_t)rows[r] * d;
        float acc = 0.0f;
        for (int j = 0; j < d; j++)
            acc += row[j] * row[j];
        total += acc;
    }
    return total;
}

static void cpu_rows_axpy_clear(float *y, float a, float *x, const int32_t *rows, int n_rows, int d)
{
    for (int r = 0; r < n_rows; r++) {
        float *xr = x + (size_t)rows[r] * d, *yr = y + (size_t)rows[r] * d;
        for (int j = 0; j < d; j++) {
            yr[j] += a * xr[j];
            xr[j] = 0.0f;
        }
    }
}

static void cpu_sum_rows(float *out, const float *x, int n, int d)
{
    int nt = ((size_t)n * d > PAR_MIN && d >= 32) ? g_threads : 1;
#pragma omp parallel num_threads(nt)
    {
        int lo, hi;
        col_range(omp_get_thread_num(), omp_get_num_threads(), d, &lo, &hi);
        for (int i = 0; i < n; i++) {
            const float *r = x + (size_t)i * d;
            for (int j = lo; j < hi; j++)
                out[j] += r[j];
        }
    }
}

static void cpu_row_dot(float *out, const float *a, const float *b, int n, int d)
{
#pragma omp parallel for schedule(static) num_threads(g_threads) if ((size_t)n * d > PAR_MIN)
    for (int i = 0; i < n; i++) {
        const float *x = a + (size_t)i * d, *y = b + (size_t)i * d;
        float s = 0.0f;
        for (int j = 0; j < d; j++)
            s += x[j] * y[j];
        out[i] = s;
    }
}

static void cpu_row_scale_add(float *out, const float *s, const float *a, int n, int d)
{
#pragma omp parallel for schedule(static) num_threads(g_threads) if ((size_t)n * d > PAR_MIN)
    for (int i = 0; i < n; i++) {
        float *o = out + (size_t)i * d;
        const float *x = a + (size_t)i * d;
        float si = s[i];
        for (int j = 0; j < d; j++)
            o[j] += si * x[j];
    }
}

static void cpu_conv_pool_forward(float *m, int32_t *arg, const float *p, const int32_t *tok,
                                  const float *bias, int nu, int T, int F)
{
#pragma omp parallel num_threads(g_threads) if ((size_t)nu * T * F > PAR_MIN)
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

static void cpu_conv_pool_backward(float *gp, float *dbias, const float *dm, const float *m,
                                   const int32_t *arg, const int32_t *tok, int nu, int T, int F)
{
    /* Many items share a token, so each thread owns a range of filters for all items:
     * no two threads write the same gp entry, and the order of additions is fixed. */
    int nt = ((size_t)nu * F > PAR_MIN / 4 && F >= 32) ? g_threads : 1;
#pragma omp parallel num_threads(nt)
    {
        int lo, hi;
        col_range(omp_get_thread_num(), omp_get_num_threads(), F, &lo, &hi);
        for (int i = 0; i < nu; i++)
            item_pool_backward(gp, dbias, dm + (size_t)i * F, m + (size_t)i * F,
                               arg + (size_t)i * F, tok + (size_t)i * T, T, F, lo, hi);
    }
}

/* One thread: DP-SGD calls it for one user at a time from each of its workers. */
static void cpu_conv_pool_backward_rows(float *gp, float *dbias, const float *dm, const float *m,
                                        const int32_t *arg, const int32_t *rows,
                                        const int32_t *tok, int nu, int T, int F)
{
    for (int i = 0; i < nu; i++)
        item_pool_backward(gp, dbias, dm + (size_t)i * F, m + (size_t)rows[i] * F,
                           arg + (size_t)rows[i] * F, tok + (size_t)i * T, T, F, 0, F);
}

static void cpu_conv_w_pack(float *wr, const float *w, int F, int d)
{
    for (int f = 0; f < F; f++)
        for (int c = 0; c < d; c++)
            for (int k = 0; k < 3; k++)
                wr[((size_t)k * F + f) * d + c] = w[((size_t)f * d + c) * 3 + k];
}

static void cpu_conv_w_unpack_add(float *dw, const float *dwr, int F, int d)
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
    return ((size_t)b * d >= 2048 && b >= 2 * g_threads) ? g_threads : 1;
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

static void cpu_gru_forward(float *z, float *gates, float *ghn, const float *gi, const float *w_hh,
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
    g_flops += 2.0 * (L - 1) * b * 3 * d * d;
}

static void cpu_gru_backward(float *dgi, float *dgh, const float *dz, const float *gates,
                             const float *ghn, const float *z, const float *w_hh, int L, int b,
                             int d)
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
    g_flops += 2.0 * (L - 1) * b * 3 * d * d;
}

#define LOSS_CHUNKS 64

static void cpu_sampled_softmax(float *logits, float *pos, const int32_t *neg, const int32_t *tgt,
                                int n, int k, float scale, float *loss)
{
    double part[LOSS_CHUNKS] = {0};
#pragma omp parallel for schedule(static) num_threads(g_threads) if ((size_t)n * k > PAR_MIN)
    for (int c = 0; c < LOSS_CHUNKS; c++) {
        int i0 = (int)((long)n * c / LOSS_CHUNKS), i1 = (int)((long)n * (c + 1) / LOSS_CHUNKS);
        double acc = 0.0;
        for (int i = i0; i < i1; i++) {
            float *l = logits + (size_t)i * k;
            int32_t t = tgt[i];
            float mx = pos[i];
            for (int j = 0; j < k; j++)
                if (neg[j] != t && l[j] > mx)
                    mx = l[j];
            float sum = fr_expf(pos[i] - mx);
            for (int j = 0; j < k; j++) {
                float e = neg[j] != t ? fr_expf(l[j] - mx) : 0.0f;
                l[j] = e;
                sum += e;
            }
            float inv = 1.0f / sum;
            float p0 = fr_expf(pos[i] - mx) * inv;
            acc += (double)(logf(sum) + mx - pos[i]);
            for (int j = 0; j < k; j++)
                l[j] *= inv * scale;
            pos[i] = (p0 - 1.0f) * scale;
        }
        part[c] = acc;
    }
    double total = 0.0;
    for (int c = 0; c < LOSS_CHUNKS; c++)
        total += part[c];
    *loss += (float)total;
}

static void cpu_adam(float *p, float *g, float *m, float *v, size_t n, float lr, float b1,
                     float b2, float eps, long t)
{
    /* The same arithmetic as torch.optim.Adam: the bias corrections enter as
     * p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps). */
    float bc1 = 1.0f - powf(b1, (float)t), bc2 = 1.0f - powf(b2, (float)t);
    float step = lr / bc1, sbc2 = sqrtf(bc2);
#pragma omp parallel for schedule(static) num_threads(g_threads) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float mi = b1 * m[i] + (1.0f - b1) * g[i];
        float vi = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        m[i] = mi;
        v[i] = vi;
        p[i] -= step * mi / (sqrtf(vi) / sbc2 + eps);
        g[i] = 0.0f;
    }
}

/* ---- recall's selection ---- */

/* Pair a is better than pair b: a higher score, or an equal one at a lower column. */
static inline int tk_better(float sa, int32_t ca, float sb, int32_t cb)
{
    return sa > sb || (sa == sb && ca < cb);
}

static inline void tk_swap(float *s, int32_t *c, int a, int b)
{
    float ts = s[a];
    int32_t tc = c[a];
    s[a] = s[b], c[a] = c[b];
    s[b] = ts, c[b] = tc;
}

/* The k slots of a row's output hold a heap with the worst pair on top, so the
 * selection needs no memory of its own. */
static void tk_sift_down(float *s, int32_t *c, int i, int n)
{
    for (;;) {
        int w = i, l = 2 * i + 1, r = l + 1;
        if (l < n && tk_better(s[w], c[w], s[l], c[l]))
            w = l;
        if (r < n && tk_better(s[w], c[w], s[r], c[r]))
            w = r;
        if (w == i)
            return;
        tk_swap(s, c, i, w);
        i = w;
    }
}

static void tk_sift_up(float *s, int32_t *c, int i)
{
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!tk_better(s[p], c[p], s[i], c[i]))
            return;
        tk_swap(s, c, i, p);
        i = p;
    }
}

static void cpu_topk_rows(int32_t *rows, float *out, float *scores, int n, int v, int k,
                          float floor, const int32_t *excl_off, const int32_t *excl)
{
    for (int i = 0; i < n; i++) {
        const float *s = scores + (size_t)i * v;
        float *hs = out + (size_t)i * k;
        int32_t *hc = rows + (size_t)i * k;
        long e = excl ? excl_off[i] : 0, e_end = excl ? excl_off[i + 1] : 0;
        int h = 0;
        for (int32_t col = 1; col < v; col++) {
            while (e < e_end && excl[e] < col)
                e++;
            if (e < e_end && excl[e] == col)
                continue;
            float x = s[col];
            if (!(x > floor))
                continue;
            if (h < k) {
                hs[h] = x, hc[h] = col;
                tk_sift_up(hs, hc, h++);
            } else if (tk_better(x, col, hs[0], hc[0])) {
                hs[0] = x, hc[0] = col;
                tk_sift_down(hs, hc, 0, h);
            }
        }
        /* heap sort: the worst goes last each time, leaving the best first */
        for (int end = h - 1; end > 0; end--) {
            tk_swap(hs, hc, 0, end);
            tk_sift_down(hs, hc, 0, end);
        }
        for (int j = h; j < k; j++)
            hs[j] = -INFINITY, hc[j] = -1;
    }
}

static const fr_backend cpu_backend = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_copy,
    .download = cpu_copy,
    .set_threads = cpu_set_threads,
    .flop_count = cpu_flop_count,
    .zero = cpu_zero,
    .gemm = cpu_gemm,
    .gather_rows = cpu_gather_rows,
    .scatter_add_rows = cpu_scatter_add_rows,
    .add_bias = cpu_add_bias,
    .axpy = cpu_axpy,
    .scale = cpu_scale,
    .sq_norm = cpu_sq_norm,
    .rows_sq_norm = cpu_rows_sq_norm,
    .rows_axpy_clear = cpu_rows_axpy_clear,
    .sum_rows = cpu_sum_rows,
    .row_dot = cpu_row_dot,
    .row_scale_add = cpu_row_scale_add,
    .conv_pool_forward = cpu_conv_pool_forward,
    .conv_pool_backward = cpu_conv_pool_backward,
    .conv_pool_backward_rows = cpu_conv_pool_backward_rows,
    .conv_w_pack = cpu_conv_w_pack,
    .conv_w_unpack_add = cpu_conv_w_unpack_add,
    .gru_forward = cpu_gru_forward,
    .gru_backward = cpu_gru_backward,
    .sampled_softmax = cpu_sampled_softmax,
    .topk_rows = cpu_topk_rows,
    .adam = cpu_adam,
};

const fr_backend *fr_backend_cpu(void) { return &cpu_backend; }
