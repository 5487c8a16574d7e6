/* The coordinator's state store: everything written is there after a reopen and after
 * the writer is killed without closing, a node's second update to a round is refused,
 * a round goes open -> closed once, the latest model is the highest version (metrics:
 * tests/test_store_metrics.c), a rolled-back transaction leaves nothing, refusals list newest
 * last, count against their node and keep only the newest rows of a flood, hostile
 * names are stored verbatim (and long ones cut at a character boundary), and a file
 * that is not a database is named. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fr_test.h"
#include "fr_test_files.h"
#include "fr_test_fixture.h"
#include "fr_test_store.h"

static fr_round_row round_row(long id, long from, double at)
{
    fr_round_row r;
    memset(&r, 0, sizeof r);
    r.id = id;
    r.model_version = from;
    r.opened_at = at;
    r.deadline = at + 60;
    snprintf(r.note, sizeof r.note, "round %ld", id);
    return r;
}

static fr_update_row update_row(long round, const char *node, double weight)
{
    fr_update_row u;
    memset(&u, 0, sizeof u);
    u.round = round;
    snprintf(u.node, sizeof u.node, "%s", node);
    u.weight = weight;
    u.loss = 1.5;
    u.norm = 0.75;
    u.users = (long)weight;
    u.windows = 3 * (long)weight;
    u.received_at = 1000 + weight;
    snprintf(u.path, sizeof u.path, "updates/%ld/%s.bin", round, node);
    return u;
}

static void test_reopen(void)
{
    char dir[128];
    fr_err err = {{0}};
    fr_store s = {0};
    fr_node_row *nodes = NULL;
    fr_update_row *ups = NULL;
    fr_metrics_row *mets = NULL;
    fr_refusal_row *refs = NULL;
    int n = 0;
    state_dir(dir, sizeof dir, "reopen");
    if (!open_ok(&s, dir))
        return;
    struct stat sb;
    char db[192];
    snprintf(db, sizeof db, "%s/coordinator.db", dir);
    CHECK(stat(dir, &sb) == 0 && (sb.st_mode & 0777) == 0700, "folder mode %o", sb.st_mode);
    CHECK(stat(db, &sb) == 0 && (sb.st_mode & 0777) == 0600, "file mode %o", sb.st_mode);
    CHECK(strcmp(s.path, db) == 0, "path %s", s.path);

    fr_node_row nd;
    memset(&nd, 0, sizeof nd);
    snprintf(nd.name, sizeof nd.name, "node-a");
    nd.first_seen = 100;
    nd.last_seen = 100;
    nd.model_version = 1;
    nd.users = 40;
    nd.windows = 400;
    nd.eps_spent = 0.5;
    nd.eps_budget = 8;
    fr_round_row r = round_row(1, 1, 200);
    fr_update_row u = update_row(1, "node-a", 40);
    fr_model_row m = {.version = 1, .round = 0, .created_at = 50};
    snprintf(m.path, sizeof m.path, "models/v1.frm");
    memset(m.sig_hex, 'a', 128);
    fr_metrics_row mt = {.model_version = 1,
                         .hr10 = 0.25,
                         .ndcg10 = 0.125,
                         .recall10 = 0.3,
                         .loss = NAN,
                         .eps_spent = 0.5,
                         .users = 40,
                         .at = 300};
    snprintf(mt.node, sizeof mt.node, "node-a");
    if (fr_store_node_seen(&s, &nd, &err) || fr_store_round_open(&s, &r, &err) ||
        fr_store_update_add(&s, &u, &err) || fr_store_node_accepted(&s, "node-a", &err) ||
        fr_store_model_add(&s, &m, &err) || fr_store_metrics_add(&s, &mt, 1, &err) ||
        fr_store_refusal_add(&s, 310, "node-a", 1, "norm too large", &err)) {
        CHECK(0, "write: %s", err.msg);
        goto out;
    }
    /* Seen again: first_seen and the counters stay, the rest is replaced. */
    nd.first_seen = 999;
    nd.last_seen = 400;
    nd.users = 41;
    nd.eps_spent = 0.75;
    nd.updates_accepted = 77;
    CHECK(fr_store_node_seen(&s, &nd, &err) == FR_OK, "%s", err.msg);
    fr_node_row one;
    int hit = 0;
    CHECK(fr_store_node_get(&s, nd.name, &one, &hit, &err) == FR_OK && hit && one.users == 41 &&
              one.eps_spent == 0.75,
          "node by name: %s", err.msg);
    CHECK(fr_store_node_get(&s, "nobody", &one, &hit, &err) == FR_OK && !hit && one.users == 0,
          "unknown node found");
    fr_store_close(&s);
    CHECK(s.db == NULL, "closed");
    fr_store_close(&s); /* twice is harmless */

    if (!open_ok(&s, dir))
        goto out;
    CHECK(fr_store_nodes(&s, &nodes, &n, &err) == FR_OK && n == 1, "%d nodes: %s", n, err.msg);
    if (n == 1)
        CHECK(strcmp(nodes[0].name, "node-a") == 0 && nodes[0].first_seen == 100 &&
                  nodes[0].last_seen == 400 && nodes[0].users == 41 && nodes[0].windows == 400 &&
                  nodes[0].eps_spent == 0.75 && nodes[0].eps_budget == 8 &&
                  nodes[0].model_version == 1 && nodes[0].updates_accepted == 1 &&
                  nodes[0].updates_refused == 1 &&
                  strcmp(nodes[0].last_refusal, "norm too large") == 0,
              "node %s first %g last %g users %ld acc %ld ref %ld '%s'", nodes[0].name,
              nodes[0].first_seen, nodes[0].last_seen, nodes[0].users, nodes[0].updates_accepted,
              nodes[0].updates_refused, nodes[0].last_refusal);
    fr_round_row got;
    int found = 0;
    CHECK(fr_store_round_open_get(&s, &got, &found, &err) == FR_OK && found && got.id == 1 &&
              strcmp(got.status, "open") == 0 && got.deadline == 260 &&
              strcmp(got.note, "round 1") == 0,
          "open round %d %ld %s", found, got.id, got.status);
    CHECK(fr_store_updates(&s, 1, &ups, &n, &err) == FR_OK && n == 1, "%d updates: %s", n, err.msg);
    if (n == 1)
        CHECK(strcmp(ups[0].node, "node-a") == 0 && ups[0].weight == 40 && ups[0].loss == 1.5 &&
                  ups[0].norm == 0.75 && ups[0].users == 40 && ups[0].windows == 120 &&
                  ups[0].received_at == 1040 && strcmp(ups[0].path, "updates/1/node-a.bin") == 0,
              "update %s %g %s", ups[0].node, ups[0].weight, ups[0].path);
    fr_model_row gm;
    CHECK(fr_store_model_latest(&s, &gm, &found, &err) == FR_OK && found && gm.version == 1 &&
              gm.created_at == 50 && strcmp(gm.path, "models/v1.frm") == 0 &&
              strlen(gm.sig_hex) == 128,
          "model %d v%ld %s", found, gm.version, gm.path);
    CHECK(fr_store_metrics(&s, &mets, &n, &err) == FR_OK && n == 1, "%d metrics: %s", n, err.msg);
    if (n == 1)
        CHECK(mets[0].hr10 == 0.25 && mets[0].recall10 == 0.3 && isnan(mets[0].loss) &&
                  mets[0].users == 40 && mets[0].at == 300,
              "metrics %g %g", mets[0].hr10, mets[0].loss);
    CHECK(fr_store_refusals(&s, 0, &refs, &n, &err) == FR_OK && n == 1 && refs[0].at == 310 &&
              refs[0].round == 1,
          "%d refusals: %s", n, err.msg);
    long last = -1;
    CHECK(fr_store_last_round_id(&s, &last, &err) == FR_OK && last == 1, "last %ld", last);
out:
    free(nodes);
    free(ups);
    free(mets);
    free(refs);
    fr_store_close(&s);
}

static void test_duplicate_update(void)
{
    char dir[128];
    fr_err err = {{0}};
    fr_store s = {0};
    fr_update_row *ups = NULL;
    int n = 0, exists = -1;
    state_dir(dir, sizeof dir, "dup");
    if (!open_ok(&s, dir))
        return;
    fr_round_row r = round_row(3, 2, 10);
    fr_update_row u = update_row(3, "node-b", 5);
    CHECK(fr_store_round_open(&s, &r, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_store_update_exists(&s, 3, "node-b", &exists, &err) == FR_OK && exists == 0,
          "exists %d", exists);
    CHECK(fr_store_update_add(&s, &u, &err) == FR_OK, "%s", err.msg);
    u.weight = 99;
    CHECK(fr_store_update_add(&s, &u, &err) == FR_EINVAL &&
              strcmp(err.msg, "duplicate update from node-b for round 3") == 0,
          "%s", err.msg);
    CHECK(fr_store_update_exists(&s, 3, "node-b", &exists, &err) == FR_OK && exists == 1,
          "exists %d", exists);
    CHECK(fr_store_update_exists(&s, 2, "node-b", &exists, &err) == FR_OK && exists == 0,
          "exists %d", exists);
    fr_update_row v = update_row(4, "node-b", 5);
    CHECK(fr_store_update_add(&s, &v, &err) == FR_EINVAL && strstr(err.msg, "no such round"), "%s",
          err.msg);
    fr_update_row w = update_row(3, "node-c", 2);
    CHECK(fr_store_update_add(&s, &w, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_store_updates(&s, 3, &ups, &n, &err) == FR_OK && n == 2, "%d: %s", n, err.msg);
    /* by arrival: node-c (received_at 1002) before node-b (1005), and the first weight kept */
    if (n == 2)
        CHECK(strcmp(ups[0].node, "node-c") == 0 && strcmp(ups[1].node, "node-b") == 0 &&
                  ups[1].weight == 5,
              "%s %s %g", ups[0].node, ups[1].node, ups[1].weight);
    free(ups);
    CHECK(fr_store_updates(&s, 7, &ups, &n, &err) == FR_OK && n == 0 && ups == NULL, "%d", n);
    fr_store_close(&s);
}

static void test_round_lifecycle(void)
{
    char dir[128];
    fr_err err = {{0}};
    fr_store s = {0};
    fr_round_row *rows = NULL;
    int n = 0, found = -1;
    long last = -1;
    state_dir(dir, sizeof dir, "rounds");
    if (!open_ok(&s, dir))
        return;
    CHECK(fr_store_last_round_id(&s, &last, &err) == FR_OK && last == 0, "last %ld", last);
    fr_round_row got, r = round_row(1, 0, 100);
    CHECK(fr_store_round_open_get(&s, &got, &found, &err) == FR_OK && found == 0, "found %d",
          found);
    CHECK(fr_store_round_open(&s, &r, &err) == FR_OK, "%s", err.msg);
    fr_round_row r2 = round_row(2, 0, 101);
    CHECK(fr_store_round_open(&s, &r2, &err) == FR_EINVAL && strstr(err.msg, "round 1 is still "
                                                                             "open"),
          "%s", err.msg);
    fr_round_row r0 = round_row(0, 0, 101);
    CHECK(fr_store_round_open(&s, &r0, &err) == FR_EINVAL, "%s", err.msg);

    fr_round_row c = r;
    snprintf(c.status, sizeof c.status, "done");
    CHECK(fr_store_round_close(&s, &c, &err) == FR_EINVAL && strstr(err.msg, "\"done\""), "%s",
          err.msg);
    snprintf(c.status, sizeof c.status, "published");
    c.closed_at = 150;
    c.updates = 3;
    c.weight = 120;
    c.mean_loss = 2.25;
    c.new_version = 1;
    snprintf(c.note, sizeof c.note, "3 of 4 nodes");
    CHECK(fr_store_round_close(&s, &c, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_store_round_close(&s, &c, &err) == FR_EINVAL && strstr(err.msg, "published already"),
          "%s", err.msg);
    c.id = 9;
    CHECK(fr_store_round_close(&s, &c, &err) == FR_EINVAL && strstr(err.msg, "no such round"), "%s",
          err.msg);
    CHECK(fr_store_round_get(&s, 1, &got, &found, &err) == FR_OK && found == 1, "%s", err.msg);
    CHECK(got.id == 1 && strcmp(got.status, "published") == 0 && got.opened_at == 100 &&
              got.deadline == 160 && got.closed_at == 150 && got.updates == 3 &&
              got.weight == 120 && got.mean_loss == 2.25 && got.new_version == 1 &&
              strcmp(got.note, "3 of 4 nodes") == 0,
          "round %ld %s %g %d %g %ld '%s'", got.id, got.status, got.closed_at, got.updates,
          got.weight, got.new_version, got.note);
    CHECK(fr_store_round_open_get(&s, &got, &found, &err) == FR_OK && found == 0 && got.id == 0,
          "found %d", found);
    CHECK(fr_store_round_get(&s, 5, &got, &found, &err) == FR_OK && found == 0, "found %d", found);

    /* Rounds 2..5, each aborted with a NaN loss, then the newest three. */
    for (long id = 2; id <= 5; id++) {
        fr_round_row o = round_row(id, 1, 100.0 + id), cl = o;
        snprintf(cl.status, sizeof cl.status, "aborted");
        cl.mean_loss = NAN;
        CHECK(fr_store_round_open(&s, &o, &err) == FR_OK &&
                  fr_store_round_close(&s, &cl, &err) == FR_OK,
              "round %ld: %s", id, err.msg);
    }
    CHECK(fr_store_round_open(&s, &r, &err) == FR_EINVAL && strstr(err.msg, "round 1 exists"), "%s",
          err.msg);
    CHECK(fr_store_rounds(&s, 3, &rows, &n, &err) == FR_OK && n == 3, "%d: %s", n, err.msg);
    if (n == 3)
        CHECK(rows[0].id == 3 && rows[1].id == 4 && rows[2].id == 5 &&
                  strcmp(rows[2].status, "aborted") == 0 && isnan(rows[2].mean_loss),
              "%ld %ld %ld %s %g", rows[0].id, rows[1].id, rows[2].id, rows[2].status,
              rows[2].mean_loss);
    free(rows);
    CHECK(fr_store_rounds(&s, 0, &rows, &n, &err) == FR_OK && n == 5 && rows[0].id == 1, "%d", n);
    free(rows);
    CHECK(fr_store_last_round_id(&s, &last, &err) == FR_OK && last == 5, "last %ld", last);
    fr_store_close(&s);
}

static void test_model_latest(void)
{
    char dir[128];
    fr_err err = {{0}};
    fr_store s = {0};
    int found = -1;
    fr_model_row got;
    state_dir(dir, sizeof dir, "models");
    if (!open_ok(&s, dir))
        return;
    CHECK(fr_store_model_latest(&s, &got, &found, &err) == FR_OK && found == 0, "%d", found);
    const long order[] = {1, 3, 2, 4, 0};
    for (int i = 0; i < 5; i++) {
        fr_model_row m = {.version = order[i], .round = order[i], .created_at = 10.0 * i};
        snprintf(m.path, sizeof m.path, "models/v%ld", order[i]);
        snprintf(m.sig_hex, sizeof m.sig_hex, "%064lx", order[i]);
        CHECK(fr_store_model_add(&s, &m, &err) == FR_OK, "%s", err.msg);
    }
    CHECK(fr_store_model_latest(&s, &got, &found, &err) == FR_OK && found == 1 &&
              got.version == 4 && got.round == 4 && got.created_at == 30 &&
              strcmp(got.path, "models/v4") == 0 && strlen(got.sig_hex) == 64 &&
              got.sig_hex[63] == '4',
          "v%ld %s %s", got.version, got.path, got.sig_hex);
    fr_model_row dup = {.version = 3};
    CHECK(fr_store_model_add(&s, &dup, &err) == FR_EINVAL &&
              strstr(err.msg, "model version 3 exists"),
          "%s", err.msg);
    fr_store_close(&s);
}

static void test_rollback(void)
{
    char dir[128];
    fr_err err = {{0}};
    fr_store s = {0};
    int found = -1, exists = -1;
    long last = -1;
    state_dir(dir, sizeof dir, "txn");
    if (!open_ok(&s, dir))
        return;
    fr_round_row r = round_row(1, 0, 5), got;
    fr_update_row u = update_row(1, "n1", 4);
    fr_model_row m = {.version = 1, .round = 1}, gm;
    CHECK(fr_store_begin(&s, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_store_begin(&s, &err) == FR_EINVAL && strstr(err.msg, "already open"), "%s", err.msg);
    CHECK(fr_store_round_open(&s, &r, &err) == FR_OK &&
              fr_store_update_add(&s, &u, &err) == FR_OK &&
              fr_store_model_add(&s, &m, &err) == FR_OK &&
              fr_store_refusal_add(&s, 1, "n1", 1, "late", &err) == FR_OK,
          "%s", err.msg);
    CHECK(fr_store_round_get(&s, 1, &got, &found, &err) == FR_OK && found == 1,
          "visible inside the transaction");
    fr_store_rollback(&s);
    CHECK(fr_store_round_get(&s, 1, &got, &found, &err) == FR_OK && found == 0, "round left");
    CHECK(fr_store_update_exists(&s, 1, "n1", &exists, &err) == FR_OK && exists == 0,
          "update left");
    CHECK(fr_store_model_latest(&s, &gm, &found, &err) == FR_OK && found == 0, "model left");
    CHECK(fr_store_last_round_id(&s, &last, &err) == FR_OK && last == 0, "last %ld", last);
    fr_refusal_row *refs = NULL;
    int n = -1;
    CHECK(fr_store_refusals(&s, 10, &refs, &n, &err) == FR_OK && n == 0, "%d refusals", n);
    free(refs);
    CHECK(fr_store_commit(&s, &err) == FR_EINVAL, "commit without begin");

    /* Publishing: close the round and add the version together. */
    CHECK(fr_store_round_open(&s, &r, &err) == FR_OK, "%s", err.msg);
    fr_round_row c = r;
    snprintf(c.status, sizeof c.status, "published");
    c.new_version = 1;
    CHECK(fr_store_begin(&s, &err) == FR_OK && fr_store_round_close(&s, &c, &err) == FR_OK &&
              fr_store_model_add(&s, &m, &err) == FR_OK && fr_store_commit(&s, &err) == FR_OK,
          "%s", err.msg);
    fr_store_close(&s);
    if (!open_ok(&s, dir))
        return;
    CHECK(fr_store_round_get(&s, 1, &got, &found, &err) == FR_OK && found == 1 &&
              strcmp(got.status, "published") == 0,
          "%d %s", found, got.status);
    CHECK(fr_store_model_latest(&s, &gm, &found, &err) == FR_OK && found == 1 && gm.version == 1,
          "%d", found);
    fr_store_close(&s);
}

static void test_refusals(void)
{
    char dir[128];
    fr_err err = {{0}};
    fr_store s = {0};
    fr_refusal_row *refs = NULL;
    fr_node_row *nodes = NULL;
    int n = 0;
    state_dir(dir, sizeof dir, "refusals");
    if (!open_ok(&s, dir))
        return;
    fr_node_row nd;
    memset(&nd, 0, sizeof nd);
    snprintf(nd.name, sizeof nd.name, "known");
    CHECK(fr_store_node_seen(&s, &nd, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_store_node_accepted(&s, "stranger", &err) == FR_EINVAL &&
              strstr(err.msg, "\"stranger\" is not known"),
          "%s", err.msg);
    for (int i = 1; i <= 5; i++) {
        char reason[32];
        snprintf(reason, sizeof reason, "reason %d", i);
        /* the same time for the last two: order is by arrival, not by clock */
        CHECK(fr_store_refusal_add(&s, i < 5 ? 10.0 * i : 40.0, i % 2 ? "known" : "stranger", i,
                                   reason, &err) == FR_OK,
              "%s", err.msg);
    }
    CHECK(fr_store_refusal_add(&s, 60, "", 0, "no client certificate", &err) == FR_OK, "%s",
          err.msg);
    CHECK(fr_store_refusals(&s, 3, &refs, &n, &err) == FR_OK && n == 3, "%d: %s", n, err.msg);
    if (n == 3)
        CHECK(strcmp(refs[0].reason, "reason 4") == 0 && strcmp(refs[0].node, "stranger") == 0 &&
                  strcmp(refs[1].reason, "reason 5") == 0 && refs[1].round == 5 &&
                  strcmp(refs[2].reason, "no client certificate") == 0 && refs[2].node[0] == 0 &&
                  refs[2].at == 60,
              "%s / %s / %s", refs[0].reason, refs[1].reason, refs[2].reason);
    free(refs);
    CHECK(fr_store_refusals(&s, -1, &refs, &n, &err) == FR_OK && n == 6 &&
              strcmp(refs[0].reason, "reason 1") == 0,
          "%d", n);
    free(refs);
    CHECK(fr_store_nodes(&s, &nodes, &n, &err) == FR_OK && n == 1, "%d nodes", n);
    if (n == 1)
        CHECK(nodes[0].updates_refused == 3 && strcmp(nodes[0].last_refusal, "reason 5") == 0,
              "%ld '%s'", nodes[0].updates_refused, nodes[0].last_refusal);
    free(nodes);
    /* a flood leaves the table at its bound, the newest rows kept */
    s.keep_refusals = 50;
    for (int i = 0, ok = 1; i < 300 && ok; i++)
        ok = fr_store_refusal_add(&s, 100 + i, "flooder", 1, "malformed", &err) == FR_OK;
    CHECK(fr_store_refusals(&s, 0, &refs, &n, &err) == FR_OK && n == 50 && refs[0].at == 350 &&
              refs[49].at == 399,
          "%d rows kept: %s", n, err.msg);
    free(refs);
    fr_store_close(&s);
}

static void test_hostile_names(void)
{
    char dir[128];
    fr_err err = {{0}};
    fr_store s = {0};
    fr_node_row *nodes = NULL;
    int n = 0, exists = -1;
    state_dir(dir, sizeof dir, "names");
    if (!open_ok(&s, dir))
        return;
    const char *evil = "x'); DROP TABLE nodes; --\"`;";
    fr_node_row nd;
    memset(&nd, 0, sizeof nd);
    snprintf(nd.name, sizeof nd.name, "%s", evil);
    CHECK(fr_store_node_seen(&s, &nd, &err) == FR_OK, "%s", err.msg);
    /* 62 ASCII bytes then a 2-byte character: 64 bytes, cut to 62, not 63. */
    char longname[80];
    memset(longname, 'n', 62);
    memcpy(longname + 62, "\xc3\xa9", 3);
    fr_round_row r = round_row(1, 0, 0);
    fr_update_row u = update_row(1, "a", 1);
    snprintf(u.node, sizeof u.node, "%s", evil);
    CHECK(fr_store_round_open(&s, &r, &err) == FR_OK && fr_store_update_add(&s, &u, &err) == FR_OK,
          "%s", err.msg);
    CHECK(fr_store_update_add(&s, &u, &err) == FR_EINVAL && strstr(err.msg, evil), "%s", err.msg);
    CHECK(fr_store_update_exists(&s, 1, evil, &exists, &err) == FR_OK && exists == 1, "%d", exists);
    CHECK(fr_store_refusal_add(&s, 1, longname, 1, "a\nb", &err) == FR_OK, "%s", err.msg);
    CHECK(fr_store_node_accepted(&s, "bad\x01name", &err) == FR_EINVAL &&
              strstr(err.msg, "bad?name"),
          "control bytes shown as ?: %s", err.msg);
    fr_store_close(&s);
    if (!open_ok(&s, dir))
        return;
    CHECK(fr_store_nodes(&s, &nodes, &n, &err) == FR_OK && n == 1, "%d nodes: %s", n, err.msg);
    if (n == 1)
        CHECK(strcmp(nodes[0].name, evil) == 0, "%s", nodes[0].name);
    free(nodes);
    fr_refusal_row *refs = NULL;
    CHECK(fr_store_refusals(&s, 1, &refs, &n, &err) == FR_OK && n == 1, "%d", n);
    if (n == 1)
        CHECK(strlen(refs[0].node) == 62 && strncmp(refs[0].node, longname, 62) == 0 &&
                  strcmp(refs[0].reason, "a\nb") == 0,
              "%zu '%s'", strlen(refs[0].node), refs[0].node);
    free(refs);
    fr_store_close(&s);
}

static void test_not_a_database(void)
{
    char dir[128], db[192];
    fr_err err = {{0}};
    fr_store s = {0};
    state_dir(dir, sizeof dir, "garbage");
    mkdir(dir, 0700);
    char junk[2048];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)('a' + i % 26);
    CHECK(fixture_put(dir, "coordinator.db", junk, sizeof junk), "write");
    fr_status st = fr_store_open(&s, dir, &err);
    snprintf(db, sizeof db, "%s/coordinator.db", dir);
    CHECK(st == FR_EIO && strstr(err.msg, db) && strstr(err.msg, "not a database"), "%d %s", st,
          err.msg);
    CHECK(s.db == NULL, "left closed");
    fr_store_close(&s);
    /* a state folder that cannot be made */
    snprintf(db, sizeof db, "%s/coordinator.db/sub", dir);
    CHECK(fr_store_open(&s, db, &err) == FR_EIO && strstr(err.msg, db), "%s", err.msg);
}

static void test_crash(void)
{
    char dir[128];
    fr_err err = {{0}};
    fr_store s = {0};
    state_dir(dir, sizeof dir, "crash");
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        CHECK(0, "fork failed");
        return;
    }
    if (pid == 0) {
        fr_round_row r = round_row(7, 6, 70);
        fr_update_row u = update_row(7, "survivor", 12);
        if (fr_store_open(&s, dir, &err) || fr_store_round_open(&s, &r, &err) ||
            fr_store_update_add(&s, &u, &err))
            _exit(3);
        /* an open transaction at the moment of death must vanish */
        fr_round_row c = r;
        snprintf(c.status, sizeof c.status, "aborted");
        if (fr_store_begin(&s, &err) || fr_store_round_close(&s, &c, &err))
            _exit(4);
        raise(SIGKILL);
        _exit(5);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %d", status);
    if (!open_ok(&s, dir))
        return;
    fr_round_row got;
    int found = -1, exists = -1;
    CHECK(fr_store_round_open_get(&s, &got, &found, &err) == FR_OK && found == 1 && got.id == 7 &&
              got.model_version == 6,
          "%d %ld: %s", found, got.id, err.msg);
    CHECK(fr_store_update_exists(&s, 7, "survivor", &exists, &err) == FR_OK && exists == 1,
          "%d: %s", exists, err.msg);
    fr_store_close(&s);
}

/* The transitions of a round, each one commit: open picks the next id, an update
 * counts for its node, a failed update leaves neither row nor count, an abort keeps
 * the round's numbers and note, a publish closes the round with its model or, when
 * the model's version exists, leaves both as they were. */
static void test_commits(void)
{
    char dir[128];
    fr_err err = {{0}};
    fr_store s = {0};
    fr_round_row got, r = round_row(0, 0, 100);
    fr_node_row node;
    int found = 0;
    state_dir(dir, sizeof dir, "commits");
    if (!open_ok(&s, dir))
        return;
    fr_node_row a = {.name = "a", .first_seen = 1, .last_seen = 1};
    CHECK(fr_store_node_seen(&s, &a, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_store_commit_open(&s, &r, &err) == FR_OK && r.id == 1, "open: %ld %s", r.id, err.msg);
    fr_update_row u = update_row(1, "a", 2);
    CHECK(fr_store_commit_update(&s, &u, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_store_commit_update(&s, &u, &err) == FR_EINVAL && strstr(err.msg, "duplicate"), "%s",
          err.msg);
    /* an update from an unknown node: the row is undone with the failed count */
    fr_update_row ghost = update_row(1, "ghost", 1);
    CHECK(fr_store_commit_update(&s, &ghost, &err) == FR_EINVAL && strstr(err.msg, "not known"),
          "%s", err.msg);
    int exists = 1;
    CHECK(fr_store_update_exists(&s, 1, "ghost", &exists, &err) == FR_OK && exists == 0,
          "ghost's row stayed");
    CHECK(fr_store_node_get(&s, "a", &node, &found, &err) == FR_OK && found &&
              node.updates_accepted == 1,
          "a accepted %ld", node.updates_accepted);
    CHECK(fr_store_commit_abort(&s, 1, 130, 1, 2, "deadline passed", &err) == FR_OK, "%s", err.msg);
    CHECK(fr_store_round_get(&s, 1, &got, &found, &err) == FR_OK && found &&
              !strcmp(got.status, "aborted") && got.closed_at == 130 && got.updates == 1 &&
              got.weight == 2 && !strcmp(got.note, "deadline passed"),
          "aborted %s %g %d '%s'", got.status, got.closed_at, got.updates, got.note);
    CHECK(fr_store_commit_abort(&s, 1, 131, 0, 0, "again", &err) == FR_EINVAL, "%s", err.msg);
    CHECK(fr_store_commit_abort(&s, 8, 131, 0, 0, "none", &err) == FR_EINVAL &&
              strstr(err.msg, "no such round"),
          "%s", err.msg);

    fr_round_row r2 = round_row(0, 0, 200);
    CHECK(fr_store_commit_open(&s, &r2, &err) == FR_OK && r2.id == 2, "open 2: %ld", r2.id);
    fr_update_row rows[2] = {update_row(2, "a", 3), update_row(2, "a", 4)};
    CHECK(fr_store_commit_members(&s, rows, 2, &err) == FR_EINVAL, "two rows of one node");
    CHECK(fr_store_update_exists(&s, 2, "a", &exists, &err) == FR_OK && exists == 0,
          "members undone together");
    CHECK(fr_store_commit_members(&s, rows, 1, &err) == FR_OK, "%s", err.msg);
    fr_model_row m = {.version = 1, .round = 2, .created_at = 250};
    snprintf(m.path, sizeof m.path, "m1");
    fr_round_row c = r2;
    snprintf(c.status, sizeof c.status, "published");
    c.closed_at = 250;
    c.updates = 1;
    c.weight = 3;
    c.new_version = 1;
    /* with the federation's evaluation of the version round 2 trained from (0) */
    fr_eval_row ev = {.model_version = 0,
                      .round = 2,
                      .nodes = 3,
                      .users = 90,
                      .hr10 = 0.25,
                      .ndcg10 = 0.125,
                      .recall10 = 0.5};
    CHECK(fr_store_commit_publish(&s, &c, &m, &ev, &err) == FR_OK, "%s", err.msg);
    fr_eval_row eg;
    CHECK(fr_store_eval_get(&s, 0, &eg, &found, &err) == FR_OK && found && eg.round == 2 &&
              eg.nodes == 3 && eg.users == 90 && eg.hr10 == 0.25 && eg.ndcg10 == 0.125 &&
              eg.recall10 == 0.5,
          "federation figures of version 0: %d %ld %g", found, eg.round, eg.hr10);
    CHECK(fr_store_eval_get(&s, 1, &eg, &found, &err) == FR_OK && !found, "none for version 1");
    fr_model_row latest;
    CHECK(fr_store_model_latest(&s, &latest, &found, &err) == FR_OK && found &&
              latest.version == 1 && latest.round == 2,
          "model %ld", latest.version);
    /* a publish whose version exists: the round stays open */
    fr_round_row r3 = round_row(0, 1, 300);
    CHECK(fr_store_commit_open(&s, &r3, &err) == FR_OK && r3.id == 3, "open 3");
    c = r3;
    snprintf(c.status, sizeof c.status, "published");
    c.new_version = 1;
    m.round = 3;
    CHECK(fr_store_commit_publish(&s, &c, &m, NULL, &err) == FR_EINVAL, "version 1 again");
    CHECK(fr_store_round_open_get(&s, &got, &found, &err) == FR_OK && found && got.id == 3,
          "round 3 still open: %d %ld", found, got.id);
    fr_store_close(&s);
}

int main(void)
{
    if (!fixture_dir(root, sizeof root)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_reopen);
    RUN(test_duplicate_update);
    RUN(test_round_lifecycle);
    RUN(test_commits);
    RUN(test_model_latest);
    RUN(test_rollback);
    RUN(test_refusals);
    RUN(test_hostile_names);
    RUN(test_not_a_database);
    RUN(test_crash);
    fixture_rm(root);
    return fr_test_end();
}
