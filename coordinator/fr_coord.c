/* The coordinator's life: open the state folder, load the signing key and the latest
 * version, resume an open round, serve until a signal, close everything. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fr_coord.h"
#include "nn/fr_train.h"
#include "fed/fr_proto.h"

static void on_tick(evutil_socket_t fd, short what, void *ctx)
{
    (void)fd;
    (void)what;
    fr_coord_tick(ctx);
}

static void on_stop(evutil_socket_t sig, short what, void *ctx)
{
    (void)what;
    fr_coord *c = ctx;
    fr_coord_log("signal %d: stopping", (int)sig);
    event_base_loopbreak(c->base);
}

static void on_hup(evutil_socket_t sig, short what, void *ctx)
{
    (void)sig;
    (void)what;
    fr_coord *c = ctx;
    fr_err err = {{0}};
    fr_identity_ca ca;
    if (fr_https_reload_crl(c->https, &err) != FR_OK ||
        fr_identity_ca_init(&ca, c->cfg.ca, c->cfg.crl, &err) != FR_OK) {
        fr_coord_log("CRL reload failed, the previous list stays in force: %s", err.msg);
        return;
    }
    fr_identity_ca_free(&c->idca);
    c->idca = ca;
    fr_coord_log("CRL reloaded from %s", c->cfg.crl ? c->cfg.crl : "(none)");
}

fr_status fr_coord_init(fr_coord *c, const fr_coord_config *cfg, fr_err *err)
{
    memset(c, 0, sizeof *c);
    c->cfg = *cfg;
    fr_status st;
    /* paths under it are recorded in the store, in columns of 512 bytes */
    if (strlen(cfg->state_dir) > 400)
        return fr_fail(err, FR_EINVAL, "state-dir: longer than 400 bytes");
    snprintf(c->state_dir, sizeof c->state_dir, "%s", cfg->state_dir);
    c->agg_cfg = fr_agg_config_default();
    /* under dp-federation a round's delta is one noisy DP-SGD gradient step, which
     * Adam on the server takes as central DP-SGD would; FedAvg's rate 1 is plain SGD at
     * rate 1 and learns next to nothing (docs/privacy.md, "A recipe from the budget") */
    if (!strcmp(cfg->aggregator, "auto"))
        c->cfg.aggregator = cfg->dp_federation ? "fedadam" : "fedavg";
    if ((st = fr_agg_kind_parse(c->cfg.aggregator, &c->agg_cfg.kind, err)) != FR_OK)
        return st;
    c->agg_cfg.server_lr = cfg->server_lr > 0
                               ? cfg->server_lr
                               : fr_agg_default_server_lr(c->agg_cfg.kind, cfg->dp_federation,
                                                          cfg->rounds, cfg->server_beta1);
    c->agg_cfg.beta1 = cfg->server_beta1;
    c->agg_cfg.beta2 = cfg->server_beta2;
    c->agg_cfg.tau = cfg->server_tau;
    if ((st = fr_agg_schedule_parse(cfg->server_lr_schedule, &c->agg_cfg.schedule, err)) != FR_OK)
        return st;
    c->agg_cfg.rounds = cfg->rounds;
    if ((st = fr_agg_extrapolation_parse(cfg->server_extrapolation, c->agg_cfg.kind,
                                         cfg->dp_federation, &c->agg_cfg.extrapolate, err)) !=
        FR_OK)
        return st;
    if (c->agg_cfg.schedule == FR_AGG_LR_COSINE && cfg->rounds < 1)
        return fr_fail(err, FR_EINVAL, "server-lr-schedule cosine: needs --rounds (its length)");
    if (strcmp(cfg->local_adam, "fresh") && strcmp(cfg->local_adam, "carry"))
        return fr_fail(err, FR_EINVAL, "local-adam: '%s' is neither fresh nor carry",
                       cfg->local_adam);
    /* a federation-wide DP round is one DP-SGD step (docs/privacy.md): there are no local
     * steps for the term to pull back */
    if (cfg->prox_mu > 0 && cfg->dp_federation)
        return fr_fail(err, FR_EINVAL,
                       "prox-mu %g: not with dp-federation, whose rounds are one DP-SGD step each",
                       cfg->prox_mu);
    const fr_recipe *recipe = fr_recipe_find(cfg->recipe);
    if (!recipe)
        return fr_fail(err, FR_EINVAL, "recipe: '%s' is not " FR_RECIPE_NAMES, cfg->recipe);
    if (!c->cfg.negatives)
        c->cfg.negatives = recipe->negatives;
    if (!(c->cfg.lr > 0))
        c->cfg.lr = recipe->lr;
    if (strcmp(cfg->weighting, "users") && strcmp(cfg->weighting, "windows"))
        return fr_fail(err, FR_EINVAL, "weighting: '%s' is neither users nor windows",
                       cfg->weighting);
    if (strcmp(cfg->secure_aggregation, "on") && strcmp(cfg->secure_aggregation, "off"))
        return fr_fail(err, FR_EINVAL, "secure-aggregation: '%s' is neither on nor off",
                       cfg->secure_aggregation);
    if ((st = fr_identity_ca_init(&c->idca, cfg->ca, cfg->crl, err)) != FR_OK)
        return st;
    if (mkdir(c->state_dir, 0700) != 0 && errno != EEXIST)
        return fr_fail(err, FR_EIO, "%s: %s", c->state_dir, strerror(errno));
    /* A store that does not open or fails SQLite's quick_check is not served from:
     * rounds would fail one by one with 500s. The line says what to do. */
    if ((st = fr_store_open(&c->store, c->state_dir, err)) != FR_OK ||
        (st = fr_store_quick_check(&c->store, err)) != FR_OK) {
        if (st == FR_EIO || st == FR_ECHECKSUM) {
            fr_err inner = *err;
            st = fr_fail(err, FR_ECHECKSUM,
                         "%s; not starting: restore the state folder from a backup "
                         "(fedrecall-coordinator backup; docs/operations.md)",
                         inner.msg);
        }
        return st;
    }
    char sk[4200], pk[4200];
    if (cfg->signing_key)
        snprintf(sk, sizeof sk, "%s", cfg->signing_key);
    else
        snprintf(sk, sizeof sk, "%s/signing.key", c->state_dir);
    snprintf(pk, sizeof pk, "%s/signing.pub", c->state_dir);
    if ((st = fr_sign_key_load_or_create(&c->key, sk, pk, err)) != FR_OK)
        return st;
    if ((st = fr_coord_load_model(c, err)) != FR_OK)
        return st;
    fr_round_config rc = {.quorum = cfg->quorum,
                          .min_nodes = cfg->min_nodes,
                          .min_updates = cfg->min_updates,
                          .round_timeout = cfg->round_timeout,
                          .max_update_norm = cfg->max_update_norm,
                          .weight_windows = !strcmp(cfg->weighting, "windows"),
                          .max_weight = cfg->max_weight,
                          .secagg_threshold = cfg->secagg_threshold,
                          .secagg_step_timeout = cfg->secagg_step_timeout,
                          .fdp = cfg->dp_federation};
    if ((st = fr_coord_fdp_init(c, err)) != FR_OK || (st = fr_coord_fdp_load(c, err)) != FR_OK ||
        (st = fr_round_init(&c->rd, &rc, c->model.n, err)) != FR_OK)
        return st;
    /* a node's refusals are logged and stored 20 at once, then one every 10 s */
    fr_refusal_limit_init(&c->refusal_limit, 20, 0.1);
    long rounds = 0;
    fr_round_row *rows = NULL;
    int n = 0;
    if ((st = fr_store_rounds(&c->store, 1000000000L, &rows, &n, err)) != FR_OK)
        return st;
    for (int i = 0; i < n; i++)
        rounds += !strcmp(rows[i].status, "published");
    free(rows);
    c->published = rounds;
    /* an update is the model's size plus a small head; anything larger is refused
     * by the server before it is buffered */
    c->max_body = cfg->max_body ? (size_t)cfg->max_body : c->model.n * 4 + (64u << 10);
    if ((st = fr_coord_resume_round(c, err)) != FR_OK)
        return st;
    if (c->cfg.rounds > 0 && c->published >= c->cfg.rounds && !c->rd.id)
        c->done = 1;
    c->base = event_base_new();
    if (!c->base)
        return fr_fail(err, FR_ENOMEM, "cannot create the event loop");
    fr_https_config hc = {.listen = cfg->listen,
                          .cert = cfg->cert,
                          .key = cfg->key,
                          .ca = cfg->ca,
                          .crl = cfg->crl,
                          .tls = 1,
                          .require_client_cert = 1,
                          .max_body = c->max_body,
                          /* an upload of a large model over a slow link takes a while;
                           * the handshake and a header get a short deadline */
                          .conn_deadline_s = 600,
                          .header_deadline_s = cfg->header_deadline,
                          .max_conns = cfg->max_connections};
    if ((st = fr_https_init(&c->https, c->base, &hc, fr_coord_handle, c, err)) != FR_OK)
        return st;
    if (cfg->dashboard_listen) {
        /* plain HTTP: fr_https refuses any address but loopback */
        fr_https_config dc = {.listen = cfg->dashboard_listen, .tls = 0, .max_body = 4096};
        if ((st = fr_https_init(&c->dash_https, c->base, &dc, fr_coord_dashboard_handle, c, err)) !=
            FR_OK) {
            fr_err inner = *err;
            return fr_fail(err, st, "dashboard-listen: %s", inner.msg);
        }
        fr_coord_log("dashboard on http://%s/dashboard (port %d, loopback only)",
                     cfg->dashboard_listen, fr_https_port(c->dash_https));
    }
    struct timeval second = {1, 0};
    c->tick = event_new(c->base, -1, EV_PERSIST, on_tick, c);
    c->sig_term = evsignal_new(c->base, SIGTERM, on_stop, c);
    c->sig_int = evsignal_new(c->base, SIGINT, on_stop, c);
    c->sig_hup = evsignal_new(c->base, SIGHUP, on_hup, c);
    if (!c->tick || !c->sig_term || !c->sig_int || !c->sig_hup || event_add(c->tick, &second) ||
        event_add(c->sig_term, NULL) || event_add(c->sig_int, NULL) || event_add(c->sig_hup, NULL))
        return fr_fail(err, FR_ENOMEM, "cannot set up timers and signals");
    fr_coord_log("listening on %s (port %d), state %s, version %ld, %zu parameters, "
                 "%s at server rate %g%s, public key %s/signing.pub",
                 cfg->listen, fr_https_port(c->https), c->state_dir, c->version, c->model.n,
                 fr_agg_kind_name(c->agg_cfg.kind), c->agg_cfg.server_lr,
                 c->agg_cfg.extrapolate ? " extrapolated" : "", c->state_dir);
    return FR_OK;
}

fr_status fr_coord_run(fr_coord *c, fr_err *err)
{
    if (event_base_dispatch(c->base) < 0)
        return fr_fail(err, FR_EIO, "event loop failed");
    if (c->failed)
        return fr_fail(err, FR_EIO, "stopped: the state folder could not be written (see above)");
    return FR_OK;
}

void fr_coord_free(fr_coord *c)
{
    if (c->tick)
        event_free(c->tick);
    if (c->sig_term)
        event_free(c->sig_term);
    if (c->sig_int)
        event_free(c->sig_int);
    if (c->sig_hup)
        event_free(c->sig_hup);
    if (c->dash_https)
        fr_https_free(c->dash_https);
    if (c->https)
        fr_https_free(c->https);
    if (c->base)
        event_base_free(c->base);
    fr_round_free(&c->rd);
    fr_server_opt_free(&c->opt);
    fr_model_free(&c->model);
    free(c->file);
    free(c->held);
    for (int i = 0; i < c->n_live; i++) {
        free(c->live[i].id_cert);
        free(c->live[i].proposals);
    }
    free(c->live);
    fr_identity_ca_free(&c->idca);
    fr_sign_key_free(&c->key);
    fr_store_close(&c->store);
    memset(c, 0, sizeof *c);
}
