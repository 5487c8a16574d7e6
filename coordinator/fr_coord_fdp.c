/* Federation-wide user-level DP at the coordinator (docs/privacy.md, "Federation-wide
 * user-level DP with distributed noise"): the round's mechanism in every secure
 * round's task, and the unmasked sum of the members' ring vectors turned into the
 * step its server optimiser takes. The coordinator adds no noise and holds no user's
 * data: the members' shares carry the noise, and each member checks the task against
 * its own ledger before its vector leaves it. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fr_coord.h"
#include "privacy/fr_dp_fdp.h"
#include "privacy/fr_dp_plan.h"
#include "privacy/fr_dp_recipe.h"

/* The most users one round sums, well above the q N it expects: a round over it only
 * clamps at the nodes, never wraps (privacy/fr_skellam.h). */
static long users_max(const fr_coord_config *cfg)
{
    double expect = cfg->dp_fed_q * cfg->dp_fed_users;
    return (long)ceil(expect + 10 * sqrt(expect) + 10);
}

/* The mechanism of a secure round of n members and threshold t, as every member
 * derives it from the task (fed/fr_node_fdp.c). */
static fr_status mechanism(const fr_coord *c, int n, int t, fr_skellam *sk, fr_err *err)
{
    *sk = (fr_skellam){.clip = c->cfg.dp_fed_clip,
                       .sigma = c->fdp_sigma,
                       .nodes = n,
                       .threshold = t,
                       .dim = c->model.n,
                       .users_max = users_max(&c->cfg)};
    return fr_skellam_init(sk, err);
}

fr_status fr_coord_fdp_init(fr_coord *c, fr_err *err)
{
    const fr_coord_config *cfg = &c->cfg;
    if (!cfg->dp_federation)
        return FR_OK;
    if (!fr_coord_secagg_enabled(c))
        return fr_fail(err, FR_EINVAL,
                       "dp-federation: needs secure-aggregation on (in a plain round the "
                       "coordinator would see each node's vector with its share of the noise "
                       "alone)");
    if (cfg->dp_fed_users < 1)
        return fr_fail(err, FR_EINVAL, "dp-fed-users: give the federation's users (>= 1)");
    if (!(cfg->dp_fed_q > 0) && cfg->dp_fed_epsilon > 0 && cfg->rounds > 0) {
        /* the recipe from the budget (privacy/fr_dp_recipe.h) */
        double delta = cfg->dp_fed_delta > 0 ? cfg->dp_fed_delta : 0.1 / cfg->dp_fed_users;
        fr_dp_recipe r;
        fr_status st = fr_dp_recipe_pick_rounds(cfg->dp_fed_epsilon, delta, cfg->dp_fed_users,
                                                cfg->rounds, &r, err);
        if (st != FR_OK)
            return fr_fail(err, st, "dp-fed-q: %s", err->msg);
        c->cfg.dp_fed_q = r.q;
        fr_coord_log("dp-federation: q %g from the budget (%d users, %d rounds; noise on a "
                     "coordinate of the mean gradient about %.3g)",
                     r.q, cfg->dp_fed_users, cfg->rounds, r.noise_mean);
    }
    if (!(cfg->dp_fed_q > 0 && cfg->dp_fed_q <= 1))
        return fr_fail(err, FR_EINVAL, "dp-fed-q: %g must be in (0, 1]", cfg->dp_fed_q);
    if ((cfg->dp_fed_sigma > 0) == (cfg->dp_fed_epsilon > 0))
        return fr_fail(err, FR_EINVAL, "dp-federation: give one of dp-fed-sigma or dp-fed-epsilon");
    c->fdp_sigma = cfg->dp_fed_sigma;
    fr_skellam sk;
    int n = cfg->min_nodes > FR_SECAGG_MIN_MEMBERS ? cfg->min_nodes : FR_SECAGG_MIN_MEMBERS;
    if (cfg->dp_fed_epsilon > 0) {
        /* planned for rounds of the fewest members a round opens with; a round with more
         * has a slightly coarser ring, and each node's ledger counts what it was */
        if (cfg->rounds < 1)
            return fr_fail(err, FR_EINVAL, "dp-fed-epsilon: needs --rounds (the budget's length)");
        double delta = cfg->dp_fed_delta > 0 ? cfg->dp_fed_delta : 0.1 / cfg->dp_fed_users;
        double eps = 0;
        c->fdp_sigma = 1; /* replaced by the plan */
        fr_status st = mechanism(c, n, 2 * n / 3 + 1, &sk, err);
        if (st == FR_OK)
            st = fr_dp_plan_fdp_sigma(cfg->dp_fed_epsilon, delta, cfg->dp_fed_q, cfg->rounds, &sk,
                                      &eps, err);
        if (st != FR_OK)
            return fr_fail(err, st, "dp-fed-epsilon: %s", err->msg);
        c->fdp_sigma = sk.sigma;
        fr_coord_log("dp-federation: sigma %.4g for epsilon %.4g at delta %.3g over %d rounds "
                     "(q %g, %d users)",
                     sk.sigma, eps, delta, cfg->rounds, cfg->dp_fed_q, cfg->dp_fed_users);
    }
    fr_status st = mechanism(c, n, 2 * n / 3 + 1, &sk, err);
    if (st != FR_OK)
        return fr_fail(err, st, "dp-federation: %s", err->msg);
    fr_coord_log("dp-federation: every round is user-level DP-SGD over the federation: q %g, "
                 "sigma %.4g, clip %g, users_max %ld; the nodes add the noise in shares",
                 cfg->dp_fed_q, c->fdp_sigma, cfg->dp_fed_clip, users_max(cfg));
    return FR_OK;
}

void fr_coord_fdp_task(const fr_coord *c, fr_proto_task *t)
{
    if (!c->cfg.dp_federation || !c->rd.sa.on)
        return;
    const fr_secagg_params *p = &c->rd.sa.setup.p;
    t->fdp = 1;
    t->fdp_q = c->cfg.dp_fed_q;
    t->fdp_sigma = c->fdp_sigma;
    t->fdp_clip = c->cfg.dp_fed_clip;
    /* any t survivors of the n members carry the full noise */
    t->fdp_t = p->t;
    t->fdp_nodes = p->n;
    t->fdp_users_max = users_max(&c->cfg);
}

fr_status fr_coord_fdp_step(fr_coord *c, fr_err *err)
{
    if (!c->cfg.dp_federation)
        return FR_OK;
    if (!c->rd.sa.on)
        return fr_fail(err, FR_EINVAL, "dp-federation: round %ld was not secure", c->rd.id);
    const fr_secagg_params *p = &c->rd.sa.setup.p;
    fr_skellam sk;
    fr_status st = mechanism(c, p->n, p->t, &sk, err);
    if (st != FR_OK)
        return st;
    fr_dp_fdp_round_delta(&c->model, &sk, c->cfg.dp_fed_q, c->cfg.dp_fed_users, c->rd.agg.weight,
                          c->rd.agg.sum);
    c->fdp_rounds++;
    fr_coord_log("round %ld: federation-wide DP step from %d members' shares (noise sd %.4g per "
                 "coordinate, any %d of %d shares carry it)",
                 c->rd.id, c->rd.agg.count, c->fdp_sigma * c->cfg.dp_fed_clip, p->t, p->n);
    return FR_OK;
}
