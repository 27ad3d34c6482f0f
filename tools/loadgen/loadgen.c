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
 * - Scoring counts every arrival, so a target cannot look better by losing
 *   requests: goodput is good (ok within --slo-ms) / arrivals, and the
 *   all-arrivals TTFT percentiles rank every request that is not ok (dropped
 *   and cancelled included) as infinite.  Infinite samples are only counted,
 *   never stored: ranks past the finite ones are infinite, so the finite
 *   TTFTs plus a count per phase give the exact percentiles.  An arrival's
 *   phase is fixed from its scheduled time when it arrives.
 * - Trace replay reads the whole file before the first request, so a bad
 *   row is an error up front and not halfway through a run; only the
 *   window being replayed is kept.
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
#define MAX_PHASES	16		/* --phase options */
#define PHASE_NAME_MAX	32		/* bytes of a phase name */
#define MAX_TRACE_ROWS	10000000ul	/* data rows a trace file may have */
#define TRACE_LINE_MAX	256		/* bytes of a trace row */
#define TRACE_COUNT_MAX	1000000000ul	/* a token count in a trace row */
#define NPCT		5		/* ok-only percentiles */
#define NPCT_ALL	4		/* all-arrivals percentiles: the first four */

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
	double slo_ms;			/* TTFT objective of a good request */
	struct {
		char name[PHASE_NAME_MAX + 1];
		double start;		/* s since the run's start, as given */
		uint64_t start_ns;
	} phase[MAX_PHASES];
	unsigned nphase;
	const char *trace;		/* --trace FILE; NULL: synthetic load */
	double trace_start;		/* s into the trace */
	double trace_rate;		/* req/s, 0 = the trace's own mean rate */
	double tokens_scale;
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
	.slo_ms = 1000,
	.tokens_scale = 1,
};

struct req {
	struct req *next, *prev;	/* in flight, for cancelling */
	CURL *h;
	char *body;
	uint64_t t_start, t_first, t_last;	/* ns */
	unsigned want;			/* max_tokens asked for */
	unsigned phase;			/* of its arrival, index into opt.phase */
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

/*
 * What goodput and the all-arrivals percentiles need, for the run or one
 * phase: arrivals not in ttft (not ok, or ok without a token) are infinite.
 */
struct score {
	unsigned long arrivals, ok, good, dropped;
	struct samples ttft;		/* ms, ok requests that got a token */
};

/* One request of the trace window. */
struct trow {
	double t;			/* trace s since the window's first row */
	unsigned ctx, gen;		/* tokens, after --tokens-scale */
};

/*
 * The trace being replayed.  Data: the Azure LLM inference trace 2023
 * format (Azure Public Dataset), CC-BY 4.0; attribution: Patel et al.,
 * "Splitwise: Efficient generative LLM inference using phase splitting",
 * ISCA 2024.
 */
static struct {
	struct trow *row;		/* rows at or after first + --trace-start */
	size_t nrow, cap;
	unsigned long rows;		/* data rows in the file */
	size_t wanted, used;		/* asked for; replayed (row[0..used)) */
	size_t next;			/* the next row to arrive */
	bool ended;			/* the file ended before `wanted` */
	double rate;			/* replay req/s */
	double scale;			/* replay s per trace s */
	double ctx_mean, gen_mean;	/* over the used rows */
} trace;

static struct {
	unsigned long started, arrivals, dropped, completed;
	unsigned long oc[OC_NR];
	/* of oc[OC_REFUSED]: the connection itself refused (the SYN got a
	 * RST), as opposed to reset after it was accepted */
	unsigned long refused_connect;
	unsigned long tokens_ok, want_ok, short_ok;
	unsigned long good;		/* ok with TTFT <= --slo-ms */
	struct score ph[MAX_PHASES];	/* per --phase; ttft only with phases */
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

/*
 * Nearest rank (0-based) of percentile @p among @n samples.  p * n / 100
 * rather than p / 100 * n: 95 * 20 / 100 is exactly 19, 0.95 * 20 need not be.
 */
static size_t rank(double p, size_t n)
{
	size_t k = (size_t)ceil(p * (double)n / 100.0);

	return k ? k - 1 : 0;
}

/* Nearest-rank percentile of sorted @v[0..n). */
static double pct(const double *v, size_t n, double p)
{
	return v[rank(p, n)];
}

/*
 * Nearest-rank percentile over all arrivals of @s (at least one), its sorted
 * finite TTFTs first and every other arrival infinite after them.
 */
static double pct_all(const struct score *s, double p)
{
	size_t k = rank(p, s->arrivals);

	return k < s->ttft.n ? s->ttft.v[k] : INFINITY;
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

/* NAME@SECONDS: a phase from SECONDS on, after the ones given before it. */
static void parse_phase(const char *s)
{
	static const char name_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					 "abcdefghijklmnopqrstuvwxyz0123456789_-";
	const char *at = strchr(s, '@');
	size_t n = at ? (size_t)(at - s) : 0;
	unsigned i = opt.nphase;

	if (!n || n > PHASE_NAME_MAX || strspn(s, name_chars) != n)
		bad_arg("--phase must be NAME@SECONDS, NAME 1..%d of [A-Za-z0-9_-], not '%s'",
			PHASE_NAME_MAX, s);
	if (i == MAX_PHASES)
		bad_arg("at most %d --phase options", MAX_PHASES);
	memcpy(opt.phase[i].name, s, n);
	opt.phase[i].name[n] = '\0';
	opt.phase[i].start = parse_double(at + 1, "--phase SECONDS", 0, 1e6);
	opt.phase[i].start_ns = (uint64_t)llround(opt.phase[i].start * 1e9);
	/* every arrival then has a phase */
	if (!i && opt.phase[i].start_ns)
		bad_arg("the first --phase must start at 0, not '%s'", s);
	if (i && opt.phase[i].start_ns <= opt.phase[i - 1].start_ns)
		bad_arg("--phase '%s' must start after '%s@%g'", s, opt.phase[i - 1].name,
			opt.phase[i - 1].start);
	while (i--)
		if (!strcmp(opt.phase[i].name, opt.phase[opt.nphase].name))
			bad_arg("--phase name '%s' given twice", opt.phase[i].name);
	opt.nphase++;
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
		"Trace replay (open loop at the arrival times and lengths of a recorded trace):\n"
		"  --trace FILE            CSV in the format of the Azure LLM inference trace 2023:\n"
		"                          header TIMESTAMP,ContextTokens,GeneratedTokens, rows in\n"
		"                          time order, TIMESTAMP YYYY-MM-DD HH:MM:SS[.fffffff] or a\n"
		"                          number of seconds; prompt = ContextTokens tokens,\n"
		"                          max_tokens = GeneratedTokens.  Excludes --rate,\n"
		"                          --concurrency, --arrivals, --dist, --prompt-tokens,\n"
		"                          --output-tokens and --sigma\n"
		"  --trace-start S         replay from S s after the trace's first row (default 0)\n"
		"  --trace-rate R          replay R requests/s (0.001..1000000; default the mean\n"
		"                          rate of the whole file: (rows - 1) / (last - first))\n"
		"  --tokens-scale F        token counts become max(1, round(count * F)), at most\n"
		"                          100000 (0 < F <= 100, default 1)\n"
		"The replay takes n = round(R * D) requests for --duration D (without --duration,\n"
		"--requests n) and scales their trace times by one factor, the time scale (replay\n"
		"seconds per trace second), so n arrive in D seconds: rate R, burstiness kept.  If\n"
		"the file ends first, the requests left arrive at rate R (a shorter run; a note on\n"
		"stderr, \"file_ended\" in JSON).  Bad input is 'Error: FILE:LINE: ...', exit 2,\n"
		"before any request.  Trace data: Azure Public Dataset, CC-BY 4.0; Patel et al.,\n"
		"\"Splitwise: Efficient generative LLM inference using phase splitting\", ISCA 2024.\n\n"
		"Scoring:\n"
		"  --slo-ms MS             TTFT objective (1..3600000, default 1000): a request is good\n"
		"                          when it is ok and its first token came within MS\n"
		"  --phase NAME@S          report arrivals from S seconds on (since the start; with\n"
		"                          --trace, replay seconds) as phase NAME, until the next\n"
		"                          --phase; repeatable up to 16 times, the first at 0, starts\n"
		"                          increasing, NAME 1..32 of [A-Za-z0-9_-].  An arrival\n"
		"                          belongs to the phase of its scheduled time\n\n"
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
		"cancelled (in flight at SIGINT/SIGTERM).  ttft_ms, latency_ms and tokens_per_s\n"
		"cover ok requests.  Goodput (good / arrivals) and ttft_all_ms cover every arrival:\n"
		"started ones and those dropped for --max-inflight; in ttft_all_ms each that is not\n"
		"ok, or ok without a token, counts as infinite (\"inf\").\n"
		"refused_at_connect counts the refused whose connection itself was refused.\n"
		"Exit status: 0 run completed (whatever the request outcomes), 1 setup failure,\n"
		"2 bad arguments.\n");
}

static void parse_args(int argc, char **argv)
{
	enum { O_RATE = 256, O_ARR, O_DUR, O_REQ, O_MAXIF, O_URL, O_CHAT,
	       O_MODEL, O_PT, O_OT, O_DIST, O_SIGMA, O_SEED, O_REUSE, O_NEW,
	       O_TMO, O_CTMO, O_JSON, O_PROG, O_CONC, O_SLO, O_PHASE, O_TRACE,
	       O_TSTART, O_TRATE, O_TSCALE };
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
		{ "slo-ms", required_argument, NULL, O_SLO },
		{ "phase", required_argument, NULL, O_PHASE },
		{ "trace", required_argument, NULL, O_TRACE },
		{ "trace-start", required_argument, NULL, O_TSTART },
		{ "trace-rate", required_argument, NULL, O_TRATE },
		{ "tokens-scale", required_argument, NULL, O_TSCALE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool have_conc = false, have_rate = false, have_dur = false;
	const char *synth = NULL;	/* a synthetic-load option given */
	const char *trace_opt = NULL;	/* a trace-only option given */
	unsigned i;
	int c, li;

	opterr = 0;	/* our own one-line message instead of getopt's */
	while ((c = getopt_long(argc, argv, ":h", lo, &li)) != -1) {
		/* what --trace replaces, and what only means something with it */
		if (c == O_CONC || c == O_RATE || c == O_ARR || c == O_DIST ||
		    c == O_PT || c == O_OT || c == O_SIGMA)
			synth = lo[li].name;
		if (c == O_TSTART || c == O_TRATE || c == O_TSCALE)
			trace_opt = lo[li].name;
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
		case O_SLO:
			opt.slo_ms = parse_double(optarg, "--slo-ms", 1, 3600000);
			break;
		case O_PHASE:
			parse_phase(optarg);
			break;
		case O_TRACE:
			if (!*optarg)
				bad_arg("--trace needs a file name");
			opt.trace = optarg;
			break;
		case O_TSTART:
			opt.trace_start = parse_double(optarg, "--trace-start", 0, 1e9);
			break;
		case O_TRATE:
			opt.trace_rate = parse_double(optarg, "--trace-rate", 0.001, 1e6);
			break;
		case O_TSCALE:
			opt.tokens_scale = parse_double(optarg, "--tokens-scale", 0, 100);
			if (opt.tokens_scale <= 0)
				bad_arg("--tokens-scale must be above 0, not '%s'", optarg);
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
	if (opt.trace && synth)
		bad_arg("--trace and --%s exclude each other (the trace sets arrivals and lengths)",
			synth);
	if (!opt.trace && trace_opt)
		bad_arg("--%s needs --trace", trace_opt);
	if (have_conc && have_rate)
		bad_arg("--concurrency (closed loop) and --rate (open loop) exclude each other");
	if (!have_rate && !have_conc && !opt.trace)
		opt.concurrency = 1;
	if (opt.concurrency > opt.max_inflight)
		bad_arg("--concurrency %u exceeds --max-inflight %u",
			opt.concurrency, opt.max_inflight);
	if (!have_dur && !opt.requests)
		opt.duration = 10;
}

/* ---- trace ---- */

static void __attribute__((noreturn, format(printf, 2, 3)))
trace_fail(unsigned long line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "Error: %s:", opt.trace);
	if (line)
		fprintf(stderr, "%lu:", line);
	fputc(' ', stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/*
 * A trace time as whole seconds and the fraction apart: a date's seven
 * fractional digits would not survive as one double since 1970.
 */
struct stamp {
	long long sec;
	double frac;
	bool date;		/* YYYY-MM-DD..., else a number of seconds */
};

/* Exactly @n digits at @p into *@v; the end, or NULL. */
static const char *get_digits(const char *p, unsigned n, long *v)
{
	long x = 0;

	for (; n; n--, p++) {
		if (*p < '0' || *p > '9')
			return NULL;
		x = x * 10 + (*p - '0');
	}
	*v = x;
	return p;
}

/* Nothing, or '.' and 1..9 digits; the end, or NULL. */
static const char *get_frac(const char *p, double *frac)
{
	long x = 0;
	unsigned n = 0;

	*frac = 0;
	if (*p != '.')
		return p;
	for (p++; *p >= '0' && *p <= '9'; p++, n++)
		if (n < 9)
			x = x * 10 + (*p - '0');
	if (!n || n > 9)
		return NULL;
	*frac = (double)x / pow(10, n);
	return p;
}

static bool leap_year(long y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 0001-01-01 (proleptic Gregorian); only differences are used. */
static long long day_number(long y, long m, long d)
{
	static const unsigned short before[12] = {
		0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334,
	};
	long long py = y - 1;

	return py * 365 + py / 4 - py / 100 + py / 400 + before[m - 1] +
	       (m > 2 && leap_year(y)) + d - 1;
}

/* YYYY-MM-DD HH:MM:SS[.f] (or with a T), as in the Azure trace. */
static bool parse_date(const char *p, struct stamp *st)
{
	static const unsigned char mdays[12] = {
		31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};
	long y, mo, d, h, mi, sec;

	if (!(p = get_digits(p, 4, &y)) || *p++ != '-' ||
	    !(p = get_digits(p, 2, &mo)) || *p++ != '-' ||
	    !(p = get_digits(p, 2, &d)) || (*p != ' ' && *p != 'T') ||
	    !(p = get_digits(p + 1, 2, &h)) || *p++ != ':' ||
	    !(p = get_digits(p, 2, &mi)) || *p++ != ':' ||
	    !(p = get_digits(p, 2, &sec)) || !(p = get_frac(p, &st->frac)) || *p)
		return false;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && !leap_year(y)) || h > 23 || mi > 59 || sec > 59)
		return false;
	st->sec = day_number(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	st->date = true;
	return true;
}

/* Seconds: digits (at most 15, so no overflow) and an optional fraction. */
static bool parse_secs(const char *p, struct stamp *st)
{
	long long v = 0;
	unsigned n = 0;

	for (; *p >= '0' && *p <= '9'; p++, n++) {
		if (n == 15)
			return false;
		v = v * 10 + (*p - '0');
	}
	if (!n || !(p = get_frac(p, &st->frac)) || *p)
		return false;
	st->sec = v;
	st->date = false;
	return true;
}

static unsigned long trace_count(const char *s, const char *col, unsigned long line)
{
	size_t n = strspn(s, "0123456789");

	if (s[0] == '-' && s[1] && strspn(s + 1, "0123456789") == strlen(s + 1))
		trace_fail(line, "%s '%.40s' is negative", col, s);
	if (!n || s[n] || n > 10 || strtoul(s, NULL, 10) > TRACE_COUNT_MAX)
		trace_fail(line, "%s '%.40s' is not a token count (0..%lu)", col, s,
			   TRACE_COUNT_MAX);
	return strtoul(s, NULL, 10);
}

/* max(1, round(count * F)), at most MAX_TOKENS */
static unsigned scale_tokens(unsigned long count)
{
	double x = round((double)count * opt.tokens_scale);

	return x < 1 ? 1 : x > MAX_TOKENS ? MAX_TOKENS : (unsigned)x;
}

/* TIMESTAMP,ContextTokens,GeneratedTokens; @s is cut up in place. */
static void trace_row(char *s, unsigned long line, struct stamp *st,
		      unsigned long *ctx, unsigned long *gen)
{
	char *c1 = strchr(s, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;

	if (!c2 || strchr(c2 + 1, ','))
		trace_fail(line, "not 3 comma-separated fields (TIMESTAMP,ContextTokens,GeneratedTokens)");
	*c1 = *c2 = '\0';
	if (!parse_date(s, st) && !parse_secs(s, st))
		trace_fail(line, "TIMESTAMP '%.40s' is neither YYYY-MM-DD HH:MM:SS[.fffffff] "
			   "nor a number of seconds", s);
	*ctx = trace_count(c1 + 1, "ContextTokens", line);
	*gen = trace_count(c2 + 1, "GeneratedTokens", line);
}

static void trace_keep(double t, unsigned long ctx, unsigned long gen)
{
	if (trace.nrow == trace.cap) {
		size_t cap = trace.cap ? trace.cap * 2 : 1024;
		struct trow *p = realloc(trace.row, cap * sizeof(*p));

		if (!p)
			oom();
		trace.row = p;
		trace.cap = cap;
	}
	trace.row[trace.nrow++] = (struct trow){ .t = t, .ctx = scale_tokens(ctx),
						 .gen = scale_tokens(gen) };
}

/*
 * Requests to replay at @rate: rate x --duration, or --requests without
 * --duration.
 */
static size_t trace_wanted(double rate)
{
	return opt.duration > 0 ? (size_t)llround(rate * opt.duration) : opt.requests;
}

/*
 * Reads the file: every row is checked; the rows at or after first +
 * --trace-start are kept (with the rate known up front, only as many as
 * the replay can use).  Returns the time of the last row and its line.
 */
static double trace_read(unsigned long *nlines)
{
	char buf[TRACE_LINE_MAX + 2];
	size_t keep = opt.trace_rate > 0 || !opt.duration ? trace_wanted(opt.trace_rate) + 1
							   : SIZE_MAX;
	unsigned long line = 0, ctx, gen;
	struct stamp st, first = { 0 };
	double t, prev = 0, w0 = 0;
	FILE *f = fopen(opt.trace, "r");

	if (!f)
		trace_fail(0, "%s", strerror(errno));
	while (fgets(buf, sizeof(buf), f)) {
		size_t len = strlen(buf);

		line++;
		if (len && buf[len - 1] == '\n')
			buf[--len] = '\0';
		else if (!feof(f))
			trace_fail(line, "line longer than %d bytes (or with a NUL byte)",
				   TRACE_LINE_MAX);
		if (len && buf[len - 1] == '\r')
			buf[--len] = '\0';
		if (line == 1) {
			const char *h = strncmp(buf, "\xef\xbb\xbf", 3) ? buf : buf + 3;

			if (strcasecmp(h, "TIMESTAMP,ContextTokens,GeneratedTokens"))
				trace_fail(line, "header is not TIMESTAMP,ContextTokens,GeneratedTokens");
			continue;
		}
		if (!len)
			continue;	/* a blank line, e.g. at the end */
		trace_row(buf, line, &st, &ctx, &gen);
		if (!trace.rows)
			first = st;
		else if (st.date != first.date)
			trace_fail(line, "TIMESTAMP is %s but the first row's is %s",
				   st.date ? "a date" : "seconds", first.date ? "a date" : "seconds");
		t = (double)(st.sec - first.sec) + (st.frac - first.frac);
		if (trace.rows && t < prev)
			trace_fail(line, "goes back in time: %.7f s after the first row, "
				   "the row before is at %.7f s", t, prev);
		if (++trace.rows > MAX_TRACE_ROWS)
			trace_fail(line, "more than %lu rows", MAX_TRACE_ROWS);
		prev = t;
		if (t < opt.trace_start)
			continue;
		if (!trace.nrow)
			w0 = t;
		if (trace.nrow < keep)
			trace_keep(t - w0, ctx, gen);
	}
	if (ferror(f))
		trace_fail(0, "read error: %s", strerror(errno));
	fclose(f);
	if (!line)
		trace_fail(0, "empty file, not even the header");
	if (!trace.rows)
		trace_fail(line, "no requests after the header");
	if (!trace.nrow)
		trace_fail(line, "the trace ends %.3f s after its first row, before "
			   "--trace-start %g", prev, opt.trace_start);
	*nlines = line;
	return prev;
}

/*
 * Picks the requests to replay and the time scale.  The n requests are
 * the ones from row[0] to row[n] exclusive, so in trace time they span
 * row[n].t; when the file ends first, the mean gap stands in for the gap
 * after the last one.  One factor maps that span onto the replay time, so
 * n arrive in it at rate n / time with the trace's gaps in proportion.
 */
static void trace_load(void)
{
	unsigned long nlines;
	double span, fill, last = trace_read(&nlines);
	bool short_file;
	size_t n, i;

	trace.rate = opt.trace_rate;
	if (!trace.rate) {
		if (trace.rows < 2 || last <= 0)
			trace_fail(nlines, "the trace spans 0 s, so it has no mean rate; "
				   "give --trace-rate");
		trace.rate = (double)(trace.rows - 1) / last;
	}
	n = trace_wanted(trace.rate);
	if (!n)
		bad_arg("a rate of %g req/s for --duration %g s is under one request",
			trace.rate, opt.duration);
	/* with both --duration and --requests the first limit ends the run */
	trace.wanted = opt.requests && n > opt.requests ? opt.requests : n;
	short_file = trace.nrow < n;
	if (short_file)
		n = trace.nrow;
	fill = opt.duration > 0 && !short_file ? opt.duration : (double)n / trace.rate;
	span = n < trace.nrow ? trace.row[n].t :
	       n >= 2 ? trace.row[n - 1].t * (double)n / (double)(n - 1) : 0;
	/* all at one instant (or a single request): nothing to scale */
	trace.scale = span > 0 ? fill / span : 1;
	trace.used = n < trace.wanted ? n : trace.wanted;
	trace.ended = trace.used < trace.wanted;
	for (i = 0; i < trace.used; i++) {
		trace.ctx_mean += trace.row[i].ctx;
		trace.gen_mean += trace.row[i].gen;
	}
	trace.ctx_mean /= (double)trace.used;
	trace.gen_mean /= (double)trace.used;
	if (trace.ended)
		fprintf(stderr, "loadgen: %s has %zu requests from --trace-start %g s on, not "
			"the %zu asked for: replaying %zu at %g req/s (%.3f s)\n", opt.trace,
			trace.nrow, opt.trace_start, trace.wanted, trace.used, trace.rate,
			(double)trace.used / trace.rate);
}

/* When the next trace request is due (ns since @t0); none left: never. */
static uint64_t trace_due(uint64_t t0)
{
	if (trace.next >= trace.used)
		return UINT64_MAX;
	return t0 + (uint64_t)(trace.scale * trace.row[trace.next].t * 1e9);
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

static void start_request(CURLM *m, unsigned ptok, unsigned otok, unsigned phase)
{
	struct req *r = calloc(1, sizeof(*r));
	CURL *h;

	if (!r)
		oom();
	r->want = otok;
	r->phase = phase;
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

/* The phase an arrival scheduled @t ns after the start belongs to. */
static unsigned phase_of(uint64_t t)
{
	unsigned i = opt.nphase;

	while (i > 1 && t < opt.phase[i - 1].start_ns)
		i--;
	return i ? i - 1 : 0;
}

/*
 * An arrival scheduled @t ns after the start: started, or dropped when
 * --max-inflight are running.  Lengths come from the trace row @tr, else
 * from the PRNG (drawn only for started requests, as before phases).
 */
static void arrive(CURLM *m, struct rng *sizes, uint64_t t, const struct trow *tr)
{
	unsigned ph = phase_of(t), ptok, otok;

	res.arrivals++;
	res.ph[ph].arrivals++;
	if (inflight >= opt.max_inflight) {
		res.dropped++;
		res.ph[ph].dropped++;
		return;
	}
	if (tr) {
		ptok = tr->ctx;
		otok = tr->gen;
	} else {
		ptok = draw_tokens(sizes, opt.prompt_mean, opt.prompt_max);
		otok = draw_tokens(sizes, opt.out_mean, opt.out_max);
	}
	start_request(m, ptok, otok, ph);
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

/* An ok request's first token came @ttft ms after it started. */
static void count_ttft(unsigned phase, double ttft)
{
	bool good = ttft <= opt.slo_ms;

	samples_add(&res.ttft, ttft);
	res.good += good;
	res.ph[phase].good += good;
	if (opt.nphase)
		samples_add(&res.ph[phase].ttft, ttft);
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
		res.ph[r->phase].ok++;
		samples_add(&res.lat, (double)(t_end - r->t_start) / 1e6);
		if (r->tokens)
			count_ttft(r->phase, (double)(r->t_first - r->t_start) / 1e6);
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
	double mean, min, max, p[NPCT];
};
static const double pcts[NPCT] = { 50, 90, 95, 99, 99.9 };
static const char *const pct_names[NPCT] = { "p50", "p90", "p95", "p99", "p99.9" };

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
	for (i = 0; i < NPCT; i++)
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
		for (i = 0; i < NPCT; i++)
			printf(",\"%s\":%.3f", pct_names[i], s->p[i]);
		printf(",\"max\":%.3f}", s->max);
	} else {
		printf(",\"mean\":null,\"min\":null");
		for (i = 0; i < NPCT; i++)
			printf(",\"%s\":null", pct_names[i]);
		printf(",\"max\":null}");
	}
	if (!last)
		putchar(',');
}

/* The run as one score; call after summarize() sorted res.ttft. */
static struct score run_score(void)
{
	return (struct score){ .arrivals = res.arrivals, .ok = res.oc[OC_OK],
			       .good = res.good, .dropped = res.dropped, .ttft = res.ttft };
}

/* A TTFT that may be infinite: then the JSON string "inf". */
static void json_ms(double v)
{
	if (isinf(v))
		printf("\"inf\"");
	else
		printf("%.3f", v);
}

/* good / arrivals, null without arrivals */
static void json_goodput(const struct score *s)
{
	if (s->arrivals)
		printf("%.6f", (double)s->good / (double)s->arrivals);
	else
		printf("null");
}

static void json_ttft_all(const struct score *s)
{
	unsigned i;

	printf("\"ttft_all_ms\":{\"n\":%lu", s->arrivals);
	for (i = 0; i < NPCT_ALL; i++) {
		printf(",\"%s\":", pct_names[i]);
		if (s->arrivals)
			json_ms(pct_all(s, pcts[i]));
		else
			printf("null");
	}
	putchar('}');
}

/* A phase's ok-only TTFTs (sorted): n and the percentiles of ttft_all_ms. */
static void json_ttft_ok(const struct samples *t)
{
	unsigned i;

	printf("\"ttft_ms\":{\"n\":%zu", t->n);
	for (i = 0; i < NPCT_ALL; i++) {
		if (t->n)
			printf(",\"%s\":%.3f", pct_names[i], pct(t->v, t->n, pcts[i]));
		else
			printf(",\"%s\":null", pct_names[i]);
	}
	putchar('}');
}

static void json_phases(void)
{
	unsigned i;

	printf(",\"phases\":[");
	for (i = 0; i < opt.nphase; i++) {
		const struct score *s = &res.ph[i];

		printf("%s{\"name\":", i ? "," : "");
		json_str(opt.phase[i].name);
		printf(",\"start_s\":%.9g,\"end_s\":", opt.phase[i].start);
		if (i + 1 < opt.nphase)
			printf("%.9g", opt.phase[i + 1].start);
		else
			printf("null");
		printf(",\"arrivals\":%lu,\"ok\":%lu,\"good\":%lu,\"goodput\":",
		       s->arrivals, s->ok, s->good);
		json_goodput(s);
		printf(",\"errors\":%lu,\"dropped\":%lu,", s->arrivals - s->ok, s->dropped);
		json_ttft_all(s);
		putchar(',');
		json_ttft_ok(&s->ttft);
		putchar('}');
	}
	putchar(']');
}

static void json_trace(void)
{
	printf(",\"trace\":");
	if (!opt.trace) {
		printf("null");
		return;
	}
	printf("{\"file\":");
	json_str(opt.trace);
	printf(",\"rows\":%lu,\"used\":%zu,\"wanted\":%zu,\"file_ended\":%s,\"start_s\":%.9g,"
	       "\"time_scale\":%.9g,\"rate\":%.9g,\"tokens_scale\":%.9g,"
	       "\"prompt_tokens_mean\":%.3f,\"output_tokens_mean\":%.3f}",
	       trace.rows, trace.used, trace.wanted, trace.ended ? "true" : "false",
	       opt.trace_start, trace.scale, trace.rate, opt.tokens_scale,
	       trace.ctx_mean, trace.gen_mean);
}

static void json_load_shape(void)
{
	if (opt.trace)
		printf(",\"mode\":\"trace\",\"rate\":%.9g,\"arrivals\":\"trace\","
		       "\"concurrency\":null", trace.rate);
	else if (opt.rate > 0)
		printf(",\"mode\":\"open\",\"rate\":%g,\"arrivals\":\"%s\",\"concurrency\":null",
		       opt.rate, opt.poisson ? "poisson" : "fixed");
	else
		printf(",\"mode\":\"closed\",\"rate\":null,\"arrivals\":null,\"concurrency\":%u",
		       opt.concurrency);
}

static void report_json(double wall, const struct summary *sm)
{
	struct score run = run_score();
	unsigned i;

	printf("{\"url\":");
	json_str(opt.url);
	printf(",\"endpoint\":\"%s\"", opt.chat ? "chat" : "completions");
	json_load_shape();
	printf(",\"new_conn\":%s,\"seed\":%llu,\"dist\":\"%s\",\"max_inflight\":%u",
	       opt.new_conn ? "true" : "false", (unsigned long long)opt.seed,
	       opt.trace ? "trace" : dist_names[opt.dist], opt.max_inflight);
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
	printf("\"slo_ms\":%g,\"good\":%lu,\"goodput\":", opt.slo_ms, res.good);
	json_goodput(&run);
	putchar(',');
	json_ttft_all(&run);
	putchar(',');
	json_summary("ttft_ms", &sm[0], false);
	json_summary("latency_ms", &sm[1], false);
	json_summary("tokens_per_s", &sm[2], true);
	json_phases();
	json_trace();
	printf("}\n");
}

/* A TTFT column: "-" when there is none, "inf" when infinite. */
static void text_ms(double v, bool have)
{
	if (!have)
		printf(" %9s", "-");
	else if (isinf(v))
		printf(" %9s", "inf");
	else
		printf(" %9.2f", v);
}

static void text_load_shape(void)
{
	if (opt.trace)
		printf("trace replay of %s at %g req/s", opt.trace, trace.rate);
	else if (opt.rate > 0)
		printf("open loop, %s arrivals at %g req/s", opt.poisson ? "poisson" : "fixed",
		       opt.rate);
	else
		printf("closed loop, concurrency %u", opt.concurrency);
	printf(", %s connections, %s\n", opt.new_conn ? "new" : "reused", opt.url);
	if (!opt.trace)
		return;
	printf("trace: %lu rows, %zu replayed from +%g s", trace.rows, trace.used,
	       opt.trace_start);
	if (trace.ended)
		printf(" (the file ended before the %zu asked for)", trace.wanted);
	printf(", time scale %.6g (replay s per trace s), tokens x%g (prompt mean %.1f, "
	       "output mean %.1f)\n", trace.scale, opt.tokens_scale, trace.ctx_mean,
	       trace.gen_mean);
}

/* goodput, then all-arrivals TTFT percentiles beside the ok-only ones */
static void text_score(void)
{
	struct score run = run_score();
	unsigned j;

	if (run.arrivals)
		printf("goodput %.4f", (double)run.good / (double)run.arrivals);
	else
		printf("goodput -");
	printf(" (%lu good of %lu arrivals: ok with TTFT <= %g ms)\n", run.good, run.arrivals,
	       opt.slo_ms);
	printf("ttft_ms p50/p90/p95/p99, all arrivals:");
	for (j = 0; j < NPCT_ALL; j++)
		text_ms(run.arrivals ? pct_all(&run, pcts[j]) : 0, run.arrivals);
	printf("  ok only:");
	for (j = 0; j < NPCT_ALL; j++)
		text_ms(run.ttft.n ? pct(run.ttft.v, run.ttft.n, pcts[j]) : 0, run.ttft.n);
	putchar('\n');
}

static void text_phases(void)
{
	static const char *const all_names[NPCT_ALL] = {
		"all_p50", "all_p90", "all_p95", "all_p99",
	};
	int w = 5;
	unsigned i, j;

	for (i = 0; i < opt.nphase; i++)
		if ((int)strlen(opt.phase[i].name) > w)
			w = (int)strlen(opt.phase[i].name);
	printf("\n%-*s %9s %9s %8s %8s %8s %8s %8s %8s", w, "phase", "start_s", "end_s",
	       "arrivals", "ok", "good", "goodput", "errors", "dropped");
	for (j = 0; j < NPCT_ALL; j++)
		printf(" %9s", all_names[j]);
	printf(" %9s %9s\n", "ok_p50", "ok_p99");
	for (i = 0; i < opt.nphase; i++) {
		const struct score *s = &res.ph[i];
		size_t n = s->ttft.n;

		printf("%-*s %9.3f", w, opt.phase[i].name, opt.phase[i].start);
		if (i + 1 < opt.nphase)
			printf(" %9.3f", opt.phase[i + 1].start);
		else
			printf(" %9s", "-");
		printf(" %8lu %8lu %8lu", s->arrivals, s->ok, s->good);
		if (s->arrivals)
			printf(" %8.4f", (double)s->good / (double)s->arrivals);
		else
			printf(" %8s", "-");
		printf(" %8lu %8lu", s->arrivals - s->ok, s->dropped);
		for (j = 0; j < NPCT_ALL; j++)
			text_ms(s->arrivals ? pct_all(s, pcts[j]) : 0, s->arrivals);
		text_ms(n ? pct(s->ttft.v, n, 50) : 0, n);
		text_ms(n ? pct(s->ttft.v, n, 99) : 0, n);
		putchar('\n');
	}
}

static void report_text(double wall, const struct summary *sm)
{
	static const char *const rows[3] = { "ttft_ms", "latency_ms", "tokens_per_s" };
	unsigned i, j;

	text_load_shape();
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
	printf("output tokens: %lu of %lu requested (%lu short), %.1f tok/s overall\n",
	       res.tokens_ok, res.want_ok, res.short_ok,
	       wall > 0 ? (double)res.tokens_ok / wall : 0.0);
	text_score();
	printf("\n%-12s %8s %10s %10s", "", "n", "mean", "min");
	for (j = 0; j < NPCT; j++)
		printf(" %10s", pct_names[j]);
	printf(" %10s\n", "max");
	for (i = 0; i < 3; i++) {
		printf("%-12s %8zu", rows[i], sm[i].n);
		if (!sm[i].n) {
			for (j = 0; j < NPCT + 3; j++)
				printf(" %10s", "-");
		} else {
			printf(" %10.2f %10.2f", sm[i].mean, sm[i].min);
			for (j = 0; j < NPCT; j++)
				printf(" %10.2f", sm[i].p[j]);
			printf(" %10.2f", sm[i].max);
		}
		putchar('\n');
	}
	if (opt.nphase)
		text_phases();
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
	unsigned i;
	CURLM *m;

	parse_args(argc, argv);
	/* bad trace input ends here, before any connection */
	if (opt.trace)
		trace_load();
	open_loop = opt.rate > 0 || opt.trace;
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

	if (opt.trace && opt.progress)
		fprintf(stderr, "loadgen: replaying %zu requests of %s at %g req/s, "
			"time scale %.6g (replay s per trace s)\n", trace.used, opt.trace,
			trace.rate, trace.scale);
	t0 = now_ns();
	/* a trace's schedule ends by itself (its last arrival may be at the end) */
	end_ns = opt.duration > 0 && !opt.trace ? t0 + (uint64_t)(opt.duration * 1e9)
						 : UINT64_MAX;
	next_arr = opt.trace ? trace_due(t0) : t0;
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
				if (opt.trace) {
					arrive(m, &sizes, next_arr - t0, &trace.row[trace.next++]);
					next_arr = trace_due(t0);
				} else {
					double gap = opt.poisson ? -log(rng_unit(&gaps)) / opt.rate
								 : 1.0 / opt.rate;

					arrive(m, &sizes, next_arr - t0, NULL);
					next_arr += (uint64_t)(gap * 1e9);
				}
			}
		} else if (arriving) {
			/* closed loop: an arrival's scheduled time is now */
			while (inflight < opt.concurrency &&
			       !(opt.requests && res.arrivals >= opt.requests))
				arrive(m, &sizes, now - t0, NULL);
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
	for (i = 0; i < opt.nphase; i++)
		if (res.ph[i].ttft.n)
			qsort(res.ph[i].ttft.v, res.ph[i].ttft.n, sizeof(double), cmp_double);
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
	for (i = 0; i < opt.nphase; i++)
		free(res.ph[i].ttft.v);
	free(trace.row);
	return 0;
}
