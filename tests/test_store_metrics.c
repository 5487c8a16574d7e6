/* The coordinator's store of quality figures: nodes' reports average by users (equally
 * when they report none), a report without figures (a node in secure mode) counts in no
 * mean, and a version's federation figures, recorded from a secure round's masked sum,
 * are the version's figures whatever nodes reported. The mechanisms of federation-wide
 * DP rounds, recorded with their publish or not at all, read back bit for bit after a
 * reopen, so that a restarted coordinator composes the same epsilon. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fr_test.h"
#include "fr_test_fixture.h"
#include "fr_test_store.h"

static fr_metrics_row metrics_row(long version, const char *node, double hr, double ndcg,
                                  long users)
{
    fr_metrics_row m;
    memset(&m, 0, sizeof m);
    m.model_version = version;
    snprintf(m.node, sizeof m.node, "%s", node);
    m.hr10 = hr;
    m.ndcg10 = ndcg;
    m.users = users;
    return m;
}

static void test_metrics_mean(void)
{
    char dir[128];
    fr_err err = {{0}};
    fr_store s = {0};
    double hr = -1, ndcg = -1;
    int nodes = -1, n = 0;
    fr_metrics_row *rows = NULL;
    state_dir(dir, sizeof dir, "metrics");
    if (!open_ok(&s, dir))
        return;
    fr_metrics_row add[] = {
        metrics_row(2, "b", 0.5, 0.25, 30),
        metrics_row(2, "a", 0.9, 0.9, 10), /* replaced just below */
        metrics_row(2, "a", 0.2, 0.1, 10),
        metrics_row(1, "a", 0.1, 0.05, 10),
        metrics_row(3, "a", 0.2, 0.4, 0),
        metrics_row(3, "b", 0.4, 0.0, 0),
    };
    for (size_t i = 0; i < sizeof add / sizeof add[0]; i++)
        CHECK(fr_store_metrics_add(&s, &add[i], 1, &err) == FR_OK, "%s", err.msg);
    /* (0.2 * 10 + 0.5 * 30) / 40 = 0.425; (0.1 * 10 + 0.25 * 30) / 40 = 0.2125 */
    CHECK(fr_store_metrics_mean(&s, 2, &hr, &ndcg, &nodes, &err) == FR_OK && nodes == 2 &&
              fabs(hr - 0.425) < 1e-12 && fabs(ndcg - 0.2125) < 1e-12,
          "%d %g %g", nodes, hr, ndcg);
    CHECK(fr_store_metrics_mean(&s, 1, &hr, &ndcg, &nodes, &err) == FR_OK && nodes == 1 &&
              hr == 0.1 && ndcg == 0.05,
          "%d %g %g", nodes, hr, ndcg);
    CHECK(fr_store_metrics_mean(&s, 3, &hr, &ndcg, &nodes, &err) == FR_OK && nodes == 2 &&
              fabs(hr - 0.3) < 1e-12 && fabs(ndcg - 0.2) < 1e-12,
          "no users: %d %g %g", nodes, hr, ndcg);
    CHECK(fr_store_metrics_mean(&s, 9, &hr, &ndcg, &nodes, &err) == FR_OK && nodes == 0 &&
              hr == 0 && ndcg == 0,
          "%d %g %g", nodes, hr, ndcg);
    CHECK(fr_store_metrics(&s, &rows, &n, &err) == FR_OK && n == 5, "%d: %s", n, err.msg);
    if (n == 5)
        CHECK(rows[0].model_version == 1 && rows[1].model_version == 2 &&
                  strcmp(rows[1].node, "a") == 0 && rows[1].hr10 == 0.2 &&
                  strcmp(rows[2].node, "b") == 0 && rows[4].model_version == 3,
              "%ld %ld %s %g", rows[0].model_version, rows[1].model_version, rows[1].node,
              rows[1].hr10);
    free(rows);
    /* nodes in secure mode send no figure: their rows count in no mean */
    fr_metrics_row none = metrics_row(2, "c", 0, 0, 0);
    CHECK(fr_store_metrics_add(&s, &none, 0, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_store_metrics_mean(&s, 2, &hr, &ndcg, &nodes, &err) == FR_OK && nodes == 2 &&
              fabs(hr - 0.425) < 1e-12,
          "a row without figures: %d %g", nodes, hr);
    none.model_version = 4;
    CHECK(fr_store_metrics_add(&s, &none, 0, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_store_metrics_mean(&s, 4, &hr, &ndcg, &nodes, &err) == FR_OK && nodes == 0 && hr == 0,
          "only rows without figures: %d %g", nodes, hr);
    /* the federation's figures, when a secure round recorded them, are the version's */
    fr_eval_row latest;
    int found = -1;
    CHECK(fr_store_eval_get(&s, -1, &latest, &found, &err) == FR_OK && found == 0,
          "no federation figures yet: %d", found);
    fr_eval_row ev = {.model_version = 2,
                      .round = 3,
                      .nodes = 5,
                      .users = 70,
                      .hr10 = 0.75,
                      .ndcg10 = 0.5,
                      .recall10 = 0.625};
    CHECK(fr_store_eval_add(&s, &ev, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_store_metrics_mean(&s, 2, &hr, &ndcg, &nodes, &err) == FR_OK && nodes == 5 &&
              hr == 0.75 && ndcg == 0.5,
          "federation: %d %g %g", nodes, hr, ndcg);
    /* the newest version with federation figures (Prometheus shows it) */
    ev.model_version = 1;
    CHECK(fr_store_eval_add(&s, &ev, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_store_eval_get(&s, -1, &latest, &found, &err) == FR_OK && found &&
              latest.model_version == 2 && latest.hr10 == 0.75,
          "newest: %d version %ld", found, latest.model_version);
    fr_store_close(&s);
}

/* Open a round and publish it with version `version` and fdp (may be NULL). */
static fr_status publish(fr_store *s, long version, const fr_fdp_round *fdp, long *id, fr_err *err)
{
    fr_round_row r = {.model_version = version - 1, .opened_at = 10, .deadline = 20};
    fr_status st = fr_store_commit_open(s, &r, err);
    if (st != FR_OK)
        return st;
    *id = r.id;
    fr_model_row m = {.version = version, .round = r.id, .created_at = 30};
    snprintf(m.path, sizeof m.path, "m%ld", version);
    snprintf(r.status, sizeof r.status, "published");
    r.closed_at = 30;
    r.new_version = version;
    return fr_store_commit_publish_fdp(s, &r, &m, NULL, fdp, err);
}

static void test_fdp_rounds(void)
{
    char dir[128];
    fr_err err = {{0}};
    fr_store s = {0};
    state_dir(dir, sizeof dir, "fdp");
    int found = 0;
    if (!open_ok(&s, dir))
        return;
    /* values a decimal round trip would change */
    fr_fdp_round a = {1, 0.3, 1.0 / 3, 0.7, 4, 3, 123456, 69200, 1.0 / 160 / 7};
    long id = 0;
    CHECK(publish(&s, 1, &a, &id, &err) == FR_OK && id == 1, "%s", err.msg);
    CHECK(fr_store_fdp_add(&s, &a, &err) == FR_EINVAL && strstr(err.msg, "round 1"), "%s", err.msg);
    /* a row for a round that does not exist, or a second one for round 1 (as in the
     * publish of round 2 below): refused, and that publish is undone whole */
    fr_fdp_round none = a;
    none.round = 99;
    CHECK(fr_store_fdp_add(&s, &none, &err) != FR_OK, "round 99 does not exist");
    long id2 = 0;
    CHECK(publish(&s, 2, &a, &id2, &err) == FR_EINVAL && id2 == 2,
          "a second mechanism for round 1");
    fr_model_row latest;
    CHECK(fr_store_model_latest(&s, &latest, &found, &err) == FR_OK && latest.version == 1,
          "version 2 undone: %ld", latest.version);
    fr_round_row open;
    CHECK(fr_store_round_open_get(&s, &open, &found, &err) == FR_OK && found && open.id == id2,
          "the round whose publish failed stays open: %d", found);
    fr_store_close(&s);
    /* a plain round records none; the reopened store reads the rows as written */
    CHECK(open_ok(&s, dir), "reopen");
    fr_fdp_round *rows = NULL;
    int n = 0;
    CHECK(fr_store_fdp_rounds(&s, &rows, &n, &err) == FR_OK && n == 1, "%d: %s", n, err.msg);
    if (n == 1)
        CHECK(rows[0].round == 1 && rows[0].q == a.q && rows[0].sigma == a.sigma &&
                  rows[0].clip == a.clip && rows[0].nodes == 4 && rows[0].threshold == 3 &&
                  rows[0].users_max == 123456 && rows[0].dim == 69200 && rows[0].delta == a.delta,
              "round %ld q %.17g sigma %.17g delta %.17g", rows[0].round, rows[0].q, rows[0].sigma,
              rows[0].delta);
    free(rows);
    fr_store_close(&s);
}

int main(void)
{
    if (!fixture_dir(root, sizeof root)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_metrics_mean);
    RUN(test_fdp_rounds);
    fixture_rm(root);
    return fr_test_end();
}
