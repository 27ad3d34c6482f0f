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
 * Method A of the team's notes: every call is one BPF_PROG_TEST_RUN with
 * repeat=1 on a fresh copy of its frame (the kernel's duration of that one
 * run), the trivial "return XDP_TX" program measured the same way is the
 * floor, figures are net of it. Programs take turns in blocks of BLOCK
 * calls, shuffled per round, pinned to one CPU; medians over rounds of the
 * per-round means and ratios. Every call's verdict is checked, and the
 * output of the first call of every case byte for byte against its shape.
 * Usage: bench_chain [--rounds N] [--calls N] [--cpu N]. Needs root; moves
 * itself into a network namespace of its own (loopback sockets).
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
#include "testlib.h"

#define RING 65537
#define BLOCK 50

enum { K_TRIV, K_EST, K_MISS, K_CHAIN, K_CHAINEST, K_DECAP, K_CHAINLOC, K_N };
static const char *const names[K_N] = { "trivial", "est", "miss", "chained",
					"chainest", "decap", "chainloc" };

struct kase {
	int prog;
	__u8 frame[256];
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
	__u8 copy[256];
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

	return tl_build(&s, buf, 256);
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

int main(int argc, char **argv)
{
	int rounds = 21, calls = 2000, cpu = 0, opt;
	static struct kase ks[K_N];
	double per[K_N][64], ratio[K_N][64];
	struct bpf_object *triv;
	struct lb_bpf *lb;
	struct decap_bpf *d;
	__u8 out[512];
	__u32 olen;

	while ((opt = getopt(argc, argv, "r:c:p:")) != -1) {
		if (opt == 'r')
			rounds = atoi(optarg);
		else if (opt == 'c')
			calls = atoi(optarg);
		else if (opt == 'p')
			cpu = atoi(optarg);
		else {
			fprintf(stderr, "usage: bench_chain [-r ROUNDS<=64] [-c CALLS] [-p CPU]\n");
			return 2;
		}
	}
	if (rounds < 1 || rounds > 64 || calls < BLOCK)
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
	{
		char path[4096];
		ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 32);
		char *slash;

		if (n <= 0)
			die("own path");
		path[n] = 0;
		slash = strrchr(path, '/');
		strcpy(slash ? slash + 1 : path, "trivial.bpf.o");
		triv = bpf_object__open_file(path, NULL);
		if (!triv || bpf_object__load(triv))
			die("trivial object beside the binary");
	}
	d = decap_bpf__open_and_load();
	if (!d)
		die("load xdp_decap");
	{
		struct lb_addr_key k = { .family = LB_AF_INET };
		struct lb_decap_addr v = { 0 };

		tl_addr(4, "198.18.2.5", k.addr);
		if (bpf_map_update_elem(bpf_map__fd(d->maps.lb_decap_addrs), &k, &v, 0))
			die("decap addr");
	}

	for (int i = 0; i < K_N; i++)
		ks[i].verdict = XDP_TX;
	ks[K_TRIV].prog = bpf_program__fd(bpf_object__find_program_by_name(triv, "xdp_trivial"));
	ks[K_TRIV].len = frame("198.18.0.10", NULL, 1000, 80, ks[K_TRIV].frame);
	for (int i = K_EST; i <= K_CHAINEST; i++)
		ks[i].prog = bpf_program__fd(lb->progs.xdp_lb);
	/* est: the flow placed once (a miss on VIP 1: chained, so use a
	 * port whose entry we then rewrite as plain) */
	ks[K_EST].len = frame("198.18.0.11", NULL, 1000, 80, ks[K_EST].frame);
	ks[K_MISS].len = frame("198.18.0.10", NULL, 1, 80, ks[K_MISS].frame);
	ks[K_MISS].vary = 1;
	ks[K_CHAIN].len = frame("198.18.0.11", NULL, 1, 80, ks[K_CHAIN].frame);
	ks[K_CHAIN].vary = 1;
	ks[K_CHAIN].frame[14 + 12] = 198;	/* another client: no overlap */
	ks[K_CHAIN].frame[14 + 15] = 2;
	ks[K_CHAINEST].len = frame("198.18.0.11", NULL, 2000, 80, ks[K_CHAINEST].frame);
	{
		struct lb_flow_key4 fk = { .sport = htons(1000), .dport = htons(80),
					   .proto = IPPROTO_TCP };
		struct lb_flow fl = { .backend_id = 12, .backend_epoch = 12 * 7 + 1 };
		__u8 a[16];

		tl_addr(4, "198.18.1.1", a);
		memcpy(&fk.saddr, a, 4);
		tl_addr(4, "198.18.0.11", a);
		memcpy(&fk.daddr, a, 4);
		if (bpf_map_update_elem(bpf_map__fd(lb->maps.lb_flows4), &fk, &fl, 0))
			die("flow");
	}
	/* the chained flow: its first packet records it */
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
		__u8 in[256];
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

	for (int i = 0; i < K_N; i++) {
		call(&ks[i], out, &olen);
		ks[i].out_len = olen;	/* checked above; every call from now */
	}
	for (int r = 0; r < rounds; r++) {
		int order[K_N];

		for (int i = 0; i < K_N; i++) {
			order[i] = i;
			ks[i].sum = 0;
			ks[i].n = 0;
		}
		for (int done = 0; done < calls; done += BLOCK) {
			for (int i = K_N - 1; i > 0; i--) {
				int j = rand() % (i + 1), t = order[i];

				order[i] = order[j];
				order[j] = t;
			}
			for (int i = 0; i < K_N; i++) {
				struct kase *k = &ks[order[i]];

				for (int c = 0; c < BLOCK; c++) {
					k->sum += call(k, out, NULL);
					k->n++;
				}
			}
		}
		for (int i = 0; i < K_N; i++)
			per[i][r] = ks[i].sum / ks[i].n - ks[K_TRIV].sum / ks[K_TRIV].n;
		for (int i = 0; i < K_N; i++)
			ratio[i][r] = per[i][r] / (i >= K_DECAP ? per[K_DECAP][r] :
							       per[K_EST][r]);
	}
	{
		double fl[64];

		for (int r = 0; r < rounds; r++)
			fl[r] = ks[K_TRIV].sum / ks[K_TRIV].n;
		printf("second chance, per call (BPF_PROG_TEST_RUN repeat=1, %d rounds x %d calls, CPU %d);\n"
		       "ns net of the trivial program (floor ~%.0f ns, last round), medians of rounds\n",
		       rounds, calls, cpu, fl[rounds - 1]);
	}
	for (int i = K_EST; i < K_N; i++) {
		double p = median(per[i], rounds), q = median(ratio[i], rounds);

		printf("  %-9s %7.1f ns  %5.2fx %s\n", names[i], p, q,
		       i >= K_DECAP ? "decap" : "est");
	}
	decap_bpf__destroy(d);
	lb_bpf__destroy(lb);
	bpf_object__close(triv);
	return 0;
}
