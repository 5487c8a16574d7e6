/* The behaviour log with group commit (see fr_eventlog.h). */
#include "data/fr_eventlog.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/fr_csv.h"
#include "util/fr_file.h"

static fr_status file_path(char *buf, size_t cap, const char *dir, fr_err *err)
{
    int n = snprintf(buf, cap, "%s/%s", dir, FR_EVENTLOG_FILE);
    if (n < 0 || (size_t)n >= cap)
        return fr_fail(err, FR_EINVAL, "%s: path too long", dir);
    return FR_OK;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A new file gets its header; an old one loses a last line left unfinished by a
 * crash (rows of a batch that was never acknowledged). */
static fr_status prepare(int fd, const char *path, fr_err *err)
{
    struct stat st;
    char buf[4096];
    if (fstat(fd, &st) != 0)
        return fr_fail(err, FR_EIO, "%s: %s", path, strerror(errno));
    if (st.st_size == 0) {
        if (write_all(fd, FR_EVENTLOG_HEADER, strlen(FR_EVENTLOG_HEADER)) != 0 ||
            fdatasync(fd) != 0)
            return fr_fail(err, FR_EIO, "%s: cannot write the header: %s", path, strerror(errno));
        if (fr_file_sync_parent(path) != 0)
            return fr_fail(err, FR_EIO, "%s: cannot sync its folder", path);
        return FR_OK;
    }
    size_t hl = strlen(FR_EVENTLOG_HEADER);
    if ((size_t)st.st_size < hl || pread(fd, buf, hl, 0) != (ssize_t)hl ||
        memcmp(buf, FR_EVENTLOG_HEADER, hl) != 0)
        return fr_fail(err, FR_EFORMAT, "%s: not a behaviour log (its first line is not '%.*s')",
                       path, (int)hl - 1, FR_EVENTLOG_HEADER);
    off_t end = st.st_size;
    while (end > (off_t)hl) {
        off_t from = end - (off_t)sizeof buf < (off_t)hl ? (off_t)hl : end - (off_t)sizeof buf;
        ssize_t n = pread(fd, buf, (size_t)(end - from), from);
        if (n != end - from)
            return fr_fail(err, FR_EIO, "%s: read error", path);
        ssize_t i = n;
        while (i > 0 && buf[i - 1] != '\n')
            i--;
        if (i > 0) {
            end = from + i;
            break;
        }
        end = from;
    }
    if (end != st.st_size) {
        fprintf(stderr, "events: %s: dropping %lld bytes of an unfinished last line\n", path,
                (long long)(st.st_size - end));
        if (ftruncate(fd, end) != 0 || fdatasync(fd) != 0)
            return fr_fail(err, FR_EIO, "%s: cannot cut the unfinished line: %s", path,
                           strerror(errno));
    }
    return FR_OK;
}

static void *writer_main(void *arg)
{
    fr_eventlog *l = arg;
    char *buf = NULL;
    size_t cap = 0;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && l->pend_len == 0)
            pthread_cond_wait(&l->work, &l->mu);
        if (l->pend_len == 0 || l->failed != FR_OK)
            break; /* stopping with nothing left, or failed */
        /* take the pending rows; new ones gather in the other buffer meanwhile */
        char *rows = l->pend;
        size_t len = l->pend_len, rcap = l->pend_cap;
        uint64_t upto = l->issued;
        l->pend = buf;
        l->pend_cap = cap;
        l->pend_len = 0;
        pthread_mutex_unlock(&l->mu);
        fr_status st = FR_OK;
        if (write_all(l->fd, rows, len) != 0 || fdatasync(l->fd) != 0) {
            fprintf(stderr, "events: the log cannot be written: %s\n", strerror(errno));
            st = FR_EIO;
        }
        pthread_mutex_lock(&l->mu);
        buf = rows;
        cap = rcap;
        if (st == FR_OK) {
            l->committed = upto;
            l->syncs++;
            l->bytes += len;
        } else {
            l->failed = st;
        }
        pthread_cond_broadcast(&l->synced);
        fr_eventlog_done_fn done = l->done;
        void *ctx = l->ctx;
        pthread_mutex_unlock(&l->mu);
        if (done)
            done(ctx, upto, st);
        pthread_mutex_lock(&l->mu);
        if (st != FR_OK)
            break;
    }
    pthread_mutex_unlock(&l->mu);
    free(buf);
    return NULL;
}

fr_status fr_eventlog_open(fr_eventlog *l, const char *dir, size_t max_pending,
                           fr_eventlog_done_fn done, void *ctx, fr_err *err)
{
    char path[4200];
    fr_status st;
    memset(l, 0, sizeof *l);
    l->fd = -1;
    if ((st = file_path(path, sizeof path, dir, err)) != FR_OK)
        return st;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return fr_fail(err, FR_EIO, "%s: %s", dir, strerror(errno));
    l->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (l->fd < 0)
        return fr_fail(err, FR_EIO, "%s: %s", path, strerror(errno));
    if ((st = prepare(l->fd, path, err)) != FR_OK) {
        close(l->fd);
        l->fd = -1;
        return st;
    }
    l->max_pending = max_pending ? max_pending : ((size_t)64 << 20);
    l->done = done;
    l->ctx = ctx;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->work, NULL);
    pthread_cond_init(&l->synced, NULL);
    if (pthread_create(&l->writer, NULL, writer_main, l) != 0) {
        fr_eventlog_close(l);
        return fr_fail(err, FR_ENOMEM, "events: cannot start the writer thread");
    }
    l->started = 1;
    return FR_OK;
}

void fr_eventlog_close(fr_eventlog *l)
{
    if (l->fd < 0 && !l->started)
        return;
    if (l->started) {
        pthread_mutex_lock(&l->mu);
        l->stop = 1;
        pthread_cond_broadcast(&l->work);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->writer, NULL);
    }
    if (l->fd >= 0 || l->started) {
        pthread_cond_destroy(&l->work);
        pthread_cond_destroy(&l->synced);
        pthread_mutex_destroy(&l->mu);
    }
    if (l->fd >= 0)
        close(l->fd);
    free(l->pend);
    memset(l, 0, sizeof *l);
    l->fd = -1;
}

fr_status fr_eventlog_append(fr_eventlog *l, const char *rows, size_t len, uint64_t *ticket,
                             fr_err *err)
{
    fr_status st = FR_OK;
    pthread_mutex_lock(&l->mu);
    if (l->failed != FR_OK) {
        st = fr_fail(err, FR_EIO, "the behaviour log cannot be written");
        goto out;
    }
    if (len > l->max_pending - l->pend_len) {
        st = fr_fail(err, FR_ENOMEM, "too many events waiting for the disk");
        goto out;
    }
    if (l->pend_len + len > l->pend_cap) {
        size_t cap = l->pend_cap ? l->pend_cap : 65536;
        while (cap < l->pend_len + len)
            cap *= 2;
        char *p = realloc(l->pend, cap);
        if (!p) {
            st = fr_fail(err, FR_ENOMEM, "out of memory for pending events");
            goto out;
        }
        l->pend = p;
        l->pend_cap = cap;
    }
    memcpy(l->pend + l->pend_len, rows, len);
    l->pend_len += len;
    *ticket = ++l->issued;
    pthread_cond_signal(&l->work);
out:
    pthread_mutex_unlock(&l->mu);
    return st;
}

fr_status fr_eventlog_wait(fr_eventlog *l, uint64_t ticket, fr_err *err)
{
    fr_status st = FR_OK;
    pthread_mutex_lock(&l->mu);
    while (l->committed < ticket && l->failed == FR_OK)
        pthread_cond_wait(&l->synced, &l->mu);
    if (l->committed < ticket)
        st = fr_fail(err, l->failed, "the behaviour log cannot be written");
    pthread_mutex_unlock(&l->mu);
    return st;
}

static size_t put_quoted(char *buf, size_t cap, size_t at, const char *s)
{
    if (at < cap)
        buf[at] = '"';
    at++;
    for (; *s; s++) {
        if (*s == '"') {
            if (at < cap)
                buf[at] = '"';
            at++;
        }
        if (at < cap)
            buf[at] = *s;
        at++;
    }
    if (at < cap)
        buf[at] = '"';
    return at + 1;
}

static size_t put_char(char *buf, size_t cap, size_t at, char c)
{
    if (at < cap)
        buf[at] = c;
    return at + 1;
}

static size_t put_text(char *buf, size_t cap, size_t at, const char *fmt, double v)
{
    char num[40];
    int n = snprintf(num, sizeof num, fmt, v);
    for (int i = 0; i < n; i++, at++)
        if (at < cap)
            buf[at] = num[i];
    return at;
}

size_t fr_eventlog_format(char *buf, size_t cap, const char *user, const char *item, double ts,
                          const char *event, double value)
{
    size_t at = put_quoted(buf, cap, 0, user);
    at = put_char(buf, cap, at, ',');
    at = put_quoted(buf, cap, at, item);
    /* %.17g reads back as the same double; whole seconds print as integers */
    at = put_text(buf, cap, at, ",%.17g,", ts);
    if (event && *event)
        at = put_quoted(buf, cap, at, event);
    at = put_char(buf, cap, at, ',');
    if (!isnan(value))
        at = put_text(buf, cap, at, "%.9g", value);
    at = put_char(buf, cap, at, '\n');
    return at;
}

fr_status fr_eventlog_replay(const char *dir, fr_eventlog_row_fn fn, void *ctx, long *rows,
                             fr_err *err)
{
    char path[4200];
    fr_csv cr;
    fr_csv_field f[6];
    long nf;
    int rc;
    fr_status st;
    *rows = 0;
    if ((st = file_path(path, sizeof path, dir, err)) != FR_OK)
        return st;
    if (fr_csv_open(&cr, path) != FR_OK)
        return errno == ENOENT ? FR_OK : fr_fail(err, FR_EIO, "%s: %s", path, strerror(errno));
    while ((rc = fr_csv_next(&cr, f, 6, &nf)) == 1) {
        if (cr.line_no == 1 || nf == 0)
            continue; /* the header (checked when the log is opened) */
        double ts;
        if (nf != 5 || f[0].n == 0 || f[1].n == 0 || f[0].n > FR_EVENTLOG_MAX_ID ||
            f[1].n > FR_EVENTLOG_MAX_ID || fr_csv_parse_float(f[2].p, f[2].n, &ts) != FR_OK) {
            st = fr_fail(err, FR_EFORMAT, "%s:%ld: not a row of the behaviour log", path,
                         cr.line_no);
            goto out;
        }
        if ((st = fn(ctx, f[0].p, f[1].p, ts, f[3].p, err)) != FR_OK)
            goto out;
        (*rows)++;
    }
    if (rc < 0)
        st = fr_fail(err, FR_EIO, "%s: read error", path);
out:
    fr_csv_close(&cr);
    return st;
}
