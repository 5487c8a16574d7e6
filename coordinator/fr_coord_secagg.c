/* Secure rounds at the coordinator (docs/secagg.md, "In the federation"): which live
 * nodes can be members (a verified identity and data), and the glue between the
 * /v1/secagg/ endpoints and the round machine (fed/fr_round_secure.c), which walks
 * the protocol's steps. Nothing of a secure round is written to disk before it
 * finishes: a restarted coordinator aborts it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fr_coord.h"

int fr_coord_secagg_enabled(const fr_coord *c)
{
    return c->cfg.secure_aggregation && !strcmp(c->cfg.secure_aggregation, "on");
}

static int eligible(const fr_coord *c, const fr_coord_live *l, double now)
{
    return now - l->last_seen <= c->cfg.node_timeout && l->has_id && l->has_data;
}

int fr_coord_secagg_eligible(const fr_coord *c)
{
    double now = fr_coord_now();
    int n = 0;
    for (int i = 0; i < c->n_live; i++)
        n += eligible(c, &c->live[i], now);
    return n < FR_SECAGG_MAX_NODES ? n : FR_SECAGG_MAX_NODES;
}

fr_status fr_coord_secagg_open(fr_coord *c, fr_err *err)
{
    double now = fr_coord_now();
    fr_secagg_member *cand = calloc(FR_SECAGG_MAX_NODES, sizeof *cand);
    int n = 0;
    if (!cand)
        return fr_fail(err, FR_ENOMEM, "secure round: out of memory");
    for (int i = 0; i < c->n_live && n < FR_SECAGG_MAX_NODES; i++)
        if (eligible(c, &c->live[i], now)) {
            const fr_coord_live *l = &c->live[i];
            fr_secagg_member *e = &cand[n++];
            snprintf(e->name, sizeof e->name, "%s", l->name);
            e->id_pk = l->id_pk;
            e->cert = l->id_cert;
            e->cert_len = l->id_cert_len;
            e->sig = l->id_sig;
            e->sig_len = l->id_sig_len;
        }
    fr_status st = fr_round_open_secure(&c->rd, cand, n, err);
    free(cand);
    if (st != FR_OK)
        return st;
    const fr_secagg_params *p = &c->rd.sa.setup.p;
    fr_coord_log("round %ld is secure: %d members, threshold %d, %u coordinates", c->rd.id, p->n,
                 p->t, p->m);
    return FR_OK;
}

fr_round_refusal fr_coord_secagg_request(fr_coord *c, const char *node, fr_round_msg m, long asked,
                                         const uint8_t *body, size_t len, msgpack_sbuffer *out,
                                         char *reason, size_t cap)
{
    fr_round_decision d;
    fr_round_refusal why = fr_round_secure_message(&c->rd, fr_coord_now(), node, m, asked, body,
                                                   len, out, &d, reason, cap);
    if (why == FR_ROUND_OK && m == FR_ROUND_POST_MASKED)
        c->stats.update_bytes += (double)len;
    fr_coord_round_act(c, &d);
    return why;
}
