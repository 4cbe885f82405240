"""Small reallocs are counted (issue 15): the hooks count an OBJ/MEM realloc to at most 448
bytes before the call, like a small malloc, with only the nesting counter around it.
tests/agent/workloads/mem_realloc.py reallocates 0-byte blocks to 448 bytes with
PyMem_Realloc/PyObject_Realloc in with_realloc and to 0 bytes (the same calls otherwise) in
with_realloc_empty; the difference of their alloc_space must be the new blocks' bytes (within 4
standard errors). If small reallocs were not counted, it would be about 0.
"""
import math
import unittest

import fwaccuracy as fa

KB = 1024
THRESHOLD_KB = 64


class SmallReallocTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.wl = fa.run_workload(cls, "mem_realloc", args=[200000],
                                 flags=["--memory", "--memory-threshold", str(THRESHOLD_KB)],
                                 timeout=180)

    def setUp(self):
        fa.assert_ran(self, self.wl)

    def test_small_realloc_counted(self):
        t = self.wl.truth
        samples = fa.convert(self.wl.files(), "alloc_space")["samples"]
        got = fa.leafmost_attribution(samples, ["with_realloc", "with_realloc_empty"], t["file"])
        want = t["block"] * t["iterations"] * t["blocks_per_iteration"]
        # A block of s bytes is sampled with p = 1 - exp(-s/T) and then weighs s/p; everything
        # else charged to these functions (ctypes' own allocations) adds about T bytes of
        # variance per byte.
        sd = math.sqrt(THRESHOLD_KB * KB * (got["with_realloc"] + got["with_realloc_empty"]))
        self.assertLess(4 * sd / want, 0.2, "run too short for the bound: SE %.3f" % (sd / want))
        diff = got["with_realloc"] - got["with_realloc_empty"]
        self.assertLess(abs(diff - want), max(4 * sd, 0.1 * want),
                        "with_realloc - with_realloc_empty = %d, blocks %d, SE %d: %r"
                        % (diff, want, sd, got))


if __name__ == "__main__":
    unittest.main()
