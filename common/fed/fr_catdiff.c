/* Catalogue diffs (see fr_catdiff.h). */
#include "fed/fr_catdiff.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/fr_csv.h"
#include "data/fr_items.h"

enum { ADD, UPDATE, RETIRE };
static const char *const change_names[] = {"add", "update", "retire"};

/* One row of the diff: its change, id (canonical when the catalogue's ids are
 * integers) and line number. */
typedef struct drow {
    int change;
    long line;
    char *id;
} drow;

typedef struct diff {
    const char *path; /* the diff file */
    char *header;     /* the item file's header: the diff's, less its first column */
    int id_col;       /* the id's column in the item file */
    drow *rows;
    int n, cap;
    /* the split files: their line k + 2 (after the header) is the diff's line map[k] */
    FILE *f[2];
    char file[2][4200];
    long *map[2];
    int nmap[2];
} diff;

static void diff_free(diff *d)
{
    for (int c = 0; c < 2; c++) {
        if (d->f[c])
            fclose(d->f[c]);
        if (d->file[c][0])
            unlink(d->file[c]);
        free(d->map[c]);
    }
    for (int i = 0; i < d->n; i++)
        free(d->rows[i].id);
    free(d->rows);
    free(d->header);
}

/* The line's text, for a refusal: at most 200 bytes. */
#define QUOTE "%.200s"

static fr_status line_fail(const diff *d, fr_err *err, long line, const char *text, const char *why)
{
    return fr_fail(err, FR_EINVAL, "%s:%ld: %s: " QUOTE, d->path, line, why, text);
}

/* The header: "change" first, then the item file's; the id's column found in it. */
static fr_status read_header(diff *d, const char *format, char *line, size_t len, fr_err *err)
{
    char *copy = strndup(line, len);
    fr_csv_field f[64];
    if (!copy)
        return fr_fail(err, FR_ENOMEM, "%s: out of memory", d->path);
    long nf = fr_csv_split(copy, len, f, 64);
    const char *p = nf > 0 ? f[0].p : "";
    size_t n = nf > 0 ? f[0].n : 0;
    fr_csv_strip(&p, &n);
    if (nf < 2 || n != 6 || memcmp(p, "change", 6) != 0) {
        free(copy);
        return line_fail(d, err, 1, line,
                         "the header must name \"change\" first, then the item file's columns");
    }
    d->id_col = -1;
    if (!strcmp(format, "movielens-csv")) {
        d->id_col = 0;
    } else {
        for (long i = 1; i < nf && i < 64; i++) {
            const char *q = f[i].p;
            size_t m = f[i].n;
            fr_csv_strip(&q, &m);
            if (m == 7 && !memcmp(q, "item_id", 7))
                d->id_col = (int)i - 1;
        }
    }
    free(copy);
    if (d->id_col < 0)
        return line_fail(d, err, 1, line, "the header names no item_id column");
    const char *comma = memchr(line, ',', len);
    if (!(d->header = strndup(comma + 1, len - (size_t)(comma + 1 - line))))
        return fr_fail(err, FR_ENOMEM, "%s: out of memory", d->path);
    return FR_OK;
}

/* The id of a row, canonical as the catalogue spells it, or NULL with *why set. */
static char *row_id(const fr_catver *cv, fr_csv_field *f, long nf, int id_col, const char **why)
{
    char buf[32];
    *why = "no id";
    if (nf <= id_col + 1)
        return NULL;
    const char *p = f[id_col + 1].p;
    size_t n = f[id_col + 1].n;
    fr_csv_strip(&p, &n);
    if (n == 0)
        return NULL;
    if (n > FR_MODEL_MAX_KEY) {
        *why = "the id is too long";
        return NULL;
    }
    int64_t v;
    if (cv->numeric && fr_csv_parse_int(p, n, &v) == FR_OK) {
        snprintf(buf, sizeof buf, "%" PRId64, v);
        return strdup(buf);
    }
    return strndup(p, n);
}

/* Check one row against the catalogue and the rows before it. */
static fr_status check_row(const fr_catver *cv, const diff *d, const drow *r, const char *text,
                           fr_err *err)
{
    char why[400];
    for (int i = 0; i < d->n; i++)
        if (!strcmp(d->rows[i].id, r->id)) {
            snprintf(why, sizeof why, "item '%.100s' is already named on line %ld", r->id,
                     d->rows[i].line);
            return line_fail(d, err, r->line, text, why);
        }
    int row = fr_catver_find(cv, r->id);
    if (r->change == ADD && row > 0)
        snprintf(why, sizeof why, "cannot add item '%.100s': it is already row %d%s", r->id, row,
                 cv->retired[row] ? " (retired: its row is not reused)" : "");
    else if (r->change != ADD && row < 0)
        snprintf(why, sizeof why, "cannot %s item '%.100s': it is not in catalogue version %ld",
                 change_names[r->change], r->id, cv->version);
    else if (r->change != ADD && cv->retired[row])
        snprintf(why, sizeof why, "cannot %s item '%.100s': it is already retired",
                 change_names[r->change], r->id);
    else
        return FR_OK;
    return line_fail(d, err, r->line, text, why);
}

/* Append the row's text less its change column to the split file of its change. */
static fr_status put_row(diff *d, int c, const char *format, const char *work, long line,
                         const char *text, size_t len, fr_err *err)
{
    if (!d->f[c]) {
        char sub[4200];
        const char *name = !strcmp(format, "movielens-csv") ? "movies.csv" : "items.csv";
        snprintf(sub, sizeof sub, "%.4000s/%s", work, change_names[c]);
        if (mkdir(sub, 0700) != 0 && errno != EEXIST)
            return fr_fail(err, FR_EIO, "%s: %s", sub, strerror(errno));
        snprintf(d->file[c], sizeof d->file[c], "%.4100s/%s", sub, name);
        if (!(d->f[c] = fopen(d->file[c], "w")))
            return fr_fail(err, FR_EIO, "%s: %s", d->file[c], strerror(errno));
        fprintf(d->f[c], "%s\n", d->header);
    }
    long *m = realloc(d->map[c], (size_t)(d->nmap[c] + 1) * sizeof *m);
    if (!m)
        return fr_fail(err, FR_ENOMEM, "%s: out of memory", d->path);
    d->map[c] = m;
    m[d->nmap[c]++] = line;
    const char *comma = memchr(text, ',', len);
    fwrite(comma + 1, 1, len - (size_t)(comma + 1 - text), d->f[c]);
    fputc('\n', d->f[c]);
    return FR_OK;
}

/* Read every row: checked, and the rows to add and update split out. */
static fr_status read_diff(fr_catver *cv, diff *d, const char *format, const char *work,
                           fr_err *err)
{
    fr_csv r = {0};
    char *line;
    size_t len;
    int too_long, rc;
    fr_status st = FR_OK;
    if (fr_csv_open(&r, d->path) != FR_OK)
        return fr_fail(err, FR_EIO, "%s: %s", d->path, strerror(errno));
    while (st == FR_OK && (rc = fr_csv_line(&r, &line, &len, &too_long)) == 1) {
        if (too_long) {
            st = line_fail(d, err, r.line_no, "", "line too long");
            break;
        }
        if (r.line_no == 1) {
            st = read_header(d, format, line, len, err);
            continue;
        }
        size_t blank = 0;
        while (blank < len && fr_csv_space_at(line + blank, len - blank))
            blank += fr_csv_space_at(line + blank, len - blank);
        if (blank == len)
            continue;
        char *copy = strndup(line, len);
        fr_csv_field f[64];
        long nf = copy ? fr_csv_split(copy, len, f, 64) : 0;
        drow row = {.change = -1, .line = r.line_no};
        const char *p = nf > 0 ? f[0].p : "", *why = NULL;
        size_t n = nf > 0 ? f[0].n : 0;
        fr_csv_strip(&p, &n);
        for (int c = 0; c < 3; c++)
            if (n == strlen(change_names[c]) && !memcmp(p, change_names[c], n))
                row.change = c;
        if (!copy)
            st = fr_fail(err, FR_ENOMEM, "%s: out of memory", d->path);
        else if (nf < 0)
            st = line_fail(d, err, r.line_no, line, "a quoted field is left open");
        else if (row.change < 0)
            st = line_fail(d, err, r.line_no, line, "the change must be add, update or retire");
        else if (!(row.id = row_id(cv, f, nf < 64 ? nf : 64, d->id_col, &why)))
            st = line_fail(d, err, r.line_no, line, why);
        else if ((st = check_row(cv, d, &row, line, err)) == FR_OK && row.change != RETIRE)
            st = put_row(d, row.change, format, work, r.line_no, line, len, err);
        free(copy);
        if (st == FR_OK && d->n == d->cap) {
            drow *g = realloc(d->rows, (size_t)(d->cap ? 2 * d->cap : 64) * sizeof *g);
            if (!g)
                st = fr_fail(err, FR_ENOMEM, "%s: out of memory", d->path);
            else {
                d->rows = g;
                d->cap = d->cap ? 2 * d->cap : 64;
            }
        }
        if (st == FR_OK)
            d->rows[d->n++] = row;
        else
            free(row.id);
    }
    if (st == FR_OK && rc < 0)
        st = fr_fail(err, FR_EIO, "%s: cannot read", d->path);
    if (st == FR_OK && r.line_no < 1)
        st = fr_fail(err, FR_EINVAL, "%s: empty: a header naming \"change\" first is needed",
                     d->path);
    fr_csv_close(&r);
    for (int c = 0; c < 2; c++)
        if (d->f[c] && fclose(d->f[c]) != 0 && st == FR_OK)
            st = fr_fail(err, FR_EIO, "%s: cannot write", d->file[c]);
    d->f[0] = d->f[1] = NULL;
    return st;
}

/* Read a split file with the format's reader; a row it passes over is refused,
 * quoting the diff's line. */
static fr_status load_split(const fr_catver *cv, const diff *d, int c, const char *format,
                            fr_items *it, fr_err *err)
{
    char sub[4200];
    snprintf(sub, sizeof sub, "%.4000s", d->file[c]);
    *strrchr(sub, '/') = 0;
    fr_status st = fr_items_load(it, sub, format, cv->num_tokens, cv->token_vocab, err);
    if (st == FR_ENODATA || (st == FR_OK && it->rows_skipped > 0)) {
        long k = st == FR_OK ? it->skipped_lines[0] - 2 : 0;
        long line = k >= 0 && k < d->nmap[c] ? d->map[c][k] : d->map[c][0];
        fr_items_free(it);
        return fr_fail(err, FR_EINVAL, "%s:%ld: not a valid %s row of %s", d->path, line,
                       change_names[c], format);
    }
    return st;
}

fr_status fr_catdiff_apply(fr_catver *cv, const char *dir, const char *format, const char *work,
                           long floor, fr_catdiff_counts *counts, fr_err *err)
{
    diff d = {0};
    fr_items it[2] = {{0}, {0}};
    char path[4200];
    memset(counts, 0, sizeof *counts);
    if (strcmp(format, "movielens-csv") && strcmp(format, "events-csv"))
        return fr_fail(err, FR_EINVAL,
                       "a diff is read in movielens-csv or events-csv (a header names its "
                       "change column), not %s",
                       format);
    snprintf(path, sizeof path, "%.4000s/%s", dir,
             !strcmp(format, "movielens-csv") ? "movies.csv" : "items.csv");
    d.path = path;
    fr_status st = read_diff(cv, &d, format, work, err);
    for (int c = 0; st == FR_OK && c < 2; c++)
        if (d.nmap[c])
            st = load_split(cv, &d, c, format, &it[c], err);
    if (st == FR_OK && d.n == 0)
        st = fr_fail(err, FR_EINVAL, "%s: no rows: nothing to change", path);
    if (st == FR_OK && d.nmap[UPDATE])
        st = fr_catver_update(cv, &it[UPDATE], path, err);
    if (st == FR_OK) {
        int nr = 0;
        const char **ids = malloc((size_t)(d.n ? d.n : 1) * sizeof *ids);
        if (!ids)
            st = fr_fail(err, FR_ENOMEM, "%s: out of memory", path);
        for (int i = 0; ids && i < d.n; i++)
            if (d.rows[i].change == RETIRE)
                ids[nr++] = d.rows[i].id;
        if (st == FR_OK && nr)
            st = fr_catver_retire(cv, ids, nr, err);
        free(ids);
        counts->retired = nr;
    }
    if (st == FR_OK && d.nmap[ADD])
        st = fr_catver_add_reclaiming(cv, &it[ADD], path, floor, &counts->reused, err);
    counts->added = d.nmap[ADD];
    counts->updated = d.nmap[UPDATE];
    for (int c = 0; c < 2; c++) {
        fr_items_free(&it[c]);
        if (d.file[c][0]) {
            char sub[4200];
            snprintf(sub, sizeof sub, "%.4000s/%s", work, change_names[c]);
            unlink(d.file[c]);
            d.file[c][0] = 0;
            rmdir(sub);
        }
    }
    diff_free(&d);
    return st;
}
