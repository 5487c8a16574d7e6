/* The cold-start measure: which items are held out, their removal from the training
 * parts, and the two rankings on hand-made vectors whose ranks are known. */
#include <stdlib.h>
#include <string.h>

#include "fr_test.h"
#include "data/fr_data.h"
#include "eval/fr_eval.h"
#include "eval/fr_eval_holdout.h"

enum { V = 7, U = 3, T = 2 };

/* items 1..6; item 6 has no content; users' train parts (1 2 3), (4), (2 5 6) */
static int32_t tokens[V * T] = {0, 0, 1, 0, 2, 3, 1, 1, 0, 4, 5, 0, 0, 0};
static int64_t off[U + 1] = {0, 3, 4, 7};
static int32_t items[7] = {1, 2, 3, 4, 2, 5, 6};
static float values[7] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f};
static int32_t valid[U] = {4, 2, 1}, test[U] = {5, 3, 4}, eval_users[U] = {0, 1, 2};

static void make(fr_dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    ds->num_items = V;
    ds->num_users = U;
    ds->num_tokens = T;
    ds->tokens = tokens;
    ds->train_off = off;
    ds->train_items = items;
    ds->train_values = values;
    ds->valid = valid;
    ds->test = test;
    ds->eval_users = eval_users;
    ds->num_eval_users = U;
}

static void test_pick(void)
{
    fr_dataset ds;
    make(&ds);
    uint8_t cold[V], again[V];
    CHECK(fr_holdout_pick(&ds, 1.0, 3, cold) == 5, "every item with content");
    CHECK(!cold[0] && !cold[6], "padding or an item without content held out");
    int n = fr_holdout_pick(&ds, 0.5, 11, cold);
    CHECK(fr_holdout_pick(&ds, 0.5, 11, again) == n && !memcmp(cold, again, V),
          "not deterministic");
    int differs = 0;
    for (uint64_t s = 1; s < 20 && !differs; s++) {
        fr_holdout_pick(&ds, 0.5, s, again);
        differs = memcmp(cold, again, V) != 0;
    }
    CHECK(differs, "the seed changes nothing");
    CHECK(fr_holdout_pick(&ds, 0.001, 11, cold) <= 1, "a small share holds out a few");
}

static void test_drop(void)
{
    fr_dataset ds;
    make(&ds);
    uint8_t cold[V] = {0, 0, 1, 0, 1, 0, 0}; /* items 2 and 4 */
    fr_holdout_drop_train(&ds, cold);
    int64_t want_off[U + 1] = {0, 2, 2, 4};
    int32_t want[4] = {1, 3, 5, 6};
    float want_v[4] = {0.1f, 0.3f, 0.6f, 0.7f};
    CHECK(!memcmp(off, want_off, sizeof want_off), "offsets %lld %lld %lld %lld", (long long)off[0],
          (long long)off[1], (long long)off[2], (long long)off[3]);
    CHECK(!memcmp(items, want, sizeof want), "items %d %d %d %d", items[0], items[1], items[2],
          items[3]);
    CHECK(!memcmp(values, want_v, sizeof want_v), "values not moved with their items");
    CHECK(valid[1] == 2 && test[2] == 4, "validation or test item dropped");
}

static void test_ranks(void)
{
    fr_dataset ds;
    make(&ds); /* after test_drop: train (1 3), (), (5 6) */
    fr_evaluator ev = {.ds = &ds, .n_users = U};
    /* dim 1: item score = its vector; user vectors 1 (user 2: -1 reverses the order) */
    float iv[V] = {0, 6, 5, 4, 3, 2, 1}, uv[U] = {1, 1, -1};
    uint8_t cold[V] = {0, 1, 1, 1, 1, 1, 0};
    fr_holdout_metrics m;
    fr_err err = {{0}};
    CHECK(fr_eval_holdout(&ev, cold, iv, uv, 1, &m, &err) == FR_OK, "%s", err.msg);
    CHECK(m.users == 3 && m.cold_items == 5, "users %d cold items %d", m.users, m.cold_items);
    /* user 0, target 5: above it among the cold items 1, 2, 3 (4 is its validation
     * item) -> rank 3; user 1, target 3: 1, 2 -> 2; user 2, target 4 (scores reversed):
     * 5 and 6 score higher but 6 is not cold and 5 is a train item -> cold rank 0,
     * whole-catalogue rank 0 too (5 and 6 are train items). All ranks < 10. */
    CHECK(m.recall10 == 1.0 && m.recall50 == 1.0, "recall %g %g", m.recall10, m.recall50);
    CHECK(m.all_recall10 == 1.0, "all recall %g", m.all_recall10);
    uint8_t none[V] = {0};
    CHECK(fr_eval_holdout(&ev, none, iv, uv, 1, &m, &err) == FR_OK && m.users == 0 &&
              m.recall10 == 0.0,
          "no cold item: no user");
}

/* Ranks past 10: one user, 30 items, target 3 with score 0; items 4..15 score above
 * it, the rest below. Train item 1 and validation item 2 score highest but are no
 * candidates. */
static void test_ranks_cut(void)
{
    enum { W = 30 };
    static int32_t tok[W * T], tr_items[1] = {1}, va[1] = {2}, te[1] = {3}, eu[1] = {0};
    static int64_t tr_off[2] = {0, 1};
    float iv[W], uv[1] = {1};
    uint8_t cold[W] = {0};
    for (int i = 1; i < W; i++) {
        tok[i * T] = 1;
        iv[i] = i <= 2 ? 100.0f : i == 3 ? 0.0f : i <= 15 ? 1.0f : -1.0f;
    }
    iv[0] = 0;
    fr_dataset ds = {.num_items = W,
                     .num_users = 1,
                     .num_tokens = T,
                     .tokens = tok,
                     .train_off = tr_off,
                     .train_items = tr_items,
                     .valid = va,
                     .test = te,
                     .eval_users = eu,
                     .num_eval_users = 1};
    fr_evaluator ev = {.ds = &ds, .n_users = 1};
    fr_holdout_metrics m;
    fr_err err = {{0}};
    for (int i = 2; i < W; i++) /* 2 (validation) ..15 cold: cold rank 12 */
        cold[i] = i <= 15;
    CHECK(fr_eval_holdout(&ev, cold, iv, uv, 1, &m, &err) == FR_OK, "%s", err.msg);
    CHECK(m.users == 1 && m.recall10 == 0.0 && m.recall50 == 1.0, "cold rank 12: %g %g", m.recall10,
          m.recall50);
    CHECK(m.all_recall10 == 0.0 && m.all_recall50 == 1.0, "catalogue rank 12: %g %g",
          m.all_recall10, m.all_recall50);
    memset(cold, 0, sizeof cold); /* 3 and the low items cold: cold rank 0 */
    for (int i = 16; i < W; i++)
        cold[i] = 1;
    cold[3] = 1;
    CHECK(fr_eval_holdout(&ev, cold, iv, uv, 1, &m, &err) == FR_OK, "%s", err.msg);
    CHECK(m.recall10 == 1.0 && m.all_recall10 == 0.0, "cold rank 0, catalogue rank 12: %g %g",
          m.recall10, m.all_recall10);
}

int main(void)
{
    RUN(test_pick);
    RUN(test_drop);
    RUN(test_ranks);
    RUN(test_ranks_cut);
    return fr_test_end();
}
