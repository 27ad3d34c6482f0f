// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cmd_register.c - lbctl register: keep one worker in an etcd registry
 * (lib/lb_registry.h) while its health endpoint answers, in the
 * foreground (run it beside the worker, under systemd or as a sidecar).
 *
 *   - the key (PREFIX + ADDR:PORT) is put only once the health URL has
 *     answered 2xx, with a lease of --ttl seconds kept alive every ttl/3
 *     (and put again if it was deleted meanwhile, e.g. with its prefix);
 *   - the health URL is fetched every --interval-ms (each fetch bounded
 *     by --timeout-ms); 3 failures in a row revoke the lease: the key is
 *     gone at once, and lb-agent drains the worker; a 2xx registers it
 *     again, with a new lease;
 *   - a keepalive that finds the lease gone (etcd expired it, e.g. after
 *     an outage longer than the TTL) registers again;
 *   - etcd unreachable: logged once, retried at the next step (every call
 *     bounded by --timeout-ms per endpoint), never in a busy loop;
 *   - SIGTERM or SIGINT revokes the lease (the key goes at once) and
 *     exits 0; SIGKILL leaves the key until the lease expires (--ttl).
 *
 * One line on stderr per change of state. The lbctl rules hold: every
 * argument is checked before etcd is contacted (a bad one is a usage
 * error, exit 2, and nothing is written).
 */
#define _GNU_SOURCE	/* ppoll */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>

#include "lb_addr.h"
#include "lb_etcd.h"
#include "lb_ops.h"
#include "lb_print.h"
#include "lb_registry.h"
#include "cli.h"

/* health failures in a row that deregister the worker */
#define REG_FALL 3
#define REG_KEY_MAX 1024
#define REG_TTL_MIN 2
#define REG_TTL_MAX 3600

struct register_opts {
	const char *etcd;
	const char *prefix;
	struct cli_addr addr;
	__u16 port;
	const char *engine;
	const char *url;
	double capacity;
	__u32 slots;
	__u32 ttl;
	const char *health_url;
	__u32 interval_ms;
	__u32 timeout_ms;
};
static const struct register_opts register_defaults = {
	.ttl = 10,
	.interval_ms = 1000,
	.timeout_ms = 1000,
};

/* (0, LB_REGISTRY_CAPACITY_MAX], as the registry value wants it */
static int fill_capacity(const struct opt_desc *d, const char *s, void *cfg)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (!*s || *end || errno || !isfinite(v) || v <= 0 ||
	    v > LB_REGISTRY_CAPACITY_MAX) {
		lb_err("--capacity '%s' is not a number in (0, %g]", s,
		       LB_REGISTRY_CAPACITY_MAX);
		return -1;
	}
	*(double *)((char *)cfg + d->off) = v;
	return 0;
}

static const struct opt_desc register_args[] = {
	{ .name = "etcd", .kind = OPT_STR, OPT_FIELD(struct register_opts, etcd),
	  .metavar = "URL[,URL...]", .required = true,
	  .help = "etcd endpoints, http(s)://HOST:PORT each (up to 8)" },
	{ .name = "prefix", .kind = OPT_STR, OPT_FIELD(struct register_opts, prefix),
	  .metavar = "PREFIX", .required = true,
	  .help = "the registry's key prefix, e.g. /inferlb/workers/pool-a/" },
	{ .name = "address", .kind = OPT_ADDR, OPT_FIELD(struct register_opts, addr),
	  .metavar = "ADDR", .required = true,
	  .help = "the worker's address (IPv4 or IPv6)" },
	{ .name = "port", .kind = OPT_U32, OPT_FIELD(struct register_opts, port),
	  .metavar = "PORT", .required = true, .min = 1, .max = 65535,
	  .help = "the worker's port" },
	{ .name = "engine", .kind = OPT_STR, OPT_FIELD(struct register_opts, engine),
	  .metavar = "ENGINE",
	  .help = "vllm, sglang, tgi, triton or generic (default: the agent's template)" },
	{ .name = "url", .kind = OPT_STR, OPT_FIELD(struct register_opts, url),
	  .metavar = "URL",
	  .help = "base of its metrics and health URLs (default http://ADDR:PORT)" },
	{ .name = "capacity", .kind = OPT_FN, OPT_FIELD(struct register_opts, capacity),
	  .metavar = "C", .fill = fill_capacity,
	  .help = "relative speed, (0, 1000]" },
	{ .name = "slots", .kind = OPT_U32, OPT_FIELD(struct register_opts, slots),
	  .metavar = "N", .min = 1, .max = LB_REGISTRY_SLOTS_MAX,
	  .help = "concurrent sequences it serves" },
	{ .name = "ttl", .kind = OPT_U32, OPT_FIELD(struct register_opts, ttl),
	  .metavar = "S", .min = REG_TTL_MIN, .max = REG_TTL_MAX,
	  .what = "a lease TTL in seconds",
	  .help = "lease TTL, seconds (default 10): a killed lbctl's key goes after it" },
	{ .name = "health-url", .kind = OPT_STR, OPT_FIELD(struct register_opts, health_url),
	  .metavar = "URL",
	  .help = "what must answer 2xx (default URL + /health; /v2/health/ready for triton)" },
	{ .name = "interval-ms", .kind = OPT_U32, OPT_FIELD(struct register_opts, interval_ms),
	  .metavar = "MS", .min = 100, .max = 600000,
	  .help = "health check period (default 1000)" },
	{ .name = "timeout-ms", .kind = OPT_U32, OPT_FIELD(struct register_opts, timeout_ms),
	  .metavar = "MS", .min = 100, .max = 60000,
	  .help = "bound of each health check and each etcd request (default 1000)" },
	OPT_TABLE_END,
};
static const struct opt_desc *const register_tables[] = { register_args, NULL };

/* ---- the worker's state ---------------------------------------------------- */

struct reg {
	const struct register_opts *o;
	struct lb_etcd *etcd;
	CURL *curl;
	char curl_err[CURL_ERROR_SIZE];
	char key[REG_KEY_MAX];
	char *value;
	char health_url[LB_REGISTRY_URL_MAX + 32];
	const char *endpoints[LB_ETCD_ENDPOINTS_MAX];
	size_t n_endpoints;
	char *etcd_list;	/* the copy endpoints[] point into */

	bool healthy;		/* a 2xx since the last REG_FALL failures */
	unsigned fails;		/* failures in a row */
	int64_t lease;		/* granted and not revoked; 0: none */
	bool registered;	/* the key is put with lease */
	uint64_t next_health, next_keep, next_register;
	unsigned registrations;
	char last_health[256];	/* the failure last logged */
	char last_etcd[CLI_MSG_LEN];	/* the etcd error last logged */
};

static volatile sig_atomic_t stop_sig;
/* lb_etcd's abort flag: set with stop_sig, cleared for the last revoke */
static volatile bool abort_calls;

static void on_signal(int sig)
{
	stop_sig = sig;
	abort_calls = true;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One line on stderr, escaped like every lbctl message (etcd's and the
 * worker's texts are not ours). Seconds since boot, as lb-agent logs. */
static void reg_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reg_log(const char *fmt, ...)
{
	char buf[1024], *esc;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	esc = lb_escape(buf);
	fprintf(stderr, "lbctl register[%.3f]: %s\n", lb_boottime_ns() / 1e9,
		esc ? esc : buf);
	free(esc);
}

/* An etcd call failed: logged when the reason changes, not each retry. */
static void etcd_trouble(struct reg *r, const char *what, const char *msg)
{
	char line[sizeof(r->last_etcd)];

	snprintf(line, sizeof(line), "%s: %s", what, msg);
	if (strcmp(line, r->last_etcd)) {
		reg_log("etcd: %s; retrying", line);
		snprintf(r->last_etcd, sizeof(r->last_etcd), "%s", line);
	}
}

static void etcd_fine(struct reg *r)
{
	if (r->last_etcd[0])
		reg_log("etcd answers again");
	r->last_etcd[0] = 0;
}

/* ---- health ----------------------------------------------------------------- */

static size_t discard(char *d, size_t sz, size_t nm, void *ctx)
{
	(void)d, (void)ctx;
	return sz * nm;
}

static int health_progress(void *ctx, curl_off_t a, curl_off_t b,
			   curl_off_t c, curl_off_t d)
{
	(void)ctx, (void)a, (void)b, (void)c, (void)d;
	return stop_sig != 0;
}

static int health_setup(struct reg *r, char *msg, size_t len)
{
	CURL *e = curl_easy_init();

	if (!e)
		return snprintf(msg, len, "curl_easy_init failed"), -1;
	r->curl = e;
	curl_easy_setopt(e, CURLOPT_URL, r->health_url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)r->o->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)r->o->timeout_ms);
	curl_easy_setopt(e, CURLOPT_PROXY, "");	/* the worker, not a proxy */
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_USERAGENT, "inferlb-lbctl-register");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->curl_err);
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, health_progress);
	return 0;
}

/* One GET: 0 on a 2xx, else -1 with why. */
static int health_check(struct reg *r, char *why, size_t len)
{
	long code = 0;
	CURLcode rc;

	r->curl_err[0] = 0;
	rc = curl_easy_perform(r->curl);
	if (rc != CURLE_OK) {
		snprintf(why, len, "%s", r->curl_err[0] ? r->curl_err :
			 curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200 || code > 299) {
		snprintf(why, len, "HTTP %ld", code);
		return -1;
	}
	return 0;
}

/* ---- etcd ------------------------------------------------------------------- */

static void revoke_lease(struct reg *r, const char *why)
{
	char msg[CLI_MSG_LEN];
	int err;

	if (!r->lease)
		return;
	err = lb_etcd_lease_revoke(r->etcd, r->lease, msg, sizeof(msg));
	if (err == -ECANCELED)
		return;		/* stopping: the exit revokes it */
	if (err) {
		etcd_trouble(r, "revoking the lease", msg);
		reg_log("deregistering (%s): could not revoke lease %" PRIx64
			"; the key goes when it expires, within %u s", why,
			(uint64_t)r->lease, r->o->ttl);
	} else {
		etcd_fine(r);
		reg_log("deregistered (%s): lease %" PRIx64 " revoked, %s deleted",
			why, (uint64_t)r->lease, r->key);
	}
	r->lease = 0;
	r->registered = false;
}

/* Grant a lease, put the key with it. */
static void do_register(struct reg *r, uint64_t now)
{
	struct lb_etcd_op op = { .type = LB_ETCD_OP_PUT, .key = r->key,
				 .value = r->value, .value_len = strlen(r->value) };
	struct lb_etcd_txn_result res;
	char msg[CLI_MSG_LEN];
	int64_t id;
	int err;

	r->next_register = now + r->o->interval_ms;
	err = lb_etcd_lease_grant(r->etcd, r->o->ttl, &id, msg, sizeof(msg));
	if (err) {
		if (err != -ECANCELED)
			etcd_trouble(r, "granting a lease", msg);
		return;
	}
	r->lease = id;	/* from now on the exit revokes it */
	op.lease = id;
	err = lb_etcd_txn(r->etcd, NULL, 0, &op, 1, NULL, 0, &res, msg, sizeof(msg));
	if (!err)
		lb_etcd_txn_result_free(&res);
	if (err) {
		if (err == -ECANCELED)
			return;
		etcd_trouble(r, "putting the key", msg);
		/* not registered: the lease goes now, or by itself */
		lb_etcd_lease_revoke(r->etcd, id, msg, sizeof(msg));
		r->lease = 0;
		return;
	}
	etcd_fine(r);
	r->registered = true;
	r->registrations++;
	r->next_keep = now_ms() + r->o->ttl * 1000ull / 3;
	reg_log("registered %s = %s (lease %" PRIx64 ", ttl %u s)", r->key,
		r->value, (uint64_t)id, r->o->ttl);
}

/* After a keepalive: the key is still ours (someone may have deleted
 * it, or the whole prefix): else it is put again, with the lease. */
static void ensure_key(struct reg *r)
{
	struct lb_etcd_cmp cmp[2] = {
		{ .key = r->key, .target = LB_ETCD_LEASE, .result = LB_ETCD_EQUAL,
		  .num = r->lease },
		{ .key = r->key, .target = LB_ETCD_VALUE, .result = LB_ETCD_EQUAL,
		  .value = r->value, .value_len = strlen(r->value) },
	};
	struct lb_etcd_op op = { .type = LB_ETCD_OP_PUT, .key = r->key,
				 .value = r->value, .value_len = strlen(r->value),
				 .lease = r->lease };
	struct lb_etcd_txn_result res;
	char msg[CLI_MSG_LEN];
	int err = lb_etcd_txn(r->etcd, cmp, 2, NULL, 0, &op, 1, &res, msg, sizeof(msg));

	if (err) {
		if (err != -ECANCELED)
			etcd_trouble(r, "checking the key", msg);
		return;
	}
	if (!res.succeeded)
		reg_log("%s was deleted or changed in etcd: put again (lease %" PRIx64 ")",
			r->key, (uint64_t)r->lease);
	lb_etcd_txn_result_free(&res);
}

static void keepalive(struct reg *r, uint64_t now)
{
	uint64_t third = r->o->ttl * 1000ull / 3;
	char msg[CLI_MSG_LEN];
	int err = lb_etcd_lease_keepalive(r->etcd, r->lease, NULL, msg, sizeof(msg));

	if (!err) {
		etcd_fine(r);
		r->next_keep = now + third;
		ensure_key(r);
		return;
	}
	if (err == -ECANCELED)
		return;
	if (err == -ENOENT) {
		etcd_fine(r);
		reg_log("lease %" PRIx64 " expired in etcd (%s is gone): "
			"registering again", (uint64_t)r->lease, r->key);
		r->lease = 0;
		r->registered = false;
		r->next_register = now;
		return;
	}
	etcd_trouble(r, "keeping the lease alive", msg);
	/* sooner than a third while etcd does not answer, so a short
	 * outage does not cost the lease */
	r->next_keep = now + (third < 1000 ? third : 1000);
}

/* A health verdict: registers on the first 2xx, deregisters after
 * REG_FALL failures in a row. */
static void health_step(struct reg *r, uint64_t now)
{
	char why[256];

	if (!health_check(r, why, sizeof(why))) {
		if (!r->healthy) {
			reg_log("health: %s answers: registering", r->health_url);
			r->healthy = true;
			r->next_register = now;
		}
		r->fails = 0;
		r->last_health[0] = 0;
		return;
	}
	if (stop_sig)
		return;
	r->fails++;
	if (r->healthy) {
		reg_log("health: %s failed (%u of %u in a row): %s", r->health_url,
			r->fails, REG_FALL, why);
		if (r->fails >= REG_FALL) {
			r->healthy = false;
			snprintf(r->last_health, sizeof(r->last_health), "%s", why);
			revoke_lease(r, "unhealthy");
		}
	} else if (strcmp(why, r->last_health)) {
		reg_log("health: %s: %s; not registered until it answers 2xx",
			r->health_url, why);
		snprintf(r->last_health, sizeof(r->last_health), "%s", why);
	}
}

/* Sleeps until the next step or a signal, whichever first: the signals
 * are blocked between the check of stop_sig and ppoll(), which unblocks
 * them atomically, so none is missed. */
static void wait_until(uint64_t when)
{
	sigset_t block, old;
	uint64_t now = now_ms();
	struct timespec ts = { 0 };

	if (when > now) {
		ts.tv_sec = (when - now) / 1000;
		ts.tv_nsec = (long)((when - now) % 1000) * 1000000L;
	}
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &old);
	if (!stop_sig && when > now)
		ppoll(NULL, 0, &ts, &old);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static int run_loop(struct reg *r)
{
	const char *end = "not registered";
	char msg[CLI_MSG_LEN];
	int ret = 0;

	reg_log("keeping %s registered in etcd %s (+%zu more) while %s answers "
		"2xx (every %u ms, %u failures deregister; lease ttl %u s)", r->key,
		r->endpoints[0], r->n_endpoints - 1, r->health_url,
		r->o->interval_ms, REG_FALL, r->o->ttl);
	r->next_health = now_ms();
	while (!stop_sig) {
		uint64_t now = now_ms(), wake;

		if (now >= r->next_health) {
			r->next_health = now + r->o->interval_ms;
			health_step(r, now);
		}
		now = now_ms();
		if (!stop_sig && r->registered && now >= r->next_keep)
			keepalive(r, now);
		now = now_ms();
		if (!stop_sig && r->healthy && !r->registered && now >= r->next_register)
			do_register(r, now);
		wake = r->next_health;
		if (r->registered && r->next_keep < wake)
			wake = r->next_keep;
		if (r->healthy && !r->registered && r->next_register < wake)
			wake = r->next_register;
		wait_until(wake);
	}
	/* the last call, not to be cut short by the signal that asked it */
	abort_calls = false;
	if (r->lease) {
		if (lb_etcd_lease_revoke(r->etcd, r->lease, msg, sizeof(msg))) {
			reg_log("%s: could not revoke lease %" PRIx64 ": %s; the key "
				"goes when it expires, within %u s",
				strsignal(stop_sig), (uint64_t)r->lease, msg, r->o->ttl);
			ret = EXIT_RUNTIME;
			end = "not deregistered (lease not revoked)";
		} else {
			reg_log("%s: deregistered: lease %" PRIx64 " revoked, %s deleted",
				strsignal(stop_sig), (uint64_t)r->lease, r->key);
			end = "deregistered";
		}
	} else {
		reg_log("%s: not registered; exiting", strsignal(stop_sig));
	}
	lb_out_open_object(NULL);
	lb_out_str("key", "%s", r->key);
	lb_out_u64("registrations", ": registered %llu times", r->registrations);
	lb_out_str("exit", "; at exit: %s\n", end);
	lb_out_close_object();
	return ret;
}

/* ---- arguments ------------------------------------------------------------ */

/* Printable ASCII without blanks: what a key prefix or URL may hold. */
static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* "URL[,URL...]" into r->endpoints, checked by lb_etcd_new (which
 * contacts nobody). */
static int parse_etcd(struct reg *r, const char *list)
{
	char msg[CLI_MSG_LEN], *save = NULL, *tok;

	r->etcd_list = strdup(list);
	if (!r->etcd_list) {
		lb_err("out of memory");
		return EXIT_RUNTIME;
	}
	if (!*list || list[strlen(list) - 1] == ',' || strstr(list, ",,") ||
	    *list == ',') {
		lb_err("--etcd '%s' is not a list of URLs, comma-separated", list);
		return EXIT_USAGE;
	}
	for (tok = strtok_r(r->etcd_list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (r->n_endpoints == LB_ETCD_ENDPOINTS_MAX) {
			lb_err("--etcd: at most %d endpoints", LB_ETCD_ENDPOINTS_MAX);
			return EXIT_USAGE;
		}
		r->endpoints[r->n_endpoints++] = tok;
	}
	r->etcd = lb_etcd_new(r->endpoints, r->n_endpoints, r->o->timeout_ms,
			      msg, sizeof(msg));
	if (!r->etcd) {
		lb_err("--etcd: %s", msg);
		return EXIT_USAGE;
	}
	lb_etcd_set_abort(r->etcd, &abort_calls);
	return 0;
}

/* An http(s) URL libcurl can parse, printable, shorter than max. */
static bool url_parses(const char *s, size_t max)
{
	CURLU *u;
	char *scheme = NULL;
	bool ok;

	if (strlen(s) >= max || !printable(s) ||
	    (strncmp(s, "http://", 7) && strncmp(s, "https://", 8)))
		return false;
	u = curl_url();
	if (!u)
		return false;
	ok = !curl_url_set(u, CURLUPART_URL, s, 0) &&
	     !curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	curl_free(scheme);
	curl_url_cleanup(u);
	return ok;
}

/* The entry, its key and value, the health URL: every check before etcd. */
static int build(struct reg *r)
{
	const struct register_opts *o = r->o;
	struct lb_registry_entry e = { .port = o->port, .capacity = o->capacity,
				       .slots = o->slots }, back;
	char msg[CLI_MSG_LEN], ip[64];
	const char *path;

	memcpy(e.addr, o->addr.addr, 16);
	e.family = o->addr.family;
	if (o->prefix[0] != '/' || !printable(o->prefix)) {
		lb_err("--prefix '%s' must start with '/' and hold no blanks or "
		       "control characters (e.g. /inferlb/workers/pool-a/)", o->prefix);
		return EXIT_USAGE;
	}
	if (o->engine && snprintf(e.engine, sizeof(e.engine), "%s", o->engine) >=
			 (int)sizeof(e.engine)) {
		lb_err("--engine: must be one of " LB_REGISTRY_ENGINES ", got \"%s\"",
		       o->engine);
		return EXIT_USAGE;
	}
	if (o->url && (!url_parses(o->url, sizeof(e.url)) ||
		       snprintf(e.url, sizeof(e.url), "%s", o->url) >= (int)sizeof(e.url))) {
		lb_err("--url '%s' is not an http:// or https:// URL shorter than "
		       "%d bytes", o->url, LB_REGISTRY_URL_MAX);
		return EXIT_USAGE;
	}
	/* what the agent will read: the value must decode as it was meant */
	r->value = lb_registry_encode(&e);
	if (!r->value) {
		lb_err("out of memory");
		return EXIT_RUNTIME;
	}
	if (lb_registry_decode(r->value, strlen(r->value), &back, msg, sizeof(msg))) {
		lb_err("--%s", msg);	/* the value's keys are the options' names */
		return EXIT_USAGE;
	}
	if (lb_registry_key(o->prefix, &e, r->key, sizeof(r->key))) {
		lb_err("--prefix: the key would be %d bytes or longer", REG_KEY_MAX);
		return EXIT_USAGE;
	}
	if (o->prefix[strlen(o->prefix) - 1] != '/')
		lb_warn("--prefix '%s' does not end with '/': the key is %s",
			o->prefix, r->key);
	if (o->health_url) {
		if (!url_parses(o->health_url, sizeof(r->health_url))) {
			lb_err("--health-url '%s' is not an http:// or https:// URL",
			       o->health_url);
			return EXIT_USAGE;
		}
		strcpy(r->health_url, o->health_url);
		return 0;
	}
	/* the agent's defaults: URL (or http://ADDR:PORT) + the engine's path */
	path = !strcmp(e.engine, "triton") ? "/v2/health/ready" : "/health";
	if (e.url[0]) {
		size_t n = strlen(e.url);

		while (n && e.url[n - 1] == '/')
			n--;
		snprintf(r->health_url, sizeof(r->health_url), "%.*s%s", (int)n,
			 e.url, path);
	} else {
		lb_fmt_ip(e.addr, e.family, ip, sizeof(ip));
		snprintf(r->health_url, sizeof(r->health_url),
			 e.family == LB_AF_INET6 ? "http://[%s]:%u%s" : "http://%s:%u%s",
			 ip, e.port, path);
	}
	return 0;
}

static int do_register_cmd(void *p, const struct opt_args *g)
{
	struct reg r = { .o = p };
	struct sigaction sa = { .sa_handler = on_signal };
	char msg[CLI_MSG_LEN];
	int ret;

	(void)g;
	ret = build(&r);
	if (!ret)
		ret = parse_etcd(&r, r.o->etcd);
	if (!ret && health_setup(&r, msg, sizeof(msg))) {
		lb_err("%s", msg);
		ret = EXIT_RUNTIME;
	}
	if (!ret) {
		/* no SA_RESTART: a signal ends the wait at once */
		sigemptyset(&sa.sa_mask);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		ret = run_loop(&r);
	}
	if (r.curl)
		curl_easy_cleanup(r.curl);
	lb_etcd_free(r.etcd);
	free(r.etcd_list);
	free(r.value);
	return ret;
}

const struct cli_cmd cmd_register = {
	.verb = "register", .run = do_register_cmd,
	.tables = register_tables, .defaults = &register_defaults,
	.size = sizeof(struct register_opts),
	.help = "keep a worker in an etcd registry while its health URL answers "
		"(foreground; SIGTERM deregisters)",
};
