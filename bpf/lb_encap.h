/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_encap.h - what a forwarded frame looks like on the way out:
 * L2 rewrite (l2dsr) or an outer IPv4/IPv6 header (ipip), sent with XDP_TX.
 * l3_off (14 or 18) is a compile-time constant at every call site, so all
 * offsets below are constants for the verifier.
 */
#ifndef LB_ENCAP_H
#define LB_ENCAP_H

#include <linux/in.h>
#include "lb_parse.h"
#include "lb_csum.h"
#include "inferlb.h"

/* L2 header of a frame sent back out of the port it came in on: our MAC
 * (the frame's old destination) becomes the source, dmac the destination.
 * 'to' may equal 'from'; a VLAN tag is kept. */
static __always_inline void lb_l2_forward(void *to, const void *from,
					  const __u32 l3_off, const __u8 *dmac)
{
	const struct ethhdr *f = from;
	struct ethhdr *t = to;
	__u8 ours[ETH_ALEN];

	__builtin_memcpy(ours, f->h_dest, ETH_ALEN);
	if (to != from) {
		t->h_proto = f->h_proto;
		if (l3_off > sizeof(struct ethhdr))
			*(struct lb_vlan_hdr *)(t + 1) =
				*(const struct lb_vlan_hdr *)(f + 1);
	}
	__builtin_memcpy(t->h_source, ours, ETH_ALEN);
	__builtin_memcpy(t->h_dest, dmac, ETH_ALEN);
}

/* L2 header of a reply to the sender (ICMP errors): MACs swapped. */
static __always_inline void lb_l2_reply(void *to, const void *from,
					const __u32 l3_off)
{
	const struct ethhdr *f = from;
	__u8 src[ETH_ALEN];

	__builtin_memcpy(src, f->h_source, ETH_ALEN);
	lb_l2_forward(to, from, l3_off, src);
}

/* The outer source of an IPIP / IP6IP6 packet: the configured base with
 * the flow's entropy in its masked bits, so the receiver's RSS spreads
 * tunnelled flows over its queues (lb_settings.encap_src_*). */
static __always_inline __be32 lb_encap_src4(const struct lb_settings *cfg,
					    __u32 entropy)
{
	return (cfg->encap_src_v4 & ~cfg->encap_src_v4_mask) |
	       (entropy & cfg->encap_src_v4_mask);
}

static __always_inline void lb_encap_src6(const struct lb_settings *cfg,
					  __u32 entropy, __u8 src[16])
{
	__builtin_memcpy(src, cfg->encap_src_v6, 16);
	*(__be32 *)&src[12] = (*(__be32 *)&src[12] & ~cfg->encap_src_v6_mask) |
			      (entropy & cfg->encap_src_v6_mask);
}

/* An outer IPv4 header (protocol IPIP) of tot_len bytes in all, from
 * saddr to daddr, over inner header in. */
static __always_inline void lb_ipip4_fill(struct iphdr *h, const struct iphdr *in,
					  __u16 tot_len, __be32 saddr,
					  __be32 daddr)
{
	h->version = 4;
	h->ihl = sizeof(*h) / 4;
	h->tos = in->tos;
	h->tot_len = bpf_htons(tot_len);
	h->id = 0;
	/* The size was checked against the MTU, so the outer packet never
	 * needs fragmenting; DF keeps routers on the way from doing it. */
	h->frag_off = bpf_htons(LB_IP_DF);
	h->ttl = LB_ENCAP_TTL;
	h->protocol = IPPROTO_IPIP;
	h->saddr = saddr;
	h->daddr = daddr;
	lb_ipv4_csum(h);
}

/* An outer IPv6 header (next header IPv6) with payload_len bytes after
 * it, from saddr to daddr, over inner header in. The flow label carries
 * per-flow entropy for ECMP and RSS on the way. */
static __always_inline void lb_ipip6_fill(struct ipv6hdr *h,
					  const struct ipv6hdr *in,
					  __u16 payload_len, const __u8 *saddr,
					  const __u8 *daddr, __u32 entropy)
{
	/* version 6, the inner traffic class, 20 bits of flow label */
	h->version = 6;
	h->priority = in->priority;
	h->flow_lbl[0] = (in->flow_lbl[0] & 0xf0) | ((entropy >> 16) & 0x0f);
	h->flow_lbl[1] = entropy >> 8;
	h->flow_lbl[2] = entropy;
	h->payload_len = bpf_htons(payload_len);
	h->nexthdr = IPPROTO_IPV6;
	h->hop_limit = LB_ENCAP_TTL;
	__builtin_memcpy(&h->saddr, saddr, 16);
	__builtin_memcpy(&h->daddr, daddr, 16);
}

/* Prepends an outer IPv4 header (protocol IPIP) towards daddr.
 * Returns 0, or -1 when the frame could not be grown. */
static __always_inline int lb_push_ipip4(struct xdp_md *ctx, const __u32 l3_off,
					 __be32 saddr, __be32 daddr,
					 const __u8 *dmac)
{
	struct iphdr *outer, *inner;
	void *data, *data_end;

	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct iphdr)))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	outer = data + l3_off;
	inner = data + l3_off + sizeof(struct iphdr);
	if ((void *)(inner + 1) > data_end)
		return -1;

	lb_l2_forward(data, data + sizeof(struct iphdr), l3_off, dmac);
	lb_ipip4_fill(outer, inner, bpf_ntohs(inner->tot_len) + sizeof(*outer),
		      saddr, daddr);
	return 0;
}

/* Prepends an outer IPv6 header (next header IPv6) towards daddr. */
static __always_inline int lb_push_ipip6(struct xdp_md *ctx, const __u32 l3_off,
					 const __u8 *saddr, const __u8 *daddr,
					 __u32 entropy, const __u8 *dmac)
{
	struct ipv6hdr *outer, *inner;
	void *data, *data_end;

	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct ipv6hdr)))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	outer = data + l3_off;
	inner = data + l3_off + sizeof(struct ipv6hdr);
	if ((void *)(inner + 1) > data_end)
		return -1;

	lb_l2_forward(data, data + sizeof(struct ipv6hdr), l3_off, dmac);
	lb_ipip6_fill(outer, inner, bpf_ntohs(inner->payload_len) + sizeof(*inner),
		      saddr, daddr, entropy);
	return 0;
}

/*
 * Second chance (LB_VIP_F_SECOND_CHANCE): two headers at once, one
 * bpf_xdp_adjust_head. The outer goes to the first hop (daddr1, the
 * slot's owner now), the middle one to the second hop (daddr2, its
 * previous owner), then the client's packet. The first hop's decap
 * removes the outer header and either keeps the packet (it holds the
 * connection) or sends it on with the middle header only. Both headers
 * are filled by the same lb_ipip4/6_fill as lb_push_ipip4/6's one.
 */
static __always_inline int lb_push_ipip4_chain(struct xdp_md *ctx,
					       const __u32 l3_off, __be32 saddr,
					       __be32 daddr1, __be32 daddr2,
					       const __u8 *dmac)
{
	const int add = 2 * sizeof(struct iphdr);
	struct iphdr *outer, *mid, *inner;
	void *data, *data_end;
	__u16 len;

	if (bpf_xdp_adjust_head(ctx, -add))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	outer = data + l3_off;
	mid = outer + 1;
	inner = mid + 1;
	if ((void *)(inner + 1) > data_end)
		return -1;
	lb_l2_forward(data, data + add, l3_off, dmac);
	len = bpf_ntohs(inner->tot_len);
	lb_ipip4_fill(mid, inner, len + sizeof(*mid), saddr, daddr2);
	lb_ipip4_fill(outer, inner, len + add, saddr, daddr1);
	return 0;
}

static __always_inline int lb_push_ipip6_chain(struct xdp_md *ctx,
					       const __u32 l3_off,
					       const __u8 *saddr,
					       const __u8 *daddr1,
					       const __u8 *daddr2,
					       __u32 entropy, const __u8 *dmac)
{
	const int add = 2 * sizeof(struct ipv6hdr);
	struct ipv6hdr *outer, *mid, *inner;
	void *data, *data_end;
	__u16 len;

	if (bpf_xdp_adjust_head(ctx, -add))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	outer = data + l3_off;
	mid = outer + 1;
	inner = mid + 1;
	if ((void *)(inner + 1) > data_end)
		return -1;
	lb_l2_forward(data, data + add, l3_off, dmac);
	len = bpf_ntohs(inner->payload_len) + sizeof(*inner);
	lb_ipip6_fill(mid, inner, len, saddr, daddr2, entropy);
	lb_ipip6_fill(outer, inner, len + sizeof(*mid), saddr, daddr1, entropy);
	return 0;
}

#endif /* LB_ENCAP_H */
