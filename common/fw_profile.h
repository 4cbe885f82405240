/*
 * fw_profile: the in-memory profile shared by the agent, the CLI and the server.
 *
 * A profile is what one pprof file holds: a set of sample types (cpu/nanoseconds, ...),
 * and samples, each a stack of locations (leaf first) with string labels and one value
 * per sample type. Everything repeated is stored once:
 *   - strings are interned (index 0 is always ""), so a function name costs one copy;
 *   - functions (name, filename, start_line) and locations (function, line) are deduplicated;
 *   - samples with the same stack and the same label set are merged by adding values.
 * Ids handed out (string, function, location) are 1-based for functions and locations, as in
 * pprof, and stay valid for the life of the profile.
 *
 * Limits: every table has a hard cap (FW_PROFILE_MAX_*). An insert past a cap fails with
 * FW_ERR_LIMIT and leaves the profile unchanged, so a caller can count what it dropped and
 * memory stays bounded. The profile is not thread safe; its owner serializes access.
 */
#ifndef FW_PROFILE_H
#define FW_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#define FW_PROFILE_MAX_TYPES      8
#define FW_PROFILE_MAX_STRINGS    (1u << 22)
#define FW_PROFILE_MAX_FUNCTIONS  (1u << 21)
#define FW_PROFILE_MAX_LOCATIONS  (1u << 22)
#define FW_PROFILE_MAX_SAMPLES    (1u << 22)
#define FW_PROFILE_MAX_DEPTH      1024  /* frames per sample */
#define FW_PROFILE_MAX_LABELS     64    /* labels per sample */
#define FW_PROFILE_MAX_STRING_LEN (1u << 20)  /* bytes per interned string */

typedef enum {
    FW_OK = 0,
    FW_ERR_NOMEM = -1,
    FW_ERR_LIMIT = -2,
    FW_ERR_INVALID = -3,
} fw_status;

typedef struct fw_profile fw_profile;

typedef struct {
    const char *type;   /* e.g. "cpu" */
    const char *unit;   /* e.g. "nanoseconds" */
} fw_sample_type;

typedef struct {
    const char *key;
    const char *value;
} fw_label;

typedef struct {
    uint64_t name;       /* string index */
    uint64_t filename;   /* string index */
    int64_t start_line;
} fw_function;

typedef struct {
    uint64_t function_id;
    int64_t line;
} fw_location;

/* A sample as stored: views into the profile's own memory, valid until the next insert. */
typedef struct {
    const uint64_t *location_ids;  /* leaf first */
    size_t depth;
    const int64_t *values;         /* one per sample type */
    const uint64_t *label_keys;    /* string indexes */
    const uint64_t *label_values;  /* string indexes */
    size_t nlabels;
} fw_sample_view;

fw_profile *fw_profile_new(const fw_sample_type *types, size_t ntypes);
void fw_profile_free(fw_profile *p);

size_t fw_profile_type_count(const fw_profile *p);
fw_sample_type fw_profile_type(const fw_profile *p, size_t i);
/* Index of the sample type named `type`, or -1. */
int fw_profile_find_type(const fw_profile *p, const char *type);

/* Interns a UTF-8 string of `len` bytes; *out receives its index. */
fw_status fw_profile_intern(fw_profile *p, const char *s, size_t len, uint64_t *out);
const char *fw_profile_string(const fw_profile *p, uint64_t index); /* NULL if out of range */
size_t fw_profile_string_count(const fw_profile *p);

fw_status fw_profile_function(fw_profile *p, const char *name, const char *filename,
                              int64_t start_line, uint64_t *out_id);
fw_status fw_profile_location(fw_profile *p, uint64_t function_id, int64_t line, uint64_t *out_id);
const fw_function *fw_profile_get_function(const fw_profile *p, uint64_t id); /* NULL if unknown */
const fw_location *fw_profile_get_location(const fw_profile *p, uint64_t id); /* NULL if unknown */
size_t fw_profile_function_count(const fw_profile *p);
size_t fw_profile_location_count(const fw_profile *p);

/* Adds values[ntypes] to the sample (stack, labels), creating it if new.
 * Labels are matched as a set: order does not matter. */
fw_status fw_profile_add(fw_profile *p, const uint64_t *location_ids, size_t depth,
                         const fw_label *labels, size_t nlabels, const int64_t *values);

size_t fw_profile_sample_count(const fw_profile *p);
fw_status fw_profile_get_sample(const fw_profile *p, size_t i, fw_sample_view *out);

/* Additions for callers that already hold string indexes (the pprof decoder, merge, the
 * server): they skip hashing strings again. Same contracts as the calls above. */
/* 1 and *out = index when `s` is already interned, else 0; never changes the profile. */
int fw_profile_find_string(const fw_profile *p, const char *s, size_t len, uint64_t *out);
fw_status fw_profile_function_indexed(fw_profile *p, uint64_t name, uint64_t filename,
                                      int64_t start_line, uint64_t *out_id);
fw_status fw_profile_add_indexed(fw_profile *p, const uint64_t *location_ids, size_t depth,
                                 const uint64_t *label_keys, const uint64_t *label_values,
                                 size_t nlabels, const int64_t *values);

/* Profile-wide metadata (pprof fields). */
void fw_profile_set_time(fw_profile *p, int64_t time_nanos, int64_t duration_nanos);
void fw_profile_set_period(fw_profile *p, const char *type, const char *unit, int64_t period);
int64_t fw_profile_time_nanos(const fw_profile *p);
int64_t fw_profile_duration_nanos(const fw_profile *p);
int64_t fw_profile_period(const fw_profile *p);
/* Period type as string indexes (0,0 when unset). */
void fw_profile_period_type(const fw_profile *p, uint64_t *type, uint64_t *unit);
fw_status fw_profile_add_comment(fw_profile *p, const char *comment);
size_t fw_profile_comment_count(const fw_profile *p);
const char *fw_profile_comment(const fw_profile *p, size_t i);

/* Adds every sample of `src` into `dst`, remapping strings, functions and locations.
 * Sample types are matched by (type, unit); values of types dst lacks are dropped. */
fw_status fw_profile_merge(fw_profile *dst, const fw_profile *src);

#endif
