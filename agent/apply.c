// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * apply.c - config file -> datapath VIPs and backends (see apply.h).
 *
 * Two phases. plan(): compare the file with the maps and check every
 * precondition, touching nothing. Then write, in the order that keeps
 * packets safe: delete VIPs that left the file, add new VIPs, add new
 * backends with weight 0 (they own no slot yet, so no rebuild each), one
 * publication per VIP with the final weights and states, and last delete
 * the backends that left (their weight is already 0 in the live table).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "apply.h"
#include "lb_addr.h"
#include "lb_msg.h"
#include "lb_ops.h"

/* The live backends of every VIP (by VIP id), read once. */
struct live {
	struct lb_vip_view vips[LB_MAX_VIPS];
	int n_vips;
	struct lb_backend_view *be;	/* LB_MAX_BACKENDS */
	int n_be;
};

static const struct lb_vip_view *live_vip(const struct live *l,
					  const struct lb_vip_key *k)
{
	for (int i = 0; i < l->n_vips; i++)
		if (!memcmp(&l->vips[i].info.key, k, sizeof(*k)))
			return &l->vips[i];
	return NULL;
}

static const struct lb_backend_view *live_backend(const struct live *l,
						  __u32 vip_id,
						  const __u8 addr[16])
{
	for (int i = 0; i < l->n_be; i++)
		if (l->be[i].be.vip_id == vip_id &&
		    !memcmp(l->be[i].be.addr, addr, 16))
			return &l->be[i];
	return NULL;
}

static const struct lb_conf_vip *conf_vip(const struct lb_conf *c,
					  const struct lb_vip_key *k)
{
	for (size_t i = 0; i < c->n_vips; i++)
		if (!memcmp(&c->vips[i].key, k, sizeof(*k)))
			return &c->vips[i];
	return NULL;
}

static bool conf_has_backend(const struct lb_conf_vip *v, const __u8 addr[16])
{
	for (size_t i = 0; i < v->n_backends; i++)
		if (!memcmp(v->backends[i].addr, addr, 16))
			return true;
	return false;
}

/* Policy and admission settings equal (mode and ring size are checked
 * by plan()); field by field, the struct has padding. */
static bool opts_equal(const struct lb_vip_opts *a, const struct lb_vip_opts *b)
{
	return a->policy == b->policy && a->refuse == b->refuse &&
	       a->fail_open == b->fail_open && a->rate == b->rate &&
	       a->burst == b->burst && a->client_rate == b->client_rate &&
	       a->client_burst == b->client_burst &&
	       a->client_plen4 == b->client_plen4 &&
	       a->client_plen6 == b->client_plen6 &&
	       a->bounded_eps == b->bounded_eps;
}

/* What the maps hold; a failed read fails the apply before any write. */
static int live_read(struct lb_dp *dp, struct live *l, char *msg, size_t len)
{
	l->n_vips = lb_vip_list(dp, l->vips, LB_MAX_VIPS);
	if (l->n_vips < 0)
		return lb_msgf(msg, len, l->n_vips, "reading VIPs failed: %s",
			       strerror(-l->n_vips));
	l->n_be = 0;
	for (int i = 0; i < l->n_vips; i++) {
		int n = lb_backend_list(dp, l->vips[i].id, l->be + l->n_be,
					LB_MAX_BACKENDS - l->n_be);

		if (n < 0)
			return lb_msgf(msg, len, n, "reading backends failed: %s",
				       strerror(-n));
		l->n_be += n;
	}
	return 0;
}

/* Everything that could refuse the apply, checked before any write. */
static int plan(struct lb_dp *dp, const struct lb_conf *conf,
		const struct live *l, char *msg, size_t len)
{
	static const __u8 none[16];
	unsigned new_vips = 0, new_be = 0, gone_vips = 0;
	struct lb_settings cfg = { 0 };
	__u32 zero = 0;
	char s[80], a[64];

	bpf_map_lookup_elem(dp->fd[LB_M_SETTINGS], &zero, &cfg);
	for (int i = 0; i < l->n_vips; i++)
		gone_vips += !conf_vip(conf, &l->vips[i].info.key);
	for (size_t i = 0; i < conf->n_vips; i++) {
		const struct lb_conf_vip *cv = &conf->vips[i];
		const struct lb_vip_view *lv = live_vip(l, &cv->key);

		lb_fmt_vip(&cv->key, s, sizeof(s));
		if (lv && (lv->info.mode != cv->mode ||
			   lv->info.ring_size != cv->ring_size))
			return lb_msgf(msg, len, -EEXIST,
				    "VIP %s exists with another mode or ring size than "
				    "the file says; 'lbctl vip del %s' first to re-create it",
				    s, s);
		new_vips += !lv;
		for (size_t j = 0; j < cv->n_backends; j++) {
			const struct lb_conf_backend *cb = &cv->backends[j];
			struct lb_nexthop nh;
			int err;

			if (lv && live_backend(l, lv->id, cb->addr))
				continue;
			new_be++;
			lb_fmt_ip(cb->addr, cb->family, a, sizeof(a));
			if (cv->mode == LB_FWD_IPIP &&
			    (cb->family == LB_AF_INET ? !cfg.encap_src_v4 :
			     !memcmp(cfg.encap_src_v6, none, 16)))
				return lb_msgf(msg, len, -EADDRNOTAVAIL,
					    "%s: no IPv%d address on the attached device "
					    "to send ipip from; add one, or use mode l2dsr",
					    s, cb->family == LB_AF_INET ? 4 : 6);
			err = lb_nexthop_for(dp, cb->addr, cb->family, cv->mode,
					     &nh, msg, len);
			if (err)
				return err;
		}
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

/* Final weights and states of one VIP, published in one step. */
static int publish_vip(struct lb_dp *dp, const struct lb_conf_vip *cv,
		       const struct live *l, bool agent_managed,
		       struct lb_apply_result *res,
		       char *msg, size_t len)
{
	static struct lb_backend_view be[LB_MAX_BACKENDS];
	static struct lb_backend_ctl ctl[LB_MAX_BACKENDS];
	struct lb_vip_view v;
	size_t n = 0;
	bool rebuilt;
	int nb, err;

	if (lb_vip_find(dp, &cv->key, &v))
		return lb_msgf(msg, len, -ENOENT, "VIP vanished while applying");
	nb = lb_backend_list(dp, v.id, be, LB_MAX_BACKENDS);
	if (nb < 0)
		return lb_msgf(msg, len, nb, "reading backends failed: %s",
			       strerror(-nb));
	for (int i = 0; i < nb; i++) {
		struct lb_backend_ctl *c = &ctl[n++];

		*c = (struct lb_backend_ctl){ .id = be[i].id,
					      .weight = be[i].be.weight,
					      .state = be[i].be.state,
					      .rate = be[i].be.rate,
					      .burst = be[i].be.burst };
		if (!conf_has_backend(cv, be[i].be.addr)) {
			c->weight = 0; /* leaving: out of the table first */
			continue;
		}
		if (agent_managed) {
			const struct lb_vip_view *lv = live_vip(l, &cv->key);

			/* added by this apply: no new flows before its
			 * first poll */
			if (!lv || !live_backend(l, lv->id, be[i].be.addr))
				c->state = LB_BE_STARTING;
			continue;
		}
		for (size_t j = 0; j < cv->n_backends; j++)
			if (!memcmp(cv->backends[j].addr, be[i].be.addr, 16))
				c->weight = lb_conf_static_weight(&cv->backends[j]);
		c->state = LB_BE_HEALTHY;
		c->rate = 0;
		c->burst = 0;
	}
	err = lb_vip_publish(dp, v.id, ctl, n, &rebuilt, msg, len);
	if (err)
		return err;
	res->tables_rebuilt += rebuilt;
	for (int i = 0; i < nb; i++) {
		if (conf_has_backend(cv, be[i].be.addr))
			continue;
		err = lb_backend_del(dp, &cv->key, be[i].be.addr,
				     be[i].be.family, msg, len);
		if (err)
			return err;
		res->backends_deleted++;
	}
	return 0;
}

int lb_apply(struct lb_dp *dp, const struct lb_conf *conf, bool agent_managed,
	     struct lb_apply_result *res, char *msg, size_t len)
{
	struct live *l = calloc(1, sizeof(*l));
	int err;

	memset(res, 0, sizeof(*res));
	if (l)
		l->be = calloc(LB_MAX_BACKENDS, sizeof(*l->be));
	if (!l || !l->be) {
		err = lb_msgf(msg, len, -ENOMEM, "out of memory");
		goto out;
	}
	err = live_read(dp, l, msg, len);
	if (!err)
		err = plan(dp, conf, l, msg, len);
	if (err)
		goto out;

	for (int i = 0; i < l->n_vips; i++) {
		if (conf_vip(conf, &l->vips[i].info.key))
			continue;
		err = lb_vip_del(dp, &l->vips[i].info.key, msg, len);
		if (err)
			goto out;
		res->vips_deleted++;
	}
	for (size_t i = 0; i < conf->n_vips; i++) {
		const struct lb_conf_vip *cv = &conf->vips[i];
		const struct lb_vip_view *lv = live_vip(l, &cv->key);

		if (!lv) {
			err = lb_vip_add(dp, &cv->key, &cv->opts, msg, len);
			if (err)
				goto out;
			res->vips_added++;
		} else {
			struct lb_vip_opts live;

			lb_vip_opts_of(&lv->info, &live);
			if (!opts_equal(&live, &cv->opts)) {
				err = lb_vip_set(dp, &cv->key, &cv->opts, msg, len);
				if (err)
					goto out;
				res->vips_updated++;
			}
		}
		for (size_t j = 0; j < cv->n_backends; j++) {
			const struct lb_conf_backend *cb = &cv->backends[j];

			if (lv && live_backend(l, lv->id, cb->addr))
				continue;
			err = lb_backend_add(dp, &cv->key, cb->addr, cb->family, 0,
					     msg, len);
			if (err)
				goto out;
			res->backends_added++;
		}
	}
	for (size_t i = 0; i < conf->n_vips; i++) {
		err = publish_vip(dp, &conf->vips[i], l, agent_managed, res, msg,
				  len);
		if (err)
			goto out;
	}
out:
	if (l)
		free(l->be);
	free(l);
	return err;
}
