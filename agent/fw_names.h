/*
 * fw_names: reads thread names from `threading` into the registry's slots (fw_threads.h), the
 * only agent code besides stop() that takes the GIL, briefly.
 */
#ifndef FW_NAMES_H
#define FW_NAMES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "fw_agent.h"

/* Allocates the request buffer (before the threads start); 0 or ENOMEM. */
int fw_names_init(void);
void fw_names_release(void);

/* Reads thread names from `threading` for live slots (all of them, or only unnamed ones) and
 * for dead slots still unnamed (threads that ended before a look-up could find them).
 * With have_gil the caller holds the GIL; otherwise the function takes it, briefly, and never
 * while it holds the agent mutex, and not at all once `cancel` (may be NULL) is set. Returns how
 * many of the live slots are still unnamed. */
size_t fw_names_refresh(fw_agent *a, bool all, bool have_gil, const atomic_bool *cancel);

#endif
