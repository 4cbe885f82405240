"""A known CPU split between three functions, one of them a method: alpha 50%, beta 30%,
Cart.total 20% of about 3 s of CPU (argv[2] overrides the total).

The three run in a few rounds, in a cycle. At each switch between functions the CPU of the
tick that straddles it goes to the function running when the tick fires; in a cycle every
function gains about as much from its predecessor as it loses to its successor, so the error
averages out instead of piling up. Few rounds keep the switches rare, which matters when the
machine is loaded and the sampler wakes up late (a late tick charges all it missed to one side
of a switch). The truth is each call's time.thread_time() delta.
Usage: cpu_split.py TRUTH.json [TOTAL_SECONDS]
"""
import os
import sys
import time

from wlcommon import write_truth


class Cart:
    def __init__(self, prices):
        self.prices = prices

    def total(self, budget):
        end = time.thread_time() + budget
        s = 0.0
        while time.thread_time() < end:
            for p in self.prices:
                s += p * 1.07
        return s


def alpha(budget):
    end = time.thread_time() + budget
    x = 0
    while time.thread_time() < end:
        for i in range(2000):
            x += i * i
    return x


def beta(budget):
    end = time.thread_time() + budget
    words = []
    while time.thread_time() < end:
        words = [str(i) for i in range(300)]
        "-".join(words).split("-")
    return len(words)


def main():
    truth_path = sys.argv[1]
    total = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    cart = Cart([float(i % 97) for i in range(500)])
    plan = [("alpha", alpha, 0.5), ("beta", beta, 0.3), ("Cart.total", cart.total, 0.2)]
    rounds = 4
    cpu = {name: 0.0 for name, _, _ in plan}
    for _ in range(rounds):
        for name, fn, share in plan:
            t0 = time.thread_time()
            fn(total * share / rounds)
            cpu[name] += time.thread_time() - t0
    write_truth(truth_path, {
        "cpu_s": cpu,
        "method_qualname": Cart.total.__qualname__,
        "file": os.path.abspath(__file__),
        "pid": os.getpid(),
    })


if __name__ == "__main__":
    main()
