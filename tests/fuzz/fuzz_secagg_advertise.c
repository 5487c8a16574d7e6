/* libFuzzer target: a node's key advertisement as the coordinator reads it
 * (fr_secagg_advertise_decode). Layout and checks: fr_fuzz_secagg.h. */
#include "fr_fuzz_secagg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(const uint8_t *body, size_t len, int n)
{
    fr_secagg_advertise_msg m, again;
    fr_err err = {{0}};
    fr_status st = fr_secagg_advertise_decode(body, len, n, &m, &err);
    if (st != FR_OK) {
        need_refusal(st, &err);
        return;
    }
    need_id(m.a.id, n);
    need_inside(m.a.setup, FR_SECAGG_HASH_BYTES, body, len);
    need_inside(m.a.c_pk, FR_SECAGG_KEY_BYTES, body, len);
    need_inside(m.a.s_pk, FR_SECAGG_KEY_BYTES, body, len);
    need_inside(m.a.sig, FR_SECAGG_SIG_BYTES, body, len);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_secagg_advertise_encode(&m, &sb);
    need(fr_secagg_advertise_decode(sb.data, sb.size, n, &again, &err) == FR_OK,
         "re-encoded advertisement decodes");
    need(again.round == m.round && again.a.id == m.a.id &&
             !memcmp(again.a.setup, m.a.setup, FR_SECAGG_HASH_BYTES) &&
             !memcmp(again.a.c_pk, m.a.c_pk, FR_SECAGG_KEY_BYTES) &&
             !memcmp(again.a.s_pk, m.a.s_pk, FR_SECAGG_KEY_BYTES) &&
             !memcmp(again.a.sig, m.a.sig, FR_SECAGG_SIG_BYTES),
         "advertisement survives a round trip");
    msgpack_sbuffer_destroy(&sb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FUZZ_SECAGG_BOTH(data, size, one);
    return 0;
}
