/*
 * fw_store_sqlite.h: what the SQLite backend exposes beyond fw_store.h, for tests only.
 * fw_store_open_sqlite() itself is declared in fw_store.h.
 */
#ifndef FW_STORE_SQLITE_H
#define FW_STORE_SQLITE_H

#include "../fw_store.h"

/* Fault injection: the next ingest fails with FW_STORE_ERR_IO after writing `rows` sample rows
 * (after its stacks, functions and label sets were inserted), as a full disk would. -1 disables.
 * Lets tests prove that a failure midway stores nothing. */
void fw_store_sqlite_fail_after(fw_store *s, long rows);

/* Test hook: fn(arg) runs in the dimension GC between its mark (done without the writer lock)
 * and its sweep, as an upload arriving meanwhile would. NULL disables. */
void fw_store_sqlite_gc_hook(fw_store *s, void (*fn)(void *), void *arg);

#endif
