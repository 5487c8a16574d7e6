/* A secure round's setup message and vector: the setup round-trips and its decoder
 * refuses what the round could not run on (and any setup that lists weights); the
 * masked vector's layout (fr_secagg_layout) round-trips and sums exactly; the nodes'
 * encoded vectors, each with the node's own weight, summed mod 2^32 as the masks
 * leave them, decode to the weighted sum of their deltas, weights and losses within
 * the quantisation bound; a coordinator that would skew the weights has none to set. */
#include <math.h>
#include <msgpack.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "fed/fr_node_round.h"
#include "secagg/fr_secagg_layout.h"
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
    s->max_weight = 100;
    for (int i = 0; i < n; i++) {
        fr_secagg_member *e = &s->e[i];
        e->id = i + 1;
        snprintf(e->name, sizeof e->name, "node-%d", i + 1);
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
              d->model_version == 4 && d->clip == 10 && d->max_weight == 100 &&
              d->weight_windows == 0,
          "settings");
    for (int i = 0; i < 5; i++)
        CHECK(d->e[i].id == i + 1 && !strcmp(d->e[i].name, s->e[i].name) &&
                  d->e[i].cert_len == s->e[i].cert_len &&
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
static void no_cap(fr_secagg_setup *s)
{
    s->max_weight = 0.5;
}
static void no_parameter(fr_secagg_setup *s)
{
    s->p.m = 2;
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
    refused(no_cap, "max_weight: 0.5 is outside [1, 1e+09]");
    refused(no_parameter, "m: 2 is out of range [8,");
    refused(twice, "listed twice");
    refused(gap, "entry 2 is node 3");
    refused(bad_name, "not printable");
    refused(no_clip, "clip");
    refused(huge_cert, "members: cert: 8193 bytes");
}

/* Segments laid end to end, each at its own scale; values on the scale's grid sum
 * exactly, whatever the rounding coins. */
static void test_layout(void)
{
    enum { N = 4 };
    fr_secagg_layout l;
    fr_err err = {{0}};
    fr_secagg_layout_init(&l, N);
    CHECK(fr_secagg_layout_add(&l, "a", 5, 2.0, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_secagg_layout_add(&l, "b", 1, 1000.0, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_secagg_layout_add(&l, "c", 3, 0.5, &err) == FR_OK, "%s", err.msg);
    const fr_secagg_segment *a = fr_secagg_layout_find(&l, "a"),
                            *b = fr_secagg_layout_find(&l, "b"),
                            *c = fr_secagg_layout_find(&l, "c");
    CHECK(l.m == 9 && l.nseg == 3 && a && b && c && a->offset == 0 && b->offset == 5 &&
              c->offset == 6 && c->len == 3 && !fr_secagg_layout_find(&l, "d"),
          "layout m %zu", l.m);
    double sa = 0, sb = 0, sc = 0;
    CHECK(fr_secagg_encode_scale(N, 2.0, &sa, &err) == FR_OK &&
              fr_secagg_encode_scale(N, 1000.0, &sb, &err) == FR_OK &&
              fr_secagg_encode_scale(N, 0.5, &sc, &err) == FR_OK && a->scale == sa &&
              b->scale == sb && c->scale == sc && sa != sb,
          "each segment has its own scale");
    /* refusals: a name twice, no name, a bound with no scale, too many segments */
    CHECK(fr_secagg_layout_add(&l, "a", 1, 1, &err) == FR_EINVAL && strstr(err.msg, "twice"), "%s",
          err.msg);
    CHECK(fr_secagg_layout_add(&l, "", 1, 1, &err) == FR_EINVAL, "empty name");
    CHECK(fr_secagg_layout_add(&l, "z", 1, 0, &err) == FR_EINVAL, "bound 0");
    CHECK(fr_secagg_layout_add(&l, "z", 0, 1, &err) == FR_EINVAL, "no coordinate");
    CHECK(l.m == 9 && l.nseg == 3, "a refused segment changed the layout");
    fr_secagg_layout full;
    fr_secagg_layout_init(&full, N);
    int added = 0;
    for (int i = 0; i < FR_SECAGG_LAYOUT_MAX + 1; i++) {
        char name[FR_SECAGG_SEG_NAME];
        snprintf(name, sizeof name, "s%d", i);
        added += fr_secagg_layout_add(&full, name, 1, 1, &err) == FR_OK;
    }
    CHECK(added == FR_SECAGG_LAYOUT_MAX, "added %d segments", added);
    /* N nodes' values on each segment's grid: the decoded sums are exact */
    uint32_t y[9], sum[9] = {0};
    double want_a[5] = {0}, want_b = 0, want_c[3] = {0}, got_a[5], got_b, got_c[3];
    for (int u = 0; u < N; u++) {
        float va[5], vb = (float)(37 * (u + 1)), vc[3];
        for (int i = 0; i < 5; i++) {
            va[i] = (float)((u * 7 + i * 3) % 65 - 32) / 128.0f;
            want_a[i] += va[i];
        }
        for (int i = 0; i < 3; i++) {
            vc[i] = (float)((u + i) % 5 - 2) / 16.0f;
            want_c[i] += vc[i];
        }
        want_b += vb;
        int clipped = 1;
        CHECK(fr_secagg_layout_encode(&l, "a", va, y, &clipped, &err) == FR_OK && !clipped &&
                  fr_secagg_layout_encode(&l, "b", &vb, y, NULL, &err) == FR_OK &&
                  fr_secagg_layout_encode(&l, "c", vc, y, NULL, &err) == FR_OK,
              "%s", err.msg);
        for (int i = 0; i < 9; i++)
            sum[i] += y[i];
    }
    CHECK(fr_secagg_layout_decode(&l, "a", sum, got_a, &err) == FR_OK &&
              fr_secagg_layout_decode(&l, "b", sum, &got_b, &err) == FR_OK &&
              fr_secagg_layout_decode(&l, "c", sum, got_c, &err) == FR_OK,
          "%s", err.msg);
    int exact = got_b == want_b;
    for (int i = 0; i < 5; i++)
        exact &= got_a[i] == want_a[i];
    for (int i = 0; i < 3; i++)
        exact &= got_c[i] == want_c[i];
    CHECK(exact, "the sums are not exact (b %g, want %g)", got_b, want_b);
    /* a segment's values above its bound are cut to it */
    float big[3] = {3, 4, 0};
    int clipped = 0;
    CHECK(fr_secagg_layout_encode(&l, "c", big, y, &clipped, &err) == FR_OK && clipped,
          "a segment above its bound was not cut");
    CHECK(fr_secagg_layout_encode(&l, "nope", big, y, NULL, &err) == FR_EINVAL &&
              fr_secagg_layout_decode(&l, "nope", sum, got_c, &err) == FR_EINVAL,
          "an unknown segment");
}

/* Each node's w * delta, w and w * loss through encoding and the sum mod 2^32: the
 * weighted mean comes out within the quantisation bound, with a weight above the cap
 * cut to it and a delta above the bound cut to the bound before its weight. */
static void test_weighted_sum(void)
{
    enum { N = 4, P = 3000 };
    static const double own[N] = {10, 20, 30, 150}; /* the last above the cap of 100 */
    fr_secagg_setup *s = malloc(sizeof *s);
    make_setup(s, N, P + FR_SECAGG_ROUND_EXTRA);
    s->clip = 3;
    float *delta = malloc(sizeof(float) * P), *keep = malloc(sizeof(float) * P);
    uint32_t *y = malloc(sizeof(uint32_t) * (P + FR_SECAGG_ROUND_EXTRA)),
             *sum = calloc(P + FR_SECAGG_ROUND_EXTRA, sizeof(uint32_t));
    double *want = calloc(P, sizeof(double)), *got = malloc(sizeof(double) * P);
    double want_loss = 0, want_w = 0, want_e = 0, want_ehr = 0, want_endcg = 0, want_erec = 0,
           want_sq = 0;
    fr_err err = {{0}};
    int clipped_any = 0;
    for (int u = 0; u < N; u++) {
        for (int i = 0; i < P; i++)
            keep[i] = delta[i] = (float)(0.05 * sin(0.37 * i + u)) * (u == 2 ? 40.0f : 1.0f);
        double loss = 2.0 + u, w = fmin(own[u], s->max_weight);
        int clipped = 0;
        /* node u's evaluation: the third's users above the cap, the second's recall
         * above 1 (both cut) */
        fr_secagg_round_eval ev = {.users = u == 2 ? 500 : 20.0 * (u + 1),
                                   .hr10 = 0.1 * (u + 1),
                                   .ndcg10 = 0.05 * (u + 1),
                                   .recall10 = u == 1 ? 1.5 : 0.3};
        double e = fmin(ev.users, s->max_weight);
        want_e += e;
        want_ehr += e * ev.hr10;
        want_endcg += e * ev.ndcg10;
        want_erec += e * fmin(ev.recall10, 1);
        CHECK(fr_secagg_round_encode(s, own[u], delta, loss, u == N - 1 ? NULL : &ev, y, &clipped,
                                     &err) == FR_OK,
              "%s", err.msg);
        if (u == N - 1) { /* the last node has no validation split: no evaluation */
            want_e -= e;
            want_ehr -= e * ev.hr10;
            want_endcg -= e * ev.ndcg10;
            want_erec -= e * fmin(ev.recall10, 1);
        }
        clipped_any |= clipped << u;
        /* the coordinator sees the masked sum; masks cancel mod 2^32, so add raw */
        for (int i = 0; i < P + FR_SECAGG_ROUND_EXTRA; i++)
            sum[i] += y[i];
        double norm = 0;
        for (int i = 0; i < P; i++)
            norm += (double)keep[i] * keep[i];
        double f = sqrt(norm) > s->clip ? s->clip / sqrt(norm) : 1.0;
        for (int i = 0; i < P; i++)
            want[i] += w * keep[i] * f;
        want_sq += w * norm * f * f; /* the cut delta's squared norm */
        want_loss += w * loss;
        want_w += w;
    }
    CHECK(clipped_any == 1 << 2, "only the large delta is clipped (%d)", clipped_any);
    fr_secagg_round_sum out = {.wdelta = got};
    CHECK(fr_secagg_round_decode(s, sum, N, &out, &err) == FR_OK, "%s", err.msg);
    fr_secagg_layout l;
    CHECK(fr_secagg_round_layout(s, &l, &err) == FR_OK && l.m == P + FR_SECAGG_ROUND_EXTRA, "%s",
          err.msg);
    const fr_secagg_segment *sd = fr_secagg_layout_find(&l, FR_SECAGG_SEG_DELTA),
                            *sw = fr_secagg_layout_find(&l, FR_SECAGG_SEG_WEIGHT);
    CHECK(sd && sw && sd->len == P && sd->bound == 300 && sw->bound == 100, "layout");
    CHECK(fabs(out.weight - want_w) <= N / sw->scale, "weight sum %g, want %g (the cap cuts 150)",
          out.weight, want_w);
    double bound = N / sd->scale * 1.0001, worst = 0, worst_mean = 0;
    for (int i = 0; i < P; i++) {
        worst = fmax(worst, fabs(got[i] - want[i]));
        worst_mean = fmax(worst_mean, fabs(got[i] / out.weight - want[i] / want_w));
    }
    CHECK(worst <= bound, "error %g above the quantisation bound %g", worst, bound);
    CHECK(worst_mean <= 2 * bound / want_w, "mean's error %g", worst_mean);
    CHECK(fabs(out.wloss - want_loss) < 1e-3 * want_loss, "loss %g, want %g", out.wloss, want_loss);
    /* the federation's evaluation: eval users summed, the metrics their weighted means
     * (to the eval segment's quantisation), and no node's own figures */
    const fr_secagg_segment *se = fr_secagg_layout_find(&l, FR_SECAGG_SEG_EVAL);
    CHECK(se && se->len == 4 && se->bound == 200 && se->offset == P + 2, "the eval segment");
    double qe = se ? N / se->scale : 1;
    CHECK(fabs(out.eval.users - want_e) <= qe && want_e == 20 + 40 + 100, "eval users %g, want %g",
          out.eval.users, want_e);
    CHECK(fabs(out.eval.hr10 - want_ehr / want_e) <= 2 * qe / want_e &&
              fabs(out.eval.ndcg10 - want_endcg / want_e) <= 2 * qe / want_e &&
              fabs(out.eval.recall10 - want_erec / want_e) <= 2 * qe / want_e,
          "means HR %g (want %g) NDCG %g (want %g) recall %g (want %g)", out.eval.hr10,
          want_ehr / want_e, out.eval.ndcg10, want_endcg / want_e, out.eval.recall10,
          want_erec / want_e);
    /* the sum of w |cut delta|^2, for the server's extrapolation, to the segment's
     * quantisation (its values are over clip^2) */
    const fr_secagg_segment *sq = fr_secagg_layout_find(&l, FR_SECAGG_SEG_SQNORM);
    CHECK(sq && sq->len == 1 && sq->bound == 100 && sq->offset == P + 6, "the sqnorm segment");
    double qs = sq ? N / sq->scale * s->clip * s->clip : 1;
    CHECK(fabs(out.wsqnorm - want_sq) <= qs, "sum of w |delta|^2 %g, want %g (within %g)",
          out.wsqnorm, want_sq, qs);
    /* a round where no one evaluated reports no figures */
    uint32_t *none = calloc(P + FR_SECAGG_ROUND_EXTRA, sizeof(uint32_t));
    float *zero = calloc(P, sizeof(float));
    CHECK(fr_secagg_round_encode(s, 5, zero, 1, NULL, none, NULL, &err) == FR_OK &&
              fr_secagg_round_decode(s, none, 1, &out, &err) == FR_OK && out.eval.users == 0 &&
              out.eval.hr10 == 0,
          "no evaluation: users %g HR %g (%s)", out.eval.users, out.eval.hr10, err.msg);
    free(none);
    free(zero);
    out.wdelta = got;
    /* a squared-norm sum no set of N members could send (a member's value above its
     * weight, or below zero) reads as unknown: the round goes on without extrapolation */
    uint32_t keep_sq = sum[P + 6];
    sum[P + 6] += (uint32_t)(int32_t)(200 * sq->scale);
    CHECK(fr_secagg_round_decode(s, sum, N, &out, &err) == FR_OK && out.wsqnorm == -1,
          "an impossible squared-norm sum: %g (%s)", out.wsqnorm, err.msg);
    sum[P + 6] = (uint32_t)(int32_t)(-5 * sq->scale);
    CHECK(fr_secagg_round_decode(s, sum, N, &out, &err) == FR_OK && out.wsqnorm == -1,
          "a negative squared-norm sum: %g (%s)", out.wsqnorm, err.msg);
    sum[P + 6] = keep_sq;
    /* a sum of weights no set of N members could send is refused */
    sum[P] += (uint32_t)(int32_t)(1000 * sw->scale);
    CHECK(fr_secagg_round_decode(s, sum, N, &out, &err) == FR_EINVAL &&
              strstr(err.msg, "outside the layout"),
          "an impossible weight sum: %s", err.msg);
    free(s);
    free(delta);
    free(keep);
    free(y);
    free(sum);
    free(want);
    free(got);
}

/* A node's weight is its own count, cut to the round's cap; one that is not finite
 * and positive is refused. */
static void test_own_weight(void)
{
    fr_secagg_setup *s = malloc(sizeof *s);
    make_setup(s, 3, 12);
    fr_err err = {{0}};
    double w = 0;
    CHECK(fr_secagg_round_weight(s, 1e15, &w, &err) == FR_OK && w == 100, "1e15 cut to %g", w);
    CHECK(fr_secagg_round_weight(s, 42, &w, &err) == FR_OK && w == 42, "42 gives %g", w);
    const double bad[] = {NAN, -1, 0, INFINITY, -INFINITY};
    float d[10] = {0};
    uint32_t y[12];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(fr_secagg_round_weight(s, bad[i], &w, &err) == FR_EINVAL, "weight %g", bad[i]);
        CHECK(fr_secagg_round_encode(s, bad[i], d, 1, NULL, y, NULL, &err) == FR_EINVAL &&
                  strstr(err.msg, "not finite and > 0"),
              "encoded with weight %g", bad[i]);
    }
    CHECK(fr_secagg_round_encode(s, 5, d, NAN, NULL, y, NULL, &err) == FR_EINVAL, "a NaN loss");
    /* the node's count as the round's weighting says, at least 1, cut to the cap */
    CHECK(fr_node_round_weight(0, 1e4, 2000000000, 7) == 1e4, "users over the cap");
    CHECK(fr_node_round_weight(1, 50, 3, 70) == 50 && fr_node_round_weight(1, 500, 3, 70) == 70,
          "windows");
    CHECK(fr_node_round_weight(0, 1e4, 0, 0) == 1 && fr_node_round_weight(0, 0, 9, 0) == 9,
          "floor of 1; no cap");
    free(s);
}

/* A setup in the earlier layout, with a weight for each member and their total: a
 * coordinator that tells a node its weight is refused. */
static void test_setup_with_weights_refused(void)
{
    fr_secagg_setup *s = malloc(sizeof *s), *d = malloc(sizeof *d);
    make_setup(s, 3, 12);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 10);
    const char *keys[] = {"v", "round", "n", "t", "m", "model_version"};
    const int64_t vals[] = {1, 9, 3, 2, 12, 4};
    for (int i = 0; i < 6; i++) {
        msgpack_pack_str(&pk, strlen(keys[i]));
        msgpack_pack_str_body(&pk, keys[i], strlen(keys[i]));
        msgpack_pack_int64(&pk, vals[i]);
    }
    const char *dk[] = {"clip", "loss_clip", "weight_total"};
    const double dv[] = {10, FR_SECAGG_LOSS_CLIP, 100 + 2e-9};
    for (int i = 0; i < 3; i++) {
        msgpack_pack_str(&pk, strlen(dk[i]));
        msgpack_pack_str_body(&pk, dk[i], strlen(dk[i]));
        msgpack_pack_double(&pk, dv[i]);
    }
    msgpack_pack_str(&pk, 7);
    msgpack_pack_str_body(&pk, "members", 7);
    msgpack_pack_array(&pk, 3);
    for (int i = 0; i < 3; i++) {
        const fr_secagg_member *e = &s->e[i];
        msgpack_pack_array(&pk, 6);
        msgpack_pack_int(&pk, e->id);
        msgpack_pack_str(&pk, strlen(e->name));
        msgpack_pack_str_body(&pk, e->name, strlen(e->name));
        msgpack_pack_double(&pk, i == 0 ? 100 : 1e-9); /* the target, and the rest at ~0 */
        msgpack_pack_bin(&pk, 32);
        msgpack_pack_bin_body(&pk, e->id_pk, 32);
        msgpack_pack_bin(&pk, e->cert_len);
        msgpack_pack_bin_body(&pk, e->cert, e->cert_len);
        msgpack_pack_bin(&pk, e->sig_len);
        msgpack_pack_bin_body(&pk, e->sig, e->sig_len);
    }
    fr_err err = {{0}};
    CHECK(fr_secagg_setup_decode(sb.data, sb.size, d, &err) == FR_EFORMAT,
          "a setup that lists weights was taken");
    msgpack_sbuffer_destroy(&sb);
    free(s);
    free(d);
}

/* The attack of a coordinator that weights one target fully and every other member
 * near zero: it has no weight to list, whatever cap it sets, so the unmasked mean is
 * the honest weighted mean of the members, far from the target's delta. */
static void test_skewed_weights(void)
{
    enum { N = 5, P = 400 };
    static const int users[N] = {50, 40, 60, 45, 55};
    const double caps[] = {1, 100, 1e4};
    fr_secagg_setup *s = malloc(sizeof *s);
    float delta[N][P], d[P];
    uint32_t y[P + FR_SECAGG_ROUND_EXTRA], sum[P + FR_SECAGG_ROUND_EXTRA];
    double got[P];
    fr_err err = {{0}};
    for (int u = 0; u < N; u++)
        for (int i = 0; i < P; i++)
            delta[u][i] = (float)(0.01 * cos(1.3 * i * (u + 1) + u));
    for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
        make_setup(s, N, P + FR_SECAGG_ROUND_EXTRA);
        s->max_weight = caps[c];
        memset(sum, 0, sizeof sum);
        double want[P] = {0}, want_w = 0;
        for (int u = 0; u < N; u++) {
            double w = fr_node_round_weight(s->weight_windows, s->max_weight, users[u], 0);
            memcpy(d, delta[u], sizeof d);
            CHECK(fr_secagg_round_encode(s, w, d, 1, NULL, y, NULL, &err) == FR_OK, "%s", err.msg);
            for (int i = 0; i < P + FR_SECAGG_ROUND_EXTRA; i++)
                sum[i] += y[i];
            for (int i = 0; i < P; i++)
                want[i] += w * delta[u][i];
            want_w += w;
        }
        fr_secagg_round_sum out = {.wdelta = got};
        CHECK(fr_secagg_round_decode(s, sum, N, &out, &err) == FR_OK, "%s", err.msg);
        double off_target = 0, off_mean = 0;
        for (int i = 0; i < P; i++) {
            off_target = fmax(off_target, fabs(got[i] / out.weight - delta[0][i]));
            off_mean = fmax(off_mean, fabs(got[i] / out.weight - want[i] / want_w));
        }
        CHECK(off_target > 5e-3, "cap %g: the target's update recovered to %g", caps[c],
              off_target);
        CHECK(off_mean < 1e-3, "cap %g: the mean is off the honest weighted mean by %g", caps[c],
              off_mean);
    }
    free(s);
}

/* A federation-wide DP round's vectors: the delta segment carries each node's ring
 * integers as they are (sums that no fixed-point float segment could hold: values
 * near +-2^30), their sum modulo 2^32 comes back as the signed integers it is, and the
 * weight, loss and evaluation segments decode as in any round. */
static void test_ring_vectors(void)
{
    enum { N = 3, P = 500 };
    fr_secagg_setup *s = malloc(sizeof *s);
    make_setup(s, N, P + FR_SECAGG_ROUND_EXTRA);
    uint32_t *ring = malloc(sizeof(uint32_t) * P),
             *y = malloc(sizeof(uint32_t) * (P + FR_SECAGG_ROUND_EXTRA)),
             *sum = calloc(P + FR_SECAGG_ROUND_EXTRA, sizeof(uint32_t));
    int64_t *want = calloc(P, sizeof(int64_t));
    double *got = malloc(sizeof(double) * P);
    fr_err err = {{0}};
    for (int u = 0; u < N; u++) {
        for (int i = 0; i < P; i++) {
            /* large of either sign, and a sum that crosses zero modulo 2^32 */
            int32_t v = (int32_t)((i % 7 - 3) * 300000000 / (u + 1)) + (int32_t)(i * 13 - u);
            ring[i] = (uint32_t)v;
            want[i] += v;
        }
        fr_secagg_round_eval ev = {.users = 10, .hr10 = 0.5, .ndcg10 = 0.25, .recall10 = 0.5};
        CHECK(fr_secagg_round_encode_ring(s, 10.0 * (u + 1), ring, 2.0, &ev, y, &err) == FR_OK,
              "%s", err.msg);
        CHECK(!memcmp(y, ring, sizeof(uint32_t) * P), "node %d: the ring copied as it is", u);
        for (int i = 0; i < P + FR_SECAGG_ROUND_EXTRA; i++)
            sum[i] += y[i];
    }
    fr_secagg_round_ring_sum(s, sum, got);
    int bad = 0;
    for (int i = 0; i < P; i++)
        bad += want[i] >= INT32_MIN && want[i] <= INT32_MAX && got[i] != (double)want[i];
    CHECK(bad == 0, "%d ring sums differ from the integers' sum", bad);
    fr_secagg_round_sum out = {.wdelta = got};
    CHECK(fr_secagg_round_decode(s, sum, N, &out, &err) == FR_OK, "%s", err.msg);
    CHECK(fabs(out.weight - 60) < 0.01 && fabs(out.wloss - 120) < 0.1 &&
              fabs(out.eval.users - 30) < 0.01 && fabs(out.eval.hr10 - 0.5) < 1e-3,
          "weight %g loss %g eval users %g HR %g", out.weight, out.wloss, out.eval.users,
          out.eval.hr10);
    CHECK(out.wsqnorm == 0, "a ring vector's squared norm: %g", out.wsqnorm);
    CHECK(fr_secagg_round_encode_ring(s, 0, ring, 2.0, NULL, y, &err) == FR_EINVAL &&
              fr_secagg_round_encode_ring(s, 5, ring, NAN, NULL, y, &err) == FR_EINVAL,
          "a weight of 0 or a loss that is not finite");
    free(s);
    free(ring);
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
    RUN(test_layout);
    RUN(test_weighted_sum);
    RUN(test_own_weight);
    RUN(test_setup_with_weights_refused);
    RUN(test_skewed_weights);
    RUN(test_ring_vectors);
    return fr_test_end();
}
