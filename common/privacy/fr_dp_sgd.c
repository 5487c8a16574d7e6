/* User-level DP-SGD (see fr_dp_sgd.h). */
#include "privacy/fr_dp_sgd.h"
#include "privacy/fr_clip.h"
#include "privacy/fr_dp_batch.h"

#include <math.h>
#include <omp.h>
#include <string.h>
#include <time.h>

/* The noise is drawn in chunks, each from its own stream of the key (step and chunk
 * number), so chunks are drawn in parallel and the noise does not depend on the
 * number of threads or on which thread draws which chunk. */
#define NOISE_CHUNK 65536

static fr_status per_user_ready(fr_dp_trainer *tr, fr_err *err);
static void per_user_release(fr_dp_trainer *tr);
static fr_status per_user_step(fr_dp_trainer *tr, int n, fr_dp_step_stats *out, fr_err *err);

long fr_dp_steps_per_epoch(double q)
{
    long s = lround(1.0 / q);
    return s < 1 ? 1 : s;
}

/* The per-user path's workspace: each worker's net (max_batch = max_windows), its
 * user buffer and partial sum, and the shared item tower. A trainer on the batched
 * step builds it only for a step that falls back to that path and releases it after
 * (per_user_release): held for the whole run, it was memory no batched step reads
 * (about 80 MiB on the benchmark data sets, docs/benchmarks.md). */
static fr_status per_user_ready(fr_dp_trainer *tr, fr_err *err)
{
    fr_model *m = tr->model;
    fr_status st;
    if (tr->per_user_built)
        return FR_OK;
    for (int w = 0; w < tr->n_workers; w++) {
        fr_dp_worker *wk = &tr->workers[w];
        if (w > 0) {
            wk->user_grad = m->be->alloc(m->n * sizeof(float));
            wk->sum = m->be->alloc(m->n * sizeof(float));
            if (!wk->user_grad || !wk->sum) {
                st = fr_fail(err, FR_ENOMEM, "dp: cannot allocate per-user buffers");
                goto fail;
            }
            m->be->zero(wk->user_grad, m->n);
            m->be->zero(wk->sum, m->n);
        }
        if ((st = fr_nn_init(&wk->net, m, tr->cfg.max_windows, tr->tc.seq_len, tr->tc.negatives,
                             err)) != FR_OK)
            goto fail;
        wk->net.grads = wk->user_grad;
    }
    if (tr->share && (st = fr_nn_init_shared(&tr->items, m, tr->items_cap, err)) != FR_OK)
        goto fail;
    tr->per_user_built = 1;
    return FR_OK;
fail:
    per_user_release(tr);
    return st;
}

/* Frees what per_user_ready built (worker 0's user buffer stays). */
static void per_user_release(fr_dp_trainer *tr)
{
    for (int w = 0; w < tr->n_workers; w++) {
        fr_dp_worker *wk = &tr->workers[w];
        if (w > 0) {
            tr->model->be->free(wk->user_grad);
            tr->model->be->free(wk->sum);
            wk->user_grad = wk->sum = NULL;
        }
        if (wk->net.model)
            fr_nn_free(&wk->net);
    }
    if (tr->items.model)
        fr_nn_free(&tr->items);
    tr->per_user_built = 0;
}

fr_status fr_dp_trainer_init(fr_dp_trainer *tr, fr_model *model, const fr_train_config *tc,
                             const fr_dp_config *dc, const int64_t *train_off, int num_users,
                             const int32_t *windows, long n_windows, fr_err *err)
{
    fr_status st;
    memset(tr, 0, sizeof *tr);
    if (!(dc->sampling_rate > 0.0 && dc->sampling_rate <= 1.0))
        return fr_fail(err, FR_EINVAL, "dp: sampling rate %g must be in (0, 1]", dc->sampling_rate);
    if (!(dc->noise_multiplier > 0.0) || isinf(dc->noise_multiplier))
        return fr_fail(err, FR_EINVAL, "dp: noise multiplier %g must be a finite number > 0",
                       dc->noise_multiplier);
    if (!(dc->clip > 0.0f) || isinf(dc->clip))
        return fr_fail(err, FR_EINVAL, "dp: clip norm %g must be a finite number > 0",
                       (double)dc->clip);
    if (dc->max_windows < 1)
        return fr_fail(err, FR_EINVAL, "dp: max windows per user %d must be >= 1", dc->max_windows);
    tr->cfg = *dc;
    tr->tc = *tc;
    tr->model = model;
    tr->windows = windows;
    tr->user_first = malloc((size_t)(num_users > 0 ? num_users : 1) * sizeof(long));
    tr->user_count = malloc((size_t)(num_users > 0 ? num_users : 1) * sizeof(int));
    tr->sampled = malloc((size_t)(num_users > 0 ? num_users : 1) * sizeof(int32_t));
    tr->worker_of = malloc((size_t)(num_users > 0 ? num_users : 1) * sizeof(int32_t));
    tr->by_cost = malloc((size_t)(num_users > 0 ? num_users : 1) * sizeof(int32_t));
    tr->noise = malloc(model->n * sizeof(float));
    tr->neg_buf = malloc((size_t)tc->negatives * sizeof(int32_t));
    tr->step_items = malloc((size_t)model->cfg.num_items * sizeof(int32_t));
    tr->item_seen = calloc((size_t)model->cfg.num_items, 1);
    tr->n_workers = dc->workers > 0 ? dc->workers : 1;
    tr->workers = calloc((size_t)tr->n_workers, sizeof(fr_dp_worker));
    tr->chunk_noise = malloc((size_t)tr->n_workers * NOISE_CHUNK * sizeof(float));
    if (!tr->user_first || !tr->user_count || !tr->sampled || !tr->worker_of || !tr->by_cost ||
        !tr->noise || !tr->neg_buf || !tr->workers || !tr->step_items || !tr->item_seen ||
        !tr->chunk_noise) {
        st = fr_fail(err, FR_ENOMEM, "dp: cannot allocate per-user buffers");
        goto fail;
    }
    /* The windows of a user with n train items: the full windows of L+1 items, plus
     * the oldest partial one when it has at least 2 items (fr_dataset_windows). */
    long W = tc->seq_len + 1, next = 0;
    for (int u = 0; u < num_users; u++) {
        long n = (long)(train_off[u + 1] - train_off[u]);
        int count = (int)(n / W + (n % W >= 2 ? 1 : 0));
        if (count > 0) {
            tr->user_first[tr->n_users] = next;
            tr->user_count[tr->n_users] = count;
            tr->n_users++;
        }
        next += count;
    }
    if (next != n_windows) {
        st = fr_fail(err, FR_EINVAL, "dp: %ld windows given, the users' sequences make %ld",
                     n_windows, next);
        goto fail;
    }
    if (tr->n_users == 0) {
        st = fr_fail(err, FR_ENODATA, "dp: no user has a training window");
        goto fail;
    }
    /* Worker 0's user buffer is also where the noise is uploaded: it stays. */
    tr->workers[0].user_grad = model->be->alloc(model->n * sizeof(float));
    tr->workers[0].sum = model->grads;
    if (!tr->workers[0].user_grad) {
        st = fr_fail(err, FR_ENOMEM, "dp: cannot allocate per-user buffers");
        goto fail;
    }
    /* The shared pass holds twice the items an average step touches (at least 4096,
     * at most the catalogue); a step that touches more runs each user on its own. */
    tr->share = model->be->conv_pool_backward_rows != NULL;
    double step_items = (double)tc->negatives;
    for (int u = 0; u < tr->n_users; u++)
        step_items +=
            dc->sampling_rate *
            (double)(tr->user_count[u] < dc->max_windows ? tr->user_count[u] : dc->max_windows) *
            (tc->seq_len + 1);
    double cap = 2.0 * step_items < 4096.0 ? 4096.0 : 2.0 * step_items;
    tr->items_cap = cap < model->cfg.num_items ? (int)cap : 0;
    if (!dc->per_user && (st = fr_dp_batch_init(&tr->batch, tr, err)) != FR_OK)
        goto fail;
    /* With the batched step the per-user side is only built for a step that falls
     * back to it. */
    if (!tr->batch && (st = per_user_ready(tr, err)) != FR_OK)
        goto fail;
    if ((st = fr_dp_rng_init(&tr->rng, dc->seed, dc->seed_len, err)) != FR_OK)
        goto fail;
    fr_rng_seed(&tr->negative_rng, tc->seed + 1);
    model->be->zero(model->grads, model->n);
    return FR_OK;
fail:
    fr_dp_trainer_free(tr);
    return st;
}

void fr_dp_trainer_free(fr_dp_trainer *tr)
{
    if (tr->workers) {
        per_user_release(tr);
        tr->model->be->free(tr->workers[0].user_grad);
    }
    free(tr->workers);
    fr_dp_batch_free(tr->batch, tr);
    free(tr->step_items);
    free(tr->item_seen);
    free(tr->sampled);
    free(tr->worker_of);
    free(tr->by_cost);
    fr_dp_rng_free(&tr->rng);
    free(tr->user_first);
    free(tr->user_count);
    free(tr->noise);
    free(tr->chunk_noise);
    free(tr->neg_buf);
    if (tr->row_keep)
        tr->model->be->free(tr->row_keep);
    memset(tr, 0, sizeof *tr);
}

/* Clip the gradient in the worker's user_grad to norm C, add it to its sum and
 * leave user_grad zero. Returns whether it was clipped. */
static int clip_and_add(fr_dp_trainer *tr, fr_dp_worker *wk)
{
    fr_model *m = tr->model;
    const fr_backend *be = m->be;
    int d = m->cfg.dim;
    size_t dense = m->p[FR_P_CONV_W].offset; /* the embedding tables come first */
    const int32_t *items, *tokens;
    int ni, nt;
    fr_nn_touched(&wk->net, &items, &ni, &tokens, &nt);
    float *ug = wk->user_grad, *sum = wk->sum;
    size_t eid = m->p[FR_P_E_ID].offset, etok = m->p[FR_P_E_TOK].offset;
    double sq = be->sq_norm(ug + dense, m->n - dense) + be->rows_sq_norm(ug + eid, items, ni, d) +
                be->rows_sq_norm(ug + etok, tokens, nt, d);
    double norm = sqrt(sq);
    float scale = fr_clip_scale(norm, tr->cfg.clip);
    be->axpy(sum + dense, scale, ug + dense, m->n - dense);
    be->zero(ug + dense, m->n - dense);
    be->rows_axpy_clear(sum + eid, scale, ug + eid, items, ni, d);
    be->rows_axpy_clear(sum + etok, scale, ug + etok, tokens, nt, d);
    return norm > tr->cfg.clip;
}

/* The windows of user u that count: the newest max_windows. */
const int32_t *fr_dp_user_windows(const fr_dp_trainer *tr, int u, int *nw)
{
    int W = tr->tc.seq_len + 1;
    *nw = tr->user_count[u] < tr->cfg.max_windows ? tr->user_count[u] : tr->cfg.max_windows;
    return tr->windows + (size_t)(tr->user_first[u] + tr->user_count[u] - *nw) * W;
}

/* The shared item tower over the items of users[0..n) and the negatives, when the
 * trainer shares; the workers' nets read from it. */
static fr_status share_items(fr_dp_trainer *tr, const int32_t *users, int n, fr_err *err)
{
    for (int w = 0; w < tr->n_workers; w++)
        tr->workers[w].net.shared = tr->share ? &tr->items : NULL;
    if (!tr->share)
        return FR_OK;
    int W = tr->tc.seq_len + 1, k = 0;
    for (int j = 0; j < tr->tc.negatives; j++)
        if (!tr->item_seen[tr->neg_buf[j]]) {
            tr->item_seen[tr->neg_buf[j]] = 1;
            tr->step_items[k++] = tr->neg_buf[j];
        }
    for (int i = 0; i < n; i++) {
        int nw;
        const int32_t *w = fr_dp_user_windows(tr, users[i], &nw);
        for (long p = 0; p < (long)nw * W; p++)
            if (w[p] > 0 && w[p] < tr->model->cfg.num_items && !tr->item_seen[w[p]]) {
                tr->item_seen[w[p]] = 1;
                tr->step_items[k++] = w[p];
            }
    }
    for (int i = 0; i < k; i++)
        tr->item_seen[tr->step_items[i]] = 0;
    if (k > tr->items.max_items) { /* an unusually large step: each user on its own */
        for (int w = 0; w < tr->n_workers; w++)
            tr->workers[w].net.shared = NULL;
        return FR_OK;
    }
    return fr_nn_share_items(&tr->items, tr->step_items, k, err);
}

static fr_status accumulate(fr_dp_trainer *tr, fr_dp_worker *wk, int u, fr_dp_step_stats *out,
                            fr_err *err)
{
    int nw;
    const int32_t *w = fr_dp_user_windows(tr, u, &nw);
    double loss = 0.0;
    long np = 0;
    /* The user's mean loss over its positions: every user weighs the same. */
    fr_status st = fr_nn_batch(&wk->net, w, nw, tr->neg_buf, 1, &loss, &np, err);
    if (st)
        return st;
    out->sampled++;
    out->loss_sum += loss;
    out->positions += np;
    if (np > 0)
        out->clipped += clip_and_add(tr, wk);
    return FR_OK;
}

fr_status fr_dp_accumulate_users(fr_dp_trainer *tr, const int32_t *users, int n,
                                 fr_dp_step_stats *out, fr_err *err)
{
    int done = 0;
    fr_status st = tr->batch ? fr_dp_batch_accumulate(tr, users, n, out, &done, err) : FR_OK;
    if (st != FR_OK || done)
        return st;
    if ((st = per_user_ready(tr, err)) != FR_OK)
        return st;
    st = share_items(tr, users, n, err);
    for (int i = 0; i < n && st == FR_OK; i++)
        st = accumulate(tr, &tr->workers[0], users[i], out, err);
    return st;
}

fr_status fr_dp_accumulate_user(fr_dp_trainer *tr, int u, fr_dp_step_stats *out, fr_err *err)
{
    int32_t one = u;
    return fr_dp_accumulate_users(tr, &one, 1, out, err);
}

static long noise_chunks(const fr_dp_trainer *tr)
{
    return (long)((tr->model->n + NOISE_CHUNK - 1) / NOISE_CHUNK);
}

/* Chunk c of the step's noise into out (its first value is the model's coordinate
 * c NOISE_CHUNK); returns its length. */
static size_t draw_chunk_into(const fr_dp_trainer *tr, long c, float *out)
{
    size_t n = tr->model->n, lo = (size_t)c * NOISE_CHUNK;
    size_t len = n - lo < NOISE_CHUNK ? n - lo : NOISE_CHUNK;
    fr_dp_rng_normals_at(&tr->rng, ((uint64_t)tr->steps << 24) | (uint64_t)c, out, len,
                         tr->cfg.noise_multiplier * tr->cfg.clip);
    return len;
}

static void draw_noise_chunk(fr_dp_trainer *tr, long c)
{
    (void)draw_chunk_into(tr, c, tr->noise + (size_t)c * NOISE_CHUNK);
}

/* Zero the part of [lo, lo + len) that falls in [at, at + len_at). */
static void zero_overlap(float *chunk, size_t lo, size_t len, size_t at, size_t len_at)
{
    size_t a = at > lo ? at : lo, b = at + len_at < lo + len ? at + len_at : lo + len;
    if (a < b)
        memset(chunk + (a - lo), 0, (b - a) * sizeof(float));
}

/* Add the noise in tmp (backend memory, model->n values) to model->grads, zero tmp
 * again, and divide by qN. */
static void add_noise_from(fr_dp_trainer *tr, float *tmp)
{
    fr_model *m = tr->model;
    const fr_backend *be = m->be;
    int d = m->cfg.dim;
    /* Noise on every trainable coordinate; the padding rows (row 0 of both embedding
     * tables) are constants of the model, not parameters, and stay zero. */
    be->zero(tmp + m->p[FR_P_E_ID].offset, (size_t)d);
    be->zero(tmp + m->p[FR_P_E_TOK].offset, (size_t)d);
    be->axpy(m->grads, 1.0f, tmp, m->n);
    be->zero(tmp, m->n);
    if (tr->rows_trained) { /* only the selected ID rows are trained (fr_dp_rows.h): the
                             * others lose their summed gradient and their noise at once */
        float *e_id = m->grads + m->p[FR_P_E_ID].offset;
        if (be->row_scale)
            be->row_scale(e_id, tr->row_keep, m->cfg.num_items, d);
        else
            for (int j = 0; j < m->cfg.num_items; j++)
                if (!tr->rows_trained[j])
                    be->zero(e_id + (size_t)j * d, (size_t)d);
    }
    be->scale(m->grads, (float)(1.0 / (tr->cfg.sampling_rate * tr->n_users)), m->n);
}

/* The noise the host drew into tr->noise, through the backend. */
static void add_drawn_noise(fr_dp_trainer *tr)
{
    float *tmp = tr->workers[0].user_grad; /* zero between users: free for the noise */
    tr->model->be->upload(tmp, tr->noise, tr->model->n * sizeof(float));
    add_noise_from(tr, tmp);
}

/* The CPU's way (no dp_noise op: the gradients are host memory). Each thread draws a
 * chunk into a buffer of its own that stays in cache and adds it to the gradients
 * there, already divided by qN: one pass over the gradients, where drawing into
 * tr->noise, copying it, adding it, clearing the copy and scaling were five. Each
 * coordinate gets the same two float operations as add_noise_from's axpy and scale, in
 * the same order, so the result is the same bits. */
static void add_noise_in_place(fr_dp_trainer *tr)
{
    fr_model *m = tr->model;
    size_t d = (size_t)m->cfg.dim, id_row0 = m->p[FR_P_E_ID].offset,
           tok_row0 = m->p[FR_P_E_TOK].offset;
    float inv = (float)(1.0 / (tr->cfg.sampling_rate * tr->n_users));
    long n_chunks = noise_chunks(tr);
#pragma omp parallel for schedule(static) num_threads(tr->n_workers)
    for (long c = 0; c < n_chunks; c++) {
        float *z = tr->chunk_noise + (size_t)omp_get_thread_num() * NOISE_CHUNK;
        size_t lo = (size_t)c * NOISE_CHUNK, len = draw_chunk_into(tr, c, z);
        /* the padding rows are constants of the model, not parameters */
        zero_overlap(z, lo, len, id_row0, d);
        zero_overlap(z, lo, len, tok_row0, d);
        float *g = m->grads + lo;
        for (size_t i = 0; i < len; i++)
            g[i] = (g[i] + z[i]) * inv;
    }
    if (tr->rows_trained) /* rows kept or not: a factor 1 or 0 after the scale is the same */
        m->be->row_scale(m->grads + m->p[FR_P_E_ID].offset, tr->row_keep, m->cfg.num_items, (int)d);
}

void fr_dp_add_noise(fr_dp_trainer *tr)
{
    const fr_backend *be = tr->model->be;
    if (be->dp_noise) { /* drawn where the gradients are: the same streams as below */
        float *tmp = tr->workers[0].user_grad;
        be->dp_noise(tmp, tr->rng.key, fr_dp_rng_stream_nonce((uint64_t)tr->steps << 24),
                     tr->model->n, NOISE_CHUNK, tr->cfg.noise_multiplier * tr->cfg.clip);
        add_noise_from(tr, tmp);
        return;
    }
    add_noise_in_place(tr);
}

void fr_dp_draw_negatives(fr_dp_trainer *tr)
{
    int V = tr->model->cfg.num_items;
    for (int j = 0; j < tr->tc.negatives; j++)
        tr->neg_buf[j] = 1 + (int32_t)fr_rng_below(&tr->negative_rng, (uint64_t)(V - 1));
}

/* A user's cost in windows, plus one for the negatives every user scores. */
static long user_cost(const fr_dp_trainer *tr, int u)
{
    int c = tr->user_count[u];
    return (c < tr->cfg.max_windows ? c : tr->cfg.max_windows) + 1;
}

/* Insertion sort of the sampled positions by cost, largest first, ties by position:
 * a step samples q N users, few enough, and the order depends on the sample alone. */
static void assign_workers(fr_dp_trainer *tr, int n)
{
    int nw = tr->n_workers;
    for (int w = 0; w < nw; w++)
        tr->workers[w].load = 0;
    for (int i = 0; i < n; i++) {
        long c = user_cost(tr, tr->sampled[i]);
        int j = i;
        while (j > 0 && user_cost(tr, tr->sampled[tr->by_cost[j - 1]]) < c) {
            tr->by_cost[j] = tr->by_cost[j - 1];
            j--;
        }
        tr->by_cost[j] = i;
    }
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int w = 1; w < nw; w++)
            if (tr->workers[w].load < tr->workers[best].load)
                best = w;
        tr->workers[best].load += user_cost(tr, tr->sampled[tr->by_cost[i]]);
        tr->worker_of[tr->by_cost[i]] = best;
    }
}

/* Adam on the noisy mean, at the step's rate of the schedule. */
static void dp_update(fr_dp_trainer *tr)
{
    fr_model *m = tr->model;
    float lr = tr->cfg.total_steps > 0 ? fr_train_lr_at(&tr->tc, tr->steps, tr->cfg.total_steps)
                                       : tr->tc.lr;
    m->adam_step++;
    m->be->adam(m->params, m->grads, m->adam_m, m->adam_v, m->n, lr, 0.9f, 0.999f, 1e-8f,
                m->adam_step);
    tr->steps++;
}

fr_status fr_dp_trainer_step(fr_dp_trainer *tr, fr_dp_step_stats *out, fr_err *err)
{
    memset(out, 0, sizeof *out);
    fr_dp_draw_negatives(tr);
    int n = 0;
    for (int u = 0; u < tr->n_users; u++)
        if (fr_dp_rng_uniform(&tr->rng) < tr->cfg.sampling_rate)
            tr->sampled[n++] = u;
    int done = 0;
    fr_status st = tr->batch ? fr_dp_batch_accumulate(tr, tr->sampled, n, out, &done, err) : FR_OK;
    if (st != FR_OK)
        return st;
    if (done) { /* the same noise, from the same streams of the key, as below */
        fr_dp_add_noise(tr);
        dp_update(tr);
        return FR_OK;
    }
    if ((st = per_user_ready(tr, err)) != FR_OK)
        return st;
    st = per_user_step(tr, n, out, err);
    if (tr->batch) { /* a rare step: the batched ones need none of it */
        per_user_release(tr);
        tr->fallback_steps++;
    }
    return st;
}

/* The users of a step on the per-user path, spread over the workers. */
static fr_status per_user_step(fr_dp_trainer *tr, int n, fr_dp_step_stats *out, fr_err *err)
{
    fr_model *m = tr->model;
    const fr_backend *be = m->be;
    fr_status st = share_items(tr, tr->sampled, n, err);
    if (st != FR_OK)
        return st;
    /* The backend's own threads stay idle inside the workers (nested regions run on
     * one thread). */
    int nw = tr->n_workers;
    assign_workers(tr, n);
    for (int w = 0; w < nw; w++) {
        memset(&tr->workers[w].stats, 0, sizeof tr->workers[w].stats);
        tr->workers[w].status = FR_OK;
    }
    /* The step's noise depends on the key and the step alone: a worker done with its
     * users draws chunks of it while the others finish theirs. */
    long n_chunks = noise_chunks(tr), next_chunk = 0;
#pragma omp parallel num_threads(nw)
    {
        /* With fewer threads than workers (a nested call), thread 0 runs them all. */
        int tn = omp_get_num_threads(), th = omp_get_thread_num();
        for (int i = 0; i < n; i++) {
            fr_dp_worker *wk = &tr->workers[tr->worker_of[i]];
            if ((tn < nw ? th == 0 : tr->worker_of[i] == th) && wk->status == FR_OK)
                wk->status = accumulate(tr, wk, tr->sampled[i], &wk->stats, &wk->err);
        }
        for (;;) {
            long c;
#pragma omp atomic capture
            c = next_chunk++;
            if (c >= n_chunks)
                break;
            draw_noise_chunk(tr, c);
        }
    }
    for (int w = 0; w < nw; w++) {
        fr_dp_worker *wk = &tr->workers[w];
        if (wk->status != FR_OK) {
            if (err)
                *err = wk->err;
            return wk->status;
        }
        out->sampled += wk->stats.sampled;
        out->clipped += wk->stats.clipped;
        out->loss_sum += wk->stats.loss_sum;
        out->positions += wk->stats.positions;
        if (w > 0) { /* in worker order: the same sum on every run */
            be->axpy(m->grads, 1.0f, wk->sum, m->n);
            be->zero(wk->sum, m->n);
        }
    }
    add_drawn_noise(tr);
    dp_update(tr);
    return FR_OK;
}

fr_status fr_dp_trainer_epoch(fr_dp_trainer *tr, fr_dp_ledger *ledger, fr_epoch_stats *out,
                              fr_progress_fn progress, void *ctx, fr_err *err)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double flops0 = tr->model->be->flop_count();
    long steps = fr_dp_steps_per_epoch(tr->cfg.sampling_rate), positions = 0, sampled = 0;
    double loss = 0.0;
    fr_status st;
    for (long s = 0; s < steps; s++) {
        /* Spent before it is spent: the record is on disk before the update exists. */
        if (ledger && (st = fr_dp_ledger_record(ledger, tr->cfg.sampling_rate,
                                                tr->cfg.noise_multiplier, 1, err)) != FR_OK)
            return st;
        fr_dp_step_stats ss;
        if ((st = fr_dp_trainer_step(tr, &ss, err)) != FR_OK)
            return st;
        loss += ss.loss_sum;
        positions += ss.positions;
        sampled += ss.sampled;
        if (progress)
            progress(ctx, s + 1, steps);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    memset(out, 0, sizeof *out);
    out->epoch = (int)(tr->steps / steps);
    out->loss = positions ? loss / (double)positions : 0.0;
    out->seconds = secs;
    out->positions = positions;
    out->sequences_per_s = secs > 0 ? (double)sampled / secs : 0.0; /* users per second */
    out->positions_per_s = secs > 0 ? (double)positions / secs : 0.0;
    out->gemm_flops = tr->model->be->flop_count() - flops0;
    return FR_OK;
}

int fr_dp_population(const int64_t *train_off, int num_users, int seq_len)
{
    long W = seq_len + 1;
    int n = 0;
    for (int u = 0; u < num_users; u++) {
        long len = (long)(train_off[u + 1] - train_off[u]);
        n += len / W + (len % W >= 2 ? 1 : 0) > 0;
    }
    return n;
}
