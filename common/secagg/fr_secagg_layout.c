/* The masked vector's segments (fr_secagg_layout.h). */
#include "secagg/fr_secagg_layout.h"

#include <string.h>

#include "secagg/fr_secagg.h"

void fr_secagg_layout_init(fr_secagg_layout *l, int n)
{
    memset(l, 0, sizeof *l);
    l->n = n;
}

const fr_secagg_segment *fr_secagg_layout_find(const fr_secagg_layout *l, const char *name)
{
    for (int i = 0; i < l->nseg; i++)
        if (!strcmp(l->seg[i].name, name))
            return &l->seg[i];
    return NULL;
}

fr_status fr_secagg_layout_add(fr_secagg_layout *l, const char *name, size_t len, double bound,
                               fr_err *err)
{
    size_t nl = strlen(name);
    if (nl < 1 || nl >= FR_SECAGG_SEG_NAME)
        return fr_fail(err, FR_EINVAL, "secagg layout: segment name '%s' of %zu bytes", name, nl);
    if (fr_secagg_layout_find(l, name))
        return fr_fail(err, FR_EINVAL, "secagg layout: segment '%s' twice", name);
    if (l->nseg == FR_SECAGG_LAYOUT_MAX)
        return fr_fail(err, FR_EINVAL, "secagg layout: more than %d segments",
                       FR_SECAGG_LAYOUT_MAX);
    if (len < 1 || len > FR_SECAGG_MAX_M - l->m)
        return fr_fail(err, FR_EINVAL,
                       "secagg layout: segment '%s' of %zu coordinates after %zu (at most %u)",
                       name, len, l->m, FR_SECAGG_MAX_M);
    fr_secagg_segment *s = &l->seg[l->nseg];
    fr_status st = fr_secagg_encode_scale(l->n, bound, &s->scale, err);
    if (st != FR_OK)
        return fr_fail(err, st, "secagg layout: segment '%s': %s", name, err->msg);
    memcpy(s->name, name, nl + 1);
    s->offset = l->m;
    s->len = len;
    s->bound = bound;
    l->m += len;
    l->nseg++;
    return FR_OK;
}

static fr_status find(const fr_secagg_layout *l, const char *name, const fr_secagg_segment **s,
                      fr_err *err)
{
    if (!(*s = fr_secagg_layout_find(l, name)))
        return fr_fail(err, FR_EINVAL, "secagg layout: no segment '%s'", name);
    return FR_OK;
}

fr_status fr_secagg_layout_encode(const fr_secagg_layout *l, const char *name, const float *v,
                                  uint32_t *out, int *clipped, fr_err *err)
{
    const fr_secagg_segment *s;
    fr_status st = find(l, name, &s, err);
    if (st == FR_OK)
        st = fr_secagg_encode(v, s->len, s->bound, s->scale, out + s->offset, clipped, err);
    return st;
}

fr_status fr_secagg_layout_decode(const fr_secagg_layout *l, const char *name, const uint32_t *sum,
                                  double *out, fr_err *err)
{
    const fr_secagg_segment *s;
    fr_status st = find(l, name, &s, err);
    if (st != FR_OK)
        return st;
    /* powers of two: the division is exact, the int32 is the only rounding */
    for (size_t i = 0; i < s->len; i++)
        out[i] = (double)(int32_t)sum[s->offset + i] / s->scale;
    return FR_OK;
}
