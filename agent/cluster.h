/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * cluster.h - lb-agent's cluster mode: several balancer hosts behind ECMP
 * build the same tables from one decision kept in etcd (agent/README.md,
 * "Cluster mode").
 *
 *   /inferlb/CLUSTER/leader    the leader's host name, on its lease;
 *                              created only if absent (create_revision 0)
 *   /inferlb/CLUSTER/decision  the leader's last decision (JSON, below),
 *                              written in a txn that compares the leader
 *                              key's create_revision with the one this
 *                              leader created (fencing)
 *
 * Only the leader polls workers and runs the policy; every host (the
 * leader too) watches the decision and publishes it into its own maps
 * with lb_vip_publish, by VIP and backend address (ids are host-local).
 * Generations only move forward. etcd unreachable: nothing changes in the
 * maps (fail-static); the status says so.
 *
 * Two threads, each with its own etcd client: the session (lease,
 * election, the leader's writes) and the watch (decisions in, applied
 * under the agent's mutex).
 */
#ifndef INFERLB_CLUSTER_H
#define INFERLB_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "inferlb.h"

struct lb_agent;
struct lb_cluster_conf;

/* ---- the decision (pure; tests/test_cluster.c) ---- */

#define LB_CL_FORMAT "inferlb-cluster-decision"
#define LB_CL_VERSION 1

/* One backend of a VIP as the leader decided it: what lb_vip_publish
 * writes (weight, state, rate, burst) and what lb_be_load gets (p2c score,
 * expected-wait's slots and slot wait, and the requests the worker itself
 * reported running + waiting, for engine_load). */
struct lb_cl_backend {
	__u8 addr[16];
	__u8 family;
	__u8 state;		/* enum lb_be_state */
	__u32 weight;		/* 0 .. LB_WEIGHT_MAX */
	__u32 rate, burst;
	__u64 score;
	__u32 slots;		/* 0 .. LB_SLOTS_MAX */
	__u64 slot_wait_ns;	/* 0 .. LB_SLOT_WAIT_MAX_NS */
	__u32 requests;		/* 0 .. LB_ENGINE_LOAD_MAX */
	bool has_requests;	/* the leader had a scrape of it */
};

struct lb_cl_vip {
	struct lb_vip_key key;
	__u32 ring_size;	/* M: equal on every host, or tables differ */
	struct lb_cl_backend *be;
	size_t n;
};

struct lb_cl_decision {
	uint64_t generation;	/* >= 1 */
	char cluster[64];
	char leader[64];
	__u32 hash_seed;	/* lb_settings.hash_seed of the leader */
	struct lb_cl_vip *vips;
	size_t n_vips;
};

void lb_cl_decision_free(struct lb_cl_decision *d);
/* malloc'd JSON text; NULL on no memory. */
char *lb_cl_encode(const struct lb_cl_decision *d);
/* Parses and validates text (every field, its type and range; unknown
 * keys, duplicates VIPs or backends, an empty decision, another format,
 * version or cluster are refused). 0 or -EINVAL with msg; out is empty
 * on failure. */
int lb_cl_decode(const char *text, size_t n, const char *cluster,
		 struct lb_cl_decision *out, char *msg, size_t len);

/* What a decision's generation means after applied (0: none yet). */
enum lb_cl_gen { LB_CL_GEN_NEW, LB_CL_GEN_SAME, LB_CL_GEN_OLD };
enum lb_cl_gen lb_cl_gen_check(uint64_t applied, uint64_t gen);

/* The election's txn as JSON (for tests): create the leader key with
 * host on lease if absent, and read the decision; else read the key. */
char *lb_cl_campaign_json(const char *cluster, const char *host, int64_t lease);

/* ---- the runtime ---- */

struct lb_cluster;

struct lb_cluster_stats {
	enum lb_cluster_role role;
	bool etcd_up;
	bool ready;
	uint64_t generation;	/* applied here */
	uint64_t etcd_errors;	/* failed etcd calls */
	uint64_t refused;	/* decisions refused (corrupt, foreign, old) */
	uint64_t writes;	/* decisions this host wrote as leader */
	uint64_t contact_ms;	/* monotonic ms of etcd's last answer; 0 none */
	uint64_t applied_ms;	/* monotonic ms of the last decision applied */
	uint64_t changed_ms;	/* ... of the last one that changed the maps */
	uint32_t leader_hash;	/* lb_cluster_name_hash; 0 unknown */
};

/* NULL (and 0) when conf has no cluster section; NULL with -errno and msg
 * on a bad one. Starts no thread (lb_cluster_run does). */
int lb_cluster_new(struct lb_agent *a, const struct lb_cluster_conf *conf,
		   struct lb_cluster **out, char *msg, size_t len);
/* Starts the session and watch threads (after capabilities dropped). */
int lb_cluster_run(struct lb_cluster *c, char *msg, size_t len);
/* Stops the threads, gives the leadership up (revokes the lease, so
 * another host takes over at once), frees c. NULL is fine. Call without
 * the agent's mutex. */
void lb_cluster_stop(struct lb_cluster *c);

/* Whether this host is the leader now (false when c is NULL). */
bool lb_cluster_leads(struct lb_cluster *c);
/*
 * Whether this host has applied the cluster's current decision at least
 * once since it started (always true when cluster mode is off, c NULL).
 * Stays true while etcd is unreachable: the host forwards on its last
 * decision (fail-static), and may keep announcing its VIP routes.
 */
bool cluster_ready(const struct lb_cluster *c);
void lb_cluster_get_stats(struct lb_cluster *c, struct lb_cluster_stats *s);
/* Copies the cluster fields into st (the agent's lb_agent entry). */
void lb_cluster_fill_status(struct lb_cluster *c, struct lb_agent_status *st);
/* The leader, after a decide (a->mu held): hands the agent's decision to
 * the session thread, which writes it (fenced) when it changed, or when
 * its loads are LB_CL_LOAD_REFRESH_MS old. */
#define LB_CL_LOAD_REFRESH_MS 500
void lb_cluster_offer(struct lb_cluster *c, uint64_t now_ms);

#endif /* INFERLB_CLUSTER_H */
