/* CSV records and the numbers inside them, read by the rules of Python's csv module
 * and its int()/float(). Behaviour data is read by this node and by the PyTorch peer
 * (csv.reader over a file opened with newline=""), and weights exported by one are
 * evaluated on rows built by the other: a single line that one side splits, unquotes
 * or parses differently shifts the row mapping and the weights no longer line up. So
 * each rule here is the Python rule, down to what counts as whitespace.
 *
 * Records are lines: \n, \r\n and a lone \r each end one. Fields are separated by
 * ',' with the default dialect's quoting: a field that starts with '"' runs to the
 * closing quote, "" inside it is one quote, text after the closing quote is kept,
 * and a quote inside an unquoted field is an ordinary character. A quoted field does
 * not continue onto the next line: a quote still open at the end of a line makes
 * that line malformed. */
#ifndef FR_CSV_H
#define FR_CSV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/fr_status.h"

/* The longest line read; a longer one is a malformed record, skipped whole. The cap
 * keeps memory bounded whatever the input. */
#define FR_CSV_MAX_LINE (1L << 20)

/* What fr_csv_next reports as the field count of a malformed record. */
enum {
    FR_CSV_LONG_LINE = -1,  /* the line is longer than FR_CSV_MAX_LINE bytes */
    FR_CSV_OPEN_QUOTE = -2, /* a quoted field is left open at the end of the line */
};

/* One field: n bytes at p, also NUL-terminated (a field may hold a NUL of its own,
 * so n is the length). Points into the reader's line buffer. */
typedef struct fr_csv_field {
    const char *p;
    size_t n;
} fr_csv_field;

/* A reader over one file. line_no is the 1-based number of the line last returned
 * (0 before the first), so messages can name FILE:LINE. The other members belong to
 * the reader. */
typedef struct fr_csv {
    FILE *f;
    char *buf;
    size_t len, cap;
    long line_no;
} fr_csv;

/* Open path for reading into r. FR_OK, or FR_EIO with errno telling why (a caller
 * may treat ENOENT as "no such file" rather than a failure); on failure r is zeroed
 * and fr_csv_close on it is harmless. */
FR_MUST fr_status fr_csv_open(fr_csv *r, const char *path);

/* A reader over an open stream (a pipe, or fmemopen for in-memory input); r owns f
 * from now on and fr_csv_close closes it. */
void fr_csv_open_stream(fr_csv *r, FILE *f);

/* The next line as it is, without splitting: *line points at its *len bytes (the
 * terminator removed, NUL-terminated; the line may hold NULs of its own) and stays
 * valid until the next call; *too_long is set when the line ran past
 * FR_CSV_MAX_LINE, and then only its first FR_CSV_MAX_LINE bytes are kept. Line ends
 * and return values as fr_csv_next. For formats that are not comma-separated. */
FR_MUST int fr_csv_line(fr_csv *r, char **line, size_t *len, int *too_long);

/* Splits len bytes at s (a line, changed in place) into fields as fr_csv_next does:
 * returns the field count (up to max kept in f) or FR_CSV_OPEN_QUOTE. */
long fr_csv_split(char *s, size_t len, fr_csv_field *f, int max);

/* Length of the whitespace character at p (n bytes readable) as Python's
 * str.isspace() sees it (the set of fr_csv_strip), or 0. */
size_t fr_csv_space_at(const char *p, size_t n);

/* The next record, split into fields: up to max of them into f, *nf set to how many
 * the record has (fields past max are counted, not kept; an empty line has none), or
 * to FR_CSV_LONG_LINE / FR_CSV_OPEN_QUOTE for a malformed record, whose line still
 * counts. The fields stay valid until the next call. Returns 1 for a record, 0 at
 * the end of the file, FR_EIO (errno set) or FR_ENOMEM; after a failure only
 * fr_csv_close may follow. */
FR_MUST int fr_csv_next(fr_csv *r, fr_csv_field *f, int max, long *nf);

/* Close the file and free the buffer; r is zeroed. Harmless on a zeroed reader. */
void fr_csv_close(fr_csv *r);

/* Narrows n bytes at *p to drop leading and trailing whitespace as Python's
 * str.strip() sees it: ASCII \t-\r and space, \x1c-\x1f, and the Unicode spaces in
 * UTF-8 (U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F,
 * U+3000). */
void fr_csv_strip(const char **p, size_t *n);

/* The n bytes at p (no NUL needed) as Python's int(s.strip()) reads them: optional
 * surrounding whitespace (as fr_csv_strip), an optional sign, ASCII digits with
 * single underscores allowed between them, nothing else. Unlike Python, the value
 * must fit int64, and non-ASCII decimal digits are refused. FR_OK with *out set, or
 * FR_EFORMAT with *out untouched. */
FR_MUST fr_status fr_csv_parse_int(const char *p, size_t n, int64_t *out);

/* The n bytes at p (no NUL needed) as Python's float(s) reads them: optional
 * surrounding whitespace (as fr_csv_strip, less \x1c-\x1f, which float() does not
 * strip), an optional sign, then ASCII digits with an optional fraction and exponent
 * (single underscores between digits), or inf, infinity or nan in any case. Values
 * out of range go to +-inf or toward 0, as in Python. FR_OK with *out set, or
 * FR_EFORMAT (also when out of memory for a very long input) with *out untouched. */
FR_MUST fr_status fr_csv_parse_float(const char *p, size_t n, double *out);

#endif
