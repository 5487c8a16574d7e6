/* The coordinator's store of the catalogue versions nodes confirm (docs/catalogue.md,
 * "Reclaiming retired rows"): a node's confirmation keeps the round of its first
 * report of a version, every node of the nodes table is listed (one that never
 * confirmed as 0), the last published round ignores open and aborted ones, and all of
 * it survives closing and opening the store again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fed/fr_catver.h"
#include "fr_test.h"
#include "fr_test_fixture.h"
#include "fr_test_store.h"

static void seen(fr_store *s, const char *name)
{
    fr_err err = {{0}};
    fr_node_row n;
    memset(&n, 0, sizeof n);
    snprintf(n.name, sizeof n.name, "%s", name);
    n.first_seen = n.last_seen = 100;
    CHECK(fr_store_node_seen(s, &n, &err) == FR_OK, "%s", err.msg);
}

static void round_row(fr_store *s, long id, const char *status)
{
    fr_err err = {{0}};
    fr_round_row r;
    memset(&r, 0, sizeof r);
    r.id = id;
    r.opened_at = 100;
    r.deadline = 160;
    CHECK(fr_store_round_open(s, &r, &err) == FR_OK, "%s", err.msg);
    if (!status)
        return;
    snprintf(r.status, sizeof r.status, "%s", status);
    r.closed_at = 150;
    CHECK(fr_store_round_close(s, &r, &err) == FR_OK, "%s", err.msg);
}

/* The floor the rows give, as `catalogue add` computes it. */
static long floor_of(const fr_confirm_row *rows, int n, long last)
{
    fr_catver_confirm c[8];
    for (int i = 0; i < n && i < 8; i++)
        c[i] = (fr_catver_confirm){rows[i].version, rows[i].round};
    return fr_catver_confirmed_floor(c, n, last);
}

static void test_confirmations(void)
{
    char dir[128];
    fr_err err = {{0}};
    fr_store s = {0};
    fr_confirm_row *rows = NULL;
    int n = 0;
    long last = -1;
    state_dir(dir, sizeof dir, "confirm");
    if (!open_ok(&s, dir))
        return;
    seen(&s, "b");
    seen(&s, "a");
    CHECK(fr_store_last_published_round(&s, &last, &err) == FR_OK && last == 0, "none: %ld", last);
    round_row(&s, 1, "published");
    round_row(&s, 2, "aborted");
    round_row(&s, 3, NULL); /* open */
    CHECK(fr_store_last_published_round(&s, &last, &err) == FR_OK && last == 1,
          "the last published round: %ld", last);
    CHECK(fr_store_catalogue_confirm(&s, "a", 1, 1, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_store_catalogue_confirm(&s, "a", 2, 2, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_store_catalogue_confirm(&s, "a", 2, 3, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_store_catalogue_confirms(&s, &rows, &n, &err) == FR_OK && n == 2, "%d: %s", n,
          err.msg);
    CHECK(n == 2 && !strcmp(rows[0].node, "a") && rows[0].version == 2 && rows[0].round == 2,
          "a: version 2 first reported at round 2, kept when reported again");
    CHECK(n == 2 && !strcmp(rows[1].node, "b") && rows[1].version == 0 && rows[1].round == 0,
          "b never confirmed: version 0");
    CHECK(floor_of(rows, n, 9) == 0, "a node that never confirmed blocks reclaiming");
    free(rows);
    CHECK(fr_store_catalogue_confirm(&s, "b", 3, 3, &err) == FR_OK, "%s", err.msg);
    fr_store_close(&s);
    /* closed and opened again: all of it kept */
    if (!open_ok(&s, dir))
        return;
    CHECK(fr_store_catalogue_confirms(&s, &rows, &n, &err) == FR_OK && n == 2, "%s", err.msg);
    CHECK(n == 2 && rows[0].version == 2 && rows[1].version == 3 && rows[1].round == 3,
          "kept across a restart");
    CHECK(floor_of(rows, n, 1) == 0, "no round aggregated since the confirmations");
    CHECK(floor_of(rows, n, 4) == 2, "the lowest node's version once round 4 is aggregated");
    free(rows);
    /* a node that reports less (its state folder was replaced) is taken at its word */
    CHECK(fr_store_catalogue_confirm(&s, "a", 0, 5, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_store_catalogue_confirms(&s, &rows, &n, &err) == FR_OK && n == 2 &&
              rows[0].version == 0 && rows[0].round == 5,
          "a: back to 0");
    free(rows);
    fr_store_close(&s);
}

int main(void)
{
    if (!fixture_dir(root, sizeof root)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_confirmations);
    fixture_rm(root);
    return fr_test_end();
}
