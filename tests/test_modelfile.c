/* Model files: bit-exact round trips (with and without Adam's moments and item keys,
 * small and large), and refusal with a clear message of damaged or missing files. The
 * bodies written by hand are in test_modelfile_crafted.c. */
#include "fr_test_modelfile.h"

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
    CHECK(fr_modelfile_save(&a, path, FR_MODELFILE_OPTIMIZER, &err) == FR_OK, "save: %s", err.msg);
    CHECK(fr_modelfile_load(&b, fr_backend_cpu(), path, &err) == FR_OK, "load: %s", err.msg);
    CHECK(b.be && same_model(&a, &b, 1), "round trip with moments");
    fr_model_free(&b);

    /* The in-memory reader agrees with the file reader. */
    size_t len = 0;
    uint8_t *img = read_all(path, &len);
    CHECK(fr_modelfile_decode(&b, fr_backend_cpu(), img, len, "image", &err) == FR_OK, "decode: %s",
          err.msg);
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
    CHECK(fr_modelfile_load(&b, fr_backend_cpu(), path, &err) == FR_OK && !b.item_keys, "load: %s",
          err.msg);
    fr_model_free(&b);

    CHECK(fr_model_set_item_keys(&a, test_keys, &err) == FR_OK, "set keys: %s", err.msg);
    CHECK(same_keys(&a, test_keys) && a.item_keys[0][0] == 0, "keys copied");
    CHECK(fr_modelfile_save(&a, path, FR_MODELFILE_OPTIMIZER, &err) == FR_OK, "save: %s", err.msg);
    CHECK(fr_modelfile_load(&b, fr_backend_cpu(), path, &err) == FR_OK, "load: %s", err.msg);
    CHECK(b.be && same_model(&a, &b, 1) && same_keys(&b, test_keys), "keys round trip");
    fr_model_free(&b);
    /* msgpack-c sees item_keys as an array of 9 strings */
    img = read_all(path, &len);
    msgpack_unpacked up;
    size_t off = 0;
    msgpack_unpacked_init(&up);
    int found = 0;
    if (msgpack_unpack_next(&up, (const char *)img + 28, len - 28, &off) == MSGPACK_UNPACK_SUCCESS)
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
    CHECK(fr_modelfile_save(&a, path, FR_MODELFILE_OPTIMIZER, &err) == FR_OK, "save: %s", err.msg);
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
    copy[8] = 5;
    write_all(bad, copy, len);
    REFUSE(bad, FR_EVERSION, "format version 5, this build reads 1 to 4", NULL);
    copy[8] = 0;
    write_all(bad, copy, len);
    REFUSE(bad, FR_EVERSION, "format version 0, this build reads 1 to 4", NULL);

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
int main(void)
{
    if (!modelfile_setup())
        return 1;
    RUN(test_crc32);
    RUN(test_round_trip);
    RUN(test_round_trip_large);
    RUN(test_round_trip_keys);
    RUN(test_damaged_files);
    fixture_rm(tmpdir);
    return fr_test_end();
}
