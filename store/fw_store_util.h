/*
 * fw_store_util.h: small helpers shared by the store's modules, backend-neutral (internal to store/).
 *
 * Promises: fw_store_errf writes a one-line reason when err is not NULL; fw_store_strdup copies
 * NULL as ""; fw_sat_add never wraps (non-negative sums stick at INT64_MAX: a total that large is
 * already meaningless, and a sum that fails would stop roll-ups and queries for good); fw_floor
 * rounds towards minus infinity, as bucket starts must for times before 1970 as well.
 */
#ifndef FW_STORE_UTIL_H
#define FW_STORE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* "No id": an unresolved tree node, a fold, a label set not started yet. */
#define FW_STORE_NONE UINT32_MAX

void fw_store_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
char *fw_store_strdup(const char *s);

static inline int64_t fw_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t fw_floor(int64_t t, int64_t r)
{
    int64_t q = t / r;
    if (t % r < 0)
        q--;
    return q * r;
}

static inline int64_t fw_sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

#endif
