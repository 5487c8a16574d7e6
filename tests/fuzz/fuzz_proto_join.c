/* libFuzzer target: the join body a node posts to the coordinator
 * (fr_proto_join_decode). The input is the HTTP body. A body that decodes must hold
 * every field in its range and decode to the same message once encoded again, so
 * that the coordinator never keeps a value that it could not send back; one that
 * does not must fail with a format or version status and a message. */
#include <math.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fed/fr_proto.h"
#include "fr_fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A string field: ended within its buffer, no control bytes. */
static void need_name(const char *s, size_t cap)
{
    const char *end = memchr(s, 0, cap);
    need(end != NULL, "string ended within its buffer");
    for (const char *p = s; p < end; p++)
        need((unsigned char)*p >= 0x20 && *p != 0x7f, "no control bytes");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fr_proto_join m, again;
    fr_err err = {{0}};
    fr_status st = fr_proto_join_decode(data, size, &m, &err);
    if (st != FR_OK) {
        need_refusal(st, &err);
        return 0;
    }
    need(m.has_data >= 0 && m.has_data <= 1 && m.model_version >= 0, "flags and counts in range");
    need(isfinite(m.eps_spent) && m.eps_spent >= 0 && isfinite(m.eps_budget) && m.eps_budget >= 0,
         "privacy figures in range");
    need_name(m.software, sizeof m.software);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_proto_join_encode(&m, &sb);
    need(fr_proto_join_decode(sb.data, sb.size, &again, &err) == FR_OK, "re-encoded join decodes");
    /* byte strings point into their own bodies: compare their bytes, then the rest */
    fr_proto_bin *a[] = {&m.id_pk, &m.id_cert, &m.id_sig};
    fr_proto_bin *b[] = {&again.id_pk, &again.id_cert, &again.id_sig};
    for (int i = 0; i < 3; i++) {
        need(a[i]->len == b[i]->len && (!a[i]->len || !memcmp(a[i]->p, b[i]->p, a[i]->len)),
             "identity bytes survive a round trip");
        need(a[i]->len <= FR_PROTO_MAX_CERT, "identity bytes bounded");
        *a[i] = *b[i] = (fr_proto_bin){0};
    }
    need(!memcmp(&m, &again, sizeof m), "join survives a round trip");
    msgpack_sbuffer_destroy(&sb);
    return 0;
}
