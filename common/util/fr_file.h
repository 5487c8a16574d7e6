/* Files that must survive a crash whole: written under a temporary name, flushed to
 * disk, renamed over the real name and the folder synced, so that a reader finds the
 * old contents or the new, never a part. And whole-file reads with a size cap. */
#ifndef FR_FILE_H
#define FR_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "util/fr_status.h"

/* A file being written atomically: write to f, then commit or abort. */
typedef struct fr_atomic_file {
    FILE *f;
    char *path, *tmp;
} fr_atomic_file;

/* Create "path.tmp" with mode (the caller then writes to a->f). */
FR_MUST fr_status fr_atomic_open(fr_atomic_file *a, const char *path, mode_t mode, fr_err *err);
/* Flush, sync, close, rename over path, sync the folder; a is released either way. */
FR_MUST fr_status fr_atomic_commit(fr_atomic_file *a, fr_err *err);
/* Close and remove the temporary file; harmless on a released or zeroed a. */
void fr_atomic_abort(fr_atomic_file *a);

/* The whole of len bytes as path, atomically. */
FR_MUST fr_status fr_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                                       fr_err *err);

/* Sync the folder that holds path, so that a rename in it survives a crash; 0 or -1. */
int fr_file_sync_parent(const char *path);

/* Read all of path into *out (malloc'd, len bytes); FR_ENOMEM when it is larger than
 * max, FR_EIO when it cannot be read. An empty file gives *out NULL and len 0. */
FR_MUST fr_status fr_file_read_all(const char *path, size_t max, uint8_t **out, size_t *len,
                                   fr_err *err);

#endif
