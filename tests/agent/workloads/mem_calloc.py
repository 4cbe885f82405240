"""Small callocs (issue 15): an OBJ/MEM calloc of at most 448 bytes is counted on the hooks'
fast path, before a tail call. `with_calloc` asks PyMem_Calloc and PyObject_Calloc (through
ctypes, GIL held) for BLOCK-byte blocks and frees them; `with_calloc_empty` makes the same calls
for 0 bytes, so the difference of the two is the blocks' bytes, whatever ctypes allocates per
call. `with_malloc` and `with_malloc_empty` do the same with PyMem_Malloc and PyObject_Malloc.
Usage: mem_calloc.py TRUTH.json [ITERATIONS]
"""
import ctypes
import sys

from wlcommon import write_truth

BLOCK = 448          # the largest request of the fast path (FW_HOOK_SMALL_MAX)
api = ctypes.pythonapi
for name in ("PyMem_Calloc", "PyObject_Calloc"):
    getattr(api, name).restype = ctypes.c_void_p
    getattr(api, name).argtypes = [ctypes.c_size_t, ctypes.c_size_t]
for name in ("PyMem_Malloc", "PyObject_Malloc"):
    getattr(api, name).restype = ctypes.c_void_p
    getattr(api, name).argtypes = [ctypes.c_size_t]
for name in ("PyMem_Free", "PyObject_Free"):
    getattr(api, name).restype = None
    getattr(api, name).argtypes = [ctypes.c_void_p]


def calloc_loop(n, size):
    mem_calloc, obj_calloc = api.PyMem_Calloc, api.PyObject_Calloc
    mem_free, obj_free = api.PyMem_Free, api.PyObject_Free
    for _ in range(n):
        mem_free(mem_calloc(1, size))
        obj_free(obj_calloc(size // 8, 8))


def malloc_loop(n, size):
    mem_malloc, obj_malloc = api.PyMem_Malloc, api.PyObject_Malloc
    mem_free, obj_free = api.PyMem_Free, api.PyObject_Free
    for _ in range(n):
        mem_free(mem_malloc(size))
        obj_free(obj_malloc(size))


def with_calloc(n):
    calloc_loop(n, BLOCK)


def with_calloc_empty(n):
    calloc_loop(n, 0)


def with_malloc(n):
    malloc_loop(n, BLOCK)


def with_malloc_empty(n):
    malloc_loop(n, 0)


def main():
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200000
    for _ in range(10):   # interleaved, so that no phase of the run favours one of them
        with_calloc(n // 10)
        with_calloc_empty(n // 10)
        with_malloc(n // 10)
        with_malloc_empty(n // 10)
    write_truth(sys.argv[1], {"file": __file__, "iterations": n, "block": BLOCK,
                              "blocks_per_iteration": 2})


main()
