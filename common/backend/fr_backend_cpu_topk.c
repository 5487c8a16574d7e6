/* The CPU backend's recall selection (see fr_backend.h, topk_rows): a heap of the k
 * best (score, column) pairs per row, in the order of fr_topk.h. */
#include <math.h>
#include <stdint.h>

#include "backend/fr_backend_cpu_int.h"

/* Pair a is better than pair b: a higher score, or an equal one at a lower column. */
static inline int tk_better(float sa, int32_t ca, float sb, int32_t cb)
{
    return sa > sb || (sa == sb && ca < cb);
}

static inline void tk_swap(float *s, int32_t *c, int a, int b)
{
    float ts = s[a];
    int32_t tc = c[a];
    s[a] = s[b], c[a] = c[b];
    s[b] = ts, c[b] = tc;
}

/* The k slots of a row's output hold a heap with the worst pair on top, so the
 * selection needs no memory of its own. */
static void tk_sift_down(float *s, int32_t *c, int i, int n)
{
    for (;;) {
        int w = i, l = 2 * i + 1, r = l + 1;
        if (l < n && tk_better(s[w], c[w], s[l], c[l]))
            w = l;
        if (r < n && tk_better(s[w], c[w], s[r], c[r]))
            w = r;
        if (w == i)
            return;
        tk_swap(s, c, i, w);
        i = w;
    }
}

static void tk_sift_up(float *s, int32_t *c, int i)
{
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!tk_better(s[p], c[p], s[i], c[i]))
            return;
        tk_swap(s, c, i, p);
        i = p;
    }
}

void fr_cpu_topk_rows(int32_t *rows, float *out, float *scores, int n, int v, int k, float floor,
                      const int32_t *excl_off, const int32_t *excl)
{
    for (int i = 0; i < n; i++) {
        const float *s = scores + (size_t)i * v;
        float *hs = out + (size_t)i * k;
        int32_t *hc = rows + (size_t)i * k;
        long e = excl ? excl_off[i] : 0, e_end = excl ? excl_off[i + 1] : 0;
        int h = 0;
        for (int32_t col = 1; col < v; col++) {
            while (e < e_end && excl[e] < col)
                e++;
            if (e < e_end && excl[e] == col)
                continue;
            float x = s[col];
            if (!(x > floor))
                continue;
            if (h < k) {
                hs[h] = x, hc[h] = col;
                tk_sift_up(hs, hc, h++);
            } else if (tk_better(x, col, hs[0], hc[0])) {
                hs[0] = x, hc[0] = col;
                tk_sift_down(hs, hc, 0, h);
            }
        }
        /* heap sort: the worst goes last each time, leaving the best first */
        for (int end = h - 1; end > 0; end--) {
            tk_swap(hs, hc, 0, end);
            tk_sift_down(hs, hc, 0, end);
        }
        for (int j = h; j < k; j++)
            hs[j] = -INFINITY, hc[j] = -1;
    }
}
