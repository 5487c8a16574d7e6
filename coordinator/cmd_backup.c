/* fedrecall-coordinator backup: a consistent copy of a coordinator's state folder,
 * taken while the coordinator runs. The database is copied with SQLite's online
 * backup (a snapshot of one instant; the server goes on writing meanwhile), then the
 * files that snapshot relies on: the signing key, the model checkpoints and server
 * optimiser states in models/, the initial model, and the updates of the round it
 * shows open. A publish between the snapshot and the file copy may remove a file the
 * snapshot needs (keep-models, a closed round's updates): the copy then checks for
 * each such file and starts again, so that a backup that says it is done restores.
 *
 * The backup folder is a state folder: restoring is copying it back in place of the
 * state folder, at the same path (the database records the files' paths), with the
 * coordinator stopped (docs/operations.md). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fr_coord_cmd.h"
#include "util/fr_file.h"
#include "util/fr_opts.h"
#include "fr_store.h"

#define BACKUP_ATTEMPTS 5
#define PATH_CAP 4600

typedef struct backup_tally {
    int files;
    double bytes;
} backup_tally;

/* Copy src to dst (mode 0600) through a temporary file; *missing = 1 (and FR_OK) when
 * src does not exist. */
static fr_status copy_file(const char *src, const char *dst, int *missing, backup_tally *t,
                           fr_err *err)
{
    *missing = 0;
    FILE *in = fopen(src, "rb");
    if (!in) {
        if (errno == ENOENT) {
            *missing = 1;
            return FR_OK;
        }
        return fr_fail(err, FR_EIO, "%s: %s", src, strerror(errno));
    }
    fr_atomic_file a;
    fr_status st = fr_atomic_open(&a, dst, 0600, err);
    if (st != FR_OK) {
        fclose(in);
        return st;
    }
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        if (fwrite(buf, 1, n, a.f) != n) {
            st = fr_fail(err, FR_EIO, "%s: cannot write: %s", dst, strerror(errno));
            break;
        }
        t->bytes += (double)n;
    }
    if (st == FR_OK && ferror(in))
        st = fr_fail(err, FR_EIO, "%s: cannot read", src);
    fclose(in);
    if (st != FR_OK) {
        fr_atomic_abort(&a);
        return st;
    }
    if ((st = fr_atomic_commit(&a, err)) == FR_OK)
        t->files++;
    return st;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The database as of one instant, into out/coordinator.db, checked whole. */
static fr_status snapshot_db(const char *state_dir, const char *out, fr_err *err)
{
    char src[PATH_CAP], dst[PATH_CAP];
    snprintf(src, sizeof src, "%s/%s", state_dir, FR_STORE_FILE);
    snprintf(dst, sizeof dst, "%s/%s", out, FR_STORE_FILE);
    sqlite3 *from = NULL, *to = NULL;
    sqlite3_backup *b = NULL;
    sqlite3_stmt *q = NULL;
    fr_status st = FR_OK;
    unlink(dst);
    int fd = open(dst, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600); /* it names every node */
    if (fd < 0)
        return fr_fail(err, FR_EIO, "%s: %s", dst, strerror(errno));
    close(fd);
    /* read-write, so that a WAL database is read with its log, but never created */
    if (sqlite3_open_v2(src, &from, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        st = fr_fail(err, FR_EIO, "%s: %s", src, from ? sqlite3_errmsg(from) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(from, FR_STORE_BUSY_MS);
    if (sqlite3_open_v2(dst, &to, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        st = fr_fail(err, FR_EIO, "%s: %s", dst, to ? sqlite3_errmsg(to) : "out of memory");
        goto out;
    }
    if (!(b = sqlite3_backup_init(to, "main", from, "main"))) {
        st = fr_fail(err, FR_EIO, "%s: cannot start the backup: %s", dst, sqlite3_errmsg(to));
        goto out;
    }
    int rc;
    /* all pages in one step: one consistent read of the source */
    while ((rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED)
        sqlite3_sleep(50);
    rc = sqlite3_backup_finish(b);
    b = NULL;
    if (rc != SQLITE_OK) {
        st = fr_fail(err, FR_EIO, "%s: backup of %s failed: %s", dst, src, sqlite3_errstr(rc));
        goto out;
    }
    if (sqlite3_prepare_v2(to, "PRAGMA integrity_check", -1, &q, NULL) != SQLITE_OK ||
        sqlite3_step(q) != SQLITE_ROW ||
        strcmp((const char *)sqlite3_column_text(q, 0), "ok") != 0) {
        st = fr_fail(err, FR_EIO, "%s: the copy fails its integrity check", dst);
        goto out;
    }
out:
    sqlite3_finalize(q);
    if (b)
        sqlite3_backup_finish(b);
    sqlite3_close(to);
    sqlite3_close(from);
    return st;
}

/* Copy every regular file of state_dir/sub whose name starts with one of the
 * prefixes into out/sub. */
static fr_status copy_folder(const char *state_dir, const char *out, const char *sub,
                             const char *const *prefixes, backup_tally *t, fr_err *err)
{
    char dir[1024], src[PATH_CAP], dst[PATH_CAP];
    snprintf(dir, sizeof dir, "%.400s/%.100s", out, sub);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return fr_fail(err, FR_EIO, "%s: %s", dir, strerror(errno));
    snprintf(dir, sizeof dir, "%.400s/%.100s", state_dir, sub);
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? FR_OK : fr_fail(err, FR_EIO, "%s: %s", dir, strerror(errno));
    fr_status st = FR_OK;
    struct dirent *e;
    while (st == FR_OK && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        int wanted = 0;
        for (const char *const *p = prefixes; *p; p++)
            wanted |= !strncmp(e->d_name, *p, strlen(*p));
        /* a file being written atomically is not one yet */
        if (!wanted || (len > 4 && !strcmp(e->d_name + len - 4, ".tmp")))
            continue;
        snprintf(src, sizeof src, "%s/%s", dir, e->d_name);
        snprintf(dst, sizeof dst, "%.400s/%.100s/%s", out, sub, e->d_name);
        struct stat sb;
        if (stat(src, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        int missing = 0;
        st = copy_file(src, dst, &missing, t, err);
    }
    closedir(d);
    return st;
}

/* Whether out holds every file the snapshot in out needs; *why names the first gap. */
static fr_status check_complete(const char *out, int *complete, char *why, size_t cap,
                                long *version, long *rounds, fr_err *err)
{
    fr_store s = {0};
    fr_model_row m;
    fr_round_row r;
    fr_update_row *u = NULL;
    int found = 0, nu = 0;
    char path[PATH_CAP];
    *complete = 1;
    fr_status st = fr_store_open(&s, out, err);
    if (st != FR_OK)
        return st;
    if ((st = fr_store_model_latest(&s, &m, &found, err)) != FR_OK ||
        (st = fr_store_last_round_id(&s, rounds, err)) != FR_OK)
        goto out;
    *version = found ? m.version : -1;
    if (found) {
        snprintf(path, sizeof path, "%s/models/%s", out, base_name(m.path));
        if (access(path, R_OK) != 0) {
            *complete = 0;
            snprintf(why, cap, "model version %ld (%.100s) is gone", m.version, base_name(m.path));
            goto out;
        }
    }
    if ((st = fr_store_round_open_get(&s, &r, &found, err)) != FR_OK || !found)
        goto out;
    if ((st = fr_store_updates(&s, r.id, &u, &nu, err)) != FR_OK)
        goto out;
    for (int i = 0; i < nu; i++) {
        snprintf(path, sizeof path, "%s/rounds/%ld/%s", out, r.id, base_name(u[i].path));
        if (access(path, R_OK) != 0) {
            *complete = 0;
            snprintf(why, cap, "an update of round %ld is gone", r.id);
            break;
        }
    }
out:
    free(u);
    fr_store_close(&s);
    return st;
}

/* Remove what an incomplete attempt left in out (files only two levels deep). */
static void clear(const char *out)
{
    char dir[PATH_CAP], path[PATH_CAP + 300];
    const char *subs[] = {"models", "rounds", ""};
    for (int k = 0; k < 3; k++) {
        snprintf(dir, sizeof dir, "%s/%s", out, subs[k]);
        DIR *d = opendir(dir);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') {
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                unlink(path);
            }
        closedir(d);
    }
}

static fr_status backup(const char *state_dir, const char *out, fr_err *err)
{
    static const char *const model_files[] = {"model-", "server-opt-", NULL};
    static const char *const top_files[] = {"signing.key", "signing.pub", "initial-model.frm"};
    char src[PATH_CAP], dst[PATH_CAP], why[256] = "";
    fr_status st = FR_OK;
    snprintf(src, sizeof src, "%s/%s", state_dir, FR_STORE_FILE);
    if (access(src, R_OK) != 0)
        return fr_fail(err, FR_EINVAL, "%s: no coordinator database here: %s", src,
                       strerror(errno));
    /* the folders above it, private like the backup (e.g. /var/backups/fedrecall) */
    char parent[PATH_CAP];
    snprintf(parent, sizeof parent, "%s", out);
    for (char *p = parent + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(parent, 0700) != 0 && errno != EEXIST)
                return fr_fail(err, FR_EIO, "%s: %s", parent, strerror(errno));
            *p = '/';
        }
    if (mkdir(out, 0700) != 0)
        return fr_fail(err, errno == EEXIST ? FR_EINVAL : FR_EIO,
                       "%s: %s (a backup goes into a new folder)", out, strerror(errno));
    for (int attempt = 1; attempt <= BACKUP_ATTEMPTS; attempt++) {
        backup_tally t = {0};
        long version = -1, rounds = 0;
        int complete = 0, missing = 0;
        if ((st = snapshot_db(state_dir, out, err)) != FR_OK)
            return st;
        for (int i = 0; i < 3 && st == FR_OK; i++) {
            snprintf(src, sizeof src, "%s/%s", state_dir, top_files[i]);
            snprintf(dst, sizeof dst, "%s/%s", out, top_files[i]);
            st = copy_file(src, dst, &missing, &t, err);
            if (missing && i == 0)
                fprintf(stderr,
                        "fedrecall-coordinator backup: warning: %s is absent (a "
                        "signing-key outside the state folder?): back that key up too\n",
                        src);
        }
        if (st == FR_OK)
            st = copy_folder(state_dir, out, "models", model_files, &t, err);
        /* the open round's updates, as far as the snapshot knows it */
        fr_store s = {0};
        fr_round_row r = {0};
        int found = 0;
        if (st == FR_OK && (st = fr_store_open(&s, out, err)) == FR_OK) {
            st = fr_store_round_open_get(&s, &r, &found, err);
            fr_store_close(&s);
        }
        if (st == FR_OK && found) {
            static const char *const any[] = {"", NULL};
            char sub[64];
            snprintf(dst, sizeof dst, "%s/rounds", out);
            mkdir(dst, 0700);
            snprintf(sub, sizeof sub, "rounds/%ld", r.id);
            st = copy_folder(state_dir, out, sub, any, &t, err);
        }
        if (st == FR_OK)
            st = check_complete(out, &complete, why, sizeof why, &version, &rounds, err);
        if (st != FR_OK)
            return st;
        if (complete) {
            printf("backup of %s in %s: model version %ld, %ld rounds, database and %d files "
                   "(%.1f MB)\n",
                   state_dir, out, version, rounds, t.files, t.bytes / 1e6);
            return FR_OK;
        }
        fprintf(stderr, "fedrecall-coordinator backup: attempt %d: %s; taking it again\n", attempt,
                why);
        clear(out);
    }
    return fr_fail(err, FR_EIO, "%s: the state changed under every one of %d attempts (%s)",
                   state_dir, BACKUP_ATTEMPTS, why);
}

int fr_coord_cmd_backup(int argc, char **argv)
{
    const char *state_dir = NULL, *out = NULL;
    int help = 0;
    fr_opt opts[] = {
        {"state-dir", FR_OPT_STR, &state_dir, 0, 0, "the coordinator's state folder", 1, 0},
        {"out", FR_OPT_STR, &out, 0, 0, "the backup folder to create (must not exist)", 1, 0},
        {"help", FR_OPT_FLAG, &help, 0, 0, "show this help", 0, 0},
        {0},
    };
    if (fr_opts_handle_help(argc, argv, "fedrecall-coordinator backup --state-dir DIR --out DIR",
                            opts,
                            "fedrecall-coordinator backup --state-dir /var/lib/fedrecall "
                            "--out /var/backups/fedrecall/2026-11-29"))
        return 0;
    fr_err err = {{0}};
    fr_status st = fr_opts_parse(opts, argc, argv, &err);
    if (st == FR_OK && strlen(state_dir) > 400)
        st = fr_fail(&err, FR_EINVAL, "--state-dir: longer than 400 bytes");
    if (st == FR_OK && strlen(out) > 400)
        st = fr_fail(&err, FR_EINVAL, "--out: longer than 400 bytes");
    if (st == FR_OK)
        st = backup(state_dir, out, &err);
    if (st == FR_OK)
        return 0;
    fprintf(stderr, "fedrecall-coordinator backup: %s\n", err.msg);
    return st == FR_EINVAL ? 2 : 1;
}
