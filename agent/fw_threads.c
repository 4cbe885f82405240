/*
 * fw_threads: the registry of application threads the sampler has seen.
 *
 * Design. The registry is a fixed array of FW_THREADS_MAX slots plus a small chained hash index
 * keyed by (thread state, pthread id). Everything is allocated once, at agent start, so the
 * sampler never allocates while it holds the agent mutex and memory use is a constant
 * (about 4096 * 200 bytes).
 *
 * Identity. A slot matches only when all of thread state, pthread id and tid match. When a
 * thread exits, CPython frees its thread state and glibc keeps its stack (and so its pthread_t)
 * for the next thread; the tid is what tells the two apart, and where the tid is unknown (0)
 * the thread state and pthread id still do in practice. A thread whose triple changed is a new
 * slot: it gets a new CPU baseline and a new name.
 *
 * Death and reuse. The sampler marks slots dead after a complete walk of the thread list that
 * did not see them. A dead slot stays in the hash index, so that a thread that only vanished
 * from one torn read of the list comes back to its own slot (and is not charged its whole
 * CPU time a second time). Dead slots are freed by fw_threads_recycle_dead(), which the worker
 * calls at a flush boundary, right after it has copied the names of the interval it is about
 * to write; the generation number of a reused slot grows so that a name read for the old thread
 * is never written into the new one.
 *
 * The tid on 3.9/3.10. Those versions record only the pthread id (`threading.get_ident()`).
 * On glibc (and musl) pthread_t is the address of the thread's `struct pthread`, which stores
 * the kernel tid. Its offset is not part of any ABI, so we find it empirically: scan our own
 * struct pthread for an int equal to gettid(), then confirm in a second thread, because in the
 * main thread tid == pid and another field may hold the pid. Every later read goes through
 * fw_memread, so a freed or unmapped struct yields 0 ("unknown"), never a fault; glibc also
 * clears the field when the thread exits (CLONE_CHILD_CLEARTID), which reads as 0 as well.
 */
#include "fw_threads.h"

#include <assert.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fw_memread.h"

#define FW_THREADS_BUCKETS 1024   /* power of two */

struct fw_threads {
    fw_thread_slot slots[FW_THREADS_MAX];
    int32_t buckets[FW_THREADS_BUCKETS];
    int32_t free_head;     /* recycled slots (below span) chained through .chain, -1 if none */
    int32_t span;          /* one past the highest slot index ever handed out */
    size_t in_use;
    size_t live;
};

static size_t fw_threads_bucket(uintptr_t tstate, uint64_t pthread_id)
{
    uint64_t h = (uint64_t)tstate * 0x9E3779B97F4A7C15ull ^ pthread_id * 0xC2B2AE3D27D4EB4Full;
    return (size_t)((h ^ (h >> 29)) & (FW_THREADS_BUCKETS - 1));
}

void fw_threads_clear(fw_threads *t)
{
    for (size_t i = 0; i < FW_THREADS_BUCKETS; i++)
        t->buckets[i] = -1;
    /* Only slots below the span were ever handed out; the rest are still as calloc left them,
     * and touching them would fault in the whole array for nothing. */
    for (int32_t i = 0; i < t->span; i++) {
        uint32_t gen = t->slots[i].generation;
        memset(&t->slots[i], 0, sizeof t->slots[i]);
        t->slots[i].generation = gen;
    }
    t->free_head = -1;
    t->span = 0;
    t->in_use = 0;
    t->live = 0;
}

fw_threads *fw_threads_new(void)
{
    fw_threads *t = calloc(1, sizeof *t);
    if (t)
        fw_threads_clear(t);
    return t;
}

void fw_threads_free(fw_threads *t)
{
    free(t);
}

size_t fw_threads_span(const fw_threads *t)
{
    return (size_t)t->span;
}

size_t fw_threads_capacity(const fw_threads *t)
{
    (void)t;
    return FW_THREADS_MAX;
}

size_t fw_threads_live(const fw_threads *t)
{
    return t->live;
}

fw_thread_slot *fw_threads_slot(fw_threads *t, int32_t index)
{
    if (index < 0 || index >= FW_THREADS_MAX || !t->slots[index].in_use)
        return NULL;
    return &t->slots[index];
}

static int32_t fw_threads_find(const fw_threads *t, size_t bucket, uintptr_t tstate,
                               uint64_t pthread_id, int64_t tid)
{
    for (int32_t i = t->buckets[bucket]; i >= 0; i = t->slots[i].chain) {
        const fw_thread_slot *s = &t->slots[i];
        if (s->tstate == tstate && s->pthread_id == pthread_id && s->tid == tid)
            return i;
    }
    return -1;
}

static int32_t fw_threads_create(fw_threads *t, size_t bucket, uintptr_t tstate,
                                 uint64_t pthread_id, int64_t tid)
{
    /* Recycled slots first, then a never-used one: the span grows only with the number of
     * threads alive at once. */
    int32_t i = t->free_head;
    if (i >= 0)
        t->free_head = t->slots[i].chain;
    else if (t->span < FW_THREADS_MAX)
        i = t->span++;
    else
        return -1;
    fw_thread_slot *s = &t->slots[i];
    assert(!s->in_use);
    uint32_t gen = s->generation + 1;
    memset(s, 0, sizeof *s);
    s->generation = gen;
    s->tstate = tstate;
    s->pthread_id = pthread_id;
    s->tid = tid;
    s->in_use = true;
    s->last_entry = -1;
    s->chain = t->buckets[bucket];
    t->buckets[bucket] = i;
    t->in_use++;
    return i;
}

int32_t fw_threads_lookup(fw_threads *t, uintptr_t tstate, uint64_t pthread_id, int64_t tid,
                          uint64_t tick, bool *created)
{
    size_t bucket = fw_threads_bucket(tstate, pthread_id);
    int32_t i = fw_threads_find(t, bucket, tstate, pthread_id, tid);
    *created = false;
    if (i < 0) {
        i = fw_threads_create(t, bucket, tstate, pthread_id, tid);
        if (i < 0)
            return -1;
        *created = true;
    }
    fw_thread_slot *s = &t->slots[i];
    if (!s->alive) {
        s->alive = true;
        t->live++;
    }
    s->seen_tick = tick;
    return i;
}

void fw_threads_end_tick(fw_threads *t, uint64_t tick)
{
    /* Runs every tick: only the slots ever used are visited, not all FW_THREADS_MAX. */
    for (int32_t i = 0; i < t->span; i++) {
        fw_thread_slot *s = &t->slots[i];
        if (s->in_use && s->alive && s->seen_tick != tick) {
            s->alive = false;
            assert(t->live > 0);
            t->live--;
        }
    }
}

static void fw_threads_unchain(fw_threads *t, int32_t index)
{
    const fw_thread_slot *s = &t->slots[index];
    int32_t *link = &t->buckets[fw_threads_bucket(s->tstate, s->pthread_id)];
    while (*link >= 0 && *link != index)
        link = &t->slots[*link].chain;
    assert(*link == index);
    if (*link == index)
        *link = s->chain;
}

size_t fw_threads_recycle_dead(fw_threads *t)
{
    size_t n = 0;
    for (int32_t i = 0; i < t->span; i++) {
        fw_thread_slot *s = &t->slots[i];
        if (!s->in_use || s->alive)
            continue;
        fw_threads_unchain(t, i);
        s->in_use = false;
        s->chain = t->free_head;
        t->free_head = i;
        t->in_use--;
        n++;
    }
    return n;
}

void fw_thread_group(const char *name, char *out, size_t outlen)
{
    size_t o = 0;
    bool in_digits = false;
    if (outlen == 0)
        return;
    for (const char *p = name; *p && o + 1 < outlen; p++) {
        bool digit = *p >= '0' && *p <= '9';
        if (digit && in_digits)
            continue;
        out[o++] = *p;
        if (digit)
            out[o - 1] = '*';
        in_digits = digit;
    }
    out[o] = '\0';
}

/* ---- tid from pthread id (3.9/3.10) ---- */

static int64_t fw_gettid(void)
{
    return (int64_t)syscall(SYS_gettid);
}

void fw_tid_offset_candidates(fw_tid_candidates *out)
{
    int32_t words[FW_TID_SCAN_BYTES / sizeof(int32_t)];
    uintptr_t self = (uintptr_t)pthread_self();
    int32_t tid = (int32_t)fw_gettid();
    out->count = 0;
    if (!fw_memread(words, self, sizeof words))
        return;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (words[i] == tid && out->count < FW_TID_MAX_CANDIDATES)
            out->offsets[out->count++] = (int32_t)(i * sizeof(int32_t));
    }
}

int32_t fw_tid_offset_confirm(const fw_tid_candidates *c)
{
    uintptr_t self = (uintptr_t)pthread_self();
    int32_t tid = (int32_t)fw_gettid();
    for (int i = 0; i < c->count; i++) {
        int32_t v = 0;
        if (fw_memread(&v, self + (uintptr_t)c->offsets[i], sizeof v) && v == tid)
            return c->offsets[i];
    }
    return -1;
}

int64_t fw_tid_from_pthread(uint64_t pthread_id, int32_t offset)
{
    int32_t v = 0;
    if (offset < 0 || pthread_id == 0)
        return 0;
    if (!fw_memread(&v, (uintptr_t)pthread_id + (uintptr_t)offset, sizeof v) || v <= 0)
        return 0;
    return v;
}

/* Reads /proc/self/task/TID/NAME into buf, NUL-terminated; the bytes read, or 0 on failure. */
static size_t fw_task_read(int64_t tid, const char *name, char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%lld/%s", (long long)tid, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return (size_t)n;
}

/* True if the kernel has the thread runnable ('R': on a CPU, or waiting for one), from
 * /proc/self/task/TID/stat. A second read of a running thread's CPU clock does not always
 * move (some kernels and hypervisors update it only at scheduler ticks), and a thread the
 * machine preempted does not move either; the scheduler's state tells both from asleep. */
bool fw_thread_runnable(int64_t tid)
{
    char buf[512];
    if (!fw_task_read(tid, "stat", buf, sizeof buf))
        return false;
    const char *paren = strrchr(buf, ')');   /* the command name may itself contain ')' */
    return paren && paren[1] == ' ' && paren[2] == 'R';
}

/* The kernel's view of a thread, from /proc/self/task/TID/status: whether it is runnable ('R':
 * on a CPU, or waiting for one) and how many times it gave up its CPU of its own accord (slept,
 * blocked on a lock or on I/O). The file is about 1.5 KB, more with many CPUs or groups (its
 * Cpus_allowed and Groups lines grow), and the switch counts come last: 8 KiB holds it. */
bool fw_thread_sched(int64_t tid, bool *runnable, uint64_t *vcsw)
{
    char buf[8192];
    if (!fw_task_read(tid, "status", buf, sizeof buf))
        return false;
    const char *state = strstr(buf, "\nState:");
    const char *vol = strstr(buf, "\nvoluntary_ctxt_switches:");
    if (!state || !vol)
        return false;
    state += strlen("\nState:");
    while (*state == ' ' || *state == '\t')
        state++;
    *runnable = *state == 'R';
    *vcsw = strtoull(vol + strlen("\nvoluntary_ctxt_switches:"), NULL, 10);
    return true;
}
