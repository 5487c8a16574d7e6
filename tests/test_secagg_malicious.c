/* A coordinator that deviates from the protocol, played by hand against the nodes' real
 * code (fr_secagg_client): it shows members different setups, relays whatever suits it
 * and asks each node for the shares that would unmask one input. Every attack must be
 * refused by the nodes before any secret that would open one node's input leaves them,
 * and an honest round must still give the exact sum. */
#include <msgpack.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "secagg/fr_secagg_round.h"
#include "fr_test_secagg.h"

static uint8_t blob[2][80];

/* A setup of the fed's round: its members' identity keys, weights 10, 20, ... */
static void make_setup(fr_secagg_setup *s, const fed *f)
{
    memset(s, 0, sizeof *s);
    s->p = f->p;
    s->model_version = 3;
    s->clip = 1;
    s->loss_clip = FR_SECAGG_LOSS_CLIP;
    for (int i = 0; i < f->p.n; i++) {
        fr_secagg_member *e = &s->e[i];
        e->id = i + 1;
        snprintf(e->name, sizeof e->name, "site-%d", i + 1);
        e->weight = 10.0 * (i + 1);
        s->weight_total += e->weight;
        e->id_pk = f->pks + (size_t)i * 32;
        e->cert = blob[0];
        e->cert_len = sizeof blob[0];
        e->sig = blob[1];
        e->sig_len = sizeof blob[1];
    }
}

/* The deviating coordinator's advert list: every advert it was sent, unchecked. */
static void list_of(const msgpack_sbuffer *adv, int n, msgpack_sbuffer *out)
{
    fr_secagg_adverts_msg *l = calloc(1, sizeof *l);
    fr_err err = {{0}};
    for (int u = 1; u <= n; u++) {
        fr_secagg_advertise_msg a;
        CHECK(fr_secagg_advertise_decode(adv[u].data, adv[u].size, n, &a, &err) == FR_OK, "%s",
              err.msg);
        l->round = a.round;
        l->e[l->count++] = a.a;
    }
    msgpack_sbuffer_clear(out);
    fr_secagg_adverts_encode(l, out);
    free(l);
}

/* (b) Members shown different setups: nodes 1 and 2 one in which node 4 weighs almost
 * nothing (the weight attack needs every other member to see that), nodes 3 and 4 the
 * honest one. Their adverts carry different hashes: no node sends a single share. */
static void test_split_setups(void)
{
    fed f;
    fr_secagg_setup *honest = malloc(sizeof *honest), *skewed = malloc(sizeof *skewed);
    msgpack_sbuffer adv[5], list, out;
    for (int u = 0; u <= 4; u++)
        msgpack_sbuffer_init(&adv[u]);
    msgpack_sbuffer_init(&list);
    msgpack_sbuffer_init(&out);
    fr_err err = {{0}};
    if (!fed_init(&f, 4, 3, 64, 40))
        goto out;
    make_setup(honest, &f);
    make_setup(skewed, &f);
    skewed->weight_total -= skewed->e[3].weight - 1e-9;
    skewed->e[3].weight = 1e-9;
    uint8_t h_honest[32], h_skewed[32];
    CHECK(fr_secagg_setup_hash(honest, h_honest, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_secagg_setup_hash(skewed, h_skewed, &err) == FR_OK, "%s", err.msg);
    CHECK(memcmp(h_honest, h_skewed, 32) != 0, "one weight changed, the same hash");
    for (int u = 1; u <= 4; u++) {
        memcpy(f.cl[u].p.setup_hash, u <= 2 ? h_skewed : h_honest, 32);
        CHECK(fr_secagg_client_advertise(&f.cl[u], &adv[u], &err) == FR_OK, "%s", err.msg);
    }
    /* every node sees the others' adverts: each meets one made for another setup */
    list_of(adv, 4, &list);
    for (int u = 1; u <= 4; u++) {
        msgpack_sbuffer_clear(&out);
        CHECK(fr_secagg_client_share(&f.cl[u], list.data, list.size, &out, &err) == FR_EINVAL &&
                  strstr(err.msg, "another setup"),
              "node %d: %s", u, err.msg);
        CHECK(out.size == 0 && f.cl[u].stage == FR_SECAGG_CL_REFUSED, "node %d sent shares", u);
    }
    /* an advert relabelled with the other group's hash: its signature no longer holds */
    fed g;
    if (fed_init(&g, 4, 3, 64, 40)) {
        for (int u = 1; u <= 4; u++) {
            memcpy(g.cl[u].p.setup_hash, u <= 2 ? h_skewed : h_honest, 32);
            msgpack_sbuffer_clear(&adv[u]);
            CHECK(fr_secagg_client_advertise(&g.cl[u], &adv[u], &err) == FR_OK, "%s", err.msg);
        }
        fr_secagg_adverts_msg *l = calloc(1, sizeof *l);
        for (int u = 1; u <= 4; u++) {
            fr_secagg_advertise_msg a;
            CHECK(fr_secagg_advertise_decode(adv[u].data, adv[u].size, 4, &a, &err) == FR_OK, "%s",
                  err.msg);
            l->round = a.round;
            l->e[l->count] = a.a;
            l->e[l->count++].setup = h_skewed;
        }
        msgpack_sbuffer_clear(&list);
        fr_secagg_adverts_encode(l, &list);
        msgpack_sbuffer_clear(&out);
        CHECK(fr_secagg_client_share(&g.cl[1], list.data, list.size, &out, &err) == FR_EINVAL &&
                  strstr(err.msg, "node 3's advertised keys are not signed"),
              "relabelled advert: %s", err.msg);
        CHECK(out.size == 0, "node 1 sent shares");
        free(l);
    }
    fed_free(&g);
out:
    fed_free(&f);
    for (int u = 0; u <= 4; u++)
        msgpack_sbuffer_destroy(&adv[u]);
    msgpack_sbuffer_destroy(&list);
    msgpack_sbuffer_destroy(&out);
    free(honest);
    free(skewed);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    RUN(test_split_setups);
    return fr_test_end();
}
