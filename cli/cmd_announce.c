// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cmd_announce.c - lbctl announce [status|sync|withdraw|resume]: the VIP
 * routes a routing daemon exports to BGP (lib/lb_announce.h).
 *
 *   status    what is announced, what would be, and why not, per VIP
 *   sync      add the routes wanted, remove ours that are not
 *   withdraw  announce nothing (kept in the pins, across processes,
 *             until resume), and remove our routes now
 *   resume    clear that, and sync
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include "lb_addr.h"
#include "lb_announce.h"
#include "lb_print.h"
#include "cli.h"

struct announce_opts {
	__u32 table;
	__u32 proto;
};
static const struct announce_opts announce_defaults = {
	.table = LB_ANNOUNCE_TABLE_DEFAULT,
	.proto = LB_ANNOUNCE_PROTO_DEFAULT,
};

/* A number, then the library's rule for it (which says what is wrong
 * with main, local, or a routing daemon's protocol number). */
static int fill_route_num(const struct opt_desc *d, const char *s, void *cfg)
{
	char msg[CLI_MSG_LEN];
	__u32 v;
	int err;

	if (lb_parse_u32(s, 1, d->max, &v)) {
		lb_err("--%s '%s' is not a number from 1 to %u", d->name, s, d->max);
		return -1;
	}
	err = !strcmp(d->name, "table") ? lb_announce_check_table(v, msg, sizeof(msg)) :
					  lb_announce_check_proto(v, msg, sizeof(msg));
	if (err) {
		lb_err("--%s %s: %s", d->name, s, msg);
		return -1;
	}
	*(__u32 *)((char *)cfg + d->off) = v;
	return 0;
}

static const struct opt_desc announce_args[] = {
	{ .name = "table", .kind = OPT_FN, OPT_FIELD(struct announce_opts, table),
	  .metavar = "N", .max = 0xffffffffu, .fill = fill_route_num,
	  .help = "routing table of the VIP routes (default 4242)" },
	{ .name = "proto", .kind = OPT_FN, OPT_FIELD(struct announce_opts, proto),
	  .metavar = "N", .max = 255, .fill = fill_route_num,
	  .help = "their routing-protocol number (default 242, \"inferlb\")" },
	OPT_TABLE_END,
};
static const struct opt_desc *const announce_tables[] = { announce_args, NULL };

static struct lb_announce_opts lib_opts(const struct announce_opts *o)
{
	return (struct lb_announce_opts){ .table = o->table, .proto = o->proto,
					  .ready = true };
}

static const char *prefix_of(const struct lb_announce_route *r, char *buf,
			     size_t len)
{
	char a[64];

	snprintf(buf, len, "%s/%u", lb_fmt_ip(r->addr, r->family, a, sizeof(a)),
		 r->plen);
	return buf;
}

/* Per VIP: announced now, wanted, and why not. */
static void print_vip(const struct lb_announce *an,
		      const struct lb_announce_vip *v)
{
	const struct lb_announce_route *r = &an->routes[v->route];
	char s[80];

	lb_out_open_object(NULL);
	lb_out_str("vip", "vip %-28s", lb_fmt_vip(&v->key, s, sizeof(s)));
	lb_out_bool("announced", " announced %-3s", r->ours);
	lb_out_bool("wanted", " wanted %-3s", v->why == LB_ANN_OK);
	lb_out_str("reason", " (%s)", lb_announce_why_name(v->why));
	lb_out_u64("backends", "  backends %llu", v->backends);
	lb_out_u64("taking_new_flows", ", %llu take new flows\n", v->taking);
	lb_out_close_object();
}

static void print_route(const struct lb_announce_route *r)
{
	char p[80];

	lb_out_open_object(NULL);
	lb_out_str("prefix", "route %-30s", prefix_of(r, p, sizeof(p)));
	lb_out_bool("announced", " announced %-3s", r->ours);
	lb_out_bool("wanted", " wanted %-3s", r->want);
	lb_out_bool("changed", " changed %s", r->changed);
	if (r->foreign)
		lb_out_u64("other_proto", "  (another route to it, protocol %llu)",
			   r->foreign_proto);
	else
		lb_out_null("other_proto", NULL);
	lb_out_text("\n");
	lb_out_close_object();
}

static void print_state(const struct lb_announce *an, bool with_changes)
{
	lb_out_open_object(NULL);
	lb_out_u64("table", "announce: table %llu", an->o.table);
	lb_out_u64("proto", " proto %llu", an->o.proto);
	lb_out_bool("attached", "  attached %s", an->attached);
	lb_out_bool("withdrawn", "  withdrawn %s\n", an->withdrawn);
	if (with_changes) {
		lb_out_u64("added", "routes added %llu", an->added);
		lb_out_u64("removed", ", removed %llu\n", an->removed);
	}
	lb_out_open_array("vips");
	for (size_t i = 0; i < an->n_vips; i++)
		print_vip(an, &an->vips[i]);
	lb_out_close_array();
	/* the routes: every address a VIP has, and any of ours beside */
	lb_out_open_array("routes");
	for (size_t i = 0; i < an->n_routes; i++)
		if (an->routes[i].ours || an->routes[i].want ||
		    an->routes[i].changed || an->routes[i].conflict)
			print_route(&an->routes[i]);
	lb_out_close_array();
	lb_out_close_object();
}

/* Locks and opens the datapath; *none when nothing is pinned (routes of
 * ours may still be there: status shows them, sync withdraws them). */
static int open_dp(struct lb_dp *dp, bool *none)
{
	char msg[CLI_MSG_LEN];
	int err = lb_dp_lock(dp, cli_pin_dir, false, msg, sizeof(msg));

	if (!err)
		err = lb_dp_open(dp, msg, sizeof(msg));
	*none = err == -ENOENT;
	if (err && !*none) {
		lb_dp_close(dp);
		lb_err("%s", msg);
		return -1;
	}
	return 0;
}

enum verb { V_STATUS, V_SYNC, V_WITHDRAW, V_RESUME };

static int run_verb(const struct announce_opts *ao, enum verb verb)
{
	struct lb_announce_opts o = lib_opts(ao);
	char msg[CLI_MSG_LEN];
	struct lb_announce an;
	struct lb_dp dp;
	bool none;
	int err = 0;

	if (open_dp(&dp, &none))
		return EXIT_RUNTIME;
	if (none && verb == V_RESUME) {
		lb_dp_close(&dp);
		lb_err("inferlb is not loaded under %s: nothing to resume",
		       cli_pin_dir);
		return EXIT_RUNTIME;
	}
	if (!none && (verb == V_WITHDRAW || verb == V_RESUME))
		err = lb_announce_set_withdrawn(&dp, verb == V_WITHDRAW, msg,
						sizeof(msg));
	if (err)
		return cli_fail(&dp, msg);
	if (verb == V_STATUS)
		err = lb_announce_plan(none ? NULL : &dp, &o, &an, msg, sizeof(msg));
	else
		err = lb_announce_sync(none ? NULL : &dp, &o, &an, msg, sizeof(msg));
	lb_dp_close(&dp);
	if (err && !an.n_routes && !an.n_vips) {
		lb_err("%s", msg);
		return EXIT_RUNTIME;
	}
	print_state(&an, verb != V_STATUS);
	lb_announce_free(&an);
	if (err) {
		lb_err("%s", msg);
		return EXIT_RUNTIME;
	}
	return 0;
}

static int do_status(void *p, const struct opt_args *g)
{
	(void)g;
	return run_verb(p, V_STATUS);
}

static int do_sync(void *p, const struct opt_args *g)
{
	(void)g;
	return run_verb(p, V_SYNC);
}

static int do_withdraw(void *p, const struct opt_args *g)
{
	(void)g;
	return run_verb(p, V_WITHDRAW);
}

static int do_resume(void *p, const struct opt_args *g)
{
	(void)g;
	return run_verb(p, V_RESUME);
}

#define ANNOUNCE_CMD(vb, fn, text, dflt)                                     \
	{ .object = "announce", .verb = (vb), .run = (fn),                   \
	  .tables = announce_tables, .defaults = &announce_defaults,         \
	  .size = sizeof(struct announce_opts), .help = (text),              \
	  .object_default = (dflt) }

const struct cli_cmd cmd_announce_status = ANNOUNCE_CMD("status", do_status,
	"the VIP routes: announced, wanted, and why not (also plain 'announce')", true);
const struct cli_cmd cmd_announce_sync = ANNOUNCE_CMD("sync", do_sync,
	"add the VIP routes wanted, remove ours that are not", false);
const struct cli_cmd cmd_announce_withdraw = ANNOUNCE_CMD("withdraw", do_withdraw,
	"announce nothing until 'announce resume' (kept across processes); remove the routes", false);
const struct cli_cmd cmd_announce_resume = ANNOUNCE_CMD("resume", do_resume,
	"end 'announce withdraw' and sync", false);
