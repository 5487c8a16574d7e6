/* A slow-client load against a server on loopback, for tests/cli_limits.sh:
 *   tool_slowloris --port P [--raw N] [--tls M --cert C --key K --ca CA]
 *                  [--seconds S] [--gap-ms G]
 * opens M TLS connections with a client certificate (handshake done) that then
 * trickle a request header that never ends, one byte per G ms each, and N plain TCP
 * sockets that trickle the first bytes of a TLS ClientHello the same way. Nothing is
 * reopened. It ends after S seconds (at most 300) and prints, for each kind, how many
 * connected, how many the server closed and the longest time one stayed open:
 *   tls M connected C closed K longest_open_s T
 *   raw N connected C closed K longest_open_s T
 * Only 127.0.0.1 is ever targeted. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "util/fr_opts.h"

#define MAX_CONNS 5000

typedef struct slow {
    int fd;
    SSL *ssl;      /* NULL: a raw socket */
    int connected; /* TCP connected (and for TLS, the handshake done) */
    int closed;
    double opened, closed_at, next_send;
    size_t sent;
} slow;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int tcp_socket(int port, int blocking)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (!blocking)
        fcntl(fd, F_SETFL, O_NONBLOCK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The first bytes of a TLS ClientHello record; never completed. */
static const uint8_t hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03};
static const char header[] = "GET /v1/task HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";

/* One byte more; 1 when the server has closed the connection. */
static int trickle(slow *c)
{
    uint8_t b;
    if (c->ssl) {
        b = c->sent < sizeof header - 1 ? (uint8_t)header[c->sent] : 'a';
        int r = SSL_write(c->ssl, &b, 1);
        if (r <= 0) {
            int e = SSL_get_error(c->ssl, r);
            return e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE;
        }
    } else {
        b = c->sent < sizeof hello ? hello[c->sent] : 0;
        if (send(c->fd, &b, 1, MSG_NOSIGNAL) < 0)
            return errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN;
    }
    c->sent++;
    return 0;
}

/* Whether the server closed the connection (end of file or a reset). */
static int peer_closed(slow *c)
{
    uint8_t buf[4096];
    if (c->ssl) {
        int r = SSL_read(c->ssl, buf, sizeof buf);
        if (r > 0)
            return 0; /* an answer: the connection stays until closed */
        int e = SSL_get_error(c->ssl, r);
        return e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE;
    }
    ssize_t r = recv(c->fd, buf, sizeof buf, 0);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN);
}

static void report(const char *kind, const slow *cs, int n, double end)
{
    int connected = 0, closed = 0;
    double longest = 0;
    for (int i = 0; i < n; i++) {
        if (!cs[i].connected)
            continue;
        connected++;
        closed += cs[i].closed;
        double open = (cs[i].closed ? cs[i].closed_at : end) - cs[i].opened;
        if (open > longest)
            longest = open;
    }
    printf("%s %d connected %d closed %d longest_open_s %.1f\n", kind, n, connected, closed,
           longest);
}

int main(int argc, char **argv)
{
    int port = 0, raw = 0, tls = 0, seconds = 20, gap_ms = 1000;
    const char *cert = NULL, *key = NULL, *ca = NULL;
    fr_opt opts[] = {
        {"port", FR_OPT_INT, &port, 1, 65535, "port on 127.0.0.1", 0, 0},
        {"raw", FR_OPT_INT, &raw, 0, 4000, "plain sockets trickling a ClientHello", 0, 0},
        {"tls", FR_OPT_INT, &tls, 0, 1000, "TLS clients trickling a header", 0, 0},
        {"cert", FR_OPT_STR, &cert, 0, 0, "client certificate (PEM)", 0, 0},
        {"key", FR_OPT_STR, &key, 0, 0, "client key (PEM)", 0, 0},
        {"ca", FR_OPT_STR, &ca, 0, 0, "CA of the server (PEM)", 0, 0},
        {"seconds", FR_OPT_INT, &seconds, 1, 300, "how long the load lasts", 0, 0},
        {"gap-ms", FR_OPT_INT, &gap_ms, 10, 60000, "ms between a connection's bytes", 0, 0},
        {0},
    };
    fr_err err = {{0}};
    if (fr_opts_parse(opts, argc - 1, argv + 1, &err) != FR_OK || !port ||
        (tls && (!cert || !key || !ca))) {
        fprintf(stderr, "tool_slowloris: %s\n", err.msg[0] ? err.msg : "see the usage");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    slow *ts = calloc((size_t)tls + 1, sizeof *ts), *rs = calloc((size_t)raw + 1, sizeof *rs);
    struct pollfd *pfd = calloc((size_t)(tls + raw) + 1, sizeof *pfd);
    SSL_CTX *ctx = tls ? SSL_CTX_new(TLS_client_method()) : NULL;
    if (!ts || !rs || !pfd || (tls && !ctx)) {
        fprintf(stderr, "tool_slowloris: out of memory\n");
        return 1;
    }
    if (ctx && (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
                SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
                SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)) {
        fprintf(stderr, "tool_slowloris: cannot load %s, %s or %s\n", cert, key, ca);
        return 1;
    }
    if (ctx)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    double start = now_s(), end = start + seconds;
    for (int i = 0; i < tls && now_s() < end; i++) {
        slow *c = &ts[i];
        c->fd = tcp_socket(port, 1);
        if (c->fd < 0 || !(c->ssl = SSL_new(ctx)) || SSL_set_fd(c->ssl, c->fd) != 1)
            continue;
        struct timeval tv = {5, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (SSL_connect(c->ssl) != 1) {
            ERR_clear_error();
            continue;
        }
        fcntl(c->fd, F_SETFL, O_NONBLOCK);
        c->connected = 1;
        c->opened = now_s();
        c->next_send = c->opened;
    }
    for (int i = 0; i < raw; i++) {
        slow *c = &rs[i];
        c->fd = tcp_socket(port, 0);
        c->opened = now_s();
        c->next_send = c->opened + 0.2; /* after the connect completes */
    }
    while (now_s() < end) {
        int n = 0;
        for (int i = 0; i < tls + raw; i++) {
            slow *c = i < tls ? &ts[i] : &rs[i - tls];
            if (c->fd < 0 || c->closed || (i < tls && !c->connected))
                continue;
            pfd[n].fd = c->fd;
            pfd[n].events = POLLIN;
            n++;
        }
        if (poll(pfd, (nfds_t)n, 100) < 0 && errno != EINTR)
            break;
        double t = now_s();
        for (int i = 0; i < tls + raw; i++) {
            slow *c = i < tls ? &ts[i] : &rs[i - tls];
            if (c->fd < 0 || c->closed || (i < tls && !c->connected))
                continue;
            if (!c->ssl && !c->connected) {
                int e = 0;
                socklen_t el = sizeof e;
                struct sockaddr_in peer;
                socklen_t pl = sizeof peer;
                if (getpeername(c->fd, (struct sockaddr *)&peer, &pl) == 0)
                    c->connected = 1;
                else if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e &&
                         e != EINPROGRESS)
                    c->closed = 1;
                if (!c->connected)
                    continue;
            }
            int closed = peer_closed(c);
            if (!closed && t >= c->next_send) {
                closed = trickle(c);
                c->next_send = t + gap_ms / 1000.0;
            }
            if (closed) {
                c->closed = 1;
                c->closed_at = t;
            }
        }
    }
    double stop = now_s();
    report("tls", ts, tls, stop);
    report("raw", rs, raw, stop);
    for (int i = 0; i < tls; i++) {
        SSL_free(ts[i].ssl);
        if (ts[i].fd >= 0)
            close(ts[i].fd);
    }
    for (int i = 0; i < raw; i++)
        if (rs[i].fd >= 0)
            close(rs[i].fd);
    SSL_CTX_free(ctx);
    free(ts);
    free(rs);
    free(pfd);
    return 0;
}
