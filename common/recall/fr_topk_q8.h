/* Top-K over an 8-bit copy of the catalogue, then an exact re-rank: the recall
 * server's fast scan. A batch's scan of a float catalogue streams 4 bytes per item and
 * dimension (25.6 MB for 100,000 items at d = 64) and runs a float product per pair;
 * here each item is kept as d unsigned bytes, the scan runs integer products four
 * bytes at a time (AVX-512 VNNI where the CPU has it, plain C elsewhere, chosen at run
 * time), keeps each user's R best candidates by those approximate scores, and scores
 * the R candidates again exactly against the float item vectors. The final pairs are
 * exact search's whenever exact search's top K lie among the R candidates; with R at
 * least the catalogue's size they are exact search's, pair for pair.
 *
 * Quantisation. Only the order of one user's scores matters to the scan, and the
 * catalogue's mean adds the same amount to all of them, so the scan scores the
 * residuals r_i = x_i - mean: each is stored as round(r_i / s_i) + 128 in 0..255 with
 * s_i = max|r_i| / 127 (one scale per item), and each user vector u as round(u / s_u)
 * in -127..127. The approximate score of item i is s_i (sum_k byte_ik u_k - 128 sum_k
 * u_k), which is (u . r_i) / s_u up to rounding; s_u > 0 is the same for all items.
 *
 * Order. The items are stored in a fixed pseudo-random order of positions, not by
 * row: a catalogue's rows often come grouped (by cluster, by age), and a scan that met
 * a user's best group last would let thousands of pairs into the candidates, each
 * displaced later. In random order about R (1 + ln(N / R)) pairs ever enter.
 *
 * Layout: panels of FR_TOPK_PANEL positions; in panel p, dimension group g (4
 * dimensions, d rounded up to a multiple of 4 with zero residuals) holds position
 * t's 4 bytes at (p * groups + g) * 64 + 4 t. Memory: about V * d bytes plus 12 bytes
 * an item (its scale, its position and its row), a quarter of the float catalogue. */
#ifndef FR_TOPK_Q8_H
#define FR_TOPK_Q8_H

#include <stdint.h>

#include "util/fr_status.h"
#include "recall/fr_topk.h"
#include "recall/fr_topk_packed.h"

/* Candidates kept per user when the caller names none: max(2 k, 200): on the benchmark model
 * recall@100 against exact search was 0.987 with 100 candidates, 1.000 with 200. */
#define FR_TOPK_Q8_RERANK_MIN 200
#define FR_TOPK_Q8_RERANK_MUL 2

typedef struct fr_topk_q8 {
    int num_items, dim, groups, panels; /* groups = ceil(dim / 4) */
    uint8_t *data;                      /* panels x groups x FR_TOPK_PANEL x 4, 64-byte aligned */
    int positions;                      /* num_items - 1: row 0 (padding) has none */
    float *scale; /* panels x FR_TOPK_PANEL, by position: s_i (0 past the items) */
    int32_t *row; /* positions: the row stored there */
    int32_t *pos; /* num_items: each row's position (-1 for row 0) */
    float *mean;  /* dim: the catalogue's mean over rows 1.. */
} fr_topk_q8;

/* Quantise items (num_items, dim), row 0 the padding row (never scored). Allocates. */
FR_MUST fr_status fr_topk_q8_build(fr_topk_q8 *q, const float *items, int num_items, int dim,
                                   fr_err *err);
void fr_topk_q8_free(fr_topk_q8 *q);

/* Which kernel fr_topk_q8_dots uses. */
typedef enum { FR_Q8_AUTO = 0, FR_Q8_PORTABLE = 1, FR_Q8_SIMD = 2 } fr_q8_kernel;

/* Whether this CPU runs the SIMD kernel (AVX-512 with VNNI). */
int fr_topk_q8_simd_available(void);
/* The kernel fr_topk_q8_search uses from now on, for the whole process (tests run
 * the search on both): FR_Q8_AUTO (the default) the SIMD one where the CPU has it;
 * FR_Q8_SIMD on a CPU without it means FR_Q8_AUTO. Not thread-safe: call before
 * searches start. */
void fr_topk_q8_use_kernel(fr_q8_kernel kernel);
/* Name of the kernel FR_Q8_AUTO picks on this CPU, for logs. */
const char *fr_topk_q8_kernel_name(void);

/* Raw integer products of g (1..FR_TOPK_GROUP) quantised users uq (g, groups * 4
 * signed bytes, zero past dim) with the stored bytes of panels [p0, p1): user i's
 * product with position t goes to out[i * stride + (t - p0 * FR_TOPK_PANEL)]. The kernel
 * FR_Q8_SIMD needs fr_topk_q8_simd_available(); every kernel gives the same integers. */
void fr_topk_q8_dots(const fr_topk_q8 *q, const int8_t *uq, int g, int p0, int p1, int32_t *out,
                     int stride, fr_q8_kernel kernel);

/* As fr_topk_search_packed (tops empty, their cap K and floor apply, rows of excl[i]
 * never returned, row 0 never), through the 8-bit scan: each user keeps
 * max(rerank, K) candidates by approximate score (rerank 0: max(2 K, 200)), which are
 * then scored exactly against items (num_items, dim, the vectors q was built from)
 * with fr_topk_packed_rescore, so a returned score is exact search's to the bit; the
 * floor (threshold) is applied to those exact scores. One thread. */
FR_MUST fr_status fr_topk_q8_search(const fr_topk_q8 *q, const float *items, const float *users,
                                    int n, const fr_topk_excl *excl, int rerank, fr_topk *tops,
                                    fr_err *err);

#endif
