/*
 * fw_store_blocks.h: packed blocks, the stacks of one (series, bucket, label set) as one value,
 * and the accumulator that sums them per stack (backend-neutral, internal to store/).
 *
 * Promises: a block's text is JSON [[stack, value, count], ...] sorted by stack id, with stack
 * ids in 1..2^32-2 and values and counts in 0..2^63-1; fw_blk_encode writes exactly that, and
 * fw_blk_acc_add_json reads exactly that (anything else is FW_BLK_CORRUPT, never a partial read
 * passed off as a whole one). Sums saturate at INT64_MAX (fw_sat_add), so no stored data can make
 * a roll-up or a query fail on arithmetic. Return codes: 0, FW_BLK_NOMEM, FW_BLK_CORRUPT.
 */
#ifndef FW_STORE_BLOCKS_H
#define FW_STORE_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

enum { FW_BLK_NOMEM = -1, FW_BLK_CORRUPT = -2 };

typedef struct {
    uint32_t stack;
    int64_t value, count;
} fw_blk_row;

typedef struct {
    fw_blk_row *v;
    size_t n, cap;
} fw_blk_rows;

/* An accumulator: sums (stack, value, count) triples by stack id (open addressing over r.v). */
typedef struct {
    fw_blk_rows r;
    uint32_t *slot;      /* open addressing: index into r.v + 1, 0 = empty */
    size_t cap;          /* slots, a power of two, at least twice r.n */
    int64_t value, count;   /* totals of everything added */
} fw_blk_acc;

/* A growable text buffer for encoding blocks (a printf per number was slower). */
typedef struct {
    char *p;
    size_t n, cap;
} fw_blk_text;

/* qsort comparator of fw_blk_row by stack id. */
int fw_blk_row_stack_cmp(const void *a, const void *b);
void fw_blk_acc_reset(fw_blk_acc *a);
void fw_blk_acc_free(fw_blk_acc *a);
/* Adds one triple. 0 or FW_BLK_NOMEM. Values are non-negative. */
int fw_blk_acc_add(fw_blk_acc *a, uint32_t stack, int64_t v, int64_t c);
/* Sorts the rows by stack id (the order blocks are written in). The hash stays valid. */
void fw_blk_acc_sort(fw_blk_acc *a);
/* Adds every triple of a block's text. 0, FW_BLK_CORRUPT, or FW_BLK_NOMEM. */
int fw_blk_acc_add_json(fw_blk_acc *a, const char *text, size_t len);
/* Encodes rows (sorted by stack) as a block into b; their totals into *value, *count. 0 or -1. */
int fw_blk_encode(fw_blk_text *b, const fw_blk_row *r, size_t n, int64_t *value, int64_t *count);

#endif
