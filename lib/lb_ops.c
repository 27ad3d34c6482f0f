// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * lb_ops.c - VIP, backend and weight changes on the pinned datapath.
 *
 * Order of writes, so that a packet never sees a half-made change:
 *   vip add:      info, address count, filter bit, then the lb_vips key
 *                 (which is what makes the VIP reachable);
 *   vip del:      the lb_vips key first (no new flows), then its backends
 *                 (established flows stop), then its table and info;
 *   backend add:  next hop, backend entry, then the VIP's new table;
 *   backend del:  deactivate, new table (the swap waits out in-flight
 *                 packets), then clear the entry; its epoch is kept and
 *                 bumped on reuse, so old flows never follow the id.
 * A failure after the first write undoes what was written.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "inferlb.h"
#include "lb_addr.h"
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

int lb_vip_list(struct lb_dp *dp, struct lb_vip_view *out, int max)
{
	int n = 0;

	for (__u32 id = 0; id < LB_MAX_VIPS && n < max; id++) {
		struct lb_vip v;

		if (bpf_map_lookup_elem(dp->fd[LB_M_VIP_INFO], &id, &v) ||
		    !v.key.family)
			continue;
		out[n].id = id;
		out[n].info = v;
		n++;
	}
	return n;
}

/* Every backend slot (index = id) in as few syscalls as the kernel
 * allows: the agent and `lbctl show` scan all LB_MAX_BACKENDS often, and
 * one lookup per id costs milliseconds. Returns 0 or -errno. */
int lb_backend_read_all(struct lb_dp *dp, struct lb_backend *all)
{
	DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
	static __u32 keys[LB_MAX_BACKENDS];
	__u32 done = 0, out_batch = 0, n;
	void *in = NULL;
	int err = 0;

	memset(all, 0, sizeof(*all) * LB_MAX_BACKENDS);
	while (done < LB_MAX_BACKENDS) {
		n = LB_MAX_BACKENDS - done;
		err = bpf_map_lookup_batch(dp->fd[LB_M_BACKENDS], in, &out_batch,
					   keys + done, all + done, &n, &opts);
		if (err && errno != ENOENT)
			break;
		done += n;
		in = &out_batch;
		if (err) /* ENOENT: the last batch */
			return 0;
	}
	if (!err)
		return 0;
	/* an old kernel without batch ops on arrays: one by one */
	for (__u32 id = 0; id < LB_MAX_BACKENDS; id++)
		if (bpf_map_lookup_elem(dp->fd[LB_M_BACKENDS], &id, &all[id]))
			return -errno;
	return 0;
}

int lb_backend_list(struct lb_dp *dp, __u32 vip_id,
		    struct lb_backend_view *out, int max)
{
	static struct lb_backend all[LB_MAX_BACKENDS];
	int n = 0;

	if (lb_backend_read_all(dp, all))
		return 0;
	for (__u32 id = 1; id < LB_MAX_BACKENDS && n < max; id++) {
		if (!(all[id].flags & LB_BACKEND_F_ACTIVE) ||
		    all[id].vip_id != vip_id)
			continue;
		out[n].id = id;
		out[n].be = all[id];
		memset(&out[n].nh, 0, sizeof(out[n].nh));
		bpf_map_lookup_elem(dp->fd[LB_M_NEXTHOPS], &id, &out[n].nh);
		n++;
	}
	return n;
}

/* Builds the VIP's table from its active backends and weights and
 * publishes it in one step; bumps the generation shown by `lbctl show`. */
static int vip_rebuild(struct lb_dp *dp, __u32 vip_id, char *msg, size_t len)
{
	static struct lb_backend_view views[LB_MAX_BACKENDS];
	struct lb_maglev_backend *mb = NULL;
	struct lb_settings cfg = { 0 };
	struct lb_vip v;
	__u32 zero = 0, *table = NULL;
	int n, err;

	if (bpf_map_lookup_elem(dp->fd[LB_M_VIP_INFO], &vip_id, &v))
		return lb_msgf(msg, len, -errno, "VIP id %u: %s", vip_id, strerror(errno));
	bpf_map_lookup_elem(dp->fd[LB_M_SETTINGS], &zero, &cfg);
	n = lb_backend_list(dp, vip_id, views, LB_MAX_BACKENDS);
	mb = calloc(n ? n : 1, sizeof(*mb));
	table = malloc(sizeof(*table) * v.ring_size);
	if (!mb || !table) {
		err = lb_msgf(msg, len, -ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		memcpy(mb[i].addr, views[i].be.addr, 16);
		mb[i].weight = views[i].be.weight;
		mb[i].id = views[i].id;
	}
	err = lb_maglev_build(mb, n, v.ring_size, cfg.hash_seed, table);
	if (err) {
		lb_msgf(msg, len, err, "building the table failed: %s", strerror(-err));
		goto out;
	}
	err = lb_ring_install(dp->fd[LB_M_RINGS], vip_id, v.ring_size, table,
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
			if (!views[i].be.weight)
				continue;
			l.ids[l.n] = views[i].id;
			l.weights[l.n++] = views[i].be.weight;
			l.total_weight += views[i].be.weight;
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
	v->flags = (v->flags & ~LB_VIP_F_FAIL_OPEN) |
		   (o->fail_open ? LB_VIP_F_FAIL_OPEN : 0);
	v->rate = o->rate;
	v->burst = o->burst;
	v->client_rate = o->client_rate;
	v->client_burst = o->client_burst;
	v->client_plen4 = o->client_plen4;
	v->client_plen6 = o->client_plen6;
	v->bounded_eps = o->bounded_eps;
}

void lb_vip_opts_of(const struct lb_vip *v, struct lb_vip_opts *o)
{
	*o = (struct lb_vip_opts){
		.mode = v->mode, .ring_size = v->ring_size, .policy = v->policy,
		.refuse = v->refuse, .fail_open = !!(v->flags & LB_VIP_F_FAIL_OPEN),
		.rate = v->rate, .burst = v->burst, .client_rate = v->client_rate,
		.client_burst = v->client_burst, .client_plen4 = v->client_plen4,
		.client_plen6 = v->client_plen6, .bounded_eps = v->bounded_eps,
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

/* Takes a backend out: inactive, no next hop, only its epoch kept. */
static void backend_clear(struct lb_dp *dp, __u32 id)
{
	struct lb_nexthop nh = { 0 };
	struct lb_backend b = { 0 }, old;

	if (!bpf_map_lookup_elem(dp->fd[LB_M_BACKENDS], &id, &old))
		b.epoch = old.epoch;
	bpf_map_update_elem(dp->fd[LB_M_BACKENDS], &id, &b, 0);
	bpf_map_update_elem(dp->fd[LB_M_NEXTHOPS], &id, &nh, 0);
}

static void backend_deactivate(struct lb_dp *dp, __u32 id)
{
	struct lb_backend b;

	if (bpf_map_lookup_elem(dp->fd[LB_M_BACKENDS], &id, &b))
		return;
	b.flags &= ~LB_BACKEND_F_ACTIVE;
	bpf_map_update_elem(dp->fd[LB_M_BACKENDS], &id, &b, 0);
}

int lb_vip_del(struct lb_dp *dp, const struct lb_vip_key *key, char *msg,
	       size_t len)
{
	static struct lb_backend_view views[LB_MAX_BACKENDS];
	struct lb_addr_key ak = { .family = key->family };
	struct lb_vip none = { 0 };
	struct lb_vip_view v;
	__u32 count = 0;
	int n, err;

	err = vip_need(dp, key, &v, msg, len);
	if (err)
		return err;
	if (bpf_map_delete_elem(dp->fd[LB_M_VIPS], key))
		return lb_msgf(msg, len, -errno, "removing the VIP failed: %s",
			    strerror(errno));
	n = lb_backend_list(dp, v.id, views, LB_MAX_BACKENDS);
	for (int i = 0; i < n; i++)
		backend_deactivate(dp, views[i].id);
	/* the table swap-out waits for packets still using the backends */
	lb_ring_remove(dp->fd[LB_M_RINGS], v.id);
	for (int i = 0; i < n; i++)
		backend_clear(dp, views[i].id);
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

/* The id of VIP vip_id's active backend at addr, or 0. */
static __u32 backend_find(struct lb_dp *dp, __u32 vip_id, const __u8 addr[16])
{
	static struct lb_backend all[LB_MAX_BACKENDS];

	if (lb_backend_read_all(dp, all))
		return 0;
	for (__u32 id = 1; id < LB_MAX_BACKENDS; id++)
		if ((all[id].flags & LB_BACKEND_F_ACTIVE) &&
		    all[id].vip_id == vip_id && !memcmp(all[id].addr, addr, 16))
			return id;
	return 0;
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

int lb_backend_add(struct lb_dp *dp, const struct lb_vip_key *vip,
		   const __u8 addr[16], __u8 family, __u32 weight, char *msg,
		   size_t len)
{
	struct lb_backend b = { 0 }, old;
	struct lb_vip_view v;
	struct lb_nexthop nh;
	char a[64], s[80];
	__u32 id;
	int err;

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
	if (backend_find(dp, v.id, addr))
		return lb_msgf(msg, len, -EEXIST,
			    "%s is already a backend of %s; 'lbctl set-weight' changes its weight",
			    a, lb_fmt_vip(vip, s, sizeof(s)));
	if (v.info.mode == LB_FWD_IPIP) {
		static const __u8 none[16];
		struct lb_settings cfg = { 0 };
		__u32 zero = 0;

		bpf_map_lookup_elem(dp->fd[LB_M_SETTINGS], &zero, &cfg);
		if (family == LB_AF_INET ? !cfg.encap_src_v4 :
					   !memcmp(cfg.encap_src_v6, none, 16))
			return lb_msgf(msg, len, -EADDRNOTAVAIL,
				    "no IPv%d address on the attached device to send "
				    "ipip from; add one, or use a VIP with --mode l2dsr",
				    family == LB_AF_INET ? 4 : 6);
	}
	/* any inactive id; its epoch goes up, so its old flows never follow */
	for (id = 1; id < LB_MAX_BACKENDS; id++)
		if (!bpf_map_lookup_elem(dp->fd[LB_M_BACKENDS], &id, &old) &&
		    !(old.flags & LB_BACKEND_F_ACTIVE))
			break;
	if (id == LB_MAX_BACKENDS)
		return lb_msgf(msg, len, -ENOSPC, "all %u backend slots are in use",
			    LB_MAX_BACKENDS - 1);
	err = lb_nexthop_for(dp, addr, family, v.info.mode, &nh, msg, len);
	if (err)
		return err;

	memcpy(b.addr, addr, 16);
	b.epoch = old.epoch + 1 ? old.epoch + 1 : 1;
	b.vip_id = v.id;
	b.family = family;
	b.flags = LB_BACKEND_F_ACTIVE;
	b.mode = v.info.mode;
	b.weight = weight;
	backend_state_reset(dp, id);
	if (bpf_map_update_elem(dp->fd[LB_M_NEXTHOPS], &id, &nh, 0) ||
	    bpf_map_update_elem(dp->fd[LB_M_BACKENDS], &id, &b, 0)) {
		err = -errno;
		backend_clear(dp, id);
		return lb_msgf(msg, len, err, "adding backend %s failed: %s", a,
			    strerror(-err));
	}
	/* A weight-0 backend owns no slot: the table would come out the same
	 * (a slot's owner depends only on the backends that have weight), so
	 * adding many drained backends costs no rebuild each. */
	if (!weight)
		return 0;
	err = vip_rebuild(dp, v.id, msg, len);
	if (err) {
		backend_deactivate(dp, id);
		backend_clear(dp, id);
	}
	return err;
}

static int backend_need(struct lb_dp *dp, const struct lb_vip_key *vip,
			const __u8 addr[16], __u8 family, struct lb_vip_view *v,
			__u32 *id, char *msg, size_t len)
{
	char a[64], s[80];
	int err = vip_need(dp, vip, v, msg, len);

	if (err)
		return err;
	*id = backend_find(dp, v->id, addr);
	if (!*id)
		return lb_msgf(msg, len, -ENOENT, "%s is not a backend of %s",
			    lb_fmt_ip(addr, family, a, sizeof(a)),
			    lb_fmt_vip(vip, s, sizeof(s)));
	return 0;
}

int lb_backend_del(struct lb_dp *dp, const struct lb_vip_key *vip,
		   const __u8 addr[16], __u8 family, char *msg, size_t len)
{
	struct lb_vip_view v;
	struct lb_backend b, old;
	__u32 id;
	int err = backend_need(dp, vip, addr, family, &v, &id, msg, len);

	if (err)
		return err;
	if (bpf_map_lookup_elem(dp->fd[LB_M_BACKENDS], &id, &b))
		return lb_msgf(msg, len, -errno, "backend %u: %s", id, strerror(errno));
	/* First a table without it (weight 0: no slots), so no new flow is
	 * dropped on the way; the swap waits out packets still reading the
	 * old table. Then its flows stop following it. */
	old = b;
	b.weight = 0;
	if (bpf_map_update_elem(dp->fd[LB_M_BACKENDS], &id, &b, 0))
		return lb_msgf(msg, len, -errno, "backend %u: %s", id, strerror(errno));
	err = vip_rebuild(dp, v.id, msg, len);
	if (err) {
		bpf_map_update_elem(dp->fd[LB_M_BACKENDS], &id, &old, 0);
		return err;
	}
	backend_deactivate(dp, id);
	return 0;
}

int lb_backend_set_weight(struct lb_dp *dp, const struct lb_vip_key *vip,
			  const __u8 addr[16], __u8 family, __u32 weight,
			  char *msg, size_t len)
{
	struct lb_vip_view v;
	struct lb_backend b, old;
	__u32 id;
	int err;

	if (weight > LB_WEIGHT_MAX)
		return lb_msgf(msg, len, -EINVAL, "weight %u is above %u", weight,
			    LB_WEIGHT_MAX);
	err = backend_need(dp, vip, addr, family, &v, &id, msg, len);
	if (err)
		return err;
	if (bpf_map_lookup_elem(dp->fd[LB_M_BACKENDS], &id, &b))
		return lb_msgf(msg, len, -errno, "backend %u: %s", id, strerror(errno));
	old = b;
	b.weight = weight;
	if (bpf_map_update_elem(dp->fd[LB_M_BACKENDS], &id, &b, 0))
		return lb_msgf(msg, len, -errno, "backend %u: %s", id, strerror(errno));
	err = vip_rebuild(dp, v.id, msg, len);
	if (err)
		bpf_map_update_elem(dp->fd[LB_M_BACKENDS], &id, &old, 0);
	return err;
}

int lb_vip_publish(struct lb_dp *dp, __u32 vip_id,
		   const struct lb_backend_ctl *c, size_t n, bool *rebuilt,
		   char *msg, size_t len)
{
	static struct lb_backend all[LB_MAX_BACKENDS];
	bool reweigh = false;
	int err;

	*rebuilt = false;
	err = lb_backend_read_all(dp, all);
	if (err)
		return lb_msgf(msg, len, err, "reading backends: %s", strerror(-err));
	for (size_t i = 0; i < n; i++) {
		const struct lb_backend *b = &all[c[i].id % LB_MAX_BACKENDS];

		if (!c[i].id || c[i].id >= LB_MAX_BACKENDS ||
		    !(b->flags & LB_BACKEND_F_ACTIVE) || b->vip_id != vip_id)
			return lb_msgf(msg, len, -ESTALE,
				    "backend id %u is no longer a backend of VIP id %u",
				    c[i].id, vip_id);
		if (c[i].weight > LB_WEIGHT_MAX || c[i].state > LB_BE_STATE_MAX)
			return lb_msgf(msg, len, -EINVAL, "backend id %u: bad weight or state",
				    c[i].id);
		reweigh |= b->weight != c[i].weight;
	}
	/* Pass 1: weights, and every state but DOWN, before the new table:
	 * a backend coming back must not be re-steered away from as soon as
	 * the table sends it flows. */
	for (size_t i = 0; i < n; i++) {
		struct lb_backend b = all[c[i].id];

		b.weight = c[i].weight;
		b.rate = c[i].rate;
		b.burst = c[i].burst;
		if (c[i].state != LB_BE_DOWN)
			b.state = c[i].state;
		if (memcmp(&b, &all[c[i].id], sizeof(b)) &&
		    bpf_map_update_elem(dp->fd[LB_M_BACKENDS], &c[i].id, &b, 0))
			return lb_msgf(msg, len, -errno, "backend %u: %s", c[i].id,
				    strerror(errno));
		all[c[i].id] = b;
	}
	if (reweigh) {
		err = vip_rebuild(dp, vip_id, msg, len);
		if (err)
			return err;
		*rebuilt = true;
	}
	/* Pass 2: DOWN only once the live table no longer holds the backend,
	 * so its re-steered flows cannot be sent straight back to it. */
	for (size_t i = 0; i < n; i++) {
		struct lb_backend b = all[c[i].id];

		if (c[i].state != LB_BE_DOWN || b.state == LB_BE_DOWN)
			continue;
		b.state = LB_BE_DOWN;
		if (bpf_map_update_elem(dp->fd[LB_M_BACKENDS], &c[i].id, &b, 0))
			return lb_msgf(msg, len, -errno, "backend %u: %s", c[i].id,
				    strerror(errno));
	}
	return 0;
}

int lb_backend_set_state(struct lb_dp *dp, const struct lb_vip_key *vip,
			 const __u8 addr[16], __u8 family, __u8 state,
			 char *msg, size_t len)
{
	struct lb_backend_ctl c;
	struct lb_vip_view v;
	struct lb_backend b;
	bool rebuilt;
	__u32 id;
	int err;

	if (state > LB_BE_STATE_MAX)
		return lb_msgf(msg, len, -EINVAL, "unknown backend state");
	err = backend_need(dp, vip, addr, family, &v, &id, msg, len);
	if (err)
		return err;
	if (bpf_map_lookup_elem(dp->fd[LB_M_BACKENDS], &id, &b))
		return lb_msgf(msg, len, -errno, "backend %u: %s", id, strerror(errno));
	c = (struct lb_backend_ctl){ .id = id, .weight = b.weight, .rate = b.rate,
				     .burst = b.burst, .state = state };
	return lb_vip_publish(dp, v.id, &c, 1, &rebuilt, msg, len);
}

int lb_open_recount(struct lb_dp *dp, char *msg, size_t len)
{
	static struct lb_backend all[LB_MAX_BACKENDS];
	static __u64 open[LB_MAX_BACKENDS];
	const int fds[2] = { dp->fd[LB_M_FLOWS4], dp->fd[LB_M_FLOWS6] };
	enum { BATCH = 4096 };
	static __u8 keys[BATCH * sizeof(struct lb_flow_key6)];
	static struct lb_flow vals[BATCH];
	struct lb_be_load *load;
	int err = lb_backend_read_all(dp, all);

	if (err)
		return lb_msgf(msg, len, err, "reading backends: %s", strerror(-err));
	memset(open, 0, sizeof(open));
	for (int f = 0; f < 2; f++) {
		DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
		__u8 out_batch[sizeof(struct lb_flow_key6)];
		void *in = NULL;

		for (int rounds = 0; rounds < (LB_FLOW4_TABLE_SIZE / BATCH) * 4; rounds++) {
			__u32 n = BATCH;
			int rc = bpf_map_lookup_batch(fds[f], in, out_batch, keys, vals,
						      &n, &opts);

			if (rc && errno != ENOENT)
				return lb_msgf(msg, len, -errno, "reading flows: %s",
					       strerror(errno));
			for (__u32 i = 0; i < n; i++) {
				__u32 id = vals[i].backend_id;

				if (id && id < LB_MAX_BACKENDS &&
				    (all[id].flags & LB_BACKEND_F_ACTIVE) &&
				    all[id].epoch == vals[i].backend_epoch &&
				    !(vals[i].flags & LB_FLOW_F_CLOSED))
					open[id]++;
			}
			if (rc)	/* ENOENT: that was the last batch */
				break;
			in = out_batch;
		}
	}
	load = lb_dp_load_map(dp, msg, len);
	if (!load)
		return -EIO;
	/* new flows pinned between the scan and this store are lost from
	 * the count until the next recount: a bounded, self-healing error */
	for (__u32 id = 1; id < LB_MAX_BACKENDS; id++)
		if (all[id].flags & LB_BACKEND_F_ACTIVE)
			__atomic_store_n(&load[id].open, open[id], __ATOMIC_RELAXED);
	return 0;
}
