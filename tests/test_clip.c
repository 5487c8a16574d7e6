/* L2 clipping (common/privacy/fr_clip.c): the norm returned is the one before
 * clipping, a vector over the bound comes out at the bound in the same direction, one
 * within it (or with no bound) is left bit for bit, and the scale is the one the
 * inline clips used: (float)(bound / norm). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fr_test.h"
#include "privacy/fr_clip.h"

static void test_norm(void)
{
    float v[] = {3, 4};
    CHECK(fr_l2_norm(v, 2) == 5.0, "norm %g", fr_l2_norm(v, 2));
    CHECK(fr_l2_norm(v, 0) == 0.0, "empty");
    /* summed in double: no float overflow on large coordinates */
    float big[] = {3e20f, 4e20f};
    CHECK(fr_rel_err(fr_l2_norm(big, 2), 5e20) < 1e-7, "norm %g", fr_l2_norm(big, 2));
}

static void test_clip_over_bound(void)
{
    enum { N = 1001 };
    float v[N], w[N];
    uint32_t x = 12345;
    for (int i = 0; i < N; i++) {
        x = x * 1664525u + 1013904223u;
        v[i] = (float)((double)(x >> 8) / (1 << 24) - 0.5);
    }
    memcpy(w, v, sizeof v);
    double before = fr_l2_norm(v, N);
    double bound = before / 3;
    double norm = fr_clip_l2(v, N, bound);
    CHECK(norm == before, "returns the norm before: %.17g vs %.17g", norm, before);
    double after = fr_l2_norm(v, N);
    CHECK(fabs(after - bound) <= 1e-6 * bound, "clipped to %.9g, bound %.9g", after, bound);
    float s = (float)(bound / before);
    int same = 1;
    for (int i = 0; i < N; i++)
        same &= v[i] == w[i] * s;
    CHECK(same, "each coordinate scaled by (float)(bound / norm)");
}

static void test_within_bound_untouched(void)
{
    float v[] = {0.1f, -0.2f, 0.3f}, w[3];
    memcpy(w, v, sizeof v);
    double norm = fr_clip_l2(v, 3, 10.0);
    CHECK(fr_rel_err(norm, sqrt(0.14)) < 1e-7, "norm %g", norm);
    CHECK(!memcmp(v, w, sizeof v), "within the bound: untouched");
    norm = fr_clip_l2(v, 3, 0.0);
    CHECK(!memcmp(v, w, sizeof v), "no bound: untouched");
    /* exactly at the bound is within it */
    float u[] = {3, 4};
    CHECK(fr_clip_l2(u, 2, 5.0) == 5.0 && u[0] == 3 && u[1] == 4, "at the bound");
}

static void test_scale(void)
{
    CHECK(fr_clip_scale(2.0, 1.0) == 0.5f, "half");
    CHECK(fr_clip_scale(0.5, 1.0) == 1.0f, "within");
    CHECK(fr_clip_scale(7.0, 0.0) == 1.0f, "no bound");
    CHECK(fr_clip_scale(3.0, 1.0) == (float)(1.0 / 3.0), "float of the double ratio");
}

int main(void)
{
    RUN(test_norm);
    RUN(test_clip_over_bound);
    RUN(test_within_bound_untouched);
    RUN(test_scale);
    return fr_test_end();
}
