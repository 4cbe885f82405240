/*
 * fw_host: the host's name and primary address, the `hostname` and `host_ip` labels of every
 * profile. Read once per start, never per profile: the route lookup costs a socket.
 *
 * The address is the one the kernel would use for an outgoing route (a UDP socket "connected"
 * to a public address sends nothing), else the first usable interface address, IPv4 before IPv6,
 * else 127.0.0.1.
 */
#include "fw_host.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static bool fw_ip_usable(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        uint32_t addr = ntohl(in->sin_addr.s_addr);
        return addr != 0 && (addr >> 24) != 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        return !IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) && !IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr) &&
               !IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr);
    }
    return false;
}

static bool fw_ip_format(const struct sockaddr *sa, char *out, size_t cap)
{
    const void *addr = sa->sa_family == AF_INET
        ? (const void *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr
        : (const void *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    return inet_ntop(sa->sa_family, addr, out, (socklen_t)cap) != NULL;
}

/* The source address the kernel would use towards a public address. connect() on a UDP socket
 * only chooses a route; nothing is sent. */
static bool fw_ip_by_route(int family, char *out, size_t cap)
{
    struct sockaddr_storage dst = {0}, src = {0};
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)(void *)&dst;
        in->sin_family = AF_INET;
        in->sin_port = htons(53);
        inet_pton(AF_INET, "8.8.8.8", &in->sin_addr);
        len = sizeof *in;
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)&dst;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(53);
        inet_pton(AF_INET6, "2001:4860:4860::8888", &in6->sin6_addr);
        len = sizeof *in6;
    }
    int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool ok = connect(fd, (struct sockaddr *)&dst, len) == 0;
    socklen_t slen = sizeof src;
    ok = ok && getsockname(fd, (struct sockaddr *)&src, &slen) == 0 &&
         fw_ip_usable((struct sockaddr *)&src) && fw_ip_format((struct sockaddr *)&src, out, cap);
    close(fd);
    return ok;
}

static bool fw_ip_by_interface(int family, char *out, size_t cap)
{
    struct ifaddrs *list = NULL;
    bool ok = false;
    if (getifaddrs(&list) != 0)
        return false;
    for (struct ifaddrs *i = list; i && !ok; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != family || (i->ifa_flags & IFF_LOOPBACK) ||
            !(i->ifa_flags & IFF_UP))
            continue;
        ok = fw_ip_usable(i->ifa_addr) && fw_ip_format(i->ifa_addr, out, cap);
    }
    freeifaddrs(list);
    return ok;
}

void fw_host_info(char *hostname, size_t hostlen, char *ip, size_t iplen)
{
    if (gethostname(hostname, hostlen) != 0)
        snprintf(hostname, hostlen, "unknown");
    hostname[hostlen - 1] = '\0';
    if (fw_ip_by_route(AF_INET, ip, iplen) || fw_ip_by_interface(AF_INET, ip, iplen) ||
        fw_ip_by_route(AF_INET6, ip, iplen) || fw_ip_by_interface(AF_INET6, ip, iplen))
        return;
    snprintf(ip, iplen, "127.0.0.1");
}
