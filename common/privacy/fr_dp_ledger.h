/* The privacy ledger: every DP step a node takes is appended to a file in its state
 * folder and synced to disk before the step's update is applied or leaves the node,
 * so that a crash or a restart never forgets privacy already spent. The spent
 * epsilon is recomputed from the whole ledger with the accountant; a budget (epsilon,
 * delta) recorded in the ledger is enforced before training starts.
 *
 * File STATE_DIR/privacy-ledger, text, one record a line:
 *   budget epsilon=E delta=D          the budget in force from here on
 *   steps q=Q sigma=S n=N             N sampled Gaussian steps at (Q, S)
 *   skellam q=Q l1=A l2=B mu=M n=N    N sampled Skellam steps (federation-wide rounds
 *                                     with distributed noise, privacy/fr_skellam.h)
 * A line cut short by a crash (no final newline) is ignored: its step had not been
 * applied. Other malformed lines stop the node with an error naming the line, since
 * guessing would risk under-counting. */
#ifndef FR_DP_LEDGER_H
#define FR_DP_LEDGER_H

#include "privacy/fr_dp_accountant.h"
#include "util/fr_status.h"

typedef struct fr_dp_ledger {
    char path[4096];
    int fd;
    fr_rdp rdp;        /* everything spent so far */
    long steps;        /* steps recorded */
    fr_rdp fdp_rdp;    /* the federation-wide rounds alone (skellam records) */
    long fdp_steps;    /* federation-wide rounds recorded */
    double budget_eps; /* 0 when no budget was recorded */
    double budget_delta;
} fr_dp_ledger;

/* Open (creating the folder and the file, mode 0600) and replay the ledger. */
FR_MUST fr_status fr_dp_ledger_open(fr_dp_ledger *l, const char *state_dir, fr_err *err);
void fr_dp_ledger_close(fr_dp_ledger *l);

/* Record the budget (when it differs from the one in force). */
FR_MUST fr_status fr_dp_ledger_set_budget(fr_dp_ledger *l, double eps, double delta, fr_err *err);

/* Append n steps at (q, sigma) and sync them to disk before returning. */
FR_MUST fr_status fr_dp_ledger_record(fr_dp_ledger *l, double q, double sigma, long n, fr_err *err);

/* Append n sampled Skellam steps (rate q, sensitivities l1, l2, noise variance mu in
 * the ring) and sync them to disk before returning. */
FR_MUST fr_status fr_dp_ledger_record_skellam(fr_dp_ledger *l, double q, double l1, double l2,
                                              double mu, long n, fr_err *err);

/* Refuse (FR_EINVAL, with spent, remaining and the cost) when n more sampled Skellam
 * steps would take the spent epsilon over the budget in force. */
FR_MUST fr_status fr_dp_ledger_check_skellam(const fr_dp_ledger *l, double q, double l1, double l2,
                                             double mu, long n, fr_err *err);

/* Epsilon of the federation-wide rounds alone at delta: what every member of those
 * rounds has spent for them, the same at every node (0 without any). */
FR_MUST fr_status fr_dp_ledger_fdp_spent(const fr_dp_ledger *l, double delta, double *eps,
                                         fr_err *err);

/* Epsilon spent so far at delta. */
FR_MUST fr_status fr_dp_ledger_spent(const fr_dp_ledger *l, double delta, double *eps, fr_err *err);

/* Refuse (FR_EINVAL, with spent, remaining and the cost of the plan) when n more steps
 * at (q, sigma) would take the spent epsilon over the budget in force. */
FR_MUST fr_status fr_dp_ledger_check(const fr_dp_ledger *l, double q, double sigma, long n,
                                     fr_err *err);

/* The smallest noise multiplier (to 1e-4 relative) with which n more steps at rate q
 * keep the spent epsilon within the budget in force. */
FR_MUST fr_status fr_dp_ledger_sigma_for(const fr_dp_ledger *l, double q, long n, double *sigma,
                                         fr_err *err);

#endif
