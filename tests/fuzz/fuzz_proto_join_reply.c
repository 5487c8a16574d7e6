/* libFuzzer target: the coordinator's answer to a join, as a node reads it
 * (fr_proto_join_reply_decode). The input is the HTTP body. A body that decodes must
 * hold a printable node name and a heartbeat in range and decode to the same message
 * once encoded again; one that does not must fail with a format or version status
 * and a message. */
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
    fr_proto_join_reply m, again;
    fr_err err = {{0}};
    fr_status st = fr_proto_join_reply_decode(data, size, &m, &err);
    if (st != FR_OK) {
        need_refusal(st, &err);
        return 0;
    }
    /* The node logs this name: it must end inside its buffer and print as it is. */
    const char *end = memchr(m.node, 0, sizeof m.node);
    need(end != NULL, "node name ended within its buffer");
    for (const char *p = m.node; p < end; p++)
        need((unsigned char)*p >= 0x20 && *p != 0x7f, "no control bytes in the node name");
    need(m.heartbeat_s >= 1 && m.heartbeat_s <= 86400, "heartbeat in range");
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_proto_join_reply_encode(&m, &sb);
    need(fr_proto_join_reply_decode(sb.data, sb.size, &again, &err) == FR_OK,
         "re-encoded join reply decodes");
    need(!memcmp(&m, &again, sizeof m), "join reply survives a round trip");
    msgpack_sbuffer_destroy(&sb);
    return 0;
}
