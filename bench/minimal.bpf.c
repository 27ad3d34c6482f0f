// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * minimal.bpf.c - the baseline of the XDP benchmark (bench/bench_xdp.c):
 * about the least an IPIP balancer can do per packet, for IPv4/TCP and
 * for IPv6/UDP.
 *
 *   IPv4/TCP: Ethernet (no VLAN) + IPv4 (no options) + TCP parse;
 *   VIP lookup in a hash map keyed by (address, port, protocol);
 *   lb_flow_hash4() of the 5-tuple and the seed, the same hash as the
 *   balancer's;
 *   one lookup in a flat ring array: ring_base + hash % ring_size;
 *   backend address and next-hop MAC from one array;
 *   IPIP push (outer IPv4 header with its checksum), MAC rewrite, XDP_TX.
 *
 *   IPv6/UDP: Ethernet (no VLAN) + IPv6 (no extension headers) + UDP
 *   parse; VIP lookup in a second hash map keyed by (16-byte address,
 *   port, protocol); lb_flow_hash6() of the 5-tuple and the seed; one
 *   lookup in the same flat ring array; 16-byte backend address and
 *   next-hop MAC from a second array; IP6IP6 push, MAC rewrite, XDP_TX.
 *
 * No flow table, no counters, no MTU check, no fragment handling.
 * Anything else (another protocol, or no VIP): XDP_PASS.
 *
 * The outer headers are built exactly like the balancer's, so for the
 * same configuration both programs produce the same bytes, which the
 * benchmark checks:
 *   IPv4: TOS copied, id 0, DF, TTL 64, fixed outer source;
 *   IPv6: version 6, inner traffic class copied, 20-bit flow label =
 *   lb_encap_entropy(XOR of the client address's four 32-bit words,
 *   source port), payload length + 40, next header 41, hop limit 64,
 *   outer source = the configured one with its last 32 bits
 *   (base & ~mask) | (entropy & mask).
 *
 * Besides xdp_minimal, variants add one feature of the real balancer
 * each, so the benchmark can tell what the balancer's extra time is made
 * of (its "where the time goes" rows). They have the IPv4/TCP path only:
 *   xdp_min_flow    + flow-table lookup (LRU hash, the balancer's key, map
 *                     type and flags); a hit gives the backend and skips
 *                     the hash and the ring, as in the balancer;
 *   xdp_min_insert  + flow-table update on every packet (as on a SYN);
 *   xdp_min_stats   + per-CPU packet/byte counters per VIP and per backend;
 *   xdp_min_widekey VIP lookup with the balancer's 20-byte struct
 *                     lb_vip_key instead of an 8-byte IPv4 key.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "inferlb.h"
#include "lb_hash.h"
#include "minimal.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define MIN_MAX_VIPS 16
#define MIN_RING_ENTRIES (2 * LB_RING_SIZE_DEFAULT) /* two full-size VIPs */
#define MIN_MAX_BACKENDS 1024
#define MIN_FLOWS 65536
#define MIN_IP_DF 0x4000


/* Set by the loader before load. */
const volatile __u32 min_hash_seed = 0;
const volatile __be32 min_encap_src = 0;
const volatile __be32 min_encap_src6[4] = {};
const volatile __be32 min_encap_src6_mask = 0; /* on the last 32 bits */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MIN_MAX_VIPS);
	__type(key, struct min_vip_key);
	__type(value, struct min_vip);
} min_vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MIN_RING_ENTRIES);
	__type(key, __u32);
	__type(value, __u32); /* backend id, 0 = none */
} min_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MIN_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct min_backend);
} min_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MIN_MAX_VIPS);
	__type(key, struct min_vip_key6);
	__type(value, struct min_vip);
} min_vips6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MIN_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct min_backend6);
} min_backends6 SEC(".maps");

/* Variants only. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MIN_MAX_VIPS);
	__type(key, struct lb_vip_key);
	__type(value, struct min_vip);
} min_vips_wide SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MIN_FLOWS);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__type(key, struct lb_flow_key4);
	__type(value, struct lb_flow);
} min_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MIN_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct lb_counters);
} min_stats SEC(".maps");

#define MIN_F_FLOW_LOOKUP 0x1
#define MIN_F_FLOW_INSERT 0x2
#define MIN_F_STATS 0x4
#define MIN_F_WIDE_KEY 0x8
#define MIN_F_IPV6 0x10 /* has the IPv6/UDP path (xdp_minimal only) */

static __always_inline __u16 min_csum_ipv4(const struct iphdr *iph)
{
	const __u16 *w = (const __u16 *)iph;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*iph) / 2); i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum += sum >> 16;
	return ~sum;
}

static __always_inline void min_count(__u32 id, __u64 bytes)
{
	struct lb_counters *c = bpf_map_lookup_elem(&min_stats, &id);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

/* The IPv6/UDP path: the frame's EtherType is IPv6. */
static __always_inline int min_process6(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6h = data + sizeof(*eth);
	struct udphdr *uh = (void *)(ip6h + 1);
	struct min_vip_key6 vk = {};
	struct lb_flow_key6 fk = {};
	struct min_backend6 *be;
	struct ipv6hdr *outer;
	struct min_vip *vip;
	const __u32 *s;
	__u8 ours[ETH_ALEN];
	__u32 idx, *slot, hash, entropy, first;
	__be16 payload_len;

	if ((void *)(uh + 1) > data_end || ip6h->nexthdr != IPPROTO_UDP)
		return XDP_PASS;
	__builtin_memcpy(vk.addr, &ip6h->daddr, 16);
	vk.port = uh->dest;
	vk.proto = IPPROTO_UDP;
	vip = bpf_map_lookup_elem(&min_vips6, &vk);
	if (!vip)
		return XDP_PASS;

	__builtin_memcpy(fk.saddr, &ip6h->saddr, 16);
	__builtin_memcpy(fk.daddr, &ip6h->daddr, 16);
	fk.sport = uh->source;
	fk.dport = uh->dest;
	fk.proto = IPPROTO_UDP;
	hash = lb_flow_hash6(&fk, min_hash_seed);
	idx = vip->ring_base + hash % vip->ring_size;
	slot = bpf_map_lookup_elem(&min_ring, &idx);
	if (!slot || !*slot)
		return XDP_DROP;
	be = bpf_map_lookup_elem(&min_backends6, slot);
	if (!be)
		return XDP_DROP;

	/* Flow label entropy: the client address folded to 32 bits and the
	 * source port, as the balancer computes it. */
	s = (const __u32 *)fk.saddr;
	entropy = lb_encap_entropy(s[0] ^ s[1] ^ s[2] ^ s[3], fk.sport);

	/* What the push overwrites or moves: read it first. */
	first = bpf_ntohl(*(__be32 *)ip6h); /* version, class, flow label */
	payload_len = ip6h->payload_len;
	__builtin_memcpy(ours, eth->h_dest, ETH_ALEN);

	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct ipv6hdr)))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	outer = data + sizeof(*eth);
	if ((void *)(outer + 1) > data_end)
		return XDP_DROP;

	__builtin_memcpy(eth->h_dest, be->mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, ours, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IPV6);
	/* version 6, the inner traffic class, 20 bits of flow label */
	*(__be32 *)outer = bpf_htonl(6u << 28 | (first & 0x0ff00000) |
				     (entropy & 0x000fffff));
	outer->payload_len = bpf_htons(bpf_ntohs(payload_len) + sizeof(*outer));
	outer->nexthdr = IPPROTO_IPV6;
	outer->hop_limit = LB_ENCAP_TTL;
	outer->saddr.in6_u.u6_addr32[0] = min_encap_src6[0];
	outer->saddr.in6_u.u6_addr32[1] = min_encap_src6[1];
	outer->saddr.in6_u.u6_addr32[2] = min_encap_src6[2];
	outer->saddr.in6_u.u6_addr32[3] =
		(min_encap_src6[3] & ~min_encap_src6_mask) |
		(entropy & min_encap_src6_mask);
	__builtin_memcpy(&outer->daddr, be->addr, 16);
	return XDP_TX;
}

static __always_inline int min_process(struct xdp_md *ctx, const int variant)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = data + sizeof(*eth);
	struct tcphdr *th = (void *)(iph + 1);
	struct min_vip_key vk = {};
	struct lb_flow_key4 fk = {};
	struct min_backend *be;
	struct iphdr *outer;
	struct min_vip *vip;
	__u8 ours[ETH_ALEN];
	__u32 idx, be_id = 0, *slot, hash, pkt_len = data_end - data;
	__be16 tot_len;
	__u8 tos;

	/* 54 bytes: every IPv6/UDP frame (62 bytes at least) is longer. */
	if ((void *)(th + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP)) {
		if ((variant & MIN_F_IPV6) &&
		    eth->h_proto == bpf_htons(ETH_P_IPV6))
			return min_process6(ctx);
		return XDP_PASS;
	}
	if (iph->ihl != 5 || iph->protocol != IPPROTO_TCP)
		return XDP_PASS;
	if (variant & MIN_F_WIDE_KEY) {
		struct lb_vip_key wk = {};

		*(__be32 *)wk.addr = iph->daddr;
		wk.port = th->dest;
		wk.proto = IPPROTO_TCP;
		wk.family = LB_AF_INET;
		vip = bpf_map_lookup_elem(&min_vips_wide, &wk);
	} else {
		vk.addr = iph->daddr;
		vk.port = th->dest;
		vk.proto = IPPROTO_TCP;
		vip = bpf_map_lookup_elem(&min_vips, &vk);
	}
	if (!vip)
		return XDP_PASS;

	/* The 5-tuple: the hash input, and the flow key of the variants. */
	fk.saddr = iph->saddr;
	fk.daddr = iph->daddr;
	fk.sport = th->source;
	fk.dport = th->dest;
	fk.proto = IPPROTO_TCP;
	if (variant & MIN_F_FLOW_LOOKUP) {
		struct lb_flow *fl = bpf_map_lookup_elem(&min_flows, &fk);

		if (fl)
			be_id = fl->backend_id;
	}
	if (!be_id) {
		hash = lb_flow_hash4(&fk, min_hash_seed);
		idx = vip->ring_base + hash % vip->ring_size;
		slot = bpf_map_lookup_elem(&min_ring, &idx);
		if (!slot || !*slot)
			return XDP_DROP;
		be_id = *slot;
		if (variant & MIN_F_FLOW_INSERT) {
			struct lb_flow fl = { .backend_id = be_id };

			bpf_map_update_elem(&min_flows, &fk, &fl, BPF_ANY);
		}
	}
	be = bpf_map_lookup_elem(&min_backends, &be_id);
	if (!be)
		return XDP_DROP;
	if (variant & MIN_F_STATS) {
		min_count(vip->id, pkt_len);
		min_count(be_id, pkt_len);
	}

	/* What the push overwrites or moves: read it first. */
	tos = iph->tos;
	tot_len = iph->tot_len;
	__builtin_memcpy(ours, eth->h_dest, ETH_ALEN);

	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct iphdr)))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	outer = data + sizeof(*eth);
	if ((void *)(outer + 1) > data_end)
		return XDP_DROP;

	__builtin_memcpy(eth->h_dest, be->mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, ours, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);
	outer->version = 4;
	outer->ihl = 5;
	outer->tos = tos;
	outer->tot_len = bpf_htons(bpf_ntohs(tot_len) + sizeof(*outer));
	outer->id = 0;
	outer->frag_off = bpf_htons(MIN_IP_DF);
	outer->ttl = LB_ENCAP_TTL;
	outer->protocol = IPPROTO_IPIP;
	outer->check = 0;
	outer->saddr = min_encap_src;
	outer->daddr = be->addr;
	outer->check = min_csum_ipv4(outer);
	return XDP_TX;
}

SEC("xdp")
int xdp_minimal(struct xdp_md *ctx)
{
	return min_process(ctx, MIN_F_IPV6);
}

SEC("xdp")
int xdp_min_flow(struct xdp_md *ctx)
{
	return min_process(ctx, MIN_F_FLOW_LOOKUP);
}

SEC("xdp")
int xdp_min_insert(struct xdp_md *ctx)
{
	return min_process(ctx, MIN_F_FLOW_INSERT);
}

SEC("xdp")
int xdp_min_stats(struct xdp_md *ctx)
{
	return min_process(ctx, MIN_F_STATS);
}

SEC("xdp")
int xdp_min_widekey(struct xdp_md *ctx)
{
	return min_process(ctx, MIN_F_WIDE_KEY);
}
