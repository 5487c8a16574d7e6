/* The CUDA backend against the CPU reference (`make test-cuda`), op by op: every op of
 * the table on fresh random inputs, recall's top-K selection among them. Without a
 * usable GPU (or in a build without the backend) it says why, reports zero cases and
 * exits 0. The model on both backends is in test_cuda_model.c. */
#include "fr_test_cuda.h"
#include "privacy/fr_dp_rng.h"

static void test_gemm(void)
{
    int m = 37, n = 53, k = 29, pad = 3;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int beta_on = 0; beta_on < 2; beta_on++) {
                int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
                size_t na = (size_t)(ta ? k : m) * lda, nb = (size_t)(tb ? n : k) * ldb;
                size_t nc = (size_t)m * ldc;
                float *a = rand_host(na, -1, 1), *b = rand_host(nb, -1, 1);
                float *c = rand_host(nc, -1, 1), beta = beta_on ? 0.5f : 0.0f;
                float *da = dev(a, na), *db = dev(b, nb);
                /* with beta 0, C is never read: NaN there must not show */
                float *dc = beta_on ? dev(c, nc) : dev_nan(nc);
                cpu->gemm(ta, tb, m, n, k, 0.75f, a, lda, b, ldb, beta, c, ldc);
                double f0 = gpu->flop_count();
                gpu->gemm(ta, tb, m, n, k, 0.75f, da, lda, db, ldb, beta, dc, ldc);
                CHECK(gpu->flop_count() - f0 == 2.0 * m * n * k, "flop count");
                /* only the m x n block is defined: compare row by row */
                float *got = down(dc, nc);
                double worst = 0;
                for (int i = 0; i < m; i++)
                    worst =
                        fmax(worst, rel_err(c + (size_t)i * ldc, got + (size_t)i * ldc, (size_t)n));
                CHECK(worst <= 1e-5, "gemm ta=%d tb=%d beta=%g: relative error %g", ta, tb,
                      (double)beta, worst);
                free(got);
                gpu->free(da);
                gpu->free(db);
                gpu->free(dc);
                free(a);
                free(b);
                free(c);
            }
    /* k = 0: C = beta C */
    float *c = rand_host(12, -1, 1), *dc = dev(c, 12);
    cpu->gemm(0, 0, 3, 4, 0, 1.0f, c, 1, c, 4, 0.5f, c, 4);
    gpu->gemm(0, 0, 3, 4, 0, 1.0f, dc, 1, dc, 4, 0.5f, dc, 4);
    EXPECT_CLOSE("gemm k=0", c, dc, 12, 0);
    free(c);
}

static int32_t *rand_rows(int n, int range, int allow_pad)
{
    int32_t *r = malloc((size_t)n * sizeof(int32_t));
    for (int i = 0; i < n; i++)
        r[i] = allow_pad && i % 5 == 2 ? -1 : (int32_t)fr_rng_below(&rng, (uint64_t)range);
    return r;
}

/* n distinct rows of [0, range) */
static int32_t *distinct_rows(int n, int range)
{
    FR_ASSERT(n <= range);
    int32_t *all = malloc((size_t)range * sizeof(int32_t));
    for (int i = 0; i < range; i++)
        all[i] = i;
    fr_rng_shuffle_i32(&rng, all, range);
    return all; /* the first n */
}

static void test_rows(void)
{
    int n = 300, d = 67, src_rows = 40;
    size_t nd = (size_t)n * d, sd = (size_t)src_rows * d;
    float *src = rand_host(sd, -1, 1), *dsrc = dev(src, sd);
    int32_t *rows = rand_rows(n, src_rows, 1); /* repeats and padding */
    int32_t *drows = dev_bytes(rows, (size_t)n * sizeof(int32_t));

    float *out = rand_host(nd, 0, 1), *dout = dev_nan(nd);
    cpu->gather_rows(out, src, rows, n, d);
    gpu->gather_rows(dout, dsrc, drows, n, d);
    EXPECT_CLOSE("gather_rows", out, dout, nd, 0);

    float *x = rand_host(nd, -1, 1), *dx = dev(x, nd), *dst = copy_host(src, sd),
          *ddst = dev(src, sd);
    cpu->scatter_add_rows(dst, x, rows, n, d);
    gpu->scatter_add_rows(ddst, dx, drows, n, d);
    EXPECT_CLOSE("scatter_add_rows", dst, ddst, sd, 1e-5);

    float *bias = rand_host((size_t)d, -1, 1), *dbias = dev(bias, (size_t)d);
    float *y = copy_host(x, nd), *dy = dev(x, nd);
    cpu->add_bias(y, bias, n, d);
    gpu->add_bias(dy, dbias, n, d);
    EXPECT_CLOSE("add_bias", y, dy, nd, 1e-6);

    float *s = rand_host((size_t)n, -1, 1), *ds = dev(s, (size_t)n);
    float *o = copy_host(x, nd), *dO = dev(x, nd);
    cpu->row_scale_add(o, s, y, n, d);
    float *dy2 = dev(y, nd);
    gpu->row_scale_add(dO, ds, dy2, n, d);
    EXPECT_CLOSE("row_scale_add", o, dO, nd, 1e-6);

    float *dot = malloc((size_t)n * sizeof(float)), *ddot = dev_nan((size_t)n);
    cpu->row_dot(dot, x, y, n, d);
    gpu->row_dot(ddot, dx, dy2, n, d);
    EXPECT_CLOSE("row_dot", dot, ddot, (size_t)n, 1e-5);

    float *sum = copy_host(bias, (size_t)d), *dsum = dev(bias, (size_t)d);
    cpu->sum_rows(sum, x, n, d);
    gpu->sum_rows(dsum, dx, n, d);
    EXPECT_CLOSE("sum_rows", sum, dsum, (size_t)d, 1e-5);

    /* squared norms: whole vector and distinct rows */
    double nc = cpu->sq_norm(x, nd), ng = gpu->sq_norm(dx, nd);
    CHECK(fr_rel_err(nc, ng) < 1e-9 && isfinite(ng), "sq_norm %.17g vs %.17g", nc, ng);
    int nr = 25;
    int32_t *drs = distinct_rows(nr, src_rows);
    int32_t *ddrs = dev_bytes(drs, (size_t)nr * sizeof(int32_t));
    nc = cpu->rows_sq_norm(src, drs, nr, d);
    ng = gpu->rows_sq_norm(dsrc, ddrs, nr, d);
    CHECK(fr_rel_err(nc, ng) < 1e-6 && isfinite(ng), "rows_sq_norm %.17g vs %.17g", nc, ng);
    CHECK(gpu->sq_norm(dsrc, 0) == 0.0, "empty norm");

    float *acc = rand_host(sd, -1, 1), *dacc = dev(acc, sd), *g = copy_host(src, sd);
    float *dg = dev(src, sd);
    cpu->rows_axpy_clear(acc, 0.3f, g, drs, nr, d);
    gpu->rows_axpy_clear(dacc, 0.3f, dg, ddrs, nr, d);
    EXPECT_CLOSE("rows_axpy_clear sum", acc, dacc, sd, 1e-6);
    EXPECT_CLOSE("rows_axpy_clear cleared", g, dg, sd, 0);

    float *ax = copy_host(x, nd), *dax = dev(x, nd);
    cpu->axpy(ax, -1.5f, y, nd);
    gpu->axpy(dax, -1.5f, dy2, nd);
    EXPECT_CLOSE("axpy", ax, dax, nd, 1e-6);
    cpu->scale(ax, 0.25f, nd);
    dax = dev(ax, nd); /* scale from the same start on both */
    float *sc = copy_host(ax, nd);
    cpu->scale(sc, 3.0f, nd);
    gpu->scale(dax, 3.0f, nd);
    EXPECT_CLOSE("scale", sc, dax, nd, 1e-7);
    cpu->mul(sc, y, nd);
    gpu->mul(dax, dy2, nd);
    EXPECT_CLOSE("mul", sc, dax, nd, 1e-7);
    float *dz = dev(x, nd), *zero = calloc(nd, sizeof(float));
    gpu->zero(dz, nd);
    EXPECT_CLOSE("zero", zero, dz, nd, 0);

    gpu->free(dsrc);
    gpu->free(drows);
    gpu->free(dx);
    gpu->free(dbias);
    gpu->free(ds);
    gpu->free(dy2);
    gpu->free(ddrs);
    void *hs[] = {src, rows, out, x, dst, bias, y, s, o, dot, sum, drs, acc, g, ax, sc, zero};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
        free(hs[i]);
}

static void test_conv(void)
{
    int nu = 50, T = 7, F = 40, nt = 30, d = 24;
    size_t np = (size_t)nt * 3 * F, nf = (size_t)nu * F;
    float *p = rand_host(np, -1, 1), *bias = rand_host((size_t)F, -0.5f, 0.5f);
    int32_t *tok = malloc((size_t)nu * T * sizeof(int32_t));
    for (int i = 0; i < nu * T; i++)
        tok[i] = i % 6 == 5 ? -1 : (int32_t)fr_rng_below(&rng, (uint64_t)nt);
    float *dp = dev(p, np), *dbias = dev(bias, (size_t)F);
    int32_t *dtok = dev_bytes(tok, (size_t)nu * T * sizeof(int32_t));
    float *m = malloc(nf * sizeof(float)), *dm = dev_nan(nf);
    int32_t *arg = malloc(nf * sizeof(int32_t)), *darg = gpu->alloc(nf * sizeof(int32_t));
    cpu->conv_pool_forward(m, arg, p, tok, bias, nu, T, F);
    gpu->conv_pool_forward(dm, darg, dp, dtok, dbias, nu, T, F);
    int32_t *garg = malloc(nf * sizeof(int32_t));
    gpu->download(garg, darg, nf * sizeof(int32_t));
    int same = 0;
    for (size_t i = 0; i < nf; i++)
        same += garg[i] == arg[i] || m[i] == 0.0f; /* a pooled 0 has no gradient */
    CHECK(same == (int)nf, "conv_pool_forward: %zu of %zu argmax differ", nf - same, nf);
    float *mh = copy_host(m, nf);
    EXPECT_CLOSE("conv_pool_forward", m, dm, nf, 1e-6);

    /* backward from the CPU's forward outputs on both */
    float *g = rand_host(nf, -1, 1), *dg = dev(g, nf), *dmh = dev(mh, nf);
    int32_t *darg2 = dev_bytes(arg, nf * sizeof(int32_t));
    float *gp = rand_host(np, -1, 1), *dgp = dev(gp, np);
    float *db = copy_host(bias, (size_t)F), *ddb = dev(bias, (size_t)F);
    cpu->conv_pool_backward(gp, db, g, mh, arg, tok, nu, T, F);
    gpu->conv_pool_backward(dgp, ddb, dg, dmh, darg2, dtok, nu, T, F);
    EXPECT_CLOSE("conv_pool_backward gp", gp, dgp, np, 1e-5);
    EXPECT_CLOSE("conv_pool_backward dbias", db, ddb, (size_t)F, 1e-5);

    /* the rows form: 13 items read from rows of that forward pass, out of order */
    int nr = 13;
    int32_t rows[13], *rtok = malloc((size_t)nr * T * sizeof(int32_t));
    for (int i = 0; i < nr; i++) {
        rows[i] = (int32_t)((i * 7 + 3) % nu);
        memcpy(rtok + (size_t)i * T, tok + (size_t)rows[i] * T, (size_t)T * sizeof(int32_t));
    }
    float *rg = rand_host((size_t)nr * F, -1, 1), *drg = dev(rg, (size_t)nr * F);
    float *rgp = rand_host(np, -1, 1), *drgp = dev(rgp, np);
    float *rdb = copy_host(bias, (size_t)F), *drdb = dev(bias, (size_t)F);
    int32_t *drows = dev_bytes(rows, sizeof rows), *drtok = dev_bytes(rtok, (size_t)nr * T * 4);
    float *dmh2 = dev(mh, nf);
    cpu->conv_pool_backward_rows(rgp, rdb, rg, mh, arg, rows, rtok, nr, T, F);
    gpu->conv_pool_backward_rows(drgp, drdb, drg, dmh2, darg2, drows, drtok, nr, T, F);
    EXPECT_CLOSE("conv_pool_backward_rows gp", rgp, drgp, np, 1e-5);
    EXPECT_CLOSE("conv_pool_backward_rows dbias", rdb, drdb, (size_t)F, 1e-5);
    gpu->free(drg);
    gpu->free(drows);
    gpu->free(drtok);
    gpu->free(dmh2);
    free(rtok);
    free(rg);
    free(rgp);
    free(rdb);

    size_t nw = (size_t)F * d * 3;
    float *w = rand_host(nw, -1, 1), *dw = dev(w, nw), *wr = malloc(nw * sizeof(float));
    float *dwr = dev_nan(nw);
    cpu->conv_w_pack(wr, w, F, d);
    gpu->conv_w_pack(dwr, dw, F, d);
    EXPECT_CLOSE("conv_w_pack", wr, dwr, nw, 0);
    float *acc = rand_host(nw, -1, 1), *dacc = dev(acc, nw), *dwr2 = dev(wr, nw);
    cpu->conv_w_unpack_add(acc, wr, F, d);
    gpu->conv_w_unpack_add(dacc, dwr2, F, d);
    EXPECT_CLOSE("conv_w_unpack_add", acc, dacc, nw, 1e-7);

    /* tap_products on one user's tap rows, a fifth of their entries set, with the packed
     * weights above: the CPU lists the set entries, the device multiplies densely */
    int ut = 29, f3 = 3 * F;
    float *ugp = rand_host((size_t)ut * f3, -1, 1), *ux = rand_host((size_t)ut * d, -1, 1);
    for (size_t i = 0; i < (size_t)ut * f3; i++)
        if (fr_rng_uniform(&rng) >= 0.2)
            ugp[i] = 0.0f;
    float *udx = malloc((size_t)ut * d * sizeof(float)), *udwr = malloc(nw * sizeof(float));
    float *dugp = dev(ugp, (size_t)ut * f3), *dux = dev(ux, (size_t)ut * d);
    float *dudx = dev_nan((size_t)ut * d), *dudwr = dev_nan(nw), *dwr3 = dev(wr, nw);
    cpu->tap_products(udx, udwr, ugp, wr, ux, ut, f3, d);
    gpu->tap_products(dudx, dudwr, dugp, dwr3, dux, ut, f3, d);
    EXPECT_CLOSE("tap_products dx", udx, dudx, (size_t)ut * d, 1e-5);
    EXPECT_CLOSE("tap_products dwr", udwr, dudwr, nw, 1e-5);
    dudwr = dev_nan(nw);
    gpu->tap_products(NULL, dudwr, dugp, dwr3, dux, 0, f3, d); /* no token: dwr all zero */
    memset(udwr, 0, nw * sizeof(float));
    EXPECT_CLOSE("tap_products dwr, no token", udwr, dudwr, nw, 0);
    void *tf[] = {dugp, dux, dwr3};
    for (size_t i = 0; i < sizeof tf / sizeof tf[0]; i++)
        gpu->free(tf[i]);
    free(ugp);
    free(ux);
    free(udx);
    free(udwr);

    gpu->free(dp);
    gpu->free(dbias);
    gpu->free(dtok);
    gpu->free(darg);
    gpu->free(dg);
    gpu->free(dmh);
    gpu->free(darg2);
    gpu->free(dw);
    void *hs[] = {p, bias, tok, m, arg, garg, mh, g, gp, db, w, wr, acc};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
        free(hs[i]);
}

static void test_gru(void)
{
    int L = 6, b = 9, d = 20;
    size_t bd = (size_t)b * d, n3 = (size_t)L * bd * 3, n1 = (size_t)L * bd;
    float *gi = rand_host(n3, -1, 1), *whh = rand_host((size_t)3 * d * d, -0.3f, 0.3f);
    float *bhh = rand_host((size_t)3 * d, -0.3f, 0.3f);
    float *z = malloc((n1 + bd) * sizeof(float)), *gates = malloc(n3 * sizeof(float));
    float *ghn = malloc(n1 * sizeof(float));
    float *dgi_ = dev(gi, n3), *dwhh = dev(whh, (size_t)3 * d * d), *dbhh = dev(bhh, (size_t)3 * d);
    float *dz = dev_nan(n1 + bd), *dgates = dev_nan(n3), *dghn = dev_nan(n1);
    cpu->gru_forward(z, gates, ghn, gi, whh, bhh, L, b, d);
    gpu->gru_forward(dz, dgates, dghn, dgi_, dwhh, dbhh, L, b, d);
    float *zc = copy_host(z, n1 + bd), *gc = copy_host(gates, n3), *hc = copy_host(ghn, n1);
    EXPECT_CLOSE("gru_forward z", z, dz, n1 + bd, 1e-4);
    EXPECT_CLOSE("gru_forward gates", gates, dgates, n3, 1e-4);
    EXPECT_CLOSE("gru_forward ghn", ghn, dghn, n1, 1e-4);

    /* backward from the CPU's forward state on both */
    float *up = rand_host(n1, -1, 1);
    float *dup = dev(up, n1), *dzs = dev(zc, n1 + bd), *dgs = dev(gc, n3), *dhs = dev(hc, n1);
    float *dgi = malloc(n3 * sizeof(float)), *dgh = malloc(n3 * sizeof(float));
    float *ddgi = dev_nan(n3), *ddgh = dev_nan(n3);
    cpu->gru_backward(dgi, dgh, up, gc, hc, zc, whh, L, b, d);
    gpu->gru_backward(ddgi, ddgh, dup, dgs, dhs, dzs, dwhh, L, b, d);
    EXPECT_CLOSE("gru_backward dgi", dgi, ddgi, n3, 1e-4);
    EXPECT_CLOSE("gru_backward dgh", dgh, ddgh, n3, 1e-4);

    float *dev_bufs[] = {dgi_, dwhh, dbhh, dup, dzs, dgs, dhs};
    for (size_t i = 0; i < sizeof dev_bufs / sizeof dev_bufs[0]; i++)
        gpu->free(dev_bufs[i]);
    void *hs[] = {gi, whh, bhh, z, gates, ghn, zc, gc, hc, up, dgi, dgh};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
        free(hs[i]);
}

static void test_softmax_adam(void)
{
    int n = 70, K = 300;
    size_t nk = (size_t)n * K;
    float *logits = rand_host(nk, -4, 4), *pos = rand_host((size_t)n, -4, 4);
    int32_t *neg = rand_rows(K, 50, 0), *tgt = rand_rows(n, 50, 0); /* many masked */
    float *dl = dev(logits, nk), *dp = dev(pos, (size_t)n);
    int32_t *dneg = dev_bytes(neg, (size_t)K * 4), *dtgt = dev_bytes(tgt, (size_t)n * 4);
    float loss = 0.5f, *dloss = dev(&loss, 1);
    cpu->sampled_softmax(logits, pos, neg, tgt, n, K, 1.0f / n, &loss);
    gpu->sampled_softmax(dl, dp, dneg, dtgt, n, K, 1.0f / n, dloss);
    EXPECT_CLOSE("sampled_softmax logits", logits, dl, nk, 1e-5);
    EXPECT_CLOSE("sampled_softmax pos", pos, dp, (size_t)n, 1e-5);
    EXPECT_CLOSE("sampled_softmax loss", &loss, dloss, 1, 1e-5);
    gpu->free(dneg);
    gpu->free(dtgt);

    size_t np = 5000;
    float *p = rand_host(np, -1, 1), *g = rand_host(np, -1, 1), *m = rand_host(np, -0.1f, 0.1f);
    float *v = rand_host(np, 0, 0.01f);
    float *dpp = dev(p, np), *dg = dev(g, np), *dm = dev(m, np), *dv = dev(v, np);
    cpu->adam(p, g, m, v, np, 1e-2f, 0.9f, 0.999f, 1e-8f, 3);
    gpu->adam(dpp, dg, dm, dv, np, 1e-2f, 0.9f, 0.999f, 1e-8f, 3);
    EXPECT_CLOSE("adam p", p, dpp, np, 1e-6);
    EXPECT_CLOSE("adam m", m, dm, np, 1e-6);
    EXPECT_CLOSE("adam v", v, dv, np, 1e-6);
    EXPECT_CLOSE("adam g cleared", g, dg, np, 0);
    void *hs[] = {logits, pos, neg, tgt, p, g, m, v};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
        free(hs[i]);
}

/* Recall's selection: the same columns in the same order as the CPU, exactly (the
 * values are copied, not computed), over rows wider than a block with many ties, NaN,
 * a floor, exclusions and k from 1 to more than the row holds. */
static void test_topk_rows(void)
{
    struct {
        int n, v, k, levels, excl;
        float floor;
    } cases[] = {
        {37, 100003, 100, 1000000, 1, -INFINITY},
        {37, 100003, 100, 7, 1, -INFINITY},
        {5, 20011, 1, 50, 0, -INFINITY},
        {5, 20011, 1000, 50, 1, 0.5f},
        {3, 5000, 4097, 1000000, 1, -INFINITY},
        {4, 900, 1200, 9, 1, -INFINITY},
        {300, 4000, 64, 4, 1, 1.0f},
    };
    for (size_t q = 0; q < sizeof cases / sizeof cases[0]; q++) {
        int n = cases[q].n, v = cases[q].v, k = cases[q].k, lv = cases[q].levels;
        size_t nv = (size_t)n * v, nk = (size_t)n * k;
        float *sc = malloc(nv * sizeof *sc);
        for (size_t e = 0; e < nv; e++) {
            sc[e] = (float)fr_rng_below(&rng, (uint64_t)lv) - (float)lv / 2;
            if (fr_rng_below(&rng, 100) == 0)
                sc[e] = NAN;
        }
        int32_t *off = malloc((size_t)(n + 1) * sizeof *off);
        int32_t *ex = malloc(((size_t)n * 200 + 1) * sizeof *ex);
        off[0] = 0;
        for (int i = 0; i < n; i++) { /* ascending, repeats, the padding column */
            int m = cases[q].excl ? (int)fr_rng_below(&rng, 200) : 0, c = 0;
            for (int j = 0; j < m; j++) {
                c += (int)fr_rng_below(&rng, 30);
                ex[off[i] + j] = c < v ? c : v - 1;
            }
            off[i + 1] = off[i] + m;
        }
        float *dsc = dev(sc, nv), *dout = dev_nan(nk);
        int32_t *doff = dev_bytes(off, (size_t)(n + 1) * 4);
        int32_t *dex = dev_bytes(ex, ((size_t)off[n] + 1) * 4);
        int32_t *poison = malloc(nk * 4), *drows;
        for (size_t e = 0; e < nk; e++)
            poison[e] = 0x7fffffff;
        drows = dev_bytes(poison, nk * 4);
        int32_t *rows = malloc(nk * 4), *grows = malloc(nk * 4);
        float *out = malloc(nk * sizeof *out);
        const int32_t *hex = cases[q].excl ? ex : NULL, *gex = cases[q].excl ? dex : NULL;
        cpu->topk_rows(rows, out, sc, n, v, k, cases[q].floor, off, hex);
        gpu->topk_rows(drows, dout, dsc, n, v, k, cases[q].floor, doff, gex);
        float *gout = down(dout, nk);
        gpu->download(grows, drows, nk * 4);
        long bad = 0;
        for (size_t e = 0; e < nk; e++)
            bad += rows[e] != grows[e] || !(out[e] == gout[e]); /* NaN never equal */
        CHECK(bad == 0, "topk_rows n %d v %d k %d levels %d: %ld of %zu entries differ", n, v, k,
              lv, bad, nk);
        void *hs[] = {sc, off, ex, poison, rows, grows, out, gout};
        for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
            free(hs[i]);
        void *ds_[] = {dsc, dout, doff, dex, drows};
        for (size_t i = 0; i < sizeof ds_ / sizeof ds_[0]; i++)
            gpu->free(ds_[i]);
    }
}
/* dp_noise against the host's stream (privacy/fr_dp_rng.h): chunks of 1000 and a short
 * last one, each chunk from its own nonce. The device's logarithm may round the last bit
 * apart from the host's, which can move a value by one float step, rarely. */
static void test_dp_noise(void)
{
    fr_dp_rng r;
    fr_err err;
    CHECK(fr_dp_rng_init(&r, "device noise", 12, &err) == FR_OK, "%s", err.msg);
    size_t chunk = 1000, n = 2 * chunk + 357;
    uint64_t step = 9;
    float *host = malloc(n * sizeof(float));
    for (size_t c = 0; c * chunk < n; c++) {
        size_t len = n - c * chunk < chunk ? n - c * chunk : chunk;
        fr_dp_rng_normals_at(&r, (step << 24) | c, host + c * chunk, len, 0.8);
    }
    float *d = dev_nan(n);
    gpu->dp_noise(d, r.key, fr_dp_rng_stream_nonce(step << 24), n, chunk, 0.8);
    float *got = down(d, n);
    size_t same = 0, near = 0;
    for (size_t i = 0; i < n; i++) {
        same += memcmp(&host[i], &got[i], sizeof(float)) == 0;
        near += fabsf(host[i] - got[i]) <= 2e-7f * fabsf(host[i]);
    }
    CHECK(near == n, "dp_noise: %zu of %zu values off the host's by more than a float step",
          n - near, n);
    CHECK(same + 3 >= n, "dp_noise: only %zu of %zu values equal to the host's", same, n);
    gpu->free(d);
    free(got);
    free(host);
    fr_dp_rng_free(&r);
}

int main(void)
{
    if (!cuda_test_open("test_cuda_ops"))
        return fr_test_end();
    RUN(test_gemm);
    RUN(test_rows);
    RUN(test_conv);
    RUN(test_gru);
    RUN(test_softmax_adam);
    RUN(test_topk_rows);
    RUN(test_dp_noise);
    return fr_test_end();
}
