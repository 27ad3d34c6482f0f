// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cmd_backend.c - lbctl backend add, del, state, release and set-weight:
 * one backend (VIP ADDR) of one VIP at a time.
 *
 * set-weight and backend state are the operator's overrides: lb-agent,
 * if it drives the VIP, leaves the weight (or state) alone until
 * `backend release` hands it back or --for runs out (lb_ops.h).
 *
 * backend del cuts the backend's open streams (its flows are re-hashed to
 * backends that reset them); backend del --drain first makes it DRAINING
 * (an override, so lb-agent keeps it so) with weight 0, waits for its open
 * flows to end, then deletes it the same way.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>

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
	bool drain;	/* backend del: wait for its flows to end first */
	__u64 timeout_ns;	/* --drain: give up after this long */
	__u64 idle_ns;	/* --drain: a flow idle this long has ended */
};
#define NS_PER_S 1000000000ull
/* An operator waits minutes for streams to end, not hours: beyond this
 * the remaining flows are most likely clients gone without a FIN. */
#define DRAIN_TIMEOUT_DEFAULT_NS (300 * NS_PER_S)
/* lb-agent's flow_idle_ms default: the same flows count as ended. */
#define DRAIN_IDLE_DEFAULT_NS (10 * NS_PER_S)
static const struct backend_opts backend_defaults = {
	.weight = LB_WEIGHT_DEFAULT,
	.timeout_ns = DRAIN_TIMEOUT_DEFAULT_NS,
	.idle_ns = DRAIN_IDLE_DEFAULT_NS,
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
static const struct opt_desc del_args[] = {
	{ .name = "drain", .kind = OPT_FLAG, OPT_FIELD(struct backend_opts, drain),
	  .help = "first stop new flows and wait for its open flows to end "
		  "(Ctrl-C: it stays draining)" },
	OPT_TABLE_END,
};
/* what only --drain takes */
static const struct opt_desc drain_args[] = {
	{ .name = "timeout", .kind = OPT_DURATION,
	  OPT_FIELD(struct backend_opts, timeout_ns), .metavar = "DURATION",
	  .help = "with --drain: give up after DURATION (default 5m): exit 1, "
		  "left draining, nothing cut" },
	{ .name = "idle", .kind = OPT_DURATION,
	  OPT_FIELD(struct backend_opts, idle_ns), .metavar = "DURATION",
	  .help = "with --drain: a flow idle this long has ended (default 10s, "
		  "at least 1s)" },
	OPT_TABLE_END,
};
static const struct opt_desc *const backend_add_tables[] = {
	backend_args, backend_add_args, NULL
};
static const struct opt_desc *const backend_tables[] = { backend_args, NULL };
static const struct opt_desc *const del_tables[] = {
	backend_args, del_args, drain_args, NULL
};
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

/* "deleted backend ADDR of VIP" (plain and drained del) */
static void print_deleted(const struct backend_opts *o)
{
	char a[64], s[80];

	lb_out_str("deleted", "deleted backend %s",
		   lb_fmt_ip(o->be.addr, o->be.family, a, sizeof(a)));
	lb_out_str("vip", " of %s", lb_fmt_vip(&o->vip, s, sizeof(s)));
}

/* ---- backend del --drain ------------------------------------------------ */

static volatile sig_atomic_t drain_stop;
static void on_drain_signal(int sig)
{
	drain_stop = sig;
}

/* One drain, from the first step to its end. */
struct drain {
	const struct backend_opts *o;
	struct lb_dp dp;
	struct lb_backend_view was;	/* the backend before the drain */
	__u32 first_tick;	/* the flow clock's first value we wrote */
	__u32 idle_ticks;
	__u64 start_ms;
	__u64 open;		/* its open flows at the last count */
	char a[64], s[80];	/* its address and VIP, printed */
	char msg[CLI_MSG_LEN];
};

/* How a look at a draining backend ended: flows remain, it is deleted,
 * someone else took it over (deleted it, or changed its state), or a
 * failure left it draining. */
enum drain_step { DRAIN_WAIT, DRAIN_DELETED, DRAIN_TAKEN, DRAIN_FAILED };

/*
 * One look, with the lock held: move the flow clock, check the backend is
 * still the one we drain, count its open flows and delete it once there
 * are none. Idleness (--idle) counts only once this run has moved the
 * clock for that long, as lb-agent's recount: before, a flow's tick may
 * be one nobody moved since (no agent) and says nothing about it.
 */
static enum drain_step drain_look(struct drain *d)
{
	const struct backend_opts *o = d->o;
	__u32 tick = lb_tick_now(), since;
	struct lb_backend_view cur;
	int err;

	if (lb_tick_set(&d->dp, tick, d->msg, sizeof(d->msg)))
		goto fail;
	if (!d->first_tick)
		d->first_tick = tick;
	err = lb_backend_find(&d->dp, &o->vip, o->be.addr, o->be.family, &cur,
			      d->msg, sizeof(d->msg));
	if (err == -ENOENT || (!err && (cur.id != d->was.id ||
					cur.be.epoch != d->was.be.epoch))) {
		snprintf(d->msg, sizeof(d->msg),
			 "%s is no longer a backend of %s: someone else deleted it "
			 "while it drained (cutting the flows it still had)", d->a, d->s);
		return DRAIN_TAKEN;
	}
	if (err)
		goto fail;
	if (cur.be.state != LB_BE_DRAINING ||
	    !(lb_backend_override(&cur.be, lb_boottime_ns()) & LB_BACKEND_F_OVR_STATE)) {
		snprintf(d->msg, sizeof(d->msg),
			 "%s is no longer draining (state %s%s, by 'lbctl backend "
			 "state' or 'backend release'); not deleted", d->a,
			 lb_state_name(cur.be.state),
			 cur.be.flags & LB_BACKEND_F_OVR_STATE ? "" : ", handed back to lb-agent");
		return DRAIN_TAKEN;
	}
	since = tick - d->first_tick >= d->idle_ticks ? tick - d->idle_ticks : 0;
	if (lb_backend_open_flows(&d->dp, cur.id, since, &d->open, d->msg,
				  sizeof(d->msg)))
		goto fail;
	if (d->open)
		return DRAIN_WAIT;
	/* the same path as a plain del: with no flow left it cuts nothing */
	if (lb_backend_del(&d->dp, &o->vip, o->be.addr, o->be.family, d->msg,
			   sizeof(d->msg)) < 0)
		goto fail;
	return DRAIN_DELETED;
fail:
	return DRAIN_FAILED;
}

/* How to go on from a drain that stopped before the delete: the operator
 * finishes it, cuts the rest, or puts the backend back. */
static void drain_left(struct drain *d, const char *why)
{
	char w[48] = "W";

	if (d->was.be.weight)
		snprintf(w, sizeof(w), "%u", d->was.be.weight);
	lb_err("%s: backend %s of %s is left draining, not deleted (%llu open "
	       "flows, no new ones). To finish: 'lbctl backend del %s %s --drain' "
	       "again, or 'lbctl backend del %s %s' now, which resets its open "
	       "flows. To put it back: 'lbctl backend state %s %s healthy' and "
	       "'lbctl set-weight %s %s %s' (or 'lbctl backend release %s %s' "
	       "under lb-agent)", why, d->a, d->s, (unsigned long long)d->open,
	       d->s, d->a, d->s, d->a, d->s, d->a, d->s, d->a, w, d->s, d->a);
}

/* A failure after the first step: say what it left. */
static int drain_fail_left(struct drain *d)
{
	char why[CLI_MSG_LEN];

	snprintf(why, sizeof(why), "%s", d->msg);
	drain_left(d, why);
	lb_dp_close(&d->dp);
	return EXIT_RUNTIME;
}

/* Sleeps until start + ms (a signal ends it early). */
static void sleep_until(__u64 start, __u64 ms)
{
	__u64 now = lb_mono_ms();

	if (now < start + ms) {
		__u64 left = start + ms - now;
		struct timespec ts = { .tv_sec = left / 1000,
				       .tv_nsec = (left % 1000) * 1000000 };

		nanosleep(&ts, NULL);
	}
}

/*
 * With lb-agent beside us: the override keeps the backend draining while
 * we wait, but the agent makes the maps match its config file again (at
 * a reload, a restart, or a publish that finds the backend gone), so a
 * backend still in that file may come back after the delete. Said, not
 * prevented: lbctl does not know the agent's file.
 */
static void drain_warn_agent(struct lb_dp *dp, const char *a)
{
	struct lb_agent_status st = { 0 };
	__u32 zero = 0;

	if (bpf_map_lookup_elem(dp->fd[LB_M_AGENT], &zero, &st) || !st.pid)
		return;
	lb_warn("lb-agent (pid %u) drives these maps: it keeps %s draining while "
		"this waits, but if %s is in its config file the agent may add it "
		"back after the delete (it makes the maps match the file again); "
		"take it out of the file and reload the agent (SIGHUP) once it is "
		"deleted", st.pid, a, a);
}

static int backend_drain_del(const struct backend_opts *o)
{
	struct sigaction sa = { .sa_handler = on_drain_signal };
	struct drain d = { .o = o };
	enum drain_step step;
	__u64 elapsed = 0;

	lb_fmt_ip(o->be.addr, o->be.family, d.a, sizeof(d.a));
	lb_fmt_vip(&o->vip, d.s, sizeof(d.s));
	d.idle_ticks = (o->idle_ns / 1000000 + LB_TICK_MS - 1) / LB_TICK_MS;
	/* no SA_RESTART: a signal ends the sleep at once */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (cli_open_dp(&d.dp))
		return EXIT_RUNTIME;
	if (drain_stop) {	/* while we waited for the lock */
		lb_dp_close(&d.dp);
		lb_err("interrupted before the drain began: nothing changed");
		return EXIT_RUNTIME;
	}
	if (lb_backend_drain(&d.dp, &o->vip, o->be.addr, o->be.family, &d.was,
			     d.msg, sizeof(d.msg)))
		return cli_fail(&d.dp, d.msg);	/* nothing changed */
	drain_warn_agent(&d.dp, d.a);
	d.start_ms = lb_mono_ms();
	lb_out_text("draining backend %s of %s: no new flows; deleting it when "
		    "its open flows end (timeout %llu s; a flow idle %u s has "
		    "ended; Ctrl-C leaves it draining)\n", d.a, d.s,
		    (unsigned long long)(o->timeout_ns / NS_PER_S),
		    d.idle_ticks * LB_TICK_MS / 1000);
	for (;;) {
		step = drain_look(&d);
		lb_dp_unlock(&d.dp);
		if (step != DRAIN_WAIT)
			break;
		elapsed = lb_mono_ms() - d.start_ms;
		lb_out_text("  %llu open flows, %llu s elapsed\n",
			    (unsigned long long)d.open,
			    (unsigned long long)(elapsed / 1000));
		fflush(stdout);
		if (drain_stop || elapsed >= o->timeout_ns / 1000000)
			break;
		/* one look a second, on the second from the start */
		sleep_until(d.start_ms, (elapsed / 1000 + 1) * 1000);
		if (drain_stop)
			break;
		if (lb_dp_relock(&d.dp, d.msg, sizeof(d.msg)))
			return drain_fail_left(&d);
	}
	if (step == DRAIN_TAKEN)
		return cli_fail(&d.dp, d.msg);
	if (step == DRAIN_FAILED)
		return drain_fail_left(&d);
	if (step == DRAIN_WAIT) {
		char why[96];

		if (drain_stop)
			snprintf(why, sizeof(why), "interrupted (%s) after %llu s",
				 drain_stop == SIGINT ? "SIGINT" : "SIGTERM",
				 (unsigned long long)(elapsed / 1000));
		else
			snprintf(why, sizeof(why), "timed out after %llu s",
				 (unsigned long long)(elapsed / 1000));
		drain_left(&d, why);
		lb_dp_close(&d.dp);
		return EXIT_RUNTIME;
	}
	lb_dp_close(&d.dp);
	lb_out_open_object(NULL);
	print_deleted(o);
	lb_out_bool("drained", NULL, true);
	lb_out_double("waited_s", " (drained: its last open flow ended within %.0f s)\n",
		      (lb_mono_ms() - d.start_ms) / 1000.0);
	lb_out_close_object();
	return 0;
}

static int do_backend_del(void *p, const struct opt_args *given)
{
	const struct backend_opts *o = p;

	if (!o->drain && opts_given(drain_args, given)) {
		lb_err("--timeout and --idle go with --drain: 'lbctl backend del "
		       "VIP ADDR --drain [--timeout DURATION]'");
		return EXIT_USAGE;
	}
	if (o->drain && o->idle_ns < LB_TICK_MS * 1000000ull) {
		lb_err("--idle must be at least 1s: the flow clock moves once a second");
		return EXIT_USAGE;
	}
	if (o->drain)
		return backend_drain_del(o);
	if (backend_change(o, BE_DEL) < 0)
		return EXIT_RUNTIME;
	lb_out_open_object(NULL);
	print_deleted(o);
	lb_out_text("\n");
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
	del_tables, "delete a backend: plain del resets its open streams at once; "
	"--drain cuts none");
const struct cli_cmd cmd_backend_state = BACKEND_CMD("backend", "state",
	do_backend_state, state_tables,
	"set a state by hand: only healthy takes new flows; down moves its flows too");
const struct cli_cmd cmd_backend_release = BACKEND_CMD("backend", "release",
	do_backend_release, backend_tables,
	"hand a backend's weight and state back to lb-agent (ends an override)");
const struct cli_cmd cmd_set_weight = BACKEND_CMD(NULL, "set-weight", do_set_weight,
	weight_tables, "change a weight; 0 drains (no new flows, established ones go on)");
