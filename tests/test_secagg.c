/* Secure aggregation's building blocks: the fixed-point encoding and its bounds, Shamir
 * sharing, the share ciphertexts and the checks of a round's parameters. The messages
 * are in test_secagg_msg.c, whole rounds in test_secagg_fed.c. */
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "fr_test_secagg.h"

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
static void test_setup_checks(void)
{
    fr_err err = {{0}};
    uint8_t pks[3 * 32], sks[3 * 64];
    for (int v = 1; v <= 3; v++)
        identity(v, pks + (v - 1) * 32, sks + (v - 1) * 64);
    fr_secagg_params p = {.round = 1, .n = 3, .t = 3, .m = 10};
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
    p.m = 10;
    /* the node's floor: n >= 3 and t > 2n/3, which its settings can only raise */
    CHECK(fr_secagg_params_check(&p, &err) == FR_OK, "t = 2 of 3 is a protocol's majority");
    CHECK(fr_secagg_client_init(&cl, &p, 1, sks, pks, &err) == FR_EINVAL &&
              strstr(err.msg, "threshold 2 of 3 members, this node needs more than 0.6667"),
          "t = 2 of 3 below the floor: %s", err.msg);
    p = (fr_secagg_params){.round = 1, .n = 2, .t = 2, .m = 10};
    CHECK(fr_secagg_params_check(&p, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_secagg_client_init(&cl, &p, 1, sks, pks, &err) == FR_EINVAL &&
              strstr(err.msg, "2 members, this node takes part with 3 at least"),
          "n = 2: %s", err.msg);
    const int floor_cases[][4] = {/* n, t, ok with defaults, ok with min 5 and ratio 0.75 */
                                  {3, 3, 1, 0},   {4, 3, 1, 0},   {5, 3, 0, 0},   {5, 4, 1, 1},
                                  {10, 7, 1, 0},  {10, 6, 0, 0},  {10, 8, 1, 1},  {12, 9, 1, 0},
                                  {12, 10, 1, 1}, {40, 27, 1, 0}, {40, 26, 0, 0}, {255, 171, 1, 0}};
    for (size_t i = 0; i < sizeof floor_cases / sizeof floor_cases[0]; i++) {
        const int *c = floor_cases[i];
        p = (fr_secagg_params){.round = 1, .n = c[0], .t = c[1], .m = 10};
        CHECK((fr_secagg_floor_check(&p, 0, 0, &err) == FR_OK) == c[2], "n %d t %d: %s", c[0], c[1],
              err.msg);
        CHECK((fr_secagg_floor_check(&p, 5, 0.75, &err) == FR_OK) == c[3], "n %d t %d raised: %s",
              c[0], c[1], err.msg);
    }
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
    RUN(test_setup_checks);
    return fr_test_end();
}
