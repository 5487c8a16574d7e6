/* The limits the HTTPS server keeps before a peer is authenticated, as logic without
 * sockets so that tests drive it with a fake clock (seconds, any monotonic origin):
 *
 * - fr_conn_gate: a cap on open connections and the back-off of the accept loop. When
 *   the cap is reached, or accept() fails (the file-descriptor limit), the server stops
 *   accepting for a short interval instead of spinning on a listener that stays
 *   readable, and logs one line per episode (and at most one per log_interval_s).
 * - fr_log_gate: a token bucket over log lines, so that a flood of refused connections
 *   cannot flood the log; what it holds back is counted and reported in the next line.
 * - fr_http_head: a streaming scan of a request's bytes that tells where its header
 *   ends and the Content-Length it declared, so that the server can switch from the
 *   short header deadline to the body's and refuse an oversized body at once. */
#ifndef FR_CONN_LIMITS_H
#define FR_CONN_LIMITS_H

#include <stddef.h>
#include <stdint.h>

typedef struct fr_conn_gate {
    int max_open;            /* the cap (> 0) */
    int open;                /* connections open now */
    int paused;              /* accepting stopped until fr_conn_gate_resume says otherwise */
    double backoff_s;        /* the next pause: 0.1 s, doubling per failed accept to 2 s,
                              * back to 0.1 s once a connection is accepted */
    double next_log;         /* no episode line before this time */
    uint64_t episodes;       /* pauses so far */
    uint64_t episodes_quiet; /* pauses not logged since the last line */
} fr_conn_gate;

void fr_conn_gate_init(fr_conn_gate *g, int max_open);

/* A connection was accepted (and accept() works: the back-off starts again from its
 * shortest). 1: the cap is reached, the caller pauses accepting (fr_conn_gate_pause). */
int fr_conn_gate_opened(fr_conn_gate *g);

/* A connection closed. */
void fr_conn_gate_closed(fr_conn_gate *g);

/* Accepting pauses at now (the cap is reached, or accept() failed: failed = 1).
 * Returns the seconds to wait before fr_conn_gate_resume; *log is 1 when this episode
 * gets its log line, *quiet then the episodes not logged before it. */
double fr_conn_gate_pause(fr_conn_gate *g, double now, int failed, int *log, uint64_t *quiet);

/* The pause ended: 1 when accepting resumes (below the cap), 0 when the caller waits
 * again (backoff_s, without a new episode). */
int fr_conn_gate_resume(fr_conn_gate *g);

typedef struct fr_log_gate {
    double tokens, burst, per_s, last;
    uint64_t dropped; /* lines held back since the last one let through */
} fr_log_gate;

/* burst lines at once, then per_s lines a second. */
void fr_log_gate_init(fr_log_gate *g, double burst, double per_s, double now);

/* 1: log the line (and *dropped, the lines held back before it); 0: hold it back. */
int fr_log_gate_take(fr_log_gate *g, double now, uint64_t *dropped);

typedef struct fr_http_head {
    int done;                /* the blank line ending the header was seen */
    int has_length;          /* a Content-Length line was seen */
    uint64_t content_length; /* its value (saturated at UINT64_MAX) */
    size_t lines;            /* header lines seen, request line included */
    size_t line_len;         /* bytes of the current line so far (CR not counted) */
    char line[48];           /* its start: "content-length:" and 20 digits */
} fr_http_head;

void fr_http_head_init(fr_http_head *h);

/* Feeds n bytes of the request. Returns the bytes used, up to and including the end
 * of the header (n while it has not ended). Empty lines before the request line are
 * skipped, as HTTP allows. */
size_t fr_http_head_feed(fr_http_head *h, const uint8_t *p, size_t n);

#endif
