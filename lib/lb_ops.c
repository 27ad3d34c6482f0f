// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * lb_ops.c - VIP, backend and weight changes on the pinned datapath.
 *
 * Order of writes, so that a packet never sees a half-made change:
 *   vip add:      info, address count, filter bit, then the lb_vips key
 *                 (which is what makes the VIP reachable);
 *   vip del:      the lb_vips key first (no new flows), then its backends
 *                 (established flows stop), then its table and info;
 *   backend add:  a free slot, next hop, the entry linked into its VIP's
 *                 chain while inactive, made active, then the VIP's new
 *                 table;
 *   backend del:  weight 0 and a new table (the swap waits out in-flight
 *                 packets), deactivate, unlink from the chain, then clear
 *                 the entry onto the free list; its epoch is kept and
 *                 bumped on reuse, so old flows never follow the id.
 * A failure after the first write undoes what was written.
 *
 * A change to one backend reads its VIP's backends only, through the
 * VIP's chain (lb_chain.c), and works on a list the call allocates: no
 * call keeps static state, so two handles (or threads with one handle
 * each) can use the library at once. A table is only ever built from a
 * VIP's whole list: any failed read fails the call before a write.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <net/if.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "inferlb.h"
#include "lb_addr.h"
#include "lb_chain.h"
#include "lb_filter.h"
#include "lb_maglev.h"
#include "lb_neigh.h"
#include "lb_msg.h"
#include "lb_ops.h"
#include "lb_ring.h"

#define NEXTHOP_TIMEOUT_MS 2000

/* A reused id starts its counters from zero, on every CPU. */
static void percpu_reset(int map_fd, __u32 id, size_t value_size)
{
	int ncpu = libbpf_num_possible_cpus();
	void *zeros;

	if (ncpu <= 0)
		return;
	zeros = calloc(ncpu, (value_size + 7) & ~(size_t)7);
	if (zeros)
		bpf_map_update_elem(map_fd, &id, zeros, 0);
	free(zeros);
}

/* ... and its shared state (buckets, open flows) too. */
static void zero_entry(int map_fd, __u32 id, size_t value_size)
{
	__u8 zeros[sizeof(struct lb_vip_backends)] = { 0 };

	if (value_size <= sizeof(zeros))
		bpf_map_update_elem(map_fd, &id, zeros, 0);
}

/* Everything a VIP or backend id carries over from a previous owner. */
static void vip_state_reset(struct lb_dp *dp, __u32 id)
{
	percpu_reset(dp->fd[LB_M_VIP_STATS], id, sizeof(struct lb_counters));
	percpu_reset(dp->fd[LB_M_VIP_REFUSED], id, sizeof(struct lb_refusals));
	zero_entry(dp->fd[LB_M_VIP_TB], id, sizeof(struct lb_tb));
	zero_entry(dp->fd[LB_M_VIP_BACKENDS], id, sizeof(struct lb_vip_backends));
}

static void backend_state_reset(struct lb_dp *dp, __u32 id)
{
	percpu_reset(dp->fd[LB_M_BE_STATS], id, sizeof(struct lb_counters));
	percpu_reset(dp->fd[LB_M_BE_REFUSED], id, sizeof(struct lb_refusals));
	zero_entry(dp->fd[LB_M_BE_TB], id, sizeof(struct lb_tb));
	zero_entry(dp->fd[LB_M_BE_LOAD], id, sizeof(struct lb_be_load));
}

int lb_vip_find(struct lb_dp *dp, const struct lb_vip_key *key,
		struct lb_vip_view *out)
{
	struct lb_vip_ref ref;

	if (bpf_map_lookup_elem(dp->fd[LB_M_VIPS], key, &ref))
		return -ENOENT;
	out->id = ref.id;
	if (bpf_map_lookup_elem(dp->fd[LB_M_VIP_INFO], &ref.id, &out->info))
		return -errno;
	return 0;
}

/* All VIPs, by id. A failed read fails the call: a short list would read
 * as VIPs that are gone. */
int lb_vip_list(struct lb_dp *dp, struct lb_vip_view *out, int max)
{
	int n = 0;

	for (__u32 id = 0; id < LB_MAX_VIPS && n < max; id++) {
		struct lb_vip v;

		if (bpf_map_lookup_elem(dp->fd[LB_M_VIP_INFO], &id, &v))
			return -errno;
		if (!v.key.family)
			continue;
		out[n].id = id;
		out[n].info = v;
		n++;
	}
	return n;
}

/* Every backend slot (index = id) in as few syscalls as the kernel
 * allows: `lbctl show` and the agent's start read all LB_MAX_BACKENDS, and
 * one lookup per id costs milliseconds. Returns 0 or -errno; never a
 * partial table (a short batch is -EIO). */
int lb_backend_read_all(struct lb_dp *dp, struct lb_backend *all)
{
	DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 done = 0, out_batch = 0, n, *keys;
	void *in = NULL;
	int err = 0, e = 0;

	keys = malloc(sizeof(*keys) * LB_MAX_BACKENDS);
	if (!keys)
		return -ENOMEM;
	memset(all, 0, sizeof(*all) * LB_MAX_BACKENDS);
	dp->backend_reads += LB_MAX_BACKENDS;
	while (done < LB_MAX_BACKENDS) {
		n = LB_MAX_BACKENDS - done;
		err = bpf_map_lookup_batch(dp->fd[LB_M_BACKENDS], in, &out_batch,
					   keys + done, all + done, &n, &opts);
		e = err ? errno : 0;
		if (err && e != ENOENT)
			break;
		done += n;
		in = &out_batch;
		if (err) /* ENOENT: the last batch */
			break;
	}
	free(keys);
	if (!err || e == ENOENT)
		return done == LB_MAX_BACKENDS ? 0 : -EIO;
	if (done)	/* batches work, but one failed midway */
		return -e;
	/* an old kernel without batch ops on arrays: one by one */
	for (__u32 id = 0; id < LB_MAX_BACKENDS; id++)
		if (bpf_map_lookup_elem(dp->fd[LB_M_BACKENDS], &id, &all[id]))
			return -errno;
	return 0;
}

int lb_backend_list_alloc(struct lb_dp *dp, __u32 vip_id,
			  struct lb_backend_view **out, int *n, char *msg,
			  size_t len)
{
	return lb_chain_read(dp, vip_id, out, n, msg, len);
}

int lb_backend_list(struct lb_dp *dp, __u32 vip_id,
		    struct lb_backend_view *out, int max)
{
	struct lb_backend_view *set;
	int n, err = lb_chain_read(dp, vip_id, &set, &n, NULL, 0);

	if (err)
		return err;
	if (n > max)
		n = max;
	for (int i = 0; i < n; i++) {
		out[i] = set[i];
		bpf_map_lookup_elem(dp->fd[LB_M_NEXTHOPS], &out[i].id, &out[i].nh);
	}
	free(set);
	return n;
}

/* Builds the VIP's table from set[0..n-1] (all its active backends, with
 * the weights to publish) and publishes it in one step; bumps the
 * generation shown by `lbctl show`. set is the whole VIP as read: a read
 * that failed never gets here, so no table lacks a backend it should have. */
static int vip_rebuild(struct lb_dp *dp, __u32 vip_id,
		       const struct lb_backend_view *set, int n, char *msg,
		       size_t len)
{
	struct lb_maglev_backend *mb = NULL;
	struct lb_settings cfg = { 0 };
	struct lb_vip v;
	__u32 zero = 0, *table = NULL;
	int err;

	if (bpf_map_lookup_elem(dp->fd[LB_M_VIP_INFO], &vip_id, &v))
		return lb_msgf(msg, len, -errno, "VIP id %u: %s", vip_id, strerror(errno));
	if (bpf_map_lookup_elem(dp->fd[LB_M_SETTINGS], &zero, &cfg))
		return lb_msgf(msg, len, -errno, "reading settings: %s", strerror(errno));
	mb = calloc(n ? n : 1, sizeof(*mb));
	table = malloc(sizeof(*table) * v.ring_size);
	if (!mb || !table) {
		err = lb_msgf(msg, len, -ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		memcpy(mb[i].addr, set[i].be.addr, 16);
		mb[i].weight = set[i].be.weight;
		mb[i].id = set[i].id;
	}
	err = lb_maglev_build(mb, n, v.ring_size, cfg.hash_seed, table);
	if (err) {
		lb_msgf(msg, len, err, "building the table failed: %s", strerror(-err));
		goto out;
	}
	err = lb_ring_install_at(dp->fd[LB_M_RINGS], dp->dir, vip_id,
				 v.ring_size, table,
				 dp->rb.fd >= 0 ? &dp->rb : NULL);
	if (err) {
		lb_msgf(msg, len, err, "publishing the table failed: %s", strerror(-err));
		goto out;
	}
	{
		/* the weighted list rr, least-conn and bounded load walk;
		 * written after the table, so it never names a backend the
		 * live table does not hold yet */
		struct lb_vip_backends l = { 0 };

		for (int i = 0; i < n && l.n < LB_VIP_LIST_MAX; i++) {
			if (!set[i].be.weight)
				continue;
			l.ids[l.n] = set[i].id;
			l.weights[l.n++] = set[i].be.weight;
			l.total_weight += set[i].be.weight;
		}
		bpf_map_update_elem(dp->fd[LB_M_VIP_BACKENDS], &vip_id, &l, 0);
	}
	v.ring_gen++;
	bpf_map_update_elem(dp->fd[LB_M_VIP_INFO], &vip_id, &v, 0);
out:
	free(mb);
	free(table);
	return err;
}

static int vip_need(struct lb_dp *dp, const struct lb_vip_key *key,
		    struct lb_vip_view *v, char *msg, size_t len)
{
	char s[80];

	if (lb_vip_find(dp, key, v))
		return lb_msgf(msg, len, -ENOENT,
			    "no VIP %s; add it with 'lbctl vip add %s'",
			    lb_fmt_vip(key, s, sizeof(s)), s);
	return 0;
}

/* The admission and policy settings of a VIP, as lb_vip_opts says. */
static void opts_apply(struct lb_vip *v, const struct lb_vip_opts *o)
{
	v->policy = o->policy;
	v->refuse = o->refuse;
	v->flags = (v->flags & ~(LB_VIP_F_FAIL_OPEN | LB_VIP_F_SECOND_CHANCE |
				 LB_VIP_F_PAIR_CHOICE)) |
		   (o->fail_open ? LB_VIP_F_FAIL_OPEN : 0) |
		   /* l2dsr has no header to carry a second hop */
		   (o->second_chance && v->mode == LB_FWD_IPIP ?
			    LB_VIP_F_SECOND_CHANCE : 0) |
		   (o->pair_choice ? LB_VIP_F_PAIR_CHOICE : 0);
	v->rate = o->rate;
	v->burst = o->burst;
	v->client_rate = o->client_rate;
	v->client_burst = o->client_burst;
	v->client_plen4 = o->client_plen4;
	v->client_plen6 = o->client_plen6;
	v->bounded_eps = o->bounded_eps;
	v->ttft_target_ms = o->ttft_target_ms;
}

void lb_vip_opts_of(const struct lb_vip *v, struct lb_vip_opts *o)
{
	*o = (struct lb_vip_opts){
		.mode = v->mode, .ring_size = v->ring_size, .policy = v->policy,
		.refuse = v->refuse, .fail_open = !!(v->flags & LB_VIP_F_FAIL_OPEN),
		.second_chance = !!(v->flags & LB_VIP_F_SECOND_CHANCE),
		.pair_choice = !!(v->flags & LB_VIP_F_PAIR_CHOICE),
		.rate = v->rate, .burst = v->burst, .client_rate = v->client_rate,
		.client_burst = v->client_burst, .client_plen4 = v->client_plen4,
		.client_plen6 = v->client_plen6, .bounded_eps = v->bounded_eps,
		.ttft_target_ms = v->ttft_target_ms,
	};
}

static int opts_check(const struct lb_vip_opts *o, char *msg, size_t len)
{
	if (o->policy > LB_POL_MAX)
		return lb_msgf(msg, len, -EINVAL, "unknown policy");
	if (o->refuse > LB_REFUSE_DROP)
		return lb_msgf(msg, len, -EINVAL, "unknown refusal");
	if (o->client_plen4 > 32 || o->client_plen6 > 128)
		return lb_msgf(msg, len, -EINVAL, "client prefix too long");
	if (o->ttft_target_ms > LB_TTFT_TARGET_MAX_MS)
		return lb_msgf(msg, len, -EINVAL, "TTFT target above %u ms",
			       LB_TTFT_TARGET_MAX_MS);
	return 0;
}

int lb_vip_set(struct lb_dp *dp, const struct lb_vip_key *key,
	       const struct lb_vip_opts *o, char *msg, size_t len)
{
	struct lb_vip_view v;
	int err = opts_check(o, msg, len);

	if (err)
		return err;
	err = vip_need(dp, key, &v, msg, len);
	if (err)
		return err;
	opts_apply(&v.info, o);
	if (bpf_map_update_elem(dp->fd[LB_M_VIP_INFO], &v.id, &v.info, 0))
		return lb_msgf(msg, len, -errno, "updating the VIP failed: %s",
			       strerror(errno));
	return 0;
}

int lb_vip_add(struct lb_dp *dp, const struct lb_vip_key *key,
	       const struct lb_vip_opts *o, char *msg, size_t len)
{
	__u8 mode = o->mode;
	__u32 ring_size = o->ring_size;
	struct lb_vip v = { .key = *key, .ring_size = ring_size, .mode = mode,
			    .flags = LB_VIP_F_ACTIVE };
	struct lb_addr_key ak = { .family = key->family };
	struct lb_vip_ref ref;
	struct lb_vip_view old;
	__u32 id, count = 0;
	char s[80];
	int err;

	if (mode != LB_FWD_IPIP && mode != LB_FWD_L2DSR)
		return lb_msgf(msg, len, -EINVAL, "unknown forwarding mode");
	if (!lb_ring_size_ok(ring_size))
		return lb_msgf(msg, len, -EINVAL,
			    "ring size %u is not a prime in [%u, %u]", ring_size,
			    LB_RING_SIZE_MIN, LB_RING_SIZE_MAX);
	err = opts_check(o, msg, len);
	if (err)
		return err;
	opts_apply(&v, o);
	if (!lb_vip_find(dp, key, &old))
		return lb_msgf(msg, len, -EEXIST,
			    "VIP %s exists; 'lbctl vip del %s' first to re-create it",
			    lb_fmt_vip(key, s, sizeof(s)), s);
	for (id = 0; id < LB_MAX_VIPS; id++) {
		struct lb_vip cur;

		if (!bpf_map_lookup_elem(dp->fd[LB_M_VIP_INFO], &id, &cur) &&
		    !cur.key.family)
			break;
	}
	if (id == LB_MAX_VIPS)
		return lb_msgf(msg, len, -ENOSPC, "all %u VIP slots are in use",
			    LB_MAX_VIPS);
	memcpy(ak.addr, key->addr, 16);
	bpf_map_lookup_elem(dp->fd[LB_M_VIP_ADDRS], &ak, &count);
	count++;
	ref.id = id;
	vip_state_reset(dp, id);
	err = bpf_map_update_elem(dp->fd[LB_M_VIP_INFO], &id, &v, 0) ? -errno : 0;
	if (!err)
		err = bpf_map_update_elem(dp->fd[LB_M_VIP_ADDRS], &ak, &count, 0) ?
			      -errno : 0;
	if (!err)
		err = lb_filter_add(dp->fd[LB_M_VIP_FILTER], key->family, key->addr);
	if (!err)
		err = bpf_map_update_elem(dp->fd[LB_M_VIPS], key, &ref, BPF_NOEXIST) ?
			      -errno : 0;
	if (err) {
		struct lb_vip none = { 0 };

		bpf_map_update_elem(dp->fd[LB_M_VIP_INFO], &id, &none, 0);
		if (count == 1)
			bpf_map_delete_elem(dp->fd[LB_M_VIP_ADDRS], &ak);
		else {
			count--;
			bpf_map_update_elem(dp->fd[LB_M_VIP_ADDRS], &ak, &count, 0);
		}
		lb_filter_rebuild(dp->fd[LB_M_VIP_FILTER], dp->fd[LB_M_VIP_ADDRS]);
		return lb_msgf(msg, len, err, "adding VIP %s failed: %s",
			    lb_fmt_vip(key, s, sizeof(s)), strerror(-err));
	}
	return 0;
}


/* lb_be_write, with the message a failed change gives. */
static int be_store(struct lb_dp *dp, __u32 id, const struct lb_backend *b,
		    char *msg, size_t len)
{
	int err = lb_be_write(dp, id, b);

	if (err)
		lb_msgf(msg, len, err, "backend %u: %s", id, strerror(-err));
	return err;
}

/* Takes a deactivated backend out: no next hop, its slot cleared (only
 * its epoch kept) and on the free list. */
static void backend_clear(struct lb_dp *dp, __u32 id)
{
	struct lb_nexthop nh = { 0 };

	lb_free_push(dp, id);
	bpf_map_update_elem(dp->fd[LB_M_NEXTHOPS], &id, &nh, 0);
}

static int backend_deactivate(struct lb_dp *dp, __u32 id)
{
	struct lb_backend b;
	int err = lb_be_read(dp, id, &b);

	if (err)
		return err;
	b.flags &= ~LB_BACKEND_F_ACTIVE;
	return lb_be_write(dp, id, &b);
}

int lb_vip_del(struct lb_dp *dp, const struct lb_vip_key *key, char *msg,
	       size_t len)
{
	struct lb_addr_key ak = { .family = key->family };
	struct lb_backend_view *set;
	struct lb_vip none = { 0 };
	struct lb_vip_view v;
	__u32 count = 0;
	int n, err;

	err = vip_need(dp, key, &v, msg, len);
	if (err)
		return err;
	/* its backends first: a read error then changes nothing */
	err = lb_chain_read(dp, v.id, &set, &n, msg, len);
	if (err)
		return err;
	if (bpf_map_delete_elem(dp->fd[LB_M_VIPS], key)) {
		err = lb_msgf(msg, len, -errno, "removing the VIP failed: %s",
			      strerror(errno));
		free(set);
		return err;
	}
	for (int i = 0; i < n; i++)
		backend_deactivate(dp, set[i].id);
	/* the table swap-out waits for packets still using the backends */
	lb_ring_remove_at(dp->fd[LB_M_RINGS], dp->dir, v.id);
	for (int i = 0; i < n; i++)
		backend_clear(dp, set[i].id);
	free(set);
	bpf_map_update_elem(dp->fd[LB_M_VIP_INFO], &v.id, &none, 0);
	memcpy(ak.addr, key->addr, 16);
	if (!bpf_map_lookup_elem(dp->fd[LB_M_VIP_ADDRS], &ak, &count) && count > 1) {
		count--;
		bpf_map_update_elem(dp->fd[LB_M_VIP_ADDRS], &ak, &count, 0);
	} else {
		bpf_map_delete_elem(dp->fd[LB_M_VIP_ADDRS], &ak);
	}
	lb_filter_rebuild(dp->fd[LB_M_VIP_FILTER], dp->fd[LB_M_VIP_ADDRS]);
	return 0;
}

/* The index in set[0..n-1] of the backend at addr, or -1. */
static int set_find(const struct lb_backend_view *set, int n, const __u8 addr[16])
{
	for (int i = 0; i < n; i++)
		if (!memcmp(set[i].be.addr, addr, 16))
			return i;
	return -1;
}

/* The index in set (sorted by id) of backend id, or -1. */
static int set_find_id(const struct lb_backend_view *set, int n, __u32 id)
{
	int lo = 0, hi = n - 1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;

		if (set[mid].id == id)
			return mid;
		if (set[mid].id < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* The next hop towards a backend, on a device inferlb is attached to. */
int lb_nexthop_for(struct lb_dp *dp, const __u8 addr[16], __u8 family,
		   __u8 mode, struct lb_nexthop *nh, char *msg, size_t len)
{
	char names[16][16], dev[IF_NAMESIZE] = "?", a[64], why[256] = "";
	struct lb_nexthop_info info;
	int n = lb_dp_attached(dp, names, 16), err;
	bool ours = false;

	lb_fmt_ip(addr, family, a, sizeof(a));
	err = lb_nexthop_resolve(family == LB_AF_INET6 ? AF_INET6 : AF_INET,
				 addr, 0, NEXTHOP_TIMEOUT_MS, &info, why,
				 sizeof(why));
	if (err)
		return lb_msgf(msg, len, err, "cannot resolve the next hop of %s: %s",
			    a, why[0] ? why : strerror(-err));
	if_indextoname(info.ifindex, dev);
	for (int i = 0; i < n; i++)
		ours |= !strcmp(names[i], dev);
	if (!ours)
		return lb_msgf(msg, len, -ENETUNREACH,
			    "%s is reached via %s, where inferlb is not attached; "
			    "run 'lbctl attach %s' first", a, dev, dev);
	if (mode == LB_FWD_L2DSR &&
	    memcmp(info.gw, addr, family == LB_AF_INET6 ? 16 : 4))
		return lb_msgf(msg, len, -EINVAL,
			    "l2dsr needs backends on the balancer's L2 segment; "
			    "%s is behind a router", a);
	memset(nh, 0, sizeof(*nh));
	memcpy(nh->mac, info.mac, 6);
	nh->flags = LB_NEXTHOP_F_VALID;
	return 0;
}

int lb_encap_source_need(struct lb_dp *dp, __u8 mode, __u8 family, char *msg,
			 size_t len)
{
	static const __u8 none[16];
	struct lb_settings cfg = { 0 };
	__u32 zero = 0;

	if (mode != LB_FWD_IPIP)
		return 0;
	if (bpf_map_lookup_elem(dp->fd[LB_M_SETTINGS], &zero, &cfg))
		return lb_msgf(msg, len, -errno, "reading lb_settings failed: %s",
			       strerror(errno));
	if (family == LB_AF_INET ? !cfg.encap_src_v4 :
				   !memcmp(cfg.encap_src_v6, none, 16))
		return lb_msgf(msg, len, -EADDRNOTAVAIL,
			       "no IPv%d address on the attached device to send "
			       "ipip from; add one, or use a VIP with --mode l2dsr",
			       family == LB_AF_INET ? 4 : 6);
	return 0;
}

int lb_backend_add(struct lb_dp *dp, const struct lb_vip_key *vip,
		   const __u8 addr[16], __u8 family, __u32 weight, char *msg,
		   size_t len)
{
	return lb_backend_add_from(dp, vip, addr, family, weight,
				   LB_ORIGIN_STATIC, 0, msg, len);
}

int lb_backend_add_from(struct lb_dp *dp, const struct lb_vip_key *vip,
			const __u8 addr[16], __u8 family, __u32 weight,
			__u8 origin, __u16 port, char *msg, size_t len)
{
	struct lb_backend_view *set = NULL, *grown;
	struct lb_backend b = { 0 }, old;
	struct lb_vip_view v;
	struct lb_nexthop nh;
	char a[64], s[80];
	__u32 id;
	int n, err;

	err = vip_need(dp, vip, &v, msg, len);
	if (err)
		return err;
	lb_fmt_ip(addr, family, a, sizeof(a));
	if (family != v.info.key.family)
		return lb_msgf(msg, len, -EINVAL,
			    "backend %s and VIP %s are of different address families",
			    a, lb_fmt_vip(vip, s, sizeof(s)));
	if (weight > LB_WEIGHT_MAX)
		return lb_msgf(msg, len, -EINVAL, "weight %u is above %u", weight,
			    LB_WEIGHT_MAX);
	err = lb_chain_read(dp, v.id, &set, &n, msg, len);
	if (err)
		return err;
	if (set_find(set, n, addr) >= 0) {
		err = lb_msgf(msg, len, -EEXIST,
			      "%s is already a backend of %s; 'lbctl set-weight' changes its weight",
			      a, lb_fmt_vip(vip, s, sizeof(s)));
		goto out;
	}
	err = lb_encap_source_need(dp, v.info.mode, family, msg, len);
	if (!err)
		err = lb_nexthop_for(dp, addr, family, v.info.mode, &nh, msg, len);
	if (err)
		goto out;
	grown = realloc(set, sizeof(*set) * (n + 1));
	if (!grown) {
		err = lb_msgf(msg, len, -ENOMEM, "out of memory");
		goto out;
	}
	set = grown;
	/* a free id; its epoch goes up, so its old flows never follow */
	err = lb_free_pop(dp, &id, &old, msg, len);
	if (err)
		goto out;

	memcpy(b.addr, addr, 16);
	b.epoch = old.epoch + 1 ? old.epoch + 1 : 1;
	b.vip_id = v.id;
	b.family = family;
	b.mode = v.info.mode;
	b.weight = weight;
	b.origin = origin;
	b.port = port;
	backend_state_reset(dp, id);
	if (bpf_map_update_elem(dp->fd[LB_M_NEXTHOPS], &id, &nh, 0)) {
		err = lb_msgf(msg, len, -errno, "adding backend %s failed: %s", a,
			      strerror(errno));
		backend_clear(dp, id);
		goto out;
	}
	/* in its VIP's chain first, then active: never active and unlisted */
	err = lb_chain_link(dp, &b, id, msg, len);
	if (err) {
		backend_clear(dp, id);
		goto out;
	}
	/* A weight-0 backend owns no slot: the table would come out the same
	 * (a slot's owner depends only on the backends that have weight), so
	 * adding many drained backends costs no rebuild each. */
	if (!weight)
		goto out;
	set[n] = (struct lb_backend_view){ .id = id, .be = b };
	err = vip_rebuild(dp, v.id, set, n + 1, msg, len);
	if (err) {
		/* never in a table: out again, inactive first */
		if (!backend_deactivate(dp, id) &&
		    !lb_chain_unlink(dp, v.id, id, set, n + 1, NULL, 0))
			backend_clear(dp, id);
	}
out:
	free(set);
	return err;
}

/* VIP vip, its backends (set, n: the caller frees set) and the index of
 * the one at addr in them. */
static int backend_need(struct lb_dp *dp, const struct lb_vip_key *vip,
			const __u8 addr[16], __u8 family, struct lb_vip_view *v,
			struct lb_backend_view **set, int *n, int *idx,
			char *msg, size_t len)
{
	char a[64], s[80];
	int err = vip_need(dp, vip, v, msg, len);

	*set = NULL;
	if (err)
		return err;
	err = lb_chain_read(dp, v->id, set, n, msg, len);
	if (err)
		return err;
	*idx = set_find(*set, *n, addr);
	if (*idx < 0) {
		free(*set);
		*set = NULL;
		return lb_msgf(msg, len, -ENOENT, "%s is not a backend of %s",
			    lb_fmt_ip(addr, family, a, sizeof(a)),
			    lb_fmt_vip(vip, s, sizeof(s)));
	}
	return 0;
}

int lb_backend_del(struct lb_dp *dp, const struct lb_vip_key *vip,
		   const __u8 addr[16], __u8 family, char *msg, size_t len)
{
	struct lb_backend_view *set;
	struct lb_vip_view v;
	struct lb_backend old;
	int n, i, err;
	__u32 id;

	err = backend_need(dp, vip, addr, family, &v, &set, &n, &i, msg, len);
	if (err)
		return err;
	id = set[i].id;
	/* First a table without it (weight 0: no slots), so no new flow is
	 * dropped on the way; the swap waits out packets still reading the
	 * old table. Then its flows stop following it. */
	old = set[i].be;
	set[i].be.weight = 0;
	err = be_store(dp, id, &set[i].be, msg, len);
	if (err)
		goto out;
	err = vip_rebuild(dp, v.id, set, n, msg, len);
	if (err) {
		lb_be_write(dp, id, &old);
		goto out;
	}
	/* out of the chain only once inactive: a crash in between leaves an
	 * inactive entry that the next reader repairs, never a live one lost */
	if (!backend_deactivate(dp, id) &&
	    !lb_chain_unlink(dp, v.id, id, set, n, NULL, 0))
		backend_clear(dp, id);
out:
	free(set);
	return err;
}

__u64 lb_boottime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

__u8 lb_backend_override(const struct lb_backend *b, __u64 now_ns)
{
	if (b->override_until_ns && now_ns >= b->override_until_ns)
		return 0;
	return b->flags & LB_BACKEND_F_OVR;
}

/* An operator's override of flag (weight or state) from now, for
 * override_for_ns (0: until released). One expiry covers both overrides:
 * the latest hand-made change sets it. */
static void override_set(struct lb_backend *b, __u8 flag, __u64 override_for_ns)
{
	b->flags |= flag;
	b->override_until_ns = override_for_ns ? lb_boottime_ns() + override_for_ns : 0;
}

/* Stores set[i] (changed from old), then rebuilds the VIP's table from
 * the set when the change can move slots; a failed rebuild puts old back,
 * so a change is never left half made. */
static int store_and_rebuild(struct lb_dp *dp, __u32 vip_id,
			     struct lb_backend_view *set, int n, int i,
			     const struct lb_backend *old, bool rebuild,
			     char *msg, size_t len)
{
	int err = be_store(dp, set[i].id, &set[i].be, msg, len);

	if (err || !rebuild)
		return err;
	err = vip_rebuild(dp, vip_id, set, n, msg, len);
	if (err)
		lb_be_write(dp, set[i].id, old);
	return err;
}

int lb_backend_set_weight(struct lb_dp *dp, const struct lb_vip_key *vip,
			  const __u8 addr[16], __u8 family, __u32 weight,
			  __u64 override_for_ns, char *msg, size_t len)
{
	struct lb_backend_view *set;
	struct lb_vip_view v;
	struct lb_backend old;
	int n, i, err;

	if (weight > LB_WEIGHT_MAX)
		return lb_msgf(msg, len, -EINVAL, "weight %u is above %u", weight,
			    LB_WEIGHT_MAX);
	err = backend_need(dp, vip, addr, family, &v, &set, &n, &i, msg, len);
	if (err)
		return err;
	old = set[i].be;
	set[i].be.weight = weight;
	override_set(&set[i].be, LB_BACKEND_F_OVR_WEIGHT, override_for_ns);
	err = store_and_rebuild(dp, v.id, set, n, i, &old, true, msg, len);
	free(set);
	return err;
}

int lb_backend_set_state(struct lb_dp *dp, const struct lb_vip_key *vip,
			 const __u8 addr[16], __u8 family, __u8 state,
			 __u64 override_for_ns, char *msg, size_t len)
{
	struct lb_backend_view *set;
	struct lb_vip_view v;
	int n, i, err;

	if (state > LB_BE_STATE_MAX)
		return lb_msgf(msg, len, -EINVAL, "unknown backend state");
	err = backend_need(dp, vip, addr, family, &v, &set, &n, &i, msg, len);
	if (err)
		return err;
	/* the state only, as lbctl always did: the datapath itself refuses
	 * new flows to a backend whose state takes none, and the table is
	 * left to the next publish (see lb_vip_publish) */
	set[i].be.state = state;
	override_set(&set[i].be, LB_BACKEND_F_OVR_STATE, override_for_ns);
	err = be_store(dp, set[i].id, &set[i].be, msg, len);
	free(set);
	return err;
}

int lb_backend_release(struct lb_dp *dp, const struct lb_vip_key *vip,
		       const __u8 addr[16], __u8 family, char *msg, size_t len)
{
	struct lb_backend_view *set;
	struct lb_vip_view v;
	char a[64];
	int n, i, err;

	err = backend_need(dp, vip, addr, family, &v, &set, &n, &i, msg, len);
	if (err)
		return err;
	lb_fmt_ip(addr, family, a, sizeof(a));
	if (!(set[i].be.flags & LB_BACKEND_F_OVR) && !set[i].be.override_until_ns) {
		lb_msgf(msg, len, 0, "%s has no override; nothing to release", a);
		goto out;
	}
	set[i].be.flags &= ~LB_BACKEND_F_OVR;
	set[i].be.override_until_ns = 0;
	err = be_store(dp, set[i].id, &set[i].be, msg, len);
	if (!err) {
		lb_msgf(msg, len, 0, "%s released: lb-agent sets its weight and "
			"state again from its next round", a);
		err = 1;
	}
out:
	free(set);
	return err;
}

int lb_backend_find(struct lb_dp *dp, const struct lb_vip_key *vip,
		    const __u8 addr[16], __u8 family, struct lb_backend_view *out,
		    char *msg, size_t len)
{
	struct lb_backend_view *set;
	struct lb_vip_view v;
	int n, i, err;

	err = backend_need(dp, vip, addr, family, &v, &set, &n, &i, msg, len);
	if (err)
		return err;
	*out = set[i];
	free(set);
	return 0;
}

int lb_backend_drain(struct lb_dp *dp, const struct lb_vip_key *vip,
		     const __u8 addr[16], __u8 family,
		     struct lb_backend_view *was, char *msg, size_t len)
{
	struct lb_backend_view *set;
	struct lb_vip_view v;
	struct lb_backend old;
	int n, i, err;

	err = backend_need(dp, vip, addr, family, &v, &set, &n, &i, msg, len);
	if (err)
		return err;
	old = set[i].be;
	*was = set[i];
	/* The state is an override until released, so lb-agent keeps it
	 * (and, by the publish rule, weight 0 with it). Weight 0 too, and a
	 * table without the backend: by state alone the table-based
	 * policies would still pick it first and then try other candidates,
	 * and without an agent nothing would ever rebuild the table. */
	set[i].be.state = LB_BE_DRAINING;
	set[i].be.weight = 0;
	override_set(&set[i].be, LB_BACKEND_F_OVR_STATE, 0);
	/* with weight 0 before, it owned no slot: the table is the same */
	err = store_and_rebuild(dp, v.id, set, n, i, &old, old.weight != 0,
				msg, len);
	free(set);
	return err;
}

/*
 * The weight and state one entry gets from a publish, given the
 * operator's overrides still in force (expired ones are cleared here).
 */
static void publish_entry(struct lb_backend *b, struct lb_publish_entry *c,
			  __u64 now)
{
	__u8 ovr = lb_backend_override(b, now);

	if (!ovr && (b->flags & LB_BACKEND_F_OVR)) {	/* ran out */
		b->flags &= ~LB_BACKEND_F_OVR;
		b->override_until_ns = 0;
	}
	c->override = ovr;
	if (!(ovr & LB_BACKEND_F_OVR_WEIGHT))
		b->weight = (ovr & LB_BACKEND_F_OVR_STATE) && b->state != LB_BE_HEALTHY ?
				    0 : c->weight;
	b->rate = c->rate;
	b->burst = c->burst;
}

/* Where each entry of c is in set (idx[i]), after checking every entry:
 * still a backend of the VIP, weight and state in range. */
static int publish_match(const struct lb_backend_view *set, int nset,
			 const struct lb_publish_entry *c, size_t n,
			 __u32 vip_id, int *idx, char *msg, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		idx[i] = set_find_id(set, nset, c[i].id);
		if (idx[i] < 0)
			return lb_msgf(msg, len, -ESTALE,
				       "backend id %u is no longer a backend of VIP id %u",
				       c[i].id, vip_id);
		if (c[i].weight > LB_WEIGHT_MAX || c[i].state > LB_BE_STATE_MAX)
			return lb_msgf(msg, len, -EINVAL,
				       "backend id %u: bad weight or state", c[i].id);
	}
	return 0;
}

int lb_vip_publish(struct lb_dp *dp, __u32 vip_id, struct lb_publish_entry *c,
		   size_t n, bool *rebuilt, char *msg, size_t len)
{
	struct lb_backend_view *set;
	__u64 now = lb_boottime_ns();
	bool reweigh = false;
	int *idx = NULL, nset, err;

	*rebuilt = false;
	err = lb_chain_read(dp, vip_id, &set, &nset, msg, len);
	if (err)
		return err;
	idx = calloc(n ? n : 1, sizeof(*idx));
	if (!idx) {
		err = lb_msgf(msg, len, -ENOMEM, "out of memory");
		goto out;
	}
	err = publish_match(set, nset, c, n, vip_id, idx, msg, len);
	if (err)
		goto out;
	/* Pass 1: weights, and every state but DOWN, before the new table:
	 * a backend coming back must not be re-steered away from as soon as
	 * the table sends it flows. An operator's override keeps its value. */
	for (size_t i = 0; i < n; i++) {
		struct lb_backend *cur = &set[idx[i]].be, b = *cur;

		publish_entry(&b, &c[i], now);
		if (!(b.flags & LB_BACKEND_F_OVR_STATE) && c[i].state != LB_BE_DOWN)
			b.state = c[i].state;
		reweigh |= b.weight != cur->weight;
		if (memcmp(&b, cur, sizeof(b))) {
			err = be_store(dp, c[i].id, &b, msg, len);
			if (err)
				goto out;
		}
		*cur = b;
	}
	if (reweigh) {
		err = vip_rebuild(dp, vip_id, set, nset, msg, len);
		if (err)
			goto out;
		*rebuilt = true;
	}
	/* Pass 2: DOWN only once the live table no longer holds the backend,
	 * so its re-steered flows cannot be sent straight back to it. */
	for (size_t i = 0; i < n; i++) {
		struct lb_backend b = set[idx[i]].be;

		if (c[i].state != LB_BE_DOWN || b.state == LB_BE_DOWN ||
		    (b.flags & LB_BACKEND_F_OVR_STATE))
			continue;
		b.state = LB_BE_DOWN;
		err = be_store(dp, c[i].id, &b, msg, len);
		if (err)
			goto out;
		set[idx[i]].be = b;
	}
	/* what is live now, overrides included, for the caller's records */
	for (size_t i = 0; i < n; i++) {
		c[i].weight = set[idx[i]].be.weight;
		c[i].state = set[idx[i]].be.state;
	}
out:
	free(idx);
	free(set);
	return err;
}

/* What the open-flow counts read: the flow tables, and the SYN slots,
 * whose waiting handshakes count as open too (the datapath counts them
 * from the SYN on). flow_off: where the struct lb_flow sits in a value. */
static const struct recount_src {
	enum lb_map_idx map;
	__u32 value_size, flow_off, max_entries;
} recount_srcs[] = {
	{ LB_M_FLOWS4, sizeof(struct lb_flow), 0, LB_FLOW4_TABLE_SIZE },
	{ LB_M_FLOWS6, sizeof(struct lb_flow), 0, LB_FLOW6_TABLE_SIZE },
	{ LB_M_SYN4, sizeof(struct lb_syn4), offsetof(struct lb_syn4, flow),
	  LB_SYN4_SLOTS },
	{ LB_M_SYN6, sizeof(struct lb_syn6), offsetof(struct lb_syn6, flow),
	  LB_SYN6_SLOTS },
};

/* Adds the open flows of one table (src) to open[], by backend. */
static int scan_table(struct lb_dp *dp, const struct recount_src *src,
		      const struct lb_backend *all, __u32 since, __u64 *open,
		      __u64 *entries, void *keys, void *vals, __u32 batch,
		      char *msg, size_t len)
{
	DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u8 out_batch[sizeof(struct lb_flow_key6)];
	void *in = NULL;

	/* bounded: a hash table changing under the walk may repeat keys */
	for (__u32 rounds = 0; rounds < (src->max_entries / batch + 1) * 4; rounds++) {
		__u32 n = batch;
		int rc = bpf_map_lookup_batch(dp->fd[src->map], in, out_batch,
					      keys, vals, &n, &opts);

		if (rc && errno != ENOENT)
			return lb_msgf(msg, len, -errno, "reading %s: %s",
				       lb_map_name(src->map), strerror(errno));
		*entries += n;
		for (__u32 i = 0; i < n; i++) {
			struct lb_flow fl;
			__u32 id;

			memcpy(&fl, (__u8 *)vals + (size_t)i * src->value_size +
					    src->flow_off, sizeof(fl));
			id = fl.backend_id;
			if (id && id < LB_MAX_BACKENDS &&
			    (all[id].flags & LB_BACKEND_F_ACTIVE) &&
			    all[id].epoch == fl.backend_epoch &&
			    all[id].state != LB_BE_DOWN &&
			    /* promoted SYN slots are counted in lb_flows* */
			    !(fl.flags & (LB_FLOW_F_CLOSED | LB_FLOW_F_PROMOTED)) &&
			    fl.seen >= since)
				open[id]++;
		}
		if (rc)	/* ENOENT: that was the last batch */
			return 0;
		in = out_batch;
	}
	return 0;
}

/*
 * Counts into open[id] the open flows of every backend in all[] (indexed
 * by id) from the flow tables and the SYN slots, by the one rule of
 * lb_open_recount and lb_backend_open_flows (lb_ops.h): not closed (nor a
 * promoted SYN slot), of the backend's current epoch, the backend active
 * and not DOWN, seen at least since.
 */
static int open_scan(struct lb_dp *dp, const struct lb_backend *all,
		     __u32 since, __u64 *open, struct lb_flow_occupancy *occ,
		     char *msg, size_t len)
{
	enum { BATCH = 4096 };
	void *keys = malloc(BATCH * sizeof(struct lb_flow_key6));
	void *vals = malloc(BATCH * sizeof(struct lb_syn6));
	int err = 0;

	_Static_assert(sizeof(struct lb_syn6) >= sizeof(struct lb_syn4) &&
		       sizeof(struct lb_syn6) >= sizeof(struct lb_flow),
		       "value buffer fits every scanned table");
	if (!keys || !vals) {
		err = lb_msgf(msg, len, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t t = 0; t < sizeof(recount_srcs) / sizeof(recount_srcs[0]); t++) {
		__u64 entries = 0;

		err = scan_table(dp, &recount_srcs[t], all, since, open, &entries,
				 keys, vals, BATCH, msg, len);
		if (err)
			break;
		/* the flow tables (t 0, 1; the SYN slots are arrays: always
		 * all there) */
		if (occ && t < 2) {
			occ->entries[t] = entries;
			occ->capacity[t] = recount_srcs[t].max_entries;
		}
	}
out:
	free(keys);
	free(vals);
	return err;
}

int lb_open_recount(struct lb_dp *dp, __u32 since,
		    struct lb_flow_occupancy *occ, char *msg, size_t len)
{
	struct lb_backend *all = malloc(sizeof(*all) * LB_MAX_BACKENDS);
	__u64 *open = calloc(LB_MAX_BACKENDS, sizeof(*open));
	__u64 *before = malloc(LB_MAX_BACKENDS * sizeof(*before));
	struct lb_be_load *load;
	int err;

	if (!all || !open || !before) {
		err = lb_msgf(msg, len, -ENOMEM, "out of memory");
		goto out;
	}
	load = lb_dp_load_map(dp, msg, len);
	if (!load) {
		err = -EIO;
		goto out;
	}
	err = lb_backend_read_all(dp, all);
	if (err) {
		lb_msgf(msg, len, err, "reading backends: %s", strerror(-err));
		goto out;
	}
	for (__u32 id = 1; id < LB_MAX_BACKENDS; id++)
		before[id] = __atomic_load_n(&load[id].open, __ATOMIC_RELAXED);
	err = open_scan(dp, all, since, open, occ, msg, len);
	if (err)
		goto out;
	/* a correction, not a store: what the datapath added or took off
	 * while the tables were read stays */
	for (__u32 id = 1; id < LB_MAX_BACKENDS; id++)
		if ((all[id].flags & LB_BACKEND_F_ACTIVE) && open[id] != before[id])
			__atomic_fetch_add(&load[id].open, open[id] - before[id],
					   __ATOMIC_RELAXED);
out:
	free(all);
	free(open);
	free(before);
	return err;
}

int lb_backend_open_flows(struct lb_dp *dp, __u32 id, __u32 since,
			  __u64 *open, char *msg, size_t len)
{
	struct lb_backend *all = malloc(sizeof(*all) * LB_MAX_BACKENDS);
	__u64 *count = calloc(LB_MAX_BACKENDS, sizeof(*count));
	int err;

	*open = 0;
	if (!all || !count) {
		err = lb_msgf(msg, len, -ENOMEM, "out of memory");
		goto out;
	}
	if (!id || id >= LB_MAX_BACKENDS) {
		err = lb_msgf(msg, len, -EINVAL, "no backend id %u", id);
		goto out;
	}
	err = lb_backend_read_all(dp, all);
	if (err) {
		lb_msgf(msg, len, err, "reading backends: %s", strerror(-err));
		goto out;
	}
	err = open_scan(dp, all, since, count, NULL, msg, len);
	if (!err)
		*open = count[id];
out:
	free(all);
	free(count);
	return err;
}

__u64 lb_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__u32 lb_tick_now(void)
{
	return lb_tick_of_ms(lb_mono_ms());
}

int lb_tick_set(struct lb_dp *dp, __u32 tick, char *msg, size_t len)
{
	struct lb_settings cfg;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(dp->fd[LB_M_SETTINGS], &zero, &cfg))
		return lb_msgf(msg, len, -errno, "reading lb_settings: %s",
			       strerror(errno));
	if (cfg.tick == tick)
		return 0;
	cfg.tick = tick;
	if (bpf_map_update_elem(dp->fd[LB_M_SETTINGS], &zero, &cfg, 0))
		return lb_msgf(msg, len, -errno, "writing lb_settings: %s",
			       strerror(errno));
	return 0;
}
