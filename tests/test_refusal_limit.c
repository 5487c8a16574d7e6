/* The per-node limit on recorded refusals (common/fed/fr_refusal_limit.c) with a fake
 * clock: a node's burst is recorded and the rest of a flood is not, but counted and
 * reported with its next recorded refusal; the bucket refills with time; one node's
 * flood leaves another's refusals recorded; more names than the table holds reuse the
 * slot of the name refused longest ago. */
#include <stdio.h>
#include <string.h>

#include "fed/fr_refusal_limit.h"
#include "fr_test.h"

static void test_flood_is_bounded(void)
{
    static fr_refusal_limit l;
    uint64_t hidden;
    int rec = 0;
    fr_refusal_limit_init(&l, 20, 0.1);
    /* 14,000 bad requests at 400 a second from one certificate */
    for (int i = 0; i < 14000; i++)
        rec += fr_refusal_limit_take(&l, "mallory", i / 400.0, &hidden);
    /* 35 s: the burst of 20, then one every 10 s */
    CHECK(rec >= 20 && rec <= 24, "%d of 14000 recorded", rec);
    CHECK(l.recorded == (uint64_t)rec && l.hidden == (uint64_t)(14000 - rec), "totals %llu %llu",
          (unsigned long long)l.recorded, (unsigned long long)l.hidden);
    /* another node is not held back by mallory's flood */
    CHECK(fr_refusal_limit_take(&l, "honest", 35, &hidden) && hidden == 0, "another node");
    /* after a quiet while mallory's next refusal is recorded, saying what was hidden */
    CHECK(fr_refusal_limit_take(&l, "mallory", 100, &hidden), "refilled");
    /* those since its last recorded one, at 30 s: about 5 s of the flood */
    CHECK(hidden >= 1500 && hidden <= 2100, "the next record reports %llu hidden",
          (unsigned long long)hidden);
    CHECK(fr_refusal_limit_take(&l, "mallory", 100, &hidden) && hidden == 0, "and restarts");
}

static void test_names_beyond_the_table(void)
{
    static fr_refusal_limit l;
    uint64_t hidden;
    char name[32];
    fr_refusal_limit_init(&l, 2, 0);
    CHECK(fr_refusal_limit_take(&l, "first", 0, &hidden), "first 1");
    CHECK(fr_refusal_limit_take(&l, "first", 0, &hidden), "first 2");
    CHECK(!fr_refusal_limit_take(&l, "first", 0, &hidden), "first's burst spent");
    for (int i = 0; i < FR_REFUSAL_LIMIT_NODES; i++) {
        snprintf(name, sizeof name, "node-%d", i);
        CHECK(fr_refusal_limit_take(&l, name, 1 + i, &hidden), "%s", name);
    }
    /* "first" was refused longest ago: its slot went to a new name, so it starts again */
    CHECK(fr_refusal_limit_take(&l, "first", 5000, &hidden), "first anew");
    CHECK(fr_refusal_limit_take(&l, NULL, 5000, &hidden) &&
              fr_refusal_limit_take(&l, "", 5000, &hidden) &&
              !fr_refusal_limit_take(&l, "", 5000, &hidden),
          "requests without a name share one bucket");
}

int main(void)
{
    RUN(test_flood_is_bounded);
    RUN(test_names_beyond_the_table);
    return fr_test_end();
}
