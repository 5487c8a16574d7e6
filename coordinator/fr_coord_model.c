/* The global model on the coordinator: the latest published version in memory (its
 * parameters and the exact file bytes that nodes download), and publishing a new
 * version — checkpoint written atomically and signed; the caller then records it
 * together with the round's closing in one transaction (fr_store_commit_publish), so
 * that a crash leaves either the old version or the new one, never a round that is
 * closed without its model. */
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
#include "nn/fr_modelfile.h"

static void model_path(const fr_coord *c, long version, char *out, size_t cap)
{
    snprintf(out, cap, "%.400s/models/model-%06ld.frm", c->state_dir, version);
}

static void opt_path(const fr_coord *c, long version, char *out, size_t cap)
{
    snprintf(out, cap, "%.400s/models/server-opt-%06ld.bin", c->state_dir, version);
}

/* Make path's file the in-memory version: parse it, keep its bytes, sign them. */
static fr_status adopt(fr_coord *c, const char *path, long version, fr_err *err)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    fr_status st = fr_file_read_all(path, FR_MODELFILE_MAX_BODY + FR_MODELFILE_HEADER_BYTES, &bytes,
                                    &len, err);
    if (st != FR_OK)
        return st;
    fr_model m = {0};
    if ((st = fr_modelfile_decode(&m, fr_backend_cpu(), bytes, len, path, err)) != FR_OK) {
        free(bytes);
        return st;
    }
    if (c->model.n && m.n != c->model.n) {
        fr_model_free(&m);
        free(bytes);
        return fr_fail(err, FR_EFORMAT, "%s: %zu parameters, the federation's model has %zu", path,
                       m.n, c->model.n);
    }
    fr_model_free(&c->model);
    c->model = m;
    free(c->file);
    c->file = bytes;
    c->file_len = len;
    c->version = version;
    uint8_t sig[FR_SIGN_BYTES];
    fr_sign_model(&c->key, (uint64_t)version, bytes, len, sig);
    fr_hex_encode(sig, FR_SIGN_BYTES, c->sig_hex);
    return FR_OK;
}

/* A store that records no model, beside model files of published versions: the
 * database was emptied or replaced, and starting would silently begin the federation
 * again at version 0. (A lone model-000000.frm is the initial model of a first start
 * cut short.) */
static fr_status check_no_versions(const fr_coord *c, const char *dir, fr_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    long newest = 0, files = 0;
    if (!d)
        return fr_fail(err, FR_EIO, "%s: %s", dir, strerror(errno));
    while ((e = readdir(d))) {
        long v;
        char tail[8];
        if (sscanf(e->d_name, "model-%ld.%4s", &v, tail) == 2 && !strcmp(tail, "frm") && v > 0) {
            files++;
            if (v > newest)
                newest = v;
        }
    }
    closedir(d);
    if (!files)
        return FR_OK;
    return fr_fail(err, FR_ECHECKSUM,
                   "%s/%s records no model but %s holds %ld model files up to version %ld; "
                   "not starting at version 0: restore the state folder from a backup "
                   "(fedrecall-coordinator backup; docs/operations.md)",
                   c->state_dir, FR_STORE_FILE, dir, files, newest);
}

fr_status fr_coord_load_model(fr_coord *c, fr_err *err)
{
    char dir[4200], path[512];
    snprintf(dir, sizeof dir, "%s/models", c->state_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return fr_fail(err, FR_EIO, "%s: %s", dir, strerror(errno));
    fr_model_row row;
    int found = 0;
    fr_status st = fr_store_model_latest(&c->store, &row, &found, err);
    if (st != FR_OK)
        return st;
    if (found) {
        if ((st = adopt(c, row.path, row.version, err)) != FR_OK)
            return st;
    } else if ((st = check_no_versions(c, dir, err)) != FR_OK) {
        return st;
    } else {
        char initial[4300];
        if (c->cfg.initial_model)
            snprintf(initial, sizeof initial, "%s", c->cfg.initial_model);
        else
            snprintf(initial, sizeof initial, "%s/initial-model.frm", c->state_dir);
        if (access(initial, R_OK) != 0)
            return fr_fail(err, FR_EINVAL,
                           "%s: no model to start from: pass --initial-model FILE (made with "
                           "fedrecall-node init-model) or place it there",
                           initial);
        /* version 0 is the initial model as loaded, re-saved so that its file is ours */
        fr_model m = {0};
        if ((st = fr_modelfile_load(&m, fr_backend_cpu(), initial, err)) != FR_OK)
            return st;
        model_path(c, 0, path, sizeof path);
        st = fr_modelfile_save(&m, path, 0, err);
        fr_model_free(&m);
        if (st != FR_OK || (st = adopt(c, path, 0, err)) != FR_OK)
            return st;
        fr_model_row r0 = {.version = 0, .round = 0, .created_at = fr_coord_now()};
        snprintf(r0.path, sizeof r0.path, "%s", path);
        snprintf(r0.sig_hex, sizeof r0.sig_hex, "%s", c->sig_hex);
        if ((st = fr_store_model_add(&c->store, &r0, err)) != FR_OK)
            return st;
        fr_coord_log("model: version 0 from %s (%zu parameters)", initial, c->model.n);
    }
    if ((st = fr_server_opt_init(&c->opt, c->model.n, err)) != FR_OK)
        return st;
    if (fr_agg_keeps_state(&c->agg_cfg) && c->version > 0) {
        opt_path(c, c->version, path, sizeof path);
        if (access(path, F_OK) == 0) {
            fr_server_opt_free(&c->opt);
            if ((st = fr_server_opt_load(&c->opt, c->model.n, path, err)) != FR_OK)
                return st;
        } else {
            /* the schedule goes on from the versions published, one step each */
            c->opt.step = c->version;
            fr_coord_log("warning: %s is missing: the %s moments start again from zero", path,
                         c->cfg.aggregator);
        }
    }
    return FR_OK;
}

fr_status fr_coord_publish(fr_coord *c, fr_model_row *mr, double *stretch, fr_err *err)
{
    fr_status st;
    long next = c->version + 1;
    char path[512], opath[512];
    double t0 = fr_coord_now();
    /* the new parameters in a copy, so that a failure leaves the served version whole */
    float *params = malloc(c->model.n * sizeof(float));
    if (!params)
        return fr_fail(err, FR_ENOMEM, "publish: out of memory");
    fr_model_get_params(&c->model, params);
    fr_server_opt opt = {0};
    if ((st = fr_server_opt_init(&opt, c->model.n, err)) != FR_OK)
        goto out;
    memcpy(opt.m, c->opt.m, c->model.n * sizeof(float));
    memcpy(opt.v, c->opt.v, c->model.n * sizeof(float));
    opt.step = c->opt.step;
    if ((st = fr_coord_fdp_step(c, err)) != FR_OK ||
        (st = fr_agg_apply(&c->rd.agg, &c->agg_cfg, &opt, params, err)) != FR_OK)
        goto out;
    *stretch = opt.stretch;
    c->stats.aggregate_seconds += fr_coord_now() - t0;
    fr_model_set_params(&c->model, params);
    c->model.adam_step = 0;
    /* a catalogue version the operator wrote since the last publish goes out with this
     * one: the rows are added between rounds, when no update of the old size is due */
    int folded = 0;
    if ((st = fr_coord_catalogue_fold(c, &opt, &folded, err)) != FR_OK)
        goto restore;
    model_path(c, next, path, sizeof path);
    if ((st = fr_modelfile_save(&c->model, path, 0, err)) != FR_OK)
        goto restore;
    if (fr_agg_keeps_state(&c->agg_cfg)) {
        opt_path(c, next, opath, sizeof opath);
        if ((st = fr_server_opt_save(&opt, opath, err)) != FR_OK)
            goto restore;
    }
    long old_version = c->version;
    if ((st = adopt(c, path, next, err)) != FR_OK) {
        c->version = old_version;
        goto out;
    }
    memset(mr, 0, sizeof *mr);
    mr->version = next;
    mr->round = c->rd.id;
    mr->created_at = fr_coord_now();
    snprintf(mr->path, sizeof mr->path, "%s", path);
    snprintf(mr->sig_hex, sizeof mr->sig_hex, "%s", c->sig_hex);
    fr_server_opt_free(&c->opt);
    c->opt = opt;
    memset(&opt, 0, sizeof opt);
    goto out;
restore:
    /* back to the served parameters */
    {
        fr_err e2 = {{0}};
        fr_model tmp = {0};
        if (fr_modelfile_decode(&tmp, fr_backend_cpu(), c->file, c->file_len, "served model",
                                &e2) == FR_OK) {
            fr_model_free(&c->model);
            c->model = tmp;
        }
    }
out:
    fr_server_opt_free(&opt);
    free(params);
    return st;
}
