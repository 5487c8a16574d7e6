/* A privacy ledger in a fresh temporary folder, for the tests of what plans or spends
 * a budget (test_dp_plan.c, test_round_node.c): opened empty, removed with its file. */
#ifndef FR_TEST_LEDGER_H
#define FR_TEST_LEDGER_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fr_test.h"
#include "privacy/fr_dp_ledger.h"

typedef struct tmp_ledger {
    char dir[64];
    fr_dp_ledger l;
} tmp_ledger;

/* 1 when the ledger is open in a new folder named after name. */
static inline int open_tmp(tmp_ledger *t, const char *name)
{
    fr_err err = {{0}};
    snprintf(t->dir, sizeof t->dir, "/tmp/fr_test_%s_XXXXXX", name);
    t->l.fd = -1;
    if (!mkdtemp(t->dir))
        return 0;
    fr_status st = fr_dp_ledger_open(&t->l, t->dir, &err);
    CHECK(st == FR_OK, "%s", err.msg);
    return st == FR_OK;
}

static inline void close_tmp(tmp_ledger *t)
{
    fr_dp_ledger_close(&t->l);
    char path[128];
    snprintf(path, sizeof path, "%s/privacy-ledger", t->dir);
    unlink(path);
    rmdir(t->dir);
}

#endif
