/* The CPU backend's tap products (see fr_backend_ops.h, tap_products): the token
 * layers' per-user shares of DP-SGD's batched step. Apart from the other network
 * layers (fr_backend_cpu_nn.c) because this file alone is built with contracted
 * multiply-adds (the Makefile's -ffp-contract=fast for its object; ISO C11 turns them
 * off): every update of dwr's rows is a load, a multiply-add and a store, and as a
 * separate multiply and add each of those rows took half as long again (the same
 * products measured both ways, docs/benchmarks.md, "The tap products in wider
 * vectors"). The tests hold the op to the dense products in double, which no rounding
 * order changes. */
#include <cblas.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif
#include <string.h>

#include "backend/fr_backend_cpu_int.h"

/* Sixteen floats: the vector type the loops below are written in. GCC and Clang lower
 * it to one register where the machine has 64-byte ones, else to two or four: sixteen
 * is the width at which a row of 64 columns is four loads, four multiply-adds and four
 * stores on AVX-512, where eight took twice the instructions for the same data. Loads
 * and stores are macros, not functions: a function that takes or returns this type has
 * another calling convention with AVX than without, which the compiler warns about. */
typedef float tap_v16 __attribute__((vector_size(64)));
#define V16_LOAD(v, p) memcpy(&(v), (p), sizeof(tap_v16))
#define V16_STORE(p, v) memcpy((p), &(v), sizeof(tap_v16))
#define V16_SPLAT(s) ((tap_v16){0} + (s))

/* s0..s3 += v times the 64 floats at w, in four vector sums */
#define TAP_SUM_64(s0, s1, s2, s3, v, w)                                                           \
    do {                                                                                           \
        tap_v16 x_;                                                                                \
        V16_LOAD(x_, (w));                                                                         \
        s0 += (v)*x_;                                                                              \
        V16_LOAD(x_, (w) + 16);                                                                    \
        s1 += (v)*x_;                                                                              \
        V16_LOAD(x_, (w) + 32);                                                                    \
        s2 += (v)*x_;                                                                              \
        V16_LOAD(x_, (w) + 48);                                                                    \
        s3 += (v)*x_;                                                                              \
    } while (0)

/* 64 of dx's columns summed over a row's listed entries: two entries a turn in two
 * sets of four vector sums, so that eight multiply-adds are in flight while each one
 * waits for the one before it in its sum. */
static void tap_row_64(float *o, const int *idx, const float *val, int n, const float *wr, int d)
{
    tap_v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
    int e = 0;
    for (; e + 2 <= n; e += 2) {
        TAP_SUM_64(a0, a1, a2, a3, V16_SPLAT(val[e]), wr + (size_t)idx[e] * d);
        TAP_SUM_64(b0, b1, b2, b3, V16_SPLAT(val[e + 1]), wr + (size_t)idx[e + 1] * d);
    }
    if (e < n)
        TAP_SUM_64(a0, a1, a2, a3, V16_SPLAT(val[e]), wr + (size_t)idx[e] * d);
    a0 += b0;
    a1 += b1;
    a2 += b2;
    a3 += b3;
    V16_STORE(o, a0);
    V16_STORE(o + 16, a1);
    V16_STORE(o + 32, a2);
    V16_STORE(o + 48, a3);
}

/* The set entries of a row g (f3): their columns in idx and values in val, in column
 * order (NaN counts as set); returns how many. idx and val hold f3 + 16. */
static int tap_list(int *idx, float *val, const float *g, int f3)
{
    int n = 0, c = 0;
#ifdef __AVX512F__
    /* sixteen at a time, compressed in registers and stored whole: the next store
     * overwrites the unset tail (a compress straight to memory is slow on some cores) */
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (; c + 16 <= f3; c += 16) {
        __m512 v = _mm512_loadu_ps(g + c);
        __mmask16 m = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
        _mm512_storeu_ps(val + n, _mm512_maskz_compress_ps(m, v));
        _mm512_storeu_si512(
            idx + n, _mm512_maskz_compress_epi32(m, _mm512_add_epi32(iota, _mm512_set1_epi32(c))));
        n += __builtin_popcount((unsigned)m);
    }
#endif
    for (; c < f3; c++) { /* without a branch: the test is unpredictable */
        idx[n] = c;
        val[n] = g[c];
        n += g[c] != 0.0f;
    }
    return n;
}

/* One thread, like conv_pool_backward_rows: DP-SGD calls it for one user at a time from
 * each worker. A user's tap rows are mostly zeros (on ml-latest-small a fifth of their
 * entries are set, although a token sits in six of the user's items on average), so
 * each row's set entries are listed first and only they are multiplied: the dense
 * products spent four-fifths of their work on zeros, and were the largest cost of the
 * batched DP step (docs/benchmarks.md). */
void fr_cpu_tap_products(float *restrict dx, float *restrict dwr, const float *restrict gp,
                         const float *restrict wr, const float *restrict x, int nt, int f3, int d)
{
    memset(dwr, 0, (size_t)f3 * d * sizeof(float));
    if (nt <= 0)
        return;
    if (f3 > 3 * FR_CPU_POOL_MAX_F) { /* a list that would not fit the stack: dense */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nt, d, f3, 1.0f, gp, f3, wr, d, 0.0f,
                    dx, d);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, f3, d, nt, 1.0f, gp, f3, x, d, 0.0f,
                    dwr, d);
        return;
    }
    int idx[3 * FR_CPU_POOL_MAX_F + 16];
    float val[3 * FR_CPU_POOL_MAX_F + 16];
    int d64 = d - d % 64;
    for (int t = 0; t < nt; t++) {
        const float *g = gp + (size_t)t * f3, *xt = x + (size_t)t * d;
        float *o = dx + (size_t)t * d;
        int n = tap_list(idx, val, g, f3);
        for (int j0 = 0; j0 < d64; j0 += 64)
            tap_row_64(o + j0, idx, val, n, wr + j0, d);
        if (d64 < d) { /* the columns past the last 64: entry by entry */
            memset(o + d64, 0, (size_t)(d - d64) * sizeof(float));
            for (int e = 0; e < n; e++) {
                const float *w = wr + (size_t)idx[e] * d;
                for (int j = d64; j < d; j++)
                    o[j] += val[e] * w[j];
            }
        }
        /* dwr's rows of the listed entries, each entry its own row (no sum to wait on):
         * the token's 64 columns stay in registers while its entries' rows go through */
        for (int j0 = 0; j0 < d64; j0 += 64) {
            tap_v16 x0, x1, x2, x3, y;
            V16_LOAD(x0, xt + j0);
            V16_LOAD(x1, xt + j0 + 16);
            V16_LOAD(x2, xt + j0 + 32);
            V16_LOAD(x3, xt + j0 + 48);
            for (int e = 0; e < n; e++) {
                float *gw = dwr + (size_t)idx[e] * d + j0;
                tap_v16 v = V16_SPLAT(val[e]);
                V16_LOAD(y, gw);
                y += v * x0;
                V16_STORE(gw, y);
                V16_LOAD(y, gw + 16);
                y += v * x1;
                V16_STORE(gw + 16, y);
                V16_LOAD(y, gw + 32);
                y += v * x2;
                V16_STORE(gw + 32, y);
                V16_LOAD(y, gw + 48);
                y += v * x3;
                V16_STORE(gw + 48, y);
            }
        }
        for (int e = 0; e < n && d64 < d; e++) {
            float *gw = dwr + (size_t)idx[e] * d;
            for (int j = d64; j < d; j++)
                gw[j] += val[e] * xt[j];
        }
    }
}
