/* What the two halves of the model-file code share: saving (fr_modelfile.c) and
 * loading (fr_modelfile_load.c) must agree on the body's format name, on the byte
 * order of numbers in bin payloads and on the staging buffer. Not for other modules:
 * they see only fr_modelfile.h. */
#ifndef FR_MODELFILE_INT_H
#define FR_MODELFILE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nn/fr_model.h"

#define FR_MF_FORMAT_NAME "fedrecall-model"
#define FR_MF_STAGE_BYTES ((size_t)1 << 20) /* host staging of backend memory, both ways */

static inline void fr_mf_put_le(uint8_t *dst, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        dst[i] = (uint8_t)(v >> (8 * i));
}

/* Host order <-> little-endian, in place, for count numbers of width 4 or 8: the same
 * byte permutation both ways (none at all on a little-endian host). Inline, so that
 * where it changes nothing the compiler is free to drop it. */
static inline void fr_mf_le_in_place(uint8_t *buf, size_t count, int width)
{
    for (size_t i = 0; i < count; i++) {
        uint8_t *e = buf + i * (size_t)width;
        uint64_t v;
        if (width == 4) {
            uint32_t w;
            memcpy(&w, e, 4);
            v = w;
        } else {
            memcpy(&v, e, 8);
        }
        fr_mf_put_le(e, v, width);
    }
}

/* A model that follows a catalogue version or has retired items is written as version
 * 3 with a "catalogue" entry; any other as version 2, which older builds read. */
static inline int fr_mf_has_catalogue(const fr_model *m)
{
    return m->catalogue_version > 0 || m->item_retired != NULL;
}

/* The version a model is written as: 4 when a row was reclaimed (the catalogue entry
 * carries its reuse records, which a node of an older build must not skip), 3 with a
 * catalogue, else 2. */
static inline uint32_t fr_mf_version(const fr_model *m)
{
    return m->n_reused > 0 ? 4u : fr_mf_has_catalogue(m) ? 3u : 2u;
}

/* The staging buffer's size for m: FR_MF_STAGE_BYTES, or less for a model whose
 * largest array is smaller (a multiple of 8, so that it holds whole numbers of either
 * width). */
size_t fr_mf_stage_size(const fr_model *m);

#endif
