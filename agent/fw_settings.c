/*
 * fw_settings: the reader of the settings the server answers (GET /api/v1/apps/{app}/settings).
 *
 * The answer is one flat JSON object, read by common/fw_jobject (the server's reader too: the
 * agent must not depend on a JSON library nor take the GIL to use Python's). This file keeps
 * the seven members it knows, each type- and range-checked, ignores any other member, and
 * refuses anything malformed or incomplete with a reason, so that the uploader can say why it
 * ignores an answer.
 */
#include "fw_settings.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fw_jobject.h"

enum { FW_S_ENABLED, FW_S_CPU, FW_S_INTERVAL, FW_S_WALL, FW_S_MEMORY, FW_S_THRESHOLD, FW_S_UPDATED,
       FW_S_COUNT };

static const char *const fw_settings_names[FW_S_COUNT] = {
    "enabled", "cpu", "cpu_interval_ms", "wall", "memory", "memory_threshold_kb", "updated_at"};

static int fw_settings_bool(const fw_jmember *m, bool *out, char *err, size_t errlen)
{
    if (m->type != FW_JV_BOOL) {
        snprintf(err, errlen, "%s is not a boolean", m->key);
        return -1;
    }
    *out = m->b != 0;
    return 0;
}

static int fw_settings_member(const fw_jmember *m, int k, fw_remote_settings *out, char *err,
                              size_t errlen)
{
    switch (k) {
    case FW_S_ENABLED:
        return fw_settings_bool(m, &out->enabled, err, errlen);
    case FW_S_CPU:
        return fw_settings_bool(m, &out->cpu, err, errlen);
    case FW_S_WALL:
        return fw_settings_bool(m, &out->wall, err, errlen);
    case FW_S_MEMORY:
        return fw_settings_bool(m, &out->memory, err, errlen);
    default:
        break;
    }
    if (m->type != FW_JV_NUMBER || !m->is_int) {
        snprintf(err, errlen, "%s is not an integer", m->key);
        return -1;
    }
    int64_t v = m->i;
    bool ok = (k == FW_S_INTERVAL && v >= 1 && v <= 1000) ||
              (k == FW_S_THRESHOLD && v >= 1 && v <= 1048576) || (k == FW_S_UPDATED && v >= 0);
    if (!ok) {
        snprintf(err, errlen, "%s out of range: %" PRId64, m->key, v);
        return -1;
    }
    if (k == FW_S_INTERVAL)
        out->cpu_interval_ms = (int)v;
    else if (k == FW_S_THRESHOLD)
        out->memory_threshold_kb = (int)v;
    else
        out->updated_at = v;
    return 0;
}

int fw_settings_parse(const char *json, size_t len, fw_remote_settings *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    err[0] = '\0';
    fw_jobject o;
    if (fw_jobject_parse(json, len, &o, err, errlen) != 0)
        return -1;
    int rc = 0;
    for (int k = 0; k < FW_S_COUNT && rc == 0; k++) {
        const fw_jmember *m = fw_jobject_get(&o, fw_settings_names[k]);
        if (!m) {
            snprintf(err, errlen, "members missing (enabled, cpu, cpu_interval_ms, wall, memory, "
                                  "memory_threshold_kb and updated_at are required)");
            rc = -1;
        } else {
            rc = fw_settings_member(m, k, out, err, errlen);
        }
    }
    fw_jobject_free(&o);
    return rc;
}
