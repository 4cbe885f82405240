"""Stack shapes: deep recursion (300 frames), a generator, coroutines, Unicode names.

Each part burns CPU at the bottom of its shape so that the sampler sees the whole shape:
  - dive(): recursion 300 deep, working only in the innermost call;
  - consume() iterating the generator produce(), which does the work;
  - handler() awaiting the coroutine crunch() inside asyncio.run();
  - the method Ünïcødé.计算 and the function función_λ.
The truth holds, per part, the CPU it took and the qualified names as CPython reports them.
Usage: shapes.py TRUTH.json
"""
import asyncio
import os
import sys
import time

from wlcommon import write_truth

DEPTH = 300
BUDGET = 0.35


def dive(n, budget):
    if n > 1:
        return dive(n - 1, budget)
    end = time.thread_time() + budget
    x = 0
    while time.thread_time() < end:
        for i in range(500):
            x += i
    return x


def produce(budget):
    end = time.thread_time() + budget
    while time.thread_time() < end:
        x = 0
        for i in range(2000):
            x += i
        yield x


def consume(budget):
    total = 0
    for v in produce(budget):
        total += v
    return total


async def crunch(budget):
    end = time.thread_time() + budget
    x = 0
    while time.thread_time() < end:
        for i in range(2000):
            x += i
        await asyncio.sleep(0)
    return x


async def handler(budget):
    return await crunch(budget)


class Ünïcødé:
    def 计算(self, budget):
        end = time.thread_time() + budget
        x = 0
        while time.thread_time() < end:
            for i in range(500):
                x += i
        return x


def función_λ(budget):
    end = time.thread_time() + budget
    x = 0
    while time.thread_time() < end:
        for i in range(500):
            x += i
    return x


def measure(fn, *args):
    t0 = time.thread_time()
    fn(*args)
    return time.thread_time() - t0


def main():
    # The recursion limit counts frames already on the stack; 300 more must fit.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), DEPTH + 200))
    cpu = {
        "dive": measure(dive, DEPTH, BUDGET),
        "produce": measure(consume, BUDGET),
        "crunch": measure(asyncio.run, handler(BUDGET)),
        "unicode_method": measure(Ünïcødé().计算, BUDGET),
        "unicode_function": measure(función_λ, BUDGET),
    }
    write_truth(sys.argv[1], {
        "cpu_s": cpu,
        "depth": DEPTH,
        "names": {
            "dive": dive.__qualname__,
            "produce": produce.__qualname__,
            "consume": consume.__qualname__,
            "crunch": crunch.__qualname__,
            "handler": handler.__qualname__,
            "unicode_method": Ünïcødé.计算.__qualname__,
            "unicode_function": función_λ.__qualname__,
        },
        "file": os.path.abspath(__file__),
    })


if __name__ == "__main__":
    main()
