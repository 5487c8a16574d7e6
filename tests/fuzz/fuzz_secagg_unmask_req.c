/* libFuzzer target: the coordinator's unmask request as a node reads it
 * (fr_secagg_unmask_req_decode). Layout and checks: fr_fuzz_secagg.h; the survivors,
 * the dropped and the signers of U3 are each a list of ids (whether they overlap is the node's
 * check, not the decoder's). */
#include "fr_fuzz_secagg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void need_ids(const uint8_t *ids, int count, int n)
{
    need(count >= 0 && count <= n, "a list holds at most n entries");
    for (int i = 0; i < count; i++) {
        need_id(ids[i], n);
        need(i == 0 || ids[i] > ids[i - 1], "a list's ids strictly increase");
    }
}

static void one(const uint8_t *body, size_t len, int n)
{
    fr_secagg_unmask_req_msg m, again;
    fr_err err = {{0}};
    fr_status st = fr_secagg_unmask_req_decode(body, len, n, &m, &err);
    if (st != FR_OK) {
        need_refusal(st, &err);
        return;
    }
    need_ids(m.survivors, m.n_survivors, n);
    need_ids(m.dropped, m.n_dropped, n);
    need_ids(m.signers, m.n_sigs, n);
    for (int i = 0; i < m.n_sigs; i++)
        need_inside(m.sigs[i], FR_SECAGG_SIG_BYTES, body, len);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_secagg_unmask_req_encode(&m, &sb);
    need(fr_secagg_unmask_req_decode(sb.data, sb.size, n, &again, &err) == FR_OK,
         "re-encoded request decodes");
    need(again.round == m.round && again.n_survivors == m.n_survivors &&
             again.n_dropped == m.n_dropped && again.n_sigs == m.n_sigs &&
             !memcmp(again.signers, m.signers, (size_t)m.n_sigs) &&
             !memcmp(again.survivors, m.survivors, (size_t)m.n_survivors) &&
             !memcmp(again.dropped, m.dropped, (size_t)m.n_dropped),
         "request survives a round trip");
    msgpack_sbuffer_destroy(&sb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FUZZ_SECAGG_BOTH(data, size, one);
    return 0;
}
