// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * decap.bpf.c - XDP program for backend hosts: unwraps IPIP (IPv4 outer)
 * and IP6IP6 / IPv4-in-IPv6 (IPv6 outer) packets addressed to one of the
 * host's addresses listed in lb_decap_addrs, and hands the inner packet
 * to the stack (XDP_PASS). Hosts need no ipip/ip6_tunnel kernel module.
 * Everything else passes untouched.
 *
 * Second chance (LB_VIP_F_SECOND_CHANCE): a packet that, unwrapped, is
 * again IPIP / IP6IP6 of the same family addressed to another host
 * carries a second hop: the backend that owned the flow's table slot
 * before. If a local socket other than a listener holds the TCP flow
 * (established, request sock, time-wait), or a listener's SYN cookie
 * accepts the ACK, the packet is ours: both headers go. Else it goes on
 * to the second hop with the second header only (FIB lookup, XDP_TX or
 * redirect).
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "inferlb.h"
#include "lb_parse.h"
#include "lb_csum.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Host address -> unwrap IPIP/IP6IP6 packets sent to it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_DECAP_MAX_ADDRS);
	__type(key, struct lb_addr_key);
	__type(value, struct lb_decap_addr);
} lb_decap_addrs SEC(".maps");

/* Decap counters (per CPU). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_decap_stats);
} lb_decap_stats SEC(".maps");

#define DECAP_COUNT(verdict, field)                                          \
	({                                                                   \
		__u32 zero_ = 0;                                             \
		struct lb_decap_stats *s_ =                                  \
			bpf_map_lookup_elem(&lb_decap_stats, &zero_);        \
		if (s_)                                                      \
			s_->field++;                                         \
		(verdict);                                                   \
	})

/* Moves the L2 header forward over the outer header (outer bytes) and
 * trims the front, so the inner packet follows L2 directly. */
static __always_inline int decap_strip(struct xdp_md *ctx, const __u32 l3_off,
				       const __u32 outer, __be16 inner_proto)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *from = data, *to = data + outer;

	if (data + outer + l3_off > data_end)
		return -1;
	/* The outer header (20 or 40 bytes) is longer than the L2 header
	 * (14 or 18), so source and destination never overlap. */
	if (l3_off > sizeof(struct ethhdr)) {
		struct lb_vlan_hdr *fv = (void *)(from + 1), *tv = (void *)(to + 1);

		tv->tci = fv->tci;
		tv->encap_proto = inner_proto;
		to->h_proto = from->h_proto;
	} else {
		to->h_proto = inner_proto;
	}
	__builtin_memcpy(to->h_source, from->h_source, ETH_ALEN);
	__builtin_memcpy(to->h_dest, from->h_dest, ETH_ALEN);
	return bpf_xdp_adjust_head(ctx, (int)outer) ? -1 : 0;
}

#define ECN_NOT_ECT 0
#define ECN_ECT1 1
#define ECN_ECT0 2
#define ECN_CE 3

/* The inner ECN field after decapsulation (RFC 6040, normal mode): a
 * congestion mark (CE) a router put on the outer header must survive, or
 * the sender never slows down; ECT(1) outside upgrades ECT(0) inside.
 * Returns the new inner value, or -1 for outer CE over a packet that is
 * not ECN-capable (the balancer copies the inner bits outwards, so that
 * was never legitimate; it is dropped). */
static __always_inline int decap_ecn_combine(__u8 outer, __u8 inner)
{
	if (outer == ECN_CE)
		return inner == ECN_NOT_ECT ? -1 : ECN_CE;
	if (outer == ECN_ECT1 && inner == ECN_ECT0)
		return ECN_ECT1;
	return inner;
}

/* Applies decap_ecn_combine() to the inner header. Returns 1 when it was
 * changed, 0 when not, -1 when the packet must be dropped. */
static __always_inline int decap_ecn(void *inner, void *data_end,
				     __u8 outer_ecn, __be16 inner_proto)
{
	int ecn;

	if (inner_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = inner;
		__u16 old, new;
		__u32 sum;

		if ((void *)(ip + 1) > data_end)
			return 0;
		ecn = decap_ecn_combine(outer_ecn, ip->tos & 3);
		if (ecn < 0 || ecn == (ip->tos & 3))
			return ecn < 0 ? -1 : 0;
		old = *(__u16 *)ip;
		ip->tos = (ip->tos & ~3) | ecn;
		new = *(__u16 *)ip;
		/* incremental checksum update, RFC 1624: ~(~HC + ~m + m') */
		sum = (__u16)~ip->check + (__u16)~old + new;
		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		ip->check = ~sum;
		return 1;
	}
	__u8 *b = inner; /* IPv6: ECN is bits 5..4 of the second byte */

	if ((void *)(b + sizeof(struct ipv6hdr)) > data_end)
		return 0;
	ecn = decap_ecn_combine(outer_ecn, (b[1] >> 4) & 3);
	if (ecn < 0 || ecn == ((b[1] >> 4) & 3))
		return ecn < 0 ? -1 : 0;
	b[1] = (b[1] & ~0x30) | ecn << 4;
	return 1;
}

static __always_inline __be16 decap_inner_proto(__u8 ipproto)
{
	if (ipproto == IPPROTO_IPIP)
		return bpf_htons(ETH_P_IP);
	if (ipproto == IPPROTO_IPV6)
		return bpf_htons(ETH_P_IPV6);
	return 0;
}

#define DECAP_AF_INET 2
#define DECAP_AF_INET6 10

/* Does a local socket hold the TCP flow of ip / th (the client's packet)?
 * Not a listener: yes. A listener: only an ACK its SYN cookie accepts
 * (the handshake was answered here with a cookie). No socket: no. */
static __always_inline int decap_chain_mine(struct xdp_md *ctx, void *ip,
					    struct tcphdr *th, const int v6)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	int mine;

	if (v6) {
		struct ipv6hdr *h = ip;

		__builtin_memcpy(t.ipv6.saddr, &h->saddr, 16);
		__builtin_memcpy(t.ipv6.daddr, &h->daddr, 16);
		t.ipv6.sport = th->source;
		t.ipv6.dport = th->dest;
	} else {
		struct iphdr *h = ip;

		t.ipv4.saddr = h->saddr;
		t.ipv4.daddr = h->daddr;
		t.ipv4.sport = th->source;
		t.ipv4.dport = th->dest;
	}
	sk = bpf_skc_lookup_tcp(ctx, &t, v6 ? sizeof(t.ipv6) : sizeof(t.ipv4),
				BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return 0;
	mine = sk->state != BPF_TCP_LISTEN;
	if (!mine && th->ack && !th->syn && !th->rst)
		mine = !bpf_tcp_check_syncookie(sk, ip,
						v6 ? sizeof(struct ipv6hdr) :
						     sizeof(struct iphdr),
						th, sizeof(*th));
	bpf_sk_release(sk);
	return mine;
}

/* Sends the frame (L2 + the second hop's header + the client's packet) to
 * the second hop: its hop limit / TTL down by one, MACs from the FIB. */
static __always_inline int decap_chain_forward(struct xdp_md *ctx,
					       const __u32 l3_off, const int v6)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bpf_fib_lookup p = {};
	struct ethhdr *eth = data;
	int rc;

	if (v6) {
		struct ipv6hdr *h = data + l3_off;

		if ((void *)(h + 1) > data_end)
			return DECAP_COUNT(XDP_DROP, chain_malformed);
		if (h->hop_limit <= 1)
			return DECAP_COUNT(XDP_DROP, chain_no_route);
		h->hop_limit--;
		p.family = DECAP_AF_INET6;
		p.l4_protocol = h->nexthdr;
		p.tot_len = bpf_ntohs(h->payload_len) + sizeof(*h);
		__builtin_memcpy(p.ipv6_src, &h->saddr, 16);
		__builtin_memcpy(p.ipv6_dst, &h->daddr, 16);
	} else {
		struct iphdr *h = data + l3_off;

		if ((void *)(h + 1) > data_end)
			return DECAP_COUNT(XDP_DROP, chain_malformed);
		if (h->ttl <= 1)
			return DECAP_COUNT(XDP_DROP, chain_no_route);
		h->ttl--;
		lb_ipv4_csum(h);
		p.family = DECAP_AF_INET;
		p.tos = h->tos;
		p.l4_protocol = h->protocol;
		p.tot_len = bpf_ntohs(h->tot_len);
		p.ipv4_src = h->saddr;
		p.ipv4_dst = h->daddr;
	}
	p.ifindex = ctx->ingress_ifindex;
	rc = bpf_fib_lookup(ctx, &p, sizeof(p), 0);
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		/* Safe to hand to the kernel: the packet is addressed to
		 * another host, so the stack can only forward it (resolving
		 * the neighbour on the way, when forwarding is on) or drop
		 * it; never deliver it to a local socket. */
		return DECAP_COUNT(XDP_PASS, chain_no_neigh);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return DECAP_COUNT(XDP_DROP, chain_no_route);
	if ((void *)(eth + 1) > data_end)
		return DECAP_COUNT(XDP_DROP, chain_malformed);
	__builtin_memcpy(eth->h_dest, p.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, p.smac, ETH_ALEN);
	if (p.ifindex == ctx->ingress_ifindex)
		return DECAP_COUNT(XDP_TX, chain_forwarded);
	return DECAP_COUNT(bpf_redirect(p.ifindex, 0), chain_forwarded);
}

/* The packet behind the outer header (outer bytes) is itself IPIP /
 * IP6IP6 of the same family: a second-chance chain. Bounded parsing:
 * fixed headers only (our balancer sends no options). */
static __always_inline int decap_chain_l3(struct xdp_md *ctx,
					  const __u32 l3_off, const int v6)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	const __u32 hdr = v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr);
	const __be16 proto = v6 ? bpf_htons(ETH_P_IPV6) : bpf_htons(ETH_P_IP);
	void *mid = data + l3_off + hdr, *in = mid + hdr;
	struct tcphdr *th = in + hdr;
	__u8 mid_ecn;
	int mine, marked;

	if ((void *)(th + 1) > data_end)
		return DECAP_COUNT(XDP_DROP, chain_malformed);
	if (v6) {
		struct ipv6hdr *m = mid, *i = in;

		if (i->version != 6 || i->nexthdr != IPPROTO_TCP)
			return DECAP_COUNT(XDP_DROP, chain_malformed);
		mine = lb_addr_listed(&lb_decap_addrs, &m->daddr, 1);
		mid_ecn = (((__u8 *)m)[1] >> 4) & 3;
	} else {
		struct iphdr *m = mid, *i = in;

		if (m->ihl != 5 || i->version != 4 || i->ihl != 5 ||
		    lb_ipv4_is_fragment(i) || i->protocol != IPPROTO_TCP)
			return DECAP_COUNT(XDP_DROP, chain_malformed);
		mine = lb_addr_listed(&lb_decap_addrs, &m->daddr, 0);
		mid_ecn = m->tos & 3;
	}
	if (!mine)
		mine = decap_chain_mine(ctx, in, th, v6);
	if (!mine) {
		if (decap_strip(ctx, l3_off, hdr, proto))
			return DECAP_COUNT(XDP_DROP, drop_xdp_adjust);
		return decap_chain_forward(ctx, l3_off, v6);
	}
	marked = decap_ecn(in, data_end, mid_ecn, proto);
	if (marked < 0)
		return DECAP_COUNT(XDP_DROP, drop_not_ect);
	if (marked)
		DECAP_COUNT(0, ecn_ce);
	if (decap_strip(ctx, l3_off, 2 * hdr, proto))
		return DECAP_COUNT(XDP_DROP, drop_xdp_adjust);
	return DECAP_COUNT(XDP_PASS, chain_local);
}

/* The chain, off the plain decap path: a global function, verified once. */
__attribute__((noinline)) int decap_chain(struct xdp_md *ctx, __u32 l3_off,
					  __u32 v6)
{
	if (l3_off == sizeof(struct ethhdr))
		return v6 ? decap_chain_l3(ctx, sizeof(struct ethhdr), 1) :
			    decap_chain_l3(ctx, sizeof(struct ethhdr), 0);
	return v6 ? decap_chain_l3(ctx, sizeof(struct ethhdr) + 4, 1) :
		    decap_chain_l3(ctx, sizeof(struct ethhdr) + 4, 0);
}

static __always_inline int decap_process(struct xdp_md *ctx, const __u32 l3_off,
					 const int v6)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__be16 inner;
	__u32 outer;
	__u8 ecn;
	int marked;

	if (!v6) {
		struct iphdr *iph = data + l3_off;

		if ((void *)(iph + 1) > data_end)
			return DECAP_COUNT(XDP_PASS, pass_malformed);
		inner = decap_inner_proto(iph->protocol);
		/* Our encapsulator never sends options or fragments. */
		if (!inner || iph->ihl != 5 || lb_ipv4_is_fragment(iph) ||
		    !lb_addr_listed(&lb_decap_addrs, &iph->daddr, 0))
			return DECAP_COUNT(XDP_PASS, pass_not_encap);
		outer = sizeof(*iph);
		ecn = iph->tos & 3;
	} else {
		struct ipv6hdr *ip6h = data + l3_off;

		if ((void *)(ip6h + 1) > data_end)
			return DECAP_COUNT(XDP_PASS, pass_malformed);
		inner = decap_inner_proto(ip6h->nexthdr);
		if (!inner || !lb_addr_listed(&lb_decap_addrs, &ip6h->daddr, 1))
			return DECAP_COUNT(XDP_PASS, pass_not_encap);
		outer = sizeof(*ip6h);
		ecn = (((__u8 *)ip6h)[1] >> 4) & 3;
	}
	/* An outer header with nothing (or less than an IP header) inside. */
	if (data + l3_off + outer +
	    (inner == bpf_htons(ETH_P_IP) ? sizeof(struct iphdr)
					   : sizeof(struct ipv6hdr)) > data_end)
		return DECAP_COUNT(XDP_PASS, pass_malformed);
	marked = decap_ecn(data + l3_off + outer, data_end, ecn, inner);
	if (marked < 0)
		return DECAP_COUNT(XDP_DROP, drop_not_ect);
	if (marked)
		DECAP_COUNT(0, ecn_ce);
	/* a second header of the same family: second chance */
	if (inner == (v6 ? bpf_htons(ETH_P_IPV6) : bpf_htons(ETH_P_IP))) {
		__u8 nh;

		if (v6) {
			struct ipv6hdr *m = data + l3_off + outer;

			if ((void *)(m + 1) > data_end)
				return DECAP_COUNT(XDP_PASS, pass_malformed);
			nh = m->nexthdr;
		} else {
			struct iphdr *m = data + l3_off + outer;

			if ((void *)(m + 1) > data_end)
				return DECAP_COUNT(XDP_PASS, pass_malformed);
			nh = m->protocol;
		}
		if (nh == (v6 ? IPPROTO_IPV6 : IPPROTO_IPIP))
			return decap_chain(ctx, l3_off, v6);
	}
	if (decap_strip(ctx, l3_off, outer, inner))
		return DECAP_COUNT(XDP_DROP, drop_xdp_adjust);
	return v6 ? DECAP_COUNT(XDP_PASS, decap_v6) : DECAP_COUNT(XDP_PASS, decap_v4);
}

SEC("xdp")
int xdp_decap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 l3_off = 0;
	__be16 proto = lb_parse_l2(data, data_end, &l3_off);

	if (!proto)
		return DECAP_COUNT(XDP_PASS, pass_malformed);
	if (l3_off == sizeof(struct ethhdr)) {
		if (proto == bpf_htons(ETH_P_IP))
			return decap_process(ctx, sizeof(struct ethhdr), 0);
		if (proto == bpf_htons(ETH_P_IPV6))
			return decap_process(ctx, sizeof(struct ethhdr), 1);
	} else {
		if (proto == bpf_htons(ETH_P_IP))
			return decap_process(ctx, sizeof(struct ethhdr) + 4, 0);
		if (proto == bpf_htons(ETH_P_IPV6))
			return decap_process(ctx, sizeof(struct ethhdr) + 4, 1);
	}
	return DECAP_COUNT(XDP_PASS, pass_not_encap);
}
