/* libFuzzer target: a secure round's setup as a node reads it from the coordinator
 * (fr_secagg_setup_decode). The whole input is the body. A body that decodes must name
 * settings the protocol accepts, a layout that fits (a weight cap in [1, 1e9]), members
 * 1..n in order with distinct printable names and no weight, byte fields inside the
 * body, and decode to
 * the same fields once encoded again; one that does not must be refused with a
 * message. */
#include <stdlib.h>

#include "fr_fuzz_secagg.h"
#include "secagg/fr_secagg_round.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fr_secagg_setup *s = malloc(sizeof *s), *again = malloc(sizeof *again);
    need(s && again, "memory for two setups");
    fr_err err = {{0}};
    fr_status st = fr_secagg_setup_decode(data, size, s, &err);
    if (st != FR_OK) {
        need_refusal(st, &err);
        goto out;
    }
    need(s->p.n >= 2 && s->p.n <= FR_SECAGG_MAX_NODES && 2 * s->p.t > s->p.n && s->p.t <= s->p.n &&
             s->p.m >= 3,
         "settings the protocol accepts");
    need(s->clip > 0 && s->loss_clip > 0 && s->max_weight >= 1 &&
             s->max_weight <= FR_SECAGG_MAX_WEIGHT_TOP,
         "bounds positive, the cap in range");
    fr_secagg_layout l;
    need(fr_secagg_round_layout(s, &l, &err) == FR_OK && l.m == s->p.m, "the layout fits");
    for (int i = 0; i < s->p.n; i++) {
        const fr_secagg_member *e = &s->e[i];
        need(e->id == i + 1, "members in order");
        need(memchr(e->name, 0, sizeof e->name) != NULL && e->name[0], "a name");
        need_inside(e->id_pk, FR_SECAGG_ID_PUBLIC_BYTES, data, size);
        need_inside(e->cert, e->cert_len, data, size);
        need_inside(e->sig, e->sig_len, data, size);
        need(fr_secagg_setup_find(s, e->name) == e, "names are distinct");
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_secagg_setup_encode(s, &sb);
    need(fr_secagg_setup_decode(sb.data, sb.size, again, &err) == FR_OK,
         "re-encoded setup decodes");
    need(again->p.round == s->p.round && again->p.n == s->p.n && again->p.t == s->p.t &&
             again->p.m == s->p.m && again->model_version == s->model_version &&
             again->clip == s->clip && again->max_weight == s->max_weight &&
             again->weight_windows == s->weight_windows,
         "setup settings survive a round trip");
    for (int i = 0; i < s->p.n; i++)
        need(!strcmp(again->e[i].name, s->e[i].name) && again->e[i].cert_len == s->e[i].cert_len &&
                 !memcmp(again->e[i].cert, s->e[i].cert, s->e[i].cert_len) &&
                 !memcmp(again->e[i].id_pk, s->e[i].id_pk, FR_SECAGG_ID_PUBLIC_BYTES),
             "members survive a round trip");
    msgpack_sbuffer_destroy(&sb);
out:
    free(s);
    free(again);
    return 0;
}
