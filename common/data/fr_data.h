/* Behaviour data: the readers of every supported format, cleaning, dense rows, the
 * chronological leave-one-out split and the training windows of the model spec
 * (docs/model-spec conventions; the formats themselves are documented in docs/data.md):
 *   items  -> rows 1..V-1 in ascending external id (row 0 = padding); only items
 *             with at least one kept interaction form the catalogue. Ids compare
 *             as integers when every item id of the data set is one, else as byte
 *             strings. A fixed catalogue (fr_data_catalogue) replaces this rule:
 *             its rows are the items, whether they occur in the data or not;
 *   users  -> 0..U-1 in ascending external id, by the same rule;
 *   events -> per user, sorted by timestamp with a stable sort (ties keep file order),
 *             repeated events kept unless deduplication is asked for;
 *   split  -> last item = test, second to last = validation, rest = train; users
 *             with fewer than 3 events are train-only (valid = test = 0);
 *   tokens -> V x T hashed content token rows (FNV-1a 32 mod (Vt-1) + 1), 0 = pad. */
#ifndef FR_DATA_H
#define FR_DATA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/fr_status.h"

#define FR_DATA_BAD_LINES 5   /* line numbers remembered per skip reason */
#define FR_DATA_MAX_KEY 256   /* bytes of an external id (string ids of events-csv) */
#define FR_DATA_FILE_NAME 512 /* bytes of a file name kept in the report */

/* Why a row of the events file was dropped. Rows are checked in this order and
 * counted under the first reason that applies: the row's own fields, the cleaning
 * the operator chose, membership of a fixed catalogue, then (once the whole file is
 * read) duplicates and the k-core. */
typedef enum fr_skip {
    FR_SKIP_MALFORMED,       /* wrong field count, open quote, over-long line, an id
                              * that is not an integer where the format needs one */
    FR_SKIP_BAD_ID,          /* a string id empty, too long, not UTF-8 or with
                              * control characters */
    FR_SKIP_BAD_TIMESTAMP,   /* timestamp missing or not a number */
    FR_SKIP_BAD_VALUE,       /* value present but not a finite number (events-csv) */
    FR_SKIP_TIMESTAMP_RANGE, /* outside --min-timestamp / --max-timestamp */
    FR_SKIP_EVENT_FILTER,    /* fails --event-filter */
    FR_SKIP_UNKNOWN_ITEM,    /* its item is not in the fixed catalogue */
    FR_SKIP_DUPLICATE,       /* same (user, item, timestamp) as an earlier row (--dedupe) */
    FR_SKIP_K_CORE,          /* its user or item has too few events (--min-*-events) */
    FR_SKIP_COUNT
} fr_skip;

/* The reason's name in reports and JSON: "malformed", "bad_id", ... */
const char *fr_skip_name(fr_skip reason);

typedef struct fr_data_skips {
    long count;
    long lines[FR_DATA_BAD_LINES]; /* the smallest line numbers (1-based), ascending */
    int n_lines;
    char why[160]; /* why the row at lines[0] was dropped */
} fr_data_skips;

typedef struct fr_data_report {
    char events_file[FR_DATA_FILE_NAME];  /* path of the file the events came from */
    char content_file[FR_DATA_FILE_NAME]; /* path of the item content file; "" if none */
    long rows_read;    /* data rows seen (header and ignored blank lines excluded) */
    long rows_skipped; /* rows dropped, all reasons: rows_read = interactions + this */
    fr_data_skips skipped[FR_SKIP_COUNT];
    long bad_lines[FR_DATA_BAD_LINES]; /* smallest line numbers of dropped rows, any reason */
    int n_bad_lines;
    char bad_reason[160];                  /* why the row at bad_lines[0] was dropped */
    int k_core_rounds;                     /* passes of the k-core filter until nothing changed */
    long content_rows;                     /* rows of the item content file read */
    long content_skipped;                  /* malformed content rows dropped */
    long content_lines[FR_DATA_BAD_LINES]; /* their first line numbers */
    int n_content_lines;
    long value_count;             /* kept events with a value (rating or value column) */
    double value_mean, value_std; /* of those values, before normalisation */
} fr_data_report;

/* A fixed item catalogue: the item rows of a federation's global model, so that every
 * node maps its own data onto the same rows. Row i (1..V-1) is item item_ids[i], or
 * item_keys[i] for string ids: exactly one of the two is set. An item_ids catalogue
 * matches data ids that are integers by value (events-csv: in their one canonical
 * spelling); an item_keys one matches the id's text byte for byte. Row 0 is padding;
 * its id is not read. The load only reads the catalogue: the dataset gets copies. */
typedef struct fr_data_catalogue {
    int num_items;                /* V, padding row 0 included */
    const int64_t *item_ids;      /* V, or NULL */
    const char *const *item_keys; /* V, or NULL */
    const int32_t *tokens;        /* V x T content token rows, each in [0, Vt) */
    int num_tokens;               /* T */
} fr_data_catalogue;

/* Cleaning and reading choices. A zeroed struct (or NULL) is the default: nothing
 * dropped but malformed rows, which matches the PyTorch peer's readers. */
typedef struct fr_data_options {
    int strict;          /* fail at the first malformed row (malformed, bad_id,
                          * bad_timestamp, bad_value, or a malformed content row) */
    int dedupe;          /* drop repeats of the same (user, item, timestamp) */
    int min_user_events; /* k-core: drop users with fewer kept events (0 = off) */
    int min_item_events; /* k-core: likewise items; both iterated until stable */
    int has_min_timestamp, has_max_timestamp;
    double min_timestamp, max_timestamp; /* inclusive bounds when has_* is set */
    const char *event_filter; /* "FIELD OP VALUE", OP one of = != < <= > >=; NULL = off */
    /* NULL: items are those of the data. Else the item rows, ids and tokens are the
     * catalogue's (the content file is not read, and T must be the catalogue's),
     * events of other items are dropped as unknown_item, and every catalogue item
     * keeps its row even without an event. */
    const fr_data_catalogue *catalogue;
    /* NULL: off. Else an events-csv folder whose events.csv rows are read after the
     * data's own (a missing file adds none), cleaned alike and merged before the
     * split: the recall service's behaviour log as training data. */
    const char *extra_events;
    /* NULL: off. Else every event dropped as unknown_item is counted here by item id
     * (data/fr_unknown.h): what a node proposes to add to the catalogue. */
    struct fr_unknown *unknown;
} fr_data_options;

typedef struct fr_dataset {
    int num_items;        /* V, padding row 0 included */
    int num_users;        /* U */
    int num_tokens;       /* T */
    int token_vocab;      /* Vt */
    int item_ids_numeric; /* every item id is an integer: item_ids is set */
    int user_ids_numeric; /* likewise users: user_ids is set */
    int64_t *item_ids;    /* V; item_ids[0] = 0 (padding has none); NULL unless numeric */
    int64_t *user_ids;    /* U, ascending; NULL unless numeric */
    char **item_keys;     /* V external ids as strings, item_keys[0] = ""; one allocation */
    char **user_keys;     /* U, ascending; one allocation */
    int32_t *tokens;      /* V x T token rows; row 0 and items without content all 0 */
    int64_t *
        train_off; /* U + 1: user u's train items are train_items[train_off[u] .. train_off[u+1]) */
    int32_t *train_items;
    int32_t *valid;      /* U item rows, 0 = train-only user */
    int32_t *test;       /* U */
    int32_t *eval_users; /* users with a test item, ascending */
    int num_eval_users;
    /* z-scores of the events' values (ratings), aligned with train_items, valid and
     * test; an event without a value has 0. NULL when the data has no values. Kept
     * for use as weights: the model of the spec does not read them. */
    float *train_values;
    float *valid_values;
    float *test_values;
    long interactions; /* events kept */
    long items_with_content;
    fr_data_report report;
} fr_dataset;

/* Formats understood by fr_dataset_load (NULL-terminated), for messages and --help. */
extern const char *const fr_data_formats[];

/* Read path in format and build the dataset:
 *   "movielens-csv"  folder with ratings.csv and optional movies.csv
 *   "movielens-100k" folder with u.data and optional u.item, u.genre
 *   "sasrec"         a file of "user item" lines in time order
 *   "events-csv"     folder with events.csv and optional items.csv
 * opts (NULL = defaults) says what is cleaned away; every dropped row is counted by
 * reason in ds->report. Fails with a message naming the path when a file is missing
 * or unreadable, the format or an option is unknown or malformed, a row is malformed
 * under opts->strict, or no interaction survives (the report is kept then). A
 * catalogue in opts is refused (FR_EINVAL) when its T is not num_tokens, a token
 * lies outside [0, token_vocab), or two rows name one item. */
FR_MUST fr_status fr_dataset_load(fr_dataset *ds, const char *path, const char *format,
                                  int num_tokens, int token_vocab, const fr_data_options *opts,
                                  fr_err *err);
void fr_dataset_free(fr_dataset *ds);

/* The external id of item row `row` ("" for the padding row 0), or NULL when row is
 * outside [0, V). */
const char *fr_dataset_item_key(const fr_dataset *ds, int row);

/* The user index of external user id key, or -1 when no such user is in the data.
 * With numeric user ids, key is read as an integer (" 42" and "+42" find user 42). */
int fr_dataset_find_user(const fr_dataset *ds, const char *key);

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
int fr_item_tokens(const char *genres, const char *title, int num_tokens, int vocab, int32_t *out);

/* Print the report on out: the files read with their row counts, then one line per
 * skip reason with a non-zero count, with its first line numbers and why the first
 * was dropped; then the content file's malformed rows and the value statistics, when
 * there are any. prefix starts each line. */
void fr_data_report_print(const fr_data_report *rep, const char *prefix, FILE *out);

#endif
