"""focus=FUNCTION: one function's detail analysis (callers, callees, lines, trend; for a
comparison, the label values its change comes from), checked against the flame graph and table
APIs; names are matched fuzzily; `flamewatch analyze --focus` prints the same detail."""
import unittest

import fixture as F


def outermost(nodes, name):
    """Total and self of `name` over the flame graph, each sample counted once."""
    inside = [False] * len(nodes)
    total = self_ = 0
    callers = {}
    callees = {}
    for i in range(1, len(nodes)):
        n = nodes[i]
        anc = inside[n["parent"]]
        me = n["name"] == name and not n.get("other")
        inside[i] = anc or me
        if me:
            self_ += n["self"]
            if not anc:
                total += n["total"]
                p = nodes[n["parent"]]["name"] if n["parent"] > 0 else "(root)"
                callers[p] = callers.get(p, 0) + n["total"]
        par = n["parent"]
        if not me and par > 0 and nodes[par]["name"] == name and not inside[nodes[par]["parent"]]:
            callees[n["name"]] = callees.get(n["name"], 0) + n["total"]
    return total, self_, callers, callees


class Focus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = F.server()
        cls.fg = F.get(cls.srv, "/api/v1/flamegraph", app="shop", maxNodes="200000")

    def section(self, res, sid):
        return {r["label"]: r for r in next(s for s in res["focus"]["sections"] if s["id"] == sid)["rows"]}

    def test_detail_matches_the_flame_graph(self):
        for fn in ("Cart.total", "checkout", "render_json"):
            res = F.get(self.srv, "/api/v1/analysis", app="shop", focus=fn)
            f = res["focus"]
            self.assertTrue(f["found"])
            total, self_, callers, callees = outermost(self.fg["nodes"], fn)
            self.assertEqual((f["total"], f["self"]), (total, self_), fn)
            self.assertEqual({k: v["value"] for k, v in self.section(res, "callers").items()}, callers, fn)
            self.assertEqual({k: v["value"] for k, v in self.section(res, "callees").items()},
                             dict(sorted(callees.items(), key=lambda kv: -kv[1])[:10]), fn)
            self.assertAlmostEqual(f["totalShare"], total / self.fg["total"], places=5)

    def test_lines_and_trend(self):
        res = F.get(self.srv, "/api/v1/analysis", app="shop", focus="Cart.total")
        lines = self.section(res, "lines")
        hot = F.truth2()["hot_line"]
        self.assertTrue(any(k.endswith("shop.py:%d" % hot) for k in lines), list(lines))
        tab = F.get(self.srv, "/api/v1/table", app="shop", granularity="line")
        want = {"%s:%d" % (r["file"], r["line"]): r["self"] for r in tab["rows"] if r["name"] == "Cart.total" and r["self"] > 0}
        self.assertEqual({k: v["value"] for k, v in lines.items()}, dict(sorted(want.items(), key=lambda kv: -kv[1])[:10]))
        trend = next(s for s in res["focus"]["sections"] if s["id"] == "trend")["rows"]
        self.assertEqual(len(trend), 6)
        self.assertEqual(sum(r["value"] for r in trend), res["focus"]["self"])

    def test_fuzzy_names(self):
        for asked in ("cart total", "CART.TOTAL", "Cart.totl", "cart_total"):
            res = F.get(self.srv, "/api/v1/analysis", app="shop", focus=asked)
            self.assertEqual(res["focus"]["function"], "Cart.total", asked)
        res = F.get(self.srv, "/api/v1/analysis", app="shop", focus="no_such_function_here")
        self.assertFalse(res["focus"]["found"])

    def test_comparison_detail_attributes_to_labels(self):
        res = F.get(self.srv, "/api/v1/analysis", app="shop", baselineHours="1", focus="Cart.total")
        labels = self.section(res, "labels")
        row = labels["endpoint=/checkout"]
        self.assertEqual(row["significant"], 1)
        self.assertGreater(row["share"], row["baseShare"])
        self.assertNotIn("endpoint=/search", labels)  # Cart.total never runs there
        self.assertGreater(res["focus"]["selfShare"], res["focus"]["baseSelfShare"])

    def test_cli_focus(self):
        rc, out, err = F.cli("analyze", "--server", self.srv.url, "--app", "shop", "--from", "now-30m", "--focus", "Cart.total")
        self.assertEqual(rc, 0, err)
        self.assertIn("Callers of Cart.total", out)
        self.assertIn("checkout", out)
        self.assertIn("Hottest lines of Cart.total", out)
        self.assertIn("SQL behind these numbers", out)


if __name__ == "__main__":
    unittest.main()
