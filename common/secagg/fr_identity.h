/* A node's secure-aggregation identity, bound to its federation certificate.
 *
 * Each node keeps a long-term Ed25519 key (STATE_DIR/identity.key) that signs its
 * per-round secure-aggregation keys (fr_secagg.h). Peers must be sure that the Ed25519
 * public key they are given for node "alice" is alice's, and not one the coordinator
 * made up to sit in the middle. So the node signs its Ed25519 public key with the
 * private key of its TLS certificate, and sends the certificate and that signature
 * with its join; the coordinator relays all three to the other nodes of a round, and
 * each node checks the certificate against the federation CA (and CRL), its name
 * against the name it is listed under, and the signature with the certificate's key.
 * A coordinator can then substitute a key only with a certificate the CA issued.
 *
 * The signed message is the context "fedrecall-secagg-identity-v1" and its NUL,
 * followed by the 32-byte Ed25519 public key; the signature is the certificate key's
 * (ECDSA or RSA over SHA-256, Ed25519 as is) in its usual DER/raw form. */
#ifndef FR_IDENTITY_H
#define FR_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "util/fr_status.h"

#define FR_IDENTITY_PK_BYTES 32
#define FR_IDENTITY_NAME 64
#define FR_IDENTITY_MAX_CERT 8192
#define FR_IDENTITY_MAX_SIG 256

/* The CA (and optional CRL) that certificates are checked against. */
typedef struct fr_identity_ca {
    void *store; /* X509_STORE */
} fr_identity_ca;

FR_MUST fr_status fr_identity_ca_init(fr_identity_ca *ca, const char *ca_path, const char *crl_path,
                                      fr_err *err);
void fr_identity_ca_free(fr_identity_ca *ca);

/* What a node sends: its certificate (DER) and the binding signature. */
typedef struct fr_identity_binding {
    uint8_t *cert; /* malloc'd DER */
    size_t cert_len;
    uint8_t sig[FR_IDENTITY_MAX_SIG];
    size_t sig_len;
} fr_identity_binding;

/* Sign pk with the private key in key_path (PEM) and read the certificate in
 * cert_path (PEM); FR_EINVAL when the key does not belong to the certificate. */
FR_MUST fr_status fr_identity_bind(fr_identity_binding *b, const char *cert_path,
                                   const char *key_path, const uint8_t pk[FR_IDENTITY_PK_BYTES],
                                   fr_err *err);
void fr_identity_binding_free(fr_identity_binding *b);

/* FR_OK when cert (DER) verifies against ca as a client certificate, its subject name
 * is name, its role is a node's (fr_identity_cert_role), and sig is its key's signature
 * binding pk; FR_EINVAL naming what failed. */
FR_MUST fr_status fr_identity_verify(const fr_identity_ca *ca, const uint8_t *cert, size_t cert_len,
                                     const char *name, const uint8_t pk[FR_IDENTITY_PK_BYTES],
                                     const uint8_t *sig, size_t sig_len, fr_err *err);

/* The subject CN of an X509 certificate (an X509 *) into name: 0 when it is one
 * name of 1..63 characters [A-Za-z0-9] then [A-Za-z0-9._-], -1 otherwise (none, two,
 * or characters that could be misread in a path or a log). */
int fr_identity_cert_name(const void *x509, char name[FR_IDENTITY_NAME]);

/* The role a certificate carries in its subject's OU (certs/fedrecall-ca issues
 * OU=node, OU=operator, OU=coordinator). Only a node's certificate can be a member of a
 * round: fr_identity_verify refuses the others, so that an operator or coordinator
 * certificate of the federation's CA never counts as a partner. */
typedef enum fr_identity_role {
    FR_IDENTITY_ROLE_NODE = 0, /* OU=node, or no OU at all (certificates from before roles) */
    FR_IDENTITY_ROLE_OPERATOR, /* an OU=operator */
    FR_IDENTITY_ROLE_OTHER,    /* any other OU (coordinator, ...) */
} fr_identity_role;

/* The role of an X509 certificate (an X509 *): OPERATOR when any OU is "operator",
 * else OTHER when any OU is not "node", else NODE. */
fr_identity_role fr_identity_cert_role(const void *x509);
/* "node", "operator" or "non-node". */
const char *fr_identity_role_str(fr_identity_role r);

#endif
