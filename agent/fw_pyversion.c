/*
 * fw_pyversion: CPython 3.9-3.15 internals behind one version-neutral interface (fw_pyversion.h):
 * initialisation, thread states and frames. Code objects, strings and line tables are in
 * pyversion/fw_py_objects.c, context variables in pyversion/fw_py_context.c, the GIL in
 * pyversion/fw_py_gil.c, the interpreter's own layout table in pyversion/fw_py_layout.c; the five
 * share pyversion/fw_py_internal.h.
 *
 * Design. These are the only translation units that define Py_BUILD_CORE and include CPython's
 * internal headers, and the only ones with `#if PY_VERSION_HEX`. They are compiled once per
 * interpreter against that interpreter's own headers, so there is no table of hand-written
 * offsets to get wrong: every struct we look at is the real definition, and on 3.13+ the fields
 * that _Py_DebugOffsets describes are read at the offsets the running interpreter publishes
 * (fw_lay; see fw_py_layout.c). The pattern is always the same: copy a whole struct (or a known
 * prefix of it) from the target address into a local buffer with fw_memread, then read fields of
 * the copy. Nothing found in a CPython structure is ever dereferenced directly, because the
 * sampler calls these readers without the GIL while the owning threads run, and any pointer may
 * be stale. (fw_py_init, which runs with the GIL held, is the one exception: it takes addresses
 * of type objects, the interpreter and _PyRuntime's table.)
 *
 * What differs per version:
 *   - thread list: interp->tstate_head (3.9/3.10), interp->threads.head (3.11+);
 *   - top frame: tstate->frame (PyFrameObject, 3.9/3.10), tstate->cframe->current_frame
 *     (_PyInterpreterFrame, 3.11/3.12), tstate->current_frame (3.13+);
 *   - instruction: f_lasti in bytes (3.9) or code units (3.10); prev_instr (3.11/3.12) or
 *     instr_ptr (3.13+) relative to co_code_adaptive. We report the byte offset that
 *     PyFrame_GetLineNumber feeds to PyCode_Addr2Line on that version, so lines match CPython;
 *   - the code object of a frame: f_code (3.11/3.12), f_executable (3.13), f_executable as a
 *     _PyStackRef whose low two bits are tags (3.14+); an entry frame runs None, not code;
 *   - frames to skip: the C-stack shim frames of 3.12/3.13 (owner FRAME_OWNED_BY_CSTACK), the
 *     interpreter-owned entry frames of 3.14+ (FRAME_OWNED_BY_INTERPRETER, renumbered: 3.14
 *     inserted it before CSTACK, 3.15 dropped CSTACK; 3.15's thread-state base frame is one
 *     too), and 3.11+ incomplete frames (not generator-owned and not yet past _co_firsttraceable);
 *   - the GIL: in _PyRuntime (3.9-3.11), in each interpreter (3.12+; 3.13+ publish where).
 */
#include "pyversion/fw_py_internal.h"

#define FW_PY_PINNED_REACH (1u << 20)  /* below a pinned window: the same data stack, deeper */

uintptr_t fw_py_interp;
uintptr_t fw_py_code_type;
uintptr_t fw_py_str_type;
uintptr_t fw_py_bytes_type;
uintptr_t fw_py_tuple_type;
uintptr_t fw_py_gil; /* struct _gil_runtime_state of the main interpreter (3.13+: see below) */
bool fw_py_gil_static; /* it lies inside _PyRuntime: mapped for the life of the process */
static bool fw_py_ready;
static char fw_py_init_err[256]; /* why fw_py_init last failed */
static pid_t fw_py_init_pid;
#if PY_VERSION_HEX >= 0x030D0000
fw_py_layout fw_lay;
#endif

const char *fw_py_init_error(void) { return fw_py_init_err; }

/* ---- small helpers -------------------------------------------------------------------- */

uintptr_t fw_py_type_field(uintptr_t obj) { return obj + offsetof(PyObject, ob_type); }

/* ---- initialisation ------------------------------------------------------------------- */

static uintptr_t fw_py_thread_head_of(uintptr_t interp);

bool fw_py_init(void) {
#ifdef Py_GIL_DISABLED
    /* free-threaded builds have another object layout and no GIL to rely on */
    snprintf(fw_py_init_err, sizeof fw_py_init_err, "free-threaded CPython is not supported "
             "(3.9-3.15 with the GIL only)");
    return false;
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
    snprintf(fw_py_init_err, sizeof fw_py_init_err, "its thread states are unreadable");
#if PY_VERSION_HEX >= 0x030D0000
    size_t dlen = 0;
    const void *dtab = fw_py_debug_offsets(&dlen);
    if (fw_py_check_debug_offsets(dtab, dlen, fw_py_init_err, sizeof fw_py_init_err) != 0 ||
        !fw_py_layout_from(&_PyRuntime.debug_offsets, &fw_lay, fw_py_init_err,
                           sizeof fw_py_init_err)) {
        return false;
    }
#endif
    fw_py_code_type = (uintptr_t)&PyCode_Type;
    fw_py_str_type = (uintptr_t)&PyUnicode_Type;
    fw_py_bytes_type = (uintptr_t)&PyBytes_Type;
    fw_py_tuple_type = (uintptr_t)&PyTuple_Type;
    fw_py_interp = (uintptr_t)PyInterpreterState_Main();
    if (fw_py_interp == 0) {
        return false;
    }
    /* The GIL moved from the runtime into each interpreter in 3.12; 3.13+ says where in the
     * interpreter its two words are (a GIL owned by the interpreter itself, as the main one is). */
#if PY_VERSION_HEX >= 0x030D0000
    fw_py_gil = fw_py_interp + FW_PY_MIN2(fw_lay.gil_locked, fw_lay.gil_holder);
#elif PY_VERSION_HEX >= 0x030C0000
    fw_py_gil = (uintptr_t)((PyInterpreterState *)fw_py_interp)->ceval.gil;
#else
    fw_py_gil = (uintptr_t)&_PyRuntime.ceval.gil;
#endif
    /* The main interpreter's GIL is part of _PyRuntime (3.12+: of the main interpreter, which
     * _PyRuntime embeds): static storage of libpython, which is never unmapped while our
     * sampler runs. Then the sampler reads its two words directly, atomically, instead of with
     * a system call. Anything else (a GIL allocated elsewhere) is copied as other memory is. */
    fw_py_gil_static = fw_py_gil >= (uintptr_t)&_PyRuntime &&
                       fw_py_gil + FW_PY_GIL_SPAN <= (uintptr_t)&_PyRuntime + sizeof _PyRuntime;
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
    if (!found) {
        snprintf(fw_py_init_err, sizeof fw_py_init_err,
                 "its thread states are unreadable (this thread was not found on its list)");
    }
    return found;
#endif
}

/* ---- threads -------------------------------------------------------------------------- */

uintptr_t fw_py_thread_head(void) {
    return fw_py_ready ? fw_py_thread_head_of(fw_py_interp) : 0;
}

static uintptr_t fw_py_thread_head_of(uintptr_t interp) {
    uintptr_t head = 0;
#if PY_VERSION_HEX >= 0x030D0000
    const size_t off = fw_lay.threads_head;
#elif PY_VERSION_HEX >= 0x030B0000
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

/* A copy of a thread state. 3.13+ copies as many bytes as the interpreter's _Py_DebugOffsets
 * say a thread state has, so the buffer has room beyond the compiled struct. */
#define FW_PY_TS_MAX (sizeof(PyThreadState) + 1024)
typedef union {
    PyThreadState ts;
    _Alignas(16) unsigned char b[FW_PY_TS_MAX];
} fw_py_tsbuf;

/* The fields of a copied thread state that the readers use. */
typedef struct {
    uintptr_t next, interp, frame, context;
    uintptr_t chunk, top, limit;   /* 3.11+: the data stack */
    uintptr_t holder;              /* 3.11/3.12: tstate->cframe; 3.13+: the thread state itself */
    uint64_t thread_id;
    int64_t native_tid;
} fw_py_ts_view;

static size_t fw_py_ts_len(void) {
#if PY_VERSION_HEX >= 0x030D0000
    return fw_lay.ts_size;
#else
    return sizeof(PyThreadState);
#endif
}

/* Fields with an entry in _Py_DebugOffsets are read at the interpreter's own offsets (3.13+);
 * the data stack's top and limit and the context have none and come from the headers. */
static void fw_py_ts_view_of(const fw_py_tsbuf *t, uintptr_t tstate, fw_py_ts_view *v) {
#if PY_VERSION_HEX >= 0x030D0000
    v->next = fw_py_ld_ptr(t->b, fw_lay.ts_next);
    v->interp = fw_py_ld_ptr(t->b, fw_lay.ts_interp);
    v->frame = fw_py_ld_ptr(t->b, fw_lay.ts_frame);
    v->thread_id = (uint64_t)fw_py_ld_ptr(t->b, fw_lay.ts_thread_id);
    v->native_tid = (int64_t)fw_py_ld_ptr(t->b, fw_lay.ts_native_tid);
    v->chunk = fw_py_ld_ptr(t->b, fw_lay.ts_chunk);
    v->holder = tstate;
#else
    v->next = (uintptr_t)t->ts.next;
    v->interp = (uintptr_t)t->ts.interp;
    v->thread_id = (uint64_t)t->ts.thread_id;
#if PY_VERSION_HEX >= 0x030B0000
    v->frame = 0;   /* in the cframe, read separately */
    v->native_tid = (int64_t)t->ts.native_thread_id;
    v->chunk = (uintptr_t)t->ts.datastack_chunk;
    v->holder = (uintptr_t)t->ts.cframe;
#else
    v->frame = (uintptr_t)t->ts.frame;
    v->native_tid = 0;
    v->chunk = 0;
    v->holder = 0;
#endif
    (void)tstate;
#endif
#if PY_VERSION_HEX >= 0x030B0000
    v->top = (uintptr_t)t->ts.datastack_top;
    v->limit = (uintptr_t)t->ts.datastack_limit;
#else
    v->top = v->limit = 0;
#endif
    v->context = (uintptr_t)t->ts.context;
}

#if PY_VERSION_HEX >= 0x030B0000
#define FW_PY_WINDOW_ABOVE 2048u /* bytes of data stack copied above the recorded top */

/* Where the frame pointer lives: 3.13+, a field of the thread state; 3.11/3.12, the cframe,
 * which lives on the thread's C stack and is popped by each return to C. */
#if PY_VERSION_HEX >= 0x030D0000
#define FW_PY_FRAME_OFF fw_lay.ts_frame
#else
#define FW_PY_FRAME_OFF offsetof(_PyCFrame, current_frame)
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
static bool fw_py_top_frame(uintptr_t tstate, const fw_py_ts_view *ts, fw_py_window *w,
                            uintptr_t *top) {
    uintptr_t chunk_data = fw_py_chunk_data(ts->chunk);
    uintptr_t holder = ts->holder;
    *top = ts->frame;   /* 3.13+: copied with the thread state */
    for (int attempt = 0; attempt < 3; attempt++) {
        fw_py_iov v = {.n = 0};
        uintptr_t cur = 0, again = 0, cur_after = 0;
        if (holder == 0) {
            *top = 0;
            return true;
        }
        fw_py_iov_add(&v, &cur, holder + FW_PY_FRAME_OFF, sizeof cur);
        uintptr_t start = 0;
        size_t span = w == NULL ? 0 : fw_py_window_span(chunk_data, ts->top, ts->limit, &start);
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
 * Returns -1 if the copy failed (the hinted chunk may be gone), 0 if *t was copied but the
 * window cannot be used, 1 if *t, *top and the window all hold. The checks are those of
 * fw_py_top_frame, plus: the thread state names the hinted chunk and cframe (the window was
 * copied from the chunk the thread uses now) and the top frame lies inside the window. */
static int fw_py_read_speculative(uintptr_t tstate, fw_py_tsbuf *t, fw_py_ts_view *ts,
                                  fw_py_window *w, const fw_py_stack_hint *h, uintptr_t *top) {
    uintptr_t start = 0;
    size_t span = fw_py_window_span(fw_py_chunk_data(h->chunk), h->top, h->limit, &start);
    uintptr_t holder = h->holder;   /* the holder at the last read: on 3.13+, tstate itself */
    if (span == 0 || holder == 0) {
        return -1;
    }
    fw_py_iov v = {.n = 0};
    uintptr_t cur = 0, again = 0, cur_after = 0;
    fw_py_iov_add(&v, t->b, tstate, fw_py_ts_len());
#if PY_VERSION_HEX < 0x030D0000
    fw_py_iov_add(&v, &cur, holder + FW_PY_FRAME_OFF, sizeof cur);
#endif
    fw_py_iov_add(&v, w->data, start, span);
    fw_py_iov_add_recheck(&v, tstate, holder, &again, &cur_after);
    if (!fw_memread_many(v.dst, v.addr, v.len, v.n)) {
        return -1;
    }
    fw_py_ts_view_of(t, tstate, ts);
#if PY_VERSION_HEX >= 0x030D0000
    cur = ts->frame; /* copied with the thread state, first */
#endif
    if (ts->interp != fw_py_interp || ts->chunk != h->chunk || ts->limit != h->limit ||
        ts->holder != holder || again != holder || cur_after != cur || cur < start ||
        cur - start + FW_PY_FRAME_FIXED > span) {
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
    fw_py_tsbuf t;
    fw_py_ts_view ts;
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
        spec = fw_py_read_speculative(tstate, &t, &ts, w, hint, &top);
        if (spec == 0) {
            fw_py_window_reset(w);
        }
    }
    if (spec < 0) {
        if (!fw_memread(t.b, tstate, fw_py_ts_len())) {
            return false;
        }
        fw_py_ts_view_of(&t, tstate, &ts);
    }
#else
    if (!fw_memread(t.b, tstate, fw_py_ts_len())) {
        return false;
    }
    fw_py_ts_view_of(&t, tstate, &ts);
#endif
    if (ts.interp != fw_py_interp) {
        return false; /* freed and reused, or not a thread state at all */
    }
    out->next = ts.next;
    out->pthread_id = ts.thread_id;
    out->context = ts.context;
    out->native_tid = ts.native_tid;
#if PY_VERSION_HEX >= 0x030B0000
    if (hint != NULL) {
        hint->chunk = ts.chunk;
        hint->top = ts.top;
        hint->limit = ts.limit;
        hint->holder = ts.holder;
    }
    if (spec > 0) {
        out->top_frame = top;
        hint->one_call = true;
        return true;
    }
    return fw_py_top_frame(tstate, &ts, w, &out->top_frame);
#else
    out->top_frame = ts.frame;
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

/* Byte offset of the instructions inside a code object; prev_instr/instr_ptr point into it. */
#if PY_VERSION_HEX >= 0x030D0000
#define FW_PY_CODE_START fw_lay.co_code
#elif PY_VERSION_HEX >= 0x030B0000
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
#if PY_VERSION_HEX >= 0x030D0000
    /* The frame is read without its locals (only the fixed part is needed), its fields at the
     * offsets the interpreter publishes. */
    _Alignas(16) unsigned char fb[FW_PY_FRAME_MAX];
    if (!fw_py_copy(w, fb, frame, FW_PY_FRAME_FIXED)) {
        return false;
    }
    out->previous = fw_py_ld_ptr(fb, fw_lay.fr_previous);
    uintptr_t code = fw_py_ld_ptr(fb, fw_lay.fr_executable);
#if PY_VERSION_HEX >= 0x030E0000
    code &= ~(uintptr_t)3;   /* a _PyStackRef: tag bits in the low two bits of the pointer */
#endif
    uintptr_t instr = fw_py_ld_ptr(fb, fw_lay.fr_instr_ptr);
    const struct {
        int owner;
    } f = {(int)(signed char)fb[fw_lay.fr_owner]};
#elif PY_VERSION_HEX >= 0x030B0000
    _PyInterpreterFrame f;
    /* The frame is read without its locals: only the fixed part is needed. */
    if (!fw_py_copy(w, &f, frame, offsetof(_PyInterpreterFrame, localsplus))) {
        return false;
    }
    out->previous = (uintptr_t)f.previous;
    uintptr_t code = (uintptr_t)f.f_code;
    uintptr_t instr = (uintptr_t)f.prev_instr;
#endif
#if PY_VERSION_HEX >= 0x030B0000
#if PY_VERSION_HEX >= 0x030F0000
    const int owner_max = FRAME_OWNED_BY_INTERPRETER;
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

/* ---- version facts for the rest of the agent ------------------------------------------ */

bool fw_py_has_native_tid(void)
{
    return PY_VERSION_HEX >= 0x030B0000;
}

bool fw_py_usable(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsInitialized() && !Py_IsFinalizing();
#else
    return Py_IsInitialized() && !_Py_IsFinalizing();
#endif
}
