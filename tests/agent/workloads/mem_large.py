"""Large buffers from each allocator domain, kept alive for HOLD seconds:
  - grow_list():      a list grown to 5,000,000 items (its item array: PyMem_Realloc, MEM domain);
  - grow_bytearray(): a bytearray grown 4 KiB at a time to 64 MiB (PyObject_Realloc, OBJ domain,
                      served by the raw allocator underneath);
  - zlib_state():     50 zlib.compressobj() (deflate's ~256 KiB of state each: PyMem_RawMalloc,
                      RAW domain).
Usage: mem_large.py TRUTH.json [HOLD]
"""
import sys
import time
import zlib

from wlcommon import write_truth

KEEP = {}


def grow_list():
    lst = []
    for _ in range(5000000):
        lst.append(None)
    return lst


def grow_bytearray():
    ba = bytearray()
    chunk = b"x" * 4096
    while len(ba) < 64 * 1024 * 1024:
        ba += chunk
    return ba


def zlib_state():
    return [zlib.compressobj(9) for _ in range(50)]


def main():
    hold = float(sys.argv[2]) if len(sys.argv) > 2 else 2.5
    KEEP["list"] = grow_list()
    KEEP["bytearray"] = grow_bytearray()
    KEEP["zlib"] = zlib_state()
    time.sleep(hold)
    write_truth(sys.argv[1], {"file": __file__, "list_bytes": 5000000 * 8,
                              "bytearray_bytes": 64 * 1024 * 1024, "zlib_objects": 50})


main()
