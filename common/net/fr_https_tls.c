/* The HTTPS server's TLS (see fr_https.h): the server context made from the configured
 * files, the bufferevent_openssl every accepted connection gets (so nothing is read as
 * HTTP before the TLS handshake, client certificate included, has succeeded), and the
 * checks of the peer's certificate on each request. Each TLS connection carries a small
 * record (SSL ex-data) with its deadline timer and what went wrong in its handshake,
 * freed with the SSL object itself. Apart from the server loop (fr_https.c) so that
 * the certificate rules can be read in one place. */
#include "net/fr_https_int.h"
#include "secagg/fr_identity.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

enum { PHASE_HEAD, PHASE_BODY, PHASE_IDLE };

/* One TLS connection's record. It outlives the server when libevent frees the
 * connection late, so it points at nothing of the server's but the shared record it
 * holds a reference to. */
typedef struct fr_conn {
    SSL *ssl;
    fr_https_shared *sh; /* a reference: the server may be gone */
    struct event_base *base;
    struct event *deadline;
    struct timeval deadline_tv; /* the one armed last */
    int header_s, body_s;       /* the deadlines of a header and of the rest */
    size_t max_body;            /* 0: no limit */
    int phase;                  /* PHASE_*: what the deadline is counting */
    fr_http_head head;          /* the scan of the request's header */
    int linger_fd;              /* >= 0: a duplicate that lingers after the close */
    char addr[64];
    char reason[160]; /* the first reason the handshake failed */
    char alert[64];   /* the first fatal alert, when there is no reason */
    int started, established, logged;
    unsigned generation; /* of the context its certificate was last checked against */
} fr_conn;

static int conn_idx = -1;
static pthread_once_t conn_idx_once = PTHREAD_ONCE_INIT;

/* Whether a line about a refused connection may go to the log now; a flood of them
 * is held back and counted in the next line let through. */
static int conn_log_ok(fr_conn *c)
{
    uint64_t dropped = 0;
    if (!c->sh || !fr_log_gate_take(&c->sh->log, fr_https_now(), &dropped))
        return 0;
    if (dropped)
        fprintf(stderr, "tls: %llu lines about refused connections not logged\n",
                (unsigned long long)dropped);
    return 1;
}

static void conn_log_refusal(fr_conn *c)
{
    if (c->logged || c->established || !c->started)
        return;
    c->logged = 1;
    if (!conn_log_ok(c))
        return;
    fprintf(stderr, "tls: %s refused: %s\n", c->addr[0] ? c->addr : "?",
            c->reason[0]  ? c->reason
            : c->alert[0] ? c->alert
                          : "connection closed during the handshake");
}

/* The lingering close after an early 413: read and drop what the client still sends,
 * for LINGER_ROUNDS seconds at most, then close. A one-shot event carries no state of
 * its own, and a record would leak if the loop ended first: the rounds left ride in
 * the low bits of the event base's pointer (malloc'd, so aligned to 8 at least). */
#define LINGER_ROUNDS 4
static void linger_cb(evutil_socket_t fd, short what, void *arg);
static void linger_arm(struct event_base *base, int fd, uintptr_t rounds)
{
    struct timeval tv = {1, 0};
    if (rounds == 0 ||
        event_base_once(base, fd, EV_READ, linger_cb, (void *)((uintptr_t)base | rounds), &tv) != 0)
        close(fd);
}

static void linger_cb(evutil_socket_t fd, short what, void *arg)
{
    char buf[16384];
    struct event_base *base = (struct event_base *)((uintptr_t)arg & ~(uintptr_t)7);
    uintptr_t rounds = (uintptr_t)arg & 7;
    if (!(what & EV_READ)) {
        close(fd);
        return;
    }
    for (int i = 0; i < 16; i++) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
            close(fd);
            return;
        }
        if (r < 0)
            break;
    }
    linger_arm(base, fd, rounds - 1);
}

static void conn_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                         void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    fr_conn *c = ptr;
    if (!c)
        return;
    conn_log_refusal(c);
    if (c->deadline)
        event_free(c->deadline);
    if (c->linger_fd >= 0) {
        /* the answer is out; end our side and drain theirs for a while */
        shutdown(c->linger_fd, SHUT_WR);
        linger_arm(c->base, c->linger_fd, LINGER_ROUNDS);
    }
    if (c->sh) {
        fr_conn_gate_closed(&c->sh->gate);
        fr_https_shared_put(c->sh);
    }
    free(c);
}

static void conn_idx_init(void)
{
    conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_ex_free);
}

static fr_conn *conn_of_ssl(const SSL *ssl)
{
    return ssl ? SSL_get_ex_data(ssl, conn_idx) : NULL;
}

static SSL *ssl_of_req(struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    return bev ? bufferevent_openssl_get_ssl(bev) : NULL;
}

static void set_reason(fr_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_reason(fr_conn *c, const char *fmt, ...)
{
    if (!c || c->reason[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->reason, sizeof c->reason, fmt, ap);
    va_end(ap);
}

static void note_addr(fr_conn *c, const SSL *ssl)
{
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    int fd = SSL_get_fd(ssl);
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (c->addr[0] || fd < 0 || getpeername(fd, (struct sockaddr *)&sa, &len) != 0)
        return;
    if (sa.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
        snprintf(c->addr, sizeof c->addr, "%s:%d", host, port);
    } else if (sa.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
        snprintf(c->addr, sizeof c->addr, "[%s]:%d", host, port);
    }
}

/* Records why a certificate failed; OpenSSL then fails the handshake itself. */
static int verify_cb(int ok, X509_STORE_CTX *store)
{
    if (!ok) {
        SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
        int e = X509_STORE_CTX_get_error(store);
        set_reason(conn_of_ssl(ssl), "%s (certificate at chain depth %d)",
                   X509_verify_cert_error_string(e), X509_STORE_CTX_get_error_depth(store));
    }
    return ok;
}

/* Follows the handshake for the one log line per refused connection. The library's
 * own reason, still queued when the handshake call returns, says the most ("peer did
 * not return a certificate", "http request" for plain HTTP sent to the TLS port); an
 * alert's description is the fallback. */
static void info_cb(const SSL *ssl, int where, int ret)
{
    fr_conn *c = conn_of_ssl(ssl);
    if (!c)
        return;
    if (where & SSL_CB_HANDSHAKE_START) {
        c->started = 1;
        note_addr(c, ssl);
    }
    if (where & SSL_CB_HANDSHAKE_DONE)
        c->established = 1;
    if ((where & SSL_CB_ALERT) && strcmp(SSL_alert_type_string(ret), "F") == 0 && !c->alert[0])
        snprintf(c->alert, sizeof c->alert, "%s alert: %s",
                 (where & SSL_CB_READ) ? "client sent" : "sent", SSL_alert_desc_string_long(ret));
    if ((where & SSL_CB_EXIT) && ret <= 0 && !c->established) {
        unsigned long e = ERR_peek_error();
        const char *r = e ? ERR_reason_error_string(e) : NULL;
        if (r)
            set_reason(c, "%s", r);
    }
}

/* Ends a connection that overran its deadline. Shutting the socket down wakes
 * libevent, which then frees the connection the usual way. */
static void deadline_cb(evutil_socket_t fd_unused, short what, void *arg)
{
    (void)fd_unused, (void)what;
    fr_conn *c = arg;
    int fd = SSL_get_fd(c->ssl);
    note_addr(c, c->ssl);
    if (!c->established)
        set_reason(c, "handshake not finished within %ld s", (long)c->deadline_tv.tv_sec);
    else if (conn_log_ok(c))
        fprintf(stderr, "tls: %s closed: %s not finished within %ld s\n",
                c->addr[0] ? c->addr : "?",
                c->phase == PHASE_HEAD ? "request header" : "request or reply",
                (long)c->deadline_tv.tv_sec);
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
}

static void ignore_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev, (void)what, (void)arg;
}

/* A bufferevent for a connection whose TLS state could not be made, which evhttp must
 * drop without reading a byte. libevent 2.1 cannot hand the socket to a pair, so it
 * drops the connection at once and closes the socket itself; the pair claims to own
 * the socket (it closes nothing) so that evhttp does not close it a second time. The
 * end-of-file it reports covers a release that would keep the connection. */
static struct bufferevent *closed_bev(struct event_base *base)
{
    struct bufferevent *pair[2];
    if (bufferevent_pair_new(base, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS, pair) != 0) {
        /* Returning NULL would make evhttp serve plain HTTP on the TLS port. */
        fprintf(stderr, "tls: out of memory for a new connection; stopping\n");
        abort();
    }
    bufferevent_setcb(pair[0], NULL, NULL, ignore_event, NULL);
    bufferevent_flush(pair[1], EV_WRITE, BEV_FINISHED);
    bufferevent_free(pair[1]);
    return pair[0];
}

static void arm_deadline(fr_conn *c, int seconds)
{
    if (!c || !c->deadline)
        return;
    c->deadline_tv.tv_sec = seconds;
    c->deadline_tv.tv_usec = 0;
    evtimer_add(c->deadline, &c->deadline_tv);
}

/* Follows the request bytes as they arrive (decrypted, before evhttp parses them):
 * the header gets the short deadline, the body the long one, and a header declaring a
 * body over the limit prepares the lingering close of the 413 evhttp sends at once. */
static void scan_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    fr_conn *c = arg;
    if (!info->n_added)
        return;
    if (c->phase == PHASE_IDLE) {
        c->phase = PHASE_HEAD;
        fr_http_head_init(&c->head);
        arm_deadline(c, c->header_s);
    }
    if (c->phase != PHASE_HEAD)
        return;
    size_t len = evbuffer_get_length(buf), at = len - info->n_added;
    struct evbuffer_ptr pos;
    uint8_t chunk[1024];
    if (info->n_added > len || evbuffer_ptr_set(buf, &pos, at, EVBUFFER_PTR_SET) != 0)
        return;
    while (at < len && !c->head.done) {
        ev_ssize_t got = evbuffer_copyout_from(buf, &pos, chunk, sizeof chunk);
        if (got <= 0)
            return;
        fr_http_head_feed(&c->head, chunk, (size_t)got);
        at += (size_t)got;
        if (evbuffer_ptr_set(buf, &pos, (size_t)got, EVBUFFER_PTR_ADD) != 0)
            break;
    }
    if (!c->head.done)
        return;
    c->phase = PHASE_BODY;
    arm_deadline(c, c->body_s);
    if (c->max_body && c->head.has_length && c->head.content_length > c->max_body &&
        c->linger_fd < 0)
        c->linger_fd = dup(SSL_get_fd(c->ssl));
}

struct bufferevent *fr_https_tls_bev(struct event_base *base, void *arg)
{
    fr_https *s = arg;
    fr_conn *c = NULL;
    SSL *ssl = NULL;
    struct bufferevent *bev = NULL;
    if (s->fail_next > 0) {
        s->fail_next--;
        goto fail;
    }
    if (!(c = calloc(1, sizeof *c)) || !(ssl = SSL_new(s->ctx)))
        goto fail;
    c->ssl = ssl;
    c->base = base;
    c->linger_fd = -1;
    c->generation = s->generation;
    c->header_s = s->cfg.header_deadline_s;
    c->body_s = s->cfg.conn_deadline_s;
    c->max_body = s->cfg.max_body;
    c->phase = PHASE_HEAD;
    fr_http_head_init(&c->head);
    c->deadline_tv.tv_sec = c->header_s;
    if (!(c->deadline = evtimer_new(base, deadline_cb, c)) || !SSL_set_ex_data(ssl, conn_idx, c))
        goto fail;
    c->sh = s->sh;
    s->sh->refs++;
    if (fr_conn_gate_opened(&s->sh->gate))
        fr_https_pause_accept(s, 0);
    fr_conn *conn = c;
    c = NULL; /* freed with ssl from here on */
    bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                         BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        /* Whether a failed call freed ssl differs between libevent releases: keep it
         * (a leak on a path that only out-of-memory reaches) rather than risk a
         * double free. Its timer was never armed, so nothing of it runs again. */
        ssl = NULL;
        goto fail;
    }
    evtimer_add(conn->deadline, &conn->deadline_tv);
    if (!evbuffer_add_cb(bufferevent_get_input(bev), scan_input, conn))
        conn->phase = PHASE_BODY; /* unscanned: the long deadline only, as before */
    /* The length of every message is framed by HTTP, so a peer closing without
     * close_notify loses nothing. */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
fail:
    if (c && c->deadline)
        event_free(c->deadline);
    free(c);
    SSL_free(ssl);
    fprintf(stderr, "tls: refused a connection: cannot set up its TLS state\n");
    return closed_bev(base);
}

/* The reply sent: the connection waits for the next request under the long deadline
 * (and evhttp's idle timeout); its first byte starts the header's. */
static void request_done(struct evhttp_request *req, void *arg)
{
    (void)req;
    fr_conn *c = arg;
    c->phase = PHASE_IDLE;
    arm_deadline(c, c->body_s);
}

/* The subject CN of the verified client certificate into cn; 1 when there is none,
 * -1 when it is not a usable name, 0 when cn holds it. */
static int peer_cn(SSL *ssl, char cn[64])
{
    X509 *cert = SSL_get1_peer_certificate(ssl);
    int rc = -1;
    if (!cert)
        return 1;
    if (SSL_get_verify_result(ssl) != X509_V_OK)
        goto out;
    rc = fr_identity_cert_name(cert, cn);
out:
    X509_free(cert);
    return rc;
}

int fr_https_peer_role(struct evhttp_request *req)
{
    SSL *ssl = ssl_of_req(req);
    X509 *cert = ssl ? SSL_get1_peer_certificate(ssl) : NULL;
    int role = cert ? (int)fr_identity_cert_role(cert) : -1;
    X509_free(cert);
    return role;
}

/* Whether the peer's certificate still verifies against the current context: a
 * connection kept alive across a CRL reload was admitted under the old list, and a
 * revoked node must not keep using it. */
static int still_valid(const fr_https *s, SSL *ssl)
{
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (!cert)
        return 1; /* nothing to revoke; peer_cn decides about certificate-less peers */
    X509_STORE_CTX *x = X509_STORE_CTX_new();
    int ok = x &&
             X509_STORE_CTX_init(x, SSL_CTX_get_cert_store(s->ctx), cert,
                                 SSL_get_peer_cert_chain(ssl)) == 1 &&
             X509_STORE_CTX_set_purpose(x, X509_PURPOSE_SSL_CLIENT) == 1 &&
             X509_verify_cert(x) == 1;
    if (!ok && x)
        fprintf(stderr, "tls: open connection refused after reload: %s\n",
                X509_verify_cert_error_string(X509_STORE_CTX_get_error(x)));
    X509_STORE_CTX_free(x);
    X509_free(cert);
    return ok;
}

fr_status fr_https_tls_register(fr_err *err)
{
    pthread_once(&conn_idx_once, conn_idx_init);
    if (conn_idx < 0)
        return fr_fail(err, FR_ENOMEM, "tls: cannot register connection data");
    return FR_OK;
}

int fr_https_tls_admit(fr_https *s, struct evhttp_request *req, char cn[64], const char **peer)
{
    SSL *ssl = ssl_of_req(req);
    fr_conn *c = conn_of_ssl(ssl);
    /* Every TLS-mode connection comes from fr_https_tls_bev (or is dropped before its
     * first request): never answer one without TLS. */
    FR_ASSERT(ssl && c);
    c->phase = PHASE_BODY;
    arm_deadline(c, c->body_s); /* the reply gets a deadline of its own */
    evhttp_request_set_on_complete_cb(req, request_done, c);
    if (c->generation != s->generation) {
        if (!still_valid(s, ssl)) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
            fr_https_reply_text(req, 403, "forbidden: certificate no longer valid");
            return -1;
        }
        c->generation = s->generation;
    }
    int rc = peer_cn(ssl, cn);
    if (rc < 0 || (rc == 1 && s->cfg.require_client_cert)) {
        note_addr(c, ssl);
        fprintf(stderr, "tls: %s forbidden: client certificate without a usable name\n",
                c->addr[0] ? c->addr : "?");
        fr_https_reply_text(req, 403, "forbidden: client certificate without a usable name");
        return -1;
    }
    if (rc == 0)
        *peer = cn;
    return 0;
}

/* A fresh server context from the configured files. */
fr_status fr_https_tls_ctx(const fr_https *s, SSL_CTX **out, fr_err *err)
{
    const fr_https_config *cfg = &s->cfg;
    fr_status st = FR_EIO;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    BIO *bio = NULL;
    X509_CRL *crl = NULL;
    *out = NULL;
    if (!ctx) {
        st = fr_fail(err, FR_ENOMEM, "tls: cannot create a context");
        goto out;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* No renegotiation (the peer certificate cannot change under a connection) and no
     * resumption (every connection is checked against the CRL in force). */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    if (SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1) {
        st = fr_fail(err, FR_EINVAL, "tls: no usable TLS 1.2 cipher");
        goto out;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert) != 1) {
        st = fr_fail(err, FR_EIO, "%s: cannot load the server certificate: %s", cfg->cert,
                     ERR_reason_error_string(ERR_peek_last_error()));
        goto out;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->key, SSL_FILETYPE_PEM) != 1) {
        st = fr_fail(err, FR_EIO, "%s: cannot load the server key: %s", cfg->key,
                     ERR_reason_error_string(ERR_peek_last_error()));
        goto out;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        st = fr_fail(err, FR_EINVAL, "%s: key does not match the certificate %s", cfg->key,
                     cfg->cert);
        goto out;
    }
    if (cfg->ca) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->ca);
        if (SSL_CTX_load_verify_locations(ctx, cfg->ca, NULL) != 1 || !names) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            st = fr_fail(err, FR_EIO, "%s: cannot load the CA certificate: %s", cfg->ca,
                         ERR_reason_error_string(ERR_peek_last_error()));
            goto out;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        int mode = SSL_VERIFY_PEER;
        if (cfg->require_client_cert)
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(ctx, mode, verify_cb);
        SSL_CTX_set_verify_depth(ctx, 4);
    }
    if (cfg->crl) {
        X509_STORE *store = SSL_CTX_get_cert_store(ctx);
        int n = 0;
        if (!(bio = BIO_new_file(cfg->crl, "r"))) {
            st = fr_fail(err, FR_EIO, "%s: cannot open the CRL: %s", cfg->crl, strerror(errno));
            goto out;
        }
        while ((crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL))) {
            if (X509_STORE_add_crl(store, crl) != 1) {
                st = fr_fail(err, FR_EINVAL, "%s: cannot use CRL %d", cfg->crl, n + 1);
                goto out;
            }
            X509_CRL_free(crl);
            crl = NULL;
            n++;
        }
        unsigned long e = ERR_peek_last_error();
        if (n == 0 || (e && ERR_GET_REASON(e) != PEM_R_NO_START_LINE)) {
            st = fr_fail(err, FR_EFORMAT, "%s: %s", cfg->crl,
                         n == 0 ? "no CRL in the file" : ERR_reason_error_string(e));
            goto out;
        }
        X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
    }
    SSL_CTX_set_info_callback(ctx, info_cb);
    *out = ctx;
    ctx = NULL;
    st = FR_OK;
out:
    ERR_clear_error();
    X509_CRL_free(crl);
    BIO_free(bio);
    SSL_CTX_free(ctx);
    return st;
}
