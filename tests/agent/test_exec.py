"""os.exec* under the agent: the interval under way when a program replaces itself is written
and sent, and the new program (same pid) never overwrites the files written before the exec.

The workload burns CPU in `first_half` (measured with its own time.thread_time), then os.execv's
the same interpreter (or fails to exec, then goes on), which burns CPU in `second_half`. Each
half must be in the profiles (files, or the server) with the CPU it measured: a lost pre-exec
interval or an overwritten file shows up as a missing or short half.
"""
import json
import os
import sys
import textwrap
import unittest

import fwserver
import fwtest

WORKLOAD = r'''
import json, os, sys, time

def burn(seconds):
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        for i in range(300):
            x += i * i
    return x

def timed(fn):
    t0 = time.thread_time()
    fn()
    return time.thread_time() - t0

def first_half(): burn(1.5)
def second_half(): burn(1.5)

if len(sys.argv) < 2:
    spent = timed(first_half)
    pid = os.getpid()
    sys.stdout.flush()
    # os.execl goes through os.execv: the whole family is covered by the wrapper.
    os.execl(sys.executable, sys.executable, "-c", CODE, json.dumps({"first_half": spent, "pid": pid}))
truth = json.loads(sys.argv[1])
truth["second_half"] = timed(second_half)
truth["same_pid"] = truth["pid"] == os.getpid()
print(json.dumps(truth))
'''


def _self_exec_program():
    """The workload for `python -c`: the exec'd program needs the source again, so CODE holds
    the whole program, its own definition included (a quine)."""
    body = textwrap.dedent(WORKLOAD)
    return "CODE = %s\nCODE = CODE %% (CODE,)\n" % repr("CODE = %r\nCODE = CODE %% (CODE,)\n" + body) + body


def _add_functions(rows, decoded):
    """Adds each function's total (CPU of the samples whose stack holds it) to rows."""
    for sample in decoded["samples"]:
        for fn in set(frame["name"] for frame in sample["stack"]):
            rows[fn] = rows.get(fn, 0) + sample["value"]
    return rows


class ExecTest(unittest.TestCase):
    def _check_halves(self, rows, truth, where):
        for half in ("first_half", "second_half"):
            got = rows.get(half, 0) / 1e9
            self.assertLess(abs(got - truth[half]), 0.1 * truth[half] + 0.05,
                            "%s: %.2fs %s, %.2fs by thread_time (%s)"
                            % (half, got, where, truth[half], rows))

    def _run_output(self, interval):
        out = fwtest.make_tmp(self, "fw-exec-")
        flags = ["--output", out, "--app", "execapp"]
        if interval is not None:
            flags += ["--upload-interval", str(interval)]
        res = fwtest.run_cli(flags, _self_exec_program(), timeout=60)
        self.assertEqual(res.returncode, 0, res.describe())
        truth = res.last_json()
        self.assertTrue(truth["same_pid"], truth)
        files = fwtest.profile_files(out)
        names = [fwtest.parse_name(f) for f in files]
        self.assertTrue(all(n is not None and n[1] == truth["pid"] for n in names), files)
        seqs = [n[2] for n in names]
        # Numbering goes on across the exec: 1..N with no gap and no file written twice.
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)), files)
        rows = {}
        for f in files:
            # One file at a time: a file overwritten by the new program would hold second_half
            # only, and first_half would come up short.
            _add_functions(rows, fwtest.convert([f]))
        self._check_halves(rows, truth, "in %d file(s)" % len(files))
        return seqs

    def test_default_interval_flushes_before_exec(self):
        # 15 s interval: nothing is flushed during the run; the exec wrapper writes first_half,
        # the exit writes second_half.
        seqs = self._run_output(None)
        self.assertEqual(len(seqs), 2, seqs)

    def test_short_interval_never_overwrites(self):
        # Several files before the exec: the new program's agent starts at SEQ 1 again and must
        # go on after the last one instead of replacing it.
        seqs = self._run_output(0.4)
        self.assertGreaterEqual(len(seqs), 5, seqs)

    def test_pre_exec_interval_reaches_the_server(self):
        srv = fwserver.start(self)
        res = fwtest.run_cli(["--server", srv.url, "--app", "execsrv"], _self_exec_program(),
                             timeout=60)
        self.assertEqual(res.returncode, 0, res.describe())
        truth = res.last_json()
        rows = {r["name"]: r["total"] for r in srv.table("execsrv")["rows"]}
        self._check_halves(rows, truth, "on the server")

    def test_failed_exec_resumes_profiling(self):
        out = fwtest.make_tmp(self, "fw-exec-")
        code = r'''
import json, os, sys, time
import flamewatch

def burn(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        sum(i * i for i in range(300))

def timed(fn):
    t0 = time.thread_time()
    fn()
    return time.thread_time() - t0

def first_half(): burn(0.8)
def second_half(): burn(0.8)

truth = {"first_half": timed(first_half)}
try:
    os.execv("/nonexistent/flamewatch-test", ["x"])
except OSError as exc:
    truth["error"] = exc.errno
truth["running"] = flamewatch.is_running()
truth["second_half"] = timed(second_half)
print(json.dumps(truth))
'''
        res = fwtest.run_cli(["--output", out, "--app", "execfail"], code, timeout=60)
        self.assertEqual(res.returncode, 0, res.describe())
        truth = res.last_json()
        self.assertTrue(truth["running"], truth)
        self.assertIn("error", truth)
        files = fwtest.profile_files(out)
        self.assertEqual([fwtest.parse_name(f)[2] for f in files], [1, 2], files)
        rows = _add_functions({}, fwtest.convert(files))
        self._check_halves(rows, truth, "in the files")


if __name__ == "__main__":
    unittest.main()
