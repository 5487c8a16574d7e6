/* DP-SGD's batched step (see fr_dp_batch.h). */
#include "privacy/fr_dp_batch.h"
#include "privacy/fr_clip.h"

#include <math.h>
#include <string.h>

/* The most windows one batch holds: the step's expected windows twice over, plus one
 * largest user, so that nearly every step fits and an unusually large one (a run of
 * the sampling's upper tail) runs user by user instead of holding memory for it. */
static int batch_cap(const fr_dp_trainer *tr)
{
    double expect = 0.0, all = 0.0;
    for (int u = 0; u < tr->n_users; u++) {
        int c = tr->user_count[u] < tr->cfg.max_windows ? tr->user_count[u] : tr->cfg.max_windows;
        expect += tr->cfg.sampling_rate * c;
        all += c;
    }
    double cap = 2.0 * expect + tr->cfg.max_windows;
    if (cap > all)
        cap = all;
    if (cap > 65536.0)
        cap = 65536.0;
    return cap < 1.0 ? 1 : (int)cap;
}

fr_status fr_dp_batch_init(fr_dp_batch **out, fr_dp_trainer *tr, fr_err *err)
{
    *out = NULL;
    if (!fr_nn_users_supported(tr->model))
        return FR_OK;
    fr_dp_batch *b = calloc(1, sizeof *b);
    if (!b)
        return fr_fail(err, FR_ENOMEM, "dp: cannot allocate the batched step");
    fr_status st;
    b->cap = batch_cap(tr);
    size_t U = (size_t)tr->n_users;
    b->windows = malloc((size_t)b->cap * (size_t)(tr->tc.seq_len + 1) * sizeof(int32_t));
    b->win_off = malloc((U + 1) * sizeof(int32_t));
    b->sq = malloc(U * sizeof(double));
    b->positions = malloc(U * sizeof(long));
    b->weight = malloc(U * sizeof(float));
    if (!b->windows || !b->win_off || !b->sq || !b->positions || !b->weight) {
        st = fr_fail(err, FR_ENOMEM, "dp: cannot allocate the batched step");
        goto fail;
    }
    if ((st = fr_nn_users_init(&b->users, tr->model, err)) != FR_OK)
        goto fail;
    /* host threads take users in turn on the CPU, where each op then runs on one of
     * them; a device's stream is fed from one thread (its products are launched, not
     * run, by the host) */
    b->users.threads = strcmp(tr->model->be->name, "cpu") == 0 ? tr->n_workers : 1;
    *out = b;
    return FR_OK;
fail:
    fr_dp_batch_free(b, tr);
    return st;
}

void fr_dp_batch_free(fr_dp_batch *b, const fr_dp_trainer *tr)
{
    (void)tr;
    if (!b)
        return;
    if (b->net.model)
        fr_nn_free(&b->net);
    fr_nn_users_free(&b->users);
    free(b->windows);
    free(b->win_off);
    free(b->sq);
    free(b->positions);
    free(b->weight);
    free(b);
}

/* The net built for at least `windows` windows holding `positions` trained
 * positions. Its buffers scale with those (the GRU's with the windows, the user
 * vectors' and scores' with the positions), and cap, twice an average step, is seldom
 * reached: built for cap windows, all of them full, it held about twice the memory the
 * steps use, and more where short sequences leave most of the windows padding. It
 * grows to the largest step seen, an eighth over, and never shrinks; a net built anew
 * computes what the old one would have: it keeps nothing from one batch to the next. */
static fr_status net_ready(fr_dp_batch *b, const fr_dp_trainer *tr, int windows, int positions,
                           fr_err *err)
{
    if (windows <= b->net_windows && positions <= b->net_positions)
        return FR_OK;
    long w = (long)windows + windows / 8, p = (long)positions + positions / 8;
    long pmax = (long)b->cap * tr->tc.seq_len;
    w = w > b->cap ? b->cap : w < b->net_windows ? b->net_windows : w;
    p = p > pmax ? pmax : p < b->net_positions ? b->net_positions : p;
    if (b->net.model)
        fr_nn_free(&b->net);
    b->net_windows = b->net_positions = 0;
    fr_status st = fr_nn_init_positions(&b->net, tr->model, (int)w, tr->tc.seq_len,
                                        tr->tc.negatives, (int)p, err);
    if (st == FR_OK) {
        b->net_windows = (int)w;
        b->net_positions = (int)p;
    }
    return st;
}

fr_status fr_dp_batch_accumulate(fr_dp_trainer *tr, const int32_t *users, int n,
                                 fr_dp_step_stats *out, int *done, fr_err *err)
{
    fr_dp_batch *b = tr->batch;
    int W = tr->tc.seq_len + 1;
    long total = 0;
    *done = 0;
    for (int i = 0; i < n; i++) {
        int nw;
        (void)fr_dp_user_windows(tr, users[i], &nw);
        total += nw;
    }
    if (total > b->cap)
        return FR_OK;
    *done = 1;
    if (n == 0)
        return FR_OK;
    b->win_off[0] = 0;
    int trained = 0; /* positions with an item as input (left padding: all but the first) */
    for (int i = 0; i < n; i++) {
        int nw;
        const int32_t *w = fr_dp_user_windows(tr, users[i], &nw);
        memcpy(b->windows + (size_t)b->win_off[i] * W, w, (size_t)nw * W * sizeof(int32_t));
        b->win_off[i + 1] = b->win_off[i] + nw;
        for (int r = 0; r < nw; r++)
            for (int t = 0; t < W - 1; t++)
                trained += w[(size_t)r * W + t] != 0;
    }
    fr_status st = net_ready(b, tr, (int)total, trained, err);
    if (st != FR_OK)
        return st;
    double loss = 0.0;
    long np = 0;
    st = fr_nn_batch(&b->net, b->windows, (int)total, tr->neg_buf, 0, &loss, &np, err);
    if (st == FR_OK)
        st = fr_nn_users_norms(&b->users, &b->net, b->win_off, n, b->sq, b->positions, err);
    if (st != FR_OK)
        return st;
    out->sampled += n;
    out->loss_sum += loss;
    out->positions += np;
    for (int i = 0; i < n; i++) {
        /* a user with no trained position adds nothing, as on the per-user path */
        double norm = sqrt(b->sq[i]);
        b->weight[i] = b->positions[i] > 0 ? fr_clip_scale(norm, tr->cfg.clip) : 0.0f;
        out->clipped += b->positions[i] > 0 && norm > tr->cfg.clip;
    }
    fr_nn_users_backward(&b->users, &b->net, b->weight);
    return FR_OK;
}
