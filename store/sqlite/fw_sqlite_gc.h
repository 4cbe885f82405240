/*
 * fw_store_gc.h: the mark phase of the dimension GC of the SQLite store (fw_store_gc.c).
 */
#ifndef FW_STORE_GC_H
#define FW_STORE_GC_H

#include <stdint.h>

#include <sqlite3.h>

/* Sets live[id] = 1 for every stack id below n that a retained block of sample_blocks or
 * rollup_blocks references (and possibly more), reading db in one read transaction of its own. SQLITE_OK, or SQLite's error
 * (SQLITE_CORRUPT for a block that is not [[stack, value, count], ...]). */
int fw_store_gc_mark_blocks(sqlite3 *db, unsigned char *live, uint32_t n);

/* Extends live[] over the stack trie: the ancestors of a live stack are live (a stack is the
 * path from the root to it). parent[id] is the parent of stack id, 0 for a root frame. */
void fw_store_gc_close_over(const uint32_t *parent, uint32_t n, unsigned char *live);

#endif
