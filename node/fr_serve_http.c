/* The recall service's endpoints (docs/recall.md, "The recall service"), the queue
 * between the event loop and the scoring threads, and the replies.
 *
 * Every request is checked on the loop thread before it costs anything: a bad one
 * gets 400 with {"error": reason}, a recall that finds the queue full gets 503 at
 * once. Recall requests then wait in the queue; a scoring thread takes as many as make
 * up batch_users users, scores them together and hands the finished replies back.
 * Posted events are written to the behaviour log; their reply waits for the sync
 * that puts them on disk, and only then do they join the users' histories. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "net/fr_https.h"
#include "fr_serve.h"

#define MAX_ID 256    /* bytes of a user or item id */
#define MAX_EVENT 64  /* bytes of an event name */

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

static double since(const struct timespec *t0)
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

static void job_free(fr_serve_job *j)
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

static void free_body(const void *body, size_t len, void *arg)
{
    (void)len, (void)arg;
    free((void *)body);
}

/* Send j's reply (its out buffer) and count it; frees j. */
static void job_reply(fr_serve *s, fr_serve_job *j)
{
    if (j->out.failed) {
        j->code = 500;
        j->out.len = 0;
    }
    if (j->code == 503)
        fr_https_add_header(j->req, "Retry-After", "1");
    if (j->out.len) {
        fr_https_reply_ref(j->req, j->code, "application/json", j->out.p, j->out.len, free_body,
                           NULL);
        j->out.p = NULL;
    } else {
        fr_https_reply(j->req, j->code, "application/json", "{\"error\":\"out of memory\"}\n",
                       26);
    }
    fr_serve_metrics_note(&s->metrics, j->endpoint, j->code, since(&j->t0));
    job_free(j);
}

static void reply_error(fr_serve *s, struct evhttp_request *req, int endpoint,
                        const struct timespec *t0, int code, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void reply_error(fr_serve *s, struct evhttp_request *req, int endpoint,
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
    fr_serve_metrics_note(&s->metrics, endpoint, code, since(t0));
}

/* An id a client sent: 1..MAX_ID bytes without control characters (JSON strings are
 * valid UTF-8 already; a query string is checked here). */
static const char *check_id(const char *id, const char *what, char *why, size_t cap)
{
    size_t n = strlen(id);
    if (n == 0 || n > MAX_ID) {
        snprintf(why, cap, "%s id must have 1 to %d bytes", what, MAX_ID);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f) {
            snprintf(why, cap, "%s id holds a control character", what);
            return NULL;
        }
    return id;
}

/* A JSON id: a string, or an integer written in decimal. */
static const char *json_id(json_t *v, char *buf, size_t bufcap, const char *what, char *why,
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
    return check_id(json_string_value(v), what, why, cap);
}

/* The key under which a user's newer events are kept: the data's own spelling of the
 * id when the data holds the user (so "042" and "42" are one numeric user). */
static char *user_key(const fr_serve *s, const char *id, int32_t *row)
{
    *row = fr_dataset_find_user(&s->ds, id);
    return strdup(*row >= 0 ? s->ds.user_keys[*row] : id);
}

/* -------------------------------------------------------------------- recall */

typedef struct recall_params {
    int k;
    fr_recall_strategy strategy;
    int use_threshold;
    float threshold;
    int exact;  /* exact search even with an index */
    int nprobe; /* the index's lists to read; 0: the server's setting */
} recall_params;

static int parse_k(const fr_serve *s, const char *v, int *k, char *why, size_t cap)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < 1 || x > s->cfg.k_max) {
        snprintf(why, cap, "k must be an integer from 1 to %d", s->cfg.k_max);
        return -1;
    }
    *k = (int)x;
    return 0;
}

/* The search options of a request: exact "0" or "1", nprobe a count of lists. */
static int parse_search(const char *exact, const char *nprobe, recall_params *p, char *why,
                        size_t cap)
{
    p->exact = 0;
    p->nprobe = 0;
    if (exact) {
        if (strcmp(exact, "0") != 0 && strcmp(exact, "1") != 0) {
            snprintf(why, cap, "exact must be 0 or 1");
            return -1;
        }
        p->exact = exact[0] == '1';
    }
    if (nprobe) {
        char *end;
        errno = 0;
        long x = strtol(nprobe, &end, 10);
        if (errno || end == nprobe || *end || x < 1 || x > (1L << 20)) {
            snprintf(why, cap, "nprobe must be an integer from 1 to %ld", 1L << 20);
            return -1;
        }
        p->nprobe = (int)x;
    }
    return 0;
}

static int parse_params(const fr_serve *s, const char *k, const char *strategy,
                        const char *threshold, const char *exact, const char *nprobe,
                        recall_params *p, char *why, size_t cap)
{
    fr_err e;
    p->k = s->cfg.k_default;
    p->strategy = FR_RECALL_MODEL;
    p->use_threshold = 0;
    p->threshold = 0;
    if (k && parse_k(s, k, &p->k, why, cap) != 0)
        return -1;
    if (parse_search(exact, nprobe, p, why, cap) != 0)
        return -1;
    if (strategy && fr_recall_strategy_parse(strategy, &p->strategy, &e) != FR_OK) {
        snprintf(why, cap, "strategy must be model, itemcf, popular or mix");
        return -1;
    }
    if (threshold) {
        char *end;
        errno = 0;
        double t = strtod(threshold, &end);
        if (errno || end == threshold || *end || !isfinite(t) || fabs(t) > 1e30) {
            snprintf(why, cap, "threshold must be a finite number");
            return -1;
        }
        if (p->strategy == FR_RECALL_MIX) {
            snprintf(why, cap, "threshold needs a single strategy (mix's channels score on "
                               "different scales)");
            return -1;
        }
        p->use_threshold = 1;
        p->threshold = (float)t;
    }
    return 0;
}

static fr_serve_job *new_job(int endpoint, struct evhttp_request *req,
                             const struct timespec *t0)
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

static int job_users(fr_serve_job *j, int n)
{
    j->q = calloc((size_t)n, sizeof *j->q);
    j->ids = calloc((size_t)n, sizeof *j->ids);
    j->keys = calloc((size_t)n, sizeof *j->keys);
    return j->q && j->ids && j->keys ? 0 : -1;
}

static int job_add_user(fr_serve *s, fr_serve_job *j, const char *id, const recall_params *p)
{
    fr_serve_query *q = &j->q[j->n];
    if (!(j->ids[j->n] = strdup(id)) || !(j->keys[j->n] = user_key(s, id, &q->user))) {
        j->n++; /* freed with the job */
        return -1;
    }
    q->strategy = p->strategy;
    q->k = p->k;
    q->use_threshold = p->use_threshold;
    q->threshold = p->threshold;
    q->exact = p->exact;
    q->nprobe = p->nprobe;
    j->n++;
    return 0;
}

/* Queue a recall job, or answer 503 when the queue is full. */
static void enqueue(fr_serve *s, fr_serve_job *j)
{
    pthread_mutex_lock(&s->mu);
    if (s->q_len >= s->cfg.max_queue) {
        pthread_mutex_unlock(&s->mu);
        reply_error(s, j->req, j->endpoint, &j->t0, 503, "overloaded: %d requests waiting",
                    s->cfg.max_queue);
        job_free(j);
        return;
    }
    if (s->q_tail)
        s->q_tail->next = j;
    else
        s->q_head = j;
    s->q_tail = j;
    s->q_len++;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void recall_get(fr_serve *s, struct evhttp_request *req, const struct timespec *t0)
{
    char why[200];
    struct evkeyvalq kv = {0};
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    fr_serve_job *j = NULL;
    recall_params p;
    if (!query || evhttp_parse_query_str(query, &kv) != 0) {
        reply_error(s, req, FR_EP_RECALL, t0, 400, "a query string with user=ID is required");
        goto out;
    }
    const char *user = evhttp_find_header(&kv, "user");
    if (!user) {
        reply_error(s, req, FR_EP_RECALL, t0, 400, "user=ID is required");
        goto out;
    }
    if (!check_id(user, "user", why, sizeof why) ||
        parse_params(s, evhttp_find_header(&kv, "k"), evhttp_find_header(&kv, "strategy"),
                     evhttp_find_header(&kv, "threshold"), evhttp_find_header(&kv, "exact"),
                     evhttp_find_header(&kv, "nprobe"), &p, why, sizeof why) != 0) {
        reply_error(s, req, FR_EP_RECALL, t0, 400, "%s", why);
        goto out;
    }
    if (!(j = new_job(FR_EP_RECALL, req, t0)) || job_users(j, 1) != 0 ||
        job_add_user(s, j, user, &p) != 0) {
        reply_error(s, req, FR_EP_RECALL, t0, 500, "out of memory");
        job_free(j);
        goto out;
    }
    enqueue(s, j);
out:
    evhttp_clear_headers(&kv);
}

/* {"users": [ID, ...], "k": K, "strategy": S, "threshold": T, "exact": B, "nprobe": N},
 * all but users optional. */
static void recall_post(fr_serve *s, struct evhttp_request *req, const struct timespec *t0)
{
    char why[200], num[32], kbuf[24], tbuf[40], nbuf[24];
    size_t len;
    const uint8_t *body = fr_https_body(req, &len);
    json_error_t e;
    json_t *doc = body ? json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &e) : NULL;
    fr_serve_job *j = NULL;
    recall_params p;
    if (!doc || !json_is_object(doc)) {
        reply_error(s, req, FR_EP_RECALL_BATCH, t0, 400, "the body must be a JSON object%s%s",
                    doc ? "" : ": ", doc ? "" : (body ? e.text : "empty body"));
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
    {
        if (strcmp(key, "users") && strcmp(key, "k") && strcmp(key, "strategy") &&
            strcmp(key, "threshold") && strcmp(key, "exact") && strcmp(key, "nprobe")) {
            reply_error(s, req, FR_EP_RECALL_BATCH, t0, 400, "unknown field '%.40s'", key);
            goto out;
        }
    }
    json_t *users = json_object_get(doc, "users"), *k = json_object_get(doc, "k"),
           *strategy = json_object_get(doc, "strategy"),
           *threshold = json_object_get(doc, "threshold"),
           *exact = json_object_get(doc, "exact"), *nprobe = json_object_get(doc, "nprobe");
    size_t n = json_array_size(users);
    if (!json_is_array(users) || n == 0 || n > (size_t)s->cfg.max_users) {
        reply_error(s, req, FR_EP_RECALL_BATCH, t0, 400, "users must be an array of 1 to %d ids",
                    s->cfg.max_users);
        goto out;
    }
    if ((k && !json_is_integer(k)) || (strategy && !json_is_string(strategy)) ||
        (threshold && !json_is_number(threshold)) || (exact && !json_is_boolean(exact)) ||
        (nprobe && !json_is_integer(nprobe))) {
        reply_error(s, req, FR_EP_RECALL_BATCH, t0, 400,
                    "k must be an integer, strategy a string, threshold a number, exact a "
                    "boolean, nprobe an integer");
        goto out;
    }
    if (k)
        snprintf(kbuf, sizeof kbuf, "%lld", (long long)json_integer_value(k));
    if (threshold)
        snprintf(tbuf, sizeof tbuf, "%.9g", json_number_value(threshold));
    if (nprobe)
        snprintf(nbuf, sizeof nbuf, "%lld", (long long)json_integer_value(nprobe));
    if (parse_params(s, k ? kbuf : NULL, strategy ? json_string_value(strategy) : NULL,
                     threshold ? tbuf : NULL, exact ? (json_is_true(exact) ? "1" : "0") : NULL,
                     nprobe ? nbuf : NULL, &p, why, sizeof why) != 0) {
        reply_error(s, req, FR_EP_RECALL_BATCH, t0, 400, "%s", why);
        goto out;
    }
    if (!(j = new_job(FR_EP_RECALL_BATCH, req, t0)) || job_users(j, (int)n) != 0) {
        reply_error(s, req, FR_EP_RECALL_BATCH, t0, 500, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const char *id = json_id(json_array_get(users, i), num, sizeof num, "user", why,
                                 sizeof why);
        if (!id) {
            reply_error(s, req, FR_EP_RECALL_BATCH, t0, 400, "users[%zu]: %s", i, why);
            goto out;
        }
        if (job_add_user(s, j, id, &p) != 0) {
            reply_error(s, req, FR_EP_RECALL_BATCH, t0, 500, "out of memory");
            goto out;
        }
    }
    enqueue(s, j);
    j = NULL;
out:
    job_free(j);
    json_decref(doc);
}

static void put_model(fr_jbuf *b, const fr_serve_model *m)
{
    fr_jbuf_printf(b, "\"model\":{\"generation\":%ld,\"version\":", m ? m->generation : 0);
    if (m && m->version >= 0)
        fr_jbuf_printf(b, "%ld}", m->version);
    else
        fr_jbuf_printf(b, "null}");
}

#define PUT_LIT(b, lit) fr_jbuf_put((b), (lit), sizeof(lit) - 1)

/* A list's items: the hot part of a reply (100 items a list under load), so the
 * fixed text is copied and only the score goes through the formatter. */
static void put_items(fr_serve *s, fr_jbuf *b, const fr_recall_hit *h, int n)
{
    char num[32];
    PUT_LIT(b, "\"items\":[");
    for (int i = 0; i < n; i++) {
        if (i)
            PUT_LIT(b, ",{\"item\":");
        else
            PUT_LIT(b, "{\"item\":");
        fr_jbuf_str(b, fr_dataset_item_key(&s->ds, h[i].row));
        PUT_LIT(b, ",\"score\":");
        int len = snprintf(num, sizeof num, "%.9g", (double)h[i].score);
        fr_jbuf_put(b, num, len > 0 && len < (int)sizeof num ? (size_t)len : 0);
        PUT_LIT(b, ",\"source\":\"");
        const char *src = fr_recall_source_name(h[i].source);
        fr_jbuf_put(b, src, strlen(src));
        PUT_LIT(b, "\"}");
    }
    PUT_LIT(b, "]");
}

static const char *strategy_name(fr_recall_strategy s)
{
    static const char *const names[] = {"model", "itemcf", "popular", "mix"};
    return names[s];
}

/* The replies of a scored job: hits hold its queries' results in order. */
static void format_job(fr_serve *s, fr_serve_job *j, const fr_serve_model *m,
                       const fr_recall_hit *hits, const int *count)
{
    fr_jbuf *b = &j->out;
    if (j->endpoint == FR_EP_RECALL) {
        fr_jbuf_printf(b, "{\"user\":");
        fr_jbuf_str(b, j->ids[0]);
        fr_jbuf_printf(b, ",");
        put_model(b, m);
        fr_jbuf_printf(b, ",\"strategy\":\"%s\",\"k\":%d,", strategy_name(j->q[0].strategy),
                       j->q[0].k);
        put_items(s, b, hits, count[0]);
        fr_jbuf_printf(b, "}\n");
        return;
    }
    fr_jbuf_printf(b, "{");
    put_model(b, m);
    fr_jbuf_printf(b, ",\"strategy\":\"%s\",\"k\":%d,\"results\":[",
                   strategy_name(j->q[0].strategy), j->q[0].k);
    for (int i = 0; i < j->n; hits += j->q[i].k, i++) {
        fr_jbuf_printf(b, i ? ",{\"user\":" : "{\"user\":");
        fr_jbuf_str(b, j->ids[i]);
        fr_jbuf_printf(b, ",");
        put_items(s, b, hits, count[i]);
        fr_jbuf_printf(b, "}");
    }
    fr_jbuf_printf(b, "]}\n");
}

/* Score a batch of jobs on a scoring thread. */
static void score_batch(fr_serve *s, fr_serve_worker *w, fr_serve_job *jobs, int32_t **recent,
                        size_t *recent_cap)
{
    int n = 0;
    long total_k = 0;
    for (fr_serve_job *j = jobs; j; j = j->next) {
        n += j->n;
        for (int i = 0; i < j->n; i++)
            total_k += j->q[i].k;
    }
    size_t need = (size_t)n * (size_t)s->cfg.recent_per_user;
    if (need > *recent_cap) {
        int32_t *r = realloc(*recent, need * sizeof *r);
        if (r) {
            *recent = r;
            *recent_cap = need;
        }
    }
    fr_serve_query *q = malloc((size_t)n * sizeof *q);
    fr_recall_hit *hits = malloc((size_t)total_k * sizeof *hits);
    int *count = malloc((size_t)n * sizeof *count);
    fr_serve_model *m = fr_serve_slot_get(&s->slot);
    fr_err err = {{0}};
    fr_status st = FR_ENOMEM;
    if (q && hits && count && need <= *recent_cap) {
        int i = 0;
        for (fr_serve_job *j = jobs; j; j = j->next)
            for (int u = 0; u < j->n; u++, i++) {
                q[i] = j->q[u];
                q[i].recent = *recent + (size_t)i * s->cfg.recent_per_user;
                q[i].n_recent = fr_recent_get(&s->recent, j->keys[u], *recent +
                                              (size_t)i * s->cfg.recent_per_user,
                                              s->cfg.recent_per_user);
            }
        st = fr_serve_score(&s->base, m, w, q, n, hits, count, &err);
    }
    const fr_recall_hit *h = hits;
    const int *c = count;
    for (fr_serve_job *j = jobs; j; j = j->next) {
        if (st == FR_OK) {
            format_job(s, j, m, h, c);
            for (int u = 0; u < j->n; u++)
                h += j->q[u].k;
            c += j->n;
        } else {
            j->code = 500;
            fr_jbuf_printf(&j->out, "{\"error\":");
            fr_jbuf_str(&j->out, st == FR_ENOMEM && !err.msg[0] ? "out of memory" : err.msg);
            fr_jbuf_printf(&j->out, "}\n");
        }
    }
    fr_serve_model_unref(m);
    free(q);
    free(hits);
    free(count);
}

void *fr_serve_worker_main(void *arg)
{
    fr_serve *s = arg;
    fr_serve_worker w;
    fr_err err = {{0}};
    int32_t *recent = NULL;
    size_t recent_cap = 0;
    int ok = fr_serve_worker_init(&w, &s->base, s->cfg.search_threads, &err) == FR_OK;
    w.rerank = s->cfg.rerank;
    if (!ok)
        fprintf(stderr, "serve: a scoring thread cannot start: %s\n", err.msg);
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->stop && !s->q_head)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->stop) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        /* a batch: at least one job, then more while they fit in batch_users */
        fr_serve_job *head = s->q_head, *last = head;
        int users = head->n;
        s->q_len--;
        while (last->next && users + last->next->n <= s->cfg.batch_users) {
            last = last->next;
            users += last->n;
            s->q_len--;
        }
        s->q_head = last->next;
        if (!s->q_head)
            s->q_tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&s->mu);
        if (ok)
            score_batch(s, &w, head, &recent, &recent_cap);
        for (fr_serve_job *j = head; !ok && j; j = j->next) {
            j->code = 500;
            fr_jbuf_printf(&j->out, "{\"error\":\"no scoring thread\"}\n");
        }
        pthread_mutex_lock(&s->mu);
        last->next = s->done_head;
        s->done_head = head;
        pthread_mutex_unlock(&s->mu);
        fr_serve_wake(s);
    }
    free(recent);
    if (ok)
        fr_serve_worker_free(&w);
    return NULL;
}

/* -------------------------------------------------------------------- events */

/* Parse one JSON line into a log row (appended to rows) and the event's user key and
 * item row. */
static int parse_event(fr_serve *s, const char *line, size_t n, fr_jbuf *rows, char **key,
                       int32_t *item, char *why, size_t cap)
{
    char ubuf[32], ibuf[32], row[2 * (2 * MAX_ID + 2) + 2 * MAX_EVENT + 100];
    json_error_t e;
    int rc = -1;
    json_t *o = json_loadb(line, n, JSON_REJECT_DUPLICATES, &e);
    *key = NULL;
    if (!o || !json_is_object(o)) {
        snprintf(why, cap, "not a JSON object%s%s", o ? "" : ": ", o ? "" : e.text);
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        if (strcmp(k, "user") && strcmp(k, "item") && strcmp(k, "timestamp") &&
            strcmp(k, "event") && strcmp(k, "value")) {
            snprintf(why, cap, "unknown field '%.40s'", k);
            goto out;
        }
    }
    const char *user = json_id(json_object_get(o, "user"), ubuf, sizeof ubuf, "user", why, cap);
    if (!user)
        goto out;
    const char *it = json_id(json_object_get(o, "item"), ibuf, sizeof ibuf, "item", why, cap);
    if (!it)
        goto out;
    json_t *ts = json_object_get(o, "timestamp"), *ev = json_object_get(o, "event"),
           *val = json_object_get(o, "value");
    double t;
    if (ts) {
        if (!json_is_number(ts) || !isfinite(json_number_value(ts))) {
            snprintf(why, cap, "timestamp must be a number (Unix seconds)");
            goto out;
        }
        t = json_number_value(ts);
    } else {
        t = (double)time(NULL); /* the time of arrival */
    }
    const char *evs = NULL;
    if (ev) {
        evs = json_is_string(ev) ? json_string_value(ev) : NULL;
        if (!evs || strlen(evs) > MAX_EVENT || !check_id(evs[0] ? evs : "-", "event", why, cap)) {
            if (!evs || strlen(evs) > MAX_EVENT)
                snprintf(why, cap, "event must be a string of at most %d bytes", MAX_EVENT);
            goto out;
        }
    }
    if (val && (!json_is_number(val) || !isfinite(json_number_value(val)))) {
        snprintf(why, cap, "value must be a finite number");
        goto out;
    }
    size_t len = fr_eventlog_format(row, sizeof row, user, it, t, evs,
                                 val ? json_number_value(val) : NAN);
    if (len >= sizeof row) {
        snprintf(why, cap, "event too long");
        goto out;
    }
    fr_jbuf_put(rows, row, len);
    int32_t urow;
    if (!(*key = user_key(s, user, &urow))) {
        snprintf(why, cap, "out of memory");
        goto out;
    }
    *item = fr_item_index_find(&s->items, it);
    rc = 0;
out:
    json_decref(o);
    return rc;
}

static void events_post(fr_serve *s, struct evhttp_request *req, const struct timespec *t0)
{
    char why[200];
    size_t len;
    const uint8_t *body = fr_https_body(req, &len);
    fr_jbuf rows = {0};
    fr_err err = {{0}};
    fr_serve_job *j = NULL;
    long lines = 0, cap = 0;
    if (!s->have_log) {
        reply_error(s, req, FR_EP_EVENTS, t0, 404, "this server keeps no behaviour log");
        return;
    }
    for (size_t i = 0; i < len; i++)
        lines += body[i] == '\n';
    cap = lines + 1;
    if (!(j = new_job(FR_EP_EVENTS, req, t0)) ||
        !(j->ev_keys = calloc((size_t)cap, sizeof *j->ev_keys)) ||
        !(j->ev_items = calloc((size_t)cap, sizeof *j->ev_items))) {
        reply_error(s, req, FR_EP_EVENTS, t0, 500, "out of memory");
        goto out;
    }
    long line_no = 0;
    for (size_t at = 0; at < len;) {
        const uint8_t *nl = memchr(body + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - body) : len, n = end - at;
        const char *line = (const char *)body + at;
        line_no++;
        at = end + 1;
        while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
            n--;
        size_t lead = 0;
        while (lead < n && (line[lead] == ' ' || line[lead] == '\t'))
            lead++;
        if (lead == n)
            continue;
        if (parse_event(s, line + lead, n - lead, &rows, &j->ev_keys[j->n_events],
                        &j->ev_items[j->n_events], why, sizeof why) != 0) {
            reply_error(s, req, FR_EP_EVENTS, t0, 400, "line %ld: %s", line_no, why);
            goto out;
        }
        j->n_unknown += j->ev_items[j->n_events] == 0;
        j->n_events++;
    }
    if (j->n_events == 0) {
        reply_error(s, req, FR_EP_EVENTS, t0, 400,
                    "no events: one JSON object a line, with user, item and timestamp");
        goto out;
    }
    if (rows.failed) {
        reply_error(s, req, FR_EP_EVENTS, t0, 500, "out of memory");
        goto out;
    }
    fr_status st = fr_eventlog_append(&s->log, rows.p, rows.len, &j->ticket, &err);
    if (st != FR_OK) {
        reply_error(s, req, FR_EP_EVENTS, t0, st == FR_ENOMEM ? 503 : 500, "%s", err.msg);
        goto out;
    }
    if (s->wait_tail)
        s->wait_tail->next = j;
    else
        s->wait_head = j;
    s->wait_tail = j;
    j = NULL;
out:
    free(rows.p);
    job_free(j);
}

void fr_serve_on_sync(void *ctx, uint64_t upto, fr_status st)
{
    fr_serve *s = ctx;
    if (st == FR_OK)
        __atomic_store_n(&s->synced, upto, __ATOMIC_RELEASE);
    else
        __atomic_store_n(&s->log_failed, 1, __ATOMIC_RELEASE);
    fr_serve_wake(s);
}

/* Events whose sync has come join their users' histories, then are acknowledged. */
static void finish_events(fr_serve *s)
{
    uint64_t synced = __atomic_load_n(&s->synced, __ATOMIC_ACQUIRE);
    int failed = __atomic_load_n(&s->log_failed, __ATOMIC_ACQUIRE);
    while (s->wait_head && (s->wait_head->ticket <= synced || failed)) {
        fr_serve_job *j = s->wait_head;
        s->wait_head = j->next;
        if (!s->wait_head)
            s->wait_tail = NULL;
        j->next = NULL;
        if (j->ticket > synced) {
            j->code = 500;
            fr_jbuf_printf(&j->out, "{\"error\":\"the behaviour log cannot be written\"}\n");
            job_reply(s, j);
            continue;
        }
        for (int i = 0; i < j->n_events; i++)
            if (j->ev_items[i] > 0)
                (void)fr_recent_add(&s->recent, j->ev_keys[i], j->ev_items[i]);
        s->metrics.events_accepted += (uint64_t)j->n_events;
        s->metrics.events_unknown_item += (uint64_t)j->n_unknown;
        fr_jbuf_printf(&j->out, "{\"accepted\":%d,\"unknown_items\":%d}\n", j->n_events,
                       j->n_unknown);
        job_reply(s, j);
    }
}

/* -------------------------------------------------------------------- the loop */

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
        job_reply(s, done);
        done = next;
    }
    finish_events(s);
}

void fr_serve_drop_jobs(fr_serve *s)
{
    fr_serve_job *lists[3] = {s->q_head, s->done_head, s->wait_head};
    for (int i = 0; i < 3; i++)
        while (lists[i]) {
            fr_serve_job *next = lists[i]->next;
            job_free(lists[i]);
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
    put_model(&b, m);
    fr_jbuf_printf(&b, ",\"users\":%d,\"items\":%d,\"events_log\":%s}\n", s->ds.num_users,
                   s->ds.num_items - 1, s->have_log ? "true" : "false");
    fr_serve_model_unref(m);
    if (b.failed)
        reply_error(s, req, FR_EP_HEALTH, t0, 500, "out of memory");
    else {
        fr_https_reply(req, 200, "application/json", b.p, b.len);
        fr_serve_metrics_note(&s->metrics, FR_EP_HEALTH, 200, since(t0));
    }
    free(b.p);
}

static void metrics(fr_serve *s, struct evhttp_request *req, const struct timespec *t0)
{
    size_t len = 0;
    /* this request counts in the text it returns */
    fr_serve_metrics_note(&s->metrics, FR_EP_METRICS, 200, since(t0));
    char *text = fr_serve_metrics_text(s, &len);
    if (!text) {
        fr_https_reply(req, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    fr_https_reply_ref(req, 200, "text/plain; version=0.0.4", text, len, free_body, NULL);
}

void fr_serve_handle(struct evhttp_request *req, const char *peer, void *ctx)
{
    fr_serve *s = ctx;
    struct timespec t0;
    (void)peer;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const char *path = fr_https_path(req);
    int method = fr_https_method(req);
    if (!path)
        path = "";
    if (!strcmp(path, "/v1/recall")) {
        if (method == FR_HTTPS_GET)
            recall_get(s, req, &t0);
        else
            recall_post(s, req, &t0);
    } else if (!strcmp(path, "/v1/events")) {
        if (method == FR_HTTPS_POST)
            events_post(s, req, &t0);
        else
            reply_error(s, req, FR_EP_EVENTS, &t0, 405, "events are POSTed");
    } else if (!strcmp(path, "/v1/health")) {
        if (method == FR_HTTPS_GET)
            health(s, req, &t0);
        else
            reply_error(s, req, FR_EP_HEALTH, &t0, 405, "GET /v1/health");
    } else if (!strcmp(path, "/metrics")) {
        if (method == FR_HTTPS_GET)
            metrics(s, req, &t0);
        else
            reply_error(s, req, FR_EP_METRICS, &t0, 405, "GET /metrics");
    } else {
        reply_error(s, req, FR_EP_OTHER, &t0, 404,
                    "no such endpoint (GET /v1/recall, POST /v1/recall, POST /v1/events, "
                    "GET /v1/health, GET /metrics)");
    }
}
