/* sasrec: one file (PATH itself) of "user item" lines, UTF-8, already in time order,
 * no content. Read as the PyTorch peer's read_sasrec reads it: blank lines passed
 * over uncounted, fields split on whitespace (Python's str.split()), the first two
 * read with int(s), further fields ignored; the timestamp is the row's number among
 * the non-blank lines (its line number when there are no blank lines), which keeps
 * the file's order through the stable time sort. A line that is not UTF-8 stops the
 * peer; here it is a malformed row. */
#include "data/fr_data_int.h"

/* The next whitespace-separated word at or after *at: (p, n), or 0 at the end. */
static int next_word(const char *line, size_t len, size_t *at, const char **p, size_t *n)
{
    size_t i = *at, k;
    while (i < len && (k = fr_csv_space_at(line + i, len - i)) > 0)
        i += k;
    if (i == len)
        return 0;
    *p = line + i;
    while (i < len && fr_csv_space_at(line + i, len - i) == 0)
        i++;
    *n = (size_t)(line + i - *p);
    *at = i;
    return 1;
}

static int sasrec_row(fr_data_load *ld, char *line, size_t len, long line_no, fr_data_row *row,
                      fr_skip *reason, char *why, size_t cap)
{
    const char *p[2];
    size_t n[2], at = 0;
    (void)line_no;
    *reason = FR_SKIP_MALFORMED;
    if (!fr_data_utf8_ok(line, len)) {
        snprintf(why, cap, "line is not UTF-8");
        return FR_DATA_ROW_SKIP;
    }
    if (!next_word(line, len, &at, &p[0], &n[0]))
        return FR_DATA_ROW_NONE;
    if (!next_word(line, len, &at, &p[1], &n[1])) {
        snprintf(why, cap, "expected 2 fields (user item), found 1");
        return FR_DATA_ROW_SKIP;
    }
    if (!fr_data_id_int_field(&row->user, p[0], n[0], "user", why, cap))
        return FR_DATA_ROW_SKIP;
    if (!fr_data_id_int_field(&row->item, p[1], n[1], "item", why, cap))
        return FR_DATA_ROW_SKIP;
    row->ts = (double)(ld->ds->report.rows_read + 1);
    return FR_DATA_ROW_EVENT;
}

static const fr_data_field fields[] = {{"timestamp", FR_FIELD_TIMESTAMP}, {NULL, 0}};

const fr_data_format fr_format_sasrec = {
    .name = "sasrec",
    .events_file = NULL,
    .row = sasrec_row,
    .fields = fields,
    .content = {{NULL, NULL, 0}, {NULL, NULL, 0}},
};
