/* Device time per op of the CUDA backend, for finding where a training step spends
 * its time on a GPU without hardware counters: with FR_CUDA_PROFILE=1 every entry of
 * the table is wrapped so that two CUDA events bracket the work the op queues, and at
 * exit a table (op, calls, device milliseconds, share) goes to stderr.
 *
 * Events are recorded on the one stream and read in batches when the pool fills, so
 * the ops still run without waiting; the times include each kernel's launch gap only
 * where the device sat idle inside the op. With several host threads feeding the
 * stream (DP-SGD workers) one op's bracket can hold another's work: profile single-
 * threaded runs. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/fr_backend_cuda_int.h"

/* One report row per op of the table (fr_backend_ops.h). */
enum {
#define FR_BACKEND_OP(ret, op, params) PROF_##op,
#include "backend/fr_backend_ops.h"
#undef FR_BACKEND_OP
    PROF_OPS
};
#define PROF_POOL 4096

static fr_backend g_orig;
static const char *g_names[PROF_OPS];
static double g_ms[PROF_OPS];
static long g_calls[PROF_OPS];
static cudaEvent_t g_begin[PROF_POOL], g_end[PROF_POOL];
static int g_slot[PROF_POOL];
static int g_used, g_lost;
static double g_wall0;
static pthread_mutex_t g_prof_lock = PTHREAD_MUTEX_INITIALIZER;

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Reads every bracket recorded so far; called with the lock held. */
static void prof_drain(void)
{
    if (!g_used)
        return;
    cudaEventSynchronize(g_end[g_used - 1]);
    for (int i = 0; i < g_used; i++) {
        float ms = 0;
        if (cudaEventElapsedTime(&ms, g_begin[i], g_end[i]) == cudaSuccess) {
            g_ms[g_slot[i]] += ms;
            g_calls[g_slot[i]]++;
        } else {
            g_lost++;
        }
    }
    cudaGetLastError();
    g_used = 0;
}

struct prof_scope {
    int at;
    explicit prof_scope(int slot)
    {
        pthread_mutex_lock(&g_prof_lock);
        if (g_used == PROF_POOL)
            prof_drain();
        at = g_used++;
        g_slot[at] = slot;
        cudaEventRecord(g_begin[at], fr_cu_stream);
        pthread_mutex_unlock(&g_prof_lock);
    }
    ~prof_scope()
    {
        pthread_mutex_lock(&g_prof_lock);
        cudaEventRecord(g_end[at], fr_cu_stream);
        pthread_mutex_unlock(&g_prof_lock);
    }
};

/* One wrapper per table entry: M names the entry, I its row in the report. */
template <typename T, T M, int I> struct prof_wrap;
template <typename R, typename... A, R (*fr_backend::*M)(A...), int I>
struct prof_wrap<R (*fr_backend::*)(A...), M, I> {
    static R call(A... a)
    {
        prof_scope s(I);
        return (g_orig.*M)(a...);
    }
};

static void prof_report(void)
{
    pthread_mutex_lock(&g_prof_lock);
    prof_drain();
    double wall = wall_s() - g_wall0, total = 0;
    int order[PROF_OPS], n = 0;
    for (int i = 0; i < PROF_OPS; i++) {
        total += g_ms[i];
        if (g_calls[i])
            order[n++] = i;
    }
    for (int i = 1; i < n; i++) /* a handful of rows: insertion sort by time */
        for (int j = i; j > 0 && g_ms[order[j]] > g_ms[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    fprintf(stderr,
            "cuda profile: %.3f s of device time inside ops over %.3f s since the "
            "device opened%s\n",
            total / 1e3, wall, g_lost ? " (some brackets unread)" : "");
    fprintf(stderr, "cuda profile: %-22s %10s %12s %10s %7s\n", "op", "calls", "ms", "us/call",
            "share");
    for (int r = 0; r < n; r++) {
        int i = order[r];
        fprintf(stderr, "cuda profile: %-22s %10ld %12.1f %10.1f %6.1f%%\n", g_names[i], g_calls[i],
                g_ms[i], 1e3 * g_ms[i] / g_calls[i], total > 0 ? 100.0 * g_ms[i] / total : 0.0);
    }
    pthread_mutex_unlock(&g_prof_lock);
}

#define WRAP(field, i)                                                                             \
    do {                                                                                           \
        g_names[i] = #field;                                                                       \
        b->field = prof_wrap<decltype(&fr_backend::field), &fr_backend::field, i>::call;           \
    } while (0)

int fr_cu_prof_wrap(fr_backend *b, char *why, size_t cap)
{
    for (int i = 0; i < PROF_POOL; i++)
        if (cudaEventCreate(&g_begin[i]) != cudaSuccess ||
            cudaEventCreate(&g_end[i]) != cudaSuccess) {
            snprintf(why, cap, "FR_CUDA_PROFILE: cannot create events: %s",
                     cudaGetErrorString(cudaGetLastError()));
            return -1;
        }
    g_orig = *b;
    /* every op the backend has (an optional one may be NULL) */
#define FR_BACKEND_OP(ret, op, params)                                                             \
    if (b->op)                                                                                     \
        WRAP(op, PROF_##op);
#include "backend/fr_backend_ops.h"
#undef FR_BACKEND_OP
    g_wall0 = wall_s();
    /* registered after the runtime's own exit handler, so it runs before it */
    atexit(prof_report);
    return 0;
}
