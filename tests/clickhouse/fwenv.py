"""Shared pieces of the ClickHouse suites: tests/server/run.py's Server and HTTP helpers pointed at
the build under test, the launcher (chserver), and answer comparison that ignores only the SQL
text (each backend shows SQL in its own dialect)."""
import json
import os
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "server"))
import pprofgen  # noqa: E402,F401
import run as server_tests  # noqa: E402

BUILD = os.environ.get("FLAMEWATCH_TEST_BUILD", os.path.join(ROOT, "build"))
server_tests.BIN = os.path.join(BUILD, "flamewatch")
BIN = server_tests.BIN
Server = server_tests.Server
TOKENS = server_tests.TOKENS
free_port = server_tests.free_port
now = server_tests.now
cli = server_tests.cli


def without_sql(v):
    """The answer with every `sql` member removed, recursively: the one part that is allowed to
    differ between backends."""
    if isinstance(v, dict):
        return {k: without_sql(x) for k, x in v.items() if k != "sql"}
    if isinstance(v, list):
        return [without_sql(x) for x in v]
    return v


def first_difference(a, b, path="$"):
    """A short description of where two JSON values first differ, or None."""
    if type(a) is not type(b):
        return "%s: %r vs %r" % (path, a, b)
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return "%s.%s only on %s" % (path, k, "the first" if k in a else "the second")
            d = first_difference(a[k], b[k], "%s.%s" % (path, k))
            if d:
                return d
        return None
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, "%s[%d]" % (path, i))
            if d:
                return d
        if len(a) != len(b):
            return "%s: %d items vs %d" % (path, len(a), len(b))
        return None
    return None if a == b else "%s: %s vs %s" % (path, json.dumps(a)[:300], json.dumps(b)[:300])


class StickyServer(Server):
    """A Server that comes back on the same port after stop()/kill9(), as a restarted server behind
    a fixed address would: agents keep the URL they were given and their retries must land."""

    def start(self):
        if self.port is None:
            return super().start()
        if getattr(self, "log", None):
            self.log.close()
        self.log = open(os.path.join(self.tmp, "server.log"), "ab")
        self.proc = subprocess.Popen(
            [BIN, "server", "--listen", "127.0.0.1:%d" % self.port]
            + (["--store", self.store] if self.store else ["--data", self.data]) + self.args,
            stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while time.time() < deadline and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not restart on port %d: %s" % (self.port, self.logtext()))
