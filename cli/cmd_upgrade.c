// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cmd_upgrade.c - lbctl upgrade, lbctl decap upgrade: a new build of the
 * program takes over the pinned maps and every attached device without
 * a gap (lib/lb_upgrade.h). Every device is upgraded: the program pin,
 * which a later `attach` runs, is one for all of them.
 */
#include <errno.h>

#include "lb_print.h"
#include "lb_upgrade.h"
#include "cli.h"

struct upgrade_opts {
	const char *obj;
};

static const struct opt_desc upgrade_args[] = {
	{ .name = "obj", .kind = OPT_STR, OPT_FIELD(struct upgrade_opts, obj),
	  .metavar = "PATH",
	  .help = "the new BPF object (default: the one built into this lbctl, "
		  "which attach loads)" },
	OPT_TABLE_END,
};
static const struct opt_desc *const upgrade_tables[] = { upgrade_args, NULL };

static void print_upgrade(const char *prog, const struct lb_upgrade *up)
{
	lb_out_open_object(NULL);
	lb_out_str("program", "upgraded %s:", prog);
	lb_out_u64("old_prog_id", " program %llu", up->old_prog_id);
	lb_out_u64("new_prog_id", " -> %llu", up->new_prog_id);
	if (up->schema)
		lb_out_u64("schema", " (schema v%llu,", up->schema);
	lb_out_u64("maps_reused", up->schema ? " %llu maps reused)\n" :
		   " (%llu maps reused)\n", up->maps_reused);
	lb_out_u64("load_us", "  loaded in %llu us", up->load_us);
	lb_out_u64("swap_us", ", devices switched in %llu us\n", up->swap_us);
	lb_out_open_array("devices");
	for (int i = 0; i < up->ndevs; i++) {
		lb_out_open_object(NULL);
		lb_out_str("dev", "  %s:", up->devs[i].ifname);
		lb_out_u64("old_prog_id", " %llu", up->devs[i].old_id);
		lb_out_u64("new_prog_id", " -> %llu\n", up->devs[i].new_id);
		lb_out_close_object();
	}
	lb_out_close_array();
	if (!up->ndevs)
		lb_out_text("  attached to no device: 'attach' will run it\n");
	lb_out_close_object();
}

static int run_upgrade(enum lb_upgrade_what what, const char *prog,
		       const struct upgrade_opts *o)
{
	char msg[CLI_MSG_LEN];
	struct lb_upgrade up;
	struct lb_dp dp;

	if (lb_dp_lock(&dp, cli_pin_dir, false, msg, sizeof(msg)) ||
	    lb_dp_upgrade(&dp, what, o->obj, &up, msg, sizeof(msg)))
		return cli_fail(&dp, msg);
	lb_dp_close(&dp);
	print_upgrade(prog, &up);
	return 0;
}

static int do_upgrade(void *p, const struct opt_args *given)
{
	(void)given;
	return run_upgrade(LB_UPGRADE_BALANCER, "xdp_lb", p);
}

static int do_decap_upgrade(void *p, const struct opt_args *given)
{
	(void)given;
	return run_upgrade(LB_UPGRADE_DECAP, "xdp_decap", p);
}

const struct cli_cmd cmd_upgrade = {
	.verb = "upgrade", .run = do_upgrade, .tables = upgrade_tables,
	.size = sizeof(struct upgrade_opts),
	.help = "replace the running balancer program on every device without "
		"a gap, keeping every map (flows, counters); refuses an object "
		"of another schema or map layout, changing nothing",
};
const struct cli_cmd cmd_decap_upgrade = {
	.object = "decap", .verb = "upgrade", .run = do_decap_upgrade,
	.tables = upgrade_tables, .size = sizeof(struct upgrade_opts),
	.help = "the same for the decap program",
};
