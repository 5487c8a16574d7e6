/* libFuzzer target: the round's task, as a node reads it (fr_proto_task_decode). The
 * input is the HTTP body. A task that decodes drives the node's training loop, so
 * every size in it must lie in the range the node can allocate for, and it must
 * decode to the same task once encoded again; a body that does not decode must fail
 * with a format or version status and a message. */
#include <math.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fed/fr_proto.h"
#include "fr_fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fr_proto_task m, again;
    fr_err err = {{0}};
    fr_status st = fr_proto_task_decode(data, size, &m, &err);
    if (st != FR_OK) {
        need_refusal(st, &err);
        return 0;
    }
    need(m.state >= FR_TASK_WAIT && m.state <= FR_TASK_DONE, "state is known");
    need(m.round >= 0 && m.model_version >= 0, "round and version are not negative");
    need(m.batch >= 1 && m.batch <= 1 << 20 && m.seq_len >= 1 && m.seq_len <= 65536 &&
             m.negatives >= 1 && m.negatives <= 1 << 20,
         "training sizes in range");
    need(m.local_epochs >= 0 && m.local_epochs <= 100000 && m.retry_s >= 0 && m.retry_s <= 86400,
         "epochs and retry in range");
    need(in(m.deadline_s, 0, 1e9) && in(m.lr, 0, 1e3) && in(m.max_update_norm, 0, 1e12),
         "floats finite and in range");
    const char *end = memchr(m.weighting, 0, sizeof m.weighting);
    need(end != NULL, "weighting ended within its buffer");
    for (const char *p = m.weighting; p < end; p++)
        need((unsigned char)*p >= 0x20 && *p != 0x7f, "no control bytes in weighting");
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_proto_task_encode(&m, &sb);
    need(fr_proto_task_decode(sb.data, sb.size, &again, &err) == FR_OK, "re-encoded task decodes");
    need(!memcmp(&m, &again, sizeof m), "task survives a round trip");
    msgpack_sbuffer_destroy(&sb);
    return 0;
}
