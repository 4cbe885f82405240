"""A small real Python service for the console tests, run under the agent (`flamewatch run`).

Threads: MainThread renders JSON, compiles regexes and logs; two workers wait on a queue; one
thread has an XSS probe as its name. Runs for the number of seconds given (default 3).
"""
import io
import json
import logging
import pickle
import queue
import re
import sys
import threading
import time

DURATION = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
log = logging.getLogger("shop")
log.addHandler(logging.StreamHandler(io.StringIO()))
log.setLevel(logging.INFO)
stop = time.monotonic() + DURATION


class Cart:
    def __init__(self, n):
        self.items = [{"sku": i, "price": i * 1.5, "qty": i % 3 + 1} for i in range(n)]

    def total(self):
        return sum(it["price"] * it["qty"] for it in self.items)


def render_json(cart):
    return json.dumps({"items": cart.items, "total": cart.total()})


def parse_query(i):
    return re.compile(r"item-%d-(\d+)" % (i % 5000)).match("item-%d-42" % (i % 5000))


def handle(i):
    cart = Cart(200)
    render_json(cart)
    parse_query(i)
    log.info("request %d done", i)


def worker(q):
    while time.monotonic() < stop:
        try:
            q.get(timeout=0.05)
        except queue.Empty:
            pass


def evil():
    data = {"k%d" % i: list(range(20)) for i in range(200)}
    while time.monotonic() < stop:
        pickle.loads(pickle.dumps(data))


def main():
    q = queue.Queue()
    threads = [threading.Thread(target=worker, args=(q,), name="worker-%d" % i) for i in (1, 2)]
    threads.append(threading.Thread(target=evil, name="<img src=x onerror=alert(1)>"))
    for t in threads:
        t.start()
    i = 0
    while time.monotonic() < stop:
        handle(i)
        i += 1
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
