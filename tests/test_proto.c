/* Wire messages round-trip and refuse malformed bodies with a reason; model
 * signatures verify and catch tampering, a wrong version and a wrong key. */
#include <msgpack.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "fed/fr_proto.h"
#include "fed/fr_sign.h"
#include "fr_test.h"
#include "fr_test_fixture.h"

static void test_join_identity(void)
{
    uint8_t pk[32], cert[700], sig[72];
    randombytes_buf(pk, sizeof pk);
    randombytes_buf(cert, sizeof cert);
    randombytes_buf(sig, sizeof sig);
    fr_proto_join j = {.has_data = 1};
    j.id_pk = (fr_proto_bin){pk, sizeof pk};
    j.id_cert = (fr_proto_bin){cert, sizeof cert};
    j.id_sig = (fr_proto_bin){sig, sizeof sig};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_proto_join_encode(&j, &sb);
    fr_proto_join d;
    fr_err err = {{0}};
    CHECK(fr_proto_join_decode(sb.data, sb.size, &d, &err) == FR_OK, "%s", err.msg);
    CHECK(d.has_data == 1 && d.id_pk.len == 32 && !memcmp(d.id_pk.p, pk, 32) &&
              d.id_cert.len == sizeof cert && !memcmp(d.id_cert.p, cert, sizeof cert) &&
              d.id_sig.len == sizeof sig && !memcmp(d.id_sig.p, sig, sizeof sig),
          "identity fields");
    /* all three or none */
    msgpack_sbuffer_clear(&sb);
    j.id_sig.len = 0;
    fr_proto_join_encode(&j, &sb);
    CHECK(fr_proto_join_decode(sb.data, sb.size, &d, &err) == FR_EFORMAT &&
              strstr(err.msg, "come together"),
          "two of three: %s", err.msg);
    /* a key of the wrong length */
    msgpack_sbuffer_clear(&sb);
    j.id_sig.len = sizeof sig;
    j.id_pk.len = 31;
    fr_proto_join_encode(&j, &sb);
    CHECK(fr_proto_join_decode(sb.data, sb.size, &d, &err) == FR_EFORMAT &&
              strstr(err.msg, "id_pk: 31 bytes"),
          "short key: %s", err.msg);
    /* a certificate over the cap */
    static uint8_t big[FR_PROTO_MAX_CERT + 1];
    msgpack_sbuffer_clear(&sb);
    j.id_pk.len = 32;
    j.id_cert = (fr_proto_bin){big, sizeof big};
    fr_proto_join_encode(&j, &sb);
    CHECK(fr_proto_join_decode(sb.data, sb.size, &d, &err) == FR_EFORMAT &&
              strstr(err.msg, "id_cert"),
          "big certificate: %s", err.msg);
    /* a task says whether its round is secure; absent means plain */
    msgpack_sbuffer_clear(&sb);
    fr_proto_task t = {
        .state = FR_TASK_OPEN, .round = 2, .batch = 1, .seq_len = 1, .negatives = 1, .secagg = 1};
    fr_proto_task_encode(&t, &sb);
    fr_proto_task td;
    CHECK(fr_proto_task_decode(sb.data, sb.size, &td, &err) == FR_OK && td.secagg == 1, "%s",
          err.msg);
    msgpack_sbuffer_destroy(&sb);
}

static void test_roundtrip(void)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_proto_join j = {.has_data = 1, .model_version = 3, .eps_spent = 1.5, .eps_budget = 8};
    snprintf(j.software, sizeof j.software, "fedrecall-node 1");
    fr_proto_join_encode(&j, &sb);
    fr_proto_join j2;
    fr_err err = {{0}};
    CHECK(fr_proto_join_decode(sb.data, sb.size, &j2, &err) == FR_OK, "%s", err.msg);
    CHECK(j2.has_data == 1 && j2.model_version == 3 && j2.eps_spent == 1.5 &&
              !strcmp(j2.software, "fedrecall-node 1"),
          "join fields");
    /* catalogue_mapped: optional, absent (not sent) at 0, the value otherwise */
    CHECK(j2.catalogue_mapped == 0 && !memmem(sb.data, sb.size, "catalogue_mapped", 16),
          "a join of a node on catalogue version 0 carries no catalogue_mapped");
    msgpack_sbuffer_clear(&sb);
    j.catalogue_mapped = 5;
    fr_proto_join_encode(&j, &sb);
    CHECK(fr_proto_join_decode(sb.data, sb.size, &j2, &err) == FR_OK && j2.catalogue_mapped == 5,
          "catalogue_mapped: %s", err.msg);
    msgpack_sbuffer_clear(&sb);
    fr_proto_task t = {.state = FR_TASK_OPEN,
                       .round = 7,
                       .model_version = 6,
                       .deadline_s = 12.5,
                       .retry_s = 2,
                       .local_epochs = 1,
                       .batch = 64,
                       .seq_len = 20,
                       .negatives = 32,
                       .lr = 0.01,
                       .max_update_norm = 5};
    snprintf(t.weighting, sizeof t.weighting, "users");
    fr_proto_task_encode(&t, &sb);
    fr_proto_task t2;
    CHECK(fr_proto_task_decode(sb.data, sb.size, &t2, &err) == FR_OK, "%s", err.msg);
    CHECK(t2.round == 7 && t2.batch == 64 && t2.lr == 0.01 && !strcmp(t2.weighting, "users"),
          "task fields");
    /* prox_mu: optional, not sent at 0 (nodes before it train without the term), the value
     * otherwise; a negative one is refused by name */
    CHECK(t2.prox_mu == 0 && !memmem(sb.data, sb.size, "prox_mu", 7),
          "a task without a proximal term carries no prox_mu");
    msgpack_sbuffer_clear(&sb);
    t.prox_mu = 0.25;
    fr_proto_task_encode(&t, &sb);
    CHECK(fr_proto_task_decode(sb.data, sb.size, &t2, &err) == FR_OK && t2.prox_mu == 0.25,
          "prox_mu: %s", err.msg);
    msgpack_sbuffer_clear(&sb);
    t.prox_mu = -1;
    fr_proto_task_encode(&t, &sb);
    CHECK(fr_proto_task_decode(sb.data, sb.size, &t2, &err) == FR_EFORMAT &&
              strstr(err.msg, "prox_mu"),
          "a negative prox_mu: %s", err.msg);
    t.prox_mu = 0;
    msgpack_sbuffer_clear(&sb);
    fr_proto_metrics m = {.model_version = 4,
                          .users = 50,
                          .hr10 = 0.5,
                          .ndcg10 = 0.25,
                          .recall10 = 0.5,
                          .loss = 4.5,
                          .eps_spent = 2};
    fr_proto_metrics_encode(&m, &sb);
    fr_proto_metrics m2;
    CHECK(fr_proto_metrics_decode(sb.data, sb.size, &m2, &err) == FR_OK, "%s", err.msg);
    CHECK(m2.hr10 == 0.5 && m2.users == 50, "metrics fields");
    msgpack_sbuffer_destroy(&sb);
}

/* An update body: the head, then n floats. */
static uint8_t *update_body(uint64_t n, uint64_t claim_n, size_t *len)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_proto_update u = {.round = 2,
                         .model_version = 1,
                         .users = 10,
                         .windows = 40,
                         .weight = 10,
                         .loss = 5,
                         .n = claim_n};
    fr_proto_update_head_encode(&u, &sb);
    *len = sb.size + 4 * n;
    uint8_t *b = malloc(*len);
    memcpy(b, sb.data, sb.size);
    for (uint64_t i = 0; i < n; i++) {
        float f = (float)i * 0.5f;
        memcpy(b + sb.size + 4 * i, &f, 4);
    }
    msgpack_sbuffer_destroy(&sb);
    return b;
}

static void test_update(void)
{
    size_t len;
    uint8_t *b = update_body(100, 100, &len);
    fr_proto_update u;
    fr_err err = {{0}};
    CHECK(fr_proto_update_decode(b, len, 100, &u, &err) == FR_OK, "%s", err.msg);
    float f;
    memcpy(&f, u.delta + 4 * 99, 4);
    CHECK(u.n == 100 && f == 49.5f && u.round == 2 && u.weight == 10, "update fields");
    CHECK(fr_proto_update_decode(b, len, 101, &u, &err) == FR_EINVAL &&
              strstr(err.msg, "the model has 101"),
          "size mismatch: %s", err.msg);
    CHECK(fr_proto_update_decode(b, len - 1, 100, &u, &err) == FR_EFORMAT, "truncated");
    free(b);
    /* the head claims more floats than the bin holds: the bin header says 4*200 */
    b = update_body(100, 200, &len);
    CHECK(fr_proto_update_decode(b, len, 200, &u, &err) == FR_EFORMAT, "short bin: %s", err.msg);
    free(b);
}

/* Hand-built bodies that each break one rule. */
static void test_refusals(void)
{
    struct {
        const char *what, *bytes;
        size_t len;
        const char *expect;
    } cases[] = {
        {"not a map", "\x91\x01", 2, "map"},
        {"unknown key", "\x81\xa1x\x01", 4, "x"},
        {"duplicate key", "\x82\xa1v\x01\xa1v\x01", 7, "v"},
        {"other version", "\x81\xa1v\x02", 4, "version 2"},
        {"trailing bytes", "\x81\xa1v\x01\x00", 5, "after"},
        {"missing keys", "\x81\xa1v\x01", 4, "has_data"},
        {"negative", "\x82\xa1v\x01\xa8has_data\xff", 14, "negative"},
        /* a join carries no counts: they are a node's weight, in the masked sum only */
        {"a count", "\x82\xa1v\x01\xa5users\x05", 11, "unknown key \"users\""},
        {"truncated", "\x82\xa1v\x01\xa5use", 8, ""},
        {"huge map", "\xdf\xff\xff\xff\xff", 5, "at most"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fr_proto_join j;
        fr_err err = {{0}};
        fr_status st = fr_proto_join_decode(cases[i].bytes, cases[i].len, &j, &err);
        CHECK(st == FR_EFORMAT || st == FR_EVERSION, "%s accepted", cases[i].what);
        CHECK(strstr(err.msg, cases[i].expect), "%s: message '%s' lacks '%s'", cases[i].what,
              err.msg, cases[i].expect);
    }
    /* a NaN and an over-long string in otherwise valid messages */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_proto_metrics m = {.model_version = 1, .hr10 = NAN};
    fr_proto_metrics_encode(&m, &sb);
    fr_proto_metrics m2;
    fr_err err = {{0}};
    CHECK(fr_proto_metrics_decode(sb.data, sb.size, &m2, &err) == FR_EFORMAT &&
              strstr(err.msg, "hr10"),
          "NaN: %s", err.msg);
    msgpack_sbuffer_destroy(&sb);
}

static void test_sign(void)
{
    char dir[] = "/tmp/fr_sign_XXXXXX", sk[256], pk[256];
    CHECK(mkdtemp(dir), "mkdtemp");
    snprintf(sk, sizeof sk, "%s/signing.key", dir);
    snprintf(pk, sizeof pk, "%s/signing.pub", dir);
    fr_sign_key k, k2;
    fr_err err = {{0}};
    CHECK(fr_sign_key_load_or_create(&k, sk, pk, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_sign_key_load_or_create(&k2, sk, pk, &err) == FR_OK, "%s", err.msg);
    CHECK(!memcmp(k.pub, k2.pub, 32), "reloaded key differs");
    uint8_t pub[32];
    CHECK(fr_sign_public_load(pk, pub, &err) == FR_OK && !memcmp(pub, k.pub, 32), "%s", err.msg);
    uint8_t data[1000], sig[64];
    for (int i = 0; i < 1000; i++)
        data[i] = (uint8_t)(i * 7);
    fr_sign_model(&k, 5, data, sizeof data, sig);
    CHECK(fr_sign_verify_model(pub, 5, data, sizeof data, sig, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_sign_verify_model(pub, 4, data, sizeof data, sig, &err) == FR_EINVAL,
          "older version accepted");
    data[500] ^= 1;
    CHECK(fr_sign_verify_model(pub, 5, data, sizeof data, sig, &err) == FR_EINVAL,
          "tampered model accepted");
    data[500] ^= 1;
    uint8_t other[32], other_sk[64];
    crypto_sign_keypair(other, other_sk);
    CHECK(fr_sign_verify_model(other, 5, data, sizeof data, sig, &err) == FR_EINVAL,
          "wrong key accepted");
    CHECK(fr_sign_public_load("zz", pub, &err) != FR_OK, "bad hex accepted");
    fr_sign_key_free(&k);
    fr_sign_key_free(&k2);
    fixture_rm(dir);
}

int main(void)
{
    RUN(test_roundtrip);
    RUN(test_join_identity);
    RUN(test_update);
    RUN(test_refusals);
    RUN(test_sign);
    return fr_test_end();
}
