/* Tests of the synthetic data generator: its files load cleanly through the
 * movielens-csv reader, a seed names one byte-exact dataset, bad configurations are
 * refused by field name, and the planted sequential structure is really there (the
 * next item is predictable from the current one far better than from popularity). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/fr_data.h"
#include "data/fr_synth.h"
#include "fr_test.h"

static char base[64];

static void path_of(char *out, size_t cap, const char *sub, const char *name)
{
    snprintf(out, cap, "%s/%s%s%s", base, sub, name ? "/" : "", name ? name : "");
}

static void remove_sub(const char *sub)
{
    char p[256];
    path_of(p, sizeof p, sub, "ratings.csv");
    unlink(p);
    path_of(p, sizeof p, sub, "movies.csv");
    unlink(p);
    path_of(p, sizeof p, sub, NULL);
    rmdir(p);
}

/* Whole file into a malloc'd buffer (test-sized files only). */
static char *slurp(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    *len = -1;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (*len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)*len + 1)) != NULL) {
        if (fread(buf, 1, (size_t)*len, f) != (size_t)*len) {
            free(buf);
            buf = NULL;
        } else {
            buf[*len] = '\0';
        }
    }
    fclose(f);
    return buf;
}

static int same_file(const char *a, const char *b)
{
    long na, nb;
    char *x = slurp(a, &na), *y = slurp(b, &nb);
    int same = x && y && na == nb && !memcmp(x, y, (size_t)na);
    free(x);
    free(y);
    return same;
}

static void test_roundtrip(void)
{
    fr_synth_config c;
    fr_err err = {{0}};
    fr_dataset ds;
    fr_data_options strict = {.strict = 1};
    char dir[256], file[256];
    fr_synth_config_default(&c);
    path_of(dir, sizeof dir, "a", NULL);
    fr_status st = fr_synth_write(&c, dir, &err); /* creates the missing folder */
    CHECK(st == FR_OK, "write: %s", err.msg);
    if (st != FR_OK)
        return;
    st = fr_dataset_load(&ds, dir, "movielens-csv", 8, 4096, &strict, &err);
    CHECK(st == FR_OK, "load: %s", err.msg);
    if (st != FR_OK)
        return;
    long len, lines = 0;
    path_of(file, sizeof file, "a", "ratings.csv");
    char *text = slurp(file, &len);
    for (long i = 0; text && i < len; i++)
        lines += text[i] == '\n';
    free(text);
    CHECK(ds.interactions == lines - 1 && ds.report.rows_read == lines - 1, "rows %ld of %ld",
          ds.interactions, lines - 1);
    CHECK(ds.num_users == c.users && ds.num_eval_users == c.users, "users %d", ds.num_users);
    CHECK(ds.num_items - 1 <= c.items && ds.num_items - 1 > c.items * 8 / 10, "items %d",
          ds.num_items - 1);
    CHECK(ds.report.rows_skipped == 0 && ds.report.content_skipped == 0, "nothing skipped");
    CHECK(ds.report.content_rows == c.items, "content rows %ld", ds.report.content_rows);
    CHECK(ds.items_with_content == ds.num_items - 1, "all items have content");
    CHECK(ds.user_ids[0] == fr_synth_user_id(0) && ds.user_ids[0] != 0 &&
              ds.user_ids[1] - ds.user_ids[0] > 1,
          "sparse user ids");
    int sparse = 0;
    for (int r = 2; r < ds.num_items; r++)
        sparse += ds.item_ids[r] - ds.item_ids[r - 1] > 1;
    CHECK(sparse > ds.num_items / 2, "sparse item ids");
    for (int u = 0; u < ds.num_users; u++) {
        long n = (long)(ds.train_off[u + 1] - ds.train_off[u]) + 2;
        if (n < c.min_events || n > c.max_events) {
            CHECK(0, "user %d has %ld events", u, n);
            break;
        }
    }
    /* quoted titles made it through the reader */
    path_of(file, sizeof file, "a", "movies.csv");
    text = slurp(file, &len);
    CHECK(text && strstr(text, ", The Word") && strstr(text, "\"\"Word"), "quoted titles");
    free(text);
    fr_dataset_free(&ds);
}

static void test_determinism(void)
{
    fr_synth_config c;
    fr_err err = {{0}};
    char a[256], b[256], d[256], fa[256], fb[256];
    fr_synth_config_default(&c);
    c.users = 50;
    path_of(a, sizeof a, "b1", NULL);
    path_of(b, sizeof b, "b2", NULL);
    path_of(d, sizeof d, "b3", NULL);
    CHECK(fr_synth_write(&c, a, &err) == FR_OK, "write 1: %s", err.msg);
    CHECK(fr_synth_write(&c, b, &err) == FR_OK, "write 2: %s", err.msg);
    c.seed = 2;
    CHECK(fr_synth_write(&c, d, &err) == FR_OK, "write 3: %s", err.msg);
    path_of(fa, sizeof fa, "b1", "ratings.csv");
    path_of(fb, sizeof fb, "b2", "ratings.csv");
    CHECK(same_file(fa, fb), "same seed, same ratings");
    path_of(fb, sizeof fb, "b3", "ratings.csv");
    CHECK(!same_file(fa, fb), "another seed, other ratings");
    path_of(fa, sizeof fa, "b1", "movies.csv");
    path_of(fb, sizeof fb, "b2", "movies.csv");
    CHECK(same_file(fa, fb), "same seed, same movies");
    remove_sub("b1");
    remove_sub("b2");
    remove_sub("b3");
}

/* The next train item is mostly the current item's most frequent successor, and that
 * rule predicts the held-out item far better than the most popular item does. */
static void test_structure(void)
{
    fr_err err = {{0}};
    fr_dataset ds;
    char dir[256];
    path_of(dir, sizeof dir, "a", NULL);
    fr_status st = fr_dataset_load(&ds, dir, "movielens-csv", 8, 4096, NULL, &err);
    CHECK(st == FR_OK, "load: %s", err.msg);
    if (st != FR_OK)
        return;
    int V = ds.num_items;
    int *next = calloc((size_t)V * (size_t)V, sizeof *next),
        *best = calloc((size_t)V, sizeof *best);
    long *pop = calloc((size_t)V, sizeof *pop);
    if (!next || !best || !pop) {
        CHECK(0, "out of memory");
        goto out;
    }
    long pairs = 0, follow = 0, succ_hits = 0, pop_hits = 0;
    for (int u = 0; u < ds.num_users; u++)
        for (int64_t k = ds.train_off[u]; k < ds.train_off[u + 1]; k++) {
            pop[ds.train_items[k]]++;
            if (k + 1 < ds.train_off[u + 1])
                next[ds.train_items[k] * V + ds.train_items[k + 1]]++;
        }
    int top = 1;
    for (int i = 1; i < V; i++) {
        for (int j = 1; j < V; j++)
            if (next[i * V + j] > next[i * V + best[i]])
                best[i] = j;
        if (pop[i] > pop[top])
            top = i;
    }
    for (int i = 1; i < V; i++)
        for (int j = 1; j < V; j++) {
            pairs += next[i * V + j];
            follow += j == best[i] ? next[i * V + j] : 0;
        }
    for (int e = 0; e < ds.num_eval_users; e++) {
        int u = ds.eval_users[e];
        succ_hits += best[ds.valid[u]] == ds.test[u];
        pop_hits += top == ds.test[u];
    }
    CHECK(pairs > 0 && (double)follow / (double)pairs > 0.5, "successor share %ld / %ld", follow,
          pairs);
    CHECK(succ_hits > 3 * pop_hits && succ_hits > ds.num_eval_users / 3,
          "successor hits %ld, popularity hits %ld of %d", succ_hits, pop_hits, ds.num_eval_users);
    CHECK(pop[top] > 2 * ds.interactions / (V - 1), "a popular head exists");
out:
    free(next);
    free(best);
    free(pop);
    fr_dataset_free(&ds);
}

static void test_bad_configs(void)
{
    fr_synth_config c;
    fr_err err = {{0}};
    char dir[256];
    path_of(dir, sizeof dir, "never", NULL);
    struct {
        int field;
        int value;
        const char *name;
    } cases[] = {{0, 0, "users"},
                 {1, 15, "items"},
                 {2, 0, "clusters"},
                 {3, 0, "min_events"},
                 {4, 10, "max_events"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fr_synth_config_default(&c);
        int *f[] = {&c.users, &c.items, &c.clusters, &c.min_events, &c.max_events};
        *f[cases[i].field] = cases[i].value;
        fr_status st = fr_synth_write(&c, dir, &err);
        CHECK(st == FR_EINVAL && strstr(err.msg, cases[i].name), "%s: %s", cases[i].name, err.msg);
    }
    CHECK(access(dir, F_OK) != 0, "nothing written for a refused config");
    fr_synth_config_default(&c);
    c.users = 1000000;
    c.max_events = 100000;
    CHECK(fr_synth_write(&c, dir, &err) == FR_EINVAL, "too many events in all");
    fr_synth_config_default(&c);
    CHECK(fr_synth_write(&c, "/nonexistent/fr_synth/x", &err) == FR_EIO &&
              strstr(err.msg, "/nonexistent/fr_synth/x"),
          "mkdir failure: %s", err.msg);
}

int main(void)
{
    snprintf(base, sizeof base, "/tmp/fr_test_synth_XXXXXX");
    if (!mkdtemp(base)) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    RUN(test_roundtrip);
    RUN(test_determinism);
    RUN(test_structure);
    RUN(test_bad_configs);
    remove_sub("a");
    rmdir(base);
    return fr_test_end();
}
