/* The federation-wide epsilon at the coordinator (fed/fr_fdp_spent.h) against what the
 * members' ledgers hold for the same rounds: each round's task goes through a node's
 * decision and charge (fed/fr_node_fdp.h) into a real ledger file, which is replayed;
 * the coordinator's figure from the rounds' mechanisms must be the same number. Also
 * the planned figure, a malformed round refused whole, and that the mechanism's every
 * field counts. */
#include <math.h>

#include "fed/fr_fdp_spent.h"
#include "fed/fr_node_fdp.h"
#include "fr_test.h"
#include "fr_test_ledger.h"

#define DELTA 1e-5

/* Rounds as a federation runs them: members come and go (n, t), a catalogue version
 * grows the model (dim). */
static const fr_fdp_round rounds[] = {
    {1, 0.02, 0.9, 1.0, 4, 3, 2000, 100000, DELTA}, /* 4 members, 3 shares carry the noise */
    {2, 0.02, 0.9, 1.0, 4, 3, 2000, 100000, DELTA}, /* the same again */
    {3, 0.02, 0.9, 1.0, 5, 4, 2000, 100000, DELTA}, /* a fifth member */
    {4, 0.02, 0.9, 1.0, 5, 4, 2000, 120000, DELTA}, /* a larger catalogue */
    {5, 0.02, 0.9, 1.0, 4, 3, 2000, 120000, DELTA}, /* a member gone */
};
#define NR ((int)(sizeof rounds / sizeof rounds[0]))

static fr_proto_task task_of(const fr_fdp_round *r)
{
    fr_proto_task t = {.state = FR_TASK_OPEN,
                       .round = r->round,
                       .secagg = 1,
                       .fdp = 1,
                       .fdp_q = r->q,
                       .fdp_sigma = r->sigma,
                       .fdp_clip = r->clip,
                       .fdp_t = r->threshold,
                       .fdp_nodes = r->nodes,
                       .fdp_users_max = r->users_max};
    return t;
}

static void test_equals_ledger(void)
{
    tmp_ledger tl;
    if (!open_tmp(&tl, "fdp_spent"))
        return;
    fr_err err = {{0}};
    fr_fdp_spent s;
    fr_fdp_spent_init(&s);
    for (int i = 0; i < NR; i++) {
        const fr_fdp_round *r = &rounds[i];
        fr_proto_task t = task_of(r);
        fr_node_fdp f;
        CHECK(fr_node_fdp_prepare(&tl.l, &t, 1, r->nodes, r->threshold, r->dim, 0, DELTA, &f,
                                  &err) == FR_OK &&
                  f.verdict == FR_NODE_FDP_GO,
              "round %d: %s %s", i + 1, err.msg, f.why);
        CHECK(fr_node_fdp_record(&tl.l, &f, &err) == FR_OK, "%s", err.msg);
        CHECK(fr_fdp_spent_add(&s, r, &err) == FR_OK, "%s", err.msg);
        double node = -1, coord = -2;
        CHECK(fr_dp_ledger_fdp_spent(&tl.l, DELTA, &node, &err) == FR_OK &&
                  fr_fdp_spent_epsilon(&s, DELTA, &coord, &err) == FR_OK,
              "%s", err.msg);
        /* the same number, not a close one: the same calls in the same order */
        CHECK(coord == node && coord == f.eps_after, "round %d: coordinator %.17g, ledger %.17g",
              i + 1, coord, node);
    }
    CHECK(s.rounds == NR && s.last.round == NR && s.last.dim == 120000, "%ld rounds", s.rounds);
    /* a restarted member replays its file: still the same figure */
    fr_dp_ledger_close(&tl.l);
    CHECK(fr_dp_ledger_open(&tl.l, tl.dir, &err) == FR_OK, "%s", err.msg);
    double node = -1, coord = -2;
    CHECK(fr_dp_ledger_fdp_spent(&tl.l, DELTA, &node, &err) == FR_OK &&
              fr_fdp_spent_epsilon(&s, DELTA, &coord, &err) == FR_OK && tl.l.fdp_steps == NR,
          "%s", err.msg);
    CHECK(coord == node, "replayed ledger %.17g, coordinator %.17g", node, coord);
    /* at least the central DP-SGD figure of the same (q, sigma): the ring only adds */
    double central = 0;
    CHECK(fr_dp_epsilon(0.02, 0.9, NR, DELTA, &central, &err) == FR_OK, "%s", err.msg);
    CHECK(coord >= central * 0.999 && coord < central * 1.5, "federation %g, central %g", coord,
          central);
    close_tmp(&tl);
}

static void test_planned(void)
{
    fr_err err = {{0}};
    fr_fdp_spent s, all;
    fr_fdp_spent_init(&s);
    fr_fdp_spent_init(&all);
    double e0 = -1;
    CHECK(fr_fdp_spent_epsilon(&s, DELTA, &e0, &err) == FR_OK && e0 == 0, "none: %g", e0);
    /* before any round: the plan alone */
    double plan0 = 0, done = 0;
    CHECK(fr_fdp_spent_planned(&s, &rounds[0], 6, DELTA, &plan0, &err) == FR_OK, "%s", err.msg);
    for (int i = 0; i < 6; i++) {
        fr_fdp_round r = rounds[0];
        r.round = i + 1;
        CHECK(fr_fdp_spent_add(&all, &r, &err) == FR_OK, "%s", err.msg);
        if (i < 2)
            CHECK(fr_fdp_spent_add(&s, &r, &err) == FR_OK, "%s", err.msg);
    }
    CHECK(fr_fdp_spent_epsilon(&all, DELTA, &done, &err) == FR_OK, "%s", err.msg);
    CHECK(fabs(plan0 - done) <= 1e-9 * done, "planned %.12g, 6 rounds spent %.12g", plan0, done);
    double plan2 = 0, now = 0;
    CHECK(fr_fdp_spent_planned(&s, &rounds[0], 4, DELTA, &plan2, &err) == FR_OK, "%s", err.msg);
    CHECK(fabs(plan2 - done) <= 1e-9 * done, "2 spent + 4 planned %.12g, 6 spent %.12g", plan2,
          done);
    CHECK(fr_fdp_spent_planned(&s, NULL, 0, DELTA, &now, &err) == FR_OK && now < plan2 && now > 0,
          "nothing more to come: %g", now);
    CHECK(fr_fdp_spent_planned(&s, NULL, 3, DELTA, &now, &err) == FR_EINVAL, "no mechanism");
    CHECK(fr_fdp_spent_planned(&s, &rounds[0], -1, DELTA, &now, &err) == FR_EINVAL, "-1 rounds");
}

/* Every field of the mechanism moves the figure, so a coordinator that kept the wrong
 * one (the first model size, another federation's users) is caught. The members and
 * threshold count only through the ring's scale (fr_skellam_init): 255 members whose
 * every share carries all the noise need a coarser ring than 4. */
static void test_fields_count(void)
{
    fr_err err = {{0}};
    double base = 0;
    fr_fdp_spent s;
    fr_fdp_spent_init(&s);
    CHECK(fr_fdp_spent_add(&s, &rounds[0], &err) == FR_OK &&
              fr_fdp_spent_epsilon(&s, DELTA, &base, &err) == FR_OK,
          "%s", err.msg);
    for (int k = 0; k < 6; k++) {
        fr_fdp_round r = rounds[0];
        switch (k) {
        case 0: r.q = 0.03; break;
        case 1: r.sigma = 0.8; break;
        case 2:
            r.nodes = 255;
            r.threshold = 1;
            break;
        case 3: r.dim = 4000000; break;
        case 4: r.users_max = 200000; break;
        default: r.clip = 0.01; break;
        }
        double e = 0;
        fr_fdp_spent_init(&s);
        CHECK(fr_fdp_spent_add(&s, &r, &err) == FR_OK &&
                  fr_fdp_spent_epsilon(&s, DELTA, &e, &err) == FR_OK,
              "field %d: %s", k, err.msg);
        CHECK(e != base, "field %d changed nothing (%.17g)", k, e);
    }
}

static void test_malformed(void)
{
    fr_err err = {{0}};
    fr_fdp_spent s;
    fr_fdp_spent_init(&s);
    CHECK(fr_fdp_spent_add(&s, &rounds[0], &err) == FR_OK, "%s", err.msg);
    double before = 0, after = 0;
    CHECK(fr_fdp_spent_epsilon(&s, DELTA, &before, &err) == FR_OK, "%s", err.msg);
    fr_fdp_round r = rounds[1];
    r.round = 9;
    r.threshold = 5; /* above its 4 members */
    CHECK(fr_fdp_spent_add(&s, &r, &err) == FR_EINVAL && strstr(err.msg, "round 9"),
          "threshold above members: %s", err.msg);
    r = rounds[1];
    r.round = 9;
    r.q = 0;
    CHECK(fr_fdp_spent_add(&s, &r, &err) == FR_EINVAL && strstr(err.msg, "round 9: q"), "q 0: %s",
          err.msg);
    CHECK(fr_fdp_spent_epsilon(&s, DELTA, &after, &err) == FR_OK && after == before &&
              s.rounds == 1 && s.last.round == 1,
          "a refused round changed the figure: %g -> %g", before, after);
}

int main(void)
{
    RUN(test_equals_ledger);
    RUN(test_planned);
    RUN(test_fields_count);
    RUN(test_malformed);
    return fr_test_end();
}
