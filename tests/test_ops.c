// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_ops.c - the library's VIP/backend operations (lb_ops.c) on real,
 * pinned datapaths. Needs root: the program moves itself into a network
 * namespace of its own (veth devices, 198.18.60.0/24 and 198.18.61.0/24,
 * backends as permanent neighbours), loads two datapaths under
 * /sys/fs/bpf/inferlb-test-ops-PID-{a,b} and unloads them on exit, also
 * when a test fails.
 *
 * What it proves:
 *   - a read error never publishes: with lb_backends swapped for a map
 *     that holds only its first slots (a short read) or none, set-weight,
 *     publish and the list calls fail and the live table is unchanged;
 *   - a change to one backend reads that VIP's backends only (counted by
 *     the handle), and the list stays right after add and delete;
 *   - a broken chain (other VIP's entry, cycle, inactive entry, id out of
 *     range, a repair cut short) is detected; the call still sees every
 *     backend, and the chain is repaired;
 *   - two handles on two datapaths, used alternately and from two threads
 *     at once, each get their own results (no shared scratch);
 *   - operator overrides: publish keeps the operator's weight / state and
 *     reports it, a non-HEALTHY state override is weight 0 in the table,
 *     an expired override is cleared by publish, release hands back;
 *   - the open-flow recount drops idle, closed, DOWN and stale-epoch
 *     flows, counts waiting handshakes (SYN slots) once, and corrects a
 *     count that drifted either way.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
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
#include "lb_ops.h"
#include "testlib.h"

#define RING 1009
#define NA 8	/* backends of VIP A (datapath a) */
#define NB 5	/* backends of VIP B (datapath a) */
#define NC 8	/* backends of VIP C (datapath b) */

static char dir_a[128], dir_b[128];
static struct lb_dp dpa, dpb;
static bool loaded_a, loaded_b;
static int real_fd[LB_M_COUNT];	/* datapath a's maps, restored after tests */
static char msg[512];

static void unload(void)
{
	char m[256];

	if (loaded_a && lb_dp_unload(&dpa, m, sizeof(m)))
		fprintf(stderr, "unload %s: %s\n", dir_a, m);
	if (loaded_b && lb_dp_unload(&dpb, m, sizeof(m)))
		fprintf(stderr, "unload %s: %s\n", dir_b, m);
	if (loaded_a)
		lb_dp_close(&dpa);
	if (loaded_b)
		lb_dp_close(&dpb);
	loaded_a = loaded_b = false;
}

static void on_signal(int sig)
{
	unload();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void vip_key(struct lb_vip_key *k, const char *addr)
{
	memset(k, 0, sizeof(*k));
	tl_addr(4, addr, k->addr);
	k->port = htons(80);
	k->proto = IPPROTO_TCP;
	k->family = LB_AF_INET;
}

static void be_addr(__u8 a[16], const char *net, int host)
{
	char s[32];

	snprintf(s, sizeof(s), "%s.%d", net, host);
	tl_addr(4, s, a);
}

/* The VIP's live table, read from lb_rings' inner map. */
static void ring_read(struct lb_dp *dp, __u32 vip_id, __u32 *slots)
{
	__u32 inner_id;
	int fd;

	assert_int_equal(bpf_map_lookup_elem(dp->fd[LB_M_RINGS], &vip_id, &inner_id), 0);
	fd = bpf_map_get_fd_by_id(inner_id);
	assert_true(fd >= 0);
	for (__u32 i = 0; i < RING; i++) {
		struct lb_ring_slot sl;

		assert_int_equal(bpf_map_lookup_elem(fd, &i, &sl), 0);
		slots[i] = sl.backend_id;
	}
	close(fd);
}

/* Slots the table gives backend id. */
static int slots_of(const __u32 *slots, __u32 id)
{
	int n = 0;

	for (int i = 0; i < RING; i++)
		n += slots[i] == id;
	return n;
}

static __u32 vip_id_of(struct lb_dp *dp, const char *addr)
{
	struct lb_vip_key k;
	struct lb_vip_view v;

	vip_key(&k, addr);
	assert_int_equal(lb_vip_find(dp, &k, &v), 0);
	return v.id;
}

/* The id of the backend at net.host of VIP vip (via a full list). */
static __u32 be_id_of(struct lb_dp *dp, __u32 vip, const char *net, int host,
		      struct lb_backend *out)
{
	struct lb_backend_view v[64];
	__u8 a[16];
	int n = lb_backend_list(dp, vip, v, 64);

	be_addr(a, net, host);
	assert_true(n >= 0);
	for (int i = 0; i < n; i++)
		if (!memcmp(v[i].be.addr, a, 16)) {
			if (out)
				*out = v[i].be;
			return v[i].id;
		}
	fail_msg("no backend %s.%d", net, host);
	return 0;
}

static void add_vip(struct lb_dp *dp, const char *vip, const char *net, int first,
		    int n)
{
	struct lb_vip_opts o = { .mode = LB_FWD_L2DSR, .ring_size = RING };
	struct lb_vip_key k;
	__u8 a[16];

	vip_key(&k, vip);
	if (lb_vip_add(dp, &k, &o, msg, sizeof(msg)))
		fail_msg("vip add %s: %s", vip, msg);
	for (int i = 0; i < n; i++) {
		be_addr(a, net, first + i);
		if (lb_backend_add(dp, &k, a, LB_AF_INET, 10 + i, msg, sizeof(msg)))
			fail_msg("backend add %s.%d: %s", net, first + i, msg);
	}
}

static int sh(const char *cmd)
{
	int rc = system(cmd);

	if (rc)
		fprintf(stderr, "failed (%d): %s\n", rc, cmd);
	return rc;
}

static int group_setup(void **state)
{
	(void)state;
	if (geteuid()) {
		fprintf(stderr, "test_ops needs root (BPF, network namespace)\n");
		return -1;
	}
	if (unshare(CLONE_NEWNET)) {
		perror("unshare(CLONE_NEWNET)");
		return -1;
	}
	if (sh("ip link set lo up && "
	       "ip link add opsa0 type veth peer name opsa1 && "
	       "ip link add opsb0 type veth peer name opsb1 && "
	       "ip addr add 198.18.60.1/24 dev opsa0 && "
	       "ip addr add 198.18.61.1/24 dev opsb0 && "
	       "for d in opsa0 opsa1 opsb0 opsb1; do ip link set $d up || exit 1; done && "
	       "for i in $(seq 10 40); do "
	       " ip neigh replace 198.18.60.$i lladdr 02:00:00:00:60:$i dev opsa0 nud permanent &&"
	       " ip neigh replace 198.18.61.$i lladdr 02:00:00:00:61:$i dev opsb0 nud permanent || exit 1;"
	       "done"))
		return -1;
	snprintf(dir_a, sizeof(dir_a), "/sys/fs/bpf/inferlb-test-ops-%d-a", getpid());
	snprintf(dir_b, sizeof(dir_b), "/sys/fs/bpf/inferlb-test-ops-%d-b", getpid());
	atexit(unload);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGABRT, on_signal);
	if (tl_dp_up(&dpa, dir_a, "opsa0", &loaded_a, msg, sizeof(msg)))
		goto fail;
	memcpy(real_fd, dpa.fd, sizeof(real_fd));
	if (tl_dp_up(&dpb, dir_b, "opsb0", &loaded_b, msg, sizeof(msg)))
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

/* The three VIPs every test starts from. */
static int setup(void **state)
{
	(void)state;
	add_vip(&dpa, "198.18.60.100", "198.18.60", 10, NA);
	add_vip(&dpa, "198.18.60.101", "198.18.60", 20, NB);
	add_vip(&dpb, "198.18.61.100", "198.18.61", 10, NC);
	return 0;
}

static int teardown(void **state)
{
	struct lb_vip_view v[8];
	int n;

	(void)state;
	/* a test that failed may have left a map fd swapped */
	memcpy(dpa.fd, real_fd, sizeof(real_fd));
	n = lb_vip_list(&dpa, v, 8);
	for (int i = 0; i < n; i++)
		lb_vip_del(&dpa, &v[i].info.key, msg, sizeof(msg));
	n = lb_vip_list(&dpb, v, 8);
	for (int i = 0; i < n; i++)
		lb_vip_del(&dpb, &v[i].info.key, msg, sizeof(msg));
	return 0;
}

/* ---- fix 3: one VIP's backends, not every slot ---------------------------- */

static void test_reads_one_vip(void **state)
{
	struct lb_backend_view v[64];
	__u32 a = vip_id_of(&dpa, "198.18.60.100");
	__u32 b = vip_id_of(&dpa, "198.18.60.101");
	struct lb_vip_key ka, kb;
	__u32 *slots = calloc(RING, sizeof(*slots));
	struct lb_backend be;
	__u8 addr[16];
	__u32 id;

	(void)state;
	vip_key(&ka, "198.18.60.100");
	vip_key(&kb, "198.18.60.101");
	be_addr(addr, "198.18.60", 13);

	dpa.backend_reads = 0;
	assert_int_equal(lb_backend_set_weight(&dpa, &ka, addr, LB_AF_INET, 70, 0,
					       msg, sizeof(msg)), 0);
	assert_int_equal(dpa.backend_reads, NA);

	dpa.backend_reads = 0;
	assert_int_equal(lb_backend_set_state(&dpa, &ka, addr, LB_AF_INET,
					      LB_BE_DRAINING, 0, msg, sizeof(msg)), 0);
	assert_int_equal(dpa.backend_reads, NA);
	dpa.backend_reads = 0;
	assert_int_equal(lb_backend_release(&dpa, &ka, addr, LB_AF_INET, msg,
					    sizeof(msg)), 1);
	assert_int_equal(dpa.backend_reads, NA);

	/* the change landed, in the entry and the table, for that one */
	id = be_id_of(&dpa, a, "198.18.60", 13, &be);
	assert_int_equal(be.weight, 70);
	assert_int_equal(be.state, LB_BE_DRAINING);
	ring_read(&dpa, a, slots);
	for (int i = 0; i < NA; i++) {
		__u32 other = be_id_of(&dpa, a, "198.18.60", 10 + i, NULL);

		assert_true(slots_of(slots, other) > 0);
		if (other != id)	/* weight 70 against 10..17 */
			assert_true(slots_of(slots, id) > 3 * slots_of(slots, other));
	}

	/* add and delete read the VIP's backends and a free slot or two */
	be_addr(addr, "198.18.60", 30);
	dpa.backend_reads = 0;
	assert_int_equal(lb_backend_add(&dpa, &kb, addr, LB_AF_INET, 5, msg,
					 sizeof(msg)), 0);
	assert_true(dpa.backend_reads <= NB + 4);
	assert_int_equal(lb_backend_list(&dpa, b, v, 64), NB + 1);
	dpa.backend_reads = 0;
	assert_int_equal(lb_backend_del(&dpa, &kb, addr, LB_AF_INET, msg,
					 sizeof(msg)), 0);
	assert_true(dpa.backend_reads <= NB + 1 + 4);
	assert_int_equal(lb_backend_list(&dpa, b, v, 64), NB);
	/* A untouched by B's changes */
	assert_int_equal(lb_backend_list(&dpa, a, v, 64), NA);
	/* a slot freed by the delete is reused by the next add */
	be_addr(addr, "198.18.60", 31);
	assert_int_equal(lb_backend_add(&dpa, &kb, addr, LB_AF_INET, 5, msg,
					 sizeof(msg)), 0);
	assert_int_equal(lb_backend_list(&dpa, b, v, 64), NB + 1);
	assert_int_equal(dpa.chain_repairs, 0);
	free(slots);
}

/* Writes entry id of datapath a with next_id (or flags) changed by hand. */
static void poke(__u32 id, __u32 next, bool deactivate)
{
	struct lb_backend b;

	assert_int_equal(bpf_map_lookup_elem(dpa.fd[LB_M_BACKENDS], &id, &b), 0);
	b.next_id = next;
	if (deactivate)
		b.flags &= ~LB_BACKEND_F_ACTIVE;
	assert_int_equal(bpf_map_update_elem(dpa.fd[LB_M_BACKENDS], &id, &b, 0), 0);
}

static void vip_first_set(__u32 vip, __u32 first)
{
	struct lb_vip v;

	assert_int_equal(bpf_map_lookup_elem(dpa.fd[LB_M_VIP_INFO], &vip, &v), 0);
	v.first_backend = first;
	assert_int_equal(bpf_map_update_elem(dpa.fd[LB_M_VIP_INFO], &vip, &v, 0), 0);
}

/* Every backend of A listed, the chain then whole (no scan the next time). */
static void expect_a_whole(int n)
{
	struct lb_backend_view v[64];
	__u32 a = vip_id_of(&dpa, "198.18.60.100");
	unsigned long repairs = dpa.chain_repairs;
	struct lb_vip_key ka;
	__u8 addr[16];
	int got;

	vip_key(&ka, "198.18.60.100");
	got = lb_backend_list(&dpa, a, v, 64);
	assert_int_equal(got, n);
	for (int i = 0; i < got; i++) {
		assert_true(v[i].be.flags & LB_BACKEND_F_ACTIVE);
		assert_int_equal(v[i].be.vip_id, a);
		if (i)
			assert_true(v[i].id > v[i - 1].id);
	}
	assert_int_equal(dpa.chain_repairs, repairs + 1);
	/* repaired: the next read walks the chain only */
	dpa.backend_reads = 0;
	assert_int_equal(lb_backend_list(&dpa, a, v, 64), n);
	assert_int_equal(dpa.backend_reads, n);
	assert_int_equal(dpa.chain_repairs, repairs + 1);
	/* and a change to one backend reads the chain only */
	be_addr(addr, "198.18.60", 11);
	dpa.backend_reads = 0;
	assert_int_equal(lb_backend_set_weight(&dpa, &ka, addr, LB_AF_INET, 20, 0,
					       msg, sizeof(msg)), 0);
	assert_int_equal(dpa.backend_reads, n);
}

static void test_chain_broken(void **state)
{
	__u32 a = vip_id_of(&dpa, "198.18.60.100");
	__u32 b = vip_id_of(&dpa, "198.18.60.101");
	__u32 a3 = be_id_of(&dpa, a, "198.18.60", 13, NULL);
	__u32 a5 = be_id_of(&dpa, a, "198.18.60", 15, NULL);
	__u32 b1 = be_id_of(&dpa, b, "198.18.60", 21, NULL);
	struct lb_vip info;

	(void)state;
	/* an entry of another VIP: the walk would list B's backends as A's */
	poke(a3, b1, false);
	/* a reader without the lock (a /metrics scrape) gets the whole list
	 * from the scan but writes nothing: another process may be in the
	 * middle of a change */
	lb_dp_unlock(&dpa);
	{
		struct lb_backend_view v[64];
		unsigned long repairs = dpa.chain_repairs;
		char msg[256];

		assert_int_equal(lb_backend_list(&dpa, a, v, 64), NA);
		assert_int_equal(dpa.chain_repairs, repairs);
		assert_int_equal(lb_dp_relock(&dpa, msg, sizeof(msg)), 0);
	}
	expect_a_whole(NA);	/* with the lock: repaired */
	/* a cycle */
	poke(a5, a5, false);
	expect_a_whole(NA);
	/* an id out of range */
	poke(a3, LB_MAX_BACKENDS + 5, false);
	expect_a_whole(NA);
	/* a repair cut short */
	vip_first_set(a, LB_CHAIN_UNKNOWN);
	expect_a_whole(NA);
	/* a head that skips backends cannot be seen by a walk, but a delete
	 * killed between deactivate and unlink leaves an inactive entry */
	poke(a5, 0, true);
	poke(a3, a5, false);	/* keep a3 -> a5 so the walk meets it */
	{
		__u32 ids[NA], n = 0;
		struct lb_backend_view v[64];
		int got = lb_backend_list(&dpa, a, v, 64);

		/* a5 inactive: the list is the rest, found by the scan */
		assert_int_equal(got, NA - 1);
		for (int i = 0; i < got; i++)
			ids[n++] = v[i].id;
		for (__u32 i = 0; i < n; i++)
			assert_int_not_equal(ids[i], a5);
	}
	/* B's chain was never touched by A's repairs */
	dpa.backend_reads = 0;
	{
		struct lb_backend_view v[64];

		assert_int_equal(lb_backend_list(&dpa, b, v, 64), NB);
		assert_int_equal(dpa.backend_reads, NB);
	}
	assert_int_equal(bpf_map_lookup_elem(dpa.fd[LB_M_VIP_INFO], &a, &info), 0);
	assert_int_not_equal(info.first_backend, LB_CHAIN_UNKNOWN);
}

/* ---- fix 2: a read error publishes nothing -------------------------------- */

/* A map standing in for lb_backends that holds only its first `keep`
 * slots (copied): every read past them fails. */
static int short_backends(int keep)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "short_be", 4,
				sizeof(struct lb_backend), keep, NULL);

	assert_true(fd >= 0);
	for (__u32 id = 0; id < (__u32)keep; id++) {
		struct lb_backend b;

		assert_int_equal(bpf_map_lookup_elem(dpa.fd[LB_M_BACKENDS], &id, &b), 0);
		assert_int_equal(bpf_map_update_elem(fd, &id, &b, 0), 0);
	}
	return fd;
}

static void test_read_error_publishes_nothing(void **state)
{
	__u32 a = vip_id_of(&dpa, "198.18.60.100");
	__u32 *before = calloc(RING, sizeof(__u32));
	__u32 *after = calloc(RING, sizeof(__u32));
	struct lb_publish_entry ctl[NA];
	struct lb_backend_view v[64];
	struct lb_backend *all = calloc(LB_MAX_BACKENDS, sizeof(*all));
	struct lb_vip_view vips[8];
	struct lb_vip_key ka;
	struct lb_vip info0, info1;
	int real = dpa.fd[LB_M_BACKENDS], real_info = dpa.fd[LB_M_VIP_INFO];
	int n, fds[2];
	bool rebuilt;
	__u8 addr[16];
	__u32 id2;

	(void)state;
	vip_key(&ka, "198.18.60.100");
	n = lb_backend_list(&dpa, a, v, 64);
	assert_int_equal(n, NA);
	for (int i = 0; i < n; i++)
		ctl[i] = (struct lb_publish_entry){ .id = v[i].id, .weight = 99 };
	ring_read(&dpa, a, before);
	assert_int_equal(bpf_map_lookup_elem(real_info, &a, &info0), 0);
	/* a backend of A among the slots the short map still holds, and six
	 * of A's beyond them */
	id2 = v[1].id;
	memcpy(addr, v[1].be.addr, 16);

	/* 1. a short read: only slots 0 .. id2 */
	fds[0] = short_backends(id2 + 1);
	/* 2. nothing at all: an empty hash map of the same sizes */
	fds[1] = bpf_map_create(BPF_MAP_TYPE_HASH, "empty_be", 4,
				sizeof(struct lb_backend), 16, NULL);
	assert_true(fds[1] >= 0);
	for (int f = 0; f < 2; f++) {
		dpa.fd[LB_M_BACKENDS] = fds[f];
		msg[0] = 0;
		assert_true(lb_backend_set_weight(&dpa, &ka, addr, LB_AF_INET, 1, 0,
						  msg, sizeof(msg)) < 0);
		assert_true(msg[0]);
		msg[0] = 0;
		assert_true(lb_vip_publish(&dpa, a, ctl, NA, &rebuilt, msg,
					   sizeof(msg)) < 0);
		assert_false(rebuilt);
		assert_true(msg[0]);
		assert_true(lb_backend_del(&dpa, &ka, addr, LB_AF_INET, msg,
					   sizeof(msg)) < 0);
		dpa.fd[LB_M_BACKENDS] = real;
		ring_read(&dpa, a, after);
		assert_memory_equal(before, after, RING * sizeof(__u32));
		assert_int_equal(bpf_map_lookup_elem(real_info, &a, &info1), 0);
		assert_int_equal(info1.ring_gen, info0.ring_gen);
		assert_int_equal(lb_backend_list(&dpa, a, v, 64), NA);
		for (int i = 0; i < NA; i++)	/* as added: 10 + host - 10 */
			assert_int_equal(v[i].be.weight, v[i].be.addr[3]);
		/* and the list calls say so, rather than "no backends" */
		dpa.fd[LB_M_BACKENDS] = fds[f];
		assert_true(lb_backend_read_all(&dpa, all) < 0);
		assert_true(lb_backend_list(&dpa, a, v, 64) < 0);
		dpa.fd[LB_M_BACKENDS] = real;
		close(fds[f]);
	}

	/* VIPs: a failed read is an error, not "no VIPs" */
	fds[0] = bpf_map_create(BPF_MAP_TYPE_HASH, "empty_vi", 4,
				sizeof(struct lb_vip), 16, NULL);
	assert_true(fds[0] >= 0);
	dpa.fd[LB_M_VIP_INFO] = fds[0];
	assert_true(lb_vip_list(&dpa, vips, 8) < 0);
	dpa.fd[LB_M_VIP_INFO] = real_info;
	close(fds[0]);
	assert_int_equal(lb_vip_list(&dpa, vips, 8), 2);
	free(before);
	free(after);
	free(all);
}

/* ---- reentrancy: two handles ---------------------------------------------- */

struct worker {
	struct lb_dp *dp;
	const char *vip, *net;
	int n, rounds, errors;
	char why[320];
};

/* set-weight on each backend in turn; every list must show what was set */
static void *work(void *arg)
{
	struct worker *w = arg;
	struct lb_backend_view *v = calloc(64, sizeof(*v));
	struct lb_vip_key k;
	char m[256];

	vip_key(&k, w->vip);
	for (int r = 0; r < w->rounds && v; r++) {
		__u8 addr[16];
		int i = r % w->n, got;
		struct lb_vip_view vv;

		be_addr(addr, w->net, 10 + i);
		if (lb_backend_set_weight(w->dp, &k, addr, LB_AF_INET, 1000 + r, 0, m,
					  sizeof(m))) {
			snprintf(w->why, sizeof(w->why), "round %d: %s", r, m);
			w->errors++;
			break;
		}
		if (lb_vip_find(w->dp, &k, &vv) ||
		    (got = lb_backend_list(w->dp, vv.id, v, 64)) != w->n) {
			snprintf(w->why, sizeof(w->why), "round %d: list", r);
			w->errors++;
			break;
		}
		for (int j = 0; j < got; j++)
			if (!memcmp(v[j].be.addr, addr, 16) &&
			    v[j].be.weight != (__u32)(1000 + r)) {
				snprintf(w->why, sizeof(w->why), "round %d: weight %u",
					 r, v[j].be.weight);
				w->errors++;
			}
	}
	free(v);
	return NULL;
}

static void test_two_handles(void **state)
{
	struct worker wa = { &dpa, "198.18.60.100", "198.18.60", NA, 40, 0, "" };
	struct worker wb = { &dpb, "198.18.61.100", "198.18.61", NC, 40, 0, "" };
	unsigned long ra = dpa.chain_repairs, rb = dpb.chain_repairs;
	pthread_t ta, tb;

	(void)state;
	/* alternately, from one thread */
	for (int r = 0; r < 8; r++) {
		wa.rounds = wb.rounds = 1;
		work(&wa);
		work(&wb);
	}
	assert_int_equal(wa.errors, 0);
	assert_int_equal(wb.errors, 0);
	/* at once, from two threads */
	wa.rounds = wb.rounds = 120;
	assert_int_equal(pthread_create(&ta, NULL, work, &wa), 0);
	assert_int_equal(pthread_create(&tb, NULL, work, &wb), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	if (wa.errors || wb.errors)
		fail_msg("a: %s / b: %s", wa.why, wb.why);
	/* and neither saw the other's chain as broken */
	assert_int_equal(dpa.chain_repairs, ra);
	assert_int_equal(dpb.chain_repairs, rb);
}

/* ---- operator overrides --------------------------------------------------- */

/* A publish of weight w, state HEALTHY for every backend of B. */
static void publish_b(__u32 w, struct lb_publish_entry *ctl, __u32 *ids)
{
	__u32 b = vip_id_of(&dpa, "198.18.60.101");
	bool rebuilt;

	for (int i = 0; i < NB; i++)
		ctl[i] = (struct lb_publish_entry){ .id = ids[i], .weight = w,
						  .state = LB_BE_HEALTHY,
						  .override = 0xff };
	if (lb_vip_publish(&dpa, b, ctl, NB, &rebuilt, msg, sizeof(msg)))
		fail_msg("publish: %s", msg);
}

static void test_override(void **state)
{
	__u32 b = vip_id_of(&dpa, "198.18.60.101"), ids[NB];
	__u32 *slots = calloc(RING, sizeof(*slots));
	struct lb_publish_entry ctl[NB];
	struct lb_backend be;
	struct lb_vip_key kb;
	__u8 a20[16], a21[16], a22[16], a23[16], nope[16];

	(void)state;
	vip_key(&kb, "198.18.60.101");
	for (int i = 0; i < NB; i++)
		ids[i] = be_id_of(&dpa, b, "198.18.60", 20 + i, NULL);
	be_addr(a20, "198.18.60", 20);
	be_addr(a21, "198.18.60", 21);
	be_addr(a22, "198.18.60", 22);
	be_addr(a23, "198.18.60", 23);
	be_addr(nope, "198.18.60", 39);

	/* .20: weight by hand; .21: drained by hand; .23 healthy by hand */
	assert_int_equal(lb_backend_set_weight(&dpa, &kb, a20, LB_AF_INET, 50, 0,
					       msg, sizeof(msg)), 0);
	assert_int_equal(lb_backend_set_state(&dpa, &kb, a21, LB_AF_INET,
					      LB_BE_DRAINING, 0, msg, sizeof(msg)), 0);
	assert_int_equal(lb_backend_set_state(&dpa, &kb, a23, LB_AF_INET,
					      LB_BE_HEALTHY, 0, msg, sizeof(msg)), 0);
	be_id_of(&dpa, b, "198.18.60", 20, &be);
	assert_int_equal(be.flags & LB_BACKEND_F_OVR, LB_BACKEND_F_OVR_WEIGHT);
	assert_int_equal(be.override_until_ns, 0);

	publish_b(10, ctl, ids);
	assert_int_equal(ctl[0].override, LB_BACKEND_F_OVR_WEIGHT);
	assert_int_equal(ctl[1].override, LB_BACKEND_F_OVR_STATE);
	assert_int_equal(ctl[2].override, 0);
	assert_int_equal(ctl[3].override, LB_BACKEND_F_OVR_STATE);
	assert_int_equal(ctl[4].override, 0);
	be_id_of(&dpa, b, "198.18.60", 20, &be);
	assert_int_equal(be.weight, 50);	/* the operator's */
	be_id_of(&dpa, b, "198.18.60", 21, &be);
	assert_int_equal(be.state, LB_BE_DRAINING);
	assert_int_equal(be.weight, 0);		/* takes no new flows */
	be_id_of(&dpa, b, "198.18.60", 23, &be);
	assert_int_equal(be.weight, 10);	/* HEALTHY override: agent's */
	be_id_of(&dpa, b, "198.18.60", 22, &be);
	assert_int_equal(be.weight, 10);
	ring_read(&dpa, b, slots);
	assert_int_equal(slots_of(slots, ids[1]), 0);
	assert_true(slots_of(slots, ids[0]) > 3 * slots_of(slots, ids[2]));
	assert_true(slots_of(slots, ids[2]) > 0);

	/* the agent tries DOWN for the drained one: the operator's state holds */
	{
		bool rebuilt;

		for (int i = 0; i < NB; i++)
			ctl[i] = (struct lb_publish_entry){ .id = ids[i], .weight = 10,
							  .state = LB_BE_DOWN };
		assert_int_equal(lb_vip_publish(&dpa, b, ctl, NB, &rebuilt, msg,
						sizeof(msg)), 0);
		be_id_of(&dpa, b, "198.18.60", 21, &be);
		assert_int_equal(be.state, LB_BE_DRAINING);
		be_id_of(&dpa, b, "198.18.60", 22, &be);
		assert_int_equal(be.state, LB_BE_DOWN);
		be_id_of(&dpa, b, "198.18.60", 23, &be);
		assert_int_equal(be.state, LB_BE_HEALTHY);
	}

	/* release: flags gone, weight and state as they were */
	assert_int_equal(lb_backend_release(&dpa, &kb, a20, LB_AF_INET, msg,
					    sizeof(msg)), 1);
	assert_int_equal(lb_backend_release(&dpa, &kb, a21, LB_AF_INET, msg,
					    sizeof(msg)), 1);
	assert_int_equal(lb_backend_release(&dpa, &kb, a23, LB_AF_INET, msg,
					    sizeof(msg)), 1);
	be_id_of(&dpa, b, "198.18.60", 20, &be);
	assert_int_equal(be.flags & LB_BACKEND_F_OVR, 0);
	assert_int_equal(be.weight, 50);
	be_id_of(&dpa, b, "198.18.60", 21, &be);
	assert_int_equal(be.flags & LB_BACKEND_F_OVR, 0);
	assert_int_equal(be.state, LB_BE_DRAINING);
	/* releasing twice is no error, and says so */
	msg[0] = 0;
	assert_int_equal(lb_backend_release(&dpa, &kb, a20, LB_AF_INET, msg,
					    sizeof(msg)), 0);
	assert_non_null(strstr(msg, "no override"));
	assert_int_equal(lb_backend_release(&dpa, &kb, nope, LB_AF_INET, msg,
					    sizeof(msg)), -ENOENT);
	assert_non_null(strstr(msg, "not a backend"));
	/* the agent's values apply again */
	publish_b(10, ctl, ids);
	for (int i = 0; i < NB; i++) {
		assert_int_equal(ctl[i].override, 0);
		be_id_of(&dpa, b, "198.18.60", 20 + i, &be);
		assert_int_equal(be.weight, 10);
		assert_int_equal(be.state, LB_BE_HEALTHY);
	}

	/* an override that expires: publish clears it, then applies */
	assert_int_equal(lb_backend_set_weight(&dpa, &kb, a22, LB_AF_INET, 77,
					       300000000ull, msg, sizeof(msg)), 0);
	be_id_of(&dpa, b, "198.18.60", 22, &be);
	assert_true(be.override_until_ns > 0);
	publish_b(11, ctl, ids);
	assert_int_equal(ctl[2].override, LB_BACKEND_F_OVR_WEIGHT);
	be_id_of(&dpa, b, "198.18.60", 22, &be);
	assert_int_equal(be.weight, 77);
	usleep(400000);
	publish_b(12, ctl, ids);
	assert_int_equal(ctl[2].override, 0);
	be_id_of(&dpa, b, "198.18.60", 22, &be);
	assert_int_equal(be.weight, 12);
	assert_int_equal(be.flags & LB_BACKEND_F_OVR, 0);
	assert_int_equal(be.override_until_ns, 0);
	free(slots);
}

/* ---- open-flow recount ------------------------------------------------------ */

/* A flow of client port sport pinned to backend id (its live epoch), with
 * flags and the tick it was last seen. */
static void flow_put(__u16 sport, __u32 id, __u32 flags, __u32 seen)
{
	struct lb_flow_key4 k = { .sport = htons(sport), .dport = htons(80),
				  .proto = IPPROTO_TCP };
	struct lb_backend be;
	struct lb_flow fl = { .backend_id = id, .flags = flags, .seen = seen };

	assert_int_equal(bpf_map_lookup_elem(dpa.fd[LB_M_BACKENDS], &id, &be), 0);
	fl.backend_epoch = be.epoch;
	inet_pton(AF_INET, "198.18.62.1", &k.saddr);
	inet_pton(AF_INET, "198.18.60.100", &k.daddr);
	assert_int_equal(bpf_map_update_elem(dpa.fd[LB_M_FLOWS4], &k, &fl, 0), 0);
}

/* A SYN slot (handshake waiting for its ACK) pinned to backend id, with
 * flags (0: waiting; PROMOTED: moved to the flow table) and tick. */
static void syn_put(__u32 slot, __u32 id, __u32 flags, __u32 seen)
{
	struct lb_backend be;
	struct lb_syn4 sl = { .flow = { .backend_id = id, .flags = flags,
					.seen = seen } };

	assert_int_equal(bpf_map_lookup_elem(dpa.fd[LB_M_BACKENDS], &id, &be), 0);
	sl.flow.backend_epoch = be.epoch;
	assert_int_equal(bpf_map_update_elem(dpa.fd[LB_M_SYN4], &slot, &sl, 0), 0);
}

static __u64 open_get(__u32 id)
{
	struct lb_be_load ld;

	assert_int_equal(bpf_map_lookup_elem(dpa.fd[LB_M_BE_LOAD], &id, &ld), 0);
	return lb_load_open(&ld);
}

static void open_set(__u32 id, __u64 open)
{
	struct lb_be_load ld;

	assert_int_equal(bpf_map_lookup_elem(dpa.fd[LB_M_BE_LOAD], &id, &ld), 0);
	ld.open = open;
	assert_int_equal(bpf_map_update_elem(dpa.fd[LB_M_BE_LOAD], &id, &ld, 0), 0);
}

/*
 * The counts converge on the truth: flows idle since before `since`,
 * closed flows, flows of a DOWN backend and flows of an id's previous
 * owner drop out; a count that drifted either way (a lost FIN, a
 * re-steer below 0) is corrected.
 */
static void test_open_recount(void **state)
{
	__u32 v = vip_id_of(&dpa, "198.18.60.100");
	__u32 x = be_id_of(&dpa, v, "198.18.60", 10, NULL);
	__u32 y = be_id_of(&dpa, v, "198.18.60", 11, NULL);
	__u32 z = be_id_of(&dpa, v, "198.18.60", 12, NULL);
	struct lb_vip_key k;
	__u8 addr[16];
	struct lb_flow fl;
	struct lb_flow_key4 key;

	(void)state;
	vip_key(&k, "198.18.60.100");
	/* x: 3 active (ticks 100, 105, 110), 2 idle (50, 90), 1 closed */
	flow_put(1000, x, 0, 100);
	flow_put(1001, x, 0, 105);
	flow_put(1002, x, 0, 110);
	flow_put(1003, x, 0, 50);
	flow_put(1004, x, 0, 90);
	flow_put(1005, x, LB_FLOW_F_CLOSED, 110);
	/* y: 2 active; z: 1 active, 1 of z's previous owner (epoch - 1) */
	flow_put(1010, y, 0, 108);
	flow_put(1011, y, 0, 109);
	flow_put(1020, z, 0, 110);
	flow_put(1021, z, 0, 110);
	memset(&key, 0, sizeof(key));
	key.sport = htons(1021);
	key.dport = htons(80);
	key.proto = IPPROTO_TCP;
	inet_pton(AF_INET, "198.18.62.1", &key.saddr);
	inet_pton(AF_INET, "198.18.60.100", &key.daddr);
	assert_int_equal(bpf_map_lookup_elem(dpa.fd[LB_M_FLOWS4], &key, &fl), 0);
	fl.backend_epoch--;
	assert_int_equal(bpf_map_update_elem(dpa.fd[LB_M_FLOWS4], &key, &fl, 0), 0);
	/* SYN slots: x 1 handshake waiting (tick 110), 1 waiting since
	 * before 100, 1 promoted (counted in the flow table, not twice) */
	syn_put(7, x, 0, 110);
	syn_put(LB_SYN4_SLOTS - 1, x, 0, 60);
	syn_put(9, x, LB_FLOW_F_PROMOTED, 110);
	/* drifted counts: x lost FINs (40), y below 0 after a re-steer */
	open_set(x, 40);
	open_set(y, (__u64)-2);
	open_set(z, 0);

	/* since 0: every open flow counts, whatever its tick */
	assert_int_equal(lb_open_recount(&dpa, 0, NULL, msg, sizeof(msg)), 0);
	assert_int_equal(open_get(x), 5 + 2);
	assert_int_equal(open_get(y), 2);
	assert_int_equal(open_get(z), 1);
	/* idle since before tick 100: x's two idle flows and its old
	 * handshake drop out */
	assert_int_equal(lb_open_recount(&dpa, 100, NULL, msg, sizeof(msg)), 0);
	assert_int_equal(open_get(x), 3 + 1);
	assert_int_equal(open_get(y), 2);
	/* a DOWN backend's flows died with its worker: not counted */
	be_addr(addr, "198.18.60", 11);
	assert_int_equal(lb_backend_set_state(&dpa, &k, addr, LB_AF_INET,
					      LB_BE_DOWN, 0, msg, sizeof(msg)), 0);
	assert_int_equal(lb_open_recount(&dpa, 100, NULL, msg, sizeof(msg)), 0);
	assert_int_equal(open_get(y), 0);
	assert_int_equal(open_get(x), 4);
	/* drift since the last recount is corrected again */
	open_set(x, 5);
	assert_int_equal(lb_open_recount(&dpa, 100, NULL, msg, sizeof(msg)), 0);
	assert_int_equal(open_get(x), 4);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_reads_one_vip),
		T(test_chain_broken),
		T(test_read_error_publishes_nothing),
		T(test_two_handles),
		T(test_override),
		T(test_open_recount),
	};
#undef T

	return cmocka_run_group_tests_name("lb_ops", tests, group_setup,
					   group_teardown);
}
