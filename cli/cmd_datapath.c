// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cmd_datapath.c - lbctl attach, detach, unload, decap attach/detach: the
 * programs and their pins, not what they balance.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>

#include "lb_announce.h"
#include "lb_ops.h"
#include "lb_print.h"
#include "lb_stats.h"
#include "cli.h"

/* DEV [--mode native|skb] [--force]: every command here fills this;
 * detach adds --drain and its waits. */
struct dev_opts {
	const char *dev;
	__u8 mode;	/* enum lb_xdp_mode */
	bool force;
	bool drain;	/* detach: withdraw, wait for the traffic to move */
	__u32 quiet_ms;	/* ... until the VIPs' packet counters stand still */
	__u32 timeout_s;	/* ... or this long */
};
#define DRAIN_QUIET_MS_DEFAULT 1000
#define DRAIN_TIMEOUT_S_DEFAULT 60
static const struct dev_opts dev_defaults = {
	.mode = LB_XDP_NATIVE, .quiet_ms = DRAIN_QUIET_MS_DEFAULT,
	.timeout_s = DRAIN_TIMEOUT_S_DEFAULT,
};

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
static const struct opt_desc detach_args[] = {
	{ .name = "drain", .kind = OPT_FLAG, OPT_FIELD(struct dev_opts, drain),
	  .help = "withdraw the VIP routes first, wait until the router has moved "
		  "the traffic, then detach" },
	{ .name = "quiet-ms", .kind = OPT_U32, OPT_FIELD(struct dev_opts, quiet_ms),
	  .metavar = "MS", .label = "--quiet-ms", .what = "a number of ms",
	  .min = 100, .max = 600000,
	  .help = "with --drain: moved once no VIP packet arrived for MS ms (default 1000)" },
	{ .name = "timeout", .kind = OPT_U32, OPT_FIELD(struct dev_opts, timeout_s),
	  .metavar = "S", .label = "--timeout", .what = "a number of seconds",
	  .min = 1, .max = 86400,
	  .help = "with --drain: detach after S s even if traffic still arrives (default 60)" },
	OPT_TABLE_END,
};
static const struct opt_desc *const attach_tables[] = { dev_args, attach_args, NULL };
static const struct opt_desc *const detach_tables[] = { dev_args, detach_args, NULL };
static const struct opt_desc *const decap_detach_tables[] = { dev_args, NULL };

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

/* ---- detach: never leave a detached host announcing -------------------- */

/* Removes every VIP route of ours from where they were announced (the
 * defaults when the maps cannot be read). */
static int withdraw_routes(struct lb_dp *dp, bool maps_open, char *msg,
			   size_t len, unsigned int *removed)
{
	struct lb_announce_opts o = LB_ANNOUNCE_OPTS_DEFAULT;
	struct lb_announce an;
	int err;

	if (maps_open)
		lb_announce_recorded(dp, &o, NULL, 0);
	err = lb_announce_sync(NULL, &o, &an, msg, len);
	*removed = an.removed;
	lb_announce_free(&an);
	return err;
}

/* Whether dev is attached, and whether another device is too. */
static bool attached_to(struct lb_dp *dp, const char *dev, bool *others)
{
	char names[64][16];
	int n = lb_dp_attached(dp, names, 64);
	bool found = false;

	*others = false;
	for (int i = 0; i < n; i++) {
		if (!strcmp(names[i], dev))
			found = true;
		else
			*others = true;
	}
	return found;
}

/* Packets the datapath has forwarded to all VIPs, summed over CPUs. */
static int vip_packets(struct lb_dp *dp, __u64 *sum)
{
	struct lb_vip_view *v = calloc(LB_MAX_VIPS, sizeof(*v));
	int n = v ? lb_vip_list(dp, v, LB_MAX_VIPS) : -ENOMEM;

	*sum = 0;
	for (int i = 0; i < n; i++) {
		struct lb_counters c;
		int err = lb_percpu_sum(dp->fd[LB_M_VIP_STATS], v[i].id, &c,
					sizeof(c));

		if (err) {
			n = err;
			break;
		}
		*sum += c.packets;
	}
	free(v);
	return n < 0 ? n : 0;
}

static volatile sig_atomic_t drain_stop;
static void on_drain_signal(int sig)
{
	drain_stop = sig;
}

/*
 * Waits (the lock released, so lb-agent goes on) until the VIPs' packet
 * counters stood still for quiet_ms, or timeout_s. Returns 1 when quiet,
 * 0 at the timeout, -1 if interrupted, or a negative errno.
 */
static int wait_quiet(struct lb_dp *dp, const struct dev_opts *o,
		      __u64 *waited_ms)
{
	__u64 start = lb_mono_ms(), last_change = start, next_report = start + 1000;
	__u64 last, now, cur, at_report;
	int err = vip_packets(dp, &last);

	at_report = last;
	while (!err) {
		now = lb_mono_ms();
		*waited_ms = now - start;
		if (now - last_change >= o->quiet_ms)
			return 1;
		if (now - start >= (__u64)o->timeout_s * 1000)
			return 0;
		if (drain_stop)
			return -1;
		usleep(100 * 1000);
		err = vip_packets(dp, &cur);
		if (err)
			break;
		now = lb_mono_ms();
		if (cur != last) {
			last = cur;
			last_change = now;
		}
		if (now >= next_report) {
			lb_out_text("  %4.1f s: %llu VIP packets in the last second, "
				    "quiet for %llu ms\n", (now - start) / 1000.0,
				    (unsigned long long)(cur - at_report),
				    (unsigned long long)(now - last_change));
			fflush(stdout);
			at_report = cur;
			next_report = now + 1000;
		}
	}
	return err;
}

/*
 * detach --drain: withdraw (LB_SETTINGS_F_WITHDRAWN, so an agent's next
 * sync does not announce again, and the routes removed), wait while the
 * datapath keeps forwarding until the router has moved the traffic, then
 * detach. On the last device the flag goes back to what it was (the
 * detached host announces nothing anyway, and a later attach announces
 * again); with other devices still attached it stays set until
 * 'lbctl announce resume'.
 */
static int detach_drain(const struct dev_opts *o)
{
	struct sigaction sa = { .sa_handler = on_drain_signal };
	struct lb_announce_opts ao;
	struct lb_announce an;
	char msg[CLI_MSG_LEN];
	bool was = false, others, quiet;
	__u64 waited = 0;
	struct lb_dp dp;
	int r;

	if (cli_open_dp(&dp))
		return EXIT_RUNTIME;
	if (!attached_to(&dp, o->dev, &others)) {
		lb_dp_close(&dp);
		lb_err("inferlb is not attached to %s", o->dev);
		return EXIT_RUNTIME;
	}
	if (lb_announce_recorded(&dp, &ao, msg, sizeof(msg)) ||
	    lb_announce_withdrawn(&dp, &was, msg, sizeof(msg)) ||
	    lb_announce_set_withdrawn(&dp, true, msg, sizeof(msg)))
		return cli_fail(&dp, msg);
	if (lb_announce_sync(&dp, &ao, &an, msg, sizeof(msg))) {
		lb_announce_free(&an);
		lb_err("%s (the host stays withdrawn and attached)", msg);
		lb_dp_close(&dp);
		return EXIT_RUNTIME;
	}
	lb_out_text("withdrawn: %u VIP routes removed from table %u; waiting until "
		    "no VIP packet arrives for %u ms (at most %u s)\n", an.removed,
		    ao.table, o->quiet_ms, o->timeout_s);
	fflush(stdout);
	lb_announce_free(&an);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	lb_dp_unlock(&dp);
	r = wait_quiet(&dp, o, &waited);
	if (r == -1) {
		lb_dp_close(&dp);
		lb_err("interrupted after %.1f s: withdrawn and still attached to %s "
		       "('lbctl announce resume' announces again)", waited / 1000.0,
		       o->dev);
		return EXIT_RUNTIME;
	}
	if (r < 0) {
		lb_dp_close(&dp);
		lb_err("cannot read the VIP counters: %s; withdrawn and still "
		       "attached to %s", strerror(-r), o->dev);
		return EXIT_RUNTIME;
	}
	quiet = r == 1;
	if (lb_dp_relock(&dp, msg, sizeof(msg)) ||
	    lb_dp_detach(&dp, o->dev, msg, sizeof(msg)))
		return cli_fail(&dp, msg);
	if (!others && !was &&
	    lb_announce_set_withdrawn(&dp, false, msg, sizeof(msg)))
		lb_warn("%s: the host stays withdrawn", msg);
	lb_dp_close(&dp);
	lb_out_open_object(NULL);
	lb_out_str("detached", "detached from %s", o->dev);
	lb_out_bool("quiet", quiet ? " after the traffic moved" : NULL, quiet);
	lb_out_bool("timed_out", !quiet ? " at the timeout, traffic still arriving" : NULL,
		    !quiet);
	lb_out_double("waited_s", " (waited %.1f s)\n", waited / 1000.0);
	lb_out_bool("withdrawn", others || was ?
		    "still withdrawn: 'lbctl announce resume' announces again\n" : NULL,
		    others || was);
	lb_out_close_object();
	return 0;
}

static int do_detach(void *p, const struct opt_args *given)
{
	const struct dev_opts *o = p;
	char msg[CLI_MSG_LEN];
	unsigned int removed = 0;
	bool others, open_ok;
	struct lb_dp dp;

	(void)given;
	if (o->drain)
		return detach_drain(o);
	if (opts_given(detach_args + 1, given)) {
		lb_err("--quiet-ms and --timeout go with --drain");
		return EXIT_USAGE;
	}
	if (lb_dp_lock(&dp, cli_pin_dir, false, msg, sizeof(msg)))
		return cli_fail(&dp, msg);
	open_ok = !lb_dp_open(&dp, msg, sizeof(msg));
	/* the last device: nothing may stay announced once it is gone */
	if (attached_to(&dp, o->dev, &others) && !others &&
	    withdraw_routes(&dp, open_ok, msg, sizeof(msg), &removed)) {
		lb_dp_close(&dp);
		lb_err("%s; not detached (a detached host must not announce)", msg);
		return EXIT_RUNTIME;
	}
	if (lb_dp_detach(&dp, o->dev, msg, sizeof(msg)))
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
	if (!err) {
		unsigned int removed;

		if (withdraw_routes(&dp, !lb_dp_open(&dp, msg, sizeof(msg)), msg,
				    sizeof(msg), &removed)) {
			lb_dp_close(&dp);
			lb_err("%s; not unloaded (an unloaded host must not announce)",
			       msg);
			return EXIT_RUNTIME;
		}
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
	"detach the datapath from DEV (the last device: withdraw the VIP routes first)");
const struct cli_cmd cmd_unload = {
	.verb = "unload", .run = do_unload, .tables = opts_no_args,
	.help = "detach everywhere and remove every pin",
};
const struct cli_cmd cmd_decap_attach = DEV_CMD("decap", "attach", do_decap_attach,
	attach_tables, "on a backend host: unwrap IPIP/IP6IP6 sent to DEV's addresses");
const struct cli_cmd cmd_decap_detach = DEV_CMD("decap", "detach", do_decap_detach,
	decap_detach_tables, "remove the decap program from DEV");
