/* The HTTPS client (see fr_http_client.h) over one libcurl easy handle. The handle is
 * reset before every request, so options of one request (an upload's reader, say)
 * never leak into the next, while its connection, TLS session and DNS caches stay. */
#include "net/fr_http_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#define DEFAULT_CONNECT_TIMEOUT_S 10
#define DEFAULT_TIMEOUT_S 300
#define DEFAULT_MAX_RESPONSE ((size_t)1 << 30)
#define UPLOAD_BUFFER (2 * 1024 * 1024)
#define MAX_HEADERS 64
#define MAX_HEADER_BYTES (64 * 1024)

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *dup_opt(const char *s, int *ok)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *ok = 0;
    return d;
}

static fr_status readable(const char *path, const char *what, fr_err *err)
{
    if (path && access(path, R_OK) != 0)
        return fr_fail(err, FR_EIO, "%s: cannot read the %s: %s", path, what, strerror(errno));
    return FR_OK;
}

fr_status fr_http_client_init(fr_http_client *c, const fr_http_client_config *cfg, fr_err *err)
{
    fr_status st = FR_OK;
    int ok = 1;
    memset(c, 0, sizeof *c);
    if (!cfg->base_url)
        return fr_fail(err, FR_EINVAL, "http client: no base URL");
    int tls = strncmp(cfg->base_url, "https://", 8) == 0;
    if (!tls && strncmp(cfg->base_url, "http://", 7) != 0)
        return fr_fail(err, FR_EINVAL, "'%s': the base URL must start with https:// or http://",
                       cfg->base_url);
    if (tls && !cfg->ca)
        return fr_fail(err, FR_EINVAL, "%s: https needs the CA that signs the server",
                       cfg->base_url);
    if (!cfg->cert != !cfg->key)
        return fr_fail(err, FR_EINVAL,
                       "%s: a client certificate needs its key and the key its "
                       "certificate",
                       cfg->base_url);
    if (cfg->connect_timeout_s < 0 || cfg->timeout_s < 0)
        return fr_fail(err, FR_EINVAL, "%s: negative timeout", cfg->base_url);
    if (tls && ((st = readable(cfg->cert, "client certificate", err)) != FR_OK ||
                (st = readable(cfg->key, "client key", err)) != FR_OK ||
                (st = readable(cfg->ca, "CA certificate", err)) != FR_OK ||
                (st = readable(cfg->crl, "CRL", err)) != FR_OK))
        return st;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return fr_fail(err, FR_EIO, "libcurl: %s", curl_easy_strerror(global_rc));
    c->tls = tls;
    c->base_url = dup_opt(cfg->base_url, &ok);
    c->cert = dup_opt(cfg->cert, &ok);
    c->key = dup_opt(cfg->key, &ok);
    c->ca = dup_opt(cfg->ca, &ok);
    c->crl = dup_opt(cfg->crl, &ok);
    c->connect_timeout_s =
        cfg->connect_timeout_s ? cfg->connect_timeout_s : DEFAULT_CONNECT_TIMEOUT_S;
    c->timeout_s = cfg->timeout_s ? cfg->timeout_s : DEFAULT_TIMEOUT_S;
    c->max_response = cfg->max_response ? cfg->max_response : DEFAULT_MAX_RESPONSE;
    c->progress = cfg->progress;
    c->progress_ctx = cfg->progress_ctx;
    if (c->max_response > SIZE_MAX / 2)
        c->max_response = SIZE_MAX / 2; /* leaves room for the buffer's terminating 0 */
    if (ok && c->base_url) {
        size_t n = strlen(c->base_url);
        while (n > 0 && c->base_url[n - 1] == '/')
            c->base_url[--n] = 0; /* paths bring their own */
    }
    if (!ok || !(c->curl = curl_easy_init())) {
        st = fr_fail(err, FR_ENOMEM, "%s: out of memory", cfg->base_url);
        fr_http_client_free(c);
    }
    return st;
}

void fr_http_client_free(fr_http_client *c)
{
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c->base_url);
    free(c->cert);
    free(c->key);
    free(c->ca);
    free(c->crl);
    memset(c, 0, sizeof *c);
}

void fr_http_response_free(fr_http_response *r)
{
    for (int i = 0; i < r->n_headers; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}

const char *fr_http_response_header(const fr_http_response *r, const char *name)
{
    for (int i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

static void clear_headers(fr_http_response *r)
{
    for (int i = 0; i < r->n_headers; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    r->n_headers = 0;
    r->header_bytes = 0;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
    fr_http_response *r = arg;
    size_t n = size * nmemb;
    if (n > r->max - r->len) {
        r->too_big = 1;
        return 0;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 64 * 1024;
        while (cap < r->len + n + 1)
            cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
        if (cap > r->max + 1)
            cap = r->max + 1;
        uint8_t *b = realloc(r->body, cap);
        if (!b) {
            r->no_memory = 1;
            return 0;
        }
        r->body = b;
        r->cap = cap;
    }
    memcpy(r->body + r->len, ptr, n);
    r->len += n;
    r->body[r->len] = 0;
    return n;
}

static char *dup_trimmed(const char *p, size_t n)
{
    while (n && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' || p[n - 1] == '\n'))
        n--;
    return strndup(p, n);
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *arg)
{
    fr_http_response *r = arg;
    size_t n = size * nitems;
    if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        clear_headers(r); /* a new response (after an interim one) starts */
        return n;
    }
    const char *colon = memchr(buf, ':', n);
    if (!colon || colon == buf)
        return n; /* the blank line that ends the headers */
    size_t name_len = (size_t)(colon - buf);
    if (name_len == 14 && strncasecmp(buf, "Content-Length", 14) == 0) {
        char num[32];
        size_t vl = n - name_len - 1 < sizeof num - 1 ? n - name_len - 1 : sizeof num - 1;
        memcpy(num, colon + 1, vl);
        num[vl] = 0;
        unsigned long long v = strtoull(num, NULL, 10);
        if (v > r->max) {
            r->too_big = 1; /* refuse before a byte of the body arrives */
            return 0;
        }
    }
    if (r->n_headers >= MAX_HEADERS || r->header_bytes + n > MAX_HEADER_BYTES)
        return n;
    if (!r->headers && !(r->headers = calloc(MAX_HEADERS, sizeof *r->headers)))
        return 0;
    fr_http_header *h = &r->headers[r->n_headers];
    h->name = dup_trimmed(buf, name_len);
    h->value = dup_trimmed(colon + 1, n - name_len - 1);
    if (!h->name || !h->value) {
        free(h->name);
        free(h->value);
        h->name = h->value = NULL;
        return 0;
    }
    r->n_headers++;
    r->header_bytes += n;
    return n;
}

typedef struct upload {
    fr_http_read_fn fn;
    void *ctx;
    uint64_t total, sent;
    int short_body, overrun;
} upload;

static size_t read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
    upload *u = arg;
    size_t cap = size * nitems;
    uint64_t left = u->total - u->sent;
    if (left == 0)
        return 0;
    if (cap > left)
        cap = (size_t)left;
    size_t got = u->fn(u->ctx, (uint8_t *)buf, cap);
    if (got == 0 || got > cap) {
        if (got == 0)
            u->short_body = 1;
        else
            u->overrun = 1;
        return CURL_READFUNC_ABORT;
    }
    u->sent += got;
    return got;
}

#define SETOPT(opt, val)                                                                           \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(curl, opt, val);                                                 \
    } while (0)

/* One request: body (len bytes) when u is NULL, else the upload's producer. */
static int xferinfo(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                    curl_off_t ulnow)
{
    fr_http_client *c = ctx;
    c->progress(c->progress_ctx, (uint64_t)ulnow, (uint64_t)ultotal, (uint64_t)dlnow,
                (uint64_t)dltotal);
    return 0;
}

static fr_status perform(fr_http_client *c, int post, const char *path, const void *body,
                         size_t len, upload *u, const char *content_type, fr_http_response *resp,
                         fr_err *err)
{
    fr_status st = FR_OK;
    CURL *curl = c->curl;
    CURLcode rc = CURLE_OK;
    struct curl_slist *hdrs = NULL, *h;
    char errbuf[CURL_ERROR_SIZE] = "";
    char *url = NULL, *ctype = NULL;
    fr_http_response_free(resp);
    resp->max = c->max_response;
    if (!curl)
        return fr_fail(err, FR_EINVAL, "http client used after free or failed init");
    if (!path || path[0] != '/')
        return fr_fail(err, FR_EINVAL, "%s: path '%s' does not start with '/'", c->base_url,
                       path ? path : "");
    for (const char *p = path; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return fr_fail(err, FR_EINVAL, "%s: path '%s' holds a blank or control character",
                           c->base_url, path);
    size_t ul = strlen(c->base_url) + strlen(path) + 1;
    if (!(url = malloc(ul))) {
        st = fr_fail(err, FR_ENOMEM, "%s: out of memory", c->base_url);
        goto out;
    }
    snprintf(url, ul, "%s%s", c->base_url, path);

    curl_easy_reset(curl);
    SETOPT(CURLOPT_URL, url);
    SETOPT(CURLOPT_PROTOCOLS_STR, c->tls ? "https" : "http");
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_CONNECTTIMEOUT, c->connect_timeout_s);
    SETOPT(CURLOPT_TIMEOUT, c->timeout_s);
    SETOPT(CURLOPT_ERRORBUFFER, errbuf);
    SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_NOPROGRESS, c->progress ? 0L : 1L);
    if (c->progress) {
        SETOPT(CURLOPT_XFERINFOFUNCTION, xferinfo);
        SETOPT(CURLOPT_XFERINFODATA, c);
    }
    SETOPT(CURLOPT_WRITEFUNCTION, write_cb);
    SETOPT(CURLOPT_WRITEDATA, resp);
    SETOPT(CURLOPT_HEADERFUNCTION, header_cb);
    SETOPT(CURLOPT_HEADERDATA, resp);
    if (c->tls) {
        SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
        SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
        SETOPT(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
        SETOPT(CURLOPT_CAINFO, c->ca);
        /* Only the configured CA: not the system's certificate folder as well. */
        SETOPT(CURLOPT_CAPATH, (char *)NULL);
        if (c->cert) {
            SETOPT(CURLOPT_SSLCERT, c->cert);
            SETOPT(CURLOPT_SSLCERTTYPE, "PEM");
            SETOPT(CURLOPT_SSLKEY, c->key);
            SETOPT(CURLOPT_SSLKEYTYPE, "PEM");
        }
        if (c->crl)
            SETOPT(CURLOPT_CRLFILE, c->crl);
    }
    if (post) {
        size_t cl = strlen("Content-Type: ") + strlen(content_type) + 1;
        if (!(ctype = malloc(cl))) {
            st = fr_fail(err, FR_ENOMEM, "%s: out of memory", url);
            goto out;
        }
        snprintf(ctype, cl, "Content-Type: %s", content_type);
        /* An empty Expect: stops curl waiting for "100 Continue" before a large body. */
        if (!(h = curl_slist_append(hdrs, "Expect:")) || !(hdrs = h) ||
            !(h = curl_slist_append(hdrs, ctype)) || !(hdrs = h)) {
            st = fr_fail(err, FR_ENOMEM, "%s: out of memory", url);
            goto out;
        }
        SETOPT(CURLOPT_HTTPHEADER, hdrs);
        SETOPT(CURLOPT_POST, 1L);
        if (u) {
            SETOPT(CURLOPT_READFUNCTION, read_cb);
            SETOPT(CURLOPT_READDATA, u);
            SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)u->total);
            SETOPT(CURLOPT_UPLOAD_BUFFERSIZE, (long)UPLOAD_BUFFER);
        } else {
            SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
            SETOPT(CURLOPT_POSTFIELDS, len ? body : "");
        }
    } else {
        SETOPT(CURLOPT_HTTPGET, 1L);
    }
    if (rc != CURLE_OK) {
        st = fr_fail(err, FR_EINVAL, "%s: cannot set up the request: %s", url,
                     curl_easy_strerror(rc));
        goto out;
    }
    rc = curl_easy_perform(curl);
    if (resp->too_big) {
        st = fr_fail(err, FR_ENOMEM, "%s: response larger than %zu bytes refused", url,
                     c->max_response);
    } else if (resp->no_memory) {
        st = fr_fail(err, FR_ENOMEM, "%s: out of memory for the response", url);
    } else if (u && u->short_body) {
        st = fr_fail(err, FR_EIO, "%s: the body ended after %llu of %llu bytes", url,
                     (unsigned long long)u->sent, (unsigned long long)u->total);
    } else if (u && u->overrun) {
        st = fr_fail(err, FR_EINVAL, "%s: the body reader returned more than asked", url);
    } else if (rc != CURLE_OK) {
        size_t n = strlen(errbuf);
        while (n && (errbuf[n - 1] == '\n' || errbuf[n - 1] == '\r'))
            errbuf[--n] = 0;
        st = fr_fail(err, FR_EIO, "%s: %s", url, n ? errbuf : curl_easy_strerror(rc));
    } else if (curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->code) != CURLE_OK ||
               resp->code < 100) {
        st = fr_fail(err, FR_EIO, "%s: no HTTP status in the response", url);
    }
out:
    /* The handle keeps pointers to these until the next reset. */
    if (curl) {
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, (char *)NULL);
    }
    curl_slist_free_all(hdrs);
    free(ctype);
    free(url);
    if (st != FR_OK)
        fr_http_response_free(resp);
    return st;
}

fr_status fr_http_request(fr_http_client *c, const char *method, const char *path, const void *body,
                          size_t len, const char *content_type, fr_http_response *resp, fr_err *err)
{
    int post;
    if (strcmp(method, "GET") == 0)
        post = 0;
    else if (strcmp(method, "POST") == 0)
        post = 1;
    else
        return fr_fail(err, FR_EINVAL, "%s%s: method '%s' is not GET or POST", c->base_url,
                       path ? path : "", method);
    if (!body && len)
        return fr_fail(err, FR_EINVAL, "%s%s: %zu body bytes without a body", c->base_url,
                       path ? path : "", len);
    return perform(c, post, path, body, len, NULL,
                   content_type ? content_type : "application/octet-stream", resp, err);
}

fr_status fr_http_upload(fr_http_client *c, const char *path, fr_http_read_fn fn, void *ctx,
                         uint64_t total, const char *content_type, fr_http_response *resp,
                         fr_err *err)
{
    upload u = {fn, ctx, total, 0, 0, 0};
    if (!fn)
        return fr_fail(err, FR_EINVAL, "%s%s: upload without a reader", c->base_url,
                       path ? path : "");
    return perform(c, 1, path, NULL, 0, &u,
                   content_type ? content_type : "application/octet-stream", resp, err);
}
