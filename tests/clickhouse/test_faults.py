"""Faults (issue 12, §3), flamewatch servers on one clickhouse-server (chserver.py):
- kill -9 of one flamewatch server during ingest: the other keeps acknowledging uploads, and a real
  agent (`flamewatch run`, writing its profiles to a folder too) that was sending to the killed one
  delivers everything once it is back on its address;
- ClickHouse down: uploads get 503 with a JSON error, the server stays up, and it works again when
  ClickHouse returns, without a restart; an agent queues through the outage and loses nothing;
- kill -9 of clickhouse-server during and after acknowledged uploads: nothing acknowledged is lost
  (stack values counted), at most the uploads in flight at the kill are extra.
Counts come from the agent's own files or the uploads' known totals, never from the server."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest

import chserver
from fwenv import ROOT, StickyServer, now, pprofgen

sys.path.insert(0, os.path.join(ROOT, "tests", "agent"))
import fwtest  # noqa: E402

# Busy for argv[2] seconds of CPU in one function, touching argv[1] once started; with argv[3], busy
# until that file exists too (the test decides when the outage is over).
WORKLOAD = r'''
import json, os, sys, time
import flamewatch
open(sys.argv[1], "w").close()
def work(seconds, until):
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end or (until and not os.path.exists(until)):
        for i in range(300):
            x += i * i
work(float(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
print(json.dumps(flamewatch.stats()))
'''


def per_file_totals(out_dir):
    """The CPU total of each profile file the agent wrote (each is one upload)."""
    return [fwtest.total(fwtest.convert([f], "cpu")) for f in fwtest.profile_files(out_dir)]


class Faults(unittest.TestCase):
    def setUp(self):
        self.ch = chserver.ClickHouse("faults").start()
        self.addCleanup(self.ch.cleanup)
        self.tmp = tempfile.mkdtemp(prefix="fw-faults-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def server(self):
        s = StickyServer(store=self.ch.url("faults"))
        self.addCleanup(s.cleanup)
        try:
            s.start()
        except Exception as exc:  # noqa: BLE001
            self.fail("flamewatch on ClickHouse did not start: %s" % exc)
        return s

    def agent(self, srv, app, seconds, until=None):
        """Starts a workload under the agent, sending to srv; returns (proc, out_dir) once it runs."""
        out_dir, ready = os.path.join(self.tmp, app), os.path.join(self.tmp, app + ".ready")
        cmd = [fwtest.FLAMEWATCH, "run", "--server", srv.url, "--app", app, "--output", out_dir,
               "--upload-interval", "0.3", "--", sys.executable, "-c", textwrap.dedent(WORKLOAD), ready, str(seconds)] + ([until] if until else [])
        proc = subprocess.Popen(cmd, env=fwtest.child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.communicate()))
        deadline = time.monotonic() + 60
        while not os.path.exists(ready):
            if proc.poll() is not None:
                self.fail("workload exited early: %r" % (proc.communicate(),))
            self.assertLess(time.monotonic(), deadline, "workload did not start")
            time.sleep(0.02)
        return proc, out_dir

    def finish(self, proc):
        out, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0, err.decode())
        return json.loads(out.decode().strip().splitlines()[-1]), err.decode()

    def rejected_by_store(self, srv):
        st, body, _ = srv.request("GET", "/metrics")
        for line in body.decode().splitlines():
            if line.startswith('flamewatch_uploads_rejected_total{reason="store"}'):
                return int(line.split()[-1])
        return 0

    def total(self, srv, app, frm):
        st, j = srv.flame(app, frm=str(frm), to=str(now() + 60))
        self.assertEqual(st, 200, j)
        return j["total"]

    def test_kill9_of_one_server_during_ingest(self):
        a, b = self.server(), self.server()
        t0 = (now() - 5) // 10 * 10   # a bucket start: uploads are kept by their 10 s bucket
        proc, out_dir = self.agent(a, "k9agent", 4.0)
        acked, stop = [], threading.Event()

        def upload_to_b():
            i = 0
            while not stop.is_set():
                # The same bytes again are distinct uploads here, so each names itself: a repeated
                # request would be a retry and stored once (docs/API.md, POST /ingest).
                st, body, _ = b.ingest("k9direct", ("main;f%d 3\n" % (i % 20)).encode(), "folded", uploadId="k9-%d" % i)
                acked.append(st)
                i += 1
                time.sleep(0.02)

        th = threading.Thread(target=upload_to_b)
        th.start()
        try:
            time.sleep(1.2)
            a.kill9()
            during = len(acked)
            # B serves uploads and queries while A is dead; the agent's uploads fail and are queued.
            st, j = b.flame("k9direct", frm=str(t0), to=str(now() + 60))
            self.assertEqual(st, 200, "%r; B's log: %s" % (j, b.logtext()[-1500:]))
            time.sleep(1.5)
            self.assertGreater(len(acked), during, "B acknowledged uploads while A was dead")
            a.start()                       # same address: the agent's retries land
            stats, err = self.finish(proc)
        finally:
            stop.set()
            th.join()
        self.assertEqual(set(acked), {200}, "every upload to B acknowledged")
        self.assertEqual(self.total(b, "k9direct", t0), len(acked) * 3 * 10_000_000, "B's uploads all stored")
        files = per_file_totals(out_dir)
        self.assertGreater(len(files), 5, "the agent made profiles before, during and after the kill")
        want = sum(files)
        got = self.total(b, "k9agent", t0)
        # None is missing, and the upload in flight when A died (maybe written, not acknowledged,
        # sent again) is stored once: retries carry the upload's id (store/clickhouse/fw_ch_batch.c).
        self.assertEqual(got, want, "agent wrote %d ns, servers hold %d (%s; %s)" % (want, got, stats, err))
        self.assertEqual(stats["profiles_dropped"], 0, stats)

    def test_clickhouse_down_gives_503_and_the_server_recovers(self):
        s = self.server()
        t0 = (now() - 5) // 10 * 10   # a bucket start: uploads are kept by their 10 s bucket
        st, body, _ = s.ingest("down", b"main;before 5\n", "folded")
        self.assertEqual(st, 200, body)
        done = os.path.join(self.tmp, "outage-over")
        proc, out_dir = self.agent(s, "downagent", 1.0, until=done)
        time.sleep(0.8)
        self.ch.stop()
        st, body, ctype = s.ingest("down", b"main;during 7\n", "folded")
        self.assertEqual(st, 503, body)
        self.assertTrue(ctype.startswith("application/json") and json.loads(body).get("error"), body)
        st, j = s.get_json("/healthz")
        self.assertEqual(st, 200, "the server process stays up and answers: %r" % j)
        st, j = s.flame("down", frm=str(t0), to=str(now() + 60))
        self.assertTrue(500 <= st <= 599 and j.get("error"), "a query without ClickHouse is a 5xx error: %r" % j)
        # The agent's own uploads meet the outage too (the server counts each 503 it gives).
        deadline = time.monotonic() + 30
        while self.rejected_by_store(s) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertGreaterEqual(self.rejected_by_store(s), 2, "the agent's upload got a 503")
        self.ch.start()
        deadline = time.monotonic() + 30
        while True:
            st, body, _ = s.ingest("down", b"main;after 11\n", "folded")
            if st == 200 or time.monotonic() > deadline:
                break
            self.assertEqual(st, 503, body)
            time.sleep(0.2)
        self.assertEqual(st, 200, "ingest works again within 30 s of ClickHouse's return: %r" % body)
        self.assertEqual(self.total(s, "down", t0), (5 + 11) * 10_000_000, "the refused upload is not stored")
        open(done, "w").close()
        stats, err = self.finish(proc)
        files = per_file_totals(out_dir)
        self.assertEqual(stats["profiles_dropped"], 0, stats)
        self.assertGreater(stats["upload_failures"], 0, "the agent did meet the outage: %s" % stats)
        # Nothing is lost. At most the one upload in flight when ClickHouse stopped is stored twice:
        # 18.16 has no transactions, so an insert can be written and still be answered with an
        # error (the server then says 503 and the agent sends it again).
        got, want = self.total(s, "downagent", t0), sum(files)
        self.assertTrue(want <= got <= want + max(files), "agent wrote %d ns in %d profiles, server holds %d (%s)"
                        % (want, len(files), got, err))

    def test_kill9_of_clickhouse_loses_no_acknowledged_upload(self):
        s = self.server()
        t0 = (now() - 5) // 10 * 10   # a bucket start: uploads are kept by their 10 s bucket
        acked, lock, stop = [], threading.Lock(), threading.Event()
        sizes = {}

        def uploader(k):
            i = 0
            while not stop.is_set() and i < 300:
                p, totals = pprofgen.realistic(40, seed=k * 1000 + i, time_ns=(now() - 2) * 10**9)
                sizes[k] = max(sizes.get(k, 0), totals[0])
                try:
                    st, _, _ = s.ingest("chk9", p.encode(), "pprof")
                except OSError:
                    st = None
                if st == 200:
                    with lock:
                        acked.append(totals[0])
                i += 1

        threads = [threading.Thread(target=uploader, args=(k,)) for k in range(4)]
        for th in threads:
            th.start()
        deadline = time.monotonic() + 60
        while len(acked) < 12 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.ch.kill9()                     # in the middle of the uploads
        stop.set()
        for th in threads:
            th.join()
        n_before = len(acked)
        self.assertGreater(n_before, 10, "uploads were acknowledged before the kill")
        self.ch.start()
        deadline = time.monotonic() + 30
        while s.flame("chk9", frm=str(t0), to=str(now() + 60))[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        got = self.total(s, "chk9", t0)
        want = sum(acked)
        self.assertTrue(want <= got <= want + sum(sizes.values()),
                        "acknowledged %d ns in %d uploads, stored %d (at most the 4 in flight may be extra)"
                        % (want, n_before, got))
        # And after a clean acknowledged batch, a kill -9 loses nothing at all.
        more = 0
        for i in range(10):
            p, totals = pprofgen.realistic(40, seed=90000 + i, time_ns=(now() - 2) * 10**9)
            st, body, _ = s.ingest("chk9b", p.encode(), "pprof")
            self.assertEqual(st, 200, body)
            more += totals[0]
        self.ch.kill9()
        self.ch.start()
        deadline = time.monotonic() + 30
        while s.flame("chk9b", frm=str(t0), to=str(now() + 60))[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(self.total(s, "chk9b", t0), more)


if __name__ == "__main__":
    unittest.main()
