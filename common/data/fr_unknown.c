/* The tally of unknown item ids (fr_unknown.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/fr_unknown.h"

#define SLOTS (2 * FR_UNKNOWN_MAX_IDS)

static uint64_t hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    return h;
}

void fr_unknown_add(fr_unknown *u, const char *id, size_t n)
{
    if (n == 0 || n > FR_UNKNOWN_MAX_KEY || memchr(id, 0, n)) {
        u->untracked++;
        return;
    }
    if (!u->slot && !(u->slot = calloc(SLOTS, sizeof *u->slot))) {
        u->untracked++;
        return;
    }
    for (uint64_t i = hash(id, n) % SLOTS;; i = (i + 1) % SLOTS) {
        fr_unknown_entry *e = &u->slot[i];
        if (!e->key[0]) {
            if (u->used >= FR_UNKNOWN_MAX_IDS) {
                u->untracked++;
                return;
            }
            memcpy(e->key, id, n);
            e->key[n] = 0;
            e->count = 1;
            u->used++;
            return;
        }
        if (strlen(e->key) == n && !memcmp(e->key, id, n)) {
            e->count++;
            return;
        }
    }
}

void fr_unknown_free(fr_unknown *u)
{
    free(u->slot);
    memset(u, 0, sizeof *u);
}

static int by_count(const void *a, const void *b)
{
    const fr_unknown_entry *x = *(const fr_unknown_entry *const *)a,
                           *y = *(const fr_unknown_entry *const *)b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->key, y->key);
}

int fr_unknown_top(const fr_unknown *u, long min_count, int max, const fr_unknown_entry **out)
{
    if (!u->slot || max <= 0)
        return 0;
    const fr_unknown_entry **all = malloc((size_t)u->used * sizeof *all + 1);
    int n = 0;
    if (!all)
        return 0;
    for (long i = 0; i < SLOTS; i++)
        if (u->slot[i].key[0] && u->slot[i].count >= min_count)
            all[n++] = &u->slot[i];
    qsort(all, (size_t)n, sizeof *all, by_count);
    if (n > max)
        n = max;
    memcpy(out, all, (size_t)n * sizeof *out);
    free(all);
    return n;
}
