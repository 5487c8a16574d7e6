/* fedrecall-node serve: the site's recall service over HTTP (docs/recall.md, "The
 * recall service"). One libevent loop does all the I/O and parsing; a small pool of
 * scoring threads takes the queued recall requests in batches (one forward pass and
 * one catalogue search per batch); the behaviour log's writer thread syncs posted
 * events in groups; a watcher thread swaps in each new model file. Replies are sent
 * from the loop, which the other threads wake through an eventfd. */
#ifndef FR_SERVE_H
#define FR_SERVE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "data/fr_data.h"
#include "fr_data_cli.h"
#include "data/fr_eventlog.h"
#include "recall/fr_recall.h"
#include "recall/fr_recent.h"
#include "recall/fr_serve_model.h"
#include "recall/fr_serve_score.h"

struct event_base;
struct event;
struct evhttp_request;
typedef struct fr_https fr_https;

typedef struct fr_serve_config {
    const char *model, *data, *format, *listen, *events_log;
    int tls, require_client_cert;
    const char *cert, *key, *ca, *crl;
    const char *token_file; /* a bearer token every request must carry, or NULL */
    int header_deadline;    /* seconds for a TLS handshake and a request's header */
    int max_conns;          /* TLS connections open at once */
    int k_default, k_max;
    int max_users;      /* users of one batch request */
    int max_body;       /* bytes of a request body */
    int workers;        /* scoring threads, each taking its own batches */
    int search_threads; /* threads sharing one batch's scan of the catalogue */
    int max_queue;      /* recall requests waiting for a scoring thread */
    int batch_users;    /* users a scoring thread takes at once */
    int seq_len;
    int recent_per_user;
    int recent_users;
    int poll_ms;             /* how often the model file is checked */
    long events_max_pending; /* bytes of events waiting for the disk */
    const char *index;       /* "exact" or "ivf" (the model channel's search) */
    fr_ivf_config ivf;       /* the index's settings */
    int ivf_min_items;       /* catalogues smaller than this are searched exactly */
    const char *scan;        /* "auto", "float" or "int8" (the catalogue scan) */
    int rerank;              /* int8: candidates re-ranked exactly, 0: max(2k, 200) */
    fr_recall_config recall; /* channel settings (itemcf, popular, mix) */
    fr_data_cli data_cli;
} fr_serve_config;

/* Endpoints, for the metrics. */
enum {
    FR_EP_RECALL,
    FR_EP_RECALL_BATCH,
    FR_EP_EVENTS,
    FR_EP_HEALTH,
    FR_EP_METRICS,
    FR_EP_OTHER,
    FR_EP_COUNT
};
#define FR_SERVE_CODES 8    /* 200 400 404 405 413 500 503, other */
#define FR_SERVE_BUCKETS 12 /* latency histogram bounds, plus +Inf */

typedef struct fr_serve_metrics {
    uint64_t requests[FR_EP_COUNT][FR_SERVE_CODES];
    uint64_t buckets[FR_EP_COUNT][FR_SERVE_BUCKETS + 1];
    double seconds[FR_EP_COUNT];
    uint64_t events_accepted, events_unknown_item;
    uint64_t swaps, swap_failures;  /* written by the watcher: atomics */
    uint64_t catalogue_follows;     /* the loop took up a larger catalogue */
    uint64_t events_replayed_added; /* logged events on added items taken up then */
} fr_serve_metrics;

typedef struct fr_serve_job fr_serve_job;

/* Item ids to rows. */
typedef struct fr_item_index {
    int32_t *slot; /* row, 0 = empty */
    long slots;
    const fr_dataset *ds;
} fr_item_index;

typedef struct fr_serve {
    fr_serve_config cfg;
    fr_dataset ds;
    fr_recall base;
    fr_item_index items;
    /* The snapshot whose catalogue posted events are matched against (loop thread
     * only, one reference held): it follows the slot's at the loop's next wake after
     * a swap to a larger catalogue (cat_grew), when the log's events on the added
     * items are replayed (fr_serve_follow_catalogue). */
    fr_serve_model *cat;
    int cat_grew;         /* atomic: set by the watcher */
    uint64_t last_ticket; /* the behaviour log's last ticket handed out (loop thread) */
    int32_t replay_from;  /* replay_row keeps only rows >= this */
    long replay_kept;     /* rows replay_row took into the recent histories */
    fr_serve_slot slot;
    fr_recent recent;
    fr_eventlog log;
    int have_log;
    struct event_base *evb;
    fr_https *https;
    int have_token;
    unsigned char token_hash[32]; /* BLAKE2b of the bearer token: compared, never logged */
    struct event *wake_ev, *sig_ev[3];
    int wake_fd;
    /* the recall queue and the replies ready to send */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    fr_serve_job *q_head, *q_tail, *done_head;
    int q_len, stop;
    pthread_t *threads;
    int n_threads;
    /* posted events waiting for their sync (loop thread only), and the sync reports */
    fr_serve_job *wait_head, *wait_tail;
    uint64_t synced; /* atomic: the last ticket on disk */
    int log_failed;  /* atomic */
    /* the model watcher */
    pthread_t watcher;
    int have_watcher;
    pthread_mutex_t wmu;
    pthread_cond_t wcv;
    int reload_now, wstop;
    long generation;
    const fr_ivf_config *ivf; /* the index each snapshot builds, or NULL: exact only */
    int q8;                   /* each snapshot builds the 8-bit copy for the int8 scan */
    fr_serve_metrics metrics;
    struct timespec started;
} fr_serve;

/* Load the data, the first model and the behaviour log, build the recall state and
 * listen (cmd_serve.c). */
FR_MUST fr_status fr_serve_init(fr_serve *s, const fr_serve_config *cfg, fr_err *err);
/* Serve until SIGINT or SIGTERM. */
FR_MUST fr_status fr_serve_run(fr_serve *s, fr_err *err);
void fr_serve_free(fr_serve *s);

/* The request handler and the loop's side of the queue (fr_serve_http.c; the endpoints
 * and the job they share in fr_serve_recall.c, fr_serve_events.c and fr_serve_job.h). */
void fr_serve_handle(struct evhttp_request *req, const char *peer, void *ctx);
void fr_serve_wake(fr_serve *s);
void fr_serve_on_wake(fr_serve *s);
/* A scoring thread (fr_serve_worker.c). */
void *fr_serve_worker_main(void *arg);
/* The behaviour log's sync report (writer thread; fr_serve_events.c). */
void fr_serve_on_sync(void *ctx, uint64_t upto, fr_status st);
/* After a swap to a model of a larger catalogue (loop thread): wait for the events
 * already logged, replay those on the added items into the recent histories, then
 * match posted events against the new catalogue (fr_serve_events.c). */
void fr_serve_follow_catalogue(fr_serve *s);
/* One row of the behaviour log into the recent histories, when its item is a row
 * >= s->replay_from of the served catalogue (cmd_serve.c). */
FR_MUST fr_status fr_serve_replay_row(void *ctx, const char *user, const char *item, double ts,
                                      const char *event, fr_err *err);
/* Drop every queued job without replying (at shutdown). */
void fr_serve_drop_jobs(fr_serve *s);

/* Item index (fr_serve_items.c). */
FR_MUST fr_status fr_item_index_init(fr_item_index *ix, const fr_dataset *ds, fr_err *err);
void fr_item_index_free(fr_item_index *ix);
/* The row of item id (as a client spells it): a row of the served data, else a row
 * cat (may be NULL) added since; 0 when the catalogue lacks it. */
int32_t fr_item_index_find(const fr_item_index *ix, const fr_serve_model *cat, const char *id);

/* Metrics (fr_serve_metrics.c): one finished request, and the Prometheus text. */
void fr_serve_metrics_note(fr_serve_metrics *m, int endpoint, int code, double seconds);
FR_MUST char *fr_serve_metrics_text(fr_serve *s, size_t *len);

/* A growable text buffer for replies (fr_serve_json.c); on allocation failure it
 * stops growing and sets failed. */
typedef struct fr_jbuf {
    char *p;
    size_t len, cap;
    int failed;
} fr_jbuf;
void fr_jbuf_put(fr_jbuf *b, const char *s, size_t n);
void fr_jbuf_printf(fr_jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a JSON string, quotes included. */
void fr_jbuf_str(fr_jbuf *b, const char *s);
/* The length (1 to 4) of the valid UTF-8 sequence at p, 0 when p starts none (a stray
 * byte, an overlong form, a surrogate, a code point above U+10FFFF, or a NUL). */
size_t fr_serve_utf8_len(const unsigned char *p);

#endif
