/* The recall server's core: model snapshots and their reference counts (a reader
 * keeps the snapshot it took across swaps; readers see generations only grow), the
 * behaviour log (rows on disk once their ticket is reported, a torn last line cut at
 * reopening, the cap on pending bytes, replay), recent events per user, and batch
 * scoring against fr_recall for the same model and data. */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/fr_backend.h"
#include "data/fr_eventlog.h"
#include "nn/fr_modelfile.h"
#include "recall/fr_recall.h"
#include "recall/fr_recent.h"
#include "recall/fr_serve_model.h"
#include "recall/fr_serve_score.h"
#include "data/fr_synth.h"
#include "fr_test.h"
#include "recall/fr_topk_packed.h"
#include "fr_test_fixture.h"

#define L_ 8

static char dir[64];
static fr_dataset ds;
static int have_data;

/* Synthetic data and two model files over its catalogue (seeds 1 and 2). */
static int setup(void)
{
    fr_err err = {{0}};
    fr_synth_config sc;
    fr_synth_config_default(&sc);
    sc.users = 60;
    sc.items = 50;
    sc.clusters = 3;
    char data[128], path[128];
    if (!fixture_dir(dir, sizeof dir))
        return 0;
    snprintf(data, sizeof data, "%s/data", dir);
    if (fr_synth_write(&sc, data, &err) != FR_OK ||
        fr_dataset_load(&ds, data, "movielens-csv", 4, 64, NULL, &err) != FR_OK) {
        CHECK(0, "%s", err.msg);
        return 0;
    }
    have_data = 1;
    for (int seed = 1; seed <= 2; seed++) {
        fr_model m = {0};
        fr_model_config mc = {ds.num_items, 64, 4, 8, 4};
        snprintf(path, sizeof path, "%s/m%d.frm", dir, seed);
        if (fr_model_init(&m, &mc, fr_backend_cpu(), ds.tokens, ds.item_ids, &err) != FR_OK) {
            CHECK(0, "%s", err.msg);
            return 0;
        }
        fr_model_init_params(&m, (uint64_t)seed);
        fr_status st = fr_modelfile_save(&m, path, 0, &err);
        fr_model_free(&m);
        if (st != FR_OK) {
            CHECK(0, "%s", err.msg);
            return 0;
        }
    }
    return 1;
}

static void path_of(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir, name);
}

static void test_snapshot_refcount(void)
{
    fr_err err = {{0}};
    char p1[128], p2[128];
    path_of(p1, sizeof p1, "m1.frm");
    path_of(p2, sizeof p2, "m2.frm");
    fr_serve_model *a = NULL, *b = NULL;
    CHECK(fr_serve_model_load(&a, p1, &ds, L_, 1, NULL, 0, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_serve_model_load(&b, p2, &ds, L_, 2, NULL, 0, &err) == FR_OK, "%s", err.msg);
    if (!a || !b)
        return;
    CHECK(a->refs == 1 && a->generation == 1 && a->version == -1, "refs %d gen %ld version %ld",
          a->refs, a->generation, a->version);
    fr_serve_slot slot;
    fr_serve_slot_init(&slot);
    fr_serve_slot_set(&slot, a); /* the slot holds a's reference */
    fr_serve_model *held = fr_serve_slot_get(&slot);
    CHECK(held == a && a->refs == 2, "get: refs %d", a->refs);
    fr_serve_slot_set(&slot, b); /* a stays alive for its holder */
    CHECK(a->refs == 1, "after the swap a has %d references", a->refs);
    int d = a->model.cfg.dim;
    float sum = 0;
    for (int i = 0; i < a->model.cfg.num_items * d; i++)
        sum += a->item_vecs[i];
    CHECK(sum == sum, "the held snapshot's vectors are readable");
    fr_serve_model *now = fr_serve_slot_get(&slot);
    CHECK(now == b && now->generation == 2, "current generation %ld", now ? now->generation : 0);
    fr_serve_model_unref(now);
    fr_serve_model_unref(held); /* frees a (ASan checks it is not touched again) */
    fr_serve_slot_free(&slot);  /* frees b */
}

static void test_snapshot_version_and_catalogue(void)
{
    fr_err err = {{0}};
    char p[128], sig[128];
    path_of(p, sizeof p, "v.frm");
    path_of(sig, sizeof sig, "v.sig");
    /* the signature first, then the model, as `run` writes them */
    FILE *f = fopen(sig, "w");
    CHECK(f && fprintf(f, "7 00ff\n") > 0 && fclose(f) == 0, "write %s", sig);
    fr_model m = {0};
    fr_model_config mc = {ds.num_items, 64, 4, 8, 4};
    CHECK(fr_model_init(&m, &mc, fr_backend_cpu(), ds.tokens, ds.item_ids, &err) == FR_OK, "%s",
          err.msg);
    fr_model_init_params(&m, 3);
    CHECK(fr_modelfile_save(&m, p, 0, &err) == FR_OK, "%s", err.msg);
    fr_model_free(&m);
    fr_serve_model *s = NULL;
    CHECK(fr_serve_model_load(&s, p, &ds, L_, 4, NULL, 0, &err) == FR_OK, "%s", err.msg);
    CHECK(s && s->version == 7 && s->generation == 4, "version %ld", s ? s->version : -2);
    int e = 0;
    CHECK(s && !fr_serve_model_changed(p, &s->file, &e) && e == 0, "unchanged file seen as new");
    fr_serve_model_unref(s);
    /* a signature newer than the model belongs to the next model: no version */
    struct timespec later[2] = {{0, UTIME_OMIT}, {0, 0}};
    struct stat st;
    CHECK(stat(p, &st) == 0, "stat");
    later[1].tv_sec = st.st_mtim.tv_sec + 10;
    CHECK(utimensat(AT_FDCWD, sig, later, 0) == 0, "utimensat");
    s = NULL;
    CHECK(fr_serve_model_load(&s, p, &ds, L_, 5, NULL, 0, &err) == FR_OK, "%s", err.msg);
    CHECK(s && s->version == -1, "version %ld from a newer signature", s ? s->version : -2);
    fr_serve_model_unref(s);
    /* a model of another catalogue is refused */
    mc.num_items = ds.num_items - 1;
    CHECK(fr_model_init(&m, &mc, fr_backend_cpu(), ds.tokens, ds.item_ids, &err) == FR_OK, "%s",
          err.msg);
    CHECK(fr_modelfile_save(&m, p, 0, &err) == FR_OK, "%s", err.msg);
    fr_model_free(&m);
    s = NULL;
    CHECK(fr_serve_model_load(&s, p, &ds, L_, 6, NULL, 0, &err) == FR_EINVAL && !s,
          "other catalogue");
}

/* Readers take and release the current snapshot while the main thread swaps: each
 * sees generations that never go back, and every snapshot it holds stays whole. */
typedef struct reader_arg {
    fr_serve_slot *slot;
    int bad;
    long last;
    int stop;
} reader_arg;

static void *reader(void *p)
{
    reader_arg *a = p;
    while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE)) {
        fr_serve_model *m = fr_serve_slot_get(a->slot);
        if (m->generation < a->last ||
            m->item_vecs[m->model.cfg.dim] != m->item_vecs[m->model.cfg.dim])
            a->bad++;
        a->last = m->generation;
        fr_serve_model_unref(m);
    }
    return NULL;
}

static void test_swap_under_readers(void)
{
    fr_err err = {{0}};
    char p[2][128];
    path_of(p[0], sizeof p[0], "m1.frm");
    path_of(p[1], sizeof p[1], "m2.frm");
    fr_serve_slot slot;
    fr_serve_slot_init(&slot);
    fr_serve_model *m = NULL;
    CHECK(fr_serve_model_load(&m, p[0], &ds, L_, 1, NULL, 0, &err) == FR_OK, "%s", err.msg);
    if (!m)
        return;
    fr_serve_slot_set(&slot, m);
    reader_arg a[2] = {{&slot, 0, 0, 0}, {&slot, 0, 0, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, reader, &a[i]) == 0, "thread");
    for (long g = 2; g <= 12; g++) {
        fr_serve_model *n = NULL;
        CHECK(fr_serve_model_load(&n, p[g % 2], &ds, L_, g, NULL, 0, &err) == FR_OK, "%s", err.msg);
        if (n)
            fr_serve_slot_set(&slot, n);
    }
    for (int i = 0; i < 2; i++) {
        __atomic_store_n(&a[i].stop, 1, __ATOMIC_RELEASE);
        pthread_join(t[i], NULL);
        CHECK(a[i].bad == 0, "reader %d saw %d bad snapshots", i, a[i].bad);
    }
    fr_serve_model *last = fr_serve_slot_get(&slot);
    CHECK(last->generation == 12 && last->refs == 2, "gen %ld refs %d", last->generation,
          last->refs);
    fr_serve_model_unref(last);
    fr_serve_slot_free(&slot);
}

/* ---------- the behaviour log ---------- */

typedef struct rows {
    int n;
    char user[8][64], item[8][64], event[8][64];
    double ts[8];
} rows;

static fr_status collect(void *ctx, const char *user, const char *item, double ts,
                         const char *event, fr_err *err)
{
    rows *r = ctx;
    (void)err;
    if (r->n < 8) {
        snprintf(r->user[r->n], 64, "%s", user);
        snprintf(r->item[r->n], 64, "%s", item);
        snprintf(r->event[r->n], 64, "%s", event);
        r->ts[r->n] = ts;
    }
    r->n++;
    return FR_OK;
}

static void test_evlog_round_trip(void)
{
    fr_err err = {{0}};
    char ev[128], row[512];
    path_of(ev, sizeof ev, "ev1");
    fr_eventlog log;
    CHECK(fr_eventlog_open(&log, ev, 0, NULL, NULL, &err) == FR_OK, "%s", err.msg);
    uint64_t t1 = 0, t2 = 0;
    size_t n = fr_eventlog_format(row, sizeof row, "u\"1", "i,7", 1700000000, "click", NAN);
    CHECK(fr_eventlog_append(&log, row, n, &t1, &err) == FR_OK, "%s", err.msg);
    n = fr_eventlog_format(row, sizeof row, "u2", "i8", 1.5, NULL, 4.0);
    CHECK(fr_eventlog_append(&log, row, n, &t2, &err) == FR_OK, "%s", err.msg);
    CHECK(t2 > t1, "tickets %llu then %llu", (unsigned long long)t1, (unsigned long long)t2);
    CHECK(fr_eventlog_wait(&log, t2, &err) == FR_OK && log.committed >= t2, "wait");
    fr_eventlog_close(&log);
    rows r = {0};
    long count = 0;
    CHECK(fr_eventlog_replay(ev, collect, &r, &count, &err) == FR_OK, "%s", err.msg);
    CHECK(count == 2 && r.n == 2, "%ld rows", count);
    CHECK(!strcmp(r.user[0], "u\"1") && !strcmp(r.item[0], "i,7") && r.ts[0] == 1700000000 &&
              !strcmp(r.event[0], "click"),
          "row 1: %s %s %g %s", r.user[0], r.item[0], r.ts[0], r.event[0]);
    CHECK(!strcmp(r.user[1], "u2") && r.ts[1] == 1.5 && !strcmp(r.event[1], ""), "row 2");
    /* the file is events-csv that the data reader takes */
    fr_dataset d = {0};
    CHECK(fr_dataset_load(&d, ev, "events-csv", 4, 64, NULL, &err) == FR_OK && d.interactions == 2,
          "events-csv: %s", err.msg);
    fr_dataset_free(&d);
}

static void test_evlog_torn_tail_and_cap(void)
{
    fr_err err = {{0}};
    char ev[128], file[160], row[512];
    path_of(ev, sizeof ev, "ev2");
    snprintf(file, sizeof file, "%s/%s", ev, FR_EVENTLOG_FILE);
    fr_eventlog log;
    CHECK(fr_eventlog_open(&log, ev, 600, NULL, NULL, &err) == FR_OK, "%s", err.msg);
    uint64_t t = 0;
    size_t n = fr_eventlog_format(row, sizeof row, "a", "b", 3, "view", NAN);
    CHECK(fr_eventlog_append(&log, row, n, &t, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_eventlog_wait(&log, t, &err) == FR_OK, "%s", err.msg);
    /* more than max_pending at once is refused: the caller answers 503 */
    char big[700];
    memset(big, 'x', sizeof big);
    CHECK(fr_eventlog_append(&log, big, sizeof big, &t, &err) == FR_ENOMEM, "cap not enforced");
    fr_eventlog_close(&log);
    /* a crash in the middle of a write leaves a partial row */
    FILE *f = fopen(file, "a");
    CHECK(f && fputs("\"c\",\"d\",4", f) >= 0 && fclose(f) == 0, "append a torn row");
    CHECK(fr_eventlog_open(&log, ev, 0, NULL, NULL, &err) == FR_OK, "%s", err.msg);
    n = fr_eventlog_format(row, sizeof row, "e", "f", 5, NULL, NAN);
    CHECK(fr_eventlog_append(&log, row, n, &t, &err) == FR_OK &&
              fr_eventlog_wait(&log, t, &err) == FR_OK,
          "%s", err.msg);
    fr_eventlog_close(&log);
    rows r = {0};
    long count = 0;
    CHECK(fr_eventlog_replay(ev, collect, &r, &count, &err) == FR_OK, "%s", err.msg);
    CHECK(count == 2 && !strcmp(r.user[0], "a") && !strcmp(r.user[1], "e"),
          "%ld rows after the cut: %s %s", count, r.user[0], r.user[1]);
    /* a file that is not a behaviour log is not appended to */
    char other[128];
    path_of(other, sizeof other, "data");
    char ratings[160];
    snprintf(ratings, sizeof ratings, "%s/ratings.csv", other);
    CHECK(rename(ratings, file) == 0, "rename");
    CHECK(fr_eventlog_open(&log, ev, 0, NULL, NULL, &err) == FR_EFORMAT, "foreign file accepted");
    CHECK(rename(file, ratings) == 0, "rename back");
}

/* Threads append at once: every row is on disk once its ticket is, none twice. */
typedef struct app_arg {
    fr_eventlog *log;
    int id, fails;
} app_arg;

static void *appender(void *p)
{
    app_arg *a = p;
    char row[128], user[16];
    for (int i = 0; i < 200; i++) {
        uint64_t t;
        fr_err err;
        snprintf(user, sizeof user, "t%d", a->id);
        size_t n = fr_eventlog_format(row, sizeof row, user, "x", i, NULL, NAN);
        if (fr_eventlog_append(a->log, row, n, &t, &err) != FR_OK ||
            fr_eventlog_wait(a->log, t, &err) != FR_OK)
            a->fails++;
    }
    return NULL;
}

static fr_status count_by_user(void *ctx, const char *user, const char *item, double ts,
                               const char *event, fr_err *err)
{
    int *c = ctx;
    (void)item, (void)event, (void)err;
    int id = user[1] - '0';
    if (id >= 0 && id < 4 && ts == c[4 + id])
        c[id]++;
    c[4 + id]++; /* the next timestamp expected: each thread's rows stay in order */
    return FR_OK;
}

static void test_evlog_concurrent(void)
{
    fr_err err = {{0}};
    char ev[128];
    path_of(ev, sizeof ev, "ev3");
    fr_eventlog log;
    CHECK(fr_eventlog_open(&log, ev, 0, NULL, NULL, &err) == FR_OK, "%s", err.msg);
    pthread_t t[4];
    app_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (app_arg){&log, i, 0};
        CHECK(pthread_create(&t[i], NULL, appender, &a[i]) == 0, "thread");
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(a[i].fails == 0, "thread %d: %d failures", i, a[i].fails);
    }
    CHECK(log.committed == 800 && log.syncs >= 1 && log.syncs <= 800, "committed %llu syncs %llu",
          (unsigned long long)log.committed, (unsigned long long)log.syncs);
    fr_eventlog_close(&log);
    int c[8] = {0};
    long count = 0;
    CHECK(fr_eventlog_replay(ev, count_by_user, c, &count, &err) == FR_OK && count == 800,
          "%ld rows", count);
    for (int i = 0; i < 4; i++)
        CHECK(c[i] == 200, "thread %d: %d rows in order", i, c[i]);
}

static void test_recent(void)
{
    fr_err err = {{0}};
    fr_recent r;
    int32_t out[8];
    CHECK(fr_recent_init(&r, 2, 3, &err) == FR_OK, "%s", err.msg);
    for (int i = 1; i <= 5; i++)
        CHECK(fr_recent_add(&r, "ann", i) == 1, "add");
    int n = fr_recent_get(&r, "ann", out, 8);
    CHECK(n == 3 && out[0] == 3 && out[1] == 4 && out[2] == 5, "ring: %d rows %d %d %d", n, out[0],
          out[1], out[2]);
    n = fr_recent_get(&r, "ann", out, 2);
    CHECK(n == 2 && out[0] == 4 && out[1] == 5, "newest 2: %d %d", out[0], out[1]);
    CHECK(fr_recent_add(&r, "bob", 9) == 1 && fr_recent_add(&r, "cy", 9) == 0, "max users");
    CHECK(fr_recent_get(&r, "cy", out, 8) == 0 && fr_recent_get(&r, "bob", out, 8) == 1, "get");
    for (int i = 0; i < 3000; i++) { /* growth of the table keeps every user */
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        (void)fr_recent_add(&r, k, i + 1);
    }
    CHECK(fr_recent_get(&r, "ann", out, 8) == 3, "ann kept");
    fr_recent_free(&r);
    CHECK(fr_recent_init(&r, 1000, 2, &err) == FR_OK, "%s", err.msg);
    for (int i = 0; i < 1000; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        CHECK(fr_recent_add(&r, k, i + 1) == 1, "add %d", i);
    }
    int ok = 1;
    for (int i = 0; i < 1000; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        ok &= fr_recent_get(&r, k, out, 8) == 1 && out[0] == i + 1;
    }
    CHECK(ok, "every user found after growth");
    fr_recent_free(&r);
}

/* ---------- scoring ---------- */

static void test_score_equals_recall(void)
{
    fr_err err = {{0}};
    char p[128];
    path_of(p, sizeof p, "m1.frm");
    fr_serve_model *m = NULL;
    CHECK(fr_serve_model_load(&m, p, &ds, L_, 1, NULL, 0, &err) == FR_OK, "%s", err.msg);
    if (!m)
        return;
    fr_model model = {0};
    fr_nn net = {0};
    CHECK(fr_modelfile_load(&model, fr_backend_cpu(), p, &err) == FR_OK &&
              fr_nn_init(&net, &model, 256, L_, 1, &err) == FR_OK,
          "%s", err.msg);
    fr_recall_config base_cfg;
    fr_recall_config_default(&base_cfg);
    base_cfg.strategy = FR_RECALL_ITEMCF;
    base_cfg.seq_len = L_;
    fr_recall base;
    CHECK(fr_recall_init(&base, &ds, NULL, &base_cfg, &err) == FR_OK, "%s", err.msg);
    fr_serve_worker w;
    CHECK(fr_serve_worker_init(&w, &base, 2, &err) == FR_OK, "%s", err.msg);
    enum { N = 6, K = 7 };
    int32_t users[N] = {0, 1, 5, 17, 33, 59};
    for (int s = 0; s < 4; s++) {
        fr_recall_config c = base_cfg;
        c.strategy = (fr_recall_strategy)s;
        c.k = K;
        fr_recall r;
        fr_recall_hit want[N * K], got[N * K];
        int wn[N], gn[N];
        CHECK(fr_recall_init(&r, &ds, &net, &c, &err) == FR_OK, "%s", err.msg);
        CHECK(fr_recall_users(&r, users, N, want, wn, &err) == FR_OK, "%s", err.msg);
        fr_serve_query q[N];
        for (int i = 0; i < N; i++)
            q[i] = (fr_serve_query){users[i], NULL, 0, (fr_recall_strategy)s, K, 0, 0, 0, 0};
        CHECK(fr_serve_score(&base, m, &w, q, N, got, gn, &err) == FR_OK, "%s", err.msg);
        int same = 1;
        for (int i = 0; i < N; i++) {
            same &= wn[i] == gn[i];
            for (int j = 0; same && j < wn[i]; j++)
                same &= want[i * K + j].row == got[i * K + j].row &&
                        want[i * K + j].source == got[i * K + j].source &&
                        fr_rel_err(want[i * K + j].score, got[i * K + j].score) < 1e-5;
        }
        CHECK(same, "strategy %d: server and recall differ", s);
        fr_recall_free(&r);
    }
    /* a user the data lacks whose posted events are user 5's history gets user 5's
     * list; an unknown user without events gets the popular fallback */
    const int32_t *h5 = base.hist + base.hist_off[5];
    int n5 = (int)(base.hist_off[6] - base.hist_off[5]);
    fr_serve_query q[3] = {{5, NULL, 0, FR_RECALL_MIX, K, 0, 0, 0, 0},
                           {-1, h5, n5, FR_RECALL_MIX, K, 0, 0, 0, 0},
                           {-1, NULL, 0, FR_RECALL_MODEL, K, 0, 0, 0, 0}};
    fr_recall_hit got[3 * K];
    int gn[3];
    CHECK(fr_serve_score(&base, m, &w, q, 3, got, gn, &err) == FR_OK, "%s", err.msg);
    int same = gn[0] == gn[1];
    for (int j = 0; same && j < gn[0]; j++)
        same &= got[j].row == got[K + j].row && got[j].source == got[K + j].source;
    CHECK(same, "history from events differs from the same history in the data");
    CHECK(gn[2] == K && got[2 * K].source == FR_SRC_POPULAR_FALLBACK, "fallback");
    /* posted items are not recommended back */
    int32_t extra[2] = {got[0].row, got[1].row};
    fr_serve_query q2 = {5, extra, 2, FR_RECALL_MODEL, K, 0, 0, 0, 0};
    CHECK(fr_serve_score(&base, m, &w, &q2, 1, got, gn, &err) == FR_OK, "%s", err.msg);
    for (int j = 0; j < gn[0]; j++)
        CHECK(got[j].row != extra[0] && got[j].row != extra[1], "seen item %d returned",
              got[j].row);
    /* no model: model queries are refused, the others served */
    fr_serve_query q3 = {5, NULL, 0, FR_RECALL_MODEL, K, 0, 0, 0, 0};
    CHECK(fr_serve_score(&base, NULL, &w, &q3, 1, got, gn, &err) == FR_EINVAL, "no model");
    q3.strategy = FR_RECALL_POPULAR;
    CHECK(fr_serve_score(&base, NULL, &w, &q3, 1, got, gn, &err) == FR_OK, "%s", err.msg);
    fr_serve_worker_free(&w);
    fr_recall_free(&base);
    fr_nn_free(&net);
    fr_model_free(&model);
    fr_serve_model_unref(m);
}

/* The packed search keeps what fr_topk_search keeps, exclusions and floors included,
 * for 1 to 9 users (whole groups and the rest) and 1 to 3 threads, over a catalogue
 * that is not a whole number of panels or blocks. */
static void test_packed_equals_search(void)
{
    fr_err err = {{0}};
    enum { V = 2500, D = 24, K = 30 };
    float *items = malloc(sizeof(float) * V * D), users[9 * D];
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < V * D; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        items[i] = (float)((double)(x >> 11) / 9007199254740992.0 - 0.5);
    }
    for (int i = 0; i < 9 * D; i++)
        users[i] = items[(size_t)(i * 7 + 3) % (V * D)] * 2.0f;
    fr_topk_packed p;
    CHECK(fr_topk_pack(&p, items, V, D, &err) == FR_OK, "%s", err.msg);
    int32_t ex[3] = {5, 700, 2499};
    for (int n = 1; n <= 9; n++) {
        fr_topk a[9], b[9];
        fr_topk_excl e[9];
        for (int i = 0; i < n; i++) {
            e[i] = (fr_topk_excl){ex, i % 2 ? 3 : 0};
            CHECK(fr_topk_init(&a[i], K, &err) == FR_OK && fr_topk_init(&b[i], K, &err) == FR_OK,
                  "init");
            fr_topk_reset(&a[i], i == 2 ? 0.1f : -INFINITY);
            fr_topk_reset(&b[i], i == 2 ? 0.1f : -INFINITY);
        }
        CHECK(fr_topk_search(items, V, D, users, n, e, 1, a, &err) == FR_OK, "%s", err.msg);
        CHECK(fr_topk_search_packed(&p, users, n, e, 1 + n % 3, b, &err) == FR_OK, "%s", err.msg);
        for (int i = 0; i < n; i++) {
            fr_topk_sort(&a[i]);
            fr_topk_sort(&b[i]);
            int same = a[i].n == b[i].n;
            for (int j = 0; same && j < a[i].n; j++)
                same =
                    a[i].row[j] == b[i].row[j] && fr_rel_err(a[i].score[j], b[i].score[j]) < 1e-5;
            CHECK(same, "n %d user %d: %d vs %d pairs", n, i, a[i].n, b[i].n);
            fr_topk_free(&a[i]);
            fr_topk_free(&b[i]);
        }
    }
    fr_topk_packed_free(&p);
    free(items);
}

int main(void)
{
    fr_backend_cpu()->set_threads(1);
    if (setup()) {
        RUN(test_snapshot_refcount);
        RUN(test_snapshot_version_and_catalogue);
        RUN(test_swap_under_readers);
        RUN(test_evlog_round_trip);
        RUN(test_evlog_torn_tail_and_cap);
        RUN(test_evlog_concurrent);
        RUN(test_recent);
        RUN(test_packed_equals_search);
        RUN(test_score_equals_recall);
    } else {
        fr_t_failed++;
        printf("not ok  setup\n");
    }
    if (have_data)
        fr_dataset_free(&ds);
    if (dir[0])
        fixture_rm(dir);
    return fr_test_end();
}
