/* The operator's subcommands of fedrecall-coordinator besides serve and report: each
 * takes its arguments after the command name and returns the process exit code
 * (0 done, 1 failed, 2 bad usage or input). */
#ifndef FR_COORD_CMD_H
#define FR_COORD_CMD_H

/* status: the federation at a glance from a running coordinator, over mutual TLS. */
int fr_coord_cmd_status(int argc, char **argv);
/* backup: a consistent copy of a state folder, taken while the coordinator runs. */
int fr_coord_cmd_backup(int argc, char **argv);

/* catalogue: add, retire or show the federation's items (docs/catalogue.md). */
int fr_coord_cmd_catalogue(int argc, char **argv);

#endif
