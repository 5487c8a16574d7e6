/* DP-SGD's batched step (see fr_dp_sgd.h): every sampled user of a step in one
 * forward pass and two backward passes, the per-user norms from fr_nn_users.h. Used by
 * fr_dp_sgd.c alone. */
#ifndef FR_DP_BATCH_H
#define FR_DP_BATCH_H

#include <stdint.h>

#include "nn/fr_nn_users.h"
#include "privacy/fr_dp_sgd.h"

typedef struct fr_dp_batch {
    fr_nn net;         /* max_batch = net_windows; gradients to model->grads */
    fr_nn_users users; /* the per-user norms' workspace */
    int cap;           /* windows a step may hold; a larger step runs user by user */
    int net_windows;   /* windows net is built for (0: not yet): grown to the largest step
                          seen, an eighth over, at most cap */
    int net_positions; /* trained positions net is built for, grown the same way */
    int32_t *windows;  /* host, cap x (L+1): the step's windows, user after user */
    int32_t *win_off;  /* host, n_users + 1: each sampled user's first window */
    double *sq;        /* host, n_users: squared gradient norms */
    long *positions;   /* host, n_users */
    float *weight;     /* host, n_users: clip factors */
} fr_dp_batch;

/* The windows of user u that count: the newest max_windows (fr_dp_sgd.c). */
const int32_t *fr_dp_user_windows(const fr_dp_trainer *tr, int u, int *nw);

/* A batched step's workspace for tr, or *out = NULL when the backend lacks its ops. */
FR_MUST fr_status fr_dp_batch_init(fr_dp_batch **out, fr_dp_trainer *tr, fr_err *err);
void fr_dp_batch_free(fr_dp_batch *b, const fr_dp_trainer *tr);

/* Adds the clipped gradients of users[0..n) to model->grads, as n calls of the
 * per-user path would (to float rounding); *done = 0 and nothing added when the step
 * holds more windows than the batch (the caller then runs the users one by one). */
FR_MUST fr_status fr_dp_batch_accumulate(fr_dp_trainer *tr, const int32_t *users, int n,
                                         fr_dp_step_stats *out, int *done, fr_err *err);

#endif
