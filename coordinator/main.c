/* fedrecall-coordinator: the operator's aggregation server. Subcommands from a table:
 * serve (the default when the first argument is an option), report, status, backup. */
#include <signal.h>
#include <stdio.h>

#include "fr_coord.h"
#include "fr_coord_cmd.h"
#include "util/fr_cmd.h"
#include "util/fr_opts.h"

static int cmd_serve(int argc, char **argv)
{
    fr_coord_config cfg;
    fr_coord_config_default(&cfg);
    const char *config = NULL;
    int help = 0;
    fr_opt opts[FR_COORD_NOPTS];
    fr_coord_options(&cfg, opts, &config, &help);
    if (fr_opts_handle_help(
            argc, argv, "fedrecall-coordinator serve [--config FILE] [OPTIONS]", opts,
            "fedrecall-coordinator serve --listen 127.0.0.1:8443 --cert pki/coordinator.crt "
            "--key pki/coordinator.key --ca pki/ca.crt --crl pki/crl.pem --state-dir state"))
        return 0;
    fr_err err = {{0}};
    fr_opts_file file = {0};
    fr_coord c = {0};
    int rc = 1;
    fr_status st = fr_opts_parse_config(opts, argc, argv, &file, &err);
    if (st != FR_OK) {
        fprintf(stderr, "fedrecall-coordinator: %s\n", err.msg);
        rc = 2;
        goto out;
    }
    /* a peer that hangs up mid-response must not kill the server */
    signal(SIGPIPE, SIG_IGN);
    if ((st = fr_coord_init(&c, &cfg, &err)) != FR_OK) {
        fprintf(stderr, "fedrecall-coordinator: %s\n", err.msg);
        rc = st == FR_EINVAL || st == FR_EFORMAT ? 2 : 1;
        goto out;
    }
    if ((st = fr_coord_run(&c, &err)) != FR_OK) {
        fprintf(stderr, "fedrecall-coordinator: %s\n", err.msg);
        goto out;
    }
    rc = 0;
out:
    fr_coord_free(&c);
    fr_opts_file_free(&file);
    return rc;
}

static int cmd_report(int argc, char **argv)
{
    const char *state_dir = "coordinator-state";
    int help = 0;
    fr_opt opts[] = {
        {"state-dir", FR_OPT_STR, &state_dir, 0, 0, "the coordinator's state folder", 0, 0},
        {"help", FR_OPT_FLAG, &help, 0, 0, "show this help", 0, 0},
        {0},
    };
    if (fr_opts_handle_help(argc, argv, "fedrecall-coordinator report [--state-dir DIR]", opts,
                            "fedrecall-coordinator report --state-dir /var/lib/fedrecall"))
        return 0;
    fr_err err = {{0}};
    if (fr_opts_parse(opts, argc, argv, &err) != FR_OK ||
        fr_coord_report(state_dir, stdout, &err) != FR_OK) {
        fprintf(stderr, "fedrecall-coordinator report: %s\n", err.msg);
        return 2;
    }
    return 0;
}

static const fr_cmd commands[] = {
    {"serve", cmd_serve, "run the federation's HTTPS endpoints and rounds (the default)"},
    {"report", cmd_report, "print the rounds recorded in a state folder"},
    {"status", fr_coord_cmd_status, "the federation at a glance from a running coordinator"},
    {"backup", fr_coord_cmd_backup, "copy a state folder consistently while the server runs"},
    {"catalogue", fr_coord_cmd_catalogue, "add, retire or show the federation's items"},
};
#define FR_NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fr_cmd_usage(out, "fedrecall-coordinator", commands, FR_NCOMMANDS, 8);
    fprintf(out,
            "\n'fedrecall-coordinator COMMAND --help' describes a command's options.\n"
            "\nexamples:\n"
            "  fedrecall-coordinator serve --config /etc/fedrecall/coordinator.conf\n"
            "  fedrecall-coordinator report --state-dir /var/lib/fedrecall\n"
            "  fedrecall-coordinator status --url https://fedrecall.example.org:8443 \\\n"
            "      --cert operator.crt --key operator.key --ca ca.crt\n"
            "  fedrecall-coordinator backup --state-dir /var/lib/fedrecall --out BACKUP-FOLDER\n"
            "  fedrecall-coordinator catalogue add --state-dir /var/lib/fedrecall --items NEW\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (fr_cmd_is_help(argv[1])) {
        usage(stdout);
        return 0;
    }
    const fr_cmd *c = fr_cmd_find(commands, FR_NCOMMANDS, argv[1]);
    if (c)
        return c->run(argc - 2, argv + 2);
    if (argv[1][0] == '-')
        return cmd_serve(argc - 1, argv + 1);
    fprintf(stderr, "fedrecall-coordinator: unknown command '%s' (see --help)\n", argv[1]);
    return 2;
}
