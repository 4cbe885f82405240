/*
 * fw_export_speedscope.c: speedscope's JSON file format, "sampled" profiles.
 *
 * Written against the published schema (https://www.speedscope.app/file-format-schema.json):
 * a File has "$schema" (that exact URL), "shared": {"frames": [Frame]} and "profiles"; a Frame
 * has a "name" and optional "file", "line"; a SampledProfile has "type": "sampled", "name",
 * "unit" (one of bytes, microseconds, milliseconds, nanoseconds, none, seconds),
 * "startValue", "endValue", "samples" (stacks of frame indexes, root first) and "weights" (one
 * per sample). Our stacks are already aggregated, so a "sample" here is one distinct stack
 * with its summed value as weight; speedscope adds weights, so every view shows the same
 * numbers as the console. startValue is 0 and endValue the sum of the weights, which is how
 * speedscope's own importers fill them for sampled data.
 *
 * Units speedscope does not know (counts of objects or samples) become "none".
 */
#include "fw_export.h"

#include <string.h>

#include "fw_json.h"

static const char *fw_speedscope_unit(const char *unit)
{
    static const char *const known[] = {"bytes", "microseconds", "milliseconds", "nanoseconds", "seconds"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(unit, known[i]) == 0)
            return known[i];
    return "none";
}

static void fw_profile_json(fw_json *j, const fw_export *e, const char *name, long group)
{
    int64_t total = 0;
    for (size_t i = 0; i < e->nstacks; i++)
        if (group < 0 || e->stacks[i].group == (uint32_t)group)
            if (__builtin_add_overflow(total, e->stacks[i].value, &total))
                total = INT64_MAX;
    fw_json_obj_begin(j);
    fw_json_kv_str(j, "type", "sampled");
    fw_json_kv_str(j, "name", name);
    fw_json_kv_str(j, "unit", fw_speedscope_unit(e->unit));
    fw_json_kv_int(j, "startValue", 0);
    fw_json_kv_int(j, "endValue", total);
    fw_json_key(j, "samples");
    fw_json_arr_begin(j);
    for (size_t i = 0; i < e->nstacks; i++) {
        const fw_export_stack *s = &e->stacks[i];
        if (group >= 0 && s->group != (uint32_t)group)
            continue;
        fw_json_arr_begin(j);
        for (size_t k = 0; k < s->depth; k++)
            fw_json_uint(j, e->stack_frames[s->offset + k]);
        fw_json_arr_end(j);
    }
    fw_json_arr_end(j);
    fw_json_key(j, "weights");
    fw_json_arr_begin(j);
    for (size_t i = 0; i < e->nstacks; i++)
        if (group < 0 || e->stacks[i].group == (uint32_t)group)
            fw_json_int(j, e->stacks[i].value);
    fw_json_arr_end(j);
    fw_json_obj_end(j);
}

int fw_export_speedscope(const fw_export *e, const char *name, fw_buf *out)
{
    fw_json j;
    fw_json_init(&j);
    fw_json_obj_begin(&j);
    fw_json_kv_str(&j, "$schema", "https://www.speedscope.app/file-format-schema.json");
    fw_json_key(&j, "shared");
    fw_json_obj_begin(&j);
    fw_json_key(&j, "frames");
    fw_json_arr_begin(&j);
    for (size_t i = 0; i < e->nframes; i++) {
        const fw_export_frame *f = &e->frames[i];
        fw_json_obj_begin(&j);
        fw_json_kv_str(&j, "name", f->name);
        if (f->file[0])
            fw_json_kv_str(&j, "file", f->file);
        if (f->line > 0)
            fw_json_kv_int(&j, "line", f->line);
        fw_json_obj_end(&j);
    }
    fw_json_arr_end(&j);
    fw_json_obj_end(&j);

    /* Groups that hold no stack get no profile; with none at all, one empty profile keeps the
     * file loadable. */
    size_t used = 0;
    for (size_t g = 0; g < e->ngroups; g++)
        for (size_t i = 0; i < e->nstacks; i++)
            if (e->stacks[i].group == g) {
                used++;
                break;
            }
    fw_json_key(&j, "profiles");
    fw_json_arr_begin(&j);
    if (used <= 1) {
        fw_profile_json(&j, e, name, -1);
    } else {
        for (size_t g = 0; g < e->ngroups; g++) {
            size_t i = 0;
            while (i < e->nstacks && e->stacks[i].group != g)
                i++;
            if (i == e->nstacks)
                continue;
            fw_buf label = {0};
            int rc = fw_buf_append(&label, name, strlen(name)) | fw_buf_append(&label, ": ", 2) |
                     fw_buf_append(&label, e->groups[g], strlen(e->groups[g])) | fw_buf_append(&label, "", 1);
            if (rc == 0)
                fw_profile_json(&j, e, (const char *)label.data, (long)g);
            fw_buf_free(&label);
            if (rc != 0) {
                fw_json_free(&j);
                return -1;
            }
        }
    }
    fw_json_arr_end(&j);
    fw_json_kv_str(&j, "name", name);
    fw_json_kv_int(&j, "activeProfileIndex", 0);
    fw_json_kv_str(&j, "exporter", "flamewatch");
    fw_json_obj_end(&j);
    int rc = fw_json_finish(&j) == 0 && fw_buf_append(out, j.data, j.len) == 0 ? 0 : -1;
    fw_json_free(&j);
    return rc;
}
