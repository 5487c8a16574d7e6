/* A federation client for tests: sends one crafted request to a coordinator as the
 * node whose certificate it is given, and prints "HTTP CODE: BODY" (or the transport
 * error). The bodies break one rule each, so the tests can check that the
 * coordinator refuses them with a reason and carries on.
 *
 *   tool_fed_client URL CERT KEY CA WHAT [ROUND VERSION N]
 *   WHAT: task | join | garbage | nan | huge-norm | node-field | good | truncated | heavy
 *   Identity and secure rounds:
 *     join-id               join with an identity key bound to CERT (with data)
 *     join-id-forged        the same with a binding signature that does not verify
 *     join-id-other C K     an identity bound to another node's certificate C (key K)
 *     secagg-get STEP R     GET /v1/secagg/STEP?round=R
 *     secagg-garbage STEP   POST bytes that are not a message to /v1/secagg/STEP
 *     secagg-advertise-as R ID  a well-formed advertisement for round R claiming node ID */
#include <math.h>
#include <sodium.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/fr_http_client.h"
#include "secagg/fr_identity.h"
#include "fed/fr_proto.h"
#include "secagg/fr_secagg.h"
#include "fed/fr_sign.h"

/* A join carrying a fresh identity key bound with cert/key (a flipped signature byte
 * when forge is set). */
static int identity_join(msgpack_sbuffer *sb, const char *cert, const char *key, int forge)
{
    uint8_t pk[FR_IDENTITY_PK_BYTES];
    randombytes_buf(pk, sizeof pk);
    fr_identity_binding b;
    fr_err err = {{0}};
    if (fr_identity_bind(&b, cert, key, pk, &err) != FR_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    if (forge)
        b.sig[b.sig_len / 2] ^= 1;
    fr_proto_join j = {.has_data = 1};
    j.id_pk = (fr_proto_bin){pk, sizeof pk};
    j.id_cert = (fr_proto_bin){b.cert, b.cert_len};
    j.id_sig = (fr_proto_bin){b.sig, b.sig_len};
    fr_proto_join_encode(&j, sb);
    fr_identity_binding_free(&b);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: tool_fed_client URL CERT KEY CA WHAT [ROUND VERSION N]\n");
        return 2;
    }
    const char *what = argv[5];
    long round = argc > 6 ? strtol(argv[6], NULL, 10) : 1;
    long version = argc > 7 ? strtol(argv[7], NULL, 10) : 0;
    unsigned long n = argc > 8 ? strtoul(argv[8], NULL, 10) : 10;
    fr_http_client c = {0};
    fr_http_client_config cfg = {
        .base_url = argv[1], .cert = argv[2], .key = argv[3], .ca = argv[4]};
    fr_err err = {{0}};
    if (fr_http_client_init(&c, &cfg, &err) != FR_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    const char *method = "POST", *path = "/v1/update";
    if (!strcmp(what, "task")) {
        method = "GET";
        path = "/v1/task";
    } else if (!strcmp(what, "join")) {
        fr_proto_join j = {.has_data = 1};
        fr_proto_join_encode(&j, &sb);
        path = "/v1/join";
    } else if (!strncmp(what, "join-id", 7)) {
        int other = !strcmp(what, "join-id-other") && argc > 7;
        if (identity_join(&sb, other ? argv[6] : argv[2], other ? argv[7] : argv[3],
                          !strcmp(what, "join-id-forged")))
            return 1;
        path = "/v1/join";
    } else if (!strcmp(what, "secagg-get") && argc > 7) {
        static char p[128];
        snprintf(p, sizeof p, "/v1/secagg/%s?round=%s", argv[6], argv[7]);
        method = "GET";
        path = p;
    } else if (!strcmp(what, "secagg-garbage") && argc > 6) {
        static char p[128];
        snprintf(p, sizeof p, "/v1/secagg/%s", argv[6]);
        msgpack_sbuffer_write(&sb, "\x81\xa1v\x01junk", 8);
        path = p;
    } else if (!strcmp(what, "secagg-advertise-as") && argc > 7) {
        uint8_t keys[FR_SECAGG_HASH_BYTES + 2 * FR_SECAGG_KEY_BYTES + FR_SECAGG_SIG_BYTES] = {0};
        randombytes_buf(keys + 32, 2 * FR_SECAGG_KEY_BYTES);
        fr_secagg_advertise_msg m = {.round = (uint32_t)strtoul(argv[6], NULL, 10)};
        m.a = (fr_secagg_advert){(int)strtol(argv[7], NULL, 10), keys, keys + 32, keys + 64,
                                 keys + 96};
        fr_secagg_advertise_encode(&m, &sb);
        path = "/v1/secagg/advertise";
    } else if (!strcmp(what, "garbage")) {
        msgpack_sbuffer_write(&sb, "\xc1\xc1not msgpack", 13);
    } else if (!strcmp(what, "node-field")) {
        /* a body that tries to speak for another node */
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 2);
        msgpack_pack_str_with_body(&pk, "v", 1);
        msgpack_pack_int(&pk, 1);
        msgpack_pack_str_with_body(&pk, "node", 4);
        msgpack_pack_str_with_body(&pk, "n2", 2);
    } else {
        /* heavy: a node claiming 1e15 users, its weight to match (the cap refuses it) */
        int heavy = !strcmp(what, "heavy");
        fr_proto_update u = {.round = round,
                             .model_version = version,
                             .users = heavy ? 1000000000000000 : 5,
                             .windows = heavy ? 1000000000000000 : 5,
                             .weight = heavy ? 1e15 : 5,
                             .loss = 1,
                             .n = n};
        fr_proto_update_head_encode(&u, &sb);
        float *d = calloc(n, sizeof(float));
        for (unsigned long i = 0; i < n; i++)
            d[i] = 1e-4f;
        if (!strcmp(what, "nan"))
            d[n / 2] = NAN;
        else if (!strcmp(what, "huge-norm"))
            d[0] = 1e9f;
        msgpack_sbuffer_write(&sb, (const char *)d,
                              !strcmp(what, "truncated") ? n * 2 : n * sizeof(float));
        free(d);
    }
    fr_http_response r = {0};
    fr_status st = fr_http_request(&c, method, path, sb.size ? sb.data : NULL, sb.size,
                                   FR_PROTO_CONTENT_TYPE, &r, &err);
    int rc = 0;
    if (st != FR_OK) {
        printf("ERROR %s\n", err.msg);
        rc = 1;
    } else if (!strcmp(what, "task")) {
        fr_proto_task t;
        if (r.code == 200 && fr_proto_task_decode(r.body, r.len, &t, &err) == FR_OK)
            printf("HTTP 200: state %lld round %lld version %lld\n", (long long)t.state,
                   (long long)t.round, (long long)t.model_version);
        else
            printf("HTTP %ld: %s\n", r.code, r.body ? (const char *)r.body : "");
    } else {
        printf("HTTP %ld: %.*s\n", r.code, (int)(r.len < 400 ? r.len : 400),
               r.body ? (const char *)r.body : "");
    }
    fr_http_response_free(&r);
    msgpack_sbuffer_destroy(&sb);
    fr_http_client_free(&c);
    return rc;
}
