/* Model files, the reading side (format in fr_modelfile.h). A body is read with the
 * fr_mpread cursor rather than msgpack-c's unpacker, because it is untrusted input:
 * the unpacker would build every object of it before anything could be checked, while
 * the cursor allocates nothing and each count is checked here against the schema
 * before it is walked. */
#include "nn/fr_modelfile.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nn/fr_modelfile_int.h"
#include "util/fr_mpread.h"

#define META_MAX 1024 /* most entries in "meta" */

static uint64_t get_le(const uint8_t *src, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)src[i] << (8 * i);
    return v;
}

typedef struct raw_tensor {
    fr_mpread_item name, data;
    int ndim;
    int64_t shape[3];
} raw_tensor;

/* The body's fields, pointing into it; checked against each other once all are read. */
typedef struct raw_body {
    uint32_t version; /* the header's */
    fr_model_config cfg;
    int64_t adam_step;
    fr_mpread_item ids, tokens, adam_m, adam_v;
    raw_tensor t[FR_NPARAMS];
    const uint8_t *keys_at, *end; /* item_keys: its first string, and the body's end */
    uint64_t keys_n;              /* strings in item_keys; keys_at is NULL when there is none */
    size_t keys_bytes;            /* their bytes */
    int has_cat;                  /* a "catalogue" entry was read */
    int64_t cat_version;          /* its version */
    fr_mpread_item retired;       /* its retired flags */
    const uint8_t *reused_at;     /* its reuse records: the first, NULL when none */
    uint64_t reused_n;            /* how many */
} raw_body;

static const char *const body_keys[] = {"format",   "version",     "config",    "adam_step",
                                        "item_ids", "item_tokens", "tensors",   "adam_m",
                                        "adam_v",   "meta",        "item_keys", "catalogue"};
enum {
    K_FORMAT,
    K_VERSION,
    K_CONFIG,
    K_STEP,
    K_IDS,
    K_TOKENS,
    K_TENSORS,
    K_AM,
    K_AV,
    K_META,
    K_KEYS,
    K_CAT,
    K_COUNT
};
static const char *const config_keys[] = {"num_items", "token_vocab", "num_tokens", "dim",
                                          "filters"};
static const char *const tensor_keys[] = {"name", "shape", "data"};

static fr_status read_tensor(fr_mpread *r, int i, raw_tensor *t)
{
    char what[48];
    fr_mpread_item it, sh;
    unsigned seen = 0;
    int k = 0;
    snprintf(what, sizeof what, "tensors[%d]", i);
    fr_status st = fr_mpread_expect(r, &it, FR_MPREAD_MAP, what);
    if (st == FR_OK && it.u != 3)
        st = fr_fail(r->err, FR_EFORMAT, "%s: %s: %llu keys, expected 3", r->name, what,
                     (unsigned long long)it.u);
    for (int e = 0; st == FR_OK && e < 3; e++) {
        if ((st = fr_mpread_key(r, what, tensor_keys, 3, &seen, &k)) != FR_OK)
            break;
        if (k == 0) {
            st = fr_mpread_expect(r, &t->name, FR_MPREAD_STR, what);
        } else if (k == 2) {
            st = fr_mpread_expect(r, &t->data, FR_MPREAD_BIN, what);
        } else if ((st = fr_mpread_expect(r, &sh, FR_MPREAD_ARRAY, what)) == FR_OK) {
            if (sh.u < 1 || sh.u > 3)
                st = fr_fail(r->err, FR_EFORMAT,
                             "%s: %s: shape has %llu dimensions, "
                             "expected 1 to 3",
                             r->name, what, (unsigned long long)sh.u);
            t->ndim = (int)sh.u;
            char sw[64];
            snprintf(sw, sizeof sw, "%s.shape", what);
            for (int d = 0; st == FR_OK && d < t->ndim; d++)
                st = fr_mpread_int(r, sw, 0, INT_MAX, &t->shape[d]);
        }
    }
    return st;
}

/* item_keys: an array of strings, each checked here and counted, so that building the
 * model can copy them without checking again. Its length is checked against the
 * config there, since the keys of a body may come in any order. */
static fr_status read_keys(fr_mpread *r, raw_body *b)
{
    fr_mpread_item it, str;
    fr_status st = FR_OK;
    if (b->version < 2)
        return fr_fail(r->err, FR_EFORMAT,
                       "%s: item_keys in a version %u file (it came with "
                       "version 2)",
                       r->name, b->version);
    if ((st = fr_mpread_expect(r, &it, FR_MPREAD_ARRAY, "item_keys")) != FR_OK)
        return st;
    b->keys_at = r->p;
    b->keys_n = it.u;
    for (uint64_t i = 0; st == FR_OK && i < it.u; i++) {
        if ((st = fr_mpread_expect(r, &str, FR_MPREAD_STR, "item_keys")) != FR_OK)
            break;
        if (str.u > FR_MODEL_MAX_KEY || (i == 0) != (str.u == 0) ||
            memchr(str.ptr, 0, (size_t)str.u))
            st = fr_fail(r->err, FR_EFORMAT, "%s: item_keys[%llu] is %s", r->name,
                         (unsigned long long)i,
                         str.u > FR_MODEL_MAX_KEY   ? "longer than 1024 bytes"
                         : (i == 0) != (str.u == 0) ? (i ? "empty"
                                                         : "not empty (row 0 is "
                                                           "padding)")
                                                    : "holding a NUL byte");
        b->keys_bytes += (size_t)str.u + 1;
    }
    return st;
}

static const char *const cat_keys[] = {"version", "retired", "reused"};

/* catalogue.reused (version 4): arrays of [row, version, old key], each checked here
 * but for the row's bound, which needs the config (checked when the model is built). */
static fr_status read_reused(fr_mpread *r, raw_body *b)
{
    fr_mpread_item it, rec, str;
    int64_t v;
    if (b->version < 4)
        return fr_fail(r->err, FR_EFORMAT,
                       "%s: catalogue.reused in a version %u file (it came with version 4)",
                       r->name, b->version);
    fr_status st = fr_mpread_expect(r, &it, FR_MPREAD_ARRAY, "catalogue.reused");
    /* a record takes at least 4 bytes: a count above the bytes left is a lie */
    if (st == FR_OK && (it.u < 1 || it.u > fr_mpread_left(r) / 4 || it.u > INT32_MAX))
        st = fr_fail(r->err, FR_EFORMAT, "%s: catalogue.reused has %llu records", r->name,
                     (unsigned long long)it.u);
    b->reused_at = r->p;
    b->reused_n = it.u;
    for (uint64_t i = 0; st == FR_OK && i < it.u; i++) {
        if ((st = fr_mpread_expect(r, &rec, FR_MPREAD_ARRAY, "catalogue.reused")) == FR_OK &&
            rec.u != 3)
            st = fr_fail(r->err, FR_EFORMAT, "%s: catalogue.reused[%llu] has %llu fields, not 3",
                         r->name, (unsigned long long)i, (unsigned long long)rec.u);
        if (st == FR_OK)
            st = fr_mpread_int(r, "catalogue.reused.row", 1, INT32_MAX, &v);
        if (st == FR_OK)
            st = fr_mpread_int(r, "catalogue.reused.version", 1, LONG_MAX, &v);
        if (st == FR_OK &&
            (st = fr_mpread_expect(r, &str, FR_MPREAD_STR, "catalogue.reused")) == FR_OK &&
            (str.u < 1 || str.u > FR_MODEL_MAX_KEY || memchr(str.ptr, 0, (size_t)str.u)))
            st = fr_fail(r->err, FR_EFORMAT,
                         "%s: catalogue.reused[%llu] names an empty or too long item, or one "
                         "holding a NUL",
                         r->name, (unsigned long long)i);
    }
    return st;
}

/* catalogue (version 3): the catalogue version and the retired flags, and (version 4)
 * the reuse records; their length is checked against the config when the model is
 * built. */
static fr_status read_catalogue(fr_mpread *r, raw_body *b)
{
    fr_mpread_item it;
    unsigned seen = 0;
    int k = 0;
    if (b->version < 3)
        return fr_fail(r->err, FR_EFORMAT,
                       "%s: catalogue in a version %u file (it came with version 3)", r->name,
                       b->version);
    fr_status st = fr_mpread_expect(r, &it, FR_MPREAD_MAP, "catalogue");
    if (st == FR_OK && it.u != 2 && it.u != 3)
        st = fr_fail(r->err, FR_EFORMAT, "%s: catalogue has %llu keys, expected 2 or 3", r->name,
                     (unsigned long long)it.u);
    for (uint64_t e = 0; st == FR_OK && e < it.u; e++) {
        if ((st = fr_mpread_key(r, "catalogue", cat_keys, 3, &seen, &k)) != FR_OK)
            break;
        if (k == 0)
            st = fr_mpread_int(r, "catalogue.version", 0, LONG_MAX, &b->cat_version);
        else if (k == 1)
            st = fr_mpread_expect(r, &b->retired, FR_MPREAD_BIN, "catalogue.retired");
        else
            st = read_reused(r, b);
    }
    if (st == FR_OK)
        st = fr_mpread_missing(r, "catalogue", cat_keys, 3, seen, 3);
    b->has_cat = 1;
    return st;
}

static fr_status read_body(fr_mpread *r, raw_body *b)
{
    fr_mpread_item it, top;
    unsigned seen = 0, cseen = 0;
    int k = 0;
    int64_t v;
    fr_status st = fr_mpread_expect(r, &top, FR_MPREAD_MAP, "body");
    if (st == FR_OK && top.u > K_COUNT)
        st = fr_fail(r->err, FR_EFORMAT, "%s: body has %llu keys, at most %d are known", r->name,
                     (unsigned long long)top.u, K_COUNT);
    for (uint64_t e = 0; st == FR_OK && e < top.u; e++) {
        if ((st = fr_mpread_key(r, "body", body_keys, K_COUNT, &seen, &k)) != FR_OK)
            break;
        const char *what = body_keys[k];
        switch (k) {
        case K_FORMAT:
            if ((st = fr_mpread_expect(r, &it, FR_MPREAD_STR, what)) == FR_OK &&
                !fr_mpread_str_is(&it, FR_MF_FORMAT_NAME)) {
                char shown[FR_MPREAD_SHOWN];
                fr_mpread_show_str(shown, &it);
                st = fr_fail(r->err, FR_EFORMAT,
                             "%s: format is \"%s\", expected \"" FR_MF_FORMAT_NAME "\"", r->name,
                             shown);
            }
            break;
        case K_VERSION:
            if ((st = fr_mpread_int(r, what, INT64_MIN, INT64_MAX, &v)) == FR_OK &&
                v != (int64_t)b->version)
                st = fr_fail(r->err, FR_EFORMAT,
                             "%s: body version %lld differs from the "
                             "header's %u",
                             r->name, (long long)v, b->version);
            break;
        case K_KEYS: st = read_keys(r, b); break;
        case K_CAT: st = read_catalogue(r, b); break;
        case K_CONFIG:
            st = fr_mpread_expect(r, &it, FR_MPREAD_MAP, what);
            if (st == FR_OK && it.u > 5)
                st = fr_fail(r->err, FR_EFORMAT, "%s: config has %llu keys, expected 5", r->name,
                             (unsigned long long)it.u);
            for (uint64_t c = 0; st == FR_OK && c < it.u; c++) {
                int ci = 0;
                int *dst[5] = {&b->cfg.num_items, &b->cfg.token_vocab, &b->cfg.num_tokens,
                               &b->cfg.dim, &b->cfg.filters};
                char cw[40];
                if ((st = fr_mpread_key(r, what, config_keys, 5, &cseen, &ci)) != FR_OK)
                    break;
                snprintf(cw, sizeof cw, "config.%s", config_keys[ci]);
                if ((st = fr_mpread_int(r, cw, INT_MIN, INT_MAX, &v)) == FR_OK)
                    *dst[ci] = (int)v;
            }
            if (st == FR_OK)
                st = fr_mpread_missing(r, what, config_keys, 5, cseen, 31);
            break;
        case K_STEP: st = fr_mpread_int(r, what, 0, LONG_MAX, &b->adam_step); break;
        case K_IDS:
        case K_TOKENS:
        case K_AM:
        case K_AV: {
            fr_mpread_item *dst[] = {&b->ids, &b->tokens, NULL, &b->adam_m, &b->adam_v};
            st = fr_mpread_expect(r, dst[k - K_IDS], FR_MPREAD_BIN, what);
            break;
        }
        case K_TENSORS:
            if ((st = fr_mpread_expect(r, &it, FR_MPREAD_ARRAY, what)) == FR_OK &&
                it.u != FR_NPARAMS)
                st = fr_fail(r->err, FR_EFORMAT, "%s: tensors: %llu tensors, expected %d", r->name,
                             (unsigned long long)it.u, FR_NPARAMS);
            for (int i = 0; st == FR_OK && i < FR_NPARAMS; i++)
                st = read_tensor(r, i, &b->t[i]);
            break;
        case K_META:
            st = fr_mpread_expect(r, &it, FR_MPREAD_MAP, what);
            if (st == FR_OK && it.u > META_MAX)
                st = fr_fail(r->err, FR_EFORMAT, "%s: meta has %llu entries, at most %d", r->name,
                             (unsigned long long)it.u, META_MAX);
            for (uint64_t c = 0; st == FR_OK && c < 2 * it.u; c++) {
                fr_mpread_item str;
                st = fr_mpread_expect(r, &str, FR_MPREAD_STR, "meta");
            }
            break;
        }
    }
    if (st == FR_OK)
        st = fr_mpread_missing(r, "body", body_keys, K_COUNT, seen, 0x7f);
    if (st == FR_OK && (seen >> K_AM & 1) != (seen >> K_AV & 1))
        st = fr_fail(r->err, FR_EFORMAT, "%s: %s without %s (the moments come as a pair)", r->name,
                     (seen >> K_AM & 1) ? "adam_m" : "adam_v",
                     (seen >> K_AM & 1) ? "adam_v" : "adam_m");
    if (st == FR_OK && fr_mpread_left(r) != 0)
        st = fr_fail(r->err, FR_EFORMAT, "%s: %zu bytes follow the body's map", r->name,
                     fr_mpread_left(r));
    return st;
}

static void shape_str(char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t at = (size_t)snprintf(buf, len, "(");
    for (int d = 0; d < ndim && at < len; d++)
        at += (size_t)snprintf(buf + at, len - at, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (at < len)
        snprintf(buf + at, len - at, ")");
}

/* Config errors of a file are malformed input rather than a caller's bad argument. */
static fr_status as_format(fr_status st)
{
    return st == FR_EINVAL ? FR_EFORMAT : st;
}

/* count little-endian floats from a body into backend memory, through the staging
 * buffer of stage_len bytes. */
static void upload_le(const fr_backend *be, float *dst, const uint8_t *src, size_t count,
                      float *stage, size_t stage_len)
{
    size_t per = stage_len / sizeof(float);
    for (size_t i = 0; i < count; i += per) {
        size_t k = count - i < per ? count - i : per;
        memcpy(stage, src + i * 4, k * 4);
        fr_mf_le_in_place((uint8_t *)stage, k, 4);
        be->upload(dst + i, stage, k * sizeof(float));
    }
}

/* m->item_keys from the strings that read_keys checked: the pointers, then the
 * strings, in one block. */
static fr_status copy_keys(fr_model *m, const raw_body *b, const char *name, fr_err *err)
{
    size_t V = (size_t)m->cfg.num_items;
    fr_mpread r;
    fr_mpread_item str;
    if (b->keys_n != V)
        return fr_fail(err, FR_EFORMAT, "%s: item_keys has %llu keys, expected %zu", name,
                       (unsigned long long)b->keys_n, V);
    char **block = malloc(V * sizeof(char *) + b->keys_bytes);
    if (!block)
        return fr_fail(err, FR_ENOMEM, "%s: cannot allocate the item keys", name);
    char *text = (char *)(block + V);
    fr_mpread_init(&r, b->keys_at, (size_t)(b->end - b->keys_at), name, err);
    for (size_t i = 0; i < V; i++) {
        /* read_keys walked these strings without fault: this walk cannot fail. */
        fr_status st = fr_mpread_expect(&r, &str, FR_MPREAD_STR, "item_keys");
        FR_ASSERT(st == FR_OK);
        memcpy(text, str.ptr, (size_t)str.u);
        text[str.u] = '\0';
        block[i] = text;
        text += str.u + 1;
    }
    m->item_keys = block;
    return FR_OK;
}

/* The reuse records that read_reused checked, each row now against V and each
 * version against the catalogue's. */
static fr_status copy_reused(fr_model *m, const raw_body *b, const char *name, fr_err *err)
{
    fr_mpread r;
    fr_mpread_item rec, str;
    int64_t row = 0, ver = 0;
    if (!(m->item_reused = calloc((size_t)b->reused_n, sizeof *m->item_reused)))
        return fr_fail(err, FR_ENOMEM, "%s: cannot allocate the reuse records", name);
    fr_mpread_init(&r, b->reused_at, (size_t)(b->end - b->reused_at), name, err);
    for (uint64_t i = 0; i < b->reused_n; i++) {
        /* read_reused walked these records without fault: this walk cannot fail */
        fr_status st = fr_mpread_expect(&r, &rec, FR_MPREAD_ARRAY, "catalogue.reused");
        if (st == FR_OK)
            st = fr_mpread_int(&r, "row", 1, INT32_MAX, &row);
        if (st == FR_OK)
            st = fr_mpread_int(&r, "version", 1, LONG_MAX, &ver);
        if (st == FR_OK)
            st = fr_mpread_expect(&r, &str, FR_MPREAD_STR, "catalogue.reused");
        FR_ASSERT(st == FR_OK);
        if (row >= m->cfg.num_items || ver > m->catalogue_version)
            return fr_fail(err, FR_EFORMAT,
                           "%s: catalogue.reused[%llu]: row %lld of version %lld, past the %d "
                           "rows or the catalogue version %ld",
                           name, (unsigned long long)i, (long long)row, (long long)ver,
                           m->cfg.num_items - 1, m->catalogue_version);
        fr_item_reuse *u = &m->item_reused[m->n_reused];
        if (!(u->old_key = malloc((size_t)str.u + 1)))
            return fr_fail(err, FR_ENOMEM, "%s: cannot allocate the reuse records", name);
        memcpy(u->old_key, str.ptr, (size_t)str.u);
        u->old_key[str.u] = 0;
        u->row = (int32_t)row;
        u->version = (long)ver;
        m->n_reused++;
    }
    return FR_OK;
}

/* The catalogue version and retired flags; a model with none retired keeps no flags. */
static fr_status copy_catalogue(fr_model *m, const raw_body *b, const char *name, fr_err *err)
{
    size_t v = (size_t)m->cfg.num_items;
    if (b->retired.u != v)
        return fr_fail(err, FR_EFORMAT, "%s: catalogue.retired has %llu bytes, expected %zu", name,
                       (unsigned long long)b->retired.u, v);
    m->catalogue_version = (long)b->cat_version;
    const uint8_t *f = b->retired.ptr;
    size_t any = 0;
    for (size_t i = 0; i < v; i++) {
        if (f[i] > 1 || (i == 0 && f[i]))
            return fr_fail(err, FR_EFORMAT, "%s: catalogue.retired[%zu] is %u", name, i,
                           (unsigned)f[i]);
        any += f[i];
    }
    if (any && !(m->item_retired = malloc(v)))
        return fr_fail(err, FR_ENOMEM, "%s: cannot allocate the retired flags", name);
    if (any)
        memcpy(m->item_retired, f, v);
    return b->reused_at ? copy_reused(m, b, name, err) : FR_OK;
}

/* Allocates m from a body whose fields have been read, checking them against the
 * shapes that the config implies. */
static fr_status build_model(fr_model *m, const fr_backend *be, const raw_body *b, const char *name,
                             fr_err *err)
{
    fr_status st = FR_OK;
    fr_err e;
    int64_t *ids = NULL;
    int32_t *tokens = NULL;
    float *stage = NULL;
    const fr_model_config *c = &b->cfg;
    if ((st = fr_model_config_check(c, &e)) != FR_OK) {
        st = fr_fail(err, as_format(st), "%s: config: %s", name, e.msg);
        goto out;
    }
    uint64_t nv = (uint64_t)c->num_items, nt = nv * (uint64_t)c->num_tokens;
    if (b->ids.u != nv * 8 || b->tokens.u != nt * 4) {
        int bad = b->ids.u != nv * 8;
        st = fr_fail(err, FR_EFORMAT, "%s: %s has %llu bytes, expected %llu", name,
                     bad ? "item_ids" : "item_tokens",
                     (unsigned long long)(bad ? b->ids.u : b->tokens.u),
                     (unsigned long long)(bad ? nv * 8 : nt * 4));
        goto out;
    }
    /* Each tensor's bytes, which lie inside the body, must hold the parameters the
     * config implies before anything is allocated for them: a few bytes claiming a
     * vast vocabulary must not make the model allocate for it. */
    uint64_t d = (uint64_t)c->dim, f = (uint64_t)c->filters;
    const uint64_t sizes[FR_NPARAMS] = {
        nv * d, (uint64_t)c->token_vocab * d, f * d * 3, f, d * f, d, 3 * d * d, 3 * d * d, 3 * d,
        3 * d};
    for (int i = 0; i < FR_NPARAMS; i++)
        if (b->t[i].data.u != sizes[i] * 4) {
            st = fr_fail(err, FR_EFORMAT, "%s: tensor %s has %llu bytes of data, expected %llu",
                         name, fr_model_param_name(i), (unsigned long long)b->t[i].data.u,
                         (unsigned long long)(sizes[i] * 4));
            goto out;
        }
    ids = malloc((size_t)nv * 8);
    tokens = malloc((size_t)nt * 4);
    if (!ids || !tokens) {
        st = fr_fail(err, FR_ENOMEM, "%s: cannot allocate the item tables", name);
        goto out;
    }
    memcpy(ids, b->ids.ptr, (size_t)nv * 8);
    fr_mf_le_in_place((uint8_t *)ids, (size_t)nv, 8);
    memcpy(tokens, b->tokens.ptr, (size_t)nt * 4);
    fr_mf_le_in_place((uint8_t *)tokens, (size_t)nt, 4);
    if ((st = fr_model_init(m, c, be, tokens, ids, &e)) != FR_OK) {
        st = fr_fail(err, as_format(st), "%s: %s", name, e.msg);
        goto out;
    }
    if (b->keys_at && (st = copy_keys(m, b, name, err)) != FR_OK)
        goto out;
    if (b->has_cat && (st = copy_catalogue(m, b, name, err)) != FR_OK)
        goto out;
    size_t total = 0;
    for (int i = 0; i < FR_NPARAMS; i++) {
        const raw_tensor *t = &b->t[i];
        const fr_param *p = &m->p[i];
        int64_t want[3] = {p->shape[0], p->shape[1], p->shape[2]};
        char got_s[80], want_s[80], shown[41];
        if (!fr_mpread_str_is(&t->name, p->name)) {
            fr_mpread_show_str(shown, &t->name);
            st = fr_fail(err, FR_EFORMAT, "%s: tensors[%d] is \"%s\", expected \"%s\"", name, i,
                         shown, p->name);
            goto out;
        }
        if (t->ndim != p->ndim || memcmp(t->shape, want, (size_t)p->ndim * 8) != 0) {
            shape_str(got_s, sizeof got_s, t->ndim, t->shape);
            shape_str(want_s, sizeof want_s, p->ndim, want);
            st = fr_fail(err, FR_EFORMAT, "%s: tensor %s has shape %s, expected %s", name, p->name,
                         got_s, want_s);
            goto out;
        }
        if (t->data.u != (uint64_t)p->size * 4) {
            st = fr_fail(err, FR_EFORMAT, "%s: tensor %s has %llu bytes of data, expected %zu",
                         name, p->name, (unsigned long long)t->data.u, p->size * 4);
            goto out;
        }
        total += p->size;
    }
    int moments = b->adam_m.type == FR_MPREAD_BIN;
    if (moments && (b->adam_m.u != (uint64_t)total * 4 || b->adam_v.u != (uint64_t)total * 4)) {
        st = fr_fail(err, FR_EFORMAT,
                     "%s: adam_m and adam_v have %llu and %llu bytes, "
                     "expected %zu",
                     name, (unsigned long long)b->adam_m.u, (unsigned long long)b->adam_v.u,
                     total * 4);
        goto out;
    }
    size_t stage_len = fr_mf_stage_size(m);
    if (!(stage = malloc(stage_len))) {
        st = fr_fail(err, FR_ENOMEM, "%s: cannot allocate a staging buffer", name);
        goto out;
    }
    /* Only the views are written: the padding between them, and the moments when the
     * file has none, stay as the backend allocated them, zero. */
    m->adam_step = (long)b->adam_step;
    for (int i = 0; i < FR_NPARAMS; i++)
        upload_le(be, m->params + m->p[i].offset, b->t[i].data.ptr, m->p[i].size, stage, stage_len);
    for (int k = 0; moments && k < 2; k++) {
        const uint8_t *src = k ? b->adam_v.ptr : b->adam_m.ptr;
        for (int i = 0; i < FR_NPARAMS; i++) {
            upload_le(be, (k ? m->adam_v : m->adam_m) + m->p[i].offset, src, m->p[i].size, stage,
                      stage_len);
            src += m->p[i].size * 4;
        }
    }
out:
    if (st != FR_OK)
        fr_model_free(m);
    free(stage);
    free(tokens);
    free(ids);
    return st;
}

/* Checks the got bytes read of the header (at most its size) of a file of total bytes. */
static fr_status check_header(const uint8_t *h, size_t got, uint64_t total, const char *name,
                              uint64_t *body_len, uint32_t *crc, uint32_t *version, fr_err *err)
{
    const uint64_t hb = FR_MODELFILE_HEADER_BYTES;
    if (memcmp(h, FR_MODELFILE_MAGIC, got < 8 ? got : 8) != 0)
        return fr_fail(err, FR_EFORMAT, "%s: not a fedrecall model file", name);
    if (got >= 12 && (get_le(h + 8, 4) < 1 || get_le(h + 8, 4) > FR_MODELFILE_VERSION))
        return fr_fail(err, FR_EVERSION, "%s: format version %llu, this build reads 1 to %u", name,
                       (unsigned long long)get_le(h + 8, 4), FR_MODELFILE_VERSION);
    if (got >= 12)
        *version = (uint32_t)get_le(h + 8, 4);
    if (got < hb)
        return fr_fail(err, FR_EFORMAT, "%s: truncated: expected %llu bytes, found %llu", name,
                       (unsigned long long)hb, (unsigned long long)total);
    if (get_le(h + 12, 4) != 0)
        return fr_fail(err, FR_EVERSION, "%s: header flags 0x%08llx, this build knows none", name,
                       (unsigned long long)get_le(h + 12, 4));
    *body_len = get_le(h + 16, 8);
    *crc = (uint32_t)get_le(h + 24, 4);
    if (total < hb || *body_len > total - hb)
        return fr_fail(
            err, FR_EFORMAT, "%s: truncated: expected %llu bytes, found %llu", name,
            (unsigned long long)(*body_len > UINT64_MAX - hb ? UINT64_MAX : *body_len + hb),
            (unsigned long long)total);
    if (*body_len < total - hb)
        return fr_fail(err, FR_EFORMAT, "%s: %llu bytes follow the body", name,
                       (unsigned long long)(total - hb - *body_len));
    if (*body_len > FR_MODELFILE_MAX_BODY || *body_len > SIZE_MAX)
        return fr_fail(err, FR_ENOMEM, "%s: a body of %llu bytes exceeds the cap of %llu", name,
                       (unsigned long long)*body_len, (unsigned long long)FR_MODELFILE_MAX_BODY);
    return FR_OK;
}

static fr_status decode_body(fr_model *m, const fr_backend *be, const uint8_t *body, size_t len,
                             uint32_t crc, uint32_t version, const char *name, fr_err *err)
{
    uint32_t have = fr_modelfile_crc32(0, body, len);
    if (have != crc)
        return fr_fail(err, FR_ECHECKSUM,
                       "%s: checksum mismatch: the header says 0x%08x, the "
                       "body has 0x%08x (the file is corrupt)",
                       name, crc, have);
    raw_body b;
    memset(&b, 0, sizeof b);
    b.version = version;
    b.end = body + len;
    fr_mpread r;
    fr_mpread_init(&r, body, len, name, err);
    fr_status st = read_body(&r, &b);
    return st == FR_OK ? build_model(m, be, &b, name, err) : st;
}

fr_status fr_modelfile_decode(fr_model *m, const fr_backend *be, const void *data, size_t len,
                              const char *name, fr_err *err)
{
    const uint8_t *d = data;
    uint64_t body_len = 0;
    uint32_t crc = 0, version = 0;
    memset(m, 0, sizeof *m);
    fr_status st =
        check_header(d, len < FR_MODELFILE_HEADER_BYTES ? len : FR_MODELFILE_HEADER_BYTES, len,
                     name, &body_len, &crc, &version, err);
    if (st == FR_OK)
        st = decode_body(m, be, d + FR_MODELFILE_HEADER_BYTES, (size_t)body_len, crc, version, name,
                         err);
    return st;
}

fr_status fr_modelfile_load(fr_model *m, const fr_backend *be, const char *path, fr_err *err)
{
    fr_status st = FR_OK;
    uint8_t hdr[FR_MODELFILE_HEADER_BYTES];
    uint8_t *body = NULL;
    uint64_t body_len = 0;
    uint32_t crc = 0, version = 0;
    struct stat sb;
    memset(m, 0, sizeof *m);
    FILE *f = fopen(path, "rb");
    if (!f) {
        st = fr_fail(err, FR_EIO, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = fr_fail(err, FR_EIO, "%s: not a regular file", path);
        goto out;
    }
    size_t got = fread(hdr, 1, sizeof hdr, f);
    if (ferror(f)) {
        st = fr_fail(err, FR_EIO, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    if ((st = check_header(hdr, got, (uint64_t)sb.st_size, path, &body_len, &crc, &version, err)) !=
        FR_OK)
        goto out;
    if (!(body = malloc(body_len ? (size_t)body_len : 1))) {
        st = fr_fail(err, FR_ENOMEM, "%s: cannot allocate %llu bytes for the body", path,
                     (unsigned long long)body_len);
        goto out;
    }
    got = fread(body, 1, (size_t)body_len, f);
    if (got != body_len) {
        st = ferror(f) ? fr_fail(err, FR_EIO, "%s: cannot read: %s", path, strerror(errno))
                       : fr_fail(err, FR_EFORMAT,
                                 "%s: truncated: expected %llu bytes, found "
                                 "%llu",
                                 path, (unsigned long long)(body_len + sizeof hdr),
                                 (unsigned long long)(got + sizeof hdr));
        goto out;
    }
    st = decode_body(m, be, body, (size_t)body_len, crc, version, path, err);
out:
    if (f)
        fclose(f);
    free(body);
    return st;
}
