/* The coordinator's round without I/O (see fr_round.h): opening, the checks on a
 * plain update, and closing at the quorum or the deadline. Secure rounds' messages
 * are in fr_round_secure.c. */
#include "fed/fr_round.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const refusal_names[FR_ROUND_NREFUSALS] = {
    [FR_ROUND_OK] = "ok",
    [FR_ROUND_MALFORMED] = "malformed",
    [FR_ROUND_WRONG_SIZE] = "wrong size",
    [FR_ROUND_NO_ROUND] = "no round",
    [FR_ROUND_SECURE_ONLY] = "secure only",
    [FR_ROUND_WRONG_ROUND] = "wrong round",
    [FR_ROUND_STALE] = "stale",
    [FR_ROUND_LATE] = "late",
    [FR_ROUND_BAD_WEIGHT] = "bad weight",
    [FR_ROUND_NOT_MEMBER] = "not member",
    [FR_ROUND_DUPLICATE] = "duplicate",
    [FR_ROUND_TOO_LARGE] = "too large",
    [FR_ROUND_NOT_YET] = "not yet",
    [FR_ROUND_DROPPED] = "dropped",
    [FR_ROUND_OVER] = "over",
    [FR_ROUND_WRONG_SENDER] = "wrong sender",
    [FR_ROUND_WRONG_STEP] = "wrong step",
    [FR_ROUND_REJECTED] = "rejected",
    [FR_ROUND_INTERNAL] = "internal",
};

const char *fr_round_refusal_str(fr_round_refusal r)
{
    return (int)r >= 0 && r < FR_ROUND_NREFUSALS ? refusal_names[r] : "unknown";
}

fr_status fr_round_init(fr_round *r, const fr_round_config *cfg, size_t n, fr_err *err)
{
    memset(r, 0, sizeof *r);
    r->cfg = *cfg;
    r->n = n;
    if (r->cfg.max_weight == 0)
        r->cfg.max_weight = FR_ROUND_MAX_WEIGHT_DEFAULT;
    if (!(r->cfg.max_weight >= 1 && r->cfg.max_weight <= FR_SECAGG_MAX_WEIGHT_TOP))
        return fr_fail(err, FR_EINVAL, "max-weight %g is outside [1, %g]", r->cfg.max_weight,
                       FR_SECAGG_MAX_WEIGHT_TOP);
    return fr_agg_init(&r->agg, n, err);
}

fr_status fr_round_resize(fr_round *r, size_t n, fr_err *err)
{
    if (r->id)
        return fr_fail(err, FR_EINVAL, "round %ld is open: the model's size cannot change", r->id);
    if (n == r->n)
        return FR_OK;
    fr_agg a;
    fr_status st = fr_agg_init(&a, n, err);
    if (st != FR_OK)
        return st;
    fr_agg_free(&r->agg);
    r->agg = a;
    r->n = n;
    return FR_OK;
}

void fr_round_free(fr_round *r)
{
    fr_round_secure_end(r);
    fr_agg_free(&r->agg);
    free(r->from);
    memset(r, 0, sizeof *r);
}

fr_round_snapshot fr_round_plan(const fr_round *r, long version, int live, double now)
{
    fr_round_snapshot s = {0};
    s.version = version;
    s.opened_at = now;
    s.deadline = now + r->cfg.round_timeout;
    s.expected = r->cfg.quorum > 0 ? r->cfg.quorum : live;
    return s;
}

void fr_round_end(fr_round *r)
{
    fr_round_secure_end(r);
    fr_agg_reset(&r->agg);
    r->loss_sum = 0;
    memset(&r->eval, 0, sizeof r->eval);
    r->n_from = 0;
    r->id = 0;
}

void fr_round_open(fr_round *r, const fr_round_snapshot *s)
{
    fr_round_end(r);
    r->id = s->id;
    r->version = s->version;
    r->opened_at = s->opened_at;
    r->deadline = s->deadline;
    r->expected = s->expected;
}

void fr_round_resume(fr_round *r, const fr_round_snapshot *s, int secure, double now,
                     fr_round_decision *d)
{
    fr_round_open(r, s);
    d->action = FR_ROUND_CONTINUE;
    d->note[0] = '\0';
    if (secure) {
        /* its masks lived in the members' memory and ours; they cannot be rebuilt */
        d->action = FR_ROUND_ABORT;
        snprintf(d->note, sizeof d->note, "the coordinator restarted during a secure round");
        return;
    }
    r->deadline = now + r->cfg.round_timeout;
    /* the quorum fixed when the round opened (a configured one may have changed) */
    r->expected = r->cfg.quorum > 0 ? r->cfg.quorum : s->expected;
    if (r->expected < 1)
        r->expected = r->cfg.min_nodes;
}

int fr_round_has_update(const fr_round *r, const char *node)
{
    for (int i = 0; i < r->n_from; i++)
        if (!strncmp(r->from[i], node, FR_ROUND_NAME - 1))
            return 1;
    return 0;
}

fr_round_refusal fr_round_check_update(const fr_round *r, double now, const char *node, int joined,
                                       const uint8_t *body, size_t len, fr_round_update *out,
                                       char *reason, size_t cap)
{
    fr_err err = {{0}};
    fr_proto_update *u = &out->u;
    memset(out, 0, sizeof *out);
    fr_status st = fr_proto_update_decode(body, len, r->n, u, &err);
    if (st != FR_OK) {
        snprintf(reason, cap, "%s", err.msg);
        /* malformed, or well formed for another model */
        return st == FR_EINVAL ? FR_ROUND_WRONG_SIZE : FR_ROUND_MALFORMED;
    }
    if (!r->id) {
        snprintf(reason, cap, "round %lld is closed; no round is open", (long long)u->round);
        return FR_ROUND_NO_ROUND;
    }
    if (r->sa.on) {
        snprintf(reason, cap,
                 "round %ld uses secure aggregation: send masked updates to "
                 "/v1/secagg/masked",
                 r->id);
        return FR_ROUND_SECURE_ONLY;
    }
    if (u->round != r->id) {
        snprintf(reason, cap, "round %lld is not the open round %ld", (long long)u->round, r->id);
        return FR_ROUND_WRONG_ROUND;
    }
    if (u->model_version != r->version) {
        snprintf(reason, cap, "stale update: trained from version %lld, round %ld is on %ld",
                 (long long)u->model_version, r->id, r->version);
        return FR_ROUND_STALE;
    }
    /* the round closes on the owner's next tick; what comes in between is not counted */
    if (now >= r->deadline) {
        snprintf(reason, cap, "late update: round %ld passed its deadline", r->id);
        return FR_ROUND_LATE;
    }
    if (r->agg.count >= r->expected) {
        snprintf(reason, cap, "late update: round %ld has its %d updates", r->id, r->expected);
        return FR_ROUND_LATE;
    }
    /* no one can check the count a node claims, so the operator's cap bounds how far
     * one site can pull the average (docs/security.md) */
    if (!(u->weight >= 1 && u->weight <= r->cfg.max_weight)) {
        snprintf(reason, cap, "weight %g is outside [1, %g] (max-weight)", u->weight,
                 r->cfg.max_weight);
        return FR_ROUND_BAD_WEIGHT;
    }
    if (!joined) {
        snprintf(reason, cap, "node %s has not joined (POST /v1/join first)", node);
        return FR_ROUND_NOT_MEMBER;
    }
    if (fr_round_has_update(r, node)) {
        snprintf(reason, cap, "duplicate update from %s for round %ld", node, r->id);
        return FR_ROUND_DUPLICATE;
    }
    if (fr_agg_check_le(u->delta, u->n, r->cfg.max_update_norm, &out->norm, &err) != FR_OK) {
        snprintf(reason, cap, "%s", err.msg);
        return FR_ROUND_TOO_LARGE;
    }
    return FR_ROUND_OK;
}

static fr_status add_from(fr_round *r, const char *node, fr_err *err)
{
    if (r->n_from == r->cap_from) {
        int cap = r->cap_from ? 2 * r->cap_from : 16;
        char(*grown)[FR_ROUND_NAME] = realloc(r->from, (size_t)cap * sizeof *grown);
        if (!grown)
            return fr_fail(err, FR_ENOMEM, "round %ld: out of memory for its node list", r->id);
        r->from = grown;
        r->cap_from = cap;
    }
    snprintf(r->from[r->n_from++], FR_ROUND_NAME, "%s", node);
    return FR_OK;
}

fr_status fr_round_add_update(fr_round *r, const char *node, const fr_round_update *u, int *quorum,
                              fr_err *err)
{
    fr_status st = add_from(r, node, err);
    if (st != FR_OK)
        return st;
    fr_agg_add_le(&r->agg, u->u.delta, u->u.weight);
    fr_agg_add_sqnorm(&r->agg, u->u.weight * u->norm * u->norm, 1);
    r->loss_sum += u->u.weight * u->u.loss;
    *quorum = r->agg.count >= r->expected;
    return FR_OK;
}

fr_status fr_round_restore_update(fr_round *r, const char *node, const uint8_t *delta_le, size_t n,
                                  double weight, double loss, fr_err *err)
{
    if (n != r->n)
        return fr_fail(err, FR_EINVAL,
                       "round %ld: a stored update of %zu parameters from %s, "
                       "the model has %zu",
                       r->id, n, node, r->n);
    if (!(weight > 0) || weight > 1e300)
        return fr_fail(err, FR_EINVAL, "round %ld: a stored update from %s with weight %g", r->id,
                       node, weight);
    double norm = 0;
    fr_status st = fr_agg_check_le(delta_le, n, 0, &norm, err);
    if (st != FR_OK || (st = add_from(r, node, err)) != FR_OK)
        return st;
    fr_agg_add_le(&r->agg, delta_le, weight);
    fr_agg_add_sqnorm(&r->agg, weight * norm * norm, 1);
    r->loss_sum += weight * loss;
    return FR_OK;
}

void fr_round_tick(fr_round *r, double now, fr_round_decision *d)
{
    d->action = FR_ROUND_CONTINUE;
    d->note[0] = '\0';
    if (!r->id)
        return;
    if (r->sa.on) {
        fr_secagg_server_stage stage = r->sa.sv.stage;
        if (now >= r->sa.step_deadline ||
            (stage == FR_SECAGG_SV_UNMASK && fr_round_secure_unmasked(r)))
            fr_round_secure_close_step(r, now, d);
        return;
    }
    if (r->agg.count >= r->expected) {
        d->action = FR_ROUND_PUBLISH;
    } else if (now >= r->deadline) {
        if (r->agg.count >= r->cfg.min_updates) {
            d->action = FR_ROUND_PUBLISH;
            snprintf(d->note, sizeof d->note, "deadline with %d of %d updates; publishing",
                     r->agg.count, r->expected);
        } else {
            d->action = FR_ROUND_ABORT;
            snprintf(d->note, sizeof d->note, "deadline passed with %d of %d updates (%d needed)",
                     r->agg.count, r->expected, r->cfg.min_updates);
        }
    }
}
