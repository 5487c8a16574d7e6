/* The reading loop every format shares: lines streamed through fr_csv (never a whole
 * file in memory), latin-1 turned into UTF-8 where the format says so, each line
 * handed to the format's row parser, row-level cleaning, and every dropped row
 * counted by reason with its line number. Also the helpers row parsers share. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/fr_data_int.h"
#include "data/fr_unknown.h"

/* ------------------------------------------------------------------ the report */

/* Inserts line into the ascending list of the smallest line numbers; returns its
 * place, or -1 when it is not among them. */
static int note_line(long *lines, int *n, long line)
{
    int i;
    if (*n == FR_DATA_BAD_LINES) {
        if (line >= lines[*n - 1])
            return -1;
        i = *n - 1;
    } else {
        i = (*n)++;
    }
    for (; i > 0 && lines[i - 1] > line; i--)
        lines[i] = lines[i - 1];
    lines[i] = line;
    return i;
}

int fr_data_skip_wants_why(const fr_data_report *rep, fr_skip reason, long line)
{
    const fr_data_skips *s = &rep->skipped[reason];
    return s->n_lines == 0 || line < s->lines[0] || rep->n_bad_lines == 0 ||
           line < rep->bad_lines[0];
}

void fr_data_skip_note(fr_data_report *rep, fr_skip reason, long line, const char *why)
{
    fr_data_skips *s = &rep->skipped[reason];
    s->count++;
    rep->rows_skipped++;
    if (note_line(s->lines, &s->n_lines, line) == 0 && why)
        snprintf(s->why, sizeof s->why, "%s", why);
    if (note_line(rep->bad_lines, &rep->n_bad_lines, line) == 0 && why)
        snprintf(rep->bad_reason, sizeof rep->bad_reason, "%s", why);
}

/* ------------------------------------------------------------------ row helpers */

void fr_data_show(char *out, const char *p, size_t n)
{
    size_t k = n < 40 ? n : 40;
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)p[i];
        out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    out[k] = '\0';
}

int fr_data_id_int(fr_data_id *id, const char *p, size_t n)
{
    if (fr_csv_parse_int(p, n, &id->v) != FR_OK)
        return 0;
    id->numeric = 1;
    id->n = (size_t)snprintf(id->buf, sizeof id->buf, "%lld", (long long)id->v);
    id->p = id->buf;
    return 1;
}

int fr_data_id_int_field(fr_data_id *id, const char *p, size_t n, const char *what, char *why,
                         size_t cap)
{
    if (fr_data_id_int(id, p, n))
        return 1;
    char shown[41];
    fr_data_show(shown, p, n);
    snprintf(why, cap, "%s '%s' is not an integer", what, shown);
    return 0;
}

int fr_data_utf8_ok(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t k;
        unsigned lo = 0x80, hi = 0xbf;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            k = 1;
        else if (c >= 0xe0 && c <= 0xef)
            k = 2;
        else if (c >= 0xf0 && c <= 0xf4)
            k = 3;
        else
            return 0;
        /* The second byte's range rules out overlong forms, surrogates and code points
         * past U+10FFFF. */
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
        else if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
        if (k >= n - i)
            return 0;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t j = 2; j <= k; j++)
            if (s[i + j] < 0x80 || s[i + j] > 0xbf)
                return 0;
        i += k + 1;
    }
    return 1;
}

/* "-12" or "0": the one spelling of an integer, so that text and value map one to
 * one and two different ids never share a row. */
int fr_data_canonical_int(const char *p, size_t n, int64_t *v)
{
    size_t i = n && p[0] == '-';
    if (i == n || (p[i] == '0' && (n - i > 1 || i == 1)))
        return 0;
    for (size_t j = i; j < n; j++)
        if (p[j] < '0' || p[j] > '9')
            return 0;
    return fr_csv_parse_int(p, n, v) == FR_OK;
}

int fr_data_id_str(fr_data_id *id, const char *p, size_t n, const char *what, char *why, size_t cap)
{
    char shown[41];
    fr_csv_strip(&p, &n);
    if (n == 0) {
        snprintf(why, cap, "%s is empty", what);
        return 0;
    }
    fr_data_show(shown, p, n);
    if (n > FR_DATA_MAX_KEY) {
        snprintf(why, cap, "%s '%s...' is %zu bytes, longer than %d", what, shown, n,
                 FR_DATA_MAX_KEY);
        return 0;
    }
    if (!fr_data_utf8_ok(p, n)) {
        snprintf(why, cap, "%s '%s' is not UTF-8", what, shown);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f) {
            snprintf(why, cap, "%s '%s' holds control character 0x%02x", what, shown,
                     (unsigned char)p[i]);
            return 0;
        }
    id->p = p;
    id->n = n;
    id->numeric = fr_data_canonical_int(p, n, &id->v);
    if (!id->numeric)
        id->v = 0;
    return 1;
}

/* Collect mode: the item of a content row joins the catalogue; its token row is kept
 * by key index until fr_data_collect_rows knows the rows. */
static int32_t *collect_row(fr_data_load *ld, const char *key, size_t n)
{
    size_t T = (size_t)ld->ds->num_tokens;
    int64_t v = 0;
    int numeric = fr_data_canonical_int(key, n, &v);
    int32_t idx;
    if (ld->coll_st != FR_OK)
        return NULL;
    if (fr_data_keys_add(&ld->items, key, n, numeric, numeric ? v : 0, &idx) != FR_OK)
        goto fail;
    if (idx >= ld->coll_cap) {
        long cap = ld->coll_cap ? 2 * ld->coll_cap : 1024;
        int32_t *grown = (size_t)cap <= SIZE_MAX / sizeof *grown / T
                             ? realloc(ld->coll_tokens, (size_t)cap * T * sizeof *grown)
                             : NULL;
        if (!grown)
            goto fail;
        ld->coll_tokens = grown;
        ld->coll_cap = cap;
    }
    int32_t *out = ld->coll_tokens + (size_t)idx * T;
    memset(out, 0, T * sizeof *out);
    return out;
fail:
    ld->coll_st = fr_fail(ld->err, FR_ENOMEM,
                          "%s: out of memory for the items (or more than "
                          "%d of them)",
                          ld->file, FR_DATA_MAX_ROWS);
    return NULL;
}

int32_t *fr_data_content_row(fr_data_load *ld, const char *key, size_t n)
{
    if (ld->collect)
        return collect_row(ld, key, n);
    long k = fr_data_keys_find(&ld->items, key, n);
    int32_t row = k >= 0 && ld->item_row ? ld->item_row[k] : 0;
    return row > 0 ? ld->ds->tokens + (size_t)row * (size_t)ld->ds->num_tokens : NULL;
}

/* ------------------------------------------------------------------ reading */

/* Latin-1 line -> UTF-8 in ld->conv: every byte is the code point of that value. */
static fr_status to_utf8(fr_data_load *ld, char **line, size_t *len)
{
    const unsigned char *s = (const unsigned char *)*line;
    size_t need = 2 * *len + 1, w = 0;
    if (need > ld->conv_cap) {
        char *p = realloc(ld->conv, need);
        if (!p)
            return FR_ENOMEM;
        ld->conv = p;
        ld->conv_cap = need;
    }
    for (size_t i = 0; i < *len; i++) {
        if (s[i] < 0x80) {
            ld->conv[w++] = (char)s[i];
        } else {
            ld->conv[w++] = (char)(0xc0 | (s[i] >> 6));
            ld->conv[w++] = (char)(0x80 | (s[i] & 0x3f));
        }
    }
    ld->conv[w] = '\0';
    *line = ld->conv;
    *len = w;
    return FR_OK;
}

static fr_status add_event(fr_data_load *ld, const fr_data_row *row, long line)
{
    fr_data_event e = {0, 0, row->ts, row->value, line};
    if (fr_data_keys_add(&ld->users, row->user.p, row->user.n, row->user.numeric, row->user.v,
                         &e.user) != FR_OK ||
        fr_data_keys_add(&ld->items, row->item.p, row->item.n, row->item.numeric, row->item.v,
                         &e.item) != FR_OK)
        return fr_fail(ld->err, FR_ENOMEM,
                       "%s:%ld: out of memory for the ids (or more "
                       "than %d distinct ones)",
                       ld->file, line, FR_DATA_MAX_ROWS);
    if (ld->n == ld->cap) {
        long grown = ld->cap ? 2 * ld->cap : 4096;
        fr_data_event *v =
            ld->n < FR_DATA_MAX_EVENTS ? realloc(ld->ev, (size_t)grown * sizeof *v) : NULL;
        if (!v)
            return fr_fail(ld->err, FR_ENOMEM, "%s:%ld: out of memory for %ld events", ld->file,
                           line, ld->n + 1);
        ld->ev = v;
        ld->cap = grown;
    }
    ld->ev[ld->n++] = e;
    return FR_OK;
}

static void fmt_bound(char *buf, size_t cap, int has, double v, const char *none)
{
    if (has)
        snprintf(buf, cap, "%.15g", v);
    else
        snprintf(buf, cap, "%s", none);
}

/* The row-level cleaning: FR_SKIP_COUNT when the row is kept. */
static fr_skip row_cleaning(const fr_data_load *ld, const fr_data_row *row, char *why, size_t cap)
{
    const fr_data_options *o = &ld->opt;
    if ((o->has_min_timestamp && !(row->ts >= o->min_timestamp)) ||
        (o->has_max_timestamp && !(row->ts <= o->max_timestamp))) {
        char lo[32], hi[32];
        fmt_bound(lo, sizeof lo, o->has_min_timestamp, o->min_timestamp, "-inf");
        fmt_bound(hi, sizeof hi, o->has_max_timestamp, o->max_timestamp, "inf");
        snprintf(why, cap, "timestamp %.15g outside [%s, %s]", row->ts, lo, hi);
        return FR_SKIP_TIMESTAMP_RANGE;
    }
    if (!fr_clean_filter_pass(&ld->filter, row)) {
        snprintf(why, cap, "fails --event-filter '%.100s'", o->event_filter);
        return FR_SKIP_EVENT_FILTER;
    }
    /* After the operator's own cleaning, so that unknown_item counts only the events
     * the node would have used: what the catalogue misses of its data. An integer
     * catalogue's keys are canonical decimals, so text equality is value equality
     * for ids that are integers, and ids that are not can match none. */
    if (ld->cat && ((ld->cat->item_ids && !row->item.numeric) ||
                    fr_data_keys_find(&ld->items, row->item.p, row->item.n) < 0)) {
        char shown[41];
        fr_data_show(shown, row->item.p, row->item.n);
        snprintf(why, cap, "item '%s' is not in the catalogue", shown);
        if (o->unknown)
            fr_unknown_add(o->unknown, row->item.p, row->item.n);
        return FR_SKIP_UNKNOWN_ITEM;
    }
    return FR_SKIP_COUNT;
}

static int is_input_error(fr_skip r)
{
    return r == FR_SKIP_MALFORMED || r == FR_SKIP_BAD_ID || r == FR_SKIP_BAD_TIMESTAMP ||
           r == FR_SKIP_BAD_VALUE;
}

static fr_status read_failed(fr_data_load *ld, int rc, long line)
{
    return fr_fail(ld->err, (fr_status)rc, "%s: %s at line %ld", ld->file,
                   rc == FR_ENOMEM ? "out of memory" : strerror(errno), line);
}

fr_status fr_data_read_events(fr_data_load *ld, fr_csv *cr, const char *file)
{
    fr_data_report *rep = &ld->ds->report;
    fr_status st = FR_OK;
    char *line, why[160];
    size_t len;
    int too_long, rc;
    ld->file = file;
    snprintf(rep->events_file, sizeof rep->events_file, "%s", file);
    while ((rc = fr_csv_line(cr, &line, &len, &too_long)) == 1) {
        fr_data_row row;
        fr_skip reason = FR_SKIP_MALFORMED;
        int r = FR_DATA_ROW_SKIP;
        why[0] = '\0';
        if (too_long) {
            snprintf(why, sizeof why, "line longer than %ld bytes", FR_CSV_MAX_LINE);
            if (ld->fmt->header && !ld->header_seen) {
                st = fr_fail(ld->err, FR_EFORMAT, "%s:%ld: header %s", file, cr->line_no, why);
                goto out;
            }
        } else {
            if (ld->fmt->latin1 && (st = to_utf8(ld, &line, &len)) != FR_OK) {
                st = read_failed(ld, FR_ENOMEM, cr->line_no);
                goto out;
            }
            memset(&row, 0, sizeof row);
            row.value = NAN;
            r = ld->fmt->row(ld, line, len, cr->line_no, &row, &reason, why, sizeof why);
            if (r < 0) {
                st = (fr_status)r;
                goto out;
            }
            if (r == FR_DATA_ROW_NONE)
                continue;
        }
        rep->rows_read++;
        if (r == FR_DATA_ROW_EVENT) {
            reason = row_cleaning(ld, &row, why, sizeof why);
            if (reason == FR_SKIP_COUNT) {
                if ((st = add_event(ld, &row, cr->line_no)) != FR_OK)
                    goto out;
                continue;
            }
        }
        if (ld->opt.strict && is_input_error(reason)) {
            st = fr_fail(ld->err, FR_EFORMAT, "%s:%ld: %s", file, cr->line_no, why);
            goto out;
        }
        fr_data_skip_note(rep, reason, cr->line_no, why);
    }
    if (rc < 0)
        st = read_failed(ld, rc, cr->line_no + 1); /* the line it could not read */
    else if (ld->fmt->header && !ld->header_seen)
        st = fr_fail(ld->err, FR_EFORMAT, "%s: empty file; a header row is required", file);
out:
    return st;
}

fr_status fr_data_read_content(fr_data_load *ld, const fr_data_content_file *spec, fr_csv *cr,
                               const char *file)
{
    fr_data_report *rep = &ld->ds->report;
    fr_status st = FR_OK;
    char *line, why[160];
    size_t len;
    int too_long, rc;
    ld->file = file;
    ld->header_seen = 0;
    if (ld->cat)
        return FR_OK; /* the tokens are the catalogue's */
    if (spec->counted)
        snprintf(rep->content_file, sizeof rep->content_file, "%s", file);
    while ((rc = fr_csv_line(cr, &line, &len, &too_long)) == 1) {
        int r = FR_DATA_ROW_SKIP;
        if (too_long) {
            snprintf(why, sizeof why, "line longer than %ld bytes", FR_CSV_MAX_LINE);
        } else {
            if (ld->fmt->latin1 && (st = to_utf8(ld, &line, &len)) != FR_OK) {
                st = read_failed(ld, FR_ENOMEM, cr->line_no);
                goto out;
            }
            r = spec->row(ld, line, len, cr->line_no, why, sizeof why);
            if (r < 0) {
                st = (fr_status)r;
                goto out;
            }
            if (r == FR_DATA_ROW_NONE)
                continue;
        }
        if (!spec->counted)
            continue;
        rep->content_rows++;
        if (r != FR_DATA_ROW_SKIP)
            continue;
        if (ld->opt.strict) {
            st = fr_fail(ld->err, FR_EFORMAT, "%s:%ld: %s", file, cr->line_no, why);
            goto out;
        }
        rep->content_skipped++;
        note_line(rep->content_lines, &rep->n_content_lines, cr->line_no);
    }
    if (rc < 0)
        st = read_failed(ld, rc, cr->line_no + 1); /* the line it could not read */
out:
    return st;
}
