/*
 * fw_py_internal: what the translation units of the per-version layer share (agent/fw_pyversion.c
 * and the files of agent/pyversion/). Only they include it: it defines Py_BUILD_CORE and pulls in CPython's
 * internal headers, and it declares the layout the readers use. Nothing outside the layer sees a
 * CPython structure; agent/fw_pyversion.h is its one interface.
 */
#ifndef FW_PY_INTERNAL_H
#define FW_PY_INTERNAL_H

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
#include <stdio.h>
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

/* Recorded by fw_py_init with the GIL held (fw_pyversion.c). */
extern uintptr_t fw_py_interp;
extern uintptr_t fw_py_code_type;
extern uintptr_t fw_py_str_type;
extern uintptr_t fw_py_bytes_type;
extern uintptr_t fw_py_tuple_type;
/* The main interpreter's GIL (fw_pyversion.c): its struct _gil_runtime_state before 3.13, the
 * lower of its two published words on 3.13+; and whether it lies in static _PyRuntime. */
extern uintptr_t fw_py_gil;
extern bool fw_py_gil_static;

static inline bool fw_py_read_ptr(uintptr_t addr, uintptr_t *out) {
    return fw_memread(out, addr, sizeof *out);
}

static inline uintptr_t fw_py_type_of(uintptr_t obj) {
    uintptr_t type = 0;
    if (!fw_py_read_ptr(obj + offsetof(PyObject, ob_type), &type)) {
        return 0;
    }
    return type;
}

/* Reads a NUL-terminated C string of unknown length (fw_py_objects.c). */
bool fw_py_read_cstr(uintptr_t addr, char *buf, size_t buflen);

/* 3.13+ publishes _Py_DebugOffsets as the first member of _PyRuntime: the cookie "xdebugpy",
 * the PY_VERSION_HEX it was built from, whether it is free-threaded, and the offsets of the
 * fields an out-of-process reader needs. The readers take those offsets from the running
 * interpreter rather than from the headers they were compiled with, so that a layout that moves
 * between patch releases (3.14.5 moved one) is followed. The table carries offsets only: enum
 * values, tag bits and the line-table format stay facts of the headers, and so do fields it has
 * no entry for (the data stack's top and limit, the context, _co_firsttraceable). The table's own
 * layout is stable only within a minor version, so its cookie and version are checked before
 * any other field is read, and the agent refuses to start when they do not match its build. */
#if PY_VERSION_HEX >= 0x030D0000
typedef struct {
    size_t threads_head, gil_locked, gil_holder, gil_switches;    /* in PyInterpreterState */
    size_t ts_size, ts_next, ts_interp, ts_frame, ts_thread_id, ts_native_tid, ts_chunk;
    size_t fr_fixed, fr_previous, fr_executable, fr_instr_ptr, fr_owner;
    size_t co_size, co_filename, co_name, co_qualname, co_linetable, co_firstlineno, co_code;
    size_t co_fp_span;   /* bytes of a code object the fingerprint covers */
} fw_py_layout;
extern fw_py_layout fw_lay;   /* filled by fw_py_init */
#define FW_PY_FRAME_FIXED fw_lay.fr_fixed
#define FW_PY_CODE_MAX (sizeof(PyCodeObject) + 256)
#define FW_PY_FRAME_MAX (sizeof(_PyInterpreterFrame) + 256)
#define FW_PY_MAX2(a, b) ((a) > (b) ? (a) : (b))

/* Fills `l` from the table `d` if every offset the readers use lies inside the struct it belongs
 * to (fw_py_layout.c); else a one-line reason in err. */
bool fw_py_layout_from(const _Py_DebugOffsets *d, fw_py_layout *l, char *err, size_t errlen);

/* A pointer-sized field at byte offset `off` of a copy (offsets from _Py_DebugOffsets). */
static inline uintptr_t fw_py_ld_ptr(const void *buf, size_t off) {
    uintptr_t v;
    memcpy(&v, (const unsigned char *)buf + off, sizeof v);
    return v;
}
#define FW_PY_MIN2(a, b) ((a) < (b) ? (a) : (b))
/* The GIL's two words, from the lower one: the span read when they are not static memory. */
#define FW_PY_GIL_SPAN                                                                         \
    (FW_PY_MAX2(fw_lay.gil_locked + sizeof(int), fw_lay.gil_holder + sizeof(void *)) -          \
     FW_PY_MIN2(fw_lay.gil_locked, fw_lay.gil_holder))
#else
#define FW_PY_FRAME_FIXED offsetof(_PyInterpreterFrame, localsplus)
#define FW_PY_GIL_SPAN sizeof(struct _gil_runtime_state)
#endif

#endif
