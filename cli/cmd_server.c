/*
 * `flamewatch server`: argument parsing only; the server lives in server/fw_server.c.
 *
 * Flags are validated here so that every usage error exits 2 with a message naming the flag,
 * before anything is opened or bound (a --store URL is checked here too). Defaults: loopback on
 * port 4040, the store sqlite://flamewatch-data (./flamewatch-data),
 * 7 days of retention, no authentication (which is why binding elsewhere needs --insecure).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "../server/fw_server.h"
#include "../server/fw_util.h"

static void fw_server_usage(FILE *out)
{
    fprintf(out,
            "usage: flamewatch server [--listen HOST:PORT] [--data DIR | --store URL] [--retention DURATION]\n"
            "                         [--tokens FILE] [--insecure] [--threads N]\n"
            "                         [--maintenance-interval SECONDS] [--sync-full]\n"
            "                         [--max-connections N] [--max-connections-per-address N]\n"
            "                         [--header-timeout SECONDS] [--query-connections N] [--query-wait MS]\n"
            "                         [--cache-mb N]\n\n"
            "  --listen HOST:PORT   address to serve on (default 127.0.0.1:4040; [::1]:4040 for IPv6)\n"
            "  --data DIR           data directory (default ./flamewatch-data): the store sqlite://DIR\n"
            "  --store URL          the store to use, e.g. sqlite:///var/lib/flamewatch (instead of --data)\n"
            "  --retention D        keep profiles this long: 7d, 12h, 30m, 3600 (default 7d)\n"
            "  --tokens FILE        enable authentication; lines 'TOKEN ROLE [name]', ROLE ingest|read|admin\n"
            "  --insecure           allow a non-loopback --listen without --tokens\n"
            "  --threads N          HTTP worker threads (default 8)\n"
            "  --maintenance-interval S  seconds between retention/rollup passes (default 10)\n"
            "  --sync-full          fsync every commit (survives power loss, slower ingest)\n"
            "  --max-connections N  connections at once (default 4096, kept below the open file limit)\n"
            "  --max-connections-per-address N  connections from one client address (default 256)\n"
            "  --header-timeout S   seconds a connection has to send a request head (default 10)\n"
            "  --query-connections N  read connections for flame graphs, tables, trends, settings (default 4)\n"
            "  --query-wait MS      how long a query waits for one of them before it answers 503 (default 3000)\n"
            "  --cache-mb N         memory for the in-memory dimension cache (functions, stacks, label\n"
            "                       sets), 1 to 65536 MiB (default 64); past it, entries are evicted and\n"
            "                       read back from the store when needed\n"
            "  (at a connection limit, the oldest connection still waiting for its request head is\n"
            "   closed to admit the new one; see docs/API.md, Limits)\n");
}

static int fw_flag_value(int argc, char **argv, int *i, const char **out)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "flamewatch server: %s needs a value\n", argv[*i]);
        return -1;
    }
    *out = argv[++*i];
    return 0;
}

static int fw_server_parse(int argc, char **argv, fw_server_config *cfg)
{
    int data_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fw_server_usage(stdout);
            return 1;
        } else if (strcmp(a, "--insecure") == 0) {
            cfg->insecure = 1;
        } else if (strcmp(a, "--sync-full") == 0) {
            cfg->sync_full = 1;
        } else if (strcmp(a, "--listen") == 0) {
            if (fw_flag_value(argc, argv, &i, &cfg->listen))
                return -1;
        } else if (strcmp(a, "--data") == 0) {
            if (fw_flag_value(argc, argv, &i, &cfg->data_dir))
                return -1;
            data_given = 1;
        } else if (strcmp(a, "--store") == 0) {
            if (fw_flag_value(argc, argv, &i, &cfg->store_url))
                return -1;
            char err[512];
            if (fw_store_url_check(cfg->store_url, err, sizeof err) != 0) {
                fprintf(stderr, "flamewatch server: invalid value for --store: %s\n", err);
                return -1;
            }
        } else if (strcmp(a, "--tokens") == 0) {
            if (fw_flag_value(argc, argv, &i, &cfg->tokens_file))
                return -1;
        } else if (strcmp(a, "--retention") == 0) {
            if (fw_flag_value(argc, argv, &i, &v))
                return -1;
            if (fw_duration_parse(v, &cfg->retention_s) != 0) {
                fprintf(stderr, "flamewatch server: invalid value for --retention: '%s' (expected e.g. 7d, 12h, 30m, 3600)\n", v);
                return -1;
            }
        } else if (strcmp(a, "--cache-mb") == 0) {
            if (fw_flag_value(argc, argv, &i, &v))
                return -1;
            char *end = NULL;
            long n = strtol(v, &end, 10);
            if (!*v || *end || n < 1 || n > 65536) {
                fprintf(stderr, "flamewatch server: invalid value for --cache-mb: '%s' (expected an integer from 1 "
                                "to 65536)\n", v);
                return -1;
            }
            cfg->cache_bytes = (size_t)n << 20;
        } else if (strcmp(a, "--threads") == 0 || strcmp(a, "--maintenance-interval") == 0) {
            if (fw_flag_value(argc, argv, &i, &v))
                return -1;
            char *end = NULL;
            long n = strtol(v, &end, 10);
            int threads = strcmp(a, "--threads") == 0;
            if (!*v || *end || n < 1 || n > (threads ? 256 : 3600)) {
                fprintf(stderr, "flamewatch server: invalid value for %s: '%s' (expected an integer from 1 to %d)\n",
                        a, v, threads ? 256 : 3600);
                return -1;
            }
            if (threads)
                cfg->threads = (int)n;
            else
                cfg->maintenance_s = n;
        } else if (strcmp(a, "--query-connections") == 0 || strcmp(a, "--query-wait") == 0) {
            if (fw_flag_value(argc, argv, &i, &v))
                return -1;
            int wait = strcmp(a, "--query-wait") == 0;
            long max = wait ? 600000 : 64;
            char *end = NULL;
            long n = strtol(v, &end, 10);
            if (!*v || *end || n < 1 || n > max) {
                fprintf(stderr, "flamewatch server: invalid value for %s: '%s' (expected an integer from 1 to %ld%s)\n",
                        a, v, max, wait ? ", milliseconds" : "");
                return -1;
            }
            if (wait)
                cfg->query_wait_ms = (int)n;
            else
                cfg->query_connections = (int)n;
        } else if (strcmp(a, "--max-connections") == 0 || strcmp(a, "--max-connections-per-address") == 0 ||
                   strcmp(a, "--header-timeout") == 0) {
            if (fw_flag_value(argc, argv, &i, &v))
                return -1;
            int timeout = strcmp(a, "--header-timeout") == 0;
            long max = timeout ? 3600 : 65536;
            char *end = NULL;
            long n = strtol(v, &end, 10);
            if (!*v || *end || n < 1 || n > max) {
                fprintf(stderr, "flamewatch server: invalid value for %s: '%s' (expected an integer from 1 to %ld)\n",
                        a, v, max);
                return -1;
            }
            if (timeout)
                cfg->header_timeout_s = (unsigned)n;
            else if (strcmp(a, "--max-connections") == 0)
                cfg->max_connections = (unsigned)n;
            else
                cfg->max_conns_per_addr = (unsigned)n;
        } else {
            fprintf(stderr, "flamewatch server: unknown option '%s'\n", a);
            fw_server_usage(stderr);
            return -1;
        }
    }
    if (cfg->store_url && data_given) {
        fprintf(stderr, "flamewatch server: --data and --store both name the store; give one "
                        "(--data DIR is --store sqlite://DIR)\n");
        return -1;
    }
    return 0;
}

int fw_cmd_server(int argc, char **argv)
{
    fw_server_config cfg = {
        .listen = "127.0.0.1:4040",
        .data_dir = "flamewatch-data",
        .retention_s = 7 * 86400LL,
        .threads = 8,
        .maintenance_s = 10,
    };
    int rc = fw_server_parse(argc, argv, &cfg);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    return fw_server_run(&cfg);
}
