/* Top-K selection for recall: a bounded min-heap of (score, row) pairs, and the
 * blocked scoring of user vectors against a catalogue of item vectors that feeds it.
 *
 * Order: one pair is better than another when its score is higher, or when the scores
 * are equal and its row is lower. This is a total order over distinct rows, so the K
 * pairs a heap keeps are exactly the first K of a full sort by (score descending, row
 * ascending), whatever order the pairs arrive in. A NaN score never enters. The heap
 * holds each pair as one 64-bit key in that order, so a level costs one integer
 * compare.
 *
 * Memory: a heap holds K pairs; scoring holds one block of scores per thread, never a
 * row of scores for the whole catalogue, and never sorts it. */
#ifndef FR_TOPK_H
#define FR_TOPK_H

#include <stdint.h>
#include <string.h>

#include "util/fr_status.h"

/* Item rows per block and user vectors per chunk: one sgemm scores a chunk against a
 * block, and its scores (1 MiB) stay in the cache while the heaps read them. A
 * chunk of 256 users packs each block of items once for 256 users (with 32, packing
 * took an eighth of the time). */
#define FR_TOPK_BLOCK 1024
#define FR_TOPK_USERS 256
/* Item rows per block when one user is scored alone (one sgemv): fewer calls; with
 * 1024 a search was 15-25% slower. */
#define FR_TOPK_BLOCK_ONE 4096

/* A pair as one unsigned key whose order is the pairs' order: the score's bits made
 * monotonic in the high half (-0 counted as +0, as the floats compare), the row
 * inverted in the low half so that the lower row is the larger key. One integer
 * compare per heap level instead of a branchy two-field one. */
static inline uint64_t fr_topk_key(float score, int32_t row)
{
    uint32_t u;
    score += 0.0f; /* -0 -> +0 */
    memcpy(&u, &score, sizeof u);
    u ^= (0u - (u >> 31)) | 0x80000000u; /* negative: all bits; else the sign */
    return (uint64_t)u << 32 | (uint32_t) ~((uint32_t)row ^ 0x80000000u);
}

static inline float fr_topk_key_score(uint64_t key)
{
    uint32_t u = (uint32_t)(key >> 32);
    u = u & 0x80000000u ? u & 0x7fffffffu : ~u;
    float s;
    memcpy(&s, &u, sizeof s);
    return s;
}

static inline int32_t fr_topk_key_row(uint64_t key)
{
    return (int32_t)(~(uint32_t)key ^ 0x80000000u);
}

typedef struct fr_topk {
    int cap;       /* K, >= 1 */
    int n;         /* pairs held */
    float floor;   /* only scores strictly above it enter */
    float bar;     /* the floor while filling, then the worst score held */
    uint64_t *key; /* cap: the pairs held as order-preserving keys, a min-heap */
    float *score;  /* cap: written by fr_topk_sort, best first */
    int32_t *row;  /* cap: likewise */
} fr_topk;

FR_MUST fr_status fr_topk_init(fr_topk *h, int k, fr_err *err);
void fr_topk_free(fr_topk *h);

/* Empty the heap and set its floor: -INFINITY keeps the best K finite scores, a
 * threshold S keeps at most K pairs scoring strictly above S. */
void fr_topk_reset(fr_topk *h, float floor);

/* Offer one pair; returns 1 when it was kept (it may be displaced later). */
int fr_topk_push(fr_topk *h, float score, int32_t row);

/* The score a pair must exceed to enter. When rows are offered in ascending order this
 * test alone is exact: every pair held has a lower row, so an equal score loses. */
static inline float fr_topk_bar(const fr_topk *h)
{
    return h->bar;
}

/* Write the held pairs to score[0..n) and row[0..n), best first. The heap order is
 * spent: fr_topk_reset before the next use. */
void fr_topk_sort(fr_topk *h);

/* Rows one user must not get back (the items already seen): ascending, repeats
 * allowed. */
typedef struct fr_topk_excl {
    const int32_t *rows;
    long n;
} fr_topk_excl;

/* Whether row is in e (binary search); a NULL e holds nothing. */
int fr_topk_excl_has(const fr_topk_excl *e, int32_t row);

/* Offer the scores s[0..nb) of rows r0 .. r0+nb-1 to h, skipping the rows of excl
 * (may be NULL; their scores in s are overwritten): the scan fr_topk_search runs on
 * each block it scores, for scorers of their own. */
void fr_topk_offer_block(fr_topk *h, float *s, int r0, int nb, const fr_topk_excl *excl);

/* For each of n user vectors users (n, dim), keep the best pairs (score = inner
 * product) over item rows 1..num_items-1 of items (num_items, dim) in tops[i]; row 0
 * (padding) is never scored. The tops must be empty (fr_topk_reset: their cap and
 * floor apply). excl may be NULL; else the rows of excl[i] never enter tops[i]. Each
 * block of items is scored by one sgemm per chunk of users, or one sgemv for a user
 * alone, then scanned: 64 scores are compared with the heap's bar at once and only
 * those above it are offered. threads > 1 splits the users over OpenMP threads, or
 * the item blocks when there are fewer users than threads (per-thread heaps, then
 * merged); the kept rows do not depend on the split except through float rounding of
 * the products. OpenBLAS must run single-threaded (as the CPU backend sets it). */
FR_MUST fr_status fr_topk_search(const float *items, int num_items, int dim, const float *users,
                                 int n, const fr_topk_excl *excl, int threads, fr_topk *tops,
                                 fr_err *err);

#endif
