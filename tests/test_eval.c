/* Tests of the evaluation protocol (fr_eval): hand-ranked catalogues whose metrics
 * are worked out in the comments, the sampled candidates' rules, determinism across
 * seeds and thread counts, and a naive re-computation on exact random scores.
 * Datasets are built here by hand so the tests depend on no data reader. */
#include "eval/fr_eval.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/fr_rng.h"
#include "fr_test.h"
#include "fixture_peer_metrics.h"

/* A dataset from full per-user sequences, split like the data module: last = test,
 * second to last = validation, the rest train; fewer than 3 events = train-only. */
static void ds_build(fr_dataset *ds, int V, int U, const int32_t *const *seqs, const int *lens)
{
    memset(ds, 0, sizeof *ds);
    ds->num_items = V;
    ds->num_users = U;
    ds->train_off = calloc((size_t)U + 1, sizeof *ds->train_off);
    ds->valid = calloc((size_t)U, sizeof *ds->valid);
    ds->test = calloc((size_t)U, sizeof *ds->test);
    ds->eval_users = calloc((size_t)U, sizeof *ds->eval_users);
    long total = 0;
    for (int u = 0; u < U; u++)
        total += lens[u];
    ds->train_items = calloc((size_t)total + 1, sizeof *ds->train_items);
    FR_ASSERT(ds->train_off && ds->valid && ds->test && ds->eval_users && ds->train_items);
    long k = 0;
    for (int u = 0; u < U; u++) {
        int n = lens[u], nt = n >= 3 ? n - 2 : n;
        for (int i = 0; i < nt; i++)
            ds->train_items[k++] = seqs[u][i];
        ds->train_off[u + 1] = k;
        if (n >= 3) {
            ds->valid[u] = seqs[u][n - 2];
            ds->test[u] = seqs[u][n - 1];
            ds->eval_users[ds->num_eval_users++] = u;
        }
    }
}

static void ds_free(fr_dataset *ds)
{
    free(ds->train_off);
    free(ds->train_items);
    free(ds->valid);
    free(ds->test);
    free(ds->eval_users);
    memset(ds, 0, sizeof *ds);
}

/* The hand-ranked catalogue: V = 16, dim 1, h_0 = 100 (padding, must never count),
 * h_j = 16 - j, so with q = +1 item 1 scores highest and item 15 lowest, and with
 * q = -1 the order reverses. Users (full sequences; last = test, before = valid):
 *   u0 [1 2 3 | 4 | 5]   q = +1
 *   u1 [2 7 2 | 2 | 9]   q = +1   repeated items, validation target seen in train
 *   u2 [15 14 | 10 | 1]  q = -1
 *   u3 [3 | 5 | 6]       q = +1
 *   u4 [1 8]             train-only (2 events), counts for popularity only. */
static const int32_t h_u0[] = {1, 2, 3, 4, 5}, h_u1[] = {2, 7, 2, 2, 9}, h_u2[] = {15, 14, 10, 1},
                     h_u3[] = {3, 5, 6}, h_u4[] = {1, 8};
static const int32_t *const h_seqs[] = {h_u0, h_u1, h_u2, h_u3, h_u4};
static const int h_lens[] = {5, 5, 4, 3, 2};

static void hand_vectors(float *item, float *user)
{
    item[0] = 100.0f;
    for (int j = 1; j < 16; j++)
        item[j] = (float)(16 - j);
    user[0] = 1.0f, user[1] = 1.0f, user[2] = -1.0f, user[3] = 1.0f;
}

#define NEAR(a, b) (fabs((a) - (b)) < 1e-12)

static void test_hand_full_ranking(void)
{
    fr_dataset ds;
    fr_evaluator ev;
    fr_err err = {{0}};
    fr_metrics m;
    float item[16], user[4];
    ds_build(&ds, 16, 5, h_seqs, h_lens);
    hand_vectors(item, user);
    CHECK(ds.num_eval_users == 4, "%d", ds.num_eval_users);
    CHECK(fr_eval_init(&ev, &ds, 4, 1, FR_EVAL_MAX_USERS, &err) == FR_OK, "%s", err.msg);

    /* Popularity over all 5 users' training parts, each user once per item:
     * 1: u0,u4  2: u0,u1  3: u0,u3  7: u1  8: u4  14,15: u2  others 0.
     * -log2(max(pop,1)/5): pop 2 -> log2(2.5) = 1.3219..., pop 0 or 1 -> log2(5). */
    const float pop[16] = {0, 2, 2, 2, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1};
    for (int j = 0; j < 16; j++) {
        CHECK(ev.popularity[j] == pop[j], "item %d: %g", j, ev.popularity[j]);
        CHECK(NEAR(ev.neg_log2_pop[j], pop[j] == 2 ? log2(2.5) : log2(5.0)), "item %d", j);
    }
    const double l5 = log2(5.0);

    /* Validation (seen = train items; column 0 at 100 is always dropped):
     *   u0 target 4 (12), 1,2,3 seen          -> rank 0, top 4..13
     *   u1 target 2 (14), 7 seen, 2 seen but is the target; 1 (15) above -> rank 1,
     *      top 1 2 3 4 5 6 8 9 10 11
     *   u2 target 10 (-6), 15 14 seen; 11 12 13 above -> rank 3, top 13..4
     *   u3 target 5 (11), 3 seen; 1 2 4 above -> rank 3, top 1 2 4..11
     * recall@10 = recall@50 = 1; mrr = (1 + 1/2 + 1/4 + 1/4) / 4 = 0.5;
     * ndcg = (1 + 1/log2 3 + 2/log2 5) / 4;
     * items 1,2,3 in the lists: 0 + 3 + 0 + 2 = 5 of 40 entries, so
     * novelty = log2 5 - 5/40; coverage: the lists cover 1..13 -> 13/15. */
    CHECK(fr_eval_score(&ev, FR_SPLIT_VALID, item, user, 1, 1, &m, &err) == FR_OK, "%s", err.msg);
    double nd = (1.0 + 1.0 / log2(3.0) + 2.0 / log2(5.0)) / 4.0;
    CHECK(m.users == 4 && m.sampled_users == 4, "%d %d", m.users, m.sampled_users);
    CHECK(NEAR(m.recall10, 1.0) && NEAR(m.recall50, 1.0), "%g %g", m.recall10, m.recall50);
    CHECK(NEAR(m.mrr, 0.5), "%.17g", m.mrr);
    CHECK(NEAR(m.ndcg_full10, nd) && NEAR(m.ndcg_full50, nd), "%.17g %.17g", m.ndcg_full10,
          m.ndcg_full50);
    CHECK(NEAR(m.novelty10, l5 - 5.0 / 40.0), "%.17g", m.novelty10);
    CHECK(NEAR(m.coverage10, 13.0 / 15.0), "%.17g", m.coverage10);

    /* Test (seen = train + validation item):
     *   u0 target 5 (11), 1..4 seen          -> rank 0, top 5..14
     *   u1 target 9 (7), 2 7 seen; 1 3 4 5 6 8 above -> rank 6, top 1 3 4 5 6 8..12
     *   u2 target 1 (-15), 15 14 10 seen; 2..13 but 10 above -> rank 11,
     *      top 13 12 11 9 8 7 6 5 4 3
     *   u3 target 6 (10), 3 5 seen; 1 2 4 above -> rank 3, top 1 2 4 6..12
     * recall@10 = 3/4, recall@50 = 1; mrr = (1 + 1/7 + 1/12 + 1/4) / 4;
     * ndcg@10 = (1 + 1/log2 8 + 1/log2 5) / 4, ndcg@50 adds 1/log2 13;
     * items 1,2,3 in the lists: 0 + 2 + 1 + 2 = 5 -> novelty = log2 5 - 5/40;
     * coverage: 1..14 -> 14/15. */
    CHECK(fr_eval_score(&ev, FR_SPLIT_TEST, item, user, 1, 1, &m, &err) == FR_OK, "%s", err.msg);
    double nd10 = (1.0 + 1.0 / 3.0 + 1.0 / log2(5.0)) / 4.0;
    double nd50 = nd10 + 1.0 / log2(13.0) / 4.0;
    CHECK(NEAR(m.recall10, 0.75) && NEAR(m.recall50, 1.0), "%g %g", m.recall10, m.recall50);
    CHECK(NEAR(m.mrr, (1.0 + 1.0 / 7.0 + 1.0 / 12.0 + 0.25) / 4.0), "%.17g", m.mrr);
    CHECK(NEAR(m.ndcg_full10, nd10), "%.17g", m.ndcg_full10);
    CHECK(NEAR(m.ndcg_full50, nd50), "%.17g", m.ndcg_full50);
    CHECK(NEAR(m.novelty10, l5 - 5.0 / 40.0), "%.17g", m.novelty10);
    CHECK(NEAR(m.coverage10, 14.0 / 15.0), "%.17g", m.coverage10);

    /* Every item scoring the same: ties count against the target (a model that gives
     * every item one score has learnt nothing), so each target ranks after every other
     * unseen item, at least 10 of them for every user here: no hit at 10, sampled or
     * full. The lists take the lowest unseen rows, e.g. u0 (validation) 4..13, u1 1 2
     * 3 4 5 6 8 9 10 11, u2 1..10 but none seen, u3 1 2 4..11: coverage 1..13 -> 13/15. */
    for (int j = 0; j < 16; j++)
        item[j] = 1.0f;
    CHECK(fr_eval_score(&ev, FR_SPLIT_VALID, item, user, 1, 2, &m, &err) == FR_OK, "%s", err.msg);
    CHECK(m.recall10 == 0.0 && m.hr10 == 0.0 && m.mrr > 0.0 && m.mrr < 0.1, "%g %g %g", m.recall10,
          m.mrr, m.hr10);
    CHECK(NEAR(m.coverage10, 13.0 / 15.0), "%.17g", m.coverage10);
    fr_eval_free(&ev);
    ds_free(&ds);
}

static void test_inputs_and_args(void)
{
    fr_dataset ds;
    fr_evaluator ev;
    fr_err err = {{0}};
    ds_build(&ds, 16, 5, h_seqs, h_lens);
    /* L = 4: u1 validation input = train [2 7 2] padded -> 0 2 7 2; test input =
     * train + validation -> 2 7 2 2. u3 (train [3]) -> 0 0 0 3 and 0 0 3 5. */
    CHECK(fr_eval_init(&ev, &ds, 4, 5, 100, &err) == FR_OK, "%s", err.msg);
    const int32_t v1[] = {0, 2, 7, 2}, t1[] = {2, 7, 2, 2}, v3[] = {0, 0, 0, 3},
                  t3[] = {0, 0, 3, 5};
    CHECK(!memcmp(ev.inputs[FR_SPLIT_VALID] + 4, v1, sizeof v1), "u1 valid input");
    CHECK(!memcmp(ev.inputs[FR_SPLIT_TEST] + 4, t1, sizeof t1), "u1 test input");
    CHECK(!memcmp(ev.inputs[FR_SPLIT_VALID] + 12, v3, sizeof v3), "u3 valid input");
    CHECK(!memcmp(ev.inputs[FR_SPLIT_TEST] + 12, t3, sizeof t3), "u3 test input");
    CHECK(ev.targets[FR_SPLIT_VALID][1] == 2 && ev.targets[FR_SPLIT_TEST][1] == 9, "u1 targets");
    fr_eval_free(&ev);
    fr_eval_free(&ev); /* a freed evaluator is zeroed, so freeing again is harmless */

    /* L = 2 keeps the newest two: u0 valid 2 3, test 3 4. */
    CHECK(fr_eval_init(&ev, &ds, 2, 5, 100, &err) == FR_OK, "%s", err.msg);
    CHECK(ev.inputs[0][0] == 2 && ev.inputs[0][1] == 3 && ev.inputs[1][0] == 3 &&
              ev.inputs[1][1] == 4,
          "u0 short inputs");
    fr_eval_free(&ev);

    CHECK(fr_eval_init(&ev, &ds, 0, 5, 100, &err) == FR_EINVAL, "seq_len 0");
    CHECK(strstr(err.msg, "sequence length") != NULL, "%s", err.msg);
    CHECK(fr_eval_init(&ev, &ds, 4, 5, 0, &err) == FR_EINVAL, "max_users 0");
    CHECK(strstr(err.msg, "sampled users") != NULL, "%s", err.msg);
    ds.train_items[1] = 16; /* outside the catalogue */
    CHECK(fr_eval_init(&ev, &ds, 4, 5, 100, &err) == FR_EFORMAT, "bad row");
    CHECK(strstr(err.msg, "16") != NULL, "%s", err.msg);
    ds.train_items[1] = 2;

    CHECK(fr_eval_init(&ev, &ds, 4, 5, 100, &err) == FR_OK, "%s", err.msg);
    float item[16], user[4];
    fr_metrics m;
    hand_vectors(item, user);
    CHECK(fr_eval_score(&ev, FR_SPLIT_VALID, item, user, 1, 0, &m, &err) == FR_EINVAL, "threads 0");
    CHECK(fr_eval_score(&ev, FR_SPLIT_VALID, item, user, 0, 1, &m, &err) == FR_EINVAL, "dim 0");
    CHECK(fr_eval_score(&ev, (fr_split)2, item, user, 1, 1, &m, &err) == FR_EINVAL, "split 2");
    item[5] = NAN;
    CHECK(fr_eval_score(&ev, FR_SPLIT_VALID, item, user, 1, 1, &m, &err) == FR_EINVAL, "NaN");
    CHECK(strstr(err.msg, "item vector 5") != NULL, "%s", err.msg);
    fr_eval_free(&ev);
    ds_free(&ds);

    fr_evaluator zero;
    memset(&zero, 0, sizeof zero);
    fr_eval_free(&zero);
    fr_eval_free(NULL);
}

/* A user who touched every item leaves nothing to sample negatives from. */
static void test_no_negatives(void)
{
    static const int32_t a[] = {1, 2, 3, 4}, b[] = {4, 3, 2};
    const int32_t *const seqs[] = {a, b};
    const int lens[] = {4, 3};
    fr_dataset ds;
    fr_evaluator ev;
    fr_err err = {{0}};
    ds_build(&ds, 5, 2, seqs, lens);
    CHECK(fr_eval_init(&ev, &ds, 3, 1, 10, &err) == FR_ENODATA, "full catalogue");
    CHECK(strstr(err.msg, "interacted with all 4 items") != NULL, "%s", err.msg);
    CHECK(ev.inputs[0] == NULL && ev.candidates[0] == NULL, "left zeroed after failure");
    ds_free(&ds);

    /* No evaluation user: init works, scoring says there is nothing to score. */
    const int lens0[] = {2, 2};
    ds_build(&ds, 5, 2, seqs, lens0);
    CHECK(fr_eval_init(&ev, &ds, 3, 1, 10, &err) == FR_OK, "%s", err.msg);
    float item[5] = {0, 1, 2, 3, 4}, user[1] = {1};
    fr_metrics m;
    CHECK(fr_eval_score(&ev, FR_SPLIT_TEST, item, user, 1, 1, &m, &err) == FR_ENODATA, "no users");
    fr_eval_free(&ev);
    ds_free(&ds);
}

/* A random dataset: U users with 1..maxlen events over V rows (repeats allowed). */
static void random_ds(fr_dataset *ds, int V, int U, int maxlen, uint64_t seed)
{
    fr_rng r;
    fr_rng_seed(&r, seed);
    int32_t **seqs = calloc((size_t)U, sizeof *seqs);
    int *lens = calloc((size_t)U, sizeof *lens);
    FR_ASSERT(seqs && lens);
    for (int u = 0; u < U; u++) {
        lens[u] = 1 + (int)fr_rng_below(&r, (uint64_t)maxlen);
        seqs[u] = calloc((size_t)lens[u], sizeof **seqs);
        FR_ASSERT(seqs[u]);
        for (int i = 0; i < lens[u]; i++)
            seqs[u][i] = 1 + (int32_t)fr_rng_below(&r, (uint64_t)V - 1);
    }
    ds_build(ds, V, U, (const int32_t *const *)seqs, lens);
    for (int u = 0; u < U; u++)
        free(seqs[u]);
    free(seqs);
    free(lens);
}

static int in_train(const fr_dataset *ds, int32_t u, int32_t it)
{
    for (int64_t k = ds->train_off[u]; k < ds->train_off[u + 1]; k++)
        if (ds->train_items[k] == it)
            return 1;
    return 0;
}

static int interacted(const fr_dataset *ds, int32_t u, int32_t it)
{
    return in_train(ds, u, it) || it == ds->valid[u] || it == ds->test[u];
}

static void test_sampled_candidates(void)
{
    fr_dataset ds;
    fr_evaluator a, b, c;
    fr_err err = {{0}};
    const int W = 1 + FR_EVAL_NEGATIVES;
    random_ds(&ds, 40, 60, 30, 11);
    CHECK(fr_eval_init(&a, &ds, 8, 3, FR_EVAL_MAX_USERS, &err) == FR_OK, "%s", err.msg);
    CHECK(a.n_sampled == ds.num_eval_users, "%d of %d", a.n_sampled, ds.num_eval_users);
    int bad = 0;
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < a.n_sampled; i++) {
            int32_t u = ds.eval_users[a.sampled_pos[i]];
            const int32_t *row = a.candidates[s] + (size_t)i * W;
            bad += row[0] != (s == FR_SPLIT_VALID ? ds.valid[u] : ds.test[u]);
            for (int k = 1; k < W; k++)
                bad += row[k] < 1 || row[k] >= 40 || interacted(&ds, u, row[k]);
        }
    CHECK(bad == 0, "%d bad candidates", bad);

    /* Same seed, same draws; another seed, other draws. */
    CHECK(fr_eval_init(&b, &ds, 8, 3, FR_EVAL_MAX_USERS, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_eval_init(&c, &ds, 8, 4, FR_EVAL_MAX_USERS, &err) == FR_OK, "%s", err.msg);
    size_t bytes = (size_t)a.n_sampled * W * sizeof(int32_t);
    CHECK(!memcmp(a.candidates[0], b.candidates[0], bytes), "same seed, valid");
    CHECK(!memcmp(a.candidates[1], b.candidates[1], bytes), "same seed, test");
    CHECK(memcmp(a.candidates[0], c.candidates[0], bytes) != 0, "other seed");
    CHECK(memcmp(a.candidates[0], a.candidates[1], bytes) != 0, "splits draw apart");
    fr_eval_free(&a);
    fr_eval_free(&b);
    fr_eval_free(&c);

    /* A subset: max_users of them, sorted, distinct, deterministic per seed. */
    CHECK(fr_eval_init(&a, &ds, 8, 3, 7, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_eval_init(&b, &ds, 8, 3, 7, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_eval_init(&c, &ds, 8, 99, 7, &err) == FR_OK, "%s", err.msg);
    CHECK(a.n_sampled == 7 && a.n_users == ds.num_eval_users, "%d %d", a.n_sampled, a.n_users);
    for (int i = 0; i < 7; i++) {
        CHECK(a.sampled_pos[i] >= 0 && a.sampled_pos[i] < a.n_users, "pos %d", a.sampled_pos[i]);
        CHECK(i == 0 || a.sampled_pos[i] > a.sampled_pos[i - 1], "not ascending at %d", i);
    }
    CHECK(!memcmp(a.sampled_pos, b.sampled_pos, 7 * sizeof(int32_t)), "subset per seed");
    CHECK(memcmp(a.sampled_pos, c.sampled_pos, 7 * sizeof(int32_t)) != 0, "subset differs");
    float *item = calloc(40, sizeof *item), *user = calloc((size_t)a.n_users, sizeof *user);
    FR_ASSERT(item && user);
    fr_eval_popularity_vectors(&a, item, user);
    fr_metrics m;
    CHECK(fr_eval_score(&a, FR_SPLIT_TEST, item, user, 1, 1, &m, &err) == FR_OK, "%s", err.msg);
    CHECK(m.sampled_users == 7 && m.users == a.n_users, "%d %d", m.sampled_users, m.users);
    free(item);
    free(user);
    fr_eval_free(&a);
    fr_eval_free(&b);
    fr_eval_free(&c);
    ds_free(&ds);
}

/* Sampled ranks known by construction: with dim 1 and h_j = j, a target above every
 * candidate ranks 0, and one below every candidate ranks 100 (all negatives higher).
 * u0 [1 2 | 3 | 20] q = +1: test target 20 is the top row -> rank 0 (hit, gain 1).
 * u1 [20 19 | 18 | 1] q = +1: test target 1 is the lowest row and 1 is never a
 * negative (touched) -> rank 100 (miss). HR@10 = NDCG@10 = 1/2. */
static void test_sampled_hand(void)
{
    static const int32_t a[] = {1, 2, 3, 20}, b[] = {20, 19, 18, 1};
    const int32_t *const seqs[] = {a, b};
    const int lens[] = {4, 4};
    fr_dataset ds;
    fr_evaluator ev;
    fr_err err = {{0}};
    fr_metrics m;
    float item[21], user[2] = {1.0f, 1.0f};
    for (int j = 0; j < 21; j++)
        item[j] = (float)j;
    ds_build(&ds, 21, 2, seqs, lens);
    CHECK(fr_eval_init(&ev, &ds, 5, 8, 10, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_eval_score(&ev, FR_SPLIT_TEST, item, user, 1, 1, &m, &err) == FR_OK, "%s", err.msg);
    CHECK(NEAR(m.hr10, 0.5) && NEAR(m.ndcg10, 0.5), "%g %g", m.hr10, m.ndcg10);
    fr_eval_free(&ev);
    ds_free(&ds);
}

/* Naive full ranking of one user in doubles; scores are multiples of 1/8 with few
 * terms, so float and double products are exact and ties fall the same way. */
static void naive_user(const fr_dataset *ds, const fr_evaluator *ev, fr_split split, int i,
                       const float *item, const float *user, int dim, double *s, int *rank,
                       int32_t *top)
{
    int V = ds->num_items;
    int32_t u = ds->eval_users[i], t = ev->targets[split][i];
    for (int j = 0; j < V; j++) {
        s[j] = 0;
        for (int k = 0; k < dim; k++)
            s[j] += (double)user[(size_t)i * dim + k] * item[(size_t)j * dim + k];
        int seen = in_train(ds, u, j) || (split == FR_SPLIT_TEST && j == ds->valid[u]);
        if (j == 0 || (seen && j != t))
            s[j] = -INFINITY;
    }
    *rank = 0;
    for (int j = 0; j < V; j++)
        *rank += s[j] > s[t] || (s[j] == s[t] && j != t);
    for (int k = 0; k < 10; k++) { /* selection: highest, lowest row on ties */
        int best = -1;
        for (int j = 0; j < V; j++) {
            int used = 0;
            for (int q = 0; q < k; q++)
                used |= top[q] == j;
            if (!used && (best < 0 || s[j] > s[best]))
                best = j;
        }
        top[k] = best;
    }
}

static void exact_vectors(int n, float *v, fr_rng *r)
{
    for (int i = 0; i < n; i++)
        v[i] = (float)((int)fr_rng_below(r, 17) - 8) / 8.0f;
}

static void test_random_against_naive_and_threads(void)
{
    enum { V = 700, U = 320, D = 4 };
    fr_dataset ds;
    fr_evaluator ev;
    fr_err err = {{0}};
    fr_rng r;
    random_ds(&ds, V, U, 60, 21);
    CHECK(fr_eval_init(&ev, &ds, 10, 1, FR_EVAL_MAX_USERS, &err) == FR_OK, "%s", err.msg);
    int n = ev.n_users;
    CHECK(n > 128, "%d users: want more than one block", n);
    float *item = malloc(sizeof(float) * V * D), *user = malloc(sizeof(float) * (size_t)n * D);
    double *s = malloc(sizeof(double) * V);
    FR_ASSERT(item && user && s);
    fr_rng_seed(&r, 5);
    exact_vectors(V * D, item, &r);
    exact_vectors(n * D, user, &r);
    for (int split = 0; split < 2; split++) {
        double rec10 = 0, rec50 = 0, nd10 = 0, nd50 = 0, mrr = 0, nov = 0;
        unsigned char seen_top[V] = {0};
        for (int i = 0; i < n; i++) {
            int rank;
            int32_t top[10];
            naive_user(&ds, &ev, (fr_split)split, i, item, user, D, s, &rank, top);
            mrr += 1.0 / (rank + 1);
            rec10 += rank < 10;
            rec50 += rank < 50;
            nd10 += rank < 10 ? 1.0 / log2(rank + 2.0) : 0.0;
            nd50 += rank < 50 ? 1.0 / log2(rank + 2.0) : 0.0;
            double nv = 0;
            for (int k = 0; k < 10; k++) {
                nv += ev.neg_log2_pop[top[k]];
                seen_top[top[k]] = 1;
            }
            nov += nv / 10;
        }
        int cov = 0;
        for (int j = 1; j < V; j++)
            cov += seen_top[j];
        fr_metrics m1, m2, m3;
        CHECK(fr_eval_score(&ev, (fr_split)split, item, user, D, 1, &m1, &err) == FR_OK, "%s",
              err.msg);
        CHECK(fr_eval_score(&ev, (fr_split)split, item, user, D, 2, &m2, &err) == FR_OK, "%s",
              err.msg);
        CHECK(fr_eval_score(&ev, (fr_split)split, item, user, D, 3, &m3, &err) == FR_OK, "%s",
              err.msg);
        CHECK(!memcmp(&m1, &m2, sizeof m1) && !memcmp(&m1, &m3, sizeof m1),
              "split %d: threads change the metrics", split);
        CHECK(fabs(m1.recall10 - rec10 / n) < 1e-12, "%g %g", m1.recall10, rec10 / n);
        CHECK(fabs(m1.recall50 - rec50 / n) < 1e-12, "%g %g", m1.recall50, rec50 / n);
        CHECK(fabs(m1.ndcg_full10 - nd10 / n) < 1e-12, "%g %g", m1.ndcg_full10, nd10 / n);
        CHECK(fabs(m1.ndcg_full50 - nd50 / n) < 1e-12, "%g %g", m1.ndcg_full50, nd50 / n);
        CHECK(fabs(m1.mrr - mrr / n) < 1e-12, "%g %g", m1.mrr, mrr / n);
        CHECK(fabs(m1.novelty10 - nov / n) < 1e-12, "%g %g", m1.novelty10, nov / n);
        CHECK(fabs(m1.coverage10 - (double)cov / (V - 1)) < 1e-12, "%g %d", m1.coverage10, cov);
        CHECK(m1.recall10 > 0 && m1.recall10 < 1, "a non-trivial case: %g", m1.recall10);
    }
    free(item);
    free(user);
    free(s);
    fr_eval_free(&ev);
    ds_free(&ds);
}

static void test_popularity_vectors(void)
{
    fr_dataset ds;
    fr_evaluator ev;
    fr_err err = {{0}};
    float item[16], item2[16], user[4];
    ds_build(&ds, 16, 5, h_seqs, h_lens);
    CHECK(fr_eval_init(&ev, &ds, 4, 1, 10, &err) == FR_OK, "%s", err.msg);
    fr_eval_popularity_vectors(&ev, item, user);
    fr_eval_popularity_vectors(&ev, item2, user);
    CHECK(!memcmp(item, item2, sizeof item), "deterministic");
    int distinct = 1;
    for (int j = 1; j < 16; j++) {
        float frac = item[j] - ev.popularity[j];
        CHECK(frac >= 0.0f && frac < 0.5f, "item %d: %g", j, frac);
        for (int k = 1; k < j; k++)
            distinct &= item[k] != item[j];
    }
    CHECK(distinct, "ties left among popularity scores");
    for (int i = 0; i < 4; i++)
        CHECK(user[i] == 1.0f, "user %d", i);
    fr_metrics m;
    CHECK(fr_eval_score(&ev, FR_SPLIT_TEST, item, user, 1, 1, &m, &err) == FR_OK, "%s", err.msg);
    CHECK(m.mrr > 0 && m.mrr <= 1, "%g", m.mrr);
    fr_eval_free(&ev);
    ds_free(&ds);
}

/* Fixed scores whose metrics were computed by the peer's own metric code
 * (tests/fixture_peer_metrics.h): the full ranking through the evaluator with
 * one-hot item vectors (so q . h_j is exactly the fixture's score), the sampled
 * protocol through fr_eval_sampled_metrics. Agreement within 1e-6. */
static void test_peer_fixture(void)
{
    int32_t *seqs[PX_U];
    int lens[PX_U];
    for (int u = 0; u < PX_U; u++) {
        int n = px_seen_off[u + 1] - px_seen_off[u];
        seqs[u] = malloc(sizeof(int32_t) * (size_t)(n + 2));
        for (int i = 0; i < n; i++)
            seqs[u][i] = px_seen[px_seen_off[u] + i];
        seqs[u][n] = px_targets[u]; /* validation target */
        seqs[u][n + 1] = 1;         /* test item, unused here */
        lens[u] = n + 2;
    }
    fr_dataset ds;
    ds_build(&ds, PX_V, PX_U, (const int32_t *const *)seqs, lens);
    fr_evaluator ev;
    fr_err err = {{0}};
    CHECK(fr_eval_init(&ev, &ds, 4, 1, 1000, &err) == FR_OK, "init: %s", err.msg);
    float *items = calloc((size_t)PX_V * PX_V, sizeof(float));
    for (int j = 0; j < PX_V; j++)
        items[(size_t)j * PX_V + j] = 1.0f;
    fr_metrics m;
    CHECK(fr_eval_score(&ev, FR_SPLIT_VALID, items, px_scores, PX_V, 2, &m, &err) == FR_OK,
          "score: %s", err.msg);
    struct {
        double ours, peer;
        const char *name;
    } cmp[] = {
        {m.recall10, px_recall_at_10, "recall@10"},
        {m.recall50, px_recall_at_50, "recall@50"},
        {m.ndcg_full10, px_ndcg_full_at_10, "ndcg_full@10"},
        {m.ndcg_full50, px_ndcg_full_at_50, "ndcg_full@50"},
        {m.mrr, px_mrr, "mrr"},
        {m.novelty10, px_novelty_at_10, "novelty@10"},
        {m.coverage10, px_coverage_at_10, "coverage@10"},
    };
    for (size_t i = 0; i < sizeof cmp / sizeof cmp[0]; i++)
        CHECK(fabs(cmp[i].ours - cmp[i].peer) < 1e-6, "%s: %.9f vs peer %.9f", cmp[i].name,
              cmp[i].ours, cmp[i].peer);
    CHECK(fabs(m.precision10 - px_recall_at_10 / 10) < 1e-9, "precision@10 %.9f", m.precision10);
    /* The sampled rows hold ties with the target, which the peer counts for the target
     * and this protocol against it: the peer's figures once the ties go its way, and
     * the naive count of this protocol as they are. */
    double hr, ndcg, nhr = 0, nnd = 0;
    float *untied = malloc(sizeof px_sampled);
    FR_ASSERT(untied);
    memcpy(untied, px_sampled, sizeof px_sampled);
    int ties = 0;
    for (int i = 0; i < PX_SN; i++) {
        int rank = 0;
        for (int c = 1; c < PX_SW; c++) {
            float t = px_sampled[i * PX_SW], v = px_sampled[i * PX_SW + c];
            rank += v >= t;
            if (v == t) {
                untied[i * PX_SW + c] = nextafterf(t, -INFINITY);
                ties++;
            }
        }
        nhr += rank < 10;
        nnd += rank < 10 ? 1.0 / log2(rank + 2.0) : 0.0;
    }
    CHECK(ties > 0, "the fixture's sampled rows hold no tie: this check cannot fail");
    fr_eval_sampled_metrics(untied, PX_SN, PX_SW, &hr, &ndcg);
    CHECK(fabs(hr - px_hr_at_10) < 1e-6 && fabs(ndcg - px_ndcg_at_10) < 1e-6,
          "sampled hr %.9f ndcg %.9f vs peer %.9f %.9f", hr, ndcg, px_hr_at_10, px_ndcg_at_10);
    fr_eval_sampled_metrics(px_sampled, PX_SN, PX_SW, &hr, &ndcg);
    CHECK(fabs(hr - nhr / PX_SN) < 1e-12 && fabs(ndcg - nnd / PX_SN) < 1e-12 && hr < px_hr_at_10,
          "sampled with ties hr %.9f ndcg %.9f vs naive %.9f %.9f", hr, ndcg, nhr / PX_SN,
          nnd / PX_SN);
    free(untied);
    free(items);
    fr_eval_free(&ev);
    ds_free(&ds);
    for (int u = 0; u < PX_U; u++)
        free(seqs[u]);
}

/* A hit at 0-based rank r gives NDCG@10 = 1/log2(r + 2) (1-based: 1/log2(rank + 1)),
 * a miss 0: one row per rank 0..11 with the target's score placed accordingly. */
static void test_sampled_rank_formula(void)
{
    enum { W = 101 };
    for (int r = 0; r < 12; r++) {
        float sc[W];
        for (int c = 0; c < W; c++)
            sc[c] = c <= r ? 1.0f : -1.0f; /* r candidates above the target */
        sc[0] = 0.5f;
        double hr, ndcg;
        fr_eval_sampled_metrics(sc, 1, W, &hr, &ndcg);
        double want = r < 10 ? 1.0 / log2(r + 2.0) : 0.0;
        CHECK(fabs(ndcg - want) < 1e-12 && hr == (r < 10 ? 1.0 : 0.0), "rank %d: hr %g ndcg %g", r,
              hr, ndcg);
    }
}

int main(void)
{
    RUN(test_hand_full_ranking);
    RUN(test_inputs_and_args);
    RUN(test_no_negatives);
    RUN(test_sampled_candidates);
    RUN(test_sampled_hand);
    RUN(test_random_against_naive_and_threads);
    RUN(test_popularity_vectors);
    RUN(test_peer_fixture);
    RUN(test_sampled_rank_formula);
    return fr_test_end();
}
