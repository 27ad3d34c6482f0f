// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_admission.c - fixtures for the balancer's admission control and
 * selection policies through BPF_PROG_TEST_RUN: backend states for new and
 * established flows, fail-open, the refusal outcome (the exact RST bytes,
 * drops, counters), the VIP / backend / client-prefix token buckets and
 * their accuracy in real time, every selection policy and the open-flow
 * counts. Maps are written directly (not through lbctl).
 * Needs root (CAP_BPF).
 *
 * Backend ids 1 and 2 are never used: their next-hop MACs (tl_mac_backend)
 * would equal the client's and the balancer's, and a RST sent back to the
 * client is recognised by its destination MAC.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "inferlb.h"
#include "lb_hash.h"
#include "lb.skel.h"
#include "testlib.h"
#include "lb_ring.h"

/* Each test starts from: VIP 0 = 198.18.0.10:80/tcp ipip, VIP 1 =
 * [2001:db8::10]:80/tcp ipip, VIP 2 = 198.18.0.10:53/udp ipip, each with a
 * 7-slot table (filled by the tests). Backends: 5, 6, 7 of VIP 0; 15, 16
 * of VIP 1; 25 of VIP 2. */
#define M 7
#define V4 0
#define V6 1
#define VU 2
#define A 5
#define B 6
#define C 7
#define A6 15
#define B6 16
#define U1 25

/* outcomes of one packet besides "forwarded to backend id" */
#define R_RST 0x10000u
#define R_DROP 0x20000u
#define R_PASS 0x30000u
#define R_OTHER 0x40000u

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

struct fx {
	struct lb_bpf *lb;
	int prog;
};

static int fd_of(const struct bpf_map *m)
{
	return bpf_map__fd(m);
}

#define FD(f, name) fd_of((f)->lb->maps.name)

/*
 * The balancer is loaded once (verifying it takes most of a second) and
 * every map but lb_settings / lb_meta is emptied before each test: arrays
 * zeroed up to id RESET_IDS (the tests use fewer ids), hashes and LRU
 * hashes emptied, tables removed.
 */
#define RESET_IDS 1024

static struct fx fx_all;

static int group_setup(void **state)
{
	fx_all.lb = tl_lb_load();
	if (!fx_all.lb)
		return -1;
	fx_all.prog = bpf_program__fd(fx_all.lb->progs.xdp_lb);
	*state = &fx_all;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	lb_bpf__destroy(fx_all.lb);
	return 0;
}

static int reset_map(struct bpf_map *m)
{
	const char *name = bpf_map__name(m);
	enum bpf_map_type t = bpf_map__type(m);
	int fd = bpf_map__fd(m), ncpu = libbpf_num_possible_cpus(), err = 0;
	__u32 n = bpf_map__max_entries(m), ks = bpf_map__key_size(m);
	size_t vs = bpf_map__value_size(m);
	void *zero, *key, *keys;
	size_t nk = 0;

	if (strchr(name, '.') || !strcmp(name, "lb_settings") || !strcmp(name, "lb_meta"))
		return 0;
	if (n > RESET_IDS)
		n = RESET_IDS;
	switch (t) {
	case BPF_MAP_TYPE_ARRAY:
	case BPF_MAP_TYPE_PERCPU_ARRAY:
		if (t == BPF_MAP_TYPE_PERCPU_ARRAY)
			vs = ((vs + 7) & ~(size_t)7) * ncpu;
		zero = calloc(1, vs);
		if (!zero)
			return -1;
		for (__u32 i = 0; i < n && !err; i++)
			err = bpf_map_update_elem(fd, &i, zero, 0);
		free(zero);
		return err;
	case BPF_MAP_TYPE_ARRAY_OF_MAPS:
		for (__u32 i = 0; i < n; i++)
			bpf_map_delete_elem(fd, &i);
		return 0;
	case BPF_MAP_TYPE_HASH:
	case BPF_MAP_TYPE_LRU_HASH:
		keys = malloc((size_t)ks * (bpf_map__max_entries(m) + 1));
		if (!keys)
			return -1;
		key = NULL;
		while (!bpf_map_get_next_key(fd, key, (__u8 *)keys + nk * ks)) {
			key = (__u8 *)keys + nk * ks;
			if (++nk > bpf_map__max_entries(m))
				break;
		}
		for (size_t i = 0; i < nk; i++)
			bpf_map_delete_elem(fd, (__u8 *)keys + i * ks);
		free(keys);
		/* LRU lists may keep a few entries a get_next_key pass missed */
		return bpf_map_get_next_key(fd, NULL, &(__u8[64]){ 0 }) ? 0 : -1;
	default:
		return 0;
	}
}

static int setup(void **state)
{
	struct fx *f = *state;
	struct bpf_map *m;

	bpf_object__for_each_map(m, f->lb->obj)
		if (reset_map(m)) {
			fprintf(stderr, "reset of map %s failed\n", bpf_map__name(m));
			return -1;
		}
	if (tl_vip_add(f->lb, 4, "198.18.0.10", 80, IPPROTO_TCP, LB_FWD_IPIP, V4, M) ||
	    tl_vip_add(f->lb, 6, "2001:db8::10", 80, IPPROTO_TCP, LB_FWD_IPIP, V6, M) ||
	    tl_vip_add(f->lb, 4, "198.18.0.10", 53, IPPROTO_UDP, LB_FWD_IPIP, VU, M) ||
	    tl_backend_add(f->lb, A, V4, 4, "198.18.2.5") ||
	    tl_backend_add(f->lb, B, V4, 4, "198.18.2.6") ||
	    tl_backend_add(f->lb, C, V4, 4, "198.18.2.7") ||
	    tl_backend_add(f->lb, A6, V6, 6, "2001:db8:2::15") ||
	    tl_backend_add(f->lb, B6, V6, 6, "2001:db8:2::16") ||
	    tl_backend_add(f->lb, U1, VU, 4, "198.18.2.25"))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return 0;
}

/* ---- map helpers ----------------------------------------------------------- */

/* Table of vip: slot i -> ids[i % k]. */
static void ring_mod(struct fx *f, __u32 vip, __u32 m, const __u32 *ids, __u32 k)
{
	__u32 *t = calloc(m, sizeof(*t));

	assert_non_null(t);
	for (__u32 i = 0; i < m; i++)
		t[i] = ids[i % k];
	assert_int_equal(lb_ring_install(FD(f, lb_rings), vip, m, t, NULL), 0);
	free(t);
}

static void ring_tbl(struct fx *f, __u32 vip, __u32 m, const __u32 *t)
{
	assert_int_equal(lb_ring_install(FD(f, lb_rings), vip, m, t, NULL), 0);
}

static struct lb_vip vip_get(struct fx *f, __u32 id)
{
	struct lb_vip v;

	assert_int_equal(bpf_map_lookup_elem(FD(f, lb_vip_info), &id, &v), 0);
	return v;
}

static void vip_put(struct fx *f, __u32 id, const struct lb_vip *v)
{
	assert_int_equal(bpf_map_update_elem(FD(f, lb_vip_info), &id, v, 0), 0);
}

static void vip_policy(struct fx *f, __u32 id, __u8 policy)
{
	struct lb_vip v = vip_get(f, id);

	v.policy = policy;
	vip_put(f, id, &v);
}

static void be_mod(struct fx *f, __u32 id, __u8 st, __u32 rate, __u32 burst)
{
	struct lb_backend b;

	assert_int_equal(bpf_map_lookup_elem(FD(f, lb_backends), &id, &b), 0);
	b.state = st;
	b.rate = rate;
	b.burst = burst;
	assert_int_equal(bpf_map_update_elem(FD(f, lb_backends), &id, &b, 0), 0);
}

static void be_weight(struct fx *f, __u32 id, __u32 w)
{
	struct lb_backend b;

	assert_int_equal(bpf_map_lookup_elem(FD(f, lb_backends), &id, &b), 0);
	b.weight = w;
	assert_int_equal(bpf_map_update_elem(FD(f, lb_backends), &id, &b, 0), 0);
}

static void be_state(struct fx *f, __u32 id, __u8 st)
{
	struct lb_backend b;

	assert_int_equal(bpf_map_lookup_elem(FD(f, lb_backends), &id, &b), 0);
	b.state = st;
	assert_int_equal(bpf_map_update_elem(FD(f, lb_backends), &id, &b, 0), 0);
}

static void list_set(struct fx *f, __u32 vip, __u32 n, const __u32 *ids,
		     const __u32 *w)
{
	struct lb_vip_backends l = { .n = n };

	for (__u32 i = 0; i < n; i++) {
		l.ids[i] = ids[i];
		l.weights[i] = w[i];
		l.total_weight += w[i];
		be_weight(f, ids[i], w[i]);
	}
	assert_int_equal(bpf_map_update_elem(FD(f, lb_vip_backends), &vip, &l, 0), 0);
}

static struct lb_be_load load_get(struct fx *f, __u32 id)
{
	struct lb_be_load l;

	assert_int_equal(bpf_map_lookup_elem(FD(f, lb_be_load), &id, &l), 0);
	return l;
}

static void load_put(struct fx *f, __u32 id, __u64 open, __u64 score, __u64 sent)
{
	struct lb_be_load l = { .open = open, .score = score, .sent = sent };

	assert_int_equal(bpf_map_update_elem(FD(f, lb_be_load), &id, &l, 0), 0);
}

static __u64 open_of(struct fx *f, __u32 id)
{
	return load_get(f, id).open;
}

static __u64 tb_get(int fd, __u32 id)
{
	struct lb_tb t;

	assert_int_equal(bpf_map_lookup_elem(fd, &id, &t), 0);
	return t.tat;
}

static void tb_put(int fd, __u32 id, __u64 tat)
{
	struct lb_tb t = { .tat = tat };

	assert_int_equal(bpf_map_update_elem(fd, &id, &t, 0), 0);
}

#define VREF(f, id, field)                                                   \
	tl_percpu_sum(FD(f, lb_vip_refused), (id), sizeof(struct lb_refusals), \
		      offsetof(struct lb_refusals, field))
#define BREF(f, id, field)                                                   \
	tl_percpu_sum(FD(f, lb_be_refused), (id), sizeof(struct lb_refusals),  \
		      offsetof(struct lb_refusals, field))
#define VNEW(f, id)                                                          \
	tl_percpu_sum(FD(f, lb_vip_stats), (id), sizeof(struct lb_counters),   \
		      offsetof(struct lb_counters, new_flows))

/* ---- packets ------------------------------------------------------------------ */

static __u32 outcome(const struct tl_run *r)
{
	if (r->ret == XDP_DROP)
		return R_DROP;
	if (r->ret == XDP_PASS)
		return R_PASS;
	if (r->ret != XDP_TX)
		return R_OTHER;
	if (!memcmp(r->out, tl_mac_client, 6))
		return R_RST;
	return (__u32)r->out[4] << 8 | r->out[5];
}

static __u32 run_spec(struct fx *f, const struct tl_pkt_spec *s, struct tl_run *r)
{
	__u8 in[2048];

	assert_int_equal(tl_run(f->prog, in, tl_build(s, in, sizeof(in)), r), 0);
	return outcome(r);
}

/* Where the packet went: a backend id, or R_RST / R_DROP / R_PASS. */
static __u32 send_pkt(struct fx *f, const struct tl_pkt_spec *s)
{
	static struct tl_run r;

	return run_spec(f, s, &r);
}

static struct tl_pkt_spec pkt(int fam, const char *src, __u16 sport, __u8 flags)
{
	struct tl_pkt_spec s = { .family = fam, .src = src, .sport = sport,
				 .tcp_flags = flags };
	return s;
}

static __u32 syn4(struct fx *f, __u16 sport)
{
	struct tl_pkt_spec s = pkt(4, NULL, sport, TCP_SYN);

	return send_pkt(f, &s);
}

static __u32 ack4(struct fx *f, __u16 sport)
{
	struct tl_pkt_spec s = pkt(4, NULL, sport, TCP_ACK);

	return send_pkt(f, &s);
}

/* Forgets the IPv4 flow 198.18.1.1:sport -> 198.18.0.10:80: its flow
 * entry, and its SYN slot (a SYN's choice waits there until its ACK). */
static void flow_del4(struct fx *f, __u16 sport)
{
	struct lb_flow_key4 k = { .sport = htons(sport), .dport = htons(80),
				  .proto = IPPROTO_TCP };
	struct lb_syn4 empty = {};
	struct lb_settings cfg;
	__u32 zero = 0, idx;
	__u8 a[16];

	tl_addr(4, "198.18.1.1", a);
	memcpy(&k.saddr, a, 4);
	tl_addr(4, "198.18.0.10", a);
	memcpy(&k.daddr, a, 4);
	bpf_map_delete_elem(FD(f, lb_flows4), &k);
	assert_int_equal(bpf_map_lookup_elem(FD(f, lb_settings), &zero, &cfg), 0);
	idx = lb_flow_hash4(&k, cfg.hash_seed) & (LB_SYN4_SLOTS - 1);
	assert_int_equal(bpf_map_update_elem(FD(f, lb_syn4), &idx, &empty, 0), 0);
}

/* Source ports (from base on) of IPv4 SYNs to VIP 0 that the VIP's current
 * policy, with every backend admitting, sends to backend want. Leaves no
 * trace: the probes' flow entries are deleted, open counts restored. */
static void find_sports(struct fx *f, __u16 base, __u32 want, __u16 *out, int n)
{
	const __u32 ids[] = { A, B, C };
	struct lb_be_load saved[3];
	int got = 0;

	for (int i = 0; i < 3; i++)
		saved[i] = load_get(f, ids[i]);
	for (__u32 p = base; p < base + 4000u && got < n; p++) {
		if (syn4(f, (__u16)p) == want)
			out[got++] = (__u16)p;
		flow_del4(f, (__u16)p);
	}
	for (int i = 0; i < 3; i++)
		assert_int_equal(bpf_map_update_elem(FD(f, lb_be_load), &ids[i],
						     &saved[i], 0), 0);
	assert_int_equal(got, n);
}

/* ---- 1. backend states ------------------------------------------------------ */

static void test_state_new_flows_single(void **state)
{
	struct fx *f = *state;
	const __u32 a[] = { A };
	__u64 st = BREF(f, A, state), nb = VREF(f, V4, no_backend);
	__u16 sport = 41000;

	ring_mod(f, V4, M, a, 1);
	assert_int_equal(syn4(f, sport++), A);
	for (__u8 s = LB_BE_STARTING; s <= LB_BE_DOWN; s++) {
		if (s == LB_BE_HALF_OPEN)
			continue;
		be_state(f, A, s);
		assert_int_equal(syn4(f, sport++), R_RST);
		/* one more refused flow counted for A's state, one on the VIP */
		assert_true(BREF(f, A, state) > st);
		st = BREF(f, A, state);
		assert_int_equal(VREF(f, V4, no_backend) - nb, 1);
		nb++;
	}
	assert_int_equal(BREF(f, A, backend_rate), 0);
	be_state(f, A, LB_BE_HEALTHY);
	assert_int_equal(syn4(f, sport++), A);
}

static void test_state_fall_through_and_established(void **state)
{
	struct fx *f = *state;
	const __u32 ab[] = { A, B };
	__u16 sp;
	__u64 rs;

	ring_mod(f, V4, M, ab, 2);
	find_sports(f, 42000, A, &sp, 1);
	for (__u8 s = LB_BE_STARTING; s <= LB_BE_DOWN; s++) {
		if (s == LB_BE_HALF_OPEN)
			continue;
		be_state(f, A, s);
		/* the same SYN lands on B every time */
		for (int i = 0; i < 5; i++)
			assert_int_equal(syn4(f, sp), B);
	}
	assert_int_equal(VREF(f, V4, no_backend), 0);

	/* established on A: kept unless A is DOWN */
	be_state(f, A, LB_BE_HEALTHY);
	assert_int_equal(syn4(f, sp), A);
	assert_int_equal(ack4(f, sp), A);
	rs = TL_GLOBAL(f->lb, flow_resteer_down);
	for (__u8 s = LB_BE_STARTING; s < LB_BE_DOWN; s++) {
		be_state(f, A, s);
		assert_int_equal(ack4(f, sp), A);
	}
	assert_int_equal(TL_GLOBAL(f->lb, flow_resteer_down), rs);
	be_state(f, A, LB_BE_DOWN);
	assert_int_equal(ack4(f, sp), B);
	assert_int_equal(TL_GLOBAL(f->lb, flow_resteer_down), rs + 1);
	/* re-pinned to B */
	be_state(f, A, LB_BE_HEALTHY);
	assert_int_equal(ack4(f, sp), B);
}

static void test_state_half_open(void **state)
{
	struct fx *f = *state;
	const __u32 a[] = { A };
	int tbfd = FD(f, lb_be_tb);
	__u64 st, tat;
	__u16 sport = 43000;

	ring_mod(f, V4, M, a, 1);
	be_mod(f, A, LB_BE_HALF_OPEN, 0, 0);
	/* rate 0: LB_TRIAL_RATE (1) trial flow, then refusals */
	assert_int_equal(syn4(f, sport++), A);
	st = BREF(f, A, state);
	assert_int_equal(st, 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(syn4(f, sport++), R_RST);
		assert_true(BREF(f, A, state) > st);
		st = BREF(f, A, state);
	}
	assert_int_equal(VREF(f, V4, no_backend), 3);
	assert_int_equal(BREF(f, A, backend_rate), 0);
	/* one second passes (the bucket's clock moved back by 1 s) */
	tat = tb_get(tbfd, A);
	assert_true(tat > 1000000000ull);
	tb_put(tbfd, A, tat - 1000000000ull);
	assert_int_equal(syn4(f, sport++), A);
	assert_int_equal(syn4(f, sport++), R_RST);

	/* an agent-set rate/burst: burst trial flows back to back */
	be_mod(f, A, LB_BE_HALF_OPEN, 2, 4);
	tb_put(tbfd, A, 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(syn4(f, sport++), A);
	assert_int_equal(syn4(f, sport++), R_RST);
	/* an established trial flow is not refused */
	assert_int_equal(ack4(f, sport - 2), A);
}

/*
 * lb_be_refused counts new flows refused, by reason: a backend met again
 * among a flow's LB_MAX_TRIES candidates (a table holding only A gives
 * A eight times) is asked, and counted, once.
 */
static void test_be_refused_counts_flows(void **state)
{
	struct fx *f = *state;
	const __u32 a[] = { A };

	ring_mod(f, V4, M, a, 1);
	be_state(f, A, LB_BE_DRAINING);
	assert_int_equal(syn4(f, 44000), R_RST);
	printf("lb_be_refused.state after one refused SYN: %llu\n",
	       (unsigned long long)BREF(f, A, state));
	assert_int_equal(VREF(f, V4, no_backend), 1);
	assert_int_equal(BREF(f, A, state), 1);
}

/* ---- 2. fail-open -------------------------------------------------------------- */

static void test_fail_open(void **state)
{
	struct fx *f = *state;
	const __u32 ab[] = { A, B };
	struct lb_vip v;
	__u32 plain[2];
	__u16 sp[2] = { 45000, 45001 };

	ring_mod(f, V4, M, ab, 2);
	for (int i = 0; i < 2; i++)
		plain[i] = syn4(f, sp[i]);
	be_state(f, A, LB_BE_DRAINING);
	be_state(f, B, LB_BE_OPEN);
	for (int i = 0; i < 2; i++)
		assert_int_equal(syn4(f, sp[i]), R_RST);
	assert_int_equal(VREF(f, V4, no_backend), 2);
	assert_int_equal(VREF(f, V4, fail_open), 0);

	v = vip_get(f, V4);
	v.flags |= LB_VIP_F_FAIL_OPEN;
	vip_put(f, V4, &v);
	for (int i = 0; i < 2; i++)
		assert_int_equal(syn4(f, sp[i]), plain[i]);
	assert_int_equal(VREF(f, V4, fail_open), 2);
	assert_int_equal(VREF(f, V4, no_backend), 2);
	assert_int_equal(VREF(f, V4, reset_sent), 2);

	/* a rate refusal among them: no fail-open, refused for the rate */
	be_mod(f, B, LB_BE_HEALTHY, 1, 1);
	tb_put(FD(f, lb_be_tb), B, 0);
	assert_int_equal(syn4(f, 45010), B); /* B's only token */
	assert_int_equal(syn4(f, 45011), R_RST);
	assert_int_equal(VREF(f, V4, backend_rate), 1);
	assert_int_equal(VREF(f, V4, fail_open), 2);
}

/* ---- 3. refusal outcome ----------------------------------------------------- */

/* The RST the balancer must answer frame in (len bytes) with. */
static size_t expect_rst(__u8 *out, const __u8 *in, size_t len, int fam)
{
	size_t l3 = in[12] == 0x81 && in[13] == 0x00 ? 18 : 14;
	size_t ipl = fam == 6 ? 40 : 20;
	const __u8 *iip = in + l3, *ith = in + l3 + ipl;
	__u8 *ip = out + l3, *th = out + l3 + ipl;
	__u32 seq, ack, in_ip_len, seg_len, sum;
	__u8 fl = ith[13];
	int alen = fam == 6 ? 16 : 4;
	const __u8 *src = fam == 6 ? iip + 8 : iip + 12;
	const __u8 *dst = src + alen;

	(void)len;
	memcpy(out, in, l3);
	memcpy(out, in + 6, 6);     /* to the client's MAC */
	memcpy(out + 6, in, 6);     /* from ours */
	memset(ip, 0, ipl + 20);
	if (fam == 4) {
		in_ip_len = ntohs(*(const __be16 *)(iip + 2));
		ip[0] = 0x45;
		*(__be16 *)(ip + 2) = htons(40);
		*(__be16 *)(ip + 6) = htons(0x4000);
		ip[8] = 64;
		ip[9] = IPPROTO_TCP;
		memcpy(ip + 12, dst, 4);
		memcpy(ip + 16, src, 4);
		*(__u16 *)(ip + 10) = tl_csum(ip, 20, 0);
	} else {
		in_ip_len = ntohs(*(const __be16 *)(iip + 4)) + 40;
		ip[0] = 0x60;
		*(__be16 *)(ip + 4) = htons(20);
		ip[6] = IPPROTO_TCP;
		ip[7] = 64;
		memcpy(ip + 8, dst, 16);
		memcpy(ip + 24, src, 16);
	}
	seg_len = in_ip_len - ipl - (ith[12] >> 4) * 4 + !!(fl & TCP_SYN) +
		  !!(fl & TCP_FIN);
	memcpy(&seq, ith + 4, 4);
	memcpy(&ack, ith + 8, 4);
	memcpy(th, ith + 2, 2);
	memcpy(th + 2, ith, 2);
	if (fl & TCP_ACK) {
		memcpy(th + 4, &ack, 4);     /* seq = their ack */
		th[13] = TCP_RST;
	} else {
		*(__be32 *)(th + 8) = htonl(ntohl(seq) + seg_len);
		th[13] = TCP_RST | TCP_ACK;
	}
	th[12] = 5 << 4;
	sum = tl_csum_add(ip + (fam == 6 ? 8 : 12), 2 * alen, 0) + IPPROTO_TCP + 20;
	*(__u16 *)(th + 16) = tl_csum(th, 20, sum);
	return l3 + ipl + 20;
}

static void check_rst(struct fx *f, const struct tl_pkt_spec *s)
{
	__u8 in[2048], exp[2048];
	size_t len = tl_build(s, in, sizeof(in)), elen;
	size_t l3 = s->vlan ? 18 : 14, ipl = s->family == 6 ? 40 : 20;
	int alen = s->family == 6 ? 16 : 4;
	static struct tl_run r;
	const __u8 *ip, *th;
	__u32 sum;

	elen = expect_rst(exp, in, len, s->family);
	assert_int_equal(tl_run(f->prog, in, len, &r), 0);
	assert_int_equal(r.ret, XDP_TX);
	assert_int_equal(r.len, elen);
	for (size_t i = 0; i < elen; i++)
		if (r.out[i] != exp[i]) {
			print_error("RST byte %zu: got 0x%02x want 0x%02x\n", i,
				    r.out[i], exp[i]);
			fail();
		}
	/* independently: both checksums verify as received */
	ip = r.out + l3;
	th = ip + ipl;
	if (s->family == 4)
		assert_int_equal(tl_csum(ip, 20, 0), 0);
	sum = tl_csum_add(ip + (s->family == 6 ? 8 : 12), 2 * alen, 0) +
	      IPPROTO_TCP + 20;
	assert_int_equal(tl_csum(th, 20, sum), 0);
}

static void test_refuse_rst_bytes(void **state)
{
	struct fx *f = *state;
	const __u32 a[] = { A }, a6[] = { A6 };

	ring_mod(f, V4, M, a, 1);
	ring_mod(f, V6, M, a6, 1);
	be_state(f, A, LB_BE_DRAINING);
	be_state(f, A6, LB_BE_DRAINING);
	for (int fam = 4; fam <= 6; fam += 2)
		for (int vlan = 0; vlan <= 100; vlan += 100) {
			struct tl_pkt_spec syn = { .family = fam, .sport = 46000,
						   .tcp_flags = TCP_SYN,
						   .vlan = vlan, .tos = 0xb8 };
			struct tl_pkt_spec syn_data = syn;
			struct tl_pkt_spec ack = syn;

			check_rst(f, &syn);
			syn_data.payload = 37; /* odd: ack = seq + 1 + 37 */
			syn_data.sport = 46001;
			check_rst(f, &syn_data);
			/* a non-SYN without a flow entry: <SEQ=SEG.ACK><RST> */
			ack.tcp_flags = TCP_ACK;
			ack.set_ack = true;
			ack.sport = 46002;
			check_rst(f, &ack);
			ack.payload = 100;
			check_rst(f, &ack);
			/* FIN|ACK counts the FIN; with ACK: seq = ack */
			ack.tcp_flags = TCP_FIN | TCP_ACK;
			check_rst(f, &ack);
		}
	assert_int_equal(VREF(f, V4, reset_sent), 10);
	assert_int_equal(VREF(f, V6, reset_sent), 10);
	assert_int_equal(VREF(f, V4, no_backend), 10);
	assert_int_equal(VREF(f, V6, no_backend), 10);
	assert_int_equal(VREF(f, V4, dropped), 0);
	/* nothing was recorded for the refused flows */
	assert_int_equal(open_of(f, A), 0);
	assert_int_equal(VNEW(f, V4), 0);
}

/* A SYN+FIN without ACK: ack = seq + 1 (SYN) + 1 (FIN). */
static void test_refuse_rst_syn_fin(void **state)
{
	struct fx *f = *state;
	const __u32 a[] = { A };
	struct tl_pkt_spec s = { .family = 4, .sport = 46100,
				 .tcp_flags = TCP_SYN | TCP_FIN };

	ring_mod(f, V4, M, a, 1);
	be_state(f, A, LB_BE_DRAINING);
	check_rst(f, &s);
}

static void test_refuse_drop_udp_rst(void **state)
{
	struct fx *f = *state;
	const __u32 a[] = { A }, u[] = { U1 };
	struct tl_pkt_spec udp = { .family = 4, .proto = IPPROTO_UDP, .dport = 53,
				   .sport = 5353 };
	struct tl_pkt_spec rst = pkt(4, NULL, 47000, TCP_RST);
	struct tl_pkt_spec rsta = pkt(4, NULL, 47001, TCP_RST | TCP_ACK);
	struct lb_vip v;

	ring_mod(f, V4, M, a, 1);
	ring_mod(f, VU, M, u, 1);
	be_state(f, A, LB_BE_DRAINING);
	be_state(f, U1, LB_BE_DRAINING);

	/* UDP refused: dropped even though refuse = RESET */
	assert_int_equal(vip_get(f, VU).refuse, LB_REFUSE_RESET);
	assert_int_equal(send_pkt(f, &udp), R_DROP);
	assert_int_equal(VREF(f, VU, dropped), 1);
	assert_int_equal(VREF(f, VU, no_backend), 1);
	assert_int_equal(VREF(f, VU, reset_sent), 0);

	/* a refused RST is never answered */
	assert_int_equal(send_pkt(f, &rst), R_DROP);
	assert_int_equal(send_pkt(f, &rsta), R_DROP);
	assert_int_equal(VREF(f, V4, dropped), 2);
	assert_int_equal(VREF(f, V4, reset_sent), 0);
	assert_int_equal(VREF(f, V4, no_backend), 2);

	/* refuse = DROP */
	v = vip_get(f, V4);
	v.refuse = LB_REFUSE_DROP;
	vip_put(f, V4, &v);
	assert_int_equal(syn4(f, 47002), R_DROP);
	assert_int_equal(ack4(f, 47003), R_DROP);
	assert_int_equal(VREF(f, V4, dropped), 4);
	assert_int_equal(VREF(f, V4, reset_sent), 0);
	assert_int_equal(VREF(f, V4, no_backend), 4);
	/* and by rate: the reason field differs, the outcome does not */
	be_state(f, A, LB_BE_HEALTHY);
	v.rate = 1;
	v.burst = 1;
	vip_put(f, V4, &v);
	assert_int_equal(syn4(f, 47004), A);
	assert_int_equal(syn4(f, 47005), R_DROP);
	assert_int_equal(VREF(f, V4, vip_rate), 1);
	assert_int_equal(VREF(f, V4, dropped), 5);
	v.refuse = LB_REFUSE_RESET;
	vip_put(f, V4, &v);
	assert_int_equal(syn4(f, 47006), R_RST);
	assert_int_equal(VREF(f, V4, vip_rate), 2);
	assert_int_equal(VREF(f, V4, reset_sent), 1);
}

/* ---- 4. token buckets -------------------------------------------------------- */

static void test_vip_bucket(void **state)
{
	struct fx *f = *state;
	const __u32 ab[] = { A, B };
	int tbfd = FD(f, lb_vip_tb);
	struct lb_vip v = vip_get(f, V4);
	struct timespec ts;
	__u64 tat, now;

	ring_mod(f, V4, M, ab, 2);
	v.rate = 1;
	v.burst = 5;
	vip_put(f, V4, &v);
	for (__u16 p = 0; p < 5; p++)
		assert_true(syn4(f, 48000 + p) < R_RST);
	tat = tb_get(tbfd, V4);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = ts.tv_sec * 1000000000ull + ts.tv_nsec;
	/* five tokens spent: tat = (time of the first) + 5 s */
	assert_true(tat > now + 4000000000ull && tat <= now + 5000000000ull);
	/* established packets: forwarded, no token spent */
	for (int i = 0; i < 200; i++) {
		__u32 be = ack4(f, 48000 + i % 5);

		assert_true(be == A || be == B);
	}
	assert_int_equal(tb_get(tbfd, V4), tat);
	assert_int_equal(VREF(f, V4, vip_rate), 0);
	/* the sixth new flow */
	assert_int_equal(syn4(f, 48005), R_RST);
	assert_int_equal(VREF(f, V4, vip_rate), 1);
	assert_int_equal(VREF(f, V4, reset_sent), 1);
	assert_int_equal(tb_get(tbfd, V4), tat);
	/* the established flows still pass, even with the bucket empty */
	for (int i = 0; i < 50; i++)
		assert_true(ack4(f, 48000 + i % 5) < R_RST);
	assert_int_equal(VREF(f, V4, vip_rate), 1);
	assert_int_equal(VNEW(f, V4), 5);
}

static void test_backend_bucket(void **state)
{
	struct fx *f = *state;
	/* A in one slot only: its candidate walk visits A once before B */
	const __u32 t[M] = { A, B, B, B, B, B, B };
	int tbfd = FD(f, lb_be_tb);
	__u16 sp[3];
	__u64 ra, rb;

	ring_tbl(f, V4, M, t);
	find_sports(f, 49000, A, sp, 3);
	be_mod(f, A, LB_BE_HEALTHY, 1, 1);
	be_mod(f, B, LB_BE_HEALTHY, 1, 2);
	tb_put(tbfd, A, 0);
	tb_put(tbfd, B, 0);
	assert_int_equal(syn4(f, sp[0]), A);   /* A's token */
	assert_int_equal(syn4(f, sp[1]), B);   /* falls through */
	assert_int_equal(BREF(f, A, backend_rate), 1);
	assert_int_equal(BREF(f, A, state), 0);
	assert_int_equal(VREF(f, V4, backend_rate), 0);
	assert_int_equal(syn4(f, 49999), B);   /* B's second token (some port) */
	ra = BREF(f, A, backend_rate);
	rb = BREF(f, B, backend_rate);
	/* every candidate empty: refused for backend_rate */
	assert_int_equal(syn4(f, sp[2]), R_RST);
	assert_int_equal(VREF(f, V4, backend_rate), 1);
	assert_int_equal(VREF(f, V4, no_backend), 0);
	assert_true(BREF(f, A, backend_rate) > ra);
	assert_true(BREF(f, B, backend_rate) > rb);
	/* a second passes for A only */
	tb_put(tbfd, A, tb_get(tbfd, A) - 1000000000ull);
	assert_int_equal(syn4(f, sp[2]), A);
}

static void client_burst(struct fx *f, int fam, const char *src, __u16 *port,
			 int n, __u32 want)
{
	for (int i = 0; i < n; i++) {
		struct tl_pkt_spec s = pkt(fam, src, (*port)++, TCP_SYN);

		assert_int_equal(send_pkt(f, &s), want);
	}
}

static void test_client_bucket(void **state)
{
	struct fx *f = *state;
	const __u32 a[] = { A }, a6[] = { A6 };
	struct lb_vip v = vip_get(f, V4), v6 = vip_get(f, V6);
	struct lb_client_key k = { .vip_id = V4, .plen = 24, .family = LB_AF_INET };
	struct lb_tb tb;
	__u16 port = 50000;

	ring_mod(f, V4, M, a, 1);
	ring_mod(f, V6, M, a6, 1);
	v.client_rate = 1;
	v.client_burst = 2;
	vip_put(f, V4, &v);
	/* /32 (client_plen4 0): every source its own bucket */
	client_burst(f, 4, "198.18.1.1", &port, 2, A);
	client_burst(f, 4, "198.18.1.2", &port, 2, A);
	client_burst(f, 4, "198.18.1.1", &port, 1, R_RST);
	client_burst(f, 4, "198.18.1.2", &port, 1, R_RST);
	assert_int_equal(VREF(f, V4, client_rate), 2);
	/* /24: two sources in one prefix share one bucket */
	v.client_plen4 = 24;
	vip_put(f, V4, &v);
	client_burst(f, 4, "198.18.5.3", &port, 1, A);
	client_burst(f, 4, "198.18.5.4", &port, 1, A);
	client_burst(f, 4, "198.18.5.3", &port, 1, R_RST);
	client_burst(f, 4, "198.18.5.4", &port, 1, R_RST);
	client_burst(f, 4, "198.18.6.4", &port, 2, A);
	assert_int_equal(VREF(f, V4, client_rate), 4);
	tl_addr(4, "198.18.5.0", k.addr);
	assert_int_equal(bpf_map_lookup_elem(FD(f, lb_client_tb), &k, &tb), 0);

	/* IPv6: default /64 */
	v6.client_rate = 1;
	v6.client_burst = 2;
	vip_put(f, V6, &v6);
	client_burst(f, 6, "2001:db8:1::1", &port, 1, A6);
	client_burst(f, 6, "2001:db8:1::2", &port, 1, A6);
	client_burst(f, 6, "2001:db8:1::ffff:1", &port, 1, R_RST);
	client_burst(f, 6, "2001:db8:1:1::1", &port, 2, A6);
	client_burst(f, 6, "2001:db8:1:1::2", &port, 1, R_RST);
	assert_int_equal(VREF(f, V6, client_rate), 2);
	assert_int_equal(VREF(f, V6, vip_rate), 0);
	/* /128: each address alone */
	v6.client_plen6 = 128;
	vip_put(f, V6, &v6);
	client_burst(f, 6, "2001:db8:1::1", &port, 2, A6);
	client_burst(f, 6, "2001:db8:1::2", &port, 2, A6);
	client_burst(f, 6, "2001:db8:1::2", &port, 1, R_RST);
	assert_int_equal(VREF(f, V6, client_rate), 3);
}

/* ---- 4b. bucket accuracy in real time ---------------------------------------- */

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One BPF_PROG_TEST_RUN of n repeats of frame. The VIPs here are l2dsr
 * with refuse = DROP, so the frame stays a SYN to the VIP across repeats
 * (only its MACs change) and every repeat is one new-flow attempt. */
static void run_repeat(struct fx *f, const __u8 *frame, size_t len, __u32 n)
{
	__u8 copy[256];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = copy, .data_size_in = len,
		    .repeat = n);

	memcpy(copy, frame, len);
	assert_int_equal(bpf_prog_test_run_opts(f->prog, &o), 0);
	assert_true(o.retval == XDP_TX || o.retval == XDP_DROP);
}

/*
 * Attempts arrive in batches, one every period seconds, for 2 s. A run
 * with repeat > 1 costs a fixed ~16 ms on this kernel (6.1 swaps the XDP
 * dispatcher before and after, with an RCU grace period each), so:
 *   - below 20k attempts/s a batch is that many runs of repeat 1;
 *   - above, a batch is one run of repeat n, and the burst must cover a
 *     period's tokens (burst >= rate * period), or the bucket (correctly)
 *     loses what accrues between batches and the test would measure the
 *     burst, not the rate;
 *   - attempt_rate 0: back-to-back runs of repeat n, as fast as it goes.
 */
struct acc {
	double attempt_rate; /* per second; 0 = as fast as possible */
	double period;       /* s between batch starts (unused for max) */
	__u32 rate;          /* VIP rate; 0 = half the calibrated speed */
	__u32 burst;         /* at least 2 batches when batches are repeats */
};

static void accuracy(struct fx *f, __u32 vip, const char *addr, __u32 be,
		     struct acc a)
{
	struct tl_pkt_spec s = { .family = 4, .dst = addr, .sport = 40000,
				 .tcp_flags = TCP_SYN };
	__u8 frame[2048];
	size_t len = tl_build(&s, frame, sizeof(frame));
	struct lb_vip v;
	__u64 n0, r0, attempts = 0, admitted, refused;
	double t0, el, expect, lim, speed = 0;
	__u32 batch = 0, single;
	const char *note = "";
	char ba[32];

	assert_int_equal(tl_vip_add(f->lb, 4, addr, 80, IPPROTO_TCP, LB_FWD_L2DSR,
				    vip, M), 0);
	snprintf(ba, sizeof(ba), "198.18.2.%u", be);
	assert_int_equal(tl_backend_add(f->lb, be, vip, 4, ba), 0);
	assert_int_equal(tl_ring_fill(f->lb, vip, M, be), 0);
	v = vip_get(f, vip);
	v.refuse = LB_REFUSE_DROP;
	vip_put(f, vip, &v);
	if (!a.attempt_rate) {
		/* calibrate without the fixed cost: all admitted (slower path) */
		double x = mono_s(), c0, c1;

		run_repeat(f, frame, len, 2);
		c0 = mono_s() - x;
		x = mono_s();
		run_repeat(f, frame, len, 300002);
		c1 = mono_s() - x;
		speed = 300000 / (c1 > c0 ? c1 - c0 : c1);
		/* half of what runs of this size reach, fixed cost included */
		if (!a.rate)
			a.rate = (__u32)(300000 / c1 / 2 / 1000) * 1000;
		if (a.rate < 1000)
			a.rate = 1000;
		batch = (__u32)(speed * 0.05); /* ~50 ms of work per run */
	} else {
		batch = (__u32)(a.attempt_rate * a.period + 0.5);
	}
	single = a.attempt_rate && a.attempt_rate <= 20000;
	/* a batch of repeats (and the ~16 ms, at times much more, between
	 * two) must fit in the bucket: see above */
	if (!single && a.burst < 2 * batch)
		a.burst = 2 * batch;
	v.rate = a.rate;
	v.burst = a.burst;
	vip_put(f, vip, &v);
	tb_put(FD(f, lb_vip_tb), vip, 0);
	n0 = VNEW(f, vip);
	r0 = VREF(f, vip, vip_rate);

	t0 = mono_s();
	for (int i = 0; i < 100000; i++) {
		if (a.attempt_rate) {
			/* batch i belongs at t0 + i * period */
			double due = t0 + i * a.period, now = mono_s();

			if (due >= t0 + 2.0 || now - t0 >= 2.0)
				break;
			if (due > now) {
				struct timespec d = { 0, (long)((due - now) * 1e9) };

				nanosleep(&d, NULL);
			}
		} else if (mono_s() - t0 >= 2.0) {
			break;
		}
		if (single)
			for (__u32 k = 0; k < batch; k++)
				run_repeat(f, frame, len, 1);
		else
			run_repeat(f, frame, len, batch);
		attempts += batch;
	}
	el = mono_s() - t0;
	admitted = VNEW(f, vip) - n0;
	refused = VREF(f, vip, vip_rate) - r0;
	expect = a.rate * el + a.burst;
	lim = expect;
	if (attempts < expect) {
		lim = (double)attempts;
		note = " (attempts < rate*elapsed+burst: expected = attempts)";
	}
	printf("accuracy: %s attempts %llu in %.3f s = %.0f/s (batches of %u%s), "
	       "VIP rate %u/s burst %u: admitted %llu refused %llu, "
	       "expected %.0f, error %+.2f%%%s\n",
	       a.attempt_rate ? "paced" : "max", (unsigned long long)attempts, el,
	       attempts / el, batch, single ? " x repeat 1" : " repeats",
	       a.rate, a.burst, (unsigned long long)admitted,
	       (unsigned long long)refused, lim,
	       100.0 * ((double)admitted - lim) / lim, note);
	if (speed > 0)
		printf("accuracy: calibrated speed %.0f attempts/s (all admitted)\n",
		       speed);
	if (a.attempt_rate && attempts / el < 0.9 * a.attempt_rate)
		printf("accuracy: note: the machine reached only %.0f of %.0f attempts/s\n",
		       attempts / el, a.attempt_rate);
	assert_int_equal(admitted + refused, attempts);
	assert_true(admitted >= 0.95 * lim && admitted <= 1.05 * lim);
}

static void test_vip_bucket_accuracy(void **state)
{
	struct fx *f = *state;

	accuracy(f, 10, "198.18.0.41", 50,
		 (struct acc){ .attempt_rate = 10000, .period = 0.01,
			       .rate = 5000, .burst = 100 });
	accuracy(f, 11, "198.18.0.42", 51,
		 (struct acc){ .attempt_rate = 100000, .period = 0.05,
			       .rate = 50000, .burst = 100 });
	accuracy(f, 12, "198.18.0.43", 52,
		 (struct acc){ .attempt_rate = 0, .burst = 100 });
}

/* ---- 5. policies ---------------------------------------------------------------- */

/* IPv4 SYNs from src (or 198.18.1.1), n distinct ports: counts per backend
 * (index = backend id). */
static void spread(struct fx *f, const char *src, __u16 base, int n, __u32 *cnt,
		   __u32 ncnt)
{
	for (int i = 0; i < n; i++) {
		struct tl_pkt_spec s = pkt(4, src, (__u16)(base + i), TCP_SYN);
		__u32 be = send_pkt(f, &s);

		assert_true(be < ncnt);
		cnt[be]++;
	}
}

static void test_policy_maglev_weights(void **state)
{
	struct fx *f = *state;
	const __u32 w13[] = { A, B, B, B };
	__u32 cnt[8] = { 0 };

	ring_mod(f, V4, M, w13, 4); /* A at slots 0, 4: 2/7 */
	spread(f, NULL, 10000, 4000, cnt, 8);
	printf("maglev 2:5 table: A %u B %u\n", cnt[A], cnt[B]);
	assert_int_equal(cnt[A] + cnt[B], 4000);
	assert_true(cnt[A] > 4000 * (2.0 / 7 - 0.05) && cnt[A] < 4000 * (2.0 / 7 + 0.05));
	/* same SYN, same backend */
	for (int i = 0; i < 20; i++)
		assert_int_equal(syn4(f, 10007), syn4(f, 10007));
}

static void test_policy_source(void **state)
{
	struct fx *f = *state;
	const __u32 abc[] = { A, B, C };
	__u32 cnt[8] = { 0 }, first = 0;
	char src[32];

	ring_mod(f, V4, M, abc, 3); /* A 3/7, B 2/7, C 2/7 */
	vip_policy(f, V4, LB_POL_SOURCE);
	/* one client, many ports: one backend */
	for (int c = 0; c < 4; c++) {
		snprintf(src, sizeof(src), "198.18.1.%d", 10 + c);
		memset(cnt, 0, sizeof(cnt));
		spread(f, src, 20000, 100, cnt, 8);
		first = cnt[A] ? A : cnt[B] ? B : C;
		assert_int_equal(cnt[first], 100);
	}
	/* many clients: spread over the table (expected 3/7, 2/7, 2/7) */
	memset(cnt, 0, sizeof(cnt));
	for (int c = 0; c < 700; c++) {
		snprintf(src, sizeof(src), "198.18.%d.%d", 64 + c / 200, 1 + c % 200);
		spread(f, src, 21000, 1, cnt, 8);
	}
	printf("source: 700 clients: A %u B %u C %u\n", cnt[A], cnt[B], cnt[C]);
	assert_true(cnt[A] > 300 - 70 && cnt[A] < 300 + 70);
	assert_true(cnt[B] > 200 - 60 && cnt[B] < 200 + 60);
	assert_true(cnt[C] > 200 - 60 && cnt[C] < 200 + 60);
	/* IPv6 clients too: one client, one backend */
	{
		const __u32 ab6[] = { A6, B6 };
		__u32 be = 0;

		ring_mod(f, V6, M, ab6, 2);
		vip_policy(f, V6, LB_POL_SOURCE);
		for (__u16 p = 0; p < 50; p++) {
			struct tl_pkt_spec s = pkt(6, "2001:db8:1::77", 22000 + p, TCP_SYN);
			__u32 got = send_pkt(f, &s);

			if (!be)
				be = got;
			assert_int_equal(got, be);
		}
	}
}

static void test_policy_random(void **state)
{
	struct fx *f = *state;
	__u32 cnt[2] = { 0 };
	__u32 *t = calloc(1009, sizeof(*t));

	assert_non_null(t);
	assert_int_equal(tl_vip_add(f->lb, 4, "198.18.0.11", 80, IPPROTO_TCP,
				    LB_FWD_IPIP, 3, 1009), 0);
	assert_int_equal(tl_backend_add(f->lb, 35, 3, 4, "198.18.2.35"), 0);
	assert_int_equal(tl_backend_add(f->lb, 36, 3, 4, "198.18.2.36"), 0);
	for (__u32 i = 0; i < 1008; i++)
		t[i] = i % 4 ? 36 : 35;
	t[1008] = 36; /* 252 : 757, within 0.1 % of 1:3 */
	ring_tbl(f, 3, 1009, t);
	free(t);
	vip_policy(f, 3, LB_POL_RANDOM);
	/* 4000 new flows (a retransmitted SYN would keep its backend) */
	for (int i = 0; i < 4000; i++) {
		struct tl_pkt_spec s = { .family = 4, .dst = "198.18.0.11",
					 .sport = (__u16)(23000 + i),
					 .tcp_flags = TCP_SYN };
		__u32 be = send_pkt(f, &s);

		assert_true(be == 35 || be == 36);
		cnt[be == 35 ? 0 : 1]++;
	}
	printf("random 1:3: %u / %u\n", cnt[0], cnt[1]);
	assert_int_equal(cnt[0] + cnt[1], 4000);
	assert_true(cnt[0] >= 800 && cnt[0] <= 1200); /* 25 % +- 5 points */
}

/* Pins the process to the CPU it is on: lb_rr is per CPU. */
static void pin_cpu(void)
{
	cpu_set_t set;
	int cpu = sched_getcpu();

	assert_true(cpu >= 0);
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	assert_int_equal(sched_setaffinity(0, sizeof(set), &set), 0);
}

static void test_policy_wrr(void **state)
{
	struct fx *f = *state;
	const __u32 t[M] = { A, B, B, C, A, C, B };
	__u32 cnt[8] = { 0 }, first = 0;
	int start = -1;

	pin_cpu();
	ring_tbl(f, V4, M, t);
	vip_policy(f, V4, LB_POL_WRR);
	/* the first SYN tells where this CPU's cursor is (0 on a fresh load) */
	for (int i = 0; i < 3 * M; i++) {
		__u32 be = syn4(f, (__u16)(24000 + i)); /* new flows */

		if (!i) {
			first = be;
			for (int s = 0; s < M && start < 0; s++)
				if (t[s] == be)
					start = s;
			assert_int_equal(start, 0);
		}
		assert_int_equal(be, t[(start + i) % M]);
		cnt[be]++;
	}
	assert_int_equal(first, A);
	assert_int_equal(cnt[A], 3 * 2);
	assert_int_equal(cnt[B], 3 * 3);
	assert_int_equal(cnt[C], 3 * 2);
	/* a refused slot: the next slot */
	be_state(f, C, LB_BE_DRAINING);
	for (int i = 0; i < 2 * M; i++) {
		__u32 be = syn4(f, (__u16)(24100 + i));
		int s = i % M;

		while (t[s] == C)
			s = (s + 1) % M;
		assert_int_equal(be, t[s]);
	}
}

static void test_policy_rr(void **state)
{
	struct fx *f = *state;
	const __u32 ids[] = { A, B, C }, w[] = { 1, 1, 1 }, a[] = { A };

	pin_cpu();
	ring_mod(f, V4, M, a, 1);
	list_set(f, V4, 3, ids, w);
	vip_policy(f, V4, LB_POL_RR);
	for (int i = 0; i < 30; i++)
		assert_int_equal(syn4(f, (__u16)(25000 + i)), ids[i % 3]);
	/* a refused backend: the next listed */
	be_state(f, B, LB_BE_DRAINING);
	for (int i = 30; i < 42; i++) {
		__u32 want = ids[i % 3] == B ? C : ids[i % 3];

		assert_int_equal(syn4(f, (__u16)(25100 + i)), want);
	}
}

static void test_policy_least_conn(void **state)
{
	struct fx *f = *state;
	const __u32 ids[] = { A, B, C }, w[] = { 1, 2, 1 }, a[] = { A };

	ring_mod(f, V4, M, a, 1);
	list_set(f, V4, 3, ids, w);
	vip_policy(f, V4, LB_POL_LEAST_CONN);
	/* open/weight: A 5, B 3, C 4 -> B */
	load_put(f, A, 5, 0, 0);
	load_put(f, B, 6, 0, 0);
	load_put(f, C, 4, 0, 0);
	assert_int_equal(syn4(f, 26000), B);
	assert_int_equal(open_of(f, B), 7);
	assert_int_equal(open_of(f, A), 5);
	assert_int_equal(open_of(f, C), 4);
	/* B at 7/2 = 3.5 still the least */
	assert_int_equal(syn4(f, 26001), B);
	assert_int_equal(open_of(f, B), 8);
	/* B 4 = C 4 < A 5: a tie goes to the first listed (B) */
	assert_int_equal(syn4(f, 26002), B);
	assert_int_equal(open_of(f, B), 9);
	/* C 4 < B 9/2 < A 5 */
	assert_int_equal(syn4(f, 26003), C);
	assert_int_equal(open_of(f, C), 5);
	/* all equal: A 5, B 10/2, C 5 -> A */
	load_put(f, B, 10, 0, 0);
	assert_int_equal(syn4(f, 26004), A);
	assert_int_equal(open_of(f, A), 6);
	/* the least is DRAINING: skipped; HALF_OPEN counts */
	load_put(f, A, 0, 0, 0);
	be_state(f, A, LB_BE_DRAINING);
	assert_int_equal(syn4(f, 26005), B);  /* B 10/2 = C 5: B first */
	load_put(f, C, 1, 0, 0);
	be_state(f, C, LB_BE_HALF_OPEN);
	assert_int_equal(syn4(f, 26006), C);
	assert_int_equal(open_of(f, C), 2);
	assert_int_equal(open_of(f, A), 0);
}

/* expected-wait's inputs of a backend, as lb-agent publishes them */
static void wait_put(struct fx *f, __u32 id, __u64 open, __u32 slots, __u64 wait_ns)
{
	struct lb_be_load l = { .open = open, .slots = slots, .slot_wait_ns = wait_ns };

	assert_int_equal(bpf_map_update_elem(FD(f, lb_be_load), &id, &l, 0), 0);
}

/* The requests a worker serves beyond this balancer's flows, as the
 * agent saw them at at_ns (lb_be_load.engine_load, engine_load_ns). */
static void engine_put(struct fx *f, __u32 id, __u32 n, __u64 at_ns)
{
	struct lb_be_load l = load_get(f, id);

	l.engine_load = n;
	l.engine_load_ns = at_ns;
	assert_int_equal(bpf_map_update_elem(FD(f, lb_be_load), &id, &l, 0), 0);
}

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

static void test_policy_expected_wait(void **state)
{
	struct fx *f = *state;
	const __u32 ids[] = { A, B, C }, w[] = { 1, 1, 1 }, a[] = { A };
	const __u64 ms = 1000000;

	ring_mod(f, V4, M, a, 1);
	list_set(f, V4, 3, ids, w);
	vip_policy(f, V4, LB_POL_EXPECTED_WAIT);
	/* free slots everywhere: no wait; the tie goes to the least
	 * open x slot wait, i.e. the faster worker per open flow:
	 * A 4 x 100, B 2 x 300, C 3 x 100 -> C */
	wait_put(f, A, 4, 8, 100 * ms);
	wait_put(f, B, 2, 8, 300 * ms);
	wait_put(f, C, 3, 8, 100 * ms);
	assert_int_equal(syn4(f, 30000), C);
	assert_int_equal(open_of(f, C), 4);
	/* A 4 x 100 = C 4 x 100 < B 600: the first listed */
	assert_int_equal(syn4(f, 30001), A);
	/* full batches: the wait is the queue ahead x the slot wait:
	 * A (10 + 1 - 8) x 100 = 300, B (9 + 1 - 8) x 300 = 600,
	 * C (12 + 1 - 8) x 100 = 500 -> A, though B has fewer open flows */
	wait_put(f, A, 10, 8, 100 * ms);
	wait_put(f, B, 9, 8, 300 * ms);
	wait_put(f, C, 12, 8, 100 * ms);
	assert_int_equal(syn4(f, 30002), A);
	/* a free slot beats any queue, even on a slow worker */
	wait_put(f, B, 7, 8, 300 * ms);
	assert_int_equal(syn4(f, 30003), B);
	assert_int_equal(open_of(f, B), 8);
	/* unknown slots (0): every open flow waits: B 1 x 300 < A 11 x 100 */
	wait_put(f, A, 10, 0, 100 * ms);
	wait_put(f, B, 0, 0, 300 * ms);
	wait_put(f, C, 20, 0, 100 * ms);
	assert_int_equal(syn4(f, 30004), B);
	/* the shortest wait is DRAINING: skipped */
	be_state(f, B, LB_BE_DRAINING);
	assert_int_equal(syn4(f, 30005), A);
	be_state(f, B, LB_BE_HEALTHY);
	/* one backend without a speed yet: the VIP falls back to
	 * least-conn (A 11, B 1, C 20 -> B) */
	wait_put(f, A, 11, 8, 0);
	wait_put(f, B, 1, 8, 10000 * ms);
	assert_int_equal(syn4(f, 30006), B);
	/* a count the recount took below 0 reads as 0 */
	wait_put(f, A, (__u64)-3, 8, 100 * ms);
	wait_put(f, B, 1, 8, 100 * ms);
	wait_put(f, C, 0, 8, 100 * ms);
	assert_int_equal(syn4(f, 30007), A);
	/* what the worker serves beyond this balancer's flows (load past
	 * it), while fresh, adds to the open count: A 0 open + 12 -> (13 -
	 * 8) x 100; B 1 -> tie 100, C 0 -> C */
	engine_put(f, A, 12, mono_ns());
	assert_int_equal(syn4(f, 30008), C);
	/* C 1 open + 9: (11 - 8) x 100 > B's 0 wait: B */
	engine_put(f, C, 9, mono_ns());
	assert_int_equal(syn4(f, 30009), B);
	/* older than LB_ENGINE_LOAD_TTL_NS: the open counts alone
	 * (A 0, B 2, C 1 -> A) */
	engine_put(f, A, 12, mono_ns() - 2 * LB_ENGINE_LOAD_TTL_NS);
	engine_put(f, C, 9, mono_ns() - 2 * LB_ENGINE_LOAD_TTL_NS);
	assert_int_equal(syn4(f, 30010), A);
}

/* deliberate shedding: a new flow whose shortest expected wait is above
 * the VIP's TTFT target is refused (RST), counted by its own reason */
static void test_ttft_target(void **state)
{
	struct fx *f = *state;
	const __u32 ids[] = { A, B }, w[] = { 1, 1 }, a[] = { A };
	const __u64 ms = 1000000;
	struct lb_vip v;

	ring_mod(f, V4, M, a, 1);
	list_set(f, V4, 2, ids, w);
	v = vip_get(f, V4);
	v.policy = LB_POL_EXPECTED_WAIT;
	v.ttft_target_ms = 500;
	vip_put(f, V4, &v);
	/* A waits (8 + 1 - 4) x 100 = 500 ms: at the target, admitted */
	wait_put(f, A, 8, 4, 100 * ms);
	wait_put(f, B, 20, 4, 100 * ms);
	assert_int_equal(syn4(f, 31000), A);
	/* A now (9 + 1 - 4) x 100 = 600 > 500, B 1700: refused */
	assert_int_equal(syn4(f, 31001), R_RST);
	assert_int_equal(VREF(f, V4, ttft_target), 1);
	assert_int_equal(VREF(f, V4, reset_sent), 1);
	assert_int_equal(open_of(f, A), 9);
	assert_int_equal(open_of(f, B), 20);
	/* an established flow is never refused for the target */
	assert_int_equal(ack4(f, 31000), A);
	/* a slot frees: admitted again */
	wait_put(f, A, 7, 4, 100 * ms);
	assert_int_equal(syn4(f, 31002), A);
	/* no target: never refused for waiting */
	v.ttft_target_ms = 0;
	vip_put(f, V4, &v);
	wait_put(f, A, 1000, 4, 100 * ms);
	assert_int_equal(syn4(f, 31003), B);	/* 1.7 s, the shorter */
	/* least-conn ignores the target (no wait to compare with) */
	v.policy = LB_POL_LEAST_CONN;
	v.ttft_target_ms = 1;
	vip_put(f, V4, &v);
	assert_int_equal(syn4(f, 31004), B);
	assert_int_equal(VREF(f, V4, ttft_target), 1);
}

static void test_policy_bounded(void **state)
{
	struct fx *f = *state;
	const __u32 ab[] = { A, B }, ids[] = { A, B }, w[] = { 1, 1 };
	struct lb_vip v;
	__u16 sp[3];

	ring_mod(f, V4, M, ab, 2);
	find_sports(f, 27000, A, sp, 3);
	list_set(f, V4, 2, ids, w);
	v = vip_get(f, V4);
	v.policy = LB_POL_BOUNDED;
	v.bounded_eps = 25;
	vip_put(f, V4, &v);
	/* balanced: the hash's choice */
	load_put(f, A, 10, 0, 0);
	load_put(f, B, 10, 0, 0);
	assert_int_equal(syn4(f, sp[0]), A);
	assert_int_equal(open_of(f, A), 11);
	/* A: 13 * 2 * 100 = 2600 <= 125 * (23 + 1) = 3000: still A */
	load_put(f, A, 13, 0, 0);
	assert_int_equal(syn4(f, sp[1]), A);
	/* A far above its share: elsewhere */
	load_put(f, A, 100, 0, 0);
	load_put(f, B, 10, 0, 0);
	assert_int_equal(syn4(f, sp[2]), B);
	assert_int_equal(open_of(f, B), 11);
	assert_int_equal(open_of(f, A), 100);
}

static void test_policy_p2c(void **state)
{
	struct fx *f = *state;
	const __u32 ab[] = { A, B };
	struct lb_be_load lb;
	__u16 both[8];
	int n = 0;

	ring_mod(f, V4, M, ab, 2);
	vip_policy(f, V4, LB_POL_P2C);
	/* ports whose two candidates are A and B: the score decides */
	for (__u32 p = 28000; p < 28400 && n < 8; p++) {
		__u32 x, y;

		load_put(f, A, 0, 0, 0);
		load_put(f, B, 0, 1000000, 0);
		x = syn4(f, (__u16)p);
		flow_del4(f, (__u16)p); /* else the next SYN is a retransmit */
		load_put(f, A, 0, 1000000, 0);
		load_put(f, B, 0, 0, 0);
		y = syn4(f, (__u16)p);
		flow_del4(f, (__u16)p);
		if (x == A && y == B)
			both[n++] = (__u16)p;
	}
	assert_int_equal(n, 8);
	/* A scores 0, B 5500: A until its sent flows (x 1000) pass B's */
	load_put(f, A, 0, 0, 0);
	load_put(f, B, 0, 5500, 0);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(syn4(f, both[i]), A);
		assert_int_equal(load_get(f, A).sent, (__u64)i + 1);
	}
	/* A 6000 > B 5500 */
	assert_int_equal(syn4(f, both[6]), B);
	assert_int_equal(load_get(f, B).sent, 1);
	/* A 6000 < B 6500 */
	assert_int_equal(syn4(f, both[7]), A);
	assert_int_equal(load_get(f, A).sent, 7);
	assert_int_equal(load_get(f, A).score, 0);
	assert_int_equal(load_get(f, B).score, 5500);
	/* a SYN retransmit stays on its backend whatever the scores say
	 * (another backend's SYN-ACK would break the connection), and is no
	 * new flow: nothing sent */
	lb = load_get(f, B);
	lb.score = 100000;
	assert_int_equal(bpf_map_update_elem(FD(f, lb_be_load), &(__u32){ B }, &lb, 0), 0);
	assert_int_equal(syn4(f, both[7]), A);
	assert_int_equal(load_get(f, A).sent, 7);
	assert_int_equal(load_get(f, B).sent, 1);
	/* B is now by far the worse, yet both[6]'s retransmit stays on B */
	assert_int_equal(syn4(f, both[6]), B);
	assert_int_equal(load_get(f, B).sent, 1);
}

/* ---- 6. open flows ------------------------------------------------------------- */

static void test_open_flows(void **state)
{
	struct fx *f = *state;
	const __u32 ab[] = { A, B };
	struct tl_pkt_spec fin = pkt(4, NULL, 0, TCP_FIN | TCP_ACK);
	struct tl_pkt_spec rst = pkt(4, NULL, 0, TCP_RST);
	__u16 sp[3];
	__u64 a0, b0;

	ring_mod(f, V4, M, ab, 2);
	find_sports(f, 29000, A, sp, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ack4(f, sp[i]), A); /* recorded: open flows */
	load_put(f, A, 0, 0, 0);
	load_put(f, B, 0, 0, 0);

	/* a new flow: +1 once, a SYN retransmit: no change */
	assert_int_equal(syn4(f, 29500), syn4(f, 29500));
	a0 = open_of(f, A);
	b0 = open_of(f, B);
	assert_int_equal(a0 + b0, 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(syn4(f, sp[i]), A);
	/* sp[*] are open flows: a SYN re-choosing their backend (a
	 * retransmit) counts nothing */
	assert_int_equal(open_of(f, A), a0);
	/* FIN: -1 once */
	load_put(f, A, 10, 0, 0);
	fin.sport = sp[0];
	assert_int_equal(send_pkt(f, &fin), A);
	assert_int_equal(open_of(f, A), 9);
	assert_int_equal(send_pkt(f, &fin), A);
	assert_int_equal(open_of(f, A), 9);
	/* RST: -1 once */
	rst.sport = sp[1];
	assert_int_equal(send_pkt(f, &rst), A);
	assert_int_equal(open_of(f, A), 8);
	assert_int_equal(send_pkt(f, &rst), A);
	assert_int_equal(open_of(f, A), 8);
	/* a closed flow that a new SYN reopens counts again */
	assert_int_equal(syn4(f, sp[0]), A);
	assert_int_equal(open_of(f, A), 9);
	/* re-steer off a DOWN backend moves the count */
	be_state(f, A, LB_BE_DOWN);
	assert_int_equal(ack4(f, sp[2]), B);
	assert_int_equal(open_of(f, A), 8);
	assert_int_equal(open_of(f, B), b0 + 1);
	/* a closed flow re-steered: nothing to take off A */
	assert_int_equal(ack4(f, sp[1]), B);
	assert_int_equal(open_of(f, A), 8);
	assert_int_equal(open_of(f, B), b0 + 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_state_new_flows_single),
		T(test_state_fall_through_and_established),
		T(test_state_half_open),
		T(test_be_refused_counts_flows),
		T(test_fail_open),
		T(test_refuse_rst_bytes),
		T(test_refuse_rst_syn_fin),
		T(test_refuse_drop_udp_rst),
		T(test_vip_bucket),
		T(test_backend_bucket),
		T(test_client_bucket),
		T(test_vip_bucket_accuracy),
		T(test_policy_maglev_weights),
		T(test_policy_source),
		T(test_policy_random),
		T(test_policy_wrr),
		T(test_policy_rr),
		T(test_policy_least_conn),
		T(test_policy_expected_wait),
		T(test_ttft_target),
		T(test_policy_bounded),
		T(test_policy_p2c),
		T(test_open_flows),
#undef T
	};

	return cmocka_run_group_tests_name("admission", tests, group_setup,
					   group_teardown);
}
