/* Reclaiming retired rows (fr_catver.h, docs/catalogue.md). A node holds state by row
 * (its data's mapping, its local optimiser's moments), so a retired item's row may
 * take another item only once no node can still hold state on the retired one: every
 * node has confirmed mapping its data onto a catalogue version that retired it, and
 * a round has been aggregated since, so that no update built on the old mapping is
 * still to come. The row then changes item with a reuse record naming the retired
 * one, which a node checks before it resets what it keeps for the row. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fed/fr_catver.h"

long fr_catver_confirmed_floor(const fr_catver_confirm *c, int n, long last_aggregated)
{
    long floor = -1;
    for (int i = 0; i < n; i++) {
        long v = c[i].round < last_aggregated ? c[i].version : 0;
        if (floor < 0 || v < floor)
            floor = v;
    }
    return floor < 0 ? 0 : floor;
}

int fr_catver_reclaimable(const fr_catver *cv, int r, long floor)
{
    return r > 0 && r < cv->num_items && cv->retired[r] && cv->retired_in[r] >= 1 &&
           cv->retired_in[r] <= floor;
}

int fr_catver_count_reclaimable(const fr_catver *cv, long floor)
{
    int n = 0;
    for (int r = 1; r < cv->num_items; r++)
        n += fr_catver_reclaimable(cv, r, floor);
    return n;
}

int fr_catver_reuse_of(const fr_catver *cv, int r)
{
    for (int i = cv->n_reused - 1; i >= 0; i--)
        if (cv->reused[i].row == r)
            return i;
    return -1;
}

fr_status fr_catver_check_records(const fr_catver *cv, const char *name, fr_err *err)
{
    for (int r = 0; r < cv->num_items; r++)
        if ((cv->retired_in[r] > 0) != (cv->retired[r] != 0) || cv->retired_in[r] < 0 ||
            cv->retired_in[r] > cv->version)
            return fr_fail(err, FR_EFORMAT,
                           "%s: row %d: retired %d in version %ld, in catalogue version %ld", name,
                           r, cv->retired[r], cv->retired_in[r], cv->version);
    for (int i = 0; i < cv->n_reused; i++) {
        const fr_item_reuse *u = &cv->reused[i];
        if (u->row < 1 || u->row >= cv->num_items || u->version < 1 || u->version > cv->version ||
            (i > 0 && u->version < cv->reused[i - 1].version))
            return fr_fail(err, FR_EFORMAT,
                           "%s: reuse record %d: row %d in version %ld, out of order or past "
                           "the %d rows of catalogue version %ld",
                           name, i, (int)u->row, u->version, cv->num_items - 1, cv->version);
        if (fr_catver_find(cv, u->old_key) >= 0)
            return fr_fail(err, FR_EFORMAT,
                           "%s: reuse record %d names item '%.100s', which has a row", name, i,
                           u->old_key);
    }
    return FR_OK;
}

/* The id of row r of m, as a string in buf when the ids are integers. */
static const char *key_of(const fr_model *m, int r, char *buf, size_t cap)
{
    if (m->item_keys)
        return m->item_keys[r];
    snprintf(buf, cap, "%" PRId64, m->item_ids[r]);
    return buf;
}

int fr_catver_same_item(const fr_model *a, const fr_model *b, int r)
{
    char x[24], y[24];
    return !strcmp(key_of(a, r, x, sizeof x), key_of(b, r, y, sizeof y));
}

void fr_catver_reused_rows(const fr_model *held, const fr_model *next, int *rows, int *n)
{
    int V = held->cfg.num_items < next->cfg.num_items ? held->cfg.num_items : next->cfg.num_items;
    *n = 0;
    for (int r = 1; r < V; r++)
        if (!fr_catver_same_item(held, next, r))
            rows[(*n)++] = r;
}

void fr_catver_zero_rows(const fr_model *m, const int *rows, int n, float *flat)
{
    size_t d = (size_t)m->cfg.dim;
    for (int i = 0; i < n; i++)
        memset(flat + m->p[FR_P_E_ID].offset + (size_t)rows[i] * d, 0, d * sizeof(float));
}
