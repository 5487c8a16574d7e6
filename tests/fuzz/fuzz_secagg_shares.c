/* libFuzzer target: a node's share ciphertexts as the coordinator reads them
 * (fr_secagg_shares_decode). Layout and checks: fr_fuzz_secagg.h. */
#include <stdlib.h>

#include "fr_fuzz_secagg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(const uint8_t *body, size_t len, int n)
{
    fr_secagg_shares_msg *m = malloc(sizeof *m), *again = malloc(sizeof *again);
    need(m && again, "memory for two messages");
    fr_err err = {{0}};
    fr_status st = fr_secagg_shares_decode(body, len, n, m, &err);
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
    fr_secagg_shares_encode(m, &sb);
    need(fr_secagg_shares_decode(sb.data, sb.size, n, again, &err) == FR_OK,
         "re-encoded message decodes");
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FUZZ_SECAGG_BOTH(data, size, one);
    return 0;
}
