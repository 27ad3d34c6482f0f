/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * agent.h - lb-agent's running state and its cycle:
 *
 *   every poll_interval_ms: for each backend, GET health and metrics (and
 *   DCGM if configured) concurrently (poll.c);
 *   when a backend's requests are all back: one LB_EV_POLL into its policy
 *   state (policy.c), with the health verdict of its engine and the three
 *   load signals of its scrape (engine.c);
 *   then, per VIP, lb_policy_decide(): the weights to publish, and each
 *   backend's state and new-flow rate; written with lb_vip_publish() under
 *   the pin-directory lock, one table rebuild per VIP when weights moved;
 *   a heartbeat and the publication generation in lb_agent every round.
 *
 * The /metrics endpoint reads this state from its own thread under mu.
 */
#ifndef INFERLB_AGENT_H
#define INFERLB_AGENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "discover.h"
#include "lb_dp.h"
#include "policy.h"
#include "poll.h"
#include "speed.h"

/* What one HTTP endpoint of a backend last answered. */
enum lb_probe_kind { LB_PROBE_HEALTH, LB_PROBE_METRICS, LB_PROBE_DCGM,
		     LB_PROBE_KINDS };

struct lb_agent;
struct lb_agent_backend;

struct lb_probe {
	struct lb_agent *agent;		/* callback context: this probe */
	struct lb_agent_backend *owner;
	enum lb_probe_kind kind;
	int target;			/* poller target id; -1 = none */
	bool pending;			/* started this round, not back yet */
	uint64_t ok;			/* requests answered as expected */
	uint64_t errors[LB_FETCH_ERROR + 2];	/* by enum lb_fetch_result,
						 * + [LB_FETCH_ERROR+1] bad status / parse */
	double last_latency_ms;
};

struct lb_agent_backend {
	const struct lb_topo_backend *conf;	/* in agent->conf.topo */
	struct lb_agent_vip *vip;
	__u32 id;			/* lb_backends id */
	struct lb_policy_backend pol;
	struct lb_probe probe[LB_PROBE_KINDS];
	/* this round's results, folded into one LB_EV_POLL */
	enum lb_health health;
	bool round_health;		/* health was polled this round */
	bool round_sig;
	uint64_t next_health_ms;	/* when health is due again */
	struct lb_signals sig;		/* last good scrape */
	struct lb_speed speed;		/* decode speed from the scrapes */
	/* scrapes refused as bad answers (NaN, negative, duplicate
	 * series), by enum lb_bad_metrics; the last reason logged */
	uint64_t bad_metrics[LB_BAD_METRICS_COUNT];
	enum lb_bad_metrics bad_logged;
	/* expected-wait inputs as last published in lb_be_load */
	__u32 slots;
	__u64 slot_wait_ns;
	/* requests the worker serves beyond our open flows to it, at the
	 * last good scrape (ms; 0: none yet) */
	__u32 beyond;
	uint64_t beyond_at_ms;
	double xid;			/* last DCGM XID (0 = none) */
	uint64_t polls;			/* completed poll rounds */
	uint64_t early_polls;		/* started on an idle connection's close */
	uint64_t last_early_ms;		/* when the last of those started; 0 none */
	bool dropped;			/* a request of this round was cut */
	uint64_t round_started;		/* ms */
	/* what is live in the maps */
	__u32 weight;
	__u8 state;
	__u32 rate;
	/* an operator's override in force (LB_BACKEND_F_OVR_WEIGHT/_STATE,
	 * from the maps at start and from every publication): the agent
	 * leaves those fields alone (lb_vip_publish enforces it) */
	__u8 override;
	/* its discovery source dropped it: DRAINING, weight 0, until the
	 * source reaps it (discover.h) */
	bool disc_draining;
};

struct lb_agent_vip {
	const struct lb_topo_vip *conf;
	__u32 id;
	struct lb_agent_backend **be;	/* into agent->be */
	size_t n_be;
	struct lb_publish_state ps;
	struct lb_decision last;
	uint64_t rebuilds;
	struct lb_outlen outlen;	/* output tokens per request */
	/* scratch for decide: policy states, live and target weights, and
	 * what to publish */
	struct lb_policy_backend *pols;
	uint32_t *cur, *out;
	struct lb_publish_entry *ctl;
	/* when to read the VIP's backends for operators' overrides again
	 * (once per health interval: refresh_overrides in agent.c) */
	uint64_t next_override_check_ms;
};

struct lb_agent {
	pthread_mutex_t mu;		/* guards everything below */
	char conf_path[4096];
	struct lb_agent_conf conf;	/* the file */
	/* the topology run: the file's plus what discovery found (the
	 * runtime's conf pointers point into it; discover.h) */
	struct lb_topo eff;
	struct lb_discovery *disc;
	struct lb_dp dp;
	struct lb_poller *poller;
	struct lb_agent_backend *be;
	size_t n_be;
	struct lb_agent_vip *vips;
	size_t n_vips;
	struct lb_agent_status status;	/* mirrored into lb_agent */
	uint64_t start_ms;
	uint64_t next_round_ms;
	bool first_round_done;		/* no publication before it */
	uint64_t publications;
	uint64_t publish_errors;
	uint64_t reload_ok, reload_failed;
	uint64_t rounds;
	uint64_t last_decide_ms;
	uint64_t next_recount_ms;
	uint64_t recount_took_ms;	/* the last recount */
	struct lb_flow_occupancy flow_occ;	/* what it saw of the tables */
	uint64_t next_tick_ms;		/* when lb_settings.tick moves */
	__u32 tick, first_tick;		/* now; the first this process wrote */
	bool dirty;			/* a poll completed since the last decide */
	bool need_reconcile;		/* the maps changed under us: re-apply */
	/* next hops follow the kernel's tables (nexthops.c); started by
	 * the first step, retried from next_nexthops_ms if that failed */
	struct lb_nexthops *nexthops;
	uint64_t next_nexthops_ms;
	/* cluster mode (cluster.c; NULL when off): only the leader polls
	 * and decides, every host applies the cluster's decision */
	struct lb_cluster *cluster;
	bool cluster_leads;		/* as of the last step */
	struct lb_agent_announce *announce;	/* VIP routes (announce.c) */
	char last_error[256];
};

/* Monotonic milliseconds (CLOCK_MONOTONIC). */
uint64_t lb_agent_now_ms(void);
/* One line to stderr, stamped with seconds since boot (as lbctl show's
 * heartbeat), the agent's log format. */
void lb_agent_logf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Loads the config, opens and locks the pinned datapath, applies the
 * config's VIPs and backends (adopting what is already there: existing
 * backends keep their weights and states, so a restarted agent moves
 * nothing), and sets up the poller. Returns 0, or -errno with msg set and
 * everything it took released again (no lb_agent_stop() then).
 */
int lb_agent_start(struct lb_agent *a, const char *conf_path, char *msg,
		   size_t len);
/* SIGHUP: re-read the config; on any error keep the running one. */
int lb_agent_reload(struct lb_agent *a, char *msg, size_t len);
/* One turn of the loop: waits at most until the next poll round (or until
 * sig_fd is readable, then *sig_ready), handles what came back, decides
 * and publishes. */
int lb_agent_step(struct lb_agent *a, int sig_fd, bool *sig_ready);
/* Writes ctl[] for v's backends with lb_vip_publish under the pin lock
 * (a->mu held); what is live is then recorded in v's backends. Cluster
 * mode applies the cluster's decision through it. */
void lb_agent_publish_vip(struct lb_agent *a, struct lb_agent_vip *v,
			  struct lb_publish_entry *ctl);
/* Clean exit: marks the heartbeat as stopped and releases the runtime,
 * the config and the map fds; the maps stay (fail-static). Stop the
 * /metrics server first: its thread reads a. */
void lb_agent_stop(struct lb_agent *a);


#endif /* INFERLB_AGENT_H */
