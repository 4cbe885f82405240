/*
 * cmd_convert.c: `flamewatch convert`, pprof files in, folded stacks or JSON out.
 *
 * The command is a thin pipeline over libfw: read each file whole (gzip or plain, capped
 * in size), decode it with fw_pprof_decode_any, merge everything into one profile that has
 * a single sample type (the one asked for), then filter by labels and print.
 *
 * Why decode every file before merging: the type to keep is known only once the files are
 * read (`--type` may name a type that only a later file has, and the default is the first
 * file's first type), and fw_profile_merge drops types the destination lacks. Holding the
 * decoded profiles costs memory proportional to the input, which a CLI can afford.
 *
 * Why label filtering happens after merging: merging keeps every sample's label set, so
 * filtering the merged profile is the same as filtering each file, and done once.
 * Filters on different keys combine with AND; several values for one key are
 * alternatives (OR), as in the console's quick filter.
 *
 * Output is deterministic, so it can be diffed and tested: folded lines are merged by
 * their text (two samples that differ only in filtered-out labels become one line) and
 * sorted by value, then text; JSON samples are sorted by value, then by their order in the
 * merged profile. Samples whose value is 0 for the chosen type are omitted.
 *
 * Nothing is written until every input decoded, so a failed run leaves no partial output.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "fw_export.h"
#include "fw_pprof.h"
#include "fw_profile.h"

#define FW_CONVERT_MAX_FILE ((size_t)512 * 1024 * 1024)
#define FW_CONVERT_MAX_DECOMPRESSED ((size_t)1024 * 1024 * 1024)

typedef struct {
    const char *type;
    const char *format;
    const char *output;
    const char **labels;   /* "K=V" as given */
    size_t nlabels;
    const char **files;
    size_t nfiles;
} fw_convert_opts;

typedef struct {
    uint64_t key, value;   /* string indexes in the merged profile, UINT64_MAX = absent */
    size_t group;          /* filters with the same key share a group */
} fw_filter;

typedef struct {
    const char *text;      /* folded stack, or NULL for JSON */
    size_t offset;
    size_t sample;
    int64_t value;
} fw_row;

static void fw_convert_usage(FILE *out)
{
    fputs("usage: flamewatch convert [--type TYPE] [--label K=V]... [--format folded|json|speedscope|svg]\n"
          "                          [-o FILE] FILE...\n"
          "\n"
          "Merges pprof files (gzip-compressed or not) and prints one sample type.\n"
          "\n"
          "  --type TYPE       sample type to print (default: the first type of the first file)\n"
          "  --label K=V       keep samples labelled K=V; repeat for more. Different keys must\n"
          "                    all match (AND); the same key twice means either value (OR)\n"
          "  --format FORMAT   folded (default): 'root;...;leaf VALUE' per stack, each frame\n"
          "                    'NAME (FILE:LINE)'; json: one object with every sample;\n"
          "                    speedscope: speedscope's JSON file, one profile per thread group;\n"
          "                    svg: a flame graph that any browser opens\n"
          "  -o, --output FILE write to FILE instead of standard output\n"
          "  -h, --help        show this help\n",
          out);
}

static int fw_usage_error(const char *fmt, const char *arg)
{
    fputs("flamewatch convert: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    fw_convert_usage(stderr);
    return 2;
}

/* Matches `--name VALUE` and `--name=VALUE`; returns 1 and sets *value, 0 if not this
 * option, -1 if the value is missing. */
static int fw_opt_value(int argc, char **argv, int *i, const char *name, const char **value)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=' && name[1] == '-') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *value = argv[++*i];
    return 1;
}

/* 0 to go on, or an exit status (help or usage error). */
static int fw_convert_parse(int argc, char **argv, fw_convert_opts *o)
{
    int only_files = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_files || a[0] != '-' || strcmp(a, "-") == 0) {
            o->files[o->nfiles++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_files = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fw_convert_usage(stdout);
            return -1;
        }
        static const char *const names[] = {"--type", "--label", "--format", "--output", "-o"};
        const char *v = NULL;
        int rc = 0;
        size_t k;
        for (k = 0; k < sizeof names / sizeof names[0] && rc == 0; k++)
            rc = fw_opt_value(argc, argv, &i, names[k], &v);
        if (rc == 0)
            return fw_usage_error("unknown option '%s'", a);
        if (rc < 0)
            return fw_usage_error("option '%s' needs a value", a);
        switch (k - 1) {
        case 0:
            o->type = v;
            break;
        case 1:
            if (!strchr(v, '=') || v[0] == '=')
                return fw_usage_error("invalid --label '%s' (expected KEY=VALUE)", v);
            o->labels[o->nlabels++] = v;
            break;
        case 2:
            if (strcmp(v, "folded") != 0 && strcmp(v, "json") != 0 && strcmp(v, "speedscope") != 0 &&
                strcmp(v, "svg") != 0)
                return fw_usage_error("unknown --format '%s' (expected folded, json, speedscope or svg)", v);
            o->format = v;
            break;
        default:
            o->output = v;
            break;
        }
    }
    if (o->nfiles == 0)
        return fw_usage_error("%s", "no input files");
    return 0;
}

/* Reads a whole file; on failure returns NULL with errno-style text in `err`. */
static uint8_t *fw_read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s", strerror(errno));
        return NULL;
    }
    fw_buf b = {0};
    uint8_t chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + n > FW_CONVERT_MAX_FILE) {
            snprintf(err, errlen, "file larger than %zu bytes", FW_CONVERT_MAX_FILE);
            goto fail;
        }
        if (fw_buf_append(&b, chunk, n) != 0) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    if (ferror(f)) {
        snprintf(err, errlen, "%s", strerror(errno ? errno : EIO));
        goto fail;
    }
    fclose(f);
    *len = b.len;
    if (!b.data)
        b.data = malloc(1);   /* an empty file is a valid (empty) profile */
    return b.data;
fail:
    fclose(f);
    fw_buf_free(&b);
    return NULL;
}

static fw_profile *fw_load(const char *path)
{
    char err[512];
    size_t len = 0;
    uint8_t *data = fw_read_file(path, &len, err, sizeof err);
    fw_profile *p = NULL;
    if (data)
        p = fw_pprof_decode_any(data, len, FW_CONVERT_MAX_DECOMPRESSED, NULL, err, sizeof err);
    free(data);
    if (!p)
        fprintf(stderr, "flamewatch convert: %s: %s\n", path, err);
    return p;
}

static void fw_list_types(fw_profile **profs, size_t n)
{
    const char *seen[FW_PROFILE_MAX_TYPES * 8];
    size_t nseen = 0;
    const char *sep = "";
    fputs(" (available:", stderr);
    for (size_t i = 0; i < n; i++) {
        for (size_t t = 0; t < fw_profile_type_count(profs[i]); t++) {
            const char *name = fw_profile_type(profs[i], t).type;
            int dup = 0;
            for (size_t k = 0; k < nseen && !dup; k++)
                dup = strcmp(seen[k], name) == 0;
            if (dup)
                continue;
            if (nseen < sizeof seen / sizeof seen[0])
                seen[nseen++] = name;
            fprintf(stderr, "%s %s", sep, name);
            sep = ",";
        }
    }
    fputs(nseen ? ")\n" : " none)\n", stderr);
}

/* Builds the merged single-type profile; prints the reason and returns NULL on failure. */
static fw_profile *fw_merge_all(fw_profile **profs, size_t n, const char *type)
{
    fw_sample_type sel = {NULL, NULL};
    for (size_t i = 0; i < n && !sel.unit; i++) {
        if (!type && fw_profile_type_count(profs[i]))
            type = fw_profile_type(profs[i], 0).type;
        int t = type ? fw_profile_find_type(profs[i], type) : -1;
        if (t >= 0)
            sel = fw_profile_type(profs[i], (size_t)t);
    }
    if (!sel.unit) {
        if (type)
            fprintf(stderr, "flamewatch convert: unknown sample type '%s'", type);
        else
            fputs("flamewatch convert: the files have no sample types", stderr);
        fw_list_types(profs, n);
        return NULL;
    }
    fw_profile *dst = fw_profile_new(&sel, 1);
    fw_status st = dst ? FW_OK : FW_ERR_NOMEM;
    for (size_t i = 0; i < n && st == FW_OK; i++)
        st = fw_profile_merge(dst, profs[i]);
    if (st != FW_OK) {
        fprintf(stderr, "flamewatch convert: cannot merge the profiles: %s\n",
                st == FW_ERR_NOMEM ? "out of memory" : "profile limit reached");
        fw_profile_free(dst);
        return NULL;
    }
    return dst;
}

static size_t fw_filters_resolve(const fw_profile *p, const fw_convert_opts *o, fw_filter *f)
{
    for (size_t i = 0; i < o->nlabels; i++) {
        const char *kv = o->labels[i];
        const char *eq = strchr(kv, '=');
        size_t klen = (size_t)(eq - kv);
        f[i].group = i;
        for (size_t k = 0; k < i; k++)
            if (strncmp(o->labels[k], kv, klen + 1) == 0) {
                f[i].group = f[k].group;
                break;
            }
        if (!fw_profile_find_string(p, kv, klen, &f[i].key))
            f[i].key = UINT64_MAX;
        if (!fw_profile_find_string(p, eq + 1, strlen(eq + 1), &f[i].value))
            f[i].value = UINT64_MAX;
    }
    return o->nlabels;
}

static int fw_sample_matches(const fw_sample_view *s, const fw_filter *f, size_t nf)
{
    for (size_t g = 0; g < nf; g++) {
        if (f[g].group != g)
            continue;
        int ok = 0;
        for (size_t i = g; i < nf && !ok; i++) {
            if (f[i].group != g)
                continue;
            for (size_t k = 0; k < s->nlabels && !ok; k++)
                ok = s->label_keys[k] == f[i].key && s->label_values[k] == f[i].value;
        }
        if (!ok)
            return 0;
    }
    return 1;
}

static int fw_row_by_text(const void *a, const void *b)
{
    return strcmp(((const fw_row *)a)->text, ((const fw_row *)b)->text);
}

static int fw_row_by_value(const void *a, const void *b)
{
    const fw_row *x = a, *y = b;
    if (x->value != y->value)
        return x->value > y->value ? -1 : 1;
    if (x->text && y->text)
        return strcmp(x->text, y->text);
    return x->sample < y->sample ? -1 : x->sample > y->sample;
}

static int fw_append_str(fw_buf *b, const char *s)
{
    return fw_buf_append(b, s, strlen(s));
}

/* Appends one sample's stack, root first, as "NAME (FILE:LINE);..." plus a NUL. */
static int fw_folded_stack(const fw_profile *p, const fw_sample_view *s, fw_buf *b)
{
    int rc = 0;
    for (size_t k = s->depth; k-- > 0 && rc == 0;) {
        const fw_location *l = fw_profile_get_location(p, s->location_ids[k]);
        const fw_function *fn = fw_profile_get_function(p, l->function_id);
        char line[32];
        snprintf(line, sizeof line, ":%" PRId64 ")", l->line);
        rc |= fw_append_str(b, fw_profile_string(p, fn->name));
        rc |= fw_append_str(b, " (");
        rc |= fw_append_str(b, fw_profile_string(p, fn->filename));
        rc |= fw_append_str(b, line);
        if (k)
            rc |= fw_append_str(b, ";");
    }
    return rc | fw_buf_append(b, "", 1);
}

static int fw_write_folded(FILE *out, fw_row *rows, size_t n)
{
    qsort(rows, n, sizeof *rows, fw_row_by_text);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && strcmp(rows[m - 1].text, rows[i].text) == 0) {
            int64_t sum;
            if (__builtin_add_overflow(rows[m - 1].value, rows[i].value, &sum))
                sum = rows[i].value > 0 ? INT64_MAX : INT64_MIN;
            rows[m - 1].value = sum;
        } else {
            rows[m++] = rows[i];
        }
    }
    qsort(rows, m, sizeof *rows, fw_row_by_value);
    for (size_t i = 0; i < m; i++)
        if (rows[i].value != 0)
            fprintf(out, "%s %" PRId64 "\n", rows[i].text, rows[i].value);
    return 0;
}

static void fw_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        switch (*c) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        case '\b': fputs("\\b", out); break;
        case '\f': fputs("\\f", out); break;
        default:
            if (*c < 0x20)
                fprintf(out, "\\u%04x", *c);
            else
                fputc(*c, out);
        }
    }
    fputc('"', out);
}

static void fw_json_labels(FILE *out, const fw_profile *p, const fw_sample_view *s)
{
    /* Keys sorted by name (the profile orders them by string index, which depends on
     * insertion order), so the output does not depend on how the files were written. */
    size_t order[FW_PROFILE_MAX_LABELS];
    for (size_t i = 0; i < s->nlabels; i++) {
        size_t j = i;
        while (j > 0 && strcmp(fw_profile_string(p, s->label_keys[order[j - 1]]),
                               fw_profile_string(p, s->label_keys[i])) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    fputc('{', out);
    for (size_t i = 0; i < s->nlabels; i++) {
        if (i)
            fputc(',', out);
        fw_json_string(out, fw_profile_string(p, s->label_keys[order[i]]));
        fputc(':', out);
        fw_json_string(out, fw_profile_string(p, s->label_values[order[i]]));
    }
    fputc('}', out);
}

static void fw_write_json(FILE *out, const fw_profile *p, fw_row *rows, size_t n, size_t nfiles)
{
    qsort(rows, n, sizeof *rows, fw_row_by_value);
    int64_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (__builtin_add_overflow(total, rows[i].value, &total))
            total = rows[i].value > 0 ? INT64_MAX : INT64_MIN;
    fw_sample_type t = fw_profile_type(p, 0);
    fputs("{\"type\":", out);
    fw_json_string(out, t.type);
    fputs(",\"unit\":", out);
    fw_json_string(out, t.unit);
    fprintf(out, ",\"total\":%" PRId64 ",\"files\":%zu,\"samples\":[", total, nfiles);
    for (size_t i = 0; i < n; i++) {
        fw_sample_view s;
        fw_profile_get_sample(p, rows[i].sample, &s);
        fputs(i ? ",\n{\"stack\":[" : "\n{\"stack\":[", out);
        for (size_t k = s.depth; k-- > 0;) {
            const fw_location *l = fw_profile_get_location(p, s.location_ids[k]);
            const fw_function *fn = fw_profile_get_function(p, l->function_id);
            fputs("{\"name\":", out);
            fw_json_string(out, fw_profile_string(p, fn->name));
            fputs(",\"file\":", out);
            fw_json_string(out, fw_profile_string(p, fn->filename));
            fprintf(out, ",\"line\":%" PRId64 "}%s", l->line, k ? "," : "");
        }
        fputs("],\"labels\":", out);
        fw_json_labels(out, p, &s);
        fprintf(out, ",\"value\":%" PRId64 "}", rows[i].value);
    }
    fputs("]}\n", out);
}

/* speedscope or SVG (common/fw_export.h): every selected sample, root first, grouped by its
 * thread_group label (samples without one form the group "other"). */
static int fw_write_export(FILE *out, const fw_profile *p, const fw_row *rows, size_t n,
                           const fw_convert_opts *o, int svg)
{
    fw_sample_type t = fw_profile_type(p, 0);
    fw_export *e = fw_export_new(t.type, t.unit);
    uint64_t tg_key = UINT64_MAX;
    if (!fw_profile_find_string(p, "thread_group", strlen("thread_group"), &tg_key))
        tg_key = UINT64_MAX;
    uint32_t *frames = malloc(FW_EXPORT_MAX_DEPTH * sizeof *frames);
    int rc = e && frames ? 0 : -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        fw_sample_view s;
        fw_profile_get_sample(p, rows[i].sample, &s);
        const char *group = "other";
        for (size_t k = 0; k < s.nlabels; k++)
            if (s.label_keys[k] == tg_key)
                group = fw_profile_string(p, s.label_values[k]);
        uint32_t gid;
        rc = fw_export_group_id(e, group, &gid);
        size_t depth = s.depth < FW_EXPORT_MAX_DEPTH ? s.depth : FW_EXPORT_MAX_DEPTH;
        for (size_t d = 0; d < depth && rc == 0; d++) {
            const fw_location *l = fw_profile_get_location(p, s.location_ids[s.depth - 1 - d]);
            const fw_function *fn = fw_profile_get_function(p, l->function_id);
            rc = fw_export_frame_id(e, fw_profile_string(p, fn->name), fw_profile_string(p, fn->filename),
                                    l->line, &frames[d]);
        }
        if (rc == 0)
            rc = fw_export_add(e, gid, frames, depth, rows[i].value);
    }
    /* Named after the input: its file name, or how many files were merged. */
    char name[256];
    if (o->nfiles == 1) {
        const char *slash = strrchr(o->files[0], '/');
        snprintf(name, sizeof name, "%s", slash ? slash + 1 : o->files[0]);
    } else {
        snprintf(name, sizeof name, "%zu files", o->nfiles);
    }
    fw_buf b = {0};
    if (rc == 0)
        rc = svg ? fw_export_svg(e, name, &b) : fw_export_speedscope(e, name, &b);
    if (rc == 0 && b.len && fwrite(b.data, 1, b.len, out) != b.len)
        rc = 1;
    if (rc == 0 && !svg)
        fputc('\n', out);
    fw_buf_free(&b);
    free(frames);
    fw_export_free(e);
    if (rc < 0)
        fputs("flamewatch convert: out of memory\n", stderr);
    return rc;
}

/* Selects the rows to print; folded rows also get their text in `text`. */
static int fw_collect(const fw_profile *p, const fw_convert_opts *o, int folded, fw_row **rows,
                      size_t *nrows, fw_buf *text)
{
    fw_filter *filters = calloc(o->nlabels ? o->nlabels : 1, sizeof *filters);
    size_t ns = fw_profile_sample_count(p);
    *rows = malloc((ns ? ns : 1) * sizeof **rows);
    if (!filters || !*rows) {
        free(filters);
        return -1;
    }
    size_t nf = fw_filters_resolve(p, o, filters);
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; i < ns && rc == 0; i++) {
        fw_sample_view s;
        fw_profile_get_sample(p, i, &s);
        if (s.values[0] == 0 || !fw_sample_matches(&s, filters, nf))
            continue;
        (*rows)[n] = (fw_row){NULL, text->len, i, s.values[0]};
        if (folded)
            rc = fw_folded_stack(p, &s, text);
        n++;
    }
    /* Texts were appended to a growing buffer: turn offsets into pointers only now. */
    for (size_t i = 0; i < n && folded && rc == 0; i++)
        (*rows)[i].text = (const char *)text->data + (*rows)[i].offset;
    free(filters);
    *nrows = n;
    return rc;
}

static int fw_convert_output(const fw_profile *p, const fw_convert_opts *o)
{
    int folded = !o->format || strcmp(o->format, "folded") == 0;
    fw_row *rows = NULL;
    size_t n = 0;
    fw_buf text = {0};
    if (fw_collect(p, o, folded, &rows, &n, &text) != 0) {
        fputs("flamewatch convert: out of memory\n", stderr);
        free(rows);
        fw_buf_free(&text);
        return 1;
    }
    FILE *out = o->output ? fopen(o->output, "w") : stdout;
    int status = 0;
    if (!out) {
        fprintf(stderr, "flamewatch convert: %s: %s\n", o->output, strerror(errno));
        status = 1;
    } else {
        int werr = 0;
        if (folded)
            fw_write_folded(out, rows, n);
        else if (strcmp(o->format, "json") == 0)
            fw_write_json(out, p, rows, n, o->nfiles);
        else if (fw_write_export(out, p, rows, n, o, strcmp(o->format, "svg") == 0) < 0)
            status = 1;
        werr = ferror(out) || fflush(out) != 0;
        if (out != stdout && fclose(out) != 0)
            werr = 1;
        if (werr) {
            fprintf(stderr, "flamewatch convert: %s: write error: %s\n",
                    o->output ? o->output : "standard output", strerror(errno));
            status = 1;
        }
    }
    free(rows);
    fw_buf_free(&text);
    return status;
}

int fw_cmd_convert(int argc, char **argv)
{
    fw_convert_opts o = {0};
    o.labels = calloc((size_t)argc + 1, sizeof *o.labels);
    o.files = calloc((size_t)argc + 1, sizeof *o.files);
    fw_profile **profs = calloc((size_t)argc + 1, sizeof(fw_profile *));
    int status = 1;
    if (!o.labels || !o.files || !profs) {
        fputs("flamewatch convert: out of memory\n", stderr);
        goto done;
    }
    status = fw_convert_parse(argc, argv, &o);
    if (status != 0) {
        status = status < 0 ? 0 : status;
        goto done;
    }
    status = 1;
    for (size_t i = 0; i < o.nfiles; i++)
        if (!(profs[i] = fw_load(o.files[i])))
            goto done;
    fw_profile *merged = fw_merge_all(profs, o.nfiles, o.type);
    for (size_t i = 0; i < o.nfiles; i++) {
        fw_profile_free(profs[i]);
        profs[i] = NULL;
    }
    if (merged) {
        status = fw_convert_output(merged, &o);
        fw_profile_free(merged);
    }
done:
    for (size_t i = 0; profs && i < o.nfiles; i++)
        fw_profile_free(profs[i]);
    free(profs);
    free(o.labels);
    free(o.files);
    return status;
}
