/* A tally of the item ids a node's data names that its catalogue lacks (the events
 * dropped as unknown_item), so that the node can propose them to the operator
 * (docs/catalogue.md, "Proposals from the edge"). Counts only: no user, no time. The
 * table is bounded: past FR_UNKNOWN_MAX_IDS distinct ids, new ones are not tracked
 * (counted in untracked), so a flood of junk ids costs a fixed amount of memory. */
#ifndef FR_UNKNOWN_H
#define FR_UNKNOWN_H

#include <stddef.h>

#include "util/fr_status.h"

#define FR_UNKNOWN_MAX_IDS 65536
#define FR_UNKNOWN_MAX_KEY 64 /* bytes of an id tracked; longer ids are not tracked */

typedef struct fr_unknown_entry {
    char key[FR_UNKNOWN_MAX_KEY + 1]; /* "" = empty slot */
    long count;
} fr_unknown_entry;

typedef struct fr_unknown {
    fr_unknown_entry *slot; /* open addressing, 2 * FR_UNKNOWN_MAX_IDS slots; NULL until used */
    long used;
    long untracked; /* events on ids not tracked (table full, id too long) */
} fr_unknown;

/* Count one event on id (n bytes). Allocates the table at the first call; a failure
 * to allocate counts the event as untracked. */
void fr_unknown_add(fr_unknown *u, const char *id, size_t n);
void fr_unknown_free(fr_unknown *u);

/* The ids counted at least min_count times, most counted first (ties by id), at most
 * max of them, into out (pointers into u, valid until it changes); returns how many. */
int fr_unknown_top(const fr_unknown *u, long min_count, int max, const fr_unknown_entry **out);

#endif
