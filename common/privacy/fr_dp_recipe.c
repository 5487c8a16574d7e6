/* A private run's recipe from its budget (see fr_dp_recipe.h). */
#include "privacy/fr_dp_recipe.h"

#include <math.h>
#include <string.h>

#include "privacy/fr_dp_accountant.h"
#include "privacy/fr_dp_sgd.h"

/* The rates tried, ascending. */
static const double qs[] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0};

static fr_status at_rate(double q, long steps, double eps, double delta, int users, fr_dp_recipe *r,
                         fr_err *err)
{
    memset(r, 0, sizeof *r);
    r->q = q;
    r->steps = steps;
    r->clip = FR_DP_RECIPE_CLIP;
    r->lr = FR_DP_RECIPE_LR;
    fr_status st = fr_dp_sigma(q, eps, r->steps, delta, &r->sigma, err);
    r->noise_mean = r->sigma * r->clip / (q * users);
    return st;
}

fr_status fr_dp_recipe_pick(double eps, double delta, int users, int epochs, fr_dp_recipe *out,
                            fr_err *err)
{
    memset(out, 0, sizeof *out);
    if (!(eps > 0) || isinf(eps) || !(delta > 0 && delta < 1) || users < 1 || epochs < 1)
        return fr_fail(err, FR_EINVAL,
                       "dp recipe: epsilon %g, delta %g, %d users, %d epochs: need epsilon > 0, "
                       "delta in (0, 1), at least one user and one epoch",
                       eps, delta, users, epochs);
    fr_status st;
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        if ((qs[i] * users < FR_DP_RECIPE_MIN_USERS && qs[i] < 1.0) ||
            (long)epochs * fr_dp_steps_per_epoch(qs[i]) < FR_DP_RECIPE_MIN_STEPS)
            continue;
        if ((st = at_rate(qs[i], (long)epochs * fr_dp_steps_per_epoch(qs[i]), eps, delta, users,
                          out, err)) != FR_OK)
            return st;
        if (out->noise_mean <= FR_DP_RECIPE_NOISE)
            return FR_OK;
    }
    /* Noisy at every rate: the largest batches that leave the steps a run needs. */
    double q = (double)epochs / FR_DP_RECIPE_MIN_STEPS;
    if (q > 1.0)
        q = 1.0;
    if ((st = at_rate(q, (long)epochs * fr_dp_steps_per_epoch(q), eps, delta, users, out, err)) !=
        FR_OK)
        return st;
    out->noisy = 1;
    return FR_OK;
}

fr_status fr_dp_recipe_pick_rounds(double eps, double delta, int users, long rounds,
                                   fr_dp_recipe *out, fr_err *err)
{
    memset(out, 0, sizeof *out);
    if (!(eps > 0) || isinf(eps) || !(delta > 0 && delta < 1) || users < 1 || rounds < 1)
        return fr_fail(err, FR_EINVAL,
                       "dp recipe: epsilon %g, delta %g, %d users, %ld rounds: need epsilon > 0, "
                       "delta in (0, 1), at least one user and one round",
                       eps, delta, users, rounds);
    fr_status st;
    /* the steps are the rounds: a larger rate only buys less noise with more work, so
     * the smallest that keeps the noise down, else every user every round */
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        if (qs[i] * users < FR_DP_RECIPE_MIN_USERS && qs[i] < 1.0)
            continue;
        if ((st = at_rate(qs[i], rounds, eps, delta, users, out, err)) != FR_OK)
            return st;
        if (out->noise_mean <= FR_DP_RECIPE_NOISE)
            return FR_OK;
    }
    out->noisy = 1;
    return FR_OK;
}
