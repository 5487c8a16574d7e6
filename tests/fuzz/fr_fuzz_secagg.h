/* Shared by the secure-aggregation decoder fuzz targets (fuzz_secagg_*): the input
 * layout and the checks every decoded message must pass.
 *
 * Input layout: one byte gives the round's node count n = 2 + byte % 254 (the range
 * fr_secagg_params_check allows), the rest is the body. Each target decodes the body
 * against that n and against the largest n, 255, so that lists of every length are
 * tried whatever the fuzzer makes of the first byte. A body that decodes must hold ids
 * in 1..n, lists in strictly increasing id order (so no node twice) of at most n
 * entries, byte fields of their exact length inside the body, and decode to the same
 * fields once encoded again; one that does not must get a format or version status
 * and a message. */
#ifndef FR_FUZZ_SECAGG_H
#define FR_FUZZ_SECAGG_H

#include <msgpack.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "fr_fuzz_check.h"
#include "secagg/fr_secagg.h"

static inline int fuzz_secagg_n(uint8_t b)
{
    return 2 + b % 254;
}

/* k bytes at p lie inside the body, and every one can be read (ASan watches). */
static inline void need_inside(const uint8_t *p, size_t k, const void *body, size_t len)
{
    const uint8_t *b = body;
    need(p != NULL && p >= b && (size_t)(p - b) <= len && len - (size_t)(p - b) >= k,
         "a byte field lies inside the body");
    volatile uint8_t x = 0;
    for (size_t i = 0; i < k; i++)
        x ^= p[i];
    (void)x;
}

static inline void need_id(int id, int n)
{
    need(id >= 1 && id <= n, "an id is in 1..n");
}

/* ids[0..count) in 1..n and strictly increasing. */
static inline void need_list(int count, int n, const int *ids, size_t stride)
{
    need(count >= 0 && count <= n, "a list holds at most n entries");
    int prev = 0;
    for (int i = 0; i < count; i++) {
        int id = *(const int *)((const uint8_t *)ids + (size_t)i * stride);
        need_id(id, n);
        need(id > prev, "a list's ids strictly increase");
        prev = id;
    }
}

/* Refused, or else checked by ok(); for both node counts of the layout above. */
#define FUZZ_SECAGG_BOTH(data, size, one)                                                          \
    do {                                                                                           \
        if ((size) < 1)                                                                            \
            return 0;                                                                              \
        one((data) + 1, (size)-1, fuzz_secagg_n((data)[0]));                                       \
        one((data) + 1, (size)-1, FR_SECAGG_MAX_NODES);                                            \
    } while (0)

/* The share ciphertexts, which both directions carry (a node's upload, the
 * coordinator's relay): decode, check, encode again and decode the same fields. */
typedef fr_status (*fuzz_shares_decode_fn)(const void *buf, size_t len, int n,
                                           fr_secagg_shares_msg *m, fr_err *err);
typedef void (*fuzz_shares_encode_fn)(const fr_secagg_shares_msg *m, msgpack_sbuffer *sb);

static inline void fuzz_shares_msg(const uint8_t *body, size_t len, int n,
                                   fuzz_shares_decode_fn decode, fuzz_shares_encode_fn encode)
{
    fr_secagg_shares_msg *m = malloc(sizeof *m), *again = malloc(sizeof *again);
    need(m && again, "memory for two messages");
    fr_err err = {{0}};
    fr_status st = decode(body, len, n, m, &err);
    if (st != FR_OK) {
        need_refusal(st, &err);
        goto out;
    }
    need_id(m->node, n);
    need_list(m->count, n, &m->e[0].peer, sizeof m->e[0]);
    for (int i = 0; i < m->count; i++)
        need_inside(m->e[i].ct, FR_SECAGG_CT_BYTES, body, len);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    encode(m, &sb);
    need(decode(sb.data, sb.size, n, again, &err) == FR_OK, "re-encoded message decodes");
    need(again->round == m->round && again->node == m->node && again->count == m->count,
         "message head survives a round trip");
    for (int i = 0; i < m->count; i++)
        need(again->e[i].peer == m->e[i].peer &&
                 !memcmp(again->e[i].ct, m->e[i].ct, FR_SECAGG_CT_BYTES),
             "ciphertexts survive a round trip");
    msgpack_sbuffer_destroy(&sb);
out:
    free(m);
    free(again);
}

#endif
