/*
 * fw_ch_url.c: clickhouse:// URLs.
 *
 *   clickhouse://[user[:password]@]host[:port][,host[:port]...]/database[?cluster=NAME]
 *
 * The port defaults to 8123 (ClickHouse's HTTP interface). Several hosts name nodes of one
 * cluster (fw_ch_store.c: failover, and DDL per node where ON CLUSTER is unavailable). The database and cluster names become
 * identifiers in DDL, so they must be plain identifiers ([A-Za-z_][A-Za-z0-9_]*) rather than be
 * quoted: a URL cannot then smuggle SQL into CREATE statements. User and password are taken as
 * written (no percent-decoding) and sent as X-ClickHouse-User / X-ClickHouse-Key headers, so they
 * never appear in a query string or a log line. Anything the parser does not know is refused.
 */
#include "fw_ch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int fw_ch_ident_ok(const char *s)
{
    if (!s || !*s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

static int fw_ch_copy(char *dst, size_t cap, const char *src, size_t n)
{
    if (n >= cap)
        return -1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

int fw_ch_url_parse(const char *url, fw_ch_url *u, char *err, size_t errlen)
{
    static const char scheme[] = "clickhouse://";
    memset(u, 0, sizeof *u);
    if (!url || strncasecmp(url, scheme, sizeof scheme - 1) != 0) {
        fw_store_errf(err, errlen, "'%s' is not a clickhouse:// URL", url ? url : "");
        return -1;
    }
    const char *p = url + sizeof scheme - 1;
    const char *slash = strchr(p, '/');
    if (!slash) {
        fw_store_errf(err, errlen, "store URL '%s' names no database (clickhouse://host:8123/DATABASE)", url);
        return -1;
    }
    /* authority: [user[:password]@]host[:port] */
    const char *at = memchr(p, '@', (size_t)(slash - p));
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *ue = colon ? colon : at;
        if (ue == p || fw_ch_copy(u->user, sizeof u->user, p, (size_t)(ue - p)) != 0 ||
            (colon && fw_ch_copy(u->password, sizeof u->password, colon + 1, (size_t)(at - colon - 1)) != 0)) {
            fw_store_errf(err, errlen, "store URL: bad user or password (at most %zu bytes each)", sizeof u->user - 1);
            return -1;
        }
        p = at + 1;
    }
    /* host[:port][,host[:port]...] */
    while (p < slash) {
        const char *comma = memchr(p, ',', (size_t)(slash - p));
        const char *end = comma ? comma : slash;
        if (u->nhosts == FW_CH_MAX_HOSTS) {
            fw_store_errf(err, errlen, "store URL '%s': at most %d hosts", url, FW_CH_MAX_HOSTS);
            return -1;
        }
        char *host = u->hosts[u->nhosts];
        const char *colon = memchr(p, ':', (size_t)(end - p));
        const char *he = colon ? colon : end;
        if (he == p || fw_ch_copy(host, sizeof u->hosts[0], p, (size_t)(he - p)) != 0) {
            fw_store_errf(err, errlen, "store URL '%s': bad or missing host", url);
            return -1;
        }
        for (const char *h = host; *h; h++)
            if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') || (*h >= '0' && *h <= '9') || *h == '.' ||
                  *h == '-' || *h == '_')) {
                fw_store_errf(err, errlen, "store URL '%s': bad host name '%s'", url, host);
                return -1;
            }
        int port = 8123;
        if (colon) {
            char *e;
            long v = strtol(colon + 1, &e, 10);
            if (e != end || colon + 1 == end || v < 1 || v > 65535) {
                fw_store_errf(err, errlen, "store URL '%s': bad port (1-65535)", url);
                return -1;
            }
            port = (int)v;
        }
        u->ports[u->nhosts++] = port;
        p = comma ? comma + 1 : slash;
        if (comma && p == slash) {
            fw_store_errf(err, errlen, "store URL '%s': bad or missing host", url);
            return -1;
        }
    }
    if (u->nhosts == 0) {
        fw_store_errf(err, errlen, "store URL '%s': bad or missing host", url);
        return -1;
    }
    snprintf(u->host, sizeof u->host, "%s", u->hosts[0]);
    u->port = u->ports[0];
    const char *db = slash + 1;
    const char *q = strchr(db, '?');
    size_t dn = q ? (size_t)(q - db) : strlen(db);
    if (fw_ch_copy(u->db, sizeof u->db, db, dn) != 0 || !fw_ch_ident_ok(u->db)) {
        fw_store_errf(err, errlen, "store URL '%s': the database must be a plain name ([A-Za-z_][A-Za-z0-9_]*, "
                      "at most %zu bytes)", url, sizeof u->db - 1);
        return -1;
    }
    if (q) {
        static const char cl[] = "cluster=";
        if (strncmp(q + 1, cl, sizeof cl - 1) != 0) {
            fw_store_errf(err, errlen, "store URL '%s': the only parameter is ?cluster=NAME", url);
            return -1;
        }
        const char *name = q + 1 + sizeof cl - 1;
        if (fw_ch_copy(u->cluster, sizeof u->cluster, name, strlen(name)) != 0 || !fw_ch_ident_ok(u->cluster)) {
            fw_store_errf(err, errlen, "store URL '%s': the cluster must be a plain name ([A-Za-z_][A-Za-z0-9_]*)",
                          url);
            return -1;
        }
    }
    return 0;
}
