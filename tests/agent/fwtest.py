"""Shared helpers for the agent integration tests (tests/agent/test_*.py).

Run a workload under the agent, either through the Python API (`flamewatch.start()` inside a child
interpreter) or through `build/flamewatch run`, and read the profiles back with
`build/flamewatch convert --format json`. Every test runs its workload in a child process so
that the agent of one test can never disturb another (or the runner itself).

Stable interface (other test files use it): BUILD, FLAMEWATCH, PYTHONPATH, make_tmp, child_env,
run_python, run_cli, profile_files, parse_name, convert, convert_all, total, label_values.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.abspath(os.environ.get("FLAMEWATCH_TEST_BUILD") or os.path.join(ROOT, "build"))
FLAMEWATCH = os.path.join(BUILD, "flamewatch")
PYTHONPATH = os.path.join(BUILD, "python")
BOOTSTRAP = os.path.join(PYTHONPATH, "flamewatch", "_bootstrap")
FILE_RE = re.compile(r"^(?P<app>.+)-(?P<pid>\d+)-(?P<seq>\d{6})\.pprof\.gz$")


def make_tmp(testcase, prefix="fw-life-"):
    """A temporary directory, removed when the test ends."""
    path = tempfile.mkdtemp(prefix=prefix)
    testcase.addCleanup(shutil.rmtree, path, True)
    return path


def child_env(extra=None):
    """The environment for a child: no inherited FLAMEWATCH_* settings, the built package on
    PYTHONPATH, bytecode off (the build tree stays clean)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLAMEWATCH_")}
    env["PYTHONPATH"] = PYTHONPATH
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["FLAMEWATCH_TEST_BUILD"] = BUILD
    if extra:
        env.update(extra)
    return env


class Result(object):
    def __init__(self, cmd, proc_or_exc, timed_out=False):
        self.cmd = cmd
        self.timed_out = timed_out
        self.returncode = None if timed_out else proc_or_exc.returncode
        out = proc_or_exc.stdout or b""
        err = proc_or_exc.stderr or b""
        self.stdout = out.decode("utf-8", "replace") if isinstance(out, bytes) else out
        self.stderr = err.decode("utf-8", "replace") if isinstance(err, bytes) else err

    def last_json(self):
        """The last stdout line that parses as JSON (how workloads report their truth)."""
        for line in reversed(self.stdout.splitlines()):
            line = line.strip()
            if line.startswith("{"):
                return json.loads(line)
        raise AssertionError("no JSON line in stdout:\n" + self.describe())

    def describe(self):
        return "command: %s\nexit status: %s%s\nstdout:\n%s\nstderr:\n%s" % (
            " ".join(self.cmd), self.returncode, " (TIMED OUT)" if self.timed_out else "",
            self.stdout[-4000:], self.stderr[-4000:])


def _run(cmd, env, timeout, cwd=None):
    try:
        proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout)
        return Result(cmd, proc)
    except subprocess.TimeoutExpired as exc:
        return Result(cmd, exc, timed_out=True)


def run_python(code, env=None, timeout=60, python=None, args=(), cwd=None):
    """Runs `code` (dedented) in a child interpreter; returns a Result."""
    cmd = [python or sys.executable, "-c", textwrap.dedent(code)] + list(args)
    return _run(cmd, child_env(env), timeout, cwd)


def run_cli(flags, code, env=None, timeout=60, python=None, cwd=None):
    """`build/flamewatch run FLAGS -- python -c CODE`; returns a Result."""
    cmd = [FLAMEWATCH, "run"] + list(flags) + ["--", python or sys.executable, "-c",
                                                textwrap.dedent(code)]
    return _run(cmd, child_env(env), timeout, cwd)


def parse_name(path):
    """(app, pid, seq) of a profile file name, or None."""
    m = FILE_RE.match(os.path.basename(path))
    return (m.group("app"), int(m.group("pid")), int(m.group("seq"))) if m else None


def profile_files(out_dir, pid=None):
    """Profile files in out_dir (of one pid if given), in SEQ order."""
    files = glob.glob(os.path.join(out_dir, "*.pprof.gz"))
    if pid is not None:
        files = [f for f in files if (parse_name(f) or (0, -1))[1] == pid]
    return sorted(files, key=lambda f: (parse_name(f) or ("", 0, 0))[1:])


def convert(files, type_="cpu", labels=()):
    """Decodes and merges files with `flamewatch convert --format json`; returns the dict."""
    if not files:
        raise AssertionError("no profile files to convert")
    cmd = [FLAMEWATCH, "convert", "--format", "json", "--type", type_]
    for kv in labels:
        cmd += ["--label", kv]
    proc = subprocess.run(cmd + list(files), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=60)
    if proc.returncode != 0:
        raise AssertionError("flamewatch convert failed (%d): %s" % (
            proc.returncode, proc.stderr.decode("utf-8", "replace")))
    return json.loads(proc.stdout.decode("utf-8"))


def convert_all(out_dir, type_="cpu", pid=None):
    return convert(profile_files(out_dir, pid), type_)


def total(decoded, **labels):
    """Sum of sample values whose labels match all of `labels`."""
    return sum(s["value"] for s in decoded["samples"]
               if all(s["labels"].get(k) == v for k, v in labels.items()))


def label_values(decoded, key):
    """The set of values label `key` takes across the samples."""
    return set(s["labels"].get(key) for s in decoded["samples"])
