"""Two functions allocate in a known 3:1 ratio: `heavy` runs `unit()` three times for each time
`light` runs it once. A unit allocates BUFFERS 64 KiB bytearrays (freed at once) and SMALL
100-byte bytes objects (each replacing an older one in a preallocated 250-slot list, so that
no list is ever resized and the loop counters stay small cached ints). Everything allocated inside unit() scales with the number of calls, so the
true ratio of heavy's to light's allocated bytes (and objects) is exactly 3, whatever the
interpreter's per-object overheads are.
Usage: mem_split.py TRUTH.json [ROUNDS]
"""
import sys

from wlcommon import write_truth

BUFFER = 65536
BUFFERS = 16
SMALL = 100
SMALLS = 8000
SLOTS = 250


def unit():
    for _ in range(BUFFERS):
        b = bytearray(BUFFER)
        del b
    keep = [None] * SLOTS
    for _ in range(SMALLS // SLOTS):
        for k in range(SLOTS):
            keep[k] = bytes(SMALL)


def heavy():
    unit()
    unit()
    unit()


def light():
    unit()


def main():
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 150
    for _ in range(rounds):   # interleaved, so that no phase of the run favours one function
        heavy()
        light()
    write_truth(sys.argv[1], {"file": __file__, "rounds": rounds, "ratio": 3.0,
                              "buffer_bytes": BUFFER, "buffers_per_unit": BUFFERS,
                              "small_bytes": SMALL, "smalls_per_unit": SMALLS,
                              # what one unit asks the allocators for (objects and buffers)
                              "unit_bytes": BUFFERS * sys.getsizeof(bytearray(BUFFER))
                              + SMALLS * sys.getsizeof(bytes(SMALL)) + sys.getsizeof([None] * SLOTS)})


main()
