/* The recall service's metrics in the Prometheus text format: requests by endpoint and
 * status, latency histograms by endpoint, the model served, the queue, the events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fr_serve.h"

static const char *const ep_names[FR_EP_COUNT] = {"recall", "recall_batch", "events",
                                                  "health", "metrics",      "other"};
static const int codes[FR_SERVE_CODES - 1] = {200, 400, 404, 405, 413, 500, 503};
/* Upper bounds of the latency buckets, in seconds. */
static const double bounds[FR_SERVE_BUCKETS] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02,
                                                0.05,   0.1,   0.2,   0.5,   1.0,  5.0};

void fr_serve_metrics_note(fr_serve_metrics *m, int endpoint, int code, double seconds)
{
    int c = FR_SERVE_CODES - 1;
    for (int i = 0; i < FR_SERVE_CODES - 1; i++)
        if (codes[i] == code)
            c = i;
    m->requests[endpoint][c]++;
    int b = 0;
    while (b < FR_SERVE_BUCKETS && seconds > bounds[b])
        b++;
    m->buckets[endpoint][b]++;
    m->seconds[endpoint] += seconds;
}

char *fr_serve_metrics_text(fr_serve *s, size_t *len)
{
    fr_jbuf b = {0};
    const fr_serve_metrics *m = &s->metrics;
    fr_jbuf_printf(&b, "# HELP fedrecall_serve_requests_total Requests answered, by endpoint "
                       "and status.\n# TYPE fedrecall_serve_requests_total counter\n");
    for (int e = 0; e < FR_EP_COUNT; e++)
        for (int c = 0; c < FR_SERVE_CODES; c++)
            if (m->requests[e][c] || c == 0) {
                char code[8] = "other";
                if (c < FR_SERVE_CODES - 1)
                    snprintf(code, sizeof code, "%d", codes[c]);
                fr_jbuf_printf(&b,
                               "fedrecall_serve_requests_total{endpoint=\"%s\",code=\"%s\"} "
                               "%llu\n",
                               ep_names[e], code, (unsigned long long)m->requests[e][c]);
            }
    fr_jbuf_printf(&b, "# HELP fedrecall_serve_request_seconds Time from a request's arrival "
                       "to its reply.\n# TYPE fedrecall_serve_request_seconds histogram\n");
    for (int e = 0; e < FR_EP_COUNT; e++) {
        uint64_t cum = 0;
        for (int i = 0; i <= FR_SERVE_BUCKETS; i++) {
            cum += m->buckets[e][i];
            if (i < FR_SERVE_BUCKETS)
                fr_jbuf_printf(&b,
                               "fedrecall_serve_request_seconds_bucket{endpoint=\"%s\","
                               "le=\"%g\"} %llu\n",
                               ep_names[e], bounds[i], (unsigned long long)cum);
            else
                fr_jbuf_printf(&b,
                               "fedrecall_serve_request_seconds_bucket{endpoint=\"%s\","
                               "le=\"+Inf\"} %llu\n",
                               ep_names[e], (unsigned long long)cum);
        }
        fr_jbuf_printf(&b, "fedrecall_serve_request_seconds_sum{endpoint=\"%s\"} %.6f\n",
                       ep_names[e], m->seconds[e]);
        fr_jbuf_printf(&b, "fedrecall_serve_request_seconds_count{endpoint=\"%s\"} %llu\n",
                       ep_names[e], (unsigned long long)cum);
    }
    fr_serve_model *mod = fr_serve_slot_get(&s->slot);
    fr_jbuf_printf(&b,
                   "# HELP fedrecall_serve_model_generation Models loaded by this server, the "
                   "one serving included.\n# TYPE fedrecall_serve_model_generation gauge\n"
                   "fedrecall_serve_model_generation %ld\n"
                   "# HELP fedrecall_serve_model_version The federation's version of the model "
                   "served (-1: unknown).\n# TYPE fedrecall_serve_model_version gauge\n"
                   "fedrecall_serve_model_version %ld\n",
                   mod ? mod->generation : 0, mod ? mod->version : -1);
    fr_serve_model_unref(mod);
    fr_jbuf_printf(&b,
                   "# TYPE fedrecall_serve_model_swaps_total counter\n"
                   "fedrecall_serve_model_swaps_total %llu\n"
                   "# TYPE fedrecall_serve_model_swap_failures_total counter\n"
                   "fedrecall_serve_model_swap_failures_total %llu\n",
                   (unsigned long long)__atomic_load_n(&m->swaps, __ATOMIC_RELAXED),
                   (unsigned long long)__atomic_load_n(&m->swap_failures, __ATOMIC_RELAXED));
    fr_jbuf_printf(&b,
                   "# HELP fedrecall_serve_catalogue_items Items posted events are matched "
                   "against.\n# TYPE fedrecall_serve_catalogue_items gauge\n"
                   "fedrecall_serve_catalogue_items %d\n"
                   "# TYPE fedrecall_serve_catalogue_follows_total counter\n"
                   "fedrecall_serve_catalogue_follows_total %llu\n"
                   "# HELP fedrecall_serve_events_replayed_added_total Logged events on items "
                   "added to the catalogue, taken up when it grew.\n"
                   "# TYPE fedrecall_serve_events_replayed_added_total counter\n"
                   "fedrecall_serve_events_replayed_added_total %llu\n",
                   s->cat->model.cfg.num_items - 1, (unsigned long long)m->catalogue_follows,
                   (unsigned long long)m->events_replayed_added);
    pthread_mutex_lock(&s->mu);
    int q = s->q_len;
    pthread_mutex_unlock(&s->mu);
    uint64_t syncs = 0, bytes = 0;
    if (s->have_log) {
        pthread_mutex_lock(&s->log.mu);
        syncs = s->log.syncs;
        bytes = s->log.bytes;
        pthread_mutex_unlock(&s->log.mu);
    }
    fr_jbuf_printf(&b,
                   "# TYPE fedrecall_serve_queue_requests gauge\n"
                   "fedrecall_serve_queue_requests %d\n"
                   "# HELP fedrecall_serve_events_total Events acknowledged (on disk).\n"
                   "# TYPE fedrecall_serve_events_total counter\n"
                   "fedrecall_serve_events_total %llu\n"
                   "# TYPE fedrecall_serve_events_unknown_item_total counter\n"
                   "fedrecall_serve_events_unknown_item_total %llu\n"
                   "# TYPE fedrecall_serve_events_syncs_total counter\n"
                   "fedrecall_serve_events_syncs_total %llu\n"
                   "# TYPE fedrecall_serve_events_bytes_total counter\n"
                   "fedrecall_serve_events_bytes_total %llu\n",
                   q, (unsigned long long)m->events_accepted,
                   (unsigned long long)m->events_unknown_item, (unsigned long long)syncs,
                   (unsigned long long)bytes);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
