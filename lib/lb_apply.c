// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * lb_apply.c - topology -> datapath VIPs and backends (see lb_apply.h).
 *
 * Two phases. plan(): compare the file with the maps and check every
 * precondition, the deletion guard included, touching nothing. Then
 * write, in the order that keeps packets safe: delete VIPs that left the file, add new VIPs, add new
 * backends with weight 0 (they own no slot yet, so no rebuild each), one
 * publication per VIP with the final weights and states, and last delete
 * the backends that left (their weight is already 0 in the live table).
 */
#include <errno.h>
#include <bpf/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_apply.h"
#include "lb_addr.h"
#include "lb_msg.h"
#include "lb_ops.h"

/* The live backends of every VIP (by VIP id), read once. */
struct live {
	struct lb_vip_view vips[LB_MAX_VIPS];
	int n_vips;
	struct lb_backend_view *be;	/* LB_MAX_BACKENDS */
	int n_be;
	int be_first[LB_MAX_VIPS];	/* vips[i]'s backends: be[be_first[i]] */
	int be_n[LB_MAX_VIPS];		/*   .. be[be_first[i] + be_n[i] - 1] */
};

static const struct lb_vip_view *live_vip(const struct live *l,
					  const struct lb_vip_key *k)
{
	for (int i = 0; i < l->n_vips; i++)
		if (!memcmp(&l->vips[i].info.key, k, sizeof(*k)))
			return &l->vips[i];
	return NULL;
}

/* The live backend at addr of the live VIP lv (NULL: a VIP the file
 * adds, which has none yet). */
static const struct lb_backend_view *live_backend(const struct live *l,
						  const struct lb_vip_view *lv,
						  const __u8 addr[16])
{
	int v = lv ? (int)(lv - l->vips) : 0;

	for (int i = l->be_first[v]; lv && i < l->be_first[v] + l->be_n[v]; i++)
		if (!memcmp(l->be[i].be.addr, addr, 16))
			return &l->be[i];
	return NULL;
}

/* A kept backend's origin and port as the topology says now (a worker
 * that moved to another port, a static backend a source now names). The
 * datapath reads neither field, so rewriting the entry moves nothing. */
static int record_origin(struct lb_dp *dp, const struct lb_backend_view *lb,
			 __u8 origin, __u16 port, char *msg, size_t len)
{
	struct lb_backend b;

	if (lb->be.origin == origin && lb->be.port == port)
		return 0;
	if (bpf_map_lookup_elem(dp->fd[LB_M_BACKENDS], &lb->id, &b))
		return lb_msgf(msg, len, -errno, "reading backend %u failed: %s",
			       lb->id, strerror(errno));
	b.origin = origin;
	b.port = port;
	if (bpf_map_update_elem(dp->fd[LB_M_BACKENDS], &lb->id, &b, BPF_EXIST))
		return lb_msgf(msg, len, -errno, "writing backend %u failed: %s",
			       lb->id, strerror(errno));
	return 0;
}

static const struct lb_topo_vip *topo_vip(const struct lb_topo *c,
					  const struct lb_vip_key *k)
{
	for (size_t i = 0; i < c->n_vips; i++)
		if (!memcmp(&c->vips[i].key, k, sizeof(*k)))
			return &c->vips[i];
	return NULL;
}

static bool topo_has_backend(const struct lb_topo_vip *v, const __u8 addr[16])
{
	for (size_t i = 0; i < v->n_backends; i++)
		if (!memcmp(v->backends[i].addr, addr, 16))
			return true;
	return false;
}

/* Second chance as the VIP can have it: l2dsr never carries a hop. */
static bool second_chance_of(const struct lb_vip_opts *o)
{
	return o->second_chance && o->mode == LB_FWD_IPIP;
}

/* Policy and admission settings equal (mode and ring size are checked
 * by plan()); field by field, the struct has padding. */
static bool opts_equal(const struct lb_vip_opts *a, const struct lb_vip_opts *b)
{
	return a->policy == b->policy && a->refuse == b->refuse &&
	       a->fail_open == b->fail_open && a->rate == b->rate &&
	       second_chance_of(a) == second_chance_of(b) &&
	       a->pair_choice == b->pair_choice &&
	       a->burst == b->burst && a->client_rate == b->client_rate &&
	       a->client_burst == b->client_burst &&
	       a->client_plen4 == b->client_plen4 &&
	       a->client_plen6 == b->client_plen6 &&
	       a->bounded_eps == b->bounded_eps &&
	       a->ttft_target_ms == b->ttft_target_ms;
}

/* What the maps hold; a failed read fails the apply before any write
 * (an unread VIP or backend would otherwise look deleted or new). */
static int live_read(struct lb_dp *dp, struct live *l, char *msg, size_t len)
{
	l->n_vips = lb_vip_list(dp, l->vips, LB_MAX_VIPS);
	if (l->n_vips < 0)
		return lb_msgf(msg, len, l->n_vips, "reading VIPs failed: %s",
			       strerror(-l->n_vips));
	l->n_be = 0;
	for (int i = 0; i < l->n_vips; i++) {
		struct lb_backend_view *set;
		int n, err = lb_backend_list_alloc(dp, l->vips[i].id, &set, &n,
						   msg, len);

		if (err)
			return err;
		if (n > LB_MAX_BACKENDS - l->n_be)
			n = LB_MAX_BACKENDS - l->n_be;	/* not reached: ids are unique */
		memcpy(l->be + l->n_be, set, sizeof(*set) * n);
		free(set);
		l->be_first[i] = l->n_be;
		l->be_n[i] = n;
		l->n_be += n;
	}
	return 0;
}

/*
 * The deletion guard (see lb_apply.h): refuse a file that would delete
 * every VIP, or more than the allowed share of a kept VIP's backends.
 */
static int check_deletes(const struct lb_topo *topo, const struct live *l,
			 const struct lb_apply_opts *o, char *msg, size_t len)
{
	const char *hint = o->prune_hint ? o->prune_hint : "prune";
	int kept = 0;
	char s[80];

	if (o->prune)
		return 0;
	for (int i = 0; i < l->n_vips; i++) {
		const struct lb_topo_vip *tv = topo_vip(topo, &l->vips[i].info.key);
		int gone = 0;

		if (!tv)
			continue;
		kept++;
		for (int j = l->be_first[i]; j < l->be_first[i] + l->be_n[i]; j++)
			gone += !topo_has_backend(tv, l->be[j].be.addr);
		/* gone / be_n > pct / 100, in integers */
		if ((unsigned long)gone * 100 >
		    (unsigned long)o->max_backend_delete_pct * l->be_n[i])
			return lb_msgf(msg, len, -EPERM,
				    "the file would delete %d of the %d backends of "
				    "VIP %s, more than %u%%: refused, nothing changed; "
				    "check the file, or force it with %s",
				    gone, l->be_n[i],
				    lb_fmt_vip(&tv->key, s, sizeof(s)),
				    o->max_backend_delete_pct, hint);
	}
	if (l->n_vips && !kept)
		return lb_msgf(msg, len, -EPERM,
			    "the file would delete every VIP (%d live, none of "
			    "them in the file): refused, nothing changed; check "
			    "the file, or force it with %s", l->n_vips, hint);
	return 0;
}

/* The checks of one VIP of the file: same mode and ring size as the live
 * one, and a way to reach each new backend. */
static int plan_vip(struct lb_dp *dp, const struct lb_topo_vip *tv,
		    const struct lb_vip_view *lv, const struct live *l,
		    unsigned *new_be, char *msg, size_t len)
{
	char s[80], why[256];

	lb_fmt_vip(&tv->key, s, sizeof(s));
	if (lv && (lv->info.mode != tv->opts.mode ||
		   lv->info.ring_size != tv->opts.ring_size))
		return lb_msgf(msg, len, -EEXIST,
			    "VIP %s exists with another mode or ring size than "
			    "the file says; 'lbctl vip del %s' first to re-create it",
			    s, s);
	for (size_t j = 0; j < tv->n_backends; j++) {
		const struct lb_topo_backend *tb = &tv->backends[j];
		struct lb_nexthop nh;
		int err;

		if (live_backend(l, lv, tb->addr))
			continue;
		++*new_be;
		err = lb_encap_source_need(dp, tv->opts.mode, tb->family, why,
					   sizeof(why));
		if (err)
			return lb_msgf(msg, len, err, "%s: %s", s, why);
		err = lb_nexthop_for(dp, tb->addr, tb->family, tv->opts.mode, &nh,
				     msg, len);
		if (err)
			return err;
	}
	return 0;
}

/* Everything that could refuse the apply, checked before any write. */
static int plan(struct lb_dp *dp, const struct lb_topo *topo,
		const struct live *l, const struct lb_apply_opts *o,
		char *msg, size_t len)
{
	unsigned new_vips = 0, new_be = 0, gone_vips = 0;
	int err;

	err = check_deletes(topo, l, o, msg, len);
	if (err)
		return err;
	for (int i = 0; i < l->n_vips; i++)
		gone_vips += !topo_vip(topo, &l->vips[i].info.key);
	for (size_t i = 0; i < topo->n_vips; i++) {
		const struct lb_vip_view *lv = live_vip(l, &topo->vips[i].key);

		new_vips += !lv;
		err = plan_vip(dp, &topo->vips[i], lv, l, &new_be, msg, len);
		if (err)
			return err;
	}
	if (l->n_vips - gone_vips + new_vips > LB_MAX_VIPS)
		return lb_msgf(msg, len, -ENOSPC, "the file needs more than %u VIPs",
			    LB_MAX_VIPS);
	/* backends that leave free their ids only after the writes */
	if (l->n_be + new_be > LB_MAX_BACKENDS - 1)
		return lb_msgf(msg, len, -ENOSPC,
			    "the file needs %u more backend slots than are free",
			    new_be);
	return 0;
}

/* Final weights and states of one VIP, published in one step; then the
 * backends that left the file are deleted (weight 0 in the live table
 * already). */
static int publish_vip(struct lb_dp *dp, const struct lb_topo_vip *tv,
		       struct live *l, bool agent_managed,
		       struct lb_apply_result *res, char *msg, size_t len)
{
	const struct lb_vip_view *lv = live_vip(l, &tv->key);
	struct lb_publish_entry *ctl = NULL;
	struct lb_backend_view *be;
	struct lb_vip_view v;
	size_t n = 0;
	bool rebuilt;
	int nb, err;

	if (lb_vip_find(dp, &tv->key, &v))
		return lb_msgf(msg, len, -ENOENT, "VIP vanished while applying");
	err = lb_backend_list_alloc(dp, v.id, &be, &nb, msg, len);
	if (err)
		return err;
	ctl = calloc(nb ? nb : 1, sizeof(*ctl));
	if (!ctl) {
		err = lb_msgf(msg, len, -ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < nb; i++) {
		struct lb_publish_entry *c = &ctl[n++];

		*c = (struct lb_publish_entry){ .id = be[i].id,
					      .weight = be[i].be.weight,
					      .state = be[i].be.state,
					      .rate = be[i].be.rate,
					      .burst = be[i].be.burst };
		if (!topo_has_backend(tv, be[i].be.addr)) {
			c->weight = 0; /* leaving: out of the table first */
			continue;
		}
		if (agent_managed) {
			/* added by this apply: no new flows before its
			 * first poll */
			if (!live_backend(l, lv, be[i].be.addr))
				c->state = LB_BE_STARTING;
			continue;
		}
		for (size_t j = 0; j < tv->n_backends; j++)
			if (!memcmp(tv->backends[j].addr, be[i].be.addr, 16))
				c->weight = lb_topo_static_weight(&tv->backends[j]);
		c->state = LB_BE_HEALTHY;
		c->rate = 0;
		c->burst = 0;
	}
	err = lb_vip_publish(dp, v.id, ctl, n, &rebuilt, msg, len);
	if (err)
		goto out;
	res->tables_rebuilt += rebuilt;
	for (int i = 0; !err && i < nb; i++) {
		if (topo_has_backend(tv, be[i].be.addr))
			continue;
		err = lb_backend_del(dp, &tv->key, be[i].be.addr,
				     be[i].be.family, msg, len);
		res->backends_deleted += !err;
	}
out:
	free(ctl);
	free(be);
	return err;
}

/* A VIP of the file: added or its settings updated, and its new backends
 * added with weight 0 (they own no slot until publish_vip). */
static int write_vip(struct lb_dp *dp, const struct lb_topo_vip *tv,
		     const struct live *l, struct lb_apply_result *res,
		     char *msg, size_t len)
{
	const struct lb_vip_view *lv = live_vip(l, &tv->key);
	struct lb_vip_opts live;
	int err;

	if (!lv) {
		err = lb_vip_add(dp, &tv->key, &tv->opts, msg, len);
		if (err)
			return err;
		res->vips_added++;
	} else {
		lb_vip_opts_of(&lv->info, &live);
		if (!opts_equal(&live, &tv->opts)) {
			err = lb_vip_set(dp, &tv->key, &tv->opts, msg, len);
			if (err)
				return err;
			res->vips_updated++;
		}
	}
	for (size_t j = 0; j < tv->n_backends; j++) {
		const struct lb_topo_backend *tb = &tv->backends[j];
		const struct lb_backend_view *lb = live_backend(l, lv, tb->addr);

		if (lb) {
			/* who found it and where it answers: control plane
			 * only, recorded for a restarted agent */
			err = record_origin(dp, lb, lb_topo_origin_kind(tb->origin),
					    tb->port, msg, len);
			if (err)
				return err;
			continue;
		}
		err = lb_backend_add_from(dp, &tv->key, tb->addr, tb->family, 0,
					  lb_topo_origin_kind(tb->origin),
					  tb->port, msg, len);
		if (err)
			return err;
		res->backends_added++;
	}
	return 0;
}

static struct live *live_new(void)
{
	struct live *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->be = calloc(LB_MAX_BACKENDS, sizeof(*l->be));
	if (!l->be) {
		free(l);
		return NULL;
	}
	return l;
}

static void live_free(struct live *l)
{
	if (!l)
		return;
	free(l->be);
	free(l);
}

int lb_apply(struct lb_dp *dp, const struct lb_topo *topo,
	     const struct lb_apply_opts *opts, struct lb_apply_result *res,
	     char *msg, size_t len)
{
	struct live *l = live_new();
	int err = 0;

	memset(res, 0, sizeof(*res));
	if (!l)
		return lb_msgf(msg, len, -ENOMEM, "out of memory");
	err = live_read(dp, l, msg, len);
	if (!err)
		err = plan(dp, topo, l, opts, msg, len);
	/* The writes, in the order that keeps packets safe (see the top). */
	for (int i = 0; !err && i < l->n_vips; i++) {
		if (topo_vip(topo, &l->vips[i].info.key))
			continue;
		err = lb_vip_del(dp, &l->vips[i].info.key, msg, len);
		res->vips_deleted += !err;
	}
	for (size_t i = 0; !err && i < topo->n_vips; i++)
		err = write_vip(dp, &topo->vips[i], l, res, msg, len);
	for (size_t i = 0; !err && i < topo->n_vips; i++)
		err = publish_vip(dp, &topo->vips[i], l, opts->agent_managed,
				  res, msg, len);
	live_free(l);
	return err;
}
