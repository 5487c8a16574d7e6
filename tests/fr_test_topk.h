/* Heaps for the top-K tests: n empty heaps of capacity k with a floor, and their
 * release. Allocation failure aborts the test binary. */
#ifndef FR_TEST_TOPK_H
#define FR_TEST_TOPK_H

#include <stdlib.h>

#include "recall/fr_topk.h"

static inline void heaps(fr_topk *h, int n, int k, float floor)
{
    fr_err err;
    for (int i = 0; i < n; i++) {
        if (fr_topk_init(&h[i], k, &err) != FR_OK)
            abort();
        fr_topk_reset(&h[i], floor);
    }
}

static inline void heaps_free(fr_topk *h, int n)
{
    for (int i = 0; i < n; i++)
        fr_topk_free(&h[i]);
}

#endif
