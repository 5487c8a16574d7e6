/* Model files: bit-exact round trips (with and without Adam's moments), and refusal
 * with a clear message of every kind of damaged or foreign file (bodies written by
 * hand with msgpack-c, so that the reader is checked against the format as documented
 * rather than against its own writer). */
#include <msgpack.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "fr_test.h"
#include "fr_test_files.h"
#include "fr_test_fixture.h"
#include "backend/fr_backend.h"
#include "nn/fr_model.h"
#include "nn/fr_modelfile.h"
#include "util/fr_rng.h"

static char tmpdir[64];
static fr_rng rng;

/* V, Vt, T, d, F: sizes that leave padding between the views of the flat buffer. */
static const fr_model_config test_cfg = {9, 13, 3, 5, 6};

static void path_in(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", tmpdir, name);
}

static int make_model_cfg(fr_model *m, const fr_model_config *c, uint64_t seed)
{
    size_t nt = (size_t)c->num_items * (size_t)c->num_tokens;
    int32_t *tok = malloc(nt * sizeof *tok);
    int64_t *ids = calloc((size_t)c->num_items, sizeof *ids);
    for (size_t i = 0; i < nt; i++)
        tok[i] = (int32_t)fr_rng_below(&rng, (uint64_t)c->token_vocab);
    for (int i = 1; i < c->num_items; i++)
        ids[i] = (int64_t)fr_rng_u64(&rng); /* negative and huge ones too */
    fr_err err;
    int rc = 0;
    if (fr_model_init(m, c, fr_backend_cpu(), tok, ids, &err) != FR_OK) {
        fprintf(stderr, "  model init: %s\n", err.msg);
        rc = -1;
    } else {
        fr_model_init_params(m, seed);
        m->adam_step = 12345;
    }
    free(tok);
    free(ids);
    return rc;
}

static int make_model(fr_model *m, uint64_t seed)
{
    return make_model_cfg(m, &test_cfg, seed);
}

static float *host_copy(const fr_model *m, const float *dev)
{
    float *h = malloc(m->n * sizeof(float));
    m->be->download(h, dev, m->n * sizeof(float));
    return h;
}

/* Everything a file carries, bit for bit (padding between views included: zero). */
static int same_model(const fr_model *a, const fr_model *b, int moments)
{
    if (memcmp(&a->cfg, &b->cfg, sizeof a->cfg) != 0 || a->n != b->n ||
        a->adam_step != b->adam_step)
        return 0;
    size_t nt = (size_t)a->cfg.num_items * (size_t)a->cfg.num_tokens;
    int same = memcmp(a->item_ids, b->item_ids, (size_t)a->cfg.num_items * 8) == 0 &&
               memcmp(a->item_tokens, b->item_tokens, nt * 4) == 0;
    const float *bufs[3][2] = {{a->params, b->params}, {a->adam_m, b->adam_m},
                               {a->adam_v, b->adam_v}};
    for (int k = 0; k < 3; k++) {
        float *x = host_copy(a, bufs[k][0]), *y = host_copy(b, bufs[k][1]);
        if (k == 0 || moments)
            same = same && memcmp(x, y, a->n * sizeof(float)) == 0;
        else /* moments not saved: the loaded ones are zero */
            for (size_t i = 0; i < b->n; i++)
                same = same && y[i] == 0.0f;
        free(x);
        free(y);
    }
    return same;
}

/* Loads path expecting status want and a message that starts with the path and
 * contains each of the given phrases; the model must come back zeroed. */
static void expect_refusal(const char *path, fr_status want, const char *a, const char *b,
                           int line)
{
    fr_model m;
    fr_err err = {{0}};
    fr_status st = fr_modelfile_load(&m, fr_backend_cpu(), path, &err);
    int ok = st == want && strncmp(err.msg, path, strlen(path)) == 0 && strstr(err.msg, a) &&
             (!b || strstr(err.msg, b)) && !m.params && !m.be;
    CHECK(ok, "line %d: status %d (want %d), message \"%s\" (want \"%s\" and \"%s\")", line,
          (int)st, (int)want, err.msg, a, b ? b : "");
    fr_model_free(&m);
}
#define REFUSE(path, want, a, b) expect_refusal(path, want, a, b, __LINE__)

static void test_crc32(void)
{
    CHECK(fr_modelfile_crc32(0, "123456789", 9) == 0xCBF43926u, "check value");
    CHECK(fr_modelfile_crc32(fr_modelfile_crc32(0, "1234", 4), "56789", 5) == 0xCBF43926u,
          "incremental");
    CHECK(fr_modelfile_crc32(0, "", 0) == 0, "empty");
    /* Against the bit-at-a-time definition, at every length and alignment of a tail. */
    uint8_t buf[80];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)fr_rng_u64(&rng);
    int bad = 0;
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; off + len <= sizeof buf; len++) {
            uint32_t c = 0xFFFFFFFFu;
            for (size_t i = 0; i < len; i++) {
                c ^= buf[off + i];
                for (int k = 0; k < 8; k++)
                    c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
            }
            bad += fr_modelfile_crc32(0, buf + off, len) != ~c;
        }
    CHECK(bad == 0, "%d lengths disagree with the bitwise CRC", bad);
}

static void test_round_trip(void)
{
    fr_model a, b;
    fr_err err = {{0}};
    char path[128], tmp[140];
    path_in(path, sizeof path, "model.frm");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (make_model(&a, 7) != 0) {
        CHECK(0, "make_model");
        return;
    }
    /* Values a lossy path would change: -0, NaN with payload, infinity, subnormal. */
    float *h = host_copy(&a, a.params);
    uint32_t odd[4] = {0x80000000u, 0x7fc12345u, 0x7f800000u, 0x00000001u};
    memcpy(h + a.p[FR_P_W_PROJ].offset, odd, sizeof odd);
    fr_model_set_params(&a, h);
    free(h);

    CHECK(fr_modelfile_save(&a, path, 0, &err) == FR_OK, "save: %s", err.msg);
    CHECK(!file_exists(tmp), "no .tmp left behind");
    CHECK(fr_modelfile_load(&b, fr_backend_cpu(), path, &err) == FR_OK, "load: %s", err.msg);
    CHECK(b.be && same_model(&a, &b, 0), "round trip without moments");
    fr_model_free(&b);

    /* With the optimiser: random moments must come back exactly. */
    /* Only the views: the padding between them is never trained and stays zero. */
    float *mm = calloc(a.n, sizeof(float)), *vv = calloc(a.n, sizeof(float));
    for (int t = 0; t < FR_NPARAMS; t++)
        for (size_t i = a.p[t].offset; i < a.p[t].offset + a.p[t].size; i++) {
            mm[i] = (float)(fr_rng_normal(&rng) * 1e-3);
            vv[i] = (float)(fr_rng_uniform(&rng) * 1e-6);
        }
    a.be->upload(a.adam_m, mm, a.n * sizeof(float));
    a.be->upload(a.adam_v, vv, a.n * sizeof(float));
    free(mm);
    free(vv);
    CHECK(fr_modelfile_save(&a, path, FR_MODELFILE_OPTIMIZER, &err) == FR_OK, "save: %s",
          err.msg);
    CHECK(fr_modelfile_load(&b, fr_backend_cpu(), path, &err) == FR_OK, "load: %s", err.msg);
    CHECK(b.be && same_model(&a, &b, 1), "round trip with moments");
    fr_model_free(&b);

    /* The in-memory reader agrees with the file reader. */
    size_t len = 0;
    uint8_t *img = read_all(path, &len);
    CHECK(fr_modelfile_decode(&b, fr_backend_cpu(), img, len, "image", &err) == FR_OK,
          "decode: %s", err.msg);
    CHECK(b.be && same_model(&a, &b, 1), "decode round trip");
    fr_model_free(&b);

    /* The body is plain msgpack: msgpack-c's own unpacker reads all of it. */
    msgpack_unpacked up;
    size_t off = 0;
    msgpack_unpacked_init(&up);
    msgpack_unpack_return ur = msgpack_unpack_next(&up, (const char *)img + 28, len - 28, &off);
    msgpack_object root = up.data;
    CHECK(ur == MSGPACK_UNPACK_SUCCESS && off == len - 28 && root.type == MSGPACK_OBJECT_MAP &&
              root.via.map.size == 10 && root.via.map.ptr[0].key.type == MSGPACK_OBJECT_STR &&
              root.via.map.ptr[0].key.via.str.size == 6 &&
              memcmp(root.via.map.ptr[0].key.via.str.ptr, "format", 6) == 0,
          "msgpack-c reads the body (rc %d, %zu of %zu bytes)", (int)ur, off, len - 28);
    msgpack_unpacked_destroy(&up);
    free(img);

    CHECK(fr_modelfile_save(&a, path, 8, &err) == FR_EINVAL, "unknown flag refused");
    CHECK(fr_modelfile_save(&a, "/nonexistent-dir/x.frm", 0, &err) == FR_EIO &&
              strstr(err.msg, "/nonexistent-dir/x.frm"),
          "unwritable path: %s", err.msg);
    fr_model_free(&a);
}

/* Item keys for test_cfg's 9 rows: UTF-8, spaces, punctuation, the longest allowed. */
static char long_key[FR_MODEL_MAX_KEY + 2];
static const char *test_keys[9] = {"", "i-a", "\xc3\xa9t\xc3\xa9", "with space", "a,b|c",
                                   "007", "7", long_key, "z"};

static int same_keys(const fr_model *a, const char *const *want)
{
    if (!a->item_keys)
        return 0;
    for (int r = 0; r < a->cfg.num_items; r++)
        if (strcmp(a->item_keys[r], want[r]) != 0)
            return 0;
    return 1;
}

/* Version 2: string item ids travel with the model; a model without them writes none
 * and still loads as before. */
static void test_round_trip_keys(void)
{
    fr_model a, b;
    fr_err err = {{0}};
    char path[128];
    size_t len = 0;
    path_in(path, sizeof path, "keys.frm");
    if (make_model(&a, 5) != 0) {
        CHECK(0, "make_model");
        return;
    }
    CHECK(fr_modelfile_save(&a, path, 0, &err) == FR_OK, "save: %s", err.msg);
    uint8_t *img = read_all(path, &len);
    CHECK(len > 28 && img[8] == 2 && img[9] == 0 && !memmem(img, len, "item_keys", 9),
          "numeric ids: version 2, no item_keys");
    free(img);
    CHECK(fr_modelfile_load(&b, fr_backend_cpu(), path, &err) == FR_OK && !b.item_keys,
          "load: %s", err.msg);
    fr_model_free(&b);

    CHECK(fr_model_set_item_keys(&a, test_keys, &err) == FR_OK, "set keys: %s", err.msg);
    CHECK(same_keys(&a, test_keys) && a.item_keys[0][0] == 0, "keys copied");
    CHECK(fr_modelfile_save(&a, path, FR_MODELFILE_OPTIMIZER, &err) == FR_OK, "save: %s",
          err.msg);
    CHECK(fr_modelfile_load(&b, fr_backend_cpu(), path, &err) == FR_OK, "load: %s", err.msg);
    CHECK(b.be && same_model(&a, &b, 1) && same_keys(&b, test_keys), "keys round trip");
    fr_model_free(&b);
    /* msgpack-c sees item_keys as an array of 9 strings */
    img = read_all(path, &len);
    msgpack_unpacked up;
    size_t off = 0;
    msgpack_unpacked_init(&up);
    int found = 0;
    if (msgpack_unpack_next(&up, (const char *)img + 28, len - 28, &off) ==
        MSGPACK_UNPACK_SUCCESS)
        for (uint32_t i = 0; i < up.data.via.map.size; i++) {
            msgpack_object_kv *kv = &up.data.via.map.ptr[i];
            if (kv->key.via.str.size == 9 && !memcmp(kv->key.via.str.ptr, "item_keys", 9))
                found = kv->val.type == MSGPACK_OBJECT_ARRAY && kv->val.via.array.size == 9 &&
                        kv->val.via.array.ptr[2].via.str.size == 5;
        }
    CHECK(found, "item_keys in the body");
    msgpack_unpacked_destroy(&up);
    free(img);

    /* What fr_model_set_item_keys refuses, leaving the keys it had. */
    const char *bad0[9] = {"x", "a", "b", "c", "d", "e", "f", "g", "h"};
    const char *bad1[9] = {"", "a", "", "c", "d", "e", "f", "g", "h"};
    const char *bad2[9] = {"", "a", NULL, "c", "d", "e", "f", "g", "h"};
    char too_long[FR_MODEL_MAX_KEY + 2];
    memset(too_long, 'k', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = 0;
    const char *bad3[9] = {"", too_long, "b", "c", "d", "e", "f", "g", "h"};
    CHECK(fr_model_set_item_keys(&a, bad0, &err) == FR_EINVAL && strstr(err.msg, "row 0"),
          "row 0: %s", err.msg);
    CHECK(fr_model_set_item_keys(&a, bad1, &err) == FR_EINVAL && strstr(err.msg, "empty"),
          "empty: %s", err.msg);
    CHECK(fr_model_set_item_keys(&a, bad2, &err) == FR_EINVAL && strstr(err.msg, "missing"),
          "missing: %s", err.msg);
    CHECK(fr_model_set_item_keys(&a, bad3, &err) == FR_EINVAL && strstr(err.msg, "too long"),
          "too long: %s", err.msg);
    CHECK(same_keys(&a, test_keys), "keys kept after refusals");
    CHECK(fr_model_set_item_keys(&a, NULL, &err) == FR_OK && !a.item_keys, "keys dropped");
    fr_model_free(&a);
    remove(path);
}

/* A model whose E_id is larger than the 1 MiB staging buffer, so that saving and
 * loading pass it in several pieces. */
static void test_round_trip_large(void)
{
    const fr_model_config cfg = {5000, 300, 4, 64, 8};
    fr_model a, b;
    fr_err err = {{0}};
    char path[128];
    path_in(path, sizeof path, "large.frm");
    if (make_model_cfg(&a, &cfg, 21) != 0) {
        CHECK(0, "make_model");
        return;
    }
    float *mm = calloc(a.n, sizeof(float));
    for (int t = 0; t < FR_NPARAMS; t++)
        for (size_t i = a.p[t].offset; i < a.p[t].offset + a.p[t].size; i++)
            mm[i] = (float)i;
    a.be->upload(a.adam_m, mm, a.n * sizeof(float));
    a.be->upload(a.adam_v, mm, a.n * sizeof(float));
    free(mm);
    CHECK(a.p[FR_P_E_ID].size * 4 > ((size_t)1 << 20), "E_id spans several pieces");
    CHECK(fr_modelfile_save(&a, path, FR_MODELFILE_OPTIMIZER, &err) == FR_OK, "save: %s",
          err.msg);
    CHECK(fr_modelfile_load(&b, fr_backend_cpu(), path, &err) == FR_OK, "load: %s", err.msg);
    CHECK(b.be && same_model(&a, &b, 1), "large round trip");
    fr_model_free(&b);
    fr_model_free(&a);
    remove(path);
}

/* Damaged copies of a good file. */
static void test_damaged_files(void)
{
    fr_model a;
    fr_err err = {{0}};
    char good[128], bad[128];
    path_in(good, sizeof good, "good.frm");
    path_in(bad, sizeof bad, "bad.frm");
    if (make_model(&a, 11) != 0 || fr_modelfile_save(&a, good, 0, &err) != FR_OK) {
        CHECK(0, "setup: %s", err.msg);
        return;
    }
    fr_model_free(&a);
    size_t len = 0;
    uint8_t *img = read_all(good, &len);

    /* Truncated inside the magic, the header and the body. */
    size_t cuts[] = {0, 5, 10, 27, 28, 40, len / 2, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_all(bad, img, cuts[i]);
        REFUSE(bad, FR_EFORMAT, "truncated", NULL);
    }
    write_all(bad, img, len / 2);
    char found[64];
    snprintf(found, sizeof found, "expected %zu bytes, found %zu", len, len / 2);
    REFUSE(bad, FR_EFORMAT, found, NULL);

    uint8_t *copy = malloc(len + 1);
    memcpy(copy, img, len);
    copy[28 + (len - 28) / 2] ^= 0x01;
    write_all(bad, copy, len);
    REFUSE(bad, FR_ECHECKSUM, "checksum", NULL);

    memcpy(copy, img, len);
    copy[0] = 'X';
    write_all(bad, copy, len);
    REFUSE(bad, FR_EFORMAT, "not a fedrecall model file", NULL);
    write_all(bad, "{\"a\": 1}\n", 9);
    REFUSE(bad, FR_EFORMAT, "not a fedrecall model file", NULL);

    memcpy(copy, img, len);
    copy[8] = 3;
    write_all(bad, copy, len);
    REFUSE(bad, FR_EVERSION, "format version 3, this build reads 1 to 2", NULL);
    copy[8] = 0;
    write_all(bad, copy, len);
    REFUSE(bad, FR_EVERSION, "format version 0, this build reads 1 to 2", NULL);

    memcpy(copy, img, len);
    copy[12] = 1;
    write_all(bad, copy, len);
    REFUSE(bad, FR_EVERSION, "flags", NULL);

    memcpy(copy, img, len);
    copy[len] = 0;
    write_all(bad, copy, len + 1);
    REFUSE(bad, FR_EFORMAT, "1 bytes follow the body", NULL);

    /* A body length far past the file: refused before anything is allocated. */
    memcpy(copy, img, len);
    memset(copy + 16, 0xff, 8);
    write_all(bad, copy, len);
    REFUSE(bad, FR_EFORMAT, "truncated", NULL);

    char missing[128];
    path_in(missing, sizeof missing, "missing.frm");
    REFUSE(missing, FR_EIO, "No such file", NULL);
    REFUSE(tmpdir, FR_EIO, "not a regular file", NULL);
    free(copy);
    free(img);
}

/* ---- bodies written by hand -------------------------------------------------------- */

enum {
    M_NONE, M_SHAPE, M_NAME, M_DATA_SHORT, M_NO_STEP, M_EXTRA_KEY, M_DUP_KEY, M_CONFIG_TYPE,
    M_CONFIG_RANGE, M_FORMAT, M_TOKEN, M_IDS_LEN, M_TRAILING, M_CUT, M_ONE_MOMENT,
    M_MOMENT_LEN, M_NTENSORS, M_NMUT
};

static void pack_s(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void pack_le(msgpack_packer *pk, const void *src, size_t count, int width)
{
    const uint8_t *s = src;
    msgpack_pack_bin(pk, count * (size_t)width);
    for (size_t i = 0; i < count; i++) {
        uint64_t v = 0;
        uint8_t b[8];
        memcpy(&v, s + i * (size_t)width, (size_t)width); /* low bytes: little-endian host */
        for (int k = 0; k < width; k++)
            b[k] = (uint8_t)(v >> (8 * k));
        msgpack_pack_bin_body(pk, b, (size_t)width);
    }
}

/* What craft_body and write_framed put in besides the mutation: the format version
 * (header and body) and, when craft_keys is set, an item_keys array of craft_nkeys
 * strings given with their lengths (so that one may hold a NUL). */
typedef struct craft_key {
    const char *s;
    size_t n;
} craft_key;
static int craft_version = 1;
static const craft_key *craft_keys;
static size_t craft_nkeys;

/* The body of model m, as the format describes it, with one mutation. */
static void craft_body(msgpack_sbuffer *sb, const fr_model *m, int mut)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    const fr_model_config *c = &m->cfg;
    int moments = mut == M_ONE_MOMENT || mut == M_MOMENT_LEN;
    msgpack_pack_map(&pk, 8 - (mut == M_NO_STEP) + (mut == M_EXTRA_KEY) + (mut == M_DUP_KEY) +
                              moments + (mut == M_MOMENT_LEN) + (craft_keys != NULL));
    /* Keys out of the writer's order, on purpose. */
    pack_s(&pk, "meta");
    msgpack_pack_map(&pk, 2);
    pack_s(&pk, "producer");
    pack_s(&pk, "hand-written test body");
    pack_s(&pk, "note");
    pack_s(&pk, "caf\xc3\xa9");
    pack_s(&pk, "version");
    msgpack_pack_int(&pk, craft_version);
    pack_s(&pk, "format");
    pack_s(&pk, mut == M_FORMAT ? "other-model" : "fedrecall-model");
    if (mut == M_DUP_KEY) {
        pack_s(&pk, "version");
        msgpack_pack_int(&pk, 1);
    }
    pack_s(&pk, "config");
    msgpack_pack_map(&pk, 5);
    pack_s(&pk, "dim");
    if (mut == M_CONFIG_TYPE)
        pack_s(&pk, "5");
    else
        msgpack_pack_int(&pk, c->dim);
    pack_s(&pk, "filters");
    msgpack_pack_int(&pk, mut == M_CONFIG_RANGE ? 0 : c->filters);
    pack_s(&pk, "num_items");
    msgpack_pack_int(&pk, c->num_items);
    pack_s(&pk, "token_vocab");
    msgpack_pack_int(&pk, c->token_vocab);
    pack_s(&pk, "num_tokens");
    msgpack_pack_int(&pk, c->num_tokens);
    if (mut != M_NO_STEP) {
        pack_s(&pk, "adam_step");
        msgpack_pack_int64(&pk, m->adam_step);
    }
    if (mut == M_EXTRA_KEY) {
        pack_s(&pk, "extra");
        msgpack_pack_nil(&pk);
    }
    size_t ntok = (size_t)c->num_items * (size_t)c->num_tokens;
    int32_t *tok = malloc(ntok * 4);
    memcpy(tok, m->item_tokens, ntok * 4);
    if (mut == M_TOKEN)
        tok[ntok - 1] = c->token_vocab;
    pack_s(&pk, "item_tokens");
    pack_le(&pk, tok, ntok, 4);
    free(tok);
    if (craft_keys) {
        pack_s(&pk, "item_keys");
        msgpack_pack_array(&pk, craft_nkeys);
        for (size_t i = 0; i < craft_nkeys; i++)
            msgpack_pack_str_with_body(&pk, craft_keys[i].s, craft_keys[i].n);
    }
    pack_s(&pk, "item_ids");
    pack_le(&pk, m->item_ids, (size_t)c->num_items - (mut == M_IDS_LEN), 8);
    float *h = host_copy(m, m->params);
    pack_s(&pk, "tensors");
    msgpack_pack_array(&pk, FR_NPARAMS - (mut == M_NTENSORS));
    for (int i = 0; i < FR_NPARAMS - (mut == M_NTENSORS); i++) {
        const fr_param *p = &m->p[i];
        msgpack_pack_map(&pk, 3);
        pack_s(&pk, "data"); /* keys out of order here too */
        pack_le(&pk, h + p->offset, p->size - (mut == M_DATA_SHORT && i == FR_P_B_PROJ), 4);
        pack_s(&pk, "shape");
        msgpack_pack_array(&pk, (size_t)p->ndim);
        for (int k = 0; k < p->ndim; k++)
            msgpack_pack_int(&pk, p->shape[k] + (mut == M_SHAPE && i == FR_P_CONV_W && k == 2));
        pack_s(&pk, "name");
        pack_s(&pk, mut == M_NAME && i == FR_P_CONV_B ? "conv_bias" : p->name);
    }
    size_t total = 0;
    for (int i = 0; i < FR_NPARAMS; i++)
        total += m->p[i].size;
    for (int k = 0; k < moments + (mut == M_MOMENT_LEN); k++) {
        pack_s(&pk, k ? "adam_v" : "adam_m");
        pack_le(&pk, h, total - (k == 1), 4);
    }
    free(h);
    if (mut == M_TRAILING)
        msgpack_pack_nil(&pk);
}

static void write_framed(const char *path, const void *body, size_t len)
{
    uint8_t hdr[28];
    uint32_t crc = fr_modelfile_crc32(0, body, len);
    memcpy(hdr, "FRMODEL\n", 8);
    for (int i = 0; i < 4; i++) {
        hdr[8 + i] = (uint8_t)((unsigned)craft_version >> (8 * i));
        hdr[12 + i] = 0;
        hdr[24 + i] = (uint8_t)(crc >> (8 * i));
    }
    for (int i = 0; i < 8; i++)
        hdr[16 + i] = (uint8_t)((uint64_t)len >> (8 * i));
    uint8_t *img = malloc(28 + len);
    memcpy(img, hdr, 28);
    memcpy(img + 28, body, len);
    write_all(path, img, 28 + len);
    free(img);
}

static void test_hand_written_bodies(void)
{
    static const struct {
        int mut;
        fr_status st;
        const char *a, *b;
    } cases[] = {
        {M_SHAPE, FR_EFORMAT, "tensor conv_w has shape (6, 5, 4)", "expected (6, 5, 3)"},
        {M_NAME, FR_EFORMAT, "tensors[3] is \"conv_bias\"", "expected \"conv_b\""},
        {M_DATA_SHORT, FR_EFORMAT, "tensor b_proj has 16 bytes of data", "expected 20"},
        {M_NO_STEP, FR_EFORMAT, "missing key \"adam_step\"", NULL},
        {M_EXTRA_KEY, FR_EFORMAT, "unknown key \"extra\"", NULL},
        {M_DUP_KEY, FR_EFORMAT, "key \"version\" appears twice", NULL},
        {M_CONFIG_TYPE, FR_EFORMAT, "config.dim: expected integer, found string", NULL},
        {M_CONFIG_RANGE, FR_EFORMAT, "config: filters 0 out of range", NULL},
        {M_FORMAT, FR_EFORMAT, "format is \"other-model\"", "expected \"fedrecall-model\""},
        {M_TOKEN, FR_EFORMAT, "item 8 has token row 13", NULL},
        {M_IDS_LEN, FR_EFORMAT, "item_ids has 64 bytes, expected 72", NULL},
        {M_TRAILING, FR_EFORMAT, "1 bytes follow the body's map", NULL},
        {M_CUT, FR_EFORMAT, "body ends inside", NULL},
        {M_ONE_MOMENT, FR_EFORMAT, "adam_m without adam_v", NULL},
        {M_MOMENT_LEN, FR_EFORMAT, "adam_m and adam_v have", NULL},
        {M_NTENSORS, FR_EFORMAT, "9 tensors, expected 10", NULL},
    };
    fr_model a, b;
    fr_err err = {{0}};
    char path[128];
    path_in(path, sizeof path, "crafted.frm");
    if (make_model(&a, 3) != 0) {
        CHECK(0, "make_model");
        return;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    craft_body(&sb, &a, M_NONE);
    write_framed(path, sb.data, sb.size);
    CHECK(fr_modelfile_load(&b, fr_backend_cpu(), path, &err) == FR_OK,
          "the hand-written body loads: %s", err.msg);
    CHECK(b.be && same_model(&a, &b, 0), "hand-written body gives the model");
    fr_model_free(&b);
    msgpack_sbuffer_destroy(&sb);

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        msgpack_sbuffer_init(&sb);
        craft_body(&sb, &a, cases[i].mut == M_CUT ? M_NONE : cases[i].mut);
        /* M_CUT: a body cut inside its tensors, framed with a matching length and CRC. */
        write_framed(path, sb.data, cases[i].mut == M_CUT ? sb.size - 30 : sb.size);
        REFUSE(path, cases[i].st, cases[i].a, cases[i].b);
        msgpack_sbuffer_destroy(&sb);
    }

    /* Counts far beyond the schema are refused before they are walked. */
    uint8_t huge_map[] = {0xdf, 0xff, 0xff, 0xff, 0xff};
    write_framed(path, huge_map, sizeof huge_map);
    REFUSE(path, FR_EFORMAT, "body has 4294967295 keys", NULL);
    uint8_t not_map[] = {0xc1};
    write_framed(path, not_map, sizeof not_map);
    REFUSE(path, FR_EFORMAT, "starts no msgpack value", NULL);
    write_framed(path, "", 0);
    REFUSE(path, FR_EFORMAT, "body ends inside body", NULL);
    fr_model_free(&a);
}

/* Bodies written by hand: version 1 and 2, with and without item_keys, and every way
 * item_keys can be wrong. */
static void test_hand_written_keys(void)
{
    static const struct {
        int version, nkeys, bad; /* bad: which key is replaced by what */
        fr_status st;
        const char *msg;
    } cases[] = {
        {2, 9, 0, FR_OK, NULL},
        {2, 0, -1, FR_OK, NULL}, /* version 2 without item_keys */
        {1, 0, -1, FR_OK, NULL}, /* a version 1 file, as written before version 2 */
        {1, 9, 0, FR_EFORMAT, "item_keys in a version 1 file"},
        {2, 8, 0, FR_EFORMAT, "item_keys has 8 keys, expected 9"},
        {2, 10, 0, FR_EFORMAT, "item_keys has 10 keys, expected 9"},
        {2, 9, 1, FR_EFORMAT, "item_keys[3] is holding a NUL byte"},
        {2, 9, 2, FR_EFORMAT, "item_keys[0] is not empty"},
        {2, 9, 3, FR_EFORMAT, "item_keys[2] is empty"},
        {2, 9, 4, FR_EFORMAT, "item_keys[1] is longer than 1024 bytes"},
    };
    fr_model a, b;
    fr_err err = {{0}};
    char path[128], big[FR_MODEL_MAX_KEY + 1];
    craft_key keys[10];
    path_in(path, sizeof path, "crafted_keys.frm");
    memset(big, 'b', sizeof big);
    if (make_model(&a, 4) != 0) {
        CHECK(0, "make_model");
        return;
    }
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        for (int k = 0; k < 9; k++)
            keys[k] = (craft_key){test_keys[k], strlen(test_keys[k])};
        keys[9] = (craft_key){"extra", 5};
        if (cases[i].bad == 1)
            keys[3] = (craft_key){"a\0b", 3};
        else if (cases[i].bad == 2)
            keys[0] = (craft_key){"x", 1};
        else if (cases[i].bad == 3)
            keys[2] = (craft_key){"", 0};
        else if (cases[i].bad == 4)
            keys[1] = (craft_key){big, sizeof big};
        craft_version = cases[i].version;
        craft_keys = cases[i].bad < 0 ? NULL : keys;
        craft_nkeys = (size_t)cases[i].nkeys;
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        craft_body(&sb, &a, M_NONE);
        write_framed(path, sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
        if (cases[i].st == FR_OK) {
            fr_status st = fr_modelfile_load(&b, fr_backend_cpu(), path, &err);
            CHECK(st == FR_OK && same_model(&a, &b, 0) &&
                  (cases[i].bad < 0 ? !b.item_keys : same_keys(&b, test_keys)),
                  "case %zu loads: %s", i, err.msg);
            fr_model_free(&b);
        } else {
            REFUSE(path, cases[i].st, cases[i].msg, NULL);
        }
    }
    /* a version 2 header over a version 1 body */
    craft_version = 1;
    craft_keys = NULL;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    craft_body(&sb, &a, M_NONE);
    craft_version = 2;
    write_framed(path, sb.data, sb.size);
    REFUSE(path, FR_EFORMAT, "body version 1 differs from the header's 2", NULL);
    msgpack_sbuffer_destroy(&sb);
    craft_version = 1;
    fr_model_free(&a);
}

/* Every single-byte change of a body (its CRC recomputed, so the parser sees it) and
 * every cut of it either loads or is refused with a message; never a crash, a leak or
 * a read out of bounds (run under the sanitizers). */
static void mutate_model(int keyed)
{
    fr_model a, b;
    fr_err err = {{0}};
    char path[128];
    path_in(path, sizeof path, "mutate.frm");
    if (make_model(&a, 9) != 0 ||
        (keyed && fr_model_set_item_keys(&a, test_keys, &err) != FR_OK) ||
        fr_modelfile_save(&a, path, FR_MODELFILE_OPTIMIZER, &err)) {
        CHECK(0, "setup: %s", err.msg);
        return;
    }
    fr_model_free(&a);
    size_t len = 0;
    uint8_t *img = read_all(path, &len);
    const uint8_t vals[3] = {0x00, 0xff, 0x80};
    int loaded = 0, refused = 0, bad = 0;
    for (size_t at = 28; at < len; at++)
        for (int k = 0; k < 4; k++) {
            uint8_t keep = img[at];
            img[at] = k < 3 ? vals[k] : (uint8_t)(keep ^ 0x01);
            uint32_t crc = fr_modelfile_crc32(0, img + 28, len - 28);
            for (int i = 0; i < 4; i++)
                img[24 + i] = (uint8_t)(crc >> (8 * i));
            err.msg[0] = 0;
            if (fr_modelfile_decode(&b, fr_backend_cpu(), img, len, "m", &err) == FR_OK)
                loaded++;
            else if (strncmp(err.msg, "m: ", 3) == 0 && !b.be)
                refused++;
            else
                bad++;
            fr_model_free(&b);
            img[at] = keep;
        }
    /* Cuts, framed with a matching length and CRC: a cut body is never complete. */
    for (size_t cut = 28; cut < len; cut++) {
        uint8_t hdr[28];
        memcpy(hdr, img, 28);
        uint32_t crc = fr_modelfile_crc32(0, img + 28, cut - 28);
        for (int i = 0; i < 8; i++)
            img[16 + i] = (uint8_t)((uint64_t)(cut - 28) >> (8 * i));
        for (int i = 0; i < 4; i++)
            img[24 + i] = (uint8_t)(crc >> (8 * i));
        fr_status st = fr_modelfile_decode(&b, fr_backend_cpu(), img, cut, "m", &err);
        if (st != FR_EFORMAT)
            bad++;
        fr_model_free(&b);
        memcpy(img, hdr, 28);
    }
    CHECK(bad == 0, "%d mutations neither loaded nor were refused cleanly", bad);
    CHECK(refused > 0 && loaded > 0, "loaded %d, refused %d", loaded, refused);
    free(img);
}

/* A 1.4 KB file whose config claims a 16.7M-row token table (found by fuzzing): it must
 * be refused from the tensors' sizes before the model allocates gigabytes for it. The
 * kept input is the fuzz target's: an option byte, then the image, whose frame the
 * target fixes up (length and CRC) as done here. */
static void test_claimed_size_refused(void)
{
    FILE *f = fopen("tests/fuzz/crashes/fuzz_modelfile-oom-token-vocab", "rb");
    CHECK(f, "the kept fuzz input is missing");
    if (!f)
        return;
    uint8_t buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    CHECK(n > 1 + FR_MODELFILE_HEADER_BYTES, "short input");
    uint8_t *img = buf + 1;
    size_t len = n - 1, body = len - FR_MODELFILE_HEADER_BYTES;
    uint32_t crc = fr_modelfile_crc32(0, img + FR_MODELFILE_HEADER_BYTES, body);
    for (int i = 0; i < 8; i++)
        img[16 + i] = (uint8_t)((uint64_t)body >> (8 * i));
    for (int i = 0; i < 4; i++)
        img[24 + i] = (uint8_t)(crc >> (8 * i));
    fr_model m;
    fr_err err = {{0}};
    /* With address space capped, a decoder that allocated first would fail with
     * "cannot allocate" instead (sanitizer builds reserve vast shadow memory: no cap) */
#ifndef __SANITIZE_ADDRESS__
    struct rlimit old, cap;
    int capped = getrlimit(RLIMIT_AS, &old) == 0;
    cap = old;
    cap.rlim_cur = (rlim_t)4 << 30;
    capped = capped && (old.rlim_cur == RLIM_INFINITY || old.rlim_cur > cap.rlim_cur) &&
             setrlimit(RLIMIT_AS, &cap) == 0;
#endif
    fr_status st = fr_modelfile_decode(&m, fr_backend_cpu(), img, len, "claimed", &err);
#ifndef __SANITIZE_ADDRESS__
    if (capped)
        setrlimit(RLIMIT_AS, &old);
#endif
    CHECK(st == FR_EFORMAT && strstr(err.msg, "bytes of data, expected"),
          "a vast claimed vocabulary: %s", err.msg);
}

static void test_mutated_bodies(void)
{
    mutate_model(0);
    mutate_model(1); /* item_keys too */
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fr_modelfile_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    fr_rng_seed(&rng, 42);
    memset(long_key, 'k', FR_MODEL_MAX_KEY);
    RUN(test_crc32);
    RUN(test_round_trip);
    RUN(test_round_trip_large);
    RUN(test_round_trip_keys);
    RUN(test_hand_written_keys);
    RUN(test_damaged_files);
    RUN(test_hand_written_bodies);
    RUN(test_mutated_bodies);
    RUN(test_claimed_size_refused);
    fixture_rm(tmpdir);
    return fr_test_end();
}
