/* What the CUDA tests share (test_cuda_ops.c, test_cuda_model.c): the two backends, a
 * random stream, device buffers filled with NaN before an op runs (so an entry the op
 * forgets to write fails, and a NaN or infinity never passes a comparison), and errors
 * relative to the largest magnitude of the reference output. */
#ifndef FR_TEST_CUDA_H
#define FR_TEST_CUDA_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fr_test.h"
#include "backend/fr_backend.h"
#include "backend/fr_backend_select.h"
#include "util/fr_rng.h"

static const fr_backend *cpu, *gpu;
static fr_rng rng;

static inline float *rand_host(size_t n, float lo, float hi)
{
    float *x = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * (float)fr_rng_uniform(&rng);
    return x;
}

static inline float *copy_host(const float *x, size_t n)
{
    float *y = malloc((n ? n : 1) * sizeof(float));
    memcpy(y, x, n * sizeof(float));
    return y;
}

/* Device copy of host x (n floats, or bytes when it is an index array). */
static inline void *dev_bytes(const void *x, size_t bytes)
{
    void *d = gpu->alloc(bytes);
    FR_ASSERT(d);
    gpu->upload(d, x, bytes);
    return d;
}
static inline float *dev(const float *x, size_t n)
{
    return dev_bytes(x, n * sizeof(float));
}

/* A device buffer of n NaNs: the op must overwrite every entry. */
static inline float *dev_nan(size_t n)
{
    float *h = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++)
        h[i] = NAN;
    float *d = dev(h, n);
    free(h);
    return d;
}

static inline float *down(const float *d, size_t n)
{
    float *h = malloc((n ? n : 1) * sizeof(float));
    gpu->download(h, d, n * sizeof(float));
    return h;
}

/* max |ref - got| / max |ref|; infinite when got has a NaN or infinity. */
static inline double rel_err(const float *ref, const float *got, size_t n)
{
    double worst = 0.0, scale = 1e-30;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i]) || !isfinite(ref[i]))
            return INFINITY;
        worst = fmax(worst, fabs((double)ref[i] - got[i]));
        scale = fmax(scale, fabs((double)ref[i]));
    }
    return worst / scale;
}

/* Compares host ref with device buffer d, then frees d. */
#define EXPECT_CLOSE(what, ref, d, n, tol)                                                         \
    do {                                                                                           \
        float *got_ = down(d, n);                                                                  \
        double e_ = rel_err(ref, got_, n);                                                         \
        CHECK(e_ <= (tol), "%s: relative error %g > %g", what, e_, (double)(tol));                 \
        free(got_);                                                                                \
        gpu->free(d);                                                                              \
    } while (0)

/* Both backends and the random stream; 0, after saying why, when there is no usable
 * GPU (or the build lacks the backend): the binary then reports zero cases. */
static inline int cuda_test_open(const char *name)
{
    fr_err err = {{0}};
    cpu = fr_backend_cpu();
    cpu->set_threads(2);
    if (fr_backend_select("cuda", &gpu, &err) != FR_OK) {
        printf("%s: skipped: %s\n", name, err.msg);
        return 0;
    }
    fr_rng_seed(&rng, 2024);
    return 1;
}

#endif
