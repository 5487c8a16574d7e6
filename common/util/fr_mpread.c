/* The msgpack read cursor (see fr_mpread.h). Every length is compared with the bytes
 * left before anything is read or stepped over, in 64-bit arithmetic, so no count in
 * the input, however large, moves the cursor out of its buffer. */
#include "util/fr_mpread.h"

#include <string.h>

static const char *const type_names[] = {"nil",    "bool", "integer", "integer", "float",
                                         "string", "bin",  "array",   "map",     "ext"};

/* Outcomes of read_head besides success, told apart for the message. */
enum { HEAD_OK = 0, HEAD_CUT = -1, HEAD_BAD_BYTE = -2 };

void fr_mpread_init(fr_mpread *r, const void *buf, size_t len, const char *name, fr_err *err)
{
    r->p = buf;
    r->end = len ? r->p + len : r->p; /* no arithmetic on a NULL buf */
    r->name = name;
    r->err = err;
}

size_t fr_mpread_left(const fr_mpread *r)
{
    return (size_t)(r->end - r->p);
}

const char *fr_mpread_type_name(fr_mpread_type t)
{
    return (unsigned)t < sizeof type_names / sizeof type_names[0] ? type_names[t] : "unknown";
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* One item's head; see fr_mpread_next. */
static int read_head(fr_mpread *r, fr_mpread_item *it)
{
    memset(it, 0, sizeof *it);
    if (r->p >= r->end)
        return HEAD_CUT;
    uint8_t b = *r->p++;
    int n = 0, skip = 0; /* n: bytes of the length field; skip: bytes before the payload */
    if (b <= 0x7f || b >= 0xe0) {
        it->type = b <= 0x7f ? FR_MPREAD_UINT : FR_MPREAD_NEG;
        it->u = b;
        it->i = (int8_t)b;
        return HEAD_OK;
    } else if (b >= 0x80 && b <= 0x9f) {
        it->type = b <= 0x8f ? FR_MPREAD_MAP : FR_MPREAD_ARRAY;
        it->u = b & 0x0f;
        return HEAD_OK;
    } else if (b >= 0xa0 && b <= 0xbf) {
        it->type = FR_MPREAD_STR;
        it->u = b & 0x1f;
    } else if (b == 0xc0 || b == 0xc2 || b == 0xc3) {
        it->type = b == 0xc0 ? FR_MPREAD_NIL : FR_MPREAD_BOOL;
        return HEAD_OK;
    } else if (b >= 0xc4 && b <= 0xc6) {
        it->type = FR_MPREAD_BIN;
        n = 1 << (b - 0xc4);
    } else if (b >= 0xc7 && b <= 0xc9) {
        it->type = FR_MPREAD_EXT;
        n = 1 << (b - 0xc7);
        skip = 1; /* the ext type byte */
    } else if (b == 0xca || b == 0xcb) {
        it->type = FR_MPREAD_FLOAT;
        it->u = b == 0xca ? 4 : 8;
    } else if (b >= 0xcc && b <= 0xd3) {
        n = 1 << ((b - 0xcc) & 3);
        if ((uint64_t)(r->end - r->p) < (uint64_t)n)
            return HEAD_CUT;
        uint64_t v = get_be(r->p, n);
        r->p += n;
        it->type = FR_MPREAD_UINT;
        it->u = v;
        if (b >= 0xd0) { /* signed: sign-extend, keep the non-negative ones as UINT */
            int sh = 64 - 8 * n;
            it->i = (int64_t)(v << sh) >> sh;
            it->type = it->i < 0 ? FR_MPREAD_NEG : FR_MPREAD_UINT;
        }
        return HEAD_OK;
    } else if (b >= 0xd4 && b <= 0xd8) {
        it->type = FR_MPREAD_EXT;
        it->u = 1u << (b - 0xd4);
        skip = 1;
    } else if (b >= 0xd9 && b <= 0xdb) {
        it->type = FR_MPREAD_STR;
        n = 1 << (b - 0xd9);
    } else if (b >= 0xdc && b <= 0xdf) {
        it->type = b <= 0xdd ? FR_MPREAD_ARRAY : FR_MPREAD_MAP;
        n = (b & 1) ? 4 : 2;
    } else {
        return HEAD_BAD_BYTE; /* 0xc1, never used */
    }
    if ((uint64_t)(r->end - r->p) < (uint64_t)n + (uint64_t)skip)
        return HEAD_CUT;
    if (n) {
        it->u = get_be(r->p, n);
        r->p += n;
    }
    r->p += skip;
    if (it->type == FR_MPREAD_ARRAY || it->type == FR_MPREAD_MAP)
        return HEAD_OK;
    if ((uint64_t)(r->end - r->p) < it->u)
        return HEAD_CUT;
    it->ptr = r->p;
    r->p += it->u;
    return HEAD_OK;
}

fr_status fr_mpread_next(fr_mpread *r, fr_mpread_item *it, const char *what)
{
    const uint8_t *at = r->p;
    int rc = read_head(r, it);
    if (rc == HEAD_CUT)
        return fr_fail(r->err, FR_EFORMAT, "%s: body ends inside %s", r->name, what);
    if (rc == HEAD_BAD_BYTE)
        return fr_fail(r->err, FR_EFORMAT, "%s: %s: byte 0x%02x starts no msgpack value", r->name,
                       what, *at);
    return FR_OK;
}

fr_status fr_mpread_expect(fr_mpread *r, fr_mpread_item *it, fr_mpread_type want, const char *what)
{
    fr_status st = fr_mpread_next(r, it, what);
    if (st != FR_OK)
        return st;
    if (it->type == want || (want == FR_MPREAD_UINT && it->type == FR_MPREAD_NEG))
        return FR_OK;
    return fr_fail(r->err, FR_EFORMAT, "%s: %s: expected %s, found %s", r->name, what,
                   fr_mpread_type_name(want), fr_mpread_type_name(it->type));
}

fr_status fr_mpread_int(fr_mpread *r, const char *what, int64_t lo, int64_t hi, int64_t *out)
{
    fr_mpread_item it;
    fr_status st = fr_mpread_expect(r, &it, FR_MPREAD_UINT, what);
    if (st != FR_OK)
        return st;
    if (it.type == FR_MPREAD_UINT && it.u > (uint64_t)INT64_MAX)
        return fr_fail(r->err, FR_EFORMAT, "%s: %s: %llu is out of range [%lld, %lld]", r->name,
                       what, (unsigned long long)it.u, (long long)lo, (long long)hi);
    int64_t v = it.type == FR_MPREAD_NEG ? it.i : (int64_t)it.u;
    if (v < lo || v > hi)
        return fr_fail(r->err, FR_EFORMAT, "%s: %s: %lld is out of range [%lld, %lld]", r->name,
                       what, (long long)v, (long long)lo, (long long)hi);
    *out = v;
    return FR_OK;
}

bool fr_mpread_str_is(const fr_mpread_item *it, const char *s)
{
    size_t n = strlen(s);
    return it->u == n && (n == 0 || memcmp(it->ptr, s, n) == 0);
}

void fr_mpread_show_str(char out[FR_MPREAD_SHOWN], const fr_mpread_item *it)
{
    size_t k = it->u < FR_MPREAD_SHOWN - 1 ? (size_t)it->u : FR_MPREAD_SHOWN - 1;
    for (size_t i = 0; i < k; i++)
        out[i] = it->ptr[i] >= 0x20 && it->ptr[i] < 0x7f ? (char)it->ptr[i] : '?';
    out[k] = 0;
}

fr_status fr_mpread_key(fr_mpread *r, const char *what, const char *const *keys, int n,
                        unsigned *seen, int *idx)
{
    FR_ASSERT(n >= 0 && n <= 32);
    fr_mpread_item it;
    fr_status st = fr_mpread_expect(r, &it, FR_MPREAD_STR, what);
    if (st != FR_OK)
        return st;
    for (int i = 0; i < n; i++)
        if (fr_mpread_str_is(&it, keys[i])) {
            if (*seen & (1u << i))
                return fr_fail(r->err, FR_EFORMAT, "%s: %s: key \"%s\" appears twice", r->name,
                               what, keys[i]);
            *seen |= 1u << i;
            *idx = i;
            return FR_OK;
        }
    char shown[FR_MPREAD_SHOWN];
    fr_mpread_show_str(shown, &it);
    return fr_fail(r->err, FR_EFORMAT, "%s: %s: unknown key \"%s\"", r->name, what, shown);
}

fr_status fr_mpread_missing(const fr_mpread *r, const char *what, const char *const *keys, int n,
                            unsigned seen, unsigned required)
{
    FR_ASSERT(n >= 0 && n <= 32);
    for (int i = 0; i < n; i++)
        if ((required & (1u << i)) && !(seen & (1u << i)))
            return fr_fail(r->err, FR_EFORMAT, "%s: %s: missing key \"%s\"", r->name, what,
                           keys[i]);
    return FR_OK;
}
