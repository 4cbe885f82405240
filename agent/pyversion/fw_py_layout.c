/*
 * fw_py_layout: the interpreter's own description of its layout (_Py_DebugOffsets, 3.13+),
 * checked against this build and turned into the offsets the readers of fw_pyversion.c use.
 *
 * Design. The table's cookie and version are read first, at fixed places (the only fields whose
 * position does not depend on the minor version); only a table of the very CPython the agent was
 * compiled for is read further, with the headers' own struct. A free-threaded interpreter, or
 * offsets that fall outside the structs they belong to, are refused with one line.
 * fw_py_check_debug_offsets works on a copy, so that tests can feed it tables no interpreter here
 * would publish (a free-threaded one, another patch release).
 */
#include "pyversion/fw_py_internal.h"

#if PY_VERSION_HEX >= 0x030D0000
static bool fw_py_field_ok(uint64_t off, size_t width, uint64_t size) {
    return size >= width && off <= size - width;
}

bool fw_py_layout_from(const _Py_DebugOffsets *d, fw_py_layout *l, char *err, size_t errlen) {
    const char *bad = NULL;
    if (d->thread_state.size < sizeof(PyObject *) ||
        d->thread_state.size > sizeof(PyThreadState) + 1024) {
        bad = "thread state size";
    } else if (d->interpreter_frame.localsplus > FW_PY_FRAME_MAX ||
               d->interpreter_frame.localsplus < 4 * sizeof(void *)) {
        bad = "frame size";
    } else if (d->code_object.size > FW_PY_CODE_MAX || d->code_object.size < sizeof(PyObject)) {
        bad = "code object size";
    } else if (!fw_py_field_ok(d->thread_state.next, 8, d->thread_state.size) ||
               !fw_py_field_ok(d->thread_state.interp, 8, d->thread_state.size) ||
               !fw_py_field_ok(d->thread_state.current_frame, 8, d->thread_state.size) ||
               !fw_py_field_ok(d->thread_state.thread_id, 8, d->thread_state.size) ||
               !fw_py_field_ok(d->thread_state.native_thread_id, 8, d->thread_state.size) ||
               !fw_py_field_ok(d->thread_state.datastack_chunk, 8, d->thread_state.size) ||
               !fw_py_field_ok(offsetof(PyThreadState, eval_breaker), 8, d->thread_state.size) ||
               !fw_py_field_ok(offsetof(PyThreadState, datastack_limit), 8, d->thread_state.size) ||
               !fw_py_field_ok(offsetof(PyThreadState, context), 8, d->thread_state.size)) {
        bad = "thread state field";
    } else if (!fw_py_field_ok(d->interpreter_frame.previous, 8, d->interpreter_frame.localsplus) ||
               !fw_py_field_ok(d->interpreter_frame.executable, 8, d->interpreter_frame.localsplus) ||
               !fw_py_field_ok(d->interpreter_frame.instr_ptr, 8, d->interpreter_frame.localsplus) ||
               !fw_py_field_ok(d->interpreter_frame.owner, 1, d->interpreter_frame.localsplus)) {
        bad = "frame field";
    } else if (!fw_py_field_ok(d->code_object.filename, 8, d->code_object.size) ||
               !fw_py_field_ok(d->code_object.name, 8, d->code_object.size) ||
               !fw_py_field_ok(d->code_object.qualname, 8, d->code_object.size) ||
               !fw_py_field_ok(d->code_object.linetable, 8, d->code_object.size) ||
               !fw_py_field_ok(d->code_object.firstlineno, 4, d->code_object.size) ||
               !fw_py_field_ok(offsetof(PyCodeObject, _co_firsttraceable), 4, d->code_object.size) ||
               d->code_object.co_code_adaptive > d->code_object.size) {
        bad = "code object field";
    } else if (!fw_py_field_ok(d->interpreter_state.threads_head, 8, d->interpreter_state.size) ||
               !fw_py_field_ok(d->interpreter_state.gil_runtime_state_locked, 4,
                               d->interpreter_state.size) ||
               !fw_py_field_ok(d->interpreter_state.gil_runtime_state_holder, 8,
                               d->interpreter_state.size) ||
               !fw_py_field_ok(d->interpreter_state.gil_runtime_state +
                                   offsetof(struct _gil_runtime_state, switch_number),
                               sizeof(unsigned long), d->interpreter_state.size)) {
        bad = "interpreter field";
    }
    if (bad != NULL) {
        snprintf(err, errlen, "the interpreter's _Py_DebugOffsets describe a layout this agent "
                 "cannot read (%s)", bad);
        return false;
    }
    l->threads_head = (size_t)d->interpreter_state.threads_head;
    l->gil_locked = (size_t)d->interpreter_state.gil_runtime_state_locked;
    l->gil_holder = (size_t)d->interpreter_state.gil_runtime_state_holder;
    /* The table places the GIL's struct but has no entry for its switch count: a header fact. */
    l->gil_switches = (size_t)d->interpreter_state.gil_runtime_state +
                      offsetof(struct _gil_runtime_state, switch_number);
    l->ts_size = (size_t)d->thread_state.size;
    l->ts_next = (size_t)d->thread_state.next;
    l->ts_interp = (size_t)d->thread_state.interp;
    l->ts_frame = (size_t)d->thread_state.current_frame;
    l->ts_thread_id = (size_t)d->thread_state.thread_id;
    l->ts_native_tid = (size_t)d->thread_state.native_thread_id;
    l->ts_chunk = (size_t)d->thread_state.datastack_chunk;
    l->fr_fixed = (size_t)d->interpreter_frame.localsplus;
    l->fr_previous = (size_t)d->interpreter_frame.previous;
    l->fr_executable = (size_t)d->interpreter_frame.executable;
    l->fr_instr_ptr = (size_t)d->interpreter_frame.instr_ptr;
    l->fr_owner = (size_t)d->interpreter_frame.owner;
    l->co_size = (size_t)d->code_object.size;
    l->co_filename = (size_t)d->code_object.filename;
    l->co_name = (size_t)d->code_object.name;
    l->co_qualname = (size_t)d->code_object.qualname;
    l->co_linetable = (size_t)d->code_object.linetable;
    l->co_firstlineno = (size_t)d->code_object.firstlineno;
    l->co_code = (size_t)d->code_object.co_code_adaptive;
    l->co_fp_span = FW_PY_MAX2(FW_PY_MAX2(FW_PY_MAX2(l->co_filename, l->co_name),
                                          FW_PY_MAX2(l->co_qualname, l->co_linetable)) + 8,
                               FW_PY_MAX2(l->co_firstlineno + 4, sizeof(PyObject)));
    return true;
}
#endif

static void fw_py_version_str(uint64_t hex, char *buf, size_t len) {
    snprintf(buf, len, "%u.%u.%u", (unsigned)(hex >> 24) & 0xffu, (unsigned)(hex >> 16) & 0xffu,
             (unsigned)(hex >> 8) & 0xffu);
}

int fw_py_check_debug_offsets(const void *table, size_t len, char *err, size_t errlen) {
    char built[32], found[32];
    fw_py_version_str(PY_VERSION_HEX, built, sizeof built);
    if (table == NULL || len < 16 || memcmp(table, "xdebugpy", 8) != 0) {
        snprintf(err, errlen, "the interpreter publishes no _Py_DebugOffsets (no \"xdebugpy\" "
                 "cookie): it is not the CPython %s this agent was built for", built);
        return -1;
    }
    uint64_t version;
    memcpy(&version, (const unsigned char *)table + 8, sizeof version);
    if (version != (uint64_t)PY_VERSION_HEX) {
        fw_py_version_str(version, found, sizeof found);
        snprintf(err, errlen, "this agent was built for CPython %s but runs under CPython %s "
                 "(from its _Py_DebugOffsets): rebuild it for this interpreter", built, found);
        return -1;
    }
#if PY_VERSION_HEX >= 0x030D0000
    _Py_DebugOffsets d;
    if (len < sizeof d) {
        snprintf(err, errlen, "the interpreter's _Py_DebugOffsets are truncated");
        return -1;
    }
    memcpy(&d, table, sizeof d);
    if (d.free_threaded != 0) {
        snprintf(err, errlen, "free-threaded CPython %u.%u is not supported (3.9-3.15 with the GIL "
                 "only)", (unsigned)(version >> 24) & 0xffu, (unsigned)(version >> 16) & 0xffu);
        return -1;
    }
    fw_py_layout l;
    return fw_py_layout_from(&d, &l, err, errlen) ? 0 : -1;
#else
    snprintf(err, errlen, "CPython %s publishes no _Py_DebugOffsets", built);
    return -1;
#endif
}

const void *fw_py_debug_offsets(size_t *len) {
#if PY_VERSION_HEX >= 0x030D0000
    *len = sizeof _PyRuntime.debug_offsets;
    return &_PyRuntime.debug_offsets;
#else
    *len = 0;
    return NULL;
#endif
}
