/* The DP planner (see fr_dp_plan.h). */
#include "privacy/fr_dp_plan.h"

#include <math.h>
#include <string.h>

double fr_dp_plan_default_delta(int users)
{
    return 1.0 / (10.0 * (users > 1 ? users : 1));
}

double fr_dp_plan_delta(const fr_dp_ledger *l, double delta, int users)
{
    if (l && l->budget_eps > 0)
        return l->budget_delta; /* the budget's delta is the one that is accounted */
    return delta > 0 ? delta : fr_dp_plan_default_delta(users);
}

double fr_dp_plan_default_q(int batch, int users)
{
    return batch >= users ? 1.0 : (double)batch / users;
}

long fr_dp_plan_rounds_left(int max_rounds, int rounds_done)
{
    if (max_rounds <= 0)
        return FR_DP_PLAN_DEFAULT_ROUNDS;
    long left = (long)max_rounds - rounds_done;
    return left < 1 ? 1 : left;
}

fr_status fr_dp_plan_make(fr_dp_ledger *l, const fr_dp_plan_req *r, fr_dp_plan *out, fr_err *err)
{
    fr_status st;
    memset(out, 0, sizeof *out);
    if (!(r->q > 0 && r->q <= 1) || r->steps < 1 || r->rounds < 1)
        return fr_fail(err, FR_EINVAL,
                       "dp plan: q %g, %ld steps, %ld rounds: need q in (0, 1] "
                       "and at least one step and round",
                       r->q, r->steps, r->rounds);
    if (r->eps_max > 0 &&
        (st = fr_dp_ledger_set_budget(l, r->eps_max, fr_dp_plan_delta(NULL, r->delta, r->users),
                                      err)) != FR_OK)
        return st;
    out->delta = fr_dp_plan_delta(l, r->delta, r->users);
    /* the ledger as it will be when the steps start: with the selection spent */
    fr_dp_ledger after = *l;
    if (r->sel_sigma > 0 && (st = fr_rdp_compose(&after.rdp, 1.0, r->sel_sigma, 1, err)) != FR_OK)
        return st;
    l = &after;
    double sens = r->sensitivity > 0 ? r->sensitivity : 1.0;
    if (r->noise > 0) {
        out->sigma = r->noise;
        out->sigma_acc = r->noise / sens;
    } else {
        if (!(l->budget_eps > 0))
            return fr_fail(err, FR_EINVAL,
                           "dp: give the noise multiplier (dp-noise) or a budget (dp-epsilon-max)");
        /* the whole budget spread over the planned rounds, from the ledger's state now */
        if ((st = fr_dp_ledger_sigma_for(l, r->q, r->steps * r->rounds, &out->sigma_acc, err)) !=
            FR_OK)
            return st;
        out->sigma = out->sigma_acc * sens;
    }
    fr_err why = {{0}};
    if (fr_dp_ledger_check(l, r->q, out->sigma_acc, r->steps, &why) != FR_OK) {
        out->over_budget = 1;
        memcpy(out->why, why.msg, sizeof out->why);
    }
    return FR_OK;
}

fr_status fr_dp_plan_rows_sigma(const fr_dp_ledger *l, double share, double *sigma, fr_err *err)
{
    if (!(l->budget_eps > 0))
        return fr_fail(err, FR_EINVAL,
                       "dp rows: the selection's share needs a budget (dp-epsilon-max), or give "
                       "its noise");
    if (!(share > 0 && share < 1))
        return fr_fail(err, FR_EINVAL, "dp rows: share %g of the budget must be in (0, 1)", share);
    return fr_dp_sigma(1.0, share * l->budget_eps, 1, l->budget_delta, sigma, err);
}

/* epsilon of `rounds` sampled Skellam rounds at noise multiplier sigma */
static fr_status fdp_eps(double sigma, double delta, double q, long rounds, fr_skellam *sk,
                         double *eps, fr_err *err)
{
    sk->sigma = sigma;
    fr_status st = fr_skellam_init(sk, err);
    if (st != FR_OK)
        return st;
    fr_rdp a;
    fr_rdp_init(&a);
    if ((st = fr_rdp_compose_skellam(&a, q, sk->l1, sk->l2, sk->mu, rounds, err)) != FR_OK)
        return st;
    return fr_rdp_epsilon(&a, delta, eps, NULL, err);
}

fr_status fr_dp_plan_fdp_sigma(double eps_target, double delta, double q, long rounds,
                               fr_skellam *sk, double *eps, fr_err *err)
{
    fr_status st;
    double e = 0;
    if (!(eps_target > 0) || isinf(eps_target) || !(delta > 0 && delta < 1) || !(q > 0 && q <= 1) ||
        rounds < 1)
        return fr_fail(err, FR_EINVAL,
                       "fdp plan: epsilon %g, delta %g, q %g, %ld rounds: need epsilon > 0, "
                       "delta and q in (0, 1), at least one round",
                       eps_target, delta, q, rounds);
    double lo = 1e-2, hi = 0.5;
    for (;;) {
        if ((st = fdp_eps(hi, delta, q, rounds, sk, &e, err)) != FR_OK)
            return st;
        if (e <= eps_target)
            break;
        lo = hi;
        hi *= 2;
        if (hi > 1e5)
            return fr_fail(err, FR_EINVAL,
                           "fdp plan: no noise multiplier up to 1e5 reaches "
                           "epsilon %g in %ld rounds",
                           eps_target, rounds);
    }
    for (int it = 0; it < 60 && hi - lo > 1e-5 * hi; it++) {
        double mid = 0.5 * (lo + hi);
        if ((st = fdp_eps(mid, delta, q, rounds, sk, &e, err)) != FR_OK)
            return st;
        if (e <= eps_target)
            hi = mid;
        else
            lo = mid;
    }
    /* 3 significant digits, rounded up; a step up if the scale's power of two moved */
    double scale = pow(10.0, floor(log10(hi)) - 2.0), s = ceil(hi / scale - 1e-9) * scale;
    for (int k = 0; k < 20; k++) {
        if ((st = fdp_eps(s, delta, q, rounds, sk, &e, err)) != FR_OK)
            return st;
        if (e <= eps_target)
            break;
        s += scale;
    }
    *eps = e;
    return FR_OK;
}
