/* Secure aggregation: the fixed-point encoding and its bounds, Shamir sharing, the share
 * ciphertexts, the messages, and whole rounds run in process — with and without
 * dropouts at every step, and against a coordinator that replays, mixes rounds, forges
 * signatures or asks for both secrets of one node. */
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
    msgpack_sbuffer list, req; /* the coordinator's broadcasts */
    int leaks;                 /* coordinates where the coordinator held a plain partial sum */
    int masked_plain;          /* coordinates where a masked input equalled its input */
} fed;

/* Node v's identity key pair, the same in every round (as in production). */
static void identity(int v, uint8_t pk[32], uint8_t sk[64])
{
    uint8_t seed[crypto_sign_SEEDBYTES] = {(uint8_t)v, 0x5a};
    crypto_sign_seed_keypair(pk, sk, seed);
}

static int fed_init(fed *f, int n, int t, uint32_t m, uint32_t round)
{
    memset(f, 0, sizeof *f);
    f->p = (fr_secagg_params){.round = round, .n = n, .t = t, .m = m};
    f->pks = malloc((size_t)n * 32);
    f->sks = malloc((size_t)n * 64);
    f->cl = calloc((size_t)n + 1, sizeof *f->cl);
    f->x = malloc((size_t)(n + 1) * m * sizeof *f->x);
    msgpack_sbuffer_init(&f->list);
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

static void fed_free(fed *f)
{
    if (f->cl)
        for (int v = 1; v <= f->p.n; v++)
            fr_secagg_client_free(&f->cl[v]);
    fr_secagg_server_free(&f->sv);
    msgpack_sbuffer_destroy(&f->list);
    msgpack_sbuffer_destroy(&f->req);
    free(f->cl);
    free(f->pks);
    free(f->sks);
    free(f->x);
    memset(f, 0, sizeof *f);
}

static const uint32_t *input(const fed *f, int u)
{
    return f->x + (size_t)u * f->p.m;
}

/* Every node's first three steps, the server closing each; then the unmask request in
 * f->req. Returns the first server status that is not FR_OK (a node's failure is a test
 * failure). */
static fr_status fed_to_unmask(fed *f, fr_err *err)
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
    st = fr_secagg_server_unmask_request(&f->sv, &f->req, err);
out:
    free(plain);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&relay);
    return st;
}

static fr_status fed_finish(fed *f, uint32_t *sum, int *contributors, fr_err *err)
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

static fr_status fed_run(fed *f, uint32_t *sum, int *contributors, fr_err *err)
{
    fr_status st = fed_to_unmask(f, err);
    return st == FR_OK ? fed_finish(f, sum, contributors, err) : st;
}

/* The plain sum over the nodes that reach U3, and their number. */
static int expected_sum(const fed *f, uint32_t *want)
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

static double uniform(void)
{
    return (double)randombytes_random() / 4294967296.0;
}

/* The nodes' inputs: float vectors of norm 0.3 C to 1.2 C (so some are clipped), encoded
 * at scale. want (m) gets the sum of the clipped floats over the nodes that reach U3. */
static void float_inputs(fed *f, double clip, double scale, double *want)
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
static void round_completes(int n, int t, uint32_t m, const int *drops, int ndrops,
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
static void round_aborts(int n, int t, const int *drops, int ndrops, const char *label)
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

/* ---- encoding ---- */

static void test_encode(void)
{
    fr_err err = {{0}};
    const int n = 10;
    const size_t m = 1000;
    const double clip = 1.0;
    double s;
    CHECK(fr_secagg_encode_scale(n, clip, &s, &err) == FR_OK, "%s", err.msg);
    float *v = malloc(m * sizeof *v), *dec = malloc(m * sizeof *dec);
    double *want = calloc(m, sizeof *want);
    uint32_t *q = malloc(m * sizeof *q), *sum = calloc(m, sizeof *sum);
    int clipped_nodes = 0;
    for (int u = 0; u < n; u++) {
        double sq = 0;
        for (size_t i = 0; i < m; i++) { /* norm about 0.58 * (u + 1) / 4: some clip */
            v[i] = (float)((uniform() * 2 - 1) * 0.0316 * (u + 1) / 4);
            sq += (double)v[i] * v[i];
        }
        double f = sqrt(sq) > clip ? clip / sqrt(sq) : 1.0;
        int clipped = -1;
        CHECK(fr_secagg_encode(v, m, clip, s, q, &clipped, &err) == FR_OK, "%s", err.msg);
        CHECK(clipped == (sqrt(sq) > clip), "clipped flag");
        clipped_nodes += clipped;
        for (size_t i = 0; i < m; i++) {
            want[i] += (double)v[i] * f;
            sum[i] += q[i];
        }
    }
    CHECK(clipped_nodes > 0 && clipped_nodes < n, "%d of %d nodes clipped", clipped_nodes, n);
    fr_secagg_decode(sum, m, s, dec);
    double worst = 0;
    for (size_t i = 0; i < m; i++) {
        double e = fabs(dec[i] - want[i]) - fabs(want[i]) * 0x1.0p-24;
        worst = e > worst ? e : worst;
    }
    CHECK(worst < n / s, "decoded sum off by %g, bound n/S = %g", worst, n / s);

    /* one large vector clipped to norm C: every coordinate within [-C, C] */
    for (size_t i = 0; i < m; i++)
        v[i] = (float)(i % 3 == 0 ? 5.0 : -0.5);
    CHECK(fr_secagg_encode(v, m, clip, s, q, NULL, &err) == FR_OK, "%s", err.msg);
    fr_secagg_decode(q, m, s, dec);
    double sq = 0, top = 0;
    for (size_t i = 0; i < m; i++) {
        sq += (double)dec[i] * dec[i];
        top = fabs(dec[i]) > top ? fabs(dec[i]) : top;
    }
    CHECK(fabs(sqrt(sq) - clip) < 1e-3 && top <= clip + 1 / s, "clipped norm %g, max %g", sqrt(sq),
          top);

    /* n nodes at the extreme +C (and -C) of one coordinate: no wrap */
    memset(v, 0, m * sizeof *v);
    for (int sign = -1; sign <= 1; sign += 2) {
        memset(sum, 0, m * sizeof *sum);
        v[0] = (float)(sign * clip);
        for (int u = 0; u < n; u++) {
            CHECK(fr_secagg_encode(v, m, clip, s, q, NULL, &err) == FR_OK, "%s", err.msg);
            for (size_t i = 0; i < m; i++)
                sum[i] += q[i];
        }
        fr_secagg_decode(sum, m, s, dec);
        CHECK(fabs(dec[0] - sign * n * clip) <= n / s + 1e-5, "extreme sum %g, want %g",
              (double)dec[0], sign * n * clip);
    }

    /* stochastic rounding is unbiased: a quarter step averages to a quarter */
    for (size_t i = 0; i < m; i++)
        v[i] = (float)(0.25 / s);
    CHECK(fr_secagg_encode(v, m, clip, s, q, NULL, &err) == FR_OK, "%s", err.msg);
    double mean = 0;
    for (size_t i = 0; i < m; i++)
        mean += (int32_t)q[i];
    mean /= (double)m;
    CHECK(fabs(mean - 0.25) < 0.07, "mean of a quarter step %g", mean);

    /* the scale: a power of two, the largest that cannot wrap n coordinates */
    const int ns[] = {1, 3, 50, 255};
    const double clips[] = {1e-3, 0.5, 1, 10, 1e6};
    for (size_t a = 0; a < 4; a++)
        for (size_t b = 0; b < 5; b++) {
            double sc;
            CHECK(fr_secagg_encode_scale(ns[a], clips[b], &sc, &err) == FR_OK, "%s", err.msg);
            int e;
            double mant = frexp(sc, &e);
            CHECK(mant == 0.5, "scale %g is not a power of two", sc);
            CHECK(ns[a] * (clips[b] * sc + 1) <= 2147483647.0, "n %d C %g S %g wraps", ns[a],
                  clips[b], sc);
            CHECK(sc == 0x1.0p30 || ns[a] * (clips[b] * 2 * sc + 1) > 2147483647.0,
                  "n %d C %g: S %g is not the largest", ns[a], clips[b], sc);
        }
    CHECK(fr_secagg_encode_scale(0, 1, &s, &err) == FR_EINVAL, "n = 0");
    CHECK(fr_secagg_encode_scale(3, 0, &s, &err) == FR_EINVAL, "C = 0");
    CHECK(fr_secagg_encode_scale(3, NAN, &s, &err) == FR_EINVAL, "C = NaN");
    CHECK(fr_secagg_encode_scale(3, 1, &s, &err) == FR_OK, "%s", err.msg);
    v[7] = NAN;
    CHECK(fr_secagg_encode(v, m, 1, s, q, NULL, &err) == FR_EINVAL && strstr(err.msg, "7"),
          "NaN coordinate: %s", err.msg);
    CHECK(fr_secagg_encode(v, m, 1, s * 4, q, NULL, &err) == FR_EINVAL, "scale too large");
    free(v);
    free(dec);
    free(want);
    free(q);
    free(sum);
}

/* ---- Shamir ---- */

static void test_shamir(void)
{
    fr_err err = {{0}};
    uint8_t secret[32], out[32], xs[12], shares[12 * 32];
    randombytes_buf(secret, sizeof secret);
    const int k = 12, t = 5;
    for (int i = 0; i < k; i++)
        xs[i] = (uint8_t)(i < 6 ? i + 1 : 244 + i); /* small and large ids */
    CHECK(fr_secagg_shamir_split(secret, t, xs, k, shares, &err) == FR_OK, "%s", err.msg);
    for (int trial = 0; trial < 50; trial++) {
        int pick[12], used = 0;
        int size = trial < 40 ? t : t + trial % 5; /* t, and more than t */
        uint8_t px[12];
        const uint8_t *ps[12];
        while (used < size) {
            int j = (int)randombytes_uniform((uint32_t)k), dup = 0;
            for (int q = 0; q < used; q++)
                dup |= pick[q] == j;
            if (!dup)
                pick[used++] = j;
        }
        for (int q = 0; q < size; q++) {
            px[q] = xs[pick[q]];
            ps[q] = shares + 32 * pick[q];
        }
        CHECK(fr_secagg_shamir_combine(px, ps, size, out, &err) == FR_OK, "%s", err.msg);
        CHECK(!memcmp(out, secret, 32), "trial %d: %d shares do not give the secret", trial, size);
        CHECK(fr_secagg_shamir_combine(px, ps, t - 1, out, &err) == FR_OK, "%s", err.msg);
        CHECK(memcmp(out, secret, 32) != 0, "trial %d: t - 1 shares gave the secret", trial);
    }
    /* a threshold of 1: every share is the secret */
    CHECK(fr_secagg_shamir_split(secret, 1, xs, 3, shares, &err) == FR_OK, "%s", err.msg);
    CHECK(!memcmp(shares + 64, secret, 32), "t = 1");
    uint8_t dx[3] = {4, 9, 4};
    const uint8_t *ds[3] = {shares, shares + 32, shares + 64};
    CHECK(fr_secagg_shamir_combine(dx, ds, 3, out, &err) == FR_EINVAL && strstr(err.msg, "x = 4"),
          "duplicate x: %s", err.msg);
    dx[2] = 0;
    CHECK(fr_secagg_shamir_combine(dx, ds, 3, out, &err) == FR_EINVAL, "x = 0");
    CHECK(fr_secagg_shamir_split(secret, 1, dx, 3, shares, &err) == FR_EINVAL, "split x = 0");
    CHECK(fr_secagg_shamir_split(secret, 4, xs, 3, shares, &err) == FR_EINVAL, "t > k");
}

/* ---- ciphertexts and keys ---- */

static void test_seal(void)
{
    fr_err err = {{0}};
    uint8_t key[32], ct[FR_SECAGG_CT_BYTES], s[32], b[32], s2[32], b2[32];
    randombytes_buf(key, 32);
    randombytes_buf(s, 32);
    randombytes_buf(b, 32);
    fr_secagg_seal(ct, key, 9, 3, 5, s, b);
    CHECK(fr_secagg_open(ct, key, 9, 3, 5, s2, b2, &err) == FR_OK, "%s", err.msg);
    CHECK(!memcmp(s, s2, 32) && !memcmp(b, b2, 32), "shares round-trip");
    /* the same key in the next round, the other direction, another pair: refused */
    CHECK(fr_secagg_open(ct, key, 10, 3, 5, s2, b2, &err) == FR_EINVAL &&
              strstr(err.msg, "do not decrypt"),
          "next round: %s", err.msg);
    CHECK(fr_secagg_open(ct, key, 9, 5, 3, s2, b2, &err) == FR_EINVAL, "reversed");
    CHECK(fr_secagg_open(ct, key, 9, 3, 6, s2, b2, &err) == FR_EINVAL, "another recipient");
    ct[FR_SECAGG_CT_BYTES - 20] ^= 1;
    CHECK(fr_secagg_open(ct, key, 9, 3, 5, s2, b2, &err) == FR_EINVAL, "altered");

    /* both ends derive the same key; purposes and rounds differ */
    uint8_t ska[32], pka[32], skb[32], pkb[32], k1[32], k2[32], k3[32], k4[32];
    randombytes_buf(ska, 32);
    randombytes_buf(skb, 32);
    crypto_scalarmult_base(pka, ska);
    crypto_scalarmult_base(pkb, skb);
    CHECK(fr_secagg_shared_key(k1, FR_SECAGG_KEY_MASK, 4, 2, ska, pka, 7, pkb, &err) == FR_OK &&
              fr_secagg_shared_key(k2, FR_SECAGG_KEY_MASK, 4, 7, skb, pkb, 2, pka, &err) == FR_OK &&
              fr_secagg_shared_key(k3, FR_SECAGG_KEY_ENC, 4, 2, ska, pka, 7, pkb, &err) == FR_OK &&
              fr_secagg_shared_key(k4, FR_SECAGG_KEY_MASK, 5, 2, ska, pka, 7, pkb, &err) == FR_OK,
          "%s", err.msg);
    CHECK(!memcmp(k1, k2, 32) && memcmp(k1, k3, 32) && memcmp(k1, k4, 32), "shared keys");
    uint8_t zero[32] = {0};
    CHECK(fr_secagg_shared_key(k1, FR_SECAGG_KEY_ENC, 4, 2, ska, pka, 7, zero, &err) == FR_EINVAL,
          "low-order key");

    /* masks: +PRG then -PRG is nothing; self and pair streams differ */
    uint32_t y[3000] = {0}, z[3000] = {0};
    fr_secagg_mask_add(y, 3000, k1, FR_SECAGG_PRG_PAIR, 4, 0);
    fr_secagg_mask_add(z, 3000, k1, FR_SECAGG_PRG_SELF, 4, 0);
    int same = 0;
    for (int i = 0; i < 3000; i++)
        same += y[i] == z[i];
    CHECK(same < 5, "self and pair masks agree at %d coordinates", same);
    fr_secagg_mask_add(y, 3000, k1, FR_SECAGG_PRG_PAIR, 4, 1);
    CHECK(!memcmp(y, (uint32_t[3000]){0}, sizeof y), "a mask and its negation cancel");
}

/* ---- messages ---- */

/* Every proper prefix of a body must be refused (and read nothing outside it). */
static int prefixes_refused(const msgpack_sbuffer *sb,
                            fr_status (*dec)(const void *, size_t, int, void *, fr_err *), int n)
{
    void *m = malloc(sizeof(fr_secagg_adverts_msg) + sizeof(fr_secagg_unmask_resp_msg));
    int ok = 1;
    for (size_t len = 0; len < sb->size; len++) {
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, sb->data, len);
        fr_err err = {{0}};
        ok &= dec(copy, len, n, m, &err) != FR_OK;
        free(copy);
    }
    free(m);
    return ok;
}

#define DEC(fn, type)                                                                              \
    static fr_status fn##_any(const void *b, size_t l, int n, void *m, fr_err *e)                  \
    {                                                                                              \
        return fn(b, l, n, (type *)m, e);                                                          \
    }
DEC(fr_secagg_advertise_decode, fr_secagg_advertise_msg)
DEC(fr_secagg_adverts_decode, fr_secagg_adverts_msg)
DEC(fr_secagg_shares_decode, fr_secagg_shares_msg)
DEC(fr_secagg_relay_decode, fr_secagg_shares_msg)
DEC(fr_secagg_unmask_req_decode, fr_secagg_unmask_req_msg)
DEC(fr_secagg_unmask_resp_decode, fr_secagg_unmask_resp_msg)

static void test_messages(void)
{
    fr_err err = {{0}};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    uint8_t c[32], s[32], sig[64], ct[FR_SECAGG_CT_BYTES], share[32];
    randombytes_buf(c, 32);
    randombytes_buf(s, 32);
    randombytes_buf(sig, 64);
    randombytes_buf(ct, sizeof ct);
    randombytes_buf(share, 32);

    fr_secagg_advertise_msg a = {.round = 3, .a = {2, c, s, sig}}, a2;
    fr_secagg_advertise_encode(&a, &sb);
    CHECK(fr_secagg_advertise_decode(sb.data, sb.size, 5, &a2, &err) == FR_OK, "%s", err.msg);
    CHECK(a2.round == 3 && a2.a.id == 2 && !memcmp(a2.a.sig, sig, 64), "advertise fields");
    CHECK(fr_secagg_advertise_decode(sb.data, sb.size, 1, &a2, &err) == FR_EFORMAT &&
              strstr(err.msg, "from"),
          "id above n: %s", err.msg);
    CHECK(prefixes_refused(&sb, fr_secagg_advertise_decode_any, 5), "advertise prefixes");

    fr_secagg_adverts_msg *al = calloc(1, sizeof *al), *al2 = malloc(sizeof *al2);
    al->round = 3;
    al->count = 3;
    for (int i = 0; i < 3; i++)
        al->e[i] = (fr_secagg_advert){i + 1, c, s, sig};
    msgpack_sbuffer_clear(&sb);
    fr_secagg_adverts_encode(al, &sb);
    CHECK(fr_secagg_adverts_decode(sb.data, sb.size, 3, al2, &err) == FR_OK, "%s", err.msg);
    CHECK(al2->count == 3 && al2->e[2].id == 3, "advert list fields");
    CHECK(fr_secagg_adverts_decode(sb.data, sb.size, 2, al2, &err) == FR_EFORMAT &&
              strstr(err.msg, "3 entries, the round has 2"),
          "a list longer than n: %s", err.msg);
    CHECK(prefixes_refused(&sb, fr_secagg_adverts_decode_any, 3), "advert list prefixes");
    al->e[2].id = 2; /* the same node twice */
    msgpack_sbuffer_clear(&sb);
    fr_secagg_adverts_encode(al, &sb);
    CHECK(fr_secagg_adverts_decode(sb.data, sb.size, 3, al2, &err) == FR_EFORMAT &&
              strstr(err.msg, "node 2 after node 2"),
          "repeated id: %s", err.msg);

    fr_secagg_shares_msg sm = {.round = 3, .node = 1, .count = 2}, sm2;
    sm.e[0] = (fr_secagg_ct_entry){2, ct};
    sm.e[1] = (fr_secagg_ct_entry){3, ct};
    msgpack_sbuffer_clear(&sb);
    fr_secagg_shares_encode(&sm, &sb);
    CHECK(fr_secagg_shares_decode(sb.data, sb.size, 3, &sm2, &err) == FR_OK, "%s", err.msg);
    CHECK(sm2.node == 1 && sm2.count == 2 && sm2.e[1].peer == 3 && !memcmp(sm2.e[1].ct, ct, 8),
          "shares fields");
    CHECK(fr_secagg_relay_decode(sb.data, sb.size, 3, &sm2, &err) == FR_EFORMAT,
          "shares read as a relay");
    CHECK(prefixes_refused(&sb, fr_secagg_shares_decode_any, 3), "shares prefixes");
    msgpack_sbuffer_clear(&sb);
    fr_secagg_relay_encode(&sm, &sb);
    CHECK(fr_secagg_relay_decode(sb.data, sb.size, 3, &sm2, &err) == FR_OK, "%s", err.msg);
    CHECK(prefixes_refused(&sb, fr_secagg_relay_decode_any, 3), "relay prefixes");

    uint32_t vals[5] = {1, 0xffffffffu, 3, 0x01020304u, 5};
    fr_secagg_masked_msg mm = {.round = 3, .from = 2, .m = 5, .values = vals}, mm2;
    msgpack_sbuffer_clear(&sb);
    fr_secagg_masked_encode(&mm, &sb);
    CHECK(fr_secagg_masked_decode(sb.data, sb.size, 3, 5, &mm2, &err) == FR_OK, "%s", err.msg);
    CHECK(mm2.y[12] == 4 && mm2.y[15] == 1 && mm2.y[4] == 0xff, "masked input little-endian");
    CHECK(fr_secagg_masked_decode(sb.data, sb.size, 3, 6, &mm2, &err) == FR_EFORMAT &&
              strstr(err.msg, "20 bytes, must be 24"),
          "another vector length: %s", err.msg);
    for (size_t len = 0; len < sb.size; len++)
        CHECK(fr_secagg_masked_decode(sb.data, len, 3, 5, &mm2, &err) != FR_OK, "prefix %zu", len);

    fr_secagg_unmask_req_msg rq = {.round = 3,
                                   .n_survivors = 2,
                                   .n_dropped = 1,
                                   .survivors = {1, 3},
                                   .dropped = {2}},
                             rq2;
    msgpack_sbuffer_clear(&sb);
    fr_secagg_unmask_req_encode(&rq, &sb);
    CHECK(fr_secagg_unmask_req_decode(sb.data, sb.size, 3, &rq2, &err) == FR_OK, "%s", err.msg);
    CHECK(rq2.n_survivors == 2 && rq2.survivors[1] == 3 && rq2.dropped[0] == 2, "request fields");
    CHECK(prefixes_refused(&sb, fr_secagg_unmask_req_decode_any, 3), "request prefixes");

    fr_secagg_unmask_resp_msg *rp = calloc(1, sizeof *rp), *rp2 = malloc(sizeof *rp2);
    rp->round = 3;
    rp->from = 1;
    rp->count = 2;
    rp->e[0] = (fr_secagg_share_entry){1, FR_SECAGG_SHARE_B, share};
    rp->e[1] = (fr_secagg_share_entry){2, FR_SECAGG_SHARE_SK, share};
    msgpack_sbuffer_clear(&sb);
    fr_secagg_unmask_resp_encode(rp, &sb);
    CHECK(fr_secagg_unmask_resp_decode(sb.data, sb.size, 3, rp2, &err) == FR_OK, "%s", err.msg);
    CHECK(rp2->count == 2 && rp2->e[1].kind == FR_SECAGG_SHARE_SK, "response fields");
    CHECK(prefixes_refused(&sb, fr_secagg_unmask_resp_decode_any, 3), "response prefixes");
    rp->e[1].kind = 3;
    msgpack_sbuffer_clear(&sb);
    fr_secagg_unmask_resp_encode(rp, &sb);
    CHECK(fr_secagg_unmask_resp_decode(sb.data, sb.size, 3, rp2, &err) == FR_EFORMAT,
          "share kind 3");

    /* hand-made bodies: another version, an unknown key, a short key, a huge count */
    msgpack_packer pk;
    msgpack_sbuffer_clear(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str(&pk, 1);
    msgpack_pack_str_body(&pk, "v", 1);
    msgpack_pack_int(&pk, 2);
    msgpack_pack_str(&pk, 5);
    msgpack_pack_str_body(&pk, "round", 5);
    msgpack_pack_int(&pk, 3);
    CHECK(fr_secagg_advertise_decode(sb.data, sb.size, 3, &a2, &err) == FR_EVERSION,
          "version 2: %s", err.msg);
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str(&pk, 4);
    msgpack_pack_str_body(&pk, "node", 4);
    msgpack_pack_int(&pk, 1);
    CHECK(fr_secagg_advertise_decode(sb.data, sb.size, 3, &a2, &err) == FR_EFORMAT &&
              strstr(err.msg, "unknown key"),
          "unknown key: %s", err.msg);
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str(&pk, 4);
    msgpack_pack_str_body(&pk, "c_pk", 4);
    msgpack_pack_bin(&pk, 31);
    msgpack_pack_bin_body(&pk, c, 31);
    CHECK(fr_secagg_advertise_decode(sb.data, sb.size, 3, &a2, &err) == FR_EFORMAT &&
              strstr(err.msg, "31 bytes, must be 32"),
          "short key: %s", err.msg);
    /* an array head claiming 2^32 - 1 entries in a few bytes: refused before walking */
    uint8_t huge[] = {0x81, 0xa7, 'a', 'd', 'v', 'e', 'r', 't', 's', 0xdd, 0xff, 0xff, 0xff, 0xff};
    CHECK(fr_secagg_adverts_decode(huge, sizeof huge, 255, al2, &err) == FR_EFORMAT &&
              strstr(err.msg, "4294967295 entries"),
          "huge count: %s", err.msg);
    free(al);
    free(al2);
    free(rp);
    free(rp2);
    msgpack_sbuffer_destroy(&sb);
}

/* ---- whole rounds ---- */

static void test_no_dropouts(void)
{
    round_completes(3, 2, 100000, NULL, 0, "n = 3");
    round_completes(10, 6, 5000, NULL, 0, "n = 10");
    round_completes(50, 26, 2000, NULL, 0, "n = 50");
}

static void test_dropouts(void)
{
    /* one of each kind, n - t = 4 in all */
    const int mixed[] = {2, D_NO_ADVERT, 4, D_NO_SHARES, 5, D_NO_MASKED, 9, D_NO_RESPONSE};
    round_completes(10, 6, 3000, mixed, 4, "mixed dropouts");
    const int after_advert[] = {1, D_NO_SHARES, 3, D_NO_SHARES, 7, D_NO_SHARES, 10, D_NO_SHARES};
    round_completes(10, 6, 3000, after_advert, 4, "dropouts after advertising");
    /* their pairwise masks are in every survivor's input: removed through s_sk */
    const int after_share[] = {1, D_NO_MASKED, 2, D_NO_MASKED, 6, D_NO_MASKED, 10, D_NO_MASKED};
    round_completes(10, 6, 3000, after_share, 4, "dropouts after sharing");
    const int after_masked[] = {3, D_NO_RESPONSE, 4, D_NO_RESPONSE,
                                5, D_NO_RESPONSE, 8, D_NO_RESPONSE};
    round_completes(10, 6, 3000, after_masked, 4, "dropouts after the masked input");
    const int two[] = {1, D_NO_MASKED};
    round_completes(3, 2, 20000, two, 1, "n = 3, one dropout after sharing");
    int many[48];
    for (int i = 0; i < 24; i++) { /* 50 nodes, 24 drop, 6 at each step */
        many[2 * i] = 2 * i + 2;
        many[2 * i + 1] = D_NO_ADVERT + i % 4;
    }
    round_completes(50, 26, 500, many, 24, "n = 50, 24 dropouts");
}

static void test_too_many_dropouts(void)
{
    const int adv[] = {1,           D_NO_ADVERT, 2,           D_NO_ADVERT, 3,
                       D_NO_ADVERT, 4,           D_NO_ADVERT, 5,           D_NO_ADVERT};
    round_aborts(10, 6, adv, 5, "5 never advertise");
    const int sh[] = {1,           D_NO_SHARES, 2,           D_NO_SHARES, 3,
                      D_NO_ADVERT, 4,           D_NO_SHARES, 5,           D_NO_SHARES};
    round_aborts(10, 6, sh, 5, "5 send no shares");
    const int mk[] = {6,           D_NO_MASKED, 7,           D_NO_MASKED, 8,
                      D_NO_SHARES, 9,           D_NO_MASKED, 10,          D_NO_MASKED};
    round_aborts(10, 6, mk, 5, "5 send no masked input");
    const int rs[] = {1, D_NO_RESPONSE, 2, D_NO_MASKED,  3, D_NO_RESPONSE,
                      4, D_NO_SHARES,   5, D_NO_RESPONSE};
    round_aborts(10, 6, rs, 5, "5 missing by the unmasking");
    const int three[] = {1, D_NO_RESPONSE, 2, D_NO_RESPONSE};
    round_aborts(3, 2, three, 2, "n = 3, 2 give no response");
}

/* A round of 5 nodes (t = 3) with node 5 dropped after sharing, stopped at the unmask
 * request; f->req is the honest one. */
static int five_at_unmask(fed *f)
{
    if (!fed_init(f, 5, 3, 256, 21))
        return 0;
    f->drop[5] = D_NO_MASKED;
    fr_err err = {{0}};
    fr_status st = fed_to_unmask(f, &err);
    CHECK(st == FR_OK, "%s", err.msg);
    return st == FR_OK;
}

static void request(msgpack_sbuffer *sb, uint32_t round, const uint8_t *surv, int ns,
                    const uint8_t *drop, int nd)
{
    fr_secagg_unmask_req_msg m = {.round = round, .n_survivors = ns, .n_dropped = nd};
    memcpy(m.survivors, surv, (size_t)ns);
    memcpy(m.dropped, drop, (size_t)nd);
    msgpack_sbuffer_clear(sb);
    fr_secagg_unmask_req_encode(&m, sb);
}

static void test_bad_unmask_requests(void)
{
    fed f;
    msgpack_sbuffer req, out, out2;
    msgpack_sbuffer_init(&req);
    msgpack_sbuffer_init(&out);
    msgpack_sbuffer_init(&out2);
    fr_err err = {{0}};
    if (!five_at_unmask(&f))
        goto out;
    const uint8_t all4[] = {1, 2, 3, 4}, d5[] = {5}, d45[] = {4, 5}, s12[] = {1, 2},
                  d345[] = {3, 4, 5}, s123[] = {1, 2, 3};

    /* node 4 both a survivor and dropped: node 1 would give b_4 and s_sk_4 */
    request(&req, 21, all4, 4, d45, 2);
    CHECK(fr_secagg_client_unmask(&f.cl[1], req.data, req.size, &out, &err) == FR_EINVAL &&
              strstr(err.msg, "node 4 is both"),
          "both: %s", err.msg);
    CHECK(out.size == 0, "a refused request produced output");
    /* and it gives up the round: the honest request now gets nothing either */
    CHECK(fr_secagg_client_unmask(&f.cl[1], f.req.data, f.req.size, &out, &err) == FR_EINVAL &&
              strstr(err.msg, "given up"),
          "after refusing: %s", err.msg);

    /* fewer than t survivors */
    request(&req, 21, s12, 2, d345, 3);
    CHECK(fr_secagg_client_unmask(&f.cl[2], req.data, req.size, &out, &err) == FR_EINVAL &&
              strstr(err.msg, "below the threshold"),
          "U3 < t: %s", err.msg);

    /* another round's request is refused without giving up */
    request(&req, 22, all4, 4, d5, 1);
    CHECK(fr_secagg_client_unmask(&f.cl[3], req.data, req.size, &out, &err) == FR_EINVAL &&
              strstr(err.msg, "of round 22"),
          "another round: %s", err.msg);
    /* the honest request, twice: the same answer */
    CHECK(fr_secagg_client_unmask(&f.cl[3], f.req.data, f.req.size, &out, &err) == FR_OK, "%s",
          err.msg);
    CHECK(fr_secagg_client_unmask(&f.cl[3], f.req.data, f.req.size, &out2, &err) == FR_OK &&
              out.size == out2.size && !memcmp(out.data, out2.data, out.size),
          "the same request again: %s", err.msg);
    /* then a different one: node 4 now "dropped" would reveal s_sk_4 beside b_4 */
    msgpack_sbuffer_clear(&out2);
    request(&req, 21, s123, 3, d45, 2);
    CHECK(fr_secagg_client_unmask(&f.cl[3], req.data, req.size, &out2, &err) == FR_EINVAL &&
              strstr(err.msg, "differs"),
          "a second, different request: %s", err.msg);
    CHECK(out2.size == 0, "a refused request produced output");

    /* a request that leaves out a node of U2, and one that counts the node as dropped */
    request(&req, 21, all4, 4, d5, 0);
    CHECK(fr_secagg_client_unmask(&f.cl[4], req.data, req.size, &out, &err) == FR_EINVAL &&
              strstr(err.msg, "leaves out node 5"),
          "partial split: %s", err.msg);

    /* the coordinator refuses a response with the wrong kind, a replay, and a non-survivor */
    fr_secagg_server *sv = &f.sv;
    CHECK(fr_secagg_server_add_unmask_response(sv, out.data, out.size, &err) == FR_OK, "%s",
          err.msg);
    CHECK(fr_secagg_server_add_unmask_response(sv, out.data, out.size, &err) == FR_EINVAL &&
              strstr(err.msg, "second"),
          "replayed response: %s", err.msg);
    fr_secagg_unmask_resp_msg *rm = malloc(sizeof *rm);
    CHECK(fr_secagg_unmask_resp_decode(out.data, out.size, 5, rm, &err) == FR_OK, "%s", err.msg);
    rm->from = 2;
    rm->e[4].kind = FR_SECAGG_SHARE_B; /* node 5 dropped: b_5 is not to be given */
    msgpack_sbuffer_clear(&out2);
    fr_secagg_unmask_resp_encode(rm, &out2);
    CHECK(fr_secagg_server_add_unmask_response(sv, out2.data, out2.size, &err) == FR_EINVAL &&
              strstr(err.msg, "node 5, which dropped"),
          "wrong kind: %s", err.msg);
    rm->from = 5;
    rm->e[4].kind = FR_SECAGG_SHARE_SK;
    msgpack_sbuffer_clear(&out2);
    fr_secagg_unmask_resp_encode(rm, &out2);
    CHECK(fr_secagg_server_add_unmask_response(sv, out2.data, out2.size, &err) == FR_EINVAL &&
              strstr(err.msg, "not in U3"),
          "a dropped node answers: %s", err.msg);
    free(rm);
out:
    msgpack_sbuffer_destroy(&req);
    msgpack_sbuffer_destroy(&out);
    msgpack_sbuffer_destroy(&out2);
    fed_free(&f);
}

static void test_rounds_and_replays(void)
{
    fed f, g;
    memset(&g, 0, sizeof g);
    msgpack_sbuffer sb, adv, old_shares, relay;
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_init(&adv);
    msgpack_sbuffer_init(&old_shares);
    msgpack_sbuffer_init(&relay);
    fr_err err = {{0}};
    if (!fed_init(&f, 4, 3, 128, 30) || !fed_init(&g, 4, 3, 128, 31))
        goto out;

    /* round 30: advertisements; a replay, another round's and a forged one are refused */
    for (int u = 1; u <= 4; u++) {
        msgpack_sbuffer_clear(&adv);
        CHECK(fr_secagg_client_advertise(&f.cl[u], &adv, &err) == FR_OK, "%s", err.msg);
        CHECK(fr_secagg_server_add_advertise(&f.sv, adv.data, adv.size, &err) == FR_OK, "%s",
              err.msg);
    }
    CHECK(fr_secagg_server_add_advertise(&f.sv, adv.data, adv.size, &err) == FR_EINVAL &&
              strstr(err.msg, "second advertisement from node 4"),
          "replayed advertise: %s", err.msg);
    CHECK(fr_secagg_client_advertise(&f.cl[4], &sb, &err) == FR_EINVAL &&
              strstr(err.msg, "out of order"),
          "advertising twice: %s", err.msg);
    fr_secagg_advertise_msg am;
    CHECK(fr_secagg_advertise_decode(adv.data, adv.size, 4, &am, &err) == FR_OK, "%s", err.msg);
    uint8_t sig[64];
    am.round = 31;
    msgpack_sbuffer_clear(&sb);
    fr_secagg_advertise_encode(&am, &sb);
    CHECK(fr_secagg_server_add_advertise(&g.sv, sb.data, sb.size, &err) == FR_EINVAL &&
              strstr(err.msg, "not signed"),
          "a round-30 advertisement relabelled 31: %s", err.msg);
    /* a validly signed low-order key is refused at the door */
    uint8_t zero[32] = {0};
    fr_secagg_advert_sign(sig, g.sks + 3 * 64, 31, 4, zero, zero);
    am.a.c_pk = am.a.s_pk = zero;
    am.a.sig = sig;
    msgpack_sbuffer_clear(&sb);
    fr_secagg_advertise_encode(&am, &sb);
    CHECK(fr_secagg_server_add_advertise(&g.sv, sb.data, sb.size, &err) == FR_EINVAL &&
              strstr(err.msg, "low-order"),
          "low-order key: %s", err.msg);
    CHECK(fr_secagg_server_add_advertise(&g.sv, adv.data, adv.size, &err) == FR_EINVAL &&
              strstr(err.msg, "of round 30"),
          "a round-30 advertisement in round 31: %s", err.msg);

    CHECK(fr_secagg_server_advertise_list(&f.sv, &f.list, &err) == FR_OK, "%s", err.msg);
    /* the list of another round: refused without giving up */
    msgpack_sbuffer_clear(&sb);
    CHECK(fr_secagg_client_share(&g.cl[1], f.list.data, f.list.size, &sb, &err) == FR_EINVAL,
          "share before advertising");
    CHECK(fr_secagg_client_advertise(&g.cl[1], &sb, &err) == FR_OK, "%s", err.msg);
    msgpack_sbuffer_clear(&sb);
    CHECK(fr_secagg_client_share(&g.cl[1], f.list.data, f.list.size, &sb, &err) == FR_EINVAL &&
              strstr(err.msg, "of round 30"),
          "a list from another round: %s", err.msg);
    CHECK(g.cl[1].stage == FR_SECAGG_CL_ADVERTISED, "gave up over a stale list");

    /* a list with one bad signature: node 1 refuses the round */
    fr_secagg_adverts_msg *al = malloc(sizeof *al);
    CHECK(fr_secagg_adverts_decode(f.list.data, f.list.size, 4, al, &err) == FR_OK, "%s", err.msg);
    uint8_t bad_sig[64], other_key[32];
    memcpy(bad_sig, al->e[2].sig, 64);
    bad_sig[10] ^= 0x40;
    const uint8_t *good_sig = al->e[2].sig;
    al->e[2].sig = bad_sig;
    msgpack_sbuffer_clear(&sb);
    fr_secagg_adverts_encode(al, &sb);
    msgpack_sbuffer_clear(&relay);
    CHECK(fr_secagg_client_share(&f.cl[1], sb.data, sb.size, &relay, &err) == FR_EINVAL &&
              strstr(err.msg, "node 3's advertised keys are not signed"),
          "bad signature: %s", err.msg);
    CHECK(f.cl[1].stage == FR_SECAGG_CL_REFUSED && relay.size == 0, "node 1 went on");
    CHECK(fr_secagg_client_share(&f.cl[1], f.list.data, f.list.size, &relay, &err) == FR_EINVAL,
          "a refused round resumed");
    /* a substituted key under the genuine signature: node 2 refuses too */
    al->e[2].sig = good_sig;
    randombytes_buf(other_key, 32);
    al->e[2].s_pk = other_key;
    msgpack_sbuffer_clear(&sb);
    fr_secagg_adverts_encode(al, &sb);
    CHECK(fr_secagg_client_share(&f.cl[2], sb.data, sb.size, &relay, &err) == FR_EINVAL &&
              strstr(err.msg, "not signed"),
          "substituted key: %s", err.msg);
    free(al);

    /* nodes 3 and 4 go on; node 4's round-30 shares are kept */
    for (int u = 3; u <= 4; u++) {
        msgpack_sbuffer_clear(&sb);
        CHECK(fr_secagg_client_share(&f.cl[u], f.list.data, f.list.size, &sb, &err) == FR_OK, "%s",
              err.msg);
        CHECK(fr_secagg_server_add_shares(&f.sv, sb.data, sb.size, &err) == FR_OK, "%s", err.msg);
    }
    msgpack_sbuffer_write(&old_shares, sb.data, sb.size);
    CHECK(fr_secagg_server_add_shares(&f.sv, sb.data, sb.size, &err) == FR_EINVAL &&
              strstr(err.msg, "second shares from node 4"),
          "replayed shares: %s", err.msg);

    /* round 31: every node advertises and shares, but node 4's shares are replaced by its
     * round-30 ciphertexts under a round-31 head; the coordinator cannot tell, node 1
     * cannot open them (a fresh round 31: node 1 of the first one already advertised) */
    fed_free(&g);
    if (!fed_init(&g, 4, 3, 128, 31))
        goto out;
    for (int u = 1; u <= 4; u++) {
        msgpack_sbuffer_clear(&sb);
        CHECK(fr_secagg_client_advertise(&g.cl[u], &sb, &err) == FR_OK, "%s", err.msg);
        CHECK(fr_secagg_server_add_advertise(&g.sv, sb.data, sb.size, &err) == FR_OK, "%s",
              err.msg);
    }
    CHECK(fr_secagg_server_advertise_list(&g.sv, &g.list, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_secagg_server_add_shares(&g.sv, old_shares.data, old_shares.size, &err) == FR_EINVAL &&
              strstr(err.msg, "of round 30"),
          "round-30 shares in round 31: %s", err.msg);
    for (int u = 1; u <= 3; u++) {
        msgpack_sbuffer_clear(&sb);
        CHECK(fr_secagg_client_share(&g.cl[u], g.list.data, g.list.size, &sb, &err) == FR_OK, "%s",
              err.msg);
        CHECK(fr_secagg_server_add_shares(&g.sv, sb.data, sb.size, &err) == FR_OK, "%s", err.msg);
    }
    msgpack_sbuffer_clear(&sb);
    CHECK(fr_secagg_client_share(&g.cl[4], g.list.data, g.list.size, &sb, &err) == FR_OK, "%s",
          err.msg);
    fr_secagg_shares_msg *sm = malloc(sizeof *sm);
    CHECK(fr_secagg_shares_decode(old_shares.data, old_shares.size, 4, sm, &err) == FR_OK, "%s",
          err.msg);
    sm->round = 31;
    msgpack_sbuffer_clear(&sb);
    fr_secagg_shares_encode(sm, &sb);
    free(sm);
    CHECK(fr_secagg_server_add_shares(&g.sv, sb.data, sb.size, &err) == FR_OK, "%s", err.msg);
    msgpack_sbuffer_clear(&relay);
    CHECK(fr_secagg_server_shares_for(&g.sv, 1, &relay, &err) == FR_OK, "%s", err.msg);
    msgpack_sbuffer_clear(&sb);
    CHECK(fr_secagg_client_masked_input(&g.cl[1], relay.data, relay.size, g.x + 128, &sb, &err) ==
                  FR_EINVAL &&
              strstr(err.msg, "from node 4 to node 1 do not decrypt"),
          "round-30 ciphertext in round 31: %s", err.msg);
    CHECK(sb.size == 0 && g.cl[1].stage == FR_SECAGG_CL_REFUSED, "node 1 sent a masked input");

    /* masked inputs: another round's refused, a replay refused */
    msgpack_sbuffer_clear(&relay);
    CHECK(fr_secagg_server_shares_for(&g.sv, 2, &relay, &err) == FR_OK, "%s", err.msg);
    msgpack_sbuffer_clear(&sb);
    CHECK(fr_secagg_client_masked_input(&g.cl[3], relay.data, relay.size, g.x + 384, &sb, &err) ==
                  FR_EINVAL &&
              strstr(err.msg, "a relay for node 2") && g.cl[3].stage == FR_SECAGG_CL_SHARED,
          "node 2's relay at node 3: %s", err.msg);
    CHECK(fr_secagg_client_masked_input(&g.cl[2], relay.data, relay.size, g.x + 256, &sb, &err) ==
              FR_EINVAL,
          "node 2 opened a round-30 ciphertext");
    uint32_t vals[128] = {0};
    fr_secagg_masked_msg mm = {.round = 30, .from = 3, .m = 128, .values = vals};
    msgpack_sbuffer_clear(&sb);
    fr_secagg_masked_encode(&mm, &sb);
    CHECK(fr_secagg_server_add_masked_input(&g.sv, sb.data, sb.size, &err) == FR_EINVAL &&
              strstr(err.msg, "of round 30"),
          "a masked input of another round: %s", err.msg);
    mm.round = 31;
    msgpack_sbuffer_clear(&sb);
    fr_secagg_masked_encode(&mm, &sb);
    CHECK(fr_secagg_server_add_masked_input(&g.sv, sb.data, sb.size, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_secagg_server_add_masked_input(&g.sv, sb.data, sb.size, &err) == FR_EINVAL &&
              strstr(err.msg, "second masked input"),
          "replayed masked input: %s", err.msg);
    mm.m = 127;
    msgpack_sbuffer_clear(&sb);
    fr_secagg_masked_encode(&mm, &sb);
    CHECK(fr_secagg_server_add_masked_input(&g.sv, sb.data, sb.size, &err) == FR_EFORMAT,
          "a vector of another length");
out:
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&adv);
    msgpack_sbuffer_destroy(&old_shares);
    msgpack_sbuffer_destroy(&relay);
    fed_free(&f);
    fed_free(&g);
}

static void test_setup_checks(void)
{
    fr_err err = {{0}};
    uint8_t pks[3 * 32], sks[3 * 64];
    for (int v = 1; v <= 3; v++)
        identity(v, pks + (v - 1) * 32, sks + (v - 1) * 64);
    fr_secagg_params p = {.round = 1, .n = 3, .t = 2, .m = 10};
    fr_secagg_client cl;
    CHECK(fr_secagg_client_init(&cl, &p, 2, sks, pks, &err) == FR_EINVAL &&
              strstr(err.msg, "not the one its peers know"),
          "another node's key: %s", err.msg);
    CHECK(fr_secagg_client_init(&cl, &p, 4, sks, pks, &err) == FR_EINVAL, "id 4 of 3");
    p.t = 1;
    CHECK(fr_secagg_client_init(&cl, &p, 1, sks, pks, &err) == FR_EINVAL &&
              strstr(err.msg, "threshold"),
          "t <= n/2: %s", err.msg);
    p.t = 2;
    p.m = 0;
    CHECK(fr_secagg_params_check(&p, &err) == FR_EINVAL, "m = 0");
    p = (fr_secagg_params){.round = 1, .n = 256, .t = 200, .m = 10};
    CHECK(fr_secagg_params_check(&p, &err) == FR_EINVAL, "n = 256");
    p = (fr_secagg_params){.round = 1, .n = 255, .t = 128, .m = 10};
    CHECK(fr_secagg_params_check(&p, &err) == FR_OK, "%s", err.msg);
}

int main(void)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "libsodium failed to initialise\n");
        return 1;
    }
    RUN(test_encode);
    RUN(test_shamir);
    RUN(test_seal);
    RUN(test_messages);
    RUN(test_setup_checks);
    RUN(test_no_dropouts);
    RUN(test_dropouts);
    RUN(test_too_many_dropouts);
    RUN(test_bad_unmask_requests);
    RUN(test_rounds_and_replays);
    return fr_test_end();
}
