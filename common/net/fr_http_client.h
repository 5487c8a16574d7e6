/* The HTTPS client nodes talk to the coordinator with (and tools to local services):
 * libcurl with a client certificate, the server's certificate and host name always
 * verified against the configured CA, one connection kept alive between requests,
 * uploads streamed from a producer without a second copy in memory, and responses
 * capped in size before any memory is grown for them.
 *
 * A client is used by one thread at a time. */
#ifndef FR_HTTP_CLIENT_H
#define FR_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "util/fr_status.h"

/* Called now and then while a request moves its body: bytes sent of the upload's total
 * and received of the answer's (0 while unknown). */
typedef void (*fr_http_progress_fn)(void *ctx, uint64_t sent, uint64_t send_total,
                                    uint64_t received, uint64_t receive_total);

typedef struct fr_http_client_config {
    const char *base_url;   /* "https://127.0.0.1:8443", or "http://127.0.0.1:PORT"
                             * for a local service (then no TLS options apply) */
    const char *cert, *key; /* client certificate (chain) and key, PEM; both or neither */
    const char *ca;         /* CA that signs the server: required for https */
    const char *crl;        /* CRL the server's certificate is checked against, or NULL */
    long connect_timeout_s, timeout_s; /* 10 and 300 when 0; timeout_s bounds a whole request */
    size_t max_response;               /* larger response bodies are refused; 1 GiB when 0 */
    fr_http_progress_fn progress;      /* optional */
    void *progress_ctx;
} fr_http_client_config;

typedef struct fr_http_client {
    void *curl; /* CURL easy handle, reused so the connection stays open */
    char *base_url, *cert, *key, *ca, *crl;
    int tls;
    long connect_timeout_s, timeout_s;
    size_t max_response;
    fr_http_progress_fn progress;
    void *progress_ctx;
} fr_http_client;

/* A response header as received, name and value without surrounding blanks. */
typedef struct fr_http_header {
    char *name, *value;
} fr_http_header;

/* Zero it before its first use; each request resets it, fr_http_response_free
 * releases it. */
typedef struct fr_http_response {
    long code;     /* HTTP status */
    uint8_t *body; /* len bytes (and a 0 after them, so text can be read as a string);
                    * NULL when len is 0 */
    size_t len;
    size_t cap;
    fr_http_header *headers; /* the final response's headers, at most 64 */
    int n_headers;
    size_t header_bytes;
    /* why a transfer stopped on our side */
    int too_big, no_memory;
    size_t max;
} fr_http_response;

/* Set c up from cfg (strings copied). FR_EINVAL for a base URL that is not http:// or
 * https://, https without a CA, or a certificate without its key; FR_EIO naming a
 * file that cannot be read. */
FR_MUST fr_status fr_http_client_init(fr_http_client *c, const fr_http_client_config *cfg,
                                      fr_err *err);
/* Closes the connection. Accepts a zeroed client. */
void fr_http_client_free(fr_http_client *c);

/* method "GET" or "POST" to base_url + path (path starts with '/'); body (len bytes,
 * may be NULL when len is 0) of content_type (application/octet-stream when NULL) is
 * sent with POST. Transport failures (connect, TLS refused either way, timeout)
 * return FR_EIO with one line ("https://...: SSL certificate problem: ..."); a
 * response body over max_response returns FR_ENOMEM; any HTTP status returns FR_OK
 * with resp->code set: the caller decides. */
FR_MUST fr_status fr_http_request(fr_http_client *c, const char *method, const char *path,
                                  const void *body, size_t len, const char *content_type,
                                  fr_http_response *resp, fr_err *err);

/* Fills buf with up to cap bytes of the body and returns how many; returning 0 before
 * the whole body has been given abandons the upload (FR_EIO). */
typedef size_t (*fr_http_read_fn)(void *ctx, uint8_t *buf, size_t cap);

/* POST of exactly total bytes produced by fn, streamed: no copy of the whole body is
 * ever made. Otherwise as fr_http_request. */
FR_MUST fr_status fr_http_upload(fr_http_client *c, const char *path, fr_http_read_fn fn, void *ctx,
                                 uint64_t total, const char *content_type, fr_http_response *resp,
                                 fr_err *err);

/* The value of the response header name (case-insensitive; the first when repeated),
 * or NULL. */
const char *fr_http_response_header(const fr_http_response *r, const char *name);

/* Accepts a zeroed response; leaves it zeroed. */
void fr_http_response_free(fr_http_response *r);

#endif
