/*
 * fw_store_table.h: the function table (self and total per function or line) from per-stack
 * sums (backend-neutral, internal to store/).
 *
 * Promises: fw_table_collect fills out->rows, one per function (per frame at line granularity)
 * that some row's stack passes through, with self (leaf) and total (anywhere on the stack,
 * counted once per stack) values and sample counts, and out->grand_total; it reads the cache,
 * which the caller holds for the call, src answering its misses, and copies the names. fw_table_finish then sorts
 * (opt->sort, ties by name, file, line) and cuts to opt->limit, with no lock needed. On error
 * the rows may be partly filled: the caller frees out (fw_store_table_free).
 */
#ifndef FW_STORE_TABLE_H
#define FW_STORE_TABLE_H

#include "fw_store.h"
#include "fw_store_blocks.h"
#include "fw_store_dims.h"

fw_store_status fw_table_collect(fw_dims *c, fw_dims_src *src, const fw_blk_rows *rows,
                                 const fw_store_table_opts *opt, fw_store_table *out);
void fw_table_finish(const fw_store_table_opts *opt, fw_store_table *out);

#endif
