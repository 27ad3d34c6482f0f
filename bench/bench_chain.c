// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bench_chain.c - what second chance costs, per packet, in the same run:
 *   balancer (xdp_lb)
 *     est      an established TCP/IPv4 packet (flow-table hit), VIP with
 *              second chance on: the path every packet of a flow takes;
 *     miss     an ACK/IPv4 of an unknown flow (new 5-tuple every call):
 *              miss, SYN-slot read, VIP, hash, ring, LRU insert; VIP with
 *              second chance off;
 *     chained  the same on a VIP with second chance on whose slots all
 *              changed owner: the rare path, two headers and a chained
 *              entry;
 *     chainest a packet of a chained flow (hit, two headers);
 *   backend (xdp_decap)
 *     decap    a plain IPIP packet unwrapped;
 *     chainloc a chained packet whose flow a local (established) socket
 *              holds: socket lookup, both headers removed.
 * Method B of the team's notes (bench/harness.bpf.c, as bench_xdp uses
 * it): one BPF_PROG_TEST_RUN per round with a large repeat; every
 * iteration the harness restores the case's frame (and for the misses
 * writes a new source port and address, so every iteration is a new flow)
 * and tail-calls the program; cases take turns in blocks of BLOCK
 * iterations within the run. The trivial "return XDP_TX" program is the
 * floor; figures are net of it, medians of per-round figures and ratios.
 * The flow table is filled by warm-up rounds first (an LRU that evicts,
 * as in production). Checked: every case's output frame on its own
 * (exact bytes of the client's packet, header count), every iteration's
 * layout (the harness), and that flow_chained and chain_local moved by
 * exactly the iterations of the chained cases.
 * Usage: bench_chain [-r ROUNDS] [-p CPU]. Needs root; moves itself into
 * a network namespace of its own (loopback sockets).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "inferlb.h"
#include "lb.skel.h"
#include "decap.skel.h"
#include "harness.skel.h"
#include "trivial.skel.h"
#include "testlib.h"

#define RING 65537
#define BLOCK 500
#define CYCLES 4
#define WARMUP 10

enum { K_TRIV, K_EST, K_MISS, K_CHAIN, K_CHAINEST, K_DECAP, K_CHAINLOC, K_N };
static const char *const names[K_N] = { "trivial", "est", "miss", "chained",
					"chainest", "decap", "chainloc" };

struct kase {
	int prog;
	__u8 frame[2048];
	size_t len;
	int verdict;
	int vary;	/* a new source port every call */
	__u32 out_len;	/* every call's output length (0: before the first) */
	__u16 port;
	double sum;
	long n;
};

static void die(const char *msg)
{
	fprintf(stderr, "bench_chain: %s (%s)\n", msg, strerror(errno));
	exit(1);
}

static void check(int ok, const char *msg)
{
	if (!ok) {
		fprintf(stderr, "bench_chain: check failed: %s\n", msg);
		exit(1);
	}
}

/* One call: returns the kernel's duration in ns. */
static __u32 call(struct kase *k, __u8 *out, __u32 *out_len)
{
	__u8 copy[2048];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = copy, .data_size_in = k->len,
		    .data_out = out, .data_size_out = 512, .repeat = 1);

	memcpy(copy, k->frame, k->len);
	if (k->vary) {	/* the TCP source port behind a 20-byte IPv4 header */
		k->port++;
		if (!k->port)
			k->port = 1;
		*(__be16 *)(copy + 14 + 20) = htons(k->port);
	}
	if (bpf_prog_test_run_opts(k->prog, &o))
		die("test run");
	if ((int)o.retval != k->verdict) {
		fprintf(stderr, "bench_chain: verdict %u, want %d\n", o.retval,
			k->verdict);
		exit(1);
	}
	if (k->out_len && o.data_size_out != k->out_len) {
		fprintf(stderr, "bench_chain: output %u bytes, want %u\n",
			o.data_size_out, k->out_len);
		exit(1);
	}
	if (out_len)
		*out_len = o.data_size_out;
	return o.duration;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void set_flag(struct lb_bpf *lb, __u32 vip, __u8 flag)
{
	struct lb_vip v;
	int fd = bpf_map__fd(lb->maps.lb_vip_info);

	if (bpf_map_lookup_elem(fd, &vip, &v))
		die("vip lookup");
	v.flags |= flag;
	if (bpf_map_update_elem(fd, &vip, &v, 0))
		die("vip update");
}

/* A frame client -> VIP (addr) from sport, ACK with 100 bytes. */
static size_t frame(const char *dst, const char *src, __u16 sport, __u16 dport,
		    __u8 *buf)
{
	struct tl_pkt_spec s = { .family = 4, .dst = dst, .src = src,
				 .sport = sport, .dport = dport,
				 .tcp_flags = 0x10, .payload = 100 };

	return tl_build(&s, buf, 2048);
}

/* Wraps the client frame in (n) IPv4 IPIP headers to dsts[0], dsts[1]. */
static size_t wrap(const __u8 *in, size_t len, const char *const *dsts, int n,
		   __u8 *out)
{
	memcpy(out, in, 14);
	for (int k = 0; k < n; k++) {
		struct iphdr *h = (void *)(out + 14 + 20 * k);
		__u8 a[16];

		memset(h, 0, sizeof(*h));
		h->version = 4;
		h->ihl = 5;
		h->tot_len = htons(len - 14 + 20 * (n - k));
		h->frag_off = htons(0x4000);
		h->ttl = 64;
		h->protocol = IPPROTO_IPIP;
		tl_addr(4, "198.18.3.1", a);
		memcpy(&h->saddr, a, 4);
		tl_addr(4, dsts[k], a);
		memcpy(&h->daddr, a, 4);
		h->check = tl_csum(h, 20, 0);
	}
	memcpy(out + 14 + 20 * n, in + 14, len - 14);
	return len + 20 * n;
}

/* The entries of the two established cases (client 198.18.1.1 to VIP 1):
 * port 1000 plain on backend 12, port 2000 chained 12 -> 11, as a first
 * miss of each records them. */
static void est_entries(struct lb_bpf *lb)
{
	struct lb_flow_key4 fk = { .dport = htons(80), .proto = IPPROTO_TCP };
	struct lb_flow fl = { .backend_id = 12, .backend_epoch = 12 * 7 + 1 };
	int fd = bpf_map__fd(lb->maps.lb_flows4);
	__u8 a[16];

	tl_addr(4, "198.18.1.1", a);
	memcpy(&fk.saddr, a, 4);
	tl_addr(4, "198.18.0.11", a);
	memcpy(&fk.daddr, a, 4);
	fk.sport = htons(1000);
	if (bpf_map_update_elem(fd, &fk, &fl, 0))
		die("flow");
	fk.sport = htons(2000);
	fl.flags = LB_FLOW_F_CHAINED;
	fl.chain_id = 11;
	fl.chain_epoch = 11 * 7 + 1;
	if (bpf_map_update_elem(fd, &fk, &fl, 0))
		die("flow");
}

/* Sets case k into harness slot k. */
static void slot_set(struct harness_bpf *h, int progs_fd, int k,
		     const struct kase *c, int head, int dlen)
{
	typeof(h->bss->harness.s[0]) *sl = &h->bss->harness.s[k];
	__u32 key = k;

	if (bpf_map_update_elem(progs_fd, &key, &c->prog, 0))
		die("bench_progs");
	check(c->len <= sizeof(sl->bytes), "frame fits the harness");
	memset(sl, 0, sizeof(*sl));
	sl->len = c->len;
	memcpy(sl->bytes, c->frame, c->len);
	sl->expect_head = head;
	sl->expect_len = c->len + dlen;
	if (c->vary) {	/* TCP source port, and source address bytes 2-3 */
		sl->vary_off = 14 + 20;
		sl->vary_off2 = 14 + 12 + 2;
		sl->vary_step = 1;
	}
}

/* One test run of every slot: per-slot ns per iteration, net of nothing. */
static void run_round(struct harness_bpf *h, int hfd, double *ns, __u64 *iters)
{
	__u8 out[512];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = h->bss->harness.s[0].bytes,
		    .data_size_in = h->bss->harness.s[0].len, .data_out = out,
		    .data_size_out = sizeof(out), .repeat = K_N * BLOCK * CYCLES);
	__u8 first[2048];

	/* the first iteration runs on data_in: slot 0's frame */
	memcpy(first, h->bss->harness.s[0].bytes, h->bss->harness.s[0].len);
	o.data_in = first;
	h->bss->harness.nslots = K_N;
	h->bss->harness.block = BLOCK;
	h->bss->harness.slot = h->bss->harness.left = 0;
	h->bss->harness.iters = h->bss->harness.t_block = 0;
	h->bss->harness.orig = h->bss->harness.cur = 0;
	for (int k = 0; k < K_N; k++) {
		typeof(h->bss->harness.s[0]) *sl = &h->bss->harness.s[k];

		sl->iters = sl->timed = sl->ns = sl->bad = 0;
	}
	if (bpf_prog_test_run_opts(hfd, &o))
		die("harness test run");
	check(o.retval < 0xbe00, "the harness ran every slot");
	for (int k = 0; k < K_N; k++) {
		typeof(h->bss->harness.s[0]) *sl = &h->bss->harness.s[k];

		if (sl->bad) {
			fprintf(stderr, "bench_chain: %s: %llu iterations left head %lld len %u\n",
				names[k], (unsigned long long)sl->bad,
				(long long)sl->bad_head, sl->bad_len);
			exit(1);
		}
		check(sl->timed > 0, "every slot timed");
		ns[k] = (double)sl->ns / sl->timed;
		iters[k] = sl->iters;
	}
}

int main(int argc, char **argv)
{
	int rounds = 21, cpu = 0, opt;
	static struct kase ks[K_N];
	static double per[K_N][64], ratio[K_N][64];
	struct trivial_bpf *triv;
	struct harness_bpf *h;
	struct lb_bpf *lb;
	struct decap_bpf *d;
	__u8 out[512];
	__u32 olen;
	int pfd, hfd;

	while ((opt = getopt(argc, argv, "r:p:")) != -1) {
		if (opt == 'r')
			rounds = atoi(optarg);
		else if (opt == 'p')
			cpu = atoi(optarg);
		else {
			fprintf(stderr, "usage: bench_chain [-r ROUNDS<=64] [-p CPU]\n");
			return 2;
		}
	}
	if (rounds < 1 || rounds > 64)
		return 2;
	{
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	if (unshare(CLONE_NEWNET) || system("ip link set lo up"))
		die("network namespace (root?)");

	/* the balancer: VIP 0 (198.18.0.10) second chance off, VIP 1
	 * (198.18.0.11) on; every slot moved from backend x1 to x2 */
	lb = tl_lb_load();
	if (!lb)
		die("load xdp_lb");
	for (__u32 v = 0; v < 2; v++) {
		char a[32], be[32];

		snprintf(a, sizeof(a), "198.18.0.1%u", v);
		if (tl_vip_add(lb, 4, a, 80, IPPROTO_TCP, LB_FWD_IPIP, v, RING))
			die("vip add");
		for (__u32 i = 1; i <= 2; i++) {
			snprintf(be, sizeof(be), "198.18.2.%u", v * 10 + i);
			if (tl_backend_add(lb, v * 10 + i, v, 4, be))
				die("backend add");
		}
		if (tl_ring_fill(lb, v, RING, v * 10 + 1) ||
		    tl_ring_fill(lb, v, RING, v * 10 + 2))
			die("ring");
	}
	set_flag(lb, 1, LB_VIP_F_SECOND_CHANCE);
	triv = trivial_bpf__open_and_load();
	d = decap_bpf__open_and_load();
	h = harness_bpf__open_and_load();
	if (!triv || !d || !h)
		die("load trivial, decap, harness");
	{
		struct lb_addr_key k = { .family = LB_AF_INET };
		struct lb_decap_addr v = { 0 };

		tl_addr(4, "198.18.2.5", k.addr);
		if (bpf_map_update_elem(bpf_map__fd(d->maps.lb_decap_addrs), &k, &v, 0))
			die("decap addr");
	}

	for (int i = 0; i < K_N; i++)
		ks[i].verdict = XDP_TX;
	ks[K_TRIV].prog = bpf_program__fd(triv->progs.xdp_trivial);
	ks[K_TRIV].len = frame("198.18.0.10", NULL, 1000, 80, ks[K_TRIV].frame);
	for (int i = K_EST; i <= K_CHAINEST; i++)
		ks[i].prog = bpf_program__fd(lb->progs.xdp_lb);
	/* est: VIP 1 (second chance on), its entry written as a plain flow */
	ks[K_EST].len = frame("198.18.0.11", NULL, 1000, 80, ks[K_EST].frame);
	ks[K_MISS].len = frame("198.18.0.10", "198.18.4.1", 1, 80, ks[K_MISS].frame);
	ks[K_MISS].vary = 1;
	ks[K_CHAIN].len = frame("198.18.0.11", "198.18.4.1", 1, 80, ks[K_CHAIN].frame);
	ks[K_CHAIN].vary = 1;
	ks[K_CHAINEST].len = frame("198.18.0.11", NULL, 2000, 80, ks[K_CHAINEST].frame);
	/* the chained flow: recorded by its first packet, a miss */
	call(&ks[K_CHAINEST], out, &olen);
	check(olen == ks[K_CHAINEST].len + 40, "chained flow: two headers");
	est_entries(lb);	/* the same entry, and the plain one */
	call(&ks[K_CHAINEST], out, &olen);
	check(olen == ks[K_CHAINEST].len + 40, "chained flow: two headers");
	call(&ks[K_EST], out, &olen);
	check(olen == ks[K_EST].len + 20, "established: one header");

	/* decap: a plain packet, and a chained one a local socket holds */
	{
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(8080),
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t sl = sizeof(sa);
		int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
		const char *const hops[2] = { "198.18.2.5", "198.18.2.99" };
		__u8 in[2048];
		size_t len;

		if (l < 0 || c < 0 || bind(l, (void *)&sa, sl) || listen(l, 4) ||
		    connect(c, (void *)&sa, sl) || getsockname(c, (void *)&sa, &sl))
			die("loopback sockets");
		len = frame("127.0.0.1", "127.0.0.1", ntohs(sa.sin_port), 8080, in);
		ks[K_DECAP].len = wrap(in, len, hops, 1, ks[K_DECAP].frame);
		ks[K_CHAINLOC].len = wrap(in, len, hops, 2, ks[K_CHAINLOC].frame);
		ks[K_DECAP].verdict = ks[K_CHAINLOC].verdict = XDP_PASS;
		ks[K_DECAP].prog = ks[K_CHAINLOC].prog =
			bpf_program__fd(d->progs.xdp_decap);
		call(&ks[K_CHAINLOC], out, &olen);
		check(olen == len && !memcmp(out + 14, in + 14, len - 14),
		      "chained, local: the client's packet");
		call(&ks[K_DECAP], out, &olen);
		check(olen == len && !memcmp(out + 14, in + 14, len - 14),
		      "decap: the client's packet");
	}
	call(&ks[K_MISS], out, &olen);
	check(olen == ks[K_MISS].len + 20, "miss, switch off: one header");
	call(&ks[K_CHAIN], out, &olen);
	check(olen == ks[K_CHAIN].len + 40, "miss, switch on: two headers");

	hfd = bpf_program__fd(h->progs.xdp_harness);
	pfd = bpf_map__fd(h->maps.bench_progs);
	slot_set(h, pfd, K_TRIV, &ks[K_TRIV], 0, 0);
	slot_set(h, pfd, K_EST, &ks[K_EST], -20, 20);
	slot_set(h, pfd, K_MISS, &ks[K_MISS], -20, 20);
	slot_set(h, pfd, K_CHAIN, &ks[K_CHAIN], -40, 40);
	slot_set(h, pfd, K_CHAINEST, &ks[K_CHAINEST], -40, 40);
	slot_set(h, pfd, K_DECAP, &ks[K_DECAP], 20, -20);
	slot_set(h, pfd, K_CHAINLOC, &ks[K_CHAINLOC], 40, -40);

	for (int r = -WARMUP; r < rounds; r++) {
		double ns[K_N];
		__u64 it[K_N];
		__u64 ch0 = TL_GLOBAL(lb, flow_chained);
		__u64 lo0 = tl_percpu_sum(bpf_map__fd(d->maps.lb_decap_stats), 0,
					  sizeof(struct lb_decap_stats),
					  offsetof(struct lb_decap_stats, chain_local));

		/* the misses' inserts evict (a full LRU): the two established
		 * cases' entries are written again before every round */
		est_entries(lb);
		/* new flows every round: a source address of its own */
		for (int k = K_MISS; k <= K_CHAIN; k++) {
			__u8 *b = h->bss->harness.s[k].bytes + 14 + 12 + 2;
			__u16 hi = 0x0500 + (r + WARMUP); /* not the 4.1 of the checks above */

			b[0] = hi >> 8;
			b[1] = hi & 0xff;
		}
		run_round(h, hfd, ns, it);
		check(TL_GLOBAL(lb, flow_chained) - ch0 == it[K_CHAIN],
		      "flow_chained moved by the chained misses, exactly");
		check(tl_percpu_sum(bpf_map__fd(d->maps.lb_decap_stats), 0,
				    sizeof(struct lb_decap_stats),
				    offsetof(struct lb_decap_stats, chain_local)) - lo0 ==
			      it[K_CHAINLOC],
		      "chain_local moved by the chained-local packets, exactly");
		if (r < 0)
			continue;	/* warm-up: fills the flow table */
		for (int i = 0; i < K_N; i++)
			per[i][r] = ns[i] - ns[K_TRIV];
		for (int i = 0; i < K_N; i++)
			ratio[i][r] = per[i][r] / (i >= K_DECAP ? per[K_DECAP][r] :
							       per[K_EST][r]);
		per[K_TRIV][r] = ns[K_TRIV];
	}
	printf("second chance (harness, %d rounds x %d iterations per case, CPU %d);\n"
	       "ns per packet net of the trivial program (floor %.1f ns), medians of rounds\n",
	       rounds, BLOCK * CYCLES, cpu, median(per[K_TRIV], rounds));
	for (int i = K_EST; i < K_N; i++) {
		double p = median(per[i], rounds), q = median(ratio[i], rounds);

		printf("  %-9s %7.1f ns  %5.2fx %s\n", names[i], p, q,
		       i >= K_DECAP ? "decap" : "est");
	}
	harness_bpf__destroy(h);
	decap_bpf__destroy(d);
	trivial_bpf__destroy(triv);
	lb_bpf__destroy(lb);
	return 0;
}
