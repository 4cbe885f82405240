#!/usr/bin/env python3
"""Writes the seed corpora for the fuzz targets: valid pprofs (plain and gzip), multipart
uploads, folded text, and a few near-misses, so the fuzzer starts deep inside the parsers."""
import gzip
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
import pprofgen  # noqa: E402


def write(d, name, data):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main(out):
    pp, ing = os.path.join(out, "pprof"), os.path.join(out, "ingest")
    p, _ = pprofgen.realistic(20, seed=5, time_ns=1_700_000_000 * 10**9,
                              types=(("cpu", "nanoseconds"), ("wall", "nanoseconds")))
    small = pprofgen.Profile([("alloc_space", "bytes")])
    small.add([("main", "m.py", 1), ("f", "m.py", 2)], [4096], {"thread_name": "T"})
    for name, prof in (("realistic", p), ("small", small)):
        write(pp, name + ".pb", prof.encode(compress=False))
        write(pp, name + ".pb.gz", prof.encode())
        write(ing, name + "-pprof", bytes([0x40]) + prof.encode())
        ctype, mp = pprofgen.multipart([("profile", "p.pprof", prof.encode(compress=False))])
        write(ing, name + "-multipart", bytes([0x44]) + mp)
    write(pp, "truncated.pb", small.encode(compress=False)[:-3])
    write(ing, "folded", bytes([0x41]) + b"main (a.py:1);f (a.py:2) 10\nmain;g 3\n")
    write(ing, "folded-gz", bytes([0x19]) + gzip.compress(b"a;b;c 5\na;d 1\n"))
    write(ing, "lines", bytes([0x42]) + b"a;b;c\na;b\n")
    write(ing, "folded-bytes", bytes([0x81]) + b"a;b 4096\n")


if __name__ == "__main__":
    main(sys.argv[1])
