/* The CNN+RNN recall model's parameters (docs/model-spec: item tower = token CNN +
 * ID embedding, user tower = GRU, score = inner product).
 *
 * All parameters live in one contiguous float buffer (params), and the gradients and
 * both Adam moments in buffers of the same layout, so that zeroing, the optimiser,
 * clipping, noise, checkpoints and federated deltas all work on a flat (ptr, n).
 * Each named tensor is a view at the same offset in every buffer. The buffers are
 * allocated by the model's backend (host memory for the CPU backend). */
#ifndef FR_MODEL_H
#define FR_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "backend/fr_backend.h"
#include "util/fr_status.h"

enum {
    FR_P_E_ID,     /* V x d item ID embeddings, row 0 = padding (zero, never trained) */
    FR_P_E_TOK,    /* Vt x d token embeddings, row 0 = padding */
    FR_P_CONV_W,   /* F x d x 3 conv weight (PyTorch Conv1d layout) */
    FR_P_CONV_B,   /* F */
    FR_P_W_PROJ,   /* d x F */
    FR_P_B_PROJ,   /* d */
    FR_P_GRU_W_IH, /* 3d x d, gate blocks r, z, n */
    FR_P_GRU_W_HH, /* 3d x d */
    FR_P_GRU_B_IH, /* 3d */
    FR_P_GRU_B_HH, /* 3d */
    FR_NPARAMS
};

typedef struct fr_model_config {
    int num_items;   /* V, padding row included */
    int token_vocab; /* Vt, padding row included */
    int num_tokens;  /* T tokens per item */
    int dim;         /* d */
    int filters;     /* F */
} fr_model_config;

typedef struct fr_param {
    const char *name; /* the spec's name, e.g. "gru_W_ih" */
    int ndim;
    int shape[3];
    size_t offset; /* in floats, into each of the model's buffers */
    size_t size;   /* in floats */
} fr_param;

/* A reuse record (docs/catalogue.md): row `row` held the retired item `old_key` until
 * catalogue version `version` reclaimed it for the row's present item. */
typedef struct fr_item_reuse {
    int32_t row;
    long version;
    char *old_key; /* malloc'd */
} fr_item_reuse;

typedef struct fr_model {
    fr_model_config cfg;
    const fr_backend *be;
    fr_param p[FR_NPARAMS];
    size_t n;      /* total number of parameters */
    float *params; /* backend memory, n floats each */
    float *grads;
    float *adam_m;
    float *adam_v;
    long adam_step;           /* optimiser steps taken */
    int32_t *item_tokens;     /* host, V x T content token rows */
    int64_t *item_ids;        /* host, V external ids (item_ids[0] = 0) */
    char **item_keys;         /* host, V external ids as strings (item_keys[0] = ""), one
                               * allocation; NULL when the ids are integers (item_ids) */
    int32_t *item_tokens_dev; /* backend copy of item_tokens */
    long catalogue_version;   /* the federation's catalogue version the rows follow; 0 for a
                               * catalogue fixed at init-model (docs/catalogue.md) */
    uint8_t *item_retired;    /* host, V flags: 1 for a retired item, never recalled; NULL
                               * when none is retired. Rows are never renumbered. */
    /* host, n_reused records of reclaimed rows, oldest first; NULL when none was */
    fr_item_reuse *item_reused;
    int n_reused;
} fr_model;

/* Sizes in a config that the model refuses (a message names the field). */
FR_MUST fr_status fr_model_config_check(const fr_model_config *cfg, fr_err *err);

/* Allocate a model for cfg on backend be, copying tokens (V x T) and item ids (V);
 * parameters are zero until fr_model_init_params or a load fills them. */
FR_MUST fr_status fr_model_init(fr_model *m, const fr_model_config *cfg, const fr_backend *be,
                                const int32_t *tokens, const int64_t *item_ids, fr_err *err);
void fr_model_free(fr_model *m);

/* Give m string item ids: copies keys[0..V) (keys[0] must be "") into m->item_keys,
 * replacing any it had; keys NULL drops them (the ids are item_ids again). For data
 * whose ids are not all integers. FR_EINVAL for a key that is NULL, longer than
 * FR_MODEL_MAX_KEY bytes, or empty past row 0. */
FR_MUST fr_status fr_model_set_item_keys(fr_model *m, const char *const *keys, fr_err *err);

#define FR_MODEL_MAX_KEY 1024 /* bytes of one item key */

/* 1 when row r of m is a retired item (recall must never return it). */
static inline int fr_model_retired(const fr_model *m, int r)
{
    return m->item_retired && r >= 0 && r < m->cfg.num_items && m->item_retired[r];
}

/* The spec's initialisation: embeddings N(0, 0.05^2) with row 0 zero; conv, linear
 * and GRU weights and biases as PyTorch's defaults, U(-1/sqrt(fan_in), 1/sqrt(fan_in))
 * with fan_in = 3d (conv), F (projection), d (GRU). Deterministic in seed. */
void fr_model_init_params(fr_model *m, uint64_t seed);

/* Index of a parameter by its spec name, or -1. */
int fr_model_param_index(const char *name);
/* The spec name of parameter i (0 <= i < FR_NPARAMS). */
const char *fr_model_param_name(int i);

/* Host copies of parameters (for files and tests): out must hold m->n floats. */
void fr_model_get_params(const fr_model *m, float *out);
void fr_model_set_params(fr_model *m, const float *in);

#endif
