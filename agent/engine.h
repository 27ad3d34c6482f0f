/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * engine.h - engine profiles: turn one /metrics scrape of an inference
 * server into the three load signals lb-agent balances on: waiting
 * requests, running requests and KV-cache use (a fraction, 0..1).
 *
 * Aggregation over the series of one scrape (several model_name, engine
 * (DP rank) or model/version labels):
 *   - waiting and running are SUMMED: they count requests, and requests
 *     of every model on the server compete for the same backend.
 *   - kv_use takes the MAX: it is a fraction, so a sum could pass 1 and
 *     mean nothing; an average would hide one full pool behind an idle
 *     one, while the fullest pool is what makes new requests queue (vLLM
 *     DP ranks and Triton models each own a KV pool). The result is
 *     clamped to [0, 1].
 * Non-finite values (NaN, +Inf, -Inf) are ignored as if the series were
 * absent: NaN is what exporters emit for "no data yet", and an infinite
 * gauge is an exporter bug, not a load level. A signal with no finite
 * sample has has_* = false; the policy decides what unknown means.
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
};

/* Metric names of the "generic" engine, from the config; NULL = none. */
struct lb_generic_names {
	const char *waiting;
	const char *running;
	const char *kv;		/* a 0..1 fraction */
};

/* "vllm", "sglang", "tgi", "triton", "generic" -> 0, else -EINVAL. */
int lb_engine_parse_name(const char *s, enum lb_engine *out);
const char *lb_engine_name(enum lb_engine e);

/*
 * Parse @text and fill @out. @names is used (and required) only for
 * LB_ENGINE_GENERIC. Returns 0, or a negative errno from prom_parse()
 * (with @err filled) or -EINVAL for a bad engine / missing names; on
 * error @out holds no signal (all has_* false).
 *
 * Names per engine (fallbacks used only when the first name has no
 * finite sample in the scrape):
 *   vllm:   vllm:num_requests_waiting, vllm:num_requests_running,
 *           vllm:kv_cache_usage_perc, else vllm:gpu_cache_usage_perc
 *   sglang: sglang:num_queue_reqs, sglang:num_running_reqs,
 *           sglang:token_usage
 *   tgi:    tgi_queue_size, tgi_batch_current_size (no KV signal)
 *   triton: nv_trt_llm_request_metrics{request_type="waiting"} else
 *           nv_inference_pending_request_count,
 *           nv_trt_llm_request_metrics{request_type="scheduled"},
 *           nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type="fraction"}
 */
int lb_engine_extract(enum lb_engine e, const struct lb_generic_names *names,
		      const char *text, size_t len, struct lb_signals *out,
		      struct prom_error *err);

/*
 * DCGM exporter: the largest DCGM_FI_DEV_XID_ERRORS over all GPUs (the
 * gauge holds the last XID seen; non-zero means a GPU fault). *out is 0
 * if there is no such series. Returns the number of finite series seen
 * (>= 0) or a negative errno from prom_parse().
 */
int lb_dcgm_xid_errors(const char *text, size_t len, double *out,
		       struct prom_error *err);

#endif /* INFERLB_ENGINE_H */
