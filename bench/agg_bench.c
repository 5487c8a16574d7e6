/* Speed of the coordinator's aggregation of updates, against the machine's own limits.
 * U update bodies of n parameters each (msgpack, as a node sends them: the head, then
 * n little-endian float32) are each taken the way the coordinator takes an accepted
 * update: fr_proto_update_decode, fr_agg_check_le (finite, L2 bound), fr_agg_add_le.
 *   full     decode + check + add over the U bodies, in MB of update bodies per second;
 *   check    fr_agg_check_le alone (one read of each delta);
 *   add      decode + fr_agg_add_le alone (a read of each delta, the double sum updated);
 *   copy     memcpy of the same U bodies into U other buffers (bytes copied per second);
 *   read     a plain vectorised sum over the U bodies (bytes read per second);
 *   apply    one server step over the n parameters (fedavg, fedadam);
 *   durable  with --dir, writing each body as the coordinator keeps an accepted update
 *            before it answers (fr_file_write_atomic: a temporary file, fsync, rename,
 *            fsync of the folder).
 * Every figure is the median of --repeats runs. Prints a Markdown table, then one JSON
 * line. Usage: agg_bench [--params N] [--updates U] [--repeats R] [--dir DIR] */
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fed/fr_fedagg.h"
#include "util/fr_file.h"
#include "fed/fr_proto.h"
#include "util/fr_rng.h"

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

typedef float v16 __attribute__((vector_size(64)));

/* A plain sum over len bytes (four running vector sums), the rate of a pure scan. */
static double scan(const uint8_t *p, size_t len)
{
    v16 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0}, a, b, c, d;
    size_t i = 0;
    for (; i + 256 <= len; i += 256) {
        memcpy(&a, p + i, sizeof a);
        memcpy(&b, p + i + 64, sizeof b);
        memcpy(&c, p + i + 128, sizeof c);
        memcpy(&d, p + i + 192, sizeof d);
        s0 += a;
        s1 += b;
        s2 += c;
        s3 += d;
    }
    v16 s = (s0 + s1) + (s2 + s3);
    double t = 0;
    for (int j = 0; j < 16; j++)
        t += s[j];
    return t;
}

static void usage(void)
{
    fprintf(stderr, "usage: agg_bench [--params N] [--updates U] [--repeats R] [--dir DIR]\n");
}

int main(int argc, char **argv)
{
    /* the ml-latest-small model at the benchmark configuration (init-model, d = 64) */
    long n = 927168, updates = 20, repeats = 7;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 < argc && !strcmp(a, "--params"))
            n = atol(argv[++i]);
        else if (i + 1 < argc && !strcmp(a, "--updates"))
            updates = atol(argv[++i]);
        else if (i + 1 < argc && !strcmp(a, "--repeats"))
            repeats = atol(argv[++i]);
        else if (i + 1 < argc && !strcmp(a, "--dir"))
            dir = argv[++i];
        else {
            usage();
            return 2;
        }
    }
    if (n < 64 || updates < 1 || repeats < 1 || repeats > 101) {
        usage();
        return 2;
    }
    fr_err err = {{0}};
    fr_rng rng;
    fr_rng_seed(&rng, 1);
    /* the bodies, each in its own allocation as the server's buffers are */
    uint8_t **body = calloc((size_t)updates, sizeof *body);
    uint8_t **copy = calloc((size_t)updates, sizeof *copy);
    size_t len = 0;
    float *delta = malloc((size_t)n * sizeof(float));
    if (!body || !copy || !delta) {
        fprintf(stderr, "agg_bench: out of memory\n");
        return 1;
    }
    for (long u = 0; u < updates; u++) {
        for (long i = 0; i < n; i++)
            delta[i] = (float)(2e-3 * fr_rng_uniform(&rng) - 1e-3);
        fr_proto_update m = {.round = 1,
                             .model_version = 0,
                             .users = 200 + u,
                             .windows = 700,
                             .weight = 200.0 + (double)u,
                             .loss = 4.5,
                             .n = (uint64_t)n};
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        fr_proto_update_head_encode(&m, &sb);
        len = sb.size + (size_t)n * 4;
        body[u] = malloc(len);
        copy[u] = malloc(len);
        if (!body[u] || !copy[u]) {
            fprintf(stderr, "agg_bench: out of memory for %ld bodies of %zu bytes\n", updates, len);
            return 1;
        }
        memcpy(body[u], sb.data, sb.size);
        memcpy(body[u] + sb.size, delta, (size_t)n * 4); /* little-endian hosts */
        memset(copy[u], 0, len);
        msgpack_sbuffer_destroy(&sb);
    }
    free(delta);
    fr_agg agg;
    fr_server_opt opt;
    float *params = calloc((size_t)n, sizeof(float));
    if (!params || fr_agg_init(&agg, (size_t)n, &err) != FR_OK ||
        fr_server_opt_init(&opt, (size_t)n, &err) != FR_OK) {
        fprintf(stderr, "agg_bench: %s\n", err.msg[0] ? err.msg : "out of memory");
        return 1;
    }
    double *t_full = calloc((size_t)repeats, sizeof(double));
    double *t_check = calloc((size_t)repeats, sizeof(double));
    double *t_add = calloc((size_t)repeats, sizeof(double));
    double *t_copy = calloc((size_t)repeats, sizeof(double));
    double *t_read = calloc((size_t)repeats, sizeof(double));
    double *t_avg = calloc((size_t)repeats, sizeof(double));
    double *t_adam = calloc((size_t)repeats, sizeof(double));
    double *t_dur = calloc((size_t)repeats, sizeof(double));
    if (!t_full || !t_check || !t_add || !t_copy || !t_read || !t_avg || !t_adam || !t_dur) {
        fprintf(stderr, "agg_bench: out of memory\n");
        return 1;
    }
    double sink = 0;
    fr_agg_config avg = fr_agg_config_default(), adam = avg;
    adam.kind = FR_AGG_FEDADAM;
    adam.server_lr = 0.01;
    /* one untimed pass of each, so that every page has been touched */
    for (long u = 0; u < updates; u++) {
        fr_proto_update m;
        if (fr_proto_update_decode(body[u], len, (uint64_t)n, &m, &err) != FR_OK) {
            fprintf(stderr, "agg_bench: %s\n", err.msg);
            return 1;
        }
        fr_agg_add_le(&agg, m.delta, m.weight);
        memcpy(copy[u], body[u], len);
    }
    for (long r = 0; r < repeats; r++) {
        /* the order alternates the measures so that load from other work hits all alike */
        fr_agg_reset(&agg);
        double t0 = now_s();
        for (long u = 0; u < updates; u++) {
            fr_proto_update m;
            double norm = 0;
            if (fr_proto_update_decode(body[u], len, (uint64_t)n, &m, &err) != FR_OK ||
                fr_agg_check_le(m.delta, (size_t)n, 100.0, &norm, &err) != FR_OK) {
                fprintf(stderr, "agg_bench: %s\n", err.msg);
                return 1;
            }
            fr_agg_add_le(&agg, m.delta, m.weight);
            sink += norm;
        }
        t_full[r] = now_s() - t0;

        t0 = now_s();
        for (long u = 0; u < updates; u++)
            memcpy(copy[u], body[u], len);
        t_copy[r] = now_s() - t0;
        sink += copy[r % updates][len - 1 - (size_t)r];

        t0 = now_s();
        for (long u = 0; u < updates; u++) {
            double norm = 0;
            if (fr_agg_check_le(body[u] + (len - (size_t)n * 4), (size_t)n, 100.0, &norm, &err) !=
                FR_OK) {
                fprintf(stderr, "agg_bench: %s\n", err.msg);
                return 1;
            }
            sink += norm;
        }
        t_check[r] = now_s() - t0;

        fr_agg_reset(&agg);
        t0 = now_s();
        for (long u = 0; u < updates; u++) {
            fr_proto_update m;
            if (fr_proto_update_decode(body[u], len, (uint64_t)n, &m, &err) != FR_OK) {
                fprintf(stderr, "agg_bench: %s\n", err.msg);
                return 1;
            }
            fr_agg_add_le(&agg, m.delta, m.weight);
        }
        t_add[r] = now_s() - t0;

        t0 = now_s();
        for (long u = 0; u < updates; u++) /* the delta: finite floats to add up */
            sink += scan(body[u] + (len - (size_t)n * 4), (size_t)n * 4);
        t_read[r] = now_s() - t0;

        t0 = now_s();
        if (fr_agg_apply(&agg, &avg, &opt, params, &err) != FR_OK) {
            fprintf(stderr, "agg_bench: %s\n", err.msg);
            return 1;
        }
        t_avg[r] = now_s() - t0;
        t0 = now_s();
        if (fr_agg_apply(&agg, &adam, &opt, params, &err) != FR_OK) {
            fprintf(stderr, "agg_bench: %s\n", err.msg);
            return 1;
        }
        t_adam[r] = now_s() - t0;

        if (dir) {
            /* the coordinator keeps one update per node per round; three, as in a
             * round of three nodes, are enough to see the rate */
            long k = updates < 3 ? updates : 3;
            t0 = now_s();
            for (long u = 0; u < k; u++) {
                char path[4096];
                snprintf(path, sizeof path, "%s/n%ld.update", dir, u);
                if (fr_file_write_atomic(path, body[u], len, 0600, &err) != FR_OK) {
                    fprintf(stderr, "agg_bench: %s\n", err.msg);
                    return 1;
                }
            }
            t_dur[r] = (now_s() - t0) / (double)k;
            for (long u = 0; u < k; u++) {
                char path[4096];
                snprintf(path, sizeof path, "%s/n%ld.update", dir, u);
                unlink(path);
            }
        }
    }
    double bytes = (double)updates * (double)len;
    double full = median(t_full, (int)repeats), cp = median(t_copy, (int)repeats);
    double chk = median(t_check, (int)repeats), add = median(t_add, (int)repeats);
    double rd = median(t_read, (int)repeats), ap = median(t_avg, (int)repeats);
    double ad = median(t_adam, (int)repeats), du = dir ? median(t_dur, (int)repeats) : -1;
    double mb_full = bytes / full / 1e6, mb_copy = bytes / cp / 1e6, mb_read = bytes / rd / 1e6;
    printf("%ld updates of %ld parameters (%zu bytes each), median of %ld runs\n\n", updates, n,
           len, repeats);
    printf("| measure | time per update | rate | against copy |\n|---|---|---|---|\n");
    printf("| decode + check + add (the coordinator's path) | %.2f ms | **%.0f MB/s** | "
           "**%.2fx** copy time |\n",
           1e3 * full / updates, mb_full, full / cp);
    printf("| check alone (finite, L2 norm) | %.2f ms | %.0f MB/s | %.2fx |\n", 1e3 * chk / updates,
           bytes / chk / 1e6, chk / cp);
    printf("| decode + add alone (double sum) | %.2f ms | %.0f MB/s | %.2fx |\n",
           1e3 * add / updates, bytes / add / 1e6, add / cp);
    printf("| memcpy of the same bodies (floor) | %.2f ms | %.0f MB/s | 1 |\n", 1e3 * cp / updates,
           mb_copy);
    printf("| plain read of the same bodies | %.2f ms | %.0f MB/s | %.2fx |\n", 1e3 * rd / updates,
           mb_read, rd / cp);
    printf("| server step, fedavg (once per round) | %.2f ms | | |\n", 1e3 * ap);
    printf("| server step, fedadam (once per round) | %.2f ms | | |\n", 1e3 * ad);
    if (dir)
        printf("| durable write of an update (fsync, rename) | %.2f ms | %.0f MB/s | %.2fx |\n",
               1e3 * du, (double)len / du / 1e6, du / (cp / updates));
    printf("\n{\"params\": %ld, \"updates\": %ld, \"body_bytes\": %zu, \"repeats\": %ld, "
           "\"full_mb_s\": %.1f, \"check_mb_s\": %.1f, \"add_mb_s\": %.1f, \"copy_mb_s\": %.1f, "
           "\"read_mb_s\": %.1f, \"full_over_copy\": %.3f, \"fedavg_step_s\": %.6f, "
           "\"fedadam_step_s\": %.6f, \"durable_write_s\": %.6f, \"sink\": %.3g}\n",
           n, updates, len, repeats, mb_full, bytes / chk / 1e6, bytes / add / 1e6, mb_copy,
           mb_read, full / cp, ap, ad, du, sink);
    for (long u = 0; u < updates; u++) {
        free(body[u]);
        free(copy[u]);
    }
    free(body);
    free(copy);
    free(params);
    free(t_full);
    free(t_check);
    free(t_add);
    free(t_copy);
    free(t_read);
    free(t_avg);
    free(t_adam);
    free(t_dur);
    fr_agg_free(&agg);
    fr_server_opt_free(&opt);
    return 0;
}
