/* Secure aggregation's consistency check (fr_secagg.h; Bonawitz et al., CCS 2017,
 * section 4, the actively secure variant): the signature every node of U3 puts on the
 * set U3 before it releases a share, and the two messages that carry it. A coordinator
 * that tells some nodes v survived and others that v dropped would need t signatures
 * over each of two different sets; each node signs one set only, so with t > 2n/3 it
 * cannot get both (docs/secagg.md, docs/security.md). */
#include "secagg/fr_secagg.h"

#include <sodium.h>
#include <string.h>

#include "util/fr_mpread.h"
#include "secagg/fr_secagg_mp.h"

static const char check_context[] = "fedrecall-secagg-consistency-v1"; /* signed with its NUL */

#define CHECK_HEAD (sizeof check_context + 4 + FR_SECAGG_HASH_BYTES + 1)

/* The signed bytes; msg holds CHECK_HEAD + k. */
static size_t check_bytes(uint8_t *msg, uint32_t round, const uint8_t *setup_hash,
                          const uint8_t *ids, int k)
{
    FR_ASSERT(k >= 0 && k <= FR_SECAGG_MAX_NODES);
    memcpy(msg, check_context, sizeof check_context);
    uint8_t *p = msg + sizeof check_context;
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(round >> (8 * i));
    memcpy(p + 4, setup_hash, FR_SECAGG_HASH_BYTES);
    p[4 + FR_SECAGG_HASH_BYTES] = (uint8_t)k;
    memcpy(msg + CHECK_HEAD, ids, (size_t)k);
    return CHECK_HEAD + (size_t)k;
}

void fr_secagg_check_sign(uint8_t sig[FR_SECAGG_SIG_BYTES],
                          const uint8_t id_sk[FR_SECAGG_ID_SECRET_BYTES], uint32_t round,
                          const uint8_t setup_hash[FR_SECAGG_HASH_BYTES], const uint8_t *ids, int k)
{
    uint8_t msg[CHECK_HEAD + FR_SECAGG_MAX_NODES];
    size_t len = check_bytes(msg, round, setup_hash, ids, k);
    crypto_sign_detached(sig, NULL, msg, len, id_sk);
}

fr_status fr_secagg_check_verify(const uint8_t sig[FR_SECAGG_SIG_BYTES],
                                 const uint8_t id_pk[FR_SECAGG_ID_PUBLIC_BYTES], uint32_t round,
                                 const uint8_t setup_hash[FR_SECAGG_HASH_BYTES], const uint8_t *ids,
                                 int k, int signer, fr_err *err)
{
    uint8_t msg[CHECK_HEAD + FR_SECAGG_MAX_NODES];
    size_t len = check_bytes(msg, round, setup_hash, ids, k);
    if (crypto_sign_verify_detached(sig, msg, len, id_pk) != 0)
        return fr_fail(err, FR_EINVAL,
                       "secagg round %u: node %d's consistency signature is not over this U3 "
                       "(%d nodes) of this setup",
                       round, signer, k);
    return FR_OK;
}

/* ---- messages ---- */

/* The map head with "v" and "round"; nkeys counts them. */
static void pack_head(msgpack_packer *pk, msgpack_sbuffer *sb, size_t nkeys, uint32_t round)
{
    fr_secagg_mp_pack_head(pk, sb, nkeys, round, FR_SECAGG_VERSION);
}

void fr_secagg_check_req_encode(const fr_secagg_check_req_msg *m, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    pack_head(&pk, sb, 3, m->round);
    fr_secagg_mp_pack_str(&pk, "survivors");
    msgpack_pack_array(&pk, (size_t)m->n_survivors);
    for (int i = 0; i < m->n_survivors; i++)
        msgpack_pack_int(&pk, m->survivors[i]);
}

void fr_secagg_check_encode(const fr_secagg_check_msg *m, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    pack_head(&pk, sb, 4, m->round);
    fr_secagg_mp_pack_str(&pk, "from");
    msgpack_pack_int(&pk, m->from);
    fr_secagg_mp_pack_str(&pk, "sig");
    fr_secagg_mp_pack_bin(&pk, m->sig, FR_SECAGG_SIG_BYTES);
}

static const char *const check_req_keys[] = {"v", "round", "survivors"};

static fr_status check_req_field(fr_mpread *r, int idx, int n, void *msg)
{
    (void)idx;
    fr_secagg_check_req_msg *m = msg;
    fr_status st = fr_secagg_mp_read_list(r, "survivors", n, &m->n_survivors);
    int prev = 0;
    for (int i = 0; st == FR_OK && i < m->n_survivors; i++) {
        int id;
        if ((st = fr_secagg_mp_read_entry_id(r, "survivors", n, i, prev, &id)) == FR_OK)
            m->survivors[i] = (uint8_t)(prev = id);
    }
    return st;
}

static const char *const check_keys[] = {"v", "round", "from", "sig"};

static fr_status check_field(fr_mpread *r, int idx, int n, void *msg)
{
    fr_secagg_check_msg *m = msg;
    if (idx == 2) {
        int64_t v;
        fr_status st = fr_mpread_int(r, "from", 1, n, &v);
        m->from = (int)v;
        return st;
    }
    return fr_secagg_mp_read_bytes(r, "sig", FR_SECAGG_SIG_BYTES, &m->sig);
}

fr_status fr_secagg_check_req_decode(const void *buf, size_t len, int n, fr_secagg_check_req_msg *m,
                                     fr_err *err)
{
    FR_ASSERT(n >= 1 && n <= FR_SECAGG_MAX_NODES);
    memset(m, 0, sizeof *m);
    return fr_secagg_mp_walk(buf, len, "secagg consistency check", check_req_keys, 3, n, m,
                             &m->round, check_req_field, err);
}

fr_status fr_secagg_check_decode(const void *buf, size_t len, int n, fr_secagg_check_msg *m,
                                 fr_err *err)
{
    FR_ASSERT(n >= 1 && n <= FR_SECAGG_MAX_NODES);
    memset(m, 0, sizeof *m);
    return fr_secagg_mp_walk(buf, len, "secagg consistency signature", check_keys, 4, n, m,
                             &m->round, check_field, err);
}
