/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * discover_conf.h - a VIP's `discover:` key in lb-agent's file: where its
 * workers are found besides the static `backends:` list, and how a found
 * worker is polled (its source's template).
 *
 *   vips:
 *     - address: 198.18.1.10:8000/tcp
 *       backends: []                 # the static list stays (may be empty)
 *       discover:
 *         max_remove_fraction: 0.5   # (0, 1]: an answer that would drain
 *                                    #   more than this share of the VIP's
 *                                    #   backends at once, or all, is held
 *         drain_timeout_s: 300       # a worker gone from its source drains
 *                                    #   until its open flows reach 0, at
 *                                    #   most this long (1..86400)
 *         sources:                   # 1..8, combined
 *           - dns: _llm._tcp.pool-a.svc.test
 *             type: srv              # srv | a | aaaa
 *             port: 8000             # a/aaaa only (required there)
 *             servers: 198.18.5.53   # "IP[:PORT][,...]"; default: resolv.conf
 *             min_ttl_s: 1           # looked up again after the answer's
 *             max_ttl_s: 300         #   TTL in [min, max] (1..86400); a
 *                                    #   failed lookup after min_ttl_s
 *             timeout_ms: 2000       # one lookup, 100..30000
 *             template:              # how a found worker is polled
 *               engine: vllm         # vllm|sglang|tgi|triton|generic
 *               scheme: http         # http | https
 *               metrics_path: /metrics
 *               health_path: /health # /v2/health/ready for triton
 *               capacity: 1.0        # (0, 1000]
 *               slots: 64            # 1..65535
 *               metrics: {waiting: q} # engine generic only, as a backend's
 *           - etcd: /inferlb/workers/pool-a/   # a registry prefix
 *             endpoints: [http://198.18.5.1:2379]  # default: cluster.etcd
 *             template: {...}        # what a registry value leaves out
 *
 * A worker found at ADDR:PORT is polled at SCHEME://ADDR:PORT plus the
 * paths (a registry value's url replaces that base). Its weight starts
 * from the template's capacity (a registry value's capacity first).
 */
#ifndef LB_AGENT_DISCOVER_CONF_H
#define LB_AGENT_DISCOVER_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "discovery.h"
#include "dns.h"
#include "lb_etcd.h"
#include "lb_registry.h"

#define LB_DISC_SOURCES_MAX 8
#define LB_DISC_NAME_MAX 256		/* a DNS name or a key prefix */
#define LB_DISC_PATH_MAX 128
#define LB_DISC_DRAIN_TIMEOUT_MAX_S 86400
#define LB_DISC_MIN_TTL_DEFAULT_S 1
#define LB_DISC_MAX_TTL_DEFAULT_S 300
#define LB_DISC_TIMEOUT_DEFAULT_MS 2000

enum lb_disc_kind { LB_DISC_DNS, LB_DISC_ETCD };

/* How a found worker is polled. */
struct lb_disc_template {
	enum lb_engine engine;
	bool https;
	char metrics_path[LB_DISC_PATH_MAX];
	char health_path[LB_DISC_PATH_MAX];
	double capacity;
	uint32_t slots;			/* 0: not configured */
	struct lb_generic_names names;	/* generic: malloc'd */
};

struct lb_disc_source_conf {
	enum lb_disc_kind kind;
	char name[LB_DISC_NAME_MAX];	/* DNS name / etcd key prefix */
	/* dns */
	enum lb_dns_type type;
	uint16_t port;			/* a/aaaa */
	char servers[LB_DISC_NAME_MAX];	/* "" = resolv.conf's */
	uint32_t min_ttl_s, max_ttl_s, timeout_ms;
	/* etcd */
	char endpoints[LB_ETCD_ENDPOINTS_MAX][LB_ETCD_URL_MAX];
	size_t n_endpoints;
	struct lb_disc_template tpl;
	unsigned line;
};

/* A VIP's discover: (struct lb_topo_vip's ext). */
struct lb_disc_vip_conf {
	struct lb_disc_limits lim;
	struct lb_disc_source_conf src[LB_DISC_SOURCES_MAX];
	size_t n_src;
};

/* The lb_topo_ext VIP hook and its release (config.c registers them);
 * ctx is the struct lb_agent_conf being parsed (its cluster: is read
 * already: the etcd sources' default endpoints). */
int lb_disc_conf_parse(void *ctx, struct lb_yaml_doc *d,
		       const struct lb_yaml_node *m, const char *field,
		       const struct lb_yaml_node *const *vals,
		       struct lb_topo_vip *v);
void lb_disc_conf_release(void *ext);

static inline const struct lb_disc_vip_conf *
lb_disc_vip_conf(const struct lb_topo_vip *v)
{
	return (const struct lb_disc_vip_conf *)v->ext;
}

/* "dns:NAME" or "etcd:PREFIX": a source's name in logs, /metrics and
 * lbctl show. */
void lb_disc_source_label(const struct lb_disc_source_conf *s, char *out,
			  size_t len);

/*
 * The backend a source found: b's address and capacity, and its agent
 * keys in ac (zeroed by the caller; generic names are copies, released
 * with the backend's ext). reg: the worker's registry value, NULL for a
 * DNS source. 0 or -EINVAL/-ENOMEM with msg (a URL too long, an unknown
 * engine in a registry value).
 */
int lb_disc_backend(const struct lb_disc_source_conf *s,
		    const struct lb_disc_worker *w,
		    const struct lb_registry_entry *reg,
		    struct lb_topo_backend *b, struct lb_agent_backend_conf *ac,
		    char *msg, size_t len);

#endif
