/* An in-process secure-aggregation federation for the tests (test_secagg.c,
 * test_secagg_fed.c): n nodes and a server run every step in turn, with dropouts at the
 * steps asked for, and whole rounds checked against the plain sum of the nodes that
 * finish. */
#ifndef FR_TEST_SECAGG_H
#define FR_TEST_SECAGG_H

#include <math.h>
#include <msgpack.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "secagg/fr_secagg.h"
#include "fr_test.h"

/* ---- an in-process federation ---- */

enum { D_NONE, D_NO_ADVERT, D_NO_SHARES, D_NO_MASKED, D_NO_RESPONSE };

typedef struct fed {
    fr_secagg_params p;
    uint8_t *pks, *sks;   /* identity keys: n x 32, n x 64 */
    fr_secagg_client *cl; /* 1..n */
    fr_secagg_server sv;
    uint32_t *x; /* node u's input at x + u * m */
    int drop[FR_SECAGG_MAX_NODES + 1];
    msgpack_sbuffer list, check, req; /* the coordinator's broadcasts */
    int leaks;         /* coordinates where the coordinator held a plain partial sum */
    int masked_plain;  /* coordinates where a masked input equalled its input */
    int stop_at_check; /* fed_to_unmask stops once U3 is out (in f->check) */
} fed;

/* Node v's identity key pair, the same in every round (as in production). */
static inline void identity(int v, uint8_t pk[32], uint8_t sk[64])
{
    uint8_t seed[crypto_sign_SEEDBYTES] = {(uint8_t)v, 0x5a};
    crypto_sign_seed_keypair(pk, sk, seed);
}

static inline int fed_init(fed *f, int n, int t, uint32_t m, uint32_t round)
{
    memset(f, 0, sizeof *f);
    f->p = (fr_secagg_params){.round = round, .n = n, .t = t, .m = m};
    f->pks = malloc((size_t)n * 32);
    f->sks = malloc((size_t)n * 64);
    f->cl = calloc((size_t)n + 1, sizeof *f->cl);
    f->x = malloc((size_t)(n + 1) * m * sizeof *f->x);
    msgpack_sbuffer_init(&f->list);
    msgpack_sbuffer_init(&f->check);
    msgpack_sbuffer_init(&f->req);
    if (!f->pks || !f->sks || !f->cl || !f->x)
        return 0;
    for (int v = 1; v <= n; v++)
        identity(v, f->pks + (v - 1) * 32, f->sks + (v - 1) * 64);
    randombytes_buf(f->x, (size_t)(n + 1) * m * sizeof *f->x);
    fr_err err = {{0}};
    int ok = 1;
    for (int v = 1; v <= n; v++)
        if (fr_secagg_client_init(&f->cl[v], &f->p, v, f->sks + (v - 1) * 64, f->pks, &err) !=
            FR_OK)
            ok = 0;
    if (fr_secagg_server_init(&f->sv, &f->p, f->pks, &err) != FR_OK)
        ok = 0;
    CHECK(ok, "fed_init: %s", err.msg);
    return ok;
}

static inline void fed_free(fed *f)
{
    if (f->cl)
        for (int v = 1; v <= f->p.n; v++)
            fr_secagg_client_free(&f->cl[v]);
    fr_secagg_server_free(&f->sv);
    msgpack_sbuffer_destroy(&f->list);
    msgpack_sbuffer_destroy(&f->check);
    msgpack_sbuffer_destroy(&f->req);
    free(f->cl);
    free(f->pks);
    free(f->sks);
    free(f->x);
    memset(f, 0, sizeof *f);
}

static inline const uint32_t *input(const fed *f, int u)
{
    return f->x + (size_t)u * f->p.m;
}

/* Every node's first three steps and the consistency check (nodes that drop at the
 * unmasking sign U3 first), the server closing each; then the unmask request in f->req.
 * Returns the first server status that is not FR_OK (a node's failure is a test
 * failure). */
static inline fr_status fed_to_unmask(fed *f, fr_err *err)
{
    const int n = f->p.n;
    const uint32_t m = f->p.m;
    fr_err e = {{0}};
    fr_status st = FR_OK;
    msgpack_sbuffer sb, relay;
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_init(&relay);
    uint32_t *plain = calloc(m, sizeof *plain);
    for (int u = 1; u <= n; u++) {
        if (f->drop[u] == D_NO_ADVERT)
            continue;
        msgpack_sbuffer_clear(&sb);
        CHECK(fr_secagg_client_advertise(&f->cl[u], &sb, &e) == FR_OK, "node %d: %s", u, e.msg);
        CHECK(fr_secagg_server_add_advertise(&f->sv, sb.data, sb.size, &e) == FR_OK, "%s", e.msg);
    }
    if ((st = fr_secagg_server_advertise_list(&f->sv, &f->list, err)) != FR_OK)
        goto out;
    for (int u = 1; u <= n; u++) {
        if (f->drop[u] == D_NO_ADVERT || f->drop[u] == D_NO_SHARES)
            continue;
        msgpack_sbuffer_clear(&sb);
        CHECK(fr_secagg_client_share(&f->cl[u], f->list.data, f->list.size, &sb, &e) == FR_OK,
              "node %d: %s", u, e.msg);
        CHECK(fr_secagg_server_add_shares(&f->sv, sb.data, sb.size, &e) == FR_OK, "%s", e.msg);
    }
    for (int u = 1; u <= n; u++) {
        if (f->drop[u] == D_NO_ADVERT || f->drop[u] == D_NO_SHARES)
            continue;
        msgpack_sbuffer_clear(&relay);
        if ((st = fr_secagg_server_shares_for(&f->sv, u, &relay, err)) != FR_OK)
            goto out;
        msgpack_sbuffer_clear(&sb);
        CHECK(fr_secagg_client_masked_input(&f->cl[u], relay.data, relay.size, input(f, u), &sb,
                                            &e) == FR_OK,
              "node %d: %s", u, e.msg);
        if (f->drop[u] == D_NO_MASKED)
            continue;
        fr_secagg_masked_msg mm;
        CHECK(fr_secagg_masked_decode(sb.data, sb.size, n, m, &mm, &e) == FR_OK, "%s", e.msg);
        for (uint32_t i = 0; i < m; i++) {
            uint32_t y;
            memcpy(&y, mm.y + 4 * (size_t)i, 4); /* the hosts here are little-endian */
            f->masked_plain += y == input(f, u)[i];
        }
        CHECK(fr_secagg_server_add_masked_input(&f->sv, sb.data, sb.size, &e) == FR_OK, "%s",
              e.msg);
        /* what the coordinator holds is never a plain partial sum */
        for (uint32_t i = 0; i < m; i++) {
            plain[i] += input(f, u)[i];
            f->leaks += f->sv.sum[i] == plain[i];
        }
    }
    if ((st = fr_secagg_server_check_request(&f->sv, &f->check, err)) != FR_OK || f->stop_at_check)
        goto out;
    for (int u = 1; u <= n; u++) {
        if (f->drop[u] != D_NONE && f->drop[u] != D_NO_RESPONSE)
            continue;
        msgpack_sbuffer_clear(&sb);
        CHECK(fr_secagg_client_check(&f->cl[u], f->check.data, f->check.size, &sb, &e) == FR_OK,
              "node %d: %s", u, e.msg);
        CHECK(fr_secagg_server_add_check(&f->sv, sb.data, sb.size, &e) == FR_OK, "%s", e.msg);
    }
    st = fr_secagg_server_unmask_request(&f->sv, &f->req, err);
out:
    free(plain);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&relay);
    return st;
}

static inline fr_status fed_finish(fed *f, uint32_t *sum, int *contributors, fr_err *err)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_err e = {{0}};
    for (int u = 1; u <= f->p.n; u++) {
        if (f->drop[u] != D_NONE)
            continue;
        msgpack_sbuffer_clear(&sb);
        CHECK(fr_secagg_client_unmask(&f->cl[u], f->req.data, f->req.size, &sb, &e) == FR_OK,
              "node %d: %s", u, e.msg);
        CHECK(fr_secagg_server_add_unmask_response(&f->sv, sb.data, sb.size, &e) == FR_OK, "%s",
              e.msg);
    }
    msgpack_sbuffer_destroy(&sb);
    return fr_secagg_server_finish(&f->sv, sum, contributors, err);
}

static inline fr_status fed_run(fed *f, uint32_t *sum, int *contributors, fr_err *err)
{
    fr_status st = fed_to_unmask(f, err);
    return st == FR_OK ? fed_finish(f, sum, contributors, err) : st;
}

/* The plain sum over the nodes that reach U3, and their number. */
static inline int expected_sum(const fed *f, uint32_t *want)
{
    int k = 0;
    memset(want, 0, f->p.m * sizeof *want);
    for (int u = 1; u <= f->p.n; u++) {
        if (f->drop[u] != D_NONE && f->drop[u] != D_NO_RESPONSE)
            continue;
        k++;
        for (uint32_t i = 0; i < f->p.m; i++)
            want[i] += input(f, u)[i];
    }
    return k;
}

static inline double uniform(void)
{
    return (double)randombytes_random() / 4294967296.0;
}

/* The nodes' inputs: float vectors of norm 0.3 C to 1.2 C (so some are clipped), encoded
 * at scale. want (m) gets the sum of the clipped floats over the nodes that reach U3. */
static inline void float_inputs(fed *f, double clip, double scale, double *want)
{
    const uint32_t m = f->p.m;
    float *v = malloc(m * sizeof *v);
    fr_err err = {{0}};
    memset(want, 0, m * sizeof *want);
    for (int u = 1; u <= f->p.n; u++) {
        double a = clip * sqrt(3.0 / m) * (0.3 + 0.1 * (u % 10)), sq = 0;
        for (uint32_t i = 0; i < m; i++) {
            v[i] = (float)((uniform() * 2 - 1) * a);
            sq += (double)v[i] * v[i];
        }
        CHECK(fr_secagg_encode(v, m, clip, scale, f->x + (size_t)u * m, NULL, &err) == FR_OK, "%s",
              err.msg);
        if (f->drop[u] != D_NONE && f->drop[u] != D_NO_RESPONSE)
            continue;
        double factor = sqrt(sq) > clip ? clip / sqrt(sq) : 1.0; /* as the encoder clips */
        for (uint32_t i = 0; i < m; i++)
            want[i] += (double)v[i] * factor;
    }
    free(v);
}

/* A full round of encoded float vectors with the drops given. It must complete with the
 * exact sum of the survivors' encoded vectors, which decodes to within k/S of the sum of
 * their clipped floats (plus the float rounding of the result); and no coordinator state
 * or message may hold a plain vector or partial sum. */
static inline void round_completes(int n, int t, uint32_t m, const int *drops, int ndrops,
                                   const char *label)
{
    fed f;
    if (!fed_init(&f, n, t, m, 7))
        goto out;
    for (int i = 0; i < ndrops; i++)
        f.drop[drops[2 * i]] = drops[2 * i + 1];
    const double clip = 1.0;
    double scale = 0;
    fr_err err = {{0}};
    CHECK(fr_secagg_encode_scale(n, clip, &scale, &err) == FR_OK, "%s", err.msg);
    uint32_t *sum = malloc(m * sizeof *sum), *want = malloc(m * sizeof *want);
    double *fwant = malloc(m * sizeof *fwant);
    float *dec = malloc(m * sizeof *dec);
    float_inputs(&f, clip, scale, fwant);
    int contributors = -1;
    fr_status st = fed_run(&f, sum, &contributors, &err);
    CHECK(st == FR_OK, "%s: %s", label, err.msg);
    int k = expected_sum(&f, want);
    CHECK(st != FR_OK || (contributors == k && !memcmp(sum, want, m * sizeof *sum)),
          "%s: the sum over %d survivors is not exact (contributors %d)", label, k, contributors);
    fr_secagg_decode(sum, m, scale, dec);
    double worst = 0;
    for (uint32_t i = 0; i < m; i++) {
        double e = fabs(dec[i] - fwant[i]) - fabs(fwant[i]) * 0x1.0p-24;
        worst = e > worst ? e : worst;
    }
    CHECK(worst < k / scale, "%s: decoded sum off by %g, bound k/S = %g", label, worst, k / scale);
    CHECK(f.leaks <= (int)m / 100, "%s: %d coordinates of a plain partial sum at the server", label,
          f.leaks);
    CHECK(f.masked_plain <= (int)m / 100, "%s: %d coordinates sent unmasked", label,
          f.masked_plain);
    free(sum);
    free(want);
    free(fwant);
    free(dec);
out:
    fed_free(&f);
}

/* A round that must not finish: some step aborts it and nothing is output. */
static inline void round_aborts(int n, int t, const int *drops, int ndrops, const char *label)
{
    fed f;
    const uint32_t m = 64;
    if (!fed_init(&f, n, t, m, 7))
        goto out;
    for (int i = 0; i < ndrops; i++)
        f.drop[drops[2 * i]] = drops[2 * i + 1];
    uint32_t sum[64];
    for (uint32_t i = 0; i < m; i++)
        sum[i] = 0xdeadbeef;
    int contributors = -1;
    fr_err err = {{0}};
    fr_status st = fed_run(&f, sum, &contributors, &err);
    CHECK(st == FR_ENODATA && strstr(err.msg, "aborted") && strstr(err.msg, "threshold"),
          "%s: status %d: %s", label, (int)st, err.msg);
    int untouched = contributors == -1;
    for (uint32_t i = 0; i < m; i++)
        untouched &= sum[i] == 0xdeadbeef;
    CHECK(untouched, "%s: output written by an aborted round", label);
    CHECK(f.sv.stage == FR_SECAGG_SV_ABORTED, "%s: stage %d", label, (int)f.sv.stage);
    CHECK(fr_secagg_server_finish(&f.sv, sum, &contributors, &err) == FR_ENODATA,
          "%s: finish after the abort", label);
out:
    fed_free(&f);
}

#endif
