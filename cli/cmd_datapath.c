// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cmd_datapath.c - lbctl attach, detach, unload, decap attach/detach: the
 * programs and their pins, not what they balance.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>

#include "lb_print.h"
#include "cli.h"

/* DEV [--mode native|skb] [--force]: every command here fills this. */
struct dev_opts {
	const char *dev;
	__u8 mode;	/* enum lb_xdp_mode */
	bool force;
};
static const struct dev_opts dev_defaults = { .mode = LB_XDP_NATIVE };

static int xdp_mode_parse(const char *s, __u8 *out)
{
	if (!strcmp(s, "native"))
		*out = LB_XDP_NATIVE;
	else if (!strcmp(s, "skb"))
		*out = LB_XDP_SKB;
	else
		return -EINVAL;
	return 0;
}

static const struct opt_desc dev_args[] = {
	{ .kind = OPT_STR, OPT_FIELD(struct dev_opts, dev), .metavar = "DEV" },
	OPT_TABLE_END,
};
static const struct opt_desc attach_args[] = {
	{ .name = "mode", .kind = OPT_ENUM, OPT_FIELD(struct dev_opts, mode),
	  .metavar = "native|skb", .label = "mode", .what = "native or skb",
	  .parse = xdp_mode_parse,
	  .help = "native (the driver's XDP, default) or skb (generic)" },
	{ .name = "force", .kind = OPT_FLAG, OPT_FIELD(struct dev_opts, force),
	  .help = "replace another XDP program on DEV" },
	OPT_TABLE_END,
};
static const struct opt_desc *const attach_tables[] = { dev_args, attach_args, NULL };
static const struct opt_desc *const detach_tables[] = { dev_args, NULL };

static int do_attach(void *p, const struct opt_args *given)
{
	const struct dev_opts *o = p;
	char msg[CLI_MSG_LEN];
	struct lb_dp dp;

	(void)given;
	if (!if_nametoindex(o->dev)) {
		lb_err("no device '%s'; 'ip link' lists the devices", o->dev);
		return EXIT_RUNTIME;
	}
	if (lb_dp_lock(&dp, cli_pin_dir, true, msg, sizeof(msg)) ||
	    lb_dp_load(&dp, msg, sizeof(msg)))
		return cli_fail(&dp, msg);
	if (lb_dp_attach(&dp, o->dev, o->mode, o->force, msg, sizeof(msg))) {
		/* loaded by this run and attached nowhere: leave nothing */
		if (dp.created)
			lb_dp_unload(&dp, NULL, 0);
		return cli_fail(&dp, msg);
	}
	lb_dp_close(&dp);
	lb_out_open_object(NULL);
	lb_out_str("attached", "attached to %s", o->dev);
	lb_out_str("mode", " (%s mode)\n", o->mode == LB_XDP_NATIVE ? "native" : "skb");
	lb_out_close_object();
	return 0;
}

static int do_detach(void *p, const struct opt_args *given)
{
	const struct dev_opts *o = p;
	char msg[CLI_MSG_LEN];
	struct lb_dp dp;

	(void)given;
	if (lb_dp_lock(&dp, cli_pin_dir, false, msg, sizeof(msg)) ||
	    lb_dp_detach(&dp, o->dev, msg, sizeof(msg)))
		return cli_fail(&dp, msg);
	lb_dp_close(&dp);
	return cli_report("detached", "detached from %s\n", o->dev);
}

/* Nothing pinned under the directory (-ENOENT from lb_dp_lock) is not an
 * error: there is nothing to unload. */
static int do_unload(void *p, const struct opt_args *given)
{
	char msg[CLI_MSG_LEN];
	struct lb_dp dp;
	int err;

	(void)p;
	(void)given;
	err = lb_dp_lock(&dp, cli_pin_dir, false, msg, sizeof(msg));
	if (err == -ENOENT) {
		lb_dp_close(&dp);
		return cli_report("unloaded", "nothing loaded under %s\n", cli_pin_dir);
	}
	if (err || lb_dp_unload(&dp, msg, sizeof(msg)))
		return cli_fail(&dp, msg);
	lb_dp_close(&dp);
	if (!access(cli_pin_dir, F_OK))
		return cli_report("unloaded",
				  "unloaded; kept %s: it holds files that are not inferlb's\n",
				  cli_pin_dir);
	return cli_report("unloaded", "unloaded; removed %s\n", cli_pin_dir);
}

static int do_decap_attach(void *p, const struct opt_args *given)
{
	const struct dev_opts *o = p;
	char msg[CLI_MSG_LEN];
	struct lb_dp dp;

	(void)given;
	if (lb_dp_lock(&dp, cli_pin_dir, true, msg, sizeof(msg)) ||
	    lb_dp_decap_attach(&dp, o->dev, o->mode, o->force, msg, sizeof(msg)))
		return cli_fail(&dp, msg);
	lb_dp_close(&dp);
	return cli_report("decap_attached", "decap attached to %s\n", o->dev);
}

static int do_decap_detach(void *p, const struct opt_args *given)
{
	const struct dev_opts *o = p;
	char msg[CLI_MSG_LEN];
	struct lb_dp dp;

	(void)given;
	if (lb_dp_lock(&dp, cli_pin_dir, false, msg, sizeof(msg)) ||
	    lb_dp_decap_detach(&dp, o->dev, msg, sizeof(msg)))
		return cli_fail(&dp, msg);
	lb_dp_close(&dp);
	return cli_report("decap_detached", "decap detached from %s\n", o->dev);
}

#define DEV_CMD(obj, vb, fn, tbl, text)                                   \
	{ .object = (obj), .verb = (vb), .run = (fn), .tables = (tbl),    \
	  .defaults = &dev_defaults, .size = sizeof(struct dev_opts),     \
	  .help = (text) }

const struct cli_cmd cmd_attach = DEV_CMD(NULL, "attach", do_attach, attach_tables,
	"load the datapath (once) and attach it to DEV");
const struct cli_cmd cmd_detach = DEV_CMD(NULL, "detach", do_detach, detach_tables,
	"detach the datapath from DEV");
const struct cli_cmd cmd_unload = {
	.verb = "unload", .run = do_unload, .tables = opts_no_args,
	.help = "detach everywhere and remove every pin",
};
const struct cli_cmd cmd_decap_attach = DEV_CMD("decap", "attach", do_decap_attach,
	attach_tables, "on a backend host: unwrap IPIP/IP6IP6 sent to DEV's addresses");
const struct cli_cmd cmd_decap_detach = DEV_CMD("decap", "detach", do_decap_detach,
	detach_tables, "remove the decap program from DEV");
