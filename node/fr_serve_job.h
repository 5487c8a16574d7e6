/* The recall service's internals shared by its files (fr_serve_job.c, fr_serve_recall.c,
 * fr_serve_worker.c, fr_serve_events.c, fr_serve_http.c): the job a request becomes on
 * its way from the loop to a scoring thread or the behaviour log and back, and the
 * helpers every endpoint replies through. Not for use outside the service. */
#ifndef FR_SERVE_JOB_H
#define FR_SERVE_JOB_H

#include <jansson.h>

#include "fr_serve.h"

#define FR_SERVE_MAX_ID 256   /* bytes of a user or item id */
#define FR_SERVE_MAX_EVENT 64 /* bytes of an event name */
/* the window of a posted event's timestamp: 1995-01-01T00:00:00Z to a day ahead */
#define FR_SERVE_MIN_TIMESTAMP 788918400
#define FR_SERVE_MAX_AHEAD_S 86400

struct fr_serve_job {
    fr_serve_job *next;
    struct evhttp_request *req;
    int endpoint;
    struct timespec t0;
    int code;
    fr_jbuf out;
    /* recall */
    int n;
    fr_serve_query *q;
    char **ids;  /* n: the ids as the client wrote them */
    char **keys; /* n: the users' keys (the data's spelling when it holds them) */
    /* events */
    uint64_t ticket;
    int n_events, n_unknown;
    char **ev_keys;
    int32_t *ev_items;
};

/* Seconds since t0 (CLOCK_MONOTONIC). */
double fr_serve_since(const struct timespec *t0);
/* A new job for a request of endpoint that arrived at t0, code 200; NULL when out of
 * memory. */
fr_serve_job *fr_serve_job_new(int endpoint, struct evhttp_request *req, const struct timespec *t0);
/* Frees j and everything it holds; no operation when j is NULL. */
void fr_serve_job_free(fr_serve_job *j);
/* Send j's reply (its out buffer) and count it; frees j. */
void fr_serve_job_reply(fr_serve *s, fr_serve_job *j);
/* Reply {"error": the formatted message} with code and count it. */
void fr_serve_reply_error(fr_serve *s, struct evhttp_request *req, int endpoint,
                          const struct timespec *t0, int code, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Frees a reply body handed to fr_https_reply_ref. */
void fr_serve_free_body(const void *body, size_t len, void *arg);

/* id when it is 1..FR_SERVE_MAX_ID bytes without control characters, else NULL with
 * the reason in why. */
const char *fr_serve_check_id(const char *id, const char *what, char *why, size_t cap);
/* A JSON id: a string, or an integer written in decimal into buf. */
const char *fr_serve_json_id(json_t *v, char *buf, size_t bufcap, const char *what, char *why,
                             size_t cap);
/* The key under which a user's newer events are kept; returns a malloced string, or
 * NULL when out of memory. row: the user's row in the data, or -1. */
char *fr_serve_user_key(const fr_serve *s, const char *id, int32_t *row);
/* "model":{"generation":G,"version":V} of the model m (may be NULL). */
void fr_serve_put_model(fr_jbuf *b, const fr_serve_model *m);

/* The endpoints (fr_serve_recall.c, fr_serve_events.c). */
void fr_serve_recall_get(fr_serve *s, struct evhttp_request *req, const struct timespec *t0);
void fr_serve_recall_post(fr_serve *s, struct evhttp_request *req, const struct timespec *t0);
void fr_serve_events_post(fr_serve *s, struct evhttp_request *req, const struct timespec *t0);
/* Events whose sync has come join their users' histories, then are acknowledged (loop
 * thread). */
void fr_serve_finish_events(fr_serve *s);

#endif
