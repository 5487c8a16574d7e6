/* Tests of the 8-bit catalogue scan with exact re-rank (fr_topk_q8) against exact
 * search over the packed float catalogue (fr_topk_search_packed): with every row a
 * candidate it gives exact search's pairs, score bits included, on random and on
 * clustered vectors at dimensions that are and are not multiples of the SIMD width;
 * with the default candidates it keeps a recall@100 floor on clustered vectors that
 * share a large common part (as a model's item vectors do); seen rows and a threshold
 * act as in exact search; catalogues smaller than k; and the SIMD kernel's integer
 * products equal the portable kernel's. */
#include "recall/fr_topk_q8.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/fr_rng.h"
#include "fr_test.h"
#include "fr_test_topk.h"

#define CENTRES 40

/* n rows of dimension d (row 0 zero when pad). clustered: a centre each plus noise,
 * shifted by a common vector of about the spread's size; else standard normal. */
static float *vectors(int n, int d, int pad, int clustered, uint64_t seed)
{
    fr_rng r;
    fr_rng_seed(&r, 99); /* centres and the common part: the same for items and users */
    float *c = malloc((size_t)(CENTRES + 1) * d * sizeof *c);
    float *v = calloc((size_t)n * d, sizeof *v);
    if (!c || !v)
        abort();
    for (int i = 0; i < (CENTRES + 1) * d; i++)
        c[i] = (float)fr_rng_normal(&r);
    fr_rng_seed(&r, seed);
    for (int i = pad ? 1 : 0; i < n; i++) {
        int ci = (int)fr_rng_below(&r, CENTRES);
        float scale = 0.5f + (float)fr_rng_uniform(&r);
        for (int k = 0; k < d; k++) {
            float x = (float)fr_rng_normal(&r);
            if (clustered)
                x = scale * (2.0f * c[CENTRES * d + k] + c[ci * d + k] + 0.4f * x);
            v[(size_t)i * d + k] = x;
        }
    }
    free(c);
    return v;
}

/* Exact search and the 8-bit scan with rerank candidates, both sorted. */
static void both(const float *items, int V, int d, const float *users, int n, int k,
                 const fr_topk_excl *excl, float floor, int rerank, fr_topk *want, fr_topk *got)
{
    fr_err err = {{0}};
    fr_topk_packed p;
    fr_topk_q8 q;
    heaps(want, n, k, floor);
    heaps(got, n, k, floor);
    CHECK(fr_topk_pack(&p, items, V, d, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_topk_q8_build(&q, items, V, d, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_topk_search_packed(&p, users, n, excl, 1, want, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_topk_q8_search(&q, items, users, n, excl, rerank, got, &err) == FR_OK, "%s", err.msg);
    for (int i = 0; i < n; i++) {
        fr_topk_sort(&want[i]);
        fr_topk_sort(&got[i]);
    }
    fr_topk_packed_free(&p);
    fr_topk_q8_free(&q);
}

/* Whether got holds want's pairs in want's order, the scores to the bit. */
static int same(const fr_topk *want, const fr_topk *got)
{
    if (want->n != got->n)
        return 0;
    for (int j = 0; j < want->n; j++)
        if (want->row[j] != got->row[j] || memcmp(&want->score[j], &got->score[j], 4) != 0)
            return 0;
    return 1;
}

static double recall(const fr_topk *want, const fr_topk *got)
{
    int hit = 0;
    for (int a = 0; a < want->n; a++)
        for (int b = 0; b < got->n; b++)
            hit += want->row[a] == got->row[b];
    return want->n ? (double)hit / want->n : 1.0;
}

/* Every row a candidate: exact search's pairs, whatever the dimension. */
static void test_all_candidates_is_exact(void)
{
    const int dims[3] = {37, 64, 100};
    for (int c = 0; c < 2; c++)
        for (int di = 0; di < 3; di++) {
            int V = 3001, n = 9, k = 50, d = dims[di];
            float *items = vectors(V, d, 1, c, 11 + di);
            float *users = vectors(n, d, 0, c, 21 + di);
            fr_topk want[9], got[9];
            both(items, V, d, users, n, k, NULL, -INFINITY, V, want, got);
            for (int i = 0; i < n; i++)
                CHECK(same(&want[i], &got[i]), "clustered %d, d %d, user %d", c, d, i);
            heaps_free(want, n);
            heaps_free(got, n);
            free(items);
            free(users);
        }
}

/* The default candidates (max(2k, 200)) on vectors with a large common part. */
static void test_default_recall_floor(void)
{
    int V = 20001, n = 40, k = 100, d = 64;
    float *items = vectors(V, d, 1, 1, 5);
    float *users = vectors(n, d, 0, 1, 6);
    fr_topk want[40], got[40];
    both(items, V, d, users, n, k, NULL, -INFINITY, 0, want, got);
    double sum = 0.0;
    int exact_lists = 0;
    for (int i = 0; i < n; i++) {
        sum += recall(&want[i], &got[i]);
        exact_lists += same(&want[i], &got[i]);
        /* whatever is returned is scored exactly: each pair is among exact search's
         * candidates with its exact score, so none beats exact search's k-th */
        for (int j = 0; j < got[i].n; j++)
            CHECK(got[i].score[j] <= want[i].score[0], "user %d", i);
    }
    double r = sum / n;
    printf("  recall@100 %.4f, %d of %d lists identical\n", r, exact_lists, n);
    CHECK(r >= 0.99, "recall@100 %.4f", r);
    heaps_free(want, n);
    heaps_free(got, n);
    free(items);
    free(users);
}

/* Seen rows never come back, and a threshold keeps only exact scores above it. */
static void test_masking_and_threshold(void)
{
    int V = 4001, n = 7, k = 30, d = 37;
    float *items = vectors(V, d, 1, 1, 8);
    float *users = vectors(n, d, 0, 1, 9);
    fr_topk want[7], got[7];
    /* mask each user's exact top 20 (and some others), so that masking matters */
    fr_topk top[7];
    int32_t seen[7][40];
    fr_topk_excl excl[7];
    both(items, V, d, users, n, 20, NULL, -INFINITY, V, top, got);
    heaps_free(got, n);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < 20; j++)
            seen[i][j] = top[i].row[j];
        for (int j = 20; j < 40; j++)
            seen[i][j] = (int32_t)(1 + (i * 97 + j * 31) % (V - 1));
        /* ascending */
        for (int a = 1; a < 40; a++)
            for (int b = a; b > 0 && seen[i][b - 1] > seen[i][b]; b--) {
                int32_t t = seen[i][b];
                seen[i][b] = seen[i][b - 1];
                seen[i][b - 1] = t;
            }
        excl[i] = (fr_topk_excl){seen[i], 40};
    }
    float thr = top[0].score[19]; /* user 0 loses its list past the masked ones */
    heaps_free(top, n);
    for (int pass = 0; pass < 2; pass++) {
        int rerank = pass == 0 ? V : 0;
        both(items, V, d, users, n, k, excl, thr, rerank, want, got);
        for (int i = 0; i < n; i++) {
            if (pass == 0)
                CHECK(same(&want[i], &got[i]), "user %d, every row a candidate", i);
            for (int j = 0; j < got[i].n; j++) {
                CHECK(!fr_topk_excl_has(&excl[i], got[i].row[j]), "user %d row %d seen", i,
                      got[i].row[j]);
                CHECK(got[i].score[j] > thr, "user %d score %g", i, got[i].score[j]);
            }
        }
        heaps_free(want, n);
        heaps_free(got, n);
    }
    free(items);
    free(users);
}

/* Fewer rows than k: every row, as exact search gives them. */
static void test_tiny_catalogues(void)
{
    const int sizes[4] = {1, 2, 5, 17};
    for (int s = 0; s < 4; s++) {
        int V = sizes[s], n = 3, k = 10, d = 37;
        float *items = vectors(V, d, 1, 0, 30 + s);
        float *users = vectors(n, d, 0, 0, 40 + s);
        fr_topk want[3], got[3];
        both(items, V, d, users, n, k, NULL, -INFINITY, 0, want, got);
        for (int i = 0; i < n; i++) {
            CHECK(same(&want[i], &got[i]), "V %d user %d", V, i);
            CHECK(got[i].n == (V - 1 < k ? V - 1 : k), "V %d: %d pairs", V, got[i].n);
        }
        heaps_free(want, n);
        heaps_free(got, n);
        free(items);
        free(users);
    }
}

/* The SIMD kernel's products equal the portable one's, for every group size and for
 * ranges of panels of odd length. */
static void test_kernels_agree(void)
{
    if (!fr_topk_q8_simd_available()) {
        printf("  no AVX-512 VNNI on this CPU: only the portable kernel runs (skipped)\n");
        return;
    }
    const int dims[3] = {37, 64, 100};
    fr_err err = {{0}};
    for (int di = 0; di < 3; di++) {
        int V = 1000, d = dims[di];
        float *items = vectors(V, d, 1, 0, 50 + di);
        fr_topk_q8 q;
        CHECK(fr_topk_q8_build(&q, items, V, d, &err) == FR_OK, "%s", err.msg);
        int G = q.groups, stride = q.panels * FR_TOPK_PANEL;
        int8_t *uq = calloc((size_t)FR_TOPK_GROUP * G * 4, 1);
        int32_t *a = malloc((size_t)FR_TOPK_GROUP * stride * sizeof *a);
        int32_t *b = malloc((size_t)FR_TOPK_GROUP * stride * sizeof *b);
        fr_rng r;
        fr_rng_seed(&r, 60 + di);
        for (int i = 0; i < FR_TOPK_GROUP; i++)
            for (int k = 0; k < d; k++) /* the extremes included */
                uq[(size_t)i * G * 4 + k] = (int8_t)((int)fr_rng_below(&r, 255) - 127);
        for (int g = 1; g <= FR_TOPK_GROUP; g++) {
            int p0 = g % 2, p1 = q.panels - (g % 3 == 0);
            memset(a, 0x55, (size_t)FR_TOPK_GROUP * stride * sizeof *a);
            memset(b, 0xaa, (size_t)FR_TOPK_GROUP * stride * sizeof *b);
            fr_topk_q8_dots(&q, uq, g, p0, p1, a, stride, FR_Q8_PORTABLE);
            fr_topk_q8_dots(&q, uq, g, p0, p1, b, stride, FR_Q8_SIMD);
            int differ = 0, nonzero = 0;
            for (int i = 0; i < g; i++)
                for (int t = 0; t < (p1 - p0) * FR_TOPK_PANEL; t++) {
                    differ += a[(size_t)i * stride + t] != b[(size_t)i * stride + t];
                    nonzero += a[(size_t)i * stride + t] != 0;
                }
            CHECK(differ == 0, "d %d, %d users: %d products differ", d, g, differ);
            CHECK(nonzero > 0, "d %d: all products zero", d);
        }
        free(uq);
        free(a);
        free(b);
        fr_topk_q8_free(&q);
        free(items);
    }
}

/* Bad sizes are refused. */
static void test_refused(void)
{
    fr_err err = {{0}};
    fr_topk_q8 q;
    float x[4] = {0};
    CHECK(fr_topk_q8_build(&q, x, 0, 4, &err) == FR_EINVAL, "no rows");
    CHECK(fr_topk_q8_build(&q, x, 1, 0, &err) == FR_EINVAL, "no dimensions");
}

int main(void)
{
    /* the searches with this CPU's kernel, then with the portable one */
    for (int pass = 0; pass < 2; pass++) {
        fr_topk_q8_use_kernel(pass == 0 ? FR_Q8_AUTO : FR_Q8_PORTABLE);
        printf("search kernel: %s\n", pass == 0 ? fr_topk_q8_kernel_name() : "portable C");
        RUN(test_all_candidates_is_exact);
        RUN(test_default_recall_floor);
        RUN(test_masking_and_threshold);
        RUN(test_tiny_catalogues);
    }
    fr_topk_q8_use_kernel(FR_Q8_AUTO);
    RUN(test_kernels_agree);
    RUN(test_refused);
    return fr_test_end();
}
