"""Retries stored once on ClickHouse (issue 12), through two servers on one database: the shared
cases of tests/server/retry_cases.py. The ClickHouse backend keeps the ids next to the rows, in
the same insert (store/clickhouse/fw_ch_batch.c)."""
import unittest

import chserver
from fwenv import Server
from retry_cases import RetryCases


class Retries(RetryCases, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ch = chserver.ClickHouse("retries").start()
        cls.a = Server(store=cls.ch.url("retries"))
        cls.b = Server(store=cls.ch.url("retries"))
        for s in (cls.a, cls.b):
            s.start()

    @classmethod
    def tearDownClass(cls):
        for s in (cls.a, cls.b):
            s.cleanup()
        cls.ch.cleanup()


if __name__ == "__main__":
    unittest.main()
