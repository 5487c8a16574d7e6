/* The HTTPS server (see fr_https.h): evhttp accepts the connections, and every one of
 * them gets a bufferevent_openssl from the callback below, so nothing is read as HTTP
 * before the TLS handshake, client certificate included, has succeeded. Each TLS
 * connection carries a small record (SSL ex-data) with its deadline timer and what
 * went wrong in its handshake, freed with the SSL object itself. */
#include "net/fr_https.h"
#include "secagg/fr_identity.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
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

#define DEFAULT_MAX_HEADERS (16 * 1024)
#define DEFAULT_TIMEOUT_S 30
#define DEFAULT_DEADLINE_S 120
#define REPLY_TEXT_MAX 500

struct fr_https {
    struct event_base *base;
    struct evhttp *http;
    SSL_CTX *ctx; /* for new connections; open ones hold their own reference */
    fr_https_handler handler;
    void *hctx;
    fr_https_config cfg; /* strings point at the copies below */
    char *listen, *cert, *key, *ca, *crl;
    int port;
    int fail_next;
    unsigned generation; /* of ctx: bumped by each reload */
};

/* One TLS connection's record. It outlives the server when libevent frees the
 * connection late, so it points at nothing of the server's. */
typedef struct fr_conn {
    SSL *ssl;
    struct event *deadline;
    struct timeval deadline_tv;
    char addr[64];
    char reason[160]; /* the first reason the handshake failed */
    char alert[64];   /* the first fatal alert, when there is no reason */
    int started, established, logged;
    unsigned generation; /* of the context its certificate was last checked against */
} fr_conn;

static int conn_idx = -1;
static pthread_once_t conn_idx_once = PTHREAD_ONCE_INIT;

static void conn_log_refusal(fr_conn *c)
{
    if (c->logged || c->established || !c->started)
        return;
    c->logged = 1;
    fprintf(stderr, "tls: %s refused: %s\n", c->addr[0] ? c->addr : "?",
            c->reason[0]  ? c->reason
            : c->alert[0] ? c->alert
                          : "connection closed during the handshake");
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
    else
        fprintf(stderr, "tls: %s closed: request or reply not finished within %ld s\n",
                c->addr[0] ? c->addr : "?", (long)c->deadline_tv.tv_sec);
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

static struct bufferevent *new_tls_bev(struct event_base *base, void *arg)
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
    c->generation = s->generation;
    c->deadline_tv.tv_sec = s->cfg.conn_deadline_s;
    if (!(c->deadline = evtimer_new(base, deadline_cb, c)) || !SSL_set_ex_data(ssl, conn_idx, c))
        goto fail;
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

static void rearm_deadline(fr_conn *c)
{
    if (c && c->deadline)
        evtimer_add(c->deadline, &c->deadline_tv);
}

static void request_done(struct evhttp_request *req, void *arg)
{
    (void)req;
    rearm_deadline(arg);
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

static void on_request(struct evhttp_request *req, void *arg)
{
    fr_https *s = arg;
    char cn[64];
    const char *peer = NULL;
    if (s->cfg.tls) {
        SSL *ssl = ssl_of_req(req);
        fr_conn *c = conn_of_ssl(ssl);
        /* Every TLS-mode connection comes from new_tls_bev (or is dropped before its
         * first request): never answer one without TLS. */
        FR_ASSERT(ssl && c);
        rearm_deadline(c); /* the reply gets a deadline of its own */
        evhttp_request_set_on_complete_cb(req, request_done, c);
        if (c->generation != s->generation) {
            if (!still_valid(s, ssl)) {
                evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
                fr_https_reply_text(req, 403, "forbidden: certificate no longer valid");
                return;
            }
            c->generation = s->generation;
        }
        int rc = peer_cn(ssl, cn);
        if (rc < 0 || (rc == 1 && s->cfg.require_client_cert)) {
            note_addr(c, ssl);
            fprintf(stderr, "tls: %s forbidden: client certificate without a usable name\n",
                    c->addr[0] ? c->addr : "?");
            fr_https_reply_text(req, 403, "forbidden: client certificate without a usable name");
            return;
        }
        if (rc == 0)
            peer = cn;
    }
    s->handler(req, peer, s->hctx);
}

/* A fresh server context from the configured files. */
static fr_status make_ctx(const fr_https *s, SSL_CTX **out, fr_err *err)
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

static int is_loopback(const char *host)
{
    return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
           strcmp(host, "::1") == 0;
}

/* "HOST:PORT" or "[V6]:PORT" into host (without brackets) and port. */
static fr_status parse_listen(const char *listen, char *host, size_t cap, int *port, fr_err *err)
{
    const char *colon = strrchr(listen, ':');
    const char *h = listen, *hend = colon;
    if (!colon || colon == listen)
        return fr_fail(err, FR_EINVAL, "listen address '%s' is not HOST:PORT", listen);
    if (listen[0] == '[') {
        h = listen + 1;
        if (hend[-1] != ']')
            return fr_fail(err, FR_EINVAL, "listen address '%s' is not [HOST]:PORT", listen);
        hend--;
    }
    if (hend <= h || (size_t)(hend - h) >= cap)
        return fr_fail(err, FR_EINVAL, "listen address '%s': bad host", listen);
    memcpy(host, h, (size_t)(hend - h));
    host[hend - h] = 0;
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || p < 0 || p > 65535)
        return fr_fail(err, FR_EINVAL, "listen address '%s': bad port", listen);
    *port = (int)p;
    return FR_OK;
}

static char *dup_opt(const char *s, int *ok)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *ok = 0;
    return d;
}

fr_status fr_https_init(fr_https **out, struct event_base *base, const fr_https_config *cfg,
                        fr_https_handler handler, void *ctx, fr_err *err)
{
    fr_status st = FR_OK;
    fr_https *s = NULL;
    char host[256];
    int port = 0, ok = 1;
    *out = NULL;
    if (!base || !cfg || !handler || !cfg->listen)
        return fr_fail(err, FR_EINVAL, "https: missing listen address, event base or handler");
    if ((st = parse_listen(cfg->listen, host, sizeof host, &port, err)) != FR_OK)
        return st;
    if (!cfg->tls && !is_loopback(host))
        return fr_fail(err, FR_EINVAL,
                       "listen address '%s': plain HTTP only on a loopback "
                       "address",
                       cfg->listen);
    if (cfg->tls && (!cfg->cert || !cfg->key))
        return fr_fail(err, FR_EINVAL, "https %s: a server certificate and key are needed",
                       cfg->listen);
    if (cfg->tls && cfg->require_client_cert && !cfg->ca)
        return fr_fail(err, FR_EINVAL, "https %s: client certificates need a CA file", cfg->listen);
    if (cfg->tls && cfg->crl && !cfg->ca)
        return fr_fail(err, FR_EINVAL, "https %s: a CRL needs a CA file", cfg->listen);
    if (cfg->timeout_s < 0 || cfg->conn_deadline_s < 0)
        return fr_fail(err, FR_EINVAL, "https %s: negative timeout", cfg->listen);
    pthread_once(&conn_idx_once, conn_idx_init);
    if (conn_idx < 0)
        return fr_fail(err, FR_ENOMEM, "tls: cannot register connection data");
    if (!(s = calloc(1, sizeof *s)))
        return fr_fail(err, FR_ENOMEM, "https: out of memory");
    s->base = base;
    s->handler = handler;
    s->hctx = ctx;
    s->cfg = *cfg;
    s->cfg.listen = s->listen = dup_opt(cfg->listen, &ok);
    s->cfg.cert = s->cert = dup_opt(cfg->cert, &ok);
    s->cfg.key = s->key = dup_opt(cfg->key, &ok);
    s->cfg.ca = s->ca = dup_opt(cfg->ca, &ok);
    s->cfg.crl = s->crl = dup_opt(cfg->crl, &ok);
    if (!s->cfg.max_headers)
        s->cfg.max_headers = DEFAULT_MAX_HEADERS;
    if (!s->cfg.timeout_s)
        s->cfg.timeout_s = DEFAULT_TIMEOUT_S;
    if (!s->cfg.conn_deadline_s)
        s->cfg.conn_deadline_s = DEFAULT_DEADLINE_S;
    if (!ok) {
        st = fr_fail(err, FR_ENOMEM, "https: out of memory");
        goto out;
    }
    /* OpenSSL and libevent write to sockets with write() and writev(): a peer that
     * hangs up must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    if (cfg->tls && (st = make_ctx(s, &s->ctx, err)) != FR_OK)
        goto out;
    if (!(s->http = evhttp_new(base))) {
        st = fr_fail(err, FR_ENOMEM, "https: cannot create the server");
        goto out;
    }
    if (cfg->tls)
        evhttp_set_bevcb(s->http, new_tls_bev, s);
    if (s->cfg.max_body)
        evhttp_set_max_body_size(
            s->http, s->cfg.max_body > (size_t)SSIZE_MAX ? SSIZE_MAX : (ev_ssize_t)s->cfg.max_body);
    /* A body over the limit is read and dropped before the 413 goes out: closing while
     * the client still sends would reset the connection under the answer, and the
     * client would see a broken connection instead of the reason. The connection's
     * deadline still bounds how long that takes. */
    evhttp_set_flags(s->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_max_headers_size(s->http, s->cfg.max_headers > (size_t)SSIZE_MAX
                                             ? SSIZE_MAX
                                             : (ev_ssize_t)s->cfg.max_headers);
    evhttp_set_timeout(s->http, s->cfg.timeout_s);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_gencb(s->http, on_request, s);
    struct evhttp_bound_socket *bound =
        evhttp_bind_socket_with_handle(s->http, host, (ev_uint16_t)port);
    if (!bound) {
        st = fr_fail(err, FR_EIO, "https: cannot listen on %s: %s", cfg->listen, strerror(errno));
        goto out;
    }
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sa, &len) != 0) {
        st = fr_fail(err, FR_EIO, "https: %s: cannot read the bound port: %s", cfg->listen,
                     strerror(errno));
        goto out;
    }
    s->port = sa.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&sa)->sin6_port)
                                       : ntohs(((struct sockaddr_in *)&sa)->sin_port);
    *out = s;
    s = NULL;
out:
    fr_https_free(s);
    return st;
}

int fr_https_port(const fr_https *s)
{
    return s->port;
}

fr_status fr_https_reload_crl(fr_https *s, fr_err *err)
{
    SSL_CTX *ctx = NULL;
    if (!s->cfg.tls)
        return fr_fail(err, FR_EINVAL, "https %s: plain HTTP has no CRL", s->cfg.listen);
    fr_status st = make_ctx(s, &ctx, err);
    if (st != FR_OK)
        return st;
    SSL_CTX_free(s->ctx);
    s->ctx = ctx;
    s->generation++;
    return FR_OK;
}

void fr_https_free(fr_https *s)
{
    if (!s)
        return;
    if (s->http)
        evhttp_free(s->http);
    SSL_CTX_free(s->ctx);
    free(s->listen);
    free(s->cert);
    free(s->key);
    free(s->ca);
    free(s->crl);
    free(s);
}

void fr_https_fail_next_connections(fr_https *s, int n)
{
    s->fail_next = n;
}

void fr_https_add_header(struct evhttp_request *req, const char *name, const char *value)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), name, value);
}

const char *fr_https_header(struct evhttp_request *req, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(req), name);
}

static void set_type(struct evhttp_request *req, const char *content_type)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_remove_header(h, "Content-Type");
    evhttp_add_header(h, "Content-Type", content_type ? content_type : "application/octet-stream");
}

void fr_https_reply(struct evhttp_request *req, int code, const char *content_type,
                    const void *body, size_t len)
{
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    set_type(req, content_type);
    if (len && evbuffer_add(out, body, len) != 0) {
        evbuffer_drain(out, evbuffer_get_length(out));
        code = 500;
    }
    evhttp_send_reply(req, code, NULL, NULL);
}

void fr_https_reply_ref(struct evhttp_request *req, int code, const char *content_type,
                        const void *body, size_t len,
                        void (*cleanup)(const void *body, size_t len, void *arg), void *arg)
{
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    set_type(req, content_type);
    if (evbuffer_add_reference(out, body, len, cleanup, arg) != 0) {
        if (cleanup)
            cleanup(body, len, arg);
        code = 500;
    }
    evhttp_send_reply(req, code, NULL, NULL);
}

void fr_https_reply_text(struct evhttp_request *req, int code, const char *fmt, ...)
{
    char line[REPLY_TEXT_MAX + 2];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, REPLY_TEXT_MAX + 1, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n > REPLY_TEXT_MAX ? REPLY_TEXT_MAX : (size_t)n;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            line[i] = '?';
    line[len++] = '\n';
    fr_https_reply(req, code, "text/plain; charset=utf-8", line, len);
}

const uint8_t *fr_https_body(struct evhttp_request *req, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = in ? evbuffer_get_length(in) : 0;
    const uint8_t *p = n ? evbuffer_pullup(in, -1) : NULL;
    *len = p ? n : 0;
    return p;
}

const char *fr_https_path(struct evhttp_request *req)
{
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    return u ? evhttp_uri_get_path(u) : NULL;
}

int fr_https_method(struct evhttp_request *req)
{
    switch (evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET: return FR_HTTPS_GET;
    case EVHTTP_REQ_POST: return FR_HTTPS_POST;
    default: return 0;
    }
}
