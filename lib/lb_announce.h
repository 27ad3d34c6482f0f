/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_announce.h - announcing the VIPs to the network through the kernel's
 * routing table, for any routing daemon.
 *
 * Several inferlb hosts sit behind a router's ECMP, each announcing the
 * VIP addresses over BGP. inferlb does not speak BGP: it keeps one
 * `blackhole VIP/32` (or /128) route per announced address in a routing
 * table of its own (LB_ANNOUNCE_TABLE_DEFAULT) with a routing-protocol
 * number of its own (LB_ANNOUNCE_PROTO_DEFAULT), and the routing daemon
 * exports exactly those routes (BIRD: `kernel table 4242` with `learn`;
 * FRR: `redistribute kernel` with a route-map; examples/bird/). The
 * separate table leaves the host's own forwarding untouched (and the XDP
 * program takes VIP packets before any route is looked up).
 *
 * An address is announced while
 *   - the balancer is attached to at least one device (a live XDP link),
 *   - the caller is ready (lb-agent: its cluster readiness; lbctl: true),
 *   - the host is not withdrawn (LB_SETTINGS_F_WITHDRAWN in lb_settings:
 *     `lbctl announce withdraw`, a drain; it outlives the process), and
 *   - at least one active VIP on that address has a backend that takes
 *     new flows: weight > 0 and state HEALTHY or HALF_OPEN. VIPs share
 *     the route of their address (a route has no port), so the address
 *     goes while any of its VIPs can serve.
 *
 * Reconciling touches only routes of OUR protocol in OUR table: it adds
 * the missing ones and removes ours that are not wanted. Any other route,
 * there or in any other table, is never changed; another protocol's route
 * to a wanted address in our table is reported as a conflict and left
 * alone (nothing is announced for it).
 *
 * Routes live in the network namespace of the calling process. Netlink
 * needs CAP_NET_ADMIN (lb-agent keeps it).
 */
#ifndef LB_ANNOUNCE_H
#define LB_ANNOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "inferlb.h"
#include "lb_dp.h"

/* The conventions shared with the routing daemon's config (examples/bird/):
 * the one place lbctl, lb-agent and the library take them from. */
#define LB_ANNOUNCE_TABLE_DEFAULT 4242u
#define LB_ANNOUNCE_PROTO_DEFAULT 242u
#define LB_ANNOUNCE_PROTO_NAME "inferlb" /* for /etc/iproute2/rt_protos.d */

struct lb_announce_opts {
	__u32 table;	/* routing table: 1..2^32-1 but main/local/default */
	__u8 proto;	/* rtm_protocol of our routes, not a registered one */
	bool ready;	/* the caller's readiness (lb-agent: cluster) */
};
#define LB_ANNOUNCE_OPTS_DEFAULT                                         \
	{ .table = LB_ANNOUNCE_TABLE_DEFAULT,                            \
	  .proto = LB_ANNOUNCE_PROTO_DEFAULT, .ready = true }

/* 0, or -EINVAL with msg saying why this table / protocol cannot be ours
 * (the host's own tables; a protocol number the kernel or a routing
 * daemon uses). */
int lb_announce_check_table(__u32 table, char *msg, size_t len);
int lb_announce_check_proto(__u32 proto, char *msg, size_t len);

/* Why a VIP is not announced (LB_ANN_OK: it is wanted). In the order they
 * are checked: the first that holds is the one reported. */
enum lb_announce_why {
	LB_ANN_OK = 0,
	LB_ANN_NOT_ATTACHED,	/* no live XDP link */
	LB_ANN_WITHDRAWN,	/* LB_SETTINGS_F_WITHDRAWN */
	LB_ANN_NOT_READY,	/* the caller said not ready */
	LB_ANN_INACTIVE,	/* the VIP is not active */
	LB_ANN_NO_BACKENDS,
	LB_ANN_NO_TAKER,	/* none takes new flows (weight 0, state) */
	LB_ANN_CONFLICT,	/* another protocol's route to the address in
				 * our table: left alone, not announced */
};
/* "not attached", "withdrawn", ... */
const char *lb_announce_why_name(enum lb_announce_why w);

struct lb_announce_vip {
	__u32 id;
	struct lb_vip_key key;
	__u32 backends;		/* active backends */
	__u32 taking;		/* of them: weight > 0 and a state that
				 * takes new flows */
	enum lb_announce_why why;
	int route;		/* index of its address in routes[] */
};

/* One address: wanted, or one of our routes in the table, or both. */
struct lb_announce_route {
	__u8 addr[16];
	__u8 family;		/* LB_AF_* */
	__u8 plen;		/* 32 / 128 (ours found with another length
				 * are removed) */
	__u8 type;		/* RTN_* of our route found (RTN_BLACKHOLE) */
	bool want;		/* some VIP on it may be announced */
	bool ours;		/* our route is there (after sync: is now) */
	bool foreign;		/* another protocol's route to it in our
				 * table: left alone */
	__u8 foreign_proto;
	bool conflict;		/* wanted, but foreign is in the way */
	bool changed;		/* sync added or removed it */
};

struct lb_announce {
	struct lb_announce_opts o;
	bool attached;		/* a live XDP link on some device */
	bool withdrawn;		/* LB_SETTINGS_F_WITHDRAWN */
	struct lb_announce_vip *vips;
	size_t n_vips;
	struct lb_announce_route *routes;
	size_t n_routes;
	unsigned int added, removed, conflicts;
};

/*
 * What should be announced and what is: reads the maps (dp locked, open)
 * and our table's routes, writes nothing. dp NULL: no datapath (nothing is
 * wanted; every route of ours is unwanted). 0 or a negative errno with msg
 * set and *an empty.
 */
int lb_announce_plan(struct lb_dp *dp, const struct lb_announce_opts *o,
		     struct lb_announce *an, char *msg, size_t len);
/*
 * Plans, then removes every route of ours not wanted and adds every one
 * wanted and missing. Removals are all tried (withdrawing is the safe
 * direction); additions stop at the first failure. *an says what was
 * done (added, removed, routes[].changed / .ours). Idempotent. 0, or a
 * negative errno with msg set (a conflict is -EEXIST, after everything
 * else was reconciled); *an is filled either way once the plan was read
 * (free it with lb_announce_free).
 */
int lb_announce_sync(struct lb_dp *dp, const struct lb_announce_opts *o,
		     struct lb_announce *an, char *msg, size_t len);
void lb_announce_free(struct lb_announce *an);

/* Whether the host is withdrawn, and setting it (lb_settings, dp locked).
 * Setting it does not touch routes: lb_announce_sync then removes them. */
int lb_announce_withdrawn(struct lb_dp *dp, bool *withdrawn, char *msg,
			  size_t len);
int lb_announce_set_withdrawn(struct lb_dp *dp, bool withdrawn, char *msg,
			      size_t len);

/* Where the routes were last announced (lb_settings.announce_table and
 * _proto; the defaults when never), with ready true: what detach, unload
 * and a drain withdraw from. lb_announce_sync with a dp records its
 * table and protocol there, after withdrawing from the recorded ones if
 * they differ. */
int lb_announce_recorded(struct lb_dp *dp, struct lb_announce_opts *o,
			 char *msg, size_t len);

#endif /* LB_ANNOUNCE_H */
