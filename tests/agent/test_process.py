"""Processes: children of every kind profiled in their own files, and exit with threads running.

ProcessesTest: a parent forks with os.fork and starts multiprocessing children with fork,
spawn and forkserver. Each child must have its own files (APP-PID-SEQ.pprof.gz with its pid),
whose samples all carry its pid label, hold its own work (at least 80% of the CPU it measured:
the upload interval is longer than the child lives, so this needs the final flush at the
child's exit) and none of the parent's work from before the fork.

ExitTest: the main thread returns (or calls sys.exit) while daemon threads spin and a
non-daemon thread is still working. The process must exit promptly with the program's status,
and the final profile, written at exit, must hold the work of the last interval.
"""
import glob
import json
import os
import re
import unittest

import fwaccuracy as fa


class ProcessesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.wl = fa.run_workload(cls, "processes", args=["0.6"], upload_interval="5", timeout=120)

    def setUp(self):
        fa.assert_ran(self, self.wl)
        self.truth = self.wl.truth
        self.children = []
        for path in sorted(glob.glob(os.path.join(self.truth["truth_dir"], "child-*.json"))):
            with open(path, encoding="utf-8") as f:
                self.children.append(json.load(f))

    def test_every_child_ran(self):
        self.assertEqual(sorted(c["kind"] for c in self.children),
                         ["mp-fork", "mp-forkserver", "mp-spawn", "os.fork"], self.wl.describe())
        self.assertEqual(set(self.truth["exit_codes"].values()), {0}, self.truth["exit_codes"])

    def test_each_child_in_its_own_files(self):
        for child in self.children:
            pid = child["pid"]
            with self.subTest(kind=child["kind"]):
                files = self.wl.files(pid)
                self.assertTrue(files, "no files for %s child %d\n%s" % (child["kind"], pid, self.wl.describe()))
                for f in files:
                    self.assertTrue(re.match(r"processes-%d-\d{6}\.pprof\.gz$" % pid, os.path.basename(f)), f)
                samples = fa.convert(files, "cpu")["samples"]
                pids = {s["labels"].get("pid") for s in samples}
                self.assertEqual(pids, {str(pid)}, "%s child %d files carry pids %r" % (child["kind"], pid, pids))
                names = {fr["name"] for s in samples for fr in s["stack"]}
                # The parent's pre-fork work must not be re-reported by a forked child.
                self.assertNotIn("parent_work", names)
                work = "fork_child_work" if child["kind"] == "os.fork" else "mp_child_work"
                got = fa.leafmost_attribution(samples, [work])[work] / fa.NS
                self.assertGreater(got, 0.8 * child["cpu_s"], "%s child: %.3f s in profile, truth %.3f s" % (
                    child["kind"], got, child["cpu_s"]))
                self.assertLess(got, 1.1 * child["cpu_s"] + 0.02)

    def test_parent_files_hold_only_the_parent(self):
        pid = self.truth["pid"]
        files = self.wl.files(pid)
        self.assertTrue(files, self.wl.describe())
        samples = fa.convert(files, "cpu")["samples"]
        self.assertEqual({s["labels"].get("pid") for s in samples}, {str(pid)})
        names = {fr["name"] for s in samples for fr in s["stack"]}
        self.assertNotIn("fork_child_work", names)
        self.assertNotIn("mp_child_work", names)
        got = fa.leafmost_attribution(samples, ["parent_work"])["parent_work"] / fa.NS
        self.assertGreater(got, 0.8 * self.truth["parent_cpu_s"])


class ExitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # One after the other: side by side they would compete for the CPU, and where each
        # thread's CPU is charged is part of what is checked.
        cls.normal = fa.run_workload(cls, "exit_threads", args=["normal"], upload_interval="60", timeout=60)
        cls.sysexit = fa.run_workload(cls, "exit_threads", args=["sysexit"], upload_interval="60", timeout=60)

    def _check(self, run, status):
        fa.assert_ran(self, run, status)
        # Well under the timeout: the process did not wait on the spinning daemon threads.
        self.assertLess(run.elapsed, 20, run.describe())
        files = run.files(run.truth["pid"])
        self.assertEqual(len(files), 1, "the upload interval is 60 s: only the exit flush writes\n" + run.describe())
        samples = fa.convert(files, "cpu")["samples"]
        with open(run.truth_path + ".finisher", encoding="utf-8") as f:
            finisher = json.load(f)
        got = fa.leafmost_attribution(samples, ["finisher_work", "main_work"])
        # The point is that the exit flush holds the main thread's work; where each delta of a
        # thread competing for the GIL with two spinners goes is BurstyTest's subject, and a
        # loaded machine moves up to a third of it to the stack the thread last held the GIL in.
        self.assertGreater(got["main_work"] / fa.NS, 0.6 * run.truth["main_cpu_s"],
                           "main_work: %.3f s in profile, truth %.3f s" % (got["main_work"] / fa.NS, run.truth["main_cpu_s"]))
        # The finisher ended after the main thread: its work is in the last moments before exit.
        self.assertGreater(got["finisher_work"] / fa.NS, 0.8 * finisher["cpu_s"],
                           "finisher: %.3f s in profile, truth %.3f s" % (got["finisher_work"] / fa.NS, finisher["cpu_s"]))
        spinning = {s["labels"].get("thread_name") for s in samples if any(f["name"] == "spin_forever" for f in s["stack"])}
        self.assertEqual(spinning, {"daemon-spin-0", "daemon-spin-1"})

    def test_main_returns_with_threads_running(self):
        self._check(self.normal, 0)

    def test_sys_exit_with_threads_running(self):
        self._check(self.sysexit, 3)


if __name__ == "__main__":
    unittest.main()
