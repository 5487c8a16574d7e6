/* The coordinator's endpoints. The node a request speaks for is always the verified
 * certificate's name (peer); no body field names a node. Every body is bounded by the
 * server's size limit before it reaches here and decoded against its schema. */
#include <event2/buffer.h>
#include <event2/http.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fr_coord.h"
#include "fed/fr_fedopt.h"
#include "fed/fr_proto.h"

/* The one place where a round's refusal becomes an HTTP status: malformed bodies
 * 400, bodies wrong for this round or model 422, a sender speaking for another node
 * 403, a step still open 425 (not a refusal: ask again), the coordinator's own
 * failure 500, and every conflict with the round's state 409. */
static int http_status(fr_round_refusal why)
{
    static const int code[FR_ROUND_NREFUSALS] = {
        [FR_ROUND_OK] = 200,           [FR_ROUND_MALFORMED] = 400,   [FR_ROUND_WRONG_SIZE] = 422,
        [FR_ROUND_NO_ROUND] = 409,     [FR_ROUND_SECURE_ONLY] = 409, [FR_ROUND_WRONG_ROUND] = 409,
        [FR_ROUND_STALE] = 409,        [FR_ROUND_LATE] = 409,        [FR_ROUND_BAD_WEIGHT] = 422,
        [FR_ROUND_NOT_MEMBER] = 409,   [FR_ROUND_DUPLICATE] = 409,   [FR_ROUND_TOO_LARGE] = 422,
        [FR_ROUND_NOT_YET] = 425,      [FR_ROUND_DROPPED] = 409,     [FR_ROUND_OVER] = 409,
        [FR_ROUND_WRONG_SENDER] = 403, [FR_ROUND_WRONG_STEP] = 409,  [FR_ROUND_REJECTED] = 409,
        [FR_ROUND_INTERNAL] = 500,
    };
    return (int)why >= 0 && why < FR_ROUND_NREFUSALS ? code[why] : 500;
}

static void reply_msg(struct evhttp_request *req, msgpack_sbuffer *sb)
{
    fr_https_reply(req, 200, FR_PROTO_CONTENT_TYPE, sb->data, sb->size);
    msgpack_sbuffer_destroy(sb);
}

/* Every refusal is answered and counted; a node's refusals reach the log and the store
 * at a bounded rate (fr_refusal_limit), the rest only the count in /metrics. */
static void refuse(fr_coord *c, struct evhttp_request *req, const char *node, long round, int code,
                   const char *reason, int record)
{
    uint64_t hidden = 0;
    c->stats.refused++;
    if (!fr_refusal_limit_take(&c->refusal_limit, node, fr_coord_now(), &hidden)) {
        c->stats.refusals_unrecorded++;
        fr_https_reply_text(req, code, "%s", reason);
        return;
    }
    if (hidden)
        fr_coord_log("%llu refusals from %s neither logged nor recorded (too many)",
                     (unsigned long long)hidden, node && node[0] ? node : "-");
    fr_coord_log("refused %s from %s: %d %s", evhttp_request_get_uri(req), node, code, reason);
    if (record) {
        fr_err err = {{0}};
        if (fr_store_refusal_add(&c->store, fr_coord_now(), node, round, reason, &err) != FR_OK)
            fr_coord_log("store: %s", err.msg);
    }
    fr_https_reply_text(req, code, "%s", reason);
}

static void on_join(fr_coord *c, struct evhttp_request *req, const char *node)
{
    size_t len;
    const uint8_t *body = fr_https_body(req, &len);
    fr_proto_join j;
    fr_err err = {{0}};
    if (fr_proto_join_decode(body, len, &j, &err) != FR_OK)
        return refuse(c, req, node, 0, 400, err.msg, 1);
    fr_node_row n;
    int found = 0;
    if (fr_store_node_get(&c->store, node, &n, &found, &err) != FR_OK)
        return refuse(c, req, node, 0, 500, err.msg, 0);
    snprintf(n.name, sizeof n.name, "%s", node);
    n.last_seen = fr_coord_now();
    if (!n.first_seen)
        n.first_seen = n.last_seen;
    n.model_version = j.model_version;
    /* a join says whether the node has data, not how much: its weight is its own */
    n.users = n.windows = 0;
    n.eps_spent = j.eps_spent;
    n.eps_budget = j.eps_budget;
    if (j.id_pk.len && fr_identity_verify(&c->idca, j.id_cert.p, j.id_cert.len, node, j.id_pk.p,
                                          j.id_sig.p, j.id_sig.len, &err) != FR_OK)
        return refuse(c, req, node, 0, 422, err.msg, 1);
    fr_proposal check[FR_PROPOSALS_MAX];
    int n_check = 0;
    if (fr_proposals_parse(j.unknown_items.p, j.unknown_items.len, check, &n_check, &err) != FR_OK)
        return refuse(c, req, node, 0, 400, err.msg, 1);
    long round = 0;
    if (fr_store_node_seen(&c->store, &n, &err) != FR_OK ||
        fr_store_last_round_id(&c->store, &round, &err) != FR_OK ||
        fr_store_catalogue_confirm(&c->store, node, (long)j.catalogue_mapped, round, &err) != FR_OK)
        return refuse(c, req, node, 0, 500, err.msg, 0);
    fr_coord_seen(c, node);
    fr_coord_live *l = fr_coord_live_find(c, node);
    if (l && fr_coord_proposals_take(l, &j.unknown_items, &err) != FR_OK)
        fr_coord_log("node %s: %s", node, err.msg);
    if (l) {
        l->has_data = j.has_data == 1;
        uint8_t *cert = j.id_pk.len ? malloc(j.id_cert.len) : NULL;
        free(l->id_cert);
        l->id_cert = cert;
        l->has_id = cert != NULL;
        if (cert) {
            memcpy(l->id_pk, j.id_pk.p, sizeof l->id_pk);
            memcpy(cert, j.id_cert.p, j.id_cert.len);
            l->id_cert_len = j.id_cert.len;
            memcpy(l->id_sig, j.id_sig.p, j.id_sig.len);
            l->id_sig_len = j.id_sig.len;
        }
    }
    fr_proto_join_reply r = {.heartbeat_s = c->cfg.heartbeat};
    snprintf(r.node, sizeof r.node, "%s", node);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_proto_join_reply_encode(&r, &sb);
    reply_msg(req, &sb);
}

static void on_task(fr_coord *c, struct evhttp_request *req, const char *node)
{
    fr_coord_seen(c, node);
    fr_proto_task t = {0};
    t.model_version = c->version;
    t.retry_s = c->cfg.retry;
    t.local_epochs = fr_fedopt_local_epochs(c->cfg.local_epochs, c->cfg.min_nodes);
    t.adam_carry = !strcmp(c->cfg.local_adam, "carry");
    t.prox_mu = c->cfg.prox_mu;
    t.batch = c->cfg.batch;
    t.seq_len = c->cfg.seq_len;
    t.negatives = c->cfg.negatives;
    t.lr = c->cfg.lr;
    /* peer is sent as no key: nodes that predate the key take part in such rounds */
    if (strcmp(c->cfg.recipe, "peer")) {
        snprintf(t.recipe, sizeof t.recipe, "%s", c->cfg.recipe);
        t.recipe_rounds = c->cfg.rounds;
    }
    t.max_update_norm = c->cfg.max_update_norm;
    snprintf(t.weighting, sizeof t.weighting, "%s", c->cfg.weighting);
    t.max_weight = c->rd.cfg.max_weight;
    int mine =
        c->rd.sa.on ? fr_round_secure_task_open(&c->rd, node) : !fr_round_has_update(&c->rd, node);
    if (c->done && !c->rd.id)
        t.state = FR_TASK_DONE;
    else if (c->rd.id && mine && !c->publishing)
        t.state = FR_TASK_OPEN;
    else
        t.state = FR_TASK_WAIT;
    if (c->rd.id) {
        t.round = c->rd.id;
        double left = c->rd.deadline - fr_coord_now();
        t.deadline_s = left > 0 ? left : 0;
        t.secagg = c->rd.sa.on;
        fr_coord_fdp_task(c, &t);
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_proto_task_encode(&t, &sb);
    reply_msg(req, &sb);
}

static void on_model(fr_coord *c, struct evhttp_request *req, const char *node)
{
    fr_coord_seen(c, node);
    char v[32];
    snprintf(v, sizeof v, "%ld", c->version);
    fr_https_add_header(req, "X-Fr-Model-Version", v);
    fr_https_add_header(req, "X-Fr-Signature", c->sig_hex);
    c->stats.downloads++;
    fr_https_reply(req, 200, "application/octet-stream", c->file, c->file_len);
}

static void publish_cb(evutil_socket_t fd, short what, void *ctx)
{
    (void)fd;
    (void)what;
    fr_coord *c = ctx;
    c->publishing = 0;
    fr_coord_tick(c);
}

static void on_update(fr_coord *c, struct evhttp_request *req, const char *node)
{
    fr_coord_seen(c, node);
    size_t len;
    const uint8_t *body = fr_https_body(req, &len);
    char reason[FR_ERR_LEN];
    int quorum = 0;
    fr_round_refusal why = fr_coord_take_update(c, node, body, len, &quorum, reason, sizeof reason);
    if (why != FR_ROUND_OK) {
        c->stats.updates_refused++;
        return refuse(c, req, node, c->rd.id, http_status(why), reason, why != FR_ROUND_INTERNAL);
    }
    c->stats.updates_accepted++;
    fr_https_reply_text(req, 200, "accepted for round %ld (%d of %d)", c->rd.id, c->rd.agg.count,
                        c->rd.expected);
    /* publish after this reply is on its way, not inside the request */
    if (quorum && !c->publishing) {
        c->publishing = 1;
        struct timeval now = {0, 0};
        event_base_once(c->base, -1, EV_TIMEOUT, publish_cb, c, &now);
    }
}

/* The round a GET names in its query (?round=N), 0 when none. */
static long query_round(struct evhttp_request *req)
{
    const char *q = strchr(evhttp_request_get_uri(req), '?');
    const char *at = q ? strstr(q, "round=") : NULL;
    return at ? strtol(at + 6, NULL, 10) : 0;
}

/* A secure round's GETs wait for their step: a node that asks while the step is open
 * is held (long poll) and answered the moment the step closes, or with 425 after
 * HOLD_S so that it asks again; a held request whose connection goes away is dropped.
 * So a step costs the nodes no polling delay. */
#define HOLD_S 20.0
#define MAX_HELD 1024

struct fr_coord_held {
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    char node[64];
    fr_round_msg msg;
    long round;
    double since;
};

static void drop_held(fr_coord *c, int i)
{
    c->held[i] = c->held[--c->n_held];
}

static void on_held_close(struct evhttp_connection *conn, void *ctx)
{
    fr_coord *c = ctx;
    for (int i = c->n_held - 1; i >= 0; i--)
        if (c->held[i].conn == conn)
            drop_held(c, i);
}

/* Send one answer of a /v1/secagg/ request. */
static void answer(fr_coord *c, struct evhttp_request *req, const char *node, long round,
                   fr_round_refusal why, int post, msgpack_sbuffer *sb, const char *reason)
{
    int code = http_status(why);
    if (code == 425) /* not a refusal: the step is still open, ask again */
        fr_https_reply_text(req, 425, "%s", reason);
    else if (code != 200)
        refuse(c, req, node, round, code, reason, code != 500);
    else if (post)
        fr_https_reply_text(req, 200, "%s", reason);
    else
        fr_https_reply(req, 200, FR_PROTO_CONTENT_TYPE, sb->data, sb->size);
    msgpack_sbuffer_destroy(sb);
}

void fr_coord_secagg_wake(fr_coord *c)
{
    double now = fr_coord_now();
    for (int i = c->n_held - 1; i >= 0; i--) {
        struct fr_coord_held h = c->held[i];
        char reason[FR_ERR_LEN];
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        fr_round_refusal why =
            fr_coord_secagg_request(c, h.node, h.msg, h.round, NULL, 0, &sb, reason, sizeof reason);
        if (why == FR_ROUND_NOT_YET && now - h.since < HOLD_S) {
            msgpack_sbuffer_destroy(&sb);
            continue;
        }
        drop_held(c, i);
        evhttp_connection_set_closecb(h.conn, NULL, NULL);
        answer(c, h.req, h.node, c->rd.id, why, 0, &sb, reason);
    }
}

/* /v1/secagg/STEP: one message of a secure round (fr_coord_secagg.c). */
static void on_secagg(fr_coord *c, struct evhttp_request *req, const char *node, fr_round_msg m)
{
    fr_coord_seen(c, node);
    int post = m >= FR_ROUND_POST_ADVERTISE;
    size_t len = 0;
    const uint8_t *body = post ? fr_https_body(req, &len) : NULL;
    long round = c->rd.id, asked = query_round(req);
    char reason[FR_ERR_LEN];
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_round_refusal why =
        fr_coord_secagg_request(c, node, m, asked, body, len, &sb, reason, sizeof reason);
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    if (why == FR_ROUND_NOT_YET && conn && c->n_held < MAX_HELD) {
        if (c->n_held == c->cap_held) {
            int cap = c->cap_held ? 2 * c->cap_held : 16;
            struct fr_coord_held *grown = realloc(c->held, (size_t)cap * sizeof *grown);
            if (!grown)
                return answer(c, req, node, round, why, post, &sb, reason);
            c->held = grown;
            c->cap_held = cap;
        }
        struct fr_coord_held *h = &c->held[c->n_held++];
        h->req = req;
        h->conn = conn;
        snprintf(h->node, sizeof h->node, "%s", node);
        h->msg = m;
        h->round = asked;
        h->since = fr_coord_now();
        evhttp_connection_set_closecb(conn, on_held_close, c);
        msgpack_sbuffer_destroy(&sb);
    } else {
        answer(c, req, node, round, why, post, &sb, reason);
    }
    /* this message may have closed a step: answer whoever waited for it */
    fr_coord_secagg_wake(c);
    /* the last answer of the unmasking step: finish and publish after this reply */
    if (fr_round_secure_unmasked(&c->rd) && !c->publishing) {
        c->publishing = 1;
        struct timeval now = {0, 0};
        event_base_once(c->base, -1, EV_TIMEOUT, publish_cb, c, &now);
    }
}

static void on_metrics(fr_coord *c, struct evhttp_request *req, const char *node)
{
    fr_coord_seen(c, node);
    size_t len;
    const uint8_t *body = fr_https_body(req, &len);
    fr_proto_metrics m;
    fr_err err = {{0}};
    if (fr_proto_metrics_decode(body, len, &m, &err) != FR_OK)
        return refuse(c, req, node, 0, 400, err.msg, 1);
    if (m.model_version > c->version) {
        snprintf(err.msg, sizeof err.msg, "metrics for version %lld, the latest is %ld",
                 (long long)m.model_version, c->version);
        return refuse(c, req, node, 0, 409, err.msg, 1);
    }
    fr_metrics_row r = {.model_version = m.model_version,
                        .hr10 = m.hr10,
                        .ndcg10 = m.ndcg10,
                        .recall10 = m.recall10,
                        .loss = m.loss,
                        .eps_spent = m.eps_spent,
                        .users = m.users,
                        .at = fr_coord_now()};
    snprintf(r.node, sizeof r.node, "%s", node);
    /* a node in secure mode sends no quality figure (clear 0): its row holds none */
    if (fr_store_metrics_add(&c->store, &r, (int)m.clear, &err) != FR_OK)
        return refuse(c, req, node, 0, 500, err.msg, 0);
    /* the node row shows what the node holds and has spent, as of its last report */
    fr_node_row n;
    int found = 0;
    if (fr_store_node_get(&c->store, node, &n, &found, &err) == FR_OK && found) {
        n.model_version = m.model_version;
        n.eps_spent = m.eps_spent;
        n.last_seen = fr_coord_now();
        if (fr_store_node_seen(&c->store, &n, &err) != FR_OK)
            fr_coord_log("store: %s", err.msg);
    }
    fr_https_reply_text(req, 200, "recorded");
}

static void on_status(fr_coord *c, struct evhttp_request *req, int detail)
{
    char *json = fr_coord_status_json(c, detail);
    if (!json)
        return fr_https_reply_text(req, 500, "out of memory");
    fr_https_reply(req, 200, "application/json", json, strlen(json));
    free(json);
}

static void on_prometheus(fr_coord *c, struct evhttp_request *req)
{
    char *text = fr_coord_prometheus(c);
    if (!text)
        return fr_https_reply_text(req, 500, "out of memory");
    fr_https_reply(req, 200, "text/plain; version=0.0.4", text, strlen(text));
    free(text);
}

void fr_coord_handle(struct evhttp_request *req, const char *peer, void *ctx)
{
    fr_coord *c = ctx;
    c->stats.requests++;
    if (!peer) /* the server requires certificates; this is a second line of defence */
        return fr_https_reply_text(req, 403, "a client certificate is required");
    const char *uri = evhttp_request_get_uri(req);
    char path[256];
    size_t n = strcspn(uri, "?");
    snprintf(path, sizeof path, "%.*s", (int)(n < sizeof path ? n : sizeof path - 1), uri);
    int post = evhttp_request_get_command(req) == EVHTTP_REQ_POST;
    struct {
        const char *path;
        int post;
        void (*fn)(fr_coord *, struct evhttp_request *, const char *);
    } routes[] = {
        {"/v1/join", 1, on_join},     {"/v1/task", 0, on_task},       {"/v1/model", 0, on_model},
        {"/v1/update", 1, on_update}, {"/v1/metrics", 1, on_metrics},
    };
    int view =
        !strcmp(path, "/v1/status") || !strcmp(path, "/metrics") || !strcmp(path, "/dashboard");
    /* an operator's (or any non-node) certificate reads the views and is never a member
     * of a round (docs/security.md) */
    int role = fr_https_peer_role(req);
    if (!view && role > FR_IDENTITY_ROLE_NODE)
        return refuse(c, req, peer, 0, 403,
                      role == FR_IDENTITY_ROLE_OPERATOR
                          ? "an operator certificate is never a member of the federation"
                          : "only a node certificate (OU=node) is a member of the federation",
                      0);
    if (!strncmp(path, "/v1/secagg/", 11)) {
        /* GETs are the messages before FR_ROUND_POST_ADVERTISE, POSTs the rest */
        int first = post ? FR_ROUND_POST_ADVERTISE : 0;
        int end = post ? FR_ROUND_NMSGS : FR_ROUND_POST_ADVERTISE;
        for (int m = first; m < end; m++)
            if (!strcmp(path + 11, fr_round_msg_name((fr_round_msg)m)))
                return on_secagg(c, req, peer, (fr_round_msg)m);
        return fr_https_reply_text(req, 404, "no such secure-aggregation step for %s: %s",
                                   post ? "POST" : "GET", path);
    }
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (!strcmp(path, routes[i].path)) {
            if (post != routes[i].post)
                return fr_https_reply_text(req, 405, "%s takes %s", routes[i].path,
                                           routes[i].post ? "POST" : "GET");
            return routes[i].fn(c, req, peer);
        }
    if (view) {
        if (post)
            return fr_https_reply_text(req, 405, "%s takes GET", path);
        /* per-node detail for the named operators only; without operators, every
         * certificate of the federation reads the views without it */
        int op = fr_coord_is_operator(c, peer), named = c->cfg.operators && *c->cfg.operators;
        if (!op && (named || !strcmp(path, "/dashboard")))
            return refuse(c, req, peer, 0, 403,
                          named ? "the operator's views need an operator certificate"
                                : "the dashboard shows per-node detail: name its readers "
                                  "with --operators",
                          0);
        if (!strcmp(path, "/dashboard"))
            return fr_coord_on_dashboard(c, req);
        return !strcmp(path, "/metrics") ? on_prometheus(c, req) : on_status(c, req, op);
    }
    fr_https_reply_text(req, 404, "no such endpoint: %s", path);
}
