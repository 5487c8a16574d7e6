/* Run-time choice of the compute backend (see fr_backend_select.h). */
#include "backend/fr_backend_select.h"

#include <stdio.h>
#include <string.h>

fr_status fr_backend_select(const char *name, const fr_backend **out, fr_err *err)
{
    char why[FR_ERR_LEN];
    const fr_backend *cuda = NULL;
    *out = NULL;
    if (!name || !strcmp(name, "cpu")) {
        *out = fr_backend_cpu();
        return FR_OK;
    }
    if (strcmp(name, "cuda") && strcmp(name, "auto"))
        return fr_fail(err, FR_EINVAL, "device '%s': expected cpu, cuda or auto", name);
    if (fr_backend_cuda_open(&cuda, why, sizeof why) == 0) {
        *out = cuda;
        return FR_OK;
    }
    if (!strcmp(name, "cuda"))
        return fr_fail(err, FR_EINVAL, "device cuda: %s", why);
    fprintf(stderr, "device auto: %s; running on the CPU\n", why);
    *out = fr_backend_cpu();
    return FR_OK;
}
