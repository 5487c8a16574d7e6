/* Compares two model files parameter by parameter, for tests that expect two ways of
 * computing a model to agree: prints "max_abs_diff MAX_ABS_VALUE" (exit 1 when the
 * files do not load or have different shapes).
 *
 *   tool_model_diff A.frm B.frm */
#include <math.h>
#include <stdio.h>

#include "backend/fr_backend.h"
#include "nn/fr_modelfile.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: tool_model_diff A.frm B.frm\n");
        return 2;
    }
    fr_model a = {0}, b = {0};
    fr_err err = {{0}};
    int rc = 1;
    if (fr_modelfile_load(&a, fr_backend_cpu(), argv[1], &err) != FR_OK ||
        fr_modelfile_load(&b, fr_backend_cpu(), argv[2], &err) != FR_OK) {
        fprintf(stderr, "%s\n", err.msg);
        goto out;
    }
    if (a.n != b.n) {
        fprintf(stderr, "%zu parameters against %zu\n", a.n, b.n);
        goto out;
    }
    double diff = 0, top = 0;
    for (size_t i = 0; i < a.n; i++) {
        diff = fmax(diff, fabs((double)a.params[i] - b.params[i]));
        top = fmax(top, fabs((double)a.params[i]));
    }
    printf("%.9g %.9g\n", diff, top);
    rc = 0;
out:
    fr_model_free(&a);
    fr_model_free(&b);
    return rc;
}
