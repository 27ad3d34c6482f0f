// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cmd_apply.c - lbctl apply -f FILE: make the VIPs and backends match a
 * config file (lb-agent's), all or nothing.
 */
#include "lb_print.h"
#include "apply.h"
#include "config.h"
#include "cli.h"

struct apply_opts {
	const char *file;
};
static const struct apply_opts apply_defaults;

static const struct opt_desc apply_args[] = {
	{ .name = "file", .alias = 'f', .kind = OPT_STR,
	  OPT_FIELD(struct apply_opts, file), .metavar = "FILE", .required = true,
	  .help = "the config file (YAML, as lb-agent reads it)" },
	OPT_TABLE_END,
};
static const struct opt_desc *const apply_tables[] = { apply_args, NULL };

static int do_apply(void *p, const struct opt_args *given)
{
	const struct apply_opts *o = p;
	char msg[CLI_MSG_LEN];
	struct lb_apply_result r;
	struct lb_conf conf;
	struct lb_dp dp;
	int err;

	(void)given;
	if (lb_conf_load_file(o->file, &conf, msg, sizeof(msg))) {
		lb_err("%s", msg);
		return EXIT_USAGE;
	}
	if (cli_open_dp(&dp)) {
		lb_conf_free(&conf);
		return EXIT_RUNTIME;
	}
	err = lb_apply(&dp, &conf, false, &r, msg, sizeof(msg));
	lb_conf_free(&conf);
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
