/* Behaviour data: readers, dense rows, chronological leave-one-out split and the
 * training windows of the model spec (docs/model-spec conventions):
 *   items  -> rows 1..V-1 in ascending external id (row 0 = padding); only items
 *             with at least one interaction form the catalogue;
 *   users  -> 0..U-1 in ascending external id;
 *   events -> per user, sorted by timestamp with a stable sort (ties keep file order),
 *             repeated events kept;
 *   split  -> last item = test, second to last = validation, rest = train; users
 *             with fewer than 3 events are train-only (valid = test = 0);
 *   tokens -> V x T hashed content token rows (FNV-1a 32 mod (Vt-1) + 1), 0 = pad. */
#ifndef FR_DATA_H
#define FR_DATA_H

#include <stdint.h>

#include "fr_status.h"

#define FR_DATA_BAD_LINES 5 /* line numbers remembered per skip reason */

typedef struct fr_data_report {
    long rows_read;      /* data rows seen (header excluded) */
    long rows_skipped;   /* malformed rows dropped */
    long bad_lines[FR_DATA_BAD_LINES]; /* first line numbers (1-based) of skipped rows */
    int n_bad_lines;
    long content_rows;   /* rows of the item content file read */
    long content_skipped;/* malformed content rows dropped */
    char bad_reason[160];/* why the first skipped row (line bad_lines[0]) was dropped */
} fr_data_report;

typedef struct fr_dataset {
    int num_items;     /* V, padding row 0 included */
    int num_users;     /* U */
    int num_tokens;    /* T */
    int token_vocab;   /* Vt */
    int64_t *item_ids; /* V; item_ids[0] = 0 (padding has none), rows 1..V-1 ascending */
    int64_t *user_ids; /* U, ascending */
    int32_t *tokens;   /* V x T token rows; row 0 and items without content all 0 */
    int64_t *train_off;/* U + 1: user u's train items are train_items[train_off[u] .. train_off[u+1]) */
    int32_t *train_items;
    int32_t *valid;    /* U item rows, 0 = train-only user */
    int32_t *test;     /* U */
    int32_t *eval_users; /* users with a test item, ascending */
    int num_eval_users;
    long interactions;     /* events kept */
    long items_with_content;
    fr_data_report report;
} fr_dataset;

/* Formats understood by fr_dataset_load (NULL-terminated), for messages and --help. */
extern const char *const fr_data_formats[];

/* Read `path` in `format` ("movielens-csv": a folder with ratings.csv and optional
 * movies.csv) and build the dataset. Malformed rows are counted and skipped unless
 * strict is set. Fails with a message naming the path when a file is missing or
 * unreadable, the format is unknown, or no interaction survives. */
FR_MUST fr_status fr_dataset_load(fr_dataset *ds, const char *path, const char *format,
                                  int num_tokens, int token_vocab, int strict, fr_err *err);
void fr_dataset_free(fr_dataset *ds);

/* Training windows of width L+1 (inputs = [0, L), targets = [1, L]): each user's train
 * items cut into non-overlapping windows aligned at the newest item, only the oldest
 * may be shorter (left-padded with 0), one-item windows dropped; users in order, each
 * user's windows oldest first. Allocates *out (n x (L+1)); *n_positions counts the
 * non-padding inputs. */
FR_MUST fr_status fr_dataset_windows(const fr_dataset *ds, int seq_len, int32_t **out,
                                     long *n_windows, long *n_positions, fr_err *err);

/* The last L items of seq (n items), left-padded with 0, into out[L]. */
void fr_left_pad(const int32_t *seq, long n, int seq_len, int32_t *out);

/* FNV-1a 32-bit hash of a byte string, and the token row it maps to in [1, vocab). */
uint32_t fr_fnv1a32(const void *data, size_t len);
int32_t fr_token_row(const char *token, size_t len, int vocab);

/* Content tokens of a movielens item: its '|'-separated genres verbatim (placeholder
 * genres "(no genres listed)" and "unknown" dropped), then its title words (ASCII
 * A-Z lowercased, the 32 ASCII punctuation characters deleted, split on ASCII
 * whitespace, non-ASCII kept), cut to T; writes the hashed rows to out[T] (0-padded)
 * and returns how many are set. */
int fr_item_tokens(const char *genres, const char *title, int num_tokens, int vocab,
                   int32_t *out);

#endif
