/* Table-driven option parsing for the node's subcommands (see fr_opts.h). */
#include "fr_opts.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fr_status parse_value(fr_opt *o, const char *v, fr_err *err)
{
    char *end = NULL;
    errno = 0;
    switch (o->type) {
    case FR_OPT_INT: {
        long x = strtol(v, &end, 10);
        if (end == v || *end || errno)
            return fr_fail(err, FR_EINVAL, "--%s: '%s' is not an integer", o->name, v);
        if ((double)x < o->min || (double)x > o->max)
            return fr_fail(err, FR_EINVAL, "--%s: %s is outside [%.0f, %.0f]", o->name, v, o->min,
                           o->max);
        *(int *)o->dst = (int)x;
        return FR_OK;
    }
    case FR_OPT_U64: {
        if (v[0] == '-')
            return fr_fail(err, FR_EINVAL, "--%s: '%s' is not a non-negative integer", o->name, v);
        unsigned long long x = strtoull(v, &end, 10);
        if (end == v || *end || errno)
            return fr_fail(err, FR_EINVAL, "--%s: '%s' is not a non-negative integer", o->name, v);
        *(uint64_t *)o->dst = (uint64_t)x;
        return FR_OK;
    }
    case FR_OPT_FLOAT:
    case FR_OPT_DOUBLE: {
        double x = strtod(v, &end);
        if (end == v || *end || errno || !isfinite(x))
            return fr_fail(err, FR_EINVAL, "--%s: '%s' is not a number", o->name, v);
        if (x < o->min || x > o->max)
            return fr_fail(err, FR_EINVAL, "--%s: %s is outside [%g, %g]", o->name, v, o->min,
                           o->max);
        if (o->type == FR_OPT_FLOAT)
            *(float *)o->dst = (float)x;
        else
            *(double *)o->dst = x;
        return FR_OK;
    }
    case FR_OPT_STR:
        if (!*v)
            return fr_fail(err, FR_EINVAL, "--%s: empty value", o->name);
        *(const char **)o->dst = v;
        return FR_OK;
    case FR_OPT_FLAG:
        *(int *)o->dst = 1;
        return FR_OK;
    }
    return fr_fail(err, FR_EINVAL, "--%s: unknown option type", o->name);
}

fr_status fr_opts_parse(fr_opt *opts, int argc, char **argv, fr_err *err)
{
    fr_status st;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        /* "-c" is the short form of an option whose name is the one character c */
        int is_short = a[0] == '-' && a[1] && a[1] != '-' && (!a[2] || a[2] == '=');
        if (strncmp(a, "--", 2) != 0 && !is_short)
            return fr_fail(err, FR_EINVAL, "unexpected argument '%s'", a);
        const char *name = a + (is_short ? 1 : 2), *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        fr_opt *o = opts;
        while (o->name && !(strlen(o->name) == len && strncmp(o->name, name, len) == 0))
            o++;
        if (!o->name)
            return fr_fail(err, FR_EINVAL, "unknown option '%.*s' (see --help)",
                           (int)(len + (size_t)(name - a)), a);
        const char *v = "1";
        if (o->type != FR_OPT_FLAG) {
            if (eq)
                v = eq + 1;
            else if (i + 1 < argc)
                v = argv[++i];
            else
                return fr_fail(err, FR_EINVAL, "--%s needs a value", o->name);
        } else if (eq) {
            return fr_fail(err, FR_EINVAL, "--%s takes no value", o->name);
        }
        if ((st = parse_value(o, v, err)) != FR_OK)
            return st;
        o->seen = 1;
    }
    for (fr_opt *o = opts; o->name; o++)
        if (o->required && !o->seen)
            return fr_fail(err, FR_EINVAL, "--%s is required", o->name);
    return FR_OK;
}

void fr_opts_help(const fr_opt *opts, FILE *out)
{
    for (const fr_opt *o = opts; o->name; o++) {
        char def[64] = "";
        switch (o->type) {
        case FR_OPT_INT: snprintf(def, sizeof def, " (default %d)", *(int *)o->dst); break;
        case FR_OPT_U64:
            snprintf(def, sizeof def, " (default %llu)", (unsigned long long)*(uint64_t *)o->dst);
            break;
        case FR_OPT_FLOAT: snprintf(def, sizeof def, " (default %g)", (double)*(float *)o->dst); break;
        case FR_OPT_STR:
            if (*(const char **)o->dst)
                snprintf(def, sizeof def, " (default %s)", *(const char **)o->dst);
            break;
        case FR_OPT_DOUBLE:
            if (!isnan(*(double *)o->dst))
                snprintf(def, sizeof def, " (default %.15g)", *(double *)o->dst);
            break;
        case FR_OPT_FLAG: break;
        }
        if (strlen(o->name) == 1)
            fprintf(out, "  -%s, --%-10s %s%s%s\n", o->name, o->name, o->help,
                    o->required ? " [required]" : "", def);
        else
            fprintf(out, "  --%-14s %s%s%s\n", o->name, o->help, o->required ? " [required]" : "",
                    def);
    }
}

int fr_opts_handle_help(int argc, char **argv, const char *usage, const fr_opt *opts,
                        const char *example)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: %s\n\n", usage);
            fr_opts_help(opts, stdout);
            printf("\nexample:\n  %s\n", example);
            return 1;
        }
    return 0;
}
