/* Secure aggregation's wire messages (fr_secagg.h, docs/secagg.md): encoders on
 * msgpack-c's packer, decoders on the bounded cursor of fr_mpread. Every count is
 * checked against the round's node count before its elements are walked, every byte
 * field against its exact length, and nothing is allocated from the input. */
#include "secagg/fr_secagg.h"

#include <string.h>

#include "util/fr_mpread.h"
#include "secagg/fr_secagg_mp.h"

/* ---- encoding ---- */

/* The map head with "v" and "round"; nkeys counts them. */
static void pack_head(msgpack_packer *pk, msgpack_sbuffer *sb, size_t nkeys, uint32_t round)
{
    fr_secagg_mp_pack_head(pk, sb, nkeys, round, FR_SECAGG_VERSION);
}

static void pack_id(msgpack_packer *pk, const char *key, int id)
{
    fr_secagg_mp_pack_str(pk, key);
    msgpack_pack_int(pk, id);
}

static void pack_advert(msgpack_packer *pk, const fr_secagg_advert *a)
{
    msgpack_pack_array(pk, 5);
    msgpack_pack_int(pk, a->id);
    fr_secagg_mp_pack_bin(pk, a->setup, FR_SECAGG_HASH_BYTES);
    fr_secagg_mp_pack_bin(pk, a->c_pk, FR_SECAGG_KEY_BYTES);
    fr_secagg_mp_pack_bin(pk, a->s_pk, FR_SECAGG_KEY_BYTES);
    fr_secagg_mp_pack_bin(pk, a->sig, FR_SECAGG_SIG_BYTES);
}

void fr_secagg_advertise_encode(const fr_secagg_advertise_msg *m, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    pack_head(&pk, sb, 7, m->round);
    pack_id(&pk, "from", m->a.id);
    fr_secagg_mp_pack_str(&pk, "setup");
    fr_secagg_mp_pack_bin(&pk, m->a.setup, FR_SECAGG_HASH_BYTES);
    fr_secagg_mp_pack_str(&pk, "c_pk");
    fr_secagg_mp_pack_bin(&pk, m->a.c_pk, FR_SECAGG_KEY_BYTES);
    fr_secagg_mp_pack_str(&pk, "s_pk");
    fr_secagg_mp_pack_bin(&pk, m->a.s_pk, FR_SECAGG_KEY_BYTES);
    fr_secagg_mp_pack_str(&pk, "sig");
    fr_secagg_mp_pack_bin(&pk, m->a.sig, FR_SECAGG_SIG_BYTES);
}

void fr_secagg_adverts_encode(const fr_secagg_adverts_msg *m, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    pack_head(&pk, sb, 3, m->round);
    fr_secagg_mp_pack_str(&pk, "adverts");
    msgpack_pack_array(&pk, (size_t)m->count);
    for (int i = 0; i < m->count; i++)
        pack_advert(&pk, &m->e[i]);
}

static void pack_cts(msgpack_packer *pk, const char *key, const fr_secagg_shares_msg *m)
{
    fr_secagg_mp_pack_str(pk, key);
    msgpack_pack_array(pk, (size_t)m->count);
    for (int i = 0; i < m->count; i++) {
        msgpack_pack_array(pk, 2);
        msgpack_pack_int(pk, m->e[i].peer);
        fr_secagg_mp_pack_bin(pk, m->e[i].ct, FR_SECAGG_CT_BYTES);
    }
}

void fr_secagg_shares_encode(const fr_secagg_shares_msg *m, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    pack_head(&pk, sb, 4, m->round);
    pack_id(&pk, "from", m->node);
    pack_cts(&pk, "out", m);
}

void fr_secagg_relay_encode(const fr_secagg_shares_msg *m, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    pack_head(&pk, sb, 4, m->round);
    pack_id(&pk, "to", m->node);
    pack_cts(&pk, "in", m);
}

void fr_secagg_masked_encode(const fr_secagg_masked_msg *m, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    pack_head(&pk, sb, 4, m->round);
    pack_id(&pk, "from", m->from);
    fr_secagg_mp_pack_str(&pk, "y");
    msgpack_pack_bin(&pk, (size_t)m->m * 4);
    uint8_t buf[4096];
    size_t used = 0;
    for (uint32_t i = 0; i < m->m; i++) { /* little-endian whatever the host */
        uint32_t v = m->values[i];
        buf[used++] = (uint8_t)v;
        buf[used++] = (uint8_t)(v >> 8);
        buf[used++] = (uint8_t)(v >> 16);
        buf[used++] = (uint8_t)(v >> 24);
        if (used == sizeof buf || i + 1 == m->m) {
            msgpack_pack_bin_body(&pk, buf, used);
            used = 0;
        }
    }
}

static void pack_ids(msgpack_packer *pk, const char *key, const uint8_t *ids, int k)
{
    fr_secagg_mp_pack_str(pk, key);
    msgpack_pack_array(pk, (size_t)k);
    for (int i = 0; i < k; i++)
        msgpack_pack_int(pk, ids[i]);
}

void fr_secagg_unmask_req_encode(const fr_secagg_unmask_req_msg *m, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    pack_head(&pk, sb, 5, m->round);
    pack_ids(&pk, "survivors", m->survivors, m->n_survivors);
    pack_ids(&pk, "dropped", m->dropped, m->n_dropped);
    fr_secagg_mp_pack_str(&pk, "sigs");
    msgpack_pack_array(&pk, (size_t)m->n_sigs);
    for (int i = 0; i < m->n_sigs; i++) {
        msgpack_pack_array(&pk, 2);
        msgpack_pack_int(&pk, m->signers[i]);
        fr_secagg_mp_pack_bin(&pk, m->sigs[i], FR_SECAGG_SIG_BYTES);
    }
}

void fr_secagg_unmask_resp_encode(const fr_secagg_unmask_resp_msg *m, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    pack_head(&pk, sb, 4, m->round);
    pack_id(&pk, "from", m->from);
    fr_secagg_mp_pack_str(&pk, "shares");
    msgpack_pack_array(&pk, (size_t)m->count);
    for (int i = 0; i < m->count; i++) {
        msgpack_pack_array(&pk, 3);
        msgpack_pack_int(&pk, m->e[i].peer);
        msgpack_pack_int(&pk, m->e[i].kind);
        fr_secagg_mp_pack_bin(&pk, m->e[i].share, FR_SECAGG_SECRET_BYTES);
    }
}

/* ---- decoding ---- */

/* The body's map: at most nk keys (each known key once at most). */
static fr_status open_map(fr_mpread *r, int nk, uint64_t *count)
{
    fr_mpread_item it;
    fr_status st = fr_mpread_expect(r, &it, FR_MPREAD_MAP, "the message");
    if (st != FR_OK)
        return st;
    if (it.u > (uint64_t)nk)
        return fr_fail(r->err, FR_EFORMAT, "%s: a map of %llu keys, at most %d", r->name,
                       (unsigned long long)it.u, nk);
    *count = it.u;
    return FR_OK;
}

/* Nothing after the map, and every key present. */
static fr_status close_map(fr_mpread *r, const char *const *keys, int nk, unsigned seen)
{
    if (fr_mpread_left(r))
        return fr_fail(r->err, FR_EFORMAT, "%s: %zu bytes after the message", r->name,
                       fr_mpread_left(r));
    return fr_mpread_missing(r, "the message", keys, nk, seen, (1u << nk) - 1u);
}

static fr_status read_version(fr_mpread *r)
{
    int64_t v;
    fr_status st = fr_mpread_int(r, "v", 0, 1000000, &v);
    if (st == FR_OK && v != FR_SECAGG_VERSION)
        st = fr_fail(r->err, FR_EVERSION, "%s: protocol version %lld, this end speaks %d", r->name,
                     (long long)v, FR_SECAGG_VERSION);
    return st;
}

static fr_status read_round(fr_mpread *r, uint32_t *round)
{
    int64_t v;
    fr_status st = fr_mpread_int(r, "round", 0, UINT32_MAX, &v);
    if (st == FR_OK)
        *round = (uint32_t)v;
    return st;
}

static fr_status read_id(fr_mpread *r, const char *what, int n, int *id)
{
    int64_t v;
    fr_status st = fr_mpread_int(r, what, 1, n, &v);
    if (st == FR_OK)
        *id = (int)v;
    return st;
}

fr_status fr_secagg_mp_read_bytes(fr_mpread *r, const char *what, size_t want, const uint8_t **p)
{
    fr_mpread_item it;
    fr_status st = fr_mpread_expect(r, &it, FR_MPREAD_BIN, what);
    if (st != FR_OK)
        return st;
    if (it.u != want)
        return fr_fail(r->err, FR_EFORMAT, "%s: %s: %llu bytes, must be %zu", r->name, what,
                       (unsigned long long)it.u, want);
    *p = it.ptr;
    return FR_OK;
}

/* An array of at most n entries (the round has n nodes, each listed once at most). */
fr_status fr_secagg_mp_read_list(fr_mpread *r, const char *what, int n, int *count)
{
    fr_mpread_item it;
    fr_status st = fr_mpread_expect(r, &it, FR_MPREAD_ARRAY, what);
    if (st != FR_OK)
        return st;
    if (it.u > (uint64_t)n)
        return fr_fail(r->err, FR_EFORMAT, "%s: %s: %llu entries, the round has %d nodes", r->name,
                       what, (unsigned long long)it.u, n);
    *count = (int)it.u;
    return FR_OK;
}

/* One list entry: an array of exactly k items. */
fr_status fr_secagg_mp_read_tuple(fr_mpread *r, const char *what, uint64_t k)
{
    fr_mpread_item it;
    fr_status st = fr_mpread_expect(r, &it, FR_MPREAD_ARRAY, what);
    if (st == FR_OK && it.u != k)
        st = fr_fail(r->err, FR_EFORMAT, "%s: %s: an entry of %llu items, must be %llu", r->name,
                     what, (unsigned long long)it.u, (unsigned long long)k);
    return st;
}

/* The id of entry i of a list, which must exceed the one before (prev). */
fr_status fr_secagg_mp_read_entry_id(fr_mpread *r, const char *what, int n, int i, int prev,
                                     int *id)
{
    fr_status st = read_id(r, what, n, id);
    if (st == FR_OK && i > 0 && *id <= prev)
        st = fr_fail(r->err, FR_EFORMAT, "%s: %s: node %d after node %d (ids must increase)",
                     r->name, what, *id, prev);
    return st;
}

/* The key loop common to every decoder: keys[0] is "v", keys[1] "round"; field() reads
 * the others. */

fr_status fr_secagg_mp_walk(const void *buf, size_t len, const char *name, const char *const *keys,
                            int nk, int n, void *msg, uint32_t *round, fr_secagg_mp_field_fn field,
                            fr_err *err)
{
    fr_mpread r;
    fr_mpread_init(&r, buf, len, name, err);
    uint64_t count = 0;
    fr_status st = open_map(&r, nk, &count);
    unsigned seen = 0;
    for (uint64_t k = 0; st == FR_OK && k < count; k++) {
        int idx;
        if ((st = fr_mpread_key(&r, "a key", keys, nk, &seen, &idx)) != FR_OK)
            break;
        if (idx == 0)
            st = read_version(&r);
        else if (idx == 1)
            st = read_round(&r, round);
        else
            st = field(&r, idx, n, msg);
    }
    if (st == FR_OK)
        st = close_map(&r, keys, nk, seen);
    return st;
}

static fr_status read_advert_entry(fr_mpread *r, int n, int i, int prev, fr_secagg_advert *a)
{
    fr_status st = fr_secagg_mp_read_tuple(r, "adverts", 5);
    if (st == FR_OK)
        st = fr_secagg_mp_read_entry_id(r, "adverts", n, i, prev, &a->id);
    if (st == FR_OK)
        st = fr_secagg_mp_read_bytes(r, "adverts: setup", FR_SECAGG_HASH_BYTES, &a->setup);
    if (st == FR_OK)
        st = fr_secagg_mp_read_bytes(r, "adverts: c_pk", FR_SECAGG_KEY_BYTES, &a->c_pk);
    if (st == FR_OK)
        st = fr_secagg_mp_read_bytes(r, "adverts: s_pk", FR_SECAGG_KEY_BYTES, &a->s_pk);
    if (st == FR_OK)
        st = fr_secagg_mp_read_bytes(r, "adverts: sig", FR_SECAGG_SIG_BYTES, &a->sig);
    return st;
}

static const char *const advertise_keys[] = {"v", "round", "from", "c_pk", "s_pk", "sig", "setup"};

static fr_status advertise_field(fr_mpread *r, int idx, int n, void *msg)
{
    fr_secagg_advert *a = &((fr_secagg_advertise_msg *)msg)->a;
    switch (idx) {
    case 2: return read_id(r, "from", n, &a->id);
    case 3: return fr_secagg_mp_read_bytes(r, "c_pk", FR_SECAGG_KEY_BYTES, &a->c_pk);
    case 4: return fr_secagg_mp_read_bytes(r, "s_pk", FR_SECAGG_KEY_BYTES, &a->s_pk);
    case 5: return fr_secagg_mp_read_bytes(r, "sig", FR_SECAGG_SIG_BYTES, &a->sig);
    default: return fr_secagg_mp_read_bytes(r, "setup", FR_SECAGG_HASH_BYTES, &a->setup);
    }
}

static const char *const adverts_keys[] = {"v", "round", "adverts"};

static fr_status adverts_field(fr_mpread *r, int idx, int n, void *msg)
{
    (void)idx;
    fr_secagg_adverts_msg *m = msg;
    fr_status st = fr_secagg_mp_read_list(r, "adverts", n, &m->count);
    for (int i = 0; st == FR_OK && i < m->count; i++)
        st = read_advert_entry(r, n, i, i ? m->e[i - 1].id : 0, &m->e[i]);
    return st;
}

static fr_status read_cts(fr_mpread *r, const char *what, int n, fr_secagg_shares_msg *m)
{
    fr_status st = fr_secagg_mp_read_list(r, what, n, &m->count);
    for (int i = 0; st == FR_OK && i < m->count; i++) {
        st = fr_secagg_mp_read_tuple(r, what, 2);
        if (st == FR_OK)
            st = fr_secagg_mp_read_entry_id(r, what, n, i, i ? m->e[i - 1].peer : 0, &m->e[i].peer);
        if (st == FR_OK)
            st = fr_secagg_mp_read_bytes(r, what, FR_SECAGG_CT_BYTES, &m->e[i].ct);
    }
    return st;
}

static const char *const shares_keys[] = {"v", "round", "from", "out"};
static const char *const relay_keys[] = {"v", "round", "to", "in"};

static fr_status shares_field(fr_mpread *r, int idx, int n, void *msg)
{
    fr_secagg_shares_msg *m = msg;
    return idx == 2 ? read_id(r, "from", n, &m->node) : read_cts(r, "out", n, m);
}

static fr_status relay_field(fr_mpread *r, int idx, int n, void *msg)
{
    fr_secagg_shares_msg *m = msg;
    return idx == 2 ? read_id(r, "to", n, &m->node) : read_cts(r, "in", n, m);
}

static const char *const masked_keys[] = {"v", "round", "from", "y"};

static fr_status masked_field(fr_mpread *r, int idx, int n, void *msg)
{
    fr_secagg_masked_msg *m = msg;
    if (idx == 2)
        return read_id(r, "from", n, &m->from);
    return fr_secagg_mp_read_bytes(r, "y", (size_t)m->m * 4, &m->y); /* m set by the caller */
}

static fr_status read_ids(fr_mpread *r, const char *what, int n, uint8_t *ids, int *count)
{
    fr_status st = fr_secagg_mp_read_list(r, what, n, count);
    int prev = 0;
    for (int i = 0; st == FR_OK && i < *count; i++) {
        int id;
        if ((st = fr_secagg_mp_read_entry_id(r, what, n, i, prev, &id)) == FR_OK)
            ids[i] = (uint8_t)(prev = id);
    }
    return st;
}

static const char *const unmask_req_keys[] = {"v", "round", "survivors", "dropped", "sigs"};

static fr_status unmask_req_field(fr_mpread *r, int idx, int n, void *msg)
{
    fr_secagg_unmask_req_msg *m = msg;
    if (idx == 2)
        return read_ids(r, "survivors", n, m->survivors, &m->n_survivors);
    if (idx == 3)
        return read_ids(r, "dropped", n, m->dropped, &m->n_dropped);
    fr_status st = fr_secagg_mp_read_list(r, "sigs", n, &m->n_sigs);
    for (int i = 0; st == FR_OK && i < m->n_sigs; i++) {
        int id = 0;
        st = fr_secagg_mp_read_tuple(r, "sigs", 2);
        if (st == FR_OK)
            st = fr_secagg_mp_read_entry_id(r, "sigs", n, i, i ? m->signers[i - 1] : 0, &id);
        m->signers[i] = (uint8_t)id;
        if (st == FR_OK)
            st = fr_secagg_mp_read_bytes(r, "sigs: sig", FR_SECAGG_SIG_BYTES, &m->sigs[i]);
    }
    return st;
}

static const char *const unmask_resp_keys[] = {"v", "round", "from", "shares"};

static fr_status unmask_resp_field(fr_mpread *r, int idx, int n, void *msg)
{
    fr_secagg_unmask_resp_msg *m = msg;
    if (idx == 2)
        return read_id(r, "from", n, &m->from);
    fr_status st = fr_secagg_mp_read_list(r, "shares", n, &m->count);
    for (int i = 0; st == FR_OK && i < m->count; i++) {
        fr_secagg_share_entry *e = &m->e[i];
        int64_t kind = 0;
        st = fr_secagg_mp_read_tuple(r, "shares", 3);
        if (st == FR_OK)
            st = fr_secagg_mp_read_entry_id(r, "shares", n, i, i ? m->e[i - 1].peer : 0, &e->peer);
        if (st == FR_OK)
            st = fr_mpread_int(r, "shares: kind", FR_SECAGG_SHARE_B, FR_SECAGG_SHARE_SK, &kind);
        e->kind = (int)kind;
        if (st == FR_OK)
            st = fr_secagg_mp_read_bytes(r, "shares: share", FR_SECAGG_SECRET_BYTES, &e->share);
    }
    return st;
}

#define COUNT(a) ((int)(sizeof a / sizeof a[0]))

/* n bounds every id and list; outside 1..255 it is the caller's mistake. */
#define DECODER(fn, type, keys, field, label)                                                      \
    fr_status fn(const void *buf, size_t len, int n, type *m, fr_err *err)                         \
    {                                                                                              \
        FR_ASSERT(n >= 1 && n <= FR_SECAGG_MAX_NODES);                                             \
        memset(m, 0, sizeof *m);                                                                   \
        return fr_secagg_mp_walk(buf, len, label, keys, COUNT(keys), n, m, &m->round, field, err); \
    }

DECODER(fr_secagg_advertise_decode, fr_secagg_advertise_msg, advertise_keys, advertise_field,
        "secagg advertise")
DECODER(fr_secagg_adverts_decode, fr_secagg_adverts_msg, adverts_keys, adverts_field,
        "secagg advert list")
DECODER(fr_secagg_shares_decode, fr_secagg_shares_msg, shares_keys, shares_field, "secagg shares")
DECODER(fr_secagg_relay_decode, fr_secagg_shares_msg, relay_keys, relay_field, "secagg relay")
DECODER(fr_secagg_unmask_req_decode, fr_secagg_unmask_req_msg, unmask_req_keys, unmask_req_field,
        "secagg unmask request")
DECODER(fr_secagg_unmask_resp_decode, fr_secagg_unmask_resp_msg, unmask_resp_keys,
        unmask_resp_field, "secagg unmask response")

fr_status fr_secagg_masked_decode(const void *buf, size_t len, int n, uint32_t m_expect,
                                  fr_secagg_masked_msg *m, fr_err *err)
{
    FR_ASSERT(n >= 1 && n <= FR_SECAGG_MAX_NODES && m_expect <= FR_SECAGG_MAX_M);
    memset(m, 0, sizeof *m);
    m->m = m_expect;
    return fr_secagg_mp_walk(buf, len, "secagg masked input", masked_keys, COUNT(masked_keys), n, m,
                             &m->round, masked_field, err);
}
