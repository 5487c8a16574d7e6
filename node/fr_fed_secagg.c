/* A node's part in a secure round (docs/secagg.md, "In the federation"): it checks
 * that every member's identity key is bound to a certificate of the federation's CA,
 * exchanges keys, trains, sends its update masked so that only the sum of the
 * members' updates can be opened, and answers the coordinator's unmasking request.
 * Each exchange is retried while the coordinator says "not yet" (425) or cannot be
 * reached, until the round's deadline; any refusal ends this node's part in the round
 * (the coordinator goes on with the others). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fr_fed.h"
#include "fr_fed_fault.h"
#include "secagg/fr_secagg_round.h"

fr_status fr_fed_secagg_init(fr_fed *f, fr_err *err)
{
    char sk[4200], pk[4200];
    snprintf(sk, sizeof sk, "%s/identity.key", f->cfg.state_dir);
    snprintf(pk, sizeof pk, "%s/identity.pub", f->cfg.state_dir);
    fr_status st = fr_sign_key_load_or_create(&f->identity, sk, pk, err);
    if (st == FR_OK)
        st = fr_identity_bind(&f->binding, f->cfg.cert, f->cfg.key, f->identity.pub, err);
    if (st == FR_OK)
        st = fr_identity_ca_init(&f->idca, f->cfg.ca, f->cfg.crl, err);
    return st;
}

void fr_fed_secagg_free(fr_fed *f)
{
    fr_identity_ca_free(&f->idca);
    fr_identity_binding_free(&f->binding);
    fr_sign_key_free(&f->identity);
}

static double now_s(void)
{
    return fr_node_clock_monotonic(NULL);
}

typedef struct round_ctx {
    fr_fed *f;
    long round;
    double give_up; /* monotonic seconds */
    const volatile sig_atomic_t *stop;
} round_ctx;

/* GET (out == NULL) or POST one step until the coordinator answers 200 (FR_OK, r
 * holds the answer); FR_EINVAL with its reason when it refuses. */
static fr_status exchange(const round_ctx *x, const char *step, const msgpack_sbuffer *body,
                          fr_http_response *r, fr_err *err)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/secagg/%s?round=%ld", step, x->round);
    double wait = 0.05;
    for (;;) {
        fr_http_response_free(r);
        memset(r, 0, sizeof *r);
        fr_status st = body ? fr_http_request(&x->f->http, "POST", path, body->data, body->size,
                                              FR_PROTO_CONTENT_TYPE, r, err)
                            : fr_http_request(&x->f->http, "GET", path, NULL, 0, NULL, r, err);
        if (st == FR_OK && r->code == 200)
            return FR_OK;
        if (st == FR_OK && r->code != 425 && r->code < 500) {
            int n = (int)(r->len < 300 ? r->len : 300);
            for (int i = 0; i < n; i++)
                if (r->body[i] < 0x20 || r->body[i] > 0x7e)
                    n = i;
            return fr_fail(err, FR_EINVAL, "%s: HTTP %ld: %.*s", step, r->code, n,
                           (const char *)r->body);
        }
        if (*x->stop)
            return fr_fail(err, FR_EIO, "%s: stopped by a signal", step);
        if (now_s() + wait > x->give_up)
            return fr_fail(err, FR_EIO, "%s: no answer before the round's deadline (%s)", step,
                           st == FR_OK ? "the step stayed open" : err->msg);
        struct timespec ts = {0, (long)(wait * 1e9)};
        nanosleep(&ts, NULL);
        wait = fmin(wait * 1.5, 1.0);
    }
}

/* Every member's identity key must be bound to its certificate, ours to be ours. */
static fr_status check_members(fr_fed *f, const fr_secagg_setup *s, const fr_secagg_member *me,
                               fr_err *err)
{
    if (memcmp(me->id_pk, f->identity.pub, FR_IDENTITY_PK_BYTES))
        return fr_fail(err, FR_EINVAL, "the round lists another identity key for %s", f->name);
    for (int i = 0; i < s->p.n; i++) {
        const fr_secagg_member *e = &s->e[i];
        fr_status st = fr_identity_verify(&f->idca, e->cert, e->cert_len, e->name, e->id_pk, e->sig,
                                          e->sig_len, err);
        if (st != FR_OK)
            return st;
    }
    return fr_roster_check(&f->roster, s, f->name, err);
}

/* The round's setup, every member's identity checked. */
static fr_status fetch_setup(const round_ctx *x, const fr_proto_task *t, fr_http_response *setup_r,
                             fr_secagg_setup *s, const fr_secagg_member **me, fr_err *err)
{
    fr_fed *f = x->f;
    fr_status st = exchange(x, "setup", NULL, setup_r, err);
    if (st == FR_OK)
        st = fr_secagg_setup_decode(setup_r->body, setup_r->len, s, err);
    /* signed into this node's advert: members shown another setup will refuse it */
    if (st == FR_OK)
        st = fr_secagg_setup_hash(s, s->p.setup_hash, err);
    if (st == FR_OK && (s->p.round != (uint32_t)t->round || s->model_version != f->version))
        st = fr_fail(err, FR_EINVAL,
                     "the setup is for round %u on version %lld, not round %lld "
                     "on version %ld",
                     s->p.round, (long long)s->model_version, (long long)t->round, f->version);
    /* the vector this node masks is its model's delta and the round's extra segments:
     * another size would read past the delta (or leave part of it out) */
    if (st == FR_OK && (uint64_t)s->p.m != (uint64_t)f->global.n + FR_SECAGG_ROUND_EXTRA)
        st = fr_fail(err, FR_EINVAL,
                     "the setup's vector has %u coordinates, this node's model %llu parameters "
                     "and %d more",
                     s->p.m, (unsigned long long)f->global.n, FR_SECAGG_ROUND_EXTRA);
    /* the floor, before any key or update leaves this node */
    if (st == FR_OK)
        st = fr_secagg_floor_check(&s->p, f->cfg.secagg_min_members, f->cfg.secagg_min_ratio, err);
    if (st == FR_OK && !(*me = fr_secagg_setup_find(s, f->name)))
        st = fr_fail(err, FR_EINVAL, "%s is not a member of the round", f->name);
    if (st == FR_OK)
        st = check_members(f, s, *me, err);
    return st;
}

/* Keys and shares, up to the relayed shares of the others. */
static fr_status key_exchange(const round_ctx *x, const fr_secagg_setup *s,
                              const fr_secagg_member *me, fr_secagg_client *cl,
                              fr_http_response *relay, fr_err *err)
{
    fr_http_response r = {0};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    uint8_t *pks = malloc((size_t)s->p.n * FR_IDENTITY_PK_BYTES);
    fr_status st = pks ? FR_OK : fr_fail(err, FR_ENOMEM, "out of memory");
    for (int i = 0; st == FR_OK && i < s->p.n; i++)
        memcpy(pks + (size_t)i * FR_IDENTITY_PK_BYTES, s->e[i].id_pk, FR_IDENTITY_PK_BYTES);
    if (st == FR_OK)
        st = fr_secagg_client_init(cl, &s->p, me->id, x->f->identity.secret, pks, err);
    if (st == FR_OK)
        st = fr_secagg_client_advertise(cl, &sb, err);
    if (st == FR_OK && (st = exchange(x, "advertise", &sb, &r, err)) == FR_OK)
        fr_fed_fault_point("advertise");
    if (st == FR_OK)
        st = exchange(x, "adverts", NULL, &r, err);
    msgpack_sbuffer_clear(&sb);
    if (st == FR_OK)
        st = fr_secagg_client_share(cl, r.body, r.len, &sb, err);
    if (st == FR_OK && (st = exchange(x, "shares", &sb, &r, err)) == FR_OK)
        fr_fed_fault_point("shares");
    if (st == FR_OK)
        st = exchange(x, "relay", NULL, relay, err);
    free(pks);
    msgpack_sbuffer_destroy(&sb);
    fr_http_response_free(&r);
    return st;
}

/* The node's evaluation of the version it trains from, for the masked sum: the one it
 * made when the version was installed, or a fresh one (after a restart); none (users
 * 0) when it has no validation split or the evaluation fails. */
static void own_eval(fr_fed *f, fr_secagg_round_eval *ev)
{
    fr_err err = {{0}};
    fr_proto_metrics m;
    memset(ev, 0, sizeof *ev);
    if (!f->have_eval || f->last_eval.model_version != f->version) {
        if (fr_fed_evaluate(f, &m, &err) != FR_OK) {
            fr_fed_log("version %ld: no evaluation for the masked sum: %s", f->version, err.msg);
            return;
        }
    }
    *ev = (fr_secagg_round_eval){.users = (double)f->last_eval.users,
                                 .hr10 = f->last_eval.hr10,
                                 .ndcg10 = f->last_eval.ndcg10,
                                 .recall10 = f->last_eval.recall10};
}

/* The masked update and the unmasking answer. */
static fr_status send_masked(const round_ctx *x, const fr_secagg_setup *s, fr_secagg_client *cl,
                             const fr_http_response *relay, float *delta, const uint32_t *ring,
                             double loss, double weight, const fr_secagg_round_eval *ev,
                             size_t *sent, fr_err *err)
{
    fr_http_response r = {0};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    int clipped = 0;
    uint32_t *y = malloc((size_t)s->p.m * sizeof *y);
    fr_status st = y ? FR_OK : fr_fail(err, FR_ENOMEM, "out of memory for the masked update");
    if (st == FR_OK)
        st = ring ? fr_secagg_round_encode_ring(s, weight, ring, loss, ev, y, err)
                  : fr_secagg_round_encode(s, weight, delta, loss, ev, y, &clipped, err);
    if (st == FR_OK)
        st = fr_secagg_client_masked_input(cl, relay->body, relay->len, y, &sb, err);
    free(y);
    if (clipped)
        fr_fed_log("round %ld: the update was cut to the round's norm bound %g", x->round, s->clip);
    *sent = sb.size;
    if (st == FR_OK && (st = exchange(x, "masked", &sb, &r, err)) == FR_OK)
        fr_fed_fault_point("masked");
    /* the consistency check: U3 signed before any share is released */
    if (st == FR_OK)
        st = exchange(x, "check", NULL, &r, err);
    msgpack_sbuffer_clear(&sb);
    if (st == FR_OK)
        st = fr_secagg_client_check(cl, r.body, r.len, &sb, err);
    if (st == FR_OK)
        st = exchange(x, "check", &sb, &r, err);
    if (st == FR_OK)
        st = exchange(x, "unmask", NULL, &r, err);
    msgpack_sbuffer_clear(&sb);
    if (st == FR_OK)
        st = fr_secagg_client_unmask(cl, r.body, r.len, &sb, err);
    if (st == FR_OK)
        st = exchange(x, "unmask", &sb, &r, err);
    msgpack_sbuffer_destroy(&sb);
    fr_http_response_free(&r);
    return st;
}

int fr_fed_secagg_take_part(fr_fed *f, const fr_proto_task *t, const volatile sig_atomic_t *stop)
{
    fr_err err = {{0}};
    fr_node_clock clock = {fr_node_clock_monotonic, NULL};
    round_ctx x = {f, (long)t->round, fr_node_round_give_up(&clock, t), stop};
    fr_http_response setup_r = {0}, relay = {0};
    fr_secagg_setup *s = calloc(1, sizeof *s);
    fr_secagg_client cl = {0};
    const fr_secagg_member *me = NULL;
    float *delta = NULL;
    uint32_t *ring = NULL; /* a federation-wide DP round's vector, in place of delta */
    double loss = 0, train_s = 0, weight = 0;
    fr_secagg_round_eval ev = {0};
    int stop_budget = 0, rc = 0, trained = 0;
    size_t sent = 0;
    fr_status st = s ? FR_OK : fr_fail(&err, FR_ENOMEM, "out of memory");
    if (st == FR_OK)
        st = fetch_setup(&x, t, &setup_r, s, &me, &err);
    if (st == FR_OK) {
        /* train first: the key exchange then waits only for the slowest trainer, not
         * for the last node to notice the round before anyone can start */
        if (t->fdp)
            fr_fed_log("round %lld (secure, node %d of %d, threshold %d): one step of "
                       "federation-wide DP-SGD from version %ld",
                       (long long)t->round, me->id, s->p.n, s->p.t, f->version);
        else
            fr_fed_log("round %lld (secure, node %d of %d, threshold %d): training %lld local "
                       "epoch(s) from version %ld",
                       (long long)t->round, me->id, s->p.n, s->p.t, (long long)t->local_epochs,
                       f->version);
        double t0 = now_s();
        int refused = 0;
        fr_status tst = t->fdp
                            ? fr_fed_fdp_round(f, t, s->p.n, s->p.t, &ring, &loss, &refused, &err)
                            : fr_fed_train_round(f, t, &delta, &loss, &stop_budget, &err);
        train_s = now_s() - t0;
        if (tst == FR_OK && refused) {
            /* the others go on without it while t of them remain; its budget is untouched */
            f->last_round = t->round;
            goto out;
        }
        if (tst != FR_OK) {
            fr_fed_log("round %lld: training failed: %s", (long long)t->round, err.msg);
            rc = 2;
            goto out;
        }
        if (stop_budget) {
            fr_fed_log("stopping: the privacy budget cannot pay for another round");
            rc = 1;
            goto out;
        }
        trained = 1;
        /* our own count, cut to the cap every member shares: the coordinator names none */
        weight = fr_node_round_weight(s->weight_windows, s->max_weight, f->users, f->n_windows);
        own_eval(f, &ev);
        st = key_exchange(&x, s, me, &cl, &relay, &err);
    }
    if (st == FR_OK)
        st = send_masked(&x, s, &cl, &relay, delta, ring, loss, weight, &ev, &sent, &err);
    if (st == FR_OK)
        fr_fed_log("round %lld: masked update sent and unmasking answered (trained in %.2f s, "
                   "loss %.4f, weight %.0f, %zu bytes)",
                   (long long)t->round, train_s, loss, weight, sent);
    else
        fr_fed_log("round %lld: left the secure round: %s", (long long)t->round, err.msg);
    /* a round is taken part in once, whatever came of it: the budget it spent stays
     * spent, and its masks cannot be sent twice */
    f->last_round = t->round;
    if (trained) {
        f->trained_from = f->version;
        f->last_loss = loss;
        f->rounds_done += st == FR_OK;
    }
    if (fr_fed_save_state(f, &err) != FR_OK)
        fr_fed_log("%s", err.msg);
out:
    free(delta);
    free(ring);
    fr_secagg_client_free(&cl);
    free(s);
    fr_http_response_free(&setup_r);
    fr_http_response_free(&relay);
    return rc;
}
