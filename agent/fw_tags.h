/*
 * fw_tags: dynamic tags, `with flamewatch.tag(endpoint="/checkout"):`.
 *
 * A tag set is an interned, immutable list of (key, value) pairs with a small id (1..N; 0 means
 * "no dynamic tags"). The Python layer keeps the current set in a contextvars.ContextVar whose
 * value is a flamewatch._agent.TagSet object; the sampler finds that object in the sampled
 * thread's current context without the GIL (fw_py_read_context_value), checks its type and
 * reads its id; the worker turns the id back into labels.
 */
#ifndef FW_TAGS_H
#define FW_TAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FW_TAGSETS_MAX 4096    /* distinct tag sets per process; more are left untagged */
#define FW_TAGSET_PAIRS_MAX 16 /* pairs in one set */

typedef struct {
    size_t n;
    const char *key[FW_TAGSET_PAIRS_MAX];
    const char *value[FW_TAGSET_PAIRS_MAX];
} fw_tagset_view;

/* Without the GIL: the tag-set id current in `context` (fw_py_thread.context), 0 if none. */
uint32_t fw_tags_of_context(uintptr_t context);
/* Without the GIL: false until the program first opens a dynamic tag. Until then every
 * context's tag set is 0, and the sampler need not make a stack and a context agree. */
bool fw_tags_in_use(void);
/* Without the GIL: the pairs of set `id`; false for 0 or an unknown id. Sets are never freed
 * or changed once published, so the view stays valid for the life of the process. */
bool fw_tags_get(uint32_t id, fw_tagset_view *out);

/* With the GIL, from PyInit__agent: adds TagSet, tagset(), set_tag_var(), _current_tag_id(). */
struct _object;
int fw_tags_add_to_module(struct _object *module);

#endif
