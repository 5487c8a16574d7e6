/* Secure aggregation's messages: each one round-trips, and its decoder refuses every
 * proper prefix of a body and what a round could not run on. */
#include <msgpack.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "secagg/fr_secagg.h"
#include "fr_test.h"

/* ---- messages ---- */

/* Every proper prefix of a body must be refused (and read nothing outside it). */
static int prefixes_refused(const msgpack_sbuffer *sb,
                            fr_status (*dec)(const void *, size_t, int, void *, fr_err *), int n)
{
    void *m = malloc(sizeof(fr_secagg_adverts_msg) + sizeof(fr_secagg_unmask_resp_msg));
    int ok = 1;
    for (size_t len = 0; len < sb->size; len++) {
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, sb->data, len);
        fr_err err = {{0}};
        ok &= dec(copy, len, n, m, &err) != FR_OK;
        free(copy);
    }
    free(m);
    return ok;
}

#define DEC(fn, type)                                                                              \
    static fr_status fn##_any(const void *b, size_t l, int n, void *m, fr_err *e)                  \
    {                                                                                              \
        return fn(b, l, n, (type *)m, e);                                                          \
    }
DEC(fr_secagg_advertise_decode, fr_secagg_advertise_msg)
DEC(fr_secagg_adverts_decode, fr_secagg_adverts_msg)
DEC(fr_secagg_shares_decode, fr_secagg_shares_msg)
DEC(fr_secagg_relay_decode, fr_secagg_shares_msg)
DEC(fr_secagg_unmask_req_decode, fr_secagg_unmask_req_msg)
DEC(fr_secagg_unmask_resp_decode, fr_secagg_unmask_resp_msg)

static void test_messages(void)
{
    fr_err err = {{0}};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    uint8_t c[32], s[32], sig[64], ct[FR_SECAGG_CT_BYTES], share[32];
    randombytes_buf(c, 32);
    randombytes_buf(s, 32);
    randombytes_buf(sig, 64);
    randombytes_buf(ct, sizeof ct);
    randombytes_buf(share, 32);

    uint8_t h[32];
    randombytes_buf(h, 32);
    fr_secagg_advertise_msg a = {.round = 3, .a = {2, h, c, s, sig}}, a2;
    fr_secagg_advertise_encode(&a, &sb);
    CHECK(fr_secagg_advertise_decode(sb.data, sb.size, 5, &a2, &err) == FR_OK, "%s", err.msg);
    CHECK(a2.round == 3 && a2.a.id == 2 && !memcmp(a2.a.sig, sig, 64) && !memcmp(a2.a.setup, h, 32),
          "advertise fields");
    CHECK(fr_secagg_advertise_decode(sb.data, sb.size, 1, &a2, &err) == FR_EFORMAT &&
              strstr(err.msg, "from"),
          "id above n: %s", err.msg);
    CHECK(prefixes_refused(&sb, fr_secagg_advertise_decode_any, 5), "advertise prefixes");

    fr_secagg_adverts_msg *al = calloc(1, sizeof *al), *al2 = malloc(sizeof *al2);
    al->round = 3;
    al->count = 3;
    for (int i = 0; i < 3; i++)
        al->e[i] = (fr_secagg_advert){i + 1, h, c, s, sig};
    msgpack_sbuffer_clear(&sb);
    fr_secagg_adverts_encode(al, &sb);
    CHECK(fr_secagg_adverts_decode(sb.data, sb.size, 3, al2, &err) == FR_OK, "%s", err.msg);
    CHECK(al2->count == 3 && al2->e[2].id == 3, "advert list fields");
    CHECK(fr_secagg_adverts_decode(sb.data, sb.size, 2, al2, &err) == FR_EFORMAT &&
              strstr(err.msg, "3 entries, the round has 2"),
          "a list longer than n: %s", err.msg);
    CHECK(prefixes_refused(&sb, fr_secagg_adverts_decode_any, 3), "advert list prefixes");
    al->e[2].id = 2; /* the same node twice */
    msgpack_sbuffer_clear(&sb);
    fr_secagg_adverts_encode(al, &sb);
    CHECK(fr_secagg_adverts_decode(sb.data, sb.size, 3, al2, &err) == FR_EFORMAT &&
              strstr(err.msg, "node 2 after node 2"),
          "repeated id: %s", err.msg);

    fr_secagg_shares_msg sm = {.round = 3, .node = 1, .count = 2}, sm2;
    sm.e[0] = (fr_secagg_ct_entry){2, ct};
    sm.e[1] = (fr_secagg_ct_entry){3, ct};
    msgpack_sbuffer_clear(&sb);
    fr_secagg_shares_encode(&sm, &sb);
    CHECK(fr_secagg_shares_decode(sb.data, sb.size, 3, &sm2, &err) == FR_OK, "%s", err.msg);
    CHECK(sm2.node == 1 && sm2.count == 2 && sm2.e[1].peer == 3 && !memcmp(sm2.e[1].ct, ct, 8),
          "shares fields");
    CHECK(fr_secagg_relay_decode(sb.data, sb.size, 3, &sm2, &err) == FR_EFORMAT,
          "shares read as a relay");
    CHECK(prefixes_refused(&sb, fr_secagg_shares_decode_any, 3), "shares prefixes");
    msgpack_sbuffer_clear(&sb);
    fr_secagg_relay_encode(&sm, &sb);
    CHECK(fr_secagg_relay_decode(sb.data, sb.size, 3, &sm2, &err) == FR_OK, "%s", err.msg);
    CHECK(prefixes_refused(&sb, fr_secagg_relay_decode_any, 3), "relay prefixes");

    uint32_t vals[5] = {1, 0xffffffffu, 3, 0x01020304u, 5};
    fr_secagg_masked_msg mm = {.round = 3, .from = 2, .m = 5, .values = vals}, mm2;
    msgpack_sbuffer_clear(&sb);
    fr_secagg_masked_encode(&mm, &sb);
    CHECK(fr_secagg_masked_decode(sb.data, sb.size, 3, 5, &mm2, &err) == FR_OK, "%s", err.msg);
    CHECK(mm2.y[12] == 4 && mm2.y[15] == 1 && mm2.y[4] == 0xff, "masked input little-endian");
    CHECK(fr_secagg_masked_decode(sb.data, sb.size, 3, 6, &mm2, &err) == FR_EFORMAT &&
              strstr(err.msg, "20 bytes, must be 24"),
          "another vector length: %s", err.msg);
    for (size_t len = 0; len < sb.size; len++)
        CHECK(fr_secagg_masked_decode(sb.data, len, 3, 5, &mm2, &err) != FR_OK, "prefix %zu", len);

    fr_secagg_unmask_req_msg rq = {.round = 3,
                                   .n_survivors = 2,
                                   .n_dropped = 1,
                                   .survivors = {1, 3},
                                   .dropped = {2}},
                             rq2;
    msgpack_sbuffer_clear(&sb);
    fr_secagg_unmask_req_encode(&rq, &sb);
    CHECK(fr_secagg_unmask_req_decode(sb.data, sb.size, 3, &rq2, &err) == FR_OK, "%s", err.msg);
    CHECK(rq2.n_survivors == 2 && rq2.survivors[1] == 3 && rq2.dropped[0] == 2, "request fields");
    CHECK(prefixes_refused(&sb, fr_secagg_unmask_req_decode_any, 3), "request prefixes");

    fr_secagg_unmask_resp_msg *rp = calloc(1, sizeof *rp), *rp2 = malloc(sizeof *rp2);
    rp->round = 3;
    rp->from = 1;
    rp->count = 2;
    rp->e[0] = (fr_secagg_share_entry){1, FR_SECAGG_SHARE_B, share};
    rp->e[1] = (fr_secagg_share_entry){2, FR_SECAGG_SHARE_SK, share};
    msgpack_sbuffer_clear(&sb);
    fr_secagg_unmask_resp_encode(rp, &sb);
    CHECK(fr_secagg_unmask_resp_decode(sb.data, sb.size, 3, rp2, &err) == FR_OK, "%s", err.msg);
    CHECK(rp2->count == 2 && rp2->e[1].kind == FR_SECAGG_SHARE_SK, "response fields");
    CHECK(prefixes_refused(&sb, fr_secagg_unmask_resp_decode_any, 3), "response prefixes");
    rp->e[1].kind = 3;
    msgpack_sbuffer_clear(&sb);
    fr_secagg_unmask_resp_encode(rp, &sb);
    CHECK(fr_secagg_unmask_resp_decode(sb.data, sb.size, 3, rp2, &err) == FR_EFORMAT,
          "share kind 3");

    /* hand-made bodies: another version, an unknown key, a short key, a huge count */
    msgpack_packer pk;
    msgpack_sbuffer_clear(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str(&pk, 1);
    msgpack_pack_str_body(&pk, "v", 1);
    msgpack_pack_int(&pk, 2);
    msgpack_pack_str(&pk, 5);
    msgpack_pack_str_body(&pk, "round", 5);
    msgpack_pack_int(&pk, 3);
    CHECK(fr_secagg_advertise_decode(sb.data, sb.size, 3, &a2, &err) == FR_EVERSION,
          "version 2: %s", err.msg);
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str(&pk, 4);
    msgpack_pack_str_body(&pk, "node", 4);
    msgpack_pack_int(&pk, 1);
    CHECK(fr_secagg_advertise_decode(sb.data, sb.size, 3, &a2, &err) == FR_EFORMAT &&
              strstr(err.msg, "unknown key"),
          "unknown key: %s", err.msg);
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str(&pk, 4);
    msgpack_pack_str_body(&pk, "c_pk", 4);
    msgpack_pack_bin(&pk, 31);
    msgpack_pack_bin_body(&pk, c, 31);
    CHECK(fr_secagg_advertise_decode(sb.data, sb.size, 3, &a2, &err) == FR_EFORMAT &&
              strstr(err.msg, "31 bytes, must be 32"),
          "short key: %s", err.msg);
    /* an array head claiming 2^32 - 1 entries in a few bytes: refused before walking */
    uint8_t huge[] = {0x81, 0xa7, 'a', 'd', 'v', 'e', 'r', 't', 's', 0xdd, 0xff, 0xff, 0xff, 0xff};
    CHECK(fr_secagg_adverts_decode(huge, sizeof huge, 255, al2, &err) == FR_EFORMAT &&
              strstr(err.msg, "4294967295 entries"),
          "huge count: %s", err.msg);
    free(al);
    free(al2);
    free(rp);
    free(rp2);
    msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "libsodium failed to initialise\n");
        return 1;
    }
    RUN(test_messages);
    return fr_test_end();
}
