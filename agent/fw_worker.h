/*
 * fw_worker: the agent's second native thread. It has thread names read (fw_names.h, the only
 * agent code that takes the GIL, briefly) and writes one gzip-compressed pprof per upload
 * interval.
 */
#ifndef FW_WORKER_H
#define FW_WORKER_H

#include <stdbool.h>
#include <stddef.h>

#include "fw_agent.h"

/* Allocates the worker's buffers and opens the agent's wake-up channel (before the threads
 * start); 0 or ENOMEM. */
int fw_worker_init(fw_agent *a);
/* Frees them and the function-name copies. No thread may be running. */
void fw_worker_release(fw_agent *a);

/* With the GIL held: returns once the worker has its Python thread state (fw_worker.c). */
int fw_worker_start(fw_agent *a);
/* Asks the worker to stop and joins it. Call without the GIL and without the agent mutex. */
void fw_worker_stop(fw_agent *a);
/* In a forked child: the thread does not exist there; forget it, never join it. */
void fw_worker_forget(void);

/* Swaps the aggregate out and writes it. An empty interval writes nothing unless `final`.
 * Returns 1 if a file was written (a->last_path), 0 if none was due, -1 on error. */
int fw_worker_flush(fw_agent *a, bool final);

#endif
