/* Shared by the CUDA backend's files (fr_backend_cuda*.cu): the one stream every op
 * is queued on, the cuBLAS handle, the workspace, launch sizes and error checks.
 *
 * One stream for every host thread: DP-SGD's workers call the backend from several
 * threads, and a single queue keeps each op after everything submitted before it, so
 * the host's own ordering (barriers, locks) carries over to the device. The
 * workspace is one grow-only device buffer; an op that uses it holds ws_lock while it
 * submits its work, and the stream's order keeps the next holder's work behind. */
#ifndef FR_BACKEND_CUDA_INT_H
#define FR_BACKEND_CUDA_INT_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/fr_backend.h"

extern cudaStream_t fr_cu_stream;
extern cublasHandle_t fr_cu_blas;

/* A failed CUDA or cuBLAS call inside an op cannot be reported through the table's
 * void functions: the program stops with the op and the reason. */
void fr_cu_fail(const char *what, const char *why, const char *file, int line);
#define FR_CU(call)                                                                                \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess)                                                                     \
            fr_cu_fail(#call, cudaGetErrorString(e_), __FILE__, __LINE__);                         \
    } while (0)
#define FR_CUBLAS(call)                                                                            \
    do {                                                                                           \
        cublasStatus_t s_ = (call);                                                                \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                           \
            fr_cu_fail(#call, cublasGetStatusString(s_), __FILE__, __LINE__);                      \
    } while (0)
/* After a kernel launch: a bad launch configuration shows here, without a sync. */
#define FR_CU_LAUNCHED() FR_CU(cudaGetLastError())

/* Threads per block, and blocks for n elements in a grid-stride loop. */
#define FR_CU_THREADS 256
static inline unsigned fr_cu_blocks(size_t n)
{
    size_t b = (n + FR_CU_THREADS - 1) / FR_CU_THREADS;
    return (unsigned)(b < 1 ? 1 : b > 65535 ? 65535 : b);
}

/* An element-wise kernel's loop over total elements (grid-stride), and its launch on
 * the one stream with the block count fr_cu_blocks gives (nothing for no elements). */
#define GRID_LOOP(e, total)                                                                        \
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < (total);                    \
         e += (size_t)gridDim.x * blockDim.x)
#define LAUNCH(kernel, total, ...)                                                                 \
    do {                                                                                           \
        if ((total) > 0) {                                                                         \
            kernel<<<fr_cu_blocks(total), FR_CU_THREADS, 0, fr_cu_stream>>>(__VA_ARGS__);          \
            FR_CU_LAUNCHED();                                                                      \
        }                                                                                          \
    } while (0)

/* Workspace of at least `bytes`, valid while the lock is held. */
void fr_cu_ws_lock(void);
void fr_cu_ws_unlock(void);
void *fr_cu_ws(size_t bytes);

void fr_cu_add_flops(double f);

/* FR_CUDA_PROFILE=1: wraps every entry of the table to time it on the device and
 * print a table at exit (fr_backend_cuda_prof.cu). */
int fr_cu_prof_wrap(fr_backend *b, char *why, size_t cap);

/* Row-major C (m,n) = alpha op(A) op(B) + beta C through cuBLAS, without counting. */
void fr_cu_gemm_raw(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                    const float *b, int ldb, float beta, float *c, int ldc);

/* The network ops (fr_backend_cuda_nn.cu). */
void fr_cu_conv_pool_forward(float *m, int32_t *arg, const float *p, const int32_t *tok,
                             const float *bias, int nu, int t, int f);
void fr_cu_conv_pool_backward(float *gp, float *dbias, const float *dm, const float *m,
                              const int32_t *arg, const int32_t *tok, int nu, int t, int f);
void fr_cu_conv_pool_backward_rows(float *gp, float *dbias, const float *dm, const float *m,
                                   const int32_t *arg, const int32_t *rows, const int32_t *tok,
                                   int nu, int t, int f);
void fr_cu_conv_w_pack(float *wr, const float *w, int f, int d);
void fr_cu_conv_w_unpack_add(float *dw, const float *dwr, int f, int d);
void fr_cu_gru_forward(float *z, float *gates, float *ghn, const float *gi, const float *w_hh,
                       const float *b_hh, int l, int b, int d);
void fr_cu_gru_backward(float *dgi, float *dgh, const float *dz, const float *gates,
                        const float *ghn, const float *z, const float *w_hh, int l, int b, int d);
void fr_cu_sampled_softmax(float *logits, float *pos, const int32_t *neg, const int32_t *tgt, int n,
                           int k, float scale, float *loss);
/* The per-example ops of a batch of several users (fr_backend_cuda_seg.cu). */
void fr_cu_row_scale(float *x, const float *s, int n, int d);
void fr_cu_scatter_add_scaled_rows(float *dst, const float *src, const int32_t *rows,
                                   const float *s, int n, int d);
void fr_cu_seg_sum_rows(float *out, const float *x, const int32_t *off, int nseg, int d);
void fr_cu_seg_sq_norm(double *out, const float *x, const int32_t *off, int nseg, int d);
void fr_cu_dp_noise(float *out, const unsigned char *key, uint64_t nonce0, size_t n, size_t chunk,
                    double stddev);
/* Recall's selection (fr_backend_cuda_topk.cu). */
void fr_cu_topk_rows(int32_t *rows, float *out, float *scores, int n, int v, int k, float floor,
                     const int32_t *excl_off, const int32_t *excl);

#endif
