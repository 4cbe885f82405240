/*
 * fw_agent: the agent's shared state, what its threads hand each other under `lock`.
 *
 * One fw_agent exists per process (owned by the extension module). It holds the configuration
 * and what the threads share: the thread registry, the stack resolver, the active aggregate, the
 * sampler's counters, the channel by which the sampler asks the worker for thread names, and the
 * worker's results that stats() reports. What a thread keeps to itself lives in its own module
 * (fw_sampler.c's tick state, fw_worker.c's buffers, fw_upload.c's queue); the start/stop/fork
 * state machine that drives them all is fw_lifecycle.c. This module includes none of them, so
 * each of them may include it.
 *
 * Lock order: the GIL, then `lock`. No agent thread ever waits for the GIL while it holds
 * `lock`, and the sampler never waits for the GIL at all, so a thread that holds the GIL may
 * always take `lock`.
 */
#ifndef FW_AGENT_H
#define FW_AGENT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fw_agg.h"
#include "fw_base.h"
#include "fw_stack.h"
#include "fw_threads.h"

/* STOPPING: stop() is joining the threads with the GIL released (see fw_lifecycle.c). */
typedef enum { FW_AGENT_STOPPED = 0, FW_AGENT_RUNNING = 1, FW_AGENT_STOPPING = 2 } fw_agent_phase;

/* Counters; written by the sampler under the agent mutex. */
typedef struct {
    uint64_t ticks;            /* ticks processed */
    uint64_t expected_ticks;   /* ticks the interval called for since the first one */
    uint64_t late_ticks;       /* ticks skipped because the sampler woke up late */
    uint64_t cpu_moves;        /* the sampler pinned itself to the GIL holder's CPU (fw_cpu_follow.h) */
    uint64_t cpu_releases;     /* ... and gave the pin up after a late tick */
    uint64_t stacks_walked;
    uint64_t walk_ns;          /* time spent in fw_stack_walk */
    uint64_t quick_ticks;      /* ticks that did not walk the thread list */
    uint64_t thread_reads;     /* thread states read before a walk */
    uint64_t thread_reads_one_call; /* ... with the top of the data stack in the same call */
    uint64_t walks_redone;     /* stacks walked again because the thread moved meanwhile */
    uint64_t clock_reads_saved; /* clock reads skipped for quiet threads */
    uint64_t walk_failures;
    uint64_t walks_incomplete; /* stacks still not whole after every look: CPU to the last one */
    uint64_t cpu_to_last_running;  /* deltas of off-CPU threads charged where they last ran */
    uint64_t cpu_nogil_current;    /* deltas of threads running without the GIL for two looks, charged where they are */
    uint64_t gil_left_before_read; /* the holder released the GIL before its stack was read: delta to where it last ran */
    uint64_t threads_seen;     /* thread states visited, all ticks */
    uint64_t cpu_read_failures;
    uint64_t registry_full;
    uint64_t list_errors;      /* walks of the thread list that failed part way */
    uint64_t gil_hold_ticks;   /* ticks charged as a GIL hold with waiters (fw_gil_watch.h) */
    uint64_t first_tick_ns;
    uint64_t last_tick_ns;
} fw_sampler_stats;

typedef struct fw_agent {
    fw_agent_config cfg;
    fw_agent_phase phase;         /* changed only by fw_lifecycle, with the GIL */
    pid_t pid;
    char hostname[256];
    char host_ip[64];
    int32_t tid_offset;           /* struct pthread tid offset, -1 if unknown/unneeded */
    bool need_tid_offset;         /* 3.9/3.10: the thread state has no native tid */
    fw_tid_candidates tid_candidates;

    pthread_mutex_t lock;         /* guards everything down to `interval_start_real` */
    bool fork_locked;             /* `lock` is held across a fork by before_fork() */
    fw_threads *threads;
    fw_stack_resolver *resolver;
    fw_agg *active;               /* the sampler adds here */
    uint64_t agg_epoch;           /* incremented each time `active` is swapped out */
    fw_sampler_stats stats;
    bool rebaseline;              /* collection was switched back on: fresh CPU baselines */
    uint64_t interval_start_mono; /* start of the interval `active` covers */
    int64_t interval_start_real;

    /* between the threads, lock-free */
    atomic_uint_fast64_t skip_pthread;   /* the worker's pthread id (it may hold a tstate) */
    atomic_bool names_wanted;     /* the sampler created a slot that has no name yet */
    bool wake_open;               /* wake_fd is an open eventfd */
    int wake_fd;                  /* wakes the worker: a new slot to name, or stop */

    /* the worker's results, read by stats() */
    uint32_t seq;                 /* last file sequence number written */
    uint64_t files_written;
    uint64_t flush_errors;
    uint64_t samples_dropped;     /* entries the profile could not take (limits) */
    uint64_t last_build_cpu_ns;   /* worker CPU time to build, encode and gzip the last profile */
    uint64_t profiles_built;
    char last_path[FW_LAST_PATH_MAX];
} fw_agent;

/* The module's one agent. */
fw_agent *fw_agent_get(void);
/* With the GIL: started and not stopping. */
bool fw_agent_is_running(void);

/* The wake-up channel (an eventfd): opened before the threads start, closed after they are
 * joined. 0 or ENOMEM. */
int fw_agent_wake_open(fw_agent *a);
void fw_agent_wake_close(fw_agent *a);
/* Wakes the worker now (it otherwise sleeps until its next timed job). Lock-free and
 * non-blocking: one write() to the eventfd, safe from the sampler thread. */
void fw_agent_wake(fw_agent *a);
/* Sleeps until `deadline` (monotonic ns) or a wake-up, whichever comes first (the worker). */
void fw_agent_wait(fw_agent *a, uint64_t deadline);

#endif
