/* What secure aggregation (common/secagg/fr_secagg*.c) costs a node and the coordinator in one
 * round, in process, for a model of --params float32 parameters:
 *   mask     fr_secagg_mask_add on one thread, in output bytes per second, beside the
 *            bare ChaCha20 keystream and memcpy of the same bytes;
 *   rounds   whole rounds of n = 3, 10, 50 nodes (t the smallest above 2n/3, the
 *            nodes' floor), and of 10 nodes of which 3 drop after the shares step. Each
 *            node's CPU time per step (advertise, share, masked input = encode +
 *            masking, consistency check, unmask), the median over nodes and
 *            rounds; the coordinator's time per step, the median over rounds; the bytes
 *            each node sends and receives beyond its plain update (4m bytes). Every
 *            round's sum is checked against the plain sum of the survivors' inputs;
 *   loopback the round trip of a small request and the bulk rate of TCP over loopback
 *            (a forked peer), to turn the extra messages into an estimate of their time.
 * Prints Markdown tables, then one JSON line.
 * Usage: secagg_bench [--params M] [--repeats R] [--big-repeats R50] */
#include <arpa/inet.h>
#include <math.h>
#include <msgpack.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/fr_rng.h"
#include "secagg/fr_secagg.h"

static double clock_s(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
/* The process is single-threaded (libsodium starts no threads), so its CPU time is the
 * work of the call being measured. */
static double cpu_s(void)
{
    return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}
static double wall_s(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    if (n <= 0)
        return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void die(const char *what, const fr_err *err)
{
    fprintf(stderr, "secagg_bench: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
    exit(1);
}

/* ---- the masks ---- */

typedef struct mask_rates {
    double mask_gb_s, stream_gb_s, copy_gb_s;
} mask_rates;

static mask_rates mask_rate(uint32_t m, int reps)
{
    uint32_t *y = calloc(m, sizeof *y), *z = calloc(m, sizeof *z);
    double *t_mask = calloc((size_t)reps, sizeof(double));
    double *t_stream = calloc((size_t)reps, sizeof(double));
    double *t_copy = calloc((size_t)reps, sizeof(double));
    if (!y || !z || !t_mask || !t_stream || !t_copy)
        die("out of memory for the mask buffers", NULL);
    uint8_t seed[FR_SECAGG_KEY_BYTES], nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {0};
    randombytes_buf(seed, sizeof seed);
    fr_secagg_mask_add(y, m, seed, FR_SECAGG_PRG_PAIR, 1, 0); /* every page touched */
    for (int r = 0; r < reps; r++) {
        double t0 = wall_s();
        fr_secagg_mask_add(y, m, seed, FR_SECAGG_PRG_PAIR, (uint32_t)r, r & 1);
        t_mask[r] = wall_s() - t0;
        t0 = wall_s();
        crypto_stream_chacha20_ietf((uint8_t *)z, 4 * (size_t)m, nonce, seed);
        t_stream[r] = wall_s() - t0;
        t0 = wall_s();
        memcpy(z, y, 4 * (size_t)m);
        t_copy[r] = wall_s() - t0;
    }
    double bytes = 4.0 * m;
    mask_rates mr = {bytes / median(t_mask, reps) / 1e9, bytes / median(t_stream, reps) / 1e9,
                     bytes / median(t_copy, reps) / 1e9};
    volatile uint32_t sink = y[m / 2] ^ z[m / 3];
    (void)sink;
    free(y);
    free(z);
    free(t_mask);
    free(t_stream);
    free(t_copy);
    return mr;
}

/* ---- whole rounds ---- */

enum { ST_ADV, ST_SHARE, ST_ENCODE, ST_MASK, ST_CHECK, ST_UNMASK, NODE_STEPS };
enum {
    CO_ADV,
    CO_LIST,
    CO_SHARES,
    CO_RELAY,
    CO_ADD,
    CO_CHECK_REQ,
    CO_CHECK_ADD,
    CO_REQ,
    CO_RESP,
    CO_FINISH,
    COORD_STEPS
};
static const char *const coord_names[COORD_STEPS] = {"add advertisements (verify)",
                                                     "advert list",
                                                     "add shares",
                                                     "relays (one per node)",
                                                     "add masked inputs",
                                                     "consistency check: U3",
                                                     "add U3 signatures (verify)",
                                                     "unmask request",
                                                     "add unmask responses",
                                                     "finish (unmask)"};

typedef struct bench_case {
    int n, t, dropped; /* dropped: the last nodes, after the shares step */
    int reps;
    /* results */
    double node[NODE_STEPS]; /* median CPU seconds per node */
    double coord[COORD_STEPS];
    double coord_total;
    /* bytes at node 1 (ids below 128 are one byte in msgpack: the same at every node) */
    size_t b_adv, b_list, b_shares, b_relay, b_masked, b_check_req, b_check, b_req, b_resp;
} bench_case;

/* Node v's identity key pair: fixed, as a node's long-term key is. */
static void identity(int v, uint8_t pk[32], uint8_t sk[64])
{
    uint8_t seed[crypto_sign_SEEDBYTES] = {(uint8_t)v, 0x5b};
    crypto_sign_seed_keypair(pk, sk, seed);
}

/* A node's update: small random floats of norm about 0.5 (the clip is 1). */
static void update(float *v, uint32_t m, uint64_t seed)
{
    fr_rng rng;
    fr_rng_seed(&rng, seed);
    const double a = 0.5 * 1.7320508 / sqrt((double)m); /* uniform in [-a, a] */
    for (uint32_t i = 0; i < m; i++)
        v[i] = (float)((2 * fr_rng_uniform(&rng) - 1) * a);
}

static void add_sample(double *s, int *k, double v)
{
    s[(*k)++] = v;
}

/* One round; appends each node's step times to node_s[step] and adds the coordinator's
 * time per step to coord (seconds). */
static void one_round(bench_case *c, uint32_t m, uint32_t round, const uint8_t *pks,
                      const uint8_t *sks, const float *v, double **node_s, int *node_k,
                      double *coord)
{
    const int n = c->n;
    fr_err err = {{0}};
    fr_secagg_params p = {.round = round, .n = n, .t = c->t, .m = m};
    fr_secagg_client *cl = calloc((size_t)n + 1, sizeof *cl);
    fr_secagg_server sv;
    uint32_t *x = malloc((size_t)m * sizeof *x), *want = calloc(m, sizeof *want);
    uint32_t *sum = malloc((size_t)m * sizeof *sum);
    if (!cl || !x || !want || !sum)
        die("out of memory for a round", NULL);
    msgpack_sbuffer sb, list, relay, req;
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_init(&list);
    msgpack_sbuffer_init(&relay);
    msgpack_sbuffer_init(&req);
    double scale;
    if (fr_secagg_encode_scale(n, 1.0, &scale, &err) != FR_OK)
        die("scale", &err);
    for (int u = 1; u <= n; u++)
        if (fr_secagg_client_init(&cl[u], &p, u, sks + (size_t)(u - 1) * 64, pks, &err) != FR_OK)
            die("client init", &err);
    if (fr_secagg_server_init(&sv, &p, pks, &err) != FR_OK)
        die("server init", &err);
    const int last = n - c->dropped; /* nodes last+1..n drop after sharing */
    double t0;

    for (int u = 1; u <= n; u++) {
        msgpack_sbuffer_clear(&sb);
        t0 = cpu_s();
        if (fr_secagg_client_advertise(&cl[u], &sb, &err) != FR_OK)
            die("advertise", &err);
        add_sample(node_s[ST_ADV], &node_k[ST_ADV], cpu_s() - t0);
        if (u == 1)
            c->b_adv = sb.size;
        t0 = cpu_s();
        if (fr_secagg_server_add_advertise(&sv, sb.data, sb.size, &err) != FR_OK)
            die("add advertise", &err);
        coord[CO_ADV] += cpu_s() - t0;
    }
    t0 = cpu_s();
    if (fr_secagg_server_advertise_list(&sv, &list, &err) != FR_OK)
        die("advert list", &err);
    coord[CO_LIST] += cpu_s() - t0;
    c->b_list = list.size;

    for (int u = 1; u <= n; u++) {
        msgpack_sbuffer_clear(&sb);
        t0 = cpu_s();
        if (fr_secagg_client_share(&cl[u], list.data, list.size, &sb, &err) != FR_OK)
            die("share", &err);
        add_sample(node_s[ST_SHARE], &node_k[ST_SHARE], cpu_s() - t0);
        if (u == 1)
            c->b_shares = sb.size;
        t0 = cpu_s();
        if (fr_secagg_server_add_shares(&sv, sb.data, sb.size, &err) != FR_OK)
            die("add shares", &err);
        coord[CO_SHARES] += cpu_s() - t0;
    }

    for (int u = 1; u <= n; u++) {
        msgpack_sbuffer_clear(&relay);
        t0 = cpu_s();
        if (fr_secagg_server_shares_for(&sv, u, &relay, &err) != FR_OK)
            die("relay", &err);
        coord[CO_RELAY] += cpu_s() - t0;
        if (u == 1)
            c->b_relay = relay.size;
        if (u > last)
            continue; /* gone before its masked input */
        t0 = cpu_s();
        if (fr_secagg_encode(v + (size_t)(u % 4) * m, m, 1.0, scale, x, NULL, &err) != FR_OK)
            die("encode", &err);
        double t1 = cpu_s();
        msgpack_sbuffer_clear(&sb);
        if (fr_secagg_client_masked_input(&cl[u], relay.data, relay.size, x, &sb, &err) != FR_OK)
            die("masked input", &err);
        double t2 = cpu_s();
        add_sample(node_s[ST_ENCODE], &node_k[ST_ENCODE], t1 - t0);
        add_sample(node_s[ST_MASK], &node_k[ST_MASK], t2 - t1);
        if (u == 1)
            c->b_masked = sb.size;
        for (uint32_t i = 0; i < m; i++)
            want[i] += x[i];
        t0 = cpu_s();
        if (fr_secagg_server_add_masked_input(&sv, sb.data, sb.size, &err) != FR_OK)
            die("add masked input", &err);
        coord[CO_ADD] += cpu_s() - t0;
    }
    /* the consistency check: U3 to every survivor, each signs it */
    t0 = cpu_s();
    if (fr_secagg_server_check_request(&sv, &req, &err) != FR_OK)
        die("check request", &err);
    coord[CO_CHECK_REQ] += cpu_s() - t0;
    c->b_check_req = req.size;
    for (int u = 1; u <= last; u++) {
        msgpack_sbuffer_clear(&sb);
        t0 = cpu_s();
        if (fr_secagg_client_check(&cl[u], req.data, req.size, &sb, &err) != FR_OK)
            die("check", &err);
        add_sample(node_s[ST_CHECK], &node_k[ST_CHECK], cpu_s() - t0);
        if (u == 1)
            c->b_check = sb.size;
        t0 = cpu_s();
        if (fr_secagg_server_add_check(&sv, sb.data, sb.size, &err) != FR_OK)
            die("add check", &err);
        coord[CO_CHECK_ADD] += cpu_s() - t0;
    }
    msgpack_sbuffer_clear(&req);
    t0 = cpu_s();
    if (fr_secagg_server_unmask_request(&sv, &req, &err) != FR_OK)
        die("unmask request", &err);
    coord[CO_REQ] += cpu_s() - t0;
    c->b_req = req.size;

    for (int u = 1; u <= last; u++) {
        msgpack_sbuffer_clear(&sb);
        t0 = cpu_s();
        if (fr_secagg_client_unmask(&cl[u], req.data, req.size, &sb, &err) != FR_OK)
            die("unmask", &err);
        add_sample(node_s[ST_UNMASK], &node_k[ST_UNMASK], cpu_s() - t0);
        if (u == 1)
            c->b_resp = sb.size;
        t0 = cpu_s();
        if (fr_secagg_server_add_unmask_response(&sv, sb.data, sb.size, &err) != FR_OK)
            die("add unmask response", &err);
        coord[CO_RESP] += cpu_s() - t0;
    }
    int contributors = 0;
    t0 = cpu_s();
    if (fr_secagg_server_finish(&sv, sum, &contributors, &err) != FR_OK)
        die("finish", &err);
    coord[CO_FINISH] += cpu_s() - t0;
    /* a benchmark of a protocol that gets the sum wrong would measure nothing */
    if (contributors != last || memcmp(sum, want, (size_t)m * sizeof *sum) != 0) {
        fprintf(stderr, "secagg_bench: n = %d: the round's sum is wrong\n", n);
        exit(1);
    }
    for (int u = 1; u <= n; u++)
        fr_secagg_client_free(&cl[u]);
    fr_secagg_server_free(&sv);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&list);
    msgpack_sbuffer_destroy(&relay);
    msgpack_sbuffer_destroy(&req);
    free(cl);
    free(x);
    free(want);
    free(sum);
}

static void run_case(bench_case *c, uint32_t m, const float *v)
{
    const int n = c->n, cap = c->reps * n;
    uint8_t *pks = malloc((size_t)n * 32), *sks = malloc((size_t)n * 64);
    double *node_s[NODE_STEPS], *coord_s[COORD_STEPS],
        *total_s = calloc((size_t)c->reps, sizeof(double));
    int node_k[NODE_STEPS] = {0};
    if (!pks || !sks || !total_s)
        die("out of memory for a case", NULL);
    for (int s = 0; s < NODE_STEPS; s++)
        if (!(node_s[s] = calloc((size_t)cap, sizeof(double))))
            die("out of memory for a case", NULL);
    for (int s = 0; s < COORD_STEPS; s++)
        if (!(coord_s[s] = calloc((size_t)c->reps, sizeof(double))))
            die("out of memory for a case", NULL);
    for (int u = 1; u <= n; u++)
        identity(u, pks + (size_t)(u - 1) * 32, sks + (size_t)(u - 1) * 64);
    for (int r = 0; r < c->reps; r++) {
        double coord[COORD_STEPS] = {0};
        one_round(c, m, (uint32_t)(100 + r), pks, sks, v, node_s, node_k, coord);
        for (int s = 0; s < COORD_STEPS; s++) {
            coord_s[s][r] = coord[s];
            total_s[r] += coord[s];
        }
    }
    for (int s = 0; s < NODE_STEPS; s++)
        c->node[s] = median(node_s[s], node_k[s]);
    for (int s = 0; s < COORD_STEPS; s++)
        c->coord[s] = median(coord_s[s], c->reps);
    c->coord_total = median(total_s, c->reps);
    for (int s = 0; s < NODE_STEPS; s++)
        free(node_s[s]);
    for (int s = 0; s < COORD_STEPS; s++)
        free(coord_s[s]);
    free(total_s);
    free(pks);
    free(sks);
}

/* What a node sends and receives beyond its plain update of 4m bytes. */
static size_t extra_bytes(const bench_case *c, uint32_t m)
{
    return c->b_adv + c->b_list + c->b_shares + c->b_relay + (c->b_masked - 4 * (size_t)m) +
           c->b_check_req + c->b_check + c->b_req + c->b_resp;
}

/* ---- loopback ---- */

typedef struct loopback {
    double rtt_s, rate_gb_s;
} loopback;

#define PINGS 400
#define BULK (64u << 20)

static int full_io(int fd, void *buf, size_t len, int writing)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t k = writing ? write(fd, p, len) : read(fd, p, len);
        if (k <= 0)
            return -1;
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

/* The peer: answers each 64-byte request with 64 bytes, then reads BULK bytes and says
 * so with one byte. */
static void peer(int fd)
{
    uint8_t *buf = malloc(1 << 20), msg[64];
    if (!buf)
        _exit(1);
    for (int i = 0; i < PINGS; i++)
        if (full_io(fd, msg, sizeof msg, 0) || full_io(fd, msg, sizeof msg, 1))
            _exit(1);
    for (size_t got = 0; got < BULK; got += 1 << 20)
        if (full_io(fd, buf, 1 << 20, 0))
            _exit(1);
    if (full_io(fd, msg, 1, 1))
        _exit(1);
    _exit(0);
}

/* Loopback TCP, no TLS: the floor under what the extra messages cost on one machine.
 * Zeroes when a socket cannot be had. */
static loopback loopback_rate(void)
{
    loopback lb = {0, 0};
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    int one = 1, conn = -1, ls = socket(AF_INET, SOCK_STREAM, 0);
    uint8_t *buf = malloc(1 << 20), msg[64] = {0};
    double *rtt = calloc(PINGS, sizeof(double));
    pid_t child = -1;
    if (ls < 0 || !buf || !rtt || bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 1) ||
        getsockname(ls, (struct sockaddr *)&a, &alen))
        goto out;
    child = fork();
    if (child == 0) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a))
            _exit(1);
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        peer(c);
    }
    if (child < 0 || (conn = accept(ls, NULL, NULL)) < 0)
        goto out;
    setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (int i = 0; i < PINGS; i++) {
        double t0 = wall_s();
        if (full_io(conn, msg, sizeof msg, 1) || full_io(conn, msg, sizeof msg, 0))
            goto out;
        rtt[i] = wall_s() - t0;
    }
    memset(buf, 0x5a, 1 << 20);
    double t0 = wall_s();
    for (size_t sent = 0; sent < BULK; sent += 1 << 20)
        if (full_io(conn, buf, 1 << 20, 1))
            goto out;
    if (full_io(conn, msg, 1, 0))
        goto out;
    lb.rate_gb_s = BULK / (wall_s() - t0) / 1e9;
    lb.rtt_s = median(rtt, PINGS);
out:
    if (conn >= 0)
        close(conn);
    if (ls >= 0)
        close(ls);
    if (child > 0) {
        if (lb.rate_gb_s == 0)
            kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    free(buf);
    free(rtt);
    return lb;
}

/* ---- report ---- */

static void usage(void)
{
    fprintf(stderr, "usage: secagg_bench [--params M] [--repeats R] [--big-repeats R50]\n");
}

int main(int argc, char **argv)
{
    long params = 1000000, reps = 5, big_reps = 3;
    for (int i = 1; i < argc; i++) {
        long *opt = NULL;
        if (i + 1 < argc && !strcmp(argv[i], "--params"))
            opt = &params;
        else if (i + 1 < argc && !strcmp(argv[i], "--repeats"))
            opt = &reps;
        else if (i + 1 < argc && !strcmp(argv[i], "--big-repeats"))
            opt = &big_reps;
        char *end = NULL;
        if (opt)
            *opt = strtol(argv[++i], &end, 10);
        if (!opt || *end) {
            usage();
            return 2;
        }
    }
    if (params < 1 || params > (long)FR_SECAGG_MAX_M || reps < 1 || reps > 101 || big_reps < 1 ||
        big_reps > 101) {
        usage();
        return 2;
    }
    if (sodium_init() < 0)
        die("libsodium failed to initialise", NULL);
    const uint32_t m = (uint32_t)params;
    mask_rates mr = mask_rate(m, (int)(reps * 4 + 1));

    /* four distinct updates, node u sending update u mod 4 */
    float *v = malloc(4 * (size_t)m * sizeof *v);
    if (!v)
        die("out of memory for the updates", NULL);
    for (int k = 0; k < 4; k++)
        update(v + (size_t)k * m, m, 11 + (uint64_t)k);
    bench_case cases[] = {
        {.n = 3, .t = 3, .reps = (int)reps},
        {.n = 10, .t = 7, .reps = (int)reps},
        {.n = 50, .t = 34, .reps = (int)big_reps},
        {.n = 10, .t = 7, .dropped = 3, .reps = (int)reps},
    };
    const int ncases = (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < ncases; i++)
        run_case(&cases[i], m, v);
    free(v);
    loopback lb = loopback_rate();

    printf("%u parameters (float32, %zu bytes as a plain update); one thread\n\n", m,
           4 * (size_t)m);
    printf("| mask expansion | rate |\n|---|---|\n");
    printf("| fr_secagg_mask_add (output bytes) | **%.2f GB/s** (%.2f ms per mask) |\n",
           mr.mask_gb_s, 4e-6 * m / mr.mask_gb_s);
    printf("| ChaCha20 keystream alone | %.2f GB/s |\n| memcpy | %.2f GB/s |\n\n", mr.stream_gb_s,
           mr.copy_gb_s);

    printf("Per node and round, CPU time (median over nodes and rounds):\n\n");
    printf("| n | t | dropped | rounds | advertise | share | masked input: encode | "
           "masking | consistency check | unmask | **node total** |\n"
           "|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < ncases; i++) {
        const bench_case *c = &cases[i];
        double tot = 0;
        for (int s = 0; s < NODE_STEPS; s++)
            tot += c->node[s];
        printf("| %d | %d | %d | %d | %.3f ms | %.2f ms | %.2f ms | %.2f ms | %.3f ms | %.3f ms | "
               "**%.1f ms** |\n",
               c->n, c->t, c->dropped, c->reps, 1e3 * c->node[ST_ADV], 1e3 * c->node[ST_SHARE],
               1e3 * c->node[ST_ENCODE], 1e3 * c->node[ST_MASK], 1e3 * c->node[ST_CHECK],
               1e3 * c->node[ST_UNMASK], 1e3 * tot);
    }
    printf("\nPer node and round, bytes beyond the plain update (node 1):\n\n");
    printf("| n | dropped | advertise | advert list | shares | relay | masked - 4m | U3 | "
           "U3 signature | unmask request | unmask response | **extra** | extra / 4m |\n"
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < ncases; i++) {
        const bench_case *c = &cases[i];
        size_t x = extra_bytes(c, m);
        printf("| %d | %d | %zu | %zu | %zu | %zu | %zu | %zu | %zu | %zu | %zu | **%zu** | %.5f "
               "|\n",
               c->n, c->dropped, c->b_adv, c->b_list, c->b_shares, c->b_relay,
               c->b_masked - 4 * (size_t)m, c->b_check_req, c->b_check, c->b_req, c->b_resp, x,
               (double)x / (4.0 * m));
    }
    printf("\nCoordinator, CPU time per round (median over rounds):\n\n| step |");
    for (int i = 0; i < ncases; i++)
        if (cases[i].dropped)
            printf(" n = %d, %d dropped |", cases[i].n, cases[i].dropped);
        else
            printf(" n = %d |", cases[i].n);
    printf("\n|---|");
    for (int i = 0; i < ncases; i++)
        printf("---|");
    printf("\n");
    for (int s = 0; s < COORD_STEPS; s++) {
        printf("| %s |", coord_names[s]);
        for (int i = 0; i < ncases; i++)
            printf(" %.3f ms |", 1e3 * cases[i].coord[s]);
        printf("\n");
    }
    printf("| **total** |");
    for (int i = 0; i < ncases; i++)
        printf(" **%.1f ms** |", 1e3 * cases[i].coord_total);
    printf("\n\n");

    /* n = 10: what secure aggregation adds to a round's wall time when the nodes work at
     * once (one node's steps), the coordinator in turn, and the four extra exchanges of
     * messages (advertise/list, shares/relay, U3/signature, unmask request/response) on
     * loopback */
    const bench_case *ten = &cases[1];
    double node10 = 0, net10 = 0;
    for (int s = 0; s < NODE_STEPS; s++)
        node10 += ten->node[s];
    if (lb.rate_gb_s > 0)
        net10 = 4 * lb.rtt_s + (double)extra_bytes(ten, m) / (lb.rate_gb_s * 1e9);
    /* the consistency check's share of it: the node's signing and its checks of t
     * signatures (inside unmask, counted whole), the coordinator's two steps, the
     * larger request and one more exchange */
    double check10 = ten->node[ST_CHECK] + ten->node[ST_UNMASK] + ten->coord[CO_CHECK_REQ] +
                     ten->coord[CO_CHECK_ADD] + ten->coord[CO_REQ];
    if (lb.rate_gb_s > 0)
        check10 += lb.rtt_s +
                   (double)(ten->b_check_req + ten->b_check + ten->b_req) / (lb.rate_gb_s * 1e9);
    printf("Loopback TCP: round trip %.1f us, bulk %.2f GB/s%s\n", 1e6 * lb.rtt_s, lb.rate_gb_s,
           lb.rate_gb_s > 0 ? "" : " (not measured)");
    const double added10 = node10 + ten->coord_total + net10;
    printf("n = 10, added per round: node %.1f ms + coordinator %.1f ms + 4 exchanges %.2f ms "
           "= **%.1f ms**\n",
           1e3 * node10, 1e3 * ten->coord_total, 1e3 * net10, 1e3 * added10);
    printf("n = 10, of which the consistency check: **%.2f ms** (%.1f%% of what secure "
           "aggregation adds)\n",
           1e3 * check10, 100 * check10 / added10);

    printf("\n{\"params\": %u, \"repeats\": %ld, \"big_repeats\": %ld, \"mask_gb_s\": %.3f, "
           "\"chacha20_gb_s\": %.3f, \"memcpy_gb_s\": %.3f, \"loopback_rtt_s\": %.6f, "
           "\"loopback_gb_s\": %.3f, \"n10_added_s\": %.6f, \"n10_check_s\": %.6f, "
           "\"cases\": [",
           m, reps, big_reps, mr.mask_gb_s, mr.stream_gb_s, mr.copy_gb_s, lb.rtt_s, lb.rate_gb_s,
           added10, check10);
    for (int i = 0; i < ncases; i++) {
        const bench_case *c = &cases[i];
        printf("%s{\"n\": %d, \"t\": %d, \"dropped\": %d, \"rounds\": %d, \"node_advertise_s\": "
               "%.6f, \"node_share_s\": %.6f, \"node_encode_s\": %.6f, \"node_mask_s\": %.6f, "
               "\"node_check_s\": %.6f, \"node_unmask_s\": %.6f, \"extra_bytes\": %zu, "
               "\"coord_add_s\": %.6f, \"coord_check_s\": %.6f, \"coord_finish_s\": %.6f, "
               "\"coord_total_s\": %.6f}",
               i ? ", " : "", c->n, c->t, c->dropped, c->reps, c->node[ST_ADV], c->node[ST_SHARE],
               c->node[ST_ENCODE], c->node[ST_MASK], c->node[ST_CHECK], c->node[ST_UNMASK],
               extra_bytes(c, m), c->coord[CO_ADD], c->coord[CO_CHECK_REQ] + c->coord[CO_CHECK_ADD],
               c->coord[CO_FINISH], c->coord_total);
    }
    printf("]}\n");
    return 0;
}
