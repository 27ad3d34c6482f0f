/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * apply.h - make the datapath's VIPs and backends match a config file:
 * `lbctl apply -f FILE`, and lb-agent at start-up and on SIGHUP.
 *
 * Declarative: VIPs missing from the file are deleted, missing ones added,
 * backends likewise. Everything that can be refused is checked before the
 * first write (a VIP whose mode or ring size differs from the file, no
 * free slots, no ipip source address, a backend whose next hop cannot be
 * resolved), so a refused apply changes nothing. Each VIP's table is
 * rebuilt once and published in one step.
 */
#ifndef INFERLB_APPLY_H
#define INFERLB_APPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "lb_dp.h"

struct lb_apply_result {
	unsigned vips_added;
	unsigned vips_deleted;
	unsigned vips_updated;	/* policy or admission changed */
	unsigned backends_added;
	unsigned backends_deleted;
	unsigned tables_rebuilt;
};

/*
 * dp must be locked and open. With agent_managed, backends already in the
 * maps keep their live weight and state (the running agent's decision; a
 * restarted agent adopts them), and new ones start with weight 0 in state
 * STARTING until the agent has polled them. Without it (`lbctl apply`),
 * every backend gets its static weight (lb_conf_static_weight) and state
 * HEALTHY. Returns 0 or a negative errno with msg[len] set.
 */
int lb_apply(struct lb_dp *dp, const struct lb_conf *conf, bool agent_managed,
	     struct lb_apply_result *res, char *msg, size_t len);

#endif /* INFERLB_APPLY_H */
