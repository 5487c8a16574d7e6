/* The node's behaviour log as the recall server writes it: events posted by the site's
 * applications, appended to FOLDER/events.csv in the events-csv format (docs/data.md,
 * columns user_id,item_id,timestamp,event,value), so that the same folder is training
 * data for the next federated round (`run --events-log FOLDER`).
 *
 * Durability by group commit: appends only copy rows into a pending buffer; one writer
 * thread writes everything pending with one write and one fdatasync, then reports the
 * highest ticket now on disk. A caller acknowledges its events only once their ticket
 * is reported, so every acknowledged event survives a crash or kill -9; while one
 * batch is synced the next one gathers, so many small posts share one sync.
 *
 * A crash can leave the rows of a batch that was never acknowledged cut short at the
 * end of the file: opening the log cuts the file back to its last whole line. */
#ifndef FR_EVENTLOG_H
#define FR_EVENTLOG_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "util/fr_status.h"

#define FR_EVENTLOG_FILE "events.csv"
#define FR_EVENTLOG_HEADER "user_id,item_id,timestamp,event,value\n"
/* Bytes of an id or event name in the log (events-csv's id limit). */
#define FR_EVENTLOG_MAX_ID 256

/* Called on the writer thread after each sync: every ticket <= upto is on disk (st
 * FR_OK), or the log has failed (st, and nothing after it will be written). */
typedef void (*fr_eventlog_done_fn)(void *ctx, uint64_t upto, fr_status st);

typedef struct fr_eventlog {
    int fd;
    pthread_t writer;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t work, synced;
    char *pend; /* rows waiting for the writer */
    size_t pend_len, pend_cap, max_pending;
    uint64_t issued;    /* the last ticket handed out */
    uint64_t committed; /* the last ticket on disk */
    fr_status failed;   /* FR_OK until a write or sync fails */
    int stop;
    uint64_t syncs, bytes; /* group commits and bytes written, for metrics */
    fr_eventlog_done_fn done;
    void *ctx;
} fr_eventlog;

/* Open (creating the folder and the file with its header when new) and start the
 * writer. max_pending caps the bytes waiting for a sync: more is refused (overload).
 * done may be NULL (callers then use fr_eventlog_wait). */
FR_MUST fr_status fr_eventlog_open(fr_eventlog *l, const char *dir, size_t max_pending,
                                   fr_eventlog_done_fn done, void *ctx, fr_err *err);
/* Write what is pending, stop the writer and close. Harmless on a zeroed log. */
void fr_eventlog_close(fr_eventlog *l);

/* Queue len bytes of whole rows (fr_eventlog_format) for the next sync; *ticket is
 * reported once they are on disk. FR_ENOMEM when the pending bytes would pass
 * max_pending, FR_EIO when the log has failed. Any thread. */
FR_MUST fr_status fr_eventlog_append(fr_eventlog *l, const char *rows, size_t len, uint64_t *ticket,
                                     fr_err *err);
/* Block until ticket is on disk (FR_OK) or the log has failed. */
FR_MUST fr_status fr_eventlog_wait(fr_eventlog *l, uint64_t ticket, fr_err *err);

/* One row: user and item quoted (their quotes doubled), ts as a number, event quoted
 * or empty (NULL), value as a number or empty (NAN). Writes at most cap bytes and
 * returns the row's length (a length >= cap means it did not fit). */
size_t fr_eventlog_format(char *buf, size_t cap, const char *user, const char *item, double ts,
                          const char *event, double value);

/* Each row of FOLDER/events.csv in file order: fn(ctx, user, item, ts, event) (event
 * "" when empty); a row the log could not have written (wrong field count, a bad
 * number) fails naming its line. No file: no rows. fn returns FR_OK to go on. */
typedef fr_status (*fr_eventlog_row_fn)(void *ctx, const char *user, const char *item, double ts,
                                        const char *event, fr_err *err);
FR_MUST fr_status fr_eventlog_replay(const char *dir, fr_eventlog_row_fn fn, void *ctx, long *rows,
                                     fr_err *err);

#endif
