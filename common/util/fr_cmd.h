/* Programs made of subcommands (fedrecall-node, fedrecall-coordinator): one table type
 * for the commands, the lookup by name and the usage's command list, so that every
 * program dispatches and lists its commands the same way. */
#ifndef FR_UTIL_CMD_H
#define FR_UTIL_CMD_H

#include <stddef.h>
#include <stdio.h>

typedef struct fr_cmd {
    const char *name;
    /* Runs the command on the arguments after its name; returns the exit code. */
    int (*run)(int argc, char **argv);
    const char *summary; /* one line for the usage */
} fr_cmd;

/* The entry of table (n entries) called name, or NULL when there is none. */
const fr_cmd *fr_cmd_find(const fr_cmd *table, size_t n, const char *name);

/* Whether arg asks for the program's usage: "--help", "-h" or "help". */
int fr_cmd_is_help(const char *arg);

/* "usage: PROG COMMAND [OPTIONS]", then "commands:" and one line per entry of table,
 * its name padded to width columns; the program adds its own examples after it. */
void fr_cmd_usage(FILE *out, const char *prog, const fr_cmd *table, size_t n, int width);

#endif
