/*
 * Unit tests for server/fw_conns.c (issue 11 item 6): the per-address and total limits evict
 * the oldest connection still waiting for its request head, never a busy one; a newcomer is
 * refused only when every candidate is busy; the reaper enforces the head deadline however
 * recently bytes arrived; counts stay exact through evictions and closes. Connections are
 * socketpairs, so an eviction is seen as end-of-stream on the peer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../server/fw_conns.h"

typedef struct {
    fw_conn *conn;
    int mine, peer;              /* mine: the "server" side given to fw_conns */
} pair;

static struct sockaddr_in v4(const char *ip)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
    return a;
}

/* Admits and starts a connection from `ip`; 0 if the policy refused it. */
static int connect_from(fw_conns *c, const char *ip, pair *p)
{
    struct sockaddr_in a = v4(ip);
    if (!fw_conns_admit(c, (struct sockaddr *)&a, sizeof a))
        return 0;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    p->mine = sv[0];
    p->peer = sv[1];
    p->conn = fw_conns_started(c, p->mine, (struct sockaddr *)&a, sizeof a);
    assert_non_null(p->conn);
    return 1;
}

/* 1 if the server side was shut down (the peer reads end-of-stream). */
static int was_shut(const pair *p)
{
    char b;
    return recv(p->peer, &b, 1, MSG_DONTWAIT) == 0;
}

static void finish(fw_conns *c, pair *p)
{
    fw_conns_closed(c, p->conn);
    close(p->mine);
    close(p->peer);
}

static void test_per_address_eviction(void **state)
{
    (void)state;
    fw_conns_limits lim = {100, 2, 60};
    fw_conns *c = fw_conns_new(&lim);
    assert_non_null(c);
    pair a1, a2, a3, a4, b1;
    assert_true(connect_from(c, "127.0.0.1", &a1));
    assert_true(connect_from(c, "127.0.0.1", &a2));
    assert_true(connect_from(c, "10.0.0.2", &b1));      /* another address: its own count */
    assert_false(was_shut(&a1));
    /* The address is full: its oldest waiting connection (a1) makes room, not b1. */
    assert_true(connect_from(c, "127.0.0.1", &a3));
    assert_true(was_shut(&a1));
    assert_false(was_shut(&a2));
    assert_false(was_shut(&b1));
    /* Busy connections are never evicted: with a2 and a3 busy, a newcomer is refused. */
    fw_conns_head_done(c, a2.conn);
    fw_conns_head_done(c, a3.conn);
    assert_false(connect_from(c, "127.0.0.1", &a4));
    assert_false(was_shut(&a2));
    assert_false(was_shut(&a3));
    /* a3's request is answered and it waits again: now it can make room. */
    fw_conns_request_done(c, a3.conn);
    assert_true(connect_from(c, "127.0.0.1", &a4));
    assert_true(was_shut(&a3));
    fw_conns_stats st;
    fw_conns_get_stats(c, &st);
    assert_int_equal(st.open, 3);     /* a2, a4, b1 */
    assert_int_equal(st.evicted, 2);
    assert_int_equal(st.refused, 1);
    /* Closing an evicted connection does not count it twice. */
    finish(c, &a1);
    finish(c, &a3);
    fw_conns_get_stats(c, &st);
    assert_int_equal(st.open, 3);
    finish(c, &a2);
    finish(c, &a4);
    finish(c, &b1);
    fw_conns_get_stats(c, &st);
    assert_int_equal(st.open, 0);
    fw_conns_free(c);   /* asserts that no connection or address entry is left */
}

static void test_total_eviction_takes_the_oldest(void **state)
{
    (void)state;
    fw_conns_limits lim = {3, 100, 60};
    fw_conns *c = fw_conns_new(&lim);
    pair p[5];
    assert_true(connect_from(c, "10.0.0.1", &p[0]));
    assert_true(connect_from(c, "10.0.0.2", &p[1]));
    assert_true(connect_from(c, "10.0.0.3", &p[2]));
    fw_conns_head_done(c, p[0].conn);                   /* the oldest is busy: skipped */
    assert_true(connect_from(c, "10.0.0.4", &p[3]));
    assert_false(was_shut(&p[0]));
    assert_true(was_shut(&p[1]));
    assert_false(was_shut(&p[2]));
    fw_conns_head_done(c, p[2].conn);
    fw_conns_head_done(c, p[3].conn);
    assert_false(connect_from(c, "10.0.0.5", &p[4]));   /* all busy */
    for (int i = 0; i < 4; i++)
        finish(c, &p[i]);
    fw_conns_free(c);
}

static void test_header_deadline(void **state)
{
    (void)state;
    fw_conns_limits lim = {100, 100, 1};
    fw_conns *c = fw_conns_new(&lim);
    pair slow, busy;
    assert_true(connect_from(c, "127.0.0.1", &slow));
    assert_true(connect_from(c, "127.0.0.1", &busy));
    fw_conns_head_done(c, busy.conn);
    struct timespec ts = {0, 400L * 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_false(was_shut(&slow));
    /* Bytes from the client do not matter: only the head's completion does. */
    assert_int_equal(send(slow.peer, "x", 1, 0), 1);
    for (int i = 0; i < 30 && !was_shut(&slow); i++)
        nanosleep(&ts, NULL);
    assert_true(was_shut(&slow));
    assert_false(was_shut(&busy));
    fw_conns_stats st;
    fw_conns_get_stats(c, &st);
    assert_int_equal(st.timed_out, 1);
    assert_int_equal(st.open, 1);
    finish(c, &slow);
    finish(c, &busy);
    fw_conns_free(c);
}

static void test_ipv6_and_mapped_v4_share_an_address(void **state)
{
    (void)state;
    fw_conns_limits lim = {100, 1, 60};
    fw_conns *c = fw_conns_new(&lim);
    pair a;
    assert_true(connect_from(c, "192.0.2.7", &a));
    fw_conns_head_done(c, a.conn);
    struct sockaddr_in6 m;
    memset(&m, 0, sizeof m);
    m.sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, "::ffff:192.0.2.7", &m.sin6_addr), 1);
    assert_false(fw_conns_admit(c, (struct sockaddr *)&m, sizeof m));   /* same client, limit 1, busy */
    assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", &m.sin6_addr), 1);
    assert_true(fw_conns_admit(c, (struct sockaddr *)&m, sizeof m));
    finish(c, &a);
    fw_conns_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_address_eviction),
        cmocka_unit_test(test_total_eviction_takes_the_oldest),
        cmocka_unit_test(test_header_deadline),
        cmocka_unit_test(test_ipv6_and_mapped_v4_share_an_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
