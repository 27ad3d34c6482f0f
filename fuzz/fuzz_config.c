// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * fuzz_config.c - libFuzzer target for the config parsers: lb-agent's
 * whole file (agent/config.c over lib/lb_topo.c and lib/lb_yaml.c) and the
 * library's topology alone, as `lbctl apply -f` reads it (agent keys by
 * name), and the topology without any extension (only `vips:`). Any
 * input must give 0 or a negative errno with a one-line message, no leak,
 * no UB; on error the output must be all zero; the layers must agree on
 * the topology whenever the agent's parse succeeds; and a file the bare
 * topology accepts means the same to lbctl's reading.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "lb_topo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_err(int rc, const void *out, size_t len, const char *err)
{
	static const char zero[sizeof(struct lb_agent_conf)];

	/* Errors leave nothing behind and say something, on one line. */
	if (rc > 0 || memcmp(out, zero, len) || !err[0] || strchr(err, '\n'))
		abort();
}

/* Field by field: padding is not part of the settings. */
static bool same_opts(const struct lb_vip_opts *a, const struct lb_vip_opts *b)
{
	return a->mode == b->mode && a->ring_size == b->ring_size &&
	       a->policy == b->policy && a->refuse == b->refuse &&
	       a->fail_open == b->fail_open && a->rate == b->rate &&
	       a->burst == b->burst && a->client_rate == b->client_rate &&
	       a->client_burst == b->client_burst &&
	       a->client_plen4 == b->client_plen4 &&
	       a->client_plen6 == b->client_plen6 &&
	       a->bounded_eps == b->bounded_eps &&
	       a->ttft_target_ms == b->ttft_target_ms;
}

/* The same VIPs with the same settings and backends. */
static void check_same(const struct lb_topo *a, const struct lb_topo *b)
{
	size_t i, j;

	if (a->n_vips != b->n_vips)
		abort();
	for (i = 0; i < a->n_vips; i++) {
		const struct lb_topo_vip *u = &a->vips[i], *v = &b->vips[i];

		if (u->n_backends != v->n_backends ||
		    memcmp(&u->key, &v->key, sizeof(u->key)) ||
		    !same_opts(&u->opts, &v->opts))
			abort();
		for (j = 0; j < u->n_backends; j++)
			if (memcmp(u->backends[j].addr, v->backends[j].addr, 16) ||
			    u->backends[j].capacity != v->backends[j].capacity)
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lb_agent_conf c;
	struct lb_topo t, bare;
	char err[256];
	size_t i, j;
	int rc, trc, brc;

	rc = lb_agent_conf_load_buf("fuzz.yaml", (const char *)data, size, &c,
				    err, sizeof(err));
	if (rc)
		check_err(rc, &c, sizeof(c), err);
	trc = lb_topo_load_buf("fuzz.yaml", (const char *)data, size,
			       &lb_topo_ext_agent_names, &t, err, sizeof(err));
	if (trc)
		check_err(trc, &t, sizeof(t), err);
	/* What the agent accepts, lbctl accepts: the same VIPs and
	 * backends (lbctl does not check the agent's values). */
	if (!rc && (trc || t.n_vips != c.topo.n_vips))
		abort();
	for (i = 0; !rc && i < c.topo.n_vips; i++) {
		const struct lb_topo_vip *v = &c.topo.vips[i];

		if (v->n_backends != t.vips[i].n_backends ||
		    memcmp(&v->key, &t.vips[i].key, sizeof(v->key)))
			abort();
		/* Touch what a caller would use. */
		for (j = 0; j < v->n_backends; j++)
			if (!lb_topo_static_weight(&v->backends[j]) ||
			    !lb_agent_backend_conf(&v->backends[j])->health_url[0] ||
			    memcmp(v->backends[j].addr, t.vips[i].backends[j].addr, 16))
				abort();
	}
	/* Without lb-agent's keys nothing changes meaning: what the bare
	 * topology accepts, lbctl's reading accepts, as the same topology. */
	brc = lb_topo_load_buf("fuzz.yaml", (const char *)data, size, NULL,
			       &bare, err, sizeof(err));
	if (brc) {
		check_err(brc, &bare, sizeof(bare), err);
	} else {
		if (trc)
			abort();
		check_same(&bare, &t);
		lb_topo_free(&bare);
	}
	lb_agent_conf_free(&c);
	lb_agent_conf_free(&c);
	lb_topo_free(&t);
	return 0;
}
