/* What the coordinator store's tests share (test_store.c, test_store_metrics.c): a root
 * folder made by main, a fresh state folder under it per test, and opening a store that
 * must open. */
#ifndef FR_TEST_STORE_H
#define FR_TEST_STORE_H

#include <stdio.h>

#include "fr_test.h"
#include "../coordinator/fr_store.h"

static char root[64];

/* A fresh state folder under root for one test. */
static inline void state_dir(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", root, name);
}

static inline int open_ok(fr_store *s, const char *dir)
{
    fr_err err = {{0}};
    if (fr_store_open(s, dir, &err) != FR_OK) {
        CHECK(0, "open %s: %s", dir, err.msg);
        return 0;
    }
    return 1;
}

#endif
