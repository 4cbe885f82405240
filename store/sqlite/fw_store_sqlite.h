/*
 * fw_store_sqlite.h: the SQLite backend's entry point (fw_store_open calls it for sqlite:// URLs)
 * and its test hooks. Callers other than tests and fw_store_url.c open stores by URL.
 */
#ifndef FW_STORE_SQLITE_H
#define FW_STORE_SQLITE_H

#include "../fw_store.h"

/* The file name of the store inside its directory (sqlite://DIR). */
#define FW_STORE_SQLITE_FILE "flamewatch.db"

/* Opens (creating if needed) the SQLite store in the file `path`. On failure *out is NULL, with
 * a status and a one-line reason in err. */
fw_store_status fw_store_open_sqlite(const char *path, const fw_store_options *opt,
                                     fw_store **out, char *err, size_t errlen);

/* Fault injection: the next ingest fails with FW_STORE_ERR_IO after writing `rows` sample rows
 * (after its stacks, functions and label sets were inserted), as a full disk would. -1 disables.
 * Lets tests prove that a failure midway stores nothing. */
void fw_store_sqlite_fail_after(fw_store *s, long rows);

/* Test hook: fn(arg) runs in the dimension GC between its mark (done without the writer lock)
 * and its sweep, as an upload arriving meanwhile would. NULL disables. */
void fw_store_sqlite_gc_hook(fw_store *s, void (*fn)(void *), void *arg);

#endif
