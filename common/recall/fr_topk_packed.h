/* Top-K over a catalogue whose item vectors are laid out once, ahead of the queries,
 * for the scoring kernel: the recall server's path. fr_topk_search hands each block of
 * items to sgemm, which copies (packs) the block into its own layout on every call; a
 * server that scores a few dozen users at a time over 100,000 items spent as long
 * packing as multiplying. Here the catalogue is packed once per model, in panels of
 * FR_TOPK_PANEL items (panel p, dimension k: the k-th component of items p*W ..
 * p*W+W-1, side by side), and a small kernel scores groups of users against a block of
 * panels that stays in the cache, so each block is read from memory once per batch.
 *
 * The kept pairs follow fr_topk's order (score descending, row ascending); the scores
 * are the same inner products as fr_topk_search's up to float rounding (the sums run
 * in another order). */
#ifndef FR_TOPK_PACKED_H
#define FR_TOPK_PACKED_H

#include "util/fr_status.h"
#include "recall/fr_topk.h"

#define FR_TOPK_PANEL 16
/* Users the kernel scores together (fr_topk_packed_scores takes at most this many). */
#define FR_TOPK_GROUP 6

typedef struct fr_topk_packed {
    int num_items, dim, panels;
    float *data; /* panels x dim x FR_TOPK_PANEL, 64-byte aligned; rows past V are 0 */
} fr_topk_packed;

/* Pack items (num_items, dim), row 0 the padding row. */
FR_MUST fr_status fr_topk_pack(fr_topk_packed *p, const float *items, int num_items, int dim,
                               fr_err *err);
void fr_topk_packed_free(fr_topk_packed *p);

/* As fr_topk_search: for each of n user vectors (n, dim) keep the best pairs over rows
 * 1..num_items-1 in tops[i] (empty heaps: their cap and floor apply), never a row of
 * excl[i] (excl may be NULL). threads > 1 splits the catalogue over OpenMP threads
 * (per-thread tops, then merged), so that one batch of users uses every core while
 * reading the catalogue once. */
FR_MUST fr_status fr_topk_search_packed(const fr_topk_packed *p, const float *users, int n,
                                        const fr_topk_excl *excl, int threads, fr_topk *tops,
                                        fr_err *err);

/* The scores of g (1..FR_TOPK_GROUP) user vectors users (g, dim) against every row of
 * p, padding rows included: user i's score of row r goes to out[i * stride + r], and
 * stride must be at least p->panels * FR_TOPK_PANEL. For scorers of their own (the
 * inverted-file index scores each probed list this way); no row is skipped. */
void fr_topk_packed_scores(const fr_topk_packed *p, const float *users, int g, float *out,
                           int stride);

/* The inner products of user u (dim floats) with rows rows[0..n) of items (row-major,
 * dim floats a row) into out[0..n), with the kernel's rounding: each the same float,
 * to the bit, as the score fr_topk_search_packed gives that user and item. For
 * re-scoring a few hundred items exactly. */
void fr_topk_packed_rescore(const float *items, int dim, const float *u, const int32_t *rows, int n,
                            float *out);

#endif
