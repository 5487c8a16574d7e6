/* The limits of a compute backend, measured through its own table, so that training
 * throughput can be set against them: the matrix-product rate (a square product and
 * the training step's largest one, logits = q (B*L, d) times K negatives), the copy
 * rates between host and device, and the device's memory rate (axpy reads two floats
 * and writes one per element). Prints one JSON object.
 * Usage: device_rate [--device cpu|cuda|auto] [--size N] [--mib M] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/fr_backend_select.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const fr_backend *be;
static float *sync_buf;

/* Waits for every queued op: a download waits for the stream. */
static void sync_device(void)
{
    float x;
    be->download(&x, sync_buf, sizeof x);
}

/* GFLOP/s of C (m,n) = A (m,k) B^T: best of 3 timings of >= 0.2 s each. */
static double gemm_rate(int m, int n, int k)
{
    float *a = be->alloc(sizeof(float) * (size_t)m * k),
          *b = be->alloc(sizeof(float) * (size_t)n * k);
    float *c = be->alloc(sizeof(float) * (size_t)m * n);
    double best = 0;
    if (!a || !b || !c)
        goto out;
    be->gemm(0, 1, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n); /* warm-up */
    sync_device();
    for (int r = 0; r < 3; r++) {
        long reps = 0;
        double t0 = now_s(), t;
        do {
            for (int i = 0; i < 4; i++, reps++)
                be->gemm(0, 1, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
            sync_device();
        } while ((t = now_s() - t0) < 0.2);
        double rate = 2.0 * m * n * k * reps / t / 1e9;
        best = rate > best ? rate : best;
    }
out:
    be->free(a);
    be->free(b);
    be->free(c);
    return best;
}

/* GB/s of host -> device, device -> host and on-device axpy over `bytes`. */
static void copy_rates(size_t bytes, double *up, double *down, double *axpy)
{
    size_t n = bytes / sizeof(float);
    float *h = malloc(bytes), *x = be->alloc(bytes), *y = be->alloc(bytes);
    *up = *down = *axpy = 0;
    if (!h || !x || !y)
        goto out;
    memset(h, 1, bytes);
    for (int r = 0; r < 3; r++) {
        double t0 = now_s();
        be->upload(x, h, bytes);
        double t1 = now_s();
        be->download(h, x, bytes);
        double t2 = now_s();
        for (int i = 0; i < 10; i++)
            be->axpy(y, 0.5f, x, n);
        sync_device();
        double t3 = now_s();
        double u = bytes / (t1 - t0) / 1e9, d = bytes / (t2 - t1) / 1e9;
        double a = 10.0 * 3.0 * bytes / (t3 - t2) / 1e9;
        *up = u > *up ? u : *up;
        *down = d > *down ? d : *down;
        *axpy = a > *axpy ? a : *axpy;
    }
out:
    free(h);
    be->free(x);
    be->free(y);
}

/* A positive int from text, or 0. */
static int positive(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    return *end || v < 1 || v > 1 << 20 ? 0 : (int)v;
}

int main(int argc, char **argv)
{
    const char *device = "auto";
    int size = 0, mib = 0, rc = 1;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--device"))
            device = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--size"))
            size = positive(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--mib"))
            mib = positive(argv[++i]);
        else {
            fprintf(stderr, "usage: device_rate [--device cpu|cuda|auto] [--size N] [--mib M]\n");
            return 2;
        }
    }
    fr_err err = {{0}};
    if (fr_backend_select(device, &be, &err) != FR_OK) {
        fprintf(stderr, "device_rate: %s\n", err.msg);
        return 2;
    }
    be->set_threads(2);
    int gpu = strcmp(be->name, "cpu") != 0;
    if (!size)
        size = gpu ? 8192 : 1024;
    if (!mib)
        mib = gpu ? 1024 : 256;
    sync_buf = be->alloc(sizeof(float));
    if (!sync_buf)
        goto out;
    /* the GPU-sized training step: B*L = 1024*200 positions, K = 1024, d = 256;
     * the CPU's benchmark step: 128*50 positions, K = 128, d = 64 */
    int lm = gpu ? 1024 * 200 : 128 * 50, ln = gpu ? 1024 : 128, lk = gpu ? 256 : 64;
    double sq = gemm_rate(size, size, size), lg = gemm_rate(lm, ln, lk);
    double up, down, axpy;
    copy_rates((size_t)mib << 20, &up, &down, &axpy);
    printf("{\"device\": \"%s\", \"sgemm_gflops\": %.1f, \"sgemm_size\": %d, "
           "\"logits_gemm_gflops\": %.1f, \"logits_shape\": [%d, %d, %d], "
           "\"upload_gbs\": %.2f, \"download_gbs\": %.2f, \"axpy_gbs\": %.1f, \"mib\": %d}\n",
           be->name, sq, size, lg, lm, ln, lk, up, down, axpy, mib);
    rc = 0;
out:
    be->free(sync_buf);
    return rc;
}
