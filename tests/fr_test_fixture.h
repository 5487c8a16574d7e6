/* Fixture folders for the data tests: a fresh mkdtemp folder, files written into it
 * byte for byte, and removal of the whole tree afterwards. */
#ifndef FR_TEST_FIXTURE_H
#define FR_TEST_FIXTURE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A new folder under /tmp into buf (at least 64 bytes); 0 when it cannot be made. */
static inline int fixture_dir(char *buf, size_t cap)
{
    snprintf(buf, cap, "/tmp/fr_fixture_XXXXXX");
    return mkdtemp(buf) != NULL;
}

/* dir/name holding len bytes of data; 0 when it cannot be written. */
static inline int fixture_put(const char *dir, const char *name, const void *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, len, f) == len;
    if (f && fclose(f) != 0)
        ok = 0;
    return ok;
}

static inline int fixture_text(const char *dir, const char *name, const char *text)
{
    return fixture_put(dir, name, text, strlen(text));
}

static inline int fixture_rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* Removes dir and everything under it. */
static inline void fixture_rm(const char *dir)
{
    nftw(dir, fixture_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
