/*
 * fw_util: small parsers the server shares with the query CLI: time expressions and durations.
 * (The JSON reader for request bodies is common/fw_jobject.)
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

#endif
