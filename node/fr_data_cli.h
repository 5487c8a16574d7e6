/* The data options that train and eval share (docs/data.md): reading and cleaning
 * flags, turned into the fr_data_options that fr_dataset_load takes. A command puts
 * FR_DATA_CLI_OPTS(c) into its option table, calls fr_data_cli_init before parsing
 * and fr_data_cli_finish after. */
#ifndef FR_DATA_CLI_H
#define FR_DATA_CLI_H

#include <float.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include "data/fr_data.h"
#include "util/fr_opts.h"

typedef struct fr_data_cli {
    fr_data_options opt;
    double min_ts, max_ts; /* NAN: not given */
} fr_data_cli;

#define FR_DATA_FORMAT_HELP "data format: movielens-csv, movielens-100k, sasrec, events-csv"

#define FR_DATA_CLI_OPTS(c)                                                                        \
    {"strict", FR_OPT_FLAG, &(c).opt.strict, 0, 0, "stop at the first malformed data row", 0, 0},  \
        {"dedupe",                                                                                 \
         FR_OPT_FLAG,                                                                              \
         &(c).opt.dedupe,                                                                          \
         0,                                                                                        \
         0,                                                                                        \
         "drop repeats of a (user, item, timestamp) event",                                        \
         0,                                                                                        \
         0},                                                                                       \
        {"min-user-events",                                                                        \
         FR_OPT_INT,                                                                               \
         &(c).opt.min_user_events,                                                                 \
         0,                                                                                        \
         INT_MAX,                                                                                  \
         "k-core: drop users with fewer events than this",                                         \
         0,                                                                                        \
         0},                                                                                       \
        {"min-item-events",                                                                        \
         FR_OPT_INT,                                                                               \
         &(c).opt.min_item_events,                                                                 \
         0,                                                                                        \
         INT_MAX,                                                                                  \
         "k-core: drop items with fewer events than this",                                         \
         0,                                                                                        \
         0},                                                                                       \
        {"min-timestamp",                                                                          \
         FR_OPT_DOUBLE,                                                                            \
         &(c).min_ts,                                                                              \
         -DBL_MAX,                                                                                 \
         DBL_MAX,                                                                                  \
         "drop events before this time",                                                           \
         0,                                                                                        \
         0},                                                                                       \
        {"max-timestamp",                                                                          \
         FR_OPT_DOUBLE,                                                                            \
         &(c).max_ts,                                                                              \
         -DBL_MAX,                                                                                 \
         DBL_MAX,                                                                                  \
         "drop events after this time",                                                            \
         0,                                                                                        \
         0},                                                                                       \
        {"event-filter",                                                                           \
         FR_OPT_STR,                                                                               \
         &(c).opt.event_filter,                                                                    \
         0,                                                                                        \
         0,                                                                                        \
         "keep events where FIELD OP VALUE holds (e.g. rating>=4)",                                \
         0,                                                                                        \
         0},                                                                                       \
    {                                                                                              \
        "extra-events", FR_OPT_STR, &(c).opt.extra_events, 0, 0,                                   \
            "also read this events-csv folder (e.g. the recall service's behaviour log)", 0, 0     \
    }

static inline void fr_data_cli_init(fr_data_cli *c)
{
    memset(c, 0, sizeof *c);
    c->min_ts = NAN;
    c->max_ts = NAN;
}

static inline void fr_data_cli_finish(fr_data_cli *c)
{
    c->opt.has_min_timestamp = !isnan(c->min_ts);
    c->opt.has_max_timestamp = !isnan(c->max_ts);
    c->opt.min_timestamp = c->min_ts;
    c->opt.max_timestamp = c->max_ts;
}

#endif
