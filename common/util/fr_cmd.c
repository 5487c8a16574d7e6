/* The subcommand table's lookup and usage (see fr_cmd.h). */
#include <string.h>

#include "util/fr_cmd.h"

const fr_cmd *fr_cmd_find(const fr_cmd *table, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(name, table[i].name))
            return &table[i];
    return NULL;
}

int fr_cmd_is_help(const char *arg)
{
    return !strcmp(arg, "--help") || !strcmp(arg, "-h") || !strcmp(arg, "help");
}

void fr_cmd_usage(FILE *out, const char *prog, const fr_cmd *table, size_t n, int width)
{
    fprintf(out, "usage: %s COMMAND [OPTIONS]\n\ncommands:\n", prog);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "  %-*s %s\n", width, table[i].name, table[i].summary);
}
