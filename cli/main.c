/*
 * flamewatch: one binary, many subcommands. This file only dispatches; each command lives in
 * its own cmd_*.c and owns its argument parsing (see commands.h for the exit-status rules).
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} fw_command;

static const fw_command fw_commands[] = {
    {"run", fw_cmd_run, "run a Python program under the profiling agent"},
    {"convert", fw_cmd_convert, "merge pprof files and print them as folded stacks or JSON"},
    {"server", fw_cmd_server, "run the profile server (ingest, query API, console)"},
    {"query", fw_cmd_query, "fetch a merged profile from a server (folded, JSON, table or pprof)"},
    {"diff", fw_cmd_diff, "compare two time ranges or label sets on a server"},
    {"sql", fw_cmd_sql, "run a read-only SQL query on a server's store"},
    {"analyze", fw_cmd_analyze, "findings for a range or a comparison, or one function's detail"},
    {"ask", fw_cmd_ask, "ask a question about a server's profiles (\"what grew since yesterday?\")"},
};

static void fw_usage(FILE *out)
{
    fprintf(out, "usage: flamewatch COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof fw_commands / sizeof fw_commands[0]; i++)
        fprintf(out, "  %-10s %s\n", fw_commands[i].name, fw_commands[i].summary);
    fprintf(out, "\nRun 'flamewatch COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fw_usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        fw_usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof fw_commands / sizeof fw_commands[0]; i++)
        if (strcmp(argv[1], fw_commands[i].name) == 0)
            return fw_commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "flamewatch: unknown command '%s'\n", argv[1]);
    fw_usage(stderr);
    return 2;
}
