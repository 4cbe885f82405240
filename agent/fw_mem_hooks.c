/*
 * fw_mem_hooks: the memory profiler's wrappers around CPython's three allocator domains, and the sampling decision.
 *
 * What is wrapped. PyMem_SetAllocator on RAW (PyMem_RawMalloc: interpreter internals, large
 * buffers of C extensions such as zlib, called with or without the GIL, from any thread), MEM
 * (PyMem_Malloc: list and dict storage, array buffers) and OBJ (PyObject_Malloc: objects, and
 * the data of bytes/bytearray/str). A profiler that hooks only OBJ misses every large buffer
 * that lives in the other two. We WRAP: each domain's previous allocator is kept and called,
 * so a block we saw allocated can be freed by whoever is installed later (after we restored the
 * previous allocator, say) and vice versa; pointers never change hands between heaps.
 *
 * Cost on the common path. A malloc of at most FW_HOOK_SMALL_MAX bytes on OBJ/MEM (most calls
 * a Python program makes) pays one thread-local subtraction of the size from the thread's byte
 * countdown and a sign test, then jumps to the wrapped allocator (a tail call: 6 instructions on
 * x86-64, no stack frame). RAW malloc adds a test of the nesting counter. A free on OBJ and MEM
 * under pymalloc costs nothing: it is not ours (see "Frees"); elsewhere it pays a load from a
 * 64 KiB counting filter of sampled addresses (fw_memory_impl.h) and the same tail call (8
 * instructions). A small OBJ/MEM calloc is counted like a small malloc; a small OBJ/MEM realloc
 * too, with the nesting counter around the call (18 instructions); other reallocs count after
 * the call.
 * No lock, no atomic read-modify-write. Only when the countdown goes negative (once per
 * `threshold` bytes on average) does the slow path run: redraw the countdown, and hand the
 * block to fw_mem_table.c, which walks the Python stack under its own mutex (with plain loads when
 * the thread holds the GIL, through fw_memread otherwise).
 *
 * Frees. Most frees a Python program makes are OBJ/MEM frees of blocks that were never sampled,
 * and under pymalloc (the default allocator) they need not pass through us at all: pymalloc
 * serves requests up to FW_PYMALLOC_MAX bytes from its pools and forwards larger ones to RAW,
 * and it forwards the free (and the realloc) of any block it did not carve from a pool to
 * PyMem_RawFree, i.e. to our RAW hook. So, when a domain's allocator is found to behave so
 * (fw_probe_forwards, at install: it allocates one block over the limit and watches our RAW free
 * receive it, at the address it returned), ours.free for that domain IS the wrapped free, and
 * every sampled block of at most FW_PYMALLOC_MAX bytes is moved out of the pools right after it
 * is sampled (a realloc to FW_PYMALLOC_MAX + 1 bytes, fw_hook_promote), so that its free
 * reaches our RAW hook and its filter. It is pymalloc's own large block (made and freed by
 * pymalloc, counted by sys.getallocatedblocks() both ways); the cost is ~500 bytes per live
 * sample of a small object (0.05% of memory at the default 1 MiB threshold) and a realloc per
 * sample. Under malloc, mimalloc or the debug hooks the probe fails and the free hooks stay.
 *
 * Nesting. pymalloc serves requests over 512 bytes (and a few failure cases) by calling
 * PyMem_RawMalloc itself, so one Python-level allocation can pass through two of our hooks. The
 * per-thread depth counter, raised around every call that may nest (OBJ/MEM requests over
 * FW_HOOK_SMALL_MAX, RAW calloc, realloc), counts it once, at the outermost domain, where the Python
 * caller's intent (a 1 MiB bytes object) is; the same counter keeps the profiler's own work (run
 * at depth > 0) from being sampled or from re-entering itself. Small OBJ/MEM mallocs and
 * callocs skip the counter: they cannot nest (see FW_HOOK_SMALL_MAX); the one exception, pymalloc failing to get
 * a new arena, i.e. out of memory, would count a block twice.
 *
 * Sampling. Allocated bytes are treated as a line on which sample points fall as a Poisson
 * process with mean spacing T (the threshold): each thread keeps the distance to its next
 * point, an Exp(T) draw from a per-thread xorshift64* generator. An allocation of s bytes is
 * sampled when a point falls inside it; by memorylessness that happens with probability
 * p(s) = 1 - exp(-s/T) whatever came before, and the next distance is drawn afresh after the
 * block. fw_mem_table.c weighs a sample by 1/p (docs/ARCHITECTURE.md, "Memory profiling"). libm
 * is not linked by the agent, so ln() and exp() are computed here by range reduction and short
 * series (relative error below 1e-12 where it matters).
 *
 * Changing T, or enabling again, bumps an epoch; each thread redraws its countdown at its next
 * slow-path visit. A thread whose old countdown is long therefore uses it up first: the first
 * sample after a change is drawn from the old T, which biases nothing (a sample's weight uses
 * the T in force when it is taken, and its probability was exactly that).
 *
 * Installation (GIL held). Our allocator struct carries the WRAPPED allocator's ctx, so the ctx
 * our functions receive is always the one the saved previous allocator expects: the fast paths
 * pass it on, the others read it from the saved allocator. CPython
 * swaps the struct with plain stores while threads without the GIL may be reading it; whatever
 * mix of old and new fields such a thread reads still calls a valid function with the ctx that
 * function expects. Uninstalling restores a domain only if its allocator is still ours
 * (compared function by function); if someone wrapped us since (tracemalloc, another
 * profiler), restoring would cut them out, so ours stays and passes calls through.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "fw_memory_impl.h"

#include <assert.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define FW_LN2 0.69314718055994530942
#define FW_COUNTDOWN_MAX (INT64_MAX / 4)
/* OBJ/MEM requests up to this size take the fast path. CPython's pymalloc serves requests up
 * to 512 bytes from its pools and only calls PyMem_RawMalloc (our RAW hook) for larger ones or
 * when it cannot get a new arena (out of memory); its debug hooks (PYTHONMALLOC=debug, -X dev)
 * add 32 bytes of padding first, hence 512 - 64. malloc and mimalloc never call RAW. */
#define FW_HOOK_SMALL_MAX 448u
/* pymalloc's largest pooled request (SMALL_REQUEST_THRESHOLD, 512 since CPython 3.8); larger
 * ones it forwards to RAW. Used only where fw_probe_forwards showed that it does. */
#define FW_PYMALLOC_MAX 512u

#if defined(__GNUC__)
#define FW_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define FW_UNLIKELY(x) (x)
#endif

/* Per-thread sampling state. initial-exec TLS: one instruction to reach it instead of a call
 * to __tls_get_addr on every allocation; it needs 32 bytes of glibc's static TLS reserve,
 * which exists precisely for dlopen'ed libraries that do this. */
typedef struct {
    int64_t countdown;   /* bytes to the next sample point; negative: take the slow path */
    uint64_t rng;        /* xorshift64* state; 0 = not seeded yet */
    int64_t tid;         /* Linux tid, 0 until needed */
    uint32_t depth;      /* > 0: inside a wrapped call or the profiler itself */
    uint32_t epoch;      /* fw_hooks_epoch the countdown was drawn for; 0 = never */
} fw_hook_tls;

static __thread fw_hook_tls fw_tls __attribute__((tls_model("initial-exec")));

static atomic_bool fw_sampling_on;
static _Atomic uint64_t fw_interval = (uint64_t)1024 * 1024;
static atomic_uint fw_epoch = 1;
static atomic_uint_fast64_t fw_seed_counter;

enum { FW_DOM_RAW = 0, FW_DOM_MEM = 1, FW_DOM_OBJ = 2, FW_NDOMAINS = 3 };

typedef struct {
    PyMemAllocatorEx orig;   /* the allocator we wrap */
    PyMemAllocatorEx ours;
    bool installed;          /* ours is (or may still be) in this domain's chain */
    /* Frees go straight to the wrapped allocator (ours.free is orig.free): the wrapped one is
     * pymalloc, which hands the free of a block it did not carve from a pool to RAW, so a
     * sampled block is made such a block ("Frees" at the top) and its free reaches our RAW
     * hook. Decided when ours is installed (fw_probe_forwards); never on RAW. */
    bool free_direct;
} fw_domain;

static fw_domain fw_domains[FW_NDOMAINS];
static const PyMemAllocatorDomain fw_domain_ids[FW_NDOMAINS] = {
    PYMEM_DOMAIN_RAW, PYMEM_DOMAIN_MEM, PYMEM_DOMAIN_OBJ};

/* ---- numbers ---- */

static uint64_t fw_splitmix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static uint64_t fw_rand(fw_hook_tls *t)
{
    uint64_t x = t->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    t->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static void fw_seed(fw_hook_tls *t)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t s = (uint64_t)(uintptr_t)t ^ ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
                 (atomic_fetch_add(&fw_seed_counter, 1) << 40);
    t->rng = fw_splitmix(s);
    if (t->rng == 0)
        t->rng = 0x853C49E6748FEA9Bull;
}

/* ln(r / 2^53) for r in [1, 2^53]: r = m * 2^e with m in [sqrt(1/2), sqrt(2)), and
 * ln(m) = 2 atanh(z), z = (m-1)/(m+1), |z| < 0.172, summed to z^15 (error < 1e-13). */
static double fw_ln_unit(uint64_t r)
{
    assert(r >= 1 && r <= (1ull << 53));
    int e = 63 - __builtin_clzll(r);
    double m = (double)r / (double)(1ull << e);   /* exact: a power-of-two scaling */
    if (m > 1.4142135623730951) {
        m *= 0.5;
        e++;
    }
    double z = (m - 1.0) / (m + 1.0), z2 = z * z;
    double s = z * (1.0 + z2 * (1.0 / 3 + z2 * (1.0 / 5 + z2 * (1.0 / 7 + z2 * (1.0 / 9 +
               z2 * (1.0 / 11 + z2 * (1.0 / 13 + z2 / 15)))))));
    return 2.0 * s + (double)(e - 53) * FW_LN2;
}

/* An Exp(interval) draw, in bytes. */
static int64_t fw_draw(fw_hook_tls *t, uint64_t interval)
{
    uint64_t r = (fw_rand(t) >> 11) + 1;          /* uniform in [1, 2^53] */
    double d = -fw_ln_unit(r) * (double)interval; /* at most 36.8 * interval */
    return d >= (double)FW_COUNTDOWN_MAX ? FW_COUNTDOWN_MAX : (int64_t)d;
}

double fw_hooks_sample_prob(uint64_t size, uint64_t interval)
{
    if (interval == 0)
        return 1.0;
    double x = (double)size / (double)interval;
    if (x < 1e-4)
        return x * (1.0 - x / 2.0 * (1.0 - x / 3.0));   /* the series of 1 - e^-x */
    if (x > 36.0)
        return 1.0;                                     /* e^-36 < 2^-52 */
    /* e^-x = 2^-k e^-r with k = round(x / ln 2), |r| <= ln(2)/2; Taylor to r^14. */
    int k = (int)(x / FW_LN2 + 0.5);
    double r = x - (double)k * FW_LN2, term = 1.0, sum = 1.0;
    for (int i = 1; i <= 14; i++) {
        term *= -r / (double)i;
        sum += term;
    }
    double p = 1.0 - sum / (double)(1ull << k);
    return p > 0.0 ? p : x;
}

/* ---- the hooks ---- */

/* A sampled block of domain d that pymalloc carved from a pool, in a domain whose frees we do
 * not see: move it out of the pools (a reallocation to FW_PYMALLOC_MAX + 1 bytes, which pymalloc
 * serves through RAW) so that its free reaches our RAW hook. Returns the block's address (the
 * same one if it needed no move); *tracked is false if the move failed (out of memory): the
 * block then stays where it is, counted in alloc_* but not tracked as live. */
static void *fw_hook_promote(fw_hook_tls *t, int d, void *p, size_t size, bool *tracked)
{
    *tracked = true;
    if (!fw_domains[d].free_direct || size > FW_PYMALLOC_MAX)
        return p;   /* a block over the pools' limit is a RAW block already */
    const PyMemAllocatorEx *o = &fw_domains[d].orig;
    t->depth++;     /* the RAW call inside is not an allocation of the program's */
    void *q = o->realloc(o->ctx, p, FW_PYMALLOC_MAX + 1);
    t->depth--;
    if (q == NULL) {
        *tracked = false;
        return p;
    }
    return q;
}

/* The slow path: the countdown went negative (it already has `size` taken off). Draws the
 * next distance, and records the block if it is sampled; returns the block, which may have
 * moved (fw_hook_promote). Never inlined: the fast paths stay small enough to end in a tail
 * call. */
static __attribute__((noinline)) void *fw_hook_slow(fw_hook_tls *t, int d, void *p, size_t size)
{
    uint64_t interval = atomic_load_explicit(&fw_interval, memory_order_relaxed);
    unsigned epoch = atomic_load_explicit(&fw_epoch, memory_order_relaxed);
    if (t->epoch != epoch) {
        /* First visit of this thread, or T changed: start from a fresh Exp(T) distance, which
         * this block may or may not reach. */
        if (t->rng == 0)
            fw_seed(t);
        t->epoch = epoch;
        t->countdown = fw_draw(t, interval) - (int64_t)size;
        if (t->countdown >= 0)
            return p;
    }
    t->countdown = fw_draw(t, interval);
    /* depth > 0: an allocation made by the profiler itself or nested in a wrapped call (the
     * outer call counts); a failed allocation is not a block. Either way: no sample. */
    if (p == NULL || t->depth != 0 || !atomic_load_explicit(&fw_sampling_on, memory_order_relaxed))
        return p;
    bool tracked;
    p = fw_hook_promote(t, d, p, size, &tracked);
    if (t->tid == 0)
        t->tid = (int64_t)syscall(SYS_gettid);
    float prob = (float)fw_hooks_sample_prob(size, interval);
    if (!(prob > 0.0f))
        prob = 1e-30f;   /* size 0: weight it like the smallest float says, not infinity */
    t->depth++;
    fw_mem_table_record((uintptr_t)p, (uint64_t)size, prob, t->tid, tracked);
    t->depth--;
    return p;
}

/* Counting after the call, for the bracketed paths. */
static inline void *fw_hook_count(fw_hook_tls *t, int d, void *p, size_t size)
{
    if (p != NULL && t->depth == 0) {
        t->countdown -= (int64_t)(size < (size_t)FW_COUNTDOWN_MAX ? size : (size_t)FW_COUNTDOWN_MAX);
        if (FW_UNLIKELY(t->countdown < 0))
            return fw_hook_slow(t, d, p, size);
    }
    return p;
}

/* A malloc made with the nesting counter raised: nothing the wrapped allocator does inside is
 * counted. Used for every call that may nest (OBJ/MEM requests over FW_HOOK_SMALL_MAX), where
 * the block is counted after the call, and for a fast-path call whose size, counted before it,
 * took the countdown below zero (`counted`), where the block goes to the slow path. */
static __attribute__((noinline)) void *fw_hook_malloc_bracketed(int d, size_t size, bool counted)
{
    fw_hook_tls *t = &fw_tls;
    const PyMemAllocatorEx *o = &fw_domains[d].orig;
    t->depth++;
    void *p = o->malloc(o->ctx, size);
    t->depth--;
    return counted ? fw_hook_slow(t, d, p, size) : fw_hook_count(t, d, p, size);
}

/* The fast path (see "Cost on the common path" at the top): the size is counted BEFORE the
 * call, so that the call is the function's last act (a tail call, no frame of ours). A block
 * that turns out not to exist (the call fails) is dropped by the slow path; counting its size
 * only moves the next sample point, which biases nothing (each allocation's chance is still
 * 1 - exp(-s/T), independent of the others). */
static inline void *fw_hook_malloc(void *ctx, int d, size_t size)
{
    fw_hook_tls *t = &fw_tls;
    const PyMemAllocatorEx *o = &fw_domains[d].orig;
    if (d != FW_DOM_RAW) {
        /* OBJ and MEM run with the GIL; a request this small never reaches RAW (pymalloc
         * serves it from a pool), so it cannot nest. Larger ones take the bracketed path. A
         * nested call at depth > 0 does not happen here, and the slow path would not sample
         * it anyway. */
        if (FW_UNLIKELY(size > FW_HOOK_SMALL_MAX))
            return fw_hook_malloc_bracketed(d, size, false);
    } else if (FW_UNLIKELY(t->depth != 0)) {
        return o->malloc(ctx, size);   /* inside an OBJ/MEM call: counted there */
    }
    t->countdown -= (int64_t)(size < (size_t)FW_COUNTDOWN_MAX ? size : (size_t)FW_COUNTDOWN_MAX);
    if (FW_UNLIKELY(t->countdown < 0))
        return fw_hook_malloc_bracketed(d, size, true);
    /* ctx is o->ctx (see "Installation" at the top): passing ours on saves a load. */
    return o->malloc(ctx, size);
}

/* calloc with the nesting counter raised, as fw_hook_malloc_bracketed: for requests that may
 * nest (`counted` false: counted after the call) and for a fast-path call whose size took the
 * countdown below zero (`counted`: the block goes to the slow path). */
static __attribute__((noinline)) void *fw_hook_calloc_bracketed(int d, size_t nelem, size_t elsize,
                                                                bool counted)
{
    fw_hook_tls *t = &fw_tls;
    const PyMemAllocatorEx *o = &fw_domains[d].orig;
    t->depth++;
    void *p = o->calloc(o->ctx, nelem, elsize);
    t->depth--;
    /* The wrapped calloc refused an overflowing product (p == NULL), so this one is exact. */
    return counted ? fw_hook_slow(t, d, p, nelem * elsize) : fw_hook_count(t, d, p, nelem * elsize);
}

/* As fw_hook_malloc: a small OBJ/MEM calloc (list storage of a short list: PyList_New) cannot
 * nest, so it is counted before a tail call; the rest is bracketed. */
static inline void *fw_hook_calloc(void *ctx, int d, size_t nelem, size_t elsize)
{
    size_t size;
    if (d == FW_DOM_RAW || __builtin_mul_overflow(nelem, elsize, &size) ||
        size > FW_HOOK_SMALL_MAX)
        return fw_hook_calloc_bracketed(d, nelem, elsize, false);
    fw_hook_tls *t = &fw_tls;
    t->countdown -= (int64_t)size;
    if (FW_UNLIKELY(t->countdown < 0))
        return fw_hook_calloc_bracketed(d, nelem, elsize, true);
    return fw_domains[d].orig.calloc(ctx, nelem, elsize);   /* ctx is orig.ctx */
}

/* A reallocation of a block that may be a live sample (the filter says so): its record goes
 * BEFORE the wrapped call, since once the block is released another thread may be given (and
 * sample) the same address; it is put back if the reallocation failed. */
static __attribute__((noinline)) void *fw_hook_realloc_live(int d, void *ptr, size_t size)
{
    fw_hook_tls *t = &fw_tls;
    const PyMemAllocatorEx *o = &fw_domains[d].orig;
    fw_mem_live old;
    bool had = t->depth == 0 && fw_mem_table_take((uintptr_t)ptr, &old);
    t->depth++;
    void *p = o->realloc(o->ctx, ptr, size);
    t->depth--;
    if (p == NULL) {
        if (had && size != 0)
            fw_mem_table_put_back(&old);   /* the block was left as it was */
        return NULL;
    }
    return fw_hook_count(t, d, p, size);
}

/* realloc with the nesting counter raised, as fw_hook_malloc_bracketed: for RAW and for
 * OBJ/MEM requests over FW_HOOK_SMALL_MAX (`counted` false: counted after the call), and for a
 * small OBJ/MEM request whose size took the countdown below zero (`counted`: the block goes to
 * the slow path, which also redraws the countdown if the call failed). */
static __attribute__((noinline)) void *fw_hook_realloc_bracketed(int d, void *ptr, size_t size,
                                                                 bool counted)
{
    fw_hook_tls *t = &fw_tls;
    const PyMemAllocatorEx *o = &fw_domains[d].orig;
    t->depth++;
    void *p = o->realloc(o->ctx, ptr, size);
    t->depth--;
    return counted ? fw_hook_slow(t, d, p, size) : fw_hook_count(t, d, p, size);
}

/* A reallocation is the release of the old block and an allocation of the new size. The
 * common case, the old block is not a sample (the filter says so) and the new size is small
 * (OBJ/MEM, at most FW_HOOK_SMALL_MAX: a short list or str growing), is counted BEFORE the
 * call, as a small malloc, which leaves only the nesting counter around the call: pymalloc
 * hands the reallocation of a block it did not carve from a pool to RAW, whatever the size.
 * The rest is counted after the call (fw_hook_realloc_bracketed). */
static inline void *fw_hook_realloc(void *ctx, int d, void *ptr, size_t size)
{
    if (FW_UNLIKELY(fw_mem_maybe_live((uintptr_t)ptr)) && ptr != NULL)
        return fw_hook_realloc_live(d, ptr, size);
    if (d == FW_DOM_RAW || FW_UNLIKELY(size > FW_HOOK_SMALL_MAX))
        return fw_hook_realloc_bracketed(d, ptr, size, false);
    fw_hook_tls *t = &fw_tls;
    t->countdown -= (int64_t)size;
    if (FW_UNLIKELY(t->countdown < 0))
        return fw_hook_realloc_bracketed(d, ptr, size, true);
    t->depth++;
    void *p = fw_domains[d].orig.realloc(ctx, ptr, size);   /* ctx is orig.ctx, as for malloc */
    t->depth--;
    return p;
}

/* The block fw_probe_forwards hands to a domain's free, and whether our RAW free saw it. */
static _Atomic uintptr_t fw_probe_addr;
static atomic_bool fw_probe_seen;

static __attribute__((noinline)) void fw_hook_free_slow(int d, void *ptr)
{
    const PyMemAllocatorEx *o = &fw_domains[d].orig;
    if (ptr != NULL && (uintptr_t)ptr == atomic_load_explicit(&fw_probe_addr, memory_order_relaxed))
        atomic_store_explicit(&fw_probe_seen, true, memory_order_relaxed);
    else if (ptr != NULL)
        fw_mem_table_forget((uintptr_t)ptr);
    o->free(o->ctx, ptr);
}

static inline void fw_hook_free(void *ctx, int d, void *ptr)
{
    const PyMemAllocatorEx *o = &fw_domains[d].orig;
    /* NULL maps to counter 0 like any address; the slow path tells them apart. */
    if (FW_UNLIKELY(fw_mem_maybe_live((uintptr_t)ptr))) {
        fw_hook_free_slow(d, ptr);
        return;
    }
    o->free(ctx, ptr);   /* ctx is o->ctx, as for malloc */
}

/* One set of functions per domain. ctx is always the wrapped allocator's (see the top of the
 * file): the fast paths pass it on, the others use fw_domains[d].orig.ctx, the same value. */
#define FW_DOMAIN_HOOKS(name, D)                                                              \
    static void *fw_##name##_malloc(void *ctx, size_t size)                                   \
    {                                                                                         \
        return fw_hook_malloc(ctx, D, size);                                                  \
    }                                                                                         \
    static void *fw_##name##_calloc(void *ctx, size_t nelem, size_t elsize)                   \
    {                                                                                         \
        return fw_hook_calloc(ctx, D, nelem, elsize);                                         \
    }                                                                                         \
    static void *fw_##name##_realloc(void *ctx, void *ptr, size_t size)                       \
    {                                                                                         \
        return fw_hook_realloc(ctx, D, ptr, size);                                            \
    }                                                                                         \
    static void fw_##name##_free(void *ctx, void *ptr)                                        \
    {                                                                                         \
        fw_hook_free(ctx, D, ptr);                                                            \
    }

FW_DOMAIN_HOOKS(raw, FW_DOM_RAW)
FW_DOMAIN_HOOKS(mem, FW_DOM_MEM)
FW_DOMAIN_HOOKS(obj, FW_DOM_OBJ)

static void fw_domain_functions(int d, PyMemAllocatorEx *out)
{
    switch (d) {
    case FW_DOM_RAW:
        *out = (PyMemAllocatorEx){NULL, fw_raw_malloc, fw_raw_calloc, fw_raw_realloc, fw_raw_free};
        break;
    case FW_DOM_MEM:
        *out = (PyMemAllocatorEx){NULL, fw_mem_malloc, fw_mem_calloc, fw_mem_realloc, fw_mem_free};
        break;
    default:
        *out = (PyMemAllocatorEx){NULL, fw_obj_malloc, fw_obj_calloc, fw_obj_realloc, fw_obj_free};
        break;
    }
}

/* ---- control ---- */

/* GIL held, our RAW hooks installed, domain d's (MEM or OBJ) not yet. Does its allocator `cur`
 * hand the free of a block it served through RAW to RAW, with the address it returned? That
 * is pymalloc (a request over FW_PYMALLOC_MAX bytes goes to PyMem_RawMalloc, and its free to
 * PyMem_RawFree); malloc, mimalloc and the debug hooks (whose RAW block starts before the
 * address they return) are not. Asked of the allocator itself, on one block: the answer
 * decides whether this domain's frees may bypass us (fw_domain.free_direct). */
static bool fw_probe_forwards(const PyMemAllocatorEx *cur)
{
    fw_hook_tls *t = &fw_tls;
    t->depth++;   /* the RAW malloc inside is not counted */
    void *p = cur->malloc(cur->ctx, FW_PYMALLOC_MAX + 1);
    t->depth--;
    if (p == NULL)
        return false;
    atomic_store(&fw_probe_seen, false);
    atomic_store(&fw_probe_addr, (uintptr_t)p);
    fw_mem_table_filter_mark((uintptr_t)p, 1);   /* so that our RAW free looks at it */
    cur->free(cur->ctx, p);
    fw_mem_table_filter_mark((uintptr_t)p, -1);
    atomic_store(&fw_probe_addr, 0);
    return atomic_load(&fw_probe_seen);
}

void fw_hooks_install(void)
{
    /* RAW first: the probes of MEM and OBJ look for their frees there. */
    for (int d = 0; d < FW_NDOMAINS; d++) {
        fw_domain *dom = &fw_domains[d];
        if (dom->installed)
            continue;   /* still in the chain (pass-through): resuming is enough */
        PyMemAllocatorEx cur;
        PyMem_GetAllocator(fw_domain_ids[d], &cur);
        dom->orig = cur;
        fw_domain_functions(d, &dom->ours);
        dom->ours.ctx = cur.ctx;
        dom->free_direct = d != FW_DOM_RAW && fw_domains[FW_DOM_RAW].installed &&
                           fw_probe_forwards(&cur);
        if (dom->free_direct)
            dom->ours.free = cur.free;
        PyMem_SetAllocator(fw_domain_ids[d], &dom->ours);
        dom->installed = true;
    }
}

bool fw_hooks_uninstall(void)
{
    bool all = true;
    for (int d = 0; d < FW_NDOMAINS; d++) {
        fw_domain *dom = &fw_domains[d];
        if (!dom->installed)
            continue;
        PyMemAllocatorEx cur;
        PyMem_GetAllocator(fw_domain_ids[d], &cur);
        if (cur.malloc == dom->ours.malloc && cur.calloc == dom->ours.calloc &&
            cur.realloc == dom->ours.realloc && cur.free == dom->ours.free) {
            PyMem_SetAllocator(fw_domain_ids[d], &dom->orig);
            dom->installed = false;
        } else {
            all = false;
        }
    }
    return all;
}

bool fw_hooks_free_direct(void)
{
    return fw_domains[FW_DOM_OBJ].installed && fw_domains[FW_DOM_OBJ].free_direct;
}

bool fw_hooks_installed(void)
{
    for (int d = 0; d < FW_NDOMAINS; d++)
        if (fw_domains[d].installed)
            return true;
    return false;
}

void fw_hooks_set_sampling(bool on)
{
    if (on)
        atomic_fetch_add(&fw_epoch, 1);   /* fresh countdowns for the new session */
    atomic_store(&fw_sampling_on, on);
}

bool fw_hooks_sampling(void)
{
    return atomic_load(&fw_sampling_on);
}

void fw_hooks_set_interval(uint64_t bytes)
{
    assert(bytes > 0);
    if (atomic_exchange(&fw_interval, bytes) != bytes)
        atomic_fetch_add(&fw_epoch, 1);
}

uint64_t fw_hooks_interval(void)
{
    return atomic_load(&fw_interval);
}

void fw_hooks_after_fork_child(void)
{
    fw_hook_tls *t = &fw_tls;
    t->tid = 0;
    t->rng = 0;     /* reseed: the child must not repeat the parent's sample points */
    t->epoch = 0;
}
