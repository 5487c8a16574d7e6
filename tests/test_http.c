/* The HTTPS server and client together: a server in its own thread and event loop,
 * certificates made for the test with the openssl command. The client gets the
 * verified CN, bodies arrive whole (an 8 MB streamed upload hashes the same on both
 * sides, in chunks no larger than the upload buffer), the connection is kept alive,
 * any HTTP status reaches the caller, oversized responses are refused, a server
 * signed by another CA and a client without a certificate are refused as transport
 * failures, a certificate with an unusable CN gets 403 without reaching the handler,
 * a client given a CRL refuses a revoked server certificate,
 * a connection whose TLS state cannot be set up is closed without an HTTP answer
 * and without leaking its socket, a reload that fails keeps the server working, and
 * plain HTTP is served on loopback only. */
#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "fr_test.h"
#include "fr_test_fixture.h"
#include "net/fr_http_client.h"
#include "net/fr_https.h"

static char dir[64];
static char f_ca[128], f_srv_crt[128], f_srv_key[128], f_node_crt[128], f_node_key[128],
    f_bad_crt[128], f_bad_key[128], f_other_ca[128], f_rogue_crt[128], f_rogue_key[128];

typedef struct test_server {
    struct event_base *base;
    fr_https *srv;
    struct event *stop_ev;
    int stop_fd[2];
    pthread_t thread;
    int running;
    atomic_int calls;
} test_server;

static test_server tls_srv, plain_srv;

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
#define FNV_INIT 0xcbf29ce484222325ull

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "  command failed (%d): %s\n", rc, cmd);
    return rc == 0;
}

/* A CA (name.crt/.key) or a certificate signed by one (ext: its extensions). */
static int make_ca(const char *name, const char *cn)
{
    return sh("cd %s && openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
              "-nodes -keyout %s.key -out %s.crt -days 2 -subj '/CN=%s' "
              "-addext basicConstraints=critical,CA:TRUE "
              "-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null",
              dir, name, name, cn);
}

static int make_cert(const char *name, const char *cn, const char *ca, const char *ext)
{
    return sh("cd %s && printf '%s' > %s.ext && "
              "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
              "-keyout %s.key -out %s.csr -subj '/CN=%s' 2>/dev/null && "
              "openssl x509 -req -in %s.csr -CA %s.crt -CAkey %s.key -CAcreateserial -days 2 "
              "-extfile %s.ext -out %s.crt 2>/dev/null",
              dir, ext, name, name, name, cn, name, ca, ca, name, name);
}

static int make_certs(void)
{
    if (!fixture_dir(dir, sizeof dir))
        return 0;
    snprintf(f_ca, sizeof f_ca, "%s/ca.crt", dir);
    snprintf(f_srv_crt, sizeof f_srv_crt, "%s/server.crt", dir);
    snprintf(f_srv_key, sizeof f_srv_key, "%s/server.key", dir);
    snprintf(f_node_crt, sizeof f_node_crt, "%s/node.crt", dir);
    snprintf(f_node_key, sizeof f_node_key, "%s/node.key", dir);
    snprintf(f_bad_crt, sizeof f_bad_crt, "%s/bad.crt", dir);
    snprintf(f_bad_key, sizeof f_bad_key, "%s/bad.key", dir);
    snprintf(f_other_ca, sizeof f_other_ca, "%s/other.crt", dir);
    snprintf(f_rogue_crt, sizeof f_rogue_crt, "%s/rogue.crt", dir);
    snprintf(f_rogue_key, sizeof f_rogue_key, "%s/rogue.key", dir);
    return make_ca("ca", "test root") && make_ca("other", "other root") &&
           make_cert(
               "server", "coordinator", "ca",
               "subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n") &&
           make_cert("node", "node-a.1", "ca", "extendedKeyUsage=clientAuth\\n") &&
           make_cert("bad", "node a!", "ca", "extendedKeyUsage=clientAuth\\n") &&
           make_cert("rogue", "coordinator", "other",
                     "subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n");
}

static void handle(struct evhttp_request *req, const char *peer, void *ctx)
{
    test_server *t = ctx;
    const char *path = fr_https_path(req);
    atomic_fetch_add(&t->calls, 1);
    if (!path) {
        fr_https_reply_text(req, 400, "no path");
    } else if (strcmp(path, "/whoami") == 0) {
        fr_https_add_header(req, "X-Fr-Test", "signed");
        fr_https_reply_text(req, 200, "%s", peer ? peer : "-");
    } else if (strcmp(path, "/echo") == 0 && fr_https_method(req) == FR_HTTPS_POST) {
        size_t len;
        const uint8_t *body = fr_https_body(req, &len);
        fr_https_reply_text(req, 200, "%zu %016llx %s", len,
                            (unsigned long long)fnv1a(FNV_INIT, body, len),
                            fr_https_header(req, "Content-Type"));
    } else if (strncmp(path, "/big/", 5) == 0) {
        size_t n = strtoul(path + 5, NULL, 10);
        char *b = malloc(n ? n : 1);
        memset(b, 'x', n);
        fr_https_reply(req, 200, "application/octet-stream", b, n);
        free(b);
    } else if (strcmp(path, "/port") == 0) {
        char *addr;
        ev_uint16_t port = 0;
        evhttp_connection_get_peer(evhttp_request_get_connection(req), &addr, &port);
        fr_https_reply_text(req, 200, "%u", (unsigned)port);
    } else if (strcmp(path, "/fail-next") == 0) {
        fr_https_fail_next_connections(t->srv, 3);
        fr_https_reply_text(req, 200, "ok");
    } else if (strcmp(path, "/reload") == 0) {
        fr_err err = {{0}};
        if (fr_https_reload_crl(t->srv, &err) != FR_OK)
            fr_https_reply_text(req, 500, "%s", err.msg);
        else
            fr_https_reply_text(req, 200, "reloaded");
    } else {
        fr_https_reply_text(req, 404, "no such path: %s", path);
    }
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    event_base_loopbreak(arg);
}

static void *loop_main(void *arg)
{
    test_server *t = arg;
    event_base_dispatch(t->base);
    return NULL;
}

static int start_server(test_server *t, const fr_https_config *cfg)
{
    fr_err err = {{0}};
    memset(t, 0, sizeof *t);
    t->stop_fd[0] = t->stop_fd[1] = -1;
    if (!(t->base = event_base_new()) || pipe(t->stop_fd) != 0)
        return 0;
    if (fr_https_init(&t->srv, t->base, cfg, handle, t, &err) != FR_OK) {
        fprintf(stderr, "  server: %s\n", err.msg);
        return 0;
    }
    t->stop_ev = event_new(t->base, t->stop_fd[0], EV_READ, on_stop, t->base);
    if (!t->stop_ev || event_add(t->stop_ev, NULL) != 0 ||
        pthread_create(&t->thread, NULL, loop_main, t) != 0)
        return 0;
    t->running = 1;
    return 1;
}

static void stop_server(test_server *t)
{
    if (t->running) {
        if (write(t->stop_fd[1], "x", 1) != 1)
            abort();
        pthread_join(t->thread, NULL);
    }
    if (t->stop_ev)
        event_free(t->stop_ev);
    fr_https_free(t->srv);
    if (t->base)
        event_base_free(t->base);
    for (int i = 0; i < 2; i++)
        if (t->stop_fd[i] >= 0)
            close(t->stop_fd[i]);
    memset(t, 0, sizeof *t);
}

static void client_for(fr_http_client *c, test_server *t, const char *ca, const char *cert,
                       const char *key)
{
    char url[64];
    fr_err err = {{0}};
    snprintf(url, sizeof url, "https://127.0.0.1:%d", fr_https_port(t->srv));
    fr_http_client_config cfg = {.base_url = url,
                                 .cert = cert,
                                 .key = key,
                                 .ca = ca,
                                 .connect_timeout_s = 5,
                                 .timeout_s = 10};
    fr_status st = fr_http_client_init(c, &cfg, &err);
    CHECK(st == FR_OK, "client init: %s", err.msg);
}

static void test_get_whoami(void)
{
    fr_http_client c;
    fr_http_response r = {0};
    fr_err err = {{0}};
    client_for(&c, &tls_srv, f_ca, f_node_crt, f_node_key);
    fr_status st = fr_http_request(&c, "GET", "/whoami", NULL, 0, NULL, &r, &err);
    CHECK(st == FR_OK, "%s", err.msg);
    CHECK(r.code == 200, "code %ld", r.code);
    CHECK(r.len == 9 && memcmp(r.body, "node-a.1\n", 9) == 0, "body '%s'",
          r.body ? (char *)r.body : "");
    const char *sig = fr_http_response_header(&r, "x-fr-TEST");
    CHECK(sig && strcmp(sig, "signed") == 0, "X-Fr-Test: %s", sig ? sig : "(none)");
    const char *ct = fr_http_response_header(&r, "Content-Type");
    CHECK(ct && strncmp(ct, "text/plain", 10) == 0, "Content-Type: %s", ct ? ct : "(none)");
    CHECK(fr_http_response_header(&r, "X-Absent") == NULL, "absent header found");
    /* Any status reaches the caller as a response. */
    st = fr_http_request(&c, "GET", "/nothing", NULL, 0, NULL, &r, &err);
    CHECK(st == FR_OK && r.code == 404, "st %d code %ld", st, r.code);
    CHECK(r.len > 0 && strstr((char *)r.body, "/nothing"), "404 body");
    fr_http_response_free(&r);
    fr_http_client_free(&c);
}

static void test_post_and_keepalive(void)
{
    fr_http_client c;
    fr_http_response r = {0};
    fr_err err = {{0}};
    char want[128];
    client_for(&c, &tls_srv, f_ca, f_node_crt, f_node_key);
    fr_status st = fr_http_request(&c, "POST", "/echo", "hello", 5, "text/x-test", &r, &err);
    CHECK(st == FR_OK && r.code == 200, "st %d code %ld: %s", st, r.code, err.msg);
    snprintf(want, sizeof want, "5 %016llx text/x-test\n",
             (unsigned long long)fnv1a(FNV_INIT, (const uint8_t *)"hello", 5));
    CHECK(r.body && strcmp((char *)r.body, want) == 0, "echo '%s' want '%s'",
          r.body ? (char *)r.body : "", want);
    st = fr_http_request(&c, "POST", "/echo", NULL, 0, NULL, &r, &err);
    CHECK(st == FR_OK && r.body &&
              strncmp((char *)r.body, "0 cbf29ce484222325 application/octet-stream", 43) == 0,
          "empty POST: '%s'", r.body ? (char *)r.body : "");
    /* The same connection serves the next requests. */
    char p1[16] = "", p2[16] = "";
    if (fr_http_request(&c, "GET", "/port", NULL, 0, NULL, &r, &err) == FR_OK && r.body)
        snprintf(p1, sizeof p1, "%s", (char *)r.body);
    if (fr_http_request(&c, "GET", "/port", NULL, 0, NULL, &r, &err) == FR_OK && r.body)
        snprintf(p2, sizeof p2, "%s", (char *)r.body);
    CHECK(p1[0] && strcmp(p1, p2) == 0, "client ports %s and %s", p1, p2);
    st = fr_http_request(&c, "PUT", "/echo", NULL, 0, NULL, &r, &err);
    CHECK(st == FR_EINVAL, "PUT accepted");
    st = fr_http_request(&c, "GET", "whoami", NULL, 0, NULL, &r, &err);
    CHECK(st == FR_EINVAL && strstr(err.msg, "whoami"), "relative path: %s", err.msg);
    fr_http_response_free(&r);
    fr_http_client_free(&c);
}

typedef struct producer {
    uint64_t total, given, hash;
    size_t max_ask;
    uint32_t state;
} producer;

static size_t produce(void *ctx, uint8_t *buf, size_t cap)
{
    producer *p = ctx;
    size_t n = cap;
    if (cap > p->max_ask)
        p->max_ask = cap;
    if (n > 100000)
        n = 100000 + (p->state % 7919); /* uneven pieces */
    if (n > cap)
        n = cap;
    if (n > p->total - p->given)
        n = (size_t)(p->total - p->given);
    for (size_t i = 0; i < n; i++) {
        p->state = p->state * 1664525u + 1013904223u;
        buf[i] = (uint8_t)(p->state >> 24);
    }
    p->hash = fnv1a(p->hash, buf, n);
    p->given += n;
    return n;
}

static void test_streaming_upload(void)
{
    fr_http_client c;
    fr_http_response r = {0};
    fr_err err = {{0}};
    producer p = {.total = 8 * 1000 * 1000 + 17, .hash = FNV_INIT, .state = 42};
    char want[128];
    client_for(&c, &tls_srv, f_ca, f_node_crt, f_node_key);
    fr_status st = fr_http_upload(&c, "/echo", produce, &p, p.total, NULL, &r, &err);
    CHECK(st == FR_OK && r.code == 200, "st %d code %ld: %s", st, r.code, err.msg);
    snprintf(want, sizeof want, "%llu %016llx application/octet-stream\n",
             (unsigned long long)p.total, (unsigned long long)p.hash);
    CHECK(p.given == p.total, "gave %llu of %llu", (unsigned long long)p.given,
          (unsigned long long)p.total);
    CHECK(r.body && strcmp((char *)r.body, want) == 0, "server saw '%s' want '%s'",
          r.body ? (char *)r.body : "", want);
    CHECK(p.max_ask <= 2 * 1024 * 1024, "asked for %zu bytes at once", p.max_ask);
    /* A producer that stops early abandons the upload. */
    producer q = {.total = 300000, .hash = FNV_INIT, .state = 1};
    st = fr_http_upload(&c, "/echo", produce, &q, q.total + 1000, NULL, &r, &err);
    CHECK(st == FR_EIO && strstr(err.msg, "ended after 300000 of 301000"), "short body: %d %s", st,
          err.msg);
    st = fr_http_request(&c, "GET", "/whoami", NULL, 0, NULL, &r, &err);
    CHECK(st == FR_OK && r.code == 200, "after an abandoned upload: %s", err.msg);
    fr_http_response_free(&r);
    fr_http_client_free(&c);
}

typedef struct progress_seen {
    int calls;
    uint64_t sent, send_total;
} progress_seen;

static void on_progress(void *ctx, uint64_t sent, uint64_t send_total, uint64_t received,
                        uint64_t receive_total)
{
    (void)received;
    (void)receive_total;
    progress_seen *p = ctx;
    p->calls++;
    if (sent > p->sent)
        p->sent = sent;
    if (send_total > p->send_total)
        p->send_total = send_total;
}

/* The progress callback sees an upload through to its last byte. */
static void test_progress(void)
{
    char url[64];
    fr_err err = {{0}};
    progress_seen seen = {0};
    snprintf(url, sizeof url, "https://127.0.0.1:%d", fr_https_port(tls_srv.srv));
    fr_http_client_config cfg = {.base_url = url,
                                 .cert = f_node_crt,
                                 .key = f_node_key,
                                 .ca = f_ca,
                                 .timeout_s = 10,
                                 .progress = on_progress,
                                 .progress_ctx = &seen};
    fr_http_client c;
    fr_http_response r = {0};
    CHECK(fr_http_client_init(&c, &cfg, &err) == FR_OK, "%s", err.msg);
    producer p = {.total = 3 * 1000 * 1000, .hash = FNV_INIT, .state = 7};
    fr_status st = fr_http_upload(&c, "/echo", produce, &p, p.total, NULL, &r, &err);
    CHECK(st == FR_OK && r.code == 200, "st %d code %ld: %s", st, r.code, err.msg);
    CHECK(seen.calls > 0 && seen.sent == p.total && seen.send_total == p.total,
          "%d calls, saw %llu of %llu", seen.calls, (unsigned long long)seen.sent,
          (unsigned long long)seen.send_total);
    fr_http_response_free(&r);
    fr_http_client_free(&c);
}

static void test_max_response(void)
{
    fr_http_client c;
    fr_http_response r = {0};
    fr_err err = {{0}};
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/", fr_https_port(tls_srv.srv));
    fr_http_client_config cfg = {
        .base_url = url, .cert = f_node_crt, .key = f_node_key, .ca = f_ca, .max_response = 1000};
    fr_status st = fr_http_client_init(&c, &cfg, &err);
    CHECK(st == FR_OK, "%s", err.msg);
    st = fr_http_request(&c, "GET", "/big/1000", NULL, 0, NULL, &r, &err);
    CHECK(st == FR_OK && r.code == 200 && r.len == 1000 && r.body[999] == 'x', "at the cap: %d %s",
          st, err.msg);
    st = fr_http_request(&c, "GET", "/big/1001", NULL, 0, NULL, &r, &err);
    CHECK(st == FR_ENOMEM && strstr(err.msg, "larger than 1000"), "over the cap: %d %s", st,
          err.msg);
    CHECK(r.body == NULL && r.len == 0 && r.code == 0, "refused response left filled");
    st = fr_http_request(&c, "GET", "/big/5000000", NULL, 0, NULL, &r, &err);
    CHECK(st == FR_ENOMEM, "far over the cap: %d %s", st, err.msg);
    st = fr_http_request(&c, "GET", "/whoami", NULL, 0, NULL, &r, &err);
    CHECK(st == FR_OK && r.code == 200, "after a refused response: %s", err.msg);
    fr_http_response_free(&r);
    fr_http_client_free(&c);
}

static void test_refusals(void)
{
    fr_http_client c;
    fr_http_response r = {0};
    fr_err err = {{0}};
    int calls = atomic_load(&tls_srv.calls);
    /* The server's certificate from another CA's point of view. */
    client_for(&c, &tls_srv, f_other_ca, f_node_crt, f_node_key);
    fr_status st = fr_http_request(&c, "GET", "/whoami", NULL, 0, NULL, &r, &err);
    CHECK(st == FR_EIO && strstr(err.msg, "https://127.0.0.1:") &&
              strstr(err.msg, "SSL certificate problem"),
          "wrong CA: %d %s", st, err.msg);
    fr_http_client_free(&c);
    /* No client certificate: refused by the server during the handshake. */
    client_for(&c, &tls_srv, f_ca, NULL, NULL);
    st = fr_http_request(&c, "GET", "/whoami", NULL, 0, NULL, &r, &err);
    CHECK(st == FR_EIO && r.code == 0, "no client cert: %d code %ld", st, r.code);
    fr_http_client_free(&c);
    /* A client certificate from another CA. */
    client_for(&c, &tls_srv, f_ca, f_rogue_crt, f_rogue_key);
    st = fr_http_request(&c, "GET", "/whoami", NULL, 0, NULL, &r, &err);
    CHECK(st == FR_EIO, "client cert of another CA: %d code %ld", st, r.code);
    fr_http_client_free(&c);
    CHECK(atomic_load(&tls_srv.calls) == calls, "refused clients reached the handler");
    /* A valid certificate whose CN is not a usable name. */
    client_for(&c, &tls_srv, f_ca, f_bad_crt, f_bad_key);
    st = fr_http_request(&c, "GET", "/whoami", NULL, 0, NULL, &r, &err);
    CHECK(st == FR_OK && r.code == 403, "bad CN: %d code %ld", st, r.code);
    CHECK(atomic_load(&tls_srv.calls) == calls, "bad CN reached the handler");
    fr_http_response_free(&r);
    fr_http_client_free(&c);
}

/* A CRL signed by the test CA at path, revoking the certificate in revoked_crt when
 * that is not NULL. */
static int make_crl(const char *path, const char *revoked_crt)
{
    char key_path[160];
    snprintf(key_path, sizeof key_path, "%s/ca.key", dir);
    FILE *fc = fopen(f_ca, "r"), *fk = fopen(key_path, "r");
    FILE *fr = revoked_crt ? fopen(revoked_crt, "r") : NULL;
    X509 *ca = fc ? PEM_read_X509(fc, NULL, NULL, NULL) : NULL;
    EVP_PKEY *key = fk ? PEM_read_PrivateKey(fk, NULL, NULL, NULL) : NULL;
    X509 *rev = fr ? PEM_read_X509(fr, NULL, NULL, NULL) : NULL;
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *now = ASN1_TIME_set(NULL, time(NULL) - 60);
    ASN1_TIME *next = ASN1_TIME_set(NULL, time(NULL) + 86400);
    int ok = ca && key && crl && now && next && (!revoked_crt || rev) &&
             X509_CRL_set_version(crl, 1) &&
             X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) &&
             X509_CRL_set1_lastUpdate(crl, now) && X509_CRL_set1_nextUpdate(crl, next);
    if (ok && rev) {
        X509_REVOKED *r = X509_REVOKED_new();
        ok = r && X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(rev)) &&
             X509_REVOKED_set_revocationDate(r, now) && X509_CRL_add0_revoked(crl, r);
        if (!ok)
            X509_REVOKED_free(r);
    }
    ok = ok && X509_CRL_sort(crl) && X509_CRL_sign(crl, key, EVP_sha256()) > 0;
    FILE *out = ok ? fopen(path, "w") : NULL;
    ok = out && PEM_write_X509_CRL(out, crl);
    if (out && fclose(out) != 0)
        ok = 0;
    if (fc)
        fclose(fc);
    if (fk)
        fclose(fk);
    if (fr)
        fclose(fr);
    X509_free(ca);
    X509_free(rev);
    EVP_PKEY_free(key);
    X509_CRL_free(crl);
    ASN1_TIME_free(now);
    ASN1_TIME_free(next);
    return ok;
}

static void test_client_crl(void)
{
    char clean[160], revoking[160], url[64];
    fr_err err = {{0}};
    fr_http_response r = {0};
    fr_http_client c;
    snprintf(clean, sizeof clean, "%s/clean.crl", dir);
    snprintf(revoking, sizeof revoking, "%s/revoking.crl", dir);
    CHECK(make_crl(clean, NULL) && make_crl(revoking, f_srv_crt), "cannot make the CRLs");
    snprintf(url, sizeof url, "https://127.0.0.1:%d", fr_https_port(tls_srv.srv));
    fr_http_client_config cfg = {
        .base_url = url, .cert = f_node_crt, .key = f_node_key, .ca = f_ca, .crl = clean};
    fr_status st = fr_http_client_init(&c, &cfg, &err);
    CHECK(st == FR_OK, "%s", err.msg);
    st = fr_http_request(&c, "GET", "/whoami", NULL, 0, NULL, &r, &err);
    CHECK(st == FR_OK && r.code == 200, "CRL without the server: %d %s", st, err.msg);
    fr_http_client_free(&c);
    cfg.crl = revoking;
    st = fr_http_client_init(&c, &cfg, &err);
    CHECK(st == FR_OK, "%s", err.msg);
    st = fr_http_request(&c, "GET", "/whoami", NULL, 0, NULL, &r, &err);
    CHECK(st == FR_EIO && strstr(err.msg, "revoked"), "revoked server: %d %s", st, err.msg);
    fr_http_response_free(&r);
    fr_http_client_free(&c);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void test_setup_failure_closes(void)
{
    fr_http_client c;
    fr_http_response r = {0};
    fr_err err = {{0}};
    char url[64];
    int before = count_fds();
    client_for(&c, &tls_srv, f_ca, f_node_crt, f_node_key);
    fr_status st = fr_http_request(&c, "GET", "/fail-next", NULL, 0, NULL, &r, &err);
    CHECK(st == FR_OK && r.code == 200, "%s", err.msg);
    fr_http_client_free(&c);
    client_for(&c, &tls_srv, f_ca, f_node_crt, f_node_key);
    st = fr_http_request(&c, "GET", "/whoami", NULL, 0, NULL, &r, &err);
    CHECK(st == FR_EIO, "TLS connection without TLS state: %d code %ld", st, r.code);
    fr_http_client_free(&c);
    /* Plain HTTP to the TLS port while set-up fails: still never an HTTP answer. */
    snprintf(url, sizeof url, "http://127.0.0.1:%d", fr_https_port(tls_srv.srv));
    fr_http_client_config pc = {.base_url = url, .timeout_s = 5};
    st = fr_http_client_init(&c, &pc, &err);
    CHECK(st == FR_OK, "%s", err.msg);
    for (int i = 0; i < 2; i++) {
        st = fr_http_request(&c, "GET", "/whoami", NULL, 0, NULL, &r, &err);
        CHECK(st == FR_EIO && r.code == 0, "plain HTTP %d: %d code %ld", i, st, r.code);
    }
    fr_http_client_free(&c);
    client_for(&c, &tls_srv, f_ca, f_node_crt, f_node_key);
    st = fr_http_request(&c, "GET", "/whoami", NULL, 0, NULL, &r, &err);
    CHECK(st == FR_OK && r.code == 200, "after the failures: %d %s", st, err.msg);
    fr_http_client_free(&c);
    /* The server closes its side when its loop sees the client go. */
    int after = count_fds();
    for (int i = 0; i < 100 && after > before; i++) {
        usleep(20 * 1000);
        after = count_fds();
    }
    CHECK(after <= before, "open files %d before, %d after", before, after);
    fr_http_response_free(&r);
}

static void test_reload_keeps_old(void)
{
    fr_http_client c;
    fr_http_response r = {0};
    fr_err err = {{0}};
    char saved[160];
    snprintf(saved, sizeof saved, "%s.saved", f_srv_crt);
    client_for(&c, &tls_srv, f_ca, f_node_crt, f_node_key);
    fr_status st = fr_http_request(&c, "GET", "/reload", NULL, 0, NULL, &r, &err);
    CHECK(st == FR_OK && r.code == 200, "reload: %ld %s", r.code, r.body ? (char *)r.body : "");
    CHECK(rename(f_srv_crt, saved) == 0 && fixture_text(dir, "server.crt", "not a cert\n"),
          "cannot replace the certificate");
    st = fr_http_request(&c, "GET", "/reload", NULL, 0, NULL, &r, &err);
    CHECK(st == FR_OK && r.code == 500 && r.body && strstr((char *)r.body, "server.crt"),
          "broken reload: %ld %s", r.code, r.body ? (char *)r.body : "");
    fr_http_client_free(&c);
    /* A new connection still gets the old, working context. */
    client_for(&c, &tls_srv, f_ca, f_node_crt, f_node_key);
    st = fr_http_request(&c, "GET", "/whoami", NULL, 0, NULL, &r, &err);
    CHECK(st == FR_OK && r.code == 200, "after a failed reload: %d %s", st, err.msg);
    CHECK(rename(saved, f_srv_crt) == 0, "cannot restore the certificate");
    fr_http_response_free(&r);
    fr_http_client_free(&c);
}

static void test_plain_and_config(void)
{
    fr_err err = {{0}};
    fr_https *s = NULL;
    struct event_base *base = event_base_new();
    fr_https_config bad = {.listen = "0.0.0.0:0"};
    CHECK(fr_https_init(&s, base, &bad, handle, NULL, &err) == FR_EINVAL &&
              strstr(err.msg, "loopback"),
          "plain HTTP off loopback: %s", err.msg);
    fr_https_config missing = {.listen = "127.0.0.1:0",
                               .tls = 1,
                               .cert = "/nonexistent.crt",
                               .key = f_srv_key,
                               .ca = f_ca,
                               .require_client_cert = 1};
    CHECK(fr_https_init(&s, base, &missing, handle, NULL, &err) == FR_EIO &&
              strstr(err.msg, "/nonexistent.crt"),
          "missing certificate: %s", err.msg);
    fr_https_config port = {.listen = "127.0.0.1:99999"};
    CHECK(fr_https_init(&s, base, &port, handle, NULL, &err) == FR_EINVAL, "bad port accepted");
    CHECK(s == NULL, "server left allocated");
    event_base_free(base);

    fr_http_client c;
    fr_http_client_config cc = {.base_url = "ftp://127.0.0.1/"};
    CHECK(fr_http_client_init(&c, &cc, &err) == FR_EINVAL, "ftp accepted");
    cc.base_url = "https://127.0.0.1:1";
    CHECK(fr_http_client_init(&c, &cc, &err) == FR_EINVAL, "https without a CA accepted");
    cc.ca = f_ca;
    cc.cert = f_node_crt;
    CHECK(fr_http_client_init(&c, &cc, &err) == FR_EINVAL, "certificate without key accepted");

    fr_https_config pcfg = {.listen = "127.0.0.1:0"};
    if (!start_server(&plain_srv, &pcfg)) {
        CHECK(0, "plain server did not start");
        return;
    }
    char url[64];
    fr_http_response r = {0};
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", fr_https_port(plain_srv.srv));
    fr_http_client_config pc = {.base_url = url};
    fr_status st = fr_http_client_init(&c, &pc, &err);
    CHECK(st == FR_OK, "%s", err.msg);
    st = fr_http_request(&c, "GET", "/whoami", NULL, 0, NULL, &r, &err);
    CHECK(st == FR_OK && r.code == 200 && r.body && strcmp((char *)r.body, "-\n") == 0,
          "plain whoami: %d %s", st, err.msg);
    fr_http_response_free(&r);
    fr_http_client_free(&c);
    stop_server(&plain_srv);
}

int main(void)
{
    if (!make_certs()) {
        fprintf(stderr, "cannot make the test certificates\n");
        fr_t_failed++;
        return fr_test_end();
    }
    fr_https_config cfg = {.listen = "127.0.0.1:0",
                           .tls = 1,
                           .cert = f_srv_crt,
                           .key = f_srv_key,
                           .ca = f_ca,
                           .require_client_cert = 1,
                           .max_body = 16 << 20,
                           .timeout_s = 10,
                           .conn_deadline_s = 10};
    if (start_server(&tls_srv, &cfg)) {
        RUN(test_get_whoami);
        RUN(test_post_and_keepalive);
        RUN(test_streaming_upload);
        RUN(test_progress);
        RUN(test_max_response);
        RUN(test_refusals);
        RUN(test_client_crl);
        RUN(test_setup_failure_closes);
        RUN(test_reload_keeps_old);
    } else {
        fprintf(stderr, "the TLS server did not start\n");
        fr_t_failed++;
    }
    stop_server(&tls_srv);
    RUN(test_plain_and_config);
    fixture_rm(dir);
    return fr_test_end();
}
