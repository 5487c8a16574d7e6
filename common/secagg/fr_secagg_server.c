/* Secure aggregation, the coordinator's side (fr_secagg.h): it collects each step's
 * messages, relays the share ciphertexts it cannot open, adds up the masked vectors as
 * they arrive and, from the survivors' shares, removes the masks that do not cancel.
 * It never holds a node's vector unmasked: only the running sum of masked vectors and,
 * at the end, the sum itself. */
#include "secagg/fr_secagg.h"

#include <sodium.h>
#include <stdarg.h>
#include <string.h>

static size_t n1(const fr_secagg_server *sv)
{
    return (size_t)sv->p.n + 1;
}

static size_t shares_bytes(const fr_secagg_server *sv)
{
    return n1(sv) * n1(sv) * FR_SECAGG_SECRET_BYTES;
}

static uint8_t *held(const fr_secagg_server *sv, int responder, int v)
{
    return sv->shares + ((size_t)responder * n1(sv) + (size_t)v) * FR_SECAGG_SECRET_BYTES;
}

static uint8_t *ct_at(const fr_secagg_server *sv, int from, int to)
{
    return sv->ct + ((size_t)from * n1(sv) + (size_t)to) * FR_SECAGG_CT_BYTES;
}

void fr_secagg_server_free(fr_secagg_server *sv)
{
    if (sv->shares) {
        sodium_memzero(sv->shares, shares_bytes(sv));
        sodium_free(sv->shares);
    }
    free(sv->ct);
    free(sv->sum);
    free(sv->pub);
    memset(sv, 0, sizeof *sv);
}

fr_status fr_secagg_server_init(fr_secagg_server *sv, const fr_secagg_params *p,
                                const uint8_t *identity_pks, fr_err *err)
{
    memset(sv, 0, sizeof *sv);
    fr_status st = fr_secagg_params_check(p, err);
    if (st != FR_OK)
        return st;
    sv->p = *p;
    size_t k = n1(sv);
    sv->pub = calloc(k, 3 * FR_SECAGG_KEY_BYTES + 2 * FR_SECAGG_SIG_BYTES + 5);
    sv->sum = calloc(p->m, sizeof *sv->sum);
    if (!sv->pub || !sv->sum) {
        fr_secagg_server_free(sv);
        return fr_fail(err, FR_ENOMEM, "secagg: out of memory for round %u", p->round);
    }
    sv->id_pks = (void *)sv->pub;
    sv->c_pks = (void *)(sv->id_pks + k);
    sv->s_pks = (void *)(sv->c_pks + k);
    sv->sigs = (void *)(sv->s_pks + k);
    sv->check_sigs = (void *)(sv->sigs + k);
    sv->in_u1 = (uint8_t *)(sv->check_sigs + k);
    sv->in_u2 = sv->in_u1 + k;
    sv->in_u3 = sv->in_u2 + k;
    sv->in_u4 = sv->in_u3 + k;
    sv->responded = sv->in_u4 + k;
    memcpy(sv->id_pks[1], identity_pks, (size_t)p->n * FR_SECAGG_ID_PUBLIC_BYTES);
    sv->stage = FR_SECAGG_SV_ADVERTISE;
    return FR_OK;
}

/* Abort the round: nothing will be output, the held shares and the masked sum go. */
static fr_status abort_round(fr_secagg_server *sv, fr_err *err, fr_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static fr_status abort_round(fr_secagg_server *sv, fr_err *err, fr_status st, const char *fmt, ...)
{
    char why[FR_ERR_LEN / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    sv->stage = FR_SECAGG_SV_ABORTED;
    if (sv->shares)
        sodium_memzero(sv->shares, shares_bytes(sv));
    memset(sv->sum, 0, (size_t)sv->p.m * sizeof *sv->sum);
    return fr_fail(err, st, "secagg round %u aborted, nothing is output: %s", sv->p.round, why);
}

static fr_status in_step(const fr_secagg_server *sv, fr_secagg_server_stage want, const char *what,
                         fr_err *err)
{
    if (sv->stage == FR_SECAGG_SV_ABORTED)
        return fr_fail(err, FR_ENODATA, "secagg round %u was aborted: %s refused", sv->p.round,
                       what);
    if (sv->stage != want)
        return fr_fail(err, FR_EINVAL, "secagg round %u: %s out of step (stage %d)", sv->p.round,
                       what, (int)sv->stage);
    return FR_OK;
}

/* A message's round and sender: this round, in the set, not heard from yet. */
static fr_status check_sender(const fr_secagg_server *sv, uint32_t round, int from,
                              const uint8_t *in_set, const char *set, const uint8_t *heard,
                              const char *what, fr_err *err)
{
    if (round != sv->p.round)
        return fr_fail(err, FR_EINVAL, "secagg round %u: %s from node %d of round %u refused",
                       sv->p.round, what, from, round);
    if (in_set && !in_set[from])
        return fr_fail(err, FR_EINVAL, "secagg round %u: %s from node %d, which is not in %s",
                       sv->p.round, what, from, set);
    if (heard[from])
        return fr_fail(err, FR_EINVAL, "secagg round %u: a second %s from node %d refused",
                       sv->p.round, what, from);
    return FR_OK;
}

fr_status fr_secagg_server_add_advertise(fr_secagg_server *sv, const void *buf, size_t len,
                                         fr_err *err)
{
    fr_secagg_advertise_msg m;
    fr_status st = in_step(sv, FR_SECAGG_SV_ADVERTISE, "an advertisement", err);
    if (st == FR_OK)
        st = fr_secagg_advertise_decode(buf, len, sv->p.n, &m, err);
    if (st == FR_OK)
        st = check_sender(sv, m.round, m.a.id, NULL, NULL, sv->in_u1, "advertisement", err);
    /* checked here as well as at every node, so a forgery is refused at the door */
    if (st == FR_OK && sodium_memcmp(m.a.setup, sv->p.setup_hash, FR_SECAGG_HASH_BYTES) != 0)
        st = fr_fail(err, FR_EINVAL, "secagg round %u: node %d advertised keys for another setup",
                     sv->p.round, m.a.id);
    if (st == FR_OK)
        st = fr_secagg_advert_verify(m.a.sig, sv->id_pks[m.a.id], m.round, m.a.id, sv->p.setup_hash,
                                     m.a.c_pk, m.a.s_pk, err);
    /* A low-order key would make every other node give up the round when it meets it;
     * X25519 with such a point gives zero whatever the scalar, so any scalar finds it. */
    static const uint8_t probe[FR_SECAGG_KEY_BYTES] = {1};
    uint8_t out[FR_SECAGG_KEY_BYTES];
    if (st == FR_OK && (crypto_scalarmult(out, probe, m.a.c_pk) != 0 ||
                        crypto_scalarmult(out, probe, m.a.s_pk) != 0))
        st = fr_fail(err, FR_EINVAL, "secagg round %u: node %d advertised a low-order key",
                     sv->p.round, m.a.id);
    if (st != FR_OK)
        return st;
    memcpy(sv->c_pks[m.a.id], m.a.c_pk, FR_SECAGG_KEY_BYTES);
    memcpy(sv->s_pks[m.a.id], m.a.s_pk, FR_SECAGG_KEY_BYTES);
    memcpy(sv->sigs[m.a.id], m.a.sig, FR_SECAGG_SIG_BYTES);
    sv->in_u1[m.a.id] = 1;
    sv->n_u1++;
    return FR_OK;
}

fr_status fr_secagg_server_advertise_list(fr_secagg_server *sv, msgpack_sbuffer *out, fr_err *err)
{
    if (sv->stage == FR_SECAGG_SV_ADVERTISE) {
        if (sv->n_u1 < sv->p.t)
            return abort_round(sv, err, FR_ENODATA, "%d nodes advertised keys, the threshold is %d",
                               sv->n_u1, sv->p.t);
        sv->ct = malloc(n1(sv) * n1(sv) * FR_SECAGG_CT_BYTES);
        if (!sv->ct)
            return fr_fail(err, FR_ENOMEM, "secagg: out of memory for round %u's ciphertexts",
                           sv->p.round);
        sv->stage = FR_SECAGG_SV_SHARES;
    }
    if (sv->stage == FR_SECAGG_SV_ABORTED)
        return in_step(sv, FR_SECAGG_SV_SHARES, "the advert list", err);
    fr_secagg_adverts_msg *m = malloc(sizeof *m);
    if (!m)
        return fr_fail(err, FR_ENOMEM, "secagg: out of memory for round %u's advert list",
                       sv->p.round);
    m->round = sv->p.round;
    m->count = 0;
    for (int v = 1; v <= sv->p.n; v++)
        if (sv->in_u1[v])
            m->e[m->count++] =
                (fr_secagg_advert){v, sv->p.setup_hash, sv->c_pks[v], sv->s_pks[v], sv->sigs[v]};
    fr_secagg_adverts_encode(m, out);
    free(m);
    return FR_OK;
}

fr_status fr_secagg_server_add_shares(fr_secagg_server *sv, const void *buf, size_t len,
                                      fr_err *err)
{
    fr_secagg_shares_msg *m = malloc(sizeof *m);
    fr_status st = m ? in_step(sv, FR_SECAGG_SV_SHARES, "shares", err)
                     : fr_fail(err, FR_ENOMEM, "secagg: out of memory for shares");
    if (st == FR_OK)
        st = fr_secagg_shares_decode(buf, len, sv->p.n, m, err);
    if (st == FR_OK)
        st = check_sender(sv, m->round, m->node, sv->in_u1, "U1", sv->in_u2, "shares", err);
    /* exactly one ciphertext for each other node of U1 (the decoder refused repeats) */
    if (st == FR_OK && m->count != sv->n_u1 - 1)
        st = fr_fail(err, FR_EINVAL,
                     "secagg round %u: node %d sent shares for %d nodes, U1 has %d others",
                     sv->p.round, m->node, m->count, sv->n_u1 - 1);
    for (int i = 0; st == FR_OK && i < m->count; i++)
        if (m->e[i].peer == m->node || !sv->in_u1[m->e[i].peer])
            st = fr_fail(err, FR_EINVAL,
                         "secagg round %u: node %d sent shares for node %d, which is not one of "
                         "its peers in U1",
                         sv->p.round, m->node, m->e[i].peer);
    if (st == FR_OK) {
        for (int i = 0; i < m->count; i++)
            memcpy(ct_at(sv, m->node, m->e[i].peer), m->e[i].ct, FR_SECAGG_CT_BYTES);
        sv->in_u2[m->node] = 1;
        sv->n_u2++;
    }
    free(m);
    return st;
}

fr_status fr_secagg_server_shares_for(fr_secagg_server *sv, int v, msgpack_sbuffer *out,
                                      fr_err *err)
{
    if (sv->stage == FR_SECAGG_SV_SHARES) {
        if (sv->n_u2 < sv->p.t)
            return abort_round(sv, err, FR_ENODATA, "%d nodes sent shares, the threshold is %d",
                               sv->n_u2, sv->p.t);
        sv->stage = FR_SECAGG_SV_MASKED;
    }
    fr_status st = in_step(sv, FR_SECAGG_SV_MASKED, "a relay", err);
    if (st != FR_OK)
        return st;
    if (v < 1 || v > sv->p.n || !sv->in_u2[v])
        return fr_fail(err, FR_EINVAL, "secagg round %u: no relay for node %d, not in U2",
                       sv->p.round, v);
    fr_secagg_shares_msg *m = malloc(sizeof *m);
    if (!m)
        return fr_fail(err, FR_ENOMEM, "secagg: out of memory for a relay");
    m->round = sv->p.round;
    m->node = v;
    m->count = 0;
    for (int u = 1; u <= sv->p.n; u++)
        if (u != v && sv->in_u2[u])
            m->e[m->count++] = (fr_secagg_ct_entry){u, ct_at(sv, u, v)};
    fr_secagg_relay_encode(m, out);
    free(m);
    return FR_OK;
}

fr_status fr_secagg_server_add_masked_input(fr_secagg_server *sv, const void *buf, size_t len,
                                            fr_err *err)
{
    fr_secagg_masked_msg m;
    fr_status st = in_step(sv, FR_SECAGG_SV_MASKED, "a masked input", err);
    if (st == FR_OK)
        st = fr_secagg_masked_decode(buf, len, sv->p.n, sv->p.m, &m, err);
    if (st == FR_OK)
        st = check_sender(sv, m.round, m.from, sv->in_u2, "U2", sv->in_u3, "masked input", err);
    if (st != FR_OK)
        return st;
    /* summed as it arrives: the vector itself is not kept */
    for (uint32_t i = 0; i < sv->p.m; i++) {
        const uint8_t *b = m.y + 4 * (size_t)i;
        sv->sum[i] +=
            (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    }
    sv->in_u3[m.from] = 1;
    sv->n_u3++;
    return FR_OK;
}

/* U3's ids in order, their number. */
static int u3_ids(const fr_secagg_server *sv, uint8_t *ids)
{
    int k = 0;
    for (int v = 1; v <= sv->p.n; v++)
        if (sv->in_u3[v])
            ids[k++] = (uint8_t)v;
    return k;
}

fr_status fr_secagg_server_check_request(fr_secagg_server *sv, msgpack_sbuffer *out, fr_err *err)
{
    if (sv->stage == FR_SECAGG_SV_MASKED) {
        if (sv->n_u3 < sv->p.t)
            return abort_round(sv, err, FR_ENODATA,
                               "%d nodes sent masked inputs, the threshold is %d", sv->n_u3,
                               sv->p.t);
        sv->stage = FR_SECAGG_SV_CHECK;
    }
    fr_status st = in_step(sv, FR_SECAGG_SV_CHECK, "the consistency check", err);
    if (st != FR_OK)
        return st;
    fr_secagg_check_req_msg m = {.round = sv->p.round};
    m.n_survivors = u3_ids(sv, m.survivors);
    fr_secagg_check_req_encode(&m, out);
    return FR_OK;
}

fr_status fr_secagg_server_add_check(fr_secagg_server *sv, const void *buf, size_t len, fr_err *err)
{
    fr_secagg_check_msg m;
    fr_status st = in_step(sv, FR_SECAGG_SV_CHECK, "a consistency signature", err);
    if (st == FR_OK)
        st = fr_secagg_check_decode(buf, len, sv->p.n, &m, err);
    if (st == FR_OK)
        st = check_sender(sv, m.round, m.from, sv->in_u3, "U3", sv->in_u4, "consistency signature",
                          err);
    uint8_t ids[FR_SECAGG_MAX_NODES];
    int k = u3_ids(sv, ids);
    /* a bad one would make every node give up the round: refused at the door */
    if (st == FR_OK)
        st = fr_secagg_check_verify(m.sig, sv->id_pks[m.from], sv->p.round, sv->p.setup_hash, ids,
                                    k, m.from, err);
    if (st != FR_OK)
        return st;
    memcpy(sv->check_sigs[m.from], m.sig, FR_SECAGG_SIG_BYTES);
    sv->in_u4[m.from] = 1;
    sv->n_u4++;
    return FR_OK;
}

fr_status fr_secagg_server_unmask_request(fr_secagg_server *sv, msgpack_sbuffer *out, fr_err *err)
{
    if (sv->stage == FR_SECAGG_SV_CHECK) {
        if (sv->n_u4 < sv->p.t)
            return abort_round(sv, err, FR_ENODATA, "%d nodes signed U3, the threshold is %d",
                               sv->n_u4, sv->p.t);
        sv->shares = sodium_malloc(shares_bytes(sv));
        if (!sv->shares)
            return fr_fail(err, FR_ENOMEM, "secagg: out of memory for round %u's shares",
                           sv->p.round);
        sodium_memzero(sv->shares, shares_bytes(sv));
        sv->stage = FR_SECAGG_SV_UNMASK;
    }
    fr_status st = in_step(sv, FR_SECAGG_SV_UNMASK, "the unmask request", err);
    if (st != FR_OK)
        return st;
    fr_secagg_unmask_req_msg *m = calloc(1, sizeof *m);
    if (!m)
        return fr_fail(err, FR_ENOMEM, "secagg: out of memory for round %u's unmask request",
                       sv->p.round);
    m->round = sv->p.round;
    for (int v = 1; v <= sv->p.n; v++) {
        if (sv->in_u3[v])
            m->survivors[m->n_survivors++] = (uint8_t)v;
        else if (sv->in_u2[v])
            m->dropped[m->n_dropped++] = (uint8_t)v;
        if (sv->in_u4[v]) {
            m->signers[m->n_sigs] = (uint8_t)v;
            m->sigs[m->n_sigs++] = sv->check_sigs[v];
        }
    }
    fr_secagg_unmask_req_encode(m, out);
    free(m);
    return FR_OK;
}

fr_status fr_secagg_server_add_unmask_response(fr_secagg_server *sv, const void *buf, size_t len,
                                               fr_err *err)
{
    fr_secagg_unmask_resp_msg *m = malloc(sizeof *m);
    fr_status st = m ? in_step(sv, FR_SECAGG_SV_UNMASK, "an unmask response", err)
                     : fr_fail(err, FR_ENOMEM, "secagg: out of memory for an unmask response");
    if (st == FR_OK)
        st = fr_secagg_unmask_resp_decode(buf, len, sv->p.n, m, err);
    if (st == FR_OK)
        st = check_sender(sv, m->round, m->from, sv->in_u4, "U4 (the nodes that signed U3)",
                          sv->responded, "unmask response", err);
    /* one share for every node of U2, of the kind its fate calls for */
    if (st == FR_OK && m->count != sv->n_u2)
        st = fr_fail(err, FR_EINVAL,
                     "secagg round %u: node %d's unmask response holds %d shares, U2 has %d",
                     sv->p.round, m->from, m->count, sv->n_u2);
    for (int i = 0; st == FR_OK && i < m->count; i++) {
        int v = m->e[i].peer;
        int want = sv->in_u3[v] ? FR_SECAGG_SHARE_B : FR_SECAGG_SHARE_SK;
        if (!sv->in_u2[v] || m->e[i].kind != want)
            st = fr_fail(err, FR_EINVAL,
                         "secagg round %u: node %d's unmask response has a share of kind %d for "
                         "node %d, which %s",
                         sv->p.round, m->from, m->e[i].kind, v,
                         !sv->in_u2[v]  ? "is not in U2"
                         : sv->in_u3[v] ? "survived (kind 1 expected)"
                                        : "dropped (kind 2 expected)");
    }
    if (st == FR_OK) {
        for (int i = 0; i < m->count; i++)
            memcpy(held(sv, m->from, m->e[i].peer), m->e[i].share, FR_SECAGG_SECRET_BYTES);
        sv->responded[m->from] = 1;
        sv->n_resp++;
    }
    free(m);
    return st;
}

/* Remove from y the masks that did not cancel, using the shares of the responders xs. */
static fr_status unmask(fr_secagg_server *sv, uint32_t *y, const uint8_t *xs, int k,
                        uint8_t *secret, fr_err *err)
{
    const uint8_t *sh[FR_SECAGG_MAX_NODES];
    uint8_t *key = secret + FR_SECAGG_SECRET_BYTES;
    fr_status st = FR_OK;
    for (int v = 1; st == FR_OK && v <= sv->p.n; v++) {
        if (!sv->in_u2[v])
            continue;
        for (int j = 0; j < k; j++)
            sh[j] = held(sv, xs[j], v);
        if ((st = fr_secagg_shamir_combine(xs, sh, k, secret, err)) != FR_OK)
            break;
        if (sv->in_u3[v]) { /* a survivor: its self-mask b_v */
            fr_secagg_mask_add(y, sv->p.m, secret, FR_SECAGG_PRG_SELF, sv->p.round, 1);
            continue;
        }
        /* dropped: s_sk_v, checked against the key it advertised, then every mask it
         * shares with a survivor u; u added PRG(s_uv) when v < u, subtracted it when v > u */
        uint8_t pk[FR_SECAGG_KEY_BYTES];
        crypto_scalarmult_base(pk, secret);
        if (sodium_memcmp(pk, sv->s_pks[v], sizeof pk) != 0) {
            st = fr_fail(err, FR_EINVAL,
                         "node %d's mask key rebuilt from the shares of %d survivors does not "
                         "match the key it advertised: a bad share",
                         v, k);
            break;
        }
        for (int u = 1; st == FR_OK && u <= sv->p.n; u++) {
            if (!sv->in_u3[u])
                continue;
            st = fr_secagg_shared_key(key, FR_SECAGG_KEY_MASK, sv->p.round, v, secret, sv->s_pks[v],
                                      u, sv->s_pks[u], err);
            if (st == FR_OK)
                fr_secagg_mask_add(y, sv->p.m, key, FR_SECAGG_PRG_PAIR, sv->p.round, v < u);
        }
    }
    return st;
}

fr_status fr_secagg_server_finish(fr_secagg_server *sv, uint32_t *sum, int *contributors,
                                  fr_err *err)
{
    if (sv->stage == FR_SECAGG_SV_DONE) {
        memcpy(sum, sv->sum, (size_t)sv->p.m * sizeof *sum);
        *contributors = sv->n_u3;
        return FR_OK;
    }
    fr_status st = in_step(sv, FR_SECAGG_SV_UNMASK, "finish", err);
    if (st != FR_OK)
        return st;
    if (sv->n_resp < sv->p.t)
        return abort_round(sv, err, FR_ENODATA,
                           "%d survivors answered the unmask request, the "
                           "threshold is %d",
                           sv->n_resp, sv->p.t);
    /* the first t responders by id: any t shares give the same secrets */
    uint8_t xs[FR_SECAGG_MAX_NODES];
    int k = 0;
    for (int v = 1; v <= sv->p.n && k < sv->p.t; v++)
        if (sv->responded[v])
            xs[k++] = (uint8_t)v;
    uint32_t *y = malloc((size_t)sv->p.m * sizeof *y);
    uint8_t *secret = sodium_malloc(2 * FR_SECAGG_SECRET_BYTES);
    fr_err why = {{0}};
    if (!y || !secret) {
        st = fr_fail(err, FR_ENOMEM, "secagg: out of memory to finish round %u", sv->p.round);
        goto out;
    }
    memcpy(y, sv->sum, (size_t)sv->p.m * sizeof *y);
    if ((st = unmask(sv, y, xs, k, secret, &why)) != FR_OK) {
        st = abort_round(sv, err, st, "%s", why.msg);
        goto out;
    }
    memcpy(sv->sum, y, (size_t)sv->p.m * sizeof *y);
    sodium_memzero(sv->shares, shares_bytes(sv));
    sv->stage = FR_SECAGG_SV_DONE;
    memcpy(sum, y, (size_t)sv->p.m * sizeof *sum);
    *contributors = sv->n_u3;
out:
    if (secret)
        sodium_free(secret);
    free(y);
    return st;
}
