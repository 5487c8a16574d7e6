/* fedrecall-node: the program a partner site runs. Subcommands from a table. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fr_cmd.h"
#include "util/fr_cmd.h"
#include "util/fr_status.h"

static const fr_cmd commands[] = {
    {"train", fr_cmd_train, "train the recall model on local behaviour data"},
    {"eval", fr_cmd_eval, "evaluate a model file on local data"},
    {"synth", fr_cmd_synth, "generate synthetic behaviour data with planted structure"},
    {"export", fr_cmd_export, "write a model's parameters as .npy files"},
    {"privacy", fr_cmd_privacy, "privacy accounting: epsilon, noise for a budget, ledger status"},
    {"run", fr_cmd_run, "take part in the federation: train rounds, send updates over mTLS"},
    {"recall", fr_cmd_recall, "top-K items for local users (model, itemcf, popular, mix)"},
    {"init-model", fr_cmd_init_model, "build a federation's initial model from an item file"},
    {"serve", fr_cmd_serve, "serve top-K recall and take behaviour events over HTTP"},
};
#define FR_NCOMMANDS (sizeof commands / sizeof commands[0])

int fr_cmd_exit_code(int status)
{
    switch (status) {
    case FR_EINVAL:
    case FR_EIO:
    case FR_EFORMAT:
    case FR_EVERSION:
    case FR_ECHECKSUM:
    case FR_ENODATA: return 2;
    default: return 1;
    }
}

int fr_cmd_fail(const char *cmd, int status, const char *msg)
{
    fprintf(stderr, "fedrecall-node %s: %s\n", cmd, msg);
    return fr_cmd_exit_code(status);
}

static void usage(FILE *out)
{
    fr_cmd_usage(out, "fedrecall-node", commands, FR_NCOMMANDS, 11);
    fprintf(out, "\n'fedrecall-node COMMAND --help' describes a command's options.\n"
                 "\nexamples:\n"
                 "  fedrecall-node synth --users 2000 --items 800 --out /tmp/synth\n"
                 "  fedrecall-node train --data /tmp/synth --format movielens-csv "
                 "--model-out /tmp/model.frm\n"
                 "  fedrecall-node run --config /etc/fedrecall/node.conf\n");
}

int main(int argc, char **argv)
{
    /* The OpenMP runtime reads its wait policy when it loads, before main. Its default
     * busy-waits between parallel regions, which on a machine whose other cores are
     * busy costs several times the work itself; passive waiting costs little when
     * idle. So unless the operator chose a policy, run again with the passive one. */
    if (!getenv("OMP_WAIT_POLICY")) {
        setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
        execv("/proc/self/exe", argv);
        /* no /proc: carry on with the default policy */
    }
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
    fprintf(stderr, "fedrecall-node: unknown command '%s' (see fedrecall-node --help)\n", argv[1]);
    return 2;
}
