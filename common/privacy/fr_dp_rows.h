/* Private row selection: which item ID rows a DP-SGD run trains. Most of the model's
 * parameters are item ID rows and each user touches few of them; noise on a row that
 * few users touch buries what they teach it, and a row whose noise has no signal
 * drifts to a random vector that outscores real items. So a private run trains only
 * the rows that enough users touch, chosen privately, and leaves every other row at
 * zero: those items are scored from their content (the item tower's token CNN, which
 * every run trains), as a new item is.
 *
 * The choice is one Gaussian mechanism over the users (sparsity-preserving DP
 * training in the manner of DP-FEST, Ghazi et al., NeurIPS 2023): each user adds
 * 1/sqrt(n_u) to each of the n_u distinct items of the windows it trains on (the newest
 * max_windows, as DP-SGD counts them), a vector of L2 norm 1; Gaussian noise of
 * standard deviation sigma_sel goes on every row's sum, and a row is trained when its
 * noisy sum is above the threshold. Adding or removing a user moves the sums by at
 * most 1 in L2, so the release is a Gaussian mechanism with noise multiplier sigma_sel
 * at sampling rate 1 for the accountant, recorded in the ledger before the noisy sums
 * exist. What the run then does with the rows (train the chosen ones, zero the rest)
 * is post-processing. The noisy sums are returned too: a private estimate of the
 * items' popularity. */
#ifndef FR_DP_ROWS_H
#define FR_DP_ROWS_H

#include <stdint.h>

#include "privacy/fr_dp_ledger.h"
#include "privacy/fr_dp_sgd.h"
#include "util/fr_status.h"

/* The default threshold in units of sigma_sel: a row no user touches passes with
 * probability 0.13% (P(N(0,1) > 3)). */
#define FR_DP_ROWS_Z 3.0

typedef struct fr_dp_rows {
    uint8_t *trained; /* host, V flags: 1 for a row DP-SGD trains; row 0 always 0 */
    float *noisy;     /* host, V: the noisy per-row sums (row 0: 0) */
    int n_trained;    /* rows flagged */
    double sigma;     /* sigma_sel */
    double threshold; /* the noisy sum a row must exceed */
} fr_dp_rows;

/* Select the rows for the trainer's users and windows: record one Gaussian step
 * (q 1, sigma_sel) in the ledger (when given) before anything is drawn, then draw the
 * noise from the trainer's key (its own stream, which no step uses) and flag the rows
 * above threshold. FR_EINVAL for sigma_sel or threshold not finite or sigma_sel <= 0. */
FR_MUST fr_status fr_dp_rows_select(fr_dp_rows *r, fr_dp_trainer *tr, fr_dp_ledger *ledger,
                                    double sigma_sel, double threshold, fr_err *err);
void fr_dp_rows_free(fr_dp_rows *r);

/* Make the trainer train only r's rows: the other ID rows of the model are set to
 * zero and stay so (their rows of the noisy sum, gradient and noise alike, are set to
 * zero before Adam: what is released is the trained rows' noisy sum, a projection of
 * the clipped sum, whose sensitivity is no higher). The step's negatives are still drawn from every
 * row, so that the content vector the other rows share is pushed below the items users chose. r
 * must outlive the trainer's use of it. FR_EINVAL when no row is trained. */
FR_MUST fr_status fr_dp_trainer_set_rows(fr_dp_trainer *tr, const fr_dp_rows *r, fr_err *err);

#endif
