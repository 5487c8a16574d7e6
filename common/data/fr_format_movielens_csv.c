/* movielens-csv: a folder with ratings.csv (userId,movieId,rating,timestamp) and an
 * optional movies.csv (movieId,title,genres). Read as the PyTorch peer's
 * read_movielens_csv reads them (csv.reader, int(s.strip()), float(s)), so that both
 * build the same rows: a header is recognised on line 1 only, by its first field; a
 * blank line is a malformed row; fields past the fourth are ignored. The rating is
 * not needed for the events (every row is an implicit positive) and the peer does
 * not read it: a rating that is not a number leaves the row without a value rather
 * than dropping it. */
#include <math.h>
#include <string.h>

#include "data/fr_data_int.h"

#define MAX_FIELDS 8

static int is_header(long line_no, long nf, const fr_csv_field *f, const char *name)
{
    const char *p = nf > 0 ? f[0].p : "";
    size_t n = nf > 0 ? f[0].n : 0;
    fr_csv_strip(&p, &n);
    return line_no == 1 && n == strlen(name) && !memcmp(p, name, n);
}

static long split(char *line, size_t len, fr_csv_field *f, char *why, size_t cap)
{
    long nf = fr_csv_split(line, len, f, MAX_FIELDS);
    if (nf == FR_CSV_OPEN_QUOTE)
        snprintf(why, cap, "unterminated quoted field");
    return nf;
}

static int ratings_row(fr_data_load *ld, char *line, size_t len, long line_no, fr_data_row *row,
                       fr_skip *reason, char *why, size_t cap)
{
    fr_csv_field f[MAX_FIELDS];
    char shown[41];
    long nf = split(line, len, f, why, cap);
    (void)ld;
    *reason = FR_SKIP_MALFORMED;
    if (nf == FR_CSV_OPEN_QUOTE)
        return FR_DATA_ROW_SKIP;
    if (is_header(line_no, nf, f, "userId"))
        return FR_DATA_ROW_NONE;
    if (nf < 4) {
        snprintf(why, cap, "expected 4 fields (userId,movieId,rating,timestamp), found %ld", nf);
        return FR_DATA_ROW_SKIP;
    }
    if (!fr_data_id_int_field(&row->user, f[0].p, f[0].n, "userId", why, cap))
        return FR_DATA_ROW_SKIP;
    if (!fr_data_id_int_field(&row->item, f[1].p, f[1].n, "movieId", why, cap))
        return FR_DATA_ROW_SKIP;
    if (fr_csv_parse_float(f[3].p, f[3].n, &row->ts) != FR_OK) {
        fr_data_show(shown, f[3].p, f[3].n);
        snprintf(why, cap, "timestamp '%s' is not a number", shown);
        *reason = FR_SKIP_BAD_TIMESTAMP;
        return FR_DATA_ROW_SKIP;
    }
    if (fr_csv_parse_float(f[2].p, f[2].n, &row->value) != FR_OK || !isfinite(row->value))
        row->value = NAN;
    return FR_DATA_ROW_EVENT;
}

/* An item's last content row wins; items not in the catalogue are passed over. */
static int movies_row(fr_data_load *ld, char *line, size_t len, long line_no, char *why, size_t cap)
{
    fr_csv_field f[MAX_FIELDS];
    fr_data_id id;
    char shown[41];
    long nf = split(line, len, f, why, cap);
    if (nf == FR_CSV_OPEN_QUOTE)
        return FR_DATA_ROW_SKIP;
    if (is_header(line_no, nf, f, "movieId"))
        return FR_DATA_ROW_NONE;
    if (nf < 3) {
        snprintf(why, cap, "expected 3 fields (movieId,title,genres), found %ld", nf);
        return FR_DATA_ROW_SKIP;
    }
    if (!fr_data_id_int(&id, f[0].p, f[0].n)) {
        fr_data_show(shown, f[0].p, f[0].n);
        snprintf(why, cap, "movieId '%s' is not an integer", shown);
        return FR_DATA_ROW_SKIP;
    }
    int32_t *out = fr_data_content_row(ld, id.p, id.n);
    if (out) {
        fr_data_tok t;
        fr_data_tok_begin(&t, out, ld->ds->num_tokens, ld->ds->token_vocab);
        fr_data_tok_list(&t, f[2].p, f[2].n, '|');
        fr_data_tok_title(&t, f[1].p, f[1].n);
    }
    return FR_DATA_ROW_EVENT;
}

static const fr_data_field fields[] = {
    {"rating", FR_FIELD_VALUE}, {"timestamp", FR_FIELD_TIMESTAMP}, {NULL, 0}};

const fr_data_format fr_format_movielens_csv = {
    .name = "movielens-csv",
    .events_file = "ratings.csv",
    .row = ratings_row,
    .fields = fields,
    .content = {{"movies.csv", movies_row, 1}, {NULL, NULL, 0}},
};
