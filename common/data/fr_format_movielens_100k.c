/* movielens-100k: a folder with u.data (user, item, rating, timestamp, tab-separated)
 * and optional u.item (id|title|release|video release|URL|19 genre flags) and u.genre
 * (name|index), all latin-1. Read as the PyTorch peer's read_movielens_100k reads
 * them: each line decoded from latin-1 (here: turned into UTF-8, which is what
 * Python's str holds and encodes tokens as), blank lines passed over uncounted,
 * int(s.strip()) and float(s) for the numbers, the genres of the flags that are "1"
 * by their names in u.genre. The common loop has already turned each line into
 * UTF-8, so whitespace rules are those of fr_csv_strip. */
#include <math.h>
#include <string.h>

#include "data/fr_data_int.h"

static int blank(const char *p, size_t n)
{
    fr_csv_strip(&p, &n);
    return n == 0;
}

/* The k-th (0-based) field of a line split on sep, as (p, n); 0 when there is none. */
static int field(const char *line, size_t len, char sep, int k, const char **p, size_t *n)
{
    size_t s = 0;
    for (size_t i = 0; i <= len; i++)
        if (i == len || line[i] == sep) {
            if (k-- == 0) {
                *p = line + s;
                *n = i - s;
                return 1;
            }
            s = i + 1;
        }
    return 0;
}

static int data_row(fr_data_load *ld, char *line, size_t len, long line_no, fr_data_row *row,
                    fr_skip *reason, char *why, size_t cap)
{
    const char *p[4];
    size_t n[4];
    char shown[41];
    (void)ld;
    (void)line_no;
    *reason = FR_SKIP_MALFORMED;
    if (blank(line, len))
        return FR_DATA_ROW_NONE;
    for (int k = 0; k < 4; k++)
        if (!field(line, len, '\t', k, &p[k], &n[k])) {
            snprintf(why, cap,
                     "expected 4 tab-separated fields (user, item, rating, "
                     "timestamp), found %d",
                     k);
            return FR_DATA_ROW_SKIP;
        }
    if (!fr_data_id_int_field(&row->user, p[0], n[0], "user", why, cap))
        return FR_DATA_ROW_SKIP;
    if (!fr_data_id_int_field(&row->item, p[1], n[1], "item", why, cap))
        return FR_DATA_ROW_SKIP;
    if (fr_csv_parse_float(p[3], n[3], &row->ts) != FR_OK) {
        fr_data_show(shown, p[3], n[3]);
        snprintf(why, cap, "timestamp '%s' is not a number", shown);
        *reason = FR_SKIP_BAD_TIMESTAMP;
        return FR_DATA_ROW_SKIP;
    }
    if (fr_csv_parse_float(p[2], n[2], &row->value) != FR_OK || !isfinite(row->value))
        row->value = NAN;
    return FR_DATA_ROW_EVENT;
}

/* "name|index": the name before the last '|' of the stripped line, the index after
 * it in ASCII digits. Lines that are not of this form are passed over, as the peer
 * does; so are names too long to keep and indices past the 19 flags. */
static int genre_row(fr_data_load *ld, char *line, size_t len, long line_no, char *why, size_t cap)
{
    const char *p = line;
    size_t n = len, bar, idx = 0;
    (void)line_no;
    (void)why;
    (void)cap;
    fr_csv_strip(&p, &n);
    for (bar = n; bar > 0 && p[bar - 1] != '|'; bar--)
        ;
    if (bar <= 1 || bar == n || bar - 1 >= FR_DATA_MAX_GENRE)
        return FR_DATA_ROW_NONE;
    for (size_t i = bar; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return FR_DATA_ROW_NONE;
        idx = idx * 10 + (size_t)(p[i] - '0');
        if (idx >= FR_DATA_GENRES)
            return FR_DATA_ROW_NONE;
    }
    memcpy(ld->genre[idx], p, bar - 1);
    ld->genre[idx][bar - 1] = '\0';
    return FR_DATA_ROW_NONE;
}

/* Fewer than 5 fields or an id that is not an integer: malformed (a blank line is no
 * row). The genre flags are the last 19 fields when there are at least 24, else there
 * are none. */
static int item_row(fr_data_load *ld, char *line, size_t len, long line_no, char *why, size_t cap)
{
    const char *p, *title = NULL;
    size_t n, title_n = 0, s = 0;
    long nf = 1, k = 0;
    fr_data_id id;
    char shown[41];
    (void)line_no;
    if (blank(line, len))
        return FR_DATA_ROW_NONE;
    for (size_t i = 0; i < len; i++)
        nf += line[i] == '|';
    if (nf < 5) {
        snprintf(why, cap, "expected at least 5 '|'-separated fields, found %ld", nf);
        return FR_DATA_ROW_SKIP;
    }
    for (n = 0; n < len && line[n] != '|'; n++)
        ;
    p = line;
    if (!fr_data_id_int(&id, p, n)) {
        fr_data_show(shown, p, n);
        snprintf(why, cap, "item id '%s' is not an integer", shown);
        return FR_DATA_ROW_SKIP;
    }
    int32_t *out = fr_data_content_row(ld, id.p, id.n);
    if (!out)
        return FR_DATA_ROW_EVENT;
    fr_data_tok t;
    fr_data_tok_begin(&t, out, ld->ds->num_tokens, ld->ds->token_vocab);
    /* One pass over the fields: the title is the second, the flags the last 19. */
    for (size_t i = 0; i <= len; i++) {
        if (i < len && line[i] != '|')
            continue;
        p = line + s;
        n = i - s;
        s = i + 1;
        if (k == 1) {
            title = p;
            title_n = n;
        } else if (nf >= 24 && k >= nf - FR_DATA_GENRES) {
            fr_csv_strip(&p, &n);
            if (n == 1 && p[0] == '1') {
                const char *g = ld->genre[k - (nf - FR_DATA_GENRES)];
                fr_data_tok_add(&t, g, strlen(g));
            }
        }
        k++;
    }
    fr_data_tok_title(&t, title, title_n);
    return FR_DATA_ROW_EVENT;
}

static const fr_data_field fields[] = {
    {"rating", FR_FIELD_VALUE}, {"timestamp", FR_FIELD_TIMESTAMP}, {NULL, 0}};

const fr_data_format fr_format_movielens_100k = {
    .name = "movielens-100k",
    .events_file = "u.data",
    .latin1 = 1,
    .row = data_row,
    .fields = fields,
    .content = {{"u.genre", genre_row, 0}, {"u.item", item_row, 1}},
};
