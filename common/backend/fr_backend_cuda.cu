/* The CUDA backend: the fr_backend table over device memory. Matrix products go
 * through cuBLAS (FP32; TF32 tensor cores only with FR_CUDA_TF32=1), everything else
 * through the plain kernels here and in fr_backend_cuda_nn.cu, each a line-by-line
 * transcription of the CPU reference (fr_backend_cpu.c, fr_backend_cpu_nn.c).
 *
 * Every op is queued on one stream and returns without waiting; the host waits only
 * where a value must come back (download, the two norms). Parameters, gradients and
 * optimiser state stay on the device between batches. Results match the CPU backend
 * within rounding, not bit for bit: sums run in another order (atomicAdd in scatters
 * and the conv backward), and exp/tanh are the device's. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/fr_backend_cuda_int.h"

extern "C" int fr_backend_cuda_so_open(const fr_backend **out, char *msg, size_t cap)
    __attribute__((visibility("default")));

cudaStream_t fr_cu_stream;
cublasHandle_t fr_cu_blas;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER; /* flops, open */
static pthread_mutex_t g_ws_lock = PTHREAD_MUTEX_INITIALIZER;
static double g_flops;
static void *g_ws;
static size_t g_ws_cap;

void fr_cu_fail(const char *what, const char *why, const char *file, int line)
{
    fprintf(stderr, "%s:%d: CUDA backend: %s failed: %s\n", file, line, what, why);
    abort();
}

void fr_cu_add_flops(double f)
{
    pthread_mutex_lock(&g_lock);
    g_flops += f;
    pthread_mutex_unlock(&g_lock);
}

static double cu_flop_count(void)
{
    pthread_mutex_lock(&g_lock);
    double f = g_flops;
    pthread_mutex_unlock(&g_lock);
    return f;
}

void fr_cu_ws_lock(void)
{
    pthread_mutex_lock(&g_ws_lock);
}
void fr_cu_ws_unlock(void)
{
    pthread_mutex_unlock(&g_ws_lock);
}

void *fr_cu_ws(size_t bytes)
{
    if (bytes > g_ws_cap) {
        /* ops queued earlier may still read the old one */
        if (g_ws) {
            FR_CU(cudaStreamSynchronize(fr_cu_stream));
            FR_CU(cudaFree(g_ws));
        }
        g_ws = NULL;
        size_t cap = bytes + bytes / 2;
        FR_CU(cudaMalloc(&g_ws, cap));
        g_ws_cap = cap;
    }
    return g_ws;
}

/* ---- memory ---- */

static void *cu_alloc(size_t bytes)
{
    void *p = NULL;
    size_t n = bytes ? bytes : 256; /* the model reads NULL as out of memory */
    if (cudaMalloc(&p, n) != cudaSuccess) {
        cudaGetLastError(); /* an allocation failure is reported as NULL, not kept */
        return NULL;
    }
    if (cudaMemsetAsync(p, 0, n, fr_cu_stream) != cudaSuccess) {
        cudaFree(p);
        return NULL;
    }
    return p;
}

/* Frees come at the end of a run or of an evaluation pass: waiting for the queued ops
 * that may still use p costs nothing there. */
static void cu_free(void *p)
{
    if (p) {
        FR_CU(cudaStreamSynchronize(fr_cu_stream));
        FR_CU(cudaFree(p));
    }
}

/* Both copies wait for the stream: the caller may reuse or read its host buffer as
 * soon as they return. This is the one wait per batch (indices up, loss down). */
static void cu_upload(void *dst, const void *src, size_t bytes)
{
    if (!bytes)
        return;
    FR_CU(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, fr_cu_stream));
    FR_CU(cudaStreamSynchronize(fr_cu_stream));
}

static void cu_download(void *dst, const void *src, size_t bytes)
{
    if (!bytes)
        return;
    FR_CU(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, fr_cu_stream));
    FR_CU(cudaStreamSynchronize(fr_cu_stream));
}

/* The device runs every op; host threads only feed it. */
static void cu_set_threads(int threads)
{
    (void)threads;
}

static void cu_zero(float *x, size_t n)
{
    if (n)
        FR_CU(cudaMemsetAsync(x, 0, n * sizeof(float), fr_cu_stream));
}

/* ---- matrix products ---- */

__global__ void k_scale_matrix(float *c, int m, int n, int ldc, float beta)
{
    size_t total = (size_t)m * n;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total;
         e += (size_t)gridDim.x * blockDim.x) {
        size_t i = e / n, j = e % n;
        float *x = c + i * ldc + j;
        *x = beta == 0.0f ? 0.0f : beta * *x;
    }
}

/* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: the same call
 * with the operands swapped and m, n exchanged; each matrix's leading dimension is
 * unchanged, since a row-major matrix read column-major is its transpose. */
void fr_cu_gemm_raw(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                    const float *b, int ldb, float beta, float *c, int ldc)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0) { /* C = beta C, as the CPU backend does; cuBLAS is not asked */
        k_scale_matrix<<<fr_cu_blocks((size_t)m * n), FR_CU_THREADS, 0, fr_cu_stream>>>(c, m, n,
                                                                                        ldc, beta);
        FR_CU_LAUNCHED();
        return;
    }
    FR_CUBLAS(cublasSgemm(fr_cu_blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                          ta ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, b, ldb, a, lda, &beta, c,
                          ldc));
}

static void cu_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                    const float *b, int ldb, float beta, float *c, int ldc)
{
    if (m <= 0 || n <= 0)
        return;
    if (k > 0)
        fr_cu_add_flops(2.0 * m * n * k);
    fr_cu_gemm_raw(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* tap_products: cuBLAS's dense products; on the device the zeros of gp cost less than
 * the list of its set entries would. nt 0 leaves dwr zero (k = 0 scales it by 0). */
static void cu_tap_products(float *dx, float *dwr, const float *gp, const float *wr, const float *x,
                            int nt, int f3, int d)
{
    cu_gemm(0, 0, nt, d, f3, 1.0f, gp, f3, wr, d, 0.0f, dx, d);
    cu_gemm(1, 0, f3, d, nt, 1.0f, gp, f3, x, d, 0.0f, dwr, d);
}

/* ---- element-wise and row ops ---- */

__global__ void k_gather_rows(float *out, const float *src, const int32_t *rows, int n, int d)
{
    GRID_LOOP(e, (size_t)n * d)
    {
        size_t i = e / d, j = e % d;
        int32_t r = rows[i];
        out[e] = r < 0 ? 0.0f : src[(size_t)r * d + j];
    }
}

static void cu_gather_rows(float *out, const float *src, const int32_t *rows, int n, int d)
{
    LAUNCH(k_gather_rows, (size_t)n * d, out, src, rows, n, d);
}

/* rows may repeat: additions to one row meet in atomicAdd */
__global__ void k_scatter_add_rows(float *dst, const float *src, const int32_t *rows, int n, int d)
{
    GRID_LOOP(e, (size_t)n * d)
    {
        size_t i = e / d, j = e % d;
        int32_t r = rows[i];
        if (r >= 0)
            atomicAdd(dst + (size_t)r * d + j, src[e]);
    }
}

static void cu_scatter_add_rows(float *dst, const float *src, const int32_t *rows, int n, int d)
{
    LAUNCH(k_scatter_add_rows, (size_t)n * d, dst, src, rows, n, d);
}

__global__ void k_add_bias(float *x, const float *b, int n, int d)
{
    GRID_LOOP(e, (size_t)n * d) x[e] += b[e % d];
}

static void cu_add_bias(float *x, const float *b, int n, int d)
{
    LAUNCH(k_add_bias, (size_t)n * d, x, b, n, d);
}

__global__ void k_axpy(float *y, float a, const float *x, size_t n)
{
    GRID_LOOP(i, n) y[i] += a * x[i];
}

static void cu_axpy(float *y, float a, const float *x, size_t n)
{
    LAUNCH(k_axpy, n, y, a, x, n);
}

__global__ void k_scale(float *x, float a, size_t n)
{
    GRID_LOOP(i, n) x[i] *= a;
}

static void cu_scale(float *x, float a, size_t n)
{
    LAUNCH(k_scale, n, x, a, n);
}

__global__ void k_mul(float *x, const float *m, size_t n)
{
    GRID_LOOP(i, n) x[i] *= m[i];
}

static void cu_mul(float *x, const float *m, size_t n)
{
    LAUNCH(k_mul, n, x, m, n);
}

/* Sum of v over the block, in double, valid in thread 0 (blockDim.x = FR_CU_THREADS). */
__device__ double block_sum(double v)
{
    __shared__ double part[FR_CU_THREADS / 32];
    for (int o = 16; o > 0; o /= 2)
        v += __shfl_down_sync(0xffffffffu, v, o);
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    if (lane == 0)
        part[warp] = v;
    __syncthreads();
    v = 0.0;
    if (warp == 0) {
        v = lane < FR_CU_THREADS / 32 ? part[lane] : 0.0;
        for (int o = 16; o > 0; o /= 2)
            v += __shfl_down_sync(0xffffffffu, v, o);
    }
    __syncthreads(); /* part may be reused by the caller's next call */
    return v;
}

/* *acc += sum of x[i]^2 (or of the listed rows' entries when rows is set) */
__global__ void k_sq_norm(double *acc, const float *x, const int32_t *rows, size_t n, int d)
{
    double s = 0.0;
    GRID_LOOP(e, n)
    {
        float v = rows ? x[(size_t)rows[e / d] * d + e % d] : x[e];
        s += (double)v * v;
    }
    s = block_sum(s);
    if (threadIdx.x == 0)
        atomicAdd(acc, s);
}

/* The one reduction slot lives in the workspace: the lock keeps two threads' norms
 * from sharing it, and the download waits for the sum. */
static double sq_norm_any(const float *x, const int32_t *rows, size_t n, int d)
{
    double total = 0.0;
    if (n == 0)
        return 0.0;
    fr_cu_ws_lock();
    double *acc = (double *)fr_cu_ws(sizeof(double));
    FR_CU(cudaMemsetAsync(acc, 0, sizeof(double), fr_cu_stream));
    k_sq_norm<<<fr_cu_blocks(n), FR_CU_THREADS, 0, fr_cu_stream>>>(acc, x, rows, n, d);
    FR_CU_LAUNCHED();
    cu_download(&total, acc, sizeof total);
    fr_cu_ws_unlock();
    return total;
}

static double cu_sq_norm(const float *x, size_t n)
{
    return sq_norm_any(x, NULL, n, 1);
}

static double cu_rows_sq_norm(const float *x, const int32_t *rows, int n_rows, int d)
{
    return n_rows > 0 && d > 0 ? sq_norm_any(x, rows, (size_t)n_rows * d, d) : 0.0;
}

/* rows are distinct: every entry has one writer */
__global__ void k_rows_axpy_clear(float *y, float a, float *x, const int32_t *rows, int n_rows,
                                  int d)
{
    GRID_LOOP(e, (size_t)n_rows * d)
    {
        size_t o = (size_t)rows[e / d] * d + e % d;
        y[o] += a * x[o];
        x[o] = 0.0f;
    }
}

static void cu_rows_axpy_clear(float *y, float a, float *x, const int32_t *rows, int n_rows, int d)
{
    LAUNCH(k_rows_axpy_clear, (size_t)n_rows * d, y, a, x, rows, n_rows, d);
}

/* Column sums: block (bx, by) sums column j over its share of the rows, in order, and
 * adds the partial sum to out[j]. */
#define SUM_ROWS_CHUNK 64
__global__ void k_sum_rows(float *out, const float *x, int n, int d)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= d)
        return;
    for (int i0 = blockIdx.y * SUM_ROWS_CHUNK; i0 < n; i0 += gridDim.y * SUM_ROWS_CHUNK) {
        int i1 = i0 + SUM_ROWS_CHUNK < n ? i0 + SUM_ROWS_CHUNK : n;
        float s = 0.0f;
        for (int i = i0; i < i1; i++)
            s += x[(size_t)i * d + j];
        atomicAdd(out + j, s);
    }
}

static void cu_sum_rows(float *out, const float *x, int n, int d)
{
    if (n <= 0 || d <= 0)
        return;
    int chunks = (n + SUM_ROWS_CHUNK - 1) / SUM_ROWS_CHUNK;
    dim3 grid((unsigned)((d + FR_CU_THREADS - 1) / FR_CU_THREADS),
              (unsigned)(chunks < 1024 ? chunks : 1024));
    k_sum_rows<<<grid, FR_CU_THREADS, 0, fr_cu_stream>>>(out, x, n, d);
    FR_CU_LAUNCHED();
}

/* One warp per row. */
__global__ void k_row_dot(float *out, const float *a, const float *b, int n, int d)
{
    size_t warps = ((size_t)gridDim.x * blockDim.x) / 32;
    int lane = threadIdx.x % 32;
    for (size_t i = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32; i < (size_t)n;
         i += warps) {
        const float *x = a + i * d, *y = b + i * d;
        float s = 0.0f;
        for (int j = lane; j < d; j += 32)
            s += x[j] * y[j];
        for (int o = 16; o > 0; o /= 2)
            s += __shfl_down_sync(0xffffffffu, s, o);
        if (lane == 0)
            out[i] = s;
    }
}

static void cu_row_dot(float *out, const float *a, const float *b, int n, int d)
{
    LAUNCH(k_row_dot, (size_t)n * 32, out, a, b, n, d);
}

__global__ void k_row_scale_add(float *out, const float *s, const float *a, int n, int d)
{
    GRID_LOOP(e, (size_t)n * d) out[e] += s[e / d] * a[e];
}

static void cu_row_scale_add(float *out, const float *s, const float *a, int n, int d)
{
    LAUNCH(k_row_scale_add, (size_t)n * d, out, s, a, n, d);
}

/* ---- Adam ---- */

__global__ void k_adam(float *p, float *g, float *m, float *v, size_t n, float step, float b1,
                       float b2, float eps, float sbc2)
{
    GRID_LOOP(i, n)
    {
        float mi = b1 * m[i] + (1.0f - b1) * g[i];
        float vi = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        m[i] = mi;
        v[i] = vi;
        p[i] -= step * mi / (sqrtf(vi) / sbc2 + eps);
        g[i] = 0.0f;
    }
}

static void cu_adam(float *p, float *g, float *m, float *v, size_t n, float lr, float b1, float b2,
                    float eps, long t)
{
    /* the bias corrections on the host, with the CPU backend's arithmetic */
    float bc1 = 1.0f - powf(b1, (float)t), bc2 = 1.0f - powf(b2, (float)t);
    float step = lr / bc1, sbc2 = sqrtf(bc2);
    LAUNCH(k_adam, n, p, g, m, v, n, step, b1, b2, eps, sbc2);
}

/* ---- the table ---- */

static fr_backend g_cuda;
static int g_opened; /* 0: not tried, 1: open, -1: failed with g_why */
static char g_why[256];

static int open_device(void)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count < 1) {
        snprintf(g_why, sizeof g_why, "no CUDA device: %s",
                 e != cudaSuccess ? cudaGetErrorString(e) : "none found");
        cudaGetLastError();
        return -1;
    }
    if ((e = cudaSetDevice(0)) != cudaSuccess ||
        (e = cudaStreamCreateWithFlags(&fr_cu_stream, cudaStreamNonBlocking)) != cudaSuccess) {
        snprintf(g_why, sizeof g_why, "CUDA device 0 unusable: %s", cudaGetErrorString(e));
        cudaGetLastError();
        return -1;
    }
    cublasStatus_t s = cublasCreate(&fr_cu_blas);
    if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasSetStream(fr_cu_blas, fr_cu_stream);
    /* TF32 rounds the products' inputs to 10 mantissa bits: faster, and far enough
     * from the CPU backend that it is never the default. */
    const char *tf32 = getenv("FR_CUDA_TF32");
    if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasSetMathMode(fr_cu_blas, tf32 && !strcmp(tf32, "1") ? CUBLAS_TF32_TENSOR_OP_MATH
                                                                     : CUBLAS_DEFAULT_MATH);
    if (s != CUBLAS_STATUS_SUCCESS) {
        snprintf(g_why, sizeof g_why, "cuBLAS unusable: %s", cublasGetStatusString(s));
        return -1;
    }
    fr_backend *b = &g_cuda;
    b->name = "cuda";
    b->alloc = cu_alloc;
    b->free = cu_free;
    b->upload = cu_upload;
    b->download = cu_download;
    b->set_threads = cu_set_threads;
    b->flop_count = cu_flop_count;
    b->zero = cu_zero;
    b->gemm = cu_gemm;
    b->gather_rows = cu_gather_rows;
    b->scatter_add_rows = cu_scatter_add_rows;
    b->add_bias = cu_add_bias;
    b->axpy = cu_axpy;
    b->scale = cu_scale;
    b->mul = cu_mul;
    b->sq_norm = cu_sq_norm;
    b->rows_sq_norm = cu_rows_sq_norm;
    b->rows_axpy_clear = cu_rows_axpy_clear;
    b->sum_rows = cu_sum_rows;
    b->row_dot = cu_row_dot;
    b->row_scale_add = cu_row_scale_add;
    b->conv_pool_forward = fr_cu_conv_pool_forward;
    b->conv_pool_backward = fr_cu_conv_pool_backward;
    b->conv_pool_backward_rows = fr_cu_conv_pool_backward_rows;
    b->row_scale = fr_cu_row_scale;
    b->scatter_add_scaled_rows = fr_cu_scatter_add_scaled_rows;
    b->seg_sum_rows = fr_cu_seg_sum_rows;
    b->seg_sq_norm = fr_cu_seg_sq_norm;
    b->dp_noise = fr_cu_dp_noise;
    b->tap_products = cu_tap_products;
    b->conv_w_pack = fr_cu_conv_w_pack;
    b->conv_w_unpack_add = fr_cu_conv_w_unpack_add;
    b->gru_forward = fr_cu_gru_forward;
    b->gru_backward = fr_cu_gru_backward;
    b->sampled_softmax = fr_cu_sampled_softmax;
    b->topk_rows = fr_cu_topk_rows;
    b->adam = cu_adam;
    const char *prof = getenv("FR_CUDA_PROFILE");
    if (prof && !strcmp(prof, "1"))
        return fr_cu_prof_wrap(b, g_why, sizeof g_why);
    return 0;
}

/* The shared object's one export, called by fr_backend_cuda_load.c. */
extern "C" int fr_backend_cuda_so_open(const fr_backend **out, char *msg, size_t cap)
{
    pthread_mutex_lock(&g_lock);
    if (!g_opened)
        g_opened = open_device() == 0 ? 1 : -1;
    int ok = g_opened == 1;
    pthread_mutex_unlock(&g_lock);
    *out = ok ? &g_cuda : NULL;
    if (!ok)
        snprintf(msg, cap, "%s", g_why);
    return ok ? 0 : -1;
}
