/* The rate of DP-SGD's noise on one host thread: nanoseconds per normal drawn by
 * fr_dp_rng_normals_at, over 40 chunks of 65,536 (the DP step's chunk), the best of 7
 * repeats. Prints one JSON object. Usage: noise_rate. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "privacy/fr_dp_rng.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(void)
{
    enum { CHUNK = 65536, CHUNKS = 40 };
    fr_dp_rng r;
    fr_err err = {{0}};
    if (fr_dp_rng_init(&r, "noise rate", 10, &err) != FR_OK) {
        fprintf(stderr, "noise_rate: %s\n", err.msg);
        return 1;
    }
    float *out = malloc(sizeof(float) * (size_t)CHUNK * CHUNKS);
    if (!out) {
        fprintf(stderr, "noise_rate: out of memory\n");
        fr_dp_rng_free(&r);
        return 1;
    }
    double best = 1e30, sum = 0.0;
    for (int rep = 0; rep < 7; rep++) {
        double t0 = now_s();
        for (int c = 0; c < CHUNKS; c++)
            fr_dp_rng_normals_at(&r, (uint64_t)c, out + (size_t)c * CHUNK, CHUNK, 1.0);
        double t = now_s() - t0;
        best = t < best ? t : best;
    }
    for (size_t i = 0; i < (size_t)CHUNK * CHUNKS; i++) /* the values are used */
        sum += (double)out[i] * out[i];
    printf("{\"ns_per_normal\": %.2f, \"normals\": %d, \"mean_square\": %.4f}\n",
           best / ((double)CHUNK * CHUNKS) * 1e9, CHUNK * CHUNKS, sum / ((double)CHUNK * CHUNKS));
    free(out);
    fr_dp_rng_free(&r);
    return 0;
}
