/* Per-user gradient norms of a multi-user batch (see fr_nn_users.h). */
#include "nn/fr_nn_users.h"
#include "nn/fr_nn_int.h"

#include <omp.h>
#include <string.h>

/* The backend buffers, each grown to the largest batch seen. */
enum {
    B_SCALE, /* (np) per-position factors */
    B_DHN,   /* (threads K, d) a user's gradient to each negative, one per thread */
    B_UGH,   /* (threads chunk_rows, 3d) dgh of a chunk of users, user-major, per thread */
    B_UGI,   /* (threads chunk_rows, 3d) dgi, the same */
    B_UZ,    /* (threads chunk_rows, d) previous states, the same */
    B_UX,    /* (threads chunk_rows, d) inputs, the same */
    B_GHH,   /* (users, 3d d) each user's dW_hh */
    B_GIH,   /* (users, 3d d) dW_ih */
    B_BHH,   /* (users, 3d) db_hh */
    B_BIH,   /* (users, 3d) db_ih */
    B_DGIU,  /* (input pairs, 3d) dgi summed per (user, input item) */
    B_DHU,   /* (pairs, d) item-vector gradient per (user, item) */
    B_BPROJ, /* (users, d) db_proj */
    B_MP,    /* (threads pairs_max, F) pooled filters of a user's pairs' items, per thread */
    B_GPROJ, /* (users, d F) dW_proj */
    B_DM,    /* (pairs, F) pooled-filter gradients */
    B_GP,    /* (threads utoks_max, 3F) the tap gradients of a user's tokens, per thread */
    B_BCONV, /* (users, F) dconv_b */
    B_XUT,   /* (threads utoks_max, d) the embeddings of a user's tokens, per thread */
    B_DXU,   /* (user tokens, d) E_tok's rows of each user */
    B_GCONV, /* (users, 3F d) dconv_w, packed; none when the batch has no token */
    B_W,     /* (users + pairs + user tokens) clip factors of users, pairs, user tokens */
    B_COUNT
};

int fr_nn_users_supported(const fr_model *model)
{
    const fr_backend *be = model->be;
    return be->row_scale && be->scatter_add_scaled_rows && be->seg_sum_rows && be->seg_sq_norm &&
           be->conv_pool_backward_rows && be->tap_products;
}

fr_status fr_nn_users_init(fr_nn_users *u, fr_model *model, fr_err *err)
{
    memset(u, 0, sizeof *u);
    u->model = model;
    u->threads = 1;
    u->chunk = FR_NN_USERS_CHUNK;
    if (!fr_nn_users_supported(model))
        return fr_fail(err, FR_EINVAL, "the %s backend lacks the per-user ops of a batched step",
                       model->be->name);
    return FR_OK;
}

void fr_nn_users_free(fr_nn_users *u)
{
    if (u->model) {
        const fr_backend *be = u->model->be;
        for (int i = 0; i < B_COUNT; i++)
            be->free(u->f[i]);
        be->free(u->d);
        be->free(u->sq);
    }
    free(u->h);
    free(u->item_pair);
    free(u->tok_local);
    free(u->scale);
    free(u->pos_user);
    free(u->w);
    memset(u, 0, sizeof *u);
}

/* Host buffer *p of at least n elements of size sz (contents not kept). */
static int grow_host(void **p, size_t *cap, size_t n, size_t sz)
{
    if (n <= *cap && *p) /* an empty buffer is still a buffer: ops get no NULL */
        return 1;
    free(*p);
    *p = malloc((n ? n : 1) * sz);
    *cap = *p ? n : 0;
    return *p != NULL;
}

static int grow_dev(const fr_backend *be, void **p, size_t *cap, size_t n, size_t sz)
{
    if (n <= *cap && *p)
        return 1;
    /* a quarter more than asked: steps vary in size, and every new buffer costs its
     * pages' first touch */
    n += n / 4;
    be->free(*p);
    *p = be->alloc((n ? n : 1) * sz);
    *cap = *p ? n : 0;
    return *p != NULL;
}

/* Number each user's items (inputs, targets, negatives) and tokens once, and lay the
 * batch's positions out user by user. */
static fr_status build_index(fr_nn_users *u, const fr_nn *net, const int32_t *win_off, int U,
                             fr_nn_users_idx *x, fr_err *err)
{
    const fr_model *m = net->model;
    idx_layout lay = layout_of(net);
    const int32_t *h = net->hidx;
    int b = net->last_batch, np = net->last_positions, L = net->seq_len, K = net->negatives;
    int T = m->cfg.num_tokens, nu = net->last_items, nt = net->last_tokens;
    size_t lb = (size_t)L * b;
    size_t pmax = lb + (size_t)np + (size_t)U * K, utmax = pmax * (size_t)T;
    size_t o = 0;
    x->lb_perm = o, o += lb;
    x->lb_x = o, o += lb;
    x->lb_in = o, o += lb;
    x->np_pair = o, o += (size_t)np;
    x->neg_pair = o, o += (size_t)U * K;
    x->np_off = o, o += (size_t)U + 1;
    x->lb_off = o, o += (size_t)U + 1;
    x->pair_off = o, o += (size_t)U + 1;
    x->ut_off = o, o += (size_t)U + 1;
    x->ident = o, o += (size_t)U + 1;
    x->in_off = o, o += (size_t)U + 1;
    x->chunk = o, o += (size_t)U + 1;
    x->lb_rel = o, o += 2 * (size_t)U + 1;
    x->pair_item = o;
    size_t ut_at = o + pmax, pt_at = ut_at + utmax;
    size_t need = pt_at + pmax * (size_t)T + pmax + utmax; /* + the rows of pairs, tokens */
    if (!grow_host((void **)&u->h, &u->h_cap, need, sizeof(int32_t)) ||
        !grow_host((void **)&u->pos_user, &u->pos_cap, (size_t)np, sizeof(int32_t)) ||
        !grow_host((void **)&u->scale, &u->scale_cap, (size_t)np, sizeof(float)) ||
        !grow_host((void **)&u->item_pair, &u->item_cap, (size_t)nu, sizeof(int32_t)) ||
        !grow_host((void **)&u->tok_local, &u->tok_cap, (size_t)nt, sizeof(int32_t)))
        return fr_fail(err, FR_ENOMEM, "cannot allocate the index of a batch of %d users", U);
    int32_t *H = u->h;
    int32_t *np_off = H + x->np_off, *lb_off = H + x->lb_off, *pair_off = H + x->pair_off;
    int32_t *ut_off = H + x->ut_off, *pu = u->pos_user;
    /* the user of each trained position (positions are time-major: row t b + r) */
    int32_t *win_user = H + x->lb_x; /* scratch until lb_x is written */
    for (int k = 0; k < U; k++)
        for (int32_t r = win_off[k]; r < win_off[k + 1]; r++)
            win_user[r] = k;
    /* fr_nn_batch numbers positions window by window and the windows come user by user,
     * so each user's logit gradients and user vectors are rows np_off[k] .. np_off[k+1]
     * of the net's own: the products below read them there, where copying them first
     * was about a hundredth of the step (docs/benchmarks.md) */
    memset(np_off, 0, ((size_t)U + 1) * sizeof(int32_t));
    for (int j = 0; j < np; j++) {
        pu[j] = win_user[h[lay.qpos + j] % b];
        if (j > 0 && pu[j] < pu[j - 1])
            return fr_fail(err, FR_EINVAL, "the batch's positions are not in its users' order");
        np_off[pu[j] + 1]++;
    }
    for (int k = 0; k < U; k++) {
        np_off[k + 1] += np_off[k];
        lb_off[k] = L * win_off[k];
        H[x->ident + k] = k;
    }
    lb_off[U] = L * win_off[U];
    H[x->ident + U] = U;
    for (int k = 0; k < U; k++) {
        size_t at = (size_t)lb_off[k];
        for (int32_t r = win_off[k]; r < win_off[k + 1]; r++)
            for (int t = 0; t < L; t++)
                H[x->lb_perm + at++] = t * b + r;
    }
    for (size_t i = 0; i < lb; i++)
        H[x->lb_x + i] = h[lay.posidx + (size_t)H[x->lb_perm + i]];
    /* chunks of consecutive users, and each user's positions from its chunk's first;
     * with several threads each user is a chunk, gathered by the thread that takes it */
    int C = 0, rows_max = 0, limit = u->threads > 1 ? 0 : u->chunk;
    H[x->chunk] = 0;
    for (int k = 0; k < U; k++) {
        int k0 = H[x->chunk + C], rows = lb_off[k + 1] - lb_off[k0];
        if (k > k0 && rows > limit) { /* user k starts the next chunk */
            H[x->lb_rel + k0 + C] = 0;
            for (int j = k0; j < k; j++)
                H[x->lb_rel + j + C + 1] = lb_off[j + 1] - lb_off[k0];
            rows_max = lb_off[k] - lb_off[k0] > rows_max ? lb_off[k] - lb_off[k0] : rows_max;
            H[x->chunk + ++C] = k;
        }
    }
    int k0 = H[x->chunk + C];
    H[x->lb_rel + k0 + C] = 0;
    for (int j = k0; j < U; j++)
        H[x->lb_rel + j + C + 1] = lb_off[j + 1] - lb_off[k0];
    rows_max = lb_off[U] - lb_off[k0] > rows_max ? lb_off[U] - lb_off[k0] : rows_max;
    H[x->chunk + ++C] = U;
    x->chunks = C;
    x->chunk_rows = rows_max;
    /* pairs and user tokens */
    int32_t *ip = u->item_pair, *tl = u->tok_local;
    int32_t *pair_item = H + x->pair_item, *ut_tok = H + ut_at, *pair_tok = H + pt_at;
    for (int i = 0; i < nu; i++)
        ip[i] = -1;
    for (int i = 0; i < nt; i++)
        tl[i] = -1;
    int P = 0, UT = 0, PI = 0;
#define PAIR_OF(item) (ip[item] >= 0 ? ip[item] : (pair_item[P] = (item), ip[item] = P++))
    for (int k = 0; k < U; k++) {
        int p0 = P, t0 = UT;
        pair_off[k] = P;
        ut_off[k] = UT;
        H[x->in_off + k] = PI;
        /* the user's input items are its first pairs; only they have a GRU input
         * gradient, kept in rows of their own (lb_in numbers them across users) */
        for (int32_t r = win_off[k]; r < win_off[k + 1]; r++)
            for (int t = 0; t < L; t++) {
                size_t p = (size_t)t * b + r;
                int32_t it = h[lay.posidx + p];
                H[x->lb_in + p] = it < 0 ? -1 : PAIR_OF(it) - p0 + PI;
            }
        PI += P - p0;
        for (int32_t j = np_off[k]; j < np_off[k + 1]; j++)
            H[x->np_pair + j] = PAIR_OF(h[lay.tgtidx + j]);
        for (int j = 0; j < K; j++)
            H[x->neg_pair + (size_t)k * K + j] = PAIR_OF(h[lay.negidx + j]);
        for (int p = p0; p < P; p++) {
            ip[pair_item[p]] = -1;
            for (int t = 0; t < T; t++) {
                int32_t tk = h[lay.tokidx + (size_t)pair_item[p] * T + t];
                if (tk >= 0 && tl[tk] < 0) {
                    tl[tk] = UT - t0;
                    ut_tok[UT++] = tk;
                }
                pair_tok[(size_t)p * T + t] = tk < 0 ? -1 : tl[tk];
            }
        }
        for (int i = t0; i < UT; i++)
            tl[ut_tok[i]] = -1;
    }
#undef PAIR_OF
    pair_off[U] = P;
    ut_off[U] = UT;
    H[x->in_off + U] = PI;
    x->in_pairs = PI;
    x->pairs = P;
    x->pairs_max = x->utoks_max = 0;
    for (int k = 0; k < U; k++) {
        if (pair_off[k + 1] - pair_off[k] > x->pairs_max)
            x->pairs_max = pair_off[k + 1] - pair_off[k];
        if (ut_off[k + 1] - ut_off[k] > x->utoks_max)
            x->utoks_max = ut_off[k + 1] - ut_off[k];
    }
    x->utoks = UT;
    x->ut_tok = x->pair_item + (size_t)P;
    memmove(H + x->ut_tok, ut_tok, (size_t)UT * sizeof(int32_t));
    x->pair_tok = x->ut_tok + (size_t)UT;
    memmove(H + x->pair_tok, pair_tok, (size_t)P * T * sizeof(int32_t));
    /* the catalogue rows of the pairs' items and the users' tokens */
    x->pair_row = x->pair_tok + (size_t)P * T;
    for (int p = 0; p < P; p++)
        H[x->pair_row + p] = h[lay.uitems + H[x->pair_item + p]];
    x->ut_row = x->pair_row + (size_t)P;
    for (int i = 0; i < UT; i++)
        H[x->ut_row + i] = h[lay.utoks + H[x->ut_tok + i]];
    x->total = x->ut_row + (size_t)UT;
    return FR_OK;
}

fr_status fr_nn_users_norms(fr_nn_users *u, fr_nn *net, const int32_t *win_off, int U,
                            double *sq_norms, long *positions, fr_err *err)
{
    fr_model *m = net->model;
    const fr_backend *be = m->be;
    idx_layout lay = layout_of(net);
    int d = m->cfg.dim, F = m->cfg.filters, T = m->cfg.num_tokens, K = net->negatives;
    int L = net->seq_len, b = net->last_batch, np = net->last_positions;
    size_t lb = (size_t)L * b, D3 = 3 * (size_t)d;
    if (net->shared)
        return fr_fail(err, FR_EINVAL, "per-user norms need a batch with its own item tower");
    u->n_users = U;
    u->n_pos = np;
    memset(sq_norms, 0, (size_t)(U > 0 ? U : 0) * sizeof(double));
    memset(positions, 0, (size_t)(U > 0 ? U : 0) * sizeof(long));
    if (np == 0) /* every window padding: fr_nn_batch stopped before the batch */
        return FR_OK;
    if (U < 1 || win_off[0] != 0 || win_off[U] != b) {
        u->n_pos = 0;
        return fr_fail(err, FR_EINVAL, "%d users' windows do not cover the batch of %d", U, b);
    }
    fr_nn_users_idx *xp = &u->x, x;
    fr_status st = build_index(u, net, win_off, U, xp, err);
    if (st != FR_OK) {
        u->n_pos = 0;
        return st;
    }
    x = *xp;
    const int32_t *H = u->h;
    for (int k = 0; k < U; k++)
        positions[k] = H[x.np_off + k + 1] - H[x.np_off + k];
    size_t P = (size_t)x.pairs, UT = (size_t)x.utoks, Us = (size_t)U;
    size_t CR = (size_t)x.chunk_rows, Th = (size_t)u->threads;
    size_t sizes[B_COUNT] = {[B_SCALE] = (size_t)np,
                             [B_DHN] = Th * K * d,
                             [B_UGH] = Th * CR * D3,
                             [B_UGI] = Th * CR * D3,
                             [B_UZ] = Th * CR * d,
                             [B_UX] = Th * CR * d,
                             [B_GHH] = Us * D3 * d,
                             [B_GIH] = Us * D3 * d,
                             [B_BHH] = Us * D3,
                             [B_BIH] = Us * D3,
                             [B_DGIU] = (size_t)x.in_pairs * D3,
                             [B_DHU] = P * d,
                             [B_BPROJ] = Us * d,
                             [B_MP] = Th * x.pairs_max * F,
                             [B_GPROJ] = Us * d * F,
                             [B_DM] = P * F,
                             [B_GP] = Th * x.utoks_max * 3 * F,
                             [B_BCONV] = Us * F,
                             [B_XUT] = Th * x.utoks_max * d,
                             [B_DXU] = UT * d,
                             [B_GCONV] = UT > 0 ? Us * 3 * F * d : 0,
                             [B_W] = Us + P + UT};
    int ok = grow_host((void **)&u->w, &u->w_cap, Us + P + UT, sizeof(float)) &&
             grow_dev(be, (void **)&u->d, &u->d_cap, x.total, sizeof(int32_t)) &&
             grow_dev(be, (void **)&u->sq, &u->sq_cap, Us, sizeof(double));
    for (int i = 0; ok && i < B_COUNT; i++)
        ok = grow_dev(be, (void **)&u->f[i], &u->f_cap[i], sizes[i], sizeof(float));
    if (!ok) {
        u->n_pos = 0;
        return fr_fail(err, FR_ENOMEM, "cannot allocate per-user buffers for %d users", U);
    }
    be->upload(u->d, H, x.total * sizeof(int32_t));
    const int32_t *D = u->d;
    float **f = u->f;
    const float *w_ih = m->params + m->p[FR_P_GRU_W_IH].offset;
    const float *w_hh = m->params + m->p[FR_P_GRU_W_HH].offset;
    const float *w_proj = m->params + m->p[FR_P_W_PROJ].offset;

    /* each user's loss is its own mean: the softmax scaled every position by 1/np */
    for (int j = 0; j < np; j++) {
        int k = u->pos_user[j];
        u->scale[j] = (float)((double)np / (double)positions[k]);
    }
    be->upload(f[B_SCALE], u->scale, (size_t)np * sizeof(float));
    be->row_scale(net->logits, f[B_SCALE], np, K);
    be->row_scale(net->pos, f[B_SCALE], np, 1);

    /* the softmax's gradients: to the negatives per user, to the targets per position,
     * to the user vectors (then through the GRU, all windows at once) */
    be->zero(net->dht, (size_t)np * d);
    be->row_scale_add(net->dht, net->pos, net->q, np, d);
    be->gemm(0, 0, np, d, K, 1.0f, net->logits, K, net->hn, d, 0.0f, net->dq, d);
    be->row_scale_add(net->dq, net->pos, net->ht, np, d);
    be->zero(net->dz, lb * d);
    be->scatter_add_rows(net->dz, net->dq, net->didx + lay.qpos, np, d);
    be->gru_backward(net->dgi, net->dgh, net->dz, net->gates, net->ghn, net->z, w_hh, L, b, d);

    /* the GRU's weights and biases, per user over its positions, a chunk of users'
     * positions gathered at a time into the thread's rows. Users are independent: each
     * thread takes whole users (the CPU backend's ops run on one thread inside), and
     * gathers only what those users read: the rows of the whole batch at once took
     * more memory than the batch's own GRU, and so did the pooled filters of all pairs
     * and the embeddings of all user tokens, gathered per user below. */
    be->zero(f[B_BHH], Us * D3);
    be->zero(f[B_BIH], Us * D3);
#pragma omp parallel for schedule(dynamic, 1) num_threads(u->threads) if (u->threads > 1)
    for (int c = 0; c < x.chunks; c++) {
        size_t th = (size_t)omp_get_thread_num();
        float *ugh = f[B_UGH] + th * CR * D3, *ugi = f[B_UGI] + th * CR * D3;
        float *uz = f[B_UZ] + th * CR * d, *ux = f[B_UX] + th * CR * d;
        int k0 = H[x.chunk + c], k1 = H[x.chunk + c + 1];
        size_t r0 = (size_t)H[x.lb_off + k0];
        int rows = H[x.lb_off + k1] - (int)r0;
        be->gather_rows(ugh, net->dgh, D + x.lb_perm + r0, rows, (int)D3);
        be->gather_rows(ugi, net->dgi, D + x.lb_perm + r0, rows, (int)D3);
        be->gather_rows(uz, net->z, D + x.lb_perm + r0, rows, d);
        be->gather_rows(ux, net->hu, D + x.lb_x + r0, rows, d);
        for (int k = k0; k < k1; k++) {
            size_t p0 = (size_t)H[x.lb_off + k] - r0;
            int n = H[x.lb_off + k + 1] - H[x.lb_off + k];
            be->gemm(1, 0, (int)D3, d, n, 1.0f, ugh + p0 * D3, (int)D3, uz + p0 * d, d, 0.0f,
                     f[B_GHH] + (size_t)k * D3 * d, d);
            be->gemm(1, 0, (int)D3, d, n, 1.0f, ugi + p0 * D3, (int)D3, ux + p0 * d, d, 0.0f,
                     f[B_GIH] + (size_t)k * D3 * d, d);
        }
        /* the chunk's offsets from its first position */
        const int32_t *rel = D + x.lb_rel + k0 + c;
        be->seg_sum_rows(f[B_BHH] + (size_t)k0 * D3, ugh, rel, k1 - k0, (int)D3);
        be->seg_sum_rows(f[B_BIH] + (size_t)k0 * D3, ugi, rel, k1 - k0, (int)D3);
    }

    /* the item vectors' gradients per (user, item): from the targets, from the
     * negatives (each user's product in its thread's rows of B_DHN, added to the
     * user's pairs), and through the GRU's input projection, whose gradient only the
     * input pairs have: a product per user over those */
    be->zero(f[B_DGIU], (size_t)x.in_pairs * D3);
    be->scatter_add_rows(f[B_DGIU], net->dgi, D + x.lb_in, (int)lb, (int)D3);
    be->zero(f[B_DHU], P * d);
    be->scatter_add_rows(f[B_DHU], net->dht, D + x.np_pair, np, d);
#pragma omp parallel for schedule(dynamic, 1) num_threads(u->threads) if (u->threads > 1)
    for (int k = 0; k < U; k++) {
        int j0 = H[x.np_off + k], n = H[x.np_off + k + 1] - j0;
        size_t th = (size_t)omp_get_thread_num();
        float *out = f[B_DHN] + th * K * d;
        if (n == 0) /* the user's rows where the net left them, in order (build_index) */
            be->zero(out, (size_t)K * d);
        else
            be->gemm(1, 0, K, d, n, 1.0f, net->logits + (size_t)j0 * K, K, net->q + (size_t)j0 * d,
                     d, 0.0f, out, d);
        be->scatter_add_rows(f[B_DHU], out, D + x.neg_pair + (size_t)k * K, K, d);
        size_t p0 = (size_t)H[x.pair_off + k], i0 = (size_t)H[x.in_off + k];
        int ni = H[x.in_off + k + 1] - H[x.in_off + k];
        if (ni > 0)
            be->gemm(0, 0, ni, d, (int)D3, 1.0f, f[B_DGIU] + i0 * D3, (int)D3, w_ih, d, 1.0f,
                     f[B_DHU] + p0 * d, d);
    }

    /* the item tower per user: E_id's rows, b_proj, W_proj, then the convolution */
    be->upload(u->sq, sq_norms, Us * sizeof(double)); /* zeros (set above) */
    be->seg_sq_norm(u->sq, f[B_DHU], D + x.pair_off, U, d);
    be->zero(f[B_BPROJ], Us * d);
    be->seg_sum_rows(f[B_BPROJ], f[B_DHU], D + x.pair_off, U, d);
    be->gemm(0, 0, (int)P, F, d, 1.0f, f[B_DHU], d, w_proj, F, 0.0f, f[B_DM], F);
    be->zero(f[B_BCONV], Us * F);
#pragma omp parallel for schedule(dynamic, 1) num_threads(u->threads) if (u->threads > 1)
    for (int k = 0; k < U; k++) {
        size_t p0 = (size_t)H[x.pair_off + k], t0 = (size_t)H[x.ut_off + k];
        int n = H[x.pair_off + k + 1] - H[x.pair_off + k];
        int nt = H[x.ut_off + k + 1] - H[x.ut_off + k];
        size_t th = (size_t)omp_get_thread_num();
        float *mp = f[B_MP] + th * x.pairs_max * F, *xut = f[B_XUT] + th * x.utoks_max * d;
        /* a user's tap gradients in a buffer of the thread's own, a few hundred KiB that
         * stay in its cache while the pairs scatter into them and both products read
         * them: the whole step's (user, token) rows at once are tens of MiB */
        float *gp = f[B_GP] + th * x.utoks_max * 3 * F;
        be->gather_rows(mp, net->mpool, D + x.pair_item + p0, n, F);
        be->gemm(1, 0, d, F, n, 1.0f, f[B_DHU] + p0 * d, d, mp, F, 0.0f,
                 f[B_GPROJ] + (size_t)k * d * F, F);
        if (nt > 0)
            be->zero(gp, (size_t)nt * 3 * F);
        be->conv_pool_backward_rows(gp, f[B_BCONV] + (size_t)k * F, f[B_DM] + p0 * F, net->mpool,
                                    net->arg, D + x.pair_item + p0, D + x.pair_tok + p0 * T, n, T,
                                    F);
        if (nt == 0 && UT > 0)
            be->zero(f[B_GCONV] + (size_t)k * 3 * F * d, (size_t)3 * F * d);
        if (nt > 0) {
            /* E_tok's rows of the user's tokens and its dconv_w */
            be->gather_rows(xut, net->xu, D + x.ut_tok + t0, nt, d);
            be->tap_products(f[B_DXU] + t0 * d, f[B_GCONV] + (size_t)k * 3 * F * d, gp, net->wr,
                             xut, nt, 3 * F, d);
        }
    }
    be->seg_sq_norm(u->sq, f[B_DXU], D + x.ut_off, U, d);

    /* every layer's per-user share, one row per user */
    const int32_t *id = D + x.ident;
    be->seg_sq_norm(u->sq, f[B_GHH], id, U, (int)(D3 * d));
    be->seg_sq_norm(u->sq, f[B_GIH], id, U, (int)(D3 * d));
    be->seg_sq_norm(u->sq, f[B_BHH], id, U, (int)D3);
    be->seg_sq_norm(u->sq, f[B_BIH], id, U, (int)D3);
    be->seg_sq_norm(u->sq, f[B_BPROJ], id, U, d);
    be->seg_sq_norm(u->sq, f[B_GPROJ], id, U, d * F);
    be->seg_sq_norm(u->sq, f[B_BCONV], id, U, F);
    if (UT > 0) /* with no token at all every user's dconv_w is zero */
        be->seg_sq_norm(u->sq, f[B_GCONV], id, U, 3 * F * d);
    be->download(sq_norms, u->sq, Us * sizeof(double));
    return FR_OK;
}

/* out (n) += sum over users k of w[k] times row k of the stack g (users, n) */
static void weighted_rows(const fr_backend *be, float *out, const float *w, const float *g, int U,
                          int n)
{
    be->gemm(0, 0, 1, n, U, 1.0f, w, U, g, n, 1.0f, out, n);
}

void fr_nn_users_backward(fr_nn_users *u, fr_nn *net, const float *w)
{
    fr_model *m = net->model;
    const fr_backend *be = m->be;
    const fr_nn_users_idx *x = &u->x;
    int d = m->cfg.dim, F = m->cfg.filters, U = u->n_users, D3 = 3 * d;
    if (u->n_pos == 0)
        return;
    /* the clip factors of the users, of their (user, item) pairs and of their tokens */
    const int32_t *H = u->h;
    int P = x->pairs, UT = x->utoks;
    float *hw = u->w;
    memcpy(hw, w, (size_t)U * sizeof(float));
    for (int k = 0; k < U; k++) {
        for (int32_t p = H[x->pair_off + k]; p < H[x->pair_off + k + 1]; p++)
            hw[U + p] = w[k];
        for (int32_t t = H[x->ut_off + k]; t < H[x->ut_off + k + 1]; t++)
            hw[U + P + t] = w[k];
    }
    float **f = u->f, *wu = f[B_W], *wp = wu + U, *wt = wp + P;
    be->upload(wu, hw, ((size_t)U + P + UT) * sizeof(float));
#define G(i) (net->grads + m->p[i].offset)
    weighted_rows(be, G(FR_P_GRU_W_HH), wu, f[B_GHH], U, D3 * d);
    weighted_rows(be, G(FR_P_GRU_W_IH), wu, f[B_GIH], U, D3 * d);
    weighted_rows(be, G(FR_P_GRU_B_HH), wu, f[B_BHH], U, D3);
    weighted_rows(be, G(FR_P_GRU_B_IH), wu, f[B_BIH], U, D3);
    weighted_rows(be, G(FR_P_W_PROJ), wu, f[B_GPROJ], U, d * F);
    weighted_rows(be, G(FR_P_B_PROJ), wu, f[B_BPROJ], U, d);
    weighted_rows(be, G(FR_P_CONV_B), wu, f[B_BCONV], U, F);
    if (UT > 0) { /* else every user's dconv_w is zero, and so is their sum */
        be->zero(net->dwr, (size_t)3 * F * d);
        weighted_rows(be, net->dwr, wu, f[B_GCONV], U, 3 * F * d);
        be->conv_w_unpack_add(G(FR_P_CONV_W), net->dwr, F, d);
    }
    /* the embedding rows: each pair's and each user token's row, weighed, to its row */
    be->scatter_add_scaled_rows(G(FR_P_E_ID), f[B_DHU], u->d + x->pair_row, wp, P, d);
    be->scatter_add_scaled_rows(G(FR_P_E_TOK), f[B_DXU], u->d + x->ut_row, wt, UT, d);
#undef G
}
