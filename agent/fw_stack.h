/*
 * fw_stack: a thread's Python stack as (function, line) pairs.
 *
 * The resolver owns two bounded tables:
 *   - a code cache: code object address -> function id and line table, validated on every walk
 *     with fw_py_code_still_valid so that an address reused by a new code object is re-read;
 *   - a function registry: (qualified name, filename, first line) stored once, with a dense id.
 * Function ids are stable until fw_stack_reset_functions(), which the owner calls only when no
 * stored stack refers to them (right after a profile has been flushed).
 * On 3.9/3.10 a method's qualified name is derived from its first argument named self or cls.
 * A resolver is used by one thread at a time (the sampler).
 */
#ifndef FW_STACK_H
#define FW_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fw_pyversion.h"

#define FW_STACK_MAX_DEPTH 512

/* Function ids every resolver reserves for synthetic frames. */
#define FW_STACK_FN_TRUNCATED 0u   /* "[truncated]": the stack was deeper than asked */
#define FW_STACK_FN_UNKNOWN 1u     /* "[unknown]": a frame whose code object could not be read */
#define FW_STACK_FN_OVERFLOW 2u    /* "[too many functions]": the registry is full */

typedef struct {
    uint32_t function;   /* id in the resolver's function registry */
    int32_t line;        /* -1 when CPython has no line for the instruction */
} fw_frame;

typedef struct {
    const char *qualname;
    const char *filename;
    int32_t firstlineno;
} fw_function_info;

typedef struct fw_stack_resolver fw_stack_resolver;

fw_stack_resolver *fw_stack_resolver_new(size_t max_code_entries, size_t max_functions);
void fw_stack_resolver_free(fw_stack_resolver *r);

/* Walks from `top_frame` (fw_py_thread.top_frame) to the bottom. Fills `out` leaf first and
 * returns the depth; a stack deeper than max_depth keeps its innermost max_depth-1 frames and
 * ends with a "[truncated]" frame. Returns -1 when nothing could be read. */
int fw_stack_walk(fw_stack_resolver *r, uintptr_t top_frame, fw_frame *out, int max_depth);
/* True if the last walk's chain ended at a frame that could not be read (popped or torn while
 * it was copied) instead of at the bottom of the stack: its frames are right, but its root is
 * missing. */
bool fw_stack_last_walk_broken(const fw_stack_resolver *r);
/* The resolver's frame window, for fw_py_read_thread_win. */
fw_py_window *fw_stack_window(fw_stack_resolver *r);
/* fw_stack_walk that starts from what the window holds (filled by fw_py_read_thread_win for
 * this same top frame) instead of resetting it. */
int fw_stack_walk_prefetched(fw_stack_resolver *r, uintptr_t top_frame, fw_frame *out,
                             int max_depth);

const fw_function_info *fw_stack_function(const fw_stack_resolver *r, uint32_t id);
size_t fw_stack_function_count(const fw_stack_resolver *r);
bool fw_stack_functions_nearly_full(const fw_stack_resolver *r);
void fw_stack_reset_functions(fw_stack_resolver *r);

#endif
