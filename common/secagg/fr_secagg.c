/* Secure aggregation: the primitives both ends share (fr_secagg.h) — the round's
 * settings, the pairwise key derivation, the share ciphertexts, the mask expansion and
 * the signed advertisement. Each binds the round, so nothing made for one round is of
 * use in another. */
#include "secagg/fr_secagg.h"

#include <sodium.h>
#include <string.h>

static const char enc_context[] = "fedrecall-secagg-enc-v1"; /* hashed with its NUL */
static const char mask_context[] = "fedrecall-secagg-mask-v1";
static const char advert_context[] = "fedrecall-secagg-advertise-v2";

fr_status fr_secagg_params_check(const fr_secagg_params *p, fr_err *err)
{
    if (p->n < 2 || p->n > FR_SECAGG_MAX_NODES)
        return fr_fail(err, FR_EINVAL, "secagg: n = %d nodes, must be 2..%d", p->n,
                       FR_SECAGG_MAX_NODES);
    /* 2t > n: no two disjoint sets of t nodes exist, so a coordinator cannot gather t
     * shares of b_v from one and t shares of s_sk_v from another */
    if (p->t > p->n || 2 * p->t <= p->n)
        return fr_fail(err, FR_EINVAL, "secagg: threshold t = %d, must be in (n/2, n] = (%d/2, %d]",
                       p->t, p->n, p->n);
    if (p->m < 1 || p->m > FR_SECAGG_MAX_M)
        return fr_fail(err, FR_EINVAL, "secagg: m = %u coordinates, must be 1..%u", p->m,
                       FR_SECAGG_MAX_M);
    if (sodium_init() < 0)
        return fr_fail(err, FR_EIO, "secagg: libsodium failed to initialise");
    return FR_OK;
}

fr_status fr_secagg_floor_check(const fr_secagg_params *p, int min_members, double min_ratio,
                                fr_err *err)
{
    int min_n = min_members > FR_SECAGG_MIN_MEMBERS ? min_members : FR_SECAGG_MIN_MEMBERS;
    if (p->n < min_n)
        return fr_fail(err, FR_EINVAL,
                       "secagg round %u: %d members, this node takes part with %d at least",
                       p->round, p->n, min_n);
    /* 3t > 2n in integers: the default floor is exact */
    if (3 * p->t <= 2 * p->n || (min_ratio > 0 && (double)p->t <= min_ratio * p->n))
        return fr_fail(err, FR_EINVAL,
                       "secagg round %u: threshold %d of %d members, this node needs more than "
                       "%.4g of them",
                       p->round, p->t, p->n, min_ratio > 2.0 / 3 ? min_ratio : 2.0 / 3);
    return FR_OK;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

fr_status fr_secagg_shared_key(uint8_t out[FR_SECAGG_KEY_BYTES], fr_secagg_purpose purpose,
                               uint32_t round, int me, const uint8_t my_sk[FR_SECAGG_KEY_BYTES],
                               const uint8_t my_pk[FR_SECAGG_KEY_BYTES], int peer,
                               const uint8_t peer_pk[FR_SECAGG_KEY_BYTES], fr_err *err)
{
    FR_ASSERT(me != peer && me >= 1 && me <= 255 && peer >= 1 && peer <= 255);
    uint8_t dh[crypto_scalarmult_BYTES];
    if (crypto_scalarmult(dh, my_sk, peer_pk) != 0) {
        sodium_memzero(dh, sizeof dh);
        return fr_fail(err, FR_EINVAL, "secagg round %u: node %d's %s key is a low-order point",
                       round, peer, purpose == FR_SECAGG_KEY_ENC ? "encryption" : "mask");
    }
    /* Both ends hash the same bytes: the lower id and its key first. Hashing the public
     * keys along with the X25519 output ties the key to this exchange (as crypto_kx
     * does), the round and purpose keep the keys of different uses apart. */
    const uint8_t *lo_pk = me < peer ? my_pk : peer_pk, *hi_pk = me < peer ? peer_pk : my_pk;
    uint8_t head[4 + 2];
    put_le32(head, round);
    head[4] = (uint8_t)(me < peer ? me : peer);
    head[5] = (uint8_t)(me < peer ? peer : me);
    const char *ctx = purpose == FR_SECAGG_KEY_ENC ? enc_context : mask_context;
    size_t ctx_len = purpose == FR_SECAGG_KEY_ENC ? sizeof enc_context : sizeof mask_context;
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, FR_SECAGG_KEY_BYTES);
    crypto_generichash_update(&h, (const unsigned char *)ctx, ctx_len);
    crypto_generichash_update(&h, head, sizeof head);
    crypto_generichash_update(&h, lo_pk, FR_SECAGG_KEY_BYTES);
    crypto_generichash_update(&h, hi_pk, FR_SECAGG_KEY_BYTES);
    crypto_generichash_update(&h, dh, sizeof dh);
    crypto_generichash_final(&h, out, FR_SECAGG_KEY_BYTES);
    sodium_memzero(dh, sizeof dh);
    sodium_memzero(&h, sizeof h);
    return FR_OK;
}

/* version || round (LE) || from || to */
static void share_ad(uint8_t ad[7], uint32_t round, int from, int to)
{
    ad[0] = FR_SECAGG_VERSION;
    put_le32(ad + 1, round);
    ad[5] = (uint8_t)from;
    ad[6] = (uint8_t)to;
}

void fr_secagg_seal(uint8_t ct[FR_SECAGG_CT_BYTES], const uint8_t key[FR_SECAGG_KEY_BYTES],
                    uint32_t round, int from, int to, const uint8_t s_share[FR_SECAGG_SECRET_BYTES],
                    const uint8_t b_share[FR_SECAGG_SECRET_BYTES])
{
    uint8_t plain[FR_SECAGG_PLAIN_BYTES], ad[7];
    plain[0] = (uint8_t)from;
    plain[1] = (uint8_t)to;
    memcpy(plain + 2, s_share, FR_SECAGG_SECRET_BYTES);
    memcpy(plain + 2 + FR_SECAGG_SECRET_BYTES, b_share, FR_SECAGG_SECRET_BYTES);
    share_ad(ad, round, from, to);
    /* u -> v and v -> u use the same key: a random 24-byte nonce keeps them apart */
    randombytes_buf(ct, FR_SECAGG_NONCE_BYTES);
    unsigned long long clen;
    crypto_aead_xchacha20poly1305_ietf_encrypt(ct + FR_SECAGG_NONCE_BYTES, &clen, plain,
                                               sizeof plain, ad, sizeof ad, NULL, ct, key);
    FR_ASSERT(clen == FR_SECAGG_PLAIN_BYTES + FR_SECAGG_TAG_BYTES);
    sodium_memzero(plain, sizeof plain);
}

fr_status fr_secagg_open(const uint8_t ct[FR_SECAGG_CT_BYTES],
                         const uint8_t key[FR_SECAGG_KEY_BYTES], uint32_t round, int from, int to,
                         uint8_t s_share[FR_SECAGG_SECRET_BYTES],
                         uint8_t b_share[FR_SECAGG_SECRET_BYTES], fr_err *err)
{
    uint8_t plain[FR_SECAGG_PLAIN_BYTES], ad[7];
    share_ad(ad, round, from, to);
    unsigned long long plen;
    fr_status st = FR_OK;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &plen, NULL, ct + FR_SECAGG_NONCE_BYTES,
                                                   FR_SECAGG_CT_BYTES - FR_SECAGG_NONCE_BYTES, ad,
                                                   sizeof ad, ct, key) != 0)
        st = fr_fail(err, FR_EINVAL,
                     "secagg round %u: the shares from node %d to node %d do not decrypt "
                     "(another round, pair or key, or altered)",
                     round, from, to);
    else if (plen != FR_SECAGG_PLAIN_BYTES || plain[0] != from || plain[1] != to)
        st = fr_fail(err, FR_EINVAL,
                     "secagg round %u: the shares from node %d to node %d name another pair", round,
                     from, to);
    if (st == FR_OK) {
        memcpy(s_share, plain + 2, FR_SECAGG_SECRET_BYTES);
        memcpy(b_share, plain + 2 + FR_SECAGG_SECRET_BYTES, FR_SECAGG_SECRET_BYTES);
    }
    sodium_memzero(plain, sizeof plain);
    return st;
}

/* 1024 coordinates of stream at a time: 64 ChaCha20 blocks. */
#define CHUNK 1024

void fr_secagg_mask_add(uint32_t *y, uint32_t m, const uint8_t seed[FR_SECAGG_KEY_BYTES],
                        fr_secagg_prg kind, uint32_t round, int negate)
{
    uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {0};
    memcpy(nonce, kind == FR_SECAGG_PRG_SELF ? "self" : "pair", 4);
    put_le32(nonce + 4, round);
    uint8_t buf[4 * CHUNK];
    uint32_t block = 0;
    for (uint32_t i = 0; i < m; i += CHUNK) {
        uint32_t k = m - i < CHUNK ? m - i : CHUNK;
        memset(buf, 0, 4 * (size_t)k);
        crypto_stream_chacha20_ietf_xor_ic(buf, buf, 4 * (size_t)k, nonce, block, seed);
        block += 4 * CHUNK / 64;
        for (uint32_t j = 0; j < k; j++) {
            const uint8_t *b = buf + 4 * j;
            uint32_t r =
                (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
            y[i + j] = negate ? y[i + j] - r : y[i + j] + r;
        }
    }
    sodium_memzero(buf, sizeof buf);
}

#define ADVERT_BYTES (sizeof advert_context + 5 + FR_SECAGG_HASH_BYTES + 2 * FR_SECAGG_KEY_BYTES)

static void advert_bytes(uint8_t msg[ADVERT_BYTES], uint32_t round, int id, const uint8_t *setup,
                         const uint8_t *c_pk, const uint8_t *s_pk)
{
    memcpy(msg, advert_context, sizeof advert_context);
    uint8_t *p = msg + sizeof advert_context;
    put_le32(p, round);
    p[4] = (uint8_t)id;
    memcpy(p + 5, setup, FR_SECAGG_HASH_BYTES);
    p += 5 + FR_SECAGG_HASH_BYTES;
    memcpy(p, c_pk, FR_SECAGG_KEY_BYTES);
    memcpy(p + FR_SECAGG_KEY_BYTES, s_pk, FR_SECAGG_KEY_BYTES);
}

void fr_secagg_advert_sign(uint8_t sig[FR_SECAGG_SIG_BYTES],
                           const uint8_t id_sk[FR_SECAGG_ID_SECRET_BYTES], uint32_t round, int id,
                           const uint8_t setup_hash[FR_SECAGG_HASH_BYTES],
                           const uint8_t c_pk[FR_SECAGG_KEY_BYTES],
                           const uint8_t s_pk[FR_SECAGG_KEY_BYTES])
{
    uint8_t msg[ADVERT_BYTES];
    advert_bytes(msg, round, id, setup_hash, c_pk, s_pk);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, id_sk);
}

fr_status fr_secagg_advert_verify(const uint8_t sig[FR_SECAGG_SIG_BYTES],
                                  const uint8_t id_pk[FR_SECAGG_ID_PUBLIC_BYTES], uint32_t round,
                                  int id, const uint8_t setup_hash[FR_SECAGG_HASH_BYTES],
                                  const uint8_t c_pk[FR_SECAGG_KEY_BYTES],
                                  const uint8_t s_pk[FR_SECAGG_KEY_BYTES], fr_err *err)
{
    uint8_t msg[ADVERT_BYTES];
    advert_bytes(msg, round, id, setup_hash, c_pk, s_pk);
    if (crypto_sign_verify_detached(sig, msg, sizeof msg, id_pk) != 0)
        return fr_fail(err, FR_EINVAL,
                       "secagg round %u: node %d's advertised keys are not signed by its "
                       "identity key for this setup",
                       round, id);
    return FR_OK;
}
