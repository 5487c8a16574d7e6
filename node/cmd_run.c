/* fedrecall-node run: take part in the federation. Join the coordinator over mutual
 * TLS, fetch each new signed global model and report its metrics on local data,
 * train a round when one is open and upload the delta, and repeat until the
 * federation ends, the privacy budget is spent, or max-rounds is reached. Transport
 * failures are retried with exponential backoff and jitter; the node's progress is
 * kept in its state folder, so a restarted node carries on where it stopped. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend/fr_backend_select.h"
#include "fr_cmd.h"
#include "fr_fed.h"
#include "util/fr_file.h"
#include "nn/fr_modelfile.h"
#include "privacy/fr_dp_plan.h"
#include "util/fr_opts.h"

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

/* Sleep s seconds unless a stop is asked for. */
static void nap(double s)
{
    while (s > 0 && !stopping) {
        double d = s < 0.2 ? s : 0.2;
        struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
        nanosleep(&ts, NULL);
        s -= d;
    }
}

/* Exponential backoff with full jitter: a federation of nodes that lost the
 * coordinator together must not come back in lockstep. */
static double backoff(int attempt, int cap)
{
    double base = 0.5 * pow(2.0, attempt < 16 ? attempt : 16);
    if (base > cap)
        base = cap;
    return base * (0.5 + 0.5 * ((double)rand() / RAND_MAX));
}

static void state_path(const fr_fed *f, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", f->cfg.state_dir, name);
}

fr_status fr_fed_save_state(const fr_fed *f, fr_err *err)
{
    char path[4200], text[256];
    state_path(f, "node-state", path, sizeof path);
    int n =
        snprintf(text, sizeof text,
                 "last_round %ld\nlast_reported %ld\nrounds_done %d\nlast_loss %.17g\n"
                 "trained_from %ld\n",
                 f->last_round, f->last_reported, f->rounds_done, f->last_loss, f->trained_from);
    return fr_file_write_atomic(path, text, (size_t)n, 0600, err);
}

/* Progress and the held model from a previous run; the model only if its signature
 * still verifies. */
static fr_status load_state(fr_fed *f, fr_err *err)
{
    char path[4200];
    state_path(f, "node-state", path, sizeof path);
    FILE *in = fopen(path, "r");
    if (in) {
        char key[32];
        double v;
        while (fscanf(in, "%31s %lf", key, &v) == 2) {
            if (!strcmp(key, "last_round"))
                f->last_round = (long)v;
            else if (!strcmp(key, "last_reported"))
                f->last_reported = (long)v;
            else if (!strcmp(key, "rounds_done"))
                f->rounds_done = (int)v;
            else if (!strcmp(key, "last_loss"))
                f->last_loss = v;
            else if (!strcmp(key, "trained_from"))
                f->trained_from = (long)v;
        }
        fclose(in);
    }
    char sigpath[4200], line[256];
    state_path(f, "global.sig", sigpath, sizeof sigpath);
    state_path(f, "global.frm", path, sizeof path);
    FILE *s = fopen(sigpath, "r");
    if (!s)
        return FR_OK;
    long version = -1;
    char hex[2 * FR_SIGN_BYTES + 2] = "";
    if (fgets(line, sizeof line, s) && sscanf(line, "%ld %129s", &version, hex) == 2) {
        uint8_t *buf = NULL;
        size_t len = 0;
        uint8_t sig[FR_SIGN_BYTES];
        fr_err e2 = {{0}};
        fr_model m = {0};
        if (fr_file_read_all(path, FR_MODELFILE_MAX_BODY + FR_MODELFILE_HEADER_BYTES, &buf, &len,
                             &e2) == FR_OK &&
            fr_hex_decode(hex, sig, FR_SIGN_BYTES, &e2) == FR_OK &&
            fr_sign_verify_model(f->coord_pub, (uint64_t)version, buf, len, sig, &e2) == FR_OK &&
            fr_modelfile_decode(&m, fr_backend_cpu(), buf, len, path, &e2) == FR_OK) {
            f->global = m;
            f->version = version;
            fr_fed_log("resuming with model version %ld from %s", version, path);
        } else {
            fr_fed_log("ignoring the held model %s: %s", path, e2.msg);
        }
        free(buf);
    }
    fclose(s);
    (void)err;
    return FR_OK;
}

fr_status fr_fed_init(fr_fed *f, const fr_fed_config *cfg, fr_err *err)
{
    memset(f, 0, sizeof *f);
    f->cfg = *cfg;
    f->ledger.fd = -1;
    f->version = -1; /* no model held: version 0 is one to fetch */
    f->last_reported = -1;
    f->trained_from = -1;
    fr_status st;
    if (mkdir(cfg->state_dir, 0700) != 0 && errno != EEXIST)
        return fr_fail(err, FR_EIO, "%s: %s", cfg->state_dir, strerror(errno));
    if ((st = fr_sign_public_load(cfg->coordinator_key, f->coord_pub, err)) != FR_OK)
        return st;
    fr_http_client_config hc = {.base_url = cfg->coordinator,
                                .cert = cfg->cert,
                                .key = cfg->key,
                                .ca = cfg->ca,
                                .crl = cfg->crl,
                                /* the largest model file a node reads, and its head */
                                .max_response = (size_t)FR_MODELFILE_MAX_BODY + 4096,
                                /* a large model moves for a while: say how far it is */
                                .progress = fr_fed_transfer_progress,
                                .progress_ctx = f};
    if ((st = fr_http_client_init(&f->http, &hc, err)) != FR_OK)
        return st;
    if (cfg->dp) {
        /* what earlier runs spent, so that the first join already reports it */
        if ((st = fr_dp_ledger_open(&f->ledger, cfg->state_dir, err)) != FR_OK)
            return st;
        f->have_ledger = 1;
        /* the default delta needs the population: without a budget or dp-delta the
         * spent epsilon is known once the data is loaded (fr_fed_load_data) */
        int known = f->ledger.budget_eps > 0 || cfg->dp_delta > 0;
        double d = fr_dp_plan_delta(&f->ledger, cfg->dp_delta, 0);
        if (known && f->ledger.steps > 0 &&
            (st = fr_dp_ledger_spent(&f->ledger, d, &f->eps_spent, err)) != FR_OK)
            return st;
    }
    if ((st = fr_roster_parse(&f->roster, cfg->members, err)) != FR_OK)
        return st;
    if ((st = fr_fed_secagg_init(f, err)) != FR_OK)
        return st;
    return load_state(f, err);
}

fr_node_view fr_fed_view(const fr_fed *f)
{
    return (fr_node_view){.version = f->version,
                          .last_round = f->last_round,
                          .last_reported = f->last_reported,
                          .trained_from = f->trained_from,
                          .rounds_done = f->rounds_done,
                          .max_rounds = f->cfg.max_rounds,
                          .require_secagg = f->cfg.require_secagg};
}

void fr_fed_free(fr_fed *f)
{
    fr_fed_secagg_free(f);
    fr_http_client_free(&f->http);
    fr_model_free(&f->global);
    if (f->have_ev)
        fr_eval_free(&f->ev);
    free(f->windows);
    if (f->have_ds)
        fr_dataset_free(&f->ds);
    fr_unknown_free(&f->unknown);
    if (f->have_ledger)
        fr_dp_ledger_close(&f->ledger);
    memset(f, 0, sizeof *f);
}

void fr_fed_warn_defaults(const fr_fed *f)
{
    if (!f->cfg.dp)
        fr_fed_log("WARNING: dp is off: this node's updates and metrics carry no differential "
                   "privacy; anyone who sees them (the coordinator in plain rounds, the sum's "
                   "readers in secure ones) may learn about its users (docs/privacy.md)");
    if (!f->cfg.require_secagg)
        fr_fed_log("WARNING: require-secure-aggregation is off: in a plain round this node "
                   "sends its raw update to the coordinator (docs/secagg.md)");
}

/* A plain round sat out (require-secure-aggregation): counted as taken part in, so
 * that it is not considered again. */
static void sit_out(fr_fed *f, const fr_proto_task *t, fr_node_reason why)
{
    fr_err err = {{0}};
    if (why == FR_NODE_SKIP_PLAIN_REFUSED)
        fr_fed_log("round %lld is not a secure one and require-secure-aggregation is set: "
                   "sitting it out",
                   (long long)t->round);
    else
        fr_fed_log("round %lld: sitting it out: %s", (long long)t->round, fr_node_reason_str(why));
    f->last_round = t->round;
    if (fr_fed_save_state(f, &err) != FR_OK)
        fr_fed_log("%s", err.msg);
}

/* One plain round's work: train, then deliver the delta (retrying transport failures
 * for as long as the round is open). Returns 0 to go on, 1 to stop (budget spent), 2
 * to stop on a failure. */
static int take_part(fr_fed *f, const fr_proto_task *t)
{
    fr_err err = {{0}};
    float *delta = NULL;
    double loss = 0;
    int stop = 0;
    fr_fed_log("round %lld: training %lld local epoch(s) from version %ld", (long long)t->round,
               (long long)t->local_epochs, f->version);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fr_status tst = fr_fed_train_round(f, t, &delta, &loss, &stop, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double train_s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (tst != FR_OK) {
        fr_fed_log("round %lld: training failed: %s", (long long)t->round, err.msg);
        return 2;
    }
    if (stop) {
        fr_fed_log("stopping: the privacy budget cannot pay for another round");
        return 1;
    }
    fr_proto_update u;
    fr_node_view v = fr_fed_view(f);
    fr_node_round_update_head(&v, t, f->users, f->n_windows, loss, f->global.n, &u);
    for (int attempt = 0; !stopping; attempt++) {
        long code = 0;
        char reason[512] = "";
        size_t sent = 0;
        if (fr_fed_upload(f, &u, delta, &code, reason, sizeof reason, &sent, &err) != FR_OK) {
            double wait = backoff(attempt, f->cfg.max_backoff);
            fr_fed_log("round %lld: upload failed (%s); retrying in %.1f s", (long long)t->round,
                       err.msg, wait);
            nap(wait);
            continue;
        }
        if (code == 200)
            fr_fed_log("round %lld: update sent (trained in %.2f s, loss %.4f, weight %.0f, %zu "
                       "bytes): %s",
                       (long long)t->round, train_s, loss, u.weight, sent, reason);
        else
            fr_fed_log("round %lld: update refused, HTTP %ld: %s", (long long)t->round, code,
                       reason);
        if (code >= 500) {
            nap(backoff(attempt, f->cfg.max_backoff));
            continue;
        }
        /* delivered, or refused for a reason that a resend would not change */
        f->last_round = t->round;
        f->trained_from = f->version;
        f->last_loss = loss;
        f->rounds_done += code == 200;
        if (fr_fed_save_state(f, &err) != FR_OK)
            fr_fed_log("%s", err.msg);
        break;
    }
    free(delta);
    return 0;
}

static int run_loop(fr_fed *f)
{
    fr_err err = {{0}};
    fr_node_clock clock = {fr_node_clock_wall, NULL};
    int attempt = 0;
    double last_join = -1;
    int had_data = f->have_ds;
    long loads = f->data_loads; /* with proposals, each load's are sent at once */
    /* and a new catalogue's mapping, which lets retired rows be reclaimed */
    long mapped = f->mapped_catalogue;
    while (!stopping) {
        fr_proto_task t;
        fr_status st = FR_OK;
        /* join again on the heartbeat, and once the data is loaded, so that the
         * coordinator's view of this node (users, version, privacy) stays current */
        if (had_data != f->have_ds || (f->cfg.propose_unknown > 0 && loads != f->data_loads) ||
            mapped != f->mapped_catalogue) {
            had_data = f->have_ds;
            loads = f->data_loads;
            mapped = f->mapped_catalogue;
            last_join = -1;
        }
        if (fr_node_round_join_due(&clock, last_join, f->heartbeat_s)) {
            if ((st = fr_fed_join(f, &err)) == FR_OK)
                last_join = clock.now(clock.ctx);
        }
        if (st == FR_OK)
            st = fr_fed_task(f, &t, &err);
        if (st == FR_OK && t.model_version > f->version)
            st = fr_fed_fetch_model(f, (long)t.model_version, &err);
        if (st == FR_OK && f->version > f->last_reported && f->global.n) {
            fr_proto_metrics m;
            if ((st = fr_fed_evaluate(f, &m, &err)) == FR_OK &&
                (st = fr_fed_report(f, &m, &err)) == FR_OK) {
                fr_fed_log("version %ld on local validation: HR@10 %.4f NDCG@10 %.4f (%lld "
                           "users)%s",
                           f->version, m.hr10, m.ndcg10, (long long)m.users, f->cfg.dp ? "" : "");
                f->last_reported = f->version;
                if (fr_fed_save_state(f, &err) != FR_OK)
                    fr_fed_log("%s", err.msg);
            }
        }
        if (st == FR_EIO) {
            double wait = backoff(attempt++, f->cfg.max_backoff);
            fr_fed_log("coordinator unreachable (%s); retrying in %.1f s", err.msg, wait);
            nap(wait);
            continue;
        }
        if (st != FR_OK) {
            fr_fed_log("stopping: %s", err.msg);
            return 1;
        }
        attempt = 0;
        fr_node_view v = fr_fed_view(f);
        fr_node_reason why;
        int rc = 0;
        switch (fr_node_round_decide(&v, &t, &why)) {
        case FR_NODE_STOP:
            if (why == FR_NODE_STOP_MAX_ROUNDS)
                fr_fed_log("took part in %d rounds (max-rounds); stopping", f->rounds_done);
            else
                fr_fed_log("the federation has finished; stopping");
            return 0;
        case FR_NODE_SIT_OUT: sit_out(f, &t, why); continue;
        case FR_NODE_TRAIN_SECURE: rc = fr_fed_secagg_take_part(f, &t, &stopping); break;
        case FR_NODE_TRAIN_PLAIN: rc = take_part(f, &t); break;
        case FR_NODE_WAIT: nap(fr_node_round_wait_s(&t, f->cfg.poll)); continue;
        }
        if (rc) {
            /* tell the coordinator the privacy spent before leaving */
            if (fr_fed_join(f, &err) != FR_OK)
                fr_fed_log("final join: %s", err.msg);
            return rc == 2 ? 1 : 0;
        }
    }
    fr_fed_log("stopped by a signal");
    return 0;
}

int fr_cmd_run(int argc, char **argv)
{
    fr_fed_config cfg = {.coordinator = "https://127.0.0.1:8443",
                         .state_dir = "fedrecall-state",
                         .threads = 2,
                         .device = "cpu",
                         .seed = 1,
                         .eval_users = FR_EVAL_MAX_USERS,
                         .max_backoff = 60,
                         .poll = 2,
                         .dp = 1,
                         .require_secagg = 1,
                         .dp_clip = 1.0f,
                         .dp_level = "user",
                         .dp_max_windows = 32};
    fr_data_cli_init(&cfg.data_cli);
    const char *config = NULL;
    int help = 0;
    fr_opt opts[] = {
        {"config", FR_OPT_STR, &config, 0, 0, "configuration file (keys = these options)", 0, 0},
        {"coordinator", FR_OPT_STR, &cfg.coordinator, 0, 0, "coordinator URL", 0, 0},
        {"cert", FR_OPT_STR, &cfg.cert, 0, 0, "this node's certificate (PEM)", 1, 0},
        {"key", FR_OPT_STR, &cfg.key, 0, 0, "this node's private key (PEM)", 1, 0},
        {"ca", FR_OPT_STR, &cfg.ca, 0, 0, "the federation CA (PEM)", 1, 0},
        {"crl", FR_OPT_STR, &cfg.crl, 0, 0, "revocation list (PEM) to check the coordinator", 0, 0},
        {"coordinator-key", FR_OPT_STR, &cfg.coordinator_key, 0, 0,
         "the coordinator's public signing key (file or 64 hex digits)", 1, 0},
        {"data", FR_OPT_STR, &cfg.data, 0, 0, "local behaviour data", 1, 0},
        {"format", FR_OPT_STR, &cfg.format, 0, 0, FR_DATA_FORMAT_HELP, 1, 0},
        {"state-dir", FR_OPT_STR, &cfg.state_dir, 0, 0,
         "durable state: model, progress, privacy ledger", 0, 0},
        {"threads", FR_OPT_INT, &cfg.threads, 1, 1024, "CPU threads", 0, 0},
        {"device", FR_OPT_STR, &cfg.device, 0, 0, FR_DEVICE_HELP, 0, 0},
        {"seed", FR_OPT_U64, &cfg.seed, 0, 0,
         "fixed seed of local training, for tests and reproduction (default: fresh secret "
         "randomness each round; docs/privacy.md)",
         0, 0},
        {"eval-users", FR_OPT_INT, &cfg.eval_users, 1, 1 << 30, "users for the sampled metric", 0,
         0},
        {"max-rounds", FR_OPT_INT, &cfg.max_rounds, 0, 100000000,
         "stop after this many rounds (0: until the federation ends)", 0, 0},
        {"max-backoff", FR_OPT_INT, &cfg.max_backoff, 1, 3600, "longest retry delay, seconds", 0,
         0},
        {"poll", FR_OPT_INT, &cfg.poll, 1, 3600, "seconds between polls", 0, 0},
        {"propose-unknown-items", FR_OPT_INT, &cfg.propose_unknown, 0, 1 << 30,
         "report to the coordinator the item ids the catalogue lacks that the data names in at "
         "least this many events (counts only; 0: off; docs/catalogue.md)",
         0, 0},
        {"secagg-min-members", FR_OPT_INT, &cfg.secagg_min_members, 3, 255,
         "refuse secure rounds of fewer members (3 at least)", 0, 0},
        {"secagg-min-threshold-ratio", FR_OPT_DOUBLE, &cfg.secagg_min_ratio, 2.0 / 3, 1,
         "refuse secure rounds whose threshold t is not above this share of the members "
         "(2/3 at least)",
         0, 0},
        FR_DATA_CLI_OPTS(cfg.data_cli),
        {"dp", FR_OPT_FLAG, &cfg.dp, 0, 0,
         "train with DP (on by default; dp = off in the configuration, or --dp=off, trains "
         "without: docs/privacy.md)",
         0, 0},
        {"dp-level", FR_OPT_STR, &cfg.dp_level, 0, 0,
         "DP: user (DP-SGD per user in the site) or site (clip and noise the site's whole "
         "update; docs/privacy.md)",
         0, 0},
        {"dp-sampling-rate", FR_OPT_DOUBLE, &cfg.dp_q, 1e-9, 1,
         "DP: user sampling rate q (default batch / users)", 0, 0},
        {"dp-noise", FR_OPT_DOUBLE, &cfg.dp_noise, 1e-6, 1e9,
         "DP: noise multiplier (default: the budget spread over max-rounds, or 10 rounds)", 0, 0},
        {"dp-clip", FR_OPT_FLOAT, &cfg.dp_clip, 1e-9, 1e9, "DP: per-user clip norm C", 0, 0},
        {"dp-max-windows", FR_OPT_INT, &cfg.dp_max_windows, 1, 1 << 16,
         "DP: newest windows that count per user", 0, 0},
        {"dp-epsilon-max", FR_OPT_DOUBLE, &cfg.dp_eps_max, 1e-6, 1e6, "DP: privacy budget epsilon",
         0, 0},
        {"dp-delta", FR_OPT_DOUBLE, &cfg.dp_delta, 1e-300, 0.5, "DP: delta (default 1/(10 users))",
         0, 0},
        {"dp-fed-colluders", FR_OPT_INT, &cfg.fdp_colluders, 0, 255,
         "federation-wide DP rounds: fellow members assumed to collude with the coordinator; "
         "a round whose noise shares would not cover their loss is refused (default 0)",
         0, 0},
        {"dp-seed", FR_OPT_STR, &cfg.dp_seed, 0, 0,
         "DP: fixed noise seed, for tests only (voids the guarantee)", 0, 0},
        {"require-secure-aggregation", FR_OPT_FLAG, &cfg.require_secagg, 0, 0,
         "send updates only in secure rounds, sit plain rounds out (on by default; off sends "
         "the raw update in plain rounds: docs/secagg.md)",
         0, 0},
        {"members", FR_OPT_STR, &cfg.members, 0, 0,
         "the roster: fellow members this node accepts in a secure round, certificate names "
         "or sha256:FINGERPRINT, comma-separated (default: any node certificate of the CA; "
         "docs/security.md)",
         0, 0},
        {"help", FR_OPT_FLAG, &help, 0, 0, "show this help", 0, 0},
        {0},
    };
    if (fr_opts_handle_help(argc, argv, "fedrecall-node run [--config FILE] [OPTIONS]", opts,
                            "fedrecall-node run --config /etc/fedrecall/node.conf"))
        return 0;
    fr_err err = {{0}};
    fr_opts_file file = {0};
    fr_fed f = {0};
    int rc;
    fr_status st = fr_opts_parse_config(opts, argc, argv, &file, &err);
    if (st != FR_OK) {
        rc = fr_cmd_fail("run", st, err.msg);
        goto out;
    }
    fr_data_cli_finish(&cfg.data_cli);
    for (const fr_opt *o = opts; o->name; o++)
        if (!strcmp(o->name, "seed"))
            cfg.seed_fixed = o->seen;
    if (strcmp(cfg.dp_level, "user") && strcmp(cfg.dp_level, "site")) {
        rc = fr_cmd_fail("run", FR_EINVAL, "--dp-level: give user or site");
        goto out;
    }
    if ((st = fr_backend_select(cfg.device, &cfg.be, &err)) != FR_OK) {
        rc = fr_cmd_fail("run", st, err.msg);
        goto out;
    }
    cfg.be->set_threads(cfg.threads);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    if ((st = fr_fed_init(&f, &cfg, &err)) != FR_OK) {
        rc = fr_cmd_fail("run", st, err.msg);
        goto out;
    }
    fr_fed_warn_defaults(&f);
    rc = run_loop(&f);
out:
    fr_fed_free(&f);
    fr_opts_file_free(&file);
    return rc;
}
