/*
 * fw_store_table.c: the function (or line) table from per-stack sums.
 *
 * Each stack row charges its value to its leaf function as self, and to every function on its
 * path as total, once per stack even when the function recurses (a stamp per key says which row
 * last charged it), so a total never exceeds the grand total. Keys are function ids (frame ids at
 * line granularity), sparse, so a hash gives each key met its slot in flat arrays of sums. Sorting happens
 * after the caller has released the dimension cache: names are copies by then.
 */
#include "fw_store_table.h"
#include "fw_store_idmap.h"
#include "fw_store_util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static fw_store_sort fw_table_sort_mode;   /* set under fw_table_sort_lock for qsort's comparator */
static pthread_mutex_t fw_table_sort_lock = PTHREAD_MUTEX_INITIALIZER;

static int fw_table_row_cmp(const void *a, const void *b)
{
    const fw_store_row *x = a, *y = b;
    int c;
    if (fw_table_sort_mode == FW_STORE_SORT_SELF) {
        if (x->self != y->self)
            return x->self > y->self ? -1 : 1;
        if (x->total != y->total)
            return x->total > y->total ? -1 : 1;
    } else if (fw_table_sort_mode == FW_STORE_SORT_TOTAL) {
        if (x->total != y->total)
            return x->total > y->total ? -1 : 1;
        if (x->self != y->self)
            return x->self > y->self ? -1 : 1;
    }
    if ((c = strcmp(x->name, y->name)) != 0)
        return c;
    if ((c = strcmp(x->file, y->file)) != 0)
        return c;
    return x->line < y->line ? -1 : x->line > y->line;
}

/* The sums of the keys a query meets: keys (function ids, or frame ids at line granularity) are
 * sparse, so a hash gives each its index in flat arrays, and memory follows the keys met, not the
 * largest id. */
typedef struct {
    fw_idmap idx;
    uint32_t *keys, *stamp;
    int64_t *acc;          /* self, total, cself, ctotal per key */
    uint32_t n, kcap, scap, acap;
} fw_table_sums;

/* The index of a key, adding it when new. FW_STORE_NONE when out of memory. */
static uint32_t fw_table_slot(fw_table_sums *t, uint32_t key)
{
    uint32_t i = fw_idmap_get(&t->idx, key, FW_STORE_NONE);
    if (i != FW_STORE_NONE)
        return i;
    if (fw_array_reserve((void **)&t->keys, sizeof *t->keys, &t->kcap, t->n) ||
        fw_array_reserve((void **)&t->acc, 4 * sizeof *t->acc, &t->acap, t->n) ||
        fw_array_reserve((void **)&t->stamp, sizeof *t->stamp, &t->scap, t->n) || fw_idmap_put(&t->idx, key, t->n))
        return FW_STORE_NONE;
    t->keys[t->n] = key;
    return t->n++;
}

fw_store_status fw_table_collect(fw_dims *c, fw_dims_src *src, const fw_blk_rows *rows,
                                 const fw_store_table_opts *opt, fw_store_table *out)
{
    fw_store_status st = FW_STORE_OK;
    int line = opt->gran == FW_STORE_GRAN_LINE;
    fw_table_sums t;
    memset(&t, 0, sizeof t);
    for (size_t i = 0; st == FW_STORE_OK && i < rows->n; i++) {
        uint32_t sid = rows->v[i].stack, mark = (uint32_t)(i + 1);
        for (int leaf = 1; sid != 0; leaf = 0) {
            fw_dims_val v, f;
            int r = fw_dims_get(c, src, FW_DIM_ST, sid, &v);
            if (r == 0 && leaf)
                break;   /* forgotten by the dimension GC after the snapshot (see fw_tree_add) */
            if (r <= 0) {
                st = FW_STORE_ERR_IO;
                break;
            }
            if (leaf)
                out->grand_total = fw_sat_add(out->grand_total, rows->v[i].value);
            uint32_t key = v.b;
            if (!line) {
                if (fw_dims_get(c, src, FW_DIM_FR, v.b, &f) != 1) {
                    st = FW_STORE_ERR_IO;
                    break;
                }
                key = f.a;
            }
            uint32_t k = fw_table_slot(&t, key);
            int64_t *acc = t.acc;
            uint32_t *stamp = t.stamp;
            if (k == FW_STORE_NONE || !acc || !stamp) {
                st = FW_STORE_ERR_NOMEM;
                break;
            }
            if (leaf) {
                acc[(size_t)k * 4] = fw_sat_add(acc[(size_t)k * 4], rows->v[i].value);
                acc[(size_t)k * 4 + 2] = fw_sat_add(acc[(size_t)k * 4 + 2], rows->v[i].count);
            }
            if (stamp[k] != mark) {   /* once per stack: recursion does not double the total */
                stamp[k] = mark;
                acc[(size_t)k * 4 + 1] = fw_sat_add(acc[(size_t)k * 4 + 1], rows->v[i].value);
                acc[(size_t)k * 4 + 3] = fw_sat_add(acc[(size_t)k * 4 + 3], rows->v[i].count);
            }
            sid = v.a;
        }
    }
    size_t n = 0;
    const int64_t *acc = t.acc;
    uint32_t nk = acc && t.keys ? t.n : 0;
    for (uint32_t k = 0; st == FW_STORE_OK && k < nk; k++)
        n += acc[(size_t)k * 4 + 3] != 0 || acc[(size_t)k * 4 + 1] != 0;
    if (st == FW_STORE_OK && n) {
        out->rows = calloc(n, sizeof *out->rows);
        if (!out->rows)
            st = FW_STORE_ERR_NOMEM;
    }
    for (uint32_t k = 0; st == FW_STORE_OK && k < nk; k++) {
        if (acc[(size_t)k * 4 + 3] == 0 && acc[(size_t)k * 4 + 1] == 0)
            continue;
        fw_store_row *r = &out->rows[out->nrows++];
        uint32_t fn = t.keys[k];
        fw_dims_val v;
        r->line = 0;
        if (line) {
            int got = fw_dims_get(c, src, FW_DIM_FR, t.keys[k], &v);
            fn = got == 1 ? v.a : 0;
            r->line = got == 1 ? v.line : 0;
        }
        const char *nm = "?", *fl = "";
        if (fn && fw_dims_get(c, src, FW_DIM_FN, fn, &v) == 1) {
            nm = v.s1;
            fl = v.s2;
        }
        r->name = fw_store_strdup(nm);
        r->file = fw_store_strdup(fl);
        r->self = acc[(size_t)k * 4];
        r->total = acc[(size_t)k * 4 + 1];
        r->count_self = acc[(size_t)k * 4 + 2];
        r->count_total = acc[(size_t)k * 4 + 3];
        if (!r->name || !r->file)
            st = FW_STORE_ERR_NOMEM;
    }
    fw_idmap_free(&t.idx);
    free(t.keys);
    free(t.acc);
    free(t.stamp);
    return st;
}

void fw_table_finish(const fw_store_table_opts *opt, fw_store_table *out)
{
    pthread_mutex_lock(&fw_table_sort_lock);
    fw_table_sort_mode = opt->sort;
    if (out->nrows > 1)
        qsort(out->rows, out->nrows, sizeof *out->rows, fw_table_row_cmp);
    pthread_mutex_unlock(&fw_table_sort_lock);
    if (opt->limit && out->nrows > opt->limit) {
        for (size_t i = opt->limit; i < out->nrows; i++) {
            free(out->rows[i].name);
            free(out->rows[i].file);
        }
        out->nrows = opt->limit;
    }
}
