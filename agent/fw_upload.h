/*
 * fw_upload: the agent's third native thread. It sends each profile the worker built to the
 * server's POST /ingest, keeps a bounded queue while the server is away, and polls the
 * application's settings (GET /api/v1/apps/{app}/settings) to apply them live.
 * It exists only when a server is configured; it never takes the GIL.
 */
#ifndef FW_UPLOAD_H
#define FW_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fw_pprof.h"
#include "fw_settings.h"

struct fw_agent;

typedef struct {
    uint64_t uploads;          /* profiles the server accepted */
    uint64_t upload_bytes;
    uint64_t attempts;         /* requests made, retries included */
    uint64_t failures;         /* requests that failed (network, 5xx, 429, auth) */
    uint64_t rejected;         /* profiles the server refused for good (other 4xx): dropped */
    uint64_t dropped;          /* profiles dropped: queue full (oldest first), refused, or unsent
                                * at exit; reported to the server as `dropped=N` */
    uint64_t queued;           /* profiles not delivered yet (the one in a request included) */
    uint64_t settings_fetches; /* successful settings polls */
    uint64_t settings_applied; /* polls that changed the live settings */
    uint64_t settings_invalid; /* answers that were ignored */
    int64_t settings_updated_at; /* `updated_at` of the settings last applied (0: none) */
    uint64_t last_upload_cpu_ns;  /* CPU time of the uploader thread for its last upload */
    uint64_t upload_cpu_ns;       /* CPU time of the uploader thread, all uploads */
} fw_upload_stats;

/* With the GIL, before the threads start: the queue (64 MB, and at most a->cfg.queue_max
 * profiles unless that is 0). 0 or errno. */
int fw_upload_init(struct fw_agent *a);
int fw_upload_start(struct fw_agent *a);
/* Hands a profile over (takes gz->data; gz is emptied). Never blocks on the network: when the
 * queue is full (bytes, or the count limit) the oldest profile is dropped and counted. No-op without a server. */
void fw_upload_push(struct fw_agent *a, fw_buf *gz, int64_t start_ns, int64_t end_ns);
/* The agent is stopping: from now on the thread sends nothing until fw_upload_stop(), which
 * then sends everything queued (the final profile included) in one drain. */
void fw_upload_closing(struct fw_agent *a);
/* Sends what is queued until `deadline` (monotonic ns), then stops the thread. Profiles still
 * queued are counted as dropped. Call without the GIL and without the agent mutex. Returns
 * false if the thread had to be abandoned (stuck in a request past the deadline). */
bool fw_upload_stop(struct fw_agent *a, uint64_t deadline);
void fw_upload_release(struct fw_agent *a);
void fw_upload_get_stats(fw_upload_stats *out);

/* Fork hooks (from fw_agent's): the queue lock is held across fork; the child forgets the
 * parent's queue (the parent delivers it) and its thread. */
void fw_upload_before_fork(void);
void fw_upload_after_fork_parent(void);
void fw_upload_after_fork_child(void);

#endif
