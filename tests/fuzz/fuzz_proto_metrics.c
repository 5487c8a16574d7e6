/* libFuzzer target: the evaluation a node posts to the coordinator
 * (fr_proto_metrics_decode). The input is the HTTP body. The coordinator averages
 * these figures into its report, so one that decodes must be finite and in range
 * and decode to the same message once encoded again; a body that does not decode
 * must fail with a format or version status and a message. */
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
    fr_proto_metrics m, again;
    fr_err err = {{0}};
    fr_status st = fr_proto_metrics_decode(data, size, &m, &err);
    if (st != FR_OK) {
        need_refusal(st, &err);
        return 0;
    }
    need(m.model_version >= 0 && m.users >= 0, "counts are not negative");
    need(in(m.hr10, 0, 1) && in(m.ndcg10, 0, 1) && in(m.recall10, 0, 1), "rates in [0, 1]");
    need(in(m.loss, 0, 1e6) && in(m.eps_spent, 0, 1e12), "loss and privacy in range");
    need(m.clear == 0 || m.clear == 1, "clear is 0 or 1");
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_proto_metrics_encode(&m, &sb);
    need(fr_proto_metrics_decode(sb.data, sb.size, &again, &err) == FR_OK,
         "re-encoded metrics decode");
    need(!memcmp(&m, &again, sizeof m), "metrics survive a round trip");
    msgpack_sbuffer_destroy(&sb);
    return 0;
}
