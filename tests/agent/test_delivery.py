"""Delivery to a real server (tests/agent/fwserver.py starts one on a free 127.0.0.1 port).

  * the CPU shares the server reports match the workload's own time.thread_time per function;
  * an outage: the server stops mid-run and comes back; with a queue large enough nothing is lost,
    with a small one the oldest profiles are dropped, counted, reported, and logged once;
  * after an outage the agent notices the server's return within a probe interval (not at the end
    of a backoff of up to a minute) and drains its queue at once; the default queue (bounded by
    bytes) drops nothing over a long outage; the dropped count reaches the server exactly;
  * remote settings switch the CPU profile off and on in a running program, and the memory
    profiler on, off, to another threshold, and with the master switch;
  * the last profile is delivered at exit and on SIGTERM, and exit is never held up long when the
    server is away.
Workloads gate their phases on files the test creates, so no test depends on sleeps lining up.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import unittest

import fwserver
import fwtest

PHASES = r'''
import json, os, sys, time
import flamewatch

def busy(seconds):
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        for i in range(300):
            x += i * i
    return x

def wait_file(path, timeout=60):
    end = time.time() + timeout
    while not os.path.exists(path):
        if time.time() > end:
            raise SystemExit("timed out waiting for " + path)
        time.sleep(0.02)

def touch(path):
    open(path, "w").close()

truth = {}
def timed(fn, *args):
    t0 = time.thread_time()
    fn(*args)
    truth[fn.__name__] = truth.get(fn.__name__, 0.0) + time.thread_time() - t0
'''


def _popen_cli(flags, code, env):
    cmd = [fwtest.FLAMEWATCH, "run"] + flags + ["--", sys.executable, "-c", textwrap.dedent(code)]
    return subprocess.Popen(cmd, env=fwtest.child_env(env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _wait_path(proc, path, timeout=60):
    end = time.time() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None:
            raise AssertionError("workload exited early: %s" % proc.communicate()[1].decode())
        if time.time() > end:
            proc.kill()
            raise AssertionError("timed out waiting for %s" % path)
        time.sleep(0.02)


def _finish(proc, timeout=90):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError("workload hung: %s" % err.decode())
    return proc.returncode, out.decode(), err.decode()


def _last_json(text):
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise AssertionError("no JSON in: %s" % text)


class DeliveryTest(unittest.TestCase):
    def setUp(self):
        self.srv = fwserver.start(self)
        self.tmp = fwtest.make_tmp(self, "fw-deliv-")

    def test_cpu_shares_match_ground_truth(self):
        code = PHASES + r'''
def alpha(): busy(0.05)
def beta(): busy(0.03)
def gamma(): busy(0.02)
end = time.time() + 4
while time.time() < end:
    timed(alpha); timed(beta); timed(gamma)
print(json.dumps(truth))
'''
        res = fwtest.run_cli(["--server", self.srv.url, "--app", "shares", "--upload-interval", "1"],
                             code, timeout=60)
        self.assertEqual(res.returncode, 0, res.describe())
        truth = res.last_json()
        got = self.srv.self_by_function("shares")
        names = ("alpha", "beta", "gamma")
        # `busy` is what runs; the frame under it says which phase. Use totals of the callers.
        rows = {r["name"]: r["total"] for r in self.srv.table("shares")["rows"]}
        tot_truth = sum(truth[n] for n in names)
        tot_got = sum(rows.get(n, 0) for n in names)
        self.assertGreater(tot_got, 0, "no data on the server: %s %s" % (rows, got))
        for n in names:
            share_truth = 100.0 * truth[n] / tot_truth
            share_got = 100.0 * rows.get(n, 0) / tot_got
            self.assertLess(abs(share_truth - share_got), 3.0,
                            "%s: %.1f%% on the server, %.1f%% by thread_time (%s vs %s)"
                            % (n, share_got, share_truth, rows, truth))
        # And the absolute CPU arrived: within 10% of the ground truth.
        self.assertLess(abs(tot_got / 1e9 - tot_truth), 0.1 * tot_truth, (tot_got, tot_truth))

    def _outage_run(self, queue):
        a, b = os.path.join(self.tmp, "a-%d" % queue), os.path.join(self.tmp, "b-%d" % queue)
        app = "outage%d" % queue
        code = PHASES + r'''
def before(): busy(1.0)
def during():
    while not os.path.exists(sys.argv[2]):
        busy(0.02)
def after(): busy(1.0)
timed(before)
touch(sys.argv[1])
timed(during)
timed(after)
truth["stats"] = flamewatch.stats()
print(json.dumps(truth))
'''
        code += "\n"
        cmd = [fwtest.FLAMEWATCH, "run", "--server", self.srv.url, "--app", app,
               "--upload-interval", "0.25", "--", sys.executable, "-c", textwrap.dedent(code), a, b]
        proc = subprocess.Popen(cmd, env=fwtest.child_env({"FLAMEWATCH_UPLOAD_QUEUE": str(queue)}),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _wait_path(proc, a)
        time.sleep(0.6)             # the last profiles of `before` go out
        self.srv.stop()
        time.sleep(2.5)             # ~10 profiles are made while the server is away
        self.srv.restart()
        open(b, "w").close()
        rc, out, err = _finish(proc)
        self.assertEqual(rc, 0, err)
        return _last_json(out), err, app

    def test_outage_large_queue_loses_nothing(self):
        truth, err, app = self._outage_run(queue=100)
        stats = truth["stats"]
        self.assertEqual(stats["profiles_dropped"], 0, stats)
        rows = {r["name"]: r["total"] for r in self.srv.table(app)["rows"]}
        for phase in ("before", "during", "after"):
            self.assertIn(phase, rows, rows)
            self.assertLess(abs(rows[phase] / 1e9 - truth[phase]), 0.1 * truth[phase] + 0.05,
                            "%s: %.2fs on the server, %.2fs by thread_time" % (
                                phase, rows[phase] / 1e9, truth[phase]))
        self.assertEqual(err.count("cannot deliver profiles"), 1, err)

    def test_outage_small_queue_drops_oldest_and_says_so(self):
        truth, err, app = self._outage_run(queue=2)
        stats = truth["stats"]
        self.assertGreater(stats["profiles_dropped"], 0, stats)
        self.assertLessEqual(stats["upload_queued"], 2, stats)
        rows = {r["name"]: r["total"] for r in self.srv.table(app)["rows"]}
        # After the restart data arrives again (at the latest with the final profile; until the
        # backoff's next attempt the two-profile queue keeps dropping the oldest).
        self.assertGreater(rows.get("after", 0), 0, rows)
        # `during` lost its oldest profiles: less arrived than was spent.
        self.assertLess(rows.get("during", 0) / 1e9, truth["during"] * 0.9, (rows, truth))
        # One warning for the incident, one line for the recovery with the count.
        self.assertEqual(err.count("cannot deliver profiles"), 1, err)
        self.assertRegex(err, r"delivered to .* again; [1-9][0-9]* profile\(s\) dropped meanwhile")

    def test_queue_drains_at_once_when_the_server_returns(self):
        # A 22 s outage at a 1 s upload interval: 22+ profiles wait (the old count limit of 20
        # dropped some), and the backoff has grown to 16 s windows; the /healthz probe must
        # resume deliveries within a few seconds of the server's return anyway.
        a, b = os.path.join(self.tmp, "a"), os.path.join(self.tmp, "b")
        code = PHASES + r"""
def before(): busy(1.0)
def during():
    while not os.path.exists(sys.argv[2]):
        busy(0.02)
def after(): busy(1.0)
timed(before)
touch(sys.argv[1])
timed(during)
back = time.monotonic()
delivered = flamewatch.stats()["uploads"]
while True:
    st = flamewatch.stats()
    if st["upload_queued"] == 0 and st["uploads"] > delivered:
        break
    if time.monotonic() - back > 60:
        break
    time.sleep(0.02)
truth["drain_s"] = time.monotonic() - back
truth["drained"] = st
timed(after)
truth["stats"] = flamewatch.stats()
print(json.dumps(truth))
"""
        cmd = [fwtest.FLAMEWATCH, "run", "--server", self.srv.url, "--app", "resume",
               "--upload-interval", "1", "--", sys.executable, "-c", textwrap.dedent(code), a, b]
        proc = subprocess.Popen(cmd, env=fwtest.child_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        _wait_path(proc, a)
        time.sleep(1.2)             # the profile of `before` goes out
        self.srv.stop()
        time.sleep(22)
        self.srv.restart()
        open(b, "w").close()
        rc, out, err = _finish(proc)
        self.assertEqual(rc, 0, err)
        truth = _last_json(out)
        drained = truth["drained"]
        self.assertGreaterEqual(drained["upload_failures"], 1, drained)
        self.assertLess(truth["drain_s"], 5.0, truth)
        self.assertEqual(truth["stats"]["profiles_dropped"], 0, truth["stats"])
        rows = {r["name"]: r["total"] for r in self.srv.table("resume")["rows"]}
        for phase in ("before", "during", "after"):
            self.assertLess(abs(rows.get(phase, 0) / 1e9 - truth[phase]), 0.1 * truth[phase] + 0.05,
                            "%s: %.2fs on the server, %.2fs by thread_time" % (
                                phase, rows.get(phase, 0) / 1e9, truth[phase]))

    def test_dropped_count_is_exact_in_stats_and_on_the_server(self):
        a, b = os.path.join(self.tmp, "a"), os.path.join(self.tmp, "b")
        code = PHASES + r"""
def during():
    while not os.path.exists(sys.argv[2]):
        busy(0.02)
busy(0.3)
touch(sys.argv[1])
during()
end = time.monotonic() + 30
while flamewatch.stats()["upload_queued"] and time.monotonic() < end:
    time.sleep(0.02)
# Every profile built was delivered, dropped or is still queued (read until the worker is not
# between queueing a profile and counting it).
for _ in range(100):
    st = flamewatch.stats()
    if st["profiles_built"] == st["uploads"] + st["profiles_dropped"] + st["upload_queued"]:
        break
    time.sleep(0.01)
print(json.dumps(st))
"""
        cmd = [fwtest.FLAMEWATCH, "run", "--server", self.srv.url, "--app", "dropcount",
               "--upload-interval", "0.25", "--", sys.executable, "-c", textwrap.dedent(code), a, b]
        proc = subprocess.Popen(cmd, env=fwtest.child_env({"FLAMEWATCH_UPLOAD_QUEUE": "3"}),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _wait_path(proc, a)
        self.srv.stop()
        time.sleep(3)               # ~12 profiles for a queue of 3
        self.srv.restart()
        open(b, "w").close()
        rc, out, err = _finish(proc)
        self.assertEqual(rc, 0, err)
        st = _last_json(out)
        self.assertGreater(st["profiles_dropped"], 3, st)
        self.assertEqual(st["profiles_built"],
                         st["uploads"] + st["profiles_dropped"] + st["upload_queued"], st)
        # The server was up from the stats() call to the exit: nothing more was dropped, and the
        # count each delivery carried (dropped=N) adds up to the agent's own.
        self.assertEqual(self.srv.metric("flamewatch_agent_profiles_dropped_total"),
                         st["profiles_dropped"], (st, err))
        self.assertRegex(err, r"delivered to .* again; [1-9][0-9]* profile\(s\) dropped meanwhile")

    def test_a_server_that_answers_errors_is_paced_by_the_backoff_not_probed(self):
        # /healthz is fine but /ingest answers 500: the server is up and refusing, so probing
        # would only turn the backoff into one upload per probe interval. No probe is made, and
        # the attempts follow the backoff (at 0, >= 0.5, >= 1.5, >= 3.5 s: at most 4 in 3.4 s).
        import http.server
        import threading
        seen = {"healthz": 0, "ingest": 0}

        class Stub(http.server.BaseHTTPRequestHandler):
            def _answer(self, status, body):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path.startswith("/healthz"):
                    seen["healthz"] += 1
                    self._answer(200, b'{"status": "ok"}')
                else:
                    self._answer(200, b'{"enabled": true, "cpu": true, "cpu_interval_ms": 10, '
                                      b'"wall": false, "memory": false, "memory_threshold_kb": 1024, '
                                      b'"updated_at": 0}')

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                seen["ingest"] += 1
                self._answer(500, b'{"error": "storing samples: disk full"}')

            def log_message(self, *args):
                pass

        stub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub)
        threading.Thread(target=stub.serve_forever, daemon=True).start()
        self.addCleanup(stub.server_close)
        self.addCleanup(stub.shutdown)
        code = PHASES + r"""
t0 = time.monotonic()
while flamewatch.stats()["upload_attempts"] == 0 and time.monotonic() - t0 < 10:
    busy(0.02)
t1 = time.monotonic()
while time.monotonic() - t1 < 3.4:
    busy(0.02)
print(json.dumps(flamewatch.stats()))
"""
        res = fwtest.run_cli(["--server", "http://127.0.0.1:%d" % stub.server_address[1],
                              "--app", "refusing", "--upload-interval", "0.25"], code, timeout=60)
        self.assertEqual(res.returncode, 0, res.describe())
        stats = res.last_json()
        self.assertGreaterEqual(stats["upload_attempts"], 2, stats)
        self.assertLessEqual(stats["upload_attempts"], 4, stats)
        self.assertEqual(seen["healthz"], 0, seen)

    def test_server_refuses_a_bad_dropped_count(self):
        import urllib.error
        import urllib.request
        url = "%s/ingest?name=badcount&format=folded&dropped=%s"
        for bad in ("abc", "-1", "1e3", "10000000000000", ""):
            req = urllib.request.Request(url % (self.srv.url, bad), data=b"main;work 5\n",
                                         method="POST")
            with self.assertRaises(urllib.error.HTTPError) as ctx:
                urllib.request.urlopen(req, timeout=30)
            self.assertEqual(ctx.exception.code, 400, bad)
            self.assertIn("dropped", json.loads(ctx.exception.read().decode())["error"], bad)
        self.assertEqual(self.srv.metric("flamewatch_agent_profiles_dropped_total"), 0)
        req = urllib.request.Request(url % (self.srv.url, "7"), data=b"main;work 5\n", method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            self.assertEqual(r.status, 200)
        self.assertEqual(self.srv.metric("flamewatch_agent_profiles_dropped_total"), 7)
        # Only the accepted upload was stored.
        self.assertEqual(self.srv.trend_total("badcount"), 5 * 10**9 // 100)

    def test_remote_settings_switch_cpu_off_and_on(self):
        a, b = os.path.join(self.tmp, "a"), os.path.join(self.tmp, "b")
        code = PHASES + r'''
def wait_cpu(flag):
    end = time.time() + 30
    while flamewatch.stats()["cpu"] is not flag:
        if time.time() > end:
            raise SystemExit("settings never arrived")
        time.sleep(0.05)
def on_first(): busy(1.0)
def off_phase(): busy(1.0)
def on_again(): busy(1.0)
timed(on_first)
touch(sys.argv[1])
wait_cpu(False)
timed(off_phase)
touch(sys.argv[2])
wait_cpu(True)
timed(on_again)
truth["stats"] = flamewatch.stats()
print(json.dumps(truth))
'''
        cmd = [fwtest.FLAMEWATCH, "run", "--server", self.srv.url, "--app", "remote",
               "--upload-interval", "0.5", "--", sys.executable, "-c", textwrap.dedent(code), a, b]
        proc = subprocess.Popen(cmd, env=fwtest.child_env({"FLAMEWATCH_SETTINGS_INTERVAL": "0.3"}),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _wait_path(proc, a)
        self.srv.put_settings("remote", cpu=False)
        _wait_path(proc, b)
        settings = self.srv.put_settings("remote", cpu=True)
        rc, out, err = _finish(proc)
        self.assertEqual(rc, 0, err)
        truth = _last_json(out)
        rows = {r["name"]: r["total"] for r in self.srv.table("remote")["rows"]}
        self.assertGreater(rows.get("on_first", 0), 0.8e9, rows)
        self.assertGreater(rows.get("on_again", 0), 0.8e9, rows)
        self.assertLess(rows.get("off_phase", 0), 0.1e9, rows)
        self.assertGreaterEqual(truth["stats"]["settings_applied"], 2, truth["stats"])
        # The server knows this agent fetched the settings.
        agents = self.srv.get("/api/v1/apps/remote/settings")["agents"]
        self.assertTrue(any(ag["pid"] == truth["stats"]["pid"] for ag in agents), (agents, settings))

    def test_bad_remote_settings_are_ignored_with_one_line(self):
        # The real server validates what it stores, so a stub answers with broken settings.
        import http.server
        import threading

        class Stub(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = b'{"enabled": true, "cpu": "maybe", "cpu_interval_ms": 5000}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        stub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub)
        threading.Thread(target=stub.serve_forever, daemon=True).start()
        self.addCleanup(stub.server_close)
        self.addCleanup(stub.shutdown)
        code = PHASES + r'''
end = time.time() + 10
while flamewatch.stats()["settings_invalid"] < 3 and time.time() < end:
    time.sleep(0.05)
print(json.dumps(flamewatch.stats()))
'''
        res = fwtest.run_cli(["--server", "http://127.0.0.1:%d" % stub.server_address[1],
                              "--app", "badset"], code,
                             env={"FLAMEWATCH_SETTINGS_INTERVAL": "0.1"}, timeout=60)
        self.assertEqual(res.returncode, 0, res.describe())
        stats = res.last_json()
        self.assertGreaterEqual(stats["settings_invalid"], 3, stats)
        self.assertTrue(stats["cpu"] and stats["cpu_interval_ms"] == 10, stats)
        self.assertEqual(res.stderr.count("ignoring the server's settings"), 1, res.stderr)

    def test_settings_stored_before_start_apply_at_once(self):
        self.srv.put_settings("goodset", cpu_interval_ms=20)
        code = PHASES + r'''
end = time.time() + 10
while flamewatch.stats()["cpu_interval_ms"] != 20 and time.time() < end:
    time.sleep(0.05)
print(json.dumps(flamewatch.stats()))
'''
        res = fwtest.run_cli(["--server", self.srv.url, "--app", "goodset"], code,
                             env={"FLAMEWATCH_SETTINGS_INTERVAL": "0.2"}, timeout=60)
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertEqual(res.last_json()["cpu_interval_ms"], 20)

    def test_sigterm_delivers_the_last_profile(self):
        ready = os.path.join(self.tmp, "ready")
        code = PHASES + r'''
def final_burst(): busy(0.8)
final_burst()
touch(sys.argv[1])
while True:
    time.sleep(0.1)
'''
        cmd = [fwtest.FLAMEWATCH, "run", "--server", self.srv.url, "--app", "sigterm",
               "--upload-interval", "60", "--", sys.executable, "-c", textwrap.dedent(code), ready]
        proc = subprocess.Popen(cmd, env=fwtest.child_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        _wait_path(proc, ready)
        t0 = time.time()
        proc.send_signal(signal.SIGTERM)
        rc, _, err = _finish(proc, timeout=20)
        self.assertEqual(rc, -signal.SIGTERM, err)
        self.assertLess(time.time() - t0, 4.0)
        rows = {r["name"]: r["total"] for r in self.srv.table("sigterm")["rows"]}
        self.assertGreater(rows.get("final_burst", 0), 0.6e9, (rows, err))

    def test_exit_is_not_held_up_by_an_absent_server(self):
        self.srv.stop()
        code = PHASES + "busy(0.3)\n"
        t0 = time.time()
        res = fwtest.run_cli(["--server", self.srv.url, "--app", "absent", "--upload-interval", "60"],
                             code, timeout=30)
        elapsed = time.time() - t0
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertLess(elapsed, 5.0, res.describe())
        self.assertIn("not delivered at exit", res.stderr)
        self.assertEqual(res.stderr.count("flamewatch:"), 1, res.stderr)   # one line, no noise

    def test_static_tags_and_automatic_labels_reach_the_server(self):
        code = PHASES + "busy(0.5)\nprint(json.dumps({'pid': os.getpid()}))\n"
        res = fwtest.run_cli(["--server", self.srv.url, "--app", "labelled", "--tag", "team=web",
                              "--upload-interval", "60"], code, env={"FLAMEWATCH_TAGS": "region=eu"})
        self.assertEqual(res.returncode, 0, res.describe())
        labels = self.srv.labels("labelled")
        self.assertEqual(labels.get("team"), {"web"}, labels)
        self.assertEqual(labels.get("region"), {"eu"}, labels)
        self.assertEqual(labels.get("pid"), {str(res.last_json()["pid"])}, labels)
        for key in ("host_ip", "hostname", "app", "thread_name", "thread_group"):
            self.assertIn(key, labels)

    def test_server_and_output_together(self):
        out = os.path.join(self.tmp, "files")
        code = PHASES + "busy(0.4)\n"
        res = fwtest.run_cli(["--server", self.srv.url, "--output", out, "--app", "both",
                              "--upload-interval", "60"], code)
        self.assertEqual(res.returncode, 0, res.describe())
        files = fwtest.profile_files(out)
        self.assertEqual(len(files), 1)
        on_disk = fwtest.total(fwtest.convert(files))
        on_server = self.srv.trend_total("both")
        self.assertEqual(on_disk, on_server)


MEMORY_PHASES = PHASES + r'''
from flamewatch import _agent

BLOCK = 65536
def allocate(n):
    # n buffers of BLOCK bytes (a bytearray asks for BLOCK + 1), each freed at once.
    for _ in range(n):
        b = bytearray(BLOCK)
        del b
    return n * (BLOCK + 1)

def wait_memory(**want):
    end = time.time() + 30
    while True:
        st = _agent.memory_stats()
        if all(st[k] == v for k, v in want.items()):
            return st
        if time.time() > end:
            raise SystemExit("memory profiler never reached %r: %r" % (want, st))
        time.sleep(0.02)

truth = {}
def phase(fn, n):
    truth[fn.__name__] = truth.get(fn.__name__, 0) + fn(n)
'''


class RemoteMemorySettingsTest(unittest.TestCase):
    """Remote settings reach the memory profiler of a running agent: on (which installs the
    allocator hooks: the worker does it with the GIL), the threshold, off (hooks removed), and
    the master switch. Each phase allocates a known number of bytes; the server's alloc_space
    for it must be that number (within 15%) when the profiler was on, and nothing when off. At
    64 KB, a 64 KiB block is sampled with p = 0.63 and weighs s/p: 2000 blocks give a relative
    standard error of sqrt((1-p)/p/2000) = 1.7%, so 15% is more than 8 standard errors."""
    N = 2000

    def setUp(self):
        self.srv = fwserver.start(self)
        self.tmp = fwtest.make_tmp(self, "fw-remmem-")

    def run_phases(self, app, flags, code, steps):
        """Runs `code` (file names as argv); before step i's file appears, put_settings(i)."""
        paths = [os.path.join(self.tmp, "%s-%d" % (app, i)) for i in range(len(steps))]
        cmd = [fwtest.FLAMEWATCH, "run", "--server", self.srv.url, "--app", app, "--no-cpu",
               "--upload-interval", "0.5"] + flags + ["--", sys.executable, "-c",
                                                      textwrap.dedent(code)] + paths
        proc = subprocess.Popen(cmd, env=fwtest.child_env({"FLAMEWATCH_SETTINGS_INTERVAL": "0.2"}),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for path, settings in zip(paths, steps):
            _wait_path(proc, path + ".ready")
            self.srv.put_settings(app, **settings)
            open(path, "w").close()
        rc, out, err = _finish(proc)
        self.assertEqual(rc, 0, err)
        return _last_json(out), err

    def alloc_by_function(self, app):
        return {r["name"]: r["total"] for r in self.srv.table(app, "alloc_space")["rows"]}

    def assert_measured(self, got, want, name):
        self.assertGreater(got.get(name, 0), 0.85 * want, (name, want, got))
        self.assertLess(got.get(name, 0), 1.15 * want, (name, want, got))

    def test_remote_settings_switch_memory_on_and_off(self):
        code = MEMORY_PHASES + r'''
def before(n): return allocate(n)
def during(n): return allocate(n)
def after(n): return allocate(n)
N = %d
assert not _agent.memory_stats()["installed"]
phase(before, N)
touch(sys.argv[1] + ".ready"); wait_file(sys.argv[1])
truth["on"] = wait_memory(sampling=True, installed=True, threshold_bytes=64 * 1024)
phase(during, N)
st = _agent.memory_stats()
truth["sampled"], truth["direct"] = st["samples"], st["direct"]
touch(sys.argv[2] + ".ready"); wait_file(sys.argv[2])
truth["off"] = wait_memory(sampling=False, installed=False)
phase(after, N)
truth["stats"] = flamewatch.stats()
print(json.dumps(truth))
''' % self.N
        truth, err = self.run_phases("remmem", [], code, [
            {"memory": True, "memory_threshold_kb": 64}, {"memory": False}])
        got = self.alloc_by_function("remmem")
        self.assert_measured(got, truth["during"], "during")
        self.assertNotIn("before", got)   # the hooks were not installed yet
        self.assertNotIn("after", got)    # the hooks were removed
        self.assertGreater(truth["sampled"], self.N / 2, truth)
        # Samples taken in the allocating thread while it held the GIL read its own frames
        # directly (no process_vm_readv): all of this workload's.
        self.assertGreater(truth["direct"], self.N / 2, truth)
        self.assertFalse(truth["stats"]["memory"], truth["stats"])
        self.assertNotIn("Traceback", err)

    def test_master_switch_pauses_and_resumes_memory(self):
        code = MEMORY_PHASES + r'''
def on_first(n): return allocate(n)
def switched_off(n): return allocate(n)
def on_again(n): return allocate(n)
N = %d
wait_memory(sampling=True, installed=True)
phase(on_first, N)
touch(sys.argv[1] + ".ready"); wait_file(sys.argv[1])
truth["off"] = wait_memory(sampling=False, installed=False)
truth["off_stats"] = flamewatch.stats()
phase(switched_off, N)
touch(sys.argv[2] + ".ready"); wait_file(sys.argv[2])
truth["on"] = wait_memory(sampling=True, installed=True, threshold_bytes=64 * 1024)
phase(on_again, N)
print(json.dumps(truth))
''' % self.N
        truth, _ = self.run_phases("master", ["--memory", "--memory-threshold", "64"], code, [
            {"enabled": False, "memory": True, "memory_threshold_kb": 64},
            {"enabled": True, "memory": True, "memory_threshold_kb": 64}])
        got = self.alloc_by_function("master")
        self.assert_measured(got, truth["on_first"], "on_first")
        self.assert_measured(got, truth["on_again"], "on_again")
        self.assertNotIn("switched_off", got)
        self.assertFalse(truth["off_stats"]["enabled"], truth["off_stats"])
        self.assertTrue(truth["off_stats"]["memory"], truth["off_stats"])

    def test_threshold_change_reaches_a_running_profiler(self):
        code = MEMORY_PHASES + r'''
def coarse(n): return allocate(n)
def fine(n): return allocate(n)
def warmup(n): return allocate(n)
N = %d
st = wait_memory(sampling=True, threshold_bytes=4096 * 1024)
phase(coarse, N)
truth["coarse_samples"] = _agent.memory_stats()["samples"] - st["samples"]
touch(sys.argv[1] + ".ready"); wait_file(sys.argv[1])
wait_memory(sampling=True, threshold_bytes=16 * 1024)
# A thread's countdown drawn under the old threshold runs out before the new one applies
# (unbiased, see fw_mem_hooks.c): its remainder is Exp(4 MiB), so after 40 MiB it is gone
# but with probability e^-10.
warmup(640)
st = _agent.memory_stats()
phase(fine, N)
truth["fine_samples"] = _agent.memory_stats()["samples"] - st["samples"]
print(json.dumps(truth))
''' % self.N
        truth, _ = self.run_phases("thresh", ["--memory", "--memory-threshold", "4096"], code, [
            {"memory": True, "memory_threshold_kb": 16}])
        # Expected samples: N * p(64 KiB): 2000 * 0.016 = 32 at 4096 KB, 2000 * 0.98 at 16 KB.
        self.assertLess(truth["coarse_samples"], 100, truth)
        self.assertGreater(truth["fine_samples"], 1800, truth)
        got = self.alloc_by_function("thresh")
        self.assert_measured(got, truth["fine"], "fine")

if __name__ == "__main__":
    unittest.main()
