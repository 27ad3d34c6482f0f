/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * minimal.h - map keys and values of the benchmark's minimal balancer
 * (minimal.bpf.c), shared with bench_xdp.c, which configures it. One
 * definition for both sides, as include/inferlb.h is for the balancer.
 */
#ifndef MINIMAL_H
#define MINIMAL_H

#include <linux/types.h>

struct min_vip_key {
	__be32 addr;
	__be16 port;
	__u8 proto;
	__u8 pad;
};

struct min_vip {
	__u32 id;
	__u32 ring_base; /* first slot of this VIP's table in min_ring */
	__u32 ring_size;
	__u32 pad;
};

struct min_backend {
	__be32 addr;
	__u8 mac[6]; /* next hop */
	__u16 pad;
};

struct min_vip_key6 {
	__u8 addr[16];
	__be16 port;
	__u8 proto;
	__u8 pad;
};

struct min_backend6 {
	__u8 addr[16];
	__u8 mac[6]; /* next hop */
	__u16 pad;
};

_Static_assert(sizeof(struct min_vip_key) == 8, "min_vip_key");
_Static_assert(sizeof(struct min_vip) == 16, "min_vip");
_Static_assert(sizeof(struct min_backend) == 12, "min_backend");
_Static_assert(sizeof(struct min_vip_key6) == 20, "min_vip_key6");
_Static_assert(sizeof(struct min_backend6) == 24, "min_backend6");

#endif /* MINIMAL_H */
