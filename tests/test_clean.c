/* Tests of cleaning and of the id mapping, on events-csv fixtures: the k-core filter
 * iterated until stable, deduplication, the timestamp range, the event filter and its
 * grammar, z-scores, option checks, the order of rows for numeric and string ids and
 * the lookups, and the report in words and in JSON. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/fr_data.h"
#include "eval/fr_report.h"
#include "fr_test.h"
#include "fr_test_fixture.h"

static char dir[64];

/* Loads text as dir/events.csv with opts; the status, and ds filled when FR_OK. */
static fr_status load(fr_dataset *ds, const char *text, const fr_data_options *opts, fr_err *err)
{
    err->msg[0] = 0;
    if (!fixture_text(dir, "events.csv", text))
        return FR_EIO;
    return fr_dataset_load(ds, dir, "events-csv", 4, 4096, opts, err);
}

static const fr_data_skips *skips(const fr_dataset *ds, fr_skip r)
{
    return &ds->report.skipped[r];
}

/* ------------------------------------------------------------------ k-core */

/* Dropping u5's E takes u5 under 2, then D, u4, C, u3 in turn: six rounds. */
static const char chain[] = "user_id,item_id,timestamp\n"
                            "u1,A,1\nu1,B,2\nu2,A,3\nu2,B,4\n" /* lines 2-5 */
                            "u3,A,5\nu3,C,6\nu4,C,7\nu4,D,8\n" /* lines 6-9 */
                            "u5,D,9\nu5,E,10\n";               /* lines 10-11 */

static void test_kcore(void)
{
    fr_dataset ds;
    fr_err err;
    fr_data_options o = {.min_user_events = 2, .min_item_events = 2};
    fr_status st = load(&ds, chain, &o, &err);
    CHECK(st == FR_OK, "load: %s", err.msg);
    const fr_data_skips *k = skips(&ds, FR_SKIP_K_CORE);
    long want[] = {6, 7, 8, 9, 10};
    CHECK(ds.interactions == 4 && ds.report.rows_read == 10 && ds.report.rows_skipped == 6 &&
              k->count == 6 && ds.report.k_core_rounds == 6,
          "kept %ld, k_core %ld in %d rounds", ds.interactions, k->count, ds.report.k_core_rounds);
    CHECK(k->n_lines == 5 && !memcmp(k->lines, want, sizeof want), "lines %ld..", k->lines[0]);
    CHECK(!strcmp(k->why, "user 'u3' has 1 events, fewer than --min-user-events 2"), "why %s",
          k->why);
    CHECK(ds.num_users == 2 && ds.num_items == 3 && !strcmp(ds.item_keys[2], "B"), "rows");
    fr_dataset_free(&ds);

    /* Items only: one round, since no user minimum can take an item under its own. */
    fr_data_options items = {.min_item_events = 3};
    st = load(&ds, chain, &items, &err);
    CHECK(st == FR_OK && ds.interactions == 3 && ds.report.k_core_rounds == 1 &&
              skips(&ds, FR_SKIP_K_CORE)->count == 7 && ds.num_items == 2,
          "items only: %ld", ds.interactions);
    CHECK(strstr(skips(&ds, FR_SKIP_K_CORE)->why, "item 'B' has 2 events"), "why %s",
          skips(&ds, FR_SKIP_K_CORE)->why);
    fr_dataset_free(&ds);

    fr_data_options all = {.min_user_events = 3};
    st = load(&ds, chain, &all, &err);
    CHECK(st == FR_ENODATA && strstr(err.msg, "no interaction is left after cleaning") &&
              ds.report.skipped[FR_SKIP_K_CORE].count == 10,
          "nothing left: %s", err.msg);
    fr_dataset_free(&ds);
}

/* ------------------------------------------------------------------ dedupe */

static const char dups[] = "user_id,item_id,timestamp\n"
                           "u1,A,10\n"  /* 2 */
                           "u1,A,10\n"  /* 3 duplicate of 2 */
                           "u1,A,11\n"  /* 4 another time */
                           "u1,B,10\n"  /* 5 */
                           "u2,A,10\n"  /* 6 another user */
                           "u1,A,1e1\n" /* 7 the same time written otherwise */
                           "u1,B,10\n"; /* 8 duplicate of 5 */

static void test_dedupe(void)
{
    fr_dataset ds;
    fr_err err;
    fr_status st = load(&ds, dups, NULL, &err);
    CHECK(st == FR_OK && ds.interactions == 7 && ds.report.rows_skipped == 0,
          "repeats are kept by default");
    fr_dataset_free(&ds);
    fr_data_options o = {.dedupe = 1};
    st = load(&ds, dups, &o, &err);
    const fr_data_skips *d = skips(&ds, FR_SKIP_DUPLICATE);
    long want[] = {3, 7, 8};
    CHECK(st == FR_OK && ds.interactions == 4 && d->count == 3 && d->n_lines == 3 &&
              !memcmp(d->lines, want, sizeof want),
          "dedupe: kept %ld, %ld duplicates", ds.interactions, d->count);
    CHECK(!strcmp(d->why, "same user, item and timestamp as line 2"), "why %s", d->why);
    /* u1 keeps A@10 (the first), B@10, A@11: file order breaks the tie at 10 */
    CHECK(ds.train_items[0] == 1 && ds.valid[0] == 2 && ds.test[0] == 1, "first kept");
    fr_dataset_free(&ds);
}

/* ------------------------------------------------------------------ timestamp range */

static void test_timestamp_range(void)
{
    const char *text = "user_id,item_id,timestamp\nu,a,5\nu,b,10\nu,c,15\nu,d,20\nu,e,15.5\n";
    fr_dataset ds;
    fr_err err;
    fr_data_options o = {
        .has_min_timestamp = 1, .min_timestamp = 10, .has_max_timestamp = 1, .max_timestamp = 15};
    fr_status st = load(&ds, text, &o, &err);
    const fr_data_skips *r = skips(&ds, FR_SKIP_TIMESTAMP_RANGE);
    CHECK(st == FR_OK && ds.interactions == 2 && r->count == 3 && r->lines[0] == 2 &&
              r->lines[1] == 5 && r->lines[2] == 6,
          "inclusive bounds: %ld kept", ds.interactions);
    CHECK(!strcmp(r->why, "timestamp 5 outside [10, 15]"), "why %s", r->why);
    fr_dataset_free(&ds);
    fr_data_options lo = {.has_max_timestamp = 1, .max_timestamp = 10};
    st = load(&ds, text, &lo, &err);
    CHECK(st == FR_OK && ds.interactions == 2 &&
              !strcmp(skips(&ds, FR_SKIP_TIMESTAMP_RANGE)->why, "timestamp 15 outside [-inf, 10]"),
          "upper bound only: %s", skips(&ds, FR_SKIP_TIMESTAMP_RANGE)->why);
    fr_dataset_free(&ds);
}

/* ------------------------------------------------------------------ event filter */

static const char events[] = "user_id,item_id,timestamp,event,value\n"
                             "u1,A,1,view,0.5\n"   /* 2 */
                             "u1,B,2,purchase,2\n" /* 3 */
                             "u1,C,3,purchase,\n"  /* 4 no value */
                             "u2,A,4,view,1\n"     /* 5 */
                             "u2,B,5, ,3\n";       /* 6 no event */

static void test_event_filter(void)
{
    static const struct {
        const char *expr;
        long kept;
        long first_dropped;
    } cases[] = {
        {"event=purchase", 2, 2}, {"event==purchase", 2, 2}, {"event != view", 3, 2},
        {"value>=1", 3, 2},       {"value<1", 1, 3},         {" value  >  1.5 ", 2, 2},
        {"timestamp<=2", 2, 4},   {"value=2", 1, 2},         {"value!=2", 3, 3},
        {"event=", -1, 0},        {"rating>=4", -1, 0},      {"event>buy", -1, 0},
        {"value>=abc", -1, 0},    {"value", -1, 0},          {"", -1, 0},
        {">=3", -1, 0},           {"value>=inf", -1, 0},
    };
    fr_dataset ds;
    fr_err err;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fr_data_options o = {.event_filter = cases[i].expr, .strict = 1};
        fr_status st = load(&ds, events, &o, &err);
        if (cases[i].kept < 0) {
            CHECK(st == FR_EINVAL && strstr(err.msg, "--event-filter"), "'%s' refused: %d %s",
                  cases[i].expr, (int)st, err.msg);
        } else {
            const fr_data_skips *f = skips(&ds, FR_SKIP_EVENT_FILTER);
            CHECK(st == FR_OK && ds.interactions == cases[i].kept &&
                      f->count == 5 - cases[i].kept && f->lines[0] == cases[i].first_dropped,
                  "'%s': kept %ld, first dropped %ld: %s", cases[i].expr, ds.interactions,
                  f->n_lines ? f->lines[0] : -1L, err.msg);
        }
        fr_dataset_free(&ds);
    }
    fr_data_options o = {.event_filter = "rating>=4"};
    fr_status st = load(&ds, events, &o, &err);
    CHECK(strstr(err.msg, "format events-csv has no field 'rating' (it has: event, value, "
                          "timestamp)"),
          "message: %s", err.msg);
    fr_dataset_free(&ds);
    /* movielens: a rating that is not a number passes no comparison */
    fixture_text(dir, "ratings.csv",
                 "userId,movieId,rating,timestamp\n1,1,4,1\n1,2,3.5,2\n"
                 "1,3,x,3\n2,1,5,4\n");
    fr_data_options r = {.event_filter = "rating >= 4"};
    st = fr_dataset_load(&ds, dir, "movielens-csv", 4, 4096, &r, &err);
    CHECK(st == FR_OK && ds.interactions == 2 && skips(&ds, FR_SKIP_EVENT_FILTER)->count == 2 &&
              !strcmp(skips(&ds, FR_SKIP_EVENT_FILTER)->why, "fails --event-filter 'rating >= 4'"),
          "movielens rating filter: %s", err.msg);
    fr_dataset_free(&ds);
}

/* ------------------------------------------------------------------ values, options */

static void test_values_and_options(void)
{
    fr_dataset ds;
    fr_err err;
    fr_status st =
        load(&ds, "user_id,item_id,timestamp,value\nu,a,1,2\nu,b,2,2\nu,c,3,2\n", NULL, &err);
    CHECK(st == FR_OK && ds.report.value_count == 3 && ds.report.value_mean == 2.0 &&
              ds.report.value_std == 0.0 && ds.train_values[0] == 0.0f && ds.test_values[0] == 0.0f,
          "constant values give z-scores of 0");
    fr_dataset_free(&ds);
    st = load(&ds, "user_id,item_id,timestamp,value\nu,a,1,\nu,b,2,\n", NULL, &err);
    CHECK(st == FR_OK && ds.report.value_count == 0 && !ds.train_values && !ds.valid_values,
          "a value column without values gives no arrays");
    fr_dataset_free(&ds);

    static const fr_data_options bad[] = {
        {.min_user_events = -1},
        {.has_min_timestamp = 1, .min_timestamp = 5, .has_max_timestamp = 1, .max_timestamp = 4},
        {.has_min_timestamp = 1, .min_timestamp = NAN},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        st = load(&ds, dups, &bad[i], &err);
        CHECK(st == FR_EINVAL && err.msg[0], "bad options %zu: %d", i, (int)st);
        fr_dataset_free(&ds);
    }
}

/* ------------------------------------------------------------------ id order */

static int keys_are(char *const *keys, const char *const *want, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(keys[i], want[i]) != 0)
            return 0;
    return 1;
}

static void test_id_order(void)
{
    fr_dataset ds;
    fr_err err;
    /* all integers: numeric order, items and users each */
    fr_status st =
        load(&ds, "user_id,item_id,timestamp\n10,10,1\n2,9,2\n10,100,3\n2,-12,4\n", NULL, &err);
    const char *num[] = {"", "-12", "9", "10", "100"};
    CHECK(st == FR_OK && ds.item_ids_numeric && ds.user_ids_numeric && ds.num_items == 5 &&
              ds.item_ids[1] == -12 && ds.item_ids[4] == 100 && keys_are(ds.item_keys, num, 5) &&
              ds.user_ids[0] == 2 && ds.user_ids[1] == 10,
          "numeric: %s", err.msg);
    CHECK(fr_dataset_find_user(&ds, "10") == 1 && fr_dataset_find_user(&ds, " 10") == 1 &&
              fr_dataset_find_user(&ds, "2") == 0 && fr_dataset_find_user(&ds, "3") == -1 &&
              fr_dataset_find_user(&ds, "x") == -1 && fr_dataset_find_user(&ds, "99") == -1,
          "find numeric user");
    fr_dataset_free(&ds);
    /* one id that is not an integer: byte order for all items; users stay numeric */
    st = load(&ds, "user_id,item_id,timestamp\n1,10,1\n1,9,2\n2,a,3\n", NULL, &err);
    const char *str[] = {"", "10", "9", "a"};
    CHECK(st == FR_OK && !ds.item_ids_numeric && !ds.item_ids && keys_are(ds.item_keys, str, 4) &&
              ds.user_ids_numeric && ds.user_ids[1] == 2,
          "string items");
    fr_dataset_free(&ds);
    /* "007" and "7" are two ids; "+5" and "1_0" are not integers in this format */
    st = load(&ds, "user_id,item_id,timestamp\nu,7,1\nu,007,2\nu,+5,3\nu,1_0,4\n", NULL, &err);
    const char *lead[] = {"", "+5", "007", "1_0", "7"};
    CHECK(st == FR_OK && ds.num_items == 5 && keys_are(ds.item_keys, lead, 5) &&
              !ds.user_ids_numeric,
          "leading zeros stay strings");
    fr_dataset_free(&ds);
    /* the decision is made on the kept ids: k-core takes the only string away */
    fr_data_options o = {.min_item_events = 2};
    st = load(&ds, "user_id,item_id,timestamp\nu,3,1\nv,3,2\nu,a,3\nv,20,4\nu,20,5\n", &o, &err);
    CHECK(st == FR_OK && ds.item_ids_numeric && ds.item_ids[1] == 3 && ds.item_ids[2] == 20,
          "numeric after cleaning");
    fr_dataset_free(&ds);
}

/* ------------------------------------------------------------------ report */

static void test_report(void)
{
    fr_dataset ds;
    fr_err err;
    fr_data_options o = {.dedupe = 1};
    fr_status st =
        load(&ds, "user_id,item_id,timestamp\nu,a,1\nu,a,1\nu,b\nu,c,x\nu,d,2\n", &o, &err);
    CHECK(st == FR_OK, "load: %s", err.msg);
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    fr_data_report_print(&ds.report, "  ", mem);
    fclose(mem);
    CHECK(strstr(text, "  skipped malformed              1 row at line 4: expected 3 fields as "
                       "in the header, found 2\n") &&
              strstr(text, "skipped bad_timestamp          1 row at line 5") &&
              strstr(text, "skipped duplicate              1 row at line 3: same user") &&
              !strstr(text, "k_core"),
          "printed:\n%s", text);
    free(text);
    json_t *j = fr_report_data(&ds, 3, 4);
    json_t *mal = json_object_get(json_object_get(j, "skipped"), "malformed");
    CHECK(json_integer_value(json_object_get(j, "rows_read")) == 5 &&
              json_integer_value(json_object_get(j, "rows_skipped")) == 3 &&
              json_integer_value(json_object_get(mal, "count")) == 1 &&
              json_integer_value(json_array_get(json_object_get(mal, "lines"), 0)) == 4 &&
              strstr(json_string_value(json_object_get(mal, "first")), "expected 3 fields") &&
              json_integer_value(json_object_get(
                  json_object_get(json_object_get(j, "skipped"), "k_core"), "count")) == 0 &&
              !strcmp(json_string_value(json_object_get(json_object_get(j, "ids"), "items")),
                      "string") &&
              strstr(json_string_value(json_object_get(json_object_get(j, "files"), "events")),
                     "events.csv") &&
              json_is_null(json_object_get(json_object_get(j, "files"), "content")) &&
              json_integer_value(json_object_get(j, "train_sequences")) == 3,
          "JSON report");
    json_decref(j);
    fr_dataset_free(&ds);
}

int main(void)
{
    if (!fixture_dir(dir, sizeof dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_kcore);
    RUN(test_dedupe);
    RUN(test_timestamp_range);
    RUN(test_event_filter);
    RUN(test_values_and_options);
    RUN(test_id_order);
    RUN(test_report);
    fixture_rm(dir);
    return fr_test_end();
}
