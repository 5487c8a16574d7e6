/* A federation client for tests: sends one crafted request to a coordinator as the
 * node whose certificate it is given, and prints "HTTP CODE: BODY" (or the transport
 * error). The bodies break one rule each, so the tests can check that the
 * coordinator refuses them with a reason and carries on.
 *
 *   tool_fed_client URL CERT KEY CA WHAT [ROUND VERSION N]
 *   WHAT: task | join | garbage | nan | huge-norm | node-field | good | truncated | heavy */
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fr_http_client.h"
#include "fr_proto.h"

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
    fr_http_client_config cfg = {.base_url = argv[1], .cert = argv[2], .key = argv[3],
                                 .ca = argv[4]};
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
        fr_proto_join j = {.users = 1};
        fr_proto_join_encode(&j, &sb);
        path = "/v1/join";
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
        fr_proto_update u = {.round = round, .model_version = version, .users = 5, .windows = 5,
                             .weight = !strcmp(what, "heavy") ? 500 : 5, .loss = 1, .n = n};
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
