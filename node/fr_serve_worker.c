/* The recall service's scoring threads: each takes queued recall jobs in batches of up
 * to batch_users users, scores them together (one forward pass and one catalogue search
 * a batch) and formats the JSON replies, which the loop then sends (fr_serve_http.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fr_serve_job.h"

#define PUT_LIT(b, lit) fr_jbuf_put((b), (lit), sizeof(lit) - 1)

/* A list's items: the hot part of a reply (100 items a list under load), so the
 * fixed text is copied and only the score goes through the formatter. */
static void put_items(fr_serve *s, const fr_serve_model *m, fr_jbuf *b, const fr_recall_hit *h,
                      int n)
{
    char num[32], key[24];
    PUT_LIT(b, "\"items\":[");
    for (int i = 0; i < n; i++) {
        if (i)
            PUT_LIT(b, ",{\"item\":");
        else
            PUT_LIT(b, "{\"item\":");
        fr_jbuf_str(b, fr_serve_model_item_key(m, &s->ds, h[i].row, key, sizeof key));
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
        fr_serve_put_model(b, m);
        fr_jbuf_printf(b, ",\"strategy\":\"%s\",\"k\":%d,", strategy_name(j->q[0].strategy),
                       j->q[0].k);
        put_items(s, m, b, hits, count[0]);
        fr_jbuf_printf(b, "}\n");
        return;
    }
    fr_jbuf_printf(b, "{");
    fr_serve_put_model(b, m);
    fr_jbuf_printf(b, ",\"strategy\":\"%s\",\"k\":%d,\"results\":[",
                   strategy_name(j->q[0].strategy), j->q[0].k);
    for (int i = 0; i < j->n; hits += j->q[i].k, i++) {
        fr_jbuf_printf(b, i ? ",{\"user\":" : "{\"user\":");
        fr_jbuf_str(b, j->ids[i]);
        fr_jbuf_printf(b, ",");
        put_items(s, m, b, hits, count[i]);
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
                int32_t *r = *recent + (size_t)i * s->cfg.recent_per_user;
                int got = fr_recent_get(&s->recent, j->keys[u], r, s->cfg.recent_per_user);
                /* a history may already hold items of a catalogue newer than the snapshot
                 * taken above (the loop followed a swap since): this snapshot has no row
                 * for them, so they are left out of this one request */
                int keep = 0;
                for (int t = 0; t < got; t++)
                    if (!m || r[t] < m->model.cfg.num_items)
                        r[keep++] = r[t];
                q[i].n_recent = keep;
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
