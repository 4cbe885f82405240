"""Delivery over https, against a throwaway CA made with the `openssl` command line.

  * with --ca-file naming that CA, profiles and settings polls go over TLS: the server sees
    a multipart POST /ingest whose `profile` part is a gzip pprof, with name=APP in the query;
  * without it the server's certificate is not trusted: nothing reaches /ingest, and the program
    still exits 0 at once with one warning line that says why.
The server is stdlib http.server + ssl in this process, on a free 127.0.0.1 port, one thread per
connection, so a handshake that fails never blocks the next one.
"""
import email.parser
import gzip
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import unittest
import urllib.parse

import fwtest

OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = flamewatch-test
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[srv_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""

# What fw_upload.c requires of a settings answer: every member; updated_at 0 = keep local ones.
SETTINGS = {"enabled": True, "cpu": True, "cpu_interval_ms": 10, "wall": False, "memory": False,
            "memory_threshold_kb": 1024, "updated_at": 0}

WORKLOAD = r'''
import time
def busy(seconds):
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        for i in range(300):
            x += i * i
    return x
busy(%s)
'''


def _openssl(tmp, *args):
    proc = subprocess.run(["openssl"] + list(args), cwd=tmp, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=30)
    if proc.returncode != 0:
        raise AssertionError("openssl %s failed: %s" % (" ".join(args), proc.stderr.decode()))


def make_certs(tmp):
    """ca.pem (a CA) and srv.pem/srv.key (127.0.0.1, signed by it) in tmp. EC keys: fast."""
    if shutil.which("openssl") is None:
        raise AssertionError("the openssl command is missing (scripts/ensure-deps.sh test)")
    with open(os.path.join(tmp, "openssl.cnf"), "w") as f:
        f.write(OPENSSL_CNF)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(tmp, "req", "-x509", "-config", "openssl.cnf", "-extensions", "ca_ext", *ec,
             "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=flamewatch test CA")
    _openssl(tmp, "req", "-new", "-config", "openssl.cnf", *ec, "-keyout", "srv.key",
             "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
    _openssl(tmp, "x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-set_serial", "2", "-days", "2", "-extfile", "openssl.cnf", "-extensions", "srv_ext",
             "-out", "srv.pem")
    return os.path.join(tmp, "ca.pem")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, obj):
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with self.server.mu:
            self.server.gets.append(self.path)
        self._answer(SETTINGS)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.server.mu:
            self.server.posts.append((self.path, self.headers.get("Content-Type", ""), body))
        self._answer({"ok": True})


class _TLSServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def finish_request(self, request, client_address):
        # The handshake happens here, in the connection's own thread, not in accept().
        try:
            conn = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            with self.mu:
                self.handshake_failures += 1
            return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            conn.close()

    def handle_error(self, request, client_address):
        pass   # a client that hangs up mid-request is not the test's business


def start_server(testcase, tmp):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(tmp, "srv.pem"), os.path.join(tmp, "srv.key"))
    srv = _TLSServer(("127.0.0.1", 0), _Handler)
    srv.ctx = ctx
    srv.mu = threading.Lock()
    srv.posts, srv.gets, srv.handshake_failures = [], [], 0
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def stop():
        srv.shutdown()
        srv.server_close()
        thread.join(5)
    testcase.addCleanup(stop)
    srv.url = "https://127.0.0.1:%d" % srv.server_address[1]
    return srv


def profile_part(content_type, body):
    """The `profile` part of a multipart/form-data body, parsed by the stdlib's email package."""
    msg = email.parser.BytesParser().parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    if not msg.is_multipart():
        raise AssertionError("not a multipart body: %r" % content_type)
    for part in msg.get_payload():
        if part.get_param("name", header="content-disposition") == "profile":
            return part.get_payload(decode=True)
    raise AssertionError("no part named profile in %r" % [p.items() for p in msg.get_payload()])


class HttpsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = fwtest.make_tmp(self, "fw-https-")
        self.ca = make_certs(self.tmp)
        self.srv = start_server(self, self.tmp)

    def test_upload_over_https_with_ca_file(self):
        res = fwtest.run_cli(["--server", self.srv.url, "--ca-file", self.ca,
                              "--upload-interval", "1", "--app", "tls"], WORKLOAD % "1.3",
                             timeout=30)
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertNotIn("flamewatch:", res.stderr, res.describe())
        with self.srv.mu:
            posts, gets = list(self.srv.posts), list(self.srv.gets)
        self.assertGreaterEqual(len(posts), 1, res.describe())
        self.assertTrue(any("/api/v1/apps/tls/settings" in g for g in gets), gets)
        path, ctype, body = posts[0]
        url = urllib.parse.urlsplit(path)
        self.assertEqual(url.path, "/ingest")
        query = urllib.parse.parse_qs(url.query)
        self.assertEqual(query["name"], ["tls{}"], path)
        self.assertTrue(ctype.startswith("multipart/form-data"), ctype)
        gz = profile_part(ctype, body)
        self.assertEqual(gz[:2], b"\x1f\x8b", "not gzip")
        gzip.decompress(gz)
        # And a pprof: flamewatch convert decodes it.
        pprof = os.path.join(self.tmp, "got.pprof.gz")
        with open(pprof, "wb") as f:
            f.write(gz)
        decoded = fwtest.convert([pprof])
        self.assertIn("samples", decoded)

    def test_untrusted_certificate_is_refused_and_exit_is_prompt(self):
        t0 = time.time()
        # Interval 60: only the final profile is sent, so the one line is the exit's. (With 1 s, a
        # loaded machine may cut an interval profile first, and its failure adds the outage line.)
        res = fwtest.run_cli(["--server", self.srv.url, "--upload-interval", "60", "--app", "tls"],
                             WORKLOAD % "0.3", timeout=30)
        elapsed = time.time() - t0
        self.assertEqual(res.returncode, 0, res.describe())
        self.assertLess(elapsed, 5.0, res.describe())
        with self.srv.mu:
            self.assertEqual(self.srv.posts, [], "an upload got through an untrusted certificate")
            self.assertGreaterEqual(self.srv.handshake_failures, 1, res.describe())
        lines = [l for l in res.stderr.splitlines() if l.strip()]
        # Exactly one line, at exit, saying why: while the agent stops, the uploader holds the
        # final profile for its one drain (fw_upload_closing), so it is not tried twice.
        self.assertEqual(len(lines), 1, res.describe())
        self.assertIn("not delivered at exit", lines[-1])
        for line in lines:
            self.assertIn("SSL certificate problem", line, res.describe())


class CaFileValidationTest(unittest.TestCase):
    """Bad --ca-file / FLAMEWATCH_CA_FILE / start(ca_file=): a usage error, never a silent run."""

    def setUp(self):
        self.tmp = fwtest.make_tmp(self, "fw-https-")

    def test_cli_refuses_missing_file_and_directory(self):
        missing = os.path.join(self.tmp, "nope.pem")
        for flags, env, where in ((["--ca-file", missing], None, "--ca-file"),
                                  (["--ca-file", self.tmp], None, "--ca-file"),
                                  ([], {"FLAMEWATCH_CA_FILE": missing}, "FLAMEWATCH_CA_FILE")):
            res = fwtest.run_cli(["--server", "https://127.0.0.1:1"] + flags, "print('ran')",
                                 env=env, timeout=30)
            self.assertEqual(res.returncode, 2, res.describe())
            self.assertNotIn("ran", res.stdout)
            self.assertIn("invalid value for %s" % where, res.stderr)
            self.assertIn("certificate authorities", res.stderr)

    def test_start_raises_value_error(self):
        missing = os.path.join(self.tmp, "nope.pem")
        res = fwtest.run_python('''
            import sys, flamewatch
            for kw in (dict(ca_file=sys.argv[1]), dict(ca_file=sys.argv[2])):
                try:
                    flamewatch.start(server="https://127.0.0.1:1", **kw)
                except ValueError as exc:
                    print(exc)
                else:
                    print("started")
            ''', args=(missing, self.tmp), timeout=30)
        self.assertEqual(res.returncode, 0, res.describe())
        lines = res.stdout.splitlines()
        self.assertEqual(len(lines), 2, res.describe())
        for line in lines:
            self.assertTrue(line.startswith("flamewatch: invalid value for ca_file:"), line)
        self.assertIn("no such file", lines[0])
        self.assertIn("not a directory", lines[1])


if __name__ == "__main__":
    unittest.main()
