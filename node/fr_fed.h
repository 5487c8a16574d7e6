/* A node in the federation (fedrecall-node run): the settings, the durable state in
 * its state folder, the coordinator calls and the local work of a round. */
#ifndef FR_FED_H
#define FR_FED_H

#include <signal.h>
#include <stdint.h>

#include "data/fr_data.h"
#include "fr_data_cli.h"
#include "privacy/fr_dp_ledger.h"
#include "eval/fr_eval.h"
#include "net/fr_http_client.h"
#include "secagg/fr_identity.h"
#include "secagg/fr_roster.h"
#include "nn/fr_model.h"
#include "fed/fr_proposals.h"
#include "fed/fr_node_round.h"
#include "fed/fr_proto.h"
#include "fed/fr_sign.h"

typedef struct fr_fed_config {
    const char *coordinator; /* https://HOST:PORT */
    const char *cert, *key, *ca, *crl;
    const char *coordinator_key; /* the coordinator's public signing key: file or hex */
    const char *data, *format;
    const char *state_dir;
    int threads;
    const char *device;   /* cpu, cuda or auto: where local training runs */
    const fr_backend *be; /* the backend chosen for it (fr_backend_select) */
    uint64_t seed;
    int seed_fixed; /* seed was set: training reproducible (else fresh randomness) */
    int eval_users;
    int max_rounds;  /* stop after taking part in this many rounds (0: no limit) */
    int max_backoff; /* seconds, cap of the retry delay */
    int poll;        /* seconds between polls when the coordinator gives none */
    /* user-level DP-SGD (docs/privacy.md) */
    int dp;
    const char *dp_level; /* "user" (DP-SGD inside the site) or "site" (DP-FedAvg) */
    double dp_q, dp_noise, dp_eps_max, dp_delta;
    float dp_clip;
    int dp_max_windows;
    const char *dp_seed;
    /* federation-wide DP rounds (fed/fr_node_fdp.h): fellow members this node assumes
     * may collude with the coordinator; their shares do not count as its noise */
    int fdp_colluders;
    int require_secagg; /* take part in secure rounds only */
    /* floors on a secure round, above the built-in n >= 3, t > 2n/3 (fr_secagg.h) */
    int secagg_min_members;
    double secagg_min_ratio;
    const char *members; /* the roster: fellow members accepted (secagg/fr_roster.h) */
    /* propose item ids the catalogue lacks that the data names at least this many times
     * (fed/fr_proposals.h); 0: off */
    int propose_unknown;
    fr_data_cli data_cli;
} fr_fed_config;

typedef struct fr_fed {
    fr_fed_config cfg;
    fr_http_client http;
    uint8_t coord_pub[FR_SIGN_PUBLIC_BYTES];
    char name[FR_PROTO_NAME]; /* our identity, as the coordinator read it */
    /* secure aggregation: the long-term identity key, bound to our certificate, and
     * the CA that the other members' bindings are checked against */
    fr_sign_key identity;
    fr_identity_binding binding;
    fr_identity_ca idca;
    fr_roster roster;   /* the fellow members this node accepts (cfg.members) */
    int heartbeat_s;    /* join again this often (the coordinator says) */
    double progress_at; /* when a transfer's progress was last logged */
    /* the verified global model */
    fr_model global;
    long version; /* -1 with no model yet */
    /* local data, mapped onto the global model's catalogue */
    fr_dataset ds;
    int have_ds;
    long long extra_size; /* of the behaviour log the data was read with */
    int32_t *windows;
    long n_windows;
    int seq_len; /* of the windows */
    int users;   /* users with a training window */
    fr_evaluator ev;
    int have_ev;
    /* the last evaluation (fr_fed_evaluate): it enters the next secure round's masked
     * sum, and leaves the node in the clear only when require_secagg is off */
    fr_proto_metrics last_eval;
    int have_eval;
    int recipe_logged; /* the round's training recipe is logged once a run */
    int prox_logged;   /* a proximal term this node does not apply is logged once a run */
    fr_dp_ledger ledger;
    int have_ledger;
    int budget_set; /* the configured budget was recorded by this run */
    /* progress, kept in STATE_DIR/node-state */
    long last_round;    /* the last round whose update was delivered (or refused) */
    long last_reported; /* the last version whose metrics were reported */
    long trained_from;  /* the version this run last trained a round from */
    double last_loss;
    int rounds_done;
    double eps_spent;
    /* the proposals of the last data load, sent with each join (fed/fr_proposals.h) */
    fr_unknown unknown;
    char proposals[FR_PROPOSALS_MAX_BYTES + 1];
    size_t proposals_len;
    long data_loads; /* data loads so far: a new one sends its proposals with a join */
    /* the catalogue version the data was last mapped onto, sent with each join so that
     * the coordinator knows when a retired row is no node's any more; 0 before the
     * first load */
    long mapped_catalogue;
} fr_fed;

FR_MUST fr_status fr_fed_init(fr_fed *f, const fr_fed_config *cfg, fr_err *err);
/* The node's progress as the round's decisions see it (fed/fr_node_round.h). */
fr_node_view fr_fed_view(const fr_fed *f);
void fr_fed_free(fr_fed *f);
FR_MUST fr_status fr_fed_save_state(const fr_fed *f, fr_err *err);

/* Logs a transfer of a large body (a model, an update) every few seconds; the
 * progress callback of the node's HTTP client, with the fr_fed as ctx. */
void fr_fed_transfer_progress(void *ctx, uint64_t sent, uint64_t send_total, uint64_t received,
                              uint64_t receive_total);

/* Coordinator calls (fr_fed_net.c). FR_EIO: transport failure, worth retrying;
 * other codes: the coordinator refused (message holds its reason). */
FR_MUST fr_status fr_fed_join(fr_fed *f, fr_err *err);
FR_MUST fr_status fr_fed_task(fr_fed *f, fr_proto_task *t, fr_err *err);
/* Download, verify and install the latest version (saved to the state folder). */
FR_MUST fr_status fr_fed_fetch_model(fr_fed *f, long expect_version, fr_err *err);
/* Stream the update (head + delta) for round; *code is the HTTP status. */
FR_MUST fr_status fr_fed_upload(fr_fed *f, const fr_proto_update *u, const float *delta, long *code,
                                char *reason, size_t cap, size_t *sent, fr_err *err);
FR_MUST fr_status fr_fed_report(fr_fed *f, const fr_proto_metrics *m, fr_err *err);

/* Secure rounds (fr_fed_secagg.c). */
/* Load or make STATE_DIR/identity.key and bind it to the node's certificate. */
FR_MUST fr_status fr_fed_secagg_init(fr_fed *f, fr_err *err);
void fr_fed_secagg_free(fr_fed *f);
/* Take part in secure round t: key exchange, training, masked update, unmasking.
 * Returns 0 to go on, 1 to stop (budget spent), 2 to stop on a failure; gives up
 * early when *stop is set. */
int fr_fed_secagg_take_part(fr_fed *f, const fr_proto_task *t, const volatile sig_atomic_t *stop);

/* Local work (fr_fed_local.c). */
/* Load the data onto the global model's catalogue (once). */
FR_MUST fr_status fr_fed_load_data(fr_fed *f, int seq_len, fr_err *err);
/* The global model now follows another catalogue version: the data is read again at
 * the next round, mapped onto its rows, so that events on items the node dropped as
 * unknown are taken up (fr_fed_local.c). */
void fr_fed_catalogue_changed(fr_fed *f);
/* Before next replaces f->global: the rows next reclaims for new items (their retired
 * items' rows, fed/fr_catver.h) lose what the node keeps by row, the local Adam
 * moments of FR_FEDOPT_MOMENTS_FILE; the data's mapping is rebuilt with the new
 * catalogue (fr_fed_catalogue_changed). */
void fr_fed_rows_reclaimed(fr_fed *f, const fr_model *next);

/* Train from the global model per task t; *delta (malloc'd, global.n floats) = local
 * parameters - global ones, clipped to the task's norm bound. *stop is set when the
 * privacy budget cannot pay for the round. */
FR_MUST fr_status fr_fed_train_round(fr_fed *f, const fr_proto_task *t, float **delta, double *loss,
                                     int *stop, fr_err *err);
/* Evaluate the global model on the validation split. */
/* A round of federation-wide DP (fr_fed_fdp.c) in a secure round of secagg_n members
 * and threshold secagg_t: *refused set (and the reason logged) when the node sits it
 * out, else *ring (malloc'd, the model's n values) is the vector to mask, the round
 * charged to the ledger. */
FR_MUST fr_status fr_fed_fdp_round(fr_fed *f, const fr_proto_task *t, int secagg_n, int secagg_t,
                                   uint32_t **ring, double *loss, int *refused, fr_err *err);
FR_MUST fr_status fr_fed_evaluate(fr_fed *f, fr_proto_metrics *m, fr_err *err);

void fr_fed_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The loud warnings of a node whose own configuration turned a privacy default off
 * (dp, require-secure-aggregation): at start and before each round it trains. */
void fr_fed_warn_defaults(const fr_fed *f);

#endif
