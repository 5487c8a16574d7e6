/* Federation-wide user-level DP-SGD with distributed noise (DP-FedAvg of McMahan et
 * al. 2018 with the Skellam mechanism, privacy/fr_skellam.h): the two halves of one
 * round on top of the DP-SGD trainer's per-user clipped gradients.
 *
 * A node: each of its sampled users' gradient, clipped to C by the trainer, rounded
 * into the ring with conditional rounding and summed; the sum clamped and given the
 * node's noise share; the vector it masks (fr_dp_fdp_node_vector).
 * The sum of the nodes' vectors modulo 2^32: decoded, the padding rows (constants of
 * the model) zeroed, divided by q N, the expected number of users of a round over the
 * whole federation, and applied with Adam (fr_dp_fdp_apply), as central DP-SGD applies
 * its noisy sum: a round is one step of central DP-SGD over all N users, with the
 * Skellam noise in place of the Gaussian. */
#ifndef FR_DP_FDP_H
#define FR_DP_FDP_H

#include <stddef.h>
#include <stdint.h>

#include "privacy/fr_dp_sgd.h"
#include "privacy/fr_skellam.h"
#include "util/fr_status.h"

/* The vector of a node whose sampled users are users[0..n) (indices of tr's users):
 * out gets sk->dim values modulo 2^32 (sk->dim must be the model's parameter count).
 * The step's negatives must have been drawn (fr_dp_draw_negatives). *clamped (may be
 * NULL) receives the coordinates the clamp cut; stats the users' losses and clips. */
FR_MUST fr_status fr_dp_fdp_node_vector(fr_dp_trainer *tr, const fr_skellam *sk,
                                        const int32_t *users, int n, fr_dp_rng *rng, uint32_t *out,
                                        size_t *clamped, fr_dp_step_stats *stats, fr_err *err);

/* Apply the round's sum (sk->dim values modulo 2^32) to tr's model: decoded, padding
 * rows zeroed, divided by q * population, one Adam step at the trainer's rate. */
void fr_dp_fdp_apply(fr_dp_trainer *tr, const fr_skellam *sk, const uint32_t *sum, double q,
                     long population);

/* The round's step as the coordinator's server optimiser takes it (fr_fedagg.h): sum
 * (m's n values) holds the ring sum's integers (fed/fr_round.h, cfg.fdp) and becomes,
 * in place, weight times the model delta -g / (q population), g the decoded noisy sum
 * of the users' clipped gradients, padding rows zeroed, so that the aggregate's mean
 * (sum / weight) is that delta: FedAvg at server rate 1 takes central DP-SGD's plain
 * step, FedAdam central DP-SGD with Adam at its own rate (fr_dp_fdp_apply, in a
 * process that holds no data). weight: the round's aggregate weight (> 0). */
void fr_dp_fdp_round_delta(const fr_model *m, const fr_skellam *sk, double q, long population,
                           double weight, double *sum);

/* One epoch (round(1/q) rounds) of the federation that the users of tr would form
 * split among sk->nodes sites (user u at site u mod nodes), in one process, every site
 * surviving: each site samples its users at rate q, its vector is built as a node's
 * would be, the vectors are summed modulo 2^32 and applied. Each round is charged to
 * the ledger (when given) before it is applied. It measures what the federation's
 * mechanism costs in quality against central DP-SGD (bench/privacy.sh). out as
 * fr_dp_trainer_epoch's; *clamped adds up the clamped coordinates. */
FR_MUST fr_status fr_dp_fdp_sim_epoch(fr_dp_trainer *tr, const fr_skellam *sk, double q,
                                      fr_dp_ledger *ledger, fr_dp_rng *rng, fr_epoch_stats *out,
                                      size_t *clamped, fr_err *err);

#endif
