/* Signed global models. The coordinator signs every model version it publishes with
 * an Ed25519 key; a node loads a model only after checking the signature against the
 * coordinator's public key from its own configuration. The signature covers the
 * version number as well as the file, so a replayed older model cannot pass for a
 * newer version.
 *
 * Signed message: the context "fedrecall-model-v1" and a NUL, the version as uint64
 * little-endian, then the model file's bytes; signed with Ed25519ph (libsodium's
 * crypto_sign_init/update/final), which streams a file of any size through SHA-512.
 *
 * Key files, text: the secret key as 128 hex digits (64 bytes: seed and public key)
 * and a newline, mode 0600; the public key as 64 hex digits and a newline. */
#ifndef FR_SIGN_H
#define FR_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "util/fr_hex.h"
#include "util/fr_status.h"

#define FR_SIGN_PUBLIC_BYTES 32
#define FR_SIGN_SECRET_BYTES 64
#define FR_SIGN_BYTES 64

typedef struct fr_sign_key {
    unsigned char *secret; /* sodium_malloc'd, FR_SIGN_SECRET_BYTES; NULL = none */
    uint8_t pub[FR_SIGN_PUBLIC_BYTES];
} fr_sign_key;

/* Read the secret key at secret_path, or make one when the file does not exist
 * (written 0600 atomically); in both cases (re)write pub_path with its public key. */
FR_MUST fr_status fr_sign_key_load_or_create(fr_sign_key *k, const char *secret_path,
                                             const char *pub_path, fr_err *err);
void fr_sign_key_free(fr_sign_key *k);

void fr_sign_model(const fr_sign_key *k, uint64_t version, const void *data, size_t len,
                   uint8_t sig[FR_SIGN_BYTES]);

/* FR_EINVAL "signature does not verify" unless sig is k's signature of (version, data). */
FR_MUST fr_status fr_sign_verify_model(const uint8_t pub[FR_SIGN_PUBLIC_BYTES], uint64_t version,
                                       const void *data, size_t len,
                                       const uint8_t sig[FR_SIGN_BYTES], fr_err *err);

/* Catalogue versions (fed/fr_catver.h): the same scheme under the context
 * "fedrecall-catalogue-v1" and a NUL, over the catalogue version and the file. */
void fr_sign_catalogue(const fr_sign_key *k, uint64_t version, const void *data, size_t len,
                       uint8_t sig[FR_SIGN_BYTES]);
FR_MUST fr_status fr_sign_verify_catalogue(const uint8_t pub[FR_SIGN_PUBLIC_BYTES],
                                           uint64_t version, const void *data, size_t len,
                                           const uint8_t sig[FR_SIGN_BYTES], fr_err *err);

/* A public key from a file holding its hex, or from the hex itself. */
FR_MUST fr_status fr_sign_public_load(const char *file_or_hex, uint8_t pub[FR_SIGN_PUBLIC_BYTES],
                                      fr_err *err);

#endif
