// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * nexthops.c - lb-agent's next-hop watcher; see nexthops.h.
 *
 * Which notifications count (the others would make a busy host re-sync
 * all the time):
 *   - a neighbour entry of a backend's next hop (device, address) that
 *     was deleted, holds another MAC than lb_nexthops, or went STALE (the
 *     sync then has the kernel probe it); FAILED only if the last sync
 *     resolved it (the MAC we forward to stopped answering: the sync asks
 *     again by broadcast, which finds a MAC changed silently), so a dead
 *     backend is asked again every LB_NH_PERIOD_MS, not in a loop; never
 *     INCOMPLETE: the resolution under way notifies again;
 *   - any route change (rare, and which backends it moves is the
 *     kernel's lookup to say);
 *   - a link change of a device a next hop leaves through;
 *   - lost notifications (socket overrun): anything may have changed.
 */
#include <errno.h>
#include <sys/poll.h>	/* <poll.h> would be agent/poll.h */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>

#include "agent.h"
#include "lb_addr.h"
#include "lb_msg.h"
#include "lb_nexthop_sync.h"
#include "lb_ops.h"
#include "nexthops.h"

/* drain at most this many receive calls per wake-up: then re-sync */
#define MAX_RECVS 256

struct lb_nexthops {
	struct lb_agent *a;
	pthread_t thread;
	int stop_fd;			/* eventfd: stop */
	struct nl_sock *sk;		/* notifications */
	/* the thread's own */
	struct lb_nexthop_sync last;	/* the last sync: what events match */
	bool dirty;			/* a relevant event since the last sync */
	/* read by /metrics (atomics) */
	uint64_t syncs, changes, failures, events;
};

static void count(uint64_t *c, uint64_t n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

/* ---- which notifications matter --------------------------------------- */

static bool neigh_relevant(struct lb_nexthops *w, struct nlmsghdr *nlh)
{
	struct ndmsg *ndm = nlmsg_data(nlh);
	struct nlattr *tb[NDA_MAX + 1];
	const __u8 *mac = NULL;
	size_t alen;

	if (nlmsg_parse(nlh, sizeof(*ndm), tb, NDA_MAX, NULL) < 0 ||
	    (ndm->ndm_family != AF_INET && ndm->ndm_family != AF_INET6) ||
	    !tb[NDA_DST])
		return false;
	alen = ndm->ndm_family == AF_INET ? 4 : 16;
	if ((size_t)nla_len(tb[NDA_DST]) != alen)
		return false;
	if (tb[NDA_LLADDR] && nla_len(tb[NDA_LLADDR]) == 6)
		mac = nla_data(tb[NDA_LLADDR]);
	for (size_t i = 0; i < w->last.n; i++) {
		const struct lb_nexthop_entry *e = &w->last.e[i];

		if (e->ifindex != ndm->ndm_ifindex ||
		    e->gw_family != ndm->ndm_family ||
		    memcmp(e->gw, nla_data(tb[NDA_DST]), alen))
			continue;
		if (nlh->nlmsg_type == RTM_DELNEIGH)
			return true;
		if (ndm->ndm_state & NUD_FAILED)
			return !e->err;
		if (ndm->ndm_state & NUD_INCOMPLETE)
			return false;
		if (ndm->ndm_state & NUD_STALE)
			return true;
		if (mac && (e->err || memcmp(mac, e->now.mac, 6)))
			return true;
	}
	return false;
}

static bool link_relevant(struct lb_nexthops *w, struct nlmsghdr *nlh)
{
	struct ifinfomsg *ifi = nlmsg_data(nlh);

	if (nlmsg_datalen(nlh) < (int)sizeof(*ifi))
		return false;
	for (size_t i = 0; i < w->last.n; i++)
		if (w->last.e[i].ifindex == ifi->ifi_index)
			return true;
	for (int i = 0; i < w->last.n_ifindex; i++)
		if (w->last.ifindex[i] == ifi->ifi_index)
			return true;
	return false;
}

static int on_event(struct nl_msg *msg, void *arg)
{
	struct lb_nexthops *w = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	bool hit = false;

	switch (nlh->nlmsg_type) {
	case RTM_NEWNEIGH:
	case RTM_DELNEIGH:
		hit = nlmsg_datalen(nlh) >= (int)sizeof(struct ndmsg) &&
		      neigh_relevant(w, nlh);
		break;
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		/* IPv6 also announces cached (cloned) routes: not a change */
		hit = nlmsg_datalen(nlh) >= (int)sizeof(struct rtmsg) &&
		      !(((struct rtmsg *)nlmsg_data(nlh))->rtm_flags &
			RTM_F_CLONED);
		break;
	case RTM_NEWLINK:
	case RTM_DELLINK:
		hit = link_relevant(w, nlh);
		break;
	}
	if (hit) {
		w->dirty = true;
		count(&w->events, 1);
	}
	return NL_OK;
}

/* Reads every notification queued (non-blocking socket). */
static void drain(struct lb_nexthops *w)
{
	for (int i = 0; i < MAX_RECVS; i++) {
		int err = nl_recvmsgs_default(w->sk);

		if (err == -NLE_AGAIN)
			return;
		if (err < 0) {
			/* ENOBUFS (libnl: NLE_NOMEM): some were lost */
			w->dirty = true;
			return;
		}
	}
	w->dirty = true;	/* still more: a sync covers them all */
}

/* ---- one sync ------------------------------------------------------------- */

/* the failure of e in the last sync, if it was the same one */
static bool failed_before(const struct lb_nexthops *w,
			  const struct lb_nexthop_entry *e)
{
	for (size_t i = 0; i < w->last.n; i++) {
		const struct lb_nexthop_entry *o = &w->last.e[i];

		if (o->id == e->id && o->epoch == e->epoch)
			return o->err && !strcmp(o->why, e->why);
	}
	return false;
}

static void report(struct lb_nexthops *w, const struct lb_nexthop_sync *s)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct lb_nexthop_entry *e = &s->e[i];
		char a[64], v[80], m0[24], m1[24];

		lb_fmt_ip(e->addr, e->family, a, sizeof(a));
		lb_fmt_vip(&e->vip, v, sizeof(v));
		if (e->changed)
			lb_agent_logf("next hop of backend %s of %s: %s -> %s", a, v,
			      lb_fmt_mac(e->old.mac, m0, sizeof(m0)),
			      lb_fmt_mac(e->now.mac, m1, sizeof(m1)));
		else if (e->err && !failed_before(w, e))
			lb_agent_logf("next hop of backend %s of %s not resolved, keeping %s: %s",
			      a, v, lb_fmt_mac(e->old.mac, m0, sizeof(m0)),
			      e->why);
	}
}

static void sync_once(struct lb_nexthops *w)
{
	struct lb_agent *a = w->a;
	struct lb_nexthop_sync s;
	char msg[256];
	int err;

	pthread_mutex_lock(&a->mu);
	err = lb_nexthop_read(&a->dp, &s, msg, sizeof(msg));
	pthread_mutex_unlock(&a->mu);
	if (!err)	/* ARP/NDP with no lock held */
		err = lb_nexthop_look(&s, LB_NH_LOOK_MS, msg, sizeof(msg));
	if (!err && lb_nexthop_pending(&s)) {
		pthread_mutex_lock(&a->mu);
		err = lb_dp_relock(&a->dp, msg, sizeof(msg));
		if (!err)
			err = lb_nexthop_commit(&a->dp, &s, msg, sizeof(msg));
		lb_dp_unlock(&a->dp);
		pthread_mutex_unlock(&a->mu);
	}
	count(&w->syncs, 1);
	if (err) {
		lb_agent_logf("next-hop sync failed: %s", msg);
		lb_nexthop_sync_free(&s);
		w->dirty = true;	/* again after the gap */
		return;
	}
	count(&w->changes, s.changed);
	count(&w->failures, s.failed);
	report(w, &s);
	if (s.raced)	/* the maps moved under us: look again */
		w->dirty = true;
	lb_nexthop_sync_free(&w->last);
	w->last = s;
}

/* ---- the thread ------------------------------------------------------------ */

static void *run(void *arg)
{
	struct lb_nexthops *w = arg;
	uint64_t now = lb_agent_now_ms(), last = now;
	uint64_t due = now;	/* a first sync at once: learn the next hops */
	uint64_t periodic = now + LB_NH_PERIOD_MS;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = w->stop_fd, .events = POLLIN },
			{ .fd = nl_socket_get_fd(w->sk), .events = POLLIN },
		};
		uint64_t until;

		now = lb_agent_now_ms();
		if (!due && now >= periodic)
			due = now;
		if (due && now >= due) {
			w->dirty = false;
			sync_once(w);
			due = 0;
			last = now = lb_agent_now_ms();
			periodic = now + LB_NH_PERIOD_MS;
		}
		if (w->dirty && !due) {
			/* a burst of changes is one sync, at most one
			 * per gap */
			due = now + LB_NH_BATCH_MS;
			if (due < last + LB_NH_MIN_GAP_MS)
				due = last + LB_NH_MIN_GAP_MS;
		}
		until = due ? due : periodic;
		if (poll(p, 2, until > now ? (int)(until - now) : 0) < 0 &&
		    errno != EINTR)
			break;
		if (p[0].revents)
			break;
		if (p[1].revents)
			drain(w);
	}
	return NULL;
}

struct lb_nexthops *lb_nexthops_start(struct lb_agent *a, char *msg,
				      size_t len)
{
	struct lb_nexthops *w = calloc(1, sizeof(*w));
	int err;

	if (!w) {
		lb_msgf(msg, len, -ENOMEM, "out of memory");
		return NULL;
	}
	w->a = a;
	w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w->sk = nl_socket_alloc();
	if (w->stop_fd < 0 || !w->sk) {
		lb_msgf(msg, len, -ENOMEM, "next-hop watcher: out of resources");
		goto fail;
	}
	/* notifications carry no sequence numbers of ours */
	nl_socket_disable_seq_check(w->sk);
	nl_socket_modify_cb(w->sk, NL_CB_VALID, NL_CB_CUSTOM, on_event, w);
	err = nl_connect(w->sk, NETLINK_ROUTE);
	if (!err)
		err = nl_socket_add_memberships(w->sk, RTNLGRP_NEIGH,
						RTNLGRP_IPV4_ROUTE,
						RTNLGRP_IPV6_ROUTE,
						RTNLGRP_LINK, 0);
	if (!err)
		err = nl_socket_set_nonblocking(w->sk);
	if (err) {
		lb_msgf(msg, len, -EIO, "next-hop watcher: rtnetlink: %s",
			nl_geterror(err));
		goto fail;
	}
	/* room for a burst (a link flap announces every neighbour) */
	nl_socket_set_buffer_size(w->sk, 1 << 20, 0);
	err = pthread_create(&w->thread, NULL, run, w);
	if (err) {
		lb_msgf(msg, len, -err, "next-hop watcher: %s", strerror(err));
		goto fail;
	}
	return w;
fail:
	if (w->sk)
		nl_socket_free(w->sk);
	if (w->stop_fd >= 0)
		close(w->stop_fd);
	free(w);
	return NULL;
}

void lb_nexthops_stop(struct lb_nexthops *w)
{
	uint64_t one = 1;

	if (!w)
		return;
	if (write(w->stop_fd, &one, sizeof(one)) != sizeof(one))
		lb_agent_logf("next-hop watcher: cannot signal stop: %s",
		      strerror(errno));
	pthread_join(w->thread, NULL);
	nl_socket_free(w->sk);
	close(w->stop_fd);
	lb_nexthop_sync_free(&w->last);
	free(w);
}

static uint64_t get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

void lb_nexthops_metrics(struct lb_nexthops *w, FILE *f)
{
	static const struct lb_nexthops none;
	const struct lb_nexthops *s = w ? w : &none;
	static const struct {
		const char *name, *help;
		size_t off;
	} m[] = {
		{ "inferlb_nexthop_changes_total",
		  "Backend next-hop MACs rewritten after a neighbour, route or link change.",
		  offsetof(struct lb_nexthops, changes) },
		{ "inferlb_nexthop_resolve_failures_total",
		  "Backend next hops not resolved in a sync (the old MAC kept), summed over syncs.",
		  offsetof(struct lb_nexthops, failures) },
		{ "inferlb_nexthop_syncs_total",
		  "Next-hop re-syncs: on relevant kernel notifications and every 30 s.",
		  offsetof(struct lb_nexthops, syncs) },
		{ "inferlb_nexthop_events_total",
		  "Kernel neighbour, route and link notifications that concerned a next hop.",
		  offsetof(struct lb_nexthops, events) },
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", m[i].name,
			m[i].help, m[i].name);
		fprintf(f, "%s %llu\n", m[i].name, (unsigned long long)
			get((const uint64_t *)((const char *)s + m[i].off)));
	}
}
