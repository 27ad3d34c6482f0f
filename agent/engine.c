// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * engine.c - engine profiles over the streaming Prometheus parser.
 *
 * One callback per scrape folds each relevant sample into accumulators
 * (sum for request counts, max for the KV fraction, see engine.h); the
 * fallback names are folded separately and chosen at the end, so the
 * order of families in the scrape does not matter. Nothing is kept
 * between scrapes and a parse error discards the whole scrape.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "engine.h"

struct acc {
	double v;
	bool seen;
};

struct extract {
	enum lb_engine e;
	const struct lb_generic_names *g;
	struct acc waiting, running, kv;
	struct acc waiting_fb, kv_fb;	/* fallback names */
};

static void acc_sum(struct acc *a, double v)
{
	a->v = a->seen ? a->v + v : v;
	a->seen = true;
}

static void acc_max(struct acc *a, double v)
{
	a->v = a->seen && a->v >= v ? a->v : v;
	a->seen = true;
}

static bool name_is(const char *a, const char *b)
{
	return b && strcmp(a, b) == 0;
}

static bool label_is(const struct prom_sample *s, const char *name,
		     const char *value)
{
	const char *v = prom_label_get(s, name);

	return v && strcmp(v, value) == 0;
}

static int extract_cb(void *ctx, const struct prom_sample *s)
{
	struct extract *x = ctx;
	const char *n = s->name;
	double v = s->value;

	if (!isfinite(v))
		return 0;

	switch (x->e) {
	case LB_ENGINE_VLLM:
		if (name_is(n, "vllm:num_requests_waiting"))
			acc_sum(&x->waiting, v);
		else if (name_is(n, "vllm:num_requests_running"))
			acc_sum(&x->running, v);
		else if (name_is(n, "vllm:kv_cache_usage_perc"))
			acc_max(&x->kv, v);
		else if (name_is(n, "vllm:gpu_cache_usage_perc"))
			acc_max(&x->kv_fb, v);
		break;
	case LB_ENGINE_SGLANG:
		if (name_is(n, "sglang:num_queue_reqs"))
			acc_sum(&x->waiting, v);
		else if (name_is(n, "sglang:num_running_reqs"))
			acc_sum(&x->running, v);
		else if (name_is(n, "sglang:token_usage"))
			acc_max(&x->kv, v);
		break;
	case LB_ENGINE_TGI:
		if (name_is(n, "tgi_queue_size"))
			acc_sum(&x->waiting, v);
		else if (name_is(n, "tgi_batch_current_size"))
			acc_sum(&x->running, v);
		break;
	case LB_ENGINE_TRITON:
		if (name_is(n, "nv_trt_llm_request_metrics")) {
			if (label_is(s, "request_type", "waiting"))
				acc_sum(&x->waiting, v);
			else if (label_is(s, "request_type", "scheduled"))
				acc_sum(&x->running, v);
		} else if (name_is(n, "nv_trt_llm_kv_cache_block_metrics")) {
			if (label_is(s, "kv_cache_block_type", "fraction"))
				acc_max(&x->kv, v);
		} else if (name_is(n, "nv_inference_pending_request_count")) {
			acc_sum(&x->waiting_fb, v);
		}
		break;
	case LB_ENGINE_GENERIC:
		if (name_is(n, x->g->waiting))
			acc_sum(&x->waiting, v);
		if (name_is(n, x->g->running))
			acc_sum(&x->running, v);
		if (name_is(n, x->g->kv))
			acc_max(&x->kv, v);
		break;
	}
	return 0;
}

static const char *const engine_names[] = {
	[LB_ENGINE_VLLM] = "vllm",
	[LB_ENGINE_SGLANG] = "sglang",
	[LB_ENGINE_TGI] = "tgi",
	[LB_ENGINE_TRITON] = "triton",
	[LB_ENGINE_GENERIC] = "generic",
};

int lb_engine_parse_name(const char *s, enum lb_engine *out)
{
	size_t i;

	if (!s)
		return -EINVAL;
	for (i = 0; i < sizeof(engine_names) / sizeof(engine_names[0]); i++) {
		if (strcmp(s, engine_names[i]) == 0) {
			*out = (enum lb_engine)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *lb_engine_name(enum lb_engine e)
{
	if ((unsigned int)e >= sizeof(engine_names) / sizeof(engine_names[0]))
		return "unknown";
	return engine_names[e];
}

/* The sample names extract_cb() looks at, per engine: only those lines
 * are parsed (prom_parse_only). gen[4] holds the generic engine's list. */
static const char *const *wanted(enum lb_engine e,
				 const struct lb_generic_names *g,
				 const char *gen[4])
{
	static const char *const vllm[] = {
		"vllm:num_requests_waiting", "vllm:num_requests_running",
		"vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", NULL };
	static const char *const sglang[] = {
		"sglang:num_queue_reqs", "sglang:num_running_reqs",
		"sglang:token_usage", NULL };
	static const char *const tgi[] = {
		"tgi_queue_size", "tgi_batch_current_size", NULL };
	static const char *const triton[] = {
		"nv_trt_llm_request_metrics", "nv_trt_llm_kv_cache_block_metrics",
		"nv_inference_pending_request_count", NULL };
	int n = 0;

	switch (e) {
	case LB_ENGINE_VLLM:
		return vllm;
	case LB_ENGINE_SGLANG:
		return sglang;
	case LB_ENGINE_TGI:
		return tgi;
	case LB_ENGINE_TRITON:
		return triton;
	case LB_ENGINE_GENERIC:
		break;
	}
	if (g->waiting)
		gen[n++] = g->waiting;
	if (g->running)
		gen[n++] = g->running;
	if (g->kv)
		gen[n++] = g->kv;
	gen[n] = NULL;
	return gen;
}

int lb_engine_extract(enum lb_engine e, const struct lb_generic_names *names,
		      const char *text, size_t len, struct lb_signals *out,
		      struct prom_error *err)
{
	struct extract x = { .e = e, .g = names };
	const char *gen[4];
	int rc;

	memset(out, 0, sizeof(*out));
	if ((unsigned int)e > LB_ENGINE_GENERIC ||
	    (e == LB_ENGINE_GENERIC && !names))
		return -EINVAL;
	rc = prom_parse_only(text, len, wanted(e, names, gen), extract_cb, &x,
			     err);
	if (rc < 0)
		return rc;

	if (!x.waiting.seen)
		x.waiting = x.waiting_fb;
	if (!x.kv.seen)
		x.kv = x.kv_fb;
	out->waiting = x.waiting.v;
	out->has_waiting = x.waiting.seen;
	out->running = x.running.v;
	out->has_running = x.running.seen;
	if (x.kv.seen) {
		out->kv_use = x.kv.v < 0 ? 0 : x.kv.v > 1 ? 1 : x.kv.v;
		out->has_kv = true;
	}
	return 0;
}

struct xid {
	double max;
	int n;
};

static int xid_cb(void *ctx, const struct prom_sample *s)
{
	struct xid *x = ctx;

	if (strcmp(s->name, "DCGM_FI_DEV_XID_ERRORS") != 0 ||
	    !isfinite(s->value))
		return 0;
	if (!x->n || s->value > x->max)
		x->max = s->value;
	x->n++;
	return 0;
}

int lb_dcgm_xid_errors(const char *text, size_t len, double *out,
		       struct prom_error *err)
{
	struct xid x = { 0 };
	int rc;

	*out = 0;
	rc = prom_parse_only(text, len, (const char *const[]){
					"DCGM_FI_DEV_XID_ERRORS", NULL },
			     xid_cb, &x, err);
	if (rc < 0)
		return rc;
	*out = x.n ? x.max : 0;
	return x.n;
}
