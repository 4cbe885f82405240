"""Real agent profiles for the analysis tests, made once per run and shared by the modules.

The workload is tests/web/shop.py (the console tests' shop): version 2 makes Cart.total three
times slower than version 1 (the planted regression) and render_json 0.7 times; parse_query
compiles a new regex per call (re.purge + re.compile), log_access logs in a loop, render_json
encodes JSON. tests/analysis/retain.py allocates a list it keeps and buffers it frees (memory).

Each run writes pprof files with `flamewatch run --output`; they are ingested with their own
time range, the baseline runs moved one hour back (the comparison takes the same range N hours
earlier, and a test cannot wait an hour):
  app "shop":    v1 one hour ago, v2 now                -> a regression of Cart.total
  app "shop-aa": v1 one hour ago, v1 again now          -> no significant change (A/A)
  app "retain":  retain.py now with --memory            -> memory retained by keep()
"""
import gzip
import json
import os
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "server"))
import run as server_tests  # noqa: E402

BUILD = os.environ.get("FLAMEWATCH_TEST_BUILD", os.path.join(ROOT, "build"))
server_tests.BIN = os.path.join(BUILD, "flamewatch")
BIN = server_tests.BIN
Server = server_tests.Server
expect_error = server_tests.expect_error
cli = server_tests.cli
HOUR = 3600


def pprof_range(gz):
    """A gzip pprof's [from, until] in Unix seconds: time_nanos (9) + duration_nanos (10)."""
    b = gzip.decompress(gz)
    i = 0
    t = d = 0

    def varint():
        nonlocal i
        v = shift = 0
        while True:
            c = b[i]
            i += 1
            v |= (c & 0x7F) << shift
            if c < 0x80:
                return v
            shift += 7
    while i < len(b):
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            v = varint()
            if field == 9:
                t = v
            elif field == 10:
                d = v
        elif wire == 2:
            n = varint()  # not `i += varint()`: that reads i before varint() moves it
            i += n
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise ValueError("pprof: wire type %d" % wire)
    start = t // 10**9
    return start, max(start, (t + d + 10**9 - 1) // 10**9)


def profile(script, args, out, flags=()):
    """Runs a script under the agent, writing pprof files to `out`; returns the file paths."""
    os.makedirs(out, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLAMEWATCH_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    p = subprocess.run([BIN, "run", "--app", "x", "--upload-interval", "1", "--output", out] + list(flags) +
                       ["--", "python3", script] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=180, env=env)
    if p.returncode != 0:
        raise RuntimeError("%s under flamewatch run: exit %d\n%s" % (script, p.returncode, p.stdout.decode()[-2000:]))
    files = sorted(os.path.join(out, f) for f in os.listdir(out) if f.endswith(".pprof.gz"))
    if not files:
        raise RuntimeError("%s wrote no profile" % script)
    return files


def ingest(srv, app, files, shift=0):
    for f in files:
        with open(f, "rb") as fh:
            body = fh.read()
        frm, until = pprof_range(body)
        st, resp, _ = srv.ingest(app, body, fmt="pprof", **{"from": frm - shift, "until": until - shift})
        if st != 200:
            raise RuntimeError("ingest %s: %d %r" % (f, st, resp[:300]))


_lock = threading.Lock()
_state = {}


def server():
    """The shared server with every app ingested (started once; stopped at exit)."""
    with _lock:
        if "srv" in _state:
            return _state["srv"]
        tmp = tempfile.mkdtemp(prefix="fw-analysis-")
        shop = os.path.join(ROOT, "tests", "web", "shop.py")
        runs = {}
        errors = []

        def go(key, script, args, flags=()):
            try:
                runs[key] = profile(script, args, os.path.join(tmp, key), flags)
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append(e)
        jobs = [("v1", shop, ["1", os.path.join(tmp, "t1.json"), "2"]),
                ("v2", shop, ["2", os.path.join(tmp, "t2.json"), "2"]),
                ("v1b", shop, ["1", os.path.join(tmp, "t3.json"), "2"]),
                ("retain", os.path.join(HERE, "retain.py"), [], ["--memory", "--memory-threshold", "64"])]
        # Two at a time: the machine is shared.
        for k in range(0, len(jobs), 2):
            ts = [threading.Thread(target=go, args=j) for j in jobs[k:k + 2]]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
        if errors:
            raise errors[0]
        srv = Server().start()
        ingest(srv, "shop", runs["v1"], HOUR)
        ingest(srv, "shop", runs["v2"])
        ingest(srv, "shop-aa", runs["v1"], HOUR)
        ingest(srv, "shop-aa", runs["v1b"])
        ingest(srv, "retain", runs["retain"])
        with open(os.path.join(tmp, "t2.json")) as f:
            _state["truth2"] = json.load(f)
        _state["srv"] = srv
        _state["tmp"] = tmp
        import atexit
        atexit.register(srv.cleanup)
        return srv


def truth2():
    server()
    return _state["truth2"]


def get(srv, path, **params):
    params.setdefault("from", "now-30m")
    params.setdefault("to", "now")
    st, j = srv.get_json(path, **params)
    if st != 200:
        raise AssertionError("%s %r -> %d %r" % (path, params, st, j))
    return j


def ask(srv, question, app="shop", **extra):
    body = {"question": question, "app": app, "from": "now-30m", "to": "now"}
    body.update(extra)
    st, raw, _ = srv.request("POST", "/api/v1/ask", json.dumps(body).encode(), {"Content-Type": "application/json"})
    if st != 200:
        raise AssertionError("ask %r -> %d %r" % (question, st, raw[:300]))
    return json.loads(raw)
