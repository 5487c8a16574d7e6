/* libFuzzer target: the coordinator's list of advertisements as a node reads it
 * (fr_secagg_adverts_decode). Layout and checks: fr_fuzz_secagg.h. */
#include <stdlib.h>

#include "fr_fuzz_secagg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(const uint8_t *body, size_t len, int n)
{
    fr_secagg_adverts_msg *m = malloc(sizeof *m), *again = malloc(sizeof *again);
    need(m && again, "memory for two advert lists");
    fr_err err = {{0}};
    fr_status st = fr_secagg_adverts_decode(body, len, n, m, &err);
    if (st != FR_OK) {
        need_refusal(st, &err);
        goto out;
    }
    need_list(m->count, n, &m->e[0].id, sizeof m->e[0]);
    for (int i = 0; i < m->count; i++) {
        need_inside(m->e[i].c_pk, FR_SECAGG_KEY_BYTES, body, len);
        need_inside(m->e[i].s_pk, FR_SECAGG_KEY_BYTES, body, len);
        need_inside(m->e[i].sig, FR_SECAGG_SIG_BYTES, body, len);
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_secagg_adverts_encode(m, &sb);
    need(fr_secagg_adverts_decode(sb.data, sb.size, n, again, &err) == FR_OK,
         "re-encoded advert list decodes");
    need(again->round == m->round && again->count == m->count, "advert list head survives");
    for (int i = 0; i < m->count; i++)
        need(again->e[i].id == m->e[i].id &&
                 !memcmp(again->e[i].c_pk, m->e[i].c_pk, FR_SECAGG_KEY_BYTES) &&
                 !memcmp(again->e[i].s_pk, m->e[i].s_pk, FR_SECAGG_KEY_BYTES) &&
                 !memcmp(again->e[i].sig, m->e[i].sig, FR_SECAGG_SIG_BYTES),
             "advert list entries survive a round trip");
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
