// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * config.c - lb-agent's keys of the config file (format in config.h),
 * layered on the library's topology parser (lib/lb_topo.c) through its
 * extension hooks: top() for `agent:` and `policy:`, backend() for each
 * backend's engine, URLs and metric names. Both layers read the same
 * strict tree (lib/lb_yaml.c) and report errors the same way.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "config.h"
#include "discover_conf.h"
#include "lb_addr.h"
#include "lb_apply.h"
#include "lb_yaml.h"

#define FIELD LB_YAML_FIELD
#define Q LB_YAML_Q

/* ---- agent.metrics_web: who may read /metrics -------------------------- */

#define WEB "agent.metrics_web"

bool lb_agent_listen_is_loopback(const char *listen)
{
	static const __u8 v6_loopback[16] = { [15] = 1 };
	__u8 addr[16], fam;
	char msg[128];
	__u16 port;

	if (lb_parse_hostport(listen, addr, &fam, &port, msg, sizeof(msg)))
		return false;
	if (fam == LB_AF_INET6)
		return !memcmp(addr, v6_loopback, sizeof(addr));
	return addr[0] == 127;
}

void lb_agent_web_free(struct lb_agent_web_conf *w)
{
	size_t i;

	free(w->cert_file);
	free(w->key_file);
	free(w->cert_pem);
	if (w->key_pem)		/* a secret: leave no copy in freed memory */
		explicit_bzero(w->key_pem, strlen(w->key_pem));
	free(w->key_pem);
	for (i = 0; i < w->n_users; i++) {
		free(w->users[i].name);
		free(w->users[i].hash);
	}
	free(w->users);
	memset(w, 0, sizeof(*w));
}

static int dup_str(char **dst, const char *src)
{
	return src && !(*dst = strdup(src)) ? -ENOMEM : 0;
}

int lb_agent_web_copy(struct lb_agent_web_conf *dst,
		      const struct lb_agent_web_conf *src)
{
	size_t i;

	memset(dst, 0, sizeof(*dst));
	dst->insecure = src->insecure;
	if (dup_str(&dst->cert_file, src->cert_file) ||
	    dup_str(&dst->key_file, src->key_file) ||
	    dup_str(&dst->cert_pem, src->cert_pem) ||
	    dup_str(&dst->key_pem, src->key_pem) ||
	    (src->n_users &&
	     !(dst->users = calloc(src->n_users, sizeof(*dst->users)))))
		goto nomem;
	for (i = 0; i < src->n_users; i++) {
		dst->n_users++;
		if (dup_str(&dst->users[i].name, src->users[i].name) ||
		    dup_str(&dst->users[i].hash, src->users[i].hash))
			goto nomem;
	}
	return 0;
nomem:
	lb_agent_web_free(dst);
	return -ENOMEM;
}

/* The whole of fd, a regular file of at most LB_AGENT_PEM_MAX bytes, into
 * a malloc'd NUL-terminated *out. A pipe or device is refused rather than
 * read (it might never end). Returns 0, or an errno with *what set. */
static int read_small_file(int fd, char **out, const char **what)
{
	size_t len = 0;
	struct stat st;
	char *buf;

	if (fstat(fd, &st)) {
		*what = strerror(errno);
		return errno;
	}
	if (!S_ISREG(st.st_mode)) {
		*what = "not a regular file";
		return EINVAL;
	}
	if (st.st_size > LB_AGENT_PEM_MAX) {
		*what = "larger than 1 MiB";
		return EFBIG;
	}
	buf = malloc(LB_AGENT_PEM_MAX + 1);
	if (!buf) {
		*what = "out of memory";
		return ENOMEM;
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, LB_AGENT_PEM_MAX + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = errno;

			*what = strerror(err);
			free(buf);
			return err;
		}
		if (!r)
			break;
		len += r;
		if (len > LB_AGENT_PEM_MAX) {	/* it grew while we read */
			*what = "larger than 1 MiB";
			free(buf);
			return EFBIG;
		}
	}
	buf[len] = 0;
	if (strlen(buf) != len) {
		*what = "not PEM text (it holds NUL bytes)";
		explicit_bzero(buf, len);
		free(buf);
		return EINVAL;
	}
	*out = buf;
	return 0;
}

/* Whether text holds a PEM block whose label ("-----BEGIN LABEL-----")
 * ends in tag. */
static bool pem_has(const char *text, const char *tag)
{
	size_t t = strlen(tag);
	const char *b, *e;

	for (b = strstr(text, "-----BEGIN "); b; b = strstr(b, "-----BEGIN ")) {
		b += strlen("-----BEGIN ");
		e = strstr(b, "-----");
		if (e && (size_t)(e - b) >= t && !memchr(b, '\n', e - b) &&
		    !memcmp(e - t, tag, t))
			return true;
	}
	return false;
}

/* tls_server_config's cert_file or key_file (the node n): the path into
 * *path and the file's contents into *pem, which must hold a PEM block
 * whose BEGIN line ends in tag ("CERTIFICATE", "PRIVATE KEY"), so a key
 * given for the certificate is named here rather than by GnuTLS. */
static int read_pem(struct lb_yaml_doc *d, const struct lb_yaml_node *n,
		    const char *key, const char *tag, char **path, char **pem)
{
	const char *field = FIELD(WEB ".tls_server_config", key);
	const char *s, *what = NULL;
	int fd, rc;

	rc = lb_yaml_get_str(d, n, field, false, &s);
	if (rc)
		return rc;
	*path = strdup(s);
	if (!*path)
		return lb_yaml_fail(d, -ENOMEM, n, field, "out of memory");
	/* Not even opened unless it is a regular file: opening some devices
	 * acts (a watchdog starts counting), and a config names any path. */
	{
		struct stat st;

		rc = stat(s, &st) ? errno : 0;
		if (rc || !S_ISREG(st.st_mode))
			return lb_yaml_fail(d, rc ? -rc : -EINVAL, n, field,
					    rc ? "cannot open %s: %s" :
						 "cannot read %s: %s", Q(n),
					    rc ? strerror(rc) : "not a regular file");
	}
	fd = open(s, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		rc = errno;
		return lb_yaml_fail(d, -rc, n, field, "cannot open %s: %s", Q(n),
				    strerror(rc));
	}
	rc = read_small_file(fd, pem, &what);
	close(fd);
	if (rc)
		return lb_yaml_fail(d, -rc, n, field, "cannot read %s: %s", Q(n),
				    what);
	if (pem_has(*pem, tag))
		return 0;
	return lb_yaml_fail(d, -EINVAL, n, field,
			    "%s holds no PEM block \"-----BEGIN ...%s-----\"",
			    Q(n), tag);
}

static int parse_tls(struct lb_agent_web_conf *w, struct lb_yaml_doc *d,
		     const struct lb_yaml_node *m)
{
	static const char *const keys[] = { "cert_file", "key_file" };
	const struct lb_yaml_node *v[2];
	int rc;

	rc = lb_yaml_get_map(d, m, WEB ".tls_server_config", keys, 2, v);
	if (rc)
		return rc;
	if (!v[0] || !v[1])
		return lb_yaml_fail(d, -EINVAL, m, WEB ".tls_server_config",
				    "needs both cert_file and key_file "
				    "(missing %s)", v[0] ? "key_file" :
				    v[1] ? "cert_file" : "both");
	rc = read_pem(d, v[0], "cert_file", "CERTIFICATE", &w->cert_file,
		      &w->cert_pem);
	if (!rc)
		rc = read_pem(d, v[1], "key_file", "PRIVATE KEY", &w->key_file,
			      &w->key_pem);
	return rc;
}

/* "$2a$", "$2b$" or "$2y$", a two-digit cost 04..31, "$", then 22 bytes of
 * salt and 31 of hash in bcrypt's base64: what crypt(3) verifies. */
static bool bcrypt_ok(const char *s)
{
	static const char b64[] = "./ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789";
	int cost;

	if (strlen(s) != LB_AGENT_BCRYPT_LEN || strncmp(s, "$2", 2) ||
	    !strchr("aby", s[2]) || s[3] != '$' || s[6] != '$' ||
	    s[4] < '0' || s[4] > '9' || s[5] < '0' || s[5] > '9')
		return false;
	cost = (s[4] - '0') * 10 + (s[5] - '0');
	return cost >= 4 && cost <= 31 && strspn(s + 7, b64) == 53;
}

/* A basic-auth user id: 1..255 bytes, no ':' (it ends the user id in the
 * Authorization header) and no control byte (RFC 7617). */
static bool user_ok(const struct lb_yaml_node *k)
{
	size_t i;

	if (k->kind != LB_YAML_SCALAR || !k->len || k->len > 255 ||
	    strlen(k->val) != k->len)
		return false;
	for (i = 0; i < k->len; i++)
		if ((unsigned char)k->val[i] < 0x20 || k->val[i] == 0x7f ||
		    k->val[i] == ':')
			return false;
	return true;
}

static int parse_users(struct lb_agent_web_conf *w, struct lb_yaml_doc *d,
		       const struct lb_yaml_node *m)
{
	const char *f = WEB ".basic_auth_users", *s;
	const struct lb_yaml_node *k, *v;
	size_t i;
	int id, rc;

	if (m->kind != LB_YAML_MAP)
		return lb_yaml_fail(d, -EINVAL, m, f, "must be a mapping of "
				    "user: bcrypt-hash, got %s",
				    lb_yaml_kind_name(m));
	if (!m->n)
		return lb_yaml_fail(d, -EINVAL, m, f, "needs at least one "
				    "user: bcrypt-hash");
	w->users = calloc(m->n / 2, sizeof(*w->users));
	if (!w->users)
		return lb_yaml_fail(d, -ENOMEM, m, f, "out of memory");
	for (id = m->first; id >= 0; id = v->next) {
		struct lb_agent_web_user *u = &w->users[w->n_users];

		k = lb_yaml_at(d, id);
		v = lb_yaml_at(d, k->next);
		if (!user_ok(k))
			return lb_yaml_fail(d, -EINVAL, k, f, "user %s must be "
					    "1..255 bytes without ':' or control "
					    "bytes", Q(k));
		for (i = 0; i < w->n_users; i++)
			if (!strcmp(w->users[i].name, k->val))
				return lb_yaml_fail(d, -EINVAL, k,
						    FIELD(f, k->val),
						    "duplicate user");
		rc = lb_yaml_get_str(d, v, FIELD(f, k->val), false, &s);
		if (rc)
			return rc;
		/* the value is not quoted back: it may be a password */
		if (!bcrypt_ok(s))
			return lb_yaml_fail(d, -EINVAL, v, FIELD(f, k->val),
					    "must be a bcrypt hash ($2y$, $2b$ "
					    "or $2a$, cost 04..31, 60 bytes; "
					    "e.g. from `htpasswd -nBC 10 USER`), "
					    "not a password");
		u->name = strdup(k->val);
		u->hash = strdup(s);
		w->n_users++;
		if (!u->name || !u->hash)
			return lb_yaml_fail(d, -ENOMEM, v, f, "out of memory");
	}
	return 0;
}

static int parse_web(struct lb_agent_web_conf *w, struct lb_yaml_doc *d,
		     const struct lb_yaml_node *m)
{
	static const char *const keys[] = { "tls_server_config",
					    "basic_auth_users" };
	const struct lb_yaml_node *v[2];
	int rc;

	rc = lb_yaml_get_map(d, m, WEB, keys, 2, v);
	if (rc)
		return rc;
	if (!v[0] && !v[1])
		return lb_yaml_fail(d, -EINVAL, m, WEB, "needs tls_server_config, "
				    "basic_auth_users or both");
	if (v[0] && (rc = parse_tls(w, d, v[0])))
		return rc;
	return v[1] ? parse_users(w, d, v[1]) : 0;
}

/* /metrics shows every backend's address, weight and counters: beyond
 * loopback it needs TLS or basic auth, or the explicit opt-out. */
static int web_check(const struct lb_agent_conf *c, struct lb_yaml_doc *d,
		     const struct lb_yaml_node *listen,
		     const struct lb_yaml_node *web,
		     const struct lb_yaml_node *insecure)
{
	if (c->web.insecure && web)
		return lb_yaml_fail(d, -EINVAL, insecure,
				    "agent.metrics_insecure",
				    "true contradicts agent.metrics_web (line "
				    "%u): drop one of them", web->line);
	if (!c->metrics_listen[0] || c->web.insecure || web ||
	    lb_agent_listen_is_loopback(c->metrics_listen))
		return 0;
	return lb_yaml_fail(d, -EINVAL, listen, "agent.metrics_listen",
			    "%s is not loopback, and /metrics shows backends, "
			    "weights and counters: protect it with "
			    "agent.metrics_web (tls_server_config, "
			    "basic_auth_users) or serve it to anyone with "
			    "agent.metrics_insecure: true", Q(listen));
}

/* ---- agent: ---------------------------------------------------------- */

/* "off", "IPV4:PORT" or "[IPV6]:PORT", port 1..65535. */
static bool listen_ok(const char *s)
{
	char msg[256];
	__u8 addr[16], fam;
	__u16 port;

	return strlen(s) < sizeof(((struct lb_agent_conf *)0)->metrics_listen) &&
	       !lb_parse_hostport(s, addr, &fam, &port, msg, sizeof(msg));
}

enum { A_METRICS_LISTEN, A_METRICS_WEB, A_METRICS_INSECURE, A_PIN_DIR,
       A_REQUEST_TIMEOUT, A_PRUNE, A_MAX_BACKEND_DELETE_PCT, A_WATCH,
       A_WATCH_DEBOUNCE, A_N };

static int parse_agent(struct lb_agent_conf *c, struct lb_yaml_doc *d,
		       const struct lb_yaml_node *m)
{
	static const char *const keys[A_N] = {
		[A_METRICS_LISTEN] = "metrics_listen",
		[A_METRICS_WEB] = "metrics_web",
		[A_METRICS_INSECURE] = "metrics_insecure",
		[A_PIN_DIR] = "pin_dir",
		[A_REQUEST_TIMEOUT] = "request_timeout_ms", [A_PRUNE] = "prune",
		[A_MAX_BACKEND_DELETE_PCT] = "max_backend_delete_pct",
		[A_WATCH] = "watch_config",
		[A_WATCH_DEBOUNCE] = "watch_debounce_ms",
	};
	const struct lb_yaml_node *v[A_N];
	const char *s;
	int rc;

	rc = lb_yaml_get_map(d, m, "agent", keys, A_N, v);
	if (rc)
		return rc;
	if (v[A_METRICS_LISTEN]) {
		rc = lb_yaml_get_str(d, v[A_METRICS_LISTEN],
				     "agent.metrics_listen", false, &s);
		if (rc)
			return rc;
		if (!strcmp(s, "off"))
			s = "";
		else if (!listen_ok(s))
			return lb_yaml_fail(d, -EINVAL, v[A_METRICS_LISTEN],
					    "agent.metrics_listen",
					    "must be \"off\", IPV4:PORT or "
					    "[IPV6]:PORT with port 1..65535, "
					    "got %s", Q(v[A_METRICS_LISTEN]));
		strcpy(c->metrics_listen, s);	/* listen_ok: fits */
	}
	if ((v[A_METRICS_WEB] &&
	     (rc = parse_web(&c->web, d, v[A_METRICS_WEB]))) ||
	    (v[A_METRICS_INSECURE] &&
	     (rc = lb_yaml_get_bool(d, v[A_METRICS_INSECURE],
				    "agent.metrics_insecure",
				    &c->web.insecure))) ||
	    (rc = web_check(c, d, v[A_METRICS_LISTEN], v[A_METRICS_WEB],
			    v[A_METRICS_INSECURE])))
		return rc;
	if (v[A_PIN_DIR]) {
		rc = lb_yaml_get_str(d, v[A_PIN_DIR], "agent.pin_dir", false, &s);
		if (rc)
			return rc;
		if (s[0] != '/' || strlen(s) >= sizeof(c->pin_dir))
			return lb_yaml_fail(d, -EINVAL, v[A_PIN_DIR],
					    "agent.pin_dir",
					    "must be an absolute path shorter "
					    "than %zu bytes, got %s",
					    sizeof(c->pin_dir), Q(v[A_PIN_DIR]));
		strcpy(c->pin_dir, s);
	}
	if ((v[A_REQUEST_TIMEOUT] &&
	     (rc = lb_yaml_get_u32(d, v[A_REQUEST_TIMEOUT],
				   "agent.request_timeout_ms", 1, 60000,
				   &c->request_timeout_ms))) ||
	    (v[A_PRUNE] &&
	     (rc = lb_yaml_get_bool(d, v[A_PRUNE], "agent.prune", &c->prune))) ||
	    (v[A_MAX_BACKEND_DELETE_PCT] &&
	     (rc = lb_yaml_get_u32(d, v[A_MAX_BACKEND_DELETE_PCT],
				   "agent.max_backend_delete_pct", 0, 100,
				   &c->max_backend_delete_pct))) ||
	    (v[A_WATCH] &&
	     (rc = lb_yaml_get_bool(d, v[A_WATCH], "agent.watch_config",
				    &c->watch_config))) ||
	    (v[A_WATCH_DEBOUNCE] &&
	     (rc = lb_yaml_get_u32(d, v[A_WATCH_DEBOUNCE],
				   "agent.watch_debounce_ms", 10, 60000,
				   &c->watch_debounce_ms))))
		return rc;
	return 0;
}

/* ---- cluster: ------------------------------------------------------------ */

static bool cluster_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n && n < LB_CLUSTER_NAME_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789._-") == n;
}

/* http://HOST:PORT or https://..., no path: lb_etcd appends /v3/... */
bool lb_agent_etcd_url_ok(const char *s)
{
	const char *h = !strncmp(s, "http://", 7) ? s + 7 :
			!strncmp(s, "https://", 8) ? s + 8 : NULL;

	return h && *h && strlen(s) < 256 && !strchr(h, '/') &&
	       !strpbrk(h, " \t\r\n\"") && strchr(h, ':');
}

static int cluster_name(struct lb_yaml_doc *d, const struct lb_yaml_node *m,
			const struct lb_yaml_node *n, const char *field,
			char out[LB_CLUSTER_NAME_MAX])
{
	const char *s;
	int rc;

	if (!n)
		return lb_yaml_fail(d, -EINVAL, m, field, "is required in cluster mode");
	rc = lb_yaml_get_str(d, n, field, false, &s);
	if (rc)
		return rc;
	if (!cluster_name_ok(s))
		return lb_yaml_fail(d, -EINVAL, n, field, "must be 1..%d characters "
				    "of [A-Za-z0-9._-], got %s",
				    LB_CLUSTER_NAME_MAX - 1, Q(n));
	strcpy(out, s);
	return 0;
}

enum { C_ETCD, C_NAME, C_HOST, C_TTL, C_N };

static int parse_cluster(struct lb_agent_conf *c, struct lb_yaml_doc *d,
			 const struct lb_yaml_node *m)
{
	static const char *const keys[C_N] = {
		[C_ETCD] = "etcd", [C_NAME] = "name", [C_HOST] = "host",
		[C_TTL] = "lease_ttl_s",
	};
	struct lb_cluster_conf *cl = &c->cluster;
	const struct lb_yaml_node *v[C_N], *e;
	int rc;

	if (lb_yaml_is_null(m))
		return 0;
	rc = lb_yaml_get_map(d, m, "cluster", keys, C_N, v);
	if (rc)
		return rc;
	if (!v[C_ETCD] || v[C_ETCD]->kind != LB_YAML_SEQ || !v[C_ETCD]->n ||
	    v[C_ETCD]->n > LB_CLUSTER_ENDPOINTS_MAX)
		return lb_yaml_fail(d, -EINVAL, v[C_ETCD] ? v[C_ETCD] : m,
				    "cluster.etcd", "must be a list of 1..%d etcd "
				    "endpoints (http://HOST:PORT)",
				    LB_CLUSTER_ENDPOINTS_MAX);
	for (e = lb_yaml_at(d, v[C_ETCD]->first); e; e = lb_yaml_at(d, e->next)) {
		char field[64];
		const char *s;

		snprintf(field, sizeof(field), "cluster.etcd[%zu]", cl->n_etcd);
		rc = lb_yaml_get_str(d, e, field, false, &s);
		if (rc)
			return rc;
		if (!lb_agent_etcd_url_ok(s))
			return lb_yaml_fail(d, -EINVAL, e, field, "must be "
					    "http://HOST:PORT (or https://), "
					    "without a path, got %s", Q(e));
		strcpy(cl->etcd[cl->n_etcd++], s);
	}
	if ((rc = cluster_name(d, m, v[C_NAME], "cluster.name", cl->name)) ||
	    (rc = cluster_name(d, m, v[C_HOST], "cluster.host", cl->host)))
		return rc;
	if (v[C_TTL] && (rc = lb_yaml_get_u32(d, v[C_TTL], "cluster.lease_ttl_s",
					      2, 60, &cl->lease_ttl_s)))
		return rc;
	return 0;
}

/* ---- policy: --------------------------------------------------------- */

enum ptype { P_U32, P_DBL };

struct pfield {
	const char *key;
	enum ptype type;
	bool in_conf;		/* struct lb_agent_conf, not lb_policy_params */
	size_t off;
	const char *rule;	/* what lb_policy_params_check() wants */
};

#define PU(f, r) { #f, P_U32, false, offsetof(struct lb_policy_params, f), r }
#define PD(f, r) { #f, P_DBL, false, offsetof(struct lb_policy_params, f), r }

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
	PD(load_floor, "in [0, 1]"),
	PU(flow_idle_ms, ">= 1000"),
	PD(speed_ewma, "in [0.000001, 1]"),
	PD(output_tokens_default, "in [1, 1000000]"),
	{ "backend_rate_per_capacity", P_DBL, true,
	  offsetof(struct lb_agent_conf, backend_rate_per_capacity), ">= 0" },
	{ "backend_burst", P_U32, true,
	  offsetof(struct lb_agent_conf, backend_burst), NULL },
};

#define NPF (sizeof(pfields) / sizeof(pfields[0]))

/* Which rule lb_policy_params_check() found broken, said at the value that
 * breaks it, or at the mapping when the default does. */
static int policy_check(struct lb_agent_conf *c, struct lb_yaml_doc *d,
			const struct lb_yaml_node *m,
			const struct lb_yaml_node *const *v)
{
	const char *bad;
	size_t i;

	if (!lb_policy_params_check(&c->policy, &bad))
		return 0;
	for (i = 0; i < NPF; i++)
		if (bad && !strcmp(pfields[i].key, bad))
			break;
	if (i == NPF)		/* a knob this file does not know */
		return lb_yaml_fail(d, -EINVAL, m, FIELD("policy", bad ? bad : "?"),
				    "invalid value");
	if (v[i])
		return lb_yaml_fail(d, -EINVAL, v[i], FIELD("policy", bad),
				    "must be %s, got %s", pfields[i].rule,
				    Q(v[i]));
	return lb_yaml_fail(d, -EINVAL, m, FIELD("policy", bad),
			    "must be %s; the default does not fit the values "
			    "given", pfields[i].rule);
}

static int parse_policy(struct lb_agent_conf *c, struct lb_yaml_doc *d,
			const struct lb_yaml_node *m)
{
	const struct lb_yaml_node *v[NPF];
	const char *keys[NPF];
	size_t i;
	int rc;

	for (i = 0; i < NPF; i++)
		keys[i] = pfields[i].key;
	rc = lb_yaml_get_map(d, m, "policy", keys, NPF, v);
	if (rc)
		return rc;
	for (i = 0; i < NPF; i++) {
		const struct pfield *f = &pfields[i];
		char *base = f->in_conf ? (char *)c : (char *)&c->policy;
		const char *field = FIELD("policy", f->key);

		if (!v[i])
			continue;
		if (f->type == P_U32)
			rc = lb_yaml_get_u32(d, v[i], field, 0, UINT32_MAX,
					     (uint32_t *)(base + f->off));
		else
			rc = lb_yaml_get_double(d, v[i], field, f->rule,
						(double *)(base + f->off));
		if (rc)
			return rc;
	}
	if (!(c->backend_rate_per_capacity >= 0)) {
		i = NPF - 2;
		return lb_yaml_fail(d, -EINVAL, v[i],
				    "policy.backend_rate_per_capacity",
				    "must be a number >= 0, got %s", Q(v[i]));
	}
	return policy_check(c, d, m, v);
}

/* ---- vips[].backends[]: the agent's keys ----------------------------- */

/* http(s)://HOST..., printable ASCII, no blanks, < LB_AGENT_URL_MAX. */
bool lb_agent_url_ok(const char *s)
{
	size_t skip, i;

	if (!strncmp(s, "http://", 7))
		skip = 7;
	else if (!strncmp(s, "https://", 8))
		skip = 8;
	else
		return false;
	if (!s[skip] || s[skip] == '/' || strlen(s) >= LB_AGENT_URL_MAX)
		return false;
	for (i = 0; s[i]; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

static int get_url(struct lb_yaml_doc *d, const struct lb_yaml_node *n,
		   const char *field, bool empty_ok,
		   char out[LB_AGENT_URL_MAX])
{
	const char *s;
	int rc = lb_yaml_get_str(d, n, field, empty_ok, &s);

	if (rc)
		return rc;
	if (*s && !lb_agent_url_ok(s))
		return lb_yaml_fail(d, -EINVAL, n, field,
				    "must be an http:// or https:// URL "
				    "shorter than %d bytes, got %s",
				    LB_AGENT_URL_MAX, Q(n));
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

int lb_agent_parse_names(struct lb_yaml_doc *d, const struct lb_yaml_node *m,
		       const char *prefix, struct lb_generic_names *g)
{
	static const char *const keys[] = { "waiting", "running", "kv" };
	const char **dst[] = { &g->waiting, &g->running, &g->kv };
	const struct lb_yaml_node *v[3];
	const char *s;
	size_t i;
	int rc;

	rc = lb_yaml_get_map(d, m, prefix, keys, 3, v);
	if (rc)
		return rc;
	for (i = 0; i < 3; i++) {
		const char *field = FIELD(prefix, keys[i]);

		if (!v[i])
			continue;
		rc = lb_yaml_get_str(d, v[i], field, false, &s);
		if (rc)
			return rc;
		if (!metric_name_ok(s))
			return lb_yaml_fail(d, -EINVAL, v[i], field,
					    "must be a Prometheus metric name, "
					    "got %s", Q(v[i]));
		*dst[i] = strdup(s);
		if (!*dst[i])
			return lb_yaml_fail(d, -ENOMEM, v[i], field,
					    "out of memory");
	}
	if (!g->waiting && !g->running && !g->kv)
		return lb_yaml_fail(d, -EINVAL, m, prefix,
				    "needs at least one of waiting, running, kv");
	return 0;
}

/* base + suffix into out, which the caller knows is big enough. */
static void url_join(char out[LB_AGENT_URL_MAX], const char *base,
		     const char *suffix)
{
	if (snprintf(out, LB_AGENT_URL_MAX, "%s%s", base, suffix) >=
	    LB_AGENT_URL_MAX)
		out[0] = 0;	/* not reached: checked by the caller */
}

/* Index into lb_topo_agent_backend_keys[] (the library's list of names). */
enum { B_ENGINE, B_URL, B_METRICS_URL, B_HEALTH_URL, B_DCGM_URL, B_METRICS,
       B_SLOTS, B_N };

/* url: the base of the two defaults, without trailing '/'. The longest
 * suffix must still fit in a URL buffer. */
static int parse_base_url(struct lb_yaml_doc *d, const struct lb_yaml_node *n,
			  const char *prefix, struct lb_agent_backend_conf *b)
{
	const char *f = FIELD(prefix, "url");
	char base[LB_AGENT_URL_MAX];
	size_t len;
	int rc;

	rc = get_url(d, n, f, false, base);
	if (rc)
		return rc;
	len = strlen(base);
	while (len && base[len - 1] == '/')
		base[--len] = 0;
	if (!lb_agent_url_ok(base) ||
	    len + strlen("/v2/health/ready") >= LB_AGENT_URL_MAX)
		return lb_yaml_fail(d, -EINVAL, n, f,
				    "must be an http:// or https:// URL shorter "
				    "than %zu bytes, got %s",
				    LB_AGENT_URL_MAX - strlen("/v2/health/ready"),
				    Q(n));
	url_join(b->metrics_url, base, "/metrics");
	url_join(b->health_url, base, b->engine == LB_ENGINE_TRITON ?
		 "/v2/health/ready" : "/health");
	return 0;
}

/* The URLs to poll: url's defaults, overridden by metrics_url and
 * health_url; dcgm_url optional. */
static int parse_urls(struct lb_yaml_doc *d, const struct lb_yaml_node *m,
		      const char *prefix, const struct lb_yaml_node *const *v,
		      struct lb_agent_backend_conf *b)
{
	int rc;

	if ((v[B_URL] && (rc = parse_base_url(d, v[B_URL], prefix, b))) ||
	    (v[B_METRICS_URL] &&
	     (rc = get_url(d, v[B_METRICS_URL], FIELD(prefix, "metrics_url"),
			   false, b->metrics_url))) ||
	    (v[B_HEALTH_URL] &&
	     (rc = get_url(d, v[B_HEALTH_URL], FIELD(prefix, "health_url"),
			   false, b->health_url))))
		return rc;
	if (!b->health_url[0] || !b->metrics_url[0])
		return lb_yaml_fail(d, -EINVAL, m, prefix,
				    "needs url, or both metrics_url and "
				    "health_url (missing %s)",
				    b->health_url[0] ? "metrics_url" :
				    b->metrics_url[0] ? "health_url" :
				    "metrics_url and health_url");
	if (v[B_DCGM_URL])
		return get_url(d, v[B_DCGM_URL], FIELD(prefix, "dcgm_url"),
			       true, b->dcgm_url);
	return 0;
}

/* The lb_topo_ext backend hook: vals[] follows lb_topo_agent_backend_keys. */
static int parse_backend(void *ctx, struct lb_yaml_doc *d,
			 const struct lb_yaml_node *m, const char *prefix,
			 const struct lb_yaml_node *const *v,
			 struct lb_topo_backend *tb)
{
	struct lb_agent_backend_conf *b = tb->ext;
	const char *s, *f;
	int rc;

	(void)ctx;
	b->engine = LB_ENGINE_VLLM;
	if (v[B_ENGINE]) {
		f = FIELD(prefix, "engine");
		rc = lb_yaml_get_str(d, v[B_ENGINE], f, false, &s);
		if (rc)
			return rc;
		if (lb_engine_parse_name(s, &b->engine))
			return lb_yaml_fail(d, -EINVAL, v[B_ENGINE], f,
					    "must be vllm, sglang, tgi, triton "
					    "or generic, got %s", Q(v[B_ENGINE]));
	}
	rc = parse_urls(d, m, prefix, v, b);
	if (rc)
		return rc;
	if (v[B_SLOTS]) {
		rc = lb_yaml_get_u32(d, v[B_SLOTS], FIELD(prefix, "slots"), 1,
				     LB_SLOTS_MAX, &b->slots);
		if (rc)
			return rc;
	}
	f = FIELD(prefix, "metrics");
	if (v[B_METRICS] && b->engine != LB_ENGINE_GENERIC)
		return lb_yaml_fail(d, -EINVAL, v[B_METRICS], f,
				    "only allowed with engine: generic (engine "
				    "is %s)", lb_engine_name(b->engine));
	if (b->engine != LB_ENGINE_GENERIC)
		return 0;
	if (!v[B_METRICS])
		return lb_yaml_fail(d, -EINVAL, m, f,
				    "is required with engine: generic (at "
				    "least one of waiting, running, kv)");
	return lb_agent_parse_names(d, v[B_METRICS], f, &b->names);
}

void lb_agent_names_free(struct lb_generic_names *g)
{
	free((char *)g->waiting);
	free((char *)g->running);
	free((char *)g->kv);
	memset(g, 0, sizeof(*g));
}

void lb_agent_backend_release(void *ext)
{
	lb_agent_names_free(&((struct lb_agent_backend_conf *)ext)->names);
}

/* The lb_topo_ext top hook: key indexes lb_topo_agent_top_keys. */
static int parse_section(void *ctx, struct lb_yaml_doc *d, size_t key,
			 const struct lb_yaml_node *v)
{
	struct lb_agent_conf *c = ctx;
	const char *name = lb_topo_agent_top_keys[key];

	if (!strcmp(name, LB_TOPO_CLUSTER_KEY))
		return parse_cluster(c, d, v);
	if (!strcmp(name, "announce"))
		return lb_agent_announce_parse(&c->announce, d, v);
	return !strcmp(name, "agent") ? parse_agent(c, d, v) : parse_policy(c, d, v);
}

/* ---- the file ---------------------------------------------------------- */

void lb_agent_conf_free(struct lb_agent_conf *c)
{
	if (!c)
		return;
	lb_topo_free(&c->topo);
	lb_agent_web_free(&c->web);
	memset(c, 0, sizeof(*c));
}

int lb_agent_conf_load_buf(const char *name, const char *buf, size_t len,
			   struct lb_agent_conf *out, char *err, size_t errlen)
{
	struct lb_agent_conf c = {
		.request_timeout_ms = LB_AGENT_REQUEST_TIMEOUT_DEFAULT,
		.max_backend_delete_pct = LB_APPLY_MAX_BACKEND_DELETE_PCT_DEFAULT,
		.watch_config = true,
		.watch_debounce_ms = LB_AGENT_WATCH_DEBOUNCE_DEFAULT_MS,
		.cluster.lease_ttl_s = LB_CLUSTER_TTL_DEFAULT,
	};
	const struct lb_topo_ext ext = {
		.top_keys = lb_topo_agent_top_keys,
		.backend_keys = lb_topo_agent_backend_keys,
		.top = parse_section,
		.backend = parse_backend,
		.release = lb_agent_backend_release,
		.backend_size = sizeof(struct lb_agent_backend_conf),
		.vip_keys = lb_topo_agent_vip_keys,
		.vip = lb_disc_conf_parse,
		.vip_release = lb_disc_conf_release,
		.vip_size = sizeof(struct lb_disc_vip_conf),
		.ctx = &c,
	};
	struct lb_yaml_doc d;
	int rc;

	memset(out, 0, sizeof(*out));
	strcpy(c.metrics_listen, LB_AGENT_METRICS_LISTEN_DEFAULT);
	strcpy(c.pin_dir, LB_PIN_DIR_DEFAULT);
	lb_policy_params_default(&c.policy);
	lb_agent_announce_conf_default(&c.announce);
	rc = lb_yaml_parse(&d, name, buf, len, err, errlen);
	if (rc)
		return rc;
	rc = lb_topo_parse(&d, &ext, &c.topo);
	lb_yaml_free(&d);
	if (rc) {
		lb_agent_web_free(&c.web);	/* the topology freed its own */
		return rc;
	}
	*out = c;
	return 0;
}

int lb_agent_conf_load_file(const char *path, struct lb_agent_conf *out,
			    char *err, size_t errlen)
{
	size_t len;
	char *buf;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = lb_yaml_read_file(path, &buf, &len, err, errlen);
	if (rc)
		return rc;
	rc = lb_agent_conf_load_buf(path, buf, len, out, err, errlen);
	free(buf);
	return rc;
}
