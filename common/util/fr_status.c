/* Status strings and the one place error messages are formatted. */
#include "util/fr_status.h"

#include <stdarg.h>

const char *fr_status_str(fr_status s)
{
    switch (s) {
    case FR_OK: return "ok";
    case FR_EINVAL: return "invalid argument";
    case FR_EIO: return "i/o error";
    case FR_ENOMEM: return "out of memory";
    case FR_EFORMAT: return "malformed input";
    case FR_EVERSION: return "unsupported version";
    case FR_ECHECKSUM: return "checksum mismatch";
    case FR_ENODATA: return "no data";
    }
    return "unknown status";
}

fr_status fr_fail(fr_err *err, fr_status s, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return s;
}
