/*
 * fw_agent: the one agent's shared state and the worker's wake-up channel (see fw_agent.h).
 *
 * The channel is an eventfd rather than a condition variable: the sampler raises it without
 * taking any lock (one write(2) that never blocks: a full counter means a wake-up is pending
 * anyway), and the worker waits on it with a deadline (its next timed job) in one ppoll.
 */
#include "fw_agent.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

static fw_agent fw_the_agent = {.lock = PTHREAD_MUTEX_INITIALIZER, .tid_offset = -1, .wake_fd = -1};

fw_agent *fw_agent_get(void)
{
    return &fw_the_agent;
}

bool fw_agent_is_running(void)
{
    return fw_the_agent.phase == FW_AGENT_RUNNING;
}

int fw_agent_wake_open(fw_agent *a)
{
    a->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    a->wake_open = a->wake_fd >= 0;
    return a->wake_open ? 0 : ENOMEM;
}

void fw_agent_wake_close(fw_agent *a)
{
    if (a->wake_open)
        close(a->wake_fd);
    a->wake_open = false;
    a->wake_fd = -1;
}

void fw_agent_wake(fw_agent *a)
{
    uint64_t one = 1;
    if (a->wake_open)
        (void)!write(a->wake_fd, &one, sizeof one);   /* EAGAIN: a wake-up is pending */
}

void fw_agent_wait(fw_agent *a, uint64_t deadline)
{
    uint64_t now = fw_now_mono_ns();
    uint64_t ns = deadline > now ? deadline - now : 0;
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    struct pollfd pfd = {.fd = a->wake_fd, .events = POLLIN};
    if (ppoll(&pfd, 1, &ts, NULL) > 0) {
        uint64_t count;
        (void)!read(a->wake_fd, &count, sizeof count);
    }
}
