#!/usr/bin/env python3
"""Fails when C modules include each other (`make lint`).

A module is a .c file and the .h of the same name beside it (common/fw_profile.c +
common/fw_profile.h), plus its private header if it has one: NAME_impl.h, the layout that
the module's own files share (common/fw_profile_impl.h belongs to common/fw_profile), and the
files of a folder named after it (agent/pyversion/* belongs to agent/fw_pyversion). Module A
depends on module B when a file of A includes a header of B
with `#include "..."` (system headers, `<...>`, are not ours). The include is resolved the
way the compiler does: beside the including file first, then in the -I folders the build
uses (common/, cli/, agent/, server/). Any cycle in that graph, whether two modules
including each other or a longer loop, is printed as a path (a -> b -> a) and fails.

Usage: tools/include_cycles.py [--root DIR] [FOLDER...]   (default: every folder with C sources)
Only the folders given are checked for cycles, but includes into other folders are
followed, so a loop that leaves a checked folder and comes back is still found.
"""
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
INCLUDE_DIRS = ["common", "cli", "agent", "server"]
SKIP_DIRS = {".git", "build", "node_modules", "tests", "bench", "demo"}
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def c_files():
    """Every .c/.h of the tree outside tests, benches and build output, relative to ROOT."""
    out = []
    for d, subdirs, files in os.walk(ROOT):
        subdirs[:] = sorted(s for s in subdirs if s not in SKIP_DIRS and not s.startswith("."))
        for f in sorted(files):
            if f.endswith((".c", ".h")):
                out.append(os.path.relpath(os.path.join(d, f), ROOT))
    return out


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def resolve(src, name, known):
    for base in [os.path.dirname(src)] + INCLUDE_DIRS:
        cand = os.path.normpath(os.path.join(base, name))
        if cand in known:
            return cand
    return None


def module_of(path):
    base = os.path.splitext(path)[0]
    if path.endswith("_impl.h"):
        return base[: -len("_impl")]
    # A module whose parts fill a folder of their own: agent/pyversion/* belongs to
    # agent/fw_pyversion (the per-version layer: one header, its parts beside it).
    parent, folder = os.path.split(os.path.dirname(path))
    if folder and os.path.exists(os.path.join(ROOT, parent, "fw_%s.c" % folder)):
        return os.path.join(parent, "fw_" + folder)
    return base


def graph(files):
    known = set(files)
    edges = {}
    for f in files:
        with open(os.path.join(ROOT, f), encoding="utf-8", errors="replace") as fh:
            text = strip_comments(fh.read())
        a = module_of(f)
        edges.setdefault(a, set())
        for name in INCLUDE_RE.findall(text):
            target = resolve(f, name, known)
            if target is None:
                continue   # a generated or system header: not a module of ours
            b = module_of(target)
            if b != a:
                edges[a].add(b)
    return edges


def find_cycles(edges, checked):
    """One cycle per strongly connected component that touches a checked module (Tarjan)."""
    index, low, on_stack, stack, sccs = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        # Iterative DFS: the graph is small, but recursion limits are not ours to tune.
        work = [(v, iter(sorted(edges.get(v, ()))))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        while work:
            node, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                    advanced = True
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    sccs.append(set(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    cycles = []
    for comp in sccs:
        if not any(m in checked for m in comp):
            continue
        cycles.append(shortest_cycle(edges, comp, min(m for m in comp if m in checked)))
    return cycles


def shortest_cycle(edges, comp, start):
    """The shortest path start -> ... -> start inside one component (breadth first)."""
    prev = {start: None}
    queue = [start]
    for node in queue:
        for w in sorted(edges.get(node, ())):
            if w not in comp:
                continue
            if w == start:
                path = [node]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w not in prev:
                prev[w] = node
                queue.append(w)
    raise AssertionError("a component without a cycle")


def main(argv):
    global ROOT
    if argv[:1] == ["--root"] and len(argv) >= 2:
        ROOT = os.path.abspath(argv[1])
        argv = argv[2:]
    folders = [os.path.normpath(a).rstrip("/") for a in argv] or None
    for f in folders or []:
        if not os.path.isdir(os.path.join(ROOT, f)):
            print(f"include_cycles: no folder {f}", file=sys.stderr)
            return 2
    files = c_files()
    edges = graph(files)
    if folders is None:
        checked = set(edges)
    else:
        checked = {m for m in edges if any(m.startswith(f + "/") for f in folders)}
    cycles = find_cycles(edges, checked)
    for c in cycles:
        print("include cycle: " + " -> ".join(c), file=sys.stderr)
    if cycles:
        print(f"include_cycles: {len(cycles)} cycle(s) between modules", file=sys.stderr)
        return 1
    print(f"include_cycles: no cycles ({len(checked)} modules)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
