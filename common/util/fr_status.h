/* Status codes and error messages shared by every module.
 * A function that can fail returns fr_status (FR_OK = 0) and, when given an
 * fr_err, writes one human-readable line naming the file, line or field at fault. */
#ifndef FR_STATUS_H
#define FR_STATUS_H

#include <stdio.h>
#include <stdlib.h>

typedef enum fr_status {
    FR_OK = 0,
    FR_EINVAL = -1,    /* bad argument or flag */
    FR_EIO = -2,       /* a file could not be opened, read or written */
    FR_ENOMEM = -3,    /* allocation failed or a size cap was exceeded */
    FR_EFORMAT = -4,   /* malformed input (data row, model file) */
    FR_EVERSION = -5,  /* a file of an unsupported format version */
    FR_ECHECKSUM = -6, /* a file whose checksum does not match its contents */
    FR_ENODATA = -7,   /* input with nothing usable in it */
} fr_status;

#define FR_ERR_LEN 512
typedef struct fr_err {
    char msg[FR_ERR_LEN];
} fr_err;

#define FR_MUST __attribute__((warn_unused_result))

const char *fr_status_str(fr_status s);

/* Record a formatted message in err (may be NULL) and return s, so that a failure
 * path reads `return fr_fail(err, FR_EIO, "%s: %s", path, strerror(errno));`. */
fr_status fr_fail(fr_err *err, fr_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A broken internal contract (never bad input) stops the program with its place. */
#define FR_ASSERT(c)                                                                               \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: internal error: %s\n", __FILE__, __LINE__, #c);                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
