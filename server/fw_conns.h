/*
 * fw_conns: connection limits for the HTTP server, so that slow or numerous clients cannot
 * keep health checks and agents out (issue 11 item 6).
 *
 * Three limits, enforced around libmicrohttpd (which only knows a global count and an idle
 * timeout that every received byte resets):
 *   - a total number of connections, kept below the file-descriptor limit;
 *   - a number of connections per client address;
 *   - a header deadline: a connection must deliver a complete request head within N seconds
 *     of connecting or of its previous response, however slowly it trickles bytes; a reaper
 *     thread shuts down the ones that do not.
 * The reserve: when a new connection would exceed a limit, the oldest connection of that
 * address (per-address limit) or of anyone (total limit) that is still waiting for its request
 * head is shut down to make room, and the newcomer is admitted. A client that sends its
 * request at once (a health check, an agent) is therefore always served, whatever number of
 * slow connections its own or any other address holds; a connection that is busy with a
 * request (reading its body, or being answered) is never evicted, so when every connection
 * of an address is busy the newcomer is refused instead.
 *
 * Connections are shut down with shutdown(2), never closed: libmicrohttpd owns the descriptor
 * and closes it after it reports the close (fw_conns_closed), which takes the same lock, so a
 * descriptor is never shut down after it could have been reused.
 */
#ifndef FW_CONNS_H
#define FW_CONNS_H

#include <stdint.h>
#include <sys/socket.h>

typedef struct fw_conns fw_conns;
typedef struct fw_conn fw_conn;

typedef struct {
    unsigned max_total;          /* connections admitted at once */
    unsigned max_per_addr;       /* connections per client address */
    unsigned header_timeout_s;   /* seconds to deliver a request head */
} fw_conns_limits;

typedef struct {
    uint64_t open;               /* connections currently counted */
    uint64_t evicted;            /* shut down to make room for a newer one */
    uint64_t timed_out;          /* shut down by the header deadline */
    uint64_t refused;            /* not admitted: every connection of the address/server busy */
} fw_conns_stats;

/* Starts the reaper thread. NULL when out of memory or threads. */
fw_conns *fw_conns_new(const fw_conns_limits *limits);
/* Stops the reaper; call after the HTTP daemon is stopped (no connection left). */
void fw_conns_free(fw_conns *c);

/* Accept policy: 1 to admit a connection from `addr` (possibly evicting an older, waiting
 * one to make room), 0 to refuse it. */
int fw_conns_admit(fw_conns *c, const struct sockaddr *addr, socklen_t len);
/* A connection was set up (descriptor `fd`): it starts waiting for its request head. NULL
 * when out of memory (the connection is then simply not limited). */
fw_conn *fw_conns_started(fw_conns *c, int fd, const struct sockaddr *addr, socklen_t len);
/* Its request head arrived: the header deadline no longer applies. */
void fw_conns_head_done(fw_conns *c, fw_conn *conn);
/* Its response was sent and it stays open: it waits for the next request head. */
void fw_conns_request_done(fw_conns *c, fw_conn *conn);
/* It is closed (conn is freed). */
void fw_conns_closed(fw_conns *c, fw_conn *conn);

void fw_conns_get_stats(fw_conns *c, fw_conns_stats *out);

#endif
