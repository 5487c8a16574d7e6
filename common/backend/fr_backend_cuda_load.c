/* The CUDA backend's entry point in a program built with it: the kernels and cuBLAS
 * live in a shared object (libfedrecall_cuda.so, from fr_backend_cuda*.cu) loaded on
 * first use, so the programs never link the CUDA libraries. They start at full speed
 * and on any machine; loading the CUDA libraries takes most of a second and is paid
 * only by a run that asks for the device. A missing object or library, or no driver,
 * is an answer (`--device auto` then falls back), never a failure to start.
 *
 * The object is looked for at $FR_CUDA_LIB, beside the program, one and two folders
 * up (tests and benchmarks live in build/tests/ and build/bench/), and where the build
 * wrote it (FR_CUDA_LIB_BUILT, set by the Makefile). */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/fr_backend.h"

#define SO_NAME "libfedrecall_cuda.so"

typedef int (*open_fn)(const fr_backend **out, char *msg, size_t cap);

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static void *g_handle;

/* dlopen of the first candidate that exists; the reason of the last failure in msg. */
static void *load(char *msg, size_t cap)
{
    char exe[PATH_MAX], path[PATH_MAX + 64];
    const char *env = getenv("FR_CUDA_LIB");
    const char *tried = NULL;
    void *h = NULL;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = 0;
    for (int i = 0; i < 5 && !h; i++) {
        if (i == 0 && env && *env)
            snprintf(path, sizeof path, "%s", env);
        else if (i >= 1 && i <= 3 && slash)
            snprintf(path, sizeof path, "%s/%s%s", exe,
                     i == 1   ? ""
                     : i == 2 ? "../"
                              : "../../",
                     SO_NAME);
        else if (i == 4)
            snprintf(path, sizeof path, "%s", FR_CUDA_LIB_BUILT);
        else
            continue;
        if (access(path, R_OK) != 0)
            continue;
        tried = path;
        if (!(h = dlopen(path, RTLD_NOW | RTLD_LOCAL)))
            snprintf(msg, cap, "cannot load %s: %s", path, dlerror());
    }
    if (!h && !tried)
        snprintf(msg, cap, "the CUDA backend (%s) is not found beside the program or at %s",
                 SO_NAME, FR_CUDA_LIB_BUILT);
    return h;
}

int fr_backend_cuda_open(const fr_backend **out, char *msg, size_t cap)
{
    int rc = -1;
    *out = NULL;
    pthread_mutex_lock(&g_lock);
    if (!g_handle)
        g_handle = load(msg, cap);
    if (g_handle) {
        open_fn fn = (open_fn)dlsym(g_handle, "fr_backend_cuda_so_open");
        if (!fn)
            snprintf(msg, cap, "%s has no entry point: %s", SO_NAME, dlerror());
        else
            rc = fn(out, msg, cap);
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}
