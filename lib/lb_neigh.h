/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_neigh.h - next-hop MAC resolution for backends: which MAC the XDP
 * program must write as Ethernet destination to reach a backend, found
 * through the kernel's own routing and neighbour tables (never configured
 * by hand).
 */
#ifndef LB_NEIGH_H
#define LB_NEIGH_H

#include <stddef.h>
#include <stdint.h>

struct lb_nexthop_info {
	uint8_t mac[6];
	int ifindex;		/* output interface of the route */
	uint8_t gw[16];		/* next-hop address (the gateway, or the
				 * backend itself when on-link) */
	int gw_family;		/* AF_INET or AF_INET6 (an IPv4 route may
				 * have an IPv6 gateway, RFC 5549) */
};

/*
 * family: AF_INET or AF_INET6; addr: 4 or 16 bytes, network order.
 * oif: if > 0, only accept a route out of this interface (the balancer's
 * attached device); the route lookup is then done for that oif.
 * timeout_ms: how long to wait for ARP/NDP resolution (0: only look).
 *
 * Returns 0, -ENETUNREACH (no route, or none out of oif), -EHOSTUNREACH
 * (the neighbour did not resolve in time or went FAILED), -EINVAL (bad
 * arguments, local/broadcast/multicast address, device without an
 * Ethernet address), or another -errno (e.g. -EPERM without
 * CAP_NET_ADMIN). err_msg (may be NULL, size errlen) gets a one-line
 * explanation on failure.
 *
 * Needs CAP_NET_ADMIN only when the entry has to be (re)resolved. The
 * kernel does not keep the entry fresh for XDP traffic (it bypasses the
 * neighbour subsystem), so call this again periodically and on errors.
 * Thread-safe: every call uses its own netlink socket.
 */
int lb_nexthop_resolve(int family, const void *addr, int oif, int timeout_ms,
		       struct lb_nexthop_info *out, char *err_msg,
		       size_t errlen);

/*
 * Many next hops in a row without waiting (lb_nexthop_sync.c): one
 * rtnetlink socket for all lookups, and each lookup only looks, at most
 * asking the kernel to start a resolution, whose outcome a later lookup
 * (or a neighbour notification) sees. Not thread-safe: one user per
 * handle.
 */
struct lb_neigh;

int lb_neigh_open(struct lb_neigh **out, char *err_msg, size_t errlen);
void lb_neigh_close(struct lb_neigh *nl);

/* lb_neigh_lookup flags */
#define LB_NEIGH_TRIGGER 0x1	/* missing or FAILED entry: start ARP/NDP */
#define LB_NEIGH_NUDGE 0x2	/* STALE entry: have the kernel re-probe it
				 * (its MAC is still returned) */

/*
 * Route and neighbour of addr, as lb_nexthop_resolve, but without waiting:
 * 0 with out complete; -EINPROGRESS when the kernel is resolving the next
 * hop (out->ifindex and out->gw are set; look again later); -EHOSTUNREACH
 * for a FAILED or missing entry without LB_NEIGH_TRIGGER; otherwise the
 * errors of lb_nexthop_resolve. err_msg says why whenever it is not 0.
 */
int lb_neigh_lookup(struct lb_neigh *nl, int family, const void *addr, int oif,
		    unsigned int flags, struct lb_nexthop_info *out,
		    char *err_msg, size_t errlen);

#endif /* LB_NEIGH_H */
