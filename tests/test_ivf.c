/* Tests of the inverted-file index (fr_ivf) against exact search over the packed
 * catalogue (fr_topk_search_packed), on clustered synthetic vectors: probing every
 * list gives exact search's pairs, the default probe keeps a recall floor, excluded
 * rows and a threshold act as in exact search, tiny catalogues, a deterministic build
 * and refused settings. */
#include "recall/fr_ivf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/fr_backend.h"
#include "util/fr_rng.h"
#include "fr_test.h"
#include "fr_test_topk.h"

#define D 32
#define CENTRES 40
#define K 100

/* n rows of clustered vectors (row 0 zero when pad): a centre each, plus noise. */
static float *clustered(int n, int pad, uint64_t seed)
{
    fr_rng r;
    fr_rng_seed(&r, 99); /* the centres: the same for items and users */
    float c[CENTRES][D];
    for (int i = 0; i < CENTRES; i++)
        for (int k = 0; k < D; k++)
            c[i][k] = (float)fr_rng_normal(&r);
    fr_rng_seed(&r, seed);
    float *v = calloc((size_t)n * D, sizeof *v);
    for (int i = pad ? 1 : 0; v && i < n; i++) {
        int ci = (int)fr_rng_below(&r, CENTRES);
        float scale = 0.5f + (float)fr_rng_uniform(&r); /* norms vary, as a model's do */
        for (int k = 0; k < D; k++)
            v[(size_t)i * D + k] = scale * (c[ci][k] + 0.4f * (float)fr_rng_normal(&r));
    }
    return v;
}

/* Exact search and the index's, both sorted, over n users. */
static void both(const float *items, int V, const fr_ivf *ix, const float *users, int n,
                 const int *nprobe, const fr_topk_excl *excl, float floor, fr_topk *want,
                 fr_topk *got)
{
    fr_err err = {{0}};
    fr_topk_packed p;
    heaps(want, n, K, floor);
    heaps(got, n, K, floor);
    CHECK(fr_topk_pack(&p, items, V, D, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_topk_search_packed(&p, users, n, excl, 1, want, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_ivf_search(ix, users, n, nprobe, excl, got, &err) == FR_OK, "%s", err.msg);
    for (int i = 0; i < n; i++) {
        fr_topk_sort(&want[i]);
        fr_topk_sort(&got[i]);
    }
    fr_topk_packed_free(&p);
}

static int same_pairs(const fr_topk *a, const fr_topk *b)
{
    if (a->n != b->n)
        return 0;
    for (int j = 0; j < a->n; j++)
        if (a->row[j] != b->row[j] || a->score[j] != b->score[j])
            return 0;
    return 1;
}

/* Shared rows of two lists over the first list's size. */
static double overlap(const fr_topk *want, const fr_topk *got)
{
    int hit = 0;
    for (int a = 0; a < want->n; a++)
        for (int b = 0; b < got->n; b++)
            hit += want->row[a] == got->row[b];
    return want->n ? (double)hit / want->n : 1.0;
}

static void test_every_list_equals_exact(void)
{
    enum { V = 20001, U = 64 };
    fr_err err = {{0}};
    float *items = clustered(V, 1, 1), *users = clustered(U, 0, 2);
    fr_ivf_config c;
    fr_ivf_config_default(&c);
    fr_ivf ix;
    CHECK(fr_ivf_build(&ix, items, V, D, &c, &err) == FR_OK, "%s", err.msg);
    CHECK(ix.nlist == 141, "auto lists: %d", ix.nlist);
    CHECK(ix.off[ix.nlist] == V - 1, "every item but the padding row in a list");
    int np[U];
    for (int i = 0; i < U; i++)
        np[i] = i % 2 ? ix.nlist : 1 << 20; /* more than nlist: capped */
    fr_topk want[U], got[U];
    both(items, V, &ix, users, U, np, NULL, -INFINITY, want, got);
    int same = 1;
    for (int i = 0; i < U; i++)
        same &= same_pairs(&want[i], &got[i]) && got[i].n == K;
    CHECK(same, "nprobe = nlist differs from exact search");
    heaps_free(want, U);
    heaps_free(got, U);
    fr_ivf_free(&ix);
    free(items);
    free(users);
}

/* A probe of 24 of the 141 lists keeps 90% of exact search's items on clustered data
 * (the default probe reads every list of a catalogue this small). */
static void test_probe_recall(void)
{
    enum { V = 20001, U = 200 };
    fr_err err = {{0}};
    float *items = clustered(V, 1, 3), *users = clustered(U, 0, 4);
    fr_ivf_config c;
    fr_ivf_config_default(&c);
    fr_ivf ix;
    CHECK(fr_ivf_build(&ix, items, V, D, &c, &err) == FR_OK, "%s", err.msg);
    fr_topk want[U], got[U], one[U];
    int np[U];
    for (int i = 0; i < U; i++)
        np[i] = 24;
    both(items, V, &ix, users, U, np, NULL, -INFINITY, want, got);
    double sum = 0;
    for (int i = 0; i < U; i++)
        sum += overlap(&want[i], &got[i]);
    CHECK(sum / U >= 0.9, "recall@%d at nprobe 24: %.3f", K, sum / U);
    /* one list is a real approximation: the floor above is not met trivially */
    for (int i = 0; i < U; i++)
        np[i] = 1;
    heaps(one, U, K, -INFINITY);
    CHECK(fr_ivf_search(&ix, users, U, np, NULL, one, &err) == FR_OK, "%s", err.msg);
    double s1 = 0;
    for (int i = 0; i < U; i++) {
        fr_topk_sort(&one[i]);
        s1 += overlap(&want[i], &one[i]);
    }
    CHECK(s1 / U < sum / U && s1 / U < 0.9, "one list: recall %.3f", s1 / U);
    heaps_free(want, U);
    heaps_free(got, U);
    heaps_free(one, U);
    fr_ivf_free(&ix);
    free(items);
    free(users);
}

/* Seen rows never come back, and a threshold keeps only scores above it: with every
 * list probed, exactly as exact search; at the default probe, a subset of it. */
static void test_excluded_and_threshold(void)
{
    enum { V = 5001, U = 20, SEEN = 60 };
    fr_err err = {{0}};
    float *items = clustered(V, 1, 5), *users = clustered(U, 0, 6);
    fr_ivf_config c;
    fr_ivf_config_default(&c);
    fr_ivf ix;
    CHECK(fr_ivf_build(&ix, items, V, D, &c, &err) == FR_OK, "%s", err.msg);
    /* each user has seen every other item of its exact top 100, in ascending order */
    fr_topk top[U], want[U], got[U];
    both(items, V, &ix, users, U, NULL, NULL, -INFINITY, top, got);
    heaps_free(got, U);
    int32_t seen[U][SEEN];
    fr_topk_excl ex[U];
    for (int i = 0; i < U; i++) {
        for (int j = 0; j < SEEN; j++)
            seen[i][j] = top[i].row[2 * j < top[i].n ? 2 * j : 0];
        for (int a = 1; a < SEEN; a++) /* insertion sort */
            for (int b = a; b > 0 && seen[i][b - 1] > seen[i][b]; b--) {
                int32_t t = seen[i][b];
                seen[i][b] = seen[i][b - 1];
                seen[i][b - 1] = t;
            }
        ex[i] = (fr_topk_excl){seen[i], SEEN};
    }
    int np[U];
    for (int i = 0; i < U; i++)
        np[i] = ix.nlist;
    float thr = top[0].score[K / 2]; /* half of user 0's list scores above it */
    both(items, V, &ix, users, U, np, ex, thr, want, got);
    int same = 1, seen_back = 0, below = 0;
    for (int i = 0; i < U; i++)
        same &= same_pairs(&want[i], &got[i]);
    CHECK(same, "with exclusions and a threshold, every list differs from exact search");
    heaps_free(want, U);
    heaps_free(got, U);
    for (int i = 0; i < U; i++)
        np[i] = 4;
    both(items, V, &ix, users, U, np, ex, thr, want, got);
    for (int i = 0; i < U; i++)
        for (int j = 0; j < got[i].n; j++) {
            seen_back += fr_topk_excl_has(&ex[i], got[i].row[j]);
            below += !(got[i].score[j] > thr);
        }
    CHECK(seen_back == 0, "%d seen rows returned", seen_back);
    CHECK(below == 0, "%d scores at or below the threshold", below);
    CHECK(got[0].n > 0 && got[0].n < K, "user 0: %d pairs above the threshold", got[0].n);
    heaps_free(top, U);
    heaps_free(want, U);
    heaps_free(got, U);
    fr_ivf_free(&ix);
    free(items);
    free(users);
}

static void test_tiny_catalogues(void)
{
    enum { U = 3 };
    fr_err err = {{0}};
    float *users = clustered(U, 0, 8);
    for (int V = 1; V <= 6; V++) {
        float *items = clustered(V, 1, 7);
        fr_ivf_config c;
        fr_ivf_config_default(&c);
        c.nlist = 4; /* more lists than items for V < 5 */
        fr_ivf ix;
        CHECK(fr_ivf_build(&ix, items, V, D, &c, &err) == FR_OK, "V %d: %s", V, err.msg);
        CHECK(ix.nlist == (V - 1 < 4 ? V - 1 : 4), "V %d: %d lists", V, ix.nlist);
        fr_topk want[U], got[U];
        both(items, V, &ix, users, U, NULL, NULL, -INFINITY, want, got);
        int same = 1;
        for (int i = 0; i < U; i++)
            same &= same_pairs(&want[i], &got[i]) && got[i].n == V - 1;
        CHECK(same, "V %d: differs from exact search", V);
        heaps_free(want, U);
        heaps_free(got, U);
        fr_ivf_free(&ix);
        free(items);
    }
    free(users);
}

static void test_deterministic_build(void)
{
    enum { V = 8001 };
    fr_err err = {{0}};
    float *items = clustered(V, 1, 9);
    fr_ivf_config c;
    fr_ivf_config_default(&c);
    fr_ivf a, b, other;
    CHECK(fr_ivf_build(&a, items, V, D, &c, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_ivf_build(&b, items, V, D, &c, &err) == FR_OK, "%s", err.msg);
    CHECK(a.nlist == b.nlist &&
              !memcmp(a.centroids, b.centroids, (size_t)a.nlist * D * sizeof(float)) &&
              !memcmp(a.off, b.off, ((size_t)a.nlist + 1) * sizeof(int32_t)) &&
              !memcmp(a.rows, b.rows, (size_t)(V - 1) * sizeof(int32_t)),
          "two builds with one seed differ");
    c.seed = 2;
    CHECK(fr_ivf_build(&other, items, V, D, &c, &err) == FR_OK, "%s", err.msg);
    CHECK(memcmp(a.centroids, other.centroids, (size_t)a.nlist * D * sizeof(float)) != 0,
          "the seed is not used");
    fr_ivf_free(&a);
    fr_ivf_free(&b);
    fr_ivf_free(&other);
    free(items);
}

static void test_refusals(void)
{
    fr_err err = {{0}};
    float items[3 * D] = {0};
    fr_ivf_config c;
    fr_ivf ix;
    fr_ivf_config_default(&c);
    c.nprobe = 0;
    CHECK(fr_ivf_build(&ix, items, 3, D, &c, &err) == FR_EINVAL, "nprobe 0");
    fr_ivf_config_default(&c);
    c.nlist = -1;
    CHECK(fr_ivf_build(&ix, items, 3, D, &c, &err) == FR_EINVAL, "nlist -1");
    CHECK(fr_ivf_build(&ix, items, 0, D, &c, &err) == FR_EINVAL, "no rows");
    fr_ivf_free(&ix); /* a failed build leaves a freeable index */
    fr_ivf_config_default(&c);
    CHECK(fr_ivf_build(&ix, items, 3, D, &c, &err) == FR_OK, "%s", err.msg);
    fr_topk h;
    heaps(&h, 1, K, -INFINITY);
    fr_topk_push(&h, 1.0f, 1);
    CHECK(fr_ivf_search(&ix, items, 1, NULL, NULL, &h, &err) == FR_EINVAL, "full heap");
    fr_topk_free(&h);
    fr_ivf_free(&ix);
}

int main(void)
{
    fr_backend_cpu()->set_threads(1);
    RUN(test_every_list_equals_exact);
    RUN(test_probe_recall);
    RUN(test_excluded_and_threshold);
    RUN(test_tiny_catalogues);
    RUN(test_deterministic_build);
    RUN(test_refusals);
    return fr_test_end();
}
