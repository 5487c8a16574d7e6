/* The recall model's computation: forward and backward of a training batch, and the
 * forward passes of evaluation and recall (all item vectors, user vectors).
 *
 * A batch is B windows of L+1 item rows (inputs = columns 0..L-1, targets = 1..L,
 * left-padded with row 0) and K shared negative rows. The host turns the batch into
 * index arrays (the distinct items and tokens it touches, and where each position
 * reads from) and uploads them in one copy; every float operation then runs on the
 * model's backend. Two exact rewrites keep the work proportional to what the batch
 * touches:
 *   - the item tower runs once per distinct item, and the GRU's input projection
 *     W_ih h once per distinct item, gathered per position;
 *   - the convolution over token embeddings is factored through the distinct tokens:
 *     conv(E_tok[tok])[t] = sum_k (E_tok W_k^T)[tok[t+k-1]], so its forward and
 *     backward products are (distinct tokens x d x 3F) instead of (items x T x d x 3F).
 * Both give the same values and gradients as the per-position computation.
 *
 * DP-SGD computes many small per-user batches in one step with the same parameters.
 * A shared net (fr_nn_share_items) runs the item tower and the GRU's input projection
 * once over every item the step touches; a net whose `shared` points to it then
 * gathers those rows instead of recomputing them and runs only its own backward pass
 * (conv_pool_backward_rows reads the shared pass's pooled filters). Values and
 * gradients are those of the plain batch. */
#ifndef FR_NN_H
#define FR_NN_H

#include <stdint.h>

#include "nn/fr_model.h"
#include "util/fr_rng.h"
#include "util/fr_status.h"

typedef struct fr_nn {
    fr_model *model; /* borrowed */
    float *grads;    /* where backward adds gradients: model->grads unless redirected */
    int max_batch, seq_len, negatives;
    int max_positions;              /* trained positions per batch (fr_nn_init_positions) */
    int max_items;                  /* distinct items per batch or per item-tower chunk */
    int max_tokens;                 /* distinct tokens per batch */
    int last_items, last_tokens;    /* distinct items and tokens of the last batch */
    int last_batch, last_positions; /* windows and trained positions of the last batch */
    /* host scratch */
    int32_t *item_map; /* V, -1 outside a batch */
    int32_t *tok_map;  /* Vt, -1 outside a batch */
    int32_t *hidx;     /* packed index arrays of one batch */
    int32_t *win_pos;  /* max_batch: window r's trained position t is win_pos[r] + t */
    size_t idx_cap;
    /* backend memory: indices (same packing as hidx) and activations */
    int32_t *didx;
    float *wr, *xu, *pt, *mpool, *hu, *giu, *gi, *z, *gates, *ghn;
    int32_t *arg;
    float *q, *ht, *hn, *logits, *pos, *loss;
    /* backward */
    float *dq, *dhn, *dht, *dz, *dgi, *dgh, *dhu, *dgiu, *dm, *gp, *dwr, *dxu;
    /* sharing: a shared net's index of each catalogue row among its items (host, V,
     * -1 for rows it did not compute), and the shared net a batch reads from */
    int32_t *step_row;
    const struct fr_nn *shared;
    /* logQ correction (fr_nn_set_logq): -log Q per catalogue row, and its gathers for
     * a batch's negatives and targets; NULL without one */
    float *nlogq, *negq, *tgtq;
    /* dropout on the user vectors of training batches (fr_nn_set_dropout): the rate,
     * the mask's stream, and the mask (host and backend, batch x L x d) */
    float dropout;
    float item_dropout; /* share of input items read as padding (fr_nn_set_item_dropout) */
    fr_rng drop_rng, item_drop_rng;
    float *hmask, *qmask;
} fr_nn;

/* Workspace for batches of up to max_batch windows of seq_len + 1 with `negatives`
 * shared negatives. */
FR_MUST fr_status fr_nn_init(fr_nn *net, fr_model *model, int max_batch, int seq_len, int negatives,
                             fr_err *err);
void fr_nn_free(fr_nn *net);
/* The same for batches of at most max_positions trained positions (fr_nn_batch fails
 * on more): the buffers of the positions' user vectors, targets and scores are sized
 * by them instead of by every slot of the windows, which left padding leaves mostly
 * empty when sequences are short (fr_nn_init: max_batch x seq_len). */
FR_MUST fr_status fr_nn_init_positions(fr_nn *net, fr_model *model, int max_batch, int seq_len,
                                       int negatives, int max_positions, fr_err *err);

/* Loss of a batch: windows (b, L+1) host item rows, neg (K) host item rows.
 * Adds the summed cross-entropy to *loss_sum and the number of trained positions to
 * *positions; with backward set, adds d(mean loss)/d(params) to model->grads. */
FR_MUST fr_status fr_nn_batch(fr_nn *net, const int32_t *windows, int b, const int32_t *neg,
                              int backward, double *loss_sum, long *positions, fr_err *err);

/* Correct the logits of every later batch for negatives drawn from Q: each negative's
 * and each target's logit gets -log Q(row) added (nlogq: host, V floats), so that the
 * sampled softmax estimates the full one (Bengio & Senecal; Yi et al., RecSys 2019). */
FR_MUST fr_status fr_nn_set_logq(fr_nn *net, const float *nlogq, fr_err *err);

/* Inverted dropout at rate p (0 <= p < 1) on the user vectors q_t of every later
 * batch that runs backward: each entry is zeroed with probability p, the rest scaled
 * by 1/(1-p), from a stream seeded with seed. Evaluation and recall never drop. */
FR_MUST fr_status fr_nn_set_dropout(fr_nn *net, float p, uint64_t seed, fr_err *err);

/* Item dropout at rate p (0 <= p < 1) in every later batch that runs backward: each
 * input item is read as padding (x_t = 0) with probability p, from a stream seeded
 * with seed; its position still predicts its target. An augmentation of the
 * sequences (as item masking in CL4SRec, ICDE 2022) that costs nothing: the dropped
 * positions gather no row, so forward and backward are the padding's. */
FR_MUST fr_status fr_nn_set_item_dropout(fr_nn *net, float p, uint64_t seed, fr_err *err);

/* Workspace for fr_nn_share_items over up to max_items distinct items (< 1 or more
 * than the catalogue: the whole catalogue); it runs no batches of its own. */
FR_MUST fr_status fr_nn_init_shared(fr_nn *net, fr_model *model, int max_items, fr_err *err);

/* Item vectors hu, the pooled filters and their positions, and the GRU's input
 * projection (without bias) of the n item rows `items` (host, >= 1, repeats allowed;
 * at most max_items distinct), kept in net for batches of nets whose `shared` is net,
 * until the next call. Those batches need the backend's conv_pool_backward_rows and
 * must touch only these items (FR_EINVAL otherwise). */
FR_MUST fr_status fr_nn_share_items(fr_nn *net, const int32_t *items, int n, fr_err *err);

/* The E_id rows (distinct items) and E_tok rows (distinct tokens) that the last
 * batch's backward pass wrote gradients to, as backend index arrays; every other
 * embedding row's gradient is untouched. Valid until the next call on net. */
void fr_nn_touched(const fr_nn *net, const int32_t **items, int *n_items, const int32_t **tokens,
                   int *n_tokens);

/* Item vectors of all V items into host out (V, d); row 0 = 0. */
FR_MUST fr_status fr_nn_item_vectors(fr_nn *net, float *out, fr_err *err);

/* User vectors q_L for n left-padded sequences seqs (n, L) given all item vectors
 * item_vecs (V, d) on the host; writes host out (n, d). */
FR_MUST fr_status fr_nn_user_vectors(fr_nn *net, const float *item_vecs, const int32_t *seqs, int n,
                                     float *out, fr_err *err);

/* The two halves of fr_nn_user_vectors, for a server that scores many requests with
 * one model: the GRU's input projection of every item, *giv (V, 3d) = item_vecs
 * W_ih^T in backend memory (allocated here, freed with the backend's free), which
 * depends on the model alone; then the user vectors from it. Together they give the
 * values of fr_nn_user_vectors. */
FR_MUST fr_status fr_nn_item_inputs(fr_nn *net, const float *item_vecs, float **giv, fr_err *err);
FR_MUST fr_status fr_nn_user_vectors_from(fr_nn *net, const float *giv, const int32_t *seqs, int n,
                                          float *out, fr_err *err);

#endif
