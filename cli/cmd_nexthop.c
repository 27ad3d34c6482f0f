// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cmd_nexthop.c - lbctl nexthop refresh: every backend's next hop looked
 * up again in the kernel's routing and neighbour tables, and written where
 * it changed (lib/lb_nexthop_sync). lb-agent does the same by itself on
 * every neighbour, route or link change; this is for balancers without
 * it, and for an operator who wants to see.
 */
#include <stdio.h>

#include "lb_addr.h"
#include "lb_nexthop_sync.h"
#include "lb_print.h"
#include "cli.h"

static void print_entry(const struct lb_nexthop_entry *e, bool failed)
{
	char a[64], v[80], m[2][24];

	lb_fmt_ip(e->addr, e->family, a, sizeof(a));
	lb_fmt_vip(&e->vip, v, sizeof(v));
	lb_fmt_mac(e->old.mac, m[0], sizeof(m[0]));
	lb_fmt_mac(e->now.mac, m[1], sizeof(m[1]));
	lb_out_open_object(NULL);
	lb_out_str("backend", "backend %s", a);
	lb_out_str("vip", " of %s", v);
	lb_out_u64("id", " (id %llu): ", e->id);
	if (failed) {
		lb_out_str("error", "%s", e->why);
		lb_out_str("kept", "; keeping %s\n", m[0]);
	} else {
		lb_out_str("old", "next hop %s", m[0]);
		lb_out_str("new", " -> %s\n", m[1]);
	}
	lb_out_close_object();
}

static int do_refresh(void *p, const struct opt_args *given)
{
	struct lb_nexthop_sync s;
	char msg[CLI_MSG_LEN];
	struct lb_dp dp;
	int err;

	(void)p;
	(void)given;
	if (cli_open_dp(&dp))
		return EXIT_RUNTIME;
	err = lb_nexthop_sync(&dp, LB_NEXTHOP_TIMEOUT_MS, &s, msg, sizeof(msg));
	lb_dp_close(&dp);
	if (err) {
		lb_nexthop_sync_free(&s);
		lb_err("%s", msg);
		return EXIT_RUNTIME;
	}
	lb_out_open_object(NULL);
	lb_out_open_array("changes");
	for (size_t i = 0; i < s.n; i++)
		if (s.e[i].changed)
			print_entry(&s.e[i], false);
	lb_out_close_array();
	lb_out_open_array("not_resolved");
	for (size_t i = 0; i < s.n; i++)
		if (s.e[i].err)
			print_entry(&s.e[i], true);
	lb_out_close_array();
	lb_out_u64("changed", "%llu next hops changed", s.changed);
	lb_out_u64("checked", " (%llu backends checked", s.n);
	lb_out_u64("failed", ", %llu not resolved", s.failed);
	lb_out_u64("raced", ", %llu changed meanwhile by another writer)\n",
		   s.raced);
	lb_out_close_object();
	/* a next hop we could not resolve is a failure to report, even if
	 * every other one was written */
	err = s.failed ? EXIT_RUNTIME : 0;
	lb_nexthop_sync_free(&s);
	return err;
}

const struct cli_cmd cmd_nexthop_refresh = {
	.object = "nexthop", .verb = "refresh", .run = do_refresh,
	.tables = opts_no_args,
	.help = "look every backend's next hop up again; write and print the ones that changed",
};
