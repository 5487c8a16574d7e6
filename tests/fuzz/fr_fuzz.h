/* The libFuzzer driver shared by the data format targets: the input is one data set
 * in memory, read through the same four steps as fr_dataset_load (fr_data_int.h), and
 * the result checked against the invariants every load must keep. The format's row
 * parser sees every line of the input.
 *
 * Input layout: one byte of options (bit 0 dedupe, bits 1-2 minimum user events,
 * bits 3-4 minimum item events, bit 5 an event filter, bit 6 strict, bit 7 a minimum
 * timestamp), then the events file; when the marker "--8<--" follows, the bytes after
 * it are the format's first content file, and after a second marker its second. */
#ifndef FR_FUZZ_H
#define FR_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/fr_data_int.h"

#define FR_FUZZ_MARK "--8<--"

/* A stream over n bytes at p (fmemopen refuses an empty buffer on some libcs). */
static FILE *fuzz_stream(const uint8_t *p, size_t n)
{
    return n ? fmemopen((void *)p, n, "rb") : fopen("/dev/null", "rb");
}

static void fuzz_check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "invariant broken: %s\n", what);
        abort();
    }
}

/* Rows are in strictly ascending order of their ids: numeric or byte-wise. */
static void fuzz_check_order(char **keys, const int64_t *ids, int first, int n)
{
    for (int r = first + 1; r < n; r++)
        fuzz_check(ids ? ids[r - 1] < ids[r] : strcmp(keys[r - 1], keys[r]) < 0, "id order");
}

static void fuzz_check_dataset(const fr_dataset *ds)
{
    const fr_data_report *rep = &ds->report;
    long skipped = 0, train = 0;
    for (int k = 0; k < FR_SKIP_COUNT; k++)
        skipped += rep->skipped[k].count;
    fuzz_check(rep->rows_skipped == skipped, "skips add up");
    fuzz_check(rep->rows_read == ds->interactions + rep->rows_skipped, "rows add up");
    fuzz_check(ds->num_items >= 2 && ds->num_users >= 1, "sizes");
    fuzz_check(!strcmp(fr_dataset_item_key(ds, 0), ""), "padding key");
    fuzz_check_order(ds->item_keys, ds->item_ids, 1, ds->num_items);
    fuzz_check_order(ds->user_keys, ds->user_ids, 0, ds->num_users);
    for (int u = 0; u < ds->num_users; u++) {
        fuzz_check(fr_dataset_find_user(ds, ds->user_keys[u]) == u, "find user");
        long n = (long)(ds->train_off[u + 1] - ds->train_off[u]);
        fuzz_check(n >= 1 && (ds->valid[u] == 0) == (ds->test[u] == 0), "split");
        train += n + (ds->test[u] != 0) * 2;
    }
    fuzz_check(train == ds->interactions, "every event in the split");
    for (long i = 0; i < ds->train_off[ds->num_users]; i++)
        fuzz_check(ds->train_items[i] >= 1 && ds->train_items[i] < ds->num_items, "item rows");
    for (size_t i = 0; i < (size_t)ds->num_items * (size_t)ds->num_tokens; i++)
        fuzz_check(ds->tokens[i] >= 0 && ds->tokens[i] < ds->token_vocab, "token rows");
    int32_t *w = NULL;
    long nw = 0, pos = 0;
    fuzz_check(fr_dataset_windows(ds, 3, &w, &nw, &pos, NULL) == FR_OK, "windows");
    free(w);
}

static const char *fuzz_filter(const char *format)
{
    if (!strcmp(format, "events-csv"))
        return "event=buy";
    return strcmp(format, "sasrec") ? "rating>=3" : "timestamp<5";
}

static int fuzz_format(const char *format, const uint8_t *data, size_t size)
{
    fr_data_options o;
    fr_data_load ld;
    fr_dataset ds;
    fr_err err;
    const uint8_t *part[3] = {NULL, NULL, NULL};
    size_t len[3] = {0, 0, 0};
    int parts = 0;
    memset(&o, 0, sizeof o);
    if (size) {
        uint8_t b = *data++;
        size--;
        o.dedupe = b & 1;
        o.min_user_events = (b >> 1) & 3;
        o.min_item_events = (b >> 3) & 3;
        o.event_filter = (b & 0x20) ? fuzz_filter(format) : NULL;
        o.strict = (b >> 6) & 1;
        o.has_min_timestamp = b >> 7;
        o.min_timestamp = 2;
    }
    while (parts < 3) {
        const uint8_t *m = parts < 2 ? memmem(data, size, FR_FUZZ_MARK, 6) : NULL;
        part[parts] = data;
        len[parts++] = m ? (size_t)(m - data) : size;
        if (!m)
            break;
        size -= (size_t)(m - data) + 6;
        data = m + 6;
    }
    fr_status st = fr_data_load_begin(&ld, &ds, format, 4, 64, &o, &err);
    FILE *f = st == FR_OK ? fuzz_stream(part[0], len[0]) : NULL;
    if (f) {
        fr_csv cr;
        fr_csv_open_stream(&cr, f);
        st = fr_data_read_events(&ld, &cr, "events");
        fr_csv_close(&cr);
        if (st == FR_OK)
            st = fr_data_build(&ld);
    }
    for (int i = 0; st == FR_OK && i < 2 && i + 1 < parts && ld.fmt->content[i].name; i++) {
        fr_csv cr;
        if (!(f = fuzz_stream(part[i + 1], len[i + 1])))
            break;
        fr_csv_open_stream(&cr, f);
        st = fr_data_read_content(&ld, &ld.fmt->content[i], &cr, ld.fmt->content[i].name);
        fr_csv_close(&cr);
    }
    st = fr_data_load_end(&ld, st);
    if (st == FR_OK)
        fuzz_check_dataset(&ds);
    else
        fuzz_check(ds.item_keys == NULL && ds.tokens == NULL, "nothing left on failure");
    fr_dataset_free(&ds);
    return 0;
}

#endif
