/* Secure rounds in the round machine (docs/secagg.md, "In the federation"). When a
 * round opens with secure aggregation on, its members are the candidates the owner
 * passes (live nodes with a verified identity and data), ids 1..n in name order.
 * Nodes train first, then walk the protocol's steps: the advertising step closes when
 * every member has advertised keys (or the quorum) or at the round's deadline (it
 * spans training), each later step when every node of the step before has spoken or
 * after secagg_step_timeout (the consistency check when every node of U3 has signed
 * it), the unmasking step when every node that signed U3 has answered.
 * The round holds only the running sum of masked vectors (in fr_secagg_server),
 * ciphertexts it cannot open and, briefly, the shares that remove the masks; the
 * unmasked sum becomes the round's aggregate and is published like a plain round's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fed/fr_round.h"
#include "secagg/fr_identity.h"

static const char *const msg_names[FR_ROUND_NMSGS] = {
    [FR_ROUND_GET_SETUP] = "setup",    [FR_ROUND_GET_ADVERTS] = "adverts",
    [FR_ROUND_GET_RELAY] = "relay",    [FR_ROUND_GET_CHECK] = "check",
    [FR_ROUND_GET_UNMASK] = "unmask",  [FR_ROUND_POST_ADVERTISE] = "advertise",
    [FR_ROUND_POST_SHARES] = "shares", [FR_ROUND_POST_MASKED] = "masked",
    [FR_ROUND_POST_CHECK] = "check",   [FR_ROUND_POST_UNMASK] = "unmask",
};

const char *fr_round_msg_name(fr_round_msg m)
{
    return (int)m >= 0 && m < FR_ROUND_NMSGS ? msg_names[m] : "";
}

void fr_round_secure_end(fr_round *r)
{
    fr_round_secure *sa = &r->sa;
    if (!sa->on)
        return;
    fr_secagg_server_free(&sa->sv);
    free(sa->blob);
    msgpack_sbuffer_destroy(&sa->setup_msg);
    msgpack_sbuffer_destroy(&sa->adverts_msg);
    msgpack_sbuffer_destroy(&sa->check_msg);
    msgpack_sbuffer_destroy(&sa->unmask_msg);
    memset(sa, 0, sizeof *sa);
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const fr_secagg_member *const *)a)->name,
                  (*(const fr_secagg_member *const *)b)->name);
}

fr_status fr_round_open_secure(fr_round *r, const fr_secagg_member *candidates, int n, fr_err *err)
{
    fr_round_secure *sa = &r->sa;
    const fr_secagg_member *pick[FR_SECAGG_MAX_NODES];
    size_t bytes = 0;
    if (!r->id)
        return fr_fail(err, FR_EINVAL, "a secure round needs an open round");
    if (n > FR_SECAGG_MAX_NODES)
        n = FR_SECAGG_MAX_NODES;
    if (n < FR_SECAGG_MIN_MEMBERS)
        return fr_fail(err, FR_ENODATA, "a secure round needs %d members, %d eligible",
                       FR_SECAGG_MIN_MEMBERS, n);
    for (int i = 0; i < n; i++) {
        pick[i] = &candidates[i];
        bytes += FR_IDENTITY_PK_BYTES + candidates[i].cert_len + candidates[i].sig_len;
    }
    qsort(pick, (size_t)n, sizeof pick[0], by_name);
    fr_round_secure_end(r);
    memset(sa, 0, sizeof *sa);
    msgpack_sbuffer_init(&sa->setup_msg);
    msgpack_sbuffer_init(&sa->adverts_msg);
    msgpack_sbuffer_init(&sa->check_msg);
    msgpack_sbuffer_init(&sa->unmask_msg);
    sa->on = 1;
    int t = r->cfg.secagg_threshold > 0 ? r->cfg.secagg_threshold : r->cfg.min_updates;
    /* more than 2n/3 at least: the floor every node holds a round to (fr_secagg.h) */
    if (3 * t <= 2 * n)
        t = 2 * n / 3 + 1;
    if (t > n)
        t = n;
    fr_secagg_setup *s = &sa->setup;
    s->p = (fr_secagg_params){
        .round = (uint32_t)r->id, .n = n, .t = t, .m = (uint32_t)(r->n + FR_SECAGG_ROUND_EXTRA)};
    s->model_version = r->version;
    s->clip = r->cfg.max_update_norm;
    s->loss_clip = FR_SECAGG_LOSS_CLIP;
    s->max_weight = r->cfg.max_weight;
    s->weight_windows = r->cfg.weight_windows;
    uint8_t *pks = NULL;
    fr_status st = FR_OK;
    if (!(sa->blob = malloc(bytes)) || !(pks = malloc((size_t)n * FR_IDENTITY_PK_BYTES))) {
        st = fr_fail(err, FR_ENOMEM, "secure round: out of memory");
        goto out;
    }
    uint8_t *w = sa->blob;
    for (int i = 0; i < n; i++) {
        fr_secagg_member *e = &s->e[i];
        const fr_secagg_member *l = pick[i];
        e->id = i + 1;
        snprintf(e->name, sizeof e->name, "%s", l->name);
        memcpy(w, l->id_pk, FR_IDENTITY_PK_BYTES);
        memcpy(pks + (size_t)i * FR_IDENTITY_PK_BYTES, l->id_pk, FR_IDENTITY_PK_BYTES);
        e->id_pk = w;
        w += FR_IDENTITY_PK_BYTES;
        if (l->cert_len)
            memcpy(w, l->cert, l->cert_len);
        e->cert = w;
        e->cert_len = l->cert_len;
        w += l->cert_len;
        if (l->sig_len)
            memcpy(w, l->sig, l->sig_len);
        e->sig = w;
        e->sig_len = l->sig_len;
        w += l->sig_len;
    }
    /* the layout checks the vector's size; the hash every member signs into its advert
     * is checked by the server as well */
    fr_secagg_layout layout;
    if ((st = fr_secagg_round_layout(s, &layout, err)) != FR_OK ||
        (st = fr_secagg_setup_hash(s, s->p.setup_hash, err)) != FR_OK ||
        (st = fr_secagg_server_init(&sa->sv, &s->p, pks, err)) != FR_OK)
        goto out;
    fr_secagg_setup_encode(s, &sa->setup_msg);
    /* nodes train before they advertise keys: the first step lasts as long as training */
    sa->step_deadline = r->deadline;
    /* a quorum below the threshold would close a step too early to unmask anything */
    r->expected = r->cfg.quorum > 0 && r->cfg.quorum < n ? r->cfg.quorum : n;
    if (r->expected < t)
        r->expected = t;
out:
    free(pks);
    if (st != FR_OK)
        fr_round_secure_end(r);
    return st;
}

static void abort_with(fr_round_decision *d, const char *why)
{
    d->action = FR_ROUND_ABORT;
    snprintf(d->note, sizeof d->note, "%s", why);
}

/* The survivors' unmasked sum becomes the round's aggregate. */
static void finish(fr_round *r, fr_round_decision *d)
{
    fr_round_secure *sa = &r->sa;
    fr_err err = {{0}};
    uint32_t *sum = malloc((size_t)sa->setup.p.m * sizeof *sum);
    int contributors = 0;
    fr_secagg_round_sum got = {.wdelta = r->agg.sum};
    if (!sum) {
        snprintf(err.msg, sizeof err.msg, "secagg round %ld: out of memory for the sum", r->id);
        goto fail;
    }
    if (fr_secagg_server_finish(&sa->sv, sum, &contributors, &err) != FR_OK ||
        fr_secagg_round_decode(&sa->setup, sum, contributors, &got, &err) != FR_OK)
        goto fail;
    if (r->cfg.fdp)
        fr_secagg_round_ring_sum(&sa->setup, sum, r->agg.sum);
    /* the weights are the members' own, summed under the masks like their deltas */
    r->agg.count = contributors;
    r->agg.weight = got.weight;
    /* outside its range a member lied about its norm: the round goes on unextrapolated */
    if (got.wsqnorm >= 0 && !r->cfg.fdp)
        fr_agg_add_sqnorm(&r->agg, got.wsqnorm, contributors);
    r->loss_sum = got.wloss;
    r->eval = got.eval;
    free(sum);
    d->action = FR_ROUND_PUBLISH;
    snprintf(d->note, sizeof d->note, "unmasked the sum of %d members", contributors);
    return;
fail:
    free(sum);
    abort_with(d, err.msg);
}

/* Close the current step: the broadcast that follows it is built now, once. */
void fr_round_secure_close_step(fr_round *r, double now, fr_round_decision *d)
{
    fr_round_secure *sa = &r->sa;
    fr_err err = {{0}};
    fr_status st = FR_OK;
    d->action = FR_ROUND_CONTINUE;
    d->note[0] = '\0';
    switch (sa->sv.stage) {
    case FR_SECAGG_SV_ADVERTISE:
        st = fr_secagg_server_advertise_list(&sa->sv, &sa->adverts_msg, &err);
        if (st == FR_OK)
            snprintf(d->note, sizeof d->note, "%d of %d members advertised keys", sa->sv.n_u1,
                     sa->setup.p.n);
        break;
    case FR_SECAGG_SV_SHARES: {
        msgpack_sbuffer scratch;
        msgpack_sbuffer_init(&scratch);
        /* node 0 has no relay: the call only closes the step */
        st = fr_secagg_server_shares_for(&sa->sv, 0, &scratch, &err);
        msgpack_sbuffer_destroy(&scratch);
        if (sa->sv.stage == FR_SECAGG_SV_MASKED) {
            st = FR_OK;
            snprintf(d->note, sizeof d->note, "%d members shared their keys", sa->sv.n_u2);
        }
        break;
    }
    case FR_SECAGG_SV_MASKED:
        st = fr_secagg_server_check_request(&sa->sv, &sa->check_msg, &err);
        if (st == FR_OK)
            snprintf(d->note, sizeof d->note, "%d masked updates in, %d dropped; consistency check",
                     sa->sv.n_u3, sa->sv.n_u2 - sa->sv.n_u3);
        break;
    case FR_SECAGG_SV_CHECK:
        st = fr_secagg_server_unmask_request(&sa->sv, &sa->unmask_msg, &err);
        if (st == FR_OK)
            snprintf(d->note, sizeof d->note, "%d of %d members signed U3; unmasking", sa->sv.n_u4,
                     sa->sv.n_u3);
        break;
    case FR_SECAGG_SV_UNMASK: finish(r, d); return;
    default: return;
    }
    if (st != FR_OK)
        return abort_with(d, err.msg);
    d->action = FR_ROUND_STEPPED;
    sa->step_deadline = now + r->cfg.secagg_step_timeout;
}

int fr_round_secure_unmasked(const fr_round *r)
{
    return r->id && r->sa.on && r->sa.sv.stage == FR_SECAGG_SV_UNMASK &&
           r->sa.sv.n_resp == r->sa.sv.n_u4;
}

static const fr_secagg_member *member(const fr_round *r, const char *node)
{
    return r->id && r->sa.on ? fr_secagg_setup_find(&r->sa.setup, node) : NULL;
}

int fr_round_secure_task_open(const fr_round *r, const char *node)
{
    return member(r, node) && r->sa.sv.stage <= FR_SECAGG_SV_UNMASK;
}

int fr_round_secure_contributors(const fr_round *r, const fr_secagg_member **out, int cap)
{
    int k = 0;
    if (!r->sa.on || !r->sa.sv.in_u3)
        return 0;
    for (int i = 0; i < r->sa.setup.p.n && k < cap; i++)
        if (r->sa.sv.in_u3[i + 1])
            out[k++] = &r->sa.setup.e[i];
    return k;
}

static fr_round_refusal copy_out(const msgpack_sbuffer *msg, msgpack_sbuffer *out)
{
    msgpack_sbuffer_write(out, msg->data, msg->size);
    return FR_ROUND_OK;
}

/* A POST's sender as the message names it (it must be the node whose certificate
 * sent it). */
static fr_round_refusal sender(const void *body, size_t len, fr_round_msg m, int n, uint32_t dim,
                               int *from, fr_err *err)
{
    fr_status st;
    if (m == FR_ROUND_POST_ADVERTISE) {
        fr_secagg_advertise_msg a;
        st = fr_secagg_advertise_decode(body, len, n, &a, err);
        *from = a.a.id;
    } else if (m == FR_ROUND_POST_SHARES) {
        fr_secagg_shares_msg *s = malloc(sizeof *s); /* 31 KiB: not on the caller's stack */
        if (!s) {
            fr_fail(err, FR_ENOMEM, "out of memory for a shares message");
            return FR_ROUND_INTERNAL;
        }
        st = fr_secagg_shares_decode(body, len, n, s, err);
        *from = s->node;
        free(s);
    } else if (m == FR_ROUND_POST_MASKED) {
        fr_secagg_masked_msg y;
        st = fr_secagg_masked_decode(body, len, n, dim, &y, err);
        *from = y.from;
    } else if (m == FR_ROUND_POST_CHECK) {
        fr_secagg_check_msg c;
        st = fr_secagg_check_decode(body, len, n, &c, err);
        *from = c.from;
    } else {
        fr_secagg_unmask_resp_msg *u = malloc(sizeof *u);
        if (!u) {
            fr_fail(err, FR_ENOMEM, "out of memory for an unmask response");
            return FR_ROUND_INTERNAL;
        }
        st = fr_secagg_unmask_resp_decode(body, len, n, u, err);
        *from = u->from;
        free(u);
    }
    return st == FR_OK ? FR_ROUND_OK : st == FR_EINVAL ? FR_ROUND_WRONG_SIZE : FR_ROUND_MALFORMED;
}

/* Why the secagg server refused POST m from node id: out of step, heard from already,
 * outside the step's set, or something else it checks (the message's round, a key). */
static fr_round_refusal classify(const fr_secagg_server *sv, fr_round_msg m, int id)
{
    static const fr_secagg_server_stage want[FR_ROUND_NMSGS] = {
        [FR_ROUND_POST_ADVERTISE] = FR_SECAGG_SV_ADVERTISE,
        [FR_ROUND_POST_SHARES] = FR_SECAGG_SV_SHARES,
        [FR_ROUND_POST_MASKED] = FR_SECAGG_SV_MASKED,
        [FR_ROUND_POST_CHECK] = FR_SECAGG_SV_CHECK,
        [FR_ROUND_POST_UNMASK] = FR_SECAGG_SV_UNMASK,
    };
    const uint8_t *heard = m == FR_ROUND_POST_ADVERTISE ? sv->in_u1
                           : m == FR_ROUND_POST_SHARES  ? sv->in_u2
                           : m == FR_ROUND_POST_MASKED  ? sv->in_u3
                           : m == FR_ROUND_POST_CHECK   ? sv->in_u4
                                                        : sv->responded;
    const uint8_t *set = m == FR_ROUND_POST_ADVERTISE ? NULL
                         : m == FR_ROUND_POST_SHARES  ? sv->in_u1
                         : m == FR_ROUND_POST_MASKED  ? sv->in_u2
                         : m == FR_ROUND_POST_CHECK   ? sv->in_u3
                                                      : sv->in_u4;
    if (sv->stage != want[m])
        return FR_ROUND_WRONG_STEP;
    if (heard[id])
        return FR_ROUND_DUPLICATE;
    if (set && !set[id])
        return FR_ROUND_DROPPED;
    return FR_ROUND_REJECTED;
}

static fr_round_refusal get(fr_round *r, const char *node, int id, fr_round_msg m,
                            msgpack_sbuffer *out, char *reason, size_t cap)
{
    fr_round_secure *sa = &r->sa;
    fr_secagg_server *sv = &sa->sv;
    fr_err err = {{0}};
    const char *need = NULL;
    if (m == FR_ROUND_GET_SETUP)
        return copy_out(&sa->setup_msg, out);
    if (m == FR_ROUND_GET_ADVERTS) {
        if (sv->stage == FR_SECAGG_SV_ADVERTISE)
            need = "the key advertisements";
        else if (sv->in_u1[id])
            return copy_out(&sa->adverts_msg, out);
    } else if (m == FR_ROUND_GET_RELAY) {
        if (sv->stage <= FR_SECAGG_SV_SHARES)
            need = "the key shares";
        else if (sv->in_u2[id]) {
            if (fr_secagg_server_shares_for(sv, id, out, &err) != FR_OK) {
                snprintf(reason, cap, "%s", err.msg);
                return FR_ROUND_REJECTED;
            }
            return FR_ROUND_OK;
        }
    } else if (m == FR_ROUND_GET_CHECK) {
        if (sv->stage <= FR_SECAGG_SV_MASKED)
            need = "the masked updates";
        else if (sv->in_u3[id])
            return copy_out(&sa->check_msg, out);
    } else {
        if (sv->stage <= FR_SECAGG_SV_CHECK)
            need =
                sv->stage <= FR_SECAGG_SV_MASKED ? "the masked updates" : "the signatures over U3";
        else if (sv->in_u4[id])
            return copy_out(&sa->unmask_msg, out);
    }
    if (need) {
        snprintf(reason, cap, "round %ld is still collecting %s", r->id, need);
        return FR_ROUND_NOT_YET;
    }
    snprintf(reason, cap, "node %d (%s) dropped out of round %ld before this step", id, node,
             r->id);
    return FR_ROUND_DROPPED;
}

fr_round_refusal fr_round_secure_message(fr_round *r, double now, const char *node, fr_round_msg m,
                                         long asked, const uint8_t *body, size_t len,
                                         msgpack_sbuffer *out, fr_round_decision *d, char *reason,
                                         size_t cap)
{
    fr_round_secure *sa = &r->sa;
    fr_err err = {{0}};
    int post = m >= FR_ROUND_POST_ADVERTISE;
    d->action = FR_ROUND_CONTINUE;
    d->note[0] = '\0';
    if (!r->id || !sa->on) {
        snprintf(reason, cap, "no secure round is open");
        return FR_ROUND_NO_ROUND;
    }
    if (!post && asked != r->id) {
        snprintf(reason, cap, "round %ld is not the open round %ld", asked, r->id);
        return FR_ROUND_WRONG_ROUND;
    }
    const fr_secagg_member *me = member(r, node);
    if (!me) {
        snprintf(reason, cap, "%s is not a member of round %ld", node, r->id);
        return FR_ROUND_NOT_MEMBER;
    }
    int id = me->id, n = sa->setup.p.n;
    fr_secagg_server *sv = &sa->sv;
    if (sv->stage == FR_SECAGG_SV_ABORTED || sv->stage == FR_SECAGG_SV_DONE) {
        snprintf(reason, cap, "round %ld's secure aggregation is over", r->id);
        return FR_ROUND_OVER;
    }
    if (!post)
        return get(r, node, id, m, out, reason, cap);
    int from = 0;
    fr_round_refusal why = sender(body, len, m, n, sv->p.m, &from, &err);
    if (why != FR_ROUND_OK) {
        snprintf(reason, cap, "%s", err.msg);
        return why;
    }
    if (from != id) {
        snprintf(reason, cap, "a %s message from node %d, but %s is node %d", fr_round_msg_name(m),
                 from, node, id);
        return FR_ROUND_WRONG_SENDER;
    }
    why = classify(sv, m, id); /* before the call changes the server's sets */
    fr_status st;
    if (m == FR_ROUND_POST_ADVERTISE)
        st = fr_secagg_server_add_advertise(sv, body, len, &err);
    else if (m == FR_ROUND_POST_SHARES)
        st = fr_secagg_server_add_shares(sv, body, len, &err);
    else if (m == FR_ROUND_POST_MASKED)
        st = fr_secagg_server_add_masked_input(sv, body, len, &err);
    else if (m == FR_ROUND_POST_CHECK)
        st = fr_secagg_server_add_check(sv, body, len, &err);
    else
        st = fr_secagg_server_add_unmask_response(sv, body, len, &err);
    if (st != FR_OK) {
        snprintf(reason, cap, "%s", err.msg);
        return st == FR_EFORMAT || st == FR_EVERSION ? FR_ROUND_MALFORMED : why;
    }
    /* a step closes as soon as everyone who could speak in it has */
    if ((sv->stage == FR_SECAGG_SV_ADVERTISE && (sv->n_u1 == n || sv->n_u1 >= r->expected)) ||
        (sv->stage == FR_SECAGG_SV_SHARES && sv->n_u2 == sv->n_u1) ||
        (sv->stage == FR_SECAGG_SV_MASKED && (sv->n_u3 == sv->n_u2 || sv->n_u3 >= r->expected)) ||
        (sv->stage == FR_SECAGG_SV_CHECK && sv->n_u4 == sv->n_u3))
        fr_round_secure_close_step(r, now, d);
    snprintf(reason, cap, "accepted");
    return FR_ROUND_OK;
}
