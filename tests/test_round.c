/* The coordinator's round as a state machine, with a fake clock and no sockets: a
 * plain round closes at its quorum or its deadline (publishing with enough updates,
 * aborting without), refuses stale, duplicate, late, malformed and out-of-bounds
 * updates with the right reason, and is rebuilt after a restart from what the store
 * holds. Secure rounds (test_round_secure.c) walk every step. */
#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "fed/fr_round.h"
#include "fr_test.h"

enum { NP = 8 };  /* model parameters */
#define T0 1000.0 /* the fake clock at opening */

static fr_round_config config(int quorum, int min_updates)
{
    return (fr_round_config){.quorum = quorum,
                             .min_nodes = 2,
                             .min_updates = min_updates,
                             .round_timeout = 60,
                             .max_update_norm = 10,
                             .weight_windows = 0,
                             .secagg_threshold = 0,
                             .secagg_step_timeout = 5};
}

/* An update body as a node sends it: head, then n little-endian floats. */
static void body(msgpack_sbuffer *sb, long round, long version, long users, double weight,
                 double loss, const float *delta, size_t n)
{
    fr_proto_update u = {.round = round,
                         .model_version = version,
                         .users = users,
                         .windows = 3 * users,
                         .weight = weight,
                         .loss = loss,
                         .n = n};
    msgpack_sbuffer_init(sb);
    fr_proto_update_head_encode(&u, sb);
    for (size_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &delta[i], 4);
        uint8_t le[4] = {(uint8_t)b, (uint8_t)(b >> 8), (uint8_t)(b >> 16), (uint8_t)(b >> 24)};
        msgpack_sbuffer_write(sb, (const char *)le, 4);
    }
}

/* Node v's delta: small, distinct per node and coordinate. */
static void delta_of(int v, float *d)
{
    for (int i = 0; i < NP; i++)
        d[i] = 0.01f * (float)(v * (i + 1)) - 0.02f;
}

/* A round 7 on version 3 opened at T0 with live nodes. */
static int open7(fr_round *r, const fr_round_config *cfg, int live)
{
    fr_err err = {{0}};
    if (fr_round_init(r, cfg, NP, &err) != FR_OK) {
        CHECK(0, "init: %s", err.msg);
        return 0;
    }
    fr_round_snapshot s = fr_round_plan(r, 3, live, T0);
    CHECK(s.version == 3 && s.opened_at == T0 && s.deadline == T0 + 60, "plan %ld %g %g", s.version,
          s.opened_at, s.deadline);
    s.id = 7;
    fr_round_open(r, &s);
    return 1;
}

/* Offer node's update (users = its weight) at now; on acceptance add it. */
static fr_round_refusal offer(fr_round *r, double now, const char *node, int v, long round,
                              long version, int *quorum, char *reason)
{
    float d[NP];
    delta_of(v, d);
    msgpack_sbuffer sb;
    body(&sb, round, version, v, (double)v, 0.5 * v, d, NP);
    fr_round_update u;
    fr_round_refusal why = fr_round_check_update(r, now, node, 1, (const uint8_t *)sb.data, sb.size,
                                                 &u, reason, FR_ERR_LEN);
    if (why == FR_ROUND_OK) {
        fr_err err = {{0}};
        CHECK(fr_round_add_update(r, node, &u, quorum, &err) == FR_OK, "%s", err.msg);
        double sq = 0;
        for (int i = 0; i < NP; i++)
            sq += (double)d[i] * d[i];
        CHECK(fabs(u.norm - sqrt(sq)) < 1e-9, "norm %g, want %g", u.norm, sqrt(sq));
        /* and its weight times its squared norm, for the server's extrapolation */
        CHECK(r->agg.sq_count == r->agg.count, "%d squared norms for %d deltas", r->agg.sq_count,
              r->agg.count);
    }
    msgpack_sbuffer_destroy(&sb);
    return why;
}

static void test_refusal_names(void)
{
    for (int a = 0; a < FR_ROUND_NREFUSALS; a++) {
        const char *s = fr_round_refusal_str((fr_round_refusal)a);
        CHECK(strcmp(s, "unknown") != 0 && *s, "refusal %d has no name", a);
        for (int b = 0; b < a; b++)
            CHECK(strcmp(s, fr_round_refusal_str((fr_round_refusal)b)) != 0, "%d and %d: %s", a, b,
                  s);
    }
    CHECK(!strcmp(fr_round_refusal_str(FR_ROUND_STALE), "stale"), "stale");
    CHECK(!strcmp(fr_round_refusal_str(FR_ROUND_NREFUSALS), "unknown"), "out of range");
    CHECK(!strcmp(fr_round_refusal_str((fr_round_refusal)-1), "unknown"), "negative");
    CHECK(!strcmp(fr_round_msg_name(FR_ROUND_POST_MASKED), "masked") &&
              !strcmp(fr_round_msg_name(FR_ROUND_GET_RELAY), "relay") &&
              !strcmp(fr_round_msg_name(FR_ROUND_NMSGS), ""),
          "message names");
}

static void test_quorum_closes(void)
{
    fr_round r;
    fr_round_config cfg = config(2, 1);
    if (!open7(&r, &cfg, 5))
        return;
    CHECK(r.expected == 2, "expected %d", r.expected);
    char reason[FR_ERR_LEN];
    int quorum = -1;
    fr_round_decision d;
    CHECK(offer(&r, T0 + 1, "a", 1, 7, 3, &quorum, reason) == FR_ROUND_OK, "%s", reason);
    CHECK(quorum == 0, "quorum after 1 of 2");
    fr_round_tick(&r, T0 + 2, &d);
    CHECK(d.action == FR_ROUND_CONTINUE, "tick with 1 of 2: %d", d.action);
    CHECK(offer(&r, T0 + 3, "b", 2, 7, 3, &quorum, reason) == FR_ROUND_OK, "%s", reason);
    CHECK(quorum == 1, "quorum after 2 of 2");
    CHECK(fr_round_has_update(&r, "a") && fr_round_has_update(&r, "b") &&
              !fr_round_has_update(&r, "c"),
          "who sent");
    fr_round_tick(&r, T0 + 4, &d);
    CHECK(d.action == FR_ROUND_PUBLISH, "tick at quorum: %d", d.action);
    CHECK(r.agg.count == 2 && r.agg.weight == 3.0, "count %d weight %g", r.agg.count, r.agg.weight);
    CHECK(fabs(r.loss_sum - (1 * 0.5 + 2 * 1.0)) < 1e-12, "loss sum %g", r.loss_sum);
    float d1[NP], d2[NP];
    delta_of(1, d1);
    delta_of(2, d2);
    for (int i = 0; i < NP; i++)
        CHECK(fabs(r.agg.sum[i] - (1.0 * d1[i] + 2.0 * d2[i])) < 1e-9, "sum[%d] %g", i,
              r.agg.sum[i]);
    /* a third update while the round waits to be published is late */
    CHECK(offer(&r, T0 + 5, "c", 3, 7, 3, &quorum, reason) == FR_ROUND_LATE &&
              strstr(reason, "late"),
          "after the quorum: %s", reason);
    fr_round_end(&r);
    CHECK(r.id == 0 && r.agg.count == 0 && r.agg.weight == 0 && !fr_round_has_update(&r, "a"),
          "ended round keeps state");
    fr_round_tick(&r, T0 + 6, &d);
    CHECK(d.action == FR_ROUND_CONTINUE, "tick with no round: %d", d.action);
    fr_round_free(&r);
}

static void test_quorum_of_live_nodes(void)
{
    fr_round r;
    fr_round_config cfg = config(0, 1);
    if (!open7(&r, &cfg, 3))
        return;
    CHECK(r.expected == 3, "quorum 0 = the 3 live nodes: %d", r.expected);
    fr_round_free(&r);
}

static void test_deadline_publishes(void)
{
    fr_round r;
    fr_round_config cfg = config(3, 1);
    if (!open7(&r, &cfg, 3))
        return;
    char reason[FR_ERR_LEN];
    int quorum = 0;
    fr_round_decision d;
    CHECK(offer(&r, T0 + 1, "a", 1, 7, 3, &quorum, reason) == FR_ROUND_OK, "%s", reason);
    fr_round_tick(&r, T0 + 59.9, &d);
    CHECK(d.action == FR_ROUND_CONTINUE, "before the deadline: %d", d.action);
    fr_round_tick(&r, T0 + 60, &d);
    CHECK(d.action == FR_ROUND_PUBLISH && strstr(d.note, "deadline with 1 of 3 updates"),
          "at the deadline with min_updates met: %d %s", d.action, d.note);
    CHECK(r.agg.count == 1, "count %d", r.agg.count);
    fr_round_free(&r);
}

static void test_deadline_aborts(void)
{
    fr_round r;
    fr_round_config cfg = config(3, 2);
    if (!open7(&r, &cfg, 3))
        return;
    char reason[FR_ERR_LEN];
    int quorum = 0;
    fr_round_decision d;
    CHECK(offer(&r, T0 + 1, "a", 1, 7, 3, &quorum, reason) == FR_ROUND_OK, "%s", reason);
    fr_round_tick(&r, T0 + 61, &d);
    CHECK(d.action == FR_ROUND_ABORT &&
              !strcmp(d.note, "deadline passed with 1 of 3 updates (2 needed)"),
          "at the deadline short of min_updates: %d %s", d.action, d.note);
    /* after its deadline, an update is late even before the owner aborts the round */
    CHECK(offer(&r, T0 + 61, "b", 2, 7, 3, &quorum, reason) == FR_ROUND_LATE &&
              strstr(reason, "deadline"),
          "late: %s", reason);
    fr_round_end(&r);
    CHECK(offer(&r, T0 + 62, "b", 2, 7, 3, &quorum, reason) == FR_ROUND_NO_ROUND &&
              !strcmp(reason, "round 7 is closed; no round is open"),
          "after the abort: %s", reason);
    fr_round_free(&r);
}

static void test_refusals(void)
{
    fr_round r;
    fr_round_config cfg = config(3, 1);
    if (!open7(&r, &cfg, 3))
        return;
    char reason[FR_ERR_LEN];
    fr_round_update u;
    int quorum = 0;
    float d[NP];
    delta_of(1, d);
    msgpack_sbuffer sb;
#define TRY(node, joined)                                                                          \
    fr_round_check_update(&r, T0 + 1, node, joined, (const uint8_t *)sb.data, sb.size, &u, reason, \
                          sizeof reason)
    static const uint8_t junk[] = {0x93, 0x01, 0xc1};
    CHECK(fr_round_check_update(&r, T0 + 1, "a", 1, junk, sizeof junk, &u, reason, sizeof reason) ==
              FR_ROUND_MALFORMED,
          "garbage: %s", reason);
    body(&sb, 7, 3, 1, 1, 0.5, d, NP);
    CHECK(fr_round_check_update(&r, T0 + 1, "a", 1, (const uint8_t *)sb.data, sb.size - 3, &u,
                                reason, sizeof reason) == FR_ROUND_MALFORMED,
          "truncated: %s", reason);
    msgpack_sbuffer_destroy(&sb);
    body(&sb, 7, 3, 1, 1, 0.5, d, NP - 1);
    CHECK(TRY("a", 1) == FR_ROUND_WRONG_SIZE && strstr(reason, "parameters"), "size: %s", reason);
    msgpack_sbuffer_destroy(&sb);
    body(&sb, 9, 3, 1, 1, 0.5, d, NP);
    CHECK(TRY("a", 1) == FR_ROUND_WRONG_ROUND && !strcmp(reason, "round 9 is not the open round 7"),
          "round: %s", reason);
    msgpack_sbuffer_destroy(&sb);
    body(&sb, 7, 2, 1, 1, 0.5, d, NP);
    CHECK(TRY("a", 1) == FR_ROUND_STALE &&
              !strcmp(reason, "stale update: trained from version 2, round 7 is on 3"),
          "stale: %s", reason);
    msgpack_sbuffer_destroy(&sb);
    body(&sb, 7, 3, 1, 0.5, 0.5, d, NP);
    CHECK(TRY("a", 1) == FR_ROUND_BAD_WEIGHT && strstr(reason, "weight 0.5 is outside [1, 10000]"),
          "weight: %s", reason);
    msgpack_sbuffer_destroy(&sb);
    body(&sb, 7, 3, 1, 1, 0.5, d, NP);
    CHECK(TRY("z", 0) == FR_ROUND_NOT_MEMBER &&
              !strcmp(reason, "node z has not joined (POST /v1/join first)"),
          "not joined: %s", reason);
    CHECK(TRY("a", 1) == FR_ROUND_OK, "good: %s", reason);
    CHECK(r.agg.count == 0, "a check adds nothing");
    fr_err err = {{0}};
    CHECK(fr_round_add_update(&r, "a", &u, &quorum, &err) == FR_OK, "%s", err.msg);
    CHECK(TRY("a", 1) == FR_ROUND_DUPLICATE &&
              !strcmp(reason, "duplicate update from a for round 7"),
          "duplicate: %s", reason);
    msgpack_sbuffer_destroy(&sb);
    float big[NP];
    for (int i = 0; i < NP; i++)
        big[i] = 5;
    body(&sb, 7, 3, 1, 1, 0.5, big, NP);
    CHECK(TRY("b", 1) == FR_ROUND_TOO_LARGE && strstr(reason, "norm"), "norm: %s", reason);
    msgpack_sbuffer_destroy(&sb);
    big[3] = NAN;
    body(&sb, 7, 3, 1, 1, 0.5, big, NP);
    CHECK(TRY("b", 1) == FR_ROUND_TOO_LARGE && strstr(reason, "coordinate"), "NaN: %s", reason);
    msgpack_sbuffer_destroy(&sb);
    /* a weight is the node's own count, cut to the cap: not checked against its users */
    body(&sb, 7, 3, 2, 6, 0.5, d, NP);
    CHECK(TRY("b", 1) == FR_ROUND_OK, "a weight of 6: %s", reason);
    msgpack_sbuffer_destroy(&sb);
#undef TRY
    CHECK(r.agg.count == 1, "refusals added nothing: %d", r.agg.count);
    fr_round_free(&r);
}

/* Finding 6: a node that claims 1e15 users, with a weight to match, would decide the
 * next model alone; no one can check the count, so the cap refuses it. */
static void test_weight_inflation(void)
{
    fr_round r;
    fr_round_config cfg = config(0, 1);
    if (!open7(&r, &cfg, 3))
        return;
    float d[NP];
    delta_of(1, d);
    char reason[FR_ERR_LEN];
    fr_round_update u;
    msgpack_sbuffer sb;
    const double weights[] = {1e15, 10001, 1e300, 0};
    const long users[] = {1000000000000000L, 10001, 1, 0};
    for (int i = 0; i < 4; i++) {
        body(&sb, 7, 3, users[i], weights[i], 0.5, d, NP);
        fr_round_refusal why = fr_round_check_update(&r, T0 + 1, "a", 1, (const uint8_t *)sb.data,
                                                     sb.size, &u, reason, sizeof reason);
        CHECK(why != FR_ROUND_OK, "weight %g (users %ld) accepted", weights[i], users[i]);
        CHECK(i > 1 || why == FR_ROUND_BAD_WEIGHT, "weight %g: %s", weights[i], reason);
        msgpack_sbuffer_destroy(&sb);
    }
    body(&sb, 7, 3, 1, 10000, 0.5, d, NP);
    CHECK(fr_round_check_update(&r, T0 + 1, "a", 1, (const uint8_t *)sb.data, sb.size, &u, reason,
                                sizeof reason) == FR_ROUND_OK,
          "the default cap itself: %s", reason);
    msgpack_sbuffer_destroy(&sb);
    fr_round_free(&r);
}

/* The operator's cap (max-weight) bounds a plain update's weight; a cap outside
 * [1, 1e9] is refused when the round machine starts. */
static void test_weight_cap(void)
{
    fr_round r;
    fr_round_config cfg = config(0, 1);
    cfg.max_weight = 50;
    if (!open7(&r, &cfg, 3))
        return;
    float d[NP];
    delta_of(1, d);
    char reason[FR_ERR_LEN];
    fr_round_update u;
    msgpack_sbuffer sb;
    body(&sb, 7, 3, 51, 51, 0.5, d, NP);
    CHECK(fr_round_check_update(&r, T0 + 1, "a", 1, (const uint8_t *)sb.data, sb.size, &u, reason,
                                sizeof reason) == FR_ROUND_BAD_WEIGHT &&
              strstr(reason, "outside [1, 50] (max-weight)"),
          "over the cap: %s", reason);
    msgpack_sbuffer_destroy(&sb);
    body(&sb, 7, 3, 51, 50, 0.5, d, NP);
    CHECK(fr_round_check_update(&r, T0 + 1, "a", 1, (const uint8_t *)sb.data, sb.size, &u, reason,
                                sizeof reason) == FR_ROUND_OK,
          "cut to the cap: %s", reason);
    msgpack_sbuffer_destroy(&sb);
    fr_round_free(&r);
    fr_err err = {{0}};
    cfg.max_weight = 0.5;
    CHECK(fr_round_init(&r, &cfg, NP, &err) == FR_EINVAL && strstr(err.msg, "max-weight"),
          "a cap below 1: %s", err.msg);
    cfg.max_weight = 2e9;
    CHECK(fr_round_init(&r, &cfg, NP, &err) == FR_EINVAL, "a cap above 1e9");
}

/* A round rebuilt from its stored row and updates goes on as if never stopped. */
static void test_restart(void)
{
    fr_round a, b, ref;
    fr_round_config cfg = config(0, 1);
    if (!open7(&a, &cfg, 3) || !open7(&ref, &cfg, 3))
        return;
    char reason[FR_ERR_LEN];
    int quorum = 0;
    /* what the store holds: the round's row and the accepted bodies */
    msgpack_sbuffer kept[2];
    for (int v = 1; v <= 2; v++) {
        char name[16];
        snprintf(name, sizeof name, "n%d", v);
        CHECK(offer(&a, T0 + v, name, v, 7, 3, &quorum, reason) == FR_ROUND_OK, "%s", reason);
        CHECK(offer(&ref, T0 + v, name, v, 7, 3, &quorum, reason) == FR_ROUND_OK, "%s", reason);
        float d[NP];
        delta_of(v, d);
        body(&kept[v - 1], 7, 3, v, v, 0.5 * v, d, NP);
    }
    fr_round_snapshot snap = {.id = a.id,
                              .version = a.version,
                              .opened_at = a.opened_at,
                              .deadline = a.deadline,
                              .expected = a.expected};
    fr_round_free(&a); /* the coordinator was killed */

    fr_err err = {{0}};
    fr_round_decision d;
    CHECK(fr_round_init(&b, &cfg, NP, &err) == FR_OK, "%s", err.msg);
    fr_round_resume(&b, &snap, 0, T0 + 500, &d);
    CHECK(d.action == FR_ROUND_CONTINUE, "resume: %d %s", d.action, d.note);
    CHECK(b.id == 7 && b.version == 3 && b.expected == 3 && b.opened_at == T0, "resumed %ld %ld %d",
          b.id, b.version, b.expected);
    CHECK(b.deadline == T0 + 560, "a fresh deadline: %g", b.deadline);
    for (int v = 1; v <= 2; v++) {
        char name[16];
        snprintf(name, sizeof name, "n%d", v);
        fr_proto_update u;
        CHECK(fr_proto_update_decode(kept[v - 1].data, kept[v - 1].size, NP, &u, &err) == FR_OK,
              "%s", err.msg);
        CHECK(fr_round_restore_update(&b, name, u.delta, u.n, u.weight, u.loss, &err) == FR_OK,
              "%s", err.msg);
        msgpack_sbuffer_destroy(&kept[v - 1]);
    }
    CHECK(b.agg.count == 2 && b.agg.weight == 3, "restored %d %g", b.agg.count, b.agg.weight);
    fr_round_tick(&b, T0 + 501, &d);
    CHECK(d.action == FR_ROUND_CONTINUE, "2 of 3 after restart: %d", d.action);
    /* past the old deadline but before the new one: still on time */
    CHECK(offer(&b, T0 + 502, "n1", 1, 7, 3, &quorum, reason) == FR_ROUND_DUPLICATE,
          "n1 again after restart: %s", reason);
    CHECK(offer(&b, T0 + 502, "n3", 3, 7, 3, &quorum, reason) == FR_ROUND_OK, "%s", reason);
    CHECK(quorum == 1, "quorum after restart");
    CHECK(offer(&ref, T0 + 3, "n3", 3, 7, 3, &quorum, reason) == FR_ROUND_OK, "%s", reason);
    fr_round_tick(&b, T0 + 503, &d);
    CHECK(d.action == FR_ROUND_PUBLISH, "publish after restart: %d", d.action);
    for (int i = 0; i < NP; i++)
        CHECK(b.agg.sum[i] == ref.agg.sum[i], "sum[%d] %.17g vs %.17g", i, b.agg.sum[i],
              ref.agg.sum[i]);
    CHECK(b.loss_sum == ref.loss_sum && b.agg.weight == ref.agg.weight, "loss %g %g", b.loss_sum,
          ref.loss_sum);
    /* the squared norms the extrapolation reads come back with the restored updates */
    CHECK(b.agg.sq_count == 3 && ref.agg.sq_count == 3 &&
              fabs(b.agg.sqsum - ref.agg.sqsum) <= 1e-12 * ref.agg.sqsum && ref.agg.sqsum > 0,
          "sum of w |delta|^2: restored %g (%d), kept %g (%d)", b.agg.sqsum, b.agg.sq_count,
          ref.agg.sqsum, ref.agg.sq_count);
    static const uint8_t zeros[4 * NP];
    CHECK(fr_round_restore_update(&b, "n4", zeros, NP - 1, 1, 0, &err) == FR_EINVAL,
          "a stored update of another size is refused");
    CHECK(fr_round_restore_update(&b, "n4", zeros, NP, NAN, 0, &err) == FR_EINVAL,
          "a stored update with a NaN weight is refused");
    CHECK(b.agg.count == 3, "refused restores added nothing: %d", b.agg.count);
    fr_round_free(&b);
    fr_round_free(&ref);

    /* a configured quorum wins over the stored one; no stored one falls back to
     * min_nodes; a secure round cannot be rebuilt */
    fr_round_config q = config(5, 1);
    CHECK(fr_round_init(&b, &q, NP, &err) == FR_OK, "%s", err.msg);
    fr_round_resume(&b, &snap, 0, T0, &d);
    CHECK(b.expected == 5, "configured quorum %d", b.expected);
    b.cfg.quorum = 0;
    snap.expected = 0;
    fr_round_resume(&b, &snap, 0, T0, &d);
    CHECK(b.expected == 2, "min_nodes fallback %d", b.expected);
    fr_round_resume(&b, &snap, 1, T0, &d);
    CHECK(d.action == FR_ROUND_ABORT &&
              !strcmp(d.note, "the coordinator restarted during a secure round"),
          "secure resume: %d %s", d.action, d.note);
    fr_round_free(&b);
}

int main(void)
{
    RUN(test_refusal_names);
    RUN(test_quorum_closes);
    RUN(test_quorum_of_live_nodes);
    RUN(test_deadline_publishes);
    RUN(test_deadline_aborts);
    RUN(test_refusals);
    RUN(test_weight_inflation);
    RUN(test_weight_cap);
    RUN(test_restart);
    return fr_test_end();
}
