/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_nexthop_sync.h - keeps lb_nexthops in step with the kernel's routing
 * and neighbour tables: every active backend's next hop is looked up again
 * and written where it changed (a replaced NIC, a gateway failover), one
 * map update per changed backend.
 *
 * Three steps, so that a long-running user (lb-agent) holds the
 * pin-directory lock only to write, never while ARP/NDP runs:
 *   lb_nexthop_read     the active backends and their next hops (no lock
 *                       needed: lb_nexthop_commit checks them again);
 *   lb_nexthop_look     route and neighbour of each, waiting at most
 *                       timeout_ms for all resolutions together (netlink
 *                       only: no map, no lock);
 *   lb_nexthop_commit   under the lock: for each backend whose next hop
 *                       changed and whose slot still holds the same
 *                       backend (address, epoch, active) with the next hop
 *                       read in step one, one update of the whole value.
 * lb_nexthop_sync runs the three on a locked datapath (lbctl).
 *
 * A next hop that cannot be resolved keeps its old MAC (fail-static: a
 * neighbour that went FAILED often comes back with the same MAC, and
 * dropping would be no better than trying); it is reported in err/why.
 */
#ifndef LB_NEXTHOP_SYNC_H
#define LB_NEXTHOP_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "inferlb.h"
#include "lb_addr.h"	/* lb_fmt_mac, for the callers that print changes */
#include "lb_dp.h"

/* How long lbctl waits for ARP/NDP (lbctl backend add waits as long). */
#define LB_NEXTHOP_TIMEOUT_MS 2000
/* devices the balancer may be attached to, as lb_dp_attached lists them */
#define LB_NEXTHOP_MAX_DEVS 16

/* One backend's next hop, as a sync found and left it. */
struct lb_nexthop_entry {
	__u32 id;
	__u32 epoch;
	__u8 addr[16];
	__u8 family;			/* enum lb_family */
	__u8 mode;			/* enum lb_fwd_mode */
	struct lb_vip_key vip;		/* for messages */
	struct lb_nexthop old;		/* in lb_nexthops when read */
	struct lb_nexthop now;		/* resolved; old when err */
	int err;			/* 0, or why it was not resolved */
	char why[200];
	/* The route's next hop (0 / AF_UNSPEC if the route lookup failed):
	 * what the agent matches neighbour notifications against. */
	int ifindex;
	int gw_family;			/* AF_INET or AF_INET6 */
	__u8 gw[16];
	bool changed;			/* written by lb_nexthop_commit */
};

struct lb_nexthop_sync {
	struct lb_nexthop_entry *e;	/* by id */
	size_t n;
	int ifindex[LB_NEXTHOP_MAX_DEVS];	/* the attached devices */
	int n_ifindex;
	unsigned int changed;		/* next hops written */
	unsigned int failed;		/* not resolved: old MAC kept */
	/* changed under us between read and commit (the backend was
	 * deleted or re-added, or lbctl wrote its next hop): left for
	 * the next sync */
	unsigned int raced;
};

/* Fills s (zeroed first) from the maps. 0 or -errno with msg set. */
int lb_nexthop_read(struct lb_dp *dp, struct lb_nexthop_sync *s, char *msg,
		    size_t len);
/* Resolves every entry of s (sets now, err, why, ifindex, gw); counts
 * failed. timeout_ms 0: only look (and start resolutions). 0, or -errno
 * with msg set if no netlink socket could be opened (every entry then
 * failed). */
int lb_nexthop_look(struct lb_nexthop_sync *s, int timeout_ms, char *msg,
		    size_t len);
/* Whether lb_nexthop_commit has anything to write (lb-agent then takes
 * the lock only when it has). */
bool lb_nexthop_pending(const struct lb_nexthop_sync *s);
/* Writes the changed next hops; dp must be locked. Counts changed and
 * raced. 0, or -errno with msg set when a map read or write failed
 * (entries before it may have been written: each is whole). */
int lb_nexthop_commit(struct lb_dp *dp, struct lb_nexthop_sync *s, char *msg,
		      size_t len);
/* The three on a locked dp; s is filled even on error (free it). */
int lb_nexthop_sync(struct lb_dp *dp, int timeout_ms,
		    struct lb_nexthop_sync *s, char *msg, size_t len);
void lb_nexthop_sync_free(struct lb_nexthop_sync *s);

#endif /* LB_NEXTHOP_SYNC_H */
