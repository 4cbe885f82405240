/*
 * fw_lifecycle: the start/stop/fork state machine of the one agent a process has (fw_agent.h).
 * It is the hub that drives the sampler, the worker, the uploader and the memory profiler; none
 * of them includes it.
 */
#ifndef FW_LIFECYCLE_H
#define FW_LIFECYCLE_H

#include <stddef.h>

#include "fw_base.h"

/* All of these are called with the GIL held (from module.c). */
int fw_lifecycle_start(const fw_agent_config *cfg, char *err, size_t errlen);
/* Stops both threads and writes the final profile. *path gets its path ("" if none). */
int fw_lifecycle_stop(char *path, size_t pathlen);
void fw_lifecycle_before_fork(void);
void fw_lifecycle_after_fork_parent(void);
int fw_lifecycle_after_fork_child(char *err, size_t errlen);

#endif
