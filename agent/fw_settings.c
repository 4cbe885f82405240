/*
 * fw_settings: the reader of the settings the server answers (GET /api/v1/apps/{app}/settings).
 *
 * The answer is one flat JSON object. The agent must not depend on a JSON library nor take the
 * GIL to use Python's, so this is a minimal reader: it walks the object, keeps the seven
 * members it knows (each type- and range-checked), skips any other member whatever its value
 * (nested up to 16 levels), and refuses anything malformed or incomplete with a reason, so that
 * the uploader can say why it ignores an answer. Strings are kept raw (escapes are not decoded):
 * keys are compared with plain ASCII names, so that is all it needs.
 */
#include "fw_settings.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *p, *end;
} fw_js;

static void fw_js_ws(fw_js *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static bool fw_js_lit(fw_js *j, const char *lit)
{
    size_t n = strlen(lit);
    fw_js_ws(j);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
        return false;
    j->p += n;
    return true;
}

/* A string; its raw bytes (escapes left as they are) go to buf when given. */
static bool fw_js_string(fw_js *j, char *buf, size_t cap)
{
    fw_js_ws(j);
    if (j->p >= j->end || *j->p != '"')
        return false;
    const char *s = ++j->p;
    while (j->p < j->end && *j->p != '"')
        j->p += (*j->p == '\\' && j->p + 1 < j->end) ? 2 : 1;
    if (j->p >= j->end)
        return false;
    size_t n = (size_t)(j->p - s);
    if (buf)
        snprintf(buf, cap, "%.*s", n < cap ? (int)n : (int)cap - 1, s);
    j->p++;
    return true;
}

static bool fw_js_int(fw_js *j, int64_t *out)
{
    fw_js_ws(j);
    bool neg = j->p < j->end && *j->p == '-';
    j->p += neg;
    int64_t v = 0;
    const char *start = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9' && j->p - start < 18)
        v = v * 10 + (*j->p++ - '0');
    if (j->p == start ||
        (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E' ||
                           (*j->p >= '0' && *j->p <= '9'))))
        return false;
    *out = neg ? -v : v;
    return true;
}

static bool fw_js_skip(fw_js *j, int depth);

static bool fw_js_skip_container(fw_js *j, char open, int depth)
{
    const char *close = open == '{' ? "}" : "]";
    j->p++;
    if (fw_js_lit(j, close))
        return true;
    for (;;) {
        if (open == '{' && (!fw_js_string(j, NULL, 0) || !fw_js_lit(j, ":")))
            return false;
        if (!fw_js_skip(j, depth + 1))
            return false;
        if (fw_js_lit(j, ","))
            continue;
        return fw_js_lit(j, close);
    }
}

static bool fw_js_skip(fw_js *j, int depth)
{
    fw_js_ws(j);
    if (j->p >= j->end || depth > 16)
        return false;
    char ch = *j->p;
    if (ch == '"')
        return fw_js_string(j, NULL, 0);
    if (ch == '{' || ch == '[')
        return fw_js_skip_container(j, ch, depth);
    if (fw_js_lit(j, "true") || fw_js_lit(j, "false") || fw_js_lit(j, "null"))
        return true;
    const char *start = j->p;
    while (j->p < j->end && strchr("+-0123456789.eE", *j->p))
        j->p++;
    return j->p > start;
}

enum { FW_S_ENABLED, FW_S_CPU, FW_S_INTERVAL, FW_S_WALL, FW_S_MEMORY, FW_S_THRESHOLD, FW_S_UPDATED,
       FW_S_COUNT };

static int fw_settings_bool(fw_js *j, const char *key, bool *out, char *err, size_t errlen)
{
    if (fw_js_lit(j, "true"))
        *out = true;
    else if (fw_js_lit(j, "false"))
        *out = false;
    else {
        snprintf(err, errlen, "%s is not a boolean", key);
        return -1;
    }
    return 0;
}

static int fw_settings_member(fw_js *j, const char *key, fw_remote_settings *out, unsigned *seen,
                              char *err, size_t errlen)
{
    static const char *const names[FW_S_COUNT] = {"enabled", "cpu", "cpu_interval_ms", "wall",
                                                  "memory", "memory_threshold_kb", "updated_at"};
    int k = -1;
    for (int i = 0; i < FW_S_COUNT; i++)
        if (strcmp(key, names[i]) == 0)
            k = i;
    if (k < 0)
        return fw_js_skip(j, 0) ? 0 : -1;
    *seen |= 1u << k;
    switch (k) {
    case FW_S_ENABLED:
        return fw_settings_bool(j, key, &out->enabled, err, errlen);
    case FW_S_CPU:
        return fw_settings_bool(j, key, &out->cpu, err, errlen);
    case FW_S_WALL:
        return fw_settings_bool(j, key, &out->wall, err, errlen);
    case FW_S_MEMORY:
        return fw_settings_bool(j, key, &out->memory, err, errlen);
    default:
        break;
    }
    int64_t v;
    if (!fw_js_int(j, &v)) {
        snprintf(err, errlen, "%s is not an integer", key);
        return -1;
    }
    bool ok = (k == FW_S_INTERVAL && v >= 1 && v <= 1000) ||
              (k == FW_S_THRESHOLD && v >= 1 && v <= 1048576) || (k == FW_S_UPDATED && v >= 0);
    if (!ok) {
        snprintf(err, errlen, "%s out of range: %" PRId64, key, v);
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
    fw_js j = {json, json + len};
    unsigned seen = 0;
    char key[64];
    memset(out, 0, sizeof *out);
    err[0] = '\0';
    if (!fw_js_lit(&j, "{")) {
        snprintf(err, errlen, "not a JSON object");
        return -1;
    }
    if (!fw_js_lit(&j, "}")) {
        for (;;) {
            if (!fw_js_string(&j, key, sizeof key) || !fw_js_lit(&j, ":") ||
                fw_settings_member(&j, key, out, &seen, err, errlen) != 0) {
                if (!err[0])
                    snprintf(err, errlen, "malformed JSON");
                return -1;
            }
            if (fw_js_lit(&j, ","))
                continue;
            if (fw_js_lit(&j, "}"))
                break;
            snprintf(err, errlen, "malformed JSON");
            return -1;
        }
    }
    if (seen != (1u << FW_S_COUNT) - 1) {
        snprintf(err, errlen, "members missing (enabled, cpu, cpu_interval_ms, wall, memory, "
                              "memory_threshold_kb and updated_at are required)");
        return -1;
    }
    return 0;
}
