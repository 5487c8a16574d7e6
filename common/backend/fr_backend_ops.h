/* The ops of the compute backend's table (fr_backend.h), each
 * FR_BACKEND_OP(return type, name, (parameters)) with its contract above it. This list
 * is the one place an op is declared: the table (struct fr_backend) and the CUDA
 * profiler's wrappers (fr_backend_cuda_prof.cu) both expand it, so a new op is in both.
 * Included only with FR_BACKEND_OP defined; deliberately no include guard. The table's
 * housekeeping entries (memory, threads, the product count) are in fr_backend.h.
 * Shapes are given as (rows, cols); see fr_backend.h for the conventions. */

/* host -> backend and backend -> host */
FR_BACKEND_OP(void, upload, (void *dst, const void *src, size_t bytes))
FR_BACKEND_OP(void, download, (void *dst, const void *src, size_t bytes))

FR_BACKEND_OP(void, zero, (float *x, size_t n))
/* C (m,n) = alpha * op(A) op(B) + beta * C; op = transpose when ta / tb is set */
FR_BACKEND_OP(void, gemm,
              (int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
               const float *b, int ldb, float beta, float *c, int ldc))
/* out (n,d) = src[rows[i]] (zero where rows[i] < 0) */
FR_BACKEND_OP(void, gather_rows, (float *out, const float *src, const int32_t *rows, int n, int d))
/* dst[rows[i]] += src (n,d) for rows[i] >= 0; rows may repeat */
FR_BACKEND_OP(void, scatter_add_rows,
              (float *dst, const float *src, const int32_t *rows, int n, int d))
/* x (n,d) += b (d) on every row */
FR_BACKEND_OP(void, add_bias, (float *x, const float *b, int n, int d))
/* y (n) += a * x (n) */
FR_BACKEND_OP(void, axpy, (float *y, float a, const float *x, size_t n))
/* x (n) *= a */
FR_BACKEND_OP(void, scale, (float *x, float a, size_t n))
/* x (n) *= m (n), element by element (a dropout mask) */
FR_BACKEND_OP(void, mul, (float *x, const float *m, size_t n))
/* Squared L2 norm of x (n), and of the rows `rows` (n_rows, d) of x, summed in
 * double; returned on the host. Rows must be distinct. */
FR_BACKEND_OP(double, sq_norm, (const float *x, size_t n))
FR_BACKEND_OP(double, rows_sq_norm, (const float *x, const int32_t *rows, int n_rows, int d))
/* y[rows[i]] += a * x[rows[i]] and x[rows[i]] = 0 for each listed row (distinct):
 * moves a sparse per-user gradient into a sum, leaving x zero again. */
FR_BACKEND_OP(void, rows_axpy_clear,
              (float *y, float a, float *x, const int32_t *rows, int n_rows, int d))
/* out (d) += column sums of x (n,d) */
FR_BACKEND_OP(void, sum_rows, (float *out, const float *x, int n, int d))
/* out (n) = row-wise dot products of a (n,d) and b (n,d) */
FR_BACKEND_OP(void, row_dot, (float *out, const float *a, const float *b, int n, int d))
/* out (n,d) += s[i] * a (n,d) */
FR_BACKEND_OP(void, row_scale_add, (float *out, const float *s, const float *a, int n, int d))

/* Per-example quantities of a batch that holds several users (DP-SGD's batched step,
 * fr_nn_users.h). Optional: NULL on a backend that lacks them (DP-SGD then computes
 * each user's gradient in a pass of its own).
 * x (n,d): row i *= s[i]. */
FR_BACKEND_OP(void, row_scale, (float *x, const float *s, int n, int d))
/* dst[rows[i]] += s[i] * row i of src (n,d), for rows[i] >= 0; rows may repeat: the
 * clip-weighted sum of the users' embedding rows in one pass over them, where
 * row_scale and then scatter_add_rows took two. */
FR_BACKEND_OP(void, scatter_add_scaled_rows,
              (float *dst, const float *src, const int32_t *rows, const float *s, int n, int d))
/* Segments of rows: segment k is rows off[k] .. off[k+1]-1 of x (n,d), off ascending
 * with off[0] >= 0. seg_sum_rows: out (nseg,d) row k += the segment's column sums;
 * seg_sq_norm: out (nseg) += the segment's squared L2 norm, summed in double. */
FR_BACKEND_OP(void, seg_sum_rows, (float *out, const float *x, const int32_t *off, int nseg, int d))
FR_BACKEND_OP(void, seg_sq_norm, (double *out, const float *x, const int32_t *off, int nseg, int d))

/* Item-tower convolution, factored through the tokens: P (nt, 3F) holds, for each
 * distinct token of the batch and each tap k, E_tok[token] . conv_w[:, :, k];
 * tok (nu, T) maps each item's token positions to rows of P (-1 = padding).
 * Forward: C[t][f] = bias[f] + sum_k P[tok[t+k-1]][k*F+f] ('same' zero padding),
 * m (nu, F) = max over t of ReLU(C), arg (nu, F) the position of that max. */
FR_BACKEND_OP(void, conv_pool_forward,
              (float *m, int32_t *arg, const float *p, const int32_t *tok, const float *bias,
               int nu, int t, int f))
/* Backward of the above for dm (nu, F): gp (nt, 3F) += per-token tap gradients,
 * dbias (F) += bias gradient. */
FR_BACKEND_OP(void, conv_pool_backward,
              (float *gp, float *dbias, const float *dm, const float *m, const int32_t *arg,
               const int32_t *tok, int nu, int t, int f))
/* conv_pool_backward for a few items read from a larger forward pass (DP-SGD's
 * per-user gradients over the items of a whole step): item i's pooled values and
 * positions are row rows[i] of m and arg, its tokens row i of tok and its gradient
 * row i of dm. Optional: NULL on a backend that lacks it (callers then compute
 * each batch on its own). */
FR_BACKEND_OP(void, conv_pool_backward_rows,
              (float *gp, float *dbias, const float *dm, const float *m, const int32_t *arg,
               const int32_t *rows, const int32_t *tok, int nu, int t, int f))
/* The token layers' shares of one user's tap gradients gp (nt, 3F), as
 * conv_pool_backward_rows leaves them: dx (nt, d) = gp wr, the user's token-embedding
 * rows, and dwr (3F, d) = gp^T x, its convolution weights, for wr (3F, d) the packed
 * weights and x (nt, d) the user's token embeddings. Overwrites dx and dwr (all zero
 * when nt is 0). Most of gp is zero (a filter's gradient reaches the three tokens of its
 * winning window only), which a backend may skip. */
FR_BACKEND_OP(void, tap_products,
              (float *dx, float *dwr, const float *gp, const float *wr, const float *x, int nt,
               int f3, int d))
/* conv_w (F, d, 3) <-> wr (3F, d) with wr[k*F+f][c] = conv_w[f][c][k] */
FR_BACKEND_OP(void, conv_w_pack, (float *wr, const float *w, int f, int d))
FR_BACKEND_OP(void, conv_w_unpack_add, (float *dw, const float *dwr, int f, int d))

/* GRU over L steps for b sequences (PyTorch gate order r, z, n), time-major:
 * gi (L,b,3d) = W_ih x_t + b_ih per position. Writes z ((L+1),b,d) with z[0] = 0
 * and z[t+1] = h_t, and saves gates (L,b,3d) = r, u, n and ghn (L,b,d) = the
 * n-block of W_hh h_{t-1} + b_hh for the backward pass. */
FR_BACKEND_OP(void, gru_forward,
              (float *z, float *gates, float *ghn, const float *gi, const float *w_hh,
               const float *b_hh, int l, int b, int d))
/* Backward of gru_forward for dz (L,b,d) = dLoss/dh_t from outside the recurrence:
 * writes dgi (L,b,3d) and dgh (L,b,3d) = the gradients of the two pre-activations
 * (so dW_ih, dW_hh and the biases follow from single products over all steps). */
FR_BACKEND_OP(void, gru_backward,
              (float *dgi, float *dgh, const float *dz, const float *gates, const float *ghn,
               const float *z, const float *w_hh, int l, int b, int d))

/* Sampled softmax cross-entropy over n positions: logits (n,K) are the negative
 * logits, pos (n) the target logits; a negative equal to the position's target
 * (neg[j] == tgt[i]) is masked out. Replaces logits and pos by the gradients of
 * scale * sum of losses and adds that sum of losses (unscaled) to *loss. */
FR_BACKEND_OP(void, sampled_softmax,
              (float *logits, float *pos, const int32_t *neg, const int32_t *tgt, int n, int k,
               float scale, float *loss))

/* DP-SGD's noise drawn where the parameters are: out (n) = stddev * N(0, 1), in chunks
 * of `chunk` values, chunk c from the ChaCha20 stream of key (32 bytes) and the nonce
 * whose first 8 bytes are nonce0 | c, little-endian (the last 4 zero), read from block 0
 * on in pairs of 64-bit words by the polar method of util/fr_chacha.h: the values
 * privacy/fr_dp_rng.h's fr_dp_rng_normals_at draws on the host for the same stream.
 * Optional: NULL where the host draws them straight into the gradients (the CPU
 * backend, whose memory is the host's). */
FR_BACKEND_OP(void, dp_noise,
              (float *out, const unsigned char *key, uint64_t nonce0, size_t n, size_t chunk,
               double stddev))

/* Recall's selection: for each row i of scores (n, v), the k best columns among
 * 1..v-1 (column 0 is the padding item) whose score is strictly above floor (NaN
 * never is) and that are not listed in excl[excl_off[i] .. excl_off[i+1])
 * (ascending, repeats allowed; excl NULL: none), best first by (score descending,
 * column ascending), the order of fr_topk.h. Writes rows (n, k) and out (n, k); past
 * the last column found, -1 and -INFINITY. scores may be overwritten. */
FR_BACKEND_OP(void, topk_rows,
              (int32_t * rows, float *out, float *scores, int n, int v, int k, float floor,
               const int32_t *excl_off, const int32_t *excl))

/* Adam (bias-corrected, no weight decay) over n parameters at step t (1-based);
 * the gradient is consumed: g is zero afterwards, ready for the next batch. */
FR_BACKEND_OP(void, adam,
              (float *p, float *g, float *m, float *v, size_t n, float lr, float b1, float b2,
               float eps, long t))
