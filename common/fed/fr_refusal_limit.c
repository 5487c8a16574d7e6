/* The per-node rate limit on recorded refusals (see fr_refusal_limit.h). */
#include "fed/fr_refusal_limit.h"

#include <stdio.h>
#include <string.h>

void fr_refusal_limit_init(fr_refusal_limit *l, double burst, double per_s)
{
    memset(l, 0, sizeof *l);
    l->burst = burst >= 1 ? burst : 1;
    l->per_s = per_s > 0 ? per_s : 0;
}

static fr_refusal_bucket *bucket_of(fr_refusal_limit *l, const char *node, double now)
{
    fr_refusal_bucket *free_slot = NULL, *oldest = NULL;
    for (int i = 0; i < FR_REFUSAL_LIMIT_NODES; i++) {
        fr_refusal_bucket *b = &l->b[i];
        if (!b->node[0]) {
            if (!free_slot)
                free_slot = b;
            continue;
        }
        if (strcmp(b->node, node) == 0)
            return b;
        if (!oldest || b->last < oldest->last)
            oldest = b;
    }
    fr_refusal_bucket *b = free_slot ? free_slot : oldest;
    memset(b, 0, sizeof *b);
    snprintf(b->node, sizeof b->node, "%s", node);
    b->tokens = l->burst;
    b->last = now;
    return b;
}

int fr_refusal_limit_take(fr_refusal_limit *l, const char *node, double now, uint64_t *hidden)
{
    /* names longer than a certificate's CN cannot come from the TLS layer; they share
     * their first 63 bytes' bucket */
    fr_refusal_bucket *b = bucket_of(l, node && node[0] ? node : "-", now);
    *hidden = 0;
    if (now > b->last) {
        b->tokens += (now - b->last) * l->per_s;
        if (b->tokens > l->burst)
            b->tokens = l->burst;
    }
    b->last = now > b->last ? now : b->last;
    if (b->tokens < 1) {
        b->hidden++;
        l->hidden++;
        return 0;
    }
    b->tokens -= 1;
    *hidden = b->hidden;
    b->hidden = 0;
    l->recorded++;
    return 1;
}
