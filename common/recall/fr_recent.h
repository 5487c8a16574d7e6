/* Users' events that arrived after the served data was loaded (posted to the recall
 * server, or replayed from its behaviour log at start), kept per user so that the
 * next recall reads them as the newest part of the user's history.
 *
 * Bounded: each user keeps the latest per_user item rows (older ones drop out of the
 * history, first of the oldest), and at most max_users users are kept; events of
 * further new users are still logged, but not reflected until a restart reloads
 * them. Safe to use from several threads. */
#ifndef FR_RECENT_H
#define FR_RECENT_H

#include <pthread.h>
#include <stdint.h>

#include "util/fr_status.h"

typedef struct fr_recent_user fr_recent_user;

typedef struct fr_recent {
    pthread_mutex_t mu;
    fr_recent_user **slot; /* open addressing, a power of two */
    long slots, users, max_users;
    int per_user;
    long dropped_users; /* events not kept because max_users was reached */
} fr_recent;

FR_MUST fr_status fr_recent_init(fr_recent *r, long max_users, int per_user, fr_err *err);
void fr_recent_free(fr_recent *r);

/* Append item row to the history of user key. Returns 1 when kept, 0 when the user
 * is new and max_users is reached, -1 when out of memory. */
int fr_recent_add(fr_recent *r, const char *key, int32_t item);

/* Copy user key's rows, oldest first, into out (cap rows at most: the newest cap);
 * returns how many. */
int fr_recent_get(fr_recent *r, const char *key, int32_t *out, int cap);

#endif
