/* Bytes written as lowercase hex, and read back: keys and signatures in files and
 * messages (model signatures), certificate fingerprints (a node's roster). */
#ifndef FR_HEX_H
#define FR_HEX_H

#include <stddef.h>
#include <stdint.h>

#include "util/fr_status.h"

/* out (2n + 1 chars) = in[0..n) in lowercase hex, NUL-terminated. */
void fr_hex_encode(const uint8_t *in, size_t n, char *out);
/* Exactly 2n hex digits (either case) into out[0..n); FR_EFORMAT naming the place. */
FR_MUST fr_status fr_hex_decode(const char *hex, uint8_t *out, size_t n, fr_err *err);

/* 0..15, or -1 for a character that is not a hex digit (either case). */
static inline int fr_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
