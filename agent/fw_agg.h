/*
 * fw_agg: the sampler's aggregate, (thread slot, tags, stack) -> (cpu, wall, GIL hold, GIL wait).
 *
 * An open-addressing hash table keyed by (slot, tags, frames) with the values summed in place.
 * Frames live in one growing arena; entries and frames both have caps (FW_AGG_MAX_*). Past a cap
 * the values are charged to a "[dropped]" stack of the same thread, so the totals of a profile
 * stay right even when its shape is lost: up to FW_THREADS_MAX extra entries are reserved for
 * those stacks. Memory grows by doubling up to the caps and is reused from one interval to the
 * next (fw_agg_clear). Entry indexes are stable until the next clear, which is what lets the
 * sampler remember a thread's "last running" stack as an index. Not thread safe: the sampler
 * fills it and the worker swaps it out under the agent mutex.
 */
#ifndef FW_AGG_H
#define FW_AGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fw_stack.h"

/* Pseudo function ids, outside any resolver's id range. */
#define FW_FN_DROPPED   UINT32_MAX           /* "[dropped]": the aggregate was full */
#define FW_FN_UNKNOWN   (UINT32_MAX - 1u)    /* "[unknown]": no Python frame could be read */

#define FW_AGG_MAX_ENTRIES 50000u
#define FW_AGG_MAX_FRAMES  (1u << 20)        /* frames stored across all entries (8 MiB) */

typedef struct fw_agg fw_agg;

typedef struct {
    uint32_t slot;          /* fw_threads slot index */
    uint32_t tags;          /* dynamic tag-set id (fw_tags.h), 0 = none */
    uint32_t depth;
    const fw_frame *frames; /* leaf first */
    int64_t cpu_ns;
    int64_t wall_ns;
    int64_t gil_hold_ns;    /* held the GIL while other threads waited for it (fw_gil_watch.h) */
    int64_t gil_wait_ns;    /* ... times the number of threads that waited */
} fw_agg_entry;

fw_agg *fw_agg_new(void);
void fw_agg_free(fw_agg *a);
/* Empties the table; keeps its memory (bounded by the caps) for the next interval. */
void fw_agg_clear(fw_agg *a);
/* Adds to (slot, frames). When the table is full the values go to the slot's "[dropped]"
 * stack, so totals stay right. Returns the index of the entry charged (-1: none). */
int64_t fw_agg_add(fw_agg *a, uint32_t slot, const fw_frame *frames, uint32_t depth,
                   int64_t cpu_ns, int64_t wall_ns);
/* The same, for samples taken inside a dynamic tag block: (slot, tags, frames) is the key. */
int64_t fw_agg_add_tagged(fw_agg *a, uint32_t slot, uint32_t tags, const fw_frame *frames,
                          uint32_t depth, int64_t cpu_ns, int64_t wall_ns);
/* Adds cpu to entry `index` if it still is an entry of `slot`; false otherwise. */
bool fw_agg_add_to(fw_agg *a, int64_t index, uint32_t slot, int64_t cpu_ns);
/* The same for the GIL-hold values. */
bool fw_agg_add_gil(fw_agg *a, int64_t index, uint32_t slot, int64_t hold_ns, int64_t wait_ns);
size_t fw_agg_count(const fw_agg *a);
void fw_agg_get(const fw_agg *a, size_t i, fw_agg_entry *out);
/* Entries with a non-zero value (carried-over "last running" stacks have none). */
size_t fw_agg_nonzero(const fw_agg *a);
uint64_t fw_agg_dropped(const fw_agg *a);   /* samples charged to "[dropped]" */

#endif
