// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * discover_conf.c - a VIP's `discover:` key (format in discover_conf.h),
 * strict like the rest of the file: every error names file, line, column
 * and field, and nothing of a refused file is used.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discover_conf.h"
#include "lb_addr.h"
#include "lb_msg.h"
#include "lb_yaml.h"

#define FIELD LB_YAML_FIELD
#define Q LB_YAML_Q

/* ---- template: ---------------------------------------------------------- */

enum { T_ENGINE, T_SCHEME, T_METRICS_PATH, T_HEALTH_PATH, T_CAPACITY,
       T_SLOTS, T_METRICS, T_N };

/* "/..." printable, no blanks, shorter than LB_DISC_PATH_MAX */
static int get_path(struct lb_yaml_doc *d, const struct lb_yaml_node *n,
		    const char *field, char out[LB_DISC_PATH_MAX])
{
	const char *s;
	int rc = lb_yaml_get_str(d, n, field, false, &s);

	if (rc)
		return rc;
	if (s[0] != '/' || strlen(s) >= LB_DISC_PATH_MAX)
		goto bad;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			goto bad;
	strcpy(out, s);
	return 0;
bad:
	return lb_yaml_fail(d, -EINVAL, n, field, "must be a path starting "
			    "with '/', printable, shorter than %d bytes, got %s",
			    LB_DISC_PATH_MAX, Q(n));
}

static int parse_template(struct lb_yaml_doc *d, const struct lb_yaml_node *m,
			  const char *prefix, struct lb_disc_template *t)
{
	static const char *const keys[T_N] = {
		[T_ENGINE] = "engine", [T_SCHEME] = "scheme",
		[T_METRICS_PATH] = "metrics_path",
		[T_HEALTH_PATH] = "health_path", [T_CAPACITY] = "capacity",
		[T_SLOTS] = "slots", [T_METRICS] = "metrics",
	};
	const struct lb_yaml_node *v[T_N];
	const char *s, *f;
	int rc;

	t->engine = LB_ENGINE_VLLM;
	t->capacity = 1.0;
	if (m && !lb_yaml_is_null(m) &&
	    (rc = lb_yaml_get_map(d, m, prefix, keys, T_N, v)))
		return rc;
	if (!m || lb_yaml_is_null(m))
		memset(v, 0, sizeof(v));
	if (v[T_ENGINE]) {
		f = FIELD(prefix, "engine");
		if ((rc = lb_yaml_get_str(d, v[T_ENGINE], f, false, &s)))
			return rc;
		if (lb_engine_parse_name(s, &t->engine))
			return lb_yaml_fail(d, -EINVAL, v[T_ENGINE], f,
					    "must be vllm, sglang, tgi, triton "
					    "or generic, got %s", Q(v[T_ENGINE]));
	}
	if (v[T_SCHEME]) {
		f = FIELD(prefix, "scheme");
		if ((rc = lb_yaml_get_str(d, v[T_SCHEME], f, false, &s)))
			return rc;
		if (strcmp(s, "http") && strcmp(s, "https"))
			return lb_yaml_fail(d, -EINVAL, v[T_SCHEME], f,
					    "must be http or https, got %s",
					    Q(v[T_SCHEME]));
		t->https = !strcmp(s, "https");
	}
	strcpy(t->metrics_path, "/metrics");
	strcpy(t->health_path, t->engine == LB_ENGINE_TRITON ?
	       "/v2/health/ready" : "/health");
	if ((v[T_METRICS_PATH] &&
	     (rc = get_path(d, v[T_METRICS_PATH], FIELD(prefix, "metrics_path"),
			    t->metrics_path))) ||
	    (v[T_HEALTH_PATH] &&
	     (rc = get_path(d, v[T_HEALTH_PATH], FIELD(prefix, "health_path"),
			    t->health_path))))
		return rc;
	if (v[T_CAPACITY]) {
		f = FIELD(prefix, "capacity");
		if ((rc = lb_yaml_get_double(d, v[T_CAPACITY], f, "in (0, 1000]",
					     &t->capacity)))
			return rc;
		if (!(t->capacity > 0 && t->capacity <= 1000))
			return lb_yaml_fail(d, -EINVAL, v[T_CAPACITY], f,
					    "must be a number in (0, 1000], got %s",
					    Q(v[T_CAPACITY]));
	}
	if (v[T_SLOTS] &&
	    (rc = lb_yaml_get_u32(d, v[T_SLOTS], FIELD(prefix, "slots"), 1,
				  LB_SLOTS_MAX, &t->slots)))
		return rc;
	f = FIELD(prefix, "metrics");
	if (v[T_METRICS] && t->engine != LB_ENGINE_GENERIC)
		return lb_yaml_fail(d, -EINVAL, v[T_METRICS], f,
				    "only allowed with engine: generic");
	if (t->engine == LB_ENGINE_GENERIC && !v[T_METRICS])
		return lb_yaml_fail(d, -EINVAL, m ? m : v[T_ENGINE], f,
				    "is required with engine: generic");
	if (v[T_METRICS])
		return lb_agent_parse_names(d, v[T_METRICS], f, &t->names);
	return 0;
}

/* ---- sources[] ------------------------------------------------------------ */

enum { S_DNS, S_ETCD, S_TYPE, S_PORT, S_SERVERS, S_MIN_TTL, S_MAX_TTL,
       S_TIMEOUT, S_ENDPOINTS, S_TEMPLATE, S_N };

static const char *const src_keys[S_N] = {
	[S_DNS] = "dns", [S_ETCD] = "etcd", [S_TYPE] = "type",
	[S_PORT] = "port", [S_SERVERS] = "servers", [S_MIN_TTL] = "min_ttl_s",
	[S_MAX_TTL] = "max_ttl_s", [S_TIMEOUT] = "timeout_ms",
	[S_ENDPOINTS] = "endpoints", [S_TEMPLATE] = "template",
};

/* A DNS name: letters, digits, '-', '_' and dots, 1..253 bytes. */
static bool dns_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n && n <= 253 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789-_.") == n && s[0] != '.';
}

/* "IP[:PORT]" or "[V6]:PORT", comma-separated, as c-ares takes them. */
static bool servers_ok(const char *s)
{
	char buf[LB_DISC_NAME_MAX], *save = NULL, *t, msg[128];
	__u8 a[16], fam;
	__u16 port;

	if (!*s || strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	for (t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
		if (lb_parse_ip(t, a, &fam, msg, sizeof(msg)) &&
		    lb_parse_hostport(t, a, &fam, &port, msg, sizeof(msg)))
			return false;
	return true;
}

/* Keys that belong to the other kind of source. */
static int only_for(struct lb_yaml_doc *d, const struct lb_yaml_node *const *v,
		    const int *keys, size_t n, const char *prefix,
		    const char *kind)
{
	for (size_t i = 0; i < n; i++)
		if (v[keys[i]])
			return lb_yaml_fail(d, -EINVAL, v[keys[i]],
					    FIELD(prefix, src_keys[keys[i]]),
					    "is not a key of %s source", kind);
	return 0;
}

static int parse_dns(struct lb_yaml_doc *d, const struct lb_yaml_node *m,
		     const struct lb_yaml_node *const *v, const char *prefix,
		     struct lb_disc_source_conf *s)
{
	static const int not_dns[] = { S_ENDPOINTS };
	const char *f, *str;
	uint32_t u;
	int rc;

	if ((rc = only_for(d, v, not_dns, 1, prefix, "a dns")))
		return rc;
	s->kind = LB_DISC_DNS;
	s->type = LB_DNS_SRV;
	s->min_ttl_s = LB_DISC_MIN_TTL_DEFAULT_S;
	s->max_ttl_s = LB_DISC_MAX_TTL_DEFAULT_S;
	s->timeout_ms = LB_DISC_TIMEOUT_DEFAULT_MS;
	f = FIELD(prefix, "dns");
	if ((rc = lb_yaml_get_str(d, v[S_DNS], f, false, &str)))
		return rc;
	if (!dns_name_ok(str))
		return lb_yaml_fail(d, -EINVAL, v[S_DNS], f, "must be a DNS name "
				    "(letters, digits, '-', '_', '.'), got %s",
				    Q(v[S_DNS]));
	strcpy(s->name, str);
	if (v[S_TYPE]) {
		f = FIELD(prefix, "type");
		if ((rc = lb_yaml_get_str(d, v[S_TYPE], f, false, &str)))
			return rc;
		if (!strcmp(str, "srv"))
			s->type = LB_DNS_SRV;
		else if (!strcmp(str, "a"))
			s->type = LB_DNS_A;
		else if (!strcmp(str, "aaaa"))
			s->type = LB_DNS_AAAA;
		else
			return lb_yaml_fail(d, -EINVAL, v[S_TYPE], f,
					    "must be srv, a or aaaa, got %s",
					    Q(v[S_TYPE]));
	}
	f = FIELD(prefix, "port");
	if (s->type == LB_DNS_SRV && v[S_PORT])
		return lb_yaml_fail(d, -EINVAL, v[S_PORT], f, "is not allowed "
				    "with type srv (the records carry the port)");
	if (s->type != LB_DNS_SRV) {
		if (!v[S_PORT])
			return lb_yaml_fail(d, -EINVAL, m, f, "is required with "
					    "type a or aaaa");
		if ((rc = lb_yaml_get_u32(d, v[S_PORT], f, 1, 65535, &u)))
			return rc;
		s->port = (uint16_t)u;
	}
	if (v[S_SERVERS]) {
		f = FIELD(prefix, "servers");
		if ((rc = lb_yaml_get_str(d, v[S_SERVERS], f, false, &str)))
			return rc;
		if (!servers_ok(str))
			return lb_yaml_fail(d, -EINVAL, v[S_SERVERS], f,
					    "must be IP[:PORT] or [V6]:PORT, "
					    "comma-separated, got %s",
					    Q(v[S_SERVERS]));
		strcpy(s->servers, str);
	}
	if ((v[S_MIN_TTL] &&
	     (rc = lb_yaml_get_u32(d, v[S_MIN_TTL], FIELD(prefix, "min_ttl_s"),
				   1, 86400, &s->min_ttl_s))) ||
	    (v[S_MAX_TTL] &&
	     (rc = lb_yaml_get_u32(d, v[S_MAX_TTL], FIELD(prefix, "max_ttl_s"),
				   1, 86400, &s->max_ttl_s))) ||
	    (v[S_TIMEOUT] &&
	     (rc = lb_yaml_get_u32(d, v[S_TIMEOUT], FIELD(prefix, "timeout_ms"),
				   100, 30000, &s->timeout_ms))))
		return rc;
	if (s->min_ttl_s > s->max_ttl_s)
		return lb_yaml_fail(d, -EINVAL, v[S_MIN_TTL] ? v[S_MIN_TTL] : m,
				    FIELD(prefix, "min_ttl_s"), "must not be "
				    "above max_ttl_s (%u > %u)", s->min_ttl_s,
				    s->max_ttl_s);
	return 0;
}

static int parse_etcd(struct lb_yaml_doc *d, const struct lb_yaml_node *m,
		      const struct lb_yaml_node *const *v, const char *prefix,
		      const struct lb_cluster_conf *cl,
		      struct lb_disc_source_conf *s)
{
	static const int not_etcd[] = { S_TYPE, S_PORT, S_SERVERS, S_MIN_TTL,
					S_MAX_TTL, S_TIMEOUT };
	const struct lb_yaml_node *e;
	const char *f, *str;
	int rc;

	if ((rc = only_for(d, v, not_etcd, 6, prefix, "an etcd")))
		return rc;
	s->kind = LB_DISC_ETCD;
	f = FIELD(prefix, "etcd");
	if ((rc = lb_yaml_get_str(d, v[S_ETCD], f, false, &str)))
		return rc;
	if (str[0] != '/' || strlen(str) >= LB_DISC_NAME_MAX ||
	    strpbrk(str, " \t\r\n\"\\"))
		return lb_yaml_fail(d, -EINVAL, v[S_ETCD], f, "must be a key "
				    "prefix starting with '/', without blanks, quotes "
				    "or backslashes, "
				    "shorter than %d bytes, got %s",
				    LB_DISC_NAME_MAX, Q(v[S_ETCD]));
	strcpy(s->name, str);
	f = FIELD(prefix, "endpoints");
	if (!v[S_ENDPOINTS]) {
		if (!cl->n_etcd)
			return lb_yaml_fail(d, -EINVAL, m, f, "is required "
					    "without a cluster: section (whose "
					    "etcd it defaults to)");
		for (size_t i = 0; i < cl->n_etcd; i++)
			snprintf(s->endpoints[i], LB_ETCD_URL_MAX, "%s",
				 cl->etcd[i]);
		s->n_endpoints = cl->n_etcd;
		return 0;
	}
	e = v[S_ENDPOINTS];
	if (e->kind != LB_YAML_SEQ || !e->n || e->n > LB_ETCD_ENDPOINTS_MAX)
		return lb_yaml_fail(d, -EINVAL, e, f, "must be a list of 1..%d "
				    "etcd endpoints (http://HOST:PORT)",
				    LB_ETCD_ENDPOINTS_MAX);
	for (e = lb_yaml_at(d, e->first); e; e = lb_yaml_at(d, e->next)) {
		char ef[96];

		snprintf(ef, sizeof(ef), "%s[%zu]", f, s->n_endpoints);
		if ((rc = lb_yaml_get_str(d, e, ef, false, &str)))
			return rc;
		if (!lb_agent_etcd_url_ok(str) || strlen(str) >= LB_ETCD_URL_MAX)
			return lb_yaml_fail(d, -EINVAL, e, ef, "must be "
					    "http://HOST:PORT (or https://), "
					    "without a path, got %s", Q(e));
		strcpy(s->endpoints[s->n_endpoints++], str);
	}
	return 0;
}

static int parse_source(struct lb_yaml_doc *d, const struct lb_yaml_node *m,
			const char *prefix, const struct lb_cluster_conf *cl,
			struct lb_disc_source_conf *s)
{
	const struct lb_yaml_node *v[S_N];
	int rc;

	s->line = m->line;
	if ((rc = lb_yaml_get_map(d, m, prefix, src_keys, S_N, v)))
		return rc;
	if (!v[S_DNS] == !v[S_ETCD])
		return lb_yaml_fail(d, -EINVAL, m, prefix, "needs exactly one of "
				    "dns or etcd");
	rc = v[S_DNS] ? parse_dns(d, m, v, prefix, s) :
			parse_etcd(d, m, v, prefix, cl, s);
	if (rc)
		return rc;
	return parse_template(d, v[S_TEMPLATE], FIELD(prefix, "template"),
			      &s->tpl);
}

static bool same_source(const struct lb_disc_source_conf *a,
			const struct lb_disc_source_conf *b)
{
	return a->kind == b->kind && !strcmp(a->name, b->name) &&
	       (a->kind == LB_DISC_ETCD || a->type == b->type);
}

/* ---- discover: ------------------------------------------------------------ */

enum { D_MAX_REMOVE, D_DRAIN_TIMEOUT, D_SOURCES, D_N };

int lb_disc_conf_parse(void *ctx, struct lb_yaml_doc *d,
		       const struct lb_yaml_node *m, const char *field,
		       const struct lb_yaml_node *const *vals,
		       struct lb_topo_vip *vip)
{
	static const char *const keys[D_N] = {
		[D_MAX_REMOVE] = "max_remove_fraction",
		[D_DRAIN_TIMEOUT] = "drain_timeout_s", [D_SOURCES] = "sources",
	};
	const struct lb_agent_conf *c = ctx;
	struct lb_disc_vip_conf *dc = vip->ext;
	const struct lb_yaml_node *v[D_N], *dn = vals[0], *s;
	char prefix[64], sp[96];
	uint32_t drain_s = LB_DISC_DRAIN_TIMEOUT_DEFAULT_MS / 1000;
	const char *f;
	int rc;

	(void)m;
	snprintf(prefix, sizeof(prefix), "%s", FIELD(field, LB_TOPO_DISCOVER_KEY));
	dc->lim.max_remove_fraction = LB_DISC_MAX_REMOVE_FRACTION_DEFAULT;
	if ((rc = lb_yaml_get_map(d, dn, prefix, keys, D_N, v)))
		return rc;
	if (v[D_MAX_REMOVE]) {
		f = FIELD(prefix, "max_remove_fraction");
		if ((rc = lb_yaml_get_double(d, v[D_MAX_REMOVE], f, "in (0, 1]",
					     &dc->lim.max_remove_fraction)))
			return rc;
		if (!(dc->lim.max_remove_fraction > 0 &&
		      dc->lim.max_remove_fraction <= 1))
			return lb_yaml_fail(d, -EINVAL, v[D_MAX_REMOVE], f,
					    "must be a number in (0, 1], got %s",
					    Q(v[D_MAX_REMOVE]));
	}
	if (v[D_DRAIN_TIMEOUT] &&
	    (rc = lb_yaml_get_u32(d, v[D_DRAIN_TIMEOUT],
				  FIELD(prefix, "drain_timeout_s"), 1,
				  LB_DISC_DRAIN_TIMEOUT_MAX_S, &drain_s)))
		return rc;
	dc->lim.drain_timeout_ms = (uint64_t)drain_s * 1000;
	f = FIELD(prefix, "sources");
	s = v[D_SOURCES];
	if (!s || s->kind != LB_YAML_SEQ || !s->n || s->n > LB_DISC_SOURCES_MAX)
		return lb_yaml_fail(d, -EINVAL, s ? s : dn, f, "must be a list "
				    "of 1..%d sources (dns: or etcd:)",
				    LB_DISC_SOURCES_MAX);
	for (s = lb_yaml_at(d, s->first); s; s = lb_yaml_at(d, s->next)) {
		struct lb_disc_source_conf *sc = &dc->src[dc->n_src];

		snprintf(sp, sizeof(sp), "%s[%zu]", f, dc->n_src);
		dc->n_src++;	/* counted first: released on failure */
		if ((rc = parse_source(d, s, sp, &c->cluster, sc)))
			return rc;
		for (size_t i = 0; i + 1 < dc->n_src; i++)
			if (same_source(&dc->src[i], sc))
				return lb_yaml_fail(d, -EINVAL, s, sp,
						    "duplicate source (first at "
						    "line %u)", dc->src[i].line);
	}
	return 0;
}

void lb_disc_conf_release(void *ext)
{
	struct lb_disc_vip_conf *dc = ext;

	for (size_t i = 0; i < dc->n_src; i++)
		lb_agent_names_free(&dc->src[i].tpl.names);
}

void lb_disc_source_label(const struct lb_disc_source_conf *s, char *out,
			  size_t len)
{
	snprintf(out, len, "%s%s", s->kind == LB_DISC_DNS ? LB_TOPO_ORIGIN_DNS :
		 LB_TOPO_ORIGIN_ETCD, s->name);
}

/* ---- a found worker as a backend ----------------------------------------- */

static int dup_names(struct lb_generic_names *dst,
		     const struct lb_generic_names *src)
{
	const char *const *from[] = { &src->waiting, &src->running, &src->kv };
	const char **to[] = { &dst->waiting, &dst->running, &dst->kv };

	for (size_t i = 0; i < 3; i++)
		if (*from[i] && !(*to[i] = strdup(*from[i])))
			return -ENOMEM;
	return 0;
}

int lb_disc_backend(const struct lb_disc_source_conf *s,
		    const struct lb_disc_worker *w,
		    const struct lb_registry_entry *reg,
		    struct lb_topo_backend *b, struct lb_agent_backend_conf *ac,
		    char *msg, size_t len)
{
	const struct lb_disc_template *t = &s->tpl;
	char base[LB_AGENT_URL_MAX], ip[64];
	uint16_t port = w->port ? w->port : s->port;
	int n;

	memcpy(b->addr, w->addr, 16);
	b->family = w->family;
	b->capacity = reg && reg->capacity > 0 ? reg->capacity : t->capacity;
	b->line = s->line;
	b->port = port;
	b->ext = ac;
	ac->engine = t->engine;
	if (reg && reg->engine[0] && lb_engine_parse_name(reg->engine, &ac->engine))
		return lb_msgf(msg, len, -EINVAL, "engine %s unknown", reg->engine);
	ac->slots = reg && reg->slots ? reg->slots : t->slots;
	if (reg && reg->url[0]) {
		n = snprintf(base, sizeof(base), "%s", reg->url);
		while (n > 0 && base[n - 1] == '/')
			base[--n] = 0;
	} else {
		lb_fmt_ip(w->addr, w->family, ip, sizeof(ip));
		n = snprintf(base, sizeof(base), "%s://%s%s%s:%u",
			     t->https ? "https" : "http",
			     w->family == LB_AF_INET6 ? "[" : "", ip,
			     w->family == LB_AF_INET6 ? "]" : "", port);
	}
	if (n < 0 || (size_t)n + LB_DISC_PATH_MAX >= sizeof(base) ||
	    snprintf(ac->metrics_url, sizeof(ac->metrics_url), "%s%s", base,
		     t->metrics_path) >= (int)sizeof(ac->metrics_url) ||
	    snprintf(ac->health_url, sizeof(ac->health_url), "%s%s", base,
		     t->health_path) >= (int)sizeof(ac->health_url) ||
	    !lb_agent_url_ok(ac->metrics_url))
		return lb_msgf(msg, len, -EINVAL, "URL %s too long or invalid",
			       base);
	if (ac->engine == LB_ENGINE_GENERIC && !t->names.waiting &&
	    !t->names.running && !t->names.kv)
		return lb_msgf(msg, len, -EINVAL, "engine generic needs the "
			       "template's metrics names");
	return dup_names(&ac->names, &t->names) ?
		       lb_msgf(msg, len, -ENOMEM, "out of memory") : 0;
}
