/* Synthetic behaviour data with planted sequential structure, written in the
 * movielens-csv layout. It gives fedrecall's tests, demos and benchmarks a dataset of
 * any size whose answer is known: users walk their cluster's item chain, so a sequence
 * model must clearly beat a popularity ranking on it, while the files still exercise
 * the reader (sparse ids, quoted titles with commas and "", tied timestamps). */
#ifndef FR_SYNTH_H
#define FR_SYNTH_H

#include <stdint.h>

#include "util/fr_status.h"

typedef struct fr_synth_config {
    int users;      /* >= 1 */
    int items;      /* >= 2 * clusters */
    int clusters;   /* >= 1; each owns a disjoint block of items and a walk order over it */
    int min_events; /* events per user drawn uniformly in [min_events, max_events] */
    int max_events;
    uint64_t seed; /* the same config and seed give byte-identical files */
} fr_synth_config;

/* 500 users, 300 items, 8 clusters, 20..60 events per user, seed 1. */
void fr_synth_config_default(fr_synth_config *c);

/* Checks c; on failure names the offending field. */
FR_MUST fr_status fr_synth_check(const fr_synth_config *c, fr_err *err);

/* Writes dir/ratings.csv (userId,movieId,rating,timestamp) and dir/movies.csv
 * (movieId,title,genres), creating dir (its last component) when missing. Users walk
 * their cluster's order: the next item is the successor with probability 0.7, a
 * random item of the cluster with 0.2, a popularity-skewed item of the whole catalogue
 * with 0.1. Timestamps rise per user, with occasional ties; each user's rows are
 * written in shuffled order so that readers must sort them. */
FR_MUST fr_status fr_synth_write(const fr_synth_config *c, const char *dir, fr_err *err);

/* External ids used in the files: sparse and not starting at 0 or 1, so that the
 * dense row mapping is exercised. */
int64_t fr_synth_item_id(int item);
int64_t fr_synth_user_id(int user);

#endif
