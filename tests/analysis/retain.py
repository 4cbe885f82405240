"""A workload for the memory findings: keep() appends to a list that is never released (the
retained list), churn() allocates buffers of the same size and drops them at once."""
import time

KEPT = []


def keep(n):
    for _ in range(n):
        KEPT.append(bytearray(64 * 1024))


def churn(n):
    for _ in range(n):
        b = bytearray(64 * 1024)
        b[0] = 1


def main():
    end = time.time() + 2.5
    while time.time() < end:
        keep(20)
        churn(20)
        time.sleep(0.05)
    time.sleep(1.2)  # one more upload, with everything still held


if __name__ == "__main__":
    main()
