/* Secure aggregation: the coordinator learns the sum of the nodes' update vectors and
 * nothing else about any one of them (Bonawitz et al., CCS 2017, "Practical Secure
 * Aggregation for Privacy-Preserving Machine Learning", with dropouts, signed keys and
 * the consistency check of its actively secure variant). docs/secagg.md describes the protocol, the
 * messages and the encoding; docs/security.md what it protects against and what it does not.
 *
 * The module is transport-independent: a node's fr_secagg_client and the coordinator's
 * fr_secagg_server turn the messages they receive (msgpack bodies) into the messages they
 * send (msgpack_sbuffer), and the caller moves them. One client and one server serve one
 * round; a new round starts from fresh ones (fresh keys, fresh seeds).
 *
 *   node u                            coordinator
 *   advertise        ------------->   add_advertise          (U1)
 *                    <-------------   advertise_list
 *   share            ------------->   add_shares             (U2)
 *                    <-------------   shares_for(u)
 *   masked_input     ------------->   add_masked_input       (U3)
 *                    <-------------   check_request: U3
 *   check: sig(U3)   ------------->   add_check              (U4)
 *                    <-------------   unmask_request: U3, U2 \ U3, >= t sigs
 *   unmask           ------------->   add_unmask_response
 *                                     finish: the sum over U3
 *
 * Nodes have ids 1..n with n <= 255 (a share's x coordinate in GF(2^8) is the holder's
 * id). The protocol needs n/2 < t <= n (fr_secagg_params_check): a round needs t nodes
 * at every step, so it survives up to n - t dropouts. A node holds every round to a
 * stricter floor (fr_secagg_floor_check), that of the paper's actively secure variant:
 * n >= 3 and t > 2n/3, so that a coordinator helped by fewer than n/3 colluding members
 * cannot get t signatures over two different U3s. */
#ifndef FR_SECAGG_H
#define FR_SECAGG_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "util/fr_status.h"

#define FR_SECAGG_VERSION 1 /* "v" of every message and the AEAD data */
#define FR_SECAGG_MAX_NODES 255
#define FR_SECAGG_MAX_M (1u << 28)   /* coordinates: 4m bytes must fit a msgpack bin */
#define FR_SECAGG_KEY_BYTES 32       /* X25519 keys, seeds, shared keys */
#define FR_SECAGG_ID_PUBLIC_BYTES 32 /* Ed25519 identity public key */
#define FR_SECAGG_ID_SECRET_BYTES 64 /* Ed25519 identity secret key (seed and public key) */
#define FR_SECAGG_SIG_BYTES 64
#define FR_SECAGG_SECRET_BYTES 32 /* a Shamir-shared secret, and each share's y */
#define FR_SECAGG_HASH_BYTES 32   /* BLAKE2b-256 of the round's setup */
/* A share ciphertext: XChaCha20-Poly1305 of (from, to, share of s_sk, share of b) with
 * its random nonce in front and the tag behind. */
#define FR_SECAGG_PLAIN_BYTES (2 + 2 * FR_SECAGG_SECRET_BYTES)
#define FR_SECAGG_NONCE_BYTES 24
#define FR_SECAGG_TAG_BYTES 16
#define FR_SECAGG_CT_BYTES (FR_SECAGG_NONCE_BYTES + FR_SECAGG_PLAIN_BYTES + FR_SECAGG_TAG_BYTES)

/* One round's public settings, the same at every node and the coordinator. */
typedef struct fr_secagg_params {
    uint32_t round; /* bound into every message, signature, key and ciphertext */
    int n;          /* nodes, ids 1..n; 2..255 */
    int t;          /* threshold: n/2 < t <= n */
    uint32_t m;     /* coordinates of the vector; 1..FR_SECAGG_MAX_M */
    /* BLAKE2b-256 of the round's whole setup as this end received or sent it
     * (fr_secagg_setup_hash): signed into every advertisement and consistency
     * signature, so that members shown different setups refuse each other. All zero
     * when the caller has no setup message (the protocol's own tests). */
    uint8_t setup_hash[FR_SECAGG_HASH_BYTES];
} fr_secagg_params;

/* FR_EINVAL naming the first setting out of range. */
FR_MUST fr_status fr_secagg_params_check(const fr_secagg_params *p, fr_err *err);

#define FR_SECAGG_MIN_MEMBERS 3 /* the node's floor on n */
/* The node's floor on a round (Bonawitz et al. 2017, section 4): n >= max(3,
 * min_members) and t > max(2/3, min_ratio) * n. min_members and min_ratio are the
 * node's own settings (0 for none): they can only raise the floor. FR_EINVAL naming
 * what falls short. fr_secagg_client_init applies it with the defaults. */
FR_MUST fr_status fr_secagg_floor_check(const fr_secagg_params *p, int min_members,
                                        double min_ratio, fr_err *err);

/* ---- Shamir secret sharing over GF(2^8) (fr_secagg_shamir.c) ----
 * A 32-byte secret is shared byte by byte with a random polynomial of degree t - 1 over
 * GF(2^8) (the AES field, x^8 + x^4 + x^3 + x + 1); the share for x (a node id, 1..255)
 * is the 32 values f_i(x). Any t shares give the secret back by Lagrange interpolation at
 * 0; fewer give a value independent of it. Arithmetic on secret bytes is branch-free and
 * uses no tables. */

/* shares (k x 32 bytes) for the k distinct non-zero xs, threshold t (1 <= t <= k). */
FR_MUST fr_status fr_secagg_shamir_split(const uint8_t secret[FR_SECAGG_SECRET_BYTES], int t,
                                         const uint8_t *xs, int k, uint8_t *shares, fr_err *err);
/* The secret from k shares: shares[j] (32 bytes) is the share for xs[j]. The result is
 * the interpolation of the k points at 0: the secret when k >= t, an unrelated value
 * when k < t. FR_EINVAL for a zero or repeated x. */
FR_MUST fr_status fr_secagg_shamir_combine(const uint8_t *xs, const uint8_t *const *shares, int k,
                                           uint8_t out[FR_SECAGG_SECRET_BYTES], fr_err *err);

/* ---- keys, ciphertexts and masks shared by both ends (fr_secagg.c) ---- */

typedef enum fr_secagg_purpose {
    FR_SECAGG_KEY_ENC = 1,  /* from the c keys: encrypts the shares u sends v */
    FR_SECAGG_KEY_MASK = 2, /* from the s keys: the pairwise mask seed s_uv */
} fr_secagg_purpose;

/* The key nodes me and peer share for purpose in round: BLAKE2b-256 of a context naming
 * the purpose, the round, both ids and both public keys in id order, and
 * X25519(my_sk, peer_pk); the same at both ends. FR_EINVAL when peer_pk is a low-order
 * point (X25519 gives zero). */
FR_MUST fr_status fr_secagg_shared_key(uint8_t out[FR_SECAGG_KEY_BYTES], fr_secagg_purpose purpose,
                                       uint32_t round, int me,
                                       const uint8_t my_sk[FR_SECAGG_KEY_BYTES],
                                       const uint8_t my_pk[FR_SECAGG_KEY_BYTES], int peer,
                                       const uint8_t peer_pk[FR_SECAGG_KEY_BYTES], fr_err *err);

/* Encrypt node from's shares for node to under their ENC key; the additional data is the
 * version, the round (uint32 LE), from and to, so a ciphertext opens only in its own
 * round, direction and pair. */
void fr_secagg_seal(uint8_t ct[FR_SECAGG_CT_BYTES], const uint8_t key[FR_SECAGG_KEY_BYTES],
                    uint32_t round, int from, int to, const uint8_t s_share[FR_SECAGG_SECRET_BYTES],
                    const uint8_t b_share[FR_SECAGG_SECRET_BYTES]);
/* The inverse: FR_EINVAL naming from when the ciphertext does not open or names another
 * pair. The shares are written only on success. */
FR_MUST fr_status fr_secagg_open(const uint8_t ct[FR_SECAGG_CT_BYTES],
                                 const uint8_t key[FR_SECAGG_KEY_BYTES], uint32_t round, int from,
                                 int to, uint8_t s_share[FR_SECAGG_SECRET_BYTES],
                                 uint8_t b_share[FR_SECAGG_SECRET_BYTES], fr_err *err);

typedef enum fr_secagg_prg {
    FR_SECAGG_PRG_SELF = 1, /* PRG(b_u) */
    FR_SECAGG_PRG_PAIR = 2, /* PRG(s_uv) */
} fr_secagg_prg;

/* y[i] += PRG(seed)[i] (or -= when negate) mod 2^32, i < m. PRG(seed)[i] is the i-th
 * little-endian uint32 of ChaCha20 (IETF) keyed with seed, nonce = kind tag ("self" or
 * "pair") || round (uint32 LE) || 4 zero bytes, counter from 0. */
void fr_secagg_mask_add(uint32_t *y, uint32_t m, const uint8_t seed[FR_SECAGG_KEY_BYTES],
                        fr_secagg_prg kind, uint32_t round, int negate);

/* The signed part of an advertisement: the context "fedrecall-secagg-advertise-v2" and
 * its NUL, round (uint32 LE), id (1 byte), the setup hash, c_pk, s_pk. */
void fr_secagg_advert_sign(uint8_t sig[FR_SECAGG_SIG_BYTES],
                           const uint8_t id_sk[FR_SECAGG_ID_SECRET_BYTES], uint32_t round, int id,
                           const uint8_t setup_hash[FR_SECAGG_HASH_BYTES],
                           const uint8_t c_pk[FR_SECAGG_KEY_BYTES],
                           const uint8_t s_pk[FR_SECAGG_KEY_BYTES]);
FR_MUST fr_status fr_secagg_advert_verify(const uint8_t sig[FR_SECAGG_SIG_BYTES],
                                          const uint8_t id_pk[FR_SECAGG_ID_PUBLIC_BYTES],
                                          uint32_t round, int id,
                                          const uint8_t setup_hash[FR_SECAGG_HASH_BYTES],
                                          const uint8_t c_pk[FR_SECAGG_KEY_BYTES],
                                          const uint8_t s_pk[FR_SECAGG_KEY_BYTES], fr_err *err);

/* The consistency check's signature (fr_secagg_check.c): over the context
 * "fedrecall-secagg-consistency-v1" and its NUL, round (uint32 LE), the setup hash, k
 * (1 byte) and the k ids of U3 in increasing order. */
void fr_secagg_check_sign(uint8_t sig[FR_SECAGG_SIG_BYTES],
                          const uint8_t id_sk[FR_SECAGG_ID_SECRET_BYTES], uint32_t round,
                          const uint8_t setup_hash[FR_SECAGG_HASH_BYTES], const uint8_t *ids,
                          int k);
/* FR_EINVAL naming signer when sig is not its signature over this U3. */
FR_MUST fr_status fr_secagg_check_verify(const uint8_t sig[FR_SECAGG_SIG_BYTES],
                                         const uint8_t id_pk[FR_SECAGG_ID_PUBLIC_BYTES],
                                         uint32_t round,
                                         const uint8_t setup_hash[FR_SECAGG_HASH_BYTES],
                                         const uint8_t *ids, int k, int signer, fr_err *err);

/* ---- fixed-point encoding (fr_secagg_encode.c) ----
 * A float vector is clipped to L2 norm clip, each coordinate then to [-clip, clip],
 * multiplied by scale and rounded stochastically (up with probability equal to the
 * fraction, from a ChaCha20 stream keyed by the operating system) to an int32, sent as
 * uint32 mod 2^32. A node's coordinate is then at most clip * scale + 1 in magnitude. */

/* The scale for n nodes and clip bound clip: the largest power of two S (2^-60..2^30)
 * with n * (clip * S + 1) <= 2^31 - 1, so that the sum of n coordinates fits an int32.
 * FR_EINVAL for n outside 1..255 or clip not finite and > 0. */
FR_MUST fr_status fr_secagg_encode_scale(int n, double clip, double *scale, fr_err *err);
/* out (m) from v (m) as above. *clipped (may be NULL) is set when the norm was cut.
 * FR_EINVAL for a non-finite coordinate (named) or a scale too large for clip. */
FR_MUST fr_status fr_secagg_encode(const float *v, size_t m, double clip, double scale,
                                   uint32_t *out, int *clipped, fr_err *err);
/* out[i] = (int32)sum[i] / scale: the sum of the encoded vectors, within (contributors /
 * scale) of the sum of the clipped floats, and the float rounding of the result. */
void fr_secagg_decode(const uint32_t *sum, size_t m, double scale, float *out);

/* ---- messages (fr_secagg_msg.c) ----
 * Each is one msgpack map with "v" = FR_SECAGG_VERSION and "round", keys in any order,
 * each once, no others. Decoders read untrusted bodies with the bounded cursor of
 * fr_mpread; n, the round's node count, bounds every id (1..n) and every list (at most
 * n entries, ids strictly increasing, so none appears twice) before anything is walked;
 * keys, signatures and ciphertexts have exact lengths. Decoded byte fields point into
 * the body. Decoders check form only; the client and server check the round and the
 * sets. FR_EFORMAT for a malformed body, FR_EVERSION for another version. */

typedef struct fr_secagg_advert {
    int id;
    const uint8_t *setup;             /* FR_SECAGG_HASH_BYTES: the setup it was made for */
    const uint8_t *c_pk, *s_pk, *sig; /* 32, 32, 64 bytes */
} fr_secagg_advert;

/* node -> coordinator: {v, round, from, setup, c_pk, s_pk, sig} */
typedef struct fr_secagg_advertise_msg {
    uint32_t round;
    fr_secagg_advert a;
} fr_secagg_advertise_msg;

/* coordinator -> every node: {v, round, adverts: [[id, setup, c_pk, s_pk, sig], ...]},
 * U1 */
typedef struct fr_secagg_adverts_msg {
    uint32_t round;
    int count;
    fr_secagg_advert e[FR_SECAGG_MAX_NODES];
} fr_secagg_adverts_msg;

typedef struct fr_secagg_ct_entry {
    int peer;          /* the recipient (shares) or the sender (relay) */
    const uint8_t *ct; /* FR_SECAGG_CT_BYTES */
} fr_secagg_ct_entry;

/* node -> coordinator, shares: {v, round, from, out: [[to, ct], ...]};
 * coordinator -> node, relay: {v, round, to, in: [[from, ct], ...]}, U2 less the node */
typedef struct fr_secagg_shares_msg {
    uint32_t round;
    int node; /* the sender (shares) or the recipient (relay) */
    int count;
    fr_secagg_ct_entry e[FR_SECAGG_MAX_NODES];
} fr_secagg_shares_msg;

/* node -> coordinator: {v, round, from, y: bin of m uint32 LE} */
typedef struct fr_secagg_masked_msg {
    uint32_t round;
    int from;
    uint32_t m;
    const uint8_t *y;       /* decode: 4m bytes in the body, unaligned */
    const uint32_t *values; /* encode: the m masked values */
} fr_secagg_masked_msg;

/* coordinator -> each node of U3, the consistency check: {v, round, survivors: [id...]} */
typedef struct fr_secagg_check_req_msg {
    uint32_t round;
    int n_survivors;
    uint8_t survivors[FR_SECAGG_MAX_NODES]; /* U3 */
} fr_secagg_check_req_msg;

/* node -> coordinator: {v, round, from, sig}, its signature over U3 */
typedef struct fr_secagg_check_msg {
    uint32_t round;
    int from;
    const uint8_t *sig; /* FR_SECAGG_SIG_BYTES */
} fr_secagg_check_msg;

/* coordinator -> each node that signed U3: {v, round, survivors: [id...], dropped:
 * [id...], sigs: [[id, sig], ...]}, sigs the signatures over U3 it holds */
typedef struct fr_secagg_unmask_req_msg {
    uint32_t round;
    int n_survivors, n_dropped, n_sigs;
    uint8_t survivors[FR_SECAGG_MAX_NODES]; /* U3 */
    uint8_t dropped[FR_SECAGG_MAX_NODES];   /* U2 \ U3 */
    uint8_t signers[FR_SECAGG_MAX_NODES];   /* U4: who signed U3 */
    const uint8_t *sigs[FR_SECAGG_MAX_NODES];
} fr_secagg_unmask_req_msg;

typedef enum fr_secagg_share_kind {
    FR_SECAGG_SHARE_B = 1,  /* of b_v: v is a survivor */
    FR_SECAGG_SHARE_SK = 2, /* of s_sk_v: v dropped */
} fr_secagg_share_kind;

typedef struct fr_secagg_share_entry {
    int peer, kind;
    const uint8_t *share; /* FR_SECAGG_SECRET_BYTES */
} fr_secagg_share_entry;

/* node -> coordinator: {v, round, from, shares: [[id, kind, share], ...]} */
typedef struct fr_secagg_unmask_resp_msg {
    uint32_t round;
    int from;
    int count;
    fr_secagg_share_entry e[FR_SECAGG_MAX_NODES];
} fr_secagg_unmask_resp_msg;

/* Encoders append one message to sb (msgpack_sbuffer_init'd by the caller). */
void fr_secagg_advertise_encode(const fr_secagg_advertise_msg *m, msgpack_sbuffer *sb);
void fr_secagg_adverts_encode(const fr_secagg_adverts_msg *m, msgpack_sbuffer *sb);
void fr_secagg_shares_encode(const fr_secagg_shares_msg *m, msgpack_sbuffer *sb);
void fr_secagg_relay_encode(const fr_secagg_shares_msg *m, msgpack_sbuffer *sb);
void fr_secagg_masked_encode(const fr_secagg_masked_msg *m, msgpack_sbuffer *sb);
void fr_secagg_check_req_encode(const fr_secagg_check_req_msg *m, msgpack_sbuffer *sb);
void fr_secagg_check_encode(const fr_secagg_check_msg *m, msgpack_sbuffer *sb);
void fr_secagg_unmask_req_encode(const fr_secagg_unmask_req_msg *m, msgpack_sbuffer *sb);
void fr_secagg_unmask_resp_encode(const fr_secagg_unmask_resp_msg *m, msgpack_sbuffer *sb);

FR_MUST fr_status fr_secagg_advertise_decode(const void *buf, size_t len, int n,
                                             fr_secagg_advertise_msg *m, fr_err *err);
FR_MUST fr_status fr_secagg_adverts_decode(const void *buf, size_t len, int n,
                                           fr_secagg_adverts_msg *m, fr_err *err);
FR_MUST fr_status fr_secagg_shares_decode(const void *buf, size_t len, int n,
                                          fr_secagg_shares_msg *m, fr_err *err);
FR_MUST fr_status fr_secagg_relay_decode(const void *buf, size_t len, int n,
                                         fr_secagg_shares_msg *m, fr_err *err);
/* y must hold exactly 4m bytes, m the round's vector length. */
FR_MUST fr_status fr_secagg_masked_decode(const void *buf, size_t len, int n, uint32_t m_expect,
                                          fr_secagg_masked_msg *m, fr_err *err);
FR_MUST fr_status fr_secagg_check_req_decode(const void *buf, size_t len, int n,
                                             fr_secagg_check_req_msg *m, fr_err *err);
FR_MUST fr_status fr_secagg_check_decode(const void *buf, size_t len, int n, fr_secagg_check_msg *m,
                                         fr_err *err);
FR_MUST fr_status fr_secagg_unmask_req_decode(const void *buf, size_t len, int n,
                                              fr_secagg_unmask_req_msg *m, fr_err *err);
FR_MUST fr_status fr_secagg_unmask_resp_decode(const void *buf, size_t len, int n,
                                               fr_secagg_unmask_resp_msg *m, fr_err *err);

/* ---- the node (fr_secagg_client.c) ---- */

typedef enum fr_secagg_client_stage {
    FR_SECAGG_CL_NEW,        /* init'd */
    FR_SECAGG_CL_ADVERTISED, /* keys sent */
    FR_SECAGG_CL_SHARED,     /* shares sent */
    FR_SECAGG_CL_MASKED,     /* masked input sent */
    FR_SECAGG_CL_CHECKED,    /* U3 signed */
    FR_SECAGG_CL_ANSWERED,   /* unmask response sent */
    FR_SECAGG_CL_REFUSED,    /* gave up the round: every later call is refused */
} fr_secagg_client_stage;

typedef struct fr_secagg_client {
    fr_secagg_params p;
    int id;
    fr_secagg_client_stage stage;
    /* sodium_malloc'd: identity sk (64) | c_sk | s_sk | b (32 each) | the shares this
     * node holds, (n + 1) x (share of s_sk_v, share of b_v) indexed by v (its own too) */
    uint8_t *secret;
    uint8_t c_pk[FR_SECAGG_KEY_BYTES], s_pk[FR_SECAGG_KEY_BYTES];
    /* one malloc, views indexed by node id (entry 0 unused) */
    uint8_t *pub;
    uint8_t (*id_pks)[FR_SECAGG_ID_PUBLIC_BYTES];
    uint8_t (*c_pks)[FR_SECAGG_KEY_BYTES], (*s_pks)[FR_SECAGG_KEY_BYTES];
    uint8_t *in_u1, *in_u2; /* 0/1: in U1 (advertised), in U2 (shares relayed to me) */
    uint8_t *asked;         /* the answered request: 1 survivor, 2 dropped, 0 neither */
    uint8_t *in_u3;         /* 0/1: the U3 this node signed */
} fr_secagg_client;

/* A node of round p with id my_id (1..n), its identity secret key and the identity
 * public keys of all n nodes (n x 32 bytes, node v's at (v - 1) * 32). FR_EINVAL when
 * identity_sk does not belong to peer_identity_pks' entry for my_id, or when p is
 * below the floor (fr_secagg_floor_check with the defaults: n >= 3, t > 2n/3). */
FR_MUST fr_status fr_secagg_client_init(fr_secagg_client *cl, const fr_secagg_params *p, int my_id,
                                        const uint8_t identity_sk[FR_SECAGG_ID_SECRET_BYTES],
                                        const uint8_t *peer_identity_pks, fr_err *err);
/* Wipes every secret; accepts a zeroed or freed client. */
void fr_secagg_client_free(fr_secagg_client *cl);

/* Round 0: fresh c and s key pairs, signed; out gets the advertise message. */
FR_MUST fr_status fr_secagg_client_advertise(fr_secagg_client *cl, msgpack_sbuffer *out,
                                             fr_err *err);
/* Round 1: from the coordinator's advert list, checks that every advert names this
 * node's setup hash and that every signature holds, and refuses the round if one does
 * not, then shares s_sk and a fresh b among U1; out gets the shares
 * message. */
FR_MUST fr_status fr_secagg_client_share(fr_secagg_client *cl, const void *adverts, size_t len,
                                         msgpack_sbuffer *out, fr_err *err);
/* Round 2: from the relayed ciphertexts (which define U2), opens each, then masks x (m
 * encoded values); out gets the masked input. */
FR_MUST fr_status fr_secagg_client_masked_input(fr_secagg_client *cl, const void *relay, size_t len,
                                                const uint32_t *x, msgpack_sbuffer *out,
                                                fr_err *err);
/* Round 3, the consistency check (Bonawitz et al. 2017, section 4): signs the U3 the
 * coordinator names, once; out gets the signature message. Refuses (FR_EINVAL), and
 * gives up the round, a U3 that is not within this node's U2, leaves it out or has
 * fewer than t nodes, or that differs from one already signed. */
FR_MUST fr_status fr_secagg_client_check(fr_secagg_client *cl, const void *request, size_t len,
                                         msgpack_sbuffer *out, fr_err *err);
/* Round 4: answers an unmask request with its shares of b_v for v in U3 and s_sk_v for
 * v in U2 \ U3, never both for one node. Refuses (FR_EINVAL), and gives up the round,
 * before any share leaves it: a request whose survivors are not the U3 this node
 * signed, whose sets are not a split of U2, that carries fewer than t signatures over
 * that U3 from nodes of U3 or one that does not verify, or that differs from one
 * already answered; the same request again gets the same answer. */
FR_MUST fr_status fr_secagg_client_unmask(fr_secagg_client *cl, const void *request, size_t len,
                                          msgpack_sbuffer *out, fr_err *err);

/* ---- the coordinator (fr_secagg_server.c) ---- */

typedef enum fr_secagg_server_stage {
    FR_SECAGG_SV_ADVERTISE, /* collecting advertisements */
    FR_SECAGG_SV_SHARES,    /* U1 closed: collecting shares */
    FR_SECAGG_SV_MASKED,    /* U2 closed: collecting masked inputs */
    FR_SECAGG_SV_CHECK,     /* U3 closed: collecting signatures over U3 */
    FR_SECAGG_SV_UNMASK,    /* U4 closed: collecting unmask responses */
    FR_SECAGG_SV_DONE,      /* the sum is known */
    FR_SECAGG_SV_ABORTED,   /* too few nodes at some step: nothing is output */
} fr_secagg_server_stage;

/* What the coordinator holds: public keys, ciphertexts it cannot open, the running sum of
 * the masked vectors, the shares the survivors return (wiped at the end) and the sum. */
typedef struct fr_secagg_server {
    fr_secagg_params p;
    fr_secagg_server_stage stage;
    int n_u1, n_u2, n_u3, n_u4, n_resp;
    /* one malloc, views indexed by node id (entry 0 unused) */
    uint8_t *pub;
    uint8_t (*id_pks)[FR_SECAGG_ID_PUBLIC_BYTES];
    uint8_t (*c_pks)[FR_SECAGG_KEY_BYTES], (*s_pks)[FR_SECAGG_KEY_BYTES];
    uint8_t (*sigs)[FR_SECAGG_SIG_BYTES];
    uint8_t (*check_sigs)[FR_SECAGG_SIG_BYTES];         /* signatures over U3 */
    uint8_t *in_u1, *in_u2, *in_u3, *in_u4, *responded; /* 0/1; U4: signed U3 */
    uint8_t *ct;     /* (n + 1)^2 x CT: ct[from * (n + 1) + to], malloc'd once U1 closes */
    uint32_t *sum;   /* m: the masked inputs added so far, then the result */
    uint8_t *shares; /* sodium_malloc'd (n + 1)^2 x 32: [responder * (n + 1) + v] */
} fr_secagg_server;

/* The coordinator of round p; identity_pks as for the client. */
FR_MUST fr_status fr_secagg_server_init(fr_secagg_server *sv, const fr_secagg_params *p,
                                        const uint8_t *identity_pks, fr_err *err);
void fr_secagg_server_free(fr_secagg_server *sv);

/* Each add_* takes one node's message of the current step and refuses (FR_EINVAL) one of
 * another round, from a node outside the step's set, from a node already heard from or
 * out of step. The first call to a broadcast (advertise_list, shares_for,
 * check_request, unmask_request) closes the step before it; with fewer than t nodes in
 * it the round is aborted (FR_ENODATA) and every later call refuses. */
FR_MUST fr_status fr_secagg_server_add_advertise(fr_secagg_server *sv, const void *buf, size_t len,
                                                 fr_err *err);
FR_MUST fr_status fr_secagg_server_advertise_list(fr_secagg_server *sv, msgpack_sbuffer *out,
                                                  fr_err *err);
FR_MUST fr_status fr_secagg_server_add_shares(fr_secagg_server *sv, const void *buf, size_t len,
                                              fr_err *err);
/* The relay for node v (v must be in U2). */
FR_MUST fr_status fr_secagg_server_shares_for(fr_secagg_server *sv, int v, msgpack_sbuffer *out,
                                              fr_err *err);
FR_MUST fr_status fr_secagg_server_add_masked_input(fr_secagg_server *sv, const void *buf,
                                                    size_t len, fr_err *err);
/* The consistency check's request: U3. */
FR_MUST fr_status fr_secagg_server_check_request(fr_secagg_server *sv, msgpack_sbuffer *out,
                                                 fr_err *err);
/* A node of U3's signature over U3, verified. */
FR_MUST fr_status fr_secagg_server_add_check(fr_secagg_server *sv, const void *buf, size_t len,
                                             fr_err *err);
/* The unmask request with the signatures over U3 (U4 must hold t nodes). */
FR_MUST fr_status fr_secagg_server_unmask_request(fr_secagg_server *sv, msgpack_sbuffer *out,
                                                  fr_err *err);
FR_MUST fr_status fr_secagg_server_add_unmask_response(fr_secagg_server *sv, const void *buf,
                                                       size_t len, fr_err *err);
/* With at least t responses: sum (m values) = the sum over U3 of the nodes' x mod 2^32,
 * *contributors = |U3|. Otherwise FR_ENODATA, the round is aborted and sum is left
 * alone. A reconstructed mask key that does not match its node's advertised key (a bad
 * share) is FR_EINVAL, and aborts too. */
FR_MUST fr_status fr_secagg_server_finish(fr_secagg_server *sv, uint32_t *sum, int *contributors,
                                          fr_err *err);

#endif
