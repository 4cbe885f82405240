/*
 * fw_worker: the agent's second native thread. It names threads (the only agent code that
 * takes the GIL, briefly) and writes one gzip-compressed pprof per upload interval.
 */
#ifndef FW_WORKER_H
#define FW_WORKER_H

#include <stdbool.h>
#include <stddef.h>

struct fw_agent;

/* Allocates the worker's buffers (before the threads start); 0 or ENOMEM. */
int fw_worker_init(struct fw_agent *a);
/* Frees them and the function-name copies. No thread may be running. */
void fw_worker_release(struct fw_agent *a);

int fw_worker_start(struct fw_agent *a);
/* Asks the worker to stop and joins it. Call without the GIL and without the agent mutex. */
void fw_worker_stop(struct fw_agent *a);
/* Wakes the worker now (it otherwise sleeps until its next timed job). Lock-free and
 * non-blocking: one write() to an eventfd, safe from the sampler thread. */
void fw_worker_wake(struct fw_agent *a);

/* Reads thread names from `threading` for live slots (all of them, or only unnamed ones).
 * With have_gil the caller holds the GIL; otherwise the function takes it, briefly, and never
 * while it holds the agent mutex. Returns how many of those slots are still unnamed. */
size_t fw_worker_refresh_names(struct fw_agent *a, bool all, bool have_gil);

/* Swaps the aggregate out and writes it. An empty interval writes nothing unless `final`.
 * Returns 1 if a file was written (a->last_path), 0 if none was due, -1 on error. */
int fw_worker_flush(struct fw_agent *a, bool final);

/* The host's name and primary non-loopback address (IPv4, else IPv6, else 127.0.0.1). */
void fw_host_info(char *hostname, size_t hostlen, char *ip, size_t iplen);

#endif
