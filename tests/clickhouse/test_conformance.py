"""Conformance (issue 12, §3): the same uploads go to a server on the SQLite store and to a server on
ClickHouse (`--store clickhouse://127.0.0.1:PORT/db`, one clickhouse-server started by chserver.py),
and every answer of the HTTP API must be the same, byte for byte once the `sql` members (each
backend's own dialect) are left out: the ingest answers, apps and types, labels, trend, flame graph
(function and line granularity, filtered, pruned, folded and pprof exports), table, diff with
significance, retention after maintenance, and agent settings.

The data: several applications and profile types, pprof and folded and lines uploads with tags
and sample labels, spread over five days up to now (inside the default 7-day retention). Every
query uses absolute times, so both servers answer the same question. Each test also checks that
the SQLite answer is not empty, so agreement never means two empty answers."""
import gzip
import json
import time
import unittest

import chserver
from fwenv import Server, first_difference, now, pprofgen, without_sql

HOUR = 3600
DAY = 86400


def folded_lines(rnd, nstacks, with_lines):
    funcs = ["app.main", "app.handle", "db.query", "db.fetch", "json.dumps", "json.loads", "tmpl.render",
             "cache.get", "cache.set", "auth.check", "log.write", "re.compile"]
    out = {}
    while len(out) < nstacks:
        depth = rnd.randint(2, 7)
        frames = []
        for i in range(depth):
            f = funcs[0] if i == 0 else rnd.choice(funcs[1:])
            if with_lines:
                f += " (/srv/%s.py:%d)" % (f.split(".")[0], 10 + rnd.randint(0, 4))
            frames.append(f)
        out[";".join(frames)] = rnd.randint(1, 400)
    return "".join("%s %d\n" % kv for kv in sorted(out.items()))


def dataset(T):
    """[(name, body, params)] in upload order: deterministic for a given hour start T."""
    import random
    rnd = random.Random(12)
    ups = []
    offsets = [4 * DAY + 7 * HOUR, 3 * DAY + 2 * HOUR, 2 * DAY + 5 * HOUR, 26 * HOUR, 25 * HOUR, 20 * HOUR,
               5 * HOUR, 3 * HOUR, 2 * HOUR, 50 * 60, 20 * 60, 5 * 60]
    for i, off in enumerate(offsets):
        t = T - off + rnd.randint(0, 300)
        env = "prod" if i % 3 else "dev"
        region = "eu" if i % 2 else "us"
        group = "worker-*" if i % 2 else "MainThread"
        p, _ = pprofgen.realistic(120, seed=100 + i, time_ns=t * 10**9,
                                  labels={"thread_name": group.replace("*", str(i % 4)), "thread_group": group},
                                  types=(("cpu", "nanoseconds"), ("wall", "nanoseconds")))
        ups.append(("shop{env=%s,region=%s}" % (env, region), p.encode(), {"format": "pprof", "from": t, "until": t + 10}))
        ups.append(("api.cpu{env=%s}" % env, folded_lines(rnd, 30, True).encode(),
                    {"format": "folded", "sampleRate": 100, "from": t, "until": t + 10}))
        if i % 2 == 0:
            ups.append(("mem.alloc_space{env=%s}" % env, folded_lines(rnd, 20, True).encode(),
                        {"format": "folded", "from": t, "until": t + 10}))
            ups.append(("mem.alloc_objects{env=%s}" % env, folded_lines(rnd, 20, True).encode(),
                        {"format": "folded", "from": t, "until": t + 10}))
        if i % 4 == 1:
            text = "".join("%s\n" % s.rsplit(" ", 1)[0] for s in folded_lines(rnd, 15, False).splitlines()
                           for _ in range(rnd.randint(1, 3)))
            ups.append(("jobs{queue=q%d}" % (i % 3), text.encode(), {"format": "lines", "from": t, "until": t + 10}))
    # The diff's two ranges: render grows from 10 to 200 samples between them, db stays at 10.
    base_t, cmp_t = T - 6 * HOUR, T - 4 * HOUR
    ups.append(("d", b"main;handler;db 10\nmain;handler;render 10\n", {"format": "folded", "from": base_t, "until": base_t + 10}))
    ups.append(("d", b"main;handler;db 10\nmain;handler;render 200\n", {"format": "folded", "from": cmp_t, "until": cmp_t + 10}))
    return ups


class Pair:
    """A SQLite-backed and a ClickHouse-backed server, asked the same questions."""

    def __init__(self, ch, db, args=()):
        self.sqlite = Server(args=list(args))
        self.ch = Server(store=ch.url(db), args=list(args))
        self.error = None

    def start(self):
        self.sqlite.start()
        try:
            self.ch.start()
        except Exception as exc:  # noqa: BLE001: reported by every test that needs it
            self.error = "ClickHouse-backed %s" % exc
        return self

    def cleanup(self):
        self.sqlite.cleanup()
        self.ch.cleanup()

    def both(self, method, path, body=None, params=None):
        a = self.sqlite.request(method, path, body, params=params)
        b = self.ch.request(method, path, body, params=params) if not self.error else None
        return a, b


def decode(resp):
    st, body, ctype = resp
    if ctype.startswith("application/json"):
        return st, without_sql(json.loads(body))
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    return st, body


def need(tc, pair):
    if pair.error:
        tc.fail(pair.error)


def compare(tc, queries, pair, nonempty=None):
    """Asks both servers every (path, params); fails listing every answer that differs.
    `nonempty(answer)` must hold for each SQLite answer (besides its status 200)."""
    need(tc, pair)
    bad = []
    for path, params in queries:
        a, b = pair.both("GET", path, params=params)
        da, db = decode(a), decode(b)
        tc.assertEqual(da[0], 200, "sqlite %s %r: %r" % (path, params, a[1][:300]))
        if nonempty:
            tc.assertTrue(nonempty(da[1]), "sqlite answer is empty: %s %r" % (path, params))
        if da != db:
            where = first_difference(da[1], db[1]) if isinstance(da[1], dict) and isinstance(db[1], dict) \
                else "status %d vs %d, %d vs %d bytes" % (da[0], db[0], len(da[1]), len(db[1]))
            bad.append("%s %s: %s" % (path, json.dumps(params, sort_keys=True), where))
    if bad:
        tc.fail("%d of %d answers differ:\n  %s" % (len(bad), len(queries), "\n  ".join(bad[:15])))


class Conformance(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.chs = chserver.ClickHouse("conformance").start()
        cls.T = now() - now() % HOUR
        cls.now = now()
        cls.pair = Pair(cls.chs, "conf").start()
        cls.ingest_diffs = []
        cls.ingested = 0
        for name, body, params in dataset(cls.T):
            a = cls.pair.sqlite.ingest(name, body, **{k: str(v) for k, v in params.items() if k != "format"},
                                       fmt=params["format"])
            if a[0] == 200:
                cls.ingested += 1
            if cls.pair.error:
                continue
            b = cls.pair.ch.ingest(name, body, **{k: str(v) for k, v in params.items() if k != "format"},
                                   fmt=params["format"])
            if decode(a) != decode(b):
                cls.ingest_diffs.append("%s: sqlite %r, clickhouse %r" % (name, a[:2], b[:2]))

    @classmethod
    def tearDownClass(cls):
        cls.pair.cleanup()
        cls.chs.cleanup()

    # ---- helpers ----
    def need(self):
        need(self, self.pair)

    def compare(self, queries, nonempty=None):
        compare(self, queries, self.pair, nonempty)

    def sqlite_json(self, path, params):
        return self.pair.sqlite.get_json(path, **params)

    def ranges(self):
        T, n = self.T, self.now
        return [(T - 5 * DAY, n + 60), (T - 2 * HOUR, n + 60), (T - 30 * HOUR, T - 19 * HOUR), (n - 15 * 60, n + 60)]

    def q(self, path, app, typ, frm, to, labels=(), **extra):
        p = {"app": app, "type": typ, "from": str(frm), "to": str(to)}
        if labels:
            p["label"] = list(labels)
        p.update({k: str(v) for k, v in extra.items()})
        return (path, p)

    SERIES = [("shop", "cpu"), ("shop", "wall"), ("api", "cpu"), ("mem", "alloc_space"), ("mem", "alloc_objects"),
              ("jobs", "cpu")]
    FILTERS = [(), ("env=prod",), ("thread_group=worker-*",), ("env=prod", "region=eu"), ("env=dev", "env=prod"),
               ("queue=q1",), ("env=nope",)]

    # ---- tests ----
    def test_ingest_answers_are_the_same(self):
        self.need()
        self.assertEqual(self.ingested, len(dataset(self.T)), "every upload accepted by the SQLite server")
        self.assertEqual(self.ingest_diffs, [])

    def test_apps_and_types(self):
        self.compare([("/api/v1/apps", {})], nonempty=lambda j: len(j["apps"]) == 5)

    def test_labels(self):
        qs = [self.q("/api/v1/labels", app, typ, f, t) for app, typ in self.SERIES for f, t in self.ranges()]
        self.compare(qs)
        st, j = self.pair.sqlite.get_json("/api/v1/labels", app="shop", type="cpu", **{"from": self.T - 5 * DAY},
                                          to=self.now + 60)
        self.assertEqual({k["key"] for k in j["labels"]} >= {"env", "region", "thread_group", "thread_name"}, True, j)

    def test_trend(self):
        qs = []
        for app, typ in self.SERIES:
            for f, t in self.ranges():
                for labels in self.FILTERS[:4]:
                    qs.append(self.q("/api/v1/trend", app, typ, f, t, labels))
            qs.append(self.q("/api/v1/trend", app, typ, self.T - 5 * DAY, self.now + 60, step=HOUR))
            qs.append(self.q("/api/v1/trend", app, typ, self.T - 3 * HOUR, self.now + 60, step=60))
        self.compare(qs)
        st, j = self.sqlite_json(*self.q("/api/v1/trend", "shop", "cpu", self.T - 5 * DAY, self.now + 60))
        self.assertGreater(j["total"], 0)

    def flame_queries(self, granularity):
        qs = []
        for app, typ in self.SERIES:
            for f, t in self.ranges():
                for labels in self.FILTERS:
                    qs.append(self.q("/api/v1/flamegraph", app, typ, f, t, labels, granularity=granularity,
                                     maxNodes=200000))
            qs.append(self.q("/api/v1/flamegraph", app, typ, self.T - 5 * DAY, self.now + 60,
                             granularity=granularity, maxNodes=64))
        return qs

    def test_flamegraph_function(self):
        self.compare(self.flame_queries("function"))
        st, j = self.pair.sqlite.flame("shop", frm=str(self.T - 5 * DAY), to=str(self.now + 60), maxNodes=200000)
        self.assertGreater(len(j["nodes"]), 500, "a real tree is compared")

    def test_flamegraph_line(self):
        self.compare(self.flame_queries("line"))
        st, j = self.pair.sqlite.flame("api", frm=str(self.T - 5 * DAY), to=str(self.now + 60), granularity="line")
        self.assertTrue(any(n["line"] > 0 for n in j["nodes"]), "line numbers present")

    def test_flamegraph_exports(self):
        qs = []
        for fmt in ("folded", "pprof", "speedscope"):
            for app, typ in self.SERIES:
                for labels in ((), ("env=prod",)):
                    qs.append(self.q("/api/v1/flamegraph", app, typ, self.T - 5 * DAY, self.now + 60, labels,
                                     format=fmt, granularity="line", maxNodes=200000))
        self.compare(qs)

    def test_table(self):
        qs = []
        for app, typ in self.SERIES:
            for f, t in self.ranges()[:3]:
                for gran in ("function", "line"):
                    for sort in ("self", "total", "name"):
                        qs.append(self.q("/api/v1/table", app, typ, f, t, granularity=gran, sort=sort))
            qs.append(self.q("/api/v1/table", app, typ, self.T - 5 * DAY, self.now + 60, ("env=prod",), limit=5))
            qs.append(self.q("/api/v1/table", app, typ, self.T - 5 * DAY, self.now + 60, format="text", units="human"))
        self.compare(qs)

    def test_diff_with_significance(self):
        T = self.T
        qs = [self.q("/api/v1/diff", "d", "cpu", T - 4 * HOUR - 60, T - 4 * HOUR + 60, baseFrom=T - 6 * HOUR - 60,
                     baseTo=T - 6 * HOUR + 60),
              self.q("/api/v1/diff", "d", "cpu", T - 4 * HOUR - 60, T - 4 * HOUR + 60, baseFrom=T - 6 * HOUR - 60,
                     baseTo=T - 6 * HOUR + 60, format="text", units="human"),
              self.q("/api/v1/diff", "shop", "cpu", T - 2 * HOUR, self.now + 60, ("env=prod",),
                     baseFrom=T - 30 * HOUR, baseTo=T - 19 * HOUR, maxNodes=200000),
              self.q("/api/v1/diff", "shop", "wall", T - 5 * DAY, self.now + 60, ("region=eu",), baseLabel="region=us",
                     granularity="line", maxNodes=300),
              self.q("/api/v1/diff", "api", "cpu", T - 2 * HOUR, self.now + 60, baseFrom=T - 5 * DAY, baseTo=T - 2 * HOUR)]
        self.compare(qs)
        st, j = self.sqlite_json(*qs[0])
        sig = {n["name"]: n["significant"] for n in j["nodes"]}
        self.assertEqual((sig["render"], sig["db"]), (1, -1), "the diff's significance is exercised")

    def test_errors_are_the_same(self):
        T = self.T
        qs = [self.q("/api/v1/flamegraph", "nosuchapp", "cpu", T - DAY, self.now + 60),
              self.q("/api/v1/trend", "shop", "nosuchtype", T - DAY, self.now + 60),
              self.q("/api/v1/trend", "shop", "cpu", T - 5 * DAY, self.now + 60, step=1)]
        self.need()
        bad = []
        for path, params in qs:
            a, b = self.pair.both("GET", path, params=params)
            if decode(a) != decode(b):
                bad.append("%s %r: %r vs %r" % (path, params, a[:2], b[:2]))
        self.assertEqual(bad, [])

    def test_settings(self):
        self.need()
        start = now()
        bad = []

        def norm(resp):
            st, j = decode(resp)
            if isinstance(j, dict):
                for k in ("updated_at",):
                    if k in j:
                        self.assertTrue(j[k] == 0 or start - 1 <= j[k] <= now() + 1, j)
                        j[k] = j[k] and "T"
                for a in j.get("agents", []):
                    for k in ("last_fetch", "settings_updated_at"):
                        self.assertTrue(a[k] == 0 or start - 1 <= a[k] <= now() + 1, j)
                        a[k] = a[k] and "T"
            return st, j

        steps = [("GET", "/api/v1/apps/cfg/settings", None, None),
                 ("PUT", "/api/v1/apps/cfg/settings", {"wall": True, "cpu_interval_ms": 25, "memory": True,
                                                        "memory_threshold_kb": 512}, None),
                 ("GET", "/api/v1/apps/cfg/settings", None, {"host": "web-1", "pid": "123"}),
                 ("PUT", "/api/v1/apps/cfg/settings", {"cpu_interval_ms": 0}, None),
                 ("PUT", "/api/v1/apps/cfg/settings", {"enabled": False}, None),
                 ("GET", "/api/v1/apps/cfg/settings", None, {"host": "web-2", "pid": "7"}),
                 ("GET", "/api/v1/apps/cfg/settings", None, None),
                 ("GET", "/api/v1/apps/other/settings", None, None)]
        answers = []
        for method, path, body, params in steps:
            a, b = self.pair.both(method, path, json.dumps(body).encode() if body is not None else None, params)
            na, nb = norm(a), norm(b)
            answers.append(na)
            if na != nb:
                bad.append("%s %s %r: %r vs %r" % (method, path, body or params, na, nb))
        self.assertEqual(bad, [])
        final = answers[6][1]
        self.assertEqual((final["enabled"], final["wall"], final["cpu_interval_ms"], final["memory_threshold_kb"]),
                         (False, True, 25, 512))
        self.assertEqual(sorted(a["host"] for a in final["agents"]), ["web-1", "web-2"])
        self.assertEqual(answers[3][0], 400)


class Retention(unittest.TestCase):
    """Retention after maintenance: the same old uploads disappear from both stores, the new stay.
    Ages are far from the window's edge (3 days and 10 minutes against 1 day), because ClickHouse
    drops whole day partitions (issue 12: no TTL in 18.16) and SQLite deletes blocks."""

    def test_old_data_gone_after_maintenance(self):
        with chserver.ClickHouse("retention") as chs:
            pair = Pair(chs, "ret", args=["--retention", "1d", "--maintenance-interval", "1"]).start()
            try:
                n = now()
                old, new = n - 3 * DAY, n - 600
                ups = [("ret{env=a}", b"old;frame 5\nold;other 2\n", old), ("keep{env=a}", b"gone;too 4\n", old),
                       ("ret{env=b}", b"new;frame 3\n", new), ("keep{env=b}", b"stays;here 6\n", new)]
                for srv in (pair.sqlite, pair.ch) if not pair.error else (pair.sqlite,):
                    for name, body, t in ups:
                        st, resp, _ = srv.ingest(name, body, "folded", **{"from": t, "until": t + 10})
                        self.assertEqual(st, 200, resp)
                if pair.error:
                    self.fail(pair.error)
                queries = [("/api/v1/flamegraph", {"app": a, "type": "cpu", "from": str(n - 5 * DAY), "to": str(n + 60)})
                           for a in ("ret", "keep")]
                queries += [("/api/v1/trend", dict(q[1], step="3600")) for q in queries]
                queries += [("/api/v1/labels", q[1]) for q in queries[:2]] + [("/api/v1/apps", {})]

                def settled(srv):
                    st, j = srv.flame("ret", frm=str(n - 5 * DAY), to=str(n + 60))
                    return st == 200 and j["total"] == 3 * 10_000_000

                for srv in (pair.sqlite, pair.ch):
                    deadline = time.monotonic() + 30
                    while not settled(srv) and time.monotonic() < deadline:
                        time.sleep(0.5)
                    self.assertTrue(settled(srv), "old data still there after 30 s: %s" % srv.flame(
                        "ret", frm=str(n - 5 * DAY), to=str(n + 60))[1])
                st, j = pair.sqlite.get_json("/api/v1/labels", app="keep", type="cpu", **{"from": n - 5 * DAY},
                                             to=n + 60)
                self.assertEqual([k["values"] for k in j["labels"] if k["key"] == "env"], [["b"]], j)
                compare(self, queries, pair)
            finally:
                pair.cleanup()


if __name__ == "__main__":
    unittest.main()
