// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * config.c - the YAML config file (format in config.h).
 *
 * Design: two passes. libyaml's event parser first builds a small tree
 * (flat array of nodes linked by index, every scalar copied), then the
 * tree is walked against a fixed schema. The tree gives each mapping all
 * its keys before any is interpreted, so rules that involve two keys
 * (metrics: only with engine: generic, url defaults) do not depend on key
 * order, and sequence lengths are known before the arrays are allocated,
 * so the VIP and backend limits are checked before anything big is made.
 *
 * Safety: anchors, aliases and tags are refused (aliases can blow a small
 * file up exponentially, and tags would let a file ask for types we do not
 * have); nesting is limited to LB_CONF_MAX_DEPTH and the tree to
 * LB_CONF_MAX_NODES, so any input costs memory linear in its size.
 * Duplicate keys are caught with a bitmask per mapping against the schema
 * table, so a hostile mapping with many keys is not quadratic.
 *
 * Every error produces one line "name:line:col: field: what" and the
 * caller's struct is left zeroed: we parse into a private struct and copy
 * it out only on success.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "config.h"
#include "lb_maglev.h"
#include "lb_names.h"
#include "prom.h"
#include "lb_addr.h"
#include "lb_ops.h"

#define LB_CONF_MAX_DEPTH 16
#define LB_CONF_MAX_NODES (1u << 18)	/* ~2.5x a full 4096-backend file */
#define LB_CONF_MAX_FILE (16u << 20)
#define LB_CONF_MAX_KEYS 64		/* keys of one schema mapping (bitmask) */

enum node_kind { N_SCALAR, N_SEQ, N_MAP };

/*
 * Children of a sequence are its items; children of a mapping alternate
 * key, value. Indices, not pointers, because the array is realloc'd.
 */
struct node {
	enum node_kind kind;
	bool plain;		/* unquoted scalar (for null detection) */
	unsigned line, col;	/* 1-based */
	char *val;		/* scalar: NUL-terminated copy */
	size_t len;		/* scalar: bytes (may include NULs) */
	int first, last, next;	/* -1 = none */
	size_t n;		/* children */
};

struct tree {
	struct node *v;
	size_t n, cap;
};

struct ctx {
	const char *name;
	char *err;
	size_t errlen;
	struct tree t;
	struct lb_conf c;
	size_t total_backends;
};

/* ---- errors ---------------------------------------------------------- */

static int failv(struct ctx *x, int rc, unsigned line, unsigned col,
		 const char *field, const char *fmt, va_list ap)
{
	char what[1024], *p;

	if (!x->err || !x->errlen)
		return rc;
	vsnprintf(what, sizeof(what), fmt, ap);
	if (snprintf(x->err, x->errlen, "%s:%u:%u: %s: %s", x->name, line,
		     col, field, what) < 0)
		x->err[0] = 0;
	/* One line, whatever a value (a multi-line scalar echoed by
	 * lb_parse_vip) or the name contains. */
	for (p = x->err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return rc;
}

__attribute__((format(printf, 5, 6)))
static int fail(struct ctx *x, int rc, const struct node *n,
		const char *field, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc = failv(x, rc, n->line, n->col, field, fmt, ap);
	va_end(ap);
	return rc;
}

__attribute__((format(printf, 5, 6)))
static int fail_at(struct ctx *x, int rc, const yaml_mark_t *m,
		   const char *field, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc = failv(x, rc, m->line + 1, m->column + 1, field, fmt, ap);
	va_end(ap);
	return rc;
}

/*
 * A value for a message: quoted, at most 40 bytes, non-printable bytes
 * as \xNN, so a hostile value cannot break the one-line error.
 */
static const char *quote(const struct node *n, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	if (n->kind == N_MAP)
		return "a mapping";
	if (n->kind == N_SEQ)
		return "a sequence";
	buf[o++] = '"';
	for (i = 0; i < n->len && o + 8 < len; i++) {
		unsigned char ch = n->val[i];

		if (i == 40) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[ch >> 4];
			buf[o++] = hex[ch & 15];
		} else {
			buf[o++] = ch;
		}
	}
	buf[o++] = '"';
	buf[o] = 0;
	return buf;
}

#define Q(n) quote((n), (char[200]){0}, 200)

/* "prefix.key" into buf; fields are short, so truncation only shortens
 * a message. */
static const char *path(char *buf, size_t len, const char *prefix,
			const char *key)
{
	int r = snprintf(buf, len, "%s%s%s", prefix, *prefix ? "." : "", key);

	if (r < 0 || (size_t)r >= len)
		buf[len - 1] = 0;
	return buf;
}

#define FIELD(prefix, key) path((char[128]){0}, 128, (prefix), (key))

/* ---- pass 1: events to tree ----------------------------------------- */

static void tree_free(struct tree *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->v[i].val);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static int tree_add(struct ctx *x, const yaml_event_t *ev, enum node_kind k,
		    int parent)
{
	struct tree *t = &x->t;
	struct node *n;
	int id;

	if (t->n >= LB_CONF_MAX_NODES)
		return fail_at(x, -E2BIG, &ev->start_mark, "(top)",
			       "too many YAML nodes (more than %u)",
			       LB_CONF_MAX_NODES);
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct node *v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			return fail_at(x, -ENOMEM, &ev->start_mark, "(top)",
				       "out of memory");
		t->v = v;
		t->cap = cap;
	}
	id = t->n++;
	n = &t->v[id];
	*n = (struct node){
		.kind = k,
		.line = ev->start_mark.line + 1,
		.col = ev->start_mark.column + 1,
		.first = -1, .last = -1, .next = -1,
	};
	if (k == N_SCALAR) {
		n->len = ev->data.scalar.length;
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		n->val = malloc(n->len + 1);
		if (!n->val)
			return fail_at(x, -ENOMEM, &ev->start_mark, "(top)",
				       "out of memory");
		memcpy(n->val, ev->data.scalar.value, n->len);
		n->val[n->len] = 0;
	}
	if (parent >= 0) {
		struct node *p = &t->v[parent];

		if (p->last >= 0)
			t->v[p->last].next = id;
		else
			p->first = id;
		p->last = id;
		p->n++;
	}
	return id;
}

/* Anchors and tags are refused on every node kind. */
static int check_props(struct ctx *x, const yaml_event_t *ev)
{
	const yaml_char_t *anchor = NULL, *tag = NULL;

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
		break;
	default:
		break;
	}
	if (anchor)
		return fail_at(x, -EINVAL, &ev->start_mark, "(top)",
			       "YAML anchors (&) are not supported");
	if (tag)
		return fail_at(x, -EINVAL, &ev->start_mark, "(top)",
			       "YAML tags (!) are not supported");
	return 0;
}

static yaml_mark_t offset_mark(const char *buf, size_t len, size_t off)
{
	yaml_mark_t m = { .index = off };
	size_t i;

	for (i = 0; i < off && i < len; i++) {
		if (buf[i] == '\n') {
			m.line++;
			m.column = 0;
		} else {
			m.column++;
		}
	}
	return m;
}

/* Builds the tree; *root is the document's node, -1 for an empty stream. */
static int build_tree(struct ctx *x, const char *buf, size_t len, int *root)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int stack[LB_CONF_MAX_DEPTH + 1];
	int depth = 0, docs = 0, rc = 0;
	bool done = false;

	*root = -1;
	if (!yaml_parser_initialize(&p)) {
		snprintf(x->err, x->errlen, "%s: out of memory", x->name);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	while (!done && !rc) {
		int id;

		if (!yaml_parser_parse(&p, &ev)) {
			/* The reader (bad UTF-8, control bytes) reports an
			 * offset, not a mark. */
			if (p.error == YAML_READER_ERROR)
				p.problem_mark = offset_mark(buf, len,
							     p.problem_offset);
			rc = fail_at(x, -EINVAL, &p.problem_mark, "(top)",
				     "YAML syntax: %s%s%s",
				     p.problem ? p.problem : "error",
				     p.context ? " " : "",
				     p.context ? p.context : "");
			break;
		}
		rc = check_props(x, &ev);
		if (rc)
			goto next;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				rc = fail_at(x, -EINVAL, &ev.start_mark,
					     "(top)",
					     "only one YAML document is allowed");
			break;
		case YAML_ALIAS_EVENT:
			rc = fail_at(x, -EINVAL, &ev.start_mark, "(top)",
				     "YAML aliases (*) are not supported");
			break;
		case YAML_SCALAR_EVENT:
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			id = tree_add(x, &ev,
				      ev.type == YAML_SCALAR_EVENT ? N_SCALAR :
				      ev.type == YAML_SEQUENCE_START_EVENT ?
				      N_SEQ : N_MAP,
				      depth ? stack[depth - 1] : -1);
			if (id < 0) {
				rc = id;
				break;
			}
			if (!depth)
				*root = id;
			if (ev.type == YAML_SCALAR_EVENT)
				break;
			if (depth == LB_CONF_MAX_DEPTH) {
				rc = fail_at(x, -E2BIG, &ev.start_mark,
					     "(top)",
					     "nested deeper than %d levels",
					     LB_CONF_MAX_DEPTH);
				break;
			}
			stack[depth++] = id;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
next:
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return rc;
}

/* ---- pass 2: scalars ------------------------------------------------- */

static const char *kind_name(const struct node *n)
{
	return n->kind == N_MAP ? "a mapping" :
	       n->kind == N_SEQ ? "a sequence" : "a scalar";
}

/* A string value: a scalar without NUL bytes; empty only if allowed. */
static int get_str(struct ctx *x, const struct node *n, const char *field,
		   bool empty_ok, const char **out)
{
	if (n->kind != N_SCALAR)
		return fail(x, -EINVAL, n, field, "must be a string, got %s",
			    kind_name(n));
	if (strlen(n->val) != n->len)
		return fail(x, -EINVAL, n, field,
			    "must not contain NUL bytes");
	if (!empty_ok && !n->len)
		return fail(x, -EINVAL, n, field, "must not be empty");
	*out = n->val;
	return 0;
}

static int get_u32(struct ctx *x, const struct node *n, const char *field,
		   uint32_t lo, uint32_t hi, uint32_t *out)
{
	const char *s;
	int rc = get_str(x, n, field, true, &s);

	if (rc)
		return rc;
	if (lb_parse_u32(s, lo, hi, out))
		return fail(x, -EINVAL, n, field,
			    "must be an integer in [%u, %u], got %s", lo, hi,
			    Q(n));
	return 0;
}

/*
 * A finite decimal number. Only [0-9.eE+-] are accepted, which keeps
 * out what strtod() would also take: hex floats, "inf", "nan", and
 * leading blanks; prom_parse_double() reads it independent of the
 * process locale.
 */
static int parse_double(const char *s, double *out)
{
	double v;

	if (!*s || strspn(s, "0123456789.eE+-") != strlen(s) ||
	    !prom_parse_double(s, &v) || !isfinite(v))
		return -EINVAL;
	*out = v;
	return 0;
}

static int get_double(struct ctx *x, const struct node *n, const char *field,
		      const char *range, double *out)
{
	const char *s;
	int rc = get_str(x, n, field, true, &s);

	if (rc)
		return rc;
	if (parse_double(s, out))
		return fail(x, -EINVAL, n, field, "must be a number%s%s, got %s",
			    range ? " " : "", range ? range : "", Q(n));
	return 0;
}

/* ---- pass 2: mappings ------------------------------------------------ */

/* "", "~" or "null" unquoted: an optional section left empty ("vips:"
 * with every item commented out) counts as absent. */
static bool is_null(const struct node *n)
{
	return n && n->kind == N_SCALAR && n->plain &&
	       (!n->len || !strcmp(n->val, "~") || !strcmp(n->val, "null"));
}

static const struct node *N(const struct ctx *x, int id)
{
	return id >= 0 ? &x->t.v[id] : NULL;
}

/*
 * Check a mapping against its key list and return the value node of each
 * key in vals[] (NULL if absent). Unknown and duplicate keys are errors
 * at the key. prefix is the mapping's field path ("" at the top).
 */
static int get_map(struct ctx *x, const struct node *m, const char *prefix,
		   const char *const *keys, size_t nkeys,
		   const struct node **vals)
{
	const struct node *k;
	int id;
	size_t i;

	memset(vals, 0, nkeys * sizeof(*vals));
	if (m->kind != N_MAP)
		return fail(x, -EINVAL, m, *prefix ? prefix : "(top)",
			    "must be a mapping, got %s", kind_name(m));
	for (id = m->first; id >= 0; id = N(x, k->next)->next) {
		const struct node *v;

		k = N(x, id);
		v = N(x, k->next);
		if (k->kind != N_SCALAR || strlen(k->val) != k->len)
			return fail(x, -EINVAL, k, *prefix ? prefix : "(top)",
				    "keys must be plain strings");
		for (i = 0; i < nkeys; i++)
			if (!strcmp(k->val, keys[i]))
				break;
		if (i == nkeys) {
			char list[512];
			size_t o = 0, j;

			list[0] = 0;
			for (j = 0; j < nkeys && o < sizeof(list); j++) {
				int r = snprintf(list + o, sizeof(list) - o,
						 "%s%s", j ? ", " : "",
						 keys[j]);

				if (r < 0)
					break;
				o += r;
			}
			return fail(x, -EINVAL, k, *prefix ? prefix : "(top)",
				    "unknown key %s; expected one of: %s",
				    Q(k), list);
		}
		if (vals[i])
			return fail(x, -EINVAL, k, FIELD(prefix, keys[i]),
				    "duplicate key (first at line %u)",
				    vals[i]->line);
		vals[i] = v;
	}
	return 0;
}

/* ---- agent: ---------------------------------------------------------- */

/* "off", "IPV4:PORT" or "[IPV6]:PORT", port 1..65535. */
static bool listen_ok(const char *s)
{
	char buf[64], msg[128], *host, *port;
	__u8 addr[16], fam;
	__u32 p;

	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	if (buf[0] == '[') {
		host = buf + 1;
		port = strstr(host, "]:");
		if (!port)
			return false;
		*port = 0;
		port += 2;
	} else {
		host = buf;
		port = strrchr(buf, ':');
		if (!port || strchr(buf, ':') != port)
			return false;
		*port++ = 0;
	}
	if (lb_parse_u32(port, 1, 65535, &p))
		return false;
	if (lb_parse_ip(host, addr, &fam, msg, sizeof(msg)))
		return false;
	return (buf[0] == '[') == (fam == LB_AF_INET6);
}

static int parse_agent(struct ctx *x, const struct node *m)
{
	static const char *const keys[] = {
		"metrics_listen", "pin_dir", "request_timeout_ms",
	};
	const struct node *v[3];
	const char *s;
	int rc;

	rc = get_map(x, m, "agent", keys, 3, v);
	if (rc)
		return rc;
	if (v[0]) {
		rc = get_str(x, v[0], "agent.metrics_listen", false, &s);
		if (rc)
			return rc;
		if (!strcmp(s, "off"))
			s = "";
		else if (!listen_ok(s))
			return fail(x, -EINVAL, v[0], "agent.metrics_listen",
				    "must be \"off\", IPV4:PORT or [IPV6]:PORT "
				    "with port 1..65535, got %s", Q(v[0]));
		strcpy(x->c.metrics_listen, s);	/* listen_ok: < 64 */
	}
	if (v[1]) {
		rc = get_str(x, v[1], "agent.pin_dir", false, &s);
		if (rc)
			return rc;
		if (s[0] != '/' || strlen(s) >= sizeof(x->c.pin_dir))
			return fail(x, -EINVAL, v[1], "agent.pin_dir",
				    "must be an absolute path shorter than "
				    "%zu bytes, got %s", sizeof(x->c.pin_dir),
				    Q(v[1]));
		strcpy(x->c.pin_dir, s);
	}
	if (v[2]) {
		rc = get_u32(x, v[2], "agent.request_timeout_ms", 1, 60000,
			     &x->c.request_timeout_ms);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- policy: --------------------------------------------------------- */

enum ptype { P_U32, P_DBL };

struct pfield {
	const char *key;
	enum ptype type;
	bool in_conf;		/* struct lb_conf, not struct lb_policy_cfg */
	size_t off;
	const char *rule;	/* what lb_policy_cfg_check() wants */
};

#define PU(f, r) { #f, P_U32, false, offsetof(struct lb_policy_cfg, f), r }
#define PD(f, r) { #f, P_DBL, false, offsetof(struct lb_policy_cfg, f), r }

static const struct pfield pfields[] = {
	PU(poll_interval_ms, "> 0"),
	PU(health_interval_ms, ">= poll_interval_ms"),
	PU(stale_ms, ">= poll_interval_ms"),
	PU(fail_threshold, "> 0"),
	PU(eject_base_ms, "> 0"),
	PD(eject_backoff, "in [1, 100]"),
	PU(eject_max_ms, ">= eject_base_ms"),
	PU(half_open_trials, "> 0"),
	PU(slow_start_ms, NULL),
	PD(slow_start_aggression, "in [0.001, 1000]"),
	PD(slow_start_min, "in [0, 1]"),
	PD(panic_frac, "in [0, 1]"),
	PD(hysteresis, "in [0, 1]"),
	PU(max_rebuilds_per_s, "in [1, 1000]"),
	PD(queue_sat, "> 0"),
	PD(kv_sat, "in (0, 1]"),
	PD(running_sat, ">= 0"),
	PD(ewma_down, "in [0.000001, 1]"),
	PD(ewma_up, "in [0.000001, 1]"),
	{ "backend_rate_per_capacity", P_DBL, true,
	  offsetof(struct lb_conf, backend_rate_per_capacity), ">= 0" },
	{ "backend_burst", P_U32, true,
	  offsetof(struct lb_conf, backend_burst), NULL },
};

#define NPF (sizeof(pfields) / sizeof(pfields[0]))

static int parse_policy(struct ctx *x, const struct node *m)
{
	const char *keys[NPF], *bad;
	const struct node *v[NPF];
	size_t i;
	int rc;

	for (i = 0; i < NPF; i++)
		keys[i] = pfields[i].key;
	rc = get_map(x, m, "policy", keys, NPF, v);
	if (rc)
		return rc;
	for (i = 0; i < NPF; i++) {
		const struct pfield *f = &pfields[i];
		char *base = f->in_conf ? (char *)&x->c : (char *)&x->c.policy;
		const char *field = FIELD("policy", f->key);

		if (!v[i])
			continue;
		if (f->type == P_U32)
			rc = get_u32(x, v[i], field, 0, UINT32_MAX,
				     (uint32_t *)(base + f->off));
		else
			rc = get_double(x, v[i], field, f->rule,
					(double *)(base + f->off));
		if (rc)
			return rc;
	}
	if (!(x->c.backend_rate_per_capacity >= 0)) {
		i = NPF - 2;
		return fail(x, -EINVAL, v[i], "policy.backend_rate_per_capacity",
			    "must be a number >= 0, got %s", Q(v[i]));
	}
	if (!lb_policy_cfg_check(&x->c.policy, &bad))
		return 0;
	for (i = 0; i < NPF; i++)
		if (bad && !strcmp(pfields[i].key, bad))
			break;
	if (i == NPF)		/* a knob this file does not know */
		return fail(x, -EINVAL, m, FIELD("policy", bad ? bad : "?"),
			    "invalid value");
	if (v[i])
		return fail(x, -EINVAL, v[i], FIELD("policy", bad),
			    "must be %s, got %s", pfields[i].rule, Q(v[i]));
	return fail(x, -EINVAL, m, FIELD("policy", bad),
		    "must be %s; the default does not fit the values given",
		    pfields[i].rule);
}

/* ---- vips[].backends[] ------------------------------------------------ */

/* http(s)://HOST..., printable ASCII, no blanks, < LB_CONF_URL_MAX. */
static bool url_ok(const char *s)
{
	size_t skip, i;

	if (!strncmp(s, "http://", 7))
		skip = 7;
	else if (!strncmp(s, "https://", 8))
		skip = 8;
	else
		return false;
	if (!s[skip] || s[skip] == '/' || strlen(s) >= LB_CONF_URL_MAX)
		return false;
	for (i = 0; s[i]; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

static int get_url(struct ctx *x, const struct node *n, const char *field,
		   bool empty_ok, char out[LB_CONF_URL_MAX])
{
	const char *s;
	int rc = get_str(x, n, field, empty_ok, &s);

	if (rc)
		return rc;
	if (*s && !url_ok(s))
		return fail(x, -EINVAL, n, field,
			    "must be an http:// or https:// URL shorter than "
			    "%d bytes, got %s", LB_CONF_URL_MAX, Q(n));
	strcpy(out, s);
	return 0;
}

/* A Prometheus metric name, [a-zA-Z_:][a-zA-Z0-9_:]*. */
static bool metric_name_ok(const char *s)
{
	static const char first[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_:";

	return *s && strchr(first, *s) &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "_:0123456789") == strlen(s);
}

static int parse_names(struct ctx *x, const struct node *m,
		       const char *prefix, struct lb_generic_names *g)
{
	static const char *const keys[] = { "waiting", "running", "kv" };
	const char **dst[] = { &g->waiting, &g->running, &g->kv };
	const struct node *v[3];
	const char *s;
	size_t i;
	int rc;

	rc = get_map(x, m, prefix, keys, 3, v);
	if (rc)
		return rc;
	for (i = 0; i < 3; i++) {
		const char *field = FIELD(prefix, keys[i]);

		if (!v[i])
			continue;
		rc = get_str(x, v[i], field, false, &s);
		if (rc)
			return rc;
		if (!metric_name_ok(s))
			return fail(x, -EINVAL, v[i], field,
				    "must be a Prometheus metric name, got %s",
				    Q(v[i]));
		*dst[i] = strdup(s);
		if (!*dst[i])
			return fail(x, -ENOMEM, v[i], field, "out of memory");
	}
	if (!g->waiting && !g->running && !g->kv)
		return fail(x, -EINVAL, m, prefix,
			    "needs at least one of waiting, running, kv");
	return 0;
}

/* base + suffix into out, which the caller knows is big enough. */
static void url_join(char out[LB_CONF_URL_MAX], const char *base,
		     const char *suffix)
{
	if (snprintf(out, LB_CONF_URL_MAX, "%s%s", base, suffix) >=
	    LB_CONF_URL_MAX)
		out[0] = 0;	/* not reached: checked by the caller */
}

enum { B_ADDRESS, B_ENGINE, B_URL, B_METRICS_URL, B_HEALTH_URL, B_DCGM_URL,
       B_CAPACITY, B_METRICS, B_N };

static int parse_backend(struct ctx *x, const struct node *m,
			 const char *prefix, const struct lb_conf_vip *vip,
			 struct lb_conf_backend *b)
{
	static const char *const keys[B_N] = {
		[B_ADDRESS] = "address", [B_ENGINE] = "engine",
		[B_URL] = "url", [B_METRICS_URL] = "metrics_url",
		[B_HEALTH_URL] = "health_url", [B_DCGM_URL] = "dcgm_url",
		[B_CAPACITY] = "capacity", [B_METRICS] = "metrics",
	};
	const struct node *v[B_N];
	char msg[256], base[LB_CONF_URL_MAX];
	const char *s, *f;
	size_t i, n;
	int rc;

	b->engine = LB_ENGINE_VLLM;
	b->capacity = 1.0;
	b->line = m->line;
	rc = get_map(x, m, prefix, keys, B_N, v);
	if (rc)
		return rc;

	f = FIELD(prefix, "address");
	if (!v[B_ADDRESS])
		return fail(x, -EINVAL, m, f, "is required");
	rc = get_str(x, v[B_ADDRESS], f, false, &s);
	if (rc)
		return rc;
	if (lb_parse_ip(s, b->addr, &b->family, msg, sizeof(msg)))
		return fail(x, -EINVAL, v[B_ADDRESS], f, "%s", msg);
	if (b->family != vip->key.family)
		return fail(x, -EINVAL, v[B_ADDRESS], f,
			    "is an IPv%u address but the VIP is IPv%u",
			    b->family, vip->key.family);
	for (i = 0; b != &vip->backends[i]; i++)
		if (!memcmp(vip->backends[i].addr, b->addr, 16))
			return fail(x, -EINVAL, v[B_ADDRESS], f,
				    "duplicate backend in this VIP (first at "
				    "line %u)", vip->backends[i].line);

	if (v[B_ENGINE]) {
		f = FIELD(prefix, "engine");
		rc = get_str(x, v[B_ENGINE], f, false, &s);
		if (rc)
			return rc;
		if (lb_engine_parse_name(s, &b->engine))
			return fail(x, -EINVAL, v[B_ENGINE], f,
				    "must be vllm, sglang, tgi, triton or "
				    "generic, got %s", Q(v[B_ENGINE]));
	}

	if (v[B_CAPACITY]) {
		f = FIELD(prefix, "capacity");
		rc = get_double(x, v[B_CAPACITY], f, "in (0, 1000]",
				&b->capacity);
		if (rc)
			return rc;
		if (!(b->capacity > 0 && b->capacity <= 1000))
			return fail(x, -EINVAL, v[B_CAPACITY], f,
				    "must be a number in (0, 1000], got %s",
				    Q(v[B_CAPACITY]));
	}

	/* url: the base of the two defaults, without trailing '/'. The
	 * longest suffix must still fit in a URL buffer. */
	base[0] = 0;
	if (v[B_URL]) {
		f = FIELD(prefix, "url");
		rc = get_url(x, v[B_URL], f, false, base);
		if (rc)
			return rc;
		n = strlen(base);
		while (n && base[n - 1] == '/')
			base[--n] = 0;
		if (!url_ok(base) ||
		    n + strlen("/v2/health/ready") >= LB_CONF_URL_MAX)
			return fail(x, -EINVAL, v[B_URL], f,
				    "must be an http:// or https:// URL shorter "
				    "than %zu bytes, got %s",
				    LB_CONF_URL_MAX - strlen("/v2/health/ready"),
				    Q(v[B_URL]));
		url_join(b->metrics_url, base, "/metrics");
		url_join(b->health_url, base,
			 b->engine == LB_ENGINE_TRITON ? "/v2/health/ready" :
			 "/health");
	}
	if (v[B_METRICS_URL]) {
		rc = get_url(x, v[B_METRICS_URL], FIELD(prefix, "metrics_url"),
			     false, b->metrics_url);
		if (rc)
			return rc;
	}
	if (v[B_HEALTH_URL]) {
		rc = get_url(x, v[B_HEALTH_URL], FIELD(prefix, "health_url"),
			     false, b->health_url);
		if (rc)
			return rc;
	}
	if (!b->health_url[0] || !b->metrics_url[0])
		return fail(x, -EINVAL, m, prefix,
			    "needs url, or both metrics_url and health_url "
			    "(missing %s)", b->health_url[0] ? "metrics_url" :
			    b->metrics_url[0] ? "health_url" :
			    "metrics_url and health_url");
	if (v[B_DCGM_URL]) {
		rc = get_url(x, v[B_DCGM_URL], FIELD(prefix, "dcgm_url"),
			     true, b->dcgm_url);
		if (rc)
			return rc;
	}

	f = FIELD(prefix, "metrics");
	if (v[B_METRICS] && b->engine != LB_ENGINE_GENERIC)
		return fail(x, -EINVAL, v[B_METRICS], f,
			    "only allowed with engine: generic (engine is %s)",
			    lb_engine_name(b->engine));
	if (b->engine == LB_ENGINE_GENERIC) {
		if (!v[B_METRICS])
			return fail(x, -EINVAL, m, f,
				    "is required with engine: generic (at "
				    "least one of waiting, running, kv)");
		rc = parse_names(x, v[B_METRICS], f, &b->names);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- vips[] ---------------------------------------------------------- */

enum { V_ADDRESS, V_MODE, V_RING_SIZE, V_BACKENDS, V_POLICY, V_REFUSE,
       V_FAIL_OPEN, V_RATE, V_BURST, V_CLIENT_RATE, V_CLIENT_BURST,
       V_CLIENT_PREFIX, V_EPSILON, V_N };

/* vips[].policy, refuse, fail_open and the admission numbers: the same
 * settings as `lbctl vip add/set`, names from lb_names.c. */
static int parse_vip_admission(struct ctx *x, const struct node *const *v,
			       const char *prefix, struct lb_conf_vip *vip)
{
	struct lb_vip_opts *o = &vip->opts;
	const char *s, *f;
	uint32_t u;
	int rc;

	if (v[V_POLICY]) {
		f = FIELD(prefix, "policy");
		rc = get_str(x, v[V_POLICY], f, false, &s);
		if (rc)
			return rc;
		if (lb_policy_parse(s, &o->policy))
			return fail(x, -EINVAL, v[V_POLICY], f,
				    "must be maglev, source, bounded, p2c, wrr, rr, "
				    "random or least-conn, got %s", Q(v[V_POLICY]));
	}
	if (v[V_REFUSE]) {
		f = FIELD(prefix, "refuse");
		rc = get_str(x, v[V_REFUSE], f, false, &s);
		if (rc)
			return rc;
		if (lb_refuse_parse(s, &o->refuse))
			return fail(x, -EINVAL, v[V_REFUSE], f,
				    "must be reset or drop, got %s", Q(v[V_REFUSE]));
	}
	if (v[V_FAIL_OPEN]) {
		f = FIELD(prefix, "fail_open");
		rc = get_str(x, v[V_FAIL_OPEN], f, false, &s);
		if (rc)
			return rc;
		if (strcmp(s, "true") && strcmp(s, "false"))
			return fail(x, -EINVAL, v[V_FAIL_OPEN], f,
				    "must be true or false, got %s", Q(v[V_FAIL_OPEN]));
		o->fail_open = !strcmp(s, "true");
	}
	if ((v[V_RATE] && (rc = get_u32(x, v[V_RATE], FIELD(prefix, "rate"), 0,
					 UINT32_MAX, &o->rate))) ||
	    (v[V_BURST] && (rc = get_u32(x, v[V_BURST], FIELD(prefix, "burst"), 0,
					  UINT32_MAX, &o->burst))) ||
	    (v[V_CLIENT_RATE] &&
	     (rc = get_u32(x, v[V_CLIENT_RATE], FIELD(prefix, "client_rate"), 0,
			   UINT32_MAX, &o->client_rate))) ||
	    (v[V_CLIENT_BURST] &&
	     (rc = get_u32(x, v[V_CLIENT_BURST], FIELD(prefix, "client_burst"), 0,
			   UINT32_MAX, &o->client_burst))))
		return rc;
	if (v[V_CLIENT_PREFIX]) {
		uint32_t max = vip->key.family == LB_AF_INET6 ? 128 : 32;

		rc = get_u32(x, v[V_CLIENT_PREFIX], FIELD(prefix, "client_prefix"),
			     1, max, &u);
		if (rc)
			return rc;
		if (vip->key.family == LB_AF_INET6)
			o->client_plen6 = u;
		else
			o->client_plen4 = u;
	}
	if (v[V_EPSILON]) {
		rc = get_u32(x, v[V_EPSILON], FIELD(prefix, "epsilon"), 0, 10000, &u);
		if (rc)
			return rc;
		o->bounded_eps = u;
	}
	return 0;
}

static int parse_vip(struct ctx *x, const struct node *m, size_t idx)
{
	static const char *const keys[V_N] = {
		[V_ADDRESS] = "address", [V_MODE] = "mode",
		[V_RING_SIZE] = "ring_size", [V_BACKENDS] = "backends",
		[V_POLICY] = "policy", [V_REFUSE] = "refuse",
		[V_FAIL_OPEN] = "fail_open", [V_RATE] = "rate",
		[V_BURST] = "burst", [V_CLIENT_RATE] = "client_rate",
		[V_CLIENT_BURST] = "client_burst",
		[V_CLIENT_PREFIX] = "client_prefix", [V_EPSILON] = "epsilon",
	};
	struct lb_conf_vip *vip = &x->c.vips[idx];
	const struct node *v[V_N], *bn;
	char prefix[48], bprefix[80], msg[256];
	const char *s, *f;
	size_t i;
	int rc, id;

	if (snprintf(prefix, sizeof(prefix), "vips[%zu]", idx) >=
	    (int)sizeof(prefix))
		return -EINVAL;		/* not reached: idx < 256 */
	vip->mode = LB_FWD_IPIP;
	vip->ring_size = LB_RING_SIZE_DEFAULT;
	vip->line = m->line;
	rc = get_map(x, m, prefix, keys, V_N, v);
	if (rc)
		return rc;

	f = FIELD(prefix, "address");
	if (!v[V_ADDRESS])
		return fail(x, -EINVAL, m, f, "is required");
	rc = get_str(x, v[V_ADDRESS], f, false, &s);
	if (rc)
		return rc;
	if (lb_parse_vip(s, &vip->key, msg, sizeof(msg)))
		return fail(x, -EINVAL, v[V_ADDRESS], f, "%s", msg);
	for (i = 0; i < idx; i++)
		if (!memcmp(&x->c.vips[i].key, &vip->key, sizeof(vip->key)))
			return fail(x, -EINVAL, v[V_ADDRESS], f,
				    "duplicate VIP (first at line %u)",
				    x->c.vips[i].line);

	if (v[V_MODE]) {
		f = FIELD(prefix, "mode");
		rc = get_str(x, v[V_MODE], f, false, &s);
		if (rc)
			return rc;
		if (!strcmp(s, "ipip"))
			vip->mode = LB_FWD_IPIP;
		else if (!strcmp(s, "l2dsr"))
			vip->mode = LB_FWD_L2DSR;
		else
			return fail(x, -EINVAL, v[V_MODE], f,
				    "must be ipip or l2dsr, got %s",
				    Q(v[V_MODE]));
	}

	if (v[V_RING_SIZE]) {
		f = FIELD(prefix, "ring_size");
		rc = get_str(x, v[V_RING_SIZE], f, false, &s);
		if (rc)
			return rc;
		if (lb_parse_u32(s, 0, UINT32_MAX, &vip->ring_size) ||
		    !lb_ring_size_ok(vip->ring_size))
			return fail(x, -EINVAL, v[V_RING_SIZE], f,
				    "must be a prime in [%u, %u], got %s",
				    LB_RING_SIZE_MIN, LB_RING_SIZE_MAX,
				    Q(v[V_RING_SIZE]));
	}

	vip->opts.bounded_eps = 25;
	rc = parse_vip_admission(x, v, prefix, vip);
	if (rc)
		return rc;
	vip->opts.mode = vip->mode;
	vip->opts.ring_size = vip->ring_size;

	bn = v[V_BACKENDS];
	if (!bn || is_null(bn))
		return 0;
	f = FIELD(prefix, "backends");
	if (bn->kind != N_SEQ)
		return fail(x, -EINVAL, bn, f, "must be a sequence, got %s",
			    kind_name(bn));
	if (bn->n > LB_CONF_MAX_BACKENDS - x->total_backends)
		return fail(x, -E2BIG, bn, f,
			    "more than %d backends in the file",
			    LB_CONF_MAX_BACKENDS);
	x->total_backends += bn->n;
	if (!bn->n)
		return 0;
	vip->backends = calloc(bn->n, sizeof(*vip->backends));
	if (!vip->backends)
		return fail(x, -ENOMEM, bn, f, "out of memory");
	for (id = bn->first, i = 0; id >= 0; id = N(x, id)->next, i++) {
		if (snprintf(bprefix, sizeof(bprefix), "%s[%zu]", f, i) >=
		    (int)sizeof(bprefix))
			return -EINVAL;	/* not reached: short names */
		/* Counted before parsing so a failed backend's names are
		 * freed with the rest. */
		vip->n_backends = i + 1;
		rc = parse_backend(x, N(x, id), bprefix, vip,
				   &vip->backends[i]);
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_vips(struct ctx *x, const struct node *s)
{
	size_t i;
	int id, rc;

	if (s->kind != N_SEQ)
		return fail(x, -EINVAL, s, "vips", "must be a sequence, got %s",
			    kind_name(s));
	if (s->n > LB_CONF_MAX_VIPS)
		return fail(x, -E2BIG, s, "vips", "more than %d VIPs",
			    LB_CONF_MAX_VIPS);
	if (!s->n)
		return 0;
	x->c.vips = calloc(s->n, sizeof(*x->c.vips));
	if (!x->c.vips)
		return fail(x, -ENOMEM, s, "vips", "out of memory");
	for (id = s->first, i = 0; id >= 0; id = N(x, id)->next, i++) {
		x->c.n_vips = i + 1;
		rc = parse_vip(x, N(x, id), i);
		if (rc)
			return rc;
	}
	return 0;
}


static int parse_top(struct ctx *x, int root)
{
	static const char *const keys[] = { "agent", "policy", "vips" };
	const struct node *v[3];
	int rc;

	/* An empty file, or one with only comments or "---". */
	if (root < 0 || is_null(N(x, root)))
		return 0;
	rc = get_map(x, N(x, root), "", keys, 3, v);
	if (rc)
		return rc;
	if (v[0] && !is_null(v[0]) && (rc = parse_agent(x, v[0])))
		return rc;
	if (v[1] && !is_null(v[1]) && (rc = parse_policy(x, v[1])))
		return rc;
	if (v[2] && !is_null(v[2]) && (rc = parse_vips(x, v[2])))
		return rc;
	return 0;
}

void lb_conf_free(struct lb_conf *c)
{
	size_t i, j;

	if (!c)
		return;
	for (i = 0; i < c->n_vips && c->vips; i++) {
		struct lb_conf_vip *v = &c->vips[i];

		for (j = 0; j < v->n_backends && v->backends; j++) {
			struct lb_generic_names *g = &v->backends[j].names;

			free((char *)g->waiting);
			free((char *)g->running);
			free((char *)g->kv);
		}
		free(v->backends);
	}
	free(c->vips);
	memset(c, 0, sizeof(*c));
}

int lb_conf_load_buf(const char *name, const char *buf, size_t len,
		     struct lb_conf *out, char *err, size_t errlen)
{
	struct ctx x = {
		.name = name ? name : "(config)",
		.err = err,
		.errlen = errlen,
	};
	int root, rc;

	memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = 0;
	if (len > LB_CONF_MAX_FILE) {
		if (err && errlen)
			snprintf(err, errlen, "%s: larger than %u bytes",
				 x.name, LB_CONF_MAX_FILE);
		return -E2BIG;
	}
	strcpy(x.c.metrics_listen, LB_CONF_METRICS_LISTEN_DEFAULT);
	strcpy(x.c.pin_dir, LB_PIN_DIR_DEFAULT);
	x.c.request_timeout_ms = LB_CONF_REQUEST_TIMEOUT_DEFAULT;
	lb_policy_cfg_default(&x.c.policy);

	rc = build_tree(&x, buf ? buf : "", buf ? len : 0, &root);
	if (!rc)
		rc = parse_top(&x, root);
	tree_free(&x.t);
	if (rc) {
		lb_conf_free(&x.c);
		return rc;
	}
	*out = x.c;
	return 0;
}

int lb_conf_load_file(const char *path, struct lb_conf *out, char *err,
		      size_t errlen)
{
	size_t len = 0, cap = 0;
	char *buf = NULL;
	int fd, rc;

	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		if (err && errlen)
			snprintf(err, errlen, "%s: cannot open: %s", path,
				 strerror(-rc));
		return rc;
	}
	/* Read to EOF rather than trust st_size: the file may be a pipe
	 * (/dev/stdin) or change under us. */
	for (;;) {
		ssize_t r;

		if (len == cap) {
			char *nb;

			if (len > LB_CONF_MAX_FILE) {
				rc = -E2BIG;
				if (err && errlen)
					snprintf(err, errlen,
						 "%s: larger than %u bytes",
						 path, LB_CONF_MAX_FILE);
				goto out;
			}
			/* One byte over the limit tells "too big" from
			 * "exactly the limit". */
			cap = cap ? cap * 2 : 65536;
			if (cap > LB_CONF_MAX_FILE + 1)
				cap = LB_CONF_MAX_FILE + 1;
			nb = realloc(buf, cap);
			if (!nb) {
				rc = -ENOMEM;
				if (err && errlen)
					snprintf(err, errlen,
						 "%s: out of memory", path);
				goto out;
			}
			buf = nb;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			if (err && errlen)
				snprintf(err, errlen, "%s: cannot read: %s",
					 path, strerror(-rc));
			goto out;
		}
		if (!r)
			break;
		len += r;
	}
	rc = lb_conf_load_buf(path, buf, len, out, err, errlen);
out:
	free(buf);
	close(fd);
	return rc;
}

__u32 lb_conf_static_weight(const struct lb_conf_backend *b)
{
	double w = round(b->capacity * LB_WEIGHT_DEFAULT);

	if (!(w >= 1))		/* also NaN */
		return 1;
	if (w > 1000000)
		return 1000000;
	return (__u32)w;
}
