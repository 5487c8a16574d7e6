/* The portable ChaCha20 block and polar pair (util/fr_chacha.h), which a device uses to
 * draw DP-SGD's noise: the block against libsodium's keystream, and the noise the
 * device's order of work gives (rounds of blocks, one thread per block, outputs placed
 * by a prefix sum of the pairs each thread kept) against the host's
 * fr_dp_rng_normals_at, bit for bit. The host computes its blocks sixteen side by side
 * and its pairs in passes; the second check holds that to the block and the pair too. */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fr_test.h"
#include "privacy/fr_dp_rng.h"
#include "util/fr_chacha.h"
#include "util/fr_rng.h"

static fr_rng rng;

static void words_le(uint32_t *w, const unsigned char *b, int n)
{
    for (int i = 0; i < n; i++)
        w[i] = (uint32_t)b[4 * i] | (uint32_t)b[4 * i + 1] << 8 | (uint32_t)b[4 * i + 2] << 16 |
               (uint32_t)b[4 * i + 3] << 24;
}

static void test_block_matches_libsodium(void)
{
    static const uint32_t counters[] = {0, 1, 2, 31, 32, 1000, 0x7fffffffu, 0xfffffffeu};
    for (int rep = 0; rep < 16; rep++) {
        unsigned char key[32], nonce[12], ref[64] = {0};
        for (int i = 0; i < 32; i++)
            key[i] = (unsigned char)fr_rng_below(&rng, 256);
        for (int i = 0; i < 12; i++)
            nonce[i] = (unsigned char)fr_rng_below(&rng, 256);
        uint32_t kw[8], nw[3], out[16];
        words_le(kw, key, 8);
        words_le(nw, nonce, 3);
        int bad = 0;
        for (size_t c = 0; c < sizeof counters / sizeof counters[0]; c++) {
            memset(ref, 0, sizeof ref);
            crypto_stream_chacha20_ietf_xor_ic(ref, ref, sizeof ref, nonce, counters[c], key);
            uint32_t want[16];
            words_le(want, ref, 16);
            fr_chacha20_block(out, kw, counters[c], nw);
            bad += memcmp(out, want, sizeof want) != 0;
        }
        CHECK(bad == 0, "key %d: %d of the blocks differ from libsodium's", rep, bad);
    }
}

/* The device's order of work, on the host: each round, thread t takes block
 * (round * threads + t) and its four pairs; the kept pairs' values go to the
 * positions a prefix sum over the threads gives, after what the earlier rounds wrote. */
static void device_order(float *out, const uint32_t key[8], uint64_t nonce_id, size_t len,
                         int threads, double stddev)
{
    uint32_t nonce[3] = {(uint32_t)nonce_id, (uint32_t)(nonce_id >> 32), 0};
    int *kept = malloc(sizeof(int) * 4 * threads);
    float *z = malloc(sizeof(float) * 8 * threads);
    size_t done = 0;
    for (uint32_t base = 0; done < len; base += (uint32_t)threads) {
        size_t before = 0, total = 0;
        for (int t = 0; t < threads; t++) {
            uint32_t w[16];
            fr_chacha20_block(w, key, base + (uint32_t)t, nonce);
            for (int j = 0; j < 4; j++) {
                uint64_t a = (uint64_t)w[4 * j] | (uint64_t)w[4 * j + 1] << 32;
                uint64_t b = (uint64_t)w[4 * j + 2] | (uint64_t)w[4 * j + 3] << 32;
                kept[4 * t + j] =
                    fr_polar_pair(a, b, stddev, &z[8 * t + 2 * j], &z[8 * t + 2 * j + 1]);
                total += (size_t)kept[4 * t + j];
            }
        }
        for (int t = 0; t < threads; t++) {
            size_t pos = done + 2 * before;
            for (int j = 0; j < 4; j++) {
                if (!kept[4 * t + j])
                    continue;
                if (pos < len)
                    out[pos] = z[8 * t + 2 * j];
                if (pos + 1 < len)
                    out[pos + 1] = z[8 * t + 2 * j + 1];
                pos += 2;
                before++;
            }
        }
        done += 2 * total;
    }
    free(kept);
    free(z);
}

static void test_device_order_matches_host(void)
{
    fr_dp_rng r;
    fr_err err;
    CHECK(fr_dp_rng_init(&r, "chacha", 6, &err) == FR_OK, "%s", err.msg);
    uint32_t key[8];
    words_le(key, r.key, 8);
    static const size_t lens[] = {1, 2, 3, 7, 512, 1001, 65536 + 7};
    static const int threads[] = {1, 7, 128};
    for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
        size_t n = lens[l];
        uint64_t stream = ((uint64_t)5 << 24) | l;
        float *host = malloc(sizeof(float) * n), *dev = malloc(sizeof(float) * n);
        fr_dp_rng_normals_at(&r, stream, host, n, 0.7);
        for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
            for (size_t i = 0; i < n; i++)
                dev[i] = NAN;
            device_order(dev, key, fr_dp_rng_stream_nonce(stream), n, threads[t], 0.7);
            size_t off = 0;
            for (size_t i = 0; i < n; i++)
                off += memcmp(&host[i], &dev[i], sizeof(float)) != 0;
            CHECK(off == 0, "n %zu, %d threads: %zu values differ from the host's", n, threads[t],
                  off);
        }
        double s2 = 0;
        for (size_t i = 0; i < n; i++)
            s2 += (double)host[i] * host[i];
        CHECK(n < 1000 || fabs(sqrt(s2 / (double)n) - 0.7) < 0.05,
              "n %zu: the noise's deviation is %g, not 0.7", n, sqrt(s2 / (double)n));
        free(host);
        free(dev);
    }
    fr_dp_rng_free(&r);
}

int main(void)
{
    fr_rng_seed(&rng, 11);
    if (sodium_init() < 0)
        return 1;
    RUN(test_block_matches_libsodium);
    RUN(test_device_order_matches_host);
    return fr_test_end();
}
