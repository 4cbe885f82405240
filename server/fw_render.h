/*
 * fw_render: non-JSON renderings of query results (folded text, pprof, aligned text tables,
 * TSV). The server owns every output format so the CLI, the console and curl get the same bytes.
 */
#ifndef FW_RENDER_H
#define FW_RENDER_H

#include "../store/fw_store.h"
#include "fw_pprof.h"

/* One line per node with self > 0: `frame;frame;... VALUE`, root first, frames
 * `NAME (FILE:LINE)` (as `flamewatch convert`), `NAME (FILE)` without line, `NAME` without file. */
int fw_render_folded(const fw_store_tree *t, fw_buf *out);
/* The tree as a gzip-compressed pprof with one sample type. */
int fw_render_pprof(const fw_store_tree *t, const char *type, const char *unit, int64_t from, int64_t until,
                    fw_buf *out);
/* The tree as a speedscope file (svg == 0) or an SVG flame graph (common/fw_export.h), one
 * merged profile named `name`. */
int fw_render_export(const fw_store_tree *t, const char *type, const char *unit, const char *name, int svg,
                     fw_buf *out);
int fw_render_table_text(const fw_store_table *t, fw_buf *out);
int fw_render_diff_text(const fw_store_diff *d, fw_buf *out);
/* The same tables in the console's units (common/fw_units.h): "1.97 s", "24.75%", "+1.2 pp".
 * The diff adds each stack's baseline and comparison totals. */
int fw_render_table_human(const fw_store_table *t, fw_buf *out);
int fw_render_diff_human(const fw_store_diff *d, fw_buf *out);
int fw_render_sql_tsv(const fw_store_sql_result *r, fw_buf *out);

#endif
