"""Comparison analysis: the planted regression (Cart.total 3x slower in shop v2) comes first and
significant, two runs of the same workload give no significant change, changes are ranked by
absolute impact with their size and z, the growth is attributed to the label value it comes
from, new/vanished functions and same-named functions of two files are told apart."""
import unittest

import fixture as F


def changes(res):
    return [f for f in res["findings"] if f["id"] == "change"]


class PlantedRegression(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = F.server()
        cls.res = F.get(cls.srv, "/api/v1/analysis", app="shop", baselineHours="1")

    def test_regression_first_and_significant(self):
        ch = changes(self.res)
        self.assertTrue(ch, self.res["findings"])
        first = ch[0]
        self.assertEqual(first["frames"][0], "Cart.total", [c["title"] for c in ch])
        self.assertEqual(first["change"]["significant"], 1)
        self.assertGreaterEqual(first["change"]["z"], self.res["zThreshold"])
        self.assertEqual(first["change"]["status"], "changed")
        self.assertEqual(first["level"], "hot")
        self.assertIn("/?page=compare&app=shop", first["link"])
        self.assertIn("hours=1", first["link"])

    def test_sizes_match_the_tables(self):
        first = changes(self.res)[0]
        cur = F.get(self.srv, "/api/v1/table", app="shop")
        base = F.get(self.srv, "/api/v1/table", app="shop", **{"from": "now-90m", "to": "now-60m"})
        c = next(r for r in cur["rows"] if r["name"] == "Cart.total")
        b = next(r for r in base["rows"] if r["name"] == "Cart.total")
        self.assertEqual(first["change"]["cmpValue"], c["self"])
        self.assertEqual(first["change"]["baseValue"], b["self"])
        self.assertAlmostEqual(first["change"]["cmpShare"], c["self"] / cur["total"], places=5)
        self.assertAlmostEqual(first["change"]["baseShare"], b["self"] / base["total"], places=5)

    def test_ranked_by_absolute_impact(self):
        deltas = [abs(c["change"]["delta"]) for c in changes(self.res)]
        self.assertEqual(deltas, sorted(deltas, reverse=True))
        for c in changes(self.res):
            self.assertIn("significant" if c["change"]["significant"] else "within", c["detail"])

    def test_growth_attributed_to_the_endpoint(self):
        attr = [f for f in self.res["findings"] if f["id"] == "attribution" and "endpoint=" in f["title"]]
        self.assertTrue(attr, [f["title"] for f in self.res["findings"]])
        self.assertIn("Cart.total", attr[0]["title"])
        self.assertIn("endpoint=/checkout", attr[0]["title"])

    def test_unchanged_workload_has_no_significant_change(self):
        res = F.get(self.srv, "/api/v1/analysis", app="shop-aa", baselineHours="1")
        sig = [c["title"] for c in changes(res) if c["change"]["significant"]]
        self.assertEqual(sig, [], "A/A runs of the same workload should not differ significantly")
        self.assertIn("nochange", [f["id"] for f in res["findings"]])
        for c in changes(res):
            self.assertIn("noise", c["detail"])


def folded(lines):
    return ("\n".join("%s %d" % (stack, n) for stack, n in lines) + "\n").encode()


class Synthetic(unittest.TestCase):
    """Exact numbers: two folded uploads an hour apart (one sample = one count)."""

    @classmethod
    def setUpClass(cls):
        cls.srv = F.Server().start()
        now = F.server_tests.now()
        a, b = "/usr/lib/python3.11/re/__init__.py", "/usr/lib/python3.11/re/_compiler.py"
        base = [("main (/srv/app.py:1);_compile (%s:10)" % a, 100), ("main (/srv/app.py:1);_compile (%s:20)" % b, 300),
                ("main (/srv/app.py:1);old_fn (/srv/app.py:5)", 200), ("main (/srv/app.py:1);steady (/srv/app.py:9)", 400)]
        cur = [("main (/srv/app.py:1);_compile (%s:10)" % a, 300), ("main (/srv/app.py:1);_compile (%s:20)" % b, 100),
               ("main (/srv/app.py:1);new_fn (/srv/app.py:7)", 200), ("main (/srv/app.py:1);steady (/srv/app.py:9)", 400)]
        for body, t in ((folded(base), now - 3600 - 60), (folded(cur), now - 60)):
            st, r, _ = cls.srv.ingest("syn", body, fmt="folded", **{"from": t, "until": t + 10})
            assert st == 200, r

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def test_same_names_new_and_vanished(self):
        res = F.get(self.srv, "/api/v1/analysis", app="syn", baselineHours="1", **{"from": "now-10m"})
        by = {c["title"].split(":")[0]: c for c in changes(res)}
        worse = by.get("_compile (re/__init__.py) got worse")
        better = by.get("_compile (re/_compiler.py) improved")
        self.assertIsNotNone(worse, list(by))
        self.assertIsNotNone(better, list(by))
        self.assertEqual(worse["change"]["significant"], 1)
        self.assertEqual(better["change"]["significant"], -1)
        self.assertAlmostEqual(worse["change"]["delta"], 0.2, places=6)
        self.assertEqual(by["new_fn got worse"]["change"]["status"], "new")
        self.assertEqual(by["old_fn improved"]["change"]["status"], "vanished")
        self.assertNotIn("steady", " ".join(by))  # unchanged: not listed
        # The z statistic is the two-proportion test on the self counts (1000 samples each).
        p1, p2, p = 0.1, 0.3, 0.2
        z = (p2 - p1) / (p * (1 - p) * (2 / 1000)) ** 0.5
        self.assertAlmostEqual(worse["change"]["z"], z, places=6)


if __name__ == "__main__":
    unittest.main()
