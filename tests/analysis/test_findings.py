"""Single-profile findings on real agent profiles: the rules (regex compilation, logging, JSON,
retained memory, ...), dominance and label dimensions, each with evidence that matches the flame
graph and table APIs, and the same findings from `flamewatch analyze`."""
import json
import re
import unittest

import fixture as F


def flame(srv, **kw):
    return F.get(srv, "/api/v1/flamegraph", maxNodes="200000", **kw)


def marked_share(nodes, match):
    """The share of samples with at least one marked frame (the engine's definition)."""
    inside = [False] * len(nodes)
    value = 0
    for i in range(1, len(nodes)):
        n = nodes[i]
        anc = inside[n["parent"]]
        m = not n.get("other") and match(n)
        if m and not anc:
            value += n["total"]
        inside[i] = anc or m
    return value / nodes[0]["total"]


class Findings(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = F.server()
        cls.res = F.get(cls.srv, "/api/v1/analysis", app="shop")
        cls.by = {f["id"]: f for f in cls.res["findings"]}

    def test_rules_fire_on_the_workload(self):
        # parse_query compiles a new pattern per call, log_access logs in a loop, render_json
        # encodes JSON: each rule finds it, with a suggestion and the frames behind it.
        for rid in ("re", "logging", "json"):
            f = self.by.get(rid)
            self.assertIsNotNone(f, "no %s finding: %s" % (rid, [x["title"] for x in self.res["findings"]]))
            self.assertIn(f["level"], ("hot", "warn"))
            self.assertGreaterEqual(f["share"], 0.01)
            self.assertTrue(f["suggestion"])
            self.assertTrue(f["frames"], rid)
            self.assertEqual(f["focus"], f["frames"][0])
            self.assertIn("search=", f["link"])
            self.assertTrue(f["link"].startswith("/?page=query&app=shop&type=cpu"), f["link"])

    def test_rule_share_matches_the_flame_graph(self):
        fg = flame(self.srv, app="shop")
        logging = marked_share(fg["nodes"], lambda n: bool(re.search(r"(^|/)logging/(__init__|handlers)\.py$", n["file"]))
                               or bool(re.match(r"(Logger|Handler|StreamHandler|Formatter|LogRecord)\.", n["name"])))
        self.assertAlmostEqual(self.by["logging"]["share"], logging, places=5)
        js = marked_share(fg["nodes"], lambda n: bool(re.search(r"(^|/)json/(encoder|decoder|__init__)\.py$", n["file"]))
                          or bool(re.match(r"(json\.(dumps|loads|dump|load)|JSONEncoder\.|JSONDecoder\.)", n["name"])))
        self.assertAlmostEqual(self.by["json"]["share"], js, places=5)

    def test_dominance_is_the_table_top_row(self):
        tab = F.get(self.srv, "/api/v1/table", app="shop", sort="self", limit="1")
        f = self.by["dominance"]
        self.assertEqual(f["frames"][0], tab["rows"][0]["name"])
        self.assertEqual(f["value"], tab["rows"][0]["self"])
        self.assertAlmostEqual(f["share"], tab["rows"][0]["self"] / tab["total"], places=5)
        self.assertEqual(self.res["total"], tab["total"])

    def test_thread_group_dimension(self):
        f = self.by.get("label")
        self.assertIsNotNone(f)
        self.assertIn("thread_group=MainThread", f["title"])
        tr = F.get(self.srv, "/api/v1/trend", app="shop", label="thread_group=MainThread")
        self.assertEqual(f["value"], tr["total"])

    def test_every_query_cites_its_sql(self):
        titles = [s["title"] for s in self.res["sql"]]
        self.assertIn("Flame graph", titles)
        self.assertIn("Table", titles)
        self.assertTrue(all(s["sql"].lstrip().upper().startswith(("WITH", "SELECT")) for s in self.res["sql"]))

    def test_retained_memory(self):
        res = F.get(self.srv, "/api/v1/analysis", app="retain", type="alloc_space")
        ret = [f for f in res["findings"] if f["id"] == "retained"]
        self.assertEqual([f["frames"][0] for f in ret], ["keep"], [f["title"] for f in res["findings"]])
        self.assertIn("not released", ret[0]["detail"])
        inuse = F.get(self.srv, "/api/v1/table", app="retain", type="inuse_space", sort="self")
        keep = next(r for r in inuse["rows"] if r["name"] == "keep")
        self.assertAlmostEqual(ret[0]["share"], keep["self"] / inuse["total"], places=5)

    def test_cli_analyze_gives_the_same_findings(self):
        rc, out, err = F.cli("analyze", "--server", self.srv.url, "--app", "shop", "--from", "now-30m")
        self.assertEqual(rc, 0, err)
        res = F.get(self.srv, "/api/v1/analysis", app="shop")
        for f in res["findings"]:
            self.assertIn("[%s] %s" % (f["level"], f["title"]), out)
        rc, js, err = F.cli("analyze", "--server", self.srv.url, "--app", "shop", "--from", "now-30m", "--format", "json")
        self.assertEqual(rc, 0, err)
        self.assertEqual([f["title"] for f in json.loads(js)["findings"]], [f["title"] for f in res["findings"]])

    def test_cli_bad_flags(self):
        for args in (["analyze"], ["analyze", "--app", "a", "--format", "xml"], ["analyze", "--app", "a", "--baseline-hours", "0"],
                     ["analyze", "--app", "a", "--baseline-hours", "1", "--base-from", "now-2h"], ["ask", "--app", "a"],
                     ["analyze", "--app", "a", "--bogus"]):
            rc, out, err = F.cli(*args)
            self.assertEqual(rc, 2, args)
            self.assertTrue(err.strip(), args)

    def test_bad_parameters_are_4xx_json(self):
        srv = self.srv
        cases = [dict(), dict(app="shop", baselineHours="0"), dict(app="shop", baselineHours="x"),
                 dict(app="shop", baselineHours="1", baseFrom="now-2h"), dict(app="shop", format="xml"),
                 dict(app="shop", focus=""), dict(app="shop", **{"from": "yesterday-ish"}),
                 dict(app="shop", label="novalue"), dict(app="shop", **{"from": "now", "to": "now-1h"})]
        for p in cases:
            F.expect_error(srv.request("GET", "/api/v1/analysis", params=p), msg=str(p))
        F.expect_error(srv.request("POST", "/api/v1/analysis"), 405, 405, "POST analysis")
        for body in (b"", b"not json", b'{"app": "shop"}', b'{"question": 5, "app": "shop"}',
                     b'{"question": "what uses most cpu"}', b'{"question": "x", "app": "shop", "labels": "novalue"}',
                     b'{"question": "x", "app": "shop", "baselineHours": 0}', b'{"question": "x", "app": "shop", "format": "xml"}'):
            F.expect_error(srv.request("POST", "/api/v1/ask", body, {"Content-Type": "application/json"}), msg=body.decode())
        F.expect_error(srv.request("GET", "/api/v1/ask"), 405, 405, "GET ask")
        st, j = srv.get_json("/api/v1/analysis", app="nosuchapp")
        self.assertIn(st, (200, 404))


if __name__ == "__main__":
    unittest.main()
