/* A catalogue diff (docs/catalogue.md, "A diff"): the item file of a format with a
 * first column "change" whose value on each row says what the row does: add (a new
 * item, its content from the rest of the row), update (new content for a live item)
 * or retire (the rest of the row names the item; its content is not read). One file
 * makes one catalogue version, so related changes are published together. */
#ifndef FR_CATDIFF_H
#define FR_CATDIFF_H

#include "fed/fr_catver.h"
#include "util/fr_status.h"

/* How many rows of each change a diff made. */
typedef struct fr_catdiff_counts {
    int added, updated, retired;
    int reused; /* of the added: items that took reclaimed rows */
} fr_catdiff_counts;

/* Apply the diff in folder dir (movies.csv for movielens-csv, items.csv for
 * events-csv: formats with a header, so that the "change" column is named) to cv.
 * The rows to add and to update are written, without their change column, as item
 * files of the format under work (an empty folder of the caller's, left empty) and
 * read by fr_items_load, so that their content tokens are exactly those of the
 * format's reader. Refused with FR_EINVAL and one line quoting the
 * diff's FILE:LINE and the row: a change that is not add, update or retire, a row
 * without an id, an id named on two rows, an added id already in the catalogue (a
 * retired one included), an updated or retired id not in it or retired, a row the
 * format's reader refuses. FR_EIO when the diff cannot be read. After a failure cv may
 * be partly changed: the caller writes nothing. The added items take the rows
 * reclaimable at floor first (fr_catver_add_reclaiming); rows the diff retires are not
 * among them. */
FR_MUST fr_status fr_catdiff_apply(fr_catver *cv, const char *dir, const char *format,
                                   const char *work, long floor, fr_catdiff_counts *counts,
                                   fr_err *err);

#endif
