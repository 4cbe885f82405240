/*
 * fw_base: what every agent module shares and none of them owns: the log line, the two clocks,
 * the limits of the configuration and its types.
 *
 * It includes nothing of the agent, so any module may include it without tying itself to
 * another one; the agent's state (fw_agent.h) and its start/stop/fork hub (fw_lifecycle.h) build
 * on it, never the other way round.
 */
#ifndef FW_BASE_H
#define FW_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { FW_LOG_DEBUG = 0, FW_LOG_INFO = 1, FW_LOG_WARNING = 2, FW_LOG_QUIET = 3 };

#define FW_APP_MAX 128
#define FW_PATH_MAX 4096
#define FW_LAST_PATH_MAX (FW_PATH_MAX + FW_APP_MAX + 64)   /* DIR/APP-PID-SEQ.pprof.gz */
#define FW_TAGS_MAX 32
#define FW_TAG_KEY_MAX 64
#define FW_TAG_VALUE_MAX 256
#define FW_URL_MAX 1024
#define FW_TOKEN_MAX 512
#define FW_EXIT_DEADLINE_NS 2000000000ull   /* stop(): the final upload may take this long */

typedef struct {
    char key[FW_TAG_KEY_MAX + 1];
    char value[FW_TAG_VALUE_MAX + 1];
} fw_tag;

typedef struct {
    char app[FW_APP_MAX + 1];
    char output_dir[FW_PATH_MAX]; /* "" = no files */
    char server[FW_URL_MAX];      /* "" = no uploads */
    char token[FW_TOKEN_MAX];     /* "" = no Authorization header */
    char ca_file[FW_PATH_MAX];    /* PEM CAs trusted for https; "" = libcurl's default bundle */
    uint64_t settings_interval_ns;
    uint32_t queue_max;           /* most profiles kept while the server is away (0: no limit
                                   * but the uploader's byte budget) */
    /* The live settings below may be changed by the uploader (remote settings) under the agent
     * mutex; readers outside it may see a value one tick late, never a torn one that matters. */
    bool enabled;                 /* master switch */
    uint64_t interval_ns;         /* cpu sampling interval */
    bool cpu;
    bool wall;
    bool memory;                  /* stored for the memory profiler */
    uint32_t memory_threshold_kb;
    fw_tag tags[FW_TAGS_MAX];
    size_t ntags;
    uint64_t upload_interval_ns;
    int log_level;                /* FW_LOG_* */
} fw_agent_config;

/* A copy of a resolver function's names, owned by whoever copied it (the worker, the memory
 * profiler), so that a profile can be built without the resolver's lock. */
typedef struct {
    char *qualname;
    char *filename;
    int32_t firstlineno;
} fw_fn_copy;

/* One line on stderr, "flamewatch: ...", if `level` passes the configured level.
 * Lock-free (a single write(2)), so it is safe from every agent thread. */
void fw_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fw_log_set_level(int level);

uint64_t fw_now_mono_ns(void);
int64_t fw_now_real_ns(void);

#endif
