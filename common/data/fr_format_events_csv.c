/* events-csv, the general format for partners (docs/data.md): a folder with
 * events.csv, whose header row names the columns user_id, item_id, timestamp and
 * optionally event and value, in any order (other columns are ignored), and an
 * optional items.csv with the columns item_id and tokens ('|'-separated content
 * tokens, hashed like genres). Ids are strings; quoting is fr_csv's. Unlike the
 * movielens readers this one follows no peer, so it is strict about shape: every row
 * has the header's number of fields, and a row with a NUL byte is malformed. */
#include <math.h>
#include <string.h>

#include "data/fr_data_int.h"

enum { C_USER, C_ITEM, C_TS, C_EVENT, C_VALUE, C_N };
static const char *const event_cols[C_N] = {"user_id", "item_id", "timestamp", "event", "value"};
static const char *const item_cols[2] = {"item_id", "tokens"};

static int blank(const char *p, size_t n)
{
    fr_csv_strip(&p, &n);
    return n == 0;
}

/* Maps the header's column names to their places: col[i] = field index of names[i],
 * -1 when absent; the first `required` names must be there. */
static fr_status parse_header(fr_data_load *ld, char *line, size_t len, long line_no,
                              const char *const *names, int count, int required, int *col,
                              int *ncols)
{
    fr_csv_field f[FR_DATA_MAX_FIELDS];
    char shown[41];
    long nf;
    if (len >= 3 && !memcmp(line, "\xef\xbb\xbf", 3)) { /* a BOM, as spreadsheets write */
        line += 3;
        len -= 3;
    }
    nf = fr_csv_split(line, len, f, FR_DATA_MAX_FIELDS);
    if (nf < 0)
        return fr_fail(ld->err, FR_EFORMAT, "%s:%ld: header has an unterminated quoted field",
                       ld->file, line_no);
    for (int i = 0; i < count; i++)
        col[i] = -1;
    for (long j = 0; j < nf && j < FR_DATA_MAX_FIELDS; j++) {
        const char *p = f[j].p;
        size_t n = f[j].n;
        fr_csv_strip(&p, &n);
        for (int i = 0; i < count; i++) {
            if (n != strlen(names[i]) || memcmp(p, names[i], n) != 0)
                continue;
            if (col[i] >= 0)
                return fr_fail(ld->err, FR_EFORMAT,
                               "%s:%ld: column '%s' appears twice in "
                               "the header",
                               ld->file, line_no, names[i]);
            col[i] = (int)j;
        }
    }
    for (int i = 0; i < required; i++)
        if (col[i] < 0) {
            fr_data_show(shown, nf > 0 ? f[0].p : "", nf > 0 ? f[0].n : 0);
            return fr_fail(ld->err, FR_EFORMAT,
                           "%s:%ld: the header has no column '%s' (a "
                           "header row naming %s%s%s is required; first field '%s')",
                           ld->file, line_no, names[i], names[0], required > 1 ? ", " : "",
                           required > 1 ? names[1] : "", shown);
        }
    *ncols = (int)nf;
    ld->header_seen = 1;
    return FR_OK;
}

static fr_status check_filter(fr_data_load *ld)
{
    int need = ld->filter.field == FR_FIELD_EVENT   ? C_EVENT
               : ld->filter.field == FR_FIELD_VALUE ? C_VALUE
                                                    : -1;
    if (need >= 0 && ld->col[need] < 0)
        return fr_fail(ld->err, FR_EINVAL,
                       "--event-filter names '%s', but %s has no '%s' "
                       "column",
                       ld->filter.name, ld->file, event_cols[need]);
    return FR_OK;
}

/* Fields of a data row: the header's count of them, no NUL byte, quotes closed. */
static long split_row(char *line, size_t len, int ncols, fr_csv_field *f, char *why, size_t cap)
{
    long nf;
    if (memchr(line, '\0', len)) {
        snprintf(why, cap, "NUL byte in the line");
        return -1;
    }
    nf = fr_csv_split(line, len, f, FR_DATA_MAX_FIELDS);
    if (nf == FR_CSV_OPEN_QUOTE) {
        snprintf(why, cap, "unterminated quoted field");
        return -1;
    }
    if (nf != ncols) {
        snprintf(why, cap, "expected %d fields as in the header, found %ld", ncols, nf);
        return -1;
    }
    return nf;
}

static int event_row(fr_data_load *ld, char *line, size_t len, long line_no, fr_data_row *row,
                     fr_skip *reason, char *why, size_t cap)
{
    fr_csv_field f[FR_DATA_MAX_FIELDS];
    const char *p;
    size_t n;
    char shown[41];
    fr_status st;
    *reason = FR_SKIP_MALFORMED;
    if (!ld->header_seen) {
        if ((st = parse_header(ld, line, len, line_no, event_cols, C_N, 3, ld->col, &ld->ncols)) !=
                FR_OK ||
            (st = check_filter(ld)) != FR_OK)
            return (int)st;
        return FR_DATA_ROW_NONE;
    }
    if (blank(line, len))
        return FR_DATA_ROW_NONE;
    if (split_row(line, len, ld->ncols, f, why, cap) < 0)
        return FR_DATA_ROW_SKIP;
    *reason = FR_SKIP_BAD_ID;
    if (!fr_data_id_str(&row->user, f[ld->col[C_USER]].p, f[ld->col[C_USER]].n, "user_id", why,
                        cap) ||
        !fr_data_id_str(&row->item, f[ld->col[C_ITEM]].p, f[ld->col[C_ITEM]].n, "item_id", why,
                        cap))
        return FR_DATA_ROW_SKIP;
    p = f[ld->col[C_TS]].p;
    n = f[ld->col[C_TS]].n;
    fr_csv_strip(&p, &n);
    if (fr_csv_parse_float(p, n, &row->ts) != FR_OK || !isfinite(row->ts)) {
        fr_data_show(shown, p, n);
        snprintf(why, cap, n ? "timestamp '%s' is not a finite number" : "timestamp is empty",
                 shown);
        *reason = FR_SKIP_BAD_TIMESTAMP;
        return FR_DATA_ROW_SKIP;
    }
    if (ld->col[C_VALUE] >= 0) {
        p = f[ld->col[C_VALUE]].p;
        n = f[ld->col[C_VALUE]].n;
        fr_csv_strip(&p, &n);
        if (n && (fr_csv_parse_float(p, n, &row->value) != FR_OK || !isfinite(row->value))) {
            fr_data_show(shown, p, n);
            snprintf(why, cap, "value '%s' is not a finite number", shown);
            *reason = FR_SKIP_BAD_VALUE;
            return FR_DATA_ROW_SKIP;
        }
        if (!n)
            row->value = NAN;
    }
    if (ld->col[C_EVENT] >= 0) {
        p = f[ld->col[C_EVENT]].p;
        n = f[ld->col[C_EVENT]].n;
        fr_csv_strip(&p, &n);
        if (n > FR_DATA_MAX_EVENT) {
            fr_data_show(shown, p, n);
            snprintf(why, cap, "event '%s...' is longer than %d bytes", shown, FR_DATA_MAX_EVENT);
            *reason = FR_SKIP_MALFORMED;
            return FR_DATA_ROW_SKIP;
        }
        row->event = p;
        row->event_n = n;
    }
    return FR_DATA_ROW_EVENT;
}

/* An item's last row wins; items not in the catalogue are passed over. */
static int item_row(fr_data_load *ld, char *line, size_t len, long line_no, char *why, size_t cap)
{
    fr_csv_field f[FR_DATA_MAX_FIELDS];
    fr_data_id id;
    fr_status st;
    if (!ld->header_seen) {
        if ((st = parse_header(ld, line, len, line_no, item_cols, 2, 2, ld->item_col,
                               &ld->item_ncols)) != FR_OK)
            return (int)st;
        return FR_DATA_ROW_NONE;
    }
    if (blank(line, len))
        return FR_DATA_ROW_NONE;
    if (split_row(line, len, ld->item_ncols, f, why, cap) < 0 ||
        !fr_data_id_str(&id, f[ld->item_col[0]].p, f[ld->item_col[0]].n, "item_id", why, cap))
        return FR_DATA_ROW_SKIP;
    const fr_csv_field *tok = &f[ld->item_col[1]];
    if (!fr_data_utf8_ok(tok->p, tok->n)) {
        snprintf(why, cap, "tokens are not UTF-8");
        return FR_DATA_ROW_SKIP;
    }
    int32_t *out = fr_data_content_row(ld, id.p, id.n);
    if (out) {
        fr_data_tok t;
        fr_data_tok_begin(&t, out, ld->ds->num_tokens, ld->ds->token_vocab);
        fr_data_tok_list(&t, tok->p, tok->n, '|');
    }
    return FR_DATA_ROW_EVENT;
}

static const fr_data_field fields[] = {{"event", FR_FIELD_EVENT},
                                       {"value", FR_FIELD_VALUE},
                                       {"timestamp", FR_FIELD_TIMESTAMP},
                                       {NULL, 0}};

const fr_data_format fr_format_events_csv = {
    .name = "events-csv",
    .events_file = "events.csv",
    .header = 1,
    .row = event_row,
    .fields = fields,
    .content = {{"items.csv", item_row, 1}, {NULL, NULL, 0}},
};
