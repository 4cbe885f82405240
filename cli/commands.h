/*
 * The subcommands of the `flamewatch` binary. main.c only dispatches: each command parses
 * its own arguments (argv[0] is the command name) and returns the process exit status.
 * Exit statuses follow one rule across commands: 0 success, 1 failure at run time (a file
 * that cannot be read, a corrupt profile), 2 usage errors (bad flag or value).
 */
#ifndef FW_COMMANDS_H
#define FW_COMMANDS_H

int fw_cmd_run(int argc, char **argv);
int fw_cmd_convert(int argc, char **argv);
int fw_cmd_server(int argc, char **argv);
int fw_cmd_query(int argc, char **argv);
int fw_cmd_diff(int argc, char **argv);
int fw_cmd_sql(int argc, char **argv);
int fw_cmd_analyze(int argc, char **argv);
int fw_cmd_ask(int argc, char **argv);

#endif
