/* The rate of the CPU backend's tap products (DP-SGD's token layers, one user's share)
 * on one host thread: microseconds per user of 740 distinct tokens (the mean of
 * ml-latest-small's batched step at q 0.1), 64 filters (192 taps) and 64 dimensions,
 * a fifth of the tap gradients set as in that step; the best of 7 repeats of 300
 * users. Buffers come from the backend's allocator, aligned as the step's are. Prints
 * one JSON object. Usage: tap_rate. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "backend/fr_backend.h"
#include "util/fr_rng.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(void)
{
    enum { NT = 740, F3 = 192, D = 64, USERS = 300 };
    const fr_backend *be = fr_backend_cpu();
    be->set_threads(1);
    float *gp = be->alloc(sizeof(float) * NT * F3), *wr = be->alloc(sizeof(float) * F3 * D);
    float *x = be->alloc(sizeof(float) * NT * D), *dx = be->alloc(sizeof(float) * NT * D);
    float *dwr = be->alloc(sizeof(float) * F3 * D);
    if (!gp || !wr || !x || !dx || !dwr) {
        fprintf(stderr, "tap_rate: out of memory\n");
        return 1;
    }
    fr_rng r;
    fr_rng_seed(&r, 7);
    for (int i = 0; i < F3 * D; i++)
        wr[i] = (float)fr_rng_uniform(&r) - 0.5f;
    for (int i = 0; i < NT * D; i++)
        x[i] = (float)fr_rng_uniform(&r) - 0.5f;
    int set = 0;
    for (int i = 0; i < NT * F3; i++) {
        int on = fr_rng_uniform(&r) < 0.194; /* the step's measured share */
        gp[i] = on ? (float)fr_rng_uniform(&r) - 0.5f : 0.0f;
        set += on;
    }
    double best = 1e30;
    for (int rep = 0; rep < 7; rep++) {
        double t0 = now_s();
        for (int u = 0; u < USERS; u++)
            be->tap_products(dx, dwr, gp, wr, x, NT, F3, D);
        double t = (now_s() - t0) / USERS;
        best = t < best ? t : best;
    }
    double sum = 0.0; /* the results are used */
    for (int i = 0; i < F3 * D; i++)
        sum += dwr[i];
    for (int i = 0; i < NT * D; i++)
        sum += dx[i];
    printf("{\"us_per_user\": %.1f, \"tokens\": %d, \"taps\": %d, \"dim\": %d, \"set\": %.3f, "
           "\"checksum\": %.4f}\n",
           best * 1e6, NT, F3, D, (double)set / (NT * F3), sum);
    be->free(gp);
    be->free(wr);
    be->free(x);
    be->free(dx);
    be->free(dwr);
    return 0;
}
