/* The HTTPS server's internals shared by its files: the server's state (fr_https.c) and
 * its TLS side (fr_https_tls.c). Not for use outside common/net. */
#ifndef FR_HTTPS_INT_H
#define FR_HTTPS_INT_H

#include <openssl/ssl.h>

#include "net/fr_conn_limits.h"
#include "net/fr_https.h"

struct bufferevent;
struct evconnlistener;

/* What the server and its connections share: a connection can outlive the server when
 * libevent frees it late, so it holds a reference and finds server NULL then. */
typedef struct fr_https_shared {
    int refs;
    fr_conn_gate gate; /* open TLS connections, the accept back-off */
    fr_log_gate log;   /* lines about refused connections */
    struct fr_https *server;
} fr_https_shared;

/* Seconds on a monotonic clock, for the limits' logic. */
double fr_https_now(void);
/* Drops a reference to sh, freeing it with the last. */
void fr_https_shared_put(fr_https_shared *sh);
/* Stops accepting for a while (failed: accept() failed, else the cap is reached). */
void fr_https_pause_accept(struct fr_https *s, int failed);

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
    fr_https_shared *sh;
    struct evconnlistener *lev;
    struct event *resume_ev; /* ends a pause of the accept loop */
    int registered;          /* in the list the accept-error callback searches */
    unsigned generation;     /* of ctx: bumped by each reload */
};

/* Registers the per-connection record with OpenSSL, once per process. */
FR_MUST fr_status fr_https_tls_register(fr_err *err);
/* A fresh server context from s's configured files (certificate, key, CA, CRL). */
FR_MUST fr_status fr_https_tls_ctx(const fr_https *s, SSL_CTX **out, fr_err *err);
/* evhttp's bufferevent callback: a TLS bufferevent for each accepted connection (arg:
 * the server), or one that drops the connection when its TLS state cannot be made. */
struct bufferevent *fr_https_tls_bev(struct event_base *base, void *arg);
/* The TLS checks of a request before its handler runs: the peer's certificate against
 * the context in force, and its name into cn (*peer = cn, or left NULL without a
 * certificate). 0: go on; -1: refused, the request is answered. */
int fr_https_tls_admit(fr_https *s, struct evhttp_request *req, char cn[64], const char **peer);

#endif
