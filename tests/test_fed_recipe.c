/* The training recipe in a federated task: the `recipe` and `recipe_rounds` keys round
 * trip and are left out for the peer recipe (so nodes that predate them take part),
 * strict decoding refuses what a node cannot train, a round's settings follow the
 * recipe (the DP-compatible part alone under user-level DP), and a node's local
 * epochs run their stretch of the federation's learning-rate schedule. */
#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "backend/fr_backend.h"
#include "fed/fr_fed_recipe.h"
#include "fed/fr_proto.h"
#include "fr_test.h"
#include "nn/fr_model.h"
#include "nn/fr_train.h"
#include "util/fr_rng.h"

static fr_proto_task task(const char *recipe, int64_t rounds)
{
    fr_proto_task t = {.state = FR_TASK_OPEN,
                       .round = 3,
                       .model_version = 2,
                       .local_epochs = 2,
                       .batch = 8,
                       .seq_len = 6,
                       .negatives = 16,
                       .lr = 0.01,
                       .max_update_norm = 100,
                       .recipe_rounds = rounds};
    snprintf(t.weighting, sizeof t.weighting, "users");
    snprintf(t.recipe, sizeof t.recipe, "%s", recipe);
    return t;
}

static int has_key(const msgpack_sbuffer *sb, const char *key)
{
    size_t n = strlen(key);
    for (size_t i = 0; i + n <= sb->size; i++)
        if (!memcmp(sb->data + i, key, n))
            return 1;
    return 0;
}

/* The task's body with one more string pair: what a coordinator newer than this
 * decoder, or one that sends an oversized value, puts on the wire. */
static void with_pair(const fr_proto_task *t, const char *key, const char *val,
                      msgpack_sbuffer *out)
{
    msgpack_sbuffer head;
    msgpack_sbuffer_init(&head);
    fr_proto_task_encode(t, &head);
    uint8_t *h = (uint8_t *)head.data;
    CHECK((h[0] & 0xf0) == 0x80 || (h[0] == 0xde && h[2] < 0xff), "a small map: 0x%02x", h[0]);
    if (h[0] == 0xde) /* map 16: a big-endian count */
        h[2]++;
    else
        h[0]++;
    msgpack_sbuffer_write(out, head.data, head.size);
    msgpack_sbuffer_destroy(&head);
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    msgpack_pack_str(&pk, strlen(key));
    msgpack_pack_str_body(&pk, key, strlen(key));
    msgpack_pack_str(&pk, strlen(val));
    msgpack_pack_str_body(&pk, val, strlen(val));
}

static void test_proto(void)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fr_err err = {{0}};
    fr_proto_task t = task("tuned", 100), d;
    fr_proto_task_encode(&t, &sb);
    CHECK(fr_proto_task_decode(sb.data, sb.size, &d, &err) == FR_OK, "%s", err.msg);
    CHECK(!strcmp(d.recipe, "tuned") && d.recipe_rounds == 100, "recipe keys: '%s' %lld", d.recipe,
          (long long)d.recipe_rounds);
    /* the peer recipe travels as no key: the body an older node decodes */
    msgpack_sbuffer_clear(&sb);
    t = task("", 0);
    fr_proto_task_encode(&t, &sb);
    CHECK(!has_key(&sb, "recipe"), "an absent recipe and its rounds are not sent");
    CHECK(fr_proto_task_decode(sb.data, sb.size, &d, &err) == FR_OK && !d.recipe[0] &&
              !d.recipe_rounds,
          "absent recipe: %s", err.msg);
    /* a name longer than the field */
    msgpack_sbuffer_clear(&sb);
    t = task("", 5);
    with_pair(&t, "recipe", "a-name-of-20-bytes!!", &sb);
    CHECK(fr_proto_task_decode(sb.data, sb.size, &d, &err) == FR_EFORMAT &&
              strstr(err.msg, "recipe: 20 bytes"),
          "long name: %s", err.msg);
    /* the schedule's length out of range */
    msgpack_sbuffer_clear(&sb);
    t = task("tuned", 100000001);
    fr_proto_task_encode(&t, &sb);
    CHECK(fr_proto_task_decode(sb.data, sb.size, &d, &err) == FR_EFORMAT &&
              strstr(err.msg, "recipe_rounds"),
          "rounds out of range: %s", err.msg);
    /* a key this end does not know is refused, by name: what a node that predates
     * "recipe" answers to a tuned federation's task */
    msgpack_sbuffer_clear(&sb);
    t = task("", 0);
    with_pair(&t, "recipe_x", "tuned", &sb);
    CHECK(fr_proto_task_decode(sb.data, sb.size, &d, &err) == FR_EFORMAT &&
              strstr(err.msg, "recipe_x"),
          "unknown key: %s", err.msg);
    msgpack_sbuffer_destroy(&sb);
}

static void test_config(void)
{
    fr_err err = {{0}};
    fr_train_config tc;
    long start;
    const fr_recipe *tuned = fr_recipe_find("tuned");
    /* absent: the task's K and constant lr, nothing else (the old local training) */
    fr_proto_task t = task("", 0);
    CHECK(fr_fed_recipe_config(&t, FR_FED_RECIPE_PLAIN, 7, 80, &tc, &start, &err) == FR_OK, "%s",
          err.msg);
    fr_train_config old = {.batch = 8, .seq_len = 6, .negatives = 16, .lr = 0.01f, .seed = 7};
    CHECK(!memcmp(&tc, &old, sizeof tc) && start == 0, "peer = the task's settings alone");
    /* tuned over 10 rounds of 2 local epochs; 80 windows in batches of 8 = 10 steps an
     * epoch; version 2 starts at step 2 x 2 x 10 */
    t = task("tuned", 10);
    CHECK(fr_fed_recipe_config(&t, FR_FED_RECIPE_PLAIN, 7, 80, &tc, &start, &err) == FR_OK, "%s",
          err.msg);
    CHECK(tc.negatives == 16 && tc.lr == 0.01f && tc.epochs == 20 && start == 40 &&
              tc.warmup == tuned->warmup && tc.lr_final == tuned->lr_final &&
              tc.pop_alpha == tuned->pop_alpha && tc.dropout == tuned->dropout &&
              tc.item_dropout == tuned->item_dropout,
          "tuned: epochs %d start %ld pop %g dropout %g", tc.epochs, start, (double)tc.pop_alpha,
          (double)tc.dropout);
    /* a version past the end stays on the schedule's last round */
    t.model_version = 25;
    CHECK(fr_fed_recipe_config(&t, FR_FED_RECIPE_PLAIN, 7, 80, &tc, &start, &err) == FR_OK &&
              start == 9 * 2 * 10,
          "past the end: start %ld", start);
    /* no end: no schedule, the rest of the recipe */
    t = task("tuned", 0);
    CHECK(fr_fed_recipe_config(&t, FR_FED_RECIPE_PLAIN, 7, 80, &tc, &start, &err) == FR_OK &&
              tc.epochs == 0 && start == 0 && tc.pop_alpha > 0 && tc.dropout > 0,
          "no end");
    /* site-level DP noises the whole delta: the full recipe */
    t = task("tuned", 10);
    CHECK(fr_fed_recipe_config(&t, FR_FED_RECIPE_DP_SITE, 7, 80, &tc, &start, &err) == FR_OK &&
              tc.epochs == 20 && tc.pop_alpha > 0 && tc.dropout > 0,
          "site DP");
    /* user-level DP-SGD: K and lr alone, as `train --dp` */
    CHECK(fr_fed_recipe_config(&t, FR_FED_RECIPE_DP_USER, 7, 80, &tc, &start, &err) == FR_OK &&
              !memcmp(&tc, &old, sizeof tc) && start == 0,
          "user DP: K and lr alone");
    /* a name this node does not know */
    t = task("fancy", 10);
    CHECK(fr_fed_recipe_config(&t, FR_FED_RECIPE_PLAIN, 7, 80, &tc, &start, &err) == FR_EINVAL &&
              strstr(err.msg, "'fancy'"),
          "unknown recipe: %s", err.msg);
}

typedef struct round_facts {
    fr_train_config cfg;
    long step, total_steps; /* the trainer's schedule position at the round's end */
    int sampler;            /* popularity negatives were drawn */
    double loss;            /* mean over the local epochs */
    double norm;            /* L2 norm of the delta */
} round_facts;

/* A round of local training as the node runs it (node/fr_fed_local.c): the task's
 * settings, a trainer from the round's first step, its local epochs. */
static round_facts train_round(const fr_proto_task *t, const float *init, const int32_t *tok,
                               const int64_t *ids, const fr_model_config *mc, const int32_t *win,
                               long nw)
{
    round_facts f = {0};
    fr_err err = {{0}};
    fr_model m;
    CHECK(fr_model_init(&m, mc, fr_backend_cpu(), tok, ids, &err) == FR_OK, "%s", err.msg);
    fr_model_set_params(&m, init);
    fr_train_config tc;
    long start;
    CHECK(fr_fed_recipe_config(t, FR_FED_RECIPE_PLAIN, 5, nw, &tc, &start, &err) == FR_OK, "%s",
          err.msg);
    fr_trainer tr = {0};
    CHECK(fr_trainer_init(&tr, &m, &tc, win, nw, &err) == FR_OK, "%s", err.msg);
    tr.step = start;
    double sum = 0;
    for (int e = 0; e < t->local_epochs; e++) {
        fr_epoch_stats es;
        CHECK(fr_trainer_epoch(&tr, &es, NULL, NULL, &err) == FR_OK, "%s", err.msg);
        sum += es.loss;
    }
    f.loss = sum / (double)t->local_epochs;
    float *p = malloc(m.n * sizeof(float));
    fr_model_get_params(&m, p);
    double norm = 0;
    for (size_t i = 0; i < m.n; i++)
        norm += ((double)p[i] - init[i]) * ((double)p[i] - init[i]);
    free(p);
    f.norm = sqrt(norm);
    f.cfg = tr.cfg;
    f.step = tr.step;
    f.total_steps = tr.total_steps;
    f.sampler = tr.ns.cdf != NULL;
    fr_trainer_free(&tr);
    fr_model_free(&m);
    return f;
}

static void test_round(void)
{
    enum { V = 40, L = 6, NW = 64, T = 2 };
    fr_backend_cpu()->set_threads(1);
    fr_model_config mc = {
        .num_items = V, .token_vocab = 11, .num_tokens = T, .dim = 8, .filters = 4};
    int32_t tok[V * T], win[NW * (L + 1)];
    int64_t ids[V];
    fr_rng r;
    fr_rng_seed(&r, 9);
    for (int i = 0; i < V; i++) {
        ids[i] = i;
        for (int k = 0; k < T; k++)
            tok[i * T + k] = i ? (int32_t)fr_rng_below(&r, 11) : 0;
    }
    /* skewed item counts, so that popularity negatives differ from uniform ones */
    for (int i = 0; i < NW * (L + 1); i++)
        win[i] = 1 + (int32_t)(fr_rng_below(&r, V - 1) * fr_rng_uniform(&r));
    fr_err err = {{0}};
    fr_model m0;
    CHECK(fr_model_init(&m0, &mc, fr_backend_cpu(), tok, ids, &err) == FR_OK, "%s", err.msg);
    fr_model_init_params(&m0, 3);
    float *init = malloc(m0.n * sizeof(float));
    fr_model_get_params(&m0, init);
    fr_model_free(&m0);

    /* 20 rounds of 2 local epochs of 8 batches: the middle round trains at about the
     * peak lr, the last one on the cosine's tail, near 0 */
    fr_proto_task t = task("tuned", 20);
    t.model_version = 10;
    round_facts mid = train_round(&t, init, tok, ids, &mc, win, NW);
    t.model_version = 19;
    round_facts last = train_round(&t, init, tok, ids, &mc, win, NW);
    CHECK(isfinite(mid.loss) && mid.loss > 0 && isfinite(last.loss), "losses %g %g", mid.loss,
          last.loss);
    CHECK(mid.step == 10 * 2 * 8 + 2 * 8 && mid.total_steps == 20 * 2 * 8 &&
              last.step == last.total_steps,
          "schedule position: %ld of %ld, %ld of %ld", mid.step, mid.total_steps, last.step,
          last.total_steps);
    CHECK(mid.sampler && mid.cfg.dropout > 0 && mid.cfg.item_dropout > 0,
          "the round used the popularity sampler and dropout");
    CHECK(mid.norm > 0 && last.norm < mid.norm * 0.5,
          "the last round moves less than the middle one (lr %g vs %g): delta %g vs %g",
          (double)fr_train_lr_at(&last.cfg, 19 * 2 * 8, last.total_steps),
          (double)fr_train_lr_at(&mid.cfg, 10 * 2 * 8, mid.total_steps), last.norm, mid.norm);
    /* the peer recipe at the same version: the task's constant lr, no sampler */
    fr_proto_task p = task("", 0);
    p.model_version = 19;
    round_facts peer = train_round(&p, init, tok, ids, &mc, win, NW);
    CHECK(!peer.sampler && peer.total_steps == 0 && peer.norm > last.norm,
          "peer: constant lr (delta %g vs the tuned last round's %g)", peer.norm, last.norm);
    free(init);
}

int main(void)
{
    RUN(test_proto);
    RUN(test_config);
    RUN(test_round);
    return fr_test_end();
}
