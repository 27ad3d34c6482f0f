// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_datapath.c - packet fixtures for the balancer and decap XDP programs
 * through BPF_PROG_TEST_RUN: input frame -> expected verdict and the exact
 * expected output bytes. Expected frames are built here from the packet
 * spec with this file's own checksum code, not with the datapath's.
 * Needs root (CAP_BPF).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "inferlb.h"
#include "lb_hash.h"
#include "lb.skel.h"
#include "decap.skel.h"
#include "testlib.h"
#include "lb_filter.h"
#include "lb_maglev.h"
#include "lb_ring.h"

#define RING 65537
#define OUTER_SRC4 "198.18.3.1"
#define OUTER_SRC6 "2001:db8:3::1"

struct fx {
	struct lb_bpf *lb;
	int prog;
};

/* The forwarding matrix: VIP id = family*4 + mode*2 + (udp), backend id =
 * VIP id + 1. ipip VIPs on .10, l2dsr VIPs on .20; TCP port 80, UDP 53. */
static const char *vip_addr(int family, int mode)
{
	if (family == 4)
		return mode == LB_FWD_IPIP ? "198.18.0.10" : "198.18.0.20";
	return mode == LB_FWD_IPIP ? "2001:db8::10" : "2001:db8::20";
}

static __u32 matrix_id(int family, int mode, int udp)
{
	return (family == 6) * 4 + mode * 2 + udp;
}

static int setup(void **state)
{
	static struct fx f;
	char be[64];

	f.lb = tl_lb_load();
	if (!f.lb)
		return -1;
	f.prog = bpf_program__fd(f.lb->progs.xdp_lb);
	for (int fam = 4; fam <= 6; fam += 2)
		for (int mode = 0; mode < 2; mode++)
			for (int udp = 0; udp < 2; udp++) {
				__u32 id = matrix_id(fam, mode, udp);

				tl_backend_text(fam, id + 1, be, sizeof(be));
				if (tl_vip_add(f.lb, fam, vip_addr(fam, mode),
					       udp ? 53 : 80,
					       udp ? IPPROTO_UDP : IPPROTO_TCP,
					       mode, id, RING) ||
				    tl_backend_add(f.lb, id + 1, id, fam, be) ||
				    tl_ring_fill(f.lb, id, RING, id + 1))
					return -1;
			}
	/* id 8: a VIP without any table; id 9: a table of empty slots. */
	if (tl_vip_add(f.lb, 4, "198.18.0.30", 80, IPPROTO_TCP, LB_FWD_IPIP, 8, RING) ||
	    tl_vip_add(f.lb, 6, "2001:db8::30", 80, IPPROTO_TCP, LB_FWD_IPIP, 9, 7) ||
	    tl_ring_fill(f.lb, 9, 7, LB_BACKEND_NONE))
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	lb_bpf__destroy(f->lb);
	return 0;
}

/* ---- expected frames ----------------------------------------------------- */

static size_t l3_offset(const __u8 *frame)
{
	return frame[12] == 0x81 && frame[13] == 0x00 ? 18 : 14;
}

/* L2 header of a forwarded frame: to the backend's MAC from the LB's. */
static void expect_l2(__u8 *out, const __u8 *in, size_t l3_off, __u32 be_id)
{
	memcpy(out, in, l3_off);
	tl_mac_backend(be_id, out);
	memcpy(out + 6, tl_mac_lb, 6);
}

static size_t expect_ipip4(__u8 *out, const __u8 *in, size_t len, __u32 be_id,
			   const char *be, const char *src)
{
	size_t l3 = l3_offset(in);
	const struct iphdr *inner = (const void *)(in + l3);
	struct iphdr *o = (void *)(out + l3);
	__u8 a[16];

	expect_l2(out, in, l3, be_id);
	memset(o, 0, sizeof(*o));
	o->version = 4;
	o->ihl = 5;
	o->tos = inner->tos;
	o->tot_len = htons(ntohs(inner->tot_len) + 20);
	o->frag_off = htons(0x4000);
	o->ttl = 64;
	o->protocol = IPPROTO_IPIP;
	tl_addr(4, src, a);
	memcpy(&o->saddr, a, 4);
	tl_addr(4, be, a);
	memcpy(&o->daddr, a, 4);
	o->check = tl_csum(o, sizeof(*o), 0);
	memcpy(out + l3 + 20, in + l3, len - l3);
	return len + 20;
}

static size_t expect_ipip6(__u8 *out, const __u8 *in, size_t len, __u32 be_id,
			   const char *be)
{
	size_t l3 = l3_offset(in);
	const struct ipv6hdr *inner = (const void *)(in + l3);
	struct ipv6hdr *o = (void *)(out + l3);
	__u32 first = ntohl(*(const __be32 *)inner), ent, sw = 0, w[4];
	__be16 sport;
	__u8 a[16];

	memcpy(w, &inner->saddr, 16);
	for (int i = 0; i < 4; i++)
		sw ^= w[i]; /* the whole client address, folded */
	memcpy(&sport, in + l3 + 40, 2);
	ent = lb_encap_entropy(sw, sport);
	expect_l2(out, in, l3, be_id);
	/* version, the inner traffic class, 20 bits of flow entropy */
	*(__be32 *)o = htonl((first & 0xfff00000) | (ent & 0xfffff));
	o->payload_len = htons(ntohs(inner->payload_len) + 40);
	o->nexthdr = IPPROTO_IPV6;
	o->hop_limit = 64;
	tl_addr(6, OUTER_SRC6, a);
	memcpy(&o->saddr, a, 16);
	tl_addr(6, be, a);
	memcpy(&o->daddr, a, 16);
	memcpy(out + l3 + 40, in + l3, len - l3);
	return len + 40;
}

static size_t expect_l2dsr(__u8 *out, const __u8 *in, size_t len, __u32 be_id)
{
	memcpy(out, in, len);
	expect_l2(out, in, l3_offset(in), be_id);
	return len;
}

/* ICMP "fragmentation needed" / ICMPv6 "packet too big" back to the client. */
static size_t expect_too_big(__u8 *out, const __u8 *in, int family, __u32 mtu)
{
	size_t l3 = l3_offset(in), ipl = family == 6 ? 40 : 20, q = ipl + 8;
	__u8 *ip = out + l3, *icmp = out + l3 + ipl;
	const __u8 *oip = in + l3;

	memcpy(out, in, l3);
	memcpy(out, in + 6, 6);        /* back to the client's MAC */
	memcpy(out + 6, in, 6);        /* from ours */
	memset(ip, 0, ipl + 8);
	memcpy(icmp + 8, oip, q);      /* the quote */
	if (family == 4) {
		ip[0] = 0x45;
		*(__be16 *)(ip + 2) = htons(20 + 8 + q);
		ip[8] = 64;
		ip[9] = IPPROTO_ICMP;
		memcpy(ip + 12, oip + 16, 4);
		memcpy(ip + 16, oip + 12, 4);
		*(__be16 *)(ip + 10) = tl_csum(ip, 20, 0);
		icmp[0] = 3;
		icmp[1] = 4;
		*(__be16 *)(icmp + 6) = htons(mtu);
		*(__be16 *)(icmp + 2) = tl_csum(icmp, 8 + q, 0);
	} else {
		__u32 sum;

		ip[0] = 0x60;
		*(__be16 *)(ip + 4) = htons(8 + q);
		ip[6] = IPPROTO_ICMPV6;
		ip[7] = 64;
		memcpy(ip + 8, oip + 24, 16);
		memcpy(ip + 24, oip + 8, 16);
		icmp[0] = 2;
		*(__be32 *)(icmp + 4) = htonl(mtu);
		sum = tl_csum_add(ip + 8, 32, 0) + IPPROTO_ICMPV6 + 8 + q;
		*(__be16 *)(icmp + 2) = tl_csum(icmp, 8 + q, sum);
	}
	return l3 + ipl + 8 + q;
}

static void assert_frame(const struct tl_run *r, int verdict, const __u8 *exp,
			 size_t len)
{
	assert_int_equal(r->ret, verdict);
	assert_int_equal(r->len, len);
	assert_memory_equal(r->out, exp, len);
}

static void run_ok(int prog, const __u8 *in, size_t len, struct tl_run *r)
{
	assert_int_equal(tl_run(prog, in, len, r), 0);
}

/* ---- forwarding ----------------------------------------------------------- */

static void check_forward(struct fx *f, int fam, int mode, int udp, __u16 vlan)
{
	struct tl_pkt_spec s = { .family = fam, .dst = vip_addr(fam, mode),
				 .proto = udp ? IPPROTO_UDP : IPPROTO_TCP,
				 .dport = udp ? 53 : 80, .tcp_flags = 0x02,
				 .payload = 100, .vlan = vlan, .tos = 0xb8 };
	__u32 be_id = matrix_id(fam, mode, udp) + 1;
	__u8 in[2048], exp[2048];
	struct tl_run r;
	char be[64];
	size_t len = tl_build(&s, in, sizeof(in)), elen;

	tl_backend_text(fam, be_id, be, sizeof(be));
	if (mode == LB_FWD_L2DSR)
		elen = expect_l2dsr(exp, in, len, be_id);
	else if (fam == 4)
		elen = expect_ipip4(exp, in, len, be_id, be, OUTER_SRC4);
	else
		elen = expect_ipip6(exp, in, len, be_id, be);
	run_ok(f->prog, in, len, &r);
	assert_frame(&r, XDP_TX, exp, elen);
	/* The outer IPv4 header checksums to zero as received. */
	if (mode == LB_FWD_IPIP && fam == 4)
		assert_int_equal(tl_csum(r.out + l3_offset(in), 20, 0), 0);
}

static void test_forward_matrix(void **state)
{
	for (int fam = 4; fam <= 6; fam += 2)
		for (int mode = 0; mode < 2; mode++)
			for (int udp = 0; udp < 2; udp++)
				check_forward(*state, fam, mode, udp, 0);
}

static void test_forward_vlan(void **state)
{
	for (int fam = 4; fam <= 6; fam += 2)
		for (int mode = 0; mode < 2; mode++)
			check_forward(*state, fam, mode, 1, 100);
}

/* ---- pass to the kernel --------------------------------------------------- */

static void expect_pass(struct fx *f, const struct tl_pkt_spec *s)
{
	__u8 in[2048];
	struct tl_run r;
	size_t len = tl_build(s, in, sizeof(in));

	run_ok(f->prog, in, len, &r);
	assert_frame(&r, XDP_PASS, in, len);
}

static void test_pass_non_vip(void **state)
{
	struct fx *f = *state;
	__u64 before = TL_GLOBAL(f->lb, pass_not_vip);

	expect_pass(f, &(struct tl_pkt_spec){ .family = 4, .dport = 81 });
	expect_pass(f, &(struct tl_pkt_spec){ .family = 4, .dst = "198.18.0.99" });
	expect_pass(f, &(struct tl_pkt_spec){ .family = 4, .proto = IPPROTO_UDP });
	expect_pass(f, &(struct tl_pkt_spec){ .family = 6, .dport = 8080 });
	expect_pass(f, &(struct tl_pkt_spec){ .family = 6, .dst = "2001:db8::99" });
	/* ICMP to a VIP address belongs to the kernel too. */
	expect_pass(f, &(struct tl_pkt_spec){ .family = 4, .proto = IPPROTO_ICMP });
	expect_pass(f, &(struct tl_pkt_spec){ .family = 6, .proto = IPPROTO_ICMPV6 });
	assert_int_equal(TL_GLOBAL(f->lb, pass_not_vip) - before, 7);
}

static void test_pass_arp_and_qinq(void **state)
{
	struct fx *f = *state;
	__u8 arp[60] = { 0 }, qinq[2048];
	struct tl_run r;
	size_t len;

	memset(arp, 0xff, 6);
	memcpy(arp + 6, tl_mac_client, 6);
	arp[12] = 0x08;
	arp[13] = 0x06;
	run_ok(f->prog, arp, sizeof(arp), &r);
	assert_frame(&r, XDP_PASS, arp, sizeof(arp));

	/* Two VLAN tags: beyond what we parse, so the kernel gets it. */
	len = tl_build(&(struct tl_pkt_spec){ .family = 4, .vlan = 7 }, qinq,
		       sizeof(qinq));
	memmove(qinq + 18, qinq + 14, len - 14);
	qinq[14] = 0;
	qinq[15] = 8;
	qinq[16] = 0x81;
	qinq[17] = 0x00;
	run_ok(f->prog, qinq, len + 4, &r);
	assert_frame(&r, XDP_PASS, qinq, len + 4);
	assert_int_equal(TL_GLOBAL(f->lb, pass_not_ip), 1);
	/* The broadcast ARP never reaches the IP parser. */
	assert_int_equal(TL_GLOBAL(f->lb, pass_l2_multicast), 1);
	/* Nor does a VIP packet sent to a group MAC: forwarding it would
	 * make that group address our source MAC. */
	len = tl_build(&(struct tl_pkt_spec){ .family = 4 }, qinq, sizeof(qinq));
	qinq[0] = 0x01;
	run_ok(f->prog, qinq, len, &r);
	assert_frame(&r, XDP_PASS, qinq, len);
	assert_int_equal(TL_GLOBAL(f->lb, pass_l2_multicast), 2);
}

/* ---- malformed and truncated ---------------------------------------------- */

static void check_truncations(struct fx *f, int fam, __u16 vlan, int udp)
{
	struct tl_pkt_spec s = { .family = fam, .payload = 0, .vlan = vlan,
				 .proto = udp ? IPPROTO_UDP : IPPROTO_TCP,
				 .dport = udp ? 53 : 80 };
	const size_t l4_hdr = udp ? 8 : 20;
	__u8 in[2048];
	struct tl_run r;
	size_t len = tl_build(&s, in, sizeof(in));
	size_t l3 = l3_offset(in), ipl = fam == 6 ? 40 : 20;

	/* The kernel refuses test runs shorter than an Ethernet header. */
	assert_int_equal(tl_run(f->prog, in, 13, &r), -EINVAL);
	/* Cut at every byte, header boundaries included: never forwarded,
	 * never modified, never XDP_ABORTED. */
	for (size_t cut = 14; cut < len; cut++) {
		__u64 before = TL_GLOBAL(f->lb, pass_malformed);

		run_ok(f->prog, in, cut, &r);
		assert_frame(&r, XDP_PASS, in, cut);
		assert_int_equal(TL_GLOBAL(f->lb, pass_malformed) - before, 1);
	}
	/* A consistent IP header whose L4 header is cut short (the IP length
	 * says fewer bytes follow than the header needs). For a VIP: a drop. */
	for (size_t l4 = 0; l4 < l4_hdr; l4 += 3) {
		__u64 before = TL_GLOBAL(f->lb, drop_malformed_l4);
		__u8 *ip = in + l3;

		len = tl_build(&s, in, sizeof(in));
		if (fam == 4) {
			*(__be16 *)(ip + 2) = htons(20 + l4);
			*(__be16 *)(ip + 10) = 0;
			*(__be16 *)(ip + 10) = tl_csum(ip, 20, 0);
		} else {
			*(__be16 *)(ip + 4) = htons(l4);
		}
		run_ok(f->prog, in, l3 + ipl + l4, &r);
		assert_frame(&r, XDP_DROP, in, l3 + ipl + l4);
		assert_int_equal(TL_GLOBAL(f->lb, drop_malformed_l4) - before, 1);
	}
}

static void test_truncation(void **state)
{
	for (int udp = 0; udp < 2; udp++) {
		check_truncations(*state, 4, 0, udp);
		check_truncations(*state, 6, 0, udp);
		check_truncations(*state, 4, 42, udp);
		check_truncations(*state, 6, 42, udp);
	}
}

static void test_bad_ip_header(void **state)
{
	struct fx *f = *state;
	__u8 in[2048];
	struct tl_run r;
	size_t len = tl_build(&(struct tl_pkt_spec){ .family = 4 }, in, sizeof(in));

	in[14] = 0x44; /* IHL 4 */
	run_ok(f->prog, in, len, &r);
	assert_frame(&r, XDP_PASS, in, len);
	in[14] = 0x65; /* version 6 in an IPv4 frame */
	run_ok(f->prog, in, len, &r);
	assert_frame(&r, XDP_PASS, in, len);
	assert_int_equal(TL_GLOBAL(f->lb, pass_malformed), 2);
}

static void expect_drop(struct fx *f, const struct tl_pkt_spec *s)
{
	__u8 in[2048];
	struct tl_run r;
	size_t len = tl_build(s, in, sizeof(in));

	run_ok(f->prog, in, len, &r);
	assert_frame(&r, XDP_DROP, in, len);
}

static void test_ip_options(void **state)
{
	struct fx *f = *state;

	expect_drop(f, &(struct tl_pkt_spec){ .family = 4, .ip_opts = 4 });
	expect_drop(f, &(struct tl_pkt_spec){ .family = 4, .ip_opts = 40,
					      .proto = IPPROTO_UDP, .dport = 53 });
	assert_int_equal(TL_GLOBAL(f->lb, drop_ip_options), 2);
	/* Not a VIP address: the kernel's business. */
	expect_pass(f, &(struct tl_pkt_spec){ .family = 4, .ip_opts = 4,
					      .dst = "198.18.0.99" });
}

static void test_fragments(void **state)
{
	struct fx *f = *state;

	expect_drop(f, &(struct tl_pkt_spec){ .family = 4, .frag_off = 0x2000,
					      .no_df = true });
	expect_drop(f, &(struct tl_pkt_spec){ .family = 4, .frag_off = 0x00b9,
					      .no_df = true });
	expect_drop(f, &(struct tl_pkt_spec){ .family = 6, .v6_ext = true,
					      .v6_ext_type = IPPROTO_FRAGMENT });
	assert_int_equal(TL_GLOBAL(f->lb, drop_fragment), 3);
	expect_pass(f, &(struct tl_pkt_spec){ .family = 4, .frag_off = 0x2000,
					      .no_df = true, .dst = "198.18.9.9" });
}

static void test_ipv6_ext(void **state)
{
	struct fx *f = *state;

	expect_drop(f, &(struct tl_pkt_spec){ .family = 6, .v6_ext = true,
					      .v6_ext_type = IPPROTO_HOPOPTS });
	expect_drop(f, &(struct tl_pkt_spec){ .family = 6, .v6_ext = true,
					      .v6_ext_type = IPPROTO_DSTOPTS });
	assert_int_equal(TL_GLOBAL(f->lb, drop_ipv6_ext), 2);
	expect_pass(f, &(struct tl_pkt_spec){ .family = 6, .v6_ext = true,
					      .v6_ext_type = IPPROTO_HOPOPTS,
					      .dst = "2001:db8::99" });
}

static void test_vip_without_backends(void **state)
{
	struct fx *f = *state;

	expect_drop(f, &(struct tl_pkt_spec){ .family = 4, .dst = "198.18.0.30",
					      .tcp_flags = 0x02 });
	expect_drop(f, &(struct tl_pkt_spec){ .family = 6, .dst = "2001:db8::30" });
	assert_int_equal(TL_GLOBAL(f->lb, drop_no_backend), 2);
}

static void test_no_nexthop(void **state)
{
	struct fx *f = *state;
	struct lb_nexthop nh = { 0 };
	__u32 id = 1;

	assert_int_equal(bpf_map_update_elem(bpf_map__fd(f->lb->maps.lb_nexthops),
					     &id, &nh, 0), 0);
	expect_drop(f, &(struct tl_pkt_spec){ .family = 4 });
	assert_int_equal(TL_GLOBAL(f->lb, drop_no_nexthop), 1);
}

/* ---- flow table ------------------------------------------------------------ */

/* Backend id (from the destination MAC) that a forwarded frame went to. */
static __u32 sent_to(const struct tl_run *r)
{
	assert_int_equal(r->ret, XDP_TX);
	return (__u32)r->out[4] << 8 | r->out[5];
}

static __u32 send_pkt(struct fx *f, const struct tl_pkt_spec *s)
{
	__u8 in[2048];
	struct tl_run r;

	run_ok(f->prog, in, tl_build(s, in, sizeof(in)), &r);
	return sent_to(&r);
}

static int flow_exists(struct fx *f, const char *src, __u16 sport)
{
	struct lb_flow_key4 k = { .sport = htons(sport), .dport = htons(80),
				  .proto = IPPROTO_TCP };
	struct lb_flow v;
	__u8 a[16];

	tl_addr(4, src, a);
	memcpy(&k.saddr, a, 4);
	tl_addr(4, "198.18.0.10", a);
	memcpy(&k.daddr, a, 4);
	return !bpf_map_lookup_elem(bpf_map__fd(f->lb->maps.lb_flows4), &k, &v);
}

/* Is the TCP handshake src:sport -> 198.18.0.10:80 waiting in its SYN slot
 * (SYN seen, no ACK yet), pinned to a backend? Returns that backend, or 0. */
static __u32 syn_waiting(struct fx *f, const char *src, __u16 sport)
{
	struct lb_flow_key4 k = { .sport = htons(sport), .dport = htons(80),
				  .proto = IPPROTO_TCP };
	struct lb_settings cfg;
	struct lb_syn4 sl;
	__u32 zero = 0, h, idx;
	__u8 a[16];

	tl_addr(4, src, a);
	memcpy(&k.saddr, a, 4);
	tl_addr(4, "198.18.0.10", a);
	memcpy(&k.daddr, a, 4);
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(f->lb->maps.lb_settings),
					     &zero, &cfg), 0);
	h = lb_flow_hash4(&k, cfg.hash_seed);
	idx = h & (LB_SYN4_SLOTS - 1);
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(f->lb->maps.lb_syn4),
					     &idx, &sl), 0);
	if (memcmp(&sl.key, &k, sizeof(k)) || sl.flow.flags ||
	    sl.check != lb_syn_check(h, sl.flow.backend_id, sl.flow.backend_epoch))
		return 0;
	return sl.flow.backend_id;
}

/* ---- VIP state and the address filter -------------------------------------- */

static void test_vip_state_and_filter(void **state)
{
	struct fx *f = *state;
	int ifd = bpf_map__fd(f->lb->maps.lb_vip_info);
	int ffd = bpf_map__fd(f->lb->maps.lb_vip_filter);
	struct tl_pkt_spec syn = { .family = 4, .sport = 45000, .tcp_flags = 0x02 };
	struct tl_pkt_spec ack = { .family = 4, .sport = 45000 };
	__u64 zero64 = 0;
	struct lb_vip v;
	__u32 id = 0;

	int bfd = bpf_map__fd(f->lb->maps.lb_backends);
	struct lb_backend b;
	__u32 be = 1;

	assert_int_equal(send_pkt(f, &syn), 1);
	/* An unknown forwarding mode is never guessed at: not for new flows
	 * (the VIP's mode), nor for established ones (the backend's copy). */
	assert_int_equal(bpf_map_lookup_elem(ifd, &id, &v), 0);
	v.mode = 7;
	assert_int_equal(bpf_map_update_elem(ifd, &id, &v, 0), 0);
	expect_drop(f, &(struct tl_pkt_spec){ .family = 4, .sport = 45001,
					      .tcp_flags = 0x02 });
	assert_int_equal(TL_GLOBAL(f->lb, drop_bad_backend), 1); /* modes differ */
	assert_int_equal(bpf_map_lookup_elem(bfd, &be, &b), 0);
	b.mode = 7;
	assert_int_equal(bpf_map_update_elem(bfd, &be, &b, 0), 0);
	expect_drop(f, &ack);
	expect_drop(f, &(struct tl_pkt_spec){ .family = 4, .sport = 45001,
					      .tcp_flags = 0x02 });
	assert_int_equal(TL_GLOBAL(f->lb, drop_bad_mode), 2);
	b.mode = LB_FWD_IPIP;
	assert_int_equal(bpf_map_update_elem(bfd, &be, &b, 0), 0);
	/* An inactive VIP is drained: no new flows, established ones go on
	 * until their backends are deactivated too. */
	v.mode = LB_FWD_IPIP;
	v.flags = 0;
	assert_int_equal(bpf_map_update_elem(ifd, &id, &v, 0), 0);
	assert_int_equal(send_pkt(f, &ack), 1);
	expect_pass(f, &syn);
	expect_pass(f, &(struct tl_pkt_spec){ .family = 4, .sport = 45002 });
	b.flags = 0;
	assert_int_equal(bpf_map_update_elem(bfd, &be, &b, 0), 0);
	expect_pass(f, &ack);
	b.flags = LB_BACKEND_F_ACTIVE;
	assert_int_equal(bpf_map_update_elem(bfd, &be, &b, 0), 0);
	v.flags = LB_VIP_F_ACTIVE;
	assert_int_equal(bpf_map_update_elem(ifd, &id, &v, 0), 0);
	assert_int_equal(send_pkt(f, &ack), 1);

	/* With the filter cleared, VIP addresses look like any other. */
	for (__u32 w = 0; w < LB_VIP_FILTER_WORDS; w++)
		assert_int_equal(bpf_map_update_elem(ffd, &w, &zero64, 0), 0);
	expect_pass(f, &ack);
	expect_pass(f, &(struct tl_pkt_spec){ .family = 6, .proto = IPPROTO_UDP,
					      .dport = 53 });
	/* Rebuilt from lb_vip_addrs, it lets them through again. */
	assert_int_equal(lb_filter_rebuild(ffd, bpf_map__fd(f->lb->maps.lb_vip_addrs)), 0);
	assert_int_equal(send_pkt(f, &ack), 1);
	assert_int_equal(send_pkt(f, &(struct tl_pkt_spec){ .family = 6,
				.proto = IPPROTO_UDP, .dport = 53 }),
			 matrix_id(6, LB_FWD_IPIP, 1) + 1);
}

static void test_flow_survives_rebuild(void **state)
{
	struct fx *f = *state;
	struct tl_pkt_spec syn = { .family = 4, .sport = 41000, .tcp_flags = 0x02 };
	struct tl_pkt_spec ack = syn;

	ack.tcp_flags = 0x10;
	assert_int_equal(tl_backend_add(f->lb, 11, 0, 4, "198.18.2.11"), 0);
	assert_int_equal(send_pkt(f, &syn), 1);
	/* The table is rebuilt with other weights: everything to 11. */
	assert_int_equal(tl_ring_fill(f->lb, 0, RING, 11), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(send_pkt(f, &ack), 1);
	/* A flow never seen before follows the new table... */
	ack.sport = 41001;
	assert_int_equal(send_pkt(f, &ack), 11);
	/* ...and a SYN on the old 5-tuple is a new connection: re-hashed. */
	assert_int_equal(send_pkt(f, &syn), 11);
	ack.sport = 41000;
	assert_int_equal(send_pkt(f, &ack), 11);
}

/* lb-agent's backend states: only DOWN moves established flows (the
 * worker is gone: a live backend answers the client's next packet with a
 * RST at once); DRAINING and OPEN keep them, new flows follow the table. */
static void test_down_backend_resteered(void **state)
{
	struct fx *f = *state;
	int bfd = bpf_map__fd(f->lb->maps.lb_backends);
	struct tl_pkt_spec syn = { .family = 4, .sport = 42000, .tcp_flags = 0x02 };
	struct tl_pkt_spec ack = syn;
	struct lb_backend b;
	__u32 be = 1;

	ack.tcp_flags = 0x10;
	assert_int_equal(tl_backend_add(f->lb, 12, 0, 4, "198.18.2.12"), 0);
	assert_int_equal(send_pkt(f, &syn), 1);
	assert_int_equal(tl_ring_fill(f->lb, 0, RING, 12), 0);
	assert_int_equal(bpf_map_lookup_elem(bfd, &be, &b), 0);
	for (__u8 st = LB_BE_STARTING; st < LB_BE_DOWN; st++) {
		b.state = st;
		assert_int_equal(bpf_map_update_elem(bfd, &be, &b, 0), 0);
		assert_int_equal(send_pkt(f, &ack), 1);
	}
	assert_int_equal(TL_GLOBAL(f->lb, flow_resteer_down), 0);
	b.state = LB_BE_DOWN;
	assert_int_equal(bpf_map_update_elem(bfd, &be, &b, 0), 0);
	assert_int_equal(send_pkt(f, &ack), 12);
	assert_int_equal(TL_GLOBAL(f->lb, flow_resteer_down), 1);
	/* re-recorded: the flow stays on its new backend when 1 comes back */
	b.state = LB_BE_HEALTHY;
	assert_int_equal(bpf_map_update_elem(bfd, &be, &b, 0), 0);
	assert_int_equal(send_pkt(f, &ack), 12);
	assert_int_equal(TL_GLOBAL(f->lb, flow_resteer_down), 1);
}

static void test_udp_flow_pinned(void **state)
{
	struct fx *f = *state;
	struct tl_pkt_spec u = { .family = 6, .proto = IPPROTO_UDP, .dport = 53,
				 .sport = 5353 };
	__u32 id = matrix_id(6, LB_FWD_IPIP, 1);

	assert_int_equal(tl_backend_add(f->lb, 21, id, 6, "2001:db8:2::21"), 0);
	assert_int_equal(send_pkt(f, &u), id + 1);
	assert_int_equal(tl_ring_fill(f->lb, id, RING, 21), 0);
	assert_int_equal(send_pkt(f, &u), id + 1);
	u.sport = 5354;
	assert_int_equal(send_pkt(f, &u), 21);
}

static void test_rst_not_recorded(void **state)
{
	struct fx *f = *state;

	assert_int_equal(send_pkt(f, &(struct tl_pkt_spec){ .family = 4, .sport = 42000,
							.tcp_flags = 0x04 }), 1);
	assert_false(flow_exists(f, "198.18.1.1", 42000));
	/* a SYN waits in its SYN slot (a flood of them cannot evict
	 * established flows), and its first ACK moves it into the table */
	assert_int_equal(send_pkt(f, &(struct tl_pkt_spec){ .family = 4, .sport = 42001,
							.tcp_flags = 0x02 }), 1);
	assert_false(flow_exists(f, "198.18.1.1", 42001));
	assert_int_equal(syn_waiting(f, "198.18.1.1", 42001), 1);
	assert_int_equal(send_pkt(f, &(struct tl_pkt_spec){ .family = 4, .sport = 42001,
							.tcp_flags = 0x10, .set_ack = true }), 1);
	assert_true(flow_exists(f, "198.18.1.1", 42001));
	assert_int_equal(syn_waiting(f, "198.18.1.1", 42001), 0);
}

static void test_gone_backend_rehashed(void **state)
{
	struct fx *f = *state;
	int fd = bpf_map__fd(f->lb->maps.lb_backends);
	struct tl_pkt_spec ack = { .family = 4, .sport = 43000 };
	struct lb_backend b;
	__u32 id = 1;

	assert_int_equal(tl_backend_add(f->lb, 11, 0, 4, "198.18.2.11"), 0);
	assert_int_equal(send_pkt(f, &ack), 1);
	assert_int_equal(tl_ring_fill(f->lb, 0, RING, 11), 0);
	/* id 1 is reassigned (new epoch): its old flows must not follow it. */
	assert_int_equal(bpf_map_lookup_elem(fd, &id, &b), 0);
	b.epoch++;
	assert_int_equal(bpf_map_update_elem(fd, &id, &b, 0), 0);
	assert_int_equal(send_pkt(f, &ack), 11);
	/* Deleted outright (inactive): same. */
	ack.sport = 43001;
	assert_int_equal(tl_ring_fill(f->lb, 0, RING, 1), 0);
	assert_int_equal(send_pkt(f, &ack), 1);
	assert_int_equal(tl_ring_fill(f->lb, 0, RING, 11), 0);
	b.flags = 0;
	assert_int_equal(bpf_map_update_elem(fd, &id, &b, 0), 0);
	assert_int_equal(send_pkt(f, &ack), 11);
}

static void test_stats(void **state)
{
	struct fx *f = *state;
	int vfd = bpf_map__fd(f->lb->maps.lb_vip_stats);
	int bfd = bpf_map__fd(f->lb->maps.lb_be_stats);
	struct tl_pkt_spec s = { .family = 4, .sport = 44000, .tcp_flags = 0x02,
				 .payload = 10 };
	__u8 in[2048];
	size_t len = tl_build(&s, in, sizeof(in));

	send_pkt(f, &s);
	s.tcp_flags = 0x10;
	send_pkt(f, &s);
	send_pkt(f, &s);
	s.sport = 44001;
	send_pkt(f, &s);
#define CTR(fd, key, field)                                                  \
	tl_percpu_sum(fd, key, sizeof(struct lb_counters),                   \
		      offsetof(struct lb_counters, field))
	assert_int_equal(CTR(vfd, 0, packets), 4);
	assert_int_equal(CTR(vfd, 0, bytes), 4 * len);
	assert_int_equal(CTR(vfd, 0, new_flows), 2);
	assert_int_equal(CTR(bfd, 1, packets), 4);
	assert_int_equal(CTR(bfd, 1, bytes), 4 * len);
	assert_int_equal(CTR(bfd, 1, new_flows), 2);
	assert_int_equal(CTR(vfd, 1, packets), 0);
#undef CTR
}

/* ---- MTU ------------------------------------------------------------------- */

static void test_icmp_too_big_v4(void **state)
{
	struct fx *f = *state;
	/* 20 IP + 20 TCP + 1460 = 1500: fits the wire, not once encapsulated. */
	struct tl_pkt_spec s = { .family = 4, .payload = 1460 };
	__u8 in[2048], exp[2048];
	struct tl_run r;
	size_t len = tl_build(&s, in, sizeof(in)), elen;
	char be[64];

	elen = expect_too_big(exp, in, 4, 1480);
	run_ok(f->prog, in, len, &r);
	assert_frame(&r, XDP_TX, exp, elen);
	assert_int_equal(TL_GLOBAL(f->lb, icmp_too_big_v4), 1);

	s.vlan = 5;
	len = tl_build(&s, in, sizeof(in));
	elen = expect_too_big(exp, in, 4, 1480);
	run_ok(f->prog, in, len, &r);
	assert_frame(&r, XDP_TX, exp, elen);

	/* 1480 bytes fit once encapsulated. */
	s.vlan = 0;
	s.payload = 1440;
	len = tl_build(&s, in, sizeof(in));
	tl_backend_text(4, 1, be, sizeof(be));
	elen = expect_ipip4(exp, in, len, 1, be, OUTER_SRC4);
	run_ok(f->prog, in, len, &r);
	assert_frame(&r, XDP_TX, exp, elen);

	/* Without DF the client does no PMTU discovery: drop and count. */
	s.payload = 1460;
	s.no_df = true;
	expect_drop(f, &s);
	assert_int_equal(TL_GLOBAL(f->lb, drop_too_big_no_df), 1);

	/* l2dsr adds nothing: a full-size frame goes through. */
	s.no_df = false;
	s.dst = vip_addr(4, LB_FWD_L2DSR);
	len = tl_build(&s, in, sizeof(in));
	run_ok(f->prog, in, len, &r);
	assert_int_equal(r.ret, XDP_TX);
	assert_int_equal(r.len, len);
}

static void test_icmp_too_big_v6(void **state)
{
	struct fx *f = *state;
	struct tl_pkt_spec s = { .family = 6, .payload = 1440 };
	struct lb_settings cfg;
	__u8 in[2048], exp[2048];
	struct tl_run r;
	size_t len = tl_build(&s, in, sizeof(in)), elen;
	__u32 zero = 0;
	int cfd = bpf_map__fd(f->lb->maps.lb_settings);

	elen = expect_too_big(exp, in, 6, 1460);
	run_ok(f->prog, in, len, &r);
	assert_frame(&r, XDP_TX, exp, elen);
	assert_int_equal(TL_GLOBAL(f->lb, icmp_too_big_v6), 1);

	/* The MTU comes from the configuration. */
	assert_int_equal(bpf_map_lookup_elem(cfd, &zero, &cfg), 0);
	cfg.mtu = 9000;
	assert_int_equal(bpf_map_update_elem(cfd, &zero, &cfg, 0), 0);
	run_ok(f->prog, in, len, &r);
	assert_int_equal(r.ret, XDP_TX);
	assert_int_equal(r.len, len + 40);
}

/* ---- ICMP errors about VIP flows -------------------------------------------- */

/* A router's ICMP error to the VIP about the backend's packet VIP -> client
 * (an IPv4 "fragmentation needed" or an ICMPv6 "packet too big"). */
static size_t icmp_error(int fam, const char *client, __u8 proto,
			 __u16 vip_port, __u16 client_port, __u8 *buf)
{
	size_t ipl = fam == 6 ? 40 : 20, l3 = 14, len;
	__u8 *ip = buf + l3, *icmp = ip + ipl, *q = icmp + 8, *l4 = q + ipl;
	__u8 vip[16], cl[16], router[16];

	memset(buf, 0, 256);
	memcpy(buf, tl_mac_lb, 6);
	memcpy(buf + 6, tl_mac_client, 6);
	tl_addr(fam, fam == 6 ? "2001:db8::10" : "198.18.0.10", vip);
	tl_addr(fam, client, cl);
	tl_addr(fam, fam == 6 ? "2001:db8:9::1" : "198.18.9.1", router);
	*(__be16 *)(l4) = htons(vip_port);
	*(__be16 *)(l4 + 2) = htons(client_port);
	len = l3 + ipl + 8 + ipl + 8;
	if (fam == 4) {
		buf[12] = 0x08;
		q[0] = 0x45;
		*(__be16 *)(q + 2) = htons(1400);
		q[8] = 64;
		q[9] = proto;
		memcpy(q + 12, vip, 4);
		memcpy(q + 16, cl, 4);
		ip[0] = 0x45;
		*(__be16 *)(ip + 2) = htons(len - l3);
		ip[8] = 64;
		ip[9] = IPPROTO_ICMP;
		memcpy(ip + 12, router, 4);
		memcpy(ip + 16, vip, 4);
		*(__be16 *)(ip + 10) = tl_csum(ip, 20, 0);
		icmp[0] = 3;
		icmp[1] = 4;
		*(__be16 *)(icmp + 6) = htons(1300);
		*(__be16 *)(icmp + 2) = tl_csum(icmp, len - l3 - 20, 0);
	} else {
		buf[12] = 0x86;
		buf[13] = 0xdd;
		q[0] = 0x60;
		*(__be16 *)(q + 4) = htons(1400);
		q[6] = proto;
		q[7] = 64;
		memcpy(q + 8, vip, 16);
		memcpy(q + 24, cl, 16);
		ip[0] = 0x60;
		*(__be16 *)(ip + 4) = htons(len - l3 - 40);
		ip[6] = IPPROTO_ICMPV6;
		ip[7] = 64;
		memcpy(ip + 8, router, 16);
		memcpy(ip + 24, vip, 16);
		icmp[0] = 2;
		*(__be32 *)(icmp + 4) = htonl(1300);
	}
	return len;
}

static void test_icmp_error_to_backend(void **state)
{
	struct fx *f = *state;
	__u8 in[2048], exp[2048];
	struct tl_run r;
	size_t len;
	__u32 v6vip = matrix_id(6, LB_FWD_IPIP, 1);

	/* The flow 198.18.1.1:46000 -> VIP:80 is pinned to backend 1; then
	 * the table moves everything to 11. */
	assert_int_equal(tl_backend_add(f->lb, 11, 0, 4, "198.18.2.11"), 0);
	assert_int_equal(send_pkt(f, &(struct tl_pkt_spec){ .family = 4,
				.sport = 46000, .tcp_flags = 0x02 }), 1);
	assert_int_equal(tl_ring_fill(f->lb, 0, RING, 11), 0);

	/* The router's error about that flow goes to its backend, whole. */
	len = icmp_error(4, "198.18.1.1", IPPROTO_TCP, 80, 46000, in);
	run_ok(f->prog, in, len, &r);
	assert_frame(&r, XDP_TX, exp,
		     expect_ipip4(exp, in, len, 1, "198.18.2.1", OUTER_SRC4));
	/* about a flow we do not hold: where its packets would be hashed */
	len = icmp_error(4, "198.18.1.1", IPPROTO_TCP, 80, 46001, in);
	run_ok(f->prog, in, len, &r);
	assert_frame(&r, XDP_TX, exp,
		     expect_ipip4(exp, in, len, 11, "198.18.2.11", OUTER_SRC4));
	/* about no VIP (port 81): the kernel's */
	len = icmp_error(4, "198.18.1.1", IPPROTO_TCP, 81, 46000, in);
	run_ok(f->prog, in, len, &r);
	assert_frame(&r, XDP_PASS, in, len);

	/* quoting a source that is not the address it was sent to: not ours */
	len = icmp_error(4, "198.18.1.1", IPPROTO_TCP, 80, 46000, in);
	in[14 + 28 + 15] ^= 1;
	run_ok(f->prog, in, len, &r);
	assert_frame(&r, XDP_PASS, in, len);
	/* echo to the VIP, full size, and ICMP with IP options: the kernel's */
	expect_pass(f, &(struct tl_pkt_spec){ .family = 4, .proto = IPPROTO_ICMP,
					      .payload = 56 });
	expect_pass(f, &(struct tl_pkt_spec){ .family = 4, .proto = IPPROTO_ICMP,
					      .payload = 56, .ip_opts = 4 });

	/* IPv6 "packet too big" about a UDP flow of the IPv6 ipip VIP. The
	 * outer flow label carries the flow's entropy, like its data packets. */
	assert_int_equal(send_pkt(f, &(struct tl_pkt_spec){ .family = 6,
				.proto = IPPROTO_UDP, .dport = 53, .sport = 5353 }),
			 v6vip + 1);
	len = icmp_error(6, "2001:db8:1::1", IPPROTO_UDP, 53, 5353, in);
	run_ok(f->prog, in, len, &r);
	{
		__u32 w[4], fold = 0, ent, first;
		__u8 cl[16];

		tl_addr(6, "2001:db8:1::1", cl);
		memcpy(w, cl, 16);
		for (int i = 0; i < 4; i++)
			fold ^= w[i];
		ent = lb_encap_entropy(fold, htons(5353));
		expect_ipip6(exp, in, len, v6vip + 1, "2001:db8:2::6");
		memcpy(&first, exp + 14, 4);
		first = htonl((ntohl(first) & 0xfff00000) | (ent & 0xfffff));
		memcpy(exp + 14, &first, 4);
		assert_frame(&r, XDP_TX, exp, len + 40);
	}
	assert_int_equal(TL_GLOBAL(f->lb, icmp_err_to_backend), 3);

	/* Too big to encapsulate (errors may quote more than RFC 1812 asks),
	 * or no next hop: dropped, one reason each, not counted as sent. */
	len = icmp_error(4, "198.18.1.1", IPPROTO_TCP, 80, 46000, in);
	memset(in + len, 0, 1500 - len + 14);
	*(__be16 *)(in + 14 + 2) = htons(1500);
	*(__be16 *)(in + 14 + 10) = 0;
	*(__be16 *)(in + 14 + 10) = tl_csum(in + 14, 20, 0);
	run_ok(f->prog, in, 1514, &r);
	assert_frame(&r, XDP_DROP, in, 1514);
	assert_int_equal(TL_GLOBAL(f->lb, drop_icmp_err_too_big), 1);
	{
		struct lb_nexthop nh = { 0 };
		__u32 id = 1;

		assert_int_equal(bpf_map_update_elem(
			bpf_map__fd(f->lb->maps.lb_nexthops), &id, &nh, 0), 0);
	}
	len = icmp_error(4, "198.18.1.1", IPPROTO_TCP, 80, 46000, in);
	run_ok(f->prog, in, len, &r);
	assert_frame(&r, XDP_DROP, in, len);
	assert_int_equal(TL_GLOBAL(f->lb, drop_no_nexthop), 1);
	assert_int_equal(TL_GLOBAL(f->lb, icmp_err_to_backend), 3);
}

/* ---- outer source entropy -------------------------------------------------- */

static void test_encap_entropy(void **state)
{
	struct fx *f = *state;
	int cfd = bpf_map__fd(f->lb->maps.lb_settings);
	struct lb_settings cfg;
	__u32 zero = 0, seen[256] = { 0 }, distinct = 0;
	__u8 in[2048];
	struct tl_run r, r2;

	assert_int_equal(bpf_map_lookup_elem(cfd, &zero, &cfg), 0);
	cfg.encap_src_v4_mask = htonl(0xff);
	assert_int_equal(bpf_map_update_elem(cfd, &zero, &cfg, 0), 0);
	for (int i = 0; i < 64; i++) {
		size_t len = tl_build(&(struct tl_pkt_spec){ .family = 4,
				.sport = 30000 + i * 13 }, in, sizeof(in));
		__u8 *src = NULL;

		run_ok(f->prog, in, len, &r);
		run_ok(f->prog, in, len, &r2);
		assert_int_equal(r.ret, XDP_TX);
		src = r.out + 14 + 12;
		/* inside 198.18.3.0/24, and the same for every packet of a flow */
		assert_int_equal(src[0], 198);
		assert_int_equal(src[1], 18);
		assert_int_equal(src[2], 3);
		assert_memory_equal(src, r2.out + 14 + 12, 4);
		assert_int_equal(tl_csum(r.out + 14, 20, 0), 0);
		distinct += !seen[src[3]]++;
	}
	assert_true(distinct >= 32);
}

/* ---- never aborted ----------------------------------------------------------- */

/* Sum of every pass/drop reason counter. */
static __u64 global_total(struct fx *f)
{
	__u64 sum = 0;

	for (size_t off = 0; off < sizeof(struct lb_global_stats); off += 8)
		sum += tl_percpu_sum(bpf_map__fd(f->lb->maps.lb_global_stats), 0,
				     sizeof(struct lb_global_stats), off);
	return sum;
}

static void test_random_frames_never_abort(void **state)
{
	struct fx *f = *state;
	__u8 in[2048];
	struct tl_run r;
	unsigned int seed = 12345;

	for (int i = 0; i < 3000; i++) {
		struct tl_pkt_spec s = { .family = (i & 1) ? 6 : 4,
					 .proto = (i & 2) ? IPPROTO_UDP : IPPROTO_TCP,
					 .dport = (i & 2) ? 53 : 80,
					 .vlan = (i & 4) ? 3 : 0, .payload = i % 97 };
		size_t len = tl_build(&s, in, sizeof(in));
		int flips = 1 + rand_r(&seed) % 4;
		__u64 before = global_total(f);

		for (int k = 0; k < flips; k++)
			in[rand_r(&seed) % len] ^= 1 << (rand_r(&seed) % 8);
		len = 14 + rand_r(&seed) % (len - 13);
		run_ok(f->prog, in, len, &r);
		assert_true(r.ret == XDP_PASS || r.ret == XDP_DROP ||
			    r.ret == XDP_TX);
		/* what goes to the kernel goes untouched, and every frame that
		 * is not forwarded is counted under exactly one reason */
		if (r.ret == XDP_PASS)
			assert_frame(&r, XDP_PASS, in, len);
		if (r.ret != XDP_TX)
			assert_int_equal(global_total(f) - before, 1);
	}
}

/* Mutated encapsulated frames through the decap program: never aborted,
 * and whatever it does not unwrap it passes untouched. */
static void test_decap_random_frames(void **state)
{
	struct fx *f = *state;
	struct decap_bpf *d = decap_bpf__open_and_load();
	struct lb_addr_key k4 = { .family = LB_AF_INET }, k6 = { .family = LB_AF_INET6 };
	struct lb_decap_addr v = { 0 };
	unsigned int seed = 777;
	int dprog;

	assert_non_null(d);
	dprog = bpf_program__fd(d->progs.xdp_decap);
	tl_addr(4, "198.18.2.2", k4.addr);
	tl_addr(6, "2001:db8:2::6", k6.addr);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(d->maps.lb_decap_addrs),
					     &k4, &v, 0), 0);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(d->maps.lb_decap_addrs),
					     &k6, &v, 0), 0);
	for (int i = 0; i < 2000; i++) {
		struct tl_pkt_spec s = { .family = (i & 1) ? 6 : 4,
					 .proto = IPPROTO_UDP, .dport = 53,
					 .vlan = (i & 2) ? 9 : 0, .payload = i % 61 };
		__u8 in[2048], frame[4096];
		struct tl_run enc, dec;
		size_t len = tl_build(&s, in, sizeof(in));
		int flips = rand_r(&seed) % 4;

		run_ok(f->prog, in, len, &enc);
		assert_int_equal(enc.ret, XDP_TX);
		memcpy(frame, enc.out, enc.len);
		len = enc.len;
		for (int k = 0; k < flips; k++)
			frame[rand_r(&seed) % len] ^= 1 << (rand_r(&seed) % 8);
		len = 14 + rand_r(&seed) % (len - 13);
		run_ok(dprog, frame, len, &dec);
		assert_true(dec.ret == XDP_PASS || dec.ret == XDP_DROP);
		/* unwrapped frames are shorter; anything else is untouched */
		if (dec.ret == XDP_PASS && dec.len >= len)
			assert_frame(&dec, XDP_PASS, frame, len);
	}
	decap_bpf__destroy(d);
}

/* ---- decap ------------------------------------------------------------------- */

static void test_decap(void **state)
{
	struct fx *f = *state;
	struct decap_bpf *d = decap_bpf__open_and_load();
	struct lb_addr_key k4 = { .family = LB_AF_INET }, k6 = { .family = LB_AF_INET6 };
	struct lb_decap_addr v = { 0 };
	int dprog, afd;

	assert_non_null(d);
	dprog = bpf_program__fd(d->progs.xdp_decap);
	afd = bpf_map__fd(d->maps.lb_decap_addrs);
	tl_addr(4, "198.18.2.2", k4.addr);
	tl_addr(6, "2001:db8:2::6", k6.addr);
	assert_int_equal(bpf_map_update_elem(afd, &k4, &v, 0), 0);
	assert_int_equal(bpf_map_update_elem(afd, &k6, &v, 0), 0);

	for (int fam = 4; fam <= 6; fam += 2)
		for (__u16 vlan = 0; vlan <= 9; vlan += 9) {
			struct tl_pkt_spec s = { .family = fam, .proto = IPPROTO_UDP,
						 .dport = 53, .vlan = vlan,
						 .payload = 33 };
			__u8 in[2048], exp[2048];
			struct tl_run enc, dec;
			size_t len = tl_build(&s, in, sizeof(in));

			/* balancer out -> decap in: the client's frame again,
			 * addressed to the backend's MAC */
			run_ok(f->prog, in, len, &enc);
			assert_int_equal(enc.ret, XDP_TX);
			run_ok(dprog, enc.out, enc.len, &dec);
			memcpy(exp, in, len);
			memcpy(exp, enc.out, 12);
			assert_frame(&dec, XDP_PASS, exp, len);
		}

	/* RFC 6040: a CE mark on the outer header reaches the inner one; on a
	 * packet that is not ECN-capable it is a drop. */
	for (int fam = 4; fam <= 6; fam += 2)
		for (__u8 ecn = 0; ecn <= 2; ecn += 2) {
			struct tl_pkt_spec s = { .family = fam, .proto = IPPROTO_UDP,
						 .dport = 53, .tos = 0x20 | ecn };
			__u8 in[2048], exp[2048];
			struct tl_run enc, dec;
			size_t len = tl_build(&s, in, sizeof(in));
			__u8 *o;

			run_ok(f->prog, in, len, &enc);
			assert_int_equal(enc.ret, XDP_TX);
			o = enc.out + 14;
			if (fam == 4) {
				o[1] |= 3;
				*(__be16 *)(o + 10) = 0;
				*(__be16 *)(o + 10) = tl_csum(o, 20, 0);
			} else {
				o[1] |= 0x30;
			}
			run_ok(dprog, enc.out, enc.len, &dec);
			if (!ecn) {
				assert_int_equal(dec.ret, XDP_DROP);
				continue;
			}
			s.tos |= 3;
			tl_build(&s, exp, sizeof(exp));
			memcpy(exp, enc.out, 12);
			assert_frame(&dec, XDP_PASS, exp, len);
		}

	/* ECT(1) on the outer header upgrades an inner ECT(0) (RFC 6040). */
	for (int fam = 4; fam <= 6; fam += 2) {
		struct tl_pkt_spec s = { .family = fam, .proto = IPPROTO_UDP,
					 .dport = 53, .tos = 0x02 };
		__u8 in[2048], exp[2048];
		struct tl_run enc, dec;
		size_t len = tl_build(&s, in, sizeof(in));
		__u8 *o;

		run_ok(f->prog, in, len, &enc);
		o = enc.out + 14;
		if (fam == 4) {
			o[1] = (o[1] & ~3) | 1;
			*(__be16 *)(o + 10) = 0;
			*(__be16 *)(o + 10) = tl_csum(o, 20, 0);
		} else {
			o[1] = (o[1] & ~0x30) | 0x10;
		}
		run_ok(dprog, enc.out, enc.len, &dec);
		s.tos = 0x01;
		tl_build(&s, exp, sizeof(exp));
		memcpy(exp, enc.out, 12);
		assert_frame(&dec, XDP_PASS, exp, len);
	}

	/* Not addressed to us, not encapsulated, or truncated: untouched. */
	{
		struct tl_pkt_spec s = { .family = 4, .proto = IPPROTO_UDP,
					 .dport = 53 };
		__u8 in[2048];
		struct tl_run enc, dec;
		size_t len = tl_build(&s, in, sizeof(in));

		run_ok(f->prog, in, len, &enc);
		assert_int_equal(bpf_map_delete_elem(afd, &k4), 0);
		run_ok(dprog, enc.out, enc.len, &dec);
		assert_frame(&dec, XDP_PASS, enc.out, enc.len);
		run_ok(dprog, in, len, &dec);
		assert_frame(&dec, XDP_PASS, in, len);
		run_ok(dprog, enc.out, 20, &dec);
		assert_frame(&dec, XDP_PASS, enc.out, 20);
	}
	/* IPv4 inside IPv6, and an outer header with nothing inside. */
	{
		__u8 in[2048], enc[2048];
		struct tl_run dec;
		size_t len = tl_build(&(struct tl_pkt_spec){ .family = 4,
				      .proto = IPPROTO_UDP, .dport = 53 }, in,
				      sizeof(in));
		__u8 *o = enc + 14;

		memcpy(enc, in, 12);
		enc[12] = 0x86;
		enc[13] = 0xdd;
		memset(o, 0, 40);
		o[0] = 0x60;
		*(__be16 *)(o + 4) = htons(len - 14);
		o[6] = IPPROTO_IPIP;
		o[7] = 64;
		tl_addr(6, "2001:db8:3::1", o + 8);
		memcpy(o + 24, k6.addr, 16);
		memcpy(enc + 54, in + 14, len - 14);
		run_ok(dprog, enc, len + 40, &dec);
		assert_frame(&dec, XDP_PASS, in, len);
		run_ok(dprog, enc, 54 + 10, &dec);
		assert_frame(&dec, XDP_PASS, enc, 54 + 10);
	}
#define DSTAT(field)                                                         \
	tl_percpu_sum(bpf_map__fd(d->maps.lb_decap_stats), 0,                 \
		      sizeof(struct lb_decap_stats),                          \
		      offsetof(struct lb_decap_stats, field))
	assert_int_equal(DSTAT(decap_v4), 4);
	assert_int_equal(DSTAT(decap_v6), 5);
	assert_int_equal(DSTAT(ecn_ce), 4);
	assert_int_equal(DSTAT(drop_not_ect), 2);
	assert_int_equal(DSTAT(pass_not_encap), 2);
	assert_int_equal(DSTAT(pass_malformed), 2);
#undef DSTAT
	decap_bpf__destroy(d);
}

/* ---- two balancers, one configuration ------------------------------------- */

static __u32 weighted_table[RING];

/* Installs a weighted Maglev table of backends 198.18.2.{1..4} with the
 * given weights (default 1..4) on VIP vip_id, backend ids from first_id.
 * The table stays in weighted_table for predictions. */
static void install_weighted(struct lb_bpf *lb, __u32 vip_id, __u32 first_id,
			     const __u32 *weights)
{
	__u32 *table = weighted_table;
	struct lb_maglev_backend be[4];

	for (int i = 0; i < 4; i++) {
		char a[32];

		snprintf(a, sizeof(a), "198.18.2.%d", i + 1);
		memset(&be[i], 0, sizeof(be[i]));
		tl_addr(4, a, be[i].addr);
		be[i].weight = weights ? weights[i] : (__u32)i + 1;
		be[i].id = first_id + i;
		assert_int_equal(tl_backend_add(lb, first_id + i, vip_id, 4, a), 0);
	}
	assert_int_equal(lb_maglev_build(be, 4, RING, 7, table), 0);
	assert_int_equal(lb_ring_install(bpf_map__fd(lb->maps.lb_rings), vip_id,
					 RING, table, NULL), 0);
}

/* ECMP may move a flow from one balancer to another at any time: with the
 * same configuration both must pick the same backend, whatever VIP and
 * backend ids each assigned locally. */
static void test_same_config_same_choice(void **state)
{
	struct fx *f = *state;
	struct lb_bpf *other = tl_lb_load();
	int differ = 0, counts[5] = { 0 };

	assert_non_null(other);
	assert_int_equal(tl_vip_add(other, 4, "198.18.0.10", 80, IPPROTO_TCP,
				    LB_FWD_IPIP, 37, RING), 0);
	install_weighted(f->lb, 0, 100, NULL);
	install_weighted(other, 37, 200, NULL);
	for (int i = 0; i < 400; i++) {
		struct tl_pkt_spec s = { .family = 4, .tcp_flags = 0x02,
					 .sport = 10000 + i * 101 };
		__u8 in[2048];
		struct tl_run a, b;
		size_t len = tl_build(&s, in, sizeof(in));

		run_ok(f->prog, in, len, &a);
		run_ok(bpf_program__fd(other->progs.xdp_lb), in, len, &b);
		assert_int_equal(a.ret, XDP_TX);
		assert_int_equal(b.ret, XDP_TX);
		/* outer destination: the backend's address */
		differ += memcmp(a.out + 14 + 16, b.out + 14 + 16, 4) != 0;
		counts[a.out[14 + 19] <= 4 ? a.out[14 + 19] : 0]++;
	}
	assert_int_equal(differ, 0);
	/* and the weights show: every backend got some, the heaviest most */
	assert_int_equal(counts[0], 0);
	for (int i = 1; i <= 4; i++)
		assert_true(counts[i] > 0);
	assert_true(counts[4] > counts[1]);
	lb_bpf__destroy(other);
}

/* Established flows keep their backend across a rebuild with other weights,
 * while new connections follow exactly the new table. */
static void test_flows_pinned_across_weighted_rebuild(void **state)
{
	struct fx *f = *state;
	const __u32 w1[4] = { 1, 2, 3, 4 }, w2[4] = { 4, 0, 2, 1 };
	__u8 pinned[300];
	int moved_new = 0;

	install_weighted(f->lb, 0, 100, w1);
	for (int i = 0; i < 300; i++)
		pinned[i] = send_pkt(f, &(struct tl_pkt_spec){ .family = 4,
				.tcp_flags = 0x02, .sport = 20000 + i * 37 });
	install_weighted(f->lb, 0, 100, w2);
	for (int i = 0; i < 300; i++) {
		struct tl_pkt_spec s = { .family = 4, .sport = 20000 + i * 37 };
		struct lb_flow_key4 k = { .sport = htons(s.sport),
					  .dport = htons(80), .proto = IPPROTO_TCP };
		__u8 a[16];
		__u32 predicted;

		assert_int_equal(send_pkt(f, &s), pinned[i]);
		/* a SYN on the same tuple is a new connection: new table */
		tl_addr(4, "198.18.1.1", a);
		memcpy(&k.saddr, a, 4);
		tl_addr(4, "198.18.0.10", a);
		memcpy(&k.daddr, a, 4);
		predicted = weighted_table[lb_flow_hash4(&k, 1) % RING];
		s.tcp_flags = 0x02;
		assert_int_equal(send_pkt(f, &s), predicted);
		assert_true(predicted != 101); /* weight 0: no new flows */
		moved_new += predicted != pinned[i];
	}
	assert_true(moved_new > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_forward_matrix),
		T(test_forward_vlan),
		T(test_pass_non_vip),
		T(test_pass_arp_and_qinq),
		T(test_truncation),
		T(test_bad_ip_header),
		T(test_ip_options),
		T(test_fragments),
		T(test_ipv6_ext),
		T(test_vip_without_backends),
		T(test_no_nexthop),
		T(test_vip_state_and_filter),
		T(test_flow_survives_rebuild),
		T(test_same_config_same_choice),
		T(test_flows_pinned_across_weighted_rebuild),
		T(test_udp_flow_pinned),
		T(test_down_backend_resteered),
		T(test_rst_not_recorded),
		T(test_gone_backend_rehashed),
		T(test_stats),
		T(test_icmp_too_big_v4),
		T(test_icmp_too_big_v6),
		T(test_icmp_error_to_backend),
		T(test_encap_entropy),
		T(test_random_frames_never_abort),
		T(test_decap),
		T(test_decap_random_frames),
#undef T
	};

	return cmocka_run_group_tests_name("datapath", tests, NULL, NULL);
}
