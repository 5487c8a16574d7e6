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

static fr_status check(double eps, double delta, int users, long n, const char *unit, fr_err *err)
{
    if (!(eps > 0) || isinf(eps) || !(delta > 0 && delta < 1) || users < 1 || n < 1)
        return fr_fail(err, FR_EINVAL,
                       "dp recipe: epsilon %g, delta %g, %d users, %ld %ss: need epsilon > 0, "
                       "delta in (0, 1), at least one user and one %s",
                       eps, delta, users, n, unit, unit);
    return FR_OK;
}

/* The smallest rate of the grid whose noise on the mean is within the bound, with
 * enough users a step (and, for a run of `epochs`, enough steps; epochs 0: the steps
 * are `rounds` whatever the rate). *found 0 when none is. */
static fr_status quietest(double eps, double delta, int users, int epochs, long rounds,
                          fr_dp_recipe *out, int *found, fr_err *err)
{
    *found = 0;
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        long steps = epochs > 0 ? (long)epochs * fr_dp_steps_per_epoch(qs[i]) : rounds;
        if ((qs[i] * users < FR_DP_RECIPE_MIN_USERS && qs[i] < 1.0) ||
            (epochs > 0 && steps < FR_DP_RECIPE_MIN_STEPS))
            continue;
        fr_status st = at_rate(qs[i], steps, eps, delta, users, out, err);
        if (st != FR_OK)
            return st;
        if (out->noise_mean <= FR_DP_RECIPE_NOISE) {
            *found = 1;
            return FR_OK;
        }
    }
    return FR_OK;
}

fr_status fr_dp_recipe_pick(double eps, double delta, int users, int epochs, fr_dp_recipe *out,
                            fr_err *err)
{
    memset(out, 0, sizeof *out);
    int found = 0;
    fr_status st = check(eps, delta, users, epochs, "epoch", err);
    if (st != FR_OK || (st = quietest(eps, delta, users, epochs, 0, out, &found, err)) != FR_OK ||
        found)
        return st;
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
    int found = 0;
    /* the steps are the rounds: a larger rate only buys less noise with more work, so
     * the smallest that keeps the noise down, else every user every round (the grid's
     * last rate, 1, which the loop leaves in out) */
    fr_status st = check(eps, delta, users, rounds, "round", err);
    if (st != FR_OK || (st = quietest(eps, delta, users, 0, rounds, out, &found, err)) != FR_OK)
        return st;
    out->noisy = !found;
    return FR_OK;
}

double fr_dp_recipe_server_lr(long rounds)
{
    if (rounds < 1)
        return FR_DP_RECIPE_SERVER_LR_MIN;
    double lr = 1.0 / (double)rounds;
    return lr < FR_DP_RECIPE_SERVER_LR_MIN   ? FR_DP_RECIPE_SERVER_LR_MIN
           : lr > FR_DP_RECIPE_SERVER_LR_MAX ? FR_DP_RECIPE_SERVER_LR_MAX
                                             : lr;
}
