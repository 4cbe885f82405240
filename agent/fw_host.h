/*
 * fw_host: the host's name and primary address (the labels of every profile).
 */
#ifndef FW_HOST_H
#define FW_HOST_H

#include <stddef.h>

/* The host's name and primary non-loopback address (IPv4, else IPv6, else 127.0.0.1). */
void fw_host_info(char *hostname, size_t hostlen, char *ip, size_t iplen);

#endif
