/* A small HTTPS server over fr_https for the shell tests of the TLS layer:
 *   tool_https_echo --listen 127.0.0.1:0 --cert C --key K --ca CA [--crl CRL]
 *                   [--max-body N] [--deadline S] [--header-deadline S]
 *                   [--max-conns N] [--timeout S] [--port-file F]
 * GET /whoami answers the client certificate's CN; POST /echo answers
 * "<body length> <FNV-1a 64 of the body in hex>". SIGHUP reloads the CRL, SIGTERM
 * stops it. Refusals are logged on stderr by the server itself. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "net/fr_https.h"
#include "util/fr_opts.h"

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void handle(struct evhttp_request *req, const char *peer, void *ctx)
{
    (void)ctx;
    const char *path = fr_https_path(req);
    int m = fr_https_method(req);
    if (m == FR_HTTPS_GET && path && strcmp(path, "/whoami") == 0) {
        fr_https_reply_text(req, 200, "%s", peer ? peer : "-");
    } else if (m == FR_HTTPS_POST && path && strcmp(path, "/echo") == 0) {
        size_t len;
        const uint8_t *body = fr_https_body(req, &len);
        fr_https_reply_text(req, 200, "%zu %016llx", len, (unsigned long long)fnv1a(body, len));
    } else {
        fr_https_reply_text(req, 404, "no such path: %s", path ? path : "?");
    }
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig, (void)what;
    fr_err err = {{0}};
    if (fr_https_reload_crl(arg, &err) != FR_OK)
        fprintf(stderr, "tool_https_echo: reload kept the old CRL: %s\n", err.msg);
    else
        fprintf(stderr, "tool_https_echo: CRL reloaded\n");
}

static void on_term(evutil_socket_t sig, short what, void *arg)
{
    (void)sig, (void)what;
    event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
    const char *listen = "127.0.0.1:0", *cert = NULL, *key = NULL, *ca = NULL, *crl = NULL,
               *port_file = NULL;
    uint64_t max_body = 0;
    int deadline = 0, header_deadline = 0, max_conns = 0, timeout = 0, plain = 0, rc = 1;
    fr_opt opts[] = {
        {"listen", FR_OPT_STR, &listen, 0, 0, "HOST:PORT (port 0: any free port)", 0, 0},
        {"cert", FR_OPT_STR, &cert, 0, 0, "server certificate (PEM)", 0, 0},
        {"key", FR_OPT_STR, &key, 0, 0, "server key (PEM)", 0, 0},
        {"ca", FR_OPT_STR, &ca, 0, 0, "CA of the client certificates (PEM)", 0, 0},
        {"crl", FR_OPT_STR, &crl, 0, 0, "CRL (PEM), reloaded on SIGHUP", 0, 0},
        {"max-body", FR_OPT_U64, &max_body, 0, 1e12, "largest request body", 0, 0},
        {"deadline", FR_OPT_INT, &deadline, 0, 86400, "per-request deadline, s", 0, 0},
        {"header-deadline", FR_OPT_INT, &header_deadline, 0, 86400,
         "handshake and header deadline, s", 0, 0},
        {"max-conns", FR_OPT_INT, &max_conns, 0, 100000, "open connections at most", 0, 0},
        {"timeout", FR_OPT_INT, &timeout, 0, 86400, "idle timeout, s", 0, 0},
        {"port-file", FR_OPT_STR, &port_file, 0, 0, "where to write the port", 0, 0},
        {"plain", FR_OPT_FLAG, &plain, 0, 0, "plain HTTP (loopback only)", 0, 0},
        {0},
    };
    fr_err err = {{0}};
    struct event_base *base = NULL;
    struct event *hup = NULL, *term = NULL;
    fr_https *s = NULL;
    if (fr_opts_parse(opts, argc - 1, argv + 1, &err) != FR_OK) {
        fprintf(stderr, "tool_https_echo: %s\n", err.msg);
        return 2;
    }
    fr_https_config cfg = {
        .listen = listen,
        .cert = cert,
        .key = key,
        .ca = ca,
        .crl = crl,
        .tls = !plain,
        .require_client_cert = !plain,
        .max_body = (size_t)max_body,
        .timeout_s = timeout,
        .conn_deadline_s = deadline,
        .header_deadline_s = header_deadline,
        .max_conns = max_conns,
    };
    if (!(base = event_base_new())) {
        fprintf(stderr, "tool_https_echo: cannot create an event base\n");
        goto out;
    }
    if (fr_https_init(&s, base, &cfg, handle, NULL, &err) != FR_OK) {
        fprintf(stderr, "tool_https_echo: %s\n", err.msg);
        goto out;
    }
    hup = evsignal_new(base, SIGHUP, on_hup, s);
    term = evsignal_new(base, SIGTERM, on_term, base);
    if (!hup || !term || event_add(hup, NULL) != 0 || event_add(term, NULL) != 0) {
        fprintf(stderr, "tool_https_echo: cannot watch signals\n");
        goto out;
    }
    if (port_file) {
        /* Written whole under a temporary name, so a reader never sees half of it. */
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%d\n", fr_https_port(s)) < 0 || fclose(f) != 0 ||
            rename(tmp, port_file) != 0) {
            fprintf(stderr, "tool_https_echo: %s: cannot write the port\n", port_file);
            goto out;
        }
    } else {
        printf("%d\n", fr_https_port(s));
        fflush(stdout);
    }
    event_base_dispatch(base);
    rc = 0;
out:
    if (hup)
        event_free(hup);
    if (term)
        event_free(term);
    fr_https_free(s);
    if (base)
        event_base_free(base);
    return rc;
}
