/* Model snapshots of the recall server and the slot that holds the current one (see
 * fr_serve_model.h). */
#include "recall/fr_serve_model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/fr_backend.h"
#include "nn/fr_modelfile.h"
#include "nn/fr_nn.h"

/* The federation version from the ".sig" beside path ("DIR/global.frm" -> "DIR/global.sig"),
 * when it is there and no newer than the model file. */
static long read_version(const char *path, const struct stat *model_st)
{
    char sig[4200];
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - path) : strlen(path);
    if (stem + 5 >= sizeof sig)
        return -1;
    memcpy(sig, path, stem);
    memcpy(sig + stem, ".sig", 5);
    struct stat st;
    if (stat(sig, &st) != 0)
        return -1;
    if (st.st_mtim.tv_sec > model_st->st_mtim.tv_sec ||
        (st.st_mtim.tv_sec == model_st->st_mtim.tv_sec &&
         st.st_mtim.tv_nsec > model_st->st_mtim.tv_nsec))
        return -1;
    FILE *f = fopen(sig, "r");
    long v = -1;
    if (!f)
        return -1;
    if (fscanf(f, "%ld", &v) != 1 || v < 0)
        v = -1;
    fclose(f);
    return v;
}

/* Whether the catalogue reclaimed row r of m for a new item (a reuse record names it). */
static int reclaimed_row(const fr_model *m, int r)
{
    for (int i = 0; i < m->n_reused; i++)
        if (m->item_reused[i].row == r)
            return 1;
    return 0;
}

static fr_status same_catalogue(fr_serve_model *sm, const fr_dataset *ds, const char *path,
                                fr_err *err)
{
    const fr_model *m = &sm->model;
    char num[24];
    /* rows are never renumbered (docs/catalogue.md): a model of a newer catalogue
     * version holds the served rows first, then the items added since, which the model
     * channel recalls from their content and ID rows */
    if (ds->num_items > m->cfg.num_items)
        return fr_fail(err, FR_EINVAL, "%s: the model has %d items, the served data %d", path,
                       m->cfg.num_items - 1, ds->num_items - 1);
    for (int r = 1; r < ds->num_items; r++) {
        const char *key = m->item_keys ? m->item_keys[r] : num;
        if (!m->item_keys)
            snprintf(num, sizeof num, "%lld", (long long)m->item_ids[r]);
        if (strcmp(key, ds->item_keys[r]) == 0)
            continue;
        if (!reclaimed_row(m, r))
            return fr_fail(err, FR_EINVAL,
                           "%s: row %d is item '%.60s' in the model, '%.60s' in the served data",
                           path, r, key, ds->item_keys[r]);
        if (!sm->reclaimed && !(sm->reclaimed = calloc((size_t)m->cfg.num_items, 1)))
            return fr_fail(err, FR_ENOMEM, "%s: out of memory", path);
        sm->reclaimed[r] = 1;
    }
    return FR_OK;
}

static const char *added_key(const fr_serve_model *m, int32_t row, char *buf, size_t cap)
{
    if (m->model.item_keys)
        return m->model.item_keys[row];
    snprintf(buf, cap, "%lld", (long long)m->model.item_ids[row]);
    return buf;
}

static long added_home(const fr_serve_model *m, const char *key)
{
    return (long)(fr_fnv1a32(key, strlen(key)) & (uint32_t)(m->added_slots - 1));
}

/* The id table of the rows past the served data's first_added. */
static fr_status index_added(fr_serve_model *m, int32_t first_added, fr_err *err)
{
    char num[24];
    int V = m->model.cfg.num_items;
    m->first_added = first_added;
    if (first_added >= V)
        return FR_OK;
    m->added_slots = 16;
    while (m->added_slots < 2L * (V - first_added))
        m->added_slots *= 2;
    if (!(m->added_slot = calloc((size_t)m->added_slots, sizeof *m->added_slot)))
        return fr_fail(err, FR_ENOMEM, "out of memory for an index of %d added items",
                       V - first_added);
    for (int32_t r = first_added; r < V; r++) {
        long i = added_home(m, added_key(m, r, num, sizeof num));
        while (m->added_slot[i])
            i = (i + 1) & (m->added_slots - 1);
        m->added_slot[i] = r;
    }
    return FR_OK;
}

int32_t fr_serve_model_find_added(const fr_serve_model *m, const char *key)
{
    char num[24];
    if (!m || !m->added_slot)
        return 0;
    for (long i = added_home(m, key); m->added_slot[i]; i = (i + 1) & (m->added_slots - 1))
        if (strcmp(added_key(m, m->added_slot[i], num, sizeof num), key) == 0)
            return m->added_slot[i];
    return 0;
}

static void snapshot_free(fr_serve_model *m)
{
    if (m->giv)
        m->model.be->free(m->giv);
    free(m->item_vecs);
    free(m->retired);
    free(m->reclaimed);
    free(m->added_slot);
    fr_topk_packed_free(&m->packed);
    fr_ivf_free(&m->ivf);
    fr_topk_q8_free(&m->q8);
    fr_model_free(&m->model);
    free(m);
}

fr_status fr_serve_model_load(fr_serve_model **out, const char *path, const fr_dataset *ds,
                              int seq_len, long generation, const fr_ivf_config *ivf, int q8,
                              fr_err *err)
{
    fr_status st;
    fr_nn net = {0};
    fr_serve_model *m = calloc(1, sizeof *m);
    *out = NULL;
    if (!m)
        return fr_fail(err, FR_ENOMEM, "out of memory for a model snapshot");
    /* stat first: a file replaced while it is read is seen as changed again later */
    if (stat(path, &m->file) != 0) {
        st = fr_fail(err, FR_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    if ((st = fr_modelfile_load(&m->model, fr_backend_cpu(), path, err)) != FR_OK)
        goto out;
    if ((st = same_catalogue(m, ds, path, err)) != FR_OK ||
        (st = index_added(m, ds->num_items, err)) != FR_OK)
        goto out;
    int V = m->model.cfg.num_items, d = m->model.cfg.dim;
    /* a reclaimed row of the data is left out of recall like a retired one */
    for (int r = 1; r < V; r++)
        m->n_retired += fr_model_retired(&m->model, r) || (m->reclaimed && m->reclaimed[r]);
    if (m->n_retired && !(m->retired = malloc((size_t)m->n_retired * sizeof *m->retired))) {
        st = fr_fail(err, FR_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    for (int r = 1, j = 0; r < V && m->n_retired; r++)
        if (fr_model_retired(&m->model, r) || (m->reclaimed && m->reclaimed[r]))
            m->retired[j++] = r;
    if (!(m->item_vecs = malloc((size_t)V * d * sizeof *m->item_vecs))) {
        st = fr_fail(err, FR_ENOMEM, "%s: cannot allocate %d item vectors", path, V);
        goto out;
    }
    /* the batch of `recall`, so that the item vectors are computed in the same chunks */
    if ((st = fr_nn_init(&net, &m->model, 256, seq_len, 1, err)) != FR_OK ||
        (st = fr_nn_item_vectors(&net, m->item_vecs, err)) != FR_OK ||
        (st = fr_nn_item_inputs(&net, m->item_vecs, &m->giv, err)) != FR_OK ||
        (st = fr_topk_pack(&m->packed, m->item_vecs, V, d, err)) != FR_OK)
        goto out;
    if (q8) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if ((st = fr_topk_q8_build(&m->q8, m->item_vecs, V, d, err)) != FR_OK)
            goto out;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        m->have_q8 = 1;
        m->q8_build_s = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    }
    if (ivf) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if ((st = fr_ivf_build(&m->ivf, m->item_vecs, V, d, ivf, err)) != FR_OK)
            goto out;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        m->have_ivf = 1;
        m->ivf_build_s = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    }
    m->refs = 1;
    m->generation = generation;
    m->seq_len = seq_len;
    m->version = read_version(path, &m->file);
    *out = m;
    m = NULL;
out:
    fr_nn_free(&net);
    if (m)
        snapshot_free(m);
    return st;
}

const char *fr_serve_model_item_key(const fr_serve_model *m, const fr_dataset *ds, int32_t row,
                                    char *buf, size_t cap)
{
    if (row < ds->num_items)
        return fr_dataset_item_key(ds, row);
    return added_key(m, row, buf, cap);
}

void fr_serve_model_ref(fr_serve_model *m)
{
    __atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
}

void fr_serve_model_unref(fr_serve_model *m)
{
    if (m && __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0)
        snapshot_free(m);
}

void fr_serve_slot_init(fr_serve_slot *s)
{
    pthread_mutex_init(&s->mu, NULL);
    s->cur = NULL;
}

void fr_serve_slot_free(fr_serve_slot *s)
{
    fr_serve_model_unref(s->cur);
    s->cur = NULL;
    pthread_mutex_destroy(&s->mu);
}

fr_serve_model *fr_serve_slot_get(fr_serve_slot *s)
{
    pthread_mutex_lock(&s->mu);
    fr_serve_model *m = s->cur;
    if (m)
        fr_serve_model_ref(m);
    pthread_mutex_unlock(&s->mu);
    return m;
}

void fr_serve_slot_set(fr_serve_slot *s, fr_serve_model *m)
{
    pthread_mutex_lock(&s->mu);
    fr_serve_model *old = s->cur;
    s->cur = m;
    pthread_mutex_unlock(&s->mu);
    /* outside the lock: the last reference frees hundreds of megabytes */
    fr_serve_model_unref(old);
}

int fr_serve_model_changed(const char *path, const struct stat *st, int *err_no)
{
    struct stat now;
    *err_no = 0;
    if (stat(path, &now) != 0) {
        *err_no = errno;
        return 0;
    }
    return now.st_ino != st->st_ino || now.st_dev != st->st_dev || now.st_size != st->st_size ||
           now.st_mtim.tv_sec != st->st_mtim.tv_sec || now.st_mtim.tv_nsec != st->st_mtim.tv_nsec;
}
