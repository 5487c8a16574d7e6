/* File helpers shared by the tests that write and read back files. */
#ifndef FR_TEST_FILES_H
#define FR_TEST_FILES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static inline int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* The whole file, malloc'd (NULL if it cannot be opened); *len its size. */
static inline uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    *len = 0;
    if (f && fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        rewind(f);
        buf = malloc(n > 0 ? (size_t)n : 1);
        if (buf)
            *len = fread(buf, 1, n > 0 ? (size_t)n : 0, f);
    }
    if (f)
        fclose(f);
    return buf;
}

static inline void write_all(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(buf, 1, len, f);
        fclose(f);
    }
}

#endif
