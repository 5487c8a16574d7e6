/* Binding a node's Ed25519 secure-aggregation key to its certificate (fr_identity.h),
 * over OpenSSL's certificate verification and EVP signatures. */
#include "secagg/fr_identity.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static const char CONTEXT[] = "fedrecall-secagg-identity-v1";

static void message(uint8_t out[sizeof CONTEXT + FR_IDENTITY_PK_BYTES],
                    const uint8_t pk[FR_IDENTITY_PK_BYTES])
{
    memcpy(out, CONTEXT, sizeof CONTEXT); /* with its NUL */
    memcpy(out + sizeof CONTEXT, pk, FR_IDENTITY_PK_BYTES);
}

/* SHA-256 for the usual certificate keys; Ed25519 and Ed448 sign the message itself. */
static const EVP_MD *digest_for(EVP_PKEY *k)
{
    int id = EVP_PKEY_get_base_id(k);
    return id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448 ? NULL : EVP_sha256();
}

static const char *ssl_reason(void)
{
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    return e ? ERR_reason_error_string(e) : "unknown error";
}

int fr_identity_cert_name(const void *x509, char name[FR_IDENTITY_NAME])
{
    X509_NAME *subject = X509_get_subject_name((const X509 *)x509);
    int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (at < 0 || X509_NAME_get_index_by_NID(subject, NID_commonName, at) >= 0)
        return -1; /* none, or two that could be read either way */
    const ASN1_STRING *v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
    int type = ASN1_STRING_type(v);
    if (type != V_ASN1_UTF8STRING && type != V_ASN1_PRINTABLESTRING && type != V_ASN1_IA5STRING)
        return -1;
    const unsigned char *p = ASN1_STRING_get0_data(v);
    int n = ASN1_STRING_length(v);
    if (n < 1 || n > FR_IDENTITY_NAME - 1)
        return -1;
    for (int i = 0; i < n; i++) {
        unsigned char ch = p[i];
        int alnum =
            (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (!alnum && (i == 0 || (ch != '.' && ch != '_' && ch != '-')))
            return -1;
        name[i] = (char)ch;
    }
    name[n] = 0;
    return 0;
}

fr_identity_role fr_identity_cert_role(const void *x509)
{
    X509_NAME *subject = X509_get_subject_name((const X509 *)x509);
    fr_identity_role role = FR_IDENTITY_ROLE_NODE;
    for (int at = -1;
         (at = X509_NAME_get_index_by_NID(subject, NID_organizationalUnitName, at)) >= 0;) {
        const ASN1_STRING *v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
        const unsigned char *p = ASN1_STRING_get0_data(v);
        int n = ASN1_STRING_length(v);
        if (n == 8 && !memcmp(p, "operator", 8))
            return FR_IDENTITY_ROLE_OPERATOR;
        if (n != 4 || memcmp(p, "node", 4))
            role = FR_IDENTITY_ROLE_OTHER;
    }
    return role;
}

const char *fr_identity_role_str(fr_identity_role r)
{
    switch (r) {
    case FR_IDENTITY_ROLE_NODE: return "node";
    case FR_IDENTITY_ROLE_OPERATOR: return "operator";
    case FR_IDENTITY_ROLE_OTHER: break;
    }
    return "non-node";
}

fr_status fr_identity_ca_init(fr_identity_ca *ca, const char *ca_path, const char *crl_path,
                              fr_err *err)
{
    memset(ca, 0, sizeof *ca);
    X509_STORE *store = X509_STORE_new();
    X509_CRL *crl = NULL;
    BIO *bio = NULL;
    fr_status st = FR_OK;
    if (!store)
        return fr_fail(err, FR_ENOMEM, "identity: out of memory");
    if (X509_STORE_load_file(store, ca_path) != 1) {
        st = fr_fail(err, FR_EINVAL, "%s: cannot load the CA: %s", ca_path, ssl_reason());
        goto out;
    }
    if (crl_path && *crl_path) {
        if (!(bio = BIO_new_file(crl_path, "r"))) {
            st = fr_fail(err, FR_EIO, "%s: cannot open the CRL: %s", crl_path, strerror(errno));
            goto out;
        }
        int n = 0;
        while ((crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL))) {
            if (X509_STORE_add_crl(store, crl) != 1) {
                st = fr_fail(err, FR_EINVAL, "%s: cannot use CRL %d", crl_path, n + 1);
                goto out;
            }
            X509_CRL_free(crl);
            crl = NULL;
            n++;
        }
        ERR_clear_error(); /* the end of the file reads as an error */
        if (n == 0) {
            st = fr_fail(err, FR_EFORMAT, "%s: no CRL in the file", crl_path);
            goto out;
        }
        X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
    }
out:
    X509_CRL_free(crl);
    BIO_free(bio);
    if (st != FR_OK)
        X509_STORE_free(store);
    else
        ca->store = store;
    return st;
}

void fr_identity_ca_free(fr_identity_ca *ca)
{
    if (ca && ca->store)
        X509_STORE_free(ca->store);
    if (ca)
        ca->store = NULL;
}

fr_status fr_identity_bind(fr_identity_binding *b, const char *cert_path, const char *key_path,
                           const uint8_t pk[FR_IDENTITY_PK_BYTES], fr_err *err)
{
    memset(b, 0, sizeof *b);
    fr_status st = FR_OK;
    FILE *fc = NULL, *fk = NULL;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *md = NULL;
    uint8_t msg[sizeof CONTEXT + FR_IDENTITY_PK_BYTES];
    message(msg, pk);
    if (!(fc = fopen(cert_path, "r")) || !(cert = PEM_read_X509(fc, NULL, NULL, NULL))) {
        st = fr_fail(err, FR_EINVAL, "%s: cannot read the certificate: %s", cert_path,
                     fc ? ssl_reason() : strerror(errno));
        goto out;
    }
    if (!(fk = fopen(key_path, "r")) || !(key = PEM_read_PrivateKey(fk, NULL, NULL, NULL))) {
        st = fr_fail(err, FR_EINVAL, "%s: cannot read the private key: %s", key_path,
                     fk ? ssl_reason() : strerror(errno));
        goto out;
    }
    if (X509_check_private_key(cert, key) != 1) {
        ERR_clear_error();
        st = fr_fail(err, FR_EINVAL, "%s does not belong to the certificate %s", key_path,
                     cert_path);
        goto out;
    }
    int der_len = i2d_X509(cert, NULL);
    if (der_len <= 0 || der_len > FR_IDENTITY_MAX_CERT) {
        st = fr_fail(err, FR_EINVAL, "%s: a certificate of %d bytes (at most %d)", cert_path,
                     der_len, FR_IDENTITY_MAX_CERT);
        goto out;
    }
    if (!(b->cert = malloc((size_t)der_len))) {
        st = fr_fail(err, FR_ENOMEM, "identity: out of memory");
        goto out;
    }
    uint8_t *w = b->cert;
    b->cert_len = (size_t)i2d_X509(cert, &w);
    size_t sig_len = 0;
    if (!(md = EVP_MD_CTX_new()) || EVP_DigestSignInit(md, NULL, digest_for(key), NULL, key) != 1 ||
        EVP_DigestSign(md, NULL, &sig_len, msg, sizeof msg) != 1 || sig_len > sizeof b->sig ||
        EVP_DigestSign(md, b->sig, &sig_len, msg, sizeof msg) != 1) {
        st = fr_fail(err, FR_EINVAL, "%s: cannot sign with this key: %s", key_path, ssl_reason());
        goto out;
    }
    b->sig_len = sig_len;
out:
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    X509_free(cert);
    if (fc)
        fclose(fc);
    if (fk)
        fclose(fk);
    if (st != FR_OK)
        fr_identity_binding_free(b);
    return st;
}

void fr_identity_binding_free(fr_identity_binding *b)
{
    if (!b)
        return;
    free(b->cert);
    memset(b, 0, sizeof *b);
}

fr_status fr_identity_verify(const fr_identity_ca *ca, const uint8_t *cert_der, size_t cert_len,
                             const char *name, const uint8_t pk[FR_IDENTITY_PK_BYTES],
                             const uint8_t *sig, size_t sig_len, fr_err *err)
{
    fr_status st = FR_OK;
    X509 *cert = NULL;
    X509_STORE_CTX *x = NULL;
    EVP_MD_CTX *md = NULL;
    char cn[FR_IDENTITY_NAME];
    uint8_t msg[sizeof CONTEXT + FR_IDENTITY_PK_BYTES];
    message(msg, pk);
    const unsigned char *p = cert_der;
    if (cert_len == 0 || cert_len > FR_IDENTITY_MAX_CERT ||
        !(cert = d2i_X509(NULL, &p, (long)cert_len)) || p != cert_der + cert_len) {
        ERR_clear_error();
        st = fr_fail(err, FR_EINVAL, "identity of %s: not one DER certificate", name);
        goto out;
    }
    if (fr_identity_cert_name(cert, cn) != 0 || strcmp(cn, name)) {
        st = fr_fail(err, FR_EINVAL, "identity of %s: the certificate is not %s's", name, name);
        goto out;
    }
    fr_identity_role role = fr_identity_cert_role(cert);
    if (role != FR_IDENTITY_ROLE_NODE) {
        st = fr_fail(err, FR_EINVAL, "identity of %s: an %s certificate is never a member", name,
                     fr_identity_role_str(role));
        goto out;
    }
    if (!(x = X509_STORE_CTX_new()) || X509_STORE_CTX_init(x, ca->store, cert, NULL) != 1 ||
        X509_STORE_CTX_set_purpose(x, X509_PURPOSE_SSL_CLIENT) != 1) {
        st = fr_fail(err, FR_ENOMEM, "identity of %s: %s", name, ssl_reason());
        goto out;
    }
    if (X509_verify_cert(x) != 1) {
        st = fr_fail(err, FR_EINVAL, "identity of %s: certificate: %s", name,
                     X509_verify_cert_error_string(X509_STORE_CTX_get_error(x)));
        ERR_clear_error();
        goto out;
    }
    EVP_PKEY *key = X509_get0_pubkey(cert);
    if (!key || !(md = EVP_MD_CTX_new()) ||
        EVP_DigestVerifyInit(md, NULL, digest_for(key), NULL, key) != 1 ||
        EVP_DigestVerify(md, sig, sig_len, msg, sizeof msg) != 1) {
        ERR_clear_error();
        st = fr_fail(err, FR_EINVAL,
                     "identity of %s: the signature binding its key does not verify", name);
        goto out;
    }
out:
    EVP_MD_CTX_free(md);
    X509_STORE_CTX_free(x);
    X509_free(cert);
    return st;
}
