/* Speed of top-K recall (fr_topk_search) against the machine's own limits, with random
 * item vectors (the scoring does not depend on what the model learnt):
 *   single   one user's top-K over a 100,000-item catalogue, median over many users;
 *   floor    one user's top-K over 1,000,000 items against the memory-bandwidth floor,
 *            the bytes of the item vectors over this machine's memcpy rate (bytes
 *            copied per second, measured here on a buffer of the same size);
 *   batch    many users per matrix product, in GFLOP/s of the scoring products, against
 *            the sgemm rate measured here (1024^3, and the plain product of the same
 *            shape without the selection);
 *   naive    score every item, qsort them all, keep the first K.
 * Prints a Markdown table, then one JSON line.
 * Usage: recall_bench [--threads N] [--dim D] [--k K] [--users N] [--quick] */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/fr_rng.h"
#include "recall/fr_topk.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* 64-byte aligned memory, or NULL after saying so. */
static void *xalloc(size_t bytes)
{
    void *p = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!p)
        fprintf(stderr, "recall_bench: cannot allocate %zu bytes\n", bytes);
    return p;
}

static void fill(float *x, size_t n, fr_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(2.0 * fr_rng_uniform(rng) - 1.0);
}

/* Bytes copied per second by memcpy on a buffer of `bytes`, median of 7 (pages touched
 * first so that faults are not timed); -1 without memory. */
static double copy_rate(size_t bytes)
{
    char *a = xalloc(bytes), *b = xalloc(bytes);
    if (!a || !b) {
        free(a);
        free(b);
        return -1.0;
    }
    memset(a, 1, bytes);
    memset(b, 2, bytes);
    double t[7];
    for (int r = 0; r < 7; r++) {
        double t0 = now_s();
        memcpy(b, a, bytes);
        t[r] = now_s() - t0;
        a[r] ^= b[bytes - 1 - (size_t)r]; /* keep the copies observable */
    }
    free(a);
    free(b);
    return (double)bytes / median(t, 7);
}

typedef float v16 __attribute__((vector_size(64)));

/* Bytes read per second by a plain sum over the buffer (four running vector sums so
 * the adds do not wait on each other), median of 7: the rate a pure scan of the
 * catalogue could reach. n is a multiple of 64. */
static double read_rate(const float *x, size_t n, double *sink)
{
    double t[7];
    for (int r = 0; r < 7; r++) {
        v16 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0}, a, b, c, d;
        double t0 = now_s();
        for (size_t i = 0; i + 64 <= n; i += 64) {
            memcpy(&a, x + i, sizeof a);
            memcpy(&b, x + i + 16, sizeof b);
            memcpy(&c, x + i + 32, sizeof c);
            memcpy(&d, x + i + 48, sizeof d);
            s0 += a;
            s1 += b;
            s2 += c;
            s3 += d;
        }
        t[r] = now_s() - t0;
        v16 s = (s0 + s1) + (s2 + s3);
        for (int j = 0; j < 16; j++)
            *sink += s[j];
    }
    return (double)(n * sizeof(float)) / median(t, 7);
}

/* GFLOP/s of C (m, n) = A (m, k) B^T (n, k) over >= 0.2 s of repeats; -1 without
 * memory. */
static double sgemm_rate(int m, int n, int k, fr_rng *rng)
{
    float *a = xalloc(sizeof(float) * (size_t)m * k), *b = xalloc(sizeof(float) * (size_t)n * k);
    float *c = xalloc(sizeof(float) * (size_t)m * n);
    if (!a || !b || !c) {
        free(a);
        free(b);
        free(c);
        return -1.0;
    }
    fill(a, (size_t)m * k, rng);
    fill(b, (size_t)n * k, rng);
    long reps = 0;
    double t0 = now_s(), t;
    do {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
        reps++;
    } while ((t = now_s() - t0) < 0.2);
    free(a);
    free(b);
    free(c);
    return 2.0 * m * n * k * reps / t / 1e9;
}

/* The plain product of a batch, block by block as the search runs it (users in chunks
 * of FR_TOPK_USERS against blocks of FR_TOPK_BLOCK items), without the selection. */
static double product_only(const float *items, int V, int d, const float *users, int n)
{
    float *buf = xalloc(sizeof(float) * FR_TOPK_USERS * FR_TOPK_BLOCK);
    if (!buf)
        return -1.0;
    double t0 = now_s();
    for (int r0 = 1; r0 < V; r0 += FR_TOPK_BLOCK) {
        int nb = V - r0 < FR_TOPK_BLOCK ? V - r0 : FR_TOPK_BLOCK;
        for (int c0 = 0; c0 < n; c0 += FR_TOPK_USERS) {
            int mc = n - c0 < FR_TOPK_USERS ? n - c0 : FR_TOPK_USERS;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, mc, nb, d, 1.0f,
                        users + (size_t)c0 * d, d, items + (size_t)r0 * d, d, 0.0f, buf, nb);
        }
    }
    double t = now_s() - t0;
    free(buf);
    return t;
}

typedef struct scored {
    float s;
    int32_t r;
} scored;

static int by_score(const void *pa, const void *pb)
{
    const scored *a = pa, *b = pb;
    if (a->s != b->s)
        return a->s > b->s ? -1 : 1;
    return (a->r > b->r) - (a->r < b->r);
}

/* The naive baseline for one user: every score into memory, a full sort, the first K. */
static double naive_one(const float *items, int V, int d, const float *q, int k, float *scores,
                        scored *all, int32_t *top)
{
    double t0 = now_s();
    cblas_sgemv(CblasRowMajor, CblasNoTrans, V - 1, d, 1.0f, items + d, d, q, 1, 0.0f, scores, 1);
    for (int j = 0; j < V - 1; j++)
        all[j] = (scored){scores[j], j + 1};
    qsort(all, (size_t)(V - 1), sizeof *all, by_score);
    for (int i = 0; i < k; i++)
        top[i] = all[i].r;
    return now_s() - t0;
}

/* Seconds of one user's search each, for n users, into t[]; 0 when a search fails or
 * a user gets fewer than k results. */
static int time_single(const float *items, int V, int d, const float *users, int n, int k,
                       int threads, double *t)
{
    fr_topk h;
    fr_err err = {{0}};
    int ok = fr_topk_init(&h, k, &err) == FR_OK;
    for (int i = 0; ok && i < n; i++) {
        fr_topk_reset(&h, -INFINITY);
        double t0 = now_s();
        ok =
            fr_topk_search(items, V, d, users + (size_t)i * d, 1, NULL, threads, &h, &err) == FR_OK;
        fr_topk_sort(&h);
        t[i] = now_s() - t0;
        ok = ok && h.n == k;
    }
    if (!ok)
        fprintf(stderr, "recall_bench: search failed: %s\n", err.msg);
    fr_topk_free(&h);
    return ok;
}

/* Seconds of one search for all n users at once (the heaps sorted too); -1 on failure. */
static double time_batch(const float *items, int V, int d, const float *users, int n, int k,
                         int threads)
{
    fr_topk *h = calloc((size_t)n, sizeof *h);
    fr_err err = {{0}};
    double t = -1.0;
    int made = 0;
    for (; h && made < n; made++)
        if (fr_topk_init(&h[made], k, &err) != FR_OK)
            goto out;
    if (!h)
        goto out;
    double t0 = now_s();
    if (fr_topk_search(items, V, d, users, n, NULL, threads, h, &err) != FR_OK)
        goto out;
    for (int i = 0; i < n; i++)
        fr_topk_sort(&h[i]);
    t = now_s() - t0;
out:
    if (t < 0)
        fprintf(stderr, "recall_bench: batch failed: %s\n", err.msg);
    for (int i = 0; i < made; i++)
        fr_topk_free(&h[i]);
    free(h);
    return t;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi)
        return 0;
    *out = (int)v;
    return 1;
}

int main(int argc, char **argv)
{
    int threads = 1, d = 64, k = 100, batch_users = 1024, quick = 0;
    for (int i = 1; i < argc; i++) {
        int ok = 1;
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (i + 1 < argc && !strcmp(argv[i], "--threads"))
            ok = parse_int(argv[++i], 1, 1024, &threads);
        else if (i + 1 < argc && !strcmp(argv[i], "--dim"))
            ok = parse_int(argv[++i], 1, 4096, &d);
        else if (i + 1 < argc && !strcmp(argv[i], "--k"))
            ok = parse_int(argv[++i], 1, 100000, &k);
        else if (i + 1 < argc && !strcmp(argv[i], "--users"))
            ok = parse_int(argv[++i], 1, 1 << 20, &batch_users);
        else
            ok = 0;
        if (!ok) {
            fprintf(stderr, "usage: recall_bench [--threads N] [--dim D] [--k K] [--users N] "
                            "[--quick]\n");
            return 2;
        }
    }
    openblas_set_num_threads(1); /* the search splits work over its own threads */
    omp_set_num_threads(threads);
    int v_small = 100000 + 1, v_large = 1000000 + 1; /* + the padding row */
    int n_single = quick ? 50 : 400, n_large = quick ? 5 : 30, n_naive = quick ? 5 : 30;
    int n_users = batch_users > n_single ? batch_users : n_single, rc = 1;
    fr_rng rng;
    fr_rng_seed(&rng, 7);
    double sink = 0.0;
    size_t large_bytes = (size_t)(v_large - 1) * d * sizeof(float);
    double copy_bps = copy_rate(large_bytes); /* before the catalogue takes the memory */

    float *items = xalloc((size_t)v_large * d * sizeof(float));
    float *users = xalloc((size_t)n_users * d * sizeof(float));
    double *t = xalloc(sizeof(double) * (size_t)(n_single + n_large + n_naive));
    float *scores = xalloc(sizeof(float) * (size_t)v_small);
    scored *all = xalloc(sizeof(scored) * (size_t)v_small);
    int32_t *top = xalloc(sizeof(int32_t) * (size_t)k);
    if (copy_bps < 0 || !items || !users || !t || !scores || !all || !top)
        goto out;
    fill(items, (size_t)v_large * d, &rng);
    memset(items, 0, (size_t)d * sizeof(float));
    fill(users, (size_t)n_users * d, &rng);
    double read_bps = read_rate(items + d, (size_t)(v_large - 1) * d, &sink);

    /* one user, 100k items */
    if (!time_single(items, v_small, d, users, n_single, k, threads, t))
        goto out;
    double single_ms = 1e3 * median(t, n_single);
    double single_p90 = 1e3 * t[(int)(0.9 * (n_single - 1))];

    /* one user, 1M items, against the floor */
    if (!time_single(items, v_large, d, users, n_large, k, threads, t))
        goto out;
    double large_ms = 1e3 * median(t, n_large);
    double floor_ms = 1e3 * (double)large_bytes / copy_bps;
    double read_floor_ms = 1e3 * (double)large_bytes / read_bps;

    /* the naive baseline on 100k items */
    for (int i = 0; i < n_naive; i++)
        t[i] = naive_one(items, v_small, d, users + (size_t)i * d, k, scores, all, top);
    double naive_ms = 1e3 * median(t, n_naive);
    sink += top[0];

    /* batch: many users per product, against the plain products and the square sgemm;
     * the three alternate and each keeps its best of 5, so that a moment of load on
     * a shared machine does not weigh on one of them alone */
    double flops = 2.0 * batch_users * (double)(v_small - 1) * d;
    double batch_s = INFINITY, prod_s = INFINITY, square_gf = 0.0;
    for (int rep = 0; rep < 5; rep++) {
        double b = time_batch(items, v_small, d, users, batch_users, k, threads);
        double p = product_only(items, v_small, d, users, batch_users);
        double g = sgemm_rate(1024, 1024, 1024, &rng);
        if (b < 0 || p < 0 || g < 0)
            goto out;
        batch_s = b < batch_s ? b : batch_s;
        prod_s = p < prod_s ? p : prod_s;
        square_gf = g > square_gf ? g : square_gf;
    }
    double batch_gf = flops / batch_s / 1e9, prod_gf = flops / prod_s / 1e9;

    printf("| measure (d = %d, K = %d, %d thread%s) | figure | reference | ratio |\n", d, k,
           threads, threads > 1 ? "s" : "");
    printf("|---|---|---|---|\n");
    printf("| one user, 100k items, median of %d | %.3f ms (p90 %.3f) | target 5 ms | %.2f |\n",
           n_single, single_ms, single_p90, single_ms / 5.0);
    printf("| naive: score all, qsort all, 100k items | %.3f ms | heap: %.3f ms | %.1fx slower |\n",
           naive_ms, single_ms, naive_ms / single_ms);
    printf("| one user, 1M items, median of %d | %.2f ms | copy floor %.2f ms (%.1f GB/s) | "
           "%.2fx |\n",
           n_large, large_ms, floor_ms, copy_bps / 1e9, large_ms / floor_ms);
    printf("| | | read floor %.2f ms (%.1f GB/s) | %.2fx |\n", read_floor_ms, read_bps / 1e9,
           large_ms / read_floor_ms);
    printf("| batch %d users x 100k items | %.1f GFLOP/s (%.1f ms) | sgemm 1024^3: %.1f GFLOP/s "
           "| %.0f%% |\n",
           batch_users, batch_gf, 1e3 * batch_s, square_gf, 100.0 * batch_gf / square_gf);
    printf("| | | same products, no selection: %.1f GFLOP/s | %.0f%% |\n", prod_gf,
           100.0 * batch_gf / prod_gf);
    printf("{\"threads\": %d, \"dim\": %d, \"k\": %d, \"single_100k_ms\": %.4f, "
           "\"single_100k_p90_ms\": %.4f, \"naive_100k_ms\": %.4f, \"single_1m_ms\": %.3f, "
           "\"copy_gbps\": %.2f, \"copy_floor_1m_ms\": %.3f, \"floor_ratio\": %.3f, "
           "\"read_gbps\": %.2f, \"read_floor_1m_ms\": %.3f, \"batch_users\": %d, "
           "\"batch_ms\": %.2f, \"batch_gflops\": %.2f, \"product_only_gflops\": %.2f, "
           "\"sgemm_1024_gflops\": %.2f, \"batch_vs_sgemm\": %.3f, \"batch_vs_product\": %.3f}\n",
           threads, d, k, single_ms, single_p90, naive_ms, large_ms, copy_bps / 1e9, floor_ms,
           large_ms / floor_ms, read_bps / 1e9, read_floor_ms, batch_users, 1e3 * batch_s, batch_gf,
           prod_gf, square_gf, batch_gf / square_gf, batch_gf / prod_gf);
    if (sink == 12345.678) /* keeps the read loop's sums alive */
        fprintf(stderr, "%g\n", sink);
    rc = 0;
out:
    free(items);
    free(users);
    free(t);
    free(scores);
    free(all);
    free(top);
    return rc;
}
