/*
 * fw_json: a small streaming JSON writer shared by the server and the CLI.
 *
 * Callers emit values in document order (begin object, key, value, ..., end object); the
 * writer keeps a stack of "is this the first member?" flags so commas are always right and
 * the caller never formats punctuation by hand. Strings are escaped per RFC 8259: quotes,
 * backslash and every control character below 0x20 are escaped, valid UTF-8 passes through
 * unchanged, and invalid UTF-8 bytes become U+FFFD so the output is always valid JSON.
 * Memory errors are sticky: after the first failed allocation every call is a no-op and
 * fw_json_finish() reports the failure once, so callers check one return value.
 */
#ifndef FW_JSON_H
#define FW_JSON_H

#include <stddef.h>
#include <stdint.h>

#define FW_JSON_MAX_DEPTH 64

typedef struct {
    char *data;
    size_t len;
    size_t cap;
    int failed;                         /* sticky allocation failure */
    int depth;
    unsigned char first[FW_JSON_MAX_DEPTH]; /* 1 until the container has a member */
    int after_key;                      /* the next value follows "key": */
} fw_json;

void fw_json_init(fw_json *j);
void fw_json_free(fw_json *j);
/* 0 on success, -1 if any allocation failed or containers are unbalanced. */
int fw_json_finish(fw_json *j);

void fw_json_obj_begin(fw_json *j);
void fw_json_obj_end(fw_json *j);
void fw_json_arr_begin(fw_json *j);
void fw_json_arr_end(fw_json *j);
void fw_json_key(fw_json *j, const char *key);
void fw_json_str(fw_json *j, const char *s);
void fw_json_strn(fw_json *j, const char *s, size_t len);
void fw_json_int(fw_json *j, int64_t v);
void fw_json_uint(fw_json *j, uint64_t v);
void fw_json_double(fw_json *j, double v);   /* non-finite values are written as null */
void fw_json_bool(fw_json *j, int v);
void fw_json_null(fw_json *j);
/* Inserts already-valid JSON text as one value. */
void fw_json_raw(fw_json *j, const char *text, size_t len);

/* Convenience: "key": value members. */
void fw_json_kv_str(fw_json *j, const char *key, const char *v);
void fw_json_kv_int(fw_json *j, const char *key, int64_t v);
void fw_json_kv_double(fw_json *j, const char *key, double v);
void fw_json_kv_bool(fw_json *j, const char *key, int v);

#endif
