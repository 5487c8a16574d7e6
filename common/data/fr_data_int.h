/* What the files of the data module share: the loading state, the format table each
 * reader fills in, the key tables that map external ids to dense rows, the content
 * token builder and cleaning. Not for other modules: they see only fr_data.h.
 *
 * A load runs in four steps, each its own function so that a fuzzer can drive the
 * same code over bytes in memory:
 *   fr_data_load_begin    options checked, the event filter parsed
 *   fr_data_read_events   the events file, row by row through the format's parser;
 *                         row-level cleaning (timestamp range, event filter) and
 *                         catalogue membership here
 *   fr_data_build         deduplication, k-core, dense rows, split, value z-scores
 *   fr_data_read_content  each content file of the format, into the token rows
 *   fr_data_load_end      frees the loading state (and the dataset on failure)
 * With a fixed catalogue, fr_data_load_begin enters the catalogue's items first, so
 * that an item's key index is its row - 1, and fr_data_read_content has nothing to
 * do. A content file can also be read alone (fr_items_load): in collect mode every
 * content row adds its item, and fr_data_collect_rows turns them into rows. */
#ifndef FR_DATA_INT_H
#define FR_DATA_INT_H

#include <stdint.h>

#include "data/fr_csv.h"
#include "data/fr_data.h"

#define FR_DATA_PATH_MAX 4096
#define FR_DATA_MAX_FIELDS 64                /* CSV fields kept per row; more are only counted */
#define FR_DATA_MAX_ROWS (INT32_MAX - 1)     /* items and users must fit an int32 row */
#define FR_DATA_MAX_EVENTS ((long)INT32_MAX) /* events kept in memory at once */
#define FR_DATA_MAX_EVENT 64                 /* bytes of an event name (events-csv) */
#define FR_DATA_GENRES 19                    /* genre flags of a u.item row */
#define FR_DATA_MAX_GENRE 128                /* bytes of a u.genre name; longer ones unused */

/* ------------------------------------------------------------------ keys */

/* The distinct external ids of one kind (users or items), each stored once as text
 * and found again through an open-addressing hash table. */
typedef struct fr_data_keys {
    char *text; /* every key, NUL-terminated, back to back */
    size_t text_len, text_cap;
    size_t *off;      /* n: where key k starts in text */
    int64_t *num;     /* n: its value, when numeric */
    uint8_t *numeric; /* n: 1 when the key is an integer (see fr_data_id) */
    int32_t *slot;    /* slots: key index + 1, 0 = empty */
    size_t slots;
    long n, cap;
} fr_data_keys;

/* Index of the n bytes at p (numeric: their integer value v), added when new. */
FR_MUST fr_status fr_data_keys_add(fr_data_keys *k, const char *p, size_t n, int numeric, int64_t v,
                                   int32_t *idx);
/* Index of the n bytes at p, or -1. */
long fr_data_keys_find(const fr_data_keys *k, const char *p, size_t n);
void fr_data_keys_free(fr_data_keys *k);

/* Rows for the keys with use[k] > 0, in ascending order: as integers when all of
 * them are numeric, else byte-wise. row_of[k] = first + rank (-1 for unused keys).
 * Allocates *keys (first + used pointers, keys[0..first) = "", one block) and, when
 * numeric, *ids (first + used, ids[0..first) = 0). */
FR_MUST fr_status fr_data_keys_rows(const fr_data_keys *k, const long *use, int first,
                                    int32_t *row_of, char ***keys, int64_t **ids, int *numeric,
                                    long *used);
/* Every key in index order, key k at row first + k: allocates *keys as
 * fr_data_keys_rows does (keys[0..first) = ""). */
FR_MUST fr_status fr_data_keys_block(const fr_data_keys *k, int first, char ***keys);
/* Whether n bytes at p are the canonical spelling of an integer ("-12", "0"; not
 * "012" or "+12"), and its value in *v. */
int fr_data_canonical_int(const char *p, size_t n, int64_t *v);

/* ------------------------------------------------------------------ rows of a file */

/* An external id as a row parser found it: text (for integer ids of the numeric
 * formats, their canonical decimal form in buf) and whether it is an integer. */
typedef struct fr_data_id {
    const char *p;
    size_t n;
    int numeric;
    int64_t v;
    char buf[24];
} fr_data_id;

typedef struct fr_data_row {
    fr_data_id user, item;
    double ts;
    double value;      /* NAN: the row has none */
    const char *event; /* NULL: the format or file has no event column */
    size_t event_n;
} fr_data_row;

/* What a row parser found in a line. Negative values are an fr_status that ends the
 * read (its message already in ld->err). */
enum {
    FR_DATA_ROW_EVENT = 0, /* an event, in *row */
    FR_DATA_ROW_NONE = 1,  /* no data row: a header or an ignored blank line */
    FR_DATA_ROW_SKIP = 2,  /* a malformed row: *reason and why say how */
};

typedef struct fr_data_load fr_data_load;

typedef int (*fr_data_event_fn)(fr_data_load *ld, char *line, size_t len, long line_no,
                                fr_data_row *row, fr_skip *reason, char *why, size_t cap);
/* A content row: EVENT = used (also when its item is not in the catalogue), NONE,
 * or SKIP (malformed: why says how). */
typedef int (*fr_data_content_fn)(fr_data_load *ld, char *line, size_t len, long line_no, char *why,
                                  size_t cap);

/* Fields that --event-filter can name. */
enum { FR_FIELD_NONE, FR_FIELD_TIMESTAMP, FR_FIELD_VALUE, FR_FIELD_EVENT };

typedef struct fr_data_field {
    const char *name;
    int field;
} fr_data_field;

typedef struct fr_data_content_file {
    const char *name; /* in the folder; NULL = no such file */
    fr_data_content_fn row;
    int counted; /* rows counted in the report's content_* */
} fr_data_content_file;

typedef struct fr_data_format {
    const char *name;
    const char *events_file; /* in the folder PATH; NULL: PATH is the file itself */
    int latin1;              /* lines are latin-1, turned into UTF-8 for parsing */
    int header;              /* line 1 must be a header naming the columns */
    fr_data_event_fn row;
    const fr_data_field *fields;     /* what --event-filter may name; ends at a NULL name */
    fr_data_content_file content[2]; /* read in order once the rows are built */
} fr_data_format;

extern const fr_data_format fr_format_movielens_csv;
extern const fr_data_format fr_format_movielens_100k;
extern const fr_data_format fr_format_sasrec;
extern const fr_data_format fr_format_events_csv;

/* ------------------------------------------------------------------ cleaning */

enum { FR_OP_EQ, FR_OP_NE, FR_OP_LT, FR_OP_LE, FR_OP_GT, FR_OP_GE };

typedef struct fr_clean_filter {
    int field; /* FR_FIELD_*; FR_FIELD_NONE = no filter */
    int op;    /* FR_OP_* */
    double num;
    char text[FR_DATA_MAX_EVENT + 1];
    size_t text_n;
    char name[32]; /* the field as written */
} fr_clean_filter;

/* Parse expr ("FIELD OP VALUE") against the fields a format offers. */
FR_MUST fr_status fr_clean_filter_parse(fr_clean_filter *f, const char *expr,
                                        const fr_data_format *fmt, fr_err *err);
/* Whether row passes the filter (always, when there is none). */
int fr_clean_filter_pass(const fr_clean_filter *f, const fr_data_row *row);

/* Drops duplicates (opt.dedupe) and then users and items under the minimum counts
 * until none is left, counting each dropped event in the report. */
FR_MUST fr_status fr_clean_events(fr_data_load *ld);

/* ------------------------------------------------------------------ loading */

typedef struct fr_data_event {
    int32_t user, item; /* key indices */
    double ts;
    double value; /* NAN: none */
    long line;    /* line of the events file */
} fr_data_event;

struct fr_data_load {
    fr_dataset *ds;
    const fr_data_format *fmt;
    fr_data_options opt;
    fr_clean_filter filter;
    fr_err *err;
    const char *file; /* the file being read, for messages */
    fr_data_keys users, items;
    fr_data_event *ev;
    long n, cap;
    int32_t *item_row;            /* item key -> row, 0 = not in the catalogue (after build) */
    const fr_data_catalogue *cat; /* fixed catalogue: item key k is row k + 1; or NULL */
    int collect;                  /* content rows add their items (fr_data_content_row) */
    int32_t *coll_tokens;         /* collect mode: token rows by item key index */
    long coll_cap;                /* rows coll_tokens holds */
    fr_status coll_st;            /* collect mode: the first failure to add an item */
    char *conv;                   /* a latin-1 line as UTF-8 */
    size_t conv_cap;
    /* The formats' own state while reading. */
    int header_seen;
    int col[5]; /* events-csv: user_id, item_id, timestamp, event, value */
    int ncols;
    int item_col[2]; /* items.csv: item_id, tokens */
    int item_ncols;
    char genre[FR_DATA_GENRES][FR_DATA_MAX_GENRE]; /* u.genre names by index */
};

FR_MUST fr_status fr_data_load_begin(fr_data_load *ld, fr_dataset *ds, const char *format,
                                     int num_tokens, int token_vocab, const fr_data_options *opts,
                                     fr_err *err);
/* Reads the events of cr (named file in messages; cr is left open). */
FR_MUST fr_status fr_data_read_events(fr_data_load *ld, fr_csv *cr, const char *file);
FR_MUST fr_status fr_data_build(fr_data_load *ld);
FR_MUST fr_status fr_data_read_content(fr_data_load *ld, const fr_data_content_file *spec,
                                       fr_csv *cr, const char *file);
/* Every content file of the format in folder path, in order. A missing file is
 * passed over, but with required set not the counted one (the item file itself). */
FR_MUST fr_status fr_data_read_content_files(fr_data_load *ld, const char *path, int required);
/* Collect mode: the items the content rows added, as rows 1..V-1 in ascending id
 * (the rule of the events' items), with their token rows, into the dataset's
 * num_items, item_ids, item_keys, item_ids_numeric and tokens. FR_ENODATA when no
 * content row was valid. */
FR_MUST fr_status fr_data_collect_rows(fr_data_load *ld);
/* Frees the loading state; when st is a failure, frees the dataset too but keeps its
 * report. Returns st. */
fr_status fr_data_load_end(fr_data_load *ld, fr_status st);

/* Records a dropped events row in the report (line: of the events file); why may be
 * NULL when fr_data_skip_wants_why said it is not needed. */
void fr_data_skip_note(fr_data_report *rep, fr_skip reason, long line, const char *why);
/* Whether the row at line would be the first of its reason or overall, and so needs
 * its why: saves formatting one for every row of a large cleaning step. */
int fr_data_skip_wants_why(const fr_data_report *rep, fr_skip reason, long line);

/* ------------------------------------------------------------------ row helpers */

/* An integer id as Python's int(s.strip()) reads it; 0 when it is not one. */
int fr_data_id_int(fr_data_id *id, const char *p, size_t n);
/* The same for a named field of a row: 0 with why = "WHAT '...' is not an integer". */
int fr_data_id_int_field(fr_data_id *id, const char *p, size_t n, const char *what, char *why,
                         size_t cap);
/* A string id (events-csv): surrounding whitespace dropped, then non-empty, at most
 * FR_DATA_MAX_KEY bytes, UTF-8, no control characters; numeric when it is a
 * canonical integer ("-12", not "012", "+12" or "1_2"). 0 with why set when bad. */
int fr_data_id_str(fr_data_id *id, const char *p, size_t n, const char *what, char *why,
                   size_t cap);
/* Whether n bytes at p are well-formed UTF-8. */
int fr_data_utf8_ok(const char *p, size_t n);
/* The token row of content item key (n bytes), or NULL when it is not in the
 * catalogue; the row is zeroed, ready for fr_data_tok_begin. In collect mode the
 * item is added first (NULL, with ld->coll_st set, when that fails). */
int32_t *fr_data_content_row(fr_data_load *ld, const char *key, size_t n);
/* n bytes of a message-safe excerpt of a field: at most 40 bytes, non-printable
 * bytes as '?'; out must hold 41. */
void fr_data_show(char *out, const char *p, size_t n);

/* ------------------------------------------------------------------ content tokens */

/* Builds one item's token row: tokens are hashed as they are added, in order, until
 * the row is full. */
typedef struct fr_data_tok {
    int32_t *out;
    int k, n, vocab;
} fr_data_tok;

void fr_data_tok_begin(fr_data_tok *t, int32_t *out, int num_tokens, int vocab);
/* One token verbatim; empty ones and the placeholders "(no genres listed)" and
 * "unknown" are dropped. */
void fr_data_tok_add(fr_data_tok *t, const char *p, size_t n);
/* Tokens separated by sep, each as fr_data_tok_add. */
void fr_data_tok_list(fr_data_tok *t, const char *p, size_t n, char sep);
/* Title words (the spec's rule: ASCII lowercased, ASCII punctuation deleted, split on
 * ASCII whitespace). */
void fr_data_tok_title(fr_data_tok *t, const char *p, size_t n);

#endif
