/*
 * fw_base: the log line and the clocks (see fw_base.h).
 *
 * The level is an atomic, not a field of the agent, so that a log line never needs the agent
 * or its mutex: every thread of the agent, and the allocator hooks, may log.
 */
#include "fw_base.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static atomic_int fw_log_level = FW_LOG_WARNING;

uint64_t fw_now_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t fw_now_real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void fw_log_set_level(int level)
{
    atomic_store(&fw_log_level, level);
}

void fw_log(int level, const char *fmt, ...)
{
    char line[1024];
    if (level < atomic_load(&fw_log_level) || level >= FW_LOG_QUIET)
        return;
    int n = snprintf(line, sizeof line, "flamewatch: ");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    /* One write(2): no stdio lock, which an application thread could hold at fork. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
