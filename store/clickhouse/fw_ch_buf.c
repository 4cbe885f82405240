/*
 * fw_ch_buf.c: bytes to and from ClickHouse: a growable buffer, the RowBinary encoder, the
 * TabSeparated reader, string literal quoting and the persisted content hash.
 *
 * Everything here is pure (no I/O, no locks), so tests/unit/test_clickhouse.c checks it without a
 * server. The buffer's out-of-memory state is sticky: an encoder appends a whole batch of rows and
 * checks once at the end, as sqlite3_str does. The TSV reader unescapes fields in place, so a
 * response costs one allocation, its body.
 */
#include "fw_ch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fw_ch_buf_free(fw_ch_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

void fw_ch_buf_reset(fw_ch_buf *b)
{
    b->n = 0;
    b->oom = 0;
}

static int fw_ch_grow(fw_ch_buf *b, size_t extra)
{
    if (b->oom)
        return -1;
    if (b->n + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra + 1) {
        if (cap > SIZE_MAX / 2) {
            b->oom = 1;
            return -1;
        }
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void fw_ch_put(fw_ch_buf *b, const void *p, size_t n)
{
    if (n == 0 || fw_ch_grow(b, n) != 0)
        return;
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

void fw_ch_puts(fw_ch_buf *b, const char *s)
{
    fw_ch_put(b, s, strlen(s));
}

void fw_ch_printf(fw_ch_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized): va_start is above */
    va_end(ap);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    if ((size_t)n < sizeof tmp) {
        fw_ch_put(b, tmp, (size_t)n);
        return;
    }
    if (fw_ch_grow(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized): va_start is above */
    va_end(ap);
    b->n += (size_t)n;
}

void fw_ch_quote(fw_ch_buf *b, const char *s)
{
    fw_ch_put(b, "'", 1);
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '\'' || c == '\\') {
            char e[2] = {'\\', (char)c};
            fw_ch_put(b, e, 2);
        } else if (c == '\n') {
            fw_ch_put(b, "\\n", 2);
        } else if (c == '\t') {
            fw_ch_put(b, "\\t", 2);
        } else if (c == '\r') {
            fw_ch_put(b, "\\r", 2);
        } else if (c < 0x20) {
            char e[5];
            snprintf(e, sizeof e, "\\x%02x", c);
            fw_ch_put(b, e, 4);
        } else {
            fw_ch_put(b, p, 1);
        }
    }
    fw_ch_put(b, "'", 1);
}

int fw_ch_buf_nul(fw_ch_buf *b)
{
    if (fw_ch_grow(b, 0) != 0)
        return -1;
    b->p[b->n] = '\0';
    return 0;
}

char *fw_ch_buf_take(fw_ch_buf *b)
{
    if (fw_ch_grow(b, 0) != 0) {
        fw_ch_buf_free(b);
        return NULL;
    }
    b->p[b->n] = '\0';
    char *r = b->p;
    memset(b, 0, sizeof *b);
    return r;
}

/* ---------------------------------------------------------------- RowBinary */

static void fw_ch_rb_le(fw_ch_buf *b, uint64_t v, int bytes)
{
    unsigned char x[8];
    for (int i = 0; i < bytes; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    fw_ch_put(b, x, (size_t)bytes);
}

void fw_ch_rb_u8(fw_ch_buf *b, uint8_t v) { fw_ch_rb_le(b, v, 1); }
void fw_ch_rb_i32(fw_ch_buf *b, int32_t v) { fw_ch_rb_le(b, (uint32_t)v, 4); }
void fw_ch_rb_u64(fw_ch_buf *b, uint64_t v) { fw_ch_rb_le(b, v, 8); }
void fw_ch_rb_i64(fw_ch_buf *b, int64_t v) { fw_ch_rb_le(b, (uint64_t)v, 8); }

void fw_ch_rb_varuint(fw_ch_buf *b, uint64_t v)
{
    unsigned char x[10];
    size_t n = 0;
    do {
        unsigned char c = v & 0x7f;
        v >>= 7;
        x[n++] = (unsigned char)(c | (v ? 0x80 : 0));
    } while (v);
    fw_ch_put(b, x, n);
}

void fw_ch_rb_str(fw_ch_buf *b, const char *s, size_t n)
{
    fw_ch_rb_varuint(b, n);
    fw_ch_put(b, s, n);
}

/* ---------------------------------------------------------------- TSV */

/* Unescapes one field in place (ClickHouse's TabSeparated escaping); returns its new length. */
static size_t fw_ch_tsv_unescape(char *f, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = f[i];
        if (c == '\\' && i + 1 < n) {
            char e = f[++i];
            switch (e) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case '0': c = '\0'; break;
            case 'a': c = '\a'; break;
            case 'v': c = '\v'; break;
            default: c = e; break;   /* \\ \' \" and anything else stand for themselves */
            }
        }
        f[o++] = c;
    }
    f[o] = '\0';
    return o;
}

int fw_ch_tsv_row(fw_ch_tsv *t, char **fields, size_t *lens, int max)
{
    if (!t->p || t->p >= t->end)
        return 0;
    char *nl = memchr(t->p, '\n', (size_t)(t->end - t->p));
    char *eol = nl ? nl : t->end;
    int nf = 0;
    char *f = t->p;
    for (;;) {
        char *tab = memchr(f, '\t', (size_t)(eol - f));
        char *fe = tab ? tab : eol;
        if (nf >= max)
            return -1;
        size_t n = fw_ch_tsv_unescape(f, (size_t)(fe - f));   /* writes a NUL at most at fe */
        fields[nf] = f;
        if (lens)
            lens[nf] = n;
        nf++;
        if (!tab)
            break;
        f = tab + 1;
    }
    t->p = nl ? nl + 1 : t->end;
    return nf;
}

int fw_ch_parse_i64(const char *s, int64_t *out)
{
    char *e;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    if (e == s || *e || errno)
        return -1;
    *out = v;
    return 0;
}

int fw_ch_parse_u64(const char *s, uint64_t *out)
{
    char *e;
    errno = 0;
    if (*s == '-')
        return -1;
    unsigned long long v = strtoull(s, &e, 10);
    if (e == s || *e || errno)
        return -1;
    *out = v;
    return 0;
}

int fw_ch_parse_array(const char *s, int is_signed, int64_t *out, size_t max, size_t *n)
{
    *n = 0;
    if (*s++ != '[')
        return -1;
    if (*s == ']')
        return s[1] ? -1 : 0;
    for (;;) {
        char *e;
        errno = 0;
        int64_t v;
        if (is_signed) {
            v = strtoll(s, &e, 10);
        } else {
            if (*s == '-')
                return -1;
            v = (int64_t)strtoull(s, &e, 10);
        }
        if (e == s || errno || *n >= max)
            return -1;
        out[(*n)++] = v;
        if (*e == ']')
            return e[1] ? -1 : 0;
        if (*e != ',')
            return -1;
        s = e + 1;
    }
}

/* ---------------------------------------------------------------- hash */

uint64_t fw_ch_hash(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h ? h : 1;
}

/* ---------------------------------------------------------------- id sets */

int fw_ch_idset_has(const fw_ch_idset *s, uint64_t id)
{
    if (!s->cap)
        return 0;
    size_t mask = s->cap - 1;
    for (size_t i = (size_t)(id * 0x9e3779b97f4a7c15ull) & mask;; i = (i + 1) & mask) {
        if (s->v[i] == id)
            return 1;
        if (!s->v[i])
            return 0;
    }
}

int fw_ch_idset_add(fw_ch_idset *s, uint64_t id)
{
    if (!id || fw_ch_idset_has(s, id))
        return 0;
    if ((s->n + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        uint64_t *v = calloc(cap, sizeof *v);
        if (!v)
            return -1;
        for (size_t j = 0; j < s->cap; j++) {
            if (!s->v[j])
                continue;
            size_t i = (size_t)(s->v[j] * 0x9e3779b97f4a7c15ull) & (cap - 1);
            while (v[i])
                i = (i + 1) & (cap - 1);
            v[i] = s->v[j];
        }
        free(s->v);
        s->v = v;
        s->cap = cap;
    }
    size_t mask = s->cap - 1, i = (size_t)(id * 0x9e3779b97f4a7c15ull) & mask;
    while (s->v[i])
        i = (i + 1) & mask;
    s->v[i] = id;
    s->n++;
    return 0;
}

void fw_ch_idset_free(fw_ch_idset *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}
