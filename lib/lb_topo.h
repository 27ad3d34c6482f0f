/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb_topo.h - the balancer's topology as a YAML file says it: its VIPs
 * with their settings and each VIP's backends with address and capacity.
 * The `vips:` section of the one config file that `lbctl apply -f` and
 * lb-agent read (the whole format is in agent/config.h):
 *
 *   vips:
 *     - address: 198.18.1.10:8000/tcp  # as `lbctl vip add`
 *       mode: ipip                     # ipip | l2dsr
 *       ring_size: 65537               # prime, 7 .. 1048573
 *       policy: maglev                 # source|bounded|p2c|wrr|rr|random|least-conn|
 *                                      #   expected-wait (the default when the
 *                                      #   backends have lb-agent's keys)
 *       ttft_target_ms: 0              # expected-wait: refuse a new flow whose
 *                                      #   expected wait is longer (0 = never)
 *       rate: 0                        # VIP new flows/s (0 = no limit)
 *       burst: 0
 *       client_rate: 0                 # per client prefix
 *       client_burst: 0
 *       client_prefix: 32              # /32 (IPv4), /64 (IPv6) by default
 *       refuse: reset                  # reset | drop (UDP: always drop)
 *       fail_open: false               # state refused all: plain choice
 *       second_chance: true            # ipip: a flow without entry carries a
 *                                      #   second hop (README "Second chance")
 *       pair_choice: false             # least-conn, expected-wait: choose
 *                                      #   between the flow's two hashed
 *                                      #   candidates (true when the file
 *                                      #   has a cluster: section)
 *       epsilon: 25                    # bounded load, percent
 *       backends:
 *         - address: 198.18.0.10
 *           capacity: 1.0              # relative GPU speed, (0, 1000]
 *
 * Layers above add keys of their own through struct lb_topo_ext: top-level
 * sections and per-backend keys, parsed by their hooks. The parse stays
 * strict: a key neither the topology nor the extension knows is an error
 * "FILE:LINE:COL: FIELD: unknown key ..." (lb_yaml.h).
 *
 * lb-agent's keys are declared here by name only (lb_topo_agent_*_keys):
 * `lbctl apply -f` reads the agent's file with lb_topo_ext_agent_names,
 * which accepts those keys without looking at their values (the agent
 * checks them), so a typo in a key name is still refused by lbctl and the
 * library includes no agent header.
 */
#ifndef LB_TOPO_H
#define LB_TOPO_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "inferlb.h"
#include "lb_ops.h"
#include "lb_yaml.h"

#define LB_TOPO_MAX_VIPS 256
#define LB_TOPO_MAX_BACKENDS 4096	/* over all VIPs */

/* The policy of a VIP whose backends carry lb-agent's keys (an
 * agent-driven VIP) when the file names none: expected-wait, which needs
 * the agent's slots and speeds (least-conn until it has them). Other
 * VIPs default to maglev. */
#define LB_TOPO_AGENT_POLICY_DEFAULT LB_POL_EXPECTED_WAIT

struct lb_topo_backend {
	__u8 addr[16];
	__u8 family;			/* LB_AF_INET / LB_AF_INET6 */
	double capacity;		/* default 1.0 */
	unsigned line;			/* where it was defined */
	/* who found it: NULL for the file's; lb-agent's discovery names
	 * its source (LB_TOPO_ORIGIN_DNS "NAME", LB_TOPO_ORIGIN_ETCD
	 * "PREFIX"), and lb_apply records the kind (lb_backend.origin) */
	const char *origin;
	__u16 port;			/* a found worker's port; 0 */
	void *ext;			/* the extension's data (backend_size
					 * bytes, zeroed), NULL without one */
};

struct lb_topo_vip {
	struct lb_vip_key key;
	struct lb_vip_opts opts;	/* mode, ring size, policy, admission */
	bool pair_choice_given;		/* the file says pair_choice */
	bool ext_given;			/* the file has an extension key here */
	void *ext;			/* the extension's data (vip_size bytes,
					 * zeroed), NULL without one */
	struct lb_topo_backend *backends;
	size_t n_backends;
	unsigned line;
};

struct lb_topo {
	struct lb_topo_vip *vips;
	size_t n_vips;
	/* set by the parse: free what an extension hung on a backend, on
	 * a VIP */
	void (*ext_release)(void *ext);
	void (*vip_ext_release)(void *ext);
};

/*
 * Keys a layer above owns. top_keys are top-level sections beside
 * `vips:`; top() is called for each one present and not null, in the
 * order of top_keys, before `vips:` is parsed. backend_keys are keys of a
 * backend beside address and capacity; backend() is called for every
 * backend after its address and capacity, with vals[i] the value node of
 * backend_keys[i] (NULL if absent) and b->ext a zeroed block of
 * backend_size bytes (none when backend_size is 0). release(ext) frees
 * what backend() allocated inside it (not the block itself). Hooks report
 * errors with lb_yaml_fail() and return its code.
 * vip_keys and vip(), vip_size and vip_release do the same for keys of a
 * VIP: vip() is called for a VIP with any of them present, after its
 * backends, vals[i] the value of vip_keys[i]. A VIP with extension keys
 * is agent-driven as one whose backends have them (the default policy).
 */
struct lb_topo_ext {
	const char *const *top_keys;	/* NULL-terminated; NULL = none */
	const char *const *backend_keys;
	int (*top)(void *ctx, struct lb_yaml_doc *d, size_t key,
		   const struct lb_yaml_node *val);
	int (*backend)(void *ctx, struct lb_yaml_doc *d,
		       const struct lb_yaml_node *m, const char *field,
		       const struct lb_yaml_node *const *vals,
		       struct lb_topo_backend *b);
	void (*release)(void *ext);
	size_t backend_size;
	const char *const *vip_keys;
	int (*vip)(void *ctx, struct lb_yaml_doc *d,
		   const struct lb_yaml_node *m, const char *field,
		   const struct lb_yaml_node *const *vals,
		   struct lb_topo_vip *v);
	void (*vip_release)(void *ext);
	size_t vip_size;
	void *ctx;
};

/* lb-agent's keys, by name (values are the agent's: agent/config.h). */
/* lb-agent's cluster section: its presence also makes the load-aware
 * VIPs' pair_choice default true (lb_topo_parse) */
#define LB_TOPO_CLUSTER_KEY "cluster"
extern const char *const lb_topo_agent_top_keys[];	/* agent, policy, cluster, announce */
extern const char *const lb_topo_agent_backend_keys[];	/* engine, url, ... */
#define LB_TOPO_ORIGIN_DNS "dns:"
#define LB_TOPO_ORIGIN_ETCD "etcd:"
/* enum lb_origin of a backend's origin string */
__u8 lb_topo_origin_kind(const char *origin);
/* lb-agent's discovery of a VIP's workers (agent/discover_conf.c) */
#define LB_TOPO_DISCOVER_KEY "discover"
extern const char *const lb_topo_agent_vip_keys[];	/* discover */
/* Accepts lb-agent's keys with any value (for `lbctl apply -f`). */
extern const struct lb_topo_ext lb_topo_ext_agent_names;

/*
 * Parses a whole file / buffer / parsed document. name is used in
 * messages (the path). ext may be NULL: then only `vips:` is allowed.
 * Returns 0 and fills *out (free it with lb_topo_free), or a negative
 * errno with err[errlen] holding one line "name:line:col: field: what"
 * and *out zeroed. An empty file, one of comments only, and `vips:` null
 * or [] are valid: a topology without VIPs (see lb_topo_warning).
 */
int lb_topo_load_file(const char *path, const struct lb_topo_ext *ext,
		      struct lb_topo *out, char *err, size_t errlen);
int lb_topo_load_buf(const char *name, const char *buf, size_t len,
		     const struct lb_topo_ext *ext, struct lb_topo *out,
		     char *err, size_t errlen);
int lb_topo_parse(struct lb_yaml_doc *d, const struct lb_topo_ext *ext,
		  struct lb_topo *out);
void lb_topo_free(struct lb_topo *t);

/*
 * What a valid file may still mean by mistake, for `--check`: a topology
 * without VIPs would, applied, delete every VIP and backend (a truncated
 * write by config management looks like that). Returns true with one line
 * in msg, false (msg "") when there is nothing to say.
 */
bool lb_topo_warning(const struct lb_topo *t, char *msg, size_t len);

/* Static weight of a backend when no agent runs (`lbctl apply`):
 * round(capacity * LB_WEIGHT_DEFAULT), in [1, 1000000]. */
__u32 lb_topo_static_weight(const struct lb_topo_backend *b);

#endif /* LB_TOPO_H */
