"""Helpers for the accuracy, process and CLI tests: run a workload under `flamewatch run`,
read its ground truth, and read the profiles back through `flamewatch convert --format json`.

Every workload (tests/agent/workloads/*.py) takes the path of a JSON file as its first argument
and writes there what it measured itself (time.thread_time() per function and per thread, its
pid, the names and lines it expects). The tests compare that truth with what the agent wrote,
so no expected number is hard-coded.

Kept apart from fwtest.py (owned by the runtime tests) so that the two can evolve independently.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.abspath(os.environ.get("FLAMEWATCH_TEST_BUILD") or os.path.join(ROOT, "build"))
FLAMEWATCH = os.path.join(BUILD, "flamewatch")
WORKLOADS = os.path.join(HERE, "workloads")
NS = 1e9


class Run:
    """One finished `flamewatch run`: exit status, output, the truth, the profile files."""

    def __init__(self, cmd, returncode, stdout, stderr, elapsed, out_dir, truth_path):
        self.cmd = cmd
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.elapsed = elapsed
        self.out_dir = out_dir
        self.truth_path = truth_path
        self._truth = None

    @property
    def truth(self):
        if self._truth is None:
            with open(self.truth_path, encoding="utf-8") as f:
                self._truth = json.load(f)
        return self._truth

    def files(self, pid=None):
        pattern = "*-%s-*.pprof.gz" % pid if pid is not None else "*.pprof.gz"
        return sorted(glob.glob(os.path.join(self.out_dir, pattern)))

    def describe(self):
        return "command: %s\nexit status: %s (%.1fs)\nstdout:\n%s\nstderr:\n%s\nfiles: %s" % (
            " ".join(self.cmd), self.returncode, self.elapsed, self.stdout[-3000:], self.stderr[-3000:],
            [os.path.basename(f) for f in self.files()] if os.path.isdir(self.out_dir) else "(no output dir)")


def make_tmp(owner, prefix="fw-test-"):
    """A temporary directory removed when the test (or, given a class, the class) ends."""
    d = tempfile.mkdtemp(prefix=prefix)
    if isinstance(owner, type):
        owner.addClassCleanup(shutil.rmtree, d, True)
    else:
        owner.addCleanup(shutil.rmtree, d, True)
    return d


def child_env(extra=None):
    """The environment of a profiled program: ours, minus FLAMEWATCH_* settings that would
    leak from the developer's shell into the test, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FLAMEWATCH_") or k in ("FLAMEWATCH_TEST_BUILD", "FLAMEWATCH_PYTHONPATH")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def run_flamewatch(args, env=None, cwd=None, timeout=60):
    """Runs `build/flamewatch ARGS`; returns (returncode, stdout, stderr, seconds). A timeout is
    reported as returncode None (the caller asserts on it: it means a hang)."""
    cmd = [FLAMEWATCH] + list(args)
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env if env is not None else child_env(), cwd=cwd, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, err = proc.communicate()
        rc = None
    return rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), time.monotonic() - start


def run_workload(owner, name, args=(), flags=(), env=None, upload_interval="1", timeout=90,
                 python=None, tmp=None):
    """Runs tests/agent/workloads/NAME.py under `flamewatch run --output TMP/profiles`."""
    tmp = tmp or make_tmp(owner, "fw-%s-" % name)
    out_dir = os.path.join(tmp, "profiles")
    truth = os.path.join(tmp, "truth.json")
    script = os.path.join(WORKLOADS, name + ".py")
    cmd_args = (["run", "--output", out_dir, "--upload-interval", upload_interval] + list(flags)
                + ["--", python or sys.executable, script, truth] + [str(a) for a in args])
    rc, out, err, secs = run_flamewatch(cmd_args, env=child_env(env), timeout=timeout)
    return Run([FLAMEWATCH] + cmd_args, rc, out, err, secs, out_dir, truth)


def start_workload(name, tmp, args=(), flags=(), env=None, upload_interval="1"):
    """Starts a workload without waiting: returns (Popen, Run-builder). Used to run workloads
    whose measurements do not suffer from sharing the CPU side by side."""
    out_dir = os.path.join(tmp, "profiles")
    truth = os.path.join(tmp, "truth.json")
    script = os.path.join(WORKLOADS, name + ".py")
    cmd_args = (["run", "--output", out_dir, "--upload-interval", upload_interval] + list(flags)
                + ["--", sys.executable, script, truth] + [str(a) for a in args])
    start = time.monotonic()
    proc = subprocess.Popen([FLAMEWATCH] + cmd_args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=child_env(env), start_new_session=True)

    def finish(timeout=90):
        try:
            out, err = proc.communicate(timeout=timeout)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            out, err = proc.communicate()
            rc = None
        return Run([FLAMEWATCH] + cmd_args, rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                   time.monotonic() - start, out_dir, truth)
    return finish


def convert(files, type_="cpu", labels=()):
    """Merges pprof files with `flamewatch convert --format json`; returns the parsed JSON."""
    if not files:
        raise AssertionError("no profile files to convert")
    cmd = [FLAMEWATCH, "convert", "--format", "json", "--type", type_]
    for k, v in labels:
        cmd += ["--label", "%s=%s" % (k, v)]
    proc = subprocess.run(cmd + list(files), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60)
    if proc.returncode != 0:
        raise AssertionError("flamewatch convert failed (%d): %s" % (proc.returncode, proc.stderr.decode()))
    return json.loads(proc.stdout.decode("utf-8"))


def leafmost_attribution(samples, targets, filename=None):
    """Charges each sample's value to the leaf-most frame whose name is in `targets` (the
    function that was running, directly or through what it called), counting only frames of
    `filename` when given. Returns {name: value}."""
    out = {t: 0 for t in targets}
    for s in samples:
        for frame in reversed(s["stack"]):  # stacks are root first
            if frame["name"] in out and (filename is None or frame["file"] == filename):
                out[frame["name"]] += s["value"]
                break
    return out


def assert_ran(testcase, run, status=0):
    """Fails with the whole story when the run hung or exited with another status."""
    if run.returncode is None:
        testcase.fail("the profiled program hung (killed after %.0fs)\n%s" % (run.elapsed, run.describe()))
    testcase.assertEqual(run.returncode, status, run.describe())


def by_label(samples, key):
    out = {}
    for s in samples:
        v = s["labels"].get(key)
        out[v] = out.get(v, 0) + s["value"]
    return out


def shares(values):
    total = float(sum(values.values()))
    if total <= 0:
        raise AssertionError("nothing to share: %r" % values)
    return {k: 100.0 * v / total for k, v in values.items()}


def format_shares(truth, prof):
    return ", ".join("%s truth %.1f%% profile %.1f%%" % (k, truth[k], prof.get(k, 0.0)) for k in truth)


def function_lines(path):
    """{qualified name: (first line, last line)} of every function in a source file, from
    its syntax tree: what a frame's line must fall within."""
    import ast
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    out = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + child.name
                first = min([child.lineno] + [d.lineno for d in child.decorator_list])
                out[name] = (first, child.end_lineno)
                visit(child, name + ".<locals>.")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
    visit(tree, "")
    return out


def marker_line(path, marker):
    """The line number of the line holding `marker` in a source file."""
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if marker in line:
                return i
    raise AssertionError("marker %r not in %s" % (marker, path))


def host_addresses():
    """The host's non-loopback addresses as the system lists them (`hostname -I`, else `ip`)."""
    for cmd in (["hostname", "-I"], ["ip", "-o", "addr", "show"]):
        exe = shutil.which(cmd[0])
        if not exe:
            continue
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode()
        if cmd[0] == "ip":
            out = " ".join(m.group(1) for m in re.finditer(r"inet6? ([0-9a-fA-F:.]+)/", out))
        addrs = [a for a in out.split() if a and not a.startswith("127.") and a != "::1"
                 and not a.lower().startswith("fe80")]
        return addrs
    return None
