/* The node's subcommands. Each returns the process exit code: 0 on success, 2 for
 * bad usage or input (one line on stderr), 1 for any other failure. */
#ifndef FR_CMD_H
#define FR_CMD_H

int fr_cmd_train(int argc, char **argv);
int fr_cmd_eval(int argc, char **argv);
int fr_cmd_synth(int argc, char **argv);
int fr_cmd_export(int argc, char **argv);
int fr_cmd_privacy(int argc, char **argv);
int fr_cmd_recall(int argc, char **argv);
int fr_cmd_run(int argc, char **argv);
int fr_cmd_init_model(int argc, char **argv);
int fr_cmd_serve(int argc, char **argv);

/* Exit code for a status: 2 for bad input, 1 otherwise. */
int fr_cmd_exit_code(int status);

/* Print "fedrecall-node CMD: MSG" on stderr and return the exit code for status. */
int fr_cmd_fail(const char *cmd, int status, const char *msg);

#endif
