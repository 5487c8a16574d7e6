/* A node's per-round decisions (common/fed/fr_node_round.c) with a fake clock and no
 * network: joining on the heartbeat, taking part in plain and secure rounds, waiting
 * for a round, a version or a report, sitting out plain rounds under
 * require-secure-aggregation, stopping at max-rounds and when the federation ends;
 * before training, the refusal without data and with the privacy budget spent, and the
 * planned noise; after training, the cut to the norm bound and the update's head. */
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <unistd.h>

#include "fed/fr_node_round.h"
#include "fr_test.h"
#include "fr_test_ledger.h"

typedef struct fake_clock {
    double t;
} fake_clock;

static double fake_now(void *ctx)
{
    return ((fake_clock *)ctx)->t;
}

static fr_node_view view(void)
{
    return (fr_node_view){
        .version = 3, .last_round = 2, .last_reported = 3, .trained_from = 2, .rounds_done = 2};
}

static fr_proto_task open_task(long round, long version)
{
    fr_proto_task t = {.state = FR_TASK_OPEN,
                       .round = round,
                       .model_version = version,
                       .deadline_s = 20,
                       .retry_s = 0,
                       .local_epochs = 2,
                       .batch = 32,
                       .seq_len = 20,
                       .negatives = 32,
                       .lr = 0.01,
                       .max_update_norm = 2.0};
    snprintf(t.weighting, sizeof t.weighting, "users");
    return t;
}

static void test_join_on_heartbeat(void)
{
    fake_clock fc = {1000};
    fr_node_clock c = {fake_now, &fc};
    CHECK(fr_node_round_join_due(&c, -1, 30), "never joined");
    CHECK(!fr_node_round_join_due(&c, 1000, 30), "just joined");
    fc.t = 1029.9;
    CHECK(!fr_node_round_join_due(&c, 1000, 30), "before the heartbeat");
    fc.t = 1030;
    CHECK(fr_node_round_join_due(&c, 1000, 30), "at the heartbeat");
    fc.t = 1010;
    CHECK(fr_node_round_join_due(&c, 1000, 10), "the coordinator's heartbeat");
    fc.t = 1000 + FR_NODE_HEARTBEAT_DEFAULT;
    CHECK(fr_node_round_join_due(&c, 1000, 0), "the default heartbeat");
    fc.t = 1000 + FR_NODE_HEARTBEAT_DEFAULT - 1;
    CHECK(!fr_node_round_join_due(&c, 1000, 0), "within the default heartbeat");
}

static void test_take_part(void)
{
    fr_node_view v = view();
    fr_node_reason why = FR_NODE_STOP_DONE;
    fr_proto_task t = open_task(3, 3);
    CHECK(fr_node_round_decide(&v, &t, &why) == FR_NODE_TRAIN_PLAIN && why == FR_NODE_GO,
          "plain round: %s", fr_node_reason_str(why));
    t.secagg = 1;
    CHECK(fr_node_round_decide(&v, &t, &why) == FR_NODE_TRAIN_SECURE && why == FR_NODE_GO,
          "secure round: %s", fr_node_reason_str(why));
    v.require_secagg = 1;
    CHECK(fr_node_round_decide(&v, &t, &why) == FR_NODE_TRAIN_SECURE,
          "secure round with require-secure-aggregation");
}

static void test_plain_refused(void)
{
    fr_node_view v = view();
    v.require_secagg = 1;
    fr_node_reason why;
    fr_proto_task t = open_task(3, 3);
    CHECK(fr_node_round_decide(&v, &t, &why) == FR_NODE_SIT_OUT &&
              why == FR_NODE_SKIP_PLAIN_REFUSED,
          "%s", fr_node_reason_str(why));
    CHECK(strstr(fr_node_reason_str(why), "require-secure-aggregation") != NULL, "%s",
          fr_node_reason_str(why));
    /* once sat out, the round is not considered again */
    v.last_round = 3;
    CHECK(fr_node_round_decide(&v, &t, &why) == FR_NODE_WAIT && why == FR_NODE_SKIP_TAKEN, "%s",
          fr_node_reason_str(why));
}

/* Federation-wide DP asked of a plain round is sat out, even by a node that takes plain
 * rounds: its vector would reach the coordinator with one share of the noise; the same
 * task in a secure round is taken part in. */
static void test_fdp_plain_refused(void)
{
    fr_node_view v = view();
    fr_node_reason why;
    fr_proto_task t = open_task(3, 3);
    t.fdp = 1;
    CHECK(fr_node_round_decide(&v, &t, &why) == FR_NODE_SIT_OUT && why == FR_NODE_SKIP_FDP_PLAIN,
          "%s", fr_node_reason_str(why));
    CHECK(strstr(fr_node_reason_str(why), "federation-wide DP") != NULL, "%s",
          fr_node_reason_str(why));
    t.secagg = 1;
    CHECK(fr_node_round_decide(&v, &t, &why) == FR_NODE_TRAIN_SECURE, "%s",
          fr_node_reason_str(why));
}

static void test_wait(void)
{
    fr_node_view v = view();
    fr_node_reason why;
    fr_proto_task t = open_task(3, 3);
    t.state = FR_TASK_WAIT;
    t.retry_s = 5;
    CHECK(fr_node_round_decide(&v, &t, &why) == FR_NODE_WAIT && why == FR_NODE_SKIP_NOT_OPEN, "%s",
          fr_node_reason_str(why));
    CHECK(fr_node_round_wait_s(&t, 2) == 5, "the task's retry");
    t.retry_s = 0;
    CHECK(fr_node_round_wait_s(&t, 2) == 2, "the poll");
    t = open_task(2, 3);
    CHECK(fr_node_round_decide(&v, &t, &why) == FR_NODE_WAIT && why == FR_NODE_SKIP_TAKEN, "%s",
          fr_node_reason_str(why));
    t = open_task(3, 4);
    CHECK(fr_node_round_decide(&v, &t, &why) == FR_NODE_WAIT && why == FR_NODE_SKIP_VERSION, "%s",
          fr_node_reason_str(why));
}

static void test_max_rounds_and_done(void)
{
    fr_node_view v = view();
    fr_node_reason why;
    v.max_rounds = 2;
    fr_proto_task t = open_task(3, 3);
    /* the last round's version reported: stop */
    CHECK(fr_node_round_decide(&v, &t, &why) == FR_NODE_STOP && why == FR_NODE_STOP_MAX_ROUNDS,
          "%s", fr_node_reason_str(why));
    /* not yet reported: stay for it, but take part in no more rounds */
    v.last_reported = 2;
    CHECK(fr_node_round_decide(&v, &t, &why) == FR_NODE_WAIT && why == FR_NODE_SKIP_MAX_ROUNDS,
          "%s", fr_node_reason_str(why));
    v = view();
    t.state = FR_TASK_DONE;
    CHECK(fr_node_round_decide(&v, &t, &why) == FR_NODE_STOP && why == FR_NODE_STOP_DONE, "%s",
          fr_node_reason_str(why));
}

static void test_give_up(void)
{
    fake_clock fc = {500};
    fr_node_clock c = {fake_now, &fc};
    fr_proto_task t = open_task(3, 3);
    CHECK(fr_node_round_give_up(&c, &t) == 500 + 20 + FR_NODE_SECURE_MARGIN_S, "%g",
          fr_node_round_give_up(&c, &t));
}

static void test_prepare_plain_and_no_data(void)
{
    fr_node_view v = view();
    fr_proto_task t = open_task(3, 3);
    fr_node_dp_config dc = {0};
    fr_node_prep p;
    fr_node_reason why;
    fr_err err = {{0}};
    fr_dp_ledger none = {.fd = -1};
    CHECK(fr_node_round_prepare(&none, &dc, 1, &v, &t, 100, 50, &p, &why, &err) == FR_OK &&
              why == FR_NODE_GO && !p.dp,
          "plain: %s", err.msg);
    CHECK(fr_node_round_prepare(&none, &dc, 1, &v, &t, 0, 0, &p, &why, &err) == FR_ENODATA &&
              why == FR_NODE_SKIP_NO_DATA,
          "no data: %s", fr_node_reason_str(why));
    CHECK(strstr(err.msg, "no training window") != NULL, "%s", err.msg);
}

static void test_prepare_user_dp(void)
{
    tmp_ledger tl;
    if (!open_tmp(&tl, "round_node"))
        return;
    fr_node_view v = view();
    v.max_rounds = 4; /* 2 done: the budget pays for 2 more */
    fr_proto_task t = open_task(3, 3);
    fr_node_dp_config dc = {.dp = 1, .eps_max = 3};
    fr_node_prep p;
    fr_node_reason why;
    fr_err err = {{0}};
    CHECK(fr_node_round_prepare(&tl.l, &dc, 1, &v, &t, 400, 200, &p, &why, &err) == FR_OK &&
              why == FR_NODE_GO,
          "%s %s", err.msg, fr_node_reason_str(why));
    CHECK(p.dp && !p.site && p.q == 32.0 / 200, "q %g", p.q);
    CHECK(p.steps == 2 * 6, "steps %ld", p.steps); /* 2 epochs of round(200/32) */
    CHECK(tl.l.budget_eps == 3, "budget recorded");
    CHECK(p.plan.delta == fr_dp_plan_default_delta(200), "delta %g", p.plan.delta);
    double eps;
    CHECK(fr_dp_epsilon(p.q, p.plan.sigma, 2 * p.steps, p.plan.delta, &eps, &err) == FR_OK &&
              eps <= 3,
          "two rounds at sigma %g: epsilon %g", p.plan.sigma, eps);
    CHECK(fr_dp_epsilon(p.q, p.plan.sigma * 0.999, 2 * p.steps, p.plan.delta, &eps, &err) ==
                  FR_OK &&
              eps > 3,
          "slightly less noise: epsilon %g", eps);
    /* without the budget recorded again, the ledger's is the one in force */
    dc.eps_max = 100;
    CHECK(fr_node_round_prepare(&tl.l, &dc, 0, &v, &t, 400, 200, &p, &why, &err) == FR_OK &&
              tl.l.budget_eps == 3,
          "budget %g", tl.l.budget_eps);
    close_tmp(&tl);
}

static void test_prepare_budget_spent(void)
{
    tmp_ledger tl;
    if (!open_tmp(&tl, "round_node"))
        return;
    fr_node_view v = view();
    fr_proto_task t = open_task(3, 3);
    fr_node_dp_config dc = {.dp = 1, .eps_max = 0.05, .noise = 0.5, .q = 0.5};
    fr_node_prep p;
    fr_node_reason why;
    fr_err err = {{0}};
    CHECK(fr_node_round_prepare(&tl.l, &dc, 1, &v, &t, 400, 200, &p, &why, &err) == FR_OK &&
              why == FR_NODE_SKIP_BUDGET_SPENT,
          "%s %s", err.msg, fr_node_reason_str(why));
    CHECK(p.plan.sigma == 0.5, "the given noise: %g", p.plan.sigma);
    CHECK(strstr(p.plan.why, "privacy budget exceeded") != NULL, "why: %s", p.plan.why);
    CHECK(tl.l.steps == 0, "nothing spent");
    /* no budget and no noise: refused */
    close_tmp(&tl);
    if (!open_tmp(&tl, "round_node"))
        return;
    /* no budget and no noise: private by default, with the default budget recorded */
    fr_node_dp_config bare = {.dp = 1};
    CHECK(fr_node_round_prepare(&tl.l, &bare, 1, &v, &t, 400, 200, &p, &why, &err) == FR_OK &&
              why == FR_NODE_GO && p.dp && p.plan.sigma > 0,
          "no budget, no noise: %s", err.msg);
    CHECK(tl.l.budget_eps == FR_NODE_DP_EPSILON_DEFAULT, "default budget %g", tl.l.budget_eps);
    close_tmp(&tl);
}

/* What leaves a node with its metrics: never its users or its loss; its quality
 * figures only when it opted out of secure aggregation (in secure mode they travel in
 * the masked sum alone); and a round's training seed is fresh secret randomness unless
 * fixed. */
static void test_metrics_and_seed(void)
{
    fr_proto_metrics m = {.model_version = 4,
                          .users = 1234,
                          .hr10 = 0.5,
                          .ndcg10 = 0.25,
                          .recall10 = 0.5,
                          .loss = 3.5,
                          .eps_spent = 1.5},
                     out;
    memset(&out, 0x55, sizeof out);
    fr_node_round_metrics_public(&m, 1, &out);
    CHECK(out.users == 0 && out.loss == 0, "users %lld loss %g leave the node",
          (long long)out.users, out.loss);
    CHECK(out.hr10 == 0 && out.ndcg10 == 0 && out.recall10 == 0 && out.clear == 0,
          "secure mode: HR %g NDCG %g recall %g (clear %lld) leave the node in the clear", out.hr10,
          out.ndcg10, out.recall10, (long long)out.clear);
    CHECK(out.model_version == 4 && out.eps_spent == 1.5, "the version and epsilon are kept");
    memset(&out, 0x55, sizeof out);
    fr_node_round_metrics_public(&m, 0, &out);
    CHECK(out.users == 0 && out.loss == 0, "opted out: users %lld loss %g leave the node",
          (long long)out.users, out.loss);
    CHECK(out.model_version == 4 && out.hr10 == 0.5 && out.ndcg10 == 0.25 && out.recall10 == 0.5 &&
              out.eps_spent == 1.5 && out.clear == 1,
          "opted out of secure aggregation: the quality figures go in the clear");
    CHECK(fr_node_round_train_seed(1, 7, 3) == 10, "a fixed seed: seed + round");
    uint64_t a = fr_node_round_train_seed(0, 7, 3), b = fr_node_round_train_seed(0, 7, 3);
    CHECK(a != b && a != 10 && b != 10, "unfixed seeds %llu %llu are predictable",
          (unsigned long long)a, (unsigned long long)b);
}

static void test_prepare_site_dp(void)
{
    tmp_ledger tl;
    if (!open_tmp(&tl, "round_node"))
        return;
    fr_node_view v = view();
    fr_proto_task t = open_task(3, 3);
    fr_node_dp_config dc = {.dp = 1, .site = 1, .noise = 0.8};
    fr_node_prep p;
    fr_node_reason why;
    fr_err err = {{0}};
    CHECK(fr_node_round_prepare(&tl.l, &dc, 1, &v, &t, 400, 200, &p, &why, &err) == FR_OK &&
              why == FR_NODE_GO,
          "%s", err.msg);
    CHECK(p.site && p.q == 1.0 && p.steps == 1 && p.plan.sigma == 0.8, "q %g steps %ld sigma %g",
          p.q, p.steps, p.plan.sigma);
    /* replacing one site moves the sum of clipped deltas by up to 2C: the accountant
     * counts half the noise multiplier */
    CHECK(p.plan.sigma_acc == 0.4, "accounted multiplier %g", p.plan.sigma_acc);
    close_tmp(&tl);
}

/* Site level at sigma 5 for 10 rounds, delta 1e-5, costs epsilon 6.21 (sensitivity 2C),
 * not the 2.81 that sensitivity C gives; a budget of 6.3 over 10 rounds therefore
 * needs sigma near 5, where sensitivity C would have planned half of it. */
static void test_site_dp_replace_one_site(void)
{
    tmp_ledger tl;
    if (!open_tmp(&tl, "round_node"))
        return;
    fr_node_view v = view();
    v.max_rounds = 10;
    v.rounds_done = 0;
    fr_proto_task t = open_task(3, 3);
    fr_node_dp_config dc = {.dp = 1, .site = 1, .noise = 5, .delta = 1e-5};
    fr_node_prep p;
    fr_node_reason why;
    fr_err err = {{0}};
    CHECK(fr_node_round_prepare(&tl.l, &dc, 1, &v, &t, 400, 200, &p, &why, &err) == FR_OK, "%s",
          err.msg);
    double eps = 0;
    CHECK(fr_dp_epsilon(p.q, p.plan.sigma_acc, 10, 1e-5, &eps, &err) == FR_OK &&
              fabs(eps - 6.21) < 0.005,
          "10 site rounds at sigma 5: epsilon %.4g, want 6.21", eps);
    fr_node_dp_config budget = {.dp = 1, .site = 1, .eps_max = 6.3, .delta = 1e-5};
    CHECK(fr_node_round_prepare(&tl.l, &budget, 1, &v, &t, 400, 200, &p, &why, &err) == FR_OK &&
              why == FR_NODE_GO,
          "%s", err.msg);
    CHECK(p.plan.sigma > 4.9 && p.plan.sigma < 5.0 && p.plan.sigma == 2 * p.plan.sigma_acc,
          "planned sigma %g (accounted %g)", p.plan.sigma, p.plan.sigma_acc);
    CHECK(fr_dp_epsilon(1.0, p.plan.sigma_acc, 10, 1e-5, &eps, &err) == FR_OK && eps <= 6.3,
          "the plan's 10 rounds: epsilon %g", eps);
    close_tmp(&tl);
}

static void test_after_training(void)
{
    fr_err err = {{0}};
    CHECK(fr_node_round_check_loss(1.5, &err) == FR_OK, "finite loss");
    CHECK(fr_node_round_check_loss(NAN, &err) == FR_EINVAL && strstr(err.msg, "diverged"),
          "NaN: %s", err.msg);
    CHECK(fr_node_round_check_loss(INFINITY, &err) == FR_EINVAL, "inf");
    fr_proto_task t = open_task(3, 3);
    float d[] = {3, 4};
    double norm;
    CHECK(fr_node_round_clip(&t, d, 2, &norm) && norm == 5.0, "cut: norm %g", norm);
    double after = sqrt((double)d[0] * d[0] + (double)d[1] * d[1]);
    CHECK(after <= 2.0 && after > 2.0 * (1 - 1e-5), "just under the bound: %.9g", after);
    float e[] = {0.3f, 0.4f};
    CHECK(!fr_node_round_clip(&t, e, 2, &norm) && e[0] == 0.3f && e[1] == 0.4f, "within");
    t.max_update_norm = 0;
    float g[] = {30, 40};
    CHECK(!fr_node_round_clip(&t, g, 2, &norm) && g[0] == 30, "no bound");

    fr_node_view v = view();
    fr_proto_update u;
    fr_node_round_update_head(&v, &t, 120, 900, 2.5, 77, &u);
    CHECK(u.round == 3 && u.model_version == 3 && u.users == 120 && u.windows == 900 &&
              u.loss == 2.5 && u.n == 77,
          "head");
    CHECK(u.weight == 120, "weight by users: %g", u.weight);
    snprintf(t.weighting, sizeof t.weighting, "windows");
    fr_node_round_update_head(&v, &t, 120, 900, 2.5, 77, &u);
    CHECK(u.weight == 900, "weight by windows: %g", u.weight);
    fr_node_round_update_head(&v, &t, 0, 0, 2.5, 77, &u);
    CHECK(u.weight == 1, "at least 1: %g", u.weight);
    /* the task's cap: a node cuts its own weight to it (the coordinator refuses more) */
    t.max_weight = 500;
    fr_node_round_update_head(&v, &t, 120, 900, 2.5, 77, &u);
    CHECK(u.weight == 500 && u.windows == 900, "cut to the cap: %g", u.weight);
}

static void test_reason_str(void)
{
    for (int r = FR_NODE_GO; r <= FR_NODE_STOP_DONE; r++)
        CHECK(strcmp(fr_node_reason_str((fr_node_reason)r), "unknown reason") != 0, "reason %d", r);
    CHECK(!strcmp(fr_node_reason_str(FR_NODE_SKIP_BUDGET_SPENT), "privacy budget spent"), "%s",
          fr_node_reason_str(FR_NODE_SKIP_BUDGET_SPENT));
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    RUN(test_join_on_heartbeat);
    RUN(test_take_part);
    RUN(test_plain_refused);
    RUN(test_fdp_plain_refused);
    RUN(test_wait);
    RUN(test_max_rounds_and_done);
    RUN(test_give_up);
    RUN(test_prepare_plain_and_no_data);
    RUN(test_prepare_user_dp);
    RUN(test_prepare_budget_spent);
    RUN(test_prepare_site_dp);
    RUN(test_site_dp_replace_one_site);
    RUN(test_after_training);
    RUN(test_reason_str);
    RUN(test_metrics_and_seed);
    return fr_test_end();
}
