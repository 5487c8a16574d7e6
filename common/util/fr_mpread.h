/* A read cursor over a msgpack buffer, for reading untrusted input against a fixed
 * schema without materialising objects. A general unpacker builds every object of
 * the input before the caller can check any of it, so a crafted buffer of many small
 * objects can exhaust memory; this cursor allocates nothing, reads one item head at a
 * time, never reads past the end of the buffer, and hands each array or map count to
 * the caller, which checks it against its schema before walking the elements.
 *
 * Every failure returns FR_EFORMAT and writes a message of the form
 * "NAME: ...", where NAME names the input (a file, usually) and the input itself is
 * called the body. */
#ifndef FR_MPREAD_H
#define FR_MPREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/fr_status.h"

/* Item types. NIL is 0, so that a zeroed item reads as "absent". A negative integer
 * is NEG; a non-negative one is UINT whichever encoding it came in. */
typedef enum fr_mpread_type {
    FR_MPREAD_NIL,
    FR_MPREAD_BOOL,
    FR_MPREAD_UINT,
    FR_MPREAD_NEG,
    FR_MPREAD_FLOAT,
    FR_MPREAD_STR,
    FR_MPREAD_BIN,
    FR_MPREAD_ARRAY,
    FR_MPREAD_MAP,
    FR_MPREAD_EXT,
} fr_mpread_type;

/* One item's head. A str, bin, ext or float payload lies inside the buffer (its
 * length already checked) and is only pointed at; the elements of an array or map
 * follow as the next items. */
typedef struct fr_mpread_item {
    fr_mpread_type type;
    uint64_t u;         /* UINT: the value; STR/BIN/EXT: payload bytes; FLOAT: 4 or 8
                         * (payload bytes, big-endian); ARRAY/MAP: element or pair count */
    int64_t i;          /* NEG: the value (always < 0) */
    const uint8_t *ptr; /* STR/BIN/EXT/FLOAT: the payload, inside the buffer */
} fr_mpread_item;

/* The cursor. It owns nothing: the buffer, name and err belong to the caller and must
 * outlive it. A caller may use name and err for messages of its own (a count against
 * its schema); p and end move only through the functions below. */
typedef struct fr_mpread {
    const uint8_t *p, *end; /* the unread bytes */
    const char *name;       /* the input, for messages */
    fr_err *err;            /* where failures are described (may be NULL) */
} fr_mpread;

/* The size of fr_mpread_show_str's out: up to 40 bytes of a string and a 0. */
#define FR_MPREAD_SHOWN 41

/* Start r at the first of len bytes of buf (buf may be NULL when len is 0). */
void fr_mpread_init(fr_mpread *r, const void *buf, size_t len, const char *name, fr_err *err);

/* Bytes not yet read. */
size_t fr_mpread_left(const fr_mpread *r);

/* "integer", "string", ...: a type as messages name it. */
const char *fr_mpread_type_name(fr_mpread_type t);

/* Read the next item's head into it, stepping over its payload (str, bin, ext, float)
 * but not into an array's or map's elements. what names the place for messages.
 * FR_EFORMAT when the buffer ends inside the item or its byte starts no msgpack item;
 * the cursor's position is then unspecified. */
FR_MUST fr_status fr_mpread_next(fr_mpread *r, fr_mpread_item *it, const char *what);

/* As fr_mpread_next, and the item must be of type want; want UINT accepts any
 * integer, negative ones too. */
FR_MUST fr_status fr_mpread_expect(fr_mpread *r, fr_mpread_item *it, fr_mpread_type want,
                                   const char *what);

/* The next item, an integer in [lo, hi], into *out (left alone on failure). */
FR_MUST fr_status fr_mpread_int(fr_mpread *r, const char *what, int64_t lo, int64_t hi,
                                int64_t *out);

/* The next item, a map key: a string equal to one of the n keys (n at most 32) whose
 * bit in *seen is clear. Its bit is then set and *idx is its index. */
FR_MUST fr_status fr_mpread_key(fr_mpread *r, const char *what, const char *const *keys, int n,
                                unsigned *seen, int *idx);

/* FR_EFORMAT naming the first of the n keys whose bit is set in required but not in
 * seen; FR_OK when there is none. */
FR_MUST fr_status fr_mpread_missing(const fr_mpread *r, const char *what, const char *const *keys,
                                    int n, unsigned seen, unsigned required);

/* Whether string item it holds exactly the bytes of s. */
bool fr_mpread_str_is(const fr_mpread_item *it, const char *s);

/* String item it cut to FR_MPREAD_SHOWN - 1 bytes, bytes outside printable ASCII
 * replaced by '?', for quoting input in a message. */
void fr_mpread_show_str(char out[FR_MPREAD_SHOWN], const fr_mpread_item *it);

#endif
