/* The coordinator's settings: one table serves the command line and the
 * configuration file (a key is an option's name), so the two cannot disagree. */
#include <float.h>
#include <stdio.h>
#include <string.h>

#include "fr_coord.h"
#include "nn/fr_train.h"

void fr_coord_config_default(fr_coord_config *c)
{
    memset(c, 0, sizeof *c);
    c->listen = "127.0.0.1:8443";
    c->cert = "certs/coordinator.crt";
    c->key = "certs/coordinator.key";
    c->ca = "certs/ca.crt";
    c->state_dir = "coordinator-state";
    c->min_nodes = 2;
    c->quorum = 0;
    c->min_updates = 1;
    c->round_timeout = 600;
    c->node_timeout = 90;
    c->rounds = 0;
    c->retry = 2;
    c->heartbeat = 30;
    c->aggregator = "auto"; /* fedavg, or fedadam under dp-federation (fr_coord.c) */
    c->server_lr = 0;       /* chosen per aggregator at start */
    c->server_beta1 = 0.9;
    c->server_beta2 = 0.99;
    c->server_tau = 1e-3;
    c->server_lr_schedule = "constant";
    c->server_extrapolation = "auto";
    c->local_epochs = 0; /* auto: one per site (fr_fedopt.h) */
    c->local_adam = "carry";
    c->batch = 128;
    c->seq_len = 50;
    c->negatives = 0; /* the recipe's */
    c->lr = 0;
    c->recipe = FR_RECIPE_DEFAULT;
    c->max_update_norm = 100.0;
    c->weighting = "users";
    c->max_weight = FR_ROUND_MAX_WEIGHT_DEFAULT;
    c->secure_aggregation = "on";
    c->secagg_threshold = 0;
    c->secagg_step_timeout = 30;
    c->header_deadline = 10;
    c->max_connections = 512;
    c->dp_fed_clip = 1.0;
}

void fr_coord_options(fr_coord_config *c, fr_opt *opts, const char **config_path, int *help)
{
    const fr_opt table[] = {
        {"config", FR_OPT_STR, config_path, 0, 0, "configuration file (keys = these options)", 0,
         0},
        {"listen", FR_OPT_STR, &c->listen, 0, 0, "HOST:PORT to serve on", 0, 0},
        {"cert", FR_OPT_STR, &c->cert, 0, 0, "server certificate (PEM)", 0, 0},
        {"key", FR_OPT_STR, &c->key, 0, 0, "server private key (PEM)", 0, 0},
        {"ca", FR_OPT_STR, &c->ca, 0, 0, "federation CA: node certificates must chain to it", 0, 0},
        {"crl", FR_OPT_STR, &c->crl, 0, 0, "revocation list (PEM; re-read on SIGHUP)", 0, 0},
        {"state-dir", FR_OPT_STR, &c->state_dir, 0, 0, "durable state folder", 0, 0},
        {"initial-model", FR_OPT_STR, &c->initial_model, 0, 0,
         "model file for version 0 when the state folder has none (default "
         "STATE_DIR/initial-model.frm)",
         0, 0},
        {"signing-key", FR_OPT_STR, &c->signing_key, 0, 0,
         "Ed25519 key that signs models (made when absent; default STATE_DIR/signing.key)", 0, 0},
        {"min-nodes", FR_OPT_INT, &c->min_nodes, 1, 100000, "live nodes needed to open a round", 0,
         0},
        {"quorum", FR_OPT_INT, &c->quorum, 0, 100000,
         "updates that close a round (0: all nodes live at its opening)", 0, 0},
        {"min-updates", FR_OPT_INT, &c->min_updates, 1, 100000,
         "updates a round needs at its deadline to publish", 0, 0},
        {"round-timeout", FR_OPT_INT, &c->round_timeout, 1, 86400 * 7,
         "seconds from a round's opening to its deadline", 0, 0},
        {"node-timeout", FR_OPT_INT, &c->node_timeout, 1, 86400,
         "seconds of silence after which a node is not live", 0, 0},
        {"rounds", FR_OPT_INT, &c->rounds, 0, 100000000,
         "rounds to publish before the federation ends (0: no end)", 0, 0},
        {"retry", FR_OPT_INT, &c->retry, 1, 3600, "seconds nodes wait between polls", 0, 0},
        {"heartbeat", FR_OPT_INT, &c->heartbeat, 1, 86400, "seconds between a node's heartbeats", 0,
         0},
        {"aggregator", FR_OPT_STR, &c->aggregator, 0, 0,
         "fedavg, fedavgm, fedadam, fedyogi, or auto: fedavg, and fedadam under dp-federation", 0,
         0},
        {"server-lr", FR_OPT_DOUBLE, &c->server_lr, 0, 1e3,
         "server learning rate (0: 1 for fedavg, 1 - server-beta1 for fedavgm, 0.01 for fedadam "
         "and fedyogi; under dp-federation 1/rounds within [0.01, 0.05] for fedadam and fedyogi)",
         0, 0},
        {"server-lr-schedule", FR_OPT_STR, &c->server_lr_schedule, 0, 0,
         "constant, or cosine: from server-lr down to a tenth of it at the last of --rounds", 0, 0},
        {"server-extrapolation", FR_OPT_STR, &c->server_extrapolation, 0, 0,
         "fedavg steps past the mean of the deltas by how much they disagree, 1x to 2x (on), "
         "or not (off); auto: on for fedavg outside dp-federation",
         0, 0},
        {"server-beta1", FR_OPT_DOUBLE, &c->server_beta1, 0, 0.999999,
         "FedAvgM momentum, FedAdam/FedYogi first-moment decay", 0, 0},
        {"server-beta2", FR_OPT_DOUBLE, &c->server_beta2, 0, 0.999999,
         "FedAdam/FedYogi second-moment decay", 0, 0},
        {"server-tau", FR_OPT_DOUBLE, &c->server_tau, 1e-12, 1, "FedAdam/FedYogi adaptivity tau", 0,
         0},
        {"local-epochs", FR_OPT_INT, &c->local_epochs, 0, 10000,
         "task: local epochs per round (0: auto, one per site, as many as min-nodes)", 0, 0},
        {"local-adam", FR_OPT_STR, &c->local_adam, 0, 0,
         "task: carry (the default: a node keeps its local Adam moments between rounds in its "
         "state folder) or fresh (each round's local Adam starts from zero moments)",
         0, 0},
        {"prox-mu", FR_OPT_DOUBLE, &c->prox_mu, 0, 1e6,
         "task: FedProx's mu, the local steps' pull (mu/2)|w - w_global|^2 back to the round's "
         "model (0, the default: none; not with dp-federation)",
         0, 0},
        {"batch", FR_OPT_INT, &c->batch, 1, 1 << 20, "task: sequences per batch", 0, 0},
        {"seq-len", FR_OPT_INT, &c->seq_len, 1, 65536, "task: sequence length L", 0, 0},
        {"recipe", FR_OPT_STR, &c->recipe, 0, 0,
         "task: the nodes' training recipe, " FR_RECIPE_NAMES
         "; its lr schedule spans --rounds (docs/model.md)",
         0, 0},
        {"negatives", FR_OPT_INT, &c->negatives, 0, 1 << 20,
         "task: shared negatives K (0: the recipe's, 256 tuned, 128 peer)", 0, 0},
        {"lr", FR_OPT_FLOAT, &c->lr, 0, 1e3,
         "task: local Adam learning rate, the schedule's peak (0: the recipe's, 3e-3 tuned, 1e-3 "
         "peer)",
         0, 0},
        {"max-update-norm", FR_OPT_DOUBLE, &c->max_update_norm, 1e-9, 1e12,
         "task: L2 bound of an update; larger ones are refused", 0, 0},
        {"weighting", FR_OPT_STR, &c->weighting, 0, 0,
         "task: what a node's FedAvg weight counts (users or windows)", 0, 0},
        {"max-weight", FR_OPT_DOUBLE, &c->max_weight, 1, 1e9,
         "task: the cap on one node's weight; larger plain updates are refused", 0, 0},
        {"max-body", FR_OPT_U64, &c->max_body, 0, 0,
         "largest request body in bytes (0: the model's update size + 64 KiB)", 0, 0},
        {"header-deadline", FR_OPT_INT, &c->header_deadline, 1, 600,
         "seconds a connection has for its TLS handshake and each request's header", 0, 0},
        {"max-connections", FR_OPT_INT, &c->max_connections, 8, 1000000,
         "TLS connections open at once; at the cap accepting pauses", 0, 0},
        {"operators", FR_OPT_STR, &c->operators, 0, 0,
         "comma-separated certificate names that may read /v1/status, /metrics and /dashboard "
         "(default: any federation certificate reads /v1/status and /metrics without per-node "
         "detail, and none the dashboard)",
         0, 0},
        {"dashboard-listen", FR_OPT_STR, &c->dashboard_listen, 0, 0,
         "also serve /dashboard over plain HTTP on this loopback HOST:PORT (127.0.0.1 or ::1 "
         "only; for a browser on this machine or through an SSH tunnel)",
         0, 0},
        {"keep-models", FR_OPT_INT, &c->keep_models, 0, 100000000,
         "model versions whose files are kept, newest first (0: all)", 0, 0},
        {"keep-updates", FR_OPT_FLAG, &c->keep_updates, 0, 0,
         "keep update files after their round closes", 0, 0},
        {"secure-aggregation", FR_OPT_STR, &c->secure_aggregation, 0, 0,
         "on: the coordinator sees only the sum of each round's updates (docs/secagg.md); off: "
         "plain updates",
         0, 0},
        {"secagg-threshold", FR_OPT_INT, &c->secagg_threshold, 0, 255,
         "members a secure round needs at every step (0: the smallest above 2n/3, at least "
         "min-updates)",
         0, 0},
        {"secagg-step-timeout", FR_OPT_INT, &c->secagg_step_timeout, 1, 86400,
         "seconds each key-exchange and unmasking step of a secure round waits", 0, 0},
        {"dp-federation", FR_OPT_FLAG, &c->dp_federation, 0, 0,
         "every round is user-level DP-SGD over the whole federation, its noise added by the "
         "nodes in shares of the secure sum (docs/privacy.md; needs secure-aggregation on)",
         0, 0},
        {"dp-fed-q", FR_OPT_DOUBLE, &c->dp_fed_q, 1e-9, 1,
         "dp-federation: the rate at which every node samples its users each round (default: "
         "the recipe from dp-fed-epsilon, dp-fed-users and rounds, docs/privacy.md)",
         0, 0},
        {"dp-fed-sigma", FR_OPT_DOUBLE, &c->dp_fed_sigma, 1e-6, 1e6,
         "dp-federation: noise multiplier (or give dp-fed-epsilon)", 0, 0},
        {"dp-fed-epsilon", FR_OPT_DOUBLE, &c->dp_fed_epsilon, 1e-6, 1e6,
         "dp-federation: plan sigma so that --rounds rounds spend this epsilon", 0, 0},
        {"dp-fed-delta", FR_OPT_DOUBLE, &c->dp_fed_delta, 1e-300, 0.5,
         "dp-federation: delta of dp-fed-epsilon (default 1/(10 dp-fed-users))", 0, 0},
        {"dp-fed-clip", FR_OPT_DOUBLE, &c->dp_fed_clip, 1e-9, 1e6,
         "dp-federation: L2 bound C of one user's gradient", 0, 0},
        {"dp-fed-users", FR_OPT_INT, &c->dp_fed_users, 0, 1 << 30,
         "dp-federation: the federation's users N (a round's step is the noisy sum / (q N))", 0, 0},
        {"help", FR_OPT_FLAG, help, 0, 0, "show this help", 0, 0},
        {0},
    };
    FR_ASSERT(sizeof table / sizeof table[0] <= FR_COORD_NOPTS);
    memcpy(opts, table, sizeof table);
}
