/* Forward and backward of the recall model over the backend table (see fr_nn.h). */
#include "nn/fr_nn.h"
#include "nn/fr_nn_int.h"

#include <string.h>

void fr_nn_free(fr_nn *net)
{
    if (net->model) {
        const fr_backend *be = net->model->be;
        void *bufs[] = {net->didx,  net->wr,   net->xu,   net->pt,     net->mpool, net->hu,
                        net->giu,   net->gi,   net->z,    net->gates,  net->ghn,   net->arg,
                        net->q,     net->ht,   net->hn,   net->logits, net->pos,   net->loss,
                        net->dq,    net->dhn,  net->dht,  net->dz,     net->dgi,   net->dgh,
                        net->dhu,   net->dgiu, net->dm,   net->gp,     net->dwr,   net->dxu,
                        net->nlogq, net->negq, net->tgtq, net->qmask};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            be->free(bufs[i]);
    }
    free(net->item_map);
    free(net->tok_map);
    free(net->hidx);
    free(net->step_row);
    free(net->win_pos);
    free(net->hmask);
    memset(net, 0, sizeof *net);
}

/* max_items < 1: as many as a batch can touch; max_positions < 1: every slot of the
 * windows; forward_only: no backward buffers of item or token size (a shared net) */
static fr_status net_init(fr_nn *net, fr_model *model, int max_batch, int seq_len, int negatives,
                          int max_items, int max_positions, int forward_only, fr_err *err)
{
    memset(net, 0, sizeof *net);
    if (max_batch < 1 || max_batch > (1 << 20))
        return fr_fail(err, FR_EINVAL, "batch %d out of range [1, 2^20]", max_batch);
    if (seq_len < 1 || seq_len > (1 << 16))
        return fr_fail(err, FR_EINVAL, "seq-len %d out of range [1, 65536]", seq_len);
    if (negatives < 1 || negatives > (1 << 20))
        return fr_fail(err, FR_EINVAL, "negatives %d out of range [1, 2^20]", negatives);
    if ((size_t)max_batch * (size_t)seq_len > ((size_t)1 << 26))
        return fr_fail(err, FR_EINVAL, "batch x seq-len = %zu positions exceeds 2^26",
                       (size_t)max_batch * (size_t)seq_len);
    const fr_model_config *c = &model->cfg;
    const fr_backend *be = model->be;
    net->model = model;
    net->grads = model->grads;
    net->max_batch = max_batch;
    net->seq_len = seq_len;
    net->negatives = negatives;
    long per_batch = (long)max_batch * (seq_len + 1) + negatives;
    if (max_items > 0)
        per_batch = max_items;
    net->max_items = (int)(per_batch < c->num_items - 1 ? per_batch : c->num_items - 1);
    if (net->max_items < 1)
        net->max_items = 1;
    long toks = (long)net->max_items * c->num_tokens;
    net->max_tokens = (int)(toks < c->token_vocab - 1 ? toks : c->token_vocab - 1);
    if (net->max_tokens < 1)
        net->max_tokens = 1;

    size_t d = (size_t)c->dim, F = (size_t)c->filters;
    size_t nu = (size_t)net->max_items, nt = (size_t)net->max_tokens;
    size_t B = (size_t)max_batch, L = (size_t)seq_len, K = (size_t)negatives, LB = L * B;
    size_t NP = max_positions > 0 && (size_t)max_positions < LB ? (size_t)max_positions : LB;
    net->max_positions = (int)NP;
    idx_layout lay = layout_of(net);
    net->idx_cap = lay.total;
    net->item_map = malloc((size_t)c->num_items * sizeof(int32_t));
    net->tok_map = malloc((size_t)c->token_vocab * sizeof(int32_t));
    net->hidx = calloc(lay.total, sizeof(int32_t));
    net->step_row = malloc((size_t)c->num_items * sizeof(int32_t));
    net->win_pos = malloc(B * sizeof(int32_t));
#define FA(n) ((float *)be->alloc((n) * sizeof(float)))
    net->didx = be->alloc(lay.total * sizeof(int32_t));
    net->wr = FA(3 * F * d);
    net->xu = FA(nt * d);
    net->pt = FA(nt * 3 * F);
    net->mpool = FA(nu * F);
    net->arg = be->alloc(nu * F * sizeof(int32_t));
    net->hu = FA(nu * d);
    net->giu = FA(nu * 3 * d);
    net->gi = FA(LB * 3 * d);
    net->z = FA((L + 1) * B * d);
    net->gates = FA(LB * 3 * d);
    net->ghn = FA(LB * d);
    net->q = FA(NP * d);
    net->ht = FA(NP * d);
    net->hn = FA(K * d);
    net->logits = FA(NP * K);
    net->pos = FA(NP);
    net->loss = FA(1);
    net->dq = FA(NP * d);
    net->dhn = FA(K * d);
    net->dht = FA(NP * d);
    net->dz = FA(LB * d);
    net->dgi = FA(LB * 3 * d);
    net->dgh = FA(LB * 3 * d);
    size_t bnu = forward_only ? 1 : nu, bnt = forward_only ? 1 : nt;
    net->dhu = FA(bnu * d);
    net->dgiu = FA(bnu * 3 * d);
    net->dm = FA(bnu * F);
    net->gp = FA(bnt * 3 * F);
    net->dwr = FA(3 * F * d);
    net->dxu = FA(bnt * d);
#undef FA
    void *check[] = {net->item_map, net->tok_map, net->hidx, net->step_row, net->win_pos,
                     net->didx,     net->wr,      net->xu,   net->pt,       net->mpool,
                     net->arg,      net->hu,      net->giu,  net->gi,       net->z,
                     net->gates,    net->ghn,     net->q,    net->ht,       net->hn,
                     net->logits,   net->pos,     net->loss, net->dq,       net->dhn,
                     net->dht,      net->dz,      net->dgi,  net->dgh,      net->dhu,
                     net->dgiu,     net->dm,      net->gp,   net->dwr,      net->dxu};
    for (size_t i = 0; i < sizeof check / sizeof check[0]; i++)
        if (!check[i]) {
            fr_nn_free(net);
            return fr_fail(err, FR_ENOMEM, "cannot allocate training buffers for batch %d x %d",
                           max_batch, seq_len);
        }
    for (int i = 0; i < c->num_items; i++)
        net->item_map[i] = net->step_row[i] = -1;
    for (int i = 0; i < c->token_vocab; i++)
        net->tok_map[i] = -1;
    return FR_OK;
}

fr_status fr_nn_init(fr_nn *net, fr_model *model, int max_batch, int seq_len, int negatives,
                     fr_err *err)
{
    return net_init(net, model, max_batch, seq_len, negatives, 0, 0, 0, err);
}

fr_status fr_nn_init_positions(fr_nn *net, fr_model *model, int max_batch, int seq_len,
                               int negatives, int max_positions, fr_err *err)
{
    if (max_positions < 1)
        return fr_fail(err, FR_EINVAL, "max positions %d must be >= 1", max_positions);
    return net_init(net, model, max_batch, seq_len, negatives, 0, max_positions, 0, err);
}

fr_status fr_nn_init_shared(fr_nn *net, fr_model *model, int max_items, fr_err *err)
{
    return net_init(net, model, 1, 1, 1, max_items > 0 ? max_items : model->cfg.num_items, 0, 1,
                    err);
}

fr_status fr_nn_set_logq(fr_nn *net, const float *nlogq, fr_err *err)
{
    const fr_backend *be = net->model->be;
    size_t V = (size_t)net->model->cfg.num_items;
    if (!net->nlogq) {
        net->nlogq = be->alloc(V * sizeof(float));
        net->negq = be->alloc((size_t)net->negatives * sizeof(float));
        net->tgtq = be->alloc((size_t)net->max_batch * (size_t)net->seq_len * sizeof(float));
        if (!net->nlogq || !net->negq || !net->tgtq)
            return fr_fail(err, FR_ENOMEM, "cannot allocate the logQ correction of %zu rows", V);
    }
    be->upload(net->nlogq, nlogq, V * sizeof(float));
    return FR_OK;
}

fr_status fr_nn_set_dropout(fr_nn *net, float p, uint64_t seed, fr_err *err)
{
    const fr_backend *be = net->model->be;
    size_t n = (size_t)net->max_batch * (size_t)net->seq_len * (size_t)net->model->cfg.dim;
    if (!(p >= 0.0f && p < 1.0f))
        return fr_fail(err, FR_EINVAL, "dropout %g out of range [0, 1)", (double)p);
    if (p > 0.0f && !net->qmask) {
        net->hmask = malloc(n * sizeof(float));
        net->qmask = be->alloc(n * sizeof(float));
        if (!net->hmask || !net->qmask)
            return fr_fail(err, FR_ENOMEM, "cannot allocate a dropout mask of %zu floats", n);
    }
    net->dropout = p;
    fr_rng_seed(&net->drop_rng, seed);
    return FR_OK;
}

fr_status fr_nn_set_item_dropout(fr_nn *net, float p, uint64_t seed, fr_err *err)
{
    if (!(p >= 0.0f && p < 1.0f))
        return fr_fail(err, FR_EINVAL, "item dropout %g out of range [0, 1)", (double)p);
    net->item_dropout = p;
    fr_rng_seed(&net->item_drop_rng, seed);
    return FR_OK;
}

/* A fresh mask for n entries: 0 with probability p, else 1/(1-p), uploaded. */
static void dropout_mask(fr_nn *net, size_t n)
{
    float keep = 1.0f / (1.0f - net->dropout);
    /* 2^-32 steps of one 32-bit half of a draw: two entries per draw */
    uint32_t bar = (uint32_t)((double)net->dropout * 4294967296.0);
    for (size_t i = 0; i < n; i += 2) {
        uint64_t r = fr_rng_u64(&net->drop_rng);
        net->hmask[i] = (uint32_t)r < bar ? 0.0f : keep;
        if (i + 1 < n)
            net->hmask[i + 1] = (uint32_t)(r >> 32) < bar ? 0.0f : keep;
    }
    net->model->be->upload(net->qmask, net->hmask, n * sizeof(float));
}

static float *param(fr_model *m, int i)
{
    return m->params + m->p[i].offset;
}
/* Gradients go to net->grads: the model's buffer, or a per-user one for DP-SGD. */
static float *grad(fr_nn *net, int i)
{
    return net->grads + net->model->p[i].offset;
}

/* Register item row r (>= 1) in the batch's distinct items; returns its index. */
static int32_t add_item(fr_nn *net, int32_t *uitems, int *nu, int32_t r)
{
    int32_t k = net->item_map[r];
    if (k < 0) {
        k = (int32_t)(*nu)++;
        net->item_map[r] = k;
        uitems[k] = r;
    }
    return k;
}

/* Distinct tokens of the nu items in uitems: fills utoks and tokidx (nu, T), returns nt. */
static int build_tokens(fr_nn *net, const int32_t *uitems, int nu, int32_t *utoks, int32_t *tokidx)
{
    const fr_model *m = net->model;
    int T = m->cfg.num_tokens, nt = 0;
    for (int i = 0; i < nu; i++) {
        const int32_t *tk = m->item_tokens + (size_t)uitems[i] * T;
        for (int t = 0; t < T; t++) {
            int32_t v = tk[t];
            if (v == 0) {
                tokidx[(size_t)i * T + t] = -1;
                continue;
            }
            if (net->tok_map[v] < 0) {
                net->tok_map[v] = nt;
                utoks[nt++] = v;
            }
            tokidx[(size_t)i * T + t] = net->tok_map[v];
        }
    }
    for (int i = 0; i < nt; i++)
        net->tok_map[utoks[i]] = -1;
    return nt;
}

/* Item tower forward over the nu items whose indices are already uploaded:
 * hu (nu, d) = E_id[i] + W_proj maxpool(ReLU(conv)) + b_proj. */
static void item_tower_forward(fr_nn *net, const idx_layout *lay, int nu, int nt)
{
    fr_model *m = net->model;
    const fr_backend *be = m->be;
    int d = m->cfg.dim, F = m->cfg.filters, T = m->cfg.num_tokens;
    be->gather_rows(net->xu, param(m, FR_P_E_TOK), net->didx + lay->utoks, nt, d);
    be->conv_w_pack(net->wr, param(m, FR_P_CONV_W), F, d);
    be->gemm(0, 1, nt, 3 * F, d, 1.0f, net->xu, d, net->wr, d, 0.0f, net->pt, 3 * F);
    be->conv_pool_forward(net->mpool, net->arg, net->pt, net->didx + lay->tokidx,
                          param(m, FR_P_CONV_B), nu, T, F);
    be->gather_rows(net->hu, param(m, FR_P_E_ID), net->didx + lay->uitems, nu, d);
    be->gemm(0, 1, nu, d, F, 1.0f, net->mpool, F, param(m, FR_P_W_PROJ), F, 1.0f, net->hu, d);
    be->add_bias(net->hu, param(m, FR_P_B_PROJ), nu, d);
}

static void item_tower_backward(fr_nn *net, const idx_layout *lay, int nu, int nt)
{
    fr_model *m = net->model;
    const fr_backend *be = m->be;
    int d = m->cfg.dim, F = m->cfg.filters, T = m->cfg.num_tokens;
    be->scatter_add_rows(grad(net, FR_P_E_ID), net->dhu, net->didx + lay->uitems, nu, d);
    be->sum_rows(grad(net, FR_P_B_PROJ), net->dhu, nu, d);
    be->gemm(1, 0, d, F, nu, 1.0f, net->dhu, d, net->mpool, F, 1.0f, grad(net, FR_P_W_PROJ), F);
    be->gemm(0, 0, nu, F, d, 1.0f, net->dhu, d, param(m, FR_P_W_PROJ), F, 0.0f, net->dm, F);
    be->zero(net->gp, (size_t)nt * 3 * F);
    be->conv_pool_backward(net->gp, grad(net, FR_P_CONV_B), net->dm, net->mpool, net->arg,
                           net->didx + lay->tokidx, nu, T, F);
    be->gemm(1, 0, 3 * F, d, nt, 1.0f, net->gp, 3 * F, net->xu, d, 0.0f, net->dwr, d);
    be->conv_w_unpack_add(grad(net, FR_P_CONV_W), net->dwr, F, d);
    be->gemm(0, 0, nt, d, 3 * F, 1.0f, net->gp, 3 * F, net->wr, d, 0.0f, net->dxu, d);
    be->scatter_add_rows(grad(net, FR_P_E_TOK), net->dxu, net->didx + lay->utoks, nt, d);
}

/* item_tower_backward for a net that read its items from net->shared: the pooled
 * filters and their positions are the shared pass's rows urow, and the distinct
 * tokens' embeddings, which the forward pass would have gathered, are gathered here. */
static void item_tower_backward_shared(fr_nn *net, const idx_layout *lay, int nu, int nt)
{
    fr_model *m = net->model;
    const fr_backend *be = m->be;
    const fr_nn *sh = net->shared;
    int d = m->cfg.dim, F = m->cfg.filters, T = m->cfg.num_tokens;
    const int32_t *urow = net->didx + lay->urow;
    be->scatter_add_rows(grad(net, FR_P_E_ID), net->dhu, net->didx + lay->uitems, nu, d);
    be->sum_rows(grad(net, FR_P_B_PROJ), net->dhu, nu, d);
    be->gather_rows(net->mpool, sh->mpool, urow, nu, F);
    be->gemm(1, 0, d, F, nu, 1.0f, net->dhu, d, net->mpool, F, 1.0f, grad(net, FR_P_W_PROJ), F);
    be->gemm(0, 0, nu, F, d, 1.0f, net->dhu, d, param(m, FR_P_W_PROJ), F, 0.0f, net->dm, F);
    be->zero(net->gp, (size_t)nt * 3 * F);
    be->conv_pool_backward_rows(net->gp, grad(net, FR_P_CONV_B), net->dm, sh->mpool, sh->arg, urow,
                                net->didx + lay->tokidx, nu, T, F);
    be->gather_rows(net->xu, param(m, FR_P_E_TOK), net->didx + lay->utoks, nt, d);
    be->gemm(1, 0, 3 * F, d, nt, 1.0f, net->gp, 3 * F, net->xu, d, 0.0f, net->dwr, d);
    be->conv_w_unpack_add(grad(net, FR_P_CONV_W), net->dwr, F, d);
    be->gemm(0, 0, nt, d, 3 * F, 1.0f, net->gp, 3 * F, sh->wr, d, 0.0f, net->dxu, d);
    be->scatter_add_rows(grad(net, FR_P_E_TOK), net->dxu, net->didx + lay->utoks, nt, d);
}

static void gru_forward(fr_nn *net, int b)
{
    fr_model *m = net->model;
    m->be->gru_forward(net->z, net->gates, net->ghn, net->gi, param(m, FR_P_GRU_W_HH),
                       param(m, FR_P_GRU_B_HH), net->seq_len, b, m->cfg.dim);
}

fr_status fr_nn_batch(fr_nn *net, const int32_t *windows, int b, const int32_t *neg, int backward,
                      double *loss_sum, long *positions, fr_err *err)
{
    fr_model *m = net->model;
    const fr_backend *be = m->be;
    const fr_model_config *c = &m->cfg;
    int d = c->dim, L = net->seq_len, K = net->negatives, W = L + 1;
    if (b < 1 || b > net->max_batch)
        return fr_fail(err, FR_EINVAL, "batch of %d windows outside [1, %d]", b, net->max_batch);
    for (int r = 0; r < b; r++) {
        const int32_t *w = windows + (size_t)r * W;
        for (int t = 0; t < W; t++) {
            if (w[t] < 0 || w[t] >= c->num_items)
                return fr_fail(err, FR_EINVAL, "window %d: item row %d outside [0, %d)", r, w[t],
                               c->num_items);
            /* left padding only: every real input must have a real target */
            if (t > 0 && w[t] == 0 && w[t - 1] != 0)
                return fr_fail(err, FR_EINVAL, "window %d: padding after an item at %d", r, t);
        }
    }
    for (int j = 0; j < K; j++)
        if (neg[j] < 1 || neg[j] >= c->num_items)
            return fr_fail(err, FR_EINVAL, "negative item row %d outside [1, %d)", neg[j],
                           c->num_items);

    idx_layout lay = layout_of(net);
    int32_t *h = net->hidx;
    int nu = 0, np = 0;
    net->last_items = net->last_tokens = net->last_positions = 0;
    size_t lb = (size_t)L * b;
    /* The GRU's slots are time-major (t * b + row) so that each GRU step reads a block.
     * The trained positions are numbered window by window, each window's in time order:
     * a batch of several users' windows, laid out user by user, then holds each user's
     * positions together, and DP-SGD's per-user products read them where they are
     * (fr_nn_users). With left padding window r's positions are t >= its first item's,
     * position win_pos[r] + t. A net reading a shared pass numbers the input items
     * first, so that the GRU's input projection and its gradients run over those n_in
     * rows alone (a per-user batch has as many negatives as inputs, and they have no
     * input gradient). */
    for (int r = 0; r < b; r++) {
        const int32_t *w = windows + (size_t)r * W;
        int t0 = 0;
        while (t0 < L && w[t0] == 0)
            t0++;
        net->win_pos[r] = np - t0;
        np += L - t0;
    }
    if (np > net->max_positions)
        return fr_fail(err, FR_EINVAL, "batch of %d trained positions, more than %d", np,
                       net->max_positions);
    int n_in = -1;
    if (net->shared) {
        for (int t = 0; t < L; t++)
            for (int r = 0; r < b; r++) {
                int32_t it = windows[(size_t)r * W + t];
                if (it != 0)
                    add_item(net, h + lay.uitems, &nu, it);
            }
        n_in = nu;
    }
    for (int t = 0; t < L; t++)
        for (int r = 0; r < b; r++) {
            const int32_t *w = windows + (size_t)r * W;
            size_t p = (size_t)t * b + r;
            if (w[t] == 0) {
                h[lay.posidx + p] = -1;
                continue;
            }
            int32_t j = net->win_pos[r] + t;
            h[lay.posidx + p] = add_item(net, h + lay.uitems, &nu, w[t]);
            h[lay.qpos + j] = (int32_t)p;
            h[lay.tgtidx + j] = add_item(net, h + lay.uitems, &nu, w[t + 1]);
            h[lay.tgtrow + j] = w[t + 1];
        }
    for (int j = 0; j < K; j++) {
        h[lay.negidx + j] = add_item(net, h + lay.uitems, &nu, neg[j]);
        h[lay.negrow + j] = neg[j];
    }
    if (n_in < 0)
        n_in = nu;
    for (int i = 0; i < nu; i++)
        net->item_map[h[lay.uitems + i]] = -1;
    if (np == 0) /* nothing to train on: every window is padding */
        return FR_OK;
    if (backward && net->item_dropout > 0.0f) { /* after the items are numbered: a dropped
                                                 * input may still be another's target */
        uint64_t bar = (uint64_t)((double)net->item_dropout * 18446744073709551616.0);
        for (size_t p = 0; p < lb; p++)
            if (h[lay.posidx + p] >= 0 && fr_rng_u64(&net->item_drop_rng) < bar)
                h[lay.posidx + p] = -1;
    }
    for (int i = 0; net->shared && i < nu; i++)
        if ((h[lay.urow + i] = net->shared->step_row[h[lay.uitems + i]]) < 0)
            return fr_fail(err, FR_EINVAL, "item row %d is not among the shared items",
                           h[lay.uitems + i]);
    int nt = build_tokens(net, h + lay.uitems, nu, h + lay.utoks, h + lay.tokidx);
    be->upload(net->didx, h, lay.total * sizeof(int32_t));

    /* forward */
    if (net->shared) {
        be->gather_rows(net->hu, net->shared->hu, net->didx + lay.urow, nu, d);
        be->gather_rows(net->giu, net->shared->giu, net->didx + lay.urow, n_in, 3 * d);
    } else {
        item_tower_forward(net, &lay, nu, nt);
        be->gemm(0, 1, nu, 3 * d, d, 1.0f, net->hu, d, param(m, FR_P_GRU_W_IH), d, 0.0f, net->giu,
                 3 * d);
    }
    be->gather_rows(net->gi, net->giu, net->didx + lay.posidx, (int)lb, 3 * d);
    be->add_bias(net->gi, param(m, FR_P_GRU_B_IH), (int)lb, 3 * d);
    gru_forward(net, b);
    const float *zs = net->z + (size_t)b * d; /* z_t of position (t, r) at row t*b + r */
    be->gather_rows(net->q, zs, net->didx + lay.qpos, np, d);
    int drop = backward && net->dropout > 0.0f;
    if (drop) { /* the scores and the gradients below all read the dropped q */
        dropout_mask(net, (size_t)np * d);
        be->mul(net->q, net->qmask, (size_t)np * d);
    }
    be->gather_rows(net->ht, net->hu, net->didx + lay.tgtidx, np, d);
    be->row_dot(net->pos, net->q, net->ht, np, d);
    be->gather_rows(net->hn, net->hu, net->didx + lay.negidx, K, d);
    be->gemm(0, 1, np, K, d, 1.0f, net->q, d, net->hn, d, 0.0f, net->logits, K);
    if (net->nlogq) { /* constants added: the backward pass is unchanged */
        be->gather_rows(net->negq, net->nlogq, net->didx + lay.negrow, K, 1);
        be->add_bias(net->logits, net->negq, np, K);
        be->gather_rows(net->tgtq, net->nlogq, net->didx + lay.tgtrow, np, 1);
        be->axpy(net->pos, 1.0f, net->tgtq, (size_t)np);
    }
    be->zero(net->loss, 1);
    be->sampled_softmax(net->logits, net->pos, net->didx + lay.negrow, net->didx + lay.tgtrow, np,
                        K, 1.0f / (float)np, net->loss);
    float loss;
    be->download(&loss, net->loss, sizeof loss);
    *loss_sum += loss;
    *positions += np;
    net->last_items = nu;
    net->last_tokens = nt;
    net->last_batch = b;
    net->last_positions = np;
    if (!backward)
        return FR_OK;

    /* backward: logits and pos now hold d(mean loss)/d(logit) */
    be->zero(net->dhu, (size_t)nu * d);
    be->gemm(0, 0, np, d, K, 1.0f, net->logits, K, net->hn, d, 0.0f, net->dq, d);
    be->row_scale_add(net->dq, net->pos, net->ht, np, d);
    if (drop)
        be->mul(net->dq, net->qmask, (size_t)np * d);
    be->gemm(1, 0, K, d, np, 1.0f, net->logits, K, net->q, d, 0.0f, net->dhn, d);
    be->scatter_add_rows(net->dhu, net->dhn, net->didx + lay.negidx, K, d);
    be->zero(net->dht, (size_t)np * d);
    be->row_scale_add(net->dht, net->pos, net->q, np, d);
    be->scatter_add_rows(net->dhu, net->dht, net->didx + lay.tgtidx, np, d);

    be->zero(net->dz, lb * d);
    be->scatter_add_rows(net->dz, net->dq, net->didx + lay.qpos, np, d);
    be->gru_backward(net->dgi, net->dgh, net->dz, net->gates, net->ghn, net->z,
                     param(m, FR_P_GRU_W_HH), L, b, d);
    /* dW_hh = sum_t dgh_t^T z_{t-1}: one product over all steps (z_0 = 0 adds nothing) */
    be->gemm(1, 0, 3 * d, d, (int)lb, 1.0f, net->dgh, 3 * d, net->z, d, 1.0f,
             grad(net, FR_P_GRU_W_HH), d);
    be->sum_rows(grad(net, FR_P_GRU_B_HH), net->dgh, (int)lb, 3 * d);
    be->sum_rows(grad(net, FR_P_GRU_B_IH), net->dgi, (int)lb, 3 * d);
    be->zero(net->dgiu, (size_t)n_in * 3 * d);
    be->scatter_add_rows(net->dgiu, net->dgi, net->didx + lay.posidx, (int)lb, 3 * d);
    be->gemm(1, 0, 3 * d, d, n_in, 1.0f, net->dgiu, 3 * d, net->hu, d, 1.0f,
             grad(net, FR_P_GRU_W_IH), d);
    be->gemm(0, 0, n_in, d, 3 * d, 1.0f, net->dgiu, 3 * d, param(m, FR_P_GRU_W_IH), d, 1.0f,
             net->dhu, d);
    if (net->shared)
        item_tower_backward_shared(net, &lay, nu, nt);
    else
        item_tower_backward(net, &lay, nu, nt);
    return FR_OK;
}

fr_status fr_nn_share_items(fr_nn *net, const int32_t *items, int n, fr_err *err)
{
    fr_model *m = net->model;
    const fr_backend *be = m->be;
    int V = m->cfg.num_items, d = m->cfg.dim;
    idx_layout lay = layout_of(net);
    int32_t *h = net->hidx, *ui = h + lay.uitems;
    fr_status st = FR_OK;
    if (!be->conv_pool_backward_rows)
        return fr_fail(err, FR_EINVAL, "the %s backend cannot share the item tower", be->name);
    for (int i = 0; i < net->last_items; i++) /* the previous step's items */
        net->step_row[ui[i]] = -1;
    int nu = 0;
    for (int i = 0; i < n; i++) {
        int32_t r = items[i];
        if (r < 1 || r >= V) {
            st = fr_fail(err, FR_EINVAL, "shared item row %d outside [1, %d)", r, V);
            goto out;
        }
        if (net->step_row[r] >= 0)
            continue;
        if (nu == net->max_items) {
            st = fr_fail(err, FR_EINVAL, "more than %d distinct shared items", net->max_items);
            goto out;
        }
        net->step_row[r] = nu;
        ui[nu++] = r;
    }
    if (nu > 0) {
        int nt = build_tokens(net, ui, nu, h + lay.utoks, h + lay.tokidx);
        be->upload(net->didx, h, lay.total * sizeof(int32_t));
        item_tower_forward(net, &lay, nu, nt);
        be->gemm(0, 1, nu, 3 * d, d, 1.0f, net->hu, d, param(m, FR_P_GRU_W_IH), d, 0.0f, net->giu,
                 3 * d);
        net->last_tokens = nt;
    }
out:
    net->last_items = nu;
    return st;
}

fr_status fr_nn_item_vectors(fr_nn *net, float *out, fr_err *err)
{
    fr_model *m = net->model;
    const fr_backend *be = m->be;
    int V = m->cfg.num_items, d = m->cfg.dim;
    idx_layout lay = layout_of(net);
    int32_t *h = net->hidx;
    (void)err;
    memset(out, 0, (size_t)d * sizeof(float));
    for (int start = 1; start < V; start += net->max_items) {
        int nu = V - start < net->max_items ? V - start : net->max_items;
        for (int i = 0; i < nu; i++)
            h[lay.uitems + i] = start + i;
        int nt = build_tokens(net, h + lay.uitems, nu, h + lay.utoks, h + lay.tokidx);
        be->upload(net->didx, h, lay.total * sizeof(int32_t));
        item_tower_forward(net, &lay, nu, nt);
        be->download(out + (size_t)start * d, net->hu, (size_t)nu * d * sizeof(float));
    }
    return FR_OK;
}

fr_status fr_nn_item_inputs(fr_nn *net, const float *item_vecs, float **giv, fr_err *err)
{
    fr_model *m = net->model;
    const fr_backend *be = m->be;
    int V = m->cfg.num_items, d = m->cfg.dim;
    float *hv = be->alloc((size_t)V * d * sizeof(float));
    *giv = be->alloc((size_t)V * 3 * d * sizeof(float));
    if (!hv || !*giv) {
        be->free(hv);
        be->free(*giv);
        *giv = NULL;
        return fr_fail(err, FR_ENOMEM, "cannot allocate item vectors for %d items", V);
    }
    be->upload(hv, item_vecs, (size_t)V * d * sizeof(float));
    be->gemm(0, 1, V, 3 * d, d, 1.0f, hv, d, param(m, FR_P_GRU_W_IH), d, 0.0f, *giv, 3 * d);
    be->free(hv);
    return FR_OK;
}

fr_status fr_nn_user_vectors_from(fr_nn *net, const float *giv, const int32_t *seqs, int n,
                                  float *out, fr_err *err)
{
    fr_model *m = net->model;
    const fr_backend *be = m->be;
    int V = m->cfg.num_items, d = m->cfg.dim, L = net->seq_len, B = net->max_batch;
    idx_layout lay = layout_of(net);
    for (int start = 0; start < n; start += B) {
        int b = n - start < B ? n - start : B;
        int32_t *pi = net->hidx + lay.posidx;
        for (int t = 0; t < L; t++)
            for (int r = 0; r < b; r++) {
                int32_t it = seqs[(size_t)(start + r) * L + t];
                if (it < 0 || it >= V)
                    return fr_fail(err, FR_EINVAL, "sequence %d has item row %d outside [0, %d)",
                                   start + r, it, V);
                pi[(size_t)t * b + r] = it == 0 ? -1 : it;
            }
        be->upload(net->didx + lay.posidx, pi, (size_t)L * b * sizeof(int32_t));
        be->gather_rows(net->gi, giv, net->didx + lay.posidx, L * b, 3 * d);
        be->add_bias(net->gi, param(m, FR_P_GRU_B_IH), L * b, 3 * d);
        gru_forward(net, b);
        be->download(out + (size_t)start * d, net->z + (size_t)L * b * d,
                     (size_t)b * d * sizeof(float));
    }
    return FR_OK;
}

fr_status fr_nn_user_vectors(fr_nn *net, const float *item_vecs, const int32_t *seqs, int n,
                             float *out, fr_err *err)
{
    float *giv = NULL;
    fr_status st = fr_nn_item_inputs(net, item_vecs, &giv, err);
    if (st == FR_OK)
        st = fr_nn_user_vectors_from(net, giv, seqs, n, out, err);
    net->model->be->free(giv);
    return st;
}

void fr_nn_touched(const fr_nn *net, const int32_t **items, int *n_items, const int32_t **tokens,
                   int *n_tokens)
{
    idx_layout lay = layout_of(net);
    *items = net->didx + lay.uitems;
    *n_items = net->last_items;
    *tokens = net->didx + lay.utoks;
    *n_tokens = net->last_tokens;
}
