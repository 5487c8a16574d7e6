/* Rounds: a round opens when enough nodes are live, takes one update per node until
 * the quorum or the deadline, then publishes (or aborts when too few came). Each
 * accepted update is written to the state folder and recorded before its node hears
 * "accepted", so a restarted coordinator rebuilds the open round's sum from disk. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fr_coord.h"
#include "util/fr_file.h"
#include "util/fr_log.h"
#include "fed/fr_proto.h"

double fr_coord_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void fr_coord_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fr_logv(stderr, "coordinator", fmt, ap);
    va_end(ap);
}

fr_coord_live *fr_coord_live_find(fr_coord *c, const char *node)
{
    for (int i = 0; i < c->n_live; i++)
        if (!strcmp(c->live[i].name, node))
            return &c->live[i];
    return NULL;
}

void fr_coord_seen(fr_coord *c, const char *node)
{
    double now = fr_coord_now();
    fr_coord_live *known = fr_coord_live_find(c, node);
    if (known) {
        known->last_seen = now;
        return;
    }
    fr_coord_live *grown = realloc(c->live, (size_t)(c->n_live + 1) * sizeof *grown);
    if (!grown)
        return; /* liveness is best effort; the node is seen again on its next poll */
    c->live = grown;
    fr_coord_live *l = &c->live[c->n_live++];
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", node);
    l->last_seen = now;
}

int fr_coord_is_operator(const fr_coord *c, const char *peer)
{
    const char *list = c->cfg.operators;
    if (!list || !*list)
        return 1;
    size_t n = strlen(peer);
    for (const char *p = list; *p;) {
        p += strspn(p, ", ");
        size_t len = strcspn(p, ", ");
        if (len == n && !strncmp(p, peer, n))
            return 1;
        p += len;
    }
    return 0;
}

int fr_coord_live_count(const fr_coord *c)
{
    double now = fr_coord_now();
    int n = 0;
    for (int i = 0; i < c->n_live; i++)
        n += now - c->live[i].last_seen <= c->cfg.node_timeout;
    return n;
}

static void round_dir(const fr_coord *c, long round, char *out, size_t cap)
{
    snprintf(out, cap, "%.400s/rounds/%ld", c->state_dir, round);
}

static void remove_round_files(const fr_coord *c, long round)
{
    if (c->cfg.keep_updates)
        return;
    char dir[4300], path[4500];
    round_dir(c, round, dir, sizeof dir);
    fr_update_row *rows = NULL;
    int n = 0;
    fr_err err = {{0}};
    if (fr_store_updates((fr_store *)&c->store, round, &rows, &n, &err) == FR_OK)
        for (int i = 0; i < n; i++)
            unlink(rows[i].path);
    free(rows);
    /* files of a round that crashed before recording them */
    snprintf(path, sizeof path, "%s", dir);
    rmdir(path);
}

static fr_status open_round(fr_coord *c, int live, fr_err *err)
{
    long last = 0;
    fr_status st = fr_store_last_round_id(&c->store, &last, err);
    if (st != FR_OK)
        return st;
    fr_round_row r = {0};
    r.id = last + 1;
    r.model_version = c->version;
    snprintf(r.status, sizeof r.status, "open");
    r.opened_at = fr_coord_now();
    r.deadline = r.opened_at + c->cfg.round_timeout;
    r.expected = c->cfg.quorum > 0 ? c->cfg.quorum : live;
    if ((st = fr_store_round_open(&c->store, &r, err)) != FR_OK)
        return st;
    c->round = r.id;
    c->opened_at = r.opened_at;
    c->deadline = r.deadline;
    c->expected = r.expected;
    fr_agg_reset(&c->agg);
    c->loss_sum = 0;
    fr_coord_log("round %ld open on version %ld: %d nodes live, closes at %d updates or in %d s",
                 c->round, c->version, live, c->expected, c->cfg.round_timeout);
    return FR_OK;
}

void fr_coord_round_close(fr_coord *c, const char *status, const char *note)
{
    fr_coord_secagg_end(c);
    fr_err err = {{0}};
    fr_round_row r = {0};
    int found = 0;
    if (fr_store_round_get(&c->store, c->round, &r, &found, &err) == FR_OK && found) {
        snprintf(r.status, sizeof r.status, "%s", status);
        r.closed_at = fr_coord_now();
        r.updates = c->agg.count;
        r.weight = c->agg.weight;
        snprintf(r.note, sizeof r.note, "%s", note);
        if (fr_store_round_close(&c->store, &r, &err) != FR_OK)
            fr_coord_log("round %ld: %s", c->round, err.msg);
    }
    fr_coord_log("round %ld %s: %s", c->round, status, note);
    remove_round_files(c, c->round);
    c->round = 0;
}

/* Publish the open round; a failure here means the state folder is unusable, and the
 * safe answer is to stop and let a restart resume from what is on disk. */
void fr_coord_round_publish(fr_coord *c)
{
    fr_coord_secagg_end(c);
    fr_err err = {{0}};
    long round = c->round;
    if (fr_coord_publish(c, &err) != FR_OK) {
        fr_coord_log("round %ld: publishing failed, stopping: %s", round, err.msg);
        c->failed = 1;
        event_base_loopbreak(c->base);
        return;
    }
    remove_round_files(c, round);
    c->round = 0;
    c->published++;
    if (c->cfg.keep_models > 0 && c->version - c->cfg.keep_models >= 0) {
        /* the files of versions older than the newest keep_models; their rows stay */
        char old[512];
        snprintf(old, sizeof old, "%.400s/models/model-%06ld.frm", c->state_dir,
                 c->version - c->cfg.keep_models);
        unlink(old);
        snprintf(old, sizeof old, "%.400s/models/server-opt-%06ld.bin", c->state_dir,
                 c->version - c->cfg.keep_models);
        unlink(old);
    }
    if (c->cfg.rounds > 0 && c->published >= c->cfg.rounds) {
        c->done = 1;
        fr_coord_log("federation finished: %ld rounds published", c->published);
    }
}

static void tick(fr_coord *c);

void fr_coord_tick(fr_coord *c)
{
    tick(c);
    /* a step closed, a round ended, or a held request waited long enough */
    fr_coord_secagg_wake(c);
}

static void tick(fr_coord *c)
{
    fr_err err = {{0}};
    double now = fr_coord_now();
    /* write liveness to the store now and then, not on every poll */
    for (int i = 0; i < c->n_live; i++)
        if (c->live[i].last_seen - c->live[i].stored_at > 5) {
            fr_node_row n;
            int found = 0;
            if (fr_store_node_get(&c->store, c->live[i].name, &n, &found, &err) == FR_OK &&
                found) {
                n.last_seen = c->live[i].last_seen;
                if (fr_store_node_seen(&c->store, &n, &err) != FR_OK)
                    fr_coord_log("store: %s", err.msg);
            }
            c->live[i].stored_at = c->live[i].last_seen;
        }
    if (c->round && c->sa.on) {
        fr_coord_secagg_tick(c);
    } else if (c->round) {
        if (c->agg.count >= c->expected) {
            fr_coord_round_publish(c);
        } else if (now >= c->deadline) {
            if (c->agg.count >= c->cfg.min_updates) {
                fr_coord_log("round %ld: deadline with %d of %d updates; publishing", c->round,
                             c->agg.count, c->expected);
                fr_coord_round_publish(c);
            } else {
                char note[128];
                snprintf(note, sizeof note, "deadline passed with %d of %d updates (%d needed)",
                         c->agg.count, c->expected, c->cfg.min_updates);
                fr_coord_round_close(c, "aborted", note);
            }
        }
    }
    if (c->round) /* still collecting */
        return;
    /* a closed round is followed at once by the next, not a timer tick later */
    if (c->done || c->failed)
        return;
    int secure = fr_coord_secagg_enabled(c);
    /* a secure round's members are the nodes able to take part in one */
    int live = secure ? fr_coord_secagg_eligible(c) : fr_coord_live_count(c);
    if (live < c->cfg.min_nodes || (secure && live < 2))
        return;
    if (open_round(c, live, &err) != FR_OK) {
        fr_coord_log("cannot open a round: %s", err.msg);
        return;
    }
    if (secure && fr_coord_secagg_open(c, &err) != FR_OK)
        fr_coord_round_close(c, "aborted", err.msg);
}


int fr_coord_take_update(fr_coord *c, const char *node, const uint8_t *body, size_t len,
                         char *reason, size_t cap)
{
    fr_err err = {{0}};
    fr_proto_update u;
    fr_status st = fr_proto_update_decode(body, len, c->model.n, &u, &err);
    if (st != FR_OK) {
        snprintf(reason, cap, "%s", err.msg);
        return st == FR_EINVAL ? 422 : 400; /* malformed, or well formed for another model */
    }
    if (!c->round) {
        snprintf(reason, cap, "round %lld is closed; no round is open", (long long)u.round);
        return 409;
    }
    if (c->sa.on) {
        snprintf(reason, cap, "round %ld uses secure aggregation: send masked updates to "
                 "/v1/secagg/masked", c->round);
        return 409;
    }
    if (u.round != c->round) {
        snprintf(reason, cap, "round %lld is not the open round %ld", (long long)u.round,
                 c->round);
        return 409;
    }
    if (u.model_version != c->version) {
        snprintf(reason, cap, "stale update: trained from version %lld, round %ld is on %ld",
                 (long long)u.model_version, c->round, c->version);
        return 409;
    }
    double expect_w = !strcmp(c->cfg.weighting, "windows") ? (double)u.windows : (double)u.users;
    if (expect_w < 1)
        expect_w = 1;
    if (u.weight != expect_w) {
        /* a weight is what the node trained on, not a vote it may raise */
        snprintf(reason, cap, "weight %g is not the update's %s count (%g)", u.weight,
                 c->cfg.weighting, expect_w);
        return 422;
    }
    fr_node_row joined;
    int known = 0;
    if (fr_store_node_get(&c->store, node, &joined, &known, &err) != FR_OK) {
        snprintf(reason, cap, "%s", err.msg);
        return 500;
    }
    if (!known) {
        snprintf(reason, cap, "node %s has not joined (POST /v1/join first)", node);
        return 409;
    }
    int exists = 0;
    if (fr_store_update_exists(&c->store, c->round, node, &exists, &err) != FR_OK) {
        snprintf(reason, cap, "%s", err.msg);
        return 500;
    }
    if (exists) {
        snprintf(reason, cap, "duplicate update from %s for round %ld", node, c->round);
        return 409;
    }
    double norm = 0;
    if (fr_agg_check_le(u.delta, u.n, c->cfg.max_update_norm, &norm, &err) != FR_OK) {
        snprintf(reason, cap, "%s", err.msg);
        return 422;
    }
    char dir[440], path[512];
    snprintf(dir, sizeof dir, "%.400s/rounds", c->state_dir);
    mkdir(dir, 0700);
    round_dir(c, c->round, dir, sizeof dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(reason, cap, "%s: %s", dir, strerror(errno));
        return 500;
    }
    snprintf(path, sizeof path, "%s/%.63s.update", dir, node);
    if (fr_file_write_atomic(path, body, len, 0600, &err) != FR_OK) {
        snprintf(reason, cap, "%s", err.msg);
        return 500;
    }
    fr_update_row row = {.round = c->round, .weight = u.weight, .loss = u.loss, .norm = norm,
                         .users = u.users, .windows = u.windows, .received_at = fr_coord_now()};
    snprintf(row.node, sizeof row.node, "%s", node);
    snprintf(row.path, sizeof row.path, "%s", path);
    if (fr_store_update_add(&c->store, &row, &err) != FR_OK ||
        fr_store_node_accepted(&c->store, node, &err) != FR_OK) {
        snprintf(reason, cap, "%s", err.msg);
        return 500;
    }
    fr_agg_add_le(&c->agg, u.delta, u.weight);
    c->loss_sum += u.weight * u.loss;
    c->stats.update_bytes += (double)len;
    fr_coord_log("round %ld: update from %s accepted (%d of %d; weight %.0f, norm %.4g, loss %.4f)",
                 c->round, node, c->agg.count, c->expected, u.weight, norm, u.loss);
    return 200;
}

fr_status fr_coord_resume_round(fr_coord *c, fr_err *err)
{
    fr_round_row r;
    int found = 0;
    fr_status st = fr_store_round_open_get(&c->store, &r, &found, err);
    if (st != FR_OK || !found)
        return st;
    if (r.model_version != c->version) {
        /* cannot happen with the publish transaction; refuse to guess */
        return fr_fail(err, FR_EFORMAT,
                       "round %ld is open on version %ld but the latest version is %ld", r.id,
                       r.model_version, c->version);
    }
    c->round = r.id;
    c->opened_at = r.opened_at;
    if (fr_coord_secagg_enabled(c)) {
        /* its masks lived in the members' memory and ours; they cannot be rebuilt */
        fr_coord_round_close(c, "aborted", "the coordinator restarted during a secure round");
        return FR_OK;
    }
    /* the nodes lost time while the coordinator was down: a fresh deadline */
    c->deadline = fr_coord_now() + c->cfg.round_timeout;
    fr_agg_reset(&c->agg);
    c->loss_sum = 0;
    fr_update_row *rows = NULL;
    int n = 0;
    if ((st = fr_store_updates(&c->store, r.id, &rows, &n, err)) != FR_OK)
        return st;
    for (int i = 0; i < n && st == FR_OK; i++) {
        uint8_t *buf = NULL;
        size_t len = 0;
        fr_proto_update u;
        if ((st = fr_file_read_all(rows[i].path, c->max_body, &buf, &len, err)) == FR_OK &&
            (st = fr_proto_update_decode(buf, len, c->model.n, &u, err)) == FR_OK) {
            fr_agg_add_le(&c->agg, u.delta, u.weight);
            c->loss_sum += u.weight * u.loss;
        }
        free(buf);
    }
    free(rows);
    if (st != FR_OK)
        return st;
    /* the quorum fixed when the round opened (a configured one may have changed) */
    c->expected = c->cfg.quorum > 0 ? c->cfg.quorum : r.expected;
    if (c->expected < 1)
        c->expected = c->cfg.min_nodes;
    fr_coord_log("round %ld resumed on version %ld with %d updates from disk", c->round,
                 c->version, n);
    return FR_OK;
}
