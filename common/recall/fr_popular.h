/* Recent popularity: the recall channel that needs no model and no history, and the
 * fallback for users without history.
 *
 * Every event of item j adds 2^(-age / half_life) to j's score, where age is how far
 * the event lies behind the newest one, in whatever unit the caller measures (seconds
 * from the newest timestamp, or events); an event half_life old counts half as much
 * as a new one. The ranking (score descending, row ascending on ties) is computed once
 * at init, so a query walks it from the top and skips only the rows it must exclude. */
#ifndef FR_POPULAR_H
#define FR_POPULAR_H

#include <stdint.h>

#include "util/fr_status.h"
#include "recall/fr_topk.h"

typedef struct fr_popular {
    int num_items; /* V, padding row 0 included */
    double half_life;
    float *score;   /* V; row 0 = 0 */
    int32_t *order; /* V - 1 rows 1..V-1, best first */
} fr_popular;

/* n events: items[e] in [1, num_items) at age[e] >= 0; half_life > 0. */
FR_MUST fr_status fr_popular_init(fr_popular *p, int num_items, const int32_t *items,
                                  const double *age, long n, double half_life, fr_err *err);
void fr_popular_free(fr_popular *p);

/* The best k rows scoring strictly above floor and not in excl (may be NULL). Writes
 * rows[] and scores[] best first and returns how many (at most k). */
int fr_popular_top(const fr_popular *p, const fr_topk_excl *excl, float floor, int k, int32_t *rows,
                   float *scores);

#endif
