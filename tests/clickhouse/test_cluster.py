"""Cluster (issue 12, §3): two clickhouse-server processes as the two shards of cluster "fw" and two
flamewatch servers on the same `clickhouse://...?cluster=fw` URL. What one server acknowledged, the
other answers completely; a setting saved through one reaches an agent that polls the other; the
agents list is shared; the data is spread over both shards.

The agent is the real one (`flamewatch run`, build/python), writing its profiles to a folder as
well as uploading them: the files are the ground truth the servers' answers are checked against."""
import json
import os
import subprocess
import sys
import tempfile
import shutil
import textwrap
import time
import unittest

import chserver
from fwenv import ROOT, Server, now, pprofgen, without_sql

sys.path.insert(0, os.path.join(ROOT, "tests", "agent"))
import fwtest  # noqa: E402

WORKLOAD = r'''
import json, os, sys, time
import flamewatch

def busy(seconds):
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        for i in range(300):
            x += i * i
    return x

def alpha(): busy(0.8)
def beta(): busy(0.4)
alpha()
beta()
print(json.dumps(flamewatch.stats()))
'''

SETTINGS_WORKLOAD = r'''
import json, os, sys, time
import flamewatch

end = time.time() + 60
open(sys.argv[1], "w").close()
while not (flamewatch.stats().get("wall") is True and flamewatch.stats().get("cpu_interval_ms") == 37):
    if time.time() > end:
        raise SystemExit("settings never arrived: %r" % flamewatch.stats())
    time.sleep(0.05)
print(json.dumps(flamewatch.stats()))
'''


def active_rows(node, db):
    """Rows in the active parts of every table of database `db` on one ClickHouse node."""
    return int(node.scalar("SELECT sum(rows) FROM system.parts WHERE database = '%s' AND active" % db) or 0)


class Cluster(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cl = chserver.ClickHouseCluster(shards=2).start()
        cls.url = cls.cl.url("fwc")
        cls.a = Server(store=cls.url)
        cls.b = Server(store=cls.url)
        cls.error = None
        try:
            cls.a.start()
            cls.b.start()
        except Exception as exc:  # noqa: BLE001: reported by each test
            cls.error = "flamewatch on the ClickHouse cluster did not start: %s" % exc

    @classmethod
    def tearDownClass(cls):
        cls.a.cleanup()
        cls.b.cleanup()
        cls.cl.cleanup()

    def setUp(self):
        if self.error:
            self.fail(self.error)
        self.tmp = tempfile.mkdtemp(prefix="fw-cluster-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def run_agent(self, server, app, code, args=(), env=None, wait_for=None, during=None):
        out_dir = os.path.join(self.tmp, app)
        cmd = [fwtest.FLAMEWATCH, "run", "--server", server.url, "--app", app, "--output", out_dir,
               "--upload-interval", "0.3", "--", sys.executable, "-c", textwrap.dedent(code)] + list(args)
        proc = subprocess.Popen(cmd, env=fwtest.child_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            if wait_for:
                deadline = time.monotonic() + 60
                while not os.path.exists(wait_for):
                    if proc.poll() is not None:
                        self.fail("workload exited early: %r" % (proc.communicate(),))
                    self.assertLess(time.monotonic(), deadline, "workload did not start")
                    time.sleep(0.02)
                during()
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        self.assertEqual(proc.returncode, 0, err.decode())
        stats = json.loads(out.decode().strip().splitlines()[-1])
        return out_dir, stats

    def test_agent_uploads_through_one_server_and_the_other_answers_completely(self):
        out_dir, stats = self.run_agent(self.a, "clu", WORKLOAD)
        truth = fwtest.convert_all(out_dir, "cpu")
        want = fwtest.total(truth)
        self.assertGreater(want, 0.8e9, "the agent profiled the workload")
        # Every profile the agent wrote was acknowledged by server A before the agent exited (the
        # exit flush), so server B must have all of it at once.
        params = {"app": "clu", "type": "cpu", "from": str(now() - 3600), "to": str(now() + 60), "maxNodes": "100000"}
        st, fb = self.b.get_json("/api/v1/flamegraph", **params)
        self.assertEqual(st, 200, fb)
        self.assertEqual(fb["total"], want, "server B has every stack value the agent wrote (%s)" % stats)
        st, tb = self.b.get_json("/api/v1/table", app="clu", type="cpu", **{"from": params["from"]}, to=params["to"])
        rows = {r["name"]: r["total"] for r in tb["rows"]}
        self.assertGreater(rows.get("alpha", 0), rows.get("beta", 0), rows)
        self.assertGreater(rows.get("beta", 0), 0, rows)
        st, fa = self.a.get_json("/api/v1/flamegraph", **params)
        self.assertEqual(without_sql(fa), without_sql(fb), "both servers give the same answer")
        st, apps = self.b.get_json("/api/v1/apps")
        self.assertIn("clu", [x["name"] for x in apps["apps"]])

    def test_uploads_spread_over_both_shards_and_every_one_is_answered(self):
        t = now() - 120
        want = 0
        for i in range(24):
            p, totals = pprofgen.realistic(80, seed=500 + i, time_ns=(t + i) * 10**9,
                                           labels={"thread_name": "w%d" % (i % 3), "thread_group": "w"})
            st, body, _ = self.a.ingest("spread{env=e%d}" % (i % 2), p.encode(), "pprof",
                                        **{"from": t + i, "until": t + i + 1})
            self.assertEqual(st, 200, body)
            want += totals[0]
        st, j = self.b.flame("spread", frm=str(t - 3600), to=str(now() + 60))
        self.assertEqual((st, j["total"]), (200, want))
        st, tr = self.b.get_json("/api/v1/trend", app="spread", type="cpu", **{"from": t - 3600}, to=now() + 60)
        self.assertEqual(tr["total"], want)
        st, lab = self.b.get_json("/api/v1/labels", app="spread", type="cpu", **{"from": t - 3600}, to=now() + 60)
        self.assertEqual([sorted(k["values"]) for k in lab["labels"] if k["key"] == "env"], [["e0", "e1"]])
        rows = [active_rows(n, "fwc") for n in self.cl.nodes]
        self.assertTrue(all(r > 0 for r in rows), "both shards hold data: %r" % rows)

    def test_setting_saved_on_one_server_reaches_an_agent_polling_the_other(self):
        ready = os.path.join(self.tmp, "ready")

        def save_on_a():
            st, body, _ = self.a.request("PUT", "/api/v1/apps/clset/settings",
                                         json.dumps({"wall": True, "cpu_interval_ms": 37}).encode())
            self.assertEqual(st, 200, body)

        started = now()
        out_dir, stats = self.run_agent(self.b, "clset", SETTINGS_WORKLOAD, args=[ready],
                                        env={"FLAMEWATCH_SETTINGS_INTERVAL": "0.2"}, wait_for=ready, during=save_on_a)
        self.assertEqual((stats["wall"], stats["cpu_interval_ms"]), (True, 37), stats)
        # The agent polled B; A (which it never talked to) lists it, with the settings it has.
        st, j = self.a.get_json("/api/v1/apps/clset/settings")
        self.assertEqual(st, 200, j)
        mine = [ag for ag in j.get("agents", []) if ag["pid"] == stats["pid"]]
        self.assertEqual(len(mine), 1, j)
        self.assertTrue(mine[0]["current"], j)
        self.assertGreaterEqual(mine[0]["last_fetch"], started)
        st, jb = self.b.get_json("/api/v1/apps/clset/settings")
        self.assertEqual(without_sql(j), without_sql(jb), "both servers show the same settings and agents")


if __name__ == "__main__":
    unittest.main()
