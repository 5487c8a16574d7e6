/* Per-user gradient norms of a batch that holds several users' windows, without a
 * pass per user (DP-SGD's batched step, fr_dp_sgd.h).
 *
 * One forward pass runs over every window of every user (fr_nn_batch with backward
 * unset). The loss gradients it leaves are rescaled so that each user's positions
 * carry that user's mean loss, and one backward pass to the activations follows; each
 * user's gradient norm is then assembled layer by layer from quantities that pass
 * has, with each user's share of a layer's weight gradient formed only as the small
 * matrix it is (book-keeping, Bu et al. 2023), never the whole model:
 *   - the GRU: the user's positions' pre-activation gradients against their inputs
 *     and previous states, dW_ih = dgi_u^T x_u, dW_hh = dgh_u^T z_u (3d x d each);
 *   - the item vectors: the gradient each user sends to each item it touched (its
 *     inputs and targets, and the shared negatives), one row per (user, item) pair;
 *     E_id's share is those rows, b_proj's their sum, W_proj's their product with the
 *     items' pooled filters;
 *   - the convolution: each user's pooled-filter gradients sent back to the user's
 *     distinct tokens, against the tokens' embeddings (conv_w) and through the packed
 *     filters (E_tok's rows).
 * Each user's share of each layer is kept (the users' small matrices, and their rows
 * of the embedding tables' gradients), so the clipped sum is the clip-weighted sum of
 * those shares (book-keeping): no second backward pass. Ghost norms (sum over pairs of
 * a user's rows of (a_t . a_s)(g_t . g_s)) would cost T_u^2 (din + dout) against the
 * direct product's T_u din dout, and a user here has more rows than din dout / (din +
 * dout) in every layer (at least 50 positions, hundreds of tokens), so the direct
 * product is the cheaper exact form throughout. The exact per-user pass stays the
 * reference (tests/test_dp_batch.c compares the two). */
#ifndef FR_NN_USERS_H
#define FR_NN_USERS_H

#include <stdint.h>

#include "nn/fr_nn.h"
#include "util/fr_status.h"

#define FR_NN_USERS_BUFS 22

/* Where each index array of the last batch lives in the packed host index (h, in
 * int32s), how many (user, item) pairs (in_pairs of them input items, at most
 * pairs_max one user's) and (user, token) pairs it has (at most utoks_max one
 * user's), and the chunks of users whose positions are gathered together (each at most
 * fr_nn_users.chunk positions, or one user). Internal. */
typedef struct fr_nn_users_idx {
    size_t lb_perm, lb_x, lb_in, np_pair, neg_pair;
    size_t np_off, lb_off, pair_off, ut_off, ident, in_off, chunk, lb_rel;
    size_t pair_item, ut_tok, pair_tok, pair_row, ut_row, total;
    int pairs, in_pairs, pairs_max, utoks, utoks_max, chunks, chunk_rows;
} fr_nn_users_idx;

/* Positions of a chunk of users whose GRU gradients are gathered at once (16 MiB
 * at 64 dimensions; the whole batch's took as much memory as the GRU's own). */
#define FR_NN_USERS_CHUNK 8192

typedef struct fr_nn_users {
    fr_model *model; /* borrowed */
    int threads;     /* host threads that take users in turn (1 after init) */
    int chunk;       /* positions gathered at once on one thread (FR_NN_USERS_CHUNK after
                        init); with several threads each user is gathered by its own */
    int32_t *h;      /* host index arrays of a batch, packed */
    size_t h_cap;
    int32_t *d; /* their backend copy */
    size_t d_cap;
    int32_t *item_pair; /* host, per distinct item of the batch: its pair of the user, -1 */
    size_t item_cap;
    int32_t *tok_local; /* host, per distinct token: its index among the user's, -1 */
    size_t tok_cap;
    float *scale; /* host, per position */
    size_t scale_cap;
    float *f[FR_NN_USERS_BUFS]; /* backend buffers, grown as batches need */
    size_t f_cap[FR_NN_USERS_BUFS];
    double *sq; /* backend, per user */
    size_t sq_cap;
    /* the last batch's users and positions, for fr_nn_users_backward */
    int n_users, n_pos;
    int32_t *pos_user; /* host, per trained position: its user */
    size_t pos_cap;
    float *w; /* host: the clip factors of users, pairs and user tokens */
    size_t w_cap;
    fr_nn_users_idx x;
} fr_nn_users;

/* True when the model's backend has the ops this needs. */
int fr_nn_users_supported(const fr_model *model);
FR_MUST fr_status fr_nn_users_init(fr_nn_users *u, fr_model *model, fr_err *err);
void fr_nn_users_free(fr_nn_users *u);

/* After fr_nn_batch(net, windows, b, neg, 0, ...) on a net that reads no shared pass,
 * with user k's windows being rows win_off[k] .. win_off[k+1]-1 (win_off[0] = 0,
 * win_off[n_users] = b): sq_norms[k] = the squared L2 norm over all parameters of
 * the gradient of user k's mean loss, positions[k] = its trained positions. Leaves
 * net->logits and net->pos holding the users' mean-loss gradients. */
FR_MUST fr_status fr_nn_users_norms(fr_nn_users *u, fr_nn *net, const int32_t *win_off, int n_users,
                                    double *sq_norms, long *positions, fr_err *err);

/* After fr_nn_users_norms on the same batch: adds sum_k w[k] g_k to net->grads, g_k
 * being user k's mean-loss gradient, from the shares that call kept. */
void fr_nn_users_backward(fr_nn_users *u, fr_nn *net, const float *w);

#endif
