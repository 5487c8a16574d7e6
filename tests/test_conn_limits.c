/* The HTTPS server's pre-authentication limits without sockets (common/net/
 * fr_conn_limits.c), driven by a fake clock: the connection cap pauses accepting and
 * resumes only below it, a failing accept() backs off with a growing interval that
 * is capped, one line per episode and at most one a minute, the log bucket holds a
 * flood back and counts it, and the header scan finds the end of a header and its
 * Content-Length across any split of the bytes. */
#include <stdint.h>
#include <string.h>

#include "fr_test.h"
#include "net/fr_conn_limits.h"

static void test_cap_pauses_and_resumes(void)
{
    fr_conn_gate g;
    fr_conn_gate_init(&g, 3);
    CHECK(!fr_conn_gate_opened(&g) && !fr_conn_gate_opened(&g), "below the cap");
    CHECK(fr_conn_gate_opened(&g), "the third reaches the cap");
    int log;
    uint64_t quiet;
    double w = fr_conn_gate_pause(&g, 100, 0, &log, &quiet);
    CHECK(w > 0 && w <= 2 && log == 1 && quiet == 0, "pause %g log %d", w, log);
    CHECK(!fr_conn_gate_resume(&g), "still at the cap: keep waiting");
    w = fr_conn_gate_pause(&g, 100.1, 0, &log, &quiet);
    CHECK(!log, "the same episode logs once");
    fr_conn_gate_closed(&g);
    CHECK(fr_conn_gate_resume(&g) && !g.paused, "resumes below the cap");
    CHECK(g.open == 2 && g.episodes == 1, "open %d episodes %llu", g.open,
          (unsigned long long)g.episodes);
}

static void test_accept_failure_backs_off(void)
{
    fr_conn_gate g;
    fr_conn_gate_init(&g, 512);
    int log, lines = 0;
    uint64_t quiet, quiet_total = 0;
    double now = 0, last = 0, total = 0;
    /* accept() failing for 10 minutes of fake time, retried after each pause */
    int tries = 0;
    while (now < 600 && tries < 100000) {
        double w = fr_conn_gate_pause(&g, now, 1, &log, &quiet);
        lines += log;
        quiet_total += log ? quiet : 0;
        CHECK(w >= 0.1 && w <= 2.0, "pause %g", w);
        last = w;
        now += w;
        total += w;
        CHECK(fr_conn_gate_resume(&g), "below the cap: resumes");
        tries++;
    }
    CHECK(last == 2.0, "the pause grows to its cap of 2 s, got %g", last);
    CHECK(tries < 400, "%d retries in 600 s: no busy loop", tries);
    CHECK(lines >= 10 && lines <= 11, "%d log lines in 10 minutes (one a minute)", lines);
    CHECK(quiet_total > 0, "the episodes held back are counted");
}

static void test_log_gate(void)
{
    fr_log_gate g;
    uint64_t dropped;
    int let = 0;
    fr_log_gate_init(&g, 20, 1, 0);
    for (int i = 0; i < 1000; i++)
        let += fr_log_gate_take(&g, 0.001 * i, &dropped);
    CHECK(let == 20 || let == 21, "a burst of 1000 lets %d through", let);
    CHECK(fr_log_gate_take(&g, 10, &dropped) && dropped >= 979, "the next line counts %llu",
          (unsigned long long)dropped);
    CHECK(g.dropped == 0, "and the count restarts");
}

static size_t feed_split(fr_http_head *h, const char *s, size_t step)
{
    size_t n = strlen(s), used = 0;
    fr_http_head_init(h);
    for (size_t i = 0; i < n && !h->done; i += step) {
        size_t k = n - i < step ? n - i : step;
        used += fr_http_head_feed(h, (const uint8_t *)s + i, k);
    }
    return used;
}

static void test_head_scan(void)
{
    const char *req = "POST /v1/update HTTP/1.1\r\nHost: x\r\ncOnTeNt-LeNgTh:  12345\r\n"
                      "\r\nbody bytes";
    size_t head_len = strstr(req, "\r\n\r\n") - req + 4;
    for (size_t step = 1; step <= strlen(req); step++) {
        fr_http_head h;
        size_t used = feed_split(&h, req, step);
        CHECK(h.done && h.has_length && h.content_length == 12345, "step %zu: done %d length %llu",
              step, h.done, (unsigned long long)h.content_length);
        CHECK(used == head_len, "step %zu: used %zu of a %zu-byte header", step, used, head_len);
    }
    fr_http_head h;
    feed_split(&h, "GET / HTTP/1.1\nHost: x\n\n", 3);
    CHECK(h.done && !h.has_length && h.lines == 2, "bare LF, no length: done %d", h.done);
    feed_split(&h, "\r\n\r\nGET / HTTP/1.1\r\nX: y\r\n", 1);
    CHECK(!h.done, "leading empty lines do not end a header; an open one is not done");
    feed_split(&h, "PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999999999999\r\n\r\n", 7);
    CHECK(h.done && h.content_length == UINT64_MAX, "a huge length saturates: %llu",
          (unsigned long long)h.content_length);
    feed_split(&h, "PUT / HTTP/1.1\r\nContent-Length: 1000000000000\r\n\r\n", 5);
    CHECK(h.content_length == 1000000000000ull, "13 digits: %llu",
          (unsigned long long)h.content_length);
    feed_split(&h, "PUT / HTTP/1.1\r\nX-Content-Length: 5\r\n\r\n", 4);
    CHECK(h.done && !h.has_length, "another header's name is not the length");
}

int main(void)
{
    RUN(test_cap_pauses_and_resumes);
    RUN(test_accept_failure_backs_off);
    RUN(test_log_gate);
    RUN(test_head_scan);
    return fr_test_end();
}
