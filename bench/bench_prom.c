/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * bench_prom.c - throughput of the Prometheus text parser, with a
 * same-run baseline.
 *
 * lb-agent parses one scrape per worker per poll, so at 1,000 workers and
 * 10 Hz the parser's MB/s decides how much of a core polling costs. Cases:
 *   - prom_parse() over a ~1 MB vLLM-style scrape built in memory (many
 *     label sets, histograms with 20+ buckets), with a callback that
 *     touches every sample, as the engine profiles do;
 *   - lb_engine_extract(LB_ENGINE_VLLM) over a real-sized scrape, the
 *     vLLM fixture (~5 KB), which is what the agent runs per poll and
 *     where per-call costs (scratch allocation) show;
 *   - the baseline: a memchr() pass over the same bytes that only counts
 *     line ends, i.e. the least any line-oriented parser must do. The
 *     ratio to it is what to compare between machines, not the MB/s.
 * Each round times every case for at least ROUND_NS, interleaved, so a
 * noisy neighbour slows all of them alike; the median round is printed.
 * Nothing is asserted about speed, only that every parse succeeds.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "prom.h"

#define FIXTURE		"tests/fixtures/metrics/vllm.txt"
#define NSETS		96		/* label sets in the big scrape */
#define ROUNDS		9
#define ROUND_NS	150000000LL	/* >= 1 s per case over all rounds */

struct buf {
	char *p;
	size_t len, cap;
};

__attribute__((noreturn, format(printf, 1, 2)))
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "bench_prom: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

__attribute__((format(printf, 2, 3)))
static void bput(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			die("vsnprintf failed");
		if ((size_t)n < b->cap - b->len)
			break;
		b->cap = b->cap * 2 + (size_t)n;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			die("out of memory");
	}
	b->len += (size_t)n;
}

/* ---- the big scrape ------------------------------------------------- */

static const double lat_le[] = {
	0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
	1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
};
static const double tok_le[] = {
	1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384,
};

/*
 * Label set k: a DP rank and one of a few models, in vLLM's order. Long
 * model names are typical (HF repo ids) and make label parsing dominate,
 * as it does in real scrapes.
 */
static void labels(char *out, size_t n, unsigned k)
{
	static const char *const models[] = {
		"meta-llama/Llama-3.1-8B-Instruct",
		"meta-llama/Llama-3.1-70B-Instruct",
		"Qwen/Qwen2.5-Coder-32B-Instruct",
		"mistralai/Mistral-Small-24B-Instruct-2501",
	};

	snprintf(out, n, "engine=\"%u\",model_name=\"%s\"", k / 4,
		 models[k % 4]);
}

static void family(struct buf *b, const char *name, const char *type,
		   const char *help)
{
	bput(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void gauge(struct buf *b, const char *name, const char *type,
		  const char *help, double scale)
{
	char l[160];

	family(b, name, type, help);
	for (unsigned k = 0; k < NSETS; k++) {
		labels(l, sizeof(l), k);
		bput(b, "%s{%s} %.17g\n", name, l, scale * (k % 13 + 1) / 13.0);
	}
}

static void histogram(struct buf *b, const char *name, const char *help,
		      const double *le, unsigned nle)
{
	char l[160];

	family(b, name, "histogram", help);
	for (unsigned k = 0; k < NSETS; k++) {
		uint64_t c = 0;

		labels(l, sizeof(l), k);
		for (unsigned i = 0; i < nle; i++) {
			c += (uint64_t)(k * 7 + i * 131) % 997;
			bput(b, "%s_bucket{%s,le=\"%g\"} %llu.0\n", name, l,
			     le[i], (unsigned long long)c);
		}
		bput(b, "%s_bucket{%s,le=\"+Inf\"} %llu.0\n", name, l,
		     (unsigned long long)c);
		bput(b, "%s_count{%s} %llu.0\n", name, l,
		     (unsigned long long)c);
		bput(b, "%s_sum{%s} %.17g\n", name, l, (double)c * 0.137);
	}
}

static void build_big(struct buf *b)
{
	b->cap = 1 << 20;
	b->p = malloc(b->cap);
	if (!b->p)
		die("out of memory");
	/* what prometheus_client puts first */
	family(b, "python_gc_objects_collected_total", "counter",
	       "Objects collected during gc");
	for (unsigned g = 0; g < 3; g++)
		bput(b, "python_gc_objects_collected_total{generation=\"%u\"} %u.0\n",
		     g, 12345u >> g);
	family(b, "process_resident_memory_bytes", "gauge",
	       "Resident memory size in bytes.");
	bput(b, "process_resident_memory_bytes 4.139810816e+09\n");

	gauge(b, "vllm:num_requests_running", "gauge",
	      "Number of requests in model execution batches.", 16);
	gauge(b, "vllm:num_requests_waiting", "gauge",
	      "Number of requests waiting to be processed.", 8);
	gauge(b, "vllm:kv_cache_usage_perc", "gauge",
	      "KV-cache usage. 1 means 100 percent usage.", 1);
	gauge(b, "vllm:prompt_tokens_total", "counter",
	      "Number of prefill tokens processed.", 5.2e7);
	gauge(b, "vllm:generation_tokens_total", "counter",
	      "Number of generation tokens processed.", 1.7e7);
	gauge(b, "vllm:num_preemptions_total", "counter",
	      "Cumulative number of preemption from the engine.", 20);
	histogram(b, "vllm:time_to_first_token_seconds",
		  "Histogram of time to first token in seconds.",
		  lat_le, sizeof(lat_le) / sizeof(lat_le[0]));
	histogram(b, "vllm:inter_token_latency_seconds",
		  "Histogram of inter-token latency in seconds.",
		  lat_le, sizeof(lat_le) / sizeof(lat_le[0]));
	histogram(b, "vllm:e2e_request_latency_seconds",
		  "Histogram of e2e request latency in seconds.",
		  lat_le, sizeof(lat_le) / sizeof(lat_le[0]));
	histogram(b, "vllm:request_prompt_tokens",
		  "Number of prefill tokens processed.",
		  tok_le, sizeof(tok_le) / sizeof(tok_le[0]));
	histogram(b, "vllm:request_generation_tokens",
		  "Number of generation tokens processed.",
		  tok_le, sizeof(tok_le) / sizeof(tok_le[0]));
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long n;

	if (!f)
		die("%s: %s (run from the repository root)", path,
		    strerror(errno));
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET))
		die("%s: cannot size", path);
	p = malloc((size_t)n + 1);
	if (!p || fread(p, 1, (size_t)n, f) != (size_t)n)
		die("%s: cannot read", path);
	fclose(f);
	*len = (size_t)n;
	return p;
}

/* ---- cases ---------------------------------------------------------- */

/* Results go here so that no case can be optimised away. */
static volatile double sink;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The baseline: find every line end and nothing else. */
__attribute__((noinline))
static size_t line_scan(const char *p, size_t len)
{
	const char *e = p + len, *nl;
	size_t n = 0;

	while (p < e && (nl = memchr(p, '\n', (size_t)(e - p)))) {
		n++;
		p = nl + 1;
	}
	return n + (p < e);
}

struct count {
	size_t n;
	double sum;
};

/* Touch name, labels and value, as a real consumer would. */
static int count_cb(void *ctx, const struct prom_sample *s)
{
	struct count *c = ctx;

	c->n++;
	c->sum += s->value + s->nlabels + (unsigned char)s->name[0];
	return 0;
}

enum { C_SCAN_BIG, C_PARSE, C_SCAN_FIX, C_EXTRACT, NCASES };

struct input {
	const char *p;
	size_t len;
};

/* One run of case @c over @in; exits if the parse fails. */
static void run_once(int c, const struct input *in)
{
	struct prom_error err;
	struct lb_signals sig;
	struct count cnt = { 0 };
	int rc;

	switch (c) {
	case C_SCAN_BIG:
	case C_SCAN_FIX:
		sink = (double)line_scan(in->p, in->len);
		break;
	case C_PARSE:
		rc = prom_parse(in->p, in->len, count_cb, &cnt, &err);
		if (rc <= 0)
			die("prom_parse: %d: %s", rc, err.msg);
		sink = cnt.sum;
		break;
	case C_EXTRACT:
		rc = lb_engine_extract(LB_ENGINE_VLLM, NULL, in->p, in->len,
				       &sig, &err);
		if (rc || !sig.has_waiting || !sig.has_running || !sig.has_kv ||
		    !sig.has_gen_tokens || !sig.has_completed)
			die("lb_engine_extract: %d: %s", rc, err.msg);
		sink = sig.waiting + sig.running + sig.kv_use + sig.gen_tokens +
		       sig.completed;
		break;
	}
}

/* Runs per second of case @c over one round of at least ROUND_NS. */
static double time_round(int c, const struct input *in)
{
	int64_t t0 = now_ns(), t;
	long n = 0, batch = 1;

	/* Batches keep clock reads out of the timing of the short cases. */
	do {
		for (long i = 0; i < batch; i++)
			run_once(c, in);
		n += batch;
		if (batch < 1024)
			batch *= 2;
		t = now_ns() - t0;
	} while (t < ROUND_NS);
	return (double)n * 1e9 / (double)t;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(void)
{
	static const char *const what[NCASES] = {
		"memchr line scan", "prom_parse", "memchr line scan",
		"lb_engine_extract vllm",
	};
	struct buf big = { 0 };
	struct input in[NCASES];
	double rate[NCASES][ROUNDS], med[NCASES], mbs[NCASES];
	struct prom_error err;
	struct count cnt = { 0 };
	size_t fixlen;
	char *fix;
	int rc;

	build_big(&big);
	fix = read_file(FIXTURE, &fixlen);
	in[C_SCAN_BIG] = in[C_PARSE] = (struct input){ big.p, big.len };
	in[C_SCAN_FIX] = in[C_EXTRACT] = (struct input){ fix, fixlen };

	rc = prom_parse(big.p, big.len, count_cb, &cnt, &err);
	if (rc <= 0)
		die("generated scrape does not parse: %s", err.msg);
	printf("bench_prom: big scrape %.2f MB, %zu lines, %d samples; "
	       "%s %zu bytes, %zu lines\n",
	       big.len / 1e6, line_scan(big.p, big.len), rc, FIXTURE, fixlen,
	       line_scan(fix, fixlen));
	printf("%d rounds of >= %lld ms per case, interleaved; medians:\n\n",
	       ROUNDS, ROUND_NS / 1000000);

	for (int r = 0; r < ROUNDS; r++)
		for (int c = 0; c < NCASES; c++)
			rate[c][r] = time_round(c, &in[c]);
	for (int c = 0; c < NCASES; c++) {
		qsort(rate[c], ROUNDS, sizeof(rate[c][0]), cmp_double);
		med[c] = rate[c][ROUNDS / 2];
		mbs[c] = med[c] * (double)in[c].len / 1e6;
	}

	printf("  %-24s %-10s %14s  %s\n", "case", "input", "throughput",
	       "per second");
	printf("  %-24s %-10s %9.1f MB/s  %9.0f scans\n", what[C_SCAN_BIG],
	       "big", mbs[C_SCAN_BIG], med[C_SCAN_BIG]);
	printf("  %-24s %-10s %9.1f MB/s  %9.1f parses  (%.3fx of a memchr line scan at %.1f MB/s)\n",
	       what[C_PARSE], "big", mbs[C_PARSE], med[C_PARSE],
	       mbs[C_PARSE] / mbs[C_SCAN_BIG], mbs[C_SCAN_BIG]);
	printf("  %-24s %-10s %9.1f MB/s  %9.0f scans\n", what[C_SCAN_FIX],
	       "vllm.txt", mbs[C_SCAN_FIX], med[C_SCAN_FIX]);
	printf("  %-24s %-10s %9.1f MB/s  %9.0f scrapes (%.3fx of a memchr line scan at %.1f MB/s)\n",
	       what[C_EXTRACT], "vllm.txt", mbs[C_EXTRACT], med[C_EXTRACT],
	       mbs[C_EXTRACT] / mbs[C_SCAN_FIX], mbs[C_SCAN_FIX]);
	printf("\n  1,000 workers at 10 Hz with scrapes like vllm.txt: %.1f%% of one core\n",
	       100.0 * 10000.0 / med[C_EXTRACT]);

	free(big.p);
	free(fix);
	return 0;
}
