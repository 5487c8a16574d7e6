/* Federated aggregation over the model's flat parameter vector: the coordinator adds
 * up the deltas that nodes send (each n float32 in the model's parameter layout, see
 * fr_model.h), takes their weighted mean and applies it to the global parameters with
 * a server optimiser (FedAvg; FedAvgM, server momentum, Hsu et al. 2019, "Measuring
 * the Effects of Non-Identical Data Distribution for Federated Visual Classification";
 * FedAdam or FedYogi, Reddi et al. 2021, "Adaptive Federated Optimization",
 * Algorithm 2) at a server learning rate that may follow a schedule over the rounds,
 * whose state (moments, steps taken) survives restarts in a small checksummed file.
 *
 * Server optimiser state file
 * ===========================
 * All numbers little-endian.
 *
 *   offset   size  field
 *   0        8     magic "FRSOPT1\n"
 *   8        8     n, uint64: the number of parameters
 *   16       8     step, int64 (>= 0): server steps taken
 *   24       4n    m, float32
 *   24+4n    4n    v, float32
 *   24+8n    4     CRC-32 (fr_modelfile_crc32) of every byte before it
 *
 * Nothing follows the CRC. */
#ifndef FR_FEDAGG_H
#define FR_FEDAGG_H

#include <stddef.h>
#include <stdint.h>

#include "util/fr_status.h"

#define FR_SOPT_MAGIC "FRSOPT1\n"
#define FR_SOPT_HEADER_BYTES 24u

typedef enum fr_agg_kind {
    FR_AGG_FEDAVG,
    FR_AGG_FEDADAM,
    FR_AGG_FEDYOGI,
    FR_AGG_FEDAVGM
} fr_agg_kind;

/* The server learning rate over the rounds: constant, or a half cosine from server_lr
 * at the first step down to FR_AGG_LR_FLOOR x server_lr at step `rounds` (and held
 * there after it). */
typedef enum fr_agg_schedule { FR_AGG_LR_CONSTANT, FR_AGG_LR_COSINE } fr_agg_schedule;
/* The cosine's end as a share of server_lr: late rounds still move the model, so
 * that a node joining late or a federation run past its planned end keeps learning. */
#define FR_AGG_LR_FLOOR 0.1

/* "fedavg", "fedavgm", "fedadam" or "fedyogi" into *out; anything else is FR_EINVAL
 * quoting s. */
FR_MUST fr_status fr_agg_kind_parse(const char *s, fr_agg_kind *out, fr_err *err);
/* The name fr_agg_kind_parse reads ("fedavg", ...); "unknown" for a value out of range. */
const char *fr_agg_kind_name(fr_agg_kind k);
/* "constant" or "cosine" into *out; anything else is FR_EINVAL quoting s. */
FR_MUST fr_status fr_agg_schedule_parse(const char *s, fr_agg_schedule *out, fr_err *err);
const char *fr_agg_schedule_name(fr_agg_schedule s);

typedef struct fr_agg_config {
    fr_agg_kind kind;
    double server_lr; /* eta: > 0 */
    double beta1;     /* first-moment decay, [0, 1); FedAvgM's momentum and the adaptive kinds */
    double beta2;     /* second-moment decay, [0, 1); adaptive kinds only */
    double tau;       /* adaptivity floor, > 0; adaptive kinds only */
    fr_agg_schedule schedule;
    long rounds;     /* the schedule's length in server steps, >= 1 for cosine */
    int extrapolate; /* fedavg only: scale each step by fr_agg_extrapolation */
} fr_agg_config;

/* fedavg, server_lr 1.0, beta1 0.9, beta2 0.99, tau 1e-3, constant rate, no
 * extrapolation. */
fr_agg_config fr_agg_config_default(void);

/* FedAvg's extrapolation (cfg->extrapolate; Jhunjhunwala et al. 2023, "FedExP: Speeding
 * Up Federated Averaging via Extrapolation"): the mean of S sites' deltas, each several
 * local epochs from the same start, is shorter than a central run of the same steps
 * would move, since the part of each delta that only its own site's data pulls for
 * averages out. How much shorter the round itself tells: with p_i = w_i / sum w,
 *     factor = sum p_i |delta_i|^2 / (2 |sum p_i delta_i|^2),
 * cut to [1, FR_AGG_EXTRAP_MAX], and the server step is server_lr x factor x the mean.
 * Deltas that agree give 1 (no extrapolation); S equal, orthogonal deltas give S / 2.
 * The cap bounds what a node can do by overstating its squared norm, which under
 * secure aggregation no one can check, and the step when the deltas nearly cancel. */
#define FR_AGG_EXTRAP_MAX 2.0

/* The server rate when the operator sets none (server-lr 0): 1 for fedavg; 1 - beta1
 * for fedavgm (once its momentum has built up a step is the mean delta's length); for
 * fedadam and fedyogi 0.01, and under federation-wide DP fr_dp_recipe_server_lr(rounds):
 * an adaptive step moves each coordinate by about the rate per round, a FedAvg step by
 * the mean delta itself. */
double fr_agg_default_server_lr(fr_agg_kind kind, int dp_federation, long rounds, double beta1);

/* The operator's server-extrapolation into *on: "auto" is on for fedavg outside
 * federation-wide DP (whose round is one noisy DP-SGD step, taken as it is) and off
 * otherwise; "on" is FR_EINVAL for another kind or under federation-wide DP; "off";
 * anything else is FR_EINVAL quoting s. */
FR_MUST fr_status fr_agg_extrapolation_parse(const char *s, fr_agg_kind kind, int dp_federation,
                                             int *on, fr_err *err);

/* FR_EINVAL naming the first field out of its range (see fr_agg_config). */
FR_MUST fr_status fr_agg_config_check(const fr_agg_config *cfg, fr_err *err);

/* The running weighted sum of one round's deltas. Sums are kept in double, so the
 * result does not depend on how many updates came in or in which order beyond
 * double rounding. */
typedef struct fr_agg {
    size_t n;      /* parameters */
    double *sum;   /* n: sum of weight * delta */
    double weight; /* sum of the weights */
    int count;     /* deltas added */
    double sqsum;  /* sum of weight * |delta|^2 over the sq_count deltas that gave it */
    int sq_count;
} fr_agg;

/* Allocate a zeroed sum of n (> 0) parameters. */
FR_MUST fr_status fr_agg_init(fr_agg *a, size_t n, fr_err *err);
/* Free a's memory and zero it; accepts a zeroed struct. */
void fr_agg_free(fr_agg *a);
/* Back to no deltas, keeping the memory, for the next round. */
void fr_agg_reset(fr_agg *a);

/* sum += w * delta, for one delta given as n little-endian float32 at any byte
 * address (as it arrives inside a msgpack bin). w is the number of users or windows
 * the node trained on; the caller checks the delta with fr_agg_check_le and the
 * weight (finite, > 0) first: a weight outside that range is a broken contract and
 * aborts. Large n is split over OpenMP threads; each coordinate is still summed by
 * one thread in arrival order, so the result does not depend on the thread count. */
void fr_agg_add_le(fr_agg *a, const uint8_t *delta_le, double w);
/* As fr_agg_add_le, from a delta in host floats. */
void fr_agg_add(fr_agg *a, const float *delta, double w);

/* sqsum += wsq, the weight times the squared L2 norm of a delta added (or, from a
 * secure round's sum, of all of them: count them in deltas); extrapolation needs one
 * for every delta. */
void fr_agg_add_sqnorm(fr_agg *a, double wsq, int deltas);

/* The factor by which cfg's server step stretches the round's mean delta: 1 unless
 * cfg extrapolates (fedavg only), at least two deltas were added and every one gave
 * its squared norm; else the formula above FR_AGG_EXTRAP_MAX, cut to [1, that cap]
 * (1 when the mean is zero or a sum is not finite). The mean's squared norm is
 * summed in order, so the factor does not depend on the thread count. */
double fr_agg_extrapolation(const fr_agg *a, const fr_agg_config *cfg);

/* Check an incoming delta of n little-endian float32 before it is added: FR_EINVAL
 * naming the first coordinate that is NaN or infinite; else its L2 norm (accumulated
 * in double) into *norm (norm may be NULL) and, when max_norm > 0, FR_EINVAL giving
 * both numbers when the norm exceeds max_norm by more than a relative 1e-6 (room for
 * a node's float32 clipping). */
FR_MUST fr_status fr_agg_check_le(const uint8_t *delta_le, size_t n, double max_norm, double *norm,
                                  fr_err *err);

/* The server optimiser's state, kept between rounds: moments m and v (n floats each)
 * and the steps taken (which place the schedule). FedAvg leaves m and v alone,
 * FedAvgM uses m only. */
typedef struct fr_server_opt {
    size_t n;
    float *m, *v;
    long step;
    double stretch; /* the last step's fr_agg_extrapolation, for the log; not saved */
} fr_server_opt;

/* Allocate state for n (> 0) parameters: m = v = 0, step 0. v is raised to tau^2 by
 * the first adaptive step (see fr_agg_apply), because tau is a setting of the run,
 * not of the state. */
FR_MUST fr_status fr_server_opt_init(fr_server_opt *o, size_t n, fr_err *err);
/* Free o's memory and zero it; accepts a zeroed struct. */
void fr_server_opt_free(fr_server_opt *o);

/* Whether cfg needs its state kept between rounds (and so saved with each version):
 * every kind but plain FedAvg at a constant rate. */
int fr_agg_keeps_state(const fr_agg_config *cfg);

/* The server learning rate of the step after `step` steps were taken. */
double fr_agg_lr_at(const fr_agg_config *cfg, long step);

/* One server step: Delta = a->sum / a->weight, the weighted mean of the round's
 * deltas, applied to params (a->n floats, host memory) at server_lr =
 * fr_agg_lr_at(cfg, opt->step):
 *   fedavg:  params += server_lr * fr_agg_extrapolation(a, cfg) * Delta
 *   fedavgm: m = beta1 m + Delta
 *            params += server_lr * m
 *   fedadam: m = beta1 m + (1 - beta1) Delta
 *            v = beta2 v + (1 - beta2) Delta^2
 *            params += server_lr * m / (sqrt(v) + tau)
 *   fedyogi: as fedadam, but v = v - (1 - beta2) Delta^2 sign(v - Delta^2)
 * element-wise. As in the paper there is no bias correction of m or v, and the paper's
 * v_{-1} >= tau^2 is met by setting every v to tau^2 before the first adaptive step
 * (opt->step == 0); a run that switches from fedavg to an adaptive kind part-way
 * starts from v = 0 instead, which tau in the denominator keeps finite. Arithmetic
 * is in double per coordinate, so the result is the same on any thread count.
 * Sets opt->stretch (1 but for fedavg) and increments opt->step. FR_ENODATA when no
 * delta was added; FR_EINVAL for a config out of range (fr_agg_config_check) or opt of
 * another size than a. */
FR_MUST fr_status fr_agg_apply(const fr_agg *a, const fr_agg_config *cfg, fr_server_opt *opt,
                               float *params, fr_err *err);

/* Write o to path atomically (path.tmp, synced, renamed over path, folder synced), in
 * the format above. */
FR_MUST fr_status fr_server_opt_save(const fr_server_opt *o, const char *path, fr_err *err);

/* Read the state for n parameters from path into o, which must be zeroed or
 * initialised: on success its old memory is freed and replaced, on failure it is left
 * as it was. Every failure names path: FR_EIO (cannot open or read), FR_EFORMAT (not
 * such a file, truncated or with bytes after it, negative step), FR_EINVAL (state for
 * another number of parameters), FR_ECHECKSUM (corrupt), FR_ENOMEM. */
FR_MUST fr_status fr_server_opt_load(fr_server_opt *o, size_t n, const char *path, fr_err *err);

#endif
