/* Item catalogues without behaviour data: the items of a content file alone (movies.csv,
 * u.item, items.csv), as the rows and token rows a federation's initial global model
 * is built on. The rows follow the data module's rule (ascending id, as integers when
 * every id is one, else byte-wise) and the tokens are its own, computed by the same
 * code; so for a folder whose every item has an interaction, fr_items_load gives the
 * rows and tokens that fr_dataset_load gives. Also the bridge from a model to the
 * fixed catalogue a node loads its data with, which keeps fr_data free of the model. */
#ifndef FR_ITEMS_H
#define FR_ITEMS_H

#include <stdint.h>

#include "data/fr_data.h"
#include "nn/fr_model.h"
#include "util/fr_status.h"

typedef struct fr_items {
    int num_items;     /* V, padding row 0 included */
    int numeric;       /* every item id is an integer: item_ids is set */
    int64_t *item_ids; /* V, item_ids[0] = 0; NULL unless numeric */
    char **item_keys;  /* V ids as strings, item_keys[0] = ""; one allocation */
    int32_t *tokens;   /* V x T token rows; row 0 all 0 */
    int num_tokens;    /* T */
    int token_vocab;   /* Vt */
    long rows_read;    /* rows of the item file (header and ignored blank lines excluded) */
    long rows_skipped; /* malformed rows dropped: rows_read - rows_skipped rows were used */
    long skipped_lines[FR_DATA_BAD_LINES]; /* the smallest of their line numbers */
    int n_skipped_lines;
    char file[FR_DATA_FILE_NAME]; /* the item file read */
} fr_items;

/* Read the item file of the data folder path in format: movies.csv (movielens-csv),
 * u.item with u.genre (movielens-100k) or items.csv (events-csv), read with the rules
 * of docs/data.md. Every item with a valid row becomes a row (an item with several
 * rows gets the tokens of its last); malformed rows are counted and passed over.
 * FR_EINVAL for an unknown format, sasrec (which has no item file) or bad T / Vt;
 * FR_EIO when the item file is missing or unreadable; FR_EFORMAT for a bad
 * events-csv header; FR_ENODATA when no row is valid. On failure it is zeroed. */
FR_MUST fr_status fr_items_load(fr_items *it, const char *path, const char *format, int num_tokens,
                                int token_vocab, fr_err *err);
void fr_items_free(fr_items *it);

/* The fixed catalogue of model m's rows: its item keys when it has them, else its item
 * ids, and its token rows. c points into m, which must outlive its use. */
void fr_data_catalogue_from_model(fr_data_catalogue *c, const fr_model *m);

/* The same for an item catalogue read by fr_items_load; c points into it. */
void fr_data_catalogue_from_items(fr_data_catalogue *c, const fr_items *it);

#endif
