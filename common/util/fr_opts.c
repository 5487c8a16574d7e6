/* Table-driven option parsing for the programs' subcommands, from the command line
 * and from configuration files (see fr_opts.h). */
#include "util/fr_opts.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
    case FR_OPT_FLAG: *(int *)o->dst = 1; return FR_OK;
    }
    return fr_fail(err, FR_EINVAL, "--%s: unknown option type", o->name);
}

static int parse_bool(const char *v, int *out);

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
            /* a flag that is on by default is turned off with --flag=false */
            if (!parse_bool(eq + 1, (int *)o->dst))
                return fr_fail(err, FR_EINVAL, "--%s: '%s' is not true or false", o->name, eq + 1);
            o->seen = 1;
            continue;
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
        case FR_OPT_FLOAT:
            snprintf(def, sizeof def, " (default %g)", (double)*(float *)o->dst);
            break;
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

/* Flags in a file say what they mean; on the command line their presence does. */
static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"}, *const no[] = {"0", "false", "no",
                                                                                "off"};
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(v, yes[i]))
            return *out = 1, 1;
        if (!strcasecmp(v, no[i]))
            return *out = 0, 1;
    }
    return 0;
}

typedef struct file_ctx {
    fr_opt *opts;
    fr_opts_file *store;
    const char *path;
    fr_err *err;
    fr_status st;
    int line;
} file_ctx;

static fr_opt *find_opt(fr_opt *opts, const char *name)
{
    for (fr_opt *o = opts; o->name; o++)
        if (!strcmp(o->name, name))
            return o;
    return NULL;
}

static int on_key(void *user, const char *section, const char *key, const char *value, int line)
{
    file_ctx *c = user;
    char name[300], plain[128];
    /* "[dp] noise" is option dp-noise; keys are written with _ or -, options with - */
    snprintf(plain, sizeof plain, "%s", key);
    for (char *p = plain; *p; p++)
        if (*p == '_')
            *p = '-';
    snprintf(name, sizeof name, "%s%s%s", section, *section ? "-" : "", plain);
    fr_opt *o = find_opt(c->opts, name);
    if (!o && *section)
        o = find_opt(c->opts, plain);
    if (!o || !strcmp(o->name, "config") || !strcmp(o->name, "help")) {
        c->st = fr_fail(c->err, FR_EINVAL, "%s:%d: unknown key '%s'%s%s%s", c->path, line, key,
                        *section ? " in [" : "", section, *section ? "]" : "");
        return 0;
    }
    if (o->type == FR_OPT_FLAG) {
        if (!parse_bool(value, (int *)o->dst)) {
            c->st = fr_fail(c->err, FR_EINVAL, "%s:%d: %s: '%s' is not true or false", c->path,
                            line, key, value);
            return 0;
        }
        o->seen = 1;
        return 1;
    }
    const char *v = value;
    if (o->type == FR_OPT_STR) {
        char **grown = realloc(c->store->strs, (size_t)(c->store->n + 1) * sizeof *grown);
        if (!grown || !(grown[c->store->n] = strdup(value))) {
            if (grown)
                c->store->strs = grown;
            c->st = fr_fail(c->err, FR_ENOMEM, "%s: out of memory", c->path);
            return 0;
        }
        c->store->strs = grown;
        v = grown[c->store->n++];
    }
    fr_err inner = {{0}};
    if ((c->st = parse_value(o, v, &inner)) != FR_OK) {
        fr_fail(c->err, c->st, "%s:%d: %s", c->path, line, inner.msg);
        return 0;
    }
    o->seen = 1;
    return 1;
}

/* inih reports the line of the first failure but not to the handler; count it ourselves */
static int on_key_counted(void *user, const char *section, const char *key, const char *value)
{
    file_ctx *c = user;
    return on_key(user, section, key, value, c->line);
}

static char *reader(char *str, int num, void *stream)
{
    file_ctx *c = ((void **)stream)[1];
    char *r = fgets(str, num, ((void **)stream)[0]);
    if (r)
        c->line++;
    return r;
}

fr_status fr_opts_load_file(fr_opt *opts, const char *path, fr_opts_file *store, fr_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fr_fail(err, FR_EIO, "%s: %s", path, strerror(errno));
    file_ctx c = {opts, store, path, err, FR_OK, 0};
    void *stream[2] = {f, &c};
    int rc = ini_parse_stream(reader, stream, on_key_counted, &c);
    fclose(f);
    if (c.st != FR_OK)
        return c.st;
    if (rc < 0)
        return fr_fail(err, FR_EIO, "%s: cannot read", path);
    if (rc > 0)
        return fr_fail(err, FR_EINVAL, "%s:%d: not a 'key = value' or '[section]' line", path, rc);
    return FR_OK;
}

fr_status fr_opts_parse_config(fr_opt *opts, int argc, char **argv, fr_opts_file *store,
                               fr_err *err)
{
    const char *path = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            path = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9))
            path = argv[i] + 9;
    }
    fr_status st;
    if (path && (st = fr_opts_load_file(opts, path, store, err)) != FR_OK)
        return st;
    return fr_opts_parse(opts, argc, argv, err);
}

void fr_opts_file_free(fr_opts_file *f)
{
    for (int i = 0; i < f->n; i++)
        free(f->strs[i]);
    free(f->strs);
    f->strs = NULL;
    f->n = 0;
}
