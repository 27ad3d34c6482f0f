// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_secondchance.c - second chance (LB_VIP_F_SECOND_CHANCE) through
 * BPF_PROG_TEST_RUN: the previous owner lb_ring_install() keeps per slot;
 * the exact chained frame (two IPIP / IP6IP6 headers) a TCP miss without
 * SYN gets; the chained flow entry and its reuse after the table moves
 * again; SYNs, promoted handshakes, established flows, the switch off and
 * l2dsr VIPs exactly as without it; and decap's side: a local socket
 * (established) keeps the packet, a listener alone does not. Expected
 * frames are built here with this file's own checksum code.
 * Needs root (CAP_BPF); moves itself into a network namespace of its own
 * (loopback only) for the socket lookups.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/capability.h>
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
#include "lb_ring.h"

#define RING 7
#define OUTER_SRC4 "198.18.3.1"
#define OUTER_SRC6 "2001:db8:3::1"

/* VIP ids: 0 ipip v4, 1 ipip v6, 2 l2dsr v4 (flag set anyway, ignored),
 * 3 ipip v4 with the switch off, 4 ipip v4 with policy expected-wait.
 * Backends: VIP id * 10 + 1..3. */
enum { V4 = 0, V6 = 1, DSR = 2, OFF = 3, EW = 4 };
static const char *const vip_addrs[] = { "198.18.0.10", "2001:db8::10",
					 "198.18.0.20", "198.18.0.30",
					 "198.18.0.40" };

struct fx {
	struct lb_bpf *lb;
	int prog;
};

static int setup(void **state)
{
	static struct fx f;
	char a[64];

	f.lb = tl_lb_load();
	if (!f.lb)
		return -1;
	f.prog = bpf_program__fd(f.lb->progs.xdp_lb);
	for (__u32 v = V4; v <= EW; v++) {
		int fam = v == V6 ? 6 : 4;
		struct lb_vip info;
		int fd = bpf_map__fd(f.lb->maps.lb_vip_info);

		if (tl_vip_add(f.lb, fam, vip_addrs[v], 80, IPPROTO_TCP,
			       v == DSR ? LB_FWD_L2DSR : LB_FWD_IPIP, v, RING) ||
		    bpf_map_lookup_elem(fd, &v, &info))
			return -1;
		if (v != OFF)
			info.flags |= LB_VIP_F_SECOND_CHANCE;
		if (v == EW)
			info.policy = LB_POL_EXPECTED_WAIT;
		if (bpf_map_update_elem(fd, &v, &info, 0))
			return -1;
		for (__u32 i = 1; i <= 3; i++) {
			tl_backend_text(v == V6 ? 6 : 4, v * 10 + i, a, sizeof(a));
			if (tl_backend_add(f.lb, v * 10 + i, v, fam, a))
				return -1;
		}
	}
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	lb_bpf__destroy(f->lb);
	return 0;
}

static void ring_read(struct fx *f, __u32 vip, struct lb_ring_slot *out)
{
	__u32 inner_id;
	int fd;

	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(f->lb->maps.lb_rings),
					     &vip, &inner_id), 0);
	fd = bpf_map_get_fd_by_id(inner_id);
	assert_true(fd >= 0);
	for (__u32 i = 0; i < RING; i++)
		assert_int_equal(bpf_map_lookup_elem(fd, &i, &out[i]), 0);
	close(fd);
}

static void install(struct fx *f, __u32 vip, const __u32 *table)
{
	assert_int_equal(lb_ring_install(bpf_map__fd(f->lb->maps.lb_rings), vip,
					 RING, table, NULL), 0);
}

/* Every slot of the VIP's table to backend id. */
static void fill(struct fx *f, __u32 vip, __u32 id)
{
	assert_int_equal(tl_ring_fill(f->lb, vip, RING, id), 0);
}

/* ---- the library: previous owners ---------------------------------------- */

static void test_ring_prev(void **state)
{
	struct fx *f = *state;
	const __u32 t1[RING] = { 1, 1, 2, 2, 3, 3, 1 };
	const __u32 t2[RING] = { 1, 2, 2, 3, 3, 1, 1 };
	const __u32 t3[RING] = { 3, 2, 1, 3, 3, 1, 2 };
	/* after t2: changed slots 1, 3, 5 get the old owner; others none */
	const __u32 p2[RING] = { 0, 1, 0, 2, 0, 3, 0 };
	/* after t3: changed 0, 2, 6; unchanged 1, 3, 4, 5 keep theirs */
	const __u32 p3[RING] = { 1, 1, 2, 2, 0, 3, 1 };
	struct lb_ring_slot s[RING];

	assert_int_equal(lb_ring_remove(bpf_map__fd(f->lb->maps.lb_rings), V4), 0);
	install(f, V4, t1);	/* a fresh VIP: no previous owner */
	ring_read(f, V4, s);
	for (int i = 0; i < RING; i++) {
		assert_int_equal(s[i].backend_id, t1[i]);
		assert_int_equal(s[i].prev_backend_id, LB_BACKEND_NONE);
	}
	install(f, V4, t2);
	ring_read(f, V4, s);
	for (int i = 0; i < RING; i++) {
		assert_int_equal(s[i].backend_id, t2[i]);
		assert_int_equal(s[i].prev_backend_id, p2[i]);
	}
	install(f, V4, t3);
	ring_read(f, V4, s);
	for (int i = 0; i < RING; i++) {
		assert_int_equal(s[i].backend_id, t3[i]);
		assert_int_equal(s[i].prev_backend_id, p3[i]);
	}
	/* the same table again changes nothing */
	install(f, V4, t3);
	ring_read(f, V4, s);
	for (int i = 0; i < RING; i++)
		assert_int_equal(s[i].prev_backend_id, p3[i]);
}

/* lb-agent runs without CAP_SYS_ADMIN, so it cannot open a table by its
 * map id: with a pin directory the previous owners come from the pinned
 * live table instead. */
static void test_ring_prev_pinned(void **state)
{
	struct fx *f = *state;
	const __u32 t1[RING] = { 1, 1, 2, 2, 3, 3, 1 };
	const __u32 t2[RING] = { 1, 2, 2, 3, 3, 1, 1 };
	const __u32 p2[RING] = { 0, 1, 0, 2, 0, 3, 0 };
	int rings = bpf_map__fd(f->lb->maps.lb_rings), status;
	struct lb_ring_slot s[RING];
	char dir[64], pin[96];
	pid_t pid;

	snprintf(dir, sizeof(dir), "/sys/fs/bpf/inferlb-sctest-%d", (int)getpid());
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(lb_ring_remove(rings, V4), 0);
	assert_int_equal(lb_ring_install_at(rings, dir, V4, RING, t1, NULL), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		cap_t c = cap_get_proc();
		cap_value_t v = CAP_SYS_ADMIN;
		__u32 id, zero = V4;

		if (!c || cap_set_flag(c, CAP_EFFECTIVE, 1, &v, CAP_CLEAR) ||
		    cap_set_proc(c))
			_exit(2);
		/* as lb-agent: the table cannot be opened by id */
		if (bpf_map_lookup_elem(rings, &zero, &id) ||
		    bpf_map_get_fd_by_id(id) >= 0 || errno != EPERM)
			_exit(3);
		_exit(lb_ring_install_at(rings, dir, V4, RING, t2, NULL) ? 4 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	ring_read(f, V4, s);
	for (int i = 0; i < RING; i++) {
		assert_int_equal(s[i].backend_id, t2[i]);
		assert_int_equal(s[i].prev_backend_id, p2[i]);
	}
	assert_int_equal(lb_ring_remove_at(rings, dir, V4), 0);
	snprintf(pin, sizeof(pin), "%s/" LB_PIN_RING_PREFIX "%u", dir, V4);
	assert_int_equal(access(pin, F_OK), -1);
	assert_int_equal(rmdir(dir), 0);
}

/* ---- expected frames ------------------------------------------------------ */

static size_t l3_offset(const __u8 *frame)
{
	return frame[12] == 0x81 && frame[13] == 0x00 ? 18 : 14;
}

/* An IPv4 IPIP header towards dst carrying len bytes (itself included). */
static void ip4_hdr(__u8 *h, __u8 tos, size_t len, const char *dst)
{
	struct iphdr *o = (void *)h;
	__u8 a[16];

	memset(o, 0, sizeof(*o));
	o->version = 4;
	o->ihl = 5;
	o->tos = tos;
	o->tot_len = htons(len);
	o->frag_off = htons(0x4000);
	o->ttl = 64;
	o->protocol = IPPROTO_IPIP;
	tl_addr(4, OUTER_SRC4, a);
	memcpy(&o->saddr, a, 4);
	tl_addr(4, dst, a);
	memcpy(&o->daddr, a, 4);
	o->check = tl_csum(o, sizeof(*o), 0);
}

static void ip6_hdr(__u8 *h, const __u8 *inner, size_t payload, const char *dst)
{
	struct ipv6hdr *o = (void *)h;
	const struct ipv6hdr *in = (const void *)inner;
	__u32 first = ntohl(*(const __be32 *)inner), sw = 0, w[4], ent;
	__be16 sport;

	memcpy(w, &in->saddr, 16);
	for (int i = 0; i < 4; i++)
		sw ^= w[i];
	memcpy(&sport, inner + 40, 2);
	ent = lb_encap_entropy(sw, sport);
	memset(o, 0, sizeof(*o));
	*(__be32 *)o = htonl((first & 0xfff00000) | (ent & 0xfffff));
	o->payload_len = htons(payload);
	o->nexthdr = IPPROTO_IPV6;
	o->hop_limit = 64;
	tl_addr(6, OUTER_SRC6, (__u8 *)&o->saddr);
	tl_addr(6, dst, (__u8 *)&o->daddr);
}

/* The frame the balancer sends for in: to backend first (its MAC), with
 * hops headers (first, then second when second != 0). */
static size_t expect_hops(__u8 *out, const __u8 *in, size_t len, __u32 vip,
			  __u32 first, __u32 second)
{
	size_t l3 = l3_offset(in), hl = vip == V6 ? 40 : 20;
	size_t n = second ? 2 : 1, inner_len = len - l3;
	char a[64];

	memcpy(out, in, l3);
	tl_mac_backend(first, out);
	memcpy(out + 6, tl_mac_lb, 6);
	for (size_t k = 0; k < n; k++) {
		__u8 *h = out + l3 + k * hl;

		tl_backend_text(vip == V6 ? 6 : 4, k ? second : first, a, sizeof(a));
		if (vip == V6)
			ip6_hdr(h, in + l3, inner_len - 40 + (n - k) * hl, a);
		else
			ip4_hdr(h, in[l3 + 1], inner_len + (n - k) * hl, a);
	}
	memcpy(out + l3 + n * hl, in + l3, inner_len);
	return len + n * hl;
}

static struct tl_run run(struct fx *f, __u32 vip, __u16 sport, __u8 flags,
			 __u8 *in, size_t *len)
{
	struct tl_pkt_spec s = { .family = vip == V6 ? 6 : 4,
				 .dst = vip_addrs[vip], .sport = sport,
				 .tcp_flags = flags, .payload = 60, .tos = 0x10 };
	struct tl_run r;

	*len = tl_build(&s, in, 2048);
	assert_int_equal(tl_run(f->prog, in, *len, &r), 0);
	return r;
}

/* Sends one packet of (vip, sport) and checks the exact output. */
static void expect_sent(struct fx *f, __u32 vip, __u16 sport, __u8 flags,
			__u32 first, __u32 second)
{
	__u8 in[2048], exp[2048];
	size_t len, elen;
	struct tl_run r = run(f, vip, sport, flags, in, &len);

	if (vip == DSR) {
		memcpy(exp, in, len);
		tl_mac_backend(first, exp);
		memcpy(exp + 6, tl_mac_lb, 6);
		elen = len;
	} else {
		elen = expect_hops(exp, in, len, vip, first, second);
	}
	assert_int_equal(r.ret, XDP_TX);
	assert_int_equal(r.len, elen);
	assert_memory_equal(r.out, exp, elen);
	if (vip != V6 && vip != DSR) {	/* every IPv4 header sums to zero */
		size_t l3 = l3_offset(in);

		for (int k = 0; k < (second ? 2 : 1); k++)
			assert_int_equal(tl_csum(r.out + l3 + 20 * k, 20, 0), 0);
	}
}

/* The flow entry of (vip, sport), as the balancer recorded it. */
static int flow_of(struct fx *f, __u32 vip, __u16 sport, struct lb_flow *fl)
{
	__u8 a[16];

	if (vip == V6) {
		struct lb_flow_key6 k = { .sport = htons(sport), .dport = htons(80),
					  .proto = IPPROTO_TCP };

		tl_addr(6, "2001:db8:1::1", k.saddr);
		tl_addr(6, vip_addrs[vip], k.daddr);
		return bpf_map_lookup_elem(bpf_map__fd(f->lb->maps.lb_flows6), &k, fl);
	}
	struct lb_flow_key4 k = { .sport = htons(sport), .dport = htons(80),
				  .proto = IPPROTO_TCP };

	tl_addr(4, "198.18.1.1", a);
	memcpy(&k.saddr, a, 4);
	tl_addr(4, vip_addrs[vip], a);
	memcpy(&k.daddr, a, 4);
	return bpf_map_lookup_elem(bpf_map__fd(f->lb->maps.lb_flows4), &k, fl);
}

#define ACK 0x10
#define SYN 0x02
#define EPOCH(id) ((id) * 7 + 1)	/* tl_backend_add's epochs */

/* ---- the balancer ---------------------------------------------------------- */

static void check_chain(struct fx *f, __u32 vip)
{
	__u32 a = vip * 10 + 1, b = a + 1, c = a + 2;
	__u64 chained = TL_GLOBAL(f->lb, flow_chained);
	struct lb_flow fl;

	fill(f, vip, a);
	/* an established flow on a, through SYN and its first ACK */
	expect_sent(f, vip, 1000, SYN, a, 0);
	expect_sent(f, vip, 1000, ACK, a, 0);
	fill(f, vip, b);	/* every slot moves: prev = a */
	/* established: untouched, one header, to a */
	expect_sent(f, vip, 1000, ACK, a, 0);
	/* a miss without SYN: to b, a attached */
	expect_sent(f, vip, 2000, ACK, b, a);
	assert_int_equal(TL_GLOBAL(f->lb, flow_chained) - chained, 1);
	assert_int_equal(flow_of(f, vip, 2000, &fl), 0);
	assert_int_equal(fl.backend_id, b);
	assert_int_equal(fl.backend_epoch, EPOCH(b));
	assert_int_equal(fl.flags, LB_FLOW_F_CHAINED);
	assert_int_equal(fl.chain_id, a);
	assert_int_equal(fl.chain_epoch, EPOCH(a));
	/* a SYN is never chained, nor its promoted first ACK */
	expect_sent(f, vip, 3000, SYN, b, 0);
	expect_sent(f, vip, 3000, ACK, b, 0);
	assert_int_equal(flow_of(f, vip, 3000, &fl), 0);
	assert_int_equal(fl.flags & LB_FLOW_F_CHAINED, 0);
	/* the table moves again (prev = b): the chained flow keeps its hops,
	 * a new miss gets the new pair */
	fill(f, vip, c);
	expect_sent(f, vip, 2000, ACK, b, a);
	expect_sent(f, vip, 4000, ACK, c, b);
	assert_int_equal(TL_GLOBAL(f->lb, flow_chained) - chained, 2);
	/* the second hop went away: its flow goes to the first hop alone */
	{
		struct lb_backend be;
		int fd = bpf_map__fd(f->lb->maps.lb_backends);

		assert_int_equal(bpf_map_lookup_elem(fd, &a, &be), 0);
		be.state = LB_BE_DOWN;
		assert_int_equal(bpf_map_update_elem(fd, &a, &be, 0), 0);
		expect_sent(f, vip, 2000, ACK, b, 0);
		be.state = LB_BE_HEALTHY;
		assert_int_equal(bpf_map_update_elem(fd, &a, &be, 0), 0);
	}
	/* an owner that comes back: prev is the one it took the slot from */
	fill(f, vip, b);	/* prev = c */
	fill(f, vip, c);	/* prev = b */
	expect_sent(f, vip, 5000, ACK, c, b);
}

static void test_chain_v4(void **state)
{
	check_chain(*state, V4);
}

static void test_chain_v6(void **state)
{
	check_chain(*state, V6);
}

/* The switch off, and l2dsr (no header to carry a hop): as before. */
static void test_no_chain(void **state)
{
	struct fx *f = *state;
	__u64 chained = TL_GLOBAL(f->lb, flow_chained);
	struct lb_flow fl;

	fill(f, OFF, 31);
	fill(f, OFF, 32);
	expect_sent(f, OFF, 6000, ACK, 32, 0);
	assert_int_equal(flow_of(f, OFF, 6000, &fl), 0);
	assert_int_equal(fl.flags, 0);
	assert_int_equal(fl.chain_id, 0);
	fill(f, DSR, 21);
	fill(f, DSR, 22);
	expect_sent(f, DSR, 6000, ACK, 22, 0);
	assert_int_equal(flow_of(f, DSR, 6000, &fl), 0);
	assert_int_equal(fl.flags, 0);
	assert_int_equal(TL_GLOBAL(f->lb, flow_chained), chained);
}

/* Two headers must fit the MTU too: a packet that fits one but not two
 * gets "fragmentation needed" with the MTU less both, and no entry. */
static void test_chain_mtu(void **state)
{
	struct fx *f = *state;
	struct tl_pkt_spec s = { .family = 4, .dst = vip_addrs[V4], .sport = 7000,
				 .tcp_flags = ACK, .payload = 1500 - 20 - 40 - 10 };
	__u8 in[2048];
	struct tl_run r;
	struct lb_flow fl;
	size_t len = tl_build(&s, in, sizeof(in));

	fill(f, V4, 1);
	fill(f, V4, 2);
	assert_int_equal(tl_run(f->prog, in, len, &r), 0);
	assert_int_equal(r.ret, XDP_TX);
	assert_int_equal(r.out[14 + 9], IPPROTO_ICMP);
	assert_int_equal(ntohs(*(__be16 *)(r.out + 14 + 20 + 6)), 1500 - 40);
	assert_int_not_equal(flow_of(f, V4, 7000, &fl), 0);
}

/* ---- load-aware: the choice between the flow's two hashed candidates ------- */

/* Backend id's weight, in its entry and in VIP EW's list. */
static void ew_backends(struct fx *f)
{
	struct lb_vip_backends l = { .n = 3 };
	int fd = bpf_map__fd(f->lb->maps.lb_backends);

	for (__u32 i = 0; i < 3; i++) {
		struct lb_backend be;
		__u32 id = EW * 10 + 1 + i;

		assert_int_equal(bpf_map_lookup_elem(fd, &id, &be), 0);
		be.weight = 100;
		assert_int_equal(bpf_map_update_elem(fd, &id, &be, 0), 0);
		l.ids[i] = id;
		l.weights[i] = 100;
		l.total_weight += 100;
	}
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(f->lb->maps.lb_vip_backends),
					     &(__u32){ EW }, &l, 0), 0);
}

/* expected-wait's inputs: open flows, 1 slot, 1 ms per slot; the wait of
 * a backend with o open is o ms. */
static void ew_open(struct fx *f, __u64 o1, __u64 o2, __u64 o3)
{
	const __u64 open[3] = { o1, o2, o3 };

	for (__u32 i = 0; i < 3; i++) {
		struct lb_be_load l = { .open = open[i], .slots = 1,
					.slot_wait_ns = 1000000 };
		__u32 id = EW * 10 + 1 + i;

		assert_int_equal(bpf_map_update_elem(bpf_map__fd(f->lb->maps.lb_be_load),
						     &id, &l, 0), 0);
	}
}

static void be_state(struct fx *f, __u32 id, __u8 state)
{
	int fd = bpf_map__fd(f->lb->maps.lb_backends);
	struct lb_backend be;

	assert_int_equal(bpf_map_lookup_elem(fd, &id, &be), 0);
	be.state = state;
	assert_int_equal(bpf_map_update_elem(fd, &id, &be, 0), 0);
}

/* second_chance: 0 off, 1 on, 2 on with pair choice */
static void ew_vip(struct fx *f, int second_chance, __u32 target_ms)
{
	int fd = bpf_map__fd(f->lb->maps.lb_vip_info);
	struct lb_vip v;

	assert_int_equal(bpf_map_lookup_elem(fd, &(__u32){ EW }, &v), 0);
	v.flags &= ~(LB_VIP_F_SECOND_CHANCE | LB_VIP_F_PAIR_CHOICE);
	if (second_chance)
		v.flags |= LB_VIP_F_SECOND_CHANCE;
	if (second_chance > 1)
		v.flags |= LB_VIP_F_PAIR_CHOICE;
	v.ttft_target_ms = target_ms;
	assert_int_equal(bpf_map_update_elem(fd, &(__u32){ EW }, &v, 0), 0);
}

/*
 * expected-wait with second chance and pair choice: b1 (41) and b2 (42) own the whole
 * table, so every flow's pair is {41, 42}; 43 is listed but owns no slot.
 * The least loaded of the pair takes new flows even when 43 is idle, and
 * a miss without SYN goes to it with the other attached (whichever of the
 * two holds the connection keeps it). Only when both would miss the TTFT
 * target does 43 take a new flow, unchained; a packet without SYN still
 * goes to its pair. When admission refuses the pair's choice, the other
 * of the pair takes the flow. Without pair choice, or with second chance
 * off: the best of all, unchained.
 */
static void test_pair(void **state)
{
	const __u32 b1 = EW * 10 + 1, b2 = b1 + 1, b3 = b1 + 2;
	const __u32 table[RING] = { b1, b2, b1, b2, b1, b2, b1 };
	struct fx *f = *state;
	__u64 chained = TL_GLOBAL(f->lb, flow_chained);
	struct lb_flow fl;

	ew_backends(f);
	install(f, EW, table);
	ew_vip(f, 2, 0);
	ew_open(f, 3, 1, 0);
	expect_sent(f, EW, 8000, SYN, b2, 0);	/* not b3, outside the pair */
	ew_open(f, 3, 1, 0);
	expect_sent(f, EW, 8100, ACK, b2, b1);
	assert_int_equal(flow_of(f, EW, 8100, &fl), 0);
	assert_int_equal(fl.backend_id, b2);
	assert_int_equal(fl.flags, LB_FLOW_F_CHAINED);
	assert_int_equal(fl.chain_id, b1);
	ew_open(f, 0, 5, 0);
	expect_sent(f, EW, 8200, ACK, b1, b2);
	assert_int_equal(TL_GLOBAL(f->lb, flow_chained) - chained, 2);
	/* the chained flow keeps its hops whatever the loads say */
	expect_sent(f, EW, 8100, ACK, b2, b1);
	/* both of the pair above a 2 ms target, b3 idle: a new flow goes
	 * to b3, unchained; a packet without SYN belongs to a connection
	 * placed already, on its pair: never shed, never sent elsewhere */
	ew_vip(f, 2, 2);
	ew_open(f, 5, 6, 0);
	expect_sent(f, EW, 8300, SYN, b3, 0);
	ew_open(f, 5, 6, 0);
	expect_sent(f, EW, 8400, ACK, b1, b2);
	assert_int_equal(flow_of(f, EW, 8400, &fl), 0);
	assert_int_equal(fl.flags, LB_FLOW_F_CHAINED);
	assert_int_equal(TL_GLOBAL(f->lb, flow_chained) - chained, 3);
	/* the pair's choice refused by admission (b2 HALF_OPEN, its one
	 * trial a second taken): its partner takes the flow, with b2 as the
	 * second hop, not a backend outside the pair */
	ew_vip(f, 2, 0);
	be_state(f, b2, LB_BE_HALF_OPEN);
	ew_open(f, 3, 1, 0);
	expect_sent(f, EW, 8450, ACK, b2, b1);	/* the trial */
	ew_open(f, 3, 1, 0);
	expect_sent(f, EW, 8460, ACK, b1, b2);
	be_state(f, b2, LB_BE_HEALTHY);
	assert_int_equal(TL_GLOBAL(f->lb, flow_chained) - chained, 5);
	/* pair choice off, then second chance off: the best of all, as
	 * issue 12 built it, and nothing chained */
	for (int sc = 1; sc >= 0; sc--) {
		ew_vip(f, sc, 0);
		ew_open(f, 3, 1, 0);
		expect_sent(f, EW, 8500 + 200 * sc, SYN, b3, 0);
		ew_open(f, 3, 1, 0);
		expect_sent(f, EW, 8600 + 200 * sc, ACK, b3, 0);
	}
	assert_int_equal(TL_GLOBAL(f->lb, flow_chained) - chained, 5);
}

/* ---- decap ------------------------------------------------------------------ */

/* A connected pair on loopback: the server side's 4-tuple, as the client's
 * packets carry it. Returns the listener (the others leak until exit). */
static int tcp_pair(int fam, __u16 port, __u16 *cport)
{
	struct sockaddr_storage ss = {};
	socklen_t sl = fam == 6 ? sizeof(struct sockaddr_in6) :
				  sizeof(struct sockaddr_in);
	int l = socket(fam == 6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0), c, one = 1;

	assert_true(l >= 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fam == 6) {
		struct sockaddr_in6 *a = (void *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		a->sin6_addr = in6addr_loopback;
	} else {
		struct sockaddr_in *a = (void *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	}
	assert_int_equal(bind(l, (void *)&ss, sl), 0);
	assert_int_equal(listen(l, 8), 0);
	c = socket(fam == 6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(c, (void *)&ss, sl), 0);
	assert_int_equal(getsockname(c, (void *)&ss, &sl), 0);
	*cport = ntohs(fam == 6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
				  ((struct sockaddr_in *)&ss)->sin_port);
	return l;
}

/* A chained frame as a first hop receives it: outer to the host (listed),
 * second header to 198.18.2.99 / 2001:db8:2::99, then a client packet
 * loopback -> loopback:port from cport. */
static size_t chained_frame(int fam, __u16 cport, __u16 port, __u8 *out)
{
	struct tl_pkt_spec s = { .family = fam,
				 .src = fam == 6 ? "::1" : "127.0.0.1",
				 .dst = fam == 6 ? "::1" : "127.0.0.1",
				 .sport = cport, .dport = port, .tcp_flags = ACK,
				 .payload = 10 };
	__u8 in[2048];
	size_t len = tl_build(&s, in, sizeof(in)), hl = fam == 6 ? 40 : 20;

	memcpy(out, in, 14);
	if (fam == 6) {
		ip6_hdr(out + 14, in + 14, len - 14 + 40, "2001:db8:2::5");
		ip6_hdr(out + 14 + 40, in + 14, len - 14, "2001:db8:2::99");
	} else {
		ip4_hdr(out + 14, 0, len - 14 + 40, "198.18.2.5");
		ip4_hdr(out + 14 + 20, 0, len - 14 + 20, "198.18.2.99");
	}
	memcpy(out + 14 + 2 * hl, in + 14, len - 14);
	return len + 2 * hl;
}

static void test_decap_chain(void **state)
{
	struct decap_bpf *d = decap_bpf__open_and_load();
	struct lb_addr_key k4 = { .family = LB_AF_INET }, k6 = { .family = LB_AF_INET6 };
	struct lb_decap_addr v = { 0 };
	int dprog;

	(void)state;
	assert_non_null(d);
	dprog = bpf_program__fd(d->progs.xdp_decap);
	tl_addr(4, "198.18.2.5", k4.addr);
	tl_addr(6, "2001:db8:2::5", k6.addr);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(d->maps.lb_decap_addrs),
					     &k4, &v, 0), 0);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(d->maps.lb_decap_addrs),
					     &k6, &v, 0), 0);
	for (int fam = 4; fam <= 6; fam += 2) {
		__u16 port = fam == 6 ? 8006 : 8004, cport;
		size_t hl = fam == 6 ? 40 : 20, len;
		__u8 in[2048];
		struct tl_run r;

		tcp_pair(fam, port, &cport);
		/* established here: both headers go, passed to the stack */
		len = chained_frame(fam, cport, port, in);
		assert_int_equal(tl_run(dprog, in, len, &r), 0);
		assert_int_equal(r.ret, XDP_PASS);
		assert_int_equal(r.len, len - 2 * hl);
		assert_memory_equal(r.out + 14, in + 14 + 2 * hl, len - 14 - 2 * hl);
		/* only the listener: not ours; no route to the second hop in
		 * this namespace, so dropped (forwarding is the namespace
		 * test's) */
		len = chained_frame(fam, cport + 1, port, in);
		assert_int_equal(tl_run(dprog, in, len, &r), 0);
		assert_int_equal(r.ret, XDP_DROP);
		/* no socket at all: the same */
		len = chained_frame(fam, cport, port + 1, in);
		assert_int_equal(tl_run(dprog, in, len, &r), 0);
		assert_int_equal(r.ret, XDP_DROP);
		/* a truncated second hop: dropped, never passed half-parsed */
		len = chained_frame(fam, cport, port, in);
		assert_int_equal(tl_run(dprog, in, 14 + 2 * hl + 10, &r), 0);
		assert_int_equal(r.ret, XDP_DROP);
	}
#define DSTAT(field)                                                         \
	tl_percpu_sum(bpf_map__fd(d->maps.lb_decap_stats), 0,                 \
		      sizeof(struct lb_decap_stats),                          \
		      offsetof(struct lb_decap_stats, field))
	assert_int_equal(DSTAT(chain_local), 2);
	assert_int_equal(DSTAT(chain_no_route), 4);
	assert_int_equal(DSTAT(chain_malformed), 2);
	assert_int_equal(DSTAT(chain_forwarded), 0);
	assert_int_equal(DSTAT(decap_v4) + DSTAT(decap_v6), 0);
#undef DSTAT
	decap_bpf__destroy(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_prev),
		cmocka_unit_test(test_ring_prev_pinned),
		cmocka_unit_test(test_chain_v4),
		cmocka_unit_test(test_chain_v6),
		cmocka_unit_test(test_no_chain),
		cmocka_unit_test(test_chain_mtu),
		cmocka_unit_test(test_pair),
		cmocka_unit_test(test_decap_chain),
	};

	/* loopback sockets of our own, no route to anything */
	if (unshare(CLONE_NEWNET) || system("ip link set lo up")) {
		fprintf(stderr, "test_secondchance: needs root (a network namespace)\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
