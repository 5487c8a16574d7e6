/* .npy writing and the model's export for the PyTorch peer (format in fr_npy.h). */
#include "nn/fr_npy.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#define NPY_MAX_DIMS 32 /* NumPy's own limit */
#define PATH_BYTES 4096

/* Item size of a descr such as "<f4", or 0 when it is not one this writer can vouch
 * for: the descr goes verbatim into the header between quotes. */
static size_t descr_item_size(const char *d)
{
    if (!d || (d[0] != '<' && d[0] != '>' && d[0] != '|'))
        return 0;
    if (!((d[1] >= 'a' && d[1] <= 'z') || (d[1] >= 'A' && d[1] <= 'Z') || d[1] == '?'))
        return 0;
    size_t n = 0;
    int digits = 0;
    for (const char *p = d + 2; *p; p++, digits++) {
        if (*p < '0' || *p > '9' || digits == 4)
            return 0;
        n = n * 10 + (size_t)(*p - '0');
    }
    return n;
}

fr_status fr_npy_write(const char *path, const char *descr, const size_t *shape, int ndim,
                       const void *data, size_t bytes, fr_err *err)
{
    fr_status st = FR_OK;
    FILE *f = NULL;
    int created = 0;
    char hdr[64 + NPY_MAX_DIMS * 24 + 128];
    size_t item = descr_item_size(descr), items = 1, at;
    if (!item || ndim < 0 || ndim > NPY_MAX_DIMS) {
        st = fr_fail(err, FR_EINVAL, "%s: cannot describe dtype '%s' with %d dimensions", path,
                     descr ? descr : "(null)", ndim);
        goto out;
    }
    for (int d = 0; d < ndim; d++) {
        if (shape[d] && items > SIZE_MAX / shape[d]) {
            st = fr_fail(err, FR_EINVAL, "%s: shape overflows", path);
            goto out;
        }
        items *= shape[d];
    }
    if (items > SIZE_MAX / item || items * item != bytes) {
        st = fr_fail(err, FR_EINVAL, "%s: %zu bytes of data for %zu items of %zu bytes", path,
                     bytes, items, item);
        goto out;
    }
    /* The 10 bytes before the header are magic, version and header length. */
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    at = 10 + (size_t)snprintf(hdr + 10, sizeof hdr - 10,
                               "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int d = 0; d < ndim; d++)
        at += (size_t)snprintf(hdr + at, sizeof hdr - at, "%s%zu", d ? ", " : "", shape[d]);
    at += (size_t)snprintf(hdr + at, sizeof hdr - at, "%s), }", ndim == 1 ? "," : "");
    /* Pad with spaces so that header + '\n' ends on a multiple of 64 (NumPy aligns the
     * data so that it can map it in place). */
    size_t total = (at + 1 + 63) / 64 * 64;
    memset(hdr + at, ' ', total - 1 - at);
    hdr[total - 1] = '\n';
    hdr[8] = (char)((total - 10) & 0xff);
    hdr[9] = (char)((total - 10) >> 8);
    if (!(f = fopen(path, "wb"))) {
        st = fr_fail(err, FR_EIO, "%s: cannot create: %s", path, strerror(errno));
        goto out;
    }
    created = 1;
    if (fwrite(hdr, 1, total, f) != total || (bytes && fwrite(data, 1, bytes, f) != bytes)) {
        st = fr_fail(err, FR_EIO, "%s: cannot write: %s", path, strerror(errno));
        goto out;
    }
    int rc = fclose(f);
    f = NULL;
    if (rc != 0)
        st = fr_fail(err, FR_EIO, "%s: cannot write: %s", path, strerror(errno));
out:
    if (f)
        fclose(f);
    if (st != FR_OK && created)
        remove(path); /* no half-written array for a reader to trip on */
    return st;
}

/* mkdir -p: dir and any missing parents. */
static fr_status make_dirs(const char *dir, fr_err *err)
{
    char buf[PATH_BYTES];
    struct stat sb;
    if ((size_t)snprintf(buf, sizeof buf, "%s", dir) >= sizeof buf || !buf[0])
        return fr_fail(err, FR_EINVAL, "%s: folder name empty or too long", dir);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != 0)
            continue;
        char c = *p;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return fr_fail(err, FR_EIO, "%s: cannot create folder %s: %s", dir, buf,
                           strerror(errno));
        *p = c;
        if (!c)
            break;
    }
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return fr_fail(err, FR_EIO, "%s: not a folder", dir);
    return FR_OK;
}

static int host_is_le(void)
{
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* The files say '<' (little-endian), which is what the peer's machines are; a
 * big-endian host writes byte-swapped copies. */
static fr_status write_le(const char *path, const char *descr, const size_t *shape, int ndim,
                          const void *data, size_t bytes, size_t width, fr_err *err)
{
    if (host_is_le())
        return fr_npy_write(path, descr, shape, ndim, data, bytes, err);
    fr_status st;
    uint8_t *swapped = malloc(bytes ? bytes : 1);
    if (!swapped)
        return fr_fail(err, FR_ENOMEM, "%s: cannot allocate %zu bytes", path, bytes);
    const uint8_t *src = data;
    for (size_t i = 0; i < bytes; i += width)
        for (size_t k = 0; k < width; k++)
            swapped[i + k] = src[i + width - 1 - k];
    st = fr_npy_write(path, descr, shape, ndim, swapped, bytes, err);
    free(swapped);
    return st;
}

/* String ids, one per line, rows 1..V-1 in row order (the peer reads ids as a list
 * in row order either way). A key with a line break would shift every row after it,
 * so it is refused rather than written. */
static fr_status write_keys(const fr_model *m, const char *path, fr_err *err)
{
    fr_status st = FR_OK;
    FILE *f = NULL;
    for (int r = 1; r < m->cfg.num_items; r++)
        if (strpbrk(m->item_keys[r], "\r\n")) {
            st = fr_fail(err, FR_EINVAL, "%s: item key of row %d holds a line break", path, r);
            goto out;
        }
    if (!(f = fopen(path, "wb"))) {
        st = fr_fail(err, FR_EIO, "%s: cannot create: %s", path, strerror(errno));
        goto out;
    }
    for (int r = 1; r < m->cfg.num_items; r++)
        if (fputs(m->item_keys[r], f) == EOF || fputc('\n', f) == EOF)
            break;
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        st = fr_fail(err, FR_EIO, "%s: cannot write: %s", path, strerror(errno));
        remove(path); /* no half a list for a reader to trip on */
    }
out:
    return st;
}

fr_status fr_npy_export(const fr_model *m, const char *dir, fr_err *err)
{
    fr_status st = FR_OK;
    char path[PATH_BYTES];
    float *host = malloc(m->n * sizeof(float));
    if (!host) {
        st = fr_fail(err, FR_ENOMEM, "%s: cannot allocate %zu parameters", dir, m->n);
        goto out;
    }
    if ((st = make_dirs(dir, err)) != FR_OK)
        goto out;
    fr_model_get_params(m, host);
    /* The ids file of the other kind, left by an earlier export, would be read as this
     * model's: it goes. */
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir,
                         m->item_keys ? "item_ids.npy" : "item_keys.txt") >= sizeof path) {
        st = fr_fail(err, FR_EINVAL, "%s: folder name too long", dir);
        goto out;
    }
    if (remove(path) != 0 && errno != ENOENT) {
        st = fr_fail(err, FR_EIO, "%s: cannot remove: %s", path, strerror(errno));
        goto out;
    }
    for (int i = 0; i <= FR_NPARAMS && st == FR_OK; i++) {
        const char *name = i < FR_NPARAMS ? m->p[i].name : "item_ids";
        if ((size_t)snprintf(path, sizeof path, "%s/%s%s", dir,
                             i == FR_NPARAMS && m->item_keys ? "item_keys" : name,
                             i == FR_NPARAMS && m->item_keys ? ".txt" : ".npy") >= sizeof path) {
            st = fr_fail(err, FR_EINVAL, "%s: folder name too long", dir);
            break;
        }
        if (i == FR_NPARAMS && m->item_keys) {
            st = write_keys(m, path, err);
        } else if (i == FR_NPARAMS) {
            /* Row 0 is padding and has no external id; the peer's list starts at row 1. */
            size_t n = (size_t)m->cfg.num_items - 1;
            st = write_le(path, "<i8", &n, 1, m->item_ids + 1, n * sizeof(int64_t), 8, err);
        } else {
            const fr_param *p = &m->p[i];
            size_t shape[3] = {(size_t)p->shape[0], (size_t)p->shape[1], (size_t)p->shape[2]};
            st = write_le(path, "<f4", shape, p->ndim, host + p->offset, p->size * sizeof(float), 4,
                          err);
        }
    }
out:
    free(host);
    return st;
}
