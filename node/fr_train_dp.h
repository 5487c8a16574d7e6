/* `fedrecall-node train --dp`: open the node's privacy ledger, plan the run against
 * the budget, select the item rows it trains and set up the DP trainer. */
#ifndef FR_TRAIN_DP_H
#define FR_TRAIN_DP_H

#include "data/fr_data.h"
#include "nn/fr_model.h"
#include "nn/fr_train.h"
#include "privacy/fr_dp_ledger.h"
#include "privacy/fr_dp_rows.h"
#include "privacy/fr_dp_sgd.h"
#include "privacy/fr_skellam.h"
#include "util/fr_status.h"

typedef struct fr_train_dp_args {
    double q, sigma;
    float clip;
    int max_windows, per_user;
    double eps_max, delta;
    const char *state_dir, *seed;
    int sites;         /* > 0: federation-wide DP of this many sites with distributed noise */
    double rows_share; /* > 0: private row selection spending this share of the budget */
    double rows_noise; /* > 0: the row selection's noise multiplier (wins over the share) */
    double rows_z;     /* the selection's threshold in units of its noise */
} fr_train_dp_args;

/* Everything --dp needs before the first step; prints what the run will spend. */
FR_MUST fr_status fr_train_dp_setup(fr_dp_trainer *dtr, fr_dp_ledger *ledger, fr_dp_rows *rows,
                                    fr_model *model, const fr_train_config *tc,
                                    const fr_dataset *ds, const int32_t *windows, long n_windows,
                                    int epochs, int threads, const fr_train_dp_args *a,
                                    fr_skellam *sk, double *delta_out, fr_err *err);

#endif
