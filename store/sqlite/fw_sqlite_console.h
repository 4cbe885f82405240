/*
 * fw_sqlite_console.h: the read-only SQL console of the SQLite store (internal to store/sqlite/).
 *
 * The console runs users' SELECTs on connections of its own, never on the pool that serves flame
 * graphs, tables, trends and settings, so a flood of console queries cannot take a connection
 * those need. fw_sqlite_store.c opens one console with the store and delegates sql_run to it.
 */
#ifndef FW_SQLITE_CONSOLE_H
#define FW_SQLITE_CONSOLE_H

#include <stddef.h>

#include "../fw_store.h"

/* Defaults and fixed limits (documented in docs/API.md, "Limits"). */
#define FW_SQC_CONNECTIONS    2                 /* console queries running at once */
#define FW_SQC_TIMEOUT_MS     5000              /* whole call: waiting for a connection + running */
#define FW_SQC_MAX_ROWS       10000
#define FW_SQC_RESULT_BYTES   (8u << 20)        /* text bytes + 2 x BLOB bytes + FW_SQC_CELL_COST per cell */
#define FW_SQC_CELL_BYTES     (1u << 20)        /* one text or BLOB cell of the result */
#define FW_SQC_VALUE_BYTES    (32u << 20)       /* any string or BLOB a query reads or computes */
#define FW_SQC_CELL_COST      40                /* what a cell costs beyond its bytes: its fw_store_value */

typedef struct fw_sqc fw_sqc;

/* Opens `nconn` read-only connections to the database at `path` (0 = FW_SQC_CONNECTIONS). The
 * schema's tables and views are read once here: the console may read those, and nothing else
 * but the table-valued functions on its allow-list. */
fw_store_status fw_sqc_open(const char *path, int nconn, fw_sqc **out, char *err, size_t errlen);
void fw_sqc_close(fw_sqc *c);

/* fw_store_sql_run() (fw_store.h) on a console connection. The time limit covers the wait for a
 * free connection too: past it, FW_STORE_ERR_TIMEOUT whether the query ran or not. */
fw_store_status fw_sqc_run(fw_sqc *c, const char *sql, const fw_store_sql_limits *lim,
                           fw_store_sql_result *out, char *err, size_t errlen);

#endif
