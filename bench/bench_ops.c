// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bench_ops.c - what `lbctl set-weight` on one backend costs when the
 * balancer holds (nearly) every backend slot: VIP 0 has 8 backends, 511
 * other VIPs 32 each (16,360 of the 16,383 slots). Reports the time and lb_backends entries read
 * per set-weight (through the VIP's chain), beside the same-run cost of
 * one read of all slots (lb_backend_read_all) - what set-weight did twice
 * per call (find, then rebuild) before backends were indexed by VIP.
 *
 * Needs root (a private pin directory /sys/fs/bpf/inferlb-bench-ops-PID,
 * removed on exit); no device is attached, set-weight needs none.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/in.h>
#include <bpf/bpf.h>

#include "inferlb.h"
#include "lb_dp.h"
#include "lb_ops.h"

#define RING 1009
#define VIPS LB_MAX_VIPS
#define SMALL 8		/* backends of VIP 0 */
#define ROUNDS 200

static struct lb_dp dp;
static bool loaded;

static void unload(void)
{
	char m[256];

	if (!loaded)
		return;
	if (lb_dp_unload(&dp, m, sizeof(m)))
		fprintf(stderr, "unload: %s\n", m);
	lb_dp_close(&dp);
	loaded = false;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void vip_key(struct lb_vip_key *k, __u32 i)
{
	memset(k, 0, sizeof(*k));
	k->addr[0] = 198;
	k->addr[1] = 19;
	k->addr[2] = i >> 8;
	k->addr[3] = i & 0xff;
	k->port = htons(80);
	k->proto = IPPROTO_TCP;
	k->family = LB_AF_INET;
}

/* Backend id of VIP vip, chained as lb_backend_add chains them (each new
 * one at the head). Written directly: 16k next-hop resolutions would only
 * measure the kernel's neighbour table. */
static int backend_put(__u32 id, __u32 vip, struct lb_vip *info)
{
	struct lb_backend b = {
		.addr = { 198, 18, id >> 8, id & 0xff }, .epoch = 1, .vip_id = vip,
		.family = LB_AF_INET, .flags = LB_BACKEND_F_ACTIVE,
		.mode = LB_FWD_L2DSR, .weight = 10, .next_id = info->first_backend,
	};
	struct lb_nexthop nh = { .mac = { 2, 0, 0, 0, id >> 8, id & 0xff },
				 .flags = LB_NEXTHOP_F_VALID };

	info->first_backend = id;
	if (bpf_map_update_elem(dp.fd[LB_M_NEXTHOPS], &id, &nh, 0) ||
	    bpf_map_update_elem(dp.fd[LB_M_BACKENDS], &id, &b, 0))
		return -errno;
	return 0;
}

int main(void)
{
	struct lb_vip_opts o = { .mode = LB_FWD_L2DSR, .ring_size = RING };
	struct lb_backend *all = malloc(sizeof(*all) * LB_MAX_BACKENDS);
	struct lb_vip_key k;
	char dir[128], msg[512];
	__u32 id = 1;
	double t0, t_set, t_all;
	unsigned long reads;
	__u8 addr[16] = { 0 };

	if (geteuid()) {
		fprintf(stderr, "bench_ops needs root (BPF)\n");
		return 1;
	}
	snprintf(dir, sizeof(dir), "/sys/fs/bpf/inferlb-bench-ops-%d", getpid());
	atexit(unload);
	if (lb_dp_lock(&dp, dir, true, msg, sizeof(msg)))
		goto fail;
	loaded = true;
	if (lb_dp_load(&dp, msg, sizeof(msg)))
		goto fail;
	for (__u32 v = 0; v < VIPS; v++) {
		struct lb_vip info;
		__u32 n = v ? 32 : SMALL;	/* 8 + 511 x 32 = 16,360 */

		vip_key(&k, v);
		if (lb_vip_add(&dp, &k, &o, msg, sizeof(msg)))
			goto fail;
		if (bpf_map_lookup_elem(dp.fd[LB_M_VIP_INFO], &v, &info))
			goto fail_errno;
		for (__u32 i = 0; i < n && id < LB_MAX_BACKENDS; i++)
			if (backend_put(id++, v, &info))
				goto fail_errno;
		if (bpf_map_update_elem(dp.fd[LB_M_VIP_INFO], &v, &info, 0))
			goto fail_errno;
	}
	printf("%u VIPs, %u backends (VIP 0: %d), table size %d\n", VIPS, id - 1,
	       SMALL, RING);

	vip_key(&k, 0);
	memcpy(addr, (__u8[]){ 198, 18, 0, 3 }, 4);
	dp.backend_reads = 0;
	t0 = now_s();
	for (int r = 0; r < ROUNDS; r++)
		if (lb_backend_set_weight(&dp, &k, addr, LB_AF_INET, 10 + r % 2, 0,
					  msg, sizeof(msg)))
			goto fail;
	t_set = (now_s() - t0) / ROUNDS;
	reads = dp.backend_reads / ROUNDS;

	t0 = now_s();
	for (int r = 0; r < ROUNDS; r++)
		if (lb_backend_read_all(&dp, all))
			goto fail_errno;
	t_all = (now_s() - t0) / ROUNDS;

	printf("set-weight, one backend of VIP 0: %8.1f us, %lu entries read (with the table rebuild)\n",
	       t_set * 1e6, reads);
	printf("one read of all %u slots:          %8.1f us, %u entries read "
	       "(set-weight did 2 of these before the index)\n",
	       LB_MAX_BACKENDS, t_all * 1e6, LB_MAX_BACKENDS);
	free(all);
	return 0;
fail_errno:
	snprintf(msg, sizeof(msg), "%s", strerror(errno));
fail:
	fprintf(stderr, "bench_ops: %s\n", msg);
	free(all);
	return 1;
}
