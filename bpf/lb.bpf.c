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
 * table and the choice is recorded (except for a RST). The frame then
 * leaves through the port it came in on (XDP_TX), encapsulated (ipip) or
 * with only its destination MAC rewritten (l2dsr). ICMP errors about a VIP
 * flow (path-MTU discovery on the DSR return path) go to the flow's
 * backend the same way.
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

/* Verdict for traffic we could not parse up to its ports: drop it (and
 * count the reason) only if it is for a VIP address. */
#define LB_NOT_PARSED(daddr, v6, reason)                                     \
	(lb_addr_listed(&lb_vip_addrs, daddr, v6) ?                          \
		 LB_VERDICT(XDP_DROP, reason) :                              \
		 LB_VERDICT(XDP_PASS, pass_not_vip))

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

/* The backend flow entry fl pins its flow to, if that backend still
 * exists (same epoch, active). A VIP that goes away deactivates its
 * backends first, so this needs no VIP lookup. Returns the backend id
 * (0: not pinned) and sets *bep. */
static __always_inline __u32 lb_pick_pinned(const struct lb_flow *fl,
					    struct lb_backend **bep)
{
	struct lb_backend *be;
	__u32 be_id = fl->backend_id;

	be = bpf_map_lookup_elem(&lb_backends, &be_id);
	if (!be || !(be->flags & LB_BACKEND_F_ACTIVE) ||
	    be->epoch != fl->backend_epoch)
		return 0;
	/* Its worker is gone: a new choice (the table no longer holds it)
	 * gets the client a RST from a live backend at once, instead of
	 * retransmitting into a dead one until its timeout. */
	if (be->state == LB_BE_DOWN) {
		lb_global_inc(offsetof(struct lb_global_stats, flow_resteer_down));
		return 0;
	}
	*bep = be;
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

/* The backend of the VIP's table slot for this flow hash.
 * Returns the backend id, or 0 with *drop set to the counter to bump. */
static __always_inline __u32 lb_pick_new(const struct lb_vip *vip, __u32 vip_id,
					 __u32 hash, const int v6,
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
	    be->vip_id != vip_id || be->mode != vip->mode) {
		*drop = offsetof(struct lb_global_stats, drop_bad_backend);
		return 0;
	}
	*bep = be;
	return be_id;
}

/* What lb_choose() decided. */
struct lb_choice {
	struct lb_backend *be;
	__u32 be_id;
	__u32 vip_id;
	__u32 drop;    /* counter offset, when the packet must be dropped */
	int new_flow;  /* chosen from the table, not from a flow entry */
	__u8 mode;     /* how to forward: the VIP's mode, read once */
};

#define LB_CHOSEN 1
#define LB_NOT_A_VIP 0
#define LB_DROP (-1)

/* Chooses the backend for a packet of flow fk whose flow entry is fl (or
 * NULL): the backend it is pinned to, unless the packet starts a new
 * connection (fresh) or the pin is stale; else the VIP's table slot for
 * the flow hash. Records nothing. Returns LB_CHOSEN, LB_NOT_A_VIP or
 * LB_DROP (c->drop says why). */
static __always_inline int lb_choose(const struct lb_flow *fl, int fresh,
				     const void *fk, const void *daddr,
				     __be16 dport, __u8 proto, const int v6,
				     const struct lb_config *cfg,
				     struct lb_choice *c)
{
	struct lb_vip *vip;
	__u32 hash;

	if (fl && !fresh) {
		c->be_id = lb_pick_pinned(fl, &c->be);
		if (c->be_id && c->be) {
			c->vip_id = c->be->vip_id;
			c->mode = c->be->mode;
			return LB_CHOSEN;
		}
	}
	vip = lb_find_vip(daddr, dport, proto, v6, &c->vip_id);
	if (!vip)
		return LB_NOT_A_VIP;
	c->new_flow = 1;
	c->mode = vip->mode;
	hash = v6 ? lb_flow_hash6(fk, cfg->hash_seed)
		  : lb_flow_hash4(fk, cfg->hash_seed);
	c->be_id = lb_pick_new(vip, c->vip_id, hash, v6, &c->be, &c->drop);
	return c->be_id && c->be ? LB_CHOSEN : LB_DROP;
}

/* Pins a new flow to its backend, unless its entry (old) already says so:
 * an LRU update allocates a new element, which is most of the cost of a
 * new flow, and a SYN retransmit needs none of it. */
static __always_inline void lb_record(void *flows, const void *fk,
				      const struct lb_flow *old, __u32 be_id,
				      __u32 epoch)
{
	struct lb_flow fl = { .backend_id = be_id, .backend_epoch = epoch };

	if (old && old->backend_id == be_id && old->backend_epoch == epoch)
		return;
	if (bpf_map_update_elem(flows, fk, &fl, BPF_ANY))
		lb_global_inc(offsetof(struct lb_global_stats, flow_insert_fail));
}

/* L3 MTU towards the backends, bounded so the ICMP field cannot wrap. */
static __always_inline __u32 lb_mtu(const struct lb_config *cfg)
{
	__u32 mtu = cfg->mtu ? cfg->mtu : 1500;

	return mtu > 0xffff ? 0xffff : mtu;
}

/* Sends the frame to backend be_id the VIP's way (mode), counting it. */
static __always_inline int lb_send(struct xdp_md *ctx, const __u32 l3_off,
				   const int v6, __u8 mode,
				   const struct lb_choice *c,
				   const struct lb_config *cfg, __u32 entropy,
				   __u32 pkt_len)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	const struct lb_backend *be = c->be;
	struct lb_nexthop *nh;
	__u32 be_id = c->be_id;

	if (!be)
		return LB_VERDICT(XDP_DROP, drop_bad_backend);
	nh = bpf_map_lookup_elem(&lb_nexthops, &be_id);
	if (!nh || !(nh->flags & LB_NEXTHOP_F_VALID))
		return LB_VERDICT(XDP_DROP, drop_no_nexthop);
	if (mode == LB_FWD_L2DSR && data + l3_off > data_end)
		return LB_VERDICT(XDP_PASS, pass_malformed); /* parsed before */

	lb_counters_add(&lb_vip_stats, c->vip_id, pkt_len, c->new_flow);
	lb_counters_add(&lb_be_stats, be_id, pkt_len, c->new_flow);

	if (mode == LB_FWD_L2DSR) {
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

static __always_inline int lb_addr6_equal(const void *a, const void *b)
{
	const __u32 *x = a, *y = b;

	return !((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]));
}

/* The client address folded to 32 bits, for encap entropy. */
static __always_inline __u32 lb_fold_addr(const void *addr, const int v6)
{
	const __u32 *w = addr;

	return v6 ? w[0] ^ w[1] ^ w[2] ^ w[3] : w[0];
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
 * Anything else (echo, errors about other traffic) goes to the kernel.
 */
static __always_inline int lb_icmp_error(struct xdp_md *ctx, const __u32 l3_off,
					 const int v6, __u32 ip_len)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	void *flows = v6 ? (void *)&lb_flows6 : (void *)&lb_flows4;
	const __u32 overhead = v6 ? LB_IPIP_V6_OVERHEAD : LB_IPIP_V4_OVERHEAD;
	struct lb_flow_key4 fk4 = {};
	struct lb_flow_key6 fk6 = {};
	void *fk = v6 ? (void *)&fk6 : (void *)&fk4;
	struct lb_choice c = {};
	struct lb_config *cfg;
	__u32 zero = 0;
	__be16 *ports;
	int verdict;
	__u8 mode;

	if (!v6) {
		struct iphdr *outer = data + l3_off;
		struct lb_icmphdr *icmp = (void *)(outer + 1);
		struct iphdr *in = (void *)(icmp + 1);

		ports = (void *)(in + 1);
		if ((void *)(ports + 2) > data_end ||
		    icmp->type != LB_ICMP_DEST_UNREACH || in->version != 4 ||
		    in->ihl != 5 || lb_ipv4_is_fragment(in) ||
		    in->saddr != outer->daddr ||
		    (in->protocol != IPPROTO_TCP && in->protocol != IPPROTO_UDP))
			return LB_VERDICT(XDP_PASS, pass_not_vip);
		fk4.saddr = in->daddr;
		fk4.daddr = in->saddr;
		fk4.proto = in->protocol;
		fk4.sport = ports[1]; /* quoted: VIP port, then client port */
		fk4.dport = ports[0];
	} else {
		struct ipv6hdr *outer = data + l3_off;
		struct lb_icmp6hdr *icmp = (void *)(outer + 1);
		struct ipv6hdr *in = (void *)(icmp + 1);

		ports = (void *)(in + 1);
		if ((void *)(ports + 2) > data_end ||
		    (icmp->type != LB_ICMPV6_DEST_UNREACH &&
		     icmp->type != LB_ICMPV6_PKT_TOOBIG) ||
		    !lb_addr6_equal(&in->saddr, &outer->daddr) ||
		    (in->nexthdr != IPPROTO_TCP && in->nexthdr != IPPROTO_UDP))
			return LB_VERDICT(XDP_PASS, pass_not_vip);
		__builtin_memcpy(fk6.saddr, &in->daddr, 16);
		__builtin_memcpy(fk6.daddr, &in->saddr, 16);
		fk6.proto = in->nexthdr;
		fk6.sport = ports[1];
		fk6.dport = ports[0];
	}
	cfg = bpf_map_lookup_elem(&lb_config, &zero);
	if (!cfg)
		return LB_VERDICT(XDP_PASS, pass_not_vip);
	switch (lb_choose(bpf_map_lookup_elem(flows, fk), 0, fk,
			  v6 ? (void *)fk6.daddr : (void *)&fk4.daddr,
			  v6 ? fk6.dport : fk4.dport,
			  v6 ? fk6.proto : fk4.proto, v6, cfg, &c)) {
	case LB_NOT_A_VIP:
		return LB_VERDICT(XDP_PASS, pass_not_vip);
	case LB_DROP:
		lb_global_inc(c.drop);
		return XDP_DROP;
	}
	c.new_flow = 0; /* an error is not a connection */
	mode = c.mode;
	if (mode != LB_FWD_IPIP && mode != LB_FWD_L2DSR)
		return LB_VERDICT(XDP_DROP, drop_bad_mode);
	if (mode == LB_FWD_IPIP && ip_len + overhead > lb_mtu(cfg))
		return LB_VERDICT(XDP_DROP, drop_icmp_err_too_big);
	verdict = lb_send(ctx, l3_off, v6, mode, &c, cfg,
			  lb_encap_entropy(lb_fold_addr(fk, v6),
					   v6 ? fk6.sport : fk4.sport),
			  data_end - data);
	if (verdict == XDP_TX)
		lb_global_inc(offsetof(struct lb_global_stats, icmp_err_to_backend));
	return verdict;
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
	struct lb_choice c = {};
	struct lb_config *cfg;
	struct lb_flow *fl;
	struct lb_l4 l4;
	__u32 ip_len, zero = 0, mtu;
	int df = 1, syn, ret;
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
		if (proto == IPPROTO_ICMP) {
			/* errors come unfragmented and without options */
			if (lb_ipv4_is_fragment(iph) || iph->ihl != 5)
				return LB_VERDICT(XDP_PASS, pass_not_vip);
			return lb_icmp_error(ctx, l3_off, 0, ip_len);
		}
		if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
			return LB_VERDICT(XDP_PASS, pass_not_vip);
		if (lb_ipv4_is_fragment(iph))
			return LB_NOT_PARSED(&iph->daddr, 0, drop_fragment);
		if (iph->ihl != 5)
			return LB_NOT_PARSED(&iph->daddr, 0, drop_ip_options);
		if (lb_parse_l4(iph + 1, data_end, proto, ip_len - l3_hdr, &l4))
			return LB_NOT_PARSED(&iph->daddr, 0, drop_malformed_l4);
		df = iph->frag_off & bpf_htons(LB_IP_DF);
		fk4.saddr = iph->saddr;
		fk4.daddr = iph->daddr;
		fk4.sport = l4.sport;
		fk4.dport = l4.dport;
		fk4.proto = proto;
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
			return lb_icmp_error(ctx, l3_off, 1, ip_len);
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
	}

	cfg = bpf_map_lookup_elem(&lb_config, &zero);
	if (!cfg)
		return LB_VERDICT(XDP_PASS, pass_not_vip);
	/* Established flows first: one lookup, no VIP lookup. A SYN starts a
	 * new connection even if its 5-tuple was seen before. */
	fl = bpf_map_lookup_elem(flows, fk);
	syn = proto == IPPROTO_TCP &&
	      (l4.flags & (LB_TCP_SYN | LB_TCP_ACK)) == LB_TCP_SYN;
	ret = lb_choose(fl, syn, fk, v6 ? (void *)fk6.daddr : (void *)&fk4.daddr,
			l4.dport, proto, v6, cfg, &c);
	if (ret == LB_NOT_A_VIP)
		return LB_VERDICT(XDP_PASS, pass_not_vip);
	if (ret == LB_DROP) {
		lb_global_inc(c.drop);
		return XDP_DROP;
	}

	mode = c.mode; /* read once by lb_choose() */
	if (mode != LB_FWD_IPIP && mode != LB_FWD_L2DSR)
		return LB_VERDICT(XDP_DROP, drop_bad_mode);
	/* Too big once encapsulated: tell the client (path-MTU discovery). */
	if (mode == LB_FWD_IPIP) {
		mtu = lb_mtu(cfg);
		if (ip_len + overhead > mtu) {
			if (v6)
				return lb_icmp6_too_big(ctx, l3_off, mtu - overhead);
			if (!df)
				return LB_VERDICT(XDP_DROP, drop_too_big_no_df);
			return lb_icmp4_too_big(ctx, l3_off, mtu - overhead);
		}
	}
	if (c.new_flow && !(proto == IPPROTO_TCP && (l4.flags & LB_TCP_RST)))
		lb_record(flows, fk, fl, c.be_id, c.be->epoch);
	return lb_send(ctx, l3_off, v6, mode, &c, cfg,
		       lb_encap_entropy(lb_fold_addr(fk, v6), l4.sport), pkt_len);
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
