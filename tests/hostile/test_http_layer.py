"""The HTTP layer under hostile clients (issue 11 items 5, 6, 8 and 10).

5. the token is checked at the request head: an unauthenticated upload is answered 401 and
   closed before its body is read, so bodies cannot be used to fill the server's memory;
6. slow clients: request heads have a total deadline, and at a connection limit the oldest
   connection still waiting for its head makes room, so /healthz and agents are served while
   a thousand connections trickle their headers;
8. framing: conflicting Content-Length, Content-Length with Transfer-Encoding, unknown
   transfer codings and unknown methods are refused at once and the connection closed;
10. one application-name rule for ingest, the settings endpoint, `flamewatch run`,
   FLAMEWATCH_APP and flamewatch.start(); "ab%00cd" is refused, not stored as "ab".

Raw sockets everywhere the framing matters; every server is on 127.0.0.1 at a port chosen at
run time, and the load (connection counts, bytes, seconds) is bounded.
"""
import json
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import hostile
from hostile import Server, TOKENS, BIN, cli

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


# ---------------------------------------------------------------- helpers

def raw(port, data, timeout=3.0):
    """Sends `data` on a fresh connection and reads until EOF or `timeout`.
    Returns (bytes received, True if the server closed the connection, seconds taken)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    t0 = time.monotonic()
    out, closed = b"", False
    try:
        s.sendall(data)
        while True:
            b = s.recv(65536)
            if not b:
                closed = True
                break
            out += b
    except socket.timeout:
        pass
    except (ConnectionResetError, BrokenPipeError):
        closed = True
    finally:
        s.close()
    return out, closed, time.monotonic() - t0


def statuses(resp):
    return [int(m) for m in re.findall(rb"HTTP/1\.[01] (\d{3}) ", resp)]


def json_error(resp):
    body = resp.split(b"\r\n\r\n", 1)[1]
    return json.loads(body)["error"]


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM for pid %d" % pid)


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def conn_metric(srv, reason, token=None):
    st, body, _ = srv.request("GET", "/metrics", token=token)
    assert st == 200, body
    m = re.search(r'^flamewatch_connections_closed_total\{reason="%s"\} (\d+)$' % reason, body.decode(), re.M)
    assert m, body[-600:]
    return int(m.group(1))


def timed_get(url, timeout):
    t0 = time.monotonic()
    with urllib.request.urlopen(url, timeout=timeout) as r:
        r.read()
        return r.status, time.monotonic() - t0


class FdLimitedServer(Server):
    """A test server whose open-file limit (soft and hard) is `nofile`, as a service started
    with LimitNOFILE=1024 has: it cannot raise it, so its connection limit must fit."""

    def __init__(self, nofile, **kw):
        super().__init__(**kw)
        self.nofile = nofile

    def start(self):
        popen = hostile.server_tests.subprocess.Popen
        limit = self.nofile

        def limited(*a, **kw):
            kw["preexec_fn"] = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
            return popen(*a, **kw)
        hostile.server_tests.subprocess.Popen = limited
        try:
            return super().start()
        finally:
            hostile.server_tests.subprocess.Popen = popen


class Tricklers:
    """`n` connections that send a request head one byte at a time and never finish it
    (slowloris). A background thread sends one byte on each every `period` seconds."""

    def __init__(self, port, n, period=0.5, budget_s=20.0):
        self.socks = []
        deadline = time.monotonic() + budget_s
        for _ in range(n):
            if time.monotonic() > deadline:
                break
            s = socket.socket()
            s.settimeout(2)
            try:
                s.connect(("127.0.0.1", port))
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            except OSError:
                s.close()
                continue
            s.setblocking(False)
            self.socks.append(s)
        self.opened = len(self.socks)
        self.period = period
        self.stop_evt = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop_evt.wait(self.period):
            with self.lock:
                for s in self.socks:
                    try:
                        s.send(b"x")
                    except OSError:
                        pass

    def still_open(self):
        """How many the server has not closed (EOF or reset on a non-blocking read)."""
        n = 0
        with self.lock:
            for s in self.socks:
                try:
                    if s.recv(1):
                        n += 1  # an answer: it finished nothing, so this would be a bug; count it
                except BlockingIOError:
                    n += 1
                except OSError:
                    pass
        return n

    def close(self):
        self.stop_evt.set()
        self.thread.join()
        for s in self.socks:
            s.close()


FOLDED = b"main;work 7\nmain;idle 3\n"


# ---------------------------------------------------------------- item 5

class TokenBeforeBody(unittest.TestCase):
    def test_unauthenticated_upload_answered_at_the_head(self):
        with Server(tokens=True) as s:
            head = ("POST /ingest?name=shop&format=folded HTTP/1.1\r\nHost: x\r\n"
                    "Content-Length: 15000000\r\n%s\r\n")
            # No body sent at all: the answer must not wait for it.
            resp, closed, took = raw(s.port, (head % "").encode(), timeout=3)
            self.assertEqual(statuses(resp), [401], resp[:300])
            self.assertTrue(closed and took < 2, "401 after %.2fs, closed=%s" % (took, closed))
            self.assertIn(b"WWW-Authenticate: Bearer", resp)
            # A token with the wrong role: 403, also at once.
            resp, closed, took = raw(s.port, (head % ("Authorization: Bearer %s\r\n" % TOKENS["read"])).encode())
            self.assertEqual(statuses(resp), [403], resp[:300])
            self.assertTrue(closed and took < 2, "403 after %.2fs" % took)

    def test_unauthenticated_bodies_do_not_grow_memory(self):
        with Server(tokens=True) as s:
            before = vm_hwm_kb(s.proc.pid)
            chunk = b"main;x 1\n" * (256 * 1024 // 9)
            total = 15_000_000

            def push():
                try:
                    c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
                    c.sendall(b"POST /ingest?name=shop&format=folded HTTP/1.1\r\nHost: x\r\n"
                              b"Content-Length: %d\r\n\r\n" % total)
                    sent = 0
                    while sent < total:
                        n = min(len(chunk), total - sent)
                        c.sendall(chunk[:n])
                        sent += n
                    c.recv(4096)
                except OSError:
                    pass  # the server closed the connection: what we want
                finally:
                    c.close()
            threads = [threading.Thread(target=push) for _ in range(20)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            grown_mb = (vm_hwm_kb(s.proc.pid) - before) / 1024
            # Before the fix every body was buffered: 20 x 15 MB took the peak past 300 MB.
            self.assertLess(grown_mb, 64, "peak RSS grew by %.0f MB" % grown_mb)
            st, body, _ = s.ingest("shop", FOLDED, "folded", token=TOKENS["ingest"])
            self.assertEqual(st, 200, body)


# ---------------------------------------------------------------- item 8

class Framing(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server().start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def refused(self, data, status=400, words=""):
        resp, closed, took = raw(self.srv.port, data, timeout=3)
        self.assertEqual(statuses(resp), [status], resp[:400])
        self.assertTrue(closed, "connection left open: %r" % resp[:200])
        self.assertLess(took, 2, "answered after %.2fs" % took)
        if words:
            self.assertIn(words, json_error(resp))
        return resp

    def test_conflicting_content_length_and_no_smuggled_request(self):
        # Before: the first length won and the pipelined GET after the 3-byte body was served.
        self.refused(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\n"
                     b"abcGET /api/v1/apps HTTP/1.1\r\nHost: x\r\n\r\n", 400, "Content-Length")

    def test_content_length_with_chunked(self):
        self.refused(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "Transfer-Encoding")

    def test_unknown_transfer_coding_does_not_hang(self):
        self.refused(b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
                     400, "chunked")
        self.refused(b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)
        self.refused(b"POST /healthz HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "HTTP/1.0")

    def test_whitespace_before_colon(self):
        self.refused(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length : 3\r\n\r\nabc", 400, "header name")

    def test_unknown_method_is_405(self):
        resp = self.refused(b"FOO /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 405, "FOO")
        self.assertIn(b"Allow: GET, HEAD, POST, PUT", resp)

    def test_sound_framing_still_served(self):
        # Two pipelined requests on one connection are both answered.
        resp, _, _ = raw(self.srv.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                                        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(statuses(resp), [200, 200], resp[:400])
        # A chunked upload is framed by its chunks.
        body = FOLDED
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        resp, _, _ = raw(self.srv.port, b"POST /ingest?name=chunky&format=folded HTTP/1.1\r\nHost: x\r\n"
                                        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked)
        self.assertEqual(statuses(resp), [200], resp[:400])


# ---------------------------------------------------------------- item 6

class SlowClients(unittest.TestCase):
    N = 1200

    def setUp(self):
        got = raise_nofile(self.N + 400)
        self.assertGreaterEqual(got, self.N + 200, "the test needs %d descriptors" % (self.N + 200))

    def served_despite(self, srv, tr):
        """/healthz and an agent's upload answer within 2 s while the tricklers hold on."""
        time.sleep(1.0)  # let every trickler be accepted (and the excess evicted)
        st, took = timed_get(srv.url + "/healthz", timeout=2)
        self.assertEqual(st, 200)
        self.assertLess(took, 2.0)
        req = urllib.request.Request(srv.url + "/ingest?name=agent&format=folded", data=FOLDED, method="POST",
                                     headers={"Authorization": "Bearer " + TOKENS["ingest"]})
        t0 = time.monotonic()
        with urllib.request.urlopen(req, timeout=2) as r:
            self.assertEqual(r.status, 200)
        self.assertLess(time.monotonic() - t0, 2.0)

    def test_per_address_limit_with_a_reserve(self):
        # All clients come from 127.0.0.1: the per-address limit (256) holds, and the health
        # check from the same address still gets in by evicting the oldest slow connection.
        with FdLimitedServer(1024, tokens=True) as s:
            tr = Tricklers(s.port, self.N)
            try:
                self.assertGreater(tr.opened, 1000)
                self.served_despite(s, tr)
                left = tr.still_open()
                self.assertLessEqual(left, 256 + 16, "%d slow connections kept from one address" % left)
                self.assertGreaterEqual(conn_metric(s, "evicted", TOKENS["read"]), tr.opened - 256 - 16)
            finally:
                tr.close()

    def test_total_limit_below_the_descriptor_limit(self):
        # Per-address limit out of the way: the total (below 1024 descriptors) holds instead,
        # where the server used to run out of descriptors and stop accepting anyone.
        with FdLimitedServer(1024, tokens=True, args=["--max-connections-per-address", "5000"]) as s:
            tr = Tricklers(s.port, self.N)
            try:
                self.served_despite(s, tr)
                left = tr.still_open()
                self.assertLess(left, 1024 - 128, "%d slow connections kept" % left)
                self.assertGreater(left, 256 + 16, "the per-address flag was not applied")
            finally:
                tr.close()

    def test_header_deadline_is_total(self):
        # Bytes keep arriving every 0.25 s, which used to reset the 60 s idle timeout for
        # ever; the head must still be complete within --header-timeout.
        with Server(args=["--header-timeout", "2"]) as s:
            tr = Tricklers(s.port, 20, period=0.25)
            try:
                t0 = time.monotonic()
                time.sleep(1.0)
                self.assertEqual(tr.still_open(), 20, "closed before the deadline")
                while tr.still_open() and time.monotonic() - t0 < 6:
                    time.sleep(0.1)
                self.assertEqual(tr.still_open(), 0, "slow heads kept past the 2 s deadline")
                self.assertLess(time.monotonic() - t0, 4.5)
                self.assertEqual(conn_metric(s, "header_timeout"), 20)
            finally:
                tr.close()
            # A kept-alive connection idle for less than the deadline between requests is kept.
            c = socket.create_connection(("127.0.0.1", s.port), timeout=3)
            try:
                for _ in range(2):
                    c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                    self.assertIn(b" 200 ", c.recv(4096))
                    time.sleep(1.0)
            finally:
                c.close()


# ---------------------------------------------------------------- item 10

NAMES = [
    # (name, valid)
    ("shop", True), ("shop.web-1 v2", True), ("caf\u00e9", True), ("a%2Fb", True), ("a?b#c", True),
    ("...", True), ("x" * 128, True), ("\u20ac" * 42, True),
    ("team/api", False), ("/", False), ("a{b", False), ("a}b", False), ("a,b", False), ("a=b", False),
    ("a\x01b", False), ("a\x7fb", False), (".", False), ("..", False), ("x" * 129, False),
    ("\u20ac" * 43, False),
]


def python_check(name, env=None):
    """flamewatch.start(app=name) (or with FLAMEWATCH_APP) in a child: 'ok' or the ValueError."""
    code = ("import os, sys, flamewatch\n"
            "try:\n"
            "    flamewatch.start(app=sys.argv[1] or None, output=sys.argv[2], enabled=False)\n"
            "    print('ok')\n"
            "except ValueError as e:\n"
            "    print('ValueError:', e)\n")
    e = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    e.pop("FLAMEWATCH_APP", None)
    e.update(env or {})
    p = subprocess.run([sys.executable, "-c", code, name, os.path.join(tempfile.gettempdir(), "fw-unused-output")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, timeout=60)
    return p.stdout.decode("utf-8", "replace").strip() + p.stderr.decode("utf-8", "replace")


class AppNames(unittest.TestCase):
    def test_ingest_and_settings_agree(self):
        with Server() as s:
            for name, valid in NAMES:
                st, body, _ = s.ingest(name, FOLDED, "folded")
                self.assertEqual(st == 200, valid, "ingest %r: %d %r" % (name, st, body[:200]))
                path = "/api/v1/apps/%s/settings" % urllib.parse.quote(name, safe="")
                st2, body2, _ = s.request("GET", path)
                self.assertEqual(st2 == 200, valid, "settings %r: %d %r" % (name, st2, body2[:200]))
                if not valid:
                    self.assertEqual(st, 400)
                    self.assertTrue(json.loads(body)["error"].startswith("name: "), body)
            st, j = s.get_json("/api/v1/apps")
            self.assertEqual(sorted(a["name"] for a in j["apps"]), sorted(n for n, ok in NAMES if ok))

    def test_slash_refused_with_a_reason(self):
        with Server() as s:
            _, msg = hostile.expect_error(s.ingest("team/api", FOLDED, "folded"), 400, 400)
            self.assertIn("contains '/'", msg)

    def test_nul_refused_not_truncated(self):
        with Server() as s:
            _, msg = hostile.expect_error(s.ingest("ab\x00cd", FOLDED, "folded"), 400, 400)
            self.assertIn("NUL", msg)
            st, j = s.get_json("/api/v1/apps")
            self.assertEqual(j["apps"], [], "something was stored")

    def test_run_and_env_agree(self):
        for name, valid in NAMES:
            rc, out, err = cli("run", "--app", name, "--", "true")
            self.assertEqual(rc == 0, valid, "run --app %r: rc=%d %s" % (name, rc, err))
            if not valid:
                self.assertEqual(rc, 2)
                self.assertIn("invalid value for --app", err)
            rc, out, err = cli("run", "--", "true", env={"FLAMEWATCH_APP": name})
            self.assertEqual(rc == 0, valid, "FLAMEWATCH_APP=%r: rc=%d %s" % (name, rc, err))
        for name in (" a", "a "):
            rc, _, err = cli("run", "--app", name, "--", "true")
            self.assertEqual(rc, 2, "run --app %r accepted" % name)

    def test_python_start_agrees(self):
        for name, valid in NAMES + [(" a", False), ("a ", False)]:
            got = python_check(name)
            self.assertEqual(got == "ok", valid, "start(app=%r): %s" % (name, got))
            if not valid:
                self.assertIn("invalid value for app", got)
        got = python_check("", env={"FLAMEWATCH_APP": "team/api"})
        self.assertIn("invalid value for FLAMEWATCH_APP", got)

    def test_one_rule_text(self):
        with open(os.path.join(ROOT, "common", "fw_appname.h")) as f:
            header = f.read()
        m = re.search(r"#define FW_APP_NAME_RULE\s*\\\s*((?:\"[^\"]*\"\s*\\?\s*)+)", header)
        self.assertIsNotNone(m)
        c_rule = "".join(re.findall(r"\"([^\"]*)\"", m.group(1)))
        sys.path.insert(0, os.path.join(ROOT, "python"))
        try:
            from flamewatch import _config
        finally:
            sys.path.pop(0)
        self.assertEqual(_config._APP_RULE, c_rule)
        rc, _, err = cli("run", "--app", "team/api", "--", "true")
        self.assertIn(c_rule, err)


if __name__ == "__main__":
    unittest.main()
