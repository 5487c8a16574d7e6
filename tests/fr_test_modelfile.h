/* What the model-file tests share (test_modelfile.c, test_modelfile_crafted.c): a
 * scratch folder, small random models with padding between their views, a bit-exact
 * comparison of two models, item keys of every kind, and the check of a refused load. */
#ifndef FR_TEST_MODELFILE_H
#define FR_TEST_MODELFILE_H

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

static inline void path_in(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", tmpdir, name);
}

static inline int make_model_cfg(fr_model *m, const fr_model_config *c, uint64_t seed)
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

static inline int make_model(fr_model *m, uint64_t seed)
{
    return make_model_cfg(m, &test_cfg, seed);
}

static inline float *host_copy(const fr_model *m, const float *dev)
{
    float *h = malloc(m->n * sizeof(float));
    m->be->download(h, dev, m->n * sizeof(float));
    return h;
}

/* Everything a file carries, bit for bit (padding between views included: zero). */
static inline int same_model(const fr_model *a, const fr_model *b, int moments)
{
    if (memcmp(&a->cfg, &b->cfg, sizeof a->cfg) != 0 || a->n != b->n ||
        a->adam_step != b->adam_step)
        return 0;
    size_t nt = (size_t)a->cfg.num_items * (size_t)a->cfg.num_tokens;
    int same = memcmp(a->item_ids, b->item_ids, (size_t)a->cfg.num_items * 8) == 0 &&
               memcmp(a->item_tokens, b->item_tokens, nt * 4) == 0;
    const float *bufs[3][2] = {
        {a->params, b->params}, {a->adam_m, b->adam_m}, {a->adam_v, b->adam_v}};
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
static inline void expect_refusal(const char *path, fr_status want, const char *a, const char *b,
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

/* Item keys for test_cfg's 9 rows: UTF-8, spaces, punctuation, the longest allowed. */
static char long_key[FR_MODEL_MAX_KEY + 2];
static const char *test_keys[9] = {
    "", "i-a", "\xc3\xa9t\xc3\xa9", "with space", "a,b|c", "007", "7", long_key, "z"};

static inline int same_keys(const fr_model *a, const char *const *want)
{
    if (!a->item_keys)
        return 0;
    for (int r = 0; r < a->cfg.num_items; r++)
        if (strcmp(a->item_keys[r], want[r]) != 0)
            return 0;
    return 1;
}

/* The scratch folder, the random stream and the long key; 0 when the folder cannot be
 * made. */
static inline inline int modelfile_setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fr_modelfile_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 0;
    }
    fr_rng_seed(&rng, 42);
    memset(long_key, 'k', FR_MODEL_MAX_KEY);
    return 1;
}

#endif
