/* Local work per round and the node's carried Adam moments (see fr_fedopt.h). */
#include "fed/fr_fedopt.h"

#include <math.h>

int fr_fedopt_local_epochs(int configured, int sites)
{
    if (configured > 0)
        return configured;
    return sites > 1 ? sites : 1;
}

fr_status fr_fedopt_moments_get(const fr_model *m, fr_server_opt *o, fr_err *err)
{
    if (o->n != m->n)
        return fr_fail(err, FR_EINVAL, "Adam moments: state for %zu parameters, the model has %zu",
                       o->n, m->n);
    m->be->download(o->m, m->adam_m, m->n * sizeof(float));
    m->be->download(o->v, m->adam_v, m->n * sizeof(float));
    o->step = m->adam_step;
    return FR_OK;
}

fr_status fr_fedopt_moments_put(fr_model *m, const fr_server_opt *o, fr_err *err)
{
    if (o->n != m->n)
        return fr_fail(err, FR_EINVAL, "Adam moments: state for %zu parameters, the model has %zu",
                       o->n, m->n);
    for (size_t i = 0; i < o->n; i++)
        if (!isfinite(o->m[i]) || !isfinite(o->v[i]) || o->v[i] < 0)
            return fr_fail(
                err, FR_EINVAL,
                "Adam moments: coordinate %zu of %zu has m %g, v %g (need finite, v >= 0)", i, o->n,
                (double)o->m[i], (double)o->v[i]);
    if (o->step < 0)
        return fr_fail(err, FR_EINVAL, "Adam moments: step %ld is negative", o->step);
    m->be->upload(m->adam_m, o->m, m->n * sizeof(float));
    m->be->upload(m->adam_v, o->v, m->n * sizeof(float));
    m->adam_step = o->step;
    return FR_OK;
}
