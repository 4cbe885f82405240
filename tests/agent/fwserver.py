"""A real `flamewatch server` for agent tests: started on a free 127.0.0.1 port chosen at run
time, with its data in a temporary directory, stopped (and removed) by the test's cleanup.

    srv = fwserver.start(self)             # addCleanup(srv.stop) is done for you
    srv.query(app="x", type="cpu")          # GET /api/v1/flamegraph ... as JSON
    srv.stop(); srv.restart()               # outage tests: same data, same port
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import fwtest


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server(object):
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="fw-srv-")
        self.data = os.path.join(self.tmp, "data")
        self.port = _free_port()
        self.proc = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def restart(self, timeout=10):
        log = open(os.path.join(self.tmp, "server.log"), "ab")
        self.proc = subprocess.Popen([fwtest.FLAMEWATCH, "server", "--listen", "127.0.0.1:%d" % self.port,
                                      "--data", self.data], stdout=log, stderr=log)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited: %s" % self.log())
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        raise RuntimeError("server did not start: %s" % self.log())

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, True)

    def log(self):
        try:
            with open(os.path.join(self.tmp, "server.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")[-3000:]
        except OSError:
            return ""

    def get(self, path, **params):
        query = urllib.parse.urlencode(params, doseq=True)
        with urllib.request.urlopen("%s%s?%s" % (self.url, path, query), timeout=30) as r:
            return json.loads(r.read().decode("utf-8"))

    def metric(self, name):
        """The value of an unlabelled counter of GET /metrics, or None if it is not there."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=30) as r:
            for line in r.read().decode("utf-8").splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[0] == name:
                    return int(float(parts[1]))
        return None

    def put_settings(self, app, **values):
        req = urllib.request.Request("%s/api/v1/apps/%s/settings" % (self.url, app),
                                     data=json.dumps(values).encode(), method="PUT")
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read().decode("utf-8"))

    def table(self, app, type_="cpu", labels=(), frm="now-1h"):
        """Functions with self/total over the last hour (the range reaches into the future: the
        store files samples under the end of their 10 s bucket)."""
        return self.get("/api/v1/table", app=app, type=type_, label=list(labels), **{
            "from": frm, "to": "now+10m", "limit": 1000})

    def self_by_function(self, app, type_="cpu", labels=()):
        return {row["name"]: row["self"] for row in self.table(app, type_, labels)["rows"]}

    def trend_total(self, app, type_="cpu", labels=(), frm="now-1h"):
        return self.get("/api/v1/trend", app=app, type=type_, label=list(labels), **{
            "from": frm, "to": "now+10m"})["total"]

    def labels(self, app, type_="cpu"):
        out = self.get("/api/v1/labels", app=app, type=type_, **{"from": "now-1h", "to": "now+10m"})
        return {item["key"]: set(item["values"]) for item in out["labels"]}


def start(testcase):
    srv = Server()
    testcase.addCleanup(srv.cleanup)
    return srv.restart()
