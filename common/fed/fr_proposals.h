/* Proposals from the edge (docs/catalogue.md): the item ids a node's data names that
 * the catalogue lacks, each with the number of the node's events on it, sent in the
 * join message's optional "unknown_items" bin so that the operator sees what to add.
 * Only ids counted at least the node's threshold are sent (never a user, a time or an
 * event), at most FR_PROPOSALS_MAX of them.
 *
 * The bin is text: one "ID<TAB>COUNT\n" line per id, the id 1 to 64 printable ASCII
 * bytes without blanks, the count a decimal in [1, 10^12]; at most FR_PROPOSALS_MAX
 * lines. Parsed here, in one place, against those bounds. */
#ifndef FR_PROPOSALS_H
#define FR_PROPOSALS_H

#include <stddef.h>
#include <stdint.h>

#include "data/fr_unknown.h"
#include "util/fr_status.h"

#define FR_PROPOSALS_MAX 100
#define FR_PROPOSALS_MAX_BYTES (FR_PROPOSALS_MAX * (FR_UNKNOWN_MAX_KEY + 15))

typedef struct fr_proposal {
    char id[FR_UNKNOWN_MAX_KEY + 1];
    long count;
} fr_proposal;

/* The ids of u counted at least min_count times (FR_PROPOSALS_MAX at most, most counted
 * first) as the bin's text into out (cap >= FR_PROPOSALS_MAX_BYTES + 1); returns its
 * length (0: nothing to propose). Ids the text cannot carry (blanks, control bytes)
 * are left out. */
size_t fr_proposals_encode(const fr_unknown *u, long min_count, char *out, size_t cap);

/* Parse len bytes into out[0..*n) (FR_PROPOSALS_MAX entries). FR_EFORMAT naming the
 * line at fault. */
FR_MUST fr_status fr_proposals_parse(const uint8_t *p, size_t len, fr_proposal *out, int *n,
                                     fr_err *err);

#endif
