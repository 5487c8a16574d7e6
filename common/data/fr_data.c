/* Behaviour data for fedrecall: loading a data set in any supported format (the
 * readers are fr_format_*.c, the shared reading loop fr_data_read.c, cleaning
 * fr_clean.c, rows fr_data_rows.c), the dataset's lookups, and the training windows.
 * Every rule follows the data conventions of the model spec to the byte, because
 * exported weights are evaluated by a loader that applies the same rules: one
 * differing row order or token hash and the weights no longer line up. */
#include "data/fr_data.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/fr_data_int.h"

const char *const fr_data_formats[] = {"movielens-csv", "movielens-100k", "sasrec", "events-csv",
                                       NULL};

static const fr_data_format *const formats[] = {&fr_format_movielens_csv, &fr_format_movielens_100k,
                                                &fr_format_sasrec, &fr_format_events_csv};

/* ------------------------------------------------------------------ loading */

static fr_status check_options(const fr_data_options *o, fr_err *err)
{
    if (o->min_user_events < 0 || o->min_item_events < 0)
        return fr_fail(err, FR_EINVAL, "minimum event counts must be >= 0 (got %d, %d)",
                       o->min_user_events, o->min_item_events);
    if ((o->has_min_timestamp && isnan(o->min_timestamp)) ||
        (o->has_max_timestamp && isnan(o->max_timestamp)))
        return fr_fail(err, FR_EINVAL, "timestamp bounds must be numbers");
    if (o->has_min_timestamp && o->has_max_timestamp && o->min_timestamp > o->max_timestamp)
        return fr_fail(err, FR_EINVAL, "--min-timestamp %.15g is after --max-timestamp %.15g",
                       o->min_timestamp, o->max_timestamp);
    return FR_OK;
}

/* Enters the catalogue's items in row order, so that key k is row k + 1, after the
 * checks that keep the rows meaningful: T and the token range as the load's, and no
 * item twice (it would have two rows, and events only the first). */
static fr_status enter_catalogue(fr_data_load *ld, const fr_data_catalogue *c, fr_err *err)
{
    const fr_dataset *ds = ld->ds;
    char buf[24];
    if ((c->item_ids == NULL) == (c->item_keys == NULL))
        return fr_fail(err, FR_EINVAL, "catalogue: give item ids or item keys, exactly one");
    if (c->num_items < 2 || c->num_items - 1 > FR_DATA_MAX_ROWS || !c->tokens)
        return fr_fail(err, FR_EINVAL,
                       "catalogue: %d rows, or no token rows (need at least one "
                       "item past the padding row, and tokens)",
                       c->num_items);
    if (c->num_tokens != ds->num_tokens)
        return fr_fail(err, FR_EINVAL,
                       "catalogue has %d tokens per item, the data is read with "
                       "%d; use --tokens %d",
                       c->num_tokens, ds->num_tokens, c->num_tokens);
    for (size_t i = 0; i < (size_t)c->num_items * (size_t)c->num_tokens; i++)
        if (c->tokens[i] < 0 || c->tokens[i] >= ds->token_vocab)
            return fr_fail(err, FR_EINVAL,
                           "catalogue row %zu has token %d, outside the token "
                           "vocabulary [0, %d)",
                           i / (size_t)c->num_tokens, (int)c->tokens[i], ds->token_vocab);
    for (int r = 1; r < c->num_items; r++) {
        const char *p = buf;
        size_t n;
        int32_t idx;
        if (c->item_ids) {
            n = (size_t)snprintf(buf, sizeof buf, "%lld", (long long)c->item_ids[r]);
        } else {
            if (!(p = c->item_keys[r]) || !*p)
                return fr_fail(err, FR_EINVAL, "catalogue row %d has no item key", r);
            n = strlen(p);
        }
        if (fr_data_keys_add(&ld->items, p, n, c->item_ids != NULL,
                             c->item_ids ? c->item_ids[r] : 0, &idx) != FR_OK)
            return fr_fail(err, FR_ENOMEM, "catalogue: out of memory for %d items",
                           c->num_items - 1);
        if (idx != r - 1)
            return fr_fail(err, FR_EINVAL, "catalogue rows %d and %d are both item '%.60s'",
                           idx + 1, r, p);
    }
    ld->cat = c;
    return FR_OK;
}

fr_status fr_data_load_begin(fr_data_load *ld, fr_dataset *ds, const char *format, int num_tokens,
                             int token_vocab, const fr_data_options *opts, fr_err *err)
{
    memset(ld, 0, sizeof *ld);
    memset(ds, 0, sizeof *ds);
    ld->ds = ds;
    ld->err = err;
    if (opts)
        ld->opt = *opts;
    for (size_t i = 0; i < sizeof formats / sizeof *formats; i++)
        if (format && !strcmp(format, formats[i]->name))
            ld->fmt = formats[i];
    if (!ld->fmt) {
        char list[256] = "";
        size_t used = 0;
        for (int i = 0; fr_data_formats[i] && used < sizeof list; i++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                     fr_data_formats[i]);
        return fr_fail(err, FR_EINVAL, "unknown data format '%s' (supported: %s)",
                       format ? format : "(none)", list);
    }
    if (num_tokens < 1 || token_vocab < 2)
        return fr_fail(err, FR_EINVAL, "need tokens >= 1 and token vocab >= 2 (got %d, %d)",
                       num_tokens, token_vocab);
    ds->num_tokens = num_tokens;
    ds->token_vocab = token_vocab;
    fr_status st = check_options(&ld->opt, err);
    if (st == FR_OK && ld->opt.event_filter)
        st = fr_clean_filter_parse(&ld->filter, ld->opt.event_filter, ld->fmt, err);
    if (st == FR_OK && ld->opt.catalogue)
        st = enter_catalogue(ld, ld->opt.catalogue, err);
    return st;
}

fr_status fr_data_load_end(fr_data_load *ld, fr_status st)
{
    fr_dataset *ds = ld->ds;
    free(ld->ev);
    free(ld->item_row);
    free(ld->conv);
    free(ld->coll_tokens);
    fr_data_keys_free(&ld->users);
    fr_data_keys_free(&ld->items);
    if (st == FR_OK && ds->tokens) {
        for (long r = 1; r < ds->num_items; r++)
            ds->items_with_content += ds->tokens[(size_t)r * (size_t)ds->num_tokens] != 0;
    } else if (st != FR_OK && ds) {
        fr_data_report rep = ds->report; /* what was read still helps the message */
        fr_dataset_free(ds);
        ds->report = rep;
    }
    memset(ld, 0, sizeof *ld);
    return st;
}

/* folder/name, or path itself when name is NULL. */
static fr_status file_in(char *buf, size_t cap, const char *path, const char *name, fr_err *err)
{
    int n = name ? snprintf(buf, cap, "%s/%s", path, name) : snprintf(buf, cap, "%s", path);
    if (n < 0 || (size_t)n >= cap)
        return fr_fail(err, FR_EINVAL, "%s: path too long", path);
    return FR_OK;
}

/* The rows of opts.extra_events (events-csv) after the data's own: the report counts
 * the rows of both. */
static fr_status read_extra_events(fr_data_load *ld, fr_err *err)
{
    char file[FR_DATA_PATH_MAX], kept[FR_DATA_FILE_NAME];
    fr_csv cr;
    const fr_data_format *fmt = ld->fmt;
    fr_status st =
        file_in(file, sizeof file, ld->opt.extra_events, fr_format_events_csv.events_file, err);
    if (st != FR_OK)
        return st;
    if (fr_csv_open(&cr, file) != FR_OK)
        return errno == ENOENT ? FR_OK : fr_fail(err, FR_EIO, "%s: %s", file, strerror(errno));
    memcpy(kept, ld->ds->report.events_file, sizeof kept);
    ld->fmt = &fr_format_events_csv;
    ld->header_seen = 0;
    st = fr_data_read_events(ld, &cr, file);
    fr_csv_close(&cr);
    ld->fmt = fmt;
    /* the report names both files ("DATA + LOG") when the names fit */
    int n = snprintf(ld->ds->report.events_file, sizeof kept, "%s + %s", kept, file);
    if (n < 0 || (size_t)n >= sizeof kept)
        memcpy(ld->ds->report.events_file, kept, sizeof kept);
    return st;
}

fr_status fr_dataset_load(fr_dataset *ds, const char *path, const char *format, int num_tokens,
                          int token_vocab, const fr_data_options *opts, fr_err *err)
{
    fr_data_load ld;
    fr_csv cr;
    fr_err local = {{0}};
    char file[FR_DATA_PATH_MAX];
    fr_status st;
    err = err ? err : &local;
    err->msg[0] = '\0';
    memset(&cr, 0, sizeof cr);
    if ((st = fr_data_load_begin(&ld, ds, format, num_tokens, token_vocab, opts, err)) != FR_OK)
        goto out;
    if (!path) {
        st = fr_fail(err, FR_EINVAL, "a data path is required");
        goto out;
    }
    if ((st = file_in(file, sizeof file, path, ld.fmt->events_file, err)) != FR_OK)
        goto out;
    if (fr_csv_open(&cr, file) != FR_OK) {
        st = fr_fail(err, FR_EIO, "%s: %s", file, strerror(errno));
        goto out;
    }
    st = fr_data_read_events(&ld, &cr, file);
    fr_csv_close(&cr);
    if (st == FR_OK && ld.opt.extra_events)
        st = read_extra_events(&ld, err);
    if (st != FR_OK || (st = fr_data_build(&ld)) != FR_OK)
        goto out;
    /* A catalogue brings its own tokens: its content file is the federation's. */
    if (!ld.cat)
        st = fr_data_read_content_files(&ld, path, 0);
out:
    fr_csv_close(&cr);
    return fr_data_load_end(&ld, st);
}

fr_status fr_data_read_content_files(fr_data_load *ld, const char *path, int required)
{
    char file[FR_DATA_PATH_MAX];
    fr_csv cr;
    fr_status st = FR_OK;
    for (int i = 0; st == FR_OK && i < 2 && ld->fmt->content[i].name; i++) {
        const fr_data_content_file *spec = &ld->fmt->content[i];
        if ((st = file_in(file, sizeof file, path, spec->name, ld->err)) != FR_OK)
            break;
        /* A missing content file is no error for events: items then have no content. */
        if (fr_csv_open(&cr, file) != FR_OK) {
            if (errno != ENOENT || (required && spec->counted))
                st = fr_fail(ld->err, FR_EIO, "%s: %s", file, strerror(errno));
            continue;
        }
        st = fr_data_read_content(ld, spec, &cr, file);
        fr_csv_close(&cr);
    }
    return st;
}

void fr_dataset_free(fr_dataset *ds)
{
    if (!ds)
        return;
    free(ds->item_ids);
    free(ds->user_ids);
    free(ds->item_keys);
    free(ds->user_keys);
    free(ds->tokens);
    free(ds->train_off);
    free(ds->train_items);
    free(ds->valid);
    free(ds->test);
    free(ds->eval_users);
    free(ds->train_values);
    free(ds->valid_values);
    free(ds->test_values);
    memset(ds, 0, sizeof *ds);
}

/* ------------------------------------------------------------------ lookups */

const char *fr_dataset_item_key(const fr_dataset *ds, int row)
{
    return ds->item_keys && row >= 0 && row < ds->num_items ? ds->item_keys[row] : NULL;
}

int fr_dataset_find_user(const fr_dataset *ds, const char *key)
{
    long lo = 0, hi = ds->num_users;
    int64_t v = 0;
    if (!key || !ds->user_keys)
        return -1;
    if (ds->user_ids_numeric && fr_csv_parse_int(key, strlen(key), &v) != FR_OK)
        return -1;
    /* Users are in ascending order of their ids: a binary search either way. */
    while (lo < hi) {
        long mid = lo + (hi - lo) / 2;
        int c = ds->user_ids_numeric ? (ds->user_ids[mid] > v) - (ds->user_ids[mid] < v)
                                     : strcmp(ds->user_keys[mid], key);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo >= ds->num_users)
        return -1;
    if (ds->user_ids_numeric ? ds->user_ids[lo] != v : strcmp(ds->user_keys[lo], key) != 0)
        return -1;
    return (int)lo;
}

/* ------------------------------------------------------------------ windows */

fr_status fr_dataset_windows(const fr_dataset *ds, int seq_len, int32_t **out, long *n_windows,
                             long *n_positions, fr_err *err)
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
        return fr_fail(err, FR_ENOMEM, "out of memory for %ld training windows of %ld", count, w);
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
