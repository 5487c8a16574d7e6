/* Model files: the recall model (fr_model) saved to and loaded from one versioned,
 * self-describing, checksummed file, so that a node can stop and resume, and a
 * trained model can be handed to evaluation or serving without retraining.
 *
 * File format, version 4
 * ======================
 * Version 2 adds "item_keys"; version 3 adds "catalogue"; version 4 adds its
 * "reused" records. A writer uses version 4 only for a model with a reclaimed row,
 * version 3 only for a model that has a catalogue version or retired items, so that
 * nodes of an older build refuse such a model by its version, and read every other
 * one; version 1 to 3 files are still read.
 *
 * A fixed 28-byte header, then a MessagePack body. All integers of the header and
 * all numbers inside bin payloads are little-endian.
 *
 *   offset  size  field
 *   0       8     magic "FRMODEL\n" (46 52 4d 4f 44 45 4c 0a)
 *   8       4     format version, uint32 (2; readers also take 1)
 *   12      4     header flags, uint32 (0; a reader refuses bits it does not know)
 *   16      8     body length in bytes, uint64
 *   24      4     CRC-32 of the body, uint32 (IEEE 802.3: reflected polynomial
 *                 0xEDB88320, initial value and final xor 0xFFFFFFFF; the CRC of
 *                 "123456789" is 0xCBF43926)
 *   28      ...   body: exactly "body length" bytes, nothing after it
 *
 * The body is one msgpack map. Keys may come in any order; each at most once; a key
 * not listed here is refused (a new field means a new format version).
 *
 *   "format"      str   "fedrecall-model"
 *   "version"     int   2 (or 1), equal to the header's version
 *   "config"      map   {"num_items": V, "token_vocab": Vt, "num_tokens": T,
 *                        "dim": d, "filters": F}, all int, in the ranges of
 *                        fr_model_config_check (V and Vt count the padding row 0)
 *   "adam_step"   int   optimiser steps taken (>= 0); kept even without the moments,
 *                       where a trainer that resumes should start its count again
 *   "item_ids"    bin   V int64: external id of each row (row 0, padding, is 0); with
 *                       "item_keys" present the ids are the keys and these carry no
 *                       meaning (the trainer writes 0s)
 *   "item_keys"   array optional, version 2: V str, the external ids as strings (row 0
 *                       ""; the others non-empty, at most 1024 bytes, no NUL), present
 *                       when the data's item ids are not all integers
 *   "item_tokens" bin   V*T int32: content token rows of each item, row-major,
 *                       each in [0, Vt); row 0 (padding) all 0
 *   "tensors"     array of 10 maps {"name": str, "shape": [int...], "data": bin},
 *                       in the model's parameter order: E_id (V,d), E_tok (Vt,d),
 *                       conv_w (F,d,3), conv_b (F), W_proj (d,F), b_proj (d),
 *                       gru_W_ih (3d,d), gru_W_hh (3d,d), gru_b_ih (3d), gru_b_hh (3d);
 *                       data is float32, C order, exactly prod(shape)*4 bytes
 *   "adam_m"      bin   optional, with "adam_v": Adam's first moments, float32, the
 *                       tensors' elements concatenated in the order above
 *   "adam_v"      bin   optional, with "adam_m": Adam's second moments, same layout
 *   "catalogue"   map   optional, version 3: {"version": int >= 0, the federation's
 *                       catalogue version the rows follow; "retired": bin of V bytes,
 *                       1 for a retired item (never recalled), else 0; row 0 is 0;
 *                       version 4, optional: "reused": array of [row int, version
 *                       int, old str], oldest first: row `row` held the retired item
 *                       `old` until catalogue version `version` reclaimed it
 *                       (docs/catalogue.md)}
 *   "meta"        map   optional, str -> str (e.g. "producer", "created" as UTC
 *                       ISO 8601); informational, readers ignore its contents
 *
 * Bin payloads carry no alignment; readers copy numbers out byte by byte. Writers
 * emit the keys in the order above and the version they write is 4 with "reused", 3
 * with a "catalogue", else 2; readers must not depend on the order. */
#ifndef FR_MODELFILE_H
#define FR_MODELFILE_H

#include <stddef.h>
#include <stdint.h>

#include "backend/fr_backend.h"
#include "nn/fr_model.h"
#include "util/fr_status.h"

#define FR_MODELFILE_MAGIC "FRMODEL\n"
#define FR_MODELFILE_VERSION 4u
#define FR_MODELFILE_HEADER_BYTES 28u
/* The largest body a reader accepts: it is read whole into memory. */
#define FR_MODELFILE_MAX_BODY ((uint64_t)8 << 30)

/* Flags of fr_modelfile_save. */
enum {
    FR_MODELFILE_OPTIMIZER = 1u, /* also save Adam's moments, for an exact resume */
};

/* Write m to path atomically: the file is written as "path.tmp", flushed to disk and
 * renamed over path (then the folder is synced), so a crash leaves either the old
 * file or the new one, never a part. flags: FR_MODELFILE_* bits. */
FR_MUST fr_status fr_modelfile_save(const fr_model *m, const char *path, unsigned flags,
                                    fr_err *err);

/* Read the model file at path into m, a fresh model allocated on backend be
 * (fr_model_init, parameters and, when the file has them, Adam's moments uploaded).
 * Every failure returns a status and a message that starts with path: FR_EIO (cannot
 * open or read), FR_EFORMAT (not a model file, truncated, malformed body),
 * FR_EVERSION (a newer format), FR_ECHECKSUM (corrupt body), FR_ENOMEM. On failure m
 * is left zeroed (fr_model_free on it is harmless). */
FR_MUST fr_status fr_modelfile_load(fr_model *m, const fr_backend *be, const char *path,
                                    fr_err *err);

/* As fr_modelfile_load, from a whole file image of len bytes held in memory; name
 * stands for the path in messages. Nothing of data is kept after the call. */
FR_MUST fr_status fr_modelfile_decode(fr_model *m, const fr_backend *be, const void *data,
                                      size_t len, const char *name, fr_err *err);

/* CRC-32 (IEEE) of len bytes, continuing from crc: start with 0, feed pieces in order. */
uint32_t fr_modelfile_crc32(uint32_t crc, const void *buf, size_t len);

#endif
