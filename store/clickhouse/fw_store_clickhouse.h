/*
 * fw_store_clickhouse.h: the ClickHouse backend's entry point (fw_store_open calls it for
 * clickhouse:// URLs). Callers other than tests and fw_store_url.c open stores by URL.
 */
#ifndef FW_STORE_CLICKHOUSE_H
#define FW_STORE_CLICKHOUSE_H

#include "../fw_store.h"

/* Opens the ClickHouse store a clickhouse:// URL names, creating the database and its tables
 * when missing. On failure *out is NULL, with a status and a one-line reason in err
 * (FW_STORE_ERR_IO "ClickHouse unreachable at host:port" when nothing answers). */
fw_store_status fw_store_open_clickhouse(const char *url, const fw_store_options *opt, fw_store **out,
                                         char *err, size_t errlen);
/* Checks a clickhouse:// URL without connecting: 0, or -1 with the reason. */
int fw_store_clickhouse_url_check(const char *url, char *err, size_t errlen);

#endif
