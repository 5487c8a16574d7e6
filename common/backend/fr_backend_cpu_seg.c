/* The CPU backend's per-example ops of a batch of several users (row_scale,
 * scatter_add_scaled_rows, seg_sum_rows, seg_sq_norm; contracts in fr_backend_ops.h). */
#include "backend/fr_backend_cpu_int.h"

#include <omp.h>

void fr_cpu_row_scale(float *x, const float *s, int n, int d)
{
#pragma omp parallel for schedule(static)                                                          \
    num_threads(fr_cpu_threads) if ((size_t)n * d > FR_CPU_PAR_MIN)
    for (int i = 0; i < n; i++) {
        float *r = x + (size_t)i * d, a = s[i];
#pragma omp simd
        for (int j = 0; j < d; j++)
            r[j] *= a;
    }
}

void fr_cpu_scatter_add_scaled_rows(float *dst, const float *src, const int32_t *rows,
                                    const float *s, int n, int d)
{
    /* as scatter_add_rows: each thread a range of columns over all rows in order, so a
     * repeated row's additions keep their order and no two threads write one entry */
    int nt = ((size_t)n * d > FR_CPU_PAR_MIN && d >= 32) ? fr_cpu_threads : 1;
#pragma omp parallel num_threads(nt)
    {
        int lo, hi;
        fr_cpu_col_range(omp_get_thread_num(), omp_get_num_threads(), d, &lo, &hi);
        for (int i = 0; i < n; i++) {
            if (rows[i] < 0)
                continue;
            float *o = dst + (size_t)rows[i] * d, a = s ? s[i] : 1.0f; /* times 1: exact */
            const float *r = src + (size_t)i * d;
#pragma omp simd
            for (int j = lo; j < hi; j++)
                o[j] += a * r[j];
        }
    }
}

void fr_cpu_seg_sum_rows(float *out, const float *x, const int32_t *off, int nseg, int d)
{
    /* segments are independent: one thread per segment, rows in order within it */
#pragma omp parallel for schedule(dynamic, 1)                                                      \
    num_threads(fr_cpu_threads) if (nseg > 1 && (size_t)(off[nseg] - off[0]) * d > FR_CPU_PAR_MIN)
    for (int k = 0; k < nseg; k++) {
        float *o = out + (size_t)k * d;
        for (int32_t i = off[k]; i < off[k + 1]; i++) {
            const float *r = x + (size_t)i * d;
#pragma omp simd
            for (int j = 0; j < d; j++)
                o[j] += r[j];
        }
    }
}

void fr_cpu_seg_sq_norm(double *out, const float *x, const int32_t *off, int nseg, int d)
{
#pragma omp parallel for schedule(dynamic, 1)                                                      \
    num_threads(fr_cpu_threads) if (nseg > 1 && (size_t)(off[nseg] - off[0]) * d > FR_CPU_PAR_MIN)
    for (int k = 0; k < nseg; k++) {
        double s = 0.0;
        for (int32_t i = off[k]; i < off[k + 1]; i++) {
            const float *r = x + (size_t)i * d;
#pragma omp simd reduction(+ : s)
            for (int j = 0; j < d; j++)
                s += (double)r[j] * r[j];
        }
        out[k] += s;
    }
}
