/* Wire messages: encoders on msgpack-c's packer, decoders on the bounded cursor, both
 * driven by one field table per message so that the two cannot drift apart. */
#include "fed/fr_proposals.h"
#include "fed/fr_proto.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "util/fr_mpread.h"

typedef enum ftype { F_INT, F_FLOAT, F_STR, F_BIN } ftype;

typedef struct field {
    const char *key;
    ftype type;
    size_t off;    /* into the message struct */
    size_t size;   /* F_STR: buffer bytes */
    double lo, hi; /* F_INT, F_FLOAT: allowed range */
    int required;
} field;

#define MAXI 9.0e15 /* integers that a double holds exactly: every count we carry */

#define I(st, k, lo, hi)                                                                           \
    {                                                                                              \
#k, F_INT, offsetof(st, k), 0, lo, hi, 1                                                   \
    }
#define D(st, k, lo, hi)                                                                           \
    {                                                                                              \
#k, F_FLOAT, offsetof(st, k), 0, lo, hi, 1                                                 \
    }
#define S(st, k)                                                                                   \
    {                                                                                              \
#k, F_STR, offsetof(st, k), sizeof(((st *)0)->k), 0, 0, 1                                  \
    }
/* optional fields: absent decodes as zero, and zero (an empty bin or string) is not sent */
#define SO(st, k)                                                                                  \
    {                                                                                              \
#k, F_STR, offsetof(st, k), sizeof(((st *)0)->k), 0, 0, 0                                  \
    }
#define IO(st, k, lo, hi)                                                                          \
    {                                                                                              \
#k, F_INT, offsetof(st, k), 0, lo, hi, 0                                                   \
    }
#define DO(st, k, lo, hi)                                                                          \
    {                                                                                              \
#k, F_FLOAT, offsetof(st, k), 0, lo, hi, 0                                                 \
    }
#define BO(st, k, lo, hi)                                                                          \
    {                                                                                              \
#k, F_BIN, offsetof(st, k), 0, lo, hi, 0                                                   \
    }

static const field join_fields[] = {
    I(fr_proto_join, has_data, 0, 1),
    I(fr_proto_join, model_version, 0, MAXI),
    D(fr_proto_join, eps_spent, 0, 1e12),
    D(fr_proto_join, eps_budget, 0, 1e12),
    S(fr_proto_join, software),
    BO(fr_proto_join, id_pk, 32, 32),
    BO(fr_proto_join, id_cert, 1, FR_PROTO_MAX_CERT),
    BO(fr_proto_join, id_sig, 1, FR_PROTO_MAX_ID_SIG),
    BO(fr_proto_join, unknown_items, 1, FR_PROPOSALS_MAX_BYTES),
    IO(fr_proto_join, catalogue_mapped, 0, MAXI),
};
static const field join_reply_fields[] = {
    S(fr_proto_join_reply, node),
    I(fr_proto_join_reply, heartbeat_s, 1, 86400),
};
static const field task_fields[] = {
    I(fr_proto_task, state, 0, 2),
    I(fr_proto_task, round, 0, MAXI),
    I(fr_proto_task, model_version, 0, MAXI),
    D(fr_proto_task, deadline_s, 0, 1e9),
    I(fr_proto_task, retry_s, 0, 86400),
    I(fr_proto_task, local_epochs, 0, 100000),
    I(fr_proto_task, batch, 1, 1 << 20),
    I(fr_proto_task, seq_len, 1, 65536),
    I(fr_proto_task, negatives, 1, 1 << 20),
    D(fr_proto_task, lr, 0, 1e3),
    D(fr_proto_task, max_update_norm, 0, 1e12),
    S(fr_proto_task, weighting),
    IO(fr_proto_task, secagg, 0, 1),
    DO(fr_proto_task, max_weight, 0, 1e9),
    IO(fr_proto_task, fdp, 0, 1),
    DO(fr_proto_task, fdp_q, 0, 1),
    DO(fr_proto_task, fdp_sigma, 0, 1e6),
    DO(fr_proto_task, fdp_clip, 0, 1e6),
    IO(fr_proto_task, fdp_t, 0, 255),
    IO(fr_proto_task, fdp_nodes, 0, 255),
    IO(fr_proto_task, fdp_users_max, 0, 1 << 30),
    IO(fr_proto_task, adam_carry, 0, 1),
    SO(fr_proto_task, recipe),
    IO(fr_proto_task, recipe_rounds, 0, 100000000),
    DO(fr_proto_task, prox_mu, 0, 1e6),
};
static const field metrics_fields[] = {
    I(fr_proto_metrics, model_version, 0, MAXI),
    I(fr_proto_metrics, users, 0, MAXI),
    D(fr_proto_metrics, hr10, 0, 1),
    D(fr_proto_metrics, ndcg10, 0, 1),
    D(fr_proto_metrics, recall10, 0, 1),
    D(fr_proto_metrics, loss, 0, 1e6),
    D(fr_proto_metrics, eps_spent, 0, 1e12),
    IO(fr_proto_metrics, clear, 0, 1),
};
/* "delta" (bin) is handled beside the table: its length is tied to n */
static const field update_fields[] = {
    I(fr_proto_update, round, 1, MAXI),
    I(fr_proto_update, model_version, 0, MAXI),
    I(fr_proto_update, users, 0, MAXI),
    I(fr_proto_update, windows, 0, MAXI),
    D(fr_proto_update, weight, 1e-9, 1e15),
    D(fr_proto_update, loss, 0, 1e6),
    I(fr_proto_update, n, 1, (double)FR_PROTO_MAX_PARAMS),
};

#define COUNT(a) ((int)(sizeof a / sizeof a[0]))

/* ---- encoding ---- */

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* An optional field at zero is not sent: absent decodes as zero, and a node that
 * predates the key still decodes every message that leaves it unused. */
static int absent(const field *f, const void *msg)
{
    const char *p = (const char *)msg + f->off;
    if (f->required)
        return 0;
    switch (f->type) {
    case F_INT: return !*(const int64_t *)p;
    case F_FLOAT: return *(const double *)p == 0;
    case F_STR: return !*p;
    case F_BIN: return !((const fr_proto_bin *)p)->len;
    }
    return 0;
}

static void pack_fields(msgpack_packer *pk, const field *f, int nf, const void *msg, int extra)
{
    int present = 0;
    for (int i = 0; i < nf; i++)
        present += !absent(&f[i], msg);
    msgpack_pack_map(pk, (size_t)(present + 1 + extra));
    pack_str(pk, "v");
    msgpack_pack_int(pk, FR_PROTO_VERSION);
    for (int i = 0; i < nf; i++) {
        const char *p = (const char *)msg + f[i].off;
        if (absent(&f[i], msg))
            continue;
        pack_str(pk, f[i].key);
        switch (f[i].type) {
        case F_INT:
            if (!strcmp(f[i].key, "n"))
                msgpack_pack_uint64(pk, *(const uint64_t *)p);
            else
                msgpack_pack_int64(pk, *(const int64_t *)p);
            break;
        case F_FLOAT: msgpack_pack_double(pk, *(const double *)p); break;
        case F_STR: pack_str(pk, p); break;
        case F_BIN: {
            const fr_proto_bin *b = (const fr_proto_bin *)p;
            msgpack_pack_bin(pk, b->len);
            msgpack_pack_bin_body(pk, b->p, b->len);
            break;
        }
        }
    }
}

#define ENCODER(fn, type, table)                                                                   \
    void fn(const type *m, msgpack_sbuffer *sb)                                                    \
    {                                                                                              \
        msgpack_packer pk;                                                                         \
        msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);                                       \
        pack_fields(&pk, table, COUNT(table), m, 0);                                               \
    }

ENCODER(fr_proto_join_encode, fr_proto_join, join_fields)
ENCODER(fr_proto_join_reply_encode, fr_proto_join_reply, join_reply_fields)
ENCODER(fr_proto_task_encode, fr_proto_task, task_fields)
ENCODER(fr_proto_metrics_encode, fr_proto_metrics, metrics_fields)

void fr_proto_update_head_encode(const fr_proto_update *m, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    pack_fields(&pk, update_fields, COUNT(update_fields), m, 1);
    pack_str(&pk, "delta");
    msgpack_pack_bin(&pk, (size_t)m->n * 4);
}

/* ---- decoding ---- */

static double be_double(const fr_mpread_item *it)
{
    if (it->u == 4) {
        uint32_t b = (uint32_t)it->ptr[0] << 24 | (uint32_t)it->ptr[1] << 16 |
                     (uint32_t)it->ptr[2] << 8 | it->ptr[3];
        float f;
        memcpy(&f, &b, 4);
        return f;
    }
    uint64_t b = 0;
    for (int i = 0; i < 8; i++)
        b = b << 8 | it->ptr[i];
    double d;
    memcpy(&d, &b, 8);
    return d;
}

static fr_status read_field(fr_mpread *r, const field *f, void *msg)
{
    char *p = (char *)msg + f->off;
    fr_mpread_item it;
    fr_status st;
    switch (f->type) {
    case F_INT: {
        if ((st = fr_mpread_expect(r, &it, FR_MPREAD_UINT, f->key)) != FR_OK)
            return st;
        if (it.type == FR_MPREAD_NEG)
            return fr_fail(r->err, FR_EFORMAT, "%s: %s: %lld is negative", r->name, f->key,
                           (long long)it.i);
        if ((double)it.u < f->lo || (double)it.u > f->hi)
            return fr_fail(r->err, FR_EFORMAT, "%s: %s: %llu is outside [%.0f, %.0f]", r->name,
                           f->key, (unsigned long long)it.u, f->lo, f->hi);
        if (!strcmp(f->key, "n"))
            *(uint64_t *)p = it.u;
        else
            *(int64_t *)p = (int64_t)it.u;
        return FR_OK;
    }
    case F_FLOAT: {
        if ((st = fr_mpread_next(r, &it, f->key)) != FR_OK)
            return st;
        double v;
        if (it.type == FR_MPREAD_FLOAT)
            v = be_double(&it);
        else if (it.type == FR_MPREAD_UINT)
            v = (double)it.u;
        else if (it.type == FR_MPREAD_NEG)
            v = (double)it.i;
        else
            return fr_fail(r->err, FR_EFORMAT, "%s: %s: a %s where a number belongs", r->name,
                           f->key, fr_mpread_type_name(it.type));
        if (!isfinite(v) || v < f->lo || v > f->hi)
            return fr_fail(r->err, FR_EFORMAT, "%s: %s: %g is outside [%g, %g]", r->name, f->key, v,
                           f->lo, f->hi);
        *(double *)p = v;
        return FR_OK;
    }
    case F_STR: {
        if ((st = fr_mpread_expect(r, &it, FR_MPREAD_STR, f->key)) != FR_OK)
            return st;
        if (it.u >= f->size)
            return fr_fail(r->err, FR_EFORMAT, "%s: %s: %llu bytes, at most %zu", r->name, f->key,
                           (unsigned long long)it.u, f->size - 1);
        for (uint64_t i = 0; i < it.u; i++)
            if (it.ptr[i] < 0x20 || it.ptr[i] == 0x7f)
                return fr_fail(r->err, FR_EFORMAT, "%s: %s: control byte at %llu", r->name, f->key,
                               (unsigned long long)i);
        memcpy(p, it.ptr, it.u);
        p[it.u] = 0;
        return FR_OK;
    }
    case F_BIN: {
        if ((st = fr_mpread_expect(r, &it, FR_MPREAD_BIN, f->key)) != FR_OK)
            return st;
        if ((double)it.u < f->lo || (double)it.u > f->hi)
            return fr_fail(r->err, FR_EFORMAT, "%s: %s: %llu bytes, allowed %.0f..%.0f", r->name,
                           f->key, (unsigned long long)it.u, f->lo, f->hi);
        fr_proto_bin *b = (fr_proto_bin *)p;
        b->p = it.ptr;
        b->len = (size_t)it.u;
        return FR_OK;
    }
    }
    return fr_fail(r->err, FR_EFORMAT, "%s: %s: unknown field type", r->name, f->key);
}

/* Walk one map of the table's keys plus "v" (and "delta" when bin is given). */
static fr_status decode(const void *buf, size_t len, const char *name, const field *f, int nf,
                        void *msg, fr_mpread_item *bin, fr_err *err)
{
    const char *keys[32];
    int nk = 0;
    FR_ASSERT(nf + 2 <= 32); /* and `seen`, a 32-bit mask */
    keys[nk++] = "v";
    for (int i = 0; i < nf; i++)
        keys[nk++] = f[i].key;
    int delta_idx = bin ? nk : -1;
    if (bin)
        keys[nk++] = "delta";
    fr_mpread r;
    fr_mpread_init(&r, buf, len, name, err);
    fr_mpread_item it;
    fr_status st;
    if ((st = fr_mpread_expect(&r, &it, FR_MPREAD_MAP, "the message")) != FR_OK)
        return st;
    if (it.u > (uint64_t)nk)
        return fr_fail(err, FR_EFORMAT, "%s: a map of %llu keys, at most %d", name,
                       (unsigned long long)it.u, nk);
    unsigned seen = 0;
    for (uint64_t k = 0; k < it.u; k++) {
        int idx;
        if ((st = fr_mpread_key(&r, "a key", keys, nk, &seen, &idx)) != FR_OK)
            return st;
        if (idx == 0) {
            int64_t v;
            if ((st = fr_mpread_int(&r, "v", 0, 1000000, &v)) != FR_OK)
                return st;
            if (v != FR_PROTO_VERSION)
                return fr_fail(err, FR_EVERSION, "%s: protocol version %lld, this end speaks %d",
                               name, (long long)v, FR_PROTO_VERSION);
        } else if (idx == delta_idx) {
            if ((st = fr_mpread_expect(&r, bin, FR_MPREAD_BIN, "delta")) != FR_OK)
                return st;
        } else if ((st = read_field(&r, &f[idx - 1], msg)) != FR_OK) {
            return st;
        }
    }
    if (fr_mpread_left(&r))
        return fr_fail(err, FR_EFORMAT, "%s: %zu bytes after the message", name,
                       fr_mpread_left(&r));
    unsigned required = 1u; /* "v" */
    for (int i = 0; i < nf; i++)
        required |= (unsigned)f[i].required << (i + 1);
    if (bin)
        required |= 1u << delta_idx;
    return fr_mpread_missing(&r, "the message", keys, nk, seen, required);
}

#define DECODER(fn, type, table, label)                                                            \
    fr_status fn(const void *buf, size_t len, type *m, fr_err *err)                                \
    {                                                                                              \
        memset(m, 0, sizeof *m);                                                                   \
        return decode(buf, len, label, table, COUNT(table), m, NULL, err);                         \
    }

fr_status fr_proto_join_decode(const void *buf, size_t len, fr_proto_join *m, fr_err *err)
{
    memset(m, 0, sizeof *m);
    fr_status st = decode(buf, len, "join", join_fields, COUNT(join_fields), m, NULL, err);
    if (st != FR_OK)
        return st;
    int ids = !!m->id_pk.len + !!m->id_cert.len + !!m->id_sig.len;
    if (ids != 0 && ids != 3)
        return fr_fail(err, FR_EFORMAT, "join: id_pk, id_cert and id_sig come together (%d of 3)",
                       ids);
    return FR_OK;
}
DECODER(fr_proto_join_reply_decode, fr_proto_join_reply, join_reply_fields, "join reply")
DECODER(fr_proto_task_decode, fr_proto_task, task_fields, "task")
DECODER(fr_proto_metrics_decode, fr_proto_metrics, metrics_fields, "metrics")

fr_status fr_proto_update_decode(const void *buf, size_t len, uint64_t max_n, fr_proto_update *m,
                                 fr_err *err)
{
    memset(m, 0, sizeof *m);
    fr_mpread_item bin = {0};
    fr_status st = decode(buf, len, "update", update_fields, COUNT(update_fields), m, &bin, err);
    if (st != FR_OK)
        return st;
    if (m->n != max_n)
        return fr_fail(err, FR_EINVAL, "update: n = %llu parameters, the model has %llu",
                       (unsigned long long)m->n, (unsigned long long)max_n);
    if (bin.u != m->n * 4)
        return fr_fail(err, FR_EFORMAT, "update: delta holds %llu bytes, n = %llu needs %llu",
                       (unsigned long long)bin.u, (unsigned long long)m->n,
                       (unsigned long long)m->n * 4);
    m->delta = bin.ptr;
    return FR_OK;
}
