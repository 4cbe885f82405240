"""Small callocs are counted (issue 15): the hooks count an OBJ/MEM calloc of at most 448 bytes
before a tail call, like a small malloc. tests/agent/workloads/mem_calloc.py calls
PyMem_Calloc/PyObject_Calloc for 448-byte blocks in with_calloc and for 0 bytes (the same calls
otherwise) in with_calloc_empty; the difference of their alloc_space must be the blocks' bytes
(within 4 standard errors). If small callocs were not counted, it would be about 0. The same
with PyMem_Malloc/PyObject_Malloc is the control.
"""
import math
import unittest

import fwaccuracy as fa

KB = 1024
THRESHOLD_KB = 64


class SmallCallocTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.wl = fa.run_workload(cls, "mem_calloc", args=[200000],
                                 flags=["--memory", "--memory-threshold", str(THRESHOLD_KB)],
                                 timeout=180)

    def setUp(self):
        fa.assert_ran(self, self.wl)
        self.truth = self.wl.truth
        samples = fa.convert(self.wl.files(), "alloc_space")["samples"]
        self.got = fa.leafmost_attribution(
            samples, ["with_calloc", "with_calloc_empty", "with_malloc", "with_malloc_empty"],
            self.truth["file"])

    def check_blocks(self, full, empty):
        """full - empty estimates the blocks' bytes. A block of s bytes is sampled with
        p = 1 - exp(-s/T) and then weighs s/p; every other small allocation (what ctypes makes
        per call, about as many bytes again) adds variance of about T bytes per byte."""
        t = self.truth
        s, count = t["block"], t["iterations"] * t["blocks_per_iteration"]
        T = THRESHOLD_KB * KB
        want = s * count
        sd = math.sqrt(T * (self.got[full] + self.got[empty]))
        self.assertLess(4 * sd / want, 0.2, "run too short for the bound: SE %.3f" % (sd / want))
        diff = self.got[full] - self.got[empty]
        self.assertLess(abs(diff - want), max(4 * sd, 0.1 * want),
                        "%s - %s = %d, blocks %d, SE %d: %r" % (full, empty, diff, want, sd, self.got))

    def test_small_calloc_counted(self):
        self.check_blocks("with_calloc", "with_calloc_empty")

    def test_small_malloc_counted(self):
        self.check_blocks("with_malloc", "with_malloc_empty")


if __name__ == "__main__":
    unittest.main()
