/* Internals of the model's computation shared by its files (fr_nn.c, fr_nn_users.c):
 * where each index array of a batch lives in the packed buffer that fr_nn_batch fills
 * on the host (net->hidx) and uploads (net->didx). Not for use elsewhere. */
#ifndef FR_NN_INT_H
#define FR_NN_INT_H

#include "nn/fr_nn.h"

/* Offsets of the index arrays inside the packed buffer (host and backend alike). */
typedef struct idx_layout {
    size_t uitems, utoks, tokidx, posidx, qpos, tgtidx, tgtrow, negidx, negrow, urow, total;
} idx_layout;

static inline idx_layout layout_of(const fr_nn *net)
{
    idx_layout l;
    size_t lb = (size_t)net->seq_len * (size_t)net->max_batch;
    size_t T = (size_t)net->model->cfg.num_tokens;
    l.uitems = 0;
    l.utoks = l.uitems + (size_t)net->max_items;
    l.tokidx = l.utoks + (size_t)net->max_tokens;
    l.posidx = l.tokidx + (size_t)net->max_items * T;
    l.qpos = l.posidx + lb;
    l.tgtidx = l.qpos + lb;
    l.tgtrow = l.tgtidx + lb;
    l.negidx = l.tgtrow + lb;
    l.negrow = l.negidx + (size_t)net->negatives;
    l.urow = l.negrow + (size_t)net->negatives;
    l.total = l.urow + (size_t)net->max_items;
    return l;
}

#endif
