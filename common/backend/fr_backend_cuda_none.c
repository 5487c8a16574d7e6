/* The CUDA backend's entry point in a program built without it (no nvcc, or
 * CUDA=0): asking for it says so, and `--device auto` falls back to the CPU. */
#include <stdio.h>

#include "backend/fr_backend.h"

int fr_backend_cuda_open(const fr_backend **out, char *msg, size_t cap)
{
    *out = NULL;
    snprintf(msg, cap,
             "the CUDA backend is not built into this program (build it with nvcc: "
             "make CUDA=1)");
    return -1;
}
