"""`flamewatch server --store URL` (issue 12, step 1): a store is named by a URL; sqlite://DIR is
the same store as --data DIR (absolute or relative), and every URL the server cannot use (empty,
no scheme, an unknown scheme, a malformed clickhouse:// URL, parameters, both --data and
--store) is refused with exit status 2 and a message that says why, before anything is created."""
import os
import shutil
import subprocess
import tempfile
import unittest

from hostile import BIN, Server, now


def server_exit(args, cwd=None):
    """Runs `flamewatch server ARGS` that must exit at once; returns (status, stderr)."""
    p = subprocess.run([BIN, "server", "--listen", "127.0.0.1:0"] + args, cwd=cwd, capture_output=True,
                       timeout=20)
    return p.returncode, p.stderr.decode("utf-8", "replace")


class StoreUrl(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fw-store-url-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_sqlite_url_is_the_data_directory(self):
        """Data uploaded with --store sqlite:///abs/dir is what --data /abs/dir serves afterwards."""
        d = os.path.join(self.tmp, "store")
        t = now() - 60
        with Server(store="sqlite://" + d) as s:
            st, body, _ = s.ingest("urlapp", b"main;work 7\nmain;idle 3\n", "folded", sampleRate=100,
                                   **{"from": t, "until": t + 10})
            self.assertEqual(st, 200, body)
            st, fg = s.flame("urlapp")
            self.assertEqual(st, 200, fg)
            first = fg["total"]
        self.assertTrue(first > 0)
        self.assertTrue(os.path.isfile(os.path.join(d, "flamewatch.db")), os.listdir(d))
        with Server(data=d) as s:
            st, fg = s.flame("urlapp")
            self.assertEqual(st, 200, fg)
            self.assertEqual(fg["total"], first)

    def test_relative_sqlite_url(self):
        """sqlite://rel is relative to the working directory, as --data rel is."""
        cwd = os.getcwd()
        os.chdir(self.tmp)   # the server inherits the working directory
        try:
            with Server(store="sqlite://rel") as s:
                st, _, _ = s.ingest("relapp", b"main;x 1\n", "folded", sampleRate=100)
                self.assertEqual(st, 200)
        finally:
            os.chdir(cwd)
        self.assertTrue(os.path.isfile(os.path.join(self.tmp, "rel", "flamewatch.db")))

    def test_bad_urls_exit_2_with_a_reason(self):
        cases = [
            ("", "empty store URL"),
            ("var/lib/flamewatch", "is not a store URL"),
            ("sqlite://", "names no directory"),
            ("postgres://db/x", "unknown scheme 'postgres'"),
            ("clickhouse://127.0.0.1:8123", "names no database"),
            ("clickhouse://127.0.0.1:8123/db;drop", "must be a plain name"),
            ("clickhouse://127.0.0.1:8123/db?cluster=c;x", "cluster must be a plain name"),
            ("clickhouse://127.0.0.1:8123/db?sync=full", "the only parameter is ?cluster=NAME"),
            ("clickhouse://127.0.0.1:99999/db", "bad port"),
            ("sqlite://%s/p?sync=full" % self.tmp, "takes no parameters"),
        ]
        for url, why in cases:
            st, err = server_exit(["--store", url], cwd=self.tmp)
            self.assertEqual(st, 2, (url, err))
            self.assertIn("--store", err, url)
            self.assertIn(why, err, url)
        self.assertEqual(sorted(os.listdir(self.tmp)), [], "a refused URL created something")

    def test_store_and_data_together_are_refused(self):
        st, err = server_exit(["--store", "sqlite://" + os.path.join(self.tmp, "a"), "--data",
                               os.path.join(self.tmp, "b")])
        self.assertEqual(st, 2, err)
        self.assertIn("--data and --store", err)
        self.assertEqual(os.listdir(self.tmp), [])

    def test_store_that_cannot_be_created(self):
        """A URL of the right form whose directory cannot be made: the server says so and fails."""
        st, err = server_exit(["--store", "sqlite:///proc/flamewatch-no/such"])
        self.assertNotEqual(st, 0)
        self.assertIn("cannot open store sqlite:///proc/flamewatch-no/such", err)
        self.assertIn("cannot create data directory", err)


if __name__ == "__main__":
    unittest.main()
