#!/usr/bin/env python3
"""`make demo`: a flamewatch server, and the demo shop profiled into it.

1. starts `flamewatch server` on 127.0.0.1 (a free port, or --port) with its embedded store in
   a temporary directory (or --data DIR, e.g. ./flamewatch-demo, to keep the data);
2. runs demo/shop.py (a small threaded HTTP service plus its own load generator) under
   `flamewatch run --server URL --app shop --tag env=demo`, uploading every 5 s;
3. prints the console URL and a `flamewatch query` line to try;
4. runs until Ctrl-C (or for --duration seconds), then stops the shop (its agent sends the last
   profile) and the server, and prints a short CPU table queried back from the server.

Usage: run_demo.py [--build build] [--port 0] [--data DIR] [--duration S]
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_healthy(url, proc, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(0.1)
    return False


def stop(proc, sig=signal.SIGTERM, timeout=15):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--port", type=int, default=0, help="server port on 127.0.0.1 (0: a free one)")
    ap.add_argument("--data", help="server data directory (default: a temporary one, removed at the end)")
    ap.add_argument("--duration", type=float, default=0, help="stop after S seconds (default: until Ctrl-C)")
    args = ap.parse_args()
    build = args.build if os.path.isabs(args.build) else os.path.join(ROOT, args.build)
    flamewatch = os.path.join(build, "flamewatch")
    data = os.path.abspath(args.data) if args.data else tempfile.mkdtemp(prefix="flamewatch-demo-")
    port = args.port or free_port()
    url = "http://127.0.0.1:%d" % port
    server = shop = None
    try:
        server = subprocess.Popen([flamewatch, "server", "--listen", "127.0.0.1:%d" % port, "--data", data],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if not wait_healthy(url, server):
            print("demo: the server did not start: %s" % server.stderr.read().decode(), file=sys.stderr)
            return 1
        seconds = args.duration if args.duration > 0 else 10 ** 7
        cmd = [flamewatch, "run", "--server", url, "--app", "shop", "--tag", "env=demo",
               "--upload-interval", "5", "--", sys.executable, os.path.join(HERE, "shop.py"),
               "--seconds", str(seconds)]
        print("$ " + " ".join(cmd), flush=True)
        shop = subprocess.Popen(cmd)
        print("\nflamewatch demo is running (data in %s)" % data)
        print("  console:  %s/" % url)
        print("  try:      %s query --server %s --app shop --format table --limit 15" % (flamewatch, url))
        print("            %s query --server %s --app shop --label endpoint=/checkout" % (flamewatch, url))
        print("%s\n" % ("stopping after %g s" % args.duration if args.duration > 0 else "Ctrl-C to stop"),
              flush=True)
        try:
            shop.wait()
        except KeyboardInterrupt:
            print("\ndemo: stopping", flush=True)
        stop(shop)           # SIGTERM: the agent sends its last profile, then the shop exits
        table = subprocess.run([flamewatch, "query", "--server", url, "--app", "shop", "--format", "table",
                                "--limit", "12", "--from", "now-1h", "--to", "now+10m"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        print(table.stdout.decode() or table.stderr.decode())
        return 0
    finally:
        stop(shop)
        stop(server)
        if not args.data:
            shutil.rmtree(data, True)


if __name__ == "__main__":
    sys.exit(main())
