/*
 * fw_sampler: the sampling thread and the aggregate it fills.
 *
 * The thread. A plain pthread, created with every signal blocked (so no process-directed signal
 * is ever delivered to it, and it never runs Python's signal handler), that never takes the GIL
 * and never calls the Python API: everything it learns about Python it learns through
 * fw_pyversion/fw_stack, which copy memory with fw_memread. That is what lets it see a thread
 * that holds the GIL inside a long C call, and what makes it safe while threads die under it.
 *
 * Timing. It sleeps until absolute deadlines on CLOCK_MONOTONIC (clock_nanosleep with
 * TIMER_ABSTIME), so the time a tick takes does not push later ticks back. When it wakes up late
 * by one interval or more (the machine was overloaded, the process was stopped), the missed
 * ticks are skipped instead of being run back to back: CPU deltas are exact however far apart
 * two ticks are, and wall time is charged from real elapsed time, so a burst would only add cost.
 * `expected_ticks` counts what the interval called for, `ticks` what ran.
 *
 * One tick. Under the agent mutex (the worker takes it only to swap the aggregate and copy
 * function names, so the wait is short either way):
 *   - walk the thread states; skip the worker's (it holds one only while it has the GIL);
 *   - find the thread's slot by (tstate, pthread id, tid); the tid comes from the thread state on
 *     3.11+ or from glibc's struct pthread on 3.9/3.10 (fw_threads.c);
 *   - read its CPU clock by tid; the delta cpu_now - cpu_prev is charged only when positive,
 *     so an idle thread costs one clock read and no walk. A thread seen at the first tick starts
 *     from a baseline; a thread first seen later is charged all its CPU time, because all of it
 *     was spent after the agent started. When the delta is positive the clock is read once
 *     more: if it moved, the thread is on a CPU now and the delta goes to its current stack;
 *     if not, the thread ran earlier and went off CPU (a burst, then a sleep), so the delta goes
 *     to the stack where it was last seen running in this interval (fw_sampler_account), not
 *     to the sleep it is found in;
 *   - with the wall profile on, charge every thread the monotonic time since its previous tick.
 * The thread's stack is walked at most once per tick and only when something is charged.
 * The resolver (fw_stack) is used under the mutex too, because the worker copies new function
 * names out of it under the same mutex.
 *
 * The aggregate. An open-addressing hash table keyed by (slot, frames) with values (cpu, wall).
 * Frames live in one growing arena; entries and frames both have caps. Past a cap the values are
 * charged to a "[dropped]" stack of the same thread, so the totals of a profile stay right even
 * when its shape is lost. Up to FW_THREADS_MAX extra entries are reserved for those stacks.
 * Memory grows by doubling up to the caps and is reused from one interval to the next.
 */
#include "fw_sampler.h"

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fw_agent.h"
#include "fw_pyversion.h"
#include "fw_threads.h"

#define FW_AGG_HARD_ENTRIES (FW_AGG_MAX_ENTRIES + FW_THREADS_MAX)
#define FW_AGG_HARD_FRAMES  (FW_AGG_MAX_FRAMES + FW_THREADS_MAX)
#define FW_SAMPLER_MAX_THREADS 100000   /* a thread list longer than this is a torn read */
#define FW_SLEEP_CHUNK_NS 50000000ull   /* re-check the stop flag at least this often */

typedef struct {
    uint64_t hash;
    uint32_t slot;
    uint32_t depth;
    uint32_t frames_off;
    int64_t cpu_ns;
    int64_t wall_ns;
} fw_agg_rec;

struct fw_agg {
    fw_agg_rec *recs;
    size_t nrecs;
    size_t recs_cap;
    uint32_t *index;      /* record number + 1; 0 = empty */
    size_t index_cap;     /* power of two, at least twice nrecs */
    fw_frame *frames;
    size_t nframes;
    size_t frames_cap;
    uint64_t dropped;
};

static const fw_frame fw_frame_dropped = {FW_FN_DROPPED, 0};
static const fw_frame fw_frame_unknown = {FW_FN_UNKNOWN, 0};

fw_agg *fw_agg_new(void)
{
    return calloc(1, sizeof(fw_agg));
}

void fw_agg_free(fw_agg *a)
{
    if (!a)
        return;
    free(a->recs);
    free(a->index);
    free(a->frames);
    free(a);
}

void fw_agg_clear(fw_agg *a)
{
    if (a->index)
        memset(a->index, 0, a->index_cap * sizeof a->index[0]);
    a->nrecs = 0;
    a->nframes = 0;
    a->dropped = 0;
}

size_t fw_agg_count(const fw_agg *a)
{
    return a->nrecs;
}

uint64_t fw_agg_dropped(const fw_agg *a)
{
    return a->dropped;
}

void fw_agg_get(const fw_agg *a, size_t i, fw_agg_entry *out)
{
    assert(i < a->nrecs);
    const fw_agg_rec *r = &a->recs[i];
    out->slot = r->slot;
    out->depth = r->depth;
    out->frames = &a->frames[r->frames_off];
    out->cpu_ns = r->cpu_ns;
    out->wall_ns = r->wall_ns;
}

static uint64_t fw_agg_hash(uint32_t slot, const fw_frame *frames, uint32_t depth)
{
    uint64_t h = 0xcbf29ce484222325ull ^ slot;
    for (uint32_t i = 0; i < depth; i++) {
        h ^= ((uint64_t)frames[i].function << 32) | (uint32_t)frames[i].line;
        h *= 0x100000001b3ull;
        h ^= h >> 31;
    }
    return h ? h : 1;
}

static bool fw_agg_same(const fw_agg *a, const fw_agg_rec *r, uint64_t hash, uint32_t slot,
                        const fw_frame *frames, uint32_t depth)
{
    return r->hash == hash && r->slot == slot && r->depth == depth &&
           memcmp(&a->frames[r->frames_off], frames, depth * sizeof *frames) == 0;
}

/* Index position of the entry, or of the empty position where it would go. */
static size_t fw_agg_probe(const fw_agg *a, uint64_t hash, uint32_t slot, const fw_frame *frames,
                           uint32_t depth)
{
    size_t mask = a->index_cap - 1;
    size_t pos = (size_t)hash & mask;
    while (a->index[pos] != 0) {
        if (fw_agg_same(a, &a->recs[a->index[pos] - 1], hash, slot, frames, depth))
            break;
        pos = (pos + 1) & mask;
    }
    return pos;
}

static bool fw_agg_grow_index(fw_agg *a)
{
    size_t cap = a->index_cap ? a->index_cap * 2 : 1024;
    uint32_t *index = calloc(cap, sizeof *index);
    if (!index)
        return false;
    for (size_t i = 0; i < a->nrecs; i++) {
        size_t pos = (size_t)a->recs[i].hash & (cap - 1);
        while (index[pos] != 0)
            pos = (pos + 1) & (cap - 1);
        index[pos] = (uint32_t)(i + 1);
    }
    free(a->index);
    a->index = index;
    a->index_cap = cap;
    return true;
}

static bool fw_agg_reserve(fw_agg *a, uint32_t depth, size_t max_recs, size_t max_frames)
{
    if (a->nrecs + 1 > max_recs || a->nframes + depth > max_frames)
        return false;
    if (a->nrecs + 1 > a->recs_cap) {
        size_t cap = a->recs_cap ? a->recs_cap * 2 : 256;
        if (cap > FW_AGG_HARD_ENTRIES)
            cap = FW_AGG_HARD_ENTRIES;
        fw_agg_rec *recs = realloc(a->recs, cap * sizeof *recs);
        if (!recs)
            return false;
        a->recs = recs;
        a->recs_cap = cap;
    }
    if (a->nframes + depth > a->frames_cap) {
        size_t cap = a->frames_cap ? a->frames_cap : 4096;
        while (cap < a->nframes + depth)
            cap *= 2;
        if (cap > FW_AGG_HARD_FRAMES)
            cap = FW_AGG_HARD_FRAMES;
        fw_frame *frames = realloc(a->frames, cap * sizeof *frames);
        if (!frames)
            return false;
        a->frames = frames;
        a->frames_cap = cap;
    }
    if ((a->nrecs + 1) * 2 > a->index_cap && !fw_agg_grow_index(a))
        return false;
    return true;
}

/* Adds into an existing entry or creates one within the given caps. */
/* Returns the entry's index, or -1 when it is not there and the caps forbid a new one. */
static int64_t fw_agg_put(fw_agg *a, uint32_t slot, const fw_frame *frames, uint32_t depth,
                          int64_t cpu_ns, int64_t wall_ns, size_t max_recs, size_t max_frames)
{
    uint64_t hash = fw_agg_hash(slot, frames, depth);
    if (a->index_cap) {
        size_t pos = fw_agg_probe(a, hash, slot, frames, depth);
        if (a->index[pos] != 0) {
            fw_agg_rec *r = &a->recs[a->index[pos] - 1];
            r->cpu_ns += cpu_ns;
            r->wall_ns += wall_ns;
            return (int64_t)a->index[pos] - 1;
        }
    }
    if (!fw_agg_reserve(a, depth, max_recs, max_frames))
        return -1;
    size_t pos = fw_agg_probe(a, hash, slot, frames, depth);
    assert(a->index[pos] == 0);
    fw_agg_rec *r = &a->recs[a->nrecs];
    r->hash = hash;
    r->slot = slot;
    r->depth = depth;
    r->frames_off = (uint32_t)a->nframes;
    r->cpu_ns = cpu_ns;
    r->wall_ns = wall_ns;
    memcpy(&a->frames[a->nframes], frames, depth * sizeof *frames);
    a->nframes += depth;
    a->nrecs++;
    a->index[pos] = (uint32_t)a->nrecs;
    return (int64_t)a->nrecs - 1;
}

int64_t fw_agg_add(fw_agg *a, uint32_t slot, const fw_frame *frames, uint32_t depth,
                   int64_t cpu_ns, int64_t wall_ns)
{
    if (depth == 0) {
        frames = &fw_frame_unknown;
        depth = 1;
    }
    int64_t i = fw_agg_put(a, slot, frames, depth, cpu_ns, wall_ns, FW_AGG_MAX_ENTRIES,
                           FW_AGG_MAX_FRAMES);
    if (i >= 0)
        return i;
    a->dropped++;
    /* The reserve beyond the soft caps holds one "[dropped]" entry per thread slot. */
    return fw_agg_put(a, slot, &fw_frame_dropped, 1, cpu_ns, wall_ns, FW_AGG_HARD_ENTRIES,
                      FW_AGG_HARD_FRAMES);
}

bool fw_agg_add_to(fw_agg *a, int64_t index, uint32_t slot, int64_t cpu_ns)
{
    if (index < 0 || (size_t)index >= a->nrecs || a->recs[index].slot != slot)
        return false;
    a->recs[index].cpu_ns += cpu_ns;
    return true;
}

/* ---- the thread ---- */

static bool fw_thread_cpu_ns(int64_t tid, int64_t *out)
{
    /* The kernel's encoding of a per-thread CPU clock: CPUCLOCK_PERTHREAD_MASK (4) |
     * CPUCLOCK_SCHED (2) in the low bits and the bitwise complement of the tid above them.
     * Computed in unsigned arithmetic: shifting a negative int is undefined. A tid that no
     * longer exists, or belongs to another process, makes clock_gettime fail with EINVAL. */
    unsigned int enc = ((~(unsigned int)tid) << 3) | 6u;
    clockid_t clk = (clockid_t)enc;
    struct timespec ts;
    if (tid <= 0 || clock_gettime(clk, &ts) != 0)
        return false;
    *out = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    return true;
}

static int64_t fw_sampler_tid(const fw_agent *a, const fw_py_thread *t)
{
    if (t->native_tid > 0)
        return t->native_tid;
    return fw_tid_from_pthread(t->pthread_id, a->tid_offset);
}

/* CPU nanoseconds to charge this tick; updates the slot's baseline. *running tells whether the
 * thread is on a CPU right now: its clock, read again, has moved. */
static int64_t fw_sampler_cpu_delta(fw_agent *a, fw_thread_slot *s, int64_t tid, bool created,
                                    bool first_tick, bool *running)
{
    int64_t now = 0, again = 0;
    *running = false;
    if (!a->cfg.cpu || tid <= 0)
        return 0;
    if (!fw_thread_cpu_ns(tid, &now)) {
        a->stats.cpu_read_failures++;
        return 0;
    }
    int64_t delta;
    if (created && !first_tick)
        delta = now;                /* spent since the agent started */
    else if (!s->cpu_known)
        delta = 0;                  /* baseline */
    else
        delta = now - s->cpu_prev_ns;
    s->cpu_prev_ns = now;
    s->cpu_known = true;
    if (delta > 0)
        *running = fw_thread_cpu_ns(tid, &again) && again > now;
    return delta > 0 ? delta : 0;
}

static int64_t fw_sampler_wall_delta(fw_agent *a, fw_thread_slot *s, bool created,
                                     uint64_t now, uint64_t prev_tick)
{
    int64_t delta = 0;
    if (a->cfg.wall) {
        if (!created)
            delta = (int64_t)(now - s->wall_prev_ns);
        else if (prev_tick != 0)
            delta = (int64_t)(now - prev_tick);
    }
    s->wall_prev_ns = now;
    return delta > 0 ? delta : 0;
}

/* Walks the thread's stack and adds (cpu, wall) to it; returns the aggregate entry. */
static int64_t fw_sampler_charge(fw_agent *a, uint32_t slot, uintptr_t top_frame, int64_t cpu,
                                 int64_t wall)
{
    fw_frame frames[FW_STACK_MAX_DEPTH];   /* 4 KiB of the sampler's own stack */
    uint64_t t0 = fw_now_mono_ns();
    int depth = fw_stack_walk(a->resolver, top_frame, frames, FW_STACK_MAX_DEPTH);
    a->stats.walk_ns += fw_now_mono_ns() - t0;
    a->stats.stacks_walked++;
    if (depth < 0) {
        a->stats.walk_failures++;
        depth = 0;
    }
    return fw_agg_add(a->active, slot, frames, (uint32_t)depth, cpu, wall);
}

/* Where a thread's CPU delta goes. The delta is what the thread used since the previous tick;
 * the stack it is in now is where it used it only if it is running now. A thread found off CPU
 * (asleep after a short burst, say) used its delta where it last ran, so the delta goes to the
 * stack it was last seen running in during this interval; that needs no walk at all. Only
 * when there is no such stack yet (first tick of an interval) does the current stack take it,
 * so the totals stay exact either way. */
static void fw_sampler_account(fw_agent *a, fw_thread_slot *s, uint32_t slot, uintptr_t top_frame,
                               int64_t cpu, bool running, int64_t wall)
{
    bool have_last = s->last_epoch == a->agg_epoch && s->last_entry >= 0;
    if (cpu > 0 && !running && have_last && fw_agg_add_to(a->active, s->last_entry, slot, cpu)) {
        a->stats.cpu_to_last_running++;
        cpu = 0;
    }
    if (cpu <= 0 && wall <= 0)
        return;
    int64_t entry = fw_sampler_charge(a, slot, top_frame, cpu, wall);
    if (cpu > 0 && (running || !have_last)) {
        s->last_entry = entry;
        s->last_epoch = a->agg_epoch;
    }
}

static void fw_sampler_thread_tick(fw_agent *a, uintptr_t tstate, const fw_py_thread *t,
                                   uint64_t now, uint64_t prev_tick, uint64_t tick)
{
    bool created = false, running = false;
    if (t->pthread_id == atomic_load_explicit(&a->skip_pthread, memory_order_relaxed))
        return;
    int64_t tid = fw_sampler_tid(a, t);
    int32_t idx = fw_threads_lookup(a->threads, tstate, t->pthread_id, tid, tick, &created);
    if (idx < 0) {
        a->stats.registry_full++;
        return;
    }
    fw_thread_slot *s = fw_threads_slot(a->threads, idx);
    assert(s != NULL);
    if (created) {
        s->last_entry = -1;
        atomic_store_explicit(&a->names_wanted, true, memory_order_relaxed);
    }
    bool first_tick = prev_tick == 0;
    int64_t cpu = fw_sampler_cpu_delta(a, s, tid, created, first_tick, &running);
    int64_t wall = fw_sampler_wall_delta(a, s, created, now, prev_tick);
    fw_sampler_account(a, s, (uint32_t)idx, t->top_frame, cpu, running, wall);
}

static void fw_sampler_tick(fw_agent *a, uint64_t now)
{
    pthread_mutex_lock(&a->lock);
    fw_sampler_stats *st = &a->stats;
    uint64_t prev_tick = st->ticks ? st->last_tick_ns : 0;
    uint64_t tick = ++st->ticks;
    if (tick == 1)
        st->first_tick_ns = now;
    st->last_tick_ns = now;
    st->expected_ticks = (now - st->first_tick_ns) / a->cfg.interval_ns + 1;

    bool complete = true;
    size_t n = 0;
    for (uintptr_t ts = fw_py_thread_head(); ts != 0;) {
        fw_py_thread t;
        if (++n > FW_SAMPLER_MAX_THREADS || !fw_py_read_thread(ts, &t)) {
            complete = false;
            break;
        }
        fw_sampler_thread_tick(a, ts, &t, now, prev_tick, tick);
        ts = t.next;
    }
    st->threads_seen += n;
    if (complete)
        fw_threads_end_tick(a->threads, tick);
    else
        st->list_errors++;
    pthread_mutex_unlock(&a->lock);
}

/* Sleeps until `deadline` (absolute, monotonic) or until asked to stop. */
static void fw_sampler_sleep_until(fw_agent *a, uint64_t deadline)
{
    for (;;) {
        uint64_t now = fw_now_mono_ns();
        if (now >= deadline || atomic_load(&a->sampler_stop))
            return;
        uint64_t target = deadline - now > FW_SLEEP_CHUNK_NS ? now + FW_SLEEP_CHUNK_NS : deadline;
        struct timespec ts = {(time_t)(target / 1000000000u), (long)(target % 1000000000u)};
        (void)clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    }
}

static void fw_sampler_confirm_tid_offset(fw_agent *a)
{
    if (!a->need_tid_offset)
        return;
    int32_t off = fw_tid_offset_confirm(&a->tid_candidates);
    pthread_mutex_lock(&a->lock);
    a->tid_offset = off;
    pthread_mutex_unlock(&a->lock);
    if (off < 0)
        fw_log(FW_LOG_WARNING, "cannot find thread ids on this C library; cpu profile disabled");
    else
        fw_log(FW_LOG_DEBUG, "thread id found at offset %d of struct pthread", (int)off);
}

/* Asks the scheduler for a short time slice. Since Linux 6.12 (EEVDF) a SCHED_OTHER thread may
 * request its slice through sched_runtime, unprivileged, and a short slice means an early virtual
 * deadline: a sampler that wakes up on a busy machine runs sooner, without running any more or
 * any more often. Older kernels ignore the field; a kernel or a seccomp filter that refuses the
 * call costs nothing. The thread's policy and nice value stay what they were (an unprivileged
 * thread cannot raise its priority this way: that fails with EPERM and changes nothing). */
static void fw_sampler_short_slice(void)
{
    /* The kernel's struct sched_attr (linux/sched/types.h cannot be included next to glibc's
     * sched.h), as words: size, policy | flags, nice | priority, runtime, deadline, period. */
    uint64_t attr[6] = {0};
    uint32_t head[2] = {(uint32_t)sizeof attr, 0u /* SCHED_OTHER */};
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, 0);   /* this thread's: keep it */
    int32_t nice_prio[2] = {errno == 0 ? nice : 0, 0};
    memcpy(&attr[0], head, sizeof head);
    memcpy(&attr[2], nice_prio, sizeof nice_prio);
    attr[3] = 100000;                 /* sched_runtime: 100 us, the kernel's minimum */
    if (syscall(SYS_sched_setattr, 0, attr, 0u) != 0)
        fw_log(FW_LOG_DEBUG, "short scheduler slice not available");
}

static void *fw_sampler_main(void *arg)
{
    fw_agent *a = arg;
    uint64_t interval = a->cfg.interval_ns;
    fw_sampler_short_slice();
    fw_sampler_confirm_tid_offset(a);
    uint64_t deadline = fw_now_mono_ns() + interval;
    while (!atomic_load(&a->sampler_stop)) {
        fw_sampler_sleep_until(a, deadline);
        if (atomic_load(&a->sampler_stop))
            break;
        uint64_t now = fw_now_mono_ns();
        if (now >= deadline + interval) {
            /* Late by one interval or more: skip the missed ticks instead of bursting. */
            uint64_t missed = (now - deadline) / interval;
            deadline += missed * interval;
            pthread_mutex_lock(&a->lock);
            a->stats.late_ticks += missed;
            pthread_mutex_unlock(&a->lock);
        }
        fw_sampler_tick(a, now);
        deadline += interval;
    }
    return NULL;
}

int fw_sampler_start(fw_agent *a)
{
    sigset_t all, old;
    assert(!a->sampler_started);
    atomic_store(&a->sampler_stop, false);
    sigfillset(&all);
    /* The new thread inherits this mask: no signal is ever delivered to it. */
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&a->sampler_thread, NULL, fw_sampler_main, a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0)
        a->sampler_started = true;
    return rc;
}

void fw_sampler_stop(fw_agent *a)
{
    if (!a->sampler_started)
        return;
    atomic_store(&a->sampler_stop, true);
    pthread_join(a->sampler_thread, NULL);
    a->sampler_started = false;
}
