/*
 * fw_jobject.c: a recursive-descent reader of flat JSON objects.
 *
 * Request bodies and settings answers are tiny flat objects, so a reader of ~250 lines is safer
 * than a dependency (and the agent may load none): it enforces a nesting limit, decodes
 * \uXXXX escapes (with surrogate pairs) into UTF-8 and rejects raw control characters and
 * invalid UTF-8. Errors are one line, "invalid JSON: ...", for the 400 or the agent's warning.
 */
#include "fw_jobject.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fw_utf8.h"


typedef struct {
    const char *p, *end;
    char *err;
    size_t errlen;
} fw_jr;

static void fw_jr_ws(fw_jr *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static int fw_jr_fail(fw_jr *r, const char *msg)
{
    snprintf(r->err, r->errlen, "invalid JSON: %s", msg);
    return -1;
}

static int fw_hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)p[i], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return -1;
        v = v * 16 + (unsigned)d;
    }
    *out = v;
    return 0;
}

static size_t fw_utf8_put(char *o, unsigned cp)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F)); return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static int fw_jr_escape(fw_jr *r, char *o, size_t *n)
{
    char c = *r->p++;
    const char *map = "\"\"\\\\//b\bf\fn\nr\rt\t";
    for (const char *m = map; *m; m += 2)
        if (*m == c) {
            o[(*n)++] = m[1];
            return 0;
        }
    if (c != 'u' || r->end - r->p < 4)
        return fw_jr_fail(r, "bad escape in string");
    unsigned cp;
    if (fw_hex4(r->p, &cp))
        return fw_jr_fail(r, "bad \\u escape");
    r->p += 4;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        unsigned lo;
        if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' || fw_hex4(r->p + 2, &lo) ||
            lo < 0xDC00 || lo > 0xDFFF)
            return fw_jr_fail(r, "unpaired surrogate");
        r->p += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        return fw_jr_fail(r, "unpaired surrogate");
    }
    *n += fw_utf8_put(o + *n, cp);
    return 0;
}

static int fw_jr_string(fw_jr *r, char **out)
{
    r->p++; /* opening quote */
    const char *start = r->p;
    char *o = malloc((size_t)(r->end - start) + 1);
    if (!o)
        return fw_jr_fail(r, "out of memory");
    size_t n = 0;
    while (r->p < r->end && *r->p != '"') {
        unsigned char c = (unsigned char)*r->p;
        if (c < 0x20) {
            free(o);
            return fw_jr_fail(r, "control character in string");
        }
        if (c == '\\') {
            r->p++;
            if (r->p >= r->end || fw_jr_escape(r, o, &n) != 0) {
                free(o);
                return r->p >= r->end ? fw_jr_fail(r, "truncated string") : -1;
            }
            continue;
        }
        o[n++] = (char)c;
        r->p++;
    }
    if (r->p >= r->end) {
        free(o);
        return fw_jr_fail(r, "unterminated string");
    }
    r->p++;
    o[n] = '\0';
    if (fw_utf8_valid_prefix(o, n) != n || memchr(o, '\0', n)) {
        free(o);
        return fw_jr_fail(r, "string is not valid UTF-8");
    }
    *out = o;
    return 0;
}

static int fw_jr_skip_value(fw_jr *r, int depth);

static int fw_jr_skip_container(fw_jr *r, int depth, char close)
{
    r->p++;
    fw_jr_ws(r);
    if (r->p < r->end && *r->p == close) {
        r->p++;
        return 0;
    }
    for (;;) {
        if (close == '}') {
            char *k = NULL;
            fw_jr_ws(r);
            if (r->p >= r->end || *r->p != '"' || fw_jr_string(r, &k) != 0)
                return fw_jr_fail(r, "expected a key");
            free(k);
            fw_jr_ws(r);
            if (r->p >= r->end || *r->p++ != ':')
                return fw_jr_fail(r, "expected ':'");
        }
        if (fw_jr_skip_value(r, depth + 1) != 0)
            return -1;
        fw_jr_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == close) {
            r->p++;
            return 0;
        }
        return fw_jr_fail(r, "expected ',' or a closing bracket");
    }
}

static int fw_jr_scalar(fw_jr *r, fw_jmember *m)
{
    fw_jr_ws(r);
    if (r->p >= r->end)
        return fw_jr_fail(r, "truncated");
    char c = *r->p;
    if (c == '"') {
        m->type = FW_JV_STRING;
        return fw_jr_string(r, &m->str);
    }
    static const struct { const char *lit; fw_jv_type t; int b; } lits[] = {
        {"true", FW_JV_BOOL, 1}, {"false", FW_JV_BOOL, 0}, {"null", FW_JV_NULL, 0},
    };
    for (size_t i = 0; i < 3; i++) {
        size_t l = strlen(lits[i].lit);
        if ((size_t)(r->end - r->p) >= l && memcmp(r->p, lits[i].lit, l) == 0) {
            r->p += l;
            m->type = lits[i].t;
            m->b = lits[i].b;
            return 0;
        }
    }
    if (c == '-' || isdigit((unsigned char)c)) {
        char tmp[64];
        size_t n = 0;
        while (r->p < r->end && n < sizeof tmp - 1 && strchr("+-0123456789.eE", *r->p))
            tmp[n++] = *r->p++;
        tmp[n] = '\0';
        char *end = NULL;
        errno = 0;
        double d = strtod(tmp, &end);
        if (*end || errno || !isfinite(d))
            return fw_jr_fail(r, "bad number");
        m->type = FW_JV_NUMBER;
        m->num = d;
        m->is_int = !strpbrk(tmp, ".eE") && fabs(d) < 9e15;
        m->i = (int64_t)d;
        return 0;
    }
    if (c == '{' || c == '[') {
        m->type = FW_JV_OTHER;
        return fw_jr_skip_container(r, 1, c == '{' ? '}' : ']');
    }
    return fw_jr_fail(r, "unexpected character");
}

static int fw_jr_skip_value(fw_jr *r, int depth)
{
    if (depth > 32)
        return fw_jr_fail(r, "nested too deeply");
    fw_jr_ws(r);
    if (r->p < r->end && (*r->p == '{' || *r->p == '['))
        return fw_jr_skip_container(r, depth, *r->p == '{' ? '}' : ']');
    fw_jmember tmp = {0};
    int rc = fw_jr_scalar(r, &tmp);
    free(tmp.str);
    return rc;
}

int fw_jobject_parse(const char *text, size_t len, fw_jobject *out, char *err, size_t errlen)
{
    fw_jr r = {text, text + len, err, errlen};
    memset(out, 0, sizeof *out);
    fw_jr_ws(&r);
    if (r.p >= r.end || *r.p != '{')
        return fw_jr_fail(&r, "expected an object");
    r.p++;
    fw_jr_ws(&r);
    int rc = 0;
    if (r.p < r.end && *r.p == '}') {
        r.p++;
    } else {
        for (;;) {
            fw_jr_ws(&r);
            if (out->n >= 64) {
                rc = fw_jr_fail(&r, "too many members");
                break;
            }
            fw_jmember m = {0};
            if (r.p >= r.end || *r.p != '"' || fw_jr_string(&r, &m.key) != 0) {
                rc = fw_jr_fail(&r, "expected a key");
                break;
            }
            fw_jr_ws(&r);
            if (r.p >= r.end || *r.p++ != ':') {
                free(m.key);
                rc = fw_jr_fail(&r, "expected ':'");
                break;
            }
            if (fw_jr_scalar(&r, &m) != 0) {
                free(m.key);
                free(m.str);
                rc = -1;
                break;
            }
            fw_jmember *grown = realloc(out->m, (out->n + 1) * sizeof *grown);
            if (!grown) {
                free(m.key);
                free(m.str);
                rc = fw_jr_fail(&r, "out of memory");
                break;
            }
            out->m = grown;
            out->m[out->n++] = m;
            fw_jr_ws(&r);
            if (r.p < r.end && *r.p == ',') {
                r.p++;
                continue;
            }
            if (r.p < r.end && *r.p == '}') {
                r.p++;
                break;
            }
            rc = fw_jr_fail(&r, "expected ',' or '}'");
            break;
        }
    }
    if (rc == 0) {
        fw_jr_ws(&r);
        if (r.p != r.end)
            rc = fw_jr_fail(&r, "trailing characters after the object");
    }
    if (rc != 0)
        fw_jobject_free(out);
    return rc;
}

void fw_jobject_free(fw_jobject *o)
{
    for (size_t i = 0; i < o->n; i++) {
        free(o->m[i].key);
        free(o->m[i].str);
    }
    free(o->m);
    memset(o, 0, sizeof *o);
}

const fw_jmember *fw_jobject_get(const fw_jobject *o, const char *key)
{
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->m[i].key, key) == 0)
            return &o->m[i];
    return NULL;
}
