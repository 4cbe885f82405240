/*
 * fw_jobject: the one JSON reader of flamewatch, for flat objects: the request bodies of
 * /api/v1/sql and the settings PUT (server), and the settings answer the agent polls.
 * Member values are scalars; nested values are skipped (up to 32 levels) and reported as
 * FW_JV_OTHER. Strings are decoded (\uXXXX escapes, surrogate pairs) into UTF-8; raw control
 * characters, invalid UTF-8, a NUL in a string and more than 64 members are refused.
 * A leaf for the agent too: it uses libc and fw_utf8 only.
 */
#ifndef FW_JOBJECT_H
#define FW_JOBJECT_H

#include <stddef.h>
#include <stdint.h>

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
