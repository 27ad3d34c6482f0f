// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bench_react - how long lb-agent takes from a worker's metric change to
 * the datapath's new table (bench/agent.sh runs it inside the balancer's
 * network namespace, next to fleetsim and a running agent).
 *
 * One trial: t0 = CLOCK_MONOTONIC, then /admin/set on fleetsim saturates
 * worker W (waiting=50); the pinned lb_backends entry of backend ADDR is
 * read every 0.5 ms (bounded) until its weight, the weight the VIP's live
 * table was built with, drops to the load floor (SAT_WEIGHT) or below: t1. Reaction = t1 - t0. Then
 * the worker is restored and the weight allowed to recover before the
 * next trial, which starts at a random phase of the poll interval.
 *
 * Baseline, measured in the same run: the agent's achieved poll interval
 * (fleetsim's request counter over the run: 2 requests per poll and
 * worker). The figure printed is reaction / poll interval. Nothing is
 * asserted about timing.
 *
 * The map is opened read-only by its pin (no lock on the pin directory,
 * so the running agent is never blocked by the benchmark).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <curl/curl.h>

#include "inferlb.h"
#include "lb_addr.h"
#include "lb_map_table.h"

#define MAX_TRIALS 1000
#define POLL_NS 500000ull		/* weight read every 0.5 ms */
#define REACT_LIMIT_MS 5000ull		/* per trial */
/* A saturated backend's weight: lb-agent's load floor (policy.load_floor,
 * 0.1) of a backend with the largest capacity (every worker here has
 * capacity 1.0): load alone takes it no lower. */
#define SAT_WEIGHT (LB_WEIGHT_MAX / 10)
#define RECOVER_LIMIT_MS 10000ull

static struct {
	const char *pin_dir;
	const char *backend;
	const char *fleet;
	unsigned worker;
	unsigned trials;
	unsigned workers;	/* fleet size polled by the agent (baseline) */
	unsigned poll_ms;	/* configured poll interval (jitter range) */
	const char *agent;	/* the agent's /metrics URL (baseline) */
} opt = {
	.pin_dir = LB_PIN_DIR_DEFAULT,
	.fleet = "http://127.0.0.1:9000",
	.worker = 0,
	.trials = 30,
	.workers = 10,
	.poll_ms = 100,
	.agent = "http://127.0.0.1:9464/metrics",
};

static CURL *curl;

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void sleep_ns(unsigned long long ns)
{
	struct timespec ts = { ns / 1000000000ull, ns % 1000000000ull };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

struct buf {
	char *d;
	size_t cap;	/* of d, with room for the NUL */
	size_t n;
};

static size_t on_data(char *p, size_t sz, size_t nm, void *ud)
{
	struct buf *b = ud;
	size_t len = sz * nm, room = b->cap - 1 - b->n;

	if (len > room)
		len = room;
	memcpy(b->d + b->n, p, len);
	b->n += len;
	b->d[b->n] = 0;
	return sz * nm;
}

/* GET base + path; body (truncated) in out. Returns 0 on HTTP 200. */
static int http_get_url(const char *base, const char *path, struct buf *out)
{
	static char small[256];
	char url[512];
	struct buf tmp = { small, sizeof(small), 0 };
	long code = 0;

	if (!out)
		out = &tmp;
	out->n = 0;
	out->d[0] = 0;
	snprintf(url, sizeof(url), "%s%s", base, path);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 2000L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	if (curl_easy_perform(curl) != CURLE_OK)
		return -1;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	return code == 200 ? 0 : -1;
}

static int http_get(const char *path, struct buf *out)
{
	return http_get_url(opt.fleet, path, out);
}

static int set_waiting(unsigned waiting)
{
	char path[128];

	snprintf(path, sizeof(path), "/admin/set?w=%u&waiting=%u", opt.worker,
		 waiting);
	return http_get(path, NULL);
}

static int fleet_requests(unsigned long long *n)
{
	static char d[256];
	struct buf b = { d, sizeof(d), 0 };

	if (http_get("/admin/stats", &b) || sscanf(b.d, "requests %llu", n) != 1)
		return -1;
	return 0;
}

/* inferlb_agent_poll_rounds_total from the agent's /metrics */
static int agent_rounds(unsigned long long *n)
{
	static char d[1 << 20];
	struct buf b = { d, sizeof(d), 0 };
	const char *name = "\ninferlb_agent_poll_rounds_total ", *p;

	if (http_get_url(opt.agent, "", &b) || !(p = strstr(b.d, name)) ||
	    sscanf(p + strlen(name), "%llu", n) != 1)
		return -1;
	return 0;
}

static int map_fd = -1;
static __u32 be_id;

static int read_weight(__u32 *w)
{
	struct lb_backend be;

	if (bpf_map_lookup_elem(map_fd, &be_id, &be))
		return -errno;
	if (!(be.flags & LB_BACKEND_F_ACTIVE))
		return -ENOENT;
	*w = be.weight;
	return 0;
}

static int find_backend(const __u8 addr[16], __u8 family)
{
	struct lb_backend be;
	__u32 id;

	for (id = 1; id < LB_MAX_BACKENDS; id++) {
		if (bpf_map_lookup_elem(map_fd, &id, &be))
			continue;
		if ((be.flags & LB_BACKEND_F_ACTIVE) && be.family == family &&
		    !memcmp(be.addr, addr, 16)) {
			be_id = id;
			return 0;
		}
	}
	return -ENOENT;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* nearest-rank percentile of sorted v[n] */
static double pct(const double *v, unsigned n, double p)
{
	unsigned k = (unsigned)(p / 100.0 * n + 0.999999);

	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

/* wait until weight >= want (bounded); returns 0 when reached */
static int wait_weight_at_least(__u32 want, unsigned long long limit_ms)
{
	unsigned long long end = now_ns() + limit_ms * 1000000ull;
	__u32 w;

	while (now_ns() < end) {
		if (!read_weight(&w) && w >= want)
			return 0;
		sleep_ns(5000000ull);
	}
	return -ETIMEDOUT;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: bench_react --backend ADDR [options]\n"
		"Reaction time of lb-agent: worker metric change -> new table.\n\n"
		"  --pin-dir P     the balancer's pin directory (default %s)\n"
		"  --backend ADDR  the backend whose weight is watched\n"
		"  --fleet URL     fleetsim base URL (default http://127.0.0.1:9000)\n"
		"  --worker I      fleetsim worker index of ADDR (default 0)\n"
		"  --trials N      1..%u (default 30)\n"
		"  --workers N     workers the agent polls, for the baseline (default 10)\n"
		"  --poll-ms MS    the agent's poll_interval_ms (default 100)\n"
		"  --agent-metrics URL  the agent's /metrics, for the measured poll\n"
		"                  interval (default http://127.0.0.1:9464/metrics)\n",
		LB_PIN_DIR_DEFAULT, MAX_TRIALS);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "backend", required_argument, NULL, 'b' },
		{ "fleet", required_argument, NULL, 'f' },
		{ "worker", required_argument, NULL, 'w' },
		{ "trials", required_argument, NULL, 't' },
		{ "workers", required_argument, NULL, 'n' },
		{ "poll-ms", required_argument, NULL, 'i' },
		{ "agent-metrics", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	LIBBPF_OPTS(bpf_obj_get_opts, gopts, .file_flags = BPF_F_RDONLY);
	static double react[MAX_TRIALS];
	unsigned long long req0, req1, run0, run1, rounds0, rounds1;
	unsigned n = 0, misses = 0, slow_recover = 0, i;
	char path[512], msg[128];
	__u8 addr[16], family;
	__u32 w0, w;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		__u32 v;

		switch (c) {
		case 'p': opt.pin_dir = optarg; break;
		case 'b': opt.backend = optarg; break;
		case 'f': opt.fleet = optarg; break;
		case 'w':
			if (lb_parse_u32(optarg, 0, 9999, &v))
				goto bad_arg;
			opt.worker = v;
			break;
		case 't':
			if (lb_parse_u32(optarg, 1, MAX_TRIALS, &v))
				goto bad_arg;
			opt.trials = v;
			break;
		case 'n':
			if (lb_parse_u32(optarg, 1, 100000, &v))
				goto bad_arg;
			opt.workers = v;
			break;
		case 'i':
			if (lb_parse_u32(optarg, 1, 60000, &v))
				goto bad_arg;
			opt.poll_ms = v;
			break;
		case 'a': opt.agent = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || !opt.backend) {
		usage(stderr);
		return 2;
	}
	if (lb_parse_ip(opt.backend, addr, &family, msg, sizeof(msg))) {
		fprintf(stderr, "Error: --backend: %s\n", msg);
		return 2;
	}

	snprintf(path, sizeof(path), "%s/%s", opt.pin_dir,
		 lb_map_name(LB_M_BACKENDS));
	map_fd = bpf_obj_get_opts(path, &gopts);
	if (map_fd < 0) {
		fprintf(stderr, "Error: open %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (find_backend(addr, family)) {
		fprintf(stderr, "Error: backend %s not in %s\n", opt.backend, path);
		return 1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) || !(curl = curl_easy_init())) {
		fprintf(stderr, "Error: libcurl init failed\n");
		return 1;
	}
	if (set_waiting(0) || fleet_requests(&req0)) {
		fprintf(stderr, "Error: fleetsim at %s does not answer\n", opt.fleet);
		goto out;
	}
	if (agent_rounds(&rounds0)) {
		fprintf(stderr, "Error: no inferlb_agent_poll_rounds_total at %s\n",
			opt.agent);
		goto out;
	}
	if (read_weight(&w0) || w0 == 0) {
		fprintf(stderr, "Error: backend %s (id %u) has no weight\n",
			opt.backend, be_id);
		goto out;
	}
	srand((unsigned)now_ns());
	run0 = now_ns();

	for (i = 0; i < opt.trials; i++) {
		unsigned long long t0, t1 = 0, end;

		/* a random phase against the agent's poll timer */
		sleep_ns((unsigned long long)(rand() % (opt.poll_ms * 1000)) * 1000ull);
		t0 = now_ns();
		if (set_waiting(50)) {
			fprintf(stderr, "Error: /admin/set failed\n");
			goto out;
		}
		end = t0 + REACT_LIMIT_MS * 1000000ull;
		for (;;) {
			unsigned long long t = now_ns();

			if (!read_weight(&w) && w <= SAT_WEIGHT) {
				t1 = t;
				break;
			}
			if (t >= end)
				break;
			sleep_ns(POLL_NS);
		}
		if (t1)
			react[n++] = (t1 - t0) / 1e6;
		else
			misses++;
		if (set_waiting(0)) {
			fprintf(stderr, "Error: /admin/set failed\n");
			goto out;
		}
		/* recovery is slow by design (EWMA up, rebuild rate limit):
		 * wait for most of the weight back so each trial starts from
		 * the same steady state */
		if (wait_weight_at_least(w0 - w0 / 10, RECOVER_LIMIT_MS))
			slow_recover++;
	}
	run1 = now_ns();
	if (fleet_requests(&req1) || agent_rounds(&rounds1)) {
		fprintf(stderr, "Error: fleetsim /admin/stats or agent /metrics failed\n");
		goto out;
	}

	{
		double rounds = (double)(rounds1 - rounds0);
		double interval = rounds > 0 ? (run1 - run0) / 1e6 / rounds : 0;
		double rpw = rounds > 0 ? (req1 - req0) / rounds / opt.workers : 0;
		double med = 0, p90 = 0, p99 = 0, max = 0;

		if (n) {
			qsort(react, n, sizeof(react[0]), cmp_d);
			med = pct(react, n, 50);
			p90 = pct(react, n, 90);
			p99 = pct(react, n, 99);
			max = react[n - 1];
		}
		printf("  backend %s (id %u), weight w0 %u, threshold <= %u (the load floor); %u trials, %u reacted, %u timed out (%llu ms)\n",
		       opt.backend, be_id, w0, SAT_WEIGHT, opt.trials, n, misses,
		       REACT_LIMIT_MS);
		if (slow_recover)
			printf("  note: %u recoveries did not reach %u within %llu ms\n",
			       slow_recover, w0 - w0 / 10, RECOVER_LIMIT_MS);
		printf("  %-40s %8s %8s %8s %8s %14s %16s\n",
		       "reaction: metric change -> new table", "median", "p90",
		       "p99", "max", "poll interval", "median/interval");
		printf("  %-40s %6.1fms %6.1fms %6.1fms %6.1fms %12.1fms %15.2fx\n",
		       "", med, p90, p99, max, interval,
		       interval > 0 ? med / interval : 0);
		printf("  (poll interval: measured over the run, agent poll rounds; configured %u ms;\n"
		       "   fleetsim saw %.2f requests per worker per round, %u workers)\n",
		       opt.poll_ms, rpw, opt.workers);
	}
	rc = n ? 0 : 1;
	if (!n)
		fprintf(stderr, "Error: the weight never dropped to the load floor\n");
out:
	set_waiting(0);
	curl_easy_cleanup(curl);
	curl_global_cleanup();
	close(map_fd);
	return rc;
bad_arg:
	fprintf(stderr, "Error: bad value for an option: %s\n", optarg);
	return 2;
}
