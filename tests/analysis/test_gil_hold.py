"""The gil_hold finding on real agent profiles: "a C call held the GIL while N threads waited".

tests/agent/workloads/gil_hold.py runs three long sum(range(N)) calls (which never release the
GIL) in thread "holder" while two threads want to run Python ("hold"), or hashes large buffers
with hashlib, which releases the GIL ("release"). Each run is profiled with `flamewatch run` and
ingested under its own app into a server of this module's own. The finding must name the calling
function, put its hold time within the workload's own timing of the calls, count two waiters,
and agree with the table API; the releasing workload must get no such finding.
"""
import json
import os
import re
import tempfile
import unittest

import fixture as F

WORKLOAD = os.path.join(F.ROOT, "tests", "agent", "workloads", "gil_hold.py")


class GilHoldFinding(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        tmp = tempfile.mkdtemp(prefix="fw-analysis-gil-")
        cls.truth = {}
        runs = {}
        for mode, args in (("hold", []), ("release", ["2", "5"])):
            truth = os.path.join(tmp, mode + ".json")
            runs[mode] = F.profile(WORKLOAD, [truth, mode] + args, os.path.join(tmp, mode))
            with open(truth, encoding="utf-8") as f:
                cls.truth[mode] = json.load(f)
        cls.srv = F.Server().start()
        cls.addClassCleanup(cls.srv.cleanup)
        F.ingest(cls.srv, "gil-hold", runs["hold"])
        F.ingest(cls.srv, "gil-release", runs["release"])
        cls.res = F.get(cls.srv, "/api/v1/analysis", app="gil-hold")
        cls.found = [f for f in cls.res["findings"] if f["id"] == "gil_hold"]

    def describe(self):
        return "truth %r; findings %r" % (self.truth["hold"]["spans_s"],
                                          [(f["id"], f["title"]) for f in self.res["findings"]])

    def test_finding_names_the_calling_function(self):
        self.assertEqual(len(self.found), 1, self.describe())
        f = self.found[0]
        self.assertEqual(f["frames"], ["c_call"])
        self.assertEqual(f["focus"], "c_call")
        self.assertIn(f["level"], ("hot", "warn"))
        self.assertTrue(f["title"].startswith("c_call held the GIL for "), f["title"])
        self.assertIn("gil_hold.py:%d" % self.truth["hold"]["call_line"], f["detail"])
        self.assertTrue(f["suggestion"])

    def test_hold_time_matches_the_calls(self):
        calls_ns = self.truth["hold"]["calls_s"] * 1e9
        value = self.found[0]["value"]
        self.assertGreaterEqual(value, 0.8 * calls_ns, self.describe())
        self.assertLessEqual(value, calls_ns + 0.01e9 * len(self.truth["hold"]["spans_s"]), self.describe())

    def test_waiters_and_numbers_agree_with_the_table_api(self):
        tabs = {}
        for typ in ("gil_hold", "gil_wait"):
            tab = F.get(self.srv, "/api/v1/table", app="gil-hold", type=typ, granularity="line", sort="self")
            row = [r for r in tab["rows"] if r["name"] == "c_call" and r["line"] == self.truth["hold"]["call_line"]]
            self.assertEqual(len(row), 1, tab["rows"][:5])
            tabs[typ] = row[0]["self"]
        f = self.found[0]
        self.assertEqual(f["value"], tabs["gil_hold"])
        waiters = tabs["gil_wait"] / tabs["gil_hold"]
        self.assertGreaterEqual(waiters, 1.7)
        self.assertLessEqual(waiters, 2.0 + 1e-9)
        self.assertIn("while %.1f other threads waited" % waiters, f["title"])
        self.assertTrue(any(s["title"].startswith("GIL held while others waited") for s in self.res["sql"]),
                        [s["title"] for s in self.res["sql"]])

    def test_releasing_call_gets_no_finding(self):
        res = F.get(self.srv, "/api/v1/analysis", app="gil-release")
        self.assertGreater(self.truth["release"]["calls_s"], 0)
        self.assertEqual([f["title"] for f in res["findings"] if f["id"] == "gil_hold"], [])
        # The profile has the types (the agent wrote them), just no hold worth a finding.
        tab = F.get(self.srv, "/api/v1/table", app="gil-release", type="gil_hold", granularity="line", sort="self")
        self.assertFalse([r for r in tab["rows"] if r["name"] == "c_call"], tab["rows"])

    def test_cli_analyze_gives_the_same_finding(self):
        rc, out, err = F.cli("analyze", "--server", self.srv.url, "--app", "gil-hold", "--from", "now-30m", "--format", "json")
        self.assertEqual(rc, 0, err)
        got = [f for f in json.loads(out)["findings"] if f["id"] == "gil_hold"]
        self.assertEqual([(f["title"], f["value"]) for f in got], [(f["title"], f["value"]) for f in self.found])
        rc, out, err = F.cli("analyze", "--server", self.srv.url, "--app", "gil-hold", "--from", "now-30m")
        self.assertEqual(rc, 0, err)
        self.assertTrue(re.search(r"c_call held the GIL for [0-9.]+ (s|ms) while [0-9.]+ other threads waited", out), out)


class GilHoldThresholds(unittest.TestCase):
    """Exact numbers from folded uploads: levels, thresholds, waiters, ranking and the cap."""

    @classmethod
    def setUpClass(cls):
        cls.srv = F.Server().start()
        cls.addClassCleanup(cls.srv.cleanup)
        t = F.server_tests.now() - 60
        main = "main (/srv/app.py:1)"
        # Folded counts of a nanosecond type are samples of 10 ms.
        sites = {  # (function, line): (gil_hold, gil_wait) in samples
            ("crunch", 10): (150, 300),    # hot: >= 1 s, two waiters
            ("parse", 20): (6, 6),         # warn: >= 50 ms, one waiter
            ("tiny", 30): (4, 8),          # below 50 ms: no finding
        }
        bodies = {"cpu": "%s;crunch (/srv/app.py:10) 1000\n" % main, "gil_hold": "", "gil_wait": ""}
        for (fn, line), (hold, wait) in sites.items():
            bodies["gil_hold"] += "%s;%s (/srv/app.py:%d) %d\n" % (main, fn, line, hold)
            bodies["gil_wait"] += "%s;%s (/srv/app.py:%d) %d\n" % (main, fn, line, wait)
        for typ, body in bodies.items():
            st, r, _ = cls.srv.ingest("syn." + typ, body.encode(), fmt="folded", **{"from": t, "until": t + 10})
            assert st == 200, r
        cls.res = F.get(cls.srv, "/api/v1/analysis", app="syn")
        cls.found = [f for f in cls.res["findings"] if f["id"] == "gil_hold"]

    def test_levels_and_threshold(self):
        got = [(f["frames"][0], f["level"], f["value"]) for f in self.found]
        self.assertEqual(got, [("crunch", "hot", 1500 * 10**6), ("parse", "warn", 60 * 10**6)])

    def test_numbers_in_the_sentences(self):
        crunch, parse = self.found
        self.assertEqual(crunch["title"], "crunch held the GIL for 1.5 s while 2.0 other threads waited")
        self.assertIn("(/srv/app.py:10)", crunch["detail"])
        self.assertIn("3 s of thread time lost", crunch["detail"])
        self.assertAlmostEqual(crunch["share"], 1500 / 1600)
        self.assertEqual(parse["title"], "parse held the GIL for 60 ms while 1.0 other thread waited")

    def test_no_finding_without_gil_types(self):
        st, r, _ = self.srv.ingest("plain", b"main (/srv/app.py:1) 5\n", fmt="folded")
        self.assertEqual(st, 200, r)
        res = F.get(self.srv, "/api/v1/analysis", app="plain")
        self.assertEqual([f for f in res["findings"] if f["id"] == "gil_hold"], [])


if __name__ == "__main__":
    unittest.main()
