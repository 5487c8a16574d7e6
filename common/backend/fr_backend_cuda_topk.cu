/* Recall's selection on the device (topk_rows of fr_backend.h): one block per row of
 * scores. A full sort of a 100,000-column row per user would move the row through
 * memory about 17 times; instead the block finds the k-th best score by a radix
 * select (four passes, one byte of the score's order-preserving key each, counted in
 * a shared histogram), gathers the pairs above it and the lowest columns equal to it,
 * and sorts only those k pairs (bitonic, in a workspace row). The pairs chosen and
 * their order are exactly the CPU reference's: ties at the k-th score go to the lower
 * columns, as fr_topk.h orders pairs. */
#include <math.h>

#include "backend/fr_backend_cuda_int.h"

#define TK_THREADS 512

/* The score's bits made monotonic (-0 counted as +0); 0 is never an eligible key. */
__device__ static inline uint32_t tk_key(float s)
{
    uint32_t u = __float_as_uint(s + 0.0f);
    return u ^ ((uint32_t)((int32_t)u >> 31) | 0x80000000u);
}

__device__ static inline float tk_score(uint32_t key)
{
    uint32_t u = key & 0x80000000u ? key & 0x7fffffffu : ~key;
    return __uint_as_float(u);
}

/* Eligible: a real column scoring strictly above the floor (NaN, including the
 * excluded columns marked as NaN, never is). */
__device__ static inline uint32_t tk_eligible_key(const float *s, int col, float floor)
{
    float x = s[col];
    return col >= 1 && x > floor ? tk_key(x) : 0u;
}

/* Exclusive prefix sum of one flag per thread over the block; the total in *total. */
__device__ static int tk_block_scan(int flag, int *warp_sums, int *total)
{
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    unsigned ballot = __ballot_sync(0xffffffffu, flag);
    int in_warp = __popc(ballot & ((1u << lane) - 1u));
    if (lane == 0)
        warp_sums[warp] = __popc(ballot);
    __syncthreads();
    if (threadIdx.x == 0) {
        int run = 0;
        for (int w = 0; w < nwarps; w++) {
            int c = warp_sums[w];
            warp_sums[w] = run;
            run += c;
        }
        *total = run;
    }
    __syncthreads();
    int r = warp_sums[warp] + in_warp;
    __syncthreads(); /* warp_sums is reused by the next call */
    return r;
}

__global__ void k_topk_rows(int32_t *rows, float *out, float *scores, int n, int v, int k,
                            float floor, const int32_t *excl_off, const int32_t *excl,
                            unsigned long long *ws, int p2)
{
    __shared__ unsigned hist[256];
    __shared__ int warp_sums[32];
    __shared__ uint32_t s_prefix;
    __shared__ int s_need, s_all, s_pos, s_total;
    for (int i = blockIdx.x; i < n; i += gridDim.x) {
        float *s = scores + (size_t)i * v;
        unsigned long long *w = ws + (size_t)i * p2;
        if (excl)
            for (int e = excl_off[i] + threadIdx.x; e < excl_off[i + 1]; e += blockDim.x) {
                int32_t c = excl[e];
                if (c >= 0 && c < v)
                    s[c] = NAN;
            }
        if (threadIdx.x == 0) {
            s_prefix = 0;
            s_need = k;
            s_all = 0;
            s_pos = 0;
        }
        __syncthreads();
        /* The k-th best key, a byte at a time from the top: after the last pass
         * s_prefix is that key and s_need how many of the keys equal to it to take. */
        uint32_t mask = 0;
        for (int shift = 24; shift >= 0; shift -= 8) {
            for (int b = threadIdx.x; b < 256; b += blockDim.x)
                hist[b] = 0;
            __syncthreads();
            uint32_t prefix = s_prefix;
            /* Scores of one row sit close together, so most keys fall in a few buckets:
             * the lanes of a warp that share a bucket add to it once, through their
             * lowest lane (the loop runs whole warps, so every lane takes part). */
            for (int c0 = 0; c0 < v; c0 += blockDim.x) {
                int c = c0 + threadIdx.x;
                uint32_t key = c < v ? tk_eligible_key(s, c, floor) : 0u;
                unsigned bucket = key && (key & mask) == prefix ? (key >> shift) & 255u : 256u;
                unsigned peers = __match_any_sync(0xffffffffu, bucket);
                if (bucket < 256u && (int)(threadIdx.x & 31) == __ffs(peers) - 1)
                    atomicAdd(&hist[bucket], (unsigned)__popc(peers));
            }
            __syncthreads();
            if (threadIdx.x == 0) {
                int need = s_need, b = 255;
                unsigned cum = 0;
                for (; b >= 0; b--) {
                    if (cum + hist[b] >= (unsigned)need)
                        break;
                    cum += hist[b];
                }
                if (b < 0) /* fewer eligible than k (only possible on the first pass) */
                    s_all = 1;
                else {
                    s_prefix = prefix | (uint32_t)b << shift;
                    s_need = need - (int)cum;
                }
            }
            __syncthreads();
            if (s_all)
                break;
            mask |= 255u << shift;
        }
        /* Everything above the k-th key (or every eligible pair), in any order... */
        uint32_t kth = s_all ? 0u : s_prefix;
        for (int c = threadIdx.x; c < v; c += blockDim.x) {
            uint32_t key = tk_eligible_key(s, c, floor);
            if (key > kth) {
                int at = atomicAdd(&s_pos, 1);
                w[at] = (unsigned long long)key << 32 | (uint32_t)~c;
            }
        }
        __syncthreads();
        /* ...then the keys equal to it in column order, as many as still needed. */
        if (!s_all) {
            int base = s_pos, need = s_need, taken = 0;
            for (int c0 = 0; c0 < v && taken < need; c0 += blockDim.x) {
                int c = c0 + threadIdx.x;
                int flag = c < v && tk_eligible_key(s, c, floor) == kth;
                int r = tk_block_scan(flag, warp_sums, &s_total);
                if (flag && taken + r < need)
                    w[base + taken + r] = (unsigned long long)kth << 32 | (uint32_t)~c;
                taken += s_total; /* the same in every thread: the loop stays uniform */
            }
            if (threadIdx.x == 0)
                s_pos = base + need;
        }
        __syncthreads();
        int found = s_pos;
        for (int j = found + threadIdx.x; j < p2; j += blockDim.x)
            w[j] = 0;
        __syncthreads();
        /* bitonic sort, descending: the best pair first */
        for (int size = 2; size <= p2; size <<= 1)
            for (int stride = size >> 1; stride > 0; stride >>= 1) {
                for (int j = threadIdx.x; j < p2; j += blockDim.x) {
                    int partner = j ^ stride;
                    if (partner > j) {
                        unsigned long long a = w[j], b = w[partner];
                        int desc = (j & size) == 0;
                        if (desc ? a < b : a > b) {
                            w[j] = b;
                            w[partner] = a;
                        }
                    }
                }
                __syncthreads();
            }
        for (int j = threadIdx.x; j < k; j += blockDim.x) {
            unsigned long long key = j < found ? w[j] : 0;
            rows[(size_t)i * k + j] = key ? (int32_t) ~(uint32_t)key : -1;
            out[(size_t)i * k + j] = key ? tk_score((uint32_t)(key >> 32)) : -INFINITY;
        }
        __syncthreads();
    }
}

void fr_cu_topk_rows(int32_t *rows, float *out, float *scores, int n, int v, int k, float floor,
                     const int32_t *excl_off, const int32_t *excl)
{
    if (n <= 0 || k <= 0)
        return;
    int p2 = 1;
    while (p2 < k)
        p2 <<= 1;
    fr_cu_ws_lock();
    unsigned long long *ws =
        (unsigned long long *)fr_cu_ws((size_t)n * p2 * sizeof(unsigned long long));
    unsigned grid = (unsigned)(n < 65535 ? n : 65535);
    k_topk_rows<<<grid, TK_THREADS, 0, fr_cu_stream>>>(rows, out, scores, n, v, k, floor, excl_off,
                                                       excl, ws, p2);
    FR_CU_LAUNCHED();
    fr_cu_ws_unlock();
}
