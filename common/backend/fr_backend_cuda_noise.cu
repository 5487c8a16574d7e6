/* The CUDA backend's dp_noise (contract in fr_backend_ops.h): DP-SGD's Gaussian noise
 * drawn on the device from the keyed stream the host draws it from, so that the noise
 * is not computed on the host and copied over each step, and a seeded run adds the same
 * noise on both backends. One block per chunk. Each round every thread takes the next
 * ChaCha20 block of the chunk's stream (four pairs of 64-bit words, in the stream's
 * order), keeps the pairs inside the unit disc, and a prefix sum over the threads (in
 * block order) places the kept pairs' values after those of the rounds before: the
 * host's sequence, rejections included (tests/test_chacha.c runs this order on the
 * host). The values match the host's but for the rare one where the device's logarithm
 * and the host's round the last bit apart. */
#include "backend/fr_backend_cuda_int.h"
#include "util/fr_chacha.h"

#define NOISE_THREADS 128

struct noise_key {
    uint32_t w[8];
};

__global__ void k_dp_noise(float *out, noise_key key, uint64_t nonce0, size_t n, size_t chunk,
                           double stddev)
{
    __shared__ unsigned scan[NOISE_THREADS];
    size_t c = blockIdx.x, lo = c * chunk, len = n - lo < chunk ? n - lo : chunk;
    uint64_t id = nonce0 | (uint64_t)c;
    uint32_t nonce[3] = {(uint32_t)id, (uint32_t)(id >> 32), 0u};
    unsigned t = threadIdx.x;
    size_t done = 0; /* values placed so far: the same in every thread */
    for (uint32_t base = 0; done < len; base += NOISE_THREADS) {
        uint32_t w[16];
        fr_chacha20_block(w, key.w, base + t, nonce);
        float z[8];
        int kept[4];
        unsigned cnt = 0;
        for (int j = 0; j < 4; j++) {
            uint64_t a = (uint64_t)w[4 * j] | (uint64_t)w[4 * j + 1] << 32;
            uint64_t b = (uint64_t)w[4 * j + 2] | (uint64_t)w[4 * j + 3] << 32;
            kept[j] = fr_polar_pair(a, b, stddev, &z[2 * j], &z[2 * j + 1]);
            cnt += (unsigned)kept[j];
        }
        /* inclusive prefix sum of the kept pairs over the threads */
        scan[t] = cnt;
        __syncthreads();
        for (unsigned o = 1; o < NOISE_THREADS; o *= 2) {
            unsigned v = t >= o ? scan[t - o] : 0u;
            __syncthreads();
            scan[t] += v;
            __syncthreads();
        }
        size_t pos = done + 2 * (size_t)(scan[t] - cnt), total = scan[NOISE_THREADS - 1];
        for (int j = 0; j < 4; j++) {
            if (!kept[j])
                continue;
            if (pos < len)
                out[lo + pos] = z[2 * j];
            if (pos + 1 < len)
                out[lo + pos + 1] = z[2 * j + 1];
            pos += 2;
        }
        done += 2 * total;
        __syncthreads(); /* scan is rewritten next round */
    }
}

void fr_cu_dp_noise(float *out, const unsigned char *key, uint64_t nonce0, size_t n, size_t chunk,
                    double stddev)
{
    if (n == 0 || chunk == 0)
        return;
    noise_key k;
    fr_chacha_key_words(k.w, key);
    size_t chunks = (n + chunk - 1) / chunk;
    k_dp_noise<<<(unsigned)chunks, NOISE_THREADS, 0, fr_cu_stream>>>(out, k, nonce0, n, chunk,
                                                                     stddev);
    FR_CU_LAUNCHED();
    /* the launch has copied its arguments: the key's copy here is not kept */
    volatile uint32_t *wipe = k.w;
    for (int i = 0; i < 8; i++)
        wipe[i] = 0;
}
