/*
 * fw_py_gil: the main interpreter's GIL as the sampler sees it, without taking it.
 *
 * Design. The sampler reads three facts per tick: whether the GIL is locked, which thread state
 * last took it (last_holder), and how many times it changed hands (switch_number, incremented by
 * take_gil whenever a thread other than the last holder takes it). The three live together in
 * struct _gil_runtime_state: in _PyRuntime.ceval (3.9-3.11), in the interpreter (3.12+, where
 * 3.13+ publish the struct's place and the two words in _Py_DebugOffsets; the switch count has
 * no entry there, so its offset inside the struct comes from the headers).
 *
 * A thread waiting in take_gil sleeps on the GIL's condition for the switch interval (5 ms by
 * default); when that wait times out with the same holder and the same switch count, it sets a
 * drop request: in the interpreter's ceval state (gil_drop_request, 3.9-3.12) or as
 * _PY_GIL_DROP_REQUEST_BIT of the holder's eval_breaker (3.13+). The holder's eval loop sees it
 * at the next instruction boundary and drops the GIL, which resets it; a holder inside one long
 * C call never looks, so the request stays pending for the rest of the call. That is the signal
 * fw_py_gil_drop_requested gives the sampler.
 *
 * Cost. All of this is static memory of libpython for the main interpreter on every version
 * except the interpreter struct of 3.9/3.10 (heap) and the holder's thread state on 3.13+
 * (heap, except the main thread's): those are copied with fw_memread (one system call), and only
 * when the sampler asks, which it does only when the GIL stayed with one holder for a tick.
 * Plain words are read with relaxed atomic loads: CPython writes them under its GIL mutex or
 * atomically, and a torn or stale answer only costs one tick's accuracy.
 */
#include "pyversion/fw_py_internal.h"

#if PY_VERSION_HEX >= 0x030D0000
#include "internal/pycore_ceval.h"   /* _PY_GIL_DROP_REQUEST_BIT */
#endif

/* True if [addr, addr + len) lies in _PyRuntime: static storage, mapped while we run. */
static bool fw_py_in_runtime(uintptr_t addr, size_t len) {
    return addr >= (uintptr_t)&_PyRuntime && addr + len <= (uintptr_t)&_PyRuntime + sizeof _PyRuntime;
}

/* A word of `len` bytes (4 or 8) at `addr`: a plain load from static memory, else a copy. */
static bool fw_py_load_word(uintptr_t addr, size_t len, uint64_t *out) {
    if (fw_py_in_runtime(addr, len)) {
        *out = len == 4 ? (uint64_t)__atomic_load_n((const uint32_t *)addr, __ATOMIC_RELAXED)
                        : __atomic_load_n((const uint64_t *)addr, __ATOMIC_RELAXED);
        return true;
    }
    if (len == 4) {
        uint32_t v;
        if (!fw_memread(&v, addr, sizeof v)) {
            return false;
        }
        *out = v;
        return true;
    }
    return fw_memread(out, addr, sizeof *out);
}

uintptr_t fw_py_gil_holder(void) {
#if PY_VERSION_HEX >= 0x030D0000
    /* At the offsets the interpreter publishes (fw_py_gil is the lower of the two words). */
    if (fw_py_gil == 0) {
        return 0;
    }
    const uintptr_t base = fw_py_gil - FW_PY_MIN2(fw_lay.gil_locked, fw_lay.gil_holder);
    int locked;
    uintptr_t holder;
    if (fw_py_gil_static) {
        locked = _Py_atomic_load_int_relaxed((int *)(base + fw_lay.gil_locked));
        holder = (uintptr_t)_Py_atomic_load_ptr_relaxed((void **)(base + fw_lay.gil_holder));
    } else if (!fw_memread(&locked, base + fw_lay.gil_locked, sizeof locked) ||
               !fw_py_read_ptr(base + fw_lay.gil_holder, &holder)) {
        return 0;
    }
    return locked == 1 ? holder : 0;
#else
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
    /* CPython's own macro: the fields are C11 atomics or plain words, per its build. */
    locked = _Py_atomic_load_relaxed(&gil->locked);
    holder = _Py_atomic_load_relaxed(&gil->last_holder);
    /* last_holder keeps naming the previous holder after a release; only a locked GIL has an
     * owner. The two fields are read together but not atomically: a handover in between gives
     * a stale answer for one tick, which costs accuracy of one sample, never safety. */
    return locked == 1 ? holder : 0;
#endif
}

bool fw_py_read_gil(fw_py_gil_state *out) {
    out->holder = 0;
    out->switches = 0;
    if (fw_py_gil == 0) {
        return false;
    }
#if PY_VERSION_HEX >= 0x030D0000
    const uintptr_t addr = fw_py_interp + fw_lay.gil_switches;
#else
    const uintptr_t addr = fw_py_gil + offsetof(struct _gil_runtime_state, switch_number);
#endif
    /* The count first: a holder read after it that is still the holder of the next tick, with
     * the same count then, held the GIL all along in between. */
    uint64_t switches;
    if (!fw_py_load_word(addr, sizeof(unsigned long), &switches)) {
        return false;
    }
    out->switches = switches;
    out->holder = fw_py_gil_holder();
    return true;
}

bool fw_py_gil_drop_requested(uintptr_t holder) {
    if (holder == 0 || fw_py_interp == 0) {
        return false;
    }
    uint64_t v = 0;
#if PY_VERSION_HEX >= 0x030D0000
    if (!fw_py_load_word(holder + offsetof(PyThreadState, eval_breaker), sizeof(uintptr_t), &v)) {
        return false;
    }
    return (v & _PY_GIL_DROP_REQUEST_BIT) != 0;
#else
    /* One request per interpreter, set for whichever thread holds its GIL. */
    const uintptr_t addr = fw_py_interp + offsetof(PyInterpreterState, ceval.gil_drop_request);
    if (!fw_py_load_word(addr, sizeof(int), &v)) {
        return false;
    }
    return (uint32_t)v != 0;
#endif
}
