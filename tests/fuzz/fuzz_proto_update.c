/* libFuzzer target: a node's model delta as the coordinator reads it
 * (fr_proto_update_decode), the largest body a peer can send.
 *
 * Input layout: four bytes, little-endian, give the model's parameter count that the
 * coordinator would pass as max_n; the rest is the HTTP body. Each body is decoded
 * twice, against that count and against a fixed 64, so that both a delta of the
 * model's size and one of another size are tried whatever the fuzzer makes of the
 * prefix. A delta that decodes must be exactly 4 * max_n bytes lying inside the body,
 * and the message must decode the same once its head is encoded again and the delta
 * appended. A body that does not decode must fail with a status and a message: a
 * format or version error, or, for a well-formed update whose n is not max_n, a size
 * error (FR_EINVAL) that the same body does not get against its own n. */
#include <math.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fed/fr_proto.h"
#include "fr_fuzz_check.h"

#define FIXED_N 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_ok(const fr_proto_update *m, const uint8_t *body, size_t len, uint64_t max_n)
{
    need(m->n == max_n && m->n >= 1, "delta of the model's size");
    need(m->delta >= body && (uint64_t)(m->delta - body) <= len &&
             (uint64_t)(body + len - m->delta) >= m->n * 4,
         "delta inside the body");
    need(m->round >= 1 && m->model_version >= 0 && m->users >= 0 && m->windows >= 0,
         "counts in range");
    need(isfinite(m->weight) && m->weight > 0 && isfinite(m->loss) && m->loss >= 0,
         "weight and loss in range");
    /* Aggregation reads every float: so does this, where ASan watches the reads. */
    volatile uint8_t x = 0;
    for (uint64_t i = 0; i < m->n * 4; i++)
        x ^= m->delta[i];
    (void)x;

    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_proto_update_head_encode(m, &sb);
    size_t again_len = sb.size + (size_t)m->n * 4;
    uint8_t *again_body = malloc(again_len);
    need(again_body != NULL, "memory for the re-encoded update");
    memcpy(again_body, sb.data, sb.size);
    memcpy(again_body + sb.size, m->delta, (size_t)m->n * 4);
    fr_proto_update again;
    fr_err err = {{0}};
    need(fr_proto_update_decode(again_body, again_len, max_n, &again, &err) == FR_OK,
         "re-encoded update decodes");
    need(again.round == m->round && again.model_version == m->model_version &&
             again.users == m->users && again.windows == m->windows &&
             !memcmp(&again.weight, &m->weight, sizeof m->weight) &&
             !memcmp(&again.loss, &m->loss, sizeof m->loss) && again.n == m->n &&
             !memcmp(again.delta, m->delta, (size_t)m->n * 4),
         "update survives a round trip");
    free(again_body);
    msgpack_sbuffer_destroy(&sb);
}

static void one(const uint8_t *body, size_t len, uint64_t max_n)
{
    fr_proto_update m;
    fr_err err = {{0}};
    fr_status st = fr_proto_update_decode(body, len, max_n, &m, &err);
    if (st == FR_OK) {
        check_ok(&m, body, len, max_n);
        return;
    }
    need(st == FR_EFORMAT || st == FR_EVERSION || st == FR_EINVAL,
         "a refusal is a format, version or size error");
    need(err.msg[0] != 0 && memchr(err.msg, 0, sizeof err.msg), "a refusal says why");
    if (st == FR_EINVAL) {
        /* A well-formed update for a model of another size: with its own size as the
         * model's, the same body must not be refused for its size again. */
        uint64_t n = m.n;
        need(n != max_n, "a size refusal only for another size");
        need(fr_proto_update_decode(body, len, n, &m, &err) != FR_EINVAL,
             "a size refusal only for the size");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t max_n = 0;
    if (size < 4)
        return 0;
    for (int i = 0; i < 4; i++)
        max_n |= (uint64_t)data[i] << (8 * i);
    one(data + 4, size - 4, max_n);
    one(data + 4, size - 4, FIXED_N);
    return 0;
}
