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
    float lr;      /* Adam learning rate */
    uint64_t seed;
} fr_train_config;

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
} fr_trainer;

FR_MUST fr_status fr_trainer_init(fr_trainer *tr, fr_model *model, const fr_train_config *cfg,
                                  const int32_t *windows, long n_windows, fr_err *err);
void fr_trainer_free(fr_trainer *tr);

/* One epoch over all windows; progress (may be NULL) is called after each batch. */
FR_MUST fr_status fr_trainer_epoch(fr_trainer *tr, fr_epoch_stats *out, fr_progress_fn progress,
                                   void *ctx, fr_err *err);

/* One Adam step over the whole parameter buffer with the gradients in model->grads. */
void fr_train_adam_step(fr_model *m, float lr);

#endif
