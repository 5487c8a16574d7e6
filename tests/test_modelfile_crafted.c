/* Model files refused with a clear message when foreign: bodies written by hand with
 * msgpack-c, so that the reader is checked against the format as documented rather than
 * against its own writer, each with one mutation, and sizes claimed past the file. */
#include "fr_test_modelfile.h"

/* ---- bodies written by hand -------------------------------------------------------- */

enum {
    M_NONE,
    M_SHAPE,
    M_NAME,
    M_DATA_SHORT,
    M_NO_STEP,
    M_EXTRA_KEY,
    M_DUP_KEY,
    M_CONFIG_TYPE,
    M_CONFIG_RANGE,
    M_FORMAT,
    M_TOKEN,
    M_IDS_LEN,
    M_TRAILING,
    M_CUT,
    M_ONE_MOMENT,
    M_MOMENT_LEN,
    M_NTENSORS,
    M_NMUT
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
    if (make_model(&a, 9) != 0 || (keyed && fr_model_set_item_keys(&a, test_keys, &err) != FR_OK) ||
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
    if (!modelfile_setup())
        return 1;
    RUN(test_hand_written_keys);
    RUN(test_hand_written_bodies);
    RUN(test_mutated_bodies);
    RUN(test_claimed_size_refused);
    fixture_rm(tmpdir);
    return fr_test_end();
}
