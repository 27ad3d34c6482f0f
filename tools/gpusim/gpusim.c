// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * gpusim - a simulated GPU inference worker for tests, the demo and benchmarks.
 *
 * Design:
 * - One engine, protected by one mutex.  A scheduler thread advances it in
 *   ticks of --token-ms (times the "slow" fault factor).  Each tick it first
 *   gives one token to every running sequence whose prefill is over, retires
 *   the finished ones, and then admits waiting sequences FIFO while the batch
 *   has room and the KV cache can hold their prompt.  Stepping before
 *   admitting means a request never gets a token in the tick it was admitted,
 *   so N tokens take about N ticks.
 * - HTTP is libmicrohttpd with an internal polling thread and one thread per
 *   connection.  That lets every handler simply block: a streaming response
 *   is a content-reader callback that sleeps on the engine's condition
 *   variable until its sequence has a token it has not sent yet, and a
 *   non-streaming request waits the same way before it answers.  The number
 *   of threads is bounded by --max-conns.
 * - Metrics are rendered from the same state under the mutex, in the format
 *   of the chosen engine, so they always match what the clients observe.
 *   The generated-token and finished-request counters follow each engine's
 *   accounting: vLLM counts tokens every step; SGLang, TGI and the Triton
 *   TensorRT-LLM backend credit a request's tokens when it finishes (so
 *   their counters move together). Only Triton exports the batch size
 *   (request_type="max").
 * - Health follows the engine's start-up behaviour: vLLM and TGI do not
 *   listen until --startup-ms is over (connection refused); SGLang answers
 *   503 and Triton 400 while starting.
 * - Faults are set at run time via /admin/fault (exempt from "hang" so that
 *   the fault can be cleared again). "badmetrics" corrupts the engine's
 *   generated-tokens sample, which every lb-agent profile reads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "simhttp.h"

#define MAX_BODY	(1u << 20)	/* request bodies larger than this get 413 */
#define MAX_TOKENS_CAP	100000u		/* bound on max_tokens per request */
#define KV_BLOCK	16u		/* tokens per KV block (Triton metrics) */

enum engine_kind { ENG_VLLM, ENG_SGLANG, ENG_TGI, ENG_TRITON };
enum fault { FAULT_NONE, FAULT_SLOW, FAULT_503, FAULT_HANG, FAULT_BADMETRICS,
	     FAULT_COUNT };
/* How "badmetrics" corrupts the sample. */
enum bad_kind { BAD_NAN, BAD_INF, BAD_NINF, BAD_NEGATIVE, BAD_DUPLICATE,
		BAD_COUNT };
/* --triton-kv: what nv_trt_llm_kv_cache_block_metrics carries. */
enum triton_kv { TKV_FRACTION, TKV_BLOCKS };

static const char *const engine_names[] = { "vllm", "sglang", "tgi", "triton" };
static const char *const fault_names[] = { "none", "slow", "503", "hang",
					   "badmetrics" };
static const char *const bad_names[] = { "nan", "inf", "ninf", "negative",
					 "duplicate" };

/*
 * Buckets of the output-token histograms (le bounds, +Inf added). Triton:
 * the TensorRT-LLM backend's own (custom_metrics_reporter.cc); TGI: a few
 * (the real router spreads 100 up to --max-total-tokens).
 */
#define NHIST 5
static const double triton_le[NHIST] = { 10, 50, 100, 500, 1000 };
static const double tgi_le[NHIST] = { 1, 10, 100, 1000, 10000 };

struct opts {
	const char *bind;
	unsigned port;
	enum engine_kind engine;
	const char *model;
	const char *name;
	unsigned batch;
	double token_ms;
	double prefill_us;
	unsigned kv_tokens;
	unsigned startup_ms;
	unsigned max_queue;
	unsigned max_conns;
	unsigned idle_timeout;
	enum triton_kv triton_kv;
};

static struct opts opt = {
	.bind = "127.0.0.1",
	.port = 8000,
	.engine = ENG_VLLM,
	.model = "sim-model",
	.name = "gpusim",
	.batch = 8,
	.token_ms = 20.0,
	.prefill_us = 50.0,
	.kv_tokens = 65536,
	.startup_ms = 0,
	.max_queue = 256,
	.max_conns = 512,
	.idle_timeout = 300,
	.triton_kv = TKV_FRACTION,
};

struct seq {
	struct seq *next;		/* waiting queue link */
	unsigned id;
	unsigned prompt;		/* prompt tokens */
	unsigned max_tokens;		/* tokens to generate */
	unsigned generated;
	int64_t prefill_end;		/* ns, valid once admitted */
	bool done;
	bool cancelled;			/* client went away */
	int refs;			/* engine + handler */
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* broadcast on every state change */
	struct seq *wq_head, *wq_tail;
	unsigned nwait;
	struct seq **run;		/* opt.batch slots, compact */
	unsigned nrun;
	enum fault fault;
	double factor;			/* slow-down for FAULT_SLOW */
	enum bad_kind bad;		/* for FAULT_BADMETRICS */
	unsigned next_id;
	uint64_t prompt_total, gen_total, success_total, fail_total;
	uint64_t gen_done;		/* tokens of the successful requests */
	uint64_t hist[NHIST + 1];	/* their output lengths, by bucket */
	int64_t ready_at;		/* ns, end of the simulated start-up */
} eng = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.factor = 1.0,
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void seq_put(struct seq *s)
{
	if (--s->refs == 0)
		free(s);
}

/* Current slow-down; only "slow" changes the pace. Caller holds eng.mu. */
static double pace(void)
{
	return eng.fault == FAULT_SLOW ? eng.factor : 1.0;
}

/* Tokens held in the KV cache by the running sequences. Caller holds eng.mu. */
static void kv_used(unsigned *tokens, unsigned *blocks)
{
	unsigned t = 0, b = 0;

	for (unsigned i = 0; i < eng.nrun; i++) {
		unsigned n = eng.run[i]->prompt + eng.run[i]->generated;

		t += n;
		b += (n + KV_BLOCK - 1) / KV_BLOCK;
	}
	*tokens = t;
	*blocks = b;
}

/* The output-token histogram bounds of this engine (TGI or Triton). */
static const double *hist_le(void)
{
	return opt.engine == ENG_TGI ? tgi_le : triton_le;
}

/* A request finished successfully: what the completion counters see. */
static void request_done(const struct seq *s)
{
	const double *le = hist_le();
	unsigned i;

	eng.success_total++;
	eng.gen_done += s->generated;
	for (i = 0; i < NHIST && s->generated > le[i]; i++)
		;
	eng.hist[i]++;
}

static void engine_tick(int64_t now)
{
	unsigned i, j, kvt, kvb;

	/* Decode: one token per running sequence past its prefill. */
	for (i = 0, j = 0; i < eng.nrun; i++) {
		struct seq *s = eng.run[i];

		if (!s->cancelled && now >= s->prefill_end) {
			s->generated++;
			eng.gen_total++;
			if (s->generated >= s->max_tokens) {
				s->done = true;
				request_done(s);
			}
		}
		if (s->done || s->cancelled) {
			seq_put(s);
			continue;
		}
		eng.run[j++] = s;
	}
	eng.nrun = j;

	/*
	 * Admit FIFO while there is a free slot and room for the prompt in
	 * the KV cache; an empty batch always admits so a huge prompt cannot
	 * block the queue for ever.
	 */
	kv_used(&kvt, &kvb);
	while (eng.wq_head && eng.nrun < opt.batch) {
		struct seq *s = eng.wq_head;

		if (!s->cancelled && eng.nrun > 0 &&
		    kvt + s->prompt > opt.kv_tokens)
			break;
		eng.wq_head = s->next;
		if (!eng.wq_head)
			eng.wq_tail = NULL;
		eng.nwait--;
		if (s->cancelled) {
			seq_put(s);
			continue;
		}
		s->prefill_end = now + (int64_t)(s->prompt * opt.prefill_us *
						 1000.0 * pace());
		eng.prompt_total += s->prompt;
		kvt += s->prompt;
		eng.run[eng.nrun++] = s;
	}
	pthread_cond_broadcast(&eng.cv);
}

static void *scheduler(void *arg)
{
	int64_t next = now_ns();

	(void)arg;
	for (;;) {
		struct timespec ts;
		double p;

		pthread_mutex_lock(&eng.mu);
		p = pace();
		pthread_mutex_unlock(&eng.mu);
		next += (int64_t)(opt.token_ms * 1e6 * p);
		ts.tv_sec = next / 1000000000;
		ts.tv_nsec = next % 1000000000;
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
				       NULL) == EINTR)
			;
		pthread_mutex_lock(&eng.mu);
		/* A hung engine makes no progress; streams simply stall. */
		if (eng.fault != FAULT_HANG)
			engine_tick(now_ns());
		pthread_mutex_unlock(&eng.mu);
		/* After a long stall, do not try to catch up in a burst. */
		if (now_ns() - next > 1000000000)
			next = now_ns();
	}
	return NULL;
}

/* ---- minimal JSON scanning of the request body ---- */

/*
 * We need only three top-level fields, so instead of a full parser this
 * skips values structurally.  It counts the bytes inside strings, which is
 * what the prompt length is estimated from (for "messages" that covers the
 * roles too, close enough for a simulation).
 */
static const char *skip_ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static const char *skip_string(const char *p, const char *e, size_t *bytes)
{
	size_t n = 0;

	if (p >= e || *p != '"')
		return NULL;
	for (p++; p < e; p++, n++) {
		if (*p == '\\') {
			if (++p >= e)
				return NULL;
		} else if (*p == '"') {
			if (bytes)
				*bytes += n;
			return p + 1;
		}
	}
	return NULL;
}

static const char *skip_value(const char *p, const char *e, size_t *bytes,
			      int depth)
{
	p = skip_ws(p, e);
	if (p >= e || depth > 64)
		return NULL;
	if (*p == '"')
		return skip_string(p, e, bytes);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';

		p = skip_ws(p + 1, e);
		if (p < e && *p == close)
			return p + 1;
		for (;;) {
			if (close == '}') {
				p = skip_string(skip_ws(p, e), e, NULL);
				if (!p)
					return NULL;
				p = skip_ws(p, e);
				if (p >= e || *p != ':')
					return NULL;
				p++;
			}
			p = skip_value(p, e, bytes, depth + 1);
			if (!p)
				return NULL;
			p = skip_ws(p, e);
			if (p < e && *p == ',') {
				p++;
				continue;
			}
			if (p < e && *p == close)
				return p + 1;
			return NULL;
		}
	}
	/* number, true, false, null */
	while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' &&
	       *p != '\n' && *p != '\r' && *p != '\t')
		p++;
	return p;
}

struct gen_req {
	size_t prompt_bytes;
	long max_tokens;
	bool stream;
};

static int parse_request(const char *b, size_t len, struct gen_req *r)
{
	const char *p = skip_ws(b, b + len), *e = b + len;

	r->prompt_bytes = 0;
	r->max_tokens = 16;
	r->stream = false;
	if (p >= e || *p != '{')
		return -1;
	p = skip_ws(p + 1, e);
	if (p < e && *p == '}')
		return 0;
	for (;;) {
		const char *k = skip_ws(p, e), *v;
		size_t klen;

		p = skip_string(k, e, NULL);
		if (!p)
			return -1;
		klen = (size_t)(p - k);
		p = skip_ws(p, e);
		if (p >= e || *p != ':')
			return -1;
		v = skip_ws(p + 1, e);
		if (klen == 12 && !memcmp(k, "\"max_tokens\"", 12)) {
			char *end;

			errno = 0;
			r->max_tokens = strtol(v, &end, 10);
			if (end == v || errno)
				return -1;
		} else if (klen == 8 && !memcmp(k, "\"stream\"", 8)) {
			r->stream = e - v >= 4 && !memcmp(v, "true", 4);
		}
		if ((klen == 8 && !memcmp(k, "\"prompt\"", 8)) ||
		    (klen == 10 && !memcmp(k, "\"messages\"", 10)))
			p = skip_value(v, e, &r->prompt_bytes, 0);
		else
			p = skip_value(v, e, NULL, 0);
		if (!p)
			return -1;
		p = skip_ws(p, e);
		if (p < e && *p == ',') {
			p++;
			continue;
		}
		if (p < e && *p == '}')
			return 0;
		return -1;
	}
}

/* ---- HTTP ---- */

struct conn {
	char *body;
	size_t len;
	bool too_big;
};

struct stream {
	struct seq *s;
	unsigned sent;
	bool chat;
	bool done_sent;
	long created;
};

/* Every response carries X-Backend: --name. */
static MHD_Result_t reply(struct MHD_Connection *c, unsigned status,
			  const char *ctype, const char *body)
{
	return sim_reply(c, status, ctype, opt.name, body);
}

static MHD_Result_t reply_error(struct MHD_Connection *c, unsigned status,
				const char *msg)
{
	char buf[256];

	snprintf(buf, sizeof(buf),
		 "{\"error\":{\"message\":\"%s\",\"code\":%u}}\n", msg, status);
	return reply(c, status, "application/json", buf);
}

/* Simulated start-up still running (for engines that listen meanwhile). */
static bool starting(void)
{
	return now_ns() < eng.ready_at;
}

static MHD_Result_t do_health(struct MHD_Connection *c)
{
	bool bad;

	pthread_mutex_lock(&eng.mu);
	bad = eng.fault == FAULT_503 || starting();
	pthread_mutex_unlock(&eng.mu);
	if (opt.engine == ENG_TRITON)
		return reply(c, bad ? 400 : 200, NULL, "");
	if (opt.engine == ENG_TGI && bad)
		return reply(c, 503, "application/json",
			     "{\"error\":\"unhealthy\",\"error_type\":\"healthcheck\"}");
	return reply(c, bad ? 503 : 200, NULL, "");
}

/*
 * One sample, "series value". Under the badmetrics fault (@bad >= 0) the
 * value is replaced by NaN, +Inf, -Inf or -1, or the sample is repeated
 * as @series2: the same series with its labels in another order.
 */
static void put_sample(struct sim_buf *b, int bad, const char *series,
		       const char *series2, const char *value)
{
	switch (bad) {
	case BAD_NAN:
		value = "NaN";
		break;
	case BAD_INF:
		value = "+Inf";
		break;
	case BAD_NINF:
		value = "-Inf";
		break;
	case BAD_NEGATIVE:
		value = "-1";
		break;
	case BAD_DUPLICATE:
		sim_bput(b, "%s %s\n", series2, value);
		break;
	default:
		break;
	}
	sim_bput(b, "%s %s\n", series, value);
}

/* "name{labels}", or "name" without labels. */
static void series_name(char *out, size_t n, const char *name,
			const char *labels)
{
	if (*labels)
		snprintf(out, n, "%s{%s}", name, labels);
	else
		snprintf(out, n, "%s", name);
}

/* Buckets (cumulative), _sum and _count of an output-token histogram;
 * _sum is the sample the badmetrics fault corrupts (@labels2: the same
 * labels in another order). */
static void put_hist(struct sim_buf *b, int bad, const char *name,
		     const char *labels, const char *labels2,
		     const uint64_t *hist, uint64_t sum, uint64_t count)
{
	const double *le = hist_le();
	const char *sep = *labels ? "," : "";
	char fam[128], ser[320], ser2[320], val[32];
	uint64_t c = 0;
	unsigned i;

	for (i = 0; i < NHIST; i++) {
		c += hist[i];
		sim_bput(b, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n", name,
			 labels, sep, le[i], c);
	}
	sim_bput(b, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, labels,
		 sep, count);
	snprintf(fam, sizeof(fam), "%s_sum", name);
	series_name(ser, sizeof(ser), fam, labels);
	series_name(ser2, sizeof(ser2), fam, labels2);
	snprintf(val, sizeof(val), "%" PRIu64, sum);
	put_sample(b, bad, ser, ser2, val);
	snprintf(fam, sizeof(fam), "%s_count", name);
	series_name(ser, sizeof(ser), fam, labels);
	sim_bput(b, "%s %" PRIu64 "\n", ser, count);
}

static MHD_Result_t do_metrics(struct MHD_Connection *c)
{
	struct sim_buf b = { .cap = 8192 };
	unsigned wait, run, kvt, kvb, maxblk, maxtok = 0;
	uint64_t pt, gt, gd, ok, fail, hist[NHIST + 1];
	int bad = -1;		/* enum bad_kind under the badmetrics fault */
	double kv;
	const char *mn = opt.model;
	char labels[256], ser[320], ser2[320], val[32];
	MHD_Result_t ret;

	b.p = malloc(b.cap);
	if (!b.p)
		return MHD_NO;
	pthread_mutex_lock(&eng.mu);
	wait = eng.nwait;
	run = eng.nrun;
	kv_used(&kvt, &kvb);
	for (unsigned i = 0; i < eng.nrun; i++)
		maxtok += eng.run[i]->prompt + eng.run[i]->max_tokens;
	pt = eng.prompt_total;
	gt = eng.gen_total;
	gd = eng.gen_done;
	ok = eng.success_total;
	fail = eng.fail_total;
	memcpy(hist, eng.hist, sizeof(hist));
	if (eng.fault == FAULT_BADMETRICS)
		bad = (int)eng.bad;
	pthread_mutex_unlock(&eng.mu);
	kv = (double)kvt / opt.kv_tokens;
	if (kv > 1.0)
		kv = 1.0;
	maxblk = opt.kv_tokens / KV_BLOCK;

	switch (opt.engine) {
	case ENG_VLLM:
		snprintf(labels, sizeof(labels), "engine=\"0\",model_name=\"%s\"", mn);
		sim_vllm_signals(&b, labels, run, wait, kv);
		sim_bhead(&b, "vllm:prompt_tokens", "counter",
			  "Number of prefill tokens processed.");
		sim_bput(&b, "vllm:prompt_tokens_total{engine=\"0\",model_name=\"%s\"} %" PRIu64 ".0\n", mn, pt);
		/* every step's tokens, of finished requests or not */
		sim_bhead(&b, "vllm:generation_tokens", "counter",
			  "Number of generation tokens processed.");
		snprintf(ser, sizeof(ser), "vllm:generation_tokens_total{engine=\"0\",model_name=\"%s\"}", mn);
		snprintf(ser2, sizeof(ser2), "vllm:generation_tokens_total{model_name=\"%s\",engine=\"0\"}", mn);
		snprintf(val, sizeof(val), "%" PRIu64 ".0", gt);
		put_sample(&b, bad, ser, ser2, val);
		sim_bhead(&b, "vllm:request_success", "counter",
			  "Count of successfully processed requests.");
		sim_bput(&b, "vllm:request_success_total{engine=\"0\",finished_reason=\"length\",model_name=\"%s\"} %" PRIu64 ".0\n", mn, ok);
		sim_bhead(&b, "vllm:cache_config_info", "gauge",
			  "Information of the LLMEngine CacheConfig.");
		sim_bput(&b, "vllm:cache_config_info{block_size=\"%u\",engine=\"0\",num_gpu_blocks=\"%u\"} 1.0\n",
			 KV_BLOCK, maxblk);
		break;
	case ENG_SGLANG:
		snprintf(labels, sizeof(labels), "model_name=\"%s\"", mn);
		sim_sglang_signals(&b, labels, run, wait, kv);
		sim_bhead(&b, "sglang:num_used_tokens", "gauge",
			  "The number of used tokens.");
		sim_bput(&b, "sglang:num_used_tokens{model_name=\"%s\"} %u.0\n", mn, kvt);
		sim_bhead(&b, "sglang:max_total_num_tokens", "gauge",
			  "Maximum total number of tokens in the KV cache pool.");
		sim_bput(&b, "sglang:max_total_num_tokens{model_name=\"%s\"} %u.0\n", mn, opt.kv_tokens);
		sim_bhead(&b, "sglang:prompt_tokens", "counter",
			  "Number of prefill tokens processed.");
		sim_bput(&b, "sglang:prompt_tokens_total{model_name=\"%s\"} %" PRIu64 ".0\n", mn, pt);
		/* credited with the request's end, with num_requests_total */
		sim_bhead(&b, "sglang:generation_tokens", "counter",
			  "Number of generation tokens processed.");
		snprintf(ser, sizeof(ser), "sglang:generation_tokens_total{model_name=\"%s\"}", mn);
		snprintf(val, sizeof(val), "%" PRIu64 ".0", gd);
		put_sample(&b, bad, ser, ser, val);
		sim_bhead(&b, "sglang:num_requests", "counter",
			  "Number of requests processed.");
		sim_bput(&b, "sglang:num_requests_total{model_name=\"%s\"} %" PRIu64 ".0\n", mn, ok);
		break;
	case ENG_TGI:
		sim_bhead(&b, "tgi_queue_size", "gauge", "Current queue size");
		sim_bput(&b, "tgi_queue_size %u\n", wait);
		sim_bhead(&b, "tgi_batch_current_size", "gauge", "Current batch size");
		sim_bput(&b, "tgi_batch_current_size %u\n", run);
		sim_bhead(&b, "tgi_batch_current_max_tokens", "gauge",
			  "Maximum tokens for the current batch");
		sim_bput(&b, "tgi_batch_current_max_tokens %u\n", maxtok);
		sim_bhead(&b, "tgi_request_success", "counter",
			  "Number of successful requests");
		sim_bput(&b, "tgi_request_success %" PRIu64 "\n", ok);
		sim_bhead(&b, "tgi_request_failure", "counter",
			  "Number of failed requests");
		sim_bput(&b, "tgi_request_failure{err=\"overloaded\"} %" PRIu64 "\n", fail);
		sim_bhead(&b, "tgi_request_generated_tokens", "histogram",
			  "Generated tokens per request");
		put_hist(&b, bad, "tgi_request_generated_tokens", "", "",
			 hist, gd, ok);
		break;
	case ENG_TRITON:
		sim_bhead(&b, "nv_inference_request_success", "counter",
			  "Number of successful inference requests, all batch sizes");
		sim_bput(&b, "nv_inference_request_success{model=\"%s\",version=\"1\"} %" PRIu64 "\n", mn, ok);
		sim_bhead(&b, "nv_trt_llm_request_metrics", "gauge",
			  "TRT LLM request metrics");
		sim_bput(&b, "nv_trt_llm_request_metrics{model=\"%s\",request_type=\"waiting\",version=\"1\"} %u\n", mn, wait);
		sim_bput(&b, "nv_trt_llm_request_metrics{model=\"%s\",request_type=\"scheduled\",version=\"1\"} %u\n", mn, run);
		sim_bput(&b, "nv_trt_llm_request_metrics{model=\"%s\",request_type=\"active\",version=\"1\"} %u\n", mn, run + wait);
		sim_bput(&b, "nv_trt_llm_request_metrics{model=\"%s\",request_type=\"max\",version=\"1\"} %u\n", mn, opt.batch);
		sim_bhead(&b, "nv_trt_llm_kv_cache_block_metrics", "gauge",
			  "TRT LLM KV cache block metrics");
		sim_bput(&b, "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"max\",model=\"%s\",version=\"1\"} %u\n", mn, maxblk);
		sim_bput(&b, "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"used\",model=\"%s\",version=\"1\"} %u\n", mn, kvb);
		sim_bput(&b, "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"free\",model=\"%s\",version=\"1\"} %u\n",
			 mn, kvb < maxblk ? maxblk - kvb : 0);
		sim_bput(&b, "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"tokens_per\",model=\"%s\",version=\"1\"} %u\n", mn, KV_BLOCK);
		/* backends before v0.18 have no "fraction" (--triton-kv blocks) */
		if (opt.triton_kv == TKV_FRACTION)
			sim_bput(&b, "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"fraction\",model=\"%s\",version=\"1\"} %.6f\n",
				 mn, maxblk ? (kvb > maxblk ? 1.0 : (double)kvb / maxblk) : 0.0);
		sim_bhead(&b, "nv_inference_pending_request_count", "gauge",
			  "Instantaneous number of pending requests awaiting execution per-model.");
		sim_bput(&b, "nv_inference_pending_request_count{model=\"%s\",version=\"1\"} %u\n", mn, wait);
		sim_bhead(&b, "nv_llm_output_token_len", "histogram",
			  "TRT LLM response metrics");
		snprintf(labels, sizeof(labels),
			 "model=\"%s\",response_metric_type=\"total_output_tokens\",version=\"1\"", mn);
		snprintf(ser, sizeof(ser),
			 "version=\"1\",response_metric_type=\"total_output_tokens\",model=\"%s\"", mn);
		put_hist(&b, bad, "nv_llm_output_token_len", labels, ser,
			 hist, gd, ok);
		break;
	}
	if (b.oom) {
		free(b.p);
		return MHD_NO;
	}
	ret = reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.p);
	free(b.p);
	return ret;
}

static MHD_Result_t do_fault(struct MHD_Connection *c)
{
	const char *mode = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "mode");
	const char *fs = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "factor");
	const char *ks = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "kind");
	enum fault f;
	enum bad_kind k = BAD_NAN;
	double factor = 4.0;
	char buf[96];

	if (!mode)
		return reply_error(c, 400, "missing mode");
	if (!strcmp(mode, "die"))
		_exit(1);	/* the point is to vanish without a goodbye */
	for (f = FAULT_NONE; f < FAULT_COUNT; f++)
		if (!strcmp(mode, fault_names[f]))
			break;
	if (f == FAULT_COUNT)
		return reply_error(c, 400, "unknown mode");
	if (fs) {
		char *end;

		factor = strtod(fs, &end);
		if (end == fs || *end || !(factor >= 1.0 && factor <= 1000.0))
			return reply_error(c, 400, "factor must be 1..1000");
	}
	if (f == FAULT_BADMETRICS) {
		for (k = BAD_NAN; ks && k < BAD_COUNT; k++)
			if (!strcmp(ks, bad_names[k]))
				break;
		if (!ks || k == BAD_COUNT)
			return reply_error(c, 400,
					   "kind must be nan|inf|ninf|negative|duplicate");
	}
	pthread_mutex_lock(&eng.mu);
	eng.fault = f;
	eng.factor = factor;
	eng.bad = k;
	pthread_cond_broadcast(&eng.cv);	/* release hung handlers */
	pthread_mutex_unlock(&eng.mu);
	if (f == FAULT_BADMETRICS)
		snprintf(buf, sizeof(buf), "mode=%s kind=%s\n", fault_names[f],
			 bad_names[k]);
	else
		snprintf(buf, sizeof(buf), "mode=%s factor=%g\n",
			 fault_names[f], f == FAULT_SLOW ? factor : 1.0);
	return reply(c, 200, "text/plain", buf);
}

static int format_chunk(char *buf, size_t max, struct stream *st, bool last)
{
	const char *fin = last ? "\"length\"" : "null";

	if (st->chat)
		return snprintf(buf, max,
				"data: {\"id\":\"chatcmpl-%u\",\"object\":\"chat.completion.chunk\","
				"\"created\":%ld,\"model\":\"%s\",\"choices\":[{\"index\":0,"
				"\"delta\":{\"content\":\"tok \"},\"finish_reason\":%s}]}\n\n",
				st->s->id, st->created, opt.model, fin);
	return snprintf(buf, max,
			"data: {\"id\":\"cmpl-%u\",\"object\":\"text_completion\","
			"\"created\":%ld,\"model\":\"%s\",\"choices\":[{\"index\":0,"
			"\"text\":\"tok \",\"finish_reason\":%s}]}\n\n",
			st->s->id, st->created, opt.model, fin);
}

/*
 * Content reader of a streaming response.  Runs in the connection's own
 * thread, so blocking here until the engine produces the next token is fine.
 */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *st = cls;
	size_t len = 0;

	(void)pos;
	pthread_mutex_lock(&eng.mu);
	while (st->sent == st->s->generated && !st->s->done)
		pthread_cond_wait(&eng.cv, &eng.mu);
	while (st->sent < st->s->generated) {
		char tmp[512];
		int n = format_chunk(tmp, sizeof(tmp), st,
				     st->sent + 1 == st->s->max_tokens);

		if (n < 0 || (size_t)n >= sizeof(tmp) || len + (size_t)n > max)
			break;
		memcpy(buf + len, tmp, (size_t)n);
		len += (size_t)n;
		st->sent++;
	}
	if (st->s->done && st->sent == st->s->generated) {
		static const char fin[] = "data: [DONE]\n\n";

		if (!st->done_sent && len + sizeof(fin) - 1 <= max) {
			memcpy(buf + len, fin, sizeof(fin) - 1);
			len += sizeof(fin) - 1;
			st->done_sent = true;
		} else if (st->done_sent && len == 0) {
			pthread_mutex_unlock(&eng.mu);
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
	}
	pthread_mutex_unlock(&eng.mu);
	return (ssize_t)len;
}

static void stream_free(void *cls)
{
	struct stream *st = cls;

	pthread_mutex_lock(&eng.mu);
	if (!st->s->done)
		st->s->cancelled = true;	/* scheduler frees the slot */
	seq_put(st->s);
	pthread_mutex_unlock(&eng.mu);
	free(st);
}

static MHD_Result_t finish_blocking(struct MHD_Connection *c, struct seq *s,
				    bool chat)
{
	size_t cap = (size_t)s->max_tokens * 4 + 512, off;
	char *b = malloc(cap);
	MHD_Result_t ret;
	unsigned n;

	pthread_mutex_lock(&eng.mu);
	while (!s->done)
		pthread_cond_wait(&eng.cv, &eng.mu);
	n = s->generated;
	pthread_mutex_unlock(&eng.mu);
	if (!b) {
		ret = reply_error(c, 500, "out of memory");
		goto out;
	}
	off = (size_t)snprintf(b, cap,
			       chat ? "{\"id\":\"chatcmpl-%u\",\"object\":\"chat.completion\",\"created\":%ld,"
				      "\"model\":\"%s\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\""
				    : "{\"id\":\"cmpl-%u\",\"object\":\"text_completion\",\"created\":%ld,"
				      "\"model\":\"%s\",\"choices\":[{\"index\":0,\"text\":\"",
			       s->id, (long)time(NULL), opt.model);
	for (unsigned i = 0; i < n && off + 4 < cap; i++, off += 4)
		memcpy(b + off, "tok ", 4);
	snprintf(b + off, cap - off,
		 "\"%s,\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":%u,"
		 "\"completion_tokens\":%u,\"total_tokens\":%u}}\n",
		 chat ? "}" : "", s->prompt, n, s->prompt + n);
	ret = reply(c, 200, "application/json", b);
out:
	free(b);
	pthread_mutex_lock(&eng.mu);
	seq_put(s);
	pthread_mutex_unlock(&eng.mu);
	return ret;
}

static MHD_Result_t do_generate(struct MHD_Connection *c, struct conn *cn,
				bool chat)
{
	struct gen_req r;
	struct seq *s;
	struct stream *st;
	struct MHD_Response *resp;
	MHD_Result_t ret;

	if (cn->too_big)
		return reply_error(c, 413, "request body too large");
	if (parse_request(cn->body ? cn->body : "", cn->len, &r))
		return reply_error(c, 400, "malformed JSON body");
	if (r.max_tokens < 1 || r.max_tokens > (long)MAX_TOKENS_CAP)
		return reply_error(c, 400, "max_tokens out of range");
	s = calloc(1, sizeof(*s));
	if (!s)
		return reply_error(c, 500, "out of memory");
	s->prompt = (unsigned)((r.prompt_bytes + 3) / 4);
	if (s->prompt == 0)
		s->prompt = 1;
	s->max_tokens = (unsigned)r.max_tokens;
	s->refs = 2;

	pthread_mutex_lock(&eng.mu);
	if (eng.fault == FAULT_503 || starting() || eng.nwait >= opt.max_queue) {
		bool full = eng.nwait >= opt.max_queue;

		eng.fail_total++;
		pthread_mutex_unlock(&eng.mu);
		free(s);
		return reply_error(c, 503, full ? "queue full" : "service unavailable");
	}
	s->id = ++eng.next_id;
	if (eng.wq_tail)
		eng.wq_tail->next = s;
	else
		eng.wq_head = s;
	eng.wq_tail = s;
	eng.nwait++;
	pthread_mutex_unlock(&eng.mu);

	if (!r.stream)
		return finish_blocking(c, s, chat);

	st = calloc(1, sizeof(*st));
	if (!st) {
		pthread_mutex_lock(&eng.mu);
		s->cancelled = true;
		seq_put(s);
		pthread_mutex_unlock(&eng.mu);
		return reply_error(c, 500, "out of memory");
	}
	st->s = s;
	st->chat = chat;
	st->created = (long)time(NULL);
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096,
						 stream_read, st, stream_free);
	if (!resp) {
		stream_free(st);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "text/event-stream");
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	MHD_add_response_header(resp, "X-Backend", opt.name);
	ret = MHD_queue_response(c, 200, resp);
	MHD_destroy_response(resp);
	return ret;
}

static MHD_Result_t handler(void *cls, struct MHD_Connection *c,
			    const char *url, const char *method,
			    const char *version, const char *upload,
			    size_t *upload_size, void **con_cls)
{
	struct conn *cn = *con_cls;
	bool post = !strcmp(method, "POST");

	(void)cls;
	(void)version;
	if (!cn) {
		cn = calloc(1, sizeof(*cn));
		if (!cn)
			return MHD_NO;
		*con_cls = cn;
		return MHD_YES;
	}
	if (*upload_size) {
		if (!cn->too_big && cn->len + *upload_size <= MAX_BODY) {
			char *nb = realloc(cn->body, cn->len + *upload_size + 1);

			if (!nb)
				return MHD_NO;
			cn->body = nb;
			memcpy(cn->body + cn->len, upload, *upload_size);
			cn->len += *upload_size;
			cn->body[cn->len] = '\0';
		} else {
			cn->too_big = true;
		}
		*upload_size = 0;
		return MHD_YES;
	}

	if (!strcmp(url, "/admin/fault"))
		return do_fault(c);

	/* "hang": accept, read the request, then never answer it. */
	pthread_mutex_lock(&eng.mu);
	while (eng.fault == FAULT_HANG)
		pthread_cond_wait(&eng.cv, &eng.mu);
	pthread_mutex_unlock(&eng.mu);

	if (!strcmp(url, "/metrics"))
		return do_metrics(c);
	if (opt.engine == ENG_TRITON ?
	    !strcmp(url, "/v2/health/ready") || !strcmp(url, "/v2/health/live") :
	    !strcmp(url, "/health"))
		return do_health(c);
	if (post && !strcmp(url, "/v1/completions"))
		return do_generate(c, cn, false);
	if (post && !strcmp(url, "/v1/chat/completions"))
		return do_generate(c, cn, true);
	return reply_error(c, 404, "not found");
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct conn *cn = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (cn) {
		free(cn->body);
		free(cn);
		*con_cls = NULL;
	}
}

/* ---- options ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: gpusim [options]\n"
		"Simulated GPU inference worker (OpenAI completions + engine metrics).\n\n"
		"  --port P                 TCP port (default 8000)\n"
		"  --bind ADDR              listen address, IPv4 or IPv6, e.g. [::] (default 127.0.0.1)\n"
		"  --engine E               vllm|sglang|tgi|triton: metrics format and health (default vllm)\n"
		"  --model NAME             served model name (default sim-model)\n"
		"  --name NAME              sent as X-Backend header in every response (default gpusim)\n"
		"  --batch N                max concurrent sequences (default 8)\n"
		"  --token-ms Y             decode time per token, ms (default 20)\n"
		"  --prefill-us-per-token X prefill time per prompt token, us (default 50)\n"
		"  --kv-tokens K            KV-cache capacity in tokens (default 65536)\n"
		"  --startup-ms S           simulated model load time (default 0)\n"
		"  --max-queue N            waiting requests before 503 (default 256)\n"
		"  --max-conns N            concurrent connections/threads (default 512)\n"
		"  --idle-timeout SEC       idle connection timeout (default 300)\n"
		"  --triton-kv fraction|blocks\n"
		"                           triton KV metrics: used/max/free/tokens_per blocks and the\n"
		"                           used fraction (default, TensorRT-LLM backend v0.18+), or the\n"
		"                           blocks only, as older backends\n"
		"  -h, --help               this text\n\n"
		"Endpoints: POST /v1/completions, POST /v1/chat/completions (\"stream\":true for SSE),\n"
		"GET /metrics, GET /health (vllm, sglang, tgi) or /v2/health/ready|live (triton).\n"
		"Prompt tokens = bytes of prompt (or messages) / 4; output tokens = max_tokens.\n\n"
		"Start-up: vllm and tgi do not listen until S ms have passed (connection refused);\n"
		"sglang answers 503 and triton 400 on health (503 on requests) until then.\n\n"
		"Faults (same port, GET or POST):\n"
		"  /admin/fault?mode=slow&factor=F  every token and prefill takes F times longer (default 4)\n"
		"  /admin/fault?mode=503            health fails (triton: 400), new requests get 503\n"
		"  /admin/fault?mode=hang           accept connections but never answer; streams stall\n"
		"  /admin/fault?mode=die            exit at once (status 1), no response\n"
		"  /admin/fault?mode=badmetrics&kind=nan|inf|ninf|negative|duplicate\n"
		"                                   /metrics carries a bad generated-tokens sample (the\n"
		"                                   counter every lb-agent profile reads): NaN, +Inf, -Inf,\n"
		"                                   -1, or the series twice (the second with its labels\n"
		"                                   in another order where it has several)\n"
		"  /admin/fault?mode=none           clear the fault\n"
		"/admin is exempt from hang so the fault can be cleared.\n");
}


/* Names end up inside JSON strings and headers unescaped, so keep them plain. */
static const char *parse_name(const char *s, const char *what)
{
	size_t n = strlen(s);

	if (n == 0 || n > 128 || strspn(s, "abcdefghijklmnopqrstuvwxyz"
				      "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "0123456789._-/:@") != n) {
		fprintf(stderr, "gpusim: %s must be 1..128 chars of [A-Za-z0-9._-/:@]\n",
			what);
		exit(2);
	}
	return s;
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "bind", required_argument, NULL, 'b' },
		{ "engine", required_argument, NULL, 'e' },
		{ "model", required_argument, NULL, 'm' },
		{ "name", required_argument, NULL, 'n' },
		{ "batch", required_argument, NULL, 'B' },
		{ "token-ms", required_argument, NULL, 't' },
		{ "prefill-us-per-token", required_argument, NULL, 'P' },
		{ "kv-tokens", required_argument, NULL, 'k' },
		{ "startup-ms", required_argument, NULL, 's' },
		{ "max-queue", required_argument, NULL, 'q' },
		{ "max-conns", required_argument, NULL, 'c' },
		{ "idle-timeout", required_argument, NULL, 'i' },
		{ "triton-kv", required_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'p':
			opt.port = sim_parse_uint("gpusim", optarg, "--port", 1, 65535);
			break;
		case 'b':
			opt.bind = optarg;
			break;
		case 'e': {
			unsigned i;

			for (i = 0; i < 4; i++)
				if (!strcmp(optarg, engine_names[i]))
					break;
			if (i == 4) {
				fprintf(stderr, "gpusim: --engine must be vllm|sglang|tgi|triton\n");
				exit(2);
			}
			opt.engine = (enum engine_kind)i;
			break;
		}
		case 'm':
			opt.model = parse_name(optarg, "--model");
			break;
		case 'n':
			opt.name = parse_name(optarg, "--name");
			break;
		case 'B':
			opt.batch = sim_parse_uint("gpusim", optarg, "--batch", 1, 4096);
			break;
		case 't':
			opt.token_ms = sim_parse_double("gpusim", optarg, "--token-ms", 0.1, 60000);
			break;
		case 'P':
			opt.prefill_us = sim_parse_double("gpusim", optarg, "--prefill-us-per-token", 0, 1e6);
			break;
		case 'k':
			opt.kv_tokens = sim_parse_uint("gpusim", optarg, "--kv-tokens", 1, 1u << 30);
			break;
		case 's':
			opt.startup_ms = sim_parse_uint("gpusim", optarg, "--startup-ms", 0, 3600000);
			break;
		case 'q':
			opt.max_queue = sim_parse_uint("gpusim", optarg, "--max-queue", 0, 1u << 20);
			break;
		case 'c':
			opt.max_conns = sim_parse_uint("gpusim", optarg, "--max-conns", 1, 65536);
			break;
		case 'i':
			opt.idle_timeout = sim_parse_uint("gpusim", optarg, "--idle-timeout", 0, 86400);
			break;
		case 'K':
			if (!strcmp(optarg, "fraction")) {
				opt.triton_kv = TKV_FRACTION;
			} else if (!strcmp(optarg, "blocks")) {
				opt.triton_kv = TKV_BLOCKS;
			} else {
				fprintf(stderr, "gpusim: --triton-kv must be fraction|blocks\n");
				exit(2);
			}
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

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
	char addr[INET6_ADDRSTRLEN + 2];
	struct MHD_Daemon *d;
	pthread_condattr_t ca;
	pthread_t tid;
	sigset_t set;
	bool v6;
	int sig;

	parse_args(argc, argv);

	if (sim_parse_bind(opt.bind, opt.port, &ss, addr, sizeof(addr), &v6)) {
		fprintf(stderr, "gpusim: bad --bind address '%s'\n", opt.bind);
		return 2;
	}
	/* "[::]" should also take IPv4, as the usual servers do */
	if (v6)
		flags |= MHD_USE_DUAL_STACK;

	eng.run = calloc(opt.batch, sizeof(*eng.run));
	if (!eng.run)
		return 1;
	/* Relative waits must not jump with the wall clock. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&eng.cv, &ca);
	eng.ready_at = now_ns() + (int64_t)opt.startup_ms * 1000000;

	/* All threads inherit this mask; main takes the signals with sigwait. */
	sim_block_signals(&set);

	if (pthread_create(&tid, NULL, scheduler, NULL)) {
		fprintf(stderr, "gpusim: cannot start scheduler\n");
		return 1;
	}

	/*
	 * vLLM and TGI have no listening socket while the model loads, so
	 * connections are refused; emulate that by not listening yet.
	 */
	if (opt.engine == ENG_VLLM || opt.engine == ENG_TGI) {
		struct timespec ts = {
			.tv_sec = opt.startup_ms / 1000,
			.tv_nsec = (long)(opt.startup_ms % 1000) * 1000000,
		};

		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
	}

	d = MHD_start_daemon(flags, (uint16_t)opt.port, NULL, NULL, handler, NULL,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
			     MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
			     MHD_OPTION_CONNECTION_LIMIT, opt.max_conns,
			     MHD_OPTION_CONNECTION_TIMEOUT, opt.idle_timeout,
			     MHD_OPTION_THREAD_STACK_SIZE, (size_t)256 * 1024,
			     MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
			     MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "gpusim: cannot listen on %s port %u\n",
			opt.bind, opt.port);
		return 1;
	}
	fprintf(stderr, "gpusim: %s engine=%s listening on %s port %u\n",
		opt.name, engine_names[opt.engine], opt.bind, opt.port);

	sigwait(&set, &sig);
	/*
	 * Handlers may be blocked on the engine for a long time; a simulator
	 * need not drain them, so exit without MHD_stop_daemon.
	 */
	fprintf(stderr, "gpusim: signal %d, exiting\n", sig);
	return 0;
}
