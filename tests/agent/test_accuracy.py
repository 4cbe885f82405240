"""Accuracy of the CPU and wall profiles against ground truth the workloads measure themselves.

Each class runs one workload (tests/agent/workloads/) once under `flamewatch run`, merges the
files it wrote with `flamewatch convert --format json`, and compares:
  - a known 50/30/20 CPU split over three functions, one a method: shares within 2 points;
  - a GIL-holding C call beside a pure-Python thread: shares within 2 points, and the C call
    charged to the Python line that calls it;
  - per-thread CPU within 10%, a sleeping thread absent from CPU but present in wall, and the
    thread_group label;
  - stack shapes: 300-deep recursion kept whole, generators, coroutines, Unicode names.
The workloads run one after another: the machine may have two cores, and the sampler's
timing is part of what is measured.
"""
import re
import unittest

import fwaccuracy as fa

MS = 1e6  # ns


class CpuSplitTest(unittest.TestCase):
    """alpha/beta/Cart.total at 50/30/20 of ~3 s CPU."""

    @classmethod
    def setUpClass(cls):
        cls.wl = fa.run_workload(cls, "cpu_split", upload_interval="1")

    def setUp(self):
        fa.assert_ran(self, self.wl)
        self.truth = self.wl.truth
        self.samples = fa.convert(self.wl.files(), "cpu")["samples"]
        self.file = self.truth["file"]

    def test_shares_within_two_points(self):
        names = list(self.truth["cpu_s"])
        prof = fa.leafmost_attribution(self.samples, names, self.file)
        truth_sh = fa.shares(self.truth["cpu_s"])
        prof_sh = fa.shares(prof)
        msg = fa.format_shares(truth_sh, prof_sh)
        for name in names:
            self.assertLessEqual(abs(truth_sh[name] - prof_sh[name]), 2.0, msg)

    def test_total_cpu_close_to_truth(self):
        prof = fa.leafmost_attribution(self.samples, list(self.truth["cpu_s"]), self.file)
        truth_ns = sum(self.truth["cpu_s"].values()) * fa.NS
        self.assertGreater(sum(prof.values()), 0.9 * truth_ns, "profile %r truth %.0f ns" % (prof, truth_ns))
        self.assertLess(sum(prof.values()), 1.1 * truth_ns, "profile %r truth %.0f ns" % (prof, truth_ns))

    def test_method_has_class_qualified_name(self):
        self.assertEqual(self.truth["method_qualname"], "Cart.total")
        names = {f["name"] for s in self.samples for f in s["stack"] if f["file"] == self.file}
        self.assertIn("Cart.total", names)
        self.assertNotIn("total", names)

    def test_lines_inside_their_functions(self):
        ranges = fa.function_lines(self.file)
        seen = 0
        for s in self.samples:
            for f in s["stack"]:
                if f["file"] == self.file and f["name"] in ranges:
                    lo, hi = ranges[f["name"]]
                    self.assertTrue(lo <= f["line"] <= hi, "%s at line %d, outside %d-%d" % (f["name"], f["line"], lo, hi))
                    seen += 1
        self.assertGreater(seen, 0)


class GilCallTest(unittest.TestCase):
    """sum(range(10**8)) in thread c-caller beside a pure-Python loop in thread py-looper."""

    @classmethod
    def setUpClass(cls):
        cls.wl = fa.run_workload(cls, "gil_call", upload_interval="1")

    def setUp(self):
        fa.assert_ran(self, self.wl)
        self.truth = self.wl.truth
        self.samples = fa.convert(self.wl.files(), "cpu")["samples"]
        self.file = self.truth["file"]

    def _at_sum_line(self):
        line = self.truth["sum_line"]
        at_line = other = 0
        for s in self.samples:
            if s["labels"].get("thread_name") != "c-caller":
                continue
            leaf = s["stack"][-1]
            if leaf["name"] == "call_sum" and leaf["file"] == self.file:
                if leaf["line"] == line:
                    at_line += s["value"]
                else:
                    other += s["value"]
        return at_line, other

    def test_truth_line_matches_source(self):
        self.assertEqual(self.truth["sum_line"], fa.marker_line(self.file, "# FW-MARK: sum-call"))

    def test_c_call_charged_to_calling_line(self):
        at_line, other = self._at_sum_line()
        self.assertGreater(at_line, 0.9 * self.truth["sum_cpu_s"] * fa.NS,
                           "CPU at line %d: %.0f ms, elsewhere in call_sum: %.0f ms, truth %.0f ms" % (
                               self.truth["sum_line"], at_line / MS, other / MS, self.truth["sum_cpu_s"] * 1e3))
        self.assertLess(other, 0.05 * (at_line + other))

    def test_shares_within_two_points(self):
        at_line, _ = self._at_sum_line()
        loop = sum(s["value"] for s in self.samples if s["labels"].get("thread_name") == "py-looper"
                   and any(f["name"] == "py_loop" for f in s["stack"]))
        truth = {"sum call": self.truth["sum_cpu_s"], "python loop": self.truth["loop_cpu_s"]}
        truth_sh = fa.shares(truth)
        prof_sh = fa.shares({"sum call": at_line, "python loop": loop})
        for k in truth:
            self.assertLessEqual(abs(truth_sh[k] - prof_sh[k]), 2.0, fa.format_shares(truth_sh, prof_sh))


class ThreadsTest(unittest.TestCase):
    """worker-1, worker-2, a ThreadPoolExecutor and a sleeper, with the wall profile on."""

    @classmethod
    def setUpClass(cls):
        cls.wl = fa.run_workload(cls, "threads", flags=["--wall"], upload_interval="1")

    def setUp(self):
        fa.assert_ran(self, self.wl)
        self.truth = self.wl.truth
        files = self.wl.files()
        self.cpu = fa.convert(files, "cpu")["samples"]
        self.wall = fa.convert(files, "wall")["samples"]

    def test_cpu_per_thread_within_ten_percent(self):
        prof = fa.by_label(self.cpu, "thread_name")
        truth = self.truth["thread_cpu_s"]
        self.assertIn("worker-1", truth)
        self.assertIn("worker-2", truth)
        self.assertTrue(any(k.startswith("ThreadPoolExecutor-") for k in truth), truth)
        for name, secs in truth.items():
            got = prof.get(name, 0) / fa.NS
            self.assertLessEqual(abs(got - secs), 0.1 * secs,
                                 "thread %s: profile %.3f s, truth %.3f s (all: %r)" % (name, got, secs, prof))
        # The two workers were given different amounts; the profile must keep them apart.
        self.assertGreater(prof["worker-1"], 1.5 * prof["worker-2"])

    def test_sleeper_has_no_cpu_but_wall(self):
        sleeper = self.truth["sleeper"]
        cpu = fa.by_label(self.cpu, "thread_name").get("sleeper", 0) / fa.NS
        self.assertLess(sleeper["cpu_s"], 0.02, "the sleeper workload itself used CPU")
        self.assertLessEqual(cpu, max(2 * sleeper["cpu_s"], 0.02), "sleeper CPU in profile: %.3f s" % cpu)
        wall_samples = [s for s in self.wall if s["labels"].get("thread_name") == "sleeper"]
        wall = sum(s["value"] for s in wall_samples) / fa.NS
        self.assertGreater(wall, 0.5 * sleeper["wall_s"], "sleeper wall %.3f s, lifetime %.3f s" % (wall, sleeper["wall_s"]))
        self.assertLess(wall, 1.2 * sleeper["wall_s"] + 0.05, "sleeper wall %.3f s, lifetime %.3f s" % (wall, sleeper["wall_s"]))
        in_nap = sum(s["value"] for s in wall_samples if any(f["name"] == "nap" for f in s["stack"])) / fa.NS
        self.assertGreater(in_nap, 0.9 * wall)

    def test_busy_threads_in_wall_profile_too(self):
        wall = fa.by_label(self.wall, "thread_name")
        for name in self.truth["thread_cpu_s"]:
            self.assertGreater(wall.get(name, 0), 0, "%s missing from the wall profile: %r" % (name, wall))

    def test_thread_groups(self):
        groups = set()
        for s in self.cpu + self.wall:
            name, group = s["labels"].get("thread_name"), s["labels"].get("thread_group")
            self.assertIsNotNone(name, s["labels"])
            self.assertEqual(group, re.sub(r"[0-9]+", "*", name), s["labels"])
            groups.add(group)
        for g in ("worker-*", "ThreadPoolExecutor-*_*", "sleeper"):
            self.assertIn(g, groups)
        cpu_groups = fa.by_label(self.cpu, "thread_group")
        truth = self.truth["thread_cpu_s"]
        want = sum(v for k, v in truth.items() if k.startswith("worker-"))
        self.assertLessEqual(abs(cpu_groups.get("worker-*", 0) / fa.NS - want), 0.1 * want)


class BurstyTest(unittest.TestCase):
    """Short CPU bursts between short sleeps (a request handler waiting on I/O): the CPU
    belongs to burst(), not to the time.sleep() line where the thread is found idle."""

    def _check(self, threads):
        wl = fa.run_workload(self, "bursty", args=[threads, "3"], upload_interval="1")
        fa.assert_ran(self, wl)
        truth = wl.truth
        samples = fa.convert(wl.files(), "cpu")["samples"]
        handlers = [s for s in samples if s["labels"].get("thread_name", "").startswith("handler-")]
        prof = fa.leafmost_attribution(handlers, ["burst", "handler_loop"], truth["file"])
        burst = sum(t["burst_cpu_s"] for t in truth["threads"].values())
        total = sum(t["thread_cpu_s"] for t in truth["threads"].values())
        truth_sh = fa.shares({"burst": burst, "handler_loop": total - burst})
        prof_sh = fa.shares(prof)
        wait_line = fa.marker_line(truth["file"], "# FW-MARK: wait")
        at_wait = sum(s["value"] for s in handlers if s["stack"][-1]["line"] == wait_line
                      and s["stack"][-1]["name"] == "handler_loop") / fa.NS
        msg = "%d thread(s): %s; %.3f s charged to the sleep line %d; sampler: %r" % (
            threads, fa.format_shares(truth_sh, prof_sh), at_wait, wait_line, truth.get("agent"))
        # One thread: 3 points (a thread caught runnable at the sleep line while it wakes up costs
        # a point now and then; measured 0.3-2.3 points). Runs 7-8 points off (twice in CI, 1 in
        # 10 here at moderate load) came from ticks in step with the handler's own 4 ms cycle,
        # which kept finding it just back from its sleep with the GIL; ticks fall at random
        # points of their slots since. Before woken sleepers were told from preempted C code by
        # their voluntary switches, 5 of 30 runs at load 5-11 were 3.4-15 points off.
        # Three threads share the GIL, and a thread caught runnable while it takes the GIL back
        # after its sleep looks, for that tick, like C code running without the GIL; the
        # sampler charges such a thread's CPU to the sleep line only when it sees that twice in
        # a row, which still happens now and then on a loaded machine, where a woken thread
        # waits in the run queue ('R') for a while (up to about 5 points in repeated runs on a
        # loaded 2-core machine, 6.4 once in CI with 2 s runs; the runs are 3 s since). 6 points
        # bounds it; a sampler that charged CPU to wherever a thread is found would be 40-60 off.
        tolerance = 3.0 if threads == 1 else 6.0
        self.assertLessEqual(abs(truth_sh["burst"] - prof_sh["burst"]), tolerance, msg)

    def test_one_thread(self):
        self._check(1)

    def test_three_threads(self):
        self._check(3)


class ShortCallsTest(unittest.TestCase):
    """A logging loop: millions of short calls per second. Its samples keep whole stacks
    (log_loop below Logger.info), not "[unknown]": measured 23 % of the CPU in "[unknown]" on
    3.11 when the top frame and its memory were copied at different moments, 0-2 % since."""

    def test_stacks_whole(self):
        wl = fa.run_workload(self, "short_calls", args=["2"], upload_interval="1")
        fa.assert_ran(self, wl)
        samples = fa.convert(wl.files(), "cpu")["samples"]
        total = sum(s["value"] for s in samples)
        self.assertGreater(total / fa.NS, 0.5 * wl.truth["cpu_s"], "profile %.3f s, truth %.3f s"
                           % (total / fa.NS, wl.truth["cpu_s"]))
        unknown = sum(s["value"] for s in samples if any(f["name"] == "[unknown]" for f in s["stack"]))
        in_loop = sum(s["value"] for s in samples
                      if any(f["name"] == "log_loop" and f["file"] == wl.truth["file"] for f in s["stack"]))
        self.assertLessEqual(unknown, 0.05 * total, "%.1f %% of the CPU in [unknown]" % (100.0 * unknown / total))
        self.assertGreaterEqual(in_loop, 0.9 * total, "%.1f %% of the CPU under log_loop" % (100.0 * in_loop / total))


class ShapesTest(unittest.TestCase):
    """Deep recursion, a generator, coroutines and Unicode names."""

    @classmethod
    def setUpClass(cls):
        cls.wl = fa.run_workload(cls, "shapes", upload_interval="1")

    def setUp(self):
        fa.assert_ran(self, self.wl)
        self.truth = self.wl.truth
        self.samples = fa.convert(self.wl.files(), "cpu")["samples"]
        self.file = self.truth["file"]

    def _cpu_with(self, name):
        return sum(s["value"] for s in self.samples
                   if any(f["name"] == name and f["file"] == self.file for f in s["stack"])) / fa.NS

    def _has_pair(self, caller, callee):
        """Some sample has `caller` directly above `callee`."""
        for s in self.samples:
            names = [f["name"] for f in s["stack"]]
            for i in range(len(names) - 1):
                if names[i] == caller and names[i + 1] == callee:
                    return True
        return False

    def test_deep_recursion_whole(self):
        depth = self.truth["depth"]
        deep = [s for s in self.samples if sum(1 for f in s["stack"] if f["name"] == "dive") == depth]
        self.assertTrue(deep, "no sample holds all %d dive frames; deepest: %d" % (
            depth, max([sum(1 for f in s["stack"] if f["name"] == "dive") for s in self.samples] or [0])))
        for s in deep:
            names = [f["name"] for f in s["stack"]]
            self.assertEqual(names[0], "<module>", "the root is lost: %r" % names[:5])
            self.assertEqual(names[-depth:], ["dive"] * depth)
        cpu = sum(s["value"] for s in deep) / fa.NS
        self.assertGreater(cpu, 0.8 * self.truth["cpu_s"]["dive"], "only %.3f s of dive CPU has the whole stack" % cpu)

    def test_generator_in_stack(self):
        names = self.truth["names"]
        self.assertTrue(self._has_pair(names["consume"], names["produce"]))
        self.assertGreater(self._cpu_with(names["produce"]), 0.8 * self.truth["cpu_s"]["produce"])

    def test_coroutines_in_stack(self):
        names = self.truth["names"]
        self.assertTrue(self._has_pair(names["handler"], names["crunch"]))
        self.assertGreater(self._cpu_with(names["crunch"]), 0.8 * self.truth["cpu_s"]["crunch"])

    def test_unicode_names_intact(self):
        for key in ("unicode_method", "unicode_function"):
            name = self.truth["names"][key]
            self.assertGreater(self._cpu_with(name), 0.8 * self.truth["cpu_s"][key],
                               "%s: names seen %r" % (name, sorted({f["name"] for s in self.samples for f in s["stack"]})))
        self.assertEqual(self.truth["names"]["unicode_method"], "Ünïcødé.计算")


if __name__ == "__main__":
    unittest.main()
