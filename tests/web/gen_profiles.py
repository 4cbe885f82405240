#!/usr/bin/env python3
"""The one synthetic profile of the console tests, written to OUT with a manifest.json of uploads.

Everything else the console tests show comes from real programs profiled by the agent
(tests/web/shop.py). This is the 50,000-node call tree of the render benchmark: no program small
enough for a test run has a call tree that big, and the benchmark needs a known node count.

Usage: gen_profiles.py OUT [--now UNIX]
"""
import gzip
import json
import os
import random
import sys
import time


def big_folded(nodes=50000, seed=7):
    """A folded profile whose merged tree has about `nodes` nodes (for the render benchmark)."""
    rnd = random.Random(seed)
    mods = ["django", "requests", "json", "shop", "celery", "sqlalchemy", "jinja2", "urllib3", "redis", "logging"]
    children = {0: []}
    names = {0: None}
    parent = {0: None}
    count = 1
    frontier = [0]
    while count < nodes:
        p = rnd.choice(frontier[-2000:]) if rnd.random() < 0.7 else rnd.choice(frontier)
        i = count
        count += 1
        m = rnd.choice(mods)
        names[i] = "%s.mod%d.Class%d.fn%d (/srv/%s/mod%d.py:%d)" % (m, i % 50, i % 7, i, m, i % 50, 10 + i % 900)
        parent[i] = p
        children.setdefault(p, []).append(i)
        children[i] = []
        frontier.append(i)
    lines = []
    for i in range(1, count):
        if children[i]:
            continue
        path = []
        j = i
        while j:
            path.append(names[j])
            j = parent[j]
        lines.append(";".join(reversed(path)) + " %d" % rnd.randint(1, 30))
    return "\n".join(lines) + "\n"


def main():
    out = sys.argv[1]
    now = int(sys.argv[sys.argv.index("--now") + 1]) if "--now" in sys.argv else int(time.time())
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "big.folded.gz"), "wb") as f:
        f.write(gzip.compress(big_folded().encode()))
    manifest = [{"file": "big.folded.gz", "name": "bigtree.cpu", "format": "folded", "from": now - 120, "until": now - 110}]
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
