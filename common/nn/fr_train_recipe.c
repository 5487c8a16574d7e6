/* The training recipe's pieces beside the plain loop (see fr_train.h): the learning
 * rate schedule, decoupled weight decay and the popularity sampler of negatives. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/fr_train.h"

/* Why each of "tuned"'s settings: docs/model.md, "Training recipes" (measured there). */
static const fr_recipe recipes[] = {
    {.name = "tuned",
     .negatives = 256,
     .lr = 3e-3f,
     .warmup = 0.05f,
     .lr_final = 0.0f,
     .weight_decay = 0.0f,
     .pop_alpha = 0.75f,
     .dropout = 0.4f,
     .item_dropout = 0.3f},
    {.name = "peer", .negatives = 128, .lr = 1e-3f, .lr_final = 1.0f},
    /* private training takes few, noisy steps: a larger rate, and more negatives for
     * each of them (docs/privacy.md, "A recipe from the budget") */
    {.name = "dp", .negatives = 256, .lr = 1e-2f, .lr_final = 1.0f},
};

const fr_recipe *fr_recipe_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof recipes / sizeof recipes[0]; i++)
        if (!strcmp(recipes[i].name, name))
            return &recipes[i];
    return NULL;
}

float fr_train_lr_at(const fr_train_config *cfg, long step, long total)
{
    if (total < 1)
        return cfg->lr;
    if (step >= total)
        step = total - 1;
    long warm = (long)((double)cfg->warmup * (double)total);
    if (step < warm) /* a ramp: Adam's first steps are large and noisy at the full rate */
        return cfg->lr * (float)(step + 1) / (float)warm;
    long span = total - warm;
    double frac = span > 1 ? (double)(step - warm) / (double)(span - 1) : 1.0;
    double c = 0.5 * (1.0 + cos(M_PI * frac));
    double fin = (double)cfg->lr_final;
    return (float)((double)cfg->lr * (fin + (1.0 - fin) * c));
}

void fr_train_adamw_step(fr_model *m, float lr, float wd)
{
    /* decay before the step, as PyTorch's AdamW does; row 0 stays zero */
    if (wd > 0.0f)
        m->be->scale(m->params, 1.0f - lr * wd, m->n);
    fr_train_adam_step(m, lr);
}

fr_status fr_negsampler_init(fr_negsampler *ns, const int32_t *windows, long n_windows,
                             int window_len, int num_items, float alpha, fr_err *err)
{
    memset(ns, 0, sizeof *ns);
    if (num_items < 2)
        return fr_fail(err, FR_EINVAL, "negative sampler: %d catalogue rows, need 2", num_items);
    if (!(alpha > 0.0f && alpha <= 4.0f))
        return fr_fail(err, FR_EINVAL, "negative sampler: alpha %g out of range (0, 4]",
                       (double)alpha);
    ns->num_items = num_items;
    ns->cdf = calloc((size_t)num_items, sizeof(double));
    ns->nlogq = calloc((size_t)num_items, sizeof(float));
    if (!ns->cdf || !ns->nlogq) {
        fr_negsampler_free(ns);
        return fr_fail(err, FR_ENOMEM, "negative sampler: cannot allocate %d rows", num_items);
    }
    /* counts in the cdf's slots first; +1 so that an item absent from the windows can
     * still be drawn and has a finite correction */
    for (long i = 0; i < n_windows * window_len; i++)
        if (windows[i] > 0 && windows[i] < num_items)
            ns->cdf[windows[i]] += 1.0;
    double total = 0.0;
    for (int j = 1; j < num_items; j++) {
        ns->cdf[j] = pow(ns->cdf[j] + 1.0, (double)alpha);
        total += ns->cdf[j];
    }
    double acc = 0.0;
    for (int j = 1; j < num_items; j++) {
        double q = ns->cdf[j] / total;
        ns->nlogq[j] = (float)-log(q);
        acc += q;
        ns->cdf[j] = acc;
    }
    ns->cdf[num_items - 1] = 1.0; /* no draw may fall past the end by rounding */
    return FR_OK;
}

void fr_negsampler_free(fr_negsampler *ns)
{
    free(ns->cdf);
    free(ns->nlogq);
    memset(ns, 0, sizeof *ns);
}

void fr_negsampler_draw(const fr_negsampler *ns, fr_rng *rng, int32_t *out, int k)
{
    for (int i = 0; i < k; i++) {
        double u = fr_rng_uniform(rng);
        int lo = 1, hi = ns->num_items - 1; /* the first j with cdf[j] > u */
        while (lo < hi) {
            int mid = lo + (hi - lo) / 2;
            if (ns->cdf[mid] > u)
                hi = mid;
            else
                lo = mid + 1;
        }
        out[i] = lo;
    }
}
