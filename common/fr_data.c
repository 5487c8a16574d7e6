/* Behaviour data for fedrecall: the movielens-csv files streamed through fr_csv,
 * the dense row mapping, the chronological leave-one-out split, hashed content tokens
 * and the training windows. Every rule follows the data conventions of the model spec
 * to the byte, because exported weights are evaluated by a loader that applies the
 * same rules: one differing row order or token hash and the weights no longer line
 * up. */
#include "fr_data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fr_csv.h"

#define FR_DATA_MAX_FIELDS 8            /* fields kept per row; more are only counted */
#define FR_DATA_MAX_ROWS (INT32_MAX - 1) /* items and users must fit an int32 row */
#define FR_DATA_PATH_MAX 4096

const char *const fr_data_formats[] = {"movielens-csv", NULL};

/* ------------------------------------------------------------------ tokens */

uint32_t fr_fnv1a32(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t h = 0x811c9dc5u;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x01000193u;
    }
    return h;
}

int32_t fr_token_row(const char *token, size_t len, int vocab)
{
    FR_ASSERT(vocab >= 2);
    return (int32_t)(fr_fnv1a32(token, len) % (uint32_t)(vocab - 1)) + 1;
}

static int is_punct(unsigned char c)
{
    return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
           (c >= '{' && c <= '~');
}

static int is_ascii_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

static int item_tokens(const char *genres, size_t glen, const char *title, size_t tlen,
                       int num_tokens, int vocab, int32_t *out)
{
    int k = 0;
    size_t s = 0, wlen = 0;
    uint32_t h = 0x811c9dc5u;
    memset(out, 0, (size_t)num_tokens * sizeof *out);
    for (size_t i = 0; i <= glen && k < num_tokens; i++) {
        if (i < glen && genres[i] != '|')
            continue;
        size_t n = i - s;
        const char *g = genres + s;
        s = i + 1;
        if (n == 0 || (n == 18 && !memcmp(g, "(no genres listed)", 18)) ||
            (n == 7 && !memcmp(g, "unknown", 7)))
            continue;
        out[k++] = fr_token_row(g, n, vocab);
    }
    /* Title words hashed as they stream by: FNV-1a needs only the running state. */
    for (size_t i = 0; i <= tlen && k < num_tokens; i++) {
        unsigned char c = i < tlen ? (unsigned char)title[i] : ' ';
        if (is_punct(c))
            continue;
        if (is_ascii_space(c)) {
            if (wlen)
                out[k++] = (int32_t)(h % (uint32_t)(vocab - 1)) + 1;
            h = 0x811c9dc5u;
            wlen = 0;
            continue;
        }
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        h = (h ^ c) * 0x01000193u;
        wlen++;
    }
    return k;
}

int fr_item_tokens(const char *genres, const char *title, int num_tokens, int vocab,
                   int32_t *out)
{
    FR_ASSERT(num_tokens >= 1 && vocab >= 2);
    genres = genres ? genres : "";
    title = title ? title : "";
    return item_tokens(genres, strlen(genres), title, strlen(title), num_tokens, vocab, out);
}

/* ------------------------------------------------------------------ reading */

typedef struct fr_data_event {
    int64_t user, item;
    double ts;
} fr_data_event;

typedef struct fr_data_events {
    fr_data_event *v;
    long n, cap;
} fr_data_events;

/* A row handler: 0 = row used, 1 = malformed (why says how), FR_ENOMEM = give up. */
typedef int (*fr_data_row_fn)(void *ctx, const fr_csv_field *f, long nf, char *why,
                              size_t cap);

typedef struct fr_data_file {
    const char *name, *header; /* file in the folder, first field of its header row */
    int content;               /* the optional item content file (counts go to content_*) */
    fr_data_row_fn row;
} fr_data_file;

static long find_id(const int64_t *ids, long n, int64_t id)
{
    long lo = 0, hi = n;
    while (lo < hi) {
        long mid = lo + (hi - lo) / 2;
        if (ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && ids[lo] == id ? lo : -1;
}

static int is_header(long nf, const fr_csv_field *f, const char *name)
{
    const char *p = nf > 0 ? f[0].p : "";
    size_t n = nf > 0 ? f[0].n : 0;
    fr_csv_strip(&p, &n);
    return n == strlen(name) && !memcmp(p, name, n);
}

/* The rating column is not used: every event is an implicit positive. */
static int ratings_row(void *ctx, const fr_csv_field *f, long nf, char *why, size_t cap)
{
    fr_data_events *ev = ctx;
    fr_data_event e;
    if (nf < 4)
        snprintf(why, cap, "expected 4 fields (userId,movieId,rating,timestamp), found %ld",
                 nf);
    else if (fr_csv_parse_int(f[0].p, f[0].n, &e.user) != FR_OK)
        snprintf(why, cap, "userId '%.40s' is not an integer", f[0].p);
    else if (fr_csv_parse_int(f[1].p, f[1].n, &e.item) != FR_OK)
        snprintf(why, cap, "movieId '%.40s' is not an integer", f[1].p);
    else if (fr_csv_parse_float(f[3].p, f[3].n, &e.ts) != FR_OK)
        snprintf(why, cap, "timestamp '%.40s' is not a number", f[3].p);
    else {
        if (ev->n == ev->cap) {
            long grown = ev->cap ? 2 * ev->cap : 1024;
            fr_data_event *v = realloc(ev->v, (size_t)grown * sizeof *v);
            if (!v)
                return FR_ENOMEM;
            ev->v = v;
            ev->cap = grown;
        }
        ev->v[ev->n++] = e;
        return 0;
    }
    return 1;
}

/* An item's last content row wins; items nobody interacted with are passed over. */
static int movies_row(void *ctx, const fr_csv_field *f, long nf, char *why, size_t cap)
{
    fr_dataset *ds = ctx;
    int64_t id;
    long row;
    if (nf < 3)
        snprintf(why, cap, "expected 3 fields (movieId,title,genres), found %ld", nf);
    else if (fr_csv_parse_int(f[0].p, f[0].n, &id) != FR_OK)
        snprintf(why, cap, "movieId '%.40s' is not an integer", f[0].p);
    else {
        if ((row = find_id(ds->item_ids + 1, ds->num_items - 1, id)) >= 0)
            item_tokens(f[2].p, f[2].n, f[1].p, f[1].n, ds->num_tokens, ds->token_vocab,
                        ds->tokens + (size_t)(row + 1) * (size_t)ds->num_tokens);
        return 0;
    }
    return 1;
}

static const fr_data_file fr_data_ratings = {"ratings.csv", "userId", 0, ratings_row};
static const fr_data_file fr_data_movies = {"movies.csv", "movieId", 1, movies_row};

/* Streams one CSV file through its row handler: a header is recognised on line 1
 * only, malformed rows are counted and skipped (or, when strict, end the read with
 * FILE:LINE). A missing content file is no error: items then have no content. */
static fr_status read_csv(const fr_data_file *spec, const char *dir, int strict, void *ctx,
                          fr_data_report *rep, fr_err *err)
{
    char file[FR_DATA_PATH_MAX], why[160];
    fr_csv_field f[FR_DATA_MAX_FIELDS];
    fr_csv cr;
    long nf;
    long *rows = spec->content ? &rep->content_rows : &rep->rows_read;
    long *skipped = spec->content ? &rep->content_skipped : &rep->rows_skipped;
    int rc, n = snprintf(file, sizeof file, "%s/%s", dir, spec->name);
    fr_status st = FR_OK;
    if (n < 0 || (size_t)n >= sizeof file)
        return fr_fail(err, FR_EINVAL, "%s: path too long", dir);
    if (fr_csv_open(&cr, file) != FR_OK)
        return spec->content && errno == ENOENT
                   ? FR_OK : fr_fail(err, FR_EIO, "%s: %s", file, strerror(errno));
    while ((rc = fr_csv_next(&cr, f, FR_DATA_MAX_FIELDS, &nf)) == 1) {
        if (cr.line_no == 1 && nf >= 0 && is_header(nf, f, spec->header))
            continue;
        ++*rows;
        if (nf == FR_CSV_LONG_LINE)
            snprintf(why, sizeof why, "line longer than %ld bytes", FR_CSV_MAX_LINE);
        else if (nf < 0)
            snprintf(why, sizeof why, "unterminated quoted field");
        else if ((rc = spec->row(ctx, f, nf, why, sizeof why)) <= 0) {
            if (rc < 0)
                break;
            continue;
        }
        if (strict) {
            st = fr_fail(err, FR_EFORMAT, "%s:%ld: %s", file, cr.line_no, why);
            goto out;
        }
        if ((*skipped)++ == 0 && !spec->content)
            snprintf(rep->bad_reason, sizeof rep->bad_reason, "%s", why);
        if (!spec->content && rep->n_bad_lines < FR_DATA_BAD_LINES)
            rep->bad_lines[rep->n_bad_lines++] = cr.line_no;
    }
    if (rc < 0)
        st = fr_fail(err, (fr_status)rc, "%s: %s at line %ld", file,
                     rc == FR_ENOMEM ? "out of memory" : strerror(errno), cr.line_no);
out:
    fr_csv_close(&cr);
    return st;
}

/* ------------------------------------------------------------------ rows, split */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sorted distinct item (or user) ids of the events after pad free slots; NULL when
 * out of memory. */
static int64_t *distinct(const fr_data_event *ev, long n, int items, long *m, long pad)
{
    int64_t *out = malloc((size_t)(n + pad) * sizeof *out);
    long k = 0;
    if (!out)
        return NULL;
    for (long i = 0; i < n; i++)
        out[pad + i] = items ? ev[i].item : ev[i].user;
    qsort(out + pad, (size_t)n, sizeof *out, cmp_i64);
    for (long i = 0; i < n; i++)
        if (k == 0 || out[pad + i] != out[pad + k - 1])
            out[pad + k++] = out[pad + i];
    *m = k;
    int64_t *fit = realloc(out, (size_t)(k + pad) * sizeof *out);
    return fit ? fit : out;
}

/* Stable bottom-up merge sort of event indices by timestamp: the right run's event
 * goes first only when strictly earlier, so equal times keep file order. */
static void sort_by_time(long *idx, long *tmp, long n, const fr_data_event *ev)
{
    for (long w = 1; w < n; w *= 2) {
        for (long lo = 0; lo < n; lo += 2 * w) {
            long mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            long i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = ev[idx[j]].ts < ev[idx[i]].ts ? idx[j++] : idx[i++];
            while (i < mid)
                tmp[k++] = idx[i++];
            while (j < hi)
                tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, (size_t)n * sizeof *idx);
    }
}

static fr_status build_rows(fr_dataset *ds, const fr_data_events *ev, fr_err *err)
{
    long n = ev->n, ni = 0, nu = 0, *order = NULL, *tmp = NULL, *cur = NULL;
    int32_t *rows = NULL;
    fr_status st = FR_ENOMEM;
    if (!(ds->item_ids = distinct(ev->v, n, 1, &ni, 1)) ||
        !(ds->user_ids = distinct(ev->v, n, 0, &nu, 0)))
        goto out;
    if (ni > FR_DATA_MAX_ROWS || nu > FR_DATA_MAX_ROWS) {
        st = fr_fail(err, FR_ENOMEM, "%ld items and %ld users exceed the limit of %d",
                     ni, nu, FR_DATA_MAX_ROWS);
        goto out;
    }
    ds->item_ids[0] = 0;
    ds->num_items = (int)ni + 1;
    ds->num_users = (int)nu;
    ds->interactions = n;
    rows = malloc((size_t)n * sizeof *rows);
    order = malloc((size_t)n * sizeof *order);
    tmp = malloc((size_t)n * sizeof *tmp);
    cur = calloc((size_t)nu + 1, sizeof *cur);
    ds->train_off = calloc((size_t)nu + 1, sizeof *ds->train_off);
    ds->train_items = malloc((size_t)n * sizeof *ds->train_items);
    ds->valid = calloc((size_t)nu, sizeof *ds->valid);
    ds->test = calloc((size_t)nu, sizeof *ds->test);
    ds->eval_users = malloc((size_t)nu * sizeof *ds->eval_users);
    if (!rows || !order || !tmp || !cur || !ds->train_off || !ds->train_items ||
        !ds->valid || !ds->test || !ds->eval_users)
        goto out;
    /* Group events by user in file order (counting sort), then time-sort each group. */
    for (long e = 0; e < n; e++) {
        rows[e] = (int32_t)find_id(ds->item_ids + 1, ni, ev->v[e].item) + 1;
        cur[find_id(ds->user_ids, nu, ev->v[e].user) + 1]++;
    }
    for (long u = 0; u < nu; u++)
        cur[u + 1] += cur[u];
    for (long e = 0; e < n; e++)
        order[cur[find_id(ds->user_ids, nu, ev->v[e].user)]++] = e;
    for (long u = nu; u > 0; u--)
        cur[u] = cur[u - 1];
    cur[0] = 0;
    for (long u = 0; u < nu; u++) {
        long *seq = order + cur[u], len = cur[u + 1] - cur[u];
        long ntrain = len < 3 ? len : len - 2;
        int64_t off = ds->train_off[u];
        sort_by_time(seq, tmp, len, ev->v);
        for (long k = 0; k < ntrain; k++)
            ds->train_items[off + k] = rows[seq[k]];
        ds->train_off[u + 1] = off + ntrain;
        if (len >= 3) {
            ds->valid[u] = rows[seq[len - 2]];
            ds->test[u] = rows[seq[len - 1]];
            ds->eval_users[ds->num_eval_users++] = (int32_t)u;
        }
    }
    st = FR_OK;
out:
    if (st == FR_ENOMEM && !err->msg[0])
        fr_fail(err, FR_ENOMEM, "out of memory building rows for %ld interactions", n);
    free(rows);
    free(order);
    free(tmp);
    free(cur);
    return st;
}

void fr_dataset_free(fr_dataset *ds)
{
    if (!ds)
        return;
    free(ds->item_ids);
    free(ds->user_ids);
    free(ds->tokens);
    free(ds->train_off);
    free(ds->train_items);
    free(ds->valid);
    free(ds->test);
    free(ds->eval_users);
    memset(ds, 0, sizeof *ds);
}

fr_status fr_dataset_load(fr_dataset *ds, const char *path, const char *format,
                          int num_tokens, int token_vocab, int strict, fr_err *err)
{
    fr_data_events ev = {0};
    fr_data_report rep;
    fr_err local = {{0}};
    fr_status st;
    err = err ? err : &local;
    err->msg[0] = '\0';
    memset(ds, 0, sizeof *ds);
    if (!path || !format) {
        st = fr_fail(err, FR_EINVAL, "data path and format are required");
        goto out;
    }
    if (strcmp(format, "movielens-csv") != 0) {
        char list[256] = "";
        size_t used = 0;
        for (int i = 0; fr_data_formats[i] && used < sizeof list; i++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                     fr_data_formats[i]);
        st = fr_fail(err, FR_EINVAL, "unknown data format '%s' (supported: %s)", format, list);
        goto out;
    }
    if (num_tokens < 1 || token_vocab < 2) {
        st = fr_fail(err, FR_EINVAL, "%s: need tokens >= 1 and token vocab >= 2 (got %d, %d)",
                     path, num_tokens, token_vocab);
        goto out;
    }
    if ((st = read_csv(&fr_data_ratings, path, strict, &ev, &ds->report, err)) != FR_OK)
        goto out;
    if (ev.n == 0) {
        st = fr_fail(err, FR_ENODATA, "%s: no interactions in ratings.csv (%ld rows read, "
                     "%ld skipped)", path, ds->report.rows_read, ds->report.rows_skipped);
        goto out;
    }
    if ((st = build_rows(ds, &ev, err)) != FR_OK)
        goto out;
    free(ev.v); /* the events are no longer needed; give the memory back early */
    ev.v = NULL;
    ds->num_tokens = num_tokens;
    ds->token_vocab = token_vocab;
    if ((size_t)ds->num_items > SIZE_MAX / sizeof(int32_t) / (size_t)num_tokens ||
        !(ds->tokens = calloc((size_t)ds->num_items * (size_t)num_tokens, sizeof(int32_t)))) {
        st = fr_fail(err, FR_ENOMEM, "%s: out of memory for %d x %d tokens", path,
                     ds->num_items, num_tokens);
        goto out;
    }
    if ((st = read_csv(&fr_data_movies, path, strict, ds, &ds->report, err)) != FR_OK)
        goto out;
    for (long r = 1; r < ds->num_items; r++)
        ds->items_with_content += ds->tokens[(size_t)r * (size_t)num_tokens] != 0;
out:
    free(ev.v);
    if (st != FR_OK) {
        rep = ds->report; /* what was read before the failure still helps the message */
        fr_dataset_free(ds);
        ds->report = rep;
    }
    return st;
}

/* ------------------------------------------------------------------ windows */

fr_status fr_dataset_windows(const fr_dataset *ds, int seq_len, int32_t **out,
                             long *n_windows, long *n_positions, fr_err *err)
{
    long w = (long)seq_len + 1, count = 0, k = 0, pos = 0;
    int32_t *buf;
    *out = NULL;
    *n_windows = 0;
    *n_positions = 0;
    if (seq_len < 1)
        return fr_fail(err, FR_EINVAL, "sequence length must be >= 1 (got %d)", seq_len);
    for (int u = 0; u < ds->num_users; u++) {
        long n = (long)(ds->train_off[u + 1] - ds->train_off[u]);
        count += n / w + (n % w >= 2);
    }
    if ((size_t)count > SIZE_MAX / sizeof *buf / (size_t)w ||
        !(buf = calloc((size_t)(count ? count : 1) * (size_t)w, sizeof *buf)))
        return fr_fail(err, FR_ENOMEM, "out of memory for %ld training windows of %ld",
                       count, w);
    /* Newest-aligned: the remainder n % w is the oldest, shorter window. */
    for (int u = 0; u < ds->num_users; u++) {
        const int32_t *seq = ds->train_items + ds->train_off[u];
        long n = (long)(ds->train_off[u + 1] - ds->train_off[u]), r = n % w;
        if (r >= 2)
            memcpy(buf + (size_t)(k++ * w + w - r), seq, (size_t)r * sizeof *seq);
        for (long s = r; s < n; s += w)
            memcpy(buf + (size_t)(k++ * w), seq + s, (size_t)w * sizeof *seq);
    }
    for (long i = 0; i < count; i++)
        for (long j = 0; j < w - 1; j++)
            pos += buf[i * w + j] != 0;
    *out = buf;
    *n_windows = count;
    *n_positions = pos;
    return FR_OK;
}

void fr_left_pad(const int32_t *seq, long n, int seq_len, int32_t *out)
{
    long take = n < seq_len ? n : seq_len;
    memset(out, 0, (size_t)seq_len * sizeof *out);
    if (take > 0)
        memcpy(out + (seq_len - take), seq + (n - take), (size_t)take * sizeof *out);
}
