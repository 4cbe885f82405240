"""Small reallocs (issue 15): an OBJ/MEM realloc to at most 448 bytes of a block that is not a
sample is counted before the call. `with_realloc` asks PyMem_Malloc and PyObject_Malloc (through
ctypes, GIL held) for 0-byte blocks, reallocates them to BLOCK bytes and frees them;
`with_realloc_empty` makes the same calls with a new size of 0, so the difference of the two is
the new blocks' bytes, whatever ctypes allocates per call.
Usage: mem_realloc.py TRUTH.json [ITERATIONS]
"""
import ctypes
import sys

from wlcommon import write_truth

BLOCK = 448          # the largest request counted before the call (FW_HOOK_SMALL_MAX)
api = ctypes.pythonapi
for name in ("PyMem_Malloc", "PyObject_Malloc"):
    getattr(api, name).restype = ctypes.c_void_p
    getattr(api, name).argtypes = [ctypes.c_size_t]
for name in ("PyMem_Realloc", "PyObject_Realloc"):
    getattr(api, name).restype = ctypes.c_void_p
    getattr(api, name).argtypes = [ctypes.c_void_p, ctypes.c_size_t]
for name in ("PyMem_Free", "PyObject_Free"):
    getattr(api, name).restype = None
    getattr(api, name).argtypes = [ctypes.c_void_p]


def realloc_loop(n, size):
    mem_malloc, obj_malloc = api.PyMem_Malloc, api.PyObject_Malloc
    mem_realloc, obj_realloc = api.PyMem_Realloc, api.PyObject_Realloc
    mem_free, obj_free = api.PyMem_Free, api.PyObject_Free
    for _ in range(n):
        mem_free(mem_realloc(mem_malloc(0), size))
        obj_free(obj_realloc(obj_malloc(0), size))


def with_realloc(n):
    realloc_loop(n, BLOCK)


def with_realloc_empty(n):
    realloc_loop(n, 0)


def main():
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200000
    for _ in range(10):   # interleaved, so that no phase of the run favours one of them
        with_realloc(n // 10)
        with_realloc_empty(n // 10)
    write_truth(sys.argv[1], {"file": __file__, "iterations": n, "block": BLOCK,
                              "blocks_per_iteration": 2})


main()
