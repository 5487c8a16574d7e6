/* Gradient checks of the recall model: each layer's backward op against central
 * finite differences of its forward op, and the whole model's float gradient against
 * central differences of an independent double-precision implementation of the spec
 * (which also checks the factored float forward against the plain one), for a plain
 * batch and for one that reads a shared item-tower pass (DP-SGD's path). Inputs are
 * random and never zero. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fr_test.h"
#include "backend/fr_backend.h"
#include "nn/fr_model.h"
#include "nn/fr_nn.h"
#include "util/fr_rng.h"

static fr_rng rng;

static void fill(float *x, size_t n, double scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((2.0 * fr_rng_uniform(&rng) - 1.0) * scale);
}

/* Gradient agreement that a wrong index or a missing term cannot pass: the error must
 * be small against the entry itself, with a floor at a small fraction of the largest
 * gradient of the same tensor (float round-off on tiny entries). */
static int grad_close(double analytic, double numeric, double gmax, double rel)
{
    return fabs(analytic - numeric) <= rel * fabs(numeric) + 1e-3 * gmax + 1e-9;
}

/* ---------- layer: conv + ReLU + max-pool ---------- */
static double conv_loss(const fr_backend *be, const float *p, const int32_t *tok, const float *bias,
                        const float *w, int nu, int T, int F)
{
    float *m = calloc((size_t)nu * F, sizeof(float));
    int32_t *arg = calloc((size_t)nu * F, sizeof(int32_t));
    be->conv_pool_forward(m, arg, p, tok, bias, nu, T, F);
    double s = 0;
    for (int i = 0; i < nu * F; i++)
        s += (double)m[i] * w[i];
    free(m);
    free(arg);
    return s;
}

static void test_conv_pool_grad(void)
{
    const fr_backend *be = fr_backend_cpu();
    int nu = 7, T = 5, F = 6, nt = 9;
    float *p = malloc(sizeof(float) * nt * 3 * F), *bias = malloc(sizeof(float) * F);
    float *w = malloc(sizeof(float) * nu * F), *m = calloc(nu * F, sizeof(float));
    int32_t *tok = malloc(sizeof(int32_t) * nu * T), *arg = calloc(nu * F, sizeof(int32_t));
    float *gp = calloc(nt * 3 * F, sizeof(float)), *db = calloc(F, sizeof(float));
    fill(p, nt * 3 * F, 1.0);
    fill(bias, F, 0.3);
    fill(w, nu * F, 1.0);
    for (int i = 0; i < nu * T; i++)
        tok[i] = (i % 4 == 3) ? -1 : (int32_t)fr_rng_below(&rng, nt);
    be->conv_pool_forward(m, arg, p, tok, bias, nu, T, F);
    be->conv_pool_backward(gp, db, w, m, arg, tok, nu, T, F);
    double h = 1e-3, gmax = 0;
    for (int i = 0; i < nt * 3 * F; i++)
        gmax = fmax(gmax, fabs(gp[i]));
    int bad = 0;
    for (int i = 0; i < nt * 3 * F; i++) {
        float keep = p[i];
        p[i] = keep + (float)h;
        double lp = conv_loss(be, p, tok, bias, w, nu, T, F);
        p[i] = keep - (float)h;
        double lm = conv_loss(be, p, tok, bias, w, nu, T, F);
        p[i] = keep;
        double num = (lp - lm) / (2 * h);
        if (!grad_close(gp[i], num, gmax, 1e-2)) {
            if (bad++ < 3)
                CHECK(0, "dP[%d] analytic %g numeric %g", i, gp[i], num);
        }
    }
    for (int f = 0; f < F; f++) {
        float keep = bias[f];
        bias[f] = keep + (float)h;
        double lp = conv_loss(be, p, tok, bias, w, nu, T, F);
        bias[f] = keep - (float)h;
        double lm = conv_loss(be, p, tok, bias, w, nu, T, F);
        bias[f] = keep;
        double num = (lp - lm) / (2 * h);
        CHECK(grad_close(db[f], num, gmax, 1e-2), "dbias[%d] analytic %g numeric %g", f, db[f],
              num);
    }
    CHECK(bad == 0, "%d conv gradient entries off", bad);
    CHECK(gmax > 0.1, "conv gradient is suspiciously small (%g)", gmax);
    /* the per-user form (one row per (user, item) pair, the items' pooled values looked
     * up by row; here every item once, in reverse): the same sums */
    int32_t *rows = malloc(sizeof(int32_t) * nu), *ptok = malloc(sizeof(int32_t) * nu * T);
    float *pw = malloc(sizeof(float) * nu * F), *gr = calloc(nt * 3 * F, sizeof(float));
    float *dbr = calloc(F, sizeof(float));
    for (int i = 0; i < nu; i++) {
        rows[i] = nu - 1 - i;
        memcpy(ptok + i * T, tok + rows[i] * T, sizeof(int32_t) * T);
        memcpy(pw + i * F, w + rows[i] * F, sizeof(float) * F);
    }
    be->conv_pool_backward_rows(gr, dbr, pw, m, arg, rows, ptok, nu, T, F);
    int off = 0;
    for (int i = 0; i < nt * 3 * F; i++)
        off += fabsf(gr[i] - gp[i]) > 1e-5f * (1.0f + fabsf(gp[i]));
    for (int f = 0; f < F; f++)
        off += fabsf(dbr[f] - db[f]) > 1e-5f * (1.0f + fabsf(db[f]));
    CHECK(off == 0, "the per-pair backward differs from the per-item one in %d entries", off);
    free(rows);
    free(ptok);
    free(pw);
    free(gr);
    free(dbr);
    free(p);
    free(bias);
    free(w);
    free(m);
    free(tok);
    free(arg);
    free(gp);
    free(db);
}

/* ---------- the token layers' per-user products (tap_products) ---------- */
/* Against the dense products in double: rows a fifth set (the DP step's case), one row
 * all zero, one row all set; dx and dwr hold garbage first, which must not survive.
 * d 64 and 128 take the vector blocks, 70 those and the columns past them, 20 only
 * the latter; f3 48 is three sixteens, 39 leaves a tail, 4100 is past the list's room
 * (the dense products); nt 0 must zero dwr. */
static void tap_case(const fr_backend *be, int nt, int f3, int d)
{
    size_t ng = (size_t)nt * f3, nx = (size_t)nt * d, nw = (size_t)f3 * d;
    float *gp = calloc(ng + 1, sizeof(float)), *wr = malloc(sizeof(float) * nw);
    float *x = malloc(sizeof(float) * (nx + 1)), *dx = malloc(sizeof(float) * (nx + 1));
    float *dwr = malloc(sizeof(float) * nw);
    fill(wr, nw, 1.0);
    fill(x, nx, 1.0);
    for (size_t i = 0; i < ng; i++) {
        size_t row = i / (size_t)f3;
        int set = row == 1 ? 0 : row == 2 ? 1 : fr_rng_uniform(&rng) < 0.2;
        gp[i] = set ? (float)(2.0 * fr_rng_uniform(&rng) - 1.0) : 0.0f;
    }
    for (size_t i = 0; i < nx; i++)
        dx[i] = 1e30f;
    for (size_t i = 0; i < nw; i++)
        dwr[i] = -1e30f;
    be->tap_products(dx, dwr, gp, wr, x, nt, f3, d);
    int off = 0;
    double big = 0;
    for (int t = 0; t < nt; t++)
        for (int j = 0; j < d; j++) {
            double ref = 0;
            for (int c = 0; c < f3; c++)
                ref += (double)gp[(size_t)t * f3 + c] * wr[(size_t)c * d + j];
            big = fmax(big, fabs(ref));
            off += fabs(dx[(size_t)t * d + j] - ref) > 1e-5 * (1.0 + fabs(ref));
        }
    for (int c = 0; c < f3; c++)
        for (int j = 0; j < d; j++) {
            double ref = 0;
            for (int t = 0; t < nt; t++)
                ref += (double)gp[(size_t)t * f3 + c] * x[(size_t)t * d + j];
            off += fabs(dwr[(size_t)c * d + j] - ref) > 1e-5 * (1.0 + fabs(ref));
        }
    CHECK(off == 0, "tap_products nt %d f3 %d d %d: %d entries off the dense products", nt, f3, d,
          off);
    CHECK(nt < 3 || big > 0.1, "tap_products nt %d: the reference is suspiciously small", nt);
    free(gp);
    free(wr);
    free(x);
    free(dx);
    free(dwr);
}

static void test_tap_products(void)
{
    const fr_backend *be = fr_backend_cpu();
    static const int cases[][3] = {{37, 192, 64}, {37, 192, 128}, {9, 192, 70}, {9, 48, 20},
                                   {5, 39, 64},   {3, 4100, 4},   {1, 192, 64}, {0, 192, 64}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        tap_case(be, cases[i][0], cases[i][1], cases[i][2]);
}

/* ---------- layer: GRU over a sequence ---------- */
typedef struct gru_case {
    int L, n, d;
    float *gi, *whh, *bhh, *w;
} gru_case;

static double gru_loss(const fr_backend *be, const gru_case *c)
{
    size_t nd = (size_t)c->n * c->d;
    float *z = malloc(sizeof(float) * (c->L + 1) * nd), *g = malloc(sizeof(float) * c->L * nd * 3);
    float *gn = malloc(sizeof(float) * c->L * nd);
    be->gru_forward(z, g, gn, c->gi, c->whh, c->bhh, c->L, c->n, c->d);
    double s = 0;
    for (size_t i = 0; i < c->L * nd; i++)
        s += (double)z[nd + i] * c->w[i];
    free(z);
    free(g);
    free(gn);
    return s;
}

static void test_gru_grad(void)
{
    const fr_backend *be = fr_backend_cpu();
    gru_case c = {.L = 5, .n = 4, .d = 5};
    size_t nd = (size_t)c.n * c.d, l3 = (size_t)c.L * nd * 3;
    c.gi = malloc(sizeof(float) * l3);
    c.whh = malloc(sizeof(float) * 3 * c.d * c.d);
    c.bhh = malloc(sizeof(float) * 3 * c.d);
    c.w = malloc(sizeof(float) * c.L * nd);
    fill(c.gi, l3, 1.5);
    fill(c.whh, 3 * c.d * c.d, 0.8);
    fill(c.bhh, 3 * c.d, 0.5);
    fill(c.w, c.L * nd, 1.0);
    float *z = malloc(sizeof(float) * (c.L + 1) * nd), *g = malloc(sizeof(float) * l3);
    float *gn = malloc(sizeof(float) * c.L * nd), *dgi = malloc(sizeof(float) * l3);
    float *dgh = malloc(sizeof(float) * l3);
    be->gru_forward(z, g, gn, c.gi, c.whh, c.bhh, c.L, c.n, c.d);
    be->gru_backward(dgi, dgh, c.w, g, gn, z, c.whh, c.L, c.n, c.d);
    /* The parameter gradients the model forms from dgh: W_hh += dgh^T z_prev, b_hh += sum dgh. */
    float *dwhh = calloc(3 * c.d * c.d, sizeof(float)), *dbhh = calloc(3 * c.d, sizeof(float));
    be->gemm(1, 0, 3 * c.d, c.d, c.L * c.n, 1.0f, dgh, 3 * c.d, z, c.d, 0.0f, dwhh, c.d);
    be->sum_rows(dbhh, dgh, c.L * c.n, 3 * c.d);
    double eps = 1e-3;
    struct {
        float *x, *dx;
        int len;
        const char *name;
    } v[] = {{c.gi, dgi, (int)l3, "gi"},
             {c.whh, dwhh, 3 * c.d * c.d, "W_hh"},
             {c.bhh, dbhh, 3 * c.d, "b_hh"}};
    for (int k = 0; k < 3; k++) {
        double gmax = 0;
        for (int i = 0; i < v[k].len; i++)
            gmax = fmax(gmax, fabs(v[k].dx[i]));
        CHECK(gmax > 1e-2, "%s gradient suspiciously small", v[k].name);
        for (int i = 0; i < v[k].len; i++) {
            float keep = v[k].x[i];
            v[k].x[i] = keep + (float)eps;
            double lp = gru_loss(be, &c);
            v[k].x[i] = keep - (float)eps;
            double lm = gru_loss(be, &c);
            v[k].x[i] = keep;
            double num = (lp - lm) / (2 * eps);
            CHECK(grad_close(v[k].dx[i], num, gmax, 1e-2), "d%s[%d] analytic %g numeric %g",
                  v[k].name, i, v[k].dx[i], num);
        }
    }
    free(c.gi);
    free(c.whh);
    free(c.bhh);
    free(c.w);
    free(z);
    free(g);
    free(gn);
    free(dgi);
    free(dgh);
    free(dwhh);
    free(dbhh);
}

/* ---------- layer: sampled softmax ---------- */
static void test_softmax_grad(void)
{
    const fr_backend *be = fr_backend_cpu();
    int n = 6, k = 7;
    int32_t neg[7] = {3, 5, 8, 3, 9, 11, 2}, tgt[6] = {3, 4, 5, 6, 2, 10};
    float lg[42], pos[6], dl[42], dp[6], loss = 0;
    fill(lg, 42, 3.0);
    fill(pos, 6, 3.0);
    memcpy(dl, lg, sizeof lg);
    memcpy(dp, pos, sizeof pos);
    be->sampled_softmax(dl, dp, neg, tgt, n, k, 0.5f, &loss);
    /* reference loss in double */
    double ref = 0;
    for (int i = 0; i < n; i++) {
        double mx = pos[i], s = 0;
        for (int j = 0; j < k; j++)
            if (neg[j] != tgt[i])
                mx = fmax(mx, lg[i * k + j]);
        s = exp(pos[i] - mx);
        for (int j = 0; j < k; j++)
            if (neg[j] != tgt[i])
                s += exp(lg[i * k + j] - mx);
        ref += log(s) + mx - pos[i];
    }
    CHECK(fabs(loss - ref) < 1e-4 * fabs(ref), "loss %g vs reference %g", loss, ref);
    double eps = 1e-3;
    for (int i = 0; i < n * k; i++) {
        float keep = lg[i], l1 = 0, l2 = 0, t1[42], t2[6];
        lg[i] = keep + (float)eps;
        memcpy(t1, lg, sizeof lg);
        memcpy(t2, pos, sizeof pos);
        be->sampled_softmax(t1, t2, neg, tgt, n, k, 0.5f, &l1);
        lg[i] = keep - (float)eps;
        memcpy(t1, lg, sizeof lg);
        memcpy(t2, pos, sizeof pos);
        be->sampled_softmax(t1, t2, neg, tgt, n, k, 0.5f, &l2);
        lg[i] = keep;
        double num = 0.5 * (l1 - l2) / (2 * eps);
        CHECK(grad_close(dl[i], num, 0.5, 1e-2), "dlogit[%d] %g vs %g", i, dl[i], num);
        if (neg[i % k] == tgt[i / k])
            CHECK(dl[i] == 0.0f, "masked negative got gradient %g", dl[i]);
    }
    for (int i = 0; i < n; i++) {
        float keep = pos[i], l1 = 0, l2 = 0, t1[42], t2[6];
        pos[i] = keep + (float)eps;
        memcpy(t1, lg, sizeof lg);
        memcpy(t2, pos, sizeof pos);
        be->sampled_softmax(t1, t2, neg, tgt, n, k, 0.5f, &l1);
        pos[i] = keep - (float)eps;
        memcpy(t1, lg, sizeof lg);
        memcpy(t2, pos, sizeof pos);
        be->sampled_softmax(t1, t2, neg, tgt, n, k, 0.5f, &l2);
        pos[i] = keep;
        double num = 0.5 * (l1 - l2) / (2 * eps);
        CHECK(grad_close(dp[i], num, 0.5, 1e-2), "dpos[%d] %g vs %g", i, dp[i], num);
    }
}

/* ---------- whole model against a double-precision plain implementation ---------- */
typedef struct ref_cfg {
    int V, Vt, T, d, F, L, B, K;
} ref_cfg;

static double sigm(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

/* The spec, written out directly: per-position conv, per-occurrence item tower, GRU
 * over all L positions, sampled softmax over the non-padding positions. */
static double ref_loss(const fr_model *m, const double *P, const int32_t *win, const int32_t *neg,
                       const ref_cfg *c)
{
    int V = c->V, T = c->T, d = c->d, F = c->F, L = c->L, W = L + 1;
    const double *Eid = P + m->p[FR_P_E_ID].offset, *Etok = P + m->p[FR_P_E_TOK].offset;
    const double *cw = P + m->p[FR_P_CONV_W].offset, *cb = P + m->p[FR_P_CONV_B].offset;
    const double *Wp = P + m->p[FR_P_W_PROJ].offset, *bp = P + m->p[FR_P_B_PROJ].offset;
    const double *Wi = P + m->p[FR_P_GRU_W_IH].offset, *Wh = P + m->p[FR_P_GRU_W_HH].offset;
    const double *bi = P + m->p[FR_P_GRU_B_IH].offset, *bh = P + m->p[FR_P_GRU_B_HH].offset;
    double *H = calloc((size_t)V * d, sizeof(double));
    for (int i = 1; i < V; i++) {
        double mx[64];
        for (int f = 0; f < F; f++) {
            mx[f] = -1e300;
            for (int t = 0; t < T; t++) {
                double s = cb[f];
                for (int k = 0; k < 3; k++) {
                    int pos = t + k - 1;
                    if (pos < 0 || pos >= T)
                        continue;
                    int tk = m->item_tokens[i * T + pos];
                    if (tk == 0)
                        continue;
                    for (int ch = 0; ch < d; ch++)
                        s += cw[(f * d + ch) * 3 + k] * Etok[tk * d + ch];
                }
                s = s > 0 ? s : 0;
                mx[f] = fmax(mx[f], s);
            }
        }
        for (int j = 0; j < d; j++) {
            double s = Eid[i * d + j] + bp[j];
            for (int f = 0; f < F; f++)
                s += Wp[j * F + f] * mx[f];
            H[i * d + j] = s;
        }
    }
    double total = 0;
    long npos = 0;
    double z[64], zn[64];
    for (int b = 0; b < c->B; b++) {
        const int32_t *w = win + b * W;
        memset(z, 0, sizeof z);
        for (int t = 0; t < L; t++) {
            const double *x = H + (size_t)w[t] * d; /* row 0 is zero */
            for (int j = 0; j < d; j++) {
                double ar = bi[j] + bh[j], au = bi[d + j] + bh[d + j];
                double xn = bi[2 * d + j], hn = bh[2 * d + j];
                for (int q = 0; q < d; q++) {
                    ar += Wi[j * d + q] * x[q] + Wh[j * d + q] * z[q];
                    au += Wi[(d + j) * d + q] * x[q] + Wh[(d + j) * d + q] * z[q];
                    xn += Wi[(2 * d + j) * d + q] * x[q];
                    hn += Wh[(2 * d + j) * d + q] * z[q];
                }
                double r = sigm(ar), u = sigm(au), nn = tanh(xn + r * hn);
                zn[j] = (1 - u) * nn + u * z[j];
            }
            memcpy(z, zn, sizeof z);
            if (w[t] == 0)
                continue;
            int tg = w[t + 1];
            double lp = 0, lg[256], mxl;
            for (int q = 0; q < d; q++)
                lp += z[q] * H[tg * d + q];
            mxl = lp;
            for (int k = 0; k < c->K; k++) {
                lg[k] = 0;
                for (int q = 0; q < d; q++)
                    lg[k] += z[q] * H[neg[k] * d + q];
                if (neg[k] != tg)
                    mxl = fmax(mxl, lg[k]);
            }
            double s = exp(lp - mxl);
            for (int k = 0; k < c->K; k++)
                if (neg[k] != tg)
                    s += exp(lg[k] - mxl);
            total += log(s) + mxl - lp;
            npos++;
        }
    }
    free(H);
    return total / (double)npos;
}

/* shared: the batch reads its item tower from a shared pass over its items and
 * others (DP-SGD's path), whose backward is its own code; unshared, also through a
 * net sized by the batch's trained positions (fr_nn_init_positions). */
static void model_grad(int shared)
{
    const fr_backend *be = fr_backend_cpu();
    be->set_threads(2);
    ref_cfg c = {.V = 13, .Vt = 21, .T = 4, .d = 6, .F = 5, .L = 7, .B = 4, .K = 6};
    fr_model_config mc = {
        .num_items = c.V, .token_vocab = c.Vt, .num_tokens = c.T, .dim = c.d, .filters = c.F};
    int32_t *tokens = calloc((size_t)c.V * c.T, sizeof(int32_t));
    for (int i = 1; i < c.V; i++)
        for (int t = 0; t < c.T; t++)
            tokens[i * c.T + t] = (t < 1 + i % c.T) ? 1 + (int32_t)fr_rng_below(&rng, c.Vt - 1) : 0;
    fr_model m;
    fr_err err = {{0}};
    fr_status st = fr_model_init(&m, &mc, be, tokens, NULL, &err);
    CHECK(st == FR_OK, "model init: %s", err.msg);
    if (st)
        return;
    fr_model_init_params(&m, 7);
    /* Larger than the spec's initial scale so that every term matters in the check. */
    float *host = malloc(m.n * sizeof(float));
    fr_model_get_params(&m, host);
    for (int i = 0; i < FR_NPARAMS; i++) {
        float *x = host + m.p[i].offset;
        fill(x, m.p[i].size, i <= FR_P_E_TOK ? 0.6 : 0.5);
        if (i <= FR_P_E_TOK)
            memset(x, 0, sizeof(float) * c.d); /* padding row */
    }
    fr_model_set_params(&m, host);
    int32_t win[4 * 8] = {0, 0, 0, 3, 5,  7, 2,  9,   /* left padding */
                          1, 2, 3, 4, 5,  6, 7,  8,   /* full */
                          0, 0, 0, 0, 0,  0, 11, 12,  /* a single position */
                          4, 4, 9, 1, 12, 3, 3,  10}; /* repeated items */
    int32_t neg[6] = {5, 12, 2, 2, 10, 6};            /* includes targets and a repeat */
    fr_nn net, sh;
    st = fr_nn_init(&net, &m, c.B, c.L, c.K, &err);
    CHECK(st == FR_OK, "net init: %s", err.msg);
    memset(&sh, 0, sizeof sh);
    if (shared) {
        int32_t *all = malloc(sizeof(int32_t) * (size_t)c.V);
        for (int i = 0; i < c.V - 1; i++) /* every item, in reverse: other rows than the batch's */
            all[i] = c.V - 1 - i;
        CHECK(fr_nn_init_shared(&sh, &m, 0, &err) == FR_OK, "%s", err.msg);
        CHECK(fr_nn_share_items(&sh, all, c.V - 1, &err) == FR_OK, "%s", err.msg);
        free(all);
        net.shared = &sh;
    }
    be->zero(m.grads, m.n);
    double loss = 0;
    long npos = 0;
    st = fr_nn_batch(&net, win, c.B, neg, 1, &loss, &npos, &err);
    CHECK(st == FR_OK, "batch: %s", err.msg);
    float *g = malloc(m.n * sizeof(float));
    be->download(g, m.grads, m.n * sizeof(float));
    double *P = malloc(m.n * sizeof(double));
    for (size_t i = 0; i < m.n; i++)
        P[i] = host[i];
    double ref = ref_loss(&m, P, win, neg, &c);
    double mean = loss / (double)npos;
    CHECK(npos == 4 + 7 + 1 + 7, "positions %ld", npos);
    CHECK(fabs(mean - ref) < 1e-5 * fabs(ref), "float loss %.8f vs double reference %.8f", mean,
          ref);
    double eps = 1e-5;
    for (int pi = 0; pi < FR_NPARAMS; pi++) {
        const fr_param *p = &m.p[pi];
        double gmax = 0;
        for (size_t i = 0; i < p->size; i++)
            gmax = fmax(gmax, fabs(g[p->offset + i]));
        CHECK(gmax > 1e-4, "%s: gradient is all (near) zero", p->name);
        int bad = 0;
        for (size_t i = 0; i < p->size; i++) {
            size_t o = p->offset + i;
            double keep = P[o];
            P[o] = keep + eps;
            double lp = ref_loss(&m, P, win, neg, &c);
            P[o] = keep - eps;
            double lm = ref_loss(&m, P, win, neg, &c);
            P[o] = keep;
            double num = (lp - lm) / (2 * eps);
            int pad_row = (pi <= FR_P_E_TOK && i < (size_t)c.d);
            if (pad_row) {
                CHECK(g[o] == 0.0f, "%s padding row got gradient %g", p->name, g[o]);
                continue;
            }
            if (!grad_close(g[o], num, gmax, 2e-3) && bad++ < 3)
                CHECK(0, "%s[%zu]: analytic %.7g numeric %.7g", p->name, i, g[o], num);
        }
        CHECK(bad == 0, "%s: %d entries off", p->name, bad);
    }
    /* a net sized by the batch's trained positions: the same loss and gradient bit for
     * bit; one position fewer and the batch is refused */
    for (int cap = (int)npos; !shared && cap >= (int)npos - 1; cap--) {
        fr_nn pn;
        CHECK(fr_nn_init_positions(&pn, &m, c.B, c.L, c.K, cap, &err) == FR_OK, "%s", err.msg);
        float *g2 = malloc(m.n * sizeof(float));
        double loss2 = 0;
        long npos2 = 0;
        be->zero(m.grads, m.n);
        st = fr_nn_batch(&pn, win, c.B, neg, 1, &loss2, &npos2, &err);
        be->download(g2, m.grads, m.n * sizeof(float));
        if (cap == (int)npos)
            CHECK(st == FR_OK && loss2 == loss && memcmp(g, g2, m.n * sizeof(float)) == 0,
                  "net of %d positions: %s, loss %.9g against %.9g", cap, err.msg, loss2, loss);
        else
            CHECK(st == FR_EINVAL, "a batch of %ld positions in a net of %d", npos, cap);
        free(g2);
        fr_nn_free(&pn);
    }
    free(g);
    free(P);
    free(host);
    free(tokens);
    fr_nn_free(&net);
    if (shared)
        fr_nn_free(&sh);
    fr_model_free(&m);
}

static void test_model_grad(void)
{
    model_grad(0);
}
static void test_model_grad_shared(void)
{
    model_grad(1);
}

/* The GRU's recurrent products for a few rows (plain loops) and for many (sgemm): the
 * same rows give the same states and gradients. */
static void test_gru_few_rows(void)
{
    const fr_backend *be = fr_backend_cpu();
    be->set_threads(1);
    int L = 6, d = 16, nb = 20, ns = 7; /* 7 rows: a block of 4 and 3 more */
    size_t big3 = (size_t)L * nb * 3 * d;
    float *gi = malloc(sizeof(float) * big3), *whh = malloc(sizeof(float) * 3 * d * d);
    float *bhh = malloc(sizeof(float) * 3 * d), *dz = malloc(sizeof(float) * L * nb * d);
    fill(gi, big3, 1.5);
    fill(whh, 3 * d * d, 0.5);
    fill(bhh, 3 * d, 0.5);
    fill(dz, (size_t)L * nb * d, 1.0);
    /* the first ns rows of every step, as a batch of their own */
    float *gis = malloc(sizeof(float) * L * ns * 3 * d), *dzs = malloc(sizeof(float) * L * ns * d);
    for (int t = 0; t < L; t++) {
        memcpy(gis + (size_t)t * ns * 3 * d, gi + (size_t)t * nb * 3 * d,
               sizeof(float) * ns * 3 * d);
        memcpy(dzs + (size_t)t * ns * d, dz + (size_t)t * nb * d, sizeof(float) * ns * d);
    }
    float *out[2][3];
    int bs[2] = {nb, ns};
    const float *gis_of[2] = {gi, gis}, *dz_of[2] = {dz, dzs};
    for (int k = 0; k < 2; k++) {
        int b = bs[k];
        float *z = calloc((size_t)(L + 1) * b * d, sizeof(float));
        size_t l3 = (size_t)L * b * 3 * d;
        float *g = calloc(l3, sizeof(float)), *gn = calloc((size_t)L * b * d, sizeof(float));
        float *dgi = calloc(l3, sizeof(float)), *dgh = calloc(l3, sizeof(float));
        be->gru_forward(z, g, gn, gis_of[k], whh, bhh, L, b, d);
        be->gru_backward(dgi, dgh, dz_of[k], g, gn, z, whh, L, b, d);
        out[k][0] = z;
        out[k][1] = dgi;
        out[k][2] = dgh;
        free(g);
        free(gn);
    }
    double worst = 0, scale = 0;
    for (int t = 0; t < L; t++)
        for (int i = 0; i < ns; i++)
            for (int j = 0; j < 3 * d; j++) {
                for (int q = 1; q < 3; q++) {
                    double a = out[0][q][((size_t)t * nb + i) * 3 * d + j];
                    double b = out[1][q][((size_t)t * ns + i) * 3 * d + j];
                    worst = fmax(worst, fabs(a - b));
                    scale = fmax(scale, fabs(a));
                }
                if (j < d) {
                    double a = out[0][0][((size_t)(t + 1) * nb + i) * d + j];
                    double b = out[1][0][((size_t)(t + 1) * ns + i) * d + j];
                    worst = fmax(worst, fabs(a - b));
                }
            }
    CHECK(scale > 0.1 && worst <= 1e-5 * scale, "few rows differ by %g (scale %g)", worst, scale);
    for (int k = 0; k < 2; k++)
        for (int q = 0; q < 3; q++)
            free(out[k][q]);
    free(gi);
    free(whh);
    free(bhh);
    free(dz);
    free(gis);
    free(dzs);
}

int main(void)
{
    fr_rng_seed(&rng, 12345);
    RUN(test_conv_pool_grad);
    RUN(test_tap_products);
    RUN(test_gru_grad);
    RUN(test_softmax_grad);
    RUN(test_gru_few_rows);
    RUN(test_model_grad);
    RUN(test_model_grad_shared);
    return fr_test_end();
}
