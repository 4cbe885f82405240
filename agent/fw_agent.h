/*
 * fw_agent: the agent's state and its start/stop/fork state machine.
 *
 * One fw_agent exists per process (owned by the extension module). It holds the configuration,
 * the two native threads (fw_sampler, fw_worker), and what they share under `lock`:
 * the thread registry, the stack resolver and the active aggregate.
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

#include "fw_gil_watch.h"
#include "fw_sampler.h"
#include "fw_stack.h"
#include "fw_threads.h"

enum { FW_LOG_DEBUG = 0, FW_LOG_INFO = 1, FW_LOG_WARNING = 2, FW_LOG_QUIET = 3 };

#define FW_APP_MAX 128
#define FW_PATH_MAX 4096
#define FW_LAST_PATH_MAX (FW_PATH_MAX + FW_APP_MAX + 64)   /* DIR/APP-PID-SEQ.pprof.gz */
#define FW_TAGS_MAX 32
#define FW_TAG_KEY_MAX 64
#define FW_TAG_VALUE_MAX 256
#define FW_URL_MAX 1024
#define FW_TOKEN_MAX 512
#define FW_EXIT_DEADLINE_NS 2000000000ull   /* stop(): the final upload may take this long */

typedef struct {
    char key[FW_TAG_KEY_MAX + 1];
    char value[FW_TAG_VALUE_MAX + 1];
} fw_tag;

typedef struct {
    char app[FW_APP_MAX + 1];
    char output_dir[FW_PATH_MAX]; /* "" = no files */
    char server[FW_URL_MAX];      /* "" = no uploads */
    char token[FW_TOKEN_MAX];     /* "" = no Authorization header */
    char ca_file[FW_PATH_MAX];    /* PEM CAs trusted for https; "" = libcurl's default bundle */
    uint64_t settings_interval_ns;
    uint32_t queue_max;           /* most profiles kept while the server is away (0: no limit
                                   * but the uploader's byte budget) */
    /* The live settings below may be changed by the uploader (remote settings) under `lock`;
     * readers outside `lock` may see a value one tick late, never a torn one that matters. */
    bool enabled;                 /* master switch */
    uint64_t interval_ns;         /* cpu sampling interval */
    bool cpu;
    bool wall;
    bool memory;                  /* stored for the memory profiler */
    uint32_t memory_threshold_kb;
    fw_tag tags[FW_TAGS_MAX];
    size_t ntags;
    uint64_t upload_interval_ns;
    int log_level;                /* FW_LOG_* */
} fw_agent_config;

/* A copy of a resolver function, owned by the worker (see fw_worker.c). */
typedef struct {
    char *qualname;
    char *filename;
    int32_t firstlineno;
} fw_fn_copy;

typedef enum { FW_AGENT_STOPPED = 0, FW_AGENT_RUNNING = 1 } fw_agent_phase;

typedef struct fw_agent {
    fw_agent_config cfg;
    fw_agent_phase phase;
    pid_t pid;
    char hostname[256];
    char host_ip[64];
    int32_t tid_offset;           /* struct pthread tid offset, -1 if unknown/unneeded */
    bool need_tid_offset;         /* 3.9/3.10: the thread state has no native tid */
    fw_tid_candidates tid_candidates;

    pthread_mutex_t lock;         /* guards everything down to `stats` */
    bool fork_locked;             /* `lock` is held across a fork by before_fork() */
    fw_threads *threads;
    fw_stack_resolver *resolver;
    fw_agg *active;               /* the sampler adds here */
    uint64_t agg_epoch;           /* incremented each time `active` is swapped out */
    fw_sampler_stats stats;
    bool rebaseline;              /* collection was switched back on: fresh CPU baselines */
    uintptr_t tick_context;       /* sampler only: context of the thread being sampled */
    uintptr_t tick_tstate;        /* sampler only: its thread state, to check the walk against */
    bool tick_prefetched;         /* sampler only: the resolver's window holds its top frames */
    int64_t tick_holder_tid;      /* sampler only: the GIL holder's tid at the last tick, 0: none */
    uint64_t tick_span_ns;        /* sampler only: time since the previous tick, at most the interval */
    fw_gil_watch gil_watch;       /* sampler only: GIL holds with waiters (fw_gil_watch.h) */
    bool threads_changed;         /* sampler only: the next tick must walk the thread list */
    uint64_t interval_start_mono; /* start of the interval `active` covers */
    int64_t interval_start_real;

    /* sampler thread */
    pthread_t sampler_thread;
    bool sampler_started;
    atomic_bool sampler_stop;
    atomic_uint_fast64_t skip_pthread;   /* the worker's pthread id (it may hold a tstate) */

    /* worker thread */
    pthread_t worker_thread;
    bool worker_started;
    atomic_bool worker_stop;
    bool worker_wake_open;        /* worker_wake_fd is an open eventfd */
    int worker_wake_fd;           /* wakes the worker: a new slot to name, or stop */
    atomic_bool names_wanted;     /* the sampler created a slot that has no name yet */
    fw_agg *spare;                /* the aggregate being written (worker only) */
    fw_fn_copy *fns;              /* resolver function copies, indexed by function id */
    size_t nfns;
    size_t fns_cap;
    bool fns_reset_pending;       /* the resolver was reset; clear `fns` after the build */
    void *name_buf;               /* worker scratch for name refreshes (fw_worker.c) */
    char (*slot_names)[FW_THREAD_NAME_MAX];  /* names of the interval being written */
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

/* All of these are called with the GIL held (from module.c). */
int fw_agent_start(const fw_agent_config *cfg, char *err, size_t errlen);
/* Stops both threads and writes the final profile. *path gets its path ("" if none). */
int fw_agent_stop(char *path, size_t pathlen);
bool fw_agent_is_running(void);
void fw_agent_before_fork(void);
void fw_agent_after_fork_parent(void);
int fw_agent_after_fork_child(char *err, size_t errlen);

/* One line on stderr, "flamewatch: ...", if `level` passes the configured level.
 * Lock-free (a single write(2)), so it is safe from every agent thread. */
void fw_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fw_log_set_level(int level);

uint64_t fw_now_mono_ns(void);
int64_t fw_now_real_ns(void);

#endif
