/* Identity bindings: a node's Ed25519 key signed with its certificate's key verifies
 * for that node under the federation's CA, and fails for another name, another key,
 * another CA, a key that is not the certificate's, a tampered signature or bytes that
 * are not a certificate. The certificates are made here with OpenSSL. */
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "secagg/fr_identity.h"
#include "fr_test.h"
#include "fr_test_fixture.h"

static char dir[64];

static EVP_PKEY *new_key(void)
{
    return EVP_EC_gen("P-256");
}

/* A certificate for cn with key, signed by issuer_key (self-signed when issuer is NULL). */
static X509 *new_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, int ca)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)randombytes_uniform(1u << 30) + 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
    const char *bc = ca ? "critical,CA:TRUE" : "critical,CA:FALSE";
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, bc);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    if (!ca) {
        e = X509V3_EXT_conf_nid(NULL, &v3, NID_ext_key_usage, "clientAuth");
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    X509_sign(x, issuer_key, EVP_sha256());
    return x;
}

static void write_pem(const char *name, X509 *cert, EVP_PKEY *key)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (cert)
        PEM_write_X509(f, cert);
    else
        PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
}

static EVP_PKEY *ca_key, *other_ca_key, *alice_key, *bob_key, *eve_key;
static X509 *ca, *other_ca, *alice, *bob, *eve;

static void setup(void)
{
    ca_key = new_key();
    other_ca_key = new_key();
    alice_key = new_key();
    bob_key = new_key();
    eve_key = new_key();
    ca = new_cert("test-ca", ca_key, NULL, ca_key, 1);
    other_ca = new_cert("other-ca", other_ca_key, NULL, other_ca_key, 1);
    alice = new_cert("alice", alice_key, ca, ca_key, 0);
    bob = new_cert("bob", bob_key, ca, ca_key, 0);
    eve = new_cert("alice", eve_key, other_ca, other_ca_key, 0); /* alice's name, wrong CA */
    write_pem("ca.crt", ca, NULL);
    write_pem("alice.crt", alice, NULL);
    write_pem("alice.key", NULL, alice_key);
    write_pem("bob.key", NULL, bob_key);
    write_pem("eve.crt", eve, NULL);
    write_pem("eve.key", NULL, eve_key);
}

static void path(char *out, const char *name)
{
    snprintf(out, 128, "%s/%s", dir, name);
}

static void test_bind_and_verify(void)
{
    char crt[128], key[128], cap[128];
    path(crt, "alice.crt");
    path(key, "alice.key");
    path(cap, "ca.crt");
    fr_identity_ca fca;
    fr_identity_binding b;
    fr_err err = {{0}};
    uint8_t pk[FR_IDENTITY_PK_BYTES], other[FR_IDENTITY_PK_BYTES];
    randombytes_buf(pk, sizeof pk);
    randombytes_buf(other, sizeof other);
    CHECK(fr_identity_ca_init(&fca, cap, NULL, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_identity_bind(&b, crt, key, pk, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_identity_verify(&fca, b.cert, b.cert_len, "alice", pk, b.sig, b.sig_len, &err) ==
              FR_OK,
          "%s", err.msg);
    CHECK(fr_identity_verify(&fca, b.cert, b.cert_len, "bob", pk, b.sig, b.sig_len, &err) ==
                  FR_EINVAL &&
              strstr(err.msg, "not bob's"),
          "another name: %s", err.msg);
    CHECK(fr_identity_verify(&fca, b.cert, b.cert_len, "alice", other, b.sig, b.sig_len, &err) ==
                  FR_EINVAL &&
              strstr(err.msg, "does not verify"),
          "another key: %s", err.msg);
    b.sig[3] ^= 0x40;
    CHECK(fr_identity_verify(&fca, b.cert, b.cert_len, "alice", pk, b.sig, b.sig_len, &err) ==
              FR_EINVAL,
          "tampered signature verified");
    b.sig[3] ^= 0x40;
    CHECK(fr_identity_verify(&fca, b.cert, b.cert_len - 1, "alice", pk, b.sig, b.sig_len, &err) ==
              FR_EINVAL,
          "a cut certificate verified");
    uint8_t junk[64] = {0x30, 0x03, 1, 2, 3};
    CHECK(fr_identity_verify(&fca, junk, sizeof junk, "alice", pk, b.sig, b.sig_len, &err) ==
              FR_EINVAL,
          "junk verified");
    fr_identity_binding_free(&b);
    /* a certificate with alice's name from another CA, with a valid binding */
    char ecrt[128], ekey[128];
    path(ecrt, "eve.crt");
    path(ekey, "eve.key");
    CHECK(fr_identity_bind(&b, ecrt, ekey, pk, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_identity_verify(&fca, b.cert, b.cert_len, "alice", pk, b.sig, b.sig_len, &err) ==
                  FR_EINVAL &&
              strstr(err.msg, "certificate:"),
          "another CA: %s", err.msg);
    fr_identity_binding_free(&b);
    /* a key that is not the certificate's */
    char bkey[128];
    path(bkey, "bob.key");
    CHECK(fr_identity_bind(&b, crt, bkey, pk, &err) == FR_EINVAL &&
              strstr(err.msg, "does not belong"),
          "wrong key: %s", err.msg);
    char missing[128];
    path(missing, "missing.crt");
    CHECK(fr_identity_bind(&b, missing, key, pk, &err) == FR_EINVAL &&
              strstr(err.msg, "missing.crt"),
          "missing file: %s", err.msg);
    fr_identity_ca_free(&fca);
    CHECK(fr_identity_ca_init(&fca, missing, NULL, &err) == FR_EINVAL &&
              strstr(err.msg, "missing.crt"),
          "missing CA: %s", err.msg);
}

static void test_names(void)
{
    EVP_PKEY *k = new_key();
    const char *good[] = {"alice", "shop-a.eu", "n_1"};
    const char *bad[] = {"a/b", ".hidden", "x y", ""};
    char out[FR_IDENTITY_NAME];
    for (int i = 0; i < 3; i++) {
        X509 *x = new_cert(good[i], k, ca, ca_key, 0);
        CHECK(fr_identity_cert_name(x, out) == 0 && !strcmp(out, good[i]), "%s", good[i]);
        X509_free(x);
    }
    for (int i = 0; i < 4; i++) {
        X509 *x = new_cert(bad[i], k, ca, ca_key, 0);
        CHECK(fr_identity_cert_name(x, out) == -1, "'%s' accepted", bad[i]);
        X509_free(x);
    }
    EVP_PKEY_free(k);
}

/* alice's certificate as the CA would issue it with subject OU=ou (re-signed). */
static X509 *with_ou(const char *cn, EVP_PKEY *key, const char *ou)
{
    X509 *x = new_cert(cn, key, ca, ca_key, 0);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "OU", MBSTRING_ASC,
                               (const unsigned char *)ou, -1, 0, 0);
    X509_sign(x, ca_key, EVP_sha256());
    return x;
}

/* Only a node's certificate is ever a member: an operator's (OU=operator) or another
 * role's is refused by the identity check that the coordinator runs at join and
 * every node runs on each member of a round. */
static void test_roles(void)
{
    struct {
        const char *ou;
        fr_identity_role role;
        int member;
    } cases[] = {{NULL, FR_IDENTITY_ROLE_NODE, 1},
                 {"node", FR_IDENTITY_ROLE_NODE, 1},
                 {"operator", FR_IDENTITY_ROLE_OPERATOR, 0},
                 {"coordinator", FR_IDENTITY_ROLE_OTHER, 0}};
    char cap[128], crt[128], key[128];
    path(cap, "ca.crt");
    path(crt, "role.crt");
    path(key, "alice.key");
    fr_identity_ca fca;
    fr_err err = {{0}};
    uint8_t pk[FR_IDENTITY_PK_BYTES];
    randombytes_buf(pk, sizeof pk);
    CHECK(fr_identity_ca_init(&fca, cap, NULL, &err) == FR_OK, "%s", err.msg);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        X509 *x = cases[i].ou ? with_ou("ops", alice_key, cases[i].ou)
                              : new_cert("ops", alice_key, ca, ca_key, 0);
        CHECK(fr_identity_cert_role(x) == cases[i].role, "OU=%s: role %d", cases[i].ou,
              (int)fr_identity_cert_role(x));
        write_pem("role.crt", x, NULL);
        X509_free(x);
        fr_identity_binding b;
        CHECK(fr_identity_bind(&b, crt, key, pk, &err) == FR_OK, "%s", err.msg);
        fr_status st =
            fr_identity_verify(&fca, b.cert, b.cert_len, "ops", pk, b.sig, b.sig_len, &err);
        if (cases[i].member)
            CHECK(st == FR_OK, "OU=%s refused: %s", cases[i].ou, err.msg);
        else
            CHECK(st == FR_EINVAL && strstr(err.msg, "never a member"),
                  "OU=%s admitted as a member (%s)", cases[i].ou, err.msg);
        fr_identity_binding_free(&b);
    }
    fr_identity_ca_free(&fca);
}

int main(void)
{
    if (sodium_init() < 0 || !fixture_dir(dir, sizeof dir))
        return 1;
    setup();
    RUN(test_bind_and_verify);
    RUN(test_names);
    RUN(test_roles);
    X509_free(ca);
    X509_free(other_ca);
    X509_free(alice);
    X509_free(bob);
    X509_free(eve);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(other_ca_key);
    EVP_PKEY_free(alice_key);
    EVP_PKEY_free(bob_key);
    EVP_PKEY_free(eve_key);
    fixture_rm(dir);
    return fr_test_end();
}
