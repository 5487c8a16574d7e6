/* Secure aggregation, the node's side (fr_secagg.h): one round's keys, shares and
 * masked input, and the checks that keep a coordinator from learning more than the
 * sum. A node that sees the coordinator break the protocol (a bad signature, a set that
 * contradicts what it was told before, a ciphertext that does not open) gives up the
 * round: it wipes its secrets and refuses every later call, so that no second try can
 * extract what the first was refused. A malformed or stale body is only refused. */
#include "secagg/fr_secagg.h"

#include <sodium.h>
#include <string.h>

/* Offsets into cl->secret. */
#define SEC_ID 0
#define SEC_C (SEC_ID + FR_SECAGG_ID_SECRET_BYTES)
#define SEC_S (SEC_C + FR_SECAGG_KEY_BYTES)
#define SEC_B (SEC_S + FR_SECAGG_KEY_BYTES)
#define SEC_SHARES (SEC_B + FR_SECAGG_KEY_BYTES)
#define HELD (2 * FR_SECAGG_SECRET_BYTES) /* per node: share of s_sk_v, share of b_v */

static size_t secret_bytes(int n)
{
    return SEC_SHARES + (size_t)(n + 1) * HELD;
}

static uint8_t *held_s(fr_secagg_client *cl, int v)
{
    return cl->secret + SEC_SHARES + (size_t)v * HELD;
}

static uint8_t *held_b(fr_secagg_client *cl, int v)
{
    return held_s(cl, v) + FR_SECAGG_SECRET_BYTES;
}

void fr_secagg_client_free(fr_secagg_client *cl)
{
    if (cl->secret) {
        sodium_memzero(cl->secret, secret_bytes(cl->p.n));
        sodium_free(cl->secret);
    }
    free(cl->pub);
    memset(cl, 0, sizeof *cl);
}

/* Give up the round: err already says why. */
static fr_status refuse(fr_secagg_client *cl, fr_status st)
{
    cl->stage = FR_SECAGG_CL_REFUSED;
    sodium_memzero(cl->secret, secret_bytes(cl->p.n));
    return st;
}

/* The call fits the stage the node is in. */
static fr_status expect_stage(const fr_secagg_client *cl, int ok, const char *what, fr_err *err)
{
    if (cl->stage == FR_SECAGG_CL_REFUSED)
        return fr_fail(err, FR_EINVAL, "secagg round %u, node %d: the round was given up",
                       cl->p.round, cl->id);
    if (!ok)
        return fr_fail(err, FR_EINVAL, "secagg round %u, node %d: %s out of order (stage %d)",
                       cl->p.round, cl->id, what, (int)cl->stage);
    return FR_OK;
}

static fr_status check_round(const fr_secagg_client *cl, uint32_t round, const char *what,
                             fr_err *err)
{
    if (round != cl->p.round)
        return fr_fail(err, FR_EINVAL, "secagg round %u, node %d: %s of round %u refused",
                       cl->p.round, cl->id, what, round);
    return FR_OK;
}

fr_status fr_secagg_client_init(fr_secagg_client *cl, const fr_secagg_params *p, int my_id,
                                const uint8_t identity_sk[FR_SECAGG_ID_SECRET_BYTES],
                                const uint8_t *peer_identity_pks, fr_err *err)
{
    memset(cl, 0, sizeof *cl);
    fr_status st = fr_secagg_params_check(p, err);
    if (st == FR_OK)
        st = fr_secagg_floor_check(p, 0, 0, err);
    if (st != FR_OK)
        return st;
    if (my_id < 1 || my_id > p->n)
        return fr_fail(err, FR_EINVAL, "secagg: node id %d, must be 1..%d", my_id, p->n);
    cl->p = *p;
    cl->id = my_id;
    size_t n1 = (size_t)p->n + 1;
    cl->pub = calloc(n1, 3 * FR_SECAGG_KEY_BYTES + 4);
    cl->secret = sodium_malloc(secret_bytes(p->n));
    if (!cl->pub || !cl->secret) {
        st = fr_fail(err, FR_ENOMEM, "secagg: out of memory for node %d", my_id);
        goto out;
    }
    sodium_memzero(cl->secret, secret_bytes(p->n));
    cl->id_pks = (void *)cl->pub;
    cl->c_pks = (void *)(cl->id_pks + n1);
    cl->s_pks = (void *)(cl->c_pks + n1);
    cl->in_u1 = (uint8_t *)(cl->s_pks + n1);
    cl->in_u2 = cl->in_u1 + n1;
    cl->asked = cl->in_u2 + n1;
    cl->in_u3 = cl->asked + n1;
    memcpy(cl->id_pks[1], peer_identity_pks, (size_t)p->n * FR_SECAGG_ID_PUBLIC_BYTES);
    memcpy(cl->secret + SEC_ID, identity_sk, FR_SECAGG_ID_SECRET_BYTES);
    uint8_t pk[FR_SECAGG_ID_PUBLIC_BYTES];
    crypto_sign_ed25519_sk_to_pk(pk, cl->secret + SEC_ID);
    if (memcmp(pk, cl->id_pks[my_id], sizeof pk) != 0)
        st = fr_fail(err, FR_EINVAL,
                     "secagg: the identity key given for node %d is not the one its peers know",
                     my_id);
    cl->stage = FR_SECAGG_CL_NEW;
out:
    if (st != FR_OK)
        fr_secagg_client_free(cl);
    return st;
}

fr_status fr_secagg_client_advertise(fr_secagg_client *cl, msgpack_sbuffer *out, fr_err *err)
{
    fr_status st = expect_stage(cl, cl->stage == FR_SECAGG_CL_NEW, "advertise", err);
    if (st != FR_OK)
        return st;
    randombytes_buf(cl->secret + SEC_C, 2 * FR_SECAGG_KEY_BYTES);
    crypto_scalarmult_base(cl->c_pk, cl->secret + SEC_C);
    crypto_scalarmult_base(cl->s_pk, cl->secret + SEC_S);
    uint8_t sig[FR_SECAGG_SIG_BYTES];
    fr_secagg_advert_sign(sig, cl->secret + SEC_ID, cl->p.round, cl->id, cl->p.setup_hash, cl->c_pk,
                          cl->s_pk);
    fr_secagg_advertise_msg m = {.round = cl->p.round,
                                 .a = {.id = cl->id,
                                       .setup = cl->p.setup_hash,
                                       .c_pk = cl->c_pk,
                                       .s_pk = cl->s_pk,
                                       .sig = sig}};
    fr_secagg_advertise_encode(&m, out);
    cl->stage = FR_SECAGG_CL_ADVERTISED;
    return FR_OK;
}

/* U1 from the coordinator's list, every key checked; FR_EINVAL means give up. Every
 * advert must name the setup this node was given: a member shown another setup (other
 * members, ids, keys or threshold) signed another hash. */
static fr_status take_adverts(fr_secagg_client *cl, const fr_secagg_adverts_msg *m, fr_err *err)
{
    const uint32_t r = cl->p.round;
    for (int i = 0; i < m->count; i++) {
        const fr_secagg_advert *a = &m->e[i];
        if (sodium_memcmp(a->setup, cl->p.setup_hash, FR_SECAGG_HASH_BYTES) != 0)
            return fr_fail(err, FR_EINVAL,
                           "secagg round %u, node %d: node %d advertised keys for another setup "
                           "of the round (the members were not all shown the same one)",
                           r, cl->id, a->id);
        fr_status st = fr_secagg_advert_verify(a->sig, cl->id_pks[a->id], r, a->id,
                                               cl->p.setup_hash, a->c_pk, a->s_pk, err);
        if (st != FR_OK)
            return st;
        if (a->id == cl->id && (memcmp(a->c_pk, cl->c_pk, FR_SECAGG_KEY_BYTES) != 0 ||
                                memcmp(a->s_pk, cl->s_pk, FR_SECAGG_KEY_BYTES) != 0))
            return fr_fail(err, FR_EINVAL,
                           "secagg round %u, node %d: the list carries other keys for this node", r,
                           cl->id);
    }
    int me_in = 0;
    for (int i = 0; i < m->count; i++)
        me_in |= m->e[i].id == cl->id;
    if (!me_in || m->count < cl->p.t)
        return fr_fail(err, FR_EINVAL,
                       "secagg round %u, node %d: an advert list of %d nodes %s (threshold %d)", r,
                       cl->id, m->count, me_in ? "is below the threshold" : "without this node",
                       cl->p.t);
    for (int i = 0; i < m->count; i++) {
        const fr_secagg_advert *a = &m->e[i];
        memcpy(cl->c_pks[a->id], a->c_pk, FR_SECAGG_KEY_BYTES);
        memcpy(cl->s_pks[a->id], a->s_pk, FR_SECAGG_KEY_BYTES);
        cl->in_u1[a->id] = 1;
    }
    return FR_OK;
}

fr_status fr_secagg_client_share(fr_secagg_client *cl, const void *adverts, size_t len,
                                 msgpack_sbuffer *out, fr_err *err)
{
    fr_status st = expect_stage(cl, cl->stage == FR_SECAGG_CL_ADVERTISED, "share", err);
    if (st != FR_OK)
        return st;
    fr_secagg_adverts_msg *m = malloc(sizeof *m);
    fr_secagg_shares_msg *sm = malloc(sizeof *sm);
    uint8_t *cts = malloc((size_t)cl->p.n * FR_SECAGG_CT_BYTES);
    uint8_t *shares = sodium_malloc(2 * (size_t)cl->p.n * FR_SECAGG_SECRET_BYTES);
    uint8_t *key = sodium_malloc(FR_SECAGG_KEY_BYTES);
    if (!m || !sm || !cts || !shares || !key) {
        st = fr_fail(err, FR_ENOMEM, "secagg: out of memory for node %d's shares", cl->id);
        goto out;
    }
    if ((st = fr_secagg_adverts_decode(adverts, len, cl->p.n, m, err)) != FR_OK ||
        (st = check_round(cl, m->round, "an advert list", err)) != FR_OK)
        goto out;
    if ((st = take_adverts(cl, m, err)) != FR_OK) {
        st = refuse(cl, st);
        goto out;
    }
    /* b_u, then t-of-|U1| shares of s_sk_u (first k rows) and b_u (next k rows) */
    randombytes_buf(cl->secret + SEC_B, FR_SECAGG_KEY_BYTES);
    int k = m->count;
    uint8_t xs[FR_SECAGG_MAX_NODES];
    for (int i = 0; i < k; i++)
        xs[i] = (uint8_t)m->e[i].id;
    uint8_t *s_sh = shares, *b_sh = shares + (size_t)k * FR_SECAGG_SECRET_BYTES;
    if ((st = fr_secagg_shamir_split(cl->secret + SEC_S, cl->p.t, xs, k, s_sh, err)) != FR_OK ||
        (st = fr_secagg_shamir_split(cl->secret + SEC_B, cl->p.t, xs, k, b_sh, err)) != FR_OK)
        goto out;
    sm->round = cl->p.round;
    sm->node = cl->id;
    sm->count = 0;
    for (int i = 0; i < k; i++) {
        int v = xs[i];
        const uint8_t *ss = s_sh + (size_t)i * FR_SECAGG_SECRET_BYTES;
        const uint8_t *bs = b_sh + (size_t)i * FR_SECAGG_SECRET_BYTES;
        if (v == cl->id) { /* its own shares stay here: it answers for itself too */
            memcpy(held_s(cl, v), ss, FR_SECAGG_SECRET_BYTES);
            memcpy(held_b(cl, v), bs, FR_SECAGG_SECRET_BYTES);
            continue;
        }
        st = fr_secagg_shared_key(key, FR_SECAGG_KEY_ENC, cl->p.round, cl->id, cl->secret + SEC_C,
                                  cl->c_pk, v, cl->c_pks[v], err);
        if (st != FR_OK) {
            st = refuse(cl, st);
            goto out;
        }
        uint8_t *ct = cts + (size_t)sm->count * FR_SECAGG_CT_BYTES;
        fr_secagg_seal(ct, key, cl->p.round, cl->id, v, ss, bs);
        sm->e[sm->count].peer = v;
        sm->e[sm->count++].ct = ct;
    }
    fr_secagg_shares_encode(sm, out);
    cl->stage = FR_SECAGG_CL_SHARED;
out:
    if (shares) {
        sodium_memzero(shares, 2 * (size_t)cl->p.n * FR_SECAGG_SECRET_BYTES);
        sodium_free(shares);
    }
    if (key)
        sodium_free(key); /* sodium_free wipes */
    free(cts);
    free(sm);
    free(m);
    return st;
}

/* U2 from the relay, every ciphertext opened into the held shares; FR_EINVAL means give
 * up. */
static fr_status take_relay(fr_secagg_client *cl, const fr_secagg_shares_msg *m, uint8_t *key,
                            fr_err *err)
{
    const uint32_t r = cl->p.round;
    for (int i = 0; i < m->count; i++)
        if (m->e[i].peer == cl->id || !cl->in_u1[m->e[i].peer])
            return fr_fail(err, FR_EINVAL,
                           "secagg round %u, node %d: relayed shares from node %d, which did "
                           "not advertise keys",
                           r, cl->id, m->e[i].peer);
    if (m->count + 1 < cl->p.t)
        return fr_fail(err, FR_EINVAL,
                       "secagg round %u, node %d: shares from %d nodes, below the threshold %d", r,
                       cl->id, m->count + 1, cl->p.t);
    for (int i = 0; i < m->count; i++) {
        int v = m->e[i].peer;
        fr_status st = fr_secagg_shared_key(key, FR_SECAGG_KEY_ENC, r, cl->id, cl->secret + SEC_C,
                                            cl->c_pk, v, cl->c_pks[v], err);
        if (st == FR_OK)
            st = fr_secagg_open(m->e[i].ct, key, r, v, cl->id, held_s(cl, v), held_b(cl, v), err);
        if (st != FR_OK)
            return st;
    }
    for (int i = 0; i < m->count; i++)
        cl->in_u2[m->e[i].peer] = 1;
    cl->in_u2[cl->id] = 1;
    return FR_OK;
}

fr_status fr_secagg_client_masked_input(fr_secagg_client *cl, const void *relay, size_t len,
                                        const uint32_t *x, msgpack_sbuffer *out, fr_err *err)
{
    fr_status st = expect_stage(cl, cl->stage == FR_SECAGG_CL_SHARED, "masked input", err);
    if (st != FR_OK)
        return st;
    const uint32_t m = cl->p.m;
    fr_secagg_shares_msg *rm = malloc(sizeof *rm);
    uint32_t *y = malloc((size_t)m * sizeof *y);
    uint8_t *key = sodium_malloc(FR_SECAGG_KEY_BYTES);
    if (!rm || !y || !key) {
        st = fr_fail(err, FR_ENOMEM, "secagg: out of memory for node %d's masked input", cl->id);
        goto out;
    }
    if ((st = fr_secagg_relay_decode(relay, len, cl->p.n, rm, err)) != FR_OK ||
        (st = check_round(cl, rm->round, "a relay", err)) != FR_OK)
        goto out;
    if (rm->node != cl->id) { /* misrouted, not a lie about the sets: only refused */
        st = fr_fail(err, FR_EINVAL, "secagg round %u, node %d: a relay for node %d refused",
                     cl->p.round, cl->id, rm->node);
        goto out;
    }
    if ((st = take_relay(cl, rm, key, err)) != FR_OK) {
        st = refuse(cl, st);
        goto out;
    }
    /* y = x + PRG(b_u) + sum_{v<u} PRG(s_uv) - sum_{v>u} PRG(s_uv), v in U2 */
    memcpy(y, x, (size_t)m * sizeof *y);
    fr_secagg_mask_add(y, m, cl->secret + SEC_B, FR_SECAGG_PRG_SELF, cl->p.round, 0);
    for (int v = 1; v <= cl->p.n; v++) {
        if (v == cl->id || !cl->in_u2[v])
            continue;
        st = fr_secagg_shared_key(key, FR_SECAGG_KEY_MASK, cl->p.round, cl->id, cl->secret + SEC_S,
                                  cl->s_pk, v, cl->s_pks[v], err);
        if (st != FR_OK) {
            st = refuse(cl, st);
            goto out;
        }
        fr_secagg_mask_add(y, m, key, FR_SECAGG_PRG_PAIR, cl->p.round, v > cl->id);
    }
    fr_secagg_masked_msg mm = {.round = cl->p.round, .from = cl->id, .m = m, .values = y};
    fr_secagg_masked_encode(&mm, out);
    cl->stage = FR_SECAGG_CL_MASKED;
out:
    if (key)
        sodium_free(key);
    free(y);
    free(rm);
    return st;
}

/* U3 as this node signed it: its ids in order, their number. */
static int signed_u3(const fr_secagg_client *cl, uint8_t *ids)
{
    int k = 0;
    for (int v = 1; v <= cl->p.n; v++)
        if (cl->in_u3[v])
            ids[k++] = (uint8_t)v;
    return k;
}

/* The request's signatures: at least t, each from a node of the U3 this node signed and
 * over that very U3. Without this a coordinator could tell some nodes that v survived
 * and others that it dropped, and collect both of v's secrets. */
static fr_status check_sigs(fr_secagg_client *cl, const fr_secagg_unmask_req_msg *m, fr_err *err)
{
    const uint32_t r = cl->p.round;
    uint8_t ids[FR_SECAGG_MAX_NODES];
    int k = signed_u3(cl, ids);
    if (m->n_sigs < cl->p.t)
        return fr_fail(err, FR_EINVAL,
                       "secagg round %u, node %d: an unmask request with %d signatures over U3, "
                       "below the threshold %d",
                       r, cl->id, m->n_sigs, cl->p.t);
    for (int i = 0; i < m->n_sigs; i++) {
        int v = m->signers[i];
        if (!cl->in_u3[v])
            return fr_fail(err, FR_EINVAL,
                           "secagg round %u, node %d: a signature over U3 from node %d, which is "
                           "not in it",
                           r, cl->id, v);
        fr_status st =
            fr_secagg_check_verify(m->sigs[i], cl->id_pks[v], r, cl->p.setup_hash, ids, k, v, err);
        if (st != FR_OK)
            return st;
    }
    return FR_OK;
}

/* The request's split of U2 into ask[v] (1 survivor, 2 dropped), checked against what
 * this node knows and signed; FR_EINVAL means give up. */
static fr_status take_request(fr_secagg_client *cl, const fr_secagg_unmask_req_msg *m, uint8_t *ask,
                              fr_err *err)
{
    const uint32_t r = cl->p.round;
    for (int i = 0; i < m->n_survivors; i++)
        ask[m->survivors[i]] = 1;
    for (int i = 0; i < m->n_dropped; i++) {
        int v = m->dropped[i];
        if (ask[v]) /* both of v's secrets would be revealed */
            return fr_fail(err, FR_EINVAL,
                           "secagg round %u, node %d: node %d is both a survivor and dropped "
                           "in the unmask request",
                           r, cl->id, v);
        ask[v] = 2;
    }
    for (int v = 1; v <= cl->p.n; v++)
        if ((ask[v] != 0) != (cl->in_u2[v] != 0))
            return fr_fail(err, FR_EINVAL,
                           "secagg round %u, node %d: the unmask request %s node %d, which %s "
                           "its shares",
                           r, cl->id, ask[v] ? "names" : "leaves out", v,
                           ask[v] ? "never sent" : "sent");
    if (ask[cl->id] != 1)
        return fr_fail(err, FR_EINVAL,
                       "secagg round %u, node %d: the unmask request counts this node as dropped",
                       r, cl->id);
    if (m->n_survivors < cl->p.t)
        return fr_fail(err, FR_EINVAL,
                       "secagg round %u, node %d: an unmask request for %d survivors, below the "
                       "threshold %d",
                       r, cl->id, m->n_survivors, cl->p.t);
    for (int v = 1; v <= cl->p.n; v++)
        if ((ask[v] == 1) != (cl->in_u3[v] != 0))
            return fr_fail(err, FR_EINVAL,
                           "secagg round %u, node %d: the unmask request %s node %d among the "
                           "survivors, unlike the U3 this node signed",
                           r, cl->id, ask[v] == 1 ? "names" : "leaves out", v);
    if (cl->stage == FR_SECAGG_CL_ANSWERED && memcmp(ask, cl->asked, (size_t)cl->p.n + 1) != 0)
        return fr_fail(err, FR_EINVAL,
                       "secagg round %u, node %d: a second unmask request that differs from the "
                       "one answered",
                       r, cl->id);
    return check_sigs(cl, m, err);
}

/* The consistency check's U3 into u3[v], checked against this node's U2; FR_EINVAL
 * means give up. */
static fr_status take_check(fr_secagg_client *cl, const fr_secagg_check_req_msg *m, uint8_t *u3,
                            fr_err *err)
{
    const uint32_t r = cl->p.round;
    for (int i = 0; i < m->n_survivors; i++) {
        int v = m->survivors[i];
        if (!cl->in_u2[v])
            return fr_fail(err, FR_EINVAL,
                           "secagg round %u, node %d: U3 names node %d, which never sent this "
                           "node its shares",
                           r, cl->id, v);
        u3[v] = 1;
    }
    if (!u3[cl->id])
        return fr_fail(err, FR_EINVAL, "secagg round %u, node %d: U3 leaves this node out", r,
                       cl->id);
    if (m->n_survivors < cl->p.t)
        return fr_fail(err, FR_EINVAL,
                       "secagg round %u, node %d: U3 of %d nodes, below the threshold %d", r,
                       cl->id, m->n_survivors, cl->p.t);
    if (cl->stage == FR_SECAGG_CL_CHECKED && memcmp(u3, cl->in_u3, (size_t)cl->p.n + 1) != 0)
        return fr_fail(err, FR_EINVAL,
                       "secagg round %u, node %d: a second U3 that differs from the one signed", r,
                       cl->id);
    return FR_OK;
}

fr_status fr_secagg_client_check(fr_secagg_client *cl, const void *request, size_t len,
                                 msgpack_sbuffer *out, fr_err *err)
{
    fr_status st =
        expect_stage(cl, cl->stage == FR_SECAGG_CL_MASKED || cl->stage == FR_SECAGG_CL_CHECKED,
                     "consistency check", err);
    if (st != FR_OK)
        return st;
    fr_secagg_check_req_msg *m = malloc(sizeof *m);
    uint8_t u3[FR_SECAGG_MAX_NODES + 1] = {0};
    if (!m)
        return fr_fail(err, FR_ENOMEM, "secagg: out of memory for node %d's check", cl->id);
    if ((st = fr_secagg_check_req_decode(request, len, cl->p.n, m, err)) != FR_OK ||
        (st = check_round(cl, m->round, "a consistency check", err)) != FR_OK)
        goto out;
    if ((st = take_check(cl, m, u3, err)) != FR_OK) {
        st = refuse(cl, st);
        goto out;
    }
    memcpy(cl->in_u3, u3, (size_t)cl->p.n + 1);
    uint8_t sig[FR_SECAGG_SIG_BYTES];
    fr_secagg_check_sign(sig, cl->secret + SEC_ID, cl->p.round, cl->p.setup_hash, m->survivors,
                         m->n_survivors);
    fr_secagg_check_msg cm = {.round = cl->p.round, .from = cl->id, .sig = sig};
    fr_secagg_check_encode(&cm, out);
    cl->stage = FR_SECAGG_CL_CHECKED;
out:
    free(m);
    return st;
}

fr_status fr_secagg_client_unmask(fr_secagg_client *cl, const void *request, size_t len,
                                  msgpack_sbuffer *out, fr_err *err)
{
    /* no share leaves before this node has signed U3 (fr_secagg_client_check) */
    fr_status st = expect_stage(
        cl, cl->stage == FR_SECAGG_CL_CHECKED || cl->stage == FR_SECAGG_CL_ANSWERED, "unmask", err);
    if (st != FR_OK)
        return st;
    fr_secagg_unmask_req_msg *m = malloc(sizeof *m);
    fr_secagg_unmask_resp_msg *rm = malloc(sizeof *rm);
    uint8_t ask[FR_SECAGG_MAX_NODES + 1] = {0};
    if (!m || !rm) {
        st = fr_fail(err, FR_ENOMEM, "secagg: out of memory for node %d's unmask", cl->id);
        goto out;
    }
    if ((st = fr_secagg_unmask_req_decode(request, len, cl->p.n, m, err)) != FR_OK ||
        (st = check_round(cl, m->round, "an unmask request", err)) != FR_OK)
        goto out;
    if ((st = take_request(cl, m, ask, err)) != FR_OK) {
        st = refuse(cl, st);
        goto out;
    }
    memcpy(cl->asked, ask, (size_t)cl->p.n + 1);
    rm->round = cl->p.round;
    rm->from = cl->id;
    rm->count = 0;
    for (int v = 1; v <= cl->p.n; v++) { /* one share per node: never both */
        if (!ask[v])
            continue;
        fr_secagg_share_entry *e = &rm->e[rm->count++];
        e->peer = v;
        e->kind = ask[v] == 1 ? FR_SECAGG_SHARE_B : FR_SECAGG_SHARE_SK;
        e->share = ask[v] == 1 ? held_b(cl, v) : held_s(cl, v);
    }
    fr_secagg_unmask_resp_encode(rm, out);
    cl->stage = FR_SECAGG_CL_ANSWERED;
out:
    free(rm);
    free(m);
    return st;
}
