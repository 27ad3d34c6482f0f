/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_icmp.h - "fragmentation needed" (ICMP) and "packet too big" (ICMPv6)
 * built in XDP and sent back to the client, so path-MTU discovery works
 * through the balancer when encapsulation would overflow the MTU.
 *
 * The reply quotes the offending IP header and the first 8 bytes of its
 * payload (RFC 792; enough for the client's stack to find the socket).
 * It is built in place: the frame is cut down to L2 + quote, the new
 * IP + ICMP headers are prepended, and the L2 header is moved to the front
 * with the MACs swapped. Callers guarantee the frame holds the quote.
 */
#ifndef LB_ICMP_H
#define LB_ICMP_H

#include "lb_encap.h"
#include "lb_stats.h"

#define LB_ICMP_QUOTE_L4 8
#define LB_ICMP_DEST_UNREACH 3
#define LB_ICMP_FRAG_NEEDED 4
#define LB_ICMPV6_DEST_UNREACH 1
#define LB_ICMPV6_PKT_TOOBIG 2

/* <linux/icmp.h> drags in libc headers, so the two error formats we send
 * are spelled out here (RFC 1191 and RFC 4443). */
struct lb_icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 unused;
	__be16 mtu;
};

struct lb_icmp6hdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be32 mtu;
};

/* Shrinks the frame to L2 + quote bytes, then grows it at the front by
 * hdrs bytes. Returns 0 or -1. */
static __always_inline int lb_icmp_make_room(struct xdp_md *ctx, __u32 keep,
					     int hdrs)
{
	int len = ctx->data_end - ctx->data;

	if ((int)keep < len && bpf_xdp_adjust_tail(ctx, (int)keep - len))
		return -1;
	return bpf_xdp_adjust_head(ctx, -hdrs) ? -1 : 0;
}

static __always_inline int lb_icmp4_too_big(struct xdp_md *ctx,
					    const __u32 l3_off, __u16 mtu)
{
	const int quote = sizeof(struct iphdr) + LB_ICMP_QUOTE_L4;
	const int hdrs = sizeof(struct iphdr) + sizeof(struct lb_icmphdr);
	struct iphdr *iph, *orig;
	struct lb_icmphdr *icmp;
	void *data, *data_end;

	if (lb_icmp_make_room(ctx, l3_off + quote, hdrs))
		return LB_VERDICT(XDP_DROP, drop_xdp_adjust);
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + l3_off + hdrs + quote > data_end)
		return LB_VERDICT(XDP_DROP, drop_xdp_adjust);
	iph = data + l3_off;
	icmp = data + l3_off + sizeof(*iph);
	orig = data + l3_off + hdrs;

	lb_l2_reply(data, data + hdrs, l3_off);
	iph->version = 4;
	iph->ihl = sizeof(*iph) / 4;
	iph->tos = 0;
	iph->tot_len = bpf_htons(hdrs + quote);
	iph->id = 0;
	iph->frag_off = 0;
	iph->ttl = LB_ENCAP_TTL;
	iph->protocol = IPPROTO_ICMP;
	iph->saddr = orig->daddr;
	iph->daddr = orig->saddr;
	lb_ipv4_csum(iph);

	icmp->type = LB_ICMP_DEST_UNREACH;
	icmp->code = LB_ICMP_FRAG_NEEDED;
	icmp->checksum = 0;
	icmp->unused = 0;
	icmp->mtu = bpf_htons(mtu);
	icmp->checksum = lb_csum_fold((__u32)bpf_csum_diff(0, 0, (void *)icmp,
							   sizeof(*icmp) + quote, 0));
	return LB_VERDICT(XDP_TX, icmp_too_big_v4);
}

static __always_inline int lb_icmp6_too_big(struct xdp_md *ctx,
					    const __u32 l3_off, __u32 mtu)
{
	const int quote = sizeof(struct ipv6hdr) + LB_ICMP_QUOTE_L4;
	const int hdrs = sizeof(struct ipv6hdr) + sizeof(struct lb_icmp6hdr);
	struct ipv6hdr *ip6h, *orig;
	struct lb_icmp6hdr *icmp6;
	void *data, *data_end;
	__u64 sum;

	if (lb_icmp_make_room(ctx, l3_off + quote, hdrs))
		return LB_VERDICT(XDP_DROP, drop_xdp_adjust);
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + l3_off + hdrs + quote > data_end)
		return LB_VERDICT(XDP_DROP, drop_xdp_adjust);
	ip6h = data + l3_off;
	icmp6 = data + l3_off + sizeof(*ip6h);
	orig = data + l3_off + hdrs;

	lb_l2_reply(data, data + hdrs, l3_off);
	*(__be32 *)ip6h = bpf_htonl(0x60000000); /* version 6, class 0, label 0 */
	ip6h->payload_len = bpf_htons(sizeof(*icmp6) + quote);
	ip6h->nexthdr = IPPROTO_ICMPV6;
	ip6h->hop_limit = LB_ENCAP_TTL;
	ip6h->saddr = orig->daddr;
	ip6h->daddr = orig->saddr;

	icmp6->type = LB_ICMPV6_PKT_TOOBIG;
	icmp6->code = 0;
	icmp6->checksum = 0;
	icmp6->mtu = bpf_htonl(mtu);
	/* pseudo header: addresses (in the packet already), length, protocol */
	sum = (__u32)bpf_csum_diff(0, 0, (void *)&ip6h->saddr, 32, 0);
	sum = (__u32)bpf_csum_diff(0, 0, (void *)icmp6, sizeof(*icmp6) + quote,
				   (__u32)sum);
	sum += bpf_htonl(sizeof(*icmp6) + quote);
	sum += bpf_htonl(IPPROTO_ICMPV6);
	icmp6->checksum = lb_csum_fold(sum);
	return LB_VERDICT(XDP_TX, icmp_too_big_v6);
}

#endif /* LB_ICMP_H */
