/* The small data set the DP tests train on: U users of 2, 4, ..., 2U items over a
 * catalogue of V items with T content tokens each, and their training windows cut as
 * the data module cuts them (full windows of L + 1 items, plus the oldest partial one,
 * left-padded, when it has at least 2 items). One copy, so that the reference path,
 * the batched path and the federation's vector are tested on the same shapes. */
#ifndef FR_TEST_DP_DATA_H
#define FR_TEST_DP_DATA_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/fr_backend.h"
#include "fr_test.h"
#include "nn/fr_model.h"
#include "privacy/fr_dp_sgd.h"
#include "util/fr_rng.h"

enum { V = 40, VT = 60, T = 3, D = 8, F = 6, L = 6, U = 12 };

static int64_t train_off[U + 1];
static int32_t train_items[U * 30];
static int32_t *windows;
static long n_windows;
static int32_t tokens[V * T];

/* Fill the globals above from seed; every token_gap-th token is 0 (no token). */
static void make_data_seeded(uint64_t seed, int token_gap)
{
    fr_rng r;
    fr_rng_seed(&r, seed);
    long k = 0;
    for (int u = 0; u < U; u++) {
        int n = 2 + u * 2;
        for (int i = 0; i < n; i++)
            train_items[k++] = 1 + (int32_t)fr_rng_below(&r, V - 1);
        train_off[u + 1] = k;
    }
    for (int i = T; i < V * T; i++)
        tokens[i] = (i % token_gap == 0) ? 0 : 1 + (int32_t)fr_rng_below(&r, VT - 1);
    int W = L + 1;
    windows = calloc((size_t)U * 10 * W, sizeof(int32_t));
    n_windows = 0;
    for (int u = 0; u < U; u++) {
        long n = train_off[u + 1] - train_off[u];
        const int32_t *s = train_items + train_off[u];
        int full = (int)(n / W), rem = (int)(n % W);
        if (rem >= 2) { /* oldest, left-padded */
            for (int i = 0; i < rem; i++)
                windows[n_windows * W + (W - rem) + i] = s[i];
            n_windows++;
        }
        for (int f = 0; f < full; f++, n_windows++)
            memcpy(windows + n_windows * W, s + rem + f * W, sizeof(int32_t) * W);
    }
}

/* A model over the data above and a DP trainer on it (q, sigma, clip; per_user 1: the
 * reference path); CHECK fails and -1 comes back when either cannot be made. */
static inline int setup_trainer(fr_model *m, fr_dp_trainer *tr, double q, double sigma, float clip,
                                int per_user)
{
    fr_err err = {{0}};
    const fr_backend *be = fr_backend_cpu();
    be->set_threads(1);
    fr_model_config mc = {
        .num_items = V, .token_vocab = VT, .num_tokens = T, .dim = D, .filters = F};
    if (fr_model_init(m, &mc, be, tokens, NULL, &err)) {
        CHECK(0, "model: %s", err.msg);
        return -1;
    }
    fr_model_init_params(m, 3);
    fr_train_config tc = {.batch = 8, .seq_len = L, .negatives = 10, .lr = 1e-2f, .seed = 5};
    fr_dp_config dc = {.sampling_rate = q,
                       .noise_multiplier = sigma,
                       .clip = clip,
                       .max_windows = 4,
                       .per_user = per_user,
                       .seed = "test",
                       .seed_len = 4};
    if (fr_dp_trainer_init(tr, m, &tc, &dc, train_off, U, windows, n_windows, &err)) {
        CHECK(0, "dp trainer: %s", err.msg);
        fr_model_free(m);
        return -1;
    }
    return 0;
}

#endif
