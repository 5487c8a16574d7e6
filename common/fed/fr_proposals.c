/* Proposals from the edge (fr_proposals.h): their text, written and parsed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fed/fr_proposals.h"

static int id_ok(const char *p, size_t n)
{
    if (n < 1 || n > FR_UNKNOWN_MAX_KEY)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
            return 0;
    return 1;
}

size_t fr_proposals_encode(const fr_unknown *u, long min_count, char *out, size_t cap)
{
    const fr_unknown_entry *top[FR_PROPOSALS_MAX];
    int n = fr_unknown_top(u, min_count < 1 ? 1 : min_count, FR_PROPOSALS_MAX, top);
    size_t at = 0;
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        if (!id_ok(top[i]->key, strlen(top[i]->key)))
            continue;
        int w = snprintf(out + at, cap - at, "%s\t%ld\n", top[i]->key, top[i]->count);
        if (w < 0 || (size_t)w >= cap - at) {
            out[at] = 0;
            break;
        }
        at += (size_t)w;
    }
    return at;
}

fr_status fr_proposals_parse(const uint8_t *p, size_t len, fr_proposal *out, int *n, fr_err *err)
{
    *n = 0;
    if (len > FR_PROPOSALS_MAX_BYTES)
        return fr_fail(err, FR_EFORMAT, "unknown_items: %zu bytes, at most %d", len,
                       FR_PROPOSALS_MAX_BYTES);
    for (size_t at = 0, line = 1; at < len; line++) {
        const uint8_t *nl = memchr(p + at, '\n', len - at);
        if (!nl)
            return fr_fail(err, FR_EFORMAT, "unknown_items line %zu: no newline", line);
        size_t end = (size_t)(nl - p);
        const uint8_t *tab = memchr(p + at, '\t', end - at);
        if (*n >= FR_PROPOSALS_MAX)
            return fr_fail(err, FR_EFORMAT, "unknown_items: more than %d ids", FR_PROPOSALS_MAX);
        if (!tab || !id_ok((const char *)p + at, (size_t)(tab - p) - at))
            return fr_fail(err, FR_EFORMAT, "unknown_items line %zu: not an id and a count", line);
        char num[16];
        size_t dl = end - (size_t)(tab - p) - 1;
        if (dl < 1 || dl > 13)
            return fr_fail(err, FR_EFORMAT, "unknown_items line %zu: bad count", line);
        memcpy(num, tab + 1, dl);
        num[dl] = 0;
        char *e = NULL;
        long long c = strtoll(num, &e, 10);
        if (*e || num[0] < '1' || num[0] > '9' || c < 1 || c > 1000000000000LL)
            return fr_fail(err, FR_EFORMAT, "unknown_items line %zu: bad count", line);
        fr_proposal *o = &out[(*n)++];
        memcpy(o->id, p + at, (size_t)(tab - p) - at);
        o->id[(size_t)(tab - p) - at] = 0;
        o->count = (long)c;
        at = end + 1;
    }
    return FR_OK;
}
