// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * lbctl.c - the operator's command line: OBJECT VERB ARGS, like ip(8) and
 * bpftool(8).
 *
 * Every command is a row of one table (object, verb, handler, grammar, one
 * line of help), so `lbctl help` and `lbctl OBJECT help` come from the same
 * data as the dispatch. Each handler parses its arguments with the same
 * small option parser, checks all of them before it touches anything, and
 * prints through lb_print, so text and JSON come from the same calls.
 *
 * Exit status: 0 success, 1 runtime failure, 2 usage error.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <bpf/bpf.h>

#include "inferlb.h"
#include "lb_addr.h"
#include "lb_dp.h"
#include "lb_maglev.h"
#include "lb_ops.h"
#include "lb_names.h"
#include "lb_print.h"
#include "lb_apply.h"
#include "lb_topo.h"

#define LBCTL_VERSION "0.1.0"
#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

static const char *pin_dir = LB_PIN_DIR_DEFAULT;
static bool pretty_output;
static char msg[512];

/* ---- arguments ---------------------------------------------------------- */

/* One --name option of a command: a flag, or one with a value. */
struct opt {
	const char *name;
	char alias; /* a one-letter form, -X, or 0 */
	bool has_value;
	const char *value; /* set by parse_args */
	bool seen;
};
#define OPT(n, v) { .name = (n), .has_value = (v) }
#define OPT_ALIAS(n, a, v) { .name = (n), .alias = (a), .has_value = (v) }
#define OPT_END { .name = NULL }

/* Splits argv into positional arguments (exactly npos) and the options in
 * opts. Any unknown, repeated or incomplete option is a usage error. */
static int parse_args(const char *cmd, int argc, char **argv, int npos,
		      const char **pos, struct opt *opts)
{
	int got = 0;

	for (int i = 0; i < argc; i++) {
		struct opt *o = NULL;

		if (!strncmp(argv[i], "--", 2) ||
		    (argv[i][0] == '-' && argv[i][1] && !argv[i][2])) {
			for (o = opts; o && o->name; o++)
				if (argv[i][1] == '-' ? !strcmp(argv[i] + 2, o->name) :
							argv[i][1] == o->alias)
					break;
			if (!o || !o->name) {
				lb_err("unknown option '%s'; see 'lbctl %s help'",
				       argv[i], cmd);
				return -1;
			}
			if (o->seen) {
				lb_err("option '%s' given twice", argv[i]);
				return -1;
			}
			o->seen = true;
			if (o->has_value) {
				if (i + 1 >= argc) {
					lb_err("option '%s' needs a value", argv[i]);
					return -1;
				}
				o->value = argv[++i];
			}
			continue;
		}
		if (got == npos) {
			lb_err("unexpected argument '%s'; see 'lbctl %s help'",
			       argv[i], cmd);
			return -1;
		}
		pos[got++] = argv[i];
	}
	if (got < npos) {
		lb_err("missing arguments; see 'lbctl %s help'", cmd);
		return -1;
	}
	return 0;
}

static int parse_vip_arg(const char *s, struct lb_vip_key *k)
{
	if (lb_parse_vip(s, k, msg, sizeof(msg))) {
		lb_err("%s", msg);
		return -1;
	}
	return 0;
}

static int parse_ip_arg(const char *s, __u8 addr[16], __u8 *family)
{
	if (lb_parse_ip(s, addr, family, msg, sizeof(msg))) {
		lb_err("%s", msg);
		return -1;
	}
	return 0;
}

static int parse_weight_arg(const char *s, __u32 *w)
{
	if (lb_parse_u32(s, 0, LB_WEIGHT_MAX, w)) {
		lb_err("weight '%s' is not a whole number from 0 to %u", s,
		       LB_WEIGHT_MAX);
		return -1;
	}
	return 0;
}

static int parse_mode_arg(const char *s, enum lb_xdp_mode *m)
{
	if (!s || !strcmp(s, "native"))
		*m = LB_XDP_NATIVE;
	else if (!strcmp(s, "skb"))
		*m = LB_XDP_SKB;
	else {
		lb_err("mode '%s' is not native or skb", s);
		return -1;
	}
	return 0;
}

/* ---- the datapath, locked for the whole command ------------------------- */

static int open_dp(struct lb_dp *dp)
{
	if (lb_dp_lock(dp, pin_dir, false, msg, sizeof(msg)) ||
	    lb_dp_open(dp, msg, sizeof(msg))) {
		lb_dp_close(dp);
		lb_err("%s", msg);
		return -1;
	}
	return 0;
}

static int runtime_err(struct lb_dp *dp)
{
	lb_dp_close(dp);
	lb_err("%s", msg);
	return EXIT_RUNTIME;
}

/* ---- commands ------------------------------------------------------------- */

/* A command's one-line confirmation: text "fmt % val", JSON {key: val}. */
static int report(const char *key, const char *fmt, const char *val)
{
	lb_out_open_object(NULL);
	lb_out_str(key, fmt, val);
	lb_out_close_object();
	return 0;
}

/* DEV [--mode native|skb] [--force]: the arguments of both attach commands. */
static int parse_attach_args(const char *cmd, int argc, char **argv,
			     const char **dev, enum lb_xdp_mode *mode,
			     bool *force)
{
	struct opt opts[] = { OPT("mode", true), OPT("force", false), OPT_END };

	if (parse_args(cmd, argc, argv, 1, dev, opts) ||
	    parse_mode_arg(opts[0].value, mode))
		return -1;
	*force = opts[1].seen;
	return 0;
}

static int do_attach(int argc, char **argv)
{
	enum lb_xdp_mode mode;
	const char *dev;
	struct lb_dp dp;
	bool force;

	if (parse_attach_args("attach", argc, argv, &dev, &mode, &force))
		return EXIT_USAGE;
	if (!if_nametoindex(dev)) {
		lb_err("no device '%s'; 'ip link' lists the devices", dev);
		return EXIT_RUNTIME;
	}
	if (lb_dp_lock(&dp, pin_dir, true, msg, sizeof(msg)) ||
	    lb_dp_load(&dp, msg, sizeof(msg)))
		return runtime_err(&dp);
	if (lb_dp_attach(&dp, dev, mode, force, msg, sizeof(msg))) {
		/* loaded by this run and attached nowhere: leave nothing */
		if (dp.created)
			lb_dp_unload(&dp, NULL, 0);
		return runtime_err(&dp);
	}
	lb_dp_close(&dp);
	lb_out_open_object(NULL);
	lb_out_str("attached", "attached to %s", dev);
	lb_out_str("mode", " (%s mode)\n", mode == LB_XDP_NATIVE ? "native" : "skb");
	lb_out_close_object();
	return 0;
}

static int do_detach(int argc, char **argv)
{
	struct opt opts[] = { OPT_END };
	const char *dev;
	struct lb_dp dp;

	if (parse_args("detach", argc, argv, 1, &dev, opts))
		return EXIT_USAGE;
	if (lb_dp_lock(&dp, pin_dir, false, msg, sizeof(msg)) ||
	    lb_dp_detach(&dp, dev, msg, sizeof(msg)))
		return runtime_err(&dp);
	lb_dp_close(&dp);
	return report("detached", "detached from %s\n", dev);
}

static int do_unload(int argc, char **argv)
{
	struct opt opts[] = { OPT_END };
	struct lb_dp dp;

	if (parse_args("unload", argc, argv, 0, NULL, opts))
		return EXIT_USAGE;
	if (lb_dp_lock(&dp, pin_dir, false, msg, sizeof(msg))) {
		if (strstr(msg, "not attached")) { /* nothing to do */
			lb_dp_close(&dp);
			return report("unloaded", "nothing loaded under %s\n", pin_dir);
		}
		return runtime_err(&dp);
	}
	if (lb_dp_unload(&dp, msg, sizeof(msg)))
		return runtime_err(&dp);
	lb_dp_close(&dp);
	if (!access(pin_dir, F_OK))
		return report("unloaded", "unloaded; kept %s: it holds files that are not inferlb's\n",
			      pin_dir);
	return report("unloaded", "unloaded; removed %s\n", pin_dir);
}

/* The VIP options vip add and vip set share: how new flows are picked
 * and admitted. Unset options leave *o as it is. Returns -1 after
 * printing a usage error. */
#define VIP_ADMISSION_OPTS                                                   \
	OPT("policy", true), OPT("rate", true), OPT("burst", true),          \
	OPT("client-rate", true), OPT("client-burst", true),                 \
	OPT("client-prefix", true), OPT("refuse", true),                     \
	OPT("fail-open", true), OPT("epsilon", true)
#define VIP_ADMISSION_NOPTS 9

static int parse_u32_opt(const struct opt *o, __u32 max, __u32 *out)
{
	if (!o->value)
		return 0;
	if (lb_parse_u32(o->value, 0, max, out)) {
		lb_err("--%s '%s' is not a number from 0 to %u", o->name, o->value,
		       max);
		return -1;
	}
	return 0;
}

static int parse_admission(const struct opt *a, int family,
			   struct lb_vip_opts *o)
{
	__u32 v;

	if (a[0].value && lb_policy_parse(a[0].value, &o->policy)) {
		lb_err("policy '%s' is not one of maglev, source, bounded, p2c, "
		       "wrr, rr, random, least-conn", a[0].value);
		return -1;
	}
	if (parse_u32_opt(&a[1], UINT32_MAX, &o->rate) ||
	    parse_u32_opt(&a[2], UINT32_MAX, &o->burst) ||
	    parse_u32_opt(&a[3], UINT32_MAX, &o->client_rate) ||
	    parse_u32_opt(&a[4], UINT32_MAX, &o->client_burst))
		return -1;
	if (a[5].value) {
		__u32 max = family == LB_AF_INET6 ? 128 : 32;

		if (lb_parse_u32(a[5].value, 1, max, &v)) {
			lb_err("--client-prefix '%s' is not a prefix length from 1 to %u",
			       a[5].value, max);
			return -1;
		}
		if (family == LB_AF_INET6)
			o->client_plen6 = v;
		else
			o->client_plen4 = v;
	}
	if (a[6].value && lb_refuse_parse(a[6].value, &o->refuse)) {
		lb_err("--refuse '%s' is not reset or drop", a[6].value);
		return -1;
	}
	if (a[7].value) {
		if (strcmp(a[7].value, "on") && strcmp(a[7].value, "off")) {
			lb_err("--fail-open '%s' is not on or off", a[7].value);
			return -1;
		}
		o->fail_open = !strcmp(a[7].value, "on");
	}
	if (parse_u32_opt(&a[8], 10000, &v))
		return -1;
	if (a[8].value)
		o->bounded_eps = v;
	return 0;
}

/* The VIP's policy and admission, for vip add/set/list and show. */
static void print_admission(const struct lb_vip *v)
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
	lb_out_u64("epsilon", "  epsilon %llu%%", v->bounded_eps);
}

static int do_vip_add(int argc, char **argv)
{
	struct opt opts[] = { VIP_ADMISSION_OPTS, OPT("mode", true),
			      OPT("ring-size", true), OPT_END };
	struct opt *mode_o = &opts[VIP_ADMISSION_NOPTS], *ring_o = mode_o + 1;
	struct lb_vip_opts o = { .mode = LB_FWD_IPIP,
				 .ring_size = LB_RING_SIZE_DEFAULT,
				 .bounded_eps = 25 };
	struct lb_vip_view v;
	struct lb_vip_key k;
	const char *vip;
	struct lb_dp dp;
	char s[80];

	if (parse_args("vip", argc, argv, 1, &vip, opts) || parse_vip_arg(vip, &k))
		return EXIT_USAGE;
	if (mode_o->value && lb_mode_parse(mode_o->value, &o.mode)) {
		lb_err("mode '%s' is not ipip or l2dsr", mode_o->value);
		return EXIT_USAGE;
	}
	if (ring_o->value &&
	    (lb_parse_u32(ring_o->value, 0, UINT32_MAX, &o.ring_size) ||
	     !lb_ring_size_ok(o.ring_size))) {
		lb_err("ring size '%s' is not a prime from %u to %u (e.g. 65537)",
		       ring_o->value, LB_RING_SIZE_MIN, LB_RING_SIZE_MAX);
		return EXIT_USAGE;
	}
	if (parse_admission(opts, k.family, &o))
		return EXIT_USAGE;
	if (open_dp(&dp))
		return EXIT_RUNTIME;
	if (lb_vip_add(&dp, &k, &o, msg, sizeof(msg)) || lb_vip_find(&dp, &k, &v))
		return runtime_err(&dp);
	lb_dp_close(&dp);
	lb_out_open_object(NULL);
	lb_out_str("vip", "added VIP %s", lb_fmt_vip(&k, s, sizeof(s)));
	lb_out_str("mode", " (%s", lb_mode_name(o.mode));
	lb_out_u64("ring_size", ", ring %llu)", o.ring_size);
	print_admission(&v.info);
	lb_out_text("\n");
	lb_out_close_object();
	return 0;
}

static int do_vip_set(int argc, char **argv)
{
	struct opt opts[] = { VIP_ADMISSION_OPTS, OPT_END };
	struct lb_vip_opts o;
	struct lb_vip_view v;
	struct lb_vip_key k;
	const char *vip;
	struct lb_dp dp;
	bool any = false;
	char s[80];

	if (parse_args("vip", argc, argv, 1, &vip, opts) || parse_vip_arg(vip, &k))
		return EXIT_USAGE;
	for (int i = 0; i < VIP_ADMISSION_NOPTS; i++)
		any |= opts[i].value != NULL;
	if (!any) {
		lb_err("vip set needs at least one option; see 'lbctl vip help'");
		return EXIT_USAGE;
	}
	memset(&o, 0, sizeof(o));
	if (parse_admission(opts, k.family, &o)) /* syntax first, no state */
		return EXIT_USAGE;
	if (open_dp(&dp))
		return EXIT_RUNTIME;
	if (lb_vip_find(&dp, &k, &v)) {
		lb_dp_close(&dp);
		lb_err("no VIP %s; add it with 'lbctl vip add %s'",
		       lb_fmt_vip(&k, s, sizeof(s)), s);
		return EXIT_RUNTIME;
	}
	lb_vip_opts_of(&v.info, &o);
	parse_admission(opts, k.family, &o); /* now over the live settings */
	if (lb_vip_set(&dp, &k, &o, msg, sizeof(msg)) || lb_vip_find(&dp, &k, &v))
		return runtime_err(&dp);
	lb_dp_close(&dp);
	lb_out_open_object(NULL);
	lb_out_str("vip", "VIP %s", lb_fmt_vip(&k, s, sizeof(s)));
	print_admission(&v.info);
	lb_out_text("\n");
	lb_out_close_object();
	return 0;
}

static int do_vip_del(int argc, char **argv)
{
	struct opt opts[] = { OPT_END };
	struct lb_vip_key k;
	const char *vip;
	struct lb_dp dp;
	char s[80];

	if (parse_args("vip", argc, argv, 1, &vip, opts) || parse_vip_arg(vip, &k))
		return EXIT_USAGE;
	if (open_dp(&dp))
		return EXIT_RUNTIME;
	if (lb_vip_del(&dp, &k, msg, sizeof(msg)))
		return runtime_err(&dp);
	lb_dp_close(&dp);
	return report("deleted", "deleted VIP %s\n", lb_fmt_vip(&k, s, sizeof(s)));
}

static void print_mac(const __u8 *m, char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2],
		 m[3], m[4], m[5]);
}

/* What a backend's state means for new flows; a HEALTHY backend with
 * weight 0 is one drained with set-weight. */
static const char *backend_state_name(const struct lb_backend *b)
{
	if (b->state == LB_BE_HEALTHY && !b->weight)
		return "draining";
	return lb_state_name(b->state);
}

/* Whether lb-agent drives the maps: its pid, heartbeat age and generation.
 * An agent that missed 10 polls (at least 2 s) is reported as stale: the
 * datapath then forwards on the last state it wrote (fail-static). */
static void print_agent(struct lb_dp *dp)
{
	struct lb_agent_status st = { 0 };
	struct timespec now;
	__u32 zero = 0;
	double age, limit;

	bpf_map_lookup_elem(dp->fd[LB_M_AGENT], &zero, &st);
	lb_out_open_object("agent");
	if (!st.heartbeat_ns) {
		lb_out_null("pid", "agent none (weights set by lbctl)\n");
		lb_out_close_object();
		return;
	}
	clock_gettime(CLOCK_BOOTTIME, &now);
	age = ((double)now.tv_sec * 1e9 + now.tv_nsec - (double)st.heartbeat_ns) / 1e9;
	limit = st.poll_interval_ms * 10 / 1000.0;
	if (limit < 2)
		limit = 2;
	lb_out_u64("pid", "agent pid %llu", st.pid);
	lb_out_str("status", "  %s", !st.pid ? "stopped" : age > limit ? "stale" : "running");
	lb_out_double("heartbeat_age_s", "  heartbeat %.1f s ago", age);
	lb_out_u64("generation", "  generation %llu", st.generation);
	lb_out_u64("backends", "  backends %llu", st.backends);
	lb_out_u64("reloads", "  configs loaded %llu\n", st.reloads);
	lb_out_close_object();
}

/* A failed read: msg says why, and the command fails. */
static int read_err(int err, const char *what)
{
	snprintf(msg, sizeof(msg), "reading %s failed: %s", what, strerror(-err));
	return err;
}

static int print_backends(struct lb_dp *dp, __u32 vip_id)
{
	static struct lb_backend_view b[LB_MAX_BACKENDS];
	int n = lb_backend_list(dp, vip_id, b, LB_MAX_BACKENDS);
	char a[64], mac[32];

	if (n < 0)
		return read_err(n, "backends");
	lb_out_open_array("backends");
	for (int i = 0; i < n; i++) {
		lb_out_open_object(NULL);
		lb_out_str("address", "    backend %-28s",
			   lb_fmt_ip(b[i].be.addr, b[i].be.family, a, sizeof(a)));
		lb_out_u64("weight", " weight %-7llu", b[i].be.weight);
		lb_out_str("state", " %-9s", backend_state_name(&b[i].be));
		if (b[i].be.rate)
			lb_out_u64("rate", " rate %llu/s", b[i].be.rate);
		else
			lb_out_null("rate", NULL);
		print_mac(b[i].nh.mac, mac, sizeof(mac));
		if (b[i].nh.flags & LB_NEXTHOP_F_VALID)
			lb_out_str("next_hop", " next hop %s", mac);
		else
			lb_out_null("next_hop", " next hop unresolved");
		{
			struct lb_be_load ld = { 0 };

			bpf_map_lookup_elem(dp->fd[LB_M_BE_LOAD], &b[i].id, &ld);
			lb_out_u64("open_flows", " open %llu", ld.open);
		}
		lb_out_u64("id", " id %llu", b[i].id);
		lb_out_u64("epoch", " epoch %llu\n", b[i].be.epoch);
		lb_out_close_object();
	}
	lb_out_close_array();
	return 0;
}

static int print_vips(struct lb_dp *dp, bool with_backends)
{
	static struct lb_vip_view v[LB_MAX_VIPS];
	int n = lb_vip_list(dp, v, LB_MAX_VIPS);
	char s[80];

	if (n < 0)
		return read_err(n, "VIPs");
	lb_out_open_array("vips");
	for (int i = 0; i < n; i++) {
		lb_out_open_object(NULL);
		lb_out_str("vip", "vip %s", lb_fmt_vip(&v[i].info.key, s, sizeof(s)));
		lb_out_u64("id", "  id %llu", v[i].id);
		lb_out_str("mode", "  mode %s", lb_mode_name(v[i].info.mode));
		lb_out_u64("ring_size", "  ring %llu", v[i].info.ring_size);
		lb_out_u64("generation", "  generation %llu", v[i].info.ring_gen);
		print_admission(&v[i].info);
		lb_out_bool("active", "  active %s\n",
			    v[i].info.flags & LB_VIP_F_ACTIVE);
		if (with_backends && print_backends(dp, v[i].id))
			return -EIO;
		lb_out_close_object();
	}
	lb_out_close_array();
	return 0;
}

static int do_vip_list(int argc, char **argv)
{
	struct opt opts[] = { OPT_END };
	struct lb_dp dp;

	if (parse_args("vip", argc, argv, 0, NULL, opts))
		return EXIT_USAGE;
	if (open_dp(&dp))
		return EXIT_RUNTIME;
	lb_out_open_object(NULL);
	if (print_vips(&dp, false))
		return runtime_err(&dp);
	lb_out_close_object();
	lb_dp_close(&dp);
	return 0;
}

/* VIP ADDR [W]: the arguments of the backend commands. */
static int backend_args(const char *cmd, int argc, char **argv, int npos,
			struct opt *opts, struct lb_vip_key *k, __u8 addr[16],
			__u8 *family, const char **rest)
{
	const char *pos[3] = { 0 };

	if (parse_args(cmd, argc, argv, npos, pos, opts) ||
	    parse_vip_arg(pos[0], k) || parse_ip_arg(pos[1], addr, family))
		return -1;
	if (rest)
		*rest = pos[2];
	return 0;
}

static int do_backend_add(int argc, char **argv)
{
	struct opt opts[] = { OPT("weight", true), OPT_END };
	__u32 w = LB_WEIGHT_DEFAULT;
	struct lb_vip_key k;
	__u8 addr[16], fam;
	struct lb_dp dp;
	char a[64], s[80];

	if (backend_args("backend", argc, argv, 2, opts, &k, addr, &fam, NULL) ||
	    (opts[0].value && parse_weight_arg(opts[0].value, &w)))
		return EXIT_USAGE;
	if (open_dp(&dp))
		return EXIT_RUNTIME;
	if (lb_backend_add(&dp, &k, addr, fam, w, msg, sizeof(msg)))
		return runtime_err(&dp);
	lb_dp_close(&dp);
	lb_out_open_object(NULL);
	lb_out_str("backend", "added backend %s", lb_fmt_ip(addr, fam, a, sizeof(a)));
	lb_out_str("vip", " to %s", lb_fmt_vip(&k, s, sizeof(s)));
	lb_out_u64("weight", " with weight %llu\n", w);
	lb_out_close_object();
	return 0;
}

static int do_backend_del(int argc, char **argv)
{
	struct opt opts[] = { OPT_END };
	struct lb_vip_key k;
	__u8 addr[16], fam;
	struct lb_dp dp;
	char a[64], s[80];

	if (backend_args("backend", argc, argv, 2, opts, &k, addr, &fam, NULL))
		return EXIT_USAGE;
	if (open_dp(&dp))
		return EXIT_RUNTIME;
	if (lb_backend_del(&dp, &k, addr, fam, msg, sizeof(msg)))
		return runtime_err(&dp);
	lb_dp_close(&dp);
	lb_out_open_object(NULL);
	lb_out_str("deleted", "deleted backend %s", lb_fmt_ip(addr, fam, a, sizeof(a)));
	lb_out_str("vip", " of %s\n", lb_fmt_vip(&k, s, sizeof(s)));
	lb_out_close_object();
	return 0;
}

static int do_backend_state(int argc, char **argv)
{
	struct opt opts[] = { OPT_END };
	struct lb_vip_key k;
	__u8 addr[16], fam, st;
	const char *ss;
	struct lb_dp dp;
	char a[64];

	if (backend_args("backend", argc, argv, 3, opts, &k, addr, &fam, &ss))
		return EXIT_USAGE;
	if (lb_state_parse(ss, &st) || st == LB_BE_STARTING ||
	    st == LB_BE_HALF_OPEN) {
		lb_err("state '%s' is not healthy, draining, open or down", ss);
		return EXIT_USAGE;
	}
	if (open_dp(&dp))
		return EXIT_RUNTIME;
	if (lb_backend_set_state(&dp, &k, addr, fam, st, 0, msg, sizeof(msg)))
		return runtime_err(&dp);
	lb_dp_close(&dp);
	lb_out_open_object(NULL);
	lb_out_str("backend", "backend %s", lb_fmt_ip(addr, fam, a, sizeof(a)));
	lb_out_str("state", " is now %s\n", lb_state_name(st));
	lb_out_close_object();
	return 0;
}

static int do_set_weight(int argc, char **argv)
{
	struct opt opts[] = { OPT_END };
	const char *ws;
	struct lb_vip_key k;
	__u8 addr[16], fam;
	struct lb_dp dp;
	char a[64];
	__u32 w;

	if (backend_args("set-weight", argc, argv, 3, opts, &k, addr, &fam, &ws) ||
	    parse_weight_arg(ws, &w))
		return EXIT_USAGE;
	if (open_dp(&dp))
		return EXIT_RUNTIME;
	if (lb_backend_set_weight(&dp, &k, addr, fam, w, 0, msg, sizeof(msg)))
		return runtime_err(&dp);
	lb_dp_close(&dp);
	lb_out_open_object(NULL);
	lb_out_str("backend", "weight of %s", lb_fmt_ip(addr, fam, a, sizeof(a)));
	lb_out_u64("weight", " is now %llu", w);
	lb_out_text("%s\n", w ? "" : " (draining: no new flows)");
	lb_out_close_object();
	return 0;
}

static int do_apply(int argc, char **argv)
{
	struct opt opts[] = { OPT_ALIAS("file", 'f', true), OPT("prune", false),
			      OPT_END };
	struct lb_apply_opts ao = LB_APPLY_OPTS_DEFAULT;
	struct lb_apply_result r;
	struct lb_topo topo;
	struct lb_dp dp;
	int err;

	if (parse_args("apply", argc, argv, 0, NULL, opts))
		return EXIT_USAGE;
	if (!opts[0].value) {
		lb_err("apply needs -f FILE; see 'lbctl apply help'");
		return EXIT_USAGE;
	}
	/* lb-agent's keys are accepted by name; the agent checks values */
	if (lb_topo_load_file(opts[0].value, &lb_topo_ext_agent_names, &topo,
			      msg, sizeof(msg))) {
		lb_err("%s", msg);
		return EXIT_USAGE;
	}
	if (open_dp(&dp)) {
		lb_topo_free(&topo);
		return EXIT_RUNTIME;
	}
	ao.prune = opts[1].seen;
	ao.prune_hint = "--prune";
	err = lb_apply(&dp, &topo, &ao, &r, msg, sizeof(msg));
	lb_topo_free(&topo);
	if (err)
		return runtime_err(&dp);
	lb_dp_close(&dp);
	lb_out_open_object(NULL);
	lb_out_str("file", "applied %s:", opts[0].value);
	lb_out_u64("vips_added", " VIPs +%llu", r.vips_added);
	lb_out_u64("vips_deleted", " -%llu", r.vips_deleted);
	lb_out_u64("backends_added", ", backends +%llu", r.backends_added);
	lb_out_u64("backends_deleted", " -%llu", r.backends_deleted);
	lb_out_u64("tables_rebuilt", ", tables rebuilt %llu", r.tables_rebuilt);
	lb_out_u64("vips_updated", ", VIP settings changed %llu\n", r.vips_updated);
	lb_out_close_object();
	return 0;
}

static int do_show(int argc, char **argv)
{
	struct opt opts[] = { OPT_END };
	struct lb_settings cfg = { 0 };
	char devs[16][16], a[64];
	struct lb_dp dp;
	__u32 zero = 0;
	int n;

	if (parse_args("show", argc, argv, 0, NULL, opts))
		return EXIT_USAGE;
	if (open_dp(&dp))
		return EXIT_RUNTIME;
	n = lb_dp_attached(&dp, devs, 16);
	bpf_map_lookup_elem(dp.fd[LB_M_SETTINGS], &zero, &cfg);
	lb_out_open_object(NULL);
	lb_out_str("pin_dir", "inferlb (pins %s)", pin_dir);
	lb_out_open_array("devices");
	lb_out_text(" attached to:");
	for (int i = 0; i < n; i++)
		lb_out_str(NULL, " %s", devs[i]);
	lb_out_close_array();
	lb_out_u64("mtu", "\nmtu %llu", cfg.mtu);
	lb_out_u64("hash_seed", "  hash seed %llu", cfg.hash_seed);
	{
		__u8 v4[16] = { 0 };

		memcpy(v4, &cfg.encap_src_v4, 4);
		lb_out_str("encap_source_v4", "  ipip source %s",
			   lb_fmt_ip(v4, LB_AF_INET, a, sizeof(a)));
	}
	lb_out_str("encap_source_v6", " / %s\n",
		   lb_fmt_ip(cfg.encap_src_v6, LB_AF_INET6, a, sizeof(a)));
	print_agent(&dp);
	if (print_vips(&dp, true))
		return runtime_err(&dp);
	lb_out_close_object();
	lb_dp_close(&dp);
	return 0;
}


static void print_counters(const struct lb_counters *c, const char *indent)
{
	lb_out_text("%s", indent);
	lb_out_u64("packets", "packets %llu", c->packets);
	lb_out_u64("bytes", "  bytes %llu", c->bytes);
	lb_out_u64("new_flows", "  new flows %llu\n", c->new_flows);
}

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Refused new flows, by reason and outcome; a line only when any. */
static void print_refusals(int map_fd, __u32 id, const char *indent)
{
	static const struct {
		const char *name;
		size_t off;
	} f[] = {
#define F(x) { #x, offsetof(struct lb_refusals, x) }
		F(vip_rate), F(backend_rate), F(client_rate), F(no_backend),
		F(state), F(reset_sent), F(dropped), F(fail_open),
#undef F
	};
	struct lb_refusals r;
	bool any = false;

	lb_percpu_sum(map_fd, id, &r, sizeof(r));
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		__u64 val;

		memcpy(&val, (char *)&r + f[i].off, 8);
		any |= val != 0;
	}
	lb_out_open_object("refused");
	lb_out_text("%srefused:", indent);
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		__u64 val;

		memcpy(&val, (char *)&r + f[i].off, 8);
		if (val || lb_out_is_json())
			lb_out_text(" %s", f[i].name);
		lb_out_u64(f[i].name, val || lb_out_is_json() ? " %llu" : NULL, val);
	}
	lb_out_text("%s\n", any ? "" : " none");
	lb_out_close_object();
}

static int print_stats(struct lb_dp *dp)
{
	static struct lb_vip_view v[LB_MAX_VIPS];
	static struct lb_backend_view b[LB_MAX_BACKENDS];
	struct lb_global_stats g;
	int nv = lb_vip_list(dp, v, LB_MAX_VIPS);
	char s[80], a[64];

	if (nv < 0)
		return read_err(nv, "VIPs");
	lb_out_open_object(NULL);
	lb_out_open_array("vips");
	for (int i = 0; i < nv; i++) {
		struct lb_counters c;
		int nb;

		lb_percpu_sum(dp->fd[LB_M_VIP_STATS], v[i].id, &c, sizeof(c));
		lb_out_open_object(NULL);
		lb_out_str("vip", "vip %s\n", lb_fmt_vip(&v[i].info.key, s, sizeof(s)));
		print_counters(&c, "  ");
		print_refusals(dp->fd[LB_M_VIP_REFUSED], v[i].id, "  ");
		nb = lb_backend_list(dp, v[i].id, b, LB_MAX_BACKENDS);
		if (nb < 0)
			return read_err(nb, "backends");
		lb_out_open_array("backends");
		for (int j = 0; j < nb; j++) {
			lb_percpu_sum(dp->fd[LB_M_BE_STATS], b[j].id, &c, sizeof(c));
			lb_out_open_object(NULL);
			lb_out_str("address", "  backend %s\n",
				   lb_fmt_ip(b[j].be.addr, b[j].be.family, a, sizeof(a)));
			print_counters(&c, "    ");
			print_refusals(dp->fd[LB_M_BE_REFUSED], b[j].id, "    ");
			{
				struct lb_be_load ld = { 0 };

				bpf_map_lookup_elem(dp->fd[LB_M_BE_LOAD], &b[j].id, &ld);
				lb_out_u64("open_flows", "    open flows %llu\n", ld.open);
			}
			lb_out_close_object();
		}
		lb_out_close_array();
		lb_out_close_object();
	}
	lb_out_close_array();
	lb_percpu_sum(dp->fd[LB_M_GLOBAL_STATS], 0, &g, sizeof(g));
	lb_out_open_object("reasons");
	lb_out_text("pass/drop reasons:\n");
	for (size_t i = 0; i < LB_GLOBAL_REASONS; i++) {
		__u64 val;

		memcpy(&val, (char *)&g + lb_global_reasons[i].off, 8);
		lb_out_text("  %-22s", lb_global_reasons[i].name);
		lb_out_u64(lb_global_reasons[i].name, "%llu\n", val);
	}
	lb_out_close_object();
	lb_out_close_object();
	return 0;
}

static int do_stats(int argc, char **argv)
{
	struct opt opts[] = { OPT("interval", true), OPT("count", true), OPT_END };
	__u32 interval = 0, count = 0;
	struct lb_dp dp;

	if (parse_args("stats", argc, argv, 0, NULL, opts))
		return EXIT_USAGE;
	if (opts[0].value && lb_parse_u32(opts[0].value, 1, 3600, &interval)) {
		lb_err("interval '%s' is not a whole number of seconds from 1 to 3600",
		       opts[0].value);
		return EXIT_USAGE;
	}
	if (opts[1].value && lb_parse_u32(opts[1].value, 1, 1000000, &count)) {
		lb_err("count '%s' is not a whole number from 1 to 1000000",
		       opts[1].value);
		return EXIT_USAGE;
	}
	if (open_dp(&dp))
		return EXIT_RUNTIME;
	if (!interval) {
		if (print_stats(&dp))
			return runtime_err(&dp);
		lb_dp_close(&dp);
		return 0;
	}
	/* The lock is not held while waiting, so changes can go on. In JSON
	 * mode every sample is a document of its own, one per line. */
	lb_dp_close(&dp);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	for (__u32 i = 0; !stop && (!count || i < count); i++) {
		if (i) {
			sleep(interval);
			if (stop)
				break;
			bool json = lb_out_is_json();

			lb_out_fini();
			lb_out_init(json, pretty_output);
		}
		if (open_dp(&dp))
			return EXIT_RUNTIME;
		if (print_stats(&dp))
			return runtime_err(&dp);
		lb_dp_close(&dp);
		fflush(stdout);
	}
	return 0;
}

static int do_decap_attach(int argc, char **argv)
{
	enum lb_xdp_mode mode;
	const char *dev;
	struct lb_dp dp;
	bool force;

	if (parse_attach_args("decap", argc, argv, &dev, &mode, &force))
		return EXIT_USAGE;
	if (lb_dp_lock(&dp, pin_dir, true, msg, sizeof(msg)) ||
	    lb_dp_decap_attach(&dp, dev, mode, force, msg, sizeof(msg)))
		return runtime_err(&dp);
	lb_dp_close(&dp);
	return report("decap_attached", "decap attached to %s\n", dev);
}

static int do_decap_detach(int argc, char **argv)
{
	struct opt opts[] = { OPT_END };
	const char *dev;
	struct lb_dp dp;

	if (parse_args("decap", argc, argv, 1, &dev, opts))
		return EXIT_USAGE;
	if (lb_dp_lock(&dp, pin_dir, false, msg, sizeof(msg)) ||
	    lb_dp_decap_detach(&dp, dev, msg, sizeof(msg)))
		return runtime_err(&dp);
	lb_dp_close(&dp);
	return report("decap_detached", "decap detached from %s\n", dev);
}

/* ---- the command table -------------------------------------------------- */

struct cmd {
	const char *object; /* NULL: a verb of its own */
	const char *verb;
	int (*fn)(int argc, char **argv);
	const char *grammar;
	const char *help;
};

static const struct cmd cmds[] = {
	{ NULL, "attach", do_attach, "attach DEV [--mode native|skb] [--force]",
	  "load the datapath (once) and attach it to DEV" },
	{ NULL, "detach", do_detach, "detach DEV", "detach the datapath from DEV" },
	{ NULL, "unload", do_unload, "unload",
	  "detach everywhere and remove every pin" },
	{ "vip", "add", do_vip_add,
	  "vip add ADDR:PORT/tcp|udp [--mode ipip|l2dsr] [--ring-size M]",
	  "add a VIP (IPv6 as [2001:db8::10]:8000/tcp); M is a prime, default 65537;\n"
	  "        also every vip set option: policy maglev (default), source, bounded,\n"
	  "        p2c, wrr, rr, random, least-conn; new flows/s and burst for the VIP\n"
	  "        and per client prefix (/32, /64 by default), 0 = no limit" },
	{ "vip", "set", do_vip_set,
	  "vip set VIP [--policy P] [--rate R] [--burst B] [--client-rate R] "
	  "[--client-burst B] [--client-prefix LEN] [--refuse reset|drop] "
	  "[--fail-open on|off] [--epsilon PCT]",
	  "change how a VIP picks and admits new flows (also options of vip add)" },
	{ "vip", "del", do_vip_del, "vip del ADDR:PORT/tcp|udp", "delete a VIP" },
	{ "vip", "list", do_vip_list, "vip list", "list the VIPs" },
	{ "backend", "add", do_backend_add, "backend add VIP ADDR [--weight W]",
	  "add a backend (weight 0..1000000, default 100)" },
	{ "backend", "del", do_backend_del, "backend del VIP ADDR",
	  "delete a backend: new flows avoid it, its flows are re-hashed" },
	{ "backend", "state", do_backend_state,
	  "backend state VIP ADDR healthy|draining|open|down",
	  "set a backend's state by hand: only healthy takes new flows; down "
	  "also moves its established flows" },
	{ NULL, "set-weight", do_set_weight, "set-weight VIP ADDR W",
	  "change a weight; 0 drains (no new flows, established ones go on)" },
	{ NULL, "apply", do_apply, "apply -f FILE",
	  "make VIPs and backends match FILE (lb-agent's config): all or nothing" },
	{ NULL, "show", do_show, "show",
	  "VIPs, backends, weights, next hops, table generations" },
	{ NULL, "stats", do_stats, "stats [--interval S] [--count N]",
	  "packets, bytes, new flows per VIP and backend; drop reasons" },
	{ "decap", "attach", do_decap_attach,
	  "decap attach DEV [--mode native|skb] [--force]",
	  "on a backend host: unwrap IPIP/IP6IP6 sent to DEV's addresses" },
	{ "decap", "detach", do_decap_detach, "decap detach DEV",
	  "remove the decap program from DEV" },
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static bool cmd_is(const struct cmd *c, const char *word)
{
	return !strcmp(c->object ? c->object : c->verb, word);
}

static int do_help(const char *object)
{
	if (lb_out_is_json()) {
		lb_out_null(NULL, NULL); /* like bpftool: no prose on stdout */
		return 0;
	}
	printf("Usage: lbctl [-j|--json] [-p|--pretty] [--pin-dir DIR] COMMAND\n"
	       "       lbctl help | COMMAND help | --version\n\n");
	for (size_t i = 0; i < NCMDS; i++)
		if (!object || cmd_is(&cmds[i], object))
			printf("  lbctl %-62s\n        %s\n", cmds[i].grammar,
			       cmds[i].help);
	printf("\nExit status: 0 success, 1 failure, 2 usage error.\n");
	return 0;
}

static int dispatch(int argc, char **argv)
{
	const char *word = argv[0];
	bool known = false;

	if (!strcmp(word, "help"))
		return argc == 1 ? do_help(NULL) : (lb_err("'help' takes no arguments"), EXIT_USAGE);
	for (size_t i = 0; i < NCMDS; i++) {
		const struct cmd *c = &cmds[i];

		if (!cmd_is(c, word))
			continue;
		known = true;
		if (argc > 1 && !strcmp(argv[1], "help"))
			return do_help(word);
		if (!c->object)
			return c->fn(argc - 1, argv + 1);
		if (argc > 1 && !strcmp(argv[1], c->verb))
			return c->fn(argc - 2, argv + 2);
	}
	if (known)
		lb_err("'lbctl %s' needs one of its commands; see 'lbctl %s help'",
		       word, word);
	else
		lb_err("unknown command '%s'; see 'lbctl help'", word);
	return EXIT_USAGE;
}

/* Global options may come anywhere (`lbctl show -j`, as the docs write it):
 * they are taken out of argv first. Returns the new argc, or -1 after
 * printing a usage error. */
static int take_global_opts(int argc, char **argv, bool *json, bool *pretty,
			    bool *version)
{
	int n = 1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json")) {
			*json = true;
		} else if (!strcmp(argv[i], "-p") || !strcmp(argv[i], "--pretty")) {
			*json = *pretty = true;
		} else if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-V")) {
			*version = true;
		} else if (!strcmp(argv[i], "--pin-dir")) {
			if (i + 1 >= argc || !argv[i + 1][0])
				return -1;
			pin_dir = argv[++i];
		} else {
			argv[n++] = argv[i];
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	bool json = false, pretty = false, version = false;
	int ret;

	argc = take_global_opts(argc, argv, &json, &pretty, &version);
	pretty_output = pretty;
	lb_out_init(json, pretty);
	if (argc < 0) {
		lb_err("option '--pin-dir' needs a directory");
		lb_out_fini();
		return EXIT_USAGE;
	}
	if (version) {
		lb_out_open_object(NULL);
		lb_out_str("version", "lbctl %s", LBCTL_VERSION);
		lb_out_u64("schema", " (schema v%llu)\n", LB_SCHEMA_VERSION);
		lb_out_close_object();
		lb_out_fini();
		return 0;
	}
	if (argc < 2) {
		if (json)
			lb_err("no command given; see 'lbctl help'");
		else
			do_help(NULL);
		lb_out_fini();
		return EXIT_USAGE;
	}
	if (argv[1][0] == '-' && argv[1][1]) {
		lb_err("unknown option '%s'; see 'lbctl help'", argv[1]);
		lb_out_fini();
		return EXIT_USAGE;
	}
	ret = dispatch(argc - 1, argv + 1);
	lb_out_fini();
	return ret;
}
