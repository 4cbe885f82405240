/*
 * fw_cpu_follow: see fw_cpu_follow.h for why the sampler follows the thread it samples.
 *
 * The CPU a thread last ran on is field 39 of /proc/self/task/TID/stat ("processor"), counted
 * after the command name, which is in parentheses and may itself contain ')' or spaces, so the
 * fields are counted from the last ')'. One open/read/close every 25 ticks for the GIL holder
 * only: a CPU-bound thread rarely migrates, so pins change rarely.
 */
#include "fw_cpu_follow.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Field 39 of the thread's stat line, -1 if it cannot be read. */
static int fw_thread_last_cpu(int64_t tid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/self/task/%lld/stat", (long long)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    p++;   /* the space before field 3 (state) */
    for (int field = 3; field < 39 && p != NULL; field++)
        p = strchr(p + 1, ' ');   /* the space before field + 1 */
    if (p == NULL)
        return -1;
    char *end = NULL;
    long cpu = strtol(p + 1, &end, 10);
    if (end == p + 1 || cpu < 0 || cpu >= CPU_SETSIZE)
        return -1;
    return (int)cpu;
}

void fw_cpu_follow_init(fw_cpu_follow *f)
{
    memset(f, 0, sizeof *f);
    f->pinned = -1;
    if (pthread_getaffinity_np(pthread_self(), sizeof f->allowed, &f->allowed) != 0)
        f->off = true;
}

bool fw_cpu_follow_thread(fw_cpu_follow *f, int64_t tid, uint64_t tick)
{
    if (f->off || tid <= 0 || tick < f->resume_tick)
        return false;
    int cpu = fw_thread_last_cpu(tid);
    if (cpu < 0 || cpu == f->pinned || !CPU_ISSET(cpu, &f->allowed))
        return false;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (pthread_setaffinity_np(pthread_self(), sizeof one, &one) != 0) {
        f->off = true;   /* a cpuset changed under us, or a seccomp filter: stay where we are */
        return false;
    }
    f->pinned = cpu;
    return true;
}

bool fw_cpu_follow_release(fw_cpu_follow *f, uint64_t tick, uint64_t backoff_ticks)
{
    if (f->pinned < 0)
        return false;
    if (pthread_setaffinity_np(pthread_self(), sizeof f->allowed, &f->allowed) != 0)
        f->off = true;
    f->pinned = -1;
    f->resume_tick = tick + backoff_ticks;
    return true;
}
