/* libFuzzer target: arbitrary bytes given to the step functions of secure aggregation,
 * each party in the stage where that step is due, in the fixed round of
 * fr_fuzz_secagg_round.h (3 nodes, threshold 3). Selector (the first byte, mod 9):
 *   0 coordinator, collecting advertisements: fr_secagg_server_add_advertise
 *   1 coordinator, collecting shares:         fr_secagg_server_add_shares
 *   2 coordinator, collecting masked inputs:  fr_secagg_server_add_masked_input
 *   3 coordinator, collecting responses:      fr_secagg_server_add_unmask_response
 *   4 node 1, advertised:    fr_secagg_client_share (the bytes as the advert list)
 *   5 node 1, shares sent:   fr_secagg_client_masked_input (the bytes as its relay)
 *   6 node 1, U3 signed:     fr_secagg_client_unmask (the bytes as the request)
 *   7 coordinator, collecting signatures over U3: fr_secagg_server_add_check
 *   8 node 1, masked input sent: fr_secagg_client_check (the bytes as the U3 request)
 * The rest of the input is the body. Besides the sanitizers:
 *   - a call returns FR_OK or a refusal (format, version, or FR_EINVAL, and from a
 *     node FR_ENODATA never) with a message;
 *   - a node that refuses writes nothing, and is either in its stage still or has given
 *     up the round; then the honest message must be accepted (it only refused) or
 *     refused (it gave up); a node that accepts writes a message its peer decodes;
 *   - a coordinator that refuses is unchanged: the honest messages of the step are all
 *     accepted and the round ends with the plain sum. One that accepts must still end
 *     the round with a status (a response with altered shares of b can corrupt the sum
 *     undetected, as docs/secagg.md says). */
#include <stdlib.h>

#include "fr_fuzz_check.h"
#include "fr_fuzz_secagg_round.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sa_round honest;

static void need_answer(fr_status st, const fr_err *err)
{
    need(st == FR_OK || st == FR_EFORMAT || st == FR_EVERSION || st == FR_EINVAL,
         "a step returns FR_OK or a refusal");
    need(st == FR_OK || (err->msg[0] != 0 && memchr(err->msg, 0, sizeof err->msg)),
         "a refusal says why");
}

/* The coordinator's step at stage s with the body; then the honest messages of that step
 * and the rest of the round. */
static void server_step(fr_secagg_server_stage s, const uint8_t *body, size_t len)
{
    fr_secagg_server sv;
    fr_err err = {{0}};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    need(sa_server_to(&sv, &honest, s, &err) == FR_OK, "the coordinator reaches its stage");
    fr_status st =
        s == FR_SECAGG_SV_ADVERTISE ? fr_secagg_server_add_advertise(&sv, body, len, &err)
        : s == FR_SECAGG_SV_SHARES  ? fr_secagg_server_add_shares(&sv, body, len, &err)
        : s == FR_SECAGG_SV_MASKED  ? fr_secagg_server_add_masked_input(&sv, body, len, &err)
        : s == FR_SECAGG_SV_CHECK   ? fr_secagg_server_add_check(&sv, body, len, &err)
                                    : fr_secagg_server_add_unmask_response(&sv, body, len, &err);
    need_answer(st, &err);
    const int refused = st != FR_OK;
    need(!refused || sv.stage == s, "a refusal leaves the coordinator in its step");
    /* the honest messages of this step: all taken after a refusal; after an acceptance
     * one may be the second from its node */
    const msgpack_sbuffer *msgs = s == FR_SECAGG_SV_ADVERTISE ? honest.adv
                                  : s == FR_SECAGG_SV_SHARES  ? honest.shares
                                  : s == FR_SECAGG_SV_MASKED  ? honest.masked
                                  : s == FR_SECAGG_SV_CHECK   ? honest.sig
                                                              : honest.resp;
    int second = 0;
    for (int u = 1; u <= SA_N; u++) {
        st = s == FR_SECAGG_SV_ADVERTISE
                 ? fr_secagg_server_add_advertise(&sv, msgs[u].data, msgs[u].size, &err)
             : s == FR_SECAGG_SV_SHARES
                 ? fr_secagg_server_add_shares(&sv, msgs[u].data, msgs[u].size, &err)
             : s == FR_SECAGG_SV_MASKED
                 ? fr_secagg_server_add_masked_input(&sv, msgs[u].data, msgs[u].size, &err)
             : s == FR_SECAGG_SV_CHECK
                 ? fr_secagg_server_add_check(&sv, msgs[u].data, msgs[u].size, &err)
                 : fr_secagg_server_add_unmask_response(&sv, msgs[u].data, msgs[u].size, &err);
        need(st == FR_OK || (!refused && st == FR_EINVAL && !second++),
             refused ? "after a refusal the honest messages are taken"
                     : "after an acceptance only one honest message is refused");
    }
    /* the rest of the round */
    st = FR_OK;
    if (s <= FR_SECAGG_SV_ADVERTISE) {
        msgpack_sbuffer_clear(&sb);
        st = fr_secagg_server_advertise_list(&sv, &sb, &err);
        if (refused)
            need(st == FR_OK && sb.size == honest.list.size &&
                     !memcmp(sb.data, honest.list.data, sb.size),
                 "after a refused advertisement the list is the honest one");
        for (int u = 1; st == FR_OK && u <= SA_N; u++)
            (void)fr_secagg_server_add_shares(&sv, honest.shares[u].data, honest.shares[u].size,
                                              &err);
    }
    if (st == FR_OK && s <= FR_SECAGG_SV_SHARES) {
        for (int u = 1; st == FR_OK && u <= SA_N; u++) {
            msgpack_sbuffer_clear(&sb);
            st = fr_secagg_server_shares_for(&sv, u, &sb, &err);
            if (refused)
                need(st == FR_OK && sb.size == honest.relay[u].size &&
                         !memcmp(sb.data, honest.relay[u].data, sb.size),
                     "after a refusal each relay is the honest one");
        }
        for (int u = 1; st == FR_OK && u <= SA_N; u++)
            (void)fr_secagg_server_add_masked_input(&sv, honest.masked[u].data,
                                                    honest.masked[u].size, &err);
    }
    if (st == FR_OK && s <= FR_SECAGG_SV_MASKED) {
        msgpack_sbuffer_clear(&sb);
        st = fr_secagg_server_check_request(&sv, &sb, &err);
        if (refused)
            need(st == FR_OK && sb.size == honest.check.size &&
                     !memcmp(sb.data, honest.check.data, sb.size),
                 "after a refusal U3 is the honest one");
        for (int u = 1; st == FR_OK && u <= SA_N; u++)
            (void)fr_secagg_server_add_check(&sv, honest.sig[u].data, honest.sig[u].size, &err);
    }
    if (st == FR_OK && s <= FR_SECAGG_SV_CHECK) {
        msgpack_sbuffer_clear(&sb);
        st = fr_secagg_server_unmask_request(&sv, &sb, &err);
        for (int u = 1; st == FR_OK && u <= SA_N; u++)
            (void)fr_secagg_server_add_unmask_response(&sv, honest.resp[u].data,
                                                       honest.resp[u].size, &err);
    }
    uint32_t sum[SA_M];
    int k = 0;
    if (st == FR_OK)
        st = fr_secagg_server_finish(&sv, sum, &k, &err);
    if (refused)
        need(st == FR_OK && k == SA_N && !memcmp(sum, honest.sum, sizeof sum),
             "after a refusal the round gives the plain sum");
    else
        need(st == FR_OK || st == FR_EINVAL || st == FR_ENODATA, "the round ends with a status");
    fr_secagg_server_free(&sv);
    msgpack_sbuffer_destroy(&sb);
}

/* Node 1's step at stage s (the stage before the step) with the body, then the honest
 * message for the same step. */
static void client_step(fr_secagg_client_stage s, const uint8_t *body, size_t len)
{
    fr_secagg_client cl;
    fr_err err = {{0}};
    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    need(sa_client_to(&cl, &honest, 1, s, &err) == FR_OK, "node 1 reaches its stage");
    sa_party = 1;
    const msgpack_sbuffer *h = s == FR_SECAGG_CL_ADVERTISED ? &honest.list
                               : s == FR_SECAGG_CL_SHARED   ? &honest.relay[1]
                               : s == FR_SECAGG_CL_MASKED   ? &honest.check
                                                            : &honest.req;
    for (int pass = 0; pass < 2; pass++) {
        const uint8_t *b = pass ? (const uint8_t *)h->data : body;
        size_t l = pass ? h->size : len;
        fr_secagg_client_stage before = cl.stage;
        msgpack_sbuffer_clear(&out);
        fr_status st = s == FR_SECAGG_CL_ADVERTISED ? fr_secagg_client_share(&cl, b, l, &out, &err)
                       : s == FR_SECAGG_CL_SHARED
                           ? fr_secagg_client_masked_input(&cl, b, l, honest.x[1], &out, &err)
                       : s == FR_SECAGG_CL_MASKED ? fr_secagg_client_check(&cl, b, l, &out, &err)
                                                  : fr_secagg_client_unmask(&cl, b, l, &out, &err);
        need_answer(st, &err);
        if (pass == 1) { /* the honest message after the fuzzer's */
            if (before == FR_SECAGG_CL_REFUSED)
                need(st == FR_EINVAL, "a node that gave up refuses the honest message");
            else if (before == s)
                need(st == FR_OK, "a node that only refused takes the honest message");
            else /* it took the fuzzer's body: only the same request again is answered */
                need(st == FR_OK || st == FR_EINVAL, "a second message gets an answer");
        }
        if (st != FR_OK) {
            need(out.size == 0, "a refusal writes nothing");
            need(cl.stage == before || cl.stage == FR_SECAGG_CL_REFUSED,
                 "a refusal keeps the stage or gives up the round");
            continue;
        }
        need(cl.stage == before + 1 ||
                 ((before == FR_SECAGG_CL_ANSWERED || before == FR_SECAGG_CL_CHECKED) &&
                  cl.stage == before),
             "an accepted step moves to the next stage");
        /* what the node wrote, as its peer reads it */
        void *m = malloc(sizeof(fr_secagg_unmask_resp_msg) + sizeof(fr_secagg_shares_msg));
        need(m != NULL, "memory for a message");
        fr_status dec = s == FR_SECAGG_CL_ADVERTISED
                            ? fr_secagg_shares_decode(out.data, out.size, SA_N, m, &err)
                        : s == FR_SECAGG_CL_SHARED
                            ? fr_secagg_masked_decode(out.data, out.size, SA_N, SA_M, m, &err)
                        : s == FR_SECAGG_CL_MASKED
                            ? fr_secagg_check_decode(out.data, out.size, SA_N, m, &err)
                            : fr_secagg_unmask_resp_decode(out.data, out.size, SA_N, m, &err);
        need(dec == FR_OK, "what a node sends decodes");
        free(m);
    }
    sa_party = 0;
    fr_secagg_client_free(&cl);
    msgpack_sbuffer_destroy(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        fr_err err = {{0}};
        need(sa_start(), "libsodium starts");
        need(sa_round_record(&honest, &err) == FR_OK, "the fixed round runs");
        ready = 1;
    }
    if (size < 1)
        return 0;
    const uint8_t *body = data + 1;
    size_t len = size - 1;
    switch (data[0] % 9) {
    case 0: server_step(FR_SECAGG_SV_ADVERTISE, body, len); break;
    case 1: server_step(FR_SECAGG_SV_SHARES, body, len); break;
    case 2: server_step(FR_SECAGG_SV_MASKED, body, len); break;
    case 3: server_step(FR_SECAGG_SV_UNMASK, body, len); break;
    case 4: client_step(FR_SECAGG_CL_ADVERTISED, body, len); break;
    case 5: client_step(FR_SECAGG_CL_SHARED, body, len); break;
    case 6: client_step(FR_SECAGG_CL_CHECKED, body, len); break;
    case 7: server_step(FR_SECAGG_SV_CHECK, body, len); break;
    default: client_step(FR_SECAGG_CL_MASKED, body, len); break;
    }
    return 0;
}
