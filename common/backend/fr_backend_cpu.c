/* The CPU backend: matrix products through OpenBLAS cblas_sgemm, everything else in
 * plain C loops parallelised with OpenMP over at most --threads threads.
 *
 * Determinism: for a fixed thread count every op gives the same bits on every run.
 * Reductions never depend on scheduling: scatters and column sums split the work by
 * columns (each thread owns whole columns, rows are added in order), and the loss is
 * summed over a fixed number of chunks.
 *
 * This file holds the memory and thread settings, the dense and element-wise ops, the
 * loss, Adam and the backend's table; the network layers (convolution, GRU) are in
 * fr_backend_cpu_nn.c and recall's selection in fr_backend_cpu_topk.c. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "backend/fr_backend.h"
#include "backend/fr_backend_cpu_int.h"
#include "backend/fr_fastmath.h"

int fr_cpu_threads = 1;
/* Updated atomically: DP-SGD's workers call the backend from several threads. */
double fr_cpu_flops;

static double cpu_flop_count(void)
{
    return fr_cpu_flops;
}

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

static void cpu_free(void *p)
{
    free(p);
}
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
    fr_cpu_threads = threads < 1 ? 1 : threads;
    openblas_set_num_threads(1);
    omp_set_num_threads(fr_cpu_threads);
}

static void cpu_zero(float *x, size_t n)
{
    memset(x, 0, n * sizeof(float));
}

static void gemm1(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                  const float *b, int ldb, float beta, float *c, int ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
                k, alpha, a, lda, b, ldb, beta, c, ldc);
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
    fr_cpu_flops += 2.0 * m * n * k;
    int nt = fr_cpu_threads;
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
        int lo = (int)((long)len * t / tn) & ~7,
            hi = t == tn - 1 ? len : (int)((long)len * (t + 1) / tn) & ~7;
        if (hi > lo) {
            if (by_rows)
                gemm1(ta, tb, hi - lo, n, k, alpha, ta ? a + lo : a + (size_t)lo * lda, lda, b, ldb,
                      beta, c + (size_t)lo * ldc, ldc);
            else
                gemm1(ta, tb, m, hi - lo, k, alpha, a, lda, tb ? b + (size_t)lo * ldb : b + lo, ldb,
                      beta, c + lo, ldc);
        }
    }
}

static void cpu_gather_rows(float *out, const float *src, const int32_t *rows, int n, int d)
{
#pragma omp parallel for schedule(static)                                                          \
    num_threads(fr_cpu_threads) if ((size_t)n * d > FR_CPU_PAR_MIN)
    for (int i = 0; i < n; i++) {
        float *o = out + (size_t)i * d;
        if (rows[i] < 0)
            memset(o, 0, (size_t)d * sizeof(float));
        else
            memcpy(o, src + (size_t)rows[i] * d, (size_t)d * sizeof(float));
    }
}

static void cpu_scatter_add_rows(float *dst, const float *src, const int32_t *rows, int n, int d)
{
    fr_cpu_scatter_add_scaled_rows(dst, src, rows, NULL, n, d);
}

static void cpu_add_bias(float *x, const float *b, int n, int d)
{
#pragma omp parallel for schedule(static)                                                          \
    num_threads(fr_cpu_threads) if ((size_t)n * d > FR_CPU_PAR_MIN)
    for (int i = 0; i < n; i++) {
        float *r = x + (size_t)i * d;
        for (int j = 0; j < d; j++)
            r[j] += b[j];
    }
}

static void cpu_axpy(float *y, float a, const float *x, size_t n)
{
#pragma omp parallel for schedule(static) num_threads(fr_cpu_threads) if (n > FR_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

static void cpu_scale(float *x, float a, size_t n)
{
#pragma omp parallel for schedule(static) num_threads(fr_cpu_threads) if (n > FR_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        x[i] *= a;
}

static void cpu_mul(float *x, const float *m, size_t n)
{
#pragma omp parallel for schedule(static) num_threads(fr_cpu_threads) if (n > FR_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        x[i] *= m[i];
}

/* Fixed chunking keeps the sum's order, and so its bits, independent of threads. */
#define NORM_CHUNKS 64

static double cpu_sq_norm(const float *x, size_t n)
{
    double part[NORM_CHUNKS] = {0};
#pragma omp parallel for schedule(static) num_threads(fr_cpu_threads) if (n > FR_CPU_PAR_MIN)
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
    int nt = ((size_t)n * d > FR_CPU_PAR_MIN && d >= 32) ? fr_cpu_threads : 1;
#pragma omp parallel num_threads(nt)
    {
        int lo, hi;
        fr_cpu_col_range(omp_get_thread_num(), omp_get_num_threads(), d, &lo, &hi);
        for (int i = 0; i < n; i++) {
            const float *r = x + (size_t)i * d;
            for (int j = lo; j < hi; j++)
                out[j] += r[j];
        }
    }
}

static void cpu_row_dot(float *out, const float *a, const float *b, int n, int d)
{
#pragma omp parallel for schedule(static)                                                          \
    num_threads(fr_cpu_threads) if ((size_t)n * d > FR_CPU_PAR_MIN)
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
#pragma omp parallel for schedule(static)                                                          \
    num_threads(fr_cpu_threads) if ((size_t)n * d > FR_CPU_PAR_MIN)
    for (int i = 0; i < n; i++) {
        float *o = out + (size_t)i * d;
        const float *x = a + (size_t)i * d;
        float si = s[i];
        for (int j = 0; j < d; j++)
            o[j] += si * x[j];
    }
}
#define LOSS_CHUNKS 64

static void cpu_sampled_softmax(float *logits, float *pos, const int32_t *neg, const int32_t *tgt,
                                int n, int k, float scale, float *loss)
{
    double part[LOSS_CHUNKS] = {0};
#pragma omp parallel for schedule(static)                                                          \
    num_threads(fr_cpu_threads) if ((size_t)n * k > FR_CPU_PAR_MIN)
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

static void cpu_adam(float *p, float *g, float *m, float *v, size_t n, float lr, float b1, float b2,
                     float eps, long t)
{
    /* The same arithmetic as torch.optim.Adam: the bias corrections enter as
     * p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps). */
    float bc1 = 1.0f - powf(b1, (float)t), bc2 = 1.0f - powf(b2, (float)t);
    float step = lr / bc1, sbc2 = sqrtf(bc2);
#pragma omp parallel for schedule(static) num_threads(fr_cpu_threads) if (n > FR_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float mi = b1 * m[i] + (1.0f - b1) * g[i];
        float vi = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        m[i] = mi;
        v[i] = vi;
        p[i] -= step * mi / (sqrtf(vi) / sbc2 + eps);
        g[i] = 0.0f;
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
    .mul = cpu_mul,
    .sq_norm = cpu_sq_norm,
    .rows_sq_norm = cpu_rows_sq_norm,
    .rows_axpy_clear = cpu_rows_axpy_clear,
    .sum_rows = cpu_sum_rows,
    .row_dot = cpu_row_dot,
    .row_scale_add = cpu_row_scale_add,
    .conv_pool_forward = fr_cpu_conv_pool_forward,
    .conv_pool_backward = fr_cpu_conv_pool_backward,
    .conv_pool_backward_rows = fr_cpu_conv_pool_backward_rows,
    .tap_products = fr_cpu_tap_products,
    .row_scale = fr_cpu_row_scale,
    .scatter_add_scaled_rows = fr_cpu_scatter_add_scaled_rows,
    .seg_sum_rows = fr_cpu_seg_sum_rows,
    .seg_sq_norm = fr_cpu_seg_sq_norm,
    .conv_w_pack = fr_cpu_conv_w_pack,
    .conv_w_unpack_add = fr_cpu_conv_w_unpack_add,
    .gru_forward = fr_cpu_gru_forward,
    .gru_backward = fr_cpu_gru_backward,
    .sampled_softmax = cpu_sampled_softmax,
    .topk_rows = fr_cpu_topk_rows,
    .adam = cpu_adam,
};

const fr_backend *fr_backend_cpu(void)
{
    return &cpu_backend;
}
