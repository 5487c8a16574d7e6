/* libFuzzer target: a survivor's unmask response as the coordinator reads it
 * (fr_secagg_unmask_resp_decode). Layout and checks: fr_fuzz_secagg.h; each share is of
 * kind 1 (b) or 2 (s_sk). */
#include <stdlib.h>

#include "fr_fuzz_secagg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(const uint8_t *body, size_t len, int n)
{
    fr_secagg_unmask_resp_msg *m = malloc(sizeof *m), *again = malloc(sizeof *again);
    need(m && again, "memory for two responses");
    fr_err err = {{0}};
    fr_status st = fr_secagg_unmask_resp_decode(body, len, n, m, &err);
    if (st != FR_OK) {
        need_refusal(st, &err);
        goto out;
    }
    need_id(m->from, n);
    need_list(m->count, n, &m->e[0].peer, sizeof m->e[0]);
    for (int i = 0; i < m->count; i++) {
        need(m->e[i].kind == FR_SECAGG_SHARE_B || m->e[i].kind == FR_SECAGG_SHARE_SK,
             "a share is of kind 1 or 2");
        need_inside(m->e[i].share, FR_SECAGG_SECRET_BYTES, body, len);
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_secagg_unmask_resp_encode(m, &sb);
    need(fr_secagg_unmask_resp_decode(sb.data, sb.size, n, again, &err) == FR_OK,
         "re-encoded response decodes");
    need(again->round == m->round && again->from == m->from && again->count == m->count,
         "response head survives a round trip");
    for (int i = 0; i < m->count; i++)
        need(again->e[i].peer == m->e[i].peer && again->e[i].kind == m->e[i].kind &&
                 !memcmp(again->e[i].share, m->e[i].share, FR_SECAGG_SECRET_BYTES),
             "shares survive a round trip");
    msgpack_sbuffer_destroy(&sb);
out:
    free(m);
    free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FUZZ_SECAGG_BOTH(data, size, one);
    return 0;
}
