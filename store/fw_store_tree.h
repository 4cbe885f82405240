/*
 * fw_store_tree.h: flame graphs and diffs from per-stack sums (backend-neutral, internal to store/).
 *
 * Promises: given the rows a query summed per stack id (fw_blk_rows) and the dimension cache,
 * fills out->nodes in depth-first order (root first, children by decreasing weight), at most
 * opt->max_nodes of them (default 1024) including the root and "other" folds, with exact totals
 * at every level; for a diff, shares, the z-score and its significance per node. Stacks that
 * the store no longer knows (forgotten by a dimension GC after the query's snapshot) are skipped.
 * The caller holds the cache for the call (every lookup may load or evict), and src answers its
 * misses from the query's snapshot; names are copied out. On error the
 * nodes may be partly filled: the caller frees out (fw_store_tree_free / fw_store_diff_free).
 */
#ifndef FW_STORE_TREE_H
#define FW_STORE_TREE_H

#include "fw_store.h"
#include "fw_store_blocks.h"
#include "fw_store_dims.h"

fw_store_status fw_tree_flame(fw_dims *c, fw_dims_src *src, const fw_blk_rows *rows, const fw_store_tree_opts *opt,
                              fw_store_tree *out);
fw_store_status fw_tree_diff(fw_dims *c, fw_dims_src *src, const fw_blk_rows *rb, const fw_blk_rows *rc,
                             const fw_store_tree_opts *opt, fw_store_diff *out);

#endif
