/* Local top-K recall for a site's own users, by one of four strategies:
 *
 *   model    the user vector of the recall model over the user's latest L items
 *            (fr_nn_user_vectors), inner product with every item vector (computed
 *            once at init), top-K by blocked products and a bounded heap (fr_topk);
 *            with the model on an accelerator, by one product per chunk of users and
 *            the backend's selection, on the device (fr_recall_dev);
 *   itemcf   item-to-item co-occurrence over the site's sequences (fr_itemcf);
 *   popular  recent popularity with exponential decay (fr_popular);
 *   mix      the three merged by quotas (fr_recall_mix).
 *
 * A user's history is the full chronological sequence the data holds for them (train,
 * then validation, then test item): serving uses everything known. The items of the
 * history are excluded unless include_seen; padding row 0 and the model's retired items
 * (docs/catalogue.md) are never returned. A user
 * without history gets the popular ranking under the source "popular-fallback",
 * whatever the strategy, and without the threshold (its scores are on another scale).
 *
 * Popularity age. The dataset keeps each user's order of events but no timestamps, so
 * an event's age is counted in the user's own events: 0 for the user's latest, 1 for
 * the one before, and so on; the half-life is in those events (default 20). */
#ifndef FR_RECALL_H
#define FR_RECALL_H

#include <stdint.h>

#include "data/fr_data.h"
#include "recall/fr_itemcf.h"
#include "nn/fr_nn.h"
#include "recall/fr_popular.h"
#include "recall/fr_recall_dev.h"
#include "util/fr_status.h"

typedef enum fr_recall_strategy {
    FR_RECALL_MODEL,
    FR_RECALL_ITEMCF,
    FR_RECALL_POPULAR,
    FR_RECALL_MIX
} fr_recall_strategy;

/* Where a result came from; also the order of the channels in a mix. */
typedef enum fr_recall_source {
    FR_SRC_MODEL,
    FR_SRC_ITEMCF,
    FR_SRC_POPULAR,
    FR_SRC_POPULAR_FALLBACK,
    FR_SRC_COUNT
} fr_recall_source;

typedef struct fr_recall_config {
    fr_recall_strategy strategy;
    int k;             /* results per user, >= 1 */
    int use_threshold; /* keep only scores strictly above threshold (at most k) */
    float threshold;   /* not with mix: the channels' scores are not comparable */
    int include_seen;  /* return items of the user's history too */
    int seq_len;       /* L: the model reads the user's latest L items */
    int threads;
    int cf_window;        /* itemcf: pairs at most this far apart (5) */
    int cf_neighbours;    /* itemcf: neighbours kept per item (50) */
    int cf_recent;        /* itemcf: latest events of a user that vote (20) */
    double pop_half_life; /* popular: half-life in events (20) */
    int mix_model_pct;    /* mix quotas in percent of k (60, 25); popular gets the rest */
    int mix_itemcf_pct;
    /* cold start: the model channel scores only the items no user of the data has
     * touched (not retired), from their content and ID rows (docs/catalogue.md) */
    int cold_start;
} fr_recall_config;

typedef struct fr_recall_hit {
    int32_t row; /* item row, >= 1 */
    float score; /* on the scale of its source's channel */
    int source;  /* fr_recall_source */
} fr_recall_hit;

typedef struct fr_recall {
    fr_recall_config cfg;
    const fr_dataset *ds; /* borrowed */
    fr_nn *net;           /* borrowed; NULL without a model */
    int num_items, dim;
    int64_t *hist_off; /* U + 1: user u's history is hist[hist_off[u] .. hist_off[u+1]) */
    int32_t *hist;
    int64_t *seen_off; /* U + 1: the same rows, ascending and distinct */
    int32_t *seen;     /* each list holds the retired rows too */
    int32_t *retired;  /* the model's retired rows, ascending; NULL when none */
    long n_retired;
    float *item_vecs;              /* V x dim, with a model */
    fr_recall_dev dev;             /* with a model on an accelerator: the device search */
    fr_itemcf cf;                  /* built when the strategy uses it */
    fr_popular pop;                /* always (the fallback) */
    fr_itemcf_scratch *cf_scratch; /* one per thread */
    uint8_t *mark;                 /* V, zero between calls: membership during a mix */
    int n_cold;                    /* cold_start: the cold items */
    int32_t *cold_rows;            /* n_cold + 1: row of each, [0] = 0 (padding) */
    float *cold_vecs;              /* (n_cold + 1) x dim, row 0 zero: what the channel scans */
} fr_recall;

/* The cold items of r (fr_recall_cold.c): rows no history holds, not retired, and
 * their vectors, for the cold-start channel. Called by fr_recall_init. */
FR_MUST fr_status fr_recall_cold_build(fr_recall *r, fr_err *err);

/* 60/25/15 mix, k = 10, L = 50, 1 thread, the channel defaults above. */
void fr_recall_config_default(fr_recall_config *c);

/* "model", "itemcf", "popular", "mix". */
FR_MUST fr_status fr_recall_strategy_parse(const char *name, fr_recall_strategy *out, fr_err *err);
/* "model", "itemcf", "popular", "popular-fallback". */
const char *fr_recall_source_name(int source);

/* Prepare recall over ds (which must outlive r) with the model of net (NULL when the
 * strategy needs no model). The model's rows must be the data's rows, item for item:
 * the sizes are checked here, the ids by the caller, which knows how they are spelt.
 * Builds the histories, the popular ranking, the item vectors (model, mix) and the
 * item similarities (itemcf, mix). */
FR_MUST fr_status fr_recall_init(fr_recall *r, const fr_dataset *ds, fr_nn *net,
                                 const fr_recall_config *cfg, fr_err *err);
void fr_recall_free(fr_recall *r);

/* Results for n users (rows of ds, each in [0, U)): user i's are out[i*k .. i*k +
 * count[i]), best first. All the users' vectors come from one forward pass and their
 * scores from shared matrix products. One call at a time per fr_recall. */
FR_MUST fr_status fr_recall_users(fr_recall *r, const int32_t *users, int n, fr_recall_hit *out,
                                  int *count, fr_err *err);

/* Quotas of a mix of k: model = round(k * model_pct / 100), itemcf = round(k *
 * itemcf_pct / 100) (halves up, each cut to what is left), popular = the rest. */
void fr_recall_mix_quotas(int k, int model_pct, int itemcf_pct, int quota[3]);

/* Merge three channel lists (model, itemcf, popular; each best first, counts n[c]) into
 * at most k results in out, and return how many:
 *   1. take from each channel in turn, best first, up to its quota plus whatever the
 *      channels before it left unused; an item already taken is skipped (it keeps the
 *      first channel's source);
 *   2. order: the channels' scores are not comparable, so each result's place is its
 *      relative rank in its own channel, (rank + 0.5) / taken from that channel, and
 *      the results are sorted by it (ties: channel order). The channels interleave in
 *      proportion to what each gave: with 6/3/1 the top ten read m i m m i p m m i m.
 * mark: V bytes, zero on entry and on return. */
int fr_recall_mix(const fr_recall_hit *const lists[3], const int n[3], const int quota[3], int k,
                  uint8_t *mark, fr_recall_hit *out);

#endif
