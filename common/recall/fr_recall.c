/* Recall strategies over a site's data and model, and their mix (see fr_recall.h). */
#include "recall/fr_recall.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "recall/fr_topk.h"

static const char *const strategy_names[] = {"model", "itemcf", "popular", "mix"};
static const char *const source_names[FR_SRC_COUNT] = {"model", "itemcf", "popular",
                                                       "popular-fallback"};

void fr_recall_config_default(fr_recall_config *c)
{
    memset(c, 0, sizeof *c);
    c->strategy = FR_RECALL_MODEL;
    c->k = 10;
    c->seq_len = 50;
    c->threads = 1;
    c->cf_window = 5;
    c->cf_neighbours = 50;
    c->cf_recent = 20;
    c->pop_half_life = 20.0;
    c->mix_model_pct = 60;
    c->mix_itemcf_pct = 25;
}

fr_status fr_recall_strategy_parse(const char *name, fr_recall_strategy *out, fr_err *err)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, strategy_names[i])) {
            *out = (fr_recall_strategy)i;
            return FR_OK;
        }
    return fr_fail(err, FR_EINVAL, "unknown strategy '%s' (model, itemcf, popular, mix)", name);
}

const char *fr_recall_source_name(int source)
{
    return source >= 0 && source < FR_SRC_COUNT ? source_names[source] : "unknown";
}

static fr_status check_config(const fr_recall_config *c, fr_err *err)
{
    if (c->k < 1)
        return fr_fail(err, FR_EINVAL, "recall: k = %d, must be at least 1", c->k);
    if (c->seq_len < 1 || c->threads < 1)
        return fr_fail(err, FR_EINVAL, "recall: seq-len %d and threads %d must be at least 1",
                       c->seq_len, c->threads);
    if (c->cf_window < 1 || c->cf_neighbours < 1 || c->cf_recent < 1)
        return fr_fail(err, FR_EINVAL,
                       "recall: itemcf window, neighbours and recent must be at "
                       "least 1");
    if (!(c->pop_half_life > 0.0) || !isfinite(c->pop_half_life))
        return fr_fail(err, FR_EINVAL, "recall: half-life %g must be positive", c->pop_half_life);
    if (c->mix_model_pct < 0 || c->mix_itemcf_pct < 0 || c->mix_model_pct + c->mix_itemcf_pct > 100)
        return fr_fail(err, FR_EINVAL, "recall: mix quotas %d%% + %d%% must lie within 100%%",
                       c->mix_model_pct, c->mix_itemcf_pct);
    if (c->strategy == FR_RECALL_MIX && c->use_threshold)
        return fr_fail(err, FR_EINVAL,
                       "recall: a threshold needs a single strategy (the mix's "
                       "channels score on different scales)");
    if (c->use_threshold && !isfinite(c->threshold))
        return fr_fail(err, FR_EINVAL, "recall: threshold %g is not finite", (double)c->threshold);
    return FR_OK;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Every user's full history (train, validation, test) and its sorted distinct rows. */
static fr_status build_histories(fr_recall *r, fr_err *err)
{
    const fr_dataset *ds = r->ds;
    int U = ds->num_users;
    r->hist_off = calloc((size_t)U + 1, sizeof *r->hist_off);
    r->seen_off = calloc((size_t)U + 1, sizeof *r->seen_off);
    if (!r->hist_off || !r->seen_off)
        return fr_fail(err, FR_ENOMEM, "recall: cannot allocate histories of %d users", U);
    for (int u = 0; u < U; u++)
        r->hist_off[u + 1] = r->hist_off[u] + (ds->train_off[u + 1] - ds->train_off[u]) +
                             (ds->valid[u] > 0) + (ds->test[u] > 0);
    size_t total = (size_t)r->hist_off[U];
    size_t stotal = total + (size_t)U * (size_t)r->n_retired;
    r->hist = malloc((total ? total : 1) * sizeof *r->hist);
    r->seen = malloc((stotal ? stotal : 1) * sizeof *r->seen);
    if (!r->hist || !r->seen)
        return fr_fail(err, FR_ENOMEM, "recall: cannot allocate %zu history events", total);
    for (int u = 0; u < U; u++) {
        int32_t *h = r->hist + r->hist_off[u];
        long n = (long)(ds->train_off[u + 1] - ds->train_off[u]);
        memcpy(h, ds->train_items + ds->train_off[u], (size_t)n * sizeof *h);
        if (ds->valid[u] > 0)
            h[n++] = ds->valid[u];
        if (ds->test[u] > 0)
            h[n++] = ds->test[u];
        for (long i = 0; i < n; i++)
            if (h[i] < 1 || h[i] >= r->num_items)
                return fr_fail(err, FR_EINVAL, "recall: user %d has item row %d outside [1, %d)", u,
                               h[i], r->num_items);
        int32_t *s = r->seen + r->seen_off[u];
        memcpy(s, h, (size_t)n * sizeof *s);
        /* retired items are never recalled: they join every user's exclusions, which
         * every channel already honours */
        if (r->n_retired > 0) /* memcpy from NULL is undefined even for 0 bytes */
            memcpy(s + n, r->retired, (size_t)r->n_retired * sizeof *s);
        n += r->n_retired;
        qsort(s, (size_t)n, sizeof *s, cmp_i32);
        long m = 0;
        for (long i = 0; i < n; i++)
            if (m == 0 || s[i] != s[m - 1])
                s[m++] = s[i];
        r->seen_off[u + 1] = r->seen_off[u] + m; /* packed: the next list starts here */
    }
    return FR_OK;
}

static fr_status build_popular(fr_recall *r, fr_err *err)
{
    int U = r->ds->num_users;
    long n = (long)r->hist_off[U];
    double *age = malloc((size_t)(n > 0 ? n : 1) * sizeof *age);
    if (!age)
        return fr_fail(err, FR_ENOMEM, "recall: cannot allocate %ld event ages", n);
    for (int u = 0; u < U; u++)
        for (int64_t e = r->hist_off[u]; e < r->hist_off[u + 1]; e++)
            age[e] = (double)(r->hist_off[u + 1] - 1 - e);
    fr_status st =
        fr_popular_init(&r->pop, r->num_items, r->hist, age, n, r->cfg.pop_half_life, err);
    free(age);
    return st;
}

static fr_status check_model(const fr_recall *r, fr_err *err)
{
    const fr_model *m = r->net->model;
    if (m->cfg.num_items != r->ds->num_items)
        return fr_fail(err, FR_EINVAL,
                       "recall: the model's catalogue (%d items) is not the data's (%d items)",
                       m->cfg.num_items - 1, r->ds->num_items - 1);
    if (r->net->seq_len != r->cfg.seq_len)
        return fr_fail(err, FR_EINVAL, "recall: sequence length %d differs from the network's %d",
                       r->cfg.seq_len, r->net->seq_len);
    return FR_OK;
}

static fr_status collect_retired(fr_recall *r, const fr_model *m, fr_err *err);

fr_status fr_recall_init(fr_recall *r, const fr_dataset *ds, fr_nn *net,
                         const fr_recall_config *cfg, fr_err *err)
{
    fr_status st;
    memset(r, 0, sizeof *r);
    if ((st = check_config(cfg, err)) != FR_OK)
        return st;
    r->cfg = *cfg;
    r->ds = ds;
    r->net = net;
    r->num_items = ds->num_items;
    int need_model = cfg->strategy == FR_RECALL_MODEL || cfg->strategy == FR_RECALL_MIX;
    int need_cf = cfg->strategy == FR_RECALL_ITEMCF || cfg->strategy == FR_RECALL_MIX;
    if (need_model && !net) {
        st = fr_fail(err, FR_EINVAL, "recall: strategy %s needs a model",
                     strategy_names[cfg->strategy]);
        goto out;
    }
    if (net && (st = check_model(r, err)) != FR_OK)
        goto out;
    if (net && (st = collect_retired(r, net->model, err)) != FR_OK)
        goto out;
    if ((st = build_histories(r, err)) != FR_OK || (st = build_popular(r, err)) != FR_OK)
        goto out;
    r->mark = calloc((size_t)r->num_items, 1);
    if (!r->mark) {
        st = fr_fail(err, FR_ENOMEM, "recall: cannot allocate marks for %d items", r->num_items);
        goto out;
    }
    if (need_cf) {
        if ((st = fr_itemcf_build(&r->cf, r->num_items, r->hist, r->hist_off, ds->num_users,
                                  cfg->cf_window, cfg->cf_neighbours, cfg->threads, err)) != FR_OK)
            goto out;
        r->cf_scratch = calloc((size_t)cfg->threads, sizeof *r->cf_scratch);
        if (!r->cf_scratch) {
            st = fr_fail(err, FR_ENOMEM, "recall: cannot allocate itemcf scratch");
            goto out;
        }
        for (int t = 0; t < cfg->threads; t++)
            if ((st = fr_itemcf_scratch_init(&r->cf_scratch[t], r->num_items, err)) != FR_OK)
                goto out;
    }
    if (need_model) {
        r->dim = net->model->cfg.dim;
        r->item_vecs = malloc((size_t)r->num_items * r->dim * sizeof *r->item_vecs);
        if (!r->item_vecs) {
            st = fr_fail(err, FR_ENOMEM, "recall: cannot allocate %d item vectors", r->num_items);
            goto out;
        }
        if ((st = fr_nn_item_vectors(net, r->item_vecs, err)) != FR_OK)
            goto out;
        if (cfg->cold_start && (st = fr_recall_cold_build(r, err)) != FR_OK)
            goto out;
        const fr_backend *be = net->model->be;
        /* the cold channel scans its own few rows on the host */
        if (be != fr_backend_cpu() && !cfg->cold_start &&
            (st = fr_recall_dev_init(&r->dev, be, r->item_vecs, r->num_items, r->dim, err)) !=
                FR_OK)
            goto out;
    }
out:
    if (st)
        fr_recall_free(r);
    return st;
}

void fr_recall_free(fr_recall *r)
{
    free(r->cold_rows);
    free(r->cold_vecs);
    free(r->hist_off);
    free(r->hist);
    free(r->seen_off);
    free(r->retired);
    free(r->seen);
    free(r->item_vecs);
    fr_recall_dev_free(&r->dev);
    fr_itemcf_free(&r->cf);
    fr_popular_free(&r->pop);
    if (r->cf_scratch)
        for (int t = 0; t < r->cfg.threads; t++)
            fr_itemcf_scratch_free(&r->cf_scratch[t]);
    free(r->cf_scratch);
    free(r->mark);
    memset(r, 0, sizeof *r);
}

static long hist_len(const fr_recall *r, int32_t u)
{
    return (long)(r->hist_off[u + 1] - r->hist_off[u]);
}

/* What u's results leave out: the history and the retired items, or with include_seen
 * the retired items alone. */
static fr_topk_excl seen_of(const fr_recall *r, int32_t u)
{
    fr_topk_excl e = {r->seen + r->seen_off[u], (long)(r->seen_off[u + 1] - r->seen_off[u])};
    if (r->cfg.include_seen)
        e = (fr_topk_excl){r->retired, r->n_retired};
    return e;
}

/* The retired rows of the model, ascending. */
static fr_status collect_retired(fr_recall *r, const fr_model *m, fr_err *err)
{
    long n = 0;
    for (int i = 1; i < m->cfg.num_items; i++)
        n += fr_model_retired(m, i);
    if (!n)
        return FR_OK;
    if (!(r->retired = malloc((size_t)n * sizeof *r->retired)))
        return fr_fail(err, FR_ENOMEM, "recall: out of memory");
    for (int i = 1; i < m->cfg.num_items; i++)
        if (fr_model_retired(m, i))
            r->retired[r->n_retired++] = i;
    return FR_OK;
}

static void copy_heap(fr_topk *h, int source, fr_recall_hit *out, int *count)
{
    fr_topk_sort(h);
    for (int j = 0; j < h->n; j++)
        out[j] = (fr_recall_hit){h->row[j], h->score[j], source};
    *count = h->n;
}

/* The device's answer for the m users of run_model, into their hits. */
static fr_status run_model_dev(fr_recall *r, const float *vecs, int m, const fr_topk_excl *excl,
                               float floor, const int *who, fr_recall_hit *hits, int *cnt,
                               fr_err *err)
{
    int K = r->cfg.k;
    int32_t *rows = malloc((size_t)m * K * sizeof *rows);
    float *scores = malloc((size_t)m * K * sizeof *scores);
    fr_status st = FR_OK;
    if (!rows || !scores)
        st = fr_fail(err, FR_ENOMEM, "recall: cannot allocate the results of %d users", m);
    else
        st = fr_recall_dev_search(&r->dev, vecs, m, excl, K, floor, rows, scores, err);
    for (int j = 0; st == FR_OK && j < m; j++) {
        fr_recall_hit *out = hits + (size_t)who[j] * K;
        int c = 0;
        for (; c < K && rows[(size_t)j * K + c] >= 0; c++)
            out[c] =
                (fr_recall_hit){rows[(size_t)j * K + c], scores[(size_t)j * K + c], FR_SRC_MODEL};
        cnt[who[j]] = c;
    }
    free(rows);
    free(scores);
    return st;
}

/* The model channel for the users with a history: one forward pass for their vectors,
 * then one blocked search over the catalogue for all of them. */
static fr_status run_model(fr_recall *r, const int32_t *users, int n, float floor,
                           fr_recall_hit *hits, int *cnt, fr_err *err)
{
    fr_status st = FR_OK;
    int K = r->cfg.k, L = r->net->seq_len, d = r->dim, m = 0;
    int *who = malloc((size_t)n * sizeof *who);
    int32_t *seqs = malloc((size_t)n * L * sizeof *seqs);
    float *vecs = malloc((size_t)n * d * sizeof *vecs);
    fr_topk_excl *excl = malloc((size_t)n * sizeof *excl);
    fr_topk *heaps = calloc((size_t)n, sizeof *heaps);
    if (!who || !seqs || !vecs || !excl || !heaps) {
        st = fr_fail(err, FR_ENOMEM, "recall: cannot allocate the model channel for %d users", n);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        int32_t u = users[i];
        if (hist_len(r, u) == 0)
            continue;
        fr_left_pad(r->hist + r->hist_off[u], hist_len(r, u), L, seqs + (size_t)m * L);
        excl[m] = seen_of(r, u);
        who[m++] = i;
    }
    for (int j = 0; j < m; j++) {
        if ((st = fr_topk_init(&heaps[j], K, err)) != FR_OK)
            goto out;
        fr_topk_reset(&heaps[j], floor);
    }
    if (m == 0)
        goto out;
    if ((st = fr_nn_user_vectors(r->net, r->item_vecs, seqs, m, vecs, err)) != FR_OK)
        goto out;
    if (r->dev.be) {
        st = run_model_dev(r, vecs, m, r->cfg.include_seen && !r->n_retired ? NULL : excl, floor,
                           who, hits, cnt, err);
        goto out;
    }
    if (r->cfg.cold_start) {
        /* no user has touched a cold item, and none is retired: nothing to exclude */
        if ((st = fr_topk_search(r->cold_vecs, r->n_cold + 1, d, vecs, m, NULL, r->cfg.threads,
                                 heaps, err)) != FR_OK)
            goto out;
        for (int j = 0; j < m; j++) {
            fr_recall_hit *o = hits + (size_t)who[j] * K;
            copy_heap(&heaps[j], FR_SRC_MODEL, o, &cnt[who[j]]);
            for (int c = 0; c < cnt[who[j]]; c++)
                o[c].row = r->cold_rows[o[c].row];
        }
        goto out;
    }
    if ((st = fr_topk_search(r->item_vecs, r->num_items, d, vecs, m,
                             r->cfg.include_seen && !r->n_retired ? NULL : excl, r->cfg.threads,
                             heaps, err)) != FR_OK)
        goto out;
    for (int j = 0; j < m; j++)
        copy_heap(&heaps[j], FR_SRC_MODEL, hits + (size_t)who[j] * K, &cnt[who[j]]);
out:
    for (int j = 0; heaps && j < n; j++)
        fr_topk_free(&heaps[j]);
    free(heaps);
    free(excl);
    free(vecs);
    free(seqs);
    free(who);
    return st;
}

/* The itemcf channel: users are independent, one scratch and heap per thread. */
static fr_status run_itemcf(fr_recall *r, const int32_t *users, int n, float floor,
                            fr_recall_hit *hits, int *cnt, fr_err *err)
{
    fr_status st = FR_OK;
    int K = r->cfg.k, nt = r->cfg.threads;
    fr_topk *heaps = calloc((size_t)nt, sizeof *heaps);
    if (!heaps)
        return fr_fail(err, FR_ENOMEM, "recall: cannot allocate itemcf heaps");
    for (int t = 0; t < nt; t++)
        if ((st = fr_topk_init(&heaps[t], K, err)) != FR_OK)
            goto out;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 16)
    for (int i = 0; i < n; i++) {
        int32_t u = users[i];
        int t = omp_get_thread_num();
        if (hist_len(r, u) == 0)
            continue;
        fr_topk_excl e = seen_of(r, u);
        fr_topk_reset(&heaps[t], floor);
        fr_itemcf_query(&r->cf, r->hist + r->hist_off[u], hist_len(r, u), r->cfg.cf_recent,
                        r->cfg.include_seen && !r->n_retired ? NULL : &e, &r->cf_scratch[t],
                        &heaps[t]);
        copy_heap(&heaps[t], FR_SRC_ITEMCF, hits + (size_t)i * K, &cnt[i]);
    }
out:
    for (int t = 0; t < nt; t++)
        fr_topk_free(&heaps[t]);
    free(heaps);
    return st;
}

/* The popular channel for one user; rows and scores are k-sized scratch. */
static void run_popular(const fr_recall *r, int32_t u, float floor, int source, int32_t *rows,
                        float *scores, fr_recall_hit *hits, int *cnt)
{
    fr_topk_excl e = seen_of(r, u);
    int got = fr_popular_top(&r->pop, r->cfg.include_seen && !r->n_retired ? NULL : &e, floor,
                             r->cfg.k, rows, scores);
    for (int j = 0; j < got; j++)
        hits[j] = (fr_recall_hit){rows[j], scores[j], source};
    *cnt = got;
}

void fr_recall_mix_quotas(int k, int model_pct, int itemcf_pct, int quota[3])
{
    int qm = (int)(((long)k * model_pct + 50) / 100);
    if (qm > k)
        qm = k;
    int qi = (int)(((long)k * itemcf_pct + 50) / 100);
    if (qi > k - qm)
        qi = k - qm;
    quota[0] = qm;
    quota[1] = qi;
    quota[2] = k - qm - qi;
}

int fr_recall_mix(const fr_recall_hit *const lists[3], const int n[3], const int quota[3], int k,
                  uint8_t *mark, fr_recall_hit *out)
{
    int taken[3] = {0, 0, 0}, got = 0, carry = 0;
    /* 1. Take by quota, passing unused quota on; mark[row] = channel + 1. */
    for (int c = 0; c < 3; c++) {
        int budget = quota[c] + carry;
        if (budget > k - got)
            budget = k - got;
        for (int j = 0; j < n[c] && taken[c] < budget; j++) {
            int32_t row = lists[c][j].row;
            if (mark[row])
                continue;
            mark[row] = (uint8_t)(c + 1);
            taken[c]++;
        }
        got += taken[c];
        carry = budget - taken[c];
    }
    /* 2. Interleave by relative rank: (rank + 0.5) / taken, compared exactly in integers.
     * An entry of list c was taken by c exactly when its mark says so; an emitted row's
     * mark becomes 4 so that a repeat in the same list is not emitted twice. */
    int pos[3] = {0, 0, 0}, rank[3] = {0, 0, 0};
    for (int o = 0; o < got; o++) {
        int best = -1;
        for (int c = 0; c < 3; c++) {
            while (pos[c] < n[c] && rank[c] < taken[c] && mark[lists[c][pos[c]].row] != c + 1)
                pos[c]++;
            if (rank[c] >= taken[c] || pos[c] >= n[c])
                continue;
            if (best < 0 ||
                (long)(2 * rank[c] + 1) * taken[best] < (long)(2 * rank[best] + 1) * taken[c])
                best = c;
        }
        FR_ASSERT(best >= 0);
        out[o] = lists[best][pos[best]];
        mark[out[o].row] = 4;
        pos[best]++;
        rank[best]++;
    }
    for (int o = 0; o < got; o++)
        mark[out[o].row] = 0;
    return got;
}

fr_status fr_recall_users(fr_recall *r, const int32_t *users, int n, fr_recall_hit *out, int *count,
                          fr_err *err)
{
    fr_status st = FR_OK;
    const fr_recall_config *c = &r->cfg;
    int K = c->k, U = r->ds->num_users;
    float floor = c->use_threshold ? c->threshold : -INFINITY;
    int use[3] = {c->strategy == FR_RECALL_MODEL || c->strategy == FR_RECALL_MIX,
                  c->strategy == FR_RECALL_ITEMCF || c->strategy == FR_RECALL_MIX,
                  c->strategy == FR_RECALL_POPULAR || c->strategy == FR_RECALL_MIX};
    fr_recall_hit *hits[3] = {NULL, NULL, NULL};
    int *cnt[3] = {NULL, NULL, NULL};
    if (n <= 0)
        return n == 0 ? FR_OK : fr_fail(err, FR_EINVAL, "recall: %d users", n);
    int32_t *rows = malloc((size_t)K * sizeof *rows);
    float *scores = malloc((size_t)K * sizeof *scores);
    if (!rows || !scores) {
        st = fr_fail(err, FR_ENOMEM, "recall: cannot allocate results of %d", K);
        goto out;
    }
    for (int i = 0; i < n; i++)
        if (users[i] < 0 || users[i] >= U) {
            st = fr_fail(err, FR_EINVAL, "recall: user row %d outside [0, %d)", users[i], U);
            goto out;
        }
    for (int ch = 0; ch < 3; ch++) {
        if (!use[ch])
            continue;
        hits[ch] = malloc((size_t)n * K * sizeof *hits[ch]);
        cnt[ch] = calloc((size_t)n, sizeof *cnt[ch]);
        if (!hits[ch] || !cnt[ch]) {
            st = fr_fail(err, FR_ENOMEM, "recall: cannot allocate results of %d users", n);
            goto out;
        }
    }
    /* In a mix every channel brings a full k: the merge skips duplicates. */
    if (use[0] && (st = run_model(r, users, n, c->strategy == FR_RECALL_MIX ? -INFINITY : floor,
                                  hits[0], cnt[0], err)) != FR_OK)
        goto out;
    if (use[1] && (st = run_itemcf(r, users, n, c->strategy == FR_RECALL_MIX ? -INFINITY : floor,
                                   hits[1], cnt[1], err)) != FR_OK)
        goto out;
    int quota[3];
    fr_recall_mix_quotas(K, c->mix_model_pct, c->mix_itemcf_pct, quota);
    for (int i = 0; i < n; i++) {
        int32_t u = users[i];
        fr_recall_hit *o = out + (size_t)i * K;
        if (hist_len(r, u) == 0) {
            run_popular(r, u, -INFINITY, FR_SRC_POPULAR_FALLBACK, rows, scores, o, &count[i]);
            continue;
        }
        if (use[2])
            run_popular(r, u, c->strategy == FR_RECALL_MIX ? -INFINITY : floor, FR_SRC_POPULAR,
                        rows, scores, hits[2] + (size_t)i * K, &cnt[2][i]);
        if (c->strategy == FR_RECALL_MIX) {
            const fr_recall_hit *lists[3] = {hits[0] + (size_t)i * K, hits[1] + (size_t)i * K,
                                             hits[2] + (size_t)i * K};
            int ns[3] = {cnt[0][i], cnt[1][i], cnt[2][i]};
            count[i] = fr_recall_mix(lists, ns, quota, K, r->mark, o);
            continue;
        }
        int ch = c->strategy == FR_RECALL_MODEL ? 0 : c->strategy == FR_RECALL_ITEMCF ? 1 : 2;
        count[i] = cnt[ch][i];
        memcpy(o, hits[ch] + (size_t)i * K, (size_t)cnt[ch][i] * sizeof *o);
    }
out:
    for (int ch = 0; ch < 3; ch++) {
        free(hits[ch]);
        free(cnt[ch]);
    }
    free(rows);
    free(scores);
    return st;
}
