"""Retries stored once on the SQLite store (issue 12): the shared cases of
tests/server/retry_cases.py on one server (SQLite has one writer), then what only a file store
has to show: the ids survive a kill -9 of the server between the commit and the answer, and
retention forgets the ids of the buckets it deleted."""
import sqlite3
import time
import unittest

from hostile import Server, now
from retry_cases import RetryCases, RetryHelpers, send_and_drop


class SqliteRetries(RetryCases, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = Server().start()
        cls.b = cls.a

    @classmethod
    def tearDownClass(cls):
        cls.a.cleanup()


class SqliteRetryIds(RetryHelpers, unittest.TestCase):
    """Each test with its own server."""

    def ids_in_file(self, srv):
        with sqlite3.connect("file:%s?mode=ro" % srv.db, uri=True, timeout=10) as db:
            return sorted(r[0] for r in db.execute("SELECT t FROM uploads"))

    def test_retry_after_a_restart_is_stored_once(self):
        srv = Server()
        self.addCleanup(srv.cleanup)
        self.a = srv.start()
        t = now() - 600
        params, body, one = self.upload("restart", t)
        send_and_drop(srv, params, body)
        self.assertEqual(self.wait_total("restart", t, one), one, "the first attempt was stored")
        srv.kill9()            # the answer never left; the agent retries against the new process
        srv.start()
        st, resp = self.post(srv, params, body)
        self.assertEqual(st, 200, resp)
        self.assertIn(b'"duplicate":true', resp.replace(b" ", b""))
        self.assertEqual(self.total("restart", t), one, "the retry after the restart was counted twice")

    def test_retention_forgets_the_ids_it_passed(self):
        srv = Server(args=["--retention", "1h", "--maintenance-interval", "1"])
        self.addCleanup(srv.cleanup)
        self.a = srv.start()
        recent = now() - 600
        old = now() - 3 * 3600
        for app, t in (("recent", recent), ("old", old)):
            params, body, _ = self.upload(app, t)
            st, resp = self.post(srv, params, body)
            self.assertEqual(st, 200, resp)
        deadline = time.monotonic() + 30
        while len(self.ids_in_file(srv)) > 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        ids = self.ids_in_file(srv)
        self.assertEqual(ids, [recent - recent % 10], "ids left after retention: %r" % ids)


if __name__ == "__main__":
    unittest.main()
