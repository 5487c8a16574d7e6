/* Ed25519 signatures over model files, and the key files they use (fr_sign.h). */
#include "fed/fr_sign.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fr_file.h"

static const char context[] = "fedrecall-model-v1"; /* signed with its NUL */
/* A catalogue version is signed under its own context, so that neither file can pass
 * for the other. */
static const char cat_context[] = "fedrecall-catalogue-v1";

/* The first line of a small text file, without its newline. */
static fr_status read_line(const char *path, char *buf, size_t cap, fr_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fr_fail(err, FR_EIO, "%s: %s", path, strerror(errno));
    char *r = fgets(buf, (int)cap, f);
    fclose(f);
    if (!r)
        return fr_fail(err, FR_EFORMAT, "%s: empty", path);
    buf[strcspn(buf, "\r\n")] = 0;
    return FR_OK;
}

fr_status fr_sign_key_load_or_create(fr_sign_key *k, const char *secret_path, const char *pub_path,
                                     fr_err *err)
{
    memset(k, 0, sizeof *k);
    if (sodium_init() < 0)
        return fr_fail(err, FR_EIO, "libsodium failed to initialise");
    k->secret = sodium_malloc(FR_SIGN_SECRET_BYTES);
    if (!k->secret)
        return fr_fail(err, FR_ENOMEM, "out of memory for a key");
    char *hex = sodium_malloc(2 * FR_SIGN_SECRET_BYTES + 8);
    if (!hex) {
        fr_sign_key_free(k);
        return fr_fail(err, FR_ENOMEM, "out of memory for a key");
    }
    fr_status st = FR_OK;
    if (access(secret_path, F_OK) == 0) {
        struct stat sb;
        if (stat(secret_path, &sb) == 0 && (sb.st_mode & 077))
            st = fr_fail(err, FR_EINVAL, "%s: readable by others (mode %03o); chmod 600 it",
                         secret_path, (unsigned)(sb.st_mode & 0777));
        else if ((st = read_line(secret_path, hex, 2 * FR_SIGN_SECRET_BYTES + 8, err)) == FR_OK &&
                 (st = fr_hex_decode(hex, k->secret, FR_SIGN_SECRET_BYTES, err)) != FR_OK)
            st = fr_fail(err, FR_EFORMAT, "%s: not a signing key (128 hex digits)", secret_path);
        if (st == FR_OK)
            crypto_sign_ed25519_sk_to_pk(k->pub, k->secret);
    } else {
        crypto_sign_keypair(k->pub, k->secret);
        fr_hex_encode(k->secret, FR_SIGN_SECRET_BYTES, hex);
        hex[2 * FR_SIGN_SECRET_BYTES] = '\n';
        hex[2 * FR_SIGN_SECRET_BYTES + 1] = 0;
        st = fr_file_write_atomic(secret_path, hex, strlen(hex), 0600, err);
    }
    sodium_free(hex);
    if (st == FR_OK) {
        char pub_hex[2 * FR_SIGN_PUBLIC_BYTES + 2];
        fr_hex_encode(k->pub, FR_SIGN_PUBLIC_BYTES, pub_hex);
        pub_hex[2 * FR_SIGN_PUBLIC_BYTES] = '\n';
        pub_hex[2 * FR_SIGN_PUBLIC_BYTES + 1] = 0;
        st = fr_file_write_atomic(pub_path, pub_hex, strlen(pub_hex), 0644, err);
    }
    if (st != FR_OK)
        fr_sign_key_free(k);
    return st;
}

void fr_sign_key_free(fr_sign_key *k)
{
    if (k->secret)
        sodium_free(k->secret);
    memset(k, 0, sizeof *k);
}

static void start_ctx(crypto_sign_state *s, const char *ctx, size_t ctx_len, uint64_t version,
                      const void *data, size_t len)
{
    uint8_t v[8];
    for (int i = 0; i < 8; i++)
        v[i] = (uint8_t)(version >> (8 * i));
    crypto_sign_init(s);
    crypto_sign_update(s, (const unsigned char *)ctx, ctx_len);
    crypto_sign_update(s, v, 8);
    crypto_sign_update(s, data, len);
}

/* Sign or verify under one context: the context keeps a catalogue's signature from
 * passing for a model's of the same version, and the reverse. */
static void sign_ctx(const fr_sign_key *k, const char *ctx, size_t ctx_len, uint64_t version,
                     const void *data, size_t len, uint8_t sig[FR_SIGN_BYTES])
{
    FR_ASSERT(k->secret);
    crypto_sign_state s;
    start_ctx(&s, ctx, ctx_len, version, data, len);
    crypto_sign_final_create(&s, sig, NULL, k->secret);
}

static fr_status verify_ctx(const uint8_t pub[FR_SIGN_PUBLIC_BYTES], const char *ctx,
                            size_t ctx_len, const char *what, uint64_t version, const void *data,
                            size_t len, const uint8_t sig[FR_SIGN_BYTES], fr_err *err)
{
    if (sodium_init() < 0)
        return fr_fail(err, FR_EIO, "libsodium failed to initialise");
    crypto_sign_state s;
    start_ctx(&s, ctx, ctx_len, version, data, len);
    if (crypto_sign_final_verify(&s, (unsigned char *)sig, pub) != 0)
        return fr_fail(err, FR_EINVAL,
                       "%s version %llu: signature does not verify with the coordinator's key",
                       what, (unsigned long long)version);
    return FR_OK;
}

void fr_sign_model(const fr_sign_key *k, uint64_t version, const void *data, size_t len,
                   uint8_t sig[FR_SIGN_BYTES])
{
    sign_ctx(k, context, sizeof context, version, data, len, sig);
}

fr_status fr_sign_verify_model(const uint8_t pub[FR_SIGN_PUBLIC_BYTES], uint64_t version,
                               const void *data, size_t len, const uint8_t sig[FR_SIGN_BYTES],
                               fr_err *err)
{
    return verify_ctx(pub, context, sizeof context, "model", version, data, len, sig, err);
}

void fr_sign_catalogue(const fr_sign_key *k, uint64_t version, const void *data, size_t len,
                       uint8_t sig[FR_SIGN_BYTES])
{
    sign_ctx(k, cat_context, sizeof cat_context, version, data, len, sig);
}

fr_status fr_sign_verify_catalogue(const uint8_t pub[FR_SIGN_PUBLIC_BYTES], uint64_t version,
                                   const void *data, size_t len, const uint8_t sig[FR_SIGN_BYTES],
                                   fr_err *err)
{
    return verify_ctx(pub, cat_context, sizeof cat_context, "catalogue", version, data, len, sig,
                      err);
}

fr_status fr_sign_public_load(const char *file_or_hex, uint8_t pub[FR_SIGN_PUBLIC_BYTES],
                              fr_err *err)
{
    char line[256];
    fr_err inner = {{0}};
    if (strlen(file_or_hex) == 2 * FR_SIGN_PUBLIC_BYTES &&
        fr_hex_decode(file_or_hex, pub, FR_SIGN_PUBLIC_BYTES, &inner) == FR_OK)
        return FR_OK;
    fr_status st = read_line(file_or_hex, line, sizeof line, err);
    if (st != FR_OK)
        return st;
    if (fr_hex_decode(line, pub, FR_SIGN_PUBLIC_BYTES, &inner) != FR_OK)
        return fr_fail(err, FR_EFORMAT, "%s: not a public signing key (64 hex digits): %s",
                       file_or_hex, inner.msg);
    return FR_OK;
}
