/* Tests of the recall channels and strategies: item-to-item similarities on a toy
 * sequence set worked out by hand, popularity decay, mix quotas, de-duplication and
 * order, and the strategies over a small dataset and model: the model channel equals
 * the model's full ranking, seen items are excluded, users without history get the
 * popular fallback, and one batched call equals calls one user at a time. Datasets are
 * built here by hand so the tests depend on no data reader. */
#include "recall/fr_recall.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/fr_backend.h"
#include "util/fr_rng.h"
#include "fr_test.h"

static int close_to(double a, double b)
{
    return fabs(a - b) <= 1e-6 * (1.0 + fabs(b));
}

/* ---------- itemcf on a toy sequence set ---------- */

/* Items 1..5 (V = 6). Sequences: [1 2 3], [2 3 1], [4 4 5]; events per item:
 * n1 = n2 = n3 = n4 = 2, n5 = 1. With window 2 each pair adds 1/distance:
 *   C(1,2) = 1 ([1 2]) + 1/2 ([2 . 1])            = 1.5   sim = 1.5 / sqrt(2*2) = 0.75
 *   C(1,3) = 1/2 ([1 . 3]) + 1 ([3 1])            = 1.5   sim = 0.75
 *   C(2,3) = 1 + 1                                 = 2     sim = 2 / 2 = 1
 *   C(4,5) = 1/2 ([4 . 5]) + 1 ([4 5]); (4,4) adds nothing = 1.5   sim = 1.5 / sqrt(2) */
static const int32_t toy_items[] = {1, 2, 3, 2, 3, 1, 4, 4, 5};
static const int64_t toy_off[] = {0, 3, 6, 9};

static void test_itemcf_toy(void)
{
    fr_err err = {{0}};
    for (int threads = 1; threads <= 3; threads += 2) {
        fr_itemcf cf;
        CHECK(fr_itemcf_build(&cf, 6, toy_items, toy_off, 3, 2, 10, threads, &err) == FR_OK, "%s",
              err.msg);
        CHECK(close_to(fr_itemcf_sim(&cf, 1, 2), 0.75), "sim(1,2) %g", fr_itemcf_sim(&cf, 1, 2));
        CHECK(close_to(fr_itemcf_sim(&cf, 2, 1), 0.75), "sim(2,1) %g", fr_itemcf_sim(&cf, 2, 1));
        CHECK(close_to(fr_itemcf_sim(&cf, 1, 3), 0.75), "sim(1,3) %g", fr_itemcf_sim(&cf, 1, 3));
        CHECK(close_to(fr_itemcf_sim(&cf, 3, 2), 1.0), "sim(3,2) %g", fr_itemcf_sim(&cf, 3, 2));
        CHECK(close_to(fr_itemcf_sim(&cf, 5, 4), 1.5 / sqrt(2.0)), "sim(5,4) %g",
              fr_itemcf_sim(&cf, 5, 4));
        CHECK(fr_itemcf_sim(&cf, 4, 4) == 0.0f && fr_itemcf_sim(&cf, 1, 4) == 0.0f, "self/none");
        /* neighbours best first: item 2's are 3 (1.0) then 1 (0.75) */
        CHECK(cf.off[3] - cf.off[2] == 2 && cf.nbr[cf.off[2]] == 3 && cf.nbr[cf.off[2] + 1] == 1,
              "item 2 neighbours");
        fr_itemcf_free(&cf);
    }
    /* window 1: C(1,2) = 1, C(1,3) = 1, C(2,3) = 2, C(4,5) = 1 */
    fr_itemcf cf;
    CHECK(fr_itemcf_build(&cf, 6, toy_items, toy_off, 3, 1, 10, 1, &err) == FR_OK, "%s", err.msg);
    CHECK(close_to(fr_itemcf_sim(&cf, 1, 2), 0.5) && close_to(fr_itemcf_sim(&cf, 1, 3), 0.5) &&
              close_to(fr_itemcf_sim(&cf, 4, 5), 1.0 / sqrt(2.0)),
          "window 1: %g %g %g", fr_itemcf_sim(&cf, 1, 2), fr_itemcf_sim(&cf, 1, 3),
          fr_itemcf_sim(&cf, 4, 5));
    fr_itemcf_free(&cf);
    /* one neighbour kept: item 1's two tie at 0.75, the lower row stays */
    CHECK(fr_itemcf_build(&cf, 6, toy_items, toy_off, 3, 2, 1, 1, &err) == FR_OK, "%s", err.msg);
    CHECK(cf.off[2] - cf.off[1] == 1 && cf.nbr[cf.off[1]] == 2, "item 1 keeps %d",
          cf.nbr[cf.off[1]]);
    fr_itemcf_free(&cf);
    int32_t bad[] = {1, 6};
    int64_t bad_off[] = {0, 2};
    CHECK(fr_itemcf_build(&cf, 6, bad, bad_off, 1, 2, 10, 1, &err) == FR_EINVAL, "row 6 accepted");
}

/* A user with history [1 2] (latest 2) reading both: 2 votes with weight 1, 1 with 1/2.
 *   item 3: sim(2,3) + sim(1,3)/2 = 1 + 0.375 = 1.375
 *   item 1: sim(2,1) = 0.75;  item 2: sim(1,2)/2 = 0.375 */
static void test_itemcf_query(void)
{
    fr_err err = {{0}};
    fr_itemcf cf;
    fr_itemcf_scratch s = {0};
    fr_topk h;
    CHECK(fr_itemcf_build(&cf, 6, toy_items, toy_off, 3, 2, 10, 1, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_itemcf_scratch_init(&s, 6, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_topk_init(&h, 10, &err) == FR_OK, "%s", err.msg);
    int32_t hist[] = {1, 2}, seen[] = {1, 2};
    fr_topk_excl ex = {seen, 2};
    fr_topk_reset(&h, -INFINITY);
    fr_itemcf_query(&cf, hist, 2, 20, &ex, &s, &h);
    fr_topk_sort(&h);
    CHECK(h.n == 1 && h.row[0] == 3 && close_to(h.score[0], 1.375), "n %d row %d score %g", h.n,
          h.row[0], h.score[0]);
    fr_topk_reset(&h, -INFINITY);
    fr_itemcf_query(&cf, hist, 2, 20, NULL, &s, &h);
    fr_topk_sort(&h);
    CHECK(h.n == 3 && h.row[0] == 3 && h.row[1] == 1 && h.row[2] == 2 &&
              close_to(h.score[1], 0.75) && close_to(h.score[2], 0.375),
          "n %d rows %d %d %d", h.n, h.row[0], h.row[1], h.row[2]);
    /* recent = 1: only item 2 votes */
    fr_topk_reset(&h, -INFINITY);
    fr_itemcf_query(&cf, hist, 2, 1, NULL, &s, &h);
    fr_topk_sort(&h);
    CHECK(h.n == 2 && h.row[0] == 3 && close_to(h.score[0], 1.0), "n %d", h.n);
    for (int j = 0; j < 6; j++)
        CHECK(s.acc[j] == 0.0f, "scratch %d left at %g", j, s.acc[j]);
    fr_topk_free(&h);
    fr_itemcf_scratch_free(&s);
    fr_itemcf_free(&cf);
}

/* ---------- popularity decay ---------- */

/* Half-life 10: an event of age 0 counts 1, age 10 one half, 20 a quarter, 40 1/16.
 *   item 1: ages 0, 10       -> 1.5
 *   item 2: age 0            -> 1
 *   item 3: ages 20, 20, 40  -> 0.5625
 *   item 4: age 10, 10       -> 1      (ties item 2: the lower row first) */
static void test_popular_decay(void)
{
    fr_err err = {{0}};
    fr_popular p;
    int32_t items[] = {1, 1, 2, 3, 3, 3, 4, 4};
    double age[] = {0, 10, 0, 20, 20, 40, 10, 10};
    CHECK(fr_popular_init(&p, 6, items, age, 8, 10.0, &err) == FR_OK, "%s", err.msg);
    CHECK(close_to(p.score[1], 1.5) && close_to(p.score[2], 1.0) && close_to(p.score[3], 0.5625) &&
              close_to(p.score[4], 1.0) && p.score[5] == 0.0f,
          "scores %g %g %g %g %g", p.score[1], p.score[2], p.score[3], p.score[4], p.score[5]);
    int32_t rows[8];
    float sc[8];
    int n = fr_popular_top(&p, NULL, -INFINITY, 8, rows, sc);
    CHECK(n == 5 && rows[0] == 1 && rows[1] == 2 && rows[2] == 4 && rows[3] == 3 && rows[4] == 5,
          "order %d %d %d %d %d", rows[0], rows[1], rows[2], rows[3], rows[4]);
    int32_t ex_rows[] = {1, 4, 4};
    fr_topk_excl ex = {ex_rows, 3};
    n = fr_popular_top(&p, &ex, -INFINITY, 2, rows, sc);
    CHECK(n == 2 && rows[0] == 2 && rows[1] == 3, "excluded: %d %d", rows[0], rows[1]);
    n = fr_popular_top(&p, NULL, 1.0f, 8, rows, sc);
    CHECK(n == 1 && rows[0] == 1, "floor: n %d", n);
    fr_popular_free(&p);
    CHECK(fr_popular_init(&p, 6, items, age, 8, 0.0, &err) == FR_EINVAL, "half-life 0 accepted");
}

/* ---------- mix ---------- */

static void test_mix_quotas(void)
{
    int q[3];
    fr_recall_mix_quotas(10, 60, 25, q);
    CHECK(q[0] == 6 && q[1] == 3 && q[2] == 1, "k 10: %d %d %d", q[0], q[1], q[2]);
    fr_recall_mix_quotas(100, 60, 25, q);
    CHECK(q[0] == 60 && q[1] == 25 && q[2] == 15, "k 100: %d %d %d", q[0], q[1], q[2]);
    fr_recall_mix_quotas(1, 60, 25, q);
    CHECK(q[0] == 1 && q[1] == 0 && q[2] == 0, "k 1: %d %d %d", q[0], q[1], q[2]);
    fr_recall_mix_quotas(3, 60, 25, q);
    CHECK(q[0] == 2 && q[1] == 1 && q[2] == 0, "k 3: %d %d %d", q[0], q[1], q[2]);
    fr_recall_mix_quotas(4, 100, 0, q);
    CHECK(q[0] == 4 && q[1] == 0 && q[2] == 0, "all model: %d %d %d", q[0], q[1], q[2]);
}

static void fill_list(fr_recall_hit *l, const int32_t *rows, int n, int source)
{
    for (int i = 0; i < n; i++)
        l[i] = (fr_recall_hit){rows[i], (float)(100 - i), source};
}

static void test_mix_merge(void)
{
    uint8_t mark[64] = {0};
    fr_recall_hit m[10], c[10], p[10], out[10];
    int32_t mr[] = {10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
    int32_t cr[] = {10, 20, 21, 22, 23, 24, 25, 26, 27, 28}; /* 10: the model's already */
    int32_t pr[] = {11, 30, 31, 32, 33, 34, 35, 36, 37, 38}; /* 11: likewise */
    fill_list(m, mr, 10, FR_SRC_MODEL);
    fill_list(c, cr, 10, FR_SRC_ITEMCF);
    fill_list(p, pr, 10, FR_SRC_POPULAR);
    const fr_recall_hit *lists[3] = {m, c, p};
    int n[3] = {10, 10, 10}, quota[3] = {6, 3, 1};
    int got = fr_recall_mix(lists, n, quota, 10, mark, out);
    /* taken: model 10-15, itemcf 20-22, popular 30; interleaved m i m m i p m m i m */
    int32_t want[] = {10, 20, 11, 12, 21, 30, 13, 14, 22, 15};
    int src[] = {0, 1, 0, 0, 1, 2, 0, 0, 1, 0};
    int ok = got == 10;
    for (int i = 0; ok && i < 10; i++)
        ok = out[i].row == want[i] && out[i].source == src[i];
    CHECK(ok, "got %d: %d %d %d %d %d %d %d %d %d %d", got, out[0].row, out[1].row, out[2].row,
          out[3].row, out[4].row, out[5].row, out[6].row, out[7].row, out[8].row, out[9].row);
    CHECK(out[1].score == 99.0f, "itemcf keeps its own score: %g", out[1].score);
    /* unused quota passes on: the model has 2, itemcf may take 3 + 4 = 7, popular 1 */
    int n2[3] = {2, 10, 10};
    got = fr_recall_mix(lists, n2, quota, 10, mark, out);
    int count[3] = {0, 0, 0};
    for (int i = 0; i < got; i++)
        count[out[i].source]++;
    CHECK(got == 10 && count[0] == 2 && count[1] == 7 && count[2] == 1, "got %d: %d %d %d", got,
          count[0], count[1], count[2]);
    /* every channel short: fewer than k, no duplicates */
    int n3[3] = {1, 1, 2};
    got = fr_recall_mix(lists, n3, quota, 10, mark, out);
    /* model 10 (1 of 1: place 0.5), itemcf only a repeat, popular 11 and 30 (0.25, 0.75) */
    CHECK(got == 3 && out[0].row == 11 && out[1].row == 10 && out[2].row == 30 &&
              out[0].source == FR_SRC_POPULAR && out[1].source == FR_SRC_MODEL,
          "got %d: %d %d %d", got, out[0].row, out[1].row, out[2].row);
    for (int i = 0; i < 64; i++)
        CHECK(mark[i] == 0, "mark %d left at %d", i, mark[i]);
}

/* ---------- strategies over a dataset and a model ---------- */

#define V_ 40
#define U_ 7
#define L_ 5

/* Full sequences (oldest first), split like the data module: last = test, the one
 * before = validation, the rest train; fewer than 3 events = train-only. User 6 has
 * no events at all. */
static const int32_t seq0[] = {1, 2, 3, 4, 5, 6, 7};
static const int32_t seq1[] = {2, 3, 4, 2, 9};
static const int32_t seq2[] = {10, 11};
static const int32_t seq3[] = {12, 13, 14, 15, 16, 17, 18, 19, 20, 21};
static const int32_t seq4[] = {3, 4, 5, 30, 31, 32};
static const int32_t seq5[] = {5};
static const int32_t *const seqs[U_] = {seq0, seq1, seq2, seq3, seq4, seq5, NULL};
static const int lens[U_] = {7, 5, 2, 10, 6, 1, 0};

typedef struct fixture {
    fr_dataset ds;
    fr_model model;
    fr_nn net;
    int ok;
} fixture;

static void fixture_init(fixture *f)
{
    fr_err err = {{0}};
    memset(f, 0, sizeof *f);
    fr_dataset *ds = &f->ds;
    ds->num_items = V_;
    ds->num_users = U_;
    ds->item_ids = calloc(V_, sizeof *ds->item_ids);
    ds->user_ids = calloc(U_, sizeof *ds->user_ids);
    ds->train_off = calloc(U_ + 1, sizeof *ds->train_off);
    ds->train_items = calloc(64, sizeof *ds->train_items);
    ds->valid = calloc(U_, sizeof *ds->valid);
    ds->test = calloc(U_, sizeof *ds->test);
    FR_ASSERT(ds->item_ids && ds->user_ids && ds->train_off && ds->train_items && ds->valid &&
              ds->test);
    for (int j = 1; j < V_; j++)
        ds->item_ids[j] = 100 + j;
    long k = 0;
    for (int u = 0; u < U_; u++) {
        int n = lens[u], nt = n >= 3 ? n - 2 : n;
        ds->user_ids[u] = 7 + u;
        for (int i = 0; i < nt; i++)
            ds->train_items[k++] = seqs[u][i];
        ds->train_off[u + 1] = k;
        if (n >= 3) {
            ds->valid[u] = seqs[u][n - 2];
            ds->test[u] = seqs[u][n - 1];
        }
    }
    fr_model_config mc = {V_, 16, 2, 8, 4};
    int32_t tokens[V_ * 2];
    for (int j = 0; j < V_ * 2; j++)
        tokens[j] = j < 2 ? 0 : 1 + j % 15;
    if (fr_model_init(&f->model, &mc, fr_backend_cpu(), tokens, ds->item_ids, &err) != FR_OK ||
        fr_nn_init(&f->net, &f->model, 4, L_, 1, &err) != FR_OK) {
        CHECK(0, "%s", err.msg);
        return;
    }
    fr_model_init_params(&f->model, 11);
    f->ok = 1;
}

static void fixture_free(fixture *f)
{
    fr_nn_free(&f->net);
    fr_model_free(&f->model);
    free(f->ds.item_ids);
    free(f->ds.user_ids);
    free(f->ds.train_off);
    free(f->ds.train_items);
    free(f->ds.valid);
    free(f->ds.test);
}

static int has_row(const int32_t *v, int n, int32_t x)
{
    for (int i = 0; i < n; i++)
        if (v[i] == x)
            return 1;
    return 0;
}

typedef struct ranked {
    float s;
    int32_t r;
} ranked;

static int by_ranked(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->s != b->s)
        return a->s > b->s ? -1 : 1;
    return (a->r > b->r) - (a->r < b->r);
}

/* The model's full ranking for user u: every item scored, sorted, seen removed. */
static int full_ranking(fixture *f, int u, int include_seen, int32_t *rows, float *scores)
{
    fr_err err = {{0}};
    float *items = malloc(sizeof(float) * V_ * 8), q[8];
    int32_t in[L_];
    ranked all[V_];
    CHECK(fr_nn_item_vectors(&f->net, items, &err) == FR_OK, "%s", err.msg);
    fr_left_pad(seqs[u], lens[u], L_, in);
    CHECK(fr_nn_user_vectors(&f->net, items, in, 1, q, &err) == FR_OK, "%s", err.msg);
    int m = 0;
    for (int j = 1; j < V_; j++) {
        if (!include_seen && has_row(seqs[u], lens[u], j))
            continue;
        float s = 0.0f;
        for (int c = 0; c < 8; c++)
            s += items[j * 8 + c] * q[c];
        all[m++] = (ranked){s, j};
    }
    qsort(all, (size_t)m, sizeof *all, by_ranked);
    for (int i = 0; i < m; i++) {
        rows[i] = all[i].r;
        scores[i] = all[i].s;
    }
    free(items);
    return m;
}

static fr_recall_config config(fr_recall_strategy s, int k, int threads)
{
    fr_recall_config c;
    fr_recall_config_default(&c);
    c.strategy = s;
    c.k = k;
    c.seq_len = L_;
    c.threads = threads;
    return c;
}

static int init_recall(fixture *f, fr_recall *r, const fr_recall_config *c)
{
    fr_err err = {{0}};
    fr_status st = fr_recall_init(r, &f->ds, &f->net, c, &err);
    CHECK(st == FR_OK, "%s", err.msg);
    return st == FR_OK;
}

static void test_model_equals_full_ranking(void)
{
    fixture f;
    fixture_init(&f);
    if (!f.ok)
        return;
    fr_err err = {{0}};
    fr_recall_hit out[V_];
    int32_t rows[V_];
    float scores[V_];
    for (int inc = 0; inc < 2; inc++)
        for (int k = 1; k <= V_; k += 12) {
            fr_recall r;
            fr_recall_config c = config(FR_RECALL_MODEL, k, 1 + inc);
            c.include_seen = inc;
            if (!init_recall(&f, &r, &c))
                break;
            for (int u = 0; u < U_ - 1; u++) {
                int count, m = full_ranking(&f, u, inc, rows, scores);
                int32_t user = u;
                CHECK(fr_recall_users(&r, &user, 1, out, &count, &err) == FR_OK, "%s", err.msg);
                int want = m < k ? m : k, ok = count == want;
                for (int i = 0; ok && i < count; i++)
                    ok = out[i].row == rows[i] && out[i].source == FR_SRC_MODEL &&
                         fabsf(out[i].score - scores[i]) <= 1e-5f * (1.0f + fabsf(scores[i]));
                CHECK(ok, "user %d k %d include_seen %d: %d results, want %d", u, k, inc, count,
                      want);
            }
            fr_recall_free(&r);
        }
    fixture_free(&f);
}

static void test_threshold_mode(void)
{
    fixture f;
    fixture_init(&f);
    if (!f.ok)
        return;
    fr_err err = {{0}};
    fr_recall r;
    fr_recall_hit out[V_];
    int32_t rows[V_], user = 3;
    float scores[V_];
    int m = full_ranking(&f, 3, 0, rows, scores);
    float s = scores[m / 3]; /* about a third of the unseen items score above it */
    int above = 0;
    for (int i = 0; i < m; i++)
        above += scores[i] > s;
    for (int k = 3; k <= V_; k += V_ - 3) {
        fr_recall_config c = config(FR_RECALL_MODEL, k, 1);
        c.use_threshold = 1;
        c.threshold = s;
        if (!init_recall(&f, &r, &c))
            break;
        int count;
        CHECK(fr_recall_users(&r, &user, 1, out, &count, &err) == FR_OK, "%s", err.msg);
        int want = above < k ? above : k, ok = count == want;
        for (int i = 0; ok && i < count; i++)
            ok = out[i].row == rows[i] && out[i].score > s;
        CHECK(ok, "k %d: %d results, want %d", k, count, want);
        fr_recall_free(&r);
    }
    /* a threshold with a mix is refused */
    fr_recall_config c = config(FR_RECALL_MIX, 10, 1);
    c.use_threshold = 1;
    CHECK(fr_recall_init(&r, &f.ds, &f.net, &c, &err) == FR_EINVAL, "mix + threshold accepted");
    fixture_free(&f);
}

/* Every strategy: no seen item, no padding, no repeats; the user without history gets
 * the popular ranking tagged popular-fallback. */
static void test_strategies_and_fallback(void)
{
    fixture f;
    fixture_init(&f);
    if (!f.ok)
        return;
    fr_err err = {{0}};
    int K = 8;
    fr_recall_hit out[U_ * 8];
    int count[U_];
    int32_t users[U_];
    for (int u = 0; u < U_; u++)
        users[u] = u;
    for (int s = FR_RECALL_MODEL; s <= FR_RECALL_MIX; s++) {
        fr_recall r;
        fr_recall_config c = config((fr_recall_strategy)s, K, 2);
        if (!init_recall(&f, &r, &c))
            break;
        CHECK(fr_recall_users(&r, users, U_, out, count, &err) == FR_OK, "%s", err.msg);
        for (int u = 0; u < U_; u++) {
            const fr_recall_hit *o = out + u * K;
            int ok = count[u] <= K && count[u] >= (s == FR_RECALL_ITEMCF && u < U_ - 1 ? 0 : 1);
            for (int i = 0; ok && i < count[u]; i++) {
                ok = o[i].row >= 1 && o[i].row < V_ && !has_row(seqs[u], lens[u], o[i].row);
                for (int j = 0; ok && j < i; j++)
                    ok = o[j].row != o[i].row;
                if (u == U_ - 1)
                    ok = ok && o[i].source == FR_SRC_POPULAR_FALLBACK;
                else if (s != FR_RECALL_MIX)
                    ok = ok && o[i].source == s;
                else
                    ok = ok && o[i].source <= FR_SRC_POPULAR;
                /* a single channel's results come best first */
                if (s != FR_RECALL_MIX && i > 0)
                    ok = ok && !(o[i].score > o[i - 1].score);
            }
            CHECK(ok, "strategy %d user %d: %d results", s, u, count[u]);
        }
        /* the fallback is the popular ranking: the most frequent item of the data first */
        CHECK(count[U_ - 1] == K && out[(U_ - 1) * K].row == r.pop.order[0], "fallback");
        /* mix: a full list by quotas (5/2/1 of 8 at 60/25; itemcf may pass some on) */
        if (s == FR_RECALL_MIX) {
            int by[4] = {0, 0, 0, 0};
            for (int i = 0; i < count[0]; i++)
                by[out[i].source]++;
            CHECK(count[0] == K && by[0] == 5 && by[1] + by[2] == 3, "mix user 0: %d %d %d %d",
                  count[0], by[0], by[1], by[2]);
        }
        fr_recall_free(&r);
    }
    fixture_free(&f);
}

/* One call for all users equals one call per user, at 1 and 3 threads. */
static void test_batch_equals_single(void)
{
    fixture f;
    fixture_init(&f);
    if (!f.ok)
        return;
    fr_err err = {{0}};
    int K = 6;
    fr_recall_hit all[U_ * 6], one[6];
    int count[U_], c1;
    int32_t users[U_] = {6, 5, 4, 3, 2, 1, 0}; /* any order */
    for (int s = FR_RECALL_MODEL; s <= FR_RECALL_MIX; s++)
        for (int threads = 1; threads <= 3; threads += 2) {
            fr_recall r;
            fr_recall_config c = config((fr_recall_strategy)s, K, threads);
            if (!init_recall(&f, &r, &c))
                break;
            CHECK(fr_recall_users(&r, users, U_, all, count, &err) == FR_OK, "%s", err.msg);
            int ok = 1;
            for (int i = 0; i < U_; i++) {
                CHECK(fr_recall_users(&r, &users[i], 1, one, &c1, &err) == FR_OK, "%s", err.msg);
                ok = ok && c1 == count[i];
                for (int j = 0; ok && j < c1; j++)
                    ok = one[j].row == all[i * K + j].row && one[j].source == all[i * K + j].source;
            }
            CHECK(ok, "strategy %d threads %d", s, threads);
            fr_recall_free(&r);
        }
    fixture_free(&f);
}

static void test_bad_input(void)
{
    fixture f;
    fixture_init(&f);
    if (!f.ok)
        return;
    fr_err err = {{0}};
    fr_recall r;
    fr_recall_config c = config(FR_RECALL_MODEL, 10, 1);
    CHECK(fr_recall_init(&r, &f.ds, NULL, &c, &err) == FR_EINVAL && strstr(err.msg, "model"),
          "model strategy without a model: %s", err.msg);
    c.strategy = FR_RECALL_POPULAR;
    CHECK(fr_recall_init(&r, &f.ds, NULL, &c, &err) == FR_OK, "%s", err.msg);
    int32_t user = U_;
    fr_recall_hit out[10];
    int count;
    CHECK(fr_recall_users(&r, &user, 1, out, &count, &err) == FR_EINVAL, "user row %d accepted",
          user);
    CHECK(fr_recall_users(&r, &user, 0, out, &count, &err) == FR_OK, "no users: %s", err.msg);
    fr_recall_free(&r);
    c.strategy = FR_RECALL_MODEL;
    c.seq_len = L_ + 1;
    CHECK(fr_recall_init(&r, &f.ds, &f.net, &c, &err) == FR_EINVAL, "seq-len mismatch accepted");
    fr_recall_strategy st;
    CHECK(fr_recall_strategy_parse("mix", &st, &err) == FR_OK && st == FR_RECALL_MIX, "mix");
    CHECK(fr_recall_strategy_parse("best", &st, &err) == FR_EINVAL, "best accepted");
    CHECK(!strcmp(fr_recall_source_name(FR_SRC_POPULAR_FALLBACK), "popular-fallback"), "name");
    fixture_free(&f);
}

/* The device search, run here through the CPU backend's table, against the blocked
 * search: small-integer vectors make every product exact, so the pairs and their order
 * must be identical, across chunks of users, with exclusions and a floor. */
static void test_device_search_equals_blocked(void)
{
    int V = 3001, d = 8, n = 45, ks[] = {1, 10, 200, 3500};
    fr_rng rng;
    fr_rng_seed(&rng, 99);
    float *items = malloc((size_t)V * d * sizeof *items),
          *users = malloc((size_t)n * d * sizeof *users);
    for (int e = 0; e < V * d; e++)
        items[e] = (float)fr_rng_below(&rng, 5) - 2.0f;
    for (int e = 0; e < n * d; e++)
        users[e] = (float)fr_rng_below(&rng, 5) - 2.0f;
    int32_t *ex = malloc((size_t)n * 40 * sizeof *ex);
    fr_topk_excl excl[45];
    for (int i = 0; i < n; i++) { /* ascending with repeats */
        int m = (int)fr_rng_below(&rng, 40), c = 0;
        for (int j = 0; j < m; j++) {
            c += (int)fr_rng_below(&rng, 50);
            ex[i * 40 + j] = c < V ? c : V - 1;
        }
        excl[i] = (fr_topk_excl){ex + i * 40, m};
    }
    fr_err err = {{0}};
    fr_recall_dev g;
    CHECK(fr_recall_dev_init(&g, fr_backend_cpu(), items, V, d, &err) == FR_OK, "%s", err.msg);
    g.max_scores = 7L * V; /* chunks of 7 users */
    for (size_t q = 0; q < sizeof ks / sizeof ks[0]; q++)
        for (int variant = 0; variant < 2; variant++) {
            int k = ks[q];
            float floor = variant ? 1.0f : -INFINITY;
            const fr_topk_excl *ee = variant ? excl : NULL;
            int32_t *rows = malloc((size_t)n * k * sizeof *rows);
            float *scores = malloc((size_t)n * k * sizeof *scores);
            fr_topk *tops = calloc((size_t)n, sizeof *tops);
            for (int i = 0; i < n; i++) {
                CHECK(fr_topk_init(&tops[i], k, &err) == FR_OK, "%s", err.msg);
                fr_topk_reset(&tops[i], floor);
            }
            CHECK(fr_topk_search(items, V, d, users, n, ee, 1, tops, &err) == FR_OK, "%s", err.msg);
            CHECK(fr_recall_dev_search(&g, users, n, ee, k, floor, rows, scores, &err) == FR_OK,
                  "%s", err.msg);
            int bad = 0;
            for (int i = 0; i < n; i++) {
                fr_topk_sort(&tops[i]);
                for (int j = 0; j < k; j++) {
                    int32_t r = rows[(size_t)i * k + j];
                    float s = scores[(size_t)i * k + j];
                    bad += j < tops[i].n ? r != tops[i].row[j] || s != tops[i].score[j]
                                         : r != -1 || s != -INFINITY;
                }
                fr_topk_free(&tops[i]);
            }
            CHECK(bad == 0, "k %d variant %d: %d entries differ", k, variant, bad);
            free(tops);
            free(rows);
            free(scores);
        }
    fr_recall_dev_free(&g);
    free(items);
    free(users);
    free(ex);
}

int main(void)
{
    fr_backend_cpu()->set_threads(1);
    RUN(test_itemcf_toy);
    RUN(test_itemcf_query);
    RUN(test_popular_decay);
    RUN(test_mix_quotas);
    RUN(test_mix_merge);
    RUN(test_model_equals_full_ranking);
    RUN(test_threshold_mode);
    RUN(test_strategies_and_fallback);
    RUN(test_batch_equals_single);
    RUN(test_bad_input);
    RUN(test_device_search_equals_blocked);
    return fr_test_end();
}
