/* The msgpack read cursor: every encoding of every type read from bytes written by
 * hand from the msgpack specification, integers cross-checked against msgpack-c's
 * packer, every cut of every encoding refused without a read past the buffer (each
 * input sits in a heap block of its exact size, so the sanitizers see any overrun),
 * lengths far past the buffer refused, and the schema helpers' messages. */
#include <msgpack.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fr_test.h"
#include "util/fr_mpread.h"
#include "util/fr_rng.h"

/* One encoded item and the head it must read as. */
typedef struct sample {
    const char *label;
    uint8_t bytes[48];
    size_t len;
    fr_mpread_type type;
    uint64_t u;
    int64_t i;         /* checked for NEG only */
    size_t payload_at; /* offset of the payload in bytes; 0: no payload */
} sample;

#define B(...) {__VA_ARGS__}, sizeof((uint8_t[]){__VA_ARGS__})

static const sample samples[] = {
    {"positive fixint", B(0x7f), FR_MPREAD_UINT, 127, 0, 0},
    {"negative fixint", B(0xe0), FR_MPREAD_NEG, 0, -32, 0},
    {"nil", B(0xc0), FR_MPREAD_NIL, 0, 0, 0},
    {"false", B(0xc2), FR_MPREAD_BOOL, 0, 0, 0},
    {"true", B(0xc3), FR_MPREAD_BOOL, 0, 0, 0},
    {"uint8", B(0xcc, 0xff), FR_MPREAD_UINT, 255, 0, 0},
    {"uint16", B(0xcd, 0x12, 0x34), FR_MPREAD_UINT, 0x1234, 0, 0},
    {"uint32", B(0xce, 0xde, 0xad, 0xbe, 0xef), FR_MPREAD_UINT, 0xdeadbeefu, 0, 0},
    {"uint64", B(0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe), FR_MPREAD_UINT,
     UINT64_MAX - 1, 0, 0},
    {"int8 negative", B(0xd0, 0x80), FR_MPREAD_NEG, 0, -128, 0},
    {"int8 positive", B(0xd0, 0x05), FR_MPREAD_UINT, 5, 0, 0},
    {"int16", B(0xd1, 0xff, 0x00), FR_MPREAD_NEG, 0, -256, 0},
    {"int32", B(0xd2, 0x80, 0x00, 0x00, 0x00), FR_MPREAD_NEG, 0, INT32_MIN, 0},
    {"int64", B(0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0), FR_MPREAD_NEG, 0, INT64_MIN, 0},
    {"int64 positive", B(0xd3, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), FR_MPREAD_UINT,
     INT64_MAX, 0, 0},
    {"float32", B(0xca, 0x3f, 0xc0, 0x00, 0x00), FR_MPREAD_FLOAT, 4, 0, 1},
    {"float64", B(0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0), FR_MPREAD_FLOAT, 8, 0, 1},
    {"fixstr", B(0xa3, 'a', 'b', 'c'), FR_MPREAD_STR, 3, 0, 1},
    {"empty fixstr", B(0xa0), FR_MPREAD_STR, 0, 0, 1},
    {"str8", B(0xd9, 0x02, 'h', 'i'), FR_MPREAD_STR, 2, 0, 2},
    {"str16", B(0xda, 0x00, 0x02, 'h', 'i'), FR_MPREAD_STR, 2, 0, 3},
    {"str32", B(0xdb, 0, 0, 0, 0x02, 'h', 'i'), FR_MPREAD_STR, 2, 0, 5},
    {"bin8", B(0xc4, 0x03, 1, 2, 3), FR_MPREAD_BIN, 3, 0, 2},
    {"bin16", B(0xc5, 0x00, 0x01, 9), FR_MPREAD_BIN, 1, 0, 3},
    {"bin32", B(0xc6, 0, 0, 0, 0x02, 7, 8), FR_MPREAD_BIN, 2, 0, 5},
    {"fixext1", B(0xd4, 0x01, 0xaa), FR_MPREAD_EXT, 1, 0, 2},
    {"fixext2", B(0xd5, 0x01, 0xaa, 0xbb), FR_MPREAD_EXT, 2, 0, 2},
    {"fixext4", B(0xd6, 0x01, 1, 2, 3, 4), FR_MPREAD_EXT, 4, 0, 2},
    {"fixext8", B(0xd7, 0x01, 1, 2, 3, 4, 5, 6, 7, 8), FR_MPREAD_EXT, 8, 0, 2},
    {"fixext16", B(0xd8, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16),
     FR_MPREAD_EXT, 16, 0, 2},
    {"ext8", B(0xc7, 0x02, 0x05, 1, 2), FR_MPREAD_EXT, 2, 0, 3},
    {"ext16", B(0xc8, 0x00, 0x01, 0x05, 1), FR_MPREAD_EXT, 1, 0, 4},
    {"ext32", B(0xc9, 0, 0, 0, 0x01, 0x05, 1), FR_MPREAD_EXT, 1, 0, 6},
    {"fixarray", B(0x93), FR_MPREAD_ARRAY, 3, 0, 0},
    {"array16", B(0xdc, 0x01, 0x00), FR_MPREAD_ARRAY, 256, 0, 0},
    {"array32", B(0xdd, 0x00, 0x01, 0x00, 0x00), FR_MPREAD_ARRAY, 65536, 0, 0},
    {"fixmap", B(0x8f), FR_MPREAD_MAP, 15, 0, 0},
    {"map16", B(0xde, 0x00, 0x10), FR_MPREAD_MAP, 16, 0, 0},
    {"map32", B(0xdf, 0xff, 0xff, 0xff, 0xff), FR_MPREAD_MAP, 0xffffffffu, 0, 0},
};
#define NSAMPLES (sizeof samples / sizeof samples[0])

/* A copy of len bytes in a heap block of exactly that size (at least 1 byte). */
static uint8_t *exact_copy(const void *src, size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    if (len)
        memcpy(p, src, len);
    return p;
}

static void test_each_type(void)
{
    for (size_t k = 0; k < NSAMPLES; k++) {
        const sample *s = &samples[k];
        uint8_t *buf = exact_copy(s->bytes, s->len);
        fr_mpread r;
        fr_mpread_item it;
        fr_err err = {{0}};
        fr_mpread_init(&r, buf, s->len, "in", &err);
        fr_status st = fr_mpread_next(&r, &it, "item");
        int ok = st == FR_OK && it.type == s->type && fr_mpread_left(&r) == 0;
        if (s->type == FR_MPREAD_NEG)
            ok = ok && it.i == s->i && it.i < 0;
        else if (s->type != FR_MPREAD_NIL && s->type != FR_MPREAD_BOOL)
            ok = ok && it.u == s->u;
        if (s->payload_at)
            ok = ok && it.ptr == buf + s->payload_at;
        CHECK(ok, "%s: status %d type %s u %llu i %lld left %zu (%s)", s->label, (int)st,
              fr_mpread_type_name(it.type), (unsigned long long)it.u, (long long)it.i,
              fr_mpread_left(&r), err.msg);
        free(buf);
    }
    /* Payloads are left as they are: a float's big-endian bytes, a string's text. */
    fr_mpread r;
    fr_mpread_item it;
    const uint8_t f[] = {0xca, 0x3f, 0xc0, 0x00, 0x00, 0xa3, 'a', 'b', 'c'};
    fr_mpread_init(&r, f, sizeof f, "in", NULL);
    CHECK(fr_mpread_next(&r, &it, "x") == FR_OK && it.ptr[0] == 0x3f && it.ptr[1] == 0xc0,
          "float payload");
    CHECK(fr_mpread_next(&r, &it, "x") == FR_OK && fr_mpread_str_is(&it, "abc") &&
              !fr_mpread_str_is(&it, "ab") && !fr_mpread_str_is(&it, "abcd"),
          "string payload");
    CHECK(fr_mpread_left(&r) == 0, "all read");
}

/* Integers written by msgpack-c, which picks the shortest encoding of each. */
static void test_packer_integers(void)
{
    fr_rng rng;
    fr_rng_seed(&rng, 7);
    int64_t vals[400];
    size_t n = 0;
    const int64_t edges[] = {0,
                             1,
                             127,
                             128,
                             255,
                             256,
                             65535,
                             65536,
                             -1,
                             -32,
                             -33,
                             -128,
                             -129,
                             -32768,
                             -32769,
                             INT32_MIN,
                             (int64_t)INT32_MIN - 1,
                             INT64_MAX,
                             INT64_MIN};
    for (size_t k = 0; k < sizeof edges / sizeof edges[0]; k++)
        vals[n++] = edges[k];
    while (n < sizeof vals / sizeof vals[0]) { /* random magnitudes of every width */
        int64_t v = (int64_t)(fr_rng_u64(&rng) >> (1 + fr_rng_below(&rng, 63)));
        vals[n++] = fr_rng_below(&rng, 2) ? v : -v - 1;
    }
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    for (size_t k = 0; k < n; k++)
        msgpack_pack_int64(&pk, vals[k]);
    msgpack_pack_uint64(&pk, UINT64_MAX);
    fr_mpread r;
    fr_err err = {{0}};
    fr_mpread_init(&r, sb.data, sb.size, "in", &err);
    int bad = 0;
    for (size_t k = 0; k < n; k++) {
        int64_t v = 0;
        bad += fr_mpread_int(&r, "v", INT64_MIN, INT64_MAX, &v) != FR_OK || v != vals[k];
    }
    CHECK(bad == 0, "%d of %zu integers differ (%s)", bad, n, err.msg);
    fr_mpread_item it;
    CHECK(fr_mpread_next(&r, &it, "v") == FR_OK && it.type == FR_MPREAD_UINT &&
              it.u == UINT64_MAX && fr_mpread_left(&r) == 0,
          "uint64 max");
    msgpack_sbuffer_destroy(&sb);
}

/* Every proper prefix of every encoding ends inside the item. */
static void test_truncated(void)
{
    int bad = 0;
    for (size_t k = 0; k < NSAMPLES; k++) {
        const sample *s = &samples[k];
        for (size_t cut = 0; cut < s->len; cut++) {
            uint8_t *buf = exact_copy(s->bytes, cut);
            fr_mpread r;
            fr_mpread_item it;
            fr_err err = {{0}};
            fr_mpread_init(&r, buf, cut, "in", &err);
            if (fr_mpread_next(&r, &it, "item") != FR_EFORMAT ||
                strcmp(err.msg, "in: body ends inside item") != 0) {
                if (!bad)
                    fprintf(stderr, "  %s cut to %zu: \"%s\"\n", s->label, cut, err.msg);
                bad++;
            }
            free(buf);
        }
    }
    CHECK(bad == 0, "%d cuts not refused", bad);
    fr_mpread r;
    fr_mpread_item it;
    fr_err err = {{0}};
    fr_mpread_init(&r, NULL, 0, "empty", &err);
    CHECK(fr_mpread_left(&r) == 0 && fr_mpread_next(&r, &it, "body") == FR_EFORMAT &&
              strcmp(err.msg, "empty: body ends inside body") == 0,
          "empty buffer: %s", err.msg);
}

/* Payload lengths past the end of the buffer are refused before anything is stepped
 * over; array and map counts are not walked by the cursor, only reported. */
static void test_oversized_counts(void)
{
    static const uint8_t huge[][8] = {
        {0xdb, 0xff, 0xff, 0xff, 0xff, 'x', 'y'}, /* str32 */
        {0xc6, 0xff, 0xff, 0xff, 0xff, 1, 2},     /* bin32 */
        {0xc9, 0xff, 0xff, 0xff, 0xff, 0x01, 3},  /* ext32 */
        {0xda, 0xff, 0xff, 'a', 'b', 'c', 'd'},   /* str16 */
        {0xc4, 0x07, 1, 2, 3, 4, 5},              /* bin8: one byte short */
    };
    for (size_t k = 0; k < sizeof huge / sizeof huge[0]; k++) {
        uint8_t *buf = exact_copy(huge[k], 7);
        fr_mpread r;
        fr_mpread_item it;
        fr_err err = {{0}};
        fr_mpread_init(&r, buf, 7, "in", &err);
        CHECK(fr_mpread_next(&r, &it, "blob") == FR_EFORMAT &&
                  strstr(err.msg, "body ends inside blob"),
              "case %zu: %s", k, err.msg);
        free(buf);
    }
    uint8_t arr[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01};
    fr_mpread r;
    fr_mpread_item it;
    fr_mpread_init(&r, arr, sizeof arr, "in", NULL);
    CHECK(fr_mpread_expect(&r, &it, FR_MPREAD_ARRAY, "a") == FR_OK && it.u == 0xffffffffu &&
              fr_mpread_left(&r) == 1,
          "an array's count is reported, its elements left unread");
}

static void test_bad_byte_and_types(void)
{
    fr_mpread r;
    fr_mpread_item it;
    fr_err err = {{0}};
    const uint8_t c1[] = {0xc1};
    fr_mpread_init(&r, c1, 1, "in", &err);
    CHECK(fr_mpread_next(&r, &it, "x") == FR_EFORMAT &&
              strcmp(err.msg, "in: x: byte 0xc1 starts no msgpack value") == 0,
          "0xc1: %s", err.msg);

    const uint8_t items[] = {0x05, 0xff, 0xa1, 'k', 0xc0};
    fr_mpread_init(&r, items, sizeof items, "in", &err);
    CHECK(fr_mpread_expect(&r, &it, FR_MPREAD_STR, "name") == FR_EFORMAT &&
              strcmp(err.msg, "in: name: expected string, found integer") == 0,
          "mismatch: %s", err.msg);
    CHECK(fr_mpread_expect(&r, &it, FR_MPREAD_UINT, "n") == FR_OK && it.type == FR_MPREAD_NEG &&
              it.i == -1,
          "UINT accepts a negative integer");
    CHECK(fr_mpread_expect(&r, &it, FR_MPREAD_BIN, "data") == FR_EFORMAT &&
              strcmp(err.msg, "in: data: expected bin, found string") == 0,
          "mismatch: %s", err.msg);
    CHECK(fr_mpread_expect(&r, &it, FR_MPREAD_NIL, "z") == FR_OK && fr_mpread_left(&r) == 0, "nil");
    CHECK(strcmp(fr_mpread_type_name(FR_MPREAD_MAP), "map") == 0 &&
              strcmp(fr_mpread_type_name((fr_mpread_type)99), "unknown") == 0,
          "type names");
}

static void test_int_ranges(void)
{
    const uint8_t in[] = {0x0a, 0xd0, 0xf6, 0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0, 0xa1, 'x'};
    fr_mpread r;
    fr_err err = {{0}};
    int64_t v = 77;
    fr_mpread_init(&r, in, sizeof in, "in", &err);
    CHECK(fr_mpread_int(&r, "a", 0, 9, &v) == FR_EFORMAT && v == 77 &&
              strcmp(err.msg, "in: a: 10 is out of range [0, 9]") == 0,
          "above: %s", err.msg);
    CHECK(fr_mpread_int(&r, "b", -10, -10, &v) == FR_OK && v == -10, "int8 -10");
    CHECK(fr_mpread_int(&r, "c", INT64_MIN, INT64_MAX, &v) == FR_EFORMAT && v == -10 &&
              strstr(err.msg, "in: c: 9223372036854775808 is out of range"),
          "past int64: %s", err.msg);
    CHECK(fr_mpread_int(&r, "d", 0, 1, &v) == FR_EFORMAT &&
              strcmp(err.msg, "in: d: expected integer, found string") == 0,
          "string: %s", err.msg);
}

static void test_keys(void)
{
    static const char *const keys[] = {"alpha", "beta", "gamma"};
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    const char *const stream[] = {"gamma", "alpha", "gamma", "delta",
                                  "\x01long key \xff that goes on well past forty bytes"};
    for (int k = 0; k < 5; k++)
        msgpack_pack_str_with_body(&pk, stream[k], strlen(stream[k]));
    fr_mpread r;
    fr_err err = {{0}};
    unsigned seen = 0;
    int idx = -1;
    fr_mpread_init(&r, sb.data, sb.size, "in", &err);
    CHECK(fr_mpread_key(&r, "m", keys, 3, &seen, &idx) == FR_OK && idx == 2 && seen == 4u, "gamma");
    CHECK(fr_mpread_key(&r, "m", keys, 3, &seen, &idx) == FR_OK && idx == 0 && seen == 5u, "alpha");
    CHECK(fr_mpread_missing(&r, "m", keys, 3, seen, 7u) == FR_EFORMAT &&
              strcmp(err.msg, "in: m: missing key \"beta\"") == 0,
          "missing: %s", err.msg);
    CHECK(fr_mpread_missing(&r, "m", keys, 3, seen, 5u) == FR_OK, "optional beta");
    CHECK(fr_mpread_key(&r, "m", keys, 3, &seen, &idx) == FR_EFORMAT &&
              strcmp(err.msg, "in: m: key \"gamma\" appears twice") == 0,
          "twice: %s", err.msg);
    CHECK(fr_mpread_key(&r, "m", keys, 3, &seen, &idx) == FR_EFORMAT &&
              strcmp(err.msg, "in: m: unknown key \"delta\"") == 0,
          "unknown: %s", err.msg);
    /* Shown cut to 40 bytes, unprintable bytes replaced. */
    const char *shown = "in: m: unknown key \"?long key ? that goes on well past forty\"";
    CHECK(fr_mpread_key(&r, "m", keys, 3, &seen, &idx) == FR_EFORMAT && strcmp(err.msg, shown) == 0,
          "shown: %s", err.msg);
    CHECK(seen == 5u && fr_mpread_left(&r) == 0, "seen %u", seen);
    msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
    RUN(test_each_type);
    RUN(test_packer_integers);
    RUN(test_truncated);
    RUN(test_oversized_counts);
    RUN(test_bad_byte_and_types);
    RUN(test_int_ranges);
    RUN(test_keys);
    return fr_test_end();
}
