/* Federation-wide user-level DP at the coordinator (docs/privacy.md, "Federation-wide
 * user-level DP with distributed noise"): the round's mechanism in every secure
 * round's task, and the unmasked sum of the members' ring vectors turned into the
 * step its server optimiser takes. The coordinator adds no noise and holds no user's
 * data: the members' shares carry the noise, and each member checks the task against
 * its own ledger before its vector leaves it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
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

/* The federation's delta: the one the budget was planned at, 1/(10 N) unless given. */
static double fed_delta(const fr_coord_config *cfg)
{
    return cfg->dp_fed_delta > 0 ? cfg->dp_fed_delta : 0.1 / cfg->dp_fed_users;
}

int fr_coord_fdp_round(const fr_coord *c, fr_fdp_round *r)
{
    fr_proto_task t = {0};
    fr_coord_fdp_task(c, &t);
    if (!t.fdp)
        return 0;
    /* the task's own values, so that the coordinator counts what the members charged */
    *r = (fr_fdp_round){.round = c->rd.id,
                        .q = t.fdp_q,
                        .sigma = t.fdp_sigma,
                        .clip = t.fdp_clip,
                        .nodes = (int)t.fdp_nodes,
                        .threshold = (int)t.fdp_t,
                        .users_max = (long)t.fdp_users_max,
                        .dim = c->model.n,
                        .delta = fed_delta(&c->cfg)};
    return 1;
}

fr_status fr_coord_fdp_load(fr_coord *c, fr_err *err)
{
    fr_fdp_round *rows = NULL;
    int n = 0;
    fr_fdp_spent_init(&c->fdp_spent);
    fr_status st = fr_store_fdp_rounds(&c->store, &rows, &n, err);
    for (int i = 0; i < n && st == FR_OK; i++)
        st = fr_fdp_spent_add(&c->fdp_spent, &rows[i], err);
    free(rows);
    if (st == FR_OK && n > 0) {
        double eps = 0, delta = c->cfg.dp_federation ? fed_delta(&c->cfg) : c->fdp_spent.last.delta;
        if ((st = fr_fdp_spent_epsilon(&c->fdp_spent, delta, &eps, err)) == FR_OK)
            fr_coord_log("dp-federation: %d federation-wide rounds published so far, epsilon %.4g "
                         "at delta %g",
                         n, eps, delta);
    }
    return st;
}

void fr_coord_fdp_published(fr_coord *c, const fr_fdp_round *r)
{
    fr_err err = {{0}};
    double eps = 0;
    if (fr_fdp_spent_add(&c->fdp_spent, r, &err) != FR_OK ||
        fr_fdp_spent_epsilon(&c->fdp_spent, r->delta, &eps, &err) != FR_OK) {
        /* the members derived the same mechanism from the task and took part: this
         * cannot fail for a round that ran; a restart recomputes from the store */
        fr_coord_log("round %ld: the federation's epsilon: %s", r->round, err.msg);
        return;
    }
    fr_coord_log("round %ld: federation-wide epsilon %.4g at delta %g after %ld rounds", r->round,
                 eps, r->delta, c->fdp_spent.rounds);
}

fr_status fr_coord_fdp_figures(const fr_coord *c, fr_coord_fdp_view *v, fr_err *err)
{
    memset(v, 0, sizeof *v);
    v->planned_eps = -1;
    const fr_fdp_spent *s = &c->fdp_spent;
    v->on = c->cfg.dp_federation;
    if (!v->on && s->rounds == 0)
        return FR_OK;
    v->rounds = s->rounds;
    v->q = v->on ? c->cfg.dp_fed_q : s->last.q;
    v->sigma = v->on ? c->fdp_sigma : s->last.sigma;
    v->clip = v->on ? c->cfg.dp_fed_clip : s->last.clip;
    v->delta = v->on ? fed_delta(&c->cfg) : s->last.delta;
    fr_status st = fr_fdp_spent_epsilon(s, v->delta, &v->eps, err);
    if (st != FR_OK || !v->on || c->cfg.rounds < 1)
        return st;
    /* the rounds still to come carry the tasks' settings with the latest round's members
     * and threshold; before the first, those the plan assumed (rounds of the fewest
     * members, as fr_coord_fdp_init) */
    long more = c->cfg.rounds > c->published ? c->cfg.rounds - c->published : 0;
    int n = c->cfg.min_nodes > FR_SECAGG_MIN_MEMBERS ? c->cfg.min_nodes : FR_SECAGG_MIN_MEMBERS;
    fr_fdp_round next = {.q = c->cfg.dp_fed_q,
                         .sigma = c->fdp_sigma,
                         .clip = c->cfg.dp_fed_clip,
                         .nodes = s->rounds ? s->last.nodes : n,
                         .threshold = s->rounds ? s->last.threshold : 2 * n / 3 + 1,
                         .users_max = users_max(&c->cfg),
                         .dim = c->model.n};
    v->planned_rounds = s->rounds + more;
    return fr_fdp_spent_planned(s, &next, more, v->delta, &v->planned_eps, err);
}
