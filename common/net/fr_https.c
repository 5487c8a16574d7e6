/* The HTTPS server (see fr_https.h): its settings checked and copied, evhttp set up on
 * the caller's event loop with the caps on headers, bodies and time, and each request
 * passed to the handler once its connection's certificate has been checked
 * (fr_https_tls.c). */
#include "net/fr_https_int.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#define DEFAULT_MAX_HEADERS (16 * 1024)
#define DEFAULT_TIMEOUT_S 30
#define DEFAULT_DEADLINE_S 120
#define DEFAULT_HEADER_DEADLINE_S 10
#define DEFAULT_MAX_CONNS 512

double fr_https_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void fr_https_shared_put(fr_https_shared *sh)
{
    if (sh && --sh->refs == 0)
        free(sh);
}

static void arm_resume(fr_https *s, double seconds)
{
    struct timeval tv = {(long)seconds, (long)(fmod(seconds, 1.0) * 1e6)};
    evtimer_add(s->resume_ev, &tv);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    fr_https *s = arg;
    if (fr_conn_gate_resume(&s->sh->gate)) {
        evconnlistener_enable(s->lev);
        return;
    }
    arm_resume(s, s->sh->gate.backoff_s);
}

void fr_https_pause_accept(fr_https *s, int failed)
{
    int log;
    uint64_t quiet;
    int was_paused = s->sh->gate.paused;
    double wait = fr_conn_gate_pause(&s->sh->gate, fr_https_now(), failed, &log, &quiet);
    if (log)
        fprintf(stderr,
                "https %s: %s; not accepting for a while (%d open, %llu earlier pauses not "
                "logged)\n",
                s->cfg.listen, failed ? "cannot accept a connection" : "connection cap reached",
                s->sh->gate.open, (unsigned long long)quiet);
    if (was_paused)
        return;
    evconnlistener_disable(s->lev);
    arm_resume(s, wait);
}

/* evhttp owns its listeners' callback argument (the evhttp), so the error callback
 * finds its server in this list. */
#define MAX_SERVERS 64
static fr_https *servers[MAX_SERVERS];
static pthread_mutex_t servers_lock = PTHREAD_MUTEX_INITIALIZER;

static int servers_set(fr_https *old, fr_https *s)
{
    int done = 0;
    pthread_mutex_lock(&servers_lock);
    for (int i = 0; i < MAX_SERVERS && !done; i++)
        if (servers[i] == old) {
            servers[i] = s;
            done = 1;
        }
    pthread_mutex_unlock(&servers_lock);
    return done;
}

/* accept() failed: at the file-descriptor limit the listening socket stays readable,
 * and retrying at once would spin and log without end. */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    fr_https *s = NULL;
    pthread_mutex_lock(&servers_lock);
    for (int i = 0; i < MAX_SERVERS && !s; i++)
        if (servers[i] && (void *)servers[i]->http == arg && servers[i]->lev == lev)
            s = servers[i];
    pthread_mutex_unlock(&servers_lock);
    if (s)
        fr_https_pause_accept(s, 1);
    else
        evconnlistener_disable(lev); /* not ours: never spin */
}

static void on_request(struct evhttp_request *req, void *arg)
{
    fr_https *s = arg;
    char cn[64];
    const char *peer = NULL;
    if (s->cfg.tls && fr_https_tls_admit(s, req, cn, &peer) != 0)
        return;
    /* a kept-alive connection has the cap of when it was accepted: bring it to the
     * current one (fr_https_set_max_body) for its next request */
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (evcon && s->cfg.max_body)
        evhttp_connection_set_max_body_size(
            evcon, s->cfg.max_body > (size_t)SSIZE_MAX ? SSIZE_MAX : (ev_ssize_t)s->cfg.max_body);
    s->handler(req, peer, s->hctx);
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
    if (cfg->timeout_s < 0 || cfg->conn_deadline_s < 0 || cfg->header_deadline_s < 0 ||
        cfg->max_conns < 0)
        return fr_fail(err, FR_EINVAL, "https %s: negative timeout or connection cap", cfg->listen);
    if ((st = fr_https_tls_register(err)) != FR_OK)
        return st;
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
    if (!s->cfg.header_deadline_s)
        s->cfg.header_deadline_s = DEFAULT_HEADER_DEADLINE_S;
    if (s->cfg.header_deadline_s > s->cfg.conn_deadline_s)
        s->cfg.header_deadline_s = s->cfg.conn_deadline_s;
    if (!s->cfg.max_conns)
        s->cfg.max_conns = DEFAULT_MAX_CONNS;
    if ((s->sh = calloc(1, sizeof *s->sh))) {
        s->sh->refs = 1;
        s->sh->server = s;
        fr_conn_gate_init(&s->sh->gate, s->cfg.max_conns);
        /* 20 lines at once, then one a second */
        fr_log_gate_init(&s->sh->log, 20, 1, fr_https_now());
    }
    if (!ok || !s->sh || !(s->resume_ev = evtimer_new(base, on_resume, s))) {
        st = fr_fail(err, FR_ENOMEM, "https: out of memory");
        goto out;
    }
    /* OpenSSL and libevent write to sockets with write() and writev(): a peer that
     * hangs up must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    if (cfg->tls && (st = fr_https_tls_ctx(s, &s->ctx, err)) != FR_OK)
        goto out;
    if (!(s->http = evhttp_new(base))) {
        st = fr_fail(err, FR_ENOMEM, "https: cannot create the server");
        goto out;
    }
    if (cfg->tls)
        evhttp_set_bevcb(s->http, fr_https_tls_bev, s);
    fr_https_set_max_body(s, s->cfg.max_body);
    /* A body over the limit: over TLS the 413 goes out as soon as the header is read,
     * and the connection then lingers a few seconds, reading and dropping, so that
     * closing under a client still sending does not reset the connection under the
     * answer (fr_https_tls.c). Plain HTTP (loopback only) reads and drops the body
     * before the 413, within the idle timeout. */
    if (!cfg->tls)
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
    s->lev = evhttp_bound_socket_get_listener(bound);
    s->registered = servers_set(NULL, s);
    evconnlistener_set_error_cb(s->lev, on_accept_error);
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

void fr_https_set_max_body(fr_https *s, size_t max_body)
{
    s->cfg.max_body = max_body;
    if (max_body)
        evhttp_set_max_body_size(s->http,
                                 max_body > (size_t)SSIZE_MAX ? SSIZE_MAX : (ev_ssize_t)max_body);
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
    fr_status st = fr_https_tls_ctx(s, &ctx, err);
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
    if (s->registered)
        (void)servers_set(s, NULL);
    if (s->http)
        evhttp_free(s->http);
    if (s->resume_ev)
        event_free(s->resume_ev);
    if (s->sh)
        s->sh->server = NULL;
    fr_https_shared_put(s->sh);
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
