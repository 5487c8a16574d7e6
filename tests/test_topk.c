/* Tests of top-K selection (fr_topk): the bounded heap against a naive full sort with
 * many ties, the threshold floor, and the blocked catalogue search against a naive
 * scoring of every item, across block and user-chunk boundaries, thread splits,
 * exclusions and the padding row, and the backend's row selection (topk_rows, the
 * reference the CUDA one is tested against) against a full sort. Vectors hold small integers so
 * that every inner product is exact in float and ties are common. */
#include "recall/fr_topk.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/fr_backend.h"
#include "util/fr_rng.h"
#include "fr_test.h"

static fr_rng rng;

typedef struct pair {
    float s;
    int32_t r;
} pair;

/* The reference order: score descending, row ascending. */
static int by_pair(const void *pa, const void *pb)
{
    const pair *a = pa, *b = pb;
    if (a->s != b->s)
        return a->s > b->s ? -1 : 1;
    return (a->r > b->r) - (a->r < b->r);
}

/* Compare a sorted heap with the first `want` pairs of a sorted reference. */
static int same_as(const fr_topk *h, const pair *ref, int want)
{
    if (h->n != want)
        return 0;
    for (int i = 0; i < want; i++)
        if (h->row[i] != ref[i].r || h->score[i] != ref[i].s)
            return 0;
    return 1;
}

static void test_heap_equals_full_sort(void)
{
    int n = 1000, ks[] = {1, 2, 7, 100, 999, 1000, 1500};
    pair *ref = malloc((size_t)n * sizeof *ref), *shuf = malloc((size_t)n * sizeof *shuf);
    for (int trial = 0; trial < 20; trial++) {
        /* few distinct values: most comparisons are ties decided by the row */
        int levels = trial % 2 ? 5 : 100000;
        for (int i = 0; i < n; i++) {
            ref[i] = (pair){(float)fr_rng_below(&rng, (uint64_t)levels) - 3.0f, i};
            shuf[i] = ref[i];
        }
        for (int i = n - 1; i > 0; i--) { /* arrival order must not matter */
            int j = (int)fr_rng_below(&rng, (uint64_t)i + 1);
            pair t = shuf[i];
            shuf[i] = shuf[j];
            shuf[j] = t;
        }
        qsort(ref, (size_t)n, sizeof *ref, by_pair);
        for (size_t q = 0; q < sizeof ks / sizeof ks[0]; q++) {
            fr_topk h;
            fr_err err = {{0}};
            CHECK(fr_topk_init(&h, ks[q], &err) == FR_OK, "%s", err.msg);
            for (int i = 0; i < n; i++)
                fr_topk_push(&h, shuf[i].s, shuf[i].r);
            fr_topk_sort(&h);
            CHECK(same_as(&h, ref, ks[q] < n ? ks[q] : n), "trial %d k %d", trial, ks[q]);
            fr_topk_free(&h);
        }
    }
    free(ref);
    free(shuf);
}

static void test_threshold_and_nan(void)
{
    fr_topk h;
    fr_err err = {{0}};
    CHECK(fr_topk_init(&h, 4, &err) == FR_OK, "%s", err.msg);
    float s[] = {0.5f, 2.0f, NAN, 1.0f, 3.0f, 1.0f, -INFINITY, 0.9f};
    /* floor 1: only 2 and 3 are strictly above; 1.0 itself stays out */
    fr_topk_reset(&h, 1.0f);
    for (int i = 0; i < 8; i++)
        fr_topk_push(&h, s[i], i + 1);
    fr_topk_sort(&h);
    CHECK(h.n == 2 && h.row[0] == 5 && h.row[1] == 2, "n %d rows %d %d", h.n, h.row[0], h.row[1]);
    /* floor below everything: at most k, NaN and -inf never enter, ties by row */
    fr_topk_reset(&h, -1e30f);
    for (int i = 0; i < 8; i++)
        fr_topk_push(&h, s[i], i + 1);
    fr_topk_sort(&h);
    CHECK(h.n == 4 && h.row[0] == 5 && h.row[1] == 2 && h.row[2] == 4 && h.row[3] == 6,
          "n %d rows %d %d %d %d", h.n, h.row[0], h.row[1], h.row[2], h.row[3]);
    fr_topk_reset(&h, -INFINITY);
    fr_topk_push(&h, -INFINITY, 1);
    fr_topk_push(&h, NAN, 2);
    CHECK(h.n == 0, "n %d", h.n);
    /* -0 and +0 are the same score: the row decides; negatives rank below both */
    fr_topk_reset(&h, -INFINITY);
    fr_topk_push(&h, -1e-30f, 1);
    fr_topk_push(&h, 0.0f, 7);
    fr_topk_push(&h, -0.0f, 3);
    fr_topk_push(&h, -2.0f, 2);
    fr_topk_push(&h, 1e-30f, 9);
    fr_topk_sort(&h);
    CHECK(h.n == 4 && h.row[0] == 9 && h.row[1] == 3 && h.row[2] == 7 && h.row[3] == 1 &&
              h.score[3] == -1e-30f,
          "rows %d %d %d %d", h.row[0], h.row[1], h.row[2], h.row[3]);
    fr_topk_free(&h);
    CHECK(fr_topk_init(&h, 0, &err) == FR_EINVAL, "k 0 accepted");
}

/* Small-integer vectors: exact float products, many ties. */
static void fill_int(float *x, size_t n, int span)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((int)fr_rng_below(&rng, (uint64_t)(2 * span + 1)) - span);
}

/* Random ascending exclusion lists (with repeats) for n users over rows [0, V). */
static int32_t *make_excl(fr_topk_excl *ex, int n, int V, int per)
{
    int32_t *rows = malloc((size_t)n * per * sizeof *rows);
    for (int u = 0; u < n; u++) {
        int32_t *r = rows + (size_t)u * per;
        for (int j = 0; j < per; j++)
            r[j] = (int32_t)fr_rng_below(&rng, (uint64_t)V);
        for (int i = 1; i < per; i++) /* insertion sort */
            for (int j = i; j > 0 && r[j] < r[j - 1]; j--) {
                int32_t t = r[j];
                r[j] = r[j - 1];
                r[j - 1] = t;
            }
        ex[u] = (fr_topk_excl){r, per};
    }
    return rows;
}

static void naive_top(const float *items, int V, int d, const float *q, const fr_topk_excl *ex,
                      float floor, int k, pair *buf, int *want)
{
    int m = 0;
    for (int j = 1; j < V; j++) {
        float s = 0.0f;
        for (int c = 0; c < d; c++)
            s += items[(size_t)j * d + c] * q[c];
        if (s > floor && !fr_topk_excl_has(ex, j))
            buf[m++] = (pair){s, j};
    }
    qsort(buf, (size_t)m, sizeof *buf, by_pair);
    *want = m < k ? m : k;
}

static void check_search(int V, int d, int n, int k, int threads, int n_excl, float floor)
{
    float *items = malloc((size_t)V * d * sizeof *items);
    float *users = malloc((size_t)n * d * sizeof *users);
    fr_topk_excl *ex = malloc((size_t)n * sizeof *ex);
    pair *buf = malloc((size_t)V * sizeof *buf);
    fr_topk *heaps = calloc((size_t)n, sizeof *heaps);
    fill_int(items, (size_t)V * d, 3);
    fill_int(users, (size_t)n * d, 2);
    for (int c = 0; c < d; c++) /* padding row scores highest of all: must never appear */
        items[c] = 100.0f * users[c];
    int32_t *rows = n_excl ? make_excl(ex, n, V, n_excl) : NULL;
    fr_err err = {{0}};
    for (int i = 0; i < n; i++) {
        CHECK(fr_topk_init(&heaps[i], k, &err) == FR_OK, "%s", err.msg);
        fr_topk_reset(&heaps[i], floor);
    }
    fr_status st = fr_topk_search(items, V, d, users, n, rows ? ex : NULL, threads, heaps, &err);
    CHECK(st == FR_OK, "%s", err.msg);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int want;
        naive_top(items, V, d, users + (size_t)i * d, rows ? &ex[i] : NULL, floor, k, buf, &want);
        fr_topk_sort(&heaps[i]);
        bad += !same_as(&heaps[i], buf, want);
        for (int j = 0; j < heaps[i].n; j++)
            bad += heaps[i].row[j] == 0;
        fr_topk_free(&heaps[i]);
    }
    CHECK(bad == 0, "V %d d %d n %d k %d threads %d excl %d: %d users differ", V, d, n, k, threads,
          n_excl, bad);
    free(rows);
    free(items);
    free(users);
    free(ex);
    free(buf);
    free(heaps);
}

static void test_search_equals_naive(void)
{
    /* one user (sgemv), a partial chunk, several chunks; one block, several blocks */
    check_search(50, 8, 1, 10, 1, 0, -INFINITY);
    check_search(3 * FR_TOPK_BLOCK + 17, 16, 1, 100, 1, 0, -INFINITY);
    check_search(2 * FR_TOPK_BLOCK + 5, 16, FR_TOPK_USERS + 7, 25, 1, 0, -INFINITY);
    /* exclusions, including rows at block edges by chance and repeats */
    check_search(2 * FR_TOPK_BLOCK + 5, 8, 9, 30, 1, 500, -INFINITY);
    /* threads: users split, and items split for fewer users than threads */
    check_search(2 * FR_TOPK_BLOCK + 5, 8, FR_TOPK_USERS + 7, 20, 3, 40, -INFINITY);
    check_search(5 * FR_TOPK_BLOCK + 3, 8, 2, 50, 4, 40, -INFINITY);
    /* k above the catalogue, and the threshold floor with its cap */
    check_search(300, 4, 3, 1000, 1, 20, -INFINITY);
    check_search(FR_TOPK_BLOCK + 100, 8, 5, 40, 2, 10, 6.0f);
    check_search(FR_TOPK_BLOCK + 100, 8, 1, 100000, 3, 10, 10.0f);
}

static void test_search_edges(void)
{
    fr_err err = {{0}};
    fr_topk h;
    float items[4] = {0, 0, 1, 2}, user[2] = {1, 1};
    CHECK(fr_topk_init(&h, 3, &err) == FR_OK, "%s", err.msg);
    /* padding only: nothing to score */
    CHECK(fr_topk_search(items, 1, 2, user, 1, NULL, 1, &h, &err) == FR_OK && h.n == 0, "n %d",
          h.n);
    CHECK(fr_topk_search(items, 2, 2, user, 1, NULL, 1, &h, &err) == FR_OK && h.n == 1, "n %d",
          h.n);
    fr_topk_sort(&h);
    CHECK(h.row[0] == 1 && h.score[0] == 3.0f, "row %d score %g", h.row[0], h.score[0]);
    /* a heap that still holds pairs is refused: the ascending scan relies on it */
    CHECK(fr_topk_search(items, 2, 2, user, 1, NULL, 1, &h, &err) == FR_EINVAL, "accepted");
    CHECK(strstr(err.msg, "not empty") != NULL, "%s", err.msg);
    fr_topk_free(&h);
}

/* The CPU backend's topk_rows against a full sort of each row: ties (few levels),
 * NaN, -0, a floor, repeated exclusions, the padding column, k above the eligible. */
static void test_backend_topk_rows(void)
{
    const fr_backend *be = fr_backend_cpu();
    int n = 6, v = 700, ks[] = {1, 3, 100, 699, 900};
    float *sc = malloc((size_t)n * v * sizeof *sc), *keep = malloc((size_t)n * v * sizeof *keep);
    int32_t *off = malloc((size_t)(n + 1) * sizeof *off), *ex = malloc((size_t)n * 80 * sizeof *ex);
    pair *ref = malloc((size_t)v * sizeof *ref);
    for (int trial = 0; trial < 12; trial++) {
        int levels = trial % 3 == 0 ? 4 : trial % 3 == 1 ? 50 : 1000000;
        float floor = trial % 4 == 3 ? 0.5f : -INFINITY;
        for (size_t e = 0; e < (size_t)n * v; e++) {
            sc[e] = (float)fr_rng_below(&rng, (uint64_t)levels) - (float)levels / 2;
            if (fr_rng_below(&rng, 50) == 0)
                sc[e] = NAN;
            else if (fr_rng_below(&rng, 50) == 0)
                sc[e] = -0.0f;
        }
        off[0] = 0;
        for (int i = 0; i < n; i++) { /* ascending with repeats, row 0 included */
            int m = trial % 2 ? (int)fr_rng_below(&rng, 80) : 0, c = 0;
            for (int j = 0; j < m; j++) {
                c += (int)fr_rng_below(&rng, 12);
                ex[off[i] + j] = c < v ? c : v - 1;
            }
            off[i + 1] = off[i] + m;
        }
        memcpy(keep, sc, (size_t)n * v * sizeof *sc);
        for (size_t q = 0; q < sizeof ks / sizeof ks[0]; q++) {
            int k = ks[q];
            int32_t *rows = malloc((size_t)n * k * sizeof *rows);
            float *out = malloc((size_t)n * k * sizeof *out);
            memcpy(sc, keep, (size_t)n * v * sizeof *sc);
            be->topk_rows(rows, out, sc, n, v, k, floor, off, trial % 2 ? ex : NULL);
            for (int i = 0; i < n; i++) {
                int m = 0;
                for (int c = 1; c < v; c++) {
                    int excluded = 0;
                    for (int j = off[i]; trial % 2 && j < off[i + 1]; j++)
                        excluded |= ex[j] == c;
                    float x = keep[(size_t)i * v + c];
                    if (!excluded && x > floor)
                        ref[m++] = (pair){x + 0.0f, c};
                }
                qsort(ref, (size_t)m, sizeof *ref, by_pair);
                int bad = 0;
                for (int j = 0; j < k; j++) {
                    int32_t r = rows[(size_t)i * k + j];
                    float o = out[(size_t)i * k + j];
                    bad += j < m ? r != ref[j].r || o != ref[j].s : r != -1 || o != -INFINITY;
                }
                CHECK(!bad, "trial %d k %d row %d: %d entries differ", trial, k, i, bad);
            }
            free(rows);
            free(out);
        }
    }
    free(sc);
    free(keep);
    free(off);
    free(ex);
    free(ref);
}

int main(void)
{
    fr_rng_seed(&rng, 42);
    RUN(test_heap_equals_full_sort);
    RUN(test_threshold_and_nan);
    RUN(test_search_equals_naive);
    RUN(test_search_edges);
    RUN(test_backend_topk_rows);
    return fr_test_end();
}
