/*
 * fw_pyversion: the one place that knows CPython's internal structures.
 *
 * fw_pyversion.c is compiled against the internal headers of the interpreter the extension is
 * built for (one build per CPython 3.9-3.15), so every offset and size comes from the real struct
 * definitions, or on 3.13+ from the interpreter's own _Py_DebugOffsets where they have an entry. Everything version-specific lives there, behind the version-neutral views below:
 *   - where the thread-state list and each thread's top frame are;
 *   - how a frame links to its caller, which code object it runs and which instruction;
 *   - which frames are not Python frames (3.12+ C-stack shims, 3.11+ incomplete frames);
 *   - how a code object's names and line table are laid out, and how to decode the line table
 *     (co_lnotab on 3.9, the PEP 626 table on 3.10, the PEP 657 location table on 3.11+).
 * All readers go through fw_memread and may be called from a thread that does not hold the
 * GIL; they return false when memory could not be read or does not look right.
 */
#ifndef FW_PYVERSION_H
#define FW_PYVERSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uintptr_t next;            /* next thread state, 0 at the end */
    uint64_t pthread_id;       /* tstate->thread_id (pthread_t), the `threading.get_ident()` value */
    int64_t native_tid;        /* Linux tid if this version records it, else 0 */
    uintptr_t top_frame;       /* innermost frame (version-specific frame type), 0 if none */
    uintptr_t context;         /* tstate->context: the current contextvars.Context, 0 if none yet */
} fw_py_thread;

typedef struct {
    uintptr_t previous;        /* caller frame, 0 at the bottom */
    uintptr_t code;            /* code object address; 0 when the frame runs no code object */
    int32_t instr_offset;      /* offset in bytes of the executing instruction in co_code */
    uintptr_t first_local;     /* value of the first local (for self/cls on 3.9/3.10), 0 if none */
    bool skip;                 /* not a Python frame to report (shim or incomplete) */
} fw_py_frame;

enum { FW_PY_ARG_NONE = 0, FW_PY_ARG_SELF = 1, FW_PY_ARG_CLS = 2 };

#define FW_PY_NAME_MAX 1024   /* longer names are truncated on a UTF-8 boundary */

typedef struct {
    char *qualname;            /* UTF-8, malloc'd: co_qualname (3.11+) or co_name */
    char *filename;            /* UTF-8, malloc'd */
    int32_t firstlineno;
    int first_arg;             /* FW_PY_ARG_*: first positional parameter named self/cls (3.9/3.10 only) */
    uint8_t *linetable;        /* malloc'd copy of the version's line table */
    size_t linetable_len;
    uint64_t fingerprint;      /* cheap identity check: changes if the address now holds another code object */
    int32_t first_traceable;   /* byte offset of the first traceable instruction (3.11+), else 0 */
} fw_py_code;

/* With the GIL held, once per process (and again after fork): records the interpreter's
 * address and the type objects used for validation. False if this build cannot sample. */
bool fw_py_init(void);
/* Why the last fw_py_init failed, one line without a trailing period (never NULL). */
const char *fw_py_init_error(void);
/* Checks a copy of an interpreter's _Py_DebugOffsets (3.13+; `len` bytes at `table`) against
 * this build: the "xdebugpy" cookie, the version (PY_VERSION_HEX of the headers this agent was
 * compiled with), a GIL build (free_threaded == 0), and offsets this agent can use. 0 if the
 * table can be used; -1 with a one-line reason in err otherwise (always -1 before 3.13). */
int fw_py_check_debug_offsets(const void *table, size_t len, char *err, size_t errlen);
/* The running interpreter's _Py_DebugOffsets and their size (3.13+), or NULL. */
const void *fw_py_debug_offsets(size_t *len);
uintptr_t fw_py_thread_head(void);
bool fw_py_read_thread(uintptr_t tstate, fw_py_thread *out);
/* The calling thread's own thread state if that thread holds the GIL right now, else 0 (no
 * GIL, no thread state, a sub-interpreter's thread, or fw_py_init not done). Any thread, no
 * system call. A non-zero answer allows direct-mode reads of that thread's own state, frames
 * and context (fw_memread.h) until the thread releases the GIL. */
uintptr_t fw_py_own_thread_if_gil_held(void);
bool fw_py_read_frame(uintptr_t frame, fw_py_frame *out);
bool fw_py_read_code(uintptr_t code, fw_py_code *out);
void fw_py_code_clear(fw_py_code *code);
/* Re-reads only what fingerprint covers; true if `code` still holds the same code object. */
bool fw_py_code_still_valid(uintptr_t code, uint64_t fingerprint);
/* The class name of `obj` (FW_PY_ARG_SELF) or of the class `obj` itself (FW_PY_ARG_CLS). */
bool fw_py_read_class_name(uintptr_t obj, int first_arg, char *buf, size_t buflen);
/* Line executing at byte offset `instr_offset`, decoded from this version's line table;
 * -1 where CPython's co_lines() says None. */
int fw_py_addr2line(const uint8_t *table, size_t len, int32_t firstlineno, int32_t instr_offset);
/* Like fw_py_read_frame, but leaves to the caller the two checks that need the code object
 * (which a caller with a code cache usually has): out->code is not verified to be a code
 * object (fw_py_read_code and fw_py_code_still_valid verify the type), and when
 * *check_incomplete is set the frame is incomplete, and must be skipped, if
 * out->instr_offset < fw_py_code.first_traceable. Saves one or two reads per frame. */
bool fw_py_read_frame_fast(uintptr_t frame, fw_py_frame *out, bool *check_incomplete);
/* A read-ahead window for frame chains. Every fw_memread is a system call (about a
 * microsecond), and on 3.11+ a thread's frames sit next to each other in its data stack, the
 * caller below the callee; so a frame read copies the page(s) below the frame too, and the
 * next frames are usually served from the copy. The copy is one snapshot, which is no less
 * consistent than separate reads. Reset it before each walk. */
#define FW_PY_WINDOW_SIZE 8192
#define FW_PY_WINDOW_HOLES 16
typedef struct {
    uintptr_t base;
    size_t len;
    /* Pages found unmapped right below a frame (the start of a data stack chunk is the start
     * of its mapping), so that the next walks do not try them again: a failed read costs as
     * much as a good one. A small direct-mapped cache; kept across resets. */
    uintptr_t holes[FW_PY_WINDOW_HOLES];
    /* The copy was taken with the frame pointer (fw_py_read_thread_win): frames elsewhere (a
     * C-stack entry frame, a generator's frame) are then read on their own instead of
     * replacing it, so the callers below them still come from that one moment. */
    bool pinned;
    _Alignas(16) unsigned char data[FW_PY_WINDOW_SIZE + 1024];
} fw_py_window;
/* Forgets the copy (not the holes). Call before each walk. */
void fw_py_window_reset(fw_py_window *w);
/* fw_py_read_thread, and on 3.11+ a copy of the top of the thread's data stack into `w`, taken
 * in the same system call that reads the frame pointer and then checks that it did not move.
 * A thread that makes many short calls reuses a popped frame's memory within microseconds, so
 * frames copied in a later call are often no longer the frames the pointer named. When the
 * window holds the top frame, a walk started without resetting it reads the top frames as they
 * were at that moment. On 3.9/3.10 (heap frames) `w` is only reset. */
bool fw_py_read_thread_win(uintptr_t tstate, fw_py_thread *out, fw_py_window *w);
/* Where a thread's data stack was the last time it was read (3.11+; unused before). Zero it for
 * a thread not read yet; fw_py_read_thread_hinted keeps it up to date. */
typedef struct {
    uintptr_t chunk;           /* tstate->datastack_chunk; 0: nothing known */
    uintptr_t top;             /* tstate->datastack_top */
    uintptr_t limit;           /* tstate->datastack_limit */
    uintptr_t holder;          /* 3.11/3.12: tstate->cframe, where the frame pointer lives */
    bool one_call;             /* the last read took one system call (what the hint is for) */
} fw_py_stack_hint;
/* fw_py_read_thread_win for a thread read before. A busy thread's data stack top moves little
 * from one tick to the next, so the thread state, the frame pointer and a window placed where
 * the top was last time are copied in one system call instead of two; if the thread has moved
 * on (another chunk, another cframe, a top frame outside that window), the window is copied
 * again as fw_py_read_thread_win does. Same results; `hint` may be NULL. */
bool fw_py_read_thread_hinted(uintptr_t tstate, fw_py_thread *out, fw_py_window *w,
                              fw_py_stack_hint *hint);
/* fw_py_read_frame_fast through a window (which may be NULL: plain reads). */
bool fw_py_read_frame_win(fw_py_window *w, uintptr_t frame, fw_py_frame *out,
                          bool *check_incomplete);
/* For batched validation: fw_py_code_still_valid(code, fp) is equivalent to reading
 * fw_py_code_fingerprint_span() bytes at `code` into buf and comparing
 * fw_py_code_fingerprint_of(buf) with fp. buf must be suitably aligned for a pointer. */
size_t fw_py_code_fingerprint_span(void);
uint64_t fw_py_code_fingerprint_of(const void *buf);
/* Address of obj's ob_type field, so that callers can batch the read of several types. */
uintptr_t fw_py_type_field(uintptr_t obj);
/* Decodes a str object into UTF-8 (NUL-terminated, at most min(buflen - 1, FW_PY_NAME_MAX)
 * bytes, cut on a character boundary). False if it is not a readable str. */
bool fw_py_read_str(uintptr_t str, char *buf, size_t buflen);
/* The thread state that holds the GIL right now, or 0 if nobody does (or it cannot be read).
 * Used to tell a thread that runs Python from one that waits for the GIL to come back. */
uintptr_t fw_py_gil_holder(void);
/* The GIL as the sampler sees it at one moment: who holds it and how many times it has been
 * taken since the interpreter started. A holder and a count equal to those of an earlier look
 * mean the GIL did not change hands (nor was released and taken again) in between. */
typedef struct {
    uintptr_t holder;          /* fw_py_gil_holder(); 0 if nobody holds it */
    uint64_t switches;         /* the GIL's switch_number: incremented by every take */
} fw_py_gil_state;
/* Fills *out; false if it cannot be read (out->holder is then 0). Plain loads where the GIL is
 * static memory (the main interpreter's, on every version), no system call. */
bool fw_py_read_gil(fw_py_gil_state *out);
/* True if a thread waiting for the GIL has asked `holder` (the holder that fw_py_read_gil
 * found) to drop it, and the request is still pending: a waiter has timed out once (after
 * the interpreter's switch interval, 5 ms by default) while the GIL stayed with `holder`. A
 * holder inside a long C call never sees the request, so it stays set until the call ends.
 * The request lives in the interpreter (3.9-3.12) or in the holder's thread state (3.13+):
 * a plain load, or one memory read where that is not static memory. */
bool fw_py_gil_drop_requested(uintptr_t holder);
/* With the GIL held, once: records the type objects of contexts and HAMT nodes. */
bool fw_py_context_init(void);
/* The value of context variable `key` (whose hash() is key_hash) in the contextvars.Context at
 * `context` (fw_py_thread.context), as CPython's HAMT lookup would find it, without the GIL.
 * 1: found (*value set); 0: not set; -1: unreadable or not a context. */
int fw_py_read_context_value(uintptr_t context, uintptr_t key, int64_t key_hash, uintptr_t *value);
/* Whether this version's thread state records the thread's Linux tid (3.11+). Before that the
 * sampler finds it in struct pthread instead (fw_tid_offset_confirm, fw_threads.h). */
bool fw_py_has_native_tid(void);
/* Any thread, GIL or not: the interpreter is initialised and not finalizing, so a
 * PyGILState_Ensure would return (a thread that asks for the GIL during finalization is never
 * given it back). */
bool fw_py_usable(void);
/* Size in bytes of one instruction unit (2 on 3.6+), for tests that step through co_code. */
int fw_py_code_unit(void);

#endif
