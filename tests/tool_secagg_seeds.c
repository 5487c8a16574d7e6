/* Writes the seeds of the secure-aggregation fuzz targets (tests/fuzz/fuzz_secagg_*):
 *   tool_secagg_seeds DIR
 * makes DIR/<target>/round5-* from the messages of the fixed round of
 * tests/fuzz/fr_fuzz_secagg_round.h, each with the target's input prefix: the node
 * count byte (n = 3), for fuzz_secagg_masked also the vector length (m = 16), for
 * fuzz_secagg_steps the selector of the step that expects the message; and for
 * fuzz_secagg_setup a federation round's setup with three members (no prefix). The
 * round is the same in every run, so the files are too; tests/cli_secagg_seeds.sh checks that the
 * committed seeds (tests/fuzz/seeds/) are these. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "secagg/fr_secagg_round.h"
#include "fuzz/fr_fuzz_secagg_round.h"

/* DIR/target/name = prefix (k bytes) then body. */
static int put(const char *dir, const char *target, const char *name, const uint8_t *prefix,
               size_t k, const msgpack_sbuffer *body)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "tool_secagg_seeds: %s: %s\n", path, strerror(errno));
        return 0;
    }
    snprintf(path, sizeof path, "%s/%s/%s", dir, target, name);
    FILE *f = fopen(path, "wb");
    int ok = f && (k == 0 || fwrite(prefix, 1, k, f) == k) &&
             fwrite(body->data, 1, body->size, f) == body->size;
    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok)
        fprintf(stderr, "tool_secagg_seeds: %s: %s\n", path, strerror(errno));
    return ok;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: tool_secagg_seeds DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    if (!sa_start()) {
        fprintf(stderr, "tool_secagg_seeds: libsodium failed to initialise\n");
        return 1;
    }
    sa_round r;
    fr_err err = {{0}};
    if (sa_round_record(&r, &err) != FR_OK) {
        fprintf(stderr, "tool_secagg_seeds: %s\n", err.msg);
        return 1;
    }
    const uint8_t n = SA_N - 2, masked[3] = {n, SA_M - 1, 0};
    int ok = mkdir(dir, 0755) == 0 || errno == EEXIST;
    char name[64];
    for (int u = 1; ok && u <= SA_N; u++) {
        const uint8_t sel[4] = {0, 1, 2, 3};
        snprintf(name, sizeof name, "round5-node%d", u);
        ok = put(dir, "fuzz_secagg_advertise", name, &n, 1, &r.adv[u]) &&
             put(dir, "fuzz_secagg_shares", name, &n, 1, &r.shares[u]) &&
             put(dir, "fuzz_secagg_relay", name, &n, 1, &r.relay[u]) &&
             put(dir, "fuzz_secagg_masked", name, masked, 3, &r.masked[u]) &&
             put(dir, "fuzz_secagg_unmask_resp", name, &n, 1, &r.resp[u]);
        snprintf(name, sizeof name, "round5-advertise-node%d", u);
        ok = ok && put(dir, "fuzz_secagg_steps", name, &sel[0], 1, &r.adv[u]);
        snprintf(name, sizeof name, "round5-shares-node%d", u);
        ok = ok && put(dir, "fuzz_secagg_steps", name, &sel[1], 1, &r.shares[u]);
        snprintf(name, sizeof name, "round5-masked-node%d", u);
        ok = ok && put(dir, "fuzz_secagg_steps", name, &sel[2], 1, &r.masked[u]);
        snprintf(name, sizeof name, "round5-response-node%d", u);
        ok = ok && put(dir, "fuzz_secagg_steps", name, &sel[3], 1, &r.resp[u]);
        const uint8_t sel_sig = 7;
        snprintf(name, sizeof name, "round5-sig-node%d", u);
        ok = ok && put(dir, "fuzz_secagg_steps", name, &sel_sig, 1, &r.sig[u]) &&
             put(dir, "fuzz_secagg_check", name, &n, 1, &r.sig[u]);
    }
    const uint8_t sel_list = 4, sel_relay = 5, sel_req = 6, sel_check = 8;
    ok = ok && put(dir, "fuzz_secagg_check", "round5", &n, 1, &r.check) &&
         put(dir, "fuzz_secagg_steps", "round5-check-node1", &sel_check, 1, &r.check);
    ok = ok && put(dir, "fuzz_secagg_adverts", "round5", &n, 1, &r.list) &&
         put(dir, "fuzz_secagg_unmask_req", "round5", &n, 1, &r.req) &&
         put(dir, "fuzz_secagg_steps", "round5-list-node1", &sel_list, 1, &r.list) &&
         put(dir, "fuzz_secagg_steps", "round5-relay-node1", &sel_relay, 1, &r.relay[1]) &&
         put(dir, "fuzz_secagg_steps", "round5-request-node1", &sel_req, 1, &r.req);
    /* a setup of three members whose identity bytes are fixed patterns */
    static fr_secagg_setup s;
    static uint8_t pk[32], cert[300], sig[70];
    for (size_t i = 0; i < sizeof cert; i++)
        cert[i] = (uint8_t)(i * 7);
    memset(pk, 0x5a, sizeof pk);
    memset(sig, 0x3c, sizeof sig);
    s.p = (fr_secagg_params){.round = 5, .n = 3, .t = 2, .m = 17};
    s.model_version = 4;
    s.clip = 100;
    s.loss_clip = FR_SECAGG_LOSS_CLIP;
    s.max_weight = 1000;
    for (int i = 0; i < 3; i++) {
        s.e[i] = (fr_secagg_member){.id = i + 1,
                                    .id_pk = pk,
                                    .cert = cert,
                                    .cert_len = sizeof cert,
                                    .sig = sig,
                                    .sig_len = sizeof sig};
        snprintf(s.e[i].name, sizeof s.e[i].name, "node%d", i + 1);
    }
    msgpack_sbuffer setup;
    msgpack_sbuffer_init(&setup);
    fr_secagg_setup_encode(&s, &setup);
    ok = ok && put(dir, "fuzz_secagg_setup", "round5", NULL, 0, &setup);
    msgpack_sbuffer_destroy(&setup);
    sa_round_free(&r);
    return ok ? 0 : 1;
}
