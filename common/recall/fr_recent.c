/* Recent events per user (see fr_recent.h): an open-addressing table of users, each
 * with a ring of its latest item rows. */
#include "recall/fr_recent.h"

#include <stdlib.h>
#include <string.h>

#include "data/fr_data.h"

struct fr_recent_user {
    char *key;
    int n, head; /* rows held; where the oldest is */
    int32_t items[];
};

fr_status fr_recent_init(fr_recent *r, long max_users, int per_user, fr_err *err)
{
    memset(r, 0, sizeof *r);
    if (max_users < 1 || per_user < 1)
        return fr_fail(err, FR_EINVAL, "recent events: %ld users of %d events", max_users,
                       per_user);
    r->max_users = max_users;
    r->per_user = per_user;
    r->slots = 1024;
    if (!(r->slot = calloc((size_t)r->slots, sizeof *r->slot)))
        return fr_fail(err, FR_ENOMEM, "out of memory for recent events");
    pthread_mutex_init(&r->mu, NULL);
    return FR_OK;
}

void fr_recent_free(fr_recent *r)
{
    if (!r->slot)
        return;
    for (long i = 0; i < r->slots; i++)
        if (r->slot[i]) {
            free(r->slot[i]->key);
            free(r->slot[i]);
        }
    free(r->slot);
    pthread_mutex_destroy(&r->mu);
    memset(r, 0, sizeof *r);
}

static long find(const fr_recent *r, const char *key)
{
    long i = (long)(fr_fnv1a32(key, strlen(key)) & (uint32_t)(r->slots - 1));
    while (r->slot[i] && strcmp(r->slot[i]->key, key) != 0)
        i = (i + 1) & (r->slots - 1);
    return i;
}

static int grow(fr_recent *r)
{
    long n = r->slots * 2;
    fr_recent_user **old = r->slot;
    long old_n = r->slots;
    fr_recent_user **s = calloc((size_t)n, sizeof *s);
    if (!s)
        return -1;
    r->slot = s;
    r->slots = n;
    for (long i = 0; i < old_n; i++)
        if (old[i])
            r->slot[find(r, old[i]->key)] = old[i];
    free(old);
    return 0;
}

int fr_recent_add(fr_recent *r, const char *key, int32_t item)
{
    int rc = 1;
    pthread_mutex_lock(&r->mu);
    long i = find(r, key);
    fr_recent_user *u = r->slot[i];
    if (!u) {
        if (r->users >= r->max_users) {
            r->dropped_users++;
            rc = 0;
            goto out;
        }
        if (2 * (r->users + 1) > r->slots) {
            if (grow(r) != 0) {
                rc = -1;
                goto out;
            }
            i = find(r, key);
        }
        u = malloc(sizeof *u + (size_t)r->per_user * sizeof u->items[0]);
        char *k = strdup(key);
        if (!u || !k) {
            free(u);
            free(k);
            rc = -1;
            goto out;
        }
        u->key = k;
        u->n = u->head = 0;
        r->slot[i] = u;
        r->users++;
    }
    if (u->n < r->per_user) {
        u->items[(u->head + u->n) % r->per_user] = item;
        u->n++;
    } else {
        u->items[u->head] = item;
        u->head = (u->head + 1) % r->per_user;
    }
out:
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int fr_recent_get(fr_recent *r, const char *key, int32_t *out, int cap)
{
    int n = 0;
    pthread_mutex_lock(&r->mu);
    const fr_recent_user *u = r->slot[find(r, key)];
    if (u) {
        int skip = u->n > cap ? u->n - cap : 0;
        for (int j = skip; j < u->n; j++)
            out[n++] = u->items[(u->head + j) % r->per_user];
    }
    pthread_mutex_unlock(&r->mu);
    return n;
}
