"""Workloads for bench/memory_overhead.py.

    memory_workload.py alloc N   allocation-heavy: many small objects (tuples, dicts, str, small
                                 lists) plus big buffers (1 MiB bytearrays, a list grown to 1M items)
    memory_workload.py mixed N   pyperformance-like mix: json round trips, regex, sorting, class
                                 instances, float arithmetic (n-body style), string formatting
    memory_workload.py churn N   small-container churn: per iteration a small dict with a formatted
                                 string and a list of eight short strings, all freed at once; a
                                 16 KiB bytearray kept every 64 iterations (issue 15)
    memory_workload.py frees N   frees of unsampled blocks: build a million small objects, then
                                 drop them (the free path is most of the allocator calls)
    memory_workload.py threads N the churn loop in 4 threads at once (the GIL switches between
                                 them: per-thread countdowns and TLS on every call)
N scales the amount of work (fixed work, so wall/CPU times compare across configurations).
"""
import json
import re
import sys
import threading


def alloc_heavy(n):
    total = 0
    for r in range(n):
        objs = []
        for i in range(20000):
            objs.append((i, str(i), {"k": i}))
        total += len(objs)
        bufs = [bytearray(1 << 20) for _ in range(8)]
        total += len(bufs)
        lst = []
        for i in range(200000):
            lst.append(i & 255)
        total += len(lst)
    return total


def churn(n):
    kept, total = [], 0
    for i in range(n * 100000):
        d = {"id": i, "name": "user-%d" % i, "tags": [str(i + k) for k in range(8)]}
        total += len(d["tags"])
        if i & 63 == 0:
            kept.append(bytearray(16384))
            if len(kept) > 1024:
                kept = kept[512:]
    return total


def frees(n):
    total = 0
    for r in range(n):
        objs = [(i, str(i)) for i in range(500000)]
        total += len(objs)
        del objs
        objs = [[i] for i in range(500000)]
        total += len(objs)
        del objs
    return total


def threads(n):
    out = [0] * 4

    def run(k):
        out[k] = churn(n // 4 or 1)
    ts = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(out)


KINDS = {"alloc": alloc_heavy, "mixed": None, "churn": churn, "frees": frees, "threads": threads}


class Body:
    __slots__ = ("x", "y", "z", "vx", "vy", "vz", "m")

    def __init__(self, x, y, z, m):
        self.x, self.y, self.z = x, y, z
        self.vx = self.vy = self.vz = 0.0
        self.m = m


def nbody(steps):
    bodies = [Body(float(i), float(i * 2 % 7), float(i * 3 % 5), 1.0 + i) for i in range(5)]
    for _ in range(steps):
        for i, a in enumerate(bodies):
            for b in bodies[i + 1:]:
                dx, dy, dz = a.x - b.x, a.y - b.y, a.z - b.z
                d2 = dx * dx + dy * dy + dz * dz + 0.01
                mag = 0.001 / (d2 * d2 ** 0.5)
                a.vx -= dx * b.m * mag
                b.vx += dx * a.m * mag
        for b in bodies:
            b.x += 0.001 * b.vx
    return bodies[0].x


WORD = re.compile(r"[a-z]+[0-9]*")


def mixed(n):
    total = 0
    for r in range(n):
        doc = {"items": [{"id": i, "name": "item%d" % i, "tags": ["a", "b", str(i)], "price": i * 1.5}
                         for i in range(2000)]}
        text = json.dumps(doc)
        back = json.loads(text)
        total += len(back["items"])
        total += len(WORD.findall(text[:50000]))
        data = [(i * 7919) % 10007 for i in range(50000)]
        data.sort()
        total += data[100]
        total += int(nbody(3000))
        total += len("".join("%s=%d;" % (k, v) for k, v in zip(map(str, range(5000)), range(5000))))
    return total


if __name__ == "__main__":
    kind, n = sys.argv[1], int(sys.argv[2])
    KINDS["mixed"] = mixed
    print(KINDS[kind](n))
