/*
 * fw_export: profiles in formats other tools open, written by the CLI (`flamewatch query`,
 * `flamewatch convert`) and the server (/api/v1/flamegraph?format=...) from the same code:
 *   - speedscope's JSON file format (https://www.speedscope.app/file-format-schema.json),
 *     sampled profiles, one per group (thread group) or one merged (fw_export_speedscope.c);
 *   - a self-contained SVG flame graph: no script, a <title> with the values on every frame,
 *     names as real text that a browser's find searches (fw_export_svg.c).
 *
 * Both read one neutral model, built here: interned frames (name, file, line) and weighted
 * stacks, root first, each in a named group. Producers translate what they have (a store tree,
 * a merged pprof) into it, so neither writer knows where the data came from.
 */
#ifndef FW_EXPORT_H
#define FW_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "fw_pprof.h"

typedef struct {
    char *name;
    char *file;     /* "" when unknown */
    int64_t line;   /* 0 when unknown */
} fw_export_frame;

typedef struct {
    size_t offset;  /* into fw_export.stack_frames */
    size_t depth;
    int64_t value;  /* > 0 */
    uint32_t group;
} fw_export_stack;

typedef struct {
    char *type;     /* sample type, e.g. "cpu" */
    char *unit;     /* "nanoseconds", "bytes", "count", ... */
    fw_export_frame *frames;
    size_t nframes, cap_frames;
    uint32_t *index;          /* open-addressing table of frame ids + 1 (0 = empty) */
    size_t index_cap;
    char **groups;
    size_t ngroups, cap_groups;
    uint32_t *stack_frames;   /* every stack's frame ids, root first, back to back */
    size_t nstack_frames, cap_stack_frames;
    fw_export_stack *stacks;
    size_t nstacks, cap_stacks;
} fw_export;

/* The longest stack kept; deeper stacks keep their root-most frames. */
#define FW_EXPORT_MAX_DEPTH 1024

fw_export *fw_export_new(const char *type, const char *unit);
void fw_export_free(fw_export *e);
/* The id of a frame (the same id for the same name, file and line). 0 or -1 (no memory). */
int fw_export_frame_id(fw_export *e, const char *name, const char *file, int64_t line, uint32_t *id);
/* The id of a group by name ("" is allowed). 0 or -1. */
int fw_export_group_id(fw_export *e, const char *name, uint32_t *id);
/* One weighted stack, root first. Values <= 0 are ignored. 0 or -1. */
int fw_export_add(fw_export *e, uint32_t group, const uint32_t *frames, size_t depth, int64_t value);
/* Sum of the values of every stack (saturating). */
int64_t fw_export_total(const fw_export *e);

/* The speedscope file: one sampled profile per group that has stacks, in group order, named
 * "NAME" (one group) or "NAME: GROUP". 0 or -1 (no memory). */
int fw_export_speedscope(const fw_export *e, const char *name, fw_buf *out);

/* Frames narrower than this many pixels (and everything above them) are not drawn. */
#define FW_SVG_WIDTH 1200
#define FW_SVG_MIN_PX 0.5
/* The SVG flame graph of every stack (groups merged), titled `title`. 0 or -1. */
int fw_export_svg(const fw_export *e, const char *title, fw_buf *out);

#endif
