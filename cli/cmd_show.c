// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cmd_show.c - lbctl show (settings, agent, VIPs and backends) and lbctl
 * stats (counters, read through lib/lb_stats, the reader /metrics uses).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "inferlb.h"
#include "lb_addr.h"
#include "lb_digest.h"
#include "lb_names.h"
#include "lb_ops.h"
#include "lb_print.h"
#include "lb_stats.h"
#include "cli.h"

/* ---- show ----------------------------------------------------------------- */

/* What a backend's state means for new flows; a HEALTHY backend with
 * weight 0 is one drained with set-weight. */
static const char *backend_state_name(const struct lb_backend *b)
{
	if (b->state == LB_BE_HEALTHY && !b->weight)
		return "draining";
	return lb_state_name(b->state);
}

/* Cluster mode (agent/cluster.c): this host's role, whether etcd
 * answers, the cluster decision applied here and the leader (a hash of
 * its host name: equal on every host that follows the same leader). */
static void print_cluster(const struct lb_agent_status *st)
{
	if (st->cluster_role == LB_CLUSTER_OFF) {
		lb_out_null("cluster", NULL);
		return;
	}
	lb_out_open_object("cluster");
	lb_out_str("role", "cluster: %s", st->cluster_role == LB_CLUSTER_LEADER ?
		   "leader" : "follower");
	lb_out_bool("etcd_up", NULL, st->cluster_etcd_up);
	lb_out_str("etcd", "  etcd %s", st->cluster_etcd_up ? "up" : "UNREACHABLE");
	if (st->cluster_contact_ns)
		lb_out_double("etcd_contact_age_s", " (answered %.1f s ago)",
			      ((double)lb_boottime_ns() - (double)st->cluster_contact_ns) / 1e9);
	else
		lb_out_null("etcd_contact_age_s", " (never answered)");
	lb_out_u64("generation", "  decision generation %llu", st->cluster_generation);
	/* the boot clock's ns: equal within ms on hosts that apply the
	 * same decisions, however far apart each is asked */
	lb_out_u64("changed_ns", NULL, st->cluster_changed_ns);
	if (st->cluster_changed_ns)
		lb_out_double("changed_age_s", " (maps changed %.1f s ago)",
			      ((double)lb_boottime_ns() - (double)st->cluster_changed_ns) / 1e9);
	else
		lb_out_null("changed_age_s", " (maps not changed yet)");
	lb_out_u64("leader_hash", "  leader %08llx\n", st->cluster_leader);
	lb_out_close_object();
}

/* Whether lb-agent drives the maps: its pid, heartbeat age and generation.
 * An agent that missed 10 polls (at least 2 s) is reported as stale: the
 * datapath then forwards on the last state it wrote (fail-static). */
static void print_agent(struct lb_dp *dp)
{
	struct lb_agent_status st = { 0 };
	__u32 zero = 0;
	double age, limit;

	bpf_map_lookup_elem(dp->fd[LB_M_AGENT], &zero, &st);
	lb_out_open_object("agent");
	if (!st.heartbeat_ns) {
		lb_out_null("pid", "agent none (weights set by lbctl)\n");
		lb_out_close_object();
		return;
	}
	age = ((double)lb_boottime_ns() - (double)st.heartbeat_ns) / 1e9;
	limit = st.poll_interval_ms * 10 / 1000.0;
	if (limit < 2)
		limit = 2;
	lb_out_u64("pid", "agent pid %llu", st.pid);
	lb_out_str("status", "  %s", !st.pid ? "stopped" : age > limit ? "stale" : "running");
	lb_out_double("heartbeat_age_s", "  heartbeat %.1f s ago", age);
	lb_out_u64("generation", "  generation %llu", st.generation);
	lb_out_u64("backends", "  backends %llu", st.backends);
	lb_out_u64("reloads", "  configs loaded %llu\n", st.reloads);
	print_cluster(&st);
	lb_out_close_object();
}

/* An operator's override (lbctl set-weight / backend state), which
 * lb-agent leaves alone: what it covers and, if it expires, in how long. */
static void print_override(const struct lb_backend *be)
{
	__u64 now = lb_boottime_ns();
	__u8 ovr = lb_backend_override(be, now);

	if (!ovr) {	/* none, or run out (the next publish clears it) */
		lb_out_null("override", NULL);
		return;
	}
	lb_out_open_object("override");
	lb_out_str("of", " override %s", lb_override_name(ovr));
	if (!be->override_until_ns)
		lb_out_null("expires_in_s", " until released");
	else
		lb_out_double("expires_in_s", " for %.0f s",
			      (double)(be->override_until_ns - now) / 1e9);
	lb_out_close_object();
}

static void print_backend(struct lb_dp *dp, const struct lb_backend_view *b)
{
	struct lb_be_load ld = { 0 };
	char a[64], mac[32];

	lb_out_open_object(NULL);
	lb_out_str("address", "    backend %-28s",
		   lb_fmt_ip(b->be.addr, b->be.family, a, sizeof(a)));
	lb_out_u64("weight", " weight %-7llu", b->be.weight);
	lb_out_str("state", " %-9s", backend_state_name(&b->be));
	print_override(&b->be);
	if (b->be.rate)
		lb_out_u64("rate", " rate %llu/s", b->be.rate);
	else
		lb_out_null("rate", NULL);
	lb_fmt_mac(b->nh.mac, mac, sizeof(mac));
	if (b->nh.flags & LB_NEXTHOP_F_VALID)
		lb_out_str("next_hop", " next hop %s", mac);
	else
		lb_out_null("next_hop", " next hop unresolved");
	bpf_map_lookup_elem(dp->fd[LB_M_BE_LOAD], &b->id, &ld);
	lb_out_u64("open_flows", " open %llu", lb_load_open(&ld));
	/* expected-wait's inputs, as lb-agent published them */
	if (ld.slot_wait_ns) {
		lb_out_u64("slots", " slots %llu", ld.slots);
		lb_out_double("slot_wait_ms", " slot wait %.1f ms", ld.slot_wait_ns / 1e6);
	} else {
		lb_out_null("slots", NULL);
		lb_out_null("slot_wait_ms", NULL);
	}
	/* discovered by lb-agent, or static (the file, lbctl) */
	lb_out_str("origin", b->be.origin == LB_ORIGIN_STATIC ? NULL : " origin %s",
		   lb_origin_name(b->be.origin));
	if (b->be.port)
		lb_out_u64("worker_port", " port %llu", b->be.port);
	else
		lb_out_null("worker_port", NULL);
	lb_out_u64("id", " id %llu", b->id);
	lb_out_u64("epoch", " epoch %llu\n", b->be.epoch);
	lb_out_close_object();
}

static void print_refusals(const struct lb_refusals *r, const char *indent);

/* The VIP's table digest (lib/lb_digest.h): equal on hosts that decide
 * alike; null if the table cannot be read. */
static void print_digest(struct lb_dp *dp, __u32 vip_id)
{
	char hex[17];
	__u64 d;

	if (lb_vip_digest(dp, vip_id, &d, NULL, 0)) {
		lb_out_null("table_digest", "  digest -");
		return;
	}
	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)d);
	lb_out_str("table_digest", "  digest %s", hex);
}

static int print_vip(struct lb_dp *dp, const struct lb_vip_view *v,
		     struct lb_backend_view *b)
{
	char s[80];
	int n = 0;

	lb_out_open_object(NULL);
	lb_out_str("vip", "vip %s", lb_fmt_vip(&v->info.key, s, sizeof(s)));
	lb_out_u64("id", "  id %llu", v->id);
	lb_out_str("mode", "  mode %s", lb_mode_name(v->info.mode));
	lb_out_u64("ring_size", "  ring %llu", v->info.ring_size);
	lb_out_u64("generation", "  generation %llu", v->info.ring_gen);
	if (b)
		print_digest(dp, v->id);
	cli_print_admission(&v->info);
	lb_out_bool("active", "  active %s\n", v->info.flags & LB_VIP_F_ACTIVE);
	if (b) {
		struct lb_refusals r;

		/* new flows refused, by reason (ttft_target: shed by the
		 * expected-wait policy); left out if they cannot be read */
		if (!lb_percpu_sum(dp->fd[LB_M_VIP_REFUSED], v->id, &r, sizeof(r)))
			print_refusals(&r, "  ");
		n = lb_backend_list(dp, v->id, b, LB_MAX_BACKENDS);
		lb_out_open_array("backends");
		for (int i = 0; i < n; i++)
			print_backend(dp, &b[i]);
		lb_out_close_array();
	}
	lb_out_close_object();
	return n < 0 ? n : 0;
}

/* The "vips" array of show (with_backends) and vip list. Prints the error
 * and returns -1 when the maps cannot be read. */
int cli_print_vips(struct lb_dp *dp, bool with_backends)
{
	struct lb_vip_view *v = calloc(LB_MAX_VIPS, sizeof(*v));
	struct lb_backend_view *b = NULL;
	int n = -ENOMEM;

	if (with_backends)
		b = calloc(LB_MAX_BACKENDS, sizeof(*b));
	if (v && (b || !with_backends))
		n = lb_vip_list(dp, v, LB_MAX_VIPS);
	lb_out_open_array("vips");
	for (int i = 0; i < n; i++) {
		int err = print_vip(dp, &v[i], b);

		if (err)
			n = err;
	}
	lb_out_close_array();
	free(v);
	free(b);
	if (n < 0) {
		lb_err("cannot read the VIPs and backends: %s", strerror(-n));
		return -1;
	}
	return 0;
}

static void print_settings(struct lb_dp *dp)
{
	struct lb_settings cfg = { 0 };
	char devs[16][16], a[64];
	__u8 v4[16] = { 0 };
	__u32 zero = 0;
	int n;

	n = lb_dp_attached(dp, devs, 16);
	bpf_map_lookup_elem(dp->fd[LB_M_SETTINGS], &zero, &cfg);
	lb_out_str("pin_dir", "inferlb (pins %s)", cli_pin_dir);
	lb_out_open_array("devices");
	lb_out_text(" attached to:");
	for (int i = 0; i < n; i++)
		lb_out_str(NULL, " %s", devs[i]);
	lb_out_close_array();
	lb_out_u64("mtu", "\nmtu %llu", cfg.mtu);
	lb_out_u64("hash_seed", "  hash seed %llu", cfg.hash_seed);
	memcpy(v4, &cfg.encap_src_v4, 4);
	lb_out_str("encap_source_v4", "  ipip source %s",
		   lb_fmt_ip(v4, LB_AF_INET, a, sizeof(a)));
	lb_out_str("encap_source_v6", " / %s\n",
		   lb_fmt_ip(cfg.encap_src_v6, LB_AF_INET6, a, sizeof(a)));
}

static int do_show(void *p, const struct opt_args *given)
{
	struct lb_dp dp;
	int err;

	(void)p;
	(void)given;
	if (cli_open_dp(&dp))
		return EXIT_RUNTIME;
	lb_out_open_object(NULL);
	print_settings(&dp);
	print_agent(&dp);
	err = cli_print_vips(&dp, true);
	lb_out_close_object();
	lb_dp_close(&dp);
	return err ? EXIT_RUNTIME : 0;
}

/* ---- stats ---------------------------------------------------------------- */

static void print_counters(const struct lb_counters *c, const char *indent)
{
	lb_out_text("%s", indent);
	lb_out_u64("packets", "packets %llu", c->packets);
	lb_out_u64("bytes", "  bytes %llu", c->bytes);
	lb_out_u64("new_flows", "  new flows %llu\n", c->new_flows);
}

/* Refused new flows, by reason and outcome; in text only those not 0. */
static void print_refusals(const struct lb_refusals *r, const char *indent)
{
	bool any = false;

	for (size_t i = 0; i < LB_REFUSAL_FIELDS; i++)
		any |= lb_reason_value(r, &lb_refusal_fields[i]) != 0;
	lb_out_open_object("refused");
	lb_out_text("%srefused:", indent);
	for (size_t i = 0; i < LB_REFUSAL_FIELDS; i++) {
		const struct lb_reason *f = &lb_refusal_fields[i];
		__u64 val = lb_reason_value(r, f);
		bool shown = val || lb_out_is_json();

		if (shown)
			lb_out_text(" %s", f->name);
		lb_out_u64(f->name, shown ? " %llu" : NULL, val);
	}
	lb_out_text("%s\n", any ? "" : " none");
	lb_out_close_object();
}

static void print_stats_backend(const struct lb_stats_backend *b)
{
	char a[64];

	lb_out_open_object(NULL);
	lb_out_str("address", "  backend %s\n", lb_fmt_ip(b->addr, b->family, a, sizeof(a)));
	print_counters(&b->c, "    ");
	print_refusals(&b->refused, "    ");
	lb_out_u64("open_flows", "    open flows %llu\n", b->open_flows);
	lb_out_close_object();
}

static int print_stats(struct lb_dp *dp)
{
	struct lb_stats st;
	char s[80];
	int err = lb_stats_read(dp, &st);

	if (err) {
		lb_err("cannot read the counters: %s", strerror(-err));
		return -1;
	}
	lb_out_open_object(NULL);
	lb_out_open_array("vips");
	for (size_t i = 0; i < st.n_vips; i++) {
		const struct lb_stats_vip *v = &st.vip[i];

		lb_out_open_object(NULL);
		lb_out_str("vip", "vip %s\n", lb_fmt_vip(&v->key, s, sizeof(s)));
		print_counters(&v->c, "  ");
		print_refusals(&v->refused, "  ");
		lb_out_open_array("backends");
		for (size_t j = 0; j < v->n_be; j++)
			print_stats_backend(&st.be[v->first + j]);
		lb_out_close_array();
		lb_out_close_object();
	}
	lb_out_close_array();
	lb_out_open_object("reasons");
	lb_out_text("pass/drop reasons:\n");
	for (size_t i = 0; i < LB_GLOBAL_REASONS; i++) {
		const struct lb_reason *r = &lb_global_reasons[i];

		lb_out_text("  %-22s", r->name);
		lb_out_u64(r->name, "%llu\n", lb_reason_value(&st.global, r));
	}
	lb_out_close_object();
	lb_out_close_object();
	lb_stats_free(&st);
	return 0;
}

/* One sample: lock, read, unlock (the lock is not held while waiting). */
static int stats_once(void)
{
	struct lb_dp dp;
	int err;

	if (cli_open_dp(&dp))
		return EXIT_RUNTIME;
	err = print_stats(&dp);
	lb_dp_close(&dp);
	return err ? EXIT_RUNTIME : 0;
}

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

struct stats_opts {
	__u32 interval;	/* s; 0: one sample */
	__u32 count;	/* samples; 0: until stopped */
};
static const struct stats_opts stats_defaults;

static const struct opt_desc stats_args[] = {
	{ .name = "interval", .kind = OPT_U32,
	  OPT_FIELD(struct stats_opts, interval), .metavar = "S",
	  .label = "interval", .what = "a whole number of seconds", .min = 1,
	  .max = 3600, .help = "print a sample every S seconds (JSON: one document each)" },
	{ .name = "count", .kind = OPT_U32, OPT_FIELD(struct stats_opts, count),
	  .metavar = "N", .label = "count", .what = "a whole number", .min = 1,
	  .max = 1000000, .help = "with --interval: stop after N samples" },
	OPT_TABLE_END,
};
static const struct opt_desc *const stats_tables[] = { stats_args, NULL };

static int do_stats(void *p, const struct opt_args *given)
{
	const struct stats_opts *o = p;
	int ret;

	(void)given;
	if (!o->interval)
		return stats_once();
	/* In JSON mode every sample is a document of its own, one per line. */
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	for (__u32 i = 0; !stop && (!o->count || i < o->count); i++) {
		if (i) {
			sleep(o->interval);
			if (stop)
				break;
			bool json = lb_out_is_json();

			lb_out_fini();
			lb_out_init(json, cli_pretty);
		}
		ret = stats_once();
		if (ret)
			return ret;
		fflush(stdout);
	}
	return 0;
}

const struct cli_cmd cmd_show = {
	.verb = "show", .run = do_show, .tables = opts_no_args,
	.help = "VIPs, backends, weights, next hops, table generations",
};
const struct cli_cmd cmd_stats = {
	.verb = "stats", .run = do_stats, .tables = stats_tables,
	.defaults = &stats_defaults, .size = sizeof(struct stats_opts),
	.help = "packets, bytes, new flows per VIP and backend; drop reasons",
};
