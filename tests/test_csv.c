/* Tests of the CSV module on its own: records (quoting, "" escapes, text after a
 * closing quote, field counts past the caller's array, the three line ends, the
 * line cap, quotes left open), and the number parsers against what Python's csv,
 * int(s.strip()) and float(s) give for the same text. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/fr_csv.h"
#include "fr_test.h"

#define MAXF 8

/* A reader over len bytes of data, through a file that is unlinked once open. */
static int open_bytes(fr_csv *r, const char *data, size_t len)
{
    char path[] = "/tmp/fr_test_csv_XXXXXX";
    int fd = mkstemp(path), ok = fd >= 0;
    CHECK(fd >= 0, "mkstemp: %s", strerror(errno));
    if (!ok)
        return 0;
    ok = write(fd, data, len) == (ssize_t)len;
    CHECK(ok, "cannot write %s", path);
    close(fd);
    if (ok) {
        ok = fr_csv_open(r, path) == FR_OK;
        CHECK(ok, "cannot open %s", path);
    }
    unlink(path);
    return ok;
}

static int open_text(fr_csv *r, const char *text)
{
    return open_bytes(r, text, strlen(text));
}

/* The next record must be on line `line` with the fields of want (n of them). */
static void expect_record(fr_csv *r, long line, const char *const *want, long n)
{
    fr_csv_field f[MAXF];
    long nf = -99;
    int rc = fr_csv_next(r, f, MAXF, &nf);
    CHECK(rc == 1, "line %ld: next returned %d", line, rc);
    if (rc != 1)
        return;
    CHECK(r->line_no == line, "line_no %ld, expected %ld", r->line_no, line);
    CHECK(nf == n, "line %ld: %ld fields, expected %ld", line, nf, n);
    for (long i = 0; i < n && i < nf && i < MAXF; i++) {
        CHECK(f[i].n == strlen(want[i]) && memcmp(f[i].p, want[i], f[i].n) == 0,
              "line %ld field %ld: '%.*s', expected '%s'", line, i, (int)f[i].n, f[i].p, want[i]);
        CHECK(f[i].p[f[i].n] == '\0', "line %ld field %ld not NUL-terminated", line, i);
    }
}

/* The next record must be malformed the way `want` says. */
static void expect_malformed(fr_csv *r, long line, long want)
{
    fr_csv_field f[MAXF];
    long nf = -99;
    int rc = fr_csv_next(r, f, MAXF, &nf);
    CHECK(rc == 1, "line %ld: next returned %d", line, rc);
    CHECK(nf == want, "line %ld: nf %ld, expected %ld", line, nf, want);
    CHECK(r->line_no == line, "line_no %ld, expected %ld", r->line_no, line);
}

static void expect_end(fr_csv *r)
{
    fr_csv_field f[MAXF];
    long nf = -99;
    int rc = fr_csv_next(r, f, MAXF, &nf);
    CHECK(rc == 0, "next at the end returned %d", rc);
}

#define REC(r, line, ...)                                                                          \
    do {                                                                                           \
        static const char *const want_[] = {__VA_ARGS__};                                          \
        expect_record(r, line, want_, (long)(sizeof want_ / sizeof *want_));                       \
    } while (0)

static void test_plain_and_quoted(void)
{
    fr_csv r;
    if (!open_text(&r, "1,31,2.5,1260759144\n"
                       "a,\"b,c\",d\n"
                       "\"x\"\"y\",\"\"\"\",\"\"\n"
                       "\"ab\"cd,ab\"cd,\"a\"b\"c\n"
                       " \"a\" ,\"a\" b\n"
                       ",\n"
                       "\"Heat (1995)\",Action|Crime|Thriller\n"))
        return;
    REC(&r, 1, "1", "31", "2.5", "1260759144");
    REC(&r, 2, "a", "b,c", "d");
    REC(&r, 3, "x\"y", "\"", "");
    /* Text after a closing quote is kept; a quote in an unquoted field is a character. */
    REC(&r, 4, "abcd", "ab\"cd", "ab\"c");
    /* Only a quote that opens a field quotes it: a space before it makes it text. */
    REC(&r, 5, " \"a\" ", "a b");
    REC(&r, 6, "", "");
    REC(&r, 7, "Heat (1995)", "Action|Crime|Thriller");
    expect_end(&r);
    fr_csv_close(&r);
}

static void test_field_count(void)
{
    fr_csv r;
    fr_csv_field f[3];
    long nf = 0;
    if (!open_text(&r, "a,b,c,d,e,f,g,h,i,j\n\nx\n"))
        return;
    CHECK(fr_csv_next(&r, f, 3, &nf) == 1, "first record");
    CHECK(nf == 10, "fields past max are counted: %ld", nf);
    CHECK(f[2].n == 1 && f[2].p[0] == 'c', "the first max are kept");
    CHECK(fr_csv_next(&r, f, 3, &nf) == 1 && nf == 0, "an empty line has no fields: %ld", nf);
    CHECK(fr_csv_next(&r, f, 3, &nf) == 1 && nf == 1 && r.line_no == 3, "one field");
    CHECK(fr_csv_next(&r, f, 3, &nf) == 0, "end");
    fr_csv_close(&r);
}

static void test_line_ends(void)
{
    fr_csv r;
    if (!open_text(&r, "a\nb\r\nc\rd\r\r\ne\n\n\"f\"\r"))
        return;
    REC(&r, 1, "a");
    REC(&r, 2, "b");
    REC(&r, 3, "c");
    REC(&r, 4, "d");
    expect_record(&r, 5, NULL, 0); /* in "d\r\r\n" the CR ends d, the CRLF an empty line */
    REC(&r, 6, "e");
    expect_record(&r, 7, NULL, 0);
    REC(&r, 8, "f");
    expect_end(&r);
    expect_end(&r);
    fr_csv_close(&r);

    /* The last line needs no terminator; a final one adds no empty record. */
    if (!open_text(&r, "x,y"))
        return;
    REC(&r, 1, "x", "y");
    expect_end(&r);
    fr_csv_close(&r);
    if (!open_text(&r, ""))
        return;
    expect_end(&r);
    CHECK(r.line_no == 0, "no lines in an empty file");
    fr_csv_close(&r);
}

static void test_open_quotes(void)
{
    fr_csv r;
    /* A quoted field does not run onto the next line: the line is malformed and the
     * next one is read on its own. */
    if (!open_text(&r, "1,\"abc\n2,def\"\n\"a\"\"\n\"\"\"\n\"ok\"\"\"\n"))
        return;
    expect_malformed(&r, 1, FR_CSV_OPEN_QUOTE);
    REC(&r, 2, "2", "def\"");
    expect_malformed(&r, 3, FR_CSV_OPEN_QUOTE); /* "a"" : the "" is an escape */
    expect_malformed(&r, 4, FR_CSV_OPEN_QUOTE);
    REC(&r, 5, "ok\"");
    expect_end(&r);
    fr_csv_close(&r);
}

static void test_line_cap(void)
{
    size_t cap = (size_t)FR_CSV_MAX_LINE, len = 2 * cap + 16, at = 0;
    char *data = malloc(len);
    fr_csv r;
    fr_csv_field f[MAXF];
    long nf = 0;
    CHECK(data != NULL, "out of memory");
    if (!data)
        return;
    /* Line 1 exactly at the cap, line 2 one byte over it, line 3 short. */
    memset(data, 'a', cap);
    at = cap;
    data[at++] = '\n';
    memset(data + at, 'b', cap + 1);
    at += cap + 1;
    data[at++] = '\r';
    data[at++] = '\n';
    memcpy(data + at, "c,d\n", 4);
    at += 4;
    if (open_bytes(&r, data, at)) {
        CHECK(fr_csv_next(&r, f, MAXF, &nf) == 1 && nf == 1 && f[0].n == cap,
              "a line at the cap is read whole (%ld fields)", nf);
        expect_malformed(&r, 2, FR_CSV_LONG_LINE);
        REC(&r, 3, "c", "d");
        expect_end(&r);
        fr_csv_close(&r);
    }
    free(data);
}

static void test_open_errors(void)
{
    fr_csv r;
    errno = 0;
    CHECK(fr_csv_open(&r, "/nonexistent/fr_test_csv/ratings.csv") == FR_EIO, "missing file");
    CHECK(errno == ENOENT, "errno %d", errno);
    CHECK(r.f == NULL && r.buf == NULL, "zeroed on failure");
    fr_csv_close(&r);
    fr_csv_close(&r);
}

static void test_strip(void)
{
    const char *s = " \t\xc2\xa0\x1c"
                    "a b"
                    "\xe2\x80\x83\x1f\r\n\xe3\x80\x80";
    const char *p = s;
    size_t n = strlen(s);
    fr_csv_strip(&p, &n);
    CHECK(n == 3 && memcmp(p, "a b", 3) == 0, "stripped to '%.*s'", (int)n, p);
    p = " \xe2\x80\xa8 ";
    n = strlen(p);
    fr_csv_strip(&p, &n);
    CHECK(n == 0, "all whitespace strips to nothing (%zu left)", n);
    p = "\xe2\x80\x8b"
        "x"; /* U+200B is not whitespace */
    n = strlen(p);
    fr_csv_strip(&p, &n);
    CHECK(n == 4, "zero-width space kept (%zu)", n);
}

static void test_parse_int(void)
{
    static const struct {
        const char *s;
        int64_t v;
    } good[] = {
        {"42", 42},
        {" 42 ", 42},
        {"+7", 7},
        {"-7", -7},
        {"007", 7},
        {"-0", 0},
        {"1_000", 1000},
        {"0_0", 0},
        {"\t5\r\n", 5},
        {"\x1c"
         "5\x1f",
         5},
        {"\xc2\xa0"
         "12\xe3\x80\x80",
         12},
        {"9223372036854775807", INT64_MAX},
        {"-9223372036854775808", INT64_MIN},
        {"-9_223_372_036_854_775_808", INT64_MIN},
    };
    static const char *const bad[] = {
        "",
        " ",
        "+",
        "-",
        "+-1",
        "1__0",
        "_1",
        "1_",
        "9223372036854775808",
        "-9223372036854775809",
        "99999999999999999999",
        "1.0",
        "1e3",
        "0x10",
        "1 2",
        "\xd9\xa3", /* ARABIC-INDIC DIGIT THREE: Python takes it, the loader does not */
        "\xe2\x80\x8b"
        "1",
        "one",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        int64_t v = -1;
        CHECK(fr_csv_parse_int(good[i].s, strlen(good[i].s), &v) == FR_OK && v == good[i].v,
              "'%s' -> %lld", good[i].s, (long long)v);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int64_t v = 12345;
        CHECK(fr_csv_parse_int(bad[i], strlen(bad[i]), &v) == FR_EFORMAT && v == 12345,
              "'%s' accepted as %lld", bad[i], (long long)v);
    }
    int64_t v = 0;
    CHECK(fr_csv_parse_int("12345", 2, &v) == FR_OK && v == 12, "reads only n bytes: %lld",
          (long long)v);
}

static void test_parse_float(void)
{
    static const struct {
        const char *s;
        double v;
    } good[] = {
        {"1.5", 1.5},
        {" 2.5e3 ", 2500.0},
        {".5", 0.5},
        {"5.", 5.0},
        {"+1E-2", 0.01},
        {"-0.25", -0.25},
        {"1_0.2_5", 10.25},
        {"1e1_0", 1e10},
        {"1260759144", 1260759144.0},
        {"\xc2\x85"
         "3\xc2\xa0",
         3.0},
        {"1e400", INFINITY},
        {"-1e400", -INFINITY},
        {"1e-400", 0.0},
        {"inf", INFINITY},
        {"-Infinity", -INFINITY},
        {"+INF", INFINITY},
    };
    static const char *const bad[] = {
        "",
        " ",
        ".",
        "-",
        "e5",
        "1e",
        "1e+",
        "1.2.3",
        "inf5",
        "infinit",
        "1_",
        "_1",
        "1__0",
        "1._5",
        "\x1c"
        "1",
        "1\x1f",
        "0x1p3",
        "nan(1)",
        "1,5",
        "1 2",
        "--1",
        "\xd9\xa3",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        double v = -1;
        CHECK(fr_csv_parse_float(good[i].s, strlen(good[i].s), &v) == FR_OK && v == good[i].v,
              "'%s' -> %g", good[i].s, v);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        double v = 12345;
        CHECK(fr_csv_parse_float(bad[i], strlen(bad[i]), &v) == FR_EFORMAT && v == 12345,
              "'%s' accepted as %g", bad[i], v);
    }
    double v = 0;
    CHECK(fr_csv_parse_float("nAn", 3, &v) == FR_OK && isnan(v), "nan in any case");
    CHECK(fr_csv_parse_float("-nan ", 5, &v) == FR_OK && isnan(v), "signed nan");
    CHECK(fr_csv_parse_float("2.75xyz", 4, &v) == FR_OK && v == 2.75, "reads only n bytes");

    /* Longer than the parser's stack copy. */
    char longnum[160] = "0.";
    memset(longnum + 2, '0', 120);
    memcpy(longnum + 122, "15", 3);
    CHECK(fr_csv_parse_float(longnum, strlen(longnum), &v) == FR_OK && v == 15e-122,
          "long input -> %g", v);
}

int main(void)
{
    RUN(test_plain_and_quoted);
    RUN(test_field_count);
    RUN(test_line_ends);
    RUN(test_open_quotes);
    RUN(test_line_cap);
    RUN(test_open_errors);
    RUN(test_strip);
    RUN(test_parse_int);
    RUN(test_parse_float);
    return fr_test_end();
}
