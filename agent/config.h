/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * config.h - the one YAML file that describes a balancer: its VIPs, their
 * backends (GPU workers) and the agent's policy. Read by lb-agent (at
 * start and on SIGHUP) and by `lbctl apply -f FILE`.
 *
 * Two layers. The library's topology (lib/lb_topo.h) owns `vips:` with
 * each VIP's settings and each backend's address and capacity; lbctl reads
 * only that, accepting lb-agent's keys by name. This file layers the
 * agent's keys on top through the topology's extension hooks: `agent:`,
 * `policy:` and the backends' engine, URLs and metric names.
 *
 * Strict (lib/lb_yaml.h): an unknown key, a duplicate key, a wrong type or
 * an out-of-range value is an error naming the file, the line and column,
 * and the field path, e.g.
 *   fleet.yaml:12:17: vips[0].backends[1].capacity: must be a number in (0, 1000], got "fast"
 * and the caller gets nothing (no partially filled config).
 *
 * Format (every key but vips[].address and backends[].address optional):
 *
 *   agent:
 *     metrics_listen: 127.0.0.1:9464   # /metrics; "[::1]:9464"; "off"
 *     metrics_web:                     # who may read it; the shape of
 *                                      #   prometheus/exporter-toolkit's
 *                                      #   web config (a subset)
 *       tls_server_config:             # HTTPS: both files, PEM
 *         cert_file: /etc/inferlb/metrics.crt
 *         key_file: /etc/inferlb/metrics.key
 *       basic_auth_users:              # user: bcrypt hash ($2a$/$2b$/$2y$)
 *         prometheus: $2y$10$...
 *     metrics_insecure: false          # true: a non-loopback listen address
 *                                      #   may serve plain HTTP without
 *                                      #   auth (else it needs metrics_web)
 *     pin_dir: /sys/fs/bpf/inferlb
 *     request_timeout_ms: 1000         # per HTTP request (health, metrics)
 *     prune: false                     # true: a reload may delete every
 *                                      #   VIP and any share of a VIP's
 *                                      #   backends (`lbctl apply --prune`)
 *     max_backend_delete_pct: 50       # without prune, a reload that would
 *                                      #   delete more than this percent of
 *                                      #   a VIP's backends, or every VIP,
 *                                      #   is refused (0..100)
 *     watch_config: true               # an edit of this file applies as
 *                                      #   SIGHUP does (inotify; watch.h)
 *     watch_debounce_ms: 300           # ... once the file's directory was
 *                                      #   quiet this long (10..60000);
 *                                      #   both read at start only
 *   cluster:                           # several balancer hosts behind ECMP
 *                                      #   build the same tables (cluster.h)
 *     etcd: [http://198.18.0.1:2379]   # etcd v3 endpoints (1..8), JSON gateway
 *     name: edge-a                     # the cluster: keys /inferlb/NAME/...
 *     host: lb1                        # this host, unique in the cluster
 *     lease_ttl_s: 3                   # leader lease, 2..60 s
 *   policy:                            # struct lb_policy_params, same names
 *     poll_interval_ms: 100            # metrics
 *     health_interval_ms: 1000         # health (and DCGM)
 *     stale_ms: 500
 *     ...
 *     backend_rate_per_capacity: 0     # new flows/s per unit of capacity
 *     backend_burst: 0                 #   at full headroom; 0 = no limit
 *   vips:                              # lib/lb_topo.h
 *     - address: 198.18.1.10:8000/tcp  # as `lbctl vip add`
 *       mode: ipip                     # ipip | l2dsr
 *       ring_size: 65537               # prime, 7 .. 1048573
 *       policy: expected-wait          # maglev|source|bounded|p2c|wrr|rr|random|
 *                                      #   least-conn|expected-wait; maglev
 *                                      #   for backends without agent keys
 *       ttft_target_ms: 0              # expected-wait: refuse a new flow whose
 *                                      #   expected wait is longer (0 = never)
 *       rate: 0                        # VIP new flows/s (0 = no limit)
 *       burst: 0
 *       client_rate: 0                 # per client prefix
 *       client_burst: 0
 *       client_prefix: 32              # /32 (IPv4), /64 (IPv6) by default
 *       refuse: reset                  # reset | drop (UDP: always drop)
 *       fail_open: false               # state refused all: plain choice
 *       epsilon: 25                    # bounded load, percent
 *       discover:                      # workers found besides the list
 *         sources:                     #   below: DNS SRV/A/AAAA, an etcd
 *           - dns: _llm._tcp.pool.test #   registry (discover_conf.h has
 *                                      #   every key; docs/discovery.md)
 *       backends:
 *         - address: 198.18.0.10
 *           capacity: 1.0              # relative GPU speed, (0, 1000]
 *           # lb-agent's keys of a backend:
 *           engine: vllm               # vllm|sglang|tgi|triton|generic
 *           url: http://198.18.0.10:8000        # base of the defaults below
 *           metrics_url: http://198.18.0.10:8000/metrics
 *           health_url: http://198.18.0.10:8000/health
 *           dcgm_url: http://198.18.0.10:9400/metrics   # optional
 *           slots: 0                   # batch slots, 1..65535 (expected-wait)
 *           metrics:                   # generic engine only
 *             waiting: my_queue_len
 *             running: my_running
 *             kv: my_kv_fraction
 */
#ifndef INFERLB_CONFIG_H
#define INFERLB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "announce.h"
#include "engine.h"
#include "lb_topo.h"
#include "policy.h"

#define LB_AGENT_URL_MAX 512
#define LB_AGENT_METRICS_LISTEN_DEFAULT "127.0.0.1:9464"
#define LB_AGENT_REQUEST_TIMEOUT_DEFAULT 1000
/* agent.watch_debounce_ms: how long the file's directory must be quiet
 * before an edit is read (watch.h) */
#define LB_AGENT_WATCH_DEBOUNCE_DEFAULT_MS 300
#define LB_CLUSTER_ENDPOINTS_MAX 8	/* = LB_ETCD_ENDPOINTS_MAX */
#define LB_CLUSTER_NAME_MAX 64
#define LB_CLUSTER_TTL_DEFAULT 3

/* cluster: (absent: n_etcd == 0, cluster mode off). Names are
 * [A-Za-z0-9._-], so they go into etcd keys as they are. */
struct lb_cluster_conf {
	char etcd[LB_CLUSTER_ENDPOINTS_MAX][256];
	size_t n_etcd;
	char name[LB_CLUSTER_NAME_MAX];
	char host[LB_CLUSTER_NAME_MAX];
	uint32_t lease_ttl_s;
};

/* A backend's agent keys: what to poll and how to read it. Hung on each
 * struct lb_topo_backend's ext; lb_agent_backend_conf() gets it. */
struct lb_agent_backend_conf {
	enum lb_engine engine;
	char metrics_url[LB_AGENT_URL_MAX];
	char health_url[LB_AGENT_URL_MAX];
	char dcgm_url[LB_AGENT_URL_MAX];	/* "" = none */
	/* requests the worker runs at once (its batch, e.g. vLLM's
	 * max_num_seqs); 0 = not configured: the engine's own figure if it
	 * exports one, else unknown (expected-wait then counts every open
	 * flow as waiting) */
	uint32_t slots;
	/* generic engine: metric names (malloc'd; NULL = not given) */
	struct lb_generic_names names;
};

/* One of agent.metrics_web.basic_auth_users. */
struct lb_agent_web_user {
	char *name;		/* no ':' and no control byte (RFC 7617) */
	char *hash;		/* bcrypt, LB_AGENT_BCRYPT_LEN bytes */
};

#define LB_AGENT_BCRYPT_LEN 60
#define LB_AGENT_PEM_MAX (1u << 20)

/* agent.metrics_web and agent.metrics_insecure: who may read /metrics.
 * The PEM files are read when the config is, so --check and a reload
 * refuse a file that cannot be read, and the server never reads a path
 * after start. Acted on at start only (like metrics_listen). */
struct lb_agent_web_conf {
	char *cert_file, *key_file;	/* NULL = no TLS */
	char *cert_pem, *key_pem;	/* their contents, NUL-terminated */
	struct lb_agent_web_user *users;	/* NULL = no basic auth */
	size_t n_users;
	bool insecure;			/* metrics_insecure: true */
};

struct lb_agent_conf {
	/* agent: */
	char metrics_listen[64];	/* "" when "off" */
	struct lb_agent_web_conf web;
	char pin_dir[256];
	uint32_t request_timeout_ms;
	bool prune;			/* lb_apply_opts.prune */
	uint32_t max_backend_delete_pct;
	bool watch_config;		/* at start only */
	uint32_t watch_debounce_ms;
	/* policy: */
	struct lb_policy_params policy;
	double backend_rate_per_capacity;
	uint32_t backend_burst;
	/* cluster: (acted on at start only) */
	struct lb_cluster_conf cluster;
	/* announce: (announce.h) */
	struct lb_agent_announce_conf announce;
	/* vips: */
	struct lb_topo topo;
};

/*
 * Parse a whole file / buffer. name is used in messages (the path).
 * Returns 0 and fills *out (free it with lb_agent_conf_free), or a
 * negative errno with err[errlen] holding one line
 * "name:line:col: field: what" and *out zeroed.
 */
int lb_agent_conf_load_file(const char *path, struct lb_agent_conf *out,
			    char *err, size_t errlen);
int lb_agent_conf_load_buf(const char *name, const char *buf, size_t len,
			   struct lb_agent_conf *out, char *err,
			   size_t errlen);
void lb_agent_conf_free(struct lb_agent_conf *c);

/* A deep copy of src (for the /metrics server, which outlives a reload's
 * config): 0 or -ENOMEM with dst empty. lb_agent_web_free releases one
 * (lb_agent_conf_free does for the config's own). */
int lb_agent_web_copy(struct lb_agent_web_conf *dst,
		      const struct lb_agent_web_conf *src);
void lb_agent_web_free(struct lb_agent_web_conf *w);

/* Whether a metrics_listen value ("ADDR:PORT", "[V6]:PORT") binds only to
 * loopback: 127.0.0.0/8 or ::1 (0.0.0.0 and :: are every address). */
bool lb_agent_listen_is_loopback(const char *listen);

/* Pieces of the parse that discover_conf.c shares: an http(s) URL to
 * poll, an etcd endpoint (http(s)://HOST:PORT), a generic engine's
 * metric names (parsed into g; lb_agent_names_free releases them), and
 * the release of a backend's agent keys (struct lb_topo's ext_release). */
bool lb_agent_url_ok(const char *s);
bool lb_agent_etcd_url_ok(const char *s);
int lb_agent_parse_names(struct lb_yaml_doc *d, const struct lb_yaml_node *m,
			 const char *prefix, struct lb_generic_names *g);
void lb_agent_names_free(struct lb_generic_names *g);
void lb_agent_backend_release(void *ext);

/* The agent's keys of a backend parsed by lb_agent_conf_load_*. */
static inline const struct lb_agent_backend_conf *
lb_agent_backend_conf(const struct lb_topo_backend *b)
{
	return (const struct lb_agent_backend_conf *)b->ext;
}

#endif /* INFERLB_CONFIG_H */
