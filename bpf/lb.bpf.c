// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * lb.bpf.c - the inferlb balancer (XDP).
 *
 * For every frame: parse L2 (at most one VLAN tag), IPv4/IPv6, TCP/UDP;
 * anything that is not for a VIP goes to the kernel untouched (a bit
 * filter over VIP addresses answers most of that without a hash lookup).
 * The 5-tuple is looked up in the flow table first; on a hit the flow
 * keeps its backend. On a miss (or a TCP SYN, which starts a new
 * connection) the VIP is looked up, the flow hash indexes the VIP's Maglev
 * table and the choice is recorded (except for a RST). The
 * frame then leaves through the port it came in on (XDP_TX), encapsulated
 * (ipip) or with only its destination MAC rewritten (l2dsr).
 *
 * Dropped, by design and counted: IPv4 with options, fragments and IPv6
 * extension headers addressed to a VIP address (no ports to hash on, and a
 * backend could not reassemble across balancers). Never XDP_ABORTED.
 *
 * Everything is specialised at compile time on (l3 offset, family): four
 * copies of one body, each with constant offsets, so the verifier needs no
 * variable-offset packet pointers and the hot path has no extra branches.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "inferlb.h"
#include "lb_hash.h"
#include "lb_maps.h"
#include "lb_parse.h"
#include "lb_stats.h"
#include "lb_encap.h"
#include "lb_icmp.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Ports and TCP flags of a VIP candidate. */
struct lb_l4 {
	__be16 sport;
	__be16 dport;
	__u8 flags;
};

/* Reads the L4 ports at l4 (l4_len bytes of IP payload).
 * Returns 0, or -1 when the header is truncated. */
static __always_inline int lb_parse_l4(void *l4, void *data_end, __u8 proto,
				       __u32 l4_len, struct lb_l4 *out)
{
	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > data_end || l4_len < sizeof(*th))
			return -1;
		out->sport = th->source;
		out->dport = th->dest;
		out->flags = ((__u8 *)th)[13];
		return 0;
	}
	struct udphdr *uh = l4;

	if ((void *)(uh + 1) > data_end || l4_len < sizeof(*uh))
		return -1;
	out->sport = uh->source;
	out->dport = uh->dest;
	out->flags = 0;
	return 0;
}

static __always_inline int lb_is_vip_addr(const void *addr, const int v6)
{
	struct lb_addr_key k = {};

	__builtin_memcpy(k.addr, addr, v6 ? 16 : 4);
	k.family = v6 ? LB_AF_INET6 : LB_AF_INET;
	return bpf_map_lookup_elem(&lb_vip_addrs, &k) != NULL;
}

/* Verdict for traffic we could not parse up to its ports: drop it (with
 * the given reason already counted by the caller) only if it is for a VIP
 * address. */
#define LB_NOT_PARSED(daddr, v6, reason)                                     \
	(lb_is_vip_addr(daddr, v6) ? LB_VERDICT(XDP_DROP, reason)            \
				   : LB_VERDICT(XDP_PASS, pass_not_vip))

static __always_inline int lb_ipv6_is_ext(__u8 nh)
{
	switch (nh) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_FRAGMENT:
	case IPPROTO_ESP:
	case IPPROTO_AH:
	case IPPROTO_DSTOPTS:
	case IPPROTO_MH:
	case 139: /* HIP */
	case 140: /* Shim6 */
	case 253: /* experimentation */
	case 254:
		return 1;
	}
	return 0;
}

/* Can there be a VIP on this destination address? A clear filter bit
 * means no: one array read instead of a hash lookup for non-VIP traffic. */
static __always_inline int lb_vip_filter_hit(const void *daddr, const int v6)
{
	__u32 bit = lb_vip_filter_bit(daddr, v6), word = bit >> 6;
	__u64 *w = bpf_map_lookup_elem(&lb_vip_filter, &word);

	return w && ((*w >> (bit & 63)) & 1);
}

/* The backend flow entry fl pins its flow to, if that backend and its VIP
 * still exist. Returns the backend id (0: not pinned) and sets *bep, *vipp
 * and *vip_id. */
static __always_inline __u32 lb_pick_pinned(const struct lb_flow *fl,
					    struct lb_backend **bep,
					    struct lb_vip **vipp, __u32 *vip_id)
{
	struct lb_backend *be;
	struct lb_vip *vip;
	__u32 be_id = fl->backend_id, vid;

	be = bpf_map_lookup_elem(&lb_backends, &be_id);
	if (!be || !(be->flags & LB_BACKEND_F_ACTIVE) ||
	    be->epoch != fl->backend_epoch)
		return 0;
	vid = be->vip_id;
	vip = bpf_map_lookup_elem(&lb_vip_info, &vid);
	if (!vip || !(vip->flags & LB_VIP_F_ACTIVE))
		return 0;
	*bep = be;
	*vipp = vip;
	*vip_id = vid;
	return be_id;
}

/* The VIP a new flow is for, or NULL. */
static __always_inline struct lb_vip *lb_find_vip(const void *daddr,
						  __be16 dport, __u8 proto,
						  const int v6, __u32 *vip_id)
{
	struct lb_vip_key vk = {};
	struct lb_vip_ref *ref;
	struct lb_vip *vip;

	__builtin_memcpy(vk.addr, daddr, v6 ? 16 : 4);
	vk.port = dport;
	vk.proto = proto;
	vk.family = v6 ? LB_AF_INET6 : LB_AF_INET;
	ref = bpf_map_lookup_elem(&lb_vips, &vk);
	if (!ref)
		return NULL;
	*vip_id = ref->id;
	vip = bpf_map_lookup_elem(&lb_vip_info, vip_id);
	if (!vip || !(vip->flags & LB_VIP_F_ACTIVE))
		return NULL;
	return vip;
}

/* Picks the backend of a new flow from the VIP's table and, if record is
 * set (not a RST), pins the flow to it in the flow table. old is the flow's
 * current entry, if any: when it already says the same, it is not
 * rewritten (an LRU update allocates a new element, which is most of the
 * cost of a new flow; SYN retransmits need none of it).
 * Returns the backend id, or 0 with *drop set to the counter to bump. */
static __always_inline __u32 lb_pick_new(const struct lb_vip *vip, __u32 vip_id,
					 void *flows, const void *fk,
					 const struct lb_flow *old, __u32 hash,
					 const int v6, int record,
					 struct lb_backend **bep, __u32 *drop)
{
	struct lb_ring_slot *slot;
	struct lb_backend *be;
	__u32 idx, be_id;
	void *ring;

	ring = bpf_map_lookup_elem(&lb_rings, &vip_id);
	if (!ring || !vip->ring_size) {
		*drop = offsetof(struct lb_global_stats, drop_no_backend);
		return 0;
	}
	idx = hash % vip->ring_size;
	slot = bpf_map_lookup_elem(ring, &idx);
	if (!slot || slot->backend_id == LB_BACKEND_NONE) {
		*drop = offsetof(struct lb_global_stats, drop_no_backend);
		return 0;
	}
	be_id = slot->backend_id;
	be = bpf_map_lookup_elem(&lb_backends, &be_id);
	if (!be || !(be->flags & LB_BACKEND_F_ACTIVE) ||
	    be->family != (v6 ? LB_AF_INET6 : LB_AF_INET) ||
	    be->vip_id != vip_id) {
		*drop = offsetof(struct lb_global_stats, drop_bad_backend);
		return 0;
	}
	if (record && !(old && old->backend_id == be_id &&
			old->backend_epoch == be->epoch)) {
		struct lb_flow fl = { .backend_id = be_id,
				      .backend_epoch = be->epoch };

		if (bpf_map_update_elem(flows, fk, &fl, BPF_ANY))
			lb_global_inc(offsetof(struct lb_global_stats,
					       flow_insert_fail));
	}
	*bep = be;
	return be_id;
}

/* Sends the frame to backend be_id the VIP's way (mode), counting it. */
static __always_inline int lb_send(struct xdp_md *ctx, const __u32 l3_off,
				   const int v6, __u8 mode, __u32 vip_id,
				   __u32 be_id, const struct lb_backend *be,
				   const struct lb_config *cfg, __u32 entropy,
				   __u32 pkt_len, int new_flow)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct lb_nexthop *nh;

	nh = bpf_map_lookup_elem(&lb_nexthops, &be_id);
	if (!nh || !(nh->flags & LB_NEXTHOP_F_VALID))
		return LB_VERDICT(XDP_DROP, drop_no_nexthop);

	lb_counters_add(&lb_vip_stats, vip_id, pkt_len, new_flow);
	lb_counters_add(&lb_be_stats, be_id, pkt_len, new_flow);

	if (mode == LB_FWD_L2DSR) {
		if (data + l3_off > data_end)
			return LB_VERDICT(XDP_DROP, drop_xdp_adjust);
		lb_l2_forward(data, data, l3_off, nh->mac);
		return XDP_TX;
	}
	if (v6) {
		__u8 src[16];

		__builtin_memcpy(src, cfg->encap_src_v6, 16);
		*(__be32 *)&src[12] = (*(__be32 *)&src[12] & ~cfg->encap_src_v6_mask) |
				      (entropy & cfg->encap_src_v6_mask);
		if (lb_push_ipip6(ctx, l3_off, src, be->addr, entropy, nh->mac))
			return LB_VERDICT(XDP_DROP, drop_xdp_adjust);
	} else {
		__be32 src = (cfg->encap_src_v4 & ~cfg->encap_src_v4_mask) |
			     (entropy & cfg->encap_src_v4_mask);

		if (lb_push_ipip4(ctx, l3_off, src, *(__be32 *)be->addr, nh->mac))
			return LB_VERDICT(XDP_DROP, drop_xdp_adjust);
	}
	return XDP_TX;
}

/*
 * An ICMP error about a VIP flow goes to the backend that owns the flow.
 * With direct server return the backend's packets leave with the VIP as
 * their source, so a router on the backend's path to the client that needs
 * to say "fragmentation needed" / "packet too big" says it to the VIP,
 * i.e. to us; without this hop path-MTU discovery from backend to client
 * would break. The quoted header is the backend's packet (VIP -> client),
 * so the flow is looked up with the tuple turned around; a flow we do not
 * hold is hashed like its packets would be (no entry is recorded).
 */
static __always_inline int lb_icmp_error(struct xdp_md *ctx, const __u32 l3_off,
					 const int v6)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	void *flows = v6 ? (void *)&lb_flows6 : (void *)&lb_flows4;
	struct lb_flow_key4 fk4 = {};
	struct lb_flow_key6 fk6 = {};
	void *fk = v6 ? (void *)&fk6 : (void *)&fk4;
	struct lb_backend *be = NULL;
	struct lb_vip *vip = NULL;
	struct lb_config *cfg;
	struct lb_flow *fl;
	__u32 be_id = 0, vip_id = 0, zero = 0, drop = 0, src_word;
	__be16 *ports;
	__u8 mode;

	if (!v6) {
		struct lb_icmphdr *icmp = data + l3_off + sizeof(struct iphdr);
		struct iphdr *in = (void *)(icmp + 1);

		ports = (void *)(in + 1);
		if ((void *)(ports + 2) > data_end ||
		    icmp->type != LB_ICMP_DEST_UNREACH || in->version != 4 ||
		    in->ihl != 5 || (in->protocol != IPPROTO_TCP &&
				     in->protocol != IPPROTO_UDP))
			return LB_VERDICT(XDP_PASS, pass_not_vip);
		fk4.saddr = in->daddr;
		fk4.daddr = in->saddr;
		fk4.proto = in->protocol;
		src_word = fk4.saddr;
	} else {
		struct lb_icmp6hdr *icmp = data + l3_off + sizeof(struct ipv6hdr);
		struct ipv6hdr *in = (void *)(icmp + 1);

		ports = (void *)(in + 1);
		if ((void *)(ports + 2) > data_end ||
		    (icmp->type != LB_ICMPV6_DEST_UNREACH &&
		     icmp->type != LB_ICMPV6_PKT_TOOBIG) ||
		    (in->nexthdr != IPPROTO_TCP && in->nexthdr != IPPROTO_UDP))
			return LB_VERDICT(XDP_PASS, pass_not_vip);
		__builtin_memcpy(fk6.saddr, &in->daddr, 16);
		__builtin_memcpy(fk6.daddr, &in->saddr, 16);
		fk6.proto = in->nexthdr;
		src_word = ((__u32 *)fk6.saddr)[0] ^ ((__u32 *)fk6.saddr)[1] ^
			   ((__u32 *)fk6.saddr)[2] ^ ((__u32 *)fk6.saddr)[3];
	}
	/* quoted: VIP port first, client port second */
	if (v6) {
		fk6.sport = ports[1];
		fk6.dport = ports[0];
	} else {
		fk4.sport = ports[1];
		fk4.dport = ports[0];
	}

	fl = bpf_map_lookup_elem(flows, fk);
	if (fl)
		be_id = lb_pick_pinned(fl, &be, &vip, &vip_id);
	cfg = bpf_map_lookup_elem(&lb_config, &zero);
	if (!cfg)
		return LB_VERDICT(XDP_PASS, pass_not_vip);
	if (!be_id) {
		vip = lb_find_vip(v6 ? (void *)fk6.daddr : (void *)&fk4.daddr,
				  ports[0], v6 ? fk6.proto : fk4.proto, v6,
				  &vip_id);
		if (!vip)
			return LB_VERDICT(XDP_PASS, pass_not_vip);
		be_id = lb_pick_new(vip, vip_id, flows, fk, NULL,
				    v6 ? lb_flow_hash6(&fk6, cfg->hash_seed)
				       : lb_flow_hash4(&fk4, cfg->hash_seed),
				    v6, 0, &be, &drop);
		if (!be_id || !be) {
			lb_global_inc(drop);
			return XDP_DROP;
		}
	}
	if (!be || !vip)
		return LB_VERDICT(XDP_DROP, drop_bad_backend);
	mode = vip->mode;
	if (mode != LB_FWD_IPIP && mode != LB_FWD_L2DSR)
		return LB_VERDICT(XDP_DROP, drop_bad_mode);
	lb_global_inc(offsetof(struct lb_global_stats, icmp_err_to_backend));
	/* Errors quote at most 576 (IPv4) or 1280 (IPv6) bytes: they fit the
	 * configured MTU (at least 1320) once encapsulated. */
	return lb_send(ctx, l3_off, v6, mode, vip_id, be_id, be, cfg,
		       lb_encap_entropy(src_word, v6 ? fk6.sport : fk4.sport),
		       data_end - data, 0);
}

static __always_inline int lb_process(struct xdp_md *ctx, const __u32 l3_off,
				      const int v6)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	const __u32 l3_hdr = v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr);
	const __u32 overhead = v6 ? LB_IPIP_V6_OVERHEAD : LB_IPIP_V4_OVERHEAD;
	void *flows = v6 ? (void *)&lb_flows6 : (void *)&lb_flows4;
	__u32 pkt_len = data_end - data;
	struct lb_flow_key4 fk4 = {};
	struct lb_flow_key6 fk6 = {};
	void *fk = v6 ? (void *)&fk6 : (void *)&fk4;
	__u32 src_word;  /* client address folded to 32 bits */
	struct lb_backend *be = NULL;
	struct lb_vip *vip = NULL;
	struct lb_flow *fl;
	struct lb_config *cfg;
	struct lb_l4 l4;
	__u32 ip_len, be_id = 0, vip_id = 0, zero = 0, drop = 0, mtu;
	int new_flow = 0, df = 1;
	__u8 proto, mode;

	if (!v6) {
		struct iphdr *iph = data + l3_off;

		if ((void *)(iph + 1) > data_end || iph->version != 4 ||
		    iph->ihl < 5)
			return LB_VERDICT(XDP_PASS, pass_malformed);
		ip_len = bpf_ntohs(iph->tot_len);
		if (ip_len < iph->ihl * 4 || (void *)iph + ip_len > data_end)
			return LB_VERDICT(XDP_PASS, pass_malformed);
		if (!lb_vip_filter_hit(&iph->daddr, 0))
			return LB_VERDICT(XDP_PASS, pass_not_vip);
		proto = iph->protocol;
		if (proto != IPPROTO_TCP && proto != IPPROTO_UDP &&
		    proto != IPPROTO_ICMP)
			return LB_VERDICT(XDP_PASS, pass_not_vip);
		if (lb_ipv4_is_fragment(iph))
			return LB_NOT_PARSED(&iph->daddr, 0, drop_fragment);
		if (iph->ihl != 5)
			return LB_NOT_PARSED(&iph->daddr, 0, drop_ip_options);
		if (proto == IPPROTO_ICMP)
			return lb_icmp_error(ctx, l3_off, 0);
		if (lb_parse_l4(iph + 1, data_end, proto, ip_len - l3_hdr, &l4))
			return LB_NOT_PARSED(&iph->daddr, 0, drop_malformed_l4);
		df = iph->frag_off & bpf_htons(LB_IP_DF);
		fk4.saddr = iph->saddr;
		fk4.daddr = iph->daddr;
		fk4.sport = l4.sport;
		fk4.dport = l4.dport;
		fk4.proto = proto;
		src_word = fk4.saddr;
	} else {
		struct ipv6hdr *ip6h = data + l3_off;

		if ((void *)(ip6h + 1) > data_end || ip6h->version != 6)
			return LB_VERDICT(XDP_PASS, pass_malformed);
		ip_len = bpf_ntohs(ip6h->payload_len) + l3_hdr;
		if ((void *)ip6h + ip_len > data_end)
			return LB_VERDICT(XDP_PASS, pass_malformed);
		if (!lb_vip_filter_hit(&ip6h->daddr, 1))
			return LB_VERDICT(XDP_PASS, pass_not_vip);
		proto = ip6h->nexthdr;
		if (proto == IPPROTO_ICMPV6)
			return lb_icmp_error(ctx, l3_off, 1);
		if (proto != IPPROTO_TCP && proto != IPPROTO_UDP) {
			if (proto == IPPROTO_FRAGMENT)
				return LB_NOT_PARSED(&ip6h->daddr, 1, drop_fragment);
			if (lb_ipv6_is_ext(proto))
				return LB_NOT_PARSED(&ip6h->daddr, 1, drop_ipv6_ext);
			return LB_VERDICT(XDP_PASS, pass_not_vip);
		}
		if (lb_parse_l4(ip6h + 1, data_end, proto, ip_len - l3_hdr, &l4))
			return LB_NOT_PARSED(&ip6h->daddr, 1, drop_malformed_l4);
		__builtin_memcpy(fk6.saddr, &ip6h->saddr, 16);
		__builtin_memcpy(fk6.daddr, &ip6h->daddr, 16);
		fk6.sport = l4.sport;
		fk6.dport = l4.dport;
		fk6.proto = proto;
		src_word = ((__u32 *)fk6.saddr)[0] ^ ((__u32 *)fk6.saddr)[1] ^
			   ((__u32 *)fk6.saddr)[2] ^ ((__u32 *)fk6.saddr)[3];
	}

	/* Established flows first: one lookup, no VIP lookup. A SYN starts a
	 * new connection even if its 5-tuple was seen before. */
	fl = bpf_map_lookup_elem(flows, fk);
	if (fl && (proto != IPPROTO_TCP ||
		   (l4.flags & (LB_TCP_SYN | LB_TCP_ACK)) != LB_TCP_SYN))
		be_id = lb_pick_pinned(fl, &be, &vip, &vip_id);
	if (!be_id) {
		vip = lb_find_vip(v6 ? (void *)fk6.daddr : (void *)&fk4.daddr,
				  l4.dport, proto, v6, &vip_id);
		if (!vip)
			return LB_VERDICT(XDP_PASS, pass_not_vip);
		new_flow = 1;
	}
	cfg = bpf_map_lookup_elem(&lb_config, &zero);
	if (!cfg || !vip)
		return LB_VERDICT(XDP_PASS, pass_not_vip);

	/* The mode is read once: lb_vip_info may be rewritten meanwhile. */
	mode = vip->mode;
	if (mode != LB_FWD_IPIP && mode != LB_FWD_L2DSR)
		return LB_VERDICT(XDP_DROP, drop_bad_mode);
	/* Too big once encapsulated: tell the client (path-MTU discovery). */
	if (mode == LB_FWD_IPIP) {
		mtu = cfg->mtu ? cfg->mtu : 1500;
		if (mtu > 0xffff) /* keeps the ICMP MTU field from wrapping */
			mtu = 0xffff;
		if (ip_len + overhead > mtu) {
			if (v6)
				return lb_icmp6_too_big(ctx, l3_off, mtu - overhead);
			if (!df)
				return LB_VERDICT(XDP_DROP, drop_too_big_no_df);
			return lb_icmp4_too_big(ctx, l3_off, mtu - overhead);
		}
	}

	if (new_flow) {
		__u32 hash = v6 ? lb_flow_hash6(&fk6, cfg->hash_seed)
				: lb_flow_hash4(&fk4, cfg->hash_seed);

		be_id = lb_pick_new(vip, vip_id, flows, fk, fl, hash, v6,
				    !(proto == IPPROTO_TCP && (l4.flags & LB_TCP_RST)),
				    &be, &drop);
		if (!be_id || !be) {
			lb_global_inc(drop);
			return XDP_DROP;
		}
	}
	if (!be)
		return LB_VERDICT(XDP_DROP, drop_bad_backend);
	return lb_send(ctx, l3_off, v6, mode, vip_id, be_id, be, cfg,
		       lb_encap_entropy(src_word, l4.sport), pkt_len, new_flow);
}

SEC("xdp")
int xdp_lb(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 l3_off = 0;
	__be16 proto = lb_parse_l2(data, data_end, &l3_off);

	if (!proto)
		return LB_VERDICT(XDP_PASS, pass_malformed);
	/* Not sent to us alone (broadcast, multicast, or seen promiscuously
	 * with a group address): never forwarded, or its destination MAC would
	 * become our source MAC. */
	if (((struct ethhdr *)data)->h_dest[0] & 1)
		return LB_VERDICT(XDP_PASS, pass_l2_multicast);
	if (l3_off == sizeof(struct ethhdr)) {
		if (proto == bpf_htons(ETH_P_IP))
			return lb_process(ctx, sizeof(struct ethhdr), 0);
		if (proto == bpf_htons(ETH_P_IPV6))
			return lb_process(ctx, sizeof(struct ethhdr), 1);
	} else {
		if (proto == bpf_htons(ETH_P_IP))
			return lb_process(ctx, sizeof(struct ethhdr) + 4, 0);
		if (proto == bpf_htons(ETH_P_IPV6))
			return lb_process(ctx, sizeof(struct ethhdr) + 4, 1);
	}
	return LB_VERDICT(XDP_PASS, pass_not_ip);
}
