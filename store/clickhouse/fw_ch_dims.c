/*
 * fw_ch_dims.c: stack and function definitions by content id, cached for the life of the process,
 * and the query-local dimension cache the tree and table builders read (the ClickHouse backend).
 *
 * An id is a hash of its content, so what an id stands for never changes: a definition fetched once
 * is valid forever, on every server, whatever ingest does meanwhile. A query therefore reads only its
 * per-stack sums from the samples, and fetches by explicit id list (`WHERE id IN (...)`) just the
 * stacks and functions this process has not seen yet; a repeated or overlapping query fetches none.
 * The cache is bounded: past FW_CH_DEFS_MAX stacks it starts over (a query that loses an entry to a
 * concurrent reset fetches it again).
 *
 * fw_ch_defs_dims then turns the stacks a query needs into the trie of fw_store_dims.h: functions
 * interned by content, frames by (function, line), trie nodes by (parent, frame), with 32-bit ids.
 */
#include "fw_ch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FW_CH_DEFS_MAX (1u << 21)     /* stacks kept before the cache starts over */
#define FW_CH_IDS_PER_QUERY 4000      /* ids per `IN (...)` list: ~90 KB of SQL, under max_query_size */

struct fw_ch_defs {
    pthread_mutex_t lock;
    fw_ch_idmap st;                   /* stack id -> index + 1 */
    uint32_t *st_off, *st_depth;      /* frames of stack i: fr_fn/fr_line[st_off[i] .. + st_depth[i]) */
    uint32_t st_n, st_cap;
    uint64_t *fr_fn;
    int64_t *fr_line;
    size_t fr_n, fr_cap;
    fw_ch_idmap fn;                   /* function id -> index + 1 */
    char **fn_name, **fn_file;
    uint32_t fn_n, fn_cap;
};

/* ---------------------------------------------------------------- id maps */

uint32_t fw_ch_idmap_get(const fw_ch_idmap *m, uint64_t k)
{
    if (!m->cap)
        return 0;
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)(k * 0x9e3779b97f4a7c15ull) & mask;; i = (i + 1) & mask) {
        if (m->k[i] == k)
            return m->v[i];
        if (!m->k[i])
            return 0;
    }
}

int fw_ch_idmap_put(fw_ch_idmap *m, uint64_t k, uint32_t v)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        uint64_t *nk = calloc(cap, sizeof *nk);
        uint32_t *nv = calloc(cap, sizeof *nv);
        if (!nk || !nv) {
            free(nk);
            free(nv);
            return -1;
        }
        for (size_t j = 0; j < m->cap; j++)
            if (m->k[j]) {
                size_t i = (size_t)(m->k[j] * 0x9e3779b97f4a7c15ull) & (cap - 1);
                while (nk[i])
                    i = (i + 1) & (cap - 1);
                nk[i] = m->k[j];
                nv[i] = m->v[j];
            }
        free(m->k);
        free(m->v);
        m->k = nk;
        m->v = nv;
        m->cap = cap;
    }
    size_t mask = m->cap - 1, i = (size_t)(k * 0x9e3779b97f4a7c15ull) & mask;
    while (m->k[i] && m->k[i] != k)
        i = (i + 1) & mask;
    if (!m->k[i])
        m->n++;
    m->k[i] = k;
    m->v[i] = v;
    return 0;
}

void fw_ch_idmap_free(fw_ch_idmap *m)
{
    free(m->k);
    free(m->v);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------- the cache */

static void fw_ch_defs_clear(fw_ch_defs *d)
{
    fw_ch_idmap_free(&d->st);
    fw_ch_idmap_free(&d->fn);
    for (uint32_t i = 0; i < d->fn_n; i++) {
        free(d->fn_name[i]);
        free(d->fn_file[i]);
    }
    free(d->st_off);
    free(d->st_depth);
    free(d->fr_fn);
    free(d->fr_line);
    free(d->fn_name);
    free(d->fn_file);
    d->st_off = d->st_depth = NULL;
    d->fr_fn = NULL;
    d->fr_line = NULL;
    d->fn_name = d->fn_file = NULL;
    d->st_n = d->st_cap = d->fn_n = d->fn_cap = 0;
    d->fr_n = d->fr_cap = 0;
}

fw_ch_defs *fw_ch_defs_new(void)
{
    fw_ch_defs *d = calloc(1, sizeof *d);
    if (d)
        pthread_mutex_init(&d->lock, NULL);
    return d;
}

void fw_ch_defs_free(fw_ch_defs *d)
{
    if (!d)
        return;
    fw_ch_defs_clear(d);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

static int fw_ch_grow(void **p, size_t elem, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 1024;
    while (c < need)
        c *= 2;
    void *n = realloc(*p, c * elem);
    if (!n)
        return -1;
    *p = n;
    *cap = c;
    return 0;
}

/* Adds one stack (under d->lock). 0, or -1 when out of memory. */
static int fw_ch_defs_add_stack(fw_ch_defs *d, uint64_t id, const int64_t *funcs, const int64_t *lines, size_t depth)
{
    if (fw_ch_idmap_get(&d->st, id))
        return 0;
    size_t sc = d->st_cap, sc2 = d->st_cap;
    if (fw_ch_grow((void **)&d->st_off, sizeof *d->st_off, &sc, (size_t)d->st_n + 1) ||
        fw_ch_grow((void **)&d->st_depth, sizeof *d->st_depth, &sc2, (size_t)d->st_n + 1))
        return -1;
    d->st_cap = (uint32_t)(sc < sc2 ? sc : sc2);
    size_t fc = d->fr_cap, fc2 = d->fr_cap;
    if (fw_ch_grow((void **)&d->fr_fn, sizeof *d->fr_fn, &fc, d->fr_n + depth) ||
        fw_ch_grow((void **)&d->fr_line, sizeof *d->fr_line, &fc2, d->fr_n + depth))
        return -1;
    d->fr_cap = fc < fc2 ? fc : fc2;
    for (size_t j = 0; j < depth; j++) {
        d->fr_fn[d->fr_n + j] = (uint64_t)funcs[j];
        d->fr_line[d->fr_n + j] = lines[j];
    }
    d->st_off[d->st_n] = (uint32_t)d->fr_n;
    d->st_depth[d->st_n] = (uint32_t)depth;
    d->fr_n += depth;
    if (fw_ch_idmap_put(&d->st, id, d->st_n + 1) != 0)
        return -1;
    d->st_n++;
    return 0;
}

static int fw_ch_defs_add_fn(fw_ch_defs *d, uint64_t id, const char *name, const char *file)
{
    if (fw_ch_idmap_get(&d->fn, id))
        return 0;
    size_t c = d->fn_cap, c2 = d->fn_cap;
    if (fw_ch_grow((void **)&d->fn_name, sizeof *d->fn_name, &c, (size_t)d->fn_n + 1) ||
        fw_ch_grow((void **)&d->fn_file, sizeof *d->fn_file, &c2, (size_t)d->fn_n + 1))
        return -1;
    d->fn_cap = (uint32_t)(c < c2 ? c : c2);
    char *n = fw_store_strdup(name), *f = fw_store_strdup(file);
    if (!n || !f || fw_ch_idmap_put(&d->fn, id, d->fn_n + 1) != 0) {
        free(n);
        free(f);
        return -1;
    }
    d->fn_name[d->fn_n] = n;
    d->fn_file[d->fn_n] = f;
    d->fn_n++;
    return 0;
}

/* Fetches rows `SELECT id, ... FROM table WHERE id IN (ids) GROUP BY id` for ids[0..n), in lists of
 * FW_CH_IDS_PER_QUERY, and adds each to the cache (stacks when is_stack, else functions). */
static fw_store_status fw_ch_defs_fetch(fw_ch *s, int is_stack, const uint64_t *ids, size_t n)
{
    fw_ch_defs *d = s->defs;
    fw_ch_buf sql = {0}, r = {0};
    int64_t *arr = is_stack ? malloc((size_t)2 * FW_PROFILE_MAX_DEPTH * sizeof *arr) : NULL;
    fw_store_status st = !is_stack || arr ? FW_STORE_OK : FW_STORE_ERR_NOMEM;
    for (size_t at = 0; at < n && st == FW_STORE_OK; at += FW_CH_IDS_PER_QUERY) {
        fw_ch_buf_reset(&sql);
        fw_ch_puts(&sql, is_stack ? "SELECT id, any(funcs), any(lines) FROM stacks WHERE id IN ("
                                  : "SELECT id, any(name), any(file) FROM functions WHERE id IN (");
        for (size_t i = at; i < n && i < at + FW_CH_IDS_PER_QUERY; i++)
            fw_ch_printf(&sql, i > at ? ",%llu" : "%llu", (unsigned long long)ids[i]);
        fw_ch_puts(&sql, ") GROUP BY id");
        if (fw_ch_buf_nul(&sql) != 0) {
            st = FW_STORE_ERR_NOMEM;
            break;
        }
        st = fw_ch_select(s, sql.p, &r, NULL, 0);
        fw_ch_tsv t = {r.p, r.p + r.n};
        char *f[3];
        int nf;
        pthread_mutex_lock(&d->lock);
        if (d->st_n > FW_CH_DEFS_MAX)
            fw_ch_defs_clear(d);
        while (st == FW_STORE_OK && (nf = fw_ch_tsv_row(&t, f, NULL, 3)) != 0) {
            uint64_t id;
            size_t nfun = 0, nln = 0;
            if (nf != 3 || fw_ch_parse_u64(f[0], &id) != 0) {
                st = FW_STORE_ERR_IO;
                break;
            }
            if (!is_stack) {
                if (fw_ch_defs_add_fn(d, id, f[1], f[2]) != 0)
                    st = FW_STORE_ERR_NOMEM;
                continue;
            }
            if (fw_ch_parse_array(f[1], 0, arr, FW_PROFILE_MAX_DEPTH, &nfun) != 0 ||
                fw_ch_parse_array(f[2], 1, arr + FW_PROFILE_MAX_DEPTH, FW_PROFILE_MAX_DEPTH, &nln) != 0 ||
                nfun != nln || nfun == 0) {
                st = FW_STORE_ERR_IO;
                break;
            }
            if (fw_ch_defs_add_stack(d, id, arr, arr + FW_PROFILE_MAX_DEPTH, nfun) != 0)
                st = FW_STORE_ERR_NOMEM;
        }
        pthread_mutex_unlock(&d->lock);
    }
    free(arr);
    fw_ch_buf_free(&sql);
    fw_ch_buf_free(&r);
    return st;
}

fw_store_status fw_ch_defs_load(fw_ch *s, const uint64_t *ids, size_t n)
{
    fw_ch_defs *d = s->defs;
    uint64_t *miss = malloc((n + 1) * sizeof *miss);
    if (!miss)
        return FW_STORE_ERR_NOMEM;
    size_t nm = 0, cap = n + 1;
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < n; i++)
        if (!fw_ch_idmap_get(&d->st, ids[i]))
            miss[nm++] = ids[i];
    pthread_mutex_unlock(&d->lock);
    fw_store_status st = nm ? fw_ch_defs_fetch(s, 1, miss, nm) : FW_STORE_OK;
    /* The functions of the stacks just fetched (others' functions are cached with them). */
    nm = 0;
    fw_ch_idmap seen = {0};
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; st == FW_STORE_OK && i < n; i++) {
        uint32_t k = fw_ch_idmap_get(&d->st, ids[i]);
        for (uint32_t j = 0; k && j < d->st_depth[k - 1]; j++) {
            uint64_t f = d->fr_fn[d->st_off[k - 1] + j];
            if (fw_ch_idmap_get(&d->fn, f) || fw_ch_idmap_get(&seen, f))
                continue;
            if (nm + 1 > cap) {
                uint64_t *nmiss = realloc(miss, (nm + 1) * 2 * sizeof *miss);
                if (!nmiss) {
                    st = FW_STORE_ERR_NOMEM;
                    break;
                }
                miss = nmiss;
                cap = (nm + 1) * 2;
            }
            if (fw_ch_idmap_put(&seen, f, 1) != 0) {
                st = FW_STORE_ERR_NOMEM;
                break;
            }
            miss[nm++] = f;
        }
    }
    pthread_mutex_unlock(&d->lock);
    fw_ch_idmap_free(&seen);
    if (st == FW_STORE_OK && nm)
        st = fw_ch_defs_fetch(s, 0, miss, nm);
    free(miss);
    return st;
}

fw_store_status fw_ch_defs_dims(fw_ch *s, const uint64_t *ids, size_t n, fw_dims *c, fw_ch_idmap *sids)
{
    fw_ch_defs *d = s->defs;
    fw_ch_idmap fnl = {0};   /* function id -> local function id */
    fw_store_status st = FW_STORE_OK;
    if (!c->fr_n)
        c->fr_n = 1;
    if (!c->st_n)
        c->st_n = 1;
    if (!c->fn_n)
        c->fn_n = 1;
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < n && st == FW_STORE_OK; i++) {
        uint32_t k = fw_ch_idmap_get(&d->st, ids[i]);
        if (!k || fw_ch_idmap_get(sids, ids[i]))
            continue;   /* lost to a cache reset (skipped, as a stack written after the sums), or done */
        uint32_t parent = 0;
        for (uint32_t j = 0; j < d->st_depth[k - 1] && st == FW_STORE_OK; j++) {
            uint64_t fid = d->fr_fn[d->st_off[k - 1] + j];
            int64_t line = d->fr_line[d->st_off[k - 1] + j];
            uint32_t fn = fw_ch_idmap_get(&fnl, fid);
            if (!fn) {
                uint32_t g = fw_ch_idmap_get(&d->fn, fid);
                fn = c->fn_n;
                if (fw_dims_set_fn(c, fn, g ? d->fn_name[g - 1] : "?", g ? d->fn_file[g - 1] : "") != 0 ||
                    fw_ch_idmap_put(&fnl, fid, fn) != 0) {
                    st = FW_STORE_ERR_NOMEM;
                    break;
                }
            }
            fw_dims_frkey fk = {fn, line};
            uint64_t h = fw_dims_fr_hash(fn, line);
            uint32_t fr = fw_map_find(&c->fr_map, h, fw_dims_fr_eq, c, &fk);
            if (!fr && (fw_dims_set_fr(c, fr = c->fr_n, fn, line) != 0 || fw_map_put(&c->fr_map, h, fr) != 0)) {
                st = FW_STORE_ERR_NOMEM;
                break;
            }
            fw_dims_stkey sk = {parent, fr};
            uint64_t sh = fw_dims_st_hash(parent, fr);
            uint32_t node = fw_map_find(&c->st_map, sh, fw_dims_st_eq, c, &sk);
            if (!node && (fw_dims_set_st(c, node = c->st_n, parent, fr) != 0 || fw_map_put(&c->st_map, sh, node) != 0)) {
                st = FW_STORE_ERR_NOMEM;
                break;
            }
            parent = node;
        }
        if (st == FW_STORE_OK && fw_ch_idmap_put(sids, ids[i], parent) != 0)
            st = FW_STORE_ERR_NOMEM;
    }
    pthread_mutex_unlock(&d->lock);
    fw_ch_idmap_free(&fnl);
    return st;
}
