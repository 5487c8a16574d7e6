/* The coordinator: one event loop serving the federation's HTTPS endpoints, running
 * rounds (open when enough nodes are live, collect updates until the quorum or the
 * deadline, aggregate, publish a signed model version) and keeping every durable fact
 * in the state folder: SQLite for rounds, nodes, versions, metrics and refusals;
 * files for model checkpoints, server-optimiser state and the updates of the open
 * round, each written atomically. Killed at any moment and restarted, it resumes from
 * that folder (docs/protocol.md, docs/operations.md). */
#ifndef FR_COORD_H
#define FR_COORD_H

#include <event2/event.h>
#include <event2/http.h>
#include <stddef.h>

#include "fed/fr_fdp_spent.h"
#include "fed/fr_refusal_limit.h"
#include "fed/fr_fedagg.h"
#include "fed/fr_proposals.h"
#include "fed/fr_proto.h"
#include "fed/fr_round.h"
#include "net/fr_https.h"
#include "secagg/fr_identity.h"
#include "nn/fr_model.h"
#include "util/fr_opts.h"
#include "secagg/fr_secagg_round.h"
#include "fed/fr_sign.h"
#include "util/fr_status.h"
#include "fr_store.h"

typedef struct fr_coord_config {
    const char *listen, *cert, *key, *ca, *crl, *state_dir;
    const char *initial_model; /* used when the state folder holds no version yet */
    const char *signing_key;   /* default STATE_DIR/signing.key */
    int min_nodes;             /* live nodes needed to open a round */
    int quorum;                /* updates that close a round; 0 = every node live at its opening */
    int min_updates;           /* updates a round needs by its deadline to publish */
    int round_timeout;         /* seconds from opening to the deadline */
    int node_timeout;          /* a node not heard from for this long is not live */
    int rounds;                /* publish this many versions, then finish (0 = no end) */
    int retry;                 /* seconds nodes wait between polls */
    int heartbeat;             /* seconds between a node's joins */
    const char *aggregator;
    double server_lr, server_beta1, server_beta2, server_tau;
    const char *server_lr_schedule;   /* "constant" or "cosine" over `rounds` */
    const char *server_extrapolation; /* "auto", "on" or "off" (fr_agg_extrapolation_parse) */
    int local_epochs;                 /* 0: auto, one per site (min_nodes) */
    const char *local_adam;           /* "fresh" or "carry": the nodes' Adam moments */
    double prox_mu;                   /* FedProx's mu for the nodes' local steps; 0: none */
    int batch, seq_len, negatives;    /* negatives 0: the recipe's */
    float lr;                         /* 0: the recipe's */
    const char *recipe;               /* the nodes' training recipe (nn/fr_train.h) */
    double max_update_norm;
    const char *weighting;
    double max_weight;     /* the cap on one node's weight (docs/security.md) */
    uint64_t max_body;     /* bytes; 0 = the model's update size plus 64 KiB */
    int header_deadline;   /* seconds for a TLS handshake and a request's header */
    int max_connections;   /* TLS connections open at once */
    int keep_updates;      /* keep update files after their round closes */
    int keep_models;       /* model files kept, newest first (0: all) */
    const char *operators; /* certificate names allowed the status views with per-node
                            * detail (unset: any federation certificate reads them
                            * without it) */
    /* secure aggregation (docs/secagg.md): "on" or "off" */
    const char *secure_aggregation;
    int secagg_threshold;    /* t; 0 = a majority of the round's members, at least min-updates */
    int secagg_step_timeout; /* seconds each key-exchange and unmasking step waits */
    const char *dashboard_listen; /* loopback HOST:PORT serving /dashboard over plain HTTP */
    /* federation-wide user-level DP (docs/privacy.md): sampling rate, noise multiplier
     * or epsilon budget (with delta, 0: 1/(10 users), over `rounds`), clip, and the
     * federation's users N */
    int dp_federation;
    double dp_fed_q, dp_fed_sigma, dp_fed_epsilon, dp_fed_delta, dp_fed_clip;
    int dp_fed_users;
} fr_coord_config;

void fr_coord_config_default(fr_coord_config *c);

/* The option table of the serve command over c (config keys are these names). */
#define FR_COORD_NOPTS 56
void fr_coord_options(fr_coord_config *c, fr_opt *opts, const char **config_path, int *help);

typedef struct fr_coord_live {
    char name[64];
    double last_seen;
    double stored_at; /* when last_seen was last written to the store */
    /* from its last join: whether it has data, and its verified secure-aggregation
     * identity */
    int has_data;
    int has_id;
    uint8_t id_pk[FR_IDENTITY_PK_BYTES];
    uint8_t *id_cert; /* malloc'd DER */
    size_t id_cert_len;
    uint8_t id_sig[FR_IDENTITY_MAX_SIG];
    size_t id_sig_len;
    fr_proposal *proposals; /* from its last join: ids the catalogue lacks (malloc'd) */
    int n_proposals;
} fr_coord_live;

typedef struct fr_coord_stats {
    long requests, refused, updates_accepted, updates_refused;
    long refusals_unrecorded; /* refused beyond a node's rate of recorded refusals */
    double update_bytes, aggregate_seconds;
    long downloads;
} fr_coord_stats;

typedef struct fr_coord {
    fr_coord_config cfg;
    char state_dir[4096];
    struct event_base *base;
    fr_https *https;
    fr_https *dash_https; /* the loopback dashboard listener, when configured */
    fr_store store;
    fr_sign_key key;
    fr_agg_config agg_cfg;
    double fdp_sigma;       /* dp-federation: the noise multiplier its rounds announce */
    long fdp_rounds;        /* dp-federation: steps taken since start */
    fr_fdp_spent fdp_spent; /* the published federation-wide rounds, all runs (the store's) */
    /* the latest published version */
    fr_model model; /* host parameters (CPU backend) */
    long version;
    uint8_t *file; /* its model file, as served */
    size_t file_len;
    char sig_hex[2 * FR_SIGN_BYTES + 1];
    fr_server_opt opt;
    size_t max_body;
    /* the open round (rd.id == 0: none), its updates or its secure aggregation: the
     * state machine this program is the glue of (fed/fr_round.h) */
    fr_round rd;
    int publishing; /* a publish is scheduled */
    long published; /* versions published by rounds, all runs */
    int done;       /* cfg.rounds reached */
    int failed;     /* stopped because the state folder could not be written */
    fr_coord_live *live;
    int n_live;
    fr_identity_ca idca;        /* checks the identities nodes bind to their certificates */
    struct fr_coord_held *held; /* secure-round GETs waiting for their step */
    int n_held, cap_held;
    struct event *tick, *sig_term, *sig_int, *sig_hup;
    fr_coord_stats stats;
    fr_refusal_limit refusal_limit; /* which refusals reach the store and the log */
    long catalogue_refused;         /* the catalogue version last refused (logged once) */
} fr_coord;

/* Open the state folder, load or create the signing key and the latest version,
 * resume an open round, start listening. */
FR_MUST fr_status fr_coord_init(fr_coord *c, const fr_coord_config *cfg, fr_err *err);
/* Run until SIGTERM/SIGINT. */
FR_MUST fr_status fr_coord_run(fr_coord *c, fr_err *err);
void fr_coord_free(fr_coord *c);

/* Rounds (fr_coord_round.c). */
double fr_coord_now(void);
void fr_coord_tick(fr_coord *c);
FR_MUST fr_status fr_coord_resume_round(fr_coord *c, fr_err *err);
/* Take one update body from node: checked by the round, filed, recorded, then added;
 * *quorum set when the round now has its quorum. On refusal, the reason (and why). */
FR_MUST fr_round_refusal fr_coord_take_update(fr_coord *c, const char *node, const uint8_t *body,
                                              size_t len, int *quorum, char *reason,
                                              size_t reason_cap);
int fr_coord_live_count(const fr_coord *c);
/* Whether peer is named in `operators` (never when it is unset): the views with
 * per-node detail (the nodes and refusals of /v1/status, the dashboard) are theirs. */
int fr_coord_is_operator(const fr_coord *c, const char *peer);
void fr_coord_seen(fr_coord *c, const char *node);

/* End the open round: aborted with note, or published (fr_coord_round.c). These and
 * the round's opening and its accepted updates are the only writers of rounds in
 * the store, one fr_store_commit_* each. */
void fr_coord_round_abort(fr_coord *c, const char *note);
void fr_coord_round_publish(fr_coord *c);
/* Do what the round decided (log a step, publish, abort). */
void fr_coord_round_act(fr_coord *c, const fr_round_decision *d);
fr_coord_live *fr_coord_live_find(fr_coord *c, const char *node);

/* Secure rounds (fr_coord_secagg.c). */
int fr_coord_secagg_enabled(const fr_coord *c);
/* Nodes that can be members of a secure round: live, with a verified identity and
 * data to train on. */
int fr_coord_secagg_eligible(const fr_coord *c);
/* Make the just-opened round a secure one over the eligible nodes. */
FR_MUST fr_status fr_coord_secagg_open(fr_coord *c, fr_err *err);
/* Answer the held GETs whose step has closed, or that waited long enough
 * (fr_coord_http.c). */
void fr_coord_secagg_wake(fr_coord *c);
/* One /v1/secagg/<step> request from node (asked: the round a GET names): FR_ROUND_OK
 * with the body to send (out, msgpack, for a GET) or the reason on refusal. */
FR_MUST fr_round_refusal fr_coord_secagg_request(fr_coord *c, const char *node, fr_round_msg m,
                                                 long asked, const uint8_t *body, size_t len,
                                                 msgpack_sbuffer *out, char *reason, size_t cap);

/* The global model (fr_coord_model.c). */
FR_MUST fr_status fr_coord_load_model(fr_coord *c, fr_err *err);

/* Federation-wide DP (fr_coord_fdp.c): check the settings and plan sigma at start; the
 * round's mechanism into a secure round's task; the unmasked ring sum into the step
 * the server optimiser takes, before a publish. */
FR_MUST fr_status fr_coord_fdp_init(fr_coord *c, fr_err *err);
void fr_coord_fdp_task(const fr_coord *c, fr_proto_task *t);
FR_MUST fr_status fr_coord_fdp_step(fr_coord *c, fr_err *err);
/* The federation's epsilon (fed/fr_fdp_spent.h): fr_coord_fdp_load composes the
 * published rounds' mechanisms from the store at start; fr_coord_fdp_round gives the
 * open round's mechanism as its task announces it (0 when it is no federation-wide
 * round), which the publish records with the round, and fr_coord_fdp_published adds it. */
FR_MUST fr_status fr_coord_fdp_load(fr_coord *c, fr_err *err);
int fr_coord_fdp_round(const fr_coord *c, fr_fdp_round *r);
void fr_coord_fdp_published(fr_coord *c, const fr_fdp_round *r);
/* What the status views show of it (filled in fr_coord_fdp.c, shown by fr_coord_fdp_view.c). */
typedef struct fr_coord_fdp_view {
    int on;                /* dp-federation is on (else: rounds of an earlier run only) */
    long rounds;           /* federation-wide rounds published, all runs */
    double q, sigma, clip; /* the mechanism the tasks carry (the latest round's when off) */
    double delta, eps;     /* epsilon spent at the federation's delta */
    long planned_rounds;   /* rounds once `rounds` versions are published (0: no end set) */
    double planned_eps;    /* epsilon then, at delta (< 0: no end set) */
} fr_coord_fdp_view;
/* Fill v; v->on and v->rounds both 0: nothing to show. */
FR_MUST fr_status fr_coord_fdp_figures(const fr_coord *c, fr_coord_fdp_view *v, fr_err *err);
/* Its object in /v1/status ("federation_dp"; NULL when there is nothing to show), its
 * gauges in /metrics, its panel on the dashboard, its line in the report (from the
 * store alone). */
struct json_t *fr_coord_fdp_json(const fr_coord *c);
void fr_coord_fdp_prometheus(FILE *f, const fr_coord *c);
void fr_coord_fdp_html(FILE *f, const fr_coord *c);
FR_MUST fr_status fr_coord_fdp_report(fr_store *s, FILE *out, fr_err *err);
/* The next version from the open round's aggregate: applied, saved, signed and
 * served; *mr is its row, for the store (fr_coord_round_publish records it), and
 * *stretch the factor the server step took (fr_agg_extrapolation). */
FR_MUST fr_status fr_coord_publish(fr_coord *c, fr_model_row *mr, double *stretch, fr_err *err);

/* Endpoints (fr_coord_http.c) and operator views (fr_coord_status.c). */
void fr_coord_handle(struct evhttp_request *req, const char *peer, void *ctx);
/* The status as JSON; per-node detail (each node's users, windows, epsilon, refusals)
 * only with detail set (an operator's request). */
char *fr_coord_status_json(fr_coord *c, int detail);
char *fr_coord_prometheus(fr_coord *c);

/* The operator's dashboard (fr_coord_dashboard.c): the page as a malloc'd string (NULL
 * when out of memory), its reply, and the handler of the loopback listener. */
char *fr_coord_dashboard_html(fr_coord *c);
void fr_coord_on_dashboard(fr_coord *c, struct evhttp_request *req);
void fr_coord_dashboard_handle(struct evhttp_request *req, const char *peer, void *ctx);

/* Proposals from the edge (fr_coord_proposals.c): a join's unknown_items into l
 * (FR_EFORMAT: the join is refused), and their table on the dashboard. */
FR_MUST fr_status fr_coord_proposals_take(fr_coord_live *l, const fr_proto_bin *b, fr_err *err);
void fr_coord_proposals_html(FILE *f, fr_coord *c);
/* Their counts for /v1/status: {"items", "nodes", "events"}, and with detail (an
 * operator's view) "top": the ids most nodes name, as on the dashboard. */
struct json_t;
struct json_t *fr_coord_proposals_json(const fr_coord *c, int detail);
/* The catalogue's and the proposals' gauges for /metrics (counts only, no ids). */
void fr_coord_proposals_prometheus(FILE *f, const fr_coord *c);

/* fedrecall-coordinator report: the rounds table from a state folder. */
FR_MUST fr_status fr_coord_report(const char *state_dir, FILE *out, fr_err *err);

/* log one line on stderr with a UTC time stamp */
void fr_coord_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
