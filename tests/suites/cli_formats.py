#!/usr/bin/env python3
"""The CLI's human units, and the speedscope and SVG exports (issue 14).

Human units: `flamewatch query --format table` and `flamewatch diff` must print every value
with the same characters as the console. The reference is the console's own code: each cell
is compared with what web/src/util.js (fmtValue, fmtPct, fmtSignedPct, run by node) prints for
the number the JSON API returns for that row. `--raw` gives back the plain integers.

Exports: see test_speedscope / test_svg below. A server on 127.0.0.1 (a port chosen at run
time, stopped at the end) is filled with known profiles. Last line: RESULT passed=N failed=M.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "server"))
import run as server_tests  # noqa: E402

BUILD = os.environ.get("FLAMEWATCH_TEST_BUILD", os.path.join(ROOT, "build"))
BUILD = BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD)
server_tests.BIN = os.path.join(BUILD, "flamewatch")
BIN = server_tests.BIN
Server = server_tests.Server

passed = 0
failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok   " + name, flush=True)
    else:
        failed += 1
        print("FAIL " + name, flush=True)
        for line in str(detail).splitlines()[-40:]:
            print("     | " + line)
    return cond


def cli(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLAMEWATCH_")}
    p = subprocess.run([BIN] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120, env=env)
    return p.returncode, p.stdout, p.stderr


def console_format(calls):
    """[(function, args...)] -> the strings web/src/util.js returns for each call."""
    script = ("import * as u from %s;\n"
              "let data = '';\n"
              "process.stdin.on('data', (c) => { data += c; });\n"
              "process.stdin.on('end', () => {\n"
              "  const out = JSON.parse(data).map(([f, ...a]) => u[f](...a));\n"
              "  process.stdout.write(JSON.stringify(out));\n"
              "});\n") % json.dumps("file://" + os.path.join(ROOT, "web", "src", "util.js"))
    with tempfile.NamedTemporaryFile("w", suffix=".mjs", delete=False) as f:
        f.write(script)
    try:
        p = subprocess.run(["node", f.name], input=json.dumps(calls).encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
    finally:
        os.unlink(f.name)
    if p.returncode != 0:
        raise RuntimeError("node: " + p.stderr.decode())
    return json.loads(p.stdout)


# Counts chosen so the values cross every unit step and rounding boundary the console has.
CPU_COUNTS = [1, 7, 99, 100, 123, 999, 1000, 1005, 4567, 6000, 6001, 59999, 360000, 999999]
BYTES = [1, 1000, 1023, 1024, 1536, 102912, 1048575, 1048576, 327155712, 5 * 2**40, 2**46]  # 2**46: the per-sample limit (docs/API.md, Limits)


def fill(s, t):
    cpu = "".join("main (app.py:1);f%d (m.py:%d) %d\n" % (i, i + 1, c) for i, c in enumerate(CPU_COUNTS))
    st, body, _ = s.ingest("units", cpu.encode(), "folded", **{"from": t, "until": t + 10})
    assert st == 200, body
    mem = "".join("main;alloc%d %d\n" % (i, b) for i, b in enumerate(BYTES))
    st, body, _ = s.ingest("units.alloc_space{}", mem.encode(), "folded", **{"from": t, "until": t + 10})
    assert st == 200, body
    cmp_ = "".join("main (app.py:1);f%d (m.py:%d) %d\n" % (i, i + 1, c * (1 + i % 3)) for i, c in enumerate(CPU_COUNTS))
    st, body, _ = s.ingest("units", cmp_.encode(), "folded", **{"from": t + 300, "until": t + 310})
    assert st == 200, body


def cells(line, widths):
    out = []
    pos = 0
    for w in widths:
        out.append(line[pos:pos + w].strip())
        pos += w
    return out, line[pos:]


def test_table(s, t):
    rng = ["--from", str(t - 60), "--to", str(t + 400)]
    for typ in ("cpu", "alloc_space"):
        st, js = s.get_json("/api/v1/table", app="units", type=typ, **{"from": t - 60}, to=t + 400)
        rc, out, err = cli("query", "--server", s.url, "--app", "units", "--type", typ, "--format", "table", *rng)
        if not check("query --format table (%s) exits 0" % typ, rc == 0 and st == 200, err):
            continue
        lines = out.decode().splitlines()
        rows = js["rows"]
        calls = []
        for r in rows:
            calls += [["fmtValue", r["self"], js["unit"]], ["fmtPct", r["self"] / (js["total"] or 1)],
                      ["fmtValue", r["total"], js["unit"]], ["fmtPct", r["total"] / (js["total"] or 1)]]
        calls.append(["fmtValue", js["total"], js["unit"]])
        want = console_format(calls)
        got = []
        for line in lines[1:1 + len(rows)]:
            c, rest = cells(line, [10, 8, 11, 8])
            got += c
        got.append(lines[-1][len("total "):] if lines and lines[-1].startswith("total ") else None)
        mism = [(w, g) for w, g in zip(want, got) if w != g]
        check("query --format table (%s): %d rows, every cell as the console prints it (%s ... %s)"
              % (typ, len(rows), want[0], want[-1]),
              len(lines) == len(rows) + 2 and not mism and len(got) == len(want), (mism[:10], out.decode()))
        rc, raw, err = cli("query", "--server", s.url, "--app", "units", "--type", typ, "--format", "table",
                           "--raw", *rng)
        raw_lines = raw.decode().splitlines()
        nums = [[int(x) for x in re.findall(r"^\s*(\d+)\s+[\d.]+%\s+(\d+)", l)[0]] for l in raw_lines[1:-1]]
        check("query --format table --raw (%s): plain integers equal to the JSON" % typ,
              rc == 0 and nums == [[r["self"], r["total"]] for r in rows]
              and raw_lines[-1] == "total %d %s" % (js["total"], js["unit"]), raw.decode())
        rc, jout, err = cli("query", "--server", s.url, "--app", "units", "--type", typ, "--format", "json", *rng)
        check("query --format json (%s) stays raw, with or without --raw" % typ,
              rc == 0 and json.loads(jout)["total"] == js["total"]
              and cli("query", "--server", s.url, "--app", "units", "--type", typ, "--format", "json", "--raw",
                      *rng)[1] == jout, jout[:200])


def test_diff(s, t):
    args = ["--server", s.url, "--app", "units", "--from", str(t + 200), "--to", str(t + 400),
            "--base-from", str(t - 60), "--base-to", str(t + 100)]
    st, js = s.get_json("/api/v1/diff", app="units", **{"from": t + 200}, to=t + 400, baseFrom=t - 60,
                        baseTo=t + 100)
    rc, out, err = cli("diff", *args)
    if not check("diff exits 0", rc == 0 and st == 200, err):
        return
    nodes = js["nodes"][1:]
    calls = []
    for n in nodes:
        calls += [["fmtValue", n["baseTotal"], js["unit"]], ["fmtPct", n["baseShare"]],
                  ["fmtValue", n["cmpTotal"], js["unit"]], ["fmtPct", n["cmpShare"]],
                  ["fmtSignedPct", n["cmpShare"] - n["baseShare"]]]
    want = console_format(calls)
    lines = out.decode().splitlines()
    got = []
    for line in lines[1:]:
        got += cells(line, [10, 8, 11, 8, 12])[0]
    mism = [(w, g) for w, g in zip(want, got) if w != g]
    check("diff: %d stacks, baseline and comparison totals, shares and change as the console prints them"
          % len(nodes), len(lines) == len(nodes) + 1 and len(got) == len(want) and not mism,
          (mism[:10], out.decode()))
    rc, raw, err = cli("diff", "--raw", *args)
    check("diff --raw: the shares-only table of plain numbers",
          rc == 0 and raw.decode().splitlines()[0].split()[:3] == ["BASE%", "CMP%", "DELTA"]
          and len(raw.decode().splitlines()) == len(nodes) + 1, raw.decode())
    st, body, _ = s.request("GET", "/api/v1/table", params={"app": "units", "format": "text", "units": "loud"})
    check("units=loud is a 400 with a JSON error", st == 400 and "units" in json.loads(body)["error"], body)
    rc, out, err = cli("sql", "--server", s.url, "--raw", "SELECT 1")
    check("sql has no --raw (exit 2)", rc == 2, err)


# ---- speedscope: checks written from https://www.speedscope.app/file-format-schema.json ----

SCHEMA_URL = "https://www.speedscope.app/file-format-schema.json"
VALUE_UNITS = {"bytes", "microseconds", "milliseconds", "nanoseconds", "none", "seconds"}


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def schema_errors(doc):
    """Every violation of the schema's FileFormat.File (and of what the format implies: sample
    indexes inside shared.frames, one weight per sample)."""
    errs = []
    if not isinstance(doc, dict):
        return ["File: not an object"]
    for key in ("$schema", "profiles", "shared"):
        if key not in doc:
            errs.append("File: missing required %s" % key)
    if doc.get("$schema") != SCHEMA_URL:
        errs.append("File.$schema: %r is not the enum value" % doc.get("$schema"))
    for key, ok in (("name", lambda v: isinstance(v, str)), ("activeProfileIndex", is_number),
                    ("exporter", lambda v: isinstance(v, str))):
        if key in doc and not ok(doc[key]):
            errs.append("File.%s: wrong type %r" % (key, doc[key]))
    shared = doc.get("shared")
    frames = shared.get("frames") if isinstance(shared, dict) else None
    if not isinstance(frames, list):
        errs.append("File.shared.frames: required array")
        frames = []
    for i, f in enumerate(frames):
        if not isinstance(f, dict) or not isinstance(f.get("name"), str):
            errs.append("Frame %d: name is a required string" % i)
            continue
        if "file" in f and not isinstance(f["file"], str):
            errs.append("Frame %d: file is not a string" % i)
        for k in ("line", "col"):
            if k in f and not is_number(f[k]):
                errs.append("Frame %d: %s is not a number" % (i, k))
    profiles = doc.get("profiles")
    if not isinstance(profiles, list):
        return errs + ["File.profiles: required array"]
    for n, p in enumerate(profiles):
        where = "profiles[%d]" % n
        if not isinstance(p, dict) or p.get("type") != "sampled":
            errs.append(where + ": not a SampledProfile (type must be 'sampled')")
            continue
        for k in ("endValue", "name", "samples", "startValue", "type", "unit", "weights"):
            if k not in p:
                errs.append("%s: missing required %s" % (where, k))
        if not isinstance(p.get("name"), str):
            errs.append(where + ".name: not a string")
        if p.get("unit") not in VALUE_UNITS:
            errs.append("%s.unit: %r not in FileFormat.ValueUnit" % (where, p.get("unit")))
        for k in ("startValue", "endValue"):
            if not is_number(p.get(k)):
                errs.append("%s.%s: not a number" % (where, k))
        samples, weights = p.get("samples"), p.get("weights")
        if not isinstance(samples, list) or not all(isinstance(st, list) and all(is_number(x) for x in st)
                                                    for st in samples):
            errs.append(where + ".samples: not an array of arrays of numbers")
            continue
        if not isinstance(weights, list) or not all(is_number(w) for w in weights):
            errs.append(where + ".weights: not an array of numbers")
            continue
        if len(samples) != len(weights):
            errs.append("%s: %d samples but %d weights" % (where, len(samples), len(weights)))
        bad_idx = [x for st in samples for x in st if not (isinstance(x, int) and 0 <= x < len(frames))]
        if bad_idx:
            errs.append("%s: frame indexes outside shared.frames: %r" % (where, bad_idx[:5]))
    return errs


def frame_text(f):
    if f.get("file") and f.get("line"):
        return "%s (%s:%d)" % (f["name"], f["file"], f["line"])
    if f.get("file"):
        return "%s (%s)" % (f["name"], f["file"])
    return f["name"]


def speedscope_folded(doc, profile=None):
    """{folded stack: summed weight} of one profile (or all)."""
    out = {}
    frames = doc["shared"]["frames"]
    for n, p in enumerate(doc["profiles"]):
        if profile is not None and n != profile:
            continue
        for st, w in zip(p["samples"], p["weights"]):
            key = ";".join(frame_text(frames[i]) for i in st)
            out[key] = out.get(key, 0) + w
    return out


def folded_dict(text):
    out = {}
    for line in text.splitlines():
        stack, value = line.rsplit(" ", 1)
        out[stack] = out.get(stack, 0) + int(value)
    return out


def sample_pprof():
    """tests/tools/make_sample_pprof.c's profile (labels: thread_group MainThread / worker-*)."""
    tmp = tempfile.mkdtemp(prefix="fw_formats.")
    tool = os.path.join(tmp, "make_sample_pprof")
    srcs = [os.path.join(ROOT, "common", f) for f in sorted(os.listdir(os.path.join(ROOT, "common")))
            if f.endswith(".c") and f != "fw_curl.c"]
    subprocess.run(["cc", "-std=c11", "-D_GNU_SOURCE", "-I" + os.path.join(ROOT, "common"), "-o", tool,
                    os.path.join(ROOT, "tests", "tools", "make_sample_pprof.c")] + srcs + ["-lz", "-ldeflate"], check=True)
    gz = os.path.join(tmp, "sample.pprof.gz")
    subprocess.run([tool, gz, os.path.join(tmp, "sample.pprof")], check=True, stdin=subprocess.DEVNULL)
    return tmp, gz


def test_speedscope(s, t):
    rng = ["--from", str(t - 60), "--to", str(t + 400)]
    for typ in ("cpu", "alloc_space"):
        rc, out, err = cli("query", "--server", s.url, "--app", "units", "--type", typ, "--format", "speedscope", *rng)
        doc = json.loads(out) if rc == 0 else None
        errs = schema_errors(doc) if doc is not None else [err.decode()]
        check("query --format speedscope (%s) validates against the schema's checks" % typ, not errs, errs[:10])
        if errs:
            continue
        rc, folded, err = cli("query", "--server", s.url, "--app", "units", "--type", typ, "--format", "folded", *rng)
        p = doc["profiles"][0]
        want = folded_dict(folded.decode())
        check("... one %s profile, every stack and weight equal to --format folded, endValue = total"
              % p["unit"], len(doc["profiles"]) == 1 and speedscope_folded(doc) == want
              and p["endValue"] - p["startValue"] == sum(want.values()) == sum(p["weights"])
              and p["unit"] == {"cpu": "nanoseconds", "alloc_space": "bytes"}[typ], (doc, want))
    tmp, gz = sample_pprof()
    try:
        rc, out, err = cli("convert", "--format", "speedscope", gz)
        doc = json.loads(out) if rc == 0 else None
        errs = schema_errors(doc) if doc is not None else [err.decode()]
        check("convert --format speedscope validates against the schema's checks", not errs, errs)
        if not errs:
            rc, js, _ = cli("convert", "--format", "json", gz)
            js = json.loads(js)
            groups = {}
            for smp in js["samples"]:
                g = smp["labels"].get("thread_group", "other")
                groups[g] = groups.get(g, 0) + smp["value"]
            got = {p["name"].split(": ", 1)[1]: sum(p["weights"]) for p in doc["profiles"]}
            rc, folded, _ = cli("convert", gz)
            check("... one profile per thread group %s, each total equal to its samples, all = convert's total"
                  % sorted(got), got == groups and len(got) >= 2 and sum(got.values()) == js["total"]
                  and speedscope_folded(doc) == folded_dict(folded.decode()), (got, groups))
    finally:
        subprocess.run(["rm", "-rf", tmp])
    st, body, ctype = s.request("GET", "/api/v1/flamegraph", params={"app": "units", "format": "speedscope",
                                                                     "from": t - 60, "to": t + 400})
    check("GET /api/v1/flamegraph?format=speedscope: 200 application/json",
          st == 200 and ctype.startswith("application/json") and not schema_errors(json.loads(body)), (st, ctype))


# ---- SVG ----

SVG_NS = "{http://www.w3.org/2000/svg}"


def svg_frames(data):
    """[(title label, value text, depth row y, x, width)] of every frame drawn."""
    import xml.etree.ElementTree as ET
    root = ET.fromstring(data)
    assert root.tag == SVG_NS + "svg", root.tag
    frames = root.find(SVG_NS + "g")
    out = []
    for g in frames.findall(SVG_NS + "g"):
        title = g.find(SVG_NS + "title").text
        rect = g.find(SVG_NS + "rect")
        text = "".join(g.find(SVG_NS + "svg").find(SVG_NS + "text").itertext())
        label, value = title.rsplit(" \u2014 ", 1)
        out.append((label, value, float(rect.get("y")), float(rect.get("x")), float(rect.get("width")), text))
    return root, frames, out


def expected_frames(folded_text):
    """{(path tuple): total} of the tree the folded stacks make, the root () included."""
    totals = {(): 0}
    for stack, value in folded_dict(folded_text).items():
        parts = stack.split(";")
        totals[()] += value
        for d in range(1, len(parts) + 1):
            totals[tuple(parts[:d])] = totals.get(tuple(parts[:d]), 0) + value
    return totals


def check_svg(name, data, folded_text, unit):
    try:
        root, frames, got = svg_frames(data)
    except Exception as exc:
        check(name + ": parses as XML (an SVG document)", False, repr(exc))
        return
    check(name + ": parses as XML, every frame has a <title>, no <script> (readable without JavaScript)",
          got and not list(root.iter(SVG_NS + "script")), data[:300])
    totals = expected_frames(folded_text)
    total = totals[()]
    scale = 1180.0 / total
    drawn = {p: v for p, v in totals.items() if v * scale >= 0.5}
    want = sorted(((p[-1] if p else "all"), len(p), round(v * scale, 2)) for p, v in drawn.items())
    maxdepth = max(len(p) for p in totals)
    have = sorted((label, maxdepth - int(round((y - 34) / 16)), w) for label, _, y, x, w, _ in got)
    close = len(want) == len(have) and all(a[0] == b[0] and a[1] == b[1] and abs(a[2] - b[2]) <= 0.011
                                           for a, b in zip(want, have))
    check("%s: one rectangle per node of at least 0.5 px (%d of %d nodes), at its depth, width = value / total"
          % (name, len(want), len(totals)), close and len(drawn) < len(totals) if name.startswith("query")
          else close, (want[:8], have[:8]))
    values = console_format([["fmtValue", totals[p], unit] for p in sorted(drawn, key=len)][:50])
    labels = {(p[-1] if p else "all"): v for p, v in zip(sorted(drawn, key=len), values)}
    bad = [(l, v, labels.get(l)) for l, v, *_ in got if l in labels and not v.startswith(labels[l] + ", ")]
    check(name + ": each <title> holds the frame's value in the console's units and its share",
          not bad and all(re.search(r", \d+\.\d\d%$", v) for _, v, *_ in got), bad[:5])
    check(name + ": each frame's full name is searchable <text>",
          all(t == l.split(" (")[0] or l.startswith(t) for l, _, _, _, _, t in got), got[:3])


def test_svg(s, t):
    rng = ["--from", str(t - 60), "--to", str(t + 400)]
    rc, out, err = cli("query", "--server", s.url, "--app", "units", "--format", "svg", *rng)
    rc2, folded, _ = cli("query", "--server", s.url, "--app", "units", "--format", "folded", "--granularity",
                         "function", *rng)
    if check("query --format svg exits 0", rc == 0 and rc2 == 0, err):
        check_svg("query --format svg", out, folded.decode(), "nanoseconds")
    tmp, gz = sample_pprof()
    try:
        rc, out, err = cli("convert", "--format", "svg", gz)
        rc2, folded, _ = cli("convert", gz)
        if check("convert --format svg exits 0", rc == 0 and rc2 == 0, err):
            check_svg("convert --format svg", out, folded.decode(), "nanoseconds")
    finally:
        subprocess.run(["rm", "-rf", tmp])
    st, body, ctype = s.request("GET", "/api/v1/flamegraph", params={"app": "units", "format": "svg",
                                                                     "from": t - 60, "to": t + 400})
    check("GET /api/v1/flamegraph?format=svg: 200 image/svg+xml", st == 200 and ctype.startswith("image/svg+xml")
          and body.startswith(b"<?xml"), (st, ctype))


def main():
    try:
        with Server() as s:
            t = server_tests.now() - 600
            fill(s, t)
            test_table(s, t)
            test_diff(s, t)
            for name in ("test_speedscope", "test_svg"):
                fn = globals().get(name)
                if fn:
                    fn(s, t)
    except Exception as exc:
        import traceback
        check("suite crashed: %r" % exc, False, traceback.format_exc())
    print("RESULT passed=%d failed=%d" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
