"""A small Python web shop for the console tests, run under the agent (`flamewatch run`).

Two versions of the same service: in version 2 `Cart.total` does three times the work (a
regression) and `render_json` 0.7 times (an improvement, kept smaller than the regression so that
the regression is the largest change even when a loaded machine blurs the shares); everything
else is the same. The console tests profile both and check that the console shows what this
program measured about itself.

Threads: MainThread serves requests (checkout -> Cart.total, search -> parse_query,
render_json, log_access), each request under a dynamic tag `endpoint`; worker-1 and worker-2
take image jobs from a queue (resize_image) and otherwise wait on it; one thread whose name is
an XSS probe runs a function whose name, file name and dynamic tag value are HTML.

Each function burns a CPU budget measured with time.thread_time() (the per-thread CPU clock the
agent reads), in a few rounds so that switches between functions stay rare (see
tests/agent/workloads/cpu_split.py). The truth written to TRUTH.json is what was measured:
CPU seconds per function (inclusive), per thread, per endpoint and per thread+function, and
the line of the hot loop in Cart.total.

Usage: shop.py VERSION TRUTH.json [CPU_SECONDS]   (VERSION 1 or 2; CPU_SECONDS default 2)
"""
import time

T_START = time.thread_time()  # noqa: E402  (the main thread's CPU before this is not the service's)

import io  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import queue  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402

try:
    import flamewatch
    tag = flamewatch.tag
except ImportError:  # run without the agent: same program, no tags
    import contextlib

    def tag(**_labels):
        return contextlib.nullcontext()

XSS = "<img src=x onerror=alert(1)>"
XSS_FILE = "/srv/<script>alert(2)</script>.py"
XSS_TAG = "<b>ops</b>"

# The main thread's budget, in units. Version 2: Cart.total x3 (the regression: about +21 points
# of share), render_json x0.7 (an improvement, smaller responses: about -14 points). At x0.4 the
# improvement (-21 points) was as large as the regression, and the sampling noise of a loaded
# machine put it first in 1 of 5 runs.
MAIN_UNITS = {"Cart.total": 0.15, "render_json": 0.40, "parse_query": 0.25, "log_access": 0.20}
WORKER_UNITS = 0.06   # resize_image, per worker, per unit of main budget
HOSTILE_UNITS = 0.04  # the XSS thread's function
ROUNDS = 6

lock = threading.Lock()
cpu_func = {}    # function -> CPU seconds (inclusive)
cpu_thread_func = {}  # thread -> {function -> CPU seconds}
cpu_endpoint = {}  # endpoint tag -> CPU seconds


def charge(func, secs, endpoint=None):
    thread = threading.current_thread().name
    with lock:
        cpu_func[func] = cpu_func.get(func, 0.0) + secs
        per = cpu_thread_func.setdefault(thread, {})
        per[func] = per.get(func, 0.0) + secs
        if endpoint:
            cpu_endpoint[endpoint] = cpu_endpoint.get(endpoint, 0.0) + secs


class Cart:
    def __init__(self, n):
        self.items = [{"sku": i, "price": (i % 97) * 1.5, "qty": i % 3 + 1} for i in range(n)]

    def total(self, budget):
        end = time.thread_time() + budget
        s = 0.0
        while time.thread_time() < end:
            for it in self.items:
                s += it["price"] * it["qty"] * 1.07  # HOT-LINE
        return s


def checkout(cart, budget):
    t0 = time.thread_time()
    cart.total(budget)
    charge("Cart.total", time.thread_time() - t0, "/checkout")


def parse_query(budget):
    end = time.thread_time() + budget
    i = 0
    while time.thread_time() < end:
        re.purge()
        re.compile(r"item-%d-(\d+)/(?P<size>[a-z]+)" % i).match("item-%d-42/large" % i)
        i += 1


def search(budget):
    t0 = time.thread_time()
    parse_query(budget)
    charge("parse_query", time.thread_time() - t0, "/search")


def render_json(cart, budget):
    end = time.thread_time() + budget
    while time.thread_time() < end:
        json.dumps({"items": cart.items[:50], "n": len(cart.items)})


log = logging.getLogger("shop")
log.addHandler(logging.StreamHandler(io.StringIO()))
log.setLevel(logging.INFO)


def log_access(budget):
    end = time.thread_time() + budget
    i = 0
    while time.thread_time() < end:
        log.info("GET /item/%d 200", i)
        i += 1


def resize_image(budget):
    end = time.thread_time() + budget
    x = 0
    while time.thread_time() < end:
        for i in range(1000):
            x ^= i * 31
    return x


def worker(jobs):
    while True:
        budget = jobs.get()
        if budget is None:
            return
        t0 = time.thread_time()
        resize_image(budget)
        charge("resize_image", time.thread_time() - t0)


def make_hostile():
    """A real function whose name and file name are HTML: the agent reports what the code
    object says, so the console receives hostile text from a genuine profile."""
    src = ("def hostile(budget):\n"
           "    end = time.thread_time() + budget\n"
           "    x = 0\n"
           "    while time.thread_time() < end:\n"
           "        x += sum(range(200))\n"
           "    return x\n")
    ns = {"time": time}
    exec(compile(src, XSS_FILE, "exec"), ns)
    fn = ns["hostile"]
    names = {"co_name": XSS}
    if sys.version_info >= (3, 11):
        names["co_qualname"] = XSS
    fn.__code__ = fn.__code__.replace(**names)
    return fn


def hostile_thread(budget, done):
    fn = make_hostile()
    with tag(team=XSS_TAG):
        for _ in range(ROUNDS):
            t0 = time.thread_time()
            fn(budget / ROUNDS)
            charge(XSS, time.thread_time() - t0)
            time.sleep(0.01)
    done[threading.current_thread().name] = time.thread_time()


def main():
    version = int(sys.argv[1])
    truth_path = sys.argv[2]
    cpu_s = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
    units = dict(MAIN_UNITS)
    if version == 2:
        units["Cart.total"] *= 3
        units["render_json"] *= 0.7
    # One unit of budget: the whole process should use about cpu_s seconds of CPU.
    unit = cpu_s / (sum(units.values()) + 2 * WORKER_UNITS + HOSTILE_UNITS)
    cart = Cart(300)
    jobs = queue.Queue()
    done = {}

    def run_worker():
        worker(jobs)
        done[threading.current_thread().name] = time.thread_time()

    threads = [threading.Thread(target=run_worker, name="worker-%d" % i) for i in (1, 2)]
    threads.append(threading.Thread(target=hostile_thread, args=(HOSTILE_UNITS * unit, done), name=XSS))
    for t in threads:
        t.start()
    for _ in range(ROUNDS):
        for _w in (1, 2):
            jobs.put(WORKER_UNITS * unit / ROUNDS)
        with tag(endpoint="/checkout"):
            checkout(cart, units["Cart.total"] * unit / ROUNDS)
        with tag(endpoint="/search"):
            search(units["parse_query"] * unit / ROUNDS)
        t0 = time.thread_time()
        render_json(cart, units["render_json"] * unit / ROUNDS)
        charge("render_json", time.thread_time() - t0)
        t0 = time.thread_time()
        log_access(units["log_access"] * unit / ROUNDS)
        charge("log_access", time.thread_time() - t0)
    for _ in (1, 2):
        jobs.put(None)
    for t in threads:
        t.join()
    done["MainThread"] = time.thread_time() - T_START
    with open(os.path.abspath(__file__), encoding="utf-8") as f:
        hot_line = next(i for i, line in enumerate(f, 1) if "# HOT-LINE" in line and "next(" not in line)
    truth = {
        "version": version, "pid": os.getpid(), "hostname": socket.gethostname(), "file": os.path.abspath(__file__),
        "cpu_func": cpu_func, "cpu_thread": done, "cpu_thread_func": cpu_thread_func, "cpu_endpoint": cpu_endpoint,
        "cpu_total": sum(done.values()), "hot_line": hot_line,
    }
    tmp = "%s.%d.tmp" % (truth_path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(truth, f, ensure_ascii=False, indent=1)
    os.replace(tmp, truth_path)


if __name__ == "__main__":
    main()
