/* libFuzzer target: the signature check a node makes on a downloaded global model
 * before it decodes it: the X-Fr-Signature header's hex (fr_hex_decode), then
 * fr_sign_verify_model over the version header and the body.
 *
 * Input layout: the version header's text, a newline, the signature header's text, a
 * newline, then the body. The coordinator's key is fixed (derived from KEY_SEED), so
 * that seeds signed with it reach the accepting path; when the body has 32 bytes or
 * more, its first 32 are also tried as a public key, which need not be a valid curve
 * point. The hex parser must accept exactly 2n hex digits and give back bytes whose
 * encoding is the input in lower case; a signature that verifies must stop verifying
 * for any other version or body. */
#include <ctype.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fed/fr_sign.h"
#include "fr_fuzz_check.h"

/* Headers longer than this are cut: a real one is at most 128 hex digits. */
#define HEADER_MAX 300
#define KEY_SEED "fedrecall fuzz coordinator key.."
_Static_assert(sizeof KEY_SEED - 1 == crypto_sign_SEEDBYTES, "KEY_SEED is one Ed25519 seed");

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The bytes up to the next newline (or the end) as a string cut to HEADER_MAX; *p
 * and *n move past them and their newline. */
static void header(const uint8_t **p, size_t *n, char out[HEADER_MAX + 1])
{
    const uint8_t *nl = memchr(*p, '\n', *n);
    size_t k = nl ? (size_t)(nl - *p) : *n;
    size_t keep = k < HEADER_MAX ? k : HEADER_MAX;
    memcpy(out, *p, keep);
    out[keep] = 0;
    k += nl != NULL;
    *p += k;
    *n -= k;
}

static void check_hex(const char *hex, size_t n)
{
    uint8_t out[HEADER_MAX];
    char back[2 * HEADER_MAX + 1];
    fr_err err = {{0}};
    fr_status st = fr_hex_decode(hex, out, n, &err);
    if (st != FR_OK) {
        need(st == FR_EFORMAT && err.msg[0] != 0, "bad hex is a format error that says why");
        return;
    }
    need(strlen(hex) == 2 * n, "exactly 2n digits accepted");
    fr_hex_encode(out, n, back);
    for (size_t i = 0; i < 2 * n; i++)
        need(back[i] == tolower((unsigned char)hex[i]), "hex survives a round trip");
}

static void check_verify(const uint8_t pub[FR_SIGN_PUBLIC_BYTES], uint64_t version,
                         const uint8_t *body, size_t len, const uint8_t sig[FR_SIGN_BYTES])
{
    fr_err err = {{0}};
    fr_status st = fr_sign_verify_model(pub, version, body, len, sig, &err);
    if (st != FR_OK) {
        need(st == FR_EINVAL && err.msg[0] != 0, "a bad signature is refused with a reason");
        return;
    }
    need(fr_sign_verify_model(pub, version ^ 1, body, len, sig, &err) != FR_OK,
         "a signature binds the version");
    if (len) {
        uint8_t *other = malloc(len);
        need(other != NULL, "memory for a tampered body");
        memcpy(other, body, len);
        other[len - 1] ^= 1;
        need(fr_sign_verify_model(pub, version, other, len, sig, &err) != FR_OK,
             "a signature binds the body");
        free(other);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t pub[crypto_sign_PUBLICKEYBYTES];
    static int ready;
    if (!ready) {
        uint8_t sk[crypto_sign_SECRETKEYBYTES];
        need(sodium_init() >= 0, "libsodium starts");
        crypto_sign_seed_keypair(pub, sk, (const unsigned char *)KEY_SEED);
        ready = 1;
    }
    char vh[HEADER_MAX + 1], sh[HEADER_MAX + 1];
    header(&data, &size, vh);
    header(&data, &size, sh);
    check_hex(sh, FR_SIGN_BYTES);
    check_hex(sh, FR_SIGN_PUBLIC_BYTES);
    check_hex(sh, strlen(sh) / 2);

    /* As the node does: a decimal version, and nothing is verified without one. */
    char *end = NULL;
    long version = strtol(vh, &end, 10);
    uint8_t sig[FR_SIGN_BYTES];
    fr_err err = {{0}};
    if (*end || version < 0 || fr_hex_decode(sh, sig, FR_SIGN_BYTES, &err) != FR_OK)
        return 0;
    check_verify(pub, (uint64_t)version, data, size, sig);
    if (size >= FR_SIGN_PUBLIC_BYTES)
        check_verify(data, (uint64_t)version, data, size, sig);
    return 0;
}
