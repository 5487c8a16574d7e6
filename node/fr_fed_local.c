/* A node's local work in a round: its data mapped onto the global catalogue, local
 * training from the global parameters (plain, or user-level DP-SGD charged to the
 * privacy ledger before each step), the delta clipped to the announced bound, and the
 * evaluation of each new global model on the node's own validation split. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "privacy/fr_clip.h"
#include "privacy/fr_dp_plan.h"
#include "privacy/fr_dp_rng.h"
#include "privacy/fr_dp_sgd.h"
#include "eval/fr_eval_model.h"
#include "fr_fed.h"
#include "fed/fr_catver.h"
#include "fed/fr_fed_recipe.h"
#include "fed/fr_fedopt.h"
#include "data/fr_items.h"
#include "nn/fr_nn.h"
#include "nn/fr_train.h"

/* Size of the behaviour log read with the data (--extra-events), -1 without one. */
static long long extra_size(const fr_fed *f)
{
    char path[4200];
    struct stat st;
    if (!f->cfg.data_cli.opt.extra_events)
        return -1;
    snprintf(path, sizeof path, "%s/events.csv", f->cfg.data_cli.opt.extra_events);
    return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

void fr_fed_catalogue_changed(fr_fed *f)
{
    if (f->have_ds) {
        fr_dataset_free(&f->ds);
        f->have_ds = 0;
    }
    free(f->windows);
    f->windows = NULL;
    if (f->have_ev) {
        fr_eval_free(&f->ev);
        f->have_ev = 0;
    }
    fr_fed_log("catalogue version %ld: %d items; the data is mapped onto them at the next round",
               f->global.catalogue_version, f->global.cfg.num_items - 1);
}

void fr_fed_rows_reclaimed(fr_fed *f, const fr_model *next)
{
    char path[4200];
    int n = 0, *rows = malloc((size_t)f->global.cfg.num_items * sizeof *rows);
    fr_server_opt o = {0};
    fr_err e = {{0}};
    if (!rows) {
        fr_fed_log("warning: out of memory to reset reclaimed rows; local Adam moments dropped");
        n = -1;
    } else {
        fr_catver_reused_rows(&f->global, next, rows, &n);
    }
    snprintf(path, sizeof path, "%s/%s", f->cfg.state_dir, FR_FEDOPT_MOMENTS_FILE);
    if (n != 0 && access(path, F_OK) == 0) {
        /* moments of another layout are dropped at the next load anyway (moments_load) */
        if (n > 0 && fr_server_opt_load(&o, f->global.n, path, &e) == FR_OK) {
            fr_catver_zero_rows(&f->global, rows, n, o.m);
            fr_catver_zero_rows(&f->global, rows, n, o.v);
            if (fr_server_opt_save(&o, path, &e) != FR_OK)
                n = -1;
        }
        if (n < 0 && unlink(path) != 0)
            fr_fed_log("warning: %s: cannot remove the local Adam moments", path);
    }
    if (n > 0)
        fr_fed_log("catalogue version %ld reclaims %d rows for new items: what this node kept "
                   "for their retired items is reset",
                   next->catalogue_version, n);
    fr_server_opt_free(&o);
    free(rows);
}

fr_status fr_fed_load_data(fr_fed *f, int seq_len, fr_err *err)
{
    fr_status st;
    long long extra = extra_size(f);
    /* the recall service's log grows between rounds: each round reads what it holds */
    if (f->have_ds && extra != f->extra_size) {
        fr_dataset_free(&f->ds);
        f->have_ds = 0;
        free(f->windows);
        f->windows = NULL;
    }
    if (!f->have_ds) {
        fr_data_catalogue cat;
        fr_data_catalogue_from_model(&cat, &f->global);
        fr_data_options opt = f->cfg.data_cli.opt;
        opt.catalogue = &cat;
        fr_unknown_free(&f->unknown);
        if (f->cfg.propose_unknown > 0)
            opt.unknown = &f->unknown;
        /* a local data problem is the operator's to fix, not a network fault to retry */
        if ((st = fr_dataset_load(&f->ds, f->cfg.data, f->cfg.format, f->global.cfg.num_tokens,
                                  f->global.cfg.token_vocab, &opt, err)) != FR_OK)
            return st == FR_EIO ? FR_EINVAL : st;
        f->have_ds = 1;
        f->extra_size = extra;
        f->data_loads++;
        f->mapped_catalogue = f->global.catalogue_version;
        fr_fed_log("data: %d users, %ld interactions on the federation's %d items (%ld rows "
                   "read, %ld skipped)",
                   f->ds.num_users, f->ds.interactions, f->ds.num_items - 1, f->ds.report.rows_read,
                   f->ds.report.rows_skipped);
        if (f->cfg.propose_unknown > 0) {
            f->proposals_len = fr_proposals_encode(&f->unknown, f->cfg.propose_unknown,
                                                   f->proposals, sizeof f->proposals);
            int ids = 0;
            for (size_t i = 0; i < f->proposals_len; i++)
                ids += f->proposals[i] == '\n';
            fr_fed_log("proposing %d item ids the catalogue lacks (each in at least %d events; "
                       "%ld ids unknown in all)",
                       ids, f->cfg.propose_unknown, f->unknown.used);
        }
    }
    if (f->windows && f->seq_len == seq_len)
        return FR_OK;
    free(f->windows);
    f->windows = NULL;
    if (f->have_ev) {
        fr_eval_free(&f->ev);
        f->have_ev = 0;
    }
    long positions = 0;
    if ((st = fr_dataset_windows(&f->ds, seq_len, &f->windows, &f->n_windows, &positions, err)) !=
        FR_OK)
        return st;
    f->seq_len = seq_len;
    f->users = fr_dp_population(f->ds.train_off, f->ds.num_users, seq_len);
    if (f->have_ledger && f->ledger.steps > 0 &&
        (st =
             fr_dp_ledger_spent(&f->ledger, fr_dp_plan_delta(&f->ledger, f->cfg.dp_delta, f->users),
                                &f->eps_spent, err)) != FR_OK)
        return st;
    if (f->ds.num_eval_users > 0) {
        if ((st = fr_eval_init(&f->ev, &f->ds, seq_len, f->cfg.seed, f->cfg.eval_users, err)) !=
            FR_OK)
            return st;
        f->have_ev = 1;
    }
    return FR_OK;
}

/* Decide whether the round can be trained and with what noise (fr_node_round.h),
 * from the ledger (opened on first use) and the configured budget, which is recorded
 * once a run: its default delta needs the population, known once the data is loaded. */
static fr_status prepare(fr_fed *f, const fr_proto_task *t, fr_node_prep *p, fr_node_reason *why,
                         fr_err *err)
{
    fr_status st;
    if (f->cfg.dp && !f->have_ledger) {
        if ((st = fr_dp_ledger_open(&f->ledger, f->cfg.state_dir, err)) != FR_OK)
            return st;
        f->have_ledger = 1;
    }
    fr_node_dp_config dc = {.dp = f->cfg.dp,
                            .site = f->cfg.dp && !strcmp(f->cfg.dp_level, "site"),
                            .q = f->cfg.dp_q,
                            .noise = f->cfg.dp_noise,
                            .eps_max = f->cfg.dp_eps_max,
                            .delta = f->cfg.dp_delta};
    fr_node_view v = fr_fed_view(f);
    st = fr_node_round_prepare(&f->ledger, &dc, !f->budget_set, &v, t, f->n_windows, f->users, p,
                               why, err);
    if (f->cfg.dp && *why != FR_NODE_SKIP_NO_DATA)
        f->budget_set = 1;
    return st;
}

/* DP-FedAvg at the site: the whole delta clipped to C, then N(0, sigma^2 C^2) on every
 * coordinate, the step charged to the ledger (synced) before the delta can leave, at
 * the multiplier the accountant counts (sigma / 2: replacing the site moves the
 * clipped delta by up to 2C). */
static fr_status site_noise(fr_fed *f, float *delta, size_t n, const fr_dp_plan *plan,
                            const fr_proto_task *t, fr_err *err)
{
    double sigma = plan->sigma;
    double clip = f->cfg.dp_clip;
    double norm = fr_clip_l2(delta, n, clip);
    fr_dp_rng rng;
    fr_status st =
        fr_dp_rng_init(&rng, f->cfg.dp_seed, f->cfg.dp_seed ? strlen(f->cfg.dp_seed) : 0, err);
    if (st != FR_OK)
        return st;
    float *noise = malloc(n * sizeof(float));
    if (!noise) {
        fr_dp_rng_free(&rng);
        return fr_fail(err, FR_ENOMEM, "out of memory for the site's noise");
    }
    /* a seeded run still draws fresh noise each round */
    fr_dp_rng_normals_at(&rng, (uint64_t)t->round, noise, n, sigma * clip);
    fr_dp_rng_free(&rng);
    for (size_t i = 0; i < n; i++)
        delta[i] += noise[i];
    free(noise);
    if ((st = fr_dp_ledger_record(&f->ledger, 1.0, plan->sigma_acc, 1, err)) != FR_OK)
        return st;
    double acc_delta = fr_dp_plan_delta(&f->ledger, f->cfg.dp_delta, f->users);
    if ((st = fr_dp_ledger_spent(&f->ledger, acc_delta, &f->eps_spent, err)) != FR_OK)
        return st;
    fr_fed_log("round %lld: site-level DP: delta norm %.4g clipped to %g, noise sigma %.4g; "
               "epsilon %.4g spent",
               (long long)t->round, norm, clip, sigma, f->eps_spent);
    return FR_OK;
}

/* With a task that carries the local Adam moments: the moments this node ended its
 * last round with into `local` (none yet: zero moments). A file that cannot be used
 * (another model's, corrupt) is logged and training starts from zero moments: they
 * speed training up, the round does not depend on them. */
static void moments_load(fr_fed *f, fr_model *local)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", f->cfg.state_dir, FR_FEDOPT_MOMENTS_FILE);
    if (access(path, F_OK) != 0)
        return;
    fr_server_opt o = {0};
    fr_err e = {{0}};
    if (fr_server_opt_load(&o, local->n, path, &e) != FR_OK ||
        fr_fedopt_moments_put(local, &o, &e) != FR_OK)
        fr_fed_log("warning: local Adam moments not carried over, starting from zero: %s", e.msg);
    fr_server_opt_free(&o);
}

/* The moments `local` ended the round with, for the next round (atomic write). */
static fr_status moments_save(fr_fed *f, const fr_model *local, fr_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", f->cfg.state_dir, FR_FEDOPT_MOMENTS_FILE);
    fr_server_opt o = {0};
    fr_status st = fr_server_opt_init(&o, local->n, err);
    if (st == FR_OK && (st = fr_fedopt_moments_get(local, &o, err)) == FR_OK)
        st = fr_server_opt_save(&o, path, err);
    fr_server_opt_free(&o);
    return st;
}

/* Local epochs of plain training of `local`, from step `start` of the recipe's
 * schedule; *loss the mean over them. */
static fr_status train_plain(fr_fed *f, fr_model *local, const fr_train_config *tc, int epochs,
                             long start, const float *anchor, float mu, double *loss, fr_err *err)
{
    fr_trainer tr = {0};
    double sum = 0;
    fr_status st = fr_trainer_init(&tr, local, tc, f->windows, f->n_windows, err);
    tr.step = start;
    fr_trainer_set_prox(&tr, anchor, mu);
    for (int e = 0; st == FR_OK && e < epochs; e++) {
        fr_epoch_stats es;
        if ((st = fr_trainer_epoch(&tr, &es, NULL, NULL, err)) == FR_OK)
            sum += es.loss;
    }
    fr_trainer_free(&tr);
    *loss = epochs ? sum / epochs : 0;
    return st;
}

/* Local epochs of user-level DP-SGD at the planned noise, each step charged to the
 * ledger before it is applied; *loss the mean over them. */
static fr_status train_dp(fr_fed *f, fr_model *local, const fr_train_config *tc, int epochs,
                          const fr_node_prep *p, double *loss, fr_err *err)
{
    fr_dp_trainer dtr = {0};
    double sum = 0;
    fr_dp_config dc = {.sampling_rate = p->q,
                       .noise_multiplier = p->plan.sigma,
                       .clip = f->cfg.dp_clip,
                       .max_windows = f->cfg.dp_max_windows,
                       .workers = f->cfg.threads,
                       .seed = f->cfg.dp_seed,
                       .seed_len = f->cfg.dp_seed ? strlen(f->cfg.dp_seed) : 0};
    fr_status st = fr_dp_trainer_init(&dtr, local, tc, &dc, f->ds.train_off, f->ds.num_users,
                                      f->windows, f->n_windows, err);
    for (int e = 0; st == FR_OK && e < epochs; e++) {
        fr_epoch_stats es;
        if ((st = fr_dp_trainer_epoch(&dtr, &f->ledger, &es, NULL, NULL, err)) == FR_OK)
            sum += es.loss;
    }
    if (st == FR_OK)
        st = fr_dp_ledger_spent(&f->ledger, p->plan.delta, &f->eps_spent, err);
    fr_dp_trainer_free(&dtr);
    *loss = epochs ? sum / epochs : 0;
    return st;
}

fr_status fr_fed_train_round(fr_fed *f, const fr_proto_task *t, float **delta_out, double *loss,
                             int *stop, fr_err *err)
{
    *stop = 0;
    *delta_out = NULL;
    fr_status st;
    if ((st = fr_fed_load_data(f, (int)t->seq_len, err)) != FR_OK)
        return st;
    fr_node_prep prep;
    fr_node_reason why;
    fr_fed_warn_defaults(f);
    if ((st = prepare(f, t, &prep, &why, err)) != FR_OK)
        return st;
    if (why == FR_NODE_SKIP_BUDGET_SPENT) {
        fr_fed_log("privacy budget: %s", prep.plan.why);
        *stop = 1;
        return FR_OK;
    }
    /* the global model stays in host memory; the local copy trains on the device */
    const fr_backend *be = f->cfg.be ? f->cfg.be : fr_backend_cpu();
    fr_model local = {0};
    float *delta = NULL, *params = NULL, *anchor = NULL; /* anchor: backend memory */
    if ((st = fr_model_init(&local, &f->global.cfg, be, f->global.item_tokens, f->global.item_ids,
                            err)) != FR_OK)
        goto out;
    if (f->global.item_keys &&
        (st = fr_model_set_item_keys(&local, (const char *const *)f->global.item_keys, err)) !=
            FR_OK)
        goto out;
    size_t n = f->global.n;
    delta = malloc(n * sizeof(float));
    params = malloc(n * sizeof(float));
    if (!delta || !params) {
        st = fr_fail(err, FR_ENOMEM, "out of memory for a round's delta");
        goto out;
    }
    fr_model_get_params(&f->global, params);
    fr_model_set_params(&local, params);
    fr_train_config tc;
    long start = 0;
    fr_fed_recipe_dp rdp = (prep.dp && !prep.site) || t->fdp ? FR_FED_RECIPE_DP_USER
                           : prep.dp                         ? FR_FED_RECIPE_DP_SITE
                                                             : FR_FED_RECIPE_PLAIN;
    if ((st = fr_fed_recipe_config(
             t, rdp, fr_node_round_train_seed(f->cfg.seed_fixed, f->cfg.seed, t->round),
             f->n_windows, &tc, &start, err)) != FR_OK)
        goto out;
    if (!f->recipe_logged) {
        char line[256];
        char prox[48] = "";
        if (t->prox_mu > 0 && !(prep.dp && !prep.site))
            snprintf(prox, sizeof prox, ", proximal term mu %g", t->prox_mu);
        fr_fed_recipe_describe(t, &tc, line, sizeof line);
        fr_fed_log("round %lld: %s%s", (long long)t->round, line, prox);
        f->recipe_logged = 1;
    }
    int epochs = (int)t->local_epochs;
    int user_dp = prep.dp && !prep.site;
    if (t->prox_mu > 0 && user_dp && !f->prox_logged) {
        /* a DP-SGD step's gradient is the clipped, noised sum of its users' and nothing
         * else (privacy/fr_dp_sgd.h) */
        fr_fed_log("round %lld: the task's proximal term (mu %g) is not applied: this node "
                   "trains with user-level DP-SGD",
                   (long long)t->round, t->prox_mu);
        f->prox_logged = 1;
    }
    if (t->prox_mu > 0 && !user_dp) {
        /* the round's global model, where the term pulls back to, beside the trained copy */
        if (!(anchor = be->alloc(n * sizeof(float)))) {
            st = fr_fail(err, FR_ENOMEM, "out of memory for the proximal term's anchor");
            goto out;
        }
        be->upload(anchor, params, n * sizeof(float));
    }
    if (t->adam_carry)
        moments_load(f, &local);
    if (user_dp)
        st = train_dp(f, &local, &tc, epochs, &prep, loss, err);
    else
        st = train_plain(f, &local, &tc, epochs, start, anchor, (float)t->prox_mu, loss, err);
    if (st != FR_OK || (st = fr_node_round_check_loss(*loss, err)) != FR_OK)
        goto out;
    if (t->adam_carry && (st = moments_save(f, &local, err)) != FR_OK)
        goto out;
    fr_model_get_params(&local, delta);
    for (size_t i = 0; i < n; i++)
        delta[i] -= params[i];
    if (prep.site && (st = site_noise(f, delta, n, &prep.plan, t, err)) != FR_OK)
        goto out;
    double norm;
    if (fr_node_round_clip(t, delta, n, &norm))
        fr_fed_log("round %lld: update norm %.4g clipped to %.4g", (long long)t->round, norm,
                   t->max_update_norm * (1 - 1e-6));
    *delta_out = delta;
    delta = NULL;
out:
    if (anchor)
        be->free(anchor);
    free(delta);
    free(params);
    fr_model_free(&local);
    return st;
}

fr_status fr_fed_evaluate(fr_fed *f, fr_proto_metrics *m, fr_err *err)
{
    memset(m, 0, sizeof *m);
    m->model_version = f->version;
    m->loss = f->last_loss;
    m->eps_spent = f->eps_spent;
    fr_status st;
    if ((st = fr_fed_load_data(f, f->seq_len ? f->seq_len : 50, err)) != FR_OK)
        return st;
    fr_nn net = {0};
    fr_metrics valid;
    /* no validation split: an evaluation of no user */
    if (f->have_ev && (st = fr_nn_init(&net, &f->global, 256, f->seq_len, 1, err)) == FR_OK &&
        (st = fr_eval_model(&f->ev, &net, f->cfg.threads, &valid, NULL, err)) == FR_OK) {
        m->users = valid.users;
        m->hr10 = valid.hr10;
        m->ndcg10 = valid.ndcg10;
        m->recall10 = valid.recall10;
    }
    fr_nn_free(&net);
    if (st == FR_OK) {
        f->last_eval = *m;
        f->have_eval = 1;
    }
    return st;
}
