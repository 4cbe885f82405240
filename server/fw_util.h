/*
 * fw_util: small parsers the server shares with the query CLI: time expressions, durations,
 * and a reader for flat JSON objects (request bodies of /api/v1/sql and settings PUT).
 */
#ifndef FW_UTIL_H
#define FW_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Unix seconds (ms when >= 1e12), RFC 3339 (`2024-05-01T12:00:00Z`, `...+02:00`, fractions
 * ignored), `now`, `now-15m` / `now+1h` (units s m h d w). Returns 0 or -1. */
int fw_time_parse(const char *s, int64_t now, int64_t *out);

/* `90`, `45s`, `15m`, `12h`, `7d`, `2w` -> seconds (> 0). Returns 0 or -1. */
int fw_duration_parse(const char *s, int64_t *out);

typedef enum {
    FW_JV_NULL, FW_JV_BOOL, FW_JV_NUMBER, FW_JV_STRING, FW_JV_OTHER,
} fw_jv_type;

typedef struct {
    char *key;
    fw_jv_type type;
    int b;
    double num;
    int is_int;
    int64_t i;
    char *str;       /* decoded string value */
} fw_jmember;

typedef struct {
    fw_jmember *m;
    size_t n;
} fw_jobject;

/* Parses a JSON object whose member values are scalars (nested values are accepted and
 * reported as FW_JV_OTHER). Returns 0, or -1 with a message. */
int fw_jobject_parse(const char *text, size_t len, fw_jobject *out, char *err, size_t errlen);
void fw_jobject_free(fw_jobject *o);
const fw_jmember *fw_jobject_get(const fw_jobject *o, const char *key);

#endif
