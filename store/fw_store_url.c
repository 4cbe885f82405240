/*
 * fw_store_url.c: opening a store from a URL, the one place that knows which backends exist.
 *
 * A URL names the backend by its scheme and says where the data is: `sqlite://DIR` is the
 * embedded store in directory DIR (the file DIR/flamewatch.db; "sqlite:///var/lib/flamewatch"
 * is an absolute path, "sqlite://data" a relative one: everything after "sqlite://" is the
 * directory, byte for byte, so any directory `--data` accepts has a URL).
 * `clickhouse://[user[:password]@]host[:port]/db[?cluster=NAME]` is the ClickHouse backend
 * (store/clickhouse/, its URL is parsed by fw_ch_url.c). Unknown schemes and malformed URLs are
 * refused with a reason before anything is created, so that a typo never leaves an empty store behind.
 * Durability and retention are not URL parameters: they are fw_store_options, the same for every
 * backend, so a URL with a query string is refused rather than half-understood.
 */
#include "fw_store.h"
#include "fw_store_util.h"
#include "clickhouse/fw_store_clickhouse.h"
#include "sqlite/fw_store_sqlite.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define FW_URL_SQLITE "sqlite://"
#define FW_URL_CLICKHOUSE "clickhouse://"
#define FW_URL_PATH_MAX 4000   /* leaves room for "/flamewatch.db" and SQLite's "-wal" in 4096 */

typedef enum { FW_URL_BAD, FW_URL_SQLITE_DIR, FW_URL_CH } fw_url_kind;

/* Classifies a URL; for sqlite, *dir points into url. FW_URL_BAD comes with a reason in err. */
static fw_url_kind fw_url_parse(const char *url, const char **dir, char *err, size_t errlen)
{
    if (!url || !*url) {
        fw_store_errf(err, errlen, "empty store URL (expected sqlite://DIR, e.g. sqlite:///var/lib/flamewatch)");
        return FW_URL_BAD;
    }
    const char *sep = strstr(url, "://");
    if (!sep) {
        fw_store_errf(err, errlen, "'%s' is not a store URL (expected sqlite://DIR, e.g. sqlite:///var/lib/flamewatch)",
                      url);
        return FW_URL_BAD;
    }
    if (strncasecmp(url, FW_URL_SQLITE, strlen(FW_URL_SQLITE)) == 0) {
        const char *d = url + strlen(FW_URL_SQLITE);
        if (!*d) {
            fw_store_errf(err, errlen, "store URL '%s' names no directory (e.g. sqlite:///var/lib/flamewatch)", url);
            return FW_URL_BAD;
        }
        if (strchr(d, '?') || strchr(d, '#')) {
            fw_store_errf(err, errlen, "store URL '%s': sqlite:// takes no parameters (durability and retention "
                          "are --sync-full and --retention)", url);
            return FW_URL_BAD;
        }
        if (strlen(d) > FW_URL_PATH_MAX) {
            fw_store_errf(err, errlen, "store URL: directory path longer than %d bytes", FW_URL_PATH_MAX);
            return FW_URL_BAD;
        }
        *dir = d;
        return FW_URL_SQLITE_DIR;
    }
    if (strncasecmp(url, FW_URL_CLICKHOUSE, strlen(FW_URL_CLICKHOUSE)) == 0) {
        return fw_store_clickhouse_url_check(url, err, errlen) == 0 ? FW_URL_CH : FW_URL_BAD;
    }
    fw_store_errf(err, errlen, "store URL '%s': unknown scheme '%.*s' (supported: sqlite://DIR, clickhouse://host:8123/db)", url,
                  (int)(sep - url > 32 ? 32 : sep - url), url);
    return FW_URL_BAD;
}

int fw_store_url_check(const char *url, char *err, size_t errlen)
{
    const char *dir = NULL;
    return fw_url_parse(url, &dir, err, errlen) == FW_URL_BAD ? -1 : 0;
}

void fw_store_url_redact(const char *url, char *out, size_t outlen)
{
    if (!outlen)
        return;
    snprintf(out, outlen, "%s", url ? url : "");
    const char *sep = url ? strstr(url, "://") : NULL;
    if (!sep || strncasecmp(url, FW_URL_SQLITE, strlen(FW_URL_SQLITE)) == 0)
        return;   /* a directory may contain ':' and '@' */
    const char *auth = sep + 3, *slash = strchr(auth, '/');
    size_t alen = slash ? (size_t)(slash - auth) : strlen(auth);
    const char *at = memchr(auth, '@', alen), *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon)
        snprintf(out, outlen, "%.*s***%s", (int)(colon + 1 - url), url, at);
}

char *fw_store_url_for_dir(const char *dir)
{
    size_t n = strlen(FW_URL_SQLITE) + strlen(dir ? dir : "") + 1;
    char *u = malloc(n);
    if (u)
        snprintf(u, n, "%s%s", FW_URL_SQLITE, dir ? dir : "");
    return u;
}

fw_store_status fw_store_open(const char *url, const fw_store_options *opt, fw_store **out,
                              char *err, size_t errlen)
{
    if (!out)
        return FW_STORE_ERR_INVALID;
    *out = NULL;
    const char *dir = NULL;
    fw_url_kind kind = fw_url_parse(url, &dir, err, errlen);
    if (kind == FW_URL_CH)
        return fw_store_open_clickhouse(url, opt, out, err, errlen);
    if (kind != FW_URL_SQLITE_DIR)
        return FW_STORE_ERR_INVALID;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fw_store_errf(err, errlen, "cannot create data directory %s: %s", dir, strerror(errno));
        return FW_STORE_ERR_IO;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, FW_STORE_SQLITE_FILE);
    return fw_store_open_sqlite(path, opt, out, err, errlen);
}
