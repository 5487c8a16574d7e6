/* The privacy accountant: Renyi differential privacy (RDP) of the Poisson-subsampled
 * Gaussian mechanism (Mironov, Talwar and Zhang, 2019), composed over steps and rounds
 * by adding RDP at each order, and converted to (epsilon, delta) with the improved
 * conversion of Balle et al. (2020) as modern accountants do, minimised over the orders.
 *
 * One DP-SGD step that samples each user with probability q and adds Gaussian noise of
 * standard deviation sigma * C to a sum of per-user contributions clipped to norm C is
 * one such mechanism with noise multiplier sigma. All sums are done in log space so
 * that small q and large orders neither underflow nor overflow. */
#ifndef FR_DP_ACCOUNTANT_H
#define FR_DP_ACCOUNTANT_H

#include "util/fr_status.h"

#define FR_DP_MAX_ORDERS 256

typedef struct fr_rdp {
    int n_orders;
    double orders[FR_DP_MAX_ORDERS]; /* each > 1 */
    double rdp[FR_DP_MAX_ORDERS];    /* accumulated RDP at each order */
} fr_rdp;

/* The default orders: 1 + x/10 for x = 1..99, then 12..63 (150 orders); RDP 0. */
void fr_rdp_init(fr_rdp *a);

/* Custom orders (each > 1, at most FR_DP_MAX_ORDERS). */
FR_MUST fr_status fr_rdp_init_orders(fr_rdp *a, const double *orders, int n, fr_err *err);

/* RDP at order alpha of one step of the sampled Gaussian mechanism; q in [0, 1],
 * sigma > 0, alpha > 1. +inf where it diverges. */
double fr_rdp_sampled_gaussian(double q, double sigma, double alpha);

/* Add `steps` steps at sampling rate q and noise multiplier sigma. */
FR_MUST fr_status fr_rdp_compose(fr_rdp *a, double q, double sigma, long steps, fr_err *err);

/* The smallest epsilon over the orders for this delta in (0, 1); *order (may be NULL)
 * receives the order that gave it. */
FR_MUST fr_status fr_rdp_epsilon(const fr_rdp *a, double delta, double *eps, double *order,
                                 fr_err *err);

/* The Skellam mechanism (Agarwal, Kairouz and Liu, NeurIPS 2021, Theorem 3.5): integer
 * vectors with L1 and L2 sensitivities l1, l2 plus independent Skellam noise of variance
 * mu on every coordinate (Poisson(mu/2) - Poisson(mu/2)). RDP at integer order alpha:
 *   alpha l2^2 / (2 mu) + min(((2 alpha - 1) l2^2 + 6 l1) / (4 mu^2), 3 l1 / (2 mu)).
 * A non-integer order takes the next integer's value (RDP does not fall with the order,
 * so that bounds it). +inf for mu <= 0. */
double fr_rdp_skellam(double l1, double l2, double mu, double alpha);

/* Poisson sampling at rate q of any mechanism whose RDP at integer order l is e(ctx, l):
 * an upper bound on both directions of an add/remove pair at order ceil(alpha) (>= 2),
 * never above the unsampled e(ctx, ceil(alpha)); 0 at q = 0. *add, *remove and *zw
 * (each may be NULL) receive the three bounds it combines (fr_dp_accountant.c): the
 * exact expansion of the mixture against the base, a quadratic bound of the base
 * against the mixture, and Zhu and Wang's (ICML 2019, Theorem 6) for both; the result
 * is min(zw, max(add, remove)). For the Gaussian's e(l) = l / (2 sigma^2), add is the
 * exact sampled Gaussian's RDP (fr_rdp_sampled_gaussian) at integer orders. */
double fr_rdp_sampled_generic(double q, double alpha, double (*e)(const void *ctx, int l),
                              const void *ctx, double *add, double *remove, double *zw);

/* The Skellam mechanism after Poisson sampling at rate q: fr_rdp_sampled_generic with
 * fr_rdp_skellam. It reduces to fr_rdp_skellam at q = 1. */
double fr_rdp_sampled_skellam(double q, double l1, double l2, double mu, double alpha);

/* Add `steps` steps of the sampled Skellam mechanism. */
FR_MUST fr_status fr_rdp_compose_skellam(fr_rdp *a, double q, double l1, double l2, double mu,
                                         long steps, fr_err *err);

/* epsilon of `steps` steps at (q, sigma) for delta, over the default orders. */
FR_MUST fr_status fr_dp_epsilon(double q, double sigma, long steps, double delta, double *eps,
                                fr_err *err);

/* The smallest noise multiplier, to 3 significant digits, whose epsilon after `steps`
 * steps at rate q is at most eps_target for delta. */
FR_MUST fr_status fr_dp_sigma(double q, double eps_target, long steps, double delta, double *sigma,
                              fr_err *err);

#endif
