/* The events endpoint (POST /v1/events, one JSON object a line): each event checked
 * and written to the behaviour log; the reply waits for the sync that puts the events
 * on disk, and only then do they join their users' histories. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "net/fr_https.h"
#include "fr_serve_job.h"
#include "util/fr_log.h"

/* Parse one JSON line into a log row (appended to rows) and the event's user key and
 * item row. */
static int parse_event(fr_serve *s, const char *line, size_t n, fr_jbuf *rows, char **key,
                       int32_t *item, char *why, size_t cap)
{
    char ubuf[32], ibuf[32], row[2 * (2 * FR_SERVE_MAX_ID + 2) + 2 * FR_SERVE_MAX_EVENT + 100];
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
    const char *user =
        fr_serve_json_id(json_object_get(o, "user"), ubuf, sizeof ubuf, "user", why, cap);
    if (!user)
        goto out;
    const char *it =
        fr_serve_json_id(json_object_get(o, "item"), ibuf, sizeof ibuf, "item", why, cap);
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
        /* histories are ordered by time and replayed into training: a time from
         * before the web or from the future would sort a user's events wrong */
        if (t < FR_SERVE_MIN_TIMESTAMP || t > (double)time(NULL) + FR_SERVE_MAX_AHEAD_S) {
            snprintf(why, cap,
                     "timestamp %.10g is outside [1995-01-01, now + 1 day] (Unix seconds "
                     "%d to now + %d)",
                     t, FR_SERVE_MIN_TIMESTAMP, FR_SERVE_MAX_AHEAD_S);
            goto out;
        }
    } else {
        t = (double)time(NULL); /* the time of arrival */
    }
    const char *evs = NULL;
    if (ev) {
        evs = json_is_string(ev) ? json_string_value(ev) : NULL;
        if (!evs || strlen(evs) > FR_SERVE_MAX_EVENT ||
            !fr_serve_check_id(evs[0] ? evs : "-", "event", why, cap)) {
            if (!evs || strlen(evs) > FR_SERVE_MAX_EVENT)
                snprintf(why, cap, "event must be a string of at most %d bytes",
                         FR_SERVE_MAX_EVENT);
            goto out;
        }
    }
    if (val && (!json_is_number(val) || !isfinite(json_number_value(val)))) {
        snprintf(why, cap, "value must be a finite number");
        goto out;
    }
    size_t len =
        fr_eventlog_format(row, sizeof row, user, it, t, evs, val ? json_number_value(val) : NAN);
    if (len >= sizeof row) {
        snprintf(why, cap, "event too long");
        goto out;
    }
    fr_jbuf_put(rows, row, len);
    int32_t urow;
    if (!(*key = fr_serve_user_key(s, user, &urow))) {
        snprintf(why, cap, "out of memory");
        goto out;
    }
    *item = fr_item_index_find(&s->items, s->cat, it);
    rc = 0;
out:
    json_decref(o);
    return rc;
}

void fr_serve_events_post(fr_serve *s, struct evhttp_request *req, const struct timespec *t0)
{
    char why[200];
    size_t len;
    const uint8_t *body = fr_https_body(req, &len);
    fr_jbuf rows = {0};
    fr_err err = {{0}};
    fr_serve_job *j = NULL;
    long lines = 0, cap = 0;
    if (!s->have_log) {
        fr_serve_reply_error(s, req, FR_EP_EVENTS, t0, 404, "this server keeps no behaviour log");
        return;
    }
    for (size_t i = 0; i < len; i++)
        lines += body[i] == '\n';
    cap = lines + 1;
    if (!(j = fr_serve_job_new(FR_EP_EVENTS, req, t0)) ||
        !(j->ev_keys = calloc((size_t)cap, sizeof *j->ev_keys)) ||
        !(j->ev_items = calloc((size_t)cap, sizeof *j->ev_items))) {
        fr_serve_reply_error(s, req, FR_EP_EVENTS, t0, 500, "out of memory");
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
            fr_serve_reply_error(s, req, FR_EP_EVENTS, t0, 400, "line %ld: %s", line_no, why);
            goto out;
        }
        j->n_unknown += j->ev_items[j->n_events] == 0;
        j->n_events++;
    }
    if (j->n_events == 0) {
        fr_serve_reply_error(s, req, FR_EP_EVENTS, t0, 400,
                             "no events: one JSON object a line, with user, item and timestamp");
        goto out;
    }
    if (rows.failed) {
        fr_serve_reply_error(s, req, FR_EP_EVENTS, t0, 500, "out of memory");
        goto out;
    }
    fr_status st = fr_eventlog_append(&s->log, rows.p, rows.len, &j->ticket, &err);
    if (st != FR_OK) {
        fr_serve_reply_error(s, req, FR_EP_EVENTS, t0, st == FR_ENOMEM ? 503 : 500, "%s", err.msg);
        goto out;
    }
    s->last_ticket = j->ticket;
    if (s->wait_tail)
        s->wait_tail->next = j;
    else
        s->wait_head = j;
    s->wait_tail = j;
    j = NULL;
out:
    free(rows.p);
    fr_serve_job_free(j);
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
void fr_serve_finish_events(fr_serve *s)
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
            fr_serve_job_reply(s, j);
            continue;
        }
        for (int i = 0; i < j->n_events; i++)
            if (j->ev_items[i] > 0)
                (void)fr_recent_add(&s->recent, j->ev_keys[i], j->ev_items[i]);
        s->metrics.events_accepted += (uint64_t)j->n_events;
        s->metrics.events_unknown_item += (uint64_t)j->n_unknown;
        fr_jbuf_printf(&j->out, "{\"accepted\":%d,\"unknown_items\":%d}\n", j->n_events,
                       j->n_unknown);
        fr_serve_job_reply(s, j);
    }
}

static void events_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void events_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fr_logv(stderr, "serve", fmt, ap);
    va_end(ap);
}

void fr_serve_follow_catalogue(fr_serve *s)
{
    if (!__atomic_exchange_n(&s->cat_grew, 0, __ATOMIC_ACQ_REL))
        return;
    fr_serve_model *m = fr_serve_slot_get(&s->slot);
    fr_err err = {{0}};
    if (m && m->model.cfg.num_items == s->cat->model.cfg.num_items &&
        m->model.n_reused > s->cat->model.n_reused) {
        /* rows reclaimed, none added: nothing to replay, match against the new rows */
        events_log("catalogue of %d items followed: %d rows reclaimed, served from the next "
                   "restart",
                   m->model.cfg.num_items - 1, m->model.n_reused - s->cat->model.n_reused);
        fr_serve_model_unref(s->cat);
        s->cat = m;
        s->metrics.catalogue_follows++;
        return;
    }
    if (!m || m->model.cfg.num_items <= s->cat->model.cfg.num_items) {
        fr_serve_model_unref(m);
        return;
    }
    int32_t from = (int32_t)s->cat->model.cfg.num_items;
    /* Every event matched so far was matched against the old catalogue, so each
     * event on an added item in the log was answered unknown and is in no history.
     * Wait for the ones not yet on disk, replay those on the added rows, and only then
     * match new posts against the new catalogue: all on the loop thread, so no event
     * is taken up twice or missed. The replayed events join the histories after the
     * events already there (a history's order within the last minutes may differ
     * from the log's). */
    fr_status st = FR_OK;
    long rows = 0;
    fr_serve_model_unref(s->cat);
    s->cat = m; /* the slot's reference becomes the loop's */
    s->replay_from = from;
    s->replay_kept = 0;
    if (s->have_log && (st = fr_eventlog_wait(&s->log, s->last_ticket, &err)) == FR_OK)
        st = fr_eventlog_replay(s->cfg.events_log, fr_serve_replay_row, s, &rows, &err);
    s->metrics.catalogue_follows++;
    s->metrics.events_replayed_added += (uint64_t)s->replay_kept;
    if (st != FR_OK)
        events_log("catalogue of %d items: behaviour log not replayed: %s",
                   m->model.cfg.num_items - 1, err.msg);
    else
        events_log(
            "catalogue of %d items followed: %ld logged events on the %d added items taken up",
            m->model.cfg.num_items - 1, s->replay_kept, m->model.cfg.num_items - from);
}
