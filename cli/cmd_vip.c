// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cmd_vip.c - lbctl vip add, set, del, list.
 *
 * vip add and vip set share one table of policy and admission options
 * (vip_admission_args) and one struct; vip set fills the options it was
 * given twice: once to check them before anything is opened, then over
 * the VIP's live settings, so what was not given stays as it is.
 */
#include <stdint.h>
#include <string.h>

#include "inferlb.h"
#include "lb_addr.h"
#include "lb_maglev.h"
#include "lb_names.h"
#include "lb_ops.h"
#include "lb_print.h"
#include "cli.h"

struct vip_opts {
	struct lb_vip_key key;
	struct lb_vip_opts o;
};
static const struct vip_opts vip_add_defaults = { .o = LB_VIP_OPTS_DEFAULT };
/* vip set: only given options are used, over the live settings */
static const struct vip_opts vip_defaults;

/* The client prefix is a length of the VIP's family: /1../32 or /1../128. */
static int fill_client_prefix(const struct opt_desc *d, const char *s, void *cfg)
{
	const struct vip_opts *v = cfg;
	struct opt_desc row = *d;

	row.kind = OPT_U32;
	row.size = 1;
	if (v->key.family == LB_AF_INET6) {
		row.max = 128;
		row.off = offsetof(struct vip_opts, o.client_plen6);
	} else {
		row.max = 32;
		row.off = offsetof(struct vip_opts, o.client_plen4);
	}
	return opts_fill_value(&row, s, cfg);
}

#define U32_OPT(n, member, mv, text)                                   \
	{ .name = (n), .kind = OPT_U32, OPT_FIELD(struct vip_opts, member), \
	  .metavar = (mv), .max = UINT32_MAX, .help = (text) }

static const struct opt_desc vip_key_args[] = {
	{ .kind = OPT_VIP, OPT_FIELD(struct vip_opts, key),
	  .metavar = "ADDR:PORT/tcp|udp",
	  .help = "the VIP; IPv6 as [2001:db8::10]:8000/tcp" },
	OPT_TABLE_END,
};
static const struct opt_desc vip_add_args[] = {
	{ .name = "mode", .kind = OPT_ENUM, OPT_FIELD(struct vip_opts, o.mode),
	  .metavar = "ipip|l2dsr", .label = "mode", .what = "ipip or l2dsr",
	  .parse = lb_mode_parse,
	  .help = "how packets reach the backends (default ipip)" },
	{ .name = "ring-size", .kind = OPT_U32,
	  OPT_FIELD(struct vip_opts, o.ring_size), .metavar = "M",
	  .label = "ring size", .what = "a prime", .min = LB_RING_SIZE_MIN,
	  .max = LB_RING_SIZE_MAX, .valid = lb_ring_size_ok, .example = "65537",
	  .help = "slots of its table, a prime (default 65537)" },
	OPT_TABLE_END,
};
/* How new flows are picked and admitted: vip add and vip set. */
static const struct opt_desc vip_admission_args[] = {
	{ .name = "policy", .kind = OPT_ENUM, OPT_FIELD(struct vip_opts, o.policy),
	  .metavar = "P", .label = "policy",
	  .what = "one of maglev, source, bounded, p2c, wrr, rr, random, least-conn, expected-wait",
	  .parse = lb_policy_parse,
	  .help = "maglev (default), source, bounded, p2c, wrr, rr, random, least-conn, expected-wait" },
	U32_OPT("rate", o.rate, "R", "new flows/s for the VIP, 0 = no limit"),
	U32_OPT("burst", o.burst, "B", "new flows at once above the rate"),
	U32_OPT("client-rate", o.client_rate, "R", "new flows/s per client prefix"),
	U32_OPT("client-burst", o.client_burst, "B", "the same, burst"),
	{ .name = "client-prefix", .kind = OPT_FN, .fill = fill_client_prefix,
	  .metavar = "LEN", .min = 1, .what = "a prefix length",
	  .help = "what one client is (default /32, /64)" },
	{ .name = "refuse", .kind = OPT_ENUM, OPT_FIELD(struct vip_opts, o.refuse),
	  .metavar = "reset|drop", .what = "reset or drop", .parse = lb_refuse_parse,
	  .help = "what a refused new flow gets" },
	{ .name = "fail-open", .kind = OPT_ONOFF,
	  OPT_FIELD(struct vip_opts, o.fail_open), .metavar = "on|off",
	  .help = "when every backend refuses by state, pick one anyway" },
	{ .name = "second-chance", .kind = OPT_ONOFF,
	  OPT_FIELD(struct vip_opts, o.second_chance), .metavar = "on|off",
	  .help = "ipip: a flow without entry also carries a second hop, its slot's previous owner or its other hashed candidate (default on)" },
	{ .name = "pair-choice", .kind = OPT_ONOFF,
	  OPT_FIELD(struct vip_opts, o.pair_choice), .metavar = "on|off",
	  .help = "least-conn, expected-wait: choose between the flow's two hashed candidates, so second chance finds flows from any host (default off; on in a config file with a cluster: section)" },
	{ .name = "epsilon", .kind = OPT_U32,
	  OPT_FIELD(struct vip_opts, o.bounded_eps), .metavar = "PCT", .max = 10000,
	  .help = "bounded: load allowed above the mean, percent (default 25)" },
	{ .name = "ttft-target", .kind = OPT_U32,
	  OPT_FIELD(struct vip_opts, o.ttft_target_ms), .metavar = "MS",
	  .max = LB_TTFT_TARGET_MAX_MS,
	  .help = "expected-wait: refuse a new flow that would wait longer, 0 = never" },
	OPT_TABLE_END,
};
static const struct opt_desc *const vip_add_tables[] = {
	vip_key_args, vip_add_args, vip_admission_args, NULL
};
static const struct opt_desc *const vip_set_tables[] = {
	vip_key_args, vip_admission_args, NULL
};
static const struct opt_desc *const vip_key_tables[] = { vip_key_args, NULL };

void cli_print_admission(const struct lb_vip *v)
{
	lb_out_str("policy", "  policy %s", lb_policy_name(v->policy));
	lb_out_u64("rate", "  rate %llu", v->rate);
	lb_out_u64("burst", "/%llu", v->burst);
	lb_out_u64("client_rate", "  client rate %llu", v->client_rate);
	lb_out_u64("client_burst", "/%llu", v->client_burst);
	lb_out_u64("client_prefix", " per /%llu",
		   v->key.family == LB_AF_INET6 ?
			   (v->client_plen6 ? v->client_plen6 : 64) :
			   (v->client_plen4 ? v->client_plen4 : 32));
	lb_out_str("refuse", "  refuse %s", lb_refuse_name(v->refuse));
	lb_out_bool("fail_open", "  fail-open %s", v->flags & LB_VIP_F_FAIL_OPEN);
	lb_out_bool("second_chance", "  second-chance %s",
		    v->flags & LB_VIP_F_SECOND_CHANCE);
	lb_out_bool("pair_choice", "  pair-choice %s",
		    v->flags & LB_VIP_F_PAIR_CHOICE);
	lb_out_u64("epsilon", "  epsilon %llu%%", v->bounded_eps);
	lb_out_u64("ttft_target_ms", "  ttft-target %llu ms", v->ttft_target_ms);
}

static int do_vip_add(void *p, const struct opt_args *given)
{
	const struct vip_opts *o = p;
	char msg[CLI_MSG_LEN], s[80];
	struct lb_vip_view v;
	struct lb_dp dp;

	(void)given;
	if (cli_open_dp(&dp))
		return EXIT_RUNTIME;
	if (lb_vip_add(&dp, &o->key, &o->o, msg, sizeof(msg)))
		return cli_fail(&dp, msg);
	if (lb_vip_find(&dp, &o->key, &v))
		return cli_fail(&dp, "the VIP was added but cannot be read back");
	lb_dp_close(&dp);
	lb_out_open_object(NULL);
	lb_out_str("vip", "added VIP %s", lb_fmt_vip(&o->key, s, sizeof(s)));
	lb_out_str("mode", " (%s", lb_mode_name(o->o.mode));
	lb_out_u64("ring_size", ", ring %llu)", o->o.ring_size);
	cli_print_admission(&v.info);
	lb_out_text("\n");
	lb_out_close_object();
	return 0;
}

static int do_vip_set(void *p, const struct opt_args *given)
{
	const struct vip_opts *o = p;
	char msg[CLI_MSG_LEN], s[80];
	struct vip_opts live;
	struct lb_vip_view v;
	struct lb_dp dp;

	if (!opts_given(vip_admission_args, given)) {
		lb_err("vip set needs at least one option; see 'lbctl vip help'");
		return EXIT_USAGE;
	}
	if (cli_open_dp(&dp))
		return EXIT_RUNTIME;
	if (lb_vip_find(&dp, &o->key, &v)) {
		lb_dp_close(&dp);
		lb_err("no VIP %s; add it with 'lbctl vip add %s'",
		       lb_fmt_vip(&o->key, s, sizeof(s)), s);
		return EXIT_RUNTIME;
	}
	live.key = o->key;
	lb_vip_opts_of(&v.info, &live.o);
	/* checked once already: the same values cannot fail now */
	opts_fill(vip_admission_args, given, &live);
	if (lb_vip_set(&dp, &o->key, &live.o, msg, sizeof(msg)))
		return cli_fail(&dp, msg);
	if (lb_vip_find(&dp, &o->key, &v))
		return cli_fail(&dp, "the VIP was changed but cannot be read back");
	lb_dp_close(&dp);
	lb_out_open_object(NULL);
	lb_out_str("vip", "VIP %s", lb_fmt_vip(&o->key, s, sizeof(s)));
	cli_print_admission(&v.info);
	lb_out_text("\n");
	lb_out_close_object();
	return 0;
}

static int do_vip_del(void *p, const struct opt_args *given)
{
	const struct vip_opts *o = p;
	char msg[CLI_MSG_LEN], s[80];
	struct lb_dp dp;

	(void)given;
	if (cli_open_dp(&dp))
		return EXIT_RUNTIME;
	if (lb_vip_del(&dp, &o->key, msg, sizeof(msg)))
		return cli_fail(&dp, msg);
	lb_dp_close(&dp);
	return cli_report("deleted", "deleted VIP %s\n", lb_fmt_vip(&o->key, s, sizeof(s)));
}

static int do_vip_list(void *p, const struct opt_args *given)
{
	struct lb_dp dp;
	int err;

	(void)p;
	(void)given;
	if (cli_open_dp(&dp))
		return EXIT_RUNTIME;
	lb_out_open_object(NULL);
	err = cli_print_vips(&dp, false);
	lb_out_close_object();
	lb_dp_close(&dp);
	return err ? EXIT_RUNTIME : 0;
}

#define VIP_CMD(vb, fn, tbl, defs, text)                                  \
	{ .object = "vip", .verb = (vb), .run = (fn), .tables = (tbl),     \
	  .defaults = (defs), .size = sizeof(struct vip_opts), .help = (text) }

const struct cli_cmd cmd_vip_add = VIP_CMD("add", do_vip_add, vip_add_tables,
	&vip_add_defaults, "add a VIP, with every option of vip set");
const struct cli_cmd cmd_vip_set = VIP_CMD("set", do_vip_set, vip_set_tables,
	&vip_defaults, "change how a VIP picks and admits new flows");
const struct cli_cmd cmd_vip_del = VIP_CMD("del", do_vip_del, vip_key_tables,
	&vip_defaults, "delete a VIP");
const struct cli_cmd cmd_vip_list = {
	.object = "vip", .verb = "list", .run = do_vip_list, .tables = opts_no_args,
	.help = "list the VIPs",
};
