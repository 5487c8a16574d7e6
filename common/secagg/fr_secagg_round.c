/* A secure round's setup message and the vector a node masks (fr_secagg_round.h). */
#include "secagg/fr_secagg_round.h"

#include <math.h>
#include <sodium.h>
#include <string.h>

#include "util/fr_mpread.h"
#include "secagg/fr_secagg_mp.h"

void fr_secagg_setup_encode(const fr_secagg_setup *s, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 11);
    fr_secagg_mp_pack_str(&pk, "v");
    msgpack_pack_int(&pk, FR_SECAGG_VERSION);
    fr_secagg_mp_pack_str(&pk, "round");
    msgpack_pack_uint32(&pk, s->p.round);
    fr_secagg_mp_pack_str(&pk, "n");
    msgpack_pack_int(&pk, s->p.n);
    fr_secagg_mp_pack_str(&pk, "t");
    msgpack_pack_int(&pk, s->p.t);
    fr_secagg_mp_pack_str(&pk, "m");
    msgpack_pack_uint32(&pk, s->p.m);
    fr_secagg_mp_pack_str(&pk, "model_version");
    msgpack_pack_int64(&pk, s->model_version);
    fr_secagg_mp_pack_str(&pk, "clip");
    msgpack_pack_double(&pk, s->clip);
    fr_secagg_mp_pack_str(&pk, "loss_clip");
    msgpack_pack_double(&pk, s->loss_clip);
    fr_secagg_mp_pack_str(&pk, "max_weight");
    msgpack_pack_double(&pk, s->max_weight);
    fr_secagg_mp_pack_str(&pk, "weight_windows");
    msgpack_pack_int(&pk, s->weight_windows);
    fr_secagg_mp_pack_str(&pk, "members");
    msgpack_pack_array(&pk, (size_t)s->p.n);
    for (int i = 0; i < s->p.n; i++) {
        const fr_secagg_member *e = &s->e[i];
        msgpack_pack_array(&pk, 5);
        msgpack_pack_int(&pk, e->id);
        fr_secagg_mp_pack_str(&pk, e->name);
        fr_secagg_mp_pack_bin(&pk, e->id_pk, FR_SECAGG_ID_PUBLIC_BYTES);
        fr_secagg_mp_pack_bin(&pk, e->cert, e->cert_len);
        fr_secagg_mp_pack_bin(&pk, e->sig, e->sig_len);
    }
}

static const char *const setup_keys[] = {
    "v",       "round",         "n", "t", "m", "model_version", "clip", "loss_clip", "max_weight",
    "members", "weight_windows"};

/* A finite number (msgpack float or integer) in [lo, hi]. */
static fr_status read_number(fr_mpread *r, const char *what, double lo, double hi, double *out)
{
    fr_mpread_item it;
    fr_status st = fr_mpread_next(r, &it, what);
    if (st != FR_OK)
        return st;
    double v;
    if (it.type == FR_MPREAD_UINT)
        v = (double)it.u;
    else if (it.type == FR_MPREAD_NEG)
        v = (double)it.i;
    else if (it.type == FR_MPREAD_FLOAT && it.u == 8) {
        uint64_t b = 0;
        for (int i = 0; i < 8; i++)
            b = b << 8 | it.ptr[i];
        memcpy(&v, &b, 8);
    } else if (it.type == FR_MPREAD_FLOAT) {
        uint32_t b = (uint32_t)it.ptr[0] << 24 | (uint32_t)it.ptr[1] << 16 |
                     (uint32_t)it.ptr[2] << 8 | it.ptr[3];
        float f;
        memcpy(&f, &b, 4);
        v = f;
    } else {
        return fr_fail(r->err, FR_EFORMAT, "%s: %s: a %s where a number belongs", r->name, what,
                       fr_mpread_type_name(it.type));
    }
    if (!isfinite(v) || v < lo || v > hi)
        return fr_fail(r->err, FR_EFORMAT, "%s: %s: %g is outside [%g, %g]", r->name, what, v, lo,
                       hi);
    *out = v;
    return FR_OK;
}

/* A bin of 1..cap bytes. */
static fr_status read_var_bytes(fr_mpread *r, const char *what, size_t cap, const uint8_t **p,
                                size_t *len)
{
    fr_mpread_item it;
    fr_status st = fr_mpread_expect(r, &it, FR_MPREAD_BIN, what);
    if (st != FR_OK)
        return st;
    if (it.u < 1 || it.u > cap)
        return fr_fail(r->err, FR_EFORMAT, "%s: %s: %llu bytes, allowed 1..%zu", r->name, what,
                       (unsigned long long)it.u, cap);
    *p = it.ptr;
    *len = (size_t)it.u;
    return FR_OK;
}

static fr_status read_name(fr_mpread *r, char out[FR_SECAGG_NAME])
{
    fr_mpread_item it;
    fr_status st = fr_mpread_expect(r, &it, FR_MPREAD_STR, "members: name");
    if (st != FR_OK)
        return st;
    if (it.u < 1 || it.u >= FR_SECAGG_NAME)
        return fr_fail(r->err, FR_EFORMAT, "%s: members: name of %llu bytes, allowed 1..%d",
                       r->name, (unsigned long long)it.u, FR_SECAGG_NAME - 1);
    for (uint64_t i = 0; i < it.u; i++)
        if (it.ptr[i] < 0x21 || it.ptr[i] > 0x7e)
            return fr_fail(r->err, FR_EFORMAT, "%s: members: name: byte %llu is not printable",
                           r->name, (unsigned long long)i);
    memcpy(out, it.ptr, it.u);
    out[it.u] = 0;
    return FR_OK;
}

static fr_status read_member(fr_mpread *r, int n, int i, fr_secagg_member *e)
{
    fr_status st = fr_secagg_mp_read_tuple(r, "members", 5);
    if (st == FR_OK)
        st = fr_secagg_mp_read_entry_id(r, "members", n, i, i > 0 ? e[-1].id : 0, &e->id);
    if (st == FR_OK && e->id != i + 1)
        st = fr_fail(r->err, FR_EFORMAT, "%s: members: entry %d is node %d (ids run 1..n)", r->name,
                     i + 1, e->id);
    if (st == FR_OK)
        st = read_name(r, e->name);
    if (st == FR_OK)
        st = fr_secagg_mp_read_bytes(r, "members: id_pk", FR_SECAGG_ID_PUBLIC_BYTES, &e->id_pk);
    if (st == FR_OK)
        st = read_var_bytes(r, "members: cert", FR_SECAGG_MAX_CERT, &e->cert, &e->cert_len);
    if (st == FR_OK)
        st = read_var_bytes(r, "members: sig", FR_SECAGG_MAX_ID_SIG, &e->sig, &e->sig_len);
    return st;
}

static fr_status setup_field(fr_mpread *r, int idx, int n, void *msg)
{
    (void)n;
    fr_secagg_setup *s = msg;
    int64_t v;
    fr_status st;
    switch (idx) {
    case 2:
        st = fr_mpread_int(r, "n", 2, FR_SECAGG_MAX_NODES, &v);
        s->p.n = (int)v;
        return st;
    case 3:
        st = fr_mpread_int(r, "t", 1, FR_SECAGG_MAX_NODES, &v);
        s->p.t = (int)v;
        return st;
    case 4:
        st = fr_mpread_int(r, "m", FR_SECAGG_ROUND_EXTRA + 1, FR_SECAGG_MAX_M, &v);
        s->p.m = (uint32_t)v;
        return st;
    case 5: return fr_mpread_int(r, "model_version", 0, INT64_MAX, &s->model_version);
    case 6: return read_number(r, "clip", 1e-30, 1e12, &s->clip);
    case 7: return read_number(r, "loss_clip", 1e-30, 1e12, &s->loss_clip);
    case 8: return read_number(r, "max_weight", 1, FR_SECAGG_MAX_WEIGHT_TOP, &s->max_weight);
    case 10:
        st = fr_mpread_int(r, "weight_windows", 0, 1, &v);
        s->weight_windows = (int)v;
        return st;
    default: {
        /* n comes first in every encoding we make; a list before it cannot be bounded */
        if (s->p.n < 2)
            return fr_fail(r->err, FR_EFORMAT, "%s: members before n", r->name);
        int count = 0;
        if ((st = fr_secagg_mp_read_list(r, "members", s->p.n, &count)) != FR_OK)
            return st;
        if (count != s->p.n)
            return fr_fail(r->err, FR_EFORMAT, "%s: members: %d listed, n = %d", r->name, count,
                           s->p.n);
        for (int i = 0; i < count && st == FR_OK; i++)
            st = read_member(r, s->p.n, i, &s->e[i]);
        return st;
    }
    }
}

fr_status fr_secagg_setup_decode(const void *buf, size_t len, fr_secagg_setup *s, fr_err *err)
{
    memset(s, 0, sizeof *s);
    fr_status st = fr_secagg_mp_walk(buf, len, "secagg setup", setup_keys,
                                     (int)(sizeof setup_keys / sizeof setup_keys[0]),
                                     FR_SECAGG_MAX_NODES, s, &s->p.round, setup_field, err);
    if (st != FR_OK)
        return st;
    fr_err why = {{0}};
    if (fr_secagg_params_check(&s->p, &why) != FR_OK)
        return fr_fail(err, FR_EFORMAT, "secagg setup: %s", why.msg);
    for (int i = 0; i < s->p.n; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(s->e[i].name, s->e[j].name))
                return fr_fail(err, FR_EFORMAT, "secagg setup: %s is listed twice", s->e[i].name);
    fr_secagg_layout l;
    if (fr_secagg_round_layout(s, &l, &why) != FR_OK)
        return fr_fail(err, FR_EFORMAT, "secagg setup: %s", why.msg);
    return FR_OK;
}

fr_status fr_secagg_setup_hash(const fr_secagg_setup *s, uint8_t out[FR_SECAGG_HASH_BYTES],
                               fr_err *err)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_secagg_setup_encode(s, &sb);
    fr_status st = FR_OK;
    if (!sb.data)
        st = fr_fail(err, FR_ENOMEM, "secagg setup: out of memory to hash it");
    else
        crypto_generichash(out, FR_SECAGG_HASH_BYTES, (const unsigned char *)sb.data, sb.size, NULL,
                           0);
    msgpack_sbuffer_destroy(&sb);
    return st;
}

const fr_secagg_member *fr_secagg_setup_find(const fr_secagg_setup *s, const char *name)
{
    for (int i = 0; i < s->p.n; i++)
        if (!strcmp(s->e[i].name, name))
            return &s->e[i];
    return NULL;
}

fr_status fr_secagg_round_layout(const fr_secagg_setup *s, fr_secagg_layout *l, fr_err *err)
{
    fr_status st;
    fr_secagg_layout_init(l, s->p.n);
    if (s->p.m <= FR_SECAGG_ROUND_EXTRA)
        return fr_fail(err, FR_EINVAL, "secagg round: m = %u leaves no parameter", s->p.m);
    if (!(s->max_weight >= 1 && s->max_weight <= FR_SECAGG_MAX_WEIGHT_TOP))
        return fr_fail(err, FR_EINVAL, "secagg round: max_weight %g outside [1, %g]", s->max_weight,
                       FR_SECAGG_MAX_WEIGHT_TOP);
    if ((st = fr_secagg_layout_add(l, FR_SECAGG_SEG_DELTA, (size_t)s->p.m - FR_SECAGG_ROUND_EXTRA,
                                   s->clip * s->max_weight, err)) != FR_OK ||
        (st = fr_secagg_layout_add(l, FR_SECAGG_SEG_WEIGHT, 1, s->max_weight, err)) != FR_OK ||
        (st = fr_secagg_layout_add(l, FR_SECAGG_SEG_LOSS, 1, s->loss_clip * s->max_weight, err)) !=
            FR_OK ||
        (st = fr_secagg_layout_add(l, FR_SECAGG_SEG_EVAL, 4, 2 * s->max_weight, err)) != FR_OK ||
        (st = fr_secagg_layout_add(l, FR_SECAGG_SEG_SQNORM, 1, s->max_weight, err)) != FR_OK)
        return st;
    return FR_OK;
}

fr_status fr_secagg_round_weight(const fr_secagg_setup *s, double weight, double *w, fr_err *err)
{
    if (!isfinite(weight) || !(weight > 0))
        return fr_fail(err, FR_EINVAL, "secagg: weight %g is not finite and > 0", weight);
    /* the cap is the same for every member: no one is weighted down by the coordinator */
    *w = weight > s->max_weight ? s->max_weight : weight;
    return FR_OK;
}

/* [0, 1], NaN as 0 */
static double unit(double v)
{
    return v > 0 ? (v < 1 ? v : 1) : 0;
}

/* The weight, loss, evaluation and squared-norm segments of a node's vector (w
 * already cut; sq: the cut delta's squared norm over clip^2, in [0, 1]). */
static fr_status encode_extras(const fr_secagg_setup *s, const fr_secagg_layout *l, double w,
                               double loss, const fr_secagg_round_eval *ev, double sq,
                               uint32_t *out, fr_err *err)
{
    fr_status st;
    float wf = (float)w, wl = (float)(fmin(fmax(loss, 0), s->loss_clip) * w);
    float wsq = (float)(w * unit(sq));
    /* the evaluation's users count like a weight: cut to the same cap, so that no node's
     * figures outweigh the cap's share of the federation's means */
    double e = ev && ev->users > 0 ? fmin(ev->users, s->max_weight) : 0;
    float evv[4] = {(float)e, (float)(e * unit(ev ? ev->hr10 : 0)),
                    (float)(e * unit(ev ? ev->ndcg10 : 0)),
                    (float)(e * unit(ev ? ev->recall10 : 0))};
    if ((st = fr_secagg_layout_encode(l, FR_SECAGG_SEG_WEIGHT, &wf, out, NULL, err)) != FR_OK ||
        (st = fr_secagg_layout_encode(l, FR_SECAGG_SEG_LOSS, &wl, out, NULL, err)) != FR_OK ||
        (st = fr_secagg_layout_encode(l, FR_SECAGG_SEG_EVAL, evv, out, NULL, err)) != FR_OK ||
        (st = fr_secagg_layout_encode(l, FR_SECAGG_SEG_SQNORM, &wsq, out, NULL, err)) != FR_OK)
        return st;
    return FR_OK;
}

/* What both encodings check first: the round's layout, the member's weight in it and
 * a finite loss. */
static fr_status encode_begin(const fr_secagg_setup *s, double weight, double loss,
                              fr_secagg_layout *l, double *w, fr_err *err)
{
    fr_status st;
    if ((st = fr_secagg_round_layout(s, l, err)) != FR_OK ||
        (st = fr_secagg_round_weight(s, weight, w, err)) != FR_OK)
        return st;
    if (!isfinite(loss))
        return fr_fail(err, FR_EINVAL, "secagg: loss %g is not finite", loss);
    return FR_OK;
}

fr_status fr_secagg_round_encode(const fr_secagg_setup *s, double weight, float *delta, double loss,
                                 const fr_secagg_round_eval *ev, uint32_t *out, int *clipped,
                                 fr_err *err)
{
    fr_secagg_layout l;
    double w = 0;
    fr_status st;
    if ((st = encode_begin(s, weight, loss, &l, &w, err)) != FR_OK)
        return st;
    size_t p = (size_t)s->p.m - FR_SECAGG_ROUND_EXTRA;
    /* the delta is cut to its own bound before the weight scales it, as a plain
     * round's norm check would have it */
    double sq = 0;
    for (size_t i = 0; i < p; i++) {
        if (!isfinite(delta[i]))
            return fr_fail(err, FR_EINVAL, "secagg: delta coordinate %zu is %g", i,
                           (double)delta[i]);
        sq += (double)delta[i] * delta[i];
    }
    double norm = sqrt(sq), f = (norm > s->clip ? s->clip / norm : 1.0) * w;
    if (clipped)
        *clipped = norm > s->clip;
    for (size_t i = 0; i < p; i++)
        delta[i] = (float)(delta[i] * f);
    if ((st = fr_secagg_layout_encode(&l, FR_SECAGG_SEG_DELTA, delta, out, NULL, err)) != FR_OK)
        return st;
    /* the squared norm of what was cut, over the bound's square: in [0, 1], so that the
     * segment's scale is the weight's whatever the bound */
    return encode_extras(s, &l, w, loss, ev, norm > s->clip ? 1.0 : sq / (s->clip * s->clip), out,
                         err);
}

fr_status fr_secagg_round_encode_ring(const fr_secagg_setup *s, double weight, const uint32_t *ring,
                                      double loss, const fr_secagg_round_eval *ev, uint32_t *out,
                                      fr_err *err)
{
    fr_secagg_layout l;
    double w = 0;
    fr_status st;
    if ((st = encode_begin(s, weight, loss, &l, &w, err)) != FR_OK)
        return st;
    /* already ring elements, bounded by their own mechanism: copied as they are */
    const fr_secagg_segment *d = fr_secagg_layout_find(&l, FR_SECAGG_SEG_DELTA);
    memcpy(out + d->offset, ring, d->len * sizeof *ring);
    return encode_extras(s, &l, w, loss, ev, 0.0, out, err);
}

fr_status fr_secagg_round_decode(const fr_secagg_setup *s, const uint32_t *sum, int contributors,
                                 fr_secagg_round_sum *out, fr_err *err)
{
    fr_secagg_layout l;
    fr_status st;
    double ev[4], sq = 0;
    if ((st = fr_secagg_round_layout(s, &l, err)) != FR_OK ||
        (st = fr_secagg_layout_decode(&l, FR_SECAGG_SEG_DELTA, sum, out->wdelta, err)) != FR_OK ||
        (st = fr_secagg_layout_decode(&l, FR_SECAGG_SEG_WEIGHT, sum, &out->weight, err)) != FR_OK ||
        (st = fr_secagg_layout_decode(&l, FR_SECAGG_SEG_LOSS, sum, &out->wloss, err)) != FR_OK ||
        (st = fr_secagg_layout_decode(&l, FR_SECAGG_SEG_EVAL, sum, ev, err)) != FR_OK ||
        (st = fr_secagg_layout_decode(&l, FR_SECAGG_SEG_SQNORM, sum, &sq, err)) != FR_OK)
        return st;
    /* a sum of metrics in [0, 1]: the means are cut to it, since rounding (or a member
     * outside the layout) can take them a hair past */
    memset(&out->eval, 0, sizeof out->eval);
    if (ev[0] >= 0.5) {
        out->eval.users = ev[0];
        out->eval.hr10 = unit(ev[1] / ev[0]);
        out->eval.ndcg10 = unit(ev[2] / ev[0]);
        out->eval.recall10 = unit(ev[3] / ev[0]);
    }
    /* each weight is in (0, max_weight]; rounding may add one step of the scale each */
    double top = contributors *
                 (s->max_weight + 1.0 / fr_secagg_layout_find(&l, FR_SECAGG_SEG_WEIGHT)->scale);
    if (!(out->weight > 0) || out->weight > top)
        return fr_fail(err, FR_EINVAL,
                       "secagg round: the weights of %d members sum to %g, outside (0, %g]: a "
                       "member sent a vector outside the layout",
                       contributors, out->weight, top);
    /* each member's value is in [0, its w]; rounding may add one step of the scale each */
    double slack = contributors / fr_secagg_layout_find(&l, FR_SECAGG_SEG_SQNORM)->scale;
    out->wsqnorm = sq >= -slack && sq <= out->weight + slack
                       ? fmin(fmax(sq, 0.0), out->weight) * s->clip * s->clip
                       : -1.0;
    return FR_OK;
}

void fr_secagg_round_ring_sum(const fr_secagg_setup *s, const uint32_t *sum, double *out)
{
    /* the delta segment is the first: coordinates [0, p) */
    size_t p = (size_t)s->p.m - FR_SECAGG_ROUND_EXTRA;
    for (size_t i = 0; i < p; i++)
        out[i] = (double)(int32_t)sum[i];
}
