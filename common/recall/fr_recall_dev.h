/* The model channel of recall on an accelerator: the catalogue's item vectors stay in
 * device memory, a chunk of users is scored against all of them in one matrix
 * product, and the backend's topk_rows picks each user's best items on the device, so
 * only k pairs per user come back to the host instead of a row per user.
 *
 * The CPU never takes this path: its blocked search (fr_topk_search) keeps one block
 * of scores in the cache and never holds a full row; a device reads rows at hundreds
 * of gigabytes a second, and one product per chunk is what keeps it busy. The results
 * are those of fr_topk_search (same pairs, same order) up to the rounding of the
 * scores. */
#ifndef FR_RECALL_DEV_H
#define FR_RECALL_DEV_H

#include <stdint.h>

#include "backend/fr_backend.h"
#include "util/fr_status.h"
#include "recall/fr_topk.h"

/* The scores of one chunk are at most this many floats (256 MiB). */
#define FR_RECALL_DEV_SCORES (1L << 26)

typedef struct fr_recall_dev {
    const fr_backend *be;
    float *items; /* device, V x d */
    int num_items, dim;
    long max_scores;   /* floats of scores per chunk: FR_RECALL_DEV_SCORES after init */
    float *scores;     /* device: the chunk's scores, kept between searches so that each
                        * batch of users does not allocate, clear and free up to 256 MiB */
    size_t scores_cap; /* floats */
} fr_recall_dev;

FR_MUST fr_status fr_recall_dev_init(fr_recall_dev *g, const fr_backend *be, const float *item_vecs,
                                     int num_items, int dim, fr_err *err);
void fr_recall_dev_free(fr_recall_dev *g);

/* For each of n user vectors users (n, dim) on the host: the k best item rows
 * (1..V-1) strictly above floor and outside excl[i] (may be NULL), as
 * fr_topk_search would keep them, best first into rows (n, k) and scores (n, k) on the
 * host; -1 and -INFINITY past the last one found. */
FR_MUST fr_status fr_recall_dev_search(fr_recall_dev *g, const float *users, int n,
                                       const fr_topk_excl *excl, int k, float floor, int32_t *rows,
                                       float *scores, fr_err *err);

#endif
