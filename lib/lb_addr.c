// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* lb_addr.c - see lb_addr.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "lb_addr.h"

int lb_parse_ip(const char *s, __u8 addr[16], __u8 *family, char *msg,
		size_t msglen)
{
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, s, addr) == 1) {
		*family = LB_AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, addr) == 1) {
		*family = LB_AF_INET6;
		return 0;
	}
	memset(addr, 0, 16);
	snprintf(msg, msglen, "'%s' is not an IPv4 or IPv6 address", s);
	return -EINVAL;
}

int lb_parse_u32(const char *s, __u32 min, __u32 max, __u32 *out)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int lb_parse_vip(const char *s, struct lb_vip_key *key, char *msg,
		 size_t msglen)
{
	char buf[128], *host, *port, *proto;
	__u32 p;

	memset(key, 0, sizeof(*key));
	if (strlen(s) >= sizeof(buf))
		goto bad;
	strcpy(buf, s);
	proto = strrchr(buf, '/');
	if (!proto)
		goto bad;
	*proto++ = 0;
	if (!strcmp(proto, "tcp"))
		key->proto = IPPROTO_TCP;
	else if (!strcmp(proto, "udp"))
		key->proto = IPPROTO_UDP;
	else
		goto bad;
	if (buf[0] == '[') {
		host = buf + 1;
		port = strstr(host, "]:");
		if (!port)
			goto bad;
		*port = 0;
		port += 2;
	} else {
		host = buf;
		port = strrchr(buf, ':');
		if (!port || strchr(host, ':') != port)
			goto bad; /* IPv6 needs brackets */
		*port++ = 0;
	}
	if (lb_parse_u32(port, 1, 65535, &p))
		goto bad;
	if (lb_parse_ip(host, key->addr, &key->family, msg, msglen))
		return -EINVAL;
	if (buf[0] == '[' && key->family != LB_AF_INET6)
		goto bad;
	key->port = htons(p);
	return 0;
bad:
	memset(key, 0, sizeof(*key));
	snprintf(msg, msglen,
		 "'%s' is not a VIP; expected ADDR:PORT/tcp|udp, e.g. "
		 "198.18.0.10:80/tcp or [2001:db8::10]:8000/tcp", s);
	return -EINVAL;
}

const char *lb_fmt_ip(const __u8 addr[16], __u8 family, char *buf, size_t len)
{
	if (!inet_ntop(family == LB_AF_INET6 ? AF_INET6 : AF_INET, addr, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

const char *lb_fmt_vip(const struct lb_vip_key *key, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	const char *proto = key->proto == IPPROTO_TCP ? "tcp" :
			    key->proto == IPPROTO_UDP ? "udp" : "?";

	lb_fmt_ip(key->addr, key->family, ip, sizeof(ip));
	if (key->family == LB_AF_INET6)
		snprintf(buf, len, "[%s]:%u/%s", ip, ntohs(key->port), proto);
	else
		snprintf(buf, len, "%s:%u/%s", ip, ntohs(key->port), proto);
	return buf;
}
