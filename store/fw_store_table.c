/*
 * fw_store_table.c: the function (or line) table from per-stack sums.
 *
 * Each stack row charges its value to its leaf function as self, and to every function on its
 * path as total, once per stack even when the function recurses (a stamp per key says which row
 * last charged it), so a total never exceeds the grand total. Keys are function ids (frame ids at
 * line granularity), dense, so the sums are one flat array rather than a hash. Sorting happens
 * after the caller has released the dimension cache: names are copies by then.
 */
#include "fw_store_table.h"
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

fw_store_status fw_table_collect(const fw_dims *c, const fw_blk_rows *rows, const fw_store_table_opts *opt,
                                 fw_store_table *out)
{
    fw_store_status st = FW_STORE_OK;
    int line = opt->gran == FW_STORE_GRAN_LINE;
    uint32_t nk = line ? c->fr_n : c->fn_n;
    int64_t *acc = calloc((size_t)nk * 4, sizeof *acc);   /* self, total, cself, ctotal per key */
    uint32_t *stamp = calloc(nk, sizeof *stamp);
    if (!acc || !stamp)
        st = FW_STORE_ERR_NOMEM;
    for (size_t i = 0; st == FW_STORE_OK && i < rows->n; i++) {
        uint32_t sid = rows->v[i].stack, mark = (uint32_t)(i + 1);
        if (sid < c->st_n && !c->st_frame[sid])
            continue;   /* forgotten by the dimension GC after the snapshot (see fw_tree_add) */
        out->grand_total = fw_sat_add(out->grand_total, rows->v[i].value);
        for (int leaf = 1; sid != 0; leaf = 0) {
            if (sid >= c->st_n || c->st_frame[sid] >= c->fr_n) {
                st = FW_STORE_ERR_IO;
                break;
            }
            uint32_t fr = c->st_frame[sid];
            uint32_t key = line ? fr : c->fr_func[fr];
            if (key >= nk) {
                st = FW_STORE_ERR_IO;
                break;
            }
            if (leaf) {
                acc[(size_t)key * 4] = fw_sat_add(acc[(size_t)key * 4], rows->v[i].value);
                acc[(size_t)key * 4 + 2] = fw_sat_add(acc[(size_t)key * 4 + 2], rows->v[i].count);
            }
            if (stamp[key] != mark) {   /* once per stack: recursion does not double the total */
                stamp[key] = mark;
                acc[(size_t)key * 4 + 1] = fw_sat_add(acc[(size_t)key * 4 + 1], rows->v[i].value);
                acc[(size_t)key * 4 + 3] = fw_sat_add(acc[(size_t)key * 4 + 3], rows->v[i].count);
            }
            sid = c->st_parent[sid];
        }
    }
    size_t n = 0;
    for (uint32_t k = 1; st == FW_STORE_OK && k < nk; k++)
        n += acc[(size_t)k * 4 + 3] != 0 || acc[(size_t)k * 4 + 1] != 0;
    if (st == FW_STORE_OK && n) {
        out->rows = calloc(n, sizeof *out->rows);
        if (!out->rows)
            st = FW_STORE_ERR_NOMEM;
    }
    for (uint32_t k = 1; st == FW_STORE_OK && k < nk; k++) {
        if (acc[(size_t)k * 4 + 3] == 0 && acc[(size_t)k * 4 + 1] == 0)
            continue;
        fw_store_row *r = &out->rows[out->nrows++];
        uint32_t fn = line ? c->fr_func[k] : k;
        r->line = line ? c->fr_line[k] : 0;
        r->name = fw_store_strdup(fn < c->fn_n && c->fn_name[fn] ? c->fn_name[fn] : "?");
        r->file = fw_store_strdup(fn < c->fn_n && c->fn_file[fn] ? c->fn_file[fn] : "");
        r->self = acc[(size_t)k * 4];
        r->total = acc[(size_t)k * 4 + 1];
        r->count_self = acc[(size_t)k * 4 + 2];
        r->count_total = acc[(size_t)k * 4 + 3];
        if (!r->name || !r->file)
            st = FW_STORE_ERR_NOMEM;
    }
    free(acc);
    free(stamp);
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
