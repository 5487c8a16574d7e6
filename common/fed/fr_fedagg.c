/* Federated aggregation and the server optimiser (see fr_fedagg.h). */
#include "fed/fr_fedagg.h"
#include "util/fr_file.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn/fr_modelfile.h"
#include "privacy/fr_dp_recipe.h"

/* Below this many parameters (4 MB of deltas) one thread, with the sum still in cache,
 * beats waking the others (measured on 2 cores). */
#define PAR_MIN ((size_t)1 << 20)
/* Floats converted per piece when the state file is written or read. */
#define CHUNK 4096

static const struct {
    const char *name;
    fr_agg_kind kind;
} kinds[] = {
    {"fedavg", FR_AGG_FEDAVG},
    {"fedadam", FR_AGG_FEDADAM},
    {"fedyogi", FR_AGG_FEDYOGI},
    {"fedavgm", FR_AGG_FEDAVGM},
};

fr_status fr_agg_kind_parse(const char *s, fr_agg_kind *out, fr_err *err)
{
    for (size_t i = 0; s && i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(s, kinds[i].name) == 0) {
            *out = kinds[i].kind;
            return FR_OK;
        }
    return fr_fail(err, FR_EINVAL,
                   "aggregation \"%.64s\": expected fedavg, fedavgm, fedadam or fedyogi",
                   s ? s : "");
}

fr_status fr_agg_schedule_parse(const char *s, fr_agg_schedule *out, fr_err *err)
{
    if (s && !strcmp(s, "constant"))
        *out = FR_AGG_LR_CONSTANT;
    else if (s && !strcmp(s, "cosine"))
        *out = FR_AGG_LR_COSINE;
    else
        return fr_fail(err, FR_EINVAL, "server-lr-schedule \"%.64s\": expected constant or cosine",
                       s ? s : "");
    return FR_OK;
}

const char *fr_agg_schedule_name(fr_agg_schedule s)
{
    return s == FR_AGG_LR_CONSTANT ? "constant" : s == FR_AGG_LR_COSINE ? "cosine" : "unknown";
}

int fr_agg_keeps_state(const fr_agg_config *cfg)
{
    return cfg->kind != FR_AGG_FEDAVG || cfg->schedule != FR_AGG_LR_CONSTANT;
}

double fr_agg_lr_at(const fr_agg_config *cfg, long step)
{
    if (cfg->schedule != FR_AGG_LR_COSINE || cfg->rounds < 1)
        return cfg->server_lr;
    double x = step >= cfg->rounds ? 1.0 : (double)step / (double)cfg->rounds;
    return cfg->server_lr * (FR_AGG_LR_FLOOR + (1 - FR_AGG_LR_FLOOR) * 0.5 * (1 + cos(M_PI * x)));
}

const char *fr_agg_kind_name(fr_agg_kind k)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (kinds[i].kind == k)
            return kinds[i].name;
    return "unknown";
}

fr_agg_config fr_agg_config_default(void)
{
    return (fr_agg_config){
        .kind = FR_AGG_FEDAVG, .server_lr = 1.0, .beta1 = 0.9, .beta2 = 0.99, .tau = 1e-3};
}

double fr_agg_default_server_lr(fr_agg_kind kind, int dp_federation, long rounds, double beta1)
{
    switch (kind) {
    case FR_AGG_FEDAVG: return 1.0;
    case FR_AGG_FEDAVGM: return 1.0 - beta1;
    default: return dp_federation ? fr_dp_recipe_server_lr(rounds) : 0.01;
    }
}

fr_status fr_agg_extrapolation_parse(const char *s, fr_agg_kind kind, int dp_federation, int *on,
                                     fr_err *err)
{
    if (!strcmp(s, "off")) {
        *on = 0;
        return FR_OK;
    }
    if (!strcmp(s, "auto")) {
        *on = kind == FR_AGG_FEDAVG && !dp_federation;
        return FR_OK;
    }
    if (strcmp(s, "on"))
        return fr_fail(err, FR_EINVAL, "server-extrapolation: '%s' is not auto, on or off", s);
    if (kind != FR_AGG_FEDAVG)
        return fr_fail(err, FR_EINVAL, "server-extrapolation on: fedavg only, not %s",
                       fr_agg_kind_name(kind));
    if (dp_federation)
        return fr_fail(err, FR_EINVAL,
                       "server-extrapolation on: not under dp-federation, whose round is one "
                       "noisy DP-SGD step");
    *on = 1;
    return FR_OK;
}

fr_status fr_agg_config_check(const fr_agg_config *cfg, fr_err *err)
{
    if (!(cfg->kind == FR_AGG_FEDAVG || cfg->kind == FR_AGG_FEDADAM ||
          cfg->kind == FR_AGG_FEDYOGI || cfg->kind == FR_AGG_FEDAVGM))
        return fr_fail(err, FR_EINVAL, "aggregation kind %d is unknown", (int)cfg->kind);
    if (!(cfg->server_lr > 0 && isfinite(cfg->server_lr)))
        return fr_fail(err, FR_EINVAL, "server_lr %g: need a finite value > 0", cfg->server_lr);
    if (!(cfg->schedule == FR_AGG_LR_CONSTANT || cfg->schedule == FR_AGG_LR_COSINE))
        return fr_fail(err, FR_EINVAL, "server learning-rate schedule %d is unknown",
                       (int)cfg->schedule);
    if (cfg->schedule == FR_AGG_LR_COSINE && cfg->rounds < 1)
        return fr_fail(err, FR_EINVAL,
                       "a cosine schedule needs its length in rounds (>= 1), not %ld", cfg->rounds);
    if (cfg->kind == FR_AGG_FEDAVG)
        return FR_OK;
    if (!(cfg->beta1 >= 0 && cfg->beta1 < 1))
        return fr_fail(err, FR_EINVAL, "beta1 %g: need a value in [0, 1)", cfg->beta1);
    if (cfg->kind == FR_AGG_FEDAVGM)
        return FR_OK;
    if (!(cfg->beta2 >= 0 && cfg->beta2 < 1))
        return fr_fail(err, FR_EINVAL, "beta2 %g: need a value in [0, 1)", cfg->beta2);
    if (!(cfg->tau > 0 && isfinite(cfg->tau)))
        return fr_fail(err, FR_EINVAL, "tau %g: need a finite value > 0", cfg->tau);
    return FR_OK;
}

fr_status fr_agg_init(fr_agg *a, size_t n, fr_err *err)
{
    memset(a, 0, sizeof *a);
    if (n == 0)
        return fr_fail(err, FR_EINVAL, "aggregate of 0 parameters");
    a->sum = calloc(n, sizeof *a->sum);
    if (!a->sum)
        return fr_fail(err, FR_ENOMEM, "cannot allocate an aggregate of %zu parameters", n);
    a->n = n;
    return FR_OK;
}

void fr_agg_free(fr_agg *a)
{
    free(a->sum);
    memset(a, 0, sizeof *a);
}

void fr_agg_reset(fr_agg *a)
{
    if (a->sum)
        memset(a->sum, 0, a->n * sizeof *a->sum);
    a->weight = 0;
    a->count = 0;
    a->sqsum = 0;
    a->sq_count = 0;
}

void fr_agg_add_sqnorm(fr_agg *a, double wsq, int deltas)
{
    a->sqsum += wsq;
    a->sq_count += deltas;
}

double fr_agg_extrapolation(const fr_agg *a, const fr_agg_config *cfg)
{
    if (cfg->kind != FR_AGG_FEDAVG || !cfg->extrapolate || a->count < 2 ||
        a->sq_count != a->count || !(a->weight > 0))
        return 1.0;
    double mm = 0; /* |mean|^2 x weight^2, in order: no thread count shows in it */
    for (size_t i = 0; i < a->n; i++)
        mm += a->sum[i] * a->sum[i];
    double f = a->sqsum * a->weight / (2.0 * mm);
    if (!isfinite(f) || !(mm > 0) || !(f > 1.0))
        return 1.0;
    return f < FR_AGG_EXTRAP_MAX ? f : FR_AGG_EXTRAP_MAX;
}

/* The float32 stored little-endian at p, which may be at any address; the compiler
 * turns the copies into one load (and a byte swap on a big-endian host). */
static inline float get_le32f(const uint8_t *p)
{
    uint32_t u;
    float x;
    memcpy(&u, p, 4);
    u = le32toh(u);
    memcpy(&x, &u, 4);
    return x;
}

static inline void put_le32f(uint8_t *p, float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    u = htole32(u);
    memcpy(p, &u, 4);
}

void fr_agg_add_le(fr_agg *a, const uint8_t *delta_le, double w)
{
    FR_ASSERT(a->sum && isfinite(w) && w > 0);
    double *restrict sum = a->sum;
    const uint8_t *restrict p = delta_le;
    long n = (long)a->n;
#pragma omp parallel for schedule(static) if (a->n >= PAR_MIN)
    for (long i = 0; i < n; i++)
        sum[i] += w * (double)get_le32f(p + 4 * i);
    a->weight += w;
    a->count++;
}

void fr_agg_add(fr_agg *a, const float *delta, double w)
{
    FR_ASSERT(a->sum && isfinite(w) && w > 0);
    double *restrict sum = a->sum;
    const float *restrict d = delta;
    long n = (long)a->n;
#pragma omp parallel for schedule(static) if (a->n >= PAR_MIN)
    for (long i = 0; i < n; i++)
        sum[i] += w * (double)d[i];
    a->weight += w;
    a->count++;
}

fr_status fr_agg_check_le(const uint8_t *delta_le, size_t n, double max_norm, double *norm,
                          fr_err *err)
{
    /* Eight running sums in a fixed order: vectorisable, yet the same on every run.
     * The squares of finite floats cannot overflow a double, so a non-finite total
     * means a non-finite coordinate, found by the second pass only then. */
    double acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) {
            double x = get_le32f(delta_le + 4 * (i + k));
            acc[k] += x * x;
        }
    for (; i < n; i++) {
        double x = get_le32f(delta_le + 4 * i);
        acc[i % 8] += x * x;
    }
    double ss = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    if (!isfinite(ss))
        for (i = 0; i < n; i++) {
            float x = get_le32f(delta_le + 4 * i);
            if (!isfinite(x))
                return fr_fail(err, FR_EINVAL, "update coordinate %zu of %zu is %s", i, n,
                               isnan(x) ? "NaN" : "infinite");
        }
    double nrm = sqrt(ss);
    if (norm)
        *norm = nrm;
    if (max_norm > 0 && nrm > max_norm * (1 + 1e-6))
        return fr_fail(err, FR_EINVAL, "update L2 norm %.9g exceeds the clipping bound %.9g", nrm,
                       max_norm);
    return FR_OK;
}

fr_status fr_server_opt_init(fr_server_opt *o, size_t n, fr_err *err)
{
    memset(o, 0, sizeof *o);
    if (n == 0)
        return fr_fail(err, FR_EINVAL, "server optimiser of 0 parameters");
    o->m = calloc(n, sizeof *o->m);
    o->v = calloc(n, sizeof *o->v);
    if (!o->m || !o->v) {
        fr_server_opt_free(o);
        return fr_fail(err, FR_ENOMEM,
                       "cannot allocate server optimiser state of %zu "
                       "parameters",
                       n);
    }
    o->n = n;
    return FR_OK;
}

void fr_server_opt_free(fr_server_opt *o)
{
    free(o->m);
    free(o->v);
    memset(o, 0, sizeof *o);
}

fr_status fr_agg_apply(const fr_agg *a, const fr_agg_config *cfg, fr_server_opt *opt, float *params,
                       fr_err *err)
{
    fr_status st = fr_agg_config_check(cfg, err);
    if (st != FR_OK)
        return st;
    if (a->count == 0 || !(a->weight > 0))
        return fr_fail(err, FR_ENODATA, "no updates to aggregate");
    if (opt->n != a->n)
        return fr_fail(err, FR_EINVAL,
                       "server optimiser holds %zu parameters, the aggregate "
                       "%zu",
                       opt->n, a->n);
    const double inv = 1.0 / a->weight, lr = fr_agg_lr_at(cfg, opt->step);
    const double b1 = cfg->beta1, b2 = cfg->beta2, tau = cfg->tau;
    const double *restrict sum = a->sum;
    float *restrict m = opt->m, *restrict v = opt->v, *restrict p = params;
    long n = (long)a->n;
    opt->stretch = 1.0;
    if (cfg->kind == FR_AGG_FEDAVG) {
        opt->stretch = fr_agg_extrapolation(a, cfg);
        const double step = lr * opt->stretch;
#pragma omp parallel for schedule(static) if (a->n >= PAR_MIN)
        for (long i = 0; i < n; i++)
            p[i] = (float)((double)p[i] + step * (sum[i] * inv));
    } else if (cfg->kind == FR_AGG_FEDAVGM) {
        /* the momentum is kept in float like the adaptive moments; each step is
         * computed in double from it */
#pragma omp parallel for schedule(static) if (a->n >= PAR_MIN)
        for (long i = 0; i < n; i++) {
            double mi = b1 * (double)m[i] + sum[i] * inv;
            m[i] = (float)mi;
            p[i] = (float)((double)p[i] + lr * mi);
        }
    } else {
        const int yogi = cfg->kind == FR_AGG_FEDYOGI;
        const float v0 = (float)(tau * tau);
        const int first = opt->step == 0;
#pragma omp parallel for schedule(static) if (a->n >= PAR_MIN)
        for (long i = 0; i < n; i++) {
            double d = sum[i] * inv, d2 = d * d;
            double vi = first ? (double)v0 : (double)v[i];
            double mi = b1 * (double)m[i] + (1 - b1) * d;
            if (yogi) {
                double s = vi > d2 ? 1.0 : vi < d2 ? -1.0 : 0.0;
                vi = vi - (1 - b2) * d2 * s;
            } else {
                vi = b2 * vi + (1 - b2) * d2;
            }
            m[i] = (float)mi;
            v[i] = (float)vi;
            p[i] = (float)((double)p[i] + lr * mi / (sqrt(fmax(vi, 0.0)) + tau));
        }
    }
    opt->step++;
    return FR_OK;
}

static void put_le64(uint8_t *p, uint64_t x)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(x >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x |= (uint64_t)p[i] << (8 * i);
    return x;
}

/* Writes n floats little-endian to f, continuing *crc; 0 or -1 (errno set). */
static int write_floats(FILE *f, const float *x, size_t n, uint32_t *crc, uint8_t *stage)
{
    for (size_t done = 0; done < n;) {
        size_t k = n - done < CHUNK ? n - done : CHUNK;
        for (size_t i = 0; i < k; i++)
            put_le32f(stage + 4 * i, x[done + i]);
        if (fwrite(stage, 4, k, f) != k)
            return -1;
        *crc = fr_modelfile_crc32(*crc, stage, 4 * k);
        done += k;
    }
    return 0;
}

fr_status fr_server_opt_save(const fr_server_opt *o, const char *path, fr_err *err)
{
    fr_status st = FR_OK;
    uint8_t *stage = NULL;
    fr_atomic_file af = {0};
    FR_ASSERT(o && o->m && o->v && path);
    if (o->step < 0) {
        st = fr_fail(err, FR_EINVAL, "%s: server step %ld is negative", path, o->step);
        goto out;
    }
    stage = malloc(4 * CHUNK);
    if (!stage) {
        st = fr_fail(err, FR_ENOMEM,
                     "%s: cannot allocate buffers to save the server "
                     "optimiser",
                     path);
        goto out;
    }
    if ((st = fr_atomic_open(&af, path, 0600, err)) != FR_OK)
        goto out;
    FILE *f = af.f;
    const char *tmp = af.tmp;
    uint8_t hdr[FR_SOPT_HEADER_BYTES], tail[4];
    memcpy(hdr, FR_SOPT_MAGIC, 8);
    put_le64(hdr + 8, (uint64_t)o->n);
    put_le64(hdr + 16, (uint64_t)o->step);
    uint32_t crc = fr_modelfile_crc32(0, hdr, sizeof hdr);
    if (fwrite(hdr, 1, sizeof hdr, f) != sizeof hdr ||
        write_floats(f, o->m, o->n, &crc, stage) != 0 ||
        write_floats(f, o->v, o->n, &crc, stage) != 0) {
        st = fr_fail(err, FR_EIO, "%s: cannot write %s: %s", path, tmp, strerror(errno));
        goto out;
    }
    for (int i = 0; i < 4; i++)
        tail[i] = (uint8_t)(crc >> (8 * i));
    if (fwrite(tail, 1, 4, f) != 4) {
        st = fr_fail(err, FR_EIO, "%s: cannot write %s: %s", path, tmp, strerror(errno));
        goto out;
    }
    st = fr_atomic_commit(&af, err);
out:
    fr_atomic_abort(&af);
    free(stage);
    return st;
}

/* Reads n floats little-endian from f into x, continuing *crc; 0 or -1. */
static int read_floats(FILE *f, float *x, size_t n, uint32_t *crc, uint8_t *stage)
{
    for (size_t done = 0; done < n;) {
        size_t k = n - done < CHUNK ? n - done : CHUNK;
        if (fread(stage, 4, k, f) != k)
            return -1;
        *crc = fr_modelfile_crc32(*crc, stage, 4 * k);
        for (size_t i = 0; i < k; i++)
            x[done + i] = get_le32f(stage + 4 * i);
        done += k;
    }
    return 0;
}

fr_status fr_server_opt_load(fr_server_opt *o, size_t n, const char *path, fr_err *err)
{
    fr_status st = FR_OK;
    fr_server_opt next = {0};
    uint8_t *stage = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        st = fr_fail(err, FR_EIO, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        st = fr_fail(err, FR_EIO, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    uint8_t hdr[FR_SOPT_HEADER_BYTES], tail[4];
    size_t got = fread(hdr, 1, sizeof hdr, f);
    if (got < 8 || memcmp(hdr, FR_SOPT_MAGIC, 8) != 0) {
        st = fr_fail(err, FR_EFORMAT, "%s: not a server optimiser state file (bad magic)", path);
        goto out;
    }
    if (got < sizeof hdr) {
        st = fr_fail(err, FR_EFORMAT, "%s: truncated: %zu bytes, shorter than the header", path,
                     got);
        goto out;
    }
    uint64_t fn = get_le64(hdr + 8);
    int64_t step = (int64_t)get_le64(hdr + 16);
    if (fn != (uint64_t)n) {
        st = fr_fail(err, FR_EINVAL, "%s: holds state for %llu parameters, the model has %zu", path,
                     (unsigned long long)fn, n);
        goto out;
    }
    if (n > ((uint64_t)INT64_MAX - FR_SOPT_HEADER_BYTES - 4) / 8) {
        st = fr_fail(err, FR_ENOMEM, "%s: %zu parameters is too many", path, n);
        goto out;
    }
    uint64_t want = FR_SOPT_HEADER_BYTES + 8 * (uint64_t)n + 4;
    if ((uint64_t)sb.st_size != want) {
        st = fr_fail(err, FR_EFORMAT, "%s: %s: %lld bytes, expected %llu for %zu parameters", path,
                     (uint64_t)sb.st_size < want ? "truncated" : "bytes after the end",
                     (long long)sb.st_size, (unsigned long long)want, n);
        goto out;
    }
    stage = malloc(4 * CHUNK);
    if (!stage) {
        st = fr_fail(err, FR_ENOMEM, "%s: cannot allocate a read buffer", path);
        goto out;
    }
    if ((st = fr_server_opt_init(&next, n, err)) != FR_OK)
        goto out;
    uint32_t crc = fr_modelfile_crc32(0, hdr, sizeof hdr);
    if (read_floats(f, next.m, n, &crc, stage) != 0 ||
        read_floats(f, next.v, n, &crc, stage) != 0 || fread(tail, 1, 4, f) != 4) {
        st = fr_fail(err, FR_EFORMAT, "%s: truncated while reading", path);
        goto out;
    }
    uint32_t stored = (uint32_t)tail[0] | (uint32_t)tail[1] << 8 | (uint32_t)tail[2] << 16 |
                      (uint32_t)tail[3] << 24;
    if (stored != crc) {
        st = fr_fail(err, FR_ECHECKSUM, "%s: checksum mismatch (stored %08x, computed %08x)", path,
                     stored, crc);
        goto out;
    }
    if (step < 0 || step > LONG_MAX) {
        st = fr_fail(err, FR_EFORMAT, "%s: step %lld is out of range", path, (long long)step);
        goto out;
    }
    next.step = (long)step;
    fr_server_opt_free(o);
    *o = next;
    memset(&next, 0, sizeof next);
out:
    if (f)
        fclose(f);
    free(stage);
    fr_server_opt_free(&next);
    return st;
}
