/* Whole secure-aggregation rounds run in process (fr_test_secagg.h): with and without
 * dropouts at every step, and against a coordinator that replays, mixes rounds, forges
 * signatures or asks for both secrets of one node. */
#include <msgpack.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "fr_test_secagg.h"

/* ---- whole rounds ---- */

static void test_no_dropouts(void)
{
    round_completes(3, 3, 100000, NULL, 0, "n = 3");
    round_completes(10, 7, 5000, NULL, 0, "n = 10");
    round_completes(50, 34, 2000, NULL, 0, "n = 50");
}

static void test_dropouts(void)
{
    /* n = 12, t = 9: one of each kind but the last, n - t = 3 in all */
    const int mixed[] = {2, D_NO_ADVERT, 4, D_NO_SHARES, 5, D_NO_MASKED};
    round_completes(12, 9, 3000, mixed, 3, "mixed dropouts");
    const int mixed2[] = {4, D_NO_SHARES, 5, D_NO_MASKED, 9, D_NO_RESPONSE};
    round_completes(12, 9, 3000, mixed2, 3, "mixed dropouts, one at the unmasking");
    const int after_advert[] = {1, D_NO_SHARES, 3, D_NO_SHARES, 7, D_NO_SHARES};
    round_completes(10, 7, 3000, after_advert, 3, "dropouts after advertising");
    /* their pairwise masks are in every survivor's input: removed through s_sk */
    const int after_share[] = {1, D_NO_MASKED, 2, D_NO_MASKED, 10, D_NO_MASKED};
    round_completes(10, 7, 3000, after_share, 3, "dropouts after sharing");
    const int after_masked[] = {3, D_NO_RESPONSE, 4, D_NO_RESPONSE, 8, D_NO_RESPONSE};
    round_completes(10, 7, 3000, after_masked, 3, "dropouts after the masked input");
    const int two[] = {1, D_NO_MASKED};
    round_completes(4, 3, 20000, two, 1, "n = 4, one dropout after sharing");
    int many[32];
    for (int i = 0; i < 16; i++) { /* 50 nodes, 16 drop, 4 at each step */
        many[2 * i] = 3 * i + 2;
        many[2 * i + 1] = D_NO_ADVERT + i % 4;
    }
    round_completes(50, 34, 500, many, 16, "n = 50, 16 dropouts");
}

static void test_too_many_dropouts(void)
{
    const int adv[] = {1,           D_NO_ADVERT, 2,           D_NO_ADVERT, 3,
                       D_NO_ADVERT, 4,           D_NO_ADVERT, 5,           D_NO_ADVERT};
    round_aborts(10, 7, adv, 5, "5 never advertise");
    const int sh[] = {1,           D_NO_SHARES, 2,           D_NO_SHARES, 3,
                      D_NO_ADVERT, 4,           D_NO_SHARES, 5,           D_NO_SHARES};
    round_aborts(10, 7, sh, 5, "5 send no shares");
    const int mk[] = {6,           D_NO_MASKED, 7,           D_NO_MASKED, 8,
                      D_NO_SHARES, 9,           D_NO_MASKED, 10,          D_NO_MASKED};
    round_aborts(10, 7, mk, 5, "5 send no masked input");
    const int rs[] = {1, D_NO_RESPONSE, 2, D_NO_MASKED,  3, D_NO_RESPONSE,
                      4, D_NO_SHARES,   5, D_NO_RESPONSE};
    round_aborts(10, 7, rs, 5, "5 missing by the unmasking");
    const int one[] = {1, D_NO_RESPONSE};
    round_aborts(3, 3, one, 1, "n = 3, 1 gives no response");
}

/* A round of 5 nodes (t = 4) with node 5 dropped after sharing, stopped at the unmask
 * request; f->req is the honest one. */
static int five_at_unmask(fed *f)
{
    if (!fed_init(f, 5, 4, 256, 21))
        return 0;
    f->drop[5] = D_NO_MASKED;
    fr_err err = {{0}};
    fr_status st = fed_to_unmask(f, &err);
    CHECK(st == FR_OK, "%s", err.msg);
    return st == FR_OK;
}

static void request(msgpack_sbuffer *sb, uint32_t round, const uint8_t *surv, int ns,
                    const uint8_t *drop, int nd)
{
    fr_secagg_unmask_req_msg m = {.round = round, .n_survivors = ns, .n_dropped = nd};
    memcpy(m.survivors, surv, (size_t)ns);
    memcpy(m.dropped, drop, (size_t)nd);
    msgpack_sbuffer_clear(sb);
    fr_secagg_unmask_req_encode(&m, sb);
}

static void test_bad_unmask_requests(void)
{
    fed f;
    msgpack_sbuffer req, out, out2;
    msgpack_sbuffer_init(&req);
    msgpack_sbuffer_init(&out);
    msgpack_sbuffer_init(&out2);
    fr_err err = {{0}};
    if (!five_at_unmask(&f))
        goto out;
    const uint8_t all4[] = {1, 2, 3, 4}, d5[] = {5}, d45[] = {4, 5}, s12[] = {1, 2},
                  d345[] = {3, 4, 5}, s123[] = {1, 2, 3};

    /* node 4 both a survivor and dropped: node 1 would give b_4 and s_sk_4 */
    request(&req, 21, all4, 4, d45, 2);
    CHECK(fr_secagg_client_unmask(&f.cl[1], req.data, req.size, &out, &err) == FR_EINVAL &&
              strstr(err.msg, "node 4 is both"),
          "both: %s", err.msg);
    CHECK(out.size == 0, "a refused request produced output");
    /* and it gives up the round: the honest request now gets nothing either */
    CHECK(fr_secagg_client_unmask(&f.cl[1], f.req.data, f.req.size, &out, &err) == FR_EINVAL &&
              strstr(err.msg, "given up"),
          "after refusing: %s", err.msg);

    /* fewer than t survivors */
    request(&req, 21, s12, 2, d345, 3);
    CHECK(fr_secagg_client_unmask(&f.cl[2], req.data, req.size, &out, &err) == FR_EINVAL &&
              strstr(err.msg, "below the threshold"),
          "U3 < t: %s", err.msg);

    /* another round's request is refused without giving up */
    request(&req, 22, all4, 4, d5, 1);
    CHECK(fr_secagg_client_unmask(&f.cl[3], req.data, req.size, &out, &err) == FR_EINVAL &&
              strstr(err.msg, "of round 22"),
          "another round: %s", err.msg);
    /* the honest request, twice: the same answer */
    CHECK(fr_secagg_client_unmask(&f.cl[3], f.req.data, f.req.size, &out, &err) == FR_OK, "%s",
          err.msg);
    CHECK(fr_secagg_client_unmask(&f.cl[3], f.req.data, f.req.size, &out2, &err) == FR_OK &&
              out.size == out2.size && !memcmp(out.data, out2.data, out.size),
          "the same request again: %s", err.msg);
    /* then a different one: node 4 now "dropped" would reveal s_sk_4 beside b_4; it is
     * below the threshold, and not the U3 node 3 signed */
    msgpack_sbuffer_clear(&out2);
    request(&req, 21, s123, 3, d45, 2);
    CHECK(fr_secagg_client_unmask(&f.cl[3], req.data, req.size, &out2, &err) == FR_EINVAL &&
              strstr(err.msg, "below the threshold 4"),
          "a second, different request: %s", err.msg);
    CHECK(out2.size == 0, "a refused request produced output");

    /* a request that leaves out a node of U2, and one that counts the node as dropped */
    request(&req, 21, all4, 4, d5, 0);
    CHECK(fr_secagg_client_unmask(&f.cl[4], req.data, req.size, &out, &err) == FR_EINVAL &&
              strstr(err.msg, "leaves out node 5"),
          "partial split: %s", err.msg);

    /* the coordinator refuses a response with the wrong kind, a replay, and a non-survivor */
    fr_secagg_server *sv = &f.sv;
    CHECK(fr_secagg_server_add_unmask_response(sv, out.data, out.size, &err) == FR_OK, "%s",
          err.msg);
    CHECK(fr_secagg_server_add_unmask_response(sv, out.data, out.size, &err) == FR_EINVAL &&
              strstr(err.msg, "second"),
          "replayed response: %s", err.msg);
    fr_secagg_unmask_resp_msg *rm = malloc(sizeof *rm);
    CHECK(fr_secagg_unmask_resp_decode(out.data, out.size, 5, rm, &err) == FR_OK, "%s", err.msg);
    rm->from = 2;
    rm->e[4].kind = FR_SECAGG_SHARE_B; /* node 5 dropped: b_5 is not to be given */
    msgpack_sbuffer_clear(&out2);
    fr_secagg_unmask_resp_encode(rm, &out2);
    CHECK(fr_secagg_server_add_unmask_response(sv, out2.data, out2.size, &err) == FR_EINVAL &&
              strstr(err.msg, "node 5, which dropped"),
          "wrong kind: %s", err.msg);
    rm->from = 5;
    rm->e[4].kind = FR_SECAGG_SHARE_SK;
    msgpack_sbuffer_clear(&out2);
    fr_secagg_unmask_resp_encode(rm, &out2);
    CHECK(fr_secagg_server_add_unmask_response(sv, out2.data, out2.size, &err) == FR_EINVAL &&
              strstr(err.msg, "not in U4"),
          "a dropped node answers: %s", err.msg);
    free(rm);
out:
    msgpack_sbuffer_destroy(&req);
    msgpack_sbuffer_destroy(&out);
    msgpack_sbuffer_destroy(&out2);
    fed_free(&f);
}

static void test_rounds_and_replays(void)
{
    fed f, g;
    memset(&g, 0, sizeof g);
    msgpack_sbuffer sb, adv, old_shares, relay;
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_init(&adv);
    msgpack_sbuffer_init(&old_shares);
    msgpack_sbuffer_init(&relay);
    fr_err err = {{0}};
    if (!fed_init(&f, 4, 3, 128, 30) || !fed_init(&g, 4, 3, 128, 31))
        goto out;

    /* round 30: advertisements; a replay, another round's and a forged one are refused */
    for (int u = 1; u <= 4; u++) {
        msgpack_sbuffer_clear(&adv);
        CHECK(fr_secagg_client_advertise(&f.cl[u], &adv, &err) == FR_OK, "%s", err.msg);
        CHECK(fr_secagg_server_add_advertise(&f.sv, adv.data, adv.size, &err) == FR_OK, "%s",
              err.msg);
    }
    CHECK(fr_secagg_server_add_advertise(&f.sv, adv.data, adv.size, &err) == FR_EINVAL &&
              strstr(err.msg, "second advertisement from node 4"),
          "replayed advertise: %s", err.msg);
    CHECK(fr_secagg_client_advertise(&f.cl[4], &sb, &err) == FR_EINVAL &&
              strstr(err.msg, "out of order"),
          "advertising twice: %s", err.msg);
    fr_secagg_advertise_msg am;
    CHECK(fr_secagg_advertise_decode(adv.data, adv.size, 4, &am, &err) == FR_OK, "%s", err.msg);
    uint8_t sig[64];
    am.round = 31;
    msgpack_sbuffer_clear(&sb);
    fr_secagg_advertise_encode(&am, &sb);
    CHECK(fr_secagg_server_add_advertise(&g.sv, sb.data, sb.size, &err) == FR_EINVAL &&
              strstr(err.msg, "not signed"),
          "a round-30 advertisement relabelled 31: %s", err.msg);
    /* a validly signed low-order key is refused at the door */
    uint8_t zero[32] = {0};
    fr_secagg_advert_sign(sig, g.sks + 3 * 64, 31, 4, g.p.setup_hash, zero, zero);
    am.a.c_pk = am.a.s_pk = zero;
    am.a.sig = sig;
    msgpack_sbuffer_clear(&sb);
    fr_secagg_advertise_encode(&am, &sb);
    CHECK(fr_secagg_server_add_advertise(&g.sv, sb.data, sb.size, &err) == FR_EINVAL &&
              strstr(err.msg, "low-order"),
          "low-order key: %s", err.msg);
    CHECK(fr_secagg_server_add_advertise(&g.sv, adv.data, adv.size, &err) == FR_EINVAL &&
              strstr(err.msg, "of round 30"),
          "a round-30 advertisement in round 31: %s", err.msg);

    CHECK(fr_secagg_server_advertise_list(&f.sv, &f.list, &err) == FR_OK, "%s", err.msg);
    /* the list of another round: refused without giving up */
    msgpack_sbuffer_clear(&sb);
    CHECK(fr_secagg_client_share(&g.cl[1], f.list.data, f.list.size, &sb, &err) == FR_EINVAL,
          "share before advertising");
    CHECK(fr_secagg_client_advertise(&g.cl[1], &sb, &err) == FR_OK, "%s", err.msg);
    msgpack_sbuffer_clear(&sb);
    CHECK(fr_secagg_client_share(&g.cl[1], f.list.data, f.list.size, &sb, &err) == FR_EINVAL &&
              strstr(err.msg, "of round 30"),
          "a list from another round: %s", err.msg);
    CHECK(g.cl[1].stage == FR_SECAGG_CL_ADVERTISED, "gave up over a stale list");

    /* a list with one bad signature: node 1 refuses the round */
    fr_secagg_adverts_msg *al = malloc(sizeof *al);
    CHECK(fr_secagg_adverts_decode(f.list.data, f.list.size, 4, al, &err) == FR_OK, "%s", err.msg);
    uint8_t bad_sig[64], other_key[32];
    memcpy(bad_sig, al->e[2].sig, 64);
    bad_sig[10] ^= 0x40;
    const uint8_t *good_sig = al->e[2].sig;
    al->e[2].sig = bad_sig;
    msgpack_sbuffer_clear(&sb);
    fr_secagg_adverts_encode(al, &sb);
    msgpack_sbuffer_clear(&relay);
    CHECK(fr_secagg_client_share(&f.cl[1], sb.data, sb.size, &relay, &err) == FR_EINVAL &&
              strstr(err.msg, "node 3's advertised keys are not signed"),
          "bad signature: %s", err.msg);
    CHECK(f.cl[1].stage == FR_SECAGG_CL_REFUSED && relay.size == 0, "node 1 went on");
    CHECK(fr_secagg_client_share(&f.cl[1], f.list.data, f.list.size, &relay, &err) == FR_EINVAL,
          "a refused round resumed");
    /* a substituted key under the genuine signature: node 2 refuses too */
    al->e[2].sig = good_sig;
    randombytes_buf(other_key, 32);
    al->e[2].s_pk = other_key;
    msgpack_sbuffer_clear(&sb);
    fr_secagg_adverts_encode(al, &sb);
    CHECK(fr_secagg_client_share(&f.cl[2], sb.data, sb.size, &relay, &err) == FR_EINVAL &&
              strstr(err.msg, "not signed"),
          "substituted key: %s", err.msg);
    free(al);

    /* nodes 3 and 4 go on; node 4's round-30 shares are kept */
    for (int u = 3; u <= 4; u++) {
        msgpack_sbuffer_clear(&sb);
        CHECK(fr_secagg_client_share(&f.cl[u], f.list.data, f.list.size, &sb, &err) == FR_OK, "%s",
              err.msg);
        CHECK(fr_secagg_server_add_shares(&f.sv, sb.data, sb.size, &err) == FR_OK, "%s", err.msg);
    }
    msgpack_sbuffer_write(&old_shares, sb.data, sb.size);
    CHECK(fr_secagg_server_add_shares(&f.sv, sb.data, sb.size, &err) == FR_EINVAL &&
              strstr(err.msg, "second shares from node 4"),
          "replayed shares: %s", err.msg);

    /* round 31: every node advertises and shares, but node 4's shares are replaced by its
     * round-30 ciphertexts under a round-31 head; the coordinator cannot tell, node 1
     * cannot open them (a fresh round 31: node 1 of the first one already advertised) */
    fed_free(&g);
    if (!fed_init(&g, 4, 3, 128, 31))
        goto out;
    for (int u = 1; u <= 4; u++) {
        msgpack_sbuffer_clear(&sb);
        CHECK(fr_secagg_client_advertise(&g.cl[u], &sb, &err) == FR_OK, "%s", err.msg);
        CHECK(fr_secagg_server_add_advertise(&g.sv, sb.data, sb.size, &err) == FR_OK, "%s",
              err.msg);
    }
    CHECK(fr_secagg_server_advertise_list(&g.sv, &g.list, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_secagg_server_add_shares(&g.sv, old_shares.data, old_shares.size, &err) == FR_EINVAL &&
              strstr(err.msg, "of round 30"),
          "round-30 shares in round 31: %s", err.msg);
    for (int u = 1; u <= 3; u++) {
        msgpack_sbuffer_clear(&sb);
        CHECK(fr_secagg_client_share(&g.cl[u], g.list.data, g.list.size, &sb, &err) == FR_OK, "%s",
              err.msg);
        CHECK(fr_secagg_server_add_shares(&g.sv, sb.data, sb.size, &err) == FR_OK, "%s", err.msg);
    }
    msgpack_sbuffer_clear(&sb);
    CHECK(fr_secagg_client_share(&g.cl[4], g.list.data, g.list.size, &sb, &err) == FR_OK, "%s",
          err.msg);
    fr_secagg_shares_msg *sm = malloc(sizeof *sm);
    CHECK(fr_secagg_shares_decode(old_shares.data, old_shares.size, 4, sm, &err) == FR_OK, "%s",
          err.msg);
    sm->round = 31;
    msgpack_sbuffer_clear(&sb);
    fr_secagg_shares_encode(sm, &sb);
    free(sm);
    CHECK(fr_secagg_server_add_shares(&g.sv, sb.data, sb.size, &err) == FR_OK, "%s", err.msg);
    msgpack_sbuffer_clear(&relay);
    CHECK(fr_secagg_server_shares_for(&g.sv, 1, &relay, &err) == FR_OK, "%s", err.msg);
    msgpack_sbuffer_clear(&sb);
    CHECK(fr_secagg_client_masked_input(&g.cl[1], relay.data, relay.size, g.x + 128, &sb, &err) ==
                  FR_EINVAL &&
              strstr(err.msg, "from node 4 to node 1 do not decrypt"),
          "round-30 ciphertext in round 31: %s", err.msg);
    CHECK(sb.size == 0 && g.cl[1].stage == FR_SECAGG_CL_REFUSED, "node 1 sent a masked input");

    /* masked inputs: another round's refused, a replay refused */
    msgpack_sbuffer_clear(&relay);
    CHECK(fr_secagg_server_shares_for(&g.sv, 2, &relay, &err) == FR_OK, "%s", err.msg);
    msgpack_sbuffer_clear(&sb);
    CHECK(fr_secagg_client_masked_input(&g.cl[3], relay.data, relay.size, g.x + 384, &sb, &err) ==
                  FR_EINVAL &&
              strstr(err.msg, "a relay for node 2") && g.cl[3].stage == FR_SECAGG_CL_SHARED,
          "node 2's relay at node 3: %s", err.msg);
    CHECK(fr_secagg_client_masked_input(&g.cl[2], relay.data, relay.size, g.x + 256, &sb, &err) ==
              FR_EINVAL,
          "node 2 opened a round-30 ciphertext");
    uint32_t vals[128] = {0};
    fr_secagg_masked_msg mm = {.round = 30, .from = 3, .m = 128, .values = vals};
    msgpack_sbuffer_clear(&sb);
    fr_secagg_masked_encode(&mm, &sb);
    CHECK(fr_secagg_server_add_masked_input(&g.sv, sb.data, sb.size, &err) == FR_EINVAL &&
              strstr(err.msg, "of round 30"),
          "a masked input of another round: %s", err.msg);
    mm.round = 31;
    msgpack_sbuffer_clear(&sb);
    fr_secagg_masked_encode(&mm, &sb);
    CHECK(fr_secagg_server_add_masked_input(&g.sv, sb.data, sb.size, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_secagg_server_add_masked_input(&g.sv, sb.data, sb.size, &err) == FR_EINVAL &&
              strstr(err.msg, "second masked input"),
          "replayed masked input: %s", err.msg);
    mm.m = 127;
    msgpack_sbuffer_clear(&sb);
    fr_secagg_masked_encode(&mm, &sb);
    CHECK(fr_secagg_server_add_masked_input(&g.sv, sb.data, sb.size, &err) == FR_EFORMAT,
          "a vector of another length");
out:
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&adv);
    msgpack_sbuffer_destroy(&old_shares);
    msgpack_sbuffer_destroy(&relay);
    fed_free(&f);
    fed_free(&g);
}
int main(void)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "libsodium failed to initialise\n");
        return 1;
    }
    RUN(test_no_dropouts);
    RUN(test_dropouts);
    RUN(test_too_many_dropouts);
    RUN(test_bad_unmask_requests);
    RUN(test_rounds_and_replays);
    return fr_test_end();
}
