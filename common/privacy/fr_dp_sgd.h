/* User-level DP-SGD for local training. The unit of privacy is the user: each step
 * samples every user independently with probability q (Poisson sampling), computes
 * each sampled user's gradient over that user's training windows (at most the newest
 * max_windows of them, which bounds one user's work), clips it to L2 norm C over all
 * parameters, sums the clipped gradients, adds N(0, sigma^2 C^2) to every coordinate
 * of every trainable parameter (embedding rows no user touched included; the padding
 * rows, which are not parameters, excepted; with a row selection, fr_dp_rows.h, only
 * the selected ID rows are trainable), divides by the expected number of users per
 * step qN and applies Adam (at the rate of tc's schedule when total_steps is set). One step is one
 * sampled Gaussian mechanism with noise multiplier sigma for the accountant (fr_dp_accountant.h).
 *
 * By default a step runs all of its sampled users in one batch (fr_dp_batch.h,
 * fr_nn_users.h): one forward pass, one backward pass to the activations, each user's
 * norm from per-user shares of each layer's gradient, and the clipped sum as the
 * clip-weighted sum of those shares; the result is the per-user computation's to float
 * rounding. The per-user path below stays as the reference (per_user), and runs a
 * step that holds more windows than the batch allows, or on a backend without the
 * batched step's ops. With the batched step, the per-user path's workers and shared
 * item tower exist only during such a step (per_user_built).
 *
 * On the per-user path, gradients stay sparse: the backward pass writes into a
 * per-user buffer whose embedding part is non-zero only on the rows the user's windows
 * touched, so the norm, the clipped sum and the reset cost the dense layers plus
 * those rows, not the whole embedding tables. Sampled users are spread over workers,
 * each with its own buffers and partial sum. Users go to workers by size (largest
 * first, each to the least loaded worker), so that workers finish together; the
 * assignment depends on the sample alone and the partial sums are added in worker
 * order, so a run is reproducible for a given seed and worker count.
 *
 * The users of a step share one set of parameters, so the item tower's forward pass
 * (and the GRU's input projection) runs once per step over every item the sampled
 * users and the negatives touch (fr_nn_share_items), and each user's batch reads
 * its rows from it; each user's backward pass is still its own, over all parameters.
 * On a backend without conv_pool_backward_rows, and in a step that touches more items
 * than the shared pass holds (twice an average step's), each user runs its whole
 * batch. */
#ifndef FR_DP_SGD_H
#define FR_DP_SGD_H

#include <stdint.h>

#include "privacy/fr_dp_ledger.h"
#include "privacy/fr_dp_rng.h"
#include "nn/fr_model.h"
#include "nn/fr_nn.h"
#include "util/fr_rng.h"
#include "util/fr_status.h"
#include "nn/fr_train.h"

typedef struct fr_dp_config {
    double sampling_rate;    /* q in (0, 1] */
    double noise_multiplier; /* sigma > 0 */
    float clip;              /* C > 0 */
    int max_windows;         /* newest windows of a user that count, >= 1 */
    int workers;             /* users processed in parallel (threads); 0 means 1 */
    int per_user;     /* 1: each sampled user's gradient in a pass of its own (the reference);
                         0: all of a step's users in one batch (fr_nn_users.h) where the
                         backend has its ops, else as 1 */
    long total_steps; /* steps of the whole run, for tc's warm-up and decay; 0: constant lr */
    const void *seed; /* NULL: noise and sampling keyed from the OS (production) */
    size_t seed_len;
} fr_dp_config;

typedef struct fr_dp_step_stats {
    int sampled;     /* users sampled in the step */
    int clipped;     /* of which had a gradient norm above C */
    double loss_sum; /* summed cross-entropy of the sampled users' positions */
    long positions;
} fr_dp_step_stats;

typedef struct fr_dp_worker {
    fr_nn net;        /* max_batch = max_windows; gradients go to user_grad */
    float *user_grad; /* backend, model->n: one user's gradient, zero between users (worker
                         0's always exists: the noise is uploaded there) */
    float *sum;       /* backend, model->n: this worker's clipped sum (worker 0: model->grads) */
    fr_dp_step_stats stats;
    long load; /* the step's users' cost given to this worker */
    fr_status status;
    fr_err err;
} fr_dp_worker;

typedef struct fr_dp_trainer {
    fr_dp_config cfg;
    fr_train_config tc;
    fr_model *model; /* borrowed */
    int n_workers;
    fr_dp_worker *workers;
    const int32_t *windows; /* borrowed, users in order, each user's windows oldest first */
    int n_users;            /* users with at least one window (the population N) */
    long *user_first;       /* n_users: index of the user's first window */
    int *user_count;        /* n_users: windows of the user */
    int32_t *sampled;       /* n_users: the users of the current step */
    int32_t *worker_of;     /* n_users: the worker of each sampled user */
    int32_t *by_cost;       /* n_users: sampled positions, largest users first */
    float *noise;           /* host, model->n */
    float *chunk_noise;     /* host, n_workers x the noise's chunk: each thread's chunk
                               when the host adds the noise in place */
    int32_t *neg_buf;
    fr_nn items;               /* the step's shared item tower (when share is set) */
    int share;                 /* 1: users read the shared item tower; 0: each its own */
    int items_cap;             /* items the shared tower holds (0: the catalogue) */
    int per_user_built;        /* the workers' nets and buffers and the shared tower exist:
                                  always on the per-user path, with the batched step only
                                  during a step that falls back to the per-user path */
    int32_t *step_items;       /* host, V: the distinct items of the step */
    unsigned char *item_seen;  /* host, V: marks while step_items is built */
    struct fr_dp_batch *batch; /* the batched step (fr_dp_batch.h); NULL: user by user */
    fr_dp_rng rng;
    fr_rng negative_rng;
    long steps;
    long fallback_steps; /* batched trainer: steps that ran on the per-user path */
    /* Private row selection (fr_dp_rows.h); all NULL: every ID row is trained. */
    const uint8_t *rows_trained; /* host, V flags, borrowed */
    float *row_keep;             /* backend, V: 1 for a trained row, else 0 */
} fr_dp_trainer;

/* train_off (num_users + 1) are the users' train-sequence offsets from which the
 * windows were cut (fr_dataset_windows), so that each user's windows can be found. */
FR_MUST fr_status fr_dp_trainer_init(fr_dp_trainer *tr, fr_model *model, const fr_train_config *tc,
                                     const fr_dp_config *dc, const int64_t *train_off,
                                     int num_users, const int32_t *windows, long n_windows,
                                     fr_err *err);
void fr_dp_trainer_free(fr_dp_trainer *tr);

/* One DP-SGD step (sample, clip, sum, noise, Adam). */
FR_MUST fr_status fr_dp_trainer_step(fr_dp_trainer *tr, fr_dp_step_stats *out, fr_err *err);

/* The pieces of a step, for tests and other loops: draw the step's shared negatives;
 * add user u's clipped gradient (u indexes the users with windows) to model->grads
 * (through worker 0); add the noise to model->grads and divide by qN. */
void fr_dp_draw_negatives(fr_dp_trainer *tr);
FR_MUST fr_status fr_dp_accumulate_user(fr_dp_trainer *tr, int u, fr_dp_step_stats *out,
                                        fr_err *err);
/* The same for n users sharing one item-tower pass, as a step does. */
FR_MUST fr_status fr_dp_accumulate_users(fr_dp_trainer *tr, const int32_t *users, int n,
                                         fr_dp_step_stats *out, fr_err *err);
void fr_dp_add_noise(fr_dp_trainer *tr);

/* One epoch of round(1/q) steps; each step is recorded in the ledger (when given)
 * and synced to disk before it is taken. Epoch statistics count sampled users where
 * a plain epoch counts windows (sequences_per_s is users per second). */
FR_MUST fr_status fr_dp_trainer_epoch(fr_dp_trainer *tr, fr_dp_ledger *ledger, fr_epoch_stats *out,
                                      fr_progress_fn progress, void *ctx, fr_err *err);

/* Users with at least one training window: the population N of the accounting. */
int fr_dp_population(const int64_t *train_off, int num_users, int seq_len);

/* Steps in one epoch: round(1 / q), so that each user is sampled once on average. */
long fr_dp_steps_per_epoch(double q);

#endif
