/* Vectorisable exp, sigmoid and tanh for the CPU backend's element-wise loops.
 * glibc's scalar expf/tanhf were a fifth of a training epoch; these inline versions
 * let the compiler vectorise the GRU and softmax loops. exp is the classic range
 * reduction x = n ln2 + r with a degree-6 polynomial for e^r (relative error about
 * 2e-7 over the float range); NaN propagates, large inputs saturate to inf / 0. */
#ifndef FR_FASTMATH_H
#define FR_FASTMATH_H

#include <stdint.h>
#include <string.h>

static inline float fr_expf(float x)
{
    x = x > 88.3f ? 88.3f : x;
    x = x < -87.3f ? -87.3f : x;
    /* Adding 1.5 * 2^23 rounds x log2(e) to an integer held in the low mantissa bits,
     * from which 2^n is built without a float-to-int conversion. */
    const float shifter = 12582912.0f;
    float t = x * 1.44269504088896341f + shifter;
    float n = t - shifter;
    uint32_t tb, sb;
    memcpy(&tb, &t, 4);
    memcpy(&sb, &shifter, 4);
    uint32_t eb = (tb - sb + 127u) << 23;
    float scale;
    memcpy(&scale, &eb, 4);
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    return (p * r * r + r + 1.0f) * scale;
}

static inline float fr_sigmoidf(float x)
{
    return 1.0f / (1.0f + fr_expf(-x));
}

static inline float fr_tanhf(float x)
{
    return 2.0f / (1.0f + fr_expf(-2.0f * x)) - 1.0f;
}

#endif
