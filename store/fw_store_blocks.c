/*
 * fw_store_blocks.c: encoding, parsing and summing packed blocks (fw_store_blocks.h).
 *
 * A block is the stacks of one (series, bucket, label set), as JSON text [[stack,value,count],...]
 * sorted by stack id. JSON because a database's own tools can unpack it (SQLite's json_each in the
 * `samples` and `rollups` views, with no extension loaded); the server itself parses it here, in
 * C, which costs less per stack than stepping one database row. An accumulator sums (stack, value,
 * count) triples by stack id: it merges blocks for queries and for roll-ups.
 *
 * The parser and the encoder are hand-written because they are hot: decoding is most of a long
 * query's CPU, and encoding was a fifth of the writer's time per upload with printf.
 */
#include "fw_store_blocks.h"
#include "fw_store_util.h"

#include <stdlib.h>
#include <string.h>

int fw_blk_row_stack_cmp(const void *a, const void *b)
{
    const fw_blk_row *x = a, *y = b;
    return (x->stack > y->stack) - (x->stack < y->stack);
}


void fw_blk_acc_reset(fw_blk_acc *a)
{
    if (a->cap)
        memset(a->slot, 0, a->cap * sizeof *a->slot);
    a->r.n = 0;
    a->value = a->count = 0;
}

void fw_blk_acc_free(fw_blk_acc *a)
{
    free(a->r.v);
    free(a->slot);
    memset(a, 0, sizeof *a);
}

static size_t fw_blk_stack_slot(uint32_t stack, size_t mask)
{
    uint64_t h = (uint64_t)stack * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 32) & mask;
}

int fw_blk_acc_add(fw_blk_acc *a, uint32_t stack, int64_t v, int64_t c)
{
    if ((a->r.n + 1) * 2 > a->cap) {
        size_t ncap = a->cap ? a->cap * 2 : 4096;
        uint32_t *ns = calloc(ncap, sizeof *ns);
        if (!ns || a->r.n + 1 >= UINT32_MAX) {
            free(ns);
            return FW_BLK_NOMEM;
        }
        for (size_t i = 0; i < a->r.n; i++) {
            size_t j = fw_blk_stack_slot(a->r.v[i].stack, ncap - 1);
            while (ns[j])
                j = (j + 1) & (ncap - 1);
            ns[j] = (uint32_t)i + 1;
        }
        free(a->slot);
        a->slot = ns;
        a->cap = ncap;
    }
    a->value = fw_sat_add(a->value, v);
    a->count = fw_sat_add(a->count, c);
    size_t mask = a->cap - 1, j = fw_blk_stack_slot(stack, mask);
    while (a->slot[j] && a->r.v[a->slot[j] - 1].stack != stack)
        j = (j + 1) & mask;
    if (a->slot[j]) {
        fw_blk_row *r = &a->r.v[a->slot[j] - 1];
        r->value = fw_sat_add(r->value, v);
        r->count = fw_sat_add(r->count, c);
        return 0;
    }
    if (a->r.n == a->r.cap) {
        size_t ncap = a->r.cap ? a->r.cap * 2 : 1024;
        fw_blk_row *nv = realloc(a->r.v, ncap * sizeof *nv);
        if (!nv)
            return FW_BLK_NOMEM;
        a->r.v = nv;
        a->r.cap = ncap;
    }
    a->r.v[a->r.n++] = (fw_blk_row){stack, v, c};
    a->slot[j] = (uint32_t)a->r.n;
    return 0;
}

/* Sorts the rows by stack id (the order blocks are written in). The hash stays valid. */
void fw_blk_acc_sort(fw_blk_acc *a)
{
    if (a->r.n < 2)
        return;
    qsort(a->r.v, a->r.n, sizeof *a->r.v, fw_blk_row_stack_cmp);
    memset(a->slot, 0, a->cap * sizeof *a->slot);
    for (size_t i = 0; i < a->r.n; i++) {
        size_t j = fw_blk_stack_slot(a->r.v[i].stack, a->cap - 1);
        while (a->slot[j])
            j = (j + 1) & (a->cap - 1);
        a->slot[j] = (uint32_t)i + 1;
    }
}

static const char *fw_blk_parse_u63(const char *p, const char *end, int64_t *out)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
        p++;
    if (p == end || *p < '0' || *p > '9')
        return NULL;
    uint64_t v = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        if (v > (uint64_t)INT64_MAX / 10)
            return NULL;
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > (uint64_t)INT64_MAX)
            return NULL;
    }
    *out = (int64_t)v;
    return p;
}

static const char *fw_blk_expect(const char *p, const char *end, char c)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
        p++;
    return p < end && *p == c ? p + 1 : NULL;
}

/* Adds every triple of a block's JSON text. 0, FW_BLK_CORRUPT on text that is not a block, or
 * the accumulator's error. */
int fw_blk_acc_add_json(fw_blk_acc *a, const char *text, size_t len)
{
    if (!text)
        return FW_BLK_CORRUPT;
    const char *p = text, *end = text + len;
    if (!(p = fw_blk_expect(p, end, '[')))
        return FW_BLK_CORRUPT;
    const char *q = fw_blk_expect(p, end, ']');
    if (q)
        return 0;   /* [] : an empty block */
    for (;;) {
        int64_t s, v, c;
        if (!(p = fw_blk_expect(p, end, '[')) || !(p = fw_blk_parse_u63(p, end, &s)) ||
            !(p = fw_blk_expect(p, end, ',')) || !(p = fw_blk_parse_u63(p, end, &v)) ||
            !(p = fw_blk_expect(p, end, ',')) || !(p = fw_blk_parse_u63(p, end, &c)) ||
            !(p = fw_blk_expect(p, end, ']')))
            return FW_BLK_CORRUPT;
        if (s <= 0 || s >= (int64_t)UINT32_MAX)
            return FW_BLK_CORRUPT;
        int rc = fw_blk_acc_add(a, (uint32_t)s, v, c);
        if (rc)
            return rc;
        if ((q = fw_blk_expect(p, end, ',')) != NULL) {
            p = q;
            continue;
        }
        return fw_blk_expect(p, end, ']') ? 0 : FW_BLK_CORRUPT;
    }
}


static int fw_blk_text_reserve(fw_blk_text *b, size_t extra)
{
    if (b->n + extra <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 4096;
    while (ncap < b->n + extra)
        ncap *= 2;
    char *np = realloc(b->p, ncap);
    if (!np)
        return -1;
    b->p = np;
    b->cap = ncap;
    return 0;
}

/* Decimal digits of v, two at a time (encoding was a fifth of the writer's time per upload). */
static char *fw_blk_put_u64(char *o, uint64_t v)
{
    static const char pairs[] =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
        "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";
    char tmp[24];
    int n = 24;
    while (v >= 100) {
        unsigned d = (unsigned)(v % 100) * 2;
        v /= 100;
        tmp[--n] = pairs[d + 1];
        tmp[--n] = pairs[d];
    }
    if (v >= 10) {
        tmp[--n] = pairs[v * 2 + 1];
        tmp[--n] = pairs[v * 2];
    } else {
        tmp[--n] = (char)('0' + v);
    }
    memcpy(o, tmp + n, (size_t)(24 - n));
    return o + (24 - n);
}

/* Encodes rows (sorted by stack) as a block; totals into *value, *count. */
int fw_blk_encode(fw_blk_text *b, const fw_blk_row *r, size_t n, int64_t *value, int64_t *count)
{
    b->n = 0;
    int64_t tv = 0, tc = 0;
    if (fw_blk_text_reserve(b, n * 64 + 3))
        return -1;
    char *o = b->p;
    *o++ = '[';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *o++ = ',';
        *o++ = '[';
        o = fw_blk_put_u64(o, r[i].stack);
        *o++ = ',';
        o = fw_blk_put_u64(o, (uint64_t)r[i].value);
        *o++ = ',';
        o = fw_blk_put_u64(o, (uint64_t)r[i].count);
        *o++ = ']';
        tv = fw_sat_add(tv, r[i].value);
        tc = fw_sat_add(tc, r[i].count);
    }
    *o++ = ']';
    b->n = (size_t)(o - b->p);
    *value = tv;
    *count = tc;
    return 0;
}

