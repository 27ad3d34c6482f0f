/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * announce.h - lb-agent's side of the VIP announcements (the mechanism
 * is lib/lb_announce.h): with `announce: {enabled: true}` the agent
 * syncs the VIP routes after every publication and every interval_ms,
 * so a VIP whose backends all went DOWN (or to weight 0) is withdrawn
 * from the router within a round; on SIGTERM it withdraws every route
 * first, then keeps the datapath forwarding for drain_ms while the router
 * moves the traffic, then exits.
 *
 *   announce:
 *     enabled: false        # true: keep the VIP routes in sync
 *     table: 4242           # routing table (not main/local/default)
 *     protocol: 242         # routing-protocol number ("inferlb")
 *     interval_ms: 2000     # sync at least this often (100..600000)
 *     drain_ms: 0           # on stop: wait this long after the withdraw
 */
#ifndef INFERLB_AGENT_ANNOUNCE_H
#define INFERLB_AGENT_ANNOUNCE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct lb_agent;
struct lb_yaml_doc;
struct lb_yaml_node;

#define LB_ANNOUNCE_INTERVAL_MS_DEFAULT 2000

struct lb_agent_announce_conf {
	bool enabled;
	uint32_t table, proto;
	uint32_t interval_ms;
	uint32_t drain_ms;
};

void lb_agent_announce_conf_default(struct lb_agent_announce_conf *c);
/* The `announce:` section (config.c's top hook). */
int lb_agent_announce_parse(struct lb_agent_announce_conf *c,
			    struct lb_yaml_doc *d, const struct lb_yaml_node *m);

/* After every decide (a->mu held): syncs when a publication happened or
 * interval_ms passed (withdraws everything once announce is disabled by
 * a reload). */
void lb_agent_announce_step(struct lb_agent *a, uint64_t now);
/* On stop, before anything else: withdraw, wait drain_ms (the datapath
 * forwards meanwhile), then return. a->mu not held. */
void lb_agent_announce_stop(struct lb_agent *a);
/* /metrics: inferlb_vip_announced{vip}, route changes (a->mu held). */
void lb_agent_announce_metrics(struct lb_agent *a, FILE *f);
void lb_agent_announce_free(struct lb_agent *a);

#endif /* INFERLB_AGENT_ANNOUNCE_H */
