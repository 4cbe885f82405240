"""shop: a small self-contained "web shop" to profile with flamewatch.

A real HTTP service (stdlib http.server, one thread per request) on 127.0.0.1, plus a load
generator that hits it from a few client threads, or (--direct) the same handlers called
without HTTP. Each endpoint has a typical Python hot spot, and runs inside
`flamewatch.tag(endpoint=...)` when flamewatch is loaded, so the console can filter by endpoint:
  - GET /search     CatalogAPI.search: compiles a regular expression on every request
                    (a classic: re.compile in the request path instead of once)
  - POST /checkout  CheckoutService.checkout: JSON encode/decode of the order, price sums
  - GET /reports    ReportService.top_sellers: sorting the whole order history each time
  - POST /inventory InventoryService.rebuild_index: allocation-heavy dict/list rebuilding
and a background thread ("report-scheduler") that refreshes a cached report every second.

Usage: python3 demo/shop.py [--seconds 10] [--workers 3] [--port 0] [--direct]
"""
import argparse
import json
import random
import re
import threading
import time

WORDS = ("red green blue black white small large classic modern organic steel wooden cotton linen "
         "lamp chair table mug shirt jacket shoe kettle pan knife bottle bag clock rug pillow").split()


class Product:
    __slots__ = ("sku", "name", "price", "stock", "tags")

    def __init__(self, sku, name, price, stock, tags):
        self.sku, self.name, self.price, self.stock, self.tags = sku, name, price, stock, tags


class Catalog:
    def __init__(self, rng, size=4000):
        self.products = []
        for i in range(size):
            name = " ".join(rng.choice(WORDS) for _ in range(3))
            self.products.append(Product("SKU-%05d" % i, name, round(rng.uniform(2, 300), 2),
                                         rng.randint(0, 500), rng.sample(WORDS, 3)))
        self.by_sku = {p.sku: p for p in self.products}


class CatalogAPI:
    """GET /search?q=..."""

    def __init__(self, catalog):
        self.catalog = catalog

    def search(self, query):
        # Deliberately compiled per request (and with a fresh pattern text, so re's cache misses).
        pattern = re.compile(r"\b(%s)\w*\s+(?:\w+\s+)?(%s)" % (re.escape(query[0]), "|".join(map(re.escape, query[1:]))))
        hits = [p for p in self.catalog.products if pattern.search(p.name)]
        return json.dumps([{"sku": p.sku, "name": p.name, "price": p.price} for p in hits[:50]])


class CheckoutService:
    """POST /checkout"""

    def __init__(self, catalog):
        self.catalog = catalog
        self.orders = []
        self.lock = threading.Lock()

    def checkout(self, body):
        order = json.loads(body)
        lines = []
        for item in order["items"]:
            product = self.catalog.by_sku[item["sku"]]
            lines.append({"sku": product.sku, "qty": item["qty"], "unit": product.price,
                          "total": round(product.price * item["qty"], 2)})
        receipt = {"customer": order["customer"], "lines": lines,
                   "total": round(sum(line["total"] for line in lines), 2)}
        encoded = json.dumps(receipt, sort_keys=True, indent=2)
        with self.lock:
            self.orders.append(receipt)
        return encoded


class ReportService:
    """GET /reports/top-sellers"""

    def __init__(self, checkout):
        self.checkout = checkout
        self.cached = None

    def top_sellers(self, n=20):
        with self.checkout.lock:
            orders = list(self.checkout.orders)
        totals = {}
        for order in orders:
            for line in order["lines"]:
                totals[line["sku"]] = totals.get(line["sku"], 0.0) + line["total"]
        ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
        history = sorted((line["total"] for order in orders for line in order["lines"]), reverse=True)
        return ranked[:n], history[:n]

    def refresh_cache(self):
        self.cached = self.top_sellers()


class InventoryService:
    """POST /inventory/rebuild"""

    def __init__(self, catalog):
        self.catalog = catalog
        self.index = {}

    def rebuild_index(self):
        index = {}
        for p in self.catalog.products:
            for tag in p.tags:
                index.setdefault(tag, []).append({"sku": p.sku, "stock": p.stock, "words": p.name.split()})
        self.index = {tag: sorted(entries, key=lambda e: e["stock"]) for tag, entries in index.items()}
        return sum(len(v) for v in self.index.values())


class Shop:
    def __init__(self, seed=7):
        rng = random.Random(seed)
        self.catalog = Catalog(rng)
        self.search_api = CatalogAPI(self.catalog)
        self.checkout_service = CheckoutService(self.catalog)
        self.reports = ReportService(self.checkout_service)
        self.inventory = InventoryService(self.catalog)

    def handle(self, rng):
        """One request, chosen with a realistic mix."""
        r = rng.random()
        if r < 0.35:
            return self.search_api.search(rng.sample(WORDS, 3))
        if r < 0.80:
            body = json.dumps({"customer": "c%d" % rng.randint(1, 999),
                               "items": [{"sku": "SKU-%05d" % rng.randrange(len(self.catalog.products)),
                                          "qty": rng.randint(1, 4)} for _ in range(rng.randint(1, 8))]})
            return self.checkout_service.checkout(body)
        if r < 0.97:
            return self.reports.top_sellers()
        return self.inventory.rebuild_index()


# ---- the HTTP service ----

try:
    import flamewatch
    _tag = flamewatch.tag
except ImportError:  # run without the agent: tags are no-ops
    import contextlib

    def _tag(**_labels):
        return contextlib.nullcontext()


def make_handler(shop):
    from http.server import BaseHTTPRequestHandler
    from urllib.parse import parse_qs, urlparse

    class ShopHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self, status, body):
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            url = urlparse(self.path)
            if url.path == "/search":
                q = parse_qs(url.query).get("q", ["red lamp chair"])[0].split()
                with _tag(endpoint="/search"):
                    return self._reply(200, shop.search_api.search((q + WORDS[:3])[:3]))
            if url.path == "/reports":
                with _tag(endpoint="/reports"):
                    return self._reply(200, json.dumps(shop.reports.top_sellers()))
            self._reply(404, '{"error":"not found"}')

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path == "/checkout":
                with _tag(endpoint="/checkout"):
                    return self._reply(200, shop.checkout_service.checkout(body))
            if self.path == "/inventory":
                with _tag(endpoint="/inventory"):
                    return self._reply(200, json.dumps({"entries": shop.inventory.rebuild_index()}))
            self._reply(404, '{"error":"not found"}')

        def log_message(self, *args):
            pass

    return ShopHandler


def http_client(port, seed, deadline, counts, idx):
    """Load generator: one keep-alive connection, the same request mix as Shop.handle."""
    import http.client
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while time.monotonic() < deadline:
        r = rng.random()
        if r < 0.35:
            conn.request("GET", "/search?q=" + "+".join(rng.sample(WORDS, 3)))
        elif r < 0.80:
            body = json.dumps({"customer": "c%d" % rng.randint(1, 999),
                               "items": [{"sku": "SKU-%05d" % rng.randrange(4000), "qty": rng.randint(1, 4)}
                                         for _ in range(rng.randint(1, 8))]})
            conn.request("POST", "/checkout", body=body, headers={"Content-Type": "application/json"})
        elif r < 0.97:
            conn.request("GET", "/reports")
        else:
            conn.request("POST", "/inventory", body=b"")
        conn.getresponse().read()
        counts[idx] += 1
        time.sleep(0.001)
    conn.close()


def http_worker(shop, seed, deadline, counts, idx):
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        shop.handle(rng)
        counts[idx] += 1
        time.sleep(0.001)  # waiting for the next request


def report_scheduler(shop, deadline):
    while time.monotonic() < deadline:
        shop.reports.refresh_cache()
        time.sleep(1.0)


def main():
    ap = argparse.ArgumentParser(description="flamewatch demo shop")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--port", type=int, default=0, help="HTTP port on 127.0.0.1 (0: any free one)")
    ap.add_argument("--direct", action="store_true", help="call the handlers without HTTP")
    args = ap.parse_args()
    shop = Shop()
    deadline = time.monotonic() + args.seconds
    counts = [0] * args.workers
    server = None
    if args.direct:
        threads = [threading.Thread(target=http_worker, args=(shop, i, deadline, counts, i),
                                    name="http-worker-%d" % (i + 1)) for i in range(args.workers)]
    else:
        from http.server import ThreadingHTTPServer
        server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(shop))
        server.daemon_threads = True
        port = server.server_address[1]
        print("shop: serving on http://127.0.0.1:%d" % port, flush=True)
        threading.Thread(target=server.serve_forever, name="http-acceptor", daemon=True).start()
        threads = [threading.Thread(target=http_client, args=(port, i, deadline, counts, i),
                                    name="load-client-%d" % (i + 1)) for i in range(args.workers)]
    threads.append(threading.Thread(target=report_scheduler, args=(shop, deadline), name="report-scheduler"))
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.2)
    except KeyboardInterrupt:
        pass
    if server is not None:
        server.shutdown()
        server.server_close()
    print("shop: served %d requests in %.0f s with %d workers" % (sum(counts), args.seconds, args.workers))


if __name__ == "__main__":
    main()
