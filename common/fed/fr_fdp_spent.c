/* The federation-wide epsilon from the published rounds' mechanisms (see fr_fdp_spent.h). */
#include "fed/fr_fdp_spent.h"

#include <string.h>

fr_status fr_fdp_round_mechanism(const fr_fdp_round *r, fr_skellam *sk, fr_err *err)
{
    if (!(r->q > 0 && r->q <= 1))
        return fr_fail(err, FR_EINVAL, "federation-wide round %ld: q %g must be in (0, 1]",
                       r->round, r->q);
    /* the fields a member takes from the task, in the same order (fed/fr_node_fdp.c) */
    *sk = (fr_skellam){.clip = r->clip,
                       .sigma = r->sigma,
                       .nodes = r->nodes,
                       .threshold = r->threshold,
                       .dim = r->dim,
                       .users_max = r->users_max};
    fr_err bad = {{0}};
    fr_status st = fr_skellam_init(sk, &bad);
    if (st != FR_OK)
        return fr_fail(err, st, "federation-wide round %ld: %s", r->round, bad.msg);
    return FR_OK;
}

void fr_fdp_spent_init(fr_fdp_spent *s)
{
    memset(s, 0, sizeof *s);
    fr_rdp_init(&s->rdp);
}

fr_status fr_fdp_spent_add(fr_fdp_spent *s, const fr_fdp_round *r, fr_err *err)
{
    fr_skellam sk;
    fr_status st = fr_fdp_round_mechanism(r, &sk, err);
    if (st != FR_OK)
        return st;
    /* one step, added to the running sum at each order: bit for bit what a member's
     * ledger does when it charges the round and when it replays its file */
    fr_rdp next = s->rdp;
    fr_err bad = {{0}};
    if ((st = fr_rdp_compose_skellam(&next, r->q, sk.l1, sk.l2, sk.mu, 1, &bad)) != FR_OK)
        return fr_fail(err, st, "federation-wide round %ld: %s", r->round, bad.msg);
    s->rdp = next;
    s->rounds++;
    s->last = *r;
    return FR_OK;
}

fr_status fr_fdp_spent_epsilon(const fr_fdp_spent *s, double delta, double *eps, fr_err *err)
{
    if (s->rounds == 0) { /* as the ledger reports a node that took part in none */
        *eps = 0;
        return FR_OK;
    }
    return fr_rdp_epsilon(&s->rdp, delta, eps, NULL, err);
}

fr_status fr_fdp_spent_planned(const fr_fdp_spent *s, const fr_fdp_round *next, long more,
                               double delta, double *eps, fr_err *err)
{
    if (more < 0)
        return fr_fail(err, FR_EINVAL, "federation-wide rounds to come: %ld must be >= 0", more);
    if (more == 0)
        return fr_fdp_spent_epsilon(s, delta, eps, err);
    if (!next)
        return fr_fail(err, FR_EINVAL, "federation-wide rounds to come: no mechanism given");
    fr_skellam sk;
    fr_rdp a = s->rdp;
    fr_status st = fr_fdp_round_mechanism(next, &sk, err);
    if (st == FR_OK)
        st = fr_rdp_compose_skellam(&a, next->q, sk.l1, sk.l2, sk.mu, more, err);
    if (st == FR_OK)
        st = fr_rdp_epsilon(&a, delta, eps, NULL, err);
    return st;
}
