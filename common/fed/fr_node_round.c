/* A node's per-round decisions (see fr_node_round.h). */
#include "fed/fr_node_round.h"

#include <math.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

#include "privacy/fr_clip.h"
#include "privacy/fr_dp_sgd.h"

double fr_node_clock_monotonic(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double fr_node_clock_wall(void *ctx)
{
    (void)ctx;
    return (double)time(NULL);
}

const char *fr_node_reason_str(fr_node_reason r)
{
    switch (r) {
    case FR_NODE_GO: return "take part";
    case FR_NODE_SKIP_NOT_OPEN: return "no round open";
    case FR_NODE_SKIP_TAKEN: return "round already taken part in";
    case FR_NODE_SKIP_VERSION: return "model version not held";
    case FR_NODE_SKIP_MAX_ROUNDS: return "max-rounds taken";
    case FR_NODE_SKIP_PLAIN_REFUSED: return "plain round refused (require-secure-aggregation)";
    case FR_NODE_SKIP_NO_DATA: return "no training data";
    case FR_NODE_SKIP_BUDGET_SPENT: return "privacy budget spent";
    case FR_NODE_STOP_MAX_ROUNDS: return "max-rounds reached";
    case FR_NODE_STOP_DONE: return "federation finished";
    case FR_NODE_SKIP_FDP_PLAIN:
        return "federation-wide DP refused in a plain round (the coordinator would see this "
               "node's vector with its share of the noise alone)";
    }
    return "unknown reason";
}

int fr_node_round_join_due(const fr_node_clock *c, double last_join, int heartbeat_s)
{
    if (last_join < 0)
        return 1;
    int every = heartbeat_s > 0 ? heartbeat_s : FR_NODE_HEARTBEAT_DEFAULT;
    return c->now(c->ctx) - last_join >= every;
}

static int max_taken(const fr_node_view *v)
{
    return v->max_rounds > 0 && v->rounds_done >= v->max_rounds;
}

fr_node_action fr_node_round_decide(const fr_node_view *v, const fr_proto_task *t,
                                    fr_node_reason *why)
{
    if (max_taken(v) && v->last_reported > v->trained_from) {
        *why = FR_NODE_STOP_MAX_ROUNDS;
        return FR_NODE_STOP;
    }
    if (t->state == FR_TASK_DONE) {
        *why = FR_NODE_STOP_DONE;
        return FR_NODE_STOP;
    }
    if (t->state != FR_TASK_OPEN)
        *why = FR_NODE_SKIP_NOT_OPEN;
    else if (t->round == v->last_round)
        *why = FR_NODE_SKIP_TAKEN;
    else if (t->model_version != v->version)
        *why = FR_NODE_SKIP_VERSION;
    else if (max_taken(v))
        *why = FR_NODE_SKIP_MAX_ROUNDS;
    else if (t->secagg) {
        *why = FR_NODE_GO;
        return FR_NODE_TRAIN_SECURE;
    } else if (t->fdp) {
        *why = FR_NODE_SKIP_FDP_PLAIN;
        return FR_NODE_SIT_OUT;
    } else if (v->require_secagg) {
        *why = FR_NODE_SKIP_PLAIN_REFUSED;
        return FR_NODE_SIT_OUT;
    } else {
        *why = FR_NODE_GO;
        return FR_NODE_TRAIN_PLAIN;
    }
    return FR_NODE_WAIT;
}

double fr_node_round_wait_s(const fr_proto_task *t, int poll)
{
    return t->retry_s > 0 ? (double)t->retry_s : (double)poll;
}

double fr_node_round_give_up(const fr_node_clock *c, const fr_proto_task *t)
{
    return c->now(c->ctx) + t->deadline_s + FR_NODE_SECURE_MARGIN_S;
}

fr_status fr_node_round_prepare(fr_dp_ledger *l, const fr_node_dp_config *c, int record_budget,
                                const fr_node_view *v, const fr_proto_task *t, long windows,
                                int users, fr_node_prep *p, fr_node_reason *why, fr_err *err)
{
    memset(p, 0, sizeof *p);
    *why = FR_NODE_GO;
    if (windows < 1) {
        *why = FR_NODE_SKIP_NO_DATA;
        return fr_fail(err, FR_ENODATA, "no training window in the local data");
    }
    p->dp = c->dp;
    p->site = c->dp && c->site;
    if (!c->dp)
        return FR_OK;
    if (p->site) {
        /* one Gaussian mechanism per round on the whole delta: every round, q = 1 */
        p->q = 1.0;
        p->steps = 1;
    } else {
        p->q = c->q > 0 ? c->q : fr_dp_plan_default_q((int)t->batch, users);
        p->steps = (long)t->local_epochs * fr_dp_steps_per_epoch(p->q);
    }
    /* private by default: a node that names no budget and no noise spends the default
     * budget rather than none */
    double eps_max = record_budget ? c->eps_max : 0;
    if (!(c->eps_max > 0) && !(c->noise > 0) && !(l->budget_eps > 0))
        eps_max = FR_NODE_DP_EPSILON_DEFAULT;
    /* the whole budget spread over the rounds left, from the ledger's state now */
    fr_dp_plan_req req = {.eps_max = eps_max,
                          .delta = c->delta,
                          .noise = c->noise,
                          .users = users,
                          .q = p->q,
                          .steps = p->steps,
                          .rounds = fr_dp_plan_rounds_left(v->max_rounds, v->rounds_done),
                          /* site level: one site's clipped delta replaced by another moves
                           * the sum by up to 2C */
                          .sensitivity = p->site ? 2.0 : 1.0};
    fr_status st = fr_dp_plan_make(l, &req, &p->plan, err);
    if (st == FR_OK && p->plan.over_budget)
        *why = FR_NODE_SKIP_BUDGET_SPENT;
    return st;
}

fr_status fr_node_round_check_loss(double loss, fr_err *err)
{
    if (!isfinite(loss))
        return fr_fail(err, FR_EINVAL, "local training diverged (loss %g); lower the task's lr",
                       loss);
    return FR_OK;
}

int fr_node_round_clip(const fr_proto_task *t, float *delta, size_t n, double *norm)
{
    /* just under the bound, so that rounding on the way cannot take it over */
    double bound = t->max_update_norm * (1 - 1e-6);
    *norm = fr_clip_l2(delta, n, bound);
    return bound > 0 && *norm > bound;
}

double fr_node_round_weight(int weight_windows, double max_weight, int users, long windows)
{
    double w = weight_windows ? (double)windows : (double)users;
    if (w < 1)
        w = 1;
    if (max_weight > 0 && w > max_weight)
        w = max_weight;
    return w;
}

void fr_node_round_metrics_public(const fr_proto_metrics *local, int require_secagg,
                                  fr_proto_metrics *out)
{
    memset(out, 0, sizeof *out);
    out->model_version = local->model_version;
    /* the operators' budget view needs it; it is a privacy parameter, not a result */
    out->eps_spent = local->eps_spent;
    if (require_secagg)
        return;
    out->clear = 1;
    out->hr10 = local->hr10;
    out->ndcg10 = local->ndcg10;
    out->recall10 = local->recall10;
}

uint64_t fr_node_round_train_seed(int fixed, uint64_t seed, int64_t round)
{
    if (fixed)
        return seed + (uint64_t)round;
    uint64_t s;
    randombytes_buf(&s, sizeof s);
    return s;
}

void fr_node_round_update_head(const fr_node_view *v, const fr_proto_task *t, int users,
                               long windows, double loss, size_t n, fr_proto_update *u)
{
    memset(u, 0, sizeof *u);
    u->round = t->round;
    u->model_version = v->version;
    u->users = users;
    u->windows = windows;
    u->weight =
        fr_node_round_weight(!strcmp(t->weighting, "windows"), t->max_weight, users, windows);
    u->loss = loss;
    u->n = n;
}
