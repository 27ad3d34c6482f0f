// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cmd_apply.c - lbctl apply -f FILE: make the VIPs and backends match a
 * config file (lb-agent's), all or nothing.
 */
#include "lb_print.h"
#include "lb_addr.h"
#include "lb_apply.h"
#include "lb_topo.h"
#include "cli.h"

struct apply_opts {
	const char *file;
	bool prune;
};
static const struct apply_opts apply_defaults;

static const struct opt_desc apply_args[] = {
	{ .name = "file", .alias = 'f', .kind = OPT_STR,
	  OPT_FIELD(struct apply_opts, file), .metavar = "FILE", .required = true,
	  .help = "the config file (YAML, as lb-agent reads it)" },
	{ .name = "prune", .kind = OPT_FLAG, OPT_FIELD(struct apply_opts, prune),
	  .help = "allow deleting every VIP, or more than half of a VIP's backends" },
	OPT_TABLE_END,
};
static const struct opt_desc *const apply_tables[] = { apply_args, NULL };

static int do_apply(void *p, const struct opt_args *given)
{
	const struct apply_opts *o = p;
	struct lb_apply_opts ao = LB_APPLY_OPTS_DEFAULT;
	char msg[CLI_MSG_LEN];
	struct lb_apply_result r;
	struct lb_topo topo;
	struct lb_dp dp;
	int err;

	(void)given;
	/* lb-agent's keys are accepted by name; the agent checks values */
	if (lb_topo_load_file(o->file, &lb_topo_ext_agent_names, &topo, msg,
			      sizeof(msg))) {
		lb_err("%s", msg);
		return EXIT_USAGE;
	}
	/* the workers lb-agent finds are not in the file: applied here,
	 * they would all be deleted */
	for (size_t i = 0; i < topo.n_vips; i++) {
		char v[80];

		if (!topo.vips[i].ext_given)
			continue;
		lb_err("%s:%u: VIP %s finds its workers (%s:), which lb-agent "
		       "does; lbctl apply would delete the workers it found. Run "
		       "this file with lb-agent", o->file, topo.vips[i].line,
		       lb_fmt_vip(&topo.vips[i].key, v, sizeof(v)),
		       LB_TOPO_DISCOVER_KEY);
		lb_topo_free(&topo);
		return EXIT_USAGE;
	}
	if (cli_open_dp(&dp)) {
		lb_topo_free(&topo);
		return EXIT_RUNTIME;
	}
	ao.prune = o->prune;
	ao.prune_hint = "--prune";
	err = lb_apply(&dp, &topo, &ao, &r, msg, sizeof(msg));
	lb_topo_free(&topo);
	if (err)
		return cli_fail(&dp, msg);
	lb_dp_close(&dp);
	lb_out_open_object(NULL);
	lb_out_str("file", "applied %s:", o->file);
	lb_out_u64("vips_added", " VIPs +%llu", r.vips_added);
	lb_out_u64("vips_deleted", " -%llu", r.vips_deleted);
	lb_out_u64("backends_added", ", backends +%llu", r.backends_added);
	lb_out_u64("backends_deleted", " -%llu", r.backends_deleted);
	lb_out_u64("tables_rebuilt", ", tables rebuilt %llu", r.tables_rebuilt);
	lb_out_u64("vips_updated", ", VIP settings changed %llu\n", r.vips_updated);
	lb_out_close_object();
	return 0;
}

const struct cli_cmd cmd_apply = {
	.verb = "apply", .run = do_apply, .tables = apply_tables,
	.defaults = &apply_defaults, .size = sizeof(struct apply_opts),
	.help = "make VIPs and backends match FILE (lb-agent's config): all or nothing",
};
