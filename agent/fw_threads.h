/*
 * fw_threads: the agent's registry of application threads.
 *
 * A slot stands for one thread for as long as it lives, identified by the triple
 * (thread state address, pthread id, Linux tid). CPython reuses thread-state memory and glibc
 * reuses pthread_t values (a cached stack), so any one of these alone can name two threads in
 * a row; the triple plus a generation number that grows every time a slot is reused is what
 * keeps a new thread from inheriting an old one's CPU baseline or name.
 *
 * The sampler creates and retires slots; the worker fills in names. Both hold the agent mutex
 * while they touch the registry. The registry is bounded (FW_THREADS_MAX); dead slots are only
 * recycled at a flush boundary, after the worker has copied their names for the profile being
 * written, so that no stored sample ever points at a slot that now means another thread.
 *
 * It also knows how to find a thread's Linux tid from its pthread id on CPython 3.9/3.10,
 * which do not record it: pthread_t is a pointer to glibc's struct pthread, which holds the tid.
 */
#ifndef FW_THREADS_H
#define FW_THREADS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "fw_pyversion.h"

#define FW_THREADS_MAX 4096
#define FW_THREAD_NAME_MAX 128
#define FW_THREAD_NAME_ATTEMPTS 100 /* worker refreshes (50 ms apart: 5 s) before a slot gets a fallback name */

typedef struct {
    uintptr_t tstate;
    uint64_t pthread_id;
    int64_t tid;                /* 0 when unknown */
    uint32_t generation;        /* incremented each time the slot is reused */
    bool in_use;
    bool alive;                 /* seen by the last complete walk of the thread list */
    bool named;                 /* name holds a name read from `threading` (or the fallback) */
    bool name_fallback;         /* ... the fallback "tid-<tid>", still looked up at each flush */
    uint8_t name_attempts;
    bool cpu_known;             /* cpu_prev_ns is a valid baseline */
    int64_t cpu_prev_ns;
    uint64_t wall_prev_ns;      /* monotonic time of this thread's previous tick */
    int64_t last_entry;         /* aggregate entry where it was last seen running, -1 if none */
    uint64_t last_epoch;        /* fw_agent.agg_epoch of last_entry */
    bool nogil_prev;            /* the last time it was seen running, it ran without the GIL */
    bool vcsw_known;            /* vcsw_prev was read */
    uint64_t vcsw_prev;         /* voluntary context switches at the last look at its scheduler state */
    uint64_t vcsw_tick;         /* the sampler tick of that look */
    uint8_t quiet_ticks;        /* consecutive quick ticks with next to no CPU, without the GIL */
    uint64_t seen_tick;
    fw_py_stack_hint stack_hint; /* where its data stack was at the last read (fw_pyversion.h) */
    int32_t chain;              /* next slot in the same hash bucket, -1 at the end */
    char name[FW_THREAD_NAME_MAX];
} fw_thread_slot;

typedef struct fw_threads fw_threads;

fw_threads *fw_threads_new(void);
void fw_threads_free(fw_threads *t);
/* Forgets every slot (after fork: the child has none of the parent's threads). */
void fw_threads_clear(fw_threads *t);

/* Finds the live or dead slot for this triple, or creates one (*created = true).
 * Returns -1 when the registry is full. Marks the slot seen at `tick`. */
int32_t fw_threads_lookup(fw_threads *t, uintptr_t tstate, uint64_t pthread_id, int64_t tid,
                          uint64_t tick, bool *created);
fw_thread_slot *fw_threads_slot(fw_threads *t, int32_t index);
size_t fw_threads_capacity(const fw_threads *t);
/* One past the highest slot index ever used: loops over slots stop here. Free slots are
 * reused lowest-recycled first, so the span stays close to the largest number of threads alive. */
size_t fw_threads_span(const fw_threads *t);
size_t fw_threads_live(const fw_threads *t);
/* After a complete walk: every slot not seen at `tick` is dead. */
void fw_threads_end_tick(fw_threads *t, uint64_t tick);
/* Frees every dead slot; returns how many. Call only when no stored sample refers to them. */
size_t fw_threads_recycle_dead(fw_threads *t);

/* "ThreadPoolExecutor-0_12" -> "ThreadPoolExecutor-*_*". */
void fw_thread_group(const char *name, char *out, size_t outlen);

/* Byte offset of the tid inside glibc's struct pthread.
 * fw_tid_offset_candidates() runs in one thread and records every offset of the calling
 * thread's struct pthread that holds its tid; fw_tid_offset_confirm() runs in another thread
 * (whose tid differs from the pid, unlike the main thread's) and keeps the first candidate that
 * holds that thread's tid too. Returns the offset or -1. */
#define FW_TID_SCAN_BYTES 4096
#define FW_TID_MAX_CANDIDATES 16
typedef struct {
    int32_t offsets[FW_TID_MAX_CANDIDATES];
    int count;
} fw_tid_candidates;
void fw_tid_offset_candidates(fw_tid_candidates *out);
int32_t fw_tid_offset_confirm(const fw_tid_candidates *c);
/* True if the kernel has thread `tid` of this process runnable ('R': on a CPU, or waiting for
 * one), from /proc/self/task/TID/stat (an open, a read and a close). */
bool fw_thread_runnable(int64_t tid);
/* The same file's fuller sibling, /proc/self/task/TID/status: runnable ('R') and the thread's
 * voluntary context switches so far. False if it cannot be read (the thread is gone). */
bool fw_thread_sched(int64_t tid, bool *runnable, uint64_t *vcsw);
/* The tid of a thread from its pthread id, read through fw_memread; 0 if unreadable or exited. */
int64_t fw_tid_from_pthread(uint64_t pthread_id, int32_t offset);

#endif
