"""Self-test of the clickhouse-server launcher (chserver.py) the other ClickHouse suites stand on:
loopback only, data kept across a crash and a restart on the same ports, errors raised, a cluster
whose Distributed tables reach every shard, everything gone after the `with` block."""
import os
import signal
import subprocess
import sys
import time
import unittest

import chserver

HERE = os.path.dirname(os.path.abspath(__file__))


def listening(port):
    """Local addresses (hex ip, as in /proc/net/tcp{,6}) on which some process listens on `port`."""
    found = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    ip, p = cols[1].split(":")
                    if int(p, 16) == port and cols[3] == "0A":  # 0A: TCP_LISTEN
                        found.append(ip)
        except OSError:
            pass
    return found


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (not reaped yet) counts as gone.
    with open("/proc/%d/stat" % pid) as f:
        return f.read().split(") ", 1)[1][0] != "Z"


class ChServerTest(unittest.TestCase):
    def test_single_server_lifecycle(self):
        ch = chserver.ClickHouse()
        with ch:
            pid, tmp = ch.proc.pid, ch.tmp
            self.assertEqual(ch.url("db"), "clickhouse://127.0.0.1:%d/db" % ch.http_port)
            self.assertEqual(ch.scalar("SELECT 1 + 2"), "3")
            # Every port the server opened listens on 127.0.0.1 only (0100007F in /proc/net/tcp).
            for port in (ch.http_port, ch.tcp_port, ch.interserver_port):
                self.assertEqual(listening(port), ["0100007F"], "port %d" % port)
            # Server time zone UTC, whatever the machine's: day partitions and toDate() agree with flamewatch.
            self.assertEqual(ch.scalar("SELECT toString(toDateTime(86400))"), "1970-01-02 00:00:00")
            self.assertTrue(os.path.isdir(os.path.join(tmp, "data", "metadata")), "own data folder")

            ch.query("CREATE DATABASE db")
            ch.query("CREATE TABLE db.t (d Date, x UInt64) ENGINE = MergeTree PARTITION BY d ORDER BY x")
            ch.query("INSERT INTO db.t FORMAT TSV", data=b"2026-01-01\t1\n2026-01-02\t2\n")
            self.assertEqual(ch.scalar("SELECT sum(x) FROM t", db="db"), "3")

            ports = dict(ch.ports)
            ch.kill9()
            self.assertFalse(pid_alive(pid))
            self.assertFalse(ch.ping())
            with self.assertRaises(OSError):
                ch.query("SELECT 1", timeout=5)
            ch.start()
            self.assertEqual(ch.ports, ports, "a crashed server comes back on the same ports")
            self.assertEqual(ch.scalar("SELECT sum(x) FROM db.t"), "3", "acknowledged rows survive kill -9")
            ch.restart()
            self.assertEqual(ch.ports, ports)
            self.assertEqual(ch.scalar("SELECT count() FROM db.t"), "2")

            with self.assertRaises(chserver.ClickHouseError) as cm:
                ch.query("SELEC 1")
            self.assertEqual(cm.exception.status, 400)
            self.assertIn("Syntax error", str(cm.exception))
            pid = ch.proc.pid
        self.assertFalse(pid_alive(pid), "server stopped after the with block")
        self.assertFalse(os.path.exists(tmp), "its folder removed")

    def test_cluster_of_two_shards(self):
        with chserver.ClickHouseCluster(shards=2) as cl:
            self.assertEqual(len(cl.nodes), 2)
            a, b = cl.nodes
            self.assertEqual(cl.url("db"), "clickhouse://127.0.0.1:%d,127.0.0.1:%d/db?cluster=fw"
                             % (a.http_port, b.http_port))
            self.assertEqual(cl.url("db", node=1), "clickhouse://127.0.0.1:%d,127.0.0.1:%d/db?cluster=fw"
                             % (b.http_port, a.http_port))
            rows = a.query("SELECT shard_num, host_address, port FROM system.clusters WHERE cluster = 'fw' "
                           "ORDER BY shard_num").split()
            self.assertEqual(rows, ["1", "127.0.0.1", str(a.tcp_port), "2", "127.0.0.1", str(b.tcp_port)])
            for n in cl.nodes:
                n.query("CREATE DATABASE db")
                n.query("CREATE TABLE db.t (x UInt64) ENGINE = MergeTree ORDER BY x")
                n.query("CREATE TABLE db.dt AS db.t ENGINE = Distributed(fw, db, t, x)")
            a.query("INSERT INTO db.dt FORMAT TSV", data="".join("%d\n" % i for i in range(1, 101)).encode(),
                    insert_distributed_sync=1)
            # Sharding key x: even values on shard 1, odd ones on shard 2; each node sees all through dt.
            self.assertEqual(a.query("SELECT count(), sum(x) FROM db.t").split(), ["50", str(sum(range(2, 101, 2)))])
            self.assertEqual(b.query("SELECT count(), sum(x) FROM db.t").split(), ["50", str(sum(range(1, 101, 2)))])
            for n in cl.nodes:
                self.assertEqual(n.query("SELECT count(), sum(x) FROM db.dt").split(), ["100", "5050"])
            tmps = [n.tmp for n in cl.nodes]
        self.assertFalse(any(os.path.exists(t) for t in tmps))

    def test_cli_serve_prints_url_and_stops_on_sigterm(self):
        p = subprocess.Popen([sys.executable, os.path.join(HERE, "chserver.py"), "--serve", "--db", "x"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            lines = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                line = p.stdout.readline().decode()
                if not line:
                    break
                lines.append(line)
                if line.startswith("flamewatch server --store"):
                    break
            self.assertTrue(lines and lines[-1].startswith("flamewatch server --store 'clickhouse://127.0.0.1:"),
                            "".join(lines))
            port = int(lines[-1].split("127.0.0.1:")[1].split("/")[0])
            folder = lines[0].rsplit("folder ", 1)[1].strip()
            self.assertTrue(listening(port))
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(timeout=60), 0)
            self.assertEqual(listening(port), [], "the server is stopped with the CLI")
            self.assertFalse(os.path.exists(folder))
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()


if __name__ == "__main__":
    unittest.main()
