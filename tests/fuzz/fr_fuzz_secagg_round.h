/* One fixed round of secure aggregation (3 nodes, threshold 3, 16 coordinates), the
 * same in every process: shared by fuzz_secagg_steps, which puts a node or the
 * coordinator in each stage of it and feeds it arbitrary bytes, and by
 * tests/tool_secagg_seeds.c, which writes that round's messages out as the secagg fuzz
 * targets' seeds. The seeds then are the very messages the target's parties expect, so
 * that a mutation of one reaches the checks behind the decoder (signatures, ciphertexts,
 * the sets) rather than stopping at them.
 *
 * Sameness comes from a fixed randombytes implementation: ChaCha20 under a key per
 * party (0 for the coordinator and libsodium itself, u for node u), each call a fresh
 * nonce from that party's counter, so a party's keys depend only on its own calls, in
 * whatever order the parties are run. It is installed before sodium_init and serves
 * testing alone: nothing here is secret. */
#ifndef FR_FUZZ_SECAGG_ROUND_H
#define FR_FUZZ_SECAGG_ROUND_H

#include <msgpack.h>
#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "secagg/fr_secagg.h"

#define SA_N 3
#define SA_T 3
#define SA_M 16
#define SA_ROUND 5

static uint8_t sa_rng_key[SA_N + 1][crypto_stream_chacha20_KEYBYTES];
static uint64_t sa_rng_calls[SA_N + 1];
static int sa_party;

static inline const char *sa_rng_name(void)
{
    return "fedrecall-fixed-round";
}

static inline void sa_rng_buf(void *buf, size_t size)
{
    uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];
    uint64_t c = sa_rng_calls[sa_party]++;
    for (int i = 0; i < 8; i++)
        nonce[i] = (uint8_t)(c >> (8 * i));
    crypto_stream_chacha20(buf, size, nonce, sa_rng_key[sa_party]);
}

static inline uint32_t sa_rng_random(void)
{
    uint32_t r;
    sa_rng_buf(&r, sizeof r);
    return r;
}

static randombytes_implementation sa_rng = {
    .implementation_name = sa_rng_name, .random = sa_rng_random, .buf = sa_rng_buf};

/* Party p's stream from its start. */
static inline void sa_rng_reset(int p)
{
    memset(sa_rng_key[p], 0, sizeof sa_rng_key[p]);
    sa_rng_key[p][0] = (uint8_t)p;
    memcpy(sa_rng_key[p] + 1, "secagg fixed round", 18);
    sa_rng_calls[p] = 0;
    sa_party = p;
}

/* The fixed randomness, then libsodium; 0 when libsodium fails to start. */
static inline int sa_start(void)
{
    for (int p = SA_N; p >= 0; p--)
        sa_rng_reset(p);
    randombytes_set_implementation(&sa_rng);
    return sodium_init() >= 0;
}

/* The honest round: every message, the inputs and their sum. */
typedef struct sa_round {
    fr_secagg_params p;
    uint8_t pks[SA_N * FR_SECAGG_ID_PUBLIC_BYTES], sks[SA_N * FR_SECAGG_ID_SECRET_BYTES];
    uint32_t x[SA_N + 1][SA_M], sum[SA_M];
    msgpack_sbuffer adv[SA_N + 1], list, shares[SA_N + 1], relay[SA_N + 1], masked[SA_N + 1], check,
        sig[SA_N + 1], req, resp[SA_N + 1];
} sa_round;

static inline void sa_round_free(sa_round *r)
{
    for (int u = 0; u <= SA_N; u++) {
        msgpack_sbuffer_destroy(&r->adv[u]);
        msgpack_sbuffer_destroy(&r->shares[u]);
        msgpack_sbuffer_destroy(&r->relay[u]);
        msgpack_sbuffer_destroy(&r->masked[u]);
        msgpack_sbuffer_destroy(&r->sig[u]);
        msgpack_sbuffer_destroy(&r->resp[u]);
    }
    msgpack_sbuffer_destroy(&r->list);
    msgpack_sbuffer_destroy(&r->check);
    msgpack_sbuffer_destroy(&r->req);
}

/* Node u of the round, taken through its steps with the honest messages until it is in
 * stage want (FR_SECAGG_CL_NEW .. FR_SECAGG_CL_ANSWERED). */
static inline fr_status sa_client_to(fr_secagg_client *cl, const sa_round *r, int u,
                                     fr_secagg_client_stage want, fr_err *err)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    sa_rng_reset(u);
    fr_status st = fr_secagg_client_init(cl, &r->p, u, r->sks + (size_t)(u - 1) * 64, r->pks, err);
    if (st == FR_OK && want >= FR_SECAGG_CL_ADVERTISED)
        st = fr_secagg_client_advertise(cl, &sb, err);
    msgpack_sbuffer_clear(&sb);
    if (st == FR_OK && want >= FR_SECAGG_CL_SHARED)
        st = fr_secagg_client_share(cl, r->list.data, r->list.size, &sb, err);
    msgpack_sbuffer_clear(&sb);
    if (st == FR_OK && want >= FR_SECAGG_CL_MASKED)
        st = fr_secagg_client_masked_input(cl, r->relay[u].data, r->relay[u].size, r->x[u], &sb,
                                           err);
    msgpack_sbuffer_clear(&sb);
    if (st == FR_OK && want >= FR_SECAGG_CL_CHECKED)
        st = fr_secagg_client_check(cl, r->check.data, r->check.size, &sb, err);
    msgpack_sbuffer_clear(&sb);
    if (st == FR_OK && want >= FR_SECAGG_CL_ANSWERED)
        st = fr_secagg_client_unmask(cl, r->req.data, r->req.size, &sb, err);
    msgpack_sbuffer_destroy(&sb);
    sa_party = 0;
    return st;
}

/* The coordinator of the round, fed every honest message of the steps before stage want
 * (FR_SECAGG_SV_ADVERTISE .. FR_SECAGG_SV_UNMASK, FR_SECAGG_SV_CHECK included) and the broadcasts
 * that close them. */
static inline fr_status sa_server_to(fr_secagg_server *sv, const sa_round *r,
                                     fr_secagg_server_stage want, fr_err *err)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    sa_party = 0;
    fr_status st = fr_secagg_server_init(sv, &r->p, r->pks, err);
    for (int u = 1; st == FR_OK && want >= FR_SECAGG_SV_SHARES && u <= SA_N; u++)
        st = fr_secagg_server_add_advertise(sv, r->adv[u].data, r->adv[u].size, err);
    if (st == FR_OK && want >= FR_SECAGG_SV_SHARES)
        st = fr_secagg_server_advertise_list(sv, &sb, err);
    for (int u = 1; st == FR_OK && want >= FR_SECAGG_SV_MASKED && u <= SA_N; u++)
        st = fr_secagg_server_add_shares(sv, r->shares[u].data, r->shares[u].size, err);
    msgpack_sbuffer_clear(&sb);
    if (st == FR_OK && want >= FR_SECAGG_SV_MASKED)
        st = fr_secagg_server_shares_for(sv, 1, &sb, err);
    for (int u = 1; st == FR_OK && want >= FR_SECAGG_SV_CHECK && u <= SA_N; u++)
        st = fr_secagg_server_add_masked_input(sv, r->masked[u].data, r->masked[u].size, err);
    msgpack_sbuffer_clear(&sb);
    if (st == FR_OK && want >= FR_SECAGG_SV_CHECK)
        st = fr_secagg_server_check_request(sv, &sb, err);
    for (int u = 1; st == FR_OK && want >= FR_SECAGG_SV_UNMASK && u <= SA_N; u++)
        st = fr_secagg_server_add_check(sv, r->sig[u].data, r->sig[u].size, err);
    msgpack_sbuffer_clear(&sb);
    if (st == FR_OK && want >= FR_SECAGG_SV_UNMASK)
        st = fr_secagg_server_unmask_request(sv, &sb, err);
    msgpack_sbuffer_destroy(&sb);
    return st;
}

/* The whole honest round, recorded in r; FR_OK only if it gives the plain sum. */
static inline fr_status sa_round_record(sa_round *r, fr_err *err)
{
    memset(r, 0, sizeof *r);
    r->p = (fr_secagg_params){.round = SA_ROUND, .n = SA_N, .t = SA_T, .m = SA_M};
    for (int u = 0; u <= SA_N; u++) {
        msgpack_sbuffer_init(&r->adv[u]);
        msgpack_sbuffer_init(&r->shares[u]);
        msgpack_sbuffer_init(&r->relay[u]);
        msgpack_sbuffer_init(&r->masked[u]);
        msgpack_sbuffer_init(&r->sig[u]);
        msgpack_sbuffer_init(&r->resp[u]);
    }
    msgpack_sbuffer_init(&r->list);
    msgpack_sbuffer_init(&r->check);
    msgpack_sbuffer_init(&r->req);
    for (int u = 1; u <= SA_N; u++) {
        uint8_t seed[crypto_sign_SEEDBYTES] = {(uint8_t)u, 0x7e};
        crypto_sign_seed_keypair(r->pks + (size_t)(u - 1) * 32, r->sks + (size_t)(u - 1) * 64,
                                 seed);
        for (int i = 0; i < SA_M; i++) {
            r->x[u][i] = 0x01000193u * (uint32_t)(u * SA_M + i) ^ 0x9e3779b9u;
            r->sum[i] += r->x[u][i];
        }
    }
    fr_secagg_client cl[SA_N + 1];
    fr_secagg_server sv;
    memset(cl, 0, sizeof cl);
    memset(&sv, 0, sizeof sv);
    uint32_t sum[SA_M];
    int k = 0;
    fr_status st = fr_secagg_server_init(&sv, &r->p, r->pks, err);
    for (int u = 1; st == FR_OK && u <= SA_N; u++) {
        sa_rng_reset(u);
        st = fr_secagg_client_init(&cl[u], &r->p, u, r->sks + (size_t)(u - 1) * 64, r->pks, err);
        if (st == FR_OK)
            st = fr_secagg_client_advertise(&cl[u], &r->adv[u], err);
        sa_party = 0;
        if (st == FR_OK)
            st = fr_secagg_server_add_advertise(&sv, r->adv[u].data, r->adv[u].size, err);
    }
    if (st == FR_OK)
        st = fr_secagg_server_advertise_list(&sv, &r->list, err);
    for (int u = 1; st == FR_OK && u <= SA_N; u++) {
        sa_party = u;
        st = fr_secagg_client_share(&cl[u], r->list.data, r->list.size, &r->shares[u], err);
        sa_party = 0;
        if (st == FR_OK)
            st = fr_secagg_server_add_shares(&sv, r->shares[u].data, r->shares[u].size, err);
    }
    for (int u = 1; st == FR_OK && u <= SA_N; u++) {
        st = fr_secagg_server_shares_for(&sv, u, &r->relay[u], err);
        sa_party = u;
        if (st == FR_OK)
            st = fr_secagg_client_masked_input(&cl[u], r->relay[u].data, r->relay[u].size, r->x[u],
                                               &r->masked[u], err);
        sa_party = 0;
        if (st == FR_OK)
            st = fr_secagg_server_add_masked_input(&sv, r->masked[u].data, r->masked[u].size, err);
    }
    if (st == FR_OK)
        st = fr_secagg_server_check_request(&sv, &r->check, err);
    for (int u = 1; st == FR_OK && u <= SA_N; u++) {
        sa_party = u;
        st = fr_secagg_client_check(&cl[u], r->check.data, r->check.size, &r->sig[u], err);
        sa_party = 0;
        if (st == FR_OK)
            st = fr_secagg_server_add_check(&sv, r->sig[u].data, r->sig[u].size, err);
    }
    if (st == FR_OK)
        st = fr_secagg_server_unmask_request(&sv, &r->req, err);
    for (int u = 1; st == FR_OK && u <= SA_N; u++) {
        sa_party = u;
        st = fr_secagg_client_unmask(&cl[u], r->req.data, r->req.size, &r->resp[u], err);
        sa_party = 0;
        if (st == FR_OK)
            st = fr_secagg_server_add_unmask_response(&sv, r->resp[u].data, r->resp[u].size, err);
    }
    if (st == FR_OK)
        st = fr_secagg_server_finish(&sv, sum, &k, err);
    if (st == FR_OK && (k != SA_N || memcmp(sum, r->sum, sizeof sum)))
        st = fr_fail(err, FR_EINVAL, "the fixed round's sum is wrong");
    for (int u = 1; u <= SA_N; u++)
        fr_secagg_client_free(&cl[u]);
    fr_secagg_server_free(&sv);
    return st;
}

#endif
