// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * loadgen - streaming inference load generator (OpenAI completions / chat).
 *
 * Design:
 * - One thread, one libcurl multi handle.  Every request is an easy handle
 *   added to the multi; the main loop launches requests (closed loop: keep
 *   --concurrency in flight; open loop: start one per scheduled arrival),
 *   drives curl with curl_multi_perform/curl_multi_poll and classifies the
 *   finished ones.  Nothing blocks except curl_multi_poll, whose timeout is
 *   capped so arrivals, progress lines and signals are handled on time.
 * - Open loop must not turn into an unbounded queue inside the load
 *   generator (that would measure loadgen, not the target): an arrival that
 *   finds --max-inflight requests running is counted as "dropped" and never
 *   sent.
 * - Token events are recognised while the bytes arrive (the SSE stream is
 *   split into lines in the write callback), so TTFT is the time the first
 *   token event reached us, not the time the response ended.
 * - Request sizes come from a seeded PRNG drawn in request order, so the
 *   same --seed gives the same sequence of prompt/output lengths whatever
 *   the timing; arrival gaps use a separate stream for the same reason.
 * - Results are kept per request (three doubles) so percentiles are exact;
 *   memory is bounded by the number of requests a run can start.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>

#define LINE_MAX_BYTES	4096		/* SSE line kept for parsing */
#define BACKEND_MAX	64		/* bytes of an X-Backend value kept */
#define MAX_BACKENDS	256		/* distinct backends tracked by name */
#define MAX_STATUSES	32		/* distinct HTTP error codes tracked */
#define MAX_TOKENS	100000u		/* per request, prompt or output */

enum outcome { OC_OK, OC_HTTP, OC_REFUSED, OC_TIMEOUT, OC_BROKEN, OC_OTHER,
	       OC_CANCELLED, OC_NR };
static const char *const oc_names[OC_NR] = {
	"ok", "http_error", "refused", "timeout", "broken", "other", "cancelled",
};

enum dist { DIST_LOGNORMAL, DIST_UNIFORM, DIST_FIXED };
static const char *const dist_names[] = { "lognormal", "uniform", "fixed" };

static struct {
	const char *url;
	const char *model;
	bool chat;
	double rate;			/* > 0: open loop */
	bool poisson;
	unsigned concurrency;		/* closed loop */
	double duration;		/* s, 0 = until --requests */
	unsigned long requests;		/* 0 = until --duration */
	unsigned prompt_mean, prompt_max, out_mean, out_max;
	enum dist dist;
	double sigma;
	uint64_t seed;
	bool new_conn;
	double timeout, connect_timeout;
	unsigned max_inflight;
	bool json, progress;
} opt = {
	.model = "sim-model",
	.poisson = true,
	.prompt_mean = 256, .prompt_max = 2048,
	.out_mean = 128, .out_max = 1024,
	.dist = DIST_LOGNORMAL,
	.sigma = 0.8,
	.seed = 1,
	.timeout = 60.0, .connect_timeout = 5.0,
	.max_inflight = 1024,
};

struct req {
	struct req *next, *prev;	/* in flight, for cancelling */
	CURL *h;
	char *body;
	uint64_t t_start, t_first, t_last;	/* ns */
	unsigned want;			/* max_tokens asked for */
	unsigned tokens;		/* token events received */
	bool done_seen;			/* data: [DONE] */
	bool got_bytes;			/* any response header or body */
	size_t llen;			/* bytes in line */
	bool ltrunc;			/* line longer than the buffer */
	char backend[BACKEND_MAX];
	char errbuf[CURL_ERROR_SIZE];
	char line[LINE_MAX_BYTES];
};

/* A growable array of doubles: one sample per request. */
struct samples {
	double *v;
	size_t n, cap;
};

static struct {
	unsigned long started, arrivals, dropped, completed;
	unsigned long oc[OC_NR];
	/* of oc[OC_REFUSED]: the connection itself refused (the SYN got a
	 * RST), as opposed to reset after it was accepted */
	unsigned long refused_connect;
	unsigned long tokens_ok, want_ok, short_ok;
	struct samples ttft, lat, tps;	/* ms, ms, tokens/s: ok requests */
	struct { char name[BACKEND_MAX]; unsigned long n, ok; } be[MAX_BACKENDS];
	unsigned nbe;
	unsigned long be_other;		/* backends past MAX_BACKENDS */
	struct { long code; unsigned long n; } st[MAX_STATUSES];
	unsigned nst;
} res;

static volatile sig_atomic_t stop_sig;
static struct curl_slist *hdrs;
static unsigned inflight;
static struct req *active;		/* list of requests in flight */

/* ---- small helpers ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void __attribute__((noreturn, format(printf, 1, 2))) bad_arg(const char *fmt, ...)
{
	va_list ap;

	fputs("Error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("; see 'loadgen --help'\n", stderr);
	exit(2);
}

static void __attribute__((noreturn)) oom(void)
{
	fputs("Error: out of memory\n", stderr);
	exit(1);
}

/* splitmix64: tiny, seedable from any value, good enough for load shapes. */
struct rng { uint64_t s; };

static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in (0, 1): never 0, so log() below is always finite. */
static double rng_unit(struct rng *r)
{
	return ((double)(rng_next(r) >> 11) + 0.5) / 9007199254740992.0;
}

static double rng_normal(struct rng *r)
{
	/* Box-Muller; one of the pair is thrown away to keep draws in step. */
	return sqrt(-2.0 * log(rng_unit(r))) * cos(2.0 * M_PI * rng_unit(r));
}

/*
 * A token count with mean @mean (before clamping to 1..@max).  Lognormal:
 * mu chosen so E[X] = mean for the given sigma.  Uniform: 1..2*mean-1.
 */
static unsigned draw_tokens(struct rng *r, unsigned mean, unsigned max)
{
	double x;

	switch (opt.dist) {
	case DIST_LOGNORMAL:
		x = exp(log((double)mean) - opt.sigma * opt.sigma / 2 +
			opt.sigma * rng_normal(r));
		break;
	case DIST_UNIFORM:
		x = 1 + floor(rng_unit(r) * (2.0 * mean - 1));
		break;
	default:
		x = mean;
		break;
	}
	x = nearbyint(x);
	if (x < 1)
		x = 1;
	if (x > max)
		x = max;
	return (unsigned)x;
}

static void samples_add(struct samples *s, double v)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		double *p = realloc(s->v, cap * sizeof(*p));

		if (!p)
			oom();
		s->v = p;
		s->cap = cap;
	}
	s->v[s->n++] = v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted @v[0..n). */
static double pct(const double *v, size_t n, double p)
{
	size_t k = (size_t)ceil(p / 100.0 * (double)n);

	return v[k ? k - 1 : 0];
}

/* ---- option parsing ---- */

static double parse_double(const char *s, const char *what, double lo, double hi)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		bad_arg("%s must be a number in %g..%g, not '%s'", what, lo, hi, s);
	return v;
}

static unsigned long parse_ulong(const char *s, const char *what,
				 unsigned long lo, unsigned long hi)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < lo || v > hi)
		bad_arg("%s must be an integer in %lu..%lu, not '%s'", what, lo, hi, s);
	return v;
}

/* MEAN[:MAX]; MAX defaults to 8 * MEAN (within MAX_TOKENS). */
static void parse_tokens(const char *s, const char *what, unsigned *mean,
			 unsigned *max)
{
	char buf[64];
	char *colon;

	if (strlen(s) >= sizeof(buf))
		bad_arg("%s must be MEAN[:MAX], not '%s'", what, s);
	strcpy(buf, s);
	colon = strchr(buf, ':');
	if (colon)
		*colon = '\0';
	*mean = (unsigned)parse_ulong(buf, what, 1, MAX_TOKENS);
	if (colon) {
		*max = (unsigned)parse_ulong(colon + 1, what, 1, MAX_TOKENS);
		if (*max < *mean)
			bad_arg("%s: MAX %u is below MEAN %u", what, *max, *mean);
	} else {
		*max = *mean > MAX_TOKENS / 8 ? MAX_TOKENS : *mean * 8;
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: loadgen --url URL [options]\n"
		"Streaming inference load generator (OpenAI /v1/completions or /v1/chat/completions).\n\n"
		"Load shape (closed loop is the default, with concurrency 1):\n"
		"  --concurrency C         closed loop: keep C requests in flight (1..100000)\n"
		"  --rate R                open loop: start R requests/s (0.001..1000000)\n"
		"  --arrivals poisson|fixed  open-loop inter-arrival gaps (default poisson)\n"
		"  --duration S            start requests for S seconds (default 10 unless --requests)\n"
		"  --requests N            start at most N requests (open loop: N arrivals)\n"
		"  --max-inflight N        bound on requests in flight (default 1024); an open-loop\n"
		"                          arrival beyond it is counted as dropped, not queued\n"
		"When both --duration and --requests are given the first limit reached ends the\n"
		"run; requests in flight then finish (each bounded by --timeout).\n\n"
		"Requests:\n"
		"  --url URL               target, e.g. http://198.18.1.10:8000/v1/completions\n"
		"  --chat                  send chat bodies (\"messages\") instead of \"prompt\"\n"
		"  --model NAME            \"model\" field (default sim-model)\n"
		"  --prompt-tokens M[:X]   prompt length, mean M, max X tokens (default 256:2048)\n"
		"  --output-tokens M[:X]   max_tokens, mean M, max X (default 128:1024); X defaults to 8*M\n"
		"  --dist lognormal|uniform|fixed  length distribution (default lognormal):\n"
		"                          lognormal with mean M and --sigma (default 0.8),\n"
		"                          uniform on 1..2M-1, or always M; all clamped to 1..X\n"
		"  --sigma S               lognormal shape (0..4)\n"
		"  --seed N                PRNG seed for lengths and arrivals (default 1)\n"
		"  --reuse                 reuse connections (keep-alive, the default)\n"
		"  --new-conn              a new TCP connection for every request\n"
		"  --timeout S             per-request time limit, seconds (default 60)\n"
		"  --connect-timeout S     TCP connect limit, seconds (default 5)\n\n"
		"Output:\n"
		"  --json                  the report as one JSON object on stdout\n"
		"  --progress              a line per second on stderr\n"
		"  -h, --help              this text\n\n"
		"Prompts are ~4 bytes per token of filler text.  Per request it measures TTFT\n"
		"(start to the first SSE data event carrying text), total latency, tokens\n"
		"received, decode rate ((tokens-1)/(last token - first token)), the X-Backend\n"
		"header and the outcome: ok (200 and data: [DONE]), http_error (status != 200),\n"
		"refused (connect refused, or reset/closed before any response byte), timeout,\n"
		"broken (stream ended or reset without [DONE]), other (any other curl error),\n"
		"cancelled (in flight at SIGINT/SIGTERM).  Percentiles cover ok requests.\n"
		"refused_at_connect counts the refused whose connection itself was refused.\n"
		"Exit status: 0 run completed (whatever the request outcomes), 1 setup failure,\n"
		"2 bad arguments.\n");
}

static void parse_args(int argc, char **argv)
{
	enum { O_RATE = 256, O_ARR, O_DUR, O_REQ, O_MAXIF, O_URL, O_CHAT,
	       O_MODEL, O_PT, O_OT, O_DIST, O_SIGMA, O_SEED, O_REUSE, O_NEW,
	       O_TMO, O_CTMO, O_JSON, O_PROG, O_CONC };
	static const struct option lo[] = {
		{ "concurrency", required_argument, NULL, O_CONC },
		{ "rate", required_argument, NULL, O_RATE },
		{ "arrivals", required_argument, NULL, O_ARR },
		{ "duration", required_argument, NULL, O_DUR },
		{ "requests", required_argument, NULL, O_REQ },
		{ "max-inflight", required_argument, NULL, O_MAXIF },
		{ "url", required_argument, NULL, O_URL },
		{ "chat", no_argument, NULL, O_CHAT },
		{ "model", required_argument, NULL, O_MODEL },
		{ "prompt-tokens", required_argument, NULL, O_PT },
		{ "output-tokens", required_argument, NULL, O_OT },
		{ "dist", required_argument, NULL, O_DIST },
		{ "sigma", required_argument, NULL, O_SIGMA },
		{ "seed", required_argument, NULL, O_SEED },
		{ "reuse", no_argument, NULL, O_REUSE },
		{ "new-conn", no_argument, NULL, O_NEW },
		{ "timeout", required_argument, NULL, O_TMO },
		{ "connect-timeout", required_argument, NULL, O_CTMO },
		{ "json", no_argument, NULL, O_JSON },
		{ "progress", no_argument, NULL, O_PROG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool have_conc = false, have_rate = false, have_dur = false;
	unsigned i;
	int c;

	opterr = 0;	/* our own one-line message instead of getopt's */
	while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		switch (c) {
		case O_CONC:
			opt.concurrency = (unsigned)parse_ulong(optarg, "--concurrency", 1, 100000);
			have_conc = true;
			break;
		case O_RATE:
			opt.rate = parse_double(optarg, "--rate", 0.001, 1e6);
			have_rate = true;
			break;
		case O_ARR:
			if (!strcmp(optarg, "poisson"))
				opt.poisson = true;
			else if (!strcmp(optarg, "fixed"))
				opt.poisson = false;
			else
				bad_arg("--arrivals must be poisson or fixed, not '%s'", optarg);
			break;
		case O_DUR:
			opt.duration = parse_double(optarg, "--duration", 0.001, 1e6);
			have_dur = true;
			break;
		case O_REQ:
			opt.requests = parse_ulong(optarg, "--requests", 1, 100000000);
			break;
		case O_MAXIF:
			opt.max_inflight = (unsigned)parse_ulong(optarg, "--max-inflight", 1, 100000);
			break;
		case O_URL:
			opt.url = optarg;
			break;
		case O_CHAT:
			opt.chat = true;
			break;
		case O_MODEL:
			/* It goes into the JSON body unescaped. */
			if (!*optarg || strpbrk(optarg, "\"\\") ||
			    strlen(optarg) > 256)
				bad_arg("--model must be 1..256 bytes without quotes or backslashes");
			for (i = 0; optarg[i]; i++)
				if ((unsigned char)optarg[i] < 0x20)
					bad_arg("--model must not contain control characters");
			opt.model = optarg;
			break;
		case O_PT:
			parse_tokens(optarg, "--prompt-tokens", &opt.prompt_mean, &opt.prompt_max);
			break;
		case O_OT:
			parse_tokens(optarg, "--output-tokens", &opt.out_mean, &opt.out_max);
			break;
		case O_DIST:
			for (i = 0; i < 3 && strcmp(optarg, dist_names[i]); i++)
				;
			if (i == 3)
				bad_arg("--dist must be lognormal, uniform or fixed, not '%s'", optarg);
			opt.dist = (enum dist)i;
			break;
		case O_SIGMA:
			opt.sigma = parse_double(optarg, "--sigma", 0, 4);
			break;
		case O_SEED:
			opt.seed = parse_ulong(optarg, "--seed", 0, ULONG_MAX);
			break;
		case O_REUSE:
			opt.new_conn = false;
			break;
		case O_NEW:
			opt.new_conn = true;
			break;
		case O_TMO:
			opt.timeout = parse_double(optarg, "--timeout", 0.001, 86400);
			break;
		case O_CTMO:
			opt.connect_timeout = parse_double(optarg, "--connect-timeout", 0.001, 86400);
			break;
		case O_JSON:
			opt.json = true;
			break;
		case O_PROG:
			opt.progress = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			bad_arg("option '%s' needs a value", argv[optind - 1]);
		default:
			bad_arg("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		bad_arg("unexpected argument '%s'", argv[optind]);
	if (!opt.url)
		bad_arg("--url is required");
	if (strncmp(opt.url, "http://", 7) && strncmp(opt.url, "https://", 8))
		bad_arg("--url must start with http:// or https://");
	if (have_conc && have_rate)
		bad_arg("--concurrency (closed loop) and --rate (open loop) exclude each other");
	if (!have_rate && !have_conc)
		opt.concurrency = 1;
	if (opt.concurrency > opt.max_inflight)
		bad_arg("--concurrency %u exceeds --max-inflight %u",
			opt.concurrency, opt.max_inflight);
	if (!have_dur && !opt.requests)
		opt.duration = 10;
}

/* ---- requests ---- */

static const char filler[] = "the quick brown fox jumps over lazy dogs and ";

/* JSON body with a prompt of 4 * @ptok bytes and max_tokens @otok. */
static char *make_body(unsigned long id, unsigned ptok, unsigned otok)
{
	size_t plen = (size_t)ptok * 4, cap = plen + strlen(opt.model) + 256;
	char *b = malloc(cap), *p;
	int n;
	size_t i, off;

	if (!b)
		oom();
	if (opt.chat)
		n = snprintf(b, cap, "{\"model\":\"%s\",\"stream\":true,\"max_tokens\":%u,"
			     "\"messages\":[{\"role\":\"user\",\"content\":\"",
			     opt.model, otok);
	else
		n = snprintf(b, cap, "{\"model\":\"%s\",\"stream\":true,\"max_tokens\":%u,"
			     "\"prompt\":\"", opt.model, otok);
	if (n < 0 || (size_t)n >= cap)
		goto toolong;
	off = (size_t)n;
	/*
	 * A request number up front keeps prompts distinct, so a prefix cache
	 * cannot make every request after the first one cheap.
	 */
	p = b + off;
	n = snprintf(p, cap - off, "%lu ", id);
	if (n < 0 || (size_t)n >= cap - off)
		goto toolong;
	if ((size_t)n > plen)
		n = (int)plen;	/* tiny prompt: cut the number short */
	for (i = (size_t)n; i < plen; i++)
		p[i] = filler[i % (sizeof(filler) - 1)];
	off += plen;
	n = snprintf(b + off, cap - off, "\"%s}", opt.chat ? "}]" : "");
	if (n < 0 || (size_t)n >= cap - off)
		goto toolong;
	return b;
toolong:
	/* cap leaves 256 bytes for the fixed parts, so this cannot happen */
	fputs("Error: request body overflow\n", stderr);
	exit(1);
}

/*
 * Does an SSE data payload carry generated text?  Completions put it in
 * "text", chat in "delta":{"content"}; a role-only first chat chunk or a
 * trailing usage chunk must not count as a token.
 */
static bool carries_token(const char *d, size_t n, bool truncated)
{
	static const char *const keys[] = { "\"text\":\"", "\"content\":\"" };
	unsigned k;

	for (k = 0; k < 2; k++) {
		const char *p = memmem(d, n, keys[k], strlen(keys[k]));

		if (p) {
			p += strlen(keys[k]);
			if (p < d + n && *p != '"')
				return true;
			if (p >= d + n)
				return truncated;
		}
	}
	/* a line too long for the buffer is generated text in practice */
	return truncated && n && d[0] == '{' && !memmem(d, n, "\"error\"", 7);
}

static void sse_line(struct req *r)
{
	const char *d = r->line;
	size_t n = r->llen;

	if (n && d[n - 1] == '\r')
		n--;
	if (n < 5 || memcmp(d, "data:", 5))
		return;	/* event:, id:, comments and blank lines */
	d += 5;
	n -= 5;
	if (n && *d == ' ')
		d++, n--;
	if (n == 6 && !memcmp(d, "[DONE]", 6)) {
		r->done_seen = true;
		return;
	}
	if (carries_token(d, n, r->ltrunc)) {
		uint64_t t = now_ns();

		if (!r->tokens)
			r->t_first = t;
		r->t_last = t;
		r->tokens++;
	}
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct req *r = arg;
	size_t len = size * nmemb, i;

	r->got_bytes = true;
	for (i = 0; i < len; i++) {
		char ch = ptr[i];

		if (ch == '\n') {
			sse_line(r);
			r->llen = 0;
			r->ltrunc = false;
		} else if (r->llen < sizeof(r->line)) {
			r->line[r->llen++] = ch;
		} else {
			r->ltrunc = true;
		}
	}
	return len;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct req *r = arg;
	size_t len = size * nmemb, n;
	const char *v;

	r->got_bytes = true;
	if (len > 10 && !strncasecmp(ptr, "X-Backend:", 10)) {
		v = ptr + 10;
		n = len - 10;
		while (n && (*v == ' ' || *v == '\t'))
			v++, n--;
		while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' ||
			     v[n - 1] == ' ' || v[n - 1] == '\t'))
			n--;
		if (n >= sizeof(r->backend))
			n = sizeof(r->backend) - 1;
		memcpy(r->backend, v, n);
		r->backend[n] = '\0';
	}
	return len;
}

static void start_request(CURLM *m, struct rng *sizes)
{
	unsigned ptok = draw_tokens(sizes, opt.prompt_mean, opt.prompt_max);
	unsigned otok = draw_tokens(sizes, opt.out_mean, opt.out_max);
	struct req *r = calloc(1, sizeof(*r));
	CURL *h;

	if (!r)
		oom();
	r->want = otok;
	r->body = make_body(res.started, ptok, otok);
	h = r->h = curl_easy_init();
	if (!h)
		oom();
	curl_easy_setopt(h, CURLOPT_URL, opt.url);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_PRIVATE, r);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(opt.timeout * 1000));
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(opt.connect_timeout * 1000));
	if (opt.new_conn) {
		curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
		curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
	}
	r->t_start = now_ns();
	if (curl_multi_add_handle(m, h) != CURLM_OK) {
		fputs("Error: curl_multi_add_handle failed\n", stderr);
		exit(1);
	}
	r->next = active;
	if (active)
		active->prev = r;
	active = r;
	res.started++;
	inflight++;
}

static void count_backend(const char *name, bool ok)
{
	unsigned i;

	for (i = 0; i < res.nbe; i++)
		if (!strcmp(res.be[i].name, name))
			break;
	if (i == res.nbe) {
		if (res.nbe == MAX_BACKENDS) {
			res.be_other++;
			return;
		}
		strcpy(res.be[res.nbe++].name, name);
	}
	res.be[i].n++;
	res.be[i].ok += ok;
}

static void count_status(long code)
{
	unsigned i;

	for (i = 0; i < res.nst && res.st[i].code != code; i++)
		;
	if (i == MAX_STATUSES)
		return;	/* the outcome count still has it */
	if (i == res.nst)
		res.st[res.nst++].code = code;
	res.st[i].n++;
}

static enum outcome classify(struct req *r, CURLcode rc, long status)
{
	switch (rc) {
	case CURLE_OK:
		if (status != 200)
			return OC_HTTP;
		return r->done_seen ? OC_OK : OC_BROKEN;
	case CURLE_OPERATION_TIMEDOUT:
		return OC_TIMEOUT;
	case CURLE_COULDNT_CONNECT:
		return OC_REFUSED;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
		/*
		 * Reset or closed before a single response byte: what a client
		 * sees when a balancer or backend refuses the connection after
		 * accepting it.  Once a response started, it is a broken stream.
		 */
		if (!r->got_bytes)
			return OC_REFUSED;
		return status == 200 || status == 0 ? OC_BROKEN : OC_HTTP;
	case CURLE_PARTIAL_FILE:
		return status == 200 ? OC_BROKEN : OC_HTTP;
	default:
		return OC_OTHER;
	}
}

static void finish(CURLM *m, struct req *r, CURLcode rc, bool cancelled)
{
	uint64_t t_end = now_ns();
	long status = 0;
	enum outcome oc;

	curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &status);
	oc = cancelled ? OC_CANCELLED : classify(r, rc, status);
	res.oc[oc]++;
	if (oc == OC_REFUSED && rc == CURLE_COULDNT_CONNECT)
		res.refused_connect++;
	res.completed++;
	if (oc == OC_HTTP)
		count_status(status);
	if (r->backend[0])
		count_backend(r->backend, oc == OC_OK);
	if (oc == OC_OK) {
		res.tokens_ok += r->tokens;
		res.want_ok += r->want;
		res.short_ok += r->tokens < r->want;
		samples_add(&res.lat, (double)(t_end - r->t_start) / 1e6);
		if (r->tokens)
			samples_add(&res.ttft, (double)(r->t_first - r->t_start) / 1e6);
		if (r->tokens >= 2 && r->t_last > r->t_first)
			samples_add(&res.tps, (r->tokens - 1) * 1e9 /
				    (double)(r->t_last - r->t_first));
	}
	if (r->prev)
		r->prev->next = r->next;
	else
		active = r->next;
	if (r->next)
		r->next->prev = r->prev;
	curl_multi_remove_handle(m, r->h);
	curl_easy_cleanup(r->h);
	free(r->body);
	free(r);
	inflight--;
}

static void reap(CURLM *m)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(m, &left))) {
		struct req *r;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		finish(m, r, msg->data.result, false);
	}
}

/* ---- reporting ---- */

static void progress_line(double t, size_t *ttft_mark)
{
	size_t n = res.ttft.n - *ttft_mark;
	char p50[32] = "-";
	unsigned long errs = res.completed - res.oc[OC_OK];

	/* p50 over the requests that finished since the last line */
	if (n) {
		double *v = malloc(n * sizeof(*v));

		if (!v)
			oom();
		memcpy(v, res.ttft.v + *ttft_mark, n * sizeof(*v));
		qsort(v, n, sizeof(*v), cmp_double);
		if (snprintf(p50, sizeof(p50), "%.1fms", pct(v, n, 50)) >= (int)sizeof(p50))
			strcpy(p50, "?");
		free(v);
	}
	*ttft_mark = res.ttft.n;
	fprintf(stderr, "[%6.1fs] done %lu inflight %u ok %lu errors %lu dropped %lu p50_ttft %s\n",
		t, res.completed, inflight, res.oc[OC_OK], errs, res.dropped, p50);
}

struct summary {
	size_t n;
	double mean, min, max, p[4];
};
static const double pcts[4] = { 50, 90, 99, 99.9 };
static const char *const pct_names[4] = { "p50", "p90", "p99", "p99.9" };

static struct summary summarize(struct samples *s)
{
	struct summary r = { .n = s->n };
	double sum = 0;
	size_t i;

	if (!s->n)
		return r;
	qsort(s->v, s->n, sizeof(*s->v), cmp_double);
	for (i = 0; i < s->n; i++)
		sum += s->v[i];
	r.mean = sum / (double)s->n;
	r.min = s->v[0];
	r.max = s->v[s->n - 1];
	for (i = 0; i < 4; i++)
		r.p[i] = pct(s->v, s->n, pcts[i]);
	return r;
}

/* JSON string with the escapes the grammar requires. */
static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void json_summary(const char *name, const struct summary *s, bool last)
{
	unsigned i;

	printf("\"%s\":{\"n\":%zu", name, s->n);
	if (s->n) {
		printf(",\"mean\":%.3f,\"min\":%.3f", s->mean, s->min);
		for (i = 0; i < 4; i++)
			printf(",\"%s\":%.3f", pct_names[i], s->p[i]);
		printf(",\"max\":%.3f}", s->max);
	} else {
		printf(",\"mean\":null,\"min\":null");
		for (i = 0; i < 4; i++)
			printf(",\"%s\":null", pct_names[i]);
		printf(",\"max\":null}");
	}
	if (!last)
		putchar(',');
}

static void report_json(double wall, const struct summary *sm)
{
	unsigned i;

	printf("{\"url\":");
	json_str(opt.url);
	printf(",\"endpoint\":\"%s\",\"mode\":\"%s\"", opt.chat ? "chat" : "completions",
	       opt.rate > 0 ? "open" : "closed");
	if (opt.rate > 0)
		printf(",\"rate\":%g,\"arrivals\":\"%s\",\"concurrency\":null", opt.rate,
		       opt.poisson ? "poisson" : "fixed");
	else
		printf(",\"rate\":null,\"arrivals\":null,\"concurrency\":%u", opt.concurrency);
	printf(",\"new_conn\":%s,\"seed\":%llu,\"dist\":\"%s\",\"max_inflight\":%u",
	       opt.new_conn ? "true" : "false", (unsigned long long)opt.seed,
	       dist_names[opt.dist], opt.max_inflight);
	printf(",\"wall_s\":%.3f,\"arrivals_total\":%lu,\"requests\":%lu,\"completed\":%lu,"
	       "\"dropped\":%lu,\"requests_per_s\":%.3f",
	       wall, res.arrivals, res.started, res.completed, res.dropped,
	       wall > 0 ? (double)res.completed / wall : 0.0);
	printf(",\"outcomes\":{");
	for (i = 0; i < OC_NR; i++)
		printf("%s\"%s\":%lu", i ? "," : "", oc_names[i], res.oc[i]);
	printf("},\"refused_at_connect\":%lu", res.refused_connect);
	printf(",\"http_status\":{");
	for (i = 0; i < res.nst; i++)
		printf("%s\"%ld\":%lu", i ? "," : "", res.st[i].code, res.st[i].n);
	printf("},\"backends\":{");
	for (i = 0; i < res.nbe; i++) {
		if (i)
			putchar(',');
		json_str(res.be[i].name);
		printf(":{\"requests\":%lu,\"ok\":%lu}", res.be[i].n, res.be[i].ok);
	}
	printf("},\"backends_untracked\":%lu", res.be_other);
	printf(",\"output_tokens\":%lu,\"requested_tokens\":%lu,\"short_outputs\":%lu,"
	       "\"output_tokens_per_s\":%.3f,",
	       res.tokens_ok, res.want_ok, res.short_ok,
	       wall > 0 ? (double)res.tokens_ok / wall : 0.0);
	json_summary("ttft_ms", &sm[0], false);
	json_summary("latency_ms", &sm[1], false);
	json_summary("tokens_per_s", &sm[2], true);
	printf("}\n");
}

static void report_text(double wall, const struct summary *sm)
{
	static const char *const rows[3] = { "ttft_ms", "latency_ms", "tokens_per_s" };
	unsigned i, j;

	if (opt.rate > 0)
		printf("open loop, %s arrivals at %g req/s", opt.poisson ? "poisson" : "fixed",
		       opt.rate);
	else
		printf("closed loop, concurrency %u", opt.concurrency);
	printf(", %s connections, %s\n", opt.new_conn ? "new" : "reused", opt.url);
	printf("%lu requests in %.2f s (%.1f req/s), %lu dropped by loadgen\n",
	       res.started, wall, wall > 0 ? (double)res.completed / wall : 0.0,
	       res.dropped);
	printf("outcomes:");
	for (i = 0; i < OC_NR; i++)
		printf(" %s %lu", oc_names[i], res.oc[i]);
	printf(" (refused at connect %lu)\n", res.refused_connect);
	if (res.nst) {
		printf("http errors:");
		for (i = 0; i < res.nst; i++)
			printf(" %ld x%lu", res.st[i].code, res.st[i].n);
		putchar('\n');
	}
	printf("backends:");
	if (!res.nbe)
		printf(" (no X-Backend header)");
	for (i = 0; i < res.nbe; i++)
		printf(" %s %lu (ok %lu)", res.be[i].name, res.be[i].n, res.be[i].ok);
	if (res.be_other)
		printf(" untracked %lu", res.be_other);
	putchar('\n');
	printf("output tokens: %lu of %lu requested (%lu short), %.1f tok/s overall\n\n",
	       res.tokens_ok, res.want_ok, res.short_ok,
	       wall > 0 ? (double)res.tokens_ok / wall : 0.0);
	printf("%-12s %8s %10s %10s", "", "n", "mean", "min");
	for (j = 0; j < 4; j++)
		printf(" %10s", pct_names[j]);
	printf(" %10s\n", "max");
	for (i = 0; i < 3; i++) {
		printf("%-12s %8zu", rows[i], sm[i].n);
		if (!sm[i].n) {
			for (j = 0; j < 7; j++)
				printf(" %10s", "-");
		} else {
			printf(" %10.2f %10.2f", sm[i].mean, sm[i].min);
			for (j = 0; j < 4; j++)
				printf(" %10.2f", sm[i].p[j]);
			printf(" %10.2f", sm[i].max);
		}
		putchar('\n');
	}
}

/* ---- main loop ---- */

static void on_signal(int sig)
{
	stop_sig = sig;
}

/* Room for every in-flight socket plus stdio and curl's own. */
static void raise_nofile(void)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)opt.max_inflight + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur < want)
		fprintf(stderr, "loadgen: warning: open-file limit %llu is below --max-inflight + 64\n",
			(unsigned long long)rl.rlim_cur);
}

int main(int argc, char **argv)
{
	struct rng sizes, gaps;
	struct sigaction sa = { .sa_handler = on_signal };
	struct summary sm[3];
	uint64_t t0, end_ns, next_arr, next_prog, now;
	size_t ttft_mark = 0;
	bool open_loop, arriving = true;
	double wall;
	CURLM *m;

	parse_args(argc, argv);
	open_loop = opt.rate > 0;
	sizes.s = opt.seed;
	gaps.s = opt.seed ^ 0x5851f42d4c957f2dull;
	raise_nofile();
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		fputs("Error: curl_global_init failed\n", stderr);
		return 1;
	}
	m = curl_multi_init();
	hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	if (hdrs)
		hdrs = curl_slist_append(hdrs, "Accept: text/event-stream");
	/* no 100-continue round trip: it would add a RTT to TTFT */
	if (hdrs)
		hdrs = curl_slist_append(hdrs, "Expect:");
	if (!m || !hdrs) {
		fputs("Error: libcurl setup failed\n", stderr);
		return 1;
	}
	/* keep as many idle connections as can be busy, so --reuse reuses */
	curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)opt.max_inflight);

	t0 = now_ns();
	end_ns = opt.duration > 0 ? t0 + (uint64_t)(opt.duration * 1e9) : UINT64_MAX;
	next_arr = t0;
	next_prog = t0 + 1000000000ull;
	for (;;) {
		int running, numfds;
		long wait_ms = 100;

		now = now_ns();
		/*
		 * Open loop ends with the last arrival scheduled before the end,
		 * even if we get to it a little late; closed loop at the end.
		 */
		if (stop_sig || (open_loop ? next_arr >= end_ns : now >= end_ns) ||
		    (opt.requests && res.arrivals >= opt.requests))
			arriving = false;
		if (arriving && open_loop) {
			/* every arrival that is due, late ones included */
			while (next_arr <= now && next_arr < end_ns &&
			       !(opt.requests && res.arrivals >= opt.requests)) {
				double gap = opt.poisson ? -log(rng_unit(&gaps)) / opt.rate
							 : 1.0 / opt.rate;

				res.arrivals++;
				if (inflight >= opt.max_inflight)
					res.dropped++;
				else
					start_request(m, &sizes);
				next_arr += (uint64_t)(gap * 1e9);
			}
		} else if (arriving) {
			while (inflight < opt.concurrency &&
			       !(opt.requests && res.arrivals >= opt.requests)) {
				res.arrivals++;
				start_request(m, &sizes);
			}
		}
		/* interrupted: report what we have instead of waiting */
		while (stop_sig && active)
			finish(m, active, CURLE_OK, true);
		if (!arriving && !inflight)
			break;
		curl_multi_perform(m, &running);
		reap(m);
		now = now_ns();
		if (opt.progress && now >= next_prog) {
			progress_line((double)(now - t0) / 1e9, &ttft_mark);
			next_prog += 1000000000ull;
		}
		/* an arrival that fell due while curl worked must not wait */
		if (arriving && open_loop && next_arr <= now)
			wait_ms = 0;
		else if (arriving && open_loop &&
			 (long)((next_arr - now) / 1000000) < wait_ms)
			wait_ms = (long)((next_arr - now) / 1000000);
		if (opt.progress && next_prog > now &&
		    (long)((next_prog - now) / 1000000) < wait_ms)
			wait_ms = (long)((next_prog - now) / 1000000);
		/* a closed-loop slot just freed up: refill it at once */
		if (arriving && !open_loop && inflight < opt.concurrency)
			wait_ms = 0;
		curl_multi_poll(m, NULL, 0, (int)wait_ms, &numfds);
	}
	wall = (double)(now_ns() - t0) / 1e9;
	if (opt.progress)
		progress_line(wall, &ttft_mark);

	sm[0] = summarize(&res.ttft);
	sm[1] = summarize(&res.lat);
	sm[2] = summarize(&res.tps);
	if (opt.json)
		report_json(wall, sm);
	else
		report_text(wall, sm);

	curl_multi_cleanup(m);
	curl_slist_free_all(hdrs);
	curl_global_cleanup();
	free(res.ttft.v);
	free(res.lat.v);
	free(res.tps.v);
	return 0;
}
