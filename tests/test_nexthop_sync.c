// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_nexthop_sync.c - lib/lb_nexthop_sync.c on a real, pinned datapath.
 * Needs root: the program moves itself into a network namespace of its own
 * (veth nhs0 with 198.18.62.1/24, where the datapath is attached, and nhs2
 * with 198.18.63.1/24, where it is not; backends as permanent neighbours),
 * loads a datapath under /sys/fs/bpf/inferlb-test-nhsync-PID and unloads
 * it on exit, also when a test fails.
 *
 * What it proves:
 *   - a sync writes exactly the next hops whose neighbour changed, and
 *     nothing when none did;
 *   - the epoch rules: a backend deleted and re-added, or a next hop
 *     written by another writer, between read and commit is left alone
 *     (counted as raced), never overwritten with what was resolved for
 *     the slot's previous owner;
 *   - a next hop that cannot be used (no ARP answer within the timeout,
 *     routed out of a device the balancer is not attached to, behind a
 *     router for l2dsr) keeps its MAC and is reported with a reason.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/in.h>
#include <cmocka.h>
#include <bpf/bpf.h>

#include "inferlb.h"
#include "lb_dp.h"
#include "lb_nexthop_sync.h"
#include "lb_ops.h"
#include "testlib.h"

#define RING 1009
#define NBE 4	/* backends 198.18.62.10 .. 13 */

static char dir[128];
static struct lb_dp dp;
static bool loaded;
static char msg[512];
static struct lb_vip_key vip;

static void unload(void)
{
	char m[256];

	if (loaded && lb_dp_unload(&dp, m, sizeof(m)))
		fprintf(stderr, "unload %s: %s\n", dir, m);
	if (loaded)
		lb_dp_close(&dp);
	loaded = false;
}

static void on_signal(int sig)
{
	unload();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc)
		fprintf(stderr, "failed (%d): %s\n", rc, cmd);
	return rc;
}

static void be_addr(__u8 a[16], int host)
{
	char s[32];

	snprintf(s, sizeof(s), "198.18.62.%d", host);
	tl_addr(4, s, a);
}

/* backend 198.18.62.host's neighbour: 02:00:00:00:62:<mac_lo>, permanent */
static void neigh_set(int host, int mac_lo)
{
	assert_int_equal(sh("ip neigh replace 198.18.62.%d lladdr 02:00:00:00:62:%02x "
			    "dev nhs0 nud permanent", host, mac_lo), 0);
}

/* the backend's id (and entry) */
static __u32 be_id(int host, struct lb_backend *out)
{
	struct lb_backend_view v[16];
	struct lb_vip_view vv;
	__u8 a[16];
	int n;

	assert_int_equal(lb_vip_find(&dp, &vip, &vv), 0);
	n = lb_backend_list(&dp, vv.id, v, 16);
	be_addr(a, host);
	for (int i = 0; i < n; i++)
		if (!memcmp(v[i].be.addr, a, 16)) {
			if (out)
				*out = v[i].be;
			return v[i].id;
		}
	fail_msg("no backend 198.18.62.%d", host);
	return 0;
}

/* the last byte of the next hop lb_nexthops holds for the backend */
static int nh_lo(int host)
{
	struct lb_nexthop nh;
	__u32 id = be_id(host, NULL);

	assert_int_equal(bpf_map_lookup_elem(dp.fd[LB_M_NEXTHOPS], &id, &nh), 0);
	assert_true(nh.flags & LB_NEXTHOP_F_VALID);
	return nh.mac[5];
}

static const struct lb_nexthop_entry *entry(const struct lb_nexthop_sync *s,
					    int host)
{
	__u8 a[16];

	be_addr(a, host);
	for (size_t i = 0; i < s->n; i++)
		if (!memcmp(s->e[i].addr, a, 16))
			return &s->e[i];
	return NULL;
}

static void sync_ok(struct lb_nexthop_sync *s, int timeout_ms)
{
	if (lb_nexthop_sync(&dp, timeout_ms, s, msg, sizeof(msg)))
		fail_msg("sync: %s", msg);
}

static int group_setup(void **state)
{
	(void)state;
	if (geteuid()) {
		fprintf(stderr, "test_nexthop_sync needs root (BPF, network namespace)\n");
		return -1;
	}
	if (unshare(CLONE_NEWNET)) {
		perror("unshare(CLONE_NEWNET)");
		return -1;
	}
	if (sh("ip link set lo up && "
	       "ip link add nhs0 type veth peer name nhs1 && "
	       "ip link add nhs2 type veth peer name nhs3 && "
	       "ip addr add 198.18.62.1/24 dev nhs0 && "
	       "ip addr add 198.18.63.1/24 dev nhs2 && "
	       "for d in nhs0 nhs1 nhs2 nhs3; do ip link set $d up || exit 1; done"))
		return -1;
	snprintf(dir, sizeof(dir), "/sys/fs/bpf/inferlb-test-nhsync-%d", getpid());
	atexit(unload);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGABRT, on_signal);
	if (tl_dp_up(&dp, dir, "nhs0", &loaded, msg, sizeof(msg)))
		goto fail;
	return 0;
fail:
	fprintf(stderr, "setup: %s\n", msg);
	unload();
	return -1;
}

static int group_teardown(void **state)
{
	(void)state;
	unload();
	return 0;
}

/* An l2dsr VIP with backends .10 .. .13, neighbours ...:62:10 .. 13. */
static int setup(void **state)
{
	struct lb_vip_opts o = { .mode = LB_FWD_L2DSR, .ring_size = RING };
	__u8 a[16];

	(void)state;
	memset(&vip, 0, sizeof(vip));
	tl_addr(4, "198.18.62.100", vip.addr);
	vip.port = htons(80);
	vip.proto = IPPROTO_TCP;
	vip.family = LB_AF_INET;
	if (lb_vip_add(&dp, &vip, &o, msg, sizeof(msg)))
		fail_msg("vip add: %s", msg);
	for (int i = 0; i < NBE; i++) {
		neigh_set(10 + i, 0x10 + i);
		be_addr(a, 10 + i);
		if (lb_backend_add(&dp, &vip, a, LB_AF_INET, 10, msg, sizeof(msg)))
			fail_msg("backend add .%d: %s", 10 + i, msg);
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (lb_vip_del(&dp, &vip, msg, sizeof(msg)))
		fail_msg("vip del: %s", msg);
	return 0;
}

static void test_writes_what_changed(void **state)
{
	struct lb_nexthop_sync s;

	(void)state;
	sync_ok(&s, 100);
	assert_int_equal(s.n, NBE);
	assert_int_equal(s.changed, 0);
	assert_int_equal(s.failed, 0);
	lb_nexthop_sync_free(&s);

	neigh_set(11, 0xaa);
	sync_ok(&s, 100);
	assert_int_equal(s.changed, 1);
	assert_int_equal(s.failed, 0);
	assert_int_equal(s.raced, 0);
	assert_true(entry(&s, 11)->changed);
	assert_int_equal(entry(&s, 11)->old.mac[5], 0x11);
	assert_int_equal(entry(&s, 11)->now.mac[5], 0xaa);
	lb_nexthop_sync_free(&s);
	assert_int_equal(nh_lo(10), 0x10);
	assert_int_equal(nh_lo(11), 0xaa);
	assert_int_equal(nh_lo(12), 0x12);
	assert_int_equal(nh_lo(13), 0x13);
}

static void test_raced_left_alone(void **state)
{
	struct lb_nexthop_sync s;
	struct lb_backend before, after;
	struct lb_nexthop other = { .mac = { 2, 0, 0, 0, 0x62, 0xcc },
				    .flags = LB_NEXTHOP_F_VALID };
	__u32 id13;
	__u8 a[16];

	(void)state;
	be_id(12, &before);
	assert_int_equal(lb_nexthop_read(&dp, &s, msg, sizeof(msg)), 0);
	/* .12 deleted and added again (a new epoch) with a new neighbour;
	 * .13's next hop written by another writer */
	neigh_set(12, 0xbb);
	be_addr(a, 12);
	assert_int_equal(lb_backend_del(&dp, &vip, a, LB_AF_INET, msg, sizeof(msg)), 0);
	assert_int_equal(lb_backend_add(&dp, &vip, a, LB_AF_INET, 10, msg, sizeof(msg)), 0);
	be_id(12, &after);
	assert_int_not_equal(before.epoch, after.epoch);
	neigh_set(13, 0xdd);
	id13 = be_id(13, NULL);
	assert_int_equal(bpf_map_update_elem(dp.fd[LB_M_NEXTHOPS], &id13, &other, 0), 0);

	assert_int_equal(lb_nexthop_look(&s, 100, msg, sizeof(msg)), 0);
	assert_int_equal(s.failed, 0);
	assert_int_equal(lb_nexthop_commit(&dp, &s, msg, sizeof(msg)), 0);
	assert_int_equal(s.changed, 0);
	assert_int_equal(s.raced, 2);
	lb_nexthop_sync_free(&s);
	assert_int_equal(nh_lo(12), 0xbb);	/* what the add resolved */
	assert_int_equal(nh_lo(13), 0xcc);	/* the other writer's */

	/* the next sync sees the current owners and fixes .13 */
	sync_ok(&s, 100);
	assert_int_equal(s.changed, 1);
	assert_int_equal(s.raced, 0);
	lb_nexthop_sync_free(&s);
	assert_int_equal(nh_lo(13), 0xdd);
}

static void test_unusable_kept(void **state)
{
	const struct lb_nexthop_entry *e;
	struct lb_nexthop_sync s;

	(void)state;
	/* .10: nobody answers ARP (100 ms); .11: routed out of nhs2, where
	 * the balancer is not attached; .12: behind a router (l2dsr) */
	assert_int_equal(sh("ip neigh del 198.18.62.10 dev nhs0 && "
			    "ip route add 198.18.62.11/32 dev nhs2 && "
			    "ip route add 198.18.62.12/32 via 198.18.62.13 dev nhs0"), 0);
	sync_ok(&s, 100);
	assert_int_equal(s.changed, 0);
	assert_int_equal(s.failed, 3);
	e = entry(&s, 10);
	assert_int_equal(e->err, -EHOSTUNREACH);
	assert_non_null(strstr(e->why, "no ARP reply yet after 100 ms"));
	e = entry(&s, 11);
	assert_int_equal(e->err, -ENETUNREACH);
	assert_non_null(strstr(e->why, "via nhs2, where inferlb is not attached"));
	e = entry(&s, 12);
	assert_int_equal(e->err, -EINVAL);
	assert_non_null(strstr(e->why, "behind a router"));
	assert_null(entry(&s, 13)->err ? "13 failed" : NULL);
	lb_nexthop_sync_free(&s);
	assert_int_equal(nh_lo(10), 0x10);
	assert_int_equal(nh_lo(11), 0x11);
	assert_int_equal(nh_lo(12), 0x12);
	assert_int_equal(sh("ip route del 198.18.62.11/32 dev nhs2 && "
			    "ip route del 198.18.62.12/32"), 0);
	neigh_set(10, 0x10);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_writes_what_changed),
		T(test_raced_left_alone),
		T(test_unusable_kept),
	};
#undef T

	return cmocka_run_group_tests_name("lb_nexthop_sync", tests,
					   group_setup, group_teardown);
}
