/* Catalogue versions in the coordinator's state folder (docs/catalogue.md): the
 * operator's `catalogue` command writes each version as
 * STATE/catalogues/catalogue-NNNNNN.frc with its signature in .sig beside it (the
 * signature first, so a crash leaves a file that is refused rather than trusted), and
 * the serving coordinator folds the newest one into the next model it publishes. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fr_coord.h"
#include "fr_coord_catalogue.h"
#include "util/fr_file.h"

static void cat_path(const char *state_dir, long version, const char *ext, char *out, size_t cap)
{
    snprintf(out, cap, "%.400s/catalogues/catalogue-%06ld.%s", state_dir, version, ext);
}

/* The highest N of catalogue-N.frc in the folder, 0 when there is none. */
static long newest(const char *state_dir)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%.400s/catalogues", state_dir);
    DIR *d = opendir(dir);
    long best = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        long v;
        char tail[8];
        if (sscanf(e->d_name, "catalogue-%ld.%4s", &v, tail) == 2 && !strcmp(tail, "frc") &&
            v > best)
            best = v;
    }
    if (d)
        closedir(d);
    return best;
}

fr_status fr_coord_catalogue_read(const char *state_dir, const uint8_t pub[FR_SIGN_PUBLIC_BYTES],
                                  fr_catver *cv, int *found, fr_err *err)
{
    char path[512], spath[512], line[256];
    uint8_t *bytes = NULL, *sl = NULL;
    size_t len = 0, slen = 0;
    memset(cv, 0, sizeof *cv);
    *found = 0;
    long v = newest(state_dir);
    if (v == 0)
        return FR_OK;
    cat_path(state_dir, v, "frc", path, sizeof path);
    cat_path(state_dir, v, "sig", spath, sizeof spath);
    fr_status st = fr_file_read_all(path, FR_CATVER_MAX_FILE, &bytes, &len, err);
    if (st != FR_OK)
        goto out;
    if (fr_file_read_all(spath, 512, &sl, &slen, err) != FR_OK) {
        st = fr_fail(err, FR_EINVAL, "%s: unsigned catalogue: %s is missing or unreadable", path,
                     spath);
        goto out;
    }
    long sv = -1;
    uint8_t sig[FR_SIGN_BYTES];
    snprintf(line, sizeof line, "%.*s", (int)slen, (const char *)sl);
    char hex[2 * FR_SIGN_BYTES + 8] = "";
    fr_err e2 = {{0}};
    if (sscanf(line, "%ld %135s", &sv, hex) != 2 || sv != v ||
        fr_hex_decode(hex, sig, FR_SIGN_BYTES, &e2) != FR_OK) {
        st = fr_fail(err, FR_EINVAL, "%s: unsigned catalogue: %s holds no signature of version %ld",
                     path, spath, v);
        goto out;
    }
    if ((st = fr_sign_verify_catalogue(pub, (uint64_t)v, bytes, len, sig, &e2)) != FR_OK) {
        st = fr_fail(err, FR_EINVAL, "%s: %s", path, e2.msg);
        goto out;
    }
    if ((st = fr_catver_decode(cv, bytes, len, path, err)) != FR_OK)
        goto out;
    if (cv->version != v) {
        st = fr_fail(err, FR_EINVAL, "%s: holds catalogue version %ld, not %ld", path, cv->version,
                     v);
        fr_catver_free(cv);
        goto out;
    }
    *found = 1;
out:
    free(bytes);
    free(sl);
    return st;
}

fr_status fr_coord_catalogue_write(const char *state_dir, const fr_sign_key *k, const fr_catver *cv,
                                   fr_err *err)
{
    char dir[512], path[512], spath[512];
    snprintf(dir, sizeof dir, "%.400s/catalogues", state_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return fr_fail(err, FR_EIO, "%s: %s", dir, strerror(errno));
    cat_path(state_dir, cv->version, "frc", path, sizeof path);
    cat_path(state_dir, cv->version, "sig", spath, sizeof spath);
    if (access(path, F_OK) == 0)
        return fr_fail(err, FR_EINVAL, "%s exists: catalogue version %ld was written already", path,
                       cv->version);
    uint8_t *bytes = NULL;
    size_t len = 0;
    fr_status st = fr_catver_encode(cv, &bytes, &len, err);
    if (st != FR_OK)
        return st;
    uint8_t sig[FR_SIGN_BYTES];
    char hex[2 * FR_SIGN_BYTES + 1], line[2 * FR_SIGN_BYTES + 40];
    fr_sign_catalogue(k, (uint64_t)cv->version, bytes, len, sig);
    fr_hex_encode(sig, FR_SIGN_BYTES, hex);
    snprintf(line, sizeof line, "%ld %s\n", cv->version, hex);
    if ((st = fr_file_write_atomic(spath, line, strlen(line), 0644, err)) == FR_OK)
        st = fr_file_write_atomic(path, bytes, len, 0644, err);
    free(bytes);
    return st;
}

/* The server optimiser's moments in the grown model's layout. */
static fr_status grow_opt(const fr_model *old, const fr_model *grown, fr_server_opt *opt,
                          fr_err *err)
{
    fr_server_opt o2 = {0};
    fr_status st = fr_server_opt_init(&o2, grown->n, err);
    if (st != FR_OK)
        return st;
    fr_catver_remap(old, grown, opt->m, o2.m);
    fr_catver_remap(old, grown, opt->v, o2.v);
    o2.step = opt->step;
    fr_server_opt_free(opt);
    *opt = o2;
    return FR_OK;
}

fr_status fr_coord_catalogue_fold(fr_coord *c, fr_server_opt *opt, int *folded, fr_err *err)
{
    fr_catver next = {0}, cur = {0};
    fr_model grown = {0};
    fr_err why = {{0}};
    *folded = 0;
    int found = 0;
    fr_status st = fr_coord_catalogue_read(c->state_dir, c->key.pub, &next, &found, &why);
    /* an older version than the model's is a rolled-back folder: check_next refuses it */
    if (st == FR_OK && found && next.version != c->model.catalogue_version) {
        if ((st = fr_catver_from_model(&cur, &c->model, err)) != FR_OK)
            goto out; /* out of memory: the publish fails */
        st = fr_catver_check_next(&cur, &next, "catalogue", &why);
    } else if (st == FR_OK) {
        goto out; /* nothing new */
    }
    if (st != FR_OK) {
        /* the operator's file is refused, the federation goes on with the catalogue it has */
        if (c->catalogue_refused != newest(c->state_dir))
            fr_coord_log("REFUSED catalogue: %s", why.msg);
        c->catalogue_refused = newest(c->state_dir);
        st = FR_OK;
        goto out;
    }
    if ((st = fr_catver_apply(&next, &c->model, &grown, err)) != FR_OK ||
        (st = grow_opt(&c->model, &grown, opt, err)) != FR_OK)
        goto out;
    int reclaimed = 0;
    for (int r = 1; r < c->model.cfg.num_items; r++)
        reclaimed += !fr_catver_same_item(&c->model, &grown, r);
    fr_coord_log("catalogue version %ld: %d items (%d live, %d new rows, %d reclaimed rows), "
                 "published with the next model",
                 next.version, next.num_items - 1, fr_catver_live(&next),
                 next.num_items - c->model.cfg.num_items, reclaimed);
    fr_model_free(&c->model);
    c->model = grown;
    memset(&grown, 0, sizeof grown);
    *folded = 1;
out:
    fr_model_free(&grown);
    fr_catver_free(&next);
    fr_catver_free(&cur);
    return st;
}
