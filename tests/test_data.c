/* Tests of the behaviour data module on movielens-csv: CSV reading (quotes,
 * CRLF/LF/CR, malformed rows counted by reason, strict mode, errors), the dense row
 * mapping, the stable time sort, the leave-one-out split, training windows and
 * content tokens, each against values worked out by hand from the data conventions;
 * plus count checks on MovieLens ml-latest-small when a copy is at hand. The other
 * formats are in test_formats.c, cleaning and id order in test_clean.c. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/fr_data.h"
#include "fr_test.h"

/* An independent FNV-1a and token row, written from the published constants. */
static uint32_t ref_fnv(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static int32_t ref_row(const char *s)
{
    return (int32_t)(ref_fnv(s) % 4095u) + 1;
}

static const fr_data_options strict_opts = {.strict = 1};

static void put_file(const char *dir, const char *name, const char *data, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot write %s", path);
    if (f) {
        fwrite(data, 1, len, f);
        fclose(f);
    }
}

static void put_text(const char *dir, const char *name, const char *text)
{
    put_file(dir, name, text, strlen(text));
}

static int make_dir(char *buf, size_t cap)
{
    snprintf(buf, cap, "/tmp/fr_test_data_XXXXXX");
    return mkdtemp(buf) != NULL;
}

static void remove_dir(const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/ratings.csv", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/movies.csv", dir);
    unlink(path);
    rmdir(dir);
}

static int rows_equal(const int32_t *got, const int32_t *want, int n)
{
    return memcmp(got, want, (size_t)n * sizeof *got) == 0;
}

static void test_fnv(void)
{
    CHECK(fr_fnv1a32("", 0) == 0x811c9dc5u, "empty %08x", fr_fnv1a32("", 0));
    CHECK(fr_fnv1a32("a", 1) == 0xe40c292cu, "a %08x", fr_fnv1a32("a", 1));
    CHECK(fr_fnv1a32("foobar", 6) == 0xbf9cf968u, "foobar %08x", fr_fnv1a32("foobar", 6));
    CHECK(fr_token_row("a", 1, 4096) == (int32_t)(0xe40c292cu % 4095u) + 1, "row a");
    CHECK(fr_token_row("a", 1, 4096) == 2771, "row a %d", fr_token_row("a", 1, 4096));
    CHECK(fr_token_row("a", 1, 2) == 1, "vocab 2 maps everything to 1");
    CHECK(ref_row("foobar") == fr_token_row("foobar", 6, 4096), "ref row");
}

static void test_tokens(void)
{
    int32_t out[8];
    int n = fr_item_tokens("Action|(no genres listed)||Sci-Fi|unknown", "Spider-Man (2002)", 8,
                           4096, out);
    int32_t want1[8] = {ref_row("Action"), ref_row("Sci-Fi"), ref_row("spiderman"),
                        ref_row("2002")};
    CHECK(n == 4 && rows_equal(out, want1, 8), "spider-man: n=%d", n);

    n = fr_item_tokens("(no genres listed)", "Don't Look Now", 8, 4096, out);
    int32_t want2[8] = {ref_row("dont"), ref_row("look"), ref_row("now")};
    CHECK(n == 3 && rows_equal(out, want2, 8), "don't look now: n=%d", n);

    /* Genres verbatim (case, punctuation, spaces kept); cut to T. */
    n = fr_item_tokens("Film-Noir| Drama", "x", 2, 4096, out);
    CHECK(n == 2 && out[0] == ref_row("Film-Noir") && out[1] == ref_row(" Drama"), "genres");

    /* Punctuation deleted before splitting; ASCII whitespace splits; non-ASCII kept
     * as is (only A-Z lowercased). */
    n = fr_item_tokens("", "A -- B\tC\vD\xc3\x80X \xc3\xa9t\xc3\xa9!", 8, 4096, out);
    int32_t want3[8] = {ref_row("a"), ref_row("b"), ref_row("c"), ref_row("d\xc3\x80x"),
                        ref_row("\xc3\xa9t\xc3\xa9")};
    CHECK(n == 5 && rows_equal(out, want3, 8), "words: n=%d", n);

    n = fr_item_tokens("", "!!! ...", 4, 4096, out);
    int32_t zero[4] = {0};
    CHECK(n == 0 && rows_equal(out, zero, 4), "punctuation only: n=%d", n);
    n = fr_item_tokens(NULL, NULL, 4, 4096, out);
    CHECK(n == 0, "null strings");
}

static void test_load_basic(void)
{
    char dir[64];
    fr_dataset ds;
    fr_err err = {{0}};
    if (!make_dir(dir, sizeof dir)) {
        CHECK(0, "mkdtemp: %s", strerror(errno));
        return;
    }
    /* Items 100,200,300,500 -> rows 1..4; users 10,20,30 -> 0..2. User 20 has a tie at
     * time 100: 300 comes first in the file, so it stays first. */
    put_text(dir, "ratings.csv",
             "userId,movieId,rating,timestamp\r\n"
             "20,300,4.0,100\r\n"
             "20,100,3.5,50\r\n"
             "20,200,5.0,100\r\n"
             "20,500,1.0,200\r\n"
             "10,100,2.0,10\r\n"
             "10,500,2.0,5\r\n"
             "30,200,1.0,7\r\n");
    put_text(dir, "movies.csv",
             "movieId,title,genres\r\n"
             "100,\"Toy Story, The (1995)\",Animation|Children\r\n"
             "200,\"Say \"\"Hi\"\" (2000)\",(no genres listed)\r\n"
             "999,Unrated (2001),Drama\r\n"
             "300,Plain,\r\n"
             "bad,row,x\r\n");
    fr_status st = fr_dataset_load(&ds, dir, "movielens-csv", 8, 4096, NULL, &err);
    CHECK(st == FR_OK, "load: %s", err.msg);
    if (st != FR_OK)
        goto out;
    CHECK(ds.num_items == 5 && ds.num_users == 3, "V=%d U=%d", ds.num_items, ds.num_users);
    CHECK(ds.item_ids[0] == 0 && ds.item_ids[1] == 100 && ds.item_ids[2] == 200 &&
              ds.item_ids[3] == 300 && ds.item_ids[4] == 500,
          "item ids");
    CHECK(ds.user_ids[0] == 10 && ds.user_ids[1] == 20 && ds.user_ids[2] == 30, "user ids");
    CHECK(ds.interactions == 7 && ds.report.rows_read == 7 && ds.report.rows_skipped == 0,
          "counts %ld %ld", ds.interactions, ds.report.rows_read);
    /* user 10: [4, 1] train only; user 20: [1, 3, 2, 4]; user 30: [2] train only */
    CHECK(ds.train_off[0] == 0 && ds.train_off[1] == 2 && ds.train_off[2] == 4 &&
              ds.train_off[3] == 5,
          "train offsets");
    int32_t want_train[5] = {4, 1, 1, 3, 2};
    CHECK(rows_equal(ds.train_items, want_train, 5), "train items");
    CHECK(ds.valid[0] == 0 && ds.test[0] == 0, "user 10 train-only");
    CHECK(ds.valid[1] == 2 && ds.test[1] == 4, "user 20 split %d %d", ds.valid[1], ds.test[1]);
    CHECK(ds.valid[2] == 0 && ds.test[2] == 0, "user 30 train-only");
    CHECK(ds.num_eval_users == 1 && ds.eval_users[0] == 1, "eval users");
    /* content */
    int32_t t1[8] = {ref_row("Animation"), ref_row("Children"), ref_row("toy"),
                     ref_row("story"),     ref_row("the"),      ref_row("1995")};
    int32_t t2[8] = {ref_row("say"), ref_row("hi"), ref_row("2000")};
    int32_t t3[8] = {ref_row("plain")};
    int32_t t0[8] = {0};
    CHECK(rows_equal(ds.tokens + 8, t1, 8), "tokens of 100");
    CHECK(rows_equal(ds.tokens + 16, t2, 8), "tokens of 200 (quoted \"\")");
    CHECK(rows_equal(ds.tokens + 24, t3, 8), "tokens of 300");
    CHECK(rows_equal(ds.tokens + 32, t0, 8) && rows_equal(ds.tokens, t0, 8), "no content");
    CHECK(ds.items_with_content == 3, "with content %ld", ds.items_with_content);
    CHECK(ds.report.content_rows == 5 && ds.report.content_skipped == 1, "content %ld %ld",
          ds.report.content_rows, ds.report.content_skipped);
out:
    fr_dataset_free(&ds);
    remove_dir(dir);
}

static const char messy[] =
    "userId,movieId,rating,timestamp\n"  /* 1 */
    "1,10,4,1\n"                         /* 2 */
    "1,x,4,2\n"                          /* 3 bad id */
    "\n"                                 /* 4 blank */
    "1,11,4\n"                           /* 5 three fields */
    "1,12,4,abc\n"                       /* 6 bad time */
    "\"1,13,4,5\n"                       /* 7 open quote */
    " 2 , 14 ,4, 3.5 \n"                 /* 8 spaces are fine */
    "2,15,,4e0\r"                        /* 9 lone CR ends a line */
    "2,16,5,6,extra\n"                   /* 10 extra fields are ignored */
    "1,,4,7\r\n"                         /* 11 empty id */
    "userId,movieId,rating,timestamp\n"; /* 12 a header past line 1 is a bad row */

static void test_malformed_rows(void)
{
    char dir[64];
    fr_dataset ds;
    fr_err err = {{0}};
    if (!make_dir(dir, sizeof dir)) {
        CHECK(0, "mkdtemp: %s", strerror(errno));
        return;
    }
    put_text(dir, "ratings.csv", messy);
    fr_status st = fr_dataset_load(&ds, dir, "movielens-csv", 4, 4096, NULL, &err);
    CHECK(st == FR_OK, "load: %s", err.msg);
    CHECK(ds.report.rows_read == 11 && ds.report.rows_skipped == 7, "read %ld skipped %ld",
          ds.report.rows_read, ds.report.rows_skipped);
    long want[5] = {3, 4, 5, 6, 7};
    CHECK(ds.report.n_bad_lines == 5 && !memcmp(ds.report.bad_lines, want, sizeof want),
          "bad lines %ld %ld %ld %ld %ld", ds.report.bad_lines[0], ds.report.bad_lines[1],
          ds.report.bad_lines[2], ds.report.bad_lines[3], ds.report.bad_lines[4]);
    CHECK(strstr(ds.report.bad_reason, "movieId 'x'") != NULL, "reason: %s", ds.report.bad_reason);
    /* By reason: everything but line 6's timestamp is malformed. */
    const fr_data_skips *mal = &ds.report.skipped[FR_SKIP_MALFORMED];
    const fr_data_skips *ts = &ds.report.skipped[FR_SKIP_BAD_TIMESTAMP];
    long want_mal[5] = {3, 4, 5, 7, 11};
    CHECK(mal->count == 6 && mal->n_lines == 5 && !memcmp(mal->lines, want_mal, sizeof want_mal),
          "malformed %ld", mal->count);
    CHECK(ts->count == 1 && ts->n_lines == 1 && ts->lines[0] == 6 &&
              strstr(ts->why, "timestamp 'abc' is not a number"),
          "bad_timestamp %ld: %s", ts->count, ts->why);
    CHECK(strstr(mal->why, "movieId 'x'") &&
              !strcmp(fr_skip_name(FR_SKIP_MALFORMED), "malformed") &&
              !strcmp(fr_skip_name(FR_SKIP_K_CORE), "k_core") &&
              !strcmp(fr_skip_name(FR_SKIP_COUNT), "unknown"),
          "names");
    CHECK(ds.interactions == 4 && ds.num_users == 2, "kept %ld", ds.interactions);
    /* user 2: 14 @3.5, 15 @4, 16 @6 -> rows 2,3,4 -> train [2], valid 3, test 4 */
    CHECK(ds.num_items == 5 && ds.valid[1] == 3 && ds.test[1] == 4 &&
              ds.train_items[ds.train_off[1]] == 2,
          "user 2 split");
    CHECK(ds.items_with_content == 0, "no movies.csv means no content");
    fr_dataset_free(&ds);

    st = fr_dataset_load(&ds, dir, "movielens-csv", 4, 4096, &strict_opts, &err);
    CHECK(st == FR_EFORMAT, "strict status %d", st);
    CHECK(strstr(err.msg, "ratings.csv:3:") && strstr(err.msg, dir), "strict msg: %s", err.msg);
    CHECK(ds.item_ids == NULL && ds.num_items == 0, "failed load leaves nothing allocated");
    fr_dataset_free(&ds);

    /* strict also covers the content file */
    put_text(dir, "ratings.csv", "userId,movieId,rating,timestamp\n1,10,4,1\n");
    put_text(dir, "movies.csv", "movieId,title,genres\n10,\"open,Drama\n");
    st = fr_dataset_load(&ds, dir, "movielens-csv", 4, 4096, &strict_opts, &err);
    CHECK(st == FR_EFORMAT && strstr(err.msg, "movies.csv:2:"), "strict movies: %s", err.msg);
    fr_dataset_free(&ds);
    remove_dir(dir);
}

static void test_ids_and_repeats(void)
{
    char dir[64];
    fr_dataset ds;
    fr_err err = {{0}};
    if (!make_dir(dir, sizeof dir)) {
        CHECK(0, "mkdtemp: %s", strerror(errno));
        return;
    }
    /* No header; numeric (not text) id order; negative and extreme ids; repeats kept;
     * a header-looking first field with spaces is still a header on line 1. */
    put_text(dir, "ratings.csv",
             "7,100,1,4\n"
             "7,9,1,1\n"
             "7,9,1,2\n"
             "7,10,1,3\n"
             "-5,9223372036854775807,1,1\n"
             "-5,9223372036854775808,1,1\n");
    fr_status st = fr_dataset_load(&ds, dir, "movielens-csv", 2, 16, NULL, &err);
    CHECK(st == FR_OK, "load: %s", err.msg);
    if (st == FR_OK) {
        CHECK(ds.report.rows_read == 6 && ds.report.rows_skipped == 1, "int64 overflow skipped");
        CHECK(ds.num_items == 5 && ds.item_ids[1] == 9 && ds.item_ids[2] == 10 &&
                  ds.item_ids[3] == 100 && ds.item_ids[4] == INT64_MAX,
              "numeric order");
        CHECK(ds.user_ids[0] == -5 && ds.user_ids[1] == 7, "users");
        CHECK(ds.train_off[2] - ds.train_off[1] == 2 && ds.train_items[ds.train_off[1]] == 1 &&
                  ds.train_items[ds.train_off[1] + 1] == 1 && ds.valid[1] == 2 && ds.test[1] == 3,
              "repeated item kept");
    }
    fr_dataset_free(&ds);
    put_text(dir, "ratings.csv", " userId ,movieId\n1,2,3,4\n");
    st = fr_dataset_load(&ds, dir, "movielens-csv", 2, 16, NULL, &err);
    CHECK(st == FR_OK && ds.report.rows_read == 1 && ds.interactions == 1, "spaced header");
    fr_dataset_free(&ds);
    remove_dir(dir);
}

static void test_long_line(void)
{
    char dir[64];
    fr_dataset ds;
    fr_err err = {{0}};
    size_t big = (3u << 20) / 2, n = 0;
    char *text = malloc(big + 128);
    if (!make_dir(dir, sizeof dir) || !text) {
        CHECK(0, "setup");
        free(text);
        return;
    }
    n += (size_t)snprintf(text, 64, "1,1,1,1\n1,2,1,");
    memset(text + n, '9', big);
    n += big;
    n += (size_t)snprintf(text + n, 64, "\n1,3,1,3\n");
    put_file(dir, "ratings.csv", text, n);
    fr_status st = fr_dataset_load(&ds, dir, "movielens-csv", 2, 16, NULL, &err);
    CHECK(st == FR_OK && ds.report.rows_skipped == 1 && ds.report.bad_lines[0] == 2 &&
              ds.interactions == 2,
          "long line: %s", err.msg);
    CHECK(strstr(ds.report.bad_reason, "longer than") != NULL, "%s", ds.report.bad_reason);
    fr_dataset_free(&ds);
    free(text);
    remove_dir(dir);
}

static void test_errors(void)
{
    fr_dataset ds;
    fr_err err = {{0}};
    char dir[64];
    fr_status st =
        fr_dataset_load(&ds, "/nonexistent/fr_data", "movielens-csv", 8, 4096, NULL, &err);
    CHECK(st == FR_EIO, "missing status %d", st);
    CHECK(strstr(err.msg, "/nonexistent/fr_data/ratings.csv") && strstr(err.msg, strerror(ENOENT)),
          "missing msg: %s", err.msg);
    fr_dataset_free(&ds);
    fr_dataset_free(&ds); /* twice is harmless */

    st = fr_dataset_load(&ds, "/tmp", "parquet", 8, 4096, NULL, &err);
    CHECK(st == FR_EINVAL && strstr(err.msg, "parquet") && strstr(err.msg, "movielens-csv"),
          "format msg: %s", err.msg);
    CHECK(fr_data_formats[0] && !strcmp(fr_data_formats[0], "movielens-csv") &&
              fr_data_formats[1] && !strcmp(fr_data_formats[1], "movielens-100k") &&
              fr_data_formats[2] && !strcmp(fr_data_formats[2], "sasrec") && fr_data_formats[3] &&
              !strcmp(fr_data_formats[3], "events-csv") && fr_data_formats[4] == NULL,
          "format list");
    st = fr_dataset_load(&ds, "/tmp", "movielens-csv", 0, 4096, NULL, &err);
    CHECK(st == FR_EINVAL, "T = 0");
    st = fr_dataset_load(&ds, "/tmp", "movielens-csv", 8, 1, NULL, &err);
    CHECK(st == FR_EINVAL, "Vt = 1");

    if (!make_dir(dir, sizeof dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    put_text(dir, "ratings.csv", "userId,movieId,rating,timestamp\r\n1,x,1,1\r\n");
    st = fr_dataset_load(&ds, dir, "movielens-csv", 8, 4096, NULL, &err);
    CHECK(st == FR_ENODATA && strstr(err.msg, dir), "no data msg: %s", err.msg);
    CHECK(ds.report.rows_read == 1 && ds.report.rows_skipped == 1, "report kept on failure");
    fr_dataset_free(&ds);
    remove_dir(dir);

    fr_dataset zero;
    memset(&zero, 0, sizeof zero);
    fr_dataset_free(&zero);
    fr_dataset_free(NULL);
}

static void test_windows(void)
{
    /* Train lengths 0, 1, 2, 4, 9, 7 with L = 3 (width 4). */
    int32_t items[] = {5,                               /* len 1 */
                       11, 12,                          /* len 2 */
                       21, 22, 23, 24,                  /* len 4 */
                       1,  2,  3,  4,  5,  6,  7, 8, 9, /* len 9 */
                       31, 32, 33, 34, 35, 36, 37};     /* len 7 */
    int64_t off[] = {0, 0, 1, 3, 7, 16, 23};
    fr_dataset ds;
    memset(&ds, 0, sizeof ds);
    ds.num_users = 6;
    ds.train_off = off;
    ds.train_items = items;
    int32_t *w = NULL;
    long n = 0, pos = 0;
    fr_err err = {{0}};
    fr_status st = fr_dataset_windows(&ds, 3, &w, &n, &pos, &err);
    int32_t want[] = {0, 0, 11, 12, 21, 22, 23, 24, 2,  3,  4,  5,
                      6, 7, 8,  9,  0,  31, 32, 33, 34, 35, 36, 37};
    CHECK(st == FR_OK && n == 6 && pos == 15, "L=3: n=%ld pos=%ld", n, pos);
    if (st == FR_OK && n == 6)
        CHECK(rows_equal(w, want, 24), "L=3 windows");
    free(w);

    st = fr_dataset_windows(&ds, 1, &w, &n, &pos, &err);
    /* width 2: len 2 -> [11 12]; len 4 -> 2; len 9 -> 4 (the oldest item dropped); len 7 -> 3 */
    CHECK(st == FR_OK && n == 10 && pos == 10, "L=1: n=%ld pos=%ld", n, pos);
    if (st == FR_OK && n == 10)
        CHECK(w[0] == 11 && w[1] == 12 && w[6] == 2 && w[7] == 3 && w[12] == 8 && w[13] == 9 &&
                  w[14] == 32 && w[15] == 33,
              "L=1 windows");
    free(w);

    st = fr_dataset_windows(&ds, 20, &w, &n, &pos, &err);
    /* every user is one left-padded window, the single-item one dropped */
    CHECK(st == FR_OK && n == 4 && pos == 1 + 3 + 8 + 6, "L=20: n=%ld pos=%ld", n, pos);
    if (st == FR_OK && n == 4)
        CHECK(w[19] == 11 && w[20] == 12 && w[21 * 2 + 12] == 1 && w[21 * 3 + 14] == 31,
              "L=20 windows");
    free(w);

    st = fr_dataset_windows(&ds, 0, &w, &n, &pos, &err);
    CHECK(st == FR_EINVAL && w == NULL, "L=0");
}

static void test_left_pad(void)
{
    int32_t seq[] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, out[4];
    fr_left_pad(seq, 9, 3, out);
    CHECK(out[0] == 7 && out[1] == 8 && out[2] == 9, "tail");
    fr_left_pad(seq, 2, 4, out);
    CHECK(out[0] == 0 && out[1] == 0 && out[2] == 1 && out[3] == 2, "padded");
    fr_left_pad(seq, 0, 4, out);
    CHECK(out[0] == 0 && out[3] == 0, "empty");
}

/* ml-latest-small, if a copy is around: counts from its README, window counts and the
 * first item's tokens as the data conventions give them. */
static void test_movielens(void)
{
    const char *cands[] = {getenv("FR_MOVIELENS"), "shared/data/ml-latest-small",
                           "../shared/data/ml-latest-small", "/work/shared/data/ml-latest-small"};
    const char *path = NULL;
    char probe[512];
    for (size_t i = 0; i < sizeof cands / sizeof *cands && !path; i++) {
        if (!cands[i])
            continue;
        snprintf(probe, sizeof probe, "%s/ratings.csv", cands[i]);
        if (access(probe, R_OK) == 0)
            path = cands[i];
    }
    if (!path) {
        printf("  note: ml-latest-small not found (set FR_MOVIELENS); check skipped\n");
        return;
    }
    fr_dataset ds;
    fr_err err = {{0}};
    fr_status st = fr_dataset_load(&ds, path, "movielens-csv", 8, 4096, &strict_opts, &err);
    CHECK(st == FR_OK, "load %s: %s", path, err.msg);
    if (st != FR_OK)
        return;
    CHECK(ds.num_users == 610 && ds.num_items == 9725 && ds.interactions == 100836,
          "U=%d V=%d n=%ld", ds.num_users, ds.num_items, ds.interactions);
    CHECK(ds.report.rows_skipped == 0 && ds.report.content_skipped == 0 &&
              ds.report.content_rows == 9742,
          "skipped %ld %ld", ds.report.rows_skipped, ds.report.content_skipped);
    CHECK(ds.num_eval_users == 610 && ds.items_with_content == 9724, "eval %d content %ld",
          ds.num_eval_users, ds.items_with_content);
    /* movieId 1: Toy Story (1995), Adventure|Animation|Children|Comedy|Fantasy */
    int32_t toy[8] = {ref_row("Adventure"), ref_row("Animation"), ref_row("Children"),
                      ref_row("Comedy"),    ref_row("Fantasy"),   ref_row("toy"),
                      ref_row("story"),     ref_row("1995")};
    CHECK(ds.item_ids[1] == 1 && rows_equal(ds.tokens + 8, toy, 8), "toy story tokens");
    int32_t *w = NULL;
    long n = 0, pos = 0;
    st = fr_dataset_windows(&ds, 50, &w, &n, &pos, &err);
    CHECK(st == FR_OK && n == 2243 && pos == 97364, "L=50 windows %ld positions %ld", n, pos);
    free(w);
    st = fr_dataset_windows(&ds, 3, &w, &n, &pos, &err);
    CHECK(st == FR_OK && n == 24983 && pos == 74483, "L=3 windows %ld positions %ld", n, pos);
    free(w);
    CHECK(ds.report.value_count == 100836 && fabs(ds.report.value_mean - 3.501557) < 1e-6,
          "ratings %ld, mean %f", ds.report.value_count, ds.report.value_mean);
    fr_dataset_free(&ds);

    /* The cleaning figures of docs/data.md. */
    fr_data_options liked = {.event_filter = "rating>=4"};
    st = fr_dataset_load(&ds, path, "movielens-csv", 8, 4096, &liked, &err);
    CHECK(st == FR_OK && ds.interactions == 48580 && ds.num_users == 609 && ds.num_items == 6299 &&
              ds.report.skipped[FR_SKIP_EVENT_FILTER].count == 52256,
          "rating>=4: %ld interactions, %d users, %d items", ds.interactions, ds.num_users,
          ds.num_items - 1);
    fr_dataset_free(&ds);
    fr_data_options core = {.min_item_events = 5};
    st = fr_dataset_load(&ds, path, "movielens-csv", 8, 4096, &core, &err);
    CHECK(st == FR_OK && ds.interactions == 90274 && ds.num_users == 610 && ds.num_items == 3651 &&
              ds.report.skipped[FR_SKIP_K_CORE].count == 10562 && ds.report.k_core_rounds == 1,
          "min-item-events 5: %ld interactions, %d items", ds.interactions, ds.num_items - 1);
    fr_dataset_free(&ds);
}

int main(void)
{
    RUN(test_fnv);
    RUN(test_tokens);
    RUN(test_load_basic);
    RUN(test_malformed_rows);
    RUN(test_ids_and_repeats);
    RUN(test_long_line);
    RUN(test_errors);
    RUN(test_windows);
    RUN(test_left_pad);
    RUN(test_movielens);
    return fr_test_end();
}
