/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_parse.h - header parsing shared by the balancer and decap programs.
 * Every access is bounds-checked against data_end; nothing here writes.
 */
#ifndef LB_PARSE_H
#define LB_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "inferlb.h"

/* 802.1Q / 802.1ad tag; not in the uapi headers. */
struct lb_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

#define LB_IP_MF 0x2000
#define LB_IP_DF 0x4000
#define LB_IP_OFFSET 0x1fff

#define LB_TCP_FIN 0x01
#define LB_TCP_SYN 0x02
#define LB_TCP_RST 0x04
#define LB_TCP_ACK 0x10

/* Finds the L3 header behind Ethernet and at most one VLAN tag.
 * Returns the ethertype (network order) and sets *l3_off, or 0 when the
 * frame is too short for its L2 header. A second tag (QinQ) is returned
 * as the VLAN ethertype, i.e. "not IP". */
static __always_inline __be16 lb_parse_l2(void *data, void *data_end,
					  __u32 *l3_off)
{
	struct ethhdr *eth = data;
	struct lb_vlan_hdr *vh;
	__be16 proto;

	if ((void *)(eth + 1) > data_end)
		return 0;
	proto = eth->h_proto;
	*l3_off = sizeof(*eth);
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		vh = (void *)(eth + 1);
		if ((void *)(vh + 1) > data_end)
			return 0;
		proto = vh->encap_proto;
		*l3_off = sizeof(*eth) + sizeof(*vh);
	}
	return proto;
}

/* Is addr (4 or 16 bytes) a key of map, a hash keyed by struct
 * lb_addr_key (lb_vip_addrs, lb_decap_addrs)? */
static __always_inline int lb_addr_listed(void *map, const void *addr,
					  const int v6)
{
	struct lb_addr_key k = {};

	__builtin_memcpy(k.addr, addr, v6 ? 16 : 4);
	k.family = v6 ? LB_AF_INET6 : LB_AF_INET;
	return bpf_map_lookup_elem(map, &k) != NULL;
}

static __always_inline int lb_ipv4_is_fragment(const struct iphdr *iph)
{
	return iph->frag_off & bpf_htons(LB_IP_MF | LB_IP_OFFSET);
}

#endif /* LB_PARSE_H */
