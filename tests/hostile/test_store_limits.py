"""Store limits (issue 11, items 1, 7, 11 and 13): values that would overflow the store's sums are
refused at ingest with a 400 that says why; rows poisoned before the limits existed (written here
with sqlite3, as an old server would have) never stop maintenance, retention or queries; retention
forgets functions and stacks no retained sample uses; the WAL is truncated back under its bound
after a burst; and the errors say what is wrong."""
import json
import os
import sqlite3
import time
import unittest

from hostile import Server, expect_error, now

INT64_MAX = 2**63 - 1
WAL_LIMIT = 16 << 20   # docs/API.md, "Limits"


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


def total(s, app, typ="cpu", frm=None, to=None):
    st, tr = s.get_json("/api/v1/trend", app=app, type=typ, **{"from": frm or now() - 5 * 3600},
                        to=to or now() + 60)
    if st != 200:
        raise AssertionError("trend of %s answered %d: %r" % (app, st, tr))
    return sum(p["value"] for p in tr["points"])


class ValueLimits(unittest.TestCase):
    def test_values_past_the_per_sample_limit_are_refused(self):
        with Server() as s:
            t = now() - 300
            for _ in range(2):
                st, err = expect_error(s.ingest("poison", b"main;poison 9223372036\n", "folded", sampleRate=1,
                                                **{"from": t, "until": t + 10}), 400, 400, "cpu poison")
                self.assertIn("limit", err)
            st, err = expect_error(s.ingest("poison", b"main;poison 99999999999999999\n", "folded", sampleRate=1,
                                            **{"from": t, "until": t + 10}), 400, 400, "cpu count past 2^63 ns")
            self.assertIn("limit", err)
            st, err = expect_error(s.ingest("poison.alloc_space{}", b"main;big %d\n" % (INT64_MAX - 5), "folded",
                                            **{"from": t, "until": t + 10}), 400, 400, "alloc poison")
            self.assertIn("limit", err)
            # Nothing of the refused uploads was stored.
            self.assertEqual(db_rows(s.db, "SELECT count(*) FROM sample_blocks"), [(0,)])
            # A large but physical value is still accepted: 64 cores for 10 s.
            st, body, _ = s.ingest("poison", b"main;busy %d\n" % (64 * 10 * 100), "folded",
                                   **{"from": t, "until": t + 10})
            self.assertEqual(st, 200, body)

    def test_upload_sum_past_the_per_upload_limit_is_refused(self):
        with Server() as s:
            t = now() - 300
            # Each line is under the per-sample limit, together they are over the per-upload one.
            body = b"".join(b"main;f%d %d\n" % (i, 2**45) for i in range(16))
            st, err = expect_error(s.ingest("many.alloc_space{}", body, "folded", **{"from": t, "until": t + 10}),
                                   400, 400, "upload sum")
            self.assertIn("per upload", err)

    def test_two_huge_stacks_get_a_message_not_not_an_error(self):
        with Server() as s:
            body = b"a %d\nb %d\n" % (INT64_MAX, INT64_MAX)
            st, err = expect_error(s.ingest("huge.alloc_space{}", body, "folded"), 400, 400, "two INT64_MAX")
            self.assertNotIn("not an error", err)
            self.assertIn("limit", err)

    def test_trend_over_all_time_answers_or_says_why(self):
        with Server() as s:
            t = now() - 300
            self.assertEqual(s.ingest("forever", b"main;a 3\n", "folded", **{"from": t, "until": t + 10})[0], 200)
            st, tr = s.get_json("/api/v1/trend", app="forever", **{"from": "0"}, to="253402300799")
            self.assertEqual(st, 200, tr)
            self.assertLessEqual(len(tr["points"]), 10000)
            self.assertEqual(sum(p["value"] for p in tr["points"]), 3 * 10_000_000)
            # A step too small for the range is refused with the reason.
            st, body, _ = s.request("GET", "/api/v1/trend", params={"app": "forever", "from": "0",
                                                                   "to": "253402300799", "step": "10"})
            st, err = expect_error((st, body, "application/json"), 400, 400, "tiny step")
            self.assertIn("step", err)


class PoisonedDatabase(unittest.TestCase):
    """Rows an old server accepted (values near INT64_MAX), written with sqlite3 into a stopped
    server's file: maintenance must go on (roll-ups and retention, for every app) and the poisoned
    app's queries must answer."""

    def test_poisoned_rows_do_not_stop_maintenance_or_queries(self):
        args = ["--retention", "1h", "--maintenance-interval", "1"]
        s = Server(args=args)
        try:
            s.start()
            old = now() - 3 * 3600
            t = now() - 600
            self.assertEqual(s.ingest("good", b"old;frame 5\n", "folded", **{"from": old, "until": old + 10})[0], 200)
            self.assertEqual(s.ingest("good", b"new;frame 3\n", "folded", **{"from": t, "until": t + 10})[0], 200)
            self.assertEqual(s.ingest("bad", b"main;poison 1\n", "folded", **{"from": t, "until": t + 10})[0], 200)
            s.stop()
            con = sqlite3.connect(s.db)
            (sid,) = con.execute("SELECT max(id) FROM stacks").fetchone()
            (bad,) = con.execute("SELECT id FROM series WHERE app = 'bad' AND type = 'cpu'").fetchone()
            # Roll-ups were reset so maintenance has to roll the poisoned minute up again.
            con.execute("DELETE FROM rollup_blocks")
            con.execute("UPDATE meta SET value = 0 WHERE key LIKE 'wm_%'")
            v = INT64_MAX - 1000
            for k in range(3):
                con.execute("INSERT INTO sample_blocks(series_id, t, labelset_id, value, count, nstacks, stacks)"
                            " VALUES (?, ?, 1, ?, 1, 1, ?)", (bad, t + 10 * k, v, "[[%d,%d,1]]" % (sid, v)))
            con.commit()
            con.close()
            s.start()
            # Retention goes on for the good app (its 3 h old upload goes) ...
            self.assertTrue(wait_for(lambda: total(s, "good") == 3 * 10_000_000),
                            "old data of another app still there: %d" % total(s, "good"))
            # ... and roll-ups move past the poisoned minute.
            self.assertTrue(wait_for(lambda: db_rows(s.db, "SELECT value FROM meta WHERE key = 'wm_60'")[0][0] > t + 60),
                            "roll-up watermark stuck: %r" % db_rows(s.db, "SELECT * FROM meta"))
            self.assertNotIn("maintenance: database error", s.logtext())
            # Every view of the poisoned app answers, its sums saturated rather than wrapped.
            rng = {"from": t - 60, "to": t + 120}
            st, tr = s.get_json("/api/v1/trend", app="bad", type="cpu", **rng)
            self.assertEqual(st, 200, tr)
            self.assertEqual(tr["total"], INT64_MAX, "saturated")
            self.assertTrue(all(0 <= p["value"] <= INT64_MAX for p in tr["points"]), tr)
            st, fl = s.get_json("/api/v1/flamegraph", app="bad", type="cpu", **rng)
            self.assertEqual(st, 200, fl)
            st, tb = s.get_json("/api/v1/table", app="bad", type="cpu", **rng)
            self.assertEqual(st, 200, tb)
            self.assertTrue(all(r["total"] >= 0 for r in tb["rows"]), tb)
            st, df = s.get_json("/api/v1/diff", app="bad", type="cpu", baseFrom=t - 60, baseTo=t + 5, **rng)
            self.assertEqual(st, 200, df)
            # Long ranges read the roll-ups: their totals saturate too.
            st, fl = s.get_json("/api/v1/flamegraph", app="bad", type="cpu", **{"from": now() - 3600}, to=now())
            self.assertEqual(st, 200, fl)
        finally:
            s.cleanup()


def stacks_metric(s):
    st, body, _ = s.request("GET", "/metrics")
    for line in body.decode().splitlines():
        if line.startswith("flamewatch_store_stacks "):
            return int(float(line.split()[1]))
    raise AssertionError("no flamewatch_store_stacks in /metrics")


class ForgottenDimensions(unittest.TestCase):
    def test_retention_deletes_functions_and_stacks_no_sample_uses(self):
        with Server(args=["--retention", "1h", "--maintenance-interval", "1"]) as s:
            # Days old, so that every roll-up bucket of it (a day's too) lies wholly past retention.
            old = now() - 3 * 86400
            n = 20000
            # One upload, so that one retention pass deletes it all (the GC runs at most once a minute).
            body = "".join("main;handler;unique_%d_%d 1\n" % (k, i) for k in range(3) for i in range(n)).encode()
            st, b, _ = s.ingest("churn", body, "folded", **{"from": old, "until": old + 10})
            self.assertEqual(st, 200, b)
            self.assertEqual(json.loads(b)["stack_values"], 3 * n)
            t = now() - 300
            self.assertEqual(s.ingest("churn", b"main;handler;kept 7\n", "folded", **{"from": t, "until": t + 10})[0], 200)
            self.assertTrue(wait_for(lambda: db_rows(s.db, "SELECT count(*) FROM functions")[0][0] < 10, 30),
                            "functions left: %r" % db_rows(s.db, "SELECT count(*) FROM functions"))
            fn, fr, stk = db_rows(s.db, "SELECT (SELECT count(*) FROM functions), (SELECT count(*) FROM frames),"
                                        " (SELECT count(*) FROM stacks)")[0]
            self.assertEqual((fn, fr, stk), (3, 3, 3), "main, handler, kept")
            # The writer's in-memory cache forgot them too.
            self.assertEqual(stacks_metric(s), 3)
            # What is retained still reads back whole, and the forgotten names can come back.
            st, tb = s.get_json("/api/v1/table", app="churn", **{"from": t - 60}, to=t + 60)
            self.assertEqual(st, 200, tb)
            self.assertEqual({r["name"] for r in tb["rows"]}, {"main", "handler", "kept"})
            self.assertEqual(s.ingest("churn", b"main;handler;unique_0_5 2\n", "folded",
                                      **{"from": t, "until": t + 10})[0], 200)
            self.assertEqual(total(s, "churn", frm=t - 60, to=t + 60), 9 * 10_000_000)
            st, tb = s.get_json("/api/v1/table", app="churn", **{"from": t - 60}, to=t + 60)
            self.assertIn("unique_0_5", {r["name"] for r in tb["rows"]})
            # The dimensions loaded at the next start are the retained ones only.
            s.stop()
            s.start()
            self.assertEqual(total(s, "churn", frm=t - 60, to=t + 60), 9 * 10_000_000)
            st, tb = s.get_json("/api/v1/table", app="churn", **{"from": t - 60}, to=t + 60)
            self.assertEqual({r["name"] for r in tb["rows"]}, {"main", "handler", "kept", "unique_0_5"})


class WalBound(unittest.TestCase):
    def test_wal_is_truncated_after_a_burst(self):
        with Server(args=["--maintenance-interval", "1"]) as s:
            wal = s.db + "-wal"
            # A reader holding one snapshot through the burst keeps checkpoints from completing,
            # as a long console query does: the WAL grows past its bound meanwhile.
            con = sqlite3.connect("file:%s?mode=ro" % s.db, uri=True)
            con.execute("BEGIN")
            con.execute("SELECT count(*) FROM meta").fetchall()
            t = now() - 120
            k = 0
            while os.path.getsize(wal) < WAL_LIMIT + (8 << 20) and k < 200:
                body = "".join("main;burst_%d;leaf_%d 1\n" % (k, i) for i in range(20000)).encode()
                st, b, _ = s.ingest("burst", body, "folded", **{"from": t, "until": t + 10})
                self.assertEqual(st, 200, b)
                k += 1
            grown = os.path.getsize(wal)
            self.assertGreater(grown, WAL_LIMIT, "the burst did not grow the WAL")
            con.rollback()
            con.close()
            self.assertTrue(wait_for(lambda: os.path.getsize(wal) <= WAL_LIMIT, 20),
                            "WAL still %d bytes (was %d)" % (os.path.getsize(wal), grown))
            # Nothing was lost on the way.
            self.assertEqual(total(s, "burst", frm=t - 60, to=t + 60), k * 20000 * 10_000_000)


if __name__ == "__main__":
    unittest.main()
