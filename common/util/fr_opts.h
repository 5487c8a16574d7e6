/* Command-line options from a declarative table: each option names its type and
 * bounds, and a value that does not parse whole or lies outside them is refused with
 * a one-line message quoting it ("--batch: '1e12' is not an integer"). */
#ifndef FR_OPTS_H
#define FR_OPTS_H

#include <stdint.h>

#include "util/fr_status.h"

typedef enum fr_opt_type {
    FR_OPT_INT,
    FR_OPT_U64,
    FR_OPT_FLOAT,
    FR_OPT_STR,
    FR_OPT_FLAG,
    FR_OPT_DOUBLE, /* for values a float cannot hold exactly, such as Unix times; a NaN
                    * default means "not given" and is shown as no default */
} fr_opt_type;

typedef struct fr_opt {
    const char *name; /* without the leading dashes; a one-character name c is also
                       * accepted as -c (not "h": -h asks for help) */
    fr_opt_type type;
    void *dst;       /* int*, uint64_t*, float*, const char**, int*, double* */
    double min, max; /* bounds for numbers (inclusive) */
    const char *help;
    int required;
    int seen; /* set by the parser */
} fr_opt;

/* Parse argv[0..argc) against opts (terminated by a NULL name); a flag is set by its
 * name, or to a value by --flag=true|false (yes|no, on|off, 1|0). Returns FR_EINVAL
 * with a message for an unknown option, a missing value, a bad number or a missing
 * required option. */
FR_MUST fr_status fr_opts_parse(fr_opt *opts, int argc, char **argv, fr_err *err);

/* Print the options of a table, one per line, with their help and defaults. */
void fr_opts_help(const fr_opt *opts, FILE *out);

/* When argv holds --help or -h: print the usage line, the options and an example
 * on stdout and return 1 (the command then exits 0); else return 0. */
int fr_opts_handle_help(int argc, char **argv, const char *usage, const fr_opt *opts,
                        const char *example);

/* Values read from configuration files, which string options point into: the caller
 * keeps it until it is done with the options, then frees it. */
typedef struct fr_opts_file {
    char **strs;
    int n;
} fr_opts_file;

/* Set options from an INI file: "key = value" lines, '#' or ';' comments, optional
 * [section] headers. A key names an option as on the command line (with - or _);
 * under [S], key K is option S-K when there is one, else K. Flags take true/false
 * (yes/no, on/off, 1/0). An unknown key or a bad value fails naming path:line. */
FR_MUST fr_status fr_opts_load_file(fr_opt *opts, const char *path, fr_opts_file *store,
                                    fr_err *err);

/* The table's --config FILE (when argv has one) first, then argv over it: the
 * command line overrides the file. */
FR_MUST fr_status fr_opts_parse_config(fr_opt *opts, int argc, char **argv, fr_opts_file *store,
                                       fr_err *err);
void fr_opts_file_free(fr_opts_file *f);

#endif
