/* A node's decisions in a federation-wide DP round (fed/fr_node_fdp.h): the mechanism
 * derived from the task, and each refusal: a plain round, shares sized for more
 * survivors than the secure round guarantees (or than its colluders leave), a ring
 * sized for fewer members, a budget the round would overspend (through the noise or
 * the sampling rate); the charge in the ledger; the task's keys on the wire. */
#include <math.h>

#include "fed/fr_node_fdp.h"
#include "fr_test.h"
#include "fr_test_ledger.h"

static fr_proto_task fdp_task(void)
{
    fr_proto_task t = {.state = FR_TASK_OPEN,
                       .round = 7,
                       .secagg = 1,
                       .fdp = 1,
                       .fdp_q = 0.02,
                       .fdp_sigma = 0.9,
                       .fdp_clip = 1,
                       .fdp_t = 3,
                       .fdp_nodes = 4,
                       .fdp_users_max = 2000};
    return t;
}

static void test_go_and_record(void)
{
    tmp_ledger tl;
    if (!open_tmp(&tl, "node_fdp"))
        return;
    fr_err err = {{0}};
    CHECK(fr_dp_ledger_set_budget(&tl.l, 8, 1e-6, &err) == FR_OK, "%s", err.msg);
    fr_proto_task t = fdp_task();
    fr_node_fdp f;
    CHECK(fr_node_fdp_prepare(&tl.l, &t, 1, 4, 3, 100000, 0, 1e-6, &f, &err) == FR_OK &&
              f.verdict == FR_NODE_FDP_GO,
          "%s %s", err.msg, f.why);
    /* the mechanism is the task's: any 3 shares carry (s 0.9 C)^2 */
    CHECK(f.q == 0.02 && f.sk.threshold == 3 && f.sk.nodes == 4 &&
              fabs(f.sk.mu - pow(f.sk.scale * 0.9, 2)) < 1e-6 * f.sk.mu &&
              fabs(f.sk.lambda * 6 - f.sk.mu) < 1e-6 * f.sk.mu,
          "mu %g lambda %g scale %g", f.sk.mu, f.sk.lambda, f.sk.scale);
    double want = 0;
    CHECK(fr_dp_epsilon(0.02, 0.9, 1, 1e-6, &want, &err) == FR_OK, "%s", err.msg);
    CHECK(f.eps_after > 0 && f.eps_after >= want * 0.999, "epsilon after %g (central %g)",
          f.eps_after, want);
    CHECK(fr_node_fdp_record(&tl.l, &f, &err) == FR_OK && tl.l.steps == 1, "%s", err.msg);
    double spent = 0;
    CHECK(fr_dp_ledger_spent(&tl.l, 1e-6, &spent, &err) == FR_OK && spent == f.eps_after,
          "spent %g, announced %g", spent, f.eps_after);
    f.verdict = FR_NODE_FDP_BUDGET;
    CHECK(fr_node_fdp_record(&tl.l, &f, &err) == FR_EINVAL && tl.l.steps == 1, "refused: charged");
    close_tmp(&tl);
}

static void test_refusals(void)
{
    tmp_ledger tl;
    if (!open_tmp(&tl, "node_fdp"))
        return;
    fr_err err = {{0}};
    fr_proto_task t = fdp_task();
    fr_node_fdp f;
    CHECK(fr_node_fdp_prepare(&tl.l, &t, 0, 4, 3, 1000, 0, 1e-6, &f, &err) == FR_OK &&
              f.verdict == FR_NODE_FDP_NOT_SECURE,
          "a plain round: %s", fr_node_fdp_verdict_str(f.verdict));
    /* shares for 3 survivors, a secure round that unmasks with 3: one colluder would
     * leave 2/3 of the noise */
    CHECK(fr_node_fdp_prepare(&tl.l, &t, 1, 4, 3, 1000, 1, 1e-6, &f, &err) == FR_OK &&
              f.verdict == FR_NODE_FDP_SHARE_TOO_SMALL && strstr(f.why, "0.667"),
          "one colluder: %s: %s", fr_node_fdp_verdict_str(f.verdict), f.why);
    CHECK(fr_node_fdp_prepare(&tl.l, &t, 1, 5, 4, 1000, 1, 1e-6, &f, &err) == FR_OK &&
              f.verdict == FR_NODE_FDP_RING_TOO_SMALL,
          "5 members, ring for 4: %s", fr_node_fdp_verdict_str(f.verdict));
    t.fdp_t = 4;
    CHECK(fr_node_fdp_prepare(&tl.l, &t, 1, 4, 3, 1000, 0, 1e-6, &f, &err) == FR_OK &&
              f.verdict == FR_NODE_FDP_SHARE_TOO_SMALL,
          "shares for 4 survivors, unmasked with 3");
    t = fdp_task();
    CHECK(fr_node_fdp_prepare(&tl.l, &t, 1, 4, 3, 1000, 0, 1e-6, &f, &err) == FR_OK &&
              f.verdict == FR_NODE_FDP_GO,
          "%s", f.why);
    /* the budget: a noise too small, or a sampling rate too high, for what remains */
    CHECK(fr_dp_ledger_set_budget(&tl.l, 1.0, 1e-6, &err) == FR_OK, "%s", err.msg);
    t.fdp_sigma = 0.3;
    CHECK(fr_node_fdp_prepare(&tl.l, &t, 1, 4, 3, 1000, 0, 1e-6, &f, &err) == FR_OK &&
              f.verdict == FR_NODE_FDP_BUDGET && strstr(f.why, "budget exceeded"),
          "noise 0.3: %s", f.why);
    t = fdp_task();
    t.fdp_sigma = 2.0;
    CHECK(fr_node_fdp_prepare(&tl.l, &t, 1, 4, 3, 1000, 0, 1e-6, &f, &err) == FR_OK &&
              f.verdict == FR_NODE_FDP_GO,
          "noise 2 at q 0.02: %s", f.why);
    t.fdp_q = 1.0;
    t.fdp_sigma = 0.9;
    CHECK(fr_node_fdp_prepare(&tl.l, &t, 1, 4, 3, 1000, 0, 1e-6, &f, &err) == FR_OK &&
              f.verdict == FR_NODE_FDP_BUDGET,
          "q 1 at noise 0.9: %s", fr_node_fdp_verdict_str(f.verdict));
    /* malformed parameters are errors, naming the field */
    t = fdp_task();
    t.fdp_q = 0;
    CHECK(fr_node_fdp_prepare(&tl.l, &t, 1, 4, 3, 1000, 0, 1e-6, &f, &err) == FR_EINVAL &&
              strstr(err.msg, "fdp_q"),
          "%s", err.msg);
    t = fdp_task();
    t.fdp_t = 5;
    CHECK(fr_node_fdp_prepare(&tl.l, &t, 1, 4, 3, 1000, 0, 1e-6, &f, &err) == FR_EINVAL &&
              strstr(err.msg, "threshold"),
          "%s", err.msg);
    close_tmp(&tl);
}

static void test_noise_left(void)
{
    fr_node_fdp f = {.sk = {.threshold = 3}};
    CHECK(fr_node_fdp_noise_left(&f, 4, 1) == 1.0, "4 survivors, 1 colluder");
    CHECK(fabs(fr_node_fdp_noise_left(&f, 3, 1) - 2.0 / 3) < 1e-12, "3 survivors, 1 colluder");
    CHECK(fr_node_fdp_noise_left(&f, 3, 3) == 0.0, "all collude");
}

static void test_task_wire(void)
{
    fr_proto_task t = fdp_task();
    snprintf(t.weighting, sizeof t.weighting, "users");
    t.batch = t.seq_len = t.negatives = 1;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_proto_task_encode(&t, &sb);
    fr_proto_task d;
    fr_err err = {{0}};
    CHECK(fr_proto_task_decode(sb.data, sb.size, &d, &err) == FR_OK, "%s", err.msg);
    CHECK(d.fdp == 1 && d.fdp_q == 0.02 && d.fdp_sigma == 0.9 && d.fdp_clip == 1 && d.fdp_t == 3 &&
              d.fdp_nodes == 4 && d.fdp_users_max == 2000,
          "fdp keys through the wire");
    msgpack_sbuffer_destroy(&sb);
    t.fdp_q = 1.5;
    msgpack_sbuffer_init(&sb);
    fr_proto_task_encode(&t, &sb);
    CHECK(fr_proto_task_decode(sb.data, sb.size, &d, &err) == FR_EFORMAT &&
              strstr(err.msg, "fdp_q"),
          "q 1.5: %s", err.msg);
    msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
    RUN(test_go_and_record);
    RUN(test_refusals);
    RUN(test_noise_left);
    RUN(test_task_wire);
    return fr_test_end();
}
