/*
 * fw_store_validate.c: what every backend checks before it writes an upload.
 *
 * Everything that can be refused is refused here, with a precise reason, before a transaction
 * starts: app names, label keys, sample type names, frames that point at no location, negative
 * values and the value limits of fw_store.h. A backend's write phase can then fail only on I/O,
 * and "nothing partial is stored" is a property of its transaction, not of careful unwinding.
 */
#include "fw_store_validate.h"
#include "fw_store_util.h"

#include <stdio.h>

static int fw_store_bad_text(const char *t, size_t maxlen)
{
    if (!t)
        return 1;
    size_t n = 0;
    for (; t[n]; n++)
        if ((unsigned char)t[n] < 0x20 || n >= maxlen)
            return 1;
    return 0;
}

/* The value limits of fw_store.h: one value, and the running sum of its type over the upload
 * (*sum). Bounding them here, at the door, is what keeps the sums of roll-ups and queries far
 * from 2^63; the sums saturate as well, for files written before these limits. */
static int fw_store_value_limits(const fw_profile *p, size_t type, int64_t v, int64_t *sum, size_t sample,
                              char *err, size_t errlen)
{
    const char *name = fw_profile_type(p, type).type;
    if (v > FW_STORE_MAX_SAMPLE_VALUE) {
        fw_store_errf(err, errlen, "sample %zu: %s value %lld is over the limit of %lld per sample (2^46; see Limits in docs/API.md)",
                  sample, name ? name : "?", (long long)v, (long long)FW_STORE_MAX_SAMPLE_VALUE);
        return -1;
    }
    *sum += v;   /* both terms are at most 2^48 here: no overflow */
    if (*sum > FW_STORE_MAX_UPLOAD_VALUE) {
        fw_store_errf(err, errlen, "%s values add up to more than the limit of %lld per upload (2^48; see Limits in docs/API.md)",
                  name ? name : "?", (long long)FW_STORE_MAX_UPLOAD_VALUE);
        return -1;
    }
    return 0;
}

/* Checks everything that can be checked before writing, so that bad input is refused with a
 * precise reason and the write phase fails only on I/O. */
fw_store_status fw_store_validate_ingest(const fw_store_ingest_req *req, char *err, size_t errlen)
{
    const fw_profile *p = req->profile;
    if (!*req->app || fw_store_bad_text(req->app, 129)) {
        fw_store_errf(err, errlen, "app name must be 1-128 printable bytes");
        return FW_STORE_ERR_INVALID;
    }
    for (size_t i = 0; i < req->nlabels; i++)
        if (!req->labels[i].key || !*req->labels[i].key || !req->labels[i].value) {
            fw_store_errf(err, errlen, "label %zu: empty key", i);
            return FW_STORE_ERR_INVALID;
        }
    size_t nt = fw_profile_type_count(p);
    if (nt == 0) {
        fw_store_errf(err, errlen, "profile has no sample types");
        return FW_STORE_ERR_INVALID;
    }
    for (size_t i = 0; i < nt; i++) {
        fw_sample_type ty = fw_profile_type(p, i);
        if (!ty.type || !*ty.type || fw_store_bad_text(ty.type, 129)) {
            fw_store_errf(err, errlen, "sample type %zu: empty or unprintable name", i);
            return FW_STORE_ERR_INVALID;
        }
    }
    /* Locations are checked once each (ids are 1..nloc); a frame then only needs a range check. */
    size_t nloc = fw_profile_location_count(p);
    int bad_loc = 0;
    for (size_t l = 1; l <= nloc && !bad_loc; l++) {
        const fw_location *loc = fw_profile_get_location(p, l);
        const fw_function *fn = loc ? fw_profile_get_function(p, loc->function_id) : NULL;
        bad_loc = !fn || !fw_profile_string(p, fn->name) || !fw_profile_string(p, fn->filename);
    }
    size_t ns = fw_profile_sample_count(p);
    int64_t sums[FW_PROFILE_MAX_TYPES] = {0};
    for (size_t i = 0; i < ns; i++) {
        fw_sample_view v;
        if (fw_profile_get_sample(p, i, &v) != FW_OK) {
            fw_store_errf(err, errlen, "sample %zu unreadable", i);
            return FW_STORE_ERR_INVALID;
        }
        for (size_t j = 0; j < nt; j++)
            if (v.values[j] < 0 || fw_store_value_limits(p, j, v.values[j], &sums[j < FW_PROFILE_MAX_TYPES ? j : 0],
                                                      i, err, errlen) != 0) {
                if (v.values[j] < 0)
                    fw_store_errf(err, errlen, "sample %zu: negative value %lld", i, (long long)v.values[j]);
                return FW_STORE_ERR_INVALID;
            }
        for (size_t j = 0; j < v.depth; j++) {
            uint64_t lid = v.location_ids[j];
            int bad = lid < 1 || lid > nloc;
            if (!bad && bad_loc) {   /* slow path, only to name the frame in the error */
                const fw_location *loc = fw_profile_get_location(p, lid);
                const fw_function *fn = loc ? fw_profile_get_function(p, loc->function_id) : NULL;
                bad = !fn || !fw_profile_string(p, fn->name) || !fw_profile_string(p, fn->filename);
            }
            if (bad) {
                fw_store_errf(err, errlen, "sample %zu: frame %zu refers to an unknown location", i, j);
                return FW_STORE_ERR_INVALID;
            }
        }
        for (size_t j = 0; j < v.nlabels; j++) {
            const char *k = fw_profile_string(p, v.label_keys[j]);
            if (!k || !*k || !fw_profile_string(p, v.label_values[j])) {
                fw_store_errf(err, errlen, "sample %zu: label %zu has no key", i, j);
                return FW_STORE_ERR_INVALID;
            }
        }
    }
    return FW_STORE_OK;
}
