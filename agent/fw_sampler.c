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
 *     was spent after the agent started. Whether the delta belongs to the current stack
 *     depends on whether the thread runs now: the GIL holder (read once per tick) does; another
 *     thread does if its clock, read once more, has moved. A thread found off CPU ran earlier (a
 *     burst, then a sleep or a wait for the GIL), so its delta goes to the stack where it was
 *     last seen holding the GIL in this interval (fw_sampler_route_cpu), not to the sleep it is
 *     found in;
 *   - with the wall profile on, charge every thread the monotonic time since its previous tick.
 * The thread's stack is walked at most once per tick and only when something is charged.
 * That is a full tick. Most ticks are quick ones (fw_sampler_quick_tick): they read the CPU
 * clocks of the threads already known, and a thread state only for a thread that used CPU; the
 * full walk comes back every FW_FULL_WALK_EVERY ticks and whenever the thread set looks changed.
 * The resolver (fw_stack) is used under the mutex too, because the worker copies new function
 * names out of it under the same mutex.
 *
 * The aggregate it fills is fw_agg.h's.
 */
#include "fw_sampler.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fw_cpu_follow.h"
#include "fw_gil_watch.h"
#include "fw_pyversion.h"
#include "fw_tags.h"
#include "fw_threads.h"

#define FW_SAMPLER_MAX_THREADS 100000   /* a thread list longer than this is a torn read */
#define FW_SLEEP_CHUNK_NS 50000000ull   /* re-check the stop flag at least this often */
#define FW_WALK_ATTEMPTS 3               /* walks of one stack while the thread keeps moving */
#define FW_FULL_WALK_EVERY 25            /* ticks between walks of the whole thread list */
#define FW_QUIET_AFTER 3                 /* quiet ticks before a thread's clock is read less often */
#define FW_QUIET_STRIDE 4                /* a quiet thread's clock is read every this many ticks */
#define FW_DISABLED_POLL_NS 100000000ull  /* master switch off: look at it this often */
#define FW_FOLLOW_BACKOFF_TICKS 1000     /* no CPU pin for this long after a late tick */

/* The sampler's own state: only its thread touches the tick fields (start and stop, with the
 * GIL, the rest), so they need no lock. One agent per process, so one sampler. */
typedef struct {
    pthread_t thread;
    bool started;
    atomic_bool stop;
    uintptr_t tick_context;       /* context of the thread being sampled */
    uintptr_t tick_tstate;        /* its thread state, to check the walk against */
    bool tick_prefetched;         /* the resolver's window holds its top frames */
    int64_t tick_holder_tid;      /* the GIL holder's tid at the last tick, 0: none */
    uint64_t tick_span_ns;        /* time since the previous tick, at most the interval */
    fw_gil_watch gil_watch;       /* GIL holds with waiters (fw_gil_watch.h) */
    bool threads_changed;         /* the next tick must walk the thread list */
} fw_sampler_state;

static fw_sampler_state fw_smp;

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

/* Runnable without being seen to run: preempted from a CPU, or woken from a sleep or a wait
 * and waiting for one. On a busy machine a woken thread waits for milliseconds, and a thread
 * that sleeps briefly between bursts of Python (a request handler waiting on I/O) is then found
 * runnable at its sleep line tick after tick although it computed with the GIL between the
 * sleeps. Such a thread gives up its CPU of its own accord at least once every few ticks; C
 * code that computes without the GIL does so only between calls (a hashing loop re-taking the
 * GIL: once per call of 80 ms or more). So a runnable thread counts as preempted only if it
 * made fewer than one voluntary switch per FW_WAKER_TICKS ticks since the previous look. */
#define FW_WAKER_TICKS 4u
static bool fw_thread_preempted(fw_thread_slot *s, int64_t tid, uint64_t tick)
{
    bool runnable = false;
    uint64_t vcsw = 0;
    if (!fw_thread_sched(tid, &runnable, &vcsw))
        return false;
    bool waker = s->vcsw_known && vcsw > s->vcsw_prev &&
                 (vcsw - s->vcsw_prev) * FW_WAKER_TICKS >= tick - s->vcsw_tick;
    s->vcsw_prev = vcsw;
    s->vcsw_tick = tick;
    s->vcsw_known = true;
    return runnable && !waker;
}

static int64_t fw_sampler_tid(const fw_agent *a, const fw_py_thread *t)
{
    if (t->native_tid > 0)
        return t->native_tid;
    return fw_tid_from_pthread(t->pthread_id, a->tid_offset);
}

/* Where a thread is at a tick, as far as its CPU delta is concerned. */
typedef enum {
    FW_RUN_OFF = 0,   /* off CPU: asleep, blocked, or waiting for the GIL */
    FW_RUN_GIL,       /* holds the GIL: runs Python, or C code called from the line we see */
    FW_RUN_NOGIL,     /* runnable without the GIL: C code that released it, or taking it back */
} fw_run_state;

/* CPU nanoseconds to charge this tick; updates the slot's baseline and tells where the thread
 * is now. The GIL holder is running by definition. Any other thread whose delta is positive
 * has its clock read once more: if it moved, the thread is on a CPU right now. */
static int64_t fw_sampler_cpu_delta(fw_agent *a, fw_thread_slot *s, int64_t tid, bool created,
                                    bool first_tick, bool holds_gil, fw_run_state *state)
{
    int64_t now = 0, again = 0;
    *state = FW_RUN_OFF;
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
    if (delta > 0) {
        if (holds_gil)
            *state = FW_RUN_GIL;
        else if (delta >= (int64_t)(fw_smp.tick_span_ns / 2) &&
                 ((fw_thread_cpu_ns(tid, &again) && again > now) || fw_thread_preempted(s, tid, a->stats.ticks)))
            *state = FW_RUN_NOGIL;   /* on a CPU, or preempted from one, without the GIL */
        /* Otherwise off CPU. C code that runs without the GIL keeps a core busy, so its thread
         * used at least half the time since the previous tick (ticks are jittered: that time
         * is between half and one and a half intervals). Threads that share the GIL use their
         * share of one core (a third each for three busy threads), and threads queued for the
         * GIL wake up every few milliseconds and show tiny deltas: such a thread found runnable
         * is taking the GIL back, not computing, and asking the kernel about each of them would
         * cost more than the rest of the tick. */
    }
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

/* True if a frame of the stack could not be resolved: its code object was unreadable, which in
 * a live stack means the frame was popped and its memory reused while we read it. */
static bool fw_sampler_has_unknown(const fw_frame *frames, int depth)
{
    for (int i = 0; i < depth; i++)
        if (frames[i].function == FW_STACK_FN_UNKNOWN)
            return true;
    return false;
}

/* Walks the thread's stack and adds (cpu, wall) to it; returns the aggregate entry. */
static int64_t fw_sampler_charge(fw_agent *a, uint32_t slot, uintptr_t top_frame, int64_t cpu,
                                 int64_t wall, int64_t fallback)
{
    fw_frame frames[FW_STACK_MAX_DEPTH];   /* 4 KiB of the sampler's own stack */
    uint64_t t0 = fw_now_mono_ns();
    /* The dynamic tags of the context the thread runs in now (fw_tags.c), read with the stack.
     * The thread keeps running while we walk: an event loop that switches tasks in between
     * would pair one task's frames with another task's tags. So the thread state is copied
     * again after the walk, and the walk is redone while its top frame or context moved. */
    uint32_t tags = 0;
    int depth = -1;
    bool whole = false;
    uintptr_t context = fw_smp.tick_context;
    /* A walk is also redone when it did not come out whole (its top frame was not a frame, or a
     * frame's code was unreadable): a thread that makes many short calls pops frames while we
     * copy them, above all where a call from C (an entry frame on the C stack) separates them;
     * a fresh look usually finds a live stack. Without dynamic tags a whole walk needs no
     * second look. */
    bool tags_used = fw_tags_in_use();
    for (int attempt = 0; attempt < FW_WALK_ATTEMPTS; attempt++) {
        tags = fw_tags_of_context(context);
        depth = fw_smp.tick_prefetched
                    ? fw_stack_walk_prefetched(a->resolver, top_frame, frames, FW_STACK_MAX_DEPTH)
                    : fw_stack_walk(a->resolver, top_frame, frames, FW_STACK_MAX_DEPTH);
        fw_smp.tick_prefetched = false;
        /* No frame at all is not a stack either: a thread running Python has at least one. */
        whole = depth > 0 && !fw_stack_last_walk_broken(a->resolver) &&
                !fw_sampler_has_unknown(frames, depth);
        if (whole && !tags_used)
            break;
        fw_py_thread after;
        if (fw_smp.tick_tstate == 0 ||
            !fw_py_read_thread_win(fw_smp.tick_tstate, &after, fw_stack_window(a->resolver)) ||
            (whole && after.top_frame == top_frame && after.context == context))
            break;
        fw_smp.tick_prefetched = true;
        a->stats.walks_redone++;
        top_frame = after.top_frame;
        context = after.context;
    }
    fw_smp.tick_prefetched = false;
    a->stats.walk_ns += fw_now_mono_ns() - t0;
    a->stats.stacks_walked++;
    if (depth < 0)
        a->stats.walk_failures++;
    /* Still not whole: the thread outran every look. Its CPU goes to the last stack it was seen
     * running in (a real stack of the same thread, a tick or so old) rather than to
     * "[unknown]"; the totals stay exact. Wall time, and a thread with no such stack yet, keep
     * what the walk found. */
    bool to_fallback = !whole && cpu > 0 && fallback >= 0 &&
                       fw_agg_add_to(a->active, fallback, slot, cpu);
    if (to_fallback) {
        a->stats.walks_incomplete++;
        cpu = 0;
    }
    if (depth < 0)
        depth = 0;
    int64_t entry = -1;
    if (cpu > 0 || wall > 0)
        entry = fw_agg_add_tagged(a->active, slot, tags, frames, (uint32_t)depth, cpu, wall);
    return to_fallback ? fallback : entry;
}

/* Where a thread's CPU delta goes. The delta is what the thread used since the previous tick;
 * the stack it is in now is where it used it only if it is running now.
 *   - Holding the GIL: the current stack takes the delta, and becomes the thread's "last
 *     running" stack.
 *   - Off CPU (asleep after a short burst, queued for the GIL, or preempted): the thread used
 *     its delta where it last ran, so the delta goes to its last running stack; that needs no
 *     walk at all.
 *   - On a CPU without the GIL: either C code that released the GIL (say, hashing a large
 *     buffer), or the short moment of taking the GIL back after a sleep. The first is sustained
 *     and the second is not, so only a thread seen running without the GIL twice in a row
 *     (off-CPU ticks in between do not count) charges its current stack, which then becomes its last running stack too (so that
 *     ticks where the machine preempted it still go there); the first such tick counts as off
 *     CPU. Charging the sleep line with a burst's CPU because the thread was caught re-taking
 *     the GIL is the error this avoids.
 * When there is no last running stack yet the current stack takes the delta, so the totals
 * stay exact in every case. Last running stacks survive the flush (fw_sampler_carry_last_running).
 *
 * This is the part of the accounting that needs no stack: it sends the delta to the last running stack
 * when it belongs there. Returns the CPU left for the current stack (0 if it went to the last
 * running stack); *becomes_last says whether the current stack becomes the last running one. */
static int64_t fw_sampler_route_cpu(fw_agent *a, fw_thread_slot *s, uint32_t slot, int64_t cpu,
                                    fw_run_state state, bool *becomes_last)
{
    bool have_last = s->last_epoch == a->agg_epoch && s->last_entry >= 0;
    /* Seen running without the GIL now and the previous time it was seen running at all
     * (ticks where the machine had preempted it do not break the run). */
    bool sustained_nogil = state == FW_RUN_NOGIL && s->nogil_prev;
    if (state != FW_RUN_OFF)
        s->nogil_prev = state == FW_RUN_NOGIL;
    *becomes_last = state == FW_RUN_GIL || sustained_nogil || !have_last;
    if (cpu > 0 && !*becomes_last && fw_agg_add_to(a->active, s->last_entry, slot, cpu)) {
        a->stats.cpu_to_last_running++;
        return 0;
    }
    if (cpu > 0 && sustained_nogil)
        a->stats.cpu_nogil_current++;
    return cpu;
}

/* The GIL holder is read once, at the start of the tick, and a thread's stack a little later
 * (after its clock, and on a loaded machine after the sampler was preempted in between). A
 * holder that released the GIL meanwhile (into a sleep, a lock wait, or C code that releases
 * it) is found where it went, not where it used its delta, so the delta goes where it last
 * ran, as an off-CPU thread's does, and the stack it is found in does not become its last
 * running one. Call after the thread state was copied; returns the CPU left for that stack. */
static int64_t fw_sampler_recheck_holder(fw_agent *a, fw_thread_slot *s, uint32_t slot,
                                         uintptr_t tstate, fw_run_state state, int64_t cpu,
                                         bool *becomes_last)
{
    if (state != FW_RUN_GIL || cpu <= 0 || fw_py_gil_holder() == tstate)
        return cpu;
    bool have_last = s->last_epoch == a->agg_epoch && s->last_entry >= 0;
    if (!have_last || !fw_agg_add_to(a->active, s->last_entry, slot, cpu))
        return cpu;
    a->stats.gil_left_before_read++;
    *becomes_last = false;
    return 0;
}

/* Walks the current stack and charges it what fw_sampler_route_cpu left, plus wall time. */
static void fw_sampler_charge_current(fw_agent *a, fw_thread_slot *s, uint32_t slot,
                                      uintptr_t top_frame, int64_t cpu, int64_t wall,
                                      bool becomes_last)
{
    if (cpu <= 0 && wall <= 0)
        return;
    bool have_last = s->last_epoch == a->agg_epoch && s->last_entry >= 0;
    int64_t entry = fw_sampler_charge(a, slot, top_frame, cpu, wall, have_last ? s->last_entry : -1);
    if (cpu > 0 && becomes_last) {
        s->last_entry = entry;
        s->last_epoch = a->agg_epoch;
    }
}

static void fw_sampler_count_read(fw_agent *a, const fw_thread_slot *s)
{
    a->stats.thread_reads++;
    if (s->stack_hint.one_call)
        a->stats.thread_reads_one_call++;
}

static void fw_sampler_thread_tick(fw_agent *a, uintptr_t tstate, const fw_py_thread *t,
                                   uint64_t now, uint64_t prev_tick, uint64_t tick,
                                   uintptr_t gil_holder)
{
    bool created = false;
    fw_run_state state = FW_RUN_OFF;
    if (t->pthread_id == atomic_load_explicit(&a->skip_pthread, memory_order_relaxed))
        return;
    int64_t tid = fw_sampler_tid(a, t);
    if (tstate == gil_holder)
        fw_smp.tick_holder_tid = tid;
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
        fw_agent_wake(a);
    }
    bool first_tick = prev_tick == 0;
    int64_t cpu = fw_sampler_cpu_delta(a, s, tid, created, first_tick, tstate == gil_holder, &state);
    fw_gil_watch_thread(&fw_smp.gil_watch, idx, tstate == gil_holder, cpu, state == FW_RUN_NOGIL);
    int64_t wall = fw_sampler_wall_delta(a, s, created, now, prev_tick);
    bool becomes_last = false;
    cpu = fw_sampler_route_cpu(a, s, (uint32_t)idx, cpu, state, &becomes_last);
    if (cpu <= 0 && wall <= 0)
        return;   /* nothing for the current stack: no walk, no copy of its top */
    /* The clock reads above (and a /proc read) took time since `t` was copied: the thread has
     * moved on, and an event loop may have switched tasks (a stale top frame with a fresh
     * context would give one task's stack another task's tags). Copy the thread state again,
     * with the top of its data stack, right before the walk, so that frame, frames and context
     * come from one moment. */
    fw_py_thread now_t;
    const fw_py_thread *use = t;
    bool read = fw_py_read_thread_hinted(tstate, &now_t, fw_stack_window(a->resolver), &s->stack_hint);
    fw_sampler_count_read(a, s);
    if (read && now_t.pthread_id == t->pthread_id) {
        use = &now_t;
        fw_smp.tick_prefetched = true;
    }
    cpu = fw_sampler_recheck_holder(a, s, (uint32_t)idx, tstate, state, cpu, &becomes_last);
    if (cpu <= 0 && wall <= 0) {
        fw_smp.tick_prefetched = false;
        return;
    }
    fw_smp.tick_context = use->context;
    fw_smp.tick_tstate = tstate;
    fw_sampler_charge_current(a, s, (uint32_t)idx, use->top_frame, cpu, wall, becomes_last);
}

/* Collection was switched back on (remote settings): every baseline covers the time it was
 * off, so this tick starts afresh, as the first tick after start does. */
static void fw_sampler_rebaseline(fw_agent *a, uint64_t now)
{
    for (int32_t i = 0; i < (int32_t)fw_threads_span(a->threads); i++) {
        fw_thread_slot *s = fw_threads_slot(a->threads, i);
        if (!s)
            continue;
        s->cpu_known = false;
        s->wall_prev_ns = now;
        s->last_entry = -1;
    }
    a->rebaseline = false;
}

/* One tick; returns the interval to the next one (the live setting, read under the mutex). */
/* A tick that does not walk the thread list. Between full walks (every FW_FULL_WALK_EVERY ticks,
 * and whenever something looks different) the sampler only reads the CPU clock of each thread
 * it knows, and reads a thread state only for a thread that used CPU. An idle or GIL-waiting
 * thread then costs one clock read per tick instead of one or two memory reads plus the clock,
 * which is what makes 50 threads cheap. Anything unexpected (a clock that cannot be read: the
 * thread is gone; a thread state that now belongs to another thread) asks for a full walk at
 * the next tick; a GIL holder we do not know (a new thread) gets one in the same tick, before
 * this function is reached. New threads are therefore found
 * within one tick if they run Python, and within FW_FULL_WALK_EVERY ticks otherwise; CPU they
 * used before is not lost, because a thread first seen late is charged all of it. */
static void fw_sampler_quick_tick(fw_agent *a, uint64_t tick, uintptr_t gil_holder)
{
    for (int32_t i = 0; i < (int32_t)fw_threads_span(a->threads); i++) {
        fw_thread_slot *s = fw_threads_slot(a->threads, i);
        if (!s || !s->alive)
            continue;
        s->seen_tick = tick;
        if (s->tid <= 0 || s->pthread_id == atomic_load_explicit(&a->skip_pthread, memory_order_relaxed))
            continue;
        bool holds_gil = s->tstate == gil_holder;
        if (holds_gil)
            fw_smp.tick_holder_tid = s->tid;
        /* A thread that has shown next to no CPU for a while (asleep, or queued for the GIL) is
         * read every FW_QUIET_STRIDE ticks only, staggered by slot: its CPU accumulates in the
         * clock meanwhile, and it would go to its last running stack anyway. It is read at once
         * when it takes the GIL, and at every tick of a GIL hold (fw_gil_watch.h counts them). */
        if (!holds_gil && s->quiet_ticks >= FW_QUIET_AFTER && !fw_smp.gil_watch.held &&
            (tick + (uint64_t)i) % FW_QUIET_STRIDE != 0) {
            a->stats.clock_reads_saved++;
            continue;
        }
        uint64_t failures = a->stats.cpu_read_failures;
        fw_run_state state = FW_RUN_OFF;
        int64_t cpu = fw_sampler_cpu_delta(a, s, s->tid, false, false, holds_gil, &state);
        if (a->stats.cpu_read_failures != failures) {
            fw_smp.threads_changed = true;
            continue;
        }
        fw_gil_watch_thread(&fw_smp.gil_watch, i, holds_gil, cpu, state == FW_RUN_NOGIL);
        if (!holds_gil && cpu < (int64_t)(a->cfg.interval_ns / 8)) {
            if (s->quiet_ticks < UINT8_MAX)
                s->quiet_ticks++;
        } else {
            s->quiet_ticks = 0;
        }
        /* A delta that goes to the last running stack needs no walk, so no thread state:
         * with many threads sharing the GIL, that is every thread but the holder. */
        bool becomes_last = false;
        cpu = fw_sampler_route_cpu(a, s, (uint32_t)i, cpu, state, &becomes_last);
        if (cpu <= 0)
            continue;
        fw_py_thread t;
        bool read = fw_py_read_thread_hinted(s->tstate, &t, fw_stack_window(a->resolver), &s->stack_hint);
        fw_sampler_count_read(a, s);
        if (!read || t.pthread_id != s->pthread_id || (t.native_tid > 0 && t.native_tid != s->tid)) {
            fw_smp.threads_changed = true;
            continue;
        }
        cpu = fw_sampler_recheck_holder(a, s, (uint32_t)i, s->tstate, state, cpu, &becomes_last);
        if (cpu <= 0)
            continue;
        fw_smp.tick_prefetched = true;
        fw_smp.tick_context = t.context;
        fw_smp.tick_tstate = s->tstate;
        fw_sampler_charge_current(a, s, (uint32_t)i, t.top_frame, cpu, 0, becomes_last);
    }
}

/* True if a live slot holds thread state `tstate` with the thread's tid. A slot without a tid
 * was made from a thread state that existed before its thread ran (the parent makes it; the
 * thread then waits for the GIL to start): quick ticks cannot read its clock, so the thread
 * holding the GIL under it needs the full walk that gives it its real slot. Otherwise it stays
 * unseen until the next periodic walk, which charges all its CPU to wherever it is by then. */
static bool fw_sampler_knows(fw_agent *a, uintptr_t tstate)
{
    /* Before 3.11 the tid comes through an offset into glibc's struct pthread; until that offset
     * is confirmed no slot has a tid, and a walk per tick would find none either. */
    bool tids_known = !a->need_tid_offset || a->tid_offset >= 0;
    for (int32_t i = 0; i < (int32_t)fw_threads_span(a->threads); i++) {
        const fw_thread_slot *s = fw_threads_slot(a->threads, i);
        if (s && s->alive && s->tstate == tstate && (s->tid > 0 || !tids_known))
            return true;
    }
    return false;
}

static uint64_t fw_sampler_tick(fw_agent *a, uint64_t now)
{
    fw_smp.tick_holder_tid = 0;   /* found again below, if there is a holder and collection is on */
    pthread_mutex_lock(&a->lock);
    if (!a->cfg.enabled) {
        /* Master switch off: no thread is looked at; check again in 100 ms. */
        pthread_mutex_unlock(&a->lock);
        return FW_DISABLED_POLL_NS;
    }
    bool fresh = a->rebaseline;
    if (fresh)
        fw_sampler_rebaseline(a, now);
    fw_sampler_stats *st = &a->stats;
    uint64_t prev_tick = st->ticks && !fresh ? st->last_tick_ns : 0;
    fw_smp.tick_span_ns = prev_tick != 0 && now - prev_tick < a->cfg.interval_ns
                              ? now - prev_tick
                              : a->cfg.interval_ns;
    uint64_t tick = ++st->ticks;
    if (tick == 1)
        st->first_tick_ns = now;
    st->last_tick_ns = now;
    st->expected_ticks = (now - st->first_tick_ns) / a->cfg.interval_ns + 1;

    bool complete = true;
    size_t n = 0;
    uintptr_t gil_holder = fw_gil_watch_begin(&fw_smp.gil_watch, prev_tick != 0,
                                              fw_threads_live(a->threads) > 1);
    /* A GIL holder we have no slot for is a new thread: walk the list now, not at the next
     * tick, so that it is found (and named) even if it lives only a few ticks. */
    bool full = a->cfg.wall || fresh || prev_tick == 0 || fw_smp.threads_changed ||
                tick % FW_FULL_WALK_EVERY == 0 ||
                (gil_holder != 0 && !fw_sampler_knows(a, gil_holder));
    if (full) {
        fw_smp.threads_changed = false;
        for (uintptr_t ts = fw_py_thread_head(); ts != 0;) {
            fw_py_thread t;
            if (++n > FW_SAMPLER_MAX_THREADS || !fw_py_read_thread(ts, &t)) {
                complete = false;
                break;
            }
            fw_sampler_thread_tick(a, ts, &t, now, prev_tick, tick, gil_holder);
            ts = t.next;
        }
        st->threads_seen += n;
        if (complete)
            fw_threads_end_tick(a->threads, tick);
        else
            st->list_errors++;
    } else {
        st->quick_ticks++;
        fw_sampler_quick_tick(a, tick, gil_holder);
    }
    fw_gil_watch_end(&fw_smp.gil_watch, a, prev_tick != 0 ? (int64_t)(now - prev_tick) : 0);
    uint64_t interval = a->cfg.interval_ns;
    pthread_mutex_unlock(&a->lock);
    return interval;
}

/* Sleeps until `deadline` (absolute, monotonic) or until asked to stop. */
static void fw_sampler_sleep_until(uint64_t deadline)
{
    for (;;) {
        uint64_t now = fw_now_mono_ns();
        if (now >= deadline || atomic_load(&fw_smp.stop))
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

/* Every FW_FULL_WALK_EVERY ticks, the sampler moves next to the GIL holder (fw_cpu_follow.h). */
static void fw_sampler_follow(fw_agent *a, fw_cpu_follow *follow, uint64_t tick)
{
    if (tick % FW_FULL_WALK_EVERY != 0 || fw_smp.tick_holder_tid <= 0)
        return;
    if (fw_cpu_follow_thread(follow, fw_smp.tick_holder_tid, tick)) {
        pthread_mutex_lock(&a->lock);
        a->stats.cpu_moves++;
        pthread_mutex_unlock(&a->lock);
    }
}

/* Where in its slot of the tick grid a tick falls: a random offset in [0, interval / 2).
 *
 * Why. A program with a period of its own (a handler that computes 3 ms, then sleeps 1 ms)
 * and a sampler that ticks at fixed times can fall in step, so that the sampler keeps finding
 * the thread at its sleep line, just back with the GIL, with the CPU delta of the burst it ran
 * before (seen in BurstyTest at moderate load; the likely lock, not proven, is the two wake-ups
 * sharing a timer interrupt on the CPU the sampler follows, fw_cpu_follow.h). A random offset per tick
 * makes the moment of each look independent of the program's phase, which is what charging the
 * delta to the stack found assumes; the grid itself (and so the rate) does not move.
 * xorshift64: a few instructions, no libc state, seeded per sampler thread. */
static uint64_t fw_sampler_jitter(uint64_t *rng, uint64_t interval)
{
    uint64_t x = *rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *rng = x;
    uint64_t span = interval / 2;
    return span > 0 ? x % span : 0;
}

static void *fw_sampler_main(void *arg)
{
    fw_agent *a = arg;
    uint64_t interval = a->cfg.interval_ns;
    uint64_t ticks = 0;
    fw_cpu_follow follow;
    fw_sampler_short_slice();
    /* The sampler's own timer fires when asked, not up to 50 us later to share an interrupt
     * with another timer (the default slack): a tick that waits for the program's own wake-up
     * would look at the program at that wake-up. Affects this thread only. */
    (void)prctl(PR_SET_TIMERSLACK, 1ul, 0ul, 0ul, 0ul);
    fw_cpu_follow_init(&follow);
    fw_sampler_confirm_tid_offset(a);
    uint64_t grid = fw_now_mono_ns() + interval;   /* start of the next tick's slot */
    uint64_t rng = (grid ^ ((uint64_t)syscall(SYS_gettid) << 32)) | 1u;
    while (!atomic_load(&fw_smp.stop)) {
        uint64_t deadline = grid + fw_sampler_jitter(&rng, interval);
        fw_sampler_sleep_until(deadline);
        if (atomic_load(&fw_smp.stop))
            break;
        uint64_t now = fw_now_mono_ns();
        if (now >= deadline + interval) {
            /* Late by one interval or more: skip the missed ticks instead of bursting, and do not
             * stay pinned to a CPU that something else keeps busy. */
            uint64_t missed = (now - deadline) / interval;
            grid += missed * interval;
            bool released = fw_cpu_follow_release(&follow, ticks, FW_FOLLOW_BACKOFF_TICKS);
            pthread_mutex_lock(&a->lock);
            a->stats.late_ticks += missed;
            a->stats.cpu_releases += released ? 1u : 0u;
            pthread_mutex_unlock(&a->lock);
        }
        uint64_t next = fw_sampler_tick(a, now);
        fw_sampler_follow(a, &follow, ++ticks);
        if (next != interval) {
            /* The interval changed (remote settings) or collection is off: restart the grid. */
            interval = next;
            grid = now;
        }
        grid += interval;
    }
    /* One last look when asked to stop: the CPU threads used since the previous tick (up to an
     * interval and a half, more if that tick was late) goes into the final profile instead of
     * being lost, which matters for a short run and for the profile written before an exec. */
    if (ticks > 0)
        (void)fw_sampler_tick(a, fw_now_mono_ns());
    return NULL;
}

int fw_sampler_start(fw_agent *a)
{
    sigset_t all, old;
    assert(!fw_smp.started);
    atomic_store(&fw_smp.stop, false);
    sigfillset(&all);
    /* The new thread inherits this mask: no signal is ever delivered to it. */
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&fw_smp.thread, NULL, fw_sampler_main, a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0)
        fw_smp.started = true;
    return rc;
}

uint64_t fw_sampler_cpu_ns(void)
{
    clockid_t clock;
    struct timespec ts;
    if (!fw_smp.started || pthread_getcpuclockid(fw_smp.thread, &clock) != 0 ||
        clock_gettime(clock, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void fw_sampler_stop(void)
{
    if (!fw_smp.started)
        return;
    atomic_store(&fw_smp.stop, true);
    pthread_join(fw_smp.thread, NULL);
    fw_smp.started = false;
}

/* Called by the worker under the agent mutex, right after `old` was swapped out and before
 * agg_epoch moves on. A thread's last running stack must outlive the interval: otherwise the
 * first off-CPU delta of every interval would go to wherever the thread sleeps. Each such stack
 * is copied into the new aggregate with zero values (fw_agg_nonzero does not count it) and the
 * slot is pointed at the copy. Function ids must still be valid, so the caller skips this when
 * it is about to reset the function registry. */
void fw_sampler_forget(void)
{
    fw_smp.started = false;
}

uint64_t fw_sampler_gil_preempted_ticks(void)
{
    return fw_smp.gil_watch.preempted_ticks;
}

void fw_sampler_carry_last_running(fw_agent *a, const fw_agg *old)
{
    for (int32_t i = 0; i < (int32_t)fw_threads_span(a->threads); i++) {
        fw_thread_slot *s = fw_threads_slot(a->threads, i);
        if (!s || s->last_epoch != a->agg_epoch || s->last_entry < 0 ||
            (size_t)s->last_entry >= fw_agg_count(old))
            continue;
        fw_agg_entry e;
        fw_agg_get(old, (size_t)s->last_entry, &e);
        s->last_entry = fw_agg_add_tagged(a->active, e.slot, e.tags, e.frames, e.depth, 0, 0);
        s->last_epoch = a->agg_epoch + 1;
    }
}
