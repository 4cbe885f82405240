/*
 * fw_conns.c: the connection table behind the limits of fw_conns.h.
 *
 * Data. Every counted connection is an fw_conn; the ones waiting for a request head are also
 * on one list ordered by when they started waiting (oldest first), so the header deadline
 * and the eviction both take from the head in O(1). Per-address counts live in a chained
 * hash table of fw_addr entries, created at an address's first connection and freed at its
 * last. Evicting for the per-address limit walks the waiting list for the oldest connection
 * of that address: that happens only at the limit, and under a one-address flood the oldest
 * waiting connection is nearly always that address's.
 *
 * Counting. A connection stops counting as soon as it is shut down (evicted or timed out),
 * not when libmicrohttpd gets round to closing it, so a newcomer admitted in its place does
 * not find the slot still taken. libmicrohttpd's own connection limit is set above ours by a
 * margin that covers those not yet closed (fw_server.c).
 *
 * Admission (the accept policy) and setup (fw_conns_started) are two calls, with no lock
 * held between them; several threads accepting at once can overshoot a limit by at most one
 * connection per thread, which the margin also covers.
 *
 * One mutex guards everything; every operation is O(1) except the per-address eviction walk
 * and the reaper, which visits only connections that are past their deadline.
 */
#include "fw_conns.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FW_ADDR_BUCKETS 1024

typedef struct fw_addr {
    struct fw_addr *next;        /* hash chain */
    unsigned char key[16];       /* IPv4 as v4-mapped IPv6 */
    unsigned count;              /* counted connections */
} fw_addr;

struct fw_conn {
    fw_conn *prev, *next;        /* the waiting list, while `waiting` */
    fw_addr *addr;
    int fd;
    int waiting;                 /* waiting for a request head, on the list */
    int counted;                 /* 0 once shut down by us */
    double since;                /* when it started waiting (monotonic seconds) */
};

struct fw_conns {
    fw_conns_limits lim;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t reaper;
    int stopping;
    unsigned total;
    fw_conn *head, *tail;        /* waiting list, oldest first */
    fw_addr *buckets[FW_ADDR_BUCKETS];
    fw_conns_stats stats;
};

static double fw_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The address as 16 bytes; 0 for a family we do not limit (none today besides v4/v6). */
static int fw_addr_key(const struct sockaddr *sa, socklen_t len, unsigned char key[16])
{
    memset(key, 0, 16);
    if (sa && sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 1;
    }
    if (sa && sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return 1;
    }
    return 0;
}

static unsigned fw_addr_hash(const unsigned char key[16])
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 16777619u;
    return h & (FW_ADDR_BUCKETS - 1);
}

static fw_addr *fw_addr_find(fw_conns *c, const unsigned char key[16])
{
    for (fw_addr *a = c->buckets[fw_addr_hash(key)]; a; a = a->next)
        if (memcmp(a->key, key, 16) == 0)
            return a;
    return NULL;
}

static void fw_addr_release(fw_conns *c, fw_addr *a)
{
    assert(a->count > 0);
    if (--a->count)
        return;
    fw_addr **pp = &c->buckets[fw_addr_hash(a->key)];
    while (*pp != a)
        pp = &(*pp)->next;
    *pp = a->next;
    free(a);
}

static void fw_wait_unlink(fw_conns *c, fw_conn *k)
{
    assert(k->waiting);
    if (k->prev)
        k->prev->next = k->next;
    else
        c->head = k->next;
    if (k->next)
        k->next->prev = k->prev;
    else
        c->tail = k->prev;
    k->prev = k->next = NULL;
    k->waiting = 0;
}

static void fw_wait_append(fw_conns *c, fw_conn *k)
{
    assert(!k->waiting);
    k->since = fw_mono();
    k->prev = c->tail;
    k->next = NULL;
    if (c->tail)
        c->tail->next = k;
    else
        c->head = k;
    c->tail = k;
    k->waiting = 1;
}

/* Stops counting `k` and shuts its socket down; libmicrohttpd then sees the end of the
 * stream and closes it. Called with the lock held, which fw_conns_closed also takes before
 * libmicrohttpd closes the descriptor, so `fd` is still this connection's. */
static void fw_shut(fw_conns *c, fw_conn *k)
{
    assert(k->counted);
    if (k->waiting)
        fw_wait_unlink(c, k);
    k->counted = 0;
    c->total--;
    if (k->addr) {
        fw_addr_release(c, k->addr);
        k->addr = NULL;
    }
    (void)shutdown(k->fd, SHUT_RDWR);
}

int fw_conns_admit(fw_conns *c, const struct sockaddr *addr, socklen_t len)
{
    unsigned char key[16];
    int keyed = fw_addr_key(addr, len, key);
    int ok = 1;
    pthread_mutex_lock(&c->mu);
    fw_addr *a = keyed ? fw_addr_find(c, key) : NULL;
    if (a && a->count >= c->lim.max_per_addr) {
        fw_conn *victim = c->head;
        while (victim && victim->addr != a)
            victim = victim->next;
        if (victim) {
            fw_shut(c, victim);
            c->stats.evicted++;
        } else {
            ok = 0;
        }
    }
    if (ok && c->total >= c->lim.max_total) {
        if (c->head) {
            fw_shut(c, c->head);
            c->stats.evicted++;
        } else {
            ok = 0;
        }
    }
    if (!ok)
        c->stats.refused++;
    pthread_mutex_unlock(&c->mu);
    return ok;
}

fw_conn *fw_conns_started(fw_conns *c, int fd, const struct sockaddr *addr, socklen_t len)
{
    fw_conn *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->fd = fd;
    unsigned char key[16];
    int keyed = fw_addr_key(addr, len, key);
    pthread_mutex_lock(&c->mu);
    if (keyed) {
        fw_addr *a = fw_addr_find(c, key);
        if (!a) {
            a = calloc(1, sizeof *a);
            if (!a) {
                pthread_mutex_unlock(&c->mu);
                free(k);
                return NULL;
            }
            memcpy(a->key, key, 16);
            unsigned b = fw_addr_hash(key);
            a->next = c->buckets[b];
            c->buckets[b] = a;
        }
        a->count++;
        k->addr = a;
    }
    k->counted = 1;
    c->total++;
    fw_wait_append(c, k);
    pthread_mutex_unlock(&c->mu);
    return k;
}

void fw_conns_head_done(fw_conns *c, fw_conn *k)
{
    pthread_mutex_lock(&c->mu);
    if (k->waiting)
        fw_wait_unlink(c, k);
    pthread_mutex_unlock(&c->mu);
}

void fw_conns_request_done(fw_conns *c, fw_conn *k)
{
    pthread_mutex_lock(&c->mu);
    if (k->counted && !k->waiting)
        fw_wait_append(c, k);
    pthread_mutex_unlock(&c->mu);
}

void fw_conns_closed(fw_conns *c, fw_conn *k)
{
    pthread_mutex_lock(&c->mu);
    if (k->counted) {
        if (k->waiting)
            fw_wait_unlink(c, k);
        c->total--;
        if (k->addr)
            fw_addr_release(c, k->addr);
    }
    pthread_mutex_unlock(&c->mu);
    free(k);
}

void fw_conns_get_stats(fw_conns *c, fw_conns_stats *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->stats;
    out->open = c->total;
    pthread_mutex_unlock(&c->mu);
}

/* The reaper: every quarter of the deadline (at most 1 s), shuts down the connections that
 * have been waiting for their request head longer than the deadline. The list is ordered by
 * waiting time, so it stops at the first one still in time. */
static void *fw_reaper_main(void *arg)
{
    fw_conns *c = arg;
    double period = c->lim.header_timeout_s / 4.0;
    if (period > 1.0)
        period = 1.0;
    if (period < 0.1)
        period = 0.1;
    pthread_mutex_lock(&c->mu);
    while (!c->stopping) {
        double now = fw_mono();
        while (c->head && now - c->head->since >= (double)c->lim.header_timeout_s) {
            fw_shut(c, c->head);
            c->stats.timed_out++;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        long ns = until.tv_nsec + (long)(period * 1e9);
        until.tv_sec += ns / 1000000000L;
        until.tv_nsec = ns % 1000000000L;
        while (!c->stopping && pthread_cond_timedwait(&c->cv, &c->mu, &until) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

fw_conns *fw_conns_new(const fw_conns_limits *limits)
{
    assert(limits->max_total > 0 && limits->max_per_addr > 0 && limits->header_timeout_s > 0);
    fw_conns *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->lim = *limits;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (pthread_create(&c->reaper, NULL, fw_reaper_main, c) != 0) {
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        free(c);
        return NULL;
    }
    return c;
}

void fw_conns_free(fw_conns *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->reaper, NULL);
    /* The daemon is stopped, so every connection was reported closed. */
    assert(c->total == 0 && !c->head);
    for (size_t i = 0; i < FW_ADDR_BUCKETS; i++)
        assert(!c->buckets[i]);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}
