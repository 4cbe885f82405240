"""Questions (POST /api/v1/ask and `flamewatch ask`): at least 30 phrasings, each answer's
intent and numbers checked against the flame graph, table, trend and analysis APIs; unknown
questions get the help answer, never a made-up one."""
import json
import unittest

import fixture as F

RANGE = {"from": "now-30m", "to": "now"}


def top_rows(srv, n=5, **kw):
    tab = F.get(srv, "/api/v1/table", sort="self", limit=str(n), **kw)
    return [(r["name"], r["self"], r["self"] / tab["total"]) for r in tab["rows"]], tab


class Ask(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = F.server()
        cls.fg = F.get(cls.srv, "/api/v1/flamegraph", app="shop", maxNodes="200000")
        cls.asked = 0

    def ask(self, q, intent, app="shop", **extra):
        a = F.ask(self.srv, q, app=app, **extra)
        type(self).asked += 1
        self.assertEqual(a["intent"], intent, "%r -> %s: %s" % (q, a["intent"], a["answer"]))
        if intent != "help":
            self.assertTrue(a["understood"])
            self.assertTrue(a["sql"], q)
            self.assertTrue(a["link"].startswith("/?page="), q)
        return a

    def assert_rows(self, a, want, q):
        got = [(r["label"], r["value"]) for r in a["numbers"]][:len(want)]
        self.assertEqual(got, [(w[0], w[1]) for w in want], q)
        for r, w in zip(a["numbers"], want):
            self.assertAlmostEqual(r["share"], w[2], places=6, msg=q)

    def node_totals(self, name):
        inside = [False] * len(self.fg["nodes"])
        total = self_ = 0
        for i, n in enumerate(self.fg["nodes"]):
            if i == 0:
                continue
            anc = inside[n["parent"]]
            me = n["name"] == name
            inside[i] = anc or me
            if me:
                self_ += n["self"]
                total += 0 if anc else n["total"]
        return total, self_

    def test_top_functions(self):
        want, tab = top_rows(self.srv, app="shop", **RANGE)
        for q in ("What uses the most CPU?", "what's the hottest function", "top functions by cpu",
                  "Where is the CPU time spent?", "which function is the most expensive", "wat uses teh most cpu"):
            a = self.ask(q, "top_functions")
            self.assert_rows(a, want, q)
            self.assertIn("%.1f%%" % (100 * want[0][2]), a["answer"])
            self.assertEqual(a["function"], want[0][0])

    def test_filtered_by_a_label_in_the_question(self):
        want, _ = top_rows(self.srv, app="shop", label="thread_group=worker-*", **RANGE)
        a = self.ask("what uses the most CPU in thread group worker-*?", "top_functions")
        self.assert_rows(a, want, "worker-*")
        self.assertEqual(a["filters"], [{"key": "thread_group", "value": "worker-*"}])
        self.assertEqual(want[0][0], "resize_image")

    def test_top_lines(self):
        tab = F.get(self.srv, "/api/v1/table", app="shop", granularity="line", sort="self", limit="5", **RANGE)
        want = [("%s (%s:%d)" % (r["name"], r["file"], r["line"]), r["self"], r["self"] / tab["total"]) for r in tab["rows"]]
        for q in ("what are the hottest lines?", "which line uses most cpu"):
            self.assert_rows(self.ask(q, "top_lines"), want, q)

    def test_top_modules(self):
        tab = F.get(self.srv, "/api/v1/table", app="shop", **RANGE)
        by = {}
        for r in tab["rows"]:
            by[r["file"] or "(unknown)"] = by.get(r["file"] or "(unknown)", 0) + r["self"]
        want = sorted(by.items(), key=lambda kv: -kv[1])[:3]
        for q in ("which module uses the most time", "which file is the heaviest?"):
            a = self.ask(q, "top_modules")
            self.assert_rows(a, [(k, v, v / tab["total"]) for k, v in want], q)

    def test_top_label_values(self):
        for q, key in (("which thread group uses the most cpu", "thread_group"), ("which endpoint is busiest?", "endpoint"),
                       ("whcih endpoint uses the most cpu", "endpoint"), ("which thread uses the most CPU?", "thread_name")):
            a = self.ask(q, "top_label")
            labels = F.get(self.srv, "/api/v1/labels", app="shop", **RANGE)
            values = next(k["values"] for k in labels["labels"] if k["key"] == key)
            totals = {v: F.get(self.srv, "/api/v1/trend", app="shop", label="%s=%s" % (key, v), **RANGE)["total"] for v in values}
            s = sum(totals.values())
            want = sorted(totals.items(), key=lambda kv: (-kv[1], values.index(kv[0])))
            self.assertEqual([r["label"] for r in a["numbers"]][:1], ["%s=%s" % (key, want[0][0])], q)
            for r in a["numbers"]:
                v = r["label"].split("=", 1)[1]
                self.assertEqual(r["value"], totals[v], q)
                self.assertAlmostEqual(r["share"], totals[v] / s, places=6)

    def test_growth(self):
        cur = F.get(self.srv, "/api/v1/table", app="shop", **RANGE)
        base = F.get(self.srv, "/api/v1/table", app="shop", **{"from": "now-90m", "to": "now-60m"})
        c = next(r for r in cur["rows"] if r["name"] == "Cart.total")
        b = next(r for r in base["rows"] if r["name"] == "Cart.total")
        for q in ("what grew since an hour ago?", "what got slower in the last 1 hours", "what regressed compared to 1 hour ago",
                  "any regression since one hour ago"):
            a = self.ask(q, "growth")
            self.assertEqual(a["baseline"]["from"], a["from"] - 3600, q)
            top = a["numbers"][0]
            self.assertEqual((top["label"], top["value"], top["baseValue"], top["significant"]), ("Cart.total", c["self"], b["self"], 1), q)
            self.assertAlmostEqual(top["share"], c["self"] / cur["total"], places=6)
            self.assertAlmostEqual(top["baseShare"], b["self"] / base["total"], places=6)
            self.assertTrue(a["answer"].startswith("Cart.total got worse"), a["answer"])
        a = self.ask("what grew?", "growth", baselineHours=1)
        self.assertEqual(a["numbers"][0]["label"], "Cart.total")
        a = self.ask("did anything get worse since an hour ago?", "growth", app="shop-aa")
        self.assertTrue(a["answer"].startswith("Nothing grew beyond sampling noise"), a["answer"])

    def test_callers_callees(self):
        total, _ = self.node_totals("Cart.total")
        for q in ("who calls Cart.total?", "callers of cart total"):
            a = self.ask(q, "callers")
            self.assertEqual([(r["label"], r["value"]) for r in a["numbers"]], [("checkout", total)], q)
        for q in ("what does checkout call?", "why is checkout slow?"):
            a = self.ask(q, "callees")
            self.assertIn(("Cart.total", total), [(r["label"], r["value"]) for r in a["numbers"]], q)

    def test_lines_trend_and_share_of_a_function(self):
        hot = F.truth2()["hot_line"]
        for q in ("which lines of Cart.total are hot?", "hot lines in cart.total"):
            a = self.ask(q, "lines")
            self.assertTrue(any(r["label"].endswith("shop.py:%d" % hot) for r in a["numbers"]), q)
        total, self_ = self.node_totals("Cart.total")
        a = self.ask("trend of Cart.total over time", "trend")
        self.assertEqual(sum(r["value"] for r in a["numbers"]), self_)
        for q, fn in (("how much CPU does render_json use?", "render_json"), ("what share of the total is parse_query", "parse_query")):
            a = self.ask(q, "function")
            t, s = self.node_totals(fn)
            self.assertEqual({r["label"]: r["value"] for r in a["numbers"]}, {"self": s, "total": t}, q)
            self.assertIn("%.1f%%" % (100 * t / self.fg["total"]), a["answer"])

    def test_attribution(self):
        for q in ("where does the growth of Cart.total come from since 1 hour ago?",
                  "which label value is responsible for the growth of Cart.total since an hour ago"):
            a = self.ask(q, "attribution")
            rows = {r["label"]: r for r in a["numbers"]}
            self.assertIn("endpoint=/checkout", rows, q)
            self.assertEqual(rows["endpoint=/checkout"]["significant"], 1)

    def test_findings(self):
        res = F.get(self.srv, "/api/v1/analysis", app="shop", **RANGE)
        for q in ("any problems?", "what should I fix?"):
            a = self.ask(q, "findings")
            self.assertEqual(a["numbers"][0]["label"], res["findings"][0]["frames"][0], q)

    def test_memory(self):
        want, _ = top_rows(self.srv, app="retain", type="alloc_space", **RANGE)
        a = self.ask("what allocates the most memory?", "top_functions", app="retain")
        self.assertEqual(a["type"], "alloc_space")
        self.assert_rows(a, want, "alloc")
        want, _ = top_rows(self.srv, app="retain", type="inuse_space", **RANGE)
        a = self.ask("where is memory retained?", "retained", app="retain")
        self.assertEqual(a["type"], "inuse_space")
        self.assert_rows(a, want, "retained")
        self.assertEqual(want[0][0], "keep")

    def test_unknown_questions_get_help(self):
        for q in ("what's the weather like", "help", "tell me a joke", "asdf qwerty"):
            a = self.ask(q, "help")
            self.assertFalse(a["understood"])
            self.assertEqual(a["numbers"], [])
            self.assertGreaterEqual(len(a["help"]), 10)
            self.assertNotIn("link", a)

    def test_cli_ask(self):
        rc, out, err = F.cli("ask", "what uses the most cpu?", "--server", self.srv.url, "--app", "shop", "--from", "now-30m")
        self.assertEqual(rc, 0, err)
        want, _ = top_rows(self.srv, app="shop", **RANGE)
        self.assertTrue(out.startswith("%s uses the most CPU time" % want[0][0]), out[:200])
        self.assertIn("View: /?page=query", out)
        self.assertIn("SQL behind these numbers", out)
        rc, out, err = F.cli("ask", "tell me a joke", "--server", self.srv.url, "--app", "shop", "--format", "json")
        self.assertEqual(rc, 0, err)
        self.assertFalse(json.loads(out)["understood"])

    @classmethod
    def tearDownClass(cls):
        # The issue asks for at least 30 phrasings; count them so that a trimmed test shows.
        assert cls.asked >= 30 or cls.asked == 0, "only %d phrasings asked" % cls.asked


if __name__ == "__main__":
    unittest.main()
