/* Batch scoring of the recall server (see fr_serve_score.h). The channel code is
 * fr_recall's, called per query with the query's own history. */
#include "recall/fr_serve_score.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "recall/fr_topk.h"
#include "recall/fr_topk_packed.h"
#include "recall/fr_topk_q8.h"

fr_status fr_serve_worker_init(fr_serve_worker *w, const fr_recall *base, int threads, fr_err *err)
{
    fr_status st;
    memset(w, 0, sizeof *w);
    w->threads = threads < 1 ? 1 : threads;
    if ((st = fr_itemcf_scratch_init(&w->cf, base->num_items, err)) != FR_OK)
        return st;
    if (!(w->mark = calloc((size_t)base->num_items, 1))) {
        fr_itemcf_scratch_free(&w->cf);
        return fr_fail(err, FR_ENOMEM, "out of memory for a scoring thread");
    }
    w->mark_n = base->num_items;
    return FR_OK;
}

void fr_serve_worker_free(fr_serve_worker *w)
{
    if (w->bound) {
        fr_nn_free(&w->net);
        fr_serve_model_unref(w->bound);
    }
    fr_itemcf_scratch_free(&w->cf);
    free(w->mark);
    memset(w, 0, sizeof *w);
}

static fr_status bind(fr_serve_worker *w, fr_serve_model *m, fr_err *err)
{
    if (w->bound == m)
        return FR_OK;
    if (w->bound) {
        fr_nn_free(&w->net);
        fr_serve_model_unref(w->bound);
        w->bound = NULL;
    }
    /* a model of a newer catalogue has rows past the served data's: a mix marks them */
    int V = m->model.cfg.num_items;
    if (V > w->mark_n) {
        uint8_t *mk = calloc((size_t)V, 1);
        if (!mk)
            return fr_fail(err, FR_ENOMEM, "out of memory for a scoring thread");
        free(w->mark);
        w->mark = mk;
        w->mark_n = V;
    }
    fr_status st = fr_nn_init(&w->net, &m->model, 256, m->seq_len, 1, err);
    if (st != FR_OK)
        return st;
    fr_serve_model_ref(m);
    w->bound = m;
    return FR_OK;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static void to_hits(fr_topk *h, int source, fr_recall_hit *out, int *count)
{
    fr_topk_sort(h);
    for (int j = 0; j < h->n; j++)
        out[j] = (fr_recall_hit){h->row[j], h->score[j], source};
    *count = h->n;
}

/* The per-query state of a batch. */
typedef struct qstate {
    int32_t *hist; /* history, oldest first */
    long n;
    fr_topk_excl seen;
    fr_recall_hit *ch[3]; /* channel lists, k each */
    int cnt[3];
} qstate;

static int uses(fr_recall_strategy s, int ch)
{
    return s == FR_RECALL_MIX || (int)s == ch;
}

/* How query i's model channel searches: the snapshot's index (0), the 8-bit scan of
 * every item (1), or the float scan of every item (2). */
static int search_kind(const fr_serve_model *m, const fr_serve_query *q)
{
    return q->exact ? 2 : m->have_ivf ? 0 : m->have_q8 ? 1 : 2;
}

/* The model channel for every query that needs it: one forward pass, then one search
 * of each kind for the queries of that kind. */
static fr_status run_model(fr_serve_model *m, fr_serve_worker *w, const fr_serve_query *q, int n,
                           qstate *qs, fr_err *err)
{
    fr_status st = FR_OK;
    int nm = 0, nk[3] = {0, 0, 0};
    for (int i = 0; i < n; i++)
        nm += uses(q[i].strategy, 0) && qs[i].n > 0;
    if (nm == 0)
        return FR_OK;
    int L = m->seq_len, d = m->model.cfg.dim;
    int *who = malloc((size_t)nm * sizeof *who);
    int *nprobe = malloc((size_t)nm * sizeof *nprobe);
    int32_t *seqs = malloc((size_t)nm * L * sizeof *seqs);
    float *vecs = malloc((size_t)nm * d * sizeof *vecs);
    fr_topk_excl *excl = malloc((size_t)nm * sizeof *excl);
    fr_topk *heaps = calloc((size_t)nm, sizeof *heaps);
    if (!who || !nprobe || !seqs || !vecs || !excl || !heaps) {
        st = fr_fail(err, FR_ENOMEM, "out of memory for the model channel of %d users", nm);
        goto out;
    }
    /* the queries grouped by search kind: the index's, the 8-bit scan's, the float one's */
    for (int pass = 0, j = 0; pass < 3; pass++)
        for (int i = 0; i < n; i++) {
            if (!uses(q[i].strategy, 0) || qs[i].n == 0 || search_kind(m, &q[i]) != pass)
                continue;
            fr_left_pad(qs[i].hist, qs[i].n, L, seqs + (size_t)j * L);
            excl[j] = qs[i].seen;
            who[j] = i;
            nprobe[j] = q[i].nprobe;
            if ((st = fr_topk_init(&heaps[j], q[i].k, err)) != FR_OK)
                goto out;
            int thr = q[i].strategy != FR_RECALL_MIX && q[i].use_threshold;
            fr_topk_reset(&heaps[j], thr ? q[i].threshold : -INFINITY);
            nk[pass]++;
            j++;
        }
    if ((st = bind(w, m, err)) != FR_OK ||
        (st = fr_nn_user_vectors_from(&w->net, m->giv, seqs, nm, vecs, err)) != FR_OK)
        goto out;
    int a = nk[0], b = nk[0] + nk[1]; /* where the 8-bit and the float groups start */
    if (nk[0] > 0 && (st = fr_ivf_search(&m->ivf, vecs, nk[0], nprobe, excl, heaps, err)) != FR_OK)
        goto out;
    if (nk[1] > 0 && (st = fr_topk_q8_search(&m->q8, m->item_vecs, vecs + (size_t)a * d, nk[1],
                                             excl + a, w->rerank, heaps + a, err)) != FR_OK)
        goto out;
    if (nk[2] > 0 && (st = fr_topk_search_packed(&m->packed, vecs + (size_t)b * d, nk[2], excl + b,
                                                 w->threads, heaps + b, err)) != FR_OK)
        goto out;
    for (int j = 0; j < nm; j++)
        to_hits(&heaps[j], FR_SRC_MODEL, qs[who[j]].ch[0], &qs[who[j]].cnt[0]);
out:
    for (int j = 0; heaps && j < nm; j++)
        fr_topk_free(&heaps[j]);
    free(heaps);
    free(excl);
    free(vecs);
    free(seqs);
    free(nprobe);
    free(who);
    return st;
}

/* History of query i: the data's, then the newer events. */
static long history_len(const fr_recall *base, const fr_serve_query *q)
{
    long n = q->n_recent;
    if (q->user >= 0)
        n += (long)(base->hist_off[q->user + 1] - base->hist_off[q->user]);
    return n;
}

fr_status fr_serve_score(const fr_recall *base, fr_serve_model *m, fr_serve_worker *w,
                         const fr_serve_query *q, int n, fr_recall_hit *out, int *count,
                         fr_err *err)
{
    fr_status st = FR_OK;
    long total_hist = 0, total_k = 0;
    int max_k = 1;
    qstate *qs = calloc((size_t)(n > 0 ? n : 1), sizeof *qs);
    int32_t *pool = NULL, *rows = NULL;
    float *scores = NULL;
    fr_recall_hit *chans = NULL;
    if (!qs)
        return fr_fail(err, FR_ENOMEM, "out of memory for %d queries", n);
    for (int i = 0; i < n; i++) {
        if (q[i].k < 1 || q[i].nprobe < 0 || (q[i].user >= base->ds->num_users) ||
            (q[i].strategy == FR_RECALL_MIX && q[i].use_threshold)) {
            st = fr_fail(err, FR_EINVAL, "query %d: bad user row, k, nprobe or threshold", i);
            goto out;
        }
        if (uses(q[i].strategy, 0) && !m) {
            st = fr_fail(err, FR_EINVAL, "no model to score with");
            goto out;
        }
        total_hist += history_len(base, &q[i]);
        total_k += q[i].k;
        max_k = q[i].k > max_k ? q[i].k : max_k;
    }
    /* each query's history, then its exclusions: the history's rows and the retired ones */
    long nr = m ? m->n_retired : 0;
    pool = malloc((size_t)(2 * total_hist + (long)n * nr + 1) * sizeof *pool);
    chans = malloc((size_t)(3 * total_k + 1) * sizeof *chans);
    rows = malloc((size_t)max_k * sizeof *rows);
    scores = malloc((size_t)max_k * sizeof *scores);
    if (!pool || !chans || !rows || !scores) {
        st = fr_fail(err, FR_ENOMEM, "out of memory for %d queries", n);
        goto out;
    }
    /* histories and their sorted distinct rows (the items not to return) */
    int32_t *p = pool;
    fr_recall_hit *c = chans;
    for (int i = 0; i < n; i++) {
        long nb = 0;
        if (q[i].user >= 0) {
            nb = (long)(base->hist_off[q[i].user + 1] - base->hist_off[q[i].user]);
            memcpy(p, base->hist + base->hist_off[q[i].user], (size_t)nb * sizeof *p);
        }
        if (q[i].n_recent > 0)
            memcpy(p + nb, q[i].recent, (size_t)q[i].n_recent * sizeof *p);
        qs[i].hist = p;
        qs[i].n = nb + q[i].n_recent;
        int32_t *s = p + qs[i].n;
        memcpy(s, p, (size_t)qs[i].n * sizeof *s);
        if (nr)
            memcpy(s + qs[i].n, m->retired, (size_t)nr * sizeof *s);
        qsort(s, (size_t)(qs[i].n + nr), sizeof *s, cmp_i32);
        long u = 0;
        for (long j = 0; j < qs[i].n + nr; j++)
            if (u == 0 || s[j] != s[u - 1])
                s[u++] = s[j];
        qs[i].seen = (fr_topk_excl){s, u};
        p += 2 * qs[i].n + nr;
        for (int ch = 0; ch < 3; ch++, c += q[i].k)
            qs[i].ch[ch] = c;
    }
    if ((st = run_model(m, w, q, n, qs, err)) != FR_OK)
        goto out;
    fr_recall_hit *o = out;
    for (int i = 0; i < n; o += q[i].k, i++) {
        int K = q[i].k, mix = q[i].strategy == FR_RECALL_MIX;
        float floor = !mix && q[i].use_threshold ? q[i].threshold : -INFINITY;
        if (qs[i].n == 0) {
            /* no history: the popular ranking, without the threshold (another scale) */
            int got = fr_popular_top(&base->pop, &qs[i].seen, -INFINITY, K, rows, scores);
            for (int j = 0; j < got; j++)
                o[j] = (fr_recall_hit){rows[j], scores[j], FR_SRC_POPULAR_FALLBACK};
            count[i] = got;
            continue;
        }
        if (uses(q[i].strategy, 1)) {
            fr_topk heap;
            if ((st = fr_topk_init(&heap, K, err)) != FR_OK)
                goto out;
            fr_topk_reset(&heap, floor);
            fr_itemcf_query(&base->cf, qs[i].hist, qs[i].n, base->cfg.cf_recent, &qs[i].seen,
                            &w->cf, &heap);
            to_hits(&heap, FR_SRC_ITEMCF, qs[i].ch[1], &qs[i].cnt[1]);
            fr_topk_free(&heap);
        }
        if (uses(q[i].strategy, 2)) {
            int got = fr_popular_top(&base->pop, &qs[i].seen, floor, K, rows, scores);
            for (int j = 0; j < got; j++)
                qs[i].ch[2][j] = (fr_recall_hit){rows[j], scores[j], FR_SRC_POPULAR};
            qs[i].cnt[2] = got;
        }
        if (mix) {
            int quota[3];
            fr_recall_mix_quotas(K, base->cfg.mix_model_pct, base->cfg.mix_itemcf_pct, quota);
            const fr_recall_hit *lists[3] = {qs[i].ch[0], qs[i].ch[1], qs[i].ch[2]};
            count[i] = fr_recall_mix(lists, qs[i].cnt, quota, K, w->mark, o);
            continue;
        }
        int ch = (int)q[i].strategy;
        count[i] = qs[i].cnt[ch];
        memcpy(o, qs[i].ch[ch], (size_t)count[i] * sizeof *o);
    }
out:
    free(qs);
    free(pool);
    free(chans);
    free(rows);
    free(scores);
    return st;
}
