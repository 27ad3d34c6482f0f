// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * fleetsim - one process that stands in for a whole fleet of GPU workers'
 * /metrics and /health endpoints, so lb-agent can be benchmarked polling
 * 1,000 workers at 10 Hz without starting 1,000 gpusim processes.
 *
 * Design:
 * - Worker i lives under /w/<i>/ on a single port. Its state is just the
 *   three load signals plus a health flag; nothing is simulated over time.
 *   A benchmark moves the signals with /admin/set and watches the agent
 *   react.
 * - HTTP is libmicrohttpd in epoll mode with a small thread pool (one
 *   thread per CPU by default). The agent keeps one keep-alive connection
 *   per worker, so ~1,000 mostly idle connections must cost nothing:
 *   thread-per-connection would mean 1,000 threads and stacks.
 * - A scrape must look like a real vLLM (or SGLang) one, ~8 KB with HELP
 *   and TYPE lines and histograms, or the agent's parsing cost would be
 *   understated. Everything except the per-worker head is the same for
 *   all workers and never changes, so it is rendered once at start-up and
 *   copied; a request only formats a few lines. That keeps fleetsim's own
 *   CPU use small next to the agent it benchmarks on the same machine.
 * - Per-worker state is guarded by one mutex per worker, so /admin/set
 *   changes the fields of a worker atomically as a group and concurrent
 *   scrapes of other workers never contend.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "simhttp.h"

#define MAX_WORKERS	10000u
#define CONN_LIMIT	4096u		/* a fleet of 1,000 plus admin, with room */
#define IDLE_TIMEOUT	600u		/* s; the agent's connections idle 100 ms */
#define MAX_COUNT	1000000u	/* bound on waiting/running in /admin/set */
#define HEAD_MAX	4096u		/* per-worker part of a scrape */

enum engine_kind { ENG_VLLM, ENG_SGLANG };

static const char *const engine_names[] = { "vllm", "sglang" };

static struct {
	const char *bind;
	unsigned port;
	unsigned workers;
	unsigned threads;
	enum engine_kind engine;
} opt = {
	.bind = "127.0.0.1",
	.port = 9000,
	.workers = 1000,
	.threads = 0,		/* 0 = one per online CPU */
	.engine = ENG_VLLM,
};

struct worker {
	pthread_mutex_t mu;
	unsigned waiting;
	unsigned running;
	double kv;		/* 0..1 */
	bool healthy;
	uint64_t scrapes;	/* makes the counters move like a live server */
};

static struct worker *fleet;
/* Requests to /w/ endpoints: what a benchmark divides by time. */
static atomic_uint_fast64_t nrequests;

/* The worker-independent part of every scrape, rendered once. */
static char *tail;
static size_t tail_len;

/* ---- scrape rendering ---- */

/*
 * A cumulative histogram whose counts follow a smooth curve around
 * @mid, like latencies of a server that has been up for a while.
 */
static void bhist(struct sim_buf *b, const char *name, const char *help,
		  const char *labels, const double *le, unsigned n,
		  double mid, uint64_t total)
{
	sim_bhead(b, name, "histogram", help);
	for (unsigned i = 0; i < n; i++) {
		double frac = 1.0 - exp(-le[i] / mid);
		uint64_t c = (uint64_t)(frac * (double)total);

		sim_bput(b, "%s_bucket{%s,le=\"%g\"} %" PRIu64 ".0\n",
			 name, labels, le[i], c);
	}
	sim_bput(b, "%s_bucket{%s,le=\"+Inf\"} %" PRIu64 ".0\n", name, labels,
		 total);
	sim_bput(b, "%s_count{%s} %" PRIu64 ".0\n", name, labels, total);
	sim_bput(b, "%s_sum{%s} %.6f\n", name, labels, mid * (double)total);
}

static const double lat_le[] = {
	0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5,
	0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
};
static const double e2e_le[] = {
	0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0,
	40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0,
};
static const double tok_le[] = {
	1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384,
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static int build_tail(void)
{
	struct sim_buf b = { .cap = 16384 };
	const char *pre = engine_names[opt.engine];
	char name[128];
	/* Label sets as the engines write them (vLLM sorts them). */
	const char *lab = opt.engine == ENG_VLLM ?
		"engine=\"0\",model_name=\"sim-model\"" :
		"model_name=\"sim-model\"";

	b.p = malloc(b.cap);
	if (!b.p)
		return -1;
#define H(metric, help, le, mid, total)					\
	do {								\
		snprintf(name, sizeof(name), "%s:%s", pre, metric);	\
		bhist(&b, name, help, lab, le, NELEM(le), mid, total);	\
	} while (0)
	H("time_to_first_token_seconds",
	  "Histogram of time to first token in seconds.",
	  lat_le, 0.12, 58213);
	H("e2e_request_latency_seconds",
	  "Histogram of e2e request latency in seconds.",
	  e2e_le, 6.0, 58190);
	if (opt.engine == ENG_VLLM) {
		H("request_prompt_tokens",
		  "Number of prefill tokens processed.",
		  tok_le, 900, 58190);
		sim_bhead(&b, "vllm:cache_config_info", "gauge",
			  "Information of the LLMEngine CacheConfig");
		sim_bput(&b, "vllm:cache_config_info{block_size=\"16\",cache_dtype=\"auto\","
			 "enable_prefix_caching=\"True\",engine=\"0\","
			 "gpu_memory_utilization=\"0.9\",num_gpu_blocks=\"27904\"} 1.0\n");
	}
#undef H
	if (b.oom) {
		free(b.p);
		return -1;
	}
	tail = b.p;
	tail_len = b.len;
	return 0;
}

/*
 * The head: process families first as prometheus_client writes them, then
 * the engine's gauges with this worker's values and counters that grow
 * with every scrape.
 */
static void render_head(struct sim_buf *b, unsigned i, unsigned wait,
			unsigned run, double kv, uint64_t n)
{
	sim_bhead(b, "python_gc_objects_collected_total", "counter",
		  "Objects collected during gc");
	for (unsigned g = 0; g < 3; g++)
		sim_bput(b, "python_gc_objects_collected_total{generation=\"%u\"} %u.0\n",
			 g, 12000u >> (g * 3));
	sim_bhead(b, "process_resident_memory_bytes", "gauge",
		  "Resident memory size in bytes.");
	sim_bput(b, "process_resident_memory_bytes %u.0\n", 2000000000u + i * 4096u);
	sim_bhead(b, "process_cpu_seconds_total", "counter",
		  "Total user and system CPU time spent in seconds.");
	sim_bput(b, "process_cpu_seconds_total %.2f\n", 1000.0 + (double)n * 0.01);

	if (opt.engine == ENG_VLLM) {
		const char *l = "engine=\"0\",model_name=\"sim-model\"";

		sim_vllm_signals(b, l, run, wait, kv);
		sim_bhead(b, "vllm:prefix_cache_queries_total", "counter",
			  "Prefix cache queries, in terms of number of queried tokens.");
		sim_bput(b, "vllm:prefix_cache_queries_total{%s} %" PRIu64 ".0\n",
			 l, 900000 + n * 1024);
		sim_bhead(b, "vllm:prefix_cache_hits_total", "counter",
			  "Prefix cache hits, in terms of number of cached tokens.");
		sim_bput(b, "vllm:prefix_cache_hits_total{%s} %" PRIu64 ".0\n",
			 l, 400000 + n * 512);
		sim_bhead(b, "vllm:num_preemptions_total", "counter",
			  "Cumulative number of preemption from the engine.");
		sim_bput(b, "vllm:num_preemptions_total{%s} 0.0\n", l);
		sim_bhead(b, "vllm:prompt_tokens_total", "counter",
			  "Number of prefill tokens processed.");
		sim_bput(b, "vllm:prompt_tokens_total{%s} %" PRIu64 ".0\n",
			 l, 52000000 + n * 900);
		sim_bhead(b, "vllm:generation_tokens_total", "counter",
			  "Number of generation tokens processed.");
		sim_bput(b, "vllm:generation_tokens_total{%s} %" PRIu64 ".0\n",
			 l, 17000000 + n * 300);
		sim_bhead(b, "vllm:request_success_total", "counter",
			  "Count of successfully processed requests.");
		sim_bput(b, "vllm:request_success_total{engine=\"0\",finished_reason=\"stop\","
			 "model_name=\"sim-model\"} %" PRIu64 ".0\n", 55000 + n);
		sim_bput(b, "vllm:request_success_total{engine=\"0\",finished_reason=\"length\","
			 "model_name=\"sim-model\"} %" PRIu64 ".0\n", 3100 + n / 16);
		sim_bput(b, "vllm:request_success_total{engine=\"0\",finished_reason=\"abort\","
			 "model_name=\"sim-model\"} 7.0\n");
	} else {
		const char *l = "model_name=\"sim-model\"";

		sim_sglang_signals(b, l, run, wait, kv);
		sim_bhead(b, "sglang:num_used_tokens", "gauge",
			  "The number of used tokens.");
		sim_bput(b, "sglang:num_used_tokens{%s} %u.0\n", l,
			 (unsigned)(kv * 65536));
		sim_bhead(b, "sglang:max_total_num_tokens", "gauge",
			  "Maximum total number of tokens in the KV cache pool.");
		sim_bput(b, "sglang:max_total_num_tokens{%s} 65536.0\n", l);
		sim_bhead(b, "sglang:gen_throughput", "gauge",
			  "The generation throughput (token/s).");
		sim_bput(b, "sglang:gen_throughput{%s} %.1f\n", l, run * 42.5);
		sim_bhead(b, "sglang:cache_hit_rate", "gauge",
			  "The prefix cache hit rate.");
		sim_bput(b, "sglang:cache_hit_rate{%s} 0.41\n", l);
		sim_bhead(b, "sglang:prompt_tokens_total", "counter",
			  "Number of prefill tokens processed.");
		sim_bput(b, "sglang:prompt_tokens_total{%s} %" PRIu64 ".0\n",
			 l, 52000000 + n * 900);
		sim_bhead(b, "sglang:generation_tokens_total", "counter",
			  "Number of generation tokens processed.");
		sim_bput(b, "sglang:generation_tokens_total{%s} %" PRIu64 ".0\n",
			 l, 17000000 + n * 300);
	}
}

/* ---- HTTP ---- */

/* Short plain-text answers: health, /admin and errors. */
static MHD_Result_t reply(struct MHD_Connection *c, unsigned status,
			  const char *body)
{
	return sim_reply(c, status, "text/plain; charset=utf-8", NULL, body);
}

static MHD_Result_t do_metrics(struct MHD_Connection *c, unsigned i)
{
	struct worker *w = &fleet[i];
	struct sim_buf b = { .cap = HEAD_MAX + tail_len };
	struct MHD_Response *r;
	unsigned wait, run;
	uint64_t n;
	double kv;
	MHD_Result_t ret;

	pthread_mutex_lock(&w->mu);
	wait = w->waiting;
	run = w->running;
	kv = w->kv;
	n = ++w->scrapes;
	pthread_mutex_unlock(&w->mu);

	b.p = malloc(b.cap);
	if (!b.p)
		return MHD_NO;
	render_head(&b, i, wait, run, kv, n);
	if (b.oom || b.len + tail_len > b.cap) {
		free(b.p);
		return MHD_NO;
	}
	memcpy(b.p + b.len, tail, tail_len);
	b.len += tail_len;
	/* sim_bput may have moved b.p; MHD frees whatever it ends up being. */
	r = MHD_create_response_from_buffer(b.len, b.p, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(b.p);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type",
				"text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static MHD_Result_t do_health(struct MHD_Connection *c, unsigned i)
{
	bool ok;

	pthread_mutex_lock(&fleet[i].mu);
	ok = fleet[i].healthy;
	pthread_mutex_unlock(&fleet[i].mu);
	return reply(c, ok ? 200 : 503, "");
}

/* Strict decimal: no sign, no spaces, no trailing junk, at most @max. */
static bool parse_count(const char *s, unsigned max, unsigned *out)
{
	unsigned long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = (unsigned)v;
	return true;
}

/* Reject unknown keys so that a typo ("wait=5") is not silently ignored. */
static MHD_Result_t check_key(void *cls, enum MHD_ValueKind kind,
			      const char *key, const char *value)
{
	static const char *const known[] = {
		"w", "waiting", "running", "kv", "health",
	};
	const char **bad = cls;

	(void)kind;
	(void)value;
	for (size_t k = 0; k < NELEM(known); k++)
		if (!strcmp(key, known[k]))
			return MHD_YES;
	*bad = key;
	return MHD_NO;
}

static MHD_Result_t do_set(struct MHD_Connection *c)
{
	const char *sw, *swait, *srun, *skv, *sh, *bad = NULL;
	unsigned i, wait = 0, run = 0;
	bool healthy = true;
	double kv = 0;
	char msg[160];
	struct worker *w;

	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, check_key, &bad);
	if (bad) {
		snprintf(msg, sizeof(msg), "unknown parameter '%.64s'\n", bad);
		return reply(c, 400, msg);
	}
	sw = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "w");
	swait = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "waiting");
	srun = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "running");
	skv = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "kv");
	sh = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "health");

	/* Validate everything first: a bad request changes nothing. */
	if (!parse_count(sw, opt.workers - 1, &i)) {
		snprintf(msg, sizeof(msg), "w must be a worker index 0..%u\n",
			 opt.workers - 1);
		return reply(c, 400, msg);
	}
	if (swait && !parse_count(swait, MAX_COUNT, &wait)) {
		snprintf(msg, sizeof(msg), "waiting must be 0..%u\n", MAX_COUNT);
		return reply(c, 400, msg);
	}
	if (srun && !parse_count(srun, MAX_COUNT, &run)) {
		snprintf(msg, sizeof(msg), "running must be 0..%u\n", MAX_COUNT);
		return reply(c, 400, msg);
	}
	if (skv) {
		char *end;

		errno = 0;
		kv = strtod(skv, &end);
		/* !(x >= 0) also catches NaN. */
		if (end == skv || *end || errno || !(kv >= 0.0 && kv <= 1.0))
			return reply(c, 400, "kv must be a number 0..1\n");
	}
	if (sh) {
		if (!strcmp(sh, "ok"))
			healthy = true;
		else if (!strcmp(sh, "fail"))
			healthy = false;
		else
			return reply(c, 400, "health must be ok|fail\n");
	}

	w = &fleet[i];
	pthread_mutex_lock(&w->mu);
	if (swait)
		w->waiting = wait;
	if (srun)
		w->running = run;
	if (skv)
		w->kv = kv;
	if (sh)
		w->healthy = healthy;
	pthread_mutex_unlock(&w->mu);
	return reply(c, 200, "ok\n");
}

/*
 * "/w/<i>/metrics" or "/w/<i>/health": worker index and endpoint, or -1.
 * The index must be plain decimal without leading zeros, so that every
 * worker has exactly one URL.
 */
static int parse_worker_url(const char *url, unsigned *idx)
{
	unsigned long v = 0;
	const char *p = url + 3;

	if (strncmp(url, "/w/", 3) || *p < '0' || *p > '9' ||
	    (*p == '0' && p[1] != '/'))
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned long)(*p - '0');
		if (v >= opt.workers)
			return -1;
	}
	*idx = (unsigned)v;
	if (!strcmp(p, "/metrics"))
		return 0;
	if (!strcmp(p, "/health"))
		return 1;
	return -1;
}

static MHD_Result_t handler(void *cls, struct MHD_Connection *c,
			    const char *url, const char *method,
			    const char *version, const char *upload,
			    size_t *upload_size, void **con_cls)
{
	unsigned i;
	int ep;

	(void)cls;
	(void)version;
	(void)upload;
	/*
	 * Answer only from the second call on: a response queued while MHD
	 * still expects a possible body makes it close the connection, and
	 * the point here is that the agent's keep-alive connections survive.
	 */
	if (!*con_cls) {
		*con_cls = &nrequests;	/* any non-NULL marker */
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply(c, 405, "method not allowed\n");

	ep = parse_worker_url(url, &i);
	if (ep >= 0) {
		atomic_fetch_add_explicit(&nrequests, 1, memory_order_relaxed);
		return ep == 0 ? do_metrics(c, i) : do_health(c, i);
	}
	if (!strcmp(url, "/admin/set"))
		return do_set(c);
	if (!strcmp(url, "/admin/stats")) {
		char msg[64];

		snprintf(msg, sizeof(msg), "requests %" PRIu64 "\n",
			 (uint64_t)atomic_load(&nrequests));
		return reply(c, 200, msg);
	}
	return reply(c, 404, "not found\n");
}

/* ---- options ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: fleetsim [options]\n"
		"Simulated fleet of GPU workers' metrics and health endpoints on one port.\n\n"
		"  --bind ADDR     listen address, IPv4 or IPv6, e.g. [::] (default 127.0.0.1)\n"
		"  --port P        TCP port, 0 = any free one (default 9000)\n"
		"  --workers N     number of workers, 1..%u (default 1000)\n"
		"  --engine E      vllm|sglang: metrics format (default vllm)\n"
		"  --threads N     HTTP threads (default: one per online CPU)\n"
		"  -h, --help      this text\n\n"
		"Endpoints (worker I is 0..N-1):\n"
		"  GET /w/I/metrics   Prometheus text in the engine's format (~8 KB)\n"
		"  GET /w/I/health    200, or 503 once health=fail was set\n"
		"  GET /admin/set?w=I&waiting=X&running=Y&kv=Z&health=ok|fail\n"
		"                     set any subset of worker I's state; 400 changes nothing\n"
		"  GET /admin/stats   \"requests C\": requests served under /w/ so far\n"
		"Every worker starts with waiting 0, running 2, kv 0.1, healthy.\n",
		MAX_WORKERS);
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "bind", required_argument, NULL, 'b' },
		{ "port", required_argument, NULL, 'p' },
		{ "workers", required_argument, NULL, 'w' },
		{ "engine", required_argument, NULL, 'e' },
		{ "threads", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'b':
			opt.bind = optarg;
			break;
		case 'p':
			opt.port = sim_parse_uint("fleetsim", optarg, "--port", 0, 65535);
			break;
		case 'w':
			opt.workers = sim_parse_uint("fleetsim", optarg, "--workers",
						     1, MAX_WORKERS);
			break;
		case 'e':
			if (!strcmp(optarg, "vllm")) {
				opt.engine = ENG_VLLM;
			} else if (!strcmp(optarg, "sglang")) {
				opt.engine = ENG_SGLANG;
			} else {
				fprintf(stderr, "fleetsim: --engine must be vllm|sglang\n");
				exit(2);
			}
			break;
		case 't':
			opt.threads = sim_parse_uint("fleetsim", optarg, "--threads", 1, 64);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc) {
		usage(stderr);
		exit(2);
	}
}

/*
 * Each keep-alive connection is a descriptor; the usual soft limit of
 * 1024 would cap a 1,000-worker fleet right at its size.
 */
static void raise_nofile(rlim_t want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < want && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			fprintf(stderr, "fleetsim: cannot raise open files limit: %s\n",
				strerror(errno));
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *di;
	char addr[INET6_ADDRSTRLEN + 2];
	struct MHD_Daemon *d;
	unsigned port;
	sigset_t set;
	bool v6;
	int sig;

	parse_args(argc, argv);

	if (sim_parse_bind(opt.bind, opt.port, &ss, addr, sizeof(addr), &v6)) {
		fprintf(stderr, "fleetsim: bad --bind address '%s'\n", opt.bind);
		return 2;
	}
	/* "[::]" should also take IPv4, as the usual servers do */
	if (v6)
		flags |= MHD_USE_DUAL_STACK;
	if (!opt.threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		opt.threads = n < 1 ? 1 : n > 8 ? 8 : (unsigned)n;
	}

	fleet = calloc(opt.workers, sizeof(*fleet));
	if (!fleet || build_tail()) {
		fprintf(stderr, "fleetsim: out of memory\n");
		return 1;
	}
	for (unsigned i = 0; i < opt.workers; i++) {
		pthread_mutex_init(&fleet[i].mu, NULL);
		fleet[i].running = 2;
		fleet[i].kv = 0.1;
		fleet[i].healthy = true;
	}
	raise_nofile((rlim_t)CONN_LIMIT * opt.threads + 64);

	/* All threads inherit this mask; main takes the signals with sigwait. */
	sim_block_signals(&set);

	/*
	 * With a thread pool MHD splits CONNECTION_LIMIT between the threads,
	 * and the kernel spreads new connections over them, so give each
	 * thread the whole limit: one unlucky thread must not refuse
	 * connections while the others are half empty.
	 */
	d = MHD_start_daemon(flags, (uint16_t)opt.port, NULL, NULL, handler, NULL,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
			     MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
			     MHD_OPTION_THREAD_POOL_SIZE, opt.threads,
			     MHD_OPTION_CONNECTION_LIMIT, CONN_LIMIT * opt.threads,
			     MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT,
			     MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096u,
			     MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "fleetsim: cannot listen on %s port %u\n",
			opt.bind, opt.port);
		return 1;
	}
	port = opt.port;
	di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (di && di->port)
		port = di->port;
	printf(v6 ? "fleetsim: %u workers on [%s]:%u\n" :
		    "fleetsim: %u workers on %s:%u\n",
	       opt.workers, addr, port);
	fflush(stdout);

	sigwait(&set, &sig);
	/* Handlers never block, so stopping the daemon drains quickly. */
	MHD_stop_daemon(d);
	for (unsigned i = 0; i < opt.workers; i++)
		pthread_mutex_destroy(&fleet[i].mu);
	free(fleet);
	free(tail);
	return 0;
}
