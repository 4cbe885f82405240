/*
 * fw_json: streaming JSON writer.
 *
 * Design: one growable buffer and a depth-indexed array of "first member" flags. Every value
 * writer first calls fw_json_sep(), which emits the comma that belongs before it (unless the
 * value directly follows a key), so the structure of the output mirrors the structure of the
 * calls and there is no way to forget a comma. We never build an intermediate tree: the
 * server's responses (flame graphs with thousands of nodes) are written straight into the
 * buffer that is handed to the HTTP layer.
 *
 * Escaping: JSON requires escaping '"', '\\' and U+0000..U+001F. We also escape DEL for
 * readability in terminals. Multi-byte UTF-8 is validated (no overlongs, no surrogates, no
 * code points above U+10FFFF); a byte that does not start a valid sequence is replaced by
 * U+FFFD rather than copied, because a single stray byte would make the whole document
 * unparseable for strict clients.
 */
#include "fw_json.h"
#include "fw_utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fw_json_init(fw_json *j)
{
    memset(j, 0, sizeof *j);
    j->first[0] = 1;
}

void fw_json_free(fw_json *j)
{
    free(j->data);
    memset(j, 0, sizeof *j);
}

static void fw_json_put(fw_json *j, const char *s, size_t n)
{
    if (j->failed)
        return;
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : 256;
        while (cap < j->len + n + 1) {
            if (cap > SIZE_MAX / 2) {
                j->failed = 1;
                return;
            }
            cap *= 2;
        }
        char *d = realloc(j->data, cap);
        if (!d) {
            j->failed = 1;
            return;
        }
        j->data = d;
        j->cap = cap;
    }
    memcpy(j->data + j->len, s, n);
    j->len += n;
    j->data[j->len] = '\0';
}

static void fw_json_putc(fw_json *j, char c)
{
    fw_json_put(j, &c, 1);
}

/* Emits the comma that separates this value from its predecessor, if any. */
static void fw_json_sep(fw_json *j)
{
    if (j->after_key) {
        j->after_key = 0;
        return;
    }
    if (!j->first[j->depth])
        fw_json_putc(j, ',');
    j->first[j->depth] = 0;
}

int fw_json_finish(fw_json *j)
{
    if (j->failed || j->depth != 0)
        return -1;
    if (!j->data)
        fw_json_put(j, "", 0);
    return j->failed ? -1 : 0;
}

static void fw_json_open(fw_json *j, char c)
{
    fw_json_sep(j);
    fw_json_putc(j, c);
    if (j->depth + 1 >= FW_JSON_MAX_DEPTH) {
        j->failed = 1;
        return;
    }
    j->depth++;
    j->first[j->depth] = 1;
}

static void fw_json_close(fw_json *j, char c)
{
    if (j->depth <= 0) {
        j->failed = 1;
        return;
    }
    j->depth--;
    fw_json_putc(j, c);
}

void fw_json_obj_begin(fw_json *j) { fw_json_open(j, '{'); }
void fw_json_obj_end(fw_json *j) { fw_json_close(j, '}'); }
void fw_json_arr_begin(fw_json *j) { fw_json_open(j, '['); }
void fw_json_arr_end(fw_json *j) { fw_json_close(j, ']'); }

static void fw_json_escaped(fw_json *j, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0; /* start of the pending run of bytes copied verbatim */
    size_t i = 0;
    fw_json_putc(j, '"');
    while (i < len) {
        unsigned c = u[i];
        const char *esc = NULL;
        char tmp[8];
        size_t n = 1;
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c < 0x20 || c == 0x7F) {
            snprintf(tmp, sizeof tmp, "\\u%04x", c);
            esc = tmp;
        } else if (c >= 0x80) {
            n = fw_utf8_seq(u + i, len - i);
            if (!n) {
                esc = "\xEF\xBF\xBD"; /* U+FFFD for a byte that is not valid UTF-8 */
                n = 1;
            }
        }
        if (esc) {
            fw_json_put(j, s + run, i - run);
            fw_json_put(j, esc, strlen(esc));
            run = i + n;
        }
        i += n;
    }
    fw_json_put(j, s + run, len - run);
    fw_json_putc(j, '"');
}

void fw_json_key(fw_json *j, const char *key)
{
    fw_json_sep(j);
    fw_json_escaped(j, key, strlen(key));
    fw_json_putc(j, ':');
    j->after_key = 1;
}

void fw_json_strn(fw_json *j, const char *s, size_t len)
{
    fw_json_sep(j);
    fw_json_escaped(j, s ? s : "", s ? len : 0);
}

void fw_json_str(fw_json *j, const char *s)
{
    fw_json_strn(j, s, s ? strlen(s) : 0);
}

void fw_json_int(fw_json *j, int64_t v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    fw_json_sep(j);
    fw_json_put(j, tmp, (size_t)n);
}

void fw_json_uint(fw_json *j, uint64_t v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    fw_json_sep(j);
    fw_json_put(j, tmp, (size_t)n);
}

void fw_json_double(fw_json *j, double v)
{
    if (!isfinite(v)) {
        fw_json_null(j);
        return;
    }
    char tmp[40];
    int n = snprintf(tmp, sizeof tmp, "%.17g", v);
    fw_json_sep(j);
    fw_json_put(j, tmp, (size_t)n);
}

void fw_json_bool(fw_json *j, int v)
{
    fw_json_sep(j);
    fw_json_put(j, v ? "true" : "false", v ? 4 : 5);
}

void fw_json_null(fw_json *j)
{
    fw_json_sep(j);
    fw_json_put(j, "null", 4);
}

void fw_json_raw(fw_json *j, const char *text, size_t len)
{
    fw_json_sep(j);
    fw_json_put(j, text, len);
}

void fw_json_kv_str(fw_json *j, const char *key, const char *v)
{
    fw_json_key(j, key);
    fw_json_str(j, v);
}

void fw_json_kv_int(fw_json *j, const char *key, int64_t v)
{
    fw_json_key(j, key);
    fw_json_int(j, v);
}

void fw_json_kv_double(fw_json *j, const char *key, double v)
{
    fw_json_key(j, key);
    fw_json_double(j, v);
}

void fw_json_kv_bool(fw_json *j, const char *key, int v)
{
    fw_json_key(j, key);
    fw_json_bool(j, v);
}
