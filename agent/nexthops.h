/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * nexthops.h - lb-agent's next-hop watcher: a thread that follows the
 * kernel's neighbour, route and link changes (rtnetlink notifications)
 * and re-syncs lb_nexthops (lib/lb_nexthop_sync) when one concerns a
 * backend's next hop, at most every LB_NH_MIN_GAP_MS, and every
 * LB_NH_PERIOD_MS anyway: XDP traffic never confirms a neighbour entry,
 * so without the periodic nudge a MAC that changed silently (no
 * gratuitous ARP) would never be noticed.
 *
 * The thread reads and writes the maps through the agent's own handle,
 * under a->mu (and the pin-directory lock to write); it waits for ARP/NDP
 * holding neither.
 */
#ifndef INFERLB_NEXTHOPS_H
#define INFERLB_NEXTHOPS_H

#include <stddef.h>
#include <stdio.h>

#define LB_NH_MIN_GAP_MS 100	/* between two syncs */
#define LB_NH_BATCH_MS 10	/* after a first event, for its siblings */
#define LB_NH_PERIOD_MS 30000	/* the safety re-sync */
#define LB_NH_LOOK_MS 1000	/* wait for ARP/NDP in one sync */

struct lb_agent;
struct lb_nexthops;

/* Starts the watcher (after capabilities are dropped: a thread keeps the
 * capabilities it was started with). NULL with msg set on failure. */
struct lb_nexthops *lb_nexthops_start(struct lb_agent *a, char *msg,
				      size_t len);
/* Stops and frees it (NULL: nothing); call without a->mu held. */
void lb_nexthops_stop(struct lb_nexthops *w);
/* Its counters for /metrics (w may be NULL: all zero). */
void lb_nexthops_metrics(struct lb_nexthops *w, FILE *f);

#endif /* INFERLB_NEXTHOPS_H */
