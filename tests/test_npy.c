/* .npy export: a model's parameters and item ids written as a folder of .npy files and
 * parsed back header by header and byte by byte, and the generic writer's scalar case
 * and refusals of inconsistent arguments. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fr_test.h"
#include "fr_test_files.h"
#include "fr_test_fixture.h"
#include "backend/fr_backend.h"
#include "nn/fr_model.h"
#include "nn/fr_npy.h"
#include "util/fr_rng.h"

static char tmpdir[64];
static fr_rng rng;

/* V, Vt, T, d, F: sizes that leave padding between the views of the flat buffer,
 * which the export must skip. */
static const fr_model_config test_cfg = {9, 13, 3, 5, 6};

static int make_model(fr_model *m, uint64_t seed)
{
    const fr_model_config *c = &test_cfg;
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
    }
    free(tok);
    free(ids);
    return rc;
}

static float *host_copy(const fr_model *m, const float *dev)
{
    float *h = malloc(m->n * sizeof(float));
    m->be->download(h, dev, m->n * sizeof(float));
    return h;
}

/* Parses an .npy file back; checks its framing and returns its header text and data. */
static int npy_read(const char *path, char *hdr, size_t hdr_len, uint8_t **data, size_t *data_len)
{
    size_t len = 0;
    uint8_t *img = read_all(path, &len);
    int ok = img && len >= 10 && memcmp(img, "\x93NUMPY\x01\x00", 8) == 0;
    size_t hl = ok ? (size_t)img[8] | (size_t)img[9] << 8 : 0;
    ok = ok && (10 + hl) % 64 == 0 && 10 + hl <= len && hl < hdr_len && img[9 + hl] == '\n';
    if (ok) {
        memcpy(hdr, img + 10, hl);
        hdr[hl] = 0;
        *data_len = len - 10 - hl;
        *data = malloc(*data_len + 1);
        memcpy(*data, img + 10 + hl, *data_len);
    }
    free(img);
    return ok;
}

static void check_npy(const char *path, const char *descr, const char *shape, const void *want,
                      size_t want_len)
{
    char hdr[1024], expect[256];
    uint8_t *data = NULL;
    size_t len = 0;
    int ok = npy_read(path, hdr, sizeof hdr, &data, &len);
    CHECK(ok, "%s: framing", path);
    if (!ok)
        return;
    snprintf(expect, sizeof expect, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr,
             shape);
    CHECK(strncmp(hdr, expect, strlen(expect)) == 0, "%s: header %s, want %s", path, hdr, expect);
    CHECK(strspn(hdr + strlen(expect), " \n") == strlen(hdr + strlen(expect)), "%s: padding", path);
    CHECK(len == want_len && memcmp(data, want, len) == 0, "%s: data (%zu bytes, want %zu)", path,
          len, want_len);
    free(data);
}

static void test_npy_export(void)
{
    fr_model a;
    fr_err err = {{0}};
    char dir[128], path[256], shape[64];
    snprintf(dir, sizeof dir, "%s/npy/nested", tmpdir);
    if (make_model(&a, 5) != 0) {
        CHECK(0, "make_model");
        return;
    }
    CHECK(fr_npy_export(&a, dir, &err) == FR_OK, "export: %s", err.msg);
    CHECK(fr_npy_export(&a, dir, &err) == FR_OK, "export over an existing folder: %s", err.msg);
    float *h = host_copy(&a, a.params);
    for (int i = 0; i < FR_NPARAMS; i++) {
        const fr_param *p = &a.p[i];
        if (p->ndim == 1)
            snprintf(shape, sizeof shape, "(%d,)", p->shape[0]);
        else if (p->ndim == 2)
            snprintf(shape, sizeof shape, "(%d, %d)", p->shape[0], p->shape[1]);
        else
            snprintf(shape, sizeof shape, "(%d, %d, %d)", p->shape[0], p->shape[1], p->shape[2]);
        snprintf(path, sizeof path, "%s/%s.npy", dir, p->name);
        check_npy(path, "<f4", shape, h + p->offset, p->size * 4);
    }
    /* The shapes once more as numbers rather than from the model, and the ids without
     * the padding row 0. */
    snprintf(path, sizeof path, "%s/E_id.npy", dir);
    check_npy(path, "<f4", "(9, 5)", h + a.p[FR_P_E_ID].offset, 9 * 5 * 4);
    snprintf(path, sizeof path, "%s/item_ids.npy", dir);
    check_npy(path, "<i8", "(8,)", a.item_ids + 1, 8 * 8);
    free(h);

    snprintf(path, sizeof path, "%s/E_id.npy/x", dir);
    CHECK(fr_npy_export(&a, path, &err) == FR_EIO && strstr(err.msg, path),
          "folder under a file: %s", err.msg);
    fr_model_free(&a);
}

/* String ids go to item_keys.txt, one per line, and replace an earlier item_ids.npy;
 * exporting integer ids again brings item_ids.npy back and removes the keys. */
static void test_npy_export_keys(void)
{
    fr_model a;
    fr_err err = {{0}};
    char dir[128], ids[256], keys[256];
    const char *k[9] = {"", "i-a", "\xc3\xa9t\xc3\xa9", "b c", "d", "e", "f", "g", "h"};
    snprintf(dir, sizeof dir, "%s/npy_keys", tmpdir);
    snprintf(ids, sizeof ids, "%s/item_ids.npy", dir);
    snprintf(keys, sizeof keys, "%s/item_keys.txt", dir);
    if (make_model(&a, 6) != 0) {
        CHECK(0, "make_model");
        return;
    }
    CHECK(fr_npy_export(&a, dir, &err) == FR_OK && file_exists(ids), "numeric: %s", err.msg);
    CHECK(fr_model_set_item_keys(&a, k, &err) == FR_OK, "keys: %s", err.msg);
    CHECK(fr_npy_export(&a, dir, &err) == FR_OK, "keys export: %s", err.msg);
    size_t len = 0;
    uint8_t *text = read_all(keys, &len);
    const char want[] = "i-a\n\xc3\xa9t\xc3\xa9\nb c\nd\ne\nf\ng\nh\n";
    CHECK(text && len == sizeof want - 1 && !memcmp(text, want, len), "item_keys.txt");
    CHECK(!file_exists(ids), "the stale item_ids.npy is gone");
    free(text);
    const char *nl[9] = {"", "a", "b\nc", "d", "e", "f", "g", "h", "i"};
    CHECK(fr_model_set_item_keys(&a, nl, &err) == FR_OK, "keys: %s", err.msg);
    CHECK(fr_npy_export(&a, dir, &err) == FR_EINVAL && strstr(err.msg, "line break"),
          "a key with a line break: %s", err.msg);
    CHECK(fr_model_set_item_keys(&a, NULL, &err) == FR_OK, "no keys");
    CHECK(fr_npy_export(&a, dir, &err) == FR_OK && file_exists(ids) && !file_exists(keys),
          "numeric again");
    fr_model_free(&a);
}

/* The generic writer: a scalar, and refusals of inconsistent arguments. */
static void test_npy_write(void)
{
    fr_err err = {{0}};
    char path[256];
    snprintf(path, sizeof path, "%s/scalar.npy", tmpdir);
    double x = 2.5;
    CHECK(fr_npy_write(path, "<f8", NULL, 0, &x, 8, &err) == FR_OK, "scalar: %s", err.msg);
    check_npy(path, "<f8", "()", &x, 8);
    remove(path);
    size_t sh[2] = {2, 3};
    float y[6] = {0};
    CHECK(fr_npy_write(path, "<f4", sh, 2, y, 20, &err) == FR_EINVAL, "bytes mismatch");
    CHECK(fr_npy_write(path, "<f4'", sh, 2, y, 24, &err) == FR_EINVAL, "quote in descr");
    CHECK(fr_npy_write(path, "f4", sh, 2, y, 24, &err) == FR_EINVAL, "no byte order");
    CHECK(!file_exists(path), "nothing written on refusal");
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fr_npy_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    fr_rng_seed(&rng, 42);
    RUN(test_npy_export);
    RUN(test_npy_export_keys);
    RUN(test_npy_write);
    fixture_rm(tmpdir);
    return fr_test_end();
}
