/* The recall server's catalogue scan alone (docs/benchmarks.md, "Recall service"): the
 * packed float scan (fr_topk_search_packed) against the 8-bit scan with its exact
 * re-rank (fr_topk_q8_search), top-K over a catalogue of random item vectors that share
 * a common part (as a model's do), for batches of 1, 16 and 64 users on one thread.
 * The two alternate, best of --repeats each, so that load from other work on a shared
 * machine hits both alike. Also prints the 8-bit scan's recall@K against the float
 * scan over the batch of 64.
 *
 *   build/bench/scan_bench [--items N] [--dim D] [--k K] [--repeats R] [--portable]
 *
 * --portable runs the int8 scan on its plain C kernel, as on a CPU without AVX-512 VNNI
 * (the float scan keeps the kernel the build chose). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/fr_rng.h"
#include "recall/fr_topk_packed.h"
#include "recall/fr_topk_q8.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

/* One search of n users by the float scan (q8 NULL) or the 8-bit one; seconds, or -1. */
static double search(const fr_topk_packed *p, const fr_topk_q8 *q, const float *items,
                     const float *users, int n, fr_topk *tops)
{
    fr_err err = {{0}};
    for (int i = 0; i < n; i++)
        fr_topk_reset(&tops[i], -INFINITY);
    double t0 = now_s();
    fr_status st = q ? fr_topk_q8_search(q, items, users, n, NULL, 0, tops, &err)
                     : fr_topk_search_packed(p, users, n, NULL, 1, tops, &err);
    double t = now_s() - t0;
    if (st != FR_OK) {
        fprintf(stderr, "scan_bench: search failed: %s\n", err.msg);
        return -1.0;
    }
    return t;
}

int main(int argc, char **argv)
{
    int V = 100000, d = 64, k = 100, repeats = 20, rc = 1, portable = 0;
    for (int i = 1; i < argc; i++) {
        int bad = i + 1 >= argc;
        if (strcmp(argv[i], "--portable") == 0)
            bad = 0, portable = 1;
        else if (!bad && strcmp(argv[i], "--items") == 0)
            bad = parse_int(argv[++i], 1, 10000000, &V);
        else if (!bad && strcmp(argv[i], "--dim") == 0)
            bad = parse_int(argv[++i], 1, 4096, &d);
        else if (!bad && strcmp(argv[i], "--k") == 0)
            bad = parse_int(argv[++i], 1, 10000, &k);
        else if (!bad && strcmp(argv[i], "--repeats") == 0)
            bad = parse_int(argv[++i], 1, 10000, &repeats);
        else
            bad = 1;
        if (bad) {
            fprintf(stderr, "usage: scan_bench [--items N] [--dim D] [--k K] [--repeats R] "
                            "[--portable]\n");
            return 2;
        }
    }
    enum { MAXN = 64 };
    const int batches[3] = {1, 16, MAXN};
    int rows = V + 1; /* row 0 is the padding row */
    fr_rng rng;
    fr_rng_seed(&rng, 11);
    float *items = calloc((size_t)rows * d, sizeof *items);
    float *users = malloc((size_t)MAXN * d * sizeof *users);
    float *mean = malloc((size_t)d * sizeof *mean);
    fr_topk tops[MAXN] = {{0}}, ref[MAXN] = {{0}};
    fr_topk_packed p = {0};
    fr_topk_q8 q = {0};
    fr_err err = {{0}};
    if (!items || !users || !mean) {
        fprintf(stderr, "scan_bench: out of memory\n");
        goto out;
    }
    for (int j = 0; j < d; j++)
        mean[j] = (float)fr_rng_normal(&rng);
    for (int r = 1; r < rows; r++) /* the common part twice the spread, as in init-model's */
        for (int j = 0; j < d; j++)
            items[(size_t)r * d + j] = 2.0f * mean[j] + (float)fr_rng_normal(&rng);
    for (int i = 0; i < MAXN * d; i++)
        users[i] = (float)fr_rng_normal(&rng);
    if (fr_topk_pack(&p, items, rows, d, &err) != FR_OK ||
        fr_topk_q8_build(&q, items, rows, d, &err) != FR_OK) {
        fprintf(stderr, "scan_bench: %s\n", err.msg);
        goto out;
    }
    for (int i = 0; i < MAXN; i++)
        if (fr_topk_init(&tops[i], k, &err) != FR_OK || fr_topk_init(&ref[i], k, &err) != FR_OK) {
            fprintf(stderr, "scan_bench: %s\n", err.msg);
            goto out;
        }
    if (portable)
        fr_topk_q8_use_kernel(FR_Q8_PORTABLE);
    printf("scan: %d items, d = %d, K = %d, one thread, best of %d; int8 kernel: %s\n", V, d, k,
           repeats, portable ? "portable C" : fr_topk_q8_kernel_name());
    printf("| users a batch | float scan | int8 scan + re-rank | float / int8 |\n");
    printf("|---|---|---|---|\n");
    for (int b = 0; b < 3; b++) {
        int n = batches[b];
        double best[2] = {INFINITY, INFINITY};
        for (int r = 0; r < repeats; r++)
            for (int m = 0; m < 2; m++) {
                double t = search(&p, m ? &q : NULL, items, users, n, tops);
                if (t < 0)
                    goto out;
                best[m] = t < best[m] ? t : best[m];
            }
        printf("| %d | %.3f ms (%.1f us a user) | %.3f ms (%.1f us a user) | %.2fx |\n", n,
               best[0] * 1e3, best[0] * 1e6 / n, best[1] * 1e3, best[1] * 1e6 / n,
               best[0] / best[1]);
    }
    /* recall@K of the 8-bit scan against the float one, over the batch of 64 */
    if (search(&p, NULL, items, users, MAXN, ref) < 0 ||
        search(&p, &q, items, users, MAXN, tops) < 0)
        goto out;
    double hit = 0.0;
    for (int i = 0; i < MAXN; i++) {
        fr_topk_sort(&ref[i]);
        fr_topk_sort(&tops[i]);
        for (int a = 0; a < ref[i].n; a++)
            for (int c = 0; c < tops[i].n; c++)
                hit += ref[i].row[a] == tops[i].row[c];
    }
    printf("int8 scan recall@%d against the float scan: %.4f (%d users)\n", k,
           hit / ((double)MAXN * k), MAXN);
    rc = 0;
out:
    for (int i = 0; i < MAXN; i++) {
        fr_topk_free(&tops[i]);
        fr_topk_free(&ref[i]);
    }
    fr_topk_packed_free(&p);
    fr_topk_q8_free(&q);
    free(items);
    free(users);
    free(mean);
    return rc;
}
