// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * dp_demo.c - the datapath on its own, end to end through the kernel's
 * BPF_PROG_TEST_RUN (no network needed): a VIP with three weighted
 * backends, 30,000 client connections, then a weight change and a drain,
 * showing that new connections follow the weights while established ones
 * never move. Every figure printed is counted from the frames the XDP
 * program returned and from its own stats maps.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "inferlb.h"
#include "lb.skel.h"
#include "lb_maglev.h"
#include "lb_ring.h"
#include "testlib.h"

#define FLOWS 30000
#define NB 3

static const char *be_addr[NB] = { "198.18.2.1", "198.18.2.2", "198.18.2.3" };
static __u8 assigned[FLOWS];

static int publish(struct lb_bpf *lb, const struct lb_ring_btf *rb,
		   const __u32 *weights)
{
	struct lb_maglev_backend be[NB];
	static __u32 table[LB_RING_SIZE_DEFAULT];
	int err;

	for (int i = 0; i < NB; i++) {
		memset(&be[i], 0, sizeof(be[i]));
		tl_addr(4, be_addr[i], be[i].addr);
		be[i].weight = weights[i];
		be[i].id = i + 1;
	}
	err = lb_maglev_build(be, NB, LB_RING_SIZE_DEFAULT, 1, table);
	if (!err)
		err = lb_ring_install(bpf_map__fd(lb->maps.lb_rings), 0,
				      LB_RING_SIZE_DEFAULT, table, rb);
	return err;
}

/* Client i's frame: 198.18.64.0/18 sources, varied ports. */
static size_t frame(int i, __u8 flags, __u8 *buf)
{
	char src[32];

	snprintf(src, sizeof(src), "198.18.%d.%d", 64 + (i >> 8) % 64, i & 0xff);
	return tl_build(&(struct tl_pkt_spec){ .family = 4, .src = src,
			.sport = 1024 + (i * 7919) % 60000, .tcp_flags = flags,
			.payload = 64 }, buf, 2048);
}

/* Sends one packet of every flow; returns per-backend counts. With
 * record, remembers where each flow went; otherwise counts flows that
 * went somewhere else than before in *moved. */
static int round_trip(struct lb_bpf *lb, __u8 flags, int record,
		      long counts[NB + 1], long *moved)
{
	int prog = bpf_program__fd(lb->progs.xdp_lb);
	__u8 buf[2048];
	struct tl_run r;

	memset(counts, 0, sizeof(long) * (NB + 1));
	*moved = 0;
	for (int i = 0; i < FLOWS; i++) {
		size_t len = frame(i, flags, buf);
		__u8 to;

		if (tl_run(prog, buf, len, &r) || r.ret != XDP_TX) {
			fprintf(stderr, "flow %d: not forwarded (verdict %d)\n", i, r.ret);
			return -1;
		}
		to = r.out[14 + 19]; /* last octet of the outer destination */
		if (to < 1 || to > NB)
			return -1;
		counts[to]++;
		if (record)
			assigned[i] = to;
		else if (assigned[i] != to)
			(*moved)++;
	}
	return 0;
}

static void show(const char *what, const __u32 *w, const long *c, long moved,
		 int established)
{
	__u32 wsum = w[0] + w[1] + w[2];

	printf("\n%s\n  %-12s %9s %10s %10s\n", what, "backend",
	       established ? "placed at" : "weight",
	       established ? "flows" : "new flows", wsum ? "expected" : "");
	for (int i = 0; i < NB; i++)
		printf("  %-12s %9u %9.1f%% %9.1f%%\n", be_addr[i], w[i],
		       100.0 * c[i + 1] / FLOWS,
		       wsum ? 100.0 * w[i] / wsum : 0.0);
	if (established)
		printf("  established flows that changed backend: %ld of %d\n",
		       moved, FLOWS);
}

int main(void)
{
	struct lb_ring_btf rb = { .fd = -1 };
	__u32 w1[NB] = { 1, 2, 3 }, w2[NB] = { 3, 2, 1 }, w3[NB] = { 3, 2, 0 };
	long c[NB + 1], moved;
	struct lb_bpf *lb;
	int err = 1;

	printf("inferlb datapath demo: VIP 198.18.0.10:80/tcp (ipip), %d client "
	       "connections through the XDP program (BPF_PROG_TEST_RUN)\n", FLOWS);
	lb = tl_lb_load();
	if (!lb)
		return 1;
	if (lb_ring_btf_load(&rb) ||
	    tl_vip_add(lb, 4, "198.18.0.10", 80, IPPROTO_TCP, LB_FWD_IPIP, 0,
		       LB_RING_SIZE_DEFAULT))
		goto out;
	for (int i = 0; i < NB; i++)
		if (tl_backend_add(lb, i + 1, 0, 4, be_addr[i]))
			goto out;

	if (publish(lb, &rb, w1) || round_trip(lb, 0x02, 1, c, &moved))
		goto out;
	show("1. new connections (SYN) with weights 1:2:3", w1, c, 0, 0);

	if (publish(lb, &rb, w2) || round_trip(lb, 0x10, 0, c, &moved))
		goto out;
	show("2. weights changed to 3:2:1; the same connections send data", w1, c,
	     moved, 1);
	if (round_trip(lb, 0x02, 0, c, &moved))
		goto out;
	show("   ...while new connections follow the new weights", w2, c, 0, 0);

	if (round_trip(lb, 0x02, 1, c, &moved) || publish(lb, &rb, w3) ||
	    round_trip(lb, 0x10, 0, c, &moved))
		goto out;
	show("3. backend 198.18.2.3 drained (weight 0); established connections",
	     w2, c, moved, 1);
	if (round_trip(lb, 0x02, 0, c, &moved))
		goto out;
	show("   ...and new connections", w3, c, 0, 0);

	printf("\nstats from the datapath's own maps (lb_vip_stats, lb_global_stats):\n");
	printf("  VIP packets %llu, new flows %llu; global drops: no_backend %llu\n",
	       (unsigned long long)tl_percpu_sum(bpf_map__fd(lb->maps.lb_vip_stats), 0,
			sizeof(struct lb_counters), offsetof(struct lb_counters, packets)),
	       (unsigned long long)tl_percpu_sum(bpf_map__fd(lb->maps.lb_vip_stats), 0,
			sizeof(struct lb_counters), offsetof(struct lb_counters, new_flows)),
	       (unsigned long long)TL_GLOBAL(lb, drop_no_backend));
	err = 0;
out:
	if (err)
		fprintf(stderr, "demo failed\n");
	lb_ring_btf_close(&rb);
	lb_bpf__destroy(lb);
	return err;
}
