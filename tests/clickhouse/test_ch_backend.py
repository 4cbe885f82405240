"""The ClickHouse backend's own behaviour, store-level through the HTTP API (issue 12, step 2): the
"View SQL" text runs in clickhouse-client against the store's database and gives the numbers of
the answer; text with quotes, backslashes, tabs and newlines (function names, label values)
survives RowBinary, quoting and the TSV reader; the read-only SQL console is read-only with
ClickHouse's own limits (403, 400, 413, 503 and truncation); uploads are shared by a group
commit and every one is stored once; a cluster URL naming an unknown cluster is refused at start.
Conformance with SQLite is test_conformance.py's job; this is what only ClickHouse has."""
import json
import subprocess
import threading
import unittest

import chserver
from fwenv import BIN, Server, now, pprofgen


def client_rows(ch, db, sql):
    """Runs SQL like a user would: clickhouse-client on the store's database."""
    p = subprocess.run(["clickhouse-client", "--port", str(ch.tcp_port), "--database", db, "--query", sql],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if p.returncode != 0:
        raise AssertionError("clickhouse-client failed: %s\n%s" % (p.stderr.decode()[:500], sql[:500]))
    return [line.split("\t") for line in p.stdout.decode().splitlines()]


class Backend(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ch = chserver.ClickHouse("backend").start()
        cls.s = Server(store=cls.ch.url("fwb"))
        cls.s.start()

    @classmethod
    def tearDownClass(cls):
        cls.s.cleanup()
        cls.ch.cleanup()

    def sql(self, query, **extra):
        body = dict(query=query, **extra)
        st, resp, _ = self.s.request("POST", "/api/v1/sql", json.dumps(body).encode())
        return st, json.loads(resp)

    def test_shown_sql_runs_in_clickhouse_client(self):
        t = now() - 20
        p, totals = pprofgen.realistic(400, seed=21, time_ns=t * 10**9)
        st, body, _ = self.s.ingest("vsql{env=prod}", p.encode(), "pprof")
        self.assertEqual(st, 200, body)
        rng = {"from": str(t - 7200), "to": str(t + 60)}   # hours from samples_1h, edges from samples
        st, fg = self.s.get_json("/api/v1/flamegraph", app="vsql", type="cpu", label=["env=prod"], **rng)
        self.assertEqual(st, 200, fg)
        rows = client_rows(self.ch, "fwb", fg["sql"])
        self.assertEqual(sum(int(r[2]) for r in rows), fg["total"])
        self.assertEqual(fg["total"], totals[0])
        self.assertTrue(all(r[1] for r in rows), "every stack has a path")
        st, tb = self.s.get_json("/api/v1/table", app="vsql", type="cpu", sort="self", **rng)
        rows = client_rows(self.ch, "fwb", tb["sql"])
        self.assertEqual([int(r[3]) for r in rows][:20], [r["self"] for r in tb["rows"]][:20])
        self.assertEqual([r[0] for r in rows][:20], [r["name"] for r in tb["rows"]][:20])
        st, tr = self.s.get_json("/api/v1/trend", app="vsql", type="cpu", step="3600", **rng)
        rows = client_rows(self.ch, "fwb", tr["sql"])
        self.assertEqual(sum(int(r[1]) for r in rows), totals[0])
        st, lb = self.s.get_json("/api/v1/labels", app="vsql", type="cpu", **rng)
        rows = client_rows(self.ch, "fwb", lb["sql"])
        self.assertIn(["env", "prod"], rows)
        st, df = self.s.get_json("/api/v1/diff", app="vsql", type="cpu", baseFrom=str(t - 7200),
                                 baseTo=str(t - 3600), **rng)
        self.assertEqual(st, 200, df)
        rows = client_rows(self.ch, "fwb", df["sql"])
        self.assertEqual(sum(int(r[4]) for r in rows), totals[0], "cmp_value column")
        self.assertEqual(sum(int(r[2]) for r in rows), 0, "base_value column (empty baseline)")

    def test_odd_text_round_trips(self):
        """Quotes, backslashes, tabs, newlines and non-ASCII in names, files and labels."""
        t = now() - 20
        odd = ["it's", 'say "hi"', "back\\slash", "tab\there", "new\nline", "naïve ✓", "semi;colon"]
        p = pprofgen.Profile([("cpu", "nanoseconds")], time_ns=t * 10**9)
        for i, name in enumerate(odd):
            p.add([("main", "a'b\\c.py", 1), (name, "f\t%d.py" % i, i + 1)], [10 * (i + 1)], {"who": name})
        st, body, _ = self.s.ingest("odd", p.encode(), "pprof")
        self.assertEqual(st, 200, body)
        st, tb = self.s.get_json("/api/v1/table", app="odd", type="cpu", sort="name",
                                 **{"from": str(t - 60), "to": str(t + 60)})
        self.assertEqual(st, 200, tb)
        self.assertEqual(sorted(r["name"] for r in tb["rows"]), sorted(odd + ["main"]))
        self.assertIn("a'b\\c.py", [r["file"] for r in tb["rows"]])
        st, lb = self.s.get_json("/api/v1/labels", app="odd", type="cpu", **{"from": str(t - 60), "to": str(t + 60)})
        self.assertEqual([k["values"] for k in lb["labels"] if k["key"] == "who"], [sorted(odd)])
        for i, name in enumerate(odd):   # each odd value works as a filter too
            st, fg = self.s.get_json("/api/v1/flamegraph", app="odd", type="cpu", label=["who=" + name],
                                     **{"from": str(t - 60), "to": str(t + 60)})
            self.assertEqual((st, fg.get("total")), (200, 10 * (i + 1)), name)

    def test_sql_console_is_read_only_with_limits(self):
        st, j = self.sql("SELECT 1 AS one, 'x\\ty' AS s, 2.5 AS r, NULL AS n")
        self.assertEqual(st, 200, j)
        self.assertEqual(j["columns"], ["one", "s", "r", "n"])
        self.assertEqual(j["rows"], [[1, "x\ty", 2.5, None]])
        for q in ["INSERT INTO settings (app) VALUES ('x')", "DROP TABLE samples", "ALTER TABLE samples DROP PARTITION 1",
                  "CREATE TABLE t (x UInt8) ENGINE = Memory", "SET readonly = 0", "SELECT 1; DROP TABLE samples",
                  "OPTIMIZE TABLE samples", "SELECT 1 SETTINGS max_execution_time = 1000",
                  "SELECT * FROM numbers(10)"]:
            st, j = self.sql(q)
            self.assertEqual(st, 403, (q, j))
            self.assertTrue(j.get("error"), q)
        st, j = self.sql("SELEC nonsense")
        self.assertEqual(st, 400, j)
        self.assertIn("Syntax error", j["error"])
        self.assertNotIn("\n", j["error"])
        st, j = self.sql("SELECT number FROM system.numbers LIMIT 50", maxRows=7)
        self.assertEqual(st, 200, j)
        self.assertEqual((len(j["rows"]), j["truncated"]), (7, True))
        st, j = self.sql("SELECT count() FROM system.numbers WHERE number % 7 = 99")   # runs until the limit
        self.assertEqual(st, 503, j)
        st, j = self.sql("SELECT arrayStringConcat(arrayMap(x -> 'xxxxxxxxxx', range(200000))) AS big")  # 2 MB cell
        self.assertEqual(st, 413, j)
        st, j = self.sql("SELECT count() FROM samples")
        self.assertEqual(st, 200, j)

    def test_concurrent_uploads_share_inserts_and_all_land(self):
        t = now() - 20
        bodies = []
        for i in range(24):
            p, totals = pprofgen.realistic(50, seed=500 + i, time_ns=t * 10**9)
            bodies.append((p.encode(), totals[0]))
        res = []

        def up(chunk):
            for b, total in chunk:
                st, body, _ = self.s.ingest("gc", b, "pprof")
                res.append((st, total))

        ths = [threading.Thread(target=up, args=(bodies[k::6],)) for k in range(6)]
        [th.start() for th in ths]
        [th.join() for th in ths]
        self.assertEqual({st for st, _ in res}, {200})
        st, fg = self.s.flame("gc", frm=str(t - 60), to=str(t + 60))
        self.assertEqual(fg["total"], sum(total for _, total in res), "every acknowledged upload stored once")

    def test_metrics_report_the_store(self):
        t = now() - 20
        p = pprofgen.Profile([("cpu", "nanoseconds")], time_ns=t * 10**9)
        for i in range(5):
            p.add([("main", "m.py", 1), ("leaf%d" % i, "m.py", 10 + i)], [10])
        self.assertEqual(self.s.ingest("met", p.encode(), "pprof")[0], 200)
        st, body, _ = self.s.request("GET", "/metrics")
        self.assertEqual(st, 200)
        vals = dict(line.rsplit(" ", 1) for line in body.decode().splitlines() if line and not line.startswith("#"))
        self.assertGreaterEqual(int(vals["flamewatch_store_stacks"]), 5, "uniq(id) of stacks")
        self.assertGreater(int(vals["flamewatch_store_size_bytes"]), 0, "bytes_on_disk of the database's parts")

    def test_unknown_cluster_is_refused_at_start(self):
        s = Server(store=self.ch.url("fwx") + "?cluster=nope")
        with self.assertRaises(Exception):
            s.start()
        log = s.logtext()
        s.cleanup()
        self.assertIn("no cluster 'nope'", log)


if __name__ == "__main__":
    unittest.main()
