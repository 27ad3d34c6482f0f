/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * test_prom.c - unit tests of the Prometheus text parser (agent/prom.c)
 * and the engine profiles (agent/engine.c).
 *
 * Fixtures in tests/fixtures/metrics/ are hand-written scrapes in each
 * engine's format; they are opened from $INFERLB_METRICS_FIXTURES or,
 * by default, relative to the repo root (tests run from there:
 * build/tests/test_prom). Malformed input is checked for the exact error
 * line and column, since operators get those in the agent's log.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine.h"
#include "prom.h"

#define EPS 1e-9

static char *load_fixture(const char *name, size_t *len)
{
	const char *dir = getenv("INFERLB_METRICS_FIXTURES");
	char path[512];
	FILE *f;
	char *buf;
	long n;

	if (!dir)
		dir = "tests/fixtures/metrics";
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open fixture %s (run from the repo root)",
			 path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Count lines that are samples: neither blank nor comments. */
static int count_sample_lines(const char *t, size_t len)
{
	int n = 0;
	size_t i = 0;

	while (i < len) {
		const char *nl = memchr(t + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - t) : len;

		if (e > i && t[i] != '#')
			n++;
		i = e + 1;
	}
	return n;
}

static void extract_fixture(enum lb_engine e,
			    const struct lb_generic_names *g,
			    const char *name, struct lb_signals *s)
{
	struct prom_error err;
	size_t len;
	char *t = load_fixture(name, &len);

	assert_int_equal(prom_parse(t, len, NULL, NULL, &err),
			 count_sample_lines(t, len));
	assert_int_equal(lb_engine_extract(e, g, t, len, s, &err), 0);
	assert_int_equal(err.line, 0);
	free(t);
}

static int extract_str(enum lb_engine e, const struct lb_generic_names *g,
		       const char *text, struct lb_signals *s)
{
	struct prom_error err;

	return lb_engine_extract(e, g, text, strlen(text), s, &err);
}

/* No signal at all: what every error must leave behind. */
static void assert_no_signal(const struct lb_signals *s)
{
	static const struct lb_signals zero;

	assert_memory_equal(s, &zero, sizeof(zero));
}

/* Extracts @text, which must be a bad answer for @why; returns the error
 * so that the caller can check line and message. */
static struct prom_error extract_bad(enum lb_engine e,
				     const struct lb_generic_names *g,
				     const char *text, enum lb_bad_metrics why)
{
	struct prom_error err;
	struct lb_signals s;
	enum lb_bad_metrics bad = LB_BAD_METRICS_NONE;
	int rc;

	memset(&s, 0xa5, sizeof(s));
	rc = lb_engine_extract_ex(e, g, text, strlen(text), &s, &err, &bad);
	if (rc != -EBADMSG || bad != why)
		fail_msg("rc %d reason %s (want -EBADMSG, %s): %s", rc,
			 lb_bad_metrics_name(bad), lb_bad_metrics_name(why),
			 err.msg);
	assert_no_signal(&s);
	/* the plain call rejects it the same way, without the reason */
	memset(&s, 0xa5, sizeof(s));
	assert_int_equal(lb_engine_extract(e, g, text, strlen(text), &s, &err),
			 -EBADMSG);
	assert_no_signal(&s);
	return err;
}

/* ---- engines on fixtures ---- */

static void test_vllm_fixture(void **state)
{
	struct lb_signals s;

	(void)state;
	extract_fixture(LB_ENGINE_VLLM, NULL, "vllm.txt", &s);
	/* Two DP engines: counts summed, KV the fuller pool. */
	assert_true(s.has_waiting && s.has_running && s.has_kv);
	assert_float_equal(s.waiting, 5.0, EPS);
	assert_float_equal(s.running, 25.0, EPS);
	assert_float_equal(s.kv_use, 0.71, EPS);
	/* generation tokens of both engines; every finished_reason of both */
	assert_true(s.has_gen_tokens && s.has_completed);
	assert_float_equal(s.gen_tokens, 1184502.0 + 1133877.0, EPS);
	assert_float_equal(s.completed, 5521 + 212 + 7 + 5390 + 198 + 4, EPS);
	assert_false(s.has_slots);	/* vLLM does not export max_num_seqs */
	assert_float_equal(s.slots, 0.0, EPS);
}

static void test_vllm_v0_fallback(void **state)
{
	struct lb_signals s;

	(void)state;
	extract_fixture(LB_ENGINE_VLLM, NULL, "vllm_v0.txt", &s);
	assert_float_equal(s.waiting, 1.0, EPS);
	assert_float_equal(s.running, 9.0, EPS);
	assert_true(s.has_kv);
	assert_float_equal(s.kv_use, 0.3375, EPS);
	assert_float_equal(s.gen_tokens, 52113.0, EPS);
	assert_float_equal(s.completed, 313.0, EPS);
	assert_false(s.has_slots);
}

static void test_vllm_new_name_wins(void **state)
{
	struct lb_signals s;

	(void)state;
	/* Old name first and higher: the new name must still win. */
	assert_int_equal(extract_str(LB_ENGINE_VLLM, NULL,
		"vllm:gpu_cache_usage_perc{model_name=\"m\"} 0.9\n"
		"vllm:kv_cache_usage_perc{model_name=\"m\"} 0.2\n", &s), 0);
	assert_float_equal(s.kv_use, 0.2, EPS);
	/* Only the old name: fall back to it. */
	assert_int_equal(extract_str(LB_ENGINE_VLLM, NULL,
		"vllm:gpu_cache_usage_perc{model_name=\"m\"} 0.4\n", &s), 0);
	assert_float_equal(s.kv_use, 0.4, EPS);
	/* The new name NaN: not "absent" any more, the scrape is bad (the
	 * fallback is read too, so it may not be NaN either). */
	extract_bad(LB_ENGINE_VLLM, NULL,
		    "vllm:kv_cache_usage_perc{model_name=\"m\"} NaN\n"
		    "vllm:gpu_cache_usage_perc{model_name=\"m\"} 0.4\n",
		    LB_BAD_METRICS_NONFINITE);
	extract_bad(LB_ENGINE_VLLM, NULL,
		    "vllm:kv_cache_usage_perc{model_name=\"m\"} 0.4\n"
		    "vllm:gpu_cache_usage_perc{model_name=\"m\"} NaN\n",
		    LB_BAD_METRICS_NONFINITE);
}

static void test_sglang_fixture(void **state)
{
	struct lb_signals s;

	(void)state;
	extract_fixture(LB_ENGINE_SGLANG, NULL, "sglang.txt", &s);
	assert_float_equal(s.waiting, 7.0, EPS);
	assert_float_equal(s.running, 22.0, EPS);
	assert_true(s.has_kv);
	assert_float_equal(s.kv_use, 0.41, EPS);
	assert_true(s.has_gen_tokens && s.has_completed);
	assert_float_equal(s.gen_tokens, 2.204e6, EPS);
	/* num_requests_total, not num_aborted_requests_total */
	assert_float_equal(s.completed, 5702.0, EPS);
	assert_false(s.has_slots);
}

static void test_tgi_fixture(void **state)
{
	struct lb_signals s;

	(void)state;
	extract_fixture(LB_ENGINE_TGI, NULL, "tgi.txt", &s);
	assert_true(s.has_waiting && s.has_running);
	assert_float_equal(s.waiting, 4.0, EPS);
	assert_float_equal(s.running, 32.0, EPS);
	assert_false(s.has_kv);
	/* the generated-tokens histogram: _sum and _count, not the buckets */
	assert_true(s.has_gen_tokens && s.has_completed);
	assert_float_equal(s.gen_tokens, 21937442.0, EPS);
	assert_float_equal(s.completed, 90987.0, EPS);
	assert_false(s.has_slots);
}

static void test_triton_fixture(void **state)
{
	struct lb_signals s;

	(void)state;
	extract_fixture(LB_ENGINE_TRITON, NULL, "triton.txt", &s);
	/* TRT-LLM "waiting" wins over the pending count (9). */
	assert_float_equal(s.waiting, 2.0, EPS);
	assert_float_equal(s.running, 6.0, EPS);
	assert_true(s.has_kv);
	/* "fraction" (0.48) wins over used/max (1966/4096) */
	assert_float_equal(s.kv_use, 0.48, EPS);
	/* nv_llm_output_token_len, total_output_tokens; not the input one
	 * nor nv_inference_request_success (3 models x 18211) */
	assert_true(s.has_gen_tokens && s.has_completed && s.has_slots);
	assert_float_equal(s.gen_tokens, 4370640.0, EPS);
	assert_float_equal(s.completed, 18211.0, EPS);
	assert_float_equal(s.slots, 64.0, EPS);
}

static void test_triton_pending_fallback(void **state)
{
	struct lb_signals s;

	(void)state;
	extract_fixture(LB_ENGINE_TRITON, NULL, "triton_pending.txt", &s);
	assert_true(s.has_waiting);
	assert_float_equal(s.waiting, 4.0, EPS);	/* 3 + 1 models */
	assert_false(s.has_running);
	assert_false(s.has_kv);
	assert_false(s.has_gen_tokens || s.has_completed || s.has_slots);
}

/* A TensorRT-LLM backend before v0.18: no "fraction", no "waiting". */
static void test_triton_blocks_fallback(void **state)
{
	struct lb_signals s;

	(void)state;
	extract_fixture(LB_ENGINE_TRITON, NULL, "triton_blocks.txt", &s);
	assert_true(s.has_waiting && s.has_running && s.has_kv);
	assert_float_equal(s.waiting, 5.0, EPS);	/* pending: 2 + 3 */
	assert_float_equal(s.running, 19.0, EPS);	/* 10 + 9 */
	/* llama_8b 1024/4096, mistral_7b 2700/3600; "draft" (max 0, used 5)
	 * is skipped rather than being infinitely full */
	assert_float_equal(s.kv_use, 0.75, EPS);
	assert_float_equal(s.slots, 96.0, EPS);		/* 64 + 32 + 0 */
	assert_float_equal(s.gen_tokens, 171000.0, EPS);
	assert_float_equal(s.completed, 1100.0, EPS);
}

static void test_triton_blocks_rules(void **state)
{
	struct lb_signals s;
	char *buf;
	size_t n = 0, cap = 65536;
	int i;

#define KV(type, model, version, v) \
	"nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"" type \
	"\",model=\"" model "\",version=\"" version "\"} " v "\n"
	(void)state;
	/* the model and version labels both tell pools apart */
	assert_int_equal(extract_str(LB_ENGINE_TRITON, NULL,
		KV("used", "a", "1", "10") KV("max", "a", "1", "100")
		KV("used", "a", "2", "30") KV("max", "a", "2", "100")
		KV("max", "b", "1", "100") KV("used", "b", "1", "20"), &s), 0);
	assert_float_equal(s.kv_use, 0.3, EPS);
	/* one fraction series anywhere: the fractions win, used/max unused */
	assert_int_equal(extract_str(LB_ENGINE_TRITON, NULL,
		KV("used", "a", "1", "90") KV("max", "a", "1", "100")
		KV("fraction", "b", "1", "0.2"), &s), 0);
	assert_float_equal(s.kv_use, 0.2, EPS);
	/* used without max, max without used, max 0: no KV signal */
	assert_int_equal(extract_str(LB_ENGINE_TRITON, NULL,
		KV("used", "a", "1", "90") KV("max", "b", "1", "100")
		KV("used", "c", "1", "1") KV("max", "c", "1", "0")
		KV("free", "d", "1", "5") KV("tokens_per", "d", "1", "64"),
		&s), 0);
	assert_false(s.has_kv);
	/* used above max (as while preempting): clamped like a fraction */
	assert_int_equal(extract_str(LB_ENGINE_TRITON, NULL,
		KV("used", "a", "1", "120") KV("max", "a", "1", "100"), &s), 0);
	assert_float_equal(s.kv_use, 1.0, EPS);
	/* more models than the fallback tracks: no KV signal rather than a
	 * max over some of them; the other signals are unaffected */
	buf = malloc(cap);
	assert_non_null(buf);
	for (i = 0; i <= LB_TRITON_KV_MODELS; i++)
		n += (size_t)snprintf(buf + n, cap - n,
			KV("used", "m%d", "1", "%d") KV("max", "m%d", "1", "10"),
			i, i == LB_TRITON_KV_MODELS ? 9 : 1, i);
	snprintf(buf + n, cap - n, "nv_trt_llm_request_metrics{model=\"m0\","
		 "request_type=\"scheduled\",version=\"1\"} 3\n");
	assert_int_equal(extract_str(LB_ENGINE_TRITON, NULL, buf, &s), 0);
	assert_false(s.has_kv);
	assert_float_equal(s.running, 3.0, EPS);
	/* one model fewer: the fallback works (max of the 64 is 0.1) */
	n = 0;
	for (i = 0; i < LB_TRITON_KV_MODELS; i++)
		n += (size_t)snprintf(buf + n, cap - n,
			KV("used", "m%d", "1", "%d") KV("max", "m%d", "1", "10"),
			i, 1, i);
	assert_int_equal(extract_str(LB_ENGINE_TRITON, NULL, buf, &s), 0);
	assert_float_equal(s.kv_use, 0.1, EPS);
	free(buf);
#undef KV
}

static void test_dcgm_fixture(void **state)
{
	struct prom_error err;
	size_t len;
	char *t = load_fixture("dcgm.txt", &len);
	double xid = -1;

	(void)state;
	assert_int_equal(lb_dcgm_xid_errors(t, len, &xid, &err), 2);
	assert_float_equal(xid, 79.0, EPS);
	free(t);
	assert_int_equal(lb_dcgm_xid_errors("", 0, &xid, &err), 0);
	assert_float_equal(xid, 0.0, EPS);
	assert_int_equal(lb_dcgm_xid_errors("DCGM_FI_DEV_XID_ERRORS{", 23,
					    &xid, &err), -EINVAL);
	assert_float_equal(xid, 0.0, EPS);
}

static void test_generic_names(void **state)
{
	struct lb_generic_names g = {
		.waiting = "my_queue", .running = "my_active", .kv = "my_kv",
		.gen_tokens = "my_out_tokens_total",
		.completed = "my_done_total", .slots = "my_max_batch",
	};
	struct lb_generic_names only_q = { .waiting = "tgi_queue_size" };
	struct lb_generic_names tgi_hist = {
		.gen_tokens = "tgi_request_generated_tokens_sum",
		.completed = "tgi_request_success",
	};
	struct lb_signals s;

	(void)state;
	assert_int_equal(extract_str(LB_ENGINE_GENERIC, &g,
		"# TYPE my_queue gauge\nmy_queue{m=\"a\"} 2\nmy_queue{m=\"b\"} 3\n"
		"my_active 7\nmy_kv{pool=\"0\"} 0.25\nmy_kv{pool=\"1\"} 1.5\n"
		"my_out_tokens_total{m=\"a\"} 100\n"
		"my_out_tokens_total{m=\"b\"} 20\n"
		"my_done_total 4\nmy_max_batch{m=\"a\"} 16\n"
		"my_max_batch{m=\"b\"} 8\n", &s), 0);
	assert_float_equal(s.waiting, 5.0, EPS);
	assert_float_equal(s.running, 7.0, EPS);
	assert_float_equal(s.kv_use, 1.0, EPS);	/* clamped */
	assert_float_equal(s.gen_tokens, 120.0, EPS);
	assert_float_equal(s.completed, 4.0, EPS);
	assert_float_equal(s.slots, 24.0, EPS);
	assert_true(s.has_gen_tokens && s.has_completed && s.has_slots);

	extract_fixture(LB_ENGINE_GENERIC, &only_q, "tgi.txt", &s);
	assert_true(s.has_waiting);
	assert_float_equal(s.waiting, 4.0, EPS);
	assert_false(s.has_running);
	assert_false(s.has_kv);
	assert_false(s.has_gen_tokens || s.has_completed || s.has_slots);

	/* exact sample names: a histogram's _sum works as a counter */
	extract_fixture(LB_ENGINE_GENERIC, &tgi_hist, "tgi.txt", &s);
	assert_false(s.has_waiting || s.has_running || s.has_kv);
	assert_float_equal(s.gen_tokens, 21937442.0, EPS);
	assert_float_equal(s.completed, 90987.0, EPS);

	assert_int_equal(extract_str(LB_ENGINE_GENERIC, NULL, "x 1\n", &s),
			 -EINVAL);
}

static void test_multi_model_sum_and_nan(void **state)
{
	static const char *const bad_text =
		"vllm:num_requests_waiting 1\nvllm:num_requests_running x\n";
	struct lb_signals s;
	struct prom_error err;
	enum lb_bad_metrics bad = LB_BAD_METRICS_DUPLICATE;

	(void)state;
	/* Counts summed over models, KV the max. */
	assert_int_equal(extract_str(LB_ENGINE_VLLM, NULL,
		"vllm:num_requests_waiting{model_name=\"a\"} 1\n"
		"vllm:num_requests_waiting{model_name=\"b\"} 2.5\n"
		"vllm:num_requests_waiting{model_name=\"c\"} 0\n"
		"vllm:num_requests_running{model_name=\"a\"} 4\n"
		"vllm:kv_cache_usage_perc{model_name=\"a\"} 0.3\n"
		"vllm:kv_cache_usage_perc{model_name=\"b\"} 0.8\n"
		"vllm:kv_cache_usage_perc{model_name=\"c\"} -0\n"
		"sglang:num_queue_reqs 100\n", &s), 0);
	assert_float_equal(s.waiting, 3.5, EPS);
	assert_float_equal(s.running, 4.0, EPS);
	assert_float_equal(s.kv_use, 0.8, EPS);

	/* One NaN among them: a bad answer, no signal (it used to count as
	 * absent, which left the model's load out of the sum). */
	err = extract_bad(LB_ENGINE_VLLM, NULL,
		"vllm:num_requests_waiting{model_name=\"a\"} 1\n"
		"vllm:num_requests_waiting{model_name=\"b\"} 2.5\n"
		"vllm:num_requests_waiting{model_name=\"c\"} NaN\n"
		"vllm:num_requests_running{model_name=\"a\"} 4\n",
		LB_BAD_METRICS_NONFINITE);
	assert_int_equal(err.line, 3);
	assert_int_equal(err.col, 1);
	assert_string_equal(err.msg, "line 3, col 1: NaN in "
			    "vllm:num_requests_waiting{model_name=\"c\"}");

	/* A parse error leaves no signal, even after good lines; it is not
	 * a bad-metrics answer. */
	memset(&s, 0xa5, sizeof(s));
	assert_int_equal(lb_engine_extract_ex(LB_ENGINE_VLLM, NULL, bad_text,
		strlen(bad_text), &s, &err, &bad), -EINVAL);
	assert_int_equal(err.line, 2);
	assert_int_equal(bad, LB_BAD_METRICS_NONE);
	assert_no_signal(&s);
	/* the reason is optional */
	assert_int_equal(lb_engine_extract_ex(LB_ENGINE_VLLM, NULL, bad_text,
		28, &s, NULL, NULL), 0);	/* its first line */
	assert_float_equal(s.waiting, 1.0, EPS);
}

static void test_bad_metrics(void **state)
{
	struct prom_error err;

	(void)state;
	err = extract_bad(LB_ENGINE_SGLANG, NULL,
		"sglang:num_queue_reqs{tp_rank=\"0\"} 1\n"
		"sglang:num_running_reqs{tp_rank=\"0\"} +Inf\n",
		LB_BAD_METRICS_NONFINITE);
	assert_int_equal(err.line, 2);
	assert_non_null(strstr(err.msg, "+Inf in sglang:num_running_reqs"));
	err = extract_bad(LB_ENGINE_TGI, NULL, "x 1\n  tgi_queue_size -Inf\n",
			  LB_BAD_METRICS_NONFINITE);
	assert_int_equal(err.line, 2);
	assert_int_equal(err.col, 3);
	assert_string_equal(err.msg, "line 2, col 3: -Inf in tgi_queue_size");

	/* negative: requests, tokens, a KV fraction, a block count */
	err = extract_bad(LB_ENGINE_VLLM, NULL,
		"vllm:num_requests_running{engine=\"0\"} -1\n",
		LB_BAD_METRICS_NEGATIVE);
	assert_string_equal(err.msg, "line 1, col 1: negative value -1 in "
			    "vllm:num_requests_running{engine=\"0\"}");
	extract_bad(LB_ENGINE_VLLM, NULL,
		    "vllm:kv_cache_usage_perc{model_name=\"c\"} -0.1\n",
		    LB_BAD_METRICS_NEGATIVE);
	extract_bad(LB_ENGINE_TGI, NULL,
		    "tgi_request_generated_tokens_sum -5\n",
		    LB_BAD_METRICS_NEGATIVE);
	extract_bad(LB_ENGINE_TRITON, NULL,
		    "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type="
		    "\"used\",model=\"m\",version=\"1\"} -3\n",
		    LB_BAD_METRICS_NEGATIVE);
	/* every sample of a name the profile reads counts, also label values
	 * it does not use */
	extract_bad(LB_ENGINE_TRITON, NULL,
		    "nv_trt_llm_request_metrics{model=\"m\",request_type="
		    "\"context\",version=\"1\"} NaN\n",
		    LB_BAD_METRICS_NONFINITE);

	/* duplicate: the same label set in another order */
	err = extract_bad(LB_ENGINE_TRITON, NULL,
		"nv_trt_llm_request_metrics{model=\"m\",request_type=\"waiting\","
		"version=\"1\"} 2\n"
		"nv_trt_llm_request_metrics{model=\"m\",request_type=\"scheduled\","
		"version=\"1\"} 2\n"
		"nv_trt_llm_request_metrics{version=\"1\",request_type=\"waiting\","
		"model=\"m\"} 3\n",
		LB_BAD_METRICS_DUPLICATE);
	assert_int_equal(err.line, 3);
	assert_string_equal(err.msg,
		"line 3, col 1: duplicate of line 1: nv_trt_llm_request_metrics"
		"{version=\"1\",request_type=\"waiting\",model=\"m\"}");
	/* no labels at all; an empty label value is no label */
	extract_bad(LB_ENGINE_TGI, NULL, "tgi_queue_size 1\ntgi_queue_size 1\n",
		    LB_BAD_METRICS_DUPLICATE);
	extract_bad(LB_ENGINE_TGI, NULL,
		    "tgi_queue_size{a=\"\"} 1\ntgi_queue_size 2\n",
		    LB_BAD_METRICS_DUPLICATE);

	/* finite samples whose sum is not */
	err = extract_bad(LB_ENGINE_TGI, NULL,
		"tgi_queue_size{a=\"1\"} 1e308\ntgi_queue_size{a=\"2\"} 1e308\n",
		LB_BAD_METRICS_NONFINITE);
	assert_string_equal(err.msg, "line 2, col 1: sum overflows with "
			    "tgi_queue_size{a=\"2\"}");
	extract_bad(LB_ENGINE_TRITON, NULL,
		"nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"max\","
		"model=\"m\",pool=\"0\"} 1.5e308\n"
		"nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"max\","
		"model=\"m\",pool=\"1\"} 1.5e308\n", LB_BAD_METRICS_NONFINITE);

	/* the first bad sample is the one reported */
	err = extract_bad(LB_ENGINE_TGI, NULL,
		"tgi_queue_size 1\ntgi_batch_current_size -1\n"
		"tgi_queue_size NaN\n", LB_BAD_METRICS_NEGATIVE);
	assert_int_equal(err.line, 2);

	/* a long series is cut short in the message */
	{
		char text[400];

		snprintf(text, sizeof(text),
			 "vllm:num_requests_waiting{model_name=\"%0200d\"} NaN\n",
			 7);
		err = extract_bad(LB_ENGINE_VLLM, NULL, text,
				  LB_BAD_METRICS_NONFINITE);
	}
	assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
	assert_string_equal(err.msg + sizeof(err.msg) - 4, "...");
}

static void test_bad_metrics_not(void **state)
{
	struct lb_signals s;

	(void)state;
	/* NaN, Inf, negatives and duplicates in series the profile does not
	 * read are not its business (nor are they parsed) */
	assert_int_equal(extract_str(LB_ENGINE_VLLM, NULL,
		"python_gc_objects_collected_total{generation=\"0\"} NaN\n"
		"vllm:gpu_prefix_cache_hit_rate{model_name=\"m\"} -1.0\n"
		"vllm:prompt_tokens_total{model_name=\"m\"} +Inf\n"
		"vllm:num_requests_running{model_name=\"m\"} 3\n"
		"vllm:time_to_first_token_seconds_sum{model_name=\"m\"} NaN\n"
		"sglang:num_queue_reqs NaN\nsglang:num_queue_reqs NaN\n"
		"nv_trt_llm_request_metrics -1\n", &s), 0);
	assert_true(s.has_running);
	assert_float_equal(s.running, 3.0, EPS);
	/* same labels, other names; same name, other values of one label;
	 * a label subset; -0 is not negative */
	assert_int_equal(extract_str(LB_ENGINE_VLLM, NULL,
		"vllm:num_requests_running{engine=\"0\",model_name=\"m\"} 1\n"
		"vllm:num_requests_waiting{engine=\"0\",model_name=\"m\"} 1\n"
		"vllm:num_requests_running{engine=\"1\",model_name=\"m\"} 2\n"
		"vllm:num_requests_running{engine=\"1\"} 4\n"
		"vllm:num_requests_running{model_name=\"1\",engine=\"m\"} 8\n"
		"vllm:num_requests_waiting -0\n", &s), 0);
	assert_float_equal(s.running, 15.0, EPS);
	assert_float_equal(s.waiting, 1.0, EPS);
}

static void test_bad_metrics_fixtures(void **state)
{
	static const struct {
		const char *file;
		enum lb_engine engine;
		enum lb_bad_metrics why;
		unsigned int line;
		const char *msg;
	} fx[] = {
		{ "bad_nan.txt", LB_ENGINE_VLLM, LB_BAD_METRICS_NONFINITE, 20,
		  "NaN in vllm:kv_cache_usage_perc{engine=\"1\"" },
		{ "bad_duplicate.txt", LB_ENGINE_SGLANG,
		  LB_BAD_METRICS_DUPLICATE, 13,
		  "duplicate of line 3: sglang:num_running_reqs{tp_rank=\"0\"," },
	};
	struct prom_error err;
	struct lb_signals s;
	enum lb_bad_metrics bad;
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(fx) / sizeof(fx[0]); i++) {
		char *t = load_fixture(fx[i].file, &len);

		/* well-formed text: only the values are wrong */
		assert_int_equal(prom_parse(t, len, NULL, NULL, &err),
				 count_sample_lines(t, len));
		assert_int_equal(lb_engine_extract_ex(fx[i].engine, NULL, t,
						      len, &s, &err, &bad),
				 -EBADMSG);
		assert_int_equal(bad, fx[i].why);
		assert_int_equal(err.line, fx[i].line);
		if (!strstr(err.msg, fx[i].msg))
			fail_msg("%s: message \"%s\"", fx[i].file, err.msg);
		assert_no_signal(&s);
		free(t);
	}
}

static void test_duplicate_bound(void **state)
{
	size_t cap = 64 * (LB_ENGINE_DUP_CHECKED + 8), n;
	char *buf = malloc(cap);
	struct lb_signals s;
	int i;

	(void)state;
	assert_non_null(buf);
	/* a duplicate among the first LB_ENGINE_DUP_CHECKED samples is
	 * found ... */
	n = 0;
	for (i = 0; i < LB_ENGINE_DUP_CHECKED - 1; i++)
		n += (size_t)snprintf(buf + n, cap - n,
				      "tgi_queue_size{i=\"%d\"} 1\n", i);
	snprintf(buf + n, cap - n, "tgi_queue_size{i=\"0\"} 1\n");
	extract_bad(LB_ENGINE_TGI, NULL, buf, LB_BAD_METRICS_DUPLICATE);
	/* ... one past them is not (memory is bounded), while values are
	 * still checked */
	n = 0;
	for (i = 0; i < LB_ENGINE_DUP_CHECKED; i++)
		n += (size_t)snprintf(buf + n, cap - n,
				      "tgi_queue_size{i=\"%d\"} 1\n", i);
	snprintf(buf + n, cap - n, "tgi_queue_size{i=\"0\"} 1\n");
	assert_int_equal(extract_str(LB_ENGINE_TGI, NULL, buf, &s), 0);
	assert_float_equal(s.waiting, LB_ENGINE_DUP_CHECKED + 1, EPS);
	snprintf(buf + n, cap - n, "tgi_queue_size{i=\"0\"} NaN\n");
	extract_bad(LB_ENGINE_TGI, NULL, buf, LB_BAD_METRICS_NONFINITE);
	free(buf);
}

static void test_bad_metrics_names(void **state)
{
	(void)state;
	assert_string_equal(lb_bad_metrics_name(LB_BAD_METRICS_NONE), "none");
	assert_string_equal(lb_bad_metrics_name(LB_BAD_METRICS_NONFINITE),
			    "nonfinite");
	assert_string_equal(lb_bad_metrics_name(LB_BAD_METRICS_NEGATIVE),
			    "negative");
	assert_string_equal(lb_bad_metrics_name(LB_BAD_METRICS_DUPLICATE),
			    "duplicate");
	assert_string_equal(lb_bad_metrics_name(LB_BAD_METRICS_COUNT),
			    "unknown");
	assert_string_equal(lb_bad_metrics_name((enum lb_bad_metrics)-1),
			    "unknown");
}

static void test_engine_names(void **state)
{
	static const char *const names[] = {
		"vllm", "sglang", "tgi", "triton", "generic",
	};
	enum lb_engine e;
	size_t i;

	(void)state;
	for (i = 0; i < 5; i++) {
		assert_int_equal(lb_engine_parse_name(names[i], &e), 0);
		assert_int_equal(e, (enum lb_engine)i);
		assert_string_equal(lb_engine_name(e), names[i]);
	}
	assert_int_equal(lb_engine_parse_name("VLLM", &e), -EINVAL);
	assert_int_equal(lb_engine_parse_name("", &e), -EINVAL);
	assert_int_equal(lb_engine_parse_name(NULL, &e), -EINVAL);
}

/* ---- parser details ---- */

#define MAXREC 16

struct rec {
	int n;
	char name[MAXREC][64];
	char l0n[MAXREC][32];
	char l0v[MAXREC][64];
	unsigned int nlabels[MAXREC];
	double value[MAXREC];
	bool has_ts[MAXREC];
	int64_t ts[MAXREC];
	enum prom_type type[MAXREC];
	unsigned int line[MAXREC];
	int abort_at;		/* return -ECANCELED at this sample; -1 none */
};

static int rec_cb(void *ctx, const struct prom_sample *s)
{
	struct rec *r = ctx;
	int i = r->n;

	if (i == r->abort_at)
		return -ECANCELED;
	assert_true(i < MAXREC);
	snprintf(r->name[i], sizeof(r->name[i]), "%s", s->name);
	if (s->nlabels) {
		snprintf(r->l0n[i], sizeof(r->l0n[i]), "%s", s->labels[0].name);
		snprintf(r->l0v[i], sizeof(r->l0v[i]), "%s",
			 s->labels[0].value);
	}
	r->nlabels[i] = s->nlabels;
	r->value[i] = s->value;
	r->has_ts[i] = s->has_timestamp;
	r->ts[i] = s->timestamp_ms;
	r->type[i] = s->type;
	r->line[i] = s->line;
	r->n++;
	return 0;
}

static int parse_rec(const char *text, struct rec *r, struct prom_error *e)
{
	memset(r, 0, sizeof(*r));
	r->abort_at = -1;
	return prom_parse(text, strlen(text), rec_cb, r, e);
}

static void test_escaping(void **state)
{
	struct prom_error err;
	struct rec r;

	(void)state;
	assert_int_equal(parse_rec(
		"a{path=\"C:\\\\dir\\\\\",q=\"say \\\"hi\\\"\",nl=\"x\\ny\"} 1\n"
		"b{ k = \"}{,=#\" , } 2\n"
		"c{} 3\n", &r, &err), 3);
	assert_string_equal(r.l0v[0], "C:\\dir\\");
	assert_int_equal(r.nlabels[0], 3);
	assert_string_equal(r.l0n[1], "k");
	assert_string_equal(r.l0v[1], "}{,=#");
	assert_int_equal(r.nlabels[1], 1);
	assert_int_equal(r.nlabels[2], 0);
	assert_float_equal(r.value[2], 3.0, EPS);

	/* Check the other two values through a label lookup. */
	{
		const char *t = "a{q=\"say \\\"hi\\\"\",nl=\"x\\ny\"} 1\n";
		assert_int_equal(parse_rec(t, &r, &err), 1);
		assert_string_equal(r.l0v[0], "say \"hi\"");
		t = "a{nl=\"x\\ny\",e=\"\"} 1\n";
		assert_int_equal(parse_rec(t, &r, &err), 1);
		assert_string_equal(r.l0v[0], "x\ny");
	}
}

static void test_special_values(void **state)
{
	static const struct {
		const char *s;
		double v;	/* 1e300 marks NaN */
	} ok[] = {
		{ "NaN", 1e300 }, { "nan", 1e300 }, { "+Inf", INFINITY },
		{ "-Inf", -INFINITY }, { "Inf", INFINITY },
		{ "+infinity", INFINITY }, { "0", 0 }, { "-0.5", -0.5 },
		{ ".5", 0.5 }, { "1e3", 1000 }, { "7.31e+06", 7.31e6 },
		{ "4.139810816e+09", 4139810816.0 }, { "1E-3", 0.001 },
		{ "0x1p-2", 0.25 }, { "1e-400", 0 },
	};
	static const char *const bad[] = {
		"", "+NaN", "-nan", "1,5", "abc", "1e999", "-1e999", "nan(1)",
		" 1", "1 ", "--1", "1e", "Infx", "0.41.2",
	};
	size_t i;
	double d;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_true(prom_parse_double(ok[i].s, &d));
		if (ok[i].v == 1e300)
			assert_true(isnan(d));
		else
			assert_true(d == ok[i].v);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (prom_parse_double(bad[i], &d))
			fail_msg("accepted bad number '%s'", bad[i]);
	}
}

static void test_values_and_timestamps(void **state)
{
	struct prom_error err;
	struct rec r;

	(void)state;
	assert_int_equal(parse_rec(
		"a NaN\nb +Inf 1700000000000\nc{x=\"1\"} -Inf -5\n"
		"d\t2.5\t\t9223372036854775807  \n"
		"e 1 -9223372036854775808\n", &r, &err), 5);
	assert_true(isnan(r.value[0]));
	assert_false(r.has_ts[0]);
	assert_true(isinf(r.value[1]) && r.value[1] > 0);
	assert_true(r.has_ts[1]);
	assert_true(r.ts[1] == INT64_C(1700000000000));
	assert_true(isinf(r.value[2]) && r.value[2] < 0);
	assert_true(r.ts[2] == -5);
	assert_float_equal(r.value[3], 2.5, EPS);
	assert_true(r.ts[3] == INT64_MAX);
	assert_true(r.ts[4] == INT64_MIN);
	assert_int_equal(r.line[4], 5);
}

static void test_types_histogram_summary(void **state)
{
	struct prom_error err;
	struct rec r;

	(void)state;
	assert_int_equal(parse_rec(
		"# HELP h Latency.\n"
		"# TYPE h histogram\n"
		"h_bucket{le=\"0.1\"} 1\n"
		"h_bucket{le=\"+Inf\"} 2\n"
		"h_sum 0.3\n"
		"h_count 2\n"
		"# TYPE s summary\n"
		"s{quantile=\"0.5\"} 0.2\n"
		"s_sum 1\n"
		"s_count 4\n"
		"# TYPE u untyped\n"
		"u 1\n"
		"loose 2\n"
		"# TYPE c_total counter\n"
		"c_total 3\n"
		"h_count 5\n", &r, &err), 11);
	assert_int_equal(r.type[0], PROM_TYPE_HISTOGRAM);
	assert_int_equal(r.type[1], PROM_TYPE_HISTOGRAM);
	assert_int_equal(r.type[2], PROM_TYPE_HISTOGRAM);
	assert_int_equal(r.type[3], PROM_TYPE_HISTOGRAM);
	assert_int_equal(r.type[4], PROM_TYPE_SUMMARY);
	assert_int_equal(r.type[6], PROM_TYPE_SUMMARY);
	assert_int_equal(r.type[7], PROM_TYPE_UNTYPED);
	assert_int_equal(r.type[8], PROM_TYPE_NONE);
	assert_int_equal(r.type[9], PROM_TYPE_COUNTER);
	/* Outside its block, h_count is no longer known to be a histogram. */
	assert_int_equal(r.type[10], PROM_TYPE_NONE);
	assert_string_equal(prom_type_name(PROM_TYPE_GAUGE), "gauge");
}

static void test_blank_lines_and_comments(void **state)
{
	struct prom_error err;
	struct rec r;

	(void)state;
	assert_int_equal(parse_rec(
		"\n\n#\n# just a comment: {not=\"parsed\n"
		"#HELP a the\\\\ help\\n text\n"
		"#   TYPE a gauge\n"
		"   \t\n"
		"  a 1\n"
		"\n# TYPEx is a comment\n"
		"b 2", &r, &err), 2);
	assert_int_equal(r.type[0], PROM_TYPE_GAUGE);
	assert_int_equal(r.line[0], 8);
	assert_string_equal(r.name[1], "b");
	assert_int_equal(r.line[1], 11);
	assert_int_equal(prom_parse("", 0, NULL, NULL, &err), 0);
	assert_int_equal(prom_parse(NULL, 0, NULL, NULL, NULL), 0);
}

static void test_crlf(void **state)
{
	struct lb_signals s;
	struct prom_error err;
	struct rec r;

	(void)state;
	assert_int_equal(extract_str(LB_ENGINE_TGI, NULL,
		"# TYPE tgi_queue_size gauge\r\ntgi_queue_size 4\r\n\r\n"
		"tgi_batch_current_size 32 1000\r\n", &s), 0);
	assert_float_equal(s.waiting, 4.0, EPS);
	assert_float_equal(s.running, 32.0, EPS);
	/* A CR that does not end a line is not a line ending. */
	assert_int_equal(parse_rec("a 1\rb 2\n", &r, &err), -EINVAL);
	assert_int_equal(err.line, 1);
	/* ...but inside a label value it is just a byte. */
	assert_int_equal(parse_rec("a{x=\"\r\"} 1\r\n", &r, &err), 1);
	assert_string_equal(r.l0v[0], "\r");
}

static void test_callback_abort(void **state)
{
	struct prom_error err;
	struct rec r;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.abort_at = 1;
	assert_int_equal(prom_parse("a 1\nb 2\nc 3\n", 12, rec_cb, &r, &err),
			 -ECANCELED);
	assert_int_equal(r.n, 1);
	assert_int_equal(err.line, 2);
}

static void test_label_limit(void **state)
{
	struct prom_error err;
	char buf[4096];
	size_t n;
	int i;

	(void)state;
	n = (size_t)snprintf(buf, sizeof(buf), "m{");
	for (i = 0; i < PROM_MAX_LABELS; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "l%d=\"v\",", i);
	snprintf(buf + n, sizeof(buf) - n, "} 1\n");
	assert_int_equal(prom_parse(buf, strlen(buf), NULL, NULL, &err), 1);

	n = (size_t)snprintf(buf, sizeof(buf), "ok 1\nm{");
	for (i = 0; i <= PROM_MAX_LABELS; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "l%d=\"v\",", i);
	snprintf(buf + n, sizeof(buf) - n, "} 1\n");
	assert_int_equal(prom_parse(buf, strlen(buf), NULL, NULL, &err),
			 -E2BIG);
	assert_int_equal(err.line, 2);
	/* At the 65th label name, "l64", after "m{" and 64 labels. */
	assert_int_equal(err.col, 3 + 10 * 7 + 54 * 8);
	assert_non_null(strstr(err.msg, "more than 64 labels"));
}

static void test_line_limit(void **state)
{
	struct prom_error err;
	size_t n = PROM_MAX_LINE + 16, i;
	char *buf = malloc(n);

	(void)state;
	assert_non_null(buf);
	/* "a 1\n" then a line of exactly PROM_MAX_LINE bytes: accepted. */
	memcpy(buf, "a 1\nx{v=\"", 9);
	for (i = 9; i < 4 + PROM_MAX_LINE - 4; i++)
		buf[i] = 'y';
	memcpy(buf + i, "\"} 1", 4);
	i += 4;
	assert_int_equal(i - 4, PROM_MAX_LINE);
	assert_int_equal(prom_parse(buf, i, NULL, NULL, &err), 2);
	/* CRLF does not count towards the limit. */
	memcpy(buf + i, "\r\n", 2);
	assert_int_equal(prom_parse(buf, i + 2, NULL, NULL, &err), 2);
	/* One byte more: an error, not a truncation. */
	memmove(buf + i - 3, buf + i - 4, 4);
	buf[i - 4] = 'y';
	assert_int_equal(prom_parse(buf, i + 1, NULL, NULL, &err), -E2BIG);
	assert_int_equal(err.line, 2);
	assert_int_equal(err.col, PROM_MAX_LINE + 1);
	free(buf);
}

static void test_locale_independent(void **state)
{
	static const char *const locs[] = {
		"de_DE.UTF-8", "fr_FR.UTF-8", "tr_TR.UTF-8", "C.UTF-8",
	};
	struct lb_signals s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(locs) / sizeof(locs[0]); i++) {
		if (!setlocale(LC_ALL, locs[i]))
			continue;
		assert_int_equal(extract_str(LB_ENGINE_SGLANG, NULL,
			"sglang:token_usage 0.41\nsglang:num_queue_reqs 2.5E0\n"
			"sglang:num_running_reqs 1.5e1\n", &s), 0);
		assert_float_equal(s.kv_use, 0.41, EPS);
		assert_float_equal(s.waiting, 2.5, EPS);
		assert_float_equal(s.running, 15.0, EPS);
		/* "INF" is infinity in every locale, hence a bad answer */
		extract_bad(LB_ENGINE_SGLANG, NULL,
			    "sglang:num_queue_reqs INF\n",
			    LB_BAD_METRICS_NONFINITE);
	}
	setlocale(LC_ALL, "C");
}

/* ---- malformed text: exact line and column ---- */

static const struct bad_case {
	const char *text;
	int rc;
	unsigned int line, col;
	const char *msg;
} bad_cases[] = {
	{ "a 1\nb\n", -EINVAL, 2, 2, "missing value for metric 'b'" },
	{ "a 1\nb{x=\"1\"}\n", -EINVAL, 2, 9, "missing value" },
	{ "a 1\n\nb 0,5\n", -EINVAL, 3, 3, "invalid value '0,5'" },
	{ "b{x=\"1} 2\n", -EINVAL, 1, 10, "unterminated value of label 'x'" },
	{ "a 1\nb{x=\"a\\tb\"} 2\n", -EINVAL, 2, 7,
	  "invalid escape sequence '\\t'" },
	{ "b{x=\"a\\", -EINVAL, 1, 8, "unterminated value" },
	{ "1abc 2\n", -EINVAL, 1, 1, "invalid metric name" },
	{ "{x=\"1\"} 2\n", -EINVAL, 1, 1, "invalid metric name" },
	{ "foo-bar 1\n", -EINVAL, 1, 4, "invalid character '-'" },
	{ "a 1\n# TYPE b gauge\nb{model 1} 2\n", -EINVAL, 3, 9,
	  "expected '=' after label name 'model'" },
	{ "b{x=1} 2\n", -EINVAL, 1, 5, "expected '\"' to start value" },
	{ "b{x=\"1\" y=\"2\"} 2\n", -EINVAL, 1, 9, "expected ',' or '}'" },
	{ "b{,} 2\n", -EINVAL, 1, 3, "expected label name or '}'" },
	{ "b{1x=\"1\"} 2\n", -EINVAL, 1, 3, "expected label name" },
	{ "b{x=\"1\"", -EINVAL, 1, 8, "unterminated label set" },
	{ "b{x=\"1\",x=\"2\"} 2\n", -EINVAL, 1, 9, "duplicate label name 'x'" },
	{ "b 2 12x\n", -EINVAL, 1, 5, "invalid timestamp '12x'" },
	{ "b 2 1.5\n", -EINVAL, 1, 5, "invalid timestamp" },
	{ "b 2 99999999999999999999\n", -EINVAL, 1, 5, "invalid timestamp" },
	{ "b 2 3 4\n", -EINVAL, 1, 7, "unexpected text after timestamp" },
	{ "# TYPE b gauge\n# TYPE b counter\n", -EINVAL, 2, 17,
	  "second TYPE line" },
	{ "# TYPE b gauge\nb 1\n# TYPE b gauge\n", -EINVAL, 3, 15,
	  "after its samples" },
	{ "# TYPE b gauges\n", -EINVAL, 1, 10, "unknown metric type 'gauges'" },
	{ "# TYPE b\n", -EINVAL, 1, 9, "unknown metric type ''" },
	{ "# TYPE b gauge extra\n", -EINVAL, 1, 16, "unexpected text" },
	{ "# TYPE 0b gauge\n", -EINVAL, 1, 8, "invalid metric name in # TYPE" },
	{ "# HELP b x\n# HELP b y\n", -EINVAL, 2, 10, "second HELP line" },
	{ "# HELP b bad \\q escape\n", -EINVAL, 1, 15,
	  "invalid escape sequence '\\q' in HELP" },
	{ "# TYPE h histogram\nh_bucket{x=\"1\"} 1\n", -EINVAL, 2, 1,
	  "needs a numeric 'le' label" },
	{ "# TYPE h histogram\nh_bucket{le=\"big\"} 1\n", -EINVAL, 2, 1,
	  "'le'" },
	{ "# TYPE s summary\ns 1\n", -EINVAL, 2, 1, "'quantile'" },
	{ "a 1\nb\0 2\n", -EINVAL, 2, 2, "NUL byte" },
};

static void test_malformed(void **state)
{
	struct prom_error err;
	size_t i;
	int bad = 0;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		size_t len = strlen(c->text);
		int rc;

		if (strstr(c->msg, "NUL"))
			len = 9;
		rc = prom_parse(c->text, len, NULL, NULL, &err);
		if (rc != c->rc || err.line != c->line || err.col != c->col ||
		    !strstr(err.msg, c->msg))
			bad++, print_error("case %zu: got rc %d line %u col %u msg \"%s\"; "
				 "want rc %d line %u col %u msg ~\"%s\"", i,
				 rc, err.line, err.col, err.msg, c->rc,
				 c->line, c->col, c->msg);
	}
	assert_int_equal(bad, 0);
	/* The message leads with the position. */
	prom_parse("a 1\nb{model 1} 2\n", 16, NULL, NULL, &err);
	assert_string_equal(err.msg,
		"line 2, col 9: expected '=' after label name 'model'");
}

static void test_malformed_fixtures(void **state)
{
	static const struct {
		const char *file;
		unsigned int line;
		int seen;	/* samples delivered before the error */
		const char *msg;
		enum lb_engine engine;	/* whose signal the bad line is */
	} fx[] = {
		{ "bad_unterminated.txt", 13, 6, "unterminated value of label",
		  LB_ENGINE_VLLM },
		{ "bad_number.txt", 9, 2, "invalid value '0,41'", LB_ENGINE_SGLANG },
		{ "bad_missing_value.txt", 11, 5, "missing value", LB_ENGINE_TGI },
	};
	struct prom_error err;
	struct lb_signals s;
	struct rec r;
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(fx) / sizeof(fx[0]); i++) {
		char *t = load_fixture(fx[i].file, &len);

		memset(&r, 0, sizeof(r));
		r.abort_at = -1;
		assert_int_equal(prom_parse(t, len, rec_cb, &r, &err), -EINVAL);
		assert_int_equal(err.line, fx[i].line);
		assert_int_equal(r.n, fx[i].seen);
		assert_non_null(strstr(err.msg, fx[i].msg));
		/* the engine reading that series fails the scrape ... */
		assert_int_equal(lb_engine_extract(fx[i].engine, NULL, t, len,
						   &s, &err), -EINVAL);
		assert_int_equal(err.line, fx[i].line);
		assert_no_signal(&s);
		/* ... one that does not read it never looks at the line
		 * (prom_parse_only): it finds no signal of its own there */
		assert_int_equal(lb_engine_extract(LB_ENGINE_TRITON, NULL, t, len,
						   &s, &err), 0);
		assert_no_signal(&s);
		free(t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vllm_fixture),
		cmocka_unit_test(test_vllm_v0_fallback),
		cmocka_unit_test(test_vllm_new_name_wins),
		cmocka_unit_test(test_sglang_fixture),
		cmocka_unit_test(test_tgi_fixture),
		cmocka_unit_test(test_triton_fixture),
		cmocka_unit_test(test_triton_pending_fallback),
		cmocka_unit_test(test_triton_blocks_fallback),
		cmocka_unit_test(test_triton_blocks_rules),
		cmocka_unit_test(test_dcgm_fixture),
		cmocka_unit_test(test_generic_names),
		cmocka_unit_test(test_multi_model_sum_and_nan),
		cmocka_unit_test(test_bad_metrics),
		cmocka_unit_test(test_bad_metrics_not),
		cmocka_unit_test(test_bad_metrics_fixtures),
		cmocka_unit_test(test_duplicate_bound),
		cmocka_unit_test(test_bad_metrics_names),
		cmocka_unit_test(test_engine_names),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_special_values),
		cmocka_unit_test(test_values_and_timestamps),
		cmocka_unit_test(test_types_histogram_summary),
		cmocka_unit_test(test_blank_lines_and_comments),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_callback_abort),
		cmocka_unit_test(test_label_limit),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_locale_independent),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_malformed_fixtures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
