/*
 * wake_cost: the CPU time a thread costs by waking up at a fixed interval and doing nothing else.
 *
 * Any in-process sampler wakes up once per interval; on a virtual machine the kernel and the
 * hypervisor charge the waking thread for the timer and the context switches, and that cost is
 * a floor under the sampler's own (bench/overhead.py prints it beside the agent threads' CPU).
 * The loop is the sampler's: clock_nanosleep to absolute deadlines on CLOCK_MONOTONIC.
 *
 * Usage: wake_cost [INTERVAL_MS [WAKES]]   (defaults 10 and 300)
 * Prints one line: the CPU time of the thread per wake, in microseconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double thread_cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    long interval_ms = argc > 1 ? strtol(argv[1], NULL, 10) : 10;
    long wakes = argc > 2 ? strtol(argv[2], NULL, 10) : 300;
    if (interval_ms <= 0 || interval_ms >= 1000 || wakes <= 0) {
        fprintf(stderr, "usage: wake_cost [INTERVAL_MS (1-999) [WAKES]]\n");
        return 2;
    }
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    double start = thread_cpu_s();
    for (long i = 0; i < wakes; i++) {
        next.tv_nsec += interval_ms * 1000000L;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
    printf("%.2f\n", (thread_cpu_s() - start) / (double)wakes * 1e6);
    return 0;
}
