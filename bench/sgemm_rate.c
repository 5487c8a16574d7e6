/* The machine's sgemm rate through the same OpenBLAS the CPU backend uses, for the
 * shapes that dominate a training epoch and for a large square product (the
 * practical peak). Prints one JSON object. Usage: sgemm_rate [threads]. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* GFLOP/s of C (m,n) = A (m,k) B^T, median of 5 timed repeats of >= 0.1 s each. */
static double rate(int m, int n, int k)
{
    float *a = malloc(sizeof(float) * (size_t)m * k), *b = malloc(sizeof(float) * (size_t)n * k);
    float *c = malloc(sizeof(float) * (size_t)m * n);
    for (size_t i = 0; i < (size_t)m * k; i++)
        a[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t)n * k; i++)
        b[i] = (float)(i % 5) * 0.1f;
    double flops = 2.0 * m * n * k, best[5];
    for (int r = 0; r < 5; r++) {
        long reps = 0;
        double t0 = now_s(), t;
        do {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c,
                        n);
            reps++;
        } while ((t = now_s() - t0) < 0.1);
        best[r] = flops * reps / t / 1e9;
    }
    for (int i = 1; i < 5; i++)
        for (int j = i; j > 0 && best[j] < best[j - 1]; j--) {
            double x = best[j];
            best[j] = best[j - 1];
            best[j - 1] = x;
        }
    free(a);
    free(b);
    free(c);
    return best[2];
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 2;
    if (threads < 1)
        threads = 1;
    openblas_set_num_threads(threads);
    printf("{\"threads\": %d, \"square_1024\": %.1f, \"gru_input_6400x192x64\": %.1f, "
           "\"logits_6400x128x64\": %.1f, \"gru_step_64x192x64\": %.1f}\n",
           threads, rate(1024, 1024, 1024), rate(6400, 192, 64), rate(6400, 128, 64),
           rate(64, 192, 64));
    return 0;
}
