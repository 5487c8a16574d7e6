/* Checks shared by the network-decoder fuzz targets: a broken invariant aborts, which
 * libFuzzer reports as a finding with the input that broke it. */
#ifndef FR_FUZZ_CHECK_H
#define FR_FUZZ_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fr_status.h"

static inline void need(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "invariant broken: %s\n", what);
        abort();
    }
}

static inline int in(double v, double lo, double hi)
{
    return isfinite(v) && v >= lo && v <= hi;
}

/* A wire message refused: a format or version status, and a message saying why. */
static inline void need_refusal(fr_status st, const fr_err *err)
{
    need(st == FR_EFORMAT || st == FR_EVERSION, "a refusal is a format or version error");
    need(err->msg[0] != 0 && memchr(err->msg, 0, sizeof err->msg), "a refusal says why");
}

#endif
