/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * config.h - the one YAML file that describes a balancer: its VIPs, their
 * backends (GPU workers) and the agent's policy. Read by lb-agent (at
 * start and on SIGHUP) and by `lbctl apply -f FILE` (VIP/backend part).
 *
 * Parsed with libyaml's event API. Strict: an unknown key, a duplicate
 * key, a wrong type or an out-of-range value is an error naming the file,
 * the line and column, and the field path, e.g.
 *   fleet.yaml:12:17: vips[0].backends[1].capacity: must be a number in (0, 1000], got "fast"
 * and the caller gets nothing (no partially filled config).
 *
 * Format (every key but vips[].address and backends[].address optional):
 *
 *   agent:
 *     metrics_listen: 127.0.0.1:9464   # /metrics; "[::1]:9464"; "off"
 *     pin_dir: /sys/fs/bpf/inferlb
 *     request_timeout_ms: 1000         # per HTTP request (health, metrics)
 *   policy:                            # struct lb_policy_cfg, same names
 *     poll_interval_ms: 100            # metrics
 *     health_interval_ms: 1000         # health (and DCGM)
 *     stale_ms: 500
 *     ...
 *     backend_rate_per_capacity: 0     # new flows/s per unit of capacity
 *     backend_burst: 0                 #   at full headroom; 0 = no limit
 *   vips:
 *     - address: 198.18.1.10:8000/tcp  # as `lbctl vip add`
 *       mode: ipip                     # ipip | l2dsr
 *       ring_size: 65537               # prime, 7 .. 1048573
 *       policy: maglev                 # source|bounded|p2c|wrr|rr|random|least-conn
 *       rate: 0                        # VIP new flows/s (0 = no limit)
 *       burst: 0
 *       client_rate: 0                 # per client prefix
 *       client_burst: 0
 *       client_prefix: 32              # /32 (IPv4), /64 (IPv6) by default
 *       refuse: reset                  # reset | drop (UDP: always drop)
 *       fail_open: false               # state refused all: plain choice
 *       epsilon: 25                    # bounded load, percent
 *       backends:
 *         - address: 198.18.0.10
 *           engine: vllm               # vllm|sglang|tgi|triton|generic
 *           url: http://198.18.0.10:8000        # base of the defaults below
 *           metrics_url: http://198.18.0.10:8000/metrics
 *           health_url: http://198.18.0.10:8000/health
 *           dcgm_url: http://198.18.0.10:9400/metrics   # optional
 *           capacity: 1.0              # relative GPU speed, (0, 1000]
 *           metrics:                   # generic engine only
 *             waiting: my_queue_len
 *             running: my_running
 *             kv: my_kv_fraction
 */
#ifndef INFERLB_CONFIG_H
#define INFERLB_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "inferlb.h"
#include "engine.h"
#include "lb_ops.h"
#include "policy.h"

#define LB_CONF_MAX_VIPS 256
#define LB_CONF_MAX_BACKENDS 4096	/* over all VIPs */
#define LB_CONF_URL_MAX 512
#define LB_CONF_METRICS_LISTEN_DEFAULT "127.0.0.1:9464"
#define LB_CONF_REQUEST_TIMEOUT_DEFAULT 1000

struct lb_conf_backend {
	__u8 addr[16];
	__u8 family;			/* LB_AF_INET / LB_AF_INET6 */
	enum lb_engine engine;
	char metrics_url[LB_CONF_URL_MAX];
	char health_url[LB_CONF_URL_MAX];
	char dcgm_url[LB_CONF_URL_MAX];	/* "" = none */
	double capacity;
	/* generic engine: metric names (malloc'd; NULL = not given) */
	struct lb_generic_names names;
	unsigned line;			/* where it was defined */
};

struct lb_conf_vip {
	struct lb_vip_key key;
	__u8 mode;			/* enum lb_fwd_mode */
	__u32 ring_size;
	struct lb_vip_opts opts;	/* mode, ring size, policy, admission */
	struct lb_conf_backend *backends;
	size_t n_backends;
	unsigned line;
};

struct lb_conf {
	/* agent: */
	char metrics_listen[64];	/* "" when "off" */
	char pin_dir[256];
	uint32_t request_timeout_ms;
	/* policy: */
	struct lb_policy_cfg policy;
	double backend_rate_per_capacity;
	uint32_t backend_burst;
	/* vips: */
	struct lb_conf_vip *vips;
	size_t n_vips;
};

/*
 * Parse a whole file / buffer. name is used in messages (the path).
 * Returns 0 and fills *out (free it with lb_conf_free), or a negative
 * errno with err[errlen] holding one line "name:line:col: field: what"
 * and *out zeroed.
 */
int lb_conf_load_file(const char *path, struct lb_conf *out, char *err,
		      size_t errlen);
int lb_conf_load_buf(const char *name, const char *buf, size_t len,
		     struct lb_conf *out, char *err, size_t errlen);
void lb_conf_free(struct lb_conf *c);

/* Static weight of a backend when no agent runs (`lbctl apply`):
 * round(capacity * LB_WEIGHT_DEFAULT), at least 1. */
__u32 lb_conf_static_weight(const struct lb_conf_backend *b);

#endif /* INFERLB_CONFIG_H */
