/* fedrecall-node synth: synthetic behaviour data with planted structure, in the
 * movielens-csv layout, so that it goes through the same loader as real data. */
#include <stdio.h>
#include <string.h>

#include "fr_cmd.h"
#include "util/fr_opts.h"
#include "data/fr_synth.h"

int fr_cmd_synth(int argc, char **argv)
{
    fr_synth_config c;
    fr_synth_config_default(&c);
    const char *out = NULL;
    int help = 0;
    fr_opt opts[] = {
        {"users", FR_OPT_INT, &c.users, 1, 1e8, "users", 0, 0},
        {"items", FR_OPT_INT, &c.items, 1, 1e8, "items", 0, 0},
        {"clusters", FR_OPT_INT, &c.clusters, 1, 1e6, "user clusters (taste groups)", 0, 0},
        {"min-events", FR_OPT_INT, &c.min_events, 1, 1e6, "fewest events per user", 0, 0},
        {"max-events", FR_OPT_INT, &c.max_events, 1, 1e6, "most events per user", 0, 0},
        {"seed", FR_OPT_U64, &c.seed, 0, 0, "random seed", 0, 0},
        {"out", FR_OPT_STR, &out, 0, 0, "output folder (ratings.csv, movies.csv)", 1, 0},
        {"help", FR_OPT_FLAG, &help, 0, 0, "show this help", 0, 0},
        {0},
    };
    if (fr_opts_handle_help(argc, argv,
                            "fedrecall-node synth --users U --items I --out DIR [OPTIONS]", opts,
                            "fedrecall-node synth --users 1000 --items 500 --out synth/"))
        return 0;
    fr_err err = {{0}};
    fr_status st = fr_opts_parse(opts, argc, argv, &err);
    if (st == FR_OK)
        st = fr_synth_write(&c, out, &err);
    if (st)
        return fr_cmd_fail("synth", st, err.msg);
    printf("wrote %s/ratings.csv and %s/movies.csv (%d users, %d items)\n", out, out, c.users,
           c.items);
    return 0;
}
