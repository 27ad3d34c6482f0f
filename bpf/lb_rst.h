/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_rst.h - refuse a new TCP flow in one round trip: turn the client's
 * segment into the RST a closed port would send (RFC 9293 3.10.7.1) and
 * send it back with XDP_TX, so the client fails at once instead of
 * retransmitting SYNs for seconds.
 *
 *   segment without ACK (a SYN):  <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
 *   segment with ACK:             <SEQ=SEG.ACK><CTL=RST>
 * SEG.LEN counts the payload, SYN and FIN. The reply has no options, no
 * payload, window 0, TTL/hop limit 64, and its MACs, addresses and ports
 * swapped; a VLAN tag stays as it was.
 */
#ifndef LB_RST_H
#define LB_RST_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "lb_csum.h"
#include "lb_encap.h"

/* Returns 0 with the frame rewritten in place (shrunk to the RST), or -1
 * when the frame is not a whole TCP segment or cannot be shrunk. */
static __always_inline int lb_make_rst(struct xdp_md *ctx, const __u32 l3_off,
				       const int v6)
{
	const __u32 l3_len = v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr);
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 seg_len, ip_len, seq, ack_seq;
	struct tcphdr *th;
	__be16 port;
	__u64 sum;
	int ack;

	th = data + l3_off + l3_len;
	if ((void *)(th + 1) > data_end)
		return -1;
	if (v6) {
		struct ipv6hdr *ip6h = data + l3_off;

		ip_len = bpf_ntohs(ip6h->payload_len) + l3_len;
	} else {
		struct iphdr *iph = data + l3_off;

		ip_len = bpf_ntohs(iph->tot_len);
	}
	if (ip_len < l3_len + th->doff * 4u || th->doff < 5)
		return -1;
	seg_len = ip_len - l3_len - th->doff * 4u + th->syn + th->fin;
	seq = bpf_ntohl(th->seq);
	ack_seq = bpf_ntohl(th->ack_seq);
	ack = th->ack;

	/* the reply is L2 + IP + 20 bytes of TCP */
	{
		int len = data_end - data, want = l3_off + l3_len + sizeof(*th);

		if (want < len && bpf_xdp_adjust_tail(ctx, want - len))
			return -1;
	}
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + l3_off + l3_len + sizeof(*th) > data_end)
		return -1;
	th = data + l3_off + l3_len;
	lb_l2_reply(data, data, l3_off);

	port = th->source;
	th->source = th->dest;
	th->dest = port;
	/* flags word: data offset 5, then RST (+ ACK) */
	*((__be16 *)th + 6) = bpf_htons((5 << 12) | 0x04 | (ack ? 0 : 0x10));
	th->seq = ack ? bpf_htonl(ack_seq) : 0;
	th->ack_seq = ack ? 0 : bpf_htonl(seq + seg_len);
	th->window = 0;
	th->urg_ptr = 0;
	th->check = 0;

	if (v6) {
		struct ipv6hdr *ip6h = data + l3_off;
		struct in6_addr a = ip6h->saddr;

		*(__be32 *)ip6h = bpf_htonl(0x60000000);
		ip6h->payload_len = bpf_htons(sizeof(*th));
		ip6h->hop_limit = LB_ENCAP_TTL;
		ip6h->saddr = ip6h->daddr;
		ip6h->daddr = a;
		sum = (__u32)bpf_csum_diff(0, 0, (void *)&ip6h->saddr, 32, 0);
	} else {
		struct iphdr *iph = data + l3_off;
		__be32 a = iph->saddr;

		iph->saddr = iph->daddr;
		iph->daddr = a;
		iph->tos = 0;
		iph->tot_len = bpf_htons(sizeof(*iph) + sizeof(*th));
		iph->id = 0;
		iph->frag_off = bpf_htons(0x4000); /* DF */
		iph->ttl = LB_ENCAP_TTL;
		lb_ipv4_csum(iph);
		sum = (__u32)bpf_csum_diff(0, 0, (void *)&iph->saddr, 8, 0);
	}
	/* pseudo header: addresses (summed above), protocol and TCP length
	 * (as 32-bit words for IPv6; for IPv4's zero/protocol and length
	 * 16-bit fields the folded sum is the same) */
	sum = (__u32)bpf_csum_diff(0, 0, (void *)th, sizeof(*th), (__u32)sum);
	sum += bpf_htonl(IPPROTO_TCP);
	sum += bpf_htonl(sizeof(*th));
	th->check = lb_csum_fold(sum);
	return 0;
}

#endif /* LB_RST_H */
