/* Model files (format in fr_modelfile.h): the checksum both directions use, and
 * saving; loading is in fr_modelfile_load.c. The body is written with msgpack-c's
 * packer straight to the file, so saving never holds a second copy of the model. */
#include "nn/fr_modelfile.h"
#include "util/fr_file.h"

#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nn/fr_modelfile_int.h"

/* Slicing-by-8: t[0] is the classic byte table, t[k] advances a byte through k more
 * zero bytes, so eight bytes cost eight lookups and one dependency step instead of
 * eight; the checksum runs over every byte of every save and load. */
static void crc_tables(uint32_t t[8][256])
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
        t[0][i] = c;
    }
    for (int k = 1; k < 8; k++)
        for (int i = 0; i < 256; i++)
            t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xff];
}

static uint32_t crc_update(const uint32_t t[8][256], uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    crc = ~crc;
    for (; len >= 8; p += 8, len -= 8) {
        uint32_t a = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                            (uint32_t)p[3] << 24);
        uint32_t b =
            (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        crc = t[7][a & 0xff] ^ t[6][(a >> 8) & 0xff] ^ t[5][(a >> 16) & 0xff] ^ t[4][a >> 24] ^
              t[3][b & 0xff] ^ t[2][(b >> 8) & 0xff] ^ t[1][(b >> 16) & 0xff] ^ t[0][b >> 24];
    }
    for (; len; p++, len--)
        crc = t[0][(crc ^ *p) & 0xff] ^ (crc >> 8);
    return ~crc;
}

uint32_t fr_modelfile_crc32(uint32_t crc, const void *buf, size_t len)
{
    uint32_t t[8][256];
    crc_tables(t);
    return crc_update(t, crc, buf, len);
}

size_t fr_mf_stage_size(const fr_model *m)
{
    size_t big = (size_t)m->cfg.num_items * (size_t)m->cfg.num_tokens * 4;
    if ((size_t)m->cfg.num_items * 8 > big)
        big = (size_t)m->cfg.num_items * 8;
    for (int i = 0; i < FR_NPARAMS; i++)
        if (m->p[i].size * 4 > big)
            big = m->p[i].size * 4;
    big = (big + 7) & ~(size_t)7;
    return big < FR_MF_STAGE_BYTES ? big : FR_MF_STAGE_BYTES;
}

/* ---- saving ---------------------------------------------------------------------- */

typedef struct writer {
    FILE *f;
    uint32_t crc;
    uint64_t len;
    int err; /* errno of the first failed write; later writes are skipped */
    uint32_t table[8][256];
} writer;

static int writer_cb(void *data, const char *buf, size_t len)
{
    writer *w = data;
    if (w->err)
        return -1;
    if (len && fwrite(buf, 1, len, w->f) != len) {
        w->err = errno ? errno : EIO;
        return -1;
    }
    w->crc = crc_update(w->table, w->crc, buf, len);
    w->len += len;
    return 0;
}

static void pack_cstr(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

/* The body of a bin: count numbers of width 4 or 8, little-endian, passed through the
 * staging buffer a piece at a time so that saving never needs a host copy of a whole
 * buffer. be: src is that backend's memory; NULL: host memory. */
static void pack_le(msgpack_packer *pk, const fr_backend *be, const void *src, size_t count,
                    int width, uint8_t *stage, size_t stage_len)
{
    const uint8_t *s = src;
    size_t per = stage_len / (size_t)width;
    for (size_t i = 0; i < count; i += per) {
        size_t k = count - i < per ? count - i : per, bytes = k * (size_t)width;
        if (be)
            be->download(stage, s + i * (size_t)width, bytes);
        else
            memcpy(stage, s + i * (size_t)width, bytes);
        fr_mf_le_in_place(stage, k, width);
        msgpack_pack_bin_body(pk, stage, bytes);
    }
}

static void pack_body(msgpack_packer *pk, const fr_model *m, unsigned flags, size_t total,
                      uint8_t *stage, size_t stage_len)
{
    const fr_model_config *c = &m->cfg;
    size_t ntok = (size_t)c->num_items * (size_t)c->num_tokens;
    int opt = (flags & FR_MODELFILE_OPTIMIZER) != 0;
    int cat = fr_mf_has_catalogue(m);
    msgpack_pack_map(pk, (opt ? 10 : 8) + (m->item_keys != NULL) + cat);
    pack_cstr(pk, "format");
    pack_cstr(pk, FR_MF_FORMAT_NAME);
    pack_cstr(pk, "version");
    msgpack_pack_uint32(pk, fr_mf_version(m));
    pack_cstr(pk, "config");
    msgpack_pack_map(pk, 5);
    const char *ck[5] = {"num_items", "token_vocab", "num_tokens", "dim", "filters"};
    const int cv[5] = {c->num_items, c->token_vocab, c->num_tokens, c->dim, c->filters};
    for (int i = 0; i < 5; i++) {
        pack_cstr(pk, ck[i]);
        msgpack_pack_int(pk, cv[i]);
    }
    pack_cstr(pk, "adam_step");
    msgpack_pack_long(pk, m->adam_step);
    pack_cstr(pk, "item_ids");
    msgpack_pack_bin(pk, (size_t)c->num_items * 8);
    pack_le(pk, NULL, m->item_ids, (size_t)c->num_items, 8, stage, stage_len);
    if (m->item_keys) {
        pack_cstr(pk, "item_keys");
        msgpack_pack_array(pk, (size_t)c->num_items);
        for (int r = 0; r < c->num_items; r++)
            pack_cstr(pk, m->item_keys[r]);
    }
    pack_cstr(pk, "item_tokens");
    msgpack_pack_bin(pk, ntok * 4);
    pack_le(pk, NULL, m->item_tokens, ntok, 4, stage, stage_len);
    pack_cstr(pk, "tensors");
    msgpack_pack_array(pk, FR_NPARAMS);
    for (int i = 0; i < FR_NPARAMS; i++) {
        const fr_param *p = &m->p[i];
        msgpack_pack_map(pk, 3);
        pack_cstr(pk, "name");
        pack_cstr(pk, p->name);
        pack_cstr(pk, "shape");
        msgpack_pack_array(pk, (size_t)p->ndim);
        for (int k = 0; k < p->ndim; k++)
            msgpack_pack_int(pk, p->shape[k]);
        pack_cstr(pk, "data");
        msgpack_pack_bin(pk, p->size * 4);
        pack_le(pk, m->be, m->params + p->offset, p->size, 4, stage, stage_len);
    }
    for (int k = 0; opt && k < 2; k++) {
        /* One bin per moment: the views' elements without the padding between them. */
        pack_cstr(pk, k ? "adam_v" : "adam_m");
        msgpack_pack_bin(pk, total * 4);
        for (int i = 0; i < FR_NPARAMS; i++)
            pack_le(pk, m->be, (k ? m->adam_v : m->adam_m) + m->p[i].offset, m->p[i].size, 4, stage,
                    stage_len);
    }
    if (cat) {
        pack_cstr(pk, "catalogue");
        msgpack_pack_map(pk, m->n_reused > 0 ? 3 : 2);
        pack_cstr(pk, "version");
        msgpack_pack_long(pk, m->catalogue_version);
        pack_cstr(pk, "retired");
        msgpack_pack_bin(pk, (size_t)c->num_items);
        if (m->item_retired) {
            msgpack_pack_bin_body(pk, m->item_retired, (size_t)c->num_items);
        } else {
            for (size_t left = (size_t)c->num_items; left > 0;) {
                size_t k = left < stage_len ? left : stage_len;
                memset(stage, 0, k);
                msgpack_pack_bin_body(pk, stage, k);
                left -= k;
            }
        }
        if (m->n_reused > 0) {
            pack_cstr(pk, "reused");
            msgpack_pack_array(pk, (size_t)m->n_reused);
            for (int i = 0; i < m->n_reused; i++) {
                msgpack_pack_array(pk, 3);
                msgpack_pack_int32(pk, m->item_reused[i].row);
                msgpack_pack_long(pk, m->item_reused[i].version);
                pack_cstr(pk, m->item_reused[i].old_key);
            }
        }
    }
    char created[32] = "unknown";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm))
        strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    pack_cstr(pk, "meta");
    msgpack_pack_map(pk, 2);
    pack_cstr(pk, "producer");
    pack_cstr(pk, "fedrecall");
    pack_cstr(pk, "created");
    pack_cstr(pk, created);
}

fr_status fr_modelfile_save(const fr_model *m, const char *path, unsigned flags, fr_err *err)
{
    fr_status st = FR_OK;
    uint8_t *stage = NULL;
    fr_atomic_file af = {0};
    FILE *f = NULL;
    writer w;
    memset(&w, 0, sizeof w);
    FR_ASSERT(m && m->be && m->params && path);
    const fr_model_config *c = &m->cfg;
    if (flags & ~(unsigned)FR_MODELFILE_OPTIMIZER) {
        st = fr_fail(err, FR_EINVAL, "%s: unknown save flags 0x%x", path, flags);
        goto out;
    }
    if (m->adam_step < 0) {
        st = fr_fail(err, FR_EINVAL, "%s: adam_step %ld is negative", path, m->adam_step);
        goto out;
    }
    size_t total = 0;
    for (int i = 0; i < FR_NPARAMS; i++)
        total += m->p[i].size;
    /* Refuse here what a reader would refuse, rather than write a file nobody loads. */
    uint64_t tok_bytes = (uint64_t)c->num_items * (uint64_t)c->num_tokens * 4;
    uint64_t payload = (uint64_t)total * 4 * ((flags & FR_MODELFILE_OPTIMIZER) ? 3 : 1) +
                       (uint64_t)c->num_items * 9 + tok_bytes;
    for (int r = 0; m->item_keys && r < c->num_items; r++)
        payload += strlen(m->item_keys[r]) + 5; /* a str head is at most 5 bytes */
    for (int i = 0; i < m->n_reused; i++)
        payload += strlen(m->item_reused[i].old_key) + 24;
    if (payload + 65536 > FR_MODELFILE_MAX_BODY || tok_bytes > UINT32_MAX ||
        (uint64_t)total * 4 > UINT32_MAX) {
        st = fr_fail(err, FR_ENOMEM,
                     "%s: a model of %zu parameters is too large for a "
                     "model file",
                     path, total);
        goto out;
    }
    size_t stage_len = fr_mf_stage_size(m);
    stage = malloc(stage_len);
    if (!stage) {
        st = fr_fail(err, FR_ENOMEM, "%s: cannot allocate buffers to save the model", path);
        goto out;
    }
    if ((st = fr_atomic_open(&af, path, 0644, err)) != FR_OK)
        goto out;
    f = af.f;
    const char *tmp = af.tmp;
    uint8_t hdr[FR_MODELFILE_HEADER_BYTES] = {0};
    if (fwrite(hdr, 1, sizeof hdr, f) != sizeof hdr) {
        st = fr_fail(err, FR_EIO, "%s: cannot write %s: %s", path, tmp, strerror(errno));
        goto out;
    }
    w.f = f;
    crc_tables(w.table);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &w, writer_cb);
    pack_body(&pk, m, flags, total, stage, stage_len);
    if (w.err) {
        st = fr_fail(err, FR_EIO, "%s: cannot write %s: %s", path, tmp, strerror(w.err));
        goto out;
    }
    memcpy(hdr, FR_MODELFILE_MAGIC, 8);
    fr_mf_put_le(hdr + 8, fr_mf_version(m), 4);
    fr_mf_put_le(hdr + 12, 0, 4);
    fr_mf_put_le(hdr + 16, w.len, 8);
    fr_mf_put_le(hdr + 24, w.crc, 4);
    if (fseek(f, 0, SEEK_SET) != 0 || fwrite(hdr, 1, sizeof hdr, f) != sizeof hdr) {
        st = fr_fail(err, FR_EIO, "%s: cannot write %s: %s", path, tmp, strerror(errno));
        goto out;
    }
    st = fr_atomic_commit(&af, err);
out:
    fr_atomic_abort(&af);
    free(stage);
    return st;
}
