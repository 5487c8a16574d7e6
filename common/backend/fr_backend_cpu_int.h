/* The CPU backend's internals shared by its files: the thread count and product count
 * every op reads or adds to (fr_backend_cpu.c), and the ops defined outside that file
 * (fr_backend_cpu_nn.c, fr_backend_cpu_seg.c, fr_backend_cpu_topk.c) for its table. Not for use
 * elsewhere. */
#ifndef FR_BACKEND_CPU_INT_H
#define FR_BACKEND_CPU_INT_H

#include <stddef.h>
#include <stdint.h>

#include "backend/fr_backend.h"

/* Threads every op may use (set_threads). */
extern int fr_cpu_threads;
/* Floating-point operations of the products so far; added to with `omp atomic`. */
extern double fr_cpu_flops;

/* Below this many elements a loop is not worth waking a second thread for. */
#define FR_CPU_PAR_MIN 32768

/* Column range of thread `t` of `nt` over d columns, in blocks of 16 floats. */
static inline void fr_cpu_col_range(int t, int nt, int d, int *lo, int *hi)
{
    int blocks = (d + 15) / 16;
    int b0 = (int)((long)blocks * t / nt), b1 = (int)((long)blocks * (t + 1) / nt);
    *lo = b0 * 16;
    *hi = b1 * 16 < d ? b1 * 16 : d;
}

/* The ops of fr_backend_cpu_nn.c and fr_backend_cpu_topk.c; contracts in fr_backend.h. */
void fr_cpu_conv_pool_forward(float *m, int32_t *arg, const float *p, const int32_t *tok,
                              const float *bias, int nu, int T, int F);
void fr_cpu_conv_pool_backward(float *gp, float *dbias, const float *dm, const float *m,
                               const int32_t *arg, const int32_t *tok, int nu, int T, int F);
/* The sizes fr_cpu_conv_pool_backward_rows keeps its tap rows for on the stack; a larger
 * item or filter bank takes the branching loop. */
#define FR_CPU_POOL_MAX_T 64
#define FR_CPU_POOL_MAX_F 1024
void fr_cpu_conv_pool_backward_rows(float *gp, float *dbias, const float *dm, const float *m,
                                    const int32_t *arg, const int32_t *rows, const int32_t *tok,
                                    int nu, int T, int F);
void fr_cpu_tap_products(float *dx, float *dwr, const float *gp, const float *wr, const float *x,
                         int nt, int f3, int d);
void fr_cpu_conv_w_pack(float *wr, const float *w, int F, int d);
void fr_cpu_conv_w_unpack_add(float *dw, const float *dwr, int F, int d);
void fr_cpu_gru_forward(float *z, float *gates, float *ghn, const float *gi, const float *w_hh,
                        const float *b_hh, int L, int b, int d);
void fr_cpu_gru_backward(float *dgi, float *dgh, const float *dz, const float *gates,
                         const float *ghn, const float *z, const float *w_hh, int L, int b, int d);
void fr_cpu_row_scale(float *x, const float *s, int n, int d);
/* s NULL: every row times 1 (scatter_add_rows, the same bits) */
void fr_cpu_scatter_add_scaled_rows(float *dst, const float *src, const int32_t *rows,
                                    const float *s, int n, int d);
void fr_cpu_seg_sum_rows(float *out, const float *x, const int32_t *off, int nseg, int d);
void fr_cpu_seg_sq_norm(double *out, const float *x, const int32_t *off, int nseg, int d);
void fr_cpu_topk_rows(int32_t *rows, float *out, float *scores, int n, int v, int k, float floor,
                      const int32_t *excl_off, const int32_t *excl);

#endif
