/* The DP planner: one place where a node settles what a private run (`train --dp`)
 * or a federated round (`run` with dp) will cost before it trains. From the budget
 * (epsilon max and delta, or the default delta 1/(10 users)), what the ledger has
 * spent, the sampling rate q, the steps of a round and the rounds the budget must
 * pay for, it gives the noise multiplier: the given one when there is one, else the
 * smallest with which the spent epsilon plus every planned round stays within the
 * budget. Both commands plan here so that their defaults cannot drift apart. */
#ifndef FR_DP_PLAN_H
#define FR_DP_PLAN_H

#include "privacy/fr_dp_ledger.h"
#include "privacy/fr_skellam.h"
#include "util/fr_status.h"

/* Rounds a federated node spreads its budget over when max-rounds is not set. */
#define FR_DP_PLAN_DEFAULT_ROUNDS 10

typedef struct fr_dp_plan_req {
    double eps_max; /* budget to record in the ledger; 0 keeps the one in force (if any) */
    double delta;   /* the delta given; 0: 1/(10 users) */
    double noise;   /* the noise multiplier given; > 0 wins over the budget */
    int users;      /* the population N (users with a training window) */
    double q;       /* sampling rate in (0, 1] */
    long steps;     /* steps of one round (of the whole run for train) */
    long rounds;    /* rounds the budget must pay for, >= 1 (1 for train) */
    /* L2 sensitivity of one step in units of the clip norm C: 1 when the unit is added
     * or removed (a user of DP-SGD), 2 when it is replaced (a site of site-level DP,
     * whose clipped delta x becomes another x': |x - x'| <= 2C); 0 counts as 1 */
    double sensitivity;
    /* > 0: the run first spends one Gaussian release at sampling rate 1 with this
     * noise multiplier (private row selection, fr_dp_rows.h); the steps are planned and
     * checked on what remains after it */
    double sel_sigma;
} fr_dp_plan_req;

typedef struct fr_dp_plan {
    double sigma;         /* noise multiplier of the round: noise stddev / C */
    double sigma_acc;     /* what the accountant and the ledger count: sigma / sensitivity */
    double delta;         /* the delta that is accounted (the budget's when one is in force) */
    int over_budget;      /* the round (steps at q, sigma) would exceed the budget */
    char why[FR_ERR_LEN]; /* when over_budget: spent, remaining and the cost, in words */
} fr_dp_plan;

/* 1/(10 users): a delta well below 1/N, as user-level DP needs (a mechanism that
 * published one user's data outright with probability delta would be (0, delta)-DP;
 * with delta <= 1/(10N) the expected number of users so exposed is at most 0.1). A
 * population under 1 counts as 1. */
double fr_dp_plan_default_delta(int users);

/* The delta that is accounted: the budget's when one is in force, else the one given
 * (> 0), else the default for the population. */
double fr_dp_plan_delta(const fr_dp_ledger *l, double delta, int users);

/* q when none is given: batch / users, or 1 when one batch holds every user. */
double fr_dp_plan_default_q(int batch, int users);

/* Rounds the budget is spread over: those left of max_rounds (at least 1), or
 * FR_DP_PLAN_DEFAULT_ROUNDS without max-rounds (max_rounds <= 0). */
long fr_dp_plan_rounds_left(int max_rounds, int rounds_done);

/* Record the budget (when r->eps_max > 0), then settle delta and sigma for r and say
 * whether one round of r->steps fits what remains. FR_EINVAL when there is neither a
 * noise multiplier nor a budget, or when no noise multiplier can pay for the plan. */
FR_MUST fr_status fr_dp_plan_make(fr_dp_ledger *l, const fr_dp_plan_req *r, fr_dp_plan *out,
                                  fr_err *err);

/* The noise multiplier of a row selection that alone costs `share` of the budget's
 * epsilon at its delta (share in (0, 1)). */
FR_MUST fr_status fr_dp_plan_rows_sigma(const fr_dp_ledger *l, double share, double *sigma,
                                        fr_err *err);

/* Federation-wide DP with distributed noise: the smallest noise multiplier, to 3
 * significant digits, with which `rounds` rounds of the sampled Skellam mechanism at
 * rate q stay within eps_target at delta. sk gives the round's clip, nodes, threshold,
 * coordinates and users_max; its sigma is ignored, and on success sk holds the
 * mechanism at the chosen sigma. *eps receives the epsilon it costs. */
FR_MUST fr_status fr_dp_plan_fdp_sigma(double eps_target, double delta, double q, long rounds,
                                       fr_skellam *sk, double *eps, fr_err *err);

#endif
