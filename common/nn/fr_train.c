/* The local training loop (see fr_train.h). */
#include "nn/fr_train.h"

#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

fr_status fr_trainer_init(fr_trainer *tr, fr_model *model, const fr_train_config *cfg,
                          const int32_t *windows, long n_windows, fr_err *err)
{
    fr_status st;
    memset(tr, 0, sizeof *tr);
    if (!(cfg->lr > 0.0f && cfg->lr < 1e3f))
        return fr_fail(err, FR_EINVAL, "lr %g out of range (0, 1000)", (double)cfg->lr);
    if (n_windows < 1)
        return fr_fail(err, FR_ENODATA,
                       "no training windows (every user has fewer than 2 train items)");
    if (n_windows > INT32_MAX)
        return fr_fail(err, FR_EINVAL, "%ld training windows exceed 2^31", n_windows);
    if (!(cfg->warmup >= 0.0f && cfg->warmup < 1.0f) ||
        !(cfg->lr_final >= 0.0f && cfg->lr_final <= 1.0f) ||
        !(cfg->weight_decay >= 0.0f && cfg->lr * cfg->weight_decay < 1.0f) || cfg->epochs < 0 ||
        !(cfg->pop_alpha >= 0.0f))
        return fr_fail(err, FR_EINVAL,
                       "recipe: warmup %g, lr-final %g, weight decay %g, epochs %d or pop-alpha %g "
                       "out of range",
                       (double)cfg->warmup, (double)cfg->lr_final, (double)cfg->weight_decay,
                       cfg->epochs, (double)cfg->pop_alpha);
    tr->cfg = *cfg;
    tr->model = model;
    tr->windows = windows;
    tr->n_windows = n_windows;
    if ((st = fr_nn_init(&tr->net, model, cfg->batch, cfg->seq_len, cfg->negatives, err)) != FR_OK)
        return st;
    tr->order = malloc((size_t)n_windows * sizeof(int32_t));
    tr->batch_buf = malloc((size_t)cfg->batch * (size_t)(cfg->seq_len + 1) * sizeof(int32_t));
    tr->neg_buf = malloc((size_t)cfg->negatives * sizeof(int32_t));
    if (!tr->order || !tr->batch_buf || !tr->neg_buf) {
        fr_trainer_free(tr);
        return fr_fail(err, FR_ENOMEM, "cannot allocate the training order of %ld windows",
                       n_windows);
    }
    for (long i = 0; i < n_windows; i++)
        tr->order[i] = (int32_t)i;
    if ((st = fr_nn_set_dropout(&tr->net, cfg->dropout, cfg->seed + 2, err)) != FR_OK ||
        (st = fr_nn_set_item_dropout(&tr->net, cfg->item_dropout, cfg->seed + 3, err)) != FR_OK) {
        fr_trainer_free(tr);
        return st;
    }
    tr->total_steps = (long)cfg->epochs * ((n_windows + cfg->batch - 1) / cfg->batch);
    if (cfg->pop_alpha > 0.0f &&
        ((st = fr_negsampler_init(&tr->ns, windows, n_windows, cfg->seq_len + 1,
                                  model->cfg.num_items, cfg->pop_alpha, err)) != FR_OK ||
         (st = fr_nn_set_logq(&tr->net, tr->ns.nlogq, err)) != FR_OK)) {
        fr_trainer_free(tr);
        return st;
    }
    /* Two streams, so that the order of windows and the negatives drawn are each a
     * function of the seed alone. */
    fr_rng_seed(&tr->shuffle_rng, cfg->seed);
    fr_rng_seed(&tr->negative_rng, cfg->seed + 1);
    return FR_OK;
}

void fr_trainer_free(fr_trainer *tr)
{
    fr_nn_free(&tr->net);
    free(tr->order);
    free(tr->batch_buf);
    free(tr->neg_buf);
    fr_negsampler_free(&tr->ns);
    memset(tr, 0, sizeof *tr);
}

void fr_train_adam_step(fr_model *m, float lr)
{
    m->adam_step++;
    m->be->adam(m->params, m->grads, m->adam_m, m->adam_v, m->n, lr, 0.9f, 0.999f, 1e-8f,
                m->adam_step);
}

void fr_trainer_set_prox(fr_trainer *tr, const float *anchor, float mu)
{
    tr->prox_anchor = mu > 0.0f ? anchor : NULL;
    tr->prox_mu = mu > 0.0f && anchor ? mu : 0.0f;
}

void fr_train_prox_grad(fr_model *m, const float *anchor, float mu)
{
    /* two passes of an op both backends have; the padding rows stay zero, as params and
     * anchor are zero there */
    m->be->axpy(m->grads, mu, m->params, m->n);
    m->be->axpy(m->grads, -mu, anchor, m->n);
}

fr_status fr_trainer_epoch(fr_trainer *tr, fr_epoch_stats *out, fr_progress_fn progress, void *ctx,
                           fr_err *err)
{
    fr_model *m = tr->model;
    const fr_backend *be = m->be;
    int W = tr->cfg.seq_len + 1, V = m->cfg.num_items;
    double t0 = now_s(), loss_sum = 0.0, flops0 = be->flop_count();
    long positions = 0;
    fr_status st = FR_OK;
    fr_rng_shuffle_i32(&tr->shuffle_rng, tr->order, tr->n_windows);
    be->zero(m->grads, m->n); /* from here on, each Adam step leaves them zero */
    for (long start = 0; start < tr->n_windows; start += tr->cfg.batch) {
        int b =
            (int)(tr->n_windows - start < tr->cfg.batch ? tr->n_windows - start : tr->cfg.batch);
        for (int i = 0; i < b; i++)
            memcpy(tr->batch_buf + (size_t)i * W, tr->windows + (size_t)tr->order[start + i] * W,
                   (size_t)W * sizeof(int32_t));
        if (tr->ns.cdf)
            fr_negsampler_draw(&tr->ns, &tr->negative_rng, tr->neg_buf, tr->cfg.negatives);
        else
            for (int j = 0; j < tr->cfg.negatives; j++)
                tr->neg_buf[j] = 1 + (int32_t)fr_rng_below(&tr->negative_rng, (uint64_t)(V - 1));
        long np = positions;
        if ((st = fr_nn_batch(&tr->net, tr->batch_buf, b, tr->neg_buf, 1, &loss_sum, &positions,
                              err)) != FR_OK)
            return st;
        if (positions > np && tr->prox_mu > 0.0f)
            fr_train_prox_grad(m, tr->prox_anchor, tr->prox_mu);
        if (positions > np)
            fr_train_adamw_step(m, fr_train_lr_at(&tr->cfg, tr->step++, tr->total_steps),
                                tr->cfg.weight_decay);
        if (progress)
            progress(ctx, start + b, tr->n_windows);
    }
    tr->epoch++;
    double secs = now_s() - t0;
    out->epoch = tr->epoch;
    out->loss = positions ? loss_sum / (double)positions : 0.0;
    out->seconds = secs;
    out->positions = positions;
    out->gemm_flops = be->flop_count() - flops0;
    out->sequences_per_s = secs > 0 ? (double)tr->n_windows / secs : 0.0;
    out->positions_per_s = secs > 0 ? (double)positions / secs : 0.0;
    return st;
}
