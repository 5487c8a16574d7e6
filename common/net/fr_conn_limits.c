/* The server's pre-authentication limits (see fr_conn_limits.h): a connection cap with
 * accept back-off, a token bucket over log lines, and the scan of a request header. */
#include "net/fr_conn_limits.h"

#include <ctype.h>
#include <string.h>

#define BACKOFF_MIN_S 0.1
#define BACKOFF_MAX_S 2.0
#define LOG_INTERVAL_S 60.0

void fr_conn_gate_init(fr_conn_gate *g, int max_open)
{
    memset(g, 0, sizeof *g);
    g->max_open = max_open > 0 ? max_open : 1;
    g->backoff_s = BACKOFF_MIN_S;
    g->next_log = -1e300;
}

int fr_conn_gate_opened(fr_conn_gate *g)
{
    g->open++;
    g->backoff_s = BACKOFF_MIN_S; /* accept() works again */
    return g->open >= g->max_open;
}

void fr_conn_gate_closed(fr_conn_gate *g)
{
    if (g->open > 0)
        g->open--;
}

double fr_conn_gate_pause(fr_conn_gate *g, double now, int failed, int *log, uint64_t *quiet)
{
    double wait = g->backoff_s;
    *log = 0;
    *quiet = 0;
    if (failed) {
        g->backoff_s *= 2;
        if (g->backoff_s > BACKOFF_MAX_S)
            g->backoff_s = BACKOFF_MAX_S;
    }
    if (g->paused)
        return wait; /* still the same episode */
    g->paused = 1;
    g->episodes++;
    if (now >= g->next_log) {
        *log = 1;
        *quiet = g->episodes_quiet;
        g->episodes_quiet = 0;
        g->next_log = now + LOG_INTERVAL_S;
    } else {
        g->episodes_quiet++;
    }
    return wait;
}

int fr_conn_gate_resume(fr_conn_gate *g)
{
    if (g->open >= g->max_open)
        return 0;
    g->paused = 0;
    return 1;
}

void fr_log_gate_init(fr_log_gate *g, double burst, double per_s, double now)
{
    g->tokens = g->burst = burst;
    g->per_s = per_s;
    g->last = now;
    g->dropped = 0;
}

int fr_log_gate_take(fr_log_gate *g, double now, uint64_t *dropped)
{
    *dropped = 0;
    if (now > g->last) {
        g->tokens += (now - g->last) * g->per_s;
        if (g->tokens > g->burst)
            g->tokens = g->burst;
        g->last = now;
    }
    if (g->tokens < 1) {
        g->dropped++;
        return 0;
    }
    g->tokens -= 1;
    *dropped = g->dropped;
    g->dropped = 0;
    return 1;
}

void fr_http_head_init(fr_http_head *h)
{
    memset(h, 0, sizeof *h);
}

static void end_line(fr_http_head *h)
{
    static const char key[] = "content-length:";
    size_t klen = sizeof key - 1,
           kept = h->line_len < sizeof h->line ? h->line_len : sizeof h->line;
    h->lines++;
    if (kept < klen)
        return;
    for (size_t i = 0; i < klen; i++)
        if (tolower((unsigned char)h->line[i]) != key[i])
            return;
    /* the value: digits after optional blanks; what evhttp makes of a malformed one is
     * its own refusal, here it only decides the deadline */
    uint64_t v = 0;
    int digits = 0;
    size_t i = klen;
    for (; i < kept; i++) {
        char c = h->line[i];
        if ((c == ' ' || c == '\t') && !digits)
            continue;
        if (c < '0' || c > '9')
            break;
        digits++;
        v = v > (UINT64_MAX - 9) / 10 ? UINT64_MAX : v * 10 + (uint64_t)(c - '0');
    }
    /* digits running past the kept bytes: a value at least that large */
    if (digits && i == kept && h->line_len > kept)
        v = UINT64_MAX;
    if (digits) {
        h->has_length = 1;
        h->content_length = v;
    }
}

size_t fr_http_head_feed(fr_http_head *h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (h->done)
            return i;
        uint8_t b = p[i];
        if (b == '\r')
            continue;
        if (b == '\n') {
            if (h->line_len == 0) {
                if (h->lines > 0)
                    h->done = 1;
                continue;
            }
            end_line(h);
            h->line_len = 0;
            continue;
        }
        if (h->line_len < sizeof h->line)
            h->line[h->line_len] = (char)b;
        h->line_len++;
    }
    return n;
}
