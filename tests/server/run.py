#!/usr/bin/env python3
"""flamewatch server tests (stdlib only).

Every test starts its own `flamewatch server` on a free loopback port chosen at run time, in a
fresh data directory, and stops it. Uploads are built by tests/server/pprofgen.py so each test
knows its exact totals. Ends with `RESULT passed=N failed=M`.

Usage: run.py [--build DIR] [-k SUBSTRING] [--no-fuzz]
"""
import argparse
import gzip
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import pprofgen  # noqa: E402

BUILD = os.environ.get("FLAMEWATCH_TEST_BUILD", os.path.join(ROOT, "build"))
BIN = None
TOKENS = {
    "ingest": "ingest-token-0123456789abcdef",
    "read": "read-token-0123456789abcdef",
    "admin": "admin-token-0123456789abcdef",
}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, data=None, args=(), tokens=False, store=None):
        self.tmp = tempfile.mkdtemp(prefix="fwsrv-")
        self.data = data or os.path.join(self.tmp, "data")
        # store: a --store URL given instead of --data (the data directory is then the URL's).
        self.store = store
        self.args = list(args)
        if tokens:
            path = os.path.join(self.tmp, "tokens")
            with open(path, "w") as f:
                f.write("# test tokens\n")
                for role, tok in TOKENS.items():
                    f.write("%s %s %s-user\n" % (tok, role, role))
            self.args += ["--tokens", path]
        self.proc = None
        self.port = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def db(self):
        return os.path.join(self.data, "flamewatch.db")

    def start(self):
        for _ in range(5):
            self.port = free_port()
            self.log = open(os.path.join(self.tmp, "server.log"), "ab")
            self.proc = subprocess.Popen(
                [BIN, "server", "--listen", "127.0.0.1:%d" % self.port]
                + (["--store", self.store] if self.store else ["--data", self.data]) + self.args,
                stdout=self.log, stderr=self.log)
            deadline = time.time() + 10
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                        if r.status == 200:
                            return self
                except (urllib.error.URLError, ConnectionError, OSError):
                    time.sleep(0.05)
            self.stop()
        raise RuntimeError("server did not start: " + self.logtext())

    def logtext(self):
        try:
            with open(os.path.join(self.tmp, "server.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")[-3000:]
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM):
        rc = None
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                rc = self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
        elif self.proc:
            rc = self.proc.returncode
        self.proc = None
        return rc

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # ---- HTTP ----
    def request(self, method, path, body=None, headers=None, token=None, params=None):
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read(), r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers.get("Content-Type", "")

    def ingest(self, name, body, fmt=None, ctype=None, token=None, **params):
        p = {"name": name}
        if fmt:
            p["format"] = fmt
        p.update({k: str(v) for k, v in params.items()})
        h = {"Content-Type": ctype} if ctype else {}
        return self.request("POST", "/ingest", body, h, token, p)

    def get_json(self, path, token=None, **params):
        st, body, _ = self.request("GET", path, token=token, params=params)
        try:
            return st, json.loads(body)
        except ValueError:
            return st, {"raw": body.decode("utf-8", "replace")}

    def flame(self, app, typ="cpu", frm="now-1h", to="now+1m", labels=(), token=None, **kw):
        return self.get_json("/api/v1/flamegraph", token=token, app=app, type=typ, **{"from": frm}, to=to,
                             label=list(labels), **kw)


# ---------------------------------------------------------------- helpers

def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)


def eq(a, b, msg=""):
    if a != b:
        raise AssertionError("%s: expected %r, got %r" % (msg or "values differ", b, a))


def expect_error(resp, lo=400, hi=499, msg=""):
    st, body, ctype = resp
    check(lo <= st <= hi, "%s: expected %d-%d, got %d %r" % (msg, lo, hi, st, body[:200]))
    check(ctype.startswith("application/json"), "%s: error is not JSON (%s)" % (msg, ctype))
    err = json.loads(body)
    check(isinstance(err.get("error"), str) and err["error"], "%s: no error message" % msg)
    return st, err["error"]


def now():
    return int(time.time())


def folded_total(text):
    return sum(int(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.strip())


def cli(*args, env=None):
    e = dict(os.environ)
    e.pop("FLAMEWATCH_SERVER", None)
    e.pop("FLAMEWATCH_TOKEN", None)
    e.update(env or {})
    p = subprocess.run([BIN] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120, env=e)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def total_of(srv, app, typ="cpu", **kw):
    st, j = srv.flame(app, typ, **kw)
    eq(st, 200, "flamegraph status %r" % j)
    return j["total"]


FOLDED = ("main (app.py:10);handle (app.py:20);parse (json.py:5) 7\n"
          "main (app.py:10);handle (app.py:21) 3\n"
          "main (app.py:10);idle 5\n")
FOLDED_SAMPLES = 15

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


# ---------------------------------------------------------------- ingest round trips

@test
def folded_raw_roundtrip():
    with Server() as s:
        st, body, _ = s.ingest("shop.cpu{env=prod}", FOLDED.encode(), "folded", sampleRate=100, **{"from": now() - 10, "until": now()})
        eq(st, 200, "ingest %r" % body)
        eq(total_of(s, "shop"), FOLDED_SAMPLES * 10_000_000, "cpu total in ns (100 Hz = 10 ms)")
        rc, out, err = cli("query", "--server", s.url, "--app", "shop", "--type", "cpu", "--from", "now-1h", "--to", "now+1m")
        eq(rc, 0, "cli query: " + err)
        got = sorted(out.splitlines())
        want = sorted("%s %d" % (l.rsplit(" ", 1)[0], int(l.rsplit(" ", 1)[1]) * 10_000_000) for l in FOLDED.splitlines())
        eq(got, want, "folded round trip")


@test
def lines_and_alloc_types():
    with Server() as s:
        st, body, _ = s.ingest("shop", b"a;b;c\na;b;c\na;d\n", "lines")
        eq(st, 200, "lines %r" % body)
        eq(total_of(s, "shop"), 3 * 10_000_000, "lines count")
        st, body, _ = s.ingest("shop.alloc_space{}", b"a;b 4096\na;c 1024\n", "folded")
        eq(st, 200, "alloc %r" % body)
        eq(total_of(s, "shop", "alloc_space"), 5120, "bytes kept as is")
        st, apps = s.get_json("/api/v1/apps")
        eq(st, 200)
        shop = [a for a in apps["apps"] if a["name"] == "shop"][0]
        types = {t["type"]: t for t in shop["types"]}
        check("cpu" in types and "alloc_space" in types, "types listed: %r" % types)
        check(types["cpu"]["description"], "type has a description")


@test
def pprof_raw_and_multipart_roundtrip():
    with Server() as s:
        t = now() - 30
        p, totals = pprofgen.realistic(300, seed=3, time_ns=t * 10**9,
                                       types=(("cpu", "nanoseconds"), ("wall", "nanoseconds")))
        st, body, _ = s.ingest("svc", p.encode(), "pprof")
        eq(st, 200, "raw pprof %r" % body)
        eq(total_of(s, "svc", "cpu"), totals[0], "cpu total")
        eq(total_of(s, "svc", "wall"), totals[1], "wall total")
        p2, totals2 = pprofgen.realistic(200, seed=4, time_ns=t * 10**9)
        ctype, mp = pprofgen.multipart([("profile", "profile.pprof", p2.encode()),
                                        ("sample_type_config", None, b'{"cpu":{"units":"nanoseconds"}}')])
        st, body, _ = s.ingest("svc2", mp, ctype=ctype)
        eq(st, 200, "multipart %r" % body)
        eq(total_of(s, "svc2"), totals2[0], "multipart total")
        st, body, _ = s.ingest("svc3", p2.encode(compress=False), "pprof")
        eq(st, 200, "plain pprof %r" % body)
        eq(total_of(s, "svc3"), totals2[0], "uncompressed pprof total")
        # pprof output of the query decodes to the same total
        rc, out, err = cli("query", "--server", s.url, "--app", "svc", "--from", "now-1h", "--to", "now+1m", "--format", "folded")
        eq(rc, 0, err)
        eq(folded_total(out), totals[0], "cli folded total")


@test
def label_filters():
    with Server() as s:
        t = now() - 20
        p = pprofgen.Profile([("cpu", "nanoseconds")], time_ns=t * 10**9)
        p.add([("main", "a.py", 1), ("work", "a.py", 5)], [100], {"thread_name": "worker-1", "thread_group": "worker-*"})
        p.add([("main", "a.py", 1), ("work", "a.py", 6)], [30], {"thread_name": "worker-2", "thread_group": "worker-*"})
        p.add([("main", "a.py", 1), ("idle", "a.py", 9)], [7], {"thread_name": "MainThread", "thread_group": "MainThread"})
        eq(s.ingest("lab{env=prod,region=eu}", p.encode(), "pprof")[0], 200)
        eq(s.ingest("lab{env=dev,region=eu}", p.encode(), "pprof")[0], 200)
        eq(total_of(s, "lab"), 274)
        eq(total_of(s, "lab", labels=["env=prod"]), 137, "tag filter")
        eq(total_of(s, "lab", labels=["thread_group=worker-*"]), 260, "sample label filter")
        eq(total_of(s, "lab", labels=["thread_group=worker-*", "env=dev"]), 130, "AND across keys")
        eq(total_of(s, "lab", labels=["thread_name=worker-1", "thread_name=MainThread"]), 214, "OR within a key")
        st, j = s.get_json("/api/v1/labels", app="lab", type="cpu", **{"from": "now-1h"}, to="now+1m")
        eq(st, 200)
        keys = {k["key"]: k["values"] for k in j["labels"]}
        check("env" in keys and sorted(keys["env"]) == ["dev", "prod"], "label values %r" % keys)
        check("thread_group" in keys, "thread_group listed")
        # time forms: RFC 3339 and unix seconds
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t - 60))
        eq(total_of(s, "lab", frm=iso, to=str(now() + 60)), 274, "RFC 3339 + unix range")
        eq(total_of(s, "lab", frm=str(t + 5), to=str(now() + 60)), 0, "range excludes the profile")


@test
def trend_table_diff():
    with Server() as s:
        t = now() - 600
        base = "main;handler;db 10\nmain;handler;render 10\n"
        cmp_ = "main;handler;db 10\nmain;handler;render 200\n"
        eq(s.ingest("d", base.encode(), "folded", **{"from": t, "until": t + 10})[0], 200)
        eq(s.ingest("d", cmp_.encode(), "folded", **{"from": t + 300, "until": t + 310})[0], 200)
        st, tr = s.get_json("/api/v1/trend", app="d", **{"from": t - 60}, to=t + 400)
        eq(st, 200, tr)
        eq(sum(p["value"] for p in tr["points"]), 230 * 10_000_000, "trend sums")
        st, tb = s.get_json("/api/v1/table", app="d", **{"from": t - 60}, to=t + 400, sort="self")
        eq(st, 200, tb)
        eq(tb["rows"][0]["name"], "render", "sorted by self")
        eq(tb["rows"][0]["self"], 210 * 10_000_000)
        st, df = s.get_json("/api/v1/diff", app="d", **{"from": t + 200}, to=t + 400, baseFrom=t - 60, baseTo=t + 100)
        eq(st, 200, df)
        render = [n for n in df["nodes"] if n["name"] == "render"][0]
        eq(render["significant"], 1, "render grew significantly: %r" % render)
        db = [n for n in df["nodes"] if n["name"] == "db"][0]
        eq(db["significant"], -1, "db share shrank: %r" % db)
        rc, out, err = cli("diff", "--server", s.url, "--app", "d", "--from", str(t + 200), "--to", str(t + 400),
                           "--base-from", str(t - 60), "--base-to", str(t + 100))
        eq(rc, 0, err)
        check("render" in out and "up" in out, "cli diff output: " + out)


# ---------------------------------------------------------------- durability and retention

@test
def retention_drops_old_data():
    with Server(args=["--retention", "1h", "--maintenance-interval", "1"]) as s:
        old = now() - 3 * 3600
        eq(s.ingest("ret", b"old;frame 5\n", "folded", **{"from": old, "until": old + 10})[0], 200)
        eq(s.ingest("ret", b"new;frame 3\n", "folded", **{"from": now() - 5, "until": now()})[0], 200)
        deadline = time.time() + 15
        while time.time() < deadline:
            if total_of(s, "ret", frm="now-4h") == 3 * 10_000_000:
                break
            time.sleep(0.5)
        eq(total_of(s, "ret", frm="now-4h"), 3 * 10_000_000, "old data dropped, new kept")


@test
def restart_keeps_data_and_sigterm_is_clean():
    s = Server()
    try:
        s.start()
        p, totals = pprofgen.realistic(500, seed=7, time_ns=(now() - 10) * 10**9)
        eq(s.ingest("keep", p.encode(), "pprof")[0], 200)
        eq(s.stop(signal.SIGTERM), 0, "exit status after SIGTERM")
        s.start()
        eq(total_of(s, "keep"), totals[0], "total after restart")
        eq(s.stop(signal.SIGINT), 0, "exit status after SIGINT")
    finally:
        s.cleanup()


@test
def kill9_loses_no_acknowledged_upload():
    s = Server()
    try:
        s.start()
        acked = []
        stop = threading.Event()
        per = 13

        def uploader(idx):
            i = 0
            while not stop.is_set() and i < 400:
                body = ("main;w%d;f%d %d\n" % (idx, i % 50, per)).encode()
                try:
                    # Bodies repeat: each upload names itself, or a repeat would be a retry.
                    st, _, _ = s.ingest("k9", body, "folded", uploadId="u%d-%d" % (idx, i),
                                        **{"from": now() - 5})
                except Exception:
                    return
                if st == 200:
                    acked.append(per)
                i += 1

        threads = [threading.Thread(target=uploader, args=(k,)) for k in range(4)]
        for th in threads:
            th.start()
        time.sleep(1.5)
        s.kill9()
        stop.set()
        for th in threads:
            th.join()
        check(len(acked) > 10, "some uploads acknowledged (%d)" % len(acked))
        s.start()
        got = total_of(s, "k9", frm="now-10m")
        want = sum(acked) * 10_000_000
        check(want <= got <= want + 4 * per * 10_000_000,
              "acknowledged %d, stored %d (at most the 4 in-flight uploads may be extra)" % (want, got))
    finally:
        s.cleanup()


# ---------------------------------------------------------------- hostile input

@test
def bad_inputs_rejected_and_nothing_stored():
    with Server() as s:
        good = pprofgen.realistic(20, seed=9)[0].encode()
        t = now()
        bomb = gzip.compress(b"\0" * (80 << 20), 9)
        cases = [
            ("missing name", lambda: s.request("POST", "/ingest", b"a 1\n", params={"format": "folded"})),
            ("unknown format", lambda: s.ingest("bad1", b"a 1\n", "trie")),
            ("folded without value", lambda: s.ingest("bad2", b"a;b\n", "folded")),
            ("folded bad value", lambda: s.ingest("bad3", b"a;b x\n", "folded")),
            ("invalid utf-8 folded", lambda: s.ingest("bad4", b"a;\xff\xfe 3\n", "folded")),
            ("before 2000", lambda: s.ingest("bad5", b"a 1\n", "folded", **{"from": 900000000, "until": 900000010})),
            ("far future", lambda: s.ingest("bad6", b"a 1\n", "folded", **{"from": t + 3 * 86400, "until": t + 3 * 86400 + 10})),
            ("until before from", lambda: s.ingest("bad7", b"a 1\n", "folded", **{"from": t, "until": t - 100})),
            ("garbage pprof", lambda: s.ingest("bad8", b"\x0a\xff\xff\xff\xff\x0f garbage", "pprof")),
            ("truncated pprof", lambda: s.ingest("bad9", gzip.decompress(good)[:-7], "pprof")),
            ("truncated gzip", lambda: s.ingest("bad10", good[: len(good) // 2], "pprof")),
            ("out of range string index", lambda: s.ingest("bad11", pprofgen.raw_string_table_profile([b"", b"cpu"]), "pprof")),
            ("invalid utf-8 in pprof", lambda: s.ingest("bad12", pprofgen.raw_string_table_profile([b"", b"cpu", b"nano\xc3\x28"]), "pprof")),
            ("gzip bomb", lambda: s.ingest("bad13", bomb, "folded")),
            ("pprof gzip bomb", lambda: s.ingest("bad14", bomb, "pprof")),
            ("oversized body", lambda: s.ingest("bad15", b"a 1\n" * (5 << 20), "folded")),
            ("multipart without closing boundary", lambda: s.ingest("bad16", pprofgen.multipart([("profile", "p", good)])[1][:-30],
                                                                       ctype=pprofgen.multipart([])[0])),
            ("multipart without profile field", lambda: s.ingest("bad17", *reversed(pprofgen.multipart([("other", None, good)])))),
            ("bad tag", lambda: s.ingest("bad18{1x=y}", b"a 1\n", "folded")),
            ("bad sampleRate", lambda: s.ingest("bad19", b"a 1\n", "folded", sampleRate="0")),
            ("empty body", lambda: s.ingest("bad20", b"", "folded")),
            ("NUL in folded", lambda: s.ingest("bad21", b"a\0b 1\n", "folded")),
        ]
        failures = []
        for name, fn in cases:
            try:
                st, msg = expect_error(fn(), msg=name)
                if name.endswith("bomb") or name == "oversized body":
                    check(st == 413, "%s: expected 413, got %d" % (name, st))
            except Exception as e:  # collect all, report together
                failures.append("%s: %s" % (name, e))
        st, apps = s.get_json("/api/v1/apps")
        eq(st, 200)
        stored = [a["name"] for a in apps["apps"]]
        check(not stored, "nothing stored, found %r" % stored)
        st, body, _ = s.request("GET", "/metrics")
        check(b'flamewatch_uploads_rejected_total{reason="too_large"}' in body, "rejections counted")
        check(not failures, "; ".join(failures))


@test
def static_paths_cannot_escape():
    with Server() as s:
        st, body, _ = s.request("GET", "/")
        eq(st, 200)
        check(b"flamewatch" in body)
        for path in ["/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/static/..%2f..%2fetc/passwd",
                     "/a/%2E%2E/%2E%2E/etc/passwd", "/..%5c..%5cetc/passwd", "/%252e%252e/etc/passwd"]:
            conn = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            conn.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
            data = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            conn.close()
            status = int(data.split(b" ", 2)[1])
            check(status in (400, 404), "%s -> %d" % (path, status))
            check(b"root:" not in data, "%s leaked a file" % path)


# ---------------------------------------------------------------- security

@test
def token_roles():
    with Server(tokens=True) as s:
        body = b"main;f 1\n"
        expect_error(s.ingest("sec", body, "folded"), 401, 401, "no token")
        expect_error(s.ingest("sec", body, "folded", token="wrong-token-0123456789"), 401, 401, "wrong token")
        expect_error(s.ingest("sec", body, "folded", token=TOKENS["read"]), 403, 403, "read cannot ingest")
        # The same body three times on purpose: each upload names itself (else a retry, stored once).
        eq(s.ingest("sec", body, "folded", token=TOKENS["ingest"], uploadId="1")[0], 200, "ingest can ingest")
        eq(s.ingest("sec", body, "folded", token=TOKENS["admin"], uploadId="2")[0], 200, "admin can ingest")
        import base64
        basic = "Basic " + base64.b64encode(("pyroscope:" + TOKENS["ingest"]).encode()).decode()
        eq(s.ingest("sec", body, "folded", ctype=None, **{})[0] if False else
           s.request("POST", "/ingest", body, {"Authorization": basic}, None,
                     {"name": "sec", "format": "folded", "uploadId": "3"})[0],
           200, "basic auth with the token as password")
        expect_error(s.request("GET", "/api/v1/apps"), 401, 401, "query without token")
        expect_error(s.request("GET", "/api/v1/apps", token=TOKENS["ingest"]), 403, 403, "ingest cannot query")
        eq(s.request("GET", "/api/v1/apps", token=TOKENS["read"])[0], 200, "read can query")
        eq(s.request("GET", "/api/v1/apps", token=TOKENS["admin"])[0], 200, "admin can query")
        eq(total_of(s, "sec", token=TOKENS["read"]), 3 * 10_000_000)
        eq(s.request("GET", "/api/v1/apps/sec/settings", token=TOKENS["ingest"])[0], 200, "agents poll settings")
        put = json.dumps({"cpu_interval_ms": 20}).encode()
        expect_error(s.request("PUT", "/api/v1/apps/sec/settings", put, token=TOKENS["read"]), 403, 403, "read cannot PUT")
        expect_error(s.request("PUT", "/api/v1/apps/sec/settings", put, token=TOKENS["ingest"]), 403, 403, "ingest cannot PUT")
        eq(s.request("PUT", "/api/v1/apps/sec/settings", put, token=TOKENS["admin"])[0], 200, "admin can PUT")
        eq(s.request("GET", "/healthz")[0], 200, "health is public")
        expect_error(s.request("GET", "/metrics"), 401, 401, "metrics need a token")
        rc, out, err = cli("query", "--server", s.url, "--app", "sec", "--from", "now-1h", "--to", "now+1m")
        eq(rc, 1, "cli without token fails")
        rc, out, err = cli("query", "--server", s.url, "--app", "sec", "--from", "now-1h", "--to", "now+1m",
                           "--token", TOKENS["read"])
        eq(rc, 0, err)
        eq(folded_total(out), 3 * 10_000_000)


@test
def non_loopback_needs_tokens_or_insecure():
    tmp = tempfile.mkdtemp()
    try:
        p = subprocess.run([BIN, "server", "--listen", "0.0.0.0:%d" % free_port(), "--data", tmp],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
        eq(p.returncode, 2, "exit status")
        check(b"--insecure" in p.stderr and b"--tokens" in p.stderr, "clear message: %r" % p.stderr)
        eq(cli("server", "--retention", "soon")[0], 2, "bad retention")
        eq(cli("server", "--bogus")[0], 2, "unknown flag")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@test
def settings_validation():
    with Server() as s:
        st, j = s.get_json("/api/v1/apps/shop/settings")
        eq(st, 200)
        eq((j["enabled"], j["cpu"], j["cpu_interval_ms"], j["wall"], j["memory"], j["memory_threshold_kb"]),
           (True, True, 10, False, False, 1024), "defaults")
        for bad in [{"cpu_interval_ms": 0}, {"cpu_interval_ms": 1001}, {"cpu": "yes"}, {"memory_threshold_kb": 0},
                    {"colour": "red"}, {"cpu_interval_ms": 1.5}]:
            expect_error(s.request("PUT", "/api/v1/apps/shop/settings", json.dumps(bad).encode()), 400, 400, repr(bad))
        expect_error(s.request("PUT", "/api/v1/apps/shop/settings", b"{not json"), 400, 400, "bad json")
        st, body, _ = s.request("PUT", "/api/v1/apps/shop/settings",
                                json.dumps({"wall": True, "cpu_interval_ms": 25, "memory": True}).encode())
        eq(st, 200, body)
        st, j = s.get_json("/api/v1/apps/shop/settings", host="web-1", pid="123")
        eq((j["wall"], j["cpu_interval_ms"], j["memory"]), (True, 25, True))
        check(j["updated_at"] > 0)
        check(any(a["host"] == "web-1" and a["pid"] == 123 for a in j.get("agents", [])), "agent recorded: %r" % j)


# ---------------------------------------------------------------- SQL

@test
def sql_console_is_read_only():
    with Server() as s:
        eq(s.ingest("q", FOLDED.encode(), "folded")[0], 200)
        st, body, _ = s.request("POST", "/api/v1/sql", json.dumps({"query": "SELECT 1 AS one, 'x' AS s"}).encode())
        eq(st, 200, body)
        j = json.loads(body)
        eq(j["columns"], ["one", "s"])
        eq(j["rows"], [[1, "x"]])
        for q in ["DELETE FROM stacks", "DROP TABLE stacks", "INSERT INTO meta VALUES ('x', 1)",
                  "ATTACH DATABASE '/tmp/x.db' AS x", "PRAGMA writable_schema=1", "CREATE TABLE t(x)",
                  "SELECT 1; DELETE FROM stacks", "UPDATE settings SET enabled=0", "VACUUM"]:
            expect_error(s.request("POST", "/api/v1/sql", json.dumps({"query": q}).encode()), 403, 403, q)
        expect_error(s.request("POST", "/api/v1/sql", json.dumps({"query": "SELEC nonsense"}).encode()), 400, 400, "syntax")
        expect_error(s.request("POST", "/api/v1/sql", b"not json"), 400, 400, "not json")
        eq(total_of(s, "q"), FOLDED_SAMPLES * 10_000_000, "data intact")
        rc, out, err = cli("sql", "--server", s.url, "SELECT 40+2 AS answer")
        eq(rc, 0, err)
        eq(out.split(), ["answer", "42"])
        rc, out, err = cli("sql", "--server", s.url, "DELETE FROM stacks")
        eq(rc, 1, "cli sql refused write")


def sqlite_rows(db, sql):
    """Runs SQL like a user would: the sqlite3 CLI if installed, else Python's sqlite3 (read-only)."""
    if shutil.which("sqlite3"):
        p = subprocess.run(["sqlite3", "-readonly", "-separator", "\t", db, sql], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        check(p.returncode == 0, "sqlite3 failed: %s" % p.stderr.decode())
        return [line.split("\t") for line in p.stdout.decode().splitlines()]
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return [[str(c) for c in row] for row in con.execute(sql)]
    finally:
        con.close()


@test
def shown_sql_gives_the_same_numbers():
    with Server() as s:
        p, totals = pprofgen.realistic(400, seed=11, time_ns=(now() - 20) * 10**9)
        eq(s.ingest("sq{env=prod}", p.encode(), "pprof")[0], 200)
        st, fg = s.flame("sq", labels=["env=prod"])
        eq(st, 200)
        check(fg.get("sql"), "flame graph carries sql")
        # the flat stacks query: (stack_id, path, value, count)
        rows = sqlite_rows(s.db, fg["sql"])
        eq(sum(int(r[2]) for r in rows), fg["total"], "flame graph SQL total")
        eq(fg["total"], totals[0])
        st, tb = s.get_json("/api/v1/table", app="sq", **{"from": "now-1h"}, to="now+1m", sort="self")
        rows = sqlite_rows(s.db, tb["sql"])
        eq([int(r[3]) for r in rows][:20], [r["self"] for r in tb["rows"]][:20], "table SQL self column")
        st, tr = s.get_json("/api/v1/trend", app="sq", **{"from": "now-1h"}, to="now+1m")
        rows = sqlite_rows(s.db, tr["sql"])
        eq(sum(int(r[1]) for r in rows), sum(p_["value"] for p_ in tr["points"]), "trend SQL")
        st, ex = s.get_json("/api/v1/flamegraph", app="sq", **{"from": "now-1h"}, to="now+1m", explain="sql")
        eq(st, 200)
        check(ex.get("sql") and "nodes" not in ex, "explain=sql returns only the SQL")
        st, body, _ = s.request("POST", "/api/v1/sql", json.dumps({"query": fg["sql"]}).encode())
        eq(st, 200, body)
        eq(sum(r[2] for r in json.loads(body)["rows"]), fg["total"], "SQL console agrees")


# ---------------------------------------------------------------- API odds and ends

@test
def api_errors_and_metrics():
    with Server() as s:
        expect_error(s.request("GET", "/api/v1/flamegraph"), 400, 400, "missing app")
        expect_error(s.request("GET", "/api/v1/flamegraph", params={"app": "x", "from": "yesterday"}), 400, 400, "bad time")
        expect_error(s.request("GET", "/api/v1/flamegraph", params={"app": "x", "granularity": "file"}), 400, 400, "granularity")
        expect_error(s.request("GET", "/api/v1/flamegraph", params={"app": "x", "label": "novalue"}), 400, 400, "label")
        expect_error(s.request("GET", "/api/v1/nope"), 404, 404, "unknown endpoint")
        expect_error(s.request("GET", "/ingest"), 405, 405, "GET ingest")
        eq(s.ingest("m", FOLDED.encode(), "folded")[0], 200)
        st, j = s.flame("m", granularity="line", maxNodes="3")
        eq(st, 200)
        check(len(j["nodes"]) <= 3, "maxNodes respected")
        eq(j["total"], FOLDED_SAMPLES * 10_000_000, "total unchanged by folding")
        st, body, ctype = s.request("GET", "/metrics")
        eq(st, 200)
        text = body.decode()
        for name in ["flamewatch_uploads_total 1", "flamewatch_upload_bytes_total", "flamewatch_store_size_bytes",
                     "flamewatch_query_duration_seconds_bucket", "flamewatch_uploads_rejected_total"]:
            check(name in text, "metrics has " + name)
        rc, out, err = cli("query", "--server", "http://127.0.0.1:1", "--app", "x")
        eq(rc, 1, "unreachable server")
        check("cannot reach" in err, err)
        eq(cli("query", "--app")[0], 2, "missing value")
        eq(cli("query", "--server", s.url)[0], 2, "missing --app")
        eq(cli("query", "--app", "x", "--format", "gif")[0], 2, "bad format")
        rc, out, err = cli("query", "--server", s.url, "--app", "m", "--format", "table", "--from", "now-1h")
        eq(rc, 0, err)
        check("parse" in out and "SELF" in out, out)
        rc, out, err = cli("query", "--server", s.url, "--app", "m", "--format", "json", "--from", "now-1h")
        eq(rc, 0, err)
        eq(json.loads(out)["total"], FOLDED_SAMPLES * 10_000_000)
        outfile = os.path.join(s.tmp, "out.pb.gz")
        rc, out, err = cli("query", "--server", s.url, "--app", "m", "--format", "pprof", "--from", "now-1h", "--output", outfile)
        eq(rc, 0, err)
        with open(outfile, "rb") as f:
            check(f.read(2) == b"\x1f\x8b", "pprof output is gzip")


@test
def cli_without_libcurl():
    """The CLI does not link libcurl: common/fw_curl.c dlopen()s it at the first request. On a
    machine where it cannot be loaded, the commands that make no request work, and `query` says
    which library is missing and exits 1 (it used to be a loader error before main)."""
    with Server() as s:
        eq(s.ingest("nocurl", FOLDED.encode(), "folded")[0], 200)
        args = ("query", "--server", s.url, "--app", "nocurl", "--from", "now-1h", "--to", "now+1m")
        rc, out, err = cli(*args)
        eq(rc, 0, "query with libcurl: " + err)
        eq(folded_total(out), FOLDED_SAMPLES * 10_000_000, "folded total (ns, 100 Hz)")
        libdir = os.path.join(s.tmp, "lib")
        os.mkdir(libdir)
        with open(os.path.join(libdir, "libcurl.so.4"), "w") as f:
            f.write("not a shared library\n")   # found first on LD_LIBRARY_PATH, fails to load
        env = {"LD_LIBRARY_PATH": libdir}
        rc, out, err = cli(*args, env=env)
        eq(rc, 1, "query without libcurl: " + err)
        eq(out, "", "nothing on stdout")
        check("libcurl (libcurl.so.4) could not be loaded" in err, err)
        check("cannot reach " + s.url in err, err)
        check(err.startswith("flamewatch query: ") and err.count("\n") == 1, "one line: %r" % err)
        rc, out, err = cli("--help", env=env)
        eq(rc, 0, "--help without libcurl: " + err)
        outdir = os.path.join(s.tmp, "profiles")
        rc, out, err = cli("run", "--output", outdir, "--", "/bin/true", env=env)
        eq(rc, 0, "run without libcurl: " + err)


@test
def concurrent_clients():
    with Server() as s:
        errors = []
        def worker(k):
            for i in range(20):
                st = s.ingest("conc", ("a;b%d;c%d 1\n" % (k, i)).encode(), "folded")[0]
                if st != 200:
                    errors.append(st)
                st, _ = s.flame("conc")
                if st != 200:
                    errors.append(st)
        ths = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        check(not errors, "errors: %r" % errors[:5])
        eq(total_of(s, "conc"), 160 * 10_000_000)


@test
def fuzz_pprof_and_ingest():
    """Builds the libFuzzer targets and runs each briefly on a generated seed corpus."""
    script = os.path.join(ROOT, "tests", "fuzz", "run.sh")
    p = subprocess.run(["sh", script, os.path.join(BUILD, "fuzz"), os.environ.get("FLAMEWATCH_FUZZ_SECONDS", "20")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600, cwd=ROOT)
    out = p.stdout.decode("utf-8", "replace")
    check(p.returncode == 0, "fuzzing failed:\n" + out[-4000:])


def main():
    global BIN
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=BUILD)
    ap.add_argument("-k", default="")
    ap.add_argument("--no-fuzz", action="store_true")
    args = ap.parse_args()
    BIN = os.path.join(os.path.abspath(args.build), "flamewatch")
    if args.no_fuzz:
        os.environ["FLAMEWATCH_NO_FUZZ"] = "1"
    passed = failed = 0
    for fn in TESTS:
        if args.k and args.k not in fn.__name__:
            continue
        if fn is fuzz_pprof_and_ingest and os.environ.get("FLAMEWATCH_NO_FUZZ"):
            # A developer's shortcut; it is neither a pass nor hidden (CI never sets it).
            print("NOT RUN %s (FLAMEWATCH_NO_FUZZ is set)" % fn.__name__, flush=True)
            continue
        t0 = time.time()
        try:
            fn()
            passed += 1
            print("PASS %-45s %.1fs" % (fn.__name__, time.time() - t0), flush=True)
        except Exception:
            failed += 1
            print("FAIL %-45s %.1fs" % (fn.__name__, time.time() - t0), flush=True)
            traceback.print_exc()
    print("RESULT passed=%d failed=%d" % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
