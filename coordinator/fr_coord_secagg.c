/* Secure rounds at the coordinator (docs/secagg.md, "In the federation"). When a round
 * opens with secure aggregation on, its members are the live nodes with a verified
 * identity and data, ids 1..n in name order. Nodes train first, then walk the
 * protocol's steps over the /v1/secagg/ endpoints: the advertising step closes when
 * every member has advertised keys or at the round's deadline (it spans training),
 * each later step when every node of the step before has spoken or after
 * secagg-step-timeout, the unmasking step when every survivor has answered. The
 * coordinator holds only the running sum of masked vectors, ciphertexts it cannot
 * open and, briefly, the shares that remove the masks; the unmasked sum becomes the
 * round's aggregate and is published like a plain round's. Nothing of a secure round
 * is written to disk before it finishes: a restarted coordinator aborts it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fr_coord.h"

int fr_coord_secagg_enabled(const fr_coord *c)
{
    return c->cfg.secure_aggregation && !strcmp(c->cfg.secure_aggregation, "on");
}

static double weight_of(const fr_coord *c, const fr_coord_live *l)
{
    return !strcmp(c->cfg.weighting, "windows") ? l->windows : l->users;
}

static int eligible(const fr_coord *c, const fr_coord_live *l, double now)
{
    return now - l->last_seen <= c->cfg.node_timeout && l->has_id && weight_of(c, l) >= 1;
}

int fr_coord_secagg_eligible(const fr_coord *c)
{
    double now = fr_coord_now();
    int n = 0;
    for (int i = 0; i < c->n_live; i++)
        n += eligible(c, &c->live[i], now);
    return n < FR_SECAGG_MAX_NODES ? n : FR_SECAGG_MAX_NODES;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const fr_coord_live *const *)a)->name,
                  (*(const fr_coord_live *const *)b)->name);
}

void fr_coord_secagg_end(fr_coord *c)
{
    fr_coord_sa *sa = &c->sa;
    if (!sa->on)
        return;
    fr_secagg_server_free(&sa->sv);
    free(sa->blob);
    msgpack_sbuffer_destroy(&sa->setup_msg);
    msgpack_sbuffer_destroy(&sa->adverts_msg);
    msgpack_sbuffer_destroy(&sa->unmask_msg);
    memset(sa, 0, sizeof *sa);
}

fr_status fr_coord_secagg_open(fr_coord *c, fr_err *err)
{
    fr_coord_sa *sa = &c->sa;
    double now = fr_coord_now();
    fr_coord_live *pick[FR_SECAGG_MAX_NODES];
    int n = 0;
    size_t bytes = 0;
    for (int i = 0; i < c->n_live && n < FR_SECAGG_MAX_NODES; i++)
        if (eligible(c, &c->live[i], now)) {
            pick[n++] = &c->live[i];
            bytes += FR_IDENTITY_PK_BYTES + c->live[i].id_cert_len + c->live[i].id_sig_len;
        }
    if (n < 2)
        return fr_fail(err, FR_ENODATA, "a secure round needs 2 members, %d eligible", n);
    qsort(pick, (size_t)n, sizeof pick[0], by_name);
    memset(sa, 0, sizeof *sa);
    msgpack_sbuffer_init(&sa->setup_msg);
    msgpack_sbuffer_init(&sa->adverts_msg);
    msgpack_sbuffer_init(&sa->unmask_msg);
    sa->on = 1;
    int t = c->cfg.secagg_threshold > 0 ? c->cfg.secagg_threshold : c->cfg.min_updates;
    /* a majority at least, so that no two disjoint groups can each unmask a node */
    if (t <= n / 2)
        t = n / 2 + 1;
    if (t > n)
        t = n;
    fr_secagg_setup *s = &sa->setup;
    s->p = (fr_secagg_params){
        .round = (uint32_t)c->round, .n = n, .t = t, .m = (uint32_t)(c->model.n + 1)};
    s->model_version = c->version;
    s->clip = c->cfg.max_update_norm;
    s->loss_clip = FR_SECAGG_LOSS_CLIP;
    uint8_t *pks = NULL;
    fr_status st = FR_OK;
    if (!(sa->blob = malloc(bytes)) || !(pks = malloc((size_t)n * FR_IDENTITY_PK_BYTES))) {
        st = fr_fail(err, FR_ENOMEM, "secure round: out of memory");
        goto out;
    }
    uint8_t *w = sa->blob;
    for (int i = 0; i < n; i++) {
        fr_secagg_member *e = &s->e[i];
        const fr_coord_live *l = pick[i];
        e->id = i + 1;
        snprintf(e->name, sizeof e->name, "%s", l->name);
        e->weight = weight_of(c, l);
        s->weight_total += e->weight;
        memcpy(w, l->id_pk, FR_IDENTITY_PK_BYTES);
        memcpy(pks + (size_t)i * FR_IDENTITY_PK_BYTES, l->id_pk, FR_IDENTITY_PK_BYTES);
        e->id_pk = w;
        w += FR_IDENTITY_PK_BYTES;
        memcpy(w, l->id_cert, l->id_cert_len);
        e->cert = w;
        e->cert_len = l->id_cert_len;
        w += l->id_cert_len;
        memcpy(w, l->id_sig, l->id_sig_len);
        e->sig = w;
        e->sig_len = l->id_sig_len;
        w += l->id_sig_len;
    }
    if ((st = fr_secagg_server_init(&sa->sv, &s->p, pks, err)) != FR_OK)
        goto out;
    fr_secagg_setup_encode(s, &sa->setup_msg);
    /* nodes train before they advertise keys: the first step lasts as long as training */
    sa->step_deadline = c->deadline;
    /* a quorum below the threshold would close a step too early to unmask anything */
    c->expected = c->cfg.quorum > 0 && c->cfg.quorum < n ? c->cfg.quorum : n;
    if (c->expected < t)
        c->expected = t;
    fr_coord_log("round %ld is secure: %d members, threshold %d, %u coordinates", c->round, n, t,
                 s->p.m);
out:
    free(pks);
    if (st != FR_OK)
        fr_coord_secagg_end(c);
    return st;
}

static void abort_round(fr_coord *c, const char *why)
{
    char note[FR_ERR_LEN];
    snprintf(note, sizeof note, "%s", why);
    fr_coord_secagg_end(c);
    fr_coord_round_close(c, "aborted", note);
}

/* The survivors' unmasked sum becomes the round's aggregate, then the version. */
static void finish(fr_coord *c)
{
    fr_coord_sa *sa = &c->sa;
    fr_err err = {{0}};
    uint32_t *sum = malloc((size_t)sa->setup.p.m * sizeof *sum);
    int contributors = 0;
    double t0 = fr_coord_now(), loss_sum = 0;
    if (!sum) {
        snprintf(err.msg, sizeof err.msg, "secagg round %ld: out of memory for the sum", c->round);
        goto fail;
    }
    if (fr_secagg_server_finish(&sa->sv, sum, &contributors, &err) != FR_OK ||
        fr_secagg_round_decode(&sa->setup, sum, c->agg.sum, &loss_sum, &err) != FR_OK)
        goto fail;
    c->agg.count = contributors;
    c->agg.weight = 0;
    for (int i = 0; i < sa->setup.p.n; i++)
        if (sa->sv.in_u3[i + 1]) {
            const fr_secagg_member *e = &sa->setup.e[i];
            c->agg.weight += e->weight;
            /* participation, for the store's node and round views; no vector is kept */
            fr_update_row row = {
                .round = c->round, .weight = e->weight, .received_at = fr_coord_now()};
            snprintf(row.node, sizeof row.node, "%s", e->name);
            if (fr_store_update_add(&c->store, &row, &err) != FR_OK ||
                fr_store_node_accepted(&c->store, e->name, &err) != FR_OK)
                fr_coord_log("store: %s", err.msg);
        }
    c->loss_sum = loss_sum;
    c->stats.updates_accepted += contributors;
    fr_coord_log("round %ld: unmasked the sum of %d members in %.3f s", c->round, contributors,
                 fr_coord_now() - t0);
    free(sum);
    fr_coord_secagg_end(c);
    fr_coord_round_publish(c);
    return;
fail:
    free(sum);
    abort_round(c, err.msg);
}

/* Close the current step: the broadcast that follows it is built now, once. */
static void close_step(fr_coord *c)
{
    fr_coord_sa *sa = &c->sa;
    fr_err err = {{0}};
    fr_status st = FR_OK;
    double now = fr_coord_now();
    switch (sa->sv.stage) {
    case FR_SECAGG_SV_ADVERTISE:
        st = fr_secagg_server_advertise_list(&sa->sv, &sa->adverts_msg, &err);
        if (st == FR_OK)
            fr_coord_log("round %ld: %d of %d members advertised keys", c->round, sa->sv.n_u1,
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
            fr_coord_log("round %ld: %d members shared their keys", c->round, sa->sv.n_u2);
        }
        break;
    }
    case FR_SECAGG_SV_MASKED:
        st = fr_secagg_server_unmask_request(&sa->sv, &sa->unmask_msg, &err);
        if (st == FR_OK)
            fr_coord_log("round %ld: %d masked updates in, %d dropped; unmasking", c->round,
                         sa->sv.n_u3, sa->sv.n_u2 - sa->sv.n_u3);
        break;
    case FR_SECAGG_SV_UNMASK: finish(c); return;
    default: return;
    }
    if (st != FR_OK)
        return abort_round(c, err.msg);
    sa->step_deadline = now + c->cfg.secagg_step_timeout;
}

void fr_coord_secagg_tick(fr_coord *c)
{
    fr_coord_sa *sa = &c->sa;
    double now = fr_coord_now();
    fr_secagg_server_stage stage = sa->sv.stage;
    if (now >= sa->step_deadline || (stage == FR_SECAGG_SV_UNMASK && sa->sv.n_resp == sa->sv.n_u3))
        close_step(c);
}

static const fr_secagg_member *member(const fr_coord *c, const char *node)
{
    return c->round && c->sa.on ? fr_secagg_setup_find(&c->sa.setup, node) : NULL;
}

int fr_coord_secagg_task_open(const fr_coord *c, const char *node)
{
    return member(c, node) && c->sa.sv.stage <= FR_SECAGG_SV_UNMASK;
}

static int copy_out(const msgpack_sbuffer *msg, msgpack_sbuffer *out)
{
    msgpack_sbuffer_write(out, msg->data, msg->size);
    return 200;
}

/* A POST's sender must be the node whose certificate sent it. */
static int sender(const void *body, size_t len, const char *step, int n, uint32_t m, int *from,
                  fr_err *err)
{
    fr_status st;
    if (!strcmp(step, "advertise")) {
        fr_secagg_advertise_msg a;
        st = fr_secagg_advertise_decode(body, len, n, &a, err);
        *from = a.a.id;
    } else if (!strcmp(step, "shares")) {
        static fr_secagg_shares_msg s; /* 31 KiB: not on the event loop's stack */
        st = fr_secagg_shares_decode(body, len, n, &s, err);
        *from = s.node;
    } else if (!strcmp(step, "masked")) {
        fr_secagg_masked_msg y;
        st = fr_secagg_masked_decode(body, len, n, m, &y, err);
        *from = y.from;
    } else {
        static fr_secagg_unmask_resp_msg u;
        st = fr_secagg_unmask_resp_decode(body, len, n, &u, err);
        *from = u.from;
    }
    return st == FR_OK ? 0 : st == FR_EINVAL ? 422 : 400;
}

int fr_coord_secagg_request(fr_coord *c, const char *node, const char *step, int post, long round,
                            const uint8_t *body, size_t len, msgpack_sbuffer *out, char *reason,
                            size_t cap)
{
    fr_coord_sa *sa = &c->sa;
    fr_err err = {{0}};
    if (!c->round || !sa->on) {
        snprintf(reason, cap, "no secure round is open");
        return 409;
    }
    if (!post && round != c->round) {
        snprintf(reason, cap, "round %ld is not the open round %ld", round, c->round);
        return 409;
    }
    const fr_secagg_member *me = member(c, node);
    if (!me) {
        snprintf(reason, cap, "%s is not a member of round %ld", node, c->round);
        return 409;
    }
    int id = me->id, n = sa->setup.p.n;
    fr_secagg_server *sv = &sa->sv;
    if (sv->stage == FR_SECAGG_SV_ABORTED || sv->stage == FR_SECAGG_SV_DONE) {
        snprintf(reason, cap, "round %ld's secure aggregation is over", c->round);
        return 409;
    }
    if (!post) {
        const char *need = NULL;
        if (!strcmp(step, "setup"))
            return copy_out(&sa->setup_msg, out);
        if (!strcmp(step, "adverts")) {
            if (sv->stage == FR_SECAGG_SV_ADVERTISE)
                need = "the key advertisements";
            else if (sv->in_u1[id])
                return copy_out(&sa->adverts_msg, out);
        } else if (!strcmp(step, "relay")) {
            if (sv->stage <= FR_SECAGG_SV_SHARES)
                need = "the key shares";
            else if (sv->in_u2[id]) {
                if (fr_secagg_server_shares_for(sv, id, out, &err) != FR_OK) {
                    snprintf(reason, cap, "%s", err.msg);
                    return 409;
                }
                return 200;
            }
        } else {
            if (sv->stage <= FR_SECAGG_SV_MASKED)
                need = "the masked updates";
            else if (sv->in_u3[id])
                return copy_out(&sa->unmask_msg, out);
        }
        if (need) {
            snprintf(reason, cap, "round %ld is still collecting %s", c->round, need);
            return 425;
        }
        snprintf(reason, cap, "node %d (%s) dropped out of round %ld before this step", id, node,
                 c->round);
        return 409;
    }
    int from = 0, code = sender(body, len, step, n, sv->p.m, &from, &err);
    if (code) {
        snprintf(reason, cap, "%s", err.msg);
        return code;
    }
    if (from != id) {
        snprintf(reason, cap, "a %s message from node %d, but %s is node %d", step, from, node, id);
        return 403;
    }
    fr_status st = !strcmp(step, "advertise") ? fr_secagg_server_add_advertise(sv, body, len, &err)
                   : !strcmp(step, "shares")  ? fr_secagg_server_add_shares(sv, body, len, &err)
                   : !strcmp(step, "masked")
                       ? fr_secagg_server_add_masked_input(sv, body, len, &err)
                       : fr_secagg_server_add_unmask_response(sv, body, len, &err);
    if (st != FR_OK) {
        snprintf(reason, cap, "%s", err.msg);
        return st == FR_EFORMAT || st == FR_EVERSION ? 400 : 409;
    }
    if (!strcmp(step, "masked"))
        c->stats.update_bytes += (double)len;
    /* a step closes as soon as everyone who could speak in it has */
    if ((sv->stage == FR_SECAGG_SV_ADVERTISE && (sv->n_u1 == n || sv->n_u1 >= c->expected)) ||
        (sv->stage == FR_SECAGG_SV_SHARES && sv->n_u2 == sv->n_u1) ||
        (sv->stage == FR_SECAGG_SV_MASKED && (sv->n_u3 == sv->n_u2 || sv->n_u3 >= c->expected)))
        close_step(c);
    snprintf(reason, cap, "accepted");
    return 200;
}
