/* L2 clipping (see fr_clip.h). */
#include "privacy/fr_clip.h"

#include <math.h>

double fr_l2_norm(const float *v, size_t n)
{
    double sq = 0;
    for (size_t i = 0; i < n; i++)
        sq += (double)v[i] * v[i];
    return sqrt(sq);
}

float fr_clip_scale(double norm, double bound)
{
    return bound > 0 && norm > bound ? (float)(bound / norm) : 1.0f;
}

double fr_clip_l2(float *v, size_t n, double bound)
{
    double norm = fr_l2_norm(v, n);
    if (bound > 0 && norm > bound) {
        float s = fr_clip_scale(norm, bound);
        for (size_t i = 0; i < n; i++)
            v[i] *= s;
    }
    return norm;
}
