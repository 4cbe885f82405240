"""A minimal pprof (profile.proto) writer for tests, stdlib only.

It builds profiles the way agents do (strings interned, functions and locations deduplicated,
labels on samples), so tests know the exact totals they upload.
"""
import gzip


def _varint(v):
    out = bytearray()
    v &= (1 << 64) - 1
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field, wire):
    return _varint((field << 3) | wire)


def _ld(field, payload):
    return _key(field, 2) + _varint(len(payload)) + payload


def _vi(field, v):
    return _key(field, 0) + _varint(v)


def _packed(field, values):
    return _ld(field, b"".join(_varint(v) for v in values))


class Profile:
    def __init__(self, types, time_ns=0, duration_ns=0, period=10_000_000):
        self.strings = [""]
        self.index = {"": 0}
        self.types = [(self.s(t), self.s(u)) for t, u in types]
        self.functions = {}
        self.locations = {}
        self.samples = []
        self.time_ns = time_ns
        self.duration_ns = duration_ns
        self.period = period

    def s(self, text):
        if text not in self.index:
            self.index[text] = len(self.strings)
            self.strings.append(text)
        return self.index[text]

    def loc(self, name, filename="", line=0):
        fkey = (name, filename)
        if fkey not in self.functions:
            self.functions[fkey] = len(self.functions) + 1
        lkey = (self.functions[fkey], line)
        if lkey not in self.locations:
            self.locations[lkey] = len(self.locations) + 1
        return self.locations[lkey]

    def add(self, frames_root_first, values, labels=None):
        """frames: list of (name, file, line) root first; values: one per type."""
        ids = [self.loc(*f) for f in reversed(frames_root_first)]
        self.samples.append((ids, list(values), dict(labels or {})))

    def encode(self, compress=True):
        out = bytearray()
        for t, u in self.types:
            out += _ld(1, _vi(1, t) + _vi(2, u))
        for ids, values, labels in self.samples:
            body = _packed(1, ids) + _packed(2, values)
            for k, v in labels.items():
                body += _ld(3, _vi(1, self.s(k)) + _vi(2, self.s(v)))
            out += _ld(2, body)
        for (fid, line), lid in self.locations.items():
            out += _ld(4, _vi(1, lid) + _ld(4, _vi(1, fid) + _vi(2, line)))
        for (name, filename), fid in self.functions.items():
            out += _ld(5, _vi(1, fid) + _vi(2, self.s(name)) + _vi(3, self.s(name)) + _vi(4, self.s(filename)))
        for text in self.strings:
            out += _ld(6, text.encode("utf-8"))
        if self.time_ns:
            out += _vi(9, self.time_ns)
        if self.duration_ns:
            out += _vi(10, self.duration_ns)
        out += _ld(11, _vi(1, self.types[0][0]) + _vi(2, self.types[0][1]))
        out += _vi(12, self.period)
        data = bytes(out)
        return gzip.compress(data) if compress else data


def raw_string_table_profile(strings, extra=b""):
    """A profile whose string table is exactly `strings` (bytes), for hostile-input tests."""
    out = bytearray(_ld(1, _vi(1, 1) + _vi(2, 2)))
    out += extra
    for s in strings:
        out += _ld(6, s)
    return bytes(out)


def multipart(fields, boundary="fwtestboundary1234"):
    """fields: list of (name, filename or None, bytes). Returns (content_type, body)."""
    body = bytearray()
    for name, filename, data in fields:
        body += b"--" + boundary.encode() + b"\r\n"
        disp = 'form-data; name="%s"' % name
        if filename:
            disp += '; filename="%s"' % filename
        body += b"Content-Disposition: " + disp.encode() + b"\r\n"
        body += b"Content-Type: application/octet-stream\r\n\r\n"
        body += data + b"\r\n"
    body += b"--" + boundary.encode() + b"--\r\n"
    return "multipart/form-data; boundary=" + boundary, bytes(body)


def realistic(nstacks=2000, seed=1, time_ns=0, labels=None, types=(("cpu", "nanoseconds"),)):
    """A profile with `nstacks` distinct stacks over a Python-like call graph."""
    import random
    rnd = random.Random(seed)
    p = Profile(list(types), time_ns=time_ns, duration_ns=15_000_000_000)
    funcs = [("mod%d.Class%d.method%d" % (i % 17, i % 5, i), "/srv/app/mod%d.py" % (i % 17), 10 + i)
             for i in range(400)]
    seen = set()
    total = [0] * len(types)
    while len(seen) < nstacks:
        depth = rnd.randint(3, 24)
        stack = tuple(rnd.randrange(len(funcs)) for _ in range(depth))
        if stack in seen:
            continue
        seen.add(stack)
        frames = [(funcs[i][0], funcs[i][1], funcs[i][2] + rnd.randint(0, 3)) for i in stack]
        vals = [rnd.randint(1, 50) * 10_000_000 for _ in types]
        for k, v in enumerate(vals):
            total[k] += v
        p.add(frames, vals, labels or {"thread_name": "MainThread", "thread_group": "MainThread"})
    return p, total
