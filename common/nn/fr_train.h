/* Local training: epochs of shuffled windows, shared negatives per batch, Adam.
 * Deterministic for a given seed and thread count: one stream shuffles the windows
 * each epoch, another draws the negatives, and every op is order-stable. */
#ifndef FR_TRAIN_H
#define FR_TRAIN_H

#include <stdint.h>

#include "nn/fr_model.h"
#include "nn/fr_nn.h"
#include "util/fr_rng.h"
#include "util/fr_status.h"

typedef struct fr_train_config {
    int batch;     /* windows per batch */
    int seq_len;   /* L */
    int negatives; /* K */
    float lr;      /* Adam learning rate (the peak, with a schedule) */
    uint64_t seed;
    /* The recipe's additions (docs/model.md, "Training recipes"); all zero is the
     * spec's benchmark configuration: constant lr, plain Adam, uniform negatives. */
    int epochs;         /* epochs the schedule spans; 0: constant lr */
    float warmup;       /* fraction of the schedule's steps with a linear ramp up to lr */
    float lr_final;     /* lr at the last step, as a fraction of lr (cosine decay) */
    float weight_decay; /* decoupled (AdamW): params *= 1 - lr_t * weight_decay each step */
    float pop_alpha;    /* > 0: negatives drawn in proportion to count^alpha over the
                         * training windows, logits corrected by -log Q (logQ correction) */
    float dropout;      /* on the user vectors while training (fr_nn_set_dropout) */
    float item_dropout; /* input items read as padding while training */
} fr_train_config;

/* Negatives drawn from a fixed distribution Q over the catalogue's rows 1..V-1. */
typedef struct fr_negsampler {
    int num_items; /* V */
    double *cdf;   /* V: cdf[j] = Q(1..j), cdf[0] = 0 */
    float *nlogq;  /* V: -log Q(j) (host; row 0 = 0) */
} fr_negsampler;

/* Q(j) proportional to (count of j in the windows + 1)^alpha. */
FR_MUST fr_status fr_negsampler_init(fr_negsampler *ns, const int32_t *windows, long n_windows,
                                     int window_len, int num_items, float alpha, fr_err *err);
void fr_negsampler_free(fr_negsampler *ns);
/* k draws from Q, with replacement, into out. */
void fr_negsampler_draw(const fr_negsampler *ns, fr_rng *rng, int32_t *out, int k);

/* A named training recipe: the settings `train` starts from (docs/model.md). "peer" is
 * the spec's benchmark configuration, the one the PyTorch peer trains. */
typedef struct fr_recipe {
    const char *name;
    int negatives;
    float lr, warmup, lr_final, weight_decay, pop_alpha, dropout, item_dropout;
} fr_recipe;

#define FR_RECIPE_DEFAULT "tuned"
#define FR_RECIPE_NAMES                                                                            \
    "tuned (the default), peer (the spec's benchmark configuration) or dp (the default of a "      \
    "private run)"

/* The recipe called name, or NULL. */
const fr_recipe *fr_recipe_find(const char *name);

/* The learning rate of step `step` (0-based) of `total`: linear warm-up over the first
 * warmup * total steps, then cosine decay from lr to lr * lr_final; lr when total < 1. */
float fr_train_lr_at(const fr_train_config *cfg, long step, long total);

typedef struct fr_epoch_stats {
    int epoch;
    double loss; /* mean cross-entropy over the epoch's positions */
    double seconds;
    double sequences_per_s;
    double positions_per_s;
    long positions;
    double gemm_flops; /* matrix-product FLOPs of the epoch */
} fr_epoch_stats;

typedef void (*fr_progress_fn)(void *ctx, long done, long total);

typedef struct fr_trainer {
    fr_train_config cfg;
    fr_model *model; /* borrowed */
    fr_nn net;
    const int32_t *windows; /* borrowed, n_windows x (L+1) */
    long n_windows;
    int32_t *order;     /* n_windows */
    int32_t *batch_buf; /* batch x (L+1) */
    int32_t *neg_buf;   /* K */
    fr_rng shuffle_rng, negative_rng;
    int epoch;
    long step, total_steps; /* the schedule's position and length */
    fr_negsampler ns;       /* with pop_alpha > 0 */
    /* FedProx: with prox_mu > 0 each step's gradient gains prox_mu (params - prox_anchor),
     * the pull of (prox_mu / 2) |params - anchor|^2 back to the round's global model */
    float prox_mu;
    const float *prox_anchor; /* borrowed, backend memory, model->n floats */
} fr_trainer;

FR_MUST fr_status fr_trainer_init(fr_trainer *tr, fr_model *model, const fr_train_config *cfg,
                                  const int32_t *windows, long n_windows, fr_err *err);
void fr_trainer_free(fr_trainer *tr);

/* One epoch over all windows; progress (may be NULL) is called after each batch. */
FR_MUST fr_status fr_trainer_epoch(fr_trainer *tr, fr_epoch_stats *out, fr_progress_fn progress,
                                   void *ctx, fr_err *err);

/* From the next step on, add mu (params - anchor) to every step's gradient (FedProx's
 * proximal term; anchor: backend memory of model->n floats, borrowed until the trainer is
 * freed or the term is set again; mu 0 removes the term). */
void fr_trainer_set_prox(fr_trainer *tr, const float *anchor, float mu);
/* model->grads += mu (model->params - anchor): the proximal term's gradient. */
void fr_train_prox_grad(fr_model *m, const float *anchor, float mu);

/* One Adam step over the whole parameter buffer with the gradients in model->grads. */
void fr_train_adam_step(fr_model *m, float lr);
/* The same with decoupled weight decay wd (AdamW; wd 0 is fr_train_adam_step). */
void fr_train_adamw_step(fr_model *m, float lr, float wd);

#endif
