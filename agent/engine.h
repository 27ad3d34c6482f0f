/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * engine.h - engine profiles: turn one /metrics scrape of an inference
 * server into the load signals lb-agent balances on: waiting requests,
 * running requests, KV-cache use (a fraction, 0..1), and, where the engine
 * exports them, its cumulative generated-token and finished-request
 * counters and its configured number of batch slots.
 *
 * Aggregation over the series of one scrape (several model_name, engine
 * (DP rank) or model/version labels):
 *   - waiting, running, gen_tokens, completed and slots are SUMMED: they
 *     count requests, tokens or sequences, and those of every model or DP
 *     rank on the server share the same backend (slots summed like
 *     running keeps running/slots meaningful);
 *   - kv_use takes the MAX: it is a fraction, so a sum could pass 1 and
 *     mean nothing; an average would hide one full pool behind an idle
 *     one, while the fullest pool is what makes new requests queue (vLLM
 *     DP ranks and Triton models each own a KV pool). A KV value above 1
 *     is clamped to 1 (engines briefly report a little over 1 while they
 *     preempt; it still means "full"), never rejected.
 *
 * Bad metrics: every sample of a name the profile reads (the names in the
 * table below, with any label values, fallbacks included) must be
 * finite, must not be negative (all of them count requests, tokens,
 * blocks or a KV fraction), and no series (name plus label set, label
 * order not significant, an empty label value the same as no label) may
 * appear twice; a sum that overflows to +Inf counts as non-finite.
 * Otherwise the whole scrape is a bad answer: lb_engine_extract() returns
 * -EBADMSG with no signal, and lb_engine_extract_ex() also says why (enum
 * lb_bad_metrics). The old
 * rule, "a non-finite sample counts as absent", turned an exporter bug
 * into a worker with no signal, which the policy drained; a bad answer
 * keeps the worker's last good signals instead (the caller's choice).
 * Samples of names the profile does not read are not looked at at all
 * (prom_parse_only), so NaN in an unrelated family is fine.
 * Duplicates are found through a 64-bit hash of each series, for the
 * first LB_ENGINE_DUP_CHECKED samples read from a scrape (memory is
 * bounded; samples past that are still checked for NaN/Inf/negative).
 */
#ifndef INFERLB_ENGINE_H
#define INFERLB_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include "prom.h"

enum lb_engine {
	LB_ENGINE_VLLM,
	LB_ENGINE_SGLANG,
	LB_ENGINE_TGI,
	LB_ENGINE_TRITON,
	LB_ENGINE_GENERIC,
};

struct lb_signals {
	double waiting;
	double running;
	double kv_use;		/* 0..1 */
	bool has_waiting;
	bool has_running;
	bool has_kv;
	/* Cumulative counters (they only grow while the engine runs; a
	 * restart resets them). Rates are the caller's business. */
	double gen_tokens;	/* generated (output) tokens */
	double completed;	/* finished requests */
	/* Configured maximum of concurrently running sequences. */
	double slots;
	bool has_gen_tokens;
	bool has_completed;
	bool has_slots;
};

/* Metric names of the "generic" engine, from the config; NULL = none.
 * Each is an exact sample name (for a histogram: "x_sum", "x_count"). */
struct lb_generic_names {
	const char *waiting;
	const char *running;
	const char *kv;		/* a 0..1 fraction */
	const char *gen_tokens;	/* counter of generated tokens */
	const char *completed;	/* counter of finished requests */
	const char *slots;	/* gauge: max concurrent sequences */
};

/* Why a scrape was a bad answer (lb_engine_extract_ex). */
enum lb_bad_metrics {
	LB_BAD_METRICS_NONE = 0,
	LB_BAD_METRICS_NONFINITE,	/* NaN, +Inf or -Inf */
	LB_BAD_METRICS_NEGATIVE,	/* a count or fraction below 0 */
	LB_BAD_METRICS_DUPLICATE,	/* the same series twice */
};
#define LB_BAD_METRICS_COUNT 4	/* for arrays indexed by the reason */

/* Samples of one scrape checked for duplicates (see above). */
#define LB_ENGINE_DUP_CHECKED 768

/* "none", "nonfinite", "negative", "duplicate"; "unknown" otherwise. */
const char *lb_bad_metrics_name(enum lb_bad_metrics r);

/* Does engine e count generated tokens every step (vLLM), rather than a
 * request's tokens when it finishes (SGLang, TGI, Triton; the generic
 * engine: not known, so treated as finish-credited)? The decode-speed
 * estimate (speed.h) needs a longer window for the latter. */
bool lb_engine_tokens_per_step(enum lb_engine e);

/* "vllm", "sglang", "tgi", "triton", "generic" -> 0, else -EINVAL. */
int lb_engine_parse_name(const char *s, enum lb_engine *out);
const char *lb_engine_name(enum lb_engine e);

/*
 * Parse @text and fill @out. @names is used (and required) only for
 * LB_ENGINE_GENERIC. Returns 0, or a negative errno:
 *   -EBADMSG  bad metrics (see above); err->line/col point at the
 *             offending sample and err->msg names it, e.g.
 *             "line 7, col 1: NaN in vllm:num_requests_waiting{...}";
 *   -EINVAL, -E2BIG, -ENOMEM from prom_parse_only() (@err filled);
 *   -EINVAL   a bad engine or missing names.
 * On error @out holds no signal (all zero, all has_* false).
 *
 * Names per engine (a fallback is used only when the name before it has
 * no sample in the scrape; "none" = the engine exports nothing usable, so
 * has_* stays false). Sources checked, by repository and path:
 *   vLLM    vllm-project/vllm vllm/v1/metrics/loggers.py (V1) and
 *           vllm/engine/metrics.py (V0, same names)
 *   SGLang  sgl-project/sglang python/sglang/srt/metrics/collector.py
 *   TGI     huggingface/text-generation-inference router/src/server.rs,
 *           backends/v3/src/{backend,queue,lib}.rs
 *   Triton  triton-inference-server/tensorrtllm_backend
 *           inflight_batcher_llm/src/custom_metrics_reporter/
 *           custom_metrics_reporter.cc and src/model_instance_state.cc
 *           (now NVIDIA/TensorRT-LLM triton_backend/...), labels
 *           model and version on every series
 *
 * vllm:
 *   waiting     vllm:num_requests_waiting
 *   running     vllm:num_requests_running
 *   kv          vllm:kv_cache_usage_perc, else vllm:gpu_cache_usage_perc
 *   gen_tokens  vllm:generation_tokens_total (counted every engine step)
 *   completed   vllm:request_success_total, all finished_reason values
 *               (stop, length, abort, ...)
 *   slots       none: max_num_seqs is not exported (vllm:cache_config_info
 *               carries the CacheConfig only)
 * sglang:
 *   waiting     sglang:num_queue_reqs
 *   running     sglang:num_running_reqs
 *   kv          sglang:token_usage
 *   gen_tokens  sglang:generation_tokens_total (credited when a request
 *               finishes, with all its tokens)
 *   completed   sglang:num_requests_total (incremented with it)
 *   slots       none: no max-running gauge (sglang:max_running_requests
 *               existed only in the 2024 exporter, whose running/waiting
 *               names this profile does not read;
 *               sglang:max_running_requests_under_SLO is an estimate, not
 *               the configured limit)
 * tgi:
 *   waiting     tgi_queue_size
 *   running     tgi_batch_current_size
 *   kv          none
 *   gen_tokens  tgi_request_generated_tokens_sum (a histogram observed
 *               once per successful request, at its end)
 *   completed   tgi_request_generated_tokens_count (the same observations;
 *               tgi_request_success counts the same events)
 *   slots       none: --max-batch-size is not exported
 *               (tgi_batch_max_total_tokens is in tokens)
 * triton (TensorRT-LLM backend):
 *   waiting     nv_trt_llm_request_metrics{request_type="waiting"} (since
 *               v0.18), else nv_inference_pending_request_count (Triton
 *               core)
 *   running     nv_trt_llm_request_metrics{request_type="scheduled"}
 *   kv          nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=
 *               "fraction"}, else (backends before v0.18, 2025-04,
 *               had no "fraction") "used" / "max" of the same family
 *               per model (series grouped by their model and version
 *               labels; "used" and "max" each summed within a group),
 *               max over models; a model with max <= 0 or without both
 *               is skipped; past LB_TRITON_KV_MODELS models the fallback
 *               gives no signal
 *   gen_tokens  nv_llm_output_token_len_sum{response_metric_type=
 *               "total_output_tokens"} (histogram observed once per
 *               finished request, since backend v0.16, 2024-12)
 *   completed   nv_llm_output_token_len_count{response_metric_type=
 *               "total_output_tokens"} (the same observations; Triton
 *               core's nv_inference_request_success is not used: an
 *               ensemble counts each request once per composing model)
 *   slots       nv_trt_llm_request_metrics{request_type="max"} (the
 *               executor's maxNumActiveRequests)
 * generic: the configured names (struct lb_generic_names), any labels;
 *   kv max-aggregated and clamped, the others summed.
 */
int lb_engine_extract(enum lb_engine e, const struct lb_generic_names *names,
		      const char *text, size_t len, struct lb_signals *out,
		      struct prom_error *err);

/* The same; @bad (may be NULL) receives the reason when the result is
 * -EBADMSG, LB_BAD_METRICS_NONE otherwise. */
int lb_engine_extract_ex(enum lb_engine e,
			 const struct lb_generic_names *names,
			 const char *text, size_t len, struct lb_signals *out,
			 struct prom_error *err, enum lb_bad_metrics *bad);

/* Models the Triton used/max KV fallback tracks in one scrape. */
#define LB_TRITON_KV_MODELS 64

/*
 * DCGM exporter: the largest DCGM_FI_DEV_XID_ERRORS over all GPUs (the
 * gauge holds the last XID seen; non-zero means a GPU fault). *out is 0
 * if there is no such series. Returns the number of finite series seen
 * (>= 0) or a negative errno from prom_parse().
 */
int lb_dcgm_xid_errors(const char *text, size_t len, double *out,
		       struct prom_error *err);

#endif /* INFERLB_ENGINE_H */
