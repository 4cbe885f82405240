/*
 * fw_debug: test hooks of flamewatch._agent, used by tests/agent and the benchmarks.
 *
 *   _walk_threads()      -> {thread ident: [(qualname, filename, line|None), ...] innermost first}
 *                           for every thread state, read only through fw_pyversion/fw_stack.
 *   _addr2line(code, off)-> the line our decoder gives for byte offset `off` of `code` (or None).
 *   _walk_cost(n)        -> average ns per frame of walking the calling thread's stack n times.
 *
 * All three run with the GIL held. module.c calls fw_debug_add_functions from PyInit__agent.
 */
#ifndef FW_DEBUG_H
#define FW_DEBUG_H

#include <Python.h>

/* Adds the hooks to `module` with PyModule_AddFunctions. 0 on success, -1 with an exception. */
int fw_debug_add_functions(PyObject *module);

#endif
