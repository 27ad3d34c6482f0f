// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * lb_topo.c - the `vips:` section of a config file (format in lb_topo.h),
 * walked over lb_yaml's tree.
 *
 * Every error produces one line "name:line:col: field: what" and the
 * caller's struct is left zeroed: we parse into a private struct and copy
 * it out only on success.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_addr.h"
#include "lb_maglev.h"
#include "lb_names.h"
#include "lb_topo.h"

#define FIELD LB_YAML_FIELD
#define Q LB_YAML_Q

const char *const lb_topo_agent_top_keys[] = { "agent", "policy",
					       LB_TOPO_CLUSTER_KEY, "announce",
					       NULL };
const char *const lb_topo_agent_backend_keys[] = {
	"engine", "url", "metrics_url", "health_url", "dcgm_url", "metrics",
	"slots", NULL,
};

const char *const lb_topo_agent_vip_keys[] = { LB_TOPO_DISCOVER_KEY, NULL };

const struct lb_topo_ext lb_topo_ext_agent_names = {
	.top_keys = lb_topo_agent_top_keys,
	.backend_keys = lb_topo_agent_backend_keys,
	.vip_keys = lb_topo_agent_vip_keys,
};

/* Keys of the topology plus the extension's (caller's array, counted). */
#define MAX_KEYS 32

struct ctx {
	struct lb_yaml_doc *d;
	const struct lb_topo_ext *ext;
	struct lb_topo t;
	size_t total_backends;
	const char *backend_keys[MAX_KEYS];
	size_t n_backend_keys;
	const char *vip_keys[MAX_KEYS];
	size_t n_vip_keys;
	bool agent_keys_seen;	/* a backend of this VIP had extension keys */
};

static size_t count(const char *const *keys)
{
	size_t n = 0;

	while (keys && keys[n])
		n++;
	return n;
}

/* ---- vips[].backends[] ------------------------------------------------ */

enum { B_ADDRESS, B_CAPACITY, B_OWN };

static int parse_backend(struct ctx *x, const struct lb_yaml_node *m,
			 const char *prefix, const struct lb_topo_vip *vip,
			 struct lb_topo_backend *b)
{
	const struct lb_yaml_node *v[MAX_KEYS];
	const struct lb_topo_ext *ext = x->ext;
	char msg[256];
	const char *s, *f;
	size_t i;
	int rc;

	b->capacity = 1.0;
	b->line = m->line;
	rc = lb_yaml_get_map(x->d, m, prefix, x->backend_keys,
			     x->n_backend_keys, v);
	if (rc)
		return rc;

	f = FIELD(prefix, "address");
	if (!v[B_ADDRESS])
		return lb_yaml_fail(x->d, -EINVAL, m, f, "is required");
	rc = lb_yaml_get_str(x->d, v[B_ADDRESS], f, false, &s);
	if (rc)
		return rc;
	if (lb_parse_ip(s, b->addr, &b->family, msg, sizeof(msg)))
		return lb_yaml_fail(x->d, -EINVAL, v[B_ADDRESS], f, "%s", msg);
	if (b->family != vip->key.family)
		return lb_yaml_fail(x->d, -EINVAL, v[B_ADDRESS], f,
				    "is an IPv%u address but the VIP is IPv%u",
				    b->family, vip->key.family);
	for (i = 0; b != &vip->backends[i]; i++)
		if (!memcmp(vip->backends[i].addr, b->addr, 16))
			return lb_yaml_fail(x->d, -EINVAL, v[B_ADDRESS], f,
					    "duplicate backend in this VIP "
					    "(first at line %u)",
					    vip->backends[i].line);

	if (v[B_CAPACITY]) {
		f = FIELD(prefix, "capacity");
		rc = lb_yaml_get_double(x->d, v[B_CAPACITY], f, "in (0, 1000]",
					&b->capacity);
		if (rc)
			return rc;
		if (!(b->capacity > 0 && b->capacity <= 1000))
			return lb_yaml_fail(x->d, -EINVAL, v[B_CAPACITY], f,
					    "must be a number in (0, 1000], "
					    "got %s", Q(v[B_CAPACITY]));
	}

	for (i = B_OWN; i < x->n_backend_keys; i++)
		x->agent_keys_seen |= v[i] != NULL;
	if (!ext || !ext->backend)
		return 0;
	if (ext->backend_size) {
		b->ext = calloc(1, ext->backend_size);
		if (!b->ext)
			return lb_yaml_fail(x->d, -ENOMEM, m, prefix,
					    "out of memory");
	}
	return ext->backend(ext->ctx, x->d, m, prefix, v + B_OWN, b);
}

/* ---- vips[] ---------------------------------------------------------- */

enum { V_ADDRESS, V_MODE, V_RING_SIZE, V_BACKENDS, V_POLICY, V_REFUSE,
       V_FAIL_OPEN, V_RATE, V_BURST, V_CLIENT_RATE, V_CLIENT_BURST,
       V_CLIENT_PREFIX, V_EPSILON, V_TTFT_TARGET, V_SECOND_CHANCE,
       V_PAIR_CHOICE, V_N };

static const char *const vip_keys[V_N] = {
	[V_ADDRESS] = "address", [V_MODE] = "mode",
	[V_RING_SIZE] = "ring_size", [V_BACKENDS] = "backends",
	[V_POLICY] = "policy", [V_REFUSE] = "refuse",
	[V_FAIL_OPEN] = "fail_open", [V_RATE] = "rate",
	[V_BURST] = "burst", [V_CLIENT_RATE] = "client_rate",
	[V_CLIENT_BURST] = "client_burst",
	[V_CLIENT_PREFIX] = "client_prefix", [V_EPSILON] = "epsilon",
	[V_TTFT_TARGET] = "ttft_target_ms",
	[V_SECOND_CHANCE] = "second_chance", [V_PAIR_CHOICE] = "pair_choice",
};

/* A name from lb_names.c's tables into *out, or a message listing them. */
static int get_name(struct ctx *x, const struct lb_yaml_node *n,
		    const char *prefix, const char *key,
		    int (*parse)(const char *, __u8 *), const char *choices,
		    __u8 *out)
{
	const char *f = FIELD(prefix, key), *s;
	int rc = lb_yaml_get_str(x->d, n, f, false, &s);

	if (rc)
		return rc;
	if (parse(s, out))
		return lb_yaml_fail(x->d, -EINVAL, n, f, "must be %s, got %s",
				    choices, Q(n));
	return 0;
}

static int get_u32_opt(struct ctx *x, const struct lb_yaml_node *n,
		       const char *prefix, const char *key, __u32 lo,
		       __u32 hi, __u32 *out)
{
	return n ? lb_yaml_get_u32(x->d, n, FIELD(prefix, key), lo, hi, out) : 0;
}

/* vips[].policy, refuse, fail_open and the admission numbers: the same
 * settings as `lbctl vip add/set`, names from lb_names.c. */
static int parse_vip_admission(struct ctx *x,
			       const struct lb_yaml_node *const *v,
			       const char *prefix, struct lb_topo_vip *vip)
{
	struct lb_vip_opts *o = &vip->opts;
	bool v6 = vip->key.family == LB_AF_INET6;
	__u32 u;
	int rc;

	if ((v[V_POLICY] &&
	     (rc = get_name(x, v[V_POLICY], prefix, "policy", lb_policy_parse,
			    "maglev, source, bounded, p2c, wrr, rr, random, "
			    "least-conn or expected-wait", &o->policy))) ||
	    (v[V_REFUSE] &&
	     (rc = get_name(x, v[V_REFUSE], prefix, "refuse", lb_refuse_parse,
			    "reset or drop", &o->refuse))) ||
	    (v[V_FAIL_OPEN] &&
	     (rc = lb_yaml_get_bool(x->d, v[V_FAIL_OPEN],
				    FIELD(prefix, "fail_open"), &o->fail_open))) ||
	    (v[V_SECOND_CHANCE] &&
	     (rc = lb_yaml_get_bool(x->d, v[V_SECOND_CHANCE],
				    FIELD(prefix, "second_chance"),
				    &o->second_chance))) ||
	    (v[V_PAIR_CHOICE] &&
	     (rc = lb_yaml_get_bool(x->d, v[V_PAIR_CHOICE],
				    FIELD(prefix, "pair_choice"),
				    &o->pair_choice))) ||
	    (rc = get_u32_opt(x, v[V_RATE], prefix, "rate", 0, UINT32_MAX,
			      &o->rate)) ||
	    (rc = get_u32_opt(x, v[V_BURST], prefix, "burst", 0, UINT32_MAX,
			      &o->burst)) ||
	    (rc = get_u32_opt(x, v[V_CLIENT_RATE], prefix, "client_rate", 0,
			      UINT32_MAX, &o->client_rate)) ||
	    (rc = get_u32_opt(x, v[V_CLIENT_BURST], prefix, "client_burst", 0,
			      UINT32_MAX, &o->client_burst)) ||
	    (rc = get_u32_opt(x, v[V_TTFT_TARGET], prefix, "ttft_target_ms", 0,
			      LB_TTFT_TARGET_MAX_MS, &o->ttft_target_ms)))
		return rc;
	if (v[V_CLIENT_PREFIX]) {
		rc = lb_yaml_get_u32(x->d, v[V_CLIENT_PREFIX],
				     FIELD(prefix, "client_prefix"), 1,
				     v6 ? 128 : 32, &u);
		if (rc)
			return rc;
		if (v6)
			o->client_plen6 = u;
		else
			o->client_plen4 = u;
	}
	if (v[V_EPSILON]) {
		rc = lb_yaml_get_u32(x->d, v[V_EPSILON], FIELD(prefix, "epsilon"),
				     0, 10000, &u);
		if (rc)
			return rc;
		o->bounded_eps = u;
	}
	vip->pair_choice_given = v[V_PAIR_CHOICE] != NULL;
	return 0;
}

/* vips[].address, mode and ring_size: what identifies the VIP and its
 * table, which a re-apply cannot change in place. */
static int parse_vip_identity(struct ctx *x,
			      const struct lb_yaml_node *const *v,
			      const struct lb_yaml_node *m, const char *prefix,
			      size_t idx, struct lb_topo_vip *vip)
{
	const char *s, *f = FIELD(prefix, "address");
	char msg[256];
	size_t i;
	int rc;

	if (!v[V_ADDRESS])
		return lb_yaml_fail(x->d, -EINVAL, m, f, "is required");
	rc = lb_yaml_get_str(x->d, v[V_ADDRESS], f, false, &s);
	if (rc)
		return rc;
	if (lb_parse_vip(s, &vip->key, msg, sizeof(msg)))
		return lb_yaml_fail(x->d, -EINVAL, v[V_ADDRESS], f, "%s", msg);
	for (i = 0; i < idx; i++)
		if (!memcmp(&x->t.vips[i].key, &vip->key, sizeof(vip->key)))
			return lb_yaml_fail(x->d, -EINVAL, v[V_ADDRESS], f,
					    "duplicate VIP (first at line %u)",
					    x->t.vips[i].line);
	if (v[V_MODE] &&
	    (rc = get_name(x, v[V_MODE], prefix, "mode", lb_mode_parse,
			   "ipip or l2dsr", &vip->opts.mode)))
		return rc;
	if (v[V_RING_SIZE]) {
		f = FIELD(prefix, "ring_size");
		rc = lb_yaml_get_str(x->d, v[V_RING_SIZE], f, false, &s);
		if (rc)
			return rc;
		if (lb_parse_u32(s, 0, UINT32_MAX, &vip->opts.ring_size) ||
		    !lb_ring_size_ok(vip->opts.ring_size))
			return lb_yaml_fail(x->d, -EINVAL, v[V_RING_SIZE], f,
					    "must be a prime in [%u, %u], got %s",
					    LB_RING_SIZE_MIN, LB_RING_SIZE_MAX,
					    Q(v[V_RING_SIZE]));
	}
	return 0;
}

static int parse_backends(struct ctx *x, const struct lb_yaml_node *bn,
			  const char *prefix, struct lb_topo_vip *vip)
{
	const char *f = FIELD(prefix, "backends");
	char bprefix[80];
	size_t i;
	int rc, id;

	if (lb_yaml_is_null(bn))
		return 0;
	if (bn->kind != LB_YAML_SEQ)
		return lb_yaml_fail(x->d, -EINVAL, bn, f,
				    "must be a sequence, got %s",
				    lb_yaml_kind_name(bn));
	if (bn->n > LB_TOPO_MAX_BACKENDS - x->total_backends)
		return lb_yaml_fail(x->d, -E2BIG, bn, f,
				    "more than %d backends in the file",
				    LB_TOPO_MAX_BACKENDS);
	x->total_backends += bn->n;
	if (!bn->n)
		return 0;
	vip->backends = calloc(bn->n, sizeof(*vip->backends));
	if (!vip->backends)
		return lb_yaml_fail(x->d, -ENOMEM, bn, f, "out of memory");
	for (id = bn->first, i = 0; id >= 0;
	     id = lb_yaml_at(x->d, id)->next, i++) {
		if (snprintf(bprefix, sizeof(bprefix), "%s[%zu]", f, i) >=
		    (int)sizeof(bprefix))
			return -EINVAL;	/* not reached: short names */
		/* Counted before parsing so a failed backend's extension
		 * data is freed with the rest. */
		vip->n_backends = i + 1;
		rc = parse_backend(x, lb_yaml_at(x->d, id), bprefix, vip,
				   &vip->backends[i]);
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_vip(struct ctx *x, const struct lb_yaml_node *m, size_t idx)
{
	struct lb_topo_vip *vip = &x->t.vips[idx];
	const struct lb_topo_ext *ext = x->ext;
	const struct lb_yaml_node *v[MAX_KEYS];
	char prefix[48];
	int rc;

	if (snprintf(prefix, sizeof(prefix), "vips[%zu]", idx) >=
	    (int)sizeof(prefix))
		return -EINVAL;		/* not reached: idx < 256 */
	vip->opts = (struct lb_vip_opts)LB_VIP_OPTS_DEFAULT;
	vip->line = m->line;
	rc = lb_yaml_get_map(x->d, m, prefix, x->vip_keys, x->n_vip_keys, v);
	if (!rc)
		rc = parse_vip_identity(x, v, m, prefix, idx, vip);
	if (!rc)
		rc = parse_vip_admission(x, v, prefix, vip);
	if (rc)
		return rc;
	x->agent_keys_seen = false;
	rc = parse_backends(x, v[V_BACKENDS], prefix, vip);
	for (size_t i = V_N; i < x->n_vip_keys; i++)
		vip->ext_given |= v[i] != NULL;
	/* backends lb-agent polls (keys of the extension), or found by it:
	 * the agent's policy unless the file names one; lbctl apply reads
	 * the same */
	if (!rc && !v[V_POLICY] && (x->agent_keys_seen || vip->ext_given))
		vip->opts.policy = LB_TOPO_AGENT_POLICY_DEFAULT;
	if (rc || !vip->ext_given || !ext || !ext->vip)
		return rc;
	if (ext->vip_size && !(vip->ext = calloc(1, ext->vip_size)))
		return lb_yaml_fail(x->d, -ENOMEM, m, prefix, "out of memory");
	return ext->vip(ext->ctx, x->d, m, prefix, v + V_N, vip);
}

static int parse_vips(struct ctx *x, const struct lb_yaml_node *s)
{
	size_t i;
	int id, rc;

	if (s->kind != LB_YAML_SEQ)
		return lb_yaml_fail(x->d, -EINVAL, s, "vips",
				    "must be a sequence, got %s",
				    lb_yaml_kind_name(s));
	if (s->n > LB_TOPO_MAX_VIPS)
		return lb_yaml_fail(x->d, -E2BIG, s, "vips",
				    "more than %d VIPs", LB_TOPO_MAX_VIPS);
	if (!s->n)
		return 0;
	x->t.vips = calloc(s->n, sizeof(*x->t.vips));
	if (!x->t.vips)
		return lb_yaml_fail(x->d, -ENOMEM, s, "vips", "out of memory");
	for (id = s->first, i = 0; id >= 0; id = lb_yaml_at(x->d, id)->next, i++) {
		x->t.n_vips = i + 1;
		rc = parse_vip(x, lb_yaml_at(x->d, id), i);
		if (rc)
			return rc;
	}
	return 0;
}

/* The top level: the extension's sections first (the order of the file's
 * format), then vips. */
static int parse_top(struct ctx *x)
{
	const struct lb_topo_ext *ext = x->ext;
	const struct lb_yaml_node *v[MAX_KEYS];
	const char *keys[MAX_KEYS];
	size_t n = ext ? count(ext->top_keys) : 0, i;
	const struct lb_yaml_node *root = lb_yaml_at(x->d, x->d->root);
	int rc;

	/* An empty file, or one with only comments or "---". */
	if (lb_yaml_is_null(root))
		return 0;
	for (i = 0; i < n; i++)
		keys[i] = ext->top_keys[i];
	keys[n] = "vips";
	rc = lb_yaml_get_map(x->d, root, "", keys, n + 1, v);
	if (rc)
		return rc;
	for (i = 0; i < n; i++)
		if (!lb_yaml_is_null(v[i]) && ext->top &&
		    (rc = ext->top(ext->ctx, x->d, i, v[i])))
			return rc;
	if (!lb_yaml_is_null(v[n]) && (rc = parse_vips(x, v[n])))
		return rc;
	/* In cluster mode a flow can reach a host that never saw it: the
	 * load-aware policies then choose between the flow's two hashed
	 * candidates, which second chance finds from any host, unless the
	 * file says otherwise. Here, so that `lbctl apply -f` of an agent's
	 * file and the agent agree. */
	for (i = 0; i < n; i++) {
		if (strcmp(keys[i], LB_TOPO_CLUSTER_KEY) || lb_yaml_is_null(v[i]))
			continue;
		for (size_t k = 0; k < x->t.n_vips; k++)
			if (!x->t.vips[k].pair_choice_given)
				x->t.vips[k].opts.pair_choice = true;
	}
	return 0;
}

void lb_topo_free(struct lb_topo *t)
{
	size_t i, j;

	if (!t)
		return;
	for (i = 0; i < t->n_vips && t->vips; i++) {
		struct lb_topo_vip *v = &t->vips[i];

		for (j = 0; j < v->n_backends && v->backends; j++) {
			if (v->backends[j].ext && t->ext_release)
				t->ext_release(v->backends[j].ext);
			free(v->backends[j].ext);
		}
		free(v->backends);
		if (v->ext && t->vip_ext_release)
			t->vip_ext_release(v->ext);
		free(v->ext);
	}
	free(t->vips);
	memset(t, 0, sizeof(*t));
}

int lb_topo_parse(struct lb_yaml_doc *d, const struct lb_topo_ext *ext,
		  struct lb_topo *out)
{
	struct ctx x = { .d = d, .ext = ext };
	size_t n = ext ? count(ext->backend_keys) : 0;
	size_t nv = ext ? count(ext->vip_keys) : 0;
	int rc;

	memset(out, 0, sizeof(*out));
	x.t.ext_release = ext ? ext->release : NULL;
	x.t.vip_ext_release = ext ? ext->vip_release : NULL;
	if (n + B_OWN > MAX_KEYS || nv + V_N > MAX_KEYS ||
	    (ext && count(ext->top_keys) + 1 > MAX_KEYS)) {
		if (d->err && d->errlen)
			snprintf(d->err, d->errlen, "%s: too many extension keys",
				 d->name);
		return -E2BIG;	/* a programming error, not the file's */
	}
	x.backend_keys[B_ADDRESS] = "address";
	x.backend_keys[B_CAPACITY] = "capacity";
	for (size_t i = 0; i < n; i++)
		x.backend_keys[B_OWN + i] = ext->backend_keys[i];
	x.n_backend_keys = B_OWN + n;
	for (size_t i = 0; i < V_N; i++)
		x.vip_keys[i] = vip_keys[i];
	for (size_t i = 0; i < nv; i++)
		x.vip_keys[V_N + i] = ext->vip_keys[i];
	x.n_vip_keys = V_N + nv;
	rc = parse_top(&x);
	if (rc) {
		lb_topo_free(&x.t);
		return rc;
	}
	*out = x.t;
	return 0;
}

int lb_topo_load_buf(const char *name, const char *buf, size_t len,
		     const struct lb_topo_ext *ext, struct lb_topo *out,
		     char *err, size_t errlen)
{
	struct lb_yaml_doc d;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = lb_yaml_parse(&d, name, buf, len, err, errlen);
	if (rc)
		return rc;
	rc = lb_topo_parse(&d, ext, out);
	lb_yaml_free(&d);
	return rc;
}

int lb_topo_load_file(const char *path, const struct lb_topo_ext *ext,
		      struct lb_topo *out, char *err, size_t errlen)
{
	size_t len;
	char *buf;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = lb_yaml_read_file(path, &buf, &len, err, errlen);
	if (rc)
		return rc;
	rc = lb_topo_load_buf(path, buf, len, ext, out, err, errlen);
	free(buf);
	return rc;
}

bool lb_topo_warning(const struct lb_topo *t, char *msg, size_t len)
{
	if (len)
		msg[0] = 0;
	if (t->n_vips)
		return false;
	snprintf(msg, len, "no VIPs: applied, this file would delete every VIP "
		 "and backend of the balancer (a reload or apply refuses that "
		 "unless forced)");
	return true;
}

__u8 lb_topo_origin_kind(const char *origin)
{
	if (origin && !strncmp(origin, LB_TOPO_ORIGIN_DNS, strlen(LB_TOPO_ORIGIN_DNS)))
		return LB_ORIGIN_DNS;
	if (origin && !strncmp(origin, LB_TOPO_ORIGIN_ETCD, strlen(LB_TOPO_ORIGIN_ETCD)))
		return LB_ORIGIN_ETCD;
	return LB_ORIGIN_STATIC;
}

__u32 lb_topo_static_weight(const struct lb_topo_backend *b)
{
	double w = round(b->capacity * LB_WEIGHT_DEFAULT);

	if (!(w >= 1))		/* also NaN */
		return 1;
	if (w > 1000000)
		return 1000000;
	return (__u32)w;
}
