/* Secure rounds in the round machine, with a fake clock and in-process nodes (the
 * real fr_secagg_client): every step (setup, advertise, share relay, masked input,
 * unmask) and the sum that comes out, drop-outs after each step, too few survivors,
 * and the refusals the coordinator answers over /v1/secagg/: a wrong step, a
 * non-member, a duplicate message, another node's message, another round, a garbled
 * body, a plain update, a broadcast asked for before its step closed. */
#include <math.h>
#include <msgpack.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "fed/fr_round.h"
#include "fr_test.h"

enum { NP = 6, MAXK = 5 };
#define T0 1000.0

/* How far each node goes: the number of steps it sends (0 none .. 4 all). */
enum { S_NONE, S_ADVERTISE, S_SHARES, S_MASKED, S_CHECK, S_UNMASK };

typedef struct sim {
    fr_round r;
    int k;
    uint8_t pks[MAXK * 32], sks[MAXK * 64];
    uint8_t cert[16], sig[16];
    fr_secagg_client cl[MAXK + 1];
    float delta[MAXK + 1][NP]; /* each node's delta as trained (before scaling) */
    int forge;                 /* this node adds forge_by to its encoded weight */
    uint32_t forge_by;
    double now;
} sim;

static const char *name_of(int v)
{
    static const char *const names[] = {"", "n1", "n2", "n3", "n4", "n5"};
    return names[v];
}

/* k members n1..nk (their own weights 1..k, under a cap of 8), a round 7 on version 3
 * at T0. */
static int sim_open(sim *s, int k, int quorum, int min_updates, int threshold)
{
    memset(s, 0, sizeof *s);
    s->k = k;
    s->now = T0;
    fr_round_config cfg = {.quorum = quorum,
                           .min_nodes = 2,
                           .min_updates = min_updates,
                           .round_timeout = 60,
                           .max_update_norm = 10,
                           .max_weight = 8,
                           .secagg_threshold = threshold,
                           .secagg_step_timeout = 5};
    fr_err err = {{0}};
    if (fr_round_init(&s->r, &cfg, NP, &err) != FR_OK) {
        CHECK(0, "init: %s", err.msg);
        return 0;
    }
    fr_round_snapshot snap = fr_round_plan(&s->r, 3, k, T0);
    snap.id = 7;
    fr_round_open(&s->r, &snap);
    memset(s->cert, 0xc5, sizeof s->cert);
    memset(s->sig, 0x51, sizeof s->sig);
    fr_secagg_member cand[MAXK];
    memset(cand, 0, sizeof cand);
    /* candidates in reverse order: the round numbers them by name */
    for (int v = 1; v <= k; v++) {
        uint8_t seed[crypto_sign_SEEDBYTES] = {(uint8_t)v, 0x5a};
        crypto_sign_seed_keypair(s->pks + (v - 1) * 32, s->sks + (v - 1) * 64, seed);
        fr_secagg_member *e = &cand[k - v];
        snprintf(e->name, sizeof e->name, "%s", name_of(v));
        e->id_pk = s->pks + (v - 1) * 32;
        e->cert = s->cert;
        e->cert_len = sizeof s->cert;
        e->sig = s->sig;
        e->sig_len = sizeof s->sig;
        for (int i = 0; i < NP; i++)
            s->delta[v][i] = 0.05f * (float)((v + i) % 4) - 0.07f;
    }
    if (fr_round_open_secure(&s->r, cand, k, &err) != FR_OK) {
        CHECK(0, "open secure: %s", err.msg);
        return 0;
    }
    int ok = 1;
    for (int v = 1; v <= k; v++)
        if (fr_secagg_client_init(&s->cl[v], &s->r.sa.setup.p, v, s->sks + (v - 1) * 64, s->pks,
                                  &err) != FR_OK)
            ok = 0;
    CHECK(ok, "client init: %s", err.msg);
    return ok;
}

static void sim_free(sim *s)
{
    for (int v = 1; v <= s->k; v++)
        fr_secagg_client_free(&s->cl[v]);
    fr_round_free(&s->r);
}

static fr_round_refusal get(sim *s, int v, fr_round_msg m, msgpack_sbuffer *out, char *reason)
{
    fr_round_decision d;
    msgpack_sbuffer_init(out);
    fr_round_refusal why = fr_round_secure_message(&s->r, s->now, name_of(v), m, s->r.id, NULL, 0,
                                                   out, &d, reason, FR_ERR_LEN);
    CHECK(d.action == FR_ROUND_CONTINUE, "a GET decided %d", d.action);
    return why;
}

static fr_round_refusal post_as(sim *s, const char *node, fr_round_msg m,
                                const msgpack_sbuffer *body, fr_round_decision *d, char *reason)
{
    msgpack_sbuffer none;
    msgpack_sbuffer_init(&none);
    fr_round_refusal why =
        fr_round_secure_message(&s->r, s->now, node, m, 0, (const uint8_t *)body->data, body->size,
                                &none, d, reason, FR_ERR_LEN);
    CHECK(none.size == 0, "a POST answered a body");
    msgpack_sbuffer_destroy(&none);
    return why;
}

/* Node v's message for step (S_ADVERTISE..S_UNMASK) into body, from the broadcast
 * before it. */
static int make_msg(sim *s, int v, int step, msgpack_sbuffer *body)
{
    fr_err err = {{0}};
    char reason[FR_ERR_LEN];
    msgpack_sbuffer in;
    fr_status st = FR_OK;
    msgpack_sbuffer_init(body);
    msgpack_sbuffer_init(&in);
    if (step == S_ADVERTISE) {
        st = fr_secagg_client_advertise(&s->cl[v], body, &err);
    } else if (step == S_SHARES) {
        msgpack_sbuffer_destroy(&in);
        CHECK(get(s, v, FR_ROUND_GET_ADVERTS, &in, reason) == FR_ROUND_OK, "adverts: %s", reason);
        st = fr_secagg_client_share(&s->cl[v], in.data, in.size, body, &err);
    } else if (step == S_MASKED) {
        msgpack_sbuffer_destroy(&in);
        CHECK(get(s, v, FR_ROUND_GET_RELAY, &in, reason) == FR_ROUND_OK, "relay: %s", reason);
        uint32_t x[NP + FR_SECAGG_ROUND_EXTRA];
        float d[NP];
        int clipped = 0;
        /* node v evaluated v users (under the cap): HR 0.1 v, NDCG 0.05 v, recall 0.2 v */
        fr_secagg_round_eval ev = {v, 0.1 * v, 0.05 * v, 0.2 * v};
        memcpy(d, s->delta[v], sizeof d);
        if ((st = fr_secagg_round_encode(&s->r.sa.setup, v, d, 0.25 * v, &ev, x, &clipped, &err)) ==
            FR_OK) {
            if (v == s->forge)
                x[NP] += s->forge_by; /* the weight coordinate, outside the layout */
            st = fr_secagg_client_masked_input(&s->cl[v], in.data, in.size, x, body, &err);
        }
    } else if (step == S_CHECK) {
        msgpack_sbuffer_destroy(&in);
        CHECK(get(s, v, FR_ROUND_GET_CHECK, &in, reason) == FR_ROUND_OK, "check: %s", reason);
        st = fr_secagg_client_check(&s->cl[v], in.data, in.size, body, &err);
    } else {
        msgpack_sbuffer_destroy(&in);
        CHECK(get(s, v, FR_ROUND_GET_UNMASK, &in, reason) == FR_ROUND_OK, "unmask: %s", reason);
        st = fr_secagg_client_unmask(&s->cl[v], in.data, in.size, body, &err);
    }
    msgpack_sbuffer_destroy(&in);
    CHECK(st == FR_OK, "node %d step %d: %s", v, step, err.msg);
    return st == FR_OK;
}

static const fr_round_msg post_of[] = {0,
                                       FR_ROUND_POST_ADVERTISE,
                                       FR_ROUND_POST_SHARES,
                                       FR_ROUND_POST_MASKED,
                                       FR_ROUND_POST_CHECK,
                                       FR_ROUND_POST_UNMASK};

/* Every node with upto[v] >= step sends its message; the step closes on the last one
 * or, when some are missing, at its deadline. The decision that closed it into *d. */
static void phase(sim *s, int step, const int *upto, fr_round_decision *d)
{
    char reason[FR_ERR_LEN];
    d->action = FR_ROUND_CONTINUE;
    for (int v = 1; v <= s->k; v++) {
        if (upto[v] < step)
            continue;
        msgpack_sbuffer body;
        fr_round_decision one;
        if (!make_msg(s, v, step, &body))
            return;
        CHECK(post_as(s, name_of(v), post_of[step], &body, &one, reason) == FR_ROUND_OK,
              "node %d step %d: %s", v, step, reason);
        msgpack_sbuffer_destroy(&body);
        if (one.action != FR_ROUND_CONTINUE)
            *d = one;
    }
    if (step == S_UNMASK) {
        /* finished on the next tick once every survivor answered, else at the step's end */
        if (!fr_round_secure_unmasked(&s->r))
            s->now = s->r.sa.step_deadline;
        fr_round_tick(&s->r, s->now, d);
    } else if (d->action == FR_ROUND_CONTINUE) {
        fr_round_tick(&s->r, s->now + 1, d);
        CHECK(d->action == FR_ROUND_CONTINUE, "step %d closed early: %d", step, d->action);
        s->now = s->r.sa.step_deadline;
        fr_round_tick(&s->r, s->now, d);
    }
}

/* The weighted sum of the deltas of the nodes in U3 (sent their masked input). */
static void check_sum(const sim *s, const int *upto, int want_count)
{
    double w = 0, loss = 0, eu = 0, ehr = 0;
    int count = 0;
    for (int v = 1; v <= s->k; v++)
        if (upto[v] >= S_MASKED) {
            w += v;
            loss += v * 0.25 * v;
            eu += v;
            ehr += v * 0.1 * v;
            count++;
        }
    /* the survivors' evaluation of the version, weighted by their eval users */
    CHECK(fabs(s->r.eval.users - eu) < 1e-3 && fabs(s->r.eval.hr10 - ehr / eu) < 1e-4 &&
              fabs(s->r.eval.ndcg10 - ehr / eu / 2) < 1e-4 &&
              fabs(s->r.eval.recall10 - 2 * ehr / eu) < 1e-4,
          "eval users %g (want %g) HR %g (want %g) NDCG %g recall %g", s->r.eval.users, eu,
          s->r.eval.hr10, ehr / eu, s->r.eval.ndcg10, s->r.eval.recall10);
    CHECK(count == want_count && s->r.agg.count == count, "count %d, want %d", s->r.agg.count,
          count);
    CHECK(fabs(s->r.agg.weight - w) < 1e-12, "weight %g, want %g", s->r.agg.weight, w);
    CHECK(fabs(s->r.loss_sum - loss) < 1e-3 * loss, "loss sum %g, want %g", s->r.loss_sum, loss);
    for (int i = 0; i < NP; i++) {
        double want = 0;
        for (int v = 1; v <= s->k; v++)
            if (upto[v] >= S_MASKED)
                want += v * (double)s->delta[v][i];
        CHECK(fabs(s->r.agg.sum[i] - want) < 1e-4, "sum[%d] %g, want %g", i, s->r.agg.sum[i], want);
    }
    /* the survivors' sum of w |delta|^2, which FedAvg's extrapolation reads, to the
     * sqnorm segment's quantisation (its values are over clip^2) */
    double want_sq = 0;
    for (int v = 1; v <= s->k; v++)
        if (upto[v] >= S_MASKED)
            for (int i = 0; i < NP; i++)
                want_sq += v * (double)s->delta[v][i] * s->delta[v][i];
    fr_secagg_layout l;
    fr_err err = {{0}};
    CHECK(fr_secagg_round_layout(&s->r.sa.setup, &l, &err) == FR_OK, "%s", err.msg);
    const fr_secagg_segment *sg = fr_secagg_layout_find(&l, FR_SECAGG_SEG_SQNORM);
    double clip = s->r.sa.setup.clip, tol = sg ? count / sg->scale * clip * clip : 0;
    CHECK(s->r.agg.sq_count == count && fabs(s->r.agg.sqsum - want_sq) <= tol,
          "sum of w |delta|^2 %g over %d deltas, want %g over %d (within %g)", s->r.agg.sqsum,
          s->r.agg.sq_count, want_sq, count, tol);
    const fr_secagg_member *in[MAXK];
    int n = fr_round_secure_contributors(&s->r, in, MAXK);
    CHECK(n == count, "contributors %d", n);
    for (int i = 0; i < n; i++)
        CHECK(upto[in[i]->id] >= S_MASKED && !strcmp(in[i]->name, name_of(in[i]->id)),
              "contributor %s", in[i]->name);
}

/* Run a whole round where node v goes as far as upto[v]; the decision after the
 * unmasking step (or the abort that came first) into *end. */
static void run(sim *s, const int *upto, fr_round_decision *end)
{
    for (int step = S_ADVERTISE; step <= S_UNMASK; step++) {
        phase(s, step, upto, end);
        if (end->action == FR_ROUND_ABORT)
            return;
    }
}

static void test_setup(void)
{
    sim s;
    if (!sim_open(&s, 3, 0, 1, 0))
        return;
    const fr_secagg_setup *st = &s.r.sa.setup;
    CHECK(st->p.n == 3 && st->p.t == 3 && st->p.m == NP + FR_SECAGG_ROUND_EXTRA && st->p.round == 7,
          "params n %d t %d m %u round %u", st->p.n, st->p.t, st->p.m, st->p.round);
    CHECK(s.r.expected == 3, "quorum: every member, %d", s.r.expected);
    CHECK(s.r.sa.step_deadline == s.r.deadline, "first step spans training");
    char reason[FR_ERR_LEN];
    msgpack_sbuffer out;
    CHECK(get(&s, 2, FR_ROUND_GET_SETUP, &out, reason) == FR_ROUND_OK, "%s", reason);
    fr_secagg_setup *dec = malloc(sizeof *dec);
    fr_err err = {{0}};
    CHECK(dec && fr_secagg_setup_decode(out.data, out.size, dec, &err) == FR_OK, "%s", err.msg);
    if (dec) {
        CHECK(dec->p.n == 3 && dec->model_version == 3 && dec->max_weight == 8, "decoded");
        for (int i = 0; i < 3; i++)
            CHECK(dec->e[i].id == i + 1 && !strcmp(dec->e[i].name, name_of(i + 1)) &&
                      !memcmp(dec->e[i].id_pk, s.pks + i * 32, 32),
                  "member %d: %s", i + 1, dec->e[i].name);
    }
    free(dec);
    msgpack_sbuffer_destroy(&out);
    CHECK(fr_round_secure_task_open(&s.r, "n1") && !fr_round_secure_task_open(&s.r, "n9"),
          "task open");
    sim_free(&s);

    /* the threshold is raised above 2n/3 (the nodes' floor), a quorum below it to the
     * threshold */
    if (!sim_open(&s, 5, 2, 1, 0))
        return;
    CHECK(s.r.sa.setup.p.t == 4 && s.r.expected == 4, "t %d expected %d", s.r.sa.setup.p.t,
          s.r.expected);
    sim_free(&s);
    if (!sim_open(&s, 4, 0, 1, 9))
        return;
    CHECK(s.r.sa.setup.p.t == 4, "a threshold above n is n: %d", s.r.sa.setup.p.t);
    sim_free(&s);

    /* one candidate is no secure round */
    fr_round r;
    fr_round_config cfg = {.round_timeout = 60, .max_update_norm = 10, .min_updates = 1};
    fr_err e2 = {{0}};
    CHECK(fr_round_init(&r, &cfg, NP, &e2) == FR_OK, "%s", e2.msg);
    fr_round_snapshot snap = fr_round_plan(&r, 0, 1, T0);
    snap.id = 1;
    fr_round_open(&r, &snap);
    uint8_t pk[32] = {0};
    fr_secagg_member one = {.name = "n1", .id_pk = pk};
    CHECK(fr_round_open_secure(&r, &one, 1, &e2) == FR_ENODATA && strstr(e2.msg, "3 members"),
          "one member: %s", e2.msg);
    fr_secagg_member two[2] = {one, one};
    snprintf(two[1].name, sizeof two[1].name, "n2");
    CHECK(fr_round_open_secure(&r, two, 2, &e2) == FR_ENODATA &&
              strstr(e2.msg, "needs 3 members, 2 eligible"),
          "two members: %s", e2.msg);
    CHECK(!r.sa.on, "no secure round left on");
    fr_round_free(&r);
}

static void test_all_steps(void)
{
    sim s;
    if (!sim_open(&s, 3, 0, 1, 0))
        return;
    int upto[MAXK + 1] = {0, S_UNMASK, S_UNMASK, S_UNMASK};
    char reason[FR_ERR_LEN];
    msgpack_sbuffer out;
    fr_round_decision d;
    /* broadcasts asked for before their step closed: ask again */
    CHECK(get(&s, 1, FR_ROUND_GET_ADVERTS, &out, reason) == FR_ROUND_NOT_YET &&
              !strcmp(reason, "round 7 is still collecting the key advertisements"),
          "adverts early: %s", reason);
    msgpack_sbuffer_destroy(&out);
    CHECK(get(&s, 1, FR_ROUND_GET_RELAY, &out, reason) == FR_ROUND_NOT_YET, "%s", reason);
    msgpack_sbuffer_destroy(&out);
    CHECK(get(&s, 1, FR_ROUND_GET_UNMASK, &out, reason) == FR_ROUND_NOT_YET, "%s", reason);
    msgpack_sbuffer_destroy(&out);
    phase(&s, S_ADVERTISE, upto, &d);
    CHECK(d.action == FR_ROUND_STEPPED && !strcmp(d.note, "3 of 3 members advertised keys"),
          "advertise step: %d %s", d.action, d.note);
    CHECK(s.r.sa.sv.stage == FR_SECAGG_SV_SHARES, "stage %d", s.r.sa.sv.stage);
    CHECK(s.r.sa.step_deadline == s.now + 5, "next step's deadline %g", s.r.sa.step_deadline);
    phase(&s, S_SHARES, upto, &d);
    CHECK(d.action == FR_ROUND_STEPPED && !strcmp(d.note, "3 members shared their keys"),
          "shares step: %d %s", d.action, d.note);
    CHECK(get(&s, 1, FR_ROUND_GET_UNMASK, &out, reason) == FR_ROUND_NOT_YET &&
              strstr(reason, "masked updates"),
          "unmask early: %s", reason);
    msgpack_sbuffer_destroy(&out);
    phase(&s, S_MASKED, upto, &d);
    CHECK(d.action == FR_ROUND_STEPPED &&
              !strcmp(d.note, "3 masked updates in, 0 dropped; consistency check"),
          "masked step: %d %s", d.action, d.note);
    CHECK(get(&s, 1, FR_ROUND_GET_UNMASK, &out, reason) == FR_ROUND_NOT_YET &&
              strstr(reason, "signatures over U3"),
          "unmask before the check: %s", reason);
    msgpack_sbuffer_destroy(&out);
    phase(&s, S_CHECK, upto, &d);
    CHECK(d.action == FR_ROUND_STEPPED && !strcmp(d.note, "3 of 3 members signed U3; unmasking"),
          "check step: %d %s", d.action, d.note);
    double before = s.now;
    phase(&s, S_UNMASK, upto, &d);
    CHECK(s.now == before, "finished on every answer, not at the step's deadline");
    CHECK(d.action == FR_ROUND_PUBLISH && !strcmp(d.note, "unmasked the sum of 3 members"),
          "finish: %d %s", d.action, d.note);
    CHECK(s.r.sa.sv.stage == FR_SECAGG_SV_DONE, "stage %d", s.r.sa.sv.stage);
    check_sum(&s, upto, 3);
    CHECK(!fr_round_secure_task_open(&s.r, "n1"), "no task once done");
    CHECK(get(&s, 1, FR_ROUND_GET_SETUP, &out, reason) == FR_ROUND_OVER &&
              !strcmp(reason, "round 7's secure aggregation is over"),
          "after the end: %s", reason);
    msgpack_sbuffer_destroy(&out);
    fr_round_end(&s.r);
    CHECK(!s.r.sa.on && s.r.id == 0, "ended");
    CHECK(get(&s, 1, FR_ROUND_GET_SETUP, &out, reason) == FR_ROUND_NO_ROUND &&
              !strcmp(reason, "no secure round is open"),
          "no round: %s", reason);
    msgpack_sbuffer_destroy(&out);
    sim_free(&s);
}

/* One node of four stops after each step in turn (threshold 3). */
static void test_dropouts(void)
{
    for (int last = S_NONE; last <= S_CHECK; last++) {
        sim s;
        if (!sim_open(&s, 4, 0, 3, 0))
            return;
        int upto[MAXK + 1] = {0, S_UNMASK, S_UNMASK, S_UNMASK, last};
        fr_round_decision d;
        run(&s, upto, &d);
        int want = last >= S_MASKED ? 4 : 3;
        CHECK(d.action == FR_ROUND_PUBLISH, "n4 stopped after step %d: %d %s", last, d.action,
              d.note);
        char note[64];
        snprintf(note, sizeof note, "unmasked the sum of %d members", want);
        CHECK(!strcmp(d.note, note), "after step %d: %s", last, d.note);
        check_sum(&s, upto, want);
        /* a node that dropped out is told so for the steps after */
        if (last < S_MASKED) {
            char reason[FR_ERR_LEN];
            msgpack_sbuffer out;
            fr_round_refusal why = get(&s, 4, FR_ROUND_GET_UNMASK, &out, reason);
            msgpack_sbuffer_destroy(&out);
            CHECK(why == FR_ROUND_OVER, "after the end: %d %s", why, reason);
        }
        sim_free(&s);
    }
}

/* The dropped node asks for a broadcast of a step it is not part of. */
static void test_dropped_node_asks(void)
{
    sim s;
    if (!sim_open(&s, 4, 0, 3, 0))
        return;
    int upto[MAXK + 1] = {0, S_UNMASK, S_UNMASK, S_UNMASK, S_NONE};
    fr_round_decision d;
    char reason[FR_ERR_LEN];
    msgpack_sbuffer out;
    phase(&s, S_ADVERTISE, upto, &d);
    CHECK(d.action == FR_ROUND_STEPPED && !strcmp(d.note, "3 of 4 members advertised keys"),
          "closed at the deadline: %d %s", d.action, d.note);
    CHECK(get(&s, 4, FR_ROUND_GET_ADVERTS, &out, reason) == FR_ROUND_DROPPED &&
              !strcmp(reason, "node 4 (n4) dropped out of round 7 before this step"),
          "dropped: %s", reason);
    msgpack_sbuffer_destroy(&out);
    /* its late advertisement is out of step */
    msgpack_sbuffer body;
    if (make_msg(&s, 4, S_ADVERTISE, &body)) {
        CHECK(post_as(&s, "n4", FR_ROUND_POST_ADVERTISE, &body, &d, reason) ==
                      FR_ROUND_WRONG_STEP &&
                  strstr(reason, "out of step"),
              "late advert: %s", reason);
        msgpack_sbuffer_destroy(&body);
    }
    CHECK(fr_round_secure_task_open(&s.r, "n4"), "a member's task stays open until the end");
    sim_free(&s);
}

static void test_too_few_survivors(void)
{
    sim s;
    if (!sim_open(&s, 4, 0, 3, 0))
        return;
    int upto[MAXK + 1] = {0, S_UNMASK, S_UNMASK, S_SHARES, S_SHARES};
    fr_round_decision d;
    run(&s, upto, &d);
    CHECK(d.action == FR_ROUND_ABORT &&
              strstr(d.note, "2 nodes sent masked inputs, the threshold is 3"),
          "abort: %d %s", d.action, d.note);
    CHECK(s.r.sa.sv.stage == FR_SECAGG_SV_ABORTED, "stage %d", s.r.sa.sv.stage);
    char reason[FR_ERR_LEN];
    msgpack_sbuffer out;
    CHECK(get(&s, 1, FR_ROUND_GET_UNMASK, &out, reason) == FR_ROUND_OVER, "%s", reason);
    msgpack_sbuffer_destroy(&out);
    sim_free(&s);

    /* no advertisement at all by the round's deadline */
    if (!sim_open(&s, 3, 0, 3, 0))
        return;
    int none[MAXK + 1] = {0};
    run(&s, none, &d);
    CHECK(d.action == FR_ROUND_ABORT &&
              strstr(d.note, "nothing is output: 0 nodes advertised keys, the threshold is 3"),
          "no advertisement: %d %s", d.action, d.note);
    sim_free(&s);
}

static void test_refusals(void)
{
    sim s;
    if (!sim_open(&s, 3, 0, 1, 0))
        return;
    char reason[FR_ERR_LEN];
    msgpack_sbuffer out, b1, b2;
    fr_round_decision d;
    msgpack_sbuffer_init(&out);
    CHECK(fr_round_secure_message(&s.r, s.now, "n9", FR_ROUND_GET_SETUP, 7, NULL, 0, &out, &d,
                                  reason, sizeof reason) == FR_ROUND_NOT_MEMBER &&
              !strcmp(reason, "n9 is not a member of round 7"),
          "non-member: %s", reason);
    CHECK(fr_round_secure_message(&s.r, s.now, "n1", FR_ROUND_GET_SETUP, 6, NULL, 0, &out, &d,
                                  reason, sizeof reason) == FR_ROUND_WRONG_ROUND &&
              !strcmp(reason, "round 6 is not the open round 7"),
          "another round: %s", reason);
    CHECK(out.size == 0, "refusals answer no body");
    msgpack_sbuffer_destroy(&out);
    if (!make_msg(&s, 1, S_ADVERTISE, &b1) || !make_msg(&s, 2, S_ADVERTISE, &b2))
        return;
    CHECK(post_as(&s, "n9", FR_ROUND_POST_ADVERTISE, &b1, &d, reason) == FR_ROUND_NOT_MEMBER,
          "non-member post: %s", reason);
    CHECK(post_as(&s, "n1", FR_ROUND_POST_ADVERTISE, &b2, &d, reason) == FR_ROUND_WRONG_SENDER &&
              !strcmp(reason, "a advertise message from node 2, but n1 is node 1"),
          "another node's message: %s", reason);
    static const char junk[] = {(char)0x93, 1, 2, 3, 4};
    msgpack_sbuffer g;
    msgpack_sbuffer_init(&g);
    msgpack_sbuffer_write(&g, junk, sizeof junk);
    CHECK(post_as(&s, "n1", FR_ROUND_POST_ADVERTISE, &g, &d, reason) == FR_ROUND_MALFORMED,
          "garbled: %s", reason);
    CHECK(post_as(&s, "n1", FR_ROUND_POST_MASKED, &g, &d, reason) == FR_ROUND_MALFORMED,
          "garbled masked: %s", reason);
    msgpack_sbuffer_destroy(&g);
    CHECK(post_as(&s, "n1", FR_ROUND_POST_ADVERTISE, &b1, &d, reason) == FR_ROUND_OK &&
              !strcmp(reason, "accepted") && d.action == FR_ROUND_CONTINUE,
          "first advert: %s", reason);
    CHECK(post_as(&s, "n1", FR_ROUND_POST_ADVERTISE, &b1, &d, reason) == FR_ROUND_DUPLICATE &&
              strstr(reason, "a second advertise"),
          "duplicate: %s", reason);
    CHECK(s.r.sa.sv.n_u1 == 1, "refusals counted nothing: %d", s.r.sa.sv.n_u1);
    /* a plain update to a secure round */
    fr_proto_update u = {.round = 7, .model_version = 3, .users = 1, .weight = 1, .n = NP};
    msgpack_sbuffer ub;
    msgpack_sbuffer_init(&ub);
    fr_proto_update_head_encode(&u, &ub);
    static const uint8_t zeros[4 * NP];
    msgpack_sbuffer_write(&ub, (const char *)zeros, sizeof zeros);
    fr_round_update ru;
    CHECK(fr_round_check_update(&s.r, s.now, "n1", 1, (const uint8_t *)ub.data, ub.size, &ru,
                                reason, sizeof reason) == FR_ROUND_SECURE_ONLY &&
              strstr(reason, "uses secure aggregation"),
          "plain update: %s", reason);
    msgpack_sbuffer_destroy(&ub);
    /* the advertisement step closes with n2, n3; n1's advertisement again is out of step */
    CHECK(post_as(&s, "n2", FR_ROUND_POST_ADVERTISE, &b2, &d, reason) == FR_ROUND_OK, "%s", reason);
    int upto[MAXK + 1] = {0, S_NONE, S_NONE, S_UNMASK};
    phase(&s, S_ADVERTISE, upto, &d);
    CHECK(d.action == FR_ROUND_STEPPED && !strcmp(d.note, "3 of 3 members advertised keys"),
          "%d %s", d.action, d.note);
    CHECK(post_as(&s, "n1", FR_ROUND_POST_ADVERTISE, &b1, &d, reason) == FR_ROUND_WRONG_STEP,
          "wrong step: %s", reason);
    msgpack_sbuffer_destroy(&b1);
    msgpack_sbuffer_destroy(&b2);
    sim_free(&s);
}

/* A member whose vector claims more weight than k members under the cap can hold:
 * the round aborts instead of publishing a mean that member decides. */
static void test_weight_outside_layout(void)
{
    sim s;
    if (!sim_open(&s, 3, 0, 1, 0))
        return;
    fr_secagg_layout l;
    fr_err err = {{0}};
    CHECK(fr_secagg_round_layout(&s.r.sa.setup, &l, &err) == FR_OK, "%s", err.msg);
    const fr_secagg_segment *w = fr_secagg_layout_find(&l, FR_SECAGG_SEG_WEIGHT);
    CHECK(w && w->offset == NP && w->bound == 8, "the weight segment");
    s.forge = 2;
    s.forge_by = (uint32_t)(int32_t)(1000 * w->scale); /* 1000 more than its weight */
    int upto[MAXK + 1] = {0, S_UNMASK, S_UNMASK, S_UNMASK};
    fr_round_decision d;
    run(&s, upto, &d);
    CHECK(d.action == FR_ROUND_ABORT && strstr(d.note, "outside the layout"), "%d %s", d.action,
          d.note);
    sim_free(&s);
}

int main(void)
{
    if (sodium_init() < 0) {
        printf("sodium_init failed\n");
        return 1;
    }
    RUN(test_setup);
    RUN(test_all_steps);
    RUN(test_dropouts);
    RUN(test_dropped_node_asks);
    RUN(test_too_few_survivors);
    RUN(test_refusals);
    RUN(test_weight_outside_layout);
    return fr_test_end();
}
