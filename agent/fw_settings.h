/*
 * fw_settings: parses the settings answer of GET /api/v1/apps/{app}/settings (fw_upload polls
 * it and applies the result).
 */
#ifndef FW_SETTINGS_H
#define FW_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    bool enabled, cpu, wall, memory;
    int cpu_interval_ms;
    int memory_threshold_kb;
    int64_t updated_at;
} fw_remote_settings;

/* 0 ok, -1 with a reason in err (out is then unspecified). */
int fw_settings_parse(const char *json, size_t len, fw_remote_settings *out, char *err, size_t errlen);

#endif
