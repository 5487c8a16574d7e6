/* CSV records and numbers by Python's rules (see fr_csv.h for why they must match the
 * PyTorch peer's reader to the byte). */
#include "data/fr_csv.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ records */

fr_status fr_csv_open(fr_csv *r, const char *path)
{
    memset(r, 0, sizeof *r);
    return (r->f = fopen(path, "rb")) ? FR_OK : FR_EIO;
}

void fr_csv_open_stream(fr_csv *r, FILE *f)
{
    memset(r, 0, sizeof *r);
    r->f = f;
}

void fr_csv_close(fr_csv *r)
{
    if (r->f)
        fclose(r->f);
    free(r->buf);
    memset(r, 0, sizeof *r);
}

/* Next line into r->buf (NUL-terminated, terminator removed), *too_long set when it
 * ran past FR_CSV_MAX_LINE (the rest is read and dropped). Universal line ends, as
 * Python's reader sees them, so line numbers agree with the peer's. Reads a byte at
 * a time so that memory stays bounded by the cap whatever the input. Returns 1, 0 at
 * end of file, or a negative fr_status. */
static int read_line(fr_csv *r, int *too_long)
{
    int c;
    r->len = 0;
    *too_long = 0;
    if (!r->buf) {
        r->cap = 256;
        if (!(r->buf = malloc(r->cap)))
            return FR_ENOMEM;
    }
    c = getc_unlocked(r->f);
    if (c == EOF)
        return ferror(r->f) ? FR_EIO : 0;
    for (; c != EOF && c != '\n'; c = getc_unlocked(r->f)) {
        if (c == '\r') {
            int d = getc_unlocked(r->f);
            if (d != '\n' && d != EOF)
                ungetc(d, r->f);
            break;
        }
        if ((long)r->len >= FR_CSV_MAX_LINE) {
            *too_long = 1;
            continue;
        }
        if (r->len + 1 >= r->cap) {
            char *p = realloc(r->buf, r->cap * 2);
            if (!p)
                return FR_ENOMEM;
            r->buf = p;
            r->cap *= 2;
        }
        r->buf[r->len++] = (char)c;
    }
    if (ferror(r->f))
        return FR_EIO;
    r->buf[r->len] = '\0';
    r->line_no++;
    return 1;
}

/* Splits a line in place into fields (quoting rules in fr_csv.h). Returns the number
 * of fields or FR_CSV_OPEN_QUOTE. Unquoting only shrinks text, so the output never
 * overtakes the input. */
long fr_csv_split(char *s, size_t len, fr_csv_field *f, int max)
{
    enum { START, PLAIN, QUOTED, QUOTE_SEEN } st = START;
    size_t w = 0, start = 0;
    long n = 0;
    if (len == 0)
        return 0;
    for (size_t r = 0; r <= len; r++) {
        char c = r < len ? s[r] : ','; /* a delimiter after the end closes the last field */
        if (st == QUOTED) {
            if (r == len)
                return FR_CSV_OPEN_QUOTE;
            if (c == '"')
                st = QUOTE_SEEN;
            else
                s[w++] = c;
        } else if (c == '"' && st != PLAIN) { /* opening quote, or "" inside quotes */
            if (st == QUOTE_SEEN)
                s[w++] = '"';
            st = QUOTED;
        } else if (c == ',') {
            if (n < max)
                f[n] = (fr_csv_field){s + start, w - start};
            n++;
            s[w++] = '\0';
            start = w;
            st = START;
        } else {
            s[w++] = c;
            st = PLAIN;
        }
    }
    return n;
}

int fr_csv_next(fr_csv *r, fr_csv_field *f, int max, long *nf)
{
    int too_long, rc = read_line(r, &too_long);
    if (rc == 1)
        *nf = too_long ? FR_CSV_LONG_LINE : fr_csv_split(r->buf, r->len, f, max);
    return rc;
}

int fr_csv_line(fr_csv *r, char **line, size_t *len, int *too_long)
{
    int rc = read_line(r, too_long);
    if (rc == 1) {
        *line = r->buf;
        *len = r->len;
    }
    return rc;
}

/* ------------------------------------------------------------------ numbers */

/* Length of a whitespace character at p (see fr_csv_strip; seps: \x1c-\x1f count,
 * as for str.strip() but not for float()), else 0. */
static size_t space_at(const unsigned char *p, size_t n, int seps)
{
    if (n >= 1 &&
        (p[0] == ' ' || (p[0] >= '\t' && p[0] <= '\r') || (seps && p[0] >= 0x1c && p[0] <= 0x1f)))
        return 1;
    if (n >= 2 && p[0] == 0xc2 && (p[1] == 0x85 || p[1] == 0xa0))
        return 2;
    if (n >= 3 &&
        ((p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80) ||
         (p[0] == 0xe2 && p[1] == 0x80 &&
          ((p[2] >= 0x80 && p[2] <= 0x8a) || p[2] == 0xa8 || p[2] == 0xa9 || p[2] == 0xaf)) ||
         (p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f) ||
         (p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80)))
        return 3;
    return 0;
}

static void strip(const char **p, size_t *n, int seps)
{
    const unsigned char *s = (const unsigned char *)*p;
    size_t k;
    while (*n && (k = space_at(s, *n, seps)) > 0) {
        s += k;
        *n -= k;
    }
    for (int again = 1; again && *n;) {
        again = 0;
        for (k = 1; k <= 3 && k <= *n; k++)
            if (space_at(s + *n - k, k, seps) == k) {
                *n -= k;
                again = 1;
                break;
            }
    }
    *p = (const char *)s;
}

void fr_csv_strip(const char **p, size_t *n)
{
    strip(p, n, 1);
}

size_t fr_csv_space_at(const char *p, size_t n)
{
    return space_at((const unsigned char *)p, n, 1);
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Digits with single underscores between them (Python's number syntax). */
static size_t digit_run(const char *p, size_t n)
{
    size_t i = 0;
    if (n == 0 || !is_digit(p[0]))
        return 0;
    for (i = 1; i < n;) {
        if (is_digit(p[i]))
            i++;
        else if (p[i] == '_' && i + 1 < n && is_digit(p[i + 1]))
            i += 2;
        else
            break;
    }
    return i;
}

fr_status fr_csv_parse_int(const char *p, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    uint64_t v = 0, limit;
    strip(&p, &n, 1);
    if (n && (p[0] == '+' || p[0] == '-'))
        neg = p[i++] == '-';
    if (digit_run(p + i, n - i) != n - i || i == n)
        return FR_EFORMAT;
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (p[i] == '_')
            continue;
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (limit - d) / 10)
            return FR_EFORMAT;
        v = v * 10 + d;
    }
    *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return FR_OK;
}

static int same_nocase(const char *p, size_t n, const char *word)
{
    size_t i = 0;
    for (; i < n && word[i]; i++)
        if ((p[i] | 0x20) != word[i])
            return 0;
    return i == n && !word[i];
}

fr_status fr_csv_parse_float(const char *p, size_t n, double *out)
{
    size_t i = 0, a, b = 0;
    char stackbuf[64], *buf = stackbuf, *end;
    double v;
    fr_status st = FR_EFORMAT;
    strip(&p, &n, 0);
    if (n && (p[0] == '+' || p[0] == '-'))
        i++;
    if (same_nocase(p + i, n - i, "inf") || same_nocase(p + i, n - i, "infinity") ||
        same_nocase(p + i, n - i, "nan")) {
        i = n;
    } else {
        a = digit_run(p + i, n - i);
        i += a;
        if (i < n && p[i] == '.') {
            b = digit_run(p + i + 1, n - i - 1);
            i += 1 + b;
        }
        if (a == 0 && b == 0)
            return FR_EFORMAT;
        if (i < n && (p[i] == 'e' || p[i] == 'E')) {
            size_t e = i + 1 < n && (p[i + 1] == '+' || p[i + 1] == '-') ? 2 : 1, c;
            if ((c = digit_run(p + i + e, n - i - e)) == 0)
                return FR_EFORMAT;
            i += e + c;
        }
    }
    if (i != n)
        return FR_EFORMAT;
    /* strtod takes neither underscores nor a length, so it reads a cleaned copy. */
    if (n + 1 > sizeof stackbuf && !(buf = malloc(n + 1)))
        return FR_EFORMAT;
    b = 0;
    for (i = 0; i < n; i++)
        if (p[i] != '_')
            buf[b++] = p[i];
    buf[b] = '\0';
    v = strtod(buf, &end);
    if (end == buf + b) {
        *out = v;
        st = FR_OK;
    }
    if (buf != stackbuf)
        free(buf);
    return st;
}
