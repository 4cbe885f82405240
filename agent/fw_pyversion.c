/*
 * fw_pyversion: CPython 3.9-3.13 internals behind one version-neutral interface.
 *
 * Design. This is the only translation unit that defines Py_BUILD_CORE and includes CPython's
 * internal headers, and the only one with `#if PY_VERSION_HEX`. It is compiled once per
 * interpreter against that interpreter's own headers, so there is no table of hand-written
 * offsets to get wrong: every struct we look at is the real definition. The pattern is always
 * the same: copy a whole struct (or a known prefix of it) from the target address into a local
 * variable with fw_memread, then read fields of the local copy. Nothing found in a CPython
 * structure is ever dereferenced directly, because the sampler calls these readers without the
 * GIL while the owning threads run, and any pointer may be stale. (fw_py_init, which runs with
 * the GIL held, is the one exception: it takes addresses of type objects and the interpreter.)
 *
 * What differs per version:
 *   - thread list: interp->tstate_head (3.9/3.10), interp->threads.head (3.11+);
 *   - top frame: tstate->frame (PyFrameObject, 3.9/3.10), tstate->cframe->current_frame
 *     (_PyInterpreterFrame, 3.11/3.12), tstate->current_frame (3.13);
 *   - instruction: f_lasti in bytes (3.9) or code units (3.10); prev_instr (3.11/3.12) or
 *     instr_ptr (3.13) relative to co_code_adaptive. We report the byte offset that
 *     PyFrame_GetLineNumber feeds to PyCode_Addr2Line on that version, so lines match CPython;
 *   - frames to skip: 3.12+ C-stack shim frames (owner FRAME_OWNED_BY_CSTACK) and 3.11+
 *     incomplete frames (not generator-owned and not yet past _co_firsttraceable);
 *   - code objects: co_qualname exists from 3.11; before that the walker derives Class.name from
 *     a first argument named self/cls; the line table is co_lnotab (3.9), the PEP 626 table
 *     (3.10) or the PEP 657 location table (3.11+).
 *
 * Strings are decoded by hand from the PEP 393 representation (compact ASCII, compact 1/2/4-byte
 * kinds, and legacy strings whose characters live in a separate block), because calling
 * PyUnicode_AsUTF8 needs the GIL and may allocate. Lone surrogates (surrogateescape filenames)
 * become U+FFFD so the output is always valid UTF-8.
 *
 * Validation is by type pointer: a code object's ob_type must be &PyCode_Type, a name must be an
 * exact str, a line table an exact bytes object. Sizes are capped so that a torn read cannot
 * make us allocate or loop without bound.
 */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <frameobject.h>
#if PY_VERSION_HEX >= 0x030E0000
/* 3.14 moved the frame struct out of pycore_frame.h, and _PyRuntime's declaration out of the
 * headers pycore_pystate.h pulls in. */
#include "internal/pycore_interpframe_structs.h"
#include "internal/pycore_runtime.h"
#elif PY_VERSION_HEX >= 0x030B0000
#include "internal/pycore_frame.h"
#endif
#include "internal/pycore_code.h"
#include "internal/pycore_context.h"
#include "internal/pycore_hamt.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_pystate.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fw_memread.h"
#include "fw_pyversion.h"

#if PY_VERSION_HEX < 0x03090000 || PY_VERSION_HEX >= 0x03100000
#error "flamewatch supports CPython 3.9 to 3.15"
#endif

#define FW_PY_LINETABLE_MAX (1u << 20) /* a larger table is treated as garbage */
#define FW_PY_PAGE 4096u               /* lower bound of any page size we run on */
#define FW_PY_PINNED_REACH (1u << 20)  /* below a pinned window: the same data stack, deeper */

static uintptr_t fw_py_interp;
static uintptr_t fw_py_code_type;
static uintptr_t fw_py_str_type;
static uintptr_t fw_py_bytes_type;
static uintptr_t fw_py_tuple_type;
static uintptr_t fw_py_gil; /* struct _gil_runtime_state of the main interpreter */
static bool fw_py_gil_static; /* it lies inside _PyRuntime: mapped for the life of the process */
static bool fw_py_ready;
static pid_t fw_py_init_pid;

/* ---- small helpers -------------------------------------------------------------------- */

static bool fw_py_read_ptr(uintptr_t addr, uintptr_t *out) {
    return fw_memread(out, addr, sizeof *out);
}

static uintptr_t fw_py_type_of(uintptr_t obj) {
    uintptr_t type = 0;
    if (!fw_py_read_ptr(obj + offsetof(PyObject, ob_type), &type)) {
        return 0;
    }
    return type;
}

uintptr_t fw_py_type_field(uintptr_t obj) { return obj + offsetof(PyObject, ob_type); }

/* 64-bit mixer (the finaliser of splitmix64): spreads every input bit over the result. */
static uint64_t fw_py_mix(uint64_t h, uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

/* ---- initialisation ------------------------------------------------------------------- */

static uintptr_t fw_py_thread_head_of(uintptr_t interp);

bool fw_py_init(void) {
#ifdef Py_GIL_DISABLED
    return false; /* free-threaded builds have another object layout and no GIL to rely on */
#else
    /* Idempotent within one process: the module's debug hooks and the agent may both call
     * it, and the sampler thread may already be reading these globals. After fork the pid
     * differs and everything is recorded again (the child has no sampler thread yet). */
    pid_t pid = getpid();
    if (fw_py_ready && fw_py_init_pid == pid) {
        return true;
    }
    fw_memread_init();
    fw_py_ready = false;
    fw_py_code_type = (uintptr_t)&PyCode_Type;
    fw_py_str_type = (uintptr_t)&PyUnicode_Type;
    fw_py_bytes_type = (uintptr_t)&PyBytes_Type;
    fw_py_tuple_type = (uintptr_t)&PyTuple_Type;
    fw_py_interp = (uintptr_t)PyInterpreterState_Main();
    if (fw_py_interp == 0) {
        return false;
    }
    /* The GIL moved from the runtime into each interpreter in 3.12. */
#if PY_VERSION_HEX >= 0x030C0000
    fw_py_gil = (uintptr_t)((PyInterpreterState *)fw_py_interp)->ceval.gil;
#else
    fw_py_gil = (uintptr_t)&_PyRuntime.ceval.gil;
#endif
    /* The main interpreter's GIL is part of _PyRuntime (3.12+: of the main interpreter, which
     * _PyRuntime embeds): static storage of libpython, which is never unmapped while our
     * sampler runs. Then the sampler reads its two words directly, atomically, instead of with
     * a system call. Anything else (a GIL allocated elsewhere) is copied as other memory is. */
    fw_py_gil_static = fw_py_gil >= (uintptr_t)&_PyRuntime &&
                       fw_py_gil + sizeof(struct _gil_runtime_state) <=
                           (uintptr_t)&_PyRuntime + sizeof _PyRuntime;
    /* Sanity checks with the GIL held: memory reads work, our thread is on the list we will
     * walk, its record carries the identity threading.get_ident() reports, and its top frame
     * reads as a frame running a code object. */
    PyThreadState *self = PyThreadState_Get();
    bool found = false;
    uintptr_t t = fw_py_thread_head_of(fw_py_interp);
    for (int guard = 0; t != 0 && guard < 100000; guard++) {
        fw_py_thread th;
        if (!fw_py_read_thread(t, &th)) {
            break;
        }
        if (t == (uintptr_t)self) {
            found = th.pthread_id == (uint64_t)PyThread_get_thread_ident();
            if (found && th.top_frame != 0) {
                fw_py_frame f;
                found = fw_py_read_frame(th.top_frame, &f) && (f.skip || f.code != 0);
            }
            break;
        }
        t = th.next;
    }
    if (self->interp != PyInterpreterState_Main()) {
        /* Called from a sub-interpreter: the main interpreter's threads are still sampled. */
        found = true;
    }
    fw_py_init_pid = pid;
    fw_py_ready = found;
    return found;
#endif
}

/* ---- threads -------------------------------------------------------------------------- */

uintptr_t fw_py_thread_head(void) {
    return fw_py_ready ? fw_py_thread_head_of(fw_py_interp) : 0;
}

static uintptr_t fw_py_thread_head_of(uintptr_t interp) {
    uintptr_t head = 0;
#if PY_VERSION_HEX >= 0x030B0000
    const size_t off = offsetof(PyInterpreterState, threads.head);
#else
    const size_t off = offsetof(PyInterpreterState, tstate_head);
#endif
    if (!fw_py_read_ptr(interp + off, &head)) {
        return 0;
    }
    return head;
}

bool fw_py_read_thread(uintptr_t tstate, fw_py_thread *out) {
    return fw_py_read_thread_win(tstate, out, NULL);
}

#if PY_VERSION_HEX >= 0x030B0000
#define FW_PY_WINDOW_ABOVE 2048u /* bytes of data stack copied above the recorded top */

/* Where the frame pointer lives: 3.13, a field of the thread state; 3.11/3.12, the cframe, which
 * lives on the thread's C stack and is popped by each return to C. */
#if PY_VERSION_HEX >= 0x030D0000
#define FW_PY_FRAME_OFF offsetof(PyThreadState, current_frame)
#define FW_PY_HOLDER(tstate, ts) (tstate)
#else
#define FW_PY_FRAME_OFF offsetof(_PyCFrame, current_frame)
#define FW_PY_HOLDER(tstate, ts) ((uintptr_t)(ts)->cframe)
#endif

/* The part of the data stack chunk [chunk_data, limit] to copy for a stack whose top is `top`:
 * mostly below the top (the callers), and some above it (by the time of the copy the thread
 * may have pushed frames). All of it inside the chunk, which is mapped from its start to its
 * limit. Returns the length (0: no usable chunk) and sets *start. */
static size_t fw_py_window_span(uintptr_t chunk_data, uintptr_t top, uintptr_t limit,
                                uintptr_t *start) {
    if (chunk_data == 0 || top <= chunk_data || limit < top) {
        return 0;
    }
    uintptr_t end = limit - top > FW_PY_WINDOW_ABOVE ? top + FW_PY_WINDOW_ABOVE : limit;
    *start = end - chunk_data > FW_PY_WINDOW_SIZE ? end - FW_PY_WINDOW_SIZE : chunk_data;
    return (size_t)(end - *start);
}

/* Where the frames of data stack chunk `chunk` start (0 for no chunk). */
static uintptr_t fw_py_chunk_data(uintptr_t chunk) {
    return chunk == 0 ? 0 : chunk + offsetof(_PyStackChunk, data);
}

/* The ranges of one fw_memread_many call, in the order the kernel copies them. */
typedef struct {
    void *dst[5];
    uintptr_t addr[5];
    size_t len[5];
    size_t n;
} fw_py_iov;

static void fw_py_iov_add(fw_py_iov *v, void *dst, uintptr_t addr, size_t len) {
    assert(v->n < sizeof v->dst / sizeof v->dst[0]);
    v->dst[v->n] = dst;
    v->addr[v->n] = addr;
    v->len[v->n++] = len;
}

/* The re-check that closes a copy of the top of a stack: [3.11/3.12: tstate->cframe, which a return
 * to C pops] [the frame pointer again]. */
static void fw_py_iov_add_recheck(fw_py_iov *v, uintptr_t tstate, uintptr_t holder,
                                  uintptr_t *again, uintptr_t *cur_after) {
#if PY_VERSION_HEX < 0x030D0000
    fw_py_iov_add(v, again, tstate + offsetof(PyThreadState, cframe), sizeof *again);
#else
    (void)tstate;
    *again = holder;
#endif
    fw_py_iov_add(v, cur_after, holder + FW_PY_FRAME_OFF, sizeof *cur_after);
}

/* The top frame pointer and, when `w` is given, the top of the data stack, in one system call:
 * [3.11/3.12: cframe->current_frame] [data stack window] [the frame pointer again], copied by
 * the kernel in that order. The frame pointer is taken from the live cframe only if reading it
 * again after the window gives the same cframe and frame; otherwise a few tries, then the last
 * value read without a window. */
static bool fw_py_top_frame(uintptr_t tstate, const PyThreadState *ts, fw_py_window *w,
                            uintptr_t *top) {
    uintptr_t chunk_data = fw_py_chunk_data((uintptr_t)ts->datastack_chunk);
    uintptr_t holder = FW_PY_HOLDER(tstate, ts);
#if PY_VERSION_HEX >= 0x030D0000
    *top = (uintptr_t)ts->current_frame;
#else
    *top = 0;
#endif
    for (int attempt = 0; attempt < 3; attempt++) {
        fw_py_iov v = {.n = 0};
        uintptr_t cur = 0, again = 0, cur_after = 0;
        if (holder == 0) {
            *top = 0;
            return true;
        }
        fw_py_iov_add(&v, &cur, holder + FW_PY_FRAME_OFF, sizeof cur);
        uintptr_t start = 0;
        size_t span = w == NULL ? 0
                                : fw_py_window_span(chunk_data, (uintptr_t)ts->datastack_top,
                                                    (uintptr_t)ts->datastack_limit, &start);
        if (span != 0) {
            fw_py_iov_add(&v, w->data, start, span);
        }
        fw_py_iov_add_recheck(&v, tstate, holder, &again, &cur_after);
        if (!fw_memread_many(v.dst, v.addr, v.len, v.n)) {
            if (span == 0) {
                return false;
            }
            chunk_data = 0; /* the chunk went away: try again without a window */
            continue;
        }
        *top = cur;
        if (again == holder && cur_after == cur) {
            if (span != 0) {
                w->base = start;
                w->len = span;
                w->pinned = true;
            }
            return true;
        }
        holder = again;
    }
    return true; /* still moving: the last frame pointer read, without a window */
}

/* The one-call read of fw_py_read_thread_hinted: [thread state] [3.11/3.12: frame pointer]
 * [window where the top was last time] [3.11/3.12: the cframe again] [frame pointer again].
 * Returns -1 if the copy failed (the hinted chunk may be gone), 0 if *ts was copied but the
 * window cannot be used, 1 if *ts, *top and the window all hold. The checks are those of
 * fw_py_top_frame, plus: the thread state names the hinted chunk and cframe (the window was
 * copied from the chunk the thread uses now) and the top frame lies inside the window. */
static int fw_py_read_speculative(uintptr_t tstate, PyThreadState *ts, fw_py_window *w,
                                  const fw_py_stack_hint *h, uintptr_t *top) {
    uintptr_t start = 0;
    size_t span = fw_py_window_span(fw_py_chunk_data(h->chunk), h->top, h->limit, &start);
    uintptr_t holder = h->holder;   /* FW_PY_HOLDER at the last read: on 3.13, tstate itself */
    if (span == 0 || holder == 0) {
        return -1;
    }
    fw_py_iov v = {.n = 0};
    uintptr_t cur = 0, again = 0, cur_after = 0;
    fw_py_iov_add(&v, ts, tstate, sizeof *ts);
#if PY_VERSION_HEX < 0x030D0000
    fw_py_iov_add(&v, &cur, holder + FW_PY_FRAME_OFF, sizeof cur);
#endif
    fw_py_iov_add(&v, w->data, start, span);
    fw_py_iov_add_recheck(&v, tstate, holder, &again, &cur_after);
    if (!fw_memread_many(v.dst, v.addr, v.len, v.n)) {
        return -1;
    }
#if PY_VERSION_HEX >= 0x030D0000
    cur = (uintptr_t)ts->current_frame; /* copied with the thread state, first */
#endif
    if ((uintptr_t)ts->interp != fw_py_interp || (uintptr_t)ts->datastack_chunk != h->chunk ||
        (uintptr_t)ts->datastack_limit != h->limit || FW_PY_HOLDER(tstate, ts) != holder ||
        again != holder || cur_after != cur || cur < start ||
        cur - start + offsetof(_PyInterpreterFrame, localsplus) > span) {
        return 0;
    }
    w->base = start;
    w->len = span;
    w->pinned = true;
    *top = cur;
    return 1;
}
#endif

bool fw_py_read_thread_win(uintptr_t tstate, fw_py_thread *out, fw_py_window *w) {
    return fw_py_read_thread_hinted(tstate, out, w, NULL);
}

bool fw_py_read_thread_hinted(uintptr_t tstate, fw_py_thread *out, fw_py_window *w,
                              fw_py_stack_hint *hint) {
    PyThreadState ts;
    fw_py_window_reset(w);
    if (out == NULL) {
        return false;
    }
    if (hint != NULL) {
        hint->one_call = false;
    }
#if PY_VERSION_HEX >= 0x030B0000
    int spec = -1;
    uintptr_t top = 0;
    if (hint != NULL && hint->chunk != 0 && w != NULL) {
        spec = fw_py_read_speculative(tstate, &ts, w, hint, &top);
        if (spec == 0) {
            fw_py_window_reset(w);
        }
    }
    if (spec < 0 && !fw_memread(&ts, tstate, sizeof ts)) {
        return false;
    }
#else
    if (!fw_memread(&ts, tstate, sizeof ts)) {
        return false;
    }
#endif
    if ((uintptr_t)ts.interp != fw_py_interp) {
        return false; /* freed and reused, or not a thread state at all */
    }
    out->next = (uintptr_t)ts.next;
    out->pthread_id = (uint64_t)ts.thread_id;
    out->context = (uintptr_t)ts.context;
#if PY_VERSION_HEX >= 0x030B0000
    out->native_tid = (int64_t)ts.native_thread_id;
    if (hint != NULL) {
        hint->chunk = (uintptr_t)ts.datastack_chunk;
        hint->top = (uintptr_t)ts.datastack_top;
        hint->limit = (uintptr_t)ts.datastack_limit;
        hint->holder = FW_PY_HOLDER(tstate, &ts);
    }
    if (spec > 0) {
        out->top_frame = top;
        hint->one_call = true;
        return true;
    }
    return fw_py_top_frame(tstate, &ts, w, &out->top_frame);
#else
    out->native_tid = 0;
    out->top_frame = (uintptr_t)ts.frame;
    return true;
#endif
}

uintptr_t fw_py_own_thread_if_gil_held(void) {
    if (!fw_py_ready) {
        return 0;
    }
    /* Both are this thread's own bookkeeping: no system call, no lock. */
    PyThreadState *mine = PyGILState_GetThisThreadState();
#if PY_VERSION_HEX >= 0x030D0000
    PyThreadState *current = PyThreadState_GetUnchecked();
#else
    PyThreadState *current = _PyThreadState_UncheckedGet();
#endif
    /* 3.9-3.11: `current` is the runtime's GIL holder; 3.12+: this thread's attached state,
     * NULL while it has released the GIL. Equal and non-NULL: this thread holds the GIL. */
    if (mine == NULL || current != mine || (uintptr_t)mine->interp != fw_py_interp) {
        return 0;
    }
    return (uintptr_t)mine;
}

/* ---- frames --------------------------------------------------------------------------- */

#if PY_VERSION_HEX >= 0x030B0000
/* Byte offset of the instructions inside a code object; prev_instr/instr_ptr point into it. */
#define FW_PY_CODE_START offsetof(PyCodeObject, co_code_adaptive)
#endif

void fw_py_window_reset(fw_py_window *w) {
    if (w != NULL) {
        w->base = 0;
        w->len = 0;
        w->pinned = false;
    }
}

/* Copies [addr, addr + len) into dst, from the window when it holds the range, else by
 * refilling the window with the range and the memory below it (see fw_py_window). */
static bool fw_py_copy(fw_py_window *w, void *dst, uintptr_t addr, size_t len) {
    /* In direct mode a read costs nothing, and the pages below a frame may not be mapped. */
    if (w == NULL || len > sizeof w->data - FW_PY_WINDOW_SIZE || addr < FW_PY_PAGE ||
        fw_memread_is_direct()) {
        return fw_memread(dst, addr, len);
    }
    if (w->len != 0 && addr >= w->base && addr - w->base <= w->len &&
        len <= w->len - (addr - w->base)) {
        memcpy(dst, w->data + (addr - w->base), len);
        return true;
    }
    uintptr_t end = addr + len;
    if (end < addr) {
        return false;
    }
    if (w->pinned && !(addr < w->base && w->base - addr <= FW_PY_PINNED_REACH)) {
        return fw_memread(dst, addr, len);
    }
    w->pinned = false;   /* deeper callers of the same data stack: the walk moves on down */
    /* Whole pages below the frame, so a mapped frame never makes the read fail because of
     * the window; if the page below is unmapped, retry with the frame's own page only, and
     * remember the hole. */
    uintptr_t page = addr - addr % FW_PY_PAGE;
    uintptr_t below = page >= FW_PY_WINDOW_SIZE ? page + FW_PY_PAGE - FW_PY_WINDOW_SIZE : page;
    uintptr_t *hole = &w->holes[(page / FW_PY_PAGE) % FW_PY_WINDOW_HOLES];
    uintptr_t starts[2] = {*hole == page ? page : below, page};
    for (int k = 0; k < 2; k++) {
        size_t n = (size_t)(end - starts[k]);
        assert(n <= sizeof w->data);
        if (fw_memread(w->data, starts[k], n)) {
            w->base = starts[k];
            w->len = n;
            memcpy(dst, w->data + (addr - w->base), len);
            return true;
        }
        if (k == 0 && starts[0] != page) {
            *hole = page;   /* `page` is mapped (or the retry fails too): its neighbour is not */
        }
        if (starts[0] == page) {
            break;
        }
    }
    w->len = 0;
    return false;
}

bool fw_py_read_frame_fast(uintptr_t frame, fw_py_frame *out, bool *check_incomplete) {
    return fw_py_read_frame_win(NULL, frame, out, check_incomplete);
}

bool fw_py_read_frame_win(fw_py_window *w, uintptr_t frame, fw_py_frame *out,
                          bool *check_incomplete) {
    if (out == NULL || check_incomplete == NULL) {
        return false;
    }
    memset(out, 0, sizeof *out);
    *check_incomplete = false;
#if PY_VERSION_HEX >= 0x030B0000
    _PyInterpreterFrame f;
    /* The frame is read without its locals: only the fixed part is needed. */
    if (!fw_py_copy(w, &f, frame, offsetof(_PyInterpreterFrame, localsplus))) {
        return false;
    }
    out->previous = (uintptr_t)f.previous;
#if PY_VERSION_HEX >= 0x030E0000
    /* A _PyStackRef: the object pointer with tag bits in its low two bits. */
    uintptr_t code = f.f_executable.bits & ~(uintptr_t)3;
    uintptr_t instr = (uintptr_t)f.instr_ptr;
#elif PY_VERSION_HEX >= 0x030D0000
    uintptr_t code = (uintptr_t)f.f_executable;
    uintptr_t instr = (uintptr_t)f.instr_ptr;
#else
    uintptr_t code = (uintptr_t)f.f_code;
    uintptr_t instr = (uintptr_t)f.prev_instr;
#endif
#if PY_VERSION_HEX >= 0x030F0000
    const int owner_max = FRAME_OWNED_BY_INTERPRETER;
#elif PY_VERSION_HEX >= 0x030E0000
    const int owner_max = FRAME_OWNED_BY_CSTACK;
#elif PY_VERSION_HEX >= 0x030C0000
    const int owner_max = FRAME_OWNED_BY_CSTACK;
#else
    const int owner_max = FRAME_OWNED_BY_FRAME_OBJECT;
#endif
    if ((int)f.owner < 0 || (int)f.owner > owner_max) {
        /* Not a frame: the thread popped it and reused its memory since we took its address
         * (a stale copy; the caller may try again). */
        return false;
    }
#if PY_VERSION_HEX >= 0x030E0000
    /* 3.14+: the entry frame each C-level call into the interpreter pushes (and 3.15's
     * thread-state base frame) is owned by the interpreter and runs None; 3.14 keeps the C-stack
     * owner for other shims. Neither is user code. */
    if (f.owner == FRAME_OWNED_BY_INTERPRETER
#if PY_VERSION_HEX < 0x030F0000
        || f.owner == FRAME_OWNED_BY_CSTACK
#endif
    ) {
        out->skip = true;
        return true;
    }
#elif PY_VERSION_HEX >= 0x030C0000
    if (f.owner == FRAME_OWNED_BY_CSTACK) {
        /* The entry shim pushed by each C-level call into the interpreter: not user code. */
        out->skip = true;
        return true;
    }
#endif
    if (code == 0) {
        out->skip = true;
        return true;
    }
    /* prev_instr may sit one unit before the code (a frame that has not started), so the
     * difference is computed signed; anything outside +-2 GiB is a torn read. */
    intptr_t diff = (intptr_t)(instr - (code + FW_PY_CODE_START));
    if (diff < -(intptr_t)sizeof(_Py_CODEUNIT) || diff > (intptr_t)INT32_MAX - 8 ||
        diff % (intptr_t)sizeof(_Py_CODEUNIT) != 0) {
        return false;
    }
    out->code = code;
    out->instr_offset = (int32_t)diff;
    *check_incomplete = f.owner != FRAME_OWNED_BY_GENERATOR;
    return true;
#else
    PyFrameObject f;
    if (!fw_py_copy(w, &f, frame, sizeof f)) {
        return false;
    }
    out->previous = (uintptr_t)f.f_back;
    out->code = (uintptr_t)f.f_code;
    if (out->code == 0) {
        out->skip = true;
        return true;
    }
#if PY_VERSION_HEX >= 0x030A0000
    /* 3.10 counts code units; PyFrame_GetLineNumber passes f_lasti * 2 to PyCode_Addr2Line. */
    if (f.f_lasti < -1 || f.f_lasti > INT32_MAX / 2 - 8) {
        return false;
    }
    out->instr_offset = f.f_lasti * (int32_t)sizeof(_Py_CODEUNIT);
#else
    if (f.f_lasti < -1) {
        return false;
    }
    out->instr_offset = f.f_lasti; /* bytes; -1 before the first instruction */
#endif
    out->first_local = (uintptr_t)f.f_localsplus[0];
    return true;
#endif
}

bool fw_py_read_frame(uintptr_t frame, fw_py_frame *out) {
    bool check_incomplete = false;
    if (!fw_py_read_frame_fast(frame, out, &check_incomplete)) {
        return false;
    }
    if (out->skip || out->code == 0) {
        return true;
    }
    if (fw_py_type_of(out->code) != fw_py_code_type) {
        /* 3.13's f_executable may hold something other than a code object. */
        out->code = 0;
        out->skip = true;
        return true;
    }
#if PY_VERSION_HEX >= 0x030B0000
    if (check_incomplete) {
        int first = 0;
        if (!fw_memread(&first, out->code + offsetof(PyCodeObject, _co_firsttraceable),
                        sizeof first)) {
            return false;
        }
        if (out->instr_offset < first * (int32_t)sizeof(_Py_CODEUNIT)) {
            out->skip = true;
        }
    }
#endif
    return true;
}

/* ---- strings -------------------------------------------------------------------------- */

/* Appends code point cp as UTF-8 if it fits in `cap` bytes; false when it does not. */
static bool fw_py_put_utf8(char *buf, size_t *pos, size_t cap, uint32_t cp) {
    unsigned char tmp[4];
    size_t n;
    if (cp >= 0xD800 && cp <= 0xDFFF) {
        cp = 0xFFFD; /* lone surrogate (surrogateescape): keep the output valid UTF-8 */
    }
    if (cp < 0x80) {
        tmp[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        tmp[0] = (unsigned char)(0xC0 | (cp >> 6));
        tmp[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        tmp[0] = (unsigned char)(0xE0 | (cp >> 12));
        tmp[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        tmp[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        tmp[0] = (unsigned char)(0xF0 | (cp >> 18));
        tmp[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        tmp[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        tmp[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    if (*pos + n > cap) {
        return false;
    }
    memcpy(buf + *pos, tmp, n);
    *pos += n;
    return true;
}

bool fw_py_read_str(uintptr_t str, char *buf, size_t buflen) {
    if (buf == NULL || buflen == 0) {
        return false;
    }
    buf[0] = '\0';
    /* The largest header (legacy strings) is read first; the object may be shorter than
     * that, so on failure the plain ASCII header is tried before giving up. */
    PyUnicodeObject u;
    memset(&u, 0, sizeof u);
    /* Checked reads (fw_memread.h): the header read may go past the end of the object. */
    if (!fw_memread_checked(&u, str, sizeof u) &&
        !fw_memread_checked(&u, str, sizeof(PyASCIIObject))) {
        return false;
    }
    const PyASCIIObject *a = &u._base._base;
    if ((uintptr_t)Py_TYPE((const PyObject *)a) != fw_py_str_type) {
        return false;
    }
    if (a->length < 0 || a->length > (Py_ssize_t)(1u << 30)) {
        return false;
    }
    unsigned kind = a->state.kind;
    if (kind != PyUnicode_1BYTE_KIND && kind != PyUnicode_2BYTE_KIND &&
        kind != PyUnicode_4BYTE_KIND) {
        return false;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (!a->state.ready) {
        return false; /* a legacy wstr-only string: its characters are not in PEP 393 form */
    }
#endif
    uintptr_t data;
    if (a->state.compact) {
        data = str + (a->state.ascii ? sizeof(PyASCIIObject) : sizeof(PyCompactUnicodeObject));
    } else {
        data = (uintptr_t)u.data.any;
    }
    size_t cap = buflen - 1 < FW_PY_NAME_MAX ? buflen - 1 : FW_PY_NAME_MAX;
    /* Every character needs at least one UTF-8 byte, so at most `cap` characters matter. */
    size_t nchars = (size_t)a->length < cap ? (size_t)a->length : cap;
    uint8_t raw[FW_PY_NAME_MAX * 4];
    if (!fw_memread_checked(raw, data, nchars * kind)) {
        return false;
    }
    size_t pos = 0;
    for (size_t i = 0; i < nchars; i++) {
        uint32_t cp;
        if (kind == PyUnicode_1BYTE_KIND) {
            cp = raw[i];
        } else if (kind == PyUnicode_2BYTE_KIND) {
            uint16_t v;
            memcpy(&v, raw + 2 * i, 2);
            cp = v;
        } else {
            memcpy(&cp, raw + 4 * i, 4);
            if (cp > 0x10FFFF) {
                return false;
            }
        }
        if (cp == 0 || !fw_py_put_utf8(buf, &pos, cap, cp)) {
            break; /* truncated on a character boundary (or an embedded NUL) */
        }
    }
    buf[pos] = '\0';
    return true;
}

static char *fw_py_dup_str(uintptr_t str) {
    char tmp[FW_PY_NAME_MAX + 1];
    if (!fw_py_read_str(str, tmp, sizeof tmp)) {
        return NULL;
    }
    return strdup(tmp);
}

/* Reads a NUL-terminated C string whose length is unknown, a page at a time so that a string
 * ending just before an unmapped page is still read. */
static bool fw_py_read_cstr(uintptr_t addr, char *buf, size_t buflen) {
    size_t pos = 0;
    if (buflen == 0 || addr == 0) {
        return false;
    }
    while (pos + 1 < buflen) {
        size_t room = FW_PY_PAGE - (size_t)((addr + pos) % FW_PY_PAGE);
        size_t want = buflen - 1 - pos < room ? buflen - 1 - pos : room;
        if (!fw_memread_checked(buf + pos, addr + pos, want)) {
            return false;
        }
        void *nul = memchr(buf + pos, '\0', want);
        if (nul != NULL) {
            return true;
        }
        pos += want;
    }
    buf[pos] = '\0';
    return true;
}

bool fw_py_read_class_name(uintptr_t obj, int first_arg, char *buf, size_t buflen) {
    uintptr_t type;
    if (buf == NULL || buflen == 0 || obj == 0) {
        return false;
    }
    buf[0] = '\0';
    if (first_arg == FW_PY_ARG_SELF) {
        type = fw_py_type_of(obj);
    } else if (first_arg == FW_PY_ARG_CLS) {
        /* cls must be a class: its own type (the metaclass) has the type-subclass flag. */
        unsigned long meta_flags = 0;
        uintptr_t meta = fw_py_type_of(obj);
        if (meta == 0 || !fw_memread(&meta_flags, meta + offsetof(PyTypeObject, tp_flags),
                                     sizeof meta_flags) ||
            (meta_flags & Py_TPFLAGS_TYPE_SUBCLASS) == 0) {
            return false;
        }
        type = obj;
    } else {
        return false;
    }
    if (type == 0) {
        return false;
    }
    PyTypeObject t;
    if (!fw_memread(&t, type, sizeof t)) {
        return false;
    }
    if (t.tp_flags & Py_TPFLAGS_HEAPTYPE) {
        /* A class statement's type: ht_name is the plain __name__ as a str. */
        uintptr_t name = 0;
        if (!fw_py_read_ptr(type + offsetof(PyHeapTypeObject, ht_name), &name)) {
            return false;
        }
        return fw_py_read_str(name, buf, buflen);
    }
    /* A static type: tp_name is "module.Name"; __name__ is the part after the last dot. */
    char tmp[FW_PY_NAME_MAX + 1];
    if (!fw_py_read_cstr((uintptr_t)t.tp_name, tmp, sizeof tmp)) {
        return false;
    }
    const char *dot = strrchr(tmp, '.');
    const char *name = dot != NULL ? dot + 1 : tmp;
    size_t n = strlen(name);
    if (n >= buflen) {
        n = buflen - 1;
        while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80) {
            n--; /* do not cut a UTF-8 sequence */
        }
    }
    memcpy(buf, name, n);
    buf[n] = '\0';
    return true;
}

/* ---- code objects --------------------------------------------------------------------- */

#if PY_VERSION_HEX >= 0x030A0000
#define FW_PY_LINETABLE_FIELD co_linetable
#else
#define FW_PY_LINETABLE_FIELD co_lnotab
#endif

/* End of a field: all fingerprint fields are object pointers except co_firstlineno (int). */
#define FW_PY_END_OF(field) (offsetof(PyCodeObject, field) + sizeof(PyObject *))
#define FW_PY_END_OF_INT(field) (offsetof(PyCodeObject, field) + sizeof(int))
#define FW_PY_MAX(a, b) ((a) > (b) ? (a) : (b))

/* The fingerprint covers the type, the first line and the name, file and line-table pointers:
 * a new code object at a recycled address differs in at least one of them, unless it is the
 * same function with the same table, in which case the cached result is still right. */
#if PY_VERSION_HEX >= 0x030B0000
#define FW_PY_FP_SPAN                                                                        \
    FW_PY_MAX(FW_PY_MAX(FW_PY_END_OF_INT(co_firstlineno), FW_PY_END_OF(co_name)),                \
              FW_PY_MAX(FW_PY_MAX(FW_PY_END_OF(co_filename), FW_PY_END_OF(co_qualname)),     \
                        FW_PY_END_OF(FW_PY_LINETABLE_FIELD)))
#else
#define FW_PY_FP_SPAN                                                                        \
    FW_PY_MAX(FW_PY_MAX(FW_PY_END_OF_INT(co_firstlineno), FW_PY_END_OF(co_name)),                \
              FW_PY_MAX(FW_PY_END_OF(co_filename), FW_PY_END_OF(FW_PY_LINETABLE_FIELD)))
#endif

_Static_assert(FW_PY_FP_SPAN <= sizeof(PyCodeObject), "fingerprint fields inside the struct");

size_t fw_py_code_fingerprint_span(void) { return FW_PY_FP_SPAN; }

uint64_t fw_py_code_fingerprint_of(const void *buf) {
    /* Only the first FW_PY_FP_SPAN bytes of the struct are valid: copy them into a zeroed
     * struct so that no field is read uninitialised and the alignment is right. */
    PyCodeObject c;
    memset(&c, 0, sizeof c);
    memcpy(&c, buf, FW_PY_FP_SPAN);
    uint64_t h = fw_py_mix(0x666c616d65ull, (uint64_t)(uintptr_t)Py_TYPE((PyObject *)&c));
    h = fw_py_mix(h, (uint64_t)(uint32_t)c.co_firstlineno);
    h = fw_py_mix(h, (uint64_t)(uintptr_t)c.co_name);
    h = fw_py_mix(h, (uint64_t)(uintptr_t)c.co_filename);
#if PY_VERSION_HEX >= 0x030B0000
    h = fw_py_mix(h, (uint64_t)(uintptr_t)c.co_qualname);
#endif
    h = fw_py_mix(h, (uint64_t)(uintptr_t)c.FW_PY_LINETABLE_FIELD);
    return h;
}

bool fw_py_code_still_valid(uintptr_t code, uint64_t fingerprint) {
    _Alignas(PyCodeObject) unsigned char buf[FW_PY_FP_SPAN];
    if (fw_memread_is_direct() && fw_py_type_of(code) != fw_py_code_type) {
        return false; /* direct mode: the span may only be read from a code object */
    }
    if (!fw_memread(buf, code, sizeof buf)) {
        return false;
    }
    /* Type first: a fingerprint collision with a non-code object must not count as valid. */
    uintptr_t type;
    memcpy(&type, buf + offsetof(PyObject, ob_type), sizeof type);
    return type == fw_py_code_type && fw_py_code_fingerprint_of(buf) == fingerprint;
}

static bool fw_py_read_bytes(uintptr_t obj, uint8_t **out, size_t *len) {
    PyBytesObject b;
    *out = NULL;
    *len = 0;
    if (!fw_memread(&b, obj, offsetof(PyBytesObject, ob_sval))) {
        return false;
    }
    if ((uintptr_t)Py_TYPE((PyObject *)&b) != fw_py_bytes_type || Py_SIZE((PyObject *)&b) < 0 ||
        (size_t)Py_SIZE((PyObject *)&b) > FW_PY_LINETABLE_MAX) {
        return false;
    }
    size_t n = (size_t)Py_SIZE((PyObject *)&b);
    uint8_t *data = malloc(n + 1); /* +1: malloc(0) may return NULL */
    if (data == NULL) {
        return false;
    }
    if (!fw_memread(data, obj + offsetof(PyBytesObject, ob_sval), n)) {
        free(data);
        return false;
    }
    *out = data;
    *len = n;
    return true;
}

#if PY_VERSION_HEX < 0x030B0000
/* FW_PY_ARG_SELF/CLS if the first positional parameter is named self/cls. */
static int fw_py_first_arg_kind(const PyCodeObject *c) {
    if (c->co_argcount <= 0 || c->co_varnames == NULL) {
        return FW_PY_ARG_NONE;
    }
    PyTupleObject t;
    uintptr_t tuple = (uintptr_t)c->co_varnames;
    if (!fw_memread(&t, tuple, sizeof t) ||
        (uintptr_t)Py_TYPE((PyObject *)&t) != fw_py_tuple_type || Py_SIZE((PyObject *)&t) < 1) {
        return FW_PY_ARG_NONE;
    }
    char name[8];
    if (!fw_py_read_str((uintptr_t)t.ob_item[0], name, sizeof name)) {
        return FW_PY_ARG_NONE;
    }
    if (strcmp(name, "self") == 0) {
        return FW_PY_ARG_SELF;
    }
    if (strcmp(name, "cls") == 0) {
        return FW_PY_ARG_CLS;
    }
    return FW_PY_ARG_NONE;
}
#endif

bool fw_py_read_code(uintptr_t code, fw_py_code *out) {
    if (out == NULL) {
        return false;
    }
    memset(out, 0, sizeof *out);
    PyCodeObject c;
    /* Checked: the object is read at a code object's size before its type is known. */
    if (!fw_memread_checked(&c, code, sizeof c)) {
        return false;
    }
    if ((uintptr_t)Py_TYPE((PyObject *)&c) != fw_py_code_type) {
        return false;
    }
#if PY_VERSION_HEX >= 0x030B0000
    out->qualname = fw_py_dup_str((uintptr_t)c.co_qualname);
    out->first_arg = FW_PY_ARG_NONE;
    if (c._co_firsttraceable < 0 || c._co_firsttraceable > INT32_MAX / 2) {
        return false;
    }
    out->first_traceable = c._co_firsttraceable * (int32_t)sizeof(_Py_CODEUNIT);
#else
    out->qualname = fw_py_dup_str((uintptr_t)c.co_name);
    out->first_arg = fw_py_first_arg_kind(&c);
    out->first_traceable = 0;
#endif
    out->filename = fw_py_dup_str((uintptr_t)c.co_filename);
    out->firstlineno = c.co_firstlineno;
    if (out->qualname == NULL || out->filename == NULL ||
        !fw_py_read_bytes((uintptr_t)c.FW_PY_LINETABLE_FIELD, &out->linetable,
                          &out->linetable_len)) {
        fw_py_code_clear(out);
        return false;
    }
    out->fingerprint = fw_py_code_fingerprint_of(&c);
    return true;
}

void fw_py_code_clear(fw_py_code *code) {
    if (code == NULL) {
        return;
    }
    free(code->qualname);
    free(code->filename);
    free(code->linetable);
    memset(code, 0, sizeof *code);
}

/* ---- line tables ---------------------------------------------------------------------- */

#if PY_VERSION_HEX >= 0x030B0000
/* PEP 657 location table. Each entry starts with a byte whose top bit is set:
 * bits 3-6 are the kind, bits 0-2 the number of code units covered minus one. The kind says
 * what follows: 0-9 "short" (same line, one column byte), 10-12 "one line" (line delta
 * kind-10, two column bytes), 13 "no column" (signed varint line delta), 14 "long" (signed
 * varint line delta, then end line, column and end column as varints), 15 "no location"
 * (the instructions have no line: co_lines() says None). Varints use 6-bit groups with bit 6
 * as the continuation flag, so that no byte after the first has the top bit set. */
static bool fw_py_varint(const uint8_t *t, size_t len, size_t *pos, uint32_t *out) {
    uint32_t v = 0;
    unsigned shift = 0;
    for (;;) {
        if (*pos >= len || shift > 30) {
            return false;
        }
        uint8_t b = t[(*pos)++];
        v |= (uint32_t)(b & 63) << shift;
        shift += 6;
        if ((b & 64) == 0) {
            break;
        }
    }
    *out = v;
    return true;
}

static bool fw_py_svarint(const uint8_t *t, size_t len, size_t *pos, int32_t *out) {
    uint32_t v;
    if (!fw_py_varint(t, len, pos, &v)) {
        return false;
    }
    *out = (v & 1) ? -(int32_t)(v >> 1) : (int32_t)(v >> 1);
    return true;
}

int fw_py_addr2line(const uint8_t *table, size_t len, int32_t firstlineno, int32_t instr_offset) {
    if (instr_offset < 0) {
        return firstlineno; /* not started yet: PyCode_Addr2Line answers the first line */
    }
    if (table == NULL) {
        return -1;
    }
    int64_t line = firstlineno;
    int64_t start = 0;
    size_t pos = 0;
    while (pos < len) {
        uint8_t head = table[pos++];
        if ((head & 128) == 0) {
            return -1; /* not at an entry boundary: corrupt table */
        }
        int kind = (head >> 3) & 15;
        int64_t end = start + (int64_t)((head & 7) + 1) * 2;
        int32_t delta = 0;
        bool has_line = true;
        uint32_t skip;
        switch (kind) {
        case 15:
            has_line = false;
            break;
        case 13:
            if (!fw_py_svarint(table, len, &pos, &delta)) {
                return -1;
            }
            break;
        case 14:
            if (!fw_py_svarint(table, len, &pos, &delta) ||
                !fw_py_varint(table, len, &pos, &skip) || !fw_py_varint(table, len, &pos, &skip) ||
                !fw_py_varint(table, len, &pos, &skip)) {
                return -1;
            }
            break;
        case 10:
        case 11:
        case 12:
            delta = kind - 10;
            pos += 2;
            break;
        default:
            pos += 1; /* short form: one column byte */
            break;
        }
        line += delta;
        if (instr_offset >= start && instr_offset < end) {
            return has_line && line >= INT32_MIN && line <= INT32_MAX ? (int)line : -1;
        }
        start = end;
    }
    return -1;
}
#elif PY_VERSION_HEX >= 0x030A0000
/* PEP 626 table (3.10): pairs (byte delta: unsigned, line delta: signed, -128 = no line).
 * Each pair covers [start, start + byte delta) with the running line; zero-length pairs only
 * move the line. */
int fw_py_addr2line(const uint8_t *table, size_t len, int32_t firstlineno, int32_t instr_offset) {
    if (instr_offset < 0) {
        return firstlineno;
    }
    if (table == NULL) {
        return -1;
    }
    int64_t line = firstlineno;
    int64_t start = 0;
    for (size_t i = 0; i + 1 < len; i += 2) {
        int64_t end = start + table[i];
        int ldelta = (int)(int8_t)table[i + 1];
        int64_t here = -1;
        if (ldelta != -128) {
            line += ldelta;
            here = line;
        }
        if (instr_offset >= start && instr_offset < end) {
            return here >= INT32_MIN && here <= INT32_MAX ? (int)here : -1;
        }
        start = end;
    }
    return -1;
}
#else
/* co_lnotab (3.9): pairs (byte increment: unsigned, line increment: signed). The line of an
 * offset is the first line plus the line increments of every pair whose cumulative address is
 * at or before the offset: the last line start at or before it. */
int fw_py_addr2line(const uint8_t *table, size_t len, int32_t firstlineno, int32_t instr_offset) {
    int64_t line = firstlineno;
    int64_t addr = 0;
    if (table == NULL) {
        return firstlineno;
    }
    for (size_t i = 0; i + 1 < len; i += 2) {
        addr += table[i];
        if (addr > instr_offset) {
            break;
        }
        line += (int8_t)table[i + 1];
    }
    return line >= INT32_MIN && line <= INT32_MAX ? (int)line : -1;
}
#endif

int fw_py_code_unit(void) { return (int)sizeof(_Py_CODEUNIT); }

/* ---- the GIL ---------------------------------------------------------------------------- */

uintptr_t fw_py_gil_holder(void) {
    struct _gil_runtime_state copy;
    const struct _gil_runtime_state *gil = (const struct _gil_runtime_state *)fw_py_gil;
    int locked;
    uintptr_t holder;
    if (fw_py_gil == 0) {
        return 0;
    }
    if (!fw_py_gil_static) {
        if (!fw_memread(&copy, fw_py_gil, sizeof copy)) {
            return 0;
        }
        gil = &copy;
    }
    /* Relaxed atomic loads: CPython writes these words atomically, and they only pick which
     * thread state to read next (every read from there on is a checked copy). */
#if PY_VERSION_HEX >= 0x030D0000
    locked = _Py_atomic_load_int_relaxed(&gil->locked);
    holder = (uintptr_t)_Py_atomic_load_ptr_relaxed(&gil->last_holder);
#else
    /* CPython's own macro: the fields are C11 atomics or plain words, per its build. */
    locked = _Py_atomic_load_relaxed(&gil->locked);
    holder = _Py_atomic_load_relaxed(&gil->last_holder);
#endif
    /* last_holder keeps naming the previous holder after a release; only a locked GIL has an
     * owner. The two fields are read together but not atomically: a handover in between gives
     * a stale answer for one tick, which costs accuracy of one sample, never safety. */
    return locked == 1 ? holder : 0;
}

/* ---- context variables ------------------------------------------------------------------ */

/* A thread's current contextvars.Context is tstate->context (3.9-3.13); its variables live in a
 * HAMT (Python/hamt.c), an immutable trie keyed by 5-bit slices of a 32-bit hash. The node
 * layouts are private to hamt.c (3.12+ headers declare the bitmap node, checked below) and have
 * not changed since 3.7, so they are mirrored here. The walk is the one hamt_node_find() does,
 * done on copies: bitmap nodes hold key/value pairs, or (key NULL) a child node one level down;
 * array nodes hold 32 children; collision nodes hold the pairs of keys whose hashes are equal.
 * Node kinds are told apart by type pointers recorded with the GIL in fw_py_context_init(),
 * except the collision node, which cannot be built on purpose: it is recognised lazily by its
 * type name. Keys are ContextVars, compared by identity as hamt.c does for them. */
typedef struct {
    PyObject_VAR_HEAD
    uint32_t b_bitmap;
    PyObject *b_array[1];
} fw_hamt_bitmap;

typedef struct {
    PyObject_HEAD
    PyObject *a_array[32];
    Py_ssize_t a_count;
} fw_hamt_array;

typedef struct {
    PyObject_VAR_HEAD
    int32_t c_hash;
    PyObject *c_array[1];
} fw_hamt_collision;

#if PY_VERSION_HEX >= 0x030C0000
_Static_assert(offsetof(fw_hamt_bitmap, b_bitmap) == offsetof(PyHamtNode_Bitmap, b_bitmap),
               "hamt bitmap node layout");
_Static_assert(offsetof(fw_hamt_bitmap, b_array) == offsetof(PyHamtNode_Bitmap, b_array),
               "hamt bitmap node layout");
#endif

#define FW_HAMT_MAX_COLLISION 64   /* pairs; hamt.c never builds big ones, a torn read might */

static uintptr_t fw_ctx_type, fw_hamt_type, fw_hamt_bitmap_type, fw_hamt_array_type;
static uintptr_t fw_hamt_collision_type; /* __atomic builtins: written by the sampler */

bool fw_py_context_init(void) {
    if (fw_hamt_array_type != 0) {
        return true;
    }
    PyObject *ctx = PyContext_New();
    if (ctx == NULL) {
        PyErr_Clear();
        return false;
    }
    /* Enough variables at one level turn the root bitmap node into an array node. */
    bool ok = PyContext_Enter(ctx) == 0;
    fw_ctx_type = (uintptr_t)Py_TYPE(ctx);
    fw_hamt_type = (uintptr_t)Py_TYPE(((PyContext *)ctx)->ctx_vars);
    fw_hamt_bitmap_type = (uintptr_t)Py_TYPE(((PyContext *)ctx)->ctx_vars->h_root);
    for (int i = 0; ok && i < 64; i++) {
        PyObject *var = PyContextVar_New("flamewatch_probe", NULL);
        PyObject *tok = var ? PyContextVar_Set(var, Py_None) : NULL;
        ok = tok != NULL;
        Py_XDECREF(tok);
        Py_XDECREF(var);
    }
    if (PyContext_Exit(ctx) != 0) {
        ok = false;
    }
    uintptr_t root = (uintptr_t)Py_TYPE(((PyContext *)ctx)->ctx_vars->h_root);
    if (ok && root != fw_hamt_bitmap_type) {
        fw_hamt_array_type = root;
    }
    Py_DECREF(ctx);
    PyErr_Clear();
    return fw_hamt_array_type != 0;
}

/* hamt.c's hamt_hash(): the object hash folded to 32 bits, never -1. */
static int32_t fw_hamt_hash(int64_t h) {
    int32_t x = (int32_t)((uint64_t)h & 0xffffffffu) ^ (int32_t)((uint64_t)h >> 32);
    return x == -1 ? -2 : x;
}

static bool fw_hamt_is_collision(uintptr_t type) {
    uintptr_t known = __atomic_load_n(&fw_hamt_collision_type, __ATOMIC_RELAXED);
    if (known != 0) {
        return type == known;
    }
    char name[32];
    uintptr_t name_ptr = 0;
    if (!fw_py_read_ptr(type + offsetof(PyTypeObject, tp_name), &name_ptr) ||
        !fw_py_read_cstr(name_ptr, name, sizeof name) || strcmp(name, "hamt_collision_node") != 0) {
        return false;
    }
    __atomic_store_n(&fw_hamt_collision_type, type, __ATOMIC_RELAXED);
    return true;
}

/* One collision node: a linear search of its key/value pairs. */
static int fw_hamt_find_collision(uintptr_t node, uintptr_t key, uintptr_t *value) {
    fw_hamt_collision head;
    uintptr_t pairs[2 * FW_HAMT_MAX_COLLISION];
    if (!fw_memread(&head, node, offsetof(fw_hamt_collision, c_array))) {
        return -1;
    }
    Py_ssize_t n = Py_SIZE(&head);
    if (n < 0 || n > 2L * FW_HAMT_MAX_COLLISION || n % 2 != 0 ||
        !fw_memread(pairs, node + offsetof(fw_hamt_collision, c_array), (size_t)n * sizeof(uintptr_t))) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i += 2) {
        if (pairs[i] == key) {
            *value = pairs[i + 1];
            return 1;
        }
    }
    return 0;
}

int fw_py_read_context_value(uintptr_t context, uintptr_t key, int64_t key_hash, uintptr_t *value) {
    PyContext ctx;
    PyHamtObject hamt;
    if (context == 0 || fw_hamt_array_type == 0) {
        return 0; /* the thread never used contextvars, or no init: nothing set */
    }
    if (!fw_memread(&ctx, context, sizeof ctx) || (uintptr_t)Py_TYPE(&ctx) != fw_ctx_type ||
        !fw_memread(&hamt, (uintptr_t)ctx.ctx_vars, sizeof hamt) ||
        (uintptr_t)Py_TYPE(&hamt) != fw_hamt_type) {
        return -1;
    }
    uint32_t hash = (uint32_t)fw_hamt_hash(key_hash);
    uintptr_t node = (uintptr_t)hamt.h_root;
    for (uint32_t shift = 0; shift < 35 && node != 0; shift += 5) {
        uint32_t idx = (hash >> shift) & 0x1fu;
        uintptr_t type = fw_py_type_of(node);
        if (type == fw_hamt_array_type) {
            if (!fw_py_read_ptr(node + offsetof(fw_hamt_array, a_array) + idx * sizeof(uintptr_t), &node)) {
                return -1;
            }
            continue;
        }
        if (type != fw_hamt_bitmap_type) {
            return fw_hamt_is_collision(type) ? fw_hamt_find_collision(node, key, value) : -1;
        }
        fw_hamt_bitmap head;
        if (!fw_memread(&head, node, offsetof(fw_hamt_bitmap, b_array))) {
            return -1;
        }
        uint32_t bit = 1u << idx;
        if ((head.b_bitmap & bit) == 0) {
            return 0;
        }
        Py_ssize_t pos = 2 * (Py_ssize_t)__builtin_popcount(head.b_bitmap & (bit - 1u));
        uintptr_t pair[2];
        if (pos + 1 >= Py_SIZE(&head) ||
            !fw_memread(pair, node + offsetof(fw_hamt_bitmap, b_array) + (size_t)pos * sizeof(uintptr_t),
                        sizeof pair)) {
            return -1;
        }
        if (pair[0] == 0) {
            node = pair[1]; /* a sub-node one level down */
            continue;
        }
        if (pair[0] != key) {
            return 0;
        }
        *value = pair[1];
        return 1;
    }
    return node == 0 ? 0 : -1;
}
