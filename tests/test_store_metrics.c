/* The coordinator's store of quality figures: nodes' reports average by users (equally
 * when they report none), a report without figures (a node in secure mode) counts in no
 * mean, and a version's federation figures, recorded from a secure round's masked sum,
 * are the version's figures whatever nodes reported. */
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

int main(void)
{
    if (!fixture_dir(root, sizeof root)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_metrics_mean);
    fixture_rm(root);
    return fr_test_end();
}
