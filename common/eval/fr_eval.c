/* Validation and test evaluation of fedrecall's recall models (see fr_eval.h).
 * Everything random (the sampled users and their negatives) is drawn once at init,
 * so every evaluation of a run ranks the same candidates. Full-ranking scores are
 * float32 products q . h, the precision of the benchmark peer, so that ranks (and so
 * every full-ranking metric) agree with the peer's for the same vectors. */
#include "eval/fr_eval.h"

#include "util/fr_rng.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define FR_EVAL_BLOCK 128               /* users per score block */
#define FR_EVAL_BLOCK_FLOATS (1L << 24) /* cap of one thread's score block (64 MiB) */
#define FR_EVAL_TOP 50                  /* length of the longest recommended list */
#define FR_EVAL_SEED_SALT 7919          /* keeps evaluation draws off training streams */

/* The last L items of the concatenation a[0..na) + b[0..nb), left-padded with 0. */
static void fr_eval_left_pad2(const int32_t *a, long na, const int32_t *b, long nb, int seq_len,
                              int32_t *out)
{
    long n = na + nb;
    long take = n < seq_len ? n : seq_len;
    long pad = seq_len - take;
    memset(out, 0, (size_t)pad * sizeof *out);
    for (long k = 0; k < take; k++) {
        long src = n - take + k;
        out[pad + k] = src < na ? a[src] : b[src - na];
    }
}

static int fr_eval_cmp_i32(const void *pa, const void *pb)
{
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    return (a > b) - (a < b);
}

/* Item rows outside the catalogue would index past every V-sized array below, so a
 * dataset is checked once here rather than trusted. */
static fr_status fr_eval_check_dataset(const fr_dataset *ds, fr_err *err)
{
    int V = ds->num_items, U = ds->num_users;
    if (V < 2)
        return fr_fail(err, FR_ENODATA, "eval: the catalogue is empty (%d item rows)", V);
    if (U < 1 || ds->num_eval_users < 0 || ds->num_eval_users > U)
        return fr_fail(err, FR_EINVAL, "eval: %d users, %d evaluation users", U,
                       ds->num_eval_users);
    if (!ds->train_off || !ds->train_items || !ds->valid || !ds->test ||
        (ds->num_eval_users > 0 && !ds->eval_users))
        return fr_fail(err, FR_EINVAL, "eval: dataset arrays missing");
    if (ds->train_off[0] != 0)
        return fr_fail(err, FR_EFORMAT, "eval: train offsets do not start at 0");
    for (int u = 0; u < U; u++) {
        if (ds->train_off[u + 1] < ds->train_off[u])
            return fr_fail(err, FR_EFORMAT, "eval: train offsets of user %d decrease", u);
        for (int64_t k = ds->train_off[u]; k < ds->train_off[u + 1]; k++)
            if (ds->train_items[k] < 1 || ds->train_items[k] >= V)
                return fr_fail(err, FR_EFORMAT,
                               "eval: user %d trains on item row %d, not in [1, %d)", u,
                               (int)ds->train_items[k], V);
    }
    for (int i = 0; i < ds->num_eval_users; i++) {
        int32_t u = ds->eval_users[i];
        if (u < 0 || u >= U)
            return fr_fail(err, FR_EFORMAT, "eval: evaluation user %d is not in [0, %d)", (int)u,
                           U);
        if (ds->valid[u] < 1 || ds->valid[u] >= V || ds->test[u] < 1 || ds->test[u] >= V)
            return fr_fail(err, FR_EFORMAT,
                           "eval: user %d has held-out rows %d (validation) and %d (test), "
                           "not both in [1, %d)",
                           (int)u, (int)ds->valid[u], (int)ds->test[u], V);
    }
    return FR_OK;
}

/* Marks item it with mark; 1 when it was not marked yet. */
static int fr_eval_stamp(int64_t *stamp, int32_t it, int64_t mark)
{
    if (stamp[it] == mark)
        return 0;
    stamp[it] = mark;
    return 1;
}

/* Per sampled user: [target, negatives], negatives uniform with replacement from
 * [1, V) among items the user never touched (train, validation, test). */
static fr_status fr_eval_sample_candidates(fr_evaluator *ev, fr_split split, fr_rng *rng,
                                           int64_t *stamp, int64_t *stamp_next, fr_err *err)
{
    const fr_dataset *ds = ev->ds;
    int V = ds->num_items;
    int width = 1 + FR_EVAL_NEGATIVES;
    for (int i = 0; i < ev->n_sampled; i++) {
        int32_t u = ds->eval_users[ev->sampled_pos[i]];
        int64_t mark = (*stamp_next)++;
        long distinct = 0;
        for (int64_t k = ds->train_off[u]; k < ds->train_off[u + 1]; k++)
            distinct += fr_eval_stamp(stamp, ds->train_items[k], mark);
        distinct += fr_eval_stamp(stamp, ds->valid[u], mark);
        distinct += fr_eval_stamp(stamp, ds->test[u], mark);
        /* Rejection sampling never ends for a user who has touched the whole catalogue. */
        if (distinct >= V - 1)
            return fr_fail(err, FR_ENODATA,
                           "eval: user %d interacted with all %d items, so no negative can be "
                           "sampled for the sampled metric",
                           (int)u, V - 1);
        int32_t *row = ev->candidates[split] + (size_t)i * width;
        row[0] = split == FR_SPLIT_VALID ? ds->valid[u] : ds->test[u];
        for (int n = 1; n < width;) {
            int32_t draw = (int32_t)(1 + fr_rng_below(rng, (uint64_t)(V - 1)));
            if (stamp[draw] != mark)
                row[n++] = draw;
        }
    }
    return FR_OK;
}

fr_status fr_eval_init(fr_evaluator *ev, const fr_dataset *ds, int seq_len, uint64_t seed,
                       int max_users, fr_err *err)
{
    fr_status st = FR_OK;
    int64_t *stamp = NULL;
    int32_t *order = NULL;

    memset(ev, 0, sizeof *ev);
    if (!ds)
        return fr_fail(err, FR_EINVAL, "eval: no dataset");
    if (seq_len < 1)
        return fr_fail(err, FR_EINVAL, "eval: sequence length %d, must be at least 1", seq_len);
    if (max_users < 1)
        return fr_fail(err, FR_EINVAL, "eval: at most %d sampled users, must be at least 1",
                       max_users);
    st = fr_eval_check_dataset(ds, err);
    if (st != FR_OK)
        return st;

    int V = ds->num_items, U = ds->num_users, n = ds->num_eval_users;
    ev->ds = ds;
    ev->seq_len = seq_len;
    ev->n_users = n;
    ev->n_sampled = n < max_users ? n : max_users;
    size_t nn = n > 0 ? (size_t)n : 1;
    size_t ns = ev->n_sampled > 0 ? (size_t)ev->n_sampled : 1;
    for (int s = 0; s < 2; s++) {
        ev->inputs[s] = malloc(nn * (size_t)seq_len * sizeof(int32_t));
        ev->targets[s] = malloc(nn * sizeof(int32_t));
        ev->candidates[s] = malloc(ns * (1 + FR_EVAL_NEGATIVES) * sizeof(int32_t));
    }
    ev->sampled_pos = malloc(ns * sizeof(int32_t));
    ev->neg_log2_pop = malloc((size_t)V * sizeof(double));
    ev->popularity = calloc((size_t)V, sizeof(float));
    stamp = malloc((size_t)V * sizeof *stamp);
    order = malloc(nn * sizeof *order);
    if (!ev->inputs[0] || !ev->inputs[1] || !ev->targets[0] || !ev->targets[1] ||
        !ev->candidates[0] || !ev->candidates[1] || !ev->sampled_pos || !ev->neg_log2_pop ||
        !ev->popularity || !stamp || !order) {
        st = fr_fail(err, FR_ENOMEM, "eval: out of memory for %d users x %d positions, %d items", n,
                     seq_len, V);
        goto out;
    }

    /* The test input includes the validation item, as in SASRec's evaluate(). */
    for (int i = 0; i < n; i++) {
        int32_t u = ds->eval_users[i];
        const int32_t *tr = ds->train_items + ds->train_off[u];
        long nt = (long)(ds->train_off[u + 1] - ds->train_off[u]);
        size_t row = (size_t)i * seq_len;
        fr_eval_left_pad2(tr, nt, NULL, 0, seq_len, ev->inputs[FR_SPLIT_VALID] + row);
        fr_eval_left_pad2(tr, nt, &ds->valid[u], 1, seq_len, ev->inputs[FR_SPLIT_TEST] + row);
        ev->targets[FR_SPLIT_VALID][i] = ds->valid[u];
        ev->targets[FR_SPLIT_TEST][i] = ds->test[u];
    }

    /* Popularity counts a user once per item however often the item repeats. */
    for (int j = 0; j < V; j++)
        stamp[j] = -1;
    int64_t stamp_next = 0;
    for (int u = 0; u < U; u++, stamp_next++)
        for (int64_t k = ds->train_off[u]; k < ds->train_off[u + 1]; k++)
            if (fr_eval_stamp(stamp, ds->train_items[k], stamp_next))
                ev->popularity[ds->train_items[k]] += 1.0f;
    for (int j = 0; j < V; j++) {
        double p = ev->popularity[j] < 1.0f ? 1.0 : (double)ev->popularity[j];
        ev->neg_log2_pop[j] = -log2(p / (double)U);
    }

    /* One random subset (without replacement, sorted) serves both splits. */
    fr_rng rng;
    fr_rng_seed(&rng, seed + FR_EVAL_SEED_SALT);
    for (int i = 0; i < n; i++)
        order[i] = i;
    if (n > ev->n_sampled) {
        for (int i = 0; i < ev->n_sampled; i++) {
            int j = i + (int)fr_rng_below(&rng, (uint64_t)(n - i));
            int32_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        qsort(order, (size_t)ev->n_sampled, sizeof *order, fr_eval_cmp_i32);
    }
    if (ev->n_sampled > 0)
        memcpy(ev->sampled_pos, order, (size_t)ev->n_sampled * sizeof *order);

    st = fr_eval_sample_candidates(ev, FR_SPLIT_VALID, &rng, stamp, &stamp_next, err);
    if (st == FR_OK)
        st = fr_eval_sample_candidates(ev, FR_SPLIT_TEST, &rng, stamp, &stamp_next, err);

out:
    free(stamp);
    free(order);
    if (st != FR_OK)
        fr_eval_free(ev);
    return st;
}

void fr_eval_free(fr_evaluator *ev)
{
    if (!ev)
        return;
    for (int s = 0; s < 2; s++) {
        free(ev->inputs[s]);
        free(ev->targets[s]);
        free(ev->candidates[s]);
    }
    free(ev->sampled_pos);
    free(ev->neg_log2_pop);
    free(ev->popularity);
    memset(ev, 0, sizeof *ev);
}

/* One user's row of V float32 scores, overwritten in place: padding and seen items
 * drop to -inf (the target keeps its score so that a repeated item can be hit); the
 * rank counts the other items that score at least as high as the target (a tie
 * counts against the target: a model that gives many items one score, such as rows
 * that were never trained, must not rank its target first among them for free); top
 * receives the kt best rows, the lower row first on exact ties. */
static int32_t fr_eval_rank_row(float *s, int V, int32_t target, const int32_t *seen, long n_seen,
                                int32_t seen_extra, int kt, int32_t *top)
{
    float ts = s[target];
    s[0] = -INFINITY;
    for (long k = 0; k < n_seen; k++)
        s[seen[k]] = -INFINITY;
    if (seen_extra > 0)
        s[seen_extra] = -INFINITY;
    s[target] = ts;

    int32_t rank = 0;
    float best[FR_EVAL_TOP];
    int filled = 0;
    for (int j = 0; j < V; j++) {
        float v = s[j];
        rank += v > ts || (v == ts && j != target);
        /* Rows arrive in ascending order, so a later equal score never displaces one
         * already kept. */
        if (filled == kt && !(v > best[kt - 1]))
            continue;
        int p = filled < kt ? filled++ : kt - 1;
        while (p > 0 && v > best[p - 1]) {
            best[p] = best[p - 1];
            top[p] = top[p - 1];
            p--;
        }
        best[p] = v;
        top[p] = j;
    }
    return rank;
}

/* Full ranking of users [lo, hi) with one thread's score buffer. */
static void fr_eval_full_block(const fr_evaluator *ev, fr_split split, const float *item_vecs,
                               const float *user_vecs, int dim, int lo, int hi, int kt,
                               float *scores, int32_t *ranks, int32_t *tops)
{
    const fr_dataset *ds = ev->ds;
    int V = ds->num_items;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, hi - lo, V, dim, 1.0f,
                user_vecs + (size_t)lo * dim, dim, item_vecs, dim, 0.0f, scores, V);
    for (int i = lo; i < hi; i++) {
        int32_t u = ds->eval_users[i];
        const int32_t *seen = ds->train_items + ds->train_off[u];
        long n_seen = (long)(ds->train_off[u + 1] - ds->train_off[u]);
        int32_t extra = split == FR_SPLIT_TEST ? ds->valid[u] : 0;
        ranks[i] = fr_eval_rank_row(scores + (size_t)(i - lo) * V, V, ev->targets[split][i], seen,
                                    n_seen, extra, kt, tops + (size_t)i * kt);
    }
}

static fr_status fr_eval_check_finite(const float *v, size_t rows, int dim, const char *what,
                                      fr_err *err)
{
    for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < dim; c++)
            if (!isfinite(v[r * dim + c]))
                return fr_fail(err, FR_EINVAL, "eval: %s vector %zu has a non-finite value (%g)",
                               what, r, (double)v[r * dim + c]);
    return FR_OK;
}

fr_status fr_eval_score(const fr_evaluator *ev, fr_split split, const float *item_vecs,
                        const float *user_vecs, int dim, int threads, fr_metrics *out, fr_err *err)
{
    fr_status st = FR_OK;
    int32_t *ranks = NULL, *tops = NULL;
    float *scores = NULL;
    unsigned char *recommended = NULL;

    memset(out, 0, sizeof *out);
    if (!ev || !ev->ds)
        return fr_fail(err, FR_EINVAL, "eval: evaluator not initialised");
    if (split != FR_SPLIT_VALID && split != FR_SPLIT_TEST)
        return fr_fail(err, FR_EINVAL, "eval: unknown split %d", (int)split);
    if (dim < 1 || !item_vecs || !user_vecs)
        return fr_fail(err, FR_EINVAL, "eval: vectors missing or dimension %d < 1", dim);
    if (threads < 1)
        return fr_fail(err, FR_EINVAL, "eval: %d threads, must be at least 1", threads);
    if (ev->n_users < 1)
        return fr_fail(err, FR_ENODATA, "eval: no user has held-out items to evaluate");

    int V = ev->ds->num_items, n = ev->n_users;
    int kt = V < FR_EVAL_TOP ? V : FR_EVAL_TOP;
    out->sampled_users = ev->n_sampled;
    st = fr_eval_check_finite(item_vecs, (size_t)V, dim, "item", err);
    if (st == FR_OK)
        st = fr_eval_check_finite(user_vecs, (size_t)n, dim, "user", err);
    if (st != FR_OK)
        return st;

    /* The block shrinks for huge catalogues so one thread's scores stay bounded; it
     * depends on V only, so results do not depend on the thread count. */
    long block = FR_EVAL_BLOCK_FLOATS / V;
    block = block < 1 ? 1 : block > FR_EVAL_BLOCK ? FR_EVAL_BLOCK : block;
    int n_blocks = (int)((n + block - 1) / block);
    int nt = threads < n_blocks ? threads : n_blocks;
    ranks = malloc((size_t)n * sizeof *ranks);
    tops = malloc((size_t)n * kt * sizeof *tops);
    scores = malloc((size_t)nt * block * V * sizeof *scores);
    recommended = calloc((size_t)V, 1);
    if (!ranks || !tops || !scores || !recommended) {
        st = fr_fail(err, FR_ENOMEM, "eval: out of memory for %d users x %d items", n, V);
        goto out;
    }

    /* Sampled protocol: candidates fixed at init, target in column 0. */
    const int width = 1 + FR_EVAL_NEGATIVES;
    float *sscores =
        malloc((size_t)(ev->n_sampled > 0 ? ev->n_sampled : 1) * width * sizeof(float));
    if (!sscores) {
        st = fr_fail(err, FR_ENOMEM, "eval: out of memory for %d sampled users", ev->n_sampled);
        goto out;
    }
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
    for (int i = 0; i < ev->n_sampled; i++) {
        const float *q = user_vecs + (size_t)ev->sampled_pos[i] * dim;
        const int32_t *cand = ev->candidates[split] + (size_t)i * width;
        float *sc = sscores + (size_t)i * width;
        for (int c = 0; c < width; c++) {
            const float *h = item_vecs + (size_t)cand[c] * dim;
            float acc = 0.0f;
            for (int k = 0; k < dim; k++)
                acc += q[k] * h[k];
            sc[c] = acc;
        }
    }
    fr_eval_sampled_metrics(sscores, ev->n_sampled, width, &out->hr10, &out->ndcg10);
    free(sscores);

    /* Full ranking, one block of users per task; per-user results land in arrays and
     * are summed below in user order, so the totals do not depend on the scheduling. */
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
#endif
    for (int b = 0; b < n_blocks; b++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        int lo = (int)(b * block);
        int hi = lo + (int)block < n ? lo + (int)block : n;
        fr_eval_full_block(ev, split, item_vecs, user_vecs, dim, lo, hi, kt,
                           scores + (size_t)tid * block * V, ranks, tops);
    }

    int k10 = kt < 10 ? kt : 10;
    double rec10 = 0, rec50 = 0, nd10 = 0, nd50 = 0, mrr = 0, nov10 = 0, nov50 = 0;
    for (int i = 0; i < n; i++) {
        double r = ranks[i];
        double gain = 1.0 / log2(r + 2.0);
        mrr += 1.0 / (r + 1.0);
        if (r < 10) {
            rec10 += 1.0;
            nd10 += gain;
        }
        if (r < 50) {
            rec50 += 1.0;
            nd50 += gain;
        }
        /* Top lists come best first, so the top-10 is the head of the top-50. */
        double s = 0;
        for (int k = 0; k < kt; k++) {
            int32_t it = tops[(size_t)i * kt + k];
            s += ev->neg_log2_pop[it];
            recommended[it] |= (unsigned char)(k < k10 ? 3 : 2);
            if (k == k10 - 1)
                nov10 += s / k10;
        }
        nov50 += s / kt;
    }
    long covered10 = 0, covered50 = 0;
    for (int j = 1; j < V; j++) {
        covered10 += recommended[j] & 1;
        covered50 += (recommended[j] >> 1) & 1;
    }

    out->users = n;
    out->recall10 = rec10 / n;
    out->recall50 = rec50 / n;
    out->precision10 = rec10 / n / 10.0;
    out->precision50 = rec50 / n / 50.0;
    out->ndcg_full10 = nd10 / n;
    out->ndcg_full50 = nd50 / n;
    out->mrr = mrr / n;
    out->novelty10 = nov10 / n;
    out->novelty50 = nov50 / n;
    out->coverage10 = (double)covered10 / (V - 1);
    out->coverage50 = (double)covered50 / (V - 1);

out:
    free(ranks);
    free(tops);
    free(scores);
    free(recommended);
    return st;
}

/* A fixed hash of the row, so the tie-break is the same on every run and machine. */
static float fr_eval_tie_break(int32_t j)
{
    uint64_t z = (uint64_t)(uint32_t)j + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (float)((double)(z >> 40) * 0x1.0p-25); /* [0, 0.5) */
}

void fr_eval_popularity_vectors(const fr_evaluator *ev, float *item_vecs, float *user_vecs)
{
    int V = ev->ds->num_items;
    item_vecs[0] = 0.0f; /* padding: excluded from every ranking anyway */
    for (int j = 1; j < V; j++)
        item_vecs[j] = ev->popularity[j] + fr_eval_tie_break(j);
    for (int i = 0; i < ev->n_users; i++)
        user_vecs[i] = 1.0f;
}

void fr_eval_sampled_metrics(const float *scores, int n, int width, double *hr10, double *ndcg10)
{
    double hr = 0.0, ndcg = 0.0;
    for (int i = 0; i < n; i++) {
        const float *sc = scores + (size_t)i * width;
        int r = 0;
        for (int c = 1; c < width; c++)
            r += sc[c] >= sc[0]; /* ties count against the target, as in full ranking */
        if (r < 10) {
            hr += 1.0;
            ndcg += 1.0 / log2(r + 2.0);
        }
    }
    *hr10 = n > 0 ? hr / n : 0.0;
    *ndcg10 = n > 0 ? ndcg / n : 0.0;
}
