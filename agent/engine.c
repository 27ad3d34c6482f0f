// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * engine.c - engine profiles over the streaming Prometheus parser.
 *
 * One callback per scrape first checks each sample it is handed (only
 * samples of the profile's names, prom_parse_only) for bad values and
 * duplicate series, then folds it into accumulators (sums for counts, max
 * for the KV fraction, see engine.h). The fallback names are folded
 * separately and chosen at the end, so the order of families in the
 * scrape does not matter. The first bad sample stops the parse. Nothing
 * is kept between scrapes and any error discards the whole scrape.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "engine.h"

/* Open-addressing table of series hashes: a power of two, kept at most
 * 75% full by LB_ENGINE_DUP_CHECKED. */
#define DUP_SLOTS 1024u

_Static_assert(LB_ENGINE_DUP_CHECKED <= DUP_SLOTS * 3 / 4,
	       "duplicate table too full");

struct acc {
	double v;
	bool seen;
};

/* One Triton model's KV blocks, for the used/max fallback. */
struct kv_model {
	uint64_t key;		/* hash of its model and version labels */
	struct acc used, max;
};

/* The large part of the state (~14 KB, on the stack): only dup_hash is
 * cleared per scrape, the rest is valid where noted. */
struct tables {
	uint64_t dup_hash[DUP_SLOTS];	/* series seen; 0 = empty slot */
	unsigned int dup_line[DUP_SLOTS];	/* where dup_hash[i] != 0 */
	struct kv_model kvm[LB_TRITON_KV_MODELS];	/* below nkvm */
};

struct extract {
	enum lb_engine e;
	const struct lb_generic_names *g;
	struct tables *t;
	struct acc waiting, running, kv, gen, done, slots;
	struct acc waiting_fb, kv_fb;	/* fallback names */

	unsigned int nkvm;
	bool kvm_overflow;
	unsigned int ndup;

	bool overflow;		/* a sum went past DBL_MAX */
	enum lb_bad_metrics bad;
	/* what was bad, as err->msg without the position */
	char why[sizeof(((struct prom_error *)0)->msg)];
};

/* Sums of finite values can still overflow to +Inf: that is noted and
 * makes the scrape as bad as an infinite sample. */
static void acc_sum(struct extract *x, struct acc *a, double v)
{
	a->v = a->seen ? a->v + v : v;
	a->seen = true;
	if (!isfinite(a->v))
		x->overflow = true;
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

/* ---- series identity ---- */

/* A string hashed 8 bytes at a time (labels are long: model names). */
static uint64_t hash_str(const char *s)
{
	size_t n = strlen(s);
	uint64_t h = n * 0x9e3779b97f4a7c15ULL, w;

	for (; n >= 8; n -= 8, s += 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	w = 0;
	memcpy(&w, s, n);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 29);
}

/* splitmix64's finaliser: every input bit affects every output bit. */
static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/*
 * Hash of a series: its name and the SET of its labels. Pairs are hashed
 * one by one and added, so the label order does not matter (the parser
 * rejects a label name given twice, so a set is what a label list is).
 * A label with an empty value is left out: in Prometheus it is the same
 * series as one without that label. Never 0 (the empty-slot marker).
 */
static uint64_t series_hash(const struct prom_sample *s)
{
	uint64_t set = 0, h;
	unsigned int i;

	for (i = 0; i < s->nlabels; i++) {
		if (!s->labels[i].value[0])
			continue;
		set += mix64(hash_str(s->labels[i].name) ^
			     mix64(hash_str(s->labels[i].value) +
				   0x9e3779b97f4a7c15ULL));
	}
	h = mix64(hash_str(s->name) + mix64(set ^ 0x2545f4914f6cdd1dULL));
	return h ? h : 1;
}

/* ---- messages ---- */

struct sbuf {
	char *p;
	size_t len, cap;	/* cap includes the NUL */
	bool cut;
};

static void sput(struct sbuf *b, const char *s, size_t n)
{
	if (b->cut)
		return;
	if (n > b->cap - 1 - b->len) {
		n = b->cap - 1 - b->len;
		b->cut = true;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* A label value as in the exposition format: \\, \" and \n escaped. */
static void sput_value(struct sbuf *b, const char *v)
{
	for (; *v && !b->cut; v++) {
		if (*v == '\\')
			sput(b, "\\\\", 2);
		else if (*v == '"')
			sput(b, "\\\"", 2);
		else if (*v == '\n')
			sput(b, "\\n", 2);
		else
			sput(b, v, 1);
	}
}

/* name{a="1",b="2"} into @out (@n bytes), ending in "..." if cut short. */
static void format_series(char *out, size_t n, const struct prom_sample *s)
{
	struct sbuf b = { .p = out, .cap = n };
	unsigned int i;

	out[0] = '\0';
	sput(&b, s->name, strlen(s->name));
	if (s->nlabels)
		sput(&b, "{", 1);
	for (i = 0; i < s->nlabels; i++) {
		if (i)
			sput(&b, ",", 1);
		sput(&b, s->labels[i].name, strlen(s->labels[i].name));
		sput(&b, "=\"", 2);
		sput_value(&b, s->labels[i].value);
		sput(&b, "\"", 1);
	}
	if (s->nlabels)
		sput(&b, "}", 1);
	if (b.cut && n > 4)
		memcpy(out + n - 4, "...", 4);
}

/* ---- the checks ---- */

/* snprintf's result: a message cut short ends in "..." */
static void mark_cut(char *buf, size_t size, int n)
{
	if (n >= (int)size && size > 4)
		memcpy(buf + size - 4, "...", 4);
}

/* Records @s as bad for @why; the callback then stops the parse. */
static int bad_sample(struct extract *x, enum lb_bad_metrics why,
		      const struct prom_sample *s, unsigned int first_line)
{
	char ser[sizeof(x->why)];
	double v = s->value;
	int n;

	format_series(ser, sizeof(ser), s);
	x->bad = why;
	switch (why) {
	case LB_BAD_METRICS_NONFINITE:
		if (isfinite(v))	/* x->overflow */
			n = snprintf(x->why, sizeof(x->why),
				     "sum overflows with %s", ser);
		else
			n = snprintf(x->why, sizeof(x->why), "%s in %s",
				     isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf",
				     ser);
		break;
	case LB_BAD_METRICS_NEGATIVE:
		n = snprintf(x->why, sizeof(x->why),
			     "negative value %g in %s", v, ser);
		break;
	default:
		n = snprintf(x->why, sizeof(x->why),
			     "duplicate of line %u: %s", first_line, ser);
		break;
	}
	mark_cut(x->why, sizeof(x->why), n);
	return -EBADMSG;
}

/*
 * Every sample handed to the callback is of a name the profile reads:
 * it must be finite and not negative, and its series must be new. The
 * duplicate check covers the first LB_ENGINE_DUP_CHECKED samples.
 */
static int check_sample(struct extract *x, const struct prom_sample *s)
{
	uint64_t h;
	unsigned int i;

	if (!isfinite(s->value))
		return bad_sample(x, LB_BAD_METRICS_NONFINITE, s, 0);
	if (s->value < 0)
		return bad_sample(x, LB_BAD_METRICS_NEGATIVE, s, 0);
	if (x->ndup >= LB_ENGINE_DUP_CHECKED)
		return 0;
	h = series_hash(s);
	for (i = (unsigned int)h & (DUP_SLOTS - 1); x->t->dup_hash[i];
	     i = (i + 1) & (DUP_SLOTS - 1)) {
		if (x->t->dup_hash[i] == h)
			return bad_sample(x, LB_BAD_METRICS_DUPLICATE, s,
					  x->t->dup_line[i]);
	}
	x->t->dup_hash[i] = h;
	x->t->dup_line[i] = s->line;
	x->ndup++;
	return 0;
}

/* ---- folding ---- */

/* Triton: adds a "used" or "max" block count to its model's entry. */
static void triton_kv_blocks(struct extract *x, const struct prom_sample *s,
			     bool is_used)
{
	const char *model = prom_label_get(s, "model");
	const char *version = prom_label_get(s, "version");
	uint64_t key = mix64(hash_str(model ? model : "") ^
			     mix64(hash_str(version ? version : "")));
	struct kv_model *m;
	unsigned int i;

	for (i = 0; i < x->nkvm && x->t->kvm[i].key != key; i++)
		;
	if (i == x->nkvm) {
		if (x->nkvm == LB_TRITON_KV_MODELS) {
			x->kvm_overflow = true;
			return;
		}
		x->t->kvm[x->nkvm++] = (struct kv_model){ .key = key };
	}
	m = &x->t->kvm[i];
	acc_sum(x, is_used ? &m->used : &m->max, s->value);
}

/* Triton without "fraction": used/max per model, the fullest model. */
static struct acc triton_kv_fallback(const struct extract *x)
{
	struct acc a = { 0 };
	unsigned int i;

	if (x->kvm_overflow)
		return a;	/* a max over some models could understate */
	for (i = 0; i < x->nkvm; i++) {
		const struct kv_model *m = &x->t->kvm[i];

		if (m->used.seen && m->max.seen && m->max.v > 0)
			acc_max(&a, m->used.v / m->max.v);
	}
	return a;
}

static void fold_vllm(struct extract *x, const char *n, double v)
{
	if (name_is(n, "vllm:num_requests_waiting"))
		acc_sum(x, &x->waiting, v);
	else if (name_is(n, "vllm:num_requests_running"))
		acc_sum(x, &x->running, v);
	else if (name_is(n, "vllm:kv_cache_usage_perc"))
		acc_max(&x->kv, v);
	else if (name_is(n, "vllm:gpu_cache_usage_perc"))
		acc_max(&x->kv_fb, v);
	else if (name_is(n, "vllm:generation_tokens_total"))
		acc_sum(x, &x->gen, v);
	else if (name_is(n, "vllm:request_success_total"))
		acc_sum(x, &x->done, v);	/* every finished_reason */
}

static void fold_sglang(struct extract *x, const char *n, double v)
{
	if (name_is(n, "sglang:num_queue_reqs"))
		acc_sum(x, &x->waiting, v);
	else if (name_is(n, "sglang:num_running_reqs"))
		acc_sum(x, &x->running, v);
	else if (name_is(n, "sglang:token_usage"))
		acc_max(&x->kv, v);
	else if (name_is(n, "sglang:generation_tokens_total"))
		acc_sum(x, &x->gen, v);
	else if (name_is(n, "sglang:num_requests_total"))
		acc_sum(x, &x->done, v);
}

static void fold_tgi(struct extract *x, const char *n, double v)
{
	if (name_is(n, "tgi_queue_size"))
		acc_sum(x, &x->waiting, v);
	else if (name_is(n, "tgi_batch_current_size"))
		acc_sum(x, &x->running, v);
	else if (name_is(n, "tgi_request_generated_tokens_sum"))
		acc_sum(x, &x->gen, v);
	else if (name_is(n, "tgi_request_generated_tokens_count"))
		acc_sum(x, &x->done, v);
}

static void fold_triton(struct extract *x, const struct prom_sample *s)
{
	const char *n = s->name;
	double v = s->value;

	if (name_is(n, "nv_trt_llm_request_metrics")) {
		if (label_is(s, "request_type", "waiting"))
			acc_sum(x, &x->waiting, v);
		else if (label_is(s, "request_type", "scheduled"))
			acc_sum(x, &x->running, v);
		else if (label_is(s, "request_type", "max"))
			acc_sum(x, &x->slots, v);
	} else if (name_is(n, "nv_trt_llm_kv_cache_block_metrics")) {
		if (label_is(s, "kv_cache_block_type", "fraction"))
			acc_max(&x->kv, v);
		else if (label_is(s, "kv_cache_block_type", "used"))
			triton_kv_blocks(x, s, true);
		else if (label_is(s, "kv_cache_block_type", "max"))
			triton_kv_blocks(x, s, false);
	} else if (name_is(n, "nv_inference_pending_request_count")) {
		acc_sum(x, &x->waiting_fb, v);
	} else if (label_is(s, "response_metric_type", "total_output_tokens")) {
		if (name_is(n, "nv_llm_output_token_len_sum"))
			acc_sum(x, &x->gen, v);
		else if (name_is(n, "nv_llm_output_token_len_count"))
			acc_sum(x, &x->done, v);
	}
}

static void fold_generic(struct extract *x, const char *n, double v)
{
	const struct lb_generic_names *g = x->g;

	/* not "else if": one name may be configured for two signals */
	if (name_is(n, g->waiting))
		acc_sum(x, &x->waiting, v);
	if (name_is(n, g->running))
		acc_sum(x, &x->running, v);
	if (name_is(n, g->kv))
		acc_max(&x->kv, v);
	if (name_is(n, g->gen_tokens))
		acc_sum(x, &x->gen, v);
	if (name_is(n, g->completed))
		acc_sum(x, &x->done, v);
	if (name_is(n, g->slots))
		acc_sum(x, &x->slots, v);
}

static int extract_cb(void *ctx, const struct prom_sample *s)
{
	struct extract *x = ctx;
	int rc = check_sample(x, s);

	if (rc)
		return rc;
	switch (x->e) {
	case LB_ENGINE_VLLM:
		fold_vllm(x, s->name, s->value);
		break;
	case LB_ENGINE_SGLANG:
		fold_sglang(x, s->name, s->value);
		break;
	case LB_ENGINE_TGI:
		fold_tgi(x, s->name, s->value);
		break;
	case LB_ENGINE_TRITON:
		fold_triton(x, s);
		break;
	case LB_ENGINE_GENERIC:
		fold_generic(x, s->name, s->value);
		break;
	}
	if (x->overflow)
		return bad_sample(x, LB_BAD_METRICS_NONFINITE, s, 0);
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

const char *lb_bad_metrics_name(enum lb_bad_metrics r)
{
	static const char *const names[LB_BAD_METRICS_COUNT] = {
		[LB_BAD_METRICS_NONE] = "none",
		[LB_BAD_METRICS_NONFINITE] = "nonfinite",
		[LB_BAD_METRICS_NEGATIVE] = "negative",
		[LB_BAD_METRICS_DUPLICATE] = "duplicate",
	};

	if ((unsigned int)r >= LB_BAD_METRICS_COUNT)
		return "unknown";
	return names[r];
}

#define GEN_NAMES 6	/* fields of struct lb_generic_names */

/* The sample names extract_cb() looks at, per engine: only those lines
 * are parsed (prom_parse_only). gen[] holds the generic engine's list. */
static const char *const *wanted(enum lb_engine e,
				 const struct lb_generic_names *g,
				 const char *gen[GEN_NAMES + 1])
{
	static const char *const vllm[] = {
		"vllm:num_requests_waiting", "vllm:num_requests_running",
		"vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc",
		"vllm:generation_tokens_total", "vllm:request_success_total",
		NULL };
	static const char *const sglang[] = {
		"sglang:num_queue_reqs", "sglang:num_running_reqs",
		"sglang:token_usage", "sglang:generation_tokens_total",
		"sglang:num_requests_total", NULL };
	static const char *const tgi[] = {
		"tgi_queue_size", "tgi_batch_current_size",
		"tgi_request_generated_tokens_sum",
		"tgi_request_generated_tokens_count", NULL };
	static const char *const triton[] = {
		"nv_trt_llm_request_metrics", "nv_trt_llm_kv_cache_block_metrics",
		"nv_inference_pending_request_count",
		"nv_llm_output_token_len_sum", "nv_llm_output_token_len_count",
		NULL };
	const char *const all[GEN_NAMES] = {
		g ? g->waiting : NULL, g ? g->running : NULL,
		g ? g->kv : NULL, g ? g->gen_tokens : NULL,
		g ? g->completed : NULL, g ? g->slots : NULL,
	};
	int i, n = 0;

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
	for (i = 0; i < GEN_NAMES; i++)
		if (all[i])
			gen[n++] = all[i];
	gen[n] = NULL;
	return gen;
}

static void put(double *v, bool *has, const struct acc *a)
{
	*v = a->v;
	*has = a->seen;
}

int lb_engine_extract_ex(enum lb_engine e,
			 const struct lb_generic_names *names,
			 const char *text, size_t len, struct lb_signals *out,
			 struct prom_error *err, enum lb_bad_metrics *bad)
{
	struct tables t;	/* static storage would not be reentrant */
	struct extract x = { .e = e, .g = names, .t = &t };
	const char *gen[GEN_NAMES + 1];
	int rc;

	memset(out, 0, sizeof(*out));
	if (bad)
		*bad = LB_BAD_METRICS_NONE;
	if ((unsigned int)e > LB_ENGINE_GENERIC ||
	    (e == LB_ENGINE_GENERIC && !names))
		return -EINVAL;
	memset(t.dup_hash, 0, sizeof(t.dup_hash));
	rc = prom_parse_only(text, len, wanted(e, names, gen), extract_cb, &x,
			     err);
	if (rc == -EBADMSG && x.bad != LB_BAD_METRICS_NONE) {
		/* the parser left the position of the sample's name */
		if (err)
			mark_cut(err->msg, sizeof(err->msg),
				 snprintf(err->msg, sizeof(err->msg),
					  "line %u, col %u: %s", err->line,
					  err->col, x.why));
		if (bad)
			*bad = x.bad;
		return rc;
	}
	if (rc < 0)
		return rc;

	if (!x.waiting.seen)
		x.waiting = x.waiting_fb;
	if (!x.kv.seen)
		x.kv = e == LB_ENGINE_TRITON ? triton_kv_fallback(&x) : x.kv_fb;
	put(&out->waiting, &out->has_waiting, &x.waiting);
	put(&out->running, &out->has_running, &x.running);
	put(&out->gen_tokens, &out->has_gen_tokens, &x.gen);
	put(&out->completed, &out->has_completed, &x.done);
	put(&out->slots, &out->has_slots, &x.slots);
	if (x.kv.seen) {
		/* >= 0 by check_sample(); above 1 means full */
		out->kv_use = x.kv.v > 1 ? 1 : x.kv.v;
		out->has_kv = true;
	}
	return 0;
}

int lb_engine_extract(enum lb_engine e, const struct lb_generic_names *names,
		      const char *text, size_t len, struct lb_signals *out,
		      struct prom_error *err)
{
	return lb_engine_extract_ex(e, names, text, len, out, err, NULL);
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

bool lb_engine_tokens_per_step(enum lb_engine e)
{
	return e == LB_ENGINE_VLLM;
}
