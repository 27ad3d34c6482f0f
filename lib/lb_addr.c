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

int lb_parse_duration_ns(const char *s, __u64 *out_ns)
{
	static const struct {
		const char *suffix;
		unsigned long long ns;
	} units[] = {
		{ "ms", 1000000ull }, { "s", 1000000000ull }, { "", 1000000000ull },
		{ "m", 60000000000ull }, { "h", 3600000000000ull },
		{ "d", 86400000000000ull },
	};
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix))
			continue;
		if (!v || v > LB_DURATION_MAX_NS / units[i].ns)
			return -EINVAL;
		*out_ns = v * units[i].ns;
		return 0;
	}
	return -EINVAL;
}

/*
 * The one host:port splitter: "ADDR:PORT" or "[V6ADDR]:PORT". Fills why
 * (without the input, the callers quote it) on failure.
 */
static int hostport(const char *s, __u8 addr[16], __u8 *family, __u16 *port,
		    char *why, size_t whylen)
{
	char buf[128], *host, *ps;
	__u32 p;

	if (strlen(s) >= sizeof(buf)) {
		snprintf(why, whylen, "longer than %zu bytes", sizeof(buf) - 1);
		return -EINVAL;
	}
	strcpy(buf, s);
	if (buf[0] == '[') {
		host = buf + 1;
		ps = strstr(host, "]:");
		if (!ps) {
			snprintf(why, whylen, "no ']:PORT' after '[ADDR'");
			return -EINVAL;
		}
		*ps = 0;
		ps += 2;
	} else {
		host = buf;
		ps = strrchr(buf, ':');
		if (!ps) {
			snprintf(why, whylen, "no ':PORT'");
			return -EINVAL;
		}
		if (strchr(buf, ':') != ps) {
			snprintf(why, whylen, "an IPv6 address needs brackets, "
				 "[ADDR]:PORT");
			return -EINVAL;
		}
		*ps++ = 0;
	}
	if (lb_parse_u32(ps, 1, 65535, &p)) {
		snprintf(why, whylen, "the port must be a number in 1..65535");
		return -EINVAL;
	}
	if (lb_parse_ip(host, addr, family, why, whylen))
		return -EINVAL;
	if (buf[0] == '[' && *family != LB_AF_INET6) {
		memset(addr, 0, 16);
		snprintf(why, whylen, "brackets are for IPv6 addresses only");
		return -EINVAL;
	}
	*port = p;
	return 0;
}

int lb_parse_hostport(const char *s, __u8 addr[16], __u8 *family,
		      __u16 *port, char *msg, size_t msglen)
{
	char why[160];

	if (!hostport(s, addr, family, port, why, sizeof(why)))
		return 0;
	snprintf(msg, msglen, "'%s' is not ADDR:PORT: %s (e.g. 127.0.0.1:9464 "
		 "or [::1]:9464)", s, why);
	return -EINVAL;
}

int lb_parse_vip(const char *s, struct lb_vip_key *key, char *msg,
		 size_t msglen)
{
	char buf[128], why[160], *proto;
	__u16 port;

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
	if (hostport(buf, key->addr, &key->family, &port, why, sizeof(why))) {
		memset(key, 0, sizeof(*key));
		snprintf(msg, msglen, "'%s' is not a VIP: %s; expected "
			 "ADDR:PORT/tcp|udp, e.g. 198.18.0.10:80/tcp or "
			 "[2001:db8::10]:8000/tcp", s, why);
		return -EINVAL;
	}
	key->port = htons(port);
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

const char *lb_fmt_mac(const __u8 mac[6], char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
		 mac[2], mac[3], mac[4], mac[5]);
	return buf;
}
