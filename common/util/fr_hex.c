/* Hex encoding of bytes (fr_hex.h). */
#include "util/fr_hex.h"

#include <string.h>

void fr_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = 0;
}

fr_status fr_hex_decode(const char *hex, uint8_t *out, size_t n, fr_err *err)
{
    size_t len = strlen(hex);
    if (len != 2 * n)
        return fr_fail(err, FR_EFORMAT, "%zu hex digits where %zu belong", len, 2 * n);
    for (size_t i = 0; i < n; i++) {
        int hi = fr_hex_digit(hex[2 * i]), lo = fr_hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return fr_fail(err, FR_EFORMAT, "not a hex digit at %zu", 2 * i + (hi >= 0));
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return FR_OK;
}
