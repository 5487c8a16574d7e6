/* An inverted-file (IVF) index over a catalogue's item vectors, for the recall
 * server's model channel: exact search reads every item vector for every user
 * (100,000 x 64 multiply-adds a request), which caps a two-core server near 3,000
 * lists a second; the index reads a few lists of similar items instead, and reports
 * what that costs in recall (docs/recall.md, "The index").
 *
 * Build: spherical k-means on the items' directions from the catalogue's mean (each
 * item vector less the mean of all, scaled to unit length): Lloyd's iterations from
 * nlist distinct items drawn with the seed, on a sample of at most
 * FR_IVF_TRAIN_PER_LIST items per list; then every item joins the list of the
 * centroid closest to its direction. A model's item vectors share a large common
 * part (the mean), which adds the same amount to all of a user's scores; clustering
 * the raw vectors grouped them by that part and their length, and probing such lists
 * found almost none of the best items. Each list's vectors are packed for the scoring
 * kernel of fr_topk_packed. Same items, same configuration: the same index (the
 * products run single-threaded).
 *
 * Search: a user's lists are the nprobe whose centroids (unit directions) have the
 * highest inner product with the user's vector, i.e. the directions in which the
 * user's scores rise fastest from the mean's; the items of those lists are
 * scored exactly and kept in the user's heap, in fr_topk's order, with its floor (a
 * threshold) and without the excluded rows, as exact search does. With nprobe =
 * nlist every item is scored with the same kernel and the same sums, so the result is
 * exact search's, pair for pair. */
#ifndef FR_IVF_H
#define FR_IVF_H

#include <stdint.h>

#include "util/fr_status.h"
#include "recall/fr_topk.h"
#include "recall/fr_topk_packed.h"

/* Items per list that k-means trains on (at most): more adds build time, not quality. */
#define FR_IVF_TRAIN_PER_LIST 64

typedef struct fr_ivf_config {
    int nlist;     /* lists; 0: the square root of the item count */
    int nprobe;    /* lists a query reads when it names none; capped at nlist */
    int iters;     /* Lloyd iterations (>= 1) */
    uint64_t seed; /* the initial centroids and the training sample */
} fr_ivf_config;

/* nlist 0 (auto), nprobe 200 (recall@100 0.96 on the benchmark model's 316 lists,
 * docs/benchmarks.md), 10 iterations, seed 1. */
void fr_ivf_config_default(fr_ivf_config *c);

typedef struct fr_ivf {
    int num_items, dim, nlist, nprobe;
    float *centroids;       /* (nlist, dim) */
    int32_t *off;           /* nlist + 1: list l holds rows[off[l] .. off[l+1]) */
    int32_t *rows;          /* item rows, list after list, ascending within each */
    fr_topk_packed *packed; /* nlist: each list's item vectors for the kernel */
    int max_list;           /* items of the longest list */
} fr_ivf;

/* Build the index of items (num_items, dim), row 0 the padding row (in no list). */
FR_MUST fr_status fr_ivf_build(fr_ivf *ix, const float *items, int num_items, int dim,
                               const fr_ivf_config *cfg, fr_err *err);
/* ix may be zeroed or built. */
void fr_ivf_free(fr_ivf *ix);

/* As fr_topk_search_packed, over the lists each user probes: nprobe[i] lists for user
 * i (0: the index's default; capped at nlist), or the default for all when nprobe is
 * NULL. tops must be empty (their cap and floor apply); excl may be NULL. */
FR_MUST fr_status fr_ivf_search(const fr_ivf *ix, const float *users, int n, const int *nprobe,
                                const fr_topk_excl *excl, fr_topk *tops, fr_err *err);

#endif
