/*
 * fw_stack: from a thread's top frame to (function id, line) pairs, cheaply and safely.
 *
 * Design. A walk has three passes, shaped by what a read costs: every fw_memread is a system
 * call (a few hundred ns), while work on data we already copied is nearly free.
 *
 *   1. Chain: follow `previous` from the top frame, one read per frame (the chain is a linked
 *      list, so these reads cannot be batched). Only the frame's fixed part is copied. A depth
 *      cap ends the walk, so a corrupted chain that loops still terminates.
 *   2. Resolve: each distinct code object of the stack is looked up in the code cache. Misses
 *      are read in full (names, file, line table) and inserted. Hits must be re-validated,
 *      because a code object can be freed and its address reused: the fingerprint prefix of
 *      every hit, and on 3.9/3.10 the type of every method's `self`, are read in ONE
 *      fw_memread_many call for the whole stack. A recursion 300 deep costs one validation.
 *   3. Emit: skip shim and incomplete frames, compute lines from the cached line table (with a
 *      two-entry memo per code object, since a busy loop samples the same few offsets), and
 *      end a too-deep stack with a "[truncated]" frame.
 *
 * The code cache is a fixed array of entries with a chained hash index and clock (second
 * chance) eviction. Entries used by the walk in progress are pinned (their `epoch` equals the
 * walk's), so eviction never pulls an entry from under a frame being resolved; the minimum
 * capacity guarantees that a maximal stack always fits. On 3.9/3.10, where code objects have
 * no qualified name, methods are keyed by (code, class) in the same cache so that Class.name is
 * built once, not per sample.
 *
 * The function registry interns (qualname, filename, firstlineno) into dense ids with an
 * open-addressing table; ids 0-2 are reserved for the synthetic frames "[truncated]",
 * "[unknown]" (a frame whose code could not be read) and "[too many functions]" (the registry
 * is full). Resetting the registry also empties the code cache, whose entries hold ids.
 *
 * Memory is bounded by the two capacities given at creation; nothing grows during a walk.
 * All of it is used by one thread at a time, so there are no locks.
 */
#include "fw_stack.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fw_memread.h"
#include "fw_pyversion.h"

#define FW_RAW_MAX ((size_t)2 * FW_STACK_MAX_DEPTH + 8) /* frames read per walk, shims included */
#define FW_MIN_CODE_ENTRIES (2 * FW_RAW_MAX + 64)
#define FW_MIN_FUNCTIONS 64
#define FW_FN_RESERVED 3u
#define FW_NO_ENTRY (-1)

typedef struct {
    uintptr_t code;          /* key part 1; 0 marks a free entry */
    uintptr_t cls;           /* key part 2: 0 for a code entry, the class for a method entry */
    uint64_t fingerprint;    /* of the code object when this entry was filled */
    uint8_t *linetable;      /* code entries only */
    size_t linetable_len;
    uint32_t function;
    int32_t firstlineno;
    int32_t first_traceable;
    int32_t memo_off[2];
    int32_t memo_line[2];
    int32_t chain;           /* next entry index in the same bucket, FW_NO_ENTRY at the end */
    uint32_t epoch;          /* walk that last used it: pinned while that walk runs */
    uint8_t first_arg;
    uint8_t referenced;      /* clock bit */
    uint8_t memo_next;
} fw_code_entry;

typedef struct {
    fw_function_info info;
    uint64_t hash;
} fw_function_slot;

typedef struct {
    uintptr_t code;
    uintptr_t first_local;
    uintptr_t self_type;     /* read in the batch for FW_PY_ARG_SELF frames */
    int32_t instr_offset;
    int32_t entry;           /* code entry index, FW_NO_ENTRY if unreadable */
    bool skip;
    bool check_incomplete;
    bool type_requested;
} fw_raw_frame;

struct fw_stack_resolver {
    /* code cache */
    fw_code_entry *entries;
    size_t entry_cap;
    size_t entry_count;      /* entries [0, entry_count) have been used at least once */
    int32_t *buckets;
    size_t bucket_mask;
    size_t clock_hand;
    uint32_t epoch;
    bool chain_more;         /* the last chain walk stopped before the bottom frame */
    bool chain_broken; /* the last walk's chain ended at a frame it could not read */
    /* function registry */
    fw_function_slot *functions;
    size_t function_cap;
    size_t function_count;
    bool fn_index_dirty;     /* fn_index holds something: clearing must zero it */
    uint32_t *fn_index;      /* open addressing: id + 1, 0 = empty */
    size_t fn_index_mask;
    /* per-walk scratch, allocated once */
    fw_raw_frame raw[FW_RAW_MAX];
    void *batch_dst[2 * FW_RAW_MAX];
    uintptr_t batch_addr[2 * FW_RAW_MAX];
    size_t batch_len[2 * FW_RAW_MAX];
    int32_t batch_entry[FW_RAW_MAX];
    uint64_t *fp_buf;        /* FW_RAW_MAX fingerprint spans, pointer-aligned */
    fw_py_window window;     /* read-ahead for the frame chain */
    size_t fp_words;         /* span in uint64_t words */
};

/* ---- hashing ------------------------------------------------------------------------------ */

static uint64_t fw_hash64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static uint64_t fw_hash_str(uint64_t h, const char *s) {
    /* FNV-1a, then mixed: names are short, this is only run on registry inserts. */
    h ^= 0xcbf29ce484222325ull;
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return fw_hash64(h);
}

static size_t fw_pow2_at_least(size_t n) {
    size_t p = 16;
    while (p < n) {
        p <<= 1;
    }
    return p;
}

/* ---- function registry ------------------------------------------------------------------- */

static uint32_t fw_register(fw_stack_resolver *r, const char *qualname, const char *filename,
                            int32_t firstlineno) {
    uint64_t h = fw_hash_str(fw_hash_str(fw_hash64((uint64_t)(uint32_t)firstlineno), qualname),
                             filename);
    size_t i = (size_t)h & r->fn_index_mask;
    for (;;) {
        uint32_t slot = r->fn_index[i];
        if (slot == 0) {
            break;
        }
        const fw_function_slot *f = &r->functions[slot - 1];
        if (f->hash == h && f->info.firstlineno == firstlineno &&
            strcmp(f->info.qualname, qualname) == 0 && strcmp(f->info.filename, filename) == 0) {
            return slot - 1;
        }
        i = (i + 1) & r->fn_index_mask;
    }
    if (r->function_count >= r->function_cap) {
        return FW_STACK_FN_OVERFLOW;
    }
    char *q = strdup(qualname);
    char *fn = strdup(filename);
    if (q == NULL || fn == NULL) {
        free(q);
        free(fn);
        return FW_STACK_FN_OVERFLOW;
    }
    uint32_t id = (uint32_t)r->function_count++;
    r->functions[id].info.qualname = q;
    r->functions[id].info.filename = fn;
    r->functions[id].info.firstlineno = firstlineno;
    r->functions[id].hash = h;
    r->fn_index[i] = id + 1;
    r->fn_index_dirty = true;
    return id;
}

static void fw_functions_clear(fw_stack_resolver *r) {
    for (size_t i = 0; i < r->function_count; i++) {
        free((char *)r->functions[i].info.qualname);
        free((char *)r->functions[i].info.filename);
    }
    r->function_count = 0;
    /* A fresh index came from calloc: zeroing it again would fault in every page of it,
     * which costs more CPU at start-up than the rest of the agent's start together. */
    if (r->fn_index_dirty) {
        memset(r->fn_index, 0, (r->fn_index_mask + 1) * sizeof *r->fn_index);
        r->fn_index_dirty = false;
    }
    /* The reserved ids are registered first, so they get 0, 1 and 2. */
    uint32_t a = fw_register(r, "[truncated]", "", 0);
    uint32_t b = fw_register(r, "[unknown]", "", 0);
    uint32_t c = fw_register(r, "[too many functions]", "", 0);
    assert(a == FW_STACK_FN_TRUNCATED && b == FW_STACK_FN_UNKNOWN && c == FW_STACK_FN_OVERFLOW);
    (void)a;
    (void)b;
    (void)c;
}

/* ---- code cache ----------------------------------------------------------------------------- */

static size_t fw_bucket_of(const fw_stack_resolver *r, uintptr_t code, uintptr_t cls) {
    return (size_t)fw_hash64((uint64_t)code * 31u + (uint64_t)cls) & r->bucket_mask;
}

static int32_t fw_cache_find(const fw_stack_resolver *r, uintptr_t code, uintptr_t cls) {
    int32_t i = r->buckets[fw_bucket_of(r, code, cls)];
    while (i != FW_NO_ENTRY) {
        const fw_code_entry *e = &r->entries[i];
        if (e->code == code && e->cls == cls) {
            return i;
        }
        i = e->chain;
    }
    return FW_NO_ENTRY;
}

static void fw_entry_release(fw_stack_resolver *r, int32_t idx) {
    fw_code_entry *e = &r->entries[idx];
    assert(e->code != 0);
    int32_t *link = &r->buckets[fw_bucket_of(r, e->code, e->cls)];
    while (*link != idx) {
        assert(*link != FW_NO_ENTRY);
        link = &r->entries[*link].chain;
    }
    *link = e->chain;
    free(e->linetable);
    memset(e, 0, sizeof *e);
    e->chain = FW_NO_ENTRY;
}

/* A free entry, evicting the first unpinned one without its second chance; FW_NO_ENTRY if all
 * are pinned (impossible with the minimum capacity, but handled). */
static int32_t fw_cache_take(fw_stack_resolver *r) {
    if (r->entry_count < r->entry_cap) {
        return (int32_t)r->entry_count++;
    }
    for (size_t n = 0; n < 2 * r->entry_cap + 1; n++) {
        size_t i = r->clock_hand;
        r->clock_hand = (r->clock_hand + 1) % r->entry_cap;
        fw_code_entry *e = &r->entries[i];
        if (e->code == 0) {
            return (int32_t)i;
        }
        if (e->epoch == r->epoch) {
            continue;
        }
        if (e->referenced) {
            e->referenced = 0;
            continue;
        }
        fw_entry_release(r, (int32_t)i);
        return (int32_t)i;
    }
    return FW_NO_ENTRY;
}

static int32_t fw_cache_insert(fw_stack_resolver *r, uintptr_t code, uintptr_t cls) {
    int32_t idx = fw_cache_take(r);
    if (idx == FW_NO_ENTRY) {
        return FW_NO_ENTRY;
    }
    fw_code_entry *e = &r->entries[idx];
    memset(e, 0, sizeof *e);
    e->code = code;
    e->cls = cls;
    e->epoch = r->epoch;
    e->referenced = 1;
    e->memo_off[0] = e->memo_off[1] = INT32_MIN;
    size_t b = fw_bucket_of(r, code, cls);
    e->chain = r->buckets[b];
    r->buckets[b] = idx;
    return idx;
}

/* (Re)fills a code entry from the code object; false (entry released) if it cannot be read. */
static bool fw_code_fill(fw_stack_resolver *r, int32_t idx) {
    fw_code_entry *e = &r->entries[idx];
    fw_py_code c;
    if (!fw_py_read_code(e->code, &c)) {
        fw_entry_release(r, idx);
        return false;
    }
    free(e->linetable);
    e->linetable = c.linetable;
    e->linetable_len = c.linetable_len;
    c.linetable = NULL;
    e->fingerprint = c.fingerprint;
    e->firstlineno = c.firstlineno;
    e->first_traceable = c.first_traceable;
    e->first_arg = (uint8_t)c.first_arg;
    e->memo_off[0] = e->memo_off[1] = INT32_MIN;
    e->function = fw_register(r, c.qualname, c.filename, c.firstlineno);
    fw_py_code_clear(&c);
    return true;
}

static int fw_entry_line(fw_code_entry *e, int32_t off) {
    for (int k = 0; k < 2; k++) {
        if (e->memo_off[k] == off) {
            return e->memo_line[k];
        }
    }
    int line = fw_py_addr2line(e->linetable, e->linetable_len, e->firstlineno, off);
    e->memo_off[e->memo_next] = off;
    e->memo_line[e->memo_next] = line;
    e->memo_next ^= 1;
    return line;
}

/* Function id of a 3.9/3.10 method frame: Class.name, cached per (code, class). */
static uint32_t fw_method_function(fw_stack_resolver *r, int32_t code_idx, const fw_raw_frame *f) {
    const fw_code_entry *ce = &r->entries[code_idx];
    uintptr_t cls = ce->first_arg == FW_PY_ARG_CLS ? f->first_local : f->self_type;
    if (cls == 0) {
        return ce->function;
    }
    int32_t m = fw_cache_find(r, f->code, cls);
    if (m != FW_NO_ENTRY && r->entries[m].fingerprint == ce->fingerprint) {
        r->entries[m].epoch = r->epoch;
        r->entries[m].referenced = 1;
        return r->entries[m].function;
    }
    char cname[FW_PY_NAME_MAX + 1];
    if (!fw_py_read_class_name(f->first_local, ce->first_arg, cname, sizeof cname)) {
        return ce->function;
    }
    const fw_function_info *plain = fw_stack_function(r, ce->function);
    if (plain == NULL || ce->function < FW_FN_RESERVED) {
        return ce->function;
    }
    char qual[2 * FW_PY_NAME_MAX + 2]; /* both parts are capped, so this never truncates */
    (void)snprintf(qual, sizeof qual, "%s.%s", cname, plain->qualname);
    uint32_t id = fw_register(r, qual, plain->filename, plain->firstlineno);
    if (m == FW_NO_ENTRY) {
        /* Cannot evict the code entry: it is pinned by this walk. */
        m = fw_cache_insert(r, f->code, cls);
    }
    if (m != FW_NO_ENTRY) {
        r->entries[m].fingerprint = r->entries[code_idx].fingerprint;
        r->entries[m].function = id;
    }
    return id;
}

/* ---- public API ------------------------------------------------------------------------- */

fw_stack_resolver *fw_stack_resolver_new(size_t max_code_entries, size_t max_functions) {
    if (max_code_entries < FW_MIN_CODE_ENTRIES) {
        max_code_entries = FW_MIN_CODE_ENTRIES;
    }
    if (max_functions < FW_MIN_FUNCTIONS) {
        max_functions = FW_MIN_FUNCTIONS;
    }
    if (max_code_entries > (1u << 24) || max_functions > (1u << 24)) {
        return NULL;
    }
    fw_stack_resolver *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return NULL;
    }
    r->entry_cap = max_code_entries;
    size_t nb = fw_pow2_at_least(max_code_entries);
    r->bucket_mask = nb - 1;
    r->function_cap = max_functions;
    size_t nf = fw_pow2_at_least(2 * max_functions);
    r->fn_index_mask = nf - 1;
    r->fp_words = (fw_py_code_fingerprint_span() + 7) / 8;
    r->entries = calloc(max_code_entries, sizeof *r->entries);
    r->buckets = malloc(nb * sizeof *r->buckets);
    r->functions = calloc(max_functions, sizeof *r->functions);
    r->fn_index = calloc(nf, sizeof *r->fn_index);
    r->fp_buf = calloc((size_t)FW_RAW_MAX * r->fp_words, sizeof *r->fp_buf);
    if (r->entries == NULL || r->buckets == NULL || r->functions == NULL ||
        r->fn_index == NULL || r->fp_buf == NULL) {
        fw_stack_resolver_free(r);
        return NULL;
    }
    for (size_t i = 0; i < nb; i++) {
        r->buckets[i] = FW_NO_ENTRY;
    }
    /* Entries past entry_count are untouched (their pages never faulted in): each gets its
     * chain when fw_cache_insert first hands it out. */
    r->epoch = 1;
    fw_functions_clear(r);
    return r;
}

static void fw_cache_clear(fw_stack_resolver *r) {
    for (size_t i = 0; i < r->entry_count; i++) {
        free(r->entries[i].linetable);
        memset(&r->entries[i], 0, sizeof r->entries[i]);
        r->entries[i].chain = FW_NO_ENTRY;
    }
    r->entry_count = 0;
    r->clock_hand = 0;
    for (size_t i = 0; i <= r->bucket_mask; i++) {
        r->buckets[i] = FW_NO_ENTRY;
    }
}

void fw_stack_resolver_free(fw_stack_resolver *r) {
    if (r == NULL) {
        return;
    }
    if (r->entries != NULL && r->buckets != NULL) {
        fw_cache_clear(r);
    }
    if (r->functions != NULL) {
        for (size_t i = 0; i < r->function_count; i++) {
            free((char *)r->functions[i].info.qualname);
            free((char *)r->functions[i].info.filename);
        }
    }
    free(r->entries);
    free(r->buckets);
    free(r->functions);
    free(r->fn_index);
    free(r->fp_buf);
    free(r);
}

/* Pass 1: copies the frame chain. Returns the number of raw frames, -1 if the top frame could
 * not be read. Stops once enough reportable frames are known to decide truncation. */
static int fw_walk_chain(fw_stack_resolver *r, uintptr_t frame, int max_depth) {
    int n = 0;
    int reportable = 0;
    r->chain_more = false;
    r->chain_broken = false;
    while (frame != 0 && n < (int)FW_RAW_MAX && reportable <= max_depth + 4) {
        fw_py_frame f;
        bool check = false;
        if (!fw_py_read_frame_win(&r->window, frame, &f, &check)) {
            /* A torn or freed frame ends the stack; what was read so far is still right, but
             * the stack is not whole (fw_stack_last_walk_broken). */
            r->chain_broken = true;
            return n == 0 ? -1 : n;
        }
        fw_raw_frame *rf = &r->raw[n++];
        memset(rf, 0, sizeof *rf);
        rf->code = f.code;
        rf->first_local = f.first_local;
        rf->instr_offset = f.instr_offset;
        rf->skip = f.skip || f.code == 0;
        rf->check_incomplete = check;
        rf->entry = FW_NO_ENTRY;
        reportable += rf->skip ? 0 : 1;
        frame = f.previous;
    }
    r->chain_more = frame != 0;
    return n;
}

/* Pass 2: finds or reads the code entry of every frame, validating hits in one batch. */
static void fw_resolve_codes(fw_stack_resolver *r, int n) {
    size_t nbatch = 0;
    size_t nval = 0;
    const size_t span = fw_py_code_fingerprint_span();
    uintptr_t last_failed = 0; /* so that 300 frames of one unreadable code cost one read */
    for (int i = 0; i < n; i++) {
        fw_raw_frame *f = &r->raw[i];
        if (f->skip) {
            continue;
        }
        if (f->code == last_failed) {
            f->entry = FW_NO_ENTRY;   /* this walk already failed to read it */
            continue;
        }
        int32_t idx = fw_cache_find(r, f->code, 0);
        if (idx == FW_NO_ENTRY) {
            idx = fw_cache_insert(r, f->code, 0);
            if (idx != FW_NO_ENTRY && !fw_code_fill(r, idx)) {
                idx = FW_NO_ENTRY;
                last_failed = f->code;
            }
        } else if (r->entries[idx].epoch != r->epoch) {
            /* First use in this walk: validate it in the batch below (and pin it now). */
            r->entries[idx].epoch = r->epoch;
            r->batch_entry[nval] = idx;
            r->batch_dst[nbatch] = r->fp_buf + nval * r->fp_words;
            r->batch_addr[nbatch] = r->entries[idx].code;
            r->batch_len[nbatch] = span;
            nbatch++;
            nval++;
        }
        f->entry = idx;
        if (idx != FW_NO_ENTRY) {
            r->entries[idx].referenced = 1;
            if (r->entries[idx].first_arg == FW_PY_ARG_SELF && f->first_local != 0) {
                r->batch_dst[nbatch] = &f->self_type;
                r->batch_addr[nbatch] = fw_py_type_field(f->first_local);
                r->batch_len[nbatch] = sizeof f->self_type;
                f->type_requested = true;
                nbatch++;
            }
        }
    }
    assert(nbatch <= 2 * FW_RAW_MAX && nval <= FW_RAW_MAX);
    if (nbatch == 0) {
        return;
    }
    /* In direct mode (fw_memread.h) reads cost nothing but a span may only be read once the
     * type says it is a code object: the one-by-one path below does that. */
    bool all = !fw_memread_is_direct() &&
               fw_memread_many(r->batch_dst, r->batch_addr, r->batch_len, nbatch);
    /* On a partial failure, the ranges are re-read one by one to find which failed. */
    for (size_t k = 0; k < nval; k++) {
        int32_t idx = r->batch_entry[k];
        fw_code_entry *e = &r->entries[idx];
        bool ok;
        if (all) {
            /* The fingerprint covers the type pointer, so a non-code object fails here. */
            ok = fw_py_code_fingerprint_of(r->fp_buf + k * r->fp_words) == e->fingerprint;
        } else {
            ok = fw_py_code_still_valid(e->code, e->fingerprint);
        }
        if (!ok && !fw_code_fill(r, idx)) {
            /* The address no longer holds a readable code object: frames using it become
             * unknown. */
            for (int i = 0; i < n; i++) {
                if (r->raw[i].entry == idx) {
                    r->raw[i].entry = FW_NO_ENTRY;
                }
            }
        }
    }
    if (!all) {
        for (int i = 0; i < n; i++) {
            fw_raw_frame *f = &r->raw[i];
            if (f->type_requested &&
                !fw_memread(&f->self_type, fw_py_type_field(f->first_local),
                            sizeof f->self_type)) {
                f->self_type = 0;
            }
        }
    }
}

bool fw_stack_last_walk_broken(const fw_stack_resolver *r) {
    return r != NULL && r->chain_broken;
}

fw_py_window *fw_stack_window(fw_stack_resolver *r) {
    return r == NULL ? NULL : &r->window;
}

int fw_stack_walk(fw_stack_resolver *r, uintptr_t top_frame, fw_frame *out, int max_depth) {
    if (r != NULL) {
        fw_py_window_reset(&r->window);
    }
    return fw_stack_walk_prefetched(r, top_frame, out, max_depth);
}

int fw_stack_walk_prefetched(fw_stack_resolver *r, uintptr_t top_frame, fw_frame *out,
                             int max_depth) {
    if (r == NULL || out == NULL || max_depth < 1 || top_frame == 0) {
        return top_frame == 0 && r != NULL && out != NULL ? 0 : -1;
    }
    if (max_depth > FW_STACK_MAX_DEPTH) {
        max_depth = FW_STACK_MAX_DEPTH;
    }
    r->epoch++;
    if (r->epoch == 0) {
        r->epoch = 1; /* 0 never marks a pinned entry: fresh entries are zeroed */
    }
    int n = fw_walk_chain(r, top_frame, max_depth);
    if (n < 0) {
        return -1;
    }
    fw_resolve_codes(r, n);
    int depth = 0;
    bool truncated = false;
    for (int i = 0; i < n; i++) {
        const fw_raw_frame *f = &r->raw[i];
        if (f->skip) {
            continue;
        }
        fw_frame fr;
        if (f->entry == FW_NO_ENTRY) {
            fr.function = FW_STACK_FN_UNKNOWN;
            fr.line = -1;
        } else {
            fw_code_entry *e = &r->entries[f->entry];
            if (f->check_incomplete && f->instr_offset < e->first_traceable) {
                continue; /* a frame still setting up (3.11+): CPython hides it too */
            }
            fr.line = fw_entry_line(e, f->instr_offset);
            fr.function = e->function;
            if (e->first_arg != FW_PY_ARG_NONE && f->first_local != 0) {
                fr.function = fw_method_function(r, f->entry, f);
            }
        }
        if (depth == max_depth) {
            truncated = true;
            break;
        }
        out[depth++] = fr;
    }
    if (!truncated && r->chain_more) {
        /* The chain was cut by the read cap (many shim frames): still say so. */
        truncated = true;
        if (depth < max_depth) {
            depth++;
        }
    }
    if (truncated) {
        out[depth - 1].function = FW_STACK_FN_TRUNCATED;
        out[depth - 1].line = -1;
    }
    return depth;
}

const fw_function_info *fw_stack_function(const fw_stack_resolver *r, uint32_t id) {
    if (r == NULL || id >= r->function_count) {
        return NULL;
    }
    return &r->functions[id].info;
}

size_t fw_stack_function_count(const fw_stack_resolver *r) {
    return r == NULL ? 0 : r->function_count;
}

bool fw_stack_functions_nearly_full(const fw_stack_resolver *r) {
    return r != NULL && r->function_count >= r->function_cap - r->function_cap / 8;
}

void fw_stack_reset_functions(fw_stack_resolver *r) {
    if (r == NULL) {
        return;
    }
    /* Cached entries carry function ids: they go with the registry. */
    fw_cache_clear(r);
    fw_functions_clear(r);
}
