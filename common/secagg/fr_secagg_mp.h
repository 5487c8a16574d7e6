/* The msgpack writers and bounded readers that secure aggregation's messages share
 * (fr_secagg_msg.c, fr_secagg_check.c, fr_secagg_round.c). Internal to those files. */
#ifndef FR_SECAGG_MP_H
#define FR_SECAGG_MP_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util/fr_mpread.h"
#include "util/fr_status.h"

static inline void fr_secagg_mp_pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static inline void fr_secagg_mp_pack_bin(msgpack_packer *pk, const uint8_t *p, size_t n)
{
    msgpack_pack_bin(pk, n);
    msgpack_pack_bin_body(pk, p, n);
}

/* The map head of every message: nkeys keys, the first two "v" (FR_SECAGG_VERSION)
 * and "round". */
static inline void fr_secagg_mp_pack_head(msgpack_packer *pk, msgpack_sbuffer *sb, size_t nkeys,
                                          uint32_t round, int version)
{
    msgpack_packer_init(pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(pk, nkeys);
    fr_secagg_mp_pack_str(pk, "v");
    msgpack_pack_int(pk, version);
    fr_secagg_mp_pack_str(pk, "round");
    msgpack_pack_uint32(pk, round);
}

/* A bin of exactly want bytes; *p points into the input. */
FR_MUST fr_status fr_secagg_mp_read_bytes(fr_mpread *r, const char *what, size_t want,
                                          const uint8_t **p);
/* An array of at most n entries. */
FR_MUST fr_status fr_secagg_mp_read_list(fr_mpread *r, const char *what, int n, int *count);
/* One list entry: an array of exactly k items. */
FR_MUST fr_status fr_secagg_mp_read_tuple(fr_mpread *r, const char *what, uint64_t k);
/* The id (1..n) of entry i of a list, greater than the one before (prev). */
FR_MUST fr_status fr_secagg_mp_read_entry_id(fr_mpread *r, const char *what, int n, int i, int prev,
                                             int *id);

/* The key loop of every decoder: keys[0] is "v" (FR_SECAGG_VERSION), keys[1] "round";
 * field() reads the others; every key must be present once, nothing may follow. */
typedef fr_status (*fr_secagg_mp_field_fn)(fr_mpread *r, int idx, int n, void *msg);
FR_MUST fr_status fr_secagg_mp_walk(const void *buf, size_t len, const char *name,
                                    const char *const *keys, int nk, int n, void *msg,
                                    uint32_t *round, fr_secagg_mp_field_fn field, fr_err *err);

#endif
