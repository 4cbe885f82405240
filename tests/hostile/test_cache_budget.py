"""The dimension cache's budget (issue 11, item 7): with `--cache-mb`, the server's memory stays under
the budget plus a fixed margin however many unique function names it is sent; a restart reads none of
them (start-up CPU and memory do not grow with what is stored); queries after the cache evicted what
they need answer exactly what they answered before; and label sets no retained sample uses are
collected after retention, like functions and stacks."""
import json
import os
import sqlite3
import time
import unittest

from hostile import Server, now

# What the server holds besides the dimension cache, whatever is stored: SQLite's page cache for the
# writer (bounded at 64 MiB, full once the file is past that), its own heap and threads (8 MB idle),
# and an upload's buffers (a 50,000-line upload is ~20 MB parsed). A fixed number, not a function of
# how many names were stored. Measured: 95 MB with an 8 MiB budget; the build before the budget
# used 214-239 MB for the same uploads, growing with them (about 40 MB per 100,000 names).
MARGIN_MB = 112
UNIQUE = 500_000
PER_UPLOAD = 50_000


def wait_for(fn, timeout=20.0, step=0.25):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > deadline:
            return v
        time.sleep(step)


def db_rows(path, sql):
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmRSS for pid %d" % pid)


def cpu_s(pid):
    """User + system CPU seconds the process has used (fields 14 and 15 of /proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric(s, name):
    st, body, _ = s.request("GET", "/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    raise AssertionError("no %s in /metrics" % name)


def upload_unique(s, app, total=UNIQUE, per=PER_UPLOAD, t=None):
    """`total` unique function names, `per` to an upload, each one stack main;handler;u_K_I."""
    t = t or now() - 600
    for k in range(total // per):
        body = "".join("main;handler;u_%d_%d_generated_name 1\n" % (k, i) for i in range(per)).encode()
        st, b, _ = s.ingest(app, body, "folded", **{"from": t, "until": t + 10})
        if st != 200:
            raise AssertionError("upload %d answered %d: %r" % (k, st, b[:200]))


def answers(s, app, frm, to):
    """Everything a console shows of an app: the flame graph at both granularities and the table."""
    out = []
    for gran in ("function", "line"):
        st, fg = s.get_json("/api/v1/flamegraph", app=app, **{"from": frm}, to=to, granularity=gran,
                            maxNodes=100000)
        if st != 200:
            raise AssertionError("flamegraph answered %d: %r" % (st, fg))
        fg.pop("sql", None)
        out.append(fg)
        st, tb = s.get_json("/api/v1/table", app=app, **{"from": frm}, to=to, granularity=gran, sort="name")
        if st != 200:
            raise AssertionError("table answered %d: %r" % (st, tb))
        tb.pop("sql", None)
        out.append(tb)
    return json.dumps(out, sort_keys=True)


class MemoryBudget(unittest.TestCase):
    def test_rss_stays_under_budget_and_restart_reads_nothing(self):
        budget = 8
        with Server(args=["--cache-mb", str(budget)]) as s:
            rss0 = rss_mb(s.proc.pid)
            cpu_empty = cpu_s(s.proc.pid)
            upload_unique(s, "churn")
            self.assertEqual(db_rows(s.db, "SELECT count(*) FROM functions")[0][0], UNIQUE + 2)
            rss = rss_mb(s.proc.pid)
            print("\n  cache-budget: %d unique functions, --cache-mb %d: RSS %.0f MB (%.0f MB empty)"
                  % (UNIQUE, budget, rss, rss0), flush=True)
            self.assertLess(rss, budget + MARGIN_MB, "RSS %.0f MB after %d unique functions" % (rss, UNIQUE))
            # The cache itself is within its budget, exactly, and got there by evicting.
            self.assertEqual(metric(s, "flamewatch_store_cache_budget_bytes"), budget << 20)
            self.assertLessEqual(metric(s, "flamewatch_store_cache_bytes"), budget << 20)
            self.assertGreater(metric(s, "flamewatch_store_cache_evictions_total"), UNIQUE)
            # A restart reads no dimension: its CPU and memory are those of an empty store.
            s.stop()
            s.start()
            rss1, cpu1 = rss_mb(s.proc.pid), cpu_s(s.proc.pid)
            print("  cache-budget: after restart RSS %.0f MB, start-up CPU %.2f s (empty store: %.0f MB, %.2f s)"
                  % (rss1, cpu1, rss0, cpu_empty), flush=True)
            self.assertLess(rss1, rss0 + 16, "RSS after restart %.0f MB, empty %.0f MB" % (rss1, rss0))
            self.assertLess(cpu1, cpu_empty + 0.25, "start-up CPU %.2f s, empty %.2f s" % (cpu1, cpu_empty))
            # And the names are all still there, found through the file: re-sending one adds no row.
            t = now() - 300
            st, b, _ = s.ingest("churn", b"main;handler;u_3_77_generated_name 5\n", "folded",
                                **{"from": t, "until": t + 10})
            self.assertEqual(st, 200, b)
            self.assertEqual(db_rows(s.db, "SELECT count(*) FROM functions")[0][0], UNIQUE + 2)


class ExactAfterEviction(unittest.TestCase):
    def test_queries_after_eviction_answer_as_before(self):
        with Server(args=["--cache-mb", "1"]) as s:
            t = now() - 900
            # An app with 3,000 stacks over shared and own frames, distinct values, two label sets.
            body = "".join("main;svc_%d;work_%d;leaf_%d %d\n" % (i % 17, i % 101, i, 1 + i % 13)
                           for i in range(3000)).encode()
            for lbl in ("a", "b"):
                st, b, _ = s.ingest("shop{zone=%s}" % lbl, body, "folded", **{"from": t, "until": t + 10})
                self.assertEqual(st, 200, b)
            before = answers(s, "shop", t - 60, t + 60)
            self.assertIn("leaf_2999", before)
            # 100,000 other names: far past 1 MiB, so every entry of shop's stacks is evicted.
            upload_unique(s, "noise", total=100_000, per=50_000, t=t)
            self.assertGreater(metric(s, "flamewatch_store_cache_evictions_total"), 100_000)
            self.assertEqual(answers(s, "shop", t - 60, t + 60), before)
            # And once more from a cold start.
            s.stop()
            s.start()
            self.assertEqual(answers(s, "shop", t - 60, t + 60), before)
            # New uploads of known stacks after eviction reuse their ids (no duplicate rows).
            counts = "SELECT (SELECT count(*) FROM functions), (SELECT count(*) FROM stacks), (SELECT count(*) FROM labelsets)"
            before_rows = db_rows(s.db, counts)
            st, b, _ = s.ingest("shop{zone=a}", body, "folded", **{"from": t + 20, "until": t + 30})
            self.assertEqual(st, 200, b)
            self.assertEqual(db_rows(s.db, counts), before_rows)


class LabelSetGC(unittest.TestCase):
    def test_label_sets_no_retained_sample_uses_are_collected(self):
        with Server(args=["--retention", "1h", "--maintenance-interval", "1"]) as s:
            old = now() - 3 * 86400
            # A request id in a label: one label set per upload.
            for k in range(40):
                st, b, _ = s.ingest("api{request=req-%d}" % k, b"main;handler 1\n", "folded",
                                    **{"from": old + 10 * k, "until": old + 10 * k + 10})
                self.assertEqual(st, 200, b)
            t = now() - 300
            st, b, _ = s.ingest("api{request=kept}", b"main;handler 2\n", "folded", **{"from": t, "until": t + 10})
            self.assertEqual(st, 200, b)
            self.assertEqual(db_rows(s.db, "SELECT count(*) FROM labelsets")[0][0], 41)
            self.assertTrue(wait_for(lambda: db_rows(s.db, "SELECT count(*) FROM labelsets")[0][0] == 1, 30),
                            "label sets left: %r" % db_rows(s.db, "SELECT count(*) FROM labelsets"))
            self.assertEqual(db_rows(s.db, "SELECT labels FROM labelsets"), [('{request="kept"}',)])
            self.assertEqual(db_rows(s.db, "SELECT key, value FROM labels"), [("request", "kept")])
            # The kept one still filters, and a forgotten one comes back as a new set.
            st, fg = s.flame("api", frm=t - 60, to=t + 60, labels=["request=kept"])
            self.assertEqual(st, 200, fg)
            self.assertEqual(fg["total"], 2 * 10_000_000)
            st, b, _ = s.ingest("api{request=req-3}", b"main;handler 4\n", "folded", **{"from": t, "until": t + 10})
            self.assertEqual(st, 200, b)
            st, fg = s.flame("api", frm=t - 60, to=t + 60, labels=["request=req-3"])
            self.assertEqual(st, 200, fg)
            self.assertEqual(fg["total"], 4 * 10_000_000)
            self.assertEqual(db_rows(s.db, "SELECT count(*) FROM labelsets")[0][0], 2)


if __name__ == "__main__":
    unittest.main()
