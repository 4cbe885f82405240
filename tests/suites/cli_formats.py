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
BYTES = [1, 1000, 1023, 1024, 1536, 102912, 1048575, 1048576, 327155712, 5 * 2**40, 2**50 + 1]


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
