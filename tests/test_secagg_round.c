/* A secure round's setup message and vector: the setup round-trips and its decoder
 * refuses what the round could not run on; the nodes' encoded vectors, summed mod
 * 2^32 as the masks leave them, decode to the weighted sum of their deltas and
 * losses within the quantisation bound. */
#include <math.h>
#include <msgpack.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "secagg/fr_secagg_round.h"
#include "fr_test.h"

static uint8_t bytes[3][400];

static void make_setup(fr_secagg_setup *s, int n, uint32_t m)
{
    memset(s, 0, sizeof *s);
    s->p = (fr_secagg_params){.round = 9, .n = n, .t = n / 2 + 1, .m = m};
    s->model_version = 4;
    s->clip = 10;
    s->loss_clip = FR_SECAGG_LOSS_CLIP;
    for (int i = 0; i < n; i++) {
        fr_secagg_member *e = &s->e[i];
        e->id = i + 1;
        snprintf(e->name, sizeof e->name, "node-%d", i + 1);
        e->weight = 10.0 * (i + 1);
        s->weight_total += e->weight;
        e->id_pk = bytes[0];
        e->cert = bytes[1];
        e->cert_len = 300 + (size_t)i;
        e->sig = bytes[2];
        e->sig_len = 70;
    }
}

static void test_setup_roundtrip(void)
{
    fr_secagg_setup *s = malloc(sizeof *s), *d = malloc(sizeof *d);
    randombytes_buf(bytes, sizeof bytes);
    make_setup(s, 5, 1001);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_secagg_setup_encode(s, &sb);
    fr_err err = {{0}};
    CHECK(fr_secagg_setup_decode(sb.data, sb.size, d, &err) == FR_OK, "%s", err.msg);
    CHECK(d->p.round == 9 && d->p.n == 5 && d->p.t == 3 && d->p.m == 1001 &&
              d->model_version == 4 && d->clip == 10 && d->weight_total == 150,
          "settings");
    for (int i = 0; i < 5; i++)
        CHECK(d->e[i].id == i + 1 && !strcmp(d->e[i].name, s->e[i].name) &&
                  d->e[i].weight == s->e[i].weight && d->e[i].cert_len == s->e[i].cert_len &&
                  !memcmp(d->e[i].cert, bytes[1], d->e[i].cert_len) &&
                  !memcmp(d->e[i].id_pk, bytes[0], 32) && d->e[i].sig_len == 70,
              "member %d", i + 1);
    CHECK(fr_secagg_setup_find(d, "node-3") == &d->e[2] && !fr_secagg_setup_find(d, "node-9"),
          "find");
    /* every cut of the body is refused, never read past */
    int cuts_ok = 1;
    for (size_t len = 0; len < sb.size; len++)
        cuts_ok &= fr_secagg_setup_decode(sb.data, len, d, &err) == FR_EFORMAT;
    CHECK(cuts_ok, "a cut body decoded");
    msgpack_sbuffer_destroy(&sb);
    free(s);
    free(d);
}

/* The encoding of s after change() is refused with a message containing want. */
static void refused(void (*change)(fr_secagg_setup *), const char *want)
{
    fr_secagg_setup *s = malloc(sizeof *s), *d = malloc(sizeof *d);
    make_setup(s, 4, 50);
    change(s);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_secagg_setup_encode(s, &sb);
    fr_err err = {{0}};
    CHECK(fr_secagg_setup_decode(sb.data, sb.size, d, &err) == FR_EFORMAT && strstr(err.msg, want),
          "wanted '%s', got '%s'", want, err.msg);
    msgpack_sbuffer_destroy(&sb);
    free(s);
    free(d);
}

static void low_threshold(fr_secagg_setup *s)
{
    s->p.t = 2;
}
static void wrong_total(fr_secagg_setup *s)
{
    s->weight_total += 1;
}
static void twice(fr_secagg_setup *s)
{
    snprintf(s->e[2].name, sizeof s->e[2].name, "node-1");
}
static void gap(fr_secagg_setup *s)
{
    s->e[1].id = 3;
}
static void bad_name(fr_secagg_setup *s)
{
    snprintf(s->e[0].name, sizeof s->e[0].name, "a b");
}
static void no_clip(fr_secagg_setup *s)
{
    s->clip = 0;
}
static void huge_cert(fr_secagg_setup *s)
{
    static uint8_t big[FR_SECAGG_MAX_CERT + 1];
    s->e[0].cert = big;
    s->e[0].cert_len = sizeof big;
}

static void test_setup_refusals(void)
{
    refused(low_threshold, "t = 2, must be in (n/2, n]");
    refused(wrong_total, "the weights sum to");
    refused(twice, "listed twice");
    refused(gap, "entry 2 is node 3");
    refused(bad_name, "not printable");
    refused(no_clip, "clip");
    refused(huge_cert, "members: cert: 8193 bytes");
}

static void test_weighted_sum(void)
{
    enum { N = 4, P = 3000 };
    fr_secagg_setup *s = malloc(sizeof *s);
    make_setup(s, N, P + 1);
    s->clip = 3;
    float *delta = malloc(sizeof(float) * P), *keep = malloc(sizeof(float) * P);
    uint32_t *y = malloc(sizeof(uint32_t) * (P + 1)), *sum = calloc(P + 1, sizeof(uint32_t));
    double *want = calloc(P, sizeof(double)), *got = malloc(sizeof(double) * P);
    double want_loss = 0, got_loss = 0;
    fr_err err = {{0}};
    int clipped_any = 0;
    for (int u = 0; u < N; u++) {
        for (int i = 0; i < P; i++)
            keep[i] = delta[i] = (float)(0.05 * sin(0.37 * i + u)) * (u == 3 ? 40.0f : 1.0f);
        double loss = 2.0 + u;
        int clipped = 0;
        CHECK(fr_secagg_round_encode(s, s->e[u].weight, delta, loss, y, &clipped, &err) == FR_OK,
              "%s", err.msg);
        clipped_any |= clipped << u;
        /* the coordinator sees the masked sum; masks cancel mod 2^32, so add raw */
        for (int i = 0; i <= P; i++)
            sum[i] += y[i];
        double norm = 0;
        for (int i = 0; i < P; i++)
            norm += (double)keep[i] * keep[i] * s->e[u].weight * s->e[u].weight /
                    (s->weight_total * s->weight_total);
        double f = sqrt(norm) > s->clip ? s->clip / sqrt(norm) : 1.0;
        for (int i = 0; i < P; i++)
            want[i] += s->e[u].weight * keep[i] * f;
        want_loss += s->e[u].weight * loss;
    }
    CHECK(clipped_any == 1 << 3, "only the large delta is clipped (%d)", clipped_any);
    CHECK(fr_secagg_round_decode(s, sum, got, &got_loss, &err) == FR_OK, "%s", err.msg);
    double scale;
    CHECK(fr_secagg_encode_scale(N, s->clip, &scale, &err) == FR_OK, "%s", err.msg);
    double bound = N / scale * s->weight_total * 1.0001, worst = 0;
    for (int i = 0; i < P; i++)
        worst = fmax(worst, fabs(got[i] - want[i]));
    CHECK(worst <= bound, "error %g above the quantisation bound %g", worst, bound);
    CHECK(fabs(got_loss - want_loss) < 1e-3 * want_loss, "loss %g, want %g", got_loss, want_loss);
    CHECK(fr_secagg_round_encode(s, s->weight_total * 2, delta, 1, y, NULL, &err) == FR_EINVAL,
          "a weight above the total accepted");
    free(s);
    free(delta);
    free(keep);
    free(y);
    free(sum);
    free(want);
    free(got);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    RUN(test_setup_roundtrip);
    RUN(test_setup_refusals);
    RUN(test_weighted_sum);
    return fr_test_end();
}
