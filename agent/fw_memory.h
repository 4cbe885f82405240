/*
 * fw_memory: the memory profiler (alloc_space, alloc_objects, inuse_space, inuse_objects).
 *
 One module, this header; its files share fw_memory_impl.h, and each calls only the ones
 * listed before it:
 *   - fw_mem_table.c records each sampled allocation: the allocating thread's Python stack, its
 *     weights (the unbiased estimator, docs/ARCHITECTURE.md "Memory profiling") and the table
 *     of sampled allocations still live;
 *   - fw_mem_hooks.c wraps CPython's three allocator domains (RAW, MEM, OBJ) with
 *     PyMem_SetAllocator and decides, with a per-thread byte countdown, which allocations are
 *     sampled (a Poisson process over allocated bytes, mean interval = the threshold);
 *   - fw_mem_export.c turns the table into pprof samples for the worker;
 *   - fw_memory.c switches it all on and off, follows the settings, and is its Python face.
 * The agent is passed in (fw_memory_enable, the settings calls, the Python functions' `self`);
 * the module keeps no pointer to it of its own.
 *
 * Threads. The hooks run in every thread that allocates, with or without the GIL. The
 * profiler's state is guarded by its own mutex (never the agent's), taken only on the sampled
 * path and on frees of (possibly) sampled addresses; nothing under it waits for the GIL, for
 * the agent mutex or for an allocation through Python. A pthread_atfork handler holds the mutex
 * across fork() and re-initializes it in the child.
 */
#ifndef FW_MEMORY_H
#define FW_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fw_profile.h"

#define FW_MEM_THRESHOLD_DEFAULT_KB 1024u
#define FW_MEM_THRESHOLD_MIN_KB 1u
#define FW_MEM_THRESHOLD_MAX_KB 1048576u      /* 1 GiB */

/* Live (sampled, not yet freed) allocations tracked at most; past it new samples still count
 * in alloc_* but are not tracked for inuse_* (counted in stats as `untracked`). */
#define FW_MEM_LIVE_MAX (1u << 17)
/* Distinct (stack, thread, tags) sites held at most; past it samples go to "[dropped]". */
#define FW_MEM_SITES_MAX 32768u

struct fw_agent;

/* GIL held, agent running. Starts sampling with a mean interval of threshold_kb KiB: installs
 * the hooks (or resumes ours if they are still in the allocator chain). 0, or an errno value
 * with a message in err. */
int fw_memory_enable(struct fw_agent *a, uint32_t threshold_kb, char *err, size_t errlen);
/* GIL held. Stops sampling and restores the previous allocators if ours are still the ones
 * installed; otherwise (someone wrapped us since) ours stay, passing every call through.
 * `forget_live`: also drop the live table (inuse_* of the samples taken so far); the
 * allocations of the interval stay for the next snapshot. */
void fw_memory_disable(bool forget_live);
/* Any thread, no GIL needed: a new mean interval (remote settings). */
void fw_memory_set_threshold_kb(uint32_t kb);
bool fw_memory_sampling(void);
/* The memory profiler follows the live settings: it samples iff `enabled` (the master switch)
 * and `memory` are both on, at `memory_threshold_kb`; remote settings change them from the
 * uploader thread, which cannot install allocator hooks (that needs the GIL). So the worker,
 * every poll and without the GIL or the agent mutex, calls fw_memory_settings_need_gil(): it
 * applies a threshold change itself (no GIL needed) and returns true when the profiler must be
 * switched on or off; the worker then takes the GIL (PyGILState_Ensure) and calls
 * fw_memory_follow_settings(), which re-reads the settings and does it. Off restores the
 * previous allocators and forgets the live table, as set_memory(False) does. */
/* fw_lifecycle_start (on, once the agent runs) and fw_lifecycle_stop (off, first thing, GIL held):
 * whether the worker follows the settings at all. */
void fw_memory_follow(bool on);
bool fw_memory_settings_need_gil(struct fw_agent *a);
void fw_memory_follow_settings(struct fw_agent *a);

/* Worker, right after the CPU aggregate was swapped out, without the agent mutex: takes this
 * interval's memory snapshot (allocations since the last one, live samples now). Returns how
 * many samples it holds. */
size_t fw_memory_snapshot(struct fw_agent *a);
/* Worker, while building the profile: adds the snapshot's samples to p, whose sample types
 * must include alloc_space, alloc_objects, inuse_space and inuse_objects (other types get 0).
 * `base` are the labels every sample carries (app, host, pid, static tags). */
fw_status fw_memory_add_samples(fw_profile *p, const fw_label *base, size_t nbase);
/* After the final flush (agent stop): frees the profiler's tables. Sampling must be off. */
void fw_memory_release(void);

typedef struct {
    bool installed;          /* our hooks are in the allocator chain */
    bool sampling;
    bool passthrough;        /* disabled, but left installed because someone wrapped us */
    bool free_direct;        /* OBJ frees bypass our hooks (pymalloc: sampled blocks live in RAW) */
    uint64_t threshold_bytes;
    uint64_t samples;        /* sampled allocations since the profiler started */
    uint64_t live;           /* sampled allocations tracked as live now */
    uint64_t untracked;      /* samples not tracked as live: the live table was full */
    uint64_t frees_matched;  /* sampled allocations seen freed */
    uint64_t sites;          /* distinct (stack, thread, tags) held now */
    uint64_t sites_dropped;  /* samples charged to "[dropped]": the site table was full */
    uint64_t no_python;      /* samples in threads with no Python frame */
    uint64_t walk_failures;
    uint64_t direct;         /* samples read in direct mode: the allocating thread held the GIL */
    uint64_t sample_ns;      /* time spent recording samples (stack walk included) */
} fw_memory_stats;
void fw_memory_get_stats(fw_memory_stats *out);

/* With the GIL, from PyInit__agent: set_memory(), memory_stats(), _memory_prob(), which act
 * on agent `a`. */
struct _object;
int fw_memory_add_to_module(struct _object *module, struct fw_agent *a);

#endif
