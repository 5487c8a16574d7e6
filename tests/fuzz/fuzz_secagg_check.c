/* libFuzzer target: the consistency check's two messages, the coordinator's U3 as a
 * node reads it (fr_secagg_check_req_decode) and a node's signature over it as the
 * coordinator reads it (fr_secagg_check_decode), both from the same body. Layout and
 * checks: fr_fuzz_secagg.h. */
#include "fr_fuzz_secagg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(const uint8_t *body, size_t len, int n)
{
    fr_secagg_check_req_msg r, r2;
    fr_secagg_check_msg c, c2;
    fr_err err = {{0}};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_status st = fr_secagg_check_req_decode(body, len, n, &r, &err);
    if (st != FR_OK) {
        need_refusal(st, &err);
    } else {
        need(r.n_survivors >= 0 && r.n_survivors <= n, "U3 holds at most n nodes");
        for (int i = 0; i < r.n_survivors; i++) {
            need_id(r.survivors[i], n);
            need(i == 0 || r.survivors[i] > r.survivors[i - 1], "U3's ids strictly increase");
        }
        fr_secagg_check_req_encode(&r, &sb);
        need(fr_secagg_check_req_decode(sb.data, sb.size, n, &r2, &err) == FR_OK &&
                 r2.round == r.round && r2.n_survivors == r.n_survivors &&
                 !memcmp(r2.survivors, r.survivors, (size_t)r.n_survivors),
             "U3 survives a round trip");
    }
    st = fr_secagg_check_decode(body, len, n, &c, &err);
    if (st != FR_OK) {
        need_refusal(st, &err);
    } else {
        need_id(c.from, n);
        need_inside(c.sig, FR_SECAGG_SIG_BYTES, body, len);
        msgpack_sbuffer_clear(&sb);
        fr_secagg_check_encode(&c, &sb);
        need(fr_secagg_check_decode(sb.data, sb.size, n, &c2, &err) == FR_OK &&
                 c2.round == c.round && c2.from == c.from &&
                 !memcmp(c2.sig, c.sig, FR_SECAGG_SIG_BYTES),
             "a signature message survives a round trip");
    }
    msgpack_sbuffer_destroy(&sb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FUZZ_SECAGG_BOTH(data, size, one);
    return 0;
}
