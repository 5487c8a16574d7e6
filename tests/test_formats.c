/* Tests of each data format's reader on fixture files written here: a well-formed
 * part and every kind of broken row (wrong field counts, ids that are not integers,
 * NUL bytes, a line past the 1 MiB cap, CRLF endings, a last line without its
 * newline, UTF-8 and latin-1 text), each asserting the exact counts of kept and
 * dropped rows per reason, the lines reported, the rows, the split and the tokens
 * worked out by hand from the format's rules (docs/data.md). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/fr_data.h"
#include "fr_test.h"
#include "fr_test_fixture.h"

static const fr_data_options strict_opts = {.strict = 1};

/* An independent FNV-1a token row for Vt = 4096, from the published constants. */
static int32_t ref_row(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return (int32_t)(h % 4095u) + 1;
}

/* rows_read, interactions and every reason's count must be as given. */
static void check_counts(const fr_dataset *ds, long read, long kept, const long *skips, int line)
{
    int same = ds->report.rows_read == read && ds->interactions == kept;
    long total = 0;
    for (int r = 0; r < FR_SKIP_COUNT; r++) {
        same = same && ds->report.skipped[r].count == skips[r];
        total += skips[r];
    }
    same = same && ds->report.rows_skipped == total;
    CHECK(same,
          "line %d: read %ld kept %ld skipped %ld (malformed %ld bad_id %ld bad_timestamp "
          "%ld bad_value %ld range %ld filter %ld duplicate %ld k_core %ld)",
          line, ds->report.rows_read, ds->interactions, ds->report.rows_skipped,
          ds->report.skipped[0].count, ds->report.skipped[1].count, ds->report.skipped[2].count,
          ds->report.skipped[3].count, ds->report.skipped[4].count, ds->report.skipped[5].count,
          ds->report.skipped[6].count, ds->report.skipped[7].count);
}
#define COUNTS(ds, read, kept, ...)                                                                \
    check_counts(ds, read, kept, (const long[FR_SKIP_COUNT]){__VA_ARGS__}, __LINE__)

/* The remembered line numbers of a reason must be exactly these. */
static void check_lines(const fr_dataset *ds, fr_skip r, const long *want, int n, int line)
{
    const fr_data_skips *s = &ds->report.skipped[r];
    int same = s->n_lines == n && memcmp(s->lines, want, (size_t)n * sizeof *want) == 0;
    CHECK(same, "line %d: %s lines: %d of them, first %ld", line, fr_skip_name(r), s->n_lines,
          s->n_lines ? s->lines[0] : -1L);
}
#define LINES(ds, r, ...)                                                                          \
    check_lines(ds, r, (const long[]){__VA_ARGS__},                                                \
                (int)(sizeof((const long[]){__VA_ARGS__}) / sizeof(long)), __LINE__)

static int tokens_are(const fr_dataset *ds, int row, const int32_t *want, int n)
{
    const int32_t *t = ds->tokens + (size_t)row * (size_t)ds->num_tokens;
    for (int i = 0; i < ds->num_tokens; i++)
        if (t[i] != (i < n ? want[i] : 0))
            return 0;
    return 1;
}

/* A line of more than 1 MiB: head, then fill repeated, then "\n". */
static char *long_line(const char *head, char fill, size_t *len)
{
    size_t h = strlen(head), n = h + (1u << 20) + 4096;
    char *s = malloc(n + 1);
    if (!s)
        return NULL;
    memcpy(s, head, h);
    memset(s + h, fill, n - h);
    s[n] = '\n';
    *len = n + 1;
    return s;
}

/* dir/name = a + (long line) + b, where the long line starts with head. */
static int put_with_long_line(const char *dir, const char *name, const char *a, size_t alen,
                              const char *head, char fill, const char *b, size_t blen)
{
    size_t ll = 0;
    char *big = long_line(head, fill, &ll), *all = big ? malloc(alen + ll + blen) : NULL;
    int ok = all != NULL;
    if (ok) {
        memcpy(all, a, alen);
        memcpy(all + alen, big, ll);
        memcpy(all + alen + ll, b, blen);
        ok = fixture_put(dir, name, all, alen + ll + blen);
    }
    free(all);
    free(big);
    return ok;
}

/* ------------------------------------------------------------------ movielens-csv */

static const char ml_a[] = "userId,movieId,rating,timestamp\r\n" /* 1 header */
                           "1,10,4.0,100\r\n"                    /* 2 ok */
                           "1,11\r\n"                            /* 3 two fields */
                           "1,x1,3,101\r\n"                      /* 4 movieId not an integer */
                           "1,12,3,1\0 2\r\n"                    /* 5 NUL in the timestamp */
                           "1\0,13,3,103\r\n"                    /* 6 NUL in userId */
                           "2,10,5,50\r\n"                       /* 7 ok */
                           "2,11,oops,60\r\n";                   /* 8 ok: no value */
/* 9: over 1 MiB */
static const char ml_b[] = "2,13,2,70"; /* 10 ok, no newline at the end */

static void test_movielens_csv(void)
{
    char dir[64];
    fr_dataset ds;
    fr_err err = {{0}};
    if (!fixture_dir(dir, sizeof dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    CHECK(put_with_long_line(dir, "ratings.csv", ml_a, sizeof ml_a - 1, "2,12,5,", '7', ml_b,
                             sizeof ml_b - 1),
          "write");
    fixture_text(dir, "movies.csv",
                 "movieId,title,genres\n"
                 "10,\"Am\xc3\xa9lie (2001)\",Comedy|Romance\n"
                 "11,Broken\xff Title,Drama\n"
                 "13,x\n");
    fr_status st = fr_dataset_load(&ds, dir, "movielens-csv", 8, 4096, NULL, &err);
    CHECK(st == FR_OK, "load: %s", err.msg);
    if (st == FR_OK) {
        COUNTS(&ds, 9, 4, 4, 0, 1, 0, 0, 0, 0, 0);
        LINES(&ds, FR_SKIP_MALFORMED, 3, 4, 6, 9);
        LINES(&ds, FR_SKIP_BAD_TIMESTAMP, 5);
        CHECK(strstr(ds.report.skipped[FR_SKIP_MALFORMED].why, "expected 4 fields"), "why %s",
              ds.report.skipped[FR_SKIP_MALFORMED].why);
        CHECK(ds.item_ids_numeric && ds.user_ids_numeric && ds.num_items == 4 &&
                  ds.item_ids[1] == 10 && ds.item_ids[2] == 11 && ds.item_ids[3] == 13 &&
                  !strcmp(ds.item_keys[3], "13") && !strcmp(ds.item_keys[0], ""),
              "items");
        CHECK(ds.valid[1] == 2 && ds.test[1] == 3 && ds.train_items[ds.train_off[1]] == 1 &&
                  ds.valid[0] == 0,
              "split");
        /* values 4, 5, 2 (the "oops" row has none): mean 11/3, std sqrt(14/9) */
        double mean = 11.0 / 3, sd = sqrt(14.0 / 9);
        CHECK(ds.report.value_count == 3 && fabs(ds.report.value_mean - mean) < 1e-12 &&
                  fabs(ds.report.value_std - sd) < 1e-12,
              "values %ld %g %g", ds.report.value_count, ds.report.value_mean, ds.report.value_std);
        CHECK(ds.valid_values[1] == 0.0f &&
                  fabsf(ds.test_values[1] - (float)((2 - mean) / sd)) < 1e-6f &&
                  fabsf(ds.train_values[ds.train_off[1]] - (float)((5 - mean) / sd)) < 1e-6f,
              "z-scores");
        int32_t amelie[] = {ref_row("Comedy"), ref_row("Romance"), ref_row("am\xc3\xa9lie"),
                            ref_row("2001")};
        int32_t broken[] = {ref_row("Drama"), ref_row("broken\xff"), ref_row("title")};
        CHECK(tokens_are(&ds, 1, amelie, 4), "UTF-8 title tokens");
        CHECK(tokens_are(&ds, 2, broken, 3), "bytes that are not UTF-8 hashed as they are");
        CHECK(ds.report.content_rows == 3 && ds.report.content_skipped == 1 &&
                  ds.report.n_content_lines == 1 && ds.report.content_lines[0] == 4 &&
                  ds.items_with_content == 2,
              "content %ld %ld", ds.report.content_rows, ds.report.content_skipped);
    }
    fr_dataset_free(&ds);
    st = fr_dataset_load(&ds, dir, "movielens-csv", 8, 4096, &strict_opts, &err);
    CHECK(st == FR_EFORMAT && strstr(err.msg, "ratings.csv:3: expected 4 fields"), "strict: %s",
          err.msg);
    fixture_text(dir, "ratings.csv", "userId,movieId,rating,timestamp\n");
    st = fr_dataset_load(&ds, dir, "movielens-csv", 8, 4096, NULL, &err);
    CHECK(st == FR_ENODATA && ds.report.rows_read == 0 && strstr(err.msg, "no interactions"),
          "header only: %s", err.msg);
    fr_dataset_free(&ds);
    fixture_rm(dir);
}

/* ------------------------------------------------------------------ movielens-100k */

static const char u_data_a[] = "196\t242\t3\t881250949\n"   /* 1 ok */
                               "186\t302\t3\t891717742\r\n" /* 2 ok */
                               "\n"                         /* 3 blank: not a row */
                               "  \t \n"                    /* 4 blank too */
                               "22\t377\t1\n"               /* 5 three fields */
                               "x\t1\t1\t1\n"               /* 6 user not an integer */
                               "196\t1\0\t1\t5\n"           /* 7 NUL in the item */
                               "196\t302\tbad\t881250950\n" /* 8 ok: no value */
                               "186\t242\t5\tnow\n";        /* 9 bad timestamp */
/* 10: over 1 MiB */
static const char u_data_b[] = "196\t377\t4\t881250951"; /* 11 ok, no newline */

static void test_movielens_100k(void)
{
    char dir[64];
    fr_dataset ds;
    fr_err err = {{0}};
    if (!fixture_dir(dir, sizeof dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    CHECK(put_with_long_line(dir, "u.data", u_data_a, sizeof u_data_a - 1, "196\t999\t1\t", '1',
                             u_data_b, sizeof u_data_b - 1),
          "write");
    /* latin-1: a genre name and a title with e-acute (0xe9) */
    fixture_text(dir, "u.genre",
                 "unknown|0\nAction|1\nAdventure|2\nCom|edy|3\n\nbad line\n"
                 "Children's|4\nCaf\xe9|5\n");
    fixture_text(
        dir, "u.item",
        "242|Kolya (1996)|24-Jan-1997||http://x|1|0|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
        "302|Caf\xe9 Noir (1997)|01-Jan-1997||u|0|1|0|0|0| 1 |0|0|0|0|0|0|0|0|0|0|0|0|0\r\n"
        "377|Heavyweights (1994)|x|y|z\n"
        "abc|x|y|z|w\n"
        "1|2|3\n"
        "\n"
        "999|Nothing|a|b|c\n");
    fr_status st = fr_dataset_load(&ds, dir, "movielens-100k", 8, 4096, NULL, &err);
    CHECK(st == FR_OK, "load: %s", err.msg);
    if (st == FR_OK) {
        COUNTS(&ds, 9, 4, 4, 0, 1, 0, 0, 0, 0, 0);
        LINES(&ds, FR_SKIP_MALFORMED, 5, 6, 7, 10);
        LINES(&ds, FR_SKIP_BAD_TIMESTAMP, 9);
        CHECK(strstr(ds.report.skipped[FR_SKIP_MALFORMED].why, "found 3"), "why %s",
              ds.report.skipped[FR_SKIP_MALFORMED].why);
        CHECK(ds.num_items == 4 && ds.item_ids[1] == 242 && ds.item_ids[2] == 302 &&
                  ds.item_ids[3] == 377 && ds.num_users == 2 && ds.user_ids[0] == 186,
              "rows");
        CHECK(ds.train_off[1] == 1 && ds.train_items[0] == 2 && ds.train_items[1] == 1 &&
                  ds.valid[1] == 2 && ds.test[1] == 3,
              "split");
        /* genre "unknown" gives no token; "Com|edy" is one name; latin-1 is UTF-8 now */
        int32_t kolya[] = {ref_row("Com|edy"), ref_row("kolya"), ref_row("1996")};
        int32_t cafe[] = {ref_row("Action"), ref_row("Caf\xc3\xa9"), ref_row("caf\xc3\xa9"),
                          ref_row("noir"), ref_row("1997")};
        int32_t heavy[] = {ref_row("heavyweights"), ref_row("1994")};
        CHECK(tokens_are(&ds, 1, kolya, 3), "u.item 242");
        CHECK(tokens_are(&ds, 2, cafe, 5), "u.item 302 (latin-1)");
        CHECK(tokens_are(&ds, 3, heavy, 2), "u.item 377 (no flags)");
        CHECK(ds.report.content_rows == 6 && ds.report.content_skipped == 2 &&
                  ds.report.content_lines[0] == 4 && ds.report.content_lines[1] == 5 &&
                  ds.items_with_content == 3,
              "content %ld %ld", ds.report.content_rows, ds.report.content_skipped);
        CHECK(ds.report.value_count == 3, "values %ld", ds.report.value_count);
    }
    fr_dataset_free(&ds);
    st = fr_dataset_load(&ds, dir, "movielens-100k", 8, 4096, &strict_opts, &err);
    CHECK(st == FR_EFORMAT && strstr(err.msg, "u.data:5:"), "strict: %s", err.msg);
    fixture_text(dir, "u.data", "");
    st = fr_dataset_load(&ds, dir, "movielens-100k", 8, 4096, NULL, &err);
    CHECK(st == FR_ENODATA && ds.report.rows_read == 0, "empty: %s", err.msg);
    fr_dataset_free(&ds);
    fixture_rm(dir);
}

/* ------------------------------------------------------------------ sasrec */

static const char sas_a[] = "1 10\n"       /* 1 row 1 */
                            "1 11\r\n"     /* 2 row 2 */
                            "\n"           /* 3 blank: not a row */
                            "2 10 extra\n" /* 4 row 3; the third field is ignored */
                            "2\n"          /* 5 row 4, one field */
                            "x 3\n"        /* 6 row 5, user not an integer */
                            "1\t12\n"      /* 7 row 6 */
                            "2 \xc3\xa9\n" /* 8 row 7, item not an integer */
                            "\xff 1\n"     /* 9 row 8, not UTF-8 */
                            "1\xc2\xa0"
                            "13\n"; /* 10 row 9: U+00A0 separates */
/* 11: row 10, over 1 MiB */
static const char sas_b[] = "2 1\0\n" /* 12 row 11, NUL */
                            "2 11";   /* 13 row 12, no newline */

static void test_sasrec(void)
{
    char dir[64], file[128];
    fr_dataset ds;
    fr_err err = {{0}};
    if (!fixture_dir(dir, sizeof dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    snprintf(file, sizeof file, "%s/seq.txt", dir);
    CHECK(put_with_long_line(dir, "seq.txt", sas_a, sizeof sas_a - 1, "3 ", '4', sas_b,
                             sizeof sas_b - 1),
          "write");
    fr_status st = fr_dataset_load(&ds, file, "sasrec", 4, 4096, NULL, &err);
    CHECK(st == FR_OK, "load: %s", err.msg);
    if (st == FR_OK) {
        COUNTS(&ds, 12, 6, 6, 0, 0, 0, 0, 0, 0, 0);
        LINES(&ds, FR_SKIP_MALFORMED, 5, 6, 8, 9, 11);
        CHECK(ds.report.skipped[FR_SKIP_MALFORMED].n_lines == FR_DATA_BAD_LINES, "5 kept");
        /* user 1: 10, 11, 12, 13 in file order; user 2: 10, 11 */
        CHECK(ds.num_items == 5 && ds.num_users == 2 && ds.valid[0] == 3 && ds.test[0] == 4 &&
                  ds.train_items[0] == 1 && ds.train_items[1] == 2 && ds.valid[1] == 0 &&
                  ds.train_off[2] - ds.train_off[1] == 2,
              "rows and split");
        CHECK(ds.report.value_count == 0 && !ds.train_values, "no values in sasrec");
        CHECK(ds.items_with_content == 0 && ds.report.content_file[0] == 0, "no content");
    }
    fr_dataset_free(&ds);
    /* The timestamp is the row number among non-blank lines: rows 1 and 2 are before 3. */
    fr_data_options o = {.has_min_timestamp = 1, .min_timestamp = 3};
    st = fr_dataset_load(&ds, file, "sasrec", 4, 4096, &o, &err);
    CHECK(st == FR_OK, "load: %s", err.msg);
    COUNTS(&ds, 12, 4, 6, 0, 0, 0, 2, 0, 0, 0);
    LINES(&ds, FR_SKIP_TIMESTAMP_RANGE, 1, 2);
    fr_dataset_free(&ds);
    st = fr_dataset_load(&ds, dir, "sasrec", 4, 4096, NULL, &err);
    CHECK(st != FR_OK && strstr(err.msg, dir), "a folder is no sasrec file: %s", err.msg);
    fixture_text(dir, "seq.txt", "\n \r\n\t\n");
    st = fr_dataset_load(&ds, file, "sasrec", 4, 4096, NULL, &err);
    CHECK(st == FR_ENODATA && ds.report.rows_read == 0, "blank lines only: %s", err.msg);
    fixture_rm(dir);
    st = fr_dataset_load(&ds, file, "sasrec", 4, 4096, NULL, &err);
    CHECK(st == FR_EIO && strstr(err.msg, file), "missing: %s", err.msg);
}

/* ------------------------------------------------------------------ events-csv */

static const char ev_a[] =
    "\xef\xbb\xbfitem_id, user_id ,timestamp,event,value,extra\r\n" /* 1 header, with a BOM */
    "i-b,alice,100,view,1.5,x\r\n"                                  /* 2 ok */
    "i-a,alice,200,purchase,,x\r\n"                                 /* 3 ok, no value */
    "i-c,bob,50,view,2,x\r\n"                                       /* 4 ok */
    "i-a,bob,60,purchase,3,x\r\n"                                   /* 5 ok */
    "i-a,bob,70,view,x\r\n"                                         /* 6 five fields */
    ",bob,80,view,1,x\r\n"                                          /* 7 empty item_id */
    "i-b,bob,abc,view,1,x\r\n"                                      /* 8 bad timestamp */
    "i-b,bob,90,view,abc,x\r\n"                                     /* 9 bad value */
    "\"i-d\",\"carol, jr\",10,view,1,x\r\n"                         /* 10 ok, quoted */
    "i-d,carol\x01,10,view,1,x\r\n"                                 /* 11 control char */
    "i-\xff,dave,10,view,1,x\r\n"                                   /* 12 not UTF-8 */
    "i-e,dave\0x,1,view,1,x\r\n"                                    /* 13 NUL */
    "\r\n"                                                          /* 14 blank */
    "\xc3\xa9t\xc3\xa9,\"carol, jr\",20,view,1,x\r\n";              /* 15 ok, UTF-8 id */
/* 16: a 300-byte user_id; 17: over 1 MiB */
static const char ev_b[] = "i-c,alice,150,view,,x"; /* 18 ok, no newline */

static void write_events(const char *dir)
{
    char mid[512];
    size_t n = (size_t)snprintf(mid, sizeof mid, "i-a,%0300d,5,view,1,x\r\n", 7);
    char *a = malloc(sizeof ev_a - 1 + n);
    memcpy(a, ev_a, sizeof ev_a - 1);
    memcpy(a + sizeof ev_a - 1, mid, n);
    CHECK(put_with_long_line(dir, "events.csv", a, sizeof ev_a - 1 + n, "i-a,bob,", '9', ev_b,
                             sizeof ev_b - 1),
          "write");
    free(a);
}

static void test_events_csv(void)
{
    char dir[64];
    fr_dataset ds;
    fr_err err = {{0}};
    if (!fixture_dir(dir, sizeof dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    write_events(dir);
    fixture_text(dir, "items.csv",
                 "item_id,tokens\n"
                 "i-a,Drama|sci-fi||New York\n"
                 "\xc3\xa9t\xc3\xa9,caf\xc3\xa9|unknown\n"
                 "i-b\n"
                 "zzz,x\n"
                 "i-c,\xff\n");
    fr_status st = fr_dataset_load(&ds, dir, "events-csv", 4, 4096, NULL, &err);
    CHECK(st == FR_OK, "load: %s", err.msg);
    if (st == FR_OK) {
        COUNTS(&ds, 16, 7, 3, 4, 1, 1, 0, 0, 0, 0);
        LINES(&ds, FR_SKIP_MALFORMED, 6, 13, 17);
        LINES(&ds, FR_SKIP_BAD_ID, 7, 11, 12, 16);
        LINES(&ds, FR_SKIP_BAD_TIMESTAMP, 8);
        LINES(&ds, FR_SKIP_BAD_VALUE, 9);
        CHECK(strstr(ds.report.skipped[FR_SKIP_BAD_ID].why, "item_id is empty"), "why %s",
              ds.report.skipped[FR_SKIP_BAD_ID].why);
        CHECK(ds.report.bad_lines[0] == 6 && strstr(ds.report.bad_reason, "expected 6 fields"),
              "first overall: %ld %s", ds.report.bad_lines[0], ds.report.bad_reason);
        /* string ids in byte order; users likewise */
        const char *items[] = {"", "i-a", "i-b", "i-c", "i-d", "\xc3\xa9t\xc3\xa9"};
        int same = ds.num_items == 6 && !ds.item_ids_numeric && !ds.item_ids;
        for (int r = 0; same && r < 6; r++)
            same = !strcmp(fr_dataset_item_key(&ds, r), items[r]);
        CHECK(same, "item keys");
        CHECK(fr_dataset_item_key(&ds, 6) == NULL && fr_dataset_item_key(&ds, -1) == NULL,
              "item key out of range");
        CHECK(ds.num_users == 3 && !ds.user_ids_numeric && !strcmp(ds.user_keys[2], "carol, jr"),
              "users");
        CHECK(fr_dataset_find_user(&ds, "alice") == 0 && fr_dataset_find_user(&ds, "bob") == 1 &&
                  fr_dataset_find_user(&ds, "carol, jr") == 2 &&
                  fr_dataset_find_user(&ds, "carol") == -1 && fr_dataset_find_user(&ds, "") == -1 &&
                  fr_dataset_find_user(&ds, "zed") == -1 && fr_dataset_find_user(&ds, NULL) == -1,
              "find user");
        /* alice: i-b@100, i-c@150, i-a@200; bob: i-c@50, i-a@60; carol: i-d@10, ete@20 */
        CHECK(ds.train_items[0] == 2 && ds.valid[0] == 3 && ds.test[0] == 1 &&
                  ds.train_items[1] == 3 && ds.train_items[2] == 1 && ds.train_items[3] == 4 &&
                  ds.train_items[4] == 5 && ds.valid[1] == 0 && ds.num_eval_users == 1,
              "split");
        /* values 1.5, 2, 3, 1, 1: mean 1.7, std sqrt(0.56) */
        CHECK(ds.report.value_count == 5 && fabs(ds.report.value_mean - 1.7) < 1e-12 &&
                  fabs(ds.report.value_std - sqrt(0.56)) < 1e-12,
              "values");
        CHECK(fabsf(ds.train_values[0] - (float)(-0.2 / sqrt(0.56))) < 1e-6f &&
                  ds.valid_values[0] == 0.0f && ds.test_values[0] == 0.0f,
              "z-scores");
        int32_t a[] = {ref_row("Drama"), ref_row("sci-fi"), ref_row("New York")};
        int32_t e[] = {ref_row("caf\xc3\xa9")};
        CHECK(tokens_are(&ds, 1, a, 3) && tokens_are(&ds, 5, e, 1), "tokens");
        CHECK(ds.report.content_rows == 5 && ds.report.content_skipped == 2 &&
                  ds.report.content_lines[0] == 4 && ds.report.content_lines[1] == 6 &&
                  ds.items_with_content == 2,
              "items.csv %ld %ld", ds.report.content_rows, ds.report.content_skipped);
        CHECK(strstr(ds.report.events_file, "events.csv") &&
                  strstr(ds.report.content_file, "items.csv"),
              "file names");
    }
    fr_dataset_free(&ds);
    st = fr_dataset_load(&ds, dir, "events-csv", 4, 4096, &strict_opts, &err);
    CHECK(st == FR_EFORMAT && strstr(err.msg, "events.csv:6: expected 6 fields"), "strict: %s",
          err.msg);
    fixture_rm(dir);
}

static void test_events_csv_headers(void)
{
    static const struct {
        const char *text;
        fr_status st;
        const char *msg;
    } cases[] = {
        {"user_id,item_id,timestamp\n", FR_ENODATA, "no interactions"},
        {"user_id,item_id,timestamp", FR_ENODATA, "no interactions"},
        {"", FR_EFORMAT, "empty file; a header row is required"},
        {"user,item,timestamp\nu,i,1\n", FR_EFORMAT, ":1: the header has no column 'user_id'"},
        {"u1,i1,5\n", FR_EFORMAT, "has no column 'user_id'"},
        {"user_id,item_id\nu,i\n", FR_EFORMAT, "no column 'timestamp'"},
        {"user_id,item_id,timestamp,item_id\n", FR_EFORMAT, "column 'item_id' appears twice"},
        {"user_id,\"item_id,timestamp\n", FR_EFORMAT, "unterminated quoted field"},
        {"timestamp,item_id,user_id\n7,i,u\n", FR_OK, NULL},
    };
    char dir[64];
    fr_dataset ds;
    fr_err err;
    if (!fixture_dir(dir, sizeof dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        err.msg[0] = 0;
        fixture_text(dir, "events.csv", cases[i].text);
        fr_status st = fr_dataset_load(&ds, dir, "events-csv", 4, 4096, NULL, &err);
        CHECK(st == cases[i].st && (!cases[i].msg || strstr(err.msg, cases[i].msg)),
              "case %zu: status %d: %s", i, (int)st, err.msg);
        fr_dataset_free(&ds);
    }
    /* The filter may name event or value only when the file has that column. */
    fr_data_options o = {.event_filter = "event=buy"};
    fr_status st = fr_dataset_load(&ds, dir, "events-csv", 4, 4096, &o, &err);
    CHECK(st == FR_EINVAL && strstr(err.msg, "has no 'event' column"), "filter: %s", err.msg);
    fr_dataset_free(&ds);
    fixture_rm(dir);
    st = fr_dataset_load(&ds, dir, "events-csv", 4, 4096, NULL, &err);
    CHECK(st == FR_EIO && strstr(err.msg, "events.csv"), "missing folder: %s", err.msg);
}

int main(void)
{
    RUN(test_movielens_csv);
    RUN(test_movielens_100k);
    RUN(test_sasrec);
    RUN(test_events_csv);
    RUN(test_events_csv_headers);
    return fr_test_end();
}
