// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * lb_announce.c - the VIP routes a routing daemon exports; see
 * lb_announce.h. Routes are read with one filtered dump per family
 * (NETLINK_GET_STRICT_CHK: the kernel sends our table only, so a host
 * with a full BGP table in main costs no more than one without) and
 * written with libnl-route.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <bpf/bpf.h>
#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/route/route.h>

#include "lb_announce.h"
#include "lb_msg.h"
#include "lb_ops.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif

/* ---- the datapath's side ---------------------------------------------- */

/* Whether the balancer runs on some device: a link pin whose XDP link is
 * still attached (a deleted device leaves a defunct link behind). */
static bool lb_announce_attached(struct lb_dp *dp)
{
	char names[64][16], path[512];
	int n = lb_dp_attached(dp, names, 64);

	for (int i = 0; i < n; i++) {
		struct bpf_link_info info;
		__u32 ilen = sizeof(info);
		int fd;

		if (snprintf(path, sizeof(path), "%s/" LB_PIN_LINK_PREFIX "%s",
			     dp->dir, names[i]) >= (int)sizeof(path))
			continue;
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		memset(&info, 0, sizeof(info));
		if (!bpf_obj_get_info_by_fd(fd, &info, &ilen) &&
		    info.type == BPF_LINK_TYPE_XDP && info.xdp.ifindex) {
			close(fd);
			return true;
		}
		close(fd);
	}
	return false;
}

static int settings_read(struct lb_dp *dp, struct lb_settings *cfg, char *msg,
			 size_t len)
{
	__u32 zero = 0;

	if (bpf_map_lookup_elem(dp->fd[LB_M_SETTINGS], &zero, cfg))
		return lb_msgf(msg, len, -errno, "cannot read lb_settings: %s",
			       strerror(errno));
	return 0;
}

int lb_announce_withdrawn(struct lb_dp *dp, bool *withdrawn, char *msg,
			  size_t len)
{
	struct lb_settings cfg;
	int err = settings_read(dp, &cfg, msg, len);

	if (!err)
		*withdrawn = cfg.flags & LB_SETTINGS_F_WITHDRAWN;
	return err;
}

int lb_announce_recorded(struct lb_dp *dp, struct lb_announce_opts *o,
			 char *msg, size_t len)
{
	struct lb_settings cfg;
	int err = settings_read(dp, &cfg, msg, len);

	*o = (struct lb_announce_opts)LB_ANNOUNCE_OPTS_DEFAULT;
	if (!err && cfg.announce_table && cfg.announce_proto) {
		o->table = cfg.announce_table;
		o->proto = cfg.announce_proto;
	}
	return err;
}

/* Before routes go into o's table: if they were last announced into
 * another table or with another protocol, withdraw ours from there, then
 * record o's, so detach and unload know where to withdraw from. */
static int record_table(struct lb_dp *dp, const struct lb_announce_opts *o,
			char *msg, size_t len)
{
	struct lb_settings cfg;
	struct lb_announce old;
	__u32 zero = 0;
	int err = settings_read(dp, &cfg, msg, len);

	if (err)
		return err;
	if (cfg.announce_table == o->table && cfg.announce_proto == o->proto)
		return 0;
	if (cfg.announce_table && cfg.announce_proto &&
	    !lb_announce_check_table(cfg.announce_table, NULL, 0) &&
	    !lb_announce_check_proto(cfg.announce_proto, NULL, 0)) {
		struct lb_announce_opts was = {
			.table = cfg.announce_table, .proto = cfg.announce_proto,
		};

		err = lb_announce_sync(NULL, &was, &old, msg, len);
		lb_announce_free(&old);
		if (err)
			return err;
	}
	cfg.announce_table = o->table;
	cfg.announce_proto = o->proto;
	if (bpf_map_update_elem(dp->fd[LB_M_SETTINGS], &zero, &cfg, 0))
		return lb_msgf(msg, len, -errno, "cannot write lb_settings: %s",
			       strerror(errno));
	return 0;
}

int lb_announce_set_withdrawn(struct lb_dp *dp, bool withdrawn, char *msg,
			      size_t len)
{
	struct lb_settings cfg;
	__u32 zero = 0;
	int err = settings_read(dp, &cfg, msg, len);

	if (err)
		return err;
	if (withdrawn)
		cfg.flags |= LB_SETTINGS_F_WITHDRAWN;
	else
		cfg.flags &= ~LB_SETTINGS_F_WITHDRAWN;
	if (bpf_map_update_elem(dp->fd[LB_M_SETTINGS], &zero, &cfg, 0))
		return lb_msgf(msg, len, -errno, "cannot write lb_settings: %s",
			       strerror(errno));
	return 0;
}

/* Whether backend b takes new flows: a weight in the table and a state
 * the datapath admits new flows to (HALF_OPEN: trial flows). */
static bool takes_new_flows(const struct lb_backend *b)
{
	return b->weight > 0 &&
	       (b->state == LB_BE_HEALTHY || b->state == LB_BE_HALF_OPEN);
}

static int addr_len(__u8 family)
{
	return family == LB_AF_INET ? 4 : 16;
}

/* Index of the full-length route to (addr, family) in an->routes,
 * appended (zeroed) if missing; -ENOMEM. */
static int route_slot(struct lb_announce *an, const __u8 addr[16],
		      __u8 family, __u8 plen, size_t *cap)
{
	struct lb_announce_route *r;

	for (size_t i = 0; i < an->n_routes; i++) {
		r = &an->routes[i];
		if (r->family == family && r->plen == plen &&
		    !memcmp(r->addr, addr, 16))
			return (int)i;
	}
	if (an->n_routes == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;

		r = realloc(an->routes, ncap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		an->routes = r;
		*cap = ncap;
	}
	r = &an->routes[an->n_routes];
	memset(r, 0, sizeof(*r));
	memcpy(r->addr, addr, 16);
	r->family = family;
	r->plen = plen;
	return (int)an->n_routes++;
}

/* Every VIP, why it may or may not be announced, and its address. */
static int plan_vips(struct lb_dp *dp, struct lb_announce *an, size_t *cap,
		     char *msg, size_t len)
{
	struct lb_vip_view *v = calloc(LB_MAX_VIPS, sizeof(*v));
	int n, err = 0;

	if (!v)
		return lb_msgf(msg, len, -ENOMEM, "out of memory");
	n = lb_vip_list(dp, v, LB_MAX_VIPS);
	if (n < 0) {
		free(v);
		return lb_msgf(msg, len, n, "cannot read the VIPs: %s",
			       strerror(-n));
	}
	an->vips = calloc(n ? n : 1, sizeof(*an->vips));
	if (!an->vips) {
		free(v);
		return lb_msgf(msg, len, -ENOMEM, "out of memory");
	}
	for (int i = 0; !err && i < n; i++) {
		struct lb_announce_vip *av = &an->vips[an->n_vips++];
		struct lb_backend_view *be = NULL;
		int nb = 0, ri;

		av->id = v[i].id;
		av->key = v[i].info.key;
		err = lb_backend_list_alloc(dp, v[i].id, &be, &nb, msg, len);
		if (err)
			break;
		av->backends = nb;
		for (int j = 0; j < nb; j++)
			av->taking += takes_new_flows(&be[j].be);
		free(be);
		av->why = !an->attached ? LB_ANN_NOT_ATTACHED :
			  an->withdrawn ? LB_ANN_WITHDRAWN :
			  !an->o.ready ? LB_ANN_NOT_READY :
			  !(v[i].info.flags & LB_VIP_F_ACTIVE) ? LB_ANN_INACTIVE :
			  !av->backends ? LB_ANN_NO_BACKENDS :
			  !av->taking ? LB_ANN_NO_TAKER : LB_ANN_OK;
		ri = route_slot(an, av->key.addr, av->key.family,
				addr_len(av->key.family) * 8, cap);
		if (ri < 0) {
			err = lb_msgf(msg, len, ri, "out of memory");
			break;
		}
		av->route = ri;
		an->routes[ri].want |= av->why == LB_ANN_OK;
	}
	free(v);
	return err;
}

/* ---- the routes' side ----------------------------------------------------- */

static int nl_errno(int nlerr)
{
	switch (-nlerr) {
	case NLE_EXIST: return -EEXIST;
	case NLE_OBJ_NOTFOUND: return -ESRCH;
	case NLE_PERM: case NLE_NOACCESS: return -EPERM;
	case NLE_NOMEM: return -ENOMEM;
	case NLE_INVAL: return -EINVAL;
	case NLE_AF_NOSUPPORT: return -EAFNOSUPPORT;
	default: return -EIO;
	}
}

static int open_sock(struct nl_sock **out, char *msg, size_t len)
{
	struct nl_sock *sk = nl_socket_alloc();
	int one = 1, err;

	if (!sk)
		return lb_msgf(msg, len, -ENOMEM, "out of memory");
	err = nl_connect(sk, NETLINK_ROUTE);
	if (err) {
		nl_socket_free(sk);
		return lb_msgf(msg, len, nl_errno(err), "netlink: %s",
			       nl_geterror(err));
	}
	/* the kernel then filters dumps by table; an older kernel sends
	 * every route, which the callback filters again */
	setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_GET_STRICT_CHK,
		   &one, sizeof(one));
	*out = sk;
	return 0;
}

struct dump_ctx {
	struct lb_announce *an;
	size_t *cap;
	int err;
};

/* One route of the dump: ours (any length) or another protocol's to a
 * full-length address, in our table; everything else is skipped. */
static int on_route(struct nl_msg *m, void *arg)
{
	struct dump_ctx *c = arg;
	struct lb_announce *an = c->an;
	struct rtnl_route *r = NULL;
	struct nl_addr *dst;
	__u8 addr[16] = { 0 }, family, plen;
	bool ours;
	int i;

	if (rtnl_route_parse(nlmsg_hdr(m), &r) < 0)
		return NL_SKIP;
	dst = rtnl_route_get_dst(r);
	if (rtnl_route_get_table(r) != an->o.table || !dst ||
	    (rtnl_route_get_family(r) != AF_INET &&
	     rtnl_route_get_family(r) != AF_INET6))
		goto skip;
	family = rtnl_route_get_family(r) == AF_INET ? LB_AF_INET : LB_AF_INET6;
	plen = nl_addr_get_prefixlen(dst);
	ours = rtnl_route_get_protocol(r) == an->o.proto;
	if (!ours && plen != addr_len(family) * 8)
		goto skip;
	if (nl_addr_get_len(dst) > 16)
		goto skip;
	memcpy(addr, nl_addr_get_binary_addr(dst), nl_addr_get_len(dst));
	i = route_slot(an, addr, family, plen, c->cap);
	if (i < 0) {
		c->err = i;
		rtnl_route_put(r);
		return NL_STOP;
	}
	if (ours) {
		an->routes[i].ours = true;
		an->routes[i].type = rtnl_route_get_type(r);
	} else {
		an->routes[i].foreign = true;
		an->routes[i].foreign_proto = rtnl_route_get_protocol(r);
	}
skip:
	rtnl_route_put(r);
	return NL_OK;
}

/* Our table's routes of one family into an->routes. A host without IPv6
 * has none of that family. */
static int dump_family(struct nl_sock *sk, int af, struct lb_announce *an,
		       size_t *cap, char *msg, size_t len)
{
	struct rtmsg rtm = {
		.rtm_family = af,
		.rtm_table = an->o.table < 256 ? an->o.table : RT_TABLE_UNSPEC,
	};
	struct dump_ctx c = { .an = an, .cap = cap };
	struct nl_msg *m = nlmsg_alloc_simple(RTM_GETROUTE, NLM_F_DUMP);
	int err;

	if (!m)
		return lb_msgf(msg, len, -ENOMEM, "out of memory");
	if (nlmsg_append(m, &rtm, sizeof(rtm), NLMSG_ALIGNTO) ||
	    nla_put_u32(m, RTA_TABLE, an->o.table)) {
		nlmsg_free(m);
		return lb_msgf(msg, len, -ENOMEM, "out of memory");
	}
	err = nl_send_auto(sk, m);
	nlmsg_free(m);
	if (err >= 0) {
		nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, on_route, &c);
		err = nl_recvmsgs_default(sk);
	}
	if (c.err)
		return lb_msgf(msg, len, c.err, "out of memory");
	if (err < 0 && af == AF_INET6 && -err == NLE_AF_NOSUPPORT)
		return 0;
	if (err < 0)
		return lb_msgf(msg, len, nl_errno(err),
			       "cannot read routing table %u: %s", an->o.table,
			       nl_geterror(err));
	return 0;
}

static struct rtnl_route *route_of(const struct lb_announce *an,
				   const struct lb_announce_route *ar, __u8 type)
{
	int af = ar->family == LB_AF_INET ? AF_INET : AF_INET6;
	struct rtnl_route *r = rtnl_route_alloc();
	struct nl_addr *dst = nl_addr_build(af, ar->addr, addr_len(ar->family));

	if (!r || !dst) {
		rtnl_route_put(r);
		nl_addr_put(dst);
		return NULL;
	}
	nl_addr_set_prefixlen(dst, ar->plen);
	rtnl_route_set_family(r, af);
	rtnl_route_set_table(r, an->o.table);
	rtnl_route_set_protocol(r, an->o.proto);
	rtnl_route_set_type(r, type);
	rtnl_route_set_scope(r, RT_SCOPE_UNIVERSE);
	rtnl_route_set_dst(r, dst);
	nl_addr_put(dst);
	return r;
}

/* ---- plan and sync -------------------------------------------------------- */

void lb_announce_free(struct lb_announce *an)
{
	free(an->vips);
	free(an->routes);
	an->vips = NULL;
	an->routes = NULL;
	an->n_vips = an->n_routes = 0;
}

static int plan(struct nl_sock *sk, struct lb_dp *dp,
		const struct lb_announce_opts *o, struct lb_announce *an,
		char *msg, size_t len)
{
	size_t cap = 0;
	int err;

	memset(an, 0, sizeof(*an));
	an->o = *o;
	if ((err = lb_announce_check_table(o->table, msg, len)) ||
	    (err = lb_announce_check_proto(o->proto, msg, len)))
		return err;
	if (dp) {
		an->attached = lb_announce_attached(dp);
		err = lb_announce_withdrawn(dp, &an->withdrawn, msg, len);
		if (!err)
			err = plan_vips(dp, an, &cap, msg, len);
	}
	if (!err)
		err = dump_family(sk, AF_INET, an, &cap, msg, len);
	if (!err)
		err = dump_family(sk, AF_INET6, an, &cap, msg, len);
	if (err) {
		lb_announce_free(an);
		return err;
	}
	/* another protocol's route to a wanted address: never ours to
	 * replace, and ours could not be added beside it */
	for (size_t i = 0; i < an->n_vips; i++) {
		struct lb_announce_route *r = &an->routes[an->vips[i].route];

		if (an->vips[i].why == LB_ANN_OK && r->foreign && !r->ours)
			an->vips[i].why = LB_ANN_CONFLICT;
	}
	for (size_t i = 0; i < an->n_routes; i++)
		if (an->routes[i].want && an->routes[i].foreign &&
		    !an->routes[i].ours) {
			an->routes[i].want = false;
			an->routes[i].conflict = true;
			an->conflicts++;
		}
	return 0;
}

int lb_announce_plan(struct lb_dp *dp, const struct lb_announce_opts *o,
		     struct lb_announce *an, char *msg, size_t len)
{
	struct nl_sock *sk;
	int err;

	memset(an, 0, sizeof(*an));
	err = open_sock(&sk, msg, len);
	if (err)
		return err;
	err = plan(sk, dp, o, an, msg, len);
	nl_socket_free(sk);
	return err;
}

static void fmt_route(const struct lb_announce_route *r, char *buf, size_t len)
{
	char a[64] = "?";

	inet_ntop(r->family == LB_AF_INET ? AF_INET : AF_INET6, r->addr, a,
		  sizeof(a));
	snprintf(buf, len, "%s/%u", a, r->plen);
}

int lb_announce_sync(struct lb_dp *dp, const struct lb_announce_opts *o,
		     struct lb_announce *an, char *msg, size_t len)
{
	struct nl_sock *sk;
	char rs[80];
	int err, first = 0;

	memset(an, 0, sizeof(*an));
	err = open_sock(&sk, msg, len);
	if (err)
		return err;
	err = plan(sk, dp, o, an, msg, len);
	if (!err && dp)
		err = record_table(dp, o, msg, len);
	if (err)
		goto out;
	/* withdrawals first, every one tried: a route that should go must
	 * not stay because another failed */
	for (size_t i = 0; i < an->n_routes; i++) {
		struct lb_announce_route *r = &an->routes[i];
		struct rtnl_route *rt;

		if (!r->ours || r->want)
			continue;
		rt = route_of(an, r, r->type);
		err = rt ? rtnl_route_delete(sk, rt, 0) : -NLE_NOMEM;
		rtnl_route_put(rt);
		if (err < 0 && -err != NLE_OBJ_NOTFOUND) {
			fmt_route(r, rs, sizeof(rs));
			if (!first)
				first = lb_msgf(msg, len, nl_errno(err),
						"cannot remove the route to %s from table %u: %s",
						rs, an->o.table, nl_geterror(err));
			continue;
		}
		r->ours = false;
		r->changed = true;
		an->removed++;
	}
	for (size_t i = 0; !first && i < an->n_routes; i++) {
		struct lb_announce_route *r = &an->routes[i];
		struct rtnl_route *rt;

		if (r->ours || !r->want)
			continue;
		rt = route_of(an, r, RTN_BLACKHOLE);
		err = rt ? rtnl_route_add(sk, rt, NLM_F_EXCL) : -NLE_NOMEM;
		rtnl_route_put(rt);
		if (err < 0) {
			fmt_route(r, rs, sizeof(rs));
			first = lb_msgf(msg, len, nl_errno(err),
					"cannot add the route to %s in table %u: %s",
					rs, an->o.table, nl_geterror(err));
			break;
		}
		r->ours = true;
		r->type = RTN_BLACKHOLE;
		r->changed = true;
		an->added++;
	}
	for (size_t i = 0; !first && i < an->n_routes; i++) {
		struct lb_announce_route *r = &an->routes[i];

		if (!r->conflict)
			continue;
		fmt_route(r, rs, sizeof(rs));
		first = lb_msgf(msg, len, -EEXIST,
				"table %u already holds a route to %s of protocol "
				"%u (not ours, left alone): not announced",
				an->o.table, rs, r->foreign_proto);
	}
	err = first;
out:
	nl_socket_free(sk);
	return err;
}
