/* The HTTPS server the coordinator and nodes answer on: libevent's evhttp over OpenSSL
 * with mutual TLS. A client is refused during the TLS handshake, before any HTTP is
 * read, when it shows no certificate (with require_client_cert), one that does not
 * chain to the configured CA, an expired one or a revoked one (with a CRL); the
 * handler then learns who is calling from the verified certificate of that very
 * connection. Bodies, headers and the time a connection may take are capped, so a
 * peer that sends too much or too slowly cannot hold the server's memory or sockets.
 *
 * The server runs in the caller's event loop and is single-threaded: every function
 * here is called from the loop's thread. Creating a server ignores SIGPIPE for the
 * process: OpenSSL and libevent write to sockets with plain write(). */
#ifndef FR_HTTPS_H
#define FR_HTTPS_H

#include <stddef.h>
#include <stdint.h>

#include "util/fr_status.h"

struct event_base;
struct evhttp_request;

typedef struct fr_https_config {
    const char *listen;      /* "HOST:PORT" or "[V6]:PORT"; port 0 = any free port
                              * (fr_https_port tells which) */
    const char *cert, *key;  /* server certificate (chain) and key, PEM */
    const char *ca;          /* CA certificate(s), PEM: client certificates must chain to it */
    const char *crl;         /* CRL PEM or NULL: when set, client leaf certificates are
                              * checked against it (and one must be there for their CA) */
    int tls;                 /* 1: TLS; 0: plain HTTP, only on a loopback address */
    int require_client_cert; /* with tls: a client without a valid certificate fails the
                              * handshake */
    size_t max_body;         /* larger request bodies get 413; 0 = no limit */
    size_t max_headers;      /* request line and headers; 16 KiB when 0 */
    int timeout_s;           /* idle timeout; 30 when 0 */
    int conn_deadline_s;     /* TLS connections: receiving a request's body (counted from
                              * the end of its header), sending its reply, and waiting
                              * for the next request must each end within this; 120 when
                              * 0 */
    int header_deadline_s;   /* TLS connections: the handshake and a request's header must
                              * end within this from the accept (or from the first byte
                              * of a request on a kept-alive connection); 10 when 0, at
                              * most conn_deadline_s */
    int max_conns;           /* TLS connections open at once; 512 when 0. At the cap, and
                              * when accept() fails (the file-descriptor limit), the
                              * server stops accepting for a short, growing interval
                              * (0.1 to 2 s) and logs one line per episode (at most one
                              * a minute) */
} fr_https_config;

typedef struct fr_https fr_https; /* opaque, allocated by fr_https_init */

/* peer: the subject CN of the client certificate verified on this connection (NULL
 * when the client showed none, which only a server without require_client_cert
 * lets through). It matches ^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$: a certificate with any
 * other CN gets 403 without reaching the handler. The handler answers the request
 * (fr_https_reply*) before it returns. Only GET and POST reach it (evhttp answers
 * others with 501). */
typedef void (*fr_https_handler)(struct evhttp_request *req, const char *peer, void *ctx);

/* Listen on cfg->listen in base, answering every request with handler(req, peer, ctx).
 * cfg's strings are copied. Allocates *out, freed with fr_https_free. Fails naming the
 * file that cannot be loaded or the address that cannot be bound. */
FR_MUST fr_status fr_https_init(fr_https **out, struct event_base *base, const fr_https_config *cfg,
                                fr_https_handler handler, void *ctx, fr_err *err);

/* The port listened on (the chosen one when cfg->listen asked for port 0). */
int fr_https_port(const fr_https *s);

/* Re-read cfg->crl (and the certificates) into a fresh TLS context that new
 * connections use; connections already open keep theirs. When the new files do not
 * load, the old context stays in use and the error says why. */
FR_MUST fr_status fr_https_reload_crl(fr_https *s, fr_err *err);

/* A new cap on request bodies (cfg->max_body; 0 = no limit): for connections accepted
 * from now on, and for open ones from their next request on (a node polls its task
 * before it uploads). The coordinator's updates grow with the model when the catalogue
 * does. */
void fr_https_set_max_body(fr_https *s, size_t max_body);

/* Closes the listener and every open connection. s may be NULL. */
void fr_https_free(fr_https *s);

/* Reply with code and len bytes of body (copied) of content_type (may be NULL when
 * len is 0). */
void fr_https_reply(struct evhttp_request *req, int code, const char *content_type,
                    const void *body, size_t len);

/* Reply with len bytes at body without copying them: cleanup(body, len, arg) runs
 * once the server no longer needs them (after the reply is sent or the connection
 * dropped). For large blobs such as model files. */
void fr_https_reply_ref(struct evhttp_request *req, int code, const char *content_type,
                        const void *body, size_t len,
                        void (*cleanup)(const void *body, size_t len, void *arg), void *arg);

/* A text/plain reply of one line: the formatted text cut to 500 bytes, control
 * characters replaced by '?' (it may quote what a peer sent), then a newline. */
void fr_https_reply_text(struct evhttp_request *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Add a response header before replying (e.g. X-Fr-Signature). */
void fr_https_add_header(struct evhttp_request *req, const char *name, const char *value);

/* The value of request header name (case-insensitive), or NULL. */
const char *fr_https_header(struct evhttp_request *req, const char *name);

/* The whole request body as one contiguous pointer into the request's buffer (made
 * contiguous in place the first time), valid until the reply; NULL with *len = 0 when
 * the body is empty or cannot be made contiguous. */
const uint8_t *fr_https_body(struct evhttp_request *req, size_t *len);

/* The request's path without the query ("/round/3/update"), or NULL. */
const char *fr_https_path(struct evhttp_request *req);

/* 1 for GET, 2 for POST (the methods that reach a handler), 0 otherwise. */
int fr_https_method(struct evhttp_request *req);
#define FR_HTTPS_GET 1
#define FR_HTTPS_POST 2

/* The role (secagg/fr_identity.h, fr_identity_role) of the client certificate verified
 * on req's connection; -1 without TLS or without a client certificate. */
int fr_https_peer_role(struct evhttp_request *req);

/* Testing the path that must close a connection when its TLS state cannot be set
 * up (out of memory): the next n connections fail that way. */
void fr_https_fail_next_connections(fr_https *s, int n);

#endif
