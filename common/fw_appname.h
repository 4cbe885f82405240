/*
 * fw_appname: the one rule for application names, shared by the server (ingest, the settings
 * endpoint), `flamewatch run` and the agent (flamewatch.start() checks the same rule in
 * python/flamewatch/_config.py; tests/hostile/test_http_layer.py keeps the two in step).
 *
 * An application name is 1 to 128 bytes of UTF-8 with no control characters and none of
 * '/', '{', '}', ',' or '=', does not start or end with a space, and is not "." or "..".
 *   - '{', '}', ',' and '=' are the syntax of the ingest name (APP{k=v,...});
 *   - '/' is refused rather than escaped because the name is one segment of the settings
 *     path (/api/v1/apps/APP/settings): an escaped slash (%2F) is decoded, rejected or
 *     normalized differently by reverse proxies, so an agent behind one would never get its
 *     settings; "." and ".." are refused for the same reason (clients drop dot segments);
 *   - leading and trailing spaces are trimmed by the ingest name syntax, so "a " and "a"
 *     would be one application at ingest and two in the settings path;
 *   - bytes, not characters: the store, the agent's buffers and the file names the agent
 *     writes (APP-PID-SEQ.pprof.gz, NAME_MAX 255) are sized in bytes.
 */
#ifndef FW_APPNAME_H
#define FW_APPNAME_H

#include <stddef.h>

#define FW_APP_NAME_MAX 128 /* bytes */

/* The rule in words, as every front end prints it after "expected". */
#define FW_APP_NAME_RULE                                                                   \
    "1 to 128 bytes of UTF-8 without control characters, '/', '{', '}', ',' or '=', "     \
    "not starting or ending with a space, and not '.' or '..'"

/* NULL if s[0..len) is a valid application name, else what is wrong with it ("contains '/'",
 * "is longer than 128 bytes", ...), a static string. `len` is explicit so that an embedded
 * NUL is caught rather than silently ending the name. */
const char *fw_app_name_problem(const char *s, size_t len);

#endif
