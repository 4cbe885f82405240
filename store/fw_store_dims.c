/*
 * fw_store_dims.c: building, cutting back and freeing the dimension cache (fw_store_dims.h).
 *
 * Design: parallel arrays indexed by id (names, files, frame function/line, stack parent/frame,
 * label set text) plus one hash map per kind from content to id. The maps hold no keys; eq()
 * reads the candidate's content from the arrays. Everything here is O(entries) and rare (a load,
 * a rollback, a GC sweep); the per-sample paths are the inline probes of the header.
 */
#include "fw_store_dims.h"
#include "fw_store_util.h"

#include <stdlib.h>

/* Rebuilds every map from the arrays: after loading from disk and after a rollback cut the
 * arrays back. O(entries), and rare. */
int fw_dims_reindex(fw_dims *c)
{
    fw_map_clear(&c->fn_map);
    fw_map_clear(&c->fr_map);
    fw_map_clear(&c->st_map);
    fw_map_clear(&c->ls_map);
    fw_map_clear(&c->pa_map);
    for (uint32_t i = 1; i < c->fn_n; i++)
        if (c->fn_name[i] && fw_map_put(&c->fn_map, fw_dims_fn_hash(c->fn_name[i], c->fn_file[i]), i))
            return -1;
    for (uint32_t i = 1; i < c->fr_n; i++)
        if (c->fr_func[i] && fw_map_put(&c->fr_map, fw_dims_fr_hash(c->fr_func[i], c->fr_line[i]), i))
            return -1;
    for (uint32_t i = 1; i < c->st_n; i++)
        if (c->st_frame[i] && fw_map_put(&c->st_map, fw_dims_st_hash(c->st_parent[i], c->st_frame[i]), i))
            return -1;
    if (c->st_n > 1) {
        /* Ids are assigned parent first, so one pass in id order sees every parent's hash before
         * its children. A node whose parent is not smaller (a hand-edited file) is left out: it
         * is still found through st_map, only more slowly. */
        uint64_t *ph = calloc(c->st_n, sizeof *ph);
        unsigned char *ok = calloc(c->st_n, 1);
        if (!ph || !ok) {
            free(ph);
            free(ok);
            return -1;
        }
        ok[0] = 1;
        for (uint32_t i = 1; i < c->st_n; i++) {
            uint32_t par = c->st_parent[i];
            if (!c->st_frame[i] || par >= i || !ok[par])
                continue;
            ph[i] = fw_dims_pa_hash(ph[par], c->st_frame[i]);
            ok[i] = 1;
            if (fw_map_put(&c->pa_map, ph[i], i)) {
                free(ph);
                free(ok);
                return -1;
            }
        }
        free(ph);
        free(ok);
    }
    for (uint32_t i = 1; i < c->ls_n; i++)
        if (c->ls_text[i] && fw_map_put(&c->ls_map, fw_dims_ls_hash(c->ls_text[i]), i))
            return -1;
    return 0;
}

/* Cuts the arrays back to the given sizes (ids >= size are forgotten). */
void fw_dims_truncate(fw_dims *c, uint32_t fn_n, uint32_t fr_n, uint32_t st_n, uint32_t ls_n)
{
    for (uint32_t i = fn_n; i < c->fn_n; i++) {
        free(c->fn_name[i]);
        free(c->fn_file[i]);
        c->fn_name[i] = c->fn_file[i] = NULL;
    }
    for (uint32_t i = fr_n; i < c->fr_n; i++) {
        c->fr_func[i] = 0;
        c->fr_line[i] = 0;
    }
    for (uint32_t i = st_n; i < c->st_n; i++)
        c->st_parent[i] = c->st_frame[i] = 0;
    for (uint32_t i = ls_n; i < c->ls_n; i++) {
        free(c->ls_text[i]);
        c->ls_text[i] = NULL;
    }
    c->fn_n = fn_n;
    c->fr_n = fr_n;
    c->st_n = st_n;
    c->ls_n = ls_n;
}

void fw_dims_free(fw_dims *c)
{
    fw_dims_truncate(c, 1, 1, 1, 1);
    free(c->fn_name);
    free(c->fn_file);
    free(c->fr_func);
    free(c->fr_line);
    free(c->st_parent);
    free(c->st_frame);
    free(c->ls_text);
    fw_map_free(&c->fn_map);
    fw_map_free(&c->fr_map);
    fw_map_free(&c->st_map);
    fw_map_free(&c->ls_map);
    fw_map_free(&c->pa_map);
    memset(c, 0, sizeof *c);
}

/* Slot setters used both by loading and by interning; they grow the arrays. */
int fw_dims_set_fn(fw_dims *c, uint32_t id, const char *name, const char *file)
{
    if (fw_array_reserve((void **)&c->fn_name, sizeof(char *), &c->fn_cap, id) ||
        fw_array_reserve((void **)&c->fn_file, sizeof(char *), &c->fn_cap2, id))
        return -1;
    char *n = fw_store_strdup(name), *f = fw_store_strdup(file);
    if (!n || !f) {
        free(n);
        free(f);
        return -1;
    }
    free(c->fn_name[id]);
    free(c->fn_file[id]);
    c->fn_name[id] = n;
    c->fn_file[id] = f;
    if (id >= c->fn_n)
        c->fn_n = id + 1;
    return 0;
}
int fw_dims_set_fr(fw_dims *c, uint32_t id, uint32_t func, int64_t line)
{
    if (fw_array_reserve((void **)&c->fr_func, sizeof(uint32_t), &c->fr_cap, id) ||
        fw_array_reserve((void **)&c->fr_line, sizeof(int64_t), &c->fr_cap2, id))
        return -1;
    c->fr_func[id] = func;
    c->fr_line[id] = line;
    if (id >= c->fr_n)
        c->fr_n = id + 1;
    return 0;
}
int fw_dims_set_st(fw_dims *c, uint32_t id, uint32_t parent, uint32_t frame)
{
    if (fw_array_reserve((void **)&c->st_parent, sizeof(uint32_t), &c->st_cap, id) ||
        fw_array_reserve((void **)&c->st_frame, sizeof(uint32_t), &c->st_cap2, id))
        return -1;
    c->st_parent[id] = parent;
    c->st_frame[id] = frame;
    if (id >= c->st_n)
        c->st_n = id + 1;
    return 0;
}
int fw_dims_set_ls(fw_dims *c, uint32_t id, const char *text)
{
    if (fw_array_reserve((void **)&c->ls_text, sizeof(char *), &c->ls_cap, id))
        return -1;
    char *t = fw_store_strdup(text);
    if (!t)
        return -1;
    free(c->ls_text[id]);
    c->ls_text[id] = t;
    if (id >= c->ls_n)
        c->ls_n = id + 1;
    return 0;
}
