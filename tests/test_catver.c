/* Tests of catalogue versions (fed/fr_catver.h, docs/catalogue.md): model files that
 * carry a catalogue (format version 3) and those that do not (still version 2), items
 * added from an item file and retired, each refusal and its reason, the rules of one
 * version following another, a model grown onto a new version (old rows kept, new ID
 * rows zero), the catalogue file's round trip and its signature; reclaiming retired
 * rows: the rule, the reuse records through the catalogue and model files, and a
 * node's refusal of a row that changes item without them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/fr_backend.h"
#include "data/fr_items.h"
#include "fed/fr_catver.h"
#include "fed/fr_proposals.h"
#include "fed/fr_proto.h"
#include "fed/fr_sign.h"
#include "nn/fr_model.h"
#include "nn/fr_modelfile.h"
#include "fr_test.h"
#include "fr_test_files.h"
#include "fr_test_fixture.h"

#define T 4
#define VT 4096

/* A model of the items of movies.csv text, its parameters from seed. */
static int model_from(const char *movies, fr_model *m, char *dir, size_t cap)
{
    fr_err err = {{0}};
    fr_items it = {0};
    if (!fixture_dir(dir, cap) || !fixture_text(dir, "movies.csv", movies))
        return 0;
    if (fr_items_load(&it, dir, "movielens-csv", T, VT, &err) != FR_OK) {
        fprintf(stderr, "  %s\n", err.msg);
        return 0;
    }
    fr_model_config mc = {
        .num_items = it.num_items, .token_vocab = VT, .num_tokens = T, .dim = 8, .filters = 4};
    fr_status st = fr_model_init(m, &mc, fr_backend_cpu(), it.tokens, it.item_ids, &err);
    fr_items_free(&it);
    if (st == FR_OK)
        fr_model_init_params(m, 7);
    return st == FR_OK;
}

static const char *base_movies = "movieId,title,genres\n1,Alpha (1990),Drama\n"
                                 "2,Beta (1991),Comedy\n3,Gamma (1992),Action|Drama\n";

static int items_of(const char *dir, const char *text, fr_items *it)
{
    fr_err err = {{0}};
    return fixture_text(dir, "movies.csv", text) &&
           fr_items_load(it, dir, "movielens-csv", T, VT, &err) == FR_OK;
}

static void test_modelfile_versions(void)
{
    char dir[64], path[128];
    fr_model m = {0}, back = {0};
    fr_err err = {{0}};
    CHECK(model_from(base_movies, &m, dir, sizeof dir), "model");
    snprintf(path, sizeof path, "%s/m.frm", dir);
    CHECK(fr_modelfile_save(&m, path, 0, &err) == FR_OK, "%s", err.msg);
    size_t len = 0;
    uint8_t *b = read_all(path, &len);
    CHECK(b && len > 12 && b[8] == 2, "a model without a catalogue is still format version 2");
    free(b);
    m.catalogue_version = 4;
    m.item_retired = calloc((size_t)m.cfg.num_items, 1);
    m.item_retired[2] = 1;
    CHECK(fr_modelfile_save(&m, path, 0, &err) == FR_OK, "%s", err.msg);
    b = read_all(path, &len);
    CHECK(b && len > 12 && b[8] == 3, "a model with a catalogue is format version 3");
    CHECK(fr_modelfile_load(&back, fr_backend_cpu(), path, &err) == FR_OK, "%s", err.msg);
    CHECK(back.catalogue_version == 4, "catalogue version %ld", back.catalogue_version);
    CHECK(fr_model_retired(&back, 2) && !fr_model_retired(&back, 1) && !fr_model_retired(&back, 3),
          "retired flags kept");
    /* the header and the body must agree: a version 3 body is not read as version 2 */
    if (b && len > 12) {
        b[8] = 2;
        fr_model old = {0};
        CHECK(fr_modelfile_decode(&old, fr_backend_cpu(), b, len, "v2", &err) == FR_EFORMAT,
              "a version 3 body under a version 2 header is refused");
        CHECK(strstr(err.msg, "differs from the header") != NULL, "%s", err.msg);
        fr_model_free(&old);
    }
    free(b);
    fr_model_free(&back);
    fr_model_free(&m);
    fixture_rm(dir);
}

static void test_add_retire(void)
{
    char dir[64], d2[64];
    fr_model m = {0};
    fr_err err = {{0}};
    fr_catver cv = {0};
    fr_items it = {0};
    CHECK(model_from(base_movies, &m, dir, sizeof dir), "model");
    CHECK(fr_catver_from_model(&cv, &m, &err) == FR_OK, "%s", err.msg);
    CHECK(cv.num_items == 4 && cv.numeric && !strcmp(cv.keys[3], "3"), "rows of the model");
    CHECK(fixture_dir(d2, sizeof d2), "dir");
    /* an id already in the catalogue */
    CHECK(items_of(d2, "movieId,title,genres\n10,New (2001),Drama\n2,Beta (1991),Comedy\n", &it),
          "items");
    CHECK(fr_catver_add(&cv, &it, "new", &err) == FR_EINVAL, "duplicate of a catalogue row");
    CHECK(strstr(err.msg, "duplicate id: item '2' is already row 2") != NULL, "%s", err.msg);
    CHECK(cv.num_items == 4, "nothing added");
    fr_items_free(&it);
    /* an id twice in the file */
    CHECK(items_of(d2, "movieId,title,genres\n10,New (2001),Drama\n10,New (2001),Horror\n", &it),
          "items");
    CHECK(fr_catver_add(&cv, &it, "new", &err) == FR_EINVAL, "duplicate in the file");
    CHECK(strstr(err.msg, "duplicate ids") != NULL, "%s", err.msg);
    fr_items_free(&it);
    CHECK(items_of(d2, "movieId,title,genres\n20,Twenty (2001),Drama\n10,Ten (2001),Horror\n", &it),
          "items");
    CHECK(fr_catver_add(&cv, &it, "new", &err) == FR_OK, "%s", err.msg);
    CHECK(cv.num_items == 6 && !strcmp(cv.keys[4], "10") && !strcmp(cv.keys[5], "20"),
          "appended after the old rows, in the file's row order");
    CHECK(!memcmp(cv.tokens + 4 * T, it.tokens + 1 * T, T * sizeof(int32_t)),
          "the new row's tokens are the shared hashing's");
    CHECK(!memcmp(cv.tokens + 1 * T, m.item_tokens + 1 * T, 3 * T * sizeof(int32_t)),
          "old rows unchanged");
    fr_items_free(&it);
    const char *unknown[] = {"1", "99"};
    CHECK(fr_catver_retire(&cv, unknown, 2, &err) == FR_EINVAL, "unknown item");
    CHECK(strstr(err.msg, "'99': it is not in catalogue") != NULL, "%s", err.msg);
    CHECK(!cv.retired[1], "nothing retired on a refusal");
    const char *twice[] = {"1", "1"};
    CHECK(fr_catver_retire(&cv, twice, 2, &err) == FR_EINVAL, "named twice");
    const char *ok[] = {"1", "10"};
    CHECK(fr_catver_retire(&cv, ok, 2, &err) == FR_OK, "%s", err.msg);
    CHECK(cv.retired[1] && cv.retired[4] && fr_catver_live(&cv) == 3, "live %d",
          fr_catver_live(&cv));
    CHECK(fr_catver_retire(&cv, ok, 1, &err) == FR_EINVAL && strstr(err.msg, "already retired"),
          "%s", err.msg);
    /* a retired id cannot come back as a new row */
    CHECK(items_of(d2, "movieId,title,genres\n1,Alpha again (2020),Drama\n", &it), "items");
    CHECK(fr_catver_add(&cv, &it, "new", &err) == FR_EINVAL && strstr(err.msg, "retired"), "%s",
          err.msg);
    fr_items_free(&it);
    fr_catver_free(&cv);
    fr_model_free(&m);
    fixture_rm(dir);
    fixture_rm(d2);
}

/* cv, version v, from m plus one item "k" */
/* Content updates: new token rows for live items, their rows and ID embeddings kept. */
static void test_update(void)
{
    char dir[64], d2[64];
    fr_model m = {0}, out = {0};
    fr_err err = {{0}};
    fr_catver cv = {0};
    fr_items it = {0};
    CHECK(model_from(base_movies, &m, dir, sizeof dir), "model");
    CHECK(fr_catver_from_model(&cv, &m, &err) == FR_OK, "%s", err.msg);
    CHECK(fixture_dir(d2, sizeof d2), "dir");
    CHECK(items_of(d2, "movieId,title,genres\n2,Beta (1991),Horror\n9,Nine (2001),Drama\n", &it),
          "items");
    CHECK(fr_catver_update(&cv, &it, "upd", &err) == FR_EINVAL &&
              strstr(err.msg, "cannot update item '9': it is not in catalogue version 0"),
          "%s", err.msg);
    CHECK(!memcmp(cv.tokens, m.item_tokens, 4 * T * sizeof(int32_t)), "nothing changed");
    fr_items_free(&it);
    CHECK(items_of(d2, "movieId,title,genres\n2,Beta (1991),Horror\n2,Beta (1991),Drama\n", &it),
          "items");
    CHECK(fr_catver_update(&cv, &it, "upd", &err) == FR_EINVAL && strstr(err.msg, "duplicate ids"),
          "%s", err.msg);
    fr_items_free(&it);
    CHECK(items_of(d2, "movieId,title,genres\n2,Beta Reloaded (2021),Horror|Sci-Fi\n", &it),
          "items");
    CHECK(memcmp(it.tokens + 1 * T, m.item_tokens + 2 * T, T * sizeof(int32_t)) != 0,
          "the new content hashes to other tokens");
    CHECK(fr_catver_update(&cv, &it, "upd", &err) == FR_OK, "%s", err.msg);
    CHECK(cv.num_items == 4 && !memcmp(cv.tokens + 2 * T, it.tokens + 1 * T, T * sizeof(int32_t)),
          "row 2 has the new tokens");
    CHECK(!memcmp(cv.tokens + 1 * T, m.item_tokens + 1 * T, T * sizeof(int32_t)) &&
              !memcmp(cv.tokens + 3 * T, m.item_tokens + 3 * T, T * sizeof(int32_t)),
          "other rows unchanged");
    /* the next model: the new tokens, every parameter (E_id included) as it was */
    cv.version = 1;
    CHECK(fr_catver_apply(&cv, &m, &out, &err) == FR_OK, "%s", err.msg);
    if (out.n == m.n) {
        float *a = malloc(m.n * sizeof *a), *b = malloc(m.n * sizeof *b);
        fr_model_get_params(&m, a);
        fr_model_get_params(&out, b);
        CHECK(a && b && !memcmp(a, b, m.n * sizeof *a), "parameters kept");
        free(a);
        free(b);
    } else {
        CHECK(0, "apply changed the shape: %zu vs %zu", (size_t)out.n, (size_t)m.n);
    }
    CHECK(!memcmp(out.item_tokens + 2 * T, it.tokens + 1 * T, T * sizeof(int32_t)),
          "the model carries the new tokens");
    const char *gone[] = {"2"};
    CHECK(fr_catver_retire(&cv, gone, 1, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_catver_update(&cv, &it, "upd", &err) == FR_EINVAL && strstr(err.msg, "retired"), "%s",
          err.msg);
    fr_items_free(&it);
    fr_model_free(&out);
    fr_catver_free(&cv);
    fr_model_free(&m);
    fixture_rm(dir);
    fixture_rm(d2);
}

static void next_of(const fr_model *m, long v, fr_catver *cv, const char *dir)
{
    fr_err err = {{0}};
    fr_items it = {0};
    CHECK(fr_catver_from_model(cv, m, &err) == FR_OK, "%s", err.msg);
    CHECK(items_of(dir, "movieId,title,genres\n40,Forty (2001),Drama\n", &it), "items");
    CHECK(fr_catver_add(cv, &it, "x", &err) == FR_OK, "%s", err.msg);
    cv->version = v;
    fr_items_free(&it);
}

static void test_next_and_apply(void)
{
    char dir[64], d2[64];
    fr_model m = {0}, g = {0}, g2 = {0};
    fr_err err = {{0}};
    fr_catver cur = {0}, nx = {0};
    CHECK(model_from(base_movies, &m, dir, sizeof dir) && fixture_dir(d2, sizeof d2), "model");
    m.catalogue_version = 2;
    CHECK(fr_catver_from_model(&cur, &m, &err) == FR_OK, "%s", err.msg);
    next_of(&m, 3, &nx, d2);
    CHECK(fr_catver_check_next(&cur, &nx, "c", &err) == FR_OK, "%s", err.msg);
    nx.version = 1;
    CHECK(fr_catver_check_next(&cur, &nx, "c", &err) == FR_EINVAL && strstr(err.msg, "rolled back"),
          "%s", err.msg);
    nx.version = 3;
    /* dropping rows is refused, whatever the version */
    int keep = nx.num_items;
    nx.num_items = 3;
    CHECK(fr_catver_check_next(&cur, &nx, "c", &err) == FR_EINVAL && strstr(err.msg, "fewer than"),
          "%s", err.msg);
    nx.num_items = keep;
    char *k2 = nx.keys[2];
    nx.keys[2] = nx.keys[4];
    CHECK(fr_catver_check_next(&cur, &nx, "c", &err) == FR_EINVAL && strstr(err.msg, "renumbers"),
          "%s", err.msg);
    nx.keys[2] = k2;
    cur.retired[3] = 1;
    CHECK(fr_catver_check_next(&cur, &nx, "c", &err) == FR_EINVAL && strstr(err.msg, "brings back"),
          "%s", err.msg);
    nx.retired[3] = 1;
    CHECK(fr_catver_check_next(&cur, &nx, "c", &err) == FR_OK, "%s", err.msg);

    CHECK(fr_catver_apply(&nx, &m, &g, &err) == FR_OK, "%s", err.msg);
    CHECK(g.cfg.num_items == 5 && g.catalogue_version == 3 && fr_model_retired(&g, 3) &&
              g.item_ids[4] == 40,
          "grown model's catalogue");
    float *a = malloc(m.n * sizeof(float)), *b = malloc(g.n * sizeof(float));
    fr_model_get_params(&m, a);
    fr_model_get_params(&g, b);
    int d = m.cfg.dim, same = 1, zero = 1;
    for (int i = 0; i < 4 * d; i++)
        same &= a[m.p[FR_P_E_ID].offset + i] == b[g.p[FR_P_E_ID].offset + i];
    for (int i = 0; i < d; i++)
        zero &= b[g.p[FR_P_E_ID].offset + 4 * d + i] == 0;
    for (int p = 1; p < FR_NPARAMS; p++)
        same &= !memcmp(a + m.p[p].offset, b + g.p[p].offset, m.p[p].size * sizeof(float));
    CHECK(same, "every old parameter kept");
    CHECK(zero, "the new item's ID row starts at zero");
    CHECK(!memcmp(g.item_tokens + 4 * T, nx.tokens + 4 * T, T * sizeof(int32_t)), "new tokens");
    int changed = 0;
    CHECK(fr_catver_check_models(&m, &g, "v", &changed, &err) == FR_OK && changed, "%s", err.msg);
    CHECK(fr_catver_check_models(&g, &m, "v", &changed, &err) == FR_EINVAL && !changed,
          "a node refuses the catalogue going back: %s", err.msg);
    CHECK(fr_catver_check_models(&m, &m, "v", &changed, &err) == FR_OK && !changed, "same");
    free(a);
    free(b);
    fr_model_free(&g);
    fr_model_free(&g2);
    fr_catver_free(&cur);
    fr_catver_free(&nx);
    fr_model_free(&m);
    fixture_rm(dir);
    fixture_rm(d2);
}

static void test_file_and_signature(void)
{
    char dir[64], d2[64];
    fr_model m = {0};
    fr_err err = {{0}};
    fr_catver nx = {0}, back = {0};
    CHECK(model_from(base_movies, &m, dir, sizeof dir) && fixture_dir(d2, sizeof d2), "model");
    next_of(&m, 5, &nx, d2);
    nx.retired[2] = 1;
    nx.retired_in[2] = 5;
    uint8_t *buf = NULL;
    size_t len = 0;
    CHECK(fr_catver_encode(&nx, &buf, &len, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_catver_decode(&back, buf, len, "c", &err) == FR_OK, "%s", err.msg);
    CHECK(back.version == 5 && back.num_items == nx.num_items && back.retired[2] &&
              !strcmp(back.keys[4], "40") && back.numeric &&
              !memcmp(back.tokens, nx.tokens, (size_t)nx.num_items * T * sizeof(int32_t)),
          "round trip");
    fr_catver_free(&back);
    for (size_t cut = 0; cut < len; cut += 7)
        CHECK(fr_catver_decode(&back, buf, cut, "c", &err) == FR_EFORMAT, "truncated at %zu", cut);
    fr_catver_free(&back);
    /* two rows of one item */
    free(nx.keys[4]);
    nx.keys[4] = strdup("3");
    uint8_t *dup = NULL;
    size_t dlen = 0;
    CHECK(fr_catver_encode(&nx, &dup, &dlen, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_catver_decode(&back, dup, dlen, "c", &err) == FR_EFORMAT &&
              strstr(err.msg, "duplicate id"),
          "%s", err.msg);
    free(dup);
    /* the signature: under the catalogue's context only, over version and bytes */
    char sk[128], pk[128];
    snprintf(sk, sizeof sk, "%s/k", dir);
    snprintf(pk, sizeof pk, "%s/k.pub", dir);
    fr_sign_key key = {0};
    uint8_t sig[FR_SIGN_BYTES], msig[FR_SIGN_BYTES];
    CHECK(fr_sign_key_load_or_create(&key, sk, pk, &err) == FR_OK, "%s", err.msg);
    fr_sign_catalogue(&key, 5, buf, len, sig);
    fr_sign_model(&key, 5, buf, len, msig);
    CHECK(fr_sign_verify_catalogue(key.pub, 5, buf, len, sig, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_sign_verify_catalogue(key.pub, 4, buf, len, sig, &err) == FR_EINVAL,
          "another version");
    CHECK(fr_sign_verify_catalogue(key.pub, 5, buf, len, msig, &err) == FR_EINVAL,
          "a model's signature is not a catalogue's");
    CHECK(fr_sign_verify_model(key.pub, 5, buf, len, sig, &err) == FR_EINVAL,
          "a catalogue's signature is not a model's");
    buf[len / 2] ^= 1;
    CHECK(fr_sign_verify_catalogue(key.pub, 5, buf, len, sig, &err) == FR_EINVAL, "tampered");
    fr_sign_key_free(&key);
    free(buf);
    fr_catver_free(&nx);
    fr_model_free(&m);
    fixture_rm(dir);
    fixture_rm(d2);
}

static void test_proposals(void)
{
    fr_unknown u = {0};
    for (int i = 0; i < 7; i++)
        fr_unknown_add(&u, "m77", 3);
    for (int i = 0; i < 3; i++)
        fr_unknown_add(&u, "m3", 2);
    fr_unknown_add(&u, "with space", 10);
    char big[100];
    memset(big, 'x', sizeof big);
    fr_unknown_add(&u, big, sizeof big);
    CHECK(u.used == 3 && u.untracked == 1, "used %ld untracked %ld", u.used, u.untracked);
    char text[FR_PROPOSALS_MAX_BYTES + 1];
    size_t len = fr_proposals_encode(&u, 3, text, sizeof text);
    CHECK(len && !strcmp(text, "m77\t7\nm3\t3\n"), "above the threshold, most first: '%s'", text);
    CHECK(fr_proposals_encode(&u, 8, text, sizeof text) == 0, "none above 8");
    fr_proposal out[FR_PROPOSALS_MAX];
    int n = 0;
    fr_err err = {{0}};
    len = fr_proposals_encode(&u, 1, text, sizeof text);
    CHECK(fr_proposals_parse((const uint8_t *)text, len, out, &n, &err) == FR_OK && n == 2 &&
              !strcmp(out[0].id, "m77") && out[0].count == 7,
          "round trip: %d %s", n, err.msg);
    const char *bad[] = {"m1\t0\n", "m1\t12\n\t3\n", "m1 x\t2\n",
                         "m1\t2",   "m1\t-2\n",      "m1\t99999999999999\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(fr_proposals_parse((const uint8_t *)bad[i], strlen(bad[i]), out, &n, &err) ==
                  FR_EFORMAT,
              "refused: %s", bad[i]);
    /* the join carries them as an optional bin; absent, it decodes as empty */
    fr_proto_join j = {.has_data = 1, .model_version = 3}, back;
    snprintf(j.software, sizeof j.software, "t");
    len = fr_proposals_encode(&u, 1, text, sizeof text);
    j.unknown_items = (fr_proto_bin){(const uint8_t *)text, len};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_proto_join_encode(&j, &sb);
    CHECK(fr_proto_join_decode(sb.data, sb.size, &back, &err) == FR_OK &&
              back.unknown_items.len == len && !memcmp(back.unknown_items.p, text, len),
          "join round trip: %s", err.msg);
    msgpack_sbuffer_destroy(&sb);
    j.unknown_items.len = 0;
    msgpack_sbuffer_init(&sb);
    fr_proto_join_encode(&j, &sb);
    CHECK(fr_proto_join_decode(sb.data, sb.size, &back, &err) == FR_OK &&
              back.unknown_items.len == 0,
          "a join without proposals");
    msgpack_sbuffer_destroy(&sb);
    fr_unknown_free(&u);
}

/* A copy of cv through its file. */
static void copy_of(const fr_catver *cv, fr_catver *out)
{
    fr_err err = {{0}};
    uint8_t *buf = NULL;
    size_t len = 0;
    CHECK(fr_catver_encode(cv, &buf, &len, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_catver_decode(out, buf, len, "copy", &err) == FR_OK, "%s", err.msg);
    free(buf);
}

/* The rule: a row retired in version R is reclaimable once every node has confirmed a
 * version >= R and a round has been aggregated since each confirmation. */
static void test_reclaim_rule(void)
{
    fr_catver_confirm c[2] = {{.version = 3, .round = 5}, {.version = 2, .round = 4}};
    CHECK(fr_catver_confirmed_floor(c, 2, 6) == 2, "the lowest node's version");
    CHECK(fr_catver_confirmed_floor(c, 2, 5) == 0, "round 5 not aggregated yet: nothing safe");
    CHECK(fr_catver_confirmed_floor(c, 1, 6) == 3, "one node");
    CHECK(fr_catver_confirmed_floor(c, 0, 6) == 0, "no node known: nothing safe");
    c[1].version = 0; /* a node of an older build: not known */
    CHECK(fr_catver_confirmed_floor(c, 2, 9) == 0, "a node that confirms nothing blocks all");

    char dir[64];
    fr_model m = {0};
    fr_err err = {{0}};
    fr_catver cv = {0};
    CHECK(model_from(base_movies, &m, dir, sizeof dir), "model");
    CHECK(fr_catver_from_model(&cv, &m, &err) == FR_OK, "%s", err.msg);
    cv.version = 1;
    const char *gone[] = {"2"};
    CHECK(fr_catver_retire(&cv, gone, 1, &err) == FR_OK, "%s", err.msg);
    cv.version = 2;
    CHECK(cv.retired_in[2] == 2 && cv.retired_in[1] == 0, "retired in the version made");
    CHECK(!fr_catver_reclaimable(&cv, 2, 1), "nodes on version 1 may still hold row 2's item");
    CHECK(fr_catver_reclaimable(&cv, 2, 2) && fr_catver_reclaimable(&cv, 2, 7),
          "every node on version 2 or later: reclaimable");
    CHECK(!fr_catver_reclaimable(&cv, 1, 7) && !fr_catver_reclaimable(&cv, 0, 7) &&
              fr_catver_count_reclaimable(&cv, 7) == 1,
          "live rows and padding never are");
    fr_catver_free(&cv);
    fr_model_free(&m);
    fixture_rm(dir);
}

/* Items added into reclaimed rows: refused before every node confirmed, then the rows
 * reused with records that survive the files and that a node checks. */
static void test_reuse_records(void)
{
    char dir[64], d2[64], path[128];
    fr_model m = {0}, g1 = {0}, g2 = {0}, back = {0};
    fr_err err = {{0}};
    fr_catver cv = {0}, early = {0}, nx = {0}, rt = {0}, c1 = {0};
    fr_items it = {0};
    int reused = -1, changed = 0;
    CHECK(model_from(base_movies, &m, dir, sizeof dir) && fixture_dir(d2, sizeof d2), "model");
    CHECK(fr_catver_from_model(&cv, &m, &err) == FR_OK, "%s", err.msg);
    const char *gone[] = {"1", "3"};
    CHECK(fr_catver_retire(&cv, gone, 2, &err) == FR_OK, "%s", err.msg);
    cv.version = 1;
    CHECK(fr_catver_apply(&cv, &m, &g1, &err) == FR_OK, "%s", err.msg);
    CHECK(
        items_of(d2, "movieId,title,genres\n50,Fifty (2020),Drama\n60,Sixty (2021),Comedy\n", &it),
        "items");
    /* before every node confirmed version 1: appended, nothing reclaimed */
    copy_of(&cv, &early);
    CHECK(fr_catver_add_reclaiming(&early, &it, "new", 0, &reused, &err) == FR_OK, "%s", err.msg);
    CHECK(reused == 0 && early.num_items == 6 && early.retired[1] && early.n_reused == 0,
          "no reuse before every node confirmed: %d rows", early.num_items - 1);
    /* every node confirmed version 1: rows 1 and 3, lowest first, take the items */
    copy_of(&cv, &nx);
    CHECK(fr_catver_add_reclaiming(&nx, &it, "new", 1, &reused, &err) == FR_OK, "%s", err.msg);
    nx.version = 2;
    CHECK(reused == 2 && nx.num_items == 4, "two rows reclaimed, the row count unchanged");
    CHECK(!strcmp(nx.keys[1], "50") && !strcmp(nx.keys[3], "60") && !nx.retired[1] &&
              !nx.retired[3] && nx.retired_in[1] == 0,
          "rows 1 and 3 hold the new items, live");
    CHECK(nx.n_reused == 2 && nx.reused[0].row == 1 && !strcmp(nx.reused[0].old_key, "1") &&
              nx.reused[1].row == 3 && !strcmp(nx.reused[1].old_key, "3") &&
              nx.reused[0].version == 2 && fr_catver_reuse_of(&nx, 3) == 1 &&
              fr_catver_reuse_of(&nx, 2) == -1,
          "reuse records name the retired items");
    CHECK(!memcmp(nx.tokens + 1 * T, it.tokens + 1 * T, T * sizeof(int32_t)), "new content");
    fr_items_free(&it);
    /* a reclaimed item does not come back */
    CHECK(items_of(d2, "movieId,title,genres\n3,Gamma again (2022),Drama\n", &it), "items");
    CHECK(fr_catver_add_reclaiming(&nx, &it, "new", 2, &reused, &err) == FR_EINVAL &&
              strstr(err.msg, "row 3 reclaimed in catalogue version 2"),
          "%s", err.msg);
    fr_items_free(&it);
    /* the records through the file, and the file's checks */
    copy_of(&nx, &rt);
    CHECK(rt.n_reused == 2 && !strcmp(rt.reused[1].old_key, "3") && rt.reused[1].version == 2,
          "records kept in the file");
    uint8_t *buf = NULL;
    size_t len = 0;
    free(rt.reused[1].old_key);
    rt.reused[1].old_key = strdup("2"); /* a live item's id */
    CHECK(fr_catver_encode(&rt, &buf, &len, &err) == FR_OK, "%s", err.msg);
    fr_catver_free(&rt);
    CHECK(fr_catver_decode(&rt, buf, len, "c", &err) == FR_EFORMAT && strstr(err.msg, "has a row"),
          "a record naming a live item: %s", err.msg);
    free(buf);
    /* the coordinator's and the node's check */
    CHECK(fr_catver_from_model(&c1, &g1, &err) == FR_OK, "%s", err.msg);
    CHECK(fr_catver_check_next(&c1, &nx, "c", &err) == FR_OK, "%s", err.msg);
    CHECK(fr_catver_apply(&nx, &g1, &g2, &err) == FR_OK, "%s", err.msg);
    float *a = malloc(g1.n * sizeof(float)), *b = malloc(g2.n * sizeof(float));
    fr_model_get_params(&g1, a);
    fr_model_get_params(&g2, b);
    int d = g1.cfg.dim, zero = 1, kept = 1, was = 0;
    for (int i = 0; i < d; i++) {
        zero &= b[g2.p[FR_P_E_ID].offset + 1 * d + i] == 0 &&
                b[g2.p[FR_P_E_ID].offset + 3 * d + i] == 0;
        kept &= b[g2.p[FR_P_E_ID].offset + 2 * d + i] == a[g1.p[FR_P_E_ID].offset + 2 * d + i];
        was |= a[g1.p[FR_P_E_ID].offset + 1 * d + i] != 0;
    }
    CHECK(was && zero && kept, "reclaimed ID rows start at zero, the others are kept");
    float *mom = malloc(g2.n * sizeof(float));
    fr_catver_remap(&g1, &g2, a, mom);
    CHECK(mom[g2.p[FR_P_E_ID].offset + 1 * d] == 0 &&
              mom[g2.p[FR_P_E_ID].offset + 2 * d] == a[g1.p[FR_P_E_ID].offset + 2 * d],
          "optimiser state of a reclaimed row reset");
    snprintf(path, sizeof path, "%s/g2.frm", dir);
    CHECK(fr_modelfile_save(&g2, path, 0, &err) == FR_OK, "%s", err.msg);
    size_t flen = 0;
    uint8_t *img = read_all(path, &flen);
    CHECK(img && flen > 12 && img[8] == 4, "a model with reuse records is format version 4");
    free(img);
    CHECK(fr_modelfile_load(&back, fr_backend_cpu(), path, &err) == FR_OK, "%s", err.msg);
    CHECK(back.n_reused == 2 && back.item_reused[1].row == 3 &&
              !strcmp(back.item_reused[1].old_key, "3") && back.item_ids[3] == 60,
          "the model file keeps the records");
    CHECK(fr_catver_check_models(&g1, &back, "v", &changed, &err) == FR_OK && changed, "%s",
          err.msg);
    int rows[4], n = 0;
    fr_catver_reused_rows(&g1, &back, rows, &n);
    CHECK(n == 2 && rows[0] == 1 && rows[1] == 3, "a node finds the reclaimed rows to reset");
    fr_catver_zero_rows(&g1, rows, n, a);
    CHECK(a[g1.p[FR_P_E_ID].offset + 1 * d] == 0 && a[g1.p[FR_P_E_ID].offset + 3 * d] == 0,
          "and zeroes them");
    free(a);
    free(b);
    free(mom);
    fr_model_free(&back);
    fr_catver_free(&early);
    fr_catver_free(&rt);
    fr_catver_free(&c1);
    fr_catver_free(&cv);
    fr_catver_free(&nx);
    fr_model_free(&g2);
    fr_model_free(&g1);
    fr_model_free(&m);
    fixture_rm(dir);
    fixture_rm(d2);
}

/* A node refuses a row that changes item without a retirement and a reuse record. */
static void test_reuse_refused(void)
{
    char dir[64], d2[64];
    fr_model m = {0};
    fr_err err = {{0}};
    fr_catver cur = {0}, nx = {0};
    fr_items it = {0};
    int reused = 0;
    CHECK(model_from(base_movies, &m, dir, sizeof dir) && fixture_dir(d2, sizeof d2), "model");
    m.catalogue_version = 1;
    CHECK(fr_catver_from_model(&cur, &m, &err) == FR_OK, "%s", err.msg);
    /* row 2 changes item with no record */
    copy_of(&cur, &nx);
    nx.version = 2;
    free(nx.keys[2]);
    nx.keys[2] = strdup("77");
    CHECK(fr_catver_check_next(&cur, &nx, "m", &err) == FR_EINVAL &&
              strstr(err.msg, "renumbers row 2 (item '77', was '2') without a reuse record"),
          "%s", err.msg);
    fr_catver_free(&nx);
    /* a reuse record, but the node holds the item live: it was not retired */
    copy_of(&cur, &nx);
    const char *gone[] = {"2"};
    CHECK(fr_catver_retire(&nx, gone, 1, &err) == FR_OK, "%s", err.msg);
    nx.version = 2;
    CHECK(items_of(d2, "movieId,title,genres\n77,New (2020),Drama\n", &it), "items");
    CHECK(fr_catver_add_reclaiming(&nx, &it, "n", 2, &reused, &err) == FR_OK && reused == 1, "%s",
          err.msg);
    nx.version = 3;
    CHECK(fr_catver_check_next(&cur, &nx, "m", &err) == FR_EINVAL &&
              strstr(err.msg, "the item was not retired"),
          "a node that never saw the retirement refuses: %s", err.msg);
    /* the node that saw it retires accepts; a record naming another item is refused */
    cur.retired[2] = 1;
    cur.retired_in[2] = 1;
    CHECK(fr_catver_check_next(&cur, &nx, "m", &err) == FR_OK, "%s", err.msg);
    free(nx.reused[0].old_key);
    nx.reused[0].old_key = strdup("9");
    CHECK(fr_catver_check_next(&cur, &nx, "m", &err) == FR_EINVAL &&
              strstr(err.msg, "is not that row's item"),
          "%s", err.msg);
    /* a record older than the node's version: the node would have seen it */
    free(nx.reused[0].old_key);
    nx.reused[0].old_key = strdup("2");
    nx.reused[0].version = 1;
    CHECK(fr_catver_check_next(&cur, &nx, "m", &err) == FR_EINVAL &&
              strstr(err.msg, "which the version 1 held lacks"),
          "%s", err.msg);
    nx.reused[0].version = 3;
    /* a next version that drops the records the node holds */
    nx.reused[0].version = 3;
    fr_catver later = {0};
    copy_of(&nx, &later);
    later.version = 4;
    CHECK(fr_catver_check_next(&nx, &later, "m", &err) == FR_OK, "%s", err.msg);
    later.n_reused = 0;
    CHECK(fr_catver_check_next(&nx, &later, "m", &err) == FR_EINVAL &&
              strstr(err.msg, "drops reuse records"),
          "%s", err.msg);
    later.n_reused = 1;
    fr_items_free(&it);
    fr_catver_free(&later);
    fr_catver_free(&cur);
    fr_catver_free(&nx);
    fr_model_free(&m);
    fixture_rm(dir);
    fixture_rm(d2);
}

int main(void)
{
    RUN(test_proposals);
    RUN(test_modelfile_versions);
    RUN(test_add_retire);
    RUN(test_update);
    RUN(test_next_and_apply);
    RUN(test_file_and_signature);
    RUN(test_reclaim_rule);
    RUN(test_reuse_records);
    RUN(test_reuse_refused);
    return fr_test_end();
}
