/* Synthetic movielens-csv data with planted structure (see fr_synth.h). Every random
 * choice draws from one fr_rng stream in a fixed order, so a seed names a dataset. */
#include "data/fr_synth.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/fr_rng.h"

#define FR_SYNTH_MAX_USERS 10000000
#define FR_SYNTH_MAX_ITEMS 10000000
#define FR_SYNTH_MAX_EVENTS 100000      /* per user */
#define FR_SYNTH_MAX_TOTAL 1000000000.0 /* events in all */
#define FR_SYNTH_PATH_MAX 4096

#define FR_SYNTH_P_NEXT 0.7    /* successor in the cluster's order */
#define FR_SYNTH_P_CLUSTER 0.9 /* cumulative: a random item of the cluster */
#define FR_SYNTH_P_TIE 0.03    /* an event at the same second as the previous one */

static const char *const fr_synth_shared_genres[] = {"Drama", "Comedy", "Action", "Thriller",
                                                     "Romance"};

void fr_synth_config_default(fr_synth_config *c)
{
    c->users = 500;
    c->items = 300;
    c->clusters = 8;
    c->min_events = 20;
    c->max_events = 60;
    c->seed = 1;
}

fr_status fr_synth_check(const fr_synth_config *c, fr_err *err)
{
    if (c->users < 1 || c->users > FR_SYNTH_MAX_USERS)
        return fr_fail(err, FR_EINVAL, "synth users must be in [1, %d] (got %d)",
                       FR_SYNTH_MAX_USERS, c->users);
    if (c->clusters < 1)
        return fr_fail(err, FR_EINVAL, "synth clusters must be >= 1 (got %d)", c->clusters);
    if (c->items > FR_SYNTH_MAX_ITEMS)
        return fr_fail(err, FR_EINVAL, "synth items must be <= %d (got %d)", FR_SYNTH_MAX_ITEMS,
                       c->items);
    if (c->items < 2 || c->items / 2 < c->clusters)
        return fr_fail(err, FR_EINVAL, "synth items must be >= 2 * clusters = %ld (got %d)",
                       2L * c->clusters, c->items);
    if (c->min_events < 1)
        return fr_fail(err, FR_EINVAL, "synth min_events must be >= 1 (got %d)", c->min_events);
    if (c->max_events < c->min_events || c->max_events > FR_SYNTH_MAX_EVENTS)
        return fr_fail(err, FR_EINVAL,
                       "synth max_events must be in [min_events = %d, %d] "
                       "(got %d)",
                       c->min_events, FR_SYNTH_MAX_EVENTS, c->max_events);
    if ((double)c->users * c->max_events > FR_SYNTH_MAX_TOTAL)
        return fr_fail(err, FR_EINVAL, "synth users * max_events must be <= %.0f (got %d * %d)",
                       FR_SYNTH_MAX_TOTAL, c->users, c->max_events);
    return FR_OK;
}

int64_t fr_synth_item_id(int item)
{
    return 10 * (int64_t)item + 7 + item % 3;
}

int64_t fr_synth_user_id(int user)
{
    return 1000 + 3 * (int64_t)user;
}

/* The planted world: cluster k walks order[start[k] .. start[k+1]). */
typedef struct fr_synth_world {
    int32_t *order;   /* items, grouped by cluster, each group in its walk order */
    int32_t *pos;     /* item -> index into order */
    int32_t *cluster; /* item -> cluster */
    int32_t *start;   /* clusters + 1 */
} fr_synth_world;

static void world_free(fr_synth_world *w)
{
    free(w->order);
    free(w->pos);
    free(w->cluster);
    free(w->start);
}

static int world_init(fr_synth_world *w, const fr_synth_config *c, fr_rng *rng)
{
    size_t n = (size_t)c->items;
    w->order = malloc(n * sizeof *w->order);
    w->pos = malloc(n * sizeof *w->pos);
    w->cluster = malloc(n * sizeof *w->cluster);
    w->start = malloc(((size_t)c->clusters + 1) * sizeof *w->start);
    if (!w->order || !w->pos || !w->cluster || !w->start)
        return -1;
    for (int i = 0; i < c->items; i++)
        w->order[i] = i;
    /* Random blocks and orders, so that neither cluster nor successor follows the ids. */
    fr_rng_shuffle_i32(rng, w->order, c->items);
    for (int k = 0; k <= c->clusters; k++)
        w->start[k] = (int32_t)((int64_t)c->items * k / c->clusters);
    for (int k = 0; k < c->clusters; k++)
        for (int32_t p = w->start[k]; p < w->start[k + 1]; p++) {
            w->pos[w->order[p]] = p;
            w->cluster[w->order[p]] = k;
        }
    return 0;
}

/* A catalogue-wide pick skewed towards low item numbers (a popular head). */
static int32_t popular_item(fr_rng *rng, int items)
{
    double u = fr_rng_uniform(rng);
    int32_t i = (int32_t)((double)items * u * u * u);
    return i < items ? i : items - 1;
}

/* A CSV field, quoted when it holds a comma or a quote. */
static void put_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static fr_status close_file(FILE *f, const char *file, fr_err *err)
{
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return fr_fail(err, FR_EIO, "%s: write failed: %s", file, strerror(errno));
    return FR_OK;
}

static fr_status write_movies(const fr_synth_config *c, const fr_synth_world *w, const char *file,
                              fr_rng *rng, fr_err *err)
{
    FILE *f = fopen(file, "wb");
    if (!f)
        return fr_fail(err, FR_EIO, "%s: %s", file, strerror(errno));
    fputs("movieId,title,genres\r\n", f);
    for (int i = 0; i < c->items; i++) {
        int k = w->cluster[i];
        int tied = 4 * k + (int)fr_rng_below(rng, 4); /* title word shared in the cluster */
        int loose = 1000 + (int)fr_rng_below(rng, 200);
        int year = 1950 + (int)fr_rng_below(rng, 70);
        const char *shared = fr_synth_shared_genres[fr_rng_below(rng, 5)];
        char title[128], genres[64];
        if (i % 9 == 4)
            snprintf(title, sizeof title, "Item %d, The Word%d Word%d (%d)", i, tied, loose, year);
        else if (i % 50 == 7)
            snprintf(title, sizeof title, "Item %d \"Word%d\" Word%d (%d)", i, tied, loose, year);
        else
            snprintf(title, sizeof title, "Item %d Word%d Word%d (%d)", i, tied, loose, year);
        if (i % 37 == 5)
            snprintf(genres, sizeof genres, "(no genres listed)");
        else
            snprintf(genres, sizeof genres, "Genre%d|%s", k, shared);
        fprintf(f, "%" PRId64 ",", fr_synth_item_id(i));
        put_field(f, title);
        fputc(',', f);
        put_field(f, genres);
        fputs("\r\n", f);
    }
    return close_file(f, file, err);
}

static fr_status write_ratings(const fr_synth_config *c, const fr_synth_world *w, const char *file,
                               fr_rng *rng, fr_err *err)
{
    size_t cap = (size_t)c->max_events;
    int32_t *items = malloc(cap * sizeof *items), *idx = malloc(cap * sizeof *idx);
    int64_t *ts = malloc(cap * sizeof *ts);
    FILE *f = NULL;
    fr_status st = FR_OK;
    if (!items || !idx || !ts) {
        st = fr_fail(err, FR_ENOMEM, "%s: out of memory for %d events", file, c->max_events);
        goto out;
    }
    if (!(f = fopen(file, "wb"))) {
        st = fr_fail(err, FR_EIO, "%s: %s", file, strerror(errno));
        goto out;
    }
    fputs("userId,movieId,rating,timestamp\r\n", f);
    for (int u = 0; u < c->users; u++) {
        int k = (int)fr_rng_below(rng, (uint64_t)c->clusters);
        int32_t s = w->start[k], size = w->start[k + 1] - s;
        int n =
            c->min_events + (int)fr_rng_below(rng, (uint64_t)(c->max_events - c->min_events + 1));
        double r0 = fr_rng_uniform(rng);
        int32_t p = (int32_t)(size * r0 * r0); /* walks mostly start early in the chain */
        int32_t cur = w->order[s + p];
        int64_t t = 900000000 + (int64_t)fr_rng_below(rng, 400000000);
        for (int e = 0; e < n; e++) {
            double r = fr_rng_uniform(rng);
            items[e] = cur;
            ts[e] = t;
            idx[e] = e;
            if (fr_rng_uniform(rng) >= FR_SYNTH_P_TIE)
                t += 1 + (int64_t)fr_rng_below(rng, 3 * 86400);
            if (r < FR_SYNTH_P_NEXT) {
                p = (p + 1) % size;
                cur = w->order[s + p];
            } else if (r < FR_SYNTH_P_CLUSTER) {
                p = (int32_t)fr_rng_below(rng, (uint64_t)size);
                cur = w->order[s + p];
            } else {
                cur = popular_item(rng, c->items);
                if (w->cluster[cur] == k)
                    p = w->pos[cur] - s;
            }
        }
        fr_rng_shuffle_i32(rng, idx, n);
        for (int e = 0; e < n; e++) {
            int j = idx[e];
            int half = 1 + (int)fr_rng_below(rng, 10);
            fprintf(f, "%" PRId64 ",%" PRId64 ",%d.%d,%" PRId64 "\r\n", fr_synth_user_id(u),
                    fr_synth_item_id(items[j]), half / 2, half % 2 ? 5 : 0, ts[j]);
        }
    }
    st = close_file(f, file, err);
out:
    free(items);
    free(idx);
    free(ts);
    return st;
}

fr_status fr_synth_write(const fr_synth_config *c, const char *dir, fr_err *err)
{
    fr_synth_world w = {0};
    fr_rng rng;
    char file[FR_SYNTH_PATH_MAX];
    fr_status st = fr_synth_check(c, err);
    if (st != FR_OK)
        return st;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return fr_fail(err, FR_EIO, "%s: cannot create folder: %s", dir, strerror(errno));
    fr_rng_seed(&rng, c->seed);
    if (world_init(&w, c, &rng)) {
        st = fr_fail(err, FR_ENOMEM, "out of memory for %d synthetic items", c->items);
        goto out;
    }
    if (snprintf(file, sizeof file, "%s/movies.csv", dir) >= (int)sizeof file) {
        st = fr_fail(err, FR_EINVAL, "%s: path too long", dir);
        goto out;
    }
    if ((st = write_movies(c, &w, file, &rng, err)) != FR_OK)
        goto out;
    if (snprintf(file, sizeof file, "%s/ratings.csv", dir) >= (int)sizeof file) {
        st = fr_fail(err, FR_EINVAL, "%s: path too long", dir);
        goto out;
    }
    st = write_ratings(c, &w, file, &rng, err);
out:
    world_free(&w);
    return st;
}
