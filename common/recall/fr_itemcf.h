/* Item-to-item collaborative filtering from the site's own behaviour sequences: the
 * recall channel that needs no model.
 *
 * Co-occurrence: in every chronological sequence, each pair of positions at most
 * `window` apart adds 1/distance to C(i, j) and to C(j, i) (i != j; an item next to
 * itself adds nothing). Similarity, normalised like a cosine:
 *     sim(i, j) = C(i, j) / sqrt(n_i n_j),   n_i = events of item i.
 * Each item keeps only its `neighbours` most similar items (similarity descending,
 * row ascending on ties), so memory is bounded by V x neighbours whatever the data.
 * The build works one item at a time over an index of where each item occurs, so it
 * never holds the full pair matrix either.
 *
 * A user's score for item j sums sim(i, j) over the user's `recent` latest events i,
 * the latest weighted 1, the one before 1/2, then 1/3, ... (a repeated item counts
 * each time). */
#ifndef FR_ITEMCF_H
#define FR_ITEMCF_H

#include <stdint.h>

#include "util/fr_status.h"
#include "recall/fr_topk.h"

typedef struct fr_itemcf {
    int num_items; /* V, padding row 0 included */
    int window, neighbours;
    int64_t *off; /* V + 1: item i's neighbours are nbr/sim[off[i] .. off[i+1]) */
    int32_t *nbr; /* best first */
    float *sim;
} fr_itemcf;

/* Per-thread scratch of a query: V accumulators and the list of rows touched. */
typedef struct fr_itemcf_scratch {
    float *acc;       /* V, zero between queries */
    int32_t *touched; /* V */
} fr_itemcf_scratch;

/* n_seq sequences: sequence s is items[off[s] .. off[s+1]), oldest first, rows in
 * [1, num_items). window >= 1, neighbours >= 1; threads bounds the worker threads
 * (the result does not depend on it). */
FR_MUST fr_status fr_itemcf_build(fr_itemcf *cf, int num_items, const int32_t *items,
                                  const int64_t *off, int n_seq, int window, int neighbours,
                                  int threads, fr_err *err);
void fr_itemcf_free(fr_itemcf *cf);

/* sim(i, j) when j is among i's kept neighbours, else 0. */
float fr_itemcf_sim(const fr_itemcf *cf, int32_t i, int32_t j);

FR_MUST fr_status fr_itemcf_scratch_init(fr_itemcf_scratch *s, int num_items, fr_err *err);
void fr_itemcf_scratch_free(fr_itemcf_scratch *s);

/* Offer a user's scores to out (an empty heap: its cap and floor apply) for the user's
 * history hist (n rows, oldest first), reading its `recent` latest events; rows in excl
 * (may be NULL) and items with no similarity are never offered. */
void fr_itemcf_query(const fr_itemcf *cf, const int32_t *hist, long n, int recent,
                     const fr_topk_excl *excl, fr_itemcf_scratch *s, fr_topk *out);

#endif
