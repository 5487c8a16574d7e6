/* The recall service's requests as jobs: the job a request becomes, its reply and the
 * error reply, and the checks of the ids a client sends, shared by the recall and events
 * endpoints (fr_serve_recall.c, fr_serve_events.c), the scoring threads
 * (fr_serve_worker.c) and the loop (fr_serve_http.c). Every reply goes through
 * fr_serve_job_reply or fr_serve_reply_error, so that every one is counted in the
 * metrics. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/http.h>
#include <jansson.h>

#include "net/fr_https.h"
#include "fr_serve_job.h"

double fr_serve_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + 1e-9 * (double)(t.tv_nsec - t0->tv_nsec);
}

static void free_strs(char **v, int n)
{
    for (int i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

void fr_serve_job_free(fr_serve_job *j)
{
    if (!j)
        return;
    free(j->q);
    free_strs(j->ids, j->n);
    free_strs(j->keys, j->n);
    free_strs(j->ev_keys, j->n_events);
    free(j->ev_items);
    free(j->out.p);
    free(j);
}

void fr_serve_free_body(const void *body, size_t len, void *arg)
{
    (void)len, (void)arg;
    free((void *)body);
}

/* Send j's reply (its out buffer) and count it; frees j. */
void fr_serve_job_reply(fr_serve *s, fr_serve_job *j)
{
    if (j->out.failed) {
        j->code = 500;
        j->out.len = 0;
    }
    if (j->code == 503)
        fr_https_add_header(j->req, "Retry-After", "1");
    if (j->out.len) {
        fr_https_reply_ref(j->req, j->code, "application/json", j->out.p, j->out.len,
                           fr_serve_free_body, NULL);
        j->out.p = NULL;
    } else {
        fr_https_reply(j->req, j->code, "application/json", "{\"error\":\"out of memory\"}\n", 26);
    }
    fr_serve_metrics_note(&s->metrics, j->endpoint, j->code, fr_serve_since(&j->t0));
    fr_serve_job_free(j);
}

void fr_serve_reply_error(fr_serve *s, struct evhttp_request *req, int endpoint,
                          const struct timespec *t0, int code, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fr_jbuf b = {0};
    fr_jbuf_printf(&b, "{\"error\":");
    fr_jbuf_str(&b, msg);
    fr_jbuf_printf(&b, "}\n");
    if (code == 503)
        fr_https_add_header(req, "Retry-After", "1");
    if (b.failed)
        fr_https_reply(req, 500, "application/json", "{\"error\":\"out of memory\"}\n", 26);
    else
        fr_https_reply(req, code, "application/json", b.p, b.len);
    free(b.p);
    fr_serve_metrics_note(&s->metrics, endpoint, code, fr_serve_since(t0));
}

/* An id a client sent: 1..MAX_ID bytes of UTF-8 without control characters (JSON
 * strings are valid UTF-8 already; a query string is checked here). */
const char *fr_serve_check_id(const char *id, const char *what, char *why, size_t cap)
{
    size_t n = strlen(id);
    if (n == 0 || n > FR_SERVE_MAX_ID) {
        snprintf(why, cap, "%s id must have 1 to %d bytes", what, FR_SERVE_MAX_ID);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f) {
            snprintf(why, cap, "%s id holds a control character", what);
            return NULL;
        }
        size_t k = fr_serve_utf8_len((const unsigned char *)id + i);
        if (!k) {
            snprintf(why, cap, "%s id is not valid UTF-8 (byte %zu)", what, i + 1);
            return NULL;
        }
        i += k - 1;
    }
    return id;
}

/* A JSON id: a string, or an integer written in decimal. */
const char *fr_serve_json_id(json_t *v, char *buf, size_t bufcap, const char *what, char *why,
                             size_t cap)
{
    if (json_is_integer(v)) {
        snprintf(buf, bufcap, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    if (!json_is_string(v)) {
        snprintf(why, cap, "%s must be a string or an integer", what);
        return NULL;
    }
    return fr_serve_check_id(json_string_value(v), what, why, cap);
}

/* The key under which a user's newer events are kept: the data's own spelling of the
 * id when the data holds the user (so "042" and "42" are one numeric user). */
char *fr_serve_user_key(const fr_serve *s, const char *id, int32_t *row)
{
    *row = fr_dataset_find_user(&s->ds, id);
    return strdup(*row >= 0 ? s->ds.user_keys[*row] : id);
}

fr_serve_job *fr_serve_job_new(int endpoint, struct evhttp_request *req, const struct timespec *t0)
{
    fr_serve_job *j = calloc(1, sizeof *j);
    if (j) {
        j->req = req;
        j->endpoint = endpoint;
        j->t0 = *t0;
        j->code = 200;
    }
    return j;
}

void fr_serve_put_model(fr_jbuf *b, const fr_serve_model *m)
{
    fr_jbuf_printf(b, "\"model\":{\"generation\":%ld,\"version\":", m ? m->generation : 0);
    if (m && m->version >= 0)
        fr_jbuf_printf(b, "%ld}", m->version);
    else
        fr_jbuf_printf(b, "null}");
}
