/*
 * fw_export.c: the neutral model the exporters read (see fw_export.h).
 *
 * Frames are interned in an open-addressing hash table keyed on (name, file, line), so a
 * stack is a list of small integers and a frame's strings are stored once, however many
 * stacks share it. Stacks are appended to one flat array of frame ids. Nothing is sorted or
 * merged here: the writers decide how to present the stacks.
 */
#include "fw_export.h"

#include <stdlib.h>
#include <string.h>

fw_export *fw_export_new(const char *type, const char *unit)
{
    fw_export *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->type = strdup(type ? type : "");
    e->unit = strdup(unit && *unit ? unit : "count");
    if (!e->type || !e->unit) {
        fw_export_free(e);
        return NULL;
    }
    return e;
}

void fw_export_free(fw_export *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->nframes; i++) {
        free(e->frames[i].name);
        free(e->frames[i].file);
    }
    for (size_t i = 0; i < e->ngroups; i++)
        free(e->groups[i]);
    free(e->frames);
    free(e->index);
    free(e->groups);
    free(e->stack_frames);
    free(e->stacks);
    free(e->type);
    free(e->unit);
    free(e);
}

/* Grows *arr (elements of `size` bytes) so that it holds at least need elements. */
static int fw_grow(void **arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *p = realloc(*arr, n * size);
    if (!p)
        return -1;
    *arr = p;
    *cap = n;
    return 0;
}

static uint64_t fw_hash(const char *name, const char *file, int64_t line)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *s = (const unsigned char *)name; *s; s++)
        h = (h ^ *s) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
    for (const unsigned char *s = (const unsigned char *)file; *s; s++)
        h = (h ^ *s) * 1099511628211ULL;
    return (h ^ (uint64_t)line) * 1099511628211ULL;
}

static int fw_rehash(fw_export *e, size_t cap)
{
    uint32_t *t = calloc(cap, sizeof *t);
    if (!t)
        return -1;
    for (size_t i = 0; i < e->nframes; i++) {
        const fw_export_frame *f = &e->frames[i];
        size_t k = fw_hash(f->name, f->file, f->line) & (cap - 1);
        while (t[k])
            k = (k + 1) & (cap - 1);
        t[k] = (uint32_t)i + 1;
    }
    free(e->index);
    e->index = t;
    e->index_cap = cap;
    return 0;
}

int fw_export_frame_id(fw_export *e, const char *name, const char *file, int64_t line, uint32_t *id)
{
    name = name ? name : "";
    file = file ? file : "";
    if ((e->nframes + 1) * 2 > e->index_cap && fw_rehash(e, e->index_cap ? e->index_cap * 2 : 64) != 0)
        return -1;
    size_t mask = e->index_cap - 1;
    size_t k = fw_hash(name, file, line) & mask;
    for (; e->index[k]; k = (k + 1) & mask) {
        const fw_export_frame *f = &e->frames[e->index[k] - 1];
        if (f->line == line && strcmp(f->name, name) == 0 && strcmp(f->file, file) == 0) {
            *id = e->index[k] - 1;
            return 0;
        }
    }
    if (e->nframes >= UINT32_MAX - 1 ||
        fw_grow((void **)&e->frames, &e->cap_frames, e->nframes + 1, sizeof *e->frames) != 0)
        return -1;
    fw_export_frame *f = &e->frames[e->nframes];
    f->name = strdup(name);
    f->file = strdup(file);
    f->line = line;
    if (!f->name || !f->file) {
        free(f->name);
        free(f->file);
        return -1;
    }
    e->index[k] = (uint32_t)e->nframes + 1;
    *id = (uint32_t)e->nframes++;
    return 0;
}

int fw_export_group_id(fw_export *e, const char *name, uint32_t *id)
{
    name = name ? name : "";
    /* Few groups (thread groups of one service): a linear search is enough. */
    for (size_t i = 0; i < e->ngroups; i++)
        if (strcmp(e->groups[i], name) == 0) {
            *id = (uint32_t)i;
            return 0;
        }
    if (fw_grow((void **)&e->groups, &e->cap_groups, e->ngroups + 1, sizeof *e->groups) != 0)
        return -1;
    if (!(e->groups[e->ngroups] = strdup(name)))
        return -1;
    *id = (uint32_t)e->ngroups++;
    return 0;
}

int fw_export_add(fw_export *e, uint32_t group, const uint32_t *frames, size_t depth, int64_t value)
{
    if (value <= 0)
        return 0;
    if (depth > FW_EXPORT_MAX_DEPTH)
        depth = FW_EXPORT_MAX_DEPTH;
    if (fw_grow((void **)&e->stack_frames, &e->cap_stack_frames, e->nstack_frames + depth,
                sizeof *e->stack_frames) != 0 ||
        fw_grow((void **)&e->stacks, &e->cap_stacks, e->nstacks + 1, sizeof *e->stacks) != 0)
        return -1;
    if (depth)
        memcpy(e->stack_frames + e->nstack_frames, frames, depth * sizeof *frames);
    e->stacks[e->nstacks++] = (fw_export_stack){e->nstack_frames, depth, value, group};
    e->nstack_frames += depth;
    return 0;
}

int64_t fw_export_total(const fw_export *e)
{
    int64_t total = 0;
    for (size_t i = 0; i < e->nstacks; i++)
        if (__builtin_add_overflow(total, e->stacks[i].value, &total))
            return INT64_MAX;
    return total;
}
