/* fedrecall-node serve: the site's recall service (docs/recall.md, "The recall
 * service"). Loads the served data onto the model's catalogue, the model, the item
 * similarities and popularity, replays the behaviour log into the users' recent
 * histories, then answers HTTP (TLS optional) until SIGINT or SIGTERM. A watcher
 * thread checks the model file every poll interval (and at once on SIGHUP) and swaps
 * in each new one; a model that fails to load or does not fit the catalogue is
 * logged and the old one kept. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "backend/fr_backend.h"
#include "fr_cmd.h"
#include "net/fr_https.h"
#include "data/fr_items.h"
#include "util/fr_log.h"
#include "nn/fr_modelfile.h"
#include "util/fr_opts.h"
#include "fr_serve.h"

static void serve_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void serve_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fr_logv(stderr, "serve", fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------ the model watcher */

static void log_index(const fr_serve *s, const fr_serve_model *m)
{
    if (m->have_ivf)
        serve_log("index: ivf, %d lists (longest %d items), %d probed by default, built in "
                  "%.3f s",
                  m->ivf.nlist, m->ivf.max_list, m->ivf.nprobe, m->ivf_build_s);
    else
        serve_log("index: exact");
    if (m->have_q8)
        serve_log("scan: int8 (%s kernel), re-ranking %s%d candidates, copy built in %.3f s",
                  fr_topk_q8_kernel_name(), s->cfg.rerank ? "" : "max(2k, 200), at least ",
                  s->cfg.rerank ? s->cfg.rerank : FR_TOPK_Q8_RERANK_MIN, m->q8_build_s);
    else
        serve_log("scan: float%s", strcmp(s->cfg.scan, "auto") == 0
                                       ? " (auto: this CPU lacks AVX-512 VNNI for the int8 scan)"
                                       : "");
}

static void *watcher_main(void *arg)
{
    fr_serve *s = arg;
    struct stat failed = {0}; /* the last file that would not load: not retried */
    int have_failed = 0;
    pthread_mutex_lock(&s->wmu);
    while (!s->wstop) {
        if (!s->reload_now) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += s->cfg.poll_ms / 1000;
            until.tv_nsec += (long)(s->cfg.poll_ms % 1000) * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&s->wcv, &s->wmu, &until);
        }
        if (s->wstop)
            break;
        int forced = s->reload_now;
        s->reload_now = 0;
        pthread_mutex_unlock(&s->wmu);
        fr_serve_model *cur = fr_serve_slot_get(&s->slot);
        int e = 0;
        int changed = fr_serve_model_changed(s->cfg.model, &cur->file, &e);
        if (changed && have_failed && !fr_serve_model_changed(s->cfg.model, &failed, &e))
            changed = 0;
        if (changed || forced) {
            fr_serve_model *m = NULL;
            fr_err err = {{0}};
            long gen = cur->generation + 1;
            fr_status st = fr_serve_model_load(&m, s->cfg.model, &s->ds, s->cfg.seq_len, gen,
                                               s->ivf, s->q8, &err);
            /* catalogues only grow: histories may hold the rows of the one served, which
             * a smaller model lacks */
            if (st == FR_OK && m->model.cfg.num_items < cur->model.cfg.num_items) {
                st =
                    fr_fail(&err, FR_EINVAL,
                            "%s: %d items, fewer than the %d of the model served (a catalogue "
                            "only grows)",
                            s->cfg.model, m->model.cfg.num_items - 1, cur->model.cfg.num_items - 1);
                fr_serve_model_unref(m);
                m = NULL;
            }
            if (st == FR_OK) {
                /* a catalogue that reclaimed rows is followed too: events on their
                 * retired items no longer match */
                int grew = m->model.cfg.num_items > cur->model.cfg.num_items ||
                           m->model.n_reused > cur->model.n_reused;
                fr_serve_slot_set(&s->slot, m);
                __atomic_add_fetch(&s->metrics.swaps, 1, __ATOMIC_RELAXED);
                if (grew) { /* the loop takes up the added items at its next wake */
                    __atomic_store_n(&s->cat_grew, 1, __ATOMIC_RELEASE);
                    fr_serve_wake(s);
                }
                have_failed = 0;
                serve_log("model %s loaded: generation %ld, version %ld", s->cfg.model, gen,
                          m->version);
                log_index(s, m);
            } else {
                __atomic_add_fetch(&s->metrics.swap_failures, 1, __ATOMIC_RELAXED);
                have_failed = stat(s->cfg.model, &failed) == 0;
                serve_log("model %s not loaded, generation %ld kept: %s", s->cfg.model,
                          cur->generation, err.msg);
            }
        } else if (e) {
            serve_log("model %s: %s (generation %ld kept)", s->cfg.model, strerror(e),
                      cur->generation);
        }
        fr_serve_model_unref(cur);
        pthread_mutex_lock(&s->wmu);
    }
    pthread_mutex_unlock(&s->wmu);
    return NULL;
}

/* ------------------------------------------------------------ setup */

/* The bearer token of token_file into s's hash: one line of 16 to 4096 printable
 * bytes without blanks. The bytes read are wiped; the token is never logged. */
static fr_status load_token(fr_serve *s, const char *path, fr_err *err)
{
    fr_status st = FR_OK;
    char buf[4098];
    size_t n = 0;
    FILE *f = fopen(path, "rb");
    if (sodium_init() < 0)
        st = fr_fail(err, FR_EIO, "libsodium cannot start");
    if (!f)
        return fr_fail(err, FR_EIO, "token-file %s: %s", path, strerror(errno));
    if (st != FR_OK) {
        fclose(f);
        return st;
    }
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n < 16 || n > 4096) {
        st = fr_fail(err, FR_EINVAL, "token-file %s: the token must have 16 to 4096 bytes", path);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)buf[i] <= 0x20 || (unsigned char)buf[i] >= 0x7f) {
            st = fr_fail(err, FR_EINVAL,
                         "token-file %s: the token must be one line of printable ASCII without "
                         "blanks",
                         path);
            goto out;
        }
    crypto_generichash(s->token_hash, sizeof s->token_hash, (const unsigned char *)buf, n, NULL, 0);
    s->have_token = 1;
out:
    sodium_memzero(buf, sizeof buf);
    return st;
}

fr_status fr_serve_replay_row(void *ctx, const char *user, const char *item, double ts,
                              const char *event, fr_err *err)
{
    fr_serve *s = ctx;
    (void)ts, (void)event;
    int32_t row = fr_item_index_find(&s->items, s->cat, item);
    if (row <= 0 || row < s->replay_from)
        return FR_OK;
    int32_t urow = fr_dataset_find_user(&s->ds, user);
    if (fr_recent_add(&s->recent, urow >= 0 ? s->ds.user_keys[urow] : user, row) < 0)
        return fr_fail(err, FR_ENOMEM, "out of memory for recent events");
    s->replay_kept++;
    return FR_OK;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    fr_serve_on_wake(arg);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    fr_serve *s = arg;
    (void)what;
    if (sig == SIGHUP) {
        pthread_mutex_lock(&s->wmu);
        s->reload_now = 1;
        pthread_cond_signal(&s->wcv);
        pthread_mutex_unlock(&s->wmu);
        return;
    }
    serve_log("signal %d: stopping", (int)sig);
    event_base_loopexit(s->evb, NULL);
}

fr_status fr_serve_init(fr_serve *s, const fr_serve_config *cfg, fr_err *err)
{
    fr_status st;
    fr_model first = {0};
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    s->wake_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->wmu, NULL);
    pthread_cond_init(&s->wcv, NULL);
    fr_serve_slot_init(&s->slot);
    clock_gettime(CLOCK_MONOTONIC, &s->started);
    /* scoring threads run their products on one core each */
    fr_backend_cpu()->set_threads(1);
    if (cfg->token_file && (st = load_token(s, cfg->token_file, err)) != FR_OK)
        goto out;
    /* the data on the model's rows: the catalogue is the federation's */
    if ((st = fr_modelfile_load(&first, fr_backend_cpu(), cfg->model, err)) != FR_OK)
        goto out;
    fr_data_catalogue cat;
    fr_data_catalogue_from_model(&cat, &first);
    fr_data_options opt = cfg->data_cli.opt;
    opt.catalogue = &cat;
    if ((st = fr_dataset_load(&s->ds, cfg->data, cfg->format, first.cfg.num_tokens,
                              first.cfg.token_vocab, &opt, err)) != FR_OK)
        goto out;
    fr_recall_config rc = cfg->recall;
    rc.strategy = FR_RECALL_ITEMCF; /* histories, popularity and similarities; no model */
    rc.seq_len = cfg->seq_len;
    rc.threads = cfg->workers;
    if ((st = fr_recall_init(&s->base, &s->ds, NULL, &rc, err)) != FR_OK ||
        (st = fr_item_index_init(&s->items, &s->ds, err)) != FR_OK ||
        (st = fr_recent_init(&s->recent, cfg->recent_users, cfg->recent_per_user, err)) != FR_OK)
        goto out;
    /* small catalogues are scanned whole: an index would save little and lose recall */
    if (strcmp(cfg->index, "ivf") == 0 && s->ds.num_items - 1 >= cfg->ivf_min_items)
        s->ivf = &s->cfg.ivf;
    fr_serve_model *m = NULL;
    /* without the SIMD kernel the int8 scan is many times slower than the float one */
    s->q8 = strcmp(cfg->scan, "int8") == 0 ||
            (strcmp(cfg->scan, "auto") == 0 && fr_topk_q8_simd_available());
    if ((st = fr_serve_model_load(&m, cfg->model, &s->ds, cfg->seq_len, 1, s->ivf, s->q8, err)) !=
        FR_OK)
        goto out;
    long version = m->version; /* m is the slot's from here, and may be swapped out */
    fr_serve_model_ref(m);
    s->cat = m; /* items added since the data was written are taken up from the start */
    fr_serve_slot_set(&s->slot, m);
    long rows = 0;
    s->replay_from = 1;
    if (cfg->events_log) {
        if ((st = fr_eventlog_replay(cfg->events_log, fr_serve_replay_row, s, &rows, err)) != FR_OK)
            goto out;
        if ((st = fr_eventlog_open(&s->log, cfg->events_log, (size_t)cfg->events_max_pending,
                                   fr_serve_on_sync, s, err)) != FR_OK)
            goto out;
        s->have_log = 1;
    }
    if ((s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        st = fr_fail(err, FR_EIO, "eventfd: %s", strerror(errno));
        goto out;
    }
    if (!(s->evb = event_base_new())) {
        st = fr_fail(err, FR_ENOMEM, "cannot create the event loop");
        goto out;
    }
    fr_https_config hc = {.listen = cfg->listen,
                          .tls = cfg->tls,
                          .cert = cfg->cert,
                          .key = cfg->key,
                          .ca = cfg->ca,
                          .crl = cfg->crl,
                          .require_client_cert = cfg->require_client_cert,
                          .max_body = (size_t)cfg->max_body,
                          .header_deadline_s = cfg->header_deadline,
                          .max_conns = cfg->max_conns};
    if ((st = fr_https_init(&s->https, s->evb, &hc, fr_serve_handle, s, err)) != FR_OK)
        goto out;
    s->wake_ev = event_new(s->evb, s->wake_fd, EV_READ | EV_PERSIST, on_wake, s);
    const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
    for (int i = 0; i < 3; i++)
        if (!(s->sig_ev[i] = evsignal_new(s->evb, sigs[i], on_signal, s)) ||
            event_add(s->sig_ev[i], NULL) != 0) {
            st = fr_fail(err, FR_ENOMEM, "cannot watch signals");
            goto out;
        }
    if (!s->wake_ev || event_add(s->wake_ev, NULL) != 0) {
        st = fr_fail(err, FR_ENOMEM, "cannot watch the wake-up descriptor");
        goto out;
    }
    if (!(s->threads = calloc((size_t)cfg->workers, sizeof *s->threads))) {
        st = fr_fail(err, FR_ENOMEM, "out of memory");
        goto out;
    }
    for (; s->n_threads < cfg->workers; s->n_threads++)
        if (pthread_create(&s->threads[s->n_threads], NULL, fr_serve_worker_main, s) != 0) {
            st = fr_fail(err, FR_ENOMEM, "cannot start scoring thread %d", s->n_threads + 1);
            goto out;
        }
    if (pthread_create(&s->watcher, NULL, watcher_main, s) != 0) {
        st = fr_fail(err, FR_ENOMEM, "cannot start the model watcher");
        goto out;
    }
    s->have_watcher = 1;
    /* logged once the address is bound: a bad setting fails with one line */
    serve_log("model %s: generation 1, version %ld; data %s: %d users, %d items", cfg->model,
              version, cfg->data, s->ds.num_users, s->ds.num_items - 1);
    fr_serve_model *cur = fr_serve_slot_get(&s->slot);
    log_index(s, cur);
    fr_serve_model_unref(cur);
    if (s->have_log)
        serve_log("behaviour log %s/%s: %ld events replayed", cfg->events_log, FR_EVENTLOG_FILE,
                  rows);
    serve_log("listening on %s, port %d (%s), %d x %d scoring threads", cfg->listen,
              fr_https_port(s->https),
              !cfg->tls                  ? "plain HTTP"
              : cfg->require_client_cert ? "TLS, client certificates required"
              : cfg->ca                  ? "TLS, client certificates checked when shown"
                                         : "TLS",
              cfg->workers, cfg->search_threads);
    if (s->have_token)
        serve_log("every request must carry the bearer token of %s", cfg->token_file);
out:
    fr_model_free(&first);
    return st;
}

fr_status fr_serve_run(fr_serve *s, fr_err *err)
{
    if (event_base_dispatch(s->evb) < 0)
        return fr_fail(err, FR_EIO, "the event loop failed");
    return FR_OK;
}

void fr_serve_free(fr_serve *s)
{
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->n_threads; i++)
        pthread_join(s->threads[i], NULL);
    free(s->threads);
    if (s->have_watcher) {
        pthread_mutex_lock(&s->wmu);
        s->wstop = 1;
        pthread_cond_signal(&s->wcv);
        pthread_mutex_unlock(&s->wmu);
        pthread_join(s->watcher, NULL);
    }
    /* what is pending reaches the disk; its posters are gone unacknowledged */
    if (s->have_log)
        fr_eventlog_close(&s->log);
    fr_serve_drop_jobs(s);
    fr_https_free(s->https);
    for (int i = 0; i < 3; i++)
        if (s->sig_ev[i])
            event_free(s->sig_ev[i]);
    if (s->wake_ev)
        event_free(s->wake_ev);
    if (s->evb)
        event_base_free(s->evb);
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    fr_serve_slot_free(&s->slot);
    fr_serve_model_unref(s->cat);
    fr_recent_free(&s->recent);
    fr_item_index_free(&s->items);
    fr_recall_free(&s->base);
    fr_dataset_free(&s->ds);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->wmu);
    pthread_cond_destroy(&s->wcv);
}

/* ------------------------------------------------------------ the command */

/* Whether HOST:PORT or [V6]:PORT names a loopback address (or localhost). */
static int listen_is_loopback(const char *listen)
{
    char host[64];
    const char *colon = strrchr(listen, ':');
    size_t n = colon ? (size_t)(colon - listen) : 0;
    if (n >= 2 && listen[0] == '[' && listen[n - 1] == ']') {
        listen++;
        n -= 2;
    }
    if (!colon || n == 0 || n >= sizeof host)
        return 0;
    memcpy(host, listen, n);
    host[n] = 0;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return strcmp(host, "localhost") == 0;
}

int fr_cmd_serve(int argc, char **argv)
{
    fr_serve_config cfg = {.listen = "127.0.0.1:8080",
                           .k_default = 10,
                           .k_max = 1000,
                           .max_users = 256,
                           .max_body = 4 << 20,
                           .header_deadline = 10,
                           .max_conns = 512,
                           .workers = 2,
                           .search_threads = 1,
                           .max_queue = 1024,
                           .batch_users = 64,
                           .seq_len = 50,
                           .recent_per_user = 200,
                           .recent_users = 1000000,
                           .poll_ms = 1000,
                           .index = "exact",
                           .scan = "auto",
                           .ivf_min_items = 20000,
                           .events_max_pending = 64L << 20};
    const char *config = NULL;
    int help = 0, k_default = 10;
    double events_max_pending = (double)cfg.events_max_pending;
    fr_recall_config_default(&cfg.recall);
    fr_ivf_config_default(&cfg.ivf);
    fr_data_cli_init(&cfg.data_cli);
    fr_opt opts[] = {
        {"config", FR_OPT_STR, &config, 0, 0, "INI file of these options ([serve])", 0, 0},
        {"model", FR_OPT_STR, &cfg.model, 0, 0, "model file, watched and swapped when replaced", 1,
         0},
        {"data", FR_OPT_STR, &cfg.data, 0, 0, "the site's behaviour data (histories)", 1, 0},
        {"format", FR_OPT_STR, &cfg.format, 0, 0, FR_DATA_FORMAT_HELP, 1, 0},
        {"listen", FR_OPT_STR, &cfg.listen, 0, 0, "HOST:PORT (plain HTTP only on loopback)", 0, 0},
        {"events-log", FR_OPT_STR, &cfg.events_log, 0, 0,
         "folder of the behaviour log (events.csv) for POST /v1/events", 0, 0},
        {"tls", FR_OPT_FLAG, &cfg.tls, 0, 0, "serve HTTPS (needs --cert and --key)", 0, 0},
        {"cert", FR_OPT_STR, &cfg.cert, 0, 0, "server certificate (PEM)", 0, 0},
        {"key", FR_OPT_STR, &cfg.key, 0, 0, "server key (PEM)", 0, 0},
        {"ca", FR_OPT_STR, &cfg.ca, 0, 0, "CA that client certificates must chain to", 0, 0},
        {"crl", FR_OPT_STR, &cfg.crl, 0, 0, "revocation list for client certificates", 0, 0},
        {"require-client-cert", FR_OPT_FLAG, &cfg.require_client_cert, 0, 0,
         "refuse clients without a certificate from --ca", 0, 0},
        {"token-file", FR_OPT_STR, &cfg.token_file, 0, 0,
         "file holding a bearer token every request must carry (Authorization: Bearer)", 0, 0},
        {"header-deadline", FR_OPT_INT, &cfg.header_deadline, 1, 600,
         "seconds a TLS connection has for its handshake and each request's header", 0, 0},
        {"max-connections", FR_OPT_INT, &cfg.max_conns, 8, 1000000,
         "TLS connections open at once; at the cap accepting pauses", 0, 0},
        {"k", FR_OPT_INT, &k_default, 1, 100000, "items per user when a request names no k", 0, 0},
        {"k-max", FR_OPT_INT, &cfg.k_max, 1, 100000, "the largest k a request may ask", 0, 0},
        {"max-users", FR_OPT_INT, &cfg.max_users, 1, 100000, "users of one POST /v1/recall", 0, 0},
        {"max-body", FR_OPT_INT, &cfg.max_body, 1024, 1 << 30, "bytes of a request body", 0, 0},
        {"workers", FR_OPT_INT, &cfg.workers, 1, 64, "scoring threads, each with its own batch", 0,
         0},
        {"search-threads", FR_OPT_INT, &cfg.search_threads, 1, 64,
         "threads that share a batch's scan of the catalogue", 0, 0},
        {"max-queue", FR_OPT_INT, &cfg.max_queue, 1, 1 << 20,
         "recall requests waiting; more get 503", 0, 0},
        {"batch-users", FR_OPT_INT, &cfg.batch_users, 1, 4096,
         "users a scoring thread scores together", 0, 0},
        {"seq-len", FR_OPT_INT, &cfg.seq_len, 1, 65536, "latest items the model reads (L)", 0, 0},
        {"recent-per-user", FR_OPT_INT, &cfg.recent_per_user, 1, 100000,
         "posted events kept per user for the history", 0, 0},
        {"recent-users", FR_OPT_INT, &cfg.recent_users, 1, 100000000,
         "users whose posted events are kept for the history", 0, 0},
        {"poll-ms", FR_OPT_INT, &cfg.poll_ms, 10, 3600000, "how often the model file is checked", 0,
         0},
        {"events-max-pending", FR_OPT_DOUBLE, &events_max_pending, 4096, 1e12,
         "bytes of events waiting for the disk; more get 503", 0, 0},
        {"index", FR_OPT_STR, &cfg.index, 0, 0,
         "model channel search: ivf (inverted-file index) or exact", 0, 0},
        {"scan", FR_OPT_STR, &cfg.scan, 0, 0,
         "the catalogue scan: int8 (8-bit copy, exact re-rank), float, or auto (int8 where "
         "the CPU has AVX-512 VNNI)",
         0, 0},
        {"rerank", FR_OPT_INT, &cfg.rerank, 0, 1 << 20,
         "int8: candidates re-ranked exactly (0: max(2k, 200))", 0, 0},
        {"nlist", FR_OPT_INT, &cfg.ivf.nlist, 0, 1 << 20,
         "ivf: lists (0: the square root of the item count)", 0, 0},
        {"nprobe", FR_OPT_INT, &cfg.ivf.nprobe, 1, 1 << 20,
         "ivf: lists a request reads unless it names its own", 0, 0},
        {"ivf-iters", FR_OPT_INT, &cfg.ivf.iters, 1, 1000, "ivf: k-means iterations", 0, 0},
        {"ivf-min-items", FR_OPT_INT, &cfg.ivf_min_items, 0, 1 << 30,
         "ivf: smaller catalogues are searched exactly", 0, 0},
        {"cf-window", FR_OPT_INT, &cfg.recall.cf_window, 1, 1000,
         "itemcf: pairs at most this far apart", 0, 0},
        {"cf-neighbours", FR_OPT_INT, &cfg.recall.cf_neighbours, 1, 100000,
         "itemcf: neighbours per item", 0, 0},
        {"cf-recent", FR_OPT_INT, &cfg.recall.cf_recent, 1, 100000,
         "itemcf: latest events that vote", 0, 0},
        {"half-life", FR_OPT_DOUBLE, &cfg.recall.pop_half_life, 1e-6, 1e12,
         "popular: half-life in a user's own events", 0, 0},
        FR_DATA_CLI_OPTS(cfg.data_cli),
        {"help", FR_OPT_FLAG, &help, 0, 0, "show this help", 0, 0},
        {0},
    };
    if (fr_opts_handle_help(argc, argv,
                            "fedrecall-node serve [--config FILE] --model FILE --data PATH "
                            "--format FMT [--listen HOST:PORT] [--events-log DIR] [OPTIONS]",
                            opts,
                            "fedrecall-node serve --model state/global.frm --data shop-a-data "
                            "--format movielens-csv --listen 127.0.0.1:8080 --events-log "
                            "shop-a-events"))
        return 0;
    fr_err err = {{0}};
    fr_opts_file file = {0};
    fr_serve s;
    int rc = 1, started = 0;
    fr_status st = fr_opts_parse_config(opts, argc, argv, &file, &err);
    if (st != FR_OK) {
        rc = fr_cmd_fail("serve", st, err.msg);
        goto out;
    }
    fr_data_cli_finish(&cfg.data_cli);
    cfg.k_default = k_default;
    cfg.events_max_pending = (long)events_max_pending;
    if (strcmp(cfg.index, "ivf") != 0 && strcmp(cfg.index, "exact") != 0) {
        rc = fr_cmd_fail("serve", FR_EINVAL, "--index must be ivf or exact");
        goto out;
    }
    if (strcmp(cfg.scan, "int8") != 0 && strcmp(cfg.scan, "float") != 0 &&
        strcmp(cfg.scan, "auto") != 0) {
        rc = fr_cmd_fail("serve", FR_EINVAL, "--scan must be auto, int8 or float");
        goto out;
    }
    if (cfg.k_default > cfg.k_max) {
        rc = fr_cmd_fail("serve", FR_EINVAL, "--k is larger than --k-max");
        goto out;
    }
    /* beyond this machine, who may ask must be known: a client certificate or a token */
    if (!listen_is_loopback(cfg.listen) && !(cfg.tls && cfg.require_client_cert && cfg.ca) &&
        !cfg.token_file) {
        rc = fr_cmd_fail("serve", FR_EINVAL,
                         "--listen beyond loopback needs --tls with --require-client-cert and "
                         "--ca, or --token-file");
        goto out;
    }
    started = 1;
    if ((st = fr_serve_init(&s, &cfg, &err)) != FR_OK || (st = fr_serve_run(&s, &err)) != FR_OK) {
        rc = fr_cmd_fail("serve", st, err.msg);
        goto out;
    }
    rc = 0;
out:
    if (started)
        fr_serve_free(&s);
    fr_opts_file_free(&file);
    return rc;
}
