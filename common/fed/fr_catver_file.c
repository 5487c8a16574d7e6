/* The catalogue file (fr_catver.h): encoding, and decoding untrusted bytes against
 * the schema with every count bounded by the bytes present. */
#include <limits.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "fed/fr_catver.h"
#include "util/fr_mpread.h"

#define FORMAT_NAME "fedrecall-catalogue"

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

fr_status fr_catver_encode(const fr_catver *cv, uint8_t **out, size_t *len, fr_err *err)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    size_t V = (size_t)cv->num_items, t = (size_t)cv->num_tokens;
    msgpack_pack_map(&pk, 11);
    pack_str(&pk, "format");
    pack_str(&pk, FORMAT_NAME);
    pack_str(&pk, "format_version");
    msgpack_pack_int(&pk, FR_CATVER_FORMAT);
    pack_str(&pk, "version");
    msgpack_pack_long(&pk, cv->version);
    pack_str(&pk, "num_tokens");
    msgpack_pack_int(&pk, cv->num_tokens);
    pack_str(&pk, "token_vocab");
    msgpack_pack_int(&pk, cv->token_vocab);
    pack_str(&pk, "numeric");
    msgpack_pack_int(&pk, cv->numeric ? 1 : 0);
    pack_str(&pk, "keys");
    msgpack_pack_array(&pk, V);
    for (size_t r = 0; r < V; r++)
        pack_str(&pk, cv->keys[r]);
    pack_str(&pk, "tokens");
    msgpack_pack_bin(&pk, V * t * 4);
    for (size_t i = 0; i < V * t; i++) {
        uint32_t v = (uint32_t)cv->tokens[i];
        uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
        msgpack_pack_bin_body(&pk, le, 4);
    }
    pack_str(&pk, "retired");
    msgpack_pack_bin(&pk, V);
    msgpack_pack_bin_body(&pk, cv->retired, V);
    pack_str(&pk, "retired_in");
    msgpack_pack_bin(&pk, V * 8);
    for (size_t r = 0; r < V; r++) {
        uint8_t le[8];
        for (int b = 0; b < 8; b++)
            le[b] = (uint8_t)((uint64_t)cv->retired_in[r] >> (8 * b));
        msgpack_pack_bin_body(&pk, le, 8);
    }
    pack_str(&pk, "reused");
    msgpack_pack_array(&pk, (size_t)cv->n_reused);
    for (int i = 0; i < cv->n_reused; i++) {
        msgpack_pack_array(&pk, 3);
        msgpack_pack_int32(&pk, cv->reused[i].row);
        msgpack_pack_long(&pk, cv->reused[i].version);
        pack_str(&pk, cv->reused[i].old_key);
    }
    if (!sb.data) {
        msgpack_sbuffer_destroy(&sb);
        return fr_fail(err, FR_ENOMEM, "catalogue: out of memory encoding it");
    }
    *out = (uint8_t *)sb.data; /* the sbuffer's malloc'd block, freed with free() */
    *len = sb.size;
    return FR_OK;
}

static const char *const keys_[] = {"format",      "format_version", "version", "num_tokens",
                                    "token_vocab", "numeric",        "keys",    "tokens",
                                    "retired",     "retired_in",     "reused"};
enum { K_FMT, K_FV, K_VER, K_T, K_VT, K_NUM, K_KEYS, K_TOK, K_RET, K_RIN, K_REUSE, K_N };
#define K_N1 K_RIN /* the keys of format 1 */

/* The reuse records: [row, version, old key] each, the count bounded by the bytes
 * left; rows and versions are checked against the rows by fr_catver_check_records. */
static fr_status read_reused(fr_mpread *r, fr_catver *cv)
{
    fr_mpread_item it, rec, s;
    int64_t row = 0, ver = 0;
    fr_status st = fr_mpread_expect(r, &it, FR_MPREAD_ARRAY, "reused");
    if (st == FR_OK && (it.u > fr_mpread_left(r) / 4 || it.u > (1u << 28)))
        st = fr_fail(r->err, FR_EFORMAT, "%s: reused: %llu records", r->name,
                     (unsigned long long)it.u);
    if (st == FR_OK && it.u && !(cv->reused = calloc((size_t)it.u, sizeof *cv->reused)))
        st = fr_fail(r->err, FR_ENOMEM, "%s: out of memory", r->name);
    for (uint64_t i = 0; st == FR_OK && i < it.u; i++) {
        if ((st = fr_mpread_expect(r, &rec, FR_MPREAD_ARRAY, "reused")) == FR_OK && rec.u != 3)
            st = fr_fail(r->err, FR_EFORMAT, "%s: reused[%llu] has %llu fields, not 3", r->name,
                         (unsigned long long)i, (unsigned long long)rec.u);
        if (st == FR_OK)
            st = fr_mpread_int(r, "reused.row", 1, INT32_MAX, &row);
        if (st == FR_OK)
            st = fr_mpread_int(r, "reused.version", 1, LONG_MAX, &ver);
        if (st == FR_OK && (st = fr_mpread_expect(r, &s, FR_MPREAD_STR, "reused")) == FR_OK &&
            (s.u < 1 || s.u > FR_MODEL_MAX_KEY || memchr(s.ptr, 0, (size_t)s.u)))
            st = fr_fail(r->err, FR_EFORMAT, "%s: reused[%llu] is empty, too long or holds a NUL",
                         r->name, (unsigned long long)i);
        if (st == FR_OK && !(cv->reused[i].old_key = malloc((size_t)s.u + 1)))
            st = fr_fail(r->err, FR_ENOMEM, "%s: out of memory", r->name);
        if (st == FR_OK) {
            memcpy(cv->reused[i].old_key, s.ptr, (size_t)s.u);
            cv->reused[i].old_key[s.u] = 0;
            cv->reused[i].row = (int32_t)row;
            cv->reused[i].version = (long)ver;
            cv->n_reused++;
        }
    }
    return st;
}

/* The keys array: each string checked (length, row 0 empty, no NUL) and copied. */
static fr_status read_keys(fr_mpread *r, fr_catver *cv)
{
    fr_mpread_item it, s;
    fr_status st = fr_mpread_expect(r, &it, FR_MPREAD_ARRAY, "keys");
    /* every string takes at least one byte: a count above the bytes left is a lie */
    if (st == FR_OK && (it.u < 2 || it.u > (1u << 28) || it.u > fr_mpread_left(r)))
        st = fr_fail(r->err, FR_EFORMAT, "%s: keys: %llu keys", r->name, (unsigned long long)it.u);
    if (st == FR_OK && !(cv->keys = calloc((size_t)it.u, sizeof *cv->keys)))
        st = fr_fail(r->err, FR_ENOMEM, "%s: out of memory for %llu keys", r->name,
                     (unsigned long long)it.u);
    if (st == FR_OK)
        cv->num_items = (int)it.u;
    for (uint64_t i = 0; st == FR_OK && i < it.u; i++) {
        if ((st = fr_mpread_expect(r, &s, FR_MPREAD_STR, "keys")) != FR_OK)
            break;
        if (s.u > FR_MODEL_MAX_KEY || (i == 0) != (s.u == 0) || memchr(s.ptr, 0, (size_t)s.u)) {
            st = fr_fail(r->err, FR_EFORMAT, "%s: keys[%llu] is empty, too long or holds a NUL",
                         r->name, (unsigned long long)i);
            break;
        }
        if (!(cv->keys[i] = malloc((size_t)s.u + 1)))
            st = fr_fail(r->err, FR_ENOMEM, "%s: out of memory", r->name);
        else {
            memcpy(cv->keys[i], s.ptr, (size_t)s.u);
            cv->keys[i][s.u] = 0;
        }
    }
    return st;
}

/* Every key distinct: sorted pointers, neighbours compared. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static fr_status check_distinct(const fr_catver *cv, const char *name, fr_err *err)
{
    char **s = malloc((size_t)cv->num_items * sizeof *s);
    if (!s)
        return fr_fail(err, FR_ENOMEM, "%s: out of memory", name);
    memcpy(s, cv->keys, (size_t)cv->num_items * sizeof *s);
    qsort(s, (size_t)cv->num_items, sizeof *s, cmp_str);
    fr_status st = FR_OK;
    for (int i = 1; st == FR_OK && i < cv->num_items; i++)
        if (!strcmp(s[i - 1], s[i]))
            st = fr_fail(err, FR_EFORMAT, "%s: duplicate id: item '%.200s' has two rows", name,
                         s[i]);
    free(s);
    return st;
}

static fr_status read_all(fr_mpread *r, fr_catver *cv, fr_mpread_item *tok, fr_mpread_item *ret,
                          fr_mpread_item *rin)
{
    fr_mpread_item it;
    unsigned seen = 0;
    int k = 0;
    int64_t v = 0, fv = 0;
    fr_mpread_item map;
    fr_status st = fr_mpread_expect(r, &map, FR_MPREAD_MAP, "body");
    if (st == FR_OK && map.u != K_N && map.u != K_N1)
        st = fr_fail(r->err, FR_EFORMAT, "%s: %llu keys, expected %d (or %d in format 1)", r->name,
                     (unsigned long long)map.u, K_N, K_N1);
    for (uint64_t e = 0; st == FR_OK && e < map.u; e++) {
        if ((st = fr_mpread_key(r, "body", keys_, K_N, &seen, &k)) != FR_OK)
            break;
        switch (k) {
        case K_FMT:
            if ((st = fr_mpread_expect(r, &it, FR_MPREAD_STR, "format")) == FR_OK &&
                !fr_mpread_str_is(&it, FORMAT_NAME))
                st = fr_fail(r->err, FR_EFORMAT, "%s: not a catalogue file", r->name);
            break;
        case K_FV:
            if ((st = fr_mpread_int(r, "format_version", 0, INT_MAX, &fv)) == FR_OK &&
                (fv < 1 || fv > FR_CATVER_FORMAT))
                st = fr_fail(r->err, FR_EVERSION,
                             "%s: catalogue format version %lld, this build reads 1 to %d", r->name,
                             (long long)fv, FR_CATVER_FORMAT);
            break;
        case K_VER:
            if ((st = fr_mpread_int(r, "version", 0, LONG_MAX, &v)) == FR_OK)
                cv->version = (long)v;
            break;
        case K_T:
        case K_VT:
            if ((st = fr_mpread_int(r, keys_[k], 1, 1 << 24, &v)) == FR_OK)
                *(k == K_T ? &cv->num_tokens : &cv->token_vocab) = (int)v;
            break;
        case K_NUM:
            if ((st = fr_mpread_int(r, "numeric", 0, 1, &v)) == FR_OK)
                cv->numeric = (int)v;
            break;
        case K_KEYS: st = read_keys(r, cv); break;
        case K_TOK: st = fr_mpread_expect(r, tok, FR_MPREAD_BIN, "tokens"); break;
        case K_RET: st = fr_mpread_expect(r, ret, FR_MPREAD_BIN, "retired"); break;
        case K_RIN: st = fr_mpread_expect(r, rin, FR_MPREAD_BIN, "retired_in"); break;
        case K_REUSE: st = read_reused(r, cv); break;
        }
    }
    /* format 1 has the first nine keys, format 2 all of them */
    if (st == FR_OK && map.u != (fv == 1 ? K_N1 : K_N))
        st = fr_fail(r->err, FR_EFORMAT, "%s: %llu keys in a format %lld catalogue", r->name,
                     (unsigned long long)map.u, (long long)fv);
    if (st == FR_OK)
        st = fr_mpread_missing(r, "body", keys_, K_N, seen,
                               fv == 1 ? (1u << K_N1) - 1 : (1u << K_N) - 1);
    if (st == FR_OK && fr_mpread_left(r))
        st = fr_fail(r->err, FR_EFORMAT, "%s: %zu bytes follow the body", r->name,
                     fr_mpread_left(r));
    return st;
}

fr_status fr_catver_decode(fr_catver *cv, const uint8_t *buf, size_t len, const char *name,
                           fr_err *err)
{
    memset(cv, 0, sizeof *cv);
    fr_mpread r;
    fr_mpread_item tok = {0}, ret = {0}, rin = {0};
    fr_mpread_init(&r, buf, len, name, err);
    fr_status st = read_all(&r, cv, &tok, &ret, &rin);
    size_t V = (size_t)cv->num_items, t = (size_t)cv->num_tokens;
    if (st == FR_OK && (tok.u != V * t * 4 || ret.u != V || (rin.ptr && rin.u != V * 8)))
        st = fr_fail(err, FR_EFORMAT, "%s: tokens, retired or retired_in do not have %zu rows",
                     name, V);
    if (st == FR_OK) {
        cv->cap = cv->num_items;
        cv->tokens = malloc(V * t * sizeof(int32_t));
        cv->retired = malloc(V);
        cv->retired_in = calloc(V, sizeof *cv->retired_in);
        if (!cv->tokens || !cv->retired || !cv->retired_in)
            st = fr_fail(err, FR_ENOMEM, "%s: out of memory", name);
    }
    for (size_t i = 0; st == FR_OK && i < V * t; i++) {
        const uint8_t *p = tok.ptr + 4 * i;
        uint32_t v = p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        cv->tokens[i] = (int32_t)v;
        if ((int32_t)v < 0 || (int32_t)v >= cv->token_vocab || (i < t && v))
            st = fr_fail(err, FR_EFORMAT, "%s: row %zu has token %d outside [0, %d)", name, i / t,
                         (int32_t)v, cv->token_vocab);
    }
    for (size_t i = 0; st == FR_OK && i < V; i++) {
        cv->retired[i] = ret.ptr[i];
        if (ret.ptr[i] > 1 || (i == 0 && ret.ptr[i]))
            st = fr_fail(err, FR_EFORMAT, "%s: retired[%zu] is %u", name, i, ret.ptr[i]);
        uint64_t v = 0;
        for (int b = 0; rin.ptr && b < 8; b++)
            v |= (uint64_t)rin.ptr[8 * i + b] << (8 * b);
        /* format 1 says nothing of when: the file's version is no earlier than it */
        cv->retired_in[i] = rin.ptr ? (long)(int64_t)v : cv->retired[i] ? cv->version : 0;
    }
    for (size_t i = 1; st == FR_OK && cv->numeric && i < V; i++) {
        char *end = NULL;
        long long x = strtoll(cv->keys[i], &end, 10);
        char canon[24];
        snprintf(canon, sizeof canon, "%lld", x);
        if (strcmp(canon, cv->keys[i]))
            st = fr_fail(err, FR_EFORMAT, "%s: numeric catalogue with id '%.100s'", name,
                         cv->keys[i]);
    }
    if (st == FR_OK)
        st = check_distinct(cv, name, err);
    if (st == FR_OK)
        st = fr_catver_check_records(cv, name, err);
    if (st != FR_OK)
        fr_catver_free(cv); /* keys are calloc'd: a partly read array frees cleanly */
    return st;
}
