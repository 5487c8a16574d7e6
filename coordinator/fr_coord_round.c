/* Rounds, the glue around the round machine (fed/fr_round.h): a round opens when
 * enough nodes are live, takes one update per node until the quorum or the deadline,
 * then publishes (or aborts when too few came). Each transition is recorded in the
 * store here, by one fr_store_commit_* call, before it takes effect: an accepted
 * update is written to the state folder and recorded before its node hears
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
        return 0;
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
    fr_round_snapshot s = fr_round_plan(&c->rd, c->version, live, fr_coord_now());
    fr_round_row r = {0};
    r.model_version = s.version;
    r.opened_at = s.opened_at;
    r.deadline = s.deadline;
    r.expected = s.expected;
    fr_status st = fr_store_commit_open(&c->store, &r, err);
    if (st != FR_OK)
        return st;
    s.id = r.id;
    fr_round_open(&c->rd, &s);
    fr_coord_log("round %ld open on version %ld: %d nodes live, closes at %d updates or in %d s",
                 c->rd.id, c->version, live, c->rd.expected, c->cfg.round_timeout);
    return FR_OK;
}

void fr_coord_round_abort(fr_coord *c, const char *note)
{
    fr_err err = {{0}};
    long round = c->rd.id;
    if (fr_store_commit_abort(&c->store, round, fr_coord_now(), c->rd.agg.count, c->rd.agg.weight,
                              note, &err) != FR_OK)
        fr_coord_log("round %ld: %s", round, err.msg);
    fr_coord_log("round %ld aborted: %s", round, note);
    remove_round_files(c, round);
    fr_round_end(&c->rd);
}

/* The members of a finished secure round, for the store's node and round views: their
 * participation, no vector. A failure here costs only those views. */
static void record_members(fr_coord *c)
{
    const fr_secagg_member *in[FR_SECAGG_MAX_NODES];
    int n = fr_round_secure_contributors(&c->rd, in, FR_SECAGG_MAX_NODES);
    fr_update_row *rows = calloc((size_t)n + 1, sizeof *rows);
    double now = fr_coord_now();
    if (!rows) {
        fr_coord_log("round %ld: out of memory to record its members", c->rd.id);
        return;
    }
    for (int i = 0; i < n; i++) {
        /* a member's weight is inside the masked sum: the row has none (0) */
        rows[i] = (fr_update_row){.round = c->rd.id, .received_at = now};
        snprintf(rows[i].node, sizeof rows[i].node, "%s", in[i]->name);
    }
    fr_err err = {{0}};
    if (n && fr_store_commit_members(&c->store, rows, n, &err) != FR_OK)
        fr_coord_log("store: %s", err.msg);
    free(rows);
    c->stats.updates_accepted += n;
}

/* Publish the open round; a failure here means the state folder is unusable, and the
 * safe answer is to stop and let a restart resume from what is on disk. */
void fr_coord_round_publish(fr_coord *c)
{
    fr_err err = {{0}};
    long round = c->rd.id;
    double t0 = fr_coord_now();
    if (c->rd.sa.on)
        record_members(c);
    fr_model_row mr = {0};
    fr_round_row r = {.id = round};
    snprintf(r.status, sizeof r.status, "published");
    r.updates = c->rd.agg.count;
    r.weight = c->rd.agg.weight;
    r.mean_loss = c->rd.agg.weight > 0 ? c->rd.loss_sum / c->rd.agg.weight : 0;
    /* a secure round's sum carries its members' evaluation of the version it trained
     * from: the federation's figures for that version, no node's */
    fr_eval_row ev = {.model_version = c->rd.version,
                      .round = round,
                      .nodes = c->rd.agg.count,
                      .users = c->rd.eval.users,
                      .hr10 = c->rd.eval.hr10,
                      .ndcg10 = c->rd.eval.ndcg10,
                      .recall10 = c->rd.eval.recall10};
    /* a federation-wide DP round's mechanism, taken before the publish may grow the
     * model with a new catalogue: the size the members trained and charged */
    fr_fdp_round fdp;
    int is_fdp = fr_coord_fdp_round(c, &fdp);
    double stretch = 1.0;
    fr_status st = fr_coord_publish(c, &mr, &stretch, &err);
    if (st == FR_OK) {
        /* the round's note, so that the dashboard and /v1/status show it beside the log */
        if (c->agg_cfg.extrapolate)
            snprintf(r.note, sizeof r.note, "step %.3fx the mean", stretch);
        r.closed_at = mr.created_at;
        r.new_version = mr.version;
        st = fr_store_commit_publish_fdp(&c->store, &r, &mr, ev.users > 0 ? &ev : NULL,
                                         is_fdp ? &fdp : NULL, &err);
    }
    if (st != FR_OK) {
        fr_coord_log("round %ld: publishing failed, stopping: %s", round, err.msg);
        c->failed = 1;
        event_base_loopbreak(c->base);
        return;
    }
    fr_coord_log("round %ld published: version %ld from %d updates (weight %.0f), mean loss "
                 "%.4f%s%s, %.2f s",
                 round, mr.version, r.updates, r.weight, r.mean_loss, *r.note ? ", " : "", r.note,
                 fr_coord_now() - t0);
    if (ev.users > 0)
        fr_coord_log("round %ld: the federation's evaluation of version %ld: HR@10 %.4f NDCG@10 "
                     "%.4f recall@10 %.4f (%.0f users, %d members)",
                     round, ev.model_version, ev.hr10, ev.ndcg10, ev.recall10, ev.users, ev.nodes);
    if (is_fdp)
        fr_coord_fdp_published(c, &fdp);
    remove_round_files(c, round);
    fr_round_end(&c->rd);
    c->published++;
    if (c->rd.n != c->model.n) {
        /* the version carries a new catalogue: the next round's updates have its size */
        if (fr_round_resize(&c->rd, c->model.n, &err) != FR_OK) {
            fr_coord_log("round %ld: %s, stopping", round, err.msg);
            c->failed = 1;
            event_base_loopbreak(c->base);
            return;
        }
        if (!c->cfg.max_body) {
            c->max_body = c->model.n * 4 + (64u << 10);
            fr_https_set_max_body(c->https, c->max_body);
        }
    }
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

void fr_coord_round_act(fr_coord *c, const fr_round_decision *d)
{
    switch (d->action) {
    case FR_ROUND_STEPPED: fr_coord_log("round %ld: %s", c->rd.id, d->note); break;
    case FR_ROUND_PUBLISH:
        if (d->note[0])
            fr_coord_log("round %ld: %s", c->rd.id, d->note);
        fr_coord_round_publish(c);
        break;
    case FR_ROUND_ABORT: fr_coord_round_abort(c, d->note); break;
    default: break;
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
            if (fr_store_node_get(&c->store, c->live[i].name, &n, &found, &err) == FR_OK && found) {
                n.last_seen = c->live[i].last_seen;
                if (fr_store_node_seen(&c->store, &n, &err) != FR_OK)
                    fr_coord_log("store: %s", err.msg);
            }
            c->live[i].stored_at = c->live[i].last_seen;
        }
    if (c->rd.id) {
        fr_round_decision d;
        fr_round_tick(&c->rd, now, &d);
        fr_coord_round_act(c, &d);
    }
    if (c->rd.id) /* still collecting */
        return;
    /* a closed round is followed at once by the next, not a timer tick later */
    if (c->done || c->failed)
        return;
    int secure = fr_coord_secagg_enabled(c);
    /* a secure round's members are the nodes able to take part in one */
    int live = secure ? fr_coord_secagg_eligible(c) : fr_coord_live_count(c);
    if (live < c->cfg.min_nodes || (secure && live < FR_SECAGG_MIN_MEMBERS))
        return;
    if (open_round(c, live, &err) != FR_OK) {
        fr_coord_log("cannot open a round: %s", err.msg);
        return;
    }
    if (secure && fr_coord_secagg_open(c, &err) != FR_OK)
        fr_coord_round_abort(c, err.msg);
}

fr_round_refusal fr_coord_take_update(fr_coord *c, const char *node, const uint8_t *body,
                                      size_t len, int *quorum, char *reason, size_t cap)
{
    fr_err err = {{0}};
    fr_node_row joined;
    int known = 0;
    *quorum = 0;
    if (fr_store_node_get(&c->store, node, &joined, &known, &err) != FR_OK) {
        snprintf(reason, cap, "%s", err.msg);
        return FR_ROUND_INTERNAL;
    }
    fr_round_update u;
    fr_round_refusal why =
        fr_round_check_update(&c->rd, fr_coord_now(), node, known, body, len, &u, reason, cap);
    if (why != FR_ROUND_OK)
        return why;
    char dir[440], path[512];
    snprintf(dir, sizeof dir, "%.400s/rounds", c->state_dir);
    mkdir(dir, 0700);
    round_dir(c, c->rd.id, dir, sizeof dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(reason, cap, "%s: %s", dir, strerror(errno));
        return FR_ROUND_INTERNAL;
    }
    snprintf(path, sizeof path, "%s/%.63s.update", dir, node);
    if (fr_file_write_atomic(path, body, len, 0600, &err) != FR_OK) {
        snprintf(reason, cap, "%s", err.msg);
        return FR_ROUND_INTERNAL;
    }
    fr_update_row row = {.round = c->rd.id,
                         .weight = u.u.weight,
                         .loss = u.u.loss,
                         .norm = u.norm,
                         .users = u.u.users,
                         .windows = u.u.windows,
                         .received_at = fr_coord_now()};
    snprintf(row.node, sizeof row.node, "%s", node);
    snprintf(row.path, sizeof row.path, "%s", path);
    if (fr_store_commit_update(&c->store, &row, &err) != FR_OK ||
        fr_round_add_update(&c->rd, node, &u, quorum, &err) != FR_OK) {
        snprintf(reason, cap, "%s", err.msg);
        return FR_ROUND_INTERNAL;
    }
    c->stats.update_bytes += (double)len;
    fr_coord_log("round %ld: update from %s accepted (%d of %d; weight %.0f, norm %.4g, loss %.4f)",
                 c->rd.id, node, c->rd.agg.count, c->rd.expected, u.u.weight, u.norm, u.u.loss);
    return FR_ROUND_OK;
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
    fr_round_snapshot s = {.id = r.id,
                           .version = r.model_version,
                           .opened_at = r.opened_at,
                           .deadline = r.deadline,
                           .expected = r.expected};
    fr_round_decision d;
    fr_round_resume(&c->rd, &s, fr_coord_secagg_enabled(c), fr_coord_now(), &d);
    if (d.action == FR_ROUND_ABORT) {
        fr_coord_round_abort(c, d.note);
        return FR_OK;
    }
    fr_update_row *rows = NULL;
    int n = 0;
    if ((st = fr_store_updates(&c->store, r.id, &rows, &n, err)) != FR_OK)
        return st;
    for (int i = 0; i < n && st == FR_OK; i++) {
        uint8_t *buf = NULL;
        size_t len = 0;
        fr_proto_update u;
        if ((st = fr_file_read_all(rows[i].path, c->max_body, &buf, &len, err)) == FR_OK &&
            (st = fr_proto_update_decode(buf, len, c->model.n, &u, err)) == FR_OK)
            st = fr_round_restore_update(&c->rd, rows[i].node, u.delta, u.n, u.weight, u.loss, err);
        free(buf);
    }
    free(rows);
    if (st != FR_OK)
        return st;
    fr_coord_log("round %ld resumed on version %ld with %d updates from disk", c->rd.id, c->version,
                 n);
    return FR_OK;
}
