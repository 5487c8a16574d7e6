/* The DP side of `fedrecall-node train --dp`: the ledger, the plan, the row selection
 * and the DP trainer (docs/privacy.md). */
#include "fr_train_dp.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "privacy/fr_dp_accountant.h"
#include "privacy/fr_dp_plan.h"
#include "privacy/fr_dp_recipe.h"

/* --dp-sites: the federation the users would form, with the Skellam mechanism it would
 * publish: threshold t > 2n/3 (the nodes' floor), users_max well above the q N users a
 * round expects (a round over it only clamps, never wraps). Plans sigma for the budget
 * when none is given, on an empty ledger. */
static fr_status fdp_setup(fr_skellam *sk, fr_dp_ledger *ledger, size_t dim, int n, double q,
                           long planned, double delta, const fr_train_dp_args *a, fr_err *err)
{
    double expect = q * n, eps = 0;
    *sk = (fr_skellam){.clip = a->clip,
                       .sigma = a->sigma,
                       .nodes = a->sites,
                       .threshold = 2 * a->sites / 3 + 1,
                       .dim = dim,
                       .users_max = (long)ceil(expect + 10 * sqrt(expect) + 10)};
    if (a->sigma > 0)
        return fr_skellam_init(sk, err);
    if (ledger->steps > 0)
        return fr_fail(err, FR_EINVAL,
                       "--dp-sites plans its noise on an empty ledger; give --dp-noise or a new "
                       "--state-dir");
    return fr_dp_plan_fdp_sigma(ledger->budget_eps, delta, q, planned, sk, &eps, err);
}

/* The sampling rate of the recipe from the budget (fr_dp_recipe.h), when a budget is
 * given or recorded and no noise multiplier is; 0 otherwise. */
static fr_status recipe_q(const fr_dp_ledger *ledger, const fr_train_dp_args *a, int users,
                          int epochs, double *q, fr_err *err)
{
    *q = 0;
    double eps = a->eps_max > 0 ? a->eps_max : ledger->budget_eps;
    if (!(eps > 0) || a->sigma > 0)
        return FR_OK;
    fr_dp_recipe r;
    fr_status st =
        fr_dp_recipe_pick(eps, fr_dp_plan_delta(a->eps_max > 0 ? NULL : ledger, a->delta, users),
                          users, epochs, &r, err);
    if (st != FR_OK)
        return st;
    *q = r.q;
    printf("dp: recipe from the budget: q=%g (%ld steps), noise on a coordinate of the mean "
           "gradient %.3g%s\n",
           r.q, r.steps, r.noise_mean,
           r.noisy ? " (above the recipe's bound: the largest batches that leave its fewest steps)"
                   : "");
    return FR_OK;
}

/* The row selection's noise multiplier: the one given, else the share of the budget;
 * 0 when the run selects no rows (no share, or federation-wide DP, which trains every
 * row). */
static fr_status rows_sigma(fr_dp_ledger *ledger, const fr_train_dp_args *a, int users, double *sel,
                            fr_err *err)
{
    *sel = 0;
    if (a->sites > 0 || !(a->rows_share > 0 || a->rows_noise > 0))
        return FR_OK;
    if (a->rows_noise > 0) {
        *sel = a->rows_noise;
        return FR_OK;
    }
    fr_status st;
    /* the budget must be in force to take a share of it */
    if (a->eps_max > 0 &&
        (st = fr_dp_ledger_set_budget(ledger, a->eps_max, fr_dp_plan_delta(NULL, a->delta, users),
                                      err)) != FR_OK)
        return st;
    if (!(ledger->budget_eps > 0)) {
        printf("dp: no budget, so no row selection (give --dp-rows-noise to select rows)\n");
        return FR_OK;
    }
    return fr_dp_plan_rows_sigma(ledger, a->rows_share, sel, err);
}

/* Open the ledger, settle q, delta and sigma, refuse a run over the budget, and set up
 * the DP trainer. Prints one line saying what the run will spend. */
fr_status fr_train_dp_setup(fr_dp_trainer *dtr, fr_dp_ledger *ledger, fr_dp_rows *rows,
                            fr_model *model, const fr_train_config *tc, const fr_dataset *ds,
                            const int32_t *windows, long n_windows, int epochs, int threads,
                            const fr_train_dp_args *a, fr_skellam *sk, double *delta_out,
                            fr_err *err)
{
    fr_status st;
    int n = fr_dp_population(ds->train_off, ds->num_users, tc->seq_len);
    if (n < 1)
        return fr_fail(err, FR_ENODATA, "dp: no user has a training window");
    if ((st = fr_dp_ledger_open(ledger, a->state_dir, err)) != FR_OK)
        return st;
    double q = a->q;
    if (!(q > 0) && (st = recipe_q(ledger, a, n, epochs, &q, err)) != FR_OK)
        return st;
    if (!(q > 0))
        q = fr_dp_plan_default_q(tc->batch, n);
    long planned = (long)epochs * fr_dp_steps_per_epoch(q);
    fr_dp_plan plan;
    fr_dp_plan_req req = {.eps_max = a->eps_max,
                          .delta = a->delta,
                          .noise = a->sigma,
                          .users = n,
                          .q = q,
                          .steps = planned,
                          .rounds = 1};
    if (a->sites > 0) { /* the budget is recorded here; the federation plans its own sigma */
        req.noise = a->sigma > 0 ? a->sigma : 1.0;
        if (!(a->sigma > 0) && !(a->eps_max > 0) && !(ledger->budget_eps > 0))
            return fr_fail(err, FR_EINVAL, "dp: give --dp-noise or --dp-epsilon-max");
    }
    double sel = 0;
    if ((st = rows_sigma(ledger, a, n, &sel, err)) != FR_OK)
        return st;
    req.sel_sigma = sel;
    if ((st = fr_dp_plan_make(ledger, &req, &plan, err)) != FR_OK)
        return st;
    if (plan.over_budget && a->sites == 0)
        return fr_fail(err, FR_EINVAL, "%s", plan.why);
    double sigma = plan.sigma, delta = plan.delta;
    fr_rdp after = ledger->rdp;
    double eps_after = 0;
    if (sel > 0 && (st = fr_rdp_compose(&after, 1.0, sel, 1, err)) != FR_OK)
        return st;
    if (a->sites > 0) {
        if ((st = fdp_setup(sk, ledger, model->n, n, q, planned, delta, a, err)) != FR_OK ||
            (st = fr_dp_ledger_check_skellam(ledger, q, sk->l1, sk->l2, sk->mu, planned, err)) !=
                FR_OK)
            return st;
        sigma = sk->sigma;
        st = fr_rdp_compose_skellam(&after, q, sk->l1, sk->l2, sk->mu, planned, err);
    } else {
        st = fr_rdp_compose(&after, q, sigma, planned, err);
    }
    if (st != FR_OK || (st = fr_rdp_epsilon(&after, delta, &eps_after, NULL, err)) != FR_OK)
        return st;
    printf("dp: %d users, q=%g, sigma=%.4g, C=%g, %ld steps; epsilon at delta %g will be %.4g "
           "after this run%s\n",
           n, q, sigma, (double)a->clip, planned, delta, eps_after,
           ledger->budget_eps > 0 ? "" : " (no budget set)");
    if (a->sites > 0)
        printf("dp: federation-wide over %d sites, distributed Skellam noise: any %d shares carry "
               "it; ring scale 2^%d, users_max %ld\n",
               sk->nodes, sk->threshold, (int)log2(sk->scale), sk->users_max);
    if (a->seed)
        printf("dp: warning: --dp-seed fixes the noise; this run has no privacy guarantee\n");
    *delta_out = delta;
    fr_dp_config dc = {.sampling_rate = q,
                       .noise_multiplier = sigma,
                       .clip = a->clip,
                       .max_windows = a->max_windows,
                       .workers = threads,
                       .per_user = a->per_user,
                       .total_steps = planned,
                       .seed = a->seed,
                       .seed_len = a->seed ? strlen(a->seed) : 0};
    if ((st = fr_dp_trainer_init(dtr, model, tc, &dc, ds->train_off, ds->num_users, windows,
                                 n_windows, err)) != FR_OK)
        return st;
    if (!(sel > 0))
        return FR_OK;
    if ((st = fr_dp_rows_select(rows, dtr, ledger, sel, a->rows_z * sel, err)) != FR_OK ||
        (st = fr_dp_trainer_set_rows(dtr, rows, err)) != FR_OK)
        return st;
    printf("dp: row selection (noise %.4g, threshold %.4g): %d of %d item rows trained, the others "
           "scored from content\n",
           sel, rows->threshold, rows->n_trained, model->cfg.num_items - 1);
    return FR_OK;
}
