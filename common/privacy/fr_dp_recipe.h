/* A private run's recipe from its budget: given epsilon, delta, the users N and the
 * epochs, the sampling rate q (and so the steps, round(1/q) an epoch), the noise
 * multiplier, the clip norm and the learning rate that `train --dp` uses when they are
 * not given. The rule, found by sweeps on three data sets (docs/privacy.md, "A recipe
 * from the budget"):
 *
 * - Over the grid of rates FR_DP_RECIPE_QS, the noise the step adds to a coordinate of
 *   the mean gradient is sigma(q, steps) C / (q N): the fewer the users of a step, the
 *   noisier it is. A run wants as many steps as it can get while that noise stays at
 *   or below FR_DP_RECIPE_NOISE: the smallest q of the grid that keeps it there, with
 *   at least FR_DP_RECIPE_MIN_USERS users a step and FR_DP_RECIPE_MIN_STEPS steps.
 * - A population too small for that (no rate keeps the noise down) takes the largest
 *   batches that still leave FR_DP_RECIPE_MIN_STEPS steps: q = epochs /
 *   FR_DP_RECIPE_MIN_STEPS (at most 1), the noisiest case, where fewer, larger steps
 *   lose less to the noise than more, smaller ones gain.
 * - C = 1 and lr = 1e-2: Adam does not see the gradient's scale, so C only sets which
 *   users are clipped, and every clip measured from 0.01 to 1 gave the same model.
 *
 * The choice depends on its inputs alone (no randomness, no clock): the same budget,
 * users and epochs give the same recipe. sigma is computed as if nothing were spent;
 * the planner (fr_dp_plan.h) then sets the run's noise exactly on what the ledger
 * leaves. */
#ifndef FR_DP_RECIPE_H
#define FR_DP_RECIPE_H

#include "util/fr_status.h"

#define FR_DP_RECIPE_NOISE 3e-3
#define FR_DP_RECIPE_MIN_STEPS 50
#define FR_DP_RECIPE_MIN_USERS 16
#define FR_DP_RECIPE_LR 1e-2f
#define FR_DP_RECIPE_CLIP 1.0f

typedef struct fr_dp_recipe {
    double q;          /* the sampling rate */
    long steps;        /* of the whole run: epochs x round(1/q) */
    double sigma;      /* the noise multiplier that spends the budget in those steps */
    double noise_mean; /* sigma C / (q N): the noise on a coordinate of the mean gradient */
    float clip, lr;
    int noisy; /* 1: no rate met FR_DP_RECIPE_NOISE (the second rule above) */
} fr_dp_recipe;

/* FR_EINVAL for epsilon or delta out of range, users < 1 or epochs < 1. */
FR_MUST fr_status fr_dp_recipe_pick(double eps, double delta, int users, int epochs,
                                    fr_dp_recipe *out, fr_err *err);

/* The same for a federation whose rounds are fixed (each round one step): the
 * smallest rate of the grid that keeps the noise at or below FR_DP_RECIPE_NOISE in
 * `rounds` steps, else rate 1 (noisy). sigma is the Gaussian mechanism's; the
 * federation's sampled Skellam mechanism then plans its own, within 2% of it. */
FR_MUST fr_status fr_dp_recipe_pick_rounds(double eps, double delta, int users, long rounds,
                                           fr_dp_recipe *out, fr_err *err);

/* A federation-wide DP run's server learning rate for FedAdam (each round one step of
 * DP-SGD with Adam on the server), when the operator names none: 1/rounds, kept within
 * [FR_DP_RECIPE_SERVER_LR_MIN, FR_DP_RECIPE_SERVER_LR_MAX]; FR_DP_RECIPE_SERVER_LR_MIN
 * without a number of rounds (rounds < 1). Adam moves every coordinate by about the
 * rate each step, so the rate sets how far the model can travel in the run: about
 * one unit in all, as central DP-SGD's 1e-2 does over its 100 steps (docs/privacy.md,
 * "A recipe from the budget", where 0.01 at 20 rounds and at 50 rounds measured far
 * below 0.05 and 0.02). */
#define FR_DP_RECIPE_SERVER_LR_MIN 0.01
#define FR_DP_RECIPE_SERVER_LR_MAX 0.05
double fr_dp_recipe_server_lr(long rounds);

#endif
