/* The recall endpoint (GET /v1/recall?user=ID and POST /v1/recall with a list of
 * users): the request's parameters checked on the loop thread, then the job queued for
 * the scoring threads (fr_serve_worker.c), or 503 at once when the queue is full. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "net/fr_https.h"
#include "fr_serve_job.h"

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
            snprintf(why, cap,
                     "threshold needs a single strategy (mix's channels score on "
                     "different scales)");
            return -1;
        }
        p->use_threshold = 1;
        p->threshold = (float)t;
    }
    return 0;
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
    if (!(j->ids[j->n] = strdup(id)) || !(j->keys[j->n] = fr_serve_user_key(s, id, &q->user))) {
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
        fr_serve_reply_error(s, j->req, j->endpoint, &j->t0, 503, "overloaded: %d requests waiting",
                             s->cfg.max_queue);
        fr_serve_job_free(j);
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

void fr_serve_recall_get(fr_serve *s, struct evhttp_request *req, const struct timespec *t0)
{
    char why[200];
    struct evkeyvalq kv = {0};
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    fr_serve_job *j = NULL;
    recall_params p;
    if (!query || evhttp_parse_query_str(query, &kv) != 0) {
        fr_serve_reply_error(s, req, FR_EP_RECALL, t0, 400,
                             "a query string with user=ID is required");
        goto out;
    }
    /* decoded, %00 would end the id early: another user's list under this one's name */
    if (strstr(query, "%00")) {
        fr_serve_reply_error(s, req, FR_EP_RECALL, t0, 400,
                             "the query string holds %%00 (NUL), which no id may contain");
        goto out;
    }
    const char *user = evhttp_find_header(&kv, "user");
    if (!user) {
        fr_serve_reply_error(s, req, FR_EP_RECALL, t0, 400, "user=ID is required");
        goto out;
    }
    if (!fr_serve_check_id(user, "user", why, sizeof why) ||
        parse_params(s, evhttp_find_header(&kv, "k"), evhttp_find_header(&kv, "strategy"),
                     evhttp_find_header(&kv, "threshold"), evhttp_find_header(&kv, "exact"),
                     evhttp_find_header(&kv, "nprobe"), &p, why, sizeof why) != 0) {
        fr_serve_reply_error(s, req, FR_EP_RECALL, t0, 400, "%s", why);
        goto out;
    }
    if (!(j = fr_serve_job_new(FR_EP_RECALL, req, t0)) || job_users(j, 1) != 0 ||
        job_add_user(s, j, user, &p) != 0) {
        fr_serve_reply_error(s, req, FR_EP_RECALL, t0, 500, "out of memory");
        fr_serve_job_free(j);
        goto out;
    }
    enqueue(s, j);
out:
    evhttp_clear_headers(&kv);
}

/* {"users": [ID, ...], "k": K, "strategy": S, "threshold": T, "exact": B, "nprobe": N},
 * all but users optional. */
void fr_serve_recall_post(fr_serve *s, struct evhttp_request *req, const struct timespec *t0)
{
    char why[200], num[32], kbuf[24], tbuf[40], nbuf[24];
    size_t len;
    const uint8_t *body = fr_https_body(req, &len);
    json_error_t e;
    json_t *doc = body ? json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &e) : NULL;
    fr_serve_job *j = NULL;
    recall_params p;
    if (!doc || !json_is_object(doc)) {
        fr_serve_reply_error(s, req, FR_EP_RECALL_BATCH, t0, 400,
                             "the body must be a JSON object%s%s", doc ? "" : ": ",
                             doc ? "" : (body ? e.text : "empty body"));
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
    {
        if (strcmp(key, "users") && strcmp(key, "k") && strcmp(key, "strategy") &&
            strcmp(key, "threshold") && strcmp(key, "exact") && strcmp(key, "nprobe")) {
            fr_serve_reply_error(s, req, FR_EP_RECALL_BATCH, t0, 400, "unknown field '%.40s'", key);
            goto out;
        }
    }
    json_t *users = json_object_get(doc, "users"), *k = json_object_get(doc, "k"),
           *strategy = json_object_get(doc, "strategy"),
           *threshold = json_object_get(doc, "threshold"), *exact = json_object_get(doc, "exact"),
           *nprobe = json_object_get(doc, "nprobe");
    size_t n = json_array_size(users);
    if (!json_is_array(users) || n == 0 || n > (size_t)s->cfg.max_users) {
        fr_serve_reply_error(s, req, FR_EP_RECALL_BATCH, t0, 400,
                             "users must be an array of 1 to %d ids", s->cfg.max_users);
        goto out;
    }
    if ((k && !json_is_integer(k)) || (strategy && !json_is_string(strategy)) ||
        (threshold && !json_is_number(threshold)) || (exact && !json_is_boolean(exact)) ||
        (nprobe && !json_is_integer(nprobe))) {
        fr_serve_reply_error(s, req, FR_EP_RECALL_BATCH, t0, 400,
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
        fr_serve_reply_error(s, req, FR_EP_RECALL_BATCH, t0, 400, "%s", why);
        goto out;
    }
    if (!(j = fr_serve_job_new(FR_EP_RECALL_BATCH, req, t0)) || job_users(j, (int)n) != 0) {
        fr_serve_reply_error(s, req, FR_EP_RECALL_BATCH, t0, 500, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const char *id =
            fr_serve_json_id(json_array_get(users, i), num, sizeof num, "user", why, sizeof why);
        if (!id) {
            fr_serve_reply_error(s, req, FR_EP_RECALL_BATCH, t0, 400, "users[%zu]: %s", i, why);
            goto out;
        }
        if (job_add_user(s, j, id, &p) != 0) {
            fr_serve_reply_error(s, req, FR_EP_RECALL_BATCH, t0, 500, "out of memory");
            goto out;
        }
    }
    enqueue(s, j);
    j = NULL;
out:
    fr_serve_job_free(j);
    json_decref(doc);
}
