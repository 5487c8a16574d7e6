/* The CUDA backend's network ops: the item tower's convolution and max-pool, the
 * GRU steps and the sampled softmax. Each kernel is the CPU reference's loop body
 * (fr_backend_cpu_nn.c; the softmax's in fr_backend_cpu.c) with one thread per
 * independent element: (item, filter) for the convolution, (row, unit) for a GRU step,
 * one block per position for the softmax.
 * The GRU's per-step products run through cuBLAS between the step kernels. */
#include <math.h>

#include "backend/fr_backend_cuda_int.h"

/* ---- convolution and max-pool ---- */

/* Thread (i, f): the CPU loop over t for item i, filter f. */
__global__ void k_conv_pool_forward(float *m, int32_t *arg, const float *p, const int32_t *tok,
                                    const float *bias, int nu, int T, int F)
{
    GRID_LOOP(e, (size_t)nu * F)
    {
        size_t i = e / F;
        int f = (int)(e % F);
        const int32_t *ti = tok + i * T;
        float best = 0.0f;
        int32_t at = 0;
        for (int t = 0; t < T; t++) {
            float c = bias[f];
            for (int k = 0; k < 3; k++) {
                int pos = t + k - 1;
                if (pos < 0 || pos >= T || ti[pos] < 0)
                    continue;
                c += p[(size_t)ti[pos] * 3 * F + (size_t)k * F + f];
            }
            /* ReLU then max, first maximum wins (as on the CPU) */
            if (t == 0) {
                best = c > 0.0f ? c : 0.0f;
                at = 0;
            } else if (c > best) {
                best = c;
                at = t;
            }
        }
        m[e] = best;
        arg[e] = at;
    }
}

void fr_cu_conv_pool_forward(float *m, int32_t *arg, const float *p, const int32_t *tok,
                             const float *bias, int nu, int t, int f)
{
    LAUNCH(k_conv_pool_forward, (size_t)nu * f, m, arg, p, tok, bias, nu, t, f);
}

/* Items share tokens, so the token taps meet in atomicAdd. With rows, item i's pooled
 * values and positions are row rows[i] of m and arg (conv_pool_backward_rows). */
__global__ void k_conv_pool_backward(float *gp, float *dbias, const float *dm, const float *m,
                                     const int32_t *arg, const int32_t *rows, const int32_t *tok,
                                     int nu, int T, int F)
{
    GRID_LOOP(e, (size_t)nu * F)
    {
        size_t i = e / F;
        int f = (int)(e % F);
        size_t at = rows ? (size_t)rows[i] * F + f : e;
        if (!(m[at] > 0.0f))
            continue;
        const int32_t *ti = tok + i * T;
        float g = dm[e];
        int t = arg[at];
        atomicAdd(dbias + f, g);
        for (int k = 0; k < 3; k++) {
            int pos = t + k - 1;
            if (pos < 0 || pos >= T || ti[pos] < 0)
                continue;
            atomicAdd(gp + (size_t)ti[pos] * 3 * F + (size_t)k * F + f, g);
        }
    }
}

void fr_cu_conv_pool_backward(float *gp, float *dbias, const float *dm, const float *m,
                              const int32_t *arg, const int32_t *tok, int nu, int t, int f)
{
    LAUNCH(k_conv_pool_backward, (size_t)nu * f, gp, dbias, dm, m, arg, (const int32_t *)NULL, tok,
           nu, t, f);
}

void fr_cu_conv_pool_backward_rows(float *gp, float *dbias, const float *dm, const float *m,
                                   const int32_t *arg, const int32_t *rows, const int32_t *tok,
                                   int nu, int t, int f)
{
    LAUNCH(k_conv_pool_backward, (size_t)nu * f, gp, dbias, dm, m, arg, rows, tok, nu, t, f);
}

/* One thread per entry (k, f, c) of wr (3F, d). */
__global__ void k_conv_w_pack(float *wr, const float *w, int F, int d)
{
    GRID_LOOP(e, (size_t)3 * F * d)
    {
        size_t kf = e / d, c = e % d, k = kf / F, f = kf % F;
        wr[e] = w[(f * d + c) * 3 + k];
    }
}

void fr_cu_conv_w_pack(float *wr, const float *w, int f, int d)
{
    LAUNCH(k_conv_w_pack, (size_t)3 * f * d, wr, w, f, d);
}

/* One thread per entry (f, c, k) of dw (F, d, 3): each has one writer. */
__global__ void k_conv_w_unpack_add(float *dw, const float *dwr, int F, int d)
{
    GRID_LOOP(e, (size_t)F * d * 3)
    {
        size_t fc = e / 3, k = e % 3, f = fc / d, c = fc % d;
        dw[e] += dwr[(k * F + f) * d + c];
    }
}

void fr_cu_conv_w_unpack_add(float *dw, const float *dwr, int f, int d)
{
    LAUNCH(k_conv_w_unpack_add, (size_t)f * d * 3, dw, dwr, f, d);
}

/* ---- GRU ---- */

__device__ static float sigmoidf(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

/* gh (n, 3d) = b_hh on every row */
__global__ void k_rows_fill(float *gh, const float *b_hh, int n, int d3)
{
    GRID_LOOP(e, (size_t)n * d3) gh[e] = b_hh[e % d3];
}

/* One step over n rows: thread (i, j) is gru_step_rows' inner body. */
__global__ void k_gru_step(float *hout, float *gates, float *ghn, const float *gi, const float *gh,
                           const float *h, int n, int d)
{
    GRID_LOOP(e, (size_t)n * d)
    {
        size_t i = e / d, j = e % d;
        const float *xi = gi + i * 3 * d, *hi = gh + i * 3 * d;
        float *g = gates + i * 3 * d;
        float r = sigmoidf(xi[j] + hi[j]);
        float u = sigmoidf(xi[d + j] + hi[d + j]);
        float nn = tanhf(xi[2 * d + j] + r * hi[2 * d + j]);
        g[j] = r;
        g[d + j] = u;
        g[2 * d + j] = nn;
        ghn[e] = hi[2 * d + j];
        hout[e] = (1.0f - u) * nn + u * h[e];
    }
}

void fr_cu_gru_forward(float *z, float *gates, float *ghn, const float *gi, const float *w_hh,
                       const float *b_hh, int L, int b, int d)
{
    size_t bd = (size_t)b * d, b3d = (size_t)b * 3 * d;
    if (L <= 0 || bd == 0)
        return;
    FR_CU(cudaMemsetAsync(z, 0, bd * sizeof(float), fr_cu_stream));
    fr_cu_ws_lock();
    float *gh = (float *)fr_cu_ws(b3d * sizeof(float));
    for (int t = 0; t < L; t++) {
        LAUNCH(k_rows_fill, b3d, gh, b_hh, b, 3 * d);
        if (t > 0) /* h_0 = 0 contributes nothing */
            fr_cu_gemm_raw(0, 1, b, 3 * d, d, 1.0f, z + t * bd, d, w_hh, d, 1.0f, gh, 3 * d);
        LAUNCH(k_gru_step, bd, z + (t + 1) * bd, gates + t * b3d, ghn + t * bd, gi + t * b3d, gh,
               z + t * bd, b, d);
    }
    fr_cu_ws_unlock();
    fr_cu_add_flops(2.0 * (L - 1) * b * 3 * d * d);
}

/* Backward of one step, thread (i, j): dh = dz_t + carry (the gradient flowing back
 * from step t+1; none at the last step); writes dgi, dgh and carry_out = u dh, to
 * which the caller adds dgh W_hh. gru_step_back_rows' inner body. */
__global__ void k_gru_step_back(float *dgi, float *dgh, float *carry_out, const float *carry_in,
                                const float *dz, const float *gates, const float *ghn,
                                const float *h, int n, int d)
{
    GRID_LOOP(e, (size_t)n * d)
    {
        size_t i = e / d, j = e % d;
        const float *g = gates + i * 3 * d;
        float *dx = dgi + i * 3 * d, *dhh = dgh + i * 3 * d;
        float dh = dz[e] + (carry_in ? carry_in[e] : 0.0f);
        float r = g[j], u = g[d + j], nn = g[2 * d + j];
        float dn = dh * (1.0f - u);
        float du = dh * (h[e] - nn);
        float dan = dn * (1.0f - nn * nn);
        float dau = du * u * (1.0f - u);
        float dar = dan * ghn[e] * r * (1.0f - r);
        dx[j] = dar;
        dx[d + j] = dau;
        dx[2 * d + j] = dan;
        dhh[j] = dar;
        dhh[d + j] = dau;
        dhh[2 * d + j] = dan * r;
        carry_out[e] = dh * u;
    }
}

void fr_cu_gru_backward(float *dgi, float *dgh, const float *dz, const float *gates,
                        const float *ghn, const float *z, const float *w_hh, int L, int b, int d)
{
    size_t bd = (size_t)b * d, b3d = (size_t)b * 3 * d;
    if (L <= 0 || bd == 0)
        return;
    fr_cu_ws_lock();
    float *carry[2];
    carry[0] = (float *)fr_cu_ws(2 * bd * sizeof(float));
    carry[1] = carry[0] + bd;
    int cur = 0;
    for (int t = L - 1; t >= 0; t--) {
        float *out = carry[cur], *in = t == L - 1 ? NULL : carry[1 - cur];
        float *dgh_t = dgh + t * b3d;
        LAUNCH(k_gru_step_back, bd, dgi + t * b3d, dgh_t, out, in, dz + t * bd, gates + t * b3d,
               ghn + t * bd, z + t * bd, b, d);
        if (t > 0)
            fr_cu_gemm_raw(0, 0, b, d, 3 * d, 1.0f, dgh_t, 3 * d, w_hh, d, 1.0f, out, d);
        cur = 1 - cur;
    }
    fr_cu_ws_unlock();
    fr_cu_add_flops(2.0 * (L - 1) * b * 3 * d * d);
}

/* ---- sampled softmax ---- */

__device__ static float block_reduce(float v, int is_max)
{
    __shared__ float part[FR_CU_THREADS / 32];
    for (int o = 16; o > 0; o /= 2) {
        float w = __shfl_down_sync(0xffffffffu, v, o);
        v = is_max ? fmaxf(v, w) : v + w;
    }
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    if (lane == 0)
        part[warp] = v;
    __syncthreads();
    if (threadIdx.x == 0) {
        v = part[0];
        for (int w = 1; w < FR_CU_THREADS / 32; w++)
            v = is_max ? fmaxf(v, part[w]) : v + part[w];
        part[0] = v;
    }
    __syncthreads();
    v = part[0];
    __syncthreads(); /* part is reused by the next call */
    return v;
}

/* One block per position i: the CPU loop body, with the max and the sum reduced over
 * the block. A masked negative (neg[j] == tgt[i]) counts as exp(-inf) = 0. */
__global__ void k_sampled_softmax(float *logits, float *pos, const int32_t *neg, const int32_t *tgt,
                                  int n, int K, float scale, float *loss)
{
    for (int i = blockIdx.x; i < n; i += gridDim.x) {
        float *l = logits + (size_t)i * K;
        int32_t t = tgt[i];
        float p = pos[i];
        float mx = p;
        for (int j = threadIdx.x; j < K; j += blockDim.x)
            if (neg[j] != t)
                mx = fmaxf(mx, l[j]);
        mx = block_reduce(mx, 1);
        float s = 0.0f;
        for (int j = threadIdx.x; j < K; j += blockDim.x) {
            float e = neg[j] != t ? expf(l[j] - mx) : 0.0f;
            l[j] = e;
            s += e;
        }
        float sum = block_reduce(s, 0) + expf(p - mx);
        float inv = 1.0f / sum;
        for (int j = threadIdx.x; j < K; j += blockDim.x)
            l[j] *= inv * scale;
        if (threadIdx.x == 0) {
            float p0 = expf(p - mx) * inv;
            atomicAdd(loss, logf(sum) + mx - p);
            pos[i] = (p0 - 1.0f) * scale;
        }
        __syncthreads(); /* pos[i] is read by every thread above before it changes */
    }
}

void fr_cu_sampled_softmax(float *logits, float *pos, const int32_t *neg, const int32_t *tgt, int n,
                           int k, float scale, float *loss)
{
    if (n <= 0)
        return;
    unsigned blocks = (unsigned)(n < 65535 ? n : 65535);
    k_sampled_softmax<<<blocks, FR_CU_THREADS, 0, fr_cu_stream>>>(logits, pos, neg, tgt, n, k,
                                                                  scale, loss);
    FR_CU_LAUNCHED();
}
