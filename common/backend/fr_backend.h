/* The compute backend: one table of operations that the model calls for every
 * float it touches. The CPU backend (fr_backend_cpu.c: OpenBLAS sgemm + plain C
 * loops) is the reference; an accelerator backend implements the same table over
 * device pointers, so the model and training code never change with the device.
 *
 * Conventions: matrices are row-major; int32 index arrays are backend memory too
 * (uploaded once per batch with upload()); a row index < 0 means "padding" (a zero
 * row on gather, skipped on scatter). Shapes are given in comments as (rows, cols).
 *
 * The ops themselves are listed once, in fr_backend_ops.h, which the table below and
 * the CUDA profiler both expand: adding an op there is the whole declaration. */
#ifndef FR_BACKEND_H
#define FR_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fr_backend {
    const char *name;

    /* memory: alloc returns zeroed memory or NULL */
    void *(*alloc)(size_t bytes);
    void (*free)(void *p);
    void (*set_threads)(int threads);
    /* Floating-point operations of the matrix products run so far (2mnk each), so
     * that throughput can be set against the machine's sgemm rate. */
    double (*flop_count)(void);

    /* The ops, one function pointer each, with their contracts in fr_backend_ops.h. */
#define FR_BACKEND_OP(ret, op, params) ret(*op) params;
#include "backend/fr_backend_ops.h"
#undef FR_BACKEND_OP
} fr_backend;

/* The CPU reference backend (always present). */
const fr_backend *fr_backend_cpu(void);

/* The CUDA backend on device 0: 0 and *out set, or -1 with the reason in msg (no
 * device or driver, libraries missing (fr_backend_cuda_load.c), or a program built
 * without the backend (fr_backend_cuda_none.c)).
 * Opened once; later calls give the same answer. Callers go through
 * fr_backend_select (fr_backend_select.h). */
int fr_backend_cuda_open(const fr_backend **out, char *msg, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
