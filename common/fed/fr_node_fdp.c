/* A node's decisions in a federation-wide DP round (see fr_node_fdp.h). */
#include "fed/fr_node_fdp.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *fr_node_fdp_verdict_str(fr_node_fdp_verdict v)
{
    switch (v) {
    case FR_NODE_FDP_GO: return "take part";
    case FR_NODE_FDP_NOT_SECURE: return "federation-wide DP needs secure aggregation";
    case FR_NODE_FDP_SHARE_TOO_SMALL: return "noise share too small";
    case FR_NODE_FDP_RING_TOO_SMALL: return "ring sized for fewer nodes";
    case FR_NODE_FDP_BUDGET: return "privacy budget spent";
    }
    return "unknown verdict";
}

fr_status fr_node_fdp_prepare(const fr_dp_ledger *l, const fr_proto_task *t, int secagg,
                              int secagg_n, int secagg_t, size_t dim, int colluders, double delta,
                              fr_node_fdp *out, fr_err *err)
{
    memset(out, 0, sizeof *out);
    if (!t->fdp)
        return fr_fail(err, FR_EINVAL, "task: fdp is not set");
    if (!(t->fdp_q > 0 && t->fdp_q <= 1))
        return fr_fail(err, FR_EINVAL, "task: fdp_q %g must be in (0, 1]", t->fdp_q);
    if (colluders < 0 || colluders > 255)
        return fr_fail(err, FR_EINVAL, "fdp: colluders %d must be 0..255", colluders);
    out->q = t->fdp_q;
    out->sk = (fr_skellam){.clip = t->fdp_clip,
                           .sigma = t->fdp_sigma,
                           .nodes = (int)t->fdp_nodes,
                           .threshold = (int)t->fdp_t,
                           .dim = dim,
                           .users_max = (long)t->fdp_users_max};
    fr_err bad = {{0}};
    fr_status st = fr_skellam_init(&out->sk, &bad);
    if (st != FR_OK)
        return fr_fail(err, st, "task: %s", bad.msg);
    if (!secagg) {
        out->verdict = FR_NODE_FDP_NOT_SECURE;
        snprintf(out->why, sizeof out->why,
                 "a plain round would show the coordinator this node's vector with one share "
                 "of the noise (1/%d of it)",
                 (int)t->fdp_t);
        return FR_OK;
    }
    if (secagg_n > t->fdp_nodes) {
        out->verdict = FR_NODE_FDP_RING_TOO_SMALL;
        snprintf(out->why, sizeof out->why,
                 "the round has %d members, the noise and the ring were sized for %d", secagg_n,
                 (int)t->fdp_nodes);
        return FR_OK;
    }
    if (t->fdp_t > secagg_t - colluders) {
        out->verdict = FR_NODE_FDP_SHARE_TOO_SMALL;
        snprintf(out->why, sizeof out->why,
                 "shares sized for %d survivors; the secure round unmasks with %d, of which "
                 "this node guards against %d colluding: %.3g of the noise would remain",
                 (int)t->fdp_t, secagg_t, colluders,
                 fr_node_fdp_noise_left(out, secagg_t, colluders));
        return FR_OK;
    }
    fr_err why = {{0}};
    if (fr_dp_ledger_check_skellam(l, out->q, out->sk.l1, out->sk.l2, out->sk.mu, 1, &why) !=
        FR_OK) {
        out->verdict = FR_NODE_FDP_BUDGET;
        memcpy(out->why, why.msg, sizeof out->why);
        return FR_OK;
    }
    fr_rdp next = l->rdp;
    if ((st = fr_rdp_compose_skellam(&next, out->q, out->sk.l1, out->sk.l2, out->sk.mu, 1, err)) !=
            FR_OK ||
        (st = fr_rdp_epsilon(&next, delta, &out->eps_after, NULL, err)) != FR_OK)
        return st;
    out->verdict = FR_NODE_FDP_GO;
    return FR_OK;
}

fr_status fr_node_fdp_record(fr_dp_ledger *l, const fr_node_fdp *f, fr_err *err)
{
    if (f->verdict != FR_NODE_FDP_GO)
        return fr_fail(err, FR_EINVAL, "fdp: a refused round (%s) is not charged",
                       fr_node_fdp_verdict_str(f->verdict));
    return fr_dp_ledger_record_skellam(l, f->q, f->sk.l1, f->sk.l2, f->sk.mu, 1, err);
}

double fr_node_fdp_noise_left(const fr_node_fdp *f, int survivors, int colluders)
{
    int left = survivors - colluders;
    return left > 0 ? (double)left / f->sk.threshold : 0.0;
}
