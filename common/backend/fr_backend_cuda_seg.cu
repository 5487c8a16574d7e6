/* The CUDA backend's per-example ops of a batch of several users (row_scale,
 * scatter_add_scaled_rows, seg_sum_rows, seg_sq_norm; contracts in fr_backend_ops.h). A
 * segment's rows are contiguous, so one block walks one segment (grid-stride over
 * segments) and no two blocks write the same output. */
#include "backend/fr_backend_cuda_int.h"

__global__ void k_row_scale(float *x, const float *s, int n, int d)
{
    GRID_LOOP(e, (size_t)n * d) x[e] *= s[e / d];
}

void fr_cu_row_scale(float *x, const float *s, int n, int d)
{
    LAUNCH(k_row_scale, (size_t)n * d, x, s, n, d);
}

/* rows may repeat: additions to one row meet in atomicAdd, as in scatter_add_rows */
__global__ void k_scatter_add_scaled_rows(float *dst, const float *src, const int32_t *rows,
                                          const float *s, int n, int d)
{
    GRID_LOOP(e, (size_t)n * d)
    {
        size_t i = e / d, j = e % d;
        int32_t r = rows[i];
        if (r >= 0)
            atomicAdd(dst + (size_t)r * d + j, s[i] * src[e]);
    }
}

void fr_cu_scatter_add_scaled_rows(float *dst, const float *src, const int32_t *rows,
                                   const float *s, int n, int d)
{
    LAUNCH(k_scatter_add_scaled_rows, (size_t)n * d, dst, src, rows, s, n, d);
}

static unsigned seg_blocks(int nseg)
{
    return (unsigned)(nseg < 1 ? 1 : nseg > 65535 ? 65535 : nseg);
}

/* Threads over the columns, rows in order: the same sum as the CPU's loop. */
__global__ void k_seg_sum_rows(float *out, const float *x, const int32_t *off, int nseg, int d)
{
    for (int k = blockIdx.x; k < nseg; k += gridDim.x)
        for (int j = threadIdx.x; j < d; j += blockDim.x) {
            float s = out[(size_t)k * d + j];
            for (int32_t i = off[k]; i < off[k + 1]; i++)
                s += x[(size_t)i * d + j];
            out[(size_t)k * d + j] = s;
        }
}

void fr_cu_seg_sum_rows(float *out, const float *x, const int32_t *off, int nseg, int d)
{
    if (nseg <= 0 || d <= 0)
        return;
    k_seg_sum_rows<<<seg_blocks(nseg), FR_CU_THREADS, 0, fr_cu_stream>>>(out, x, off, nseg, d);
    FR_CU_LAUNCHED();
}

__global__ void k_seg_sq_norm(double *out, const float *x, const int32_t *off, int nseg, int d)
{
    __shared__ double part[FR_CU_THREADS / 32];
    for (int k = blockIdx.x; k < nseg; k += gridDim.x) {
        size_t lo = (size_t)off[k] * d, hi = (size_t)off[k + 1] * d;
        double s = 0.0;
        for (size_t e = lo + threadIdx.x; e < hi; e += blockDim.x)
            s += (double)x[e] * x[e];
        for (int o = 16; o > 0; o /= 2)
            s += __shfl_down_sync(0xffffffffu, s, o);
        if (threadIdx.x % 32 == 0)
            part[threadIdx.x / 32] = s;
        __syncthreads();
        if (threadIdx.x == 0) {
            double t = 0.0;
            for (int w = 0; w < (int)(blockDim.x / 32); w++)
                t += part[w];
            out[k] += t;
        }
        __syncthreads();
    }
}

void fr_cu_seg_sq_norm(double *out, const float *x, const int32_t *off, int nseg, int d)
{
    if (nseg <= 0 || d <= 0)
        return;
    k_seg_sq_norm<<<seg_blocks(nseg), FR_CU_THREADS, 0, fr_cu_stream>>>(out, x, off, nseg, d);
    FR_CU_LAUNCHED();
}
