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

/* A setup of the fed's round: its members' identity keys, a weight cap of 100. */
static void make_setup(fr_secagg_setup *s, const fed *f)
{
    memset(s, 0, sizeof *s);
    s->p = f->p;
    s->model_version = 3;
    s->clip = 1;
    s->loss_clip = FR_SECAGG_LOSS_CLIP;
    s->max_weight = 100;
    for (int i = 0; i < f->p.n; i++) {
        fr_secagg_member *e = &s->e[i];
        e->id = i + 1;
        snprintf(e->name, sizeof e->name, "site-%d", i + 1);
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

/* (b) Members shown different setups: nodes 1 and 2 one whose weight cap is far larger
 * (its fixed-point scales would round the others' contributions away beside a target
 * that was shown the honest one), nodes 3 and 4 the honest one. Their adverts carry
 * different hashes: no node sends a single share. */
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
    skewed->max_weight = 1e9;
    uint8_t h_honest[32], h_skewed[32];
    CHECK(fr_secagg_setup_hash(honest, h_honest, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_secagg_setup_hash(skewed, h_skewed, &err) == FR_OK, "%s", err.msg);
    CHECK(memcmp(h_honest, h_skewed, 32) != 0, "the cap changed, the same hash");
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

/* ---- (a) split views: the attack of a coordinator that shows nodes different U2s ----
 *
 * Against node 5's input, n = 5: node 5 is relayed the shares of nodes 1 and 2 only, so
 * its masked input carries b_5 and its pair masks with 1 and 2; the others get every
 * share. Each node is then asked to unmask a different split:
 *   node 1: survivors {1,3,4,5}, dropped {2}   -> b_5, s_sk_2
 *   node 2: survivors {2,3,4,5}, dropped {1}   -> b_5, s_sk_1
 *   node 3, node 4: survivors {3,4,5}, dropped {1,2} -> b_5, s_sk_1, s_sk_2
 *   node 5: survivors {1,2,5}                  -> b_5
 * Each request is a split of that node's U2 with at least 3 survivors: without the
 * consistency check, at t = 3 (the old default threshold for 5), every node answers, and
 * 3 shares each of b_5, s_sk_1 and s_sk_2 open node 5's input exactly. With it, each
 * node signs the U3 it is shown and wants t signatures over that same set before any
 * share leaves it: no U3 here gets 3. */

enum { A_N = 5, A_M = 64 };

static const uint8_t a_u3[A_N + 1][A_N] = {{0},       {1, 3, 4, 5}, {2, 3, 4, 5},
                                           {3, 4, 5}, {3, 4, 5},    {1, 2, 5}};
static const int a_u3_len[A_N + 1] = {0, 4, 4, 3, 3, 3};
static const uint8_t a_drop[A_N + 1][A_N] = {{0}, {2}, {1}, {1, 2}, {1, 2}, {0}};
static const int a_drop_len[A_N + 1] = {0, 1, 1, 2, 2, 0};

/* What the coordinator does with the shares it was given: x_5 if they suffice. */
static int recover_x5(const fed *f, int t, const msgpack_sbuffer *resp, const msgpack_sbuffer *adv,
                      const uint32_t *y5, uint32_t *x5)
{
    /* wanted: b_5 (kind B of node 5), s_sk_1 and s_sk_2 (kind SK of nodes 1 and 2) */
    const int want_node[3] = {5, 1, 2},
              want_kind[3] = {FR_SECAGG_SHARE_B, FR_SECAGG_SHARE_SK, FR_SECAGG_SHARE_SK};
    uint8_t xs[3][A_N], sec[3][32];
    const uint8_t *sh[3][A_N];
    int k[3] = {0, 0, 0};
    fr_secagg_unmask_resp_msg *m = malloc(sizeof *m);
    fr_err err = {{0}};
    for (int u = 1; u <= A_N; u++) {
        if (!resp[u].size ||
            fr_secagg_unmask_resp_decode(resp[u].data, resp[u].size, A_N, m, &err) != FR_OK)
            continue;
        for (int i = 0; i < m->count; i++)
            for (int w = 0; w < 3; w++)
                if (m->e[i].peer == want_node[w] && m->e[i].kind == want_kind[w]) {
                    xs[w][k[w]] = (uint8_t)u;
                    sh[w][k[w]++] = m->e[i].share; /* points into resp[u] */
                }
    }
    free(m);
    int ok = 1;
    for (int w = 0; w < 3; w++)
        ok = ok && k[w] >= t && fr_secagg_shamir_combine(xs[w], sh[w], k[w], sec[w], &err) == FR_OK;
    if (!ok)
        return 0;
    uint8_t s_pk[A_N + 1][32];
    for (int u = 1; u <= A_N; u++) {
        fr_secagg_advertise_msg a;
        if (fr_secagg_advertise_decode(adv[u].data, adv[u].size, A_N, &a, &err) != FR_OK)
            return 0;
        memcpy(s_pk[u], a.a.s_pk, 32);
    }
    memcpy(x5, y5, A_M * sizeof *x5);
    fr_secagg_mask_add(x5, A_M, sec[0], FR_SECAGG_PRG_SELF, f->p.round, 1);
    for (int w = 1; w < 3; w++) {
        uint8_t key[32];
        int v = want_node[w];
        if (fr_secagg_shared_key(key, FR_SECAGG_KEY_MASK, f->p.round, v, sec[w], s_pk[v], 5,
                                 s_pk[5], &err) != FR_OK)
            return 0;
        /* node 5 added PRG(s_5v) for v < 5 */
        fr_secagg_mask_add(x5, A_M, key, FR_SECAGG_PRG_PAIR, f->p.round, 1);
    }
    return 1;
}

/* The split attack with the nodes' threshold set to t (past the floor when t = 3, to
 * show that the consistency check alone stops it). Returns how many nodes released
 * shares; *opened is set when the coordinator recovered x_5, *signed_n to the nodes
 * that got as far as signing their U3. */
static int split_attack(int t, int *opened, int *signed_n)
{
    fed f;
    msgpack_sbuffer adv[A_N + 1], sh[A_N + 1], sig[A_N + 1], resp[A_N + 1], sb;
    for (int u = 0; u <= A_N; u++) {
        msgpack_sbuffer_init(&adv[u]);
        msgpack_sbuffer_init(&sh[u]);
        msgpack_sbuffer_init(&sig[u]);
        msgpack_sbuffer_init(&resp[u]);
    }
    msgpack_sbuffer_init(&sb);
    fr_err err = {{0}};
    int released = 0;
    uint32_t y5[A_M], x5[A_M];
    *opened = 0;
    *signed_n = 0;
    fr_secagg_shares_msg *relay = malloc(sizeof *relay), *out = calloc(A_N + 1, sizeof *out);
    fr_secagg_unmask_req_msg *req = malloc(sizeof *req);
    if (!fed_init(&f, A_N, 4, A_M, 50))
        goto done;
    for (int u = 1; u <= A_N; u++)
        f.cl[u].p.t = t;
    for (int u = 1; u <= A_N; u++)
        CHECK(fr_secagg_client_advertise(&f.cl[u], &adv[u], &err) == FR_OK, "%s", err.msg);
    msgpack_sbuffer list;
    msgpack_sbuffer_init(&list);
    list_of(adv, A_N, &list);
    for (int u = 1; u <= A_N; u++) {
        CHECK(fr_secagg_client_share(&f.cl[u], list.data, list.size, &sh[u], &err) == FR_OK,
              "node %d: %s", u, err.msg);
        CHECK(fr_secagg_shares_decode(sh[u].data, sh[u].size, A_N, &out[u], &err) == FR_OK, "%s",
              err.msg);
    }
    msgpack_sbuffer_destroy(&list);
    /* the relays: node 5 sees nodes 1 and 2 only */
    for (int u = 1; u <= A_N; u++) {
        relay->round = f.p.round;
        relay->node = u;
        relay->count = 0;
        for (int v = 1; v <= A_N; v++) {
            if (v == u || (u == 5 && v > 2))
                continue;
            for (int i = 0; i < out[v].count; i++)
                if (out[v].e[i].peer == u)
                    relay->e[relay->count++] = (fr_secagg_ct_entry){v, out[v].e[i].ct};
        }
        msgpack_sbuffer_clear(&sb);
        fr_secagg_relay_encode(relay, &sb);
        msgpack_sbuffer masked;
        msgpack_sbuffer_init(&masked);
        /* at t = 4 node 5 refuses a relay of 2 */
        if (fr_secagg_client_masked_input(&f.cl[u], sb.data, sb.size, input(&f, u), &masked,
                                          &err) != FR_OK)
            CHECK(t > 3 && masked.size == 0, "node %d: %s", u, err.msg);
        fr_secagg_masked_msg mm;
        if (u == 5 &&
            fr_secagg_masked_decode(masked.data, masked.size, A_N, A_M, &mm, &err) == FR_OK)
            memcpy(y5, mm.y, sizeof y5); /* little-endian hosts */
        msgpack_sbuffer_destroy(&masked);
    }
    /* the consistency check: each node is shown its own U3 and signs it */
    fr_secagg_check_msg cm[A_N + 1];
    for (int u = 1; u <= A_N; u++) {
        fr_secagg_check_req_msg cr = {.round = f.p.round, .n_survivors = a_u3_len[u]};
        memcpy(cr.survivors, a_u3[u], (size_t)a_u3_len[u]);
        msgpack_sbuffer_clear(&sb);
        fr_secagg_check_req_encode(&cr, &sb);
        if (fr_secagg_client_check(&f.cl[u], sb.data, sb.size, &sig[u], &err) != FR_OK) {
            /* at t = 4, a U3 of 3 is refused */
            CHECK(t > 3 && sig[u].size == 0, "node %d signs its U3: %s", u, err.msg);
            continue;
        }
        CHECK(fr_secagg_check_decode(sig[u].data, sig[u].size, A_N, &cm[u], &err) == FR_OK, "%s",
              err.msg);
        ++*signed_n;
    }
    /* each node's request carries every signature the coordinator holds, so that it has
     * at least t; those over another U3 fail, and without them there are too few */
    for (int pass = 0; pass < 2; pass++)
        for (int u = 1; u <= A_N; u++) {
            if (resp[u].size || f.cl[u].stage == FR_SECAGG_CL_REFUSED)
                continue;
            memset(req, 0, sizeof *req);
            req->round = f.p.round;
            req->n_survivors = a_u3_len[u];
            memcpy(req->survivors, a_u3[u], (size_t)a_u3_len[u]);
            req->n_dropped = a_drop_len[u];
            memcpy(req->dropped, a_drop[u], (size_t)a_drop_len[u]);
            for (int v = 1; v <= A_N; v++) {
                if (!sig[v].size)
                    continue;
                int same =
                    a_u3_len[v] == a_u3_len[u] && !memcmp(a_u3[v], a_u3[u], (size_t)a_u3_len[u]);
                if (pass == 1 && !same)
                    continue; /* the second try: only the valid ones */
                req->signers[req->n_sigs] = (uint8_t)v;
                req->sigs[req->n_sigs++] = cm[v].sig;
            }
            msgpack_sbuffer_clear(&sb);
            fr_secagg_unmask_req_encode(req, &sb);
            if (fr_secagg_client_unmask(&f.cl[u], sb.data, sb.size, &resp[u], &err) == FR_OK)
                released++;
            else
                CHECK(resp[u].size == 0, "node %d refused and still wrote shares", u);
        }
    *opened = recover_x5(&f, t, resp, adv, y5, x5) && !memcmp(x5, input(&f, 5), sizeof x5);
done:
    fed_free(&f);
    for (int u = 0; u <= A_N; u++) {
        msgpack_sbuffer_destroy(&adv[u]);
        msgpack_sbuffer_destroy(&sh[u]);
        msgpack_sbuffer_destroy(&sig[u]);
        msgpack_sbuffer_destroy(&resp[u]);
    }
    msgpack_sbuffer_destroy(&sb);
    free(relay);
    free(out);
    free(req);
    return released;
}

static void test_split_views(void)
{
    int opened = 0, signed_n = 0;
    /* t = 3, the threshold the coordinator used to pick for 5 members: every step up to
     * the unmasking goes through, the consistency check stops it */
    int released = split_attack(3, &opened, &signed_n);
    CHECK(signed_n == A_N, "%d of 5 nodes reached the consistency check", signed_n);
    CHECK(!opened, "the coordinator recovered node 5's input");
    CHECK(released == 0, "%d nodes released shares to a split view", released);
    /* t = 4, the floor's threshold for 5 members: refused earlier still */
    released = split_attack(4, &opened, &signed_n);
    CHECK(!opened && released == 0, "t = 4: %d nodes released shares, input opened %d", released,
          opened);
}

/* (c) A round too small or with too low a threshold: a coordinator that opens a round of
 * two members (or of five with t = 3) gets no node to advertise a key. */
static void test_small_rounds(void)
{
    fr_err err = {{0}};
    uint8_t pks[5 * 32], sks[5 * 64];
    for (int v = 1; v <= 5; v++)
        identity(v, pks + (v - 1) * 32, sks + (v - 1) * 64);
    const int cases[][2] = {{2, 2}, {2, 1}, {3, 2}, {5, 3}, {6, 4}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fr_secagg_params p = {.round = 60, .n = cases[i][0], .t = cases[i][1], .m = 8};
        fr_secagg_client cl;
        CHECK(fr_secagg_client_init(&cl, &p, 1, sks, pks, &err) == FR_EINVAL &&
                  (strstr(err.msg, "this node takes part with 3 at least") ||
                   strstr(err.msg, "this node needs more than 0.6667") ||
                   strstr(err.msg, "threshold")),
              "n %d t %d: %s", p.n, p.t, err.msg);
    }
    /* the setup of a 2-member round decodes (the protocol allows it); the floor the node
     * applies to it before taking part refuses it, and a node's own floor is higher */
    fed f;
    if (!fed_init(&f, 3, 3, 8, 61))
        return;
    fr_secagg_setup *s = malloc(sizeof *s), *d = malloc(sizeof *d);
    make_setup(s, &f);
    s->p.n = 2;
    s->p.t = 2;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_secagg_setup_encode(s, &sb);
    CHECK(fr_secagg_setup_decode(sb.data, sb.size, d, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_secagg_floor_check(&d->p, 0, 0, &err) == FR_EINVAL &&
              strstr(err.msg, "2 members, this node takes part with 3 at least"),
          "setup of 2: %s", err.msg);
    make_setup(s, &f);
    CHECK(fr_secagg_floor_check(&s->p, 0, 0, &err) == FR_OK, "3 of 3: %s", err.msg);
    CHECK(fr_secagg_floor_check(&s->p, 4, 0, &err) == FR_EINVAL &&
              strstr(err.msg, "with 4 at least"),
          "a node that wants 4: %s", err.msg);
    msgpack_sbuffer_destroy(&sb);
    free(s);
    free(d);
    fed_free(&f);
}

/* (d) The honest coordinator still gets the exact sum, with dropouts at every step,
 * at thresholds on the floor. */
static void test_honest_rounds(void)
{
    round_completes(3, 3, 2000, NULL, 0, "n = 3, t = 3");
    const int one[] = {2, D_NO_MASKED};
    round_completes(5, 4, 2000, one, 1, "n = 5, t = 4, one dropout after sharing");
    const int resp[] = {7, D_NO_RESPONSE};
    round_completes(7, 5, 2000, resp, 1, "n = 7, t = 5, one missing at the unmasking");
    const int mixed[] = {1, D_NO_ADVERT, 4, D_NO_SHARES, 9, D_NO_MASKED};
    round_completes(10, 7, 2000, mixed, 3, "n = 10, t = 7, three dropouts");
    const int too_many[] = {1, D_NO_MASKED, 2, D_NO_MASKED};
    round_aborts(5, 4, too_many, 2, "n = 5, t = 4, two dropouts");
}

/* The consistency check's refusals, one at a time: at each node a U3 other than the one
 * it signed, too few signatures, one from outside U3, one that does not verify; at the
 * coordinator a signature that does not verify, a replay and one from outside U3. The
 * round: 5 nodes, t = 4, node 5 dropped after sharing, so U3 = {1, 2, 3, 4}. */
static void test_check_refusals(void)
{
    fed f, g;
    memset(&g, 0, sizeof g);
    fr_err err = {{0}};
    msgpack_sbuffer sb, out;
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_init(&out);
    fr_secagg_unmask_req_msg *req = malloc(sizeof *req), *r2 = malloc(sizeof *r2);
    uint8_t bad[64];
    if (!fed_init(&f, 5, 4, 64, 70))
        goto out;
    f.drop[5] = D_NO_MASKED;
    CHECK(fed_to_unmask(&f, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_secagg_unmask_req_decode(f.req.data, f.req.size, 5, req, &err) == FR_OK &&
              req->n_sigs == 4,
          "%s", err.msg);
    /* node 1: another U3 after signing one */
    fr_secagg_check_req_msg cr = {.round = 70, .n_survivors = 4, .survivors = {1, 2, 3, 5}};
    fr_secagg_check_req_encode(&cr, &sb);
    CHECK(fr_secagg_client_check(&f.cl[1], sb.data, sb.size, &out, &err) == FR_EINVAL &&
              strstr(err.msg, "a second U3 that differs"),
          "second U3: %s", err.msg);
    CHECK(out.size == 0 && f.cl[1].stage == FR_SECAGG_CL_REFUSED, "node 1 signed twice");
    /* node 2: three signatures of four */
    *r2 = *req;
    r2->n_sigs = 3;
    msgpack_sbuffer_clear(&sb);
    fr_secagg_unmask_req_encode(r2, &sb);
    CHECK(fr_secagg_client_unmask(&f.cl[2], sb.data, sb.size, &out, &err) == FR_EINVAL &&
              strstr(err.msg, "3 signatures over U3, below the threshold 4"),
          "3 signatures: %s", err.msg);
    CHECK(out.size == 0, "node 2 answered");
    /* node 3: node 4's signature presented as node 5's (outside U3) */
    *r2 = *req;
    r2->signers[3] = 5;
    msgpack_sbuffer_clear(&sb);
    fr_secagg_unmask_req_encode(r2, &sb);
    CHECK(fr_secagg_client_unmask(&f.cl[3], sb.data, sb.size, &out, &err) == FR_EINVAL &&
              strstr(err.msg, "from node 5, which is not in it"),
          "signer outside U3: %s", err.msg);
    /* node 4: a signature altered */
    *r2 = *req;
    memcpy(bad, r2->sigs[0], 64);
    bad[7] ^= 1;
    r2->sigs[0] = bad;
    msgpack_sbuffer_clear(&sb);
    fr_secagg_unmask_req_encode(r2, &sb);
    CHECK(fr_secagg_client_unmask(&f.cl[4], sb.data, sb.size, &out, &err) == FR_EINVAL &&
              strstr(err.msg, "node 1's consistency signature is not over this U3"),
          "altered signature: %s", err.msg);
    CHECK(out.size == 0, "node 4 answered");

    /* a fresh round up to the check */
    if (!fed_init(&g, 5, 4, 64, 71))
        goto out;
    g.drop[5] = D_NO_MASKED;
    g.stop_at_check = 1;
    CHECK(fed_to_unmask(&g, &err) == FR_OK, "%s", err.msg);
    msgpack_sbuffer sig[5];
    for (int u = 1; u <= 4; u++) {
        msgpack_sbuffer_init(&sig[u]);
        CHECK(fr_secagg_client_check(&g.cl[u], g.check.data, g.check.size, &sig[u], &err) == FR_OK,
              "%s", err.msg);
    }
    /* the coordinator: an altered signature, a replay, a node outside U3 */
    fr_secagg_check_msg cm;
    CHECK(fr_secagg_check_decode(sig[1].data, sig[1].size, 5, &cm, &err) == FR_OK, "%s", err.msg);
    memcpy(bad, cm.sig, 64);
    bad[0] ^= 0x80;
    fr_secagg_check_msg forged = {.round = 71, .from = 1, .sig = bad};
    msgpack_sbuffer_clear(&sb);
    fr_secagg_check_encode(&forged, &sb);
    CHECK(fr_secagg_server_add_check(&g.sv, sb.data, sb.size, &err) == FR_EINVAL &&
              strstr(err.msg, "not over this U3"),
          "forged check: %s", err.msg);
    for (int u = 1; u <= 4; u++)
        CHECK(fr_secagg_server_add_check(&g.sv, sig[u].data, sig[u].size, &err) == FR_OK, "%s",
              err.msg);
    CHECK(fr_secagg_server_add_check(&g.sv, sig[2].data, sig[2].size, &err) == FR_EINVAL &&
              strstr(err.msg, "second consistency signature"),
          "replay: %s", err.msg);
    forged.from = 5;
    msgpack_sbuffer_clear(&sb);
    fr_secagg_check_encode(&forged, &sb);
    CHECK(fr_secagg_server_add_check(&g.sv, sb.data, sb.size, &err) == FR_EINVAL &&
              strstr(err.msg, "node 5, which is not in U3"),
          "outside U3: %s", err.msg);
    CHECK(g.sv.n_u4 == 4, "U4 %d", g.sv.n_u4);
    /* a request whose survivors leave out node 4 (dropped instead), with the valid
     * signatures over the real U3: not the U3 node 1 signed */
    msgpack_sbuffer_clear(&sb);
    CHECK(fr_secagg_server_unmask_request(&g.sv, &sb, &err) == FR_OK, "%s", err.msg);
    msgpack_sbuffer honest;
    msgpack_sbuffer_init(&honest);
    msgpack_sbuffer_write(&honest, sb.data, sb.size);
    CHECK(fr_secagg_unmask_req_decode(honest.data, honest.size, 5, r2, &err) == FR_OK, "%s",
          err.msg);
    r2->n_survivors = 3;
    r2->dropped[0] = 4;
    r2->dropped[1] = 5;
    r2->n_dropped = 2;
    msgpack_sbuffer_clear(&sb);
    fr_secagg_unmask_req_encode(r2, &sb);
    CHECK(fr_secagg_client_unmask(&g.cl[1], sb.data, sb.size, &out, &err) == FR_EINVAL,
          "U3 less node 4: %s", err.msg);
    CHECK(out.size == 0, "node 1 answered");
    /* the honest request: node 2 answers it */
    CHECK(fr_secagg_client_unmask(&g.cl[2], honest.data, honest.size, &out, &err) == FR_OK, "%s",
          err.msg);
    msgpack_sbuffer_destroy(&honest);
    for (int u = 1; u <= 4; u++)
        msgpack_sbuffer_destroy(&sig[u]);
out:
    fed_free(&f);
    fed_free(&g);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&out);
    free(req);
    free(r2);
}

/* A node never releases the share of s_sk_v for a v of the U3 it signed, nor a share of
 * b_v for a v outside it: a request that moves node 5 from the survivors to the dropped
 * (still t = 4 survivors, the genuine signatures over U3 = {1..5}) is refused. */
static void test_no_sk_share_in_u3(void)
{
    fed f;
    fr_err err = {{0}};
    msgpack_sbuffer sb, out;
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_init(&out);
    fr_secagg_unmask_req_msg *r = malloc(sizeof *r);
    if (!fed_init(&f, 5, 4, 64, 80))
        goto out;
    CHECK(fed_to_unmask(&f, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_secagg_unmask_req_decode(f.req.data, f.req.size, 5, r, &err) == FR_OK &&
              r->n_survivors == 5 && r->n_sigs == 5,
          "%s", err.msg);
    r->n_survivors = 4;
    r->dropped[0] = 5;
    r->n_dropped = 1;
    fr_secagg_unmask_req_encode(r, &sb);
    for (int u = 1; u <= 4; u++) {
        msgpack_sbuffer_clear(&out);
        CHECK(fr_secagg_client_unmask(&f.cl[u], sb.data, sb.size, &out, &err) == FR_EINVAL &&
                  strstr(err.msg, "leaves out node 5 among the survivors, unlike the U3"),
              "node %d: %s", u, err.msg);
        CHECK(out.size == 0, "node %d released shares", u);
    }
    /* node 5 itself answers the honest request: one share per node, all of kind b */
    msgpack_sbuffer_clear(&out);
    CHECK(fr_secagg_client_unmask(&f.cl[5], f.req.data, f.req.size, &out, &err) == FR_OK, "%s",
          err.msg);
    fr_secagg_unmask_resp_msg *m = malloc(sizeof *m);
    CHECK(fr_secagg_unmask_resp_decode(out.data, out.size, 5, m, &err) == FR_OK && m->count == 5,
          "%s", err.msg);
    for (int i = 0; i < m->count; i++)
        CHECK(m->e[i].kind == FR_SECAGG_SHARE_B, "a share of kind %d for node %d of U3",
              m->e[i].kind, m->e[i].peer);
    free(m);
out:
    fed_free(&f);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&out);
    free(r);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    RUN(test_split_setups);
    RUN(test_split_views);
    RUN(test_check_refusals);
    RUN(test_no_sk_share_in_u3);
    RUN(test_small_rounds);
    RUN(test_honest_rounds);
    return fr_test_end();
}
