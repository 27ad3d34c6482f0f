// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * lb_nexthop_sync.c - re-resolves every backend's next hop and writes the
 * ones that changed; see lb_nexthop_sync.h.
 *
 * Why the write is safe for the datapath: a next hop is one 8-byte array
 * value written by one update, so a packet reads the old MAC or the new
 * one (the kernel copies the value without a lock: a packet racing the
 * copy could in theory see a mix, which costs that packet, not the flow,
 * as the old MAC already did). The backend's epoch rules are kept by
 * writing only where the slot still holds the backend we resolved
 * (address, epoch, active) under the pin-directory lock, which every
 * writer of lb_backends and lb_nexthops takes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <net/if.h>
#include <sys/socket.h>
#include <bpf/bpf.h>

#include "lb_addr.h"
#include "lb_msg.h"
#include "lb_neigh.h"
#include "lb_nexthop_sync.h"
#include "lb_ops.h"

void lb_nexthop_sync_free(struct lb_nexthop_sync *s)
{
	free(s->e);
	memset(s, 0, sizeof(*s));
}

int lb_nexthop_read(struct lb_dp *dp, struct lb_nexthop_sync *s, char *msg,
		    size_t len)
{
	char names[LB_NEXTHOP_MAX_DEVS][16];
	struct lb_backend *all;
	size_t active = 0;
	int n, err;

	memset(s, 0, sizeof(*s));
	n = lb_dp_attached(dp, names, LB_NEXTHOP_MAX_DEVS);
	for (int i = 0; i < n; i++) {
		int idx = (int)if_nametoindex(names[i]);

		if (idx > 0)
			s->ifindex[s->n_ifindex++] = idx;
	}
	all = malloc(sizeof(*all) * LB_MAX_BACKENDS);
	if (!all)
		return lb_msgf(msg, len, -ENOMEM, "out of memory");
	err = lb_backend_read_all(dp, all);
	if (err) {
		free(all);
		return lb_msgf(msg, len, err, "reading backends: %s",
			       strerror(-err));
	}
	for (__u32 id = 1; id < LB_MAX_BACKENDS; id++)
		active += !!(all[id].flags & LB_BACKEND_F_ACTIVE);
	s->e = calloc(active ? active : 1, sizeof(*s->e));
	if (!s->e) {
		free(all);
		return lb_msgf(msg, len, -ENOMEM, "out of memory");
	}
	for (__u32 id = 1; id < LB_MAX_BACKENDS && s->n < active; id++) {
		struct lb_nexthop_entry *e = &s->e[s->n];
		struct lb_vip v = { 0 };

		if (!(all[id].flags & LB_BACKEND_F_ACTIVE))
			continue;
		e->id = id;
		e->epoch = all[id].epoch;
		memcpy(e->addr, all[id].addr, 16);
		e->family = all[id].family;
		e->mode = all[id].mode;
		if (bpf_map_lookup_elem(dp->fd[LB_M_NEXTHOPS], &id, &e->old) ||
		    bpf_map_lookup_elem(dp->fd[LB_M_VIP_INFO], &all[id].vip_id,
					&v)) {
			err = lb_msgf(msg, len, -errno,
				      "reading the next hop of backend %u: %s",
				      id, strerror(errno));
			free(all);
			return err;
		}
		e->vip = v.key;
		e->now = e->old;
		s->n++;
	}
	free(all);
	return 0;
}

/* The rules lbctl backend add applies (lb_nexthop_for): out of a device
 * the balancer is attached to, and on-link for l2dsr. */
static int check_route(const struct lb_nexthop_sync *s,
		       struct lb_nexthop_entry *e,
		       const struct lb_nexthop_info *info)
{
	char a[64], dev[IF_NAMESIZE] = "?";
	bool ours = false;

	for (int i = 0; i < s->n_ifindex; i++)
		ours |= s->ifindex[i] == info->ifindex;
	lb_fmt_ip(e->addr, e->family, a, sizeof(a));
	if (!ours) {
		if_indextoname(info->ifindex, dev);
		snprintf(e->why, sizeof(e->why),
			 "%s is now reached via %s, where inferlb is not attached",
			 a, dev);
		return -ENETUNREACH;
	}
	if (e->mode == LB_FWD_L2DSR &&
	    (info->gw_family != (e->family == LB_AF_INET6 ? AF_INET6 : AF_INET) ||
	     memcmp(info->gw, e->addr, e->family == LB_AF_INET6 ? 16 : 4))) {
		snprintf(e->why, sizeof(e->why),
			 "%s is now behind a router; l2dsr needs it on the balancer's L2 segment",
			 a);
		return -EINVAL;
	}
	return 0;
}

/* Records what lookup said about e: its route, and its MAC or why not.
 * Returns the lookup's error (-EINPROGRESS: look again). */
static int note(const struct lb_nexthop_sync *s, struct lb_nexthop_entry *e,
		int err, const struct lb_nexthop_info *info)
{
	/* The route alone may already rule the next hop out, whatever its
	 * neighbour says (or whether it answers at all). */
	if (info->ifindex > 0) {
		int bad = check_route(s, e, info);

		e->ifindex = info->ifindex;
		e->gw_family = info->gw_family;
		memcpy(e->gw, info->gw, sizeof(e->gw));
		if (bad)
			err = bad;
	}
	if (!err) {
		memset(&e->now, 0, sizeof(e->now));
		memcpy(e->now.mac, info->mac, 6);
		e->now.flags = LB_NEXTHOP_F_VALID;
		e->why[0] = '\0';
	}
	e->err = err;
	return err;
}

static int look_one(struct lb_neigh *nl, const struct lb_nexthop_sync *s,
		    struct lb_nexthop_entry *e, unsigned int flags)
{
	struct lb_nexthop_info info;
	int err;

	err = lb_neigh_lookup(nl, e->family == LB_AF_INET6 ? AF_INET6 : AF_INET,
			      e->addr, 0, flags, &info, e->why, sizeof(e->why));
	return note(s, e, err, &info);
}

int lb_nexthop_look(struct lb_nexthop_sync *s, int timeout_ms, char *msg,
		    size_t len)
{
	long long deadline = (long long)lb_mono_ms() + timeout_ms;
	struct lb_neigh *nl;
	size_t pending = 0;
	int err, wait = 1;

	s->failed = 0;
	err = lb_neigh_open(&nl, msg, len);
	if (err) {
		for (size_t i = 0; i < s->n; i++) {
			s->e[i].err = err;
			snprintf(s->e[i].why, sizeof(s->e[i].why), "%s", msg);
		}
		s->failed = s->n;
		return err;
	}
	/* Every entry first, starting the resolutions it needs, so they
	 * all run at once; then only the pending ones, until the deadline
	 * (bounded by a count too, as lb_nexthop_resolve). */
	for (size_t i = 0; i < s->n; i++)
		pending += look_one(nl, s, &s->e[i],
				    LB_NEIGH_TRIGGER | LB_NEIGH_NUDGE) == -EINPROGRESS;
	for (int round = 0; pending && round <= timeout_ms + 2 &&
			    (long long)lb_mono_ms() < deadline; round++) {
		struct timespec ts = { 0, wait * 1000000L };

		nanosleep(&ts, NULL);
		if (wait < 32)
			wait *= 2;
		pending = 0;
		for (size_t i = 0; i < s->n; i++)
			if (s->e[i].err == -EINPROGRESS)
				pending += look_one(nl, s, &s->e[i], 0) == -EINPROGRESS;
	}
	lb_neigh_close(nl);
	for (size_t i = 0; i < s->n; i++) {
		struct lb_nexthop_entry *e = &s->e[i];
		size_t l = strlen(e->why);

		if (!e->err)
			continue;
		if (e->err == -EINPROGRESS) {
			e->err = -EHOSTUNREACH;
			snprintf(e->why + l, sizeof(e->why) - l,
				 " after %d ms", timeout_ms);
		}
		e->now = e->old;
		s->failed++;
	}
	return 0;
}

static bool to_write(const struct lb_nexthop_entry *e)
{
	return !e->err && memcmp(&e->now, &e->old, sizeof(e->now));
}

bool lb_nexthop_pending(const struct lb_nexthop_sync *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (to_write(&s->e[i]))
			return true;
	return false;
}

int lb_nexthop_commit(struct lb_dp *dp, struct lb_nexthop_sync *s, char *msg,
		      size_t len)
{
	s->changed = 0;
	s->raced = 0;
	for (size_t i = 0; i < s->n; i++) {
		struct lb_nexthop_entry *e = &s->e[i];
		struct lb_nexthop cur;
		struct lb_backend b;

		e->changed = false;
		if (!to_write(e))
			continue;
		if (bpf_map_lookup_elem(dp->fd[LB_M_BACKENDS], &e->id, &b) ||
		    bpf_map_lookup_elem(dp->fd[LB_M_NEXTHOPS], &e->id, &cur))
			return lb_msgf(msg, len, -errno,
				       "reading backend %u: %s", e->id,
				       strerror(errno));
		if (!(b.flags & LB_BACKEND_F_ACTIVE) || b.epoch != e->epoch ||
		    b.family != e->family || memcmp(b.addr, e->addr, 16) ||
		    memcmp(&cur, &e->old, sizeof(cur))) {
			s->raced++;
			continue;
		}
		if (bpf_map_update_elem(dp->fd[LB_M_NEXTHOPS], &e->id, &e->now,
					BPF_EXIST))
			return lb_msgf(msg, len, -errno,
				       "writing the next hop of backend %u: %s",
				       e->id, strerror(errno));
		e->changed = true;
		s->changed++;
	}
	return 0;
}

int lb_nexthop_sync(struct lb_dp *dp, int timeout_ms,
		    struct lb_nexthop_sync *s, char *msg, size_t len)
{
	int err = lb_nexthop_read(dp, s, msg, len);

	if (!err)
		err = lb_nexthop_look(s, timeout_ms, msg, len);
	if (!err)
		err = lb_nexthop_commit(dp, s, msg, len);
	return err;
}
