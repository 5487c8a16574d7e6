/* The recall service's routing and its side of the loop: each request sent to its
 * endpoint (fr_serve_recall.c, fr_serve_events.c) or answered here (health, metrics),
 * and the wake-ups through which the scoring threads and the behaviour log's writer
 * hand back finished work (docs/recall.md, "The recall service").
 *
 * Every request is checked on the loop thread before it costs anything: a bad one
 * gets 400 with {"error": reason}, a recall that finds the queue full gets 503 at
 * once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/http.h>
#include <sodium.h>

#include "net/fr_https.h"
#include "fr_serve_job.h"

void fr_serve_wake(fr_serve *s)
{
    uint64_t one = 1;
    ssize_t rc;
    do
        rc = write(s->wake_fd, &one, sizeof one);
    while (rc < 0 && errno == EINTR);
}

void fr_serve_on_wake(fr_serve *s)
{
    uint64_t v;
    ssize_t rc = read(s->wake_fd, &v, sizeof v);
    (void)rc; /* nonblocking: EAGAIN when another wake already drained it */
    pthread_mutex_lock(&s->mu);
    fr_serve_job *done = s->done_head;
    s->done_head = NULL;
    pthread_mutex_unlock(&s->mu);
    while (done) {
        fr_serve_job *next = done->next;
        fr_serve_job_reply(s, done);
        done = next;
    }
    fr_serve_finish_events(s);
    fr_serve_follow_catalogue(s);
}

void fr_serve_drop_jobs(fr_serve *s)
{
    fr_serve_job *lists[3] = {s->q_head, s->done_head, s->wait_head};
    for (int i = 0; i < 3; i++)
        while (lists[i]) {
            fr_serve_job *next = lists[i]->next;
            fr_serve_job_free(lists[i]);
            lists[i] = next;
        }
    s->q_head = s->q_tail = s->done_head = s->wait_head = s->wait_tail = NULL;
    s->q_len = 0;
}

static void health(fr_serve *s, struct evhttp_request *req, const struct timespec *t0)
{
    fr_jbuf b = {0};
    fr_serve_model *m = fr_serve_slot_get(&s->slot);
    fr_jbuf_printf(&b, "{\"status\":\"ok\",");
    fr_serve_put_model(&b, m);
    fr_jbuf_printf(&b, ",\"users\":%d,\"items\":%d,\"catalogue_items\":%d,\"events_log\":%s}\n",
                   s->ds.num_users, s->ds.num_items - 1, s->cat->model.cfg.num_items - 1,
                   s->have_log ? "true" : "false");
    fr_serve_model_unref(m);
    if (b.failed)
        fr_serve_reply_error(s, req, FR_EP_HEALTH, t0, 500, "out of memory");
    else {
        fr_https_reply(req, 200, "application/json", b.p, b.len);
        fr_serve_metrics_note(&s->metrics, FR_EP_HEALTH, 200, fr_serve_since(t0));
    }
    free(b.p);
}

static void metrics(fr_serve *s, struct evhttp_request *req, const struct timespec *t0)
{
    size_t len = 0;
    /* this request counts in the text it returns */
    fr_serve_metrics_note(&s->metrics, FR_EP_METRICS, 200, fr_serve_since(t0));
    char *text = fr_serve_metrics_text(s, &len);
    if (!text) {
        fr_https_reply(req, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    fr_https_reply_ref(req, 200, "text/plain; version=0.0.4", text, len, fr_serve_free_body, NULL);
}

/* Whether the request carries "Authorization: Bearer TOKEN" with the configured token.
 * The token is compared through its hash, in constant time, so neither its bytes nor
 * its length show in the timing. */
static int token_ok(const fr_serve *s, struct evhttp_request *req)
{
    static const char scheme[] = "Bearer ";
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    unsigned char got[32];
    if (!h || strncmp(h, scheme, sizeof scheme - 1) != 0)
        return 0;
    h += sizeof scheme - 1;
    crypto_generichash(got, sizeof got, (const unsigned char *)h, strlen(h), NULL, 0);
    int ok = sodium_memcmp(got, s->token_hash, sizeof got) == 0;
    sodium_memzero(got, sizeof got);
    return ok;
}

void fr_serve_handle(struct evhttp_request *req, const char *peer, void *ctx)
{
    fr_serve *s = ctx;
    struct timespec t0;
    (void)peer;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (s->have_token && !token_ok(s, req)) {
        fr_https_add_header(req, "WWW-Authenticate", "Bearer");
        fr_serve_reply_error(s, req, FR_EP_OTHER, &t0, 401,
                             "an Authorization: Bearer header with the service's token is "
                             "required");
        return;
    }
    const char *path = fr_https_path(req);
    int method = fr_https_method(req);
    if (!path)
        path = "";
    if (!strcmp(path, "/v1/recall")) {
        if (method == FR_HTTPS_GET)
            fr_serve_recall_get(s, req, &t0);
        else
            fr_serve_recall_post(s, req, &t0);
    } else if (!strcmp(path, "/v1/events")) {
        if (method == FR_HTTPS_POST)
            fr_serve_events_post(s, req, &t0);
        else
            fr_serve_reply_error(s, req, FR_EP_EVENTS, &t0, 405, "events are POSTed");
    } else if (!strcmp(path, "/v1/health")) {
        if (method == FR_HTTPS_GET)
            health(s, req, &t0);
        else
            fr_serve_reply_error(s, req, FR_EP_HEALTH, &t0, 405, "GET /v1/health");
    } else if (!strcmp(path, "/metrics")) {
        if (method == FR_HTTPS_GET)
            metrics(s, req, &t0);
        else
            fr_serve_reply_error(s, req, FR_EP_METRICS, &t0, 405, "GET /metrics");
    } else {
        fr_serve_reply_error(s, req, FR_EP_OTHER, &t0, 404,
                             "no such endpoint (GET /v1/recall, POST /v1/recall, POST /v1/events, "
                             "GET /v1/health, GET /metrics)");
    }
}
