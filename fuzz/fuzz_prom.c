/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * fuzz_prom.c - libFuzzer target for everything lb-agent runs over a
 * /metrics scrape, which comes from the network and so is untrusted.
 *
 * One input goes through prom_parse() (with a callback that reads every
 * field of every sample, so ASan sees any name or label pointer that is
 * bad), every engine profile and the DCGM XID reader. The bytes are
 * copied into an exact-size heap buffer without a NUL, since the parser
 * takes a length and must never read past it.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "prom.h"

/* Keeps what the callback read from being optimised away. */
static volatile size_t sink;

/* Reads everything the parser hands out. */
static int touch_cb(void *ctx, const struct prom_sample *s)
{
	size_t *acc = ctx;
	unsigned int i;

	*acc += strlen(s->name) + s->nlabels + s->line + (size_t)s->type;
	for (i = 0; i < s->nlabels; i++)
		*acc += strlen(s->labels[i].name) + strlen(s->labels[i].value);
	/* Lookups of present and absent labels walk the whole array. */
	if (prom_label_get(s, "le") || prom_label_get(s, "no_such_label"))
		(*acc)++;
	if (s->has_timestamp)
		*acc += (size_t)(s->timestamp_ms & 1);
	return 0;
}

/* Stops at the third sample: the early-abort path must clean up too. */
static int abort_cb(void *ctx, const struct prom_sample *s)
{
	unsigned int *n = ctx;

	(void)s;
	return ++*n >= 3 ? -ECANCELED : 0;
}

static bool nonneg(double v)
{
	return isfinite(v) && v >= 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct lb_generic_names generic = {
		.waiting = "queue_depth",
		.running = "batch_size",
		.kv = "kv_fraction",
		.gen_tokens = "tokens_total",
		.completed = "done_total",
		.slots = "batch_size",	/* also "running": one name, two uses */
	};
	static const enum lb_engine engines[] = {
		LB_ENGINE_VLLM, LB_ENGINE_SGLANG, LB_ENGINE_TGI,
		LB_ENGINE_TRITON, LB_ENGINE_GENERIC,
	};
	struct prom_error err;
	struct lb_signals sig;
	unsigned int naborted = 0;
	size_t acc = 0;
	double xid;
	char *buf;
	int rc;

	buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);

	rc = prom_parse(buf, size, touch_cb, &acc, &err);
	/* A NULL callback and a NULL error are allowed and take other paths. */
	if (prom_parse(buf, size, NULL, NULL, NULL) != rc)
		abort();	/* validation alone must agree with a full parse */
	prom_parse(buf, size, abort_cb, &naborted, &err);

	for (size_t i = 0; i < sizeof(engines) / sizeof(engines[0]); i++) {
		enum lb_bad_metrics bad;

		rc = lb_engine_extract_ex(engines[i], &generic, buf, size,
					  &sig, &err, &bad);
		/* engine.h: on error, no signal may be reported */
		if (rc && (sig.has_waiting || sig.has_running || sig.has_kv ||
			   sig.has_gen_tokens || sig.has_completed ||
			   sig.has_slots))
			abort();
		/* a reason exactly when the scrape is a bad answer */
		if ((rc == -EBADMSG) != (bad != LB_BAD_METRICS_NONE))
			abort();
		if (!rc && sig.has_kv && !(sig.kv_use >= 0 && sig.kv_use <= 1))
			abort();
		/* what is reported passed the checks: finite (sums too), not
		 * negative */
		if (!rc && !(nonneg(sig.waiting) && nonneg(sig.running) &&
			     nonneg(sig.gen_tokens) && nonneg(sig.completed) &&
			     nonneg(sig.slots)))
			abort();
		/* the plain call agrees */
		if (lb_engine_extract(engines[i], &generic, buf, size, &sig,
				      &err) != rc)
			abort();
	}
	lb_dcgm_xid_errors(buf, size, &xid, &err);

	free(buf);
	sink = acc;
	return 0;
}
