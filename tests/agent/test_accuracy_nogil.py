"""C code that runs without the GIL is charged to the Python line that called it.

The sampler tells a thread that holds the GIL from one that runs without it and from one that
is off CPU; a thread seen running without the GIL at consecutive ticks is charged where it is
(fw_sampler_account). This workload keeps one thread inside hashlib.sha256 on a 32 MiB buffer
(which releases the GIL) while another runs Python, and checks both the line and the shares.
"""
import unittest

import fwaccuracy as fa


class NoGilCallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.wl = fa.run_workload(cls, "nogil_call", args=["2"], upload_interval="1")

    def setUp(self):
        fa.assert_ran(self, self.wl)
        self.truth = self.wl.truth
        self.file = self.truth["file"]
        self.samples = fa.convert(self.wl.files(), "cpu")["samples"]
        self.line = fa.marker_line(self.file, "# FW-MARK: hash-call")

    def _hasher(self):
        at_line = elsewhere = 0
        for s in self.samples:
            if s["labels"].get("thread_name") != "hasher":
                continue
            frames = [f for f in s["stack"] if f["name"] == "hash_loop" and f["file"] == self.file]
            if frames and frames[-1]["line"] == self.line:
                at_line += s["value"]
            else:
                elsewhere += s["value"]
        return at_line, elsewhere

    def test_released_gil_call_charged_to_calling_line(self):
        at_line, elsewhere = self._hasher()
        truth_ns = self.truth["hash_cpu_s"] * fa.NS
        # The hasher's CPU outside the calls (the buffer's page faults, the loop) is measured by the
        # workload too: what the profile puts elsewhere may exceed it by 5 points of the thread.
        other_ns = max(0.0, self.truth["hasher_cpu_s"] - self.truth["hash_cpu_s"]) * fa.NS
        msg = "hash line %d: %.0f ms, elsewhere in the hasher: %.0f ms, truth %.0f ms in calls, %.0f ms outside; sampler: %r" % (
            self.line, at_line / 1e6, elsewhere / 1e6, truth_ns / 1e6, other_ns / 1e6, self.truth.get("agent"))
        self.assertGreater(at_line, 0.9 * truth_ns, msg)
        self.assertLess(elsewhere, other_ns + 0.05 * (at_line + elsewhere), msg)

    def test_shares_within_two_points(self):
        at_line, _ = self._hasher()
        loop = sum(s["value"] for s in self.samples if s["labels"].get("thread_name") == "py-looper"
                   and any(f["name"] == "py_loop" for f in s["stack"]))
        truth = fa.shares({"hash": self.truth["hash_cpu_s"], "loop": self.truth["loop_cpu_s"]})
        prof = fa.shares({"hash": at_line, "loop": loop})
        self.assertLessEqual(abs(truth["hash"] - prof["hash"]), 2.0, fa.format_shares(truth, prof))


if __name__ == "__main__":
    unittest.main()
