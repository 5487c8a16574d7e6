/* Model parameters: the layout of the one flat buffer, its views, initialisation. */
#include "nn/fr_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/fr_rng.h"

/* Caps that keep a config from asking for absurd memory (about 4 GiB of parameters). */
#define FR_MAX_PARAMS ((size_t)1 << 30)

static const char *const param_names[FR_NPARAMS] = {
    "E_id",   "E_tok",    "conv_w",   "conv_b",   "W_proj",
    "b_proj", "gru_W_ih", "gru_W_hh", "gru_b_ih", "gru_b_hh",
};

const char *fr_model_param_name(int i)
{
    FR_ASSERT(i >= 0 && i < FR_NPARAMS);
    return param_names[i];
}

int fr_model_param_index(const char *name)
{
    for (int i = 0; i < FR_NPARAMS; i++)
        if (strcmp(param_names[i], name) == 0)
            return i;
    return -1;
}

fr_status fr_model_config_check(const fr_model_config *c, fr_err *err)
{
    if (c->num_items < 2 || c->num_items > (1 << 28))
        return fr_fail(err, FR_EINVAL, "num_items %d out of range [2, 2^28]", c->num_items);
    if (c->token_vocab < 2 || c->token_vocab > (1 << 24))
        return fr_fail(err, FR_EINVAL, "token_vocab %d out of range [2, 2^24]", c->token_vocab);
    if (c->num_tokens < 1 || c->num_tokens > 1024)
        return fr_fail(err, FR_EINVAL, "tokens %d out of range [1, 1024]", c->num_tokens);
    if (c->dim < 1 || c->dim > 4096)
        return fr_fail(err, FR_EINVAL, "dim %d out of range [1, 4096]", c->dim);
    if (c->filters < 1 || c->filters > 4096)
        return fr_fail(err, FR_EINVAL, "filters %d out of range [1, 4096]", c->filters);
    size_t d = (size_t)c->dim, f = (size_t)c->filters;
    size_t n = ((size_t)c->num_items + (size_t)c->token_vocab) * d + f * d * 3 + f + d * f + d +
               6 * d * d + 6 * d;
    if (n > FR_MAX_PARAMS)
        return fr_fail(err, FR_ENOMEM, "model of %zu parameters exceeds the cap of %zu", n,
                       FR_MAX_PARAMS);
    return FR_OK;
}

static void set_param(fr_model *m, int i, int ndim, int s0, int s1, int s2, size_t *off)
{
    fr_param *p = &m->p[i];
    p->name = param_names[i];
    p->ndim = ndim;
    p->shape[0] = s0;
    p->shape[1] = s1;
    p->shape[2] = s2;
    p->size = (size_t)s0 * (ndim > 1 ? (size_t)s1 : 1) * (ndim > 2 ? (size_t)s2 : 1);
    p->offset = *off;
    /* 16-float alignment keeps every view on its own cache line start for SIMD. */
    *off += (p->size + 15) & ~(size_t)15;
}

fr_status fr_model_init(fr_model *m, const fr_model_config *cfg, const fr_backend *be,
                        const int32_t *tokens, const int64_t *item_ids, fr_err *err)
{
    fr_status st;
    memset(m, 0, sizeof *m);
    if ((st = fr_model_config_check(cfg, err)) != FR_OK)
        return st;
    m->cfg = *cfg;
    m->be = be;
    int V = cfg->num_items, Vt = cfg->token_vocab, d = cfg->dim, F = cfg->filters;
    size_t off = 0;
    set_param(m, FR_P_E_ID, 2, V, d, 0, &off);
    set_param(m, FR_P_E_TOK, 2, Vt, d, 0, &off);
    set_param(m, FR_P_CONV_W, 3, F, d, 3, &off);
    set_param(m, FR_P_CONV_B, 1, F, 0, 0, &off);
    set_param(m, FR_P_W_PROJ, 2, d, F, 0, &off);
    set_param(m, FR_P_B_PROJ, 1, d, 0, 0, &off);
    set_param(m, FR_P_GRU_W_IH, 2, 3 * d, d, 0, &off);
    set_param(m, FR_P_GRU_W_HH, 2, 3 * d, d, 0, &off);
    set_param(m, FR_P_GRU_B_IH, 1, 3 * d, 0, 0, &off);
    set_param(m, FR_P_GRU_B_HH, 1, 3 * d, 0, 0, &off);
    m->n = off;
    size_t bytes = off * sizeof(float);
    size_t tok_bytes = (size_t)V * (size_t)cfg->num_tokens * sizeof(int32_t);
    m->params = be->alloc(bytes);
    m->grads = be->alloc(bytes);
    m->adam_m = be->alloc(bytes);
    m->adam_v = be->alloc(bytes);
    m->item_tokens = malloc(tok_bytes);
    m->item_ids = calloc((size_t)V, sizeof(int64_t));
    m->item_tokens_dev = be->alloc(tok_bytes);
    if (!m->params || !m->grads || !m->adam_m || !m->adam_v || !m->item_tokens || !m->item_ids ||
        !m->item_tokens_dev) {
        fr_model_free(m);
        return fr_fail(err, FR_ENOMEM, "cannot allocate a model of %zu parameters", off);
    }
    if (tokens)
        memcpy(m->item_tokens, tokens, tok_bytes);
    else
        memset(m->item_tokens, 0, tok_bytes);
    /* The padding item has no content, whatever the caller passed. */
    memset(m->item_tokens, 0, (size_t)cfg->num_tokens * sizeof(int32_t));
    for (size_t i = 0; i < (size_t)V * (size_t)cfg->num_tokens; i++)
        if (m->item_tokens[i] < 0 || m->item_tokens[i] >= Vt) {
            st = fr_fail(err, FR_EINVAL, "item %zu has token row %d outside [0, %d)",
                         i / (size_t)cfg->num_tokens, (int)m->item_tokens[i], Vt);
            fr_model_free(m);
            return st;
        }
    if (item_ids)
        memcpy(m->item_ids, item_ids, (size_t)V * sizeof(int64_t));
    be->upload(m->item_tokens_dev, m->item_tokens, tok_bytes);
    return FR_OK;
}

void fr_model_free(fr_model *m)
{
    if (m->be) {
        m->be->free(m->params);
        m->be->free(m->grads);
        m->be->free(m->adam_m);
        m->be->free(m->adam_v);
        m->be->free(m->item_tokens_dev);
    }
    free(m->item_tokens);
    free(m->item_ids);
    free(m->item_keys);
    free(m->item_retired);
    for (int i = 0; i < m->n_reused; i++)
        free(m->item_reused[i].old_key);
    free(m->item_reused);
    memset(m, 0, sizeof *m);
}

fr_status fr_model_set_item_keys(fr_model *m, const char *const *keys, fr_err *err)
{
    size_t V = (size_t)m->cfg.num_items, bytes = V * sizeof(char *);
    char **block = NULL;
    for (size_t r = 0; keys && r < V; r++) {
        size_t n = keys[r] ? strlen(keys[r]) : 0;
        if (!keys[r] || n > FR_MODEL_MAX_KEY || (r == 0) != (n == 0))
            return fr_fail(err, FR_EINVAL, "item key of row %zu is %s", r,
                           !keys[r]               ? "missing"
                           : n > FR_MODEL_MAX_KEY ? "too long"
                           : r                    ? "empty"
                                                  : "set (row 0 is padding)");
        bytes += n + 1;
    }
    /* The pointers first, then the strings they point to: one block, one free. */
    if (keys && !(block = malloc(bytes)))
        return fr_fail(err, FR_ENOMEM, "cannot allocate %zu bytes of item keys", bytes);
    free(m->item_keys);
    m->item_keys = NULL;
    if (!keys)
        return FR_OK;
    char *text = (char *)(block + V);
    for (size_t r = 0; r < V; r++) {
        size_t n = strlen(keys[r]) + 1;
        memcpy(text, keys[r], n);
        block[r] = text;
        text += n;
    }
    m->item_keys = block;
    return FR_OK;
}

static void fill_uniform(fr_rng *r, float *x, size_t n, double bound)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((2.0 * fr_rng_uniform(r) - 1.0) * bound);
}

void fr_model_init_params(fr_model *m, uint64_t seed)
{
    const fr_model_config *c = &m->cfg;
    float *host = calloc(m->n, sizeof(float));
    FR_ASSERT(host);
    fr_rng r;
    fr_rng_seed(&r, seed);
    for (int e = FR_P_E_ID; e <= FR_P_E_TOK; e++) {
        float *x = host + m->p[e].offset;
        size_t rows = (size_t)m->p[e].shape[0], d = (size_t)c->dim;
        for (size_t i = d; i < rows * d; i++)
            x[i] = (float)(0.05 * fr_rng_normal(&r));
    }
    double conv_bound = 1.0 / sqrt(3.0 * c->dim);
    fill_uniform(&r, host + m->p[FR_P_CONV_W].offset, m->p[FR_P_CONV_W].size, conv_bound);
    fill_uniform(&r, host + m->p[FR_P_CONV_B].offset, m->p[FR_P_CONV_B].size, conv_bound);
    double proj_bound = 1.0 / sqrt((double)c->filters);
    fill_uniform(&r, host + m->p[FR_P_W_PROJ].offset, m->p[FR_P_W_PROJ].size, proj_bound);
    fill_uniform(&r, host + m->p[FR_P_B_PROJ].offset, m->p[FR_P_B_PROJ].size, proj_bound);
    double gru_bound = 1.0 / sqrt((double)c->dim);
    for (int i = FR_P_GRU_W_IH; i <= FR_P_GRU_B_HH; i++)
        fill_uniform(&r, host + m->p[i].offset, m->p[i].size, gru_bound);
    m->be->upload(m->params, host, m->n * sizeof(float));
    m->be->zero(m->adam_m, m->n);
    m->be->zero(m->adam_v, m->n);
    m->adam_step = 0;
    free(host);
}

void fr_model_get_params(const fr_model *m, float *out)
{
    m->be->download(out, m->params, m->n * sizeof(float));
}

void fr_model_set_params(fr_model *m, const float *in)
{
    m->be->upload(m->params, in, m->n * sizeof(float));
}
