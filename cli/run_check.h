/*
 * run_check: the validators of `flamewatch run`'s settings (docs/CONFIGURATION.md) and the
 * limits they enforce. Each returns false and sets *expected to the "(expected ...)" text.
 */
#ifndef FW_RUN_CHECK_H
#define FW_RUN_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "fw_appname.h"
#include "fw_profile.h"

/* The agent keeps at most 32 user tags (FW_TAGS_MAX in agent/fw_base.h); refusing more here
 * gives the user a usage error instead of an agent that fails to start. Together with the six
 * built-in labels this stays under FW_PROFILE_MAX_LABELS labels per sample. */
#define FW_RUN_MAX_TAGS       32
#if FW_RUN_MAX_TAGS + 6 > FW_PROFILE_MAX_LABELS
#error "user tags and built-in labels must fit in one sample"
#endif
#define FW_RUN_MAX_KEY_CHARS  64
#define FW_RUN_MAX_VALUE_CHARS 256
/* Byte sizes: UTF-8 uses at most 4 bytes per character. */
/* The application name is counted in bytes (common/fw_appname.h, one rule everywhere). */
#define FW_RUN_APP_BYTES   (FW_APP_NAME_MAX + 1)
#define FW_RUN_KEY_BYTES   (FW_RUN_MAX_KEY_CHARS + 1)
#define FW_RUN_VALUE_BYTES (FW_RUN_MAX_VALUE_CHARS * 4 + 1)
#define FW_RUN_PATH_BYTES  4096
#define FW_RUN_ERR_BYTES   1024

typedef struct {
    char key[FW_RUN_KEY_BYTES];
    char value[FW_RUN_VALUE_BYTES];
} fw_run_tag;

bool fw_run_check_app(const char *v, const char **expected);
bool fw_run_check_output(const char *v, const char **expected);
bool fw_run_check_cpu_interval(const char *v, int *out, const char **expected);
bool fw_run_check_bool(const char *v, bool *out, const char **expected);
/* KB between allocation samples: an integer from 1 to 1048576. */
bool fw_run_check_memory_threshold(const char *v, int *out, const char **expected);
bool fw_run_check_upload_interval(const char *v, const char **expected);
bool fw_run_check_log(const char *v, char *out, size_t outlen, const char **expected);
/* An http:// or https:// URL with a host, at most 1000 bytes, no spaces. */
bool fw_run_check_server(const char *v, const char **expected);
/* 1-511 printable ASCII characters. */
bool fw_run_check_token(const char *v, const char **expected);
/* A regular file that this process can open for reading (the PEM certificate authorities for
 * https), its path shorter than 3840 bytes. Reads the file system, nothing else. */
bool fw_run_check_ca_file(const char *v, const char **expected);
/* One "K=V" tag. */
bool fw_run_check_tag(const char *v, size_t len, fw_run_tag *out, const char **expected);
/* "k=v,k2=v2" (empty: no tags). */
bool fw_run_check_tags(const char *v, fw_run_tag *out, size_t *ntags, const char **expected);

/* Number of UTF-8 characters in s[0..len), or -1 when it is not valid UTF-8. */
long fw_run_utf8_chars(const char *s, size_t len);

/* Formats the contract's message: "flamewatch: invalid value for WHERE: 'VALUE' (EXPECTED)",
 * with control characters in VALUE escaped so that the message stays on one line. */
void fw_run_invalid(char *err, size_t errlen, const char *where, const char *value,
                    const char *expected);

/* Adds or replaces (same key: the later one wins) a tag in a list; false when it is full. */
bool fw_run_tag_put(fw_run_tag *tags, size_t *ntags, const fw_run_tag *t);
extern const char fw_run_too_many_tags[];   /* the "(expected ...)" text of a full list */

#endif
