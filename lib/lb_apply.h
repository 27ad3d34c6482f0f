/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_apply.h - make the datapath's VIPs and backends match a topology
 * (lb_topo.h): `lbctl apply -f FILE`, and lb-agent at start-up and on
 * SIGHUP.
 *
 * Declarative: VIPs missing from the topology are deleted, missing ones
 * added, backends likewise. Everything that can be refused is checked
 * before the first write (a VIP whose mode or ring size differs from the
 * file, no free slots, no ipip source address, a backend whose next hop
 * cannot be resolved, a deletion larger than the guard allows), so a
 * refused apply changes nothing. Each VIP's table is rebuilt once and
 * published in one step.
 *
 * The deletion guard: a file that would delete every VIP in the maps, or
 * more than max_backend_delete_pct percent of the backends of a VIP it
 * keeps, is refused unless prune is set. An empty or truncated file (a
 * half-written config, an editor's crash) must not wipe a balancer that
 * serves traffic; deleting VIPs one at a time, or a few backends of a VIP,
 * stays allowed. An empty balancer applying an empty file deletes nothing
 * and passes.
 */
#ifndef LB_APPLY_H
#define LB_APPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "lb_dp.h"
#include "lb_topo.h"

#define LB_APPLY_MAX_BACKEND_DELETE_PCT_DEFAULT 50

struct lb_apply_opts {
	/* Backends already in the maps keep their live weight and state
	 * (the running agent's decision; a restarted agent adopts them),
	 * new ones start with weight 0 in state STARTING until the agent
	 * has polled them. Without it (`lbctl apply`), every backend gets
	 * its static weight (lb_topo_static_weight) and state HEALTHY. */
	bool agent_managed;
	/* Delete whatever left the file, however much: no guard. */
	bool prune;
	/* Without prune: refuse when a kept VIP would lose more than this
	 * percent of its live backends (0..100; 100 = any share). */
	unsigned max_backend_delete_pct;
	/* How the caller forces a refused apply ("--prune"), for the
	 * message; NULL for none. */
	const char *prune_hint;
};

#define LB_APPLY_OPTS_DEFAULT { \
	.max_backend_delete_pct = LB_APPLY_MAX_BACKEND_DELETE_PCT_DEFAULT }

struct lb_apply_result {
	unsigned vips_added;
	unsigned vips_deleted;
	unsigned vips_updated;	/* policy or admission changed */
	unsigned backends_added;
	unsigned backends_deleted;
	unsigned tables_rebuilt;
};

/*
 * dp must be locked and open. Returns 0, or a negative errno with msg[len]
 * set and nothing changed when refused before the first write (-EPERM for
 * the deletion guard).
 */
int lb_apply(struct lb_dp *dp, const struct lb_topo *topo,
	     const struct lb_apply_opts *opts, struct lb_apply_result *res,
	     char *msg, size_t len);

#endif /* LB_APPLY_H */
