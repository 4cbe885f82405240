"""Gzip on /ingest (issue 16: one gunzip, errors by code). An upload has up to two gzip layers,
each looked for once: the transport's (Content-Encoding: gzip) and the file's own (a gzip'ed pprof,
as Go writes them, or a gzip'ed text file, found by its magic bytes). Every refusal says which
layer failed with the right status (413 for a bomb, 400 for corruption), is counted under its
reason, and stores nothing."""
import gzip
import os
import re
import sys
import unittest

from hostile import ROOT, Server, now

sys.path.insert(0, os.path.join(ROOT, "tests", "server"))
from pprofgen import Profile  # noqa: E402


def pprof_raw():
    p = Profile([("cpu", "nanoseconds")], time_ns=(now() - 30) * 10**9, duration_ns=10**10)
    p.add([("main", "app.py", 1), ("gzip_layers_leaf", "app.py", 7)], [5_000_000])
    return p.encode(compress=False)


def rejected(s, reason):
    st, body, _ = s.request("GET", "/metrics")
    assert st == 200
    m = re.search(r'flamewatch_uploads_rejected_total\{reason="%s"\} (\d+)' % reason, body.decode())
    return int(m.group(1)) if m else 0


class GzipLayers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server().start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def ingest(self, app, body, fmt="pprof", encoding=None):
        p = {"name": app, "format": fmt}
        h = {"Content-Encoding": encoding} if encoding else {}
        return self.srv.request("POST", "/ingest", body, h, None, p)

    def assert_stored(self, app):
        st, fg = self.srv.flame(app, frm="now-1h", to="now+1m")
        self.assertEqual(st, 200, fg)
        names = [n["name"] for n in fg["nodes"]]
        self.assertIn("gzip_layers_leaf", names, names)

    def assert_nothing_stored(self, app):
        st, apps = self.srv.get_json("/api/v1/apps")
        self.assertEqual(st, 200, apps)
        self.assertNotIn(app, [a["name"] for a in apps["apps"]])

    def test_each_layer_is_undone_once(self):
        raw = pprof_raw()
        for app, body, enc in [("gz-none", raw, None), ("gz-file", gzip.compress(raw), None),
                               ("gz-transport", gzip.compress(raw), "gzip"),
                               ("gz-both", gzip.compress(gzip.compress(raw)), "gzip")]:
            st, out, _ = self.ingest(app, body, encoding=enc)
            self.assertEqual(st, 200, (app, out))
            self.assert_stored(app)
        t = now() - 30
        st, out, _ = self.srv.request("POST", "/ingest", gzip.compress(b"main;gzip_layers_leaf 3\n"), {}, None,
                                      {"name": "gz-folded", "format": "folded", "from": t, "until": t + 10})
        self.assertEqual(st, 200, out)
        self.assert_stored("gz-folded")

    def test_a_bomb_is_413_in_either_layer(self):
        bomb = gzip.compress(b"\0" * (65 << 20), 9)   # 65 MB of zeros in ~65 KB: over the 64 MB cap
        before = rejected(self.srv, "too_large")
        for app, enc, fmt in [("bomb-file", None, "pprof"), ("bomb-transport", "gzip", "pprof"),
                              ("bomb-text", None, "folded")]:
            st, out, _ = self.ingest(app, bomb, fmt=fmt, encoding=enc)
            self.assertEqual(st, 413, (app, out))
            self.assertIn(b"decompressed body exceeds 64 MB", out)
            self.assert_nothing_stored(app)
        self.assertEqual(rejected(self.srv, "too_large"), before + 3)

    def test_corrupt_gzip_is_400_gzip(self):
        gz = gzip.compress(pprof_raw())
        before = rejected(self.srv, "gzip")
        for app, body, enc in [("cut-file", gz[:-5], None), ("cut-transport", gz[:-5], "gzip"),
                               ("not-gzip", pprof_raw(), "gzip")]:
            st, out, _ = self.ingest(app, body, encoding=enc)
            self.assertEqual(st, 400, (app, out))
            self.assertIn(b"gzip: corrupt or truncated gzip data", out)
            self.assert_nothing_stored(app)
        self.assertEqual(rejected(self.srv, "gzip"), before + 3)

    def test_bad_pprof_inside_gzip_is_400_pprof(self):
        before = rejected(self.srv, "pprof")
        st, out, _ = self.ingest("bad-pprof", gzip.compress(pprof_raw()[:-3]))
        self.assertEqual(st, 400, out)
        self.assertIn(b"error", out)
        self.assert_nothing_stored("bad-pprof")
        self.assertEqual(rejected(self.srv, "pprof"), before + 1)


if __name__ == "__main__":
    unittest.main()
