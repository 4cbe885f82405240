"""The agent's life: start and stop, files and labels, fork, os._exit, interpreter exit with
daemon threads, bad configuration, unsupported interpreters, and the achieved sampling rate.

Every workload runs in a child interpreter (fwtest.run_python / run_cli), so a hang is a timeout
of that child and a crash is its exit status, never the runner's.
"""
import ipaddress
import json
import os
import socket
import sys
import unittest

import fwtest

PY38 = "/root/.pyenv/versions/3.8.18/bin/python3"
PY27 = "/root/.pyenv/versions/2.7.18/bin/python"

# Busy for `secs` of this thread's CPU time; returns the CPU time used.
BUSY = """
import time
def busy(secs):
    t0 = time.thread_time()
    while time.thread_time() - t0 < secs:
        sum(range(500))
    return time.thread_time() - t0
"""


class LifecycleTest(unittest.TestCase):
    def setUp(self):
        self.out = fwtest.make_tmp(self)

    def run_api(self, body, timeout=60, env=None):
        code = BUSY + "import flamewatch, os, sys, json\nOUT = %r\n" % self.out + body
        res = fwtest.run_python(code, timeout=timeout, env=env)
        self.assertFalse(res.timed_out, res.describe())
        return res

    def test_start_stop_writes_files(self):
        res = self.run_api("""
flamewatch.start(app="life", output=OUT, upload_interval_s=0.3)
used = busy(1.0)
path = flamewatch.stop()
print(json.dumps({"pid": os.getpid(), "path": path, "used": used}))
""")
        self.assertEqual(res.returncode, 0, res.describe())
        info = res.last_json()
        files = fwtest.profile_files(self.out)
        self.assertGreaterEqual(len(files), 2, res.describe())
        names = [fwtest.parse_name(f) for f in files]
        self.assertTrue(all(n and n[0] == "life" and n[1] == info["pid"] for n in names), names)
        self.assertEqual([n[2] for n in names], list(range(1, len(names) + 1)))
        self.assertEqual(info["path"], files[-1])
        self.assertFalse([f for f in os.listdir(self.out) if f.endswith(".tmp")])
        cpu = fwtest.total(fwtest.convert(files)) / 1e9
        self.assertGreater(cpu, 0.8 * info["used"], "profiled %.3fs of %.3fs" % (cpu, info["used"]))
        self.assertLess(cpu, 1.3 * info["used"] + 0.2)

    def test_labels(self):
        res = self.run_api("""
import threading
flamewatch.start(app="labels", output=OUT, tags={"team": "web", "region": "eu-1"}, wall=True)
t = threading.Thread(target=busy, args=(0.4,), name="ThreadPoolExecutor-0_12")
t.start(); t.join()
busy(0.2)
flamewatch.stop()
print(json.dumps({"pid": os.getpid()}))
""")
        self.assertEqual(res.returncode, 0, res.describe())
        pid = res.last_json()["pid"]
        cpu = fwtest.convert_all(self.out)
        for s in cpu["samples"]:
            lab = s["labels"]
            self.assertEqual(lab["app"], "labels")
            self.assertEqual(lab["pid"], str(pid))
            self.assertEqual(lab["hostname"], socket.gethostname())
            self.assertEqual(lab["team"], "web")
            self.assertEqual(lab["region"], "eu-1")
            ip = ipaddress.ip_address(lab["host_ip"])
            self.assertTrue(not ip.is_loopback or lab["host_ip"] == "127.0.0.1", lab["host_ip"])
        names = fwtest.label_values(cpu, "thread_name")
        self.assertIn("ThreadPoolExecutor-0_12", names)
        self.assertIn("MainThread", names)
        pool = fwtest.total(cpu, thread_name="ThreadPoolExecutor-0_12")
        self.assertEqual(pool, fwtest.total(cpu, thread_group="ThreadPoolExecutor-*_*"))
        self.assertGreater(pool / 1e9, 0.3)
        wall = fwtest.convert_all(self.out, "wall")
        self.assertGreater(fwtest.total(wall, thread_name="MainThread"), 0)

    def test_fork_child_has_own_pid_and_files(self):
        res = self.run_api("""
flamewatch.start(app="fork", output=OUT, upload_interval_s=0.5)
busy(0.2)
pid = os.fork()
if pid == 0:
    busy(0.4)
    sys.exit(0)          # normal exit in the child: atexit writes its final profile
_, status = os.waitpid(pid, 0)
busy(0.2)
flamewatch.stop()
print(json.dumps({"parent": os.getpid(), "child": pid, "status": status}))
""")
        self.assertEqual(res.returncode, 0, res.describe())
        info = res.last_json()
        self.assertEqual(info["status"], 0, res.describe())
        child_files = fwtest.profile_files(self.out, info["child"])
        parent_files = fwtest.profile_files(self.out, info["parent"])
        self.assertTrue(child_files, res.describe())
        self.assertTrue(parent_files, res.describe())
        self.assertEqual(fwtest.parse_name(child_files[0])[2], 1)   # SEQ restarts in the child
        child = fwtest.convert(child_files)
        self.assertEqual(fwtest.label_values(child, "pid"), {str(info["child"])})
        self.assertGreater(fwtest.total(child) / 1e9, 0.3)
        parent = fwtest.convert(parent_files)
        self.assertEqual(fwtest.label_values(parent, "pid"), {str(info["parent"])})

    def test_os_exit_child_flushes(self):
        res = self.run_api("""
import multiprocessing
flamewatch.start(app="mp", output=OUT)
def work():
    busy(0.4)
ctx = multiprocessing.get_context("fork")
p = ctx.Process(target=work)
p.start(); p.join()
pid = os.fork()
if pid == 0:
    busy(0.3)
    os._exit(5)
_, status = os.waitpid(pid, 0)
print(json.dumps({"mp": p.pid, "mp_code": p.exitcode, "raw": pid, "raw_code": os.WEXITSTATUS(status)}))
flamewatch.stop()
""")
        self.assertEqual(res.returncode, 0, res.describe())
        info = res.last_json()
        self.assertEqual(info["mp_code"], 0)
        self.assertEqual(info["raw_code"], 5)   # the exit status survives the wrapper
        for key in ("mp", "raw"):
            files = fwtest.profile_files(self.out, info[key])
            self.assertTrue(files, "%s child %d wrote nothing\n%s" % (key, info[key], res.describe()))
            self.assertGreater(fwtest.total(fwtest.convert(files)) / 1e9, 0.2)

    def test_exit_with_daemon_threads(self):
        res = self.run_api("""
import threading, time
flamewatch.start(app="daemon", output=OUT, upload_interval_s=60)
for i in range(4):
    threading.Thread(target=busy, args=(1000,), daemon=True, name="spin-%d" % i).start()
for i in range(4):
    threading.Thread(target=time.sleep, args=(1000,), daemon=True, name="nap-%d" % i).start()
busy(0.5)
print(json.dumps({"pid": os.getpid()}), flush=True)
sys.exit(7)
""", timeout=30)
        self.assertEqual(res.returncode, 7, res.describe())
        pid = res.last_json()["pid"]
        files = fwtest.profile_files(self.out, pid)
        self.assertEqual(len(files), 1, res.describe())   # only the final profile (60 s interval)
        names = fwtest.label_values(fwtest.convert(files), "thread_name")
        self.assertTrue({"MainThread", "spin-0"} <= names, names)

    def test_os_exit_main_process(self):
        res = self.run_api("""
flamewatch.start(app="exit", output=OUT, upload_interval_s=60)
busy(0.3)
print(json.dumps({"pid": os.getpid()}), flush=True)
os._exit(3)
""")
        self.assertEqual(res.returncode, 3, res.describe())
        self.assertEqual(len(fwtest.profile_files(self.out)), 1, res.describe())

    def test_start_twice_stop_twice(self):
        res = self.run_api("""
a = flamewatch.start(app="twice", output=OUT)
b = flamewatch.start(app="twice", output=OUT)
busy(0.2)
p1 = flamewatch.stop()
p2 = flamewatch.stop()
running = flamewatch.is_running()
c = flamewatch.start(app="twice", output=OUT)
busy(0.2)
p3 = flamewatch.stop()
print(json.dumps({"a": a, "b": b, "p1": p1, "p2": p2, "c": c, "p3": p3, "running": running}))
""")
        self.assertEqual(res.returncode, 0, res.describe())
        info = res.last_json()
        self.assertTrue(info["a"] and info["b"] and info["c"])
        self.assertIsNone(info["p2"])
        self.assertFalse(info["running"])
        self.assertTrue(info["p1"] and info["p3"] and info["p1"] != info["p3"])
        self.assertEqual(len(fwtest.profile_files(self.out)), 2)

    def test_bad_config_raises(self):
        import flamewatch
        cases = [
            (dict(cpu_interval_ms=0), "cpu_interval_ms", "expected an integer from 1 to 1000"),
            (dict(cpu_interval_ms="abc"), "cpu_interval_ms", "'abc'"),
            (dict(app="a,b"), "app", "'{', '}', ',' or '='"),
            (dict(upload_interval_s=0.01), "upload_interval_s", "0.1 to 3600"),
            (dict(tags={"1bad": "x"}), "tags", "[A-Za-z_][A-Za-z0-9_.]*"),
            (dict(tags={"k": "a,b"}), "tags", "without ','"),
            (dict(wall="maybe"), "wall", "expected a boolean"),
            (dict(log="loud"), "log", "debug, info, warning, quiet"),
        ]
        for kwargs, where, text in cases:
            with self.subTest(kwargs=kwargs):
                with self.assertRaises(ValueError) as cm:
                    flamewatch.start(output=self.out, **kwargs)
                msg = str(cm.exception)
                self.assertTrue(msg.startswith("flamewatch: invalid value for %s: " % where), msg)
                self.assertIn(text, msg)
        env = {"FLAMEWATCH_CPU_INTERVAL": "abc"}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            with self.assertRaises(ValueError) as cm:
                flamewatch.start(output=self.out)
            self.assertEqual(str(cm.exception), "flamewatch: invalid value for FLAMEWATCH_CPU_INTERVAL: "
                             "'abc' (expected an integer from 1 to 1000)")
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        self.assertFalse(flamewatch.start(output=self.out, enabled=False))
        self.assertFalse(flamewatch.is_running())

    def test_missing_libcurl_is_a_clear_error(self):
        """libcurl is loaded only when a server is set (common/fw_curl.c): a machine without it
        can still write files, and asking for uploads says what is missing."""
        libdir = fwtest.make_tmp(self)
        with open(os.path.join(libdir, "libcurl.so.4"), "w") as f:
            f.write("not a shared library\n")   # found first on LD_LIBRARY_PATH, fails to load
        env = {"LD_LIBRARY_PATH": libdir}
        res = self.run_api("""
try:
    flamewatch.start(app="nocurl", server="http://127.0.0.1:9")
    print(json.dumps({"error": None}))
except RuntimeError as exc:
    print(json.dumps({"error": str(exc), "running": flamewatch.is_running()}))
""", env=env)
        self.assertEqual(res.returncode, 0, res.describe())
        info = res.last_json()
        self.assertIsNotNone(info["error"], res.describe())
        self.assertIn("libcurl (libcurl.so.4) could not be loaded", info["error"])
        self.assertIn(libdir, info["error"])   # dlerror() names the file it tried
        self.assertFalse(info["running"])
        res = self.run_api("""
flamewatch.start(app="nocurl", output=OUT, upload_interval_s=0.3)
busy(0.3)
print(json.dumps({"path": flamewatch.stop()}))
""", env=env)
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertTrue(fwtest.profile_files(self.out), res.describe())

    def test_unsupported_interpreter_warns_once(self):
        env = {"FLAMEWATCH_RUN": "1", "FLAMEWATCH_OUTPUT": self.out,
               "PYTHONPATH": os.pathsep.join([fwtest.BOOTSTRAP, fwtest.PYTHONPATH])}
        found = 0
        for py, ver in ((PY38, "3.8"), (PY27, "2.7")):
            if not os.path.exists(py):
                continue
            found += 1
            with self.subTest(python=ver):
                res = fwtest.run_python("print('hello from %s')" % ver, python=py, env=env)
                self.assertEqual(res.returncode, 0, res.describe())
                self.assertEqual(res.stdout.strip(), "hello from %s" % ver)
                lines = res.stderr.splitlines()
                self.assertEqual(lines, ["flamewatch: warning: CPython %s is not supported "
                                         "(3.9-3.15 only); running without profiling" % ver],
                                 res.describe())
        self.assertTrue(found, "no unsupported interpreter (%s) to test with" % PY38)
        self.assertEqual(fwtest.profile_files(self.out), [])

    def test_cli_bootstrap_chains_sitecustomize(self):
        other = fwtest.make_tmp(self)
        with open(os.path.join(other, "sitecustomize.py"), "w") as f:
            f.write("import sys\nsys.stderr.write('other sitecustomize ran\\n')\n")
        res = fwtest.run_cli(["--app", "cli", "--output", self.out, "--upload-interval", "0.5"],
                             BUSY + "import flamewatch, os\nbusy(0.3)\n"
                             "print(flamewatch.is_running(), os.getpid())\n",
                             env={"PYTHONPATH": other})
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertIn("other sitecustomize ran", res.stderr)
        running, pid = res.stdout.split()
        self.assertEqual(running, "True", res.describe())
        files = fwtest.profile_files(self.out, int(pid))
        self.assertTrue(files, res.describe())
        self.assertEqual(fwtest.label_values(fwtest.convert(files), "app"), {"cli"})

    def rate(self, nthreads):
        # The wall profile is on, so every thread's stack is walked at every tick: the most work
        # a tick can have. Four threads compete for the GIL; the others wake up every 5 ms.
        res = self.run_api("""
import threading, time
N = %d
flamewatch.start(app="rate", output=OUT, upload_interval_s=1, wall=True)
stop = threading.Event()
def mixed(i):
    while not stop.is_set():
        if i < 4:
            busy(0.005)
        else:
            time.sleep(0.005)
ts = [threading.Thread(target=mixed, args=(i,)) for i in range(N - 1)]
for t in ts: t.start()
time.sleep(3.0)
st = flamewatch.stats()
stop.set()
for t in ts: t.join()
flamewatch.stop()
print(json.dumps(st))
""" % nthreads, timeout=90)
        self.assertEqual(res.returncode, 0, res.describe())
        st = res.last_json()
        achieved = st["ticks"] / float(st["expected_ticks"])
        sys.stderr.write("[rate] %d thread(s): %d/%d ticks (%.1f%%), %.1f us per stack\n"
                         % (nthreads, st["ticks"], st["expected_ticks"], 100 * achieved,
                            st["us_per_stack"]))
        self.assertGreater(st["expected_ticks"], 250)
        self.assertGreaterEqual(st["stacks_walked"], 0.5 * nthreads * st["ticks"])
        self.assertGreaterEqual(achieved, 0.95, st)

    def rate_twice(self, nthreads):
        # A rate is a measurement on a shared machine: one more try when another process took
        # the CPUs for a while. Both attempts are printed; a second failure fails the test.
        try:
            self.rate(nthreads)
        except AssertionError as exc:
            sys.stderr.write("[rate] retrying once: %s\n" % str(exc)[:200])
            self.rate(nthreads)

    def test_busy_thread_read_in_one_call(self):
        # On 3.11+ a thread whose data stack top stays put between ticks has its thread state,
        # frame pointer and top frames copied in one system call (fw_py_read_thread_hinted);
        # 3.9/3.10 keep their frames on the heap and read the thread state alone.
        res = self.run_api("""
flamewatch.start(app="reads", output=OUT)
busy(1.0)
st = flamewatch.stats()
flamewatch.stop()
print(json.dumps(st))
""")
        self.assertEqual(res.returncode, 0, res.describe())
        st = res.last_json()
        sys.stderr.write("[reads] %d of %d thread reads in one call\n"
                         % (st["thread_reads_one_call"], st["thread_reads"]))
        self.assertGreaterEqual(st["thread_reads"], 50, st)
        if sys.version_info >= (3, 11):
            self.assertGreaterEqual(st["thread_reads_one_call"], 0.8 * st["thread_reads"], st)
        else:
            self.assertEqual(st["thread_reads_one_call"], 0, st)

    def test_sampler_follows_busy_thread(self):
        # The sampler pins itself to the CPU of the GIL holder (agent/fw_cpu_follow.h), and gives
        # the pin up when it wakes up late: here the whole process is stopped for 0.3 s.
        if len(os.sched_getaffinity(0)) < 2:
            self.skipTest("one CPU: nothing to follow")   # not on CI's 2-core machine
        res = self.run_api("""
import signal, subprocess, time
def one_cpu_threads():
    found = []
    for tid in os.listdir("/proc/self/task"):
        try:
            with open("/proc/self/task/%s/status" % tid) as f:
                allowed = [l.split()[1] for l in f if l.startswith("Cpus_allowed_list")][0]
        except OSError:
            continue
        if "," not in allowed and "-" not in allowed:
            found.append(int(allowed))
    return found
flamewatch.start(app="follow", output=OUT)
# On a busy machine the sampler may itself wake up late and give the pin up for 1000 ticks (10 s)
# before it was seen pinned: keep the holder busy until it is seen pinned, for 15 s at most (at
# load 14 on 2 cores it wakes up late every 150 ms or so, and is pinned for 1-2 % of the time).
deadline = time.monotonic() + 15
while True:
    busy(0.2)
    pinned = flamewatch.stats(), one_cpu_threads()
    if (pinned[0]["cpu_moves"] >= 1 and len(pinned[1]) == 1) or time.monotonic() > deadline:
        break
subprocess.Popen([sys.executable, "-c",
                  "import os, signal, time; p=%d; os.kill(p, signal.SIGSTOP); time.sleep(0.3); "
                  "os.kill(p, signal.SIGCONT)" % os.getpid()]).wait()
busy(0.3)
released = flamewatch.stats(), one_cpu_threads()
flamewatch.stop()
print(json.dumps({"pinned": pinned, "released": released}))
""")
        self.assertEqual(res.returncode, 0, res.describe())
        out = res.last_json()
        st, one_cpu = out["pinned"]
        self.assertGreaterEqual(st["cpu_moves"], 1, st)
        self.assertEqual(len(one_cpu), 1, out)            # the sampler, and only it
        st, one_cpu = out["released"]
        self.assertGreaterEqual(st["late_ticks"], 10, st)
        self.assertGreaterEqual(st["cpu_releases"], 1, st)
        self.assertEqual(one_cpu, [], out)                # its original mask is back

    def test_rate_1_thread(self):
        self.rate_twice(1)

    def test_rate_50_threads(self):
        self.rate_twice(50)


if __name__ == "__main__":
    unittest.main()
