// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cmd_backend.c - lbctl backend add, del, state, release and set-weight:
 * one backend (VIP ADDR) of one VIP at a time.
 *
 * set-weight and backend state are the operator's overrides: lb-agent,
 * if it drives the VIP, leaves the weight (or state) alone until
 * `backend release` hands it back or --for runs out (lb_ops.h).
 */
#include <errno.h>

#include "inferlb.h"
#include "lb_addr.h"
#include "lb_names.h"
#include "lb_ops.h"
#include "lb_print.h"
#include "cli.h"

/* VIP ADDR [W | STATE]: every backend command fills this. */
struct backend_opts {
	struct lb_vip_key vip;
	struct cli_addr be;
	__u32 weight;
	__u8 state;	/* enum lb_be_state */
	__u64 for_ns;	/* override length; 0 = until released */
};
static const struct backend_opts backend_defaults = {
	.weight = LB_WEIGHT_DEFAULT,
};

/* The states an operator sets: the others are the agent's passage ones. */
static int settable_state_parse(const char *s, __u8 *out)
{
	if (lb_state_parse(s, out) || *out == LB_BE_STARTING ||
	    *out == LB_BE_HALF_OPEN)
		return -EINVAL;
	return 0;
}

#define WEIGHT_ROW(n, text)                                                 \
	{ .name = (n), .kind = OPT_U32, OPT_FIELD(struct backend_opts, weight), \
	  .metavar = "W", .label = "weight", .what = "a whole number",          \
	  .max = LB_WEIGHT_MAX, .help = (text) }

static const struct opt_desc backend_args[] = {
	{ .kind = OPT_VIP, OPT_FIELD(struct backend_opts, vip), .metavar = "VIP",
	  .help = "the VIP, ADDR:PORT/tcp|udp" },
	{ .kind = OPT_ADDR, OPT_FIELD(struct backend_opts, be), .metavar = "ADDR",
	  .help = "the backend's IP address" },
	OPT_TABLE_END,
};
static const struct opt_desc backend_add_args[] = {
	WEIGHT_ROW("weight", "0..1000000, default 100"),
	OPT_TABLE_END,
};
static const struct opt_desc state_args[] = {
	{ .kind = OPT_ENUM, OPT_FIELD(struct backend_opts, state),
	  .metavar = "healthy|draining|open|down", .label = "state",
	  .what = "healthy, draining, open or down", .parse = settable_state_parse },
	OPT_TABLE_END,
};
static const struct opt_desc weight_args[] = {
	WEIGHT_ROW(NULL, "0..1000000; 0 drains"),
	OPT_TABLE_END,
};
/* how long an operator's override lasts (set-weight, backend state) */
static const struct opt_desc override_args[] = {
	{ .name = "for", .kind = OPT_DURATION, OPT_FIELD(struct backend_opts, for_ns),
	  .metavar = "DURATION",
	  .help = "the override ends after DURATION (30s, 10m, 2h); default: "
		  "until 'backend release'" },
	OPT_TABLE_END,
};
static const struct opt_desc *const backend_add_tables[] = {
	backend_args, backend_add_args, NULL
};
static const struct opt_desc *const backend_tables[] = { backend_args, NULL };
static const struct opt_desc *const state_tables[] = {
	backend_args, state_args, override_args, NULL
};
static const struct opt_desc *const weight_tables[] = {
	backend_args, weight_args, override_args, NULL
};

/* What each backend command asks of the library. */
enum backend_op { BE_ADD, BE_DEL, BE_STATE, BE_WEIGHT, BE_RELEASE };

/*
 * The one path every backend command takes: lock and open the datapath,
 * make the change, close. Returns the library's result (>= 0), or -1
 * after printing the error (nothing changed).
 */
static int backend_change(const struct backend_opts *o, enum backend_op op)
{
	const __u8 *ad = o->be.addr;
	__u8 fam = o->be.family;
	char msg[CLI_MSG_LEN];
	struct lb_dp dp;
	int rc = -EINVAL;

	if (cli_open_dp(&dp))
		return -1;
	switch (op) {
	case BE_ADD:
		rc = lb_backend_add(&dp, &o->vip, ad, fam, o->weight, msg, sizeof(msg));
		break;
	case BE_DEL:
		rc = lb_backend_del(&dp, &o->vip, ad, fam, msg, sizeof(msg));
		break;
	case BE_STATE:
		rc = lb_backend_set_state(&dp, &o->vip, ad, fam, o->state, o->for_ns,
					  msg, sizeof(msg));
		break;
	case BE_WEIGHT:
		rc = lb_backend_set_weight(&dp, &o->vip, ad, fam, o->weight,
					   o->for_ns, msg, sizeof(msg));
		break;
	case BE_RELEASE:
		rc = lb_backend_release(&dp, &o->vip, ad, fam, msg, sizeof(msg));
		break;
	}
	if (rc < 0) {
		cli_fail(&dp, msg);
		return -1;
	}
	lb_dp_close(&dp);
	return rc;
}

static int do_backend_add(void *p, const struct opt_args *given)
{
	const struct backend_opts *o = p;
	char a[64], s[80];

	(void)given;
	if (backend_change(o, BE_ADD) < 0)
		return EXIT_RUNTIME;
	lb_out_open_object(NULL);
	lb_out_str("backend", "added backend %s",
		   lb_fmt_ip(o->be.addr, o->be.family, a, sizeof(a)));
	lb_out_str("vip", " to %s", lb_fmt_vip(&o->vip, s, sizeof(s)));
	lb_out_u64("weight", " with weight %llu\n", o->weight);
	lb_out_close_object();
	return 0;
}

static int do_backend_del(void *p, const struct opt_args *given)
{
	const struct backend_opts *o = p;
	char a[64], s[80];

	(void)given;
	if (backend_change(o, BE_DEL) < 0)
		return EXIT_RUNTIME;
	lb_out_open_object(NULL);
	lb_out_str("deleted", "deleted backend %s",
		   lb_fmt_ip(o->be.addr, o->be.family, a, sizeof(a)));
	lb_out_str("vip", " of %s\n", lb_fmt_vip(&o->vip, s, sizeof(s)));
	lb_out_close_object();
	return 0;
}

static int do_backend_state(void *p, const struct opt_args *given)
{
	const struct backend_opts *o = p;
	char a[64];

	(void)given;
	if (backend_change(o, BE_STATE) < 0)
		return EXIT_RUNTIME;
	lb_out_open_object(NULL);
	lb_out_str("backend", "backend %s",
		   lb_fmt_ip(o->be.addr, o->be.family, a, sizeof(a)));
	lb_out_str("state", " is now %s\n", lb_state_name(o->state));
	lb_out_close_object();
	return 0;
}

static int do_set_weight(void *p, const struct opt_args *given)
{
	const struct backend_opts *o = p;
	char a[64];

	(void)given;
	if (backend_change(o, BE_WEIGHT) < 0)
		return EXIT_RUNTIME;
	lb_out_open_object(NULL);
	lb_out_str("backend", "weight of %s",
		   lb_fmt_ip(o->be.addr, o->be.family, a, sizeof(a)));
	lb_out_u64("weight", " is now %llu", o->weight);
	lb_out_text("%s\n", o->weight ? "" : " (draining: no new flows)");
	lb_out_close_object();
	return 0;
}

static int do_backend_release(void *p, const struct opt_args *given)
{
	const struct backend_opts *o = p;
	char a[64];
	int rc;

	(void)given;
	rc = backend_change(o, BE_RELEASE);
	if (rc < 0)
		return EXIT_RUNTIME;
	lb_out_open_object(NULL);
	lb_out_str("released", rc ? "released %s\n" :
				    "%s has no override; nothing to release\n",
		   lb_fmt_ip(o->be.addr, o->be.family, a, sizeof(a)));
	lb_out_bool("had_override", NULL, rc);
	lb_out_close_object();
	return 0;
}

#define BACKEND_CMD(obj, vb, fn, tbl, text)                               \
	{ .object = (obj), .verb = (vb), .run = (fn), .tables = (tbl),    \
	  .defaults = &backend_defaults, .size = sizeof(struct backend_opts), \
	  .help = (text) }

const struct cli_cmd cmd_backend_add = BACKEND_CMD("backend", "add", do_backend_add,
	backend_add_tables, "add a backend");
const struct cli_cmd cmd_backend_del = BACKEND_CMD("backend", "del", do_backend_del,
	backend_tables, "delete a backend: new flows avoid it, its flows are re-hashed");
const struct cli_cmd cmd_backend_state = BACKEND_CMD("backend", "state",
	do_backend_state, state_tables,
	"set a state by hand: only healthy takes new flows; down moves its flows too");
const struct cli_cmd cmd_backend_release = BACKEND_CMD("backend", "release",
	do_backend_release, backend_tables,
	"hand a backend's weight and state back to lb-agent (ends an override)");
const struct cli_cmd cmd_set_weight = BACKEND_CMD(NULL, "set-weight", do_set_weight,
	weight_tables, "change a weight; 0 drains (no new flows, established ones go on)");
