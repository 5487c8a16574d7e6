/* A node's vector in a round of federation-wide user-level DP (docs/privacy.md,
 * "Federation-wide user-level DP with distributed noise"): the node decides on the
 * round's task against its own ledger (fed/fr_node_fdp.h), charges it, samples its
 * users at the round's rate and builds the ring vector of their clipped, rounded
 * gradients plus its share of the noise (privacy/fr_dp_fdp.h). The vector goes into
 * the masked sum as it is; the coordinator turns the sum into the round's step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fed/fr_node_fdp.h"
#include "fr_fed.h"
#include "privacy/fr_dp_fdp.h"
#include "privacy/fr_dp_plan.h"
#include "privacy/fr_dp_rng.h"
#include "privacy/fr_dp_sgd.h"

/* The ledger (opened on first use), the configured budget recorded once a run, and
 * the delta the node accounts at. The guarantee is the federation's: by default its
 * delta is 1/(10 N) for N the federation's users, of which the task's users_max / q
 * is an upper bound (a round expects q N users and users_max is above that), not
 * 1/(10 n) for the node's own n users, which would be far too large. */
static fr_status ledger_ready(fr_fed *f, const fr_proto_task *t, double *delta, fr_err *err)
{
    fr_status st;
    double big = (double)t->fdp_users_max / t->fdp_q;
    double fed_delta = f->cfg.dp_delta > 0
                           ? f->cfg.dp_delta
                           : fr_dp_plan_default_delta(big < 1e9 ? (int)big : 1000000000);
    if (!f->have_ledger) {
        if ((st = fr_dp_ledger_open(&f->ledger, f->cfg.state_dir, err)) != FR_OK)
            return st;
        f->have_ledger = 1;
    }
    /* private by default, as in the node's own DP rounds: with dp on and neither a
     * budget nor a noise named, the default budget rather than none */
    double eps_max = f->cfg.dp_eps_max;
    if (!(eps_max > 0) && f->cfg.dp && !(f->cfg.dp_noise > 0) && !(f->ledger.budget_eps > 0))
        eps_max = FR_NODE_DP_EPSILON_DEFAULT;
    if (!f->budget_set && eps_max > 0) {
        if ((st = fr_dp_ledger_set_budget(&f->ledger, eps_max, fed_delta, err)) != FR_OK)
            return st;
        f->budget_set = 1;
    }
    *delta = f->ledger.budget_delta > 0 ? f->ledger.budget_delta : fed_delta;
    return FR_OK;
}

/* The sampled users' vector from the global model. */
static fr_status vector(fr_fed *f, const fr_proto_task *t, const fr_node_fdp *d, uint32_t *ring,
                        double *loss, fr_err *err)
{
    const fr_backend *be = f->cfg.be ? f->cfg.be : fr_backend_cpu();
    fr_model local = {0};
    fr_dp_trainer dtr = {0};
    fr_dp_rng rng = {0};
    int have_rng = 0;
    int32_t *users = NULL;
    float *params = malloc(f->global.n * sizeof(float));
    fr_status st = params ? FR_OK : fr_fail(err, FR_ENOMEM, "fdp: out of memory");
    if (st == FR_OK && (st = fr_model_init(&local, &f->global.cfg, be, f->global.item_tokens,
                                           f->global.item_ids, err)) == FR_OK) {
        fr_model_get_params(&f->global, params);
        fr_model_set_params(&local, params);
    }
    fr_train_config tc = {.batch = (int)t->batch,
                          .seq_len = (int)t->seq_len,
                          .negatives = (int)t->negatives,
                          .lr = (float)t->lr,
                          .seed =
                              fr_node_round_train_seed(f->cfg.seed_fixed, f->cfg.seed, t->round)};
    fr_dp_config dc = {.sampling_rate = d->q,
                       .noise_multiplier = d->sk.sigma,
                       .clip = (float)d->sk.clip,
                       .max_windows = f->cfg.dp_max_windows,
                       .workers = f->cfg.threads};
    if (st == FR_OK)
        st = fr_dp_trainer_init(&dtr, &local, &tc, &dc, f->ds.train_off, f->ds.num_users,
                                f->windows, f->n_windows, err);
    /* a fixed seed (tests) still draws a new sample and new noise each round */
    char seed[512];
    int seed_len = f->cfg.dp_seed ? snprintf(seed, sizeof seed, "%s/fdp/%lld", f->cfg.dp_seed,
                                             (long long)t->round)
                                  : 0;
    if (st == FR_OK && (st = fr_dp_rng_init(&rng, f->cfg.dp_seed ? seed : NULL,
                                            seed_len > 0 ? (size_t)seed_len : 0, err)) == FR_OK)
        have_rng = 1;
    if (st == FR_OK &&
        !(users = malloc((size_t)(dtr.n_users > 0 ? dtr.n_users : 1) * sizeof *users)))
        st = fr_fail(err, FR_ENOMEM, "fdp: out of memory");
    int n = 0;
    size_t clamped = 0;
    fr_dp_step_stats ss = {0};
    if (st == FR_OK) {
        for (int u = 0; u < dtr.n_users; u++)
            if (fr_dp_rng_uniform(&rng) < d->q)
                users[n++] = u;
        fr_dp_draw_negatives(&dtr);
        st = fr_dp_fdp_node_vector(&dtr, &d->sk, users, n, &rng, ring, &clamped, &ss, err);
    }
    if (st == FR_OK) {
        *loss = ss.positions ? ss.loss_sum / (double)ss.positions : 0;
        fr_fed_log("round %lld: federation-wide DP: %d of %d users sampled (q %g), %d clipped "
                   "to %g, noise share for any %d of %d nodes%s",
                   (long long)t->round, n, dtr.n_users, d->q, ss.clipped, d->sk.clip,
                   d->sk.threshold, d->sk.nodes, clamped ? "; the clamp cut coordinates" : "");
    }
    if (have_rng)
        fr_dp_rng_free(&rng);
    fr_dp_trainer_free(&dtr);
    fr_model_free(&local);
    free(users);
    free(params);
    return st;
}

fr_status fr_fed_fdp_round(fr_fed *f, const fr_proto_task *t, int secagg_n, int secagg_t,
                           uint32_t **ring_out, double *loss, int *refused, fr_err *err)
{
    *ring_out = NULL;
    *refused = 0;
    *loss = 0;
    double delta = 0;
    fr_node_fdp d;
    fr_status st;
    if (!(t->fdp_q > 0 && t->fdp_q <= 1))
        return fr_fail(err, FR_EINVAL, "task: fdp_q %g must be in (0, 1]", t->fdp_q);
    if ((st = fr_fed_load_data(f, (int)t->seq_len, err)) != FR_OK ||
        (st = ledger_ready(f, t, &delta, err)) != FR_OK ||
        (st = fr_node_fdp_prepare(&f->ledger, t, (int)t->secagg, secagg_n, secagg_t, f->global.n,
                                  f->cfg.fdp_colluders, delta, &d, err)) != FR_OK)
        return st;
    if (d.verdict != FR_NODE_FDP_GO) {
        fr_fed_log("round %lld: refusing the federation-wide DP round: %s: %s", (long long)t->round,
                   fr_node_fdp_verdict_str(d.verdict), d.why);
        *refused = 1;
        return FR_OK;
    }
    uint32_t *ring = malloc(f->global.n * sizeof *ring);
    if (!ring)
        return fr_fail(err, FR_ENOMEM, "fdp: out of memory for the node's vector");
    /* charged (synced) before the vector can leave */
    if ((st = fr_node_fdp_record(&f->ledger, &d, err)) != FR_OK ||
        (st = fr_dp_ledger_spent(&f->ledger, delta, &f->eps_spent, err)) != FR_OK ||
        (st = vector(f, t, &d, ring, loss, err)) != FR_OK) {
        free(ring);
        return st;
    }
    double fed = 0;
    if (fr_dp_ledger_fdp_spent(&f->ledger, delta, &fed, err) == FR_OK)
        fr_fed_log("round %lld: federation-wide epsilon %.4g at delta %.3g after %ld such rounds "
                   "(ledger: %.4g in all)",
                   (long long)t->round, fed, delta, f->ledger.fdp_steps, f->eps_spent);
    *ring_out = ring;
    return FR_OK;
}
