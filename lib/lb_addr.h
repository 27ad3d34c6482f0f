/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_addr.h - parsing and printing the addresses operators type:
 * "198.18.0.10", "2001:db8::10", VIPs as "198.18.0.10:80/tcp" and
 * "[2001:db8::10]:8000/udp". Strict: anything else is an error, with a
 * message that says what was expected.
 */
#ifndef LB_ADDR_H
#define LB_ADDR_H

#include <stddef.h>
#include <linux/types.h>
#include "inferlb.h"

/* An IP address: addr[16] (IPv4 in addr[0..3], rest 0), family LB_AF_*.
 * Returns 0 or -EINVAL with msg filled. */
int lb_parse_ip(const char *s, __u8 addr[16], __u8 *family, char *msg,
		size_t msglen);

/* "ADDR:PORT" (IPv4) or "[ADDR]:PORT" (IPv6, brackets required), port
 * 1..65535, into addr/family and *port (host byte order): the one host:port
 * splitter (VIPs, lb-agent's metrics_listen). Returns 0 or -EINVAL with a
 * message saying what is wrong. */
int lb_parse_hostport(const char *s, __u8 addr[16], __u8 *family,
		      __u16 *port, char *msg, size_t msglen);

/* A VIP "ADDR:PORT/tcp|udp" into key. Returns 0 or -EINVAL with msg. */
int lb_parse_vip(const char *s, struct lb_vip_key *key, char *msg,
		 size_t msglen);

/* Formats an address / a VIP key as the operator would type it. */
const char *lb_fmt_ip(const __u8 addr[16], __u8 family, char *buf, size_t len);
const char *lb_fmt_vip(const struct lb_vip_key *key, char *buf, size_t len);
/* "02:00:5e:10:00:01" (buf of at least 18 bytes). */
const char *lb_fmt_mac(const __u8 mac[6], char *buf, size_t len);

/* Unsigned decimal in [min, max], whole string. Returns 0 or -EINVAL. */
int lb_parse_u32(const char *s, __u32 min, __u32 max, __u32 *out);

/* A duration as operators write it: a whole number followed by ms, s, m,
 * h or d ("500ms", "30s", "10m", "2h"; a bare number is seconds), from
 * 1 ms to LB_DURATION_MAX_NS, into nanoseconds. Returns 0 or -EINVAL. */
#define LB_DURATION_MAX_NS (366ull * 24 * 3600 * 1000000000ull)
int lb_parse_duration_ns(const char *s, __u64 *out_ns);

#endif /* LB_ADDR_H */
