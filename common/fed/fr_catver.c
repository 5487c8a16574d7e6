/* Catalogue versions (fr_catver.h): building one from a model, adding (into
 * reclaimed rows or new ones) and retiring items, the rules for one version following
 * another, and growing a model onto a new version. The file's encoding is in
 * fr_catver_file.c, the reclaiming rule in fr_catver_reuse.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fed/fr_catver.h"

void fr_catver_free(fr_catver *cv)
{
    for (int r = 0; cv->keys && r < cv->num_items; r++)
        free(cv->keys[r]);
    free(cv->keys);
    free(cv->tokens);
    free(cv->retired);
    free(cv->retired_in);
    for (int i = 0; i < cv->n_reused; i++)
        free(cv->reused[i].old_key);
    free(cv->reused);
    memset(cv, 0, sizeof *cv);
}

/* Room for want rows, the new ones zeroed. */
static fr_status reserve(fr_catver *cv, int want, fr_err *err)
{
    if (want <= cv->cap)
        return FR_OK;
    size_t t = (size_t)cv->num_tokens;
    char **k = realloc(cv->keys, (size_t)want * sizeof *k);
    if (k)
        cv->keys = k;
    int32_t *tok = realloc(cv->tokens, (size_t)want * t * sizeof *tok);
    if (tok)
        cv->tokens = tok;
    uint8_t *ret = realloc(cv->retired, (size_t)want);
    if (ret)
        cv->retired = ret;
    long *rin = realloc(cv->retired_in, (size_t)want * sizeof *rin);
    if (rin)
        cv->retired_in = rin;
    if (!k || !tok || !ret || !rin)
        return fr_fail(err, FR_ENOMEM, "catalogue: out of memory for %d items", want);
    memset(cv->keys + cv->cap, 0, (size_t)(want - cv->cap) * sizeof *k);
    memset(cv->tokens + (size_t)cv->cap * t, 0, (size_t)(want - cv->cap) * t * sizeof *tok);
    memset(cv->retired + cv->cap, 0, (size_t)(want - cv->cap));
    memset(cv->retired_in + cv->cap, 0, (size_t)(want - cv->cap) * sizeof *rin);
    cv->cap = want;
    return FR_OK;
}

fr_status fr_catver_from_model(fr_catver *cv, const fr_model *m, fr_err *err)
{
    memset(cv, 0, sizeof *cv);
    int V = m->cfg.num_items;
    cv->num_tokens = m->cfg.num_tokens;
    cv->token_vocab = m->cfg.token_vocab;
    cv->version = m->catalogue_version;
    cv->numeric = m->item_keys == NULL;
    fr_status st = reserve(cv, V, err);
    cv->num_items = V;
    for (int r = 0; st == FR_OK && r < V; r++) {
        char num[24];
        if (cv->numeric)
            snprintf(num, sizeof num, "%" PRId64, r ? m->item_ids[r] : (int64_t)0);
        cv->keys[r] = strdup(r == 0 ? "" : cv->numeric ? num : m->item_keys[r]);
        if (!cv->keys[r])
            st = fr_fail(err, FR_ENOMEM, "catalogue: out of memory for %d items", V);
        cv->retired[r] = (uint8_t)fr_model_retired(m, r);
        /* a model does not say when an item was retired: its version is no earlier */
        cv->retired_in[r] = cv->retired[r] ? cv->version : 0;
    }
    if (st == FR_OK)
        memcpy(cv->tokens, m->item_tokens, (size_t)V * (size_t)cv->num_tokens * sizeof(int32_t));
    if (st == FR_OK && m->n_reused > 0 &&
        !(cv->reused = calloc((size_t)m->n_reused, sizeof *cv->reused)))
        st = fr_fail(err, FR_ENOMEM, "catalogue: out of memory for the reuse records");
    for (int i = 0; st == FR_OK && i < m->n_reused; i++) {
        cv->reused[i] = m->item_reused[i];
        if (!(cv->reused[i].old_key = strdup(m->item_reused[i].old_key)))
            st = fr_fail(err, FR_ENOMEM, "catalogue: out of memory for the reuse records");
        else
            cv->n_reused++;
    }
    if (st != FR_OK)
        fr_catver_free(cv);
    return st;
}

/* Row of key in cv, or -1: a linear scan, since the operator's commands run once and
 * a node checks a catalogue only when its version changes. */
static int find(const fr_catver *cv, const char *key)
{
    for (int r = 1; r < cv->num_items; r++)
        if (!strcmp(cv->keys[r], key))
            return r;
    return -1;
}

int fr_catver_find(const fr_catver *cv, const char *key)
{
    return find(cv, key);
}

int fr_catver_live(const fr_catver *cv)
{
    int n = 0;
    for (int r = 1; r < cv->num_items; r++)
        n += !cv->retired[r];
    return n;
}

/* The reuse record that names key, or -1. */
static int reused_key(const fr_catver *cv, const char *key)
{
    for (int i = 0; i < cv->n_reused; i++)
        if (!strcmp(cv->reused[i].old_key, key))
            return i;
    return -1;
}

fr_status fr_catver_add(fr_catver *cv, const fr_items *it, const char *file, fr_err *err)
{
    int reused = 0;
    return fr_catver_add_reclaiming(cv, it, file, 0, &reused, err);
}

/* Reuse records for the first n items of it, into the reclaimable rows rows[0..n):
 * all made or none. */
static fr_status reuse_rows(fr_catver *cv, const fr_items *it, const int *rows, int n, fr_err *err)
{
    fr_item_reuse *g = realloc(cv->reused, (size_t)(cv->n_reused + n) * sizeof *g);
    if (!g)
        return fr_fail(err, FR_ENOMEM, "catalogue: out of memory");
    cv->reused = g;
    char **keys = calloc((size_t)(n > 0 ? n : 1), sizeof *keys);
    int ok = keys != NULL;
    for (int i = 0; ok && i < n; i++)
        ok = (keys[i] = strdup(it->item_keys[i + 1])) != NULL;
    if (!ok) {
        for (int i = 0; keys && i < n; i++)
            free(keys[i]);
        free(keys);
        return fr_fail(err, FR_ENOMEM, "catalogue: out of memory");
    }
    size_t t = (size_t)cv->num_tokens;
    for (int i = 0; i < n; i++) {
        int r = rows[i];
        /* the retired item's key moves into the record; the row takes the new item */
        cv->reused[cv->n_reused++] =
            (fr_item_reuse){.row = r, .version = cv->version + 1, .old_key = cv->keys[r]};
        cv->keys[r] = keys[i];
        memcpy(cv->tokens + (size_t)r * t, it->tokens + (size_t)(i + 1) * t, t * sizeof(int32_t));
        cv->retired[r] = 0;
        cv->retired_in[r] = 0;
    }
    free(keys);
    return FR_OK;
}

fr_status fr_catver_add_reclaiming(fr_catver *cv, const fr_items *it, const char *file, long floor,
                                   int *reused, fr_err *err)
{
    int add = it->num_items - 1;
    *reused = 0;
    if (it->num_tokens != cv->num_tokens || it->token_vocab != cv->token_vocab)
        return fr_fail(err, FR_EINVAL,
                       "%s: read with T = %d, Vt = %d; the catalogue has T = %d, Vt = %d", file,
                       it->num_tokens, it->token_vocab, cv->num_tokens, cv->token_vocab);
    /* fr_items_load keeps an item's last row: more rows used than items means an id
     * came twice, which the operator should resolve rather than have one row win */
    if (it->rows_read - it->rows_skipped > add)
        return fr_fail(err, FR_EINVAL, "%s: duplicate ids: %ld rows name %d distinct items", file,
                       it->rows_read - it->rows_skipped, add);
    for (int i = 1; i <= add; i++) {
        int r = find(cv, it->item_keys[i]);
        if (r > 0)
            return fr_fail(err, FR_EINVAL,
                           "%s: duplicate id: item '%.200s' is already row %d of catalogue "
                           "version %ld%s",
                           file, it->item_keys[i], r, cv->version,
                           cv->retired[r] ? " (retired: it does not come back)" : "");
        int u = reused_key(cv, it->item_keys[i]);
        if (u >= 0)
            return fr_fail(err, FR_EINVAL,
                           "%s: item '%.200s' was retired and its row %d reclaimed in catalogue "
                           "version %ld: it does not come back",
                           file, it->item_keys[i], cv->reused[u].row, cv->reused[u].version);
    }
    /* the reclaimable rows, lowest first, for the file's first items */
    int *rows = malloc((size_t)(add > 0 ? add : 1) * sizeof *rows), n = 0;
    if (!rows)
        return fr_fail(err, FR_ENOMEM, "catalogue: out of memory");
    for (int r = 1; r < cv->num_items && n < add; r++)
        if (fr_catver_reclaimable(cv, r, floor))
            rows[n++] = r;
    int V = cv->num_items;
    fr_status st = reserve(cv, V + add - n, err);
    if (st == FR_OK)
        st = reuse_rows(cv, it, rows, n, err);
    free(rows);
    if (st != FR_OK)
        return st;
    *reused = n;
    size_t t = (size_t)cv->num_tokens;
    for (int i = n + 1; i <= add; i++) {
        int r = V + i - n - 1;
        if (!(cv->keys[r] = strdup(it->item_keys[i]))) {
            /* the rows reclaimed above stay reclaimed: the caller drops cv on failure */
            for (int k = V; k < r; k++) {
                free(cv->keys[k]);
                cv->keys[k] = NULL;
            }
            return fr_fail(err, FR_ENOMEM, "catalogue: out of memory");
        }
        memcpy(cv->tokens + (size_t)r * t, it->tokens + (size_t)i * t, t * sizeof(int32_t));
        cv->retired[r] = 0;
        cv->retired_in[r] = 0;
    }
    cv->num_items = V + add - n;
    cv->numeric = cv->numeric && it->numeric;
    return FR_OK;
}

fr_status fr_catver_update(fr_catver *cv, const fr_items *it, const char *file, fr_err *err)
{
    int n = it->num_items - 1;
    if (it->num_tokens != cv->num_tokens || it->token_vocab != cv->token_vocab)
        return fr_fail(err, FR_EINVAL,
                       "%s: read with T = %d, Vt = %d; the catalogue has T = %d, Vt = %d", file,
                       it->num_tokens, it->token_vocab, cv->num_tokens, cv->token_vocab);
    if (it->rows_read - it->rows_skipped > n)
        return fr_fail(err, FR_EINVAL, "%s: duplicate ids: %ld rows name %d distinct items", file,
                       it->rows_read - it->rows_skipped, n);
    int *rows = malloc((size_t)(n > 0 ? n : 1) * sizeof *rows);
    if (!rows)
        return fr_fail(err, FR_ENOMEM, "catalogue: out of memory");
    fr_status st = FR_OK;
    for (int i = 1; st == FR_OK && i <= n; i++) {
        rows[i - 1] = find(cv, it->item_keys[i]);
        if (rows[i - 1] < 0)
            st = fr_fail(err, FR_EINVAL,
                         "%s: cannot update item '%.200s': it is not in catalogue version %ld "
                         "(add it)",
                         file, it->item_keys[i], cv->version);
        else if (cv->retired[rows[i - 1]])
            st = fr_fail(err, FR_EINVAL, "%s: cannot update item '%.200s': it is retired", file,
                         it->item_keys[i]);
    }
    size_t t = (size_t)cv->num_tokens;
    for (int i = 1; st == FR_OK && i <= n; i++)
        memcpy(cv->tokens + (size_t)rows[i - 1] * t, it->tokens + (size_t)i * t,
               t * sizeof(int32_t));
    free(rows);
    return st;
}

fr_status fr_catver_retire(fr_catver *cv, const char *const *keys, int n, fr_err *err)
{
    int *rows = malloc((size_t)(n > 0 ? n : 1) * sizeof *rows);
    fr_status st = rows ? FR_OK : fr_fail(err, FR_ENOMEM, "catalogue: out of memory");
    for (int i = 0; st == FR_OK && i < n; i++) {
        rows[i] = find(cv, keys[i]);
        if (rows[i] < 0)
            st = fr_fail(err, FR_EINVAL,
                         "cannot retire item '%.200s': it is not in catalogue version %ld", keys[i],
                         cv->version);
        else if (cv->retired[rows[i]])
            st = fr_fail(err, FR_EINVAL, "cannot retire item '%.200s': it is already retired",
                         keys[i]);
        for (int k = 0; st == FR_OK && k < i; k++)
            if (rows[k] == rows[i])
                st = fr_fail(err, FR_EINVAL, "cannot retire item '%.200s': it is named twice",
                             keys[i]);
    }
    for (int i = 0; st == FR_OK && i < n; i++) {
        cv->retired[rows[i]] = 1;
        cv->retired_in[rows[i]] = cv->version + 1;
    }
    free(rows);
    return st;
}

fr_status fr_catver_check_next(const fr_catver *cur, const fr_catver *next, const char *what,
                               fr_err *err)
{
    if (next->version < cur->version)
        return fr_fail(err, FR_EINVAL,
                       "%s: catalogue version %ld is older than the version %ld held (rolled "
                       "back)",
                       what, next->version, cur->version);
    if (next->version == cur->version && next->num_items != cur->num_items)
        return fr_fail(err, FR_EINVAL,
                       "%s: catalogue version %ld has %d rows, the version %ld held has %d", what,
                       next->version, next->num_items - 1, cur->version, cur->num_items - 1);
    if (next->num_tokens != cur->num_tokens || next->token_vocab != cur->token_vocab)
        return fr_fail(err, FR_EINVAL, "%s: catalogue version %ld changes T or Vt", what,
                       next->version);
    if (next->num_items < cur->num_items)
        return fr_fail(err, FR_EINVAL,
                       "%s: catalogue version %ld has %d rows, fewer than the %d of version %ld "
                       "(rows are retired, never dropped)",
                       what, next->version, next->num_items - 1, cur->num_items - 1, cur->version);
    /* the records cur holds stay as they are: a node checks a reuse against them */
    if (next->n_reused < cur->n_reused)
        return fr_fail(err, FR_EINVAL, "%s: catalogue version %ld drops reuse records", what,
                       next->version);
    for (int i = 0; i < cur->n_reused; i++)
        if (cur->reused[i].row != next->reused[i].row ||
            cur->reused[i].version != next->reused[i].version ||
            strcmp(cur->reused[i].old_key, next->reused[i].old_key))
            return fr_fail(err, FR_EINVAL, "%s: catalogue version %ld rewrites reuse record %d",
                           what, next->version, i);
    for (int i = cur->n_reused; i < next->n_reused; i++)
        if (next->reused[i].version <= cur->version)
            return fr_fail(err, FR_EINVAL,
                           "%s: catalogue version %ld records a reuse of row %d in version %ld, "
                           "which the version %ld held lacks",
                           what, next->version, next->reused[i].row, next->reused[i].version,
                           cur->version);
    for (int r = 1; r < cur->num_items; r++) {
        /* the first reuse of row r since cur, if any */
        int u = -1;
        for (int i = cur->n_reused; u < 0 && i < next->n_reused; i++)
            if (next->reused[i].row == r)
                u = i;
        if (strcmp(cur->keys[r], next->keys[r]) && (u < 0 || !cur->retired[r]))
            return fr_fail(err, FR_EINVAL,
                           "%s: catalogue version %ld renumbers row %d (item '%.100s', was "
                           "'%.100s')%s",
                           what, next->version, r, next->keys[r], cur->keys[r],
                           u < 0 ? " without a reuse record"
                                 : ": a reuse record, but the item was not retired");
        if (u >= 0 && (!cur->retired[r] || strcmp(next->reused[u].old_key, cur->keys[r])))
            return fr_fail(err, FR_EINVAL,
                           "%s: catalogue version %ld reuses row %d of item '%.100s', which "
                           "%s",
                           what, next->version, r, next->reused[u].old_key,
                           strcmp(next->reused[u].old_key, cur->keys[r]) ? "is not that row's item"
                                                                         : "was not retired");
        if (u < 0 && cur->retired[r] && !next->retired[r])
            return fr_fail(err, FR_EINVAL,
                           "%s: catalogue version %ld brings back retired item '%.200s'", what,
                           next->version, cur->keys[r]);
    }
    return FR_OK;
}

fr_status fr_catver_apply(const fr_catver *cv, const fr_model *old, fr_model *out, fr_err *err)
{
    fr_model_config cfg = old->cfg;
    int V = cv->num_items, Vold = old->cfg.num_items;
    fr_status st = FR_OK;
    int64_t *ids = NULL;
    float *src = NULL, *dst = NULL;
    memset(out, 0, sizeof *out);
    if (V < Vold || cv->num_tokens != cfg.num_tokens || cv->token_vocab != cfg.token_vocab)
        return fr_fail(err, FR_EINVAL,
                       "catalogue version %ld (%d rows) does not extend the model's %d rows",
                       cv->version, V - 1, Vold - 1);
    cfg.num_items = V;
    if (!(ids = calloc((size_t)V, sizeof *ids))) {
        st = fr_fail(err, FR_ENOMEM, "catalogue: out of memory");
        goto out;
    }
    for (int r = 1; cv->numeric && r < V; r++)
        ids[r] = strtoll(cv->keys[r], NULL, 10);
    if ((st = fr_model_init(out, &cfg, old->be, cv->tokens, ids, err)) != FR_OK)
        goto out;
    if (!cv->numeric &&
        (st = fr_model_set_item_keys(out, (const char *const *)cv->keys, err)) != FR_OK)
        goto out;
    src = malloc(old->n * sizeof(float));
    dst = malloc(out->n * sizeof(float));
    if (!src || !dst) {
        st = fr_fail(err, FR_ENOMEM, "catalogue: out of memory for the parameters");
        goto out;
    }
    fr_model_get_params(old, src);
    fr_catver_remap(old, out, src, dst);
    fr_model_set_params(out, dst);
    out->catalogue_version = cv->version;
    out->adam_step = old->adam_step;
    for (int r = 1; r < V; r++)
        if (cv->retired[r]) {
            if (!out->item_retired && !(out->item_retired = calloc((size_t)V, 1))) {
                st = fr_fail(err, FR_ENOMEM, "catalogue: out of memory");
                goto out;
            }
            out->item_retired[r] = 1;
        }
    if (cv->n_reused > 0 &&
        !(out->item_reused = calloc((size_t)cv->n_reused, sizeof(fr_item_reuse)))) {
        st = fr_fail(err, FR_ENOMEM, "catalogue: out of memory");
        goto out;
    }
    for (int i = 0; i < cv->n_reused; i++) {
        out->item_reused[i] = cv->reused[i];
        if (!(out->item_reused[i].old_key = strdup(cv->reused[i].old_key))) {
            st = fr_fail(err, FR_ENOMEM, "catalogue: out of memory");
            goto out;
        }
        out->n_reused++;
    }
out:
    if (st != FR_OK)
        fr_model_free(out);
    free(ids);
    free(src);
    free(dst);
    return st;
}

void fr_catver_remap(const fr_model *old, const fr_model *grown, const float *in, float *out)
{
    memset(out, 0, grown->n * sizeof(float));
    for (int i = 0; i < FR_NPARAMS; i++)
        memcpy(out + grown->p[i].offset, in + old->p[i].offset, old->p[i].size * sizeof(float));
    /* a reclaimed row holds a new item: it starts at zero like an added one */
    size_t d = (size_t)grown->cfg.dim;
    for (int r = 1; r < old->cfg.num_items; r++)
        if (!fr_catver_same_item(old, grown, r))
            memset(out + grown->p[FR_P_E_ID].offset + (size_t)r * d, 0, d * sizeof(float));
}

fr_status fr_catver_check_models(const fr_model *held, const fr_model *next, const char *what,
                                 int *changed, fr_err *err)
{
    fr_model_config a = held->cfg, b = next->cfg;
    *changed = 0;
    a.num_items = b.num_items = 0;
    if (memcmp(&a, &b, sizeof a))
        return fr_fail(err, FR_EFORMAT, "%s changes the model's shape beyond its catalogue", what);
    if (held->catalogue_version == next->catalogue_version &&
        held->cfg.num_items == next->cfg.num_items)
        return FR_OK;
    fr_catver cur = {0}, nxt = {0};
    fr_status st = fr_catver_from_model(&cur, held, err);
    if (st == FR_OK && (st = fr_catver_from_model(&nxt, next, err)) == FR_OK)
        st = fr_catver_check_next(&cur, &nxt, what, err);
    fr_catver_free(&cur);
    fr_catver_free(&nxt);
    *changed = st == FR_OK;
    return st;
}
