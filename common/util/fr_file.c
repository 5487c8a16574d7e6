/* Atomic file writes and capped whole-file reads (fr_file.h). */
#include "util/fr_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fr_file_sync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if ((size_t)(slash - path) >= sizeof dir)
        return 0; /* too long to name; the rename itself has happened */
    else
        snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    /* Some file systems cannot sync a folder (EINVAL); nothing more can be done there. */
    int rc = fsync(fd) != 0 && errno != EINVAL ? -1 : 0;
    close(fd);
    return rc;
}

fr_status fr_atomic_open(fr_atomic_file *a, const char *path, mode_t mode, fr_err *err)
{
    memset(a, 0, sizeof *a);
    size_t n = strlen(path);
    a->path = malloc(n + 1);
    a->tmp = malloc(n + 5);
    if (!a->path || !a->tmp) {
        fr_atomic_abort(a);
        return fr_fail(err, FR_ENOMEM, "%s: out of memory", path);
    }
    memcpy(a->path, path, n + 1);
    snprintf(a->tmp, n + 5, "%s.tmp", path);
    int fd = open(a->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0 || !(a->f = fdopen(fd, "wb"))) {
        fr_status st =
            fr_fail(err, FR_EIO, "%s: cannot create %s: %s", path, a->tmp, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(a->tmp);
        }
        free(a->path);
        free(a->tmp);
        memset(a, 0, sizeof *a);
        return st;
    }
    return FR_OK;
}

void fr_atomic_abort(fr_atomic_file *a)
{
    if (a->f) {
        fclose(a->f);
        unlink(a->tmp);
    }
    free(a->path);
    free(a->tmp);
    memset(a, 0, sizeof *a);
}

fr_status fr_atomic_commit(fr_atomic_file *a, fr_err *err)
{
    fr_status st = FR_OK;
    int ok = fflush(a->f) == 0 && fsync(fileno(a->f)) == 0;
    ok = fclose(a->f) == 0 && ok;
    a->f = NULL;
    if (!ok) {
        st = fr_fail(err, FR_EIO, "%s: cannot write %s: %s", a->path, a->tmp, strerror(errno));
        unlink(a->tmp);
    } else if (rename(a->tmp, a->path) != 0) {
        st = fr_fail(err, FR_EIO, "%s: cannot rename %s over it: %s", a->path, a->tmp,
                     strerror(errno));
        unlink(a->tmp);
    } else if (fr_file_sync_parent(a->path) != 0) {
        st = fr_fail(err, FR_EIO, "%s: saved, but cannot sync its folder: %s", a->path,
                     strerror(errno));
    }
    fr_atomic_abort(a);
    return st;
}

fr_status fr_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                               fr_err *err)
{
    fr_atomic_file a;
    fr_status st = fr_atomic_open(&a, path, mode, err);
    if (st != FR_OK)
        return st;
    if (len && fwrite(data, 1, len, a.f) != len) {
        st = fr_fail(err, FR_EIO, "%s: cannot write %s: %s", path, a.tmp, strerror(errno));
        fr_atomic_abort(&a);
        return st;
    }
    return fr_atomic_commit(&a, err);
}

fr_status fr_file_read_all(const char *path, size_t max, uint8_t **out, size_t *len, fr_err *err)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return fr_fail(err, FR_EIO, "%s: %s", path, strerror(errno));
    struct stat sb;
    fr_status st = FR_OK;
    if (fstat(fileno(f), &sb) != 0) {
        st = fr_fail(err, FR_EIO, "%s: %s", path, strerror(errno));
    } else if ((uint64_t)sb.st_size > max) {
        st = fr_fail(err, FR_ENOMEM, "%s: %lld bytes, more than the %zu allowed", path,
                     (long long)sb.st_size, max);
    } else if (sb.st_size > 0) {
        uint8_t *buf = malloc((size_t)sb.st_size);
        if (!buf)
            st = fr_fail(err, FR_ENOMEM, "%s: out of memory", path);
        else if (fread(buf, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
            st = fr_fail(err, FR_EIO, "%s: short read", path);
            free(buf);
        } else {
            *out = buf;
            *len = (size_t)sb.st_size;
        }
    }
    fclose(f);
    return st;
}
