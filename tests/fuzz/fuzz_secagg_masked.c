/* libFuzzer target: a node's masked input as the coordinator reads it
 * (fr_secagg_masked_decode), the largest secure-aggregation message.
 *
 * Input layout: one byte gives n as in fr_fuzz_secagg.h, two bytes (little-endian) the
 * round's vector length m = 1 + value, then the body. Each body is decoded against
 * that (n, m) and against (255, 16), so that vectors of the round's length and of other
 * lengths are both tried. A vector that decodes is exactly 4m bytes inside the body,
 * every byte of it is read, and the message decodes to the same values once encoded
 * again; a body that does not decode gets a format or version status and a message. */
#include <stdlib.h>

#include "fr_fuzz_secagg.h"

#define FIXED_M 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(const uint8_t *body, size_t len, int n, uint32_t m_expect)
{
    fr_secagg_masked_msg m, again;
    fr_err err = {{0}};
    fr_status st = fr_secagg_masked_decode(body, len, n, m_expect, &m, &err);
    if (st != FR_OK) {
        need_refusal(st, &err);
        return;
    }
    need_id(m.from, n);
    need(m.m == m_expect, "a vector of the round's length");
    need_inside(m.y, 4 * (size_t)m.m, body, len);
    uint32_t *vals = malloc(4 * (size_t)m.m);
    need(vals != NULL, "memory for the values");
    for (uint32_t i = 0; i < m.m; i++) {
        const uint8_t *b = m.y + 4 * (size_t)i;
        vals[i] =
            (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    }
    fr_secagg_masked_msg out = {.round = m.round, .from = m.from, .m = m.m, .values = vals};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_secagg_masked_encode(&out, &sb);
    need(fr_secagg_masked_decode(sb.data, sb.size, n, m_expect, &again, &err) == FR_OK,
         "re-encoded masked input decodes");
    need(again.round == m.round && again.from == m.from && again.m == m.m &&
             !memcmp(again.y, m.y, 4 * (size_t)m.m),
         "masked input survives a round trip");
    msgpack_sbuffer_destroy(&sb);
    free(vals);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    uint32_t m = 1 + ((uint32_t)data[1] | (uint32_t)data[2] << 8);
    one(data + 3, size - 3, fuzz_secagg_n(data[0]), m);
    one(data + 3, size - 3, FR_SECAGG_MAX_NODES, FIXED_M);
    return 0;
}
