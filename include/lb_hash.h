/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_hash.h - the per-packet flow hash, shared by the XDP program and by
 * userspace (tests and tools predict which Maglev slot a flow lands in).
 *
 * Bob Jenkins' lookup3 mix/final over 32-bit words of the 5-tuple.
 */
#ifndef LB_HASH_H
#define LB_HASH_H

#include <linux/types.h>
#include "inferlb.h"

#define LB_HASH_INIT 0xdeadbeefu

static inline __u32 lb_rol32(__u32 w, unsigned int s)
{
	return (w << s) | (w >> (32 - s));
}

#define LB_HASH_MIX(a, b, c)                                                 \
	do {                                                                 \
		a -= c; a ^= lb_rol32(c, 4);  c += b;                        \
		b -= a; b ^= lb_rol32(a, 6);  a += c;                        \
		c -= b; c ^= lb_rol32(b, 8);  b += a;                        \
		a -= c; a ^= lb_rol32(c, 16); c += b;                        \
		b -= a; b ^= lb_rol32(a, 19); a += c;                        \
		c -= b; c ^= lb_rol32(b, 4);  b += a;                        \
	} while (0)

#define LB_HASH_FINAL(a, b, c)                                               \
	do {                                                                 \
		c ^= b; c -= lb_rol32(b, 14);                                \
		a ^= c; a -= lb_rol32(c, 11);                                \
		b ^= a; b -= lb_rol32(a, 25);                                \
		c ^= b; c -= lb_rol32(b, 16);                                \
		a ^= c; a -= lb_rol32(c, 4);                                 \
		b ^= a; b -= lb_rol32(a, 14);                                \
		c ^= b; c -= lb_rol32(b, 24);                                \
	} while (0)

/* The hash of a flow's 5-tuple (the flow-table key, as on the wire). It
 * depends only on the packet and the seed, never on ids assigned locally,
 * so every balancer with the same configuration sends a flow to the same
 * backend (ECMP may move a flow between balancers at any time). */
static inline __u32 lb_flow_hash4(const struct lb_flow_key4 *k, __u32 seed)
{
	__u32 a, b, c;

	a = b = c = LB_HASH_INIT + (4u << 2) + seed;
	a += k->saddr;
	b += k->daddr;
	c += (__u32)k->sport << 16 | k->dport;
	LB_HASH_MIX(a, b, c);
	a += k->proto;
	LB_HASH_FINAL(a, b, c);
	return c;
}

/* A second, independent hash of h (a 32-bit finalizer): the stride of a
 * new flow's candidate order over the table, and p2c's second choice. */
static inline __u32 lb_rehash(__u32 h)
{
	h ^= h >> 16;
	h *= 0x7feb352du;
	h ^= h >> 15;
	h *= 0x846ca68bu;
	h ^= h >> 16;
	return h;
}

/* The slot of a flow's second candidate (p2c, and the pair the load-aware
 * policies choose from under second chance): another independent hash
 * of h, so it is not the stride's. */
#define LB_HASH2_SALT 0x9e3779b9u
static inline __u32 lb_hash2(__u32 h)
{
	return lb_rehash(h ^ LB_HASH2_SALT);
}

/* The hash of a client address alone (16 bytes, an IPv4 address in the
 * first 4 and zeros after): the "source" policy's session affinity. */
static inline __u32 lb_addr_hash(const __u8 *addr, __u32 seed)
{
	const __u32 *w = (const __u32 *)addr;
	__u32 a, b, c;

	a = b = c = LB_HASH_INIT + (4u << 2) + seed;
	a += w[0];
	b += w[1];
	c += w[2];
	LB_HASH_MIX(a, b, c);
	a += w[3];
	LB_HASH_FINAL(a, b, c);
	return c;
}

static inline __u32 lb_flow_hash6(const struct lb_flow_key6 *k, __u32 seed)
{
	const __u32 *s = (const __u32 *)k->saddr, *d = (const __u32 *)k->daddr;
	__u32 a, b, c;

	a = b = c = LB_HASH_INIT + (10u << 2) + seed;
	a += s[0];
	b += s[1];
	c += s[2];
	LB_HASH_MIX(a, b, c);
	a += s[3];
	b += d[0];
	c += d[1];
	LB_HASH_MIX(a, b, c);
	a += d[2];
	b += d[3];
	c += (__u32)k->sport << 16 | k->dport;
	LB_HASH_MIX(a, b, c);
	a += k->proto;
	LB_HASH_FINAL(a, b, c);
	return c;
}

/* Bit of the VIP address filter (lb_vip_filter) for a destination address:
 * a multiplicative hash of its 32-bit words. A clear bit proves "no VIP on
 * this address" with one array read, which keeps non-VIP traffic cheap. */
static inline __u32 lb_vip_filter_bit(const __u32 *addr, int v6)
{
	__u32 x = v6 ? addr[0] ^ addr[1] ^ addr[2] ^ addr[3] : addr[0];

	return (x * 0x9e3779b1u) >> 16; /* 0 .. 65535 */
}

/* Cheap per-flow entropy for the outer header of IPIP packets (RSS on the
 * backend). Not used for backend selection, so it need not be strong. */
static inline __u32 lb_encap_entropy(__u32 saddr_word, __u16 sport)
{
	__u32 x = saddr_word ^ ((__u32)sport << 16 | sport);

	return x ^ (x >> 15) ^ (x << 7);
}

#endif /* LB_HASH_H */
